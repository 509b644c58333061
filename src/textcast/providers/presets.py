"""Ready-made generic HTTP definitions for common SMS APIs, from each
provider's own documentation. The user supplies credentials; the sender comes
from the Textcast sender (``$$From``).

Every preset accepts ``base_url_override`` (or ``base_url``) to point it at a
regional endpoint or a test server while keeping the documented path and fields.
Non-secret values land inside templates, so each is escaped for where it goes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from textcast.errors import ValidationFailed

if TYPE_CHECKING:
    from textcast.providers.generic_http import GenericConfig, GenericSecrets

Builder = Callable[[Mapping[str, str], str], dict[str, Any]]
PRESET_KEYS = frozenset({"preset", "credentials", "base_url", "base_url_override"})


@dataclass(frozen=True)
class PresetField:
    """One value the user supplies; ``secret`` ones are stored encrypted, never shown."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    default: str | None = None
    help: str = ""


@dataclass(frozen=True)
class Preset:
    """A provider's documented send API; ``build(values, base_url)`` gives the definition."""

    name: str
    title: str
    docs_url: str
    base_url: str
    fields: tuple[PresetField, ...]
    build: Builder = field(repr=False)

    def configure(
        self, credentials: Mapping[str, str], **overrides: Any
    ) -> tuple[GenericConfig, GenericSecrets]:
        """The validated models for these values, as ``GenericHttpProvider`` stores them."""
        from textcast.providers.generic_http import GenericHttpProvider

        payload = {**overrides, "preset": self.name, "credentials": dict(credentials)}
        return GenericHttpProvider.from_payload(payload)


# Delivery-receipt mappings (see textcast.providers.receipts), one per provider,
# from each provider's callback documentation. Plivo, Exotel and Textlocal are
# told the per-message receipt URL in the send request; MSG91 and BulkSMS call
# the one URL configured in their dashboards, so those receipts are matched by
# the provider's message ID.
PLIVO_RECEIPT: dict[str, Any] = {
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
EXOTEL_RECEIPT: dict[str, Any] = {
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
TEXTLOCAL_RECEIPT: dict[str, Any] = {
    "format": "form",
    "message_id": "customID",
    "status": "status",
    # D delivered, U undelivered, I invalid number, ? no receipt after 4 days.
    "status_map": {"D": "delivered", "U": "undelivered", "I": "failed", "?": "unknown"},
}
# MSG91's panel webhook, version 2: a form field "data" holding a JSON array of
# requests, each with its report(s). Status 1 delivered, 2 failed, 9 NDNC,
# 16/25 rejected, 17 blocked number.
MSG91_RECEIPT: dict[str, Any] = {
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
BULKSMS_RECEIPT: dict[str, Any] = {
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


def _path(value: str) -> str:
    """A user's value as one URL path segment."""
    return quote(value, safe="")


def _msg91(v: Mapping[str, str], base: str) -> dict[str, Any]:
    # Flow API v5: DLT-registered template ("flow") with the text as a template variable.
    recipient = {"mobiles": "$$To", v.get("body_variable") or "VAR1": "$$Body"}
    body = {"template_id": v["template_id"], "sender": "$$From", "short_url": "0"}
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
        "receipt": MSG91_RECEIPT,
    }


def _textlocal(v: Mapping[str, str], base: str) -> dict[str, Any]:
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
        "receipt": TEXTLOCAL_RECEIPT,
    }


def _plivo(v: Mapping[str, str], base: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": f"{base}/v1/Account/{_path(v['auth_id'])}/Message/",
        "basic_username": v["auth_id"],
        "basic_password": "$$Secret.auth_token",
        "body_format": "json",
        "to_format": "e164_no_plus",  # documented as country code and number, no "+"
        "params": {"src": "$$From", "dst": "$$To", "text": "$$Body", "url": "$$ReceiptURL"},
        "message_id": {"json_path": "message_uuid.0"},
        "error_message": {"json_path": "error"},
        "receipt": PLIVO_RECEIPT,
    }


def _bulksms(v: Mapping[str, str], base: str) -> dict[str, Any]:
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
        "receipt": BULKSMS_RECEIPT,
    }


def _exotel(v: Mapping[str, str], base: str) -> dict[str, Any]:
    params = {"From": "$$From", "To": "$$To", "Body": "$$Body", "StatusCallback": "$$ReceiptURL"}
    if v.get("dlt_entity_id"):
        params["DltEntityId"] = v["dlt_entity_id"]
    if v.get("dlt_template_id"):
        params["DltTemplateId"] = v["dlt_template_id"]
    if v.get("encoding_type"):
        params["EncodingType"] = v["encoding_type"]
    return {
        "method": "POST",
        "url": f"{base}/v1/Accounts/{_path(v['account_sid'])}/Sms/send.json",
        "basic_username": v["api_key"],
        "basic_password": "$$Secret.api_token",
        "body_format": "form",
        "params": params,
        "message_id": {"json_path": "SMSMessage.Sid"},
        "error_code": {"json_path": "RestException.Code"},
        "error_message": {"json_path": "RestException.Message"},
        "receipt": EXOTEL_RECEIPT,
    }


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "msg91",
            "MSG91 (Flow API v5)",
            "https://docs.msg91.com/sms/send-sms",
            "https://control.msg91.com",
            (
                PresetField("authkey", "Auth key", secret=True),
                PresetField(
                    "template_id",
                    "Flow / template ID",
                    help="DLT-approved flow the text is sent through",
                ),
                PresetField(
                    "body_variable",
                    "Template variable for the text",
                    required=False,
                    default="VAR1",
                ),
            ),
            _msg91,
        ),
        Preset(
            "textlocal",
            "Textlocal",
            "https://api.textlocal.in/docs/sendsms",
            "https://api.textlocal.in",
            (PresetField("apikey", "API key", secret=True),),
            _textlocal,
        ),
        Preset(
            "plivo",
            "Plivo",
            "https://docs.plivo.com/docs/messaging/api/message/send-a-message",
            "https://api.plivo.com",
            (
                PresetField("auth_id", "Auth ID"),
                PresetField("auth_token", "Auth token", secret=True),
            ),
            _plivo,
        ),
        Preset(
            "bulksms",
            "BulkSMS (JSON REST API)",
            "https://www.bulksms.com/developer/json/v1/",
            "https://api.bulksms.com",
            (
                PresetField("username", "Username or token ID"),
                PresetField("password", "Password or token secret", secret=True),
            ),
            _bulksms,
        ),
        Preset(
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
                PresetField("dlt_template_id", "DLT template ID (India)", required=False),
                PresetField(
                    "encoding_type",
                    "Encoding type",
                    required=False,
                    help='"unicode" for text outside GSM-7 (Exotel\'s default is "plain")',
                ),
            ),
            _exotel,
        ),
    )
}


def build_preset(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A full generic definition from a preset name and the user's credentials.

    Secret fields go to ``credentials`` and are referenced as ``$$Secret.<name>``;
    anything else in ``payload`` (headers, rules) overrides the preset.
    """
    preset = PRESETS.get(name)
    if preset is None:
        raise ValidationFailed(
            "preset", f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}"
        )
    given = payload.get("credentials") or {}
    if not isinstance(given, dict):
        raise ValidationFailed("credentials", "expected an object of credential names to values")
    values: dict[str, str] = {}
    for spec in preset.fields:
        value = given.get(spec.name, spec.default)
        if value in (None, "") and spec.required:
            raise ValidationFailed(f"credentials.{spec.name}", f"{preset.title} needs {spec.label}")
        if value not in (None, ""):
            if not spec.secret and "$$" in str(value):
                # Plain values are pasted into templates; "$$" would read as a placeholder.
                raise ValidationFailed(f"credentials.{spec.name}", 'cannot contain "$$"')
            values[spec.name] = str(value)
    base = _base_url(payload) or preset.base_url
    definition = preset.build(values, base)
    secret_names = {spec.name for spec in preset.fields if spec.secret}
    password_ref = definition.pop("basic_password", None)
    overrides = {k: v for k, v in payload.items() if k not in PRESET_KEYS}
    result: dict[str, Any] = {**definition, **overrides, "preset": name}
    result["credentials"] = {k: v for k, v in values.items() if k in secret_names}
    if password_ref:
        result["basic_password"] = values[password_ref.removeprefix("$$Secret.")]
    return result


def _base_url(payload: Mapping[str, Any]) -> str | None:
    """The ``base_url_override`` origin (``base_url`` is accepted too), without a slash."""
    for key in ("base_url_override", "base_url"):
        value = payload.get(key)
        if value:
            parts = urlsplit(str(value))
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
                raise ValidationFailed(key, "expected an http(s) origin like https://host:port")
            return str(value).rstrip("/")
    return None


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
