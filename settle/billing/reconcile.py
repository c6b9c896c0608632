"""Reconciliation: Stripe events (and the sandbox's) become payments, balances and receipts."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle import plans, refunds
from settle.adapters.payments import PaymentGateway
from settle.billing import disputes
from settle.billing.checkout import void_stale_links
from settle.billing.ledger import add_to_paid
from settle.config import Settings
from settle.core import audit
from settle.messaging import staff
from settle.messaging.notify import notify_customer
from settle.rules.policy import Policy
from settle.store.models import AuditEntry, Invoice, Payment, PaymentLink, ProcessedEvent

log = logging.getLogger(__name__)

PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
EXPIRED_EVENTS = ("checkout.session.expired",)


def handle_payment_event(
    session: Session,
    event: dict[str, Any],
    settings: Settings,
    provider: str = "stripe",
    gateway: PaymentGateway | None = None,
    policy: Policy | None = None,
) -> str:
    """Apply one provider event exactly once; returns what happened (for logs and tests).

    Plans need the gateway (the saved card, a pay-by-hand link) and the policy (retries).
    """
    event_id, event_type = event.get("id"), event.get("type", "")
    if not event_id:
        raise ValueError("event has no id")
    try:
        with session.begin_nested():
            session.add(ProcessedEvent(event_id=event_id, provider=provider, type=event_type))
    except IntegrityError:
        return "duplicate"
    checkout = (event.get("data") or {}).get("object") or {}
    if checkout.get("mode") == "setup":
        if event_type == "checkout.session.completed":
            if gateway is None:
                raise ValueError("a saved card needs the payment gateway to read it")
            return plans.record_saved_card(session, gateway, settings, checkout, provider, event_id)
        if event_type in EXPIRED_EVENTS:
            return plans.setup_page_expired(session, checkout, provider, event_id) or "ignored"
    outcome = plans.handle_plan_event(
        session, settings, policy or Policy(), event_type, checkout, provider, event_id
    ) or refunds.handle_refund_event(session, settings, event_type, checkout, provider, event_id)
    if outcome is not None:
        return outcome
    if event_type == "charge.dispute.created":
        return _record_chargeback(session, checkout, settings, provider, event_id)
    if event_type == "checkout.session.async_payment_failed":
        return _async_payment_failed(session, checkout, settings, provider, event_id)
    if event_type in PAID_EVENTS:
        if checkout.get("payment_status") != "paid":
            return "awaiting_payment"  # async methods settle later with their own event
        return _record_checkout_payment(session, checkout, settings, provider, event_id)
    if event_type in EXPIRED_EVENTS:
        link = _link_for(session, checkout)
        if link is not None and link.status == "open":
            link.status = "expired"
            audit.record(
                session,
                provider,
                "payment_link.expired",
                f"invoice:{link.invoice_id}",
                session_id=link.session_id,
                event_id=event_id,
            )
            return "link_expired"
    return "ignored"


def _link_for(session: Session, checkout: dict[str, Any]) -> PaymentLink | None:
    return session.scalar(select(PaymentLink).where(PaymentLink.session_id == checkout.get("id")))


def _record_checkout_payment(
    session: Session, checkout: dict[str, Any], settings: Settings, provider: str, event_id: str
) -> str:
    link = _link_for(session, checkout)
    invoice_id = (
        link.invoice_id
        if link
        else (
            (checkout.get("metadata") or {}).get("invoice_id")
            or checkout.get("client_reference_id")
        )
    )
    invoice = session.get(Invoice, invoice_id) if invoice_id else None
    if invoice is None:
        entry = audit.record(
            session,
            provider,
            "payment.unmatched",
            f"checkout:{checkout.get('id')}",
            event_id=event_id,
            amount_minor=checkout.get("amount_total"),
            currency=(checkout.get("currency") or "").upper(),
        )
        _alert_staff(session, settings, entry, None, provider)
        log.error("Payment %s matches no invoice", checkout.get("id"))
        return "unmatched"
    amount = int(checkout.get("amount_total") or 0)
    currency = (checkout.get("currency") or "").upper()
    if currency != invoice.currency or amount <= 0:
        entry = audit.record(
            session,
            provider,
            "payment.needs_review",
            f"invoice:{invoice.id}",
            event_id=event_id,
            amount_minor=amount,
            currency=currency,
        )
        _alert_staff(session, settings, entry, invoice, provider)
        return "needs_review"
    reference = checkout.get("payment_intent") or checkout.get("id")
    if session.scalar(select(Payment.id).where(Payment.provider_ref == reference)) is not None:
        return "duplicate"
    # The invoice row is locked (PostgreSQL) before its balance is read: concurrent events
    # for one invoice are applied one after the other.
    invoice = session.get(Invoice, invoice.id, with_for_update=True, populate_existing=True)
    balance_before = invoice.balance_minor
    flag = None
    if amount > balance_before:
        flag = "overpaid"  # recorded and shown to staff, never hidden
    elif link is not None and (link.status != "open" or link.amount_minor != balance_before):
        flag = "stale_link"  # paid on a link made for another balance, or no longer open
    payment = Payment(
        invoice_id=invoice.id,
        amount_minor=amount,
        currency=currency,
        provider=provider,
        provider_ref=reference,
        payment_link_id=link.id if link else None,
        flag=flag,
    )
    session.add(payment)
    invoice = add_to_paid(session, invoice.id, amount)
    if link is not None:
        link.status = "paid"
    session.flush()
    void_stale_links(session, invoice, provider)
    if link is not None and link.installment_id:  # one installment of a plan, paid by hand
        plans.installment_paid_by_hand(session, link, payment, provider)
    audit.record(
        session,
        provider,
        "payment.recorded",
        f"invoice:{invoice.id}",
        payment_id=payment.id,
        amount_minor=amount,
        currency=currency,
        provider_ref=reference,
        event_id=event_id,
        balance_minor=invoice.balance_minor,
        invoice_status=invoice.status,
    )
    if flag:
        entry = audit.record(
            session,
            provider,
            "payment.flagged",
            f"invoice:{invoice.id}",
            payment_id=payment.id,
            flag=flag,
            amount_minor=amount,
            balance_before_minor=balance_before,
            overpaid_minor=invoice.overpaid_minor,
        )
        _alert_staff(session, settings, entry, invoice, provider)

    notify_customer(
        session,
        settings,
        invoice.customer,
        "receipt",
        idempotency_key=f"receipt:{payment.id}",
        actor=provider,
        money={"amount": (amount, currency), "balance": (invoice.balance_minor, currency)},
        invoice=invoice.id,
    )
    return "paid" if invoice.status == "paid" else "partially_paid"


def _alert_staff(
    session: Session, settings: Settings, entry: AuditEntry, invoice: Invoice | None, provider: str
) -> None:
    """A flagged payment is a work-queue item (settle.console.queue): staff are told."""
    session.flush()  # the entry's id names the item
    staff.alert_staff(
        session,
        settings,
        "payment",
        entry.id,
        customer_id=invoice.customer_id if invoice else None,
        invoice_id=invoice.id if invoice else None,
        actor=provider,
    )


def _record_chargeback(
    session: Session, dispute: dict[str, Any], settings: Settings, provider: str, event_id: str
) -> str:
    """A chargeback: the invoice is disputed (its reminders and plan pause) and staff are
    told (the audit log; an error in the service log)."""
    payment = session.scalar(
        select(Payment).where(Payment.provider_ref == dispute.get("payment_intent"))
    )
    if payment is None:
        entry = audit.record(
            session,
            provider,
            "chargeback.unmatched",
            f"dispute:{dispute.get('id')}",
            event_id=event_id,
            amount_minor=dispute.get("amount"),
            currency=str(dispute.get("currency") or "").upper(),
        )
        _alert_staff(session, settings, entry, None, provider)
        return "unmatched"
    invoice = payment.invoice
    disputes.open_dispute(
        session,
        invoice.customer_id,
        invoice.id,
        f"Chargeback {dispute.get('id')} ({dispute.get('reason') or 'no reason'}) "
        f"for {dispute.get('amount')} {str(dispute.get('currency') or '').upper()}",
        provider,
        settings,
    )
    audit.record(
        session,
        provider,
        "chargeback.created",
        f"invoice:{invoice.id}",
        payment_id=payment.id,
        dispute_id=dispute.get("id"),
        reason=dispute.get("reason"),
        amount_minor=dispute.get("amount"),
        event_id=event_id,
    )
    log.error(
        "Chargeback %s on invoice %s: reminders and plan paused; staff to respond in Stripe",
        dispute.get("id"),
        invoice.id,
    )
    return "chargeback"


def _async_payment_failed(
    session: Session, checkout: dict[str, Any], settings: Settings, provider: str, event_id: str
) -> str:
    """A bank debit that did not go through: the customer is told, the invoice stays open."""
    link = _link_for(session, checkout)
    if link is None:
        return "unmatched"
    invoice = session.get(Invoice, link.invoice_id)
    customer = invoice.customer
    audit.record(
        session,
        provider,
        "payment.failed",
        f"invoice:{invoice.id}",
        session_id=link.session_id,
        event_id=event_id,
    )
    notify_customer(
        session,
        settings,
        customer,
        "payment_failed",
        idempotency_key=f"payment_failed:{link.id}",
        actor=provider,
        money={"amount": (link.amount_minor, link.currency)},
        invoice=invoice.id,
        support_phone=settings.business.support_phone,
    )
    return "payment_failed"
