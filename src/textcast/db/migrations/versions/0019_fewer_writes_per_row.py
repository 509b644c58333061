"""fewer writes per row on the tables a campaign fills

Revision ID: 0019
Revises: 0018

A message's provider and sender, an event's message and a campaign
recipient's campaign were foreign keys: each row written ran a look-up of
its parent (``SELECT … FOR KEY SHARE`` on PostgreSQL). Measured on
PostgreSQL 15: 6.2 µs of a message's 15.7 µs insert, 3.4 µs of an event's
8.0 µs, and 3.4 µs of a campaign recipient's 9.2 µs in the one
``INSERT … SELECT`` that chooses a campaign's audience — the largest part of
what a million-recipient campaign asks of the database. They guarded
nothing the code can do: providers and senders are only ever soft-deleted
(``deleted_at``), messages are never deleted, and only a draft campaign,
which has no recipients, can be deleted. Dropped; the columns and their
indexes stay.

A message's idempotency key was unique over every message, most of which
have none: an index entry per message that no look-up reads. It becomes a
unique index of the messages that have a key (both databases use it for
``= key`` and for ``ON CONFLICT (idempotency_key) WHERE … IS NOT NULL``).

SQLite names none of its constraints: the batch rebuild finds them by the
names the naming convention below gives (alembic's recipe), with foreign-key
enforcement off during migrations (see env.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# (table, column, referred table, ON DELETE), as earlier migrations made them
KEYS = (
    ("messages", "provider_id", "providers", None),
    ("messages", "sender_id", "senders", None),
    ("message_events", "message_id", "messages", "CASCADE"),
    ("campaign_recipients", "campaign_id", "campaigns", "CASCADE"),
)
TABLES = ("messages", "message_events", "campaign_recipients")
# PostgreSQL's own names
NAMING = {
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "uq": "%(table_name)s_%(column_0_name)s_key",
}
KEY_INDEX = "uq_messages_idempotency_key"
HAS_KEY = sa.text("idempotency_key IS NOT NULL")


def _name(table: str, column: str) -> str:
    return f"{table}_{column}_fkey"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in TABLES:
        keys = [column for t, column, _, _ in KEYS if t == table]
        unique = ["messages_idempotency_key_key"] if table == "messages" else []
        if sqlite:
            with op.batch_alter_table(table, naming_convention=NAMING) as batch:
                for column in keys:
                    batch.drop_constraint(_name(table, column), type_="foreignkey")
                for name in unique:
                    batch.drop_constraint(name, type_="unique")
        else:
            for column in keys:
                op.drop_constraint(_name(table, column), table, type_="foreignkey")
            for name in unique:
                op.drop_constraint(name, table, type_="unique")
    op.create_index(
        KEY_INDEX,
        "messages",
        ["idempotency_key"],
        unique=True,
        sqlite_where=HAS_KEY,
        postgresql_where=HAS_KEY,
    )


def downgrade() -> None:
    op.drop_index(KEY_INDEX, table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.create_unique_constraint("messages_idempotency_key_key", ["idempotency_key"])
    for table, column, parent, on_delete in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                _name(table, column), parent, [column], ["id"], ondelete=on_delete
            )
