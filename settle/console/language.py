"""POST /console/language: the language selector on every console page. It keeps the
operator's choice in a cookie (settle.console.words.COOKIE) for /console only, and sends
the browser back to the page the form was on. The console's guard (settle.console.pages)
checks the form's token first; nothing is stored on the server.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from sanic import Sanic, response
from sanic.request import Request

from settle.console.words import COOKIE, LANGUAGES

LANGUAGE = "/console/language"
KEEP_FOR = 365 * 24 * 3600  # a year: the choice is a preference, not a secret


def add_language_page(app: Sanic, secure: Callable[[], bool]) -> None:
    """POST /console/language with `lang` one of LANGUAGES; any other value changes
    nothing. `secure()` says whether the console is served over https."""

    @app.post(LANGUAGE)
    async def choose_language(request: Request):
        reply = response.redirect(back_to(request.headers.get("Referer")), status=303)
        chosen = (request.form or {}).get("lang")
        if chosen in LANGUAGES:
            reply.cookies[COOKIE] = chosen
            cookie = reply.cookies[COOKIE]
            cookie["path"] = "/console"
            cookie["samesite"] = "Strict"
            cookie["httponly"] = True
            cookie["max-age"] = KEEP_FOR
            if secure():
                cookie["secure"] = True
        return reply


def back_to(referer: str | None) -> str:
    """The console page the form was sent from (only its path and query: never another
    site), else the console's landing page."""
    parts = urlsplit(referer or "")
    path = parts.path
    if not (path == "/console" or path.startswith("/console/")) or "//" in path:
        return "/console"
    if path == LANGUAGE:
        return "/console"
    return path + (f"?{parts.query}" if parts.query else "")
