"""MSG91, through its Flow API v5 (a DLT-registered template with the text as
a template variable), and its panel webhook's delivery receipts.

The Flow API names the template in ``template_id`` (MSG91's send-SMS
reference, https://docs.msg91.com/sms/send-sms): the message's own template
ID (``$$TemplateId``), else the one configured here. MSG91 maps each of its
templates to the DLT content template ID registered with it; its older
``/api/v2/sendsms`` took the DLT ID itself as ``DLT_TE_ID``, which the Flow
API has no field for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from textcast.providers.generic.presets.spec import Preset, PresetField

# MSG91's panel webhook, version 2: a form field "data" holding a JSON array of
# requests, each with its report(s). Status 1 delivered, 2 failed, 9 NDNC,
# 16/25 rejected, 17 blocked number.
RECEIPT: dict[str, Any] = {
    "format": "auto",
    "json_field": "data",
    "items": "",
    "message_id": "requestId",
    "status": "report.0.status",
    "error_code": "report.0.status",
    "error_message": "report.0.desc",
    "status_map": {
        "1": "delivered",
        "2": "undelivered",
        "9": "failed",
        "16": "failed",
        "17": "failed",
        "25": "failed",
    },
}


def build(v: Mapping[str, str], base: str) -> dict[str, Any]:
    # Flow API v5: DLT-registered template ("flow") with the text as a template variable.
    recipient = {"mobiles": "$$To", v.get("body_variable") or "VAR1": "$$Body"}
    body = {"template_id": "$$TemplateId", "sender": "$$From", "short_url": "0"}
    return {
        "method": "POST",
        "url": f"{base}/api/v5/flow/",
        "headers": {"authkey": "$$Secret.authkey"},
        "body_format": "json",
        "body": json.dumps({**body, "recipients": [recipient]}, ensure_ascii=False),
        "to_format": "e164_no_plus",
        "success": {"json_path": "type", "equals": "success"},
        "message_id": {"json_path": "message"},
        "error_message": {"json_path": "message"},
        "receipt": RECEIPT,
        "default_template_id": v.get("template_id"),
    }


PRESET = Preset(
    "msg91",
    "MSG91 (Flow API v5)",
    "https://docs.msg91.com/sms/send-sms",
    "https://control.msg91.com",
    (
        PresetField("authkey", "Auth key", secret=True),
        PresetField(
            "template_id",
            "Flow / template ID",
            required=False,
            help="the DLT-approved flow for messages without a template ID of their own",
        ),
        PresetField(
            "body_variable",
            "Template variable for the text",
            required=False,
            default="VAR1",
        ),
    ),
    build,
)
