"""Texting a payment link to the customer's phone on file: the link from settle.billing.checkout
(one per invoice balance), the text once per request."""

from __future__ import annotations

from dataclasses import dataclass

from settle.adapters.payments import PaymentGateway
from settle.billing.checkout import ensure_link
from settle.config import Settings
from settle.core.phones import last_digits
from settle.messaging.notify import notify_customer
from settle.store.db import Store
from settle.store.models import Customer, Invoice, Message, PaymentLink


@dataclass(frozen=True)
class LinkSent:
    invoice_id: str
    amount_minor: int
    currency: str
    url: str
    phone_last_digits: str
    message_status: str
    reused: bool


def send_payment_link(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    customer_id: str,
    invoice_id: str,
    request_key: str,
    actor: str,
    conversation_id: str | None = None,
    channel: str | None = None,
    text_it: bool = True,
) -> LinkSent:
    """A link to pay invoice_id, texted to the customer's phone on file (unless text_it=False,
    e.g. when web chat shows it as a button).

    request_key identifies the customer's request (e.g. the conversation turn), so running
    this twice for one request queues one message.
    """
    link_id, reused = ensure_link(store, gateway, settings, invoice_id, actor, customer_id)
    with store.unit_of_work() as session:
        link = session.get(PaymentLink, link_id)
        invoice = session.get(Invoice, invoice_id)
        customer: Customer = invoice.customer
        if conversation_id:
            link.conversation_id, link.channel = conversation_id, channel
        if not text_it:
            return LinkSent(
                invoice.id,
                link.amount_minor,
                link.currency,
                link.url,
                last_digits(customer.phone),
                "not_sent",
                reused,
            )
        message: Message = notify_customer(
            session,
            settings,
            customer,
            "payment_link",
            idempotency_key=f"payment_link:{link.id}:{request_key}",
            actor=actor,
            money={"amount": (link.amount_minor, link.currency)},
            times={"expires": link.expires_at},
            invoice=invoice.id,
            url=link.url,
        )
        return LinkSent(
            invoice.id,
            link.amount_minor,
            link.currency,
            link.url,
            last_digits(customer.phone),
            message.status,
            reused,
        )
