"""Who is this? A proven phone number (settle.access.proof), else invoice number + postal code."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from settle.billing import invoice_numbers, postal_codes
from settle.core.phones import maybe_e164
from settle.rules.invoice_numbers import InvoiceNumbers
from settle.store.models import Customer, Invoice


def find_invoice_number(
    text: str, formats: InvoiceNumbers = invoice_numbers.DEFAULT, asked: bool = False
) -> str | None:
    """'my invoice is inv 1042' -> 'INV-1042' (settle.billing.invoice_numbers: which shapes
    count, and why digits alone count only when an invoice number was asked for)."""
    return invoice_numbers.find(text, formats, asked)


def find_postal_code(
    text: str, language: str | None = None, formats: InvoiceNumbers = invoice_numbers.DEFAULT
) -> str | None:
    """The first postal code in text, whole and normalised (settle.billing.postal_codes);
    digits inside an invoice number don't count."""
    return postal_codes.find_in(invoice_numbers.without_numbers(text, formats), language)


def read_claim(
    text: str, formats: InvoiceNumbers, asked: bool, language: str | None = None
) -> tuple[str | None, str | None]:
    """(invoice number, postal code) in one message; the digits read as the invoice number
    are never read again as the postal code."""
    text = text or ""
    found = invoice_numbers.span(text, formats, asked)
    if found is None:
        return None, find_postal_code(text, language, formats)
    number, start, end = found
    return number, find_postal_code(text[:start] + " " + text[end:], language, formats)


def customer_by_phone(session: Session, phone: str | None, region: str = "US") -> Customer | None:
    """The one customer with this phone on file. Identity only when the phone itself was
    proven (a signed text, an attested call); a number shared by several customers cannot
    tell them apart, so it gives nobody."""
    phone = maybe_e164(phone or "", region)
    if phone is None:
        return None
    matches = session.scalars(select(Customer).where(Customer.phone == phone).limit(2)).all()
    return matches[0] if len(matches) == 1 else None


def invoice_key(invoice_number: str) -> str:
    """ "INV-1042", "inv 1042" -> "INV1042": one spelling of an invoice number."""
    return invoice_numbers.key(invoice_number)


def invoice_owner(session: Session, invoice_number: str) -> Customer | None:
    """Whose invoice this is ("INV-1042", "inv1042"), or None."""
    key = invoice_key(invoice_number)
    invoice = session.scalars(
        select(Invoice).where(func.upper(func.replace(Invoice.id, "-", "")) == key)
    ).first()
    return invoice.customer if invoice is not None else None


def customer_by_invoice(session: Session, invoice_number: str, postal_code: str) -> Customer | None:
    """The customer owning invoice_number when postal_code matches the one on file."""
    customer = invoice_owner(session, invoice_number)
    if customer is None or not postal_code_matches(customer, postal_code):
        return None
    return customer


def postal_code_matches(customer: Customer, postal_code: str) -> bool:
    """Whether the code said is the customer's, whole, in the shape of the country their
    phone number belongs to (never a prefix: "01310" is not "01310-100")."""
    country = postal_codes.country_of(customer.phone)
    return postal_codes.same_postal_code(customer.postal_code, postal_code, country)


def invoice_number_from_keypad(session: Session, digits: str) -> str | None:
    """The invoice whose number's digits were pressed ("1042" -> "INV-1042"), when only one
    invoice has them."""
    if not digits.isdigit():
        return None
    candidates = session.scalars(
        select(Invoice.id).where(Invoice.id.like(f"%{digits}")).limit(50)
    ).all()
    exact = [i for i in candidates if re.sub(r"\D", "", i) == digits]
    return exact[0] if len(exact) == 1 else None


def postal_codes_have_letters(region: str) -> bool:
    """Postal codes with letters (Canada, the UK) can't be typed on a keypad."""
    return region.upper() in ("CA", "GB", "IE", "NL")
