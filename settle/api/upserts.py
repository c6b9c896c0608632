"""Writing what the billing system pushed: an upsert by id, audited once per change, that
never reopens an invoice Settle has collected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from settle.api.rows import InvalidFields
from settle.billing.credits import apply_credits
from settle.billing.importer import update_of
from settle.config import Settings
from settle.core import audit
from settle.messaging.consent import record_opt_out
from settle.store.models import Customer, Invoice


class Conflict(Exception):
    """Answered 409: the change would undo what Settle knows (a collected invoice)."""


@dataclass(frozen=True)
class Written:
    """What a write answers: 201 when created, 200 when updated or already so."""

    status: int
    body: dict[str, Any]


def customer_view(customer: Customer) -> dict[str, Any]:
    return {
        "customer_id": customer.id,
        "name": customer.name,
        "phone": customer.phone,
        "email": customer.email,
        "postal_code": customer.postal_code,
        "language": customer.language,
        "timezone": customer.timezone,
    }


def invoice_view(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "customer_id": invoice.customer_id,
        "amount_minor": invoice.amount_minor,
        "amount_paid_minor": invoice.amount_paid_minor,
        "balance_minor": invoice.balance_minor,
        "currency": invoice.currency,
        "status": invoice.status,
        "due_on": invoice.due_on.isoformat(),
    }


def upsert_customer(
    session: Session,
    customer_id: str,
    values: dict,
    actor: str,
    warnings: list[dict[str, str]] | None = None,
    zone_given: bool = True,
) -> Written:
    """warnings: guesses made reading the push (settle.api.rows), audited with the write and
    answered in the body's "warnings". zone_given: False when the push left the time zone
    out; a known customer then keeps theirs unless the phone changes (importer.update_of)."""
    customer = session.get(Customer, customer_id)
    if customer is not None:
        values = update_of(customer, values, zone_given)
        if "timezone" not in values:  # the stored zone stands: nothing was guessed
            warnings = [w for w in warnings or [] if w["field"] != "timezone"]
    warned = {"warnings": warnings} if warnings else {}
    if customer is None:
        customer = Customer(id=customer_id, **values)
        session.add(customer)
        session.flush()
        audit.record(
            session, actor, "customer.created_by_billing", f"customer:{customer_id}", **warned
        )
        return Written(201, customer_view(customer) | warned)
    # Where messages and links went before (a changed phone or e-mail redirects them), told
    # without keeping an old address an erasure would not find: its last digits or domain.
    contact = {
        name: _hint(before)
        for name in ("phone", "email")
        if (before := getattr(customer, name)) and name in values and values[name] != before
    }
    changed = _apply(customer, values)
    if changed:
        session.flush()
        audit.record(
            session,
            actor,
            "customer.updated_by_billing",
            f"customer:{customer_id}",
            changed=changed,
            **({"contact_before": contact} if contact else {}),
            **warned,
        )
    return Written(200, customer_view(customer) | warned)


def _hint(address: str) -> str:
    return "…@" + address.rpartition("@")[2] if "@" in address else "…" + address[-4:]


def upsert_invoice(
    session: Session, invoice_id: str, values: dict, actor: str, settings: Settings | None = None
) -> Written:
    """settings: when given, the customer's credit (settle.billing.credits) pays toward a new
    or changed open invoice at once."""
    if session.get(Customer, values["customer_id"]) is None:
        raise InvalidFields(
            [{"field": "customer_id", "reason": f"unknown customer {values['customer_id']!r}"}]
        )
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        invoice = Invoice(id=invoice_id, amount_paid_minor=0, **values)
        session.add(invoice)
        session.flush()
        audit.record(session, actor, "invoice.created_by_billing", f"invoice:{invoice_id}")
        _use_credit(session, settings, invoice, actor)
        return Written(201, invoice_view(invoice))
    changed = sorted(k for k, v in values.items() if getattr(invoice, k) != v)
    if not changed:
        return Written(200, invoice_view(invoice))
    if invoice.status == "paid":
        _refuse_reopening(invoice, values, changed)
        action = "invoice.voided_by_billing"  # the operators' work queue looks at these
    else:
        _refuse_undoing_payments(invoice, values, changed)
        action = "invoice.updated_by_billing"
    _apply(invoice, values)
    session.flush()
    audit.record(session, actor, action, f"invoice:{invoice_id}", changed=changed)
    if action == "invoice.updated_by_billing":
        _use_credit(session, settings, invoice, actor)
    return Written(200, invoice_view(invoice))


def _refuse_undoing_payments(invoice: Invoice, values: dict, changed: list[str]) -> None:
    """What was paid on an open invoice stays true: not less than it, not another currency."""
    if not invoice.amount_paid_minor:
        return
    if "currency" in changed:
        raise Conflict(
            f"invoice {invoice.id} has payments in {invoice.currency}: its currency cannot change"
        )
    if values["amount_minor"] < invoice.amount_paid_minor:
        raise Conflict(
            f"invoice {invoice.id} has {invoice.amount_paid_minor} (minor units) paid: its "
            "amount cannot be less than that"
        )


def _use_credit(session: Session, settings: Settings | None, invoice: Invoice, actor: str) -> None:
    if settings is not None and invoice.status == "open":
        apply_credits(session, settings, invoice.customer_id, actor)
        session.refresh(invoice)


def _refuse_reopening(invoice: Invoice, values: dict, changed: list[str]) -> None:
    """A paid invoice may only be voided, nothing else about it changed."""
    if changed == ["status"] and values["status"] == "void":
        return
    raise Conflict(
        f"invoice {invoice.id} is paid (Settle collected it): the billing system may only "
        f"change its status to void, with nothing else changed; this asked to change "
        f"{', '.join(changed)}"
        + (f" (status to {values['status']})" if "status" in changed else "")
    )


def _apply(row: Any, values: dict) -> list[str]:
    """Set what differs; the names of the fields changed."""
    changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
    for key in changed:
        setattr(row, key, values[key])
    return changed


def record_billing_opt_out(session: Session, contact: str, channel: str, actor: str) -> Written:
    """The billing system's opt-out, recorded like a STOP (settle.messaging.consent) with
    source "api:<key name>": 201 when new, 200 when the contact already refused it."""
    new = record_opt_out(session, contact, actor[:64], actor, channel)
    field = "email" if "@" in contact else "phone"
    return Written(201 if new else 200, {field: contact, "channel": channel, "opted_out": True})
