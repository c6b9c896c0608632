"""Which items wait for a person, decided in SQL: one SELECT per kind of the keys (when it
came in, its kind's place in KINDS, its id) of the items no decision is on record for yet.

A decision is an audit entry naming the item in its subject ("handoff:<id>", "flag:<id>",
"payment:<id>" after the request) or a row's status (a dispute resolved, a lock cleared or
run out); the selects test for it with NOT EXISTS, so nothing decided is read.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement, Select

from settle.access.records import IdentityLock
from settle.store.models import AuditEntry, Dispute, Payment

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
FLAGS = ("payment.flagged", *MISMATCHES)
FLAG_DECIDED = "flag.resolved"
# What records a person's decision on a refund the policy left to them (subject payment:<id>).
REFUND_DECIDED = ("refund.approved", "refund.declined")
# A refund for a payment at another provider is made there, not from the queue.
ELSEWHERE = "other_provider"


def waiting_keys(now: dt.datetime) -> Select:
    """(at, rank, id) of every item that waits, all kinds in one UNION ALL: rank is the
    kind's place in KINDS, the queue's order is (at, rank, id)."""
    return _handoffs().union_all(_disputes(), _refunds(), _flagged(), _locks(now))


def _keys(at: ColumnElement, rank: ColumnElement | int, id: ColumnElement) -> Select:
    rank = literal(rank) if isinstance(rank, int) else rank
    return select(at.label("at"), rank.label("rank"), id.label("id"))


def _named(prefix: str, id: ColumnElement) -> ColumnElement:
    """The subject an audit entry gives the row `id`, e.g. handoff:12."""
    return literal(prefix, String) + cast(id, String)


def _decided(action: str, prefix: str, id: ColumnElement) -> ColumnElement:
    decision = aliased(AuditEntry)
    return exists().where(decision.action == action, decision.subject == _named(prefix, id))


def _handoffs() -> Select:
    return _keys(AuditEntry.at, KINDS.index("handoff"), AuditEntry.id).where(
        AuditEntry.action == "handoff.requested",
        ~_decided("handoff.done", "handoff:", AuditEntry.id),
    )


def _disputes() -> Select:
    return _keys(Dispute.created_at, KINDS.index("dispute"), Dispute.id).where(
        Dispute.status == "open"
    )


def _refunds() -> Select:
    """The oldest undecided request per payment (a customer who asked twice is one item),
    while the payment exists."""
    request, decision = aliased(AuditEntry), aliased(AuditEntry)
    rule = request.detail["rule"].as_string()
    oldest = (
        select(func.min(request.id).label("id"))
        .where(
            request.action == "refund.person",
            or_(rule.is_(None), rule != ELSEWHERE),
            ~exists().where(
                decision.action.in_(REFUND_DECIDED),
                decision.subject == request.subject,
                decision.id > request.id,
            ),
        )
        .group_by(request.subject)
        .subquery()
    )
    return (
        _keys(AuditEntry.at, KINDS.index("refund"), AuditEntry.id)
        .join(oldest, oldest.c.id == AuditEntry.id)
        .join(Payment, _named("payment:", Payment.id) == AuditEntry.subject)
    )


def _overpaid(entry: type[AuditEntry] | AuditEntry) -> ColumnElement:
    """SQL: the flag is an overpayment (refund the difference or keep it as credit)."""
    return and_(entry.action == "payment.flagged", entry.detail["flag"].as_string() == "overpaid")


def _flagged() -> Select:
    rank = case((_overpaid(AuditEntry), KINDS.index("overpaid")), else_=KINDS.index("mismatch"))
    return _keys(AuditEntry.at, rank, AuditEntry.id).where(
        AuditEntry.action.in_(FLAGS), ~_decided(FLAG_DECIDED, "flag:", AuditEntry.id)
    )


def _locks(now: dt.datetime) -> Select:
    return _keys(IdentityLock.locked_at, KINDS.index("lock"), IdentityLock.id).where(
        IdentityLock.until > now, IdentityLock.cleared_at.is_(None)
    )


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


def flag_entry(session: Session, entry_id: int) -> AuditEntry | None:
    """The audit entry of a flagged payment, or None when entry_id is something else."""
    entry = session.get(AuditEntry, entry_id)
    if entry is None or entry.action not in FLAGS:
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
