"""Twilio Programmable Voice input channel: webhooks in, TwiML out.

Rasa's built-in twilio_voice channel checks no signature, always speaks en-US, ignores the
keypad, cannot transfer or hang up and goes silent when the bot has nothing to say. This one:

* refuses requests without a valid X-Twilio-Signature for our RASA_PUBLIC_URL (403), as
  the SMS channel does, and every replay: a call's first request is taken once, and every
  later one must bring the one-time token we put in the URL Twilio fetches (<Gather>,
  <Redirect>, <Pay>, the whisper of a <Dial>);
* makes the caller's number (E.164) the conversation key (the customer's, i.e. `To`, on
  calls Settle placed), and proves it only when the carrier attested it (STIR/SHAKEN
  `StirVerstat`, settings `security.caller_id_attestations`): anyone else, and whoever
  answers a call we placed, says who they are first (keypad for digits, speech for letters);
* gathers speech and keypad together, in the conversation's language, with hints, and turns
  keys into answers where the bot offered a choice (1 = yes, 2 = no; 1..5 = invoice);
* speaks amounts, dates and invoice numbers the way people say them;
* re-asks the last question on silence, twice, then puts the caller through or says goodbye;
* answers inside Twilio's 15 s even when the bot is slow ("one moment", then picks up the
  answer on a redirect, on whichever worker it lands: settle_rasa.call_state), so calls
  never drop or go silent;
* transfers with <Dial> and whispers a summary to the person who answers, hangs up on
  goodbye, and takes card payments by keypad with <Pay> (card digits never reach Rasa).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from twilio.twiml.voice_response import Gather, VoiceResponse

from settle.access import proof as proofs
from settle.access.replay import CallFacts
from settle.access.requests import form_params
from settle.app import runtime
from settle.billing.handoff import closed_reply, spoken_summary
from settle.config import redis_url
from settle.core import i18n
from settle.core.phones import maybe_e164
from settle.understanding.language_detection import ON_FILE
from settle_rasa import phone_payments
from settle_rasa.call_state import CallState, CallStore
from settle_rasa.channels import (
    SignedTwilioInput,
    call_token,
    language_on_file,
    seal,
    take_call_token,
    taken_before,
)
from settle_rasa.ingress import guard_server, screened
from settle_rasa.voice_twiml import (
    BASE_PATH,
    KEYPAD_HINTS,
    answer_text,
    as_http,
    for_speech,
    keypad_payment,
    transfer,
    voice_of,
    voicemail,
)

log = logging.getLogger(__name__)

MAX_SILENCES = 2
MAX_WAITS = 3


def turn_budget() -> float:
    """How long a call waits for the assistant before "one moment" (SETTLE_VOICE_TURN_SECONDS)."""
    return runtime.current().settings.voice_turn_seconds


class TwilioVoiceInput(SignedTwilioInput):
    @classmethod
    def name(cls) -> str:
        return "twilio_voice"

    def __init__(self, auth_token: str | None = None) -> None:
        super().__init__(auth_token)
        self.calls = CallStore(redis_url())

    # --- Rasa ------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("settle_twilio_voice", __name__)

        @hook.get("/")
        async def health(_: Request):
            return response.json({"status": "ok"})

        @hook.post("/webhook")
        async def turn(request: Request):
            refused = self.refusal(request)
            if refused:
                return refused
            return as_http(await self._turn(request, on_new_message))

        @hook.post("/whisper")
        async def whisper(request: Request):
            refused = self.refusal(request)
            if refused:
                return refused
            form = form_params(request)
            # Fetched on the leg to our staff: the token belongs to the customer's call.
            call = form.get("ParentCallSid") or form.get("CallSid") or ""
            if await take_call_token(request.args.get("n"), call) is None:
                return _replayed()
            # Spoken to our own staff: in the business's language, not the caller's.
            settle = runtime.current()
            language = settle.settings.business.staff_language
            summary = await asyncio.to_thread(
                spoken_summary, settle.store, request.args.get("handoff"), language
            )
            twiml = VoiceResponse()
            twiml.say(i18n.text("whisper", language, summary=summary), **voice_of(language))
            return as_http(twiml)

        @hook.post("/pay")
        async def pay_result(request: Request):
            refused = self.refusal(request)
            if refused:
                return refused
            return as_http(await self._pay_result(request, on_new_message))

        @hook.listener("after_server_stop")
        async def _close(_app, _loop) -> None:
            await self.calls.close()

        return guard_server(hook)

    # --- one webhook -----------------------------------------------------------------

    async def _turn(self, request: Request, on_new_message):
        form, args = form_params(request), request.args
        call_sid = form.get("CallSid") or ""
        outbound = (form.get("Direction") or "").startswith("outbound")
        caller = maybe_e164(form.get("To") if outbound else form.get("From"))
        line = maybe_e164(form.get("From") if outbound else form.get("To"))
        line_language = runtime.current().settings.business.line_languages.get(line)
        if caller is None or not call_sid:
            language = line_language or _default_language()
            twiml = VoiceResponse()
            twiml.say(i18n.text("hidden_number", language), **voice_of(language))
            twiml.hangup()
            return twiml
        if not args.get("turn"):  # the call was just answered: its first request, once
            if await taken_before(f"call:{call_sid}"):
                return _replayed()
            attested = not outbound and runtime.current().security.attested(form.get("StirVerstat"))
            facts = CallFacts(call_sid, caller, attested, outbound)
        else:
            used_up = await take_call_token(args.get("n"), call_sid)
            if used_up is None:
                return _replayed()
            facts = used_up
        # A call we placed speaks the customer's stored language (settle.calls puts it in the URL).
        called_in = (
            args.get("language") if outbound and args.get("language") in i18n.VOICES else None
        )
        state = await self.calls.load(call_sid)
        if state is None:  # looked up once a call: the language on file, if attested
            on_file = await asyncio.to_thread(language_on_file, caller) if facts.attested else None
            state = CallState(
                language=called_in or line_language or on_file or _default_language(),
                on_file=on_file,
            )
        state.nonce = await call_token(facts)
        try:
            return await self._reply(
                state, facts, form, args, called_in or line_language, on_new_message
            )
        finally:
            await self.calls.save(call_sid, state)

    async def _reply(
        self,
        state: CallState,
        facts: CallFacts,
        form: dict[str, str],
        args,
        started_in: str | None,
        on_new_message,
    ) -> VoiceResponse:
        """What the caller hears next (`started_in`: the language of the call we placed or
        of the line, if any)."""
        call_sid, caller, outbound = facts.call_sid, facts.phone, facts.outbound
        if args.get("wait"):
            return await self._await_answer(state, call_sid, int(args.get("wait")))

        if not args.get("turn"):
            if outbound and (form.get("AnsweredBy") or "").startswith("machine"):
                return voicemail(state.language)
            # We placed the call: say why before anything else (nothing about the account).
            state.intro = (
                i18n.text(
                    "outbound_intro",
                    state.language,
                    business=runtime.current().settings.business.name,
                )
                if outbound
                else ""
            )
            text = "/greet"
        else:
            answer = answer_text(form, state.keypad)
            if answer is None:
                return self._silence(state, int(args.get("silence") or 0) + 1)
            text = answer

        metadata = {key: form.get(key) for key in ("CallSid", "From", "To", "Direction")}
        # The conversation starts in the language of the call we placed or of the line;
        # else it speaks the one on file, when the carrier attested the caller.
        if started_in:
            metadata["language"] = started_in
        if state.on_file:
            metadata[ON_FILE] = state.on_file
        if outbound:
            metadata.update({"call_reason": args.get("reason"), "invoice_id": args.get("invoice")})
        proof = proofs.ChannelProof(
            kind=proofs.VOICE,
            phone=caller,
            phone_proven=facts.attested,
            call_sid=call_sid,
            outbound=facts.outbound,
        )
        collector = CollectingOutputChannel()
        message = UserMessage(
            text,
            collector,
            caller,
            input_channel=self.name(),
            metadata=seal(proof, caller, metadata),
        )
        handle = screened(on_new_message, lambda _: state.language)
        state.answering = self.calls.start_answer(call_sid, handle(message), collector)
        return await self._await_answer(state, call_sid, 0)

    async def _await_answer(self, state: CallState, call_sid: str, waits: int) -> VoiceResponse:
        """The answer being worked on, on this worker or another; "one moment" and a
        redirect while it is not there yet."""
        if not state.answering:
            return self._prompt(state, [i18n.text("say_again", state.language)])
        try:
            messages = await asyncio.wait_for(
                self.calls.answer(call_sid, state.answering), timeout=turn_budget()
            )
        except asyncio.TimeoutError:
            if waits >= MAX_WAITS:
                log.error("Call %s: the assistant did not answer in time", call_sid)
                messages = None
            else:
                twiml = VoiceResponse()
                twiml.say(i18n.text("one_moment", state.language), **voice_of(state.language))
                query = {"turn": 1, "wait": waits + 1, "n": state.nonce}
                twiml.redirect(f"{BASE_PATH}/webhook?{urlencode(query)}")
                return twiml
        state.answering = ""
        if messages is None:
            return self._prompt(
                state,
                [i18n.text("slow_apology", state.language), i18n.text("say_again", state.language)],
            )
        return self._render(state, messages)

    # --- TwiML -----------------------------------------------------------------------

    def _render(self, state: CallState, messages: list[dict[str, Any]]) -> VoiceResponse:
        texts = [m["text"] for m in messages if m.get("text")]
        if state.intro:
            texts, state.intro = [state.intro] + texts, ""
        custom: dict[str, Any] = {}
        for message in messages:
            if isinstance(message.get("custom"), dict):
                custom.update(message["custom"])
        if custom.get("language"):
            state.language = custom["language"]
        # After the greeting the keypad offers the main menu; later, what the bot offered.
        state.keypad = custom.get("keypad", "menu" if not state.last_prompt else "none")

        if "handoff" in custom:
            return transfer(state.language, texts, custom["handoff"], state.nonce)
        if "pay" in custom:
            return keypad_payment(state.language, texts, custom["pay"], state.nonce)
        if custom.get("hangup"):
            twiml = VoiceResponse()
            for text in texts:
                twiml.say(for_speech(text, state.language), **voice_of(state.language))
            twiml.hangup()
            return twiml
        if not texts:  # never a silent line: ask again
            texts = [i18n.text("say_again", state.language)]
        return self._prompt(state, texts)

    def _prompt(self, state: CallState, texts: list[str], silence: int = 0) -> VoiceResponse:
        spoken = " ".join(for_speech(t, state.language) for t in texts)
        hint = KEYPAD_HINTS.get(state.keypad)
        if hint and silence == 0:
            spoken = f"{spoken} {i18n.text(hint, state.language)}"
        if silence == 0:
            state.last_prompt = spoken
        query: dict[str, Any] = {"turn": 1, "keypad": state.keypad}
        if silence:
            query["silence"] = silence
        query["n"] = state.nonce
        twiml = VoiceResponse()
        gather = Gather(
            input="speech dtmf",
            action=f"{BASE_PATH}/webhook?{urlencode(query)}",
            method="POST",
            language=i18n.text("voice_language", state.language),
            hints=i18n.text("speech_hints", state.language),
            speech_timeout="auto",
            timeout=6,
            action_on_empty_result=True,
            num_digits=1 if state.keypad in ("yes_no", "choice", "menu") else None,
        )
        gather.say(spoken, **voice_of(state.language))
        twiml.append(gather)
        return twiml

    def _silence(self, state: CallState, silence: int) -> VoiceResponse:
        if silence <= MAX_SILENCES:
            last = state.last_prompt or i18n.text("say_again", state.language)
            return self._prompt(state, [i18n.text("didnt_hear", state.language), last], silence)
        settings = runtime.current().settings
        # Outside business.hours a closed office is not rung. Nothing was handed over, so
        # the caller hears goodbye, not a promise of a call back.
        locale = i18n.locale_for(state.language, settings.business.default_region)
        closed = closed_reply(settings, state.language, locale)
        if settings.business.support_phone and not closed:
            return transfer(
                state.language, [i18n.text("silence_handoff", state.language)], {}, state.nonce
            )
        twiml = VoiceResponse()
        twiml.say(i18n.text("silence_goodbye", state.language), **voice_of(state.language))
        twiml.hangup()
        return twiml

    async def _pay_result(self, request: Request, on_new_message):
        form, args = form_params(request), request.args
        call_sid = form.get("CallSid") or ""
        facts = await take_call_token(args.get("n"), call_sid)
        if facts is None:
            return _replayed()
        state = await self.calls.load(call_sid) or CallState(language=_default_language())
        state.nonce = await call_token(facts)
        region = runtime.current().settings.business.default_region
        locale = i18n.locale_for(state.language, region)
        outcome = await asyncio.to_thread(phone_payments.record_result, form, args, locale)
        state.keypad = "none"
        said = (
            i18n.text(
                "keypad_paid",
                state.language,
                amount=outcome.amount_text,
                invoice=outcome.invoice_id,
            )
            if outcome.paid
            else i18n.text("keypad_failed", state.language)
        )
        twiml = self._prompt(state, [said])
        await self.calls.save(call_sid, state)
        return twiml


def _replayed():
    log.warning("Refused a replayed or out-of-turn voice request")
    return response.text("this request was already answered", status=409)


def _default_language() -> str:
    return runtime.current().settings.business.languages[0]
