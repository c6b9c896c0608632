"""Card numbers never stored: anything that looks like a payment card number is masked."""
from __future__ import annotations

import re

# 13 to 19 digits, optionally grouped by spaces or dashes, as people type or dictate them.
_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def redact_card_numbers(text: str) -> str:
    """'my card is 4242 4242 4242 4242' -> 'my card is [card number removed]'."""
    if not text:
        return text

    def _mask(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return "[card number removed]" if luhn_valid(digits) else match.group(0)

    return _CANDIDATE.sub(_mask, text)
