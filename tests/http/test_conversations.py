"""Plans, refunds, disputes and reminders from the customer's words to Stripe and back.

The trained model, the Rasa server and the Settle service run as in production; Stripe and
Twilio are the local compatible servers, so each test checks the exact requests that a
conversation causes.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.http.conftest import invoice, wait_for
from tests.http.test_pay_over_http import for_invoice, paid_event

pytestmark = pytest.mark.servers


def texts_to(twilio, phone: str) -> list:
    return [r.form["Body"] for r in twilio.posts("Messages") if r.form.get("To") == phone]


def verified(servers, sender: str, request: str, identity: str) -> list:
    """Ask for something on the REST channel and prove who you are; the replies after that."""
    reply = servers.say(sender, request)
    assert "confirm who you are" in reply[0], reply
    return servers.say(sender, identity)


def test_plan_by_web_api_six_payments_card_saved_on_stripe(servers, fakes):
    stripe, twilio = fakes
    reply = verified(
        servers, "plan-visitor", "can I pay my bill in installments", "invoice INV-9001 zip 94110"
    )
    assert "Pat" in reply[0]
    assert "3 monthly payments of $100.00, the first today" in reply[1], reply
    assert "2, 4 or 6 payments" in reply[1]
    assert not stripe.posts("/v1/customers"), "nothing is set up before the customer says yes"

    reply = servers.say("plan-visitor", "could I do it in 6 payments")
    assert "6 monthly payments of $50.00, the first today" in reply[0], reply
    reply = servers.say("plan-visitor", "yes that works")
    assert "texted a secure link" in reply[0] and "0120" in reply[0]

    (customer,) = [
        r for r in stripe.posts("/v1/customers") if r.form.get("metadata[customer_id]") == "T010"
    ]
    setups = [
        r
        for r in stripe.posts("/v1/checkout/sessions")
        if r.form.get("mode") == "setup" and r.form.get("metadata[invoice_id]") == "INV-9001"
    ]
    assert len(setups) == 1
    assert setups[0].form["customer"].startswith("cus_test_")
    assert setups[0].headers["idempotency-key"].startswith("settle:")
    assert customer.headers["idempotency-key"].startswith("settle:")
    assert wait_for(
        lambda: any("checkout.stripe.test" in t for t in texts_to(twilio, "+14155550120"))
    )

    shown = invoice(servers, "INV-9001")
    assert shown["plan"]["status"] == "pending_card"
    assert [i["amount"] for i in shown["plan"]["installments"]] == [5000] * 6


def test_refund_by_text_after_a_duplicate_charge(servers, fakes):
    stripe, twilio = fakes
    phone, sender = "+14155550121", "refund-visitor"
    # Rae paid INV-9101 through a texted link first.
    verified(servers, sender, "I want to pay my bill", "invoice INV-9101 zip 94110")
    servers.say(sender, "yes")
    (checkout,) = for_invoice(stripe, "INV-9101")
    session = json.loads(json.dumps(stripe._by_key[checkout.headers["idempotency-key"]]))
    status, _ = servers.stripe_event(paid_event(session, "evt_rae_paid", 9000))
    assert status == 200

    reply = verified(
        servers,
        "refund-visitor-2",
        "you charged me twice for the same visit",
        "invoice INV-9101 zip 94110",
    )
    assert "refund $90.00 for invoice INV-9101" in reply[-1], reply
    assert not stripe.posts("/v1/refunds"), "nothing is refunded before the customer says yes"
    reply = servers.say("refund-visitor-2", "yes please")
    assert "refund of $90.00" in reply[0] and "on its way" in reply[0]
    reply = servers.say("refund-visitor-2", "yes")  # said again: still one refund

    (refund,) = stripe.posts("/v1/refunds")
    with sqlite3.connect(servers.workdir / "settle.db") as db:
        payment_id, intent = db.execute(
            "SELECT id, provider_ref FROM payments WHERE invoice_id = 'INV-9101'"
        ).fetchone()
    assert refund.form["payment_intent"] == intent == "pi_evt_rae_paid"
    assert refund.form["amount"] == "9000" and refund.form["reason"] == "duplicate"
    assert refund.headers["idempotency-key"] == f"settle:refund:{payment_id}"

    confirmations = lambda: [t for t in texts_to(twilio, phone) if "refund of $90.00" in t]  # noqa: E731
    assert not confirmations(), "the customer hears of it when Stripe says it succeeded"
    event = {
        "id": "evt_rae_refunded",
        "type": "refund.updated",
        "data": {
            "object": {
                "id": "re_test_0001",
                "object": "refund",
                "status": "succeeded",
                "amount": 9000,
                "payment_intent": intent,
                "metadata": {
                    k[9:-1]: v for k, v in refund.form.items() if k.startswith("metadata[")
                },
            }
        },
    }
    assert servers.stripe_event(event)[0] == 200
    assert wait_for(lambda: len(confirmations()) == 1)
    assert servers.stripe_event(event)[0] == 200  # redelivered: no second text
    assert len(confirmations()) == 1


def test_dispute_pauses_reminders_and_hands_over(servers, fakes):
    reply = verified(
        servers,
        "dispute-visitor",
        "I don't owe this, the fence was never fixed",
        "invoice INV-9201 zip 94110",
    )
    assert "what's wrong with invoice INV-9201" in reply[-1], reply
    reply = servers.say("dispute-visitor", "they never came to fix the fence")
    assert "recorded that you dispute invoice INV-9201" in reply[0]
    assert "passing you to a member of our team" in reply[1]
    shown = invoice(servers, "INV-9201")
    (dispute,) = shown["disputes"]
    assert dispute["status"] == "open" and "never came" in dispute["reason"]
    held = servers.settle("reminders", "preview", "--date", "2026-12-04", "--json")
    assert held.returncode == 0, held.stderr
    decisions = [d for d in json.loads(held.stdout)["decisions"] if d["invoice_id"] == "INV-9201"]
    assert decisions and all(d["action"] != "send" for d in decisions), decisions


def test_spanish_texter_asks_to_be_reminded_on_friday(servers, fakes):
    stripe, twilio = fakes
    phone = "+14155550123"
    servers.sms(phone, "recuérdame el viernes por favor")
    assert wait_for(lambda: any("el viernes" in t for t in texts_to(twilio, phone)), 15)
    servers.sms(phone, "sí")
    assert wait_for(lambda: any("Listo" in t for t in texts_to(twilio, phone)), 15)
    with sqlite3.connect(servers.workdir / "settle.db") as db:
        rows = db.execute(
            "SELECT channel, status FROM requested_reminders WHERE customer_id = 'T013'"
        ).fetchall()
    assert rows == [("sms", "scheduled")]
