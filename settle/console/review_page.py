"""Conversation review in the console: GET /console/conversations (newest first, filtered
by fallbacks, low confidence, hand-offs or language), GET /console/conversations/<sender>
(the turns) and POST …/turns/<event>/label (the intent a message should have had).

The console's guard (settle.console.pages) stands in front of all three and checks the
CSRF token of the form. Texts come from the tracker store and are masked again here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol
from urllib.parse import unquote

from sanic import Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request

from settle.config import Settings, tracker_database_url
from settle.console import review_templates
from settle.console.sessions import SignedIn
from settle.console.words import page_text, phrase, said
from settle.review import labels, transcripts
from settle.store.db import Store
from settle.store.models import utcnow

CONVERSATIONS = "/console/conversations"  # sender ids are percent-encoded in its paths
PER_PAGE = 50


class Wiring(Protocol):
    store: Store
    settings: Settings


def add_review_pages(app: Sanic, wiring: Callable[[], Wiring]) -> None:
    """GET /console/conversations[/<sender_id>], POST …/turns/<event_id>/label."""

    @app.get(CONVERSATIONS)
    async def conversation_list(request: Request):
        settle, lang = wiring(), request.ctx.lang
        try:
            filters, page = asked_filters(request.args)
        except ValueError as error:
            refused = review_templates.refused(request.ctx.operator, said(error, lang), lang)
            return response.html(refused, 400)
        since = utcnow() - transcripts.LOOK_BACK
        languages = settle.settings.business.languages
        found, store = await asyncio.to_thread(
            transcripts.recent_conversations, tracker_database_url(), since, languages, filters
        )
        shown = found[(page - 1) * PER_PAGE : page * PER_PAGE]
        more = len(found) > page * PER_PAGE
        return response.html(
            review_templates.conversation_list(
                request.ctx.operator, shown, filters, languages, page, more, store, lang
            )
        )

    @app.get(f"{CONVERSATIONS}/<sender_id:str>")
    async def conversation(request: Request, sender_id: str):
        who, sender_id, lang = request.ctx.operator, unquote(sender_id), request.ctx.lang
        page = await asyncio.to_thread(_conversation_page, wiring(), who, lang, sender_id)
        return response.html(page)

    @app.post(f"{CONVERSATIONS}/<sender_id:str>/turns/<event_id:int>/label")
    async def label(request: Request, sender_id: str, event_id: int):
        settle, who, sender_id = wiring(), request.ctx.operator, unquote(sender_id)
        lang = request.ctx.lang
        intent = (request.form.get("intent") or "").strip()
        if intent not in labels.domain_intents():
            wrong = page_text("review.not_intent", lang, intent=intent)
            page = await asyncio.to_thread(_conversation_page, settle, who, lang, sender_id, wrong)
            return response.html(page, status=400)
        await asyncio.to_thread(_label, settle, who, sender_id, event_id, intent)
        done = page_text("review.labelled_notice", lang, intent=intent)
        page = await asyncio.to_thread(_conversation_page, settle, who, lang, sender_id, None, done)
        return response.html(page)


def asked_filters(args) -> tuple[transcripts.Filters, int]:
    """The filters and the page the query asks for; ValueError saying what is wrong."""
    try:
        below = float(args.get("below") or transcripts.LOW_CONFIDENCE)
        page = int(args.get("page") or 1)
    except ValueError:
        raise ValueError(phrase("review.bad_filters")) from None
    if not 0 <= below <= 1 or page < 1:
        raise ValueError(phrase("review.bad_filters"))
    filters = transcripts.Filters(
        fallback=args.get("fallback") == "1",
        low_confidence=args.get("low") == "1",
        below=below,
        handoff=args.get("handoff") == "1",
        language=(args.get("language") or "").strip(),
    )
    return filters, page


def _conversation_page(
    settle: Wiring,
    who: SignedIn,
    lang: str,
    sender_id: str,
    error: str | None = None,
    notice: str | None = None,
) -> str:
    languages = settle.settings.business.languages
    found = transcripts.transcript(tracker_database_url(), sender_id, languages)
    if not found:
        raise NotFound("no such conversation")
    ids = [turn.event_id for reviewed in found for turn in reviewed.turns if turn.kind == "user"]
    with settle.store.unit_of_work() as session:
        given = labels.labels_of(session, ids)
    return review_templates.transcript(
        who, sender_id, found, given, labels.domain_intents(), lang, error, notice
    )


def _label(settle: Wiring, who: SignedIn, sender_id: str, event_id: int, intent: str) -> None:
    languages = settle.settings.business.languages
    found = transcripts.user_turn(tracker_database_url(), sender_id, event_id, languages)
    if found is None:
        raise NotFound("no such message in this conversation")
    turn, language = found
    with settle.store.unit_of_work() as session:
        labels.label_turn(session, event_id, turn.text, language, intent, who.email)
