"""tracked short links and their clicks

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "short_links",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("message_id", BIG_ID, nullable=True),
        sa.Column("contact_id", BIG_ID, nullable=True),
        sa.Column("campaign", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_short_links_message_id", "short_links", ["message_id"])
    op.create_table(
        "link_clicks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("message_id", BIG_ID, nullable=True),
        sa.Column("contact_id", BIG_ID, nullable=True),
        sa.Column("campaign", sa.String(100), nullable=True),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("bot_reason", sa.String(40), nullable=True),
        sa.Column("first", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["short_links.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_link_clicks_link_id", "link_clicks", ["link_id"])
    op.create_index("ix_link_clicks_message_id", "link_clicks", ["message_id"])
    op.create_index("ix_link_clicks_contact_id", "link_clicks", ["contact_id"])
    op.create_index("ix_link_clicks_campaign", "link_clicks", ["campaign", "is_bot"])


def downgrade() -> None:
    op.drop_table("link_clicks")
    op.drop_table("short_links")
