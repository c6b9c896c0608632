"""Money as integer minor units with an ISO 4217 currency; formatted by Babel."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, list_currencies

_CURRENCIES = frozenset(list_currencies())
# A comma is only a thousands separator ("1,234.50"); "1,50" or "1,2,3" is not a number.
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def check_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code, or raise ValueError."""
    upper = (code or "").strip().upper()
    if upper not in _CURRENCIES:
        raise ValueError(f"unknown currency {code!r} (expected an ISO 4217 code such as USD)")
    return upper


def to_minor_units(amount: str, currency: str) -> int:
    """'285.00' USD -> 28500. Refuses negatives, NaN and more decimals than the currency has."""
    currency = check_currency(currency)
    text = str(amount).strip()
    if "," in text and not _GROUPED.fullmatch(text):
        raise ValueError(f"amount {amount!r} is not a number")
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"amount {amount!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"amount {amount!r} must be a positive number")
    precision = get_currency_precision(currency)
    minor = value.scaleb(precision)
    if minor != minor.to_integral_value():
        raise ValueError(f"amount {amount!r} has more than {precision} decimals for {currency}")
    return int(minor)


def to_major_units(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-get_currency_precision(check_currency(currency)))


def format_money(minor: int, currency: str, locale: str = "en_US") -> str:
    """28500, 'USD' -> '$285.00' in the customer's locale."""
    return format_currency(to_major_units(minor, currency), currency, locale=locale)
