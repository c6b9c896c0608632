"""Text written for reading, turned into text for speaking on a phone call."""

from __future__ import annotations

import re

_INVOICE_ID = re.compile(r"\b([A-Z]{2,4})-(\d{3,10})\b")
_DOLLARS = re.compile(r"\$(\d{1,3}(?:,\d{3})*|\d+)(?:\.(\d{2}))?")
_DATE = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December)"
    r" (\d{1,2}), (\d{4})\b"
)
_PHONE_ENDING = re.compile(r"ending in (\d{4})")
_LIST_NUMBER = re.compile(r"^(\d)\. ", re.MULTILINE)


def ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def speakable(text: str, current_year: int | None = None) -> str:
    """'$285.00, due March 3, 2026 (INV-1001)' -> '285 dollars, due March 3rd (I N V 1 0 0 1)'.

    Amounts are said as dollars and cents, dates as "March 3rd" (the year only when it is
    not this year), invoice numbers and phone endings digit by digit, list markers as
    "Number 1:".
    """

    def money(match: re.Match) -> str:
        dollars, cents = match.group(1).replace(",", ""), match.group(2)
        spoken = f"{int(dollars)} dollar{'s' if int(dollars) != 1 else ''}"
        if cents and int(cents):
            spoken += f" and {int(cents)} cent{'s' if int(cents) != 1 else ''}"
        return spoken

    def date(match: re.Match) -> str:
        month, day, year = match.group(1), int(match.group(2)), int(match.group(3))
        spoken = f"{month} {ordinal(day)}"
        return spoken if current_year == year else f"{spoken}, {year}"

    text = _INVOICE_ID.sub(lambda m: " ".join(m.group(1)) + ", " + " ".join(m.group(2)), text)
    text = _DOLLARS.sub(money, text)
    text = _DATE.sub(date, text)
    text = _PHONE_ENDING.sub(lambda m: "ending in " + " ".join(m.group(1)), text)
    text = _LIST_NUMBER.sub(lambda m: f"Number {m.group(1)}: ", text)
    return text.replace("\n", " ")
