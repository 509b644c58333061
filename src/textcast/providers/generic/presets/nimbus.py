"""Nimbus IT (India), through its single-message HTTP API ``SendSingleApi``.

Source: Nimbus IT hands its API sheet to customers in their panel; no page of
it is public. The request below is the one its customers' published
integrations send to ``https://nimbusit.biz/api/SmsApi/SendSingleApi`` (for
example GitHub code sending OTPs with ``UserID``, ``Password``, ``SenderID``,
``Phno``, ``Msg``, ``EntityID`` and ``TemplateID`` as query parameters, and
checking ``"Status": "OK"`` in the JSON answer). The older ``nimbusit.info``
``pushsms.php`` API answers in the same envelope,
``{"Status": "ERROR", "Response": {"Message": "..."}}``, which is where the
error text is read from.

- Sent as a GET with every value in the query string (the documented form);
  the number as country code and digits, no ``+`` (``91XXXXXXXXXX``).
- Success: HTTP 2xx and ``Status`` equal to ``OK``; anything else is refused
  with ``Response.Message`` as the reason.
- Message ID: none that the public sources show, so none is read and the
  preset has no delivery-receipt mapping. An account whose answers carry one
  adds ``"message_id": {"json_path": "..."}`` to the provider's definition.
- DLT: the entity ID is an account value (``EntityID``); the template ID is
  per message (``TemplateID``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textcast.providers.generic.presets.spec import Preset, PresetField


def build(v: Mapping[str, str], base: str) -> dict[str, Any]:
    params = {
        "UserID": v["user_id"],
        "Password": "$$Secret.password",
        "SenderID": "$$From",
        "Phno": "$$To",
        "Msg": "$$Body",
    }
    if v.get("entity_id"):
        params["EntityID"] = v["entity_id"]
    params["TemplateID"] = "$$TemplateId"  # left out for a message without one
    return {
        "method": "GET",
        "url": f"{base}/api/SmsApi/SendSingleApi",
        "to_format": "e164_no_plus",
        "params": params,
        "success": {"json_path": "Status", "equals": "OK"},
        "error_message": {"json_path": "Response.Message"},
    }


PRESET = Preset(
    "nimbus",
    "Nimbus IT (SendSingleApi)",
    "https://nimbusit.biz/api/SmsApi/SendSingleApi",
    "https://nimbusit.biz",
    (
        PresetField("user_id", "User ID"),
        PresetField("password", "API password", secret=True),
        PresetField(
            "entity_id",
            "DLT entity ID (India)",
            required=False,
            help="the principal entity ID registered on the DLT portal",
        ),
    ),
    build,
)
