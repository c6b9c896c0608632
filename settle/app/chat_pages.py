"""The web chat: a page with the rasa-webchat widget, and the widget's script, served from
node_modules (the same two script tags go on any other site)."""

from __future__ import annotations

import functools
import html
import json
import logging
from pathlib import Path

from sanic import Sanic, response
from sanic.request import Request

from settle.app import runtime
from settle.config import Settings
from settle.core import i18n

log = logging.getLogger(__name__)

WEBCHAT_BUNDLE = (
    Path(__file__).resolve().parents[2] / "node_modules" / "rasa-webchat" / "lib" / "index.js"
)
# rasa-webchat 1.0.1 gives socket.io-client only a `path` (its `protocolOptions` reach SockJS
# alone), so the script we serve is told here to use a websocket and nothing else: Rasa's
# workers refuse long-polling once they share rooms (settle_rasa.web_channels.socket_server).
SOCKET_OPTIONS = "socketio:function(e,t,n){var r=n?{path:n}:{}"
WEBSOCKET_ONLY = (
    'socketio:function(e,t,n){var r=n?{path:n,transports:["websocket"]}:{transports:["websocket"]}'
)


def add_chat_pages(app: Sanic) -> None:
    """GET /chat and /webchat/webchat.js."""

    @app.get("/chat", name="chat_page")
    async def show_chat(request: Request):
        settings = runtime.current().settings
        language = i18n.accepted_language(
            request.headers.get("accept-language"), settings.business.languages
        )
        return response.html(chat_page(settings, language), headers={"Vary": "Accept-Language"})

    @app.get("/webchat/webchat.js")
    async def webchat_bundle(request: Request):
        if not WEBCHAT_BUNDLE.exists():
            return response.text("rasa-webchat is not installed: run `make install`", status=503)
        return response.raw(
            webchat_script(),
            content_type="application/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )


@functools.cache
def webchat_script() -> bytes:
    """The widget's bundle, connecting over a websocket only."""
    source = WEBCHAT_BUNDLE.read_text(encoding="utf-8")
    if SOCKET_OPTIONS not in source:
        log.warning(
            "%s is not rasa-webchat 1.0.1's: served unchanged, it long-polls first, which "
            "Rasa workers sharing REDIS_URL refuse",
            WEBCHAT_BUNDLE,
        )
    return source.replace(SOCKET_OPTIONS, WEBSOCKET_ONLY, 1).encode()


def chat_page(settings: Settings, language: str) -> str:
    """A page with the chat widget, its words in the visitor's language (their browser's);
    the same two script tags go on any other site."""
    business = html.escape(settings.business.name)
    config = json.dumps(
        {
            "socketUrl": settings.rasa_public_url,
            "socketPath": "/socket.io/",
            "title": settings.business.name,
            "subtitle": i18n.text("chat_subtitle", language),
            "initPayload": "/greet",
            "storage": "local",
            "embedded": False,
            "showFullScreenButton": False,
            "inputTextFieldHint": i18n.text("chat_input_hint", language),
        },
        ensure_ascii=False,
    ).replace("</", "<\\/")
    title = html.escape(i18n.text("chat_title", language, business=settings.business.name))
    return (
        f"<!doctype html><html lang={language}><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}</style>"
        f"<h1>{business}</h1><p>{html.escape(i18n.text('chat_intro', language))}</p>"
        "<div id=webchat></div>"
        "<script src='/webchat/webchat.js'></script>"
        "<script>const config = " + config + ";"
        "WebChat.default({selector: '#webchat', ...config,"
        " customData: {language: navigator.language || document.documentElement.lang},"
        " params: {storage: config.storage}}, null);</script></html>"
    )
