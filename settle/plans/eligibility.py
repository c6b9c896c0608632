"""Whether an invoice may go on a plan today, which plans it is offered, and its current plan."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.billing.disputes import open_dispute_of
from settle.plans.schedule import PlanOption, fitting_options
from settle.rules.policy import Policy
from settle.store.models import ACTIVE_PLAN_STATUSES, Invoice, Plan, utcnow


class PlanNotAvailable(Exception):
    """No plan can be started: reason is a code the conversation explains
    (not_found, plans_disabled, not_open, disputed, already_on_plan, below_minimum,
    no_fitting_plan, count_not_allowed)."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True)
class PlanOffer:
    invoice_id: str
    eligible: bool
    reason: str  # "eligible", or why not (see PlanNotAvailable)
    options: list[PlanOption] = field(default_factory=list)
    default: PlanOption | None = None
    balance_minor: int = 0
    currency: str = ""


def active_plan_for(session: Session, invoice_id: str) -> Plan | None:
    return session.scalar(
        select(Plan)
        .where(Plan.invoice_id == invoice_id, Plan.status.in_(ACTIVE_PLAN_STATUSES))
        .order_by(Plan.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class InvoiceFacts:
    """What the plan rules look at, read from the database (plan_options)."""

    invoice_id: str
    status: str
    balance_minor: int
    currency: str
    disputed: bool = False
    # The status of the plan the invoice is on (pending_card, active), if any.
    plan_status: str | None = None


def decide_offer(facts: InvoiceFacts, policy: Policy, today: dt.date) -> PlanOffer:
    """The plans the rules allow for this invoice today, or why there are none. Pure: no
    database, no clock."""
    rules = policy.plans
    refusal = _broken_rule(facts, policy)
    options = (
        []
        if refusal
        else fitting_options(
            facts.balance_minor, rules, today + dt.timedelta(days=rules.first_due_within_days)
        )
    )
    if not refusal and not options:
        refusal = "no_fitting_plan"
    default = (
        min(options, key=lambda o: (abs(o.count - rules.default_count), o.count))
        if options
        else None
    )
    return PlanOffer(
        facts.invoice_id,
        refusal is None,
        refusal or "eligible",
        options,
        default,
        balance_minor=facts.balance_minor,
        currency=facts.currency,
    )


def _broken_rule(facts: InvoiceFacts, policy: Policy) -> str | None:
    """The first rule the invoice breaks before any schedule is tried."""
    if not policy.skills.plans:
        return "plans_disabled"
    if facts.status != "open" or facts.balance_minor <= 0:
        return "not_open"
    if facts.disputed:
        return "disputed"
    if facts.plan_status == "active":
        # A plan still waiting for its card does not count: choosing again replaces it.
        return "already_on_plan"
    if facts.balance_minor < policy.plans.min_balance_minor:
        return "below_minimum"
    return None


def plan_options(
    session: Session, policy: Policy, invoice_id: str, today: dt.date | None = None
) -> PlanOffer:
    """The plans the rules allow for invoice_id today, or why there are none."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        return PlanOffer(invoice_id, False, "not_found")
    current = active_plan_for(session, invoice_id)
    facts = InvoiceFacts(
        invoice_id,
        invoice.status,
        invoice.balance_minor,
        invoice.currency,
        disputed=open_dispute_of(session, invoice_id) is not None,
        plan_status=current.status if current is not None else None,
    )
    return decide_offer(facts, policy, today or utcnow().date())
