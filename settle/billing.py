"""What a verified customer owes, and which invoice they mean when they pick one."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import List, Optional, Sequence

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session
from text_to_num import alpha2digit

from settle.identity import find_invoice_number
from settle.money import format_money, to_major_units
from settle.store.models import Invoice


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice as read back to its customer: amounts from the database only."""

    id: str
    balance_minor: int
    currency: str
    due_on: dt.date
    issued_on: dt.date
    description: str

    def amount_text(self, locale: str = "en_US") -> str:
        return format_money(self.balance_minor, self.currency, locale)

    def due_text(self, locale: str = "en_US") -> str:
        return format_date(self.due_on, format="long", locale=locale)


def open_invoices(session: Session, customer_id: str) -> List[OpenInvoice]:
    """Open invoices with a balance, most recently issued first."""
    rows = session.scalars(
        select(Invoice)
        .where(Invoice.customer_id == customer_id, Invoice.status == "open")
        .order_by(Invoice.issued_on.desc(), Invoice.id.desc())
    ).all()
    return [
        OpenInvoice(i.id, i.balance_minor, i.currency, i.due_on, i.issued_on, i.description)
        for i in rows
        if i.balance_minor > 0
    ]


_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8,
}
_NEWEST = re.compile(r"\b(newest|latest|most recent|recent one|top)\b")
_OLDEST = re.compile(r"\b(oldest|last|bottom|earliest)\b")
_POSITION = re.compile(r"\b(?:number|option|no\.?|#)\s*(\d)\b|^\s*(\d)\s*$")
_AMOUNT = re.compile(r"(?<![\w.])\$?\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?![\w])")
_MONTHS = {
    name: number
    for number, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")], start=1)
    for name in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = re.compile(r"\b(" + _MONTH_NAMES + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b")
# "the 3rd of March": a date, not the third invoice.
_DATE_DAY_FIRST = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + _MONTH_NAMES + r")\b")


def resolve_choice(text: str, offered: Sequence[OpenInvoice]) -> Optional[OpenInvoice]:
    """The offered invoice the customer means, or None when it is unclear.

    Understands an invoice number, a due date ("the one due March 3rd"), an amount
    ("the 285 one", "$120.50") and a position ("the second one", "number 2", "the last one").
    """
    if not offered:
        return None
    raw = (text or "").lower()
    spoken = alpha2digit(raw, "en")

    number = find_invoice_number(raw)
    if number:
        key = number.replace("-", "")
        return next((i for i in offered if i.id.replace("-", "").upper() == key), None)

    date = _DATE.search(spoken)
    day_first = None if date else _DATE_DAY_FIRST.search(spoken)
    if date or day_first:
        month, day = ((_MONTHS[date.group(1)], int(date.group(2))) if date
                      else (_MONTHS[day_first.group(2)], int(day_first.group(1))))
        matches = [i for i in offered if (i.due_on.month, i.due_on.day) == (month, day)]
        return matches[0] if len(matches) == 1 else None

    by_amount = _match_amount(spoken, offered)
    if by_amount is not None:
        return by_amount

    position = _position(spoken, len(offered))
    if position is not None:
        return offered[position - 1]
    return None


def _match_amount(text: str, offered: Sequence[OpenInvoice]) -> Optional[OpenInvoice]:
    for match in _AMOUNT.finditer(text):
        whole = int(match.group(1).replace(",", ""))
        cents = match.group(2)
        if cents is None and whole <= len(offered) and "$" not in match.group(0):
            continue  # a small bare number is a position, not an amount
        for candidates in (
            [i for i in offered
             if to_major_units(i.balance_minor, i.currency) == _decimal(whole, cents)],
            [i for i in offered
             if cents is None and int(to_major_units(i.balance_minor, i.currency)) == whole],
        ):
            if len(candidates) == 1:
                return candidates[0]
    return None


def _decimal(whole: int, cents: Optional[str]) -> Decimal:
    return Decimal(f"{whole}.{(cents or '0').ljust(2, '0')}")


def _position(text: str, count: int) -> Optional[int]:
    if _NEWEST.search(text) and "last" not in text:
        return 1
    for word, number in _ORDINALS.items():
        if re.search(rf"\b{word}\b", text):
            return number if number <= count else None
    if _OLDEST.search(text):
        return count
    match = _POSITION.search(text)
    if match:
        number = int(match.group(1) or match.group(2))
        return number if 1 <= number <= count else None
    return None
