"""campaign stats: each counted row marked, so a background roll-up keeps
the counts in commit order instead of up to a time margin

Revision ID: 0017
Revises: 0016

The counts kept so far went up to a cut-off ten minutes back; they are
dropped, and the roll-up counts every campaign's rows again in its first
passes (the stats stay exact meanwhile, reading what is not yet counted from
the rows). The (campaign, time) indexes that found rows past the cut-off go:
partial indexes on the rows not yet counted take their place.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ANSWER_EVENTS = ("contact.opted_out", "message.replied")
MARKED = ("messages", "link_clicks", "message_events")


def _where(condition: sa.ColumnElement[bool]) -> dict[str, Any]:
    # Written as the models write them: each database uses a partial index
    # only for queries that repeat its condition.
    return {"sqlite_where": condition, "postgresql_where": condition}


def _not_rolled_up() -> sa.ColumnElement[bool]:
    return sa.column("rolled_up", sa.Boolean()) == sa.false()


def upgrade() -> None:
    for table in MARKED:
        op.add_column(
            table,
            sa.Column("rolled_up", sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    op.drop_index("ix_messages_campaign_id_final_at", table_name="messages")
    op.drop_index("ix_link_clicks_campaign_clicked_at", table_name="link_clicks")
    op.create_index(
        "ix_messages_to_roll_up",
        "messages",
        ["campaign_id"],
        **_where(
            _not_rolled_up()
            & sa.column("final_at").is_not(None)
            & sa.column("campaign_id").is_not(None)
        ),
    )
    op.create_index(
        "ix_link_clicks_to_roll_up", "link_clicks", ["campaign"], **_where(_not_rolled_up())
    )
    op.create_index(
        "ix_message_events_to_roll_up",
        "message_events",
        ["message_id"],
        postgresql_where=_not_rolled_up() & sa.column("type", sa.String()).in_(ANSWER_EVENTS),
        # SQLite's queries write "+type", which keeps it off ix_message_events_type_id.
        sqlite_where=sa.text("rolled_up = 0 AND +type IN ('contact.opted_out', 'message.replied')"),
    )
    op.execute("DELETE FROM campaign_stat_rollups")
    op.execute("DELETE FROM campaign_stat_progress")
    for name in ("kept", "appended"):
        op.add_column(
            "campaign_stat_progress",
            sa.Column(name, sa.Integer(), nullable=False, server_default="0"),
        )


def downgrade() -> None:
    # 0014's roll-up starts again from nothing.
    op.execute("DELETE FROM campaign_stat_rollups")
    op.execute("DELETE FROM campaign_stat_progress")
    with op.batch_alter_table("campaign_stat_progress") as batch:
        batch.drop_column("appended")
        batch.drop_column("kept")
    op.drop_index("ix_message_events_to_roll_up", table_name="message_events")
    op.drop_index("ix_link_clicks_to_roll_up", table_name="link_clicks")
    op.drop_index("ix_messages_to_roll_up", table_name="messages")
    op.create_index("ix_link_clicks_campaign_clicked_at", "link_clicks", ["campaign", "clicked_at"])
    op.create_index("ix_messages_campaign_id_final_at", "messages", ["campaign_id", "final_at"])
    for table in MARKED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("rolled_up")
