"""Phone numbers in E.164 from the moment they enter Settle."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone


def to_e164(raw: str, region: str = "US") -> str:
    """Normalise a phone number in any common form; raise ValueError when it is not valid."""
    text = (raw or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"phone {raw!r} is not a phone number ({error})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"phone {raw!r} is not a valid number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def maybe_e164(raw: str | None, region: str = "US") -> str | None:
    """E.164 form of raw, or None when it is no valid phone number (e.g. a web chat id)."""
    try:
        return to_e164(raw or "", region)
    except ValueError:
        return None


def last_digits(e164: str, count: int = 4) -> str:
    return e164[-count:]


def time_zones_of(e164: str) -> tuple[str, ...]:
    """The IANA time zones a number's prefix covers (libphonenumber's data); () when unknown.
    One zone for most numbers ('+33…' -> Europe/Paris); several for a toll-free or mobile
    number that moves with its owner."""
    try:
        zones = timezone.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in zones if z != timezone.UNKNOWN_TIMEZONE)
