"""Classes 7 and 8: being on this machine proves nothing outside development mode; the
sandbox's checkout pages cannot be guessed or paid twice."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.harness import http, start_servers
from tests.http.conftest import wait_for
from tests.security.conftest import form_post, query, rest

pytestmark = pytest.mark.servers

OPERATOR = {"Authorization": "Bearer operator-secret-token"}


def headers_of(url: str, headers: dict) -> tuple:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_unsigned_twilio_requests_from_this_machine_are_refused(bare):
    status, _ = form_post(
        f"{bare.rasa_url}/webhooks/twilio/webhook",
        urllib.parse.urlencode(
            {"From": "+14155550301", "Body": "balance", "MessageSid": "SMlocal1"}
        ),
    )
    assert status == 403
    status, _ = form_post(
        f"{bare.rasa_url}/webhooks/twilio_voice/webhook",
        urllib.parse.urlencode({"From": "+14155550301", "CallSid": "CAlocal1"}),
    )
    assert status == 403
    status, _ = form_post(
        f"{bare.service_url}/webhooks/twilio/status",
        "MessageSid=SMlocal1&MessageStatus=failed&ErrorCode=21610",
    )
    assert status == 403
    status, _ = http(
        "POST",
        f"{bare.service_url}/webhooks/stripe",
        json.dumps(
            {"id": "evt_local", "type": "checkout.session.completed", "data": {"object": {}}}
        ).encode(),
        {"Content-Type": "application/json"},
    )
    assert status in (400, 403)


def test_the_outbox_needs_the_operator_token_and_invites_no_other_origin(bare):
    status, headers = headers_of(f"{bare.service_url}/outbox", {"Origin": "https://evil.example"})
    assert status in (401, 403)
    assert headers.get("Access-Control-Allow-Origin") in (None, "")
    status, headers = headers_of(
        f"{bare.service_url}/outbox", {"Origin": "https://evil.example", **OPERATOR}
    )
    assert status == 200
    assert headers.get("Access-Control-Allow-Origin") in (None, "")
    status, _ = headers_of(f"{bare.service_url}/outbox", {"Authorization": "Bearer wrong"})
    assert status in (401, 403)


def test_development_mode_trusts_this_machine_and_says_so(tmp_path):
    servers = start_servers(
        tmp_path, None, None, extra_env={"SETTLE_DEV_MODE": "1"}, settings={}, rasa=False
    )
    try:
        status, _ = http("GET", f"{servers.service_url}/outbox")
        assert status == 200
        log = (tmp_path / "service.log").read_text()
        assert "development mode" in log.lower()
    finally:
        servers.stop()


def _link_for(servers, sender: str, invoice: str, postal: str) -> str:
    rest(servers, sender, "I want to pay my bill")
    rest(servers, sender, f"{invoice} {postal}")
    rest(servers, sender, "yes")
    status, body = http("GET", f"{servers.service_url}/outbox", headers=OPERATOR)
    urls = [
        m for r in json.loads(body) for m in re.findall(r"http\S+/sandbox/checkout/\S+", r["body"])
    ]
    assert urls, body
    return urls[0]


def test_sandbox_checkout_ids_cannot_be_derived_and_pay_once(bare):
    url = _link_for(bare, "sandbox-payer", "INV-9101", "94110")
    session_id = url.rsplit("/", 1)[1]
    old_style = "cs_sandbox_" + hashlib.sha256(b"settle:checkout:INV-9101:12345:0").hexdigest()[:24]
    assert session_id != old_style
    assert len(session_id) >= len("cs_sandbox_") + 24

    # What an attacker would compute for another invoice pays nothing.
    guess = "cs_sandbox_" + hashlib.sha256(b"settle:checkout:INV-9201:23456:0").hexdigest()[:24]
    status, _ = http("POST", f"{bare.service_url}/sandbox/checkout/{guess}/pay", b"")
    assert status == 404

    status, _ = http("POST", f"{url}/pay", b"")
    assert status in (200, 303)
    assert wait_for(
        lambda: query(bare, "SELECT status FROM invoices WHERE id = 'INV-9101'") == [("paid",)]
    )
    status, _ = http("POST", f"{url}/pay", b"")
    assert status in (404, 409, 410)
    assert query(bare, "SELECT COUNT(*) FROM payments WHERE invoice_id = 'INV-9101'") == [(1,)]


def test_an_expired_sandbox_checkout_cannot_be_paid(bare):
    url = _link_for(bare, "sandbox-late", "INV-9201", "94110")
    session_id = url.rsplit("/", 1)[1]
    import sqlite3

    with sqlite3.connect(bare.workdir / "settle.db") as db:
        db.execute(
            "UPDATE payment_links SET expires_at = '2020-01-01 00:00:00' WHERE session_id = ?",
            (session_id,),
        )
    status, _ = http("POST", f"{url}/pay", b"")
    assert status in (404, 409, 410)
    assert query(bare, "SELECT COUNT(*) FROM payments WHERE invoice_id = 'INV-9201'") == [(0,)]
