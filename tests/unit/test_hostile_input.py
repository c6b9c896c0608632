"""Every parser that reads a customer's words stays fast on long and adversarial input.

The channels cap messages at `security.max_message_chars`, but the parsers must not depend
on it: "inv" followed by 100,000 spaces once took minutes in the invoice-number pattern.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.billing import identity
from settle.billing import ledger as billing
from settle.billing.ledger import OpenInvoice
from settle.core import i18n
from settle.reminders.request_parsing import parse_reminder_request
from settle.understanding import answers as understanding
from settle.understanding import language_detection as language

OFFERED = [
    OpenInvoice(f"INV-{n}", 1000 * n, "USD", dt.date(2026, 12, n), dt.date(2026, 11, n), "x")
    for n in range(1, 6)
]

PARSERS = {
    "invoice number": identity.find_invoice_number,
    "postal code": identity.find_postal_code,
    "refund reason": lambda text: understanding.refund_reason(text, "fr"),
    "installments": lambda text: understanding.installment_request(text, "es"),
    "invoice choice": lambda text: billing.resolve_choice(text, OFFERED, "en"),
    "consent keyword": i18n.keyword,
    "language asked for": lambda text: language.requested_language(text, ["en", "es", "fr"]),
    "language detected": lambda text: language.detect_language(text, ["en", "es", "fr"]),
    "reminder date": lambda text: parse_reminder_request(
        text, "en", dt.date(2026, 12, 1), "America/New_York"
    ),
}

ADVERSARIAL = {
    "spaces": " " * 100_000,
    "inv and spaces": "inv" + " " * 100_000 + "x",
    "inv repeated": "invoice number " * 7_000,
    "digits": "1" * 100_000,
    "digits and spaces": "1 " * 50_000,
    "separators": "1,2.3-4/" * 12_500,
    "words": "march 1 of " * 9_000,
    "unicode": "é٤４\u200b" * 25_000,
    "mixed": "INV- 12 ab 3. $4, " * 5_500,
}


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("text", ADVERSARIAL)
def test_a_hundred_thousand_hostile_characters_are_parsed_in_bounded_time(parser, text):
    start = time.process_time()
    PARSERS[parser](ADVERSARIAL[text])
    assert time.process_time() - start < 2.0  # linear; about 0.3 s at worst on 2 cores


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                " ",
                "  ",
                "inv",
                "oice",
                "number",
                "#",
                ":",
                "1",
                "42",
                ".",
                ",",
                "-",
                "/",
                "$",
                "march",
                "de",
                "é",
                "٤",
                "\n",
                "is",
            ]
        ),
        max_size=4000,
    ).map("".join)
)
def test_any_mix_of_tokens_is_parsed_quickly_by_every_parser(text):
    for name, parse in PARSERS.items():
        start = time.process_time()
        parse(text)
        assert time.process_time() - start < 1.0, name


def test_the_fixed_invoice_pattern_still_reads_what_people_say():
    for said in (
        "invoice number is 1042",
        "invoice number: 1042",
        "invoice # 1042",
        "inv1042",
        "INV-1042",
        "invoice is 1042",
        "invoice no. 1042",
        "inv 1042",
    ):
        assert identity.find_invoice_number(said) == "INV-1042", said
