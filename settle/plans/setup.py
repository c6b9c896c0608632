"""Starting a plan: the plan and its installments recorded, the card-saving page made and
its link texted.

The customer saves a card on Stripe's hosted page — a Checkout Session in **setup** mode
for a Stripe Customer that stands for ours. No card number reaches Settle. The page is
made in three steps (settle.store.claims), so no database lock is held while Stripe answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from settle.adapters.payments import PaymentGateway, PaymentGatewayError, SetupRequest
from settle.config import Settings
from settle.core import audit
from settle.core.clock import customer_today
from settle.core.phones import last_digits
from settle.messaging.notify import notify_customer
from settle.plans.eligibility import PlanNotAvailable, active_plan_for, plan_options
from settle.plans.schedule import PlanOption, ScheduledInstallment
from settle.rules.policy import Policy
from settle.store import claims, models
from settle.store.db import Store, must_get
from settle.store.models import Customer, Invoice, Plan, utcnow

# A card-saving page about to expire is not worth texting again: a new one is made.
SETUP_MIN_REMAINING = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class PlanStarted:
    plan_id: int
    url: str
    option: PlanOption
    phone_last_digits: str
    message_status: str
    reused: bool


def _option_of(plan: Plan) -> PlanOption:
    installments = tuple(ScheduledInstallment(i.due_on, i.amount_minor) for i in plan.installments)
    return PlanOption(plan.installment_count, plan.interval, installments, installments[0].due_on)


def start_plan(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    policy: Policy,
    customer_id: str,
    invoice_id: str,
    count: int,
    request_key: str,
    actor: str,
    conversation_id: str | None = None,
    channel: str | None = None,
    text_it: bool = True,
    today: dt.date | None = None,
) -> PlanStarted:
    """Record a plan of count installments for invoice_id (status pending_card), create the
    card-saving page and text its link. The same request again returns the same plan; a plan
    the customer has already confirmed with a card raises PlanNotAvailable("already_on_plan").

    Three steps, so no database lock is held while Stripe answers (settle.store.claims): the
    plan and a claim for its page, the calls (the customer at Stripe, then the page), the
    page recorded and the text queued. Raises PaymentGatewayError when Stripe fails; the
    same request again asks once more.
    """
    with store.unit_of_work() as session:
        plan_id, claim_id, reused = _plan_and_claim(
            session,
            gateway,
            settings,
            policy,
            customer_id,
            invoice_id,
            count,
            request_key,
            actor,
            conversation_id,
            channel,
            today,
        )
        request = _setup_request(session, settings, plan_id, claim_id) if claim_id else None
        customer = must_get(session, Customer, customer_id)
        who = (customer.id, customer.name, customer.phone, customer.email)
        reused_stripe_customer = _known_stripe_customer(customer, gateway)
    if request is not None and claim_id is not None:
        try:
            stripe_customer = reused_stripe_customer or gateway.ensure_customer(
                *who, idempotency_key=f"settle:customer:{customer_id}"
            )
            request = replace(request, stripe_customer_id=stripe_customer)
            setup = gateway.create_setup_checkout(request)
        except PaymentGatewayError as error:
            with store.unit_of_work() as session:
                claims.finish(session, claim_id, error=str(error)[:500])
                audit.record(
                    session,
                    actor,
                    "plan.setup_page_failed",
                    f"invoice:{invoice_id}",
                    plan_id=plan_id,
                    error=str(error)[:500],
                )
            raise
    with store.unit_of_work() as session:
        plan = must_get(session, Plan, plan_id)
        if request is not None and claim_id is not None:
            _record_setup_page(session, gateway, plan, claim_id, request, setup, actor)
        return _text_setup_link(session, settings, plan, request_key, actor, text_it, reused)


def _plan_and_claim(
    session: Session,
    gateway: PaymentGateway,
    settings: Settings,
    policy: Policy,
    customer_id: str,
    invoice_id: str,
    count: int,
    request_key: str,
    actor: str,
    conversation_id: str | None,
    channel: str | None,
    today: dt.date | None,
) -> tuple[int, int | None, bool]:
    """(plan id, the claim for its card-saving page or None when it has one already,
    whether the plan was there before this request)."""
    # Locked, so two racing requests for one invoice make one plan (SQLite locks anyway).
    invoice = session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None or invoice.customer_id != customer_id:
        raise PlanNotAvailable(
            "not_found", f"invoice {invoice_id} is not an invoice of customer {customer_id}"
        )
    customer: Customer = invoice.customer
    today = today or customer_today(
        customer.timezone, utcnow()
    )  # "the first today" is the customer's day
    plan = active_plan_for(session, invoice_id)
    page_expired = (
        plan is not None
        and plan.status == "pending_card"
        and (setup_page_expires(plan, settings) < utcnow() + SETUP_MIN_REMAINING)
    )
    reused = plan is not None and plan.installment_count == count and not page_expired
    if plan is not None and not reused:
        if plan.status != "pending_card":
            raise PlanNotAvailable(
                "already_on_plan",
                f"invoice {invoice_id} already has an active plan of {plan.installment_count}",
            )
        # The customer changed their mind before saving a card, or let the page expire:
        # a new plan (and page) replaces it.
        plan.status = "cancelled"
        audit.record(
            session,
            actor,
            "plan.cancelled",
            f"invoice:{invoice_id}",
            plan_id=plan.id,
            reason="card page expired" if page_expired else "replaced before the card was saved",
        )
        session.flush()
    if not reused:
        offer = plan_options(session, policy, invoice_id, today)
        if not offer.eligible:
            raise PlanNotAvailable(offer.reason)
        option = next((o for o in offer.options if o.count == count), None)
        if option is None:
            raise PlanNotAvailable(
                "count_not_allowed",
                f"{count} installments are not allowed for {invoice_id}; "
                f"allowed: {[o.count for o in offer.options]}",
            )
        plan = _create_plan(
            session,
            invoice,
            customer,
            option,
            request_key,
            actor,
            conversation_id,
            channel,
            gateway.provider,
        )
    assert plan is not None  # the one reused, or the one made just above
    if plan.setup_url:
        return plan.id, None, reused
    expires = utcnow() + dt.timedelta(minutes=settings.business.checkout_link_minutes)
    claim = claims.claim(
        session,
        "setup",
        f"plan:{plan.id}",
        plan.total_minor,
        {"expires_at": expires.isoformat(), "provider": gateway.provider},
    )
    return plan.id, claim.id, reused


def _known_stripe_customer(customer: Customer, gateway: PaymentGateway) -> str | None:
    """The gateway's customer for ours, when one was made already (kept on the customer)."""
    sandbox_id = (customer.stripe_customer_id or "").startswith("cus_sandbox_")
    if customer.stripe_customer_id and sandbox_id == (gateway.provider == "sandbox"):
        return customer.stripe_customer_id
    return None


def _setup_request(
    session: Session, settings: Settings, plan_id: int, claim_id: int
) -> SetupRequest:
    """The card-saving page's request exactly as claimed (the same key, the same values)."""
    plan, claim = session.get(Plan, plan_id), session.get(claims.GatewayClaim, claim_id)
    base = settings.public_base_url
    return SetupRequest(
        plan_id=plan.id,
        invoice_id=plan.invoice_id,
        customer_id=plan.customer_id,
        stripe_customer_id="",  # filled in once the gateway's customer is known
        expires_at=dt.datetime.fromisoformat(claim.params["expires_at"]),
        idempotency_key=claim.idempotency_key,
        success_url=f"{base}/plans/saved?plan={plan.id}",
        cancel_url=f"{base}/plans/cancelled?plan={plan.id}",
        metadata={"installments": str(plan.installment_count), "settle_claim": str(claim.id)},
    )


def _record_setup_page(
    session: Session,
    gateway: PaymentGateway,
    plan: Plan,
    claim_id: int,
    request: SetupRequest,
    setup,
    actor: str,
) -> None:
    # The invoice's lock, as _plan_and_claim holds it: a racing twin then reads the claim and
    # the page as one (both in flight, or both recorded) and never makes a second claim.
    session.get(Invoice, plan.invoice_id, with_for_update=True)
    claims.finish(session, claim_id, result_ref=setup.id)
    customer = session.get(Customer, plan.customer_id)
    customer.stripe_customer_id = plan.stripe_customer_id = request.stripe_customer_id
    if plan.setup_url is None:  # a racing twin may have recorded the same page first
        plan.setup_session_id, plan.setup_url = setup.id, setup.url
    audit.record(
        session,
        actor,
        "plan.setup_page",
        f"invoice:{plan.invoice_id}",
        plan_id=plan.id,
        setup_session_id=setup.id,
        provider=gateway.provider,
        idempotency_key=request.idempotency_key,
    )


def _text_setup_link(
    session: Session,
    settings: Settings,
    plan: Plan,
    request_key: str,
    actor: str,
    text_it: bool,
    reused: bool,
) -> PlanStarted:
    option = _option_of(plan)
    customer = session.get(Customer, plan.customer_id)
    if not text_it:
        return PlanStarted(
            plan.id, plan.setup_url, option, last_digits(customer.phone), "not_sent", reused
        )
    message = notify_customer(
        session,
        settings,
        customer,
        "plan_setup_link",
        idempotency_key=f"plan_setup:{plan.id}:{request_key}",
        actor=actor,
        money={"amount": (option.amount_minor, plan.currency)},
        dates={"first": option.first_due_on},
        invoice=plan.invoice_id,
        count=option.count,
        url=plan.setup_url,
    )
    return PlanStarted(
        plan.id, plan.setup_url, option, last_digits(customer.phone), message.status, reused
    )


def setup_page_expires(plan: Plan, settings: Settings) -> dt.datetime:
    """When the plan's card-saving page stops taking a card."""
    return plan.created_at + dt.timedelta(minutes=settings.business.checkout_link_minutes)


def _create_plan(
    session: Session,
    invoice: Invoice,
    customer: Customer,
    option: PlanOption,
    request_key: str,
    actor: str,
    conversation_id: str | None,
    channel: str | None,
    provider: str,
) -> Plan:
    plan = Plan(
        invoice_id=invoice.id,
        customer_id=customer.id,
        status="pending_card",
        installment_count=option.count,
        interval=option.interval,
        total_minor=option.total_minor,
        currency=invoice.currency,
        request_key=request_key,
        conversation_id=conversation_id,
        channel=channel,
    )
    session.add(plan)
    session.flush()
    for seq, installment in enumerate(option.installments, start=1):
        session.add(
            models.Installment(
                plan_id=plan.id,
                seq=seq,
                due_on=installment.due_on,
                amount_minor=installment.amount_minor,
                status="scheduled",
                attempts=0,
            )
        )
    session.flush()
    audit.record(
        session,
        actor,
        "plan.created",
        f"invoice:{invoice.id}",
        plan_id=plan.id,
        installments=[[i.due_on.isoformat(), i.amount_minor] for i in option.installments],
        total_minor=option.total_minor,
        currency=invoice.currency,
        provider=provider,
    )
    return plan
