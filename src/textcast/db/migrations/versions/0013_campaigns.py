"""campaigns: the campaign object, its materialised recipients, and the
campaign, variant and category of each message

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sender_id", BIG_ID, nullable=True),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("template_id", BIG_ID, nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("control_percent", sa.Integer(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("click_tracking", sa.Boolean(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("send_at", AT, nullable=True),
        sa.Column("local_time", sa.String(5), nullable=True),
        sa.Column("missed_local_time", sa.String(8), nullable=False),
        sa.Column("throttle_per_minute", sa.Integer(), nullable=True),
        sa.Column("expires_at", AT, nullable=True),
        sa.Column("max_failure_rate", sa.Float(), nullable=True),
        sa.Column("quiet_hours", sa.JSON(), nullable=True),
        sa.Column("frequency_caps", sa.JSON(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.Column("launched_at", AT, nullable=True),
        sa.Column("completed_at", AT, nullable=True),
        sa.Column("targeted", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("queued", sa.BigInteger(), nullable=False),
        sa.Column("materialised_at", AT, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", AT, nullable=True),
        sa.Column("next_batch_at", AT, nullable=True),
        sa.Column("failures_counted_after", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["sender_id"], ["senders.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_table(
        "campaign_recipients",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("campaign_id", BIG_ID, nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("variant", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("message_id", BIG_ID, nullable=True),
        sa.Column("due_at", AT, nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "contact_id", name="uq_campaign_recipients_contact"),
    )
    op.create_index(
        "ix_campaign_recipients_due", "campaign_recipients", ["campaign_id", "status", "due_at"]
    )
    op.create_index(
        "ix_campaign_recipients_reason", "campaign_recipients", ["campaign_id", "reason"]
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("campaign_id", BIG_ID, nullable=True))
        batch.add_column(sa.Column("variant", sa.String(32), nullable=True))
        batch.add_column(sa.Column("category", sa.String(16), nullable=True))
        batch.create_index("ix_messages_campaign_id_status", ["campaign_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_campaign_id_status")
        batch.drop_column("category")
        batch.drop_column("variant")
        batch.drop_column("campaign_id")
    op.drop_index("ix_campaign_recipients_reason", table_name="campaign_recipients")
    op.drop_index("ix_campaign_recipients_due", table_name="campaign_recipients")
    op.drop_table("campaign_recipients")
    op.drop_index("ix_campaigns_status", table_name="campaigns")
    op.drop_table("campaigns")
