"""the audit log by action and subject: the work queue looks up each item's decision there
instead of reading every decision ever made

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_action_subject", "audit_log", ["action", "subject"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_action_subject", table_name="audit_log")
