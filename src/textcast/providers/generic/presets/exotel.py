"""Exotel's SMS API and its delivery receipts (told the per-message receipt
URL in each send, as ``StatusCallback``).

India's DLT content template ID goes in ``DltTemplateId``, beside the entity
ID in ``DltEntityId`` (Exotel's send-SMS reference,
https://developer.exotel.com/docs/sms-api/api-reference/send-sms): each
message's own template ID (``$$TemplateId``), else the one configured here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textcast.providers.generic.presets.spec import Preset, PresetField, path_segment

RECEIPT: dict[str, Any] = {
    "format": "form",
    "message_id": "SmsSid",
    "status": "Status",
    "error_code": "DetailedStatusCode",
    "error_message": "DetailedStatus",
    # Exotel's "sent" is its final success: the handset has the message.
    "status_map": {
        "queued": "accepted",
        "sending": "sending",
        "submitted": "sent",
        "sent": "delivered",
        # Exotel's pages spell it both ways.
        "failed_dnd": "failed",
        "failed-dnd": "failed",
        "failed": "undelivered",
    },
}


def build(v: Mapping[str, str], base: str) -> dict[str, Any]:
    params = {"From": "$$From", "To": "$$To", "Body": "$$Body", "StatusCallback": "$$ReceiptURL"}
    if v.get("dlt_entity_id"):
        params["DltEntityId"] = v["dlt_entity_id"]
    params["DltTemplateId"] = "$$TemplateId"  # left out for a message without one
    if v.get("encoding_type"):
        params["EncodingType"] = v["encoding_type"]
    return {
        "method": "POST",
        "url": f"{base}/v1/Accounts/{path_segment(v['account_sid'])}/Sms/send.json",
        "basic_username": v["api_key"],
        "basic_password": "$$Secret.api_token",
        "body_format": "form",
        "params": params,
        "message_id": {"json_path": "SMSMessage.Sid"},
        "error_code": {"json_path": "RestException.Code"},
        "error_message": {"json_path": "RestException.Message"},
        "receipt": RECEIPT,
        "default_template_id": v.get("dlt_template_id"),
    }


PRESET = Preset(
    "exotel",
    "Exotel",
    "https://developer.exotel.com/api/sms",
    "https://api.exotel.com",
    (
        PresetField(
            "account_sid",
            "Account SID",
            help="Mumbai-cluster accounts: base_url_override https://api.in.exotel.com",
        ),
        PresetField("api_key", "API key"),
        PresetField("api_token", "API token", secret=True),
        PresetField("dlt_entity_id", "DLT entity ID (India)", required=False),
        PresetField(
            "dlt_template_id",
            "DLT template ID (India)",
            required=False,
            help="for messages without a template ID of their own",
        ),
        PresetField(
            "encoding_type",
            "Encoding type",
            required=False,
            help='"unicode" for text outside GSM-7 (Exotel\'s default is "plain")',
        ),
    ),
    build,
)
