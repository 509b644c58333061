"""The documented shape of ``POST /api/v1/providers``: a Twilio account, a
generic HTTP API defined field by field, or a generic preset with its
credentials.

These models only *describe* the body in the OpenAPI document (``/docs``).
The route reads the JSON itself and the provider packages validate it
(:func:`textcast.services.providers.create_provider`), so what is accepted,
and the field a refusal names, stay exactly theirs. The generic models reuse
the stored definition's own field types (``GenericConfig``, ``ResponseRule``,
``ReceiptMapping``), so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, create_model

from textcast.providers.generic.answers import ResponseRule
from textcast.providers.generic.config import GenericConfig
from textcast.providers.generic.presets import PRESETS
from textcast.providers.generic.presets.spec import Preset
from textcast.providers.generic.receipts import ReceiptMapping
from textcast.providers.twilio.config import DEFAULT_BASE_URL
from textcast.services.senders import SenderIn

ALLOW = ConfigDict(extra="allow")  # documentation only: unknown keys are ignored today


class ProviderCommon(BaseModel):
    """What every provider takes besides its own settings."""

    model_config = ALLOW

    name: str = Field(max_length=100, description="its nickname, unique; not only digits")
    senders: list[SenderIn] = Field(
        default_factory=list, description="its numbers or sender IDs; the first is its default"
    )
    verify: bool = Field(False, description="ask the provider to accept the credentials first")
    opt_out_scope: Literal["account", "sender"] = Field(
        "account", description="a STOP reply opts out of every sender, or only the one replied to"
    )
    opt_out_tag: str | None = Field(
        None,
        description="tag a STOP reply puts on the contact (Twilio: Twilio-Message-stop; "
        "generic: opted-out)",
    )
    allowed_countries: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]] = Field(
        default_factory=list,
        description="ISO 3166-1 alpha-2 codes of the countries it may send to (Twilio: "
        "those enabled under Messaging Geographic Permissions); empty: every country. "
        "Messages to others are refused, campaign recipients there skipped (geo_not_allowed)",
    )


class TwilioProviderIn(ProviderCommon):
    """A Twilio account (or the built-in simulator, through ``base_url``)."""

    type: Literal["twilio"]
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="AC + 32 hex digits")
    auth_token: str = Field(min_length=8, description="stored encrypted, shown masked")
    base_url: str = Field(DEFAULT_BASE_URL, description="API origin; the simulator's for tests")


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: str = Field(description="may use placeholders such as $$Secret.<name>")
    password: str = Field(description="stored encrypted")


class GenericHttpIn(ProviderCommon):
    """Any HTTP SMS API, defined field by field.

    Templates (``url``, ``headers``, ``params``, ``body``, ``auth.username``)
    take ``$$To``, ``$$Body``, ``$$From``, ``$$ReceiptURL`` and
    ``$$Secret.<name>`` (a value of ``credentials``), each encoded for where it
    lands. Success is any 2xx unless ``success`` says otherwise.
    """

    type: Literal["generic"]
    method: Literal["GET", "POST"] = "POST"
    url: str = Field(
        min_length=8, max_length=2000, description="absolute http(s) URL; no credentials in it"
    )
    auth: BasicAuth | None = Field(None, description="HTTP Basic authentication")
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(
        default_factory=dict,
        description="the query of a GET; the form or JSON object of a POST",
    )
    body_format: Literal["form", "json", "raw"] = "form"
    body: str | None = Field(
        None, max_length=20000, description="a body template instead of params (POST)"
    )
    content_type: str | None = Field(None, description="overrides the body format's own")
    to_format: Literal["e164", "e164_no_plus"] = Field(
        "e164", description="e164_no_plus sends 919876543210 instead of +919876543210"
    )
    success: ResponseRule | None = Field(None, description="when a 2xx answer means accepted")
    message_id: ResponseRule | None = Field(None, description="where the provider's ID is")
    error_code: ResponseRule | None = None
    error_message: ResponseRule | None = None
    receipt: ReceiptMapping | None = Field(
        None, description="how to read the provider's delivery receipts"
    )
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="values for $$Secret.<name>; stored encrypted, shown masked",
    )


# A preset's definition can be adjusted: any field of a custom definition overrides it.
OVERRIDABLE = {
    name: (cast(Any, info.annotation) | None, Field(None, description=info.description))
    for name, info in GenericConfig.model_fields.items()
    if name not in ("preset", "basic_username")
}


def _preset_model(preset: Preset) -> type[BaseModel]:
    fields: dict[str, Any] = {
        spec.name: (
            str if spec.required else str | None,
            Field(... if spec.required else spec.default, description=spec.help or spec.label),
        )
        for spec in preset.fields
    }
    camel = preset.name.capitalize()
    credentials = create_model(f"{camel}Credentials", __config__=ALLOW, **fields)
    definition: dict[str, Any] = {
        "type": (Literal["generic"], ...),
        "preset": (Literal[preset.name], ...),
        "credentials": (credentials, Field(description="secret ones stored encrypted")),
        "base_url_override": (
            str | None,
            Field(None, description=f"another origin than {preset.base_url} (region, tests)"),
        ),
        **OVERRIDABLE,
    }
    return create_model(
        f"{camel}PresetIn",
        __base__=ProviderCommon,
        __doc__=f"{preset.title}, from its documented API ({preset.docs_url}).",
        **definition,
    )


PRESET_MODELS = [_preset_model(preset) for preset in PRESETS.values()]


def provider_create_models() -> list[type[BaseModel]]:
    """Every documented form of the body, the Twilio one first."""
    return [TwilioProviderIn, GenericHttpIn, *PRESET_MODELS]


def _preset_example(name: str, preset: str, credentials: dict[str, str], sender: str) -> Any:
    return {
        "name": name,
        "type": "generic",
        "preset": preset,
        "credentials": credentials,
        "senders": [{"name": f"{name}-sender", "type": "alphanumeric", "sender_id": sender}],
    }


# One complete body per form; the README shows the same ones (and its test runs them).
PROVIDER_EXAMPLES: dict[str, Any] = {
    "twilio": {
        "name": "twilio-main",
        "type": "twilio",
        "account_sid": "AC" + "0" * 32,
        "auth_token": "your-auth-token",
        "senders": [{"name": "main-number", "type": "long_code", "sender_id": "+14155550100"}],
    },
    "generic": {
        "name": "my-sms-api",
        "type": "generic",
        "method": "POST",
        "url": "https://sms.example.com/v1/send",
        "auth": {"username": "acme", "password": "your-api-password"},
        "headers": {"X-Api-Key": "$$Secret.api_key"},
        "body_format": "json",
        "params": {"to": "$$To", "from": "$$From", "text": "$$Body", "callback": "$$ReceiptURL"},
        "success": {"json_path": "status", "equals": "queued"},
        "message_id": {"json_path": "id"},
        "error_message": {"json_path": "error.message"},
        "receipt": {
            "format": "json",
            "message_id": "id",
            "status": "status",
            "status_map": {"delivered": "delivered", "failed": "undelivered"},
        },
        "credentials": {"api_key": "your-api-key"},
        "senders": [{"name": "my-sms-api-sender", "type": "alphanumeric", "sender_id": "ACME"}],
    },
    "msg91": _preset_example(
        "msg91-india",
        "msg91",
        {"authkey": "your-msg91-authkey", "template_id": "your-flow-id"},
        "TXTCST",
    ),
    "textlocal": _preset_example("textlocal-india", "textlocal", {"apikey": "your-key"}, "TXTCST"),
    "plivo": _preset_example(
        "plivo-main",
        "plivo",
        {"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": "your-plivo-token"},
        "TEXTCAST",
    ),
    "bulksms": _preset_example(
        "bulksms-main", "bulksms", {"username": "your-user", "password": "your-pass"}, "TEXTCAST"
    ),
    "exotel": _preset_example(
        "exotel-india",
        "exotel",
        {
            "account_sid": "your-exotel-sid",
            "api_key": "your-api-key",
            "api_token": "your-api-token",
            "dlt_entity_id": "1101000000000000001",
        },
        "TXTCST",
    ),
    "nimbus": _preset_example(
        "nimbus-india",
        "nimbus",
        {"user_id": "your-user-id", "password": "your-api-password", "entity_id": "1701000000001"},
        "TXTCST",
    ),
}
