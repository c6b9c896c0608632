"""What a verified customer owes, and which invoice they mean when they pick one."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from babel.dates import format_date, get_month_names
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from text_to_num import alpha2digit

from settle.billing import invoice_numbers
from settle.core.money import format_money, to_major_units
from settle.rules.invoice_numbers import InvoiceNumbers
from settle.store.models import Invoice


def add_to_paid(session: Session, invoice_id: str, amount_minor: int) -> Invoice:
    """Move what was paid on an invoice by amount_minor (negative for a refund) in one
    UPDATE, so concurrent payments and refunds never lose each other (no read-modify-write).
    Returns the invoice as it now is; an open invoice paid in full becomes paid."""
    session.execute(
        update(Invoice)
        .where(Invoice.id == invoice_id)
        .values(amount_paid_minor=Invoice.amount_paid_minor + amount_minor)
        .execution_options(synchronize_session=False)
    )
    invoice = session.get(Invoice, invoice_id, populate_existing=True)
    if invoice.status == "open" and invoice.amount_paid_minor >= invoice.amount_minor:
        invoice.status = "paid"
    return invoice


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


def open_invoices(session: Session, customer_id: str) -> list[OpenInvoice]:
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


@dataclass(frozen=True)
class _ChoiceWords:
    """How people point at an item in a list read to them, in one language."""

    ordinals: dict[str, int]
    newest: str
    oldest: str
    position: str  # words before a number: "number 2", "la número 2"


_CHOICE_WORDS = {
    "en": _ChoiceWords(
        {
            "first": 1,
            "1st": 1,
            "second": 2,
            "2nd": 2,
            "third": 3,
            "3rd": 3,
            "fourth": 4,
            "4th": 4,
            "fifth": 5,
            "5th": 5,
            "sixth": 6,
            "6th": 6,
            "seventh": 7,
            "7th": 7,
            "eighth": 8,
            "8th": 8,
        },
        r"newest|latest|most recent|recent one|top",
        r"oldest|last|bottom|earliest",
        r"number|option|no\.?|#",
    ),
    "es": _ChoiceWords(
        {
            "primera": 1,
            "primero": 1,
            "primer": 1,
            "segunda": 2,
            "segundo": 2,
            "tercera": 3,
            "tercero": 3,
            "tercer": 3,
            "cuarta": 4,
            "cuarto": 4,
            "quinta": 5,
            "quinto": 5,
        },
        r"m[aá]s reciente|[uú]ltima que|nueva",
        r"[uú]ltima|[uú]ltimo|m[aá]s antigua|m[aá]s vieja",
        r"n[uú]mero|opci[oó]n|la|el",
    ),
    "fr": _ChoiceWords(
        {
            "première": 1,
            "premiere": 1,
            "premier": 1,
            "deuxième": 2,
            "deuxieme": 2,
            "seconde": 2,
            "second": 2,
            "troisième": 3,
            "troisieme": 3,
            "quatrième": 4,
            "quatrieme": 4,
            "cinquième": 5,
            "cinquieme": 5,
        },
        r"plus r[ée]cente|derni[eè]re re[çc]ue",
        r"derni[eè]re|dernier|plus ancienne|plus vieille",
        r"num[ée]ro|option|la|le",
    ),
    "de": _ChoiceWords(
        {
            "erste": 1,
            "ersten": 1,
            "erster": 1,
            "zweite": 2,
            "zweiten": 2,
            "dritte": 3,
            "dritten": 3,
            "vierte": 4,
            "vierten": 4,
            "fünfte": 5,
            "fünften": 5,
            "fuenfte": 5,
        },
        r"neueste|neuesten|aktuellste",
        r"letzte|letzten|älteste|ältesten|aelteste",
        r"nummer|nr\.?|option|die",
    ),
    "pt": _ChoiceWords(
        {
            "primeira": 1,
            "primeiro": 1,
            "segunda": 2,
            "segundo": 2,
            "terceira": 3,
            "terceiro": 3,
            "quarta": 4,
            "quarto": 4,
            "quinta": 5,
            "quinto": 5,
        },
        r"mais recente|mais nova",
        r"[uú]ltima|[uú]ltimo|mais antiga|mais velha",
        r"n[uú]mero|op[çc][ãa]o|a|o",
    ),
    "it": _ChoiceWords(
        {
            "prima": 1,
            "primo": 1,
            "seconda": 2,
            "secondo": 2,
            "terza": 3,
            "terzo": 3,
            "quarta": 4,
            "quarto": 4,
            "quinta": 5,
            "quinto": 5,
        },
        r"pi[uù] recente|nuova",
        r"ultima|ultimo|pi[uù] vecchia|pi[uù] vecchio",
        r"numero|opzione|la|il",
    ),
}
_AMOUNT = re.compile(
    r"(?<![\w.,])[$€]?\s?(\d{1,3}(?:[,.]\d{3}){1,4}|\d{1,12})(?:[.,](\d{1,2}))?(?![\w]|[.,]\d)"
)


def month_numbers(language: str) -> dict[str, int]:
    """Month names and abbreviations people use, from Babel's locale data (plus English)."""
    months: dict[str, int] = {"sept": 9}
    for locale in {"en", language}:
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=locale).items():
                months[name.lower().rstrip(".")] = number
    return months


def resolve_choice(
    text: str,
    offered: Sequence[OpenInvoice],
    language: str = "en",
    formats: InvoiceNumbers = invoice_numbers.DEFAULT,
) -> OpenInvoice | None:
    """The offered invoice the customer means, or None when it is unclear.

    Understands an invoice number, a due date ("the one due March 3rd", "la que vence el 3
    de marzo"), an amount ("the 285 one", "$120.50", "celle de 120,50", number words in
    every supported language) and a position ("the second one", "la segunda", "number 2",
    "the last one"). Where the business's invoice numbers may be digits alone, a number is
    one of them only when it is exactly an offered invoice's number; otherwise it may still
    be an amount.
    """
    if not offered:
        return None
    language = language if language in _CHOICE_WORDS else "en"
    raw = (text or "").lower()
    spoken = alpha2digit(raw, language)

    number = invoice_numbers.find(raw, formats)
    if number:
        key = invoice_numbers.key(number)
        return next((i for i in offered if invoice_numbers.key(i.id) == key), None)
    digits = invoice_numbers.find(raw, formats, asked=True) if formats.digits_only else None
    by_number = next((i for i in offered if i.id == digits), None)
    if by_number is not None:
        return by_number

    date = _find_date(spoken, language)
    if date:
        matches = [i for i in offered if (i.due_on.month, i.due_on.day) == date]
        return matches[0] if len(matches) == 1 else None

    by_amount = _match_amount(spoken, offered)
    if by_amount is not None:
        return by_amount

    position = _position(spoken, len(offered), _CHOICE_WORDS[language])
    if position is not None:
        return offered[position - 1]
    return None


def _find_date(text: str, language: str) -> tuple | None:
    """(month, day) from "March 3rd", "the 3rd of March", "3 de marzo", "3. März"."""
    months = month_numbers(language)
    names = "|".join(sorted((re.escape(m) for m in months), key=len, reverse=True))
    month_first = re.search(rf"\b({names})\.?\s+(\d{{1,2}})(?:st|nd|rd|th|er|º|ª)?\b", text)
    if month_first:
        return months[month_first.group(1)], int(month_first.group(2))
    day_first = re.search(
        rf"\b(\d{{1,2}})(?:st|nd|rd|th|er|º|ª|\.)?\s+(?:of\s+|de\s+|di\s+)?({names})\b", text
    )
    if day_first:
        return months[day_first.group(2)], int(day_first.group(1))
    return None


def _match_amount(text: str, offered: Sequence[OpenInvoice]) -> OpenInvoice | None:
    for match in _AMOUNT.finditer(text):
        whole = int(re.sub(r"[,.]", "", match.group(1)))
        cents = match.group(2)
        if cents is None and whole <= len(offered) and not re.search(r"[$€]", match.group(0)):
            continue  # a small bare number is a position, not an amount
        for candidates in (
            [
                i
                for i in offered
                if to_major_units(i.balance_minor, i.currency) == _decimal(whole, cents)
            ],
            [
                i
                for i in offered
                if cents is None and int(to_major_units(i.balance_minor, i.currency)) == whole
            ],
        ):
            if len(candidates) == 1:
                return candidates[0]
    return None


def _decimal(whole: int, cents: str | None) -> Decimal:
    return Decimal(f"{whole}.{(cents or '0').ljust(2, '0')}")


def _position(text: str, count: int, words: _ChoiceWords) -> int | None:
    oldest = re.search(rf"\b({words.oldest})\b", text)
    if re.search(rf"\b({words.newest})\b", text) and not oldest:
        return 1
    for word, number in words.ordinals.items():
        if re.search(rf"\b{word}\b", text):
            return number if number <= count else None
    if oldest:
        return count
    # text2num writes ordinals from the third on as "3ª", "3º", "3ème", "3." (German).
    written = re.search(r"(?<![\d,.])(\d)(?:ª|º|ème|eme|e|er|re|\.)(?!\d)", text)
    if written:
        number = int(written.group(1))
        return number if 1 <= number <= count else None
    match = re.search(rf"\b(?:{words.position})\s*(\d)\b|^\s*(\d)\s*$", text)
    if match:
        number = int(match.group(1) or match.group(2))
        return number if 1 <= number <= count else None
    return None
