"""The Prometheus metrics: each counter moves where the thing happens, the outbox gauge is
read from the database at scrape time, and the listener serves them on its own port.
Counters are process-wide, so tests read how much they moved, never their value."""

from __future__ import annotations

import datetime as dt
import urllib.request

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy import update

from actions.payment import ActionSendPaymentLink
from settle import reminders
from settle.app import webhooks
from settle.billing.link_texts import send_payment_link
from settle.config import ConfigError, Settings
from settle.messaging.consent import record_opt_out
from settle.messaging.delivery import outbox_depth
from settle.observability import metrics
from settle.store.models import Message, utcnow
from tests.harness import free_port
from tests.unit.test_reminders import DUE, add_customer, add_invoice, local, make_app
from tests.unit.trackers import run, tracker


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Moved:
    """How much a sample of the default registry moved inside the with block."""

    def __init__(self, name: str, **labels: str):
        self.name, self.labels = name, labels

    def __enter__(self):
        self.before = sample(self.name, **self.labels)
        return self

    def __exit__(self, *_):
        self.by = sample(self.name, **self.labels) - self.before


def completed(event_id: str, session_id: str) -> dict:
    return {
        "id": event_id,
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": session_id,
                "payment_status": "paid",
                "amount_total": 28500,
                "currency": "usd",
                "payment_intent": f"pi_{event_id}",
            }
        },
    }


def test_a_paid_link_is_counted_once_by_the_channel_it_was_asked_on(app):
    sent = send_payment_link(
        *(app.store, app.gateway, app.settings, "C001", "INV-1001", "r1", "test"),
        conversation_id="+14155550101",
        channel="twilio",
        text_it=False,
    )
    session_id = sent.url.rsplit("/", 1)[-1]
    with Moved("settle_payment_links_paid_total", channel="twilio") as paid:
        assert webhooks.apply_event(completed("evt_m1", session_id), "sandbox") == "paid"
        assert webhooks.apply_event(completed("evt_m1", session_id), "sandbox") == "duplicate"
    assert paid.by == 1


def test_a_link_handed_over_in_a_conversation_is_counted_by_its_channel(app):
    slots = {"verified": True, "customer_id": "C001", "invoice_id": "INV-1001"}
    with Moved("settle_payment_links_sent_total", channel="rest") as links:
        said, _, _ = run(ActionSendPaymentLink(), tracker("yes", slots=slots, channel="rest"))
    assert said == ["utter_payment_link_sent"] and links.by == 1
    with app.store.unit_of_work() as session:
        record_opt_out(session, "+14155550101", "STOP", "test")
    with Moved("settle_payment_links_sent_total", channel="rest") as refused:
        said, _, _ = run(
            ActionSendPaymentLink(), tracker("again", slots=slots, channel="rest", message_id="m2")
        )
    assert said == ["utter_payment_link_refused"] and refused.by == 0


def test_a_reminder_pass_counts_its_outcomes(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    with Moved("settle_reminder_steps_total", outcome="sent") as sent:
        with Moved("settle_reminder_steps_total", outcome="skipped") as skipped:
            summary = reminders.run_due_reminders(
                sqlite_store, app, local(DUE + dt.timedelta(days=8), 9)
            )
    assert (summary.sent, summary.skipped) == (1, 3)
    assert (sent.by, skipped.by) == (1, 3)


def test_a_client_chosen_channel_name_does_not_make_new_series():
    assert metrics.channel_label("twilio_voice") == "twilio_voice"
    assert metrics.channel_label("x" * 40) == "other"
    assert metrics.channel_label(None) == "none"
    with Moved("settle_action_calls_total", channel="other") as calls:
        call = {"next_action": "action_x", "tracker": {"latest_input_channel": "zz"}}
        metrics.action_call(call, 404, 0.01)
    assert calls.by == 1
    assert sample("settle_action_seconds_count", action="action_x") == 0


def add_message(session, key, channel="sms", status="queued", next_attempt_at=None):
    session.add(
        Message(
            idempotency_key=key,
            channel=channel,
            to="+14155550101" if channel == "sms" else "ann@example.com",
            body="hello",
            status=status,
            next_attempt_at=next_attempt_at,
        )
    )


def test_the_outbox_gauge_counts_what_waits_by_channel_and_state(store):
    now = utcnow()
    with store.unit_of_work() as session:
        add_message(session, "a")
        add_message(session, "b", next_attempt_at=now - dt.timedelta(seconds=5))  # a retry, due
        add_message(session, "c", next_attempt_at=now + dt.timedelta(minutes=10))  # backoff
        add_message(session, "d", status="sending", next_attempt_at=now + dt.timedelta(minutes=2))
        add_message(session, "e", channel="email")
        add_message(session, "f", status="sent")
        add_message(session, "g", status="refused")

    def counts():
        with store.unit_of_work() as session:
            return outbox_depth(session, now)

    registry = CollectorRegistry()
    registry.register(metrics.OutboxDepth(counts))
    gauge = lambda channel, state: registry.get_sample_value(  # noqa: E731
        "settle_outbox_messages", {"channel": channel, "state": state}
    )
    assert (gauge("sms", "due"), gauge("sms", "deferred"), gauge("sms", "sending")) == (2, 1, 1)
    assert (gauge("email", "due"), gauge("email", "deferred"), gauge("email", "sending")) == (
        1,
        0,
        0,
    )
    with store.unit_of_work() as session:  # the next scrape reads the database again
        session.execute(update(Message).where(Message.idempotency_key == "a").values(status="sent"))
    assert gauge("sms", "due") == 1


def test_an_outbox_the_database_cannot_count_leaves_the_gauge_out_not_the_scrape():
    def broken():
        raise OSError("database down")

    registry = CollectorRegistry()
    registry.register(metrics.OutboxDepth(broken))
    assert b"settle_outbox_messages" not in generate_latest(registry)


def test_the_listener_serves_the_registry_and_a_taken_port_is_not_fatal():
    registry = CollectorRegistry()
    port = free_port()
    stop = metrics.serve_metrics("127.0.0.1", port, lambda: {("sms", "due"): 3}, registry)
    assert stop is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        assert 'settle_outbox_messages{channel="sms",state="due"} 3.0' in text
        again = CollectorRegistry()
        assert metrics.serve_metrics("127.0.0.1", port, lambda: {}, again) is None
        assert b"settle_outbox_messages" not in generate_latest(again)
    finally:
        stop()


def test_the_metrics_port_is_read_from_the_environment():
    base = {"DATABASE_URL": "sqlite://"}
    default = Settings.from_env(base)
    assert (default.metrics_host, default.metrics_port) == ("127.0.0.1", 9105)
    assert Settings.from_env({**base, "SETTLE_METRICS_PORT": "0"}).metrics_port == 0
    for bad in ("nine", "70000", "-1"):
        with pytest.raises(ConfigError, match="SETTLE_METRICS_PORT"):
            Settings.from_env({**base, "SETTLE_METRICS_PORT": bad})
