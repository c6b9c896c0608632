"""The web chat across Rasa workers: each worker is a Sanic app of its own on loopback, with
Settle's socket.io channel as credentials.yml configures it. A browser's socket lives in one
worker; a proactive message (trigger_intent, from any worker) must still reach it."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from contextlib import asynccontextmanager

import pytest
import redis
import websockets
from sanic import Sanic

from settle.app.chat_pages import WEBCHAT_BUNDLE, webchat_script
from settle_rasa.web_channels import SocketIOInput
from tests.conftest import IN_CI
from tests.harness import free_port

CREDENTIALS = {
    "user_message_evt": "user_uttered",
    "bot_message_evt": "bot_uttered",
    "session_persistence": True,
    "metadata_key": "customData",
}


async def _not_called(message) -> None:
    raise AssertionError("no user message is sent in these tests")


@pytest.fixture(autouse=True)
def several_apps(monkeypatch):
    """Sanic 21.12 rewrites its own methods when an app starts, once a process unless in
    test mode: two workers in one process need it."""
    monkeypatch.setattr(Sanic, "test_mode", True)


@asynccontextmanager
async def worker():
    """One Rasa worker's socket.io channel, serving on a free loopback port."""
    channel = SocketIOInput.from_credentials(CREDENTIALS)
    app = Sanic(f"worker-{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(_not_called))
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield channel, f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


def _socket_address(url: str) -> str:
    return url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"


class Browser:
    """The widget's side of socket.io over a websocket (Engine.IO 4 and Socket.IO 5 text
    packets), enough for a session and the bot's messages: python-socketio's own client needs
    a newer aiohttp than Rasa's."""

    def __init__(self, ws) -> None:
        self.ws = ws

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str):
        async with websockets.connect(_socket_address(url)) as ws:
            assert (await ws.recv()).startswith("0"), "Engine.IO open"
            await ws.send("40")  # Socket.IO connect to the default namespace
            assert (await ws.recv()).startswith("40"), "Socket.IO connected"
            yield cls(ws)

    async def emit(self, event: str, data) -> None:
        await self.ws.send("42" + json.dumps([event, data]))

    async def next_event(self, seconds: float = 5):
        """(event, data) of the next event the server sends, or None after `seconds`."""
        while True:
            try:
                packet = await asyncio.wait_for(self.ws.recv(), seconds)
            except asyncio.TimeoutError:
                return None
            if packet == "2":  # Engine.IO ping
                await self.ws.send("3")
            elif packet.startswith("42"):
                return tuple(json.loads(packet[2:]))


def _listeners(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return client.pubsub_numsub("socketio")[0][1]
    finally:
        client.close()


async def _proactive_message_across_workers(redis_url: str):
    async with worker() as (_, url_a), worker() as (channel_b, _):
        async with Browser.connect(url_a) as browser:
            await browser.emit("session_request", {"session_id": "web-chat-1"})
            assert await browser.next_event() == ("session_confirm", "web-chat-1")
            # Worker A subscribes to Redis once a socket has connected to it.
            for _ in range(100):
                if _listeners(redis_url):
                    break
                await asyncio.sleep(0.05)
            # What Rasa's trigger_intent does, on whichever worker the request landed on.
            output = channel_b.get_output_channel()
            assert output is not None
            await output.send_text_message("web-chat-1", "We've received your payment")
            return await browser.next_event()


def test_a_message_sent_through_another_worker_reaches_the_browser(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert asyncio.run(_proactive_message_across_workers(redis_url)) == (
        "bot_uttered",
        {"text": "We've received your payment"},
    )


async def _answer_to_a_page_on(origin: str) -> str:
    """The server's answer to a socket.io connect: "40{…}" accepted, "44{…}" refused."""
    async with worker() as (_, url):
        async with websockets.connect(_socket_address(url), origin=origin) as ws:
            await ws.recv()  # Engine.IO open
            await ws.send("40")
            return await ws.recv()


def test_a_websocket_from_a_site_not_allowed_is_refused(monkeypatch):
    """Browsers hold long-polling to CORS (rasa run --cors), not a websocket."""
    monkeypatch.setenv("SETTLE_ALLOWED_ORIGINS", "https://shop.example")
    assert asyncio.run(_answer_to_a_page_on("https://shop.example")).startswith("40")
    assert asyncio.run(_answer_to_a_page_on("https://elsewhere.example")).startswith("44")


def _polling_handshake(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/socket.io/?EIO=4&transport=polling", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code


async def _handshake_status() -> int:
    async with worker() as (_, url):
        return await asyncio.to_thread(_polling_handshake, url)


def test_workers_sharing_redis_refuse_long_polling(redis_url, monkeypatch):
    """A long-poll's next request may land on a worker that never saw its session."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert asyncio.run(_handshake_status()) == 400


def test_one_process_still_accepts_long_polling(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert asyncio.run(_handshake_status()) == 200


def test_the_served_widget_connects_over_a_websocket_only():
    """rasa-webchat would long-poll first, which workers sharing Redis refuse."""
    if not WEBCHAT_BUNDLE.exists():
        reason = "rasa-webchat is not installed (make install)"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    script = webchat_script().decode()
    assert script.count("socketio:function(") == 1
    options = script.split("socketio:function(e,t,n){var r=", 1)[1].split(",o=", 1)[0]
    assert options == 'n?{path:n,transports:["websocket"]}:{transports:["websocket"]}'
