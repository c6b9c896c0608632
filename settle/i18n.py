"""Texts Settle sends outside the conversation (SMS), in every supported language.

Conversation responses live in domain.yml; tests check both cover every language.
"""
from __future__ import annotations

from typing import Any

from babel import Locale

MESSAGES = {
    "en": {
        "payment_link": "{business}: pay invoice {invoice} ({amount}) securely here: {url} "
                        "The link works until {expires}. Reply STOP to opt out.",
        "receipt": "{business}: thank you! We received {amount} for invoice {invoice}. "
                   "Remaining balance: {balance}. Reply STOP to opt out.",
        "invoice_line": "{position}. {amount}, due {due} ({invoice})",
    },
}


def locale_for(language: str, region: str = "US") -> str:
    """'en' + 'US' -> 'en_US' when Babel knows it, else the bare language."""
    try:
        return str(Locale.parse(f"{language}_{region}"))
    except Exception:  # noqa: BLE001 - an unknown pair falls back to the language
        return language


def text(key: str, language: str = "en", **values: Any) -> str:
    templates = MESSAGES.get(language) or MESSAGES["en"]
    return templates[key].format(**values)
