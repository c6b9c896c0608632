"""Tables of the operator console (migration 0010). Times are aware UTC."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String

from settle.store.models import Base, UTCDateTime, utcnow

ROLES = ("admin", "agent")


class Operator(Base):
    """Someone of the business who signs in to /console. Accounts are deactivated, never
    deleted: the audit log names them."""

    __tablename__ = "operators"
    __table_args__ = (CheckConstraint("role IN ('admin', 'agent')", name="ck_operators_role"),)

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)  # lowercased
    password_hash = Column(String(255), nullable=False)  # Argon2id, encoded with its parameters
    role = Column(String(8), nullable=False)
    # Set with every one-time password (new account, reset): changed at the next sign-in.
    must_change_password = Column(Boolean, nullable=False, default=True)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    last_sign_in_at = Column(UTCDateTime())
    # Wrong passwords since the last sign-in or lock; at the limit the account locks a while.
    failed_attempts = Column(Integer, nullable=False, default=0)
    locked_until = Column(UTCDateTime())


class OperatorSession(Base):
    """A signed-in browser. The cookie holds the token; only its SHA-256 is kept here, so a
    copy of the database signs nobody in."""

    __tablename__ = "operator_sessions"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    operator_id = Column(
        Integer, ForeignKey("operators.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # Every form of this session carries it; a POST without it is refused.
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime(), nullable=False)  # the absolute limit
    last_seen_at = Column(UTCDateTime(), nullable=False, default=utcnow)  # the idle limit
