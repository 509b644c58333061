"""campaign stats: indexes for the counts, and the roll-up of settled messages

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Skipped, control and pending recipients by variant and reason, from the
    # index alone; queued ones, most of a campaign, are counted by their messages.
    op.create_index(
        "ix_campaign_recipients_stats",
        "campaign_recipients",
        ["campaign_id", "status", "variant", "reason"],
    )
    # What settled, and what was clicked, since the last roll-up.
    op.create_index("ix_messages_campaign_id_final_at", "messages", ["campaign_id", "final_at"])
    op.create_index("ix_link_clicks_campaign_clicked_at", "link_clicks", ["campaign", "clicked_at"])
    op.create_table(
        "campaign_stat_rollups",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("campaign_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("variant", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("provider_id", BIG_ID, nullable=True),
        sa.Column("sent_minute", AT, nullable=True),
        sa.Column("settled_minute", AT, nullable=True),
        sa.Column("first", sa.Boolean(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("segments", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaign_stat_rollups_campaign", "campaign_stat_rollups", ["campaign_id"])
    op.create_table(
        "campaign_stat_progress",
        sa.Column("campaign_id", BIG_ID, nullable=False),
        sa.Column("rolled_until", AT, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id"),
    )


def downgrade() -> None:
    op.drop_table("campaign_stat_progress")
    op.drop_index("ix_campaign_stat_rollups_campaign", table_name="campaign_stat_rollups")
    op.drop_table("campaign_stat_rollups")
    op.drop_index("ix_link_clicks_campaign_clicked_at", table_name="link_clicks")
    op.drop_index("ix_messages_campaign_id_final_at", table_name="messages")
    op.drop_index("ix_campaign_recipients_stats", table_name="campaign_recipients")
