"""The review pages' HTML: the conversation list with its filters, and one sender's turns
with a form on each message to label its intent. Texts arrive masked; every value is
escaped here and every form carries the CSRF token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import quote, urlencode

from settle.console.sessions import SignedIn
from settle.console.templates import csrf_field, page
from settle.review.transcripts import Filters, Reviewed, Turn

TITLE = "Conversations"


def conversation_list(
    who: SignedIn,
    shown: Sequence[Reviewed],
    filters: Filters,
    languages: Sequence[str],
    number: int,
    more: bool,
    store: str,
) -> str:
    warning = ""
    if store != "read":
        warning = (
            f"<p class=error role=alert>The conversation store is {escape(store)} "
            "(TRACKER_DATABASE_URL).</p>"
        )
    rows = "".join(_row(reviewed, filters.below) for reviewed in shown)
    table = (
        "<table><tr><th>Began<th>Sender<th>Channel<th>Language<th>Messages<th>Fallbacks"
        f"<th>Below {filters.below:g}<th>Hand-off</tr>{rows}</table>"
        if shown
        else "<p>No conversation in the last 30 days matches.</p>"
    )
    pages = ""
    if number > 1:
        pages += f"<a href='{_query(filters, number - 1)}'>Newer</a> "
    if more:
        pages += f"<a href='{_query(filters, number + 1)}'>Older</a>"
    return page(
        TITLE,
        warning + _filter_form(filters, languages) + table + f"<p>{pages}</p>"
        "<p><a href=/console>Back</a></p>",
        who,
    )


def _row(reviewed: Reviewed, below: float) -> str:
    conversation = reviewed.conversation
    link = "/console/conversations/" + quote(conversation.sender_id, safe="")
    messages = sum(turn.kind == "user" for turn in reviewed.turns)
    cells = (
        conversation.channel,
        conversation.language,
        str(messages),
        str(reviewed.fallbacks),
        str(reviewed.low_confidence(below)),
        "yes" if reviewed.handed_off else "",
    )
    return (
        f"<tr><td>{conversation.began_at.strftime('%Y-%m-%d %H:%M UTC')}"
        f"<td><a href='{escape(link)}'>{escape(conversation.sender_id)}</a>"
        + "".join(f"<td>{escape(cell)}" for cell in cells)
        + "</tr>"
    )


def _filter_form(filters: Filters, languages: Sequence[str]) -> str:
    def box(name: str, label: str, on: bool) -> str:
        checked = " checked" if on else ""
        box = f"<input type=checkbox name={name} value=1{checked}>"
        return f"<label class=inline>{box} {label}</label> "

    options = "<option value=''>any</option>" + "".join(
        f"<option{' selected' if code == filters.language else ''}>{escape(code)}</option>"
        for code in languages
    )
    return (
        "<form method=get action=/console/conversations>"
        + box("fallback", "fallback turns", filters.fallback)
        + box("low", "low confidence, below", filters.low_confidence)
        + f"<input name=below size=4 value='{filters.below:g}' aria-label='threshold'> "
        + box("handoff", "hand-offs", filters.handoff)
        + f"<label class=inline>Language <select name=language>{options}</select></label> "
        "<button type=submit>Show</button></form>"
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
    error: str | None = None,
    notice: str | None = None,
) -> str:
    parts = []
    for reviewed in found:
        conversation = reviewed.conversation
        parts.append(
            f"<h2>{conversation.began_at.strftime('%Y-%m-%d %H:%M UTC')} · "
            f"{escape(conversation.channel)} · {escape(conversation.language)}"
            f"{' · handed off' if reviewed.handed_off else ''}</h2><table>"
            "<tr><th>When<th>Who<th>Message<th>Intent<th>Confidence<th>Label</tr>"
            + "".join(
                _turn(who, sender_id, turn, given.get(turn.event_id), intents)
                for turn in reviewed.turns
            )
            + "</table>"
        )
    return page(
        f"Conversation {sender_id}",
        (f"<p class=notice role=status>{escape(notice)}</p>" if notice else "")
        + (f"<p class=error role=alert>{escape(error)}</p>" if error else "")
        + "".join(parts)
        + "<p><a href=/console/conversations>All conversations</a></p>",
        who,
    )


def _turn(
    who: SignedIn, sender_id: str, turn: Turn, label: str | None, intents: Sequence[str]
) -> str:
    when = turn.at.strftime("%H:%M:%S")
    if turn.kind == "bot":
        return f"<tr><td>{when}<td>bot<td>{escape(turn.text)}<td><td><td></tr>"
    confidence = f"{turn.confidence:.2f}" if turn.confidence is not None else ""
    intent = escape(turn.intent or "") + (" (fallback)" if turn.fallback else "")
    options = "".join(
        f"<option{' selected' if name == (label or turn.intent) else ''}>{escape(name)}</option>"
        for name in intents
    )
    action = f"/console/conversations/{quote(sender_id, safe='')}/turns/{turn.event_id}/label"
    form = (
        f"<form method=post action='{escape(action)}'>{csrf_field(who)}"
        f"<select name=intent aria-label='correct intent'>{options}</select> "
        "<button type=submit>Label</button></form>"
    )
    labelled = f"<p data-label='{escape(label)}'>labelled {escape(label)}</p>" if label else ""
    return (
        f"<tr><td>{when}<td>customer<td>{escape(turn.text)}<td data-intent>{intent}"
        f"<td>{confidence}<td>{labelled}{form}</tr>"
    )


def refused(who: SignedIn, message: str) -> str:
    return page(TITLE, f"<p class=error role=alert>{escape(message)}</p>", who)
