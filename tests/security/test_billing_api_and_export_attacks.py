"""Attacks on the billing-system API's keys and on `settle export`'s CSV, without HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from settle.api import idempotency, keys
from settle.messaging.consent import CONFIRMATION, opted_out_since, record_opt_out, refuses
from settle.store.models import utcnow
from settle.sync.export import FeedLine, feed_csv
from settle.sync.signing import signature, verify


def test_a_key_named_env_cannot_pass_for_the_environment_key(sqlite_store):
    """A created key named "env" would be audited, rate-limited and answered idempotently
    as SETTLE_API_KEY's "api:env": two callers, one name."""
    with sqlite_store.unit_of_work() as session:
        with pytest.raises(keys.ApiKeyError):
            keys.create_key(session, "env", "cli:test")
        with pytest.raises(keys.ApiKeyError):
            keys.create_key(session, "ENV", "cli:test")


def test_another_key_cannot_read_an_answer_by_reusing_its_idempotency_key(sqlite_store):
    body = idempotency.body_digest(b'{"invoice_id": "INV-1"}')
    with sqlite_store.unit_of_work() as session:
        idempotency.remember(session, "api:erp", "k-1", body, 201, {"secret": "A's answer"})
    with sqlite_store.unit_of_work() as session:
        assert idempotency.earlier_answer(session, "api:other", "k-1", body) is None
        assert idempotency.earlier_answer(session, "api:erp", "k-1", body) == (
            201,
            {"secret": "A's answer"},
        )


@pytest.mark.parametrize(
    "danger", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
)
def test_an_export_cell_cannot_start_a_spreadsheet_formula(danger):
    """A reference comes from outside (a provider's id, a dispute's id): a cell starting with
    = + - @ tab or CR is a formula to a spreadsheet, so it is quoted (OWASP); the signed
    amount stays a number."""
    at = dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc)
    text = feed_csv([(at.date(), FeedLine(at, danger, -2000, "USD", danger))])
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert row[header.index("amount")] == "-20.00"
    for column in ("description", "reference"):
        assert row[header.index(column)] == "'" + danger.replace("\r", "\n")


def test_a_carriage_return_in_an_export_cell_does_not_start_a_new_row():
    at = dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc)
    forged = "pi_1\r2026-12-01,Refund,-999.00,USD,x"
    text = feed_csv([(at.date(), FeedLine(at, "Payment", 2000, "USD", forged))])
    assert text.count("\r") == 0
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 2 and rows[1][-1] == forged.replace("\r", "\n")


PHONE = "+14155550111"


def test_an_opt_out_from_elsewhere_during_a_turn_does_not_let_its_replies_through(sqlite_store):
    """A turn's replies pass an opt-out only to confirm the one the conversation made: an
    opt-out the billing system (or a STOP) recorded while the turn ran still refuses them."""
    started = utcnow() - dt.timedelta(seconds=5)
    reply = f"{CONFIRMATION}reply:SM1:0"
    with sqlite_store.unit_of_work() as session:
        record_opt_out(session, PHONE, "api:erp", "api:erp")
    with sqlite_store.unit_of_work() as session:
        assert not opted_out_since(session, PHONE, started)
        assert refuses(session, PHONE, "sms", reply)


def test_the_conversations_own_opt_out_is_still_confirmed(sqlite_store):
    started = utcnow() - dt.timedelta(seconds=5)
    with sqlite_store.unit_of_work() as session:
        record_opt_out(session, PHONE, "conversation:sms", f"conversation:{PHONE}")
    with sqlite_store.unit_of_work() as session:
        assert opted_out_since(session, PHONE, started)
        assert not refuses(session, PHONE, "sms", f"{CONFIRMATION}reply:SM1:0")
        assert refuses(session, PHONE, "sms", "reminder:INV-1:0")


def test_a_non_ascii_sync_signature_is_refused_not_an_error():
    """A receiver verifying with settle.sync.signing answers a forged header with False,
    not a TypeError (hmac.compare_digest refuses non-ASCII text)."""
    now = 1_800_000_000
    assert not verify("whsec", f"t={now},v1=é", b"{}", now)
    assert verify("whsec", signature("whsec", now, b"{}"), b"{}", now)
