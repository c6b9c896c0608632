"""The console's HTML: plain server-rendered pages, nothing loaded from elsewhere, no
scripts but the report's charts (settle.console.report_templates). Every value is escaped
here; every form carries the CSRF token. Every page string comes from the catalogs of
settle.console.words, in the language the request negotiated (`lang`)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from settle.console.accounts import MIN_PASSWORD_CHARS, OperatorView
from settle.console.queue import QueueItem, QueuePage
from settle.console.records import ROLES
from settle.console.sessions import SignedIn
from settle.console.words import LANGUAGES, data_name, page_text, said
from settle.core.i18n import language_name

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}"
    "label{display:block;margin:.6rem 0}input,select{font-size:1rem;padding:.3rem}"
    "button{font-size:1rem;padding:.3rem 1rem}table{border-collapse:collapse;width:100%}"
    "td,th{text-align:left;padding:.3rem;border-bottom:1px solid #ddd}"
    ".error{color:#a00}.notice{background:#ffd;padding:.6rem}.inline{display:inline}"
    "header{display:flex;justify-content:space-between;align-items:center}footer{margin-top:2rem}"
)
# Each language named in itself, as language selectors do.
LANGUAGE_NAMES = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
    "it": "Italiano",
    "pt": "Português",
}
LANGUAGE = "/console/language"


def t(key: str, lang: str, **values: Any) -> str:
    """A page string in `lang`, values filled in, escaped for HTML."""
    return escape(page_text(key, lang, **values))


def page(title: str, body: str, lang: str, who: SignedIn | None = None, csrf: str = "") -> str:
    """A whole page; `csrf` (or `who`'s token) adds the language selector at its foot, after
    the page's own forms."""
    console = page_text("common.console", lang)
    full = title if title == console else page_text("common.title", lang, title=title)
    token = who.csrf_token if who is not None else csrf
    footer = f"<footer>{_chooser(lang, token)}</footer>" if token else ""
    header = ""
    if who is not None:
        header = (
            f"<header><span>{escape(who.email)} ({t(f'role.{who.role}', lang)})</span>"
            f"<form class=inline method=post action=/console/sign-out>{csrf_field(who)}"
            f"<button type=submit>{t('common.sign_out', lang)}</button></form></header>"
        )
    return (
        f"<!doctype html><html lang={lang}><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{escape(full)}</title><style>{STYLE}</style>"
        f"{header}<h1>{escape(title)}</h1>{body}{footer}</html>"
    )


def _chooser(lang: str, token: str) -> str:
    options = "".join(
        f"<option value={code}{' selected' if code == lang else ''}>{name}</option>"
        for code, name in LANGUAGE_NAMES.items()
        if code in LANGUAGES
    )
    return (
        f"<form class=inline method=post action={LANGUAGE}>{csrf_field(token)}"
        f"<label class=inline>{t('common.language', lang)} <select name=lang>{options}</select>"
        f"</label> <button type=submit>{t('common.apply', lang)}</button></form>"
    )


def csrf_field(who: SignedIn | str) -> str:
    token = who if isinstance(who, str) else who.csrf_token
    return f"<input type=hidden name=csrf value='{escape(token)}'>"


def _error(message: str | None) -> str:
    return f"<p class=error role=alert>{escape(message)}</p>" if message else ""


def _notice(message: str | None) -> str:
    return f"<p class=notice role=status>{escape(message)}</p>" if message else ""


def sign_in(csrf: str, lang: str, error: str | None = None, email: str = "") -> str:
    return page(
        page_text("sign_in.title", lang),
        _error(error) + "<form method=post action=/console/sign-in>"
        f"{csrf_field(csrf)}"
        f"<label>{t('sign_in.email', lang)} <input type=email name=email required "
        f"autocomplete=username value='{escape(email)}'></label>"
        f"<label>{t('sign_in.password', lang)} <input type=password name=password required "
        "autocomplete=current-password></label>"
        f"<button type=submit>{t('sign_in.submit', lang)}</button></form>",
        lang,
        csrf=csrf,
    )


def change_password(who: SignedIn, lang: str, error: str | None = None) -> str:
    why = _notice(page_text("password.one_time", lang)) if who.must_change_password else ""
    return page(
        page_text("password.title", lang),
        why + _error(error) + "<form method=post action=/console/password>"
        f"{csrf_field(who)}"
        f"<label>{t('password.current', lang)} <input type=password name=current required "
        "autocomplete=current-password></label>"
        f"<label>{t('password.new', lang, chars=MIN_PASSWORD_CHARS)} "
        "<input type=password name=new required autocomplete=new-password></label>"
        f"<label>{t('password.again', lang)} <input type=password name=confirm required "
        "autocomplete=new-password></label>"
        f"<button type=submit>{t('password.submit', lang)}</button></form>",
        lang,
        who,
    )


def landing(
    who: SignedIn, queue: QueuePage, lang: str, notice: str | None = None, error: str | None = None
) -> str:
    """A page of the work queue, oldest first, with how much waits and the links an
    operator needs."""
    links = [
        f"<li><a href=/console/report>{t('nav.report', lang)}</a></li>",
        f"<li><a href=/console/conversations>{t('nav.conversations', lang)}</a></li>",
        f"<li><a href=/console/password>{t('nav.password', lang)}</a></li>",
    ]
    if who.is_admin:
        links.insert(0, f"<li><a href=/console/operators>{t('nav.operators', lang)}</a></li>")
    rows = "".join(_queue_row(who, item, queue.number, lang) for item in queue.items)
    names = ("when", "what", "customer", "invoice", "amount", "language", "channel")
    table = (
        "<table><tr>"
        + "".join(f"<th>{t(f'queue.{name}', lang)}" for name in names)
        + f"<th></tr>{rows}</table>"
        if queue.items
        else f"<p>{t('queue.empty', lang)}</p>"
    )
    return page(
        page_text("common.console", lang),
        _notice(notice)
        + _error(error)
        + f"<h2>{t('queue.heading', lang, count=queue.total)}</h2>{_queue_counts(queue, lang)}"
        + f"{table}{_queue_pages(queue, lang)}<ul>{''.join(links)}</ul>",
        lang,
        who,
    )


def _queue_counts(queue: QueuePage, lang: str) -> str:
    """How many of each kind wait, the kinds with none left out."""
    counts = [
        t("queue.kind_count", lang, kind=page_text(f"queue.kinds.{kind}", lang), count=count)
        for kind, count in queue.counts.items()
        if count
    ]
    return f"<p>{' · '.join(counts)}</p>" if counts else ""


def _queue_pages(queue: QueuePage, lang: str) -> str:
    """Which page this is, with links to the older and newer items' pages."""
    if queue.pages == 1:
        return ""
    shown = [t("queue.page", lang, page=queue.number, pages=queue.pages)]
    if queue.older is not None:
        older = t("queue.older", lang)
        shown.insert(0, f"<a href='/console?page={queue.older}' rel=prev>{older}</a>")
    if queue.newer is not None:
        newer = t("queue.newer", lang)
        shown.append(f"<a href='/console?page={queue.newer}' rel=next>{newer}</a>")
    return f"<nav><p>{' '.join(shown)}</p></nav>"


def _queue_row(who: SignedIn, item: QueueItem, number: int, lang: str) -> str:
    cells = (
        item.at.strftime("%Y-%m-%d %H:%M UTC"),
        said(item.what, lang),
        item.customer,
        item.invoice,
        item.amount,
        language_name(item.language, lang) if item.language else "",
        data_name("channel", item.channel, lang),
    )
    forms = "".join(
        _queue_form(who, item, action, field, number, lang)
        for action, field in QUEUE_ACTIONS[item.kind]
    )
    return "<tr>" + "".join(f"<td>{escape(cell)}" for cell in cells) + f"<td>{forms}</tr>"


# kind -> (action, text field or "") the queue's forms offer; the button is queue.<action>.
QUEUE_ACTIONS = {
    "handoff": (("done", "note"),),
    "dispute": (("upheld", "note"), ("rejected", "note")),
    "refund": (("approve", ""), ("decline", "reason")),
    "overpaid": (("refund", ""), ("credit", "")),
    "mismatch": (("reviewed", "note"),),
    "lock": (("unlock", ""),),
}


def _queue_form(
    who: SignedIn, item: QueueItem, action: str, field: str, number: int, lang: str
) -> str:
    """One of an item's buttons; the page it is on comes back with it, to be shown again."""
    text = f"<input type=hidden name=page value={number}>"
    if field:
        hint = t("queue.reason_hint" if field == "reason" else "queue.note_hint", lang)
        text += f"<input name={field} placeholder='{hint}' aria-label='{hint}'>"
    return (
        f"<form method=post action=/console/queue/{item.kind}/{item.id}/{action}>"
        f"{csrf_field(who)}{text}<button type=submit>{t(f'queue.{action}', lang)}</button></form>"
    )


def operators(
    who: SignedIn,
    accounts: Iterable[OperatorView],
    lang: str,
    notice: str | None = None,
    error: str | None = None,
) -> str:
    rows = "".join(_operator_row(who, account, lang) for account in accounts)
    roles = "".join(
        f"<option value={escape(role)}>{t(f'role.{role}', lang)}</option>"
        for role in reversed(ROLES)
    )
    names = ("email", "role", "state", "last_sign_in")
    return page(
        page_text("operators.title", lang),
        _notice(notice)
        + _error(error)
        + "<table><tr>"
        + "".join(f"<th>{t(f'operators.{name}', lang)}" for name in names)
        + "<th></tr>"
        + rows
        + f"</table><h2>{t('operators.add_heading', lang)}</h2>"
        "<form method=post action=/console/operators/add>"
        f"{csrf_field(who)}<label>{t('operators.email', lang)} "
        "<input type=email name=email required></label>"
        f"<label>{t('operators.role', lang)} <select name=role>{roles}</select></label>"
        f"<button type=submit>{t('operators.add', lang)}</button></form>"
        f"<p><a href=/console>{t('common.back', lang)}</a></p>",
        lang,
        who,
    )


def _operator_row(who: SignedIn, account: OperatorView, lang: str) -> str:
    state = "active" if account.active else "deactivated"
    if account.active and account.must_change_password:
        state = "active_one_time"
    seen = account.last_sign_in_at.strftime("%Y-%m-%d %H:%M UTC") if account.last_sign_in_at else ""
    actions = ""
    if account.email != who.email:
        actions = _row_form("reset", who, account.email, t("operators.reset", lang))
        if account.active:
            actions += _row_form("deactivate", who, account.email, t("operators.deactivate", lang))
    return (
        f"<tr><td>{escape(account.email)}<td>{t(f'role.{account.role}', lang)}"
        f"<td>{t(f'operators.{state}', lang)}<td>{escape(seen)}<td>{actions}</tr>"
    )


def _row_form(action: str, who: SignedIn, email: str, label: str) -> str:
    """A one-button form; `label` is HTML already escaped."""
    return (
        f"<form class=inline method=post action=/console/operators/{action}>{csrf_field(who)}"
        f"<input type=hidden name=email value='{escape(email)}'>"
        f"<button type=submit>{label}</button></form> "
    )


def refused(status: int, message: str, lang: str) -> str:
    title = page_text("refused.forbidden" if status == 403 else "refused.sign_in_first", lang)
    return page(title, f"<p>{escape(message)}</p>", lang)
