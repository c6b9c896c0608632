"""What the billing tables say about a period: money in and back, what is owed at its end
and how late, opt-outs, and what the reminder sequence did. Reads only."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from settle.reminders.records import ReminderClaim
from settle.reporting.period import AGING_BUCKETS, Period, aging_bucket
from settle.store.models import AuditEntry, Invoice, Message, Payment, Refund

# How long after a reminder a payment on its invoice counts as following it.
PAID_AFTER_REMINDER = dt.timedelta(days=7)
# The claims of reminder steps that went out (a call is marked before it is placed).
SENT_STATUSES = ("sent", "calling")


@dataclass(frozen=True)
class Money:
    """Per currency, in minor units."""

    collected: dict[str, int]
    refunded: dict[str, int]
    invoiced: dict[str, int]
    outstanding: dict[str, int]
    aging: dict[str, dict[str, int]]  # bucket -> currency -> minor


@dataclass(frozen=True)
class ReminderOutcomes:
    sent: int
    skipped: int
    skipped_reasons: dict[str, int]
    held: int
    paid_within_7_days: int


def money(session: Session, period: Period) -> Money:
    collected = _by_currency(
        session.execute(
            select(Payment.currency, func.sum(Payment.amount_minor))
            .where(Payment.created_at >= period.start, Payment.created_at < period.end)
            .group_by(Payment.currency)
        )
    )
    refunded = _by_currency(
        session.execute(
            select(Refund.currency, func.sum(Refund.amount_minor))
            .where(
                Refund.status == "succeeded",
                Refund.created_at >= period.start,
                Refund.created_at < period.end,
            )
            .group_by(Refund.currency)
        )
    )
    invoiced = _by_currency(
        session.execute(
            select(Invoice.currency, func.sum(Invoice.amount_minor))
            .where(
                Invoice.status != "void",
                Invoice.issued_on >= period.since,
                Invoice.issued_on <= period.until,
            )
            .group_by(Invoice.currency)
        )
    )
    aging: dict[str, dict[str, int]] = {bucket: defaultdict(int) for bucket in AGING_BUCKETS}
    for currency, due_on, balance in receivables(session, period.end, period.until):
        aging[aging_bucket(due_on, period.until)][currency] += balance
    outstanding: dict[str, int] = defaultdict(int)
    for by_currency in aging.values():
        for currency, minor in by_currency.items():
            outstanding[currency] += minor
    return Money(
        collected, refunded, invoiced, dict(outstanding), {b: dict(c) for b, c in aging.items()}
    )


def receivables(session: Session, end: dt.datetime, until: dt.date) -> list[tuple]:
    """(currency, due_on, balance) of each invoice owing something at `end`: issued by
    `until`, less what was paid before `end`, plus what was refunded before it.

    Void invoices owe nothing, and neither does one the billing system marked paid beyond
    what Settle recorded (paid elsewhere, on a day Settle does not know)."""
    paid = dict(
        session.execute(
            select(Payment.invoice_id, func.sum(Payment.amount_minor))
            .where(Payment.created_at < end)
            .group_by(Payment.invoice_id)
        ).all()
    )
    refunded = dict(
        session.execute(
            select(Payment.invoice_id, func.sum(Refund.amount_minor))
            .join(Payment, Payment.id == Refund.payment_id)
            .where(Refund.status == "succeeded", Refund.created_at < end)
            .group_by(Payment.invoice_id)
        ).all()
    )
    rows = session.execute(
        select(
            Invoice.id,
            Invoice.currency,
            Invoice.due_on,
            Invoice.amount_minor,
            Invoice.amount_paid_minor,
            Invoice.status,
        ).where(Invoice.status != "void", Invoice.issued_on <= until)
    ).all()
    owing = []
    for invoice_id, currency, due_on, amount, paid_now, status in rows:
        if status == "paid" and paid_now < amount:
            continue
        balance = amount - int(paid.get(invoice_id) or 0) + int(refunded.get(invoice_id) or 0)
        if balance > 0:
            owing.append((currency, due_on, balance))
    return owing


def opt_outs(session: Session, period: Period) -> int:
    """Numbers and addresses that asked for no more messages in the period (as audited:
    an opt-in later removes the opt-out row, not the entry)."""
    return int(
        session.scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.action == "contact.opted_out",
                AuditEntry.at >= period.start,
                AuditEntry.at < period.end,
            )
        )
        or 0
    )


def reminder_outcomes(session: Session, period: Period) -> ReminderOutcomes:
    """Steps of the reminder sequence that went out in the period, steps recorded as not
    sent (and why), reminder messages held for the customer's contact hours, and the sent
    steps whose invoice received a payment within PAID_AFTER_REMINDER (even after the
    period ends)."""
    in_period = (ReminderClaim.finished_at >= period.start, ReminderClaim.finished_at < period.end)
    sent = session.execute(
        select(ReminderClaim.invoice_id, ReminderClaim.finished_at).where(
            ReminderClaim.status.in_(SENT_STATUSES), *in_period
        )
    ).all()
    reasons = Counter(
        skip_reason(reason)
        for reason in session.scalars(
            select(ReminderClaim.reason).where(ReminderClaim.status == "skipped", *in_period)
        )
    )
    payments: dict[str, list[dt.datetime]] = defaultdict(list)
    if sent:
        for invoice_id, at in session.execute(
            select(Payment.invoice_id, Payment.created_at).where(
                Payment.invoice_id.in_({invoice_id for invoice_id, _ in sent}),
                Payment.created_at >= period.start,
            )
        ):
            payments[invoice_id].append(at)
    followed = sum(
        1
        for invoice_id, at in sent
        if any(at <= paid < at + PAID_AFTER_REMINDER for paid in payments[invoice_id])
    )
    return ReminderOutcomes(
        sent=len(sent),
        skipped=sum(reasons.values()),
        skipped_reasons=dict(sorted(reasons.items())),
        held=_held_reminder_messages(session, period),
        paid_within_7_days=followed,
    )


def skip_reason(reason: str | None) -> str:
    """The kind of a skipped step's recorded reason (settle.reminders.decisions, .holds)."""
    text = (reason or "").lower()
    for marker, kind in (
        ("superseded", "superseded"),
        ("no longer useful", "no_longer_useful"),
        ("opted out", "opted_out"),
        ("address", "no_address"),  # "no email address"
        ("disputed", "disputed"),
        ("payment plan", "on_plan"),
        ("invoice", "invoice_closed"),  # "invoice paid", "invoice void", "invoice gone"
    ):
        if marker in text:
            return kind
    return "other"


def _held_reminder_messages(session: Session, period: Period) -> int:
    subjects = session.scalars(
        select(AuditEntry.subject).where(
            AuditEntry.action == "message.held",
            AuditEntry.at >= period.start,
            AuditEntry.at < period.end,
        )
    ).all()
    ids = {int(s.split(":", 1)[1]) for s in subjects if s.split(":", 1)[-1].isdigit()}
    if not ids:
        return 0
    return int(
        session.scalar(
            select(func.count(Message.id)).where(
                Message.id.in_(ids), Message.idempotency_key.like("reminder:%")
            )
        )
        or 0
    )


def _by_currency(rows) -> dict[str, int]:
    return {currency: int(minor or 0) for currency, minor in rows}
