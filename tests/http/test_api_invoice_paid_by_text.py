"""The issue's promise, end to end over real HTTP: an invoice the billing system pushes
through /api/v1 can be paid in a text conversation a second later, and the billing system
reads it back as paid. Rasa, the Settle service, and local Stripe and Twilio."""

from __future__ import annotations

import json
import time

import pytest

from tests.http.api_calls import call, customer_body, invoice_body, new_id
from tests.http.conftest import wait_for
from tests.http.test_pay_over_http import paid_event

pytestmark = pytest.mark.servers

PHONE = "+14155550193"


def texts_to(twilio, phone: str) -> list[str]:
    return [r.form["Body"] for r in twilio.posts("Messages") if r.form.get("To") == phone]


def test_an_invoice_pushed_by_the_api_is_paid_by_text_a_second_later(servers, fakes):
    stripe, twilio = fakes
    customer_id, big, small = new_id("APIC"), new_id("APIB"), new_id("APIS")
    customer = customer_body(customer_id, phone="(415) 555-0193", language="en")
    assert call(servers, "POST", "/api/v1/customers", customer)[0] == 201
    for invoice_id, amount in ((big, "210.00"), (small, "35.00")):
        status, body = call(
            servers,
            "POST",
            "/api/v1/invoices",
            invoice_body(invoice_id, customer_id, amount=amount, due_on="2026-12-20"),
        )
        assert status == 201, body
    pushed = time.monotonic()

    # No import, no reload, no cache to wait for: the customer texts at once.
    status, _ = servers.sms(PHONE, "I want to pay my bill")
    assert status == 200
    assert time.monotonic() - pushed < 1.0, "the first text went within a second of the push"
    assert wait_for(lambda: any("You have 2 open invoices" in t for t in texts_to(twilio, PHONE)))
    listing = next(t for t in texts_to(twilio, PHONE) if "open invoices" in t)
    assert "$210.00" in listing and "$35.00" in listing

    servers.sms(PHONE, "the 35 one")
    assert wait_for(
        lambda: any(f"To confirm: invoice {small}" in t for t in texts_to(twilio, PHONE))
    ), texts_to(twilio, PHONE)
    servers.sms(PHONE, "yes")
    assert wait_for(lambda: any("checkout.stripe.test" in t for t in texts_to(twilio, PHONE)))
    (checkout,) = [
        r
        for r in stripe.posts("/v1/checkout/sessions")
        if r.form.get("metadata[invoice_id]") == small
    ]
    assert checkout.form["line_items[0][price_data][unit_amount]"] == "3500"
    assert checkout.form["metadata[customer_id]"] == customer_id

    session = json.loads(json.dumps(stripe._by_key[checkout.headers["idempotency-key"]]))
    status, body = servers.stripe_event(paid_event(session, new_id("evt_api"), 3500))
    assert status == 200 and json.loads(body)["outcome"] == "paid", body

    status, paid = call(servers, "GET", f"/api/v1/invoices/{small}")
    assert status == 200, paid
    assert (paid["status"], paid["amount_paid_minor"], paid["balance_minor"]) == ("paid", 3500, 0)
    status, other = call(servers, "GET", f"/api/v1/invoices/{big}")
    assert (other["status"], other["balance_minor"]) == ("open", 21000)
