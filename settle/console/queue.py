"""The work queue on the console's first page: everything that waits for a person, oldest
first. Hand-offs the conversation asked for, open disputes, refunds the policy left to a
person, and identity checks locked after too many misses.

Each kind is read from where it already lives (the audit log, disputes, identity locks);
an item leaves the queue when its decision is on record (settle.console.resolve), so the
queue needs no table of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.access.lockout import active_locks
from settle.config import Settings
from settle.console.words import phrase
from settle.core import i18n
from settle.core.money import format_money
from settle.rules.security import SCOPES
from settle.store.models import AuditEntry, Customer, Dispute, Invoice, Payment

KINDS = ("handoff", "dispute", "refund", "overpaid", "mismatch", "lock")
# Payments a person should look at (subject of each: see settle.billing.reconcile). An
# overpayment is refunded or kept as credit (settle.console.flagged); the others are checked
# in Stripe and marked reviewed.
MISMATCHES = (
    "payment.unmatched",
    "payment.needs_review",
    "chargeback.unmatched",
    "invoice.voided_by_billing",
)
FLAG_DECIDED = "flag.resolved"
# What records a person's decision on a refund the policy left to them (subject payment:<id>).
REFUND_DECIDED = ("refund.approved", "refund.declined")


@dataclass(frozen=True)
class QueueItem:
    """One line of the queue: what it is, whose, and when it came in."""

    kind: str  # handoff | dispute | refund | lock
    id: int  # the audit entry (handoff, refund), the dispute or the lock
    at: dt.datetime
    customer: str
    invoice: str
    amount: str
    language: str
    channel: str
    what: str


def work_queue(session: Session, settings: Settings) -> list[QueueItem]:
    """Everything that needs a person, oldest first."""
    items = _handoffs(session, settings) + _disputes(session, settings)
    items += _refunds(session, settings) + _flagged(session, settings)
    items += _locks(session, settings)
    return sorted(items, key=lambda item: (item.at, KINDS.index(item.kind), item.id))


def pending_refund_request(session: Session, entry_id: int) -> AuditEntry | None:
    """The refund.person entry `entry_id` while no person has decided on its payment since."""
    entry = session.get(AuditEntry, entry_id)
    if entry is None or entry.action != "refund.person":
        return None
    decided = session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.action.in_(REFUND_DECIDED),
            AuditEntry.subject == entry.subject,
            AuditEntry.id > entry.id,
        )
    )
    return entry if decided is None else None


def handoff_done(session: Session, entry_id: int) -> bool:
    done = session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.action == "handoff.done", AuditEntry.subject == f"handoff:{entry_id}"
        )
    )
    return done is not None


def _handoffs(session: Session, settings: Settings) -> list[QueueItem]:
    done = select(AuditEntry.subject).where(AuditEntry.action == "handoff.done")
    finished = set(session.scalars(done))
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "handoff.requested").order_by(AuditEntry.id)
    )
    items = []
    for entry in entries:
        if f"handoff:{entry.id}" in finished:
            continue
        detail = entry.detail or {}
        customer = session.get(Customer, detail.get("verified_customer") or "")
        invoice = session.get(Invoice, detail.get("invoice") or "")
        reason = (detail.get("reason") or "").replace("_", " ")
        goal = detail.get("goal") or ""
        key = "item.handoff" + ("_goal" if goal else "") + ("_reason" if reason else "")
        what = phrase(key, goal=goal, reason=reason)
        items.append(
            _item("handoff", entry.id, entry.at, settings, customer, invoice, what, detail)
        )
    return items


def _disputes(session: Session, settings: Settings) -> list[QueueItem]:
    rows = session.scalars(select(Dispute).where(Dispute.status == "open").order_by(Dispute.id))
    items = []
    for dispute in rows:
        customer = session.get(Customer, dispute.customer_id)
        invoice = session.get(Invoice, dispute.invoice_id)
        what = phrase("item.dispute", id=dispute.id, reason=dispute.reason[:140])
        items.append(
            _item("dispute", dispute.id, dispute.created_at, settings, customer, invoice, what)
        )
    return items


def _refunds(session: Session, settings: Settings) -> list[QueueItem]:
    """The oldest undecided request per payment (a customer who asked twice is one item)."""
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "refund.person").order_by(AuditEntry.id)
    )
    items, seen = [], set()
    for entry in entries:
        detail = entry.detail or {}
        if entry.subject in seen or detail.get("rule") == "other_provider":
            continue
        if pending_refund_request(session, entry.id) is None:
            continue
        seen.add(entry.subject)
        payment = session.get(Payment, int(entry.subject.partition(":")[2] or 0))
        if payment is None:
            continue
        invoice = session.get(Invoice, payment.invoice_id)
        customer = session.get(Customer, invoice.customer_id)
        amount = detail.get("amount_minor") or payment.amount_minor
        rule = (detail.get("rule") or "").replace("_", " ")
        what = phrase("item.refund", payment=payment.id, rule=rule)
        item = _item("refund", entry.id, entry.at, settings, customer, invoice, what)
        refund = format_money(amount, payment.currency, _staff_locale(settings))
        items.append(replace(item, amount=refund))
    return items


def flag_entry(session: Session, entry_id: int) -> AuditEntry | None:
    """The audit entry of a flagged payment, or None when entry_id is something else."""
    entry = session.get(AuditEntry, entry_id)
    if entry is None or entry.action not in ("payment.flagged", *MISMATCHES):
        return None
    return entry


def flag_kind(entry: AuditEntry) -> str:
    """overpaid (refund the difference or keep it as credit) or mismatch (check, review)."""
    overpaid = entry.action == "payment.flagged" and (entry.detail or {}).get("flag") == "overpaid"
    return "overpaid" if overpaid else "mismatch"


def flag_decided(session: Session, entry_id: int) -> bool:
    decided = select(AuditEntry.id).where(
        AuditEntry.action == FLAG_DECIDED, AuditEntry.subject == f"flag:{entry_id}"
    )
    return session.scalar(decided) is not None


def _flagged(session: Session, settings: Settings) -> list[QueueItem]:
    decided = select(AuditEntry.subject).where(AuditEntry.action == FLAG_DECIDED)
    finished = set(session.scalars(decided))
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action.in_(("payment.flagged", *MISMATCHES)))
        .order_by(AuditEntry.id)
    )
    items = []
    for entry in entries:
        if f"flag:{entry.id}" in finished:
            continue
        detail = entry.detail or {}
        invoice = (
            session.get(Invoice, entry.subject.partition(":")[2])
            if entry.subject.startswith("invoice:")
            else None
        )
        customer = session.get(Customer, invoice.customer_id) if invoice else None
        kind = flag_kind(entry)
        item = _item(
            kind, entry.id, entry.at, settings, customer, invoice, _flag_what(entry), detail
        )
        money = _flag_money(session, entry, invoice)
        if money is not None:
            item = replace(item, amount=format_money(*money, _staff_locale(settings)))
        items.append(item)
    return items


def _flag_what(entry: AuditEntry) -> str:
    detail = entry.detail or {}
    if entry.action == "payment.flagged":
        flag = "overpaid" if detail.get("flag") == "overpaid" else "stale_link"
        return phrase(f"item.{flag}", payment=detail.get("payment_id"))
    if entry.action == "payment.needs_review":
        return phrase("item.needs_review", currency=detail.get("currency") or "-")
    if entry.action == "invoice.voided_by_billing":
        return phrase("item.voided", invoice=entry.subject.partition(":")[2])
    if entry.action == "chargeback.unmatched":
        return phrase("item.chargeback_unmatched", subject=entry.subject)
    return phrase("item.unmatched", subject=entry.subject)


def _flag_money(
    session: Session, entry: AuditEntry, invoice: Invoice | None
) -> tuple[int, str] | None:
    """What the item is about: an overpayment's excess as it is now, else the amount paid."""
    detail = entry.detail or {}
    payment = session.get(Payment, detail.get("payment_id") or 0)
    if payment is not None and invoice is not None and flag_kind(entry) == "overpaid":
        return min(payment.amount_minor, invoice.overpaid_minor), payment.currency
    if payment is not None:
        return payment.amount_minor, payment.currency
    if detail.get("amount_minor") and detail.get("currency"):
        return int(detail["amount_minor"]), str(detail["currency"])
    return None


def _locks(session: Session, settings: Settings) -> list[QueueItem]:
    items = []
    for lock in active_locks(session):
        invoice = session.get(Invoice, lock.key) if lock.scope == "invoice" else None
        customer_id = invoice.customer_id if invoice else lock.key
        customer = (
            session.get(Customer, customer_id) if lock.scope in ("invoice", "customer") else None
        )
        until = lock.until.strftime("%Y-%m-%d %H:%M UTC")
        scope = phrase(f"scope.{lock.scope}") if lock.scope in SCOPES else lock.scope
        what = phrase("item.lock", scope=scope, misses=lock.misses, until=until)
        items.append(_item("lock", lock.id, lock.locked_at, settings, customer, invoice, what))
    return items


def _item(
    kind: str,
    id: int,
    at: dt.datetime,
    settings: Settings,
    customer: Customer | None,
    invoice: Invoice | None,
    what: str,
    detail: dict | None = None,
) -> QueueItem:
    amount = ""
    if invoice is not None:
        balance = invoice.amount_minor - invoice.amount_paid_minor
        amount = format_money(balance, invoice.currency, _staff_locale(settings))
    return QueueItem(
        kind=kind,
        id=id,
        at=at,
        customer=f"{customer.name} ({customer.id})" if customer else "unverified",
        invoice=invoice.id if invoice else (detail or {}).get("invoice") or "",
        amount=amount,
        language=customer.language if customer else "",
        channel=(detail or {}).get("channel") or "",
        what=what,
    )


def _staff_locale(settings: Settings) -> str:
    return i18n.locale_for("en", settings.business.default_region)
