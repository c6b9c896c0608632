"""How fast one web client may talk: a token bucket per client address.

Kept in the memory of each Rasa process: with several workers a client gets the rate once
per worker, which still bounds it; identity guesses are limited in the database
(settle.access.lockout), so they are counted across workers exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_CLIENTS = 50_000  # remembered at once; the idlest are forgotten first


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
