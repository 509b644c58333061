"""event log, contacts, keyword rules, outgoing webhooks, scoped suppressions,
inbound location fields

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("providers") as batch:
        batch.add_column(sa.Column("relay_secret_encrypted", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("opt_out_scope", sa.String(16), nullable=False, server_default="account")
        )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("campaign", sa.String(100), nullable=True))
        batch.add_column(sa.Column("automation", sa.String(100), nullable=True))
        batch.create_index("ix_messages_campaign", ["campaign"])
        batch.create_index("ix_messages_automation", ["automation"])
    with op.batch_alter_table("message_events") as batch:
        batch.add_column(
            sa.Column("type", sa.String(40), nullable=False, server_default="message.unknown")
        )
        batch.add_column(sa.Column("contact_id", BIG_ID, nullable=True))
        batch.add_column(sa.Column("provider_id", BIG_ID, nullable=True))
        batch.add_column(sa.Column("sender_id", BIG_ID, nullable=True))
        batch.add_column(sa.Column("data", sa.JSON(), nullable=True))
        batch.alter_column("message_id", existing_type=BIG_ID, nullable=True)
        batch.alter_column("status", existing_type=sa.String(16), nullable=True)
        batch.create_index("ix_message_events_contact_id", ["contact_id"])
        batch.create_index("ix_message_events_type_id", ["type", "id"])
    # Existing history gets its types, and the "queued" entries that used to be
    # derived from created_at become rows like every new message's.
    op.execute(
        "UPDATE message_events SET type = CASE WHEN status = 'queued' "
        "THEN 'message.requeued' ELSE 'message.' || status END"
    )
    op.execute(
        "INSERT INTO message_events (message_id, type, status, source, created_at) "
        "SELECT id, 'message.queued', 'queued', 'api', created_at FROM messages"
    )
    with op.batch_alter_table("message_events") as batch:
        batch.alter_column("type", existing_type=sa.String(40), server_default=None)
    with op.batch_alter_table("providers") as batch:
        batch.alter_column("opt_out_scope", existing_type=sa.String(16), server_default=None)

    _rebuild_suppressions()
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("location", sa.JSON(), nullable=False, server_default="{}"))
        batch.create_index("ix_inbound_messages_provider_message_id", ["provider_message_id"])
    with op.batch_alter_table("inbound_messages") as batch:
        batch.alter_column("location", existing_type=sa.JSON(), server_default=None)

    op.create_table(
        "contacts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("phone"),
    )
    op.create_table(
        "keyword_rules",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("sender_id", BIG_ID, nullable=True),
        sa.Column("keyword", sa.String(50), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_id"], ["senders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("endpoint_id", BIG_ID, nullable=False),
        sa.Column("event_id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id"])
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )


def _rebuild_suppressions() -> None:
    """Scope by sender too. The old unique constraint has no portable name, so
    the table is rebuilt rather than altered."""
    op.create_table(
        "suppressions_scoped",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("sender_id", BIG_ID, nullable=True),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_id"], ["senders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_id", "sender_id", "phone", name="uq_suppressions_scope"),
    )
    op.execute(
        "INSERT INTO suppressions_scoped (provider_id, phone, reason, created_at) "
        "SELECT provider_id, phone, reason, created_at FROM suppressions ORDER BY id"
    )
    op.drop_table("suppressions")
    op.rename_table("suppressions_scoped", "suppressions")
    op.create_index("ix_suppressions_phone", "suppressions", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", "webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_endpoint_id", "webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_table("keyword_rules")
    op.drop_table("contacts")
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_index("ix_inbound_messages_provider_message_id")
        batch.drop_column("location")
    op.drop_index("ix_suppressions_phone", "suppressions")
    op.create_table(
        "suppressions_account",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_id", "phone"),
    )
    op.execute(
        "INSERT INTO suppressions_account (provider_id, phone, reason, created_at) "
        "SELECT provider_id, phone, MIN(reason), MIN(created_at) FROM suppressions "
        "GROUP BY provider_id, phone"
    )
    op.drop_table("suppressions")
    op.rename_table("suppressions_account", "suppressions")
    op.execute("DELETE FROM message_events WHERE message_id IS NULL OR type = 'message.replied'")
    op.execute("DELETE FROM message_events WHERE type = 'message.queued'")
    with op.batch_alter_table("message_events") as batch:
        batch.drop_index("ix_message_events_type_id")
        batch.drop_index("ix_message_events_contact_id")
        batch.alter_column("status", existing_type=sa.String(16), nullable=False)
        batch.alter_column("message_id", existing_type=BIG_ID, nullable=False)
        batch.drop_column("data")
        batch.drop_column("sender_id")
        batch.drop_column("provider_id")
        batch.drop_column("contact_id")
        batch.drop_column("type")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_automation")
        batch.drop_index("ix_messages_campaign")
        batch.drop_column("automation")
        batch.drop_column("campaign")
    with op.batch_alter_table("providers") as batch:
        batch.drop_column("opt_out_scope")
        batch.drop_column("relay_secret_encrypted")
