"""Twilio SMS input channel that checks X-Twilio-Signature (Rasa's built-in one does not).

Registered in credentials.yml; Twilio posts to /webhooks/twilio/webhook. The sender's number
(E.164) is the conversation id — shared with calls from the same number; no unsigned channel
can use an id that starts with "+" (settle_rasa.web_channels). Because the request is signed
(for our RASA_PUBLIC_URL, once per MessageSid, one value per field), the channel seals the
number as proven into the message (settle.access.proof); the actions believe only that.

* STOP/START/HELP keywords (every supported language) are handled here, before the
  assistant: an opt-out is recorded at once and confirmed once.
* Replies go out through Settle's messaging outbox (retries, status callbacks, opt-out
  checks), grouped into as few messages as fit a few segments each.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from xml.sax.saxutils import escape

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from settle.access import proof as proofs
from settle.access.replay import CallFacts, first_time, issue_nonce, use_nonce
from settle.access.requests import form_params, twilio_refusal
from settle.app import runtime
from settle.billing import conversation as account
from settle.core import i18n
from settle.core.clock import utcnow
from settle.core.phones import maybe_e164
from settle.messaging.consent import (
    CONFIRMATION,
    is_opted_out,
    opted_out_since,
    record_opt_in,
    record_opt_out,
)
from settle.messaging.outbox import queue_sms, sms_bodies
from settle.understanding.language_detection import ON_FILE
from settle_rasa.ingress import guard_server, screened

log = logging.getLogger(__name__)

# Replies being sent after Twilio got its answer (kept referenced until done).
_sending: set = set()


def twiml_messages(texts: list[str]) -> str:
    body = "".join(f"<Message>{escape(t)}</Message>" for t in texts if t)
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def _twiml(texts: list[str]):
    return response.text(twiml_messages(texts), content_type="text/xml")


class SignedTwilioInput(InputChannel):
    """A channel whose requests are signed by Twilio with TWILIO_AUTH_TOKEN."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # No token in credentials.yml: refusal() checks with Settings' TWILIO_AUTH_TOKEN.
        credentials = credentials or {}
        return cls(credentials.get("auth_token") or None)

    def __init__(self, auth_token: str | None = None) -> None:
        self.auth_token = auth_token

    def refusal(self, request: Request):
        """A 403 for a request Twilio did not sign for our public URL; None when it may go on."""
        settings = runtime.current().settings
        if self.auth_token and self.auth_token != settings.twilio_auth_token:
            settings = replace(settings, twilio_auth_token=self.auth_token)
        reason = twilio_refusal(request, settings, settings.rasa_public_url)
        if reason is None:
            return None
        log.warning("Refused a %s request from %s: %s", self.name(), request.ip, reason)
        return response.text(reason, status=403)


def seal(
    proof: proofs.ChannelProof, conversation_id: str, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The message's metadata with the channel's proof sealed in (settle.access.proof)."""
    secret = runtime.current().settings.action_secret
    if not secret:
        log.error(
            "SETTLE_ACTION_SECRET is not set in the Rasa server: nobody can be "
            "recognised by phone number"
        )
        return proofs.without_proof(metadata)
    return {
        **proofs.without_proof(metadata),
        proofs.METADATA_KEY: proofs.seal(proof, conversation_id, secret),
    }


async def taken_before(key: str) -> bool:
    """Whether a signed request with this key (a MessageSid, a call's start) was seen."""
    return not await asyncio.to_thread(_first_time, key)


def _first_time(key: str) -> bool:
    with runtime.current().store.unit_of_work() as session:
        return first_time(session, key)


async def call_token(facts: CallFacts) -> str:
    """A new one-time token for the URL of a call's next request (settle.access.replay)."""

    def issue() -> str:
        with runtime.current().store.unit_of_work() as session:
            return issue_nonce(session, facts)

    return await asyncio.to_thread(issue)


async def take_call_token(nonce: str | None, call_sid: str) -> CallFacts | None:
    """Take the one-time token of a call's URL; None when it is missing, used or foreign."""

    def take() -> CallFacts | None:
        with runtime.current().store.unit_of_work() as session:
            return use_nonce(session, nonce, call_sid)

    return await asyncio.to_thread(take)


class TwilioSmsInput(SignedTwilioInput):
    """Programmable Messaging webhook."""

    @classmethod
    def name(cls) -> str:
        return "twilio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("settle_twilio_sms", __name__)

        @hook.get("/")
        async def health(_: Request):
            return response.json({"status": "ok"})

        @hook.post("/webhook")
        async def receive(request: Request):
            refused = self.refusal(request)
            if refused:
                return refused
            form = form_params(request)
            sender = maybe_e164(form.get("From"))
            if sender is None:
                return response.text("missing or invalid From", status=400)
            message_sid = form.get("MessageSid") or ""
            if not message_sid:
                return response.text("missing MessageSid", status=400)
            if await taken_before(f"sms:{message_sid}"):
                log.warning("Refused a replay of text %s", message_sid)
                return response.text("this message was already received", status=409)
            text = (form.get("Body") or "").strip()
            kind, keyword_language = i18n.keyword(text)
            on_file = await asyncio.to_thread(language_on_file, sender)
            language = keyword_language or on_file or _first_language()
            if not text:  # a picture or a voice note: say what works
                return _twiml([i18n.text("sms_media_only", language)])
            if kind:
                answer = await asyncio.to_thread(_consent_keyword, kind, sender, language)
                if answer is not None:
                    return _twiml(answer)
            fields = {key: form.get(key) for key in ("MessageSid", "To", "From")}
            if on_file:  # Twilio signed it: the number is proven (answering_language)
                fields[ON_FILE] = on_file
            metadata = seal(
                proofs.ChannelProof(kind=proofs.SMS, phone=sender, phone_proven=True),
                sender,
                fields,
            )
            # Twilio gets its answer at once (it gives up after 15 s); the turn runs after,
            # and its replies go out through the outbox.
            task = asyncio.ensure_future(
                self._converse(
                    on_new_message,
                    UserMessage(
                        text,
                        CollectingOutputChannel(),
                        sender,
                        input_channel=self.name(),
                        metadata=metadata,
                    ),
                    language,
                    message_sid,
                )
            )
            _sending.add(task)
            task.add_done_callback(_sending.discard)
            return _twiml([])

        return guard_server(hook)

    @staticmethod
    async def _converse(
        on_new_message, message: UserMessage, language: str, message_sid: str
    ) -> None:
        started = utcnow()
        try:
            await screened(on_new_message, lambda _: language)(message)
            texts = [m.get("text") for m in message.output_channel.messages if m.get("text")]
            await asyncio.to_thread(_send_replies, message.sender_id, texts, message_sid, started)
        except Exception:
            log.exception("Text %s: the turn or its replies failed", message_sid)


def language_on_file(phone: str | None) -> str | None:
    """The language stored for the customer with this number, when Settle speaks it (for a
    number the channel proved: nothing about an account is told to an unproven one)."""
    settle = runtime.current()
    business = settle.settings.business
    stored = account.language_on_file(settle.store, phone, business.default_region)
    return stored if stored in business.languages else None


def _first_language() -> str:
    return runtime.current().settings.business.languages[0]


def _consent_keyword(kind: str, phone: str, language: str) -> list[str] | None:
    """Answer STOP / START / HELP; None lets the message through to the assistant."""
    settle = runtime.current()
    business = settle.settings.business
    with settle.store.unit_of_work() as session:
        if kind == "opt_out":
            new = record_opt_out(session, phone, "sms:keyword", f"conversation:{phone}")
            # Confirmed once: a repeated STOP gets no answer.
            return [i18n.text("sms_opted_out", language, business=business.name)] if new else []
        if kind == "opt_in":
            if not is_opted_out(session, phone):
                return None  # "yes" / "start" in a conversation is just an answer
            record_opt_in(session, phone, "sms:keyword", f"conversation:{phone}")
            return [i18n.text("sms_opted_in", language, business=business.name)]
        return [
            i18n.text(
                "sms_help", language, business=business.name, support_phone=business.support_phone
            )
        ]


def _send_replies(phone: str, texts: list[str], message_sid: str, started: dt.datetime) -> None:
    """Queue the turn's replies (once per inbound message); the courier sends them. A turn
    that opted the number out still confirms it (settle.messaging.consent.CONFIRMATION)."""
    settle = runtime.current()
    with settle.store.unit_of_work() as session:
        confirming = opted_out_since(session, phone, started)
        prefix = CONFIRMATION if confirming else ""
        for n, body in enumerate(sms_bodies(texts)):
            key = f"{prefix}reply:{message_sid}:{n}"
            queue_sms(session, phone, body, key=key, actor=f"conversation:{phone}")
    settle.request_delivery()
