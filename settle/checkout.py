"""Payment links: one hosted checkout per invoice balance, reused while it is valid, texted once."""
from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Optional

from babel.dates import format_datetime
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle import audit, i18n
from settle.config import Settings
from settle.messaging import queue_sms
from settle.money import format_money
from settle.payments import CheckoutRequest, PaymentGateway
from settle.phones import last_digits
from settle.store.models import Customer, Invoice, Message, PaymentLink, utcnow

# A link about to expire is not worth texting: the customer needs time to use it.
MIN_REMAINING = dt.timedelta(minutes=30)


class NotPayable(Exception):
    """The invoice is not this customer's, or has nothing left to pay."""


@dataclass(frozen=True)
class LinkSent:
    invoice_id: str
    amount_minor: int
    currency: str
    url: str
    phone_last_digits: str
    message_status: str
    reused: bool


def payment_link_for(session: Session, gateway: PaymentGateway, settings: Settings,
                     invoice: Invoice, actor: str, now: Optional[dt.datetime] = None) -> tuple:
    """(link, reused): an open, unexpired link for the current balance, or a new one."""
    now = now or utcnow()
    balance = invoice.balance_minor
    existing = session.scalars(
        select(PaymentLink)
        .where(PaymentLink.invoice_id == invoice.id, PaymentLink.status == "open",
               PaymentLink.amount_minor == balance, PaymentLink.provider == gateway.provider,
               PaymentLink.expires_at > now + MIN_REMAINING)
        .order_by(PaymentLink.expires_at.desc())
    ).first()
    if existing is not None:
        return existing, True

    attempt = session.scalar(
        select(func.count(PaymentLink.id)).where(PaymentLink.invoice_id == invoice.id))
    base = settings.public_base_url
    request = CheckoutRequest(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        amount_minor=balance,
        currency=invoice.currency,
        description=f"Invoice {invoice.id}" + (f" — {invoice.description}" if invoice.description else ""),
        expires_at=now + dt.timedelta(minutes=settings.business.checkout_link_minutes),
        # Ours, from our ids: a re-run (or a racing twin) gets Stripe's first answer back.
        idempotency_key=f"settle:checkout:{invoice.id}:{balance}:{attempt}",
        success_url=f"{base}/pay/done?invoice={invoice.id}",
        cancel_url=f"{base}/pay/cancelled?invoice={invoice.id}",
        metadata={"settle_link_attempt": str(attempt)},
    )
    checkout = gateway.create_checkout(request)
    link = PaymentLink(invoice_id=invoice.id, provider=gateway.provider, session_id=checkout.id,
                       url=checkout.url, amount_minor=balance, currency=invoice.currency,
                       expires_at=checkout.expires_at)
    try:
        with session.begin_nested():
            session.add(link)
    except IntegrityError:  # the racing twin stored the same session first
        return session.scalar(select(PaymentLink).where(PaymentLink.session_id == checkout.id)), True
    audit.record(session, actor, "payment_link.created", f"invoice:{invoice.id}",
                 session_id=checkout.id, amount_minor=balance, currency=invoice.currency,
                 provider=gateway.provider, idempotency_key=request.idempotency_key)
    return link, False


def send_payment_link(session: Session, gateway: PaymentGateway, settings: Settings,
                      customer_id: str, invoice_id: str, request_key: str,
                      actor: str, conversation_id: Optional[str] = None,
                      channel: Optional[str] = None, text_it: bool = True) -> LinkSent:
    """A link to pay invoice_id, texted to the customer's phone on file (unless text_it=False,
    e.g. when web chat shows it as a button).

    request_key identifies the customer's request (e.g. the conversation turn), so running
    this twice for one request queues one message.
    """
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.customer_id != customer_id:
        raise NotPayable(f"invoice {invoice_id} is not an invoice of customer {customer_id}")
    if invoice.status != "open" or invoice.balance_minor <= 0:
        raise NotPayable(f"invoice {invoice_id} has nothing to pay (status {invoice.status})")
    customer: Customer = invoice.customer
    link, reused = payment_link_for(session, gateway, settings, invoice, actor)
    if conversation_id:
        link.conversation_id, link.channel = conversation_id, channel
    if not text_it:
        return LinkSent(invoice.id, link.amount_minor, link.currency, link.url,
                        last_digits(customer.phone), "not_sent", reused)
    locale = i18n.locale_for(customer.language, settings.business.default_region)
    body = i18n.text(
        "payment_link", customer.language,
        business=settings.business.name, invoice=invoice.id,
        amount=format_money(link.amount_minor, link.currency, locale), url=link.url,
        expires=format_datetime(link.expires_at, "short", tzinfo=zoneinfo.ZoneInfo(customer.timezone),
                                locale=locale),
    )
    message: Message = queue_sms(session, customer.phone, body,
                                 key=f"payment_link:{link.id}:{request_key}", actor=actor,
                                 customer_id=customer.id)
    return LinkSent(invoice.id, link.amount_minor, link.currency, link.url,
                    last_digits(customer.phone), message.status, reused)
