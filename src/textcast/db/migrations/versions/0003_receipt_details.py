"""delivery time from receipts; Twilio idempotency tokens on webhook receipts

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("webhook_receipts") as batch:
        batch.add_column(sa.Column("idempotency_token", sa.String(length=100), nullable=True))
        batch.create_index("ix_webhook_receipts_idempotency_token", ["idempotency_token"])


def downgrade() -> None:
    with op.batch_alter_table("webhook_receipts") as batch:
        batch.drop_index("ix_webhook_receipts_idempotency_token")
        batch.drop_column("idempotency_token")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("delivered_at")
