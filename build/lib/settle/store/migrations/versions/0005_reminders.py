"""reminders: one claim per (invoice, step), asked-for reminders, call attempts, phone
conversations; longer message and opt-out addresses (e-mail)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("channels", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invoice_id", "step", name="uq_reminder_claims_invoice_step"),
    )
    op.create_index(
        "ix_reminder_claims_customer_finished", "reminder_claims", ["customer_id", "finished_at"]
    )
    op.create_index("ix_reminder_claims_status", "reminder_claims", ["status"])

    op.create_table(
        "requested_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_key", name="uq_requested_reminders_request_key"),
    )
    op.create_index(
        "ix_requested_reminders_status_send_at", "requested_reminders", ["status", "send_at"]
    )

    op.create_table(
        "call_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_call_attempts_invoice_at", "call_attempts", ["invoice_id", "at"])
    op.create_index("ix_call_attempts_call_sid", "call_attempts", ["call_sid"])

    op.create_table(
        "phone_conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_phone_conversations_customer_at", "phone_conversations", ["customer_id", "at"]
    )

    # E-mail goes through the same outbox and opt-out list as texts; addresses are longer.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column(
            "to",
            existing_type=sa.String(length=20),
            type_=sa.String(length=254),
            existing_nullable=False,
        )
    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.alter_column(
            "phone",
            existing_type=sa.String(length=20),
            type_=sa.String(length=254),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.alter_column(
            "phone",
            existing_type=sa.String(length=254),
            type_=sa.String(length=20),
            existing_nullable=False,
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column(
            "to",
            existing_type=sa.String(length=254),
            type_=sa.String(length=20),
            existing_nullable=False,
        )
    op.drop_index("ix_phone_conversations_customer_at", table_name="phone_conversations")
    op.drop_table("phone_conversations")
    op.drop_index("ix_call_attempts_call_sid", table_name="call_attempts")
    op.drop_index("ix_call_attempts_invoice_at", table_name="call_attempts")
    op.drop_table("call_attempts")
    op.drop_index("ix_requested_reminders_status_send_at", table_name="requested_reminders")
    op.drop_table("requested_reminders")
    op.drop_index("ix_reminder_claims_status", table_name="reminder_claims")
    op.drop_index("ix_reminder_claims_customer_finished", table_name="reminder_claims")
    op.drop_table("reminder_claims")
