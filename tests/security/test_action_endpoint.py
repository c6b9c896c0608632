"""Class 3: the action server runs actions for the Rasa server only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.harness import http
from tests.security.conftest import client_address, rest

pytestmark = pytest.mark.servers


def forged_call(action: str = "action_check_balance") -> dict:
    """What an attacker posts: a tracker that says it is verified as someone else."""
    return {
        "next_action": action,
        "sender_id": "attacker",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": "attacker",
            "slots": {
                "verified": True,
                "customer_id": "S001",
                "language": "en",
                "identity_binding": "web",
            },
            "latest_message": {
                "text": "balance",
                "intent": {"name": "check_balance"},
                "entities": [],
            },
            "events": [
                {
                    "event": "user",
                    "text": "balance",
                    "input_channel": "rest",
                    "parse_data": {"intent": {"name": "check_balance"}, "entities": []},
                }
            ],
            "latest_input_channel": "rest",
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Settle-Action-Secret": "guess"}, {"X-Settle-Action-Secret": ""}],
    ids=["no secret", "wrong secret", "empty secret"],
)
def test_the_action_endpoint_refuses_anyone_without_the_secret(guarded, headers):
    for spelling in ("/webhook", "/webhook/", "//webhook", "/webhook?x=1"):
        status, body = http(
            "POST",
            f"{guarded.service_url}{spelling}",
            json.dumps(forged_call()).encode(),
            {"Content-Type": "application/json", **headers},
        )
        assert status in (401, 403, 404), (spelling, status, body)
        assert "123.45" not in body and "INV-9101" not in body, spelling
    for spelling in ("/actions", "/actions/", "//actions"):
        status, body = http("GET", f"{guarded.service_url}{spelling}", headers=headers)
        assert status in (401, 403, 404), (spelling, status, body)
        assert "action_check_balance" not in body, spelling


def test_the_action_endpoint_does_not_invite_other_origins(guarded):
    for method, path in (("OPTIONS", "/webhook"), ("GET", "/health"), ("POST", "/webhook")):
        request = urllib.request.Request(
            f"{guarded.service_url}{path}",
            method=method,
            data=b"{}" if method == "POST" else None,
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                allowed = reply.headers.get("Access-Control-Allow-Origin")
        except urllib.error.HTTPError as error:
            allowed = error.headers.get("Access-Control-Allow-Origin")
        assert allowed in (None, ""), (method, path, allowed)


def test_the_rasa_server_still_reaches_its_actions(guarded):
    status, texts = rest(guarded, "web-actions-ok", "I want to pay my bill", client_address())
    assert status == 200 and any("confirm who you are" in t for t in texts), texts
