"""Rasa's REST and socket.io channels, with the client kept in its place.

A web client chooses everything it sends: its sender id, an `input_channel` name, metadata.
Rasa's own channels pass all of it on. These (registered in credentials.yml under the same
names and URLs) make sure that

* a web conversation never shares a tracker with a phone conversation: ids beginning with
  "+" (E.164 numbers, the signed Twilio channels' ids) or "tel:" are refused;
* the channel is what it is: REST stays "rest" whatever the body says;
* no metadata brings a proof of identity: the channel seals its own, which says only
  "web" and the client's address (settle.access.proof), for the per-address lockout;
* a page on a site SETTLE_ALLOWED_ORIGINS does not name opens no socket;
* one client address sends at most `security.web_messages_per_minute` messages a minute
  (HTTP 429 on REST; a short reply on socket.io).

Rasa's socket.io server lives in one process; with REDIS_URL its workers share it
(socket_server), so a message reaches a browser whichever worker sends it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage, decode_bearer_token
from rasa.core.channels.rest import RestInput as RasaRestInput
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from settle.access import proof as proofs
from settle.access.addresses import address_key
from settle.access.ratelimit import RateLimiter, SharedRateLimiter, rate_limiter
from settle.access.requests import client_address, forwarded_client
from settle.app import runtime
from settle.config import allowed_origins, redis_url
from settle.core import i18n
from settle_rasa.channels import seal
from settle_rasa.ingress import guard_server, screened, spoken_language

log = logging.getLogger(__name__)

RESERVED_PREFIXES = ("+", "tel:")


def reserved(sender_id: str | None) -> bool:
    """Whether a conversation id belongs to the signed phone channels."""
    return (sender_id or "").strip().lower().startswith(RESERVED_PREFIXES)


_limiter: RateLimiter | SharedRateLimiter | None = None


def limiter() -> RateLimiter | SharedRateLimiter:
    global _limiter
    if _limiter is None:
        per_minute = runtime.current().security.web_messages_per_minute
        _limiter = rate_limiter("web", per_minute, redis_url())
    return _limiter


def web_metadata(metadata: Any, sender_id: str, client: str) -> dict[str, Any]:
    """The client's metadata, minus any proof it brought, plus ours."""
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = {}
    return seal(
        proofs.ChannelProof(kind=proofs.WEB, client=client),
        sender_id,
        proofs.without_proof(metadata),
    )


class TooManyMessages(SanicException):
    status_code = 429
    quiet = True


def _browser_language(message: UserMessage) -> str | None:
    language = (message.metadata or {}).get("language")
    return language.split("-")[0].lower() if isinstance(language, str) else None


class RestInput(RasaRestInput):
    """POST /webhooks/rest/webhook, as Rasa's, for untrusted clients."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return guard_server(super().blueprint(screened(on_new_message, _browser_language)))

    @classmethod
    def name(cls) -> str:
        return "rest"

    async def _extract_sender(self, req: Request) -> str | None:
        body = req.json if isinstance(req.json, dict) else {}
        sender = body.get("sender")
        if not isinstance(sender, str) or not sender.strip():
            raise SanicException("`sender` must be a non-empty string", status_code=400)
        if reserved(sender):
            raise SanicException(
                "sender ids starting with '+' or 'tel:' belong to phone "
                "conversations and can't be used here",
                status_code=400,
            )
        client = client_address(req, runtime.current().settings.trusted_proxies)
        wait = limiter().allow(address_key(client))
        if wait:
            raise TooManyMessages(
                f"too many messages from {client}; try again in {max(1, round(wait))} s"
            )
        req.ctx.settle_client = client
        return sender

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        body = request.json if isinstance(request.json, dict) else {}
        client = getattr(request.ctx, "settle_client", None) or request.ip
        return web_metadata(body.get("metadata"), str(body.get("sender")), client)


def socket_server(redis: str | None) -> AsyncServer:
    """Rasa's socket.io server (CORS is `rasa run --cors`'s; see _origin_allowed), shared by
    the workers when they share a Redis: an emit to a conversation's room (a reply, or a
    message pushed through trigger_intent on any worker) reaches the worker holding the
    browser's socket; and websocket only, since a long-poll's next request may land on a
    worker that never saw its session. One process keeps both transports."""
    if redis is None:
        return AsyncServer(async_mode="sanic", cors_allowed_origins=[])
    return AsyncServer(
        async_mode="sanic",
        cors_allowed_origins=[],
        client_manager=AsyncRedisManager(redis),
        transports=["websocket"],
    )


class SocketIOInput(RasaSocketIOInput):
    """socket.io at /socket.io (the web chat widget), as Rasa's, for untrusted clients."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's blueprint, on a server of our own (socket_server); its health route and
        JWT check as Rasa has them."""
        on_new_message = screened(on_new_message, _browser_language)
        sio = self.sio = socket_server(redis_url())
        socketio_webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook")

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None) -> bool:
            if not _origin_allowed(environ.get("HTTP_ORIGIN")):
                log.info("A socket.io connection from %s was refused", environ.get("HTTP_ORIGIN"))
                return False
            if not self.jwt_key:
                return True
            token = auth.get("token") if isinstance(auth, dict) else None
            return bool(token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm))

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict | None) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id")
            if not isinstance(session_id, str) or not session_id or reserved(session_id):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                sio.enter_room(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: dict) -> None:
            data = data if isinstance(data, dict) else {}
            output = SocketIOOutput(sio, self.bot_message_evt)
            if self.session_persistence:
                sender_id = data.get("session_id")
                if not isinstance(sender_id, str) or not sender_id:
                    log.warning("A socket.io message without a session_id was ignored")
                    return
            else:
                sender_id = sid
            if reserved(sender_id):
                log.warning("A socket.io message for a phone conversation was refused")
                return
            metadata = data.get(self.metadata_key) or {}
            client = _socket_client(sio, sid, self.namespace)
            if limiter().allow(address_key(client)):
                language = metadata.get("language") if isinstance(metadata, dict) else None
                language = language if isinstance(language, str) else ""
                await output.send_text_message(
                    sender_id,
                    i18n.text("too_many_messages", spoken_language(language.split("-")[0].lower())),
                )
                return
            await on_new_message(
                UserMessage(
                    str(data.get("message") or ""),
                    output,
                    sender_id,
                    input_channel=self.name(),
                    metadata=web_metadata(metadata, sender_id, client),
                )
            )

        return guard_server(socketio_webhook)


def _origin_allowed(origin: str | None) -> bool:
    """Browsers hold long-polling to CORS (`rasa run --cors`) but not a websocket: a page's
    origin is checked here against the same setting."""
    allowed = allowed_origins()
    return not origin or allowed == "*" or origin.lower() == allowed.lower()


def _socket_client(sio, sid: str, namespace: str | None) -> str:
    """The client's address from the request that opened the socket."""
    environ = sio.get_environ(sid, namespace) or {}
    request = environ.get("sanic.request")
    proxies = runtime.current().settings.trusted_proxies
    if request is not None:
        return client_address(request, proxies)
    return forwarded_client(
        environ.get("REMOTE_ADDR", ""), [environ.get("HTTP_X_FORWARDED_FOR", "")], tuple(proxies)
    )
