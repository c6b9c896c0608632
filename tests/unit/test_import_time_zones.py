"""A customer's time zone left blank is their phone number's, on import and when the
billing system pushes them; a number spanning zones gets the business's, with a warning."""

from __future__ import annotations

from sqlalchemy import select

from settle.api import upserts
from settle.api.rows import customer_from_json
from settle.app import cli
from settle.store.db import Store
from settle.store.models import AuditEntry, Customer
from tests.unit.test_import import CUSTOMER_HEADER, db_url, write_csv

__all__ = ["db_url"]  # the fixture, shared with test_import

ROWS = [
    "C1,Amélie Roux,+33 1 42 68 53 00,,75008,fr,",
    "C2,João Lima,+55 11 98765-4321,,01310-100,pt,",
    "C3,Toll Free,+1 800 555 0100,,94110,en,",
    "C4,Ann Lee,+33 1 42 68 53 01,,75008,fr,America/Chicago",
]


def _zones(url: str) -> dict[str, str]:
    store = Store.connect(url)
    try:
        with store.unit_of_work() as session:
            return {c.id: c.timezone for c in session.scalars(select(Customer))}
    finally:
        store.engine.dispose()


def test_a_blank_time_zone_is_the_phone_number_s(tmp_path, db_url, monkeypatch, capsys):
    settings = tmp_path / "settle.yml"
    settings.write_text("business:\n  timezone: Europe/Lisbon\n")
    monkeypatch.setenv("SETTLE_SETTINGS", str(settings))
    customers = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, ROWS)
    assert cli.main(["import", "--customers", str(customers)]) == 0
    assert _zones(db_url) == {
        "C1": "Europe/Paris",
        "C2": "America/Sao_Paulo",
        "C3": "Europe/Lisbon",  # a toll-free number spans 42 zones: the business's
        "C4": "America/Chicago",  # the file's own zone wins
    }
    err = capsys.readouterr().err
    assert f"warning: {customers}:4 [timezone]: empty and +18005550100 spans 42 time zones" in err
    assert "using the business's Europe/Lisbon" in err
    assert err.count("warning") == 1
    store = Store.connect(db_url)
    try:
        with store.unit_of_work() as session:
            audit = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "billing.imported")
            ).one()
            assert len(audit.detail["warnings"]) == 1
            assert ":4 [timezone]" in audit.detail["warnings"][0]
    finally:
        store.engine.dispose()


def _pushed(phone: str, timezone: str = "") -> dict:
    body = {"customer_id": "C9", "name": "Bea", "phone": phone, "postal_code": "75008"}
    return body | ({"timezone": timezone} if timezone else {})


def test_a_pushed_customer_gets_the_same_zone_and_the_warning_is_answered_and_audited(demo_store):
    assert (
        customer_from_json(_pushed("+33142685300"), "US", "Europe/Lisbon")[1:]
        == (customer_from_json(_pushed("+33142685300", "Europe/Paris"), "US", "Europe/Lisbon")[1:])
    )
    _, values, warnings = customer_from_json(_pushed("+5511987654321"), "US", "Europe/Lisbon")
    assert values["timezone"] == "America/Sao_Paulo" and warnings == []
    customer_id, values, warnings = customer_from_json(
        _pushed("+18005550100"), "US", "Europe/Lisbon"
    )
    assert values["timezone"] == "Europe/Lisbon"
    assert warnings == [
        {
            "field": "timezone",
            "reason": "empty and +18005550100 spans 42 time zones: "
            "using the business's Europe/Lisbon",
        }
    ]
    with demo_store.unit_of_work() as session:
        written = upserts.upsert_customer(session, customer_id, values, "api:test", warnings)
        assert written.status == 201 and written.body["warnings"] == warnings
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.created_by_billing")
        ).one()
        assert audit.detail["warnings"][0]["field"] == "timezone"


def test_an_update_that_leaves_the_zone_out_keeps_the_customers_zone(
    tmp_path, db_url, monkeypatch, capsys
):
    """Re-importing (or pushing) a known customer without a zone must not move their quiet
    hours to a guess; a new phone number with no zone does take that number's zone."""
    settings = tmp_path / "settle.yml"
    settings.write_text("business:\n  timezone: Europe/Lisbon\n")
    monkeypatch.setenv("SETTLE_SETTINGS", str(settings))
    first = write_csv(tmp_path / "first.csv", CUSTOMER_HEADER, ROWS)
    assert cli.main(["import", "--customers", str(first)]) == 0
    again = [
        "C3,Toll Free,+1 800 555 0100,,94110,en,",  # guessed before: stays Europe/Lisbon
        "C4,Ann Lee,+33 1 42 68 53 01,,75008,fr,",  # set before: stays America/Chicago
        "C1,Amélie Roux,+55 11 98765-4321,,01310-100,fr,",  # moved to Brazil
    ]
    capsys.readouterr()
    assert (
        cli.main(
            ["import", "--customers", str(write_csv(tmp_path / "b.csv", CUSTOMER_HEADER, again))]
        )
        == 0
    )
    assert "warning" not in capsys.readouterr().err  # no guess was made for C3
    assert _zones(db_url) == {
        "C1": "America/Sao_Paulo",
        "C2": "America/Sao_Paulo",
        "C3": "Europe/Lisbon",
        "C4": "America/Chicago",
    }


def test_a_push_that_leaves_the_zone_out_keeps_a_known_customers_zone(demo_store):
    body = _pushed("+18005550100", "America/Denver")
    customer_id, values, _ = customer_from_json(body, "US", "Europe/Lisbon")
    with demo_store.unit_of_work() as session:
        upserts.upsert_customer(session, customer_id, values, "api:test")
    _, values, warnings = customer_from_json(_pushed("+18005550100"), "US", "Europe/Lisbon")
    assert warnings  # a guess, which the known customer does not take
    with demo_store.unit_of_work() as session:
        written = upserts.upsert_customer(
            session, customer_id, values, "api:test", warnings, zone_given=False
        )
        assert written.body["timezone"] == "America/Denver"
        assert "warnings" not in written.body
    _, values, _ = customer_from_json(_pushed("+33142685300"), "US", "Europe/Lisbon")
    with demo_store.unit_of_work() as session:
        written = upserts.upsert_customer(
            session, customer_id, values, "api:test", [], zone_given=False
        )
        assert written.body["timezone"] == "Europe/Paris"  # a new number, a new zone
