"""Attacks on the operator console over real HTTP, against the Settle service's app served
in-process on loopback: pages without a session, forged forms (CSRF, another origin, the
sign-in form), guessing passwords, stolen or stale sessions, an agent reaching for admin
pages. Each test checks that nothing changed, not only the status."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import pytest
from sanic import Sanic
from sqlalchemy import select, update

from settle.adapters.payments import SandboxGateway
from settle.app import runtime
from settle.app.service import build_app
from settle.console import accounts
from settle.console.records import Operator, OperatorSession
from settle.store.models import AuditEntry, utcnow
from tests.unit.test_readiness import serving
from tests.unit.trackers import RecordingSms

ORIGIN = "https://pay.example.test"  # the settings fixture's PUBLIC_BASE_URL
SESSION = "__Host-settle-console"
STRONG = "correct horse battery staple"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    def cookie(self, name: str) -> str | None:
        return next(
            (c for c in self.headers.get_all("Set-Cookie") or [] if c.startswith(f"{name}=")), None
        )


@dataclass
class Browser:
    """A browser's part in it: keeps cookies, sends our Origin on POSTs, follows nothing."""

    url: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict | None = None, **headers) -> Reply:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        body = urlencode(form).encode() if form is not None else None
        sent = {"Origin": ORIGIN} if method == "POST" else {}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update({k.replace("_", "-"): v for k, v in headers.items() if v is not None})
        connection.request(method, path, body=body, headers=sent)
        answer = connection.getresponse()
        reply = Reply(answer.status, answer.headers, answer.read().decode())
        connection.close()
        for header in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if "Max-Age=0" in header:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return reply

    def get(self, path: str, **headers) -> Reply:
        return self.request("GET", path, **headers)

    def post(self, path: str, form: dict | None = None, **headers) -> Reply:
        return self.request("POST", path, form or {}, **headers)

    def csrf(self, path: str = "/console") -> str:
        page = self.get(path)
        assert page.status == 200, (page.status, page.location)
        return re.search(r"name=csrf value='([^']+)'", page.body).group(1)

    def sign_in(self, email: str, password: str) -> Reply:
        token = self.csrf("/console/sign-in")
        return self.post("/console/sign-in", {"email": email, "password": password, "csrf": token})


@dataclass
class Console:
    url: str
    store: object

    def browser(self) -> Browser:
        return Browser(self.url)

    def add(self, email: str, role: str = "admin") -> str:
        with self.store.unit_of_work() as session:
            return accounts.add_operator(session, email, role, "test")

    def signed_in(self, email: str, role: str = "admin") -> Browser:
        """A browser signed in as a new operator who has set their own password."""
        browser = self.browser()
        password = self.add(email, role)
        assert browser.sign_in(email, password).location == "/console/password"
        form = {"current": password, "new": STRONG, "confirm": STRONG}
        reply = browser.post(
            "/console/password", {**form, "csrf": browser.csrf("/console/password")}
        )
        assert reply.location == "/console", reply.body
        return browser

    def operator(self, email: str) -> Operator | None:
        with self.store.unit_of_work() as session:
            return session.scalar(select(Operator).where(Operator.email == email))

    def audit(self) -> list[tuple[str, str, str]]:
        with self.store.unit_of_work() as session:
            rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
            return [(row.actor, row.action, row.subject) for row in rows]


def _page(reply: Reply, typed: str) -> str:
    """A sign-in page without what differs by design: the address typed, the form's token."""
    return re.sub(r"name=csrf value='[^']+'", "", reply.body.replace(typed, "X@"))


@pytest.fixture
def console(sqlite_store, settings, monkeypatch):
    monkeypatch.setattr(Sanic, "test_mode", True)
    runtime.use(
        runtime.Settle(
            settings, sqlite_store, SandboxGateway(settings.public_base_url), RecordingSms()
        )
    )
    with serving(build_app()) as url:
        yield Console(url, sqlite_store)
    runtime.use(None)


def test_nothing_under_console_answers_without_a_session(console):
    browser = console.browser()
    for path in ("/console", "/console/operators", "/console/password", "/console/"):
        reply = browser.get(path)
        assert (reply.status, reply.location) == (303, "/console/sign-in"), path
    for path in ("/console/operators/add", "/console/password", "/console/sign-out"):
        reply = browser.post(path, {"email": "mallory@example.com", "role": "admin"})
        assert reply.status == 401, path
    forged = browser.get("/console", Cookie=f"{SESSION}=made-up-token")
    assert (forged.status, forged.location) == (303, "/console/sign-in")
    assert console.operator("mallory@example.com") is None


def test_a_one_time_password_signs_in_only_to_change_it(console):
    password = console.add("ana@example.com")
    browser = console.browser()
    reply = browser.sign_in("  Ana@Example.COM ", password)
    assert (reply.status, reply.location) == (303, "/console/password")
    cookie = reply.cookie(SESSION)
    for flag in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/"):
        assert flag in cookie, cookie
    assert "Domain" not in cookie
    # Until it is changed: nothing else, page or form, and not the outbox either.
    assert browser.get("/console").location == "/console/password"
    assert browser.get("/console/operators").location == "/console/password"
    token = browser.csrf("/console/password")
    refused = browser.post("/console/operators/add", {"email": "x@example.com", "csrf": token})
    assert refused.status == 403 and console.operator("x@example.com") is None
    assert browser.get("/outbox").status == 403
    short = {"current": password, "new": "short", "confirm": "short", "csrf": token}
    assert browser.post("/console/password", short).status == 400
    same = {"current": password, "new": password, "confirm": password, "csrf": token}
    assert browser.post("/console/password", same).status == 400
    changed = {"current": password, "new": STRONG, "confirm": STRONG, "csrf": token}
    assert browser.post("/console/password", changed).location == "/console"
    landing = browser.get("/console")
    assert landing.status == 200 and "ana@example.com" in landing.body and "admin" in landing.body
    assert landing.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in landing.headers["Content-Security-Policy"]
    assert browser.get("/outbox").status == 200
    # The one-time password is spent.
    assert console.browser().sign_in("ana@example.com", password).status == 401
    assert console.browser().sign_in("ana@example.com", STRONG).status == 303


def test_a_failed_sign_in_never_says_whether_the_account_exists(console):
    console.add("ana@example.com")
    wrong = console.browser().sign_in("ana@example.com", "not the password")
    unknown = console.browser().sign_in("nobody@example.com", "not the password")
    assert wrong.status == unknown.status == 401
    assert _page(wrong, "ana@") == _page(unknown, "nobody@")
    assert wrong.cookie(SESSION) is None and unknown.cookie(SESSION) is None


def test_forged_forms_are_refused_and_change_nothing(console):
    admin = console.signed_in("ana@example.com")
    other = console.signed_in("bo@example.com")
    token = admin.csrf()
    add = {"email": "mallory@example.com", "role": "admin"}
    assert admin.post("/console/operators/add", add).status == 403  # no token
    assert admin.post("/console/operators/add", {**add, "csrf": "guessed"}).status == 403
    assert admin.post("/console/operators/add", {**add, "csrf": other.csrf()}).status == 403
    evil = admin.post("/console/operators/add", {**add, "csrf": token}, Origin="https://evil.test")
    assert evil.status == 403
    null = admin.post("/console/operators/add", {**add, "csrf": token}, Origin="null")
    assert null.status == 403
    deactivate = {"email": "bo@example.com"}
    assert admin.post("/console/operators/deactivate", deactivate).status == 403
    assert admin.post("/console/sign-out").status == 403
    assert console.operator("mallory@example.com") is None
    assert console.operator("bo@example.com").active
    assert admin.get("/console").status == 200  # still signed in
    # The same form with the session's token goes through.
    done = admin.post("/console/operators/add", {**add, "csrf": token})
    assert done.status == 200 and console.operator("mallory@example.com") is not None


def test_the_sign_in_form_needs_its_own_token(console):
    password = console.add("ana@example.com")
    browser = console.browser()
    form = {"email": "ana@example.com", "password": password}
    assert browser.post("/console/sign-in", form).status == 403  # no cookie, no token
    browser.csrf("/console/sign-in")  # the cookie, but the form without the token
    assert browser.post("/console/sign-in", {**form, "csrf": "guessed"}).status == 403
    assert SESSION not in browser.cookies
    with console.store.unit_of_work() as session:
        assert session.scalars(select(OperatorSession)).all() == []


def test_sessions_expire_when_idle_and_after_a_week(console):
    browser = console.signed_in("ana@example.com")
    assert browser.get("/console").status == 200
    with console.store.unit_of_work() as session:
        session.execute(
            update(OperatorSession).values(
                last_seen_at=utcnow() - dt.timedelta(hours=12, minutes=1)
            )
        )
    assert browser.get("/console").location == "/console/sign-in"
    browser = console.browser()
    assert browser.sign_in("ana@example.com", STRONG).status == 303
    with console.store.unit_of_work() as session:
        session.execute(
            update(OperatorSession).values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    assert browser.get("/console").location == "/console/sign-in"
    with console.store.unit_of_work() as session:
        assert session.scalars(select(OperatorSession)).all() == []


def test_signing_out_ends_the_session_on_the_server(console):
    browser = console.signed_in("ana@example.com")
    stolen = dict(browser.cookies)
    reply = browser.post("/console/sign-out", {"csrf": browser.csrf()})
    assert (reply.status, reply.location) == (303, "/console/sign-in")
    assert "Max-Age=0" in reply.cookie(SESSION)
    replay = console.browser()
    replay.cookies.update(stolen)
    assert replay.get("/console").location == "/console/sign-in"


def test_a_deactivated_account_is_signed_out_and_cannot_sign_in(console):
    admin = console.signed_in("ana@example.com")
    agent = console.signed_in("bo@example.com", role="agent")
    assert agent.get("/console").status == 200
    done = admin.post(
        "/console/operators/deactivate", {"email": "bo@example.com", "csrf": admin.csrf()}
    )
    assert done.status == 200 and not console.operator("bo@example.com").active
    assert agent.get("/console").location == "/console/sign-in"
    assert agent.get("/outbox").status == 403
    again = console.browser().sign_in("bo@example.com", STRONG)
    assert again.status == 401 and again.cookie(SESSION) is None
    # However an account is switched off, its sessions stop at once.
    cy = console.signed_in("cy@example.com", role="agent")
    with console.store.unit_of_work() as session:
        session.execute(
            update(Operator).where(Operator.email == "cy@example.com").values(active=False)
        )
    assert cy.get("/console").location == "/console/sign-in"
    # An admin does not deactivate themselves here.
    own = admin.post(
        "/console/operators/deactivate", {"email": "ana@example.com", "csrf": admin.csrf()}
    )
    assert own.status == 400 and console.operator("ana@example.com").active


def test_agents_do_not_reach_admin_pages(console):
    agent = console.signed_in("bo@example.com", role="agent")
    assert agent.get("/console/operators").status == 403
    token = agent.csrf()
    for action in ("add", "reset", "deactivate"):
        form = {"email": "bo@example.com", "role": "admin", "csrf": token}
        assert agent.post(f"/console/operators/{action}", form).status == 403, action
    assert console.operator("bo@example.com").role == "agent"
    assert console.operator("bo@example.com").active
    landing = agent.get("/console")
    assert landing.status == 200 and "/console/operators" not in landing.body


def test_five_wrong_passwords_lock_the_account_for_a_while(console):
    console.signed_in("ana@example.com")
    for _ in range(accounts.MAX_FAILED_ATTEMPTS):
        assert console.browser().sign_in("ana@example.com", "a wrong guess").status == 401
    locked = console.browser().sign_in("ana@example.com", STRONG)
    unknown = console.browser().sign_in("nobody@example.com", STRONG)
    assert locked.status == 401 and locked.cookie(SESSION) is None
    assert _page(locked, "ana@") == _page(unknown, "nobody@")
    with console.store.unit_of_work() as session:
        session.execute(update(Operator).values(locked_until=utcnow() - dt.timedelta(seconds=1)))
    assert console.browser().sign_in("ana@example.com", STRONG).status == 303


def test_admins_manage_accounts_and_every_action_is_audited(console):
    admin = console.signed_in("ana@example.com")
    added = admin.post(
        "/console/operators/add", {"email": "Cy@Example.com", "role": "agent", "csrf": admin.csrf()}
    )
    assert added.status == 200
    password = re.search(r"One-time password: (\S+)</p>", added.body).group(1)
    assert console.operator("cy@example.com").role == "agent"
    cy = console.browser()
    assert cy.sign_in("cy@example.com", password).location == "/console/password"
    reset = admin.post(
        "/console/operators/reset", {"email": "cy@example.com", "csrf": admin.csrf()}
    )
    new_password = re.search(r"One-time password for cy@example.com: (\S+)</p>", reset.body).group(
        1
    )
    assert cy.get("/console/password").location == "/console/sign-in"  # reset signs them out
    assert console.browser().sign_in("cy@example.com", password).status == 401
    assert console.browser().sign_in("cy@example.com", new_password).status == 303
    listing = admin.get("/console/operators")
    assert "cy@example.com" in listing.body and "one-time password" in listing.body
    assert admin.post("/console/sign-out", {"csrf": admin.csrf()}).status == 303
    entries = console.audit()
    for entry in [
        ("operator:ana@example.com", "operator.signed_in", "operator:ana@example.com"),
        ("operator:ana@example.com", "operator.added", "operator:cy@example.com"),
        ("operator:ana@example.com", "operator.reset", "operator:cy@example.com"),
        ("operator:ana@example.com", "operator.signed_out", "operator:ana@example.com"),
        ("operator:cy@example.com", "operator.signed_in", "operator:cy@example.com"),
        ("operator:cy@example.com", "operator.sign_in_failed", "operator:cy@example.com"),
    ]:
        assert entry in entries, entry


def test_the_outbox_takes_a_signed_in_operator_or_the_token(console, monkeypatch):
    browser = console.browser()
    assert browser.get("/outbox").status == 403
    assert browser.get("/outbox", Cookie=f"{SESSION}=made-up").status == 403
    read = console.signed_in("ana@example.com").get("/outbox")
    assert read.status == 200
    # Customers' numbers and payment links: kept by no browser or proxy.
    assert read.headers["Cache-Control"] == "no-store"
    settle = runtime.current()
    monkeypatch.setattr(
        settle, "settings", dataclasses.replace(settle.settings, operator_token="interim-token")
    )
    assert browser.get("/outbox", Authorization="Bearer interim-token").status == 200
    assert browser.get("/outbox", Authorization="Bearer wrong").status == 403
