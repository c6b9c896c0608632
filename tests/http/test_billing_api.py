"""The billing-system API (/api/v1): a business's billing system pushes customers and
invoices as they change, over real HTTP on loopback to a running Settle service."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import select

from settle.billing.ledger import open_invoices
from settle.store.db import Store
from settle.store.models import AuditEntry
from tests.harness import http, start_servers

ENV_KEY = "env-key-" + "x" * 32


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The Settle service alone (no Rasa), with the demo data and an env API key."""
    servers = start_servers(
        tmp_path_factory.mktemp("api"), rasa=False, extra_env={"SETTLE_API_KEY": ENV_KEY}
    )
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def store(api):
    return Store.connect(api.env["DATABASE_URL"], upgrade=False)


def create_key(api, name: str) -> str:
    made = api.settle("api-key", "create", "--name", name)
    assert made.returncode == 0, made.stderr
    keys = [word for word in made.stdout.split() if word.startswith("sk_settle_")]
    assert len(keys) == 1, made.stdout
    return keys[0]


def call(api, method, path, body=None, key=ENV_KEY, headers=None, raw: bytes | None = None):
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    status, text = http(method, f"{api.service_url}{path}", data, sent)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def customer_body(customer_id: str, **changes) -> dict:
    return {
        "customer_id": customer_id,
        "name": "Dana Reyes",
        "phone": "(415) 555-0111",
        "email": "dana@example.com",
        "postal_code": "94110",
        "language": "es",
        "timezone": "America/Los_Angeles",
        **changes,
    }


def invoice_body(invoice_id: str, customer_id: str = "C001", **changes) -> dict:
    return {
        "invoice_id": invoice_id,
        "customer_id": customer_id,
        "amount": "285.00",
        "currency": "USD",
        "issued_on": "2026-11-02",
        "due_on": "2026-12-03",
        "status": "open",
        "description": "Boiler service",
        **changes,
    }


def audit_entries(store, subject: str) -> list[AuditEntry]:
    with store.unit_of_work() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.subject == subject).order_by(AuditEntry.id)
            )
        )


# --- authentication ---------------------------------------------------------------------


def test_without_a_key_nothing_is_stored(api):
    invoice_id = new_id("NOKEY")
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id), key=None)
    assert status == 401, body
    assert call(api, "GET", f"/api/v1/invoices/{invoice_id}")[0] == 404


def test_a_wrong_key_is_refused(api):
    invoice_id = new_id("BADKEY")
    status, _ = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id), key="nope")
    assert status == 401
    status, _ = call(api, "GET", "/api/v1/invoices/INV-1001", key=ENV_KEY + "x")
    assert status == 401
    assert call(api, "GET", f"/api/v1/invoices/{invoice_id}")[0] == 404


def test_the_env_key_is_audited_as_env(api, store):
    invoice_id = new_id("ENV")
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))
    assert status == 201, body
    entries = audit_entries(store, f"invoice:{invoice_id}")
    assert [e.actor for e in entries] == ["api:env"]


def test_a_created_key_works_until_revoked(api, store):
    key = create_key(api, "erp")
    invoice_id = new_id("CLI")
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id), key=key)
    assert status == 201, body
    assert [e.actor for e in audit_entries(store, f"invoice:{invoice_id}")] == ["api:erp"]

    listed = api.settle("api-key", "list")
    assert "erp" in listed.stdout and key not in listed.stdout
    key_id = next(line.split()[0] for line in listed.stdout.splitlines() if " erp " in f" {line} ")
    revoked = api.settle("api-key", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    status, _ = call(api, "GET", f"/api/v1/invoices/{invoice_id}", key=key)
    assert status == 401
    assert "revoked" in api.settle("api-key", "list").stdout


def test_only_a_hash_of_a_created_key_is_stored(api):
    key = create_key(api, "hash-check")
    database = api.workdir / "settle.db"
    assert key.encode() not in database.read_bytes()


# --- upserts ----------------------------------------------------------------------------


def test_a_customer_is_created_then_updated(api, store):
    customer_id = new_id("CUST")
    status, body = call(api, "POST", "/api/v1/customers", customer_body(customer_id))
    assert status == 201, body
    assert body["phone"] == "+14155550111"
    assert body["language"] == "es"
    status, body = call(
        api, "POST", "/api/v1/customers", customer_body(customer_id, name="Dana R. Reyes")
    )
    assert status == 200, body
    assert body["name"] == "Dana R. Reyes"
    actions = [e.action for e in audit_entries(store, f"customer:{customer_id}")]
    assert actions == ["customer.created_by_billing", "customer.updated_by_billing"]


def test_an_invoice_is_created_updated_and_read(api):
    invoice_id = new_id("INV")
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))
    assert status == 201, body
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id, amount="300.50"))
    assert status == 200, body
    status, body = call(api, "GET", f"/api/v1/invoices/{invoice_id}")
    assert status == 200, body
    assert body == {
        "invoice_id": invoice_id,
        "customer_id": "C001",
        "amount_minor": 30050,
        "amount_paid_minor": 0,
        "balance_minor": 30050,
        "currency": "USD",
        "status": "open",
        "due_on": "2026-12-03",
    }


def test_an_unknown_invoice_is_not_found(api):
    status, body = call(api, "GET", "/api/v1/invoices/NO-SUCH-INVOICE")
    assert status == 404, body


def test_a_pushed_invoice_is_open_for_its_customer_at_once(api, store):
    customer_id = new_id("OPEN")
    assert call(api, "POST", "/api/v1/customers", customer_body(customer_id))[0] == 201
    invoice_id = new_id("OPENINV")
    status, _ = call(
        api, "POST", "/api/v1/invoices", invoice_body(invoice_id, customer_id, amount="42.10")
    )
    assert status == 201
    with store.unit_of_work() as session:
        found = open_invoices(session, customer_id)
    assert [(i.id, i.balance_minor) for i in found] == [(invoice_id, 4210)]


# --- validation -------------------------------------------------------------------------


def test_a_body_that_is_not_json_is_400(api):
    status, body = call(api, "POST", "/api/v1/invoices", raw=b"amount=1")
    assert status == 400, body


def test_a_body_that_is_not_an_object_is_400(api):
    status, body = call(api, "POST", "/api/v1/customers", [customer_body("C9")])
    assert status == 400, body


def fields_named(body) -> set:
    return {error["field"] for error in body["errors"]}


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"amount": "-5.00"}, "amount"),
        ({"amount": 285.0}, "amount"),
        ({"amount": 285}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"customer_id": "NO-SUCH-CUSTOMER"}, "customer_id"),
        ({"due_on": "12/03/2026"}, "due_on"),
        ({"issued_on": "2026-13-01"}, "issued_on"),
        ({"status": "pending"}, "status"),
    ],
)
def test_a_bad_invoice_field_is_422_and_named(api, changes, field):
    invoice_id = new_id("BAD")
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id, **changes))
    assert status == 422, body
    assert field in fields_named(body)
    assert call(api, "GET", f"/api/v1/invoices/{invoice_id}")[0] == 404


@pytest.mark.parametrize("field", ["invoice_id", "customer_id", "amount", "currency", "due_on"])
def test_a_missing_invoice_field_is_422_and_named(api, field):
    body = invoice_body(new_id("MISS"))
    del body[field]
    status, answer = call(api, "POST", "/api/v1/invoices", body)
    assert status == 422, answer
    assert field in fields_named(answer)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"phone": "not a phone"}, "phone"),
        ({"phone": "555"}, "phone"),
        ({"email": "nobody"}, "email"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": 7}, "name"),
    ],
)
def test_a_bad_customer_field_is_422_and_named(api, changes, field):
    status, body = call(api, "POST", "/api/v1/customers", customer_body(new_id("BADC"), **changes))
    assert status == 422, body
    assert field in fields_named(body)


def test_a_missing_customer_field_is_422_and_named(api):
    body = customer_body(new_id("MISSC"))
    del body["phone"]
    status, answer = call(api, "POST", "/api/v1/customers", body)
    assert status == 422, answer
    assert fields_named(answer) == {"phone"}


# --- paid invoices ----------------------------------------------------------------------


def paid_invoice(api, store) -> str:
    invoice_id = new_id("PAID")
    assert call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))[0] == 201
    # Settle collected it: as the reconciler leaves a paid invoice.
    with store.unit_of_work() as session:
        from settle.store.models import Invoice

        invoice = session.get(Invoice, invoice_id)
        invoice.amount_paid_minor = invoice.amount_minor
        invoice.status = "paid"
    return invoice_id


def test_a_paid_invoice_is_never_reopened(api, store):
    invoice_id = paid_invoice(api, store)
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))
    assert status == 409, body
    assert "paid" in body["error"]
    status, body = call(
        api, "POST", "/api/v1/invoices", invoice_body(invoice_id, status="paid", amount="1.00")
    )
    assert status == 409, body
    assert call(api, "GET", f"/api/v1/invoices/{invoice_id}")[1]["status"] == "paid"


def test_a_paid_invoice_may_be_voided_and_that_is_audited(api, store):
    invoice_id = paid_invoice(api, store)
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id, status="void"))
    assert status == 200, body
    assert body["status"] == "void"
    actions = [e.action for e in audit_entries(store, f"invoice:{invoice_id}")]
    assert actions[-1] == "invoice.voided_by_billing"


# --- idempotency ------------------------------------------------------------------------


def test_the_same_body_twice_changes_nothing(api, store):
    invoice_id = new_id("TWICE")
    first = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))
    second = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))
    assert first[0] == 201 and second[0] == 200
    assert first[1] == second[1]
    assert len(audit_entries(store, f"invoice:{invoice_id}")) == 1


def test_an_idempotency_key_replays_the_first_answer(api, store):
    invoice_id = new_id("IDEM")
    headers = {"Idempotency-Key": new_id("key")}
    first = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id), headers=headers)
    second = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id), headers=headers)
    assert first == second
    assert first[0] == 201
    assert len(audit_entries(store, f"invoice:{invoice_id}")) == 1


def test_an_idempotency_key_with_another_body_is_422(api):
    headers = {"Idempotency-Key": new_id("key")}
    invoice_id = new_id("IDEM2")
    assert (
        call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id), headers=headers)[0] == 201
    )
    status, body = call(
        api, "POST", "/api/v1/invoices", invoice_body(invoice_id, amount="9.99"), headers=headers
    )
    assert status == 422, body
    assert "Idempotency-Key" in body["error"]
    assert call(api, "GET", f"/api/v1/invoices/{invoice_id}")[1]["amount_minor"] == 28500


# --- limits -----------------------------------------------------------------------------


def test_a_large_body_is_413_and_not_stored(api):
    invoice_id = new_id("BIG")
    body = invoice_body(invoice_id, description="x" * 70_000)
    status, answer = call(api, "POST", "/api/v1/invoices", body)
    assert status == 413, answer
    assert call(api, "GET", f"/api/v1/invoices/{invoice_id}")[0] == 404


def test_a_key_is_limited_to_60_requests_a_minute(api):
    key = create_key(api, "busy")
    started = time.monotonic()
    statuses = [call(api, "GET", "/api/v1/invoices/INV-1001", key=key)[0] for _ in range(80)]
    seconds = time.monotonic() - started
    assert statuses[:60] == [200] * 60
    assert 429 in statuses
    # The bucket refills one request a second: a slow machine may get a few more through.
    assert statuses.count(200) <= 60 + math.ceil(seconds)
    assert set(statuses) == {200, 429}
    # Another key is not slowed by this one.
    assert call(api, "GET", "/api/v1/invoices/INV-1001")[0] == 200
    refused = None
    for _ in range(5):
        request = urllib.request.Request(
            f"{api.service_url}/api/v1/invoices/INV-1001",
            headers={"Authorization": f"Bearer {key}"},
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as error:
            refused = error
            break
    assert refused is not None and refused.code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "60 requests a minute" in json.loads(refused.read())["error"]


# --- the document -----------------------------------------------------------------------


def test_openapi_lists_the_three_calls_without_a_key(api):
    status, document = call(api, "GET", "/api/v1/openapi.json", key=None)
    assert status == 200
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths) >= {"/api/v1/customers", "/api/v1/invoices", "/api/v1/invoices/{id}"}
    assert "post" in paths["/api/v1/customers"]
    assert "post" in paths["/api/v1/invoices"]
    assert "get" in paths["/api/v1/invoices/{id}"]
