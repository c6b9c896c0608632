"""What a phone call carries from one Twilio webhook to the next, shared by every worker.

Twilio sends each webhook of a call (the answer to a <Gather>, a <Redirect>, a <Pay>
callback) to whichever Rasa worker or replica its load balancer picks, so the call's state
(language, last question, keypad mode, the intro still to say, its language on file) lives
here: in Redis as JSON under `settle:call:<CallSid>` when REDIS_URL is set, for an hour
after the last webhook; otherwise in this process, forgotten an hour after the last one.

The assistant's answer is the one part that starts on one worker and may be needed on
another: a slow turn says "one moment" and redirects, and the redirect may land elsewhere.
So the turn runs as a task of the worker that took the webhook (in `working`, never
shared), and when it is done its messages are stored as well, under the id the call's
state names (`answering`). Whichever worker takes the redirect awaits the task if it is
its own, else polls the store for up to a turn budget, and says "one moment" again while
the answer is not there. Every answer is stored, even one said at once: a write a turn is
simpler than knowing whether another worker will ask.

When Redis cannot be reached the error is logged and the call goes on as one whose state
was lost (on a restart, say): generic prompts take over, nothing crashes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from rasa.core.channels.channel import CollectingOutputChannel
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Twilio calls are far shorter; every webhook starts the hour again.
TTL_SECONDS = 3600
# How often a worker without the running turn looks for its answer.
POLL_SECONDS = 0.2
# Per Redis command: an unreachable Redis must leave a webhook well inside Twilio's 15 s
# (a load and a save around a turn budget of 10 s by default).
REDIS_TIMEOUT_SECONDS = 1.0


@dataclasses.dataclass
class CallState:
    """What a call needs between webhooks; when it is lost, generic prompts take over."""

    language: str = "en"
    last_prompt: str = ""
    keypad: str = "menu"
    intro: str = ""
    # The one-time token for the URL in the answer being built (see settle.access.replay).
    nonce: str = ""
    # The caller's language on file, when the carrier attested their number (else None).
    on_file: str | None = None
    # The id of the assistant's answer being worked on; "" when there is none.
    answering: str = ""


FIELDS = {field.name for field in dataclasses.fields(CallState)}


class CallStore:
    """Call states and finished answers: in Redis at `redis_url`, else in this process."""

    def __init__(
        self,
        redis_url: str | None,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis_url, self.ttl, self.clock = redis_url, ttl, clock
        # Without Redis: key -> (when it was stored, JSON).
        self.kept: dict[str, tuple[float, str]] = {}
        # The answers this process is working on, by id, until they are done (and stored).
        self.working: dict[str, asyncio.Task] = {}
        self._redis: aioredis.Redis | None = None

    async def load(self, call_sid: str) -> CallState | None:
        """The call's state, or None for a new call (or one whose state was lost)."""
        stored = await self._get(f"settle:call:{call_sid}")
        if stored is None:
            return None
        return CallState(**{k: v for k, v in json.loads(stored).items() if k in FIELDS})

    async def save(self, call_sid: str, state: CallState) -> None:
        await self._set(f"settle:call:{call_sid}", json.dumps(dataclasses.asdict(state)))

    def start_answer(
        self, call_sid: str, turn: Awaitable[Any], collector: CollectingOutputChannel
    ) -> str:
        """Runs the assistant's turn in the background, to store its messages (the collector's)
        when it is done; the answer's id, for CallState.answering."""
        answer_id = secrets.token_urlsafe(12)

        async def answer() -> list[dict[str, Any]] | None:
            try:
                await turn
                messages: list[dict[str, Any]] | None = collector.messages
            except Exception:
                log.exception("Call %s: the assistant failed", call_sid)
                messages = None
            key = f"settle:call:{call_sid}:answer:{answer_id}"
            await self._set(key, json.dumps({"messages": messages}, default=str))
            return messages

        task = self.working[answer_id] = asyncio.ensure_future(answer())
        task.add_done_callback(lambda _: self.working.pop(answer_id, None))
        return answer_id

    async def answer(self, call_sid: str, answer_id: str) -> list[dict[str, Any]] | None:
        """The answer's messages (None: the turn failed), from its task when it runs here,
        else once a worker has stored it; waits until then (callers bound it with
        asyncio.wait_for, which leaves the task running)."""
        task = self.working.get(answer_id)
        if task is not None:
            return await asyncio.shield(task)
        key = f"settle:call:{call_sid}:answer:{answer_id}"
        while (stored := await self._get(key)) is None:
            await asyncio.sleep(POLL_SECONDS)
        return json.loads(stored)["messages"]

    async def close(self) -> None:
        """Lets go of Redis's connections (the worker is stopping)."""
        if self._redis is not None:
            await self._redis.close(close_connection_pool=True)
            self._redis = None

    async def _get(self, key: str) -> str | None:
        if self.redis_url is None:
            kept = self.kept.get(key)
            return kept[1] if kept and self.clock() - kept[0] < self.ttl else None
        try:
            return await self._client().get(key)
        except (RedisError, OSError) as error:
            _unavailable(error)
            return None

    async def _set(self, key: str, value: str) -> None:
        if self.redis_url is None:
            now = self.clock()
            self.kept.pop(key, None)  # kept in the order stored: the oldest come first
            self.kept[key] = (now, value)
            while self.kept and now - next(iter(self.kept.values()))[0] >= self.ttl:
                del self.kept[next(iter(self.kept))]
            return
        try:
            await self._client().set(key, value, ex=int(self.ttl))
        except (RedisError, OSError) as error:
            _unavailable(error)

    def _client(self) -> aioredis.Redis:
        # Made on first use, inside the worker's event loop (workers fork after start-up).
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                self.redis_url,
                decode_responses=True,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        return self._redis


def _unavailable(error: Exception) -> None:
    log.error(
        "Voice call state: Redis (REDIS_URL) is unavailable (%s); "
        "this call goes on with generic prompts",
        error,
    )
