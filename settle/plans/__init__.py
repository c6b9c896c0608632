"""Payment plans: an invoice's balance in installments, charged off-session to a card saved
on Stripe, inside the business's rules.

Public entry points (the Rasa actions, the service and the CLI call these); the rest of
Settle imports from the modules themselves:

* schedule — the schedule maths and its value types (no I/O)
* eligibility — which plans an invoice is offered, or why none (decide_offer: pure)
* setup — starting a plan: the plan recorded, the card-saving page made and texted
* charging — the engine's pass: claim each installment due, charge it off-session
* installment_outcomes — a charge paid or declined, recorded once
* notices — reminder texts before installments, decline texts with a pay-by-hand link
* events — what Stripe's webhooks tell a plan (card saved, page expired, charge answered)
* document — a plan as the CLI's JSON
* conversation — what the Rasa actions ask: the offer for an invoice, a plan started
"""

from settle.plans.charging import charge_due_installments
from settle.plans.conversation import (
    InvoicePlanOffer,
    StartedPlan,
    plan_offer,
    start_plan_in_conversation,
)
from settle.plans.document import plan_document
from settle.plans.eligibility import PlanNotAvailable, plan_options
from settle.plans.events import (
    handle_plan_event,
    installment_paid_by_hand,
    record_saved_card,
    setup_page_expired,
)
from settle.plans.notices import send_decline_notices
from settle.plans.schedule import ScheduleError, schedule
from settle.plans.setup import setup_page_expires, start_plan

__all__ = [
    "InvoicePlanOffer",
    "PlanNotAvailable",
    "ScheduleError",
    "StartedPlan",
    "charge_due_installments",
    "handle_plan_event",
    "installment_paid_by_hand",
    "plan_document",
    "plan_offer",
    "plan_options",
    "record_saved_card",
    "schedule",
    "send_decline_notices",
    "setup_page_expired",
    "setup_page_expires",
    "start_plan",
    "start_plan_in_conversation",
]
