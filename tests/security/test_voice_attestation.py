"""Class 5: caller ID proves a caller only when the carrier vouches for it (STIR/SHAKEN A)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.security.conftest import shows_account

pytestmark = pytest.mark.servers


def said(twiml) -> str:
    return " ".join(s.text or "" for s in twiml.iter("Say"))


@pytest.mark.parametrize(
    "attestation",
    [
        None,
        "TN-Validation-Passed-B",
        "TN-Validation-Passed-C",
        "TN-Validation-Failed-A",
        "No-TN-Validation",
    ],
)
def test_a_caller_the_carrier_does_not_vouch_for_hears_nothing_of_the_account(guarded, attestation):
    caller, call = "+14155550306", f"CA-spoof-{attestation}"
    status, twiml = guarded.call(call, caller, StirVerstat=attestation)
    assert status == 200
    status, twiml = guarded.answer(
        call, caller, twiml, SpeechResult="what's my balance", StirVerstat=attestation
    )
    assert status == 200
    assert not shows_account([said(twiml)], "678", "9 6 0 1", "Sol"), said(twiml)
    assert "invoice number" in said(twiml)
    status, twiml = guarded.answer(call, caller, twiml, Digits="1", StirVerstat=attestation)
    assert not shows_account([said(twiml)], "678", "9 6 0 1", "Sol"), said(twiml)


def test_an_attested_caller_goes_straight_to_their_invoices(guarded):
    caller, call = "+14155550306", "CA-attested-A"
    _, twiml = guarded.call(call, caller, StirVerstat="TN-Validation-Passed-A")
    _, twiml = guarded.answer(
        call, caller, twiml, SpeechResult="what's my balance", StirVerstat="TN-Validation-Passed-A"
    )
    assert "six hundred and seventy-eight dollars and ninety cents" in said(twiml), said(twiml)


def test_a_caller_without_attestation_verifies_by_keypad(guarded):
    caller, call = "+14155550307", "CA-keypad-verify"
    _, twiml = guarded.call(call, caller, StirVerstat=None)
    _, twiml = guarded.answer(call, caller, twiml, Digits="2", StirVerstat=None)  # 2: balance
    assert "invoice number" in said(twiml) and "keypad" in said(twiml), said(twiml)
    _, twiml = guarded.answer(call, caller, twiml, Digits="9701#", StirVerstat=None)
    assert "ZIP" in said(twiml) and not shows_account([said(twiml)], "789"), said(twiml)
    _, twiml = guarded.answer(call, caller, twiml, Digits="94110#", StirVerstat=None)
    assert "seven hundred and eighty-nine dollars" in said(twiml), said(twiml)


def test_someone_answering_our_call_confirms_the_postal_code_first(guarded, security_fakes):
    _, twilio = security_fakes
    placed = guarded.settle("call", "S009", "--reason", "reminder", "--invoice", "INV-9901")
    assert placed.returncode == 0, placed.stderr
    url = urlparse(twilio.posts("Calls.json")[-1].form["Url"])
    path, phone, call = f"{url.path}?{url.query}", "+14155550309", "CA-out-confirm"
    _, twiml = guarded.call(call, phone, path, Direction="outbound-api", AnsweredBy="human")
    assert not shows_account([said(twiml)], "901", "9 9 0 1"), said(twiml)
    _, twiml = guarded.answer(
        call, phone, twiml, SpeechResult="I want to pay", Direction="outbound-api"
    )
    assert not shows_account([said(twiml)], "901", "9 9 0 1"), said(twiml)
    assert "ZIP" in said(twiml), said(twiml)
    _, twiml = guarded.answer(call, phone, twiml, Digits="80202#", Direction="outbound-api")
    assert "nine hundred and one dollars" in said(twiml), said(twiml)


def test_a_postal_code_with_letters_is_taken_by_speech(guarded):
    caller, call = "+15145550311", "CA-canada"
    _, twiml = guarded.call(call, caller, StirVerstat=None)
    _, twiml = guarded.answer(
        call, caller, twiml, SpeechResult="what's my balance", StirVerstat=None
    )
    _, twiml = guarded.answer(call, caller, twiml, Digits="9921#", StirVerstat=None)
    _, twiml = guarded.answer(call, caller, twiml, SpeechResult="H 2 X 1 Y 4", StirVerstat=None)
    assert "two hundred and twenty-two" in said(twiml), said(twiml)


def test_a_spoofed_caller_cannot_lock_the_owner_out_of_our_call(guarded, security_fakes):
    _, twilio = security_fakes
    victim = "+14155550312"
    for attempt in range(2):  # two spoofed calls from the victim's number, three misses each
        call = f"CA-spoofer-{attempt}"
        _, twiml = guarded.call(call, victim, StirVerstat=None)
        _, twiml = guarded.answer(
            call, victim, twiml, SpeechResult="what's my balance", StirVerstat=None
        )
        for wrong in ("11111", "22222", "33333"):
            _, twiml = guarded.answer(call, victim, twiml, Digits="9931#", StirVerstat=None)
            _, twiml = guarded.answer(call, victim, twiml, Digits=f"{wrong}#", StirVerstat=None)
        assert not shows_account([said(twiml)], "333"), said(twiml)
        assert "333 dollars" not in said(twiml), said(twiml)

    placed = guarded.settle("call", "S012", "--reason", "reminder", "--invoice", "INV-9931")
    assert placed.returncode == 0, placed.stderr
    url = urlparse(twilio.posts("Calls.json")[-1].form["Url"])
    path, call = f"{url.path}?{url.query}", "CA-out-victim"
    _, twiml = guarded.call(call, victim, path, Direction="outbound-api", AnsweredBy="human")
    _, twiml = guarded.answer(
        call, victim, twiml, SpeechResult="I want to pay", Direction="outbound-api"
    )
    _, twiml = guarded.answer(call, victim, twiml, Digits="60601#", Direction="outbound-api")
    assert "three hundred and thirty-three dollars" in said(twiml), said(twiml)
