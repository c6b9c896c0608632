"""Payment links: one hosted checkout per invoice balance, reused while it is valid (texted by
settle.billing.link_texts).

A new checkout is made in three steps, so no database lock is held while Stripe answers
(settle.store.claims): a short transaction checks the invoice and claims the request
(idempotency key and exact parameters recorded), the gateway is called with no
transaction open, and a second short transaction records the link, unless the balance
changed meanwhile: a link is only ever for the balance it was made for.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle.adapters.payments import CheckoutRequest, PaymentGateway, PaymentGatewayError
from settle.billing.disputes import open_dispute_of
from settle.config import Settings
from settle.core import audit, i18n
from settle.store import claims
from settle.store.db import Store
from settle.store.models import Customer, Invoice, PaymentLink, utcnow

log = logging.getLogger(__name__)

# A link about to expire is not worth texting: the customer needs time to use it.
MIN_REMAINING = dt.timedelta(minutes=30)


class NotPayable(Exception):
    """The invoice is not this customer's, or has nothing left to pay."""


def usable_link(
    session: Session, invoice: Invoice, provider: str, now: dt.datetime | None = None
) -> PaymentLink | None:
    """An open link for the invoice's current balance with time left to use it."""
    now = now or utcnow()
    return session.scalars(
        select(PaymentLink)
        .where(
            PaymentLink.invoice_id == invoice.id,
            PaymentLink.status == "open",
            PaymentLink.amount_minor == invoice.balance_minor,
            PaymentLink.provider == provider,
            PaymentLink.expires_at > now + MIN_REMAINING,
        )
        .order_by(PaymentLink.expires_at.desc())
    ).first()


def check_payable(
    session: Session, invoice: Invoice | None, customer_id: str | None = None, invoice_id: str = ""
) -> Invoice:
    if invoice is None or (customer_id is not None and invoice.customer_id != customer_id):
        raise NotPayable(f"invoice {invoice_id} is not an invoice of customer {customer_id}")
    if invoice.status != "open" or invoice.balance_minor <= 0:
        raise NotPayable(f"invoice {invoice.id} has nothing to pay (status {invoice.status})")
    if open_dispute_of(session, invoice.id) is not None:
        raise NotPayable(f"invoice {invoice.id} is disputed")
    return invoice


def ensure_link(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    invoice_id: str,
    actor: str,
    customer_id: str | None = None,
    now: dt.datetime | None = None,
) -> tuple:
    """(link id, reused): an open link for the invoice's current balance, made if needed.

    Raises NotPayable (nothing to pay, not theirs, disputed) or PaymentGatewayError."""
    for _ in range(3):  # the balance may change while Stripe answers: then again, for the new one
        with store.unit_of_work() as session:
            link_id, claimed = _link_or_claim(
                session, gateway, settings, invoice_id, customer_id, now
            )
        if link_id is not None:
            return link_id, True
        try:
            checkout, error = gateway.create_checkout(claimed[1]), None
        except PaymentGatewayError as failure:
            checkout, error = None, failure
        with store.unit_of_work() as session:
            link_id = _record(session, gateway, invoice_id, claimed, checkout, error, actor)
        if error is not None:
            raise error
        if link_id is not None:
            return link_id, False
    raise PaymentGatewayError(f"the balance of {invoice_id} kept changing; no link made")


def ensure_links(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    invoice_ids,
    actor: str,
    now: dt.datetime | None = None,
) -> dict:
    """{invoice id: link id} for many invoices at once (reminders): one short transaction
    claims what is missing, the gateway calls run with none open, one records the links.
    Invoices with nothing to pay, or whose call failed (logged), are left out."""
    found: dict[str, int] = {}
    claimed: dict[str, tuple | None] = {}
    with store.unit_of_work() as session:
        for invoice_id in sorted(set(invoice_ids)):
            try:
                link_id, claimed[invoice_id] = _link_or_claim(
                    session, gateway, settings, invoice_id, None, now
                )
            except NotPayable:
                continue
            if link_id is not None:
                found[invoice_id] = link_id
    made: dict[str, tuple] = {}
    for invoice_id, claim in claimed.items():
        if claim is None:
            continue
        try:
            made[invoice_id] = (claim, gateway.create_checkout(claim[1]), None)
        except PaymentGatewayError as failure:
            log.warning("No payment link for %s: %s", invoice_id, failure)
            made[invoice_id] = (claim, None, failure)
    if made:
        with store.unit_of_work() as session:
            for invoice_id, (claim, checkout, error) in made.items():
                link_id = _record(session, gateway, invoice_id, claim, checkout, error, actor)
                if link_id is not None:
                    found[invoice_id] = link_id
    return found


def _link_or_claim(
    session: Session,
    gateway: PaymentGateway,
    settings: Settings,
    invoice_id: str,
    customer_id: str | None,
    now: dt.datetime | None,
) -> tuple:
    """(the usable link's id, None), or (None, (claim id, the checkout request to send))."""
    invoice = check_payable(
        session, session.get(Invoice, invoice_id, with_for_update=True), customer_id, invoice_id
    )
    link = usable_link(session, invoice, gateway.provider, now)
    if link is not None:
        return link.id, None
    claim = _claim_checkout(session, invoice, settings, gateway.provider, now)
    return None, (claim.id, _checkout_request(invoice, settings, claim))


def _record(
    session: Session,
    gateway: PaymentGateway,
    invoice_id: str,
    claimed: tuple,
    checkout,
    error: Exception | None,
    actor: str,
) -> int | None:
    """How the call ended, on the claim; the link's id when one is open for the balance."""
    claim_id, request = claimed
    if checkout is None:
        claims.finish(session, claim_id, error=str(error)[:500])
        return None
    claims.finish(session, claim_id, result_ref=checkout.id)
    link = _record_link(session, gateway, invoice_id, request, checkout, actor)
    return link.id if link is not None else None


def _claim_checkout(
    session: Session, invoice: Invoice, settings: Settings, provider: str, now: dt.datetime | None
) -> claims.GatewayClaim:
    now = now or utcnow()
    expires = now + dt.timedelta(minutes=settings.business.checkout_link_minutes)
    language = session.get(Customer, invoice.customer_id).language
    return claims.claim(
        session,
        "checkout",
        f"invoice:{invoice.id}",
        invoice.balance_minor,
        # The customer's language is fixed with the claim: a retry sends the same request.
        {"expires_at": expires.isoformat(), "provider": provider, "language": language},
        now,
    )


def _checkout_request(
    invoice: Invoice, settings: Settings, claim: claims.GatewayClaim
) -> CheckoutRequest:
    """The request exactly as claimed: the same key always goes with the same parameters."""
    base = settings.public_base_url
    return CheckoutRequest(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        amount_minor=claim.amount_minor,
        currency=invoice.currency,
        description=i18n.text(
            "page_invoice", claim.params.get("language", "en"), invoice=invoice.id
        )
        + (f" — {invoice.description}" if invoice.description else ""),
        expires_at=dt.datetime.fromisoformat(claim.params["expires_at"]),
        idempotency_key=claim.idempotency_key,
        success_url=f"{base}/pay/done?invoice={invoice.id}",
        cancel_url=f"{base}/pay/cancelled?invoice={invoice.id}",
        metadata={"settle_claim": str(claim.id)},
    )


def record_link(
    session: Session,
    gateway: PaymentGateway,
    request: CheckoutRequest,
    checkout,
    actor: str,
    installment_id: int | None = None,
) -> PaymentLink:
    """The link row for a checkout Stripe made, stored once however many callers race to
    store it (the session id is unique), and audited by the one that stored it."""
    link = session.scalar(select(PaymentLink).where(PaymentLink.session_id == checkout.id))
    if link is not None:
        return link
    link = PaymentLink(
        invoice_id=request.invoice_id,
        provider=gateway.provider,
        session_id=checkout.id,
        url=checkout.url,
        amount_minor=request.amount_minor,
        currency=request.currency,
        expires_at=checkout.expires_at,
        installment_id=installment_id,
    )
    try:
        with session.begin_nested():
            session.add(link)
    except IntegrityError:  # a racing twin stored the same session first
        return session.scalars(
            select(PaymentLink).where(PaymentLink.session_id == checkout.id)
        ).one()
    details = {"installment_id": installment_id} if installment_id is not None else {}
    audit.record(
        session,
        actor,
        "payment_link.created",
        f"invoice:{request.invoice_id}",
        session_id=checkout.id,
        amount_minor=request.amount_minor,
        currency=request.currency,
        provider=gateway.provider,
        idempotency_key=request.idempotency_key,
        **details,
    )
    return link


def _record_link(
    session: Session,
    gateway: PaymentGateway,
    invoice_id: str,
    request: CheckoutRequest,
    checkout,
    actor: str,
) -> PaymentLink | None:
    """The link for a checkout Stripe made; None (and the link void) when the invoice's
    balance is no longer the one it was made for."""
    link = record_link(session, gateway, request, checkout, actor)
    invoice = session.get(Invoice, invoice_id, with_for_update=True)
    if link.status == "open" and (
        invoice.status != "open" or invoice.balance_minor != link.amount_minor
    ):
        link.status = "void"
        audit.record(
            session,
            actor,
            "payment_link.void",
            f"invoice:{invoice_id}",
            session_id=link.session_id,
            amount_minor=link.amount_minor,
            balance_minor=invoice.balance_minor,
            reason="balance changed",
        )
        return None
    return link if link.status == "open" else None


def void_stale_links(session: Session, invoice: Invoice, actor: str) -> int:
    """Open links made for a balance the invoice no longer has are void (a link is only ever
    for the balance it was made for); returns how many."""
    stale = session.scalars(
        select(PaymentLink).where(
            PaymentLink.invoice_id == invoice.id,
            PaymentLink.status == "open",
            PaymentLink.amount_minor != invoice.balance_minor
            if invoice.status == "open"
            else PaymentLink.id.is_not(None),
        )
    ).all()
    for link in stale:
        link.status = "void"
        audit.record(
            session,
            actor,
            "payment_link.void",
            f"invoice:{invoice.id}",
            session_id=link.session_id,
            amount_minor=link.amount_minor,
            balance_minor=invoice.balance_minor,
            reason="balance changed",
        )
    return len(stale)
