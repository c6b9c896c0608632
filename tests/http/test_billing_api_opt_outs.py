"""POST /api/v1/opt-outs: an opt-out the billing system recorded comes in like a STOP, over
real HTTP to a running Settle service."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from settle.messaging.consent import is_opted_out
from settle.store.models import OptOut
from tests.http.api_calls import audit_entries, call, create_key, new_id


@pytest.fixture(scope="module")
def key(api):
    """A key of these tests' own: the other API tests spend SETTLE_API_KEY's 60 a minute."""
    return create_key(api, "erp-optouts")


def _rows(store, contact: str) -> list[tuple[str, str]]:
    with store.unit_of_work() as session:
        found = session.scalars(select(OptOut).where(OptOut.phone == contact))
        return sorted((row.channel, row.source) for row in found)


def test_a_phone_opt_out_is_recorded_once_in_e164_with_the_key_as_source(api, api_store, key):
    body = {"phone": "(415) 555-0177", "channel": "sms"}
    first = call(api, "POST", "/api/v1/opt-outs", body, key=key)
    second = call(api, "POST", "/api/v1/opt-outs", body, key=key)
    assert first[0] == 201, first
    assert second[0] == 200, second
    assert first[1] == {"phone": "+14155550177", "channel": "sms", "opted_out": True}
    assert _rows(api_store, "+14155550177") == [("sms", "api:erp-optouts")]
    with api_store.unit_of_work() as session:
        assert is_opted_out(session, "+14155550177", "sms")
        assert not is_opted_out(session, "+14155550177", "call")
    entries = audit_entries(api_store, "phone:+14155550177")
    assert [(e.action, e.actor) for e in entries] == [("contact.opted_out", "api:erp-optouts")]


def test_all_is_the_default_and_refuses_every_channel(api, api_store, key):
    status, body = call(api, "POST", "/api/v1/opt-outs", {"phone": "+1 415 555 0178"}, key=key)
    assert status == 201, body
    assert body["channel"] == "all"
    with api_store.unit_of_work() as session:
        assert all(is_opted_out(session, "+14155550178", c) for c in ("sms", "call", "email"))
    # A narrower opt-out after "all" is already so.
    assert (
        call(api, "POST", "/api/v1/opt-outs", {"phone": "4155550178", "channel": "call"}, key=key)[
            0
        ]
        == 200
    )


def test_an_email_opt_out_refuses_email(api, api_store, key):
    status, body = call(
        api, "POST", "/api/v1/opt-outs", {"email": "Pat@Example.com", "channel": "email"}, key=key
    )
    assert status == 201, body
    assert body == {"email": "pat@example.com", "channel": "email", "opted_out": True}
    assert _rows(api_store, "pat@example.com") == [("email", "api:erp-optouts")]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"phone": 4155550179}, "phone"),
        ({"phone": "4155550179", "channel": "fax"}, "channel"),
        ({"phone": "4155550179", "channel": "email"}, "channel"),
        ({"email": "pat@example.com", "channel": "sms"}, "channel"),
        ({"email": "not-an-address", "channel": "email"}, "email"),
        ({"phone": "4155550179", "email": "pat@example.com"}, "email"),
        ({"phone": "4155550179", "reason": "asked"}, "reason"),
    ],
)
def test_a_bad_opt_out_is_422_naming_the_field_and_stores_nothing(api, api_store, key, body, field):
    status, answer = call(api, "POST", "/api/v1/opt-outs", body, key=key)
    assert status == 422, answer
    assert field in [e["field"] for e in answer["errors"]], answer
    assert _rows(api_store, "+14155550179") == []


def test_an_opt_out_needs_a_key_and_honours_the_idempotency_key(api, api_store, key):
    body = {"phone": "4155550180"}
    assert call(api, "POST", "/api/v1/opt-outs", body, key=None)[0] == 401
    assert _rows(api_store, "+14155550180") == []
    headers = {"Idempotency-Key": new_id("optout")}
    first = call(api, "POST", "/api/v1/opt-outs", body, headers=headers, key=key)
    assert first[0] == 201
    assert call(api, "POST", "/api/v1/opt-outs", body, headers=headers, key=key) == first
    other = call(api, "POST", "/api/v1/opt-outs", {"phone": "4155550181"}, headers=headers, key=key)
    assert other[0] == 422 and "Idempotency-Key" in other[1]["error"]
    assert _rows(api_store, "+14155550181") == []


def test_a_large_opt_out_body_is_413(api, api_store, key):
    raw = b'{"phone": "4155550182", "channel": "' + b"x" * 70_000 + b'"}'
    assert call(api, "POST", "/api/v1/opt-outs", raw=raw, key=key)[0] == 413
    assert _rows(api_store, "+14155550182") == []


def test_openapi_describes_the_opt_out_call(api):
    _, document = call(api, "GET", "/api/v1/openapi.json", key=None)
    post = document["paths"]["/api/v1/opt-outs"]["post"]
    assert set(post["responses"]) >= {"200", "201", "401", "413", "422", "429"}
    schema = document["components"]["schemas"]["OptOutIn"]
    assert schema["properties"]["channel"]["enum"] == ["all", "sms", "call", "email"]
    assert "/api/v1/opt-ins" not in document["paths"]
