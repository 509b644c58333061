"""What a role without ``secrets.read`` sees of a provider: no credentials
(not even masked) and no receipt URL (its path is a secret token)."""

from __future__ import annotations

from typing import Any

from textcast.services.roles import SECRETS_READ, Actor

SECRET_FIELDS = ("credentials", "receipt_url", "relay_secret")


def provider_for(actor: Actor, view: dict[str, Any]) -> dict[str, Any]:
    if actor.may(SECRETS_READ):
        return view
    return {key: value for key, value in view.items() if key not in SECRET_FIELDS}
