"""The billing-system API (/api/v1): a business's billing system pushes customers and
invoices as they change, over real HTTP on loopback to a running Settle service."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request

from settle.billing.ledger import open_invoices
from settle.store.models import Invoice
from tests.http.api_calls import (
    ENV_KEY,
    audit_entries,
    call,
    check_answer,
    create_key,
    customer_body,
    invoice_body,
    new_id,
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


def test_the_env_key_is_audited_as_env(api, api_store):
    invoice_id = new_id("ENV")
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))
    assert status == 201, body
    entries = audit_entries(api_store, f"invoice:{invoice_id}")
    assert [e.actor for e in entries] == ["api:env"]


def test_a_created_key_works_until_revoked(api, api_store):
    key = create_key(api, "erp")
    invoice_id = new_id("CLI")
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id), key=key)
    assert status == 201, body
    assert [e.actor for e in audit_entries(api_store, f"invoice:{invoice_id}")] == ["api:erp"]

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


def test_a_customer_is_created_then_updated(api, api_store):
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
    actions = [e.action for e in audit_entries(api_store, f"customer:{customer_id}")]
    assert actions == ["customer.created_by_billing", "customer.updated_by_billing"]
    moved = customer_body(customer_id, name="Dana R. Reyes", phone="(415) 555-0122")
    assert call(api, "POST", "/api/v1/customers", moved)[1]["phone"] == "+14155550122"
    entry = audit_entries(api_store, f"customer:{customer_id}")[-1]
    # Where texts went before the change, without the old number itself.
    assert entry.detail["contact_before"] == {"phone": "…0111"}
    assert entry.detail["changed"] == ["phone"]


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


def test_a_pushed_invoice_is_open_for_its_customer_at_once(api, api_store):
    customer_id = new_id("OPEN")
    assert call(api, "POST", "/api/v1/customers", customer_body(customer_id))[0] == 201
    invoice_id = new_id("OPENINV")
    status, _ = call(
        api, "POST", "/api/v1/invoices", invoice_body(invoice_id, customer_id, amount="42.10")
    )
    assert status == 201
    with api_store.unit_of_work() as session:
        found = open_invoices(session, customer_id)
    assert [(i.id, i.balance_minor) for i in found] == [(invoice_id, 4210)]


# --- paid invoices ----------------------------------------------------------------------


def paid_invoice(api, api_store) -> str:
    invoice_id = new_id("PAID")
    assert call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))[0] == 201
    # Settle collected it: as the reconciler leaves a paid invoice.
    with api_store.unit_of_work() as session:
        invoice = session.get(Invoice, invoice_id)
        invoice.amount_paid_minor = invoice.amount_minor
        invoice.status = "paid"
    return invoice_id


def test_a_paid_invoice_is_never_reopened(api, api_store):
    invoice_id = paid_invoice(api, api_store)
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))
    assert status == 409, body
    assert "paid" in body["error"]
    status, body = call(
        api, "POST", "/api/v1/invoices", invoice_body(invoice_id, status="paid", amount="1.00")
    )
    assert status == 409, body
    assert call(api, "GET", f"/api/v1/invoices/{invoice_id}")[1]["status"] == "paid"


def test_a_paid_invoice_may_be_voided_and_that_is_audited(api, api_store):
    invoice_id = paid_invoice(api, api_store)
    status, body = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id, status="void"))
    assert status == 200, body
    assert body["status"] == "void"
    actions = [e.action for e in audit_entries(api_store, f"invoice:{invoice_id}")]
    assert actions[-1] == "invoice.voided_by_billing"


# --- idempotency ------------------------------------------------------------------------


def test_the_same_body_twice_changes_nothing(api, api_store):
    invoice_id = new_id("TWICE")
    first = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))
    second = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id))
    assert first[0] == 201 and second[0] == 200
    assert first[1] == second[1]
    assert len(audit_entries(api_store, f"invoice:{invoice_id}")) == 1


def test_an_idempotency_key_replays_the_first_answer(api, api_store):
    invoice_id = new_id("IDEM")
    headers = {"Idempotency-Key": new_id("key")}
    first = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id), headers=headers)
    second = call(api, "POST", "/api/v1/invoices", invoice_body(invoice_id), headers=headers)
    assert first == second
    assert first[0] == 201
    assert len(audit_entries(api_store, f"invoice:{invoice_id}")) == 1


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


def test_the_answers_are_what_the_document_describes_warnings_included(api):
    _, document = call(api, "GET", "/api/v1/openapi.json", key=None)
    customer_id = new_id("DOC")
    body = customer_body(customer_id, phone="+1 800 555 0100")
    del body["timezone"]
    status, answer = call(api, "POST", "/api/v1/customers", body)
    assert status == 201, answer
    assert answer["warnings"][0]["field"] == "timezone"
    check_answer(document, "CustomerOut", answer)
    status, answer = call(api, "POST", "/api/v1/customers", customer_body(customer_id))
    assert status == 200 and "warnings" not in answer
    check_answer(document, "CustomerOut", answer)
    status, answer = call(api, "POST", "/api/v1/invoices", invoice_body(new_id("DOC"), customer_id))
    assert status == 201, answer
    check_answer(document, "Invoice", answer)
    status, answer = call(api, "POST", "/api/v1/customers", customer_body(customer_id, phone="x"))
    assert status == 422
    check_answer(document, "Error", answer)
    properties = document["components"]["schemas"]["CustomerOut"]["properties"]
    assert "warnings" in properties
