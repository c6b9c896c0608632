"""Settle's Prometheus metrics, and the internal listener the Settle service serves them on.

Counters live in prometheus_client's default registry (beside its process and Python
collectors), one process each: the Settle service runs one process per replica, so no
multiprocess mode is needed. Label values that a client could choose (a channel name) are
folded into a fixed set, so nobody can grow the number of series.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

log = logging.getLogger(__name__)

CHANNELS = ("rest", "socketio", "twilio", "twilio_voice")
OUTBOX_CHANNELS = ("sms", "email")
OUTBOX_STATES = ("due", "deferred", "sending")
REMINDER_OUTCOMES = ("sent", "skipped", "held", "failed", "requested")

ACTION_CALLS = Counter(
    "settle_action_calls",
    "Action calls the action server answered (its view of turns), by the turn's channel.",
    ["channel"],
)
ACTION_SECONDS = Histogram(
    "settle_action_seconds",
    "Time the action server took to answer an action call, by action.",
    ["action"],
)
LINKS_SENT = Counter(
    "settle_payment_links_sent",
    "Payment links given to a customer in a conversation (texted or shown), by channel.",
    ["channel"],
)
LINKS_PAID = Counter(
    "settle_payment_links_paid",
    "Payments recorded on a payment link, by the channel the link was asked for on.",
    ["channel"],
)
STRIPE_EVENTS = Counter(
    "settle_stripe_webhook_events",
    "Stripe webhook events, by type and outcome (applied, duplicate, rejected, error).",
    ["type", "outcome"],
)
REMINDERS = Counter(
    "settle_reminder_steps",
    "Reminder steps by what a pass did with them (a held step counts at every pass).",
    ["outcome"],
)


def channel_label(channel: str | None) -> str:
    """A channel as a label value: one of CHANNELS, "none" or "other"."""
    if not channel:
        return "none"
    return channel if channel in CHANNELS else "other"


def action_call(call: Any, status: int, seconds: float) -> None:
    """One answer of rasa-sdk's /webhook. call is the request's parsed JSON (None when it
    came compressed); an action the executor does not know is counted as "unknown"."""
    call = call if isinstance(call, dict) else {}
    tracker = call.get("tracker") if isinstance(call.get("tracker"), dict) else {}
    action = call.get("next_action")
    known = isinstance(action, str) and status != 404
    ACTION_CALLS.labels(channel_label(tracker.get("latest_input_channel"))).inc()
    ACTION_SECONDS.labels(action if known else "unknown").observe(seconds)


def stripe_event(event: Any, outcome: str) -> None:
    """A Stripe webhook: "rejected" ones (signature, origin, not JSON) have no type we trust;
    reconciliation's outcomes are "duplicate" or, whatever it did, "applied"."""
    kind = event.get("type") if isinstance(event, dict) else None
    if outcome not in ("rejected", "error"):
        outcome = "duplicate" if outcome == "duplicate" else "applied"
    STRIPE_EVENTS.labels(kind if isinstance(kind, str) and kind else "unknown", outcome).inc()


def reminder_pass(summary: Mapping[str, Any]) -> None:
    """A reminder pass's summary (RunSummary.as_dict()), outcome by outcome."""
    for outcome in REMINDER_OUTCOMES:
        REMINDERS.labels(outcome).inc(summary.get(outcome) or 0)


# What the outbox holds now: {(channel, state): messages}; states are OUTBOX_STATES.
OutboxCounts = Callable[[], Mapping[tuple[str, str], int]]


class OutboxDepth(Collector):
    """settle_outbox_messages, counted in the database at each scrape (so every replica
    reports the same shared outbox). A scrape the database cannot answer leaves it out."""

    def __init__(self, counts: OutboxCounts):
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = dict(self._counts())
        except Exception as error:
            log.warning("Outbox depth not counted: %s", error)
            return
        family = GaugeMetricFamily(
            "settle_outbox_messages",
            "Messages in the outbox not yet handed to a provider, by channel and state "
            "(due: to send now; deferred: waiting for a retry or contact hours; sending).",
            labels=["channel", "state"],
        )
        keys = {(c, s) for c in OUTBOX_CHANNELS for s in OUTBOX_STATES} | set(counts)
        for channel, state in sorted(keys):
            family.add_metric([channel, state], counts.get((channel, state), 0))
        yield family


def serve_metrics(
    host: str, port: int, counts: OutboxCounts, registry: CollectorRegistry = REGISTRY
) -> Callable[[], None] | None:
    """The metrics listener (a thread of this process): the outbox gauge joins registry,
    which is served on host:port. Returns how to stop it; None when it could not start,
    which is logged, not fatal: a taken port must not stop payments."""
    depth = OutboxDepth(counts)
    registry.register(depth)
    try:
        server, thread = start_http_server(port, host, registry)
    except OSError as error:
        registry.unregister(depth)
        log.error(
            "Metrics not served: cannot listen on %s:%s (SETTLE_METRICS_HOST, "
            "SETTLE_METRICS_PORT): %s",
            host,
            port,
            error,
        )
        return None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)
        registry.unregister(depth)

    return stop
