"""senders.keyword_responses: whether Textcast answers keywords for a sender

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing sender keeps answering keywords, as it did.
    with op.batch_alter_table("senders") as batch:
        batch.add_column(
            sa.Column("keyword_responses", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("senders") as batch:
        batch.alter_column("keyword_responses", existing_type=sa.Boolean(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("senders") as batch:
        batch.drop_column("keyword_responses")
