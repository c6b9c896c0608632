"""Payment plans: an invoice's balance in installments, charged off-session to a card saved
on Stripe, inside the business's rules.

Public entry points (the Rasa actions, the service and the CLI call these); the rest of
Settle imports from the modules themselves.
"""

from settle.plans.lifecycle import (
    PlanNotAvailable,
    ScheduleError,
    charge_due_installments,
    handle_plan_event,
    installment_paid_by_hand,
    plan_document,
    plan_options,
    record_saved_card,
    schedule,
    send_decline_notices,
    setup_page_expired,
    setup_page_expires,
    start_plan,
)

__all__ = [
    "PlanNotAvailable",
    "ScheduleError",
    "charge_due_installments",
    "handle_plan_event",
    "installment_paid_by_hand",
    "plan_document",
    "plan_options",
    "record_saved_card",
    "schedule",
    "send_decline_notices",
    "setup_page_expired",
    "setup_page_expires",
    "start_plan",
]
