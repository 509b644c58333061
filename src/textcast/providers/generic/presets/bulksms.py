"""BulkSMS's JSON REST API and its delivery receipts (sent to the one URL set
in its dashboard, so matched by the message ID).

No template ID is sent: the message fields of BulkSMS's JSON API
(https://www.bulksms.com/developer/json/v1/) have none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textcast.providers.generic.presets.spec import Preset, PresetField

RECEIPT: dict[str, Any] = {
    "format": "json",
    "items": "",
    "message_id": "id",
    "status": "status.type",
    "error_code": "status.subtype",
    "status_map": {
        "ACCEPTED": "accepted",
        "SCHEDULED": "scheduled",
        "SENT": "sent",
        "DELIVERED": "delivered",
        "FAILED": "undelivered",
    },
}


def build(v: Mapping[str, str], base: str) -> dict[str, Any]:
    return {
        "method": "POST",
        # auto-unicode: non-GSM text goes as UCS-2 instead of "?"; longMessageMaxParts
        # lifts the default 3-part cap (both as in BulkSMS's own send sample).
        "url": f"{base}/v1/messages?auto-unicode=true&longMessageMaxParts=30",
        "basic_username": v["username"],
        "basic_password": "$$Secret.password",
        "body_format": "json",
        "params": {"to": "$$To", "from": "$$From", "body": "$$Body"},
        "message_id": {"json_path": "0.id"},
        "error_code": {"json_path": "title"},
        "error_message": {"json_path": "detail"},
        "receipt": RECEIPT,
    }


PRESET = Preset(
    "bulksms",
    "BulkSMS (JSON REST API)",
    "https://www.bulksms.com/developer/json/v1/",
    "https://api.bulksms.com",
    (
        PresetField("username", "Username or token ID"),
        PresetField("password", "Password or token secret", secret=True),
    ),
    build,
)
