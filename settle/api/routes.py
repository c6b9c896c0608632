"""/api/v1: the routes a business's billing system calls, each behind an API key
(`Authorization: Bearer …`), a body limit and a per-key rate; the document describing
them (/api/v1/openapi.json) is public."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from typing import Any, Protocol

from sanic import Sanic, response
from sanic.request import Request
from sqlalchemy.exc import IntegrityError

from settle.access.ratelimit import rate_limiter
from settle.api import idempotency, keys, rows, upserts
from settle.api.openapi import document
from settle.config import Settings, redis_url
from settle.store.db import Store
from settle.store.models import Invoice

log = logging.getLogger(__name__)

API = "/api/v1"
# A customer or an invoice is well under a kilobyte; 64 KB leaves room for long descriptions.
BODY_LIMIT = 64 * 1024
REQUESTS_PER_MINUTE = 60
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class Wiring(Protocol):
    """What the routes need of the running application (settle.app.runtime.Settle)."""

    settings: Settings
    store: Store


class BadBody(Exception):
    """Answered 400: not JSON, or not one object."""


def add_api_routes(app: Sanic, wiring: Callable[[], Wiring]) -> None:
    """POST /api/v1/customers, POST /api/v1/invoices, POST /api/v1/opt-outs,
    GET /api/v1/invoices/<id> and GET /api/v1/openapi.json."""
    # Per key, shared by every replica through REDIS_URL when it is set
    # (settle.access.ratelimit).
    limiter = rate_limiter("api", REQUESTS_PER_MINUTE, redis_url())

    async def guarded(request: Request, work: Callable[[Wiring, str], tuple[int, dict]]):
        if len(request.body or b"") > BODY_LIMIT:
            return _error(413, f"request body over {BODY_LIMIT} bytes")
        settle = wiring()
        actor = await asyncio.to_thread(_caller, settle, request)
        if actor is None:
            return _error(
                401,
                "an API key is needed: `Authorization: Bearer <key>` (`settle api-key create`)",
                {"WWW-Authenticate": "Bearer"},
            )
        wait = limiter.allow(actor)
        if wait > 0:
            return _error(
                429,
                f"more than {REQUESTS_PER_MINUTE} requests a minute with this key",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        try:
            status, body = await asyncio.to_thread(work, settle, actor)
        except BadBody as error:
            return _error(400, str(error))
        except rows.InvalidFields as error:
            return _error(422, str(error), errors=error.errors)
        except idempotency.KeyReused as error:
            return _error(
                422,
                f"Idempotency-Key: {error}",
                errors=[{"field": "Idempotency-Key", "reason": str(error)}],
            )
        except upserts.Conflict as error:
            return _error(409, str(error))
        return response.json(body, status=status, headers=NO_STORE)

    @app.get(f"{API}/openapi.json")
    async def api_document(_request: Request):
        return response.json(document())

    @app.post(f"{API}/customers")
    async def push_customer(request: Request):
        def work(settle: Wiring, actor: str) -> tuple[int, dict]:
            business = settle.settings.business
            body = _object(request.body)
            customer_id, values, warnings = rows.customer_from_json(
                body, business.default_region, business.timezone
            )
            zone_given = bool(str(body.get("timezone") or "").strip())
            return _write(
                settle.store,
                request,
                actor,
                lambda session: upserts.upsert_customer(
                    session, customer_id, values, actor, warnings, zone_given
                ),
            )

        return await guarded(request, work)

    @app.post(f"{API}/invoices")
    async def push_invoice(request: Request):
        def work(settle: Wiring, actor: str) -> tuple[int, dict]:
            invoice_id, values = rows.invoice_from_json(_object(request.body))
            return _write(
                settle.store,
                request,
                actor,
                lambda session: upserts.upsert_invoice(
                    session, invoice_id, values, actor, settle.settings
                ),
            )

        return await guarded(request, work)

    @app.post(f"{API}/opt-outs")
    async def push_opt_out(request: Request):
        def work(settle: Wiring, actor: str) -> tuple[int, dict]:
            contact, channel = rows.opt_out_from_json(
                _object(request.body), settle.settings.business.default_region
            )
            return _write(
                settle.store,
                request,
                actor,
                lambda session: upserts.record_billing_opt_out(session, contact, channel, actor),
            )

        return await guarded(request, work)

    @app.get(f"{API}/invoices/<invoice_id>")
    async def read_invoice(request: Request, invoice_id: str):
        def work(settle: Wiring, _actor: str) -> tuple[int, dict]:
            with settle.store.unit_of_work() as session:
                invoice = session.get(Invoice, invoice_id)
                if invoice is None:
                    return 404, {"error": f"no invoice {invoice_id!r}"}
                return 200, upserts.invoice_view(invoice)

        return await guarded(request, work)


def _caller(settle: Wiring, request: Request) -> str | None:
    token = keys.bearer_token(request.headers.get("Authorization"))
    if token is None:
        return None
    with settle.store.unit_of_work() as session:
        return keys.caller(session, token, settle.settings.api_key)


def _object(raw: bytes | None) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"")
    except (ValueError, RecursionError):
        raise BadBody("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadBody("the body is not a JSON object")
    return body


def _write(
    store: Store, request: Request, actor: str, upsert: Callable[[Any], upserts.Written]
) -> tuple[int, dict]:
    """One upsert in one transaction, answered once per Idempotency-Key."""
    key = (request.headers.get("Idempotency-Key") or "").strip() or None
    if key is not None and len(key) > idempotency.MAX_KEY:
        raise rows.InvalidFields(
            [
                {
                    "field": "Idempotency-Key",
                    "reason": f"longer than {idempotency.MAX_KEY} characters",
                }
            ]
        )
    digest = idempotency.body_digest(request.body or b"")
    for attempt in (1, 2):
        try:
            with store.unit_of_work() as session:
                if key is not None:
                    earlier = idempotency.earlier_answer(session, actor, key, digest)
                    if earlier is not None:
                        return earlier
                written = upsert(session)
                if key is not None:
                    idempotency.remember(session, actor, key, digest, written.status, written.body)
                return written.status, written.body
        except IntegrityError:
            # The same id or key written by a concurrent request: the second try sees it.
            if attempt == 2:
                raise
            log.info("Concurrent API write for %s; trying again", actor)
    raise AssertionError("unreachable")


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, errors: list | None = None
):
    body: dict[str, Any] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    return response.json(body, status=status, headers={**NO_STORE, **(headers or {})})
