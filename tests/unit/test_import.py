"""`settle import`: every row valid and upserted by id, or nothing changes and the problem
is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from settle.app import cli
from settle.billing.importer import ImportFailed, import_billing_data
from settle.store.db import Store
from settle.store.models import AuditEntry, Customer, Invoice

CUSTOMER_HEADER = "customer_id,name,phone,email,postal_code,language,timezone"
INVOICE_HEADER = "invoice_id,customer_id,amount,currency,issued_on,due_on,status,description"

GOOD_CUSTOMERS = [
    "C1,Ann Lee,(415) 555-0101,ann@example.com,94110,en,America/Los_Angeles",
    "C2,Bo Diaz,+1 212 555 0102,,m5v 2t6,fr,America/Toronto",
]
GOOD_INVOICES = [
    "I1,C1,285.00,USD,2026-11-02,2026-12-03,open,Water heater",
    'I2,C1,"1,020.50",usd,2026-10-01,2026-11-01,paid,Pipes',
    "I3,C2,95,USD,2026-10-15,2026-11-15,,Lawn",
]


def write_csv(path: Path, header: str, rows) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "STRIPE_API_KEY", "SETTLE_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    return url


def run_import(tmp_path, customers=None, invoices=None):
    argv = ["import"]
    if customers is not None:
        argv += [
            "--customers",
            str(
                write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, customers)
                if isinstance(customers, list)
                else customers
            ),
        ]
    if invoices is not None:
        argv += [
            "--invoices",
            str(
                write_csv(tmp_path / "invoices.csv", INVOICE_HEADER, invoices)
                if isinstance(invoices, list)
                else invoices
            ),
        ]
    return cli.main(argv)


def counts(url):
    store = Store.connect(url)
    try:
        with store.unit_of_work() as session:
            return (
                session.scalar(select(func.count(Customer.id))),
                session.scalar(select(func.count(Invoice.id))),
            )
    finally:
        store.engine.dispose()


def invoice_amounts(url):
    store = Store.connect(url)
    try:
        with store.unit_of_work() as session:
            return {
                i.id: (i.amount_minor, i.status, i.currency)
                for i in session.scalars(select(Invoice))
            }
    finally:
        store.engine.dispose()


# --- good imports -----------------------------------------------------------------------


def test_good_import_creates_everything(tmp_path, db_url, capsys):
    assert run_import(tmp_path, GOOD_CUSTOMERS, GOOD_INVOICES) == 0
    out = capsys.readouterr().out
    assert "customers: 2 created, 0 updated; invoices: 3 created, 0 updated" in out
    store = Store.connect(db_url)
    try:
        with store.unit_of_work() as session:
            ann, bo = session.get(Customer, "C1"), session.get(Customer, "C2")
            assert ann.phone == "+14155550101" and ann.timezone == "America/Los_Angeles"
            assert bo.phone == "+12125550102" and bo.email is None
            assert bo.postal_code == "M5V 2T6" and bo.language == "fr"
            i1, i2, i3 = (session.get(Invoice, i) for i in ("I1", "I2", "I3"))
            assert (i1.amount_minor, i1.currency, i1.status) == (28500, "USD", "open")
            assert (i2.amount_minor, i2.currency, i2.status) == (102050, "USD", "paid")
            assert (i3.amount_minor, i3.status) == (9500, "open")  # empty status means open
            assert str(i1.due_on) == "2026-12-03" and i1.description == "Water heater"
            audit = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "billing.imported")
            ).one()
            assert audit.detail["invoices_created"] == 3
    finally:
        store.engine.dispose()


def test_reimport_updates_by_id(tmp_path, db_url, capsys):
    assert run_import(tmp_path, GOOD_CUSTOMERS, GOOD_INVOICES) == 0
    capsys.readouterr()
    changed = [
        GOOD_INVOICES[0].replace("285.00", "300.00"),
        *GOOD_INVOICES[1:],
        "I4,C2,10.00,USD,2026-11-01,2026-12-01,open,New",
    ]
    assert run_import(tmp_path, GOOD_CUSTOMERS, changed) == 0
    out = capsys.readouterr().out
    assert "customers: 0 created, 2 updated; invoices: 1 created, 3 updated" in out
    amounts = invoice_amounts(db_url)
    assert amounts["I1"] == (30000, "open", "USD")
    assert amounts["I4"] == (1000, "open", "USD")
    assert counts(db_url) == (2, 4)


def test_invoices_alone_may_refer_to_customers_already_in_the_database(tmp_path, db_url, capsys):
    assert run_import(tmp_path, GOOD_CUSTOMERS, None) == 0
    assert run_import(tmp_path, None, ["I9,C2,5.00,USD,2026-01-01,2026-01-31,open,x"]) == 0
    assert "invoices: 1 created, 0 updated" in capsys.readouterr().out
    assert invoice_amounts(db_url)["I9"] == (500, "open", "USD")


def test_import_without_files_is_a_usage_error(tmp_path, db_url, capsys):
    assert cli.main(["import"]) == 2
    assert "--customers" in capsys.readouterr().err


# --- bad imports: non-zero, file + line + reason, nothing imported ---------------------

BAD_CUSTOMER_CASES = {
    "bad phone": (1, "C2,Bo,12345,,10001,en,America/New_York", "phone", "12345"),
    "bad timezone": (1, "C2,Bo,212-555-0102,,10001,en,Mars/Olympus", "timezone", "IANA"),
    "bad language": (
        1,
        "C2,Bo,212-555-0102,,10001,english,America/New_York",
        "language",
        "ISO 639-1",
    ),
    "unknown language": (
        1,
        "C2,Bo,212-555-0102,,10001,xx,America/New_York",
        "language",
        "ISO 639-1",
    ),
    "duplicate customer": (
        1,
        "C1,Ann again,212-555-0102,,10001,en,America/New_York",
        "customer_id",
        "duplicate",
    ),
    "bad email": (
        1,
        "C2,Bo,212-555-0102,bo-at-example,10001,en,America/New_York",
        "email",
        "not an email",
    ),
}


@pytest.mark.parametrize(
    "row, column, reason",
    [v[1:] for v in BAD_CUSTOMER_CASES.values()],
    ids=list(BAD_CUSTOMER_CASES),
)
def test_bad_customer_row_fails_the_whole_import(tmp_path, db_url, capsys, row, column, reason):
    customers = [GOOD_CUSTOMERS[0], row]  # the bad row is line 3
    invoices = ["I1,C1,285.00,USD,2026-11-02,2026-12-03,open,x"]
    assert run_import(tmp_path, customers, invoices) == 1
    err = capsys.readouterr().err
    assert "nothing imported" in err
    assert f"customers.csv:3 [{column}]" in err
    assert reason in err
    assert counts(db_url) == (0, 0)


BAD_INVOICE_CASES = {
    "too many decimals": ("I2,C1,12.345,USD,2026-01-01,2026-02-01,open,x", "amount", "decimals"),
    "not a number": ("I2,C1,abc,USD,2026-01-01,2026-02-01,open,x", "amount", "not a number"),
    "negative": ("I2,C1,-5,USD,2026-01-01,2026-02-01,open,x", "amount", "positive"),
    "too large": ("I2,C1,30000000.00,USD,2026-01-01,2026-02-01,open,x", "amount", "too large"),
    "bad currency": ("I2,C1,5.00,XYZ,2026-01-01,2026-02-01,open,x", "currency", "XYZ"),
    "unknown customer": (
        "I2,C404,5.00,USD,2026-01-01,2026-02-01,open,x",
        "customer_id",
        "unknown customer 'C404'",
    ),
    "bad date": ("I2,C1,5.00,USD,2026-13-01,2026-02-01,open,x", "issued_on", "ISO 8601"),
    "US date": ("I2,C1,5.00,USD,2026-01-01,02/01/2026,open,x", "due_on", "ISO 8601"),
    "due before issued": ("I2,C1,5.00,USD,2026-03-01,2026-02-01,open,x", "due_on", "due before"),
    "bad status": ("I2,C1,5.00,USD,2026-01-01,2026-02-01,pending,x", "status", "'pending'"),
    "duplicate id": (
        "I1,C1,5.00,USD,2026-01-01,2026-02-01,open,x",
        "invoice_id",
        "duplicate id 'I1' (first on line 2)",
    ),
}


@pytest.mark.parametrize(
    "row, column, reason", list(BAD_INVOICE_CASES.values()), ids=list(BAD_INVOICE_CASES)
)
def test_bad_invoice_row_fails_the_whole_import(tmp_path, db_url, capsys, row, column, reason):
    # Good customers and good earlier invoices; the bad row is the last row of the second file.
    invoices = [
        "I1,C1,285.00,USD,2026-11-02,2026-12-03,open,x",
        "I3,C2,95.00,USD,2026-10-15,2026-11-15,open,y",
        row,
    ]
    assert run_import(tmp_path, GOOD_CUSTOMERS, invoices) == 1
    err = capsys.readouterr().err
    assert "settle import: nothing imported, 1 problem(s)" in err
    assert f"invoices.csv:4 [{column}]" in err
    assert reason in err
    assert counts(db_url) == (0, 0)


def test_missing_column_is_reported_for_the_file(tmp_path, db_url, capsys):
    customers = write_csv(
        tmp_path / "customers.csv",
        "customer_id,name,email,postal_code,language,timezone",
        ["C1,Ann,ann@example.com,94110,en,America/New_York"],
    )
    assert run_import(tmp_path, customers, None) == 1
    err = capsys.readouterr().err
    assert "customers.csv:1" in err and "missing column(s): phone" in err
    assert counts(db_url) == (0, 0)


def test_extra_field_is_reported(tmp_path, db_url, capsys):
    invoices = ["I1,C1,285.00,USD,2026-11-02,2026-12-03,open,x,surprise"]
    assert run_import(tmp_path, GOOD_CUSTOMERS, invoices) == 1
    err = capsys.readouterr().err
    assert "invoices.csv:2" in err and "more fields" in err
    assert counts(db_url) == (0, 0)


def test_missing_file_is_reported(tmp_path, db_url, capsys):
    assert run_import(tmp_path, tmp_path / "nope.csv", None) == 1
    err = capsys.readouterr().err
    assert "nope.csv" in err and "cannot read file" in err


def test_all_problems_are_listed_in_file_and_line_order(tmp_path, db_url, capsys):
    customers = [GOOD_CUSTOMERS[0], "C2,Bo,12345,,10001,en,America/New_York"]
    invoices = [
        "I1,C1,abc,USD,2026-11-02,2026-12-03,open,x",
        "I2,C1,5.00,USD,2026-11-02,2026-12-03,done,x",
    ]
    assert run_import(tmp_path, customers, invoices) == 1
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    assert len(lines) == 3
    assert "customers.csv:3 [phone]" in lines[0]
    assert "invoices.csv:2 [amount]" in lines[1]
    assert "invoices.csv:3 [status]" in lines[2]


def test_failed_reimport_leaves_earlier_data_untouched(tmp_path, db_url, capsys):
    assert run_import(tmp_path, GOOD_CUSTOMERS, GOOD_INVOICES) == 0
    before = invoice_amounts(db_url)
    changed = [
        GOOD_INVOICES[0].replace("285.00", "999.00"),
        *GOOD_INVOICES[1:],
        "I4,C1,10.00,USD,2026-11-01,2026-12-01,open,New",
        "I5,C1,1.001,USD,2026-11-01,2026-12-01,open,Bad",
    ]
    new_customer = [*GOOD_CUSTOMERS, "C3,Cy,312-555-0103,,60614,en,America/Chicago"]
    assert run_import(tmp_path, new_customer, changed) == 1
    assert "invoices.csv:6 [amount]" in capsys.readouterr().err
    assert invoice_amounts(db_url) == before
    assert counts(db_url) == (2, 3)


# --- import_billing_data on both backends ---------------------------------------------


def test_import_is_atomic_on_each_backend(store, tmp_path):
    customers = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, GOOD_CUSTOMERS)
    invoices = write_csv(tmp_path / "invoices.csv", INVOICE_HEADER, GOOD_INVOICES)
    with store.unit_of_work() as session:
        result = import_billing_data(session, customers, invoices)
    assert (result.customers_created, result.invoices_created) == (2, 3)

    bad_customers = write_csv(
        tmp_path / "c2.csv",
        CUSTOMER_HEADER,
        [
            GOOD_CUSTOMERS[0].replace("Ann Lee", "Ann Changed"),
            "C3,Cy,312-555-0103,,60614,en,America/Chicago",
        ],
    )
    bad_invoices = write_csv(
        tmp_path / "i2.csv",
        INVOICE_HEADER,
        [
            GOOD_INVOICES[0].replace("285.00", "300.00"),
            "I4,C3,10.00,USD,2026-11-01,2026-12-01,open,New",
            "I5,C1,10.00,USD,2026-11-01,2026-12-01,late,Bad",
        ],
    )
    with pytest.raises(ImportFailed) as failure:
        with store.unit_of_work() as session:
            import_billing_data(session, bad_customers, bad_invoices)
    assert [(e.line, e.column) for e in failure.value.errors] == [(4, "status")]
    assert str(failure.value.errors[0]).startswith(f"{bad_invoices}:4 [status]")

    with store.unit_of_work() as session:
        assert session.get(Customer, "C1").name == "Ann Lee"
        assert session.get(Customer, "C3") is None
        assert session.get(Invoice, "I1").amount_minor == 28500
        assert session.get(Invoice, "I4") is None
        assert session.scalar(select(func.count(AuditEntry.id))) == 1

    with store.unit_of_work() as session:
        result = import_billing_data(session, bad_customers, None)
    assert (result.customers_created, result.customers_updated) == (1, 1)


# --- settle demo / settle invoice show -------------------------------------------------


def test_invoice_show_json_after_demo(db_url, capsys):
    assert cli.main(["demo"]) == 0
    assert (
        "customers: 4 created, 0 updated; invoices: 13 created, 0 updated"
        in capsys.readouterr().out
    )
    assert cli.main(["invoice", "show", "INV-1001", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["invoice_id"] == "INV-1001"
    assert document["customer_id"] == "C001"
    assert document["amount"] == 28500
    assert document["amount_paid"] == 0
    assert document["amount_due"] == 28500
    assert document["currency"] == "USD"
    assert document["status"] == "open"
    assert document["due_on"] == "2026-12-03"
    assert document["payments"] == []
    assert document["payment_links"] == []


def test_demo_if_empty_does_not_reimport(db_url, capsys):
    assert cli.main(["demo"]) == 0
    capsys.readouterr()
    assert cli.main(["demo", "--if-empty"]) == 0
    assert "created" not in capsys.readouterr().out
    assert counts(db_url) == (4, 13)


def test_invoice_show_text_after_demo(db_url, capsys):
    assert cli.main(["demo"]) == 0
    capsys.readouterr()
    assert cli.main(["invoice", "show", "INV-4001"]) == 0
    out = capsys.readouterr().out
    assert "INV-4001 (paid) for C004" in out and "$450.00" in out


def test_invoice_show_unknown_invoice(db_url, capsys):
    assert cli.main(["demo"]) == 0
    capsys.readouterr()
    assert cli.main(["invoice", "show", "INV-9999", "--json"]) == 1
    captured = capsys.readouterr()
    assert "no invoice 'INV-9999'" in captured.err
    assert captured.out == ""
