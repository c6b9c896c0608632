"""The console's HTML: plain server-rendered pages, nothing loaded from elsewhere, no
scripts but the report's charts (settle.console.report_templates). Every value is escaped
here; every form carries the CSRF token."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from settle.console.accounts import MIN_PASSWORD_CHARS, OperatorView
from settle.console.queue import QueueItem
from settle.console.records import ROLES
from settle.console.sessions import SignedIn

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}"
    "label{display:block;margin:.6rem 0}input,select{font-size:1rem;padding:.3rem}"
    "button{font-size:1rem;padding:.3rem 1rem}table{border-collapse:collapse;width:100%}"
    "td,th{text-align:left;padding:.3rem;border-bottom:1px solid #ddd}"
    ".error{color:#a00}.notice{background:#ffd;padding:.6rem}.inline{display:inline}"
    "header{display:flex;justify-content:space-between;align-items:center}"
)


def page(title: str, body: str, who: SignedIn | None = None) -> str:
    full = title if title == "Settle console" else f"{title} · Settle console"
    header = ""
    if who is not None:
        header = (
            f"<header><span>{escape(who.email)} ({escape(who.role)})</span>"
            f"<form class=inline method=post action=/console/sign-out>{csrf_field(who)}"
            "<button type=submit>Sign out</button></form></header>"
        )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{escape(full)}</title><style>{STYLE}</style>"
        f"{header}<h1>{escape(title)}</h1>{body}</html>"
    )


def csrf_field(who: SignedIn | str) -> str:
    token = who if isinstance(who, str) else who.csrf_token
    return f"<input type=hidden name=csrf value='{escape(token)}'>"


def _error(message: str | None) -> str:
    return f"<p class=error role=alert>{escape(message)}</p>" if message else ""


def sign_in(csrf: str, error: str | None = None, email: str = "") -> str:
    return page(
        "Sign in",
        _error(error) + "<form method=post action=/console/sign-in>"
        f"{csrf_field(csrf)}"
        "<label>E-mail <input type=email name=email required autocomplete=username "
        f"value='{escape(email)}'></label>"
        "<label>Password <input type=password name=password required "
        "autocomplete=current-password></label>"
        "<button type=submit>Sign in</button></form>",
    )


def change_password(who: SignedIn, error: str | None = None) -> str:
    why = (
        "<p class=notice>You signed in with a one-time password: choose your own to go on.</p>"
        if who.must_change_password
        else ""
    )
    return page(
        "Change your password",
        why + _error(error) + "<form method=post action=/console/password>"
        f"{csrf_field(who)}"
        "<label>Current password <input type=password name=current required "
        "autocomplete=current-password></label>"
        f"<label>New password (at least {MIN_PASSWORD_CHARS} characters) "
        "<input type=password name=new required autocomplete=new-password></label>"
        "<label>New password again <input type=password name=confirm required "
        "autocomplete=new-password></label>"
        "<button type=submit>Change password</button></form>",
        who,
    )


def landing(
    who: SignedIn, items: Sequence[QueueItem], notice: str | None = None, error: str | None = None
) -> str:
    """The work queue, oldest first, with the links an operator needs."""
    links = [
        "<li><a href=/console/report>Collections report</a></li>",
        "<li><a href=/console/conversations>Conversations</a></li>",
        "<li><a href=/console/password>Change your password</a></li>",
    ]
    if who.is_admin:
        links.insert(0, "<li><a href=/console/operators>Operators</a></li>")
    rows = "".join(_queue_row(who, item) for item in items)
    queue = (
        "<table><tr><th>When<th>What<th>Customer<th>Invoice<th>Amount<th>Language<th>Channel"
        f"<th></tr>{rows}</table>"
        if items
        else "<p>Nothing waits for a person.</p>"
    )
    return page(
        "Settle console",
        (f"<p class=notice role=status>{escape(notice)}</p>" if notice else "")
        + _error(error)
        + f"<h2>Work queue ({len(items)})</h2>{queue}<ul>{''.join(links)}</ul>",
        who,
    )


def _queue_row(who: SignedIn, item: QueueItem) -> str:
    cells = (
        item.at.strftime("%Y-%m-%d %H:%M UTC"),
        item.what,
        item.customer,
        item.invoice,
        item.amount,
        item.language,
        item.channel,
    )
    forms = "".join(
        _queue_form(who, item, action, label, field)
        for action, label, field in QUEUE_ACTIONS[item.kind]
    )
    return "<tr>" + "".join(f"<td>{escape(cell)}" for cell in cells) + f"<td>{forms}</tr>"


# kind -> (action, button, text field or "") the queue's forms offer.
QUEUE_ACTIONS = {
    "handoff": (("done", "Mark done", "note"),),
    "dispute": (("upheld", "Upheld", "note"), ("rejected", "Rejected", "note")),
    "refund": (("approve", "Approve", ""), ("decline", "Decline", "reason")),
    "overpaid": (("refund", "Refund the difference", ""), ("credit", "Keep as credit", "")),
    "mismatch": (("reviewed", "Mark reviewed", "note"),),
    "lock": (("unlock", "Unlock", ""),),
}


def _queue_form(who: SignedIn, item: QueueItem, action: str, label: str, field: str) -> str:
    text = ""
    if field:
        hint = "Reason (sent to the customer)" if field == "reason" else "Note (audit log)"
        text = f"<input name={field} placeholder='{escape(hint)}' aria-label='{escape(hint)}'>"
    return (
        f"<form method=post action=/console/queue/{item.kind}/{item.id}/{action}>"
        f"{csrf_field(who)}{text}<button type=submit>{escape(label)}</button></form>"
    )


def operators(
    who: SignedIn,
    accounts: Iterable[OperatorView],
    notice: str | None = None,
    error: str | None = None,
) -> str:
    rows = "".join(_operator_row(who, account) for account in accounts)
    roles = "".join(f"<option>{escape(role)}</option>" for role in reversed(ROLES))
    return page(
        "Operators",
        (f"<p class=notice role=status>{escape(notice)}</p>" if notice else "")
        + _error(error)
        + "<table><tr><th>E-mail<th>Role<th>State<th>Last sign-in<th></tr>"
        + rows
        + "</table><h2>Add an operator</h2><form method=post action=/console/operators/add>"
        f"{csrf_field(who)}<label>E-mail <input type=email name=email required></label>"
        f"<label>Role <select name=role>{roles}</select></label>"
        "<button type=submit>Add</button></form><p><a href=/console>Back</a></p>",
        who,
    )


def _operator_row(who: SignedIn, account: OperatorView) -> str:
    state = "active" if account.active else "deactivated"
    if account.active and account.must_change_password:
        state += ", one-time password"
    seen = account.last_sign_in_at.strftime("%Y-%m-%d %H:%M UTC") if account.last_sign_in_at else ""
    actions = ""
    if account.email != who.email:
        actions = _row_form("reset", who, account.email, "New one-time password")
        if account.active:
            actions += _row_form("deactivate", who, account.email, "Deactivate")
    return (
        f"<tr><td>{escape(account.email)}<td>{escape(account.role)}<td>{escape(state)}"
        f"<td>{escape(seen)}<td>{actions}</tr>"
    )


def _row_form(action: str, who: SignedIn, email: str, label: str) -> str:
    return (
        f"<form class=inline method=post action=/console/operators/{action}>{csrf_field(who)}"
        f"<input type=hidden name=email value='{escape(email)}'>"
        f"<button type=submit>{escape(label)}</button></form> "
    )


def refused(status: int, message: str) -> str:
    return page("Not allowed" if status == 403 else "Sign in first", f"<p>{escape(message)}</p>")
