"""Card numbers never stored: anything that looks like a payment card number is masked."""
from __future__ import annotations

import re

# Groups of digits separated by single spaces or dashes, as people type or dictate them.
# A card number is 13 to 19 of those digits in consecutive groups: "4242 4242 4242 4242 123"
# (number, then the security code) holds one.
_RUN = re.compile(r"(?<!\d)\d+(?:[ -]\d+)*(?!\d)")
_GROUP = re.compile(r"\d+")


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
        run = match.group(0)
        groups = [g.span() for g in _GROUP.finditer(run)]
        out, done, i = [], 0, 0
        while i < len(groups):
            digits, card_end = "", None
            for j in range(i, len(groups)):  # the longest card number starting at group i
                digits += run[groups[j][0]:groups[j][1]]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn_valid(digits):
                    card_end = j
            if card_end is None:
                i += 1
                continue
            out += [run[done:groups[i][0]], "[card number removed]"]
            done, i = groups[card_end][1], card_end + 1
        return "".join(out) + run[done:]

    return _RUN.sub(_mask, text)
