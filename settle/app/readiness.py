"""GET /ready: whether this Settle service can do its work now, for an orchestrator's
readiness probe (rasa-sdk's /health only says the process is alive).

Ready means: the billing database answers `SELECT 1`; Redis answers PING, when REDIS_URL is
set; and the Rasa server has a model loaded. Rasa's GET / and /version answer with or
without one; its GET /status names the model, or answers 409 while there is none, and takes
only a token signed with the service's key (settle.access.rasa_api).

The checks run together, each for at most CHECK_SECONDS, so the answer comes within about
that whatever hangs; the blocking ones in a few threads of their own, so that probes that
keep coming while a database hangs never use up the actions' pool. Anyone may ask: an
outcome is a few fixed words, never a URL, a host or an error's text (those go to the log,
scrubbed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor

from redis import asyncio as aioredis
from sanic import Sanic, response
from sanic.request import Request
from sqlalchemy.engine import Engine

from settle.access import rasa_api
from settle.app import runtime
from settle.config import Settings, redis_url

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
PASSING = ("ok", "not configured")


class NotReady(Exception):
    """A check that failed, in words anyone may read."""


def add_readiness_route(app: Sanic) -> None:
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="settle-ready")

    @app.get("/ready")
    async def ready(_request: Request):
        settle = runtime.current()
        checks = await readiness(settle.store.engine, settle.settings, redis_url(), pool)
        failing = [name for name, outcome in checks.items() if outcome not in PASSING]
        if failing:
            return response.json(
                {"status": "not ready", "failing": failing, "checks": checks}, status=503
            )
        return response.json({"status": "ready", "checks": checks})


async def readiness(
    engine: Engine, settings: Settings, redis: str | None, pool: ThreadPoolExecutor
) -> dict[str, str]:
    """Each check's outcome: "ok", "not configured", or what failed."""
    loop = asyncio.get_running_loop()
    checks: dict[str, Awaitable[str] | None] = {
        "database": loop.run_in_executor(pool, _select_one, engine),
        "redis": _ping(redis) if redis else None,
        "rasa": loop.run_in_executor(pool, _rasa_model, settings),
    }
    outcomes = await asyncio.gather(*(_outcome(name, check) for name, check in checks.items()))
    return dict(zip(checks, outcomes, strict=True))


async def _outcome(name: str, check: Awaitable[str] | None) -> str:
    if check is None:
        return "not configured"
    try:
        return await asyncio.wait_for(check, CHECK_SECONDS)
    except asyncio.TimeoutError:
        outcome = f"no answer within {CHECK_SECONDS:g} s"
        log.warning("Not ready: %s: %s", name, outcome)
    except NotReady as error:
        outcome = str(error)
        log.warning("Not ready: %s: %s (%s)", name, outcome, error.__cause__)
    except Exception as error:  # a driver's error text may name a host or hold a URL
        outcome = f"failed ({type(error).__name__})"
        log.warning("Not ready: %s: %s", name, error)
    return outcome


def _select_one(engine: Engine) -> str:
    # On the driver's connection: a Session or Connection would begin a transaction, which
    # on SQLite takes the write lock (settle.store.db) and would wait behind any writer.
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchone()
        cursor.close()
    finally:
        connection.close()
    return "ok"


async def _ping(url: str) -> str:
    # The client's own timeouts only back up the check's (wait_for), which names the wait.
    backstop = CHECK_SECONDS + 1
    client = aioredis.Redis.from_url(url, socket_connect_timeout=backstop, socket_timeout=backstop)
    try:
        await client.ping()
    finally:
        await client.close()
    return "ok"


def _rasa_model(settings: Settings) -> str:
    key = settings.rasa_jwt_key_file
    if key is None or not key.exists():
        raise NotReady("RASA_JWT_KEY_FILE not set or missing: Rasa cannot be asked for its model")
    request = urllib.request.Request(
        f"{settings.rasa_url}/status", headers=rasa_api.authorization(key)
    )
    try:
        with urllib.request.urlopen(request, timeout=CHECK_SECONDS) as reply:
            status = json.load(reply)
    except urllib.error.HTTPError as error:
        if error.code == 409:
            raise NotReady("no model loaded") from error
        raise NotReady(f"Rasa answered HTTP {error.code}") from error
    except OSError as error:
        raise NotReady("unreachable") from error
    if not status.get("model_id"):
        raise NotReady("no model loaded")
    return "ok"
