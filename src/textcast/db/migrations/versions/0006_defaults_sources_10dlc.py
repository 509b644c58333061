"""a default sender per provider plus a default provider, suppression sources,
the opt-out tag per provider, A2P 10DLC registration of senders

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

providers = sa.table(
    "providers",
    sa.column("id", sa.Integer),
    sa.column("is_default", sa.Boolean),
    sa.column("deleted_at", sa.DateTime),
)
senders = sa.table(
    "senders",
    sa.column("id", sa.Integer),
    sa.column("provider_id", sa.Integer),
    sa.column("is_default", sa.Boolean),
    sa.column("deleted_at", sa.DateTime),
)


def upgrade() -> None:
    with op.batch_alter_table("providers") as batch:
        # Existing providers keep the tag their contacts already carry, so START
        # still removes it; new Twilio providers get Twilio's own tag.
        batch.add_column(
            sa.Column("opt_out_tag", sa.String(50), nullable=False, server_default="opted-out")
        )
        batch.add_column(
            sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("senders") as batch:
        batch.add_column(sa.Column("a2p_10dlc_campaign_id", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("a2p_10dlc_registered_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("suppressions") as batch:
        batch.add_column(
            sa.Column("source", sa.String(16), nullable=False, server_default="operator")
        )
        batch.add_column(sa.Column("source_detail", sa.String(100), nullable=True))
    _backfill_sources()
    _backfill_defaults()
    with op.batch_alter_table("providers") as batch:
        batch.alter_column("opt_out_tag", existing_type=sa.String(50), server_default=None)
        batch.alter_column("is_default", existing_type=sa.Boolean(), server_default=None)
    with op.batch_alter_table("suppressions") as batch:
        batch.alter_column("source", existing_type=sa.String(16), server_default=None)


def _backfill_sources() -> None:
    """Until now the reason text was the only record: "replied STOP" came from a
    reply, "provider error 21610" from a send, anything else from an operator
    (through the API or the CLI; which one was not kept)."""
    op.execute(
        "UPDATE suppressions SET source = 'reply', source_detail = substr(reason, 9) "
        "WHERE reason LIKE 'replied %'"
    )
    op.execute(
        "UPDATE suppressions SET source = 'provider_error', source_detail = substr(reason, 16) "
        "WHERE reason LIKE 'provider error %'"
    )


def _backfill_defaults() -> None:
    """The one default sender so far becomes its provider's default and makes
    that provider the installation's; every other provider's oldest live
    sender becomes its own default."""
    bind = op.get_bind()
    live = bind.execute(
        sa.select(senders.c.id, senders.c.provider_id, senders.c.is_default)
        .where(senders.c.deleted_at.is_(None))
        .order_by(senders.c.id)
    ).all()
    default_provider = next((row.provider_id for row in live if row.is_default), None)
    if default_provider is None and live:
        default_provider = live[0].provider_id
    with_default = {row.provider_id for row in live if row.is_default}
    for row in live:
        if row.provider_id not in with_default:
            with_default.add(row.provider_id)
            bind.execute(
                sa.update(senders).where(senders.c.id == row.id).values(is_default=sa.true())
            )
    if default_provider is not None:
        bind.execute(
            sa.update(providers)
            .where(providers.c.id == default_provider)
            .values(is_default=sa.true())
        )


def downgrade() -> None:
    # Back to one default sender: the default provider's.
    bind = op.get_bind()
    default_provider = bind.scalar(
        sa.select(providers.c.id).where(providers.c.is_default.is_(sa.true())).limit(1)
    )
    bind.execute(
        sa.update(senders)
        .where(senders.c.provider_id != (default_provider or 0))
        .values(is_default=sa.false())
    )
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_column("source_detail")
        batch.drop_column("source")
    with op.batch_alter_table("senders") as batch:
        batch.drop_column("a2p_10dlc_registered_at")
        batch.drop_column("a2p_10dlc_campaign_id")
    with op.batch_alter_table("providers") as batch:
        batch.drop_column("is_default")
        batch.drop_column("opt_out_tag")
