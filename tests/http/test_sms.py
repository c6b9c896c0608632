"""Twilio Messaging: signed form posts; replies go out through the outbox to Twilio."""

from __future__ import annotations

import sqlite3
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from tests.harness import TWILIO_TOKEN, http
from tests.http.conftest import wait_for

pytestmark = pytest.mark.servers


def twiml_texts(body: str) -> list:
    return [m.text for m in ET.fromstring(body).iter("Message")]


def texts_to(twilio, phone: str) -> list:
    return [r.form["Body"] for r in twilio.posts("Messages") if r.form.get("To") == phone]


def test_pay_by_text_then_stop_then_nothing_more_is_sent(servers, fakes):
    stripe, twilio = fakes
    phone = "+14155550116"

    status, body = servers.sms(phone, "I want to pay my bill")
    assert status == 200 and twiml_texts(body) == []  # replies go through the outbox
    assert wait_for(lambda: any("You have 2 open invoices" in t for t in texts_to(twilio, phone)))
    reply = [t for t in texts_to(twilio, phone) if "open invoices" in t][0]
    assert "$210.00" in reply and "$35.00" in reply

    servers.sms(phone, "the 35 one")
    assert wait_for(
        lambda: any("To confirm: invoice INV-8602" in t for t in texts_to(twilio, phone))
    )
    servers.sms(phone, "yes")
    assert wait_for(lambda: any("checkout.stripe.test" in t for t in texts_to(twilio, phone)))
    assert any(r.form.get("metadata[invoice_id]") == "INV-8602" for r in stripe.posts("checkout"))
    callbacks = {
        r.form.get("StatusCallback") for r in twilio.posts("Messages") if r.form["To"] == phone
    }
    assert callbacks == {f"{servers.service_url}/webhooks/twilio/status"}

    status, body = servers.sms(phone, "STOP")
    assert twiml_texts(body) == [
        "Settle Demo Services: you are unsubscribed and will get no more messages from us. "
        "Reply START to subscribe again."
    ]
    status, body = servers.sms(phone, "stop")
    assert twiml_texts(body) == [], "an opt-out is confirmed once"

    sent_before = len(texts_to(twilio, phone))
    refused = servers.settle("call", "T006", "--reason", "reminder")
    assert refused.returncode == 1 and "opted out" in refused.stderr
    servers.sms(phone, "what's my balance")  # the conversation may go on, but nothing is sent
    with sqlite3.connect(servers.workdir / "settle.db") as db:
        assert wait_for(
            lambda: (
                db.execute(
                    "SELECT COUNT(*) FROM messages WHERE \"to\" = ? AND status = 'refused'",
                    (phone,),
                ).fetchone()[0]
                >= 1
            )
        )
    assert len(texts_to(twilio, phone)) == sent_before

    status, body = servers.sms(phone, "START")
    assert "subscribed again" in twiml_texts(body)[0]


def test_help_keyword_says_who_we_are_and_how_to_stop(servers):
    status, body = servers.sms("+14155550117", "HELP")
    (text,) = twiml_texts(body)
    assert "Settle Demo Services" in text and "STOP" in text and "+14155550100" in text


def test_yes_is_an_answer_not_a_resubscription_for_a_number_that_never_opted_out(servers, fakes):
    _, twilio = fakes
    status, body = servers.sms("+14155550101", "yes")
    assert twiml_texts(body) == []


def test_media_only_message_is_answered_politely(servers):
    status, body = servers.sms("+14155550117", "")
    assert "I can only read text" in twiml_texts(body)[0]


def test_forged_sms_signature_is_refused_before_anything_is_recorded(servers):
    status, _ = servers.sms("+14155550112", "I want to pay my bill", token="not-the-token")
    assert status == 403


def test_delivery_status_callback_is_recorded_and_21610_marks_the_number(servers, fakes):
    _, twilio = fakes
    phone = "+14155550113"
    servers.sms(phone, "hello")
    assert wait_for(lambda: texts_to(twilio, phone))
    with sqlite3.connect(servers.workdir / "settle.db") as db:
        sid = db.execute(
            'SELECT provider_sid FROM messages WHERE "to" = ? ORDER BY id DESC', (phone,)
        ).fetchone()[0]
    url = f"{servers.service_url}/webhooks/twilio/status"
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "21610"}
    forged = http(
        "POST",
        url,
        urllib.parse.urlencode(params).encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )
    assert forged[0] == 403
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    status, _ = http(
        "POST",
        url,
        urllib.parse.urlencode(params).encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    assert status == 204
    with sqlite3.connect(servers.workdir / "settle.db") as db:
        assert db.execute(
            "SELECT provider_status FROM messages WHERE provider_sid = ?", (sid,)
        ).fetchone() == ("undelivered",)
        assert db.execute("SELECT COUNT(*) FROM opt_outs WHERE phone = ?", (phone,)).fetchone() == (
            1,
        )
