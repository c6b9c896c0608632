"""Reminder tables (migration 0005). Times are aware UTC."""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint

from settle.store.models import Base, UTCDateTime, utcnow


class ReminderClaim(Base):
    """One (invoice, step) of the sequence, claimed by one worker, then sent or skipped.

    The unique constraint is the "exactly once": a second worker (or a second pass after a
    crash) cannot claim the same step again; a claim whose worker died is taken over only
    after its lease, and sending is recorded in the same transaction as the message.
    """

    __tablename__ = "reminder_claims"
    __table_args__ = (
        UniqueConstraint("invoice_id", "step", name="uq_reminder_claims_invoice_step"),
        Index("ix_reminder_claims_customer_finished", "customer_id", "finished_at"),
        Index("ix_reminder_claims_status", "status"),
    )

    id = Column(Integer, primary_key=True)
    invoice_id = Column(String(64), ForeignKey("invoices.id"), nullable=False)
    step = Column(String(32), nullable=False)  # "-3", "0", "+7"
    customer_id = Column(String(64), ForeignKey("customers.id"), nullable=False)
    channels = Column(String(64), nullable=False)  # "sms,email": what was (to be) sent
    # claimed | sent | skipped | calling (a call is being placed) | failed
    status = Column(String(16), nullable=False, default="claimed")
    reason = Column(Text)
    worker = Column(String(64))
    lease_until = Column(UTCDateTime())
    due_at = Column(UTCDateTime(), nullable=False)
    message_key = Column(String(255))
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at = Column(UTCDateTime())


class RequestedReminder(Base):
    """A reminder the customer asked for ("text me on Friday"), sent once at send_at."""

    __tablename__ = "requested_reminders"
    __table_args__ = (
        UniqueConstraint("request_key", name="uq_requested_reminders_request_key"),
        Index("ix_requested_reminders_status_send_at", "status", "send_at"),
    )

    id = Column(Integer, primary_key=True)
    request_key = Column(String(255), nullable=False)
    customer_id = Column(String(64), ForeignKey("customers.id"), nullable=False)
    invoice_id = Column(String(64), ForeignKey("invoices.id"))
    on_date = Column(Date, nullable=False)
    channel = Column(String(16), nullable=False)
    send_at = Column(UTCDateTime(), nullable=False)
    status = Column(
        String(16), nullable=False, default="scheduled"
    )  # scheduled|sent|cancelled|failed
    reason = Column(Text)
    actor = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at = Column(UTCDateTime())


class CallAttempt(Base):
    """Every outbound call placed, for the cap of call attempts per invoice."""

    __tablename__ = "call_attempts"
    __table_args__ = (Index("ix_call_attempts_invoice_at", "invoice_id", "at"),)

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(64), ForeignKey("customers.id"), nullable=False)
    invoice_id = Column(String(64))
    call_sid = Column(String(64), index=True)
    reason = Column(String(32), nullable=False)
    status = Column(String(32))  # Twilio's call status when it reports one
    at = Column(UTCDateTime(), nullable=False, default=utcnow)


class PhoneConversation(Base):
    """A phone conversation with the customer about an invoice: no reminder calls for a while."""

    __tablename__ = "phone_conversations"
    __table_args__ = (Index("ix_phone_conversations_customer_at", "customer_id", "at"),)

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(64), ForeignKey("customers.id"), nullable=False)
    invoice_id = Column(String(64))
    at = Column(UTCDateTime(), nullable=False, default=utcnow)
