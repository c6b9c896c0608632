"""What a person does with a flagged payment in the work queue (settle.console.queue).

An overpayment's excess is refunded through the refund flow's own path (one refund row per
payment, the payment's idempotency key at Stripe) or kept as a credit on the customer that
pays toward their next invoice (settle.billing.credits). A payment that matches nothing is
put right in Stripe and marked reviewed. Each decision is made once: "flag.resolved" on
the flag's audit entry ends it, and a refund under way ("flag.refunding") keeps a credit
from being kept from the same money meanwhile.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.adapters.payments import PaymentGateway
from settle.billing.credits import excess_of, keep_as_credit
from settle.config import Settings
from settle.console.queue import FLAG_DECIDED, flag_decided, flag_entry, flag_kind
from settle.console.resolve import NotInQueue, Outcome
from settle.console.words import phrase
from settle.core import audit
from settle.refunds.decision import OVERPAYMENT
from settle.refunds.issue import issue_refund
from settle.store.db import Store
from settle.store.models import AuditEntry, Invoice, Payment, Refund

REFUNDING = "flag.refunding"


def refund_difference(
    store: Store, gateway: PaymentGateway, settings: Settings, entry_id: int, actor: str
) -> Outcome:
    """Refund what the payment holds beyond its invoice; the customer is texted when the
    refund succeeds (settle.refunds.events)."""
    with store.unit_of_work() as session:
        entry = _overpaid(session, entry_id)
        if flag_decided(session, entry_id):
            return Outcome(False, phrase("outcome.flag_again", id=entry_id))
        payment = session.get(Payment, entry.detail["payment_id"])
        customer_id = session.get(Invoice, payment.invoice_id).customer_id
        excess = excess_of(session, payment)
        if excess <= 0:
            _decide(session, entry, actor, "nothing_left")
            return Outcome(True, phrase("outcome.nothing_left", payment=payment.id))
        audit.record(session, actor, REFUNDING, f"flag:{entry_id}", amount_minor=excess)
    result = issue_refund(
        store,
        gateway,
        settings,
        settings.policy,
        customer_id,
        payment.id,
        OVERPAYMENT,
        actor,
        amount_minor=excess,
        approved=True,
    )
    with store.unit_of_work() as session:
        made = result.status == "issued" or (
            result.status == "already_refunded" and _refunds_the_excess(session, result.refund_id)
        )
        if not made:
            audit.record(session, actor, "flag.refund_failed", f"flag:{entry_id}", rule=result.rule)
            rule = result.rule.replace("_", " ")
            return Outcome(False, phrase("outcome.flag_refund_not_made", rule=rule))
        entry = session.get(AuditEntry, entry_id, with_for_update=True)
        if flag_decided(session, entry_id):
            return Outcome(False, phrase("outcome.flag_again", id=entry_id))
        _decide(session, entry, actor, "refund", refund_id=result.refund_id)
    return Outcome(True, phrase("outcome.difference_refunding", payment=payment.id))


def keep_credit(store: Store, settings: Settings, entry_id: int, actor: str) -> Outcome:
    """Keep the excess as a credit on the customer, used at once on an open invoice."""
    with store.unit_of_work() as session:
        entry = _overpaid(session, entry_id)
        if flag_decided(session, entry_id):
            return Outcome(False, phrase("outcome.flag_again", id=entry_id))
        if _last_step(session, entry_id) == REFUNDING:
            return Outcome(False, phrase("outcome.flag_refunding", id=entry_id))
        credit = keep_as_credit(session, settings, entry.detail["payment_id"], actor)
        if credit is None:
            _decide(session, entry, actor, "nothing_left")
            return Outcome(True, phrase("outcome.nothing_left", payment=entry.detail["payment_id"]))
        _decide(session, entry, actor, "credit", credit_id=credit.id)
        return Outcome(True, phrase("outcome.credit_kept", id=credit.id))


def mark_reviewed(store: Store, entry_id: int, actor: str, note: str) -> Outcome:
    """A payment that matched nothing was put right by hand (in Stripe, say)."""
    if not note.strip():
        return Outcome(False, phrase("outcome.review_note"))
    with store.unit_of_work() as session:
        entry = session.get(AuditEntry, entry_id, with_for_update=True)
        if entry is None or flag_entry(session, entry_id) is None or flag_kind(entry) != "mismatch":
            raise NotInQueue(f"no payment to review {entry_id}")
        if flag_decided(session, entry_id):
            return Outcome(False, phrase("outcome.flag_again", id=entry_id))
        _decide(session, entry, actor, "reviewed", note=note.strip())
        return Outcome(True, phrase("outcome.reviewed", id=entry_id))


def _overpaid(session: Session, entry_id: int) -> AuditEntry:
    entry = session.get(AuditEntry, entry_id, with_for_update=True)
    if entry is None or flag_entry(session, entry_id) is None or flag_kind(entry) != "overpaid":
        raise NotInQueue(f"no overpayment {entry_id}")
    return entry


def _decide(session: Session, entry: AuditEntry, actor: str, decision: str, **detail) -> None:
    audit.record(
        session,
        actor,
        FLAG_DECIDED,
        f"flag:{entry.id}",
        decision=decision,
        payment_id=(entry.detail or {}).get("payment_id"),
        **detail,
    )


def _last_step(session: Session, entry_id: int) -> str | None:
    return session.scalar(
        select(AuditEntry.action)
        .where(AuditEntry.subject == f"flag:{entry_id}")
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )


def _refunds_the_excess(session: Session, refund_id: int | None) -> bool:
    """The payment's refund on record is this one (a double click): not an earlier one."""
    refund = session.get(Refund, refund_id) if refund_id else None
    return refund is not None and refund.reason == OVERPAYMENT and refund.status != "failed"
