"""Attacks over HTTP against real servers: one set with Stripe and Twilio credentials (as in
production), one with none and no development mode (what a careless deployment looks like).

Every client of the production-like set is told apart by X-Forwarded-For, which counts
because 127.0.0.1 is configured as a trusted proxy there: per-address limits and locks of
one test never touch another.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import pytest
from num2words import num2words

from tests.fakes import FakeStripe, FakeTwilio
from tests.harness import Servers, http, start_servers

DATA = Path(__file__).resolve().parent / "data"
_addresses = itertools.count(10)


@pytest.fixture(scope="session")
def security_fakes():
    stripe, twilio = FakeStripe().start(), FakeTwilio().start()
    yield stripe, twilio
    stripe.stop()
    twilio.stop()


@pytest.fixture(scope="session")
def guarded(security_fakes, tmp_path_factory):
    """Production-like: signed Twilio, signed Stripe, operator token, proxy on loopback."""
    stripe, twilio = security_fakes
    servers = start_servers(
        tmp_path_factory.mktemp("guarded"),
        stripe.url,
        twilio.url,
        extra_env={
            "SETTLE_TRUSTED_PROXIES": "127.0.0.1,::1",
            "SETTLE_OPERATOR_TOKEN": "operator-secret-token",
        },
        extra_data=[(DATA / "customers.csv", DATA / "invoices.csv")],
        settings={},
    )
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def bare(tmp_path_factory):
    """No credentials at all and no development mode: nothing is trusted for being local."""
    servers = start_servers(
        tmp_path_factory.mktemp("bare"),
        None,
        None,
        extra_env={"SETTLE_OPERATOR_TOKEN": "operator-secret-token"},
        extra_data=[(DATA / "customers.csv", DATA / "invoices.csv")],
        settings={},
    )
    yield servers
    servers.stop()


def client_address() -> str:
    """A fresh documentation address (TEST-NET-3) for one test's client."""
    return f"203.0.113.{next(_addresses)}"


def rest(
    servers: Servers, sender: str, message: str, client: str | None = None, **extra
) -> tuple[int, list[str]]:
    """One REST-channel message; (status, the bot's texts)."""
    headers = {"Content-Type": "application/json"}
    if client:
        headers["X-Forwarded-For"] = client
    status, body = http(
        "POST",
        f"{servers.rasa_url}/webhooks/rest/webhook",
        json.dumps({"sender": sender, "message": message, **extra}).encode(),
        headers,
    )
    if status != 200:
        return status, [body]
    return status, [m.get("text") or "" for m in json.loads(body)]


def query(servers: Servers, sql: str, *args) -> list:
    with sqlite3.connect(servers.workdir / "settle.db") as db:
        return db.execute(sql, args).fetchall()


def shows_account(texts: list[str], *secrets: str) -> bool:
    """Whether any reply gives away one of these account details, written or spoken (a call
    reads "901" as "nine hundred and one")."""
    spoken = [num2words(int(secret)) for secret in secrets if secret.isdigit()]
    return any(secret in text for text in texts for secret in (*secrets, *spoken))


def texts_to(twilio, phone: str) -> list[str]:
    return [r.form["Body"] for r in twilio.posts("Messages") if r.form.get("To") == phone]


def form_post(url: str, body: str, headers: dict[str, str] | None = None) -> tuple:
    return http(
        "POST",
        url,
        body.encode(),
        {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )
