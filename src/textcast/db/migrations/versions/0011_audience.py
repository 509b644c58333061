"""audience: contact attributes, external IDs, time zones, countries and number
types; saved segments; contact import jobs; the indexes segment conditions use

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
_CONTACT_COLUMNS = {
    "external_id": sa.String(200),
    "time_zone": sa.String(64),
    "time_zone_source": sa.String(16),
    "country": sa.String(3),
    "phone_type": sa.String(24),
}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("external_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("attributes", JSON_DOC, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column(
                "time_zone_source",
                sa.String(16),
                nullable=False,
                server_default="install_default",
            )
        )
        batch.add_column(sa.Column("country", sa.String(3), nullable=False, server_default="ZZ"))
        batch.add_column(
            sa.Column("phone_type", sa.String(24), nullable=False, server_default="invalid")
        )
        batch.create_unique_constraint("uq_contacts_external_id", ["external_id"])
        batch.create_index("ix_contacts_country", ["country"])
        batch.create_index("ix_contacts_created_at", ["created_at"])
        batch.create_index("ix_contacts_last_inbound_at", ["last_inbound_at"])
    _derive_number_facts()
    with op.batch_alter_table("contacts") as batch:
        for name in ("attributes", "time_zone_source", "country", "phone_type"):
            batch.alter_column(name, server_default=None)
    if postgresql:
        op.execute("ALTER TABLE contacts ALTER COLUMN tags TYPE jsonb USING tags::jsonb")
        # jsonb_ops (the default class) serves both containment (@>: eq, in,
        # has tag) and key tests (?: exists); jsonb_path_ops would serve only @>.
        op.create_index(
            "ix_contacts_attributes", "contacts", ["attributes"], postgresql_using="gin"
        )
        op.create_index("ix_contacts_tags", "contacts", ["tags"], postgresql_using="gin")

    op.create_index("ix_messages_to", "messages", ["to", "created_at"])
    op.create_index(
        "ix_inbound_messages_from_number", "inbound_messages", ["from_number", "received_at"]
    )
    op.create_table(
        "segments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "contact_imports",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("delete_file", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("done_bytes", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("unchanged", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contact_imports_status", "contact_imports", ["status"])


def _derive_number_facts() -> None:
    """Country, number type and time zone of the contacts that exist, from
    their numbers (the same derivation new contacts get)."""
    from textcast.audience import numbers

    connection = op.get_bind()
    contacts = sa.table(
        "contacts", sa.column("id", BIG_ID), sa.column("phone"), *map(sa.column, _CONTACT_COLUMNS)
    )
    update = (
        contacts.update()
        .where(contacts.c.id == sa.bindparam("contact_id"))
        .values(
            country=sa.bindparam("country"),
            phone_type=sa.bindparam("phone_type"),
            time_zone=sa.bindparam("time_zone"),
            time_zone_source=sa.bindparam("time_zone_source"),
        )
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.select(contacts.c.id, contacts.c.phone)
            .where(contacts.c.id > after)
            .order_by(contacts.c.id)
            .limit(5000)
        ).all()
        if not rows:
            return
        values = []
        for row in rows:
            facts = numbers.of_stored(row.phone)
            values.append(
                {
                    "contact_id": row.id,
                    "country": facts.country,
                    "phone_type": facts.phone_type,
                    "time_zone": facts.time_zone,
                    "time_zone_source": facts.time_zone_source,
                }
            )
        connection.execute(update, values)
        after = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_contact_imports_status", table_name="contact_imports")
    op.drop_table("contact_imports")
    op.drop_table("segments")
    op.drop_index("ix_inbound_messages_from_number", table_name="inbound_messages")
    op.drop_index("ix_messages_to", table_name="messages")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_contacts_tags", table_name="contacts")
        op.drop_index("ix_contacts_attributes", table_name="contacts")
        op.execute("ALTER TABLE contacts ALTER COLUMN tags TYPE json USING tags::json")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index("ix_contacts_last_inbound_at")
        batch.drop_index("ix_contacts_created_at")
        batch.drop_index("ix_contacts_country")
        batch.drop_constraint("uq_contacts_external_id", type_="unique")
        for name in ("phone_type", "country", "time_zone_source", "time_zone", "attributes"):
            batch.drop_column(name)
        batch.drop_column("external_id")
