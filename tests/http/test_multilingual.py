"""One assistant, six languages: detection, switching, locale formatting, stored languages."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.http.conftest import wait_for

pytestmark = pytest.mark.servers


def test_a_spanish_conversation_with_amounts_and_dates_in_spanish(servers, fakes):
    sender = "web-es-1"
    reply = servers.say(sender, "hola buenas, quiero pagar mi factura por favor")
    assert "necesito confirmar su identidad" in reply[0]
    reply = servers.say(sender, "la factura es INV-8201 y el código postal 94110")
    assert "Gracias, Tom" in reply[0]
    assert "Tiene 3 facturas pendientes" in reply[1]
    assert "$150.00, vence el 1 de diciembre de 2026" in reply[1]
    reply = servers.say(sender, "la segunda")
    assert "Para confirmar: factura INV-8202 por $75.50" in reply[0]
    assert "1 de noviembre de 2026" in reply[0]


def test_switching_language_midway(servers):
    sender = "web-switch-1"
    reply = servers.say(sender, "I want to pay my bill")
    assert "confirm who you are" in reply[0]
    reply = servers.say(sender, "en français s'il vous plaît")
    assert "je dois confirmer votre identité" in reply[0], "the question is asked again in French"
    reply = servers.say(sender, "INV-8301 94110")
    assert "Merci, Tina" in reply[0] or "Tina" in reply[0]
    spoken = " ".join(reply).replace("\xa0", " ").replace("\u202f", " ")
    assert "99,00 $ US" in spoken and "1 décembre 2026" in spoken
    # A short reply does not flip the language back.
    reply = servers.say(sender, "ok")
    assert not any("Sorry" in r for r in reply), reply


def test_a_texter_recognised_by_number_hears_their_stored_language(servers, fakes, tmp_path):
    _, twilio = fakes
    phone = "+14155550119"
    (tmp_path / "c.csv").write_text(
        "customer_id,name,phone,email,postal_code,language,timezone\n"
        f"T009,Gina Deutsch,{phone},g@example.com,10115,de,Europe/Berlin\n"
    )
    (tmp_path / "i.csv").write_text(
        "invoice_id,customer_id,amount,currency,issued_on,due_on,status,description\n"
        "INV-8901,T009,285.00,USD,2026-11-01,2026-12-03,open,Heizung\n"
    )
    assert (
        servers.settle(
            "import", "--customers", str(tmp_path / "c.csv"), "--invoices", str(tmp_path / "i.csv")
        ).returncode
        == 0
    )
    status, body = servers.sms(phone, "1")  # says nothing about a language
    status, body = servers.sms(phone, "PAY")
    assert wait_for(
        lambda: any(
            "285,00 $" in r.form["Body"] and "3. Dezember 2026" in r.form["Body"]
            for r in twilio.posts("Messages")
            if r.form["To"] == phone
        )
    ), [r.form["Body"] for r in twilio.posts("Messages") if r.form["To"] == phone]


def test_spanish_opt_out_keyword_is_honoured_and_answered_in_spanish(servers):
    status, body = servers.sms("+14155550150", "BAJA")  # a number no other test uses
    (text,) = [m.text for m in ET.fromstring(body).iter("Message")]
    assert "STOP" not in text or "START" in text
    assert text != "" and "unsubscribed" not in text


def _import_spanish_customers(servers, tmp_path, phones: dict[str, str]) -> None:
    people = ["customer_id,name,phone,email,postal_code,language,timezone"]
    bills = ["invoice_id,customer_id,amount,currency,issued_on,due_on,status,description"]
    for customer_id, phone in phones.items():
        people.append(f"{customer_id},Rosa {customer_id},{phone},r@example.com,94110,es,UTC")
        bills.append(f"INV-{customer_id[1:]},{customer_id},285.00,USD,2026-11-01,2026-12-03,open,x")
    (tmp_path / "c.csv").write_text("\n".join(people) + "\n")
    (tmp_path / "i.csv").write_text("\n".join(bills) + "\n")
    done = servers.settle(
        "import", "--customers", str(tmp_path / "c.csv"), "--invoices", str(tmp_path / "i.csv")
    )
    assert done.returncode == 0, done.stderr


def _spoken(root: ET.Element) -> tuple:
    gather = root.find("Gather")
    say = (gather if gather is not None else root).find("Say")
    return say.text, say.get("language"), gather.get("language") if gather is not None else None


def test_an_attested_caller_hears_the_language_on_file_in_its_own_voice(servers, tmp_path):
    _import_spanish_customers(servers, tmp_path, {"R7101": "+14155550171"})
    status, twiml = servers.call("CAlang0001", "+14155550171")
    text, voice_language, listening_for = _spoken(twiml)
    assert status == 200 and text.startswith("¡Hola"), text
    assert voice_language.startswith("es") and listening_for.startswith("es")


def test_a_caller_the_carrier_did_not_vouch_for_learns_nothing_from_the_owners_session(
    servers, tmp_path
):
    """The owner texts (their number proven, Spanish on file), then someone calls from the
    same number without attestation: they are not told the owner's language."""
    _import_spanish_customers(servers, tmp_path, {"R7102": "+14155550172"})
    servers.sms("+14155550172", "1")
    status, twiml = servers.call("CAlang0002", "+14155550172", StirVerstat="TN-Validation-Passed-C")
    assert status == 200 and not _spoken(twiml)[0].startswith("¡Hola"), _spoken(twiml)


def test_the_owner_texting_after_an_unattested_call_hears_the_language_on_file(
    servers, fakes, tmp_path
):
    _, twilio = fakes
    phone = "+14155550174"
    _import_spanish_customers(servers, tmp_path, {"R7104": phone})
    servers.call("CAlang0004", phone, StirVerstat="TN-Validation-Passed-B")  # their own call
    servers.sms(phone, "PAY")
    assert wait_for(
        lambda: any(
            "factura" in r.form["Body"] for r in twilio.posts("Messages") if r.form["To"] == phone
        )
    ), [r.form["Body"] for r in twilio.posts("Messages") if r.form["To"] == phone]
