"""Operator accounts underneath the console: the `settle operator` commands, the lockout
under parallel guesses, addresses, and migration 0010 on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import threading

import pytest
from sqlalchemy import inspect, select

from settle.app import cli
from settle.console import accounts
from settle.console.records import Operator, OperatorSession
from settle.store.db import Store
from settle.store.models import AuditEntry
from tests.migrations import downgrade, schema_drift


@pytest.fixture
def cli_db(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("USER", "ana")
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "STRIPE_API_KEY", "SETTLE_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    store = Store.connect(database_url)
    yield store
    store.engine.dispose()


def _one_time_password(output: str) -> str:
    return re.search(r"One-time password: (\S+)", output).group(1)


def _audit(store: Store) -> list[tuple[str, str, str]]:
    with store.unit_of_work() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(row.actor, row.action, row.subject) for row in rows]


def test_the_operator_commands(cli_db, capsys):
    assert cli.main(["operator", "add", "Bo@Example.com", "--role", "admin"]) == 0
    first = _one_time_password(capsys.readouterr().out)
    assert accounts.sign_in(cli_db, "bo@example.com", first).signed_in.must_change_password

    assert cli.main(["operator", "add", "bo@example.com"]) == 1
    assert "already" in capsys.readouterr().err
    assert cli.main(["operator", "add", "not-an-address"]) == 1
    with pytest.raises(SystemExit):
        cli.main(["operator", "add", "cy@example.com", "--role", "root"])

    assert cli.main(["operator", "reset", "bo@example.com"]) == 0
    second = _one_time_password(capsys.readouterr().out)
    assert second != first
    assert accounts.sign_in(cli_db, "bo@example.com", first) is None
    with cli_db.unit_of_work() as session:
        assert session.scalars(select(OperatorSession)).all() == []  # reset ended it
    assert accounts.sign_in(cli_db, "bo@example.com", second) is not None

    assert cli.main(["operator", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["email"] == "bo@example.com" and listed["role"] == "admin"
    assert listed["active"] and listed["must_change_password"]
    assert "password_hash" not in listed and first not in json.dumps(listed)

    assert cli.main(["operator", "deactivate", "BO@example.com"]) == 0
    capsys.readouterr()
    with cli_db.unit_of_work() as session:
        assert session.scalars(select(OperatorSession)).all() == []
    assert accounts.sign_in(cli_db, "bo@example.com", second) is None
    assert cli.main(["operator", "list"]) == 0
    assert "deactivated" in capsys.readouterr().out
    assert cli.main(["operator", "reset", "nobody@example.com"]) == 1

    who = [entry for entry in _audit(cli_db) if entry[0].startswith("cli:")]
    assert who == [
        ("cli:ana", "operator.added", "operator:bo@example.com"),
        ("cli:ana", "operator.reset", "operator:bo@example.com"),
        ("cli:ana", "operator.deactivated", "operator:bo@example.com"),
    ]


def test_passwords_are_kept_as_argon2id_hashes(sqlite_store):
    with sqlite_store.unit_of_work() as session:
        password = accounts.add_operator(session, "bo@example.com", "agent", "test")
    with sqlite_store.unit_of_work() as session:
        stored = session.scalar(select(Operator.password_hash))
    assert stored.startswith("$argon2id$") and password not in stored


@pytest.mark.timeout(120)
def test_parallel_guesses_get_no_more_tries_than_the_limit(store):
    """A burst of wrong passwords at once: each is counted before it is checked."""
    with store.unit_of_work() as session:
        password = accounts.add_operator(session, "bo@example.com", "agent", "test")
    start, results = threading.Barrier(8), []

    def guess():
        start.wait()
        results.append(accounts.sign_in(store, "bo@example.com", "wrong guess"))

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [None] * 8
    actions = [action for _, action, _ in _audit(store)]
    assert actions.count("operator.sign_in_failed") == accounts.MAX_FAILED_ATTEMPTS
    assert actions.count("operator.locked") == 1
    assert actions.count("operator.sign_in_refused") == 8 - accounts.MAX_FAILED_ATTEMPTS
    assert accounts.sign_in(store, "bo@example.com", password) is None  # locked


@pytest.mark.parametrize(
    "given, kept",
    [(" Bo@Example.COM ", "bo@example.com"), ("a.b+c@sub.example.org", "a.b+c@sub.example.org")],
)
def test_addresses_are_kept_lowercased(given, kept):
    assert accounts.normalized_email(given) == kept


@pytest.mark.parametrize("given", ["", "bo", "bo@", "@example.com", "bo@localhost", "b o@x.io"])
def test_what_is_not_an_address_is_refused(given):
    with pytest.raises(accounts.AccountError):
        accounts.normalized_email(given)


def test_a_long_address_fits_the_audit_log(store):
    """ "operator:<email>" is up to 263 characters: PostgreSQL would refuse it in the old
    64-character actor column."""
    address = f"{'a' * 64}@{'b' * 60}.{'c' * 60}.example.com"
    with store.unit_of_work() as session:
        accounts.add_operator(session, address, "admin", f"operator:{address}")
    assert (f"operator:{address}", "operator.added", f"operator:{address}") in _audit(store)


def test_the_console_tables_match_migration_0010_and_it_downgrades(store):
    assert schema_drift(store, "operators", "operator_sessions") == []
    actor = next(c for c in inspect(store.engine).get_columns("audit_log") if c["name"] == "actor")
    assert actor["type"].length == 320
    downgrade(store, "0009")
    assert "operators" not in inspect(store.engine).get_table_names()
    Store.connect(str(store.engine.url)).engine.dispose()
    assert {"operators", "operator_sessions"} <= set(inspect(store.engine).get_table_names())
