"""Outbound sync delivery: signed, at least once, in order per invoice and endpoint, retried
with back-off, given up after 3 days, claimed once by racing workers."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from settle.billing.importer import import_billing_data
from settle.sync.delivery import GIVE_UP_AFTER, deliver_due, retry_delay
from settle.sync.outbox import attach
from settle.sync.records import SyncDelivery
from settle.sync.settings import SyncSettings
from settle.sync.signing import HEADER, verify
from tests.conftest import DEMO
from tests.unit.sync_support import SECRET, SYNC, T0, A, B, Receiver, pay, synced_store


@pytest.fixture
def synced(store):
    return synced_store(store)


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
    with synced.unit_of_work() as session:  # three days from when the events were written
        start = now = session.scalars(select(SyncDelivery.queued_at)).first()
    while now < start + GIVE_UP_AFTER + dt.timedelta(hours=2):
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


def test_the_hourly_prune_forgets_delivered_events_after_30_days_and_keeps_the_rest(
    store, tmp_path
):
    from settle.app.background import prune_once
    from settle.store.models import utcnow
    from settle.sync.outbox import record_event
    from settle.sync.records import SyncEvent

    now = utcnow()
    old, recent = now - dt.timedelta(days=40), now - dt.timedelta(days=5)
    states = {
        "old-delivered": (old, ("delivered", "delivered")),
        "old-half-failed": (old, ("delivered", "failed")),
        "old-pending": (old, ("pending", "pending")),
        "recent-delivered": (recent, ("delivered", "delivered")),
    }
    with store.unit_of_work() as session:
        for name, (created, statuses) in states.items():
            event = record_event(
                session, "invoice.paid", f"invoice:{name}", {}, (A, B), now=created
            )
            session.flush()
            for delivery, status in zip(
                session.scalars(select(SyncDelivery).where(SyncDelivery.event_id == event.id)),
                statuses,
                strict=True,
            ):
                delivery.status = status
                delivery.delivered_at = created + dt.timedelta(hours=1)

    prune_once(store, f"sqlite:///{tmp_path / 'conversations.db'}", 90)

    with store.unit_of_work() as session:
        left = {e.subject: e.id for e in session.scalars(select(SyncEvent))}
        deliveries = {(d.subject, d.status) for d in session.scalars(select(SyncDelivery))}
    assert set(left) == {
        "invoice:old-half-failed",
        "invoice:old-pending",
        "invoice:recent-delivered",
    }
    assert ("invoice:old-half-failed", "delivered") not in deliveries
    assert ("invoice:old-half-failed", "failed") in deliveries
    assert ("invoice:recent-delivered", "delivered") in deliveries
