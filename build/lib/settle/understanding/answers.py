"""What a customer's free-text answer means, in every supported language: why they want a
refund, and how many installments they ask for.

Rule-based on purpose: these answers steer money, so the reading must be predictable and
testable word by word; the NLU model only decides which question is being answered.
"""

from __future__ import annotations

import re

from text_to_num import alpha2digit

from settle.billing.ledger import month_numbers

# Refund reasons, as the refund policy names them (settle.yml policy.refunds.reasons).
_REASON_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "duplicate": {
        "en": (
            "twice",
            "two times",
            "double charged",
            "charged double",
            "double charge",
            "double billed",
            "duplicate",
            "same charge",
            "two charges",
            "2 charges",
            "2x",
        ),
        "es": ("dos veces", "doble", "duplicado", "duplicada", "cobro repetido", "repetido"),
        "fr": ("deux fois", "en double", "double", "doublon", "prélevé deux", "débité deux"),
        "de": ("zweimal", "doppelt", "zwei mal", "zweifach", "doppelbuchung"),
        "pt": ("duas vezes", "em dobro", "duplicado", "duplicada", "cobrança dupla", "dobrado"),
        "it": ("due volte", "doppio", "doppia", "duplicato", "duplicata", "addebitato due"),
    },
    "overcharge": {
        "en": (
            "too much",
            "overcharged",
            "over charged",
            "more than",
            "wrong amount",
            "extra",
            "higher than",
            "should have been",
            "quoted",
        ),
        "es": (
            "de más",
            "de mas",
            "demasiado",
            "monto equivocado",
            "cantidad equivocada",
            "más de lo",
            "mas de lo",
            "cobraron más",
            "cobraron mas",
            "presupuesto",
        ),
        "fr": (
            "trop",
            "montant erroné",
            "mauvais montant",
            "plus que prévu",
            "surfactur",
            "plus cher",
            "devis",
        ),
        "de": (
            "zu viel",
            "zuviel",
            "falscher betrag",
            "mehr als",
            "überhöht",
            "zu hoch",
            "angebot",
        ),
        "pt": (
            "a mais",
            "demais",
            "valor errado",
            "mais do que",
            "cobrança maior",
            "orçamento",
            "orcamento",
        ),
        "it": (
            "troppo",
            "in più",
            "in piu",
            "importo sbagliato",
            "più del",
            "piu del",
            "preventivo",
        ),
    },
    "service_not_provided": {
        "en": (
            "never came",
            "never showed",
            "didn't show",
            "did not show",
            "no show",
            "not done",
            "wasn't done",
            "was not done",
            "never done",
            "didn't do",
            "did not do",
            "never did",
            "not finished",
            "didn't finish",
            "never fixed",
            "not fixed",
            "didn't fix",
            "nobody came",
            "no one came",
        ),
        "es": (
            "nunca vino",
            "no vino",
            "no vinieron",
            "no llegó",
            "no llego",
            "no hicieron",
            "no se hizo",
            "no terminaron",
            "no arreglaron",
            "nadie vino",
            "no se presentó",
        ),
        "fr": (
            "jamais venu",
            "pas venu",
            "jamais passé",
            "pas fait",
            "pas été fait",
            "jamais fait",
            "pas terminé",
            "pas réparé",
            "personne n'est venu",
            "personne est venu",
        ),
        "de": (
            "nie gekommen",
            "nicht gekommen",
            "nicht erschienen",
            "nicht gemacht",
            "nicht erledigt",
            "nie gemacht",
            "nicht repariert",
            "nicht fertig",
            "niemand kam",
            "keiner kam",
            "niemand ist gekommen",
        ),
        "pt": (
            "nunca veio",
            "não veio",
            "nao veio",
            "não vieram",
            "nao vieram",
            "não fizeram",
            "nao fizeram",
            "não foi feito",
            "nao foi feito",
            "não consertaram",
            "ninguém veio",
            "ninguem veio",
        ),
        "it": (
            "mai venuto",
            "non è venuto",
            "non e venuto",
            "non sono venuti",
            "non fatto",
            "non è stato fatto",
            "non hanno fatto",
            "non riparato",
            "non hanno finito",
            "nessuno è venuto",
            "nessuno e venuto",
        ),
    },
    "cancelled": {
        "en": ("cancel", "canceled", "cancelled", "called off"),
        "es": ("cancelé", "cancele", "cancelado", "cancelada", "cancelamos", "anulé"),
        "fr": ("annulé", "annule", "annulée", "annulation"),
        "de": ("storniert", "abgesagt", "storno", "gekündigt"),
        "pt": ("cancelei", "cancelado", "cancelada", "cancelamos"),
        "it": ("annullato", "annullata", "disdetto", "disdetta", "cancellato"),
    },
}

_FEWER = {
    "en": r"fewer|less|shorter",
    "es": r"menos",
    "fr": r"moins",
    "de": r"weniger|kürzer",
    "pt": r"menos",
    "it": r"meno",
}
_MORE = {
    "en": r"more|longer",
    "es": r"más|mas",
    "fr": r"plus|davantage",
    "de": r"mehr|länger",
    "pt": r"mais",
    "it": r"più|piu",
}

MAX_INSTALLMENTS_HEARD = 36  # a bigger number is an amount or a date, not a count


def refund_reason(text: str, language: str = "en") -> str | None:
    """The refund reason the customer gives, as the policy names it, or None if unclear.

    "You charged me twice" -> "duplicate", "cobraron de más" -> "overcharge",
    "le technicien n'est jamais venu" -> "service_not_provided".
    """
    said = (text or "").lower().replace("’", "'")
    for reason, words in _REASON_WORDS.items():
        for phrase in words.get(language, ()) + words["en"]:
            if re.search(rf"(?<!\w){re.escape(phrase)}", said):
                return reason
    return None


def installment_request(text: str, language: str = "en") -> tuple[str, int] | None:
    """How many installments the customer asks for: ("count", n), ("fewer", 0), ("more", 0),
    or None when the answer names no number. Number words count: "six months", "en trois fois".
    """
    said = (text or "").lower()
    try:
        spoken = alpha2digit(said, language if language in _FEWER else "en")
    except Exception:
        spoken = said
    months = "|".join(
        sorted((re.escape(m) for m in month_numbers(language)), key=len, reverse=True)
    )
    # "March 3", "3 de marzo": a date, not a count. The day starts a word (\b): from inside
    # a run of digits `\d{1,2}\w*` would be tried at every position, quadratic in the run.
    spoken = re.sub(
        rf"\b({months})\.?\s+\d{{1,2}}\w*|\b\d{{1,2}}\w*\.?\s+(?:of\s+|de\s+|di\s+)?({months})\b",
        " ",
        spoken,
    )
    for match in re.finditer(r"(?<![\d$€.,:/-])(\d{1,2})(?![\d.,:/])", spoken):
        number = int(match.group(1))
        if 1 <= number <= MAX_INSTALLMENTS_HEARD:
            return "count", number
    words = {"en": {"two": 2, "three": 3, "four": 4, "six": 6}}.get(language, {})
    for word, number in words.items():
        if re.search(rf"\b{word}\b", said):
            return "count", number
    if re.search(rf"\b({_FEWER.get(language, _FEWER['en'])})\b", said):
        return "fewer", 0
    if re.search(rf"\b({_MORE.get(language, _MORE['en'])})\b", said):
        return "more", 0
    return None
