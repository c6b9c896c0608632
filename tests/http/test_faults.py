"""Money and messages under faults: a stalled Stripe, a throttling Twilio, restarts."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness import http
from tests.http.conftest import invoice

pytestmark = pytest.mark.servers

STALL_SECONDS = 25


def say(servers, sender: str, text: str, timeout: float = 120) -> tuple:
    started = time.perf_counter()
    status, body = http("POST", f"{servers.rasa_url}/webhooks/rest/webhook",
                        json.dumps({"sender": sender, "message": text}).encode(),
                        {"Content-Type": "application/json"}, timeout=timeout)
    assert status == 200, body
    return [m["text"] for m in json.loads(body) if m.get("text")], time.perf_counter() - started


def test_a_stalled_stripe_keeps_nobody_else_waiting(servers, fakes):
    stripe, _ = fakes
    sender = "web-stalled-stripe"
    say(servers, sender, "pay my bill")
    say(servers, sender, "INV-9601 94110")
    links_before = len(invoice(servers, "INV-9601")["payment_links"])
    stripe.delay = STALL_SECONDS
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            stalled = pool.submit(say, servers, sender, "yes")
            time.sleep(1.0)  # its checkout request is waiting on Stripe now
            others = []
            for n in range(4):  # other customers verify and hear their balance meanwhile
                other = f"web-not-stalled-{n}"
                others.append(say(servers, other, "what do I owe")[1])
                texts, seconds = say(servers, other, "INV-9602 94110")
                others.append(seconds)
                assert any("Otto" in t for t in texts), texts
            (reply, stalled_seconds) = stalled.result()
    finally:
        stripe.delay = 0
    print(f"\nstalled Stripe ({STALL_SECONDS} s): others answered in max {max(others):.2f} s "
          f"(median {sorted(others)[len(others) // 2]:.2f} s); the stalled customer heard "
          f"back after {stalled_seconds:.1f} s")
    assert max(others) < 2.0, others
    assert "couldn't create your payment link" in reply[0] and "nothing was charged" in reply[0]
    assert stalled_seconds < STALL_SECONDS
    # Once Stripe answers again, asking again gives the link, made once.
    time.sleep(1)
    say(servers, sender, "pay my bill")
    reply, _ = say(servers, sender, "yes")
    assert "texted a secure payment link for $88.01" in reply[0], reply
    assert len(invoice(servers, "INV-9601")["payment_links"]) == links_before + 1
