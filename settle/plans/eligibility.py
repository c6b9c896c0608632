"""Whether an invoice may go on a plan today, which plans it is offered, and its current plan."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.billing.disputes import open_dispute_of
from settle.plans.schedule import PlanOption, fitting_options
from settle.policy import Policy
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


def plan_options(
    session: Session, policy: Policy, invoice_id: str, today: dt.date | None = None
) -> PlanOffer:
    """The plans the rules allow for invoice_id today, or why there are none."""
    today = today or utcnow().date()
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        return PlanOffer(invoice_id, False, "not_found")
    base = dict(balance_minor=invoice.balance_minor, currency=invoice.currency)
    rules = policy.plans
    if not policy.skills.plans:
        return PlanOffer(invoice_id, False, "plans_disabled", **base)
    if invoice.status != "open" or invoice.balance_minor <= 0:
        return PlanOffer(invoice_id, False, "not_open", **base)
    if open_dispute_of(session, invoice_id) is not None:
        return PlanOffer(invoice_id, False, "disputed", **base)
    current = active_plan_for(session, invoice_id)
    if current is not None and current.status == "active":
        # A plan still waiting for its card does not count: choosing again replaces it.
        return PlanOffer(invoice_id, False, "already_on_plan", **base)
    if invoice.balance_minor < rules.min_balance_minor:
        return PlanOffer(invoice_id, False, "below_minimum", **base)
    options = fitting_options(
        invoice.balance_minor, rules, today + dt.timedelta(days=rules.first_due_within_days)
    )
    if not options:
        return PlanOffer(invoice_id, False, "no_fitting_plan", **base)
    default = min(options, key=lambda o: (abs(o.count - rules.default_count), o.count))
    return PlanOffer(invoice_id, True, "eligible", options, default, **base)
