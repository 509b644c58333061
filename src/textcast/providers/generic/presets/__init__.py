"""Ready-made generic HTTP definitions for common SMS APIs, from each
provider's own documentation, one module each. The user supplies credentials;
the sender comes from the Textcast sender (``$$From``).

Every preset accepts ``base_url_override`` (or ``base_url``) to point it at a
regional endpoint or a test server while keeping the documented path and fields.
Non-secret values land inside templates, so each is escaped for where it goes.

Each also carries its provider's delivery-receipt mapping (see
:mod:`textcast.providers.generic.receipts`), from its callback documentation.
Plivo, Exotel and Textlocal are told the per-message receipt URL in the send
request; MSG91 and BulkSMS call the one URL configured in their dashboards, so
those receipts are matched by the provider's message ID. Nimbus's answer
shows no message ID, so its messages stop at "accepted" (no receipts).

Adding a preset: a module beside these (its ``PRESET``), and a line in
:data:`PRESETS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textcast.errors import ValidationFailed
from textcast.providers.generic.presets import bulksms, exotel, msg91, nimbus, plivo, textlocal
from textcast.providers.generic.presets.spec import Preset

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        msg91.PRESET,
        textlocal.PRESET,
        plivo.PRESET,
        bulksms.PRESET,
        exotel.PRESET,
        nimbus.PRESET,
    )
}


def build_preset(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A full generic definition from a preset name and the user's credentials
    (see :meth:`Preset.expand`)."""
    preset = PRESETS.get(name)
    if preset is None:
        raise ValidationFailed(
            "preset", f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}"
        )
    return preset.expand(payload)


def list_presets() -> list[dict[str, Any]]:
    """The presets and the fields each needs, for the API and the dashboard."""
    return [
        {
            "name": p.name,
            "title": p.title,
            "docs_url": p.docs_url,
            "base_url": p.base_url,
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "secret": f.secret,
                    "required": f.required,
                    "default": f.default,
                    "help": f.help,
                }
                for f in p.fields
            ],
        }
        for p in PRESETS.values()
    ]
