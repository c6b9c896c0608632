"""What a caller hears, in their own language: amounts, dates, list markers and phone
endings said as words by the language's rules, never by English ones."""

from __future__ import annotations

import datetime as dt

import pytest

from settle.core import i18n
from settle.core.money import format_money
from settle.understanding.speech import speakable, spoken_date, spoken_money

MONEY = [
    ("en", 26000, "USD", "two hundred and sixty dollars"),
    ("en", 123456, "USD", "one thousand two hundred and thirty-four dollars and fifty-six cents"),
    ("en", 99, "USD", "ninety-nine cents"),
    ("en", 26000, "CAD", "two hundred and sixty Canadian dollars"),
    ("en", 26000, "EUR", "two hundred and sixty euros"),
    ("en", 100, "USD", "one dollar"),
    ("es", 26000, "USD", "doscientos sesenta dólares"),
    ("es", 123456, "USD", "mil doscientos treinta y cuatro dólares con cincuenta y seis centavos"),
    ("es", 99, "USD", "noventa y nueve centavos"),
    ("es", 26000, "CAD", "doscientos sesenta dólares canadienses"),
    ("es", 26000, "EUR", "doscientos sesenta euros"),
    ("es", 100, "EUR", "un euro"),
    ("fr", 26000, "CAD", "deux cent soixante dollars canadiens"),
    ("fr", 123456, "CAD", "mille deux cent trente-quatre dollars canadiens et cinquante-six cents"),
    ("fr", 99, "CAD", "quatre-vingt-dix-neuf cents"),
    ("fr", 26000, "USD", "deux cent soixante dollars"),
    ("fr", 26000, "EUR", "deux cent soixante euros"),
    ("de", 26000, "EUR", "zweihundertsechzig Euro"),
    ("de", 123456, "EUR", "eintausendzweihundertvierunddreißig Euro und sechsundfünfzig Cent"),
    ("de", 99, "EUR", "neunundneunzig Cent"),
    ("de", 26000, "USD", "zweihundertsechzig Dollar"),
    ("de", 26000, "CAD", "zweihundertsechzig kanadische Dollar"),
    ("de", 100, "EUR", "ein Euro"),
    ("it", 26000, "EUR", "duecentosessanta euro"),
    ("it", 123456, "EUR", "milleduecentotrentaquattro euro e cinquantasei centesimi"),
    ("it", 99, "USD", "novantanove centesimi"),
    ("it", 26000, "USD", "duecentosessanta dollari"),
    ("it", 26000, "CAD", "duecentosessanta dollari canadesi"),
    ("pt", 26000, "USD", "duzentos e sessenta dólares"),
    ("pt", 123456, "USD", "mil duzentos e trinta e quatro dólares e cinquenta e seis centavos"),
    ("pt", 99, "EUR", "noventa e nove centavos"),
    ("pt", 26000, "CAD", "duzentos e sessenta dólares canadenses"),
    ("pt", 26000, "EUR", "duzentos e sessenta euros"),
]


@pytest.mark.parametrize("language, minor, currency, spoken", MONEY)
def test_amounts_are_said_in_words_by_the_languages_rules(language, minor, currency, spoken):
    assert spoken_money(minor, currency, language, region="US") == spoken


@pytest.mark.parametrize("language, minor, currency, spoken", MONEY)
def test_an_amount_written_for_the_locale_is_read_aloud_in_its_language(
    language, minor, currency, spoken
):
    written = format_money(minor, currency, i18n.locale_for(language, "US"))
    assert speakable(f"[{written}]", language, current_year=2026) == f"[{spoken}]"


def test_a_french_canadian_caller_never_hears_ca_dollars():
    written = format_money(26000, "CAD", i18n.locale_for("fr", "US"))
    said = speakable(f"Votre solde est de {written}.", "fr", current_year=2026)
    assert said == "Votre solde est de deux cent soixante dollars canadiens."


DATES = [
    ("en", "March fifteenth", "March first", "March fifteenth, twenty twenty-seven"),
    ("es", "quince de marzo", "primero de marzo", "quince de marzo de dos mil veintisiete"),
    ("fr", "quinze mars", "premier mars", "quinze mars deux mille vingt-sept"),
    ("de", "fünfzehnten März", "ersten März", "fünfzehnten März zweitausendsiebenundzwanzig"),
    ("it", "quindici marzo", "primo marzo", "quindici marzo duemilaventisette"),
    ("pt", "quinze de março", "primeiro de março", "quinze de março de dois mil e vinte e sete"),
]


@pytest.mark.parametrize("language, fifteenth, first, next_year", DATES)
def test_dates_are_said_in_words(language, fifteenth, first, next_year):
    assert spoken_date(dt.date(2026, 3, 15), language, current_year=2026) == fifteenth
    assert spoken_date(dt.date(2026, 3, 1), language, current_year=2026) == first
    assert spoken_date(dt.date(2027, 3, 15), language, current_year=2026) == next_year


@pytest.mark.parametrize("language, fifteenth, first, next_year", DATES)
@pytest.mark.parametrize("width", ["long", "medium", "full"])
def test_a_date_written_for_the_locale_is_read_aloud(language, fifteenth, first, next_year, width):
    from babel.dates import format_date

    locale = i18n.locale_for(language, "US")
    written = format_date(dt.date(2027, 3, 15), width, locale=locale)
    said = speakable(f"<{written}>", language, current_year=2026)
    assert next_year in said, (written, said)
    assert "15" not in said and "2027" not in said


@pytest.mark.parametrize("language", sorted(i18n.VOICES))
def test_phone_endings_and_list_markers_are_read_in_the_callers_language(language):
    link = i18n.text("web_link_ready", language, amount="X", invoice="INV-1", phone_last4="0102")
    said = speakable(link, language, current_year=2026)
    assert "0 1 0 2" in said and "0102" not in said
    listed = speakable("1. A\n2. B", language, current_year=2026)
    assert listed == (
        i18n.text("spoken_list_item", language, number=1)
        + " A "
        + i18n.text("spoken_list_item", language, number=2)
        + " B"
    )
    assert language == "en" or "Number" not in listed


@pytest.mark.parametrize(
    "language, one, two",
    [
        ("en", "1 invoice", "2 invoices"),
        ("es", "1 factura", "2 facturas"),
        ("fr", "1 facture", "2 factures"),
        ("de", "1 Rechnung", "2 Rechnungen"),
        ("it", "1 fattura", "2 fatture"),
        ("pt", "1 fatura", "2 faturas"),
    ],
)
def test_counts_take_the_languages_plural_form(language, one, two):
    assert i18n.plural("invoice_count", 1, language) == one
    assert i18n.plural("invoice_count", 2, language) == two
    assert "(s)" not in i18n.plural("invoice_count", 0, language)


@pytest.mark.parametrize("language", sorted(i18n.VOICES))
@pytest.mark.parametrize("key", ["reminder_before", "reminder_due", "reminder_overdue"])
def test_reminders_count_invoices_in_the_languages_plural_form(language, key):
    values = dict(business="B", lines="-", support_phone="+1")
    one = i18n.plural(key, 1, language, **values)
    two = i18n.plural(key, 2, language, **values)
    assert one != two
    for text in (one, two):
        assert not any(mark in text for mark in ("(s)", "(en)", "(nt)", "/e ", "a/e")), text
