"""Invoice numbers read from what a customer says or types, in the business's shapes
(settle.rules.invoice_numbers).

A number with letters ("INV-1042", "F1042") or introduced by the word ("invoice number is
1042") is unmistakable and is read anywhere in a message. A number of digits alone
("1001", "2024-0042") is not: it may be a postal code, an amount ("the 285 one") or a
phone number. So, when the business has such numbers, bare digits are read as an invoice
number only when an invoice number is what was just asked for (`asked`), and only with at
least `min_digits` digits; settle.billing.ledger.resolve_choice accepts them only when
they are exactly the number of one of the invoices offered. Whatever is read is then only a
claim: it names an invoice only if one with that number exists.

Every run of spaces has one place in each pattern (no `\\s*\\s*`), so a search is linear in
the text: "inv" and 100,000 spaces took minutes with two adjacent optional runs.
"""

from __future__ import annotations

import functools
import re

from settle.rules.invoice_numbers import InvoiceNumbers

DEFAULT = InvoiceNumbers()
_SAID = r"inv(?:oice)?\s*(?:(?:number|no\.?|#)\s*)?(?:is\s+|:\s*)?"


@functools.lru_cache(maxsize=16)
def _patterns(formats: InvoiceNumbers) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(a number with its prefix or introduced by the word, bare digits)."""
    prefix = "|".join(map(re.escape, formats.prefixes)) if formats.prefixes else "[A-Za-z]{2,4}"
    digits = r"\d{3,10}(?:-\d{1,10})?" if formats.digits_only else r"\d{3,10}"
    marked = re.compile(rf"\b(?:({prefix})-?(\d{{3,10}})|{_SAID}({digits}))\b", re.IGNORECASE)
    bare = re.compile(rf"(?<![\w-])(\d{{{formats.min_digits},10}}(?:-\d{{1,10}})?)(?![\w-])")
    return marked, bare


def find(text: str, formats: InvoiceNumbers = DEFAULT, asked: bool = False) -> str | None:
    """'my invoice is inv 1042' -> 'INV-1042'; with digits-only numbers, 'invoice 1001' ->
    '1001', and, when an invoice number was asked for, '2024-0042' -> '2024-0042'."""
    found = span(text, formats, asked)
    return found[0] if found else None


def span(
    text: str, formats: InvoiceNumbers = DEFAULT, asked: bool = False
) -> tuple[str, int, int] | None:
    """The invoice number in text and where it was said, or None (see `find`)."""
    text = text or ""
    marked, bare = _patterns(formats)
    match = marked.search(text)
    if match:
        if match.group(2):
            return f"{match.group(1).upper()}-{match.group(2)}", match.start(), match.end()
        said = match.group(3)
        number = said if formats.digits_only else f"{formats.spoken_prefix}-{said}"
        return number, match.start(), match.end()
    if formats.digits_only and asked:
        match = bare.search(text)
        if match:
            return match.group(1), match.start(), match.end()
    return None


def without_numbers(text: str, formats: InvoiceNumbers = DEFAULT) -> str:
    """The text with every unmistakable invoice number blanked out."""
    return _patterns(formats)[0].sub(" ", text or "")


def key(invoice_number: str) -> str:
    """ "INV-1042", "inv 1042" -> "INV1042"; "2024-0042" -> "20240042": one spelling."""
    return re.sub(r"[^A-Za-z0-9]", "", invoice_number or "").upper()
