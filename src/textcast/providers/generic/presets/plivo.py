"""Plivo's Message API and its delivery receipts (told the per-message receipt
URL in each send; checked against its V3 signature, see ``plivo_signature``).

Messages to India carry their DLT content template ID as ``dlt_template_id``
and the principal entity ID as ``dlt_entity_id``, the Message API's own
arguments (https://docs.plivo.com/docs/messaging/api/message/send-a-message;
Plivo's Python SDK sends them under these names, ``plivo/resources/messages.py``):
the message's template ID (``$$TemplateId``), left out when it has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textcast.providers.generic.presets.spec import Preset, PresetField, path_segment

RECEIPT: dict[str, Any] = {
    "format": "form",
    "message_id": "MessageUUID",
    "status": "Status",
    "error_code": "ErrorCode",
    "status_map": {
        "queued": "accepted",
        "sent": "sent",
        "delivered": "delivered",
        "undelivered": "undelivered",
        "failed": "failed",
        "rejected": "failed",
        "read": "read",
    },
    "signature": "plivo_v3",
}


def build(v: Mapping[str, str], base: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": f"{base}/v1/Account/{path_segment(v['auth_id'])}/Message/",
        "basic_username": v["auth_id"],
        "basic_password": "$$Secret.auth_token",
        "body_format": "json",
        "to_format": "e164_no_plus",  # documented as country code and number, no "+"
        "params": _params(v),
        "message_id": {"json_path": "message_uuid.0"},
        "error_message": {"json_path": "error"},
        "receipt": RECEIPT,
    }


def _params(v: Mapping[str, str]) -> dict[str, str]:
    params = {"src": "$$From", "dst": "$$To", "text": "$$Body", "url": "$$ReceiptURL"}
    params["dlt_template_id"] = "$$TemplateId"
    if v.get("dlt_entity_id"):
        params["dlt_entity_id"] = v["dlt_entity_id"]
    return params


PRESET = Preset(
    "plivo",
    "Plivo",
    "https://docs.plivo.com/docs/messaging/api/message/send-a-message",
    "https://api.plivo.com",
    (
        PresetField("auth_id", "Auth ID"),
        PresetField("auth_token", "Auth token", secret=True),
        PresetField("dlt_entity_id", "DLT principal entity ID (India)", required=False),
    ),
    build,
)
