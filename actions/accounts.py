"""What the flows read of a verified customer's account: their open invoices and the phone
on file, each in a unit of work of its own (run them off the event loop, with blocking)."""

from __future__ import annotations

from settle.app import runtime
from settle.billing import ledger as billing
from settle.store.models import Customer


def open_invoices(customer_id: str) -> list[billing.OpenInvoice]:
    with runtime.current().store.unit_of_work() as session:
        return billing.open_invoices(session, customer_id)


def phone_on_file(customer_id: str) -> str:
    with runtime.current().store.unit_of_work() as session:
        return session.get(Customer, customer_id).phone
