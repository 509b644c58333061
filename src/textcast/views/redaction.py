"""What a role without ``secrets.read`` sees of a provider and its senders: no
credentials (not even masked) and no receipt URL (its path is a secret token)."""

from __future__ import annotations

from typing import Any

from textcast.services.roles import SECRETS_READ, Actor

SECRET_FIELDS = ("credentials", "receipt_url", "default_receipt_url", "relay_secret")


def _without(view: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in view.items() if key not in SECRET_FIELDS}


def provider_for(actor: Actor, view: dict[str, Any]) -> dict[str, Any]:
    """``view`` (a provider's, with its senders) as ``actor`` may see it."""
    if actor.may(SECRETS_READ):
        return view
    shown = _without(view)
    if "senders" in shown:
        shown["senders"] = [_without(sender) for sender in shown["senders"]]
    return shown


def sender_for(actor: Actor, view: dict[str, Any]) -> dict[str, Any]:
    return view if actor.may(SECRETS_READ) else _without(view)
