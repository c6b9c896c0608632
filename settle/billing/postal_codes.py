"""Postal codes as customers say and type them, read and compared in full.

A postal code is one of the two things that prove who a customer is, so a part of one
never counts: "01310" is not the CEP "01310-100", "H2X" is not "H2X 1Y4". Each country's
shape is a regex (no postal-code library is a dependency, and these shapes are stable);
the customer's country, given by their phone number, decides which shape the code said
must have. Only the US ZIP+4's last four digits are a refinement rather than part of the
code: "94110-1234" is the ZIP 94110.
"""

from __future__ import annotations

import re

import phonenumbers
from text_to_num import alpha2digit

# How a code is found in a message, longest shapes first so that a shorter one never takes
# a piece of a longer one: the groups joined are the code, normalised.
_IN_TEXT = (
    re.compile(r"\b(\d{5})-\d{4}\b"),  # US ZIP+4 -> the ZIP
    re.compile(r"\b(\d{5})-?(\d{3})\b"),  # Brazil CEP, 01310-100 / 01310100
    re.compile(r"\b(\d{4})-(\d{3})\b"),  # Portugal, 1000-001
    re.compile(r"\b([A-Za-z]\d[A-Za-z])\s?(\d[A-Za-z]\d)\b"),  # Canada, H2X 1Y4
    re.compile(r"\b([A-Za-z]{1,2}\d[A-Za-z\d]?)\s?(\d[A-Za-z]{2})\b"),  # UK, SW1A 1AA
    # US ZIP, France, Germany, Italy, Spain; never the start of a longer hyphenated code.
    re.compile(r"\b(\d{5})\b(?!-\d)"),
)

# Each country's whole code (normalised: upper case, no spaces or hyphens); the groups
# joined are what is compared.
_COUNTRY_SHAPES = {
    "US": re.compile(r"(\d{5})(?:\d{4})?"),
    "BR": re.compile(r"(\d{8})"),
    "PT": re.compile(r"(\d{7})"),
    "CA": re.compile(r"([A-Z]\d[A-Z]\d[A-Z]\d)"),
    "GB": re.compile(r"([A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2})"),
    "FR": re.compile(r"(\d{5})"),
    "DE": re.compile(r"(\d{5})"),
    "IT": re.compile(r"(\d{5})"),
    "ES": re.compile(r"(\d{5})"),
}
# Places with US ZIP codes and their own phone region.
for _territory in ("PR", "VI", "GU", "AS", "MP"):
    _COUNTRY_SHAPES[_territory] = _COUNTRY_SHAPES["US"]

# Three or more single letters or digits in a row, as speech recognition writes spelling;
# and runs of short digit groups, as number words become digits ("zero um três" -> "0 1 3",
# "sept cinq zéro zéro huit" -> "7 5 008").
_SPELLED = re.compile(r"\b[A-Za-z0-9](?: [A-Za-z0-9]\b){2,}")
_DIGIT_GROUPS = re.compile(r"\b\d{1,3}(?: \d{1,3}\b){2,}")
# text2num reads number words in these languages.
_NUMBER_WORDS = ("en", "es", "fr", "de", "it", "pt")


def normalise_postal_code(raw: str) -> str:
    """' m5v 2t6 ' -> 'M5V2T6': one spelling of a code, for comparing."""
    return re.sub(r"[\s-]", "", raw or "").upper()


def find_in(text: str, language: str | None = None) -> str | None:
    """The first postal code in text, whole and normalised, or None.

    Spelled out as a caller says it ("H 2 X 1 Y 4", "9 4 1 1 0") counts too, and, given the
    language, digits said as words ("zero um três um zero um zero zero")."""
    text = text or ""
    if language in _NUMBER_WORDS:
        text = alpha2digit(text, language)
        text = _DIGIT_GROUPS.sub(lambda m: m.group(0).replace(" ", ""), text)
    text = _SPELLED.sub(lambda m: m.group(0).replace(" ", ""), text)
    for pattern in _IN_TEXT:
        match = pattern.search(text)
        if match:
            return normalise_postal_code("".join(match.groups()))
    return None


def country_of(phone: str) -> str | None:
    """The country a phone number (E.164) belongs to, or None."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone or "", None))
    except phonenumbers.NumberParseException:
        return None


def same_postal_code(on_file: str, said: str, country: str | None) -> bool:
    """Whether the code said is the code on file, whole.

    When the country's shape is known and the code on file has it, the code said must have
    it too, and the two compare by that shape (a ZIP+4 by its ZIP); otherwise the two
    normalised codes must be equal."""
    on_file, said = normalise_postal_code(on_file), normalise_postal_code(said)
    if not on_file or not said:
        return False
    shape = _COUNTRY_SHAPES.get((country or "").upper())
    filed = shape.fullmatch(on_file) if shape else None
    if shape is None or filed is None:
        return on_file == said
    spoken = shape.fullmatch(said)
    return spoken is not None and spoken.groups() == filed.groups()
