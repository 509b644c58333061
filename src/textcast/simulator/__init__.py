"""A Twilio-compatible simulator: the Messages and Balance endpoints, signed
status callbacks, injected replies, errors, latency and 429s.

A test double in the spirit of httpx's MockTransport: the Twilio provider only
needs a different base URL to talk to it. Modules: ``state`` (settings and what
was received), ``rules`` (Twilio's validation), ``twilio_api`` and ``control``
(the endpoints), ``callbacks`` (signed requests out), ``app`` (the server).
"""

from textcast.simulator.app import create_app, run_simulator_forever, start_simulator
from textcast.simulator.state import SimulatorConfig, SimulatorState

__all__ = [
    "SimulatorConfig",
    "SimulatorState",
    "create_app",
    "run_simulator_forever",
    "start_simulator",
]
