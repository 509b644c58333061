"""Senders: the numbers, short codes, alphanumeric IDs and Messaging Services a
provider account sends from, each validated for its type.

Defaults: each provider has one default sender (its first, until the operator
picks another), and the installation has one default provider, whose default
sender sends every message that names no sender. The first provider given a
sender becomes the installation's default.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError
from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone
from textcast.db.models import Message, Sender, utcnow
from textcast.db.models import Provider as ProviderRow
from textcast.db.refs import RefName, live
from textcast.errors import Conflict, NotFound, ValidationFailed

SenderType = Literal["long_code", "toll_free", "short_code", "messaging_service", "alphanumeric"]
SENDER_TYPES: tuple[str, ...] = SenderType.__args__  # type: ignore[attr-defined]

SHORT_CODE = re.compile(r"^\d{3,8}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Twilio allows letters, digits and spaces; at least one letter so it cannot pass for a number.
ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
# An A2P 10DLC campaign: The Campaign Registry's ID (C and six letters or
# digits, e.g. CX7QK2M) or Twilio's campaign SID (QE and 32 hexadecimal digits).
A2P_10DLC_CAMPAIGN = re.compile(r"^(C[A-Z0-9]{6}|QE[0-9a-fA-F]{32})$")
UNREGISTERED_10DLC = {
    "code": "unregistered_10dlc",
    "message": "US carriers filter and surcharge application-to-person traffic from long "
    "codes not registered for A2P 10DLC: register a campaign and set a2p_10dlc_campaign_id "
    "(sending stays allowed, counted in stats as unregistered_10dlc)",
}

# Segments per second a sender may send (DESIGN.md §5). A Messaging Service's real
# limit is the sum of its numbers' limits; 10 is a safe start, change it per sender.
DEFAULT_MPS: dict[str, float] = {
    "long_code_us_ca": 1,
    "long_code": 10,
    "toll_free": 3,
    "short_code": 100,
    "alphanumeric": 10,
    "messaging_service": 10,
}


KEYWORD_RESPONSES = (
    "answer keywords in replies to this sender: auto-replies, the HELP text, STOP/START "
    "confirmations and the account's other keyword rules; false where the provider answers "
    "them itself (Twilio's opt-out handling). STOP and START change the suppression list "
    "either way"
)


class SenderIn(BaseModel):
    """A sender as the API and CLI accept it."""

    model_config = ConfigDict(extra="forbid")

    name: RefName
    type: SenderType
    sender_id: str = Field(min_length=1, max_length=64)
    mms_capable: bool = False
    template_id_required: bool = False
    custom_callback_url: HttpUrl | None = None
    unsubscribe_text: str | None = Field(None, max_length=160)
    keyword_responses: bool = Field(True, description=KEYWORD_RESPONSES)
    mps: float | None = Field(None, gt=0, le=10000, description="segments per second")
    is_default: bool = Field(False, description="make it its provider's default sender")
    a2p_10dlc_campaign_id: str | None = Field(
        None, description="US long codes: the A2P 10DLC campaign it is registered under"
    )


class SenderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RefName | None = None
    mms_capable: bool | None = None
    template_id_required: bool | None = None
    custom_callback_url: HttpUrl | None = None
    restore_default_callback: bool = False
    unsubscribe_text: str | None = Field(None, max_length=160)
    keyword_responses: bool | None = Field(None, description=KEYWORD_RESPONSES)
    mps: float | None = Field(None, gt=0, le=10000)
    a2p_10dlc_campaign_id: str | None = Field(
        None, description="register a US long code for A2P 10DLC; null unregisters it"
    )


def normalize_sender_id(sender_type: str, raw: str, provider_type: str) -> str:
    """The sender ID in canonical form, or ValidationFailed naming ``sender_id``."""
    value = raw.strip()
    if sender_type in ("long_code", "toll_free"):
        return str(phone.normalize(value, "US", field="sender_id"))
    if sender_type == "short_code" and SHORT_CODE.fullmatch(value):
        return value
    if sender_type == "messaging_service":
        if provider_type != "twilio":
            raise ValidationFailed("type", "messaging_service senders exist only on Twilio")
        if MESSAGING_SERVICE_SID.fullmatch(value):
            return value
    if sender_type == "alphanumeric" and ALPHANUMERIC.fullmatch(value):
        return value
    expected = {
        "short_code": "3 to 8 digits",
        "messaging_service": "MG followed by 32 hexadecimal characters",
        "alphanumeric": "1 to 11 letters, digits or spaces, at least one letter",
    }[sender_type]
    raise ValidationFailed(
        "sender_id", f"{value!r} is not a valid {sender_type}: expected {expected}"
    )


def default_mps(sender_type: str, sender_id: str) -> float:
    if sender_type == "long_code" and phone.is_us_or_canada(sender_id):
        return DEFAULT_MPS["long_code_us_ca"]
    return DEFAULT_MPS[sender_type]


def is_us_long_code(sender_type: str, sender_id: str) -> bool:
    """Whether A2P 10DLC applies: a US long code that reaches real carriers
    (Twilio's magic test numbers do not)."""
    return (
        sender_type == "long_code"
        and phone.country_code_of(sender_id) == "US"
        and not phone.TWILIO_TEST_NUMBER.fullmatch(sender_id)
    )


def check_10dlc_campaign(sender_type: str, sender_id: str, campaign_id: str | None) -> None:
    """ValidationFailed unless ``campaign_id`` is None or a campaign for a US long code."""
    if campaign_id is None:
        return
    if not is_us_long_code(sender_type, sender_id):
        raise ValidationFailed(
            "a2p_10dlc_campaign_id", "A2P 10DLC registration applies to US long codes only"
        )
    if not A2P_10DLC_CAMPAIGN.fullmatch(campaign_id):
        raise ValidationFailed(
            "a2p_10dlc_campaign_id",
            f"{campaign_id[:40]!r} is neither a Campaign Registry ID (C and 6 letters or "
            "digits) nor a Twilio campaign SID (QE and 32 hexadecimal digits)",
        )


def sender_warnings(sender: Sender) -> list[dict[str, str]]:
    """What the operator should fix about a sender, each as ``{code, message}``."""
    found: list[dict[str, str]] = []
    if is_us_long_code(sender.type, sender.sender_id) and sender.a2p_10dlc_campaign_id is None:
        found.append(dict(UNREGISTERED_10DLC))
    return found


def parse_sender(payload: object) -> SenderIn:
    try:
        return SenderIn.model_validate(payload)
    except ValidationError as exc:
        raise validation_failed(exc, prefix="senders") from None


def validation_failed(exc: ValidationError, prefix: str = "") -> ValidationFailed:
    first = exc.errors()[0]
    parts = [prefix] if prefix else []
    parts += [str(part) for part in first["loc"]]
    return ValidationFailed(".".join(parts) or "body", first["msg"])


# --- persistence -----------------------------------------------------------------


async def add_sender(session: AsyncSession, provider: ProviderRow, sender_in: SenderIn) -> Sender:
    """Store a sender. The provider's first live sender becomes its default, and
    the first provider with a sender becomes the installation's default."""
    sender_id = normalize_sender_id(sender_in.type, sender_in.sender_id, provider.type)
    check_10dlc_campaign(sender_in.type, sender_id, sender_in.a2p_10dlc_campaign_id)
    if await find_sender(session, sender_in.name, missing_ok=True) is not None:
        raise Conflict(f"a sender named {sender_in.name!r} already exists")
    provider_has_default = await session.scalar(
        select(Sender.id).where(_live_defaults(), Sender.provider_id == provider.id).limit(1)
    )
    sender = Sender(
        provider_id=provider.id,
        name=sender_in.name,
        type=sender_in.type,
        sender_id=sender_id,
        mms_capable=sender_in.mms_capable,
        template_id_required=sender_in.template_id_required,
        custom_callback_url=str(sender_in.custom_callback_url)
        if sender_in.custom_callback_url
        else None,
        unsubscribe_text=sender_in.unsubscribe_text,
        keyword_responses=sender_in.keyword_responses,
        mps=sender_in.mps or default_mps(sender_in.type, sender_id),
        is_default=False,
        a2p_10dlc_campaign_id=sender_in.a2p_10dlc_campaign_id,
        a2p_10dlc_registered_at=utcnow() if sender_in.a2p_10dlc_campaign_id else None,
    )
    session.add(sender)
    await session.flush()
    if provider_has_default is None or sender_in.is_default:
        await set_default(session, sender.id)
    if await default_sender(session) is None:
        await _make_default_provider(session, provider.id)
    return sender


def _live_defaults() -> ColumnElement[bool]:
    return and_(Sender.deleted_at.is_(None), Sender.is_default.is_(True))


async def find_sender(
    session: AsyncSession, ref: str | int, *, missing_ok: bool = False
) -> Sender | None:
    query = select(Sender).where(live(Sender, ref))
    sender = await session.scalar(query)
    if sender is None and not missing_ok:
        raise NotFound(f"no sender {ref!r}")
    return sender


async def get_sender(session: AsyncSession, ref: str | int) -> Sender:
    sender = await find_sender(session, ref)
    assert sender is not None  # find_sender raised otherwise
    return sender


async def provider_of(session: AsyncSession, sender: Sender) -> ProviderRow:
    provider = await session.get(ProviderRow, sender.provider_id)
    assert provider is not None  # a sender's provider row is never removed, only retired
    return provider


async def default_sender(session: AsyncSession) -> Sender | None:
    """The installation's default: the default provider's default sender."""
    query = (
        select(Sender)
        .join(ProviderRow, ProviderRow.id == Sender.provider_id)
        .where(_live_defaults(), ProviderRow.is_default.is_(True), ProviderRow.deleted_at.is_(None))
    )
    return await session.scalar(query)


async def set_default(
    session: AsyncSession, ref: str | int, *, installation: bool = False
) -> Sender:
    """Make a sender its provider's default (the provider's other senders stop
    being it); with ``installation`` its provider becomes the installation's
    default too, so messages naming no sender go from it."""
    sender = await get_sender(session, ref)
    await session.execute(
        update(Sender)
        .where(
            Sender.provider_id == sender.provider_id,
            Sender.id != sender.id,
            Sender.is_default.is_(True),
        )
        .values(is_default=False)
    )
    sender.is_default = True
    if installation:
        await _make_default_provider(session, sender.provider_id)
    return sender


async def _make_default_provider(session: AsyncSession, provider_id: int) -> None:
    await session.execute(
        update(ProviderRow)
        .where(ProviderRow.id != provider_id, ProviderRow.is_default.is_(True))
        .values(is_default=False)
    )
    await session.execute(
        update(ProviderRow).where(ProviderRow.id == provider_id).values(is_default=True)
    )


async def update_sender(session: AsyncSession, ref: str | int, changes: SenderUpdate) -> Sender:
    sender = await get_sender(session, ref)
    if changes.name is not None and changes.name != sender.name:
        if await find_sender(session, changes.name, missing_ok=True) is not None:
            raise Conflict(f"a sender named {changes.name!r} already exists")
        sender.name = changes.name
    for field in ("mms_capable", "template_id_required", "keyword_responses", "mps"):
        value = getattr(changes, field)
        if value is not None:
            setattr(sender, field, value)
    if "unsubscribe_text" in changes.model_fields_set:
        sender.unsubscribe_text = changes.unsubscribe_text
    if "a2p_10dlc_campaign_id" in changes.model_fields_set:
        register_10dlc(sender, changes.a2p_10dlc_campaign_id)
    if changes.restore_default_callback:
        sender.custom_callback_url = None
    elif changes.custom_callback_url is not None:
        sender.custom_callback_url = str(changes.custom_callback_url)
    return sender


def register_10dlc(sender: Sender, campaign_id: str | None) -> None:
    """Record (or, with None, withdraw) a US long code's A2P 10DLC campaign.
    Messages sent before the registration stay counted as unregistered."""
    check_10dlc_campaign(sender.type, sender.sender_id, campaign_id)
    if campaign_id is None:
        sender.a2p_10dlc_registered_at = None
    elif sender.a2p_10dlc_campaign_id is None:
        sender.a2p_10dlc_registered_at = utcnow()
    sender.a2p_10dlc_campaign_id = campaign_id


def retire(sender: Sender, when: datetime) -> None:
    sender.deleted_at = when
    sender.is_default = False
    sender.name = f"{sender.name}~deleted~{sender.id}"


async def promote_new_defaults(session: AsyncSession, provider_id: int) -> None:
    """After a default goes: the provider's oldest live sender becomes its
    default, and when the installation has no default sender left, the oldest
    provider with a live sender becomes the default provider."""
    await session.flush()
    has_default = await session.scalar(
        select(Sender.id).where(_live_defaults(), Sender.provider_id == provider_id).limit(1)
    )
    if has_default is None:
        oldest = await session.scalar(
            select(Sender)
            .where(Sender.deleted_at.is_(None), Sender.provider_id == provider_id)
            .order_by(Sender.id)
            .limit(1)
        )
        if oldest is not None:
            oldest.is_default = True
            await session.flush()
    if await default_sender(session) is None:
        successor = await session.scalar(
            select(Sender.provider_id)
            .join(ProviderRow, ProviderRow.id == Sender.provider_id)
            .where(_live_defaults(), ProviderRow.deleted_at.is_(None))
            .order_by(Sender.provider_id)
            .limit(1)
        )
        if successor is not None:
            await _make_default_provider(session, successor)


async def delete_sender(session: AsyncSession, ref: str | int) -> Sender:
    sender = await get_sender(session, ref)
    pending = await session.scalar(
        select(func.count(Message.id)).where(
            Message.sender_id == sender.id, Message.status.in_(("queued", "dispatching"))
        )
    )
    if pending:
        raise Conflict(f"sender {sender.name!r} still has {pending} message(s) queued or sending")
    retire(sender, utcnow())
    await promote_new_defaults(session, sender.provider_id)
    return sender
