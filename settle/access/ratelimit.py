"""How fast one client may talk: a token bucket per client (web address or API key).

On one machine the buckets live in the process's memory (RateLimiter). With REDIS_URL set
(several Rasa workers or service replicas) they live in Redis (SharedRateLimiter), so a
client gets the rate once in all, not once per process. Identity guesses are limited in the
database (settle.access.lockout) either way.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

MAX_CLIENTS = 50_000  # remembered at once; the idlest are forgotten first
# After Redis fails, it is asked again only this many seconds later: every call is made on
# the event loop, so a Redis that hangs must cost one timeout now and then, not one a request.
REDIS_PAUSE = 5.0


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str | None, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str | None) -> float:
        """0 when `client` may send now; else the seconds until it may (clients with no
        known address share one bucket)."""
        now = self._clock()
        with self._lock:
            tokens, seen = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - seen) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                self._forget_idle()
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate

    def _forget_idle(self) -> None:
        if len(self._buckets) <= MAX_CLIENTS:
            return
        by_age = sorted(self._buckets.items(), key=lambda item: item[1][1])
        for client, _ in by_age[: len(by_age) // 10]:
            del self._buckets[client]


# One bucket in Redis, read and written in one step (a Lua script runs atomically), on
# Redis's clock so replicas with drifting clocks agree. Returns the seconds to wait, 0 if
# the request may go; the key expires once a full bucket would have refilled.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'seen')
local tokens = tonumber(bucket[1]) or capacity
local seen = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - seen) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'seen', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return tostring(wait)
"""


class SharedRateLimiter:
    """RateLimiter's bucket kept in Redis, shared by every process that uses the same
    `scope`. Clients are stored by a SHA-256 prefix, so Redis holds no key name or address in
    clear (a hash of an IPv4 address can still be found by trying them all). If Redis
    fails, this process's own bucket decides until it answers again (asked every
    REDIS_PAUSE seconds): a client then gets the rate per process, as without Redis, and
    only one request in REDIS_PAUSE waits on a hung server."""

    def __init__(self, url: str, scope: str, per_minute: int):
        import redis

        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.scope = scope
        self._redis = redis.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25, health_check_interval=30
        )
        self._take = self._redis.register_script(_TAKE)
        self._local = RateLimiter(per_minute)
        self._errors = (redis.RedisError, OSError)
        self._failing = False
        self._retry_at = 0.0

    def allow(self, client: str | None) -> float:
        if self._failing and time.monotonic() < self._retry_at:
            return self._local.allow(client)
        digest = hashlib.sha256(str(client).encode()).hexdigest()[:32]
        try:
            answer = self._take(
                keys=[f"settle:rate:{self.scope}:{digest}"], args=[self.capacity, self.rate]
            )
        except self._errors as error:
            if not self._failing:  # once per outage, not once per request
                logger.warning(
                    "%s rate limits kept in memory: Redis failed (%s)", self.scope, error
                )
            self._failing = True
            self._retry_at = time.monotonic() + REDIS_PAUSE
            return self._local.allow(client)
        if self._failing:
            logger.warning("%s rate limits shared through Redis again", self.scope)
        self._failing = False
        return float(answer)


def rate_limiter(scope: str, per_minute: int, redis: str | None) -> RateLimiter | SharedRateLimiter:
    """Shared through Redis when `redis` (REDIS_URL) is set, else this process's own."""
    if redis:
        return SharedRateLimiter(redis, scope, per_minute)
    return RateLimiter(per_minute)
