"""The OpenAPI 3 document of /api/v1, written by hand: four calls do not need a generator,
and the descriptions say what the checks in settle.api.rows and settle.api.upserts do."""

from __future__ import annotations

from typing import Any

_STRING = {"type": "string"}
_DATE = {"type": "string", "format": "date", "example": "2026-12-03"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


_WRITE_ERRORS = {
    "400": _error("the body is not JSON, or not one object"),
    "401": _error("no API key, an unknown one or a revoked one; nothing was stored"),
    "413": _error("the body is over 64 KB"),
    "422": _error(
        "a field is missing or wrong (`errors` names each), or the Idempotency-Key "
        "was used with another body"
    ),
    "429": _error("over 60 requests a minute with this key; see Retry-After"),
}

_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The same key with the same body within 24 hours gets the first answer "
    "again and changes nothing; with another body, 422.",
    "schema": {"type": "string", "maxLength": 255},
}

_CUSTOMER: dict[str, Any] = {
    "type": "object",
    "required": ["customer_id", "name", "phone", "postal_code"],
    "additionalProperties": False,
    "properties": {
        "customer_id": {"type": "string", "maxLength": 64},
        "name": _STRING,
        "phone": {"type": "string", "description": "any common form; stored in E.164"},
        "email": {"type": "string", "format": "email"},
        "postal_code": _STRING,
        "language": {"type": "string", "description": "ISO 639-1; default en"},
        "timezone": {
            "type": "string",
            "description": "IANA. When left out, a known customer keeps theirs unless the "
            "phone changes; otherwise the phone number's zone, or for a number that spans "
            "several zones the business's zone, with a warning in the answer",
        },
    },
}

_WARNINGS = {
    "type": "array",
    "description": "guesses Settle made reading the push, for the billing system to check "
    "(left out when there are none)",
    "items": {
        "type": "object",
        "required": ["field", "reason"],
        "additionalProperties": False,
        "properties": {"field": _STRING, "reason": _STRING},
    },
}

_CUSTOMER_OUT = {
    "type": "object",
    "required": ["customer_id", "name", "phone", "email", "postal_code", "language", "timezone"],
    "additionalProperties": False,
    "properties": {
        **_CUSTOMER["properties"],
        "phone": {"type": "string", "description": "E.164"},
        "email": {"type": "string", "format": "email", "nullable": True},
        "warnings": _WARNINGS,
    },
}

_INVOICE_IN = {
    "type": "object",
    "required": ["invoice_id", "customer_id", "amount", "currency", "issued_on", "due_on"],
    "additionalProperties": False,
    "properties": {
        "invoice_id": {"type": "string", "maxLength": 64},
        "customer_id": {"type": "string", "description": "a customer Settle knows"},
        "amount": {
            "type": "string",
            "pattern": r"^[0-9][0-9,]*(\.[0-9]+)?$",
            "example": "285.00",
            "description": "the invoice total in major units, as a decimal string (a JSON "
            "number is refused: it may have lost cents)",
        },
        "currency": {"type": "string", "example": "USD", "description": "ISO 4217"},
        "issued_on": _DATE,
        "due_on": _DATE,
        "status": {
            "type": "string",
            "enum": ["open", "paid", "void"],
            "description": "default open. A paid invoice (Settle collected it) may only "
            "become void; any other change to it is refused with 409",
        },
        "description": _STRING,
    },
}

_OPT_OUT = {
    "type": "object",
    "additionalProperties": False,
    "description": "a phone number (any common form, read in the business's region) or an "
    "e-mail address; not both",
    "properties": {
        "phone": {"type": "string", "example": "(415) 555-0111"},
        "email": {"type": "string", "format": "email"},
        "channel": {
            "type": "string",
            "enum": ["all", "sms", "call", "email"],
            "description": "what the contact refuses: all, sms or call for a phone (default "
            "all); email for an e-mail address (its default and only channel)",
        },
    },
}

_OPT_OUT_OUT = {
    "type": "object",
    "properties": {
        "phone": {"type": "string", "description": "E.164"},
        "email": _STRING,
        "channel": _STRING,
        "opted_out": {"type": "boolean"},
    },
}

_INVOICE_OUT = {
    "type": "object",
    "properties": {
        "invoice_id": _STRING,
        "customer_id": _STRING,
        "amount_minor": {"type": "integer", "description": "minor units (cents)"},
        "amount_paid_minor": {"type": "integer"},
        "balance_minor": {"type": "integer"},
        "currency": _STRING,
        "status": {"type": "string", "enum": ["open", "paid", "void"]},
        "due_on": _DATE,
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document served at /api/v1/openapi.json."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Settle billing-system API",
            "version": "1",
            "description": "The business's billing system pushes customers and invoices "
            "(upserts by id, the CSV import's fields and checks) and opt-outs, and reads "
            "balances back.",
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/api/v1/customers": {
                "post": {
                    "summary": "Create or update a customer",
                    "parameters": [_IDEMPOTENCY],
                    "requestBody": {"required": True, **_json("Customer", "the customer")},
                    "responses": {
                        "201": _json("CustomerOut", "created"),
                        "200": _json("CustomerOut", "updated, or already so"),
                        **_WRITE_ERRORS,
                    },
                }
            },
            "/api/v1/invoices": {
                "post": {
                    "summary": "Create or update an invoice",
                    "parameters": [_IDEMPOTENCY],
                    "requestBody": {"required": True, **_json("InvoiceIn", "the invoice")},
                    "responses": {
                        "201": _json("Invoice", "created"),
                        "200": _json("Invoice", "updated, or already so"),
                        "409": _error("the invoice is paid: it may only be voided"),
                        **_WRITE_ERRORS,
                    },
                }
            },
            "/api/v1/opt-outs": {
                "post": {
                    "summary": "Record that a customer refused messages",
                    "description": "Recorded as a STOP is (source api:<key name>): Settle "
                    "sends that contact nothing more on the channel. There is no opt-in "
                    "call: only the customer lifts an opt-out (START), see the README.",
                    "parameters": [_IDEMPOTENCY],
                    "requestBody": {"required": True, **_json("OptOutIn", "the opt-out")},
                    "responses": {
                        "201": _json("OptOut", "recorded"),
                        "200": _json("OptOut", "the contact had already refused it"),
                        **_WRITE_ERRORS,
                    },
                }
            },
            "/api/v1/invoices/{id}": {
                "get": {
                    "summary": "An invoice with what is paid and what is owed",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": _STRING}
                    ],
                    "responses": {
                        "200": _json("Invoice", "the invoice"),
                        "404": _error("no such invoice"),
                        "401": _WRITE_ERRORS["401"],
                        "429": _WRITE_ERRORS["429"],
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "SETTLE_API_KEY, or a key from `settle api-key create`",
                }
            },
            "schemas": {
                "Customer": _CUSTOMER,
                "CustomerOut": _CUSTOMER_OUT,
                "InvoiceIn": _INVOICE_IN,
                "Invoice": _INVOICE_OUT,
                "OptOutIn": _OPT_OUT,
                "OptOut": _OPT_OUT_OUT,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": _STRING,
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"field": _STRING, "reason": _STRING},
                            },
                        },
                    },
                },
            },
        },
    }
