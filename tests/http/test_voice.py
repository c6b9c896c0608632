"""Twilio Voice: signed form posts to the running Rasa server, TwiML parsed as XML."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlparse

import pytest

from tests.harness import TWILIO_FROM
from tests.http.conftest import invoice, wait_for

pytestmark = pytest.mark.servers


def said(twiml) -> str:
    return " ".join(s.text or "" for s in twiml.iter("Say"))


def gather(twiml):
    element = twiml.find("Gather")
    assert element is not None, ET.tostring(twiml).decode()
    return element


def keypad_of(twiml) -> str:
    return parse_qs(urlparse(gather(twiml).get("action")).query)["keypad"][0]


def checkouts_for(stripe, invoice_id):
    return [r for r in stripe.posts("checkout") if r.form.get("metadata[invoice_id]") == invoice_id]


def test_a_whole_call_from_ring_to_payment_link(servers, fakes):
    stripe, twilio = fakes
    caller, call = "+14155550111", "CA-voice-1"

    status, twiml = servers.call(call, caller)
    assert status == 200
    g = gather(twiml)
    assert g.get("input") == "speech dtmf" and g.get("language") == "en-US"
    assert g.get("speechTimeout") == "auto" and g.get("actionOnEmptyResult") == "true"
    assert "pay" in g.get("hints")
    say = g.find("Say")
    assert say.get("language") == "en-US" and say.get("voice")
    assert "automated assistant for Settle Demo Services" in say.text
    assert "press 1 to pay a bill" in say.text

    status, twiml = servers.answer(call, caller, twiml, SpeechResult="I want to pay my bill")
    text = said(twiml)
    # Verified by caller ID; amounts and dates as people say them, invoice numbers digit by digit.
    assert "You have 2 open invoices" in text
    assert "two hundred and eighty-five dollars, due December third (I N V, 8 1 0 1)" in text
    assert "press the number of the invoice" in text
    assert keypad_of(twiml) == "choice"

    status, twiml = servers.answer(call, caller, twiml, SpeechResult="the one for forty dollars")
    assert "invoice I N V, 8 1 0 2 for forty dollars" in said(twiml)
    assert "press 1 for yes and 2 for no" in said(twiml)
    assert keypad_of(twiml) == "yes_no"
    assert not checkouts_for(stripe, "INV-8102")

    status, twiml = servers.answer(call, caller, twiml, SpeechResult="yes please")
    assert "texted a secure payment link for forty dollars" in said(twiml)
    (checkout,) = checkouts_for(stripe, "INV-8102")
    assert checkout.form["line_items[0][price_data][unit_amount]"] == "4000"
    assert wait_for(
        lambda: any(
            r.form["To"] == caller and "cs_test_" in r.form["Body"]
            for r in twilio.posts("Messages")
        )
    )


def test_a_keypad_only_call(servers, fakes):
    stripe, _ = fakes
    caller, call = "+14155550112", "CA-keypad-1"
    _, twiml = servers.call(call, caller)
    _, twiml = servers.answer(call, caller, twiml, Digits="1")  # 1: pay a bill
    assert "You have 3 open invoices" in said(twiml)
    _, twiml = servers.answer(call, caller, twiml, Digits="2")  # the second invoice
    assert "I N V, 8 2 0 2 for seventy-five dollars and fifty cents" in said(twiml)
    _, twiml = servers.answer(call, caller, twiml, Digits="1")  # 1: yes
    assert "texted a secure payment link for seventy-five dollars and fifty cents" in said(twiml)
    assert len(checkouts_for(stripe, "INV-8202")) == 1


def test_a_silent_caller_is_asked_again_twice_then_put_through(servers):
    caller, call = "+14155550113", "CA-silent-1"
    _, first = servers.call(call, caller)
    question = gather(first).find("Say").text
    _, twiml = servers.answer(call, caller, first)
    assert said(twiml).startswith("Sorry, I didn't hear anything.")
    assert question in said(twiml), "the last question is asked again, not a generic phrase"
    _, twiml = servers.answer(call, caller, twiml)
    assert "didn't hear anything" in said(twiml) and twiml.find("Hangup") is None
    _, twiml = servers.answer(call, caller, twiml)
    assert "putting you through" in said(twiml)
    assert twiml.find("Dial/Number").text == "+14155550100"


def test_hand_off_dials_a_person_who_hears_a_summary(servers):
    caller, call = "+14155550114", "CA-handoff-1"
    _, twiml = servers.call(call, caller)
    _, twiml = servers.answer(call, caller, twiml, SpeechResult="how much do I owe")
    assert "one hundred and twenty dollars" in said(twiml)
    _, twiml = servers.answer(call, caller, twiml, SpeechResult="I want to talk to a real person")
    assert "passing you to a member of our team" in said(twiml)
    number = twiml.find("Dial/Number")
    assert number.text == "+14155550100"
    whisper = urlparse(number.get("url"))
    # Fetched on the leg to our staff, once, with the customer's call as its parent.
    leg = {"CallSid": "CA-agent-leg", "ParentCallSid": call, "From": TWILIO_FROM}
    status, body = servers.twilio_post(f"{whisper.path}?{whisper.query}", leg)
    assert status == 200
    summary = said(ET.fromstring(body))
    assert "verified as Ted Handoff (T004)" in summary and "balance" in summary
    status, _ = servers.twilio_post(f"{whisper.path}?{whisper.query}", leg)
    assert status == 409, "the summary is told once"


def test_goodbye_hangs_up(servers):
    caller, call = "+14155550114", "CA-bye-1"
    _, twiml = servers.call(call, caller)
    _, twiml = servers.answer(call, caller, twiml, SpeechResult="that's all, goodbye")
    assert "Goodbye" in said(twiml) and twiml.find("Hangup") is not None


def pay_by_keypad(servers, call, caller, pick=None):
    _, twiml = servers.call(call, caller)
    _, twiml = servers.answer(call, caller, twiml, SpeechResult="I'd like to pay my bill")
    if pick:
        _, twiml = servers.answer(call, caller, twiml, Digits=pick)
    _, twiml = servers.answer(
        call, caller, twiml, SpeechResult="I can't get texts, this is a landline"
    )
    pay = twiml.find("Pay")
    assert pay is not None, ET.tostring(twiml).decode()
    return twiml, pay


def test_keypad_card_payment_success_is_reconciled(servers, fakes):
    _, twilio = fakes
    caller, call = "+14155550115", "CA-pay-ok"
    twiml, pay = pay_by_keypad(servers, call, caller, "1")
    assert "by card now, using your keypad" in said(twiml)
    assert pay.get("chargeAmount") == "102.95" and pay.get("currency") == "usd"
    action = urlparse(pay.get("action"))
    query = parse_qs(action.query)
    assert query.pop("n"), "the callback carries the call's one-time token"
    assert query == {"invoice": ["INV-8501"], "amount": ["10295"], "currency": ["USD"]}

    status, body = servers.twilio_post(
        f"{action.path}?{action.query}",
        {
            "CallSid": call,
            "From": caller,
            "To": TWILIO_FROM,
            "Result": "success",
            "PaymentConfirmationCode": "ch_keypad_1",
            "PaymentCardType": "visa",
        },
    )
    assert status == 200
    assert (
        "payment of one hundred and two dollars and ninety-five cents for invoice "
        "I N V, 8 5 0 1 went through" in said(ET.fromstring(body))
    )
    state = invoice(servers, "INV-8501")
    assert state["status"] == "paid"
    assert [(p["amount"], p["provider"], p["provider_ref"]) for p in state["payments"]] == [
        (10295, "twilio_pay", "ch_keypad_1")
    ]
    assert wait_for(
        lambda: any(
            r.form["To"] == caller and "received $102.95" in r.form["Body"]
            for r in twilio.posts("Messages")
        )
    )

    # The callback again (a retry or a replay) is refused: still one payment.
    status, _ = servers.twilio_post(
        f"{action.path}?{action.query}",
        {
            "CallSid": call,
            "From": caller,
            "To": TWILIO_FROM,
            "Result": "success",
            "PaymentConfirmationCode": "ch_keypad_1",
        },
    )
    assert status == 409
    assert len(invoice(servers, "INV-8501")["payments"]) == 1


def test_keypad_card_payment_failure_changes_nothing(servers):
    caller, call = "+14155550115", "CA-pay-fail"
    _, pay = pay_by_keypad(servers, call, caller)  # one invoice left: straight to confirmation
    action = urlparse(pay.get("action"))
    assert parse_qs(action.query)["invoice"] == ["INV-8502"]
    status, body = servers.twilio_post(
        f"{action.path}?{action.query}",
        {"CallSid": call, "From": caller, "To": TWILIO_FROM, "Result": "too-many-failed-attempts"},
    )
    assert status == 200
    assert "didn't go through, and nothing was charged" in said(ET.fromstring(body))
    assert invoice(servers, "INV-8502")["status"] == "open"
    assert invoice(servers, "INV-8502")["payments"] == []


def test_forged_pay_callback_is_refused(servers):
    status, _ = servers.twilio_post(
        "/webhooks/twilio_voice/pay?invoice=INV-8601&amount=1&currency=USD",
        {"CallSid": "CA-forged", "Result": "success"},
        token="wrong",
    )
    assert status == 403
    assert invoice(servers, "INV-8601")["payments"] == []


def test_forged_voice_signature_is_refused_and_nothing_recorded(servers):
    status, _ = servers.call("CA-forged-1", "+14155550199", token="not-the-token")
    assert status == 403
    with sqlite3.connect(servers.workdir / "conversations.db") as db:
        assert db.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = '+14155550199'"
        ).fetchone() == (0,)


def test_a_slow_assistant_never_leaves_the_line_silent(servers, fakes):
    stripe, _ = fakes
    caller, call = "+14155550118", "CA-slow-1"
    _, twiml = servers.call(call, caller)
    _, twiml = servers.answer(call, caller, twiml, SpeechResult="pay my bill")
    stripe.delay = 3.5  # longer than the 2 s turn budget of these tests
    try:
        _, first = servers.answer(call, caller, twiml, SpeechResult="yes", follow_redirects=False)
    finally:
        stripe.delay = 0
    assert said(first) == "One moment please." and first.find("Redirect") is not None
    redirect = first.find("Redirect").text
    _, twiml = servers.call(call, caller, redirect)
    assert "texted a secure payment link for sixty-four dollars" in said(twiml)


def test_outbound_call_lands_in_the_voice_flow(servers, fakes):
    _, twilio = fakes
    placed = servers.settle("call", "T007", "--reason", "reminder", "--invoice", "INV-8701")
    assert placed.returncode == 0, placed.stderr
    request = twilio.posts("Calls.json")[-1]
    assert request.form["To"] == "+14155550117" and request.form["From"] == TWILIO_FROM
    # Answering machines get the voicemail message after their greeting and beep.
    assert request.form["MachineDetection"] == "DetectMessageEnd"
    assert request.form["StatusCallback"].endswith("/webhooks/twilio/call-status")
    url = urlparse(request.form["Url"])
    assert url.path == "/webhooks/twilio_voice/webhook"
    assert parse_qs(url.query) == {
        "reason": ["reminder"],
        "invoice": ["INV-8701"],
        "language": ["en"],
    }

    path = f"{url.path}?{url.query}"
    _, twiml = servers.call(
        "CA-out-1", "+14155550117", path, Direction="outbound-api", AnsweredBy="human"
    )
    text = said(twiml)
    assert text.startswith(
        "Hello, this is an automated call from Settle Demo Services about your account."
    )
    assert "$" not in text and "500" not in text, "nothing about the account before verification"
    _, twiml = servers.answer(
        "CA-out-1", "+14155550117", twiml, SpeechResult="I want to pay", Direction="outbound-api"
    )
    # Whoever answered confirms the postal code on file before hearing anything.
    assert "ZIP or postal code" in said(twiml) and "500" not in said(twiml)
    _, twiml = servers.answer(
        "CA-out-1", "+14155550117", twiml, Digits="94110#", Direction="outbound-api"
    )
    assert "one open invoice, I N V, 8 7 0 1, for five hundred dollars" in said(twiml)

    _, twiml = servers.call(
        "CA-out-2", "+14155550117", path, Direction="outbound-api", AnsweredBy="machine_end_beep"
    )
    assert "please call us back at" in said(twiml).lower() and twiml.find("Hangup") is not None
    assert "500" not in said(twiml)


def test_a_spanish_caller_calling_back_hears_the_whole_greeting_in_spanish(servers):
    """The conversation remembers Spanish from the first call; the second call's greeting,
    its keypad hint and its voice are all Spanish (the hint was English)."""
    from settle.core import i18n

    caller = "+14155550119"
    _, twiml = servers.call("CA-voice-es-1", caller)
    _, twiml = servers.answer(
        "CA-voice-es-1", caller, twiml, SpeechResult="Hola, quiero pagar mi factura"
    )
    assert gather(twiml).get("language") == "es-US", ET.tostring(twiml)
    _, twiml = servers.call("CA-voice-es-2", caller)  # hung up, calls back
    text = said(twiml)
    assert i18n.text("keypad_menu", "es") in text, text
    assert i18n.text("keypad_menu", "en") not in text and "press 1" not in text
    assert gather(twiml).find("Say").get("language") == "es-US"
    assert gather(twiml).get("language") == "es-US"
