"""Who is this? A proven phone number (settle.access.proof), else invoice number + postal code."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from settle.billing import postal_codes
from settle.core.phones import maybe_e164
from settle.store.models import Customer, Invoice

# "INV-1042", "inv1042", and spoken "inv 1042" / "invoice number 1042" / "invoice number is 1042".
# Every run of spaces has one place in the pattern (no `\s*\s*`), so a search is linear in
# the text: "inv" and 100,000 spaces took minutes with two adjacent optional runs.
_INVOICE_NUMBER = re.compile(
    r"\b(?:([A-Za-z]{2,4})-?(\d{3,10})"
    r"|inv(?:oice)?\s*(?:(?:number|no\.?|#)\s*)?(?:is\s+|:\s*)?(\d{3,10}))\b",
    re.IGNORECASE,
)


def find_invoice_number(text: str) -> str | None:
    """'my invoice is inv 1042' -> 'INV-1042'."""
    match = _INVOICE_NUMBER.search(text or "")
    if not match:
        return None
    prefix, digits = (match.group(1), match.group(2)) if match.group(2) else ("INV", match.group(3))
    return f"{prefix.upper()}-{digits}"


def find_postal_code(text: str, language: str | None = None) -> str | None:
    """The first postal code in text, whole and normalised (settle.billing.postal_codes);
    digits inside an invoice number don't count."""
    return postal_codes.find_in(_INVOICE_NUMBER.sub(" ", text or ""), language)


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
    return re.sub(r"[^A-Za-z0-9]", "", invoice_number or "").upper()


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
