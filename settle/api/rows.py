"""A pushed customer or invoice, from its JSON object to the values Settle stores: the same
fields as the CSV import's columns, checked by the same code (settle.billing.importer); and
a pushed opt-out, its phone parsed as the CSV's are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from settle.billing.importer import (
    CUSTOMER_COLUMNS,
    INVOICE_COLUMNS,
    customer_values,
    invoice_values,
)
from settle.core.phones import to_e164

CUSTOMER_REQUIRED = ("customer_id", "name", "phone", "postal_code")
INVOICE_REQUIRED = ("invoice_id", "customer_id", "amount", "currency", "issued_on", "due_on")
MAX_ID = 64  # customers.id and invoices.id are 64 characters


class InvalidFields(Exception):
    """Answered 422: each error names its field and what was expected."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors))


def customer_from_json(
    body: dict[str, Any], region: str, zone: str = "America/New_York"
) -> tuple[str, dict, list[dict[str, str]]]:
    """(customer id, stored values, warnings) of a pushed customer; InvalidFields otherwise.
    A warning ({"field", "reason"}) is a guess the billing system should check: a time zone
    left out for a phone number that spans several (the business's zone is used)."""
    warnings: list[dict[str, str]] = []

    def warn(field: str, reason: str) -> None:
        warnings.append({"field": field, "reason": reason})

    customer_id, values = _checked(
        body,
        CUSTOMER_COLUMNS,
        CUSTOMER_REQUIRED,
        "customer_id",
        lambda row, bad: customer_values(row, region, bad, zone, warn),
    )
    return customer_id, values, warnings


def invoice_from_json(body: dict[str, Any]) -> tuple[str, dict]:
    """(invoice id, stored values) of a pushed invoice; whether its customer exists is
    checked where the store is at hand (settle.api.upserts)."""
    return _checked(body, INVOICE_COLUMNS, INVOICE_REQUIRED, "invoice_id", invoice_values)


def _checked(
    body: dict[str, Any],
    columns: tuple[str, ...],
    required: tuple[str, ...],
    id_column: str,
    parse: Callable[[dict, Callable[[str, str], None]], dict],
) -> tuple[str, dict]:
    errors: list[dict[str, str]] = []

    def bad(field: str, reason: str) -> None:
        errors.append({"field": field, "reason": reason})

    for name in sorted(set(body) - set(columns)):
        bad(name, f"unknown field (expected {', '.join(columns)})")
    row: dict[str, str] = {}
    for column in columns:
        value = body.get(column)
        if value is None:
            row[column] = ""
        elif isinstance(value, str):
            row[column] = value.strip()
        elif column == "amount" and isinstance(value, (int, float)) and not isinstance(value, bool):
            # A JSON number may already have lost cents (0.1 + 0.2): money comes as text.
            bad(
                column,
                'must be a decimal string in major units such as "285.00", '
                f"not the number {value!r}",
            )
            row[column] = "0"
        else:
            bad(column, f"must be a string, not {type(value).__name__}")
            row[column] = ""
    missing = [c for c in required if not row[c] and not any(e["field"] == c for e in errors)]
    for column in missing:
        bad(column, "required")
    if len(row[id_column]) > MAX_ID:
        bad(id_column, f"longer than {MAX_ID} characters")
    if errors:
        raise InvalidFields(errors)
    values = parse(row, bad)
    if errors:
        raise InvalidFields(errors)
    return row[id_column], values


OPT_OUT_FIELDS = ("phone", "email", "channel")
PHONE_CHANNELS = ("all", "sms", "call")


def opt_out_from_json(body: dict[str, Any], region: str) -> tuple[str, str]:
    """(contact, channel) of an opt-out the billing system recorded: a phone number (E.164,
    parsed as the CSV's are, in region) refusing "all", "sms" or "call" (default "all"), or
    an e-mail address refusing "email" (its only channel, and the default)."""
    errors: list[dict[str, str]] = []

    def bad(field: str, reason: str) -> None:
        errors.append({"field": field, "reason": reason})

    for name in sorted(set(body) - set(OPT_OUT_FIELDS)):
        bad(name, f"unknown field (expected {', '.join(OPT_OUT_FIELDS)})")
    given = {}
    for name in OPT_OUT_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            bad(name, f"must be a string, not {type(value).__name__}")
        elif value is not None and value.strip():
            given[name] = value.strip()
    if "phone" in given and "email" in given:
        bad("email", "give a phone or an e-mail address, not both")
    elif "phone" not in given and "email" not in given and not errors:
        bad("phone", "required (or email, for channel email)")
    contact, channel = "", ""
    if "email" in given:
        contact, channel = given["email"].lower(), given.get("channel", "email")
        if "@" not in contact or len(contact) > 254:
            bad("email", f"{given['email']!r} is not an email address")
        if channel != "email":
            bad("channel", f"an e-mail address can only refuse channel email, not {channel!r}")
    elif "phone" in given:
        channel = given.get("channel", "all")
        if channel == "email":
            bad("channel", "channel email takes an e-mail address (field email), not a phone")
        elif channel not in PHONE_CHANNELS:
            bad("channel", f"for a phone, one of {', '.join(PHONE_CHANNELS)}; not {channel!r}")
        try:
            contact = to_e164(given["phone"], region)
        except ValueError as error:
            bad("phone", str(error))
    if errors:
        raise InvalidFields(errors)
    return contact, channel
