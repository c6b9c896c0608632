"""The console's routes under /console, and the guard in front of every one of them.

The guard, not each page, decides who gets through, so a page added later is closed too:
only the sign-in page answers without a session (other pages redirect to it, anything else
gets 401); a POST must come from our own origin and carry the session's CSRF token (the
sign-in form a token of its own, in a cookie beside it), else 403; an operator on a
one-time password reaches nothing but the password page; /console/operators is for admins.
The language selector's form (POST /console/language) is checked like the page it sits on.

Every page is in the operator's language (settle.console.words.language_of), which the
guard puts on request.ctx.lang for the routes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

from sanic import Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request

from settle.adapters.payments import PaymentGateway
from settle.config import Settings
from settle.console import accounts, sessions, templates, words
from settle.console.language import LANGUAGE, add_language_page
from settle.console.queue_page import CONSOLE, add_queue_pages
from settle.console.report_page import add_report_pages
from settle.console.review_page import add_review_pages
from settle.console.sessions import SignedIn
from settle.core import audit
from settle.store.db import Store
from settle.store.models import utcnow

log = logging.getLogger(__name__)

SIGN_IN = "/console/sign-in"
SIGN_OUT = "/console/sign-out"
PASSWORD = "/console/password"
ADMIN_ONLY = "/console/operators"
READS = ("GET", "HEAD")
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class Wiring(Protocol):
    """What the pages need of the running service."""

    store: Store
    settings: Settings
    gateway: PaymentGateway


def cookie_names(settings: Settings) -> tuple[str, str]:
    """(session cookie, sign-in form cookie); over https `__Host-` names, which browsers
    keep to this exact host, https and path /."""
    prefix = "__Host-" if _secure(settings) else ""
    return f"{prefix}settle-console", f"{prefix}settle-console-sign-in"


def signed_in_reader(request: Request, wiring: Wiring) -> SignedIn | None:
    """The operator whose session this request carries, when they may read operator pages
    outside /console (e.g. /outbox): signed in and done with their one-time password."""
    who = _session_of(request, wiring)
    return who if who is not None and not who.must_change_password else None


def add_console_pages(app: Sanic, wiring: Callable[[], Wiring]) -> None:
    """The guard, GET/POST /console/sign-in|sign-out|password|operators, the work queue's
    pages (settle.console.queue_page), the report's and the conversation review's."""

    @app.middleware("request")
    async def _console_guard(request: Request):
        path = _route_path(request)
        if not _is_console(path):
            return None
        settle = wiring()
        lang = words.language_of(
            request.headers.get("Accept-Language"), request.cookies.get(words.COOKIE)
        )
        request.ctx.lang = lang
        if request.method not in READS and not _same_origin(request, settle.settings):
            return _refuse(403, "refused.other_site", lang)
        if path == LANGUAGE:  # from the sign-in page or a signed-in one: either token
            who = await asyncio.to_thread(_session_of, request, settle)
            given = _given_csrf(request)
            if who is not None and sessions.csrf_matches(who, given):
                return None
            if _sign_in_token_matches(request, settle):
                return None
            return _refuse(403, "refused.form_expired", lang)
        if path == SIGN_IN:
            if request.method not in READS and not _sign_in_token_matches(request, settle):
                return _refuse(403, "refused.sign_in_expired", lang)
            return None
        who = await asyncio.to_thread(_session_of, request, settle)
        request.ctx.operator = who
        if who is None:
            if request.method in READS:
                return response.redirect(SIGN_IN, status=303)
            return _refuse(401, "refused.sign_in_needed", lang)
        if request.method not in READS and not sessions.csrf_matches(who, _given_csrf(request)):
            return _refuse(403, "refused.form_expired", lang)
        if who.must_change_password and path not in (PASSWORD, SIGN_OUT):
            if request.method in READS:
                return response.redirect(PASSWORD, status=303)
            return _refuse(403, "refused.password_first", lang)
        if path.startswith(ADMIN_ONLY) and not who.is_admin:
            return _refuse(403, "refused.admins_only", lang)
        return None

    @app.middleware("response")
    async def _console_headers(request: Request, reply):
        if _is_console(_route_path(request)):
            reply.headers.update(HEADERS)
            scripts = getattr(request.ctx, "script_src", None)
            if scripts:  # a page whose own scripts are named (settle.console.report_page)
                reply.headers["Content-Security-Policy"] += f"; script-src {scripts}"

    @app.get(SIGN_IN)
    async def sign_in_form(request: Request):
        settle = wiring()
        if await asyncio.to_thread(_session_of, request, settle) is not None:
            return response.redirect(CONSOLE, status=303)
        token = secrets.token_urlsafe(32)
        reply = response.html(templates.sign_in(token, request.ctx.lang))
        _set_cookie(reply, cookie_names(settle.settings)[1], token, settle.settings, 3600)
        return reply

    @app.post(SIGN_IN)
    async def sign_in(request: Request):
        settle = wiring()
        email = request.form.get("email") or ""
        password = request.form.get("password") or ""
        new = await asyncio.to_thread(accounts.sign_in, settle.store, email, password)
        if new is None:
            log.info("Refused a console sign-in from %s", request.ip)
            token = request.cookies.get(cookie_names(settle.settings)[1], "")
            failed = _sign_in_failed(request.ctx.lang)
            page = templates.sign_in(token, request.ctx.lang, failed, email)
            return response.html(page, status=401)
        session_cookie, form_cookie = cookie_names(settle.settings)
        old = request.cookies.get(session_cookie)
        if old:
            await asyncio.to_thread(_end_session, settle, old)
        target = PASSWORD if new.signed_in.must_change_password else CONSOLE
        reply = response.redirect(target, status=303)
        seconds = int(sessions.LASTS_AT_MOST.total_seconds())
        _set_cookie(reply, session_cookie, new.token, settle.settings, seconds)
        _set_cookie(reply, form_cookie, "", settle.settings, 0)
        return reply

    @app.post(SIGN_OUT)
    async def sign_out(request: Request):
        settle = wiring()
        session_cookie = cookie_names(settle.settings)[0]
        who: SignedIn = request.ctx.operator
        await asyncio.to_thread(_end_session, settle, request.cookies.get(session_cookie), who)
        reply = response.redirect(SIGN_IN, status=303)
        _set_cookie(reply, session_cookie, "", settle.settings, 0)
        return reply

    @app.get(PASSWORD)
    async def password_form(request: Request):
        return response.html(templates.change_password(request.ctx.operator, request.ctx.lang))

    @app.post(PASSWORD)
    async def change_password(request: Request):
        who: SignedIn = request.ctx.operator
        lang = request.ctx.lang
        new = request.form.get("new") or ""
        if new != (request.form.get("confirm") or ""):
            page = templates.change_password(who, lang, words.page_text("password.not_same", lang))
            return response.html(page, status=400)
        problem = await asyncio.to_thread(
            accounts.change_password,
            wiring().store,
            who.operator_id,
            request.form.get("current") or "",
            new,
            who.session_id,
        )
        if problem:
            page = templates.change_password(who, lang, words.said(problem, lang))
            return response.html(page, status=400)
        return response.redirect(CONSOLE, status=303)

    @app.get(ADMIN_ONLY)
    async def operators(request: Request):
        listed = await asyncio.to_thread(_operators, wiring())
        return response.html(templates.operators(request.ctx.operator, listed, request.ctx.lang))

    @app.post(f"{ADMIN_ONLY}/<action:str>")
    async def change_operator(request: Request, action: str):
        if action not in ("add", "reset", "deactivate"):
            raise NotFound(f"no operator action {action!r}")
        settle, who, lang = wiring(), request.ctx.operator, request.ctx.lang
        email = request.form.get("email") or ""
        role = request.form.get("role") or "agent"
        try:
            done = await asyncio.to_thread(_change_operator, settle, who, action, email, role, lang)
        except accounts.AccountError as error:
            listed = await asyncio.to_thread(_operators, settle)
            page = templates.operators(who, listed, lang, error=words.said(error, lang))
            return response.html(page, status=400)
        listed = await asyncio.to_thread(_operators, settle)
        return response.html(templates.operators(who, listed, lang, notice=done))

    add_language_page(app, lambda: _secure(wiring().settings))
    add_queue_pages(app, wiring)
    add_report_pages(app, wiring)
    add_review_pages(app, wiring)


def _change_operator(
    settle: Wiring, who: SignedIn, action: str, email: str, role: str, lang: str
) -> str:
    """What an admin's form did, said for the page (a one-time password is shown once)."""
    if action != "add" and accounts.normalized_email(email) == who.email:
        raise accounts.AccountError(words.phrase("operators.not_own"))
    with settle.store.unit_of_work() as session:
        if action == "add":
            password = accounts.add_operator(session, email, role, who.actor)
            address = accounts.normalized_email(email)
            role = words.page_text(f"role.{role}", lang)
            return words.page_text(
                "operators.added", lang, email=address, role=role, password=password
            )
        if action == "reset":
            password = accounts.reset_password(session, email, who.actor)
            address = accounts.normalized_email(email)
            return words.page_text("operators.reset_done", lang, email=address, password=password)
        account = accounts.deactivate(session, email, who.actor)
        return words.page_text("operators.deactivated_done", lang, email=account.email)


def _operators(settle: Wiring) -> list[accounts.OperatorView]:
    with settle.store.unit_of_work() as session:
        return accounts.list_operators(session)


def _session_of(request: Request, wiring: Wiring) -> SignedIn | None:
    token = request.cookies.get(cookie_names(wiring.settings)[0])
    if not token:
        return None
    with wiring.store.unit_of_work() as session:
        return sessions.find(session, token, utcnow())


def _end_session(settle: Wiring, token: str | None, who: SignedIn | None = None) -> None:
    with settle.store.unit_of_work() as session:
        if token:
            sessions.end(session, token)
        if who is not None:
            audit.record(session, who.actor, "operator.signed_out", who.actor)


def _route_path(request: Request) -> str:
    """The path of the route that answers, however the request spelled it."""
    route = getattr(request, "route", None)
    path = route.path if route is not None else request.path
    return "/" + path.strip("/")


def _is_console(path: str) -> bool:
    return path == CONSOLE or path.startswith(CONSOLE + "/")


def _secure(settings: Settings) -> bool:
    return settings.public_base_url.lower().startswith("https://")


def _same_origin(request: Request, settings: Settings) -> bool:
    """A browser names the page a form came from (Origin); it must be ours: the public base
    URL or the host the browser addressed. Without the header the CSRF token decides."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    ours = urlsplit(settings.public_base_url)
    if origin.lower() == f"{ours.scheme}://{ours.netloc}".lower():
        return True
    given = urlsplit(origin)
    host = request.headers.get("Host", "")
    return given.scheme in ("http", "https") and bool(host) and given.netloc.lower() == host.lower()


def _sign_in_token_matches(request: Request, settle: Wiring) -> bool:
    kept = request.cookies.get(cookie_names(settle.settings)[1]) or ""
    given = _given_csrf(request) or ""
    return bool(kept) and secrets.compare_digest(kept.encode(), given.encode())


def _given_csrf(request: Request) -> str | None:
    return request.headers.get("X-CSRF-Token") or (request.form or {}).get("csrf")


def _set_cookie(reply, name: str, value: str, settings: Settings, seconds: int) -> None:
    reply.cookies[name] = value
    cookie = reply.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["max-age"] = seconds
    if _secure(settings):
        cookie["secure"] = True


def _sign_in_failed(lang: str) -> str:
    minutes = int(accounts.LOCK_FOR.total_seconds() // 60)
    tries = accounts.MAX_FAILED_ATTEMPTS
    return words.page_text("sign_in.failed", lang, tries=tries, minutes=minutes)


def _refuse(status: int, key: str, lang: str):
    page = templates.refused(status, words.page_text(key, lang), lang)
    return response.html(page, status=status)
