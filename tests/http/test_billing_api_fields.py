"""The billing-system API refuses what the CSV import refuses, naming the field: 400 for a
body that is no JSON object, 422 for a missing or wrong field."""

from __future__ import annotations

import pytest

from tests.http.api_calls import call, customer_body, invoice_body, new_id


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
