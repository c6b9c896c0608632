"""Which changes the billing system hears about, and what it is told.

Every change to money is audited in the transaction that makes it (settle.core.audit); an
audit entry of one of the actions below becomes one or more events, with amounts in
integer minor units and their currency. Reading the audit entries, rather than a call at
each place money changes, means a new path to an existing change (a payment by keypad,
by link, by credit) cannot forget to tell the billing system.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from settle.store.models import AuditEntry, Customer, Dispute, Invoice, Payment, Plan, Refund

# (type, subject, data): subject orders the events ("invoice:INV-1001").
Event = tuple[str, str, dict[str, Any]]

EVENT_TYPES = (
    "payment.succeeded",
    "invoice.paid",
    "invoice.partially_paid",
    "invoice.voided",
    "refund.succeeded",
    "refund.failed",
    "plan.created",
    "plan.installment_paid",
    "plan.failed",
    "plan.completed",
    "plan.cancelled",
    "dispute.created",
    "dispute.resolved",
    "chargeback.created",
    "customer.opted_out",
    "customer.opted_in",
    "credit.created",
    "credit.applied",
)


def events_for(session: Session, entry: AuditEntry) -> list[Event]:
    """The events an audit entry stands for (none for most entries)."""
    build = _BUILDERS.get(str(entry.action))
    return build(session, entry, dict(entry.detail or {})) if build else []


def _invoice_id(entry: AuditEntry) -> str:
    return str(entry.subject).partition(":")[2]


def invoice_state(session: Session, invoice_id: str) -> Event:
    """invoice.paid or invoice.partially_paid, with the invoice's amounts as they stand."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise LookupError(f"no invoice {invoice_id!r}")
    kind = "invoice.paid" if invoice.status == "paid" else "invoice.partially_paid"
    return kind, f"invoice:{invoice.id}", _invoice_data(invoice)


def _invoice_data(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "customer_id": invoice.customer_id,
        "status": invoice.status,
        "amount": invoice.amount_minor,
        "amount_paid": invoice.amount_paid_minor,
        "balance": invoice.balance_minor,
        "currency": invoice.currency,
    }


def _payment_data(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "invoice_id": payment.invoice_id,
        "amount": payment.amount_minor,
        "currency": payment.currency,
        "provider": payment.provider,
        "provider_ref": payment.provider_ref,
        "flag": payment.flag,
    }


def _payment(session: Session, payment_id: Any) -> Payment:
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise LookupError(f"no payment {payment_id!r}")
    return payment


def _payment_recorded(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    invoice_id = _invoice_id(entry)
    payment = _payment(session, detail["payment_id"])
    return [
        ("payment.succeeded", f"invoice:{invoice_id}", _payment_data(payment)),
        invoice_state(session, invoice_id),
    ]


def _installment_paid(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    invoice_id = _invoice_id(entry)
    payment = _payment(session, detail["payment_id"])
    plan = session.get(Plan, detail["plan_id"])
    paid = (
        "plan.installment_paid",
        f"invoice:{invoice_id}",
        {
            "plan_id": detail["plan_id"],
            "installment": detail.get("seq"),
            "installments": plan.installment_count if plan else None,
            "payment_id": payment.id,
            "invoice_id": invoice_id,
            "amount": payment.amount_minor,
            "currency": payment.currency,
        },
    )
    if detail.get("by_hand"):  # paid through a link: payment.recorded tells the rest
        return [paid]
    subject = f"invoice:{invoice_id}"
    return [
        ("payment.succeeded", subject, _payment_data(payment)),
        paid,
        invoice_state(session, invoice_id),
    ]


def _installment_failed(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    if detail.get("plan_status") != "failed":
        return []  # it is tried again: the plan has not failed
    return [
        (
            "plan.failed",
            entry.subject,
            {
                "plan_id": detail.get("plan_id"),
                "invoice_id": _invoice_id(entry),
                "error": detail.get("error"),
            },
        )
    ]


def _plan_created(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    data = {
        "plan_id": detail.get("plan_id"),
        "invoice_id": _invoice_id(entry),
        "total": detail.get("total_minor"),
        "currency": detail.get("currency"),
        "installments": [
            {"due_on": due_on, "amount": amount}
            for due_on, amount in detail.get("installments") or []
        ],
    }
    return [("plan.created", entry.subject, data)]


def _plan_ended(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    """plan.completed (every installment paid, or the invoice paid another way) or
    plan.cancelled (replaced or expired before the card, the invoice changed or voided):
    nothing more will be charged on it."""
    plan = session.get(Plan, detail.get("plan_id"))
    if entry.action == "plan.stopped":  # the charge pass found nothing left to collect
        kind = "plan.completed" if plan is not None and plan.status == "completed" else ""
        kind = kind or "plan.cancelled"
    else:
        kind = str(entry.action)
    data = {
        "plan_id": detail.get("plan_id"),
        "invoice_id": _invoice_id(entry),
        "reason": detail.get("reason")
        or ("every installment paid" if kind == "plan.completed" else None),
        "installments_paid": (
            sum(1 for i in plan.installments if i.status == "paid") if plan else None
        ),
        "installments": plan.installment_count if plan else None,
    }
    return [(kind, entry.subject, data)]


def _refund(kind: str) -> Callable[[Session, AuditEntry, dict], list[Event]]:
    def build(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
        refund = session.get(Refund, detail.get("refund_id"))
        if refund is None:
            return []
        payment = _payment(session, refund.payment_id)
        data = {
            "refund_id": refund.id,
            "payment_id": payment.id,
            "invoice_id": payment.invoice_id,
            "amount": refund.amount_minor,
            "currency": refund.currency,
            "reason": refund.reason,
            "provider_ref": refund.provider_ref,
        }
        if kind == "refund.failed":
            data["error"] = refund.error
        invoice = session.get(Invoice, payment.invoice_id)
        if invoice is not None:  # as Settle holds it after the refund
            data["invoice"] = _invoice_data(invoice)
        return [(kind, f"invoice:{payment.invoice_id}", data)]

    return build


def _dispute_created(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    dispute = session.get(Dispute, detail.get("dispute_id"))
    data = {
        "dispute_id": detail.get("dispute_id"),
        "invoice_id": _invoice_id(entry),
        "customer_id": dispute.customer_id if dispute else None,
        "reason": detail.get("reason"),
    }
    return [("dispute.created", entry.subject, data)]


def _dispute_resolved(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    data = {
        "dispute_id": detail.get("dispute_id"),
        "invoice_id": _invoice_id(entry),
        "outcome": detail.get("outcome"),
    }
    return [("dispute.resolved", entry.subject, data)]


def _chargeback(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    payment = _payment(session, detail["payment_id"])
    data = {
        "payment_id": payment.id,
        "invoice_id": payment.invoice_id,
        "provider_dispute_id": detail.get("dispute_id"),
        "reason": detail.get("reason"),
        "amount": detail.get("amount_minor"),
        "currency": payment.currency,
    }
    return [("chargeback.created", entry.subject, data)]


def _contact(kind: str) -> Callable[[Session, AuditEntry, dict], list[Event]]:
    def build(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
        contact = _invoice_id(entry)  # "phone:<E.164 or e-mail address>"
        customers = session.scalars(
            select(Customer.id)
            .where(or_(Customer.phone == contact, Customer.email == contact))
            .order_by(Customer.id)
        ).all()
        data = {
            "contact": contact,
            "channel": detail.get("channel", "all"),
            "customer_ids": list(customers),
            # "api:<key>" when the billing system itself sent it (POST /api/v1/opt-outs): it
            # is still sent, for every endpoint to hear, and the sender can tell its own.
            "source": detail.get("source"),
        }
        return [(kind, entry.subject, data)]

    return build


def _credit_kept(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    data = {
        "credit_id": detail.get("credit_id"),
        "customer_id": detail.get("customer_id"),
        "payment_id": int(_invoice_id(entry)),
        "invoice_id": detail.get("invoice"),
        "amount": detail.get("amount_minor"),
        "currency": detail.get("currency"),
    }
    created = ("credit.created", f"invoice:{detail.get('invoice')}", data)
    return [created, invoice_state(session, str(detail.get("invoice")))]


def _credit_applied(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    data = {
        "credit_id": detail.get("credit_id"),
        "invoice_id": _invoice_id(entry),
        "amount": detail.get("amount_minor"),
        "currency": detail.get("currency"),
        "credit_left": detail.get("credit_left_minor"),
    }
    return [("credit.applied", entry.subject, data), invoice_state(session, _invoice_id(entry))]


def _voided(session: Session, entry: AuditEntry, detail: dict) -> list[Event]:
    invoice = session.get(Invoice, _invoice_id(entry))
    return [("invoice.voided", entry.subject, _invoice_data(invoice))] if invoice else []


_BUILDERS: dict[str, Callable[[Session, AuditEntry, dict], list[Event]]] = {
    "payment.recorded": _payment_recorded,
    "installment.paid": _installment_paid,
    "installment.failed": _installment_failed,
    "plan.created": _plan_created,
    "plan.completed": _plan_ended,
    "plan.cancelled": _plan_ended,
    "plan.stopped": _plan_ended,
    "refund.succeeded": _refund("refund.succeeded"),
    "refund.failed": _refund("refund.failed"),
    "dispute.opened": _dispute_created,
    "dispute.resolved": _dispute_resolved,
    "chargeback.created": _chargeback,
    "contact.opted_out": _contact("customer.opted_out"),
    "contact.opted_in": _contact("customer.opted_in"),
    "credit.kept": _credit_kept,
    "credit.applied": _credit_applied,
    "invoice.voided_by_billing": _voided,
}
