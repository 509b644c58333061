"""Provider types by name. Adding a provider touches its package and this table."""

from __future__ import annotations

from textcast.errors import ValidationFailed
from textcast.providers.base import Provider
from textcast.providers.generic.provider import GenericHttpProvider
from textcast.providers.twilio.provider import TwilioProvider

PROVIDER_TYPES: dict[str, type[Provider]] = {
    TwilioProvider.type: TwilioProvider,
    GenericHttpProvider.type: GenericHttpProvider,
}


def provider_class(type_name: str) -> type[Provider]:
    try:
        return PROVIDER_TYPES[type_name]
    except KeyError:
        known = ", ".join(sorted(PROVIDER_TYPES))
        raise ValidationFailed(
            "type", f"unknown provider type {type_name!r}; use one of: {known}"
        ) from None
