"""Opt-outs as a safety check, over real servers and signed texts, in every language: "no
more reminders" stops messages even when the model hears a reminder request; "too many
reminders" is asked about in the customer's language, and only a yes stops messages."""

from __future__ import annotations

import sqlite3

import pytest

from tests.http.conftest import wait_for

pytestmark = pytest.mark.servers

# language: (clear opt-out, unsure, yes, no, the question, the confirmation, the "no" answer)
LANGUAGES = {
    "en": (
        "no more reminders please",
        "too many reminders",
        "yes",
        "no",
        "Do you want us to stop contacting you?",
        "We won't send any more messages",
        "nothing changes",
    ),
    "es": (
        "no más recordatorios por favor",
        "demasiados recordatorios",
        "sí",
        "no",
        "¿Quiere que dejemos de contactarle?",
        "Ya no enviaremos más mensajes",
        "no cambia nada",
    ),
    "fr": (
        "plus de rappels s'il vous plaît",
        "trop de rappels",
        "oui",
        "non",
        "Voulez-vous que nous arrêtions de vous contacter?",
        "Nous n'enverrons plus de messages",
        "rien ne change",
    ),
    "de": (
        "keine Erinnerungen mehr bitte",
        "zu viele Erinnerungen",
        "ja",
        "nein",
        "Möchten Sie, dass wir Sie nicht mehr kontaktieren?",
        "Wir senden keine Nachrichten mehr",
        "es ändert sich nichts",
    ),
    "it": (
        "basta promemoria per favore",
        "troppi promemoria",
        "sì",
        "no",
        "Vuole che smettiamo di contattarla?",
        "Non invieremo più messaggi",
        "non cambia nulla",
    ),
    "pt": (
        "chega de lembretes por favor",
        "lembretes demais",
        "sim",
        "não",
        "Você quer que a gente pare de entrar em contato com você?",
        "Não vamos mais enviar mensagens",
        "nada muda",
    ),
}
CASES = {"clear": 4, "yes": 6, "no": 8}  # numbers no other test uses: +1415555014x, 016x, 018x


def _phone(language: str, case: str) -> str:
    return f"+141555501{CASES[case]}{list(LANGUAGES).index(language) + 1}"


@pytest.fixture(scope="module")
def customers(servers, tmp_path_factory):
    """A customer per language and case, their language on file, one open invoice each."""
    folder = tmp_path_factory.mktemp("opt-out-customers")
    people = ["customer_id,name,phone,email,postal_code,language,timezone"]
    bills = ["invoice_id,customer_id,amount,currency,issued_on,due_on,status,description"]
    for language in LANGUAGES:
        for case in CASES:
            phone = _phone(language, case)
            customer = f"O{phone[-4:]}"
            people.append(f"{customer},Olga {customer},{phone},o@example.com,94110,{language},UTC")
            bills.append(f"INV-7{phone[-4:]},{customer},50.00,USD,2026-11-01,2026-12-03,open,x")
    (folder / "c.csv").write_text("\n".join(people) + "\n")
    (folder / "i.csv").write_text("\n".join(bills) + "\n")
    done = servers.settle(
        "import", "--customers", str(folder / "c.csv"), "--invoices", str(folder / "i.csv")
    )
    assert done.returncode == 0, done.stderr


def _replies_to(servers, phone: str) -> list[str]:
    """The assistant's replies to `phone` as the outbox recorded them (sent or refused)."""
    return [body for body, _ in _outbox(servers, phone)]


def _outbox(servers, phone: str) -> list[tuple[str, str]]:
    with sqlite3.connect(servers.workdir / "settle.db") as db:
        rows = db.execute('SELECT body, status FROM messages WHERE "to" = ? ORDER BY id', (phone,))
        return list(rows)


def _reply(servers, phone: str, text: str, expected: str) -> None:
    before = len(_replies_to(servers, phone))
    servers.sms(phone, text)
    assert wait_for(lambda: any(expected in t for t in _replies_to(servers, phone)[before:])), (
        text,
        _replies_to(servers, phone),
    )


def _opted_out(servers, phone: str) -> bool:
    with sqlite3.connect(servers.workdir / "settle.db") as db:
        (count,) = db.execute("SELECT COUNT(*) FROM opt_outs WHERE phone = ?", (phone,)).fetchone()
    return count > 0


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_no_more_reminders_opts_out_in_every_language(servers, customers, language):
    clear, *_, confirmed, _ = LANGUAGES[language]
    phone = _phone(language, "clear")
    _reply(servers, phone, clear, confirmed)
    assert _opted_out(servers, phone)
    # The confirmation goes out (the one message carriers allow after an opt-out)...
    assert [status for body, status in _outbox(servers, phone) if confirmed in body] != ["refused"]
    # ...and nothing after it.
    _reply(servers, phone, "hello", "")
    assert _outbox(servers, phone)[-1][1] == "refused"


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_an_unsure_message_is_asked_about_and_yes_opts_out(servers, customers, language):
    _, unsure, yes, _, question, confirmed, _ = LANGUAGES[language]
    phone = _phone(language, "yes")
    _reply(servers, phone, unsure, question)
    assert not _opted_out(servers, phone), "asked first, not opted out"
    _reply(servers, phone, yes, confirmed)
    assert _opted_out(servers, phone)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_an_unsure_message_answered_no_changes_nothing(servers, customers, language):
    _, unsure, _, no, question, _, declined = LANGUAGES[language]
    phone = _phone(language, "no")
    _reply(servers, phone, unsure, question)
    _reply(servers, phone, no, declined)
    assert not _opted_out(servers, phone)


def test_dont_stop_reminding_me_is_asked_about_never_an_opt_out(servers, customers):
    """The model hears an opt-out in it; the rules know better than to stop at once."""
    phone = "+14155550149"
    _reply(servers, phone, "don't stop reminding me", "Do you want us to stop contacting you?")
    _reply(servers, phone, "no", "nothing changes")
    assert not _opted_out(servers, phone)
