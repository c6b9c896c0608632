"""Is this message an opt-out? Per-language rules the NLU model's guess is checked against.

An opt-out is a safety check, not only an intent: "no more reminders" names the word for
reminder, and a model trained on reminder requests often hears a request. The rules give
`CERTAIN` for clear phrasing ("stop texting me", "no más recordatorios", "lass mich in
Ruhe"), `UNSURE` for a wish to hear less that may or may not be an opt-out ("too many
reminders": the assistant then asks), and None otherwise — including a real reminder
request ("remind me Friday") and a negation ("don't stop reminding me").

Matching is on folded text (lower case, no accents, punctuation as spaces), with the key
words tolerant of a typo ("remnders", "recordatorois").
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal

CERTAIN: Literal["certain"] = "certain"
UNSURE: Literal["unsure"] = "unsure"
KEEP: Literal["keep"] = "keep"  # asks us to go on: never an opt-out (wants_to_keep)
Outcome = Literal["certain", "unsure"]


@dataclass(frozen=True)
class Rules:
    """One language's phrasing: `keep` (wants to go on hearing from us: never an opt-out),
    `certain` and `unsure`, as regular expressions over folded text; `words`, the key words
    a typo is corrected to."""

    keep: tuple[str, ...]
    certain: tuple[str, ...]
    unsure: tuple[str, ...]
    words: str


_EN_NOT = r"(?:don t|dont|do not|never)"
_EN_WHAT = (
    r"(?:remind\w*|messag\w*|msgs?|text\w*|call\w*|phon\w*|contact\w*|sms|e ?mails?"
    r"|bugging|harass\w*)"
)

RULES: dict[str, Rules] = {
    "en": Rules(
        keep=(
            rf"\b{_EN_NOT} stop {_EN_WHAT}",
            r"\bkeep (?:on )?(?:remind|messag|text|call|send|contact)\w*",
            rf"\b{_EN_NOT} (?:want to |wanna )?(?:unsubscribe|opt out)",
        ),
        certain=(
            rf"\b(?:stop|quit|cease) (?:(?!and\b|but\b|then\b|or\b)\w+ ){{0,2}}{_EN_WHAT}",
            rf"\bno more {_EN_WHAT}",
            rf"\b{_EN_NOT} (?:ever )?(?:call|text|message|contact|phone|remind|email) me"
            r"(?: \w+){0,2} (?:again|anymore|any more|ever)\b",
            rf"\bnever {_EN_WHAT} me again\b",
            r"\bunsubscribe\b|\bopt me out\b|\bopt out\b|\bleave me alone\b",
            r"\b(?:take|remove|delete) (?:me|my (?:number|no|phone)) (?:off|from)\b",
            r"\bremove my (?:number|no|phone)? ?from\b|^\W*(?:quit|stop all|stopall)\W*$",
            rf"\b{_EN_NOT} want (?:any more|anymore|no more|any further) {_EN_WHAT}",
            rf"\b{_EN_NOT} want (?:any |these |those |your )?{_EN_WHAT}"
            r" (?:anymore|any more|ever again)\b",
        ),
        unsure=(
            rf"\btoo many {_EN_WHAT}",
            rf"\b(?:fewer|less) {_EN_WHAT}",
            r"\b(?:remind|text|call|message|contact) me less\b|\bless often\b",
            rf"\b{_EN_NOT} want (?:any )?{_EN_WHAT}",
            r"^\W*stop\W*$",
        ),
        words="reminder reminders reminding remind messages message texting texts calling "
        "calls contacting contact unsubscribe stop anymore again",
    ),
    "es": Rules(
        keep=(
            r"\bno (?:dejen|deje|paren|pare|dejes) de (?:recordar|mandar|enviar|llamar|escribir)",
            r"\bsigan (?:recordandome|mandandome|enviandome|llamandome|escribiendome)",
            r"\bno quiero (?:darme de baja|cancelar la suscripcion|desuscribirme)",
        ),
        certain=(
            r"\b(?:no mas|basta de|ya no quiero|nada de) (?:\w+ )?(?:recordatorio|mensaje|llamada"
            r"|sms|texto|correo|aviso)s?\b",
            r"\b(?:dejen|deje|deja|dejar|paren|pare|parar|para) de (?:llamar|mandar|enviar"
            r"|escribir|contactar|molestar|recordar)",
            r"\bno me (?:llamen|llame|escriban|escriba|manden|mande|envien|envie|contacten"
            r"|contacte|molesten|moleste)(?: \w+)? (?:mas|nunca)\b",
            r"\bno me vuelvan a (?:llamar|escribir|contactar|mandar|enviar)",
            r"\bya no me (?:llamen|llame|escriban|manden|mande|envien|contacten|molesten)\b",
            r"\b(?:saquenme|sacame|quitenme|borren|borra|eliminen) (?:\w+ )?(?:de (?:la|su|sus)"
            r" (?:lista|sistema|base)|mi (?:numero|telefono|contacto))",
            r"\b(?:basta|no mas) de msjs?\b|^\W*stop ya\W*$",
            r"\bno quiero mas (?:\w+ )?(?:recordatorio|mensaje|llamada|sms|aviso)s?\b",
            r"\bdar(?:me)? de baja\b|\bdesuscrib\w*|\bdejenme en paz\b|\bbaja\b",
        ),
        unsure=(
            r"\bdemasiad[oa]s (?:recordatorio|mensaje|llamada|aviso)s\b",
            r"\b(?:menos|no tant[oa]s) (?:recordatorio|mensaje|llamada|aviso)s\b",
            r"\brecuerd\w* menos\b|\bmenos seguido\b|\bcon menos frecuencia\b",
            r"\bno quiero (?:\w+ )?(?:recordatorio|mensaje|llamada|aviso)s?\b",
        ),
        words="recordatorios recordatorio mensajes mensaje llamadas llamada llamen "
        "escriban manden molesten contactar desuscribir recordando",
    ),
    "fr": Rules(
        keep=(
            r"\bn ?arretez pas de (?:me )?(?:rappeler|relancer|envoyer|appeler|ecrire)",
            r"\bcontinuez (?:a|de) (?:me )?(?:rappeler|relancer|envoyer|appeler|ecrire)",
            r"\bje ne veux pas (?:me )?(?:desabonner|desinscrire)",
        ),
        certain=(
            r"\b(?:plus de|arretez|arreter|cessez|stop|assez de|fini les) (?:\w+ )?(?:rappel"
            r"|message|appel|sms|texto|relance|courriel|mail)s?\b",
            r"\bne m ?(?:appelez|appelle|ecrivez|envoyez|contactez|relancez|rappelez) plus\b",
            r"\bne (?:me )?(?:plus|jamais) (?:m |me )?"
            r"(?:appeler|contacter|ecrire|relancer|rappeler)",
            r"\b(?:arretez|arreter|cessez) de (?:m |me )?(?:appeler|ecrire|envoyer|contacter"
            r"|relancer|harceler|rappeler)",
            r"\blaissez moi tranquille\b|\bfoutez moi la paix\b|\bdesabonn\w*|\bdesinscri\w*",
            r"\bje ne veux plus (?:\w+ ){0,2}(?:rappel|message|appel|sms|relance|texto)s?\b",
            r"\bje ne veux plus (?:etre )?(?:appele|contacte|relance)",
            r"\bje veux plus (?:\w+ ){0,3}(?:rappel|message|appel|sms|relance|texto)s?\b",
            r"\bje veux plus que vous m ?(?:appeliez|ecriviez|contactiez|relanciez)",
            r"\b(?:retirez|enlevez|supprimez|effacez) (?:moi|mon numero|ce numero)\b",
            r"\b(?:arrete|arretez) de me (?:texter|harceler|spammer)",
            r"^\W*(?:ne )?me (?:contactez|appelez|ecrivez|relancez) plus\b",
        ),
        unsure=(
            r"\btrop de (?:rappel|message|appel|relance|sms|texto)s?\b",
            r"\bmoins de (?:rappel|message|appel|relance|sms|texto)s?\b",
            r"\b(?:rappelez|relancez|appelez|contactez) moi moins\b|\bmoins souvent\b",
            r"\bje ne veux pas (?:de |d )?(?:rappel|message|appel|relance|sms)s?\b",
        ),
        words="rappels rappel messages appels relances arretez cessez appelez ecrivez "
        "contactez desabonner desinscrire tranquille",
    ),
    "de": Rules(
        keep=(
            r"\b(?:horen sie|hort|hor|hoeren sie) nicht auf\b",
            r"\b(?:erinnern sie mich|schreiben sie mir|rufen sie mich) (?:\w+ )?weiter",
            r"\bnicht (?:abmelden|abbestellen)\b",
        ),
        certain=(
            r"\bkeine (?:weiteren )?(?:erinnerung|nachricht|anruf|sms|mahnung|mail|e mail)"
            r"\w* mehr\b",
            r"\bkeine weiteren (?:erinnerung|nachricht|anruf|sms|mahnung|mail)\w*",
            r"\b(?:schluss|stop|stopp|aufhoren|aufhoeren) mit (?:den |diesen |ihren )?"
            r"(?:erinnerung|nachricht|anruf|sms|mahnung|mail)\w*",
            r"\b(?:rufen sie|ruf|ruft|schreiben sie|schreib|kontaktieren sie|erinnern sie) "
            r"mich nicht mehr\b|\b(?:rufen sie|ruf|ruft) mich nie wieder an\b",
            r"\bnicht mehr (?:anrufen|kontaktieren|schreiben|erinnern|anschreiben)\b",
            r"\b(?:schreiben sie|schreib|schickt|schicken sie) mir (?:\w+ )?nicht mehr\b",
            r"\b(?:kontaktieren|rufen|schreiben) sie mich (?:bitte )?nie wieder\b",
            r"\b(?:nehmen sie|nehmt) mich (?:von|aus) (?:ihrer|eurer|der) liste\b",
            r"\b(?:loschen sie|loscht) meine (?:nummer|telefonnummer|daten)\b",
            r"^\W*stop+ alle\W*$",
            r"\b(?:will|mochte) abgemeldet werden\b|\baus der liste (?:loschen|streichen)\b",
            r"\blass(?:en sie|t)? mich in ruhe\b|\babmelden\b|\babbestellen\b|\baustragen\b",
            r"\b(?:hort|horen sie|hor) auf (?:mich |mir )?(?:anzurufen|zu schreiben"
            r"|zu kontaktieren|zu erinnern|zu nerven|(?:\w+ )?zu schicken)",
        ),
        unsure=(
            r"\bzu viele (?:erinnerung|nachricht|anruf|sms|mahnung|mail)\w*",
            r"\bweniger (?:erinnerung|nachricht|anruf|sms|mahnung|mail)\w*|\bseltener\b",
            r"\b(?:will|mochte|wollen|brauche) keine (?:erinnerung|nachricht|anruf|sms|mahnung)\w*",
            r"^(?:bitte )?keine (?:erinnerung|nachricht|anruf|mahnung)\w*"
            r"|\bkeine (?:erinnerung|nachricht|anruf|mahnung)\w* (?:per|uber|via|am|als)\b",
        ),
        words="erinnerungen erinnerung nachrichten anrufe mahnungen kontaktieren "
        "abmelden abbestellen austragen aufhoren anzurufen schreiben",
    ),
    "it": Rules(
        keep=(
            r"\bnon smett\w* di (?:ricordar|mandar|inviar|chiamar|scriver)",
            r"\bcontinuate a (?:ricordar|mandar|inviar|chiamar|scriver)",
            r"\bnon voglio (?:disiscrivermi|cancellarmi)",
        ),
        certain=(
            r"\b(?:basta|niente piu|stop|basta con) (?:\w+ )?(?:promemoria|messaggi|chiamate"
            r"|sms|solleciti|telefonate|email)\b",
            r"\bsmett\w* di (?:chiamar|scriver|mandar|inviar|contattar|disturbar|ricordar)",
            r"\bnon (?:mi )?(?:chiamate|chiamatemi|scrivetemi|scrivete|contattate|contattatemi"
            r"|mandate|telefonate|disturbate|cercate) piu\b",
            r"\blasciatemi in pace\b|\bdisiscriv\w*|\bcancellatemi\b",
            r"\bnon (?:contattatemi|mandatemi|scrivetemi|chiamatemi|cercatemi) (?:\w+ )?"
            r"(?:mai )?piu\b",
            r"\b(?:toglietemi|rimuovetemi)\b|\bcancellate il mio (?:numero|contatto)\b",
            r"\bnon voglio piu (?:\w+ )?(?:promemoria|messaggi|chiamate|sms|solleciti|telefonate)",
            r"\bnon voglio (?:\w+ )?(?:promemoria|messaggi|chiamate|sms|solleciti) mai piu\b",
        ),
        unsure=(
            r"\btropp[ie] (?:promemoria|messaggi|chiamate|sms|solleciti|telefonate)\b",
            r"\bmeno (?:promemoria|messaggi|chiamate|sms|solleciti|spesso)\b",
            r"\bnon voglio (?:\w+ )?(?:promemoria|messaggi|chiamate|solleciti)\b",
        ),
        words="promemoria messaggi chiamate solleciti telefonate chiamatemi scrivetemi "
        "smettete disiscrivere lasciatemi",
    ),
    "pt": Rules(
        keep=(
            r"\bnao (?:parem|pare|para) de (?:me )?(?:lembrar|mandar|enviar|ligar|escrever)",
            r"\bcontinuem (?:a |me )?(?:lembrar|mandar|enviar|ligar|escrever)",
            r"\bnao quero (?:me )?(?:descadastrar|cancelar a inscricao)",
        ),
        certain=(
            r"\b(?:chega|basta|cansei) de (?:\w+ )?(?:lembrete|mensage|ligac|ligaco|sms"
            r"|cobranc|email|torpedo)",
            r"\b(?:parem|pare|para|parar) de (?:me )?(?:ligar|mandar|enviar|contatar|cobrar"
            r"|incomodar|lembrar|escrever)",
            r"\bnao me (?:liguem|ligue|mandem|mande|enviem|envie|contatem|contate|incomodem"
            r"|procurem|cobrem)(?: \w+)? mais\b",
            r"\bnao quero mais (?:\w+ )?(?:lembrete|mensage|ligac|ligaco|sms|cobranc|email)",
            r"\bdescadastr\w*|\bme tir\w* da lista\b|\bme deixem em paz\b",
            r"\bnao me (?:contactem|contatem|contacte) mais\b",
            r"\b(?:para|parem|pare) com (?:os|as|esses|essas) (?:sms|mensagens|lembretes|ligacoes)",
            r"\b(?:apaguem|apague|tirem|tira|removam) (?:o )?meu numero\b",
            r"\bsair da lista\b|^\W*parar (?:as )?(?:mensagens|lembretes|ligacoes|sms)\W*$",
        ),
        unsure=(
            r"\b(?:lembrete|mensage|ligaco|ligac)\w* demais\b",
            r"\bmuit[oa]s (?:lembrete|mensage|ligaco|ligac|cobranc)",
            r"\bmenos (?:lembrete|mensage|ligaco|ligac|cobranc)",
            r"\bnao quero (?:\w+ )?(?:lembrete|mensage|ligaco|ligac)",
        ),
        words="lembretes lembrete mensagens mensagem ligacoes ligacao liguem mandem "
        "descadastrar cobrancas",
    ),
}

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})


def fold(text: str) -> str:
    """Lower case, no accents (ß as ss), punctuation and apostrophes as single spaces."""
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


@cache
def _vocabulary(language: str) -> tuple[str, ...]:
    return tuple(RULES[language].words.split())


def _corrected(text: str, language: str) -> str:
    """`text` (folded) with a long word one typo away from a key word spelled right (same
    first letter, about the same length: "melden" never becomes "abmelden")."""
    words = _vocabulary(language)
    out = []
    for token in text.split():
        if len(token) >= 5 and token not in words:
            near = [w for w in words if w[0] == token[0] and abs(len(w) - len(token)) <= 1]
            close = difflib.get_close_matches(token, near, n=1, cutoff=0.85)
            token = close[0] if close else token
        out.append(token)
    return " ".join(out)


def _matches(patterns: Iterable[str], text: str) -> bool:
    return any(re.search(pattern, text) for pattern in patterns)


def check(text: str, language: str | None = None) -> Outcome | None:
    """CERTAIN, UNSURE or None for `text` in `language` (its rules, and English's: "STOP"
    and "unsubscribe" are understood everywhere); every language's when it is not known."""
    found = _judge(text, language)
    return found if found == CERTAIN or found == UNSURE else None


def wants_to_keep(text: str, language: str | None = None) -> bool:
    """Does `text` ask us to go on ("don't stop reminding me", "sigan mandándome mensajes")?
    Such a message names stopping: a model may read it as an opt-out."""
    return _judge(text, language) == KEEP


def _judge(text: str, language: str | None) -> Outcome | Literal["keep"] | None:
    if language in RULES:
        languages = [language] if language == "en" else [language, "en"]
    else:
        languages = list(RULES)
    folded = fold(text)
    # As written and with typos corrected: a correction may only add a match.
    texts = [(lang, t) for lang in languages for t in {folded, _corrected(folded, lang)}]
    if any(_matches(RULES[lang].keep, t) for lang, t in texts):
        return KEEP
    if any(_matches(RULES[lang].certain, t) for lang, t in texts):
        return CERTAIN
    if any(_matches(RULES[lang].unsure, t) for lang, t in texts):
        return UNSURE
    return None
