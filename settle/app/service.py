"""The Settle service: rasa-sdk's action server plus Settle's own HTTP routes.

One Sanic app serves /webhook (actions), /health (alive), /ready (settle.app.readiness),
POST /webhooks/stripe, the sandbox checkout pages, the operator console (/console,
settle.console.pages), the billing-system API (/api/v1, settle.api) and the local outbox,
and delivers queued messages in the background.
Prometheus metrics are served apart, on an internal port (SETTLE_METRICS_PORT).

Its port faces the internet (Stripe, Twilio and customers reach it), so each route says
who may call it: the action endpoint only the Rasa server (SETTLE_ACTION_SECRET), webhooks
only the provider that signed them, /console and /outbox only an operator, /api/v1 only a
billing system with an API key (docs/security.md).
No route invites other origins' scripts (no CORS).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.exceptions import MethodNotSupported, NotFound
from sanic.request import Request
from sqlalchemy import select

from settle.access.requests import action_caller_allowed, operator_allowed
from settle.api.routes import add_api_routes
from settle.app import runtime
from settle.app.background import (
    charge_plans_forever,
    deliver_forever,
    prune_forever,
    remind_forever,
    sync_forever,
)
from settle.app.chat_pages import add_chat_pages
from settle.app.payment_pages import add_payment_pages
from settle.app.readiness import add_readiness_route
from settle.app.webhooks import add_webhook_routes
from settle.config import ConfigError, log_level
from settle.console.pages import add_console_pages, signed_in_reader
from settle.messaging.delivery import outbox_depth
from settle.observability import metrics
from settle.privacy.logs import log_json_lines
from settle.store.models import Message, utcnow

log = logging.getLogger(__name__)

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

    # rasa-sdk answers every error with a 500 and a logged traceback: a path nobody serves
    # here (a scanner's /metrics, /.env) is simply not found.
    @app.exception(NotFound, MethodNotSupported)
    async def _no_such_route(_request: Request, error):
        return response.json({"error": str(error)}, status=error.status_code)

    @app.middleware("request")
    async def _actions_for_rasa_only(request: Request):
        if _is_action_route(request):
            if not action_caller_allowed(request, runtime.current().settings.action_secret):
                log.warning("Refused a call to the action endpoint from %s", request.ip)
                return response.json(
                    {"error": "the action endpoint answers the Rasa server only"}, status=403
                )
            request.ctx.action_started = time.perf_counter()
        elif len(request.body or b"") > PUBLIC_BODY_LIMIT:
            return response.json(
                {"error": f"request body over {PUBLIC_BODY_LIMIT} bytes"}, status=413
            )
        return None

    @app.middleware("response")
    async def _count_action_calls(request: Request, reply):
        started = getattr(request.ctx, "action_started", None)
        if started is not None and request.method == "POST":
            # rasa-sdk parsed the body already (None when it came compressed): read, not parsed.
            metrics.action_call(request.parsed_json, reply.status, time.perf_counter() - started)

    @app.listener("before_server_start")
    async def _logs_and_threads(_app, loop):
        log_json_lines(log_level())
        # Actions run their database and provider calls in threads (asyncio.to_thread); a
        # few customers waiting on a stalled Stripe must not use up the pool for everyone.
        loop.set_default_executor(
            ThreadPoolExecutor(max_workers=ACTION_THREADS, thread_name_prefix="settle-action")
        )

    @app.listener("after_server_start")
    async def _start_delivery(app_, _loop):
        app_.add_task(deliver_forever())
        app_.add_task(sync_forever())

    @app.listener("after_server_start")
    async def _start_reminders(app_, _loop):
        interval = runtime.current().settings.reminder_interval_seconds
        if interval > 0:
            app_.add_task(remind_forever(interval))

    @app.listener("after_server_start")
    async def _start_plans(app_, _loop):
        app_.add_task(charge_plans_forever(runtime.current().settings.plan_interval_seconds))

    @app.listener("after_server_start")
    async def _start_pruning(app_, _loop):
        app_.add_task(prune_forever())

    add_webhook_routes(app)
    add_payment_pages(app)
    add_chat_pages(app)
    add_readiness_route(app)
    add_console_pages(app, runtime.current)
    add_api_routes(app, runtime.current)

    @app.get("/outbox")
    async def outbox(request: Request):
        settle = runtime.current()
        if not operator_allowed(request, settle.settings) and (
            await asyncio.to_thread(signed_in_reader, request, settle) is None
        ):
            return response.json(
                {
                    "error": "operators only: sign in at /console, or send "
                    "SETTLE_OPERATOR_TOKEN as `Authorization: Bearer …`"
                },
                status=403,
            )
        rows = await asyncio.to_thread(_recent_messages)
        # Customers' numbers and payment links: never kept in a browser's or proxy's cache.
        return response.json(rows, headers={"Cache-Control": "no-store", **NOSNIFF})

    return app


NOSNIFF = {"X-Content-Type-Options": "nosniff"}


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


def _outbox_depth() -> dict[tuple[str, str], int]:
    with runtime.current().store.unit_of_work() as session:
        return outbox_depth(session, utcnow())


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
    if settle.settings.metrics_port:
        # Its own listener, never the public port: counts and queue depths are for operators.
        address = (settle.settings.metrics_host, settle.settings.metrics_port)
        if metrics.serve_metrics(*address, _outbox_depth):
            log.info("Prometheus metrics on http://%s:%s/metrics", *address)
    build_app().run(host=host, port=port, workers=1, access_log=False)
