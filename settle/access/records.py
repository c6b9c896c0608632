"""Tables of the trust boundary (migration 0006). Times are aware UTC."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String

from settle.store.models import Base, UTCDateTime, utcnow


class IdentityMiss(Base):
    """One failed invoice-and-postal-code check, counted once per scope it touches."""

    __tablename__ = "identity_misses"
    __table_args__ = (Index("ix_identity_misses_scope_key_at", "scope", "key", "at"),)

    id = Column(Integer, primary_key=True)
    scope = Column(String(24), nullable=False)  # conversation | invoice | customer | client_address
    key = Column(String(128), nullable=False)
    at = Column(UTCDateTime(), nullable=False, default=utcnow)


class IdentityLock(Base):
    """Too many misses: the knowledge check is closed for `key` until `until` (or a person
    clears it with `settle locks clear`)."""

    __tablename__ = "identity_locks"
    __table_args__ = (Index("ix_identity_locks_scope_key_until", "scope", "key", "until"),)

    id = Column(Integer, primary_key=True)
    scope = Column(String(24), nullable=False)
    key = Column(String(128), nullable=False)
    misses = Column(Integer, nullable=False)
    locked_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    until = Column(UTCDateTime(), nullable=False)
    cleared_at = Column(UTCDateTime())
    cleared_by = Column(String(320))  # "operator:<email>"


class WebhookReceipt(Base):
    """A provider request already taken (a MessageSid, a call's first request, a status
    callback): its replay is refused."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (Index("ix_webhook_receipts_received_at", "received_at"),)

    key = Column(String(255), primary_key=True)
    received_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class CallNonce(Base):
    """The one-time token in a <Gather>, <Redirect>, <Pay> or <Dial> URL we gave Twilio.

    It carries what the call's first (signed, unreplayable) request proved, so every later
    turn of the call is believed exactly as far as that request was, and only once.
    """

    __tablename__ = "call_nonces"
    __table_args__ = (Index("ix_call_nonces_issued_at", "issued_at"),)

    nonce = Column(String(64), primary_key=True)
    call_sid = Column(String(64), nullable=False)
    phone = Column(String(20), nullable=False)
    attested = Column(Boolean, nullable=False, default=False)
    outbound = Column(Boolean, nullable=False, default=False)
    issued_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    used_at = Column(UTCDateTime())
