"""Payment card numbers are never kept: Luhn-valid card-like numbers are masked, nothing else."""
from __future__ import annotations

import pytest

from settle.redaction import luhn_valid, redact_card_numbers

MASK = "[card number removed]"


@pytest.mark.parametrize("card", [
    "4242424242424242",          # Visa test card
    "4242 4242 4242 4242",
    "4242-4242-4242-4242",
    "4111 1111 1111 1111",
    "5555 5555 5555 4444",       # Mastercard
    "3782 822463 10005",         # Amex, 15 digits in 4-6-5 groups
    "6011111111111117",          # Discover
    "4222222222222",             # 13-digit Visa
    "4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2",  # dictated digit by digit
])
def test_luhn_valid_card_numbers_are_masked(card):
    text = f"my card is {card} exp 12/29"
    assert redact_card_numbers(text) == f"my card is {MASK} exp 12/29"


@pytest.mark.parametrize("text, expected", [
    ("4242 4242 4242 4242 123", f"{MASK} 123"),              # then the security code
    ("4242424242424242 123", f"{MASK} 123"),
    ("card 4242 4242 4242 4242 12 29 123", f"card {MASK} 12 29 123"),
    ("1 4242 4242 4242 4242", f"1 {MASK}"),
    ("3782 822463 10005 1234", f"{MASK} 1234"),
])
def test_card_number_next_to_other_digits_is_masked(text, expected):
    assert redact_card_numbers(text) == expected


def test_every_card_in_a_message_is_masked():
    text = "try 4242424242424242 or else 5555-5555-5555-4444."
    assert redact_card_numbers(text) == f"try {MASK} or else {MASK}."


@pytest.mark.parametrize("text", [
    "4242424242424241",            # fails the Luhn check
    "4242 4242 4242 4243",
    "1234-5678-9012-3456",
    "zip is 94110",
    "ZIP 02139-1234",
    "invoice INV-1001",
    "invoice 1234567",
    "call me at 4155550101",
    "call me at +1 (415) 555-0101",
    "+14155550101",
    "424242424242",                # 12 digits: too short for a card
    "42424242424242424242",        # 20 digits: too long for a card
    "paid 285.00 on 2026-11-02",
    "",
])
def test_other_numbers_are_kept(text):
    assert redact_card_numbers(text) == text


def test_none_is_passed_through():
    assert redact_card_numbers(None) is None


def test_luhn_valid():
    assert luhn_valid("4242424242424242")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("4242424242424241")
