"""Payment gateways: Stripe Checkout when STRIPE_API_KEY is set, a local sandbox otherwise."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Dict, Optional, Protocol

import stripe


@dataclass(frozen=True)
class CheckoutRequest:
    """One hosted payment page for one invoice; every amount comes from the billing store."""

    invoice_id: str
    customer_id: str
    amount_minor: int
    currency: str
    description: str
    expires_at: dt.datetime
    idempotency_key: str
    success_url: str
    cancel_url: str
    metadata: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    expires_at: dt.datetime


class PaymentGatewayError(Exception):
    """The payment provider refused or could not be reached; the message says which."""


class PaymentGateway(Protocol):
    provider: str

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...


class StripeGateway:
    """Stripe Checkout Sessions in payment mode, through the official SDK."""

    provider = "stripe"

    def __init__(self, api_key: str, api_base: Optional[str] = None, timeout: float = 15.0):
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=2,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        metadata = {"invoice_id": request.invoice_id, "customer_id": request.customer_id,
                    **request.metadata}
        params = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": request.amount_minor,
                    "product_data": {"name": request.description or f"Invoice {request.invoice_id}"},
                },
            }],
            "client_reference_id": request.invoice_id,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "expires_at": int(request.expires_at.timestamp()),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        try:
            session = self._client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as error:
            raise PaymentGatewayError(f"Stripe refused the checkout session: {error}") from error
        return CheckoutSession(
            id=session.id,
            url=session.url,
            expires_at=dt.datetime.fromtimestamp(session.expires_at, dt.timezone.utc),
        )


class SandboxGateway:
    """A local stand-in for Stripe: its checkout page pays through the same reconciliation."""

    provider = "sandbox"

    def __init__(self, public_base_url: str):
        self._base = public_base_url.rstrip("/")

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        # Derived from the idempotency key, so a repeated request gets the same session.
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:24]
        session_id = f"cs_sandbox_{digest}"
        return CheckoutSession(session_id, f"{self._base}/sandbox/checkout/{session_id}",
                               request.expires_at)
