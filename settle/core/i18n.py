"""Texts Settle sends outside the conversation — texts, calls, keyword replies, web buttons —
in every supported language, from settle/locales/<language>.yml.

Conversation responses live in domain.yml; tests check that both cover every language.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from babel import Locale

LOCALES = Path(__file__).resolve().parent.parent / "locales"

# Twilio <Say>/<Gather> language tags and Amazon Polly voices per language.
VOICES = {
    "en": ("en-US", "Polly.Joanna-Neural"),
    "es": ("es-US", "Polly.Lupe-Neural"),
    "fr": ("fr-CA", "Polly.Gabrielle-Neural"),
    "de": ("de-DE", "Polly.Vicki-Neural"),
    "pt": ("pt-BR", "Polly.Camila-Neural"),
    "it": ("it-IT", "Polly.Bianca-Neural"),
}


def _load_messages() -> dict[str, dict[str, str]]:
    messages = {}
    for file in sorted(LOCALES.glob("*.yml")):
        texts = dict((yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("messages") or {})
        if file.stem in VOICES:
            texts["voice_language"], texts["voice_name"] = VOICES[file.stem]
        messages[file.stem] = texts
    return messages


MESSAGES = _load_messages()

# Keywords that opt out, opt back in or ask for help, in every supported language; a whole
# message must be one of them. Carrier and Twilio keywords are in every list.
_CARRIER_OPT_OUT = ("stop", "stopall", "unsubscribe", "cancel", "end", "quit")
OPT_OUT_KEYWORDS = {
    "en": _CARRIER_OPT_OUT + ("stop all", "opt out", "optout", "revoke"),
    "es": _CARRIER_OPT_OUT + ("baja", "alto", "parar", "detener", "darme de baja"),
    "fr": _CARRIER_OPT_OUT + ("arrêt", "arret", "désabonner", "desabonner", "désabonnement"),
    "de": _CARRIER_OPT_OUT + ("stopp", "abmelden", "abbestellen", "austragen"),
    "pt": _CARRIER_OPT_OUT + ("parar", "pare", "sair", "descadastrar"),
    "it": _CARRIER_OPT_OUT + ("disiscrivi", "cancellami", "disattiva", "disiscrizione"),
}
_CARRIER_OPT_IN = ("start", "unstop", "yes", "subscribe")
OPT_IN_KEYWORDS = {
    "en": _CARRIER_OPT_IN,
    "es": _CARRIER_OPT_IN + ("alta",),
    "fr": _CARRIER_OPT_IN,
    "de": _CARRIER_OPT_IN,
    "pt": _CARRIER_OPT_IN,
    "it": _CARRIER_OPT_IN,
}
HELP_KEYWORDS = {
    "en": ("help", "info"),
    "es": ("help", "info", "ayuda"),
    "fr": ("help", "info", "aide"),
    "de": ("help", "info", "hilfe"),
    "pt": ("help", "info", "ajuda"),
    "it": ("help", "info", "aiuto"),
}


def keyword(text: str) -> tuple[str | None, str | None]:
    """('opt_out', 'es') for 'BAJA'; ('opt_out', None) for 'STOP' (any language); (None, None)."""
    word = " ".join(re.sub(r"[^\w\s]", " ", (text or "").lower()).split())
    for kind, table in (
        ("opt_out", OPT_OUT_KEYWORDS),
        ("opt_in", OPT_IN_KEYWORDS),
        ("help", HELP_KEYWORDS),
    ):
        languages = [language for language, words in table.items() if word in words]
        if languages:
            return kind, languages[0] if len(languages) == 1 else None
    return None, None


# Where a language has no variant for the business's region (there is no fr_US), the
# variant its North American speakers use: "285,00 $ US" rather than "285,00 $US".
_NEAREST_LOCALE = {
    "fr": "fr_CA",
    "pt": "pt_BR",
    "es": "es_US",
    "en": "en_US",
    "de": "de_DE",
    "it": "it_IT",
}


def locale_for(language: str, region: str = "US") -> str:
    """'en' + 'US' -> 'en_US'; 'fr' + 'US' -> 'fr_CA'; else the bare language."""
    for candidate in (f"{language}_{region}", _NEAREST_LOCALE.get(language), language):
        if not candidate:
            continue
        try:
            parsed = Locale.parse(candidate)
        except Exception:
            continue
        if parsed.territory == region or candidate != f"{language}_{region}":
            return str(parsed)
    return "en_US"


def language_name(code: str, language: str) -> str:
    """A language code ("es", "pt-BR") named in `language` by Babel ("Spanish", "espagnol")."""
    try:
        names = Locale.parse(language).languages
    except (ValueError, TypeError):
        names = Locale.parse("en").languages
    return str(names.get(code.replace("-", "_"), names.get(code.split("-")[0], code)))


def text(key: str, language: str = "en", **values: Any) -> str:
    templates = MESSAGES.get(language) or MESSAGES["en"]
    return templates[key].format(**values)


def plural(key: str, quantity: int, language: str = "en", **values: Any) -> str:
    """'invoice_count', 2, 'fr' -> '2 factures': the `<key>_<form>` text for the count's
    plural form in the language (Babel's rules: 'one', 'few', 'many', 'other'...), else
    `<key>_other`; `{count}` in it is the quantity."""
    templates = MESSAGES.get(language) or MESSAGES["en"]
    form = Locale.parse(language if language in MESSAGES else "en").plural_form(quantity)
    template = templates.get(f"{key}_{form}") or templates[f"{key}_other"]
    return template.format(**{"count": quantity, **values})


def accepted_language(header: str | None, available: Sequence[str]) -> str:
    """The first of `available` a browser's Accept-Language asks for ('es-MX,es;q=0.9' ->
    'es'), by its q-values; else the first of `available`."""
    wanted = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = tag.strip().lower().replace("_", "-").split("-")[0]
        if language and quality > 0:
            wanted.append((-quality, position, language))
    for _, _, language in sorted(wanted):
        if language in available:
            return language
    return available[0] if available else "en"
