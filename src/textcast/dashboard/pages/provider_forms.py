"""Provider and sender forms to and from the payloads the services take.

The services validate; this only moves values between form fields (flat,
with repeated key/value rows) and the API's shapes, and says which form
field a service's message belongs next to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData

from textcast.errors import ValidationFailed
from textcast.policy import geo

# A service's field name → the form field it is shown next to.
SENDER_FIELDS = {"name": "sender_name", "type": "sender_type"}
PROVIDER_FIELDS = {"credentials": "auth_token"}
RULES = ("success", "message_id", "error_code", "error_message")


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def checked(form: FormData, name: str) -> bool:
    return form.get(name) == "true"


def rows(form: FormData, prefix: str) -> list[tuple[str, str]]:
    """Repeated ``<prefix>_name`` / ``<prefix>_value`` inputs, blank rows left out."""
    names = [v if isinstance(v, str) else "" for v in form.getlist(f"{prefix}_name")]
    values = [v if isinstance(v, str) else "" for v in form.getlist(f"{prefix}_value")]
    return [(n.strip(), v) for n, v in zip(names, values, strict=False) if n.strip()]


def countries(form: FormData) -> list[str]:
    """The allowed destination countries, typed as one line (checked by the service)."""
    return geo.split_countries(text(form, geo.SETTING))


def sender_payload(form: FormData) -> dict[str, Any] | None:
    """The sender part of a form as the API takes it; None when left empty."""
    if not text(form, "sender_id") and not text(form, "sender_name"):
        return None
    payload: dict[str, Any] = {
        "name": text(form, "sender_name"),
        "type": text(form, "sender_type"),
        "sender_id": text(form, "sender_id"),
        "mms_capable": checked(form, "mms_capable"),
        "template_id_required": checked(form, "template_id_required"),
    }
    if text(form, "unsubscribe_text"):
        payload["unsubscribe_text"] = text(form, "unsubscribe_text")
    if text(form, "mps"):
        payload["mps"] = text(form, "mps")
    if text(form, "custom_callback_url"):
        payload["custom_callback_url"] = text(form, "custom_callback_url")
    if text(form, "a2p_10dlc_campaign_id"):
        payload["a2p_10dlc_campaign_id"] = text(form, "a2p_10dlc_campaign_id")
    if "sender_options" in form:  # the Add sender page's own checkboxes
        payload["keyword_responses"] = checked(form, "keyword_responses")
        payload["is_default"] = checked(form, "is_default")
    return payload


def twilio_payload(form: FormData) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": text(form, "name"),
        "type": "twilio",
        "account_sid": text(form, "account_sid"),
        "auth_token": text(form, "auth_token"),
        "verify": checked(form, "verify"),
    }
    if text(form, "base_url"):
        payload["base_url"] = text(form, "base_url")
    payload[geo.SETTING] = countries(form)
    sender = sender_payload(form)
    payload["senders"] = [sender] if sender else []
    return payload


def _rule(form: FormData, name: str) -> dict[str, str] | None:
    path, regex = text(form, f"{name}_json_path"), text(form, f"{name}_regex")
    if not path and not regex:
        return None
    rule = {"json_path": path} if path else {"regex": regex}
    if text(form, f"{name}_equals"):
        rule["equals"] = text(form, f"{name}_equals")
    return rule


def generic_payload(form: FormData) -> dict[str, Any]:
    """A full generic definition from the form (a preset is expanded before
    it reaches the form, so what is saved is what the user saw)."""
    payload: dict[str, Any] = {
        "name": text(form, "name"),
        "type": "generic",
        "method": text(form, "method") or "POST",
        "url": text(form, "url"),
        "headers": dict(rows(form, "header")),
        "params": dict(rows(form, "param")),
        "body_format": text(form, "body_format") or "form",
        "to_format": text(form, "to_format") or "e164",
        "credentials": dict(rows(form, "secret")),
    }
    body = form.get("body")
    if isinstance(body, str) and body.strip():
        payload["body"] = body
    if text(form, "content_type"):
        payload["content_type"] = text(form, "content_type")
    if text(form, "default_template_id"):
        payload["default_template_id"] = text(form, "default_template_id")
    if text(form, "basic_username"):
        payload["auth"] = {
            "username": text(form, "basic_username"),
            "password": text(form, "basic_password"),
        }
    for name in RULES:
        rule = _rule(form, name)
        if rule:
            payload[name] = rule
    payload[geo.SETTING] = countries(form)
    if text(form, "receipt"):
        payload["receipt"] = _receipt(form)
    sender = sender_payload(form)
    payload["senders"] = [sender] if sender else []
    return payload


def _receipt(form: FormData) -> Any:
    """The receipt mapping as typed (JSON; blank: none); the service checks its shape."""
    if not text(form, "receipt"):
        return None
    try:
        return json.loads(text(form, "receipt"))
    except ValueError:
        raise ValidationFailed("receipt", "not valid JSON") from None


def generic_request_changes(form: FormData) -> dict[str, Any]:
    """A stored generic provider's request, from its edit form, as changes to
    its settings: an optional field left empty clears it. (Secrets and the
    Basic auth password change through re-authentication.)"""
    body = form.get("body")
    changes: dict[str, Any] = {
        "method": text(form, "method") or "POST",
        "url": text(form, "url"),
        "headers": dict(rows(form, "header")),
        "params": dict(rows(form, "param")),
        "body_format": text(form, "body_format") or "form",
        "body": body if isinstance(body, str) and body.strip() else None,
        "content_type": text(form, "content_type") or None,
        "to_format": text(form, "to_format") or "e164",
        "basic_username": text(form, "basic_username") or None,
        "default_template_id": text(form, "default_template_id") or None,
        "receipt": _receipt(form),
    }
    for name in RULES:
        changes[name] = _rule(form, name)
    return changes


def generic_form_values(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A generic definition (a preset's, or what was typed) as form values."""
    values: dict[str, Any] = {
        key: definition.get(key) or ""
        for key in (
            "name",
            "method",
            "url",
            "body_format",
            "body",
            "content_type",
            "to_format",
            "default_template_id",
        )
    }
    values["basic_username"] = definition.get("basic_username") or ""
    values["basic_password"] = definition.get("basic_password") or ""
    values["headers"] = list((definition.get("headers") or {}).items())
    values["params"] = list((definition.get("params") or {}).items())
    values["secrets"] = list((definition.get("credentials") or {}).items())
    for name in RULES:
        rule = definition.get(name) or {}
        for part in ("json_path", "regex", "equals"):
            values[f"{name}_{part}"] = rule.get(part) or ""
    receipt = definition.get("receipt")
    values["receipt"] = json.dumps(receipt) if receipt else ""
    return values


def generic_values_from_form(form: FormData) -> dict[str, Any]:
    """The form as typed, to show it again with the service's messages."""
    values: dict[str, Any] = {
        key: text(form, key)
        for key in (
            "name",
            "method",
            "url",
            "body_format",
            "content_type",
            "to_format",
            "default_template_id",
            "basic_username",
            "basic_password",
            "receipt",
            "preset",
            geo.SETTING,
        )
    }
    body = form.get("body")
    values["body"] = body if isinstance(body, str) else ""
    values["headers"] = rows(form, "header")
    values["params"] = rows(form, "param")
    values["secrets"] = rows(form, "secret")
    for name in RULES:
        for part in ("json_path", "regex", "equals"):
            values[f"{name}_{part}"] = text(form, f"{name}_{part}")
    return {**values, **sender_values(form)}


def sender_values(form: FormData) -> dict[str, Any]:
    keys = (
        "sender_name",
        "sender_type",
        "sender_id",
        "unsubscribe_text",
        "mps",
        "a2p_10dlc_campaign_id",
    )
    values: dict[str, Any] = {key: text(form, key) for key in keys}
    values["mms_capable"] = checked(form, "mms_capable")
    values["template_id_required"] = checked(form, "template_id_required")
    values["keyword_responses"] = checked(form, "keyword_responses")
    values["is_default"] = checked(form, "is_default")
    values["custom_callback_url"] = text(form, "custom_callback_url")
    return values


def errors_for(
    exc: ValidationFailed, renames: Mapping[str, str] = PROVIDER_FIELDS
) -> dict[str, str]:
    """The message keyed by the form field it belongs next to."""
    field = exc.field
    if field.startswith("senders."):
        name = field.split(".")[-1]
        return {SENDER_FIELDS.get(name, name): exc.message}
    if field.startswith("credentials."):
        return {f"cred_{field.split('.', 1)[1]}": exc.message}
    if field.startswith("auth."):
        return {"basic_" + ("username" if field.endswith("username") else "password"): exc.message}
    top = field.split(".")[0]
    return {renames.get(top, top): exc.message}
