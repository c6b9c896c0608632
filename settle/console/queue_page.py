"""The work queue's pages: GET /console (a page of what waits for a person, `?page=` from 1,
oldest first) and POST /console/queue/<kind>/<item>/<action> (a person's decision on an
item, after which the page it was on is shown again).

The console's guard (settle.console.pages) stands in front of both and checks the form's
CSRF token. A page number that is not one, or past the end, shows the first or the last
page (settle.console.queue.paging), never an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from sanic import Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request

from settle.adapters.payments import PaymentGateway
from settle.config import Settings
from settle.console import flagged, queue, resolve, templates, words
from settle.console.sessions import SignedIn
from settle.store.db import Store

CONSOLE = "/console"
QUEUE = "/console/queue"


class Wiring(Protocol):
    store: Store
    settings: Settings
    gateway: PaymentGateway


def add_queue_pages(app: Sanic, wiring: Callable[[], Wiring]) -> None:
    """GET /console and POST /console/queue/<kind>/<item>/<action>."""

    @app.get(CONSOLE)
    async def landing(request: Request):
        shown = await asyncio.to_thread(_queue, wiring(), request.args.get("page"))
        return response.html(templates.landing(request.ctx.operator, shown, request.ctx.lang))

    @app.post(f"{QUEUE}/<kind:str>/<item:int>/<action:str>")
    async def resolve_item(request: Request, kind: str, item: int, action: str):
        if (kind, action) not in resolve.ACTIONS:
            raise NotFound(f"no queue action {kind}/{action}")
        settle, who, lang = wiring(), request.ctx.operator, request.ctx.lang
        text = (request.form.get("note") or request.form.get("reason") or "").strip()[:2000]
        try:
            done = await asyncio.to_thread(_resolve, settle, who, kind, item, action, text)
        except resolve.NotInQueue as error:
            raise NotFound(str(error)) from error
        shown = await asyncio.to_thread(_queue, settle, request.form.get("page"))
        if done.changed:
            notice = words.said(done.message, lang)
            return response.html(templates.landing(who, shown, lang, notice=notice))
        refused = words.said(done.message, lang)
        return response.html(templates.landing(who, shown, lang, error=refused), status=409)


def _queue(settle: Wiring, asked: str | None) -> queue.QueuePage:
    with settle.store.unit_of_work() as session:
        return queue.queue_page(session, settle.settings, asked)


def _resolve(
    settle: Wiring, who: SignedIn, kind: str, item: int, action: str, text: str
) -> resolve.Outcome:
    if kind == "handoff":
        return resolve.mark_handoff_done(settle.store, item, who.actor, text)
    if kind == "dispute":
        upheld = action == "upheld"
        return resolve.decide_dispute(settle.store, settle.settings, item, who.actor, upheld, text)
    if kind == "refund" and action == "approve":
        return resolve.approve_refund(
            settle.store, settle.gateway, settle.settings, item, who.actor
        )
    if kind == "refund":
        return resolve.decline_refund(settle.store, settle.settings, item, who.actor, text)
    if kind == "overpaid" and action == "refund":
        return flagged.refund_difference(
            settle.store, settle.gateway, settle.settings, item, who.actor
        )
    if kind == "overpaid":
        return flagged.keep_credit(settle.store, settle.settings, item, who.actor)
    if kind == "mismatch":
        return flagged.mark_reviewed(settle.store, item, who.actor, text)
    return resolve.unlock(settle.store, item, who.actor)
