"""What a person does with an item of the work queue (settle.console.queue).

Every action is recorded in the audit log under the operator, and is done once: a second
POST of the same decision (a double click, a retried form) changes nothing and says so.
The customer hears of a decision about them in their language, through the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.access.lockout import clear_lock
from settle.adapters.payments import PaymentGateway
from settle.billing.disputes import resolve_dispute
from settle.config import Settings
from settle.console.queue import handoff_done, pending_refund_request
from settle.console.words import phrase
from settle.core import audit
from settle.messaging.notify import notify_customer
from settle.refunds.issue import issue_refund
from settle.store.db import Store
from settle.store.models import AuditEntry, Customer, Dispute, Invoice, Payment

# (kind, action) the queue's forms post.
ACTIONS = {
    ("handoff", "done"),
    ("dispute", "upheld"),
    ("dispute", "rejected"),
    ("refund", "approve"),
    ("refund", "decline"),
    ("overpaid", "refund"),
    ("overpaid", "credit"),
    ("mismatch", "reviewed"),
    ("lock", "unlock"),
}


@dataclass(frozen=True)
class Outcome:
    """What the action did, said for the page; changed is False when it was done before."""

    changed: bool
    message: str


class NotInQueue(LookupError):
    """No such item (a made-up id, or the wrong kind)."""


def mark_handoff_done(store: Store, entry_id: int, actor: str, note: str) -> Outcome:
    with store.unit_of_work() as session:
        entry = session.get(AuditEntry, entry_id, with_for_update=True)
        if entry is None or entry.action != "handoff.requested":
            raise NotInQueue(f"no hand-off {entry_id}")
        if handoff_done(session, entry_id):
            return Outcome(False, phrase("outcome.handoff_again", id=entry_id))
        audit.record(session, actor, "handoff.done", f"handoff:{entry_id}", note=note)
        return Outcome(True, phrase("outcome.handoff_done", id=entry_id))


def decide_dispute(
    store: Store, settings: Settings, dispute_id: int, actor: str, upheld: bool, note: str
) -> Outcome:
    """Upheld: the invoice is void and chasing it stops; rejected: reminders and plans
    resume. Either way the customer is told."""
    outcome = "upheld" if upheld else "rejected"
    with store.unit_of_work() as session:
        dispute = session.get(Dispute, dispute_id, with_for_update=True)
        if dispute is None:
            raise NotInQueue(f"no dispute {dispute_id}")
        if dispute.status != "open":
            return Outcome(False, phrase("outcome.dispute_again", id=dispute_id))
        resolve_dispute(session, dispute_id, actor, note, outcome)
        notify_customer(
            session,
            settings,
            session.get(Customer, dispute.customer_id),
            f"dispute_{outcome}",
            idempotency_key=f"dispute_resolved:{dispute_id}",
            actor=actor,
            invoice=dispute.invoice_id,
        )
        return Outcome(True, phrase(f"outcome.dispute_{outcome}", id=dispute_id))


def approve_refund(
    store: Store, gateway: PaymentGateway, settings: Settings, entry_id: int, actor: str
) -> Outcome:
    """Refund as asked, through the refund flow's own path: one refund row per payment and
    the payment's idempotency key at Stripe, so approving twice refunds once. The approval
    is on record before Stripe is asked, so nobody declines it meanwhile. The customer is
    texted when the refund succeeds (settle.refunds.events)."""
    with store.unit_of_work() as session:
        entry = _refund_request(session, entry_id)
        if entry is None:
            return Outcome(False, phrase("outcome.refund_again", id=entry_id))
        payment = session.get(Payment, int(entry.subject.partition(":")[2]))
        customer_id = session.get(Invoice, payment.invoice_id).customer_id
        detail = dict(entry.detail or {})
        audit.record(session, actor, "refund.approving", f"refund_request:{entry_id}")
    result = issue_refund(
        store,
        gateway,
        settings,
        settings.policy,
        customer_id,
        payment.id,
        detail.get("reason") or "other",
        actor,
        amount_minor=detail.get("amount_minor"),
        approved=True,
    )
    if result.status not in ("issued", "already_refunded"):
        with store.unit_of_work() as session:
            audit.record(session, actor, "refund.approval_failed", f"refund_request:{entry_id}")
        return Outcome(False, phrase("outcome.refund_not_made", rule=result.rule))
    with store.unit_of_work() as session:
        if _refund_request(session, entry_id) is None:
            return Outcome(False, phrase("outcome.refund_again", id=entry_id))
        audit.record(
            session,
            actor,
            "refund.approved",
            f"payment:{payment.id}",
            request=entry_id,
            refund_id=result.refund_id,
            result=result.status,
        )
    return Outcome(
        True, phrase("outcome.refund_approved", payment=payment.id, status=result.status)
    )


def decline_refund(
    store: Store, settings: Settings, entry_id: int, actor: str, reason: str
) -> Outcome:
    """No refund; the customer is told why, in the words the operator gave."""
    if not reason.strip():
        return Outcome(False, phrase("outcome.decline_why"))
    with store.unit_of_work() as session:
        entry = _refund_request(session, entry_id)
        if entry is None:
            return Outcome(False, phrase("outcome.refund_again", id=entry_id))
        if _approval_under_way(session, entry_id):
            return Outcome(False, phrase("outcome.refund_approving", id=entry_id))
        payment = session.get(Payment, int(entry.subject.partition(":")[2]))
        invoice = session.get(Invoice, payment.invoice_id)
        audit.record(
            session, actor, "refund.declined", entry.subject, request=entry_id, reason=reason
        )
        amount = (entry.detail or {}).get("amount_minor") or payment.amount_minor
        notify_customer(
            session,
            settings,
            session.get(Customer, invoice.customer_id),
            "refund_declined",
            idempotency_key=f"refund_declined:{entry_id}",
            actor=actor,
            money={"amount": (amount, payment.currency)},
            invoice=invoice.id,
            reason=reason.strip(),
        )
        return Outcome(True, phrase("outcome.refund_declined", payment=payment.id))


def unlock(store: Store, lock_id: int, actor: str) -> Outcome:
    with store.unit_of_work() as session:
        if clear_lock(session, lock_id, actor):
            return Outcome(True, phrase("outcome.lock_lifted", id=lock_id))
    return Outcome(False, phrase("outcome.lock_gone", id=lock_id))


def _refund_request(session: Session, entry_id: int) -> AuditEntry | None:
    """The request while it waits for a person; NotInQueue when there is no such request."""
    entry = session.get(AuditEntry, entry_id, with_for_update=True)
    if entry is None or entry.action != "refund.person":
        raise NotInQueue(f"no refund request {entry_id}")
    return pending_refund_request(session, entry_id)


def _approval_under_way(session: Session, entry_id: int) -> bool:
    """An approval of the request has asked Stripe and not failed (it may have been made)."""
    last = session.scalar(
        select(AuditEntry.action)
        .where(AuditEntry.subject == f"refund_request:{entry_id}")
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return last == "refund.approving"
