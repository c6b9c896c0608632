"""`settle export --format csv`: the money Settle moved, one line per movement, as a bank
feed an accounting package imports: date, description, amount (signed, major units),
currency, reference. Payments are positive; refunds and chargebacks negative; a credit kept
from an overpayment is negative on the invoice it left and each use of it positive on the
invoice it paid, so credits net to what is still held (no money moved at the bank)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.core.clock import zone_of
from settle.core.money import to_major_units
from settle.store.models import AuditEntry, Credit, CreditUse, Payment, Refund

COLUMNS = ("date", "description", "amount", "currency", "reference")
# A text cell starting with one of these is a formula to a spreadsheet (OWASP's CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class FeedLine:
    at: dt.datetime
    description: str
    amount_minor: int
    currency: str
    reference: str


def feed_lines(
    session: Session, since: dt.date, until: dt.date, timezone: str
) -> list[tuple[dt.date, FeedLine]]:
    """Every movement whose day (in the business's zone) is from since to until, in order."""
    zone = zone_of(timezone)
    start = dt.datetime.combine(since, dt.time(), zone).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), zone).astimezone(
        dt.timezone.utc
    )
    lines: list[FeedLine] = []
    for payment in session.scalars(
        select(Payment).where(Payment.created_at >= start, Payment.created_at < end)
    ):
        lines.append(
            FeedLine(
                payment.created_at,
                f"Payment for invoice {payment.invoice_id}",
                payment.amount_minor,
                payment.currency,
                payment.provider_ref,
            )
        )
    for refund, invoice_id in session.execute(
        select(Refund, Payment.invoice_id)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Refund.status == "succeeded", Refund.updated_at >= start, Refund.updated_at < end)
    ):
        lines.append(
            FeedLine(
                refund.updated_at,
                f"Refund for invoice {invoice_id}",
                -refund.amount_minor,
                refund.currency,
                refund.provider_ref or f"settle-refund-{refund.id}",
            )
        )
    for credit, invoice_id in session.execute(
        select(Credit, Payment.invoice_id)
        .join(Payment, Payment.id == Credit.payment_id)
        .where(Credit.created_at >= start, Credit.created_at < end)
    ):
        lines.append(
            FeedLine(
                credit.created_at,
                f"Overpayment on invoice {invoice_id} kept as credit for {credit.customer_id}",
                -credit.amount_minor,
                credit.currency,
                f"settle-credit-{credit.id}",
            )
        )
    for use, currency in session.execute(
        select(CreditUse, Credit.currency)
        .join(Credit, Credit.id == CreditUse.credit_id)
        .where(CreditUse.created_at >= start, CreditUse.created_at < end)
    ):
        lines.append(
            FeedLine(
                use.created_at,
                f"Credit applied to invoice {use.invoice_id}",
                use.amount_minor,
                currency,
                f"settle-credit-{use.credit_id}",
            )
        )
    for entry, payment in session.execute(
        select(AuditEntry, Payment)
        .join(Payment, Payment.id == AuditEntry.detail["payment_id"].as_integer())
        .where(AuditEntry.action == "chargeback.created", AuditEntry.at >= start)
        .where(AuditEntry.at < end)
    ):
        lines.append(
            FeedLine(
                entry.at,
                f"Chargeback on invoice {payment.invoice_id}",
                -int(entry.detail.get("amount_minor") or payment.amount_minor),
                payment.currency,
                str(entry.detail.get("dispute_id") or payment.provider_ref),
            )
        )
    lines.sort(key=lambda line: line.at)
    return [(line.at.astimezone(zone).date(), line) for line in lines]


def feed_csv(lines: list[tuple[dt.date, FeedLine]]) -> str:
    """The lines as CSV with a header row; amounts such as 285.00 and -20.00."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for day, line in lines:
        amount: Decimal = to_major_units(line.amount_minor, line.currency)
        writer.writerow(
            [
                day.isoformat(),
                _as_text(line.description),
                f"{amount}",
                _as_text(line.currency),
                _as_text(line.reference),
            ]
        )
    return out.getvalue()


def _as_text(cell: str) -> str:
    """cell, quoted so a spreadsheet shows it rather than runs it; amounts are not text. A
    lone CR becomes a newline: the writer quotes that, but would leave a CR to end the row."""
    cell = "'" + cell if cell.startswith(FORMULA_STARTS) else cell
    return cell.replace("\r\n", "\n").replace("\r", "\n")
