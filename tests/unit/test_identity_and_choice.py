"""Who the customer is, what they owe, and which invoice they mean."""

from __future__ import annotations

import datetime as dt

import pytest

from settle.billing import ledger as billing
from settle.billing.identity import (
    customer_by_invoice,
    customer_by_phone,
    find_invoice_number,
    find_postal_code,
    invoice_number_from_keypad,
)
from settle.billing.ledger import OpenInvoice, open_invoices, resolve_choice
from settle.billing.postal_codes import normalise_postal_code
from settle.store.models import Customer, Invoice

# --- finding an invoice number and a postal code in free text ---------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("INV-1042", "INV-1042"),
        ("my invoice is inv 1042", "INV-1042"),
        ("inv1042", "INV-1042"),
        ("Invoice number 1042 please", "INV-1042"),
        ("my invoice number is 1042", "INV-1042"),
        ("invoice #2001", "INV-2001"),
        ("the invoice no. 3001", "INV-3001"),
        ("Invoice is INV-1042", "INV-1042"),
        ("it's inv-2001 and my zip is 10001", "INV-2001"),
        ("zip 94110, invoice INV-1001", "INV-1001"),
        ("zip is 02139", None),
        ("my zip code is 94110", None),
        ("94110", None),
        ("call me at 415 555 0101", None),
        ("I'd like to pay my bill", None),
        ("", None),
        (None, None),
    ],
)
def test_find_invoice_number(text, expected):
    assert find_invoice_number(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("zip is 02139", "02139"),
        ("my zip code is 94110", "94110"),
        ("94110-1234", "94110"),
        ("INV-1001 94110", "94110"),  # the invoice's digits are not a ZIP
        ("invoice 10001 zip 60614", "60614"),
        ("INV-10001", None),
        ("I live at m5v 2t6", "M5V2T6"),
        ("M5V2T6", "M5V2T6"),
        ("postcode SW1A 1AA", "SW1A1AA"),
        ("my phone is 4155550101", None),
        ("I want to pay", None),
    ],
)
def test_find_postal_code(text, expected):
    assert find_postal_code(text) == expected


def test_normalise_postal_code():
    assert normalise_postal_code(" m5v 2t6 ") == "M5V2T6"
    assert normalise_postal_code("94110-1234") == "941101234"


# --- a proven phone (settle.access.proof says when a phone is proven) -------------------


@pytest.mark.parametrize("phone", ["+14155550101", "(415) 555-0101", "4155550101"])
def test_a_phone_on_file_in_any_form_names_its_customer(demo_store, phone):
    with demo_store.unit_of_work() as session:
        customer = customer_by_phone(session, phone)
        assert customer is not None and customer.id == "C001"


def test_an_unknown_or_invalid_number_names_nobody(demo_store):
    with demo_store.unit_of_work() as session:
        assert customer_by_phone(session, "+14155559999") is None
        assert customer_by_phone(session, "not-a-phone") is None
        assert customer_by_phone(session, None) is None


def test_a_shared_number_identifies_nobody(demo_store):
    with demo_store.unit_of_work() as session:
        assert customer_by_phone(session, "+12125550102").id == "C002"
        session.add(
            Customer(id="C005", name="Bea Okafor", phone="+12125550102", postal_code="10001")
        )
        session.flush()
        assert customer_by_phone(session, "+12125550102") is None


def test_keypad_digits_name_the_one_invoice_with_them(demo_store):
    with demo_store.unit_of_work() as session:
        assert invoice_number_from_keypad(session, "1001") == "INV-1001"
        assert invoice_number_from_keypad(session, "001") is None  # a suffix is not a number
        assert invoice_number_from_keypad(session, "9999") is None
        assert invoice_number_from_keypad(session, "10a1") is None
        session.add(
            Invoice(
                id="CR-1001",
                customer_id="C002",
                amount_minor=100,
                currency="USD",
                issued_on=dt.date(2026, 1, 1),
                due_on=dt.date(2026, 2, 1),
            )
        )
        session.flush()
        assert invoice_number_from_keypad(session, "1001") is None  # two invoices: ask again


@pytest.mark.parametrize(
    "spoken, expected",
    [("H 2 X 1 Y 4", "H2X1Y4"), ("it's h2x 1y4", "H2X1Y4"), ("9 4 1 1 0", "94110")],
)
def test_postal_codes_spelled_out_by_a_caller(spoken, expected):
    assert find_postal_code(spoken) == expected


# --- invoice number + postal code ------------------------------------------------------


@pytest.mark.parametrize(
    "number, postal",
    [("INV-1001", "94110"), ("inv-1001", "94110"), ("INV1001", " 94110 "), ("inv 1001", "94110")],
)
def test_customer_by_invoice_with_the_right_postal_code(demo_store, number, postal):
    with demo_store.unit_of_work() as session:
        assert customer_by_invoice(session, number, postal).id == "C001"


def test_customer_by_invoice_postal_code_is_case_and_space_insensitive(demo_store):
    with demo_store.unit_of_work() as session:
        session.get(Customer, "C002").postal_code = "M5V 2T6"
        session.flush()
        for postal in ("m5v 2t6", "M5V2T6", "m5v2t6", " M5V 2T6"):
            assert customer_by_invoice(session, "INV-2002", postal).id == "C002"
        assert customer_by_invoice(session, "INV-2002", "M5V 2T7") is None


@pytest.mark.parametrize(
    "number, postal",
    [
        ("INV-1001", "94111"),  # wrong postal code
        ("INV-1001", "10001"),  # another customer's postal code
        ("INV-1001", ""),
        ("INV-9999", "94110"),  # no such invoice
        ("", "94110"),
    ],
)
def test_customer_by_invoice_refuses(demo_store, number, postal):
    with demo_store.unit_of_work() as session:
        assert customer_by_invoice(session, number, postal) is None


# --- open invoices ----------------------------------------------------------------------


def test_open_invoices_most_recent_first(demo_store):
    with demo_store.unit_of_work() as session:
        c002 = open_invoices(session, "C002")
        c003 = open_invoices(session, "C003")
        assert [i.id for i in c002] == ["INV-2003", "INV-2002", "INV-2001"]
        assert [i.balance_minor for i in c002] == [31075, 9500, 12050]
        assert [i.id for i in c003] == [f"INV-300{n}" for n in range(8, 0, -1)]
        assert [i.id for i in open_invoices(session, "C001")] == ["INV-1001"]
        assert open_invoices(session, "C004") == []  # its only invoice is paid
        assert open_invoices(session, "nobody") == []
        first = c002[0]
        assert first.amount_text() == "$310.75"
        assert first.due_text() == "December 15, 2026"


def test_open_invoices_exclude_void_paid_and_zero_balance(demo_store):
    with demo_store.unit_of_work() as session:
        session.get(Invoice, "INV-2003").status = "void"
        session.get(Invoice, "INV-2002").amount_paid_minor = 9500  # fully paid, still "open"
        session.get(Invoice, "INV-2001").amount_paid_minor = 2050  # partly paid
        session.flush()
        remaining = open_invoices(session, "C002")
        assert [(i.id, i.balance_minor) for i in remaining] == [("INV-2001", 10000)]


# --- which invoice does the customer mean ----------------------------------------------

D = dt.date
OFFERED = [  # as read back: most recent first
    OpenInvoice("INV-1003", 28500, "USD", D(2027, 3, 3), D(2027, 2, 1), "Water heater"),
    OpenInvoice("INV-1002", 12050, "USD", D(2027, 2, 14), D(2027, 1, 1), "Lawn"),
    OpenInvoice("INV-1001", 9500, "USD", D(2027, 1, 20), D(2026, 12, 1), "Hedges"),
]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("the first one", "INV-1003"),
        ("First", "INV-1003"),
        ("the second one", "INV-1002"),
        ("2nd", "INV-1002"),
        ("the third", "INV-1001"),
        ("number 2", "INV-1002"),
        ("option 3", "INV-1001"),
        ("2", "INV-1002"),
        (" 1 ", "INV-1003"),
        ("the last one", "INV-1001"),
        ("the oldest", "INV-1001"),
        ("most recent", "INV-1003"),
        ("the latest one please", "INV-1003"),
        ("the 285 one", "INV-1003"),
        ("$120.50", "INV-1002"),
        ("the one for 120.50", "INV-1002"),
        ("$95", "INV-1001"),
        ("two hundred eighty five dollars", "INV-1003"),
        ("ninety five dollars", "INV-1001"),
        ("the one due March 3rd", "INV-1003"),
        ("the one due march third", "INV-1003"),
        ("due Feb 14", "INV-1002"),
        ("the one due the 3rd of March", "INV-1003"),
        ("INV-1002", "INV-1002"),
        ("invoice 1001 please", "INV-1001"),
    ],
)
def test_resolve_choice(text, expected):
    picked = resolve_choice(text, OFFERED)
    assert picked is not None and picked.id == expected


@pytest.mark.parametrize(
    "text",
    [
        "hmm",
        "",
        "the fourth one",  # only three were offered
        "number 4",
        "4",
        "0",
        "the one due March 4th",  # no invoice due then
        "$120.51",
        "the 300 one",
        "INV-9999",  # an invoice number that was not offered
    ],
)
def test_resolve_choice_unclear_or_unknown(text):
    assert resolve_choice(text, OFFERED) is None


def test_resolve_choice_ambiguous_amount_or_date():
    twins = [
        OpenInvoice("INV-1", 9500, "USD", D(2027, 3, 3), D(2027, 2, 1), ""),
        OpenInvoice("INV-2", 9500, "USD", D(2027, 3, 3), D(2027, 1, 1), ""),
        OpenInvoice("INV-3", 12000, "USD", D(2027, 1, 3), D(2026, 12, 1), ""),
    ]
    assert resolve_choice("the 95 dollar one", twins) is None
    assert resolve_choice("the one due March 3rd", twins) is None
    assert resolve_choice("$120", twins).id == "INV-3"
    assert resolve_choice("the second", twins).id == "INV-2"


def test_resolve_choice_exact_cents_beat_whole_dollars():
    close = [
        OpenInvoice("INV-A", 28500, "USD", D(2027, 3, 3), D(2027, 2, 1), ""),
        OpenInvoice("INV-B", 28550, "USD", D(2027, 2, 3), D(2027, 1, 1), ""),
    ]
    assert resolve_choice("$285.50", close).id == "INV-B"
    assert resolve_choice("$285.00", close).id == "INV-A"
    assert resolve_choice("the 285 one", close).id == "INV-A"


def test_resolve_choice_with_nothing_offered():
    assert resolve_choice("the first one", []) is None


def test_resolve_choice_on_demo_invoices(demo_store):
    with demo_store.unit_of_work() as session:
        offered = billing.open_invoices(session, "C002")
    assert resolve_choice("the 95 one", offered).id == "INV-2002"
    assert resolve_choice("the last one", offered).id == "INV-2001"
    assert resolve_choice("the one due December 15th", offered).id == "INV-2003"


MULTILINGUAL_OFFERED = [
    OpenInvoice("INV-1003", 28500, "USD", dt.date(2026, 3, 3), dt.date(2026, 2, 1), ""),
    OpenInvoice("INV-1002", 12050, "USD", dt.date(2026, 2, 10), dt.date(2026, 1, 1), ""),
    OpenInvoice("INV-1001", 9900, "USD", dt.date(2026, 1, 5), dt.date(2025, 12, 1), ""),
]


@pytest.mark.parametrize(
    "language, text, expected",
    [
        ("es", "la segunda", "INV-1002"),
        ("es", "la de doscientos ochenta y cinco", "INV-1003"),
        ("es", "la que vence el tres de marzo", "INV-1003"),
        ("es", "la más antigua", "INV-1001"),
        ("es", "la número 2", "INV-1002"),
        ("fr", "la deuxième", "INV-1002"),
        ("fr", "celle de deux cent quatre-vingt-cinq", "INV-1003"),
        ("fr", "celle de 120,50", "INV-1002"),
        ("fr", "celle du 10 février", "INV-1002"),
        ("fr", "la dernière", "INV-1001"),
        ("de", "die zweite", "INV-1002"),
        ("de", "die über zweihundertfünfundachtzig", "INV-1003"),
        ("de", "die vom 3. März", "INV-1003"),
        ("de", "die älteste", "INV-1001"),
        ("pt", "a segunda", "INV-1002"),
        ("pt", "a de duzentos e oitenta e cinco", "INV-1003"),
        ("pt", "a que vence em 5 de janeiro", "INV-1001"),
        ("it", "la seconda", "INV-1002"),
        ("it", "quella da duecentottantacinque", "INV-1003"),
        ("it", "quella del 10 febbraio", "INV-1002"),
        ("it", "l'ultima", "INV-1001"),
        ("en", "the 285 one", "INV-1003"),
        ("es", "la tercera", "INV-1001"),
        ("es", "el tercero", "INV-1001"),
        ("fr", "la troisième", "INV-1001"),
        ("de", "die dritte", "INV-1001"),
        ("pt", "a terceira", "INV-1001"),
        ("it", "la terza", "INV-1001"),
    ],
)
def test_choice_in_every_language(language, text, expected):
    picked = resolve_choice(text, MULTILINGUAL_OFFERED, language)
    assert picked is not None and picked.id == expected
