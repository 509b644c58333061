"""campaign stats: the recipients without a message, read from an index alone

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The stats count skipped, control and pending recipients by variant and
    # reason; queued ones, most of a campaign, are counted by their messages.
    op.create_index(
        "ix_campaign_recipients_stats",
        "campaign_recipients",
        ["campaign_id", "status", "variant", "reason"],
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_recipients_stats", table_name="campaign_recipients")
