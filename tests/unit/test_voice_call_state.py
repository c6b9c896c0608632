"""A call's webhooks may reach any worker: its state and its answer are where all can read.

Two voice channels stand for two Rasa workers; their webhooks are driven in-process with a
stand-in for the assistant (no model), on the demo billing store."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlencode, urlparse

from settle_rasa.call_state import CallState, CallStore
from settle_rasa.voice import TwilioVoiceInput

CALLER, LINE = "+14155550177", "+14155550199"


class Webhook:
    """What the channel reads of Twilio's request: the signed form and the URL's query."""

    def __init__(self, call_sid: str, url: str = "/webhooks/twilio_voice/webhook", **fields):
        form = {"CallSid": call_sid, "From": CALLER, "To": LINE, "Direction": "inbound"}
        self.body = urlencode({**form, **fields}).encode()
        self.args = dict(parse_qsl(urlparse(url).query))


class Assistant:
    """Answers every message with `reply` (text and custom), after `delay` seconds."""

    def __init__(self, reply: dict | None = None, delay: float = 0.0) -> None:
        self.reply, self.delay, self.heard = reply or {"text": "Hello"}, delay, []

    async def __call__(self, message) -> None:
        self.heard.append(message.text)
        await asyncio.sleep(self.delay)
        await message.output_channel.send_response(message.sender_id, dict(self.reply))


async def webhook(channel: TwilioVoiceInput, assistant: Assistant, call_sid: str, **kw):
    return ET.fromstring(str(await channel._turn(Webhook(call_sid, **kw), assistant)))


def said(twiml) -> str:
    return " ".join(s.text or "" for s in twiml.iter("Say"))


def test_a_call_s_language_and_keypad_reach_the_other_worker(app, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    first, other = TwilioVoiceInput(), TwilioVoiceInput()
    spanish = Assistant({"text": "Hola", "custom": {"language": "es", "keypad": "yes_no"}})
    later = Assistant({"text": "Muy bien"})

    async def call():
        greeting = await webhook(first, spanish, "CA-shared-1")
        action = greeting.find("Gather").get("action")
        reply = await webhook(other, later, "CA-shared-1", url=action, Digits="1")
        await first.calls.close()
        await other.calls.close()
        return greeting, reply

    greeting, reply = asyncio.run(call())
    assert greeting.find("Gather").get("language") == "es-US"
    assert later.heard == ["/affirm"], "key 1 at a yes/no question is a yes, on any worker"
    assert reply.find("Gather").get("language") == "es-US"
    assert "Muy bien" in said(reply)


def test_a_redirect_on_the_other_worker_says_the_answer_the_first_one_made(
    app, redis_url, monkeypatch
):
    monkeypatch.setenv("REDIS_URL", redis_url)
    app.settings = dataclasses.replace(app.settings, voice_turn_seconds=0.5)
    first, other = TwilioVoiceInput(), TwilioVoiceInput()
    slow = Assistant({"text": "You owe 40 dollars."}, delay=0.8)
    never = Assistant({"text": "not this worker's answer"})

    async def call():
        twiml = await webhook(first, slow, "CA-shared-2")
        assert said(twiml) == "One moment please."
        for _ in range(3):  # Twilio follows each <Redirect>; the balancer sends it elsewhere
            redirect = twiml.find("Redirect")
            if redirect is not None:
                twiml = await webhook(other, never, "CA-shared-2", url=redirect.text)
        await first.calls.close()
        await other.calls.close()
        return twiml

    twiml = asyncio.run(call())
    assert "You owe 40 dollars." in said(twiml)
    assert twiml.find("Gather") is not None
    assert slow.heard == ["/greet"] and never.heard == []


def test_without_redis_a_call_s_state_is_forgotten_an_hour_after_its_last_webhook():
    now = [0.0]
    store = CallStore(None, ttl=3600, clock=lambda: now[0])

    async def calls():
        await store.save("CA-old", CallState(language="fr"))
        await store.save("CA-busy", CallState(language="de"))
        now[0] = 1800.0
        await store.save("CA-busy", CallState(language="de", keypad="yes_no"))  # a new turn
        now[0] = 3601.0
        await store.save("CA-new", CallState())
        return [await store.load(sid) for sid in ("CA-old", "CA-busy", "CA-new")]

    old, busy, new = asyncio.run(calls())
    assert old is None and busy == CallState(language="de", keypad="yes_no") and new is not None
    assert len(store.kept) == 2, "the forgotten call is dropped, not kept forever"


def test_an_unreachable_redis_is_logged_and_the_call_goes_on(app, monkeypatch, caplog):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    channel = TwilioVoiceInput()
    caplog.set_level(logging.ERROR)

    async def call():
        twiml = await webhook(channel, Assistant({"text": "Welcome"}), "CA-no-redis")
        await channel.calls.close()
        return twiml

    twiml = asyncio.run(call())
    assert "Welcome" in said(twiml) and twiml.find("Gather") is not None
    assert "Redis (REDIS_URL) is unavailable" in caplog.text
