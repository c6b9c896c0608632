"""The lock store Rasa's workers share: one turn of a conversation at a time, everywhere."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis
import yaml
from rasa.core.lock_store import LockError

from settle.app.cli_servers import rasa_workers
from settle.config import PROJECT_ROOT, ConfigError
from settle_rasa.lock_store import KEY_PREFIX, SettleLockStore, WorkersNeedRedis


def test_workers_racing_for_tickets_never_get_the_same_one(redis_url):
    stores = [SettleLockStore(url=redis_url) for _ in range(4)]
    taken: list[int] = []

    def take(store: SettleLockStore) -> None:
        for _ in range(25):
            taken.append(store.issue_ticket("+14155550100", 60))

    threads = [threading.Thread(target=take, args=(stores[i % 4],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(taken) == 200
    assert sorted(taken) == list(range(200))


def test_a_second_worker_waits_for_the_first_turn_of_a_conversation(redis_url):
    first, second = SettleLockStore(url=redis_url), SettleLockStore(url=redis_url)
    order: list[str] = []

    async def turn(store: SettleLockStore, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        async with store.lock("web-1", wait_time_in_seconds=0.02):
            order.append(f"{name} starts")
            await asyncio.sleep(0.2)
            order.append(f"{name} ends")

    async def both() -> None:
        await asyncio.gather(turn(first, "A", 0), turn(second, "B", 0.05))

    asyncio.run(both())

    assert order == ["A starts", "A ends", "B starts", "B ends"]


def test_the_lock_goes_with_its_last_ticket_and_never_outlives_it(redis_url):
    store = SettleLockStore(url=redis_url)
    client = redis.Redis.from_url(redis_url)

    async def turn() -> int:
        async with store.lock("web-2", lock_lifetime=30):
            return client.pttl(KEY_PREFIX + "web-2")

    assert 30_000 < asyncio.run(turn()) <= 91_000
    assert client.exists(KEY_PREFIX + "web-2") == 0


def test_without_redis_the_locks_stay_in_this_process(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    store = SettleLockStore()
    assert not store.shared

    async def turn() -> bool:
        async with store.lock("web-3"):
            return store.get_lock("web-3") is not None

    assert asyncio.run(turn())
    assert store.get_lock("web-3") is None


def test_more_than_one_worker_without_redis_is_refused(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SANIC_WORKERS", "2")
    with pytest.raises(WorkersNeedRedis, match="REDIS_URL"):
        SettleLockStore()


def test_more_than_one_worker_with_redis_is_fine(monkeypatch, redis_url):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SANIC_WORKERS", "2")
    assert SettleLockStore().shared


def test_redis_down_is_a_lock_error_not_a_hang():
    store = SettleLockStore(url="redis://127.0.0.1:1/0")
    with pytest.raises(LockError, match="did not answer"):
        store.issue_ticket("web-4", 60)


def test_settle_run_starts_more_workers_only_with_redis():
    assert rasa_workers({}) == 1
    assert rasa_workers({"RASA_WORKERS": "3", "REDIS_URL": "redis://r:6379/0"}) == 3
    with pytest.raises(ConfigError, match="needs REDIS_URL"):
        rasa_workers({"RASA_WORKERS": "2"})
    with pytest.raises(ConfigError, match="whole number"):
        rasa_workers({"RASA_WORKERS": "two"})


def test_endpoints_name_the_shared_lock_store_and_the_action_server_by_variable():
    endpoints = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text())
    assert endpoints["lock_store"]["type"] == "settle_rasa.lock_store.SettleLockStore"
    assert endpoints["action_endpoint"]["url"] == "${ACTION_SERVER_URL}"
