"""TwiML for the voice channel: what the caller hears (spoken text in their language),
hand-offs to a person, keypad payments and voicemail, and the caller's keys read as the
words the assistant understands."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from sanic import response
from twilio.twiml.voice_response import Dial, VoiceResponse

from settle.app import runtime
from settle.core import i18n
from settle.understanding.speech import speakable
from settle_rasa import phone_payments

BASE_PATH = "/webhooks/twilio_voice"
KEYPAD_MENU = {"1": "/pay_invoice", "2": "/check_balance", "0": "/human_handoff"}
KEYPAD_YES_NO = {"1": "/affirm", "2": "/deny"}
# The hint said after a question, by what the keypad answers there (in the call's language).
KEYPAD_HINTS = {
    "yes_no": "keypad_yes_no",
    "choice": "keypad_choice",
    "menu": "keypad_menu",
    "identity": "keypad_identity",
    "postal": "keypad_postal",
}
ORDINALS = {
    "1": "the first one",
    "2": "the second one",
    "3": "the third one",
    "4": "the fourth one",
    "5": "the fifth one",
}


def answer_text(form, keypad: str) -> str | None:
    """What the caller said, or the keys they pressed in the words the bot understands."""
    digits = (form.get("Digits") or "").strip().rstrip("#")
    if digits and keypad in ("identity", "postal"):
        # Keys at an identity question are a claim to check, like typed text.
        pressed = "".join(d for d in digits if d.isdigit())
        return f'/inform{{"keypad": "{pressed}"}}' if pressed else None
    if digits:
        table = {"yes_no": KEYPAD_YES_NO, "menu": KEYPAD_MENU, "choice": ORDINALS}.get(keypad, {})
        return table.get(digits, digits)
    speech = (form.get("SpeechResult") or "").strip()
    return speech or None


def for_speech(text: str, language: str) -> str:
    """The text as the caller's language says it aloud (amounts and dates in words)."""
    region = runtime.current().settings.business.default_region
    return speakable(text, language, dt.date.today().year, region)


def voice_of(language: str) -> dict[str, str]:
    return {
        "voice": i18n.text("voice_name", language),
        "language": i18n.text("voice_language", language),
    }


def transfer(language: str, texts: list[str], handoff: dict[str, Any], nonce: str) -> VoiceResponse:
    twiml = VoiceResponse()
    for text in texts:
        twiml.say(for_speech(text, language), **voice_of(language))
    # The action chose who takes this kind of hand-off; the business's line otherwise.
    support = handoff.get("to") or runtime.current().settings.business.support_phone
    if not support:
        twiml.hangup()
        return twiml
    dial = Dial(timeout=30)
    query = urlencode({"handoff": handoff.get("ref", ""), "lang": language, "n": nonce})
    dial.number(support, url=f"{BASE_PATH}/whisper?{query}", method="POST")
    twiml.append(dial)
    return twiml


def keypad_payment(
    language: str, texts: list[str], pay: dict[str, Any], nonce: str
) -> VoiceResponse:
    twiml = VoiceResponse()
    for text in texts:
        twiml.say(for_speech(text, language), **voice_of(language))
    twiml.append(phone_payments.pay_verb(pay, language, nonce))
    return twiml


def voicemail(language: str) -> VoiceResponse:
    business = runtime.current().settings.business
    twiml = VoiceResponse()
    twiml.say(
        for_speech(
            i18n.text(
                "voicemail", language, business=business.name, support_phone=business.support_phone
            ),
            language,
        ),
        **voice_of(language),
    )
    twiml.hangup()
    return twiml


def as_http(twiml):
    if not isinstance(twiml, VoiceResponse):  # a refusal, already an HTTP response
        return twiml
    return response.text(str(twiml), content_type="text/xml")
