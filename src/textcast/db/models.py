"""The tables. One model serves SQLite and PostgreSQL.

The ``messages`` table is also the outbox the dispatcher claims from: a row is
committed before any provider is called.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    BindParameter,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from textcast.errors import ValidationFailed

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer, "sqlite")
# The largest ID either column holds (64-bit signed). A larger number sent as an
# ID must be refused at the boundary: both drivers raise on binding it.
MAX_ID = 2**63 - 1
# JSON documents that queries look inside (contact attributes and tags): JSONB on
# PostgreSQL, where containment (@>) and key tests (?) can use GIN indexes; JSON
# text on SQLite.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")
# ``Index.info`` of indexes that exist on PostgreSQL only (GIN has no SQLite
# counterpart); the migrations and their model check skip them elsewhere.
POSTGRESQL_ONLY = {"dialects": ("postgresql",)}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _filled(column: str) -> dict[str, Any]:
    """An index of only the rows where ``column`` is set (migration 0018).

    For a column empty when the row is written (a message's provider ID and
    automation, a message event's contact, a pending recipient's skip
    reason), a full index takes an entry per row written that no look-up
    ever reads: a campaign's fan-out wrote four such entries per recipient.
    Both databases use the partial index for ``column = …`` and
    ``column IN (…)``, which imply it is set."""
    condition = text(f"{column} IS NOT NULL")
    return {"sqlite_where": condition, "postgresql_where": condition}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use textcast.db.models.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # admin, editor or viewer (textcast.services.roles): what the key may do.
    role: Mapped[str] = mapped_column(String(16), default="admin")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class DashboardUser(Base):
    """A person who signs in to the dashboard with a password (argon2id hash)."""

    __tablename__ = "dashboard_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(default=None)
    # A disabled user cannot sign in and their sessions stop working at once.
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class DashboardSession(Base):
    """A signed-in browser: the cookie holds a random token, this row its hash.

    Exactly one of ``user_id`` and ``api_key_id`` says who signed in; the role is
    read from that row on every request, so a role change or a revoked key
    takes effect at once.
    """

    __tablename__ = "dashboard_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("dashboard_users.id", ondelete="CASCADE"), default=None, index=True
    )
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class AuditEntry(Base):
    """One change made through the dashboard or the API (or a failed sign-in):
    who, what, when. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_created_at", "action", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who, as shown ("user alice", "API key ci #3"), kept even if the actor is removed.
    actor: Mapped[str] = mapped_column(String(150))
    actor_type: Mapped[str] = mapped_column(String(16))  # user, api_key, cli, anonymous
    actor_id: Mapped[int | None] = mapped_column(BigId, default=None)
    action: Mapped[str] = mapped_column(String(80))
    target: Mapped[str | None] = mapped_column(String(200), default=None)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)


class Provider(Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets_encrypted: Mapped[str] = mapped_column(Text)
    is_simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_secret_encrypted: Mapped[str] = mapped_column(Text)
    # The secret customers sign relayed callbacks with (X-Textcast-Signature);
    # created when the operator asks for one.
    relay_secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    # Whether a STOP reply blocks the whole account ("account") or only the
    # sender it was sent to ("sender").
    opt_out_scope: Mapped[str] = mapped_column(String(16), default="account")
    # The tag a STOP reply puts on the contact (removed again on START). Only a
    # label for segmenting: whether a contact is opted out comes from suppressions.
    opt_out_tag: Mapped[str] = mapped_column(String(50), default="opted-out")
    # The installation's default provider: its default sender sends every
    # message that names no sender. One live provider at most.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    senders: Mapped[list[Sender]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", order_by="Sender.id"
    )


class Sender(Base):
    __tablename__ = "senders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(String(64))
    mms_capable: Mapped[bool] = mapped_column(Boolean, default=False)
    template_id_required: Mapped[bool] = mapped_column(Boolean, default=False)
    custom_callback_url: Mapped[str | None] = mapped_column(Text, default=None)
    unsubscribe_text: Mapped[str | None] = mapped_column(Text, default=None)
    # Whether Textcast answers keywords in replies to this sender (auto-replies,
    # the HELP text, STOP/START confirmations) and applies the operator's rules.
    # Off where the provider answers them itself (Twilio's opt-out handling):
    # STOP and START still change the suppression list either way.
    keyword_responses: Mapped[bool] = mapped_column(Boolean, default=True)
    mps: Mapped[float] = mapped_column(Float)
    # The provider's default sender (one per provider); the installation's
    # default is the default sender of the default provider.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # A US long code's A2P 10DLC campaign (The Campaign Registry's ID, or
    # Twilio's campaign SID); None while unregistered. registered_at tells
    # which messages were sent before the registration.
    a2p_10dlc_campaign_id: Mapped[str | None] = mapped_column(String(64), default=None)
    a2p_10dlc_registered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    provider: Mapped[Provider] = relationship(back_populates="senders")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_claim", "status", "next_attempt_at"),
        # Partial (see _filled): a new message has no provider ID or automation yet.
        Index(
            "ix_messages_provider_message_id",
            "provider_message_id",
            **_filled("provider_message_id"),
        ),
        Index("ix_messages_automation", "automation", **_filled("automation")),
        Index("ix_messages_created_at", "created_at"),
        # A contact's messages: conversations, erasure, segment behaviour conditions.
        Index("ix_messages_to", "to", "created_at"),
        # A campaign's messages by status: stats, completion, the failure-rate pause.
        Index("ix_messages_campaign_id_status", "campaign_id", "status"),
        # Partial (migration 0019): most messages have no key, and each took an entry.
        Index(
            "uq_messages_idempotency_key",
            "idempotency_key",
            unique=True,
            **_filled("idempotency_key"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Not foreign keys (migration 0019): the per-row check cost 40 % of a
    # message's insert, and providers and senders are only ever soft-deleted.
    provider_id: Mapped[int] = mapped_column(BigId)
    sender_id: Mapped[int] = mapped_column(BigId)
    to: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    media_urls: Mapped[list[Any]] = mapped_column(default=list)
    template_id: Mapped[str | None] = mapped_column(String(100), default=None)
    # The saved template's version the text was rendered from (None: no template).
    template_version_id: Mapped[int | None] = mapped_column(BigId, default=None)
    # Twilio Content variables as sent (ContentVariables, a JSON object as text),
    # rendered for this recipient; only with an HX… template_id.
    content_variables: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    segments: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[str] = mapped_column(String(8))
    provider_message_id: Mapped[str | None] = mapped_column(String(100), default=None)
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    # Free-form labels from the caller, carried into events and the callback's meta.
    campaign: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    automation: Mapped[str | None] = mapped_column(String(100), default=None)
    possible_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    # The campaign that made the message (``campaign`` above is its name), the
    # A/B variant it carries, and promotional/transactional (frequency caps
    # count promotional messages per contact through ix_messages_to).
    campaign_id: Mapped[int | None] = mapped_column(BigId, default=None)
    variant: Mapped[str | None] = mapped_column(String(32), default=None)
    category: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    final_at: Mapped[datetime | None] = mapped_column(default=None)
    # The carrier's own "done" time from the delivery receipt, as reported
    # (Twilio RawDlrDoneDate, minute resolution: it can read earlier than
    # sent_at). Views show it as carrier_done_at and derive delivered_at.
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    # Counted into campaign_stat_rollups (textcast.services.campaign_rollups).
    rolled_up: Mapped[bool] = mapped_column(Boolean, server_default=false())


def event_type(status: str | None, source: str | None) -> str:
    """``message.<status>`` for status-history rows; a message put back in the
    queue by a worker (retry, recovery) is ``message.requeued``."""
    if status == "queued" and source != "api":
        return "message.requeued"
    return f"message.{status}"


def _event_type(context: DefaultExecutionContext) -> str:
    params = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return event_type(params.get("status"), params.get("source"))


class MessageEvent(Base):
    """The append-only event log: every accepted status transition of a message
    (its history), replies, and contact events (opt-out, opt-in).

    Message rows name their message; sender, contact, campaign and automation
    come from the message. Contact rows carry ``contact_id`` and ``provider_id``.
    """

    __tablename__ = "message_events"
    __table_args__ = (
        Index("ix_message_events_type_id", "type", "id"),
        # Contact events only: a message's events name their message alone.
        Index("ix_message_events_contact_id", "contact_id", **_filled("contact_id")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(40), default=_event_type)
    # Not a foreign key (migration 0019): messages are never deleted, and the
    # per-row check cost 40 % of an event's insert.
    message_id: Mapped[int | None] = mapped_column(BigId, index=True, default=None)
    contact_id: Mapped[int | None] = mapped_column(BigId, default=None)
    provider_id: Mapped[int | None] = mapped_column(BigId, default=None)
    sender_id: Mapped[int | None] = mapped_column(BigId, default=None)
    status: Mapped[str | None] = mapped_column(String(16), default=None)
    source: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A reply or STOP counted into campaign_stat_rollups (other events stay false).
    rolled_up: Mapped[bool] = mapped_column(Boolean, server_default=false())


class SendAttempt(Base):
    __tablename__ = "send_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer, default=None)
    provider_code: Mapped[str | None] = mapped_column(String(32), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)


class WebhookReceipt(Base):
    """Every callback as received, stored before Textcast answers it."""

    __tablename__ = "webhook_receipts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    message_id: Mapped[int | None] = mapped_column(BigId, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[str] = mapped_column(String(16))
    idempotency_token: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_from_number", "from_number", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("senders.id"), default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    from_number: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    media_urls: Mapped[list[Any]] = mapped_column(default=list)
    # Twilio's FromCity/FromState/FromZip/FromCountry and To* equivalents, as sent.
    location: Mapped[dict[str, Any]] = mapped_column(default=dict)
    in_reply_to: Mapped[int | None] = mapped_column(BigId, default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    """A number that must not be messaged through a provider account, or only
    through one of its senders when ``sender_id`` is set."""

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("provider_id", "sender_id", "phone", name="uq_suppressions_scope"),
        Index("ix_suppressions_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("senders.id", ondelete="CASCADE"), default=None
    )
    phone: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200))
    # Who put it there: operator, reply, provider_error or import, with the
    # detail (api/cli/dashboard, the keyword, the error code, the file).
    source: Mapped[str] = mapped_column(String(16))
    source_detail: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    """A person Textcast messages or hears from, keyed by E.164 number.

    ``country``, ``phone_type`` and a derived ``time_zone`` follow from the
    number (see :mod:`textcast.audience.numbers`); ``time_zone`` is None when
    the install's default zone applies. Opt-out state is not stored here: it is
    the suppression list's.
    """

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_country", "country"),
        Index("ix_contacts_created_at", "created_at"),
        Index("ix_contacts_last_inbound_at", "last_inbound_at"),
        Index("ix_contacts_attributes", "attributes", postgresql_using="gin", info=POSTGRESQL_ONLY),
        Index("ix_contacts_tags", "tags", postgresql_using="gin", info=POSTGRESQL_ONLY),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    # The customer's own ID for the person (unique when set).
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    tags: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    # explicit | phone | country_default | install_default
    time_zone_source: Mapped[str] = mapped_column(String(16), default="install_default")
    # ISO 3166 region of the number; "001" non-geographic, "ZZ" unknown.
    country: Mapped[str] = mapped_column(String(3), default="ZZ")
    # libphonenumber's number type in lower case (mobile, fixed_line, ...),
    # "test" for Twilio's magic numbers, "invalid" when the number is not valid.
    phone_type: Mapped[str] = mapped_column(String(24), default="invalid")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(default=None)


class Segment(Base):
    """A saved audience: a rule tree over contacts (see :mod:`textcast.audience.segments`)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactImport(Base):
    """A contact import job: where its file is, how far it got, what it found.

    Counts and the read position are committed with each batch, so progress
    survives a restart and a job taken over resumes after its last batch.
    """

    __tablename__ = "contact_imports"
    __table_args__ = (Index("ix_contact_imports_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    format: Mapped[str] = mapped_column(String(8))  # csv | jsonl
    filename: Mapped[str] = mapped_column(String(255))  # as the user named it
    path: Mapped[str] = mapped_column(Text)  # where the job reads it
    delete_file: Mapped[bool] = mapped_column(Boolean, default=False)  # a spooled upload
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # column map, tags
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    done_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[int] = mapped_column(BigInteger, default=0)
    updated: Mapped[int] = mapped_column(BigInteger, default=0)
    unchanged: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)  # the first rejected rows
    error: Mapped[str | None] = mapped_column(Text, default=None)  # why the job failed
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class KeywordRule(Base):
    """An operator's keyword: an auto-reply, or an extra opt-out/opt-in word,
    for a provider account or one of its senders."""

    __tablename__ = "keyword_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("senders.id", ondelete="CASCADE"), default=None
    )
    keyword: Mapped[str] = mapped_column(String(50))  # case-folded
    action: Mapped[str] = mapped_column(String(16))
    reply: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    """An operator's URL that receives events as signed JSON."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(200), default=None)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[Any]] = mapped_column(default=list)  # empty: every type
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Events up to this ID have been turned into deliveries.
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: its attempts and outcome (the delivery log)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookAttempt(Base):
    """One POST of a delivery and its answer: the delivery log's history.

    Written with the attempt's outcome, so an attempt cut short by its process
    dying has no row (the delivery's ``attempts`` still counts it).
    """

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)  # 1 for the first POST
    started_at: Mapped[datetime] = mapped_column()
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)  # None: never sent
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class SenderPacing(Base):
    """Each sender's next free send time (GCRA), shared by every worker."""

    __tablename__ = "sender_pacing"

    sender_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("senders.id", ondelete="CASCADE"), primary_key=True
    )
    tat: Mapped[float] = mapped_column(Float)


class MessageTemplate(Base):
    """A saved message text with its personalisation; each change is a new
    :class:`TemplateVersion`, so what a campaign sent can always be shown."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)  # the current one
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    versions: Mapped[list[TemplateVersion]] = relationship(
        back_populates="template", order_by="TemplateVersion.version"
    )


class TemplateVersion(Base):
    """One version of a template, never changed once written."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_template_versions"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    # The provider's own ID for this text: an India DLT template ID, or a
    # Twilio Content SID (HX…), sent with ``content_variables`` rendered per contact.
    provider_template_id: Mapped[str | None] = mapped_column(String(100), default=None)
    content_variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("senders.id", ondelete="SET NULL"), default=None
    )
    category: Mapped[str] = mapped_column(String(16), default="promotional")
    append_unsubscribe: Mapped[bool] = mapped_column(Boolean, default=False)
    click_tracking: Mapped[bool] = mapped_column(Boolean, default=False)
    # UTM parameters added to tracked links (utm_source, utm_campaign …).
    utm: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    template: Mapped[MessageTemplate] = relationship(back_populates="versions")


class ShortLink(Base):
    """A tracked link: a random code standing for one URL in one message, so
    each click is attributed to its message, contact and campaign."""

    __tablename__ = "short_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    url: Mapped[str] = mapped_column(Text)  # the destination, UTM parameters included
    message_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    contact_id: Mapped[int | None] = mapped_column(BigId, default=None)
    campaign: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class LinkClick(Base):
    """Every request for a short link. ``is_bot`` marks link-preview bots and
    scanners (not counted as clicks); ``first`` marks a message's first human
    click (unique clicks)."""

    __tablename__ = "link_clicks"
    __table_args__ = (Index("ix_link_clicks_campaign", "campaign", "is_bot"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    link_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("short_links.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    contact_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    campaign: Mapped[str | None] = mapped_column(String(100), default=None)
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[str] = mapped_column(String(8), default="GET")
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    bot_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    first: Mapped[bool] = mapped_column(Boolean, default=False)
    # Seen by the campaign stats' roll-up (counted there when it is a campaign's human click).
    rolled_up: Mapped[bool] = mapped_column(Boolean, server_default=false())


class Campaign(Base):
    """An audience × a template (or A/B variants) × a schedule.

    ``status``: draft → scheduled → sending → completed, plus paused,
    cancelled and failed (see :mod:`textcast.campaigns.lifecycle`). The
    counters are kept by the fan-out as it goes, so a campaign's progress is
    read without counting its recipients.
    """

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # None: the installation's default sender at launch.
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("senders.id"), default=None)
    category: Mapped[str] = mapped_column(String(16), default="promotional")
    # A saved template pinned to one version, or an inline body.
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"), default=None)
    template_version: Mapped[int | None] = mapped_column(Integer, default=None)
    body: Mapped[str | None] = mapped_column(Text, default=None)
    # [{name, template_id, template_version, body, percent}]; empty: no A/B test.
    variants: Mapped[list[Any]] = mapped_column(default=list)
    control_percent: Mapped[int] = mapped_column(Integer, default=0)
    # {"segment": id} | {"rules": {...}} | {"contacts": [ids]} | {"phones": [...]}
    # | {"import": id}
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    click_tracking: Mapped[bool] = mapped_column(Boolean, default=False)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    send_at: Mapped[datetime | None] = mapped_column(default=None)
    # "10:00": send at that hour in each recipient's own zone; recipients
    # whose hour has passed go at the next one ("next") or are skipped.
    local_time: Mapped[str | None] = mapped_column(String(5), default=None)
    missed_local_time: Mapped[str] = mapped_column(String(8), default="next")
    throttle_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    max_failure_rate: Mapped[float | None] = mapped_column(Float, default=None)
    quiet_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    frequency_caps: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    targeted: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    queued: Mapped[int] = mapped_column(BigInteger, default=0)
    # The fan-out job's bookkeeping: when recipients were materialised (None:
    # not yet, or cut short and to be redone), who holds the job, and when a
    # throttled campaign may make its next batch.
    materialised_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    next_batch_at: Mapped[datetime | None] = mapped_column(default=None)
    # The failure-rate check counts only messages after this one: set on
    # resume, so a campaign resumed once its cause is fixed is judged on what
    # it sends from then on, not paused again by the failures that paused it.
    failures_counted_after: Mapped[int | None] = mapped_column(BigInteger, default=None)


class CampaignRecipient(Base):
    """One targeted contact of a campaign: ``pending`` until its message is
    made, then ``queued`` (with ``message_id``), or ``skipped`` with a reason,
    or ``control`` (held out). One row per campaign and contact: a resumed
    fan-out can neither lose nor repeat anyone."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", name="uq_campaign_recipients_contact"),
        # Skipped recipients by reason; pending and queued ones have none.
        Index("ix_campaign_recipients_reason", "campaign_id", "reason", **_filled("reason")),
        # ix_campaign_recipients_due and _stats: below, partial.
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Not a foreign key (migration 0019): the per-row check was a third of
    # choosing a million recipients, and only a draft, which has none, can
    # be deleted.
    campaign_id: Mapped[int] = mapped_column(BigId)
    # No foreign key: erasing a contact must not rewrite campaign history.
    contact_id: Mapped[int] = mapped_column(BigId)
    phone: Mapped[str] = mapped_column(String(32))
    variant: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    message_id: Mapped[int | None] = mapped_column(BigId, default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)


class CampaignStatRollup(Base):
    """A campaign's counted rows (see :mod:`textcast.services.campaign_rollups`):
    messages that settled, human clicks, first replies and STOPs, grouped as
    the stats read them. Each roll-up pass appends its groups; a compaction
    sums a campaign's rows now and then; a read sums them."""

    __tablename__ = "campaign_stat_rollups"
    __table_args__ = (Index("ix_campaign_stat_rollups_campaign", "campaign_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # "messages" (settled messages), "clicks" (human clicks) or "replies"
    # (``status`` says replied or opted_out).
    kind: Mapped[str] = mapped_column(String(8))
    variant: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[str | None] = mapped_column(String(16), default=None)
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    provider_id: Mapped[int | None] = mapped_column(BigId, default=None)
    # Messages: the minutes of sending and of settling; clicks: of the click.
    sent_minute: Mapped[datetime | None] = mapped_column(default=None)
    settled_minute: Mapped[datetime | None] = mapped_column(default=None)
    first: Mapped[bool] = mapped_column(Boolean, default=False)  # clicks: unique ones
    count: Mapped[int] = mapped_column(BigInteger)
    segments: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignStatProgress(Base):
    """A campaign's roll-up: when a pass last counted rows of it
    (``rolled_until``), and how many rows its groups take (``kept`` after
    the last compaction, ``appended`` since), which says when to compact."""

    __tablename__ = "campaign_stat_progress"

    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    rolled_until: Mapped[datetime]
    kept: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    appended: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# Campaign stats: the rows their roll-up has yet to count, each index holding
# only those (a few seconds' worth while the roll-up keeps up): read by every
# stats call, taken by the roll-up's next pass (textcast.services.campaign_rollups).
# Both databases use a partial index only when the query repeats its condition:
# the roll-up's queries build theirs from these, with literal values.
ANSWER_EVENTS = ("contact.opted_out", "message.replied")  # what a campaign counts of its replies


def _where(condition: Any) -> dict[str, Any]:
    return {"sqlite_where": condition, "postgresql_where": condition}


Index(
    "ix_messages_to_roll_up",
    Message.campaign_id,
    **_where(
        (Message.rolled_up == false())
        & Message.final_at.is_not(None)
        & Message.campaign_id.is_not(None)
    ),
)
Index("ix_link_clicks_to_roll_up", LinkClick.campaign, **_where(LinkClick.rolled_up == false()))

# Campaign recipients (migration 0020). A recipient's message made, its row
# leaves both indexes: the due recipients in order for the fan-out, and
# skipped, control and pending recipients by variant and reason for the
# stats, from the index alone (queued ones are counted by their messages).
# A fan-out's update of a million recipients to ``queued`` wrote four index
# entries each; two now. Queries use RECIPIENT_PENDING / RECIPIENT_UNQUEUED.
Index(
    "ix_campaign_recipients_due",
    CampaignRecipient.campaign_id,
    CampaignRecipient.due_at,
    **_where(CampaignRecipient.status == "pending"),
)
Index(
    "ix_campaign_recipients_stats",
    CampaignRecipient.campaign_id,
    CampaignRecipient.status,
    CampaignRecipient.variant,
    CampaignRecipient.reason,
    **_where(CampaignRecipient.status != "queued"),
)


def _in_the_sql(value: str) -> BindParameter[str]:
    """``value`` written into the statement, so a query states a partial
    index's condition as the index does: a plan PostgreSQL keeps for any
    bound value cannot rely on one."""
    return bindparam(None, value, type_=String(), literal_execute=True)


RECIPIENT_PENDING = CampaignRecipient.status == _in_the_sql("pending")
RECIPIENT_UNQUEUED = CampaignRecipient.status != _in_the_sql("queued")


RECIPIENT_STATES = ("pending", "queued", "skipped", "control")


def recipients_in_status(state: str) -> list[ColumnElement[bool]]:
    """The conditions for recipients in ``state``, as the partial indexes
    find them: pending ones in the due index, skipped and control ones in
    the stats index; queued ones (most of a sent campaign) in neither.
    Any other ``state`` is refused (it is written into the SQL)."""
    if state not in RECIPIENT_STATES:
        raise ValidationFailed("status", f"one of: {', '.join(RECIPIENT_STATES)}")
    if state == "pending":
        return [RECIPIENT_PENDING]
    if state == "queued":
        return [CampaignRecipient.status == _in_the_sql(state)]
    return [CampaignRecipient.status == _in_the_sql(state), RECIPIENT_UNQUEUED]


Index(
    "ix_message_events_to_roll_up",
    MessageEvent.message_id,
    postgresql_where=(MessageEvent.rolled_up == false()) & MessageEvent.type.in_(ANSWER_EVENTS),
    # "+type": SQLite's queries hide the type from its index (ix_message_events_type_id)
    # that it would otherwise walk through every answer ever stored.
    sqlite_where=text("rolled_up = 0 AND +type IN ('contact.opted_out', 'message.replied')"),
)


class InstallationDefaults(Base):
    """The installation's defaults as changed at run time (dashboard, API, CLI):
    one row, ``id`` 1. A column left NULL falls back to its environment setting
    (``TEXTCAST_DEFAULT_REGION`` …); values are written as those settings are.
    ``version`` grows with every change: what other processes look at to learn
    of one (:mod:`textcast.services.installation_defaults`)."""

    __tablename__ = "installation_defaults"
    __table_args__ = (CheckConstraint("id = 1", name="ck_installation_defaults_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    default_region: Mapped[str | None] = mapped_column(String(2), default=None)
    quiet_hours: Mapped[str | None] = mapped_column(String(32), default=None)
    quiet_hours_inside: Mapped[str | None] = mapped_column(String(8), default=None)
    frequency_caps: Mapped[str | None] = mapped_column(String(200), default=None)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_by: Mapped[str | None] = mapped_column(String(150), default=None)
