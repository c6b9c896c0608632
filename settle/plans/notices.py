"""Texts about installments: a reminder before each one falls due, and a notice for each
declined attempt with a link to pay that installment by hand (the link made with no
transaction open while Stripe answers).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.adapters.payments import CheckoutRequest, PaymentGateway, PaymentGatewayError
from settle.billing.checkout import record_link
from settle.billing.disputes import open_dispute_of
from settle.config import Settings
from settle.core import audit, i18n
from settle.core.clock import customer_today
from settle.messaging.notify import notify_customer
from settle.rules.policy import Policy
from settle.store import claims, models
from settle.store.db import Store
from settle.store.models import Customer, Invoice, Message, PaymentLink, Plan, utcnow

log = logging.getLogger(__name__)


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
    retry = installment.next_attempt_at
    notify_customer(
        session,
        settings,
        session.get(Customer, plan.customer_id),
        "installment_failed" if retry is not None else "installment_failed_final",
        idempotency_key=key,
        actor="settle",
        proactive=True,  # charges fall due at local midnight: held to their hours
        money={"amount": (link.amount_minor, plan.currency)},
        dates={"retry": retry.date()} if retry is not None else None,
        invoice=plan.invoice_id,
        seq=installment.seq,
        count=plan.installment_count,
        url=link.url,
        support_phone=policy.handoff.phone_for("plans") or settings.business.support_phone,
    )
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
        link = record_link(session, gateway, request, checkout, actor, installment_id)
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
        or open_dispute_of(session, invoice.id) is not None
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
    language = session.get(Customer, plan.customer_id).language
    claim = claims.claim(
        session,
        "checkout",
        f"installment:{installment.id}:{installment.attempts}",
        amount,
        # The customer's language is fixed with the claim: a retry sends the same request.
        {"expires_at": expires.isoformat(), "provider": gateway.provider, "language": language},
        now,
    )
    base = settings.public_base_url
    return claim.id, CheckoutRequest(
        invoice_id=plan.invoice_id,
        customer_id=plan.customer_id,
        amount_minor=amount,
        currency=plan.currency,
        description=i18n.text(
            "checkout_installment",
            claim.params.get("language", "en"),
            invoice=plan.invoice_id,
            seq=installment.seq,
            count=plan.installment_count,
        ),
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
            today = customer_today(customer.timezone, now)
            if not today < installment.due_on <= today + dt.timedelta(days=days):
                continue
            message = notify_customer(
                session,
                settings,
                customer,
                "installment_reminder",
                idempotency_key=f"installment_reminder:{installment.id}",
                actor="settle",
                proactive=True,
                money={"amount": (installment.amount_minor, plan.currency)},
                dates={"date": installment.due_on},
                invoice=plan.invoice_id,
                seq=installment.seq,
                count=plan.installment_count,
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
