"""Metrics are for operators: served on their own port on loopback, never on the public
Settle port; and they move when Stripe's webhook and the Rasa server's action calls come in."""

from __future__ import annotations

import json
import re

import pytest

from tests.harness import free_port, http, start_servers
from tests.security.test_action_endpoint import forged_call

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def measured(security_fakes, tmp_path_factory):
    stripe, twilio = security_fakes
    port = free_port()
    servers = start_servers(
        tmp_path_factory.mktemp("metrics"),
        stripe.url,
        twilio.url,
        extra_env={"SETTLE_METRICS_PORT": str(port)},
        settings={},
        rasa=False,
    )
    yield servers, f"http://127.0.0.1:{port}/metrics"
    servers.stop()


def value(url: str, name: str, **labels: str) -> float:
    status, text = http("GET", url)
    assert status == 200
    wanted = ",".join(f'{key}="{labels[key]}"' for key in sorted(labels))
    for line in text.splitlines():
        found = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if found and found[1] == name and ",".join(sorted((found[2] or "").split(","))) == wanted:
            return float(found[3])
    return 0.0


def event(event_id: str) -> dict:
    return {
        "id": event_id,
        "type": "checkout.session.expired",
        "data": {"object": {"id": "cs_unknown", "object": "checkout.session"}},
    }


def test_the_public_port_has_no_metrics(measured):
    servers, _ = measured
    for path in ("/metrics", "/metrics/", "//metrics"):
        status, body = http("GET", f"{servers.service_url}{path}")
        assert status == 404, path
        assert "settle_" not in body


def test_stripe_events_are_counted_by_type_and_outcome(measured):
    servers, metrics_url = measured
    labels = {"type": "checkout.session.expired"}
    before = {
        outcome: value(metrics_url, "settle_stripe_webhook_events_total", **labels, outcome=outcome)
        for outcome in ("applied", "duplicate")
    }
    rejected = value(
        metrics_url, "settle_stripe_webhook_events_total", type="unknown", outcome="rejected"
    )
    assert servers.stripe_event(event("evt_metrics_1"))[0] == 200
    assert servers.stripe_event(event("evt_metrics_1"))[0] == 200
    assert servers.stripe_event(event("evt_metrics_2"), secret="whsec_wrong")[0] == 400
    after = {
        outcome: value(metrics_url, "settle_stripe_webhook_events_total", **labels, outcome=outcome)
        for outcome in ("applied", "duplicate")
    }
    assert after == {"applied": before["applied"] + 1, "duplicate": before["duplicate"] + 1}
    assert (
        value(metrics_url, "settle_stripe_webhook_events_total", type="unknown", outcome="rejected")
        == rejected + 1
    )


def test_action_calls_are_counted_by_channel_and_timed_by_action(measured):
    servers, metrics_url = measured
    calls = value(metrics_url, "settle_action_calls_total", channel="rest")
    timed = value(metrics_url, "settle_action_seconds_count", action="action_check_balance")
    status, _ = http(
        "POST",
        f"{servers.service_url}/webhook",
        json.dumps(forged_call()).encode(),
        {
            "Content-Type": "application/json",
            "X-Settle-Action-Secret": servers.env["SETTLE_ACTION_SECRET"],
        },
    )
    assert status == 200
    refused, _ = http("POST", f"{servers.service_url}/webhook", json.dumps(forged_call()).encode())
    assert refused == 403  # not a call the action server answered: not counted
    assert value(metrics_url, "settle_action_calls_total", channel="rest") == calls + 1
    assert (
        value(metrics_url, "settle_action_seconds_count", action="action_check_balance")
        == timed + 1
    )


def test_the_outbox_depth_is_read_from_the_service_database(measured):
    _, metrics_url = measured
    status, text = http("GET", metrics_url)
    assert status == 200
    for state in ("due", "deferred", "sending"):
        assert f'settle_outbox_messages{{channel="sms",state="{state}"}}' in text
