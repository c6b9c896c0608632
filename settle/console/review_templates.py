"""The review pages' HTML: the conversation list with its filters, and one sender's turns
with a form on each message to label its intent. Texts arrive masked; every value is
escaped here and every form carries the CSRF token. Page strings are in the operator's
language (settle.console.words)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import quote, urlencode

from settle.console.sessions import SignedIn
from settle.console.templates import csrf_field, page, t
from settle.console.words import data_name, number, page_text
from settle.core.i18n import language_name
from settle.review.transcripts import Filters, Reviewed, Turn


def conversation_list(
    who: SignedIn,
    shown: Sequence[Reviewed],
    filters: Filters,
    languages: Sequence[str],
    at: int,
    more: bool,
    store: str,
    lang: str,
) -> str:
    warning = ""
    if store != "read":
        warning = f"<p class=error role=alert>{t('review.store_warning', lang, state=store)}</p>"
    rows = "".join(_row(reviewed, filters.below, lang) for reviewed in shown)
    names = ("began", "sender", "channel", "language", "messages", "fallbacks")
    below = t("review.below", lang, threshold=number(filters.below, lang))
    table = (
        "<table><tr>"
        + "".join(f"<th>{t(f'review.{name}', lang)}" for name in names)
        + f"<th>{below}<th>{t('review.handoff', lang)}</tr>{rows}</table>"
        if shown
        else f"<p>{t('review.empty', lang)}</p>"
    )
    pages = ""
    if at > 1:
        pages += f"<a href='{_query(filters, at - 1)}'>{t('review.newer', lang)}</a> "
    if more:
        pages += f"<a href='{_query(filters, at + 1)}'>{t('review.older', lang)}</a>"
    return page(
        page_text("review.title", lang),
        warning + _filter_form(filters, languages, lang) + table + f"<p>{pages}</p>"
        f"<p><a href=/console>{t('common.back', lang)}</a></p>",
        lang,
        who,
    )


def _row(reviewed: Reviewed, below: float, lang: str) -> str:
    conversation = reviewed.conversation
    link = "/console/conversations/" + quote(conversation.sender_id, safe="")
    messages = sum(turn.kind == "user" for turn in reviewed.turns)
    cells = (
        data_name("channel", conversation.channel, lang),
        language_name(conversation.language, lang),
        str(messages),
        str(reviewed.fallbacks),
        str(reviewed.low_confidence(below)),
        page_text("common.yes", lang) if reviewed.handed_off else "",
    )
    return (
        f"<tr><td>{conversation.began_at.strftime('%Y-%m-%d %H:%M UTC')}"
        f"<td><a href='{escape(link)}'>{escape(conversation.sender_id)}</a>"
        + "".join(f"<td>{escape(cell)}" for cell in cells)
        + "</tr>"
    )


def _filter_form(filters: Filters, languages: Sequence[str], lang: str) -> str:
    def box(name: str, key: str, on: bool) -> str:
        checked = " checked" if on else ""
        box = f"<input type=checkbox name={name} value=1{checked}>"
        return f"<label class=inline>{box} {t(key, lang)}</label> "

    options = f"<option value=''>{t('common.any', lang)}</option>" + "".join(
        f"<option value='{escape(code)}'{' selected' if code == filters.language else ''}>"
        f"{escape(language_name(code, lang))}</option>"
        for code in languages
    )
    return (
        "<form method=get action=/console/conversations>"
        + box("fallback", "review.fallback_turns", filters.fallback)
        + box("low", "review.low_confidence", filters.low_confidence)
        + f"<input name=below size=4 value='{filters.below:g}' "
        f"aria-label='{t('review.threshold', lang)}'> "
        + box("handoff", "review.handoffs", filters.handoff)
        + f"<label class=inline>{t('review.language', lang)} <select name=language>{options}"
        f"</select></label> <button type=submit>{t('common.show', lang)}</button></form>"
    )


def _query(filters: Filters, number: int) -> str:
    args = {"fallback": "1" if filters.fallback else "", "handoff": "1" if filters.handoff else ""}
    args |= {"low": "1" if filters.low_confidence else "", "below": f"{filters.below:g}"}
    args |= {"language": filters.language, "page": str(number)}
    return escape("/console/conversations?" + urlencode({k: v for k, v in args.items() if v}))


def transcript(
    who: SignedIn,
    sender_id: str,
    found: Sequence[Reviewed],
    given: Mapping[int, str],
    intents: Sequence[str],
    lang: str,
    error: str | None = None,
    notice: str | None = None,
) -> str:
    parts = []
    names = ("when", "who", "message", "intent", "confidence", "label")
    heads = "".join(f"<th>{t(f'review.{name}', lang)}" for name in names)
    for reviewed in found:
        conversation = reviewed.conversation
        handed_off = f" · {t('review.handed_off', lang)}" if reviewed.handed_off else ""
        parts.append(
            f"<h2>{conversation.began_at.strftime('%Y-%m-%d %H:%M UTC')} · "
            f"{escape(data_name('channel', conversation.channel, lang))} · "
            f"{escape(language_name(conversation.language, lang))}"
            f"{handed_off}</h2><table><tr>{heads}</tr>"
            + "".join(
                _turn(who, sender_id, turn, given.get(turn.event_id), intents, lang)
                for turn in reviewed.turns
            )
            + "</table>"
        )
    return page(
        page_text("review.conversation", lang, sender=sender_id),
        (f"<p class=notice role=status>{escape(notice)}</p>" if notice else "")
        + (f"<p class=error role=alert>{escape(error)}</p>" if error else "")
        + "".join(parts)
        + f"<p><a href=/console/conversations>{t('review.all', lang)}</a></p>",
        lang,
        who,
    )


def _turn(
    who: SignedIn, sender_id: str, turn: Turn, label: str | None, intents: Sequence[str], lang: str
) -> str:
    when = turn.at.strftime("%H:%M:%S")
    if turn.kind == "bot":
        bot = t("review.bot", lang)
        return f"<tr><td>{when}<td>{bot}<td>{escape(turn.text)}<td><td><td></tr>"
    confidence = number(turn.confidence, lang, "0.00") if turn.confidence is not None else ""
    fallback = f" ({t('review.fallback', lang)})" if turn.fallback else ""
    intent = escape(turn.intent or "") + fallback
    options = "".join(
        f"<option{' selected' if name == (label or turn.intent) else ''}>{escape(name)}</option>"
        for name in intents
    )
    action = f"/console/conversations/{quote(sender_id, safe='')}/turns/{turn.event_id}/label"
    form = (
        f"<form method=post action='{escape(action)}'>{csrf_field(who)}"
        f"<select name=intent aria-label='{t('review.correct_intent', lang)}'>{options}</select> "
        f"<button type=submit>{t('review.label', lang)}</button></form>"
    )
    labelled = (
        f"<p data-label='{escape(label)}'>{t('review.labelled', lang, intent=label)}</p>"
        if label
        else ""
    )
    return (
        f"<tr><td>{when}<td>{t('review.customer', lang)}<td>{escape(turn.text)}"
        f"<td data-intent>{intent}"
        f"<td>{confidence}<td>{labelled}{form}</tr>"
    )


def refused(who: SignedIn, message: str, lang: str) -> str:
    title = page_text("review.title", lang)
    return page(title, f"<p class=error role=alert>{escape(message)}</p>", lang, who)
