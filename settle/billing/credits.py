"""Credits: what a customer paid beyond an invoice, kept for them by staff and paid toward
their next invoices.

Keeping an overpayment as credit moves the excess off the overpaid invoice (it is then
paid exactly) into a credit on the customer, at most once per payment (UNIQUE payment_id).
A credit pays toward the customer's open invoices in its currency, oldest due first, at
once and whenever a new invoice arrives (the CSV import, the billing API). Invoices in a
dispute or under a payment plan are left alone: a person decides about the first, and the
second's installments are already fixed. Every move is audited and the customer is told.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle.billing.checkout import void_stale_links
from settle.billing.disputes import open_dispute_of
from settle.billing.ledger import add_to_paid
from settle.config import Settings
from settle.core import audit
from settle.messaging.notify import notify_customer
from settle.plans.eligibility import active_plan_for
from settle.store.models import Credit, CreditUse, Customer, Invoice, Payment


def excess_of(session: Session, payment: Payment) -> int:
    """What of payment lies beyond its invoice's amount now (never more than the payment)."""
    invoice = session.get(Invoice, payment.invoice_id, with_for_update=True)
    return min(payment.amount_minor, invoice.overpaid_minor)


def keep_as_credit(
    session: Session, settings: Settings, payment_id: int, actor: str
) -> Credit | None:
    """The payment's excess becomes a credit on its customer, used at once where it can be.
    None when there is no excess left (refunded meanwhile) or it was kept before."""
    payment = session.get(Payment, payment_id, with_for_update=True)
    excess = excess_of(session, payment)
    if excess <= 0 or credit_of(session, payment_id) is not None:
        return None
    invoice = session.get(Invoice, payment.invoice_id)
    credit = Credit(
        customer_id=invoice.customer_id,
        payment_id=payment_id,
        amount_minor=excess,
        remaining_minor=excess,
        currency=payment.currency,
        created_by=actor,
    )
    try:
        with session.begin_nested():
            session.add(credit)
    except IntegrityError:  # kept by a racing request
        return None
    add_to_paid(session, invoice.id, -excess)
    audit.record(
        session,
        actor,
        "credit.kept",
        f"payment:{payment_id}",
        credit_id=credit.id,
        amount_minor=excess,
        currency=credit.currency,
        invoice=invoice.id,
        customer_id=invoice.customer_id,
    )
    notify_customer(
        session,
        settings,
        session.get(Customer, invoice.customer_id),
        "credit_kept",
        idempotency_key=f"credit_kept:{credit.id}",
        actor=actor,
        money={"amount": (excess, credit.currency)},
        invoice=invoice.id,
    )
    apply_credits(session, settings, invoice.customer_id, actor)
    return credit


def credit_of(session: Session, payment_id: int) -> Credit | None:
    return session.scalar(select(Credit).where(Credit.payment_id == payment_id))


def available_credit(session: Session, customer_id: str) -> dict[str, int]:
    """Credit left per currency."""
    totals: dict[str, int] = {}
    for credit in session.scalars(
        select(Credit).where(Credit.customer_id == customer_id, Credit.remaining_minor > 0)
    ):
        totals[credit.currency] = totals.get(credit.currency, 0) + credit.remaining_minor
    return totals


def apply_credits(session: Session, settings: Settings, customer_id: str, actor: str) -> int:
    """Pay the customer's open invoices from their credits; returns the minor units used."""
    credits = session.scalars(
        select(Credit)
        .where(Credit.customer_id == customer_id, Credit.remaining_minor > 0)
        .order_by(Credit.id)
        .with_for_update()
    ).all()
    if not credits:
        return 0
    used = 0
    for invoice in _payable_invoices(session, customer_id):
        for credit in credits:
            if credit.currency != invoice.currency or credit.remaining_minor <= 0:
                continue
            invoice = session.get(Invoice, invoice.id, with_for_update=True, populate_existing=True)
            take = min(credit.remaining_minor, invoice.balance_minor)
            if invoice.status != "open" or take <= 0:
                break
            used += take
            _use(session, settings, credit, invoice, take, actor)
    return used


def _payable_invoices(session: Session, customer_id: str) -> list[Invoice]:
    invoices = session.scalars(
        select(Invoice)
        .where(Invoice.customer_id == customer_id, Invoice.status == "open")
        .order_by(Invoice.due_on, Invoice.id)
    ).all()
    return [
        invoice
        for invoice in invoices
        if invoice.balance_minor > 0
        and open_dispute_of(session, invoice.id) is None
        and active_plan_for(session, invoice.id) is None
    ]


def _use(
    session: Session, settings: Settings, credit: Credit, invoice: Invoice, take: int, actor: str
) -> None:
    credit.remaining_minor -= take
    use = CreditUse(credit_id=credit.id, invoice_id=invoice.id, amount_minor=take)
    session.add(use)
    invoice = add_to_paid(session, invoice.id, take)
    session.flush()
    void_stale_links(session, invoice, actor)
    audit.record(
        session,
        actor,
        "credit.applied",
        f"invoice:{invoice.id}",
        credit_id=credit.id,
        credit_use_id=use.id,
        amount_minor=take,
        currency=credit.currency,
        balance_minor=invoice.balance_minor,
        credit_left_minor=credit.remaining_minor,
    )
    notify_customer(
        session,
        settings,
        session.get(Customer, invoice.customer_id),
        "credit_applied",
        idempotency_key=f"credit_applied:{use.id}",
        actor=actor,
        money={
            "amount": (take, credit.currency),
            "balance": (invoice.balance_minor, credit.currency),
        },
        invoice=invoice.id,
    )
