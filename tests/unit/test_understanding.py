"""Free-text answers that steer money: refund reasons and installment counts, in every language."""

from __future__ import annotations

import pytest

from settle.understanding.answers import installment_request, refund_reason


@pytest.mark.parametrize(
    "text, language, reason",
    [
        ("you charged me twice for the same visit", "en", "duplicate"),
        ("i was double charged", "en", "duplicate"),
        ("me cobraron dos veces", "es", "duplicate"),
        ("vous m'avez prélevé deux fois", "fr", "duplicate"),
        ("sie haben zweimal abgebucht", "de", "duplicate"),
        ("fui cobrado duas vezes", "pt", "duplicate"),
        ("mi avete addebitato due volte", "it", "duplicate"),
        ("you charged me way too much", "en", "overcharge"),
        ("me cobraron de más", "es", "overcharge"),
        ("le montant est trop élevé", "fr", "overcharge"),
        ("das war zu viel", "de", "overcharge"),
        ("cobraram a mais", "pt", "overcharge"),
        ("mi avete fatto pagare troppo", "it", "overcharge"),
        ("the technician never showed up", "en", "service_not_provided"),
        ("el técnico nunca vino", "es", "service_not_provided"),
        ("le technicien n'est jamais venu", "fr", "service_not_provided"),
        ("der techniker ist nie gekommen", "de", "service_not_provided"),
        ("o técnico nunca veio", "pt", "service_not_provided"),
        ("il tecnico non è mai venuto", "it", "service_not_provided"),
        ("I cancelled the appointment", "en", "cancelled"),
        ("cancelé la cita", "es", "cancelled"),
        ("j'ai annulé le rendez-vous", "fr", "cancelled"),
        ("ich habe den termin abgesagt", "de", "cancelled"),
        ("cancelei a visita", "pt", "cancelled"),
        ("ho disdetto l'appuntamento", "it", "cancelled"),
    ],
)
def test_refund_reasons_in_every_language(text, language, reason):
    assert refund_reason(text, language) == reason


@pytest.mark.parametrize("text", ["i just changed my mind", "because", "", "INV-2001 10001"])
def test_an_answer_without_a_reason_is_not_guessed(text):
    assert refund_reason(text, "en") is None


@pytest.mark.parametrize(
    "text, language, expected",
    [
        ("could I do it in 4 payments", "en", ("count", 4)),
        ("six months please", "en", ("count", 6)),
        ("just two", "en", ("count", 2)),
        ("lo puedo hacer en seis pagos", "es", ("count", 6)),
        ("en trois fois", "fr", ("count", 3)),
        ("in drei Raten", "de", ("count", 3)),
        ("em cinco vezes", "pt", ("count", 5)),
        ("in quattro rate", "it", ("count", 4)),
        ("fewer payments please", "en", ("fewer", 0)),
        ("more payments", "en", ("more", 0)),
        ("con menos pagos", "es", ("fewer", 0)),
        ("plus de versements", "fr", ("more", 0)),
        ("weniger Raten bitte", "de", ("fewer", 0)),
    ],
)
def test_installment_counts_and_directions(text, language, expected):
    assert installment_request(text, language) == expected


@pytest.mark.parametrize("text", ["yes", "the one for $285", "on March 3", "sure, at 10:30"])
def test_amounts_dates_and_times_are_not_counts(text):
    assert installment_request(text, "en") is None
