"""What the billing-sync tests share: a store with the demo data whose sessions write sync
events, a Stripe payment through reconciliation, and an endpoint that answers as told."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from settle.billing.importer import import_billing_data
from settle.billing.reconcile import handle_payment_event
from settle.sync.outbox import attach
from settle.sync.records import SyncEvent
from settle.sync.settings import SyncSettings
from settle.sync.signing import HEADER, verify
from tests.conftest import DEMO

SECRET = "whsec_sync_test"
A, B = "https://erp.example.test/settle", "https://books.example.test/hook"
SYNC = SyncSettings((A,), SECRET)
# The tests' clock for delivery passes: a day after the events they write (at the real time,
# some time after this module is imported), so every event is due from T0 on. A fixed date
# here was a time bomb: events written after it were not yet due at "T0".
T0 = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).replace(microsecond=0)


def synced_store(store, sync=SYNC):
    """store with the demo data, its sessions writing events for sync's endpoints."""
    with store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    attach(store, sync)
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
