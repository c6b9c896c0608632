"""Payment plans: an invoice's balance in installments, charged to a card saved on Stripe.

How the money moves, and why this way:

* The customer saves a card on Stripe's hosted page — a Checkout Session in **setup** mode
  for a Stripe Customer that stands for ours. No card number reaches Settle.
* Each installment is charged **off-session** on its date by the Settle service: a
  PaymentIntent with `off_session=true, confirm=true` and an idempotency key made of the
  installment's id and attempt number, after the installment row has been claimed, so two
  workers (or a retried pass) never charge it twice, and a crash mid-call is repeated with
  the same key and gets Stripe's first answer back.

Not a Stripe Subscription Schedule: installments differ by a few cents (the remainder goes on
the first), belong to one invoice rather than to a product price, and must stop, retry or be
paid by hand per the business's rules. With a schedule, Stripe would own the dates and the
amounts would need one price object per installment; here the billing store owns the
schedule, the retry rules and the reminders, and each charge is one plain payment that the
existing reconciliation records exactly once (Payment.provider_ref is the PaymentIntent id).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass, field, replace

from babel.dates import format_date
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle.adapters.payments import (
    CheckoutRequest,
    OffSessionCharge,
    PaymentGateway,
    PaymentGatewayError,
    SetupRequest,
)
from settle.billing.ledger import add_to_paid
from settle.config import Settings
from settle.core import audit, i18n
from settle.core.money import format_money
from settle.core.phones import last_digits
from settle.messaging.outbox import queue_sms
from settle.policy import INTERVALS, PlanRules, Policy
from settle.store import claims, models
from settle.store.db import Store, must_get
from settle.store.models import (
    Customer,
    Dispute,
    Invoice,
    Message,
    Payment,
    PaymentLink,
    Plan,
    utcnow,
)

log = logging.getLogger(__name__)

ACTIVE = ("pending_card", "active")
# A claimed installment whose charge got no answer (a crash, a timeout) is tried again after
# this long, with the same idempotency key: Stripe answers with the first result.
CLAIM_LEASE = dt.timedelta(minutes=15)
# A card-saving page about to expire is not worth texting again: a new one is made.
SETUP_MIN_REMAINING = dt.timedelta(minutes=30)
# A charge Stripe reports as processing is settled by its webhook; asked again after this.
PROCESSING_RECHECK = dt.timedelta(hours=6)


class PlanNotAvailable(Exception):
    """No plan can be started: reason is a code the conversation explains
    (not_found, plans_disabled, not_open, disputed, already_on_plan, below_minimum,
    no_fitting_plan, count_not_allowed)."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


class ScheduleError(ValueError):
    """This count does not fit the rules (reason: below_min_installment, too_long)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Installment:
    due_on: dt.date
    amount_minor: int


@dataclass(frozen=True)
class PlanOption:
    count: int
    interval: str
    installments: tuple[Installment, ...]
    first_due_on: dt.date

    @property
    def total_minor(self) -> int:
        return sum(i.amount_minor for i in self.installments)

    @property
    def first_amount_minor(self) -> int:
        return self.installments[0].amount_minor

    @property
    def amount_minor(self) -> int:
        """The regular installment (the first may carry a few extra cents)."""
        return self.installments[-1].amount_minor

    @property
    def last_due_on(self) -> dt.date:
        return self.installments[-1].due_on

    def describe(self) -> dict:
        return {
            "count": self.count,
            "interval": self.interval,
            "first_due_on": self.first_due_on.isoformat(),
            "last_due_on": self.last_due_on.isoformat(),
            "installments": [
                {"due_on": i.due_on.isoformat(), "amount_minor": i.amount_minor}
                for i in self.installments
            ],
        }


@dataclass(frozen=True)
class PlanOffer:
    invoice_id: str
    eligible: bool
    reason: str  # "eligible", or why not (see PlanNotAvailable)
    options: list[PlanOption] = field(default_factory=list)
    default: PlanOption | None = None
    balance_minor: int = 0
    currency: str = ""


@dataclass(frozen=True)
class PlanStarted:
    plan_id: int
    url: str
    option: PlanOption
    phone_last_digits: str
    message_status: str
    reused: bool


@dataclass
class ChargeSummary:
    """What one pass of charge_due_installments did (for logs, the CLI and tests)."""

    charged: int = 0
    failed: int = 0
    processing: int = 0
    unanswered: int = 0
    reminded: int = 0
    notified: int = 0  # decline texts queued (each with its pay-by-hand link)


# --- the schedule -----------------------------------------------------------------------


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(start: dt.date, count: int, interval: str) -> list[dt.date]:
    if interval == "monthly":  # the same day each month, or the month's last day
        return [_add_months(start, n) for n in range(count)]
    return [start + dt.timedelta(days=INTERVALS[interval] * n) for n in range(count)]


def schedule(balance_minor: int, count: int, rules: PlanRules, start: dt.date) -> list[Installment]:
    """balance_minor in count installments from start: they add up to the balance exactly
    (the remainder cents go on the first), none is below the minimum, and the last is due
    within max_days of the first. Raises ScheduleError when count cannot do all three."""
    if count < 1:
        raise ScheduleError(
            "count_not_allowed", f"a plan needs at least one installment, got {count}"
        )
    regular, remainder = divmod(balance_minor, count)
    if regular < rules.min_installment_minor:
        raise ScheduleError(
            "below_min_installment",
            f"{count} installments of {regular} are below the minimum "
            f"{rules.min_installment_minor}",
        )
    dates = due_dates(start, count, rules.interval)
    if (dates[-1] - dates[0]).days > rules.max_days:
        raise ScheduleError(
            "too_long",
            f"{count} {rules.interval} installments take "
            f"{(dates[-1] - dates[0]).days} days, more than {rules.max_days}",
        )
    return [Installment(day, regular + (remainder if n == 0 else 0)) for n, day in enumerate(dates)]


def _options(balance_minor: int, rules: PlanRules, start: dt.date) -> list[PlanOption]:
    options = []
    for count in sorted(rules.installment_counts):
        try:
            installments = schedule(balance_minor, count, rules, start)
        except ScheduleError:
            continue
        options.append(PlanOption(count, rules.interval, tuple(installments), start))
    return options


def open_dispute_for(session: Session, invoice_id: str) -> Dispute | None:
    return session.scalar(
        select(Dispute).where(Dispute.invoice_id == invoice_id, Dispute.status == "open").limit(1)
    )


def active_plan_for(session: Session, invoice_id: str) -> Plan | None:
    return session.scalar(
        select(Plan)
        .where(Plan.invoice_id == invoice_id, Plan.status.in_(ACTIVE))
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
    if open_dispute_for(session, invoice_id) is not None:
        return PlanOffer(invoice_id, False, "disputed", **base)
    current = active_plan_for(session, invoice_id)
    if current is not None and current.status == "active":
        # A plan still waiting for its card does not count: choosing again replaces it.
        return PlanOffer(invoice_id, False, "already_on_plan", **base)
    if invoice.balance_minor < rules.min_balance_minor:
        return PlanOffer(invoice_id, False, "below_minimum", **base)
    options = _options(
        invoice.balance_minor, rules, today + dt.timedelta(days=rules.first_due_within_days)
    )
    if not options:
        return PlanOffer(invoice_id, False, "no_fitting_plan", **base)
    default = min(options, key=lambda o: (abs(o.count - rules.default_count), o.count))
    return PlanOffer(invoice_id, True, "eligible", options, default, **base)


# --- starting a plan ---------------------------------------------------------------------


def _option_of(plan: Plan) -> PlanOption:
    installments = tuple(Installment(i.due_on, i.amount_minor) for i in plan.installments)
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
    today = today or _local_today(customer, utcnow())  # "the first today" is the customer's day
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
    locale = i18n.locale_for(customer.language, settings.business.default_region)
    body = i18n.text(
        "plan_setup_link",
        customer.language,
        business=settings.business.name,
        invoice=plan.invoice_id,
        count=option.count,
        amount=format_money(option.amount_minor, plan.currency, locale),
        first=format_date(option.first_due_on, "medium", locale=locale),
        url=plan.setup_url,
    )
    message = queue_sms(
        session,
        customer.phone,
        body,
        key=f"plan_setup:{plan.id}:{request_key}",
        actor=actor,
        customer_id=customer.id,
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


# --- the card is saved: the plan starts ---------------------------------------------------


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
        or open_dispute_for(session, invoice.id) is not None
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
    locale = i18n.locale_for(customer.language, settings.business.default_region)
    lines = "\n".join(
        i18n.text(
            "plan_line",
            customer.language,
            date=format_date(i.due_on, "medium", locale=locale),
            amount=format_money(i.amount_minor, plan.currency, locale),
        )
        for i in plan.installments
    )
    queue_sms(
        session,
        customer.phone,
        i18n.text(
            "plan_confirmed",
            customer.language,
            business=settings.business.name,
            invoice=plan.invoice_id,
            lines=lines,
        ),
        key=f"plan_confirmed:{plan.id}",
        actor=provider,
        customer_id=customer.id,
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


# --- charging installments -----------------------------------------------------------------


def _local_today(customer: Customer, now: dt.datetime) -> dt.date:
    try:
        return now.astimezone(zoneinfo.ZoneInfo(customer.timezone)).date()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return now.date()


def charge_due_installments(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    policy: Policy,
    now: dt.datetime | None = None,
    plan_id: int | None = None,
) -> ChargeSummary:
    """One pass of the plan engine: remind before upcoming installments, then charge each
    installment due today (in the customer's time zone) or due for a retry. Each charge is
    claimed in its own transaction first, so concurrent passes never charge one twice."""
    now = now or utcnow()
    summary = ChargeSummary()
    summary.reminded = send_installment_reminders(store, settings, policy, now, plan_id)
    for installment_id in _due_installments(store, now, plan_id):
        claim = _claim(store, installment_id, now)
        if claim is None:
            continue  # another pass took it, or it changed
        charge = OffSessionCharge(
            stripe_customer_id=claim["stripe_customer_id"],
            payment_method_id=claim["payment_method_id"],
            amount_minor=claim["amount_minor"],
            currency=claim["currency"],
            description=f"Invoice {claim['invoice_id']} installment {claim['seq']} of "
            f"{claim['count']}",
            idempotency_key=f"settle:installment:{installment_id}:{claim['attempt']}",
            metadata={
                "invoice_id": claim["invoice_id"],
                "plan_id": str(claim["plan_id"]),
                "installment_id": str(installment_id),
                "attempt": str(claim["attempt"]),
            },
        )
        try:
            result = gateway.charge_off_session(charge)
        except PaymentGatewayError as error:
            # Unknown whether it went through: the lease expires and the same key asks again.
            log.warning("Installment %s: no answer from the gateway: %s", installment_id, error)
            with store.unit_of_work() as session:
                audit.record(
                    session,
                    "settle",
                    "installment.charge_unanswered",
                    f"installment:{installment_id}",
                    error=str(error),
                    idempotency_key=charge.idempotency_key,
                )
            summary.unanswered += 1
            continue
        try:
            with store.unit_of_work() as session:
                installment = session.get(models.Installment, installment_id)
                if result.status == "succeeded" and result.id:
                    record_installment_paid(
                        session,
                        settings,
                        installment,
                        result.id,
                        gateway.provider,
                        "settle",
                        claim["amount_minor"],
                    )
                    summary.charged += 1
                elif result.status == "processing":
                    installment.provider_ref = result.id
                    installment.next_attempt_at = now + PROCESSING_RECHECK
                    summary.processing += 1
                else:
                    record_installment_failed(
                        session,
                        settings,
                        policy,
                        installment,
                        result.id,
                        result.error or "declined",
                        "settle",
                        now,
                    )
                    summary.failed += 1
        except IntegrityError:
            # Stripe's webhook for this very charge was recorded in between (same
            # provider_ref): the payment exists once, which is all that matters.
            log.info("Installment %s was settled by its webhook first", installment_id)
    summary.notified = send_decline_notices(store, gateway, settings, policy, now)
    return summary


def _due_installments(store: Store, now: dt.datetime, plan_id: int | None) -> list[int]:
    I = models.Installment  # noqa: E741 - short alias in the query
    with store.unit_of_work() as session:
        query = (
            select(I, Customer)
            .join(Plan, Plan.id == I.plan_id)
            .join(Customer, Customer.id == Plan.customer_id)
            .where(
                Plan.status == "active",
                I.due_on <= now.date() + dt.timedelta(days=1),  # time zones: filtered below
                or_(
                    and_(
                        I.status == "scheduled",
                        or_(I.next_attempt_at.is_(None), I.next_attempt_at <= now),
                    ),
                    and_(
                        I.status.in_(("failed", "processing")),
                        I.next_attempt_at.is_not(None),
                        I.next_attempt_at <= now,
                    ),
                ),
            )
            .order_by(I.due_on, I.id)
        )
        if plan_id is not None:
            query = query.where(Plan.id == plan_id)
        return [
            i.id
            for i, customer in session.execute(query).all()
            if i.due_on <= _local_today(customer, now)
        ]


def _claim(store: Store, installment_id: int, now: dt.datetime) -> dict | None:
    """Take the installment for one charge attempt (compare-and-set on status and attempts);
    None when another worker took it first."""
    I = models.Installment  # noqa: E741
    with store.unit_of_work() as session:
        installment = session.get(I, installment_id)
        if installment is None:
            return None
        plan = installment.plan
        status, attempts, due_at = (
            installment.status,
            installment.attempts,
            installment.next_attempt_at,
        )
        # Still due now? Another pass may have claimed (or settled) it since the list was made.
        if (
            plan.status != "active"
            or status == "paid"
            or (due_at is None and status != "scheduled")
            or (due_at is not None and due_at > now)
        ):
            return None
        # Never a charge for an invoice paid by other means, void or disputed, nor for more
        # than its balance.
        invoice = session.get(Invoice, plan.invoice_id, with_for_update=True)
        if invoice.status != "open" or invoice.balance_minor <= 0:
            plan.status = "completed" if invoice.status == "paid" else "cancelled"
            audit.record(
                session,
                "settle",
                "plan.stopped",
                f"invoice:{invoice.id}",
                plan_id=plan.id,
                reason=f"invoice {invoice.status}, nothing left to pay",
            )
            return None
        if open_dispute_for(session, invoice.id) is not None:
            return None  # paused while disputed: charged (or stopped) once a person decides
        if installment.amount_minor > invoice.balance_minor:  # never more than is owed
            audit.record(
                session,
                "settle",
                "installment.reduced",
                f"installment:{installment_id}",
                planned_minor=installment.amount_minor,
                balance_minor=invoice.balance_minor,
            )
            installment.amount_minor = invoice.balance_minor
        amount = installment.amount_minor
        # An unanswered attempt is asked again under its own number (same idempotency key).
        attempt = attempts if status == "processing" else attempts + 1
        unchanged = I.next_attempt_at.is_(None) if due_at is None else I.next_attempt_at == due_at
        claimed = session.execute(
            update(I)
            .where(I.id == installment_id, I.status == status, I.attempts == attempts, unchanged)
            .values(status="processing", attempts=attempt, next_attempt_at=now + CLAIM_LEASE)
        ).rowcount
        if claimed != 1:
            return None
        audit.record(
            session,
            "settle",
            "installment.claimed",
            f"installment:{installment_id}",
            attempt=attempt,
        )
        return {
            "attempt": attempt,
            "plan_id": plan.id,
            "invoice_id": plan.invoice_id,
            "seq": installment.seq,
            "count": plan.installment_count,
            "amount_minor": amount,
            "currency": plan.currency,
            "stripe_customer_id": plan.stripe_customer_id,
            "payment_method_id": plan.payment_method_id,
        }


def record_installment_paid(
    session: Session,
    settings: Settings,
    installment,
    intent_id: str,
    provider: str,
    actor: str,
    amount_minor: int | None = None,
) -> str:
    """A successful charge: one Payment (provider_ref = the PaymentIntent, so a webhook for
    the same charge is a no-op), the invoice balance lowered, a receipt; the last one closes
    the plan and the invoice."""
    if session.scalar(select(Payment.id).where(Payment.provider_ref == intent_id)) is not None:
        return "duplicate"
    plan: Plan = installment.plan
    invoice = session.get(Invoice, plan.invoice_id)
    amount_minor = installment.amount_minor if amount_minor is None else amount_minor
    payment = Payment(
        invoice_id=invoice.id,
        amount_minor=amount_minor,
        currency=plan.currency,
        provider=provider,
        provider_ref=intent_id,
    )
    session.add(payment)
    invoice = add_to_paid(session, invoice.id, amount_minor)
    installment.status, installment.paid_at = "paid", utcnow()
    installment.provider_ref, installment.next_attempt_at, installment.error = intent_id, None, None
    session.flush()
    completed = _complete_if_done(session, plan, invoice, actor)
    audit.record(
        session,
        actor,
        "installment.paid",
        f"invoice:{invoice.id}",
        plan_id=plan.id,
        installment_id=installment.id,
        seq=installment.seq,
        payment_id=payment.id,
        amount_minor=installment.amount_minor,
        provider_ref=intent_id,
        balance_minor=invoice.balance_minor,
    )
    customer = session.get(Customer, plan.customer_id)
    locale = i18n.locale_for(customer.language, settings.business.default_region)
    key = "plan_completed" if completed else "installment_paid"
    body = i18n.text(
        key,
        customer.language,
        business=settings.business.name,
        invoice=invoice.id,
        seq=installment.seq,
        count=plan.installment_count,
        amount=format_money(installment.amount_minor, plan.currency, locale),
        balance=format_money(invoice.balance_minor, plan.currency, locale),
    )
    queue_sms(
        session,
        customer.phone,
        body,
        key=f"installment_paid:{installment.id}",
        actor=actor,
        customer_id=customer.id,
    )
    return "plan_completed" if completed else "installment_paid"


def _complete_if_done(session: Session, plan: Plan, invoice: Invoice, actor: str) -> bool:
    if any(i.status != "paid" for i in plan.installments):
        return False
    plan.status = "completed"
    if invoice.balance_minor == 0:
        invoice.status = "paid"
    audit.record(
        session,
        actor,
        "plan.completed",
        f"invoice:{invoice.id}",
        plan_id=plan.id,
        invoice_status=invoice.status,
    )
    return True


def record_installment_failed(
    session: Session,
    settings: Settings,
    policy: Policy,
    installment,
    intent_id: str | None,
    error: str,
    actor: str,
    now: dt.datetime | None = None,
) -> str:
    """A declined charge: the attempt is marked failed, and another attempt is scheduled while
    retries are left (else the plan fails and a person follows up). The customer's text, with
    a link to pay that installment by hand, follows from send_decline_notices, after this
    transaction: no Stripe call is made while it holds its locks."""
    now = now or utcnow()
    if installment.status == "paid" or (
        installment.status == "failed" and installment.provider_ref == intent_id
    ):
        return "duplicate"
    plan: Plan = installment.plan
    retries_left = installment.attempts <= policy.plans.retry_attempts
    installment.status, installment.error = "failed", error
    if intent_id:
        installment.provider_ref = intent_id
    installment.next_attempt_at = (
        now + dt.timedelta(days=policy.plans.retry_days) if retries_left else None
    )
    if not retries_left:
        plan.status = "failed"
    audit.record(
        session,
        actor,
        "installment.failed",
        f"invoice:{plan.invoice_id}",
        plan_id=plan.id,
        installment_id=installment.id,
        attempt=installment.attempts,
        provider_ref=intent_id,
        error=error,
        next_attempt_at=installment.next_attempt_at.isoformat()
        if installment.next_attempt_at
        else None,
        plan_status=plan.status,
    )
    return "installment_failed" if retries_left else "plan_failed"


def send_decline_notices(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    policy: Policy,
    now: dt.datetime | None = None,
    installment_ids: list[int] | None = None,
) -> int:
    """Text each declined installment's customer once per attempt, with a link to pay it by
    hand; returns how many were queued. The link is made with no transaction open (three
    steps, settle.store.claims); a notice whose link Stripe could not make waits for the
    next pass. Every plan pass calls this, so a crash between the decline and its text loses
    nothing."""
    now = now or utcnow()
    I = models.Installment  # noqa: E741
    with store.unit_of_work() as session:
        query = (
            select(I.id, I.attempts)
            .join(Plan, Plan.id == I.plan_id)
            .join(Invoice, Invoice.id == Plan.invoice_id)
            .where(
                I.status == "failed",
                Plan.status.in_(("active", "failed")),
                Invoice.status == "open",
            )
        )
        if installment_ids is not None:
            query = query.where(I.id.in_(installment_ids))
        failed = {f"installment_failed:{i}:{attempts}": i for i, attempts in session.execute(query)}
        told = set(
            session.scalars(
                select(Message.idempotency_key).where(Message.idempotency_key.in_(list(failed)))
            )
        )
    queued = 0
    for key, installment_id in failed.items():
        if key in told:
            continue
        try:
            link_id = installment_link(store, gateway, settings, installment_id, "settle", now)
        except PaymentGatewayError as error:
            log.warning(
                "Installment %s: no pay link yet, the notice waits: %s", installment_id, error
            )
            continue
        if link_id is None:
            continue  # no longer payable by hand (paid, disputed, retried meanwhile)
        with store.unit_of_work() as session:
            queued += _queue_decline_notice(
                session, settings, policy, installment_id, key, session.get(PaymentLink, link_id)
            )
    return queued


def _queue_decline_notice(
    session: Session,
    settings: Settings,
    policy: Policy,
    installment_id: int,
    key: str,
    link: PaymentLink,
) -> int:
    installment = session.get(models.Installment, installment_id)
    if (
        installment.status != "failed"
        or key != f"installment_failed:{installment.id}:{installment.attempts}"
        or link.status != "open"
    ):
        return 0
    plan: Plan = installment.plan
    customer = session.get(Customer, plan.customer_id)
    locale = i18n.locale_for(customer.language, settings.business.default_region)
    values = dict(
        business=settings.business.name,
        invoice=plan.invoice_id,
        seq=installment.seq,
        count=plan.installment_count,
        url=link.url,
        amount=format_money(link.amount_minor, plan.currency, locale),
        support_phone=policy.handoff.phone_for("plans") or settings.business.support_phone,
    )
    if installment.next_attempt_at is not None:
        body = i18n.text(
            "installment_failed",
            customer.language,
            retry=format_date(installment.next_attempt_at.date(), "medium", locale=locale),
            **values,
        )
    else:
        body = i18n.text("installment_failed_final", customer.language, **values)
    queue_sms(
        session,
        customer.phone,
        body,
        key=key,
        actor="settle",
        customer_id=customer.id,
        proactive=True,
    )  # charges fall due at local midnight: held to their hours
    return 1


def installment_link(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    installment_id: int,
    actor: str,
    now: dt.datetime | None = None,
) -> int | None:
    """The id of a hosted checkout page for one declined installment (never more than the
    invoice's balance), made if needed in three steps with no transaction open while Stripe
    answers; None when it is no longer for paying by hand. Raises PaymentGatewayError.

    It expires before the next automatic attempt, so the customer cannot pay by hand what
    the retry is about to charge.
    """
    with store.unit_of_work() as session:
        found = _installment_link_or_claim(session, gateway, settings, installment_id, now)
    if not isinstance(found, tuple):
        return found
    claim_id, request = found
    try:
        checkout, error = gateway.create_checkout(request), None
    except PaymentGatewayError as failure:
        checkout, error = None, failure
    with store.unit_of_work() as session:
        if checkout is None or error is not None:
            claims.finish(session, claim_id, error=str(error)[:500])
            raise error or PaymentGatewayError("no checkout made")
        claims.finish(session, claim_id, result_ref=checkout.id)
        link = session.scalar(select(PaymentLink).where(PaymentLink.session_id == checkout.id))
        if link is None:
            link = PaymentLink(
                invoice_id=request.invoice_id,
                provider=gateway.provider,
                session_id=checkout.id,
                url=checkout.url,
                amount_minor=request.amount_minor,
                currency=request.currency,
                expires_at=checkout.expires_at,
                installment_id=installment_id,
            )
            session.add(link)
            session.flush()
            audit.record(
                session,
                actor,
                "payment_link.created",
                f"invoice:{request.invoice_id}",
                session_id=checkout.id,
                amount_minor=request.amount_minor,
                installment_id=installment_id,
                idempotency_key=request.idempotency_key,
            )
        return link.id


def _installment_link_or_claim(
    session: Session,
    gateway: PaymentGateway,
    settings: Settings,
    installment_id: int,
    now: dt.datetime | None,
):
    """The usable link's id, None (nothing to pay by hand), or (claim id, the request)."""
    now = now or utcnow()
    installment = session.get(models.Installment, installment_id)
    plan: Plan = installment.plan
    invoice = session.get(Invoice, plan.invoice_id, with_for_update=True)
    if (
        installment.status != "failed"
        or invoice.status != "open"
        or invoice.balance_minor <= 0
        or open_dispute_for(session, invoice.id) is not None
    ):
        return None
    amount = min(installment.amount_minor, invoice.balance_minor)
    existing = session.scalar(
        select(PaymentLink.id)
        .where(
            PaymentLink.installment_id == installment.id,
            PaymentLink.status == "open",
            PaymentLink.amount_minor == amount,
            PaymentLink.expires_at > now + dt.timedelta(minutes=30),
        )
        .order_by(PaymentLink.id.desc())
    )
    if existing is not None:
        return existing
    expires = now + dt.timedelta(minutes=settings.business.checkout_link_minutes)
    if installment.next_attempt_at is not None:
        expires = min(expires, installment.next_attempt_at - dt.timedelta(hours=1))
    expires = max(expires, now + dt.timedelta(minutes=31))  # Stripe's minimum is 30 minutes
    claim = claims.claim(
        session,
        "checkout",
        f"installment:{installment.id}:{installment.attempts}",
        amount,
        {"expires_at": expires.isoformat(), "provider": gateway.provider},
        now,
    )
    base = settings.public_base_url
    return claim.id, CheckoutRequest(
        invoice_id=plan.invoice_id,
        customer_id=plan.customer_id,
        amount_minor=amount,
        currency=plan.currency,
        description=f"Invoice {plan.invoice_id} installment {installment.seq} of "
        f"{plan.installment_count}",
        expires_at=dt.datetime.fromisoformat(claim.params["expires_at"]),
        idempotency_key=claim.idempotency_key,
        success_url=f"{base}/pay/done?invoice={plan.invoice_id}",
        cancel_url=f"{base}/pay/cancelled?invoice={plan.invoice_id}",
        metadata={
            "installment_id": str(installment.id),
            "plan_id": str(plan.id),
            "settle_claim": str(claim.id),
        },
    )


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
        "plan_completed" if _complete_if_done(session, plan, invoice, actor) else "installment_paid"
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


# --- reminders before installments -----------------------------------------------------------


def send_installment_reminders(
    store: Store, settings: Settings, policy: Policy, now: dt.datetime, plan_id: int | None = None
) -> int:
    """A text reminder_days_before each upcoming installment, once per installment (the
    outbox refuses opted-out numbers). The reminder engine leaves invoices on a plan alone."""
    days = policy.plans.reminder_days_before
    if days <= 0 or not policy.skills.reminders:
        return 0
    I = models.Installment  # noqa: E741
    sent = 0
    with store.unit_of_work() as session:
        query = (
            select(I)
            .join(Plan, Plan.id == I.plan_id)
            .where(
                Plan.status == "active",
                I.status == "scheduled",
                I.reminded_at.is_(None),
                I.due_on <= now.date() + dt.timedelta(days=days + 1),
            )
            .order_by(I.due_on, I.id)
        )
        if plan_id is not None:
            query = query.where(Plan.id == plan_id)
        for installment in session.scalars(query).all():
            plan = installment.plan
            customer = session.get(Customer, plan.customer_id)
            today = _local_today(customer, now)
            if not today < installment.due_on <= today + dt.timedelta(days=days):
                continue
            locale = i18n.locale_for(customer.language, settings.business.default_region)
            body = i18n.text(
                "installment_reminder",
                customer.language,
                business=settings.business.name,
                invoice=plan.invoice_id,
                seq=installment.seq,
                count=plan.installment_count,
                amount=format_money(installment.amount_minor, plan.currency, locale),
                date=format_date(installment.due_on, "medium", locale=locale),
            )
            message = queue_sms(
                session,
                customer.phone,
                body,
                key=f"installment_reminder:{installment.id}",
                actor="settle",
                customer_id=customer.id,
                proactive=True,
            )
            installment.reminded_at = now
            audit.record(
                session,
                "settle",
                "installment.reminded",
                f"invoice:{plan.invoice_id}",
                installment_id=installment.id,
                message_status=message.status,
            )
            sent += 1
    return sent


def plan_document(session: Session, invoice_id: str) -> dict | None:
    """The invoice's latest plan with its installments, for `settle invoice show --json`."""
    plan = session.scalar(
        select(Plan).where(Plan.invoice_id == invoice_id).order_by(Plan.id.desc()).limit(1)
    )
    if plan is None:
        return None
    return {
        "id": plan.id,
        "status": plan.status,
        "installment_count": plan.installment_count,
        "interval": plan.interval,
        "total": plan.total_minor,
        "currency": plan.currency,
        "setup_session_id": plan.setup_session_id,
        "setup_url": plan.setup_url,
        "payment_method_id": plan.payment_method_id,
        "created_at": plan.created_at.isoformat(),
        "activated_at": plan.activated_at.isoformat() if plan.activated_at else None,
        "installments": [
            {
                "id": i.id,
                "seq": i.seq,
                "due_on": i.due_on.isoformat(),
                "amount": i.amount_minor,
                "status": i.status,
                "attempts": i.attempts,
                "provider_ref": i.provider_ref,
                "error": i.error,
                "paid_at": i.paid_at.isoformat() if i.paid_at else None,
                "next_attempt_at": i.next_attempt_at.isoformat() if i.next_attempt_at else None,
                "reminded_at": i.reminded_at.isoformat() if i.reminded_at else None,
            }
            for i in plan.installments
        ],
    }
