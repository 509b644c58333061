"""Textlocal's send API and its delivery receipts (told the per-message
receipt URL in each send).

No template ID is sent: Textlocal's send command
(https://api.textlocal.in/docs/sendsms) has no parameter for one; it matches
the text and the DLT-approved sender against the templates registered with
the account, so the text must be the registered one with its slots filled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textcast.providers.generic.presets.spec import Preset, PresetField

RECEIPT: dict[str, Any] = {
    "format": "form",
    "message_id": "customID",
    "status": "status",
    # D delivered, U undelivered, I invalid number, ? no receipt after 4 days.
    "status_map": {"D": "delivered", "U": "undelivered", "I": "failed", "?": "unknown"},
}


def build(v: Mapping[str, str], base: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": f"{base}/send/",
        "body_format": "form",
        "to_format": "e164_no_plus",
        "params": {
            "apikey": "$$Secret.apikey",
            "numbers": "$$To",
            "sender": "$$From",
            "message": "$$Body",
            "receipt_url": "$$ReceiptURL",
        },
        "success": {"json_path": "status", "equals": "success"},
        "message_id": {"json_path": "messages.0.id"},
        "error_code": {"json_path": "errors.0.code"},
        "error_message": {"json_path": "errors.0.message"},
        "receipt": RECEIPT,
    }


PRESET = Preset(
    "textlocal",
    "Textlocal",
    "https://api.textlocal.in/docs/sendsms",
    "https://api.textlocal.in",
    (PresetField("apikey", "API key", secret=True),),
    build,
)
