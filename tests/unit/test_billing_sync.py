"""Outbound sync: money changes become signed events, written with the change, delivered
in the background at least once, in order per invoice and endpoint, retried, given up."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from settle.adapters.payments import ChargeResult
from settle.billing.credits import keep_as_credit
from settle.billing.disputes import open_dispute, resolve_dispute
from settle.billing.importer import import_billing_data
from settle.billing.reconcile import handle_payment_event
from settle.messaging.consent import record_opt_in, record_opt_out
from settle.store.db import Store, alembic_config
from settle.store.models import Base, Invoice, Payment
from settle.sync.delivery import GIVE_UP_AFTER, deliver_due, retry_delay
from settle.sync.outbox import attach
from settle.sync.records import SyncDelivery, SyncEvent
from settle.sync.settings import SyncSettings
from settle.sync.signing import HEADER, verify
from tests.conftest import DEMO

SECRET = "whsec_sync_test"
A, B = "https://erp.example.test/settle", "https://books.example.test/hook"
SYNC = SyncSettings((A,), SECRET)
T0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def synced(store):
    with store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    attach(store, SYNC)
    return store


def paid(event_id, amount, intent, invoice="INV-1001"):
    return {
        "id": event_id,
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": f"cs_{event_id}",
                "payment_status": "paid",
                "amount_total": amount,
                "currency": "usd",
                "payment_intent": intent,
                "metadata": {"invoice_id": invoice},
            }
        },
    }


def pay(store, settings, event_id, amount, intent, invoice="INV-1001"):
    with store.unit_of_work() as session:
        return handle_payment_event(session, paid(event_id, amount, intent, invoice), settings)


def events(store):
    with store.unit_of_work() as session:
        rows = session.scalars(select(SyncEvent).order_by(SyncEvent.id)).all()
        return [(e.type, e.subject, e.data) for e in rows]


class Receiver:
    """Stands in for the billing system's endpoint: answers with the statuses it is given
    (then 200), remembering what it took."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.taken: list[dict] = []
        self.attempts = 0

    def __call__(self, url, body, headers, timeout):
        assert timeout <= 5
        assert verify(SECRET, headers[HEADER], body, int(T0.timestamp()), tolerance=10**8)
        self.attempts += 1
        if self.statuses:
            return self.statuses.pop(0)
        self.taken.append(json.loads(body))
        return 200


def test_the_sync_tables_match_migration_0015_and_it_downgrades(store):
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert [d for d in diff if "sync_" in repr(d)] == []
    config = alembic_config(str(store.engine.url))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0014")
    assert "sync_events" not in inspect(store.engine).get_table_names()
    Store.connect(str(store.engine.url)).engine.dispose()
    assert "sync_deliveries" in inspect(store.engine).get_table_names()


def test_a_payment_is_written_as_events_with_its_change_one_delivery_per_endpoint(store, settings):
    with store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    attach(store, SyncSettings((A, B), SECRET))
    assert pay(store, settings, "evt_1", 10000, "pi_1") == "partially_paid"
    assert pay(store, settings, "evt_2", 18500, "pi_2") == "paid"
    kinds = [(kind, subject) for kind, subject, _ in events(store)]
    assert kinds == [
        ("payment.succeeded", "invoice:INV-1001"),
        ("invoice.partially_paid", "invoice:INV-1001"),
        ("payment.succeeded", "invoice:INV-1001"),
        ("invoice.paid", "invoice:INV-1001"),
    ]
    first, partial, _, full = (data for _, _, data in events(store))
    assert (first["amount"], first["currency"], first["provider_ref"]) == (10000, "USD", "pi_1")
    assert (partial["amount_paid"], partial["balance"], partial["currency"]) == (
        10000,
        18500,
        "USD",
    )
    assert (full["status"], full["balance"]) == ("paid", 0)
    with store.unit_of_work() as session:
        assert session.scalar(select(func.count(SyncDelivery.id))) == 8
        assert set(session.scalars(select(SyncDelivery.endpoint))) == {A, B}
        ids = session.scalars(select(SyncEvent.event_id)).all()
    assert all(i.startswith("evt_") and len(i) == 36 for i in ids) and len(set(ids)) == 4


def test_a_change_rolled_back_sends_nothing(synced, settings):
    with pytest.raises(RuntimeError):
        with synced.unit_of_work() as session:
            handle_payment_event(session, paid("evt_1", 10000, "pi_1"), settings)
            session.flush()
            assert session.scalar(select(func.count(SyncEvent.id))) == 2
            raise RuntimeError("the webhook's transaction fails")
    assert events(synced) == []


def test_no_endpoint_no_events(store, settings):
    with store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    attach(store, SyncSettings())
    pay(store, settings, "evt_1", 10000, "pi_1")
    assert events(store) == []


def test_disputes_opt_outs_and_credits_are_events(synced, settings):
    pay(synced, settings, "evt_1", 30000, "pi_1")  # $15.00 over
    with synced.unit_of_work() as session:
        payment_id = session.scalars(select(Payment.id)).one()
        dispute = open_dispute(session, "C002", "INV-2001", "I never got it", "conversation:x")
        session.flush()
        resolve_dispute(session, dispute.id, "operator:ana", outcome="upheld")
        record_opt_out(session, "+14155550101", "sms:STOP", "conversation:x")
        session.flush()
        record_opt_in(session, "+14155550101", "sms:START", "conversation:x")
        session.add(
            Invoice(
                id="INV-1002",
                customer_id="C001",
                amount_minor=5000,
                currency="USD",
                issued_on=dt.date(2026, 12, 1),
                due_on=dt.date(2026, 12, 31),
            )
        )
        keep_as_credit(session, settings, payment_id, "operator:ana")
    kinds = [kind for kind, _, _ in events(synced)][2:]
    assert kinds == [
        "dispute.created",
        "dispute.resolved",
        "customer.opted_out",
        "customer.opted_in",
        "credit.created",
        "invoice.paid",
        "credit.applied",
        "invoice.partially_paid",
    ]
    by_kind = {kind: data for kind, _, data in events(synced)}
    assert by_kind["customer.opted_out"]["customer_ids"] == ["C001"]
    assert by_kind["dispute.resolved"]["outcome"] == "upheld"
    assert by_kind["credit.applied"]["invoice_id"] == "INV-1002"
    assert by_kind["invoice.partially_paid"]["balance"] == 3500
    assert (by_kind["credit.created"]["amount"], by_kind["credit.created"]["currency"]) == (
        1500,
        "USD",
    )


def test_refunds_and_chargebacks_are_events(synced, settings):
    pay(synced, settings, "evt_1", 28500, "pi_1")
    with synced.unit_of_work() as session:
        handle_payment_event(
            session,
            {
                "id": "evt_r",
                "type": "charge.refunded",
                "data": {
                    "object": {"id": "ch_1", "payment_intent": "pi_1", "amount_refunded": 2000}
                },
            },
            settings,
        )
        handle_payment_event(
            session,
            {
                "id": "evt_c",
                "type": "charge.dispute.created",
                "data": {
                    "object": {
                        "id": "dp_1",
                        "payment_intent": "pi_1",
                        "amount": 26500,
                        "currency": "usd",
                        "reason": "fraudulent",
                    }
                },
            },
            settings,
        )
    by_kind = {kind: data for kind, _, data in events(synced)}
    assert (by_kind["refund.succeeded"]["amount"], by_kind["refund.succeeded"]["currency"]) == (
        2000,
        "USD",
    )
    assert by_kind["chargeback.created"]["amount"] == 26500
    assert by_kind["chargeback.created"]["provider_dispute_id"] == "dp_1"
    assert "dispute.created" in by_kind


def test_delivery_to_a_local_endpoint_is_signed(store, settings):
    received: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/settle"
    sync = SyncSettings((url,), SECRET)
    with store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    attach(store, sync)
    try:
        pay(store, settings, "evt_1", 28500, "pi_1")
        now = dt.datetime.now(dt.timezone.utc)
        assert deliver_due(store, sync, now=now).delivered == 2
    finally:
        server.shutdown()
    bodies = [json.loads(body) for _, body in received]
    assert [b["type"] for b in bodies] == ["payment.succeeded", "invoice.paid"]
    assert bodies[0]["data"]["amount"] == 28500 and bodies[0]["id"].startswith("evt_")
    assert abs(bodies[0]["created"] - now.timestamp()) < 60
    for headers, body in received:
        assert verify(SECRET, headers[HEADER], body, int(now.timestamp()))
        assert not verify("another secret", headers[HEADER], body, int(now.timestamp()))
        assert not verify(SECRET, headers[HEADER], body, int(now.timestamp()) + 301)
    assert deliver_due(store, sync, now=now).delivered == 0  # each once


def test_a_receiver_down_three_times_gets_each_event_once_in_order(synced, settings):
    pay(synced, settings, "evt_1", 10000, "pi_1")
    pay(synced, settings, "evt_2", 5000, "pi_2")
    receiver = Receiver(statuses=[500, 503, 502])
    now = T0
    first = deliver_due(synced, SYNC, now=now, post=receiver)
    assert (first.failed_attempts, first.delivered, first.waiting) == (1, 0, 3)
    for attempt in (1, 2):
        assert deliver_due(synced, SYNC, now=now, post=receiver).delivered == 0  # not yet due
        now += retry_delay(attempt)
        assert deliver_due(synced, SYNC, now=now, post=receiver).failed_attempts == 1
    now += retry_delay(3)
    assert deliver_due(synced, SYNC, now=now, post=receiver).delivered == 4
    assert deliver_due(synced, SYNC, now=now + GIVE_UP_AFTER, post=receiver).delivered == 0
    assert [e["type"] for e in receiver.taken] == [
        "payment.succeeded",
        "invoice.partially_paid",
        "payment.succeeded",
        "invoice.partially_paid",
    ]
    assert [e["data"]["amount_paid"] for e in receiver.taken[1::2]] == [10000, 15000]
    assert len({e["id"] for e in receiver.taken}) == 4 and receiver.attempts == 7
    assert retry_delay(1) == dt.timedelta(seconds=30)
    assert retry_delay(20) == dt.timedelta(hours=1)


def test_an_endpoint_no_longer_configured_is_sent_nothing(store, settings):
    with store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    attach(store, SyncSettings((A, B), SECRET))
    pay(store, settings, "evt_1", 10000, "pi_1")
    receiver = Receiver()
    urls: list[str] = []
    outcome = deliver_due(
        store, SYNC, now=T0, post=lambda url, *rest: urls.append(url) or receiver(url, *rest)
    )
    assert outcome.delivered == 2 and set(urls) == {A}


def test_one_invoice_waiting_does_not_hold_back_another(synced, settings):
    pay(synced, settings, "evt_1", 10000, "pi_1")
    pay(synced, settings, "evt_3", 5000, "pi_3", invoice="INV-2001")
    taken = []

    def refuses_inv_1001(url, body, headers, timeout):
        event = json.loads(body)
        if event["data"]["invoice_id"] == "INV-1001":
            return 500
        taken.append(event["type"])
        return 200

    outcome = deliver_due(synced, SYNC, now=T0, post=refuses_inv_1001)
    assert (outcome.failed_attempts, outcome.delivered, outcome.waiting) == (1, 2, 1)
    assert taken == ["payment.succeeded", "invoice.partially_paid"]


def test_after_three_days_a_delivery_fails_and_the_next_goes(synced, settings):
    pay(synced, settings, "evt_1", 10000, "pi_1")
    down = Receiver(statuses=[500] * 1000)
    now = T0
    while now < T0 + GIVE_UP_AFTER + dt.timedelta(hours=2):
        deliver_due(synced, SYNC, now=now, post=down)
        now += dt.timedelta(hours=1)
    with synced.unit_of_work() as session:
        statuses = session.scalars(select(SyncDelivery.status).order_by(SyncDelivery.id)).all()
        errors = session.scalars(select(SyncDelivery.last_error)).all()
    assert statuses == ["failed", "failed"] and all("HTTP 500" in e for e in errors)
    assert 70 < down.attempts < 200  # back-off capped at an hour, not every pass


def test_a_claimed_delivery_is_not_sent_twice_and_a_crashed_one_is_taken_up(synced, settings):
    pay(synced, settings, "evt_1", 10000, "pi_1")
    with synced.unit_of_work() as session:  # another worker has the first one, since T0
        first = session.scalars(select(SyncDelivery).order_by(SyncDelivery.id)).first()
        first.status, first.next_attempt_at = "sending", T0 + dt.timedelta(seconds=60)
    receiver = Receiver()
    assert (
        deliver_due(synced, SYNC, now=T0 + dt.timedelta(seconds=10), post=receiver).delivered == 0
    )
    # Its worker crashed: after the lease it goes, then the next.
    assert (
        deliver_due(synced, SYNC, now=T0 + dt.timedelta(seconds=61), post=receiver).delivered == 2
    )
    assert [e["type"] for e in receiver.taken] == ["payment.succeeded", "invoice.partially_paid"]


def test_a_plan_its_installments_and_its_failure_are_events(store):
    from settle.plans import charge_due_installments
    from settle.rules.policy import PlanRules, Policy
    from tests.unit.test_plans import NOW, SETTINGS, RecordingGateway, _save_card, _seed, _start

    attach(store, SYNC)
    gateway = RecordingGateway()
    policy = Policy(plans=replace(PlanRules(), retry_attempts=0))
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway, policy=policy).plan_id
    _save_card(store, gateway, plan_id)
    assert charge_due_installments(store, gateway, SETTINGS, policy, NOW).charged == 1
    gateway.answers = [ChargeResult("pi_declined", "failed", "Your card was declined.")]
    later = NOW + dt.timedelta(days=31)
    assert charge_due_installments(store, gateway, SETTINGS, policy, later).failed == 1
    assert [kind for kind, _, _ in events(store)] == [
        "plan.created",
        "payment.succeeded",
        "plan.installment_paid",
        "invoice.partially_paid",
        "plan.failed",
    ]
    created, _, paid_one, invoice, failed = (data for _, _, data in events(store))
    assert created["total"] == 28500 and len(created["installments"]) == 3
    assert (paid_one["installment"], paid_one["installments"], paid_one["amount"]) == (1, 3, 9500)
    assert invoice["balance"] == 19000
    assert failed == {"plan_id": plan_id, "invoice_id": "INV-1", "error": "Your card was declined."}


def test_a_paid_invoice_voided_by_the_billing_system_is_an_event(synced, settings):
    from settle.api.rows import invoice_from_json
    from settle.api.upserts import upsert_invoice

    pay(synced, settings, "evt_1", 28500, "pi_1")
    body = {
        "invoice_id": "INV-1001",
        "customer_id": "C001",
        "amount": "285.00",
        "currency": "USD",
        "issued_on": "2026-11-02",
        "due_on": "2026-12-03",
        "status": "void",
        "description": "Water heater repair",
    }
    with synced.unit_of_work() as session:
        assert upsert_invoice(session, *invoice_from_json(body), "api:erp").status == 200
    kind, subject, data = events(synced)[-1]
    assert (kind, subject, data["status"], data["amount_paid"]) == (
        "invoice.voided",
        "invoice:INV-1001",
        "void",
        28500,
    )


def test_two_workers_racing_post_each_event_once(synced, settings):
    for n in range(1, 5):
        pay(synced, settings, f"evt_{n}", 1000, f"pi_{n}", invoice=["INV-1001", "INV-2001"][n % 2])
    posted: list[str] = []
    lock = threading.Lock()

    def slow_receiver(url, body, headers, timeout):
        time.sleep(0.05)
        with lock:
            posted.append(json.loads(body)["id"])
        return 200

    def worker():
        for _ in range(6):
            deliver_due(synced, SYNC, now=T0, post=slow_receiver)

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert len(posted) == len(set(posted)) == 8
