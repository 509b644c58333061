"""Accepting messages into the outbox, and reading them back."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone, sms_segments, status, storable_text
from textcast.audience import contacts
from textcast.config import Settings
from textcast.context import Context
from textcast.db.dialect import dialect_of
from textcast.db.models import Message, MessageEvent, Sender, event_type, utcnow
from textcast.db.models import Provider as ProviderRow
from textcast.errors import Conflict, NotFound, ValidationFailed
from textcast.policy import geo
from textcast.services import senders as sender_service
from textcast.services.message_content import Content, compose, is_content_sid
from textcast.tracking import link_store

TWILIO_BODY_LIMIT = 1600  # characters, per Twilio's API definition
MAX_MEDIA = 10


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=40)
    body: str = Field("", max_length=20000)
    sender: str | None = Field(None, description="sender name; the default sender when omitted")
    media_urls: list[HttpUrl] = Field(default_factory=list, max_length=MAX_MEDIA)
    template_id: str | None = Field(None, max_length=100)
    append_unsubscribe_text: bool = Field(
        False, description="add the sender's unsubscribe text (e.g. 'Reply STOP to opt out')"
    )
    campaign: str | None = Field(
        None, max_length=100, description="campaign label, carried into events and callbacks"
    )
    automation: str | None = Field(
        None, max_length=100, description="automation label, carried into events and callbacks"
    )
    template: str | int | None = Field(
        None,
        description="a saved template (name or id) instead of body: its current version, "
        "rendered for the recipient's contact, with its template ID, sender, category "
        "and unsubscribe flag",
    )
    data: dict[str, Any] = Field(
        default_factory=dict, description="values the template reads as {{ data.… }}"
    )
    click_tracking: bool = Field(
        False, description="replace each http(s) URL with a tracked short link"
    )


@dataclass(frozen=True)
class Submitted:
    message: Message
    replayed: bool = False


async def resolve_sender(session: AsyncSession, name: str | None) -> Sender:
    if name is None:
        sender = await sender_service.default_sender(session)
        if sender is None:
            raise ValidationFailed(
                "sender", "there is no default sender: add a provider with a sender first"
            )
        return sender
    found = await sender_service.find_sender(session, name, missing_ok=True)
    if found is None:
        raise ValidationFailed("sender", f"no sender named {name!r}")
    return found


def request_hash(request: SendRequest) -> str:
    fields = request.model_dump(mode="json")
    # Fields added later count only when set, so a request made before they
    # existed hashes as it did then (its Idempotency-Key still replays).
    for name in SINGLE_ONLY_KEYS:
        if not fields[name]:
            del fields[name]
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def submit(
    settings: Settings,
    session: AsyncSession,
    request: SendRequest,
    *,
    idempotency_key: str | None = None,
    is_test: bool = False,
) -> Submitted:
    """Validate and queue one message. Nothing is sent here: the dispatcher does that
    once this transaction has committed.

    With an ``idempotency_key`` the first request queues the message and every
    later one with the same key gets that message back (``replayed``), or
    :class:`Conflict` when its request differs, concurrent requests included.
    """
    fingerprint = request_hash(request) if idempotency_key else None
    if idempotency_key:
        earlier = await _by_idempotency_key(session, idempotency_key)
        if earlier is not None:
            return _replay(earlier, fingerprint)
    to = phone.normalize(request.to, settings.default_region, field="to")
    content = await compose(settings, session, request, to)
    sender = await _sender_for(session, content)
    media = [str(url) for url in request.media_urls]
    provider = await session.get(ProviderRow, sender.provider_id)
    provider_type = provider.type if provider is not None else ""
    if provider is not None:
        geo.check_destination(provider.name, geo.allowed_of(provider.config), to)
    body = final_body(content.body, content.append_unsubscribe, sender)
    info = validate_content(settings, sender, provider_type, body, media, content.template_id)
    message = await _insert_unless_key_taken(
        session,
        provider_id=sender.provider_id,
        sender_id=sender.id,
        to=to,
        body=body,
        media_urls=media,
        template_id=content.template_id,
        template_version_id=content.version.id if content.version is not None else None,
        content_variables=content.content_variables,
        status=status.QUEUED,
        segments=info.segments,
        encoding=info.encoding,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        is_test=is_test,
        campaign=request.campaign,
        automation=request.automation,
    )
    if message is None:
        # A concurrent request with this key committed between the look-up and the insert.
        assert idempotency_key is not None  # rows without a key never conflict
        winner = await _by_idempotency_key(session, idempotency_key)
        if winner is None:  # it was deleted in the meantime
            raise Conflict("this Idempotency-Key is being used by another request; retry")
        return _replay(winner, fingerprint)
    # No contact ids wanted without links: one statement less while the write lock is held.
    contact_ids = await contacts.ensure_many(session, [to], ids=bool(content.links))
    if content.links:
        batch = [
            link_store.MessageLinks(
                message.id, contact_ids.get(to), message.campaign, content.links
            )
        ]
        await link_store.save(await session.connection(), batch)
    session.add(
        MessageEvent(
            message_id=message.id,
            status=status.QUEUED,
            source="api",
            data=content.event_data(),
            created_at=message.created_at,
        )
    )
    return Submitted(message)


async def _sender_for(session: AsyncSession, content: Content) -> Sender:
    """The request's sender by name, else the template's, else the default."""
    if isinstance(content.sender, int):
        found = await sender_service.find_sender(session, content.sender, missing_ok=True)
        if found is None:
            raise ValidationFailed("sender", "the template's sender no longer exists; name one")
        return found
    return await resolve_sender(session, content.sender)


async def _by_idempotency_key(session: AsyncSession, key: str) -> Message | None:
    return await session.scalar(select(Message).where(Message.idempotency_key == key))


def _replay(earlier: Message, fingerprint: str | None) -> Submitted:
    if earlier.request_hash != fingerprint:
        raise Conflict("this Idempotency-Key was already used with a different request")
    return Submitted(earlier, replayed=True)


async def _insert_unless_key_taken(session: AsyncSession, **values: object) -> Message | None:
    """Insert the message; None when its idempotency key is already taken.

    ``ON CONFLICT DO NOTHING`` rather than catching the unique violation: it
    leaves the transaction usable, so the caller can read the winner's row in
    it. PostgreSQL waits for a concurrent insert of the same key to commit (or
    roll back) before deciding; SQLite serialises writers anyway.
    """
    query = (
        dialect_of(session)
        .insert_unless_exists(
            Message,
            key=[Message.idempotency_key],
            where=Message.idempotency_key.is_not(None),  # the unique index is partial
        )
        .values(**values)
        .returning(Message)
    )
    return (await session.scalars(query)).one_or_none()


def final_body(body: str, append_unsubscribe: bool, sender: Sender) -> str:
    """The text as it will be sent: with the sender's unsubscribe text when asked
    for, so segments and encoding are counted on what the handset receives."""
    if append_unsubscribe:
        if not sender.unsubscribe_text:
            raise ValidationFailed(
                "append_unsubscribe_text", f"sender {sender.name!r} has no unsubscribe text set"
            )
        return f"{body}\n{sender.unsubscribe_text}" if body else sender.unsubscribe_text
    return body


def validate_content(
    settings: Settings,
    sender: Sender,
    provider_type: str,
    body: str,
    media: list[str],
    template_id: str | None,
) -> sms_segments.SegmentInfo:
    """Refuse content the sender or provider cannot take; the segment count on success."""
    # A Twilio Content template carries its own text: the body is only what Textcast shows.
    if not body.strip() and not media and not is_content_sid(template_id):
        raise ValidationFailed("body", "must not be empty (or send media_urls from an MMS sender)")
    if media and not sender.mms_capable:
        raise ValidationFailed("media_urls", f"sender {sender.name!r} is not MMS capable")
    if sender.template_id_required and not template_id:
        raise ValidationFailed("template_id", f"sender {sender.name!r} requires a template ID")
    if len(body) > TWILIO_BODY_LIMIT and provider_type == "twilio":
        raise ValidationFailed("body", f"Twilio accepts at most {TWILIO_BODY_LIMIT} characters")
    info = sms_segments.analyze(body)
    if info.segments > settings.max_segments:
        raise ValidationFailed(
            "body",
            f"is {info.segments} segments long; the limit is {settings.max_segments}"
            " (TEXTCAST_MAX_SEGMENTS)",
        )
    return info


async def get_message(session: AsyncSession, message_id: int) -> Message:
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    return message


async def history(session: AsyncSession, message_id: int) -> list[MessageEvent]:
    """Every event of the message, starting with its acceptance (``queued``)."""
    await get_message(session, message_id)
    query = (
        select(MessageEvent).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id)
    )
    return list(await session.scalars(query))


async def wait_until_final(
    ctx: Context, message_id: int, timeout: float
) -> tuple[Message, list[MessageEvent], bool]:
    """The message and its history once its status is final, or when ``timeout``
    seconds have passed; whether it is final."""
    deadline = time.monotonic() + timeout
    while True:
        async with ctx.sessions() as session:
            message = await get_message(session, message_id)
            final = message.status in status.FINAL
            if final or time.monotonic() >= deadline:
                return message, await history(session, message_id), final
        await asyncio.sleep(0.1)


async def list_messages(
    session: AsyncSession,
    *,
    status_filter: str | None = None,
    to: str | None = None,
    sender_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Message]:
    query = select(Message).order_by(Message.id.desc()).limit(limit)
    if status_filter:
        query = query.where(Message.status == status_filter)
    if to:
        query = query.where(Message.to == to)
    if sender_id is not None:
        query = query.where(Message.sender_id == sender_id)
    if before_id is not None:
        query = query.where(Message.id < before_id)
    return list(await session.scalars(query))


# --- bulk intake ---------------------------------------------------------------

MAX_BATCH = 10_000


@dataclass(frozen=True)
class BatchResult:
    accepted: list[tuple[int, int]]  # (row index, message id)
    rejected: list[dict[str, object]]  # {"index", "field", "message"}
    replayed: frozenset[int] = frozenset()  # indexes answered with an earlier message


KEY_FIELD = "idempotency_key"
KEY_MAX = 200  # as the Idempotency-Key header of POST /messages


async def submit_batch(
    settings: Settings, session: AsyncSession, rows: list[object]
) -> BatchResult:
    """Validate each row on its own; queue the good ones in bulk, report the bad by index.

    A row may carry an ``idempotency_key``, as one message's Idempotency-Key:
    a key already used for the same message answers that message again
    (``replayed``), so a retried batch queues nothing twice; a key used for a
    different message, or twice in one batch, is a bad row.
    """
    if len(rows) > MAX_BATCH:
        raise ValidationFailed(
            "messages", f"at most {MAX_BATCH} messages per batch, got {len(rows)}"
        )
    keys = _row_keys(rows)
    earlier = await _by_idempotency_keys(session, {key for key in keys.values() if key})
    senders: dict[str | None, RowSender] = {}
    good: list[tuple[int, dict[str, object]]] = []
    keyed: list[tuple[int, dict[str, object]]] = []
    rejected: list[dict[str, object]] = []
    replays: list[tuple[int, int]] = []
    for index, raw in enumerate(rows):
        try:
            key = keys.get(index)
            row = await _batch_row(settings, session, _without_key(raw), senders, key)
            if key is None:
                good.append((index, row))
            elif key in earlier:
                replays.append((index, _replay(earlier[key], str(row["request_hash"])).message.id))
            else:
                keyed.append((index, row))
        except (ValidationFailed, Conflict) as exc:
            field = exc.field if isinstance(exc, ValidationFailed) else KEY_FIELD
            message = exc.message if isinstance(exc, ValidationFailed) else str(exc)
            rejected.append({"index": index, "field": field, "message": message})
    accepted = await _insert_batch(session, good, keyed, rejected, replays)
    accepted += replays
    accepted.sort()
    rejected.sort(key=lambda entry: int(str(entry["index"])))
    return BatchResult(accepted, rejected, frozenset(index for index, _ in replays))


def _row_keys(rows: list[object]) -> dict[int, str | None]:
    """Each row's idempotency key; a bad or repeated one as ValidationFailed, raised
    when its row is read."""
    keys: dict[int, str | None] = {}
    first: dict[str, int] = {}
    for index, raw in enumerate(rows):
        key = raw.get(KEY_FIELD) if isinstance(raw, dict) else None
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= KEY_MAX):
            key = _BadKey(f"must be a string of 1 to {KEY_MAX} characters")
        elif isinstance(key, str) and (reason := storable_text.problem(key)):
            key = _BadKey(reason)
        elif isinstance(key, str) and key in first:
            key = _BadKey(f"repeats the idempotency key of row {first[key]} of this batch")
        elif isinstance(key, str):
            first[key] = index
        keys[index] = key
    return keys


class _BadKey(str):
    """A row key that is refused; its text is the reason."""


def _without_key(raw: object) -> object:
    if isinstance(raw, dict) and KEY_FIELD in raw:
        return {name: value for name, value in raw.items() if name != KEY_FIELD}
    return raw


async def _by_idempotency_keys(session: AsyncSession, keys: set[str]) -> dict[str, Message]:
    found: dict[str, Message] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 1000):
        chunk = ordered[start : start + 1000]
        query = select(Message).where(Message.idempotency_key.in_(chunk))
        found.update({str(m.idempotency_key): m for m in await session.scalars(query)})
    return found


async def _insert_batch(
    session: AsyncSession,
    good: list[tuple[int, dict[str, object]]],
    keyed: list[tuple[int, dict[str, object]]],
    rejected: list[dict[str, object]],
    replays: list[tuple[int, int]],
) -> list[tuple[int, int]]:
    """Insert the rows in bulk, keyed ones one by one (a concurrent request may
    take a key first); their queued events and contacts. (index, id) of each."""
    accepted: list[tuple[int, int]] = []
    inserted: list[tuple[int, dict[str, object]]] = []
    if good:
        ids = await dialect_of(session).insert_returning_ids(
            session, MESSAGES, [row for _, row in good]
        )
        accepted += [(index, mid) for (index, _), mid in zip(good, ids, strict=True)]
        inserted += [(mid, row) for (_, row), mid in zip(good, ids, strict=True)]
    for index, row in keyed:
        message = await _insert_unless_key_taken(session, **row)
        if message is None:
            winner = await _by_idempotency_key(session, str(row["idempotency_key"]))
            if winner is not None and winner.request_hash == row["request_hash"]:
                replays.append((index, winner.id))
            else:
                reason = "this idempotency key was already used with a different message"
                rejected.append({"index": index, "field": KEY_FIELD, "message": reason})
            continue
        accepted.append((index, message.id))
        inserted.append((message.id, row))
    if not inserted:
        return accepted
    await contacts.ensure_many(session, {str(row["to"]) for _, row in inserted}, ids=False)
    connection = await session.connection()
    dialect = dialect_of(connection)
    to_db_time = dialect.bind_time
    # The type is set here: rows go to the driver directly, past the column's Python default.
    queued = event_type(status.QUEUED, "api")
    events = [
        (mid, queued, status.QUEUED, "api", to_db_time(cast(datetime, row["created_at"])))
        for mid, row in inserted
    ]
    await dialect.insert_rows(connection, EVENTS, _QUEUED_EVENT_COLUMNS, events)
    return accepted


_QUEUED_EVENT_COLUMNS = ("message_id", "type", "status", "source", "created_at")


SIMPLE_ROW_KEYS = frozenset({"to", "body", "sender", "campaign", "automation"})
# What a single message may do and a batch row may not: rendering a template
# reads the recipient's contact and minting links writes rows of their own,
# per message. Campaigns do both for a whole audience.
SINGLE_ONLY_KEYS = ("template", "data", "click_tracking")
MESSAGES = cast(Table, Message.__table__)
EVENTS = cast(Table, MessageEvent.__table__)


def _fast_request(raw: object) -> SendRequest | None:
    """Plain ``{to, body, sender}`` rows skip pydantic's validation (the common
    campaign case, ~10x cheaper); anything else takes the full path."""
    if not isinstance(raw, dict) or not raw.keys() <= SIMPLE_ROW_KEYS:
        return None
    to, body, sender = raw.get("to"), raw.get("body", ""), raw.get("sender")
    campaign, automation = raw.get("campaign"), raw.get("automation")
    for label in (campaign, automation):
        if label is not None and (not isinstance(label, str) or len(label) > 100):
            return None
    if (
        not isinstance(to, str)
        or not 0 < len(to) <= 40
        or not isinstance(body, str)
        or len(body) > 20000
    ):
        return None
    if sender is not None and not isinstance(sender, str):
        return None
    return SendRequest.model_construct(
        to=to,
        body=body,
        sender=sender,
        media_urls=[],
        template_id=None,
        append_unsubscribe_text=False,
        campaign=campaign,
        automation=automation,
        template=None,
        data={},
        click_tracking=False,
    )


@functools.lru_cache(maxsize=100_000)
def normalize_cached(raw: str, region: str) -> str:
    """Campaigns repeat numbers across batches; parsing is the costly part of a row."""
    return phone.normalize(raw, region, field="to")


@dataclass(frozen=True, slots=True)
class RowSender:
    """A batch's sender by the name its rows give, looked up once per batch."""

    sender: Sender
    provider_type: str
    provider_name: str
    allowed_countries: frozenset[str]


async def _row_sender(session: AsyncSession, name: str | None) -> RowSender:
    sender = await resolve_sender(session, name)
    provider = await session.get(ProviderRow, sender.provider_id)
    if provider is None:
        return RowSender(sender, "", "", frozenset())
    return RowSender(sender, provider.type, provider.name, geo.allowed_of(provider.config))


async def _batch_row(
    settings: Settings,
    session: AsyncSession,
    raw: object,
    senders: dict[str | None, RowSender],
    key: str | None = None,
) -> dict[str, object]:
    # Checked here, not at the API's door: one such row must not refuse the batch.
    storable_text.check(raw)
    if isinstance(key, _BadKey):
        raise ValidationFailed(KEY_FIELD, str(key))
    if isinstance(raw, dict):
        for name in SINGLE_ONLY_KEYS:
            if raw.get(name) not in (None, False, {}):
                raise ValidationFailed(
                    name,
                    "batch rows take a body, not templates or click tracking: "
                    "send this one with POST /api/v1/messages, or through a campaign",
                )
    try:
        request = _fast_request(raw) or SendRequest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(
            ".".join(str(p) for p in first["loc"]) or "body", first["msg"]
        ) from None
    if request.sender not in senders:
        senders[request.sender] = await _row_sender(session, request.sender)
    found = senders[request.sender]
    sender = found.sender
    to = normalize_cached(request.to, settings.default_region)
    geo.check_destination(found.provider_name, found.allowed_countries, to)
    media = [str(url) for url in request.media_urls]
    body = final_body(request.body, request.append_unsubscribe_text, sender)
    info = validate_content(settings, sender, found.provider_type, body, media, request.template_id)
    now = utcnow()
    keyed = {KEY_FIELD: key, "request_hash": request_hash(request)} if key else {}
    return {
        **keyed,
        "provider_id": sender.provider_id,
        "sender_id": sender.id,
        "to": to,
        "body": body,
        "media_urls": media,
        "template_id": request.template_id,
        "campaign": request.campaign,
        "automation": request.automation,
        "status": status.QUEUED,
        "segments": info.segments,
        "encoding": info.encoding,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
        # Written straight to the driver on SQLite (see the dialect's
        # insert_returning_ids): no column defaults.
        "attempts": 0,
        "is_test": False,
        "possible_duplicate": False,
    }
