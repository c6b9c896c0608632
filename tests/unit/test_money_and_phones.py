"""Money in integer minor units and phone numbers in E.164."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.core.money import check_currency, format_money, to_major_units, to_minor_units
from settle.core.phones import last_digits, maybe_e164, to_e164

# --- to_minor_units ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, currency, expected",
    [
        ("285.00", "USD", 28500),
        ("285", "USD", 28500),
        ("120.5", "USD", 12050),
        ("0.01", "USD", 1),
        ("0", "USD", 0),
        (" 42.10 ", "usd", 4210),  # whitespace and a lower-case code are fine
        ("1,234.50", "USD", 123450),  # thousands separators
        ("1,000,000", "USD", 100000000),
        ("285", "JPY", 285),  # no minor unit
        ("1,000", "JPY", 1000),
        ("1.234", "KWD", 1234),  # three decimals
        ("12.5", "KWD", 12500),
        ("0.001", "BHD", 1),
    ],
)
def test_to_minor_units_accepts(amount, currency, expected):
    assert to_minor_units(amount, currency) == expected


@pytest.mark.parametrize(
    "amount, currency, reason",
    [
        ("-5", "USD", "positive"),
        ("-0.01", "USD", "positive"),
        ("NaN", "USD", "positive"),
        ("Infinity", "USD", "positive"),
        ("12.345", "USD", "more than 2 decimals"),
        ("0.5", "JPY", "more than 0 decimals"),
        ("1.2345", "KWD", "more than 3 decimals"),
        ("abc", "USD", "not a number"),
        ("", "USD", "not a number"),
        ("12.34.56", "USD", "not a number"),
        ("$12", "USD", "not a number"),
        ("1,50", "EUR", "not a number"),  # a decimal comma is not read as 150.00
        ("1,2,3", "USD", "not a number"),
    ],
)
def test_to_minor_units_refuses(amount, currency, reason):
    with pytest.raises(ValueError, match=reason):
        to_minor_units(amount, currency)


def test_to_minor_units_refuses_unknown_currency():
    with pytest.raises(ValueError, match="unknown currency"):
        to_minor_units("10.00", "XYZ")
    with pytest.raises(ValueError, match="unknown currency"):
        check_currency("")
    assert check_currency(" eur ") == "EUR"


def test_to_major_units_uses_currency_precision():
    assert to_major_units(28500, "USD") == Decimal("285.00")
    assert to_major_units(285, "JPY") == Decimal("285")
    assert to_major_units(1234, "KWD") == Decimal("1.234")


@settings(max_examples=300, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_minor_major_round_trip(cents):
    assert to_minor_units(str(to_major_units(cents, "USD")), "USD") == cents


# --- format_money -----------------------------------------------------------------------


def test_format_money():
    assert format_money(28500, "USD") == "$285.00"
    assert format_money(12050, "USD") == "$120.50"
    assert format_money(123456789, "USD") == "$1,234,567.89"
    assert format_money(0, "USD") == "$0.00"
    assert format_money(1000, "JPY") == "¥1,000"
    assert format_money(1234, "KWD").endswith("1.234")


def test_format_money_follows_locale():
    german = format_money(28500, "EUR", "de_DE")
    assert german.replace("\xa0", " ") == "285,00 €"


# --- phones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("(415) 555-0101", "+14155550101"),
        ("415-555-0101", "+14155550101"),
        ("415.555.0101", "+14155550101"),
        ("4155550101", "+14155550101"),
        ("1 415 555 0101", "+14155550101"),
        ("+1 212 555 0102", "+12125550102"),
        ("+16175550104", "+16175550104"),
        ("0014155550101", "+14155550101"),  # international 00 prefix
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("  +1 (312) 555-0103  ", "+13125550103"),
    ],
)
def test_to_e164_normalises(raw, expected):
    assert to_e164(raw) == expected


def test_to_e164_reads_national_numbers_in_the_given_region():
    assert to_e164("020 7946 0958", region="GB") == "+442079460958"
    with pytest.raises(ValueError):
        to_e164("020 7946 0958", region="US")


@pytest.mark.parametrize(
    "raw", ["", "abc", "123", "415555010", "555-0101", "+1 415 555 01011", None, "whatsapp-user-17"]
)
def test_to_e164_refuses_invalid(raw):
    with pytest.raises(ValueError):
        to_e164(raw)


def test_maybe_e164_and_last_digits():
    assert maybe_e164("(415) 555-0101") == "+14155550101"
    assert maybe_e164("c3f1e2b0-socket-id") is None
    assert maybe_e164(None) is None
    assert last_digits("+14155550101") == "0101"
