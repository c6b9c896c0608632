"""With REDIS_URL, a client's rate is counted once across replicas, not once per replica."""

from __future__ import annotations

import logging

import redis

from settle.access.ratelimit import RateLimiter, SharedRateLimiter, rate_limiter


def test_two_replicas_draw_on_one_bucket_per_client(redis_url):
    first = SharedRateLimiter(redis_url, "api", per_minute=4)
    second = SharedRateLimiter(redis_url, "api", per_minute=4)
    answers = [limiter.allow("api:billing") for limiter in (first, second) * 3]
    assert answers[:4] == [0.0] * 4
    assert all(14.0 < wait <= 15.0 for wait in answers[4:]), answers  # 1 token = 15 s
    assert first.allow("api:other") == 0.0
    assert SharedRateLimiter(redis_url, "web", per_minute=4).allow("api:billing") == 0.0


def test_the_client_is_stored_by_hash_and_forgotten_once_the_bucket_would_be_full(redis_url):
    SharedRateLimiter(redis_url, "api", per_minute=60).allow("api:billing-system")
    client = redis.Redis.from_url(redis_url)
    (key,) = client.keys("settle:rate:api:*")
    assert b"billing" not in key
    assert 0 < client.ttl(key) <= 61


def test_while_redis_is_down_each_replica_limits_in_its_memory_and_says_so_once(caplog):
    limiter = SharedRateLimiter("redis://127.0.0.1:1/0", "api", per_minute=2)
    with caplog.at_level(logging.WARNING, logger="settle.access.ratelimit"):
        answers = [limiter.allow("api:billing") for _ in range(3)]
    assert answers[:2] == [0.0, 0.0] and answers[2] > 0
    assert len([r for r in caplog.records if "kept in memory" in r.getMessage()]) == 1


def test_without_redis_the_limit_is_the_processs_own():
    assert isinstance(rate_limiter("api", 60, None), RateLimiter)
    assert isinstance(rate_limiter("api", 60, "redis://127.0.0.1:6379/0"), SharedRateLimiter)


def test_a_hung_redis_costs_one_timeout_a_while_not_one_per_request():
    # Accepts connections (the kernel does) but never answers: a Redis stuck or cut off.
    import socket
    import time

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(100)
    limiter = SharedRateLimiter(f"redis://127.0.0.1:{hung.getsockname()[1]}/0", "api", 600)
    started = time.monotonic()
    answers = [limiter.allow(f"api:client{n}") for n in range(8)]
    hung.close()
    assert answers == [0.0] * 8
    # Every call is made on the event loop: eight timeouts would stall it for 2 s.
    assert time.monotonic() - started < 1.0
