"""messages: the template version a text was rendered from, and the Twilio
Content variables sent with an HX… template ID

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("template_version_id", BIG_ID, nullable=True))
        batch.add_column(sa.Column("content_variables", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("content_variables")
        batch.drop_column("template_version_id")
