"""The providers' webhooks: Stripe's payment events (and the sandbox's, which take the same
path), and Twilio's status callbacks for texts and calls. Each is believed only when the
provider signed it (or, in development mode, when it comes from this machine)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import urllib.request
from urllib.parse import quote

import stripe
from sanic import Sanic, response
from sanic.request import Request
from sqlalchemy import select

from settle.access import rasa_api
from settle.access.replay import first_time
from settle.access.requests import form_params, trusted_as_local, twilio_refusal
from settle.adapters.calls import record_call_status
from settle.adapters.payments import PaymentGatewayError
from settle.app import runtime
from settle.app.runtime import Settle
from settle.billing.reconcile import handle_payment_event
from settle.messaging.delivery import record_provider_status
from settle.observability import metrics
from settle.plans import charge_due_installments, send_decline_notices
from settle.store.models import PaymentLink, Plan

log = logging.getLogger(__name__)


def add_webhook_routes(app: Sanic) -> None:
    """POST /webhooks/stripe, /webhooks/twilio/status and /webhooks/twilio/call-status."""

    @app.post("/webhooks/stripe")
    async def stripe_webhook(request: Request):
        settle = runtime.current()
        secret = settle.settings.stripe_webhook_secret
        payload = request.body
        if secret:
            signature = request.headers.get("Stripe-Signature", "")
            try:
                stripe.Webhook.construct_event(payload, signature, secret, tolerance=300)
            except (stripe.SignatureVerificationError, ValueError) as error:
                log.warning("Stripe webhook refused: %s", error)
                metrics.stripe_event(None, "rejected")
                return response.json({"error": "invalid signature"}, status=400)
        elif not trusted_as_local(request, settle.settings):
            metrics.stripe_event(None, "rejected")
            return response.json(
                {
                    "error": "STRIPE_WEBHOOK_SECRET is not set; unsigned events "
                    "are accepted in development mode from this "
                    "machine only"
                },
                status=403,
            )
        try:
            event = json.loads(payload)
        except ValueError:
            metrics.stripe_event(None, "rejected")
            return response.json({"error": "body is not JSON"}, status=400)
        try:
            outcome = await asyncio.to_thread(apply_event, event)
        except Exception:  # answered 500: Stripe sends it again
            metrics.stripe_event(event, "error")
            raise
        metrics.stripe_event(event, outcome)
        return response.json({"received": True, "outcome": outcome})

    @app.post("/webhooks/twilio/status")
    async def twilio_status(request: Request):
        refused = _twilio_refusal(request)
        if refused:
            return refused
        form = form_params(request)
        await asyncio.to_thread(
            _apply_status,
            form.get("MessageSid") or "",
            form.get("MessageStatus") or "",
            form.get("ErrorCode"),
        )
        return response.empty()

    @app.post("/webhooks/twilio/call-status")
    async def twilio_call_status(request: Request):
        refused = _twilio_refusal(request)
        if refused:
            return refused
        form = form_params(request)
        await asyncio.to_thread(
            _apply_call_status,
            form.get("CallSid") or "",
            form.get("CallStatus") or "",
            form.get("AnsweredBy"),
        )
        return response.empty()


def apply_event(event: dict, provider: str = "stripe") -> str:
    """Reconcile one payment event (Stripe's, or the sandbox's look-alike) and do what its
    outcome calls for: charge a plan that just started, text a decline, tell a web chat."""
    settle = runtime.current()
    event = _with_saved_card(settle, event)
    with settle.store.unit_of_work() as session:
        outcome = handle_payment_event(
            session, event, settle.settings, provider, settle.gateway, settle.policy
        )
        link = session.scalar(
            select(PaymentLink).where(
                PaymentLink.session_id == ((event.get("data") or {}).get("object") or {}).get("id")
            )
        )
    log.info("Payment event %s (%s): %s", event.get("id"), event.get("type"), outcome)
    # What follows calls Stripe or Rasa: on the courier thread, so Stripe hears back at once.
    if outcome == "plan_active":
        settle.in_background(functools.partial(_charge_new_plan, settle, event))
    elif outcome in ("installment_failed", "plan_failed"):  # its text and pay link, now
        settle.in_background(
            functools.partial(
                send_decline_notices, settle.store, settle.gateway, settle.settings, settle.policy
            )
        )
    else:
        settle.request_delivery()
    if outcome in ("paid", "partially_paid") and link is not None:
        metrics.LINKS_PAID.labels(metrics.channel_label(link.channel)).inc()
        if link.channel == "socketio":
            settle.in_background(
                functools.partial(_tell_conversation, settle, link.conversation_id)
            )
    return outcome


def _charge_new_plan(settle: Settle, event: dict) -> None:
    """The card was just saved: a first installment due today is charged now, not at the
    next pass of the plan engine."""
    with settle.store.unit_of_work() as session:
        plan_id = session.scalar(
            select(Plan.id).where(
                Plan.setup_session_id == ((event.get("data") or {}).get("object") or {}).get("id")
            )
        )
    if plan_id is not None:
        summary = charge_due_installments(
            settle.store, settle.gateway, settle.settings, settle.policy, plan_id=plan_id
        )
        log.info("Plan %s started: %s", plan_id, summary)


def _with_saved_card(settle: Settle, event: dict) -> dict:
    """A card-saving checkout names its SetupIntent by id: the card is looked up at Stripe
    before the event's transaction opens, so no database lock waits on Stripe."""
    checkout = (event.get("data") or {}).get("object") or {}
    intent = checkout.get("setup_intent")
    if (
        event.get("type") != "checkout.session.completed"
        or checkout.get("mode") != "setup"
        or not isinstance(intent, str)
        or not intent
    ):
        return event
    try:
        method = settle.gateway.saved_payment_method(intent)
    except PaymentGatewayError as error:  # recorded as before, inside: it needs review
        log.warning("Could not look up the card of %s: %s", intent, error)
        return event
    resolved = {**checkout, "setup_intent": {"id": intent, "payment_method": method}}
    return {**event, "data": {**event["data"], "object": resolved}}


def _tell_conversation(settle: Settle, conversation_id: str) -> None:
    """Web chat hears about the payment without asking (Rasa's trigger_intent)."""
    key = settle.settings.rasa_jwt_key_file
    if key is None or not key.exists():
        log.info(
            "RASA_JWT_KEY_FILE not set: web chat %s is not told about its payment", conversation_id
        )
        return
    url = (
        f"{settle.settings.rasa_url}/conversations/{quote(conversation_id, safe='')}"
        "/trigger_intent?output_channel=socketio"
    )
    request = urllib.request.Request(
        url,
        data=json.dumps({"name": "EXTERNAL_payment_received"}).encode(),
        headers={"Content-Type": "application/json", **rasa_api.authorization(key)},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError as error:  # the payment is recorded either way; the receipt text went out
        log.warning("Could not tell web chat %s about its payment: %s", conversation_id, error)


def _twilio_refusal(request: Request):
    """A 403 for a status callback Twilio did not sign for our PUBLIC_BASE_URL."""
    settings = runtime.current().settings
    reason = twilio_refusal(request, settings, settings.public_base_url)
    if reason is None:
        return None
    log.warning("Refused a Twilio callback from %s: %s", request.ip, reason)
    return response.text(reason, status=403)


def _apply_status(message_sid: str, status: str, error_code) -> None:
    with runtime.current().store.unit_of_work() as session:
        # A status is taken once: a replayed older one never rolls a message back.
        if not first_time(session, f"sms-status:{message_sid}:{status}"):
            return
        if not record_provider_status(session, message_sid, status, error_code):
            log.info("Status %s for unknown message %s", status, message_sid)


def _apply_call_status(call_sid: str, status: str, answered_by) -> None:
    with runtime.current().store.unit_of_work() as session:
        if not first_time(session, f"call-status:{call_sid}:{status}"):
            return
        if not record_call_status(session, call_sid, status, answered_by):
            log.info("Status %s for unknown call %s", status, call_sid)
