"""Invoice numbers in the business's own shapes: other prefixes, and digits alone when
settle.yml says so — without ever mistaking a postal code or an amount for one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest

from actions.router import ActionVerifyIdentity
from settle.billing import identity
from settle.billing.ledger import OpenInvoice, resolve_choice
from settle.config import ConfigError, load_business_settings
from settle.rules.invoice_numbers import InvoiceNumbers, parse_invoice_numbers
from settle.store.models import Invoice
from tests.unit.trackers import run, tracker

DIGITS = InvoiceNumbers(digits_only=True)
PREFIXED = InvoiceNumbers(prefixes=("INV", "F"))


def test_the_default_reads_what_it_always_read():
    assert identity.find_invoice_number("my invoice is 1001") == "INV-1001"
    assert identity.find_invoice_number("CR-1001") == "CR-1001"
    assert identity.find_invoice_number("1001", asked=True) is None
    assert identity.find_invoice_number("2024-0042", asked=True) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("my invoice is 1001", "1001"),
        ("invoice number 2024-0042", "2024-0042"),
        ("INV-1042", "INV-1042"),
        ("my zip is 94110", None),  # digits alone, not asked for: not an invoice number
        ("the 285 one", None),
        ("2024-0042", None),
    ],
)
def test_digits_alone_are_read_only_when_introduced_as_an_invoice(text, expected):
    assert identity.find_invoice_number(text, DIGITS) == expected


@pytest.mark.parametrize(
    "text, expected",
    [("1001", "1001"), ("it's 2024-0042", "2024-0042"), ("285", None), ("42", None)],
)
def test_when_an_invoice_number_was_asked_for_digits_alone_are_one(text, expected):
    assert identity.find_invoice_number(text, DIGITS, asked=True) == expected


def test_a_number_read_as_the_invoice_is_not_read_again_as_the_postal_code():
    assert identity.read_claim("10001", DIGITS, asked=True) == ("10001", None)
    assert identity.read_claim("10001 and zip 94110", DIGITS, True) == ("10001", "94110")
    assert identity.read_claim("10001", DIGITS, asked=False) == (None, "10001")
    assert identity.read_claim("invoice 1001, CEP 01310-100", DIGITS, False) == ("1001", "01310100")


def test_configured_prefixes_are_the_only_ones():
    assert identity.find_invoice_number("F1042", PREFIXED) == "F-1042"
    assert identity.find_invoice_number("f-1042", PREFIXED) == "F-1042"
    assert identity.find_invoice_number("CR-1042", PREFIXED) is None
    assert identity.find_invoice_number("invoice 1042", PREFIXED) == "INV-1042"


def test_an_offered_invoice_is_chosen_by_its_digits_and_an_amount_still_by_its_amount():
    offered = [
        OpenInvoice("2024-0042", 28500, "USD", dt.date(2026, 12, 3), dt.date(2026, 11, 3), ""),
        OpenInvoice("1001", 12050, "USD", dt.date(2026, 12, 9), dt.date(2026, 11, 9), ""),
    ]
    assert resolve_choice("2024-0042", offered, "en", DIGITS) is offered[0]
    assert resolve_choice("the 1001 one", offered, "en", DIGITS) is offered[1]
    assert resolve_choice("the 285 one", offered, "en", DIGITS) is offered[0]
    assert resolve_choice("1001", offered, "en") is None  # digits alone: not this business's


def test_digits_alone_stay_linear_on_hostile_input():
    for text in ("inv" + " " * 100_000 + "x", "1" * 100_000, "1-" * 50_000, "2024-" * 20_000):
        start = time.process_time()
        identity.read_claim(text, InvoiceNumbers(("INV", "F"), True, 4), asked=True)
        assert time.process_time() - start < 2.0


def test_the_setting_is_read_from_settle_yml(tmp_path):
    file = tmp_path / "settle.yml"
    file.write_text("business:\n  invoice_numbers: {prefixes: [inv, F], digits_only: true}\n")
    assert load_business_settings(str(file)).invoice_numbers == InvoiceNumbers(
        ("INV", "F"), True, 4
    )
    file.write_text("business:\n  name: Acme\n")
    assert load_business_settings(str(file)).invoice_numbers == InvoiceNumbers()


@pytest.mark.parametrize(
    "raw, named",
    [
        ("yes", "must be a mapping"),
        ({"prefix": ["INV"]}, "unknown key(s) prefix"),
        ({"prefixes": "INV"}, "prefixes must be a list"),
        ({"prefixes": ["IN-V"]}, "prefixes must be a list"),
        ({"digits_only": "yes"}, "digits_only must be true or false"),
        ({"min_digits": 2}, "min_digits must be a whole number from 3 to 10"),
    ],
)
def test_a_malformed_setting_names_the_key(raw, named):
    with pytest.raises(ConfigError, match="business.invoice_numbers") as error:
        parse_invoice_numbers(raw)
    assert named in str(error.value)


def test_a_customer_asked_for_the_invoice_number_may_say_digits_alone(app, monkeypatch):
    business = dataclasses.replace(app.settings.business, invoice_numbers=DIGITS)
    monkeypatch.setattr(app, "settings", dataclasses.replace(app.settings, business=business))
    with app.store.unit_of_work() as session:
        session.add(
            Invoice(
                id="2024-0042",
                customer_id="C001",
                amount_minor=5000,
                currency="USD",
                issued_on=dt.date(2026, 11, 1),
                due_on=dt.date(2026, 12, 20),
            )
        )
    # Said first, a postal code is a postal code; then the number asked for is digits alone.
    said, slots, _ = run(ActionVerifyIdentity(), tracker("94110", slots={"goal": "pay"}))
    assert said == ["utter_ask_invoice_number"] and slots == {"claimed_postal_code": "94110"}
    said, slots, _ = run(
        ActionVerifyIdentity(),
        tracker("2024-0042", slots={"goal": "pay", "claimed_postal_code": "94110"}),
    )
    assert said[0] == "utter_identity_verified" and slots["customer_id"] == "C001"
