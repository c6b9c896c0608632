"""Class 6: a Twilio signature counts for the URL we publish, once, with one value per field."""

from __future__ import annotations

import urllib.parse

import pytest
from twilio.request_validator import RequestValidator

from tests.harness import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN
from tests.http.conftest import wait_for
from tests.security.conftest import form_post, query, texts_to

pytestmark = pytest.mark.servers


def signed(url: str, params: dict) -> str:
    return RequestValidator(TWILIO_TOKEN).compute_signature(url, params)


def sms_params(phone: str, text: str, sid: str) -> dict:
    return {
        "From": phone,
        "To": TWILIO_FROM,
        "Body": text,
        "MessageSid": sid,
        "AccountSid": TWILIO_SID,
    }


def test_a_signature_for_another_host_does_not_count_through_forwarded_headers(guarded):
    """A request Twilio signed for some other URL, replayed to us with X-Forwarded-Host."""
    params = sms_params("+14155550308", "what's my balance", "SMforwarded0001")
    elsewhere = "https://attacker.example/webhooks/twilio/webhook"
    for headers in (
        {"X-Forwarded-Host": "attacker.example", "X-Forwarded-Proto": "https"},
        {"Host": "attacker.example", "X-Forwarded-Proto": "https"},
    ):
        status, _ = form_post(
            f"{guarded.rasa_url}/webhooks/twilio/webhook",
            urllib.parse.urlencode(params),
            {"X-Twilio-Signature": signed(elsewhere, params), **headers},
        )
        assert status == 403, headers
    status, _ = form_post(
        f"{guarded.service_url}/webhooks/twilio/status",
        "MessageSid=SMx&MessageStatus=delivered",
        {
            "X-Twilio-Signature": signed(
                "https://attacker.example/webhooks/twilio/status",
                {"MessageSid": "SMx", "MessageStatus": "delivered"},
            ),
            "X-Forwarded-Host": "attacker.example",
            "X-Forwarded-Proto": "https",
        },
    )
    assert status == 403


def test_a_replayed_text_is_refused_and_answered_once(guarded, security_fakes):
    _, twilio = security_fakes
    phone = "+14155550308"
    url = f"{guarded.rasa_url}/webhooks/twilio/webhook"
    params = sms_params(phone, "what's my balance", "SMreplay000000000000000000000001")
    body = urllib.parse.urlencode(params)
    first, _ = form_post(url, body, {"X-Twilio-Signature": signed(url, params)})
    assert first == 200
    assert wait_for(lambda: any("$890.12" in t for t in texts_to(twilio, phone)))
    again, _ = form_post(url, body, {"X-Twilio-Signature": signed(url, params)})
    assert again in (400, 403, 409), again
    wait_for(lambda: False, 1.5)
    assert sum("$890.12" in t for t in texts_to(twilio, phone)) == 1


def test_a_form_with_a_repeated_field_is_refused(guarded):
    """Signed for +1…0308's own text; a second From in front names someone else."""
    url = f"{guarded.rasa_url}/webhooks/twilio/webhook"
    params = sms_params("+14155550399", "what's my balance", "SMdupkey00000000000000000001")
    body = "From=%2B14155550301&" + urllib.parse.urlencode(params)
    status, _ = form_post(url, body, {"X-Twilio-Signature": signed(url, params)})
    assert status in (400, 403), status
    with_victim = query(guarded, "SELECT COUNT(*) FROM messages WHERE \"to\" = '+14155550301'")
    assert with_victim == [(0,)]


def test_a_replayed_voice_turn_is_refused(guarded):
    caller, call = "+14155550308", "CA-replay-turn"
    _, twiml = guarded.call(call, caller)
    action = twiml.find("Gather").get("action")
    status, _ = guarded.call(call, caller, action, SpeechResult="what's my balance")
    assert status == 200
    status, body = guarded.call(call, caller, action, SpeechResult="what's my balance")
    assert status in (400, 403, 409), (status, body)
    status, _ = guarded.call(call, caller)  # the call's first request, again
    assert status in (400, 403, 409), status


def test_a_replayed_status_callback_changes_nothing(guarded, security_fakes):
    phone = "+14155550308"
    guarded.sms(phone, "hello there")
    sent = 'SELECT id, provider_sid FROM messages WHERE "to" = ? AND provider_sid IS NOT NULL'
    assert wait_for(lambda: query(guarded, sent, phone))
    message_id, sid = query(guarded, sent + " ORDER BY id DESC", phone)[0]
    url = f"{guarded.service_url}/webhooks/twilio/status"

    def status_callback(status: str) -> int:
        params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": TWILIO_SID}
        code, _ = form_post(
            url, urllib.parse.urlencode(params), {"X-Twilio-Signature": signed(url, params)}
        )
        return code

    assert status_callback("sent") in (200, 204)
    assert status_callback("delivered") in (200, 204)
    status_callback("sent")  # a replay of the earlier callback
    status_callback("delivered")
    assert query(guarded, "SELECT provider_status FROM messages WHERE id = ?", message_id) == [
        ("delivered",)
    ]
    assert query(
        guarded,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'message.status' AND subject = ?",
        f"message:{message_id}",
    ) == [(2,)]
