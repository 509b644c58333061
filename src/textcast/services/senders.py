"""Senders: the numbers, short codes, alphanumeric IDs and Messaging Services a
provider account sends from, each validated for its type."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone
from textcast.db.models import Message, Sender, utcnow
from textcast.db.models import Provider as ProviderRow
from textcast.db.refs import live
from textcast.errors import Conflict, NotFound, ValidationFailed

SenderType = Literal["long_code", "toll_free", "short_code", "messaging_service", "alphanumeric"]
SENDER_TYPES: tuple[str, ...] = SenderType.__args__  # type: ignore[attr-defined]

SHORT_CODE = re.compile(r"^\d{3,8}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Twilio allows letters, digits and spaces; at least one letter so it cannot pass for a number.
ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")

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


class SenderIn(BaseModel):
    """A sender as the API and CLI accept it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w .@+-]+$")
    type: SenderType
    sender_id: str = Field(min_length=1, max_length=64)
    mms_capable: bool = False
    template_id_required: bool = False
    custom_callback_url: HttpUrl | None = None
    unsubscribe_text: str | None = Field(None, max_length=160)
    mps: float | None = Field(None, gt=0, le=10000, description="segments per second")
    is_default: bool = False

    @field_validator("name")
    @classmethod
    def _not_an_id(cls, value: str) -> str:
        return _not_only_digits(value)


class SenderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[\w .@+-]+$")
    mms_capable: bool | None = None
    template_id_required: bool | None = None
    custom_callback_url: HttpUrl | None = None
    restore_default_callback: bool = False
    unsubscribe_text: str | None = Field(None, max_length=160)
    mps: float | None = Field(None, gt=0, le=10000)

    @field_validator("name")
    @classmethod
    def _not_an_id(cls, value: str | None) -> str | None:
        return None if value is None else _not_only_digits(value)


def _not_only_digits(name: str) -> str:
    if name.strip().isdigit():
        raise ValueError("must not be only digits (those refer to ids)")
    return name


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
    """Store a sender; the first live sender anywhere becomes the default."""
    sender_id = normalize_sender_id(sender_in.type, sender_in.sender_id, provider.type)
    if await find_sender(session, sender_in.name, missing_ok=True) is not None:
        raise Conflict(f"a sender named {sender_in.name!r} already exists")
    has_default = await session.scalar(
        select(Sender.id).where(Sender.deleted_at.is_(None), Sender.is_default.is_(True)).limit(1)
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
        mps=sender_in.mps or default_mps(sender_in.type, sender_id),
        is_default=False,
    )
    session.add(sender)
    await session.flush()
    if has_default is None or sender_in.is_default:
        await set_default(session, sender.id)
    return sender


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


async def default_sender(session: AsyncSession) -> Sender | None:
    query = select(Sender).where(Sender.deleted_at.is_(None), Sender.is_default.is_(True))
    return await session.scalar(query)


async def set_default(session: AsyncSession, ref: str | int) -> Sender:
    """Make one sender the default and every other one not, in one transaction."""
    sender = await get_sender(session, ref)
    await session.execute(
        update(Sender)
        .where(Sender.id != sender.id, Sender.is_default.is_(True))
        .values(is_default=False)
    )
    sender.is_default = True
    return sender


async def update_sender(session: AsyncSession, ref: str | int, changes: SenderUpdate) -> Sender:
    sender = await get_sender(session, ref)
    if changes.name is not None and changes.name != sender.name:
        if await find_sender(session, changes.name, missing_ok=True) is not None:
            raise Conflict(f"a sender named {changes.name!r} already exists")
        sender.name = changes.name
    for field in ("mms_capable", "template_id_required", "mps"):
        value = getattr(changes, field)
        if value is not None:
            setattr(sender, field, value)
    if "unsubscribe_text" in changes.model_fields_set:
        sender.unsubscribe_text = changes.unsubscribe_text
    if changes.restore_default_callback:
        sender.custom_callback_url = None
    elif changes.custom_callback_url is not None:
        sender.custom_callback_url = str(changes.custom_callback_url)
    return sender


def retire(sender: Sender, when: datetime) -> None:
    sender.deleted_at = when
    sender.is_default = False
    sender.name = f"{sender.name}~deleted~{sender.id}"


async def promote_new_default(session: AsyncSession) -> Sender | None:
    """After the default sender goes, the oldest live sender takes over."""
    await session.flush()
    oldest = await session.scalar(
        select(Sender).where(Sender.deleted_at.is_(None)).order_by(Sender.id).limit(1)
    )
    if oldest is not None:
        oldest.is_default = True
    return oldest


async def delete_sender(session: AsyncSession, ref: str | int) -> Sender:
    sender = await get_sender(session, ref)
    pending = await session.scalar(
        select(func.count(Message.id)).where(
            Message.sender_id == sender.id, Message.status.in_(("queued", "dispatching"))
        )
    )
    if pending:
        raise Conflict(f"sender {sender.name!r} still has {pending} message(s) queued or sending")
    was_default = sender.is_default
    retire(sender, utcnow())
    if was_default:
        await promote_new_default(session)
    return sender
