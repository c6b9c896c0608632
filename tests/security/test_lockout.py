"""Class 4: guesses run out: per conversation, per invoice and customer, per client address."""

from __future__ import annotations

import pytest

from tests.http.conftest import wait_for
from tests.security.conftest import client_address, query, rest, shows_account, texts_to

pytestmark = pytest.mark.servers


def test_after_three_misses_the_conversation_takes_no_more_guesses(guarded):
    client, sender = client_address(), "lockout-conversation"
    rest(guarded, sender, "I want to pay my bill", client)
    for wrong in ("00001", "00002", "00003"):
        _, texts = rest(guarded, sender, f"INV-9301 {wrong}", client)
    assert any("passing you to a member of our team" in t for t in texts), texts

    # The right details now, even after starting over, verify nobody.
    for restart in ("I want to pay my bill", "/restart", "/session_start"):
        rest(guarded, sender, restart, client)
        _, texts = rest(guarded, sender, "INV-9301 73301", client)
        assert not shows_account(texts, "$345.67", "Stan"), (restart, texts)
    assert (
        query(guarded, "SELECT COUNT(*) FROM audit_log WHERE action = 'identity.locked'")[0][0] >= 1
    )


def test_misses_across_conversations_lock_the_invoice_but_not_its_owners_phone(
    guarded, security_fakes
):
    _, twilio = security_fakes
    # Five strangers, one guess each, from five addresses: the invoice is locked.
    for n in range(5):
        client, sender = client_address(), f"guesser-{n}"
        rest(guarded, sender, "what's my balance", client)
        rest(guarded, sender, f"INV-9401 1000{n}", client)
    client, sender = client_address(), "guesser-right"
    rest(guarded, sender, "what's my balance", client)
    _, texts = rest(guarded, sender, "INV-9401 30301", client)
    assert not shows_account(texts, "$456.78", "Sara"), texts
    # A locked invoice answers exactly as a made-up one does: no oracle for which exist.
    client, sender = client_address(), "guesser-unknown"
    rest(guarded, sender, "what's my balance", client)
    _, unknown = rest(guarded, sender, "INV-4040 30301", client)
    assert texts == unknown, (texts, unknown)
    locks = query(guarded, "SELECT detail FROM audit_log WHERE action = 'identity.locked'")
    assert any("invoice" in detail for (detail,) in locks), locks

    # The customer texting from the phone on file is not locked out by strangers' guesses.
    phone = "+14155550304"
    guarded.sms(phone, "what's my balance")
    assert wait_for(lambda: any("$456.78" in t for t in texts_to(twilio, phone))), texts_to(
        twilio, phone
    )


def test_one_client_address_runs_out_of_guesses_across_invoices(guarded):
    client = client_address()
    for n in range(10):  # a different conversation and a made-up invoice each time
        rest(guarded, f"spray-{n}", "what's my balance", client)
        rest(guarded, f"spray-{n}", f"INV-{7000 + n} 12345", client)
    rest(guarded, "spray-right", "what's my balance", client)
    _, texts = rest(guarded, "spray-right", "INV-9501 98101", client)
    assert not shows_account(texts, "$567.89", "$67.89", "Sid"), texts

    # Another address is not affected.
    other = client_address()
    rest(guarded, "spray-other", "what's my balance", other)
    _, texts = rest(guarded, "spray-other", "INV-9501 98101", other)
    assert shows_account(texts, "Sid"), texts


def test_a_client_sending_too_fast_is_slowed_down(guarded):
    client = client_address()
    statuses = [rest(guarded, "flood", "hello", client)[0] for _ in range(45)]
    assert 429 in statuses, statuses
    assert statuses[0] == 200
    # Someone else is served meanwhile.
    assert rest(guarded, "calm", "hello", client_address())[0] == 200


def test_guessing_at_a_locked_invoice_still_runs_out_of_guesses(guarded):
    for n in range(5):  # strangers lock INV-9931
        client, sender = client_address(), f"locker-{n}"
        rest(guarded, sender, "what's my balance", client)
        rest(guarded, sender, f"INV-9931 2000{n}", client)
    client, sender = client_address(), "locked-prober"
    rest(guarded, sender, "what's my balance", client)
    for postal in ("11111", "22222", "33333"):
        _, texts = rest(guarded, sender, f"INV-9931 {postal}", client)
    assert any("passing you to a member of our team" in t for t in texts), texts
