"""What a conversation asks of refunds, each in a unit of work of its own: the customer's
recent payments a refund could be about, those among the ones they were offered, and what
the refund policy says about one of them.

Plain arguments in, plain values out, so the Rasa actions know nothing of the database."""

from __future__ import annotations

from collections.abc import Sequence

from settle.refunds.decision import RefundDecision
from settle.refunds.records import PaymentSummary, decide_payment, refundable_payments
from settle.rules.policy import Policy
from settle.store.db import Store
from settle.store.models import utcnow


def payments_to_refund(store: Store, customer_id: str) -> list[PaymentSummary]:
    """The customer's recent payments, most recent first, with what was already refunded."""
    with store.unit_of_work() as session:
        return refundable_payments(session, customer_id, utcnow())


def offered_payments(store: Store, customer_id: str, ids: Sequence[object]) -> list[PaymentSummary]:
    """The customer's refundable payments among `ids`, in that order: never another's."""
    wanted = [str(i) for i in ids]
    mine = {str(p.id): p for p in payments_to_refund(store, customer_id)}
    return [mine[i] for i in wanted if i in mine]


def decide_refund(
    store: Store, policy: Policy, payment_id: int | str, reason: str
) -> RefundDecision:
    """What the refund policy says about refunding all of payment_id now, for reason."""
    with store.unit_of_work() as session:
        return decide_payment(session, policy, int(payment_id), reason, now=utcnow())
