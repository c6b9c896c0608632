"""The Settle service: rasa-sdk's action server plus Settle's own HTTP routes.

One Sanic app serves /webhook (actions), /health, POST /webhooks/stripe, the sandbox
checkout pages and the local outbox, and delivers queued messages in the background.

Its port faces the internet (Stripe, Twilio and customers reach it), so each route says
who may call it: the action endpoint only the Rasa server (SETTLE_ACTION_SECRET), webhooks
only the provider that signed them, /outbox only an operator (docs/security.md). No route
invites other origins' scripts (no CORS).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import stripe
from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sqlalchemy import select

from settle.access import rasa_api
from settle.access.replay import first_time
from settle.access.requests import (
    action_caller_allowed,
    form_params,
    operator_allowed,
    trusted_as_local,
    twilio_refusal,
)
from settle.adapters.payments import PaymentGatewayError
from settle.app import runtime
from settle.billing.reconcile import handle_payment_event
from settle.config import ConfigError, tracker_database_url
from settle.core.money import format_money
from settle.messaging.delivery import record_provider_status
from settle.plans import charge_due_installments, send_decline_notices, setup_page_expires
from settle.privacy.logs import scrub_all_logs
from settle.privacy.retention import prune_conversations
from settle.store.models import Message, PaymentLink, utcnow

log = logging.getLogger(__name__)

DELIVERY_INTERVAL_SECONDS = 5.0
PLAN_INTERVAL_SECONDS = float(os.environ.get("SETTLE_PLAN_INTERVAL_SECONDS") or 300)
# A reminder pass a minute; 0 turns the service's own passes off (cron runs them instead).
REMINDER_INTERVAL_SECONDS = float(os.environ.get("SETTLE_REMINDER_INTERVAL_SECONDS") or 60)
WEBCHAT_BUNDLE = (
    Path(__file__).resolve().parents[2] / "node_modules" / "rasa-webchat" / "lib" / "index.js"
)


ACTION_ROUTES = ("webhook", "actions")
ACTION_THREADS = 32
# Request bodies: the action endpoint gets whole conversations; Stripe's and Twilio's
# webhooks and the pages' forms are a few kilobytes.
ACTION_BODY_LIMIT = 16 * 1024 * 1024
PUBLIC_BODY_LIMIT = 256 * 1024


def _is_action_route(request: Request) -> bool:
    """rasa-sdk's routes, however the path is spelled ("/webhook/", "//actions")."""
    route = getattr(request, "route", None)
    path = route.path if route is not None else request.path
    return path.strip("/") in ACTION_ROUTES


def build_app() -> Sanic:
    app = create_app("actions", cors_origins=None)
    # Rasa posts whole trackers to /webhook; nothing else here takes more than a small form.
    app.config.REQUEST_MAX_SIZE = ACTION_BODY_LIMIT

    @app.middleware("request")
    async def _actions_for_rasa_only(request: Request):
        if _is_action_route(request):
            if not action_caller_allowed(request, runtime.current().settings.action_secret):
                log.warning("Refused a call to the action endpoint from %s", request.ip)
                return response.json(
                    {"error": "the action endpoint answers the Rasa server only"}, status=403
                )
        elif len(request.body or b"") > PUBLIC_BODY_LIMIT:
            return response.json(
                {"error": f"request body over {PUBLIC_BODY_LIMIT} bytes"}, status=413
            )
        return None

    @app.listener("before_server_start")
    async def _logs_and_threads(_app, loop):
        scrub_all_logs()
        # Actions run their database and provider calls in threads (asyncio.to_thread); a
        # few customers waiting on a stalled Stripe must not use up the pool for everyone.
        loop.set_default_executor(
            ThreadPoolExecutor(max_workers=ACTION_THREADS, thread_name_prefix="settle-action")
        )

    @app.listener("after_server_start")
    async def _start_delivery(app_, _loop):
        app_.add_task(_deliver_forever())

    @app.listener("after_server_start")
    async def _start_reminders(app_, _loop):
        if REMINDER_INTERVAL_SECONDS > 0:
            app_.add_task(_remind_forever())

    @app.listener("after_server_start")
    async def _start_plans(app_, _loop):
        app_.add_task(_charge_plans_forever())

    @app.listener("after_server_start")
    async def _start_pruning(app_, _loop):
        app_.add_task(_prune_forever())

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
                return response.json({"error": "invalid signature"}, status=400)
        elif not trusted_as_local(request, settle.settings):
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
            return response.json({"error": "body is not JSON"}, status=400)
        outcome = await asyncio.to_thread(_apply_event, event)
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

    @app.get("/sandbox/checkout/<session_id>")
    async def sandbox_checkout(request: Request, session_id: str):
        link = await asyncio.to_thread(_sandbox_link, session_id)
        if link is None:
            return response.html(
                _page("Not found", "<p>This payment link does not exist.</p>"), status=404
            )
        amount = html.escape(format_money(link.amount_minor, link.currency))
        if link.status != "open":
            return response.html(
                _page("Payment link", f"<p>This link is {html.escape(link.status)}.</p>")
            )
        body = (
            f"<p>Invoice <strong>{html.escape(link.invoice_id)}</strong></p>"
            f"<p class=amount>{amount}</p>"
            f"<form method=post action='/sandbox/checkout/{html.escape(session_id)}/pay'>"
            f"<button type=submit>Pay {amount}</button></form>"
            "<p class=note>Sandbox: no card is charged. Set STRIPE_API_KEY for real payments.</p>"
        )
        return response.html(_page("Settle sandbox checkout", body))

    @app.post("/sandbox/checkout/<session_id>/pay")
    async def sandbox_pay(request: Request, session_id: str):
        link = await asyncio.to_thread(_sandbox_link, session_id)
        if link is None:
            return response.html(_page("Not found", "<p>No such payment link.</p>"), status=404)
        if link.status != "open" or link.expires_at <= utcnow():
            # Like Stripe's: a session that was paid or has expired takes no payment.
            state = "expired" if link.status == "open" else link.status
            return response.html(
                _page(
                    "Payment link",
                    f"<p>This link is {html.escape(state)}: nothing was charged.</p>",
                ),
                status=410,
            )
        # The sandbox "pays" by raising the event Stripe would send: one reconciliation path.
        event = {
            "id": f"evt_sandbox_{session_id}",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "amount_total": link.amount_minor,
                    "currency": link.currency.lower(),
                    "payment_intent": f"pi_sandbox_{session_id}",
                    "client_reference_id": link.invoice_id,
                }
            },
        }
        outcome = await asyncio.to_thread(_apply_event, event, "sandbox")
        return response.redirect(
            f"/pay/done?invoice={link.invoice_id}&outcome={outcome}", status=303
        )

    @app.get("/sandbox/setup/<session_id>")
    async def sandbox_setup(request: Request, session_id: str):
        plan = await asyncio.to_thread(_sandbox_plan, session_id)
        if plan is None:
            return response.html(_page("Not found", "<p>This page does not exist.</p>"), status=404)
        if plan.status != "pending_card":
            return response.html(
                _page("Payment plan", f"<p>This plan is {html.escape(plan.status)}.</p>")
            )
        amount = html.escape(format_money(plan.total_minor, plan.currency))
        body = (
            f"<p>Invoice <strong>{html.escape(plan.invoice_id)}</strong>: {amount} in "
            f"{plan.installment_count} {html.escape(plan.interval)} payments.</p>"
            f"<form method=post action='/sandbox/setup/{html.escape(session_id)}/save'>"
            "<button type=submit>Save card</button></form>"
            "<p class=note>Sandbox: no card is saved or charged. Set STRIPE_API_KEY for "
            "real payments.</p>"
        )
        return response.html(_page("Settle sandbox: save a card", body))

    @app.post("/sandbox/setup/<session_id>/save")
    async def sandbox_setup_save(request: Request, session_id: str):
        plan = await asyncio.to_thread(_sandbox_plan, session_id)
        if plan is None:
            return response.html(_page("Not found", "<p>No such page.</p>"), status=404)
        if not _setup_page_open(plan):  # like Stripe's: a finished or expired page saves nothing
            return response.html(
                _page(
                    "Payment plan",
                    "<p>This page has expired or was already used: no card was saved.</p>",
                ),
                status=410,
            )
        # Like the checkout page: the event Stripe would send, through the same path.
        event = {
            "id": f"evt_sandbox_{session_id}",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "mode": "setup",
                    "status": "complete",
                    "payment_status": "no_payment_required",
                    "customer": plan.stripe_customer_id,
                    "setup_intent": f"seti_{session_id}",
                    "client_reference_id": plan.invoice_id,
                    "metadata": {"plan_id": str(plan.id)},
                }
            },
        }
        outcome = await asyncio.to_thread(_apply_event, event, "sandbox")
        return response.redirect(f"/plans/saved?plan={plan.id}&outcome={outcome}", status=303)

    @app.get("/plans/saved")
    async def plan_saved(request: Request):
        return response.html(
            _page(
                "Card saved",
                "<p>Thank you! Your card is saved and your "
                "payment plan is starting; the schedule is on its way by "
                "text.</p>",
            )
        )

    @app.get("/plans/cancelled")
    async def plan_cancelled(request: Request):
        return response.html(
            _page(
                "No card saved",
                "<p>No card was saved and nothing was "
                "charged. You can use the link in your text message again "
                "while it is valid.</p>",
            )
        )

    @app.get("/pay/done")
    async def pay_done(request: Request):
        return response.html(
            _page(
                "Thank you",
                "<p>Thank you! Your payment is being processed; "
                "a receipt is on its way by text.</p>",
            )
        )

    @app.get("/pay/cancelled")
    async def pay_cancelled(request: Request):
        return response.html(
            _page(
                "Payment cancelled",
                "<p>No payment was made. You can use "
                "the link in your text message again while it is valid.</p>",
            )
        )

    @app.get("/chat")
    async def chat_page(request: Request):
        return response.html(_chat_page(runtime.current().settings))

    @app.get("/webchat/webchat.js")
    async def webchat_bundle(request: Request):
        if not WEBCHAT_BUNDLE.exists():
            return response.text("rasa-webchat is not installed: run `make install`", status=503)
        return await response.file(
            WEBCHAT_BUNDLE,
            mime_type="application/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @app.get("/outbox")
    async def outbox(request: Request):
        if not operator_allowed(request, runtime.current().settings):
            return response.json(
                {
                    "error": "operators only: send SETTLE_OPERATOR_TOKEN as "
                    "`Authorization: Bearer …`"
                },
                status=403,
            )
        rows = await asyncio.to_thread(_recent_messages)
        return response.json(rows)

    return app


def _apply_event(event: dict, provider: str = "stripe") -> str:
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
    if outcome == "plan_active":
        _charge_new_plan(settle, event)
    if outcome in ("installment_failed", "plan_failed"):  # its text and pay link, now
        send_decline_notices(settle.store, settle.gateway, settle.settings, settle.policy)
    settle.request_delivery()
    if outcome in ("paid", "partially_paid") and link is not None and link.channel == "socketio":
        _tell_conversation(settle, link.conversation_id)
    return outcome


def _charge_new_plan(settle, event: dict) -> None:
    """The card was just saved: a first installment due today is charged now, not at the
    next pass of the plan engine."""
    from settle.store.models import Plan

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


async def _charge_plans_forever() -> None:
    """The plan engine: reminders before installments and the charges due, every few
    minutes. Safe beside `settle plans run` or another replica (each charge is claimed)."""

    while True:
        try:
            settle = runtime.current()
            summary = await asyncio.to_thread(
                charge_due_installments,
                settle.store,
                settle.gateway,
                settle.settings,
                settle.policy,
            )
            if summary.charged or summary.failed or summary.reminded or summary.notified:
                log.info("Plan pass: %s", summary)
                await asyncio.to_thread(settle.deliver_messages)
        except Exception:
            log.exception("Plan pass failed")
        await asyncio.sleep(PLAN_INTERVAL_SECONDS)


def _with_saved_card(settle, event: dict) -> dict:
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


def _tell_conversation(settle, conversation_id: str) -> None:
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
    from settle.adapters.calls import record_call_status

    with runtime.current().store.unit_of_work() as session:
        if not first_time(session, f"call-status:{call_sid}:{status}"):
            return
        if not record_call_status(session, call_sid, status, answered_by):
            log.info("Status %s for unknown call %s", status, call_sid)


def _sandbox_link(session_id: str):
    settle = runtime.current()
    if settle.gateway.provider != "sandbox":
        return None
    with settle.store.unit_of_work() as session:
        return session.scalar(
            select(PaymentLink).where(
                PaymentLink.session_id == session_id, PaymentLink.provider == "sandbox"
            )
        )


def _sandbox_plan(session_id: str):
    from settle.store.models import Plan

    settle = runtime.current()
    if settle.gateway.provider != "sandbox":
        return None
    with settle.store.unit_of_work() as session:
        return session.scalar(select(Plan).where(Plan.setup_session_id == session_id))


def _setup_page_open(plan) -> bool:
    return (
        plan.status == "pending_card"
        and setup_page_expires(plan, runtime.current().settings) > utcnow()
    )


def _recent_messages(limit: int = 50) -> list:
    with runtime.current().store.unit_of_work() as session:
        rows = session.scalars(select(Message).order_by(Message.id.desc()).limit(limit)).all()
        return [
            {
                "id": m.id,
                "to": m.to,
                "body": m.body,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
            }
            for m in rows
        ]


async def _deliver_forever() -> None:
    """Messages queued but not yet sent (a crash, a provider outage) go out on the next pass."""
    while True:
        try:
            await asyncio.to_thread(runtime.current().deliver_messages)
        except Exception:
            log.exception("Message delivery pass failed")
        await asyncio.sleep(DELIVERY_INTERVAL_SECONDS)


async def _prune_forever() -> None:
    """Hourly: webhook receipts and call tokens too old to matter are forgotten, and
    conversations idle past `security.conversation_retention_days` are deleted."""
    from settle.access.replay import prune

    def prune_now() -> None:
        settle = runtime.current()
        with settle.store.unit_of_work() as session:
            prune(session)
        removed = prune_conversations(
            tracker_database_url(), settle.security.conversation_retention_days
        )
        if removed:
            log.info(
                "Retention: %d conversation(s) idle for more than %d days deleted",
                removed,
                settle.security.conversation_retention_days,
            )

    while True:
        try:
            await asyncio.to_thread(prune_now)
        except Exception:
            log.exception("Pruning failed")
        await asyncio.sleep(3600)


async def _remind_forever() -> None:
    """The reminder scheduler: a pass a minute. Passes are safe to overlap with `settle
    reminders run` from cron or another replica (each step is claimed once)."""
    from settle.reminders import run_due_reminders
    from settle.store.models import utcnow

    while True:
        try:
            settle = runtime.current()
            if settle.cadence.enabled:
                await asyncio.to_thread(
                    run_due_reminders, settle.store, settle, utcnow(), f"service-{os.getpid()}"
                )
        except Exception:
            log.exception("Reminder pass failed")
        await asyncio.sleep(REMINDER_INTERVAL_SECONDS)


def _chat_page(settings) -> str:
    """A page with the chat widget; the same two script tags go on any other site."""
    business = html.escape(settings.business.name)
    config = json.dumps(
        {
            "socketUrl": settings.rasa_public_url,
            "socketPath": "/socket.io/",
            "title": settings.business.name,
            "subtitle": "Automated billing assistant",
            "initPayload": "/greet",
            "storage": "local",
            "embedded": False,
            "showFullScreenButton": False,
            "inputTextFieldHint": "Type a message…",
        }
    )
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{business} — chat</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}</style>"
        f"<h1>{business}</h1><p>Pay an invoice or check your balance: open the chat.</p>"
        "<div id=webchat></div>"
        "<script src='/webchat/webchat.js'></script>"
        "<script>const config = " + config + ";"
        "WebChat.default({selector: '#webchat', ...config,"
        " customData: {language: navigator.language || 'en'},"
        " params: {storage: config.storage}}, null);</script></html>"
    )


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;"
        "padding:0 1rem}.amount{font-size:2rem;font-weight:600}button{font-size:1.1rem;"
        "padding:.6rem 1.4rem}.note{color:#666;font-size:.9rem}</style>"
        f"<h1>{html.escape(title)}</h1>{body}</html>"
    )


def serve(host: str = "127.0.0.1", port: int = 5055) -> None:
    settle = runtime.current()
    if not settle.settings.action_secret:
        raise ConfigError(
            "SETTLE_ACTION_SECRET is not set: the action endpoint would answer "
            "nobody. Set the same value for `settle serve` and `rasa run` "
            "(endpoints.yml sends it); `make run` makes one up"
        )
    log.info("Settle service on http://%s:%s (%s)", host, port, settle.describe())
    if settle.settings.dev_mode:
        log.warning(
            "Development mode (SETTLE_DEV_MODE=1): requests from this machine are "
            "trusted without signatures (Twilio, Stripe) and may read /outbox. "
            "Never in production."
        )
    if settle.settings.uses_stripe and not settle.settings.stripe_webhook_secret:
        log.warning(
            "STRIPE_API_KEY is set but STRIPE_WEBHOOK_SECRET is not: Stripe's webhooks "
            "will be refused unless they come from this machine"
        )
    build_app().run(host=host, port=port, workers=1, access_log=False)
