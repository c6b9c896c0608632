"""outbound sync with the billing system: events written with the money changes they
report, and their deliveries to each endpoint

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_sync_events_type", "sync_events", ["type"], unique=False)
    op.create_index("ix_sync_events_created_at", "sync_events", ["created_at"], unique=False)
    op.create_table(
        "sync_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["sync_events.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "endpoint"),
    )
    op.create_index(
        "ix_sync_deliveries_due", "sync_deliveries", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_sync_deliveries_order",
        "sync_deliveries",
        ["endpoint", "subject", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_sync_deliveries_order", table_name="sync_deliveries")
    op.drop_index("ix_sync_deliveries_due", table_name="sync_deliveries")
    op.drop_table("sync_deliveries")
    op.drop_index("ix_sync_events_created_at", table_name="sync_events")
    op.drop_index("ix_sync_events_type", table_name="sync_events")
    op.drop_table("sync_events")
