"""identity locks: who cleared one may be a console operator, "operator:<email>"

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_locks") as batch:
        batch.alter_column(
            "cleared_by", type_=sa.String(length=320), existing_type=sa.String(length=64)
        )


def downgrade() -> None:
    op.execute("UPDATE identity_locks SET cleared_by = substr(cleared_by, 1, 64)")
    with op.batch_alter_table("identity_locks") as batch:
        batch.alter_column(
            "cleared_by", type_=sa.String(length=64), existing_type=sa.String(length=320)
        )
