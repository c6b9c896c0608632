"""Billing tables. Money is integer minor units; times are UTC; phones are E.164."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import registry, relationship
from sqlalchemy.orm.decl_api import DeclarativeMeta
from sqlalchemy.types import TypeDecorator

from settle.core.clock import utcnow

__all__ = ["utcnow"]  # re-exported: the store's timestamps and its callers share one clock

_registry = registry()


class Base(metaclass=DeclarativeMeta):
    """The declarative base, spelled out (SQLAlchemy 1.4's documented form) so type checkers
    see a class rather than declarative_base()'s return value."""

    __abstract__ = True
    registry = _registry
    metadata = _registry.metadata
    __init__ = _registry.constructor


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out; SQLite forgets the zone, so it is put back on reading."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Settle stores aware UTC times only")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Customer(Base):
    __tablename__ = "customers"

    id = Column(String(64), primary_key=True)
    name = Column(String(200), nullable=False)
    phone = Column(String(20), nullable=False, index=True)
    email = Column(String(254))
    postal_code = Column(String(20), nullable=False)
    language = Column(String(8), nullable=False, default="en")
    timezone = Column(String(64), nullable=False, default="America/New_York")
    # The Stripe Customer that holds this customer's saved card (payment plans).
    stripe_customer_id = Column(String(255))
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)

    invoices = relationship("Invoice", back_populates="customer")


class Invoice(Base):
    __tablename__ = "invoices"

    id = Column(String(64), primary_key=True)
    customer_id = Column(String(64), ForeignKey("customers.id"), nullable=False, index=True)
    amount_minor = Column(Integer, nullable=False)
    amount_paid_minor = Column(Integer, nullable=False, default=0)
    currency = Column(String(3), nullable=False)
    issued_on = Column(Date, nullable=False)
    due_on = Column(Date, nullable=False)
    status = Column(String(16), nullable=False, default="open")  # open | paid | void
    description = Column(Text, nullable=False, default="")
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)

    customer = relationship("Customer", back_populates="invoices")
    payments = relationship("Payment", back_populates="invoice", order_by="Payment.id")

    @property
    def balance_minor(self) -> int:
        return max(self.amount_minor - self.amount_paid_minor, 0)

    @property
    def overpaid_minor(self) -> int:
        """Paid beyond the amount: never hidden (shown with the invoice, flagged on the payment)."""
        return max(self.amount_paid_minor - self.amount_minor, 0)


class PaymentLink(Base):
    """A hosted checkout page (Stripe Checkout Session or sandbox) for one invoice."""

    __tablename__ = "payment_links"

    id = Column(Integer, primary_key=True)
    invoice_id = Column(String(64), ForeignKey("invoices.id"), nullable=False, index=True)
    provider = Column(String(16), nullable=False)  # stripe | sandbox
    session_id = Column(String(255), nullable=False, unique=True)
    url = Column(Text, nullable=False)
    amount_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    status = Column(String(16), nullable=False, default="open")  # open | paid | expired
    expires_at = Column(UTCDateTime(), nullable=False)
    # Where the customer asked for it, so that conversation hears when it is paid.
    conversation_id = Column(String(255))
    channel = Column(String(32))
    # Set when the page pays one installment of a plan by hand (after its charge failed).
    # No foreign key: adding one would make SQLite rebuild this table under existing rows.
    installment_id = Column(Integer)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class Payment(Base):
    __tablename__ = "payments"

    id = Column(Integer, primary_key=True)
    invoice_id = Column(String(64), ForeignKey("invoices.id"), nullable=False, index=True)
    amount_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    provider = Column(String(16), nullable=False)
    # The provider's id of the money movement (payment intent): one payment per movement.
    provider_ref = Column(String(255), nullable=False, unique=True)
    payment_link_id = Column(Integer, ForeignKey("payment_links.id"))
    # Recorded, and for staff to look at: "stale_link" (paid on a link made for another
    # balance, or no longer open), "overpaid" (more than the balance).
    flag = Column(String(32))
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)

    invoice = relationship("Invoice", back_populates="payments")


class Message(Base):
    """The outbox: every message Settle sends or refuses to send, once per idempotency key."""

    __tablename__ = "messages"

    id = Column(Integer, primary_key=True)
    idempotency_key = Column(String(255), nullable=False, unique=True)
    channel = Column(String(16), nullable=False, default="sms")
    to = Column(String(254), nullable=False, index=True)  # E.164, or an e-mail address (0005)
    body = Column(Text, nullable=False)
    # queued | sent | outbox (no provider configured) | refused (opted out) | failed
    status = Column(String(16), nullable=False, default="queued")
    # Settle spoke first (a reminder, an installment notice, a decline): it goes out only in
    # the customer's contact window, at delivery time too. Replies and receipts go at once.
    proactive = Column(Boolean, nullable=False, default=False, server_default=false())
    provider_sid = Column(String(64), index=True)
    # Twilio's own delivery status from status callbacks: queued, sent, delivered, undelivered…
    provider_status = Column(String(32))
    error = Column(Text)
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at = Column(UTCDateTime())
    customer_id = Column(String(64), ForeignKey("customers.id"))
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    sent_at = Column(UTCDateTime())


class OptOut(Base):
    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("phone", "channel"),)

    id = Column(Integer, primary_key=True)
    phone = Column(String(254), nullable=False, index=True)  # or an e-mail address (0005)
    channel = Column(String(16), nullable=False, default="all")
    source = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class ProcessedEvent(Base):
    """Provider webhook events already handled: redeliveries are no-ops."""

    __tablename__ = "processed_events"

    event_id = Column(String(255), primary_key=True)
    provider = Column(String(16), nullable=False)
    type = Column(String(64), nullable=False)
    received_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    # The work queue finds a kind's entries and each one's decision ("handoff.done" on
    # "handoff:<id>", settle.console.queue.waiting) by these two, never by reading the log.
    __table_args__ = (Index("ix_audit_log_action_subject", "action", "subject"),)

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    # e.g. "conversation:+14155550123", "stripe", "operator:ana@example.com", "cli:ana"
    actor = Column(String(320), nullable=False)
    action = Column(String(64), nullable=False)  # e.g. "payment.recorded"
    subject = Column(String(320), nullable=False, default="")  # e.g. "invoice:INV-1001"
    detail = Column(JSON, nullable=False, default=dict)


# A plan in these statuses holds its invoice: no other plan, no reminders (settle.reminders).
ACTIVE_PLAN_STATUSES = ("pending_card", "active")


class Plan(Base):
    """An invoice paid in installments from a card saved on Stripe's hosted setup page."""

    __tablename__ = "plans"

    id = Column(Integer, primary_key=True)
    invoice_id = Column(String(64), ForeignKey("invoices.id"), nullable=False, index=True)
    customer_id = Column(String(64), ForeignKey("customers.id"), nullable=False, index=True)
    # pending_card | active | completed | failed | cancelled
    status = Column(String(16), nullable=False, default="pending_card")
    installment_count = Column(Integer, nullable=False)
    interval = Column(String(16), nullable=False)  # weekly | biweekly | monthly
    total_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    # The request that created it: a repeated request finds this plan instead of a new one.
    request_key = Column(String(255))
    stripe_customer_id = Column(String(255))
    payment_method_id = Column(String(255))
    setup_session_id = Column(String(255), unique=True)
    setup_url = Column(Text)
    conversation_id = Column(String(255))
    channel = Column(String(32))
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    activated_at = Column(UTCDateTime())

    installments = relationship("Installment", back_populates="plan", order_by="Installment.seq")


class Installment(Base):
    __tablename__ = "installments"
    __table_args__ = (UniqueConstraint("plan_id", "seq"),)

    id = Column(Integer, primary_key=True)
    plan_id = Column(Integer, ForeignKey("plans.id"), nullable=False, index=True)
    seq = Column(Integer, nullable=False)  # 1, 2, 3…
    due_on = Column(Date, nullable=False, index=True)
    amount_minor = Column(Integer, nullable=False)
    status = Column(
        String(16), nullable=False, default="scheduled"
    )  # scheduled|processing|paid|failed
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at = Column(UTCDateTime())
    # The payment intent of the attempt in flight or the one that paid it.
    provider_ref = Column(String(255), unique=True)
    error = Column(Text)
    paid_at = Column(UTCDateTime())
    reminded_at = Column(UTCDateTime())

    plan = relationship("Plan", back_populates="installments")


class Refund(Base):
    """A refund of a payment. Settle asks for at most one per payment (its idempotency key
    is the payment's), writing the row before Stripe is asked; refunds made outside Settle
    (partial ones, several) are recorded as they are reported."""

    __tablename__ = "refunds"

    id = Column(Integer, primary_key=True)
    payment_id = Column(Integer, ForeignKey("payments.id"), nullable=False, index=True)
    customer_id = Column(String(64), ForeignKey("customers.id"), nullable=False, index=True)
    amount_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    reason = Column(String(32), nullable=False)
    # requested | pending | succeeded | failed | canceled
    status = Column(String(16), nullable=False, default="requested")
    provider_ref = Column(String(255), unique=True)
    idempotency_key = Column(String(255), nullable=False, unique=True)
    error = Column(Text)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


class Dispute(Base):
    """A customer says they do not owe an invoice: reminders pause and a person looks."""

    __tablename__ = "disputes"

    id = Column(Integer, primary_key=True)
    invoice_id = Column(String(64), ForeignKey("invoices.id"), nullable=False, index=True)
    customer_id = Column(String(64), ForeignKey("customers.id"), nullable=False, index=True)
    reason = Column(Text, nullable=False, default="")
    status = Column(String(16), nullable=False, default="open")  # open | resolved
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class Credit(Base):
    """Money a customer paid beyond an invoice that staff kept for them (the work queue's
    "keep as credit"): it goes toward their next invoices in the same currency."""

    __tablename__ = "credits"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(64), ForeignKey("customers.id"), nullable=False, index=True)
    # The overpayment it came from: one credit per payment, so keeping it twice keeps it once.
    payment_id = Column(Integer, ForeignKey("payments.id"), nullable=False, unique=True)
    amount_minor = Column(Integer, nullable=False)
    remaining_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    created_by = Column(String(320), nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class CreditUse(Base):
    """Part of a credit that paid toward an invoice."""

    __tablename__ = "credit_uses"

    id = Column(Integer, primary_key=True)
    credit_id = Column(Integer, ForeignKey("credits.id"), nullable=False, index=True)
    invoice_id = Column(String(64), ForeignKey("invoices.id"), nullable=False, index=True)
    amount_minor = Column(Integer, nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
