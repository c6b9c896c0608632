"""What the business's invoice numbers look like: settle.yml `business.invoice_numbers`.

    invoice_numbers: {prefixes: [INV, F], digits_only: true, min_digits: 4}

`prefixes`: the letters an invoice number may start with ("INV-1042", "F1042"); none
given: any two to four letters, as before. `digits_only`: numbers with no letters at all
("1001", "2024-0042") exist too. `min_digits`: the fewest digits such a number has.
How a message is read with these rules: settle.billing.invoice_numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from settle.core.settings_file import ConfigError

_PREFIX = re.compile(r"[A-Za-z]{1,6}")
_KEYS = ("prefixes", "digits_only", "min_digits")


@dataclass(frozen=True)
class InvoiceNumbers:
    """The shapes of the business's invoice numbers; the defaults are "INV-1042" and kin."""

    prefixes: tuple[str, ...] = ()
    digits_only: bool = False
    min_digits: int = 4

    @property
    def spoken_prefix(self) -> str:
        """What "invoice 1042" stands for: the first prefix ("INV" when none is set)."""
        return self.prefixes[0] if self.prefixes else "INV"


def parse_invoice_numbers(raw: Any, where: str = "business.invoice_numbers") -> InvoiceNumbers:
    """The setting, checked; a ConfigError names the key and what was expected."""
    if raw is None:
        return InvoiceNumbers()
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where} must be a mapping such as {{prefixes: [INV], digits_only: false}}"
        )
    unknown = set(raw) - set(_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
            f"(expected {', '.join(_KEYS)})"
        )
    prefixes = raw.get("prefixes") or []
    if not isinstance(prefixes, list) or not all(
        isinstance(p, str) and _PREFIX.fullmatch(p) for p in prefixes
    ):
        raise ConfigError(
            f"{where}.prefixes must be a list of 1 to 6 letters each (e.g. [INV, F]), "
            f"got {prefixes!r}"
        )
    digits_only = raw.get("digits_only", False)
    if not isinstance(digits_only, bool):
        raise ConfigError(f"{where}.digits_only must be true or false, got {digits_only!r}")
    min_digits = raw.get("min_digits", 4)
    if isinstance(min_digits, bool) or not isinstance(min_digits, int) or not 3 <= min_digits <= 10:
        raise ConfigError(
            f"{where}.min_digits must be a whole number from 3 to 10, got {min_digits!r}"
        )
    return InvoiceNumbers(tuple(p.upper() for p in prefixes), digits_only, min_digits)
