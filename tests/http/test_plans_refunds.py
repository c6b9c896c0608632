"""Plans and refunds against local Stripe- and Twilio-compatible servers: the exact Stripe
requests (saved-card setup, off-session installments, refunds, with our idempotency keys),
events through the running service's real POST /webhooks/stripe, and a refund race.

The domain calls that the conversation makes (start_plan, issue_refund) run here in the test
process against the service's own database and the same Stripe client code; everything
Stripe sends back comes in signed, over HTTP, to the service.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from settle.adapters.payments import StripeGateway
from settle.config import BusinessSettings, Settings
from settle.plans import charge_due_installments, start_plan
from settle.refunds import issue_refund
from settle.rules.policy import load_policy
from settle.store.db import Store
from settle.store.models import Customer, Installment, Invoice, Payment, PaymentLink, Plan, Refund
from tests.fakes import FakeStripe, FakeTwilio
from tests.harness import (
    STRIPE_KEY,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    WEBHOOK_SECRET,
    Servers,
    free_port,
)
from tests.http.conftest import invoice, wait_for

pytestmark = pytest.mark.servers
PHONE = "+14155550101"  # C001, INV-1001, $285.00, America/Los_Angeles
POLICY = load_policy(str(Path(__file__).resolve().parents[2] / "settle.yml"))


@pytest.fixture(scope="module")
def stripe_fake():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def twilio_fake():
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory, stripe_fake, twilio_fake):
    """The Settle service alone (no Rasa needed here) with the demo data, on SQLite."""
    import os

    workdir = tmp_path_factory.mktemp("plans_service")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "TWILIO_", "DATABASE_URL", "SETTLE_SETTINGS"))
    }
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "DATABASE_URL": f"sqlite:///{workdir / 'settle.db'}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "STRIPE_API_KEY": STRIPE_KEY,
            "STRIPE_API_BASE": stripe_fake.url,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_FROM_NUMBER": TWILIO_FROM,
            "TWILIO_API_BASE": twilio_fake.url,
            "SETTLE_PLAN_INTERVAL_SECONDS": "3600",  # this test decides when installments are due
            "SETTLE_ACTION_SECRET": "plans-test-action-secret",
        }
    )
    servers = Servers(workdir, env, port, 0)
    seeded = servers.settle("demo")
    assert seeded.returncode == 0, seeded.stderr
    servers.start_service()
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def store(service):
    store = Store.connect(service.env["DATABASE_URL"])
    yield store
    store.engine.dispose()


def _settings(service) -> Settings:
    return Settings(
        database_url=service.env["DATABASE_URL"],
        public_base_url=service.env["PUBLIC_BASE_URL"],
        stripe_api_key=STRIPE_KEY,
        stripe_api_base=service.env["STRIPE_API_BASE"],
        business=BusinessSettings(support_phone="+14155550100"),
    )


def _gateway(service) -> StripeGateway:
    return StripeGateway(STRIPE_KEY, service.env["STRIPE_API_BASE"])


def _event(service, event: dict) -> str:
    status, body = service.stripe_event(event)
    assert status == 200, body
    return json.loads(body)["outcome"]


def _texts(twilio, phone=PHONE):
    return [r.form["Body"] for r in twilio.posts("Messages") if r.form.get("To") == phone]


def test_a_plan_saved_card_off_session_installments_decline_and_pay_by_hand(
    service, store, stripe_fake, twilio_fake
):
    settings, gateway = _settings(service), _gateway(service)
    started = start_plan(
        store, gateway, settings, POLICY, "C001", "INV-1001", 3, "turn-1", "conversation:test"
    )
    with store.unit_of_work() as session:
        plan = session.get(Plan, started.plan_id)
        installment_ids = [i.id for i in plan.installments]
        first_due = plan.installments[0].due_on
    assert [i.amount_minor for i in started.option.installments] == [9500, 9500, 9500]

    # Exactly what Stripe was asked: a Customer, then Checkout in setup mode for it.
    (customer,) = stripe_fake.posts("^/v1/customers$")
    assert customer.headers["idempotency-key"] == "settle:customer:C001"
    assert customer.form["name"] == "Ava Martinez" and customer.form["phone"] == PHONE
    assert customer.form["metadata[customer_id]"] == "C001"
    (setup,) = [
        r for r in stripe_fake.posts("^/v1/checkout/sessions$") if r.form.get("mode") == "setup"
    ]
    assert setup.headers["idempotency-key"].startswith(f"settle:setup:plan:{started.plan_id}:")
    form = setup.form
    assert form["customer"] == "cus_test_0001"
    assert form["payment_method_types[0]"] == "card"
    assert form["client_reference_id"] == "INV-1001"
    assert form["metadata[plan_id]"] == str(started.plan_id)
    assert form["setup_intent_data[metadata][plan_id]"] == str(started.plan_id)
    assert form["success_url"].endswith(f"/plans/saved?plan={started.plan_id}")
    assert "line_items[0][price_data][unit_amount]" not in form  # no money moves here
    assert wait_for(lambda: any(started.url in body for body in _texts(twilio_fake)))

    # Stripe: the card is saved. The service reads the SetupIntent's card, activates the
    # plan and charges the first installment (due today) off-session at once.
    session_id = started.url.rsplit("/", 1)[-1]
    completed = {
        "id": "evt_setup_1",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "mode": "setup",
                "status": "complete",
                "customer": "cus_test_0001",
                "setup_intent": "seti_test_0001",
                "payment_status": "no_payment_required",
                "metadata": {"plan_id": str(started.plan_id)},
            }
        },
    }
    assert _event(service, completed) == "plan_active"
    # Stripe has its answer; the first installment is charged just after, in the background.
    assert wait_for(lambda: invoice(service, "INV-1001")["amount_due"] == 19000)
    assert [r.path for r in stripe_fake.requests if r.method == "GET"] == [
        "/v1/setup_intents/seti_test_0001"
    ]
    (charge,) = stripe_fake.posts("^/v1/payment_intents$")
    assert charge.headers["idempotency-key"] == f"settle:installment:{installment_ids[0]}:1"
    assert {
        k: charge.form[k]
        for k in (
            "amount",
            "currency",
            "customer",
            "payment_method",
            "off_session",
            "confirm",
            "payment_method_types[0]",
            "metadata[installment_id]",
            "metadata[invoice_id]",
        )
    } == {
        "amount": "9500",
        "currency": "usd",
        "customer": "cus_test_0001",
        "payment_method": "pm_card_0001",
        "off_session": "true",
        "confirm": "true",
        "payment_method_types[0]": "card",
        "metadata[installment_id]": str(installment_ids[0]),
        "metadata[invoice_id]": "INV-1001",
    }
    state = invoice(service, "INV-1001")
    assert state["amount_due"] == 19000 and state["status"] == "open"
    assert [p["provider_ref"] for p in state["payments"]] == ["pi_test_0001"]
    assert state["plan"]["status"] == "active"
    assert [i["status"] for i in state["plan"]["installments"]] == [
        "paid",
        "scheduled",
        "scheduled",
    ]
    assert wait_for(
        lambda: any("plan for invoice INV-1001 is set up" in body for body in _texts(twilio_fake))
    )

    # Redeliveries and the charge's own webhook change nothing.
    assert _event(service, completed) == "duplicate"
    succeeded = {
        "id": "evt_pi_1",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": "pi_test_0001",
                "object": "payment_intent",
                "amount": 9500,
                "amount_received": 9500,
                "metadata": {"installment_id": str(installment_ids[0])},
            }
        },
    }
    assert _event(service, succeeded) == "duplicate"
    assert len(invoice(service, "INV-1001")["payments"]) == 1

    # The second installment's day: the card is declined. One charge request, a text with a
    # link to pay it by hand (a Checkout payment page for the installment amount).
    stripe_fake.declined_payment_methods.add("pm_card_0001")
    second_day = dt.datetime.combine(
        first_due + dt.timedelta(days=40), dt.time(18), dt.timezone.utc
    )
    with store.unit_of_work() as session:
        session.get(Installment, installment_ids[1]).due_on = second_day.date()
    summary = charge_due_installments(store, gateway, settings, POLICY, second_day)
    assert summary.failed == 1
    declined = stripe_fake.posts("^/v1/payment_intents$")[-1]
    assert declined.headers["idempotency-key"] == f"settle:installment:{installment_ids[1]}:1"
    (link_request,) = [
        r
        for r in stripe_fake.posts("^/v1/checkout/sessions$")
        if r.form.get("metadata[installment_id]") == str(installment_ids[1])
    ]
    assert link_request.headers["idempotency-key"].startswith(  # a claim's key (store.claims)
        f"settle:checkout:installment:{installment_ids[1]}:1:"
    )
    assert link_request.form["mode"] == "payment"
    assert link_request.form["line_items[0][price_data][unit_amount]"] == "9500"
    with store.unit_of_work() as session:
        link = session.scalar(
            select(PaymentLink).where(PaymentLink.installment_id == installment_ids[1])
        )
        failed = session.get(Installment, installment_ids[1])
        assert (failed.status, failed.provider_ref) == ("failed", "pi_test_0002")
        assert "insufficient funds" in failed.error
    # Stripe's payment_intent.payment_failed for that charge: already handled.
    failed_event = {
        "id": "evt_pi_2",
        "type": "payment_intent.payment_failed",
        "data": {
            "object": {
                "id": "pi_test_0002",
                "object": "payment_intent",
                "amount": 9500,
                "last_payment_error": {"message": "Your card has insufficient funds."},
                "metadata": {"installment_id": str(installment_ids[1])},
            }
        },
    }
    assert _event(service, failed_event) == "duplicate"

    # The customer pays that installment through the link: recorded once, not charged again.
    paid = {
        "id": "evt_hand_1",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": link.session_id,
                "object": "checkout.session",
                "mode": "payment",
                "payment_status": "paid",
                "amount_total": 9500,
                "currency": "usd",
                "payment_intent": "pi_by_hand_1",
                "client_reference_id": "INV-1001",
            }
        },
    }
    assert _event(service, paid) == "partially_paid"
    state = invoice(service, "INV-1001")
    assert state["amount_due"] == 9500
    assert [i["status"] for i in state["plan"]["installments"]] == ["paid", "paid", "scheduled"]
    retry_day = second_day + dt.timedelta(days=POLICY.plans.retry_days, hours=1)
    before = len(stripe_fake.posts("^/v1/payment_intents$"))
    assert charge_due_installments(store, gateway, settings, POLICY, retry_day).charged == 0
    assert len(stripe_fake.posts("^/v1/payment_intents$")) == before

    # The last installment, through payment_intent.succeeded (a charge that was processing),
    # completes the plan and closes the invoice.
    stripe_fake.declined_payment_methods.clear()
    with store.unit_of_work() as session:
        session.get(Installment, installment_ids[2]).due_on = retry_day.date()
    assert charge_due_installments(store, gateway, settings, POLICY, retry_day).charged == 1
    state = invoice(service, "INV-1001")
    assert (state["status"], state["amount_due"], state["plan"]["status"]) == (
        "paid",
        0,
        "completed",
    )
    assert wait_for(lambda: any("INV-1001 is paid in full" in b for b in _texts(twilio_fake)))


def test_refund_exact_request_then_webhooks_confirm_once(service, store, stripe_fake, twilio_fake):
    settings, gateway = _settings(service), _gateway(service)
    with store.unit_of_work() as session:  # C002 paid INV-2002 ($95.00) yesterday
        session.add(
            Payment(
                invoice_id="INV-2002",
                amount_minor=9500,
                currency="USD",
                provider="stripe",
                provider_ref="pi_paid_2002",
            )
        )
        session.get(Invoice, "INV-2002").amount_paid_minor = 9500
        session.flush()
        payment_id = session.scalar(
            select(Payment.id).where(Payment.provider_ref == "pi_paid_2002")
        )
    with store.unit_of_work() as session:
        result = issue_refund(
            store, gateway, settings, POLICY, "C002", payment_id, "duplicate", "conversation:test"
        )
    with store.unit_of_work() as session:  # the action ran twice
        again = issue_refund(
            store, gateway, settings, POLICY, "C002", payment_id, "duplicate", "conversation:test"
        )
    assert (result.status, again.status) == ("issued", "already_refunded")
    requests = [
        r
        for r in stripe_fake.posts("^/v1/refunds$")
        if r.form.get("payment_intent") == "pi_paid_2002"
    ]
    assert len(requests) == 1
    (request,) = requests
    assert request.headers["idempotency-key"] == f"settle:refund:{payment_id}"
    assert {
        k: request.form[k]
        for k in (
            "payment_intent",
            "amount",
            "reason",
            "metadata[refund_id]",
            "metadata[payment_id]",
        )
    } == {
        "payment_intent": "pi_paid_2002",
        "amount": "9500",
        "reason": "duplicate",
        "metadata[refund_id]": str(result.refund_id),
        "metadata[payment_id]": str(payment_id),
    }
    refund_id = json.loads(json.dumps(stripe_fake._by_key[f"settle:refund:{payment_id}"]))["id"]
    state = invoice(service, "INV-2002")
    assert [(r["status"], r["provider_ref"]) for r in state["refunds"]] == [("pending", refund_id)]
    phone = "+12125550102"
    assert not any("refund" in body for body in _texts(twilio_fake, phone))

    created = {
        "id": "evt_re_1",
        "type": "refund.created",
        "data": {
            "object": {
                "id": refund_id,
                "object": "refund",
                "status": "pending",
                "amount": 9500,
                "payment_intent": "pi_paid_2002",
            }
        },
    }
    assert _event(service, created) == "unchanged"
    updated = {
        "id": "evt_re_2",
        "type": "refund.updated",
        "data": {
            "object": {
                "id": refund_id,
                "object": "refund",
                "status": "succeeded",
                "amount": 9500,
                "payment_intent": "pi_paid_2002",
            }
        },
    }
    assert _event(service, updated) == "refund_succeeded"
    assert _event(service, updated) == "duplicate"
    charge = {
        "id": "evt_ch_1",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_2002",
                "object": "charge",
                "payment_intent": "pi_paid_2002",
                "amount_refunded": 9500,
                "refunded": True,
            }
        },
    }
    assert _event(service, charge) == "unchanged"
    assert invoice(service, "INV-2002")["refunds"][0]["status"] == "succeeded"
    assert wait_for(
        lambda: len([b for b in _texts(twilio_fake, phone) if "refund of $95.00" in b]) == 1
    )


def _refund_race(store: Store, stripe_fake: FakeStripe, payment_ref: str) -> None:
    """Two threads, two transactions, one payment: one Stripe refund request, one row."""
    settings = Settings(
        database_url=str(store.engine.url),
        public_base_url="http://x.test",
        stripe_api_key=STRIPE_KEY,
        stripe_api_base=stripe_fake.url,
    )
    gateway = StripeGateway(STRIPE_KEY, stripe_fake.url)
    with store.unit_of_work() as session:
        payment_id = session.scalar(select(Payment.id).where(Payment.provider_ref == payment_ref))
    barrier, results = threading.Barrier(2), []

    def refund():
        barrier.wait()
        with store.unit_of_work():
            results.append(
                issue_refund(
                    store,
                    gateway,
                    settings,
                    POLICY,
                    "C1",
                    payment_id,
                    "duplicate",
                    "conversation:race",
                ).status
            )

    stripe_fake.delay = 0.3  # a slow Stripe keeps the first request in flight
    try:
        threads = [threading.Thread(target=refund) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stripe_fake.delay = 0.0
    assert sorted(results) == ["already_refunded", "issued"]
    assert (
        len(
            [
                r
                for r in stripe_fake.posts("^/v1/refunds$")
                if r.form.get("payment_intent") == payment_ref
            ]
        )
        == 1
    )
    with store.unit_of_work() as session:
        assert (
            session.scalar(select(func.count(Refund.id)).where(Refund.payment_id == payment_id))
            == 1
        )


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_two_concurrent_refund_requests_make_one_refund(backend, tmp_path, request, stripe_fake):
    url = (
        f"sqlite:///{tmp_path / 'race.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = Store.connect(url)
    try:
        with store.unit_of_work() as session:
            session.add(Customer(id="C1", name="Ann", phone=PHONE, postal_code="94110"))
            session.add(
                Invoice(
                    id="INV-R",
                    customer_id="C1",
                    amount_minor=5000,
                    currency="USD",
                    issued_on=dt.date.today(),
                    due_on=dt.date.today(),
                    amount_paid_minor=5000,
                    status="paid",
                )
            )
            session.flush()
            session.add(
                Payment(
                    invoice_id="INV-R",
                    amount_minor=5000,
                    currency="USD",
                    provider="stripe",
                    provider_ref=f"pi_race_{backend}",
                )
            )
        _refund_race(store, stripe_fake, f"pi_race_{backend}")
    finally:
        store.engine.dispose()


@pytest.fixture(scope="module")
def sandbox_service(tmp_path_factory):
    """The service with no Stripe or Twilio keys: the sandbox gateway and the outbox."""
    import os

    workdir = tmp_path_factory.mktemp("sandbox_service")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "TWILIO_", "DATABASE_URL", "SETTLE_SETTINGS"))
    }
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "DATABASE_URL": f"sqlite:///{workdir / 'settle.db'}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "SETTLE_PLAN_INTERVAL_SECONDS": "3600",
            "SETTLE_ACTION_SECRET": "sandbox-test-action-secret",
        }
    )
    servers = Servers(workdir, env, port, 0)
    assert servers.settle("demo").returncode == 0
    servers.start_service()
    yield servers
    servers.stop()


def test_the_sandbox_runs_a_plan_and_a_refund_end_to_end_without_keys(sandbox_service):
    from settle.adapters.payments import SandboxGateway
    from tests.harness import http

    service = sandbox_service
    settings = Settings(
        database_url=service.env["DATABASE_URL"], public_base_url=service.env["PUBLIC_BASE_URL"]
    )
    gateway = SandboxGateway(settings.public_base_url)
    store = Store.connect(settings.database_url)
    try:
        started = start_plan(
            store, gateway, settings, POLICY, "C001", "INV-1001", 2, "turn-1", "conversation:test"
        )
        assert started.url.startswith(f"{service.service_url}/sandbox/setup/cs_sandbox_setup_")
        status, page = http("GET", started.url)
        assert status == 200 and "Save my card" in page and "INV-1001" in page
        # A Spanish browser reads the same page in Spanish.
        status, page = http("GET", started.url, headers={"Accept-Language": "es-MX,es;q=0.9"})
        assert status == 200 and "Guardar mi tarjeta" in page and "<html lang=es>" in page
        # "Saving the card" raises the event Stripe would send; the plan starts and the first
        # installment is charged off-session by the sandbox.
        status, page = http("POST", f"{started.url}/save", b"")
        assert status == 200 and "Card saved" in page
        for path, title in [
            ("/pay/done?invoice=INV-1001", "Thank you"),
            ("/pay/cancelled?invoice=INV-1001", "Payment cancelled"),
            ("/plans/cancelled", "No card saved"),
        ]:
            status, page = http("GET", f"{service.service_url}{path}")
            assert status == 200 and f"<h1>{title}</h1>" in page
        status, page = http(
            "GET",
            f"{service.service_url}/pay/done?invoice=INV-1001",
            headers={"Accept-Language": "fr-CA"},
        )
        assert status == 200 and "<h1>Merci</h1>" in page
        status, page = http("GET", f"{service.service_url}/chat", headers={"Accept-Language": "de"})
        assert status == 200 and "Automatischer Rechnungsassistent" in page
        # The first installment is charged on the service's courier thread, just after.
        assert wait_for(lambda: invoice(service, "INV-1001")["amount_due"] == 14250)
        state = invoice(service, "INV-1001")
        assert state["plan"]["status"] == "active"
        assert [i["status"] for i in state["plan"]["installments"]] == ["paid", "scheduled"]
        assert state["amount_due"] == 14250
        (payment,) = state["payments"]
        assert payment["provider"] == "sandbox" and payment["provider_ref"].startswith(
            "pi_sandbox_"
        )
        status, page = http("POST", f"{started.url}/save", b"")  # saved twice: no second charge
        assert len(invoice(service, "INV-1001")["payments"]) == 1

        with store.unit_of_work():
            result = issue_refund(
                store,
                gateway,
                settings,
                POLICY,
                "C001",
                payment["id"],
                "overcharge",
                "conversation:test",
            )
        assert result.status == "issued"
        refund = invoice(service, "INV-1001")["refunds"][0]
        assert (refund["status"], refund["amount"]) == ("succeeded", 14250)
        outbox = service.settle("outbox", "--limit", "10").stdout
        assert "refund of $142.50 for invoice INV-1001" in outbox
        assert "plan for invoice INV-1001 is set up" in outbox
    finally:
        store.engine.dispose()
