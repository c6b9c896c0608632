"""Card numbers never kept, long messages never stall anyone: over HTTP, on all four channels."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from settle.core import i18n
from tests.harness import http
from tests.http.conftest import wait_for

pytestmark = pytest.mark.servers

CORPUS = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "data" / "card_corpus.yml").read_text(
        encoding="utf-8"
    )
)
SUPPORT = "+14155550100"


def post(servers, sender: str, text: str, language: str = "en", timeout: float = 30) -> tuple:
    started = time.perf_counter()
    status, body = http(
        "POST",
        f"{servers.rasa_url}/webhooks/rest/webhook",
        json.dumps(
            {"sender": sender, "message": text, "metadata": {"language": language}}
        ).encode(),
        {"Content-Type": "application/json"},
        timeout=timeout,
    )
    elapsed = time.perf_counter() - started
    texts = [m["text"] for m in json.loads(body) if m.get("text")] if status == 200 else []
    return status, texts, elapsed


def scan(servers) -> tuple:
    done = servers.settle("scan-pans", "--log", str(servers.workdir))
    return done.returncode, done.stdout + done.stderr


def said(twiml) -> str:
    return " ".join(s.text or "" for s in twiml.iter("Say"))


def test_card_numbers_in_every_form_are_masked_and_the_customer_told_in_their_language(servers):
    by_language = {}
    for form in CORPUS["cards"]:
        by_language.setdefault(form["lang"], []).append(form["text"])
    for language, forms in by_language.items():
        for n, text in enumerate(forms[:4]):
            status, texts, _ = post(servers, f"cards-{language}-{n}", text, language)
            assert status == 200
            assert texts and texts[0] == i18n.text("card_number_removed", language), texts
    assert scan(servers)[0] == 0, scan(servers)[1]


def test_a_card_number_by_text_message_is_masked(servers, fakes):
    _, twilio = fakes
    phone = "+14155550188"
    status, _ = servers.sms(phone, "here is my card 4111.1111.1111.1111 exp 12/29")
    assert status == 200
    warning = i18n.text("card_number_removed", "en")
    assert wait_for(
        lambda: any(
            warning in r.form.get("Body", "")
            for r in twilio.posts("Messages")
            if r.form.get("To") == phone
        )
    )
    assert scan(servers)[0] == 0, scan(servers)[1]


def test_a_card_number_said_or_keyed_on_a_call_is_masked(servers):
    caller, call = "+14155550177", "CA-card-said"  # nobody's number: no side effects
    _, twiml = servers.call(call, caller)
    _, twiml = servers.answer(
        call,
        caller,
        twiml,
        SpeechResult="my card is four one one one one one one one one one one one one one one one",
    )
    assert "never take card numbers" in said(twiml), said(twiml)
    _, twiml = servers.answer(call, caller, twiml, Digits="4111111111111111")
    assert "never take card numbers" in said(twiml), said(twiml)
    assert scan(servers)[0] == 0, scan(servers)[1]


def test_the_scanner_finds_a_card_number_that_got_in(servers, tmp_path):
    planted = tmp_path / "old.log"
    planted.write_text(
        "2026-12-01 10:00:00,000 INFO someone said cinq cinq cinq cinq 5555 5555 5555 4444\n"
    )
    done = servers.settle("scan-pans", "--log", str(planted))
    assert done.returncode == 1
    assert f"{planted}:1" in done.stdout and "4444" not in done.stdout


def test_a_hundred_thousand_characters_get_a_quick_clear_answer(servers):
    _, _, short = post(servers, "long-short", "hello")
    status, texts, long = post(servers, "long-long", "inv" + " " * 99_996 + "x")
    assert status == 200
    assert texts == [i18n.text("message_too_long", "en")], texts
    assert long < 1.0, (long, short)


def test_others_are_served_in_normal_time_while_long_messages_come_in(servers):
    def health() -> float:
        started = time.perf_counter()
        status, _ = http("GET", f"{servers.service_url}/health")
        assert status == 200
        return time.perf_counter() - started

    baseline = [post(servers, f"calm-before-{n}", "hello")[2] for n in range(3)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        floods = [pool.submit(post, servers, f"flood-{n}", "1 " * 50_000) for n in range(8)]
        during = [post(servers, f"calm-during-{n}", "hello")[2] for n in range(3)]
        healths = [health() for _ in range(5)]
        results = [f.result() for f in floods]
    assert all(status == 200 for status, _, _ in results)
    assert max(during) < max(baseline) * 3 + 1.0, (baseline, during)
    assert max(healths) < 0.5, healths


def _refused(url: str, body: bytes, headers: dict) -> bool:
    """413, or the connection closed before the whole body was taken."""
    try:
        status, _ = http("POST", url, body, headers)
    except OSError:
        return True
    return status == 413


def test_oversized_bodies_are_refused_before_anyone_reads_them(servers):
    assert _refused(
        f"{servers.rasa_url}/webhooks/rest/webhook",
        b'{"sender": "big", "message": "' + b"a" * 2_000_000 + b'"}',
        {"Content-Type": "application/json"},
    )
    assert _refused(
        f"{servers.service_url}/webhooks/stripe",
        b"{" + b" " * 300_000 + b"}",
        {"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"},
    )
    # What is not too big still goes through.
    assert post(servers, "not-big", "hello")[0] == 200


def test_when_the_action_server_is_down_the_customer_hears_so_and_carries_on_after(servers):
    sender = "web-action-server-down"
    _, texts, _ = post(servers, sender, "I want to pay my bill")
    assert any("confirm who you are" in t for t in texts), texts
    service = servers.processes[0]
    servers.stop(service)
    try:
        _, texts, _ = post(servers, sender, "INV-1001 94110")
        assert texts == [i18n.text("service_trouble", "en", support_phone=SUPPORT)], texts
    finally:
        servers.start_service()
        servers.processes.insert(
            0, servers.processes.pop()
        )  # [service, rasa], as other tests expect
    _, texts, _ = post(servers, sender, "INV-1001 94110")
    assert any("Thank you, Ava" in t for t in texts), texts  # verified: the flow goes on


def test_rasa_api_takes_only_tokens_signed_by_the_service_and_no_secret_is_an_argument(servers):
    from pathlib import Path as _Path

    from settle.access.rasa_api import authorization

    url = f"{servers.rasa_url}/conversations/web-api-check/tracker"
    assert http("GET", url)[0] == 401
    assert http("GET", f"{url}?token=test-token-{servers.rasa_port}")[0] == 401
    assert (
        http("GET", url, headers=authorization(_Path(servers.env["RASA_JWT_KEY_FILE"])))[0] == 200
    )
    key = _Path(servers.env["RASA_JWT_KEY_FILE"]).read_text()
    for process in servers.processes:
        arguments = _Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace")
        assert "PRIVATE KEY" not in arguments and key.splitlines()[1] not in arguments
        assert servers.env["SETTLE_ACTION_SECRET"] not in arguments
