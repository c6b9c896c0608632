"""GET /ready on the Settle service: ready only when the billing database, Redis (when
REDIS_URL is set) and the Rasa server's model answer, within CHECK_SECONDS, naming what
failed and nothing secret."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from sanic import Sanic
from sqlalchemy import create_engine

from settle.access.rasa_api import ensure_private_key, public_key_pem
from settle.adapters.payments import SandboxGateway
from settle.app import runtime
from settle.app.readiness import CHECK_SECONDS
from settle.app.service import build_app
from settle.store.db import Store
from tests.harness import http
from tests.unit.trackers import RecordingSms


class FakeRasa:
    """Rasa's GET /status: the model, 409 without one (rasa.server), 401 without a token
    signed by the service's key."""

    def __init__(self, public_key: str, model: bool = True):
        self.public_key, self.model = public_key, model
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                try:
                    jwt.decode(token, fake.public_key, algorithms=["RS256"])
                except jwt.PyJWTError:
                    return self._reply(401, {"reason": "NotAuthenticated"})
                if self.path != "/status":
                    return self._reply(404, {})
                if not fake.model:
                    return self._reply(409, {"message": "No agent loaded."})
                return self._reply(200, {"model_file": "m.tar.gz", "model_id": "abc"})

            def _reply(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextlib.contextmanager
def serving(app: Sanic):
    """The app on a loopback port, in a thread of its own (no start-up listeners run)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    loop = asyncio.new_event_loop()
    started, stop = threading.Event(), asyncio.Event()

    async def run():
        server = await app.create_server(sock=sock, return_asyncio_server=True)
        await server.startup()
        await server.start_serving()
        started.set()
        await stop.wait()
        server.close()

    thread = threading.Thread(target=lambda: loop.run_until_complete(run()), daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "rasa-jwt.pem"
    ensure_private_key(path)
    return path


@pytest.fixture
def rasa(key):
    fake = FakeRasa(public_key_pem(key))
    yield fake
    fake.server.shutdown()


@pytest.fixture
def ready(sqlite_store, settings, key, rasa, monkeypatch):
    """GET /ready against a service on `store` (the SQLite test store unless given)."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.delenv("REDIS_URL", raising=False)

    def ask(store: Store = sqlite_store, **changes) -> tuple[int, dict, float]:
        wired = dataclasses.replace(
            settings, **{"rasa_url": rasa.url, "rasa_jwt_key_file": key, **changes}
        )
        runtime.use(
            runtime.Settle(wired, store, SandboxGateway(wired.public_base_url), RecordingSms())
        )
        with serving(build_app()) as url:
            started = time.monotonic()
            status, body = http("GET", f"{url}/ready", timeout=30)
            return status, json.loads(body), time.monotonic() - started

    yield ask
    runtime.use(None)


def test_ready_when_the_database_answers_and_rasa_has_a_model(ready):
    status, body, _ = ready()
    assert status == 200, body
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "not configured", "rasa": "ok"},
    }


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://settle:s3cret-pw@127.0.0.1:1/settle",
        "sqlite:////nonexistent-settle-dir/settle.db",
    ],
    ids=["closed port", "no such file"],
)
def test_not_ready_when_the_database_does_not_answer(ready, url):
    status, body, seconds = ready(Store(create_engine(url)))
    assert status == 503, body
    assert body["status"] == "not ready" and body["failing"] == ["database"]
    assert body["checks"]["rasa"] == "ok"
    assert "s3cret-pw" not in json.dumps(body) and "127.0.0.1" not in json.dumps(body)
    assert seconds < CHECK_SECONDS + 1


def test_not_ready_when_redis_is_closed(ready, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    status, body, seconds = ready()
    assert status == 503, body
    assert body["failing"] == ["redis"] and body["checks"]["database"] == "ok"
    assert "hunter2" not in json.dumps(body)
    assert seconds < CHECK_SECONDS + 1


def test_not_ready_within_the_timeout_when_redis_never_answers(ready, monkeypatch):
    silent = socket.socket()  # takes connections (the backlog) and never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    try:
        status, body, seconds = ready()
    finally:
        silent.close()
    assert status == 503 and body["failing"] == ["redis"], body
    assert body["checks"]["redis"] == f"no answer within {CHECK_SECONDS:g} s"
    assert seconds < CHECK_SECONDS + 1


def test_ready_with_redis_when_it_answers(ready, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    status, body, _ = ready()
    assert status == 200 and body["checks"]["redis"] == "ok", body


def test_not_ready_while_rasa_has_no_model(ready, rasa):
    rasa.model = False
    status, body, _ = ready()
    assert status == 503 and body["failing"] == ["rasa"], body
    assert body["checks"]["rasa"] == "no model loaded"


def test_not_ready_when_rasa_is_down_or_cannot_be_asked(ready):
    status, body, _ = ready(rasa_url="http://127.0.0.1:1")
    assert status == 503 and body["failing"] == ["rasa"], body
    status, body, _ = ready(rasa_jwt_key_file=None)
    assert status == 503 and "RASA_JWT_KEY_FILE" in body["checks"]["rasa"], body
