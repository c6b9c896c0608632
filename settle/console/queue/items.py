"""The queue's lines, worded for a person: given the keys of the items a page shows
(settle.console.queue.waiting), each kind's rows are read in one query, and their customers,
invoices and payments in one query each, however many items the page holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.access.records import IdentityLock
from settle.config import Settings
from settle.console.queue.waiting import KINDS, flag_kind
from settle.console.words import phrase
from settle.core import i18n
from settle.core.money import format_money
from settle.rules.security import SCOPES
from settle.store.models import AuditEntry, Customer, Dispute, Invoice, Payment

Row = TypeVar("Row")
CHUNK = 500  # ids in one IN list, well under every database's limit on parameters
Load = Callable[[Session, Settings, list[int]], list["QueueItem"]]


@dataclass(frozen=True)
class QueueItem:
    """One line of the queue: what it is, whose, and when it came in."""

    kind: str  # one of KINDS
    id: int  # the audit entry (handoff, refund, overpaid, mismatch), the dispute or the lock
    at: dt.datetime
    customer: str
    invoice: str
    amount: str
    language: str
    channel: str
    what: str


def load_items(
    session: Session, settings: Settings, keys: Sequence[tuple[Any, int, int]]
) -> list[QueueItem]:
    """The items whose (at, rank, id) keys are given, in the keys' order."""
    wanted: dict[Load, list[int]] = {}
    for _, rank, id in keys:
        wanted.setdefault(_LOADS[KINDS[rank]], []).append(id)
    loaded = {
        (_LOADS[item.kind], item.id): item
        for load, ids in wanted.items()
        for item in load(session, settings, ids)
    }
    found = ((_LOADS[KINDS[rank]], id) for _, rank, id in keys)
    return [loaded[key] for key in found if key in loaded]


def _by_id(session: Session, model: type[Row], ids: Iterable[Any]) -> dict[Any, Row]:
    """The rows of `model` with these ids (None and "" name none), in a query per CHUNK."""
    wanted = list(dict.fromkeys(id for id in ids if id is not None and id != ""))
    found: dict[Any, Row] = {}
    for start in range(0, len(wanted), CHUNK):
        chosen = select(model).where(model.id.in_(wanted[start : start + CHUNK]))  # type: ignore[attr-defined]
        found.update((row.id, row) for row in session.scalars(chosen))  # type: ignore[attr-defined]
    return found


def _handoffs(session: Session, settings: Settings, ids: list[int]) -> list[QueueItem]:
    entries = _by_id(session, AuditEntry, ids).values()
    details = [entry.detail or {} for entry in entries]
    customers = _by_id(session, Customer, (d.get("verified_customer") for d in details))
    invoices = _by_id(session, Invoice, (d.get("invoice") for d in details))
    items = []
    for entry, detail in zip(entries, details, strict=True):
        reason = (detail.get("reason") or "").replace("_", " ")
        goal = detail.get("goal") or ""
        key = "item.handoff" + ("_goal" if goal else "") + ("_reason" if reason else "")
        what = phrase(key, goal=goal, reason=reason)
        customer = customers.get(detail.get("verified_customer"))
        invoice = invoices.get(detail.get("invoice"))
        items.append(
            _item("handoff", entry.id, entry.at, settings, customer, invoice, what, detail)
        )
    return items


def _disputes(session: Session, settings: Settings, ids: list[int]) -> list[QueueItem]:
    disputes = _by_id(session, Dispute, ids).values()
    customers = _by_id(session, Customer, (dispute.customer_id for dispute in disputes))
    invoices = _by_id(session, Invoice, (dispute.invoice_id for dispute in disputes))
    items = []
    for dispute in disputes:
        customer, invoice = customers.get(dispute.customer_id), invoices.get(dispute.invoice_id)
        what = phrase("item.dispute", id=dispute.id, reason=dispute.reason[:140])
        items.append(
            _item("dispute", dispute.id, dispute.created_at, settings, customer, invoice, what)
        )
    return items


def _refunds(session: Session, settings: Settings, ids: list[int]) -> list[QueueItem]:
    entries = _by_id(session, AuditEntry, ids).values()
    payments = _by_id(session, Payment, (_payment_id(entry) for entry in entries))
    invoices = _by_id(session, Invoice, (p.invoice_id for p in payments.values()))
    customers = _by_id(session, Customer, (i.customer_id for i in invoices.values()))
    items = []
    for entry in entries:
        detail, payment = entry.detail or {}, payments.get(_payment_id(entry))
        if payment is None:  # the SQL that chose the item joined it; deleted since
            continue
        invoice = invoices[payment.invoice_id]
        amount = detail.get("amount_minor") or payment.amount_minor
        rule = (detail.get("rule") or "").replace("_", " ")
        what = phrase("item.refund", payment=payment.id, rule=rule)
        customer = customers.get(invoice.customer_id)
        item = _item("refund", entry.id, entry.at, settings, customer, invoice, what)
        refund = format_money(amount, payment.currency, staff_locale(settings))
        items.append(replace(item, amount=refund))
    return items


def _payment_id(entry: AuditEntry) -> int:
    return int(entry.subject.partition(":")[2] or 0)


def _flagged(session: Session, settings: Settings, ids: list[int]) -> list[QueueItem]:
    entries = _by_id(session, AuditEntry, ids).values()
    invoices = _by_id(session, Invoice, (_flag_invoice(entry) for entry in entries))
    customers = _by_id(session, Customer, (i.customer_id for i in invoices.values()))
    payments = _by_id(session, Payment, ((e.detail or {}).get("payment_id") for e in entries))
    items = []
    for entry in entries:
        detail = entry.detail or {}
        invoice = invoices.get(_flag_invoice(entry))
        customer = customers.get(invoice.customer_id) if invoice else None
        kind, what = flag_kind(entry), _flag_what(entry)
        item = _item(kind, entry.id, entry.at, settings, customer, invoice, what, detail)
        money = _flag_money(entry, payments.get(detail.get("payment_id")), invoice)
        if money is not None:
            item = replace(item, amount=format_money(*money, staff_locale(settings)))
        items.append(item)
    return items


def _flag_invoice(entry: AuditEntry) -> str | None:
    return entry.subject.partition(":")[2] if entry.subject.startswith("invoice:") else None


def _flag_what(entry: AuditEntry) -> str:
    detail = entry.detail or {}
    if entry.action == "payment.flagged":
        flag = "overpaid" if detail.get("flag") == "overpaid" else "stale_link"
        return phrase(f"item.{flag}", payment=detail.get("payment_id"))
    if entry.action == "payment.needs_review":
        return phrase("item.needs_review", currency=detail.get("currency") or "-")
    if entry.action == "invoice.voided_by_billing":
        return phrase("item.voided", invoice=entry.subject.partition(":")[2])
    if entry.action == "chargeback.unmatched":
        return phrase("item.chargeback_unmatched", subject=entry.subject)
    return phrase("item.unmatched", subject=entry.subject)


def _flag_money(
    entry: AuditEntry, payment: Payment | None, invoice: Invoice | None
) -> tuple[int, str] | None:
    """What the item is about: an overpayment's excess as it is now, else the amount paid."""
    detail = entry.detail or {}
    if payment is not None and invoice is not None and flag_kind(entry) == "overpaid":
        return min(payment.amount_minor, invoice.overpaid_minor), payment.currency
    if payment is not None:
        return payment.amount_minor, payment.currency
    if detail.get("amount_minor") and detail.get("currency"):
        return int(detail["amount_minor"]), str(detail["currency"])
    return None


def _locks(session: Session, settings: Settings, ids: list[int]) -> list[QueueItem]:
    locks = _by_id(session, IdentityLock, ids).values()
    invoices = _by_id(session, Invoice, (lock.key for lock in locks if lock.scope == "invoice"))
    customers = _by_id(session, Customer, (_lock_customer(lock, invoices) for lock in locks))
    items = []
    for lock in locks:
        invoice = invoices.get(lock.key) if lock.scope == "invoice" else None
        customer = customers.get(_lock_customer(lock, invoices))
        until = lock.until.strftime("%Y-%m-%d %H:%M UTC")
        scope = phrase(f"scope.{lock.scope}") if lock.scope in SCOPES else lock.scope
        what = phrase("item.lock", scope=scope, misses=lock.misses, until=until)
        items.append(_item("lock", lock.id, lock.locked_at, settings, customer, invoice, what))
    return items


def _lock_customer(lock: IdentityLock, invoices: dict[Any, Invoice]) -> str | None:
    """Whose identity check is locked: the invoice's customer, or the customer locked."""
    if lock.scope not in ("invoice", "customer"):
        return None
    invoice = invoices.get(lock.key) if lock.scope == "invoice" else None
    return invoice.customer_id if invoice else lock.key


# Which loader reads each kind (overpaid and mismatch are both flags).
_LOADS: dict[str, Load] = {
    "handoff": _handoffs,
    "dispute": _disputes,
    "refund": _refunds,
    "overpaid": _flagged,
    "mismatch": _flagged,
    "lock": _locks,
}


def _item(
    kind: str,
    id: int,
    at: dt.datetime,
    settings: Settings,
    customer: Customer | None,
    invoice: Invoice | None,
    what: str,
    detail: dict | None = None,
) -> QueueItem:
    amount = ""
    if invoice is not None:
        balance = invoice.amount_minor - invoice.amount_paid_minor
        amount = format_money(balance, invoice.currency, staff_locale(settings))
    return QueueItem(
        kind=kind,
        id=id,
        at=at,
        customer=f"{customer.name} ({customer.id})" if customer else "unverified",
        invoice=invoice.id if invoice else (detail or {}).get("invoice") or "",
        amount=amount,
        language=customer.language if customer else "",
        channel=(detail or {}).get("channel") or "",
        what=what,
    )


def staff_locale(settings: Settings) -> str:
    return i18n.locale_for("en", settings.business.default_region)
