"""Engine, unit of work and schema migrations for the billing store."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for url; SQLite gets its folder, foreign keys, WAL and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, future=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection, _record):
        # pysqlite starts transactions lazily and not before a SAVEPOINT, so a savepoint
        # released first in a unit of work would commit for good. SQLAlchemy's documented
        # recipe: let SQLAlchemy emit BEGIN itself.
        connection.isolation_level = None
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection):
        # IMMEDIATE takes the write lock up front: a transaction that reads and then writes
        # would otherwise fail with "database is locked" when another process wrote in
        # between, instead of waiting for the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Any constant of our own: the PostgreSQL advisory lock that serializes schema upgrades.
MIGRATION_LOCK = 0x5E771E


def migrate(engine: Engine) -> None:
    """Bring the schema up to date (an empty database too). Replicas that start together
    take turns on PostgreSQL (an advisory lock held until the upgrade commits): the first
    upgrades, the others find the schema at head. SQLite's write lock does the same."""
    config = alembic_config(str(engine.url))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """The billing database: `with store.unit_of_work() as session:` commits or rolls back."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(bind=engine, future=True, expire_on_commit=False)
        self._flush_hooks: set[str] = set()

    def before_flush(self, name: str, hook: Callable[[Session, Any, Any], None]) -> None:
        """Run hook (SQLAlchemy's before_flush) in every session of this store, so what it
        adds is written in the same transaction; once per name, however often it is asked."""
        if name not in self._flush_hooks:
            self._flush_hooks.add(name)
            event.listen(self._sessions, "before_flush", hook)

    @classmethod
    def connect(cls, url: str, upgrade: bool = True) -> Store:
        engine = make_engine(url)
        if upgrade:
            migrate(engine)
        return cls(engine)

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def must_get(session: Session, model: type[T], key: Any) -> T:
    """The row of model with this primary key, which the caller knows exists (it was read
    or written moments ago); a LookupError naming it otherwise."""
    row = session.get(model, key)
    if row is None:
        raise LookupError(f"no {model.__name__} {key!r}")
    return row
