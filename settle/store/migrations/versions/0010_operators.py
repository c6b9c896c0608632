"""operator console: operator accounts and their sessions; audit actors and subjects long
enough for "operator:<email>"

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'agent')", name="ck_operators_role"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        "ix_operator_sessions_operator_id", "operator_sessions", ["operator_id"], unique=False
    )
    # An e-mail address is up to 254 characters; PostgreSQL refuses a longer value outright.
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("actor", type_=sa.String(length=320), existing_type=sa.String(length=64))
        batch.alter_column(
            "subject", type_=sa.String(length=320), existing_type=sa.String(length=128)
        )


def downgrade() -> None:
    op.execute(
        "UPDATE audit_log SET actor = substr(actor, 1, 64), subject = substr(subject, 1, 128)"
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("actor", type_=sa.String(length=64), existing_type=sa.String(length=320))
        batch.alter_column(
            "subject", type_=sa.String(length=128), existing_type=sa.String(length=320)
        )
    op.drop_index("ix_operator_sessions_operator_id", table_name="operator_sessions")
    op.drop_table("operator_sessions")
    op.drop_table("operators")
