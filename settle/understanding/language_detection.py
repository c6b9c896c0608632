"""Which language is the customer writing or speaking? Rule-based, offline, explainable.

Short or ambiguous replies ("ok", "no", "sí", "INV-1001 94110") give no answer, so they never
flip the conversation's language; an explicit request ("en español por favor") always wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Frequent function words and billing words. Words shared by several languages weigh less.
_WORDS: dict[str, str] = {
    "en": "the i my me you your to is it it's and of a an for with this that what how much "
    "want pay bill invoice owe balance please thanks thank hello hi yes yeah can could "
    "would need talk person agent stop text call remind refund due when have do don't "
    "i'm i'd am are was charged twice money back reminder reminders",
    "es": "el la los las mi mis yo me te quiero pagar factura facturas recibo cuanto cuánto "
    "debo deuda saldo por favor gracias hola buenos buenas sí si que qué es una un con "
    "para puedo hablar persona agente cobraron dinero cuándo vence está estoy tengo "
    "necesito ya no del al mensajes llamada cuenta también recordatorio recordatorios",
    "fr": "le la les je j'ai mon ma mes me tu vous veux voudrais payer facture factures "
    "combien dois solde merci bonjour allô oui non est une un avec pour c'est pas "
    "parler personne agent remboursement rembourser quand échéance mois suis ai "
    "svp s'il plaît textos messages appel compte aussi rappel rappels",
    "de": "ich die der das den dem mein meine mir mich sie wir will möchte zahlen bezahlen "
    "rechnung rechnungen wie viel schulde danke hallo guten tag ja nein ist eine ein "
    "mit für bitte nicht und zu kann können mitarbeiter mensch erstattung geld zurück "
    "wann fällig bin habe keine mehr nachrichten anruf konto auch erinnerung "
    "erinnerungen",
    "pt": "eu o os as meu minha meus me você vocês quero pagar fatura faturas conta boleto "
    "quanto devo saldo obrigado obrigada olá oi bom sim não é uma um com para posso "
    "falar pessoa atendente reembolso dinheiro quando vence estou tenho preciso já "
    "mensagens ligação também lembrete lembretes chega",
    "it": "io il lo gli le mio mia miei mi voglio vorrei pagare fattura fatture bolletta "
    "quanto devo saldo grazie ciao buongiorno salve sì no è una un uno con per non "
    "posso parlare persona operatore rimborso soldi quando scade sono ho ho bisogno "
    "già messaggi chiamata conto anche della promemoria",
}
_LETTERS = {  # letters that point to one language (or two)
    "ñ": ("es",),
    "¿": ("es",),
    "¡": ("es",),
    "ß": ("de",),
    "ä": ("de",),
    "ö": ("de",),
    "ü": ("de",),
    "ã": ("pt",),
    "õ": ("pt",),
    "ç": ("fr", "pt"),
    "ê": ("fr", "pt"),
    "à": ("fr", "it", "pt"),
    "è": ("fr", "it"),
    "ì": ("it",),
    "ò": ("it",),
    "ù": ("fr", "it"),
}
_REQUESTS = {
    "en": r"\b(in )?english\b|\binglés\b|\banglais\b|\benglisch\b|\binglês\b|\binglese\b",
    "es": r"\b(en )?espa[ñn]ol\b|\bspanish\b|\bcastellano\b|\bespagnol\b|\bspanisch\b"
    r"|\bspagnolo\b|\bespanhol\b",
    "fr": r"\b(en )?fran[çc]ais\b|\bfrench\b|\bfranc[ée]s\b|\bfranzösisch\b|\bfrancese\b",
    "de": r"\b(auf )?deutsch\b|\bgerman\b|\balem[áa]n\b|\ballemand\b|\balemão\b|\btedesco\b",
    "pt": r"\b(em )?portugu[êe]s\b|\bportuguese\b|\bportugais\b|\bportugiesisch\b|\bportoghese\b",
    "it": r"\b(in )?italiano\b|\bitalian\b|\bitalien\b|\bitalienisch\b",
}
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)

_LANGUAGES_OF: dict[str, set] = {}
for _lang, _words in _WORDS.items():
    for _word in _words.split():
        _LANGUAGES_OF.setdefault(_word, set()).add(_lang)

MIN_SCORE = 1.5


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float
    explicit: bool = False


def requested_language(text: str, supported: Iterable[str]) -> str | None:
    """'en español por favor', 'can we do this in French' -> the language asked for."""
    lowered = (text or "").lower()
    asks = re.search(
        r"\b(speak|habla|hablar|parlez|parler|sprechen|fala|falar|parla|parlare|"
        r"in|en|em|auf|por favor|please|bitte|s'il|per favore)\b",
        lowered,
    )
    for language in supported:
        pattern = _REQUESTS.get(language)
        if pattern and re.search(pattern, lowered) and (asks or len(lowered.split()) <= 2):
            return language
    return None


def detect_language(text: str, supported: Iterable[str]) -> Detection | None:
    """The language of text among supported, or None when too short or too close to call."""
    supported = tuple(supported)
    asked = requested_language(text, supported)
    if asked:
        return Detection(asked, 1.0, explicit=True)
    lowered = (text or "").lower()
    tokens = _TOKEN.findall(lowered)
    scores = {language: 0.0 for language in supported}
    for token in set(tokens):
        owners = _LANGUAGES_OF.get(token, set()) & set(supported)
        for owner in owners:
            scores[owner] += 1.0 / len(owners)
    for letter, pointed in _LETTERS.items():
        if letter in lowered:
            for owner in set(pointed) & set(supported):
                scores[owner] += 0.75 / len(pointed)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked:
        return None
    best, score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if score < MIN_SCORE or score < 2 * runner_up:
        return None
    return Detection(best, round(min(1.0, (score - runner_up) / score), 2))


# A conversation loaded as a window of its latest turns (settle_rasa/conversation_window.py)
# starts with a SessionStarted whose metadata holds, under this key, what the window left out
# and is still needed: the metadata of the session's first message. The channels drop the
# key from what customers send (settle_rasa/ingress.py).
SESSION_WINDOW = "settle_window"


def session_start_metadata(events: Iterable[tuple[str, Any]]) -> Any:
    """The metadata of the current session's first message, from a conversation's events
    as (Rasa event name, metadata) pairs, oldest first: the language the session started in
    (Rasa's own session start keeps none of it)."""
    first = None
    for name, metadata in reversed(list(events)):
        if name == "session_started":
            window = metadata.get(SESSION_WINDOW) if isinstance(metadata, dict) else None
            if isinstance(window, dict):
                return window.get("first_message")
            break
        if name == "user":
            first = metadata
    return first


# The metadata key under which the signed SMS and voice channels put the language on file
# for a number they proved (settle_rasa/channels.py, voice.py).
ON_FILE = "language_on_file"


def answering_language(
    chosen: object,
    started_with: object,
    latest: object,
    latest_proven: bool,
    supported: Sequence[str],
) -> str:
    """The language to answer in, first found of:

    * the one the customer's messages chose (the `language` slot, set by a message whose
      language is clear);
    * the one the session started in (`started_with`, its first message's metadata: the
      browser's, the phone line's, a call we placed; 'es-MX' counts as 'es');
    * the one on file for the number that sent the latest message (`latest` metadata),
      only when the channel proved that number (`latest_proven`): nothing about an account
      is told to a number that was not proven;
    * the business's first.
    """
    if isinstance(chosen, str) and chosen in supported:
        return chosen
    started = started_with.get("language") if isinstance(started_with, dict) else None
    if isinstance(started, str) and started.split("-")[0].lower() in supported:
        return started.split("-")[0].lower()
    on_file = latest.get(ON_FILE) if latest_proven and isinstance(latest, dict) else None
    if isinstance(on_file, str) and on_file in supported:
        return on_file
    return supported[0]
