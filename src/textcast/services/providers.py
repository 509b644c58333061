"""Provider accounts: create with senders, show (secrets masked), update,
re-authenticate, delete, check balance."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from textcast import status
from textcast.audience.contacts import OPTED_OUT_TAG, clean_tags
from textcast.context import Context
from textcast.crypto import mask
from textcast.db.models import Message, utcnow
from textcast.db.models import Provider as ProviderRow
from textcast.db.refs import by_ref
from textcast.errors import Conflict, NotFound, ProviderError, ValidationFailed
from textcast.netguard import TargetRefused
from textcast.policy import geo
from textcast.providers.base import Balance, Provider
from textcast.providers.registry import provider_class
from textcast.services import senders as sender_service

NAME_MAX = 100
# Settings of Textcast's own, not the provider package's: ``allowed_countries``
# is kept in ``config`` beside the provider's settings (see :func:`_stored_config`).
RESERVED_KEYS = frozenset(
    {
        "name",
        "type",
        "senders",
        "verify",
        "is_simulated",
        "opt_out_scope",
        "opt_out_tag",
        geo.SETTING,
    }
)
OPT_OUT_SCOPES = ("account", "sender")
# The tag a STOP reply puts on the contact: Twilio's own name for it on Twilio
# accounts (what seed 003's users look for), Textcast's on generic providers,
# whose APIs have no opt-out vocabulary of their own.
DEFAULT_OPT_OUT_TAGS = {"twilio": "Twilio-Message-stop"}
GENERIC_OPT_OUT_TAG = OPTED_OUT_TAG
IN_FLIGHT = (status.QUEUED, status.DISPATCHING)


def reveal(model: BaseModel) -> dict[str, Any]:
    """A secrets model as plain JSON-able values, for encryption only."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    return {key: plain(value) for key, value in model.model_dump().items()}


def masked(values: Mapping[str, Any]) -> dict[str, Any]:
    """Secrets as the API shows them: recognisable, never usable."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out[key] = {name: mask(str(item)) for name, item in value.items()}
        else:
            out[key] = mask(None if value is None else str(value))
    return out


def instantiate(ctx: Context, row: ProviderRow) -> Provider:
    """The provider implementation for a stored row, secrets decrypted in memory."""
    cls = provider_class(row.type)
    config = cls.config_model.model_validate(row.config)
    secret_values = cls.secrets_model.model_validate(ctx.box.decrypt(row.secrets_encrypted))
    return cls(config, secret_values)


def _validate(model: type[BaseModel], values: Mapping[str, Any]) -> BaseModel:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise sender_service.validation_failed(exc) from None


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("name", "a provider needs a non-empty name (its nickname)")
    if len(name) > NAME_MAX:
        raise ValidationFailed("name", f"at most {NAME_MAX} characters")
    if name.strip().isdigit():
        raise ValidationFailed("name", "must not be only digits (those refer to ids)")
    return name.strip()


def _check_tag(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationFailed("opt_out_tag", "must be a tag (a non-empty string)")
    try:
        (tag,) = clean_tags([value])
    except ValidationFailed as exc:
        raise ValidationFailed("opt_out_tag", exc.message) from None
    return tag


def _check_scope(value: Any) -> str:
    if value not in OPT_OUT_SCOPES:
        raise ValidationFailed("opt_out_scope", f"must be one of {', '.join(OPT_OUT_SCOPES)}")
    return str(value)


def _stored_config(config: BaseModel, allowed_countries: list[str]) -> dict[str, Any]:
    """The provider's settings as stored, with the countries it may send to
    beside them (absent: every country). The provider package never reads
    the list; its model ignores the key, and re-validating the settings
    (an update, new credentials) must not drop it."""
    stored = config.model_dump(mode="json")
    if allowed_countries:
        stored[geo.SETTING] = allowed_countries
    return stored


async def _vet_endpoints(ctx: Context, provider: Provider, field: str) -> None:
    for url in provider.endpoints():
        try:
            await ctx.guard.check(url, unresolvable_ok=True)
        except TargetRefused as exc:
            raise ValidationFailed(field, str(exc)) from None


async def create_provider(
    ctx: Context, session: AsyncSession, payload: Mapping[str, Any], *, is_simulated: bool = False
) -> ProviderRow:
    """Validate, optionally verify, and store a provider with its senders."""
    name = _check_name(payload.get("name"))
    cls = provider_class(str(payload.get("type", "")))
    settings_part = {key: value for key, value in payload.items() if key not in RESERVED_KEYS}
    config, secret_values = cls.from_payload(settings_part)
    provider = cls(config, secret_values)
    await _vet_endpoints(ctx, provider, "base_url" if cls.type == "twilio" else "url")
    allowed_countries = geo.parse_countries(payload.get(geo.SETTING))
    raw_senders = payload.get("senders") or []
    if not isinstance(raw_senders, list):
        raise ValidationFailed("senders", "must be a list of senders")
    sender_inputs = [sender_service.parse_sender(item) for item in raw_senders]
    if await find_provider(session, name, missing_ok=True) is not None:
        raise Conflict(f"a provider named {name!r} already exists")
    if payload.get("verify"):
        await verify(ctx, provider)
    row = ProviderRow(
        name=name,
        type=cls.type,
        config=_stored_config(config, allowed_countries),
        secrets_encrypted=ctx.box.encrypt(reveal(secret_values)),
        webhook_secret_encrypted=ctx.box.encrypt(pysecrets.token_urlsafe(32)),
        is_simulated=is_simulated,
        opt_out_scope=_check_scope(payload.get("opt_out_scope", "account")),
        opt_out_tag=_check_tag(
            payload.get("opt_out_tag", DEFAULT_OPT_OUT_TAGS.get(cls.type, GENERIC_OPT_OUT_TAG))
        ),
    )
    session.add(row)
    await session.flush()
    for sender_in in sender_inputs:
        await sender_service.add_sender(session, row, sender_in)
    await session.refresh(row, ["senders"])
    return row


async def verify(ctx: Context, provider: Provider) -> None:
    """Ask the provider whether it accepts the credentials; 422 with its words if not."""
    try:
        await provider.verify_credentials(ctx.http)
    except ProviderError as exc:
        raise ValidationFailed(
            "credentials", f"the provider refused them: {exc.message} ({exc.code})"
        ) from None


async def find_provider(
    session: AsyncSession, ref: str | int, *, missing_ok: bool = False
) -> ProviderRow | None:
    """A live provider by id or name."""
    query = (
        select(ProviderRow)
        .where(ProviderRow.deleted_at.is_(None))
        .options(selectinload(ProviderRow.senders))
    )
    row = await session.scalar(query.where(by_ref(ProviderRow, ref)))
    if row is None and not missing_ok:
        raise NotFound(f"no provider {ref!r}")
    return row


async def get_provider(session: AsyncSession, ref: str | int) -> ProviderRow:
    row = await find_provider(session, ref)
    assert row is not None  # find_provider raised otherwise
    return row


async def list_providers(session: AsyncSession) -> list[ProviderRow]:
    query = (
        select(ProviderRow)
        .where(ProviderRow.deleted_at.is_(None))
        .options(selectinload(ProviderRow.senders))
        .order_by(ProviderRow.id)
    )
    return list(await session.scalars(query))


async def update_provider(
    ctx: Context, session: AsyncSession, ref: str | int, changes: Mapping[str, Any]
) -> ProviderRow:
    """Rename or change non-secret settings (``allowed_countries`` too: an
    empty list allows every country); credentials go through :func:`reauthenticate`."""
    row = await get_provider(session, ref)
    allowed_countries = sorted(geo.allowed_of(row.config))
    if geo.SETTING in changes:
        allowed_countries = geo.parse_countries(changes[geo.SETTING])
    if "name" in changes:
        name = _check_name(changes["name"])
        other = await find_provider(session, name, missing_ok=True)
        if other is not None and other.id != row.id:
            raise Conflict(f"a provider named {name!r} already exists")
        row.name = name
    if "opt_out_scope" in changes:
        row.opt_out_scope = _check_scope(changes["opt_out_scope"])
    if "opt_out_tag" in changes:
        row.opt_out_tag = _check_tag(changes["opt_out_tag"])
    config_changes = {k: v for k, v in changes.items() if k not in RESERVED_KEYS}
    if config_changes or geo.SETTING in changes:
        provider = with_changes(ctx, row, config_changes)
        if config_changes:
            await _vet_endpoints(ctx, provider, "base_url")
        row.config = _stored_config(provider.config, allowed_countries)
    row.updated_at = utcnow()
    return row


def with_changes(ctx: Context, row: ProviderRow, changes: Mapping[str, Any]) -> Provider:
    """The provider as ``changes`` to its settings (stored in clear; ``None``
    clears an optional one) would make it, checked and not saved: what a
    form shows before it saves. Its secrets are the stored ones."""
    cls = provider_class(row.type)
    config = _validate(cls.config_model, {**row.config, **changes})
    return cls(config, instantiate(ctx, row).secrets)


async def reauthenticate(
    ctx: Context, session: AsyncSession, ref: str | int, credentials: Mapping[str, Any]
) -> ProviderRow:
    """Replace the credentials after the provider has accepted them."""
    row = await get_provider(session, ref)
    cls = provider_class(row.type)
    config_part = {k: v for k, v in credentials.items() if k in cls.config_model.model_fields}
    config = _validate(cls.config_model, {**row.config, **config_part})
    secret_values = _validate(cls.secrets_model, credentials)
    provider = cls(config, secret_values)
    await _vet_endpoints(ctx, provider, "base_url")
    await verify(ctx, provider)
    row.config = _stored_config(config, sorted(geo.allowed_of(row.config)))
    row.secrets_encrypted = ctx.box.encrypt(reveal(secret_values))
    row.updated_at = utcnow()
    return row


async def in_flight_count(session: AsyncSession, provider_id: int) -> int:
    query = select(func.count(Message.id)).where(
        Message.provider_id == provider_id, Message.status.in_(IN_FLIGHT)
    )
    return int(await session.scalar(query) or 0)


async def delete_provider(session: AsyncSession, ref: str | int) -> ProviderRow:
    """Soft-delete: history keeps pointing at the row, the name becomes free again.

    Refused while messages wait in the outbox, so none is stranded.
    """
    row = await get_provider(session, ref)
    pending = await in_flight_count(session, row.id)
    if pending:
        raise Conflict(
            f"provider {row.name!r} still has {pending} message(s) queued or sending; "
            "wait for them to finish, then delete"
        )
    now = utcnow()
    row.deleted_at = now
    row.name = f"{row.name}~deleted~{row.id}"
    row.is_default = False
    for sender in row.senders:
        if sender.deleted_at is None:
            sender_service.retire(sender, now)
    await sender_service.promote_new_defaults(session, row.id)
    return row


async def make_default(session: AsyncSession, ref: str | int, sender: str | None) -> ProviderRow:
    """Make the provider the installation's default, so messages that name no
    sender go from its default sender (``sender``, one of its own, becomes that
    default first when given)."""
    row = await get_provider(session, ref)
    live = [s for s in row.senders if s.deleted_at is None]
    if not live:
        raise Conflict(f"provider {row.name!r} has no senders; add one first")
    if sender is None:
        chosen = next((s for s in live if s.is_default), live[0])
    else:
        found = next((s for s in live if sender in (s.name, str(s.id))), None)
        if found is None:
            raise ValidationFailed("sender", f"provider {row.name!r} has no sender {sender!r}")
        chosen = found
    await sender_service.set_default(session, chosen.id, installation=True)
    return row


async def check_balance(ctx: Context, session: AsyncSession, ref: str | int) -> Balance:
    row = await get_provider(session, ref)
    return await instantiate(ctx, row).balance(ctx.http)


def secret_view(ctx: Context, row: ProviderRow) -> dict[str, Any]:
    return masked(ctx.box.decrypt(row.secrets_encrypted))


async def webhook_secret(ctx: Context, row: ProviderRow) -> str:
    return str(ctx.box.decrypt(row.webhook_secret_encrypted))


async def rotate_relay_secret(ctx: Context, session: AsyncSession, ref: str | int) -> str:
    """A new secret for Textcast-signed relays (X-Textcast-Signature); the old one
    stops working at once. Returned this one time only, like an API key."""
    row = await get_provider(session, ref)
    secret = "rly_" + pysecrets.token_urlsafe(32)
    row.relay_secret_encrypted = ctx.box.encrypt(secret)
    row.updated_at = utcnow()
    return secret
