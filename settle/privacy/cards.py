"""Card numbers (PANs) found and masked in any text, typed, dictated or spelled out.

A card number is 13 to 19 digits that pass the Luhn check and start like one an issuer
hands out. People write them in groups ("4111.1111/1111-1111", "4111  1111 1111 1111"),
say them ("four one one one …", "quarante-deux", "cuatro uno uno uno"), and mix the two.
So the text is read once, as a stream of tokens: digit runs and number words (in the six
languages) are *parts*; spaces, punctuation and fillers ("uh", "euh", "dash") *join* them;
any other word ends a *stretch*. Within a stretch every start is tried against up to 19
digits, so the work is linear in the text, whatever it holds.

Typed digits must also be grouped the way cards are written: one run, digit by digit,
fours (the last group 1 to 4 digits), or Amex/Diners 4-6-5 / 4-6-4. That keeps phone
numbers (3-3-4, pairs), amounts (1,234.56), postal codes and dates out, however they are
strung together. Spoken numbers are taken in any grouping.

Not card numbers either: a phone number written after "+", digits glued to a word
("INV2026…", "SM4111…", "pi_3N…"), an IBAN ("DE89 3704 …"), and anything that fails the
prefix or Luhn check.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from settle.privacy.number_words import CONNECTORS, FILLERS, NUMBER_WORDS, PREFIXES, REPEATS, fold

# What a card number becomes: no digits, and no word the language model could take for
# an intent ("removed" once read as "remove me", an opt-out).
MASK = "****"

# Digits, letters, a line break, other whitespace, or one other character.
_TOKEN = re.compile(r"\d+|[^\W\d_]+|\n|\s+|.", re.UNICODE | re.DOTALL)
# An IBAN: country, check digits, then groups (a bank account, not a card).
# A hex digest (a seal, a hash) may hold a run of digits that passes for a card number; a
# card is never part of one, so what lies inside such a run is left alone.
_HEX_DIGEST = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{24,}(?![0-9A-Za-z])")
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?")


def starts_like_a_card(digits: str) -> bool:
    """An issuer prefix: Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro, Mir."""
    if digits[0] == "4":
        return True
    two, four = int(digits[:2]), int(digits[:4])
    return (
        51 <= two <= 55
        or 2221 <= four <= 2720
        or 2200 <= four <= 2204  # MC, Mir
        or two in (34, 37, 36, 38, 39)
        or 300 <= int(digits[:3]) <= 305  # Amex, Diners
        or 3528 <= four <= 3589  # JCB
        or digits[0] == "6"
        or two in (50, 56, 57, 58, 81, 82)
    )  # Discover, UnionPay, Maestro


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    return (
        13 <= len(digits) <= 19
        and digits.isdigit()
        and starts_like_a_card(digits)
        and luhn_valid(digits)
    )


@dataclass
class _Part:
    """Digits said or written in one go, and where in the text they are."""

    digits: str
    start: int
    end: int
    typed: bool


def _stretches(text: str) -> Iterator[list[_Part]]:
    """Runs of parts joined only by separators and fillers."""
    parts: list[_Part] = []
    repeat, phone, connector = 1, False, False
    previous_tens: _Part | None = None
    previous_end, previous_kind = -1, ""  # where the last token ended, and what it was
    position, length = 0, len(text)

    def cut() -> Iterator[list[_Part]]:
        if parts:
            yield list(parts)
        parts.clear()

    while position < length:
        match = _TOKEN.match(text, position)
        assert match is not None  # _TOKEN matches any one character at least
        token, start, position = match.group(0), match.start(), match.end()
        glued = start == previous_end
        if token.isdigit():
            kind = "digits"
        elif token.isalpha():
            kind = "word"
        elif token == "\n" or token.isspace():
            kind = "space"
        else:
            kind = "mark"
        last_kind, previous_end, previous_kind = previous_kind, position, kind

        if kind == "space":
            if token == "\n":
                phone = False
            continue
        if kind == "mark":
            if token == "+" and not (glued and last_kind == "digits"):
                yield from cut()  # "+34 612 …": a phone number follows
                phone, previous_tens = True, None
            elif token not in " -.()" and phone:
                phone = False
            continue  # any other mark joins the parts around it
        if kind == "digits":
            if phone:
                continue
            if (
                glued
                and last_kind == "word"
                and fold(text[_word_start(text, start) : start]) not in PREFIXES
            ):
                yield from cut()  # "SM4111…", "INV2026": an id, not a number
                previous_tens = None
                continue
            digits = (
                token if token.isascii() else "".join(str(unicodedata.digit(c, 0)) for c in token)
            )
            parts.append(_Part(digits * repeat, start, position, True))
            repeat, connector, previous_tens = 1, False, None
            continue

        # A word.
        phone = False
        iban = _IBAN.match(text, start) if token[:1].isupper() and len(token) == 2 else None
        if iban:
            yield from cut()
            position = previous_end = iban.end()
            previous_kind = "word"
            continue
        folded = fold(token)
        spoken = NUMBER_WORDS.get(folded)
        if spoken is None:
            if folded in REPEATS:
                repeat = REPEATS[folded]
            elif folded in CONNECTORS and previous_tens is not None:
                connector = True
            elif folded not in FILLERS and not (glued and last_kind == "digits" and len(parts)):
                yield from cut()
                repeat, connector, previous_tens = 1, False, None
            continue
        digits = spoken
        if previous_tens is not None and parts and parts[-1] is previous_tens:
            combined = _compound(previous_tens.digits, digits)
            if combined is not None:  # "forty two", "quarante et un", "soixante-treize"
                previous_tens.digits, previous_tens.end = combined, position
                previous_tens = previous_tens if combined.endswith("0") else None
                connector = False
                continue
        if connector:  # "forty and …" that is no compound: not one number
            yield from cut()
        part = _Part(digits * repeat, start, position, False)
        repeat, connector = 1, False
        parts.append(part)
        previous_tens = part if len(digits) == 2 and digits.endswith("0") else None
        if (
            digits == "20"
            and len(parts) > 1
            and parts[-2].digits == "4"
            and not parts[-2].typed
            and fold(text[parts[-2].start : parts[-2].end]) == "quatre"
        ):
            parts.pop()  # "quatre-vingt(s)": eighty
            parts[-1].digits, parts[-1].end, previous_tens = "80", position, parts[-1]
    yield from cut()


def _word_start(text: str, end: int) -> int:
    """Where the word that ends at `end` begins (at most 12 characters back)."""
    start = end
    while start > 0 and end - start < 12 and (text[start - 1].isalpha() or text[start - 1] in "º°"):
        start -= 1
    return start


def _compound(tens: str, unit: str) -> str | None:
    """Twenty and two: 22; soixante and treize (French 60 + 13): 73; else None."""
    value, add = int(tens), int(unit)
    if 1 <= add <= 9 or (10 <= add <= 19 and value in (60, 80)):
        return str(value + add)
    return None


def _written_like_a_card(parts: list[_Part]) -> bool:
    """Typed digits grouped as cards are written (spoken numbers: any grouping)."""
    if not all(part.typed for part in parts) or len(parts) == 1:
        return True
    lengths = [len(part.digits) for part in parts]
    return (
        all(n == 1 for n in lengths)
        or (all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4)
        or lengths in ([4, 6, 5], [4, 6, 4])
    )


def card_spans(text: str) -> list[tuple[int, int]]:
    """Where card numbers are in text, as (start, end) character offsets."""
    spans: list[tuple[int, int]] = []
    if not text:
        return spans
    for parts in _stretches(text):
        i = 0
        while i < len(parts):
            digits, found, prefix_checked = "", None, False
            for j in range(i, len(parts)):  # the longest card number starting at part i
                digits += parts[j].digits
                if len(digits) > 19:
                    break
                if not prefix_checked and len(digits) >= 4:
                    if not starts_like_a_card(digits):
                        break
                    prefix_checked = True
                if (
                    len(digits) >= 13
                    and luhn_valid(digits)
                    and _written_like_a_card(parts[i : j + 1])
                ):
                    found = j
            if found is None:
                i += 1
                continue
            spans.append((parts[i].start, parts[found].end))
            i = found + 1
    if spans and len(text) >= 24:
        digests = [match.span() for match in _HEX_DIGEST.finditer(text)]
        spans = [s for s in spans if not any(a <= s[0] and s[1] <= b for a, b in digests)]
    return spans


def mask_card_numbers(text):
    """'my card is 4111 1111 1111 1111' -> 'my card is ****'."""
    if not isinstance(text, str) or not text:
        return text
    spans = card_spans(text)
    if not spans:
        return text
    out, done = [], 0
    for start, end in spans:
        out += [text[done:start], MASK]
        done = end
    return "".join(out) + text[done:]


def has_card_number(text) -> bool:
    return isinstance(text, str) and bool(card_spans(text))


def mask_everywhere(value: Any) -> Any:
    """Card numbers masked in every string, number and key of a JSON-like value (entities,
    slots, metadata): {"card": 4111111111111111} too."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and is_card_number(str(abs(value))):
        return MASK
    if isinstance(value, dict):
        return {mask_everywhere(key): mask_everywhere(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_everywhere(item) for item in value]
    return value
