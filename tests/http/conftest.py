"""One set of running servers for all HTTP tests, with local Stripe and Twilio."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from settle.store.db import Store
from tests.fakes import FakeStripe, FakeTwilio
from tests.harness import start_servers
from tests.http.api_calls import ENV_KEY

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def fakes():
    stripe, twilio = FakeStripe().start(), FakeTwilio().start()
    yield stripe, twilio
    stripe.stop()
    twilio.stop()


@pytest.fixture(scope="session")
def servers(fakes, tmp_path_factory):
    stripe, twilio = fakes
    servers = start_servers(
        tmp_path_factory.mktemp("servers"),
        stripe.url,
        twilio.url,
        # A short turn budget, so that a slow Stripe shows the "one moment" path quickly.
        # SETTLE_API_KEY: the billing system pushes invoices that conversations then pay.
        extra_env={"SETTLE_VOICE_TURN_SECONDS": "2", "SETTLE_API_KEY": ENV_KEY},
        extra_data=[(DATA / "customers.csv", DATA / "invoices.csv")],
    )
    yield servers
    servers.stop()
    # After every HTTP test: no card number in the billing database, the conversations or
    # the servers' logs (settle scan-pans, as an operator would run it).
    scanned = servers.settle("scan-pans", "--log", str(servers.workdir))
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr


@pytest.fixture(scope="session")
def api(tmp_path_factory):
    """The Settle service alone (no Rasa), with the demo data and SETTLE_API_KEY: for the
    billing-system API's tests."""
    servers = start_servers(
        tmp_path_factory.mktemp("api"), rasa=False, extra_env={"SETTLE_API_KEY": ENV_KEY}
    )
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def api_store(api):
    """The API service's billing database, to look at what a call stored."""
    store = Store.connect(api.env["DATABASE_URL"], upgrade=False)
    yield store
    store.engine.dispose()


def invoice(servers, invoice_id: str) -> dict:
    shown = servers.settle("invoice", "show", invoice_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()
