"""partial indexes on columns that are empty when their row is written

Revision ID: 0018
Revises: 0017

A message's provider ID and automation, a message event's contact and a
pending campaign recipient's skip reason are empty when the row is written,
and no look-up ever asks for an empty one; their full indexes took an entry
per row all the same (four per campaign recipient fanned out). Each becomes
an index of the rows where the column is set.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# (index, table, columns, the column that must be set)
INDEXES = (
    ("ix_messages_provider_message_id", "messages", ["provider_message_id"], "provider_message_id"),
    ("ix_messages_automation", "messages", ["automation"], "automation"),
    ("ix_message_events_contact_id", "message_events", ["contact_id"], "contact_id"),
    (
        "ix_campaign_recipients_reason",
        "campaign_recipients",
        ["campaign_id", "reason"],
        "reason",
    ),
)


def upgrade() -> None:
    for name, table, columns, column in INDEXES:
        op.drop_index(name, table_name=table)
        condition = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, table, columns, sqlite_where=condition, postgresql_where=condition)


def downgrade() -> None:
    for name, table, columns, _ in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
