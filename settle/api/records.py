"""Tables of the billing-system API (migration 0014). Times are aware UTC."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, String, UniqueConstraint

from settle.store.models import Base, UTCDateTime, utcnow


class ApiKey(Base):
    """A key a billing system calls /api/v1 with. Only the SHA-256 of the key is kept: keys
    are 32 random bytes, so a plain hash is as good as a slow one and lets a request find
    its key by one indexed look-up."""

    __tablename__ = "api_keys"

    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    key_hash = Column(String(64), nullable=False, unique=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    revoked_at = Column(UTCDateTime())


class ApiIdempotency(Base):
    """The answer to a write sent with an Idempotency-Key, kept for a day: the same key
    from the same caller gets the same answer, whatever happened since."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    id = Column(Integer, primary_key=True)
    owner = Column(String(80), nullable=False)  # the key's actor: "api:<name>" or "api:env"
    key = Column(String(255), nullable=False)
    body_sha256 = Column(String(64), nullable=False)
    status = Column(Integer, nullable=False)
    response = Column(JSON, nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
