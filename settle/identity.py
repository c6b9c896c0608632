"""Who is this? Caller ID on signed Twilio channels; invoice number + postal code elsewhere."""
from __future__ import annotations

import re
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from settle.phones import maybe_e164
from settle.store.models import Customer, Invoice

# Channels whose sender id is the caller's or texter's number, proven by Twilio's signature.
SIGNED_PHONE_CHANNELS = frozenset({"twilio", "twilio_voice"})

# "INV-1042", "inv1042", and spoken "inv 1042" / "invoice number 1042" / "invoice number is 1042".
_INVOICE_NUMBER = re.compile(
    r"\b(?:([A-Za-z]{2,4})-?(\d{3,10})"
    r"|inv(?:oice)?\s*(?:number|no\.?|#)?\s*(?:is\s+|:\s*)?(\d{3,10}))\b",
    re.IGNORECASE,
)
_POSTAL_CODES = (
    re.compile(r"\b(\d{5})(?:-\d{4})?\b"),  # US ZIP / ZIP+4
    re.compile(r"\b([A-Za-z]\d[A-Za-z])\s?(\d[A-Za-z]\d)\b"),  # Canada
    re.compile(r"\b([A-Za-z]{1,2}\d[A-Za-z\d]?)\s?(\d[A-Za-z]{2})\b"),  # UK
)


def normalise_postal_code(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw or "").upper()


def find_invoice_number(text: str) -> Optional[str]:
    """'my invoice is inv 1042' -> 'INV-1042'."""
    match = _INVOICE_NUMBER.search(text or "")
    if not match:
        return None
    prefix, digits = (match.group(1), match.group(2)) if match.group(2) else ("INV", match.group(3))
    return f"{prefix.upper()}-{digits}"


def find_postal_code(text: str) -> Optional[str]:
    """The first postal code in text, normalised; digits inside an invoice number don't count."""
    text = _INVOICE_NUMBER.sub(" ", text or "")
    for pattern in _POSTAL_CODES:
        match = pattern.search(text)
        if match:
            return normalise_postal_code("".join(match.groups()))
    return None


def customer_by_caller_id(session: Session, channel: Optional[str], sender_id: str,
                          region: str = "US") -> Optional[Customer]:
    """The customer whose phone on file is the sender, on signed phone channels only."""
    if channel not in SIGNED_PHONE_CHANNELS:
        return None
    phone = maybe_e164(sender_id, region)
    if phone is None:
        return None
    matches = session.scalars(select(Customer).where(Customer.phone == phone)).all()
    # A number shared by several customers cannot tell them apart: ask for more.
    return matches[0] if len(matches) == 1 else None


def customer_by_invoice(session: Session, invoice_number: str, postal_code: str) -> Optional[Customer]:
    """The customer owning invoice_number when postal_code matches the one on file."""
    key = re.sub(r"[^A-Za-z0-9]", "", invoice_number or "").upper()
    invoice = session.scalars(
        select(Invoice).where(func.upper(func.replace(Invoice.id, "-", "")) == key)
    ).first()
    if invoice is None:
        return None
    customer = invoice.customer
    if normalise_postal_code(customer.postal_code) != normalise_postal_code(postal_code):
        return None
    return customer
