"""installation defaults: region, quiet hours and caps changed at run time

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    # One row (id 1), written on the first change; NULL columns fall back to
    # the environment's settings.
    op.create_table(
        "installation_defaults",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("default_region", sa.String(2), nullable=True),
        sa.Column("quiet_hours", sa.String(32), nullable=True),
        sa.Column("quiet_hours_inside", sa.String(8), nullable=True),
        sa.Column("frequency_caps", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", AT, nullable=True),
        sa.Column("updated_by", sa.String(150), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_installation_defaults_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("installation_defaults")
