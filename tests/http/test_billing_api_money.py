"""The billing-system API against money Settle already holds: a push never makes what was
paid untrue, a customer's kept credit pays toward a pushed invoice at once, and a paid
invoice the billing system voids waits in the operators' work queue."""

from __future__ import annotations

import pytest

from settle.config import Settings
from settle.console.queue import work_queue
from settle.store.models import Credit, Invoice, Payment
from tests.http.api_calls import call, create_key, customer_body, invoice_body, new_id


@pytest.fixture(scope="module")
def key(api):
    """A key of its own: the API's tests together would pass one key's per-minute limit."""
    return create_key(api, "erp-money")


def _send(api, key: str, method: str, path: str, body: dict | None = None):
    return call(api, method, path, body, key=key)


def _paid(api, api_store, key) -> str:
    """An invoice pushed, then collected by Settle (as the reconciler leaves it)."""
    invoice_id = new_id("PAID")
    assert _send(api, key, "POST", "/api/v1/invoices", invoice_body(invoice_id))[0] == 201
    with api_store.unit_of_work() as session:
        invoice = session.get(Invoice, invoice_id)
        invoice.amount_paid_minor, invoice.status = invoice.amount_minor, "paid"
    return invoice_id


def _partly_paid(api, api_store, key) -> str:
    invoice_id = new_id("PART")
    assert _send(api, key, "POST", "/api/v1/invoices", invoice_body(invoice_id))[0] == 201
    with api_store.unit_of_work() as session:
        session.get(Invoice, invoice_id).amount_paid_minor = 10000
    return invoice_id


def test_a_push_cannot_set_an_amount_below_what_was_paid(api, api_store, key):
    invoice_id = _partly_paid(api, api_store, key)
    status, body = _send(
        api, key, "POST", "/api/v1/invoices", invoice_body(invoice_id, amount="99.99")
    )
    assert status == 409 and "cannot be less" in body["error"], body
    assert (
        _send(api, key, "POST", "/api/v1/invoices", invoice_body(invoice_id, amount="100.00"))[0]
        == 200
    )


def test_a_push_cannot_change_the_currency_of_money_already_paid(api, api_store, key):
    invoice_id = _partly_paid(api, api_store, key)
    status, body = _send(
        api, key, "POST", "/api/v1/invoices", invoice_body(invoice_id, currency="EUR")
    )
    assert status == 409 and "currency" in body["error"], body
    assert _send(api, key, "GET", f"/api/v1/invoices/{invoice_id}")[1]["currency"] == "USD"


def test_kept_credit_pays_toward_a_pushed_invoice_at_once(api, api_store, key):
    customer_id = new_id("CRED")
    assert _send(api, key, "POST", "/api/v1/customers", customer_body(customer_id))[0] == 201
    old = new_id("OLD")
    assert _send(api, key, "POST", "/api/v1/invoices", invoice_body(old, customer_id))[0] == 201
    with api_store.unit_of_work() as session:
        payment = Payment(
            invoice_id=old,
            amount_minor=28500,
            currency="USD",
            provider="sandbox",
            provider_ref=new_id("pi"),
        )
        session.add(payment)
        session.flush()
        session.add(
            Credit(
                customer_id=customer_id,
                payment_id=payment.id,
                amount_minor=3000,
                remaining_minor=3000,
                currency="USD",
                created_by="operator:test",
            )
        )
    new = new_id("NEW")
    status, body = _send(
        api,
        key,
        "POST",
        "/api/v1/invoices",
        invoice_body(new, customer_id, amount="50.00", due_on="2026-11-20"),
    )
    assert status == 201, body
    assert (body["amount_paid_minor"], body["balance_minor"]) == (3000, 2000)
    # The old invoice is open too but due later: the credit went to the first due only.
    with api_store.unit_of_work() as session:
        paid = (
            session.get(Invoice, old).amount_paid_minor
            + session.get(Invoice, new).amount_paid_minor
        )
        assert paid == 3000


def test_a_voided_paid_invoice_waits_in_the_work_queue(api, api_store, key):
    invoice_id = _paid(api, api_store, key)
    assert (
        _send(api, key, "POST", "/api/v1/invoices", invoice_body(invoice_id, status="void"))[0]
        == 200
    )
    with api_store.unit_of_work() as session:
        items = work_queue(session, Settings(database_url="sqlite://"))
    mine = [item for item in items if item.invoice == invoice_id]
    assert [(item.kind, "voided" in item.what) for item in mine] == [("mismatch", True)]
