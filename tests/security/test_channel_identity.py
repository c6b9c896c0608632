"""Classes 1 and 2: identity comes from what the server verified, never from a channel's name
or a sender id a client chose."""

from __future__ import annotations

import pytest

from tests.http.conftest import wait_for
from tests.security.conftest import client_address, query, rest, shows_account, texts_to

pytestmark = pytest.mark.servers


def test_a_rest_client_naming_twilio_is_not_recognised_by_the_number_it_claims(guarded):
    client = client_address()
    for sender in ("14155550301", "+14155550301", "tel:+14155550301"):
        status, texts = rest(guarded, sender, "what's my balance", client, input_channel="twilio")
        assert not shows_account(texts, "$123.45", "INV-9101", "Sam"), (sender, texts)
        if status == 200:
            assert any("confirm who you are" in t for t in texts), texts


def test_a_rest_client_naming_twilio_cannot_opt_out_someone_elses_number(guarded):
    client = client_address()
    for sender in ("14155550310", "+14155550310"):
        rest(guarded, sender, "stop texting me", client, input_channel="twilio")
        rest(guarded, sender, "STOP", client, input_channel="twilio_voice")
    assert query(guarded, "SELECT phone FROM opt_outs WHERE phone = ?", "+14155550310") == []


def test_a_verified_text_conversation_cannot_be_continued_over_rest(guarded, security_fakes):
    _, twilio = security_fakes
    phone = "+14155550302"
    guarded.sms(phone, "what's my balance")
    assert wait_for(lambda: any("$234.56" in t for t in texts_to(twilio, phone))), (
        "the signed text recognises the texter"
    )
    client = client_address()
    status, texts = rest(guarded, phone, "what's my balance", client)
    assert status != 200 or not shows_account(texts, "$234.56", "INV-9201", "Sue"), texts
    status, texts = rest(guarded, phone, "I want to pay", client, input_channel="twilio")
    assert status != 200 or not shows_account(texts, "$234.56", "INV-9201", "Sue"), texts


def test_a_verified_text_conversation_cannot_be_continued_over_socketio(guarded, security_fakes):
    socketio = pytest.importorskip("socketio")
    _, twilio = security_fakes
    phone = "+14155550302"
    guarded.sms(phone, "what's my balance")
    assert wait_for(lambda: sum("$234.56" in t for t in texts_to(twilio, phone)) >= 1)

    received, confirmed = [], []
    client = socketio.Client(reconnection=False)
    client.on("bot_uttered", lambda data: received.append(data.get("text") or ""))
    client.on("session_confirm", lambda data: confirmed.append(data))
    client.connect(
        guarded.rasa_url,
        socketio_path="/socket.io",
        transports=["polling"],
        headers={"X-Forwarded-For": client_address()},
    )
    try:
        client.emit("session_request", {"session_id": phone})
        assert wait_for(lambda: confirmed, 10)
        client.emit(
            "user_uttered",
            {"message": "what's my balance", "session_id": phone, "customData": {"language": "en"}},
        )
        wait_for(lambda: received, 5)
        assert not shows_account(received, "$234.56", "INV-9201", "Sue"), received
        # The session the server confirmed instead is a web conversation of its own.
        assert confirmed[0] != phone
        client.emit(
            "user_uttered",
            {
                "message": "what's my balance",
                "session_id": confirmed[0],
                "customData": {"language": "en"},
            },
        )
        assert wait_for(lambda: any("confirm who you are" in t for t in received), 15), received
    finally:
        client.disconnect()
    assert not shows_account(received, "$234.56", "INV-9201", "Sue"), received
