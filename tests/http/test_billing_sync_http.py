"""The running service tells the billing system: a payment over the real Stripe webhook
reaches a local endpoint as signed payment.succeeded + invoice.paid, and an endpoint that
hangs or fails slows no webhook; its events arrive once it is back."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from settle.sync.signing import HEADER, verify
from tests.harness import start_servers
from tests.http.conftest import wait_for

SECRET = "whsec_billing_sync_http"


class Endpoint:
    """The billing system's endpoint on loopback: "up" (204), or "down" (hangs past
    Settle's 5 s timeout, then 503). Remembers every request and the events it took."""

    def __init__(self):
        self.mode = "up"
        self.seen: list[bytes] = []
        self.taken: list[tuple[dict, str, bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.seen.append(body)
                if endpoint.mode == "down":
                    time.sleep(6)
                    self.send_response(503)
                else:
                    endpoint.taken.append((json.loads(body), self.headers[HEADER], body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/settle-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types_for(self, invoice_id: str) -> list[str]:
        return [e["type"] for e, _, _ in self.taken if e["data"].get("invoice_id") == invoice_id]


@pytest.fixture(scope="module")
def endpoint():
    receiver = Endpoint()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def service(fakes, endpoint, tmp_path_factory):
    stripe, _ = fakes
    servers = start_servers(
        tmp_path_factory.mktemp("sync"),
        stripe.url,
        rasa=False,
        extra_env={"SETTLE_SYNC_URL": endpoint.url, "SETTLE_SYNC_SECRET": SECRET},
    )
    yield servers
    servers.stop()


def paid(event_id: str, invoice_id: str, amount: int) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": f"cs_{event_id}",
                "object": "checkout.session",
                "payment_status": "paid",
                "amount_total": amount,
                "currency": "usd",
                "payment_intent": f"pi_{event_id}",
                "metadata": {"invoice_id": invoice_id},
            }
        },
    }


def test_a_payment_reaches_the_billing_system_signed(service, endpoint):
    endpoint.mode = "up"
    status, _ = service.stripe_event(paid("evt_sync_1", "INV-1001", 28500))
    assert status == 200
    assert wait_for(lambda: len(endpoint.types_for("INV-1001")) == 2, 20)
    assert endpoint.types_for("INV-1001") == ["payment.succeeded", "invoice.paid"]
    (payment, header, body), (invoice, _, _) = endpoint.taken[:2]
    assert verify(SECRET, header, body, int(time.time()))
    assert not verify("not the secret", header, body, int(time.time()))
    assert payment["data"]["amount"] == 28500 and payment["data"]["currency"] == "USD"
    assert payment["data"]["provider_ref"] == "pi_evt_sync_1"
    assert (invoice["data"]["status"], invoice["data"]["balance"]) == ("paid", 0)
    assert payment["id"].startswith("evt_") and payment["id"] != invoice["id"]


def test_an_endpoint_down_slows_no_webhook_and_gets_its_events_later(service, endpoint):
    endpoint.mode, before = "down", len(endpoint.seen)
    assert service.stripe_event(paid("evt_sync_2", "INV-2001", 5000))[0] == 200
    assert wait_for(lambda: len(endpoint.seen) > before, 20)  # a delivery hangs now
    started = time.monotonic()
    assert service.stripe_event(paid("evt_sync_3", "INV-2001", 7000))[0] == 200
    assert time.monotonic() - started < 2.0  # the webhook did not wait for the endpoint

    def retrying() -> bool:
        listed = service.settle("sync", "status", "--json")
        line = json.loads(listed.stdout)[0]
        return line["pending"] == 4 and "Timeout" in (line["last_error"] or "")

    assert wait_for(retrying, 20)
    endpoint.mode = "up"
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    replayed = service.settle("sync", "replay", "--since", yesterday)
    assert replayed.returncode == 0, replayed.stderr

    def firsts() -> dict[str, str]:
        """INV-2001's events by id, in the order each first arrived."""
        seen: dict[str, str] = {}
        for event, _, _ in endpoint.taken:
            if event["data"].get("invoice_id") == "INV-2001":
                seen.setdefault(event["id"], event["type"])
        return seen

    assert wait_for(lambda: len(firsts()) == 4, 20)
    assert all(verify(SECRET, h, body, int(time.time())) for _, h, body in endpoint.taken)
    assert list(firsts().values()) == [
        "payment.succeeded",
        "invoice.partially_paid",
        "payment.succeeded",
        "invoice.partially_paid",
    ]
