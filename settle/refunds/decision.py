"""What the refund policy says about one refund request: a pure function of the facts.

`decide(facts, policy, now)` reads no database and calls no provider; the facts are
gathered by `settle.refunds.records.load_facts`. The rules run in a fixed order and the
first that does not pass is the one named to the customer (a refused refund says which
rule), so the order here is part of the behaviour.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from settle.rules.policy import Policy

# The reason staff give when they refund what a customer paid beyond an invoice.
OVERPAYMENT = "overpayment"


@dataclass(frozen=True)
class PriorRefund:
    """A refund of the payment already on record."""

    status: str  # requested | pending | succeeded | failed | canceled
    by_settle: bool  # Settle's own request (its idempotency key); else made outside Settle


@dataclass(frozen=True)
class RefundFacts:
    """Everything the refund policy looks at for one request."""

    payment_minor: int
    paid_at: dt.datetime
    provider: str  # the provider that took the payment
    refunded: tuple[PriorRefund, ...]
    recent_refunds: int  # the customer's refunds counted against the cap in the policy period
    reason: str
    requested_minor: int | None = None  # None: all of the payment
    # The provider Settle would refund through; None when only previewing the policy.
    refunds_through: str | None = None

    @property
    def amount_minor(self) -> int:
        """What is asked for: requested_minor, or the whole payment."""
        return self.payment_minor if self.requested_minor is None else self.requested_minor


@dataclass(frozen=True)
class RefundDecision:
    outcome: str  # approve | refuse | person
    rule: str  # which rule decided, e.g. "outside_window"
    amount_minor: int


def decide(facts: RefundFacts, policy: Policy, now: dt.datetime) -> RefundDecision:
    """The policy's answer: approve only when every rule passes; else the first rule that
    fails, with refuse (the customer is told why) or person (a person decides)."""
    rules = policy.refunds
    amount = facts.amount_minor
    if facts.reason == OVERPAYMENT:
        return _decide_overpayment(facts)
    if not policy.skills.refunds:
        return RefundDecision("person", "refunds_disabled", amount)
    if any(blocks_new_refund(prior) for prior in facts.refunded):
        return RefundDecision("refuse", "already_refunded", amount)
    if facts.reason not in rules.reasons:
        return RefundDecision("refuse", "reason_not_accepted", amount)
    if now - facts.paid_at > dt.timedelta(days=rules.window_days):
        return RefundDecision("refuse", "outside_window", amount)
    if amount <= 0 or amount > facts.payment_minor:
        return RefundDecision("refuse", "invalid_amount", amount)
    if amount < facts.payment_minor and not rules.partial_allowed:
        return RefundDecision("refuse", "partial_not_allowed", amount)
    if facts.recent_refunds >= rules.max_per_customer:
        return RefundDecision("refuse", "too_many_refunds", amount)
    if amount > rules.auto_approve_limit_minor:
        return RefundDecision("person", "over_auto_approve_limit", amount)
    if any(prior.by_settle for prior in facts.refunded):
        # An earlier attempt failed at Stripe: a person looks at it.
        return RefundDecision("person", "previous_refund_failed", amount)
    if facts.refunds_through is not None and facts.provider != facts.refunds_through:
        return RefundDecision("person", "other_provider", amount)
    return RefundDecision("approve", "within_policy", amount)


def _decide_overpayment(facts: RefundFacts) -> RefundDecision:
    """Money paid beyond an invoice is the customer's: no window, reason or cap applies, but
    a person always decides (the work queue's "refund the difference") and never for more
    than the payment."""
    amount = facts.amount_minor
    if any(blocks_new_refund(prior) for prior in facts.refunded):
        return RefundDecision("refuse", "already_refunded", amount)
    if amount <= 0 or amount > facts.payment_minor:
        return RefundDecision("refuse", "invalid_amount", amount)
    if facts.refunds_through is not None and facts.provider != facts.refunds_through:
        return RefundDecision("person", "other_provider", amount)
    return RefundDecision("person", "overpayment", amount)


def decide_unknown_payment(policy: Policy, requested_minor: int | None) -> RefundDecision:
    """The answer for a payment that is not on record (refunds switched off still go to a
    person first, as for any other payment)."""
    amount = requested_minor or 0
    if not policy.skills.refunds:
        return RefundDecision("person", "refunds_disabled", amount)
    return RefundDecision("refuse", "unknown_payment", amount)


def blocks_new_refund(prior: PriorRefund) -> bool:
    """Whether a refund on record stands in the way of another: Settle's own unless it
    failed (it may be retried by a person), one made outside Settle unless it failed or was
    canceled."""
    if prior.by_settle:
        return prior.status != "failed"
    return prior.status not in ("failed", "canceled")
