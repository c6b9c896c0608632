"""Tables of the outbound sync (migration 0015). Times are aware UTC."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from settle.store.models import Base, UTCDateTime, utcnow


class SyncEvent(Base):
    """One event for the billing system, written with the change it reports."""

    __tablename__ = "sync_events"

    id = Column(Integer, primary_key=True)  # the order events happened in
    event_id = Column(String(40), nullable=False, unique=True)  # "evt_…", sent as "id"
    type = Column(String(40), nullable=False, index=True)  # e.g. "payment.succeeded"
    # What orders it: "invoice:INV-1001" (a customer's opt-out: "phone:+1…").
    subject = Column(String(320), nullable=False)
    data = Column(JSON, nullable=False, default=dict)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)


class SyncDelivery(Base):
    """An event on its way to one endpoint: pending (due at next_attempt_at), sending
    (claimed until next_attempt_at: taken up again after a crash), delivered or failed."""

    __tablename__ = "sync_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint"),
        Index("ix_sync_deliveries_due", "status", "next_attempt_at"),
        Index("ix_sync_deliveries_order", "endpoint", "subject", "status"),
    )

    id = Column(Integer, primary_key=True)
    event_id = Column(Integer, ForeignKey("sync_events.id"), nullable=False)
    endpoint = Column(String(1000), nullable=False)
    subject = Column(String(320), nullable=False)  # the event's, for ordering per endpoint
    status = Column(String(16), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    last_error = Column(Text)
    # When it was queued (again, by `settle sync replay`): it is given up 3 days after.
    queued_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    delivered_at = Column(UTCDateTime())

    event = relationship(SyncEvent)
