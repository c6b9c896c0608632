"""CSV import of customers and invoices: all rows valid and upserted, or nothing changes."""

from __future__ import annotations

import csv
import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.core import audit
from settle.core.money import check_currency, to_minor_units
from settle.core.phones import time_zones_of, to_e164
from settle.store.models import Customer, Invoice

CUSTOMER_COLUMNS = ("customer_id", "name", "phone", "email", "postal_code", "language", "timezone")
INVOICE_COLUMNS = (
    "invoice_id",
    "customer_id",
    "amount",
    "currency",
    "issued_on",
    "due_on",
    "status",
    "description",
)
INVOICE_STATUSES = ("open", "paid", "void")
# invoices.amount_minor is a 32-bit INTEGER column (PostgreSQL refuses anything larger).
MAX_AMOUNT_MINOR = 2**31 - 1


@dataclass
class RowError:
    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        column = f" [{self.column}]" if self.column else ""
        return f"{where}{column}: {self.reason}"


class ImportFailed(Exception):
    """One or more rows were bad; nothing was imported."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class ImportResult:
    customers_created: int = 0
    customers_updated: int = 0
    invoices_created: int = 0
    invoices_updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Rows imported with a guess the business should check (a time zone), file:line [column].
    warnings: list[RowError] = field(default_factory=list)
    # Whose invoices the files hold: their credits may pay toward them (settle.billing.credits).
    invoice_customers: set[str] = field(default_factory=set)


def import_billing_data(
    session: Session,
    customers_csv: Path | None,
    invoices_csv: Path | None,
    default_region: str = "US",
    actor: str = "cli:import",
    business_zone: str = "America/New_York",
) -> ImportResult:
    """Validate both files completely, then upsert by id; raise ImportFailed on any bad row.
    business_zone: a customer's time zone when neither the file nor the phone gives one."""
    errors: list[RowError] = []
    warnings: list[RowError] = []
    zone_guessed: set[str] = set()  # customers whose row left the time zone blank
    customers = (
        _read_customers(
            customers_csv, default_region, business_zone, errors, warnings, zone_guessed
        )
        if customers_csv
        else {}
    )
    invoices = _read_invoices(invoices_csv, errors) if invoices_csv else {}

    known_customers = set(customers)
    wanted = {row["customer_id"] for _, row in invoices.values()} - known_customers
    if wanted:
        known_customers |= set(
            session.scalars(select(Customer.id).where(Customer.id.in_(wanted))).all()
        )
    for line, row in invoices.values():
        if row["customer_id"] not in known_customers:
            errors.append(
                RowError(
                    str(invoices_csv),
                    line,
                    "customer_id",
                    f"unknown customer {row['customer_id']!r}",
                )
            )
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: (e.file, e.line)))

    kept_zone: set[int] = set()  # lines of known customers whose zone was not guessed again

    def update(known: Customer, row_id: str, values: dict) -> dict:
        changes = update_of(known, values, row_id not in zone_guessed)
        if "timezone" not in changes:
            kept_zone.add(customers[row_id][0])
        return changes

    result = ImportResult()
    result.customers_created, result.customers_updated = _upsert(
        session, Customer, customers, update
    )
    warnings = [w for w in warnings if not (w.column == "timezone" and w.line in kept_zone)]
    result.warnings = warnings
    session.flush()  # invoices refer to the customers
    result.invoices_created, result.invoices_updated = _upsert(session, Invoice, invoices)
    result.invoice_customers = {row["customer_id"] for _, row in invoices.values()}
    audit.record(
        session,
        actor,
        "billing.imported",
        "",
        customers=str(customers_csv or ""),
        invoices=str(invoices_csv or ""),
        customers_created=result.customers_created,
        customers_updated=result.customers_updated,
        invoices_created=result.invoices_created,
        invoices_updated=result.invoices_updated,
        warnings=[str(w) for w in warnings],
    )
    return result


def _upsert(
    session: Session,
    model,
    rows: dict[str, tuple],
    update: Callable[[Any, str, dict], dict] | None = None,
) -> tuple[int, int]:
    """Insert or update each (line, values) by id; returns (created, updated). update(row,
    id, values): what of values an existing row takes (all of it by default)."""
    created = updated = 0
    for row_id, (_, values) in rows.items():
        existing = session.get(model, row_id)
        if existing is None:
            session.add(model(id=row_id, **values))
            created += 1
        else:
            if update is not None:
                values = update(existing, row_id, values)
            for key, value in values.items():
                setattr(existing, key, value)
            updated += 1
    return created, updated


def _rows(
    path: Path, columns: tuple[str, ...], errors: list[RowError]
) -> Iterator[tuple[int, dict]]:
    """Yield (line number, row) pairs; a missing file or column is one error for the file."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        errors.append(RowError(str(path), 0, "", f"cannot read file: {error.strerror}"))
        return
    with handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        missing = [c for c in columns if c not in header]
        if missing:
            errors.append(
                RowError(
                    str(path),
                    1,
                    "",
                    f"missing column(s): {', '.join(missing)} (expected {','.join(columns)})",
                )
            )
            return
        reader.fieldnames = header
        for row in reader:
            if None in row:
                errors.append(
                    RowError(
                        str(path),
                        reader.line_num,
                        "",
                        f"more fields than the {len(header)} columns",
                    )
                )
                continue
            if not any((v or "").strip() for v in row.values()):
                continue  # blank line
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}


class _RowCheck:
    """Collects the problems of one CSV row, each naming file, line and column."""

    def __init__(self, path: Path, line: int, errors: list[RowError]):
        self.path, self.line, self.errors = path, line, errors
        self.failed = False

    def bad(self, column: str, reason: str) -> None:
        self.errors.append(RowError(str(self.path), self.line, column, reason))
        self.failed = True


def _read_rows(
    path: Path,
    columns: tuple[str, ...],
    id_column: str,
    errors: list[RowError],
    parse: Callable[[dict, _RowCheck], dict],
) -> dict[str, tuple]:
    """{id: (line, values)} for the valid rows; every problem goes to errors."""
    out: dict[str, tuple] = {}
    for line, row in _rows(path, columns, errors):
        check = _RowCheck(path, line, errors)
        row_id = row[id_column]
        if not row_id:
            check.bad(id_column, "empty")
        elif row_id in out:
            check.bad(id_column, f"duplicate id {row_id!r} (first on line {out[row_id][0]})")
        else:
            values = parse(row, check)
            if not check.failed:
                out[row_id] = (line, values)
    return out


def customer_values(
    row: dict,
    region: str,
    bad: Callable[[str, str], None],
    business_zone: str = "America/New_York",
    warn: Callable[[str, str], None] | None = None,
) -> dict:
    """The customer's stored values from one row of CUSTOMER_COLUMNS (all strings, stripped;
    the id column aside); each problem goes to bad(column, reason). Used by the CSV import
    and the billing-system API (settle.api) alike.

    A blank time zone is the phone number's (settle.core.phones.time_zones_of); a number
    that spans several zones, or none known, gets the business's zone, and warn(column,
    reason) says so: reminders keep to that customer's hours by a guess."""
    values = {
        "name": row["name"],
        "email": row["email"] or None,
        "postal_code": row["postal_code"].upper(),
    }
    for column in ("name", "postal_code"):
        if not row[column]:
            bad(column, "empty")
    if row["email"] and "@" not in row["email"]:
        bad("email", f"{row['email']!r} is not an email address")
    try:
        values["phone"] = to_e164(row["phone"], region)
    except ValueError as error:
        bad("phone", str(error))
    language = row["language"] or "en"
    try:
        if len(language) != 2:
            raise UnknownLocaleError(language)
        Locale.parse(language)
        values["language"] = language.lower()
    except (UnknownLocaleError, ValueError):
        bad("language", f"{language!r} is not an ISO 639-1 language code")
    timezone = row["timezone"] or _zone_of_phone(values.get("phone"), business_zone, warn)
    try:
        zoneinfo.ZoneInfo(timezone)
        values["timezone"] = timezone
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        bad("timezone", f"{timezone!r} is not an IANA time zone")
    return values


def _zone_of_phone(
    phone: str | None, business_zone: str, warn: Callable[[str, str], None] | None
) -> str:
    if phone is None:  # already a bad row
        return business_zone
    zones = time_zones_of(phone)
    if len(zones) == 1:
        return zones[0]
    reason = (
        f"{phone} spans {len(zones)} time zones" if zones else f"no time zone is known for {phone}"
    )
    if warn is not None:
        warn("timezone", f"empty and {reason}: using the business's {business_zone}")
    return business_zone


def invoice_values(row: dict, bad: Callable[[str, str], None]) -> dict:
    """The invoice's stored values from one row of INVOICE_COLUMNS (the id column aside);
    whether its customer exists is the caller's to check."""
    values = {"customer_id": row["customer_id"], "description": row["description"]}
    if not row["customer_id"]:
        bad("customer_id", "empty")
    try:
        values["currency"] = check_currency(row["currency"])
        values["amount_minor"] = to_minor_units(row["amount"], values["currency"])
        if values["amount_minor"] > MAX_AMOUNT_MINOR:
            raise ValueError(f"amount {row['amount']!r} is too large")
    except ValueError as error:
        bad("amount" if "amount" in str(error) else "currency", str(error))
    dates_ok = True
    for column in ("issued_on", "due_on"):
        try:
            values[column] = dt.date.fromisoformat(row[column])
        except ValueError:
            bad(column, f"{row[column]!r} is not an ISO 8601 date (YYYY-MM-DD)")
            dates_ok = False
    if dates_ok and values["due_on"] < values["issued_on"]:
        bad("due_on", "due before it was issued")
    status = row["status"].lower() or "open"
    if status not in INVOICE_STATUSES:
        bad("status", f"{row['status']!r} is not one of {', '.join(INVOICE_STATUSES)}")
    values["status"] = status
    return values


def update_of(customer: Customer, values: dict, zone_given: bool) -> dict:
    """What a row or push changes on a known customer. A time zone it left blank was guessed
    from the phone (customer_values): that guess replaces the stored zone only when the phone
    changes too, so an update that leaves the zone out never moves the customer's quiet
    hours."""
    if zone_given or values.get("phone") != customer.phone:
        return values
    return {key: value for key, value in values.items() if key != "timezone"}


def _read_customers(
    path: Path,
    region: str,
    zone: str,
    errors: list[RowError],
    warnings: list[RowError],
    zone_guessed: set[str],
) -> dict[str, tuple]:
    def parse(row: dict, check: _RowCheck) -> dict:
        def warn(column: str, reason: str) -> None:
            warnings.append(RowError(str(path), check.line, column, reason))

        if not row["timezone"]:
            zone_guessed.add(row["customer_id"])
        return customer_values(row, region, check.bad, zone, warn)

    return _read_rows(path, CUSTOMER_COLUMNS, "customer_id", errors, parse)


def _read_invoices(path: Path, errors: list[RowError]) -> dict[str, tuple]:
    return _read_rows(
        path,
        INVOICE_COLUMNS,
        "invoice_id",
        errors,
        lambda row, check: invoice_values(row, check.bad),
    )
