"""The wording of a reminder: one text and one e-mail listing a customer's invoices, each with
its amount, due date and payment link, in the customer's language and locale."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from babel.dates import format_date
from sqlalchemy.orm import Session

from settle.billing.checkout import usable_link
from settle.core import i18n
from settle.core.money import format_money
from settle.store.models import Customer, Invoice


class _NoLink(Exception):
    """The gateway made no link for an invoice: its reminder waits for the lease to end."""


def _lines(
    session: Session, app, customer: Customer, invoices: Sequence[Invoice], now: dt.datetime
) -> str:
    locale = i18n.locale_for(customer.language, app.settings.business.default_region)
    lines = []
    for invoice in invoices:
        link = usable_link(session, invoice, app.gateway.provider, now)
        if link is None:  # made before this transaction (ensure_links); its call failed
            raise _NoLink(f"no payment link for {invoice.id}")
        lines.append(
            i18n.text(
                "reminder_line",
                customer.language,
                invoice=invoice.id,
                amount=format_money(invoice.balance_minor, invoice.currency, locale),
                due=format_date(invoice.due_on, "medium", locale=locale),
                url=link.url,
            )
        )
    return "\n".join(lines)


def reminder_texts(
    session: Session,
    app,
    customer: Customer,
    invoices: Sequence[Invoice],
    key: str,
    now: dt.datetime,
) -> dict:
    """The SMS text and the e-mail subject and text for invoices; key is the message kind
    (reminder_before, reminder_due, reminder_overdue, reminder_requested)."""
    business = app.settings.business
    lines = _lines(session, app, customer, invoices, now)
    values = dict(
        business=business.name,
        count=len(invoices),
        lines=lines,
        support_phone=business.support_phone,
        name=customer.name,
    )
    return {
        "sms": _counted(key, len(invoices), customer.language, values),
        "subject": i18n.text("reminder_email_subject", customer.language, **values),
        "email": i18n.text("reminder_email_body", customer.language, **values),
    }


def _counted(key: str, count: int, language: str, values: dict) -> str:
    """A text that counts invoices takes the language's plural form for the count."""
    if f"{key}_other" in i18n.MESSAGES["en"]:
        return i18n.plural(key, count, language, **values)
    return i18n.text(key, language, **values)


def message_kind(invoices: Iterable[Invoice], today: dt.date) -> str:
    """Overdue when any invoice is past due in the customer's today, else due today or soon."""
    due_dates = [invoice.due_on for invoice in invoices]
    if any(due < today for due in due_dates):
        return "reminder_overdue"
    return "reminder_due" if today in due_dates else "reminder_before"
