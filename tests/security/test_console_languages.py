"""The console in the operator's language, over real HTTP: every page, asked for in each
language but English, says nothing of the English catalog that its own language says
otherwise, with <html lang> to match; the language selector's cookie beats the browser's
Accept-Language, and anything but one of the six languages changes nothing."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import html
import re

import pytest
from sqlalchemy import select

from settle.access.lockout import record_miss
from settle.access.records import IdentityLock
from settle.app import runtime
from settle.billing.disputes import open_dispute
from settle.billing.handoff import record_handoff
from settle.billing.reconcile import handle_payment_event
from settle.console.queue import work_queue
from settle.console.report_templates import SCRIPT
from settle.console.words import COOKIE, LANGUAGES, catalog, said
from settle.refunds.issue import issue_refund
from settle.store.models import Customer
from tests.security.test_console import ORIGIN, Browser, Console, console  # noqa: F401
from tests.security.test_console_review import CONVERSATIONS, review  # noqa: F401
from tests.security.test_flagged_payments import _invoice
from tests.security.test_work_queue import _seed
from tests.unit.report_data import LANGUAGES as BUSINESS_LANGUAGES

OTHERS = [lang for lang in LANGUAGES if lang != "en"]


@pytest.fixture
def settings(settings):
    return dataclasses.replace(
        settings, business=dataclasses.replace(settings.business, languages=BUSINESS_LANGUAGES)
    )


@pytest.fixture
def busy(review, settings):  # noqa: F811
    """The console with conversations, one of each kind of queue item, and operators in
    every state."""
    payment_id = _seed(review.store)
    with review.store.unit_of_work() as session:
        open_dispute(session, "C1", "INV-1", "Never done", "conversation:+14155550101")
        record_handoff(session, "conversation:x", "asked", {"channel": "sms"})
        rules = settings.security.lockout
        for _ in range(rules.limit_for("customer").misses):
            record_miss(session, rules, {"customer": "C1"}, "conversation:x")
        assert session.scalar(select(IdentityLock.id)) is not None
        session.add(
            Customer(id="C2", name="Max", phone="+14155550102", postal_code="10115", language="de")
        )
        _invoice(session, "INV-2", 80000, dt.date(2026, 2, 1))
        session.flush()
        over = _paid("evt_over", 100000, client_reference_id="INV-2")
        assert handle_payment_event(session, over, settings, provider="sandbox") == "paid"
        lost = _paid("evt_lost", 4200)
        assert handle_payment_event(session, lost, settings, provider="sandbox") == "unmatched"
    wired = runtime.current()
    refund = issue_refund(
        review.store, wired.gateway, settings, wired.policy, "C1", payment_id, "overcharge", "x"
    )
    assert refund.status == "person"
    review.add("cy@example.com", "agent")  # still on a one-time password
    review.add("dee@example.com", "agent")
    review.signed_in("eve@example.com", "agent")
    with review.store.unit_of_work() as session:
        from settle.console import accounts

        accounts.deactivate(session, "dee@example.com", "test")
    return review


def _paid(event_id: str, minor: int, **more: str) -> dict:
    """A sandbox checkout's payment event."""
    paid = {"payment_status": "paid", "amount_total": minor, "currency": "usd", **more}
    data = {"object": {"id": f"cs_{event_id}", "payment_intent": f"pi_{event_id}", **paid}}
    return {"id": event_id, "type": "checkout.session.completed", "data": data}


def _accept(lang: str) -> str:
    return f"{lang}-XX,{lang};q=0.9,en;q=0.5"


def _visible(body: str) -> str:
    """What a person reads of a page, and the labels a screen reader or a chart shows:
    text, <title>, placeholders, aria-labels and the charts' JSON (not the chart script)."""
    body = body.replace(SCRIPT, "")
    attributes = re.findall(r"(?:placeholder|aria-label)='([^']*)'", body)
    text = re.sub(r"<style>.*?</style>", " ", body, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text)
    return html.unescape(text + " " + " ".join(attributes))


def _english_left(body: str, lang: str, untranslated: list[str]) -> list[str]:
    """The English catalog's texts (their fixed parts) that `lang` says otherwise and that
    the page still shows, once `untranslated` (texts not yet in the catalogs) are left out."""
    english, own = catalog("en"), catalog(lang)
    for text in untranslated:
        body = body.replace(f"<td>{html.escape(text)}<td", "<td><td")
    seen = _visible(body)
    left = []
    for key, text in english.items():
        if own[key] == text:
            continue
        for part in re.split(r"\{[^}]*\}", text):
            part = part.strip(" .:()·,")
            if len(part) < 2 or part in own[key]:
                continue
            if re.search(rf"(?<![\w-]){re.escape(part)}(?![\w-])", seen):
                left.append(f"{key}: {part!r}")
    return left


def _pages(console: Console, lang: str) -> dict[str, str]:  # noqa: F811
    """Every kind of console page, its forms' errors too, asked for in `lang`."""
    header = {"Accept_Language": _accept(lang)}
    pages: dict[str, str] = {}
    stranger = Browser(console.url)
    pages["sign-in"] = stranger.get("/console/sign-in", **header).body
    token = re.search(r"name=csrf value='([^']+)'", pages["sign-in"]).group(1)
    wrong = {"email": "nobody@example.com", "password": "not it", "csrf": token}
    pages["sign-in failed"] = stranger.post("/console/sign-in", wrong, **header).body
    admin = console.signed_in(f"admin-{lang}@example.com", "admin")
    for path in (
        "/console",
        "/console/operators",
        "/console/password",
        "/console/report",
        "/console/report?since=2024-13-01&until=2024-01-01",
        "/console/report?since=2024-03-01&until=2025-03-30",
        "/console/conversations",
        "/console/conversations?fallback=1&handoff=1&low=1&below=0.6",
        "/console/conversations?below=7",
        "/console/conversations/web-hand",
        "/console/conversations/%2B14155550111",
    ):
        reply = admin.get(path, **header)
        assert reply.status in (200, 400), (path, reply.status)
        pages[path] = reply.body
    csrf = admin.csrf("/console")
    mismatch = {"current": "x", "new": "a" * 12, "confirm": "b" * 12, "csrf": csrf}
    pages["password mismatch"] = admin.post("/console/password", mismatch, **header).body
    short = {"current": "x", "new": "short", "confirm": "short", "csrf": csrf}
    pages["password short"] = admin.post("/console/password", short, **header).body
    bad = {"email": "not an address", "role": "agent", "csrf": csrf}
    pages["operator refused"] = admin.post("/console/operators/add", bad, **header).body
    added = {"email": f"new-{lang}@example.com", "role": "agent", "csrf": csrf}
    pages["operator added"] = admin.post("/console/operators/add", added, **header).body
    label = {"intent": "no_such_intent", "csrf": csrf}
    path = "/console/conversations/web-hand/turns/1/label"
    pages["label refused"] = admin.post(path, label, **header).body
    agent = Browser(console.url)
    agent.cookies = dict(admin.cookies)
    pages["expired form"] = agent.post("/console/operators/add", {"csrf": "stale"}, **header).body
    return pages


@pytest.mark.parametrize("lang", OTHERS)
def test_every_page_is_in_the_asked_language_and_nothing_english_slips_through(busy, lang):
    pages = _pages(busy, lang)
    queue = pages["/console"]
    for form in ("/done", "/upheld", "/approve", "/unlock", "/credit", "/reviewed"):
        assert form in queue, form  # every queue button was on the page
    assert catalog(lang)["operators.active_one_time"] in html.unescape(pages["/console/operators"])
    # The queue items' descriptions are in the operator's language; what customers and the
    # assistant said is theirs.
    with busy.store.unit_of_work() as session:
        whats = [said(item.what, lang) for item in work_queue(session, runtime.current().settings)]
    assert len(whats) == 6
    assert all(html.escape(what) in queue for what in whats), whats
    texts = [e.text for events in CONVERSATIONS.values() for e in events if getattr(e, "text", 0)]
    for name, body in pages.items():
        assert f"<html lang={lang}>" in body, name
        assert _english_left(body, lang, texts) == [], name
    assert catalog(lang)["common.console"] in html.unescape(queue)


def test_english_pages_say_the_english_catalog(busy):
    pages = _pages(busy, "en")
    assert all("<html lang=en>" in body for body in pages.values())
    assert "Work queue (6)" in pages["/console"]
    assert "Not yet due" in pages["/console/report"]


def test_the_report_script_is_allowed_by_the_hash_of_what_is_served_in_every_language(busy):
    admin = busy.signed_in("ana@example.com")
    for lang in LANGUAGES:
        reply = admin.get("/console/report", Accept_Language=lang)
        inline = re.findall(r"<script>(.*?)</script>", reply.body, flags=re.S)
        assert len(inline) == 1
        digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
        policy = reply.headers["Content-Security-Policy"]
        assert f"script-src 'self' 'sha256-{digest}'" in policy, lang
        assert "unsafe-inline" not in policy.split("script-src")[1]
        data = re.search(r"<script type=application/json id=chart-data>(.*?)</script>", reply.body)
        assert "</" not in data.group(1)


def test_the_selector_cookie_beats_accept_language_and_a_bogus_one_is_ignored(console):  # noqa: F811
    browser = Browser(console.url)
    page = browser.get("/console/sign-in", Accept_Language="fr")
    assert "<html lang=fr>" in page.body and "name=lang" in page.body
    token = re.search(r"name=csrf value='([^']+)'", page.body).group(1)
    chosen = browser.post(
        "/console/language",
        {"lang": "de", "csrf": token},
        Referer=f"{ORIGIN}/console/sign-in",
        Accept_Language="fr",
    )
    assert (chosen.status, chosen.location) == (303, "/console/sign-in")
    cookie = chosen.cookie(COOKIE)
    for flag in ("Path=/console", "SameSite=Strict", "HttpOnly", "Secure"):
        assert flag in cookie, cookie
    again = browser.get("/console/sign-in", Accept_Language="fr")
    assert "<html lang=de>" in again.body and "Anmelden" in again.body
    token = re.search(r"name=csrf value='([^']+)'", again.body).group(1)
    # A value not of the six is not set, and one slipped in by hand is not believed.
    refused = browser.post("/console/language", {"lang": "xx", "csrf": token})
    assert refused.status == 303 and refused.cookie(COOKIE) is None
    for bogus in ("xx", "de-DE", "<script>", "EN", ""):
        browser.cookies[COOKIE] = bogus
        page = browser.get("/console/sign-in", Accept_Language="it-IT,it;q=0.9")
        assert page.status == 200 and "<html lang=it>" in page.body, bogus


def test_the_selector_needs_the_pages_token_and_goes_back_only_to_the_console(console):  # noqa: F811
    stranger = Browser(console.url)
    forged = stranger.post("/console/language", {"lang": "es"})
    assert forged.status == 403 and forged.cookie(COOKIE) is None
    admin = console.signed_in("ana@example.com")
    csrf = admin.csrf("/console")
    other = admin.post(
        "/console/language", {"lang": "es", "csrf": csrf}, Origin="https://evil.test"
    )
    assert other.status == 403 and other.cookie(COOKIE) is None
    for referer, back in (
        (
            f"{ORIGIN}/console/report?since=2024-03-01&until=2024-03-30",
            "/console/report?since=2024-03-01&until=2024-03-30",
        ),
        ("https://evil.test/elsewhere", "/console"),
        (None, "/console"),
    ):
        reply = admin.post("/console/language", {"lang": "pt", "csrf": csrf}, Referer=referer)
        assert (reply.status, reply.location) == (303, back), referer
    landing = admin.get("/console", Accept_Language="es")
    assert "<html lang=pt>" in landing.body and "Fila de trabalho (0)" in landing.body
