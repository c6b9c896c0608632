"""Shared fixtures: a migrated billing store on SQLite and (under CI, required) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from settle.billing.importer import import_billing_data
from settle.config import BusinessSettings, Settings
from settle.store.db import Store

DEMO = Path(__file__).resolve().parent.parent / "settle" / "demo"
POSTGRES_ADMIN_URL = os.environ.get(
    "SETTLE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
# What the channels seal their proofs with in unit tests (tests/unit/trackers.py).
ACTION_SECRET = "unit-test-action-secret"

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as error:
        return str(error).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_server():
    problem = _postgres_available()
    if problem:
        if IN_CI:
            pytest.fail(
                "PostgreSQL is required under CI but unreachable at "
                f"{POSTGRES_ADMIN_URL}: {problem}"
            )
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({problem}); "
            "set SETTLE_TEST_POSTGRES to run these tests"
        )
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"settle_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """The billing database on each supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'settle.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(database_url) -> Store:
    store = Store.connect(database_url)
    yield store
    store.engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path) -> Store:
    store = Store.connect(f"sqlite:///{tmp_path / 'settle.db'}")
    yield store
    store.engine.dispose()


@pytest.fixture
def demo_store(sqlite_store) -> Store:
    """SQLite store loaded with the demo data set."""
    with sqlite_store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    return sqlite_store


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'settle.db'}",
        public_base_url="https://pay.example.test",
        action_secret=ACTION_SECRET,
        business=BusinessSettings(name="Acme Plumbing", support_phone="+14155550100"),
    )


REDIS_TEST_URL = os.environ.get("SETTLE_TEST_REDIS", "redis://127.0.0.1:6379/9")


@pytest.fixture
def redis_url():
    """A Redis database for one test (SETTLE_TEST_REDIS), flushed before and after; required
    under CI, skipped with the reason elsewhere."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        if IN_CI:
            pytest.fail(f"Redis is required under CI but unreachable at {REDIS_TEST_URL}: {error}")
        pytest.skip(f"Redis not reachable at {REDIS_TEST_URL} ({error}); set SETTLE_TEST_REDIS")
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()
