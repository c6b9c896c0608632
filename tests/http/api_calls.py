"""Calls to the billing-system API (/api/v1) for the HTTP tests, and the bodies they send."""

from __future__ import annotations

import json
import uuid

import jsonschema
from sqlalchemy import select

from settle.store.models import AuditEntry
from tests.harness import http

ENV_KEY = "env-key-" + "x" * 32


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


def check_answer(document: dict, name: str, body: dict) -> None:
    """body against the document's components/schemas/<name> (OpenAPI 3.0's `nullable` as
    JSON Schema's null type)."""

    def nullable(node):
        if isinstance(node, dict):
            node = {k: nullable(v) for k, v in node.items()}
            if node.pop("nullable", False):
                node["type"] = [node["type"], "null"]
        elif isinstance(node, list):
            node = [nullable(v) for v in node]
        return node

    schema = {"$ref": f"#/components/schemas/{name}", **nullable(document)}
    jsonschema.Draft4Validator(schema).validate(body)
