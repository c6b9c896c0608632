"""a payment may be refunded more than once (partial refunds made outside Settle); Settle's
own refund of a payment stays one, by its idempotency key

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# SQLite's copy of the table is rebuilt in batch mode; the unnamed constraint gets this name.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_payment_id() -> str:
    """The constraint's name: PostgreSQL's own for it, or the batch copy's on SQLite."""
    if op.get_context().dialect.name == "postgresql":
        return "refunds_payment_id_key"
    return "uq_refunds_payment_id"


def upgrade() -> None:
    with op.batch_alter_table("refunds", naming_convention=NAMING) as batch:
        batch.drop_constraint(_unique_payment_id(), type_="unique")
        batch.create_index("ix_refunds_payment_id", ["payment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds", naming_convention=NAMING) as batch:
        batch.drop_index("ix_refunds_payment_id")
        batch.create_unique_constraint(_unique_payment_id(), ["payment_id"])
