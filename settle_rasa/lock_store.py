"""One conversation, one turn at a time, across every Rasa worker and replica.

Rasa serialises the turns of a conversation with ticket locks (rasa/core/lock.py). Its
in-memory store holds them in one process, so two workers would interleave two turns of
one conversation and corrupt its events. Its RedisLockStore shares them, but every change
is a read, a change in Python and a blind write: two workers issuing tickets at once both
read ticket 3 and both take ticket 4 (measured: 8 threads over 4 stores took 200 tickets,
47 distinct). Here every change of a lock is one Redis transaction (WATCH the key, change,
MULTI/EXEC, again if another worker wrote in between), so no ticket is issued twice and
none is lost.

Without REDIS_URL the locks stay in this process, as in Rasa's default, and more than one
Sanic worker is refused: it would look like it works and corrupt conversations.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from settle.config import ConfigError, redis_url

log = logging.getLogger(__name__)

KEY_PREFIX = "settle:lock:"
# A lock whose every ticket has expired is gone a minute later, whatever happened to the
# worker that held it.
SPARE_SECONDS = 60
T = TypeVar("T")
Change = Callable[[TicketLock | None], tuple[TicketLock | None, T]]


class WorkersNeedRedis(ConfigError):
    """More than one Sanic worker without a shared lock store."""


def sanic_workers() -> int:
    try:
        return int(os.environ.get("SANIC_WORKERS", "1") or 1)
    except ValueError:
        return 1


class SettleLockStore(LockStore):
    """endpoints.yml `lock_store: type: settle_rasa.lock_store.SettleLockStore`."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, url: str | None = None):
        super().__init__()
        self.url = url or redis_url()
        self._local: dict[str, TicketLock] = {}
        self.red: redis.Redis | None = None
        if self.url:
            self.red = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)
        elif sanic_workers() > 1:
            raise WorkersNeedRedis(
                f"SANIC_WORKERS={sanic_workers()} needs REDIS_URL: without a shared lock "
                "store two workers would take turns of one conversation at once"
            )

    @property
    def shared(self) -> bool:
        return self.red is not None

    # --- what Rasa asks of a lock store; each read-modify-write is one transaction ----

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = 60) -> int:
        def issue(lock: TicketLock | None) -> tuple[TicketLock, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        return self._change(conversation_id, issue)

    def update_lock(self, conversation_id: str) -> None:
        def drop_expired(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def finish(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """The ticket is done; the lock goes with its last ticket, in the same transaction
        (Rasa's two steps could delete a ticket another worker had just been issued)."""

        def finish(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else None), None

        self._change(conversation_id, finish)

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        if self.red is None:
            return self._local.get(conversation_id)
        try:
            return _parse(self.red.get(KEY_PREFIX + conversation_id))
        except redis.RedisError as error:
            raise LockError(f"The lock store (Redis) did not answer: {error}") from error

    def save_lock(self, lock: TicketLock) -> None:
        self._change(lock.conversation_id, lambda _: (lock, None))

    def delete_lock(self, conversation_id: str) -> None:
        self._change(conversation_id, lambda _: (None, None))

    # --- one change, atomically -------------------------------------------------------

    def _change(self, conversation_id: str, change: Change[T]) -> T:
        if self.red is None:
            lock, result = change(self._local.get(conversation_id))
            if lock is None or not lock.tickets:
                self._local.pop(conversation_id, None)
            else:
                self._local[conversation_id] = lock
            return result
        key = KEY_PREFIX + conversation_id
        try:
            with self.red.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        lock, result = change(_parse(pipe.get(key)))
                        pipe.multi()
                        if lock is None or not lock.tickets:
                            pipe.delete(key)
                        else:
                            pipe.set(key, lock.dumps(), px=_lifetime_ms(lock))
                        pipe.execute()
                        return result
                    except redis.WatchError:
                        continue  # another worker changed this lock first: again
        except redis.RedisError as error:
            raise LockError(f"The lock store (Redis) did not answer: {error}") from error


def _parse(raw: Any) -> TicketLock | None:
    return TicketLock.from_dict(json.loads(raw)) if raw else None


def _lifetime_ms(lock: TicketLock) -> int:
    latest = max(ticket.expires for ticket in lock.tickets)
    return max(1, math.ceil((latest - time.time() + SPARE_SECONDS) * 1000))
