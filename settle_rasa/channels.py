"""Twilio SMS input channel that checks X-Twilio-Signature (Rasa's built-in one does not).

Registered in credentials.yml; Twilio posts to /webhooks/twilio/webhook. The sender's number
(E.164) is the conversation id, and, because the request is signed, the identity key.
"""
from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any, Awaitable, Callable, Dict, Optional, Text
from xml.sax.saxutils import escape

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from twilio.request_validator import RequestValidator

from settle.phones import maybe_e164

log = logging.getLogger(__name__)


def public_url(request: Request) -> str:
    """The URL as Twilio addressed it, also behind a proxy that terminates TLS."""
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    query = f"?{request.query_string}" if request.query_string else ""
    return f"{proto}://{host}{request.path}{query}"


def is_trusted_twilio_request(request: Request, auth_token: Optional[str]) -> bool:
    """Signed by Twilio with our token; without a token (local use) from loopback only."""
    if not auth_token:
        try:
            return ipaddress.ip_address(request.ip).is_loopback
        except ValueError:
            return False
    signature = request.headers.get("X-Twilio-Signature", "")
    params = {key: request.form.get(key) for key in request.form}
    return RequestValidator(auth_token).validate(public_url(request), params, signature)


def twiml_messages(texts) -> str:
    body = "".join(f"<Message>{escape(t)}</Message>" for t in texts if t)
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


class TwilioSmsInput(InputChannel):
    """Programmable Messaging webhook; replies go back as TwiML <Message> elements."""

    @classmethod
    def name(cls) -> Text:
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        return cls(credentials.get("auth_token") or os.environ.get("TWILIO_AUTH_TOKEN") or None)

    def __init__(self, auth_token: Optional[str] = None) -> None:
        self.auth_token = auth_token

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("settle_twilio_sms", __name__)

        @hook.get("/")
        async def health(_: Request):
            return response.json({"status": "ok"})

        @hook.post("/webhook")
        async def receive(request: Request):
            if not is_trusted_twilio_request(request, self.auth_token):
                log.warning("Refused an unsigned or forged Twilio SMS request from %s", request.ip)
                return response.text("invalid signature", status=403)
            sender = maybe_e164(request.form.get("From"))
            if sender is None:
                return response.text("missing or invalid From", status=400)
            text = (request.form.get("Body") or "").strip()
            if not text:
                # Media-only message: nothing to understand, so say what works.
                return response.text(twiml_messages(
                    ["Sorry, I can only read text messages. Reply with a few words, e.g. PAY."]),
                    content_type="text/xml")
            collector = CollectingOutputChannel()
            metadata = {key: request.form.get(key) for key in ("MessageSid", "To", "From")}
            await on_new_message(UserMessage(text, collector, sender, input_channel=self.name(),
                                             metadata=metadata))
            texts = [m.get("text") for m in collector.messages]
            return response.text(twiml_messages(texts), content_type="text/xml")

        return hook
