"""Where a customer is and when they may be contacted: region, time zone, local time."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable

import phonenumbers
from phonenumbers import geocoder

from settle.core.clock import local_time
from settle.store.models import Customer

# Canadian postal codes name their province by the first letter (Canada Post).
_CANADIAN_POSTAL_PROVINCES = {
    "A": "NL",
    "B": "NS",
    "C": "PE",
    "E": "NB",
    "G": "QC",
    "H": "QC",
    "J": "QC",
    "K": "ON",
    "L": "ON",
    "M": "ON",
    "N": "ON",
    "P": "ON",
    "R": "MB",
    "S": "SK",
    "T": "AB",
    "V": "BC",
    "X": "NT",
    "Y": "YT",
}
_CANADIAN_POSTAL = re.compile(r"^[ABCEGHJ-NPRSTVXY]\d[A-Z] ?\d[A-Z]\d$")
# libphonenumber's geocoder names a Canadian area code by its province.
_CANADIAN_PROVINCE_NAMES = {
    "Alberta": "AB",
    "British Columbia": "BC",
    "Manitoba": "MB",
    "New Brunswick": "NB",
    "Newfoundland and Labrador": "NL",
    "Nova Scotia": "NS",
    "Ontario": "ON",
    "Prince Edward Island": "PE",
    "Quebec": "QC",
    "Saskatchewan": "SK",
    "Yukon": "YT",
    "Northwest Territories": "NT",
    "Nunavut": "NU",
}


@functools.lru_cache(maxsize=65536)
def region_for(phone: str, postal_code: str = "") -> str:
    """'CA-QC', 'US-CA', 'US'…: the customer's country and, where known, province or state.

    A Canadian postal code names the province exactly; otherwise the phone number's area
    code does (libphonenumber's geocoder: "Montreal, QC", "Los Angeles, CA").
    """
    postal = (postal_code or "").strip().upper()
    if _CANADIAN_POSTAL.match(postal):
        return f"CA-{_CANADIAN_POSTAL_PROVINCES[postal[0]]}"
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ""
    country = phonenumbers.region_code_for_number(number) or ""
    if country in ("US", "CA"):
        place = geocoder.description_for_number(number, "en")
        if place in _CANADIAN_PROVINCE_NAMES:
            return f"CA-{_CANADIAN_PROVINCE_NAMES[place]}"
        match = re.search(r",\s*([A-Z]{2})$", place or "")
        if match:
            return f"{country}-{match.group(1)}"
    return country


def contact_hours(cadence) -> Callable[..., dt.datetime | None]:
    """settle.messaging's ContactHours for these rules: None when the customer may be
    contacted now, else the next opening of their window (UTC)."""

    def next_allowed(session, customer_id: str | None, now: dt.datetime) -> dt.datetime | None:
        customer = session.get(Customer, customer_id) if customer_id else None
        if customer is None:
            return None
        window = cadence.window_for(region_for(customer.phone, customer.postal_code))
        local = local_time(now, customer.timezone)
        if window.allows(local):
            return None
        return window.next_opening(local).astimezone(dt.timezone.utc)

    return next_allowed
