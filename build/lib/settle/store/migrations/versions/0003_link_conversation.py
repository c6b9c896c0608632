"""the conversation a payment link was made in (to tell it when the payment arrives)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("channel", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.drop_column("channel")
        batch_op.drop_column("conversation_id")
