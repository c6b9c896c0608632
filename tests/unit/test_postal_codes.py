"""Postal codes of every country Settle serves are read from a message and compared whole."""

from __future__ import annotations

import pytest

from settle.billing.identity import find_postal_code, postal_code_matches
from settle.billing.postal_codes import same_postal_code
from settle.store.models import Customer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("01310-100", "01310100"),
        ("01310100", "01310100"),
        ("H2X 1Y4", "H2X1Y4"),
        ("h2x1y4", "H2X1Y4"),
        ("SW1A 1AA", "SW1A1AA"),
        ("sw1a1aa", "SW1A1AA"),
        ("75008", "75008"),
        ("10115", "10115"),
        ("00184", "00184"),
        ("28013", "28013"),
        ("1000-001", "1000001"),
        ("94110", "94110"),
        ("94110-1234", "94110"),
        ("01310-10", None),  # never the first five digits of a mistyped CEP
        ("H2X", None),
    ],
)
def test_each_country_s_code_is_read_whole(text, expected):
    assert find_postal_code(text) == expected


@pytest.mark.parametrize(
    "text, language, expected",
    [
        ("my postal code is H2X 1Y4", "en", "H2X1Y4"),
        ("mi código postal es 28013", "es", "28013"),
        ("mon code postal est le 75008", "fr", "75008"),
        ("meine Postleitzahl ist 10115", "de", "10115"),
        ("il mio CAP è 00184", "it", "00184"),
        ("meu CEP é 01310-100", "pt", "01310100"),
        ("o meu código postal é 1000-001", "pt", "1000001"),
        ("zero um três um zero um zero zero", "pt", "01310100"),
        ("sept cinq zéro zéro huit", "fr", "75008"),
        ("nine four one one zero", "en", "94110"),
    ],
)
def test_a_code_is_found_in_a_sentence_in_each_language(text, language, expected):
    assert find_postal_code(text, language) == expected


def _customer(phone: str, postal: str) -> Customer:
    return Customer(id="C1", name="A B", phone=phone, postal_code=postal)


@pytest.mark.parametrize(
    "phone, on_file, said",
    [
        ("+5511987654321", "01310-100", "01310100"),
        ("+5511987654321", "01310100", "01310-100"),
        ("+15145550101", "H2X 1Y4", "h2x1y4"),
        ("+442071838750", "SW1A 1AA", "sw1a1aa"),
        ("+33142685300", "75008", "75008"),
        ("+4930123456", "10115", "10115"),
        ("+390612345678", "00184", "00184"),
        ("+34912345678", "28013", "28013"),
        ("+351213456789", "1000-001", "1000001"),
        ("+14155550101", "94110", "94110-1234"),
        ("+14155550101", "94110-1234", "94110"),
    ],
)
def test_the_whole_code_said_matches_the_code_on_file(phone, on_file, said):
    assert postal_code_matches(_customer(phone, on_file), said)


@pytest.mark.parametrize(
    "phone, on_file, said",
    [
        ("+5511987654321", "01310-100", "01310"),  # a CEP's first five digits
        ("+5511987654321", "01310-100", "01310-10"),
        ("+15145550101", "H2X 1Y4", "H2X"),
        ("+442071838750", "SW1A 1AA", "SW1A"),
        ("+351213456789", "1000-001", "1000"),
        ("+14155550101", "94110", "9411"),
        ("+14155550101", "94110", "94111-1234"),
        ("+33142685300", "75008", "75009"),
        ("+33142685300", "75008", ""),
    ],
)
def test_part_of_a_code_never_matches(phone, on_file, said):
    assert not postal_code_matches(_customer(phone, on_file), said)


def test_a_code_on_file_in_another_country_s_shape_is_compared_as_written():
    # A US phone with a Canadian address: the ZIP shape doesn't apply, the code does.
    assert same_postal_code("H2X 1Y4", "h2x1y4", "US")
    assert not same_postal_code("H2X 1Y4", "H2X", "US")
    assert not same_postal_code("01310-100", "01310", None)
