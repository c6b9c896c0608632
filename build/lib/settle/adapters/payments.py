"""Payment gateways: Stripe Checkout when STRIPE_API_KEY is set, a local sandbox otherwise."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Protocol

import stripe
from stripe.params import CustomerCreateParams, PaymentIntentCreateParams, RefundCreateParams
from stripe.params.checkout import SessionCreateParams


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
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    expires_at: dt.datetime


class PaymentGatewayError(Exception):
    """The payment provider refused or could not be reached; the message says which."""


@dataclass(frozen=True)
class SetupRequest:
    """A hosted page (Checkout in setup mode) where the customer saves a card for a plan."""

    plan_id: int
    invoice_id: str
    customer_id: str
    stripe_customer_id: str
    expires_at: dt.datetime
    idempotency_key: str
    success_url: str
    cancel_url: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OffSessionCharge:
    """One installment charged to the saved card while the customer is away."""

    stripe_customer_id: str
    payment_method_id: str
    amount_minor: int
    currency: str
    description: str
    idempotency_key: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeResult:
    """status: succeeded | processing (a webhook settles it) | failed (declined, error says why)."""

    id: str | None
    status: str
    error: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    payment_intent: str
    amount_minor: int
    reason: str  # Stripe's: duplicate | fraudulent | requested_by_customer
    idempotency_key: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundReceipt:
    id: str
    status: str  # pending | requires_action | succeeded | failed | canceled


class PaymentGateway(Protocol):
    provider: str

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...

    def ensure_customer(
        self, customer_id: str, name: str, phone: str, email: str | None, idempotency_key: str
    ) -> str: ...

    def create_setup_checkout(self, request: SetupRequest) -> CheckoutSession: ...

    def saved_payment_method(self, setup_intent_id: str) -> str: ...

    def charge_off_session(self, charge: OffSessionCharge) -> ChargeResult: ...

    def refund(self, request: RefundRequest) -> RefundReceipt: ...


class StripeGateway:
    """Stripe Checkout Sessions in payment mode, through the official SDK."""

    provider = "stripe"

    def __init__(self, api_key: str, api_base: str | None = None, timeout: float = 15.0):
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=2,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        metadata = {
            "invoice_id": request.invoice_id,
            "customer_id": request.customer_id,
            **request.metadata,
        }
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": request.amount_minor,
                        "product_data": {
                            "name": request.description or f"Invoice {request.invoice_id}"
                        },
                    },
                }
            ],
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
            url=_required(session.url, "checkout session url"),
            expires_at=dt.datetime.fromtimestamp(session.expires_at, dt.timezone.utc),
        )

    def ensure_customer(
        self, customer_id: str, name: str, phone: str, email: str | None, idempotency_key: str
    ) -> str:
        """A Stripe Customer for our customer (to hold the saved card); returns its id."""
        params: CustomerCreateParams = {
            "name": name,
            "phone": phone,
            "metadata": {"customer_id": customer_id},
        }
        if email:
            params["email"] = email
        try:
            customer = self._client.v1.customers.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as error:
            raise PaymentGatewayError(f"Stripe refused the customer: {error}") from error
        return customer.id

    def create_setup_checkout(self, request: SetupRequest) -> CheckoutSession:
        """Checkout in setup mode: Stripe's page saves the card, no money moves."""
        metadata = {
            "plan_id": str(request.plan_id),
            "invoice_id": request.invoice_id,
            "customer_id": request.customer_id,
            **request.metadata,
        }
        params: SessionCreateParams = {
            "mode": "setup",
            "customer": request.stripe_customer_id,
            # Cards only: installments are charged off-session, which a redirect method cannot do.
            # (Stripe takes it; the SDK's typed parameters no longer list it.)
            "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
            "client_reference_id": request.invoice_id,
            "metadata": metadata,
            "setup_intent_data": {"metadata": metadata},
            "expires_at": int(request.expires_at.timestamp()),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        try:
            session = self._client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as error:
            raise PaymentGatewayError(f"Stripe refused the card-saving page: {error}") from error
        return CheckoutSession(
            session.id,
            _required(session.url, "checkout session url"),
            dt.datetime.fromtimestamp(session.expires_at, dt.timezone.utc),
        )

    def saved_payment_method(self, setup_intent_id: str) -> str:
        """The card a completed setup page saved (its SetupIntent's payment method)."""
        try:
            intent = self._client.v1.setup_intents.retrieve(setup_intent_id)
        except stripe.StripeError as error:
            raise PaymentGatewayError(
                f"Stripe could not show setup {setup_intent_id}: {error}"
            ) from error
        method = intent.payment_method
        if method is None:
            raise PaymentGatewayError(f"setup {setup_intent_id} has no card saved")
        return method if isinstance(method, str) else method.id

    def charge_off_session(self, charge: OffSessionCharge) -> ChargeResult:
        params: PaymentIntentCreateParams = {
            "amount": charge.amount_minor,
            "currency": charge.currency.lower(),
            "customer": charge.stripe_customer_id,
            "payment_method": charge.payment_method_id,
            "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
            "off_session": True,
            "confirm": True,
            "description": charge.description,
            "metadata": charge.metadata,
        }
        try:
            intent = self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": charge.idempotency_key}
            )
        except stripe.CardError as error:
            # A decline (or authentication_required): the payment intent exists, failed.
            failed = getattr(error.error, "payment_intent", None) if error.error else None
            intent_id = (
                failed.get("id") if isinstance(failed, dict) else getattr(failed, "id", None)
            )
            return ChargeResult(intent_id, "failed", error.user_message or str(error))
        except stripe.StripeError as error:
            raise PaymentGatewayError(f"Stripe refused the installment charge: {error}") from error
        if intent.status == "succeeded":
            return ChargeResult(intent.id, "succeeded")
        if intent.status == "processing":
            return ChargeResult(intent.id, "processing")
        return ChargeResult(intent.id, "failed", f"payment {intent.status}")

    def refund(self, request: RefundRequest) -> RefundReceipt:
        params: RefundCreateParams = {
            "payment_intent": request.payment_intent,
            "amount": request.amount_minor,
            "reason": request.reason,
            "metadata": request.metadata,
        }
        try:
            refund = self._client.v1.refunds.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as error:
            raise PaymentGatewayError(f"Stripe refused the refund: {error}") from error
        return RefundReceipt(refund.id, refund.status or "pending")


def _required(value: str | None, what: str) -> str:
    if not value:
        raise PaymentGatewayError(f"Stripe's answer has no {what}")
    return value


class SandboxGateway:
    """A local stand-in for Stripe: its checkout page pays through the same reconciliation."""

    provider = "sandbox"

    def __init__(self, public_base_url: str, decline_off_session: bool = False):
        self._base = public_base_url.rstrip("/")
        # Tests and demos set this to see a declined installment.
        self.decline_off_session = decline_off_session
        # Page ids are keyed by a secret of this process: a repeated request gets the same
        # session, but nobody can work out the id of a page from an invoice and an amount.
        self._key = secrets.token_bytes(32)

    def _page_id(self, idempotency_key: str) -> str:
        return hmac.new(self._key, idempotency_key.encode(), hashlib.sha256).hexdigest()[:32]

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        session_id = f"cs_sandbox_{self._page_id(request.idempotency_key)}"
        return CheckoutSession(
            session_id, f"{self._base}/sandbox/checkout/{session_id}", request.expires_at
        )

    def ensure_customer(
        self, customer_id: str, name: str, phone: str, email: str | None, idempotency_key: str
    ) -> str:
        return f"cus_sandbox_{_digest(idempotency_key)}"

    def create_setup_checkout(self, request: SetupRequest) -> CheckoutSession:
        # Its page "saves a card" by raising the event Stripe would send (settle.service).
        session_id = f"cs_sandbox_setup_{self._page_id(request.idempotency_key)}"
        return CheckoutSession(
            session_id, f"{self._base}/sandbox/setup/{session_id}", request.expires_at
        )

    def saved_payment_method(self, setup_intent_id: str) -> str:
        return f"pm_sandbox_{_digest(setup_intent_id)}"

    def charge_off_session(self, charge: OffSessionCharge) -> ChargeResult:
        intent_id = f"pi_sandbox_{_digest(charge.idempotency_key)}"
        if self.decline_off_session:
            return ChargeResult(intent_id, "failed", "Your card was declined. (sandbox)")
        return ChargeResult(intent_id, "succeeded")

    def refund(self, request: RefundRequest) -> RefundReceipt:
        return RefundReceipt(f"re_sandbox_{_digest(request.idempotency_key)}", "succeeded")


def _digest(text: str) -> str:
    """A stable id fragment: the sandbox answers a repeated request with the same object."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]
