"""What Stripe's webhooks and reconciliation tell a plan: the card was saved (the plan
starts and its schedule is texted) or its page expired; an installment's charge succeeded
or failed; an installment was paid through its own pay-by-hand link.
"""

from __future__ import annotations

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.adapters.payments import PaymentGateway
from settle.billing.disputes import open_dispute_of
from settle.config import Settings
from settle.core import audit, i18n
from settle.core.money import format_money
from settle.messaging.notify import customer_locale, notify_customer
from settle.plans.installment_outcomes import (
    complete_plan_if_paid,
    record_installment_failed,
    record_installment_paid,
)
from settle.rules.policy import Policy
from settle.store import models
from settle.store.models import Customer, Invoice, Payment, PaymentLink, Plan, utcnow


def record_saved_card(
    session: Session,
    gateway: PaymentGateway,
    settings: Settings,
    checkout: dict,
    provider: str,
    event_id: str,
) -> str:
    """checkout.session.completed in setup mode: keep the card on the plan, activate it and
    text the schedule. The first installment is charged by the next charge pass (the
    service runs one right after this event)."""
    plan = session.scalar(select(Plan).where(Plan.setup_session_id == checkout.get("id")))
    if plan is None:
        plan_id = (checkout.get("metadata") or {}).get("plan_id")
        plan = session.get(Plan, int(plan_id)) if plan_id and str(plan_id).isdigit() else None
    if plan is None:
        audit.record(
            session, provider, "plan.unmatched", f"checkout:{checkout.get('id')}", event_id=event_id
        )
        return "unmatched"
    if plan.status != "pending_card":
        return "duplicate"
    invoice = session.get(Invoice, plan.invoice_id, with_for_update=True)
    if (
        invoice.status != "open"
        or invoice.balance_minor < plan.total_minor
        or open_dispute_of(session, invoice.id) is not None
    ):
        # Paid, changed or disputed since the plan was offered: no charges on this plan.
        plan.status = "cancelled"
        audit.record(
            session,
            provider,
            "plan.cancelled",
            f"invoice:{invoice.id}",
            plan_id=plan.id,
            reason="invoice changed before the card was saved",
            event_id=event_id,
            invoice_status=invoice.status,
            balance_minor=invoice.balance_minor,
        )
        return "plan_cancelled"
    setup_intent = checkout.get("setup_intent")
    if isinstance(setup_intent, dict) and setup_intent.get("payment_method"):
        method = setup_intent["payment_method"]
        method = method["id"] if isinstance(method, dict) else method
    elif setup_intent:
        method = gateway.saved_payment_method(
            setup_intent["id"] if isinstance(setup_intent, dict) else setup_intent
        )
    else:
        audit.record(
            session,
            provider,
            "plan.needs_review",
            f"plan:{plan.id}",
            event_id=event_id,
            problem="setup session without a setup intent",
        )
        return "needs_review"
    plan.payment_method_id = method
    if checkout.get("customer") and not plan.stripe_customer_id:
        plan.stripe_customer_id = checkout["customer"]
    plan.status, plan.activated_at = "active", utcnow()
    audit.record(
        session,
        provider,
        "plan.activated",
        f"invoice:{plan.invoice_id}",
        plan_id=plan.id,
        payment_method_id=method,
        event_id=event_id,
    )
    customer = session.get(Customer, plan.customer_id)
    locale = customer_locale(settings, customer)
    lines = "\n".join(
        i18n.text(
            "plan_line",
            customer.language,
            date=format_date(i.due_on, "medium", locale=locale),
            amount=format_money(i.amount_minor, plan.currency, locale),
        )
        for i in plan.installments
    )
    notify_customer(
        session,
        settings,
        customer,
        "plan_confirmed",
        idempotency_key=f"plan_confirmed:{plan.id}",
        actor=provider,
        invoice=plan.invoice_id,
        lines=lines,
    )
    return "plan_active"


def setup_page_expired(
    session: Session, checkout: dict, provider: str, event_id: str
) -> str | None:
    """checkout.session.expired in setup mode: the plan that waited for that card is
    cancelled (asking again makes a new one). None when no plan had that page."""
    plan = session.scalar(select(Plan).where(Plan.setup_session_id == checkout.get("id")))
    if plan is None:
        return None
    if plan.status != "pending_card":
        return "duplicate"
    plan.status = "cancelled"
    audit.record(
        session,
        provider,
        "plan.cancelled",
        f"invoice:{plan.invoice_id}",
        plan_id=plan.id,
        reason="card page expired",
        event_id=event_id,
    )
    return "plan_cancelled"


def installment_paid_by_hand(
    session: Session, link: PaymentLink, payment: Payment, actor: str
) -> str | None:
    """A payment through an installment's own link (reconciliation calls this): the
    installment is paid, and the plan completes when it was the last one."""
    installment = session.get(models.Installment, link.installment_id)
    if installment is None or installment.status == "paid":
        return None
    installment.status, installment.paid_at = "paid", utcnow()
    installment.next_attempt_at, installment.error = None, None
    plan = installment.plan
    if plan.status == "failed":  # the customer caught up by hand: charge the rest as planned
        plan.status = "active"
    session.flush()
    invoice = session.get(Invoice, plan.invoice_id)
    audit.record(
        session,
        actor,
        "installment.paid",
        f"invoice:{invoice.id}",
        plan_id=plan.id,
        installment_id=installment.id,
        seq=installment.seq,
        payment_id=payment.id,
        by_hand=True,
    )
    return (
        "plan_completed"
        if complete_plan_if_paid(session, plan, invoice, actor)
        else "installment_paid"
    )


def handle_plan_event(
    session: Session,
    settings: Settings,
    policy: Policy,
    event_type: str,
    obj: dict,
    provider: str,
    event_id: str,
) -> str | None:
    """payment_intent.succeeded / payment_intent.payment_failed for an installment; None when
    the payment intent is not an installment's (e.g. a checkout payment)."""
    if event_type not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return None
    I = models.Installment  # noqa: E741
    intent_id = obj.get("id")
    if not intent_id:
        return None
    installment_id = (obj.get("metadata") or {}).get("installment_id")
    installment = None
    if installment_id and str(installment_id).isdigit():
        installment = session.get(I, int(installment_id))
    if installment is None and intent_id:
        installment = session.scalar(select(I).where(I.provider_ref == intent_id))
    if installment is None:
        return None
    if event_type == "payment_intent.succeeded":
        amount = int(obj.get("amount_received") or obj.get("amount") or 0)
        if amount != installment.amount_minor:
            audit.record(
                session,
                provider,
                "installment.needs_review",
                f"installment:{installment.id}",
                event_id=event_id,
                amount_minor=amount,
            )
            return "needs_review"
        return record_installment_paid(
            session, settings, installment, intent_id, provider, provider
        )
    if installment.status == "paid":
        return "duplicate"
    if installment.provider_ref and installment.provider_ref != intent_id:
        return "stale"  # an older attempt's late failure; the newer attempt decides
    error = ((obj.get("last_payment_error") or {}).get("message")) or "declined"
    return record_installment_failed(
        session, settings, policy, installment, intent_id, error, provider
    )
