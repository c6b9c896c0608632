"""Staff are told when something new waits for them in the console's work queue (a
hand-off, a dispute, a refund to approve): an e-mail and/or a text to the business's staff
contact (settle.yml business.staff_email, business.staff_phone), queued through the outbox
with the change that made the item, once per item.

In the staff's language, at any hour (staff alerts are not held to a customer's contact
hours), naming what it is, the customer and the invoice, and where to act: nothing else of
the customer's (no card number, no reason in their words).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from settle.adapters.email import queue_email
from settle.config import Settings
from settle.core import i18n
from settle.messaging.outbox import queue_sms
from settle.store.models import Customer, Message

KINDS = ("handoff", "dispute", "refund", "payment")


def alert_staff(
    session: Session,
    settings: Settings,
    kind: str,
    item_id: int,
    *,
    customer_id: str | None,
    invoice_id: str | None,
    actor: str,
    customer_language: str | None = None,
) -> list[Message]:
    """Queue the alert for work-queue item `kind` `item_id` (a retry of the same item queues
    nothing more); none when no staff contact is set. It ends with the language the customer
    speaks (`customer_language`, the conversation's; else the one on file), named in the
    staff's, so whoever calls back knows which language to answer in."""
    business = settings.business
    if kind not in KINDS:
        raise ValueError(f"no staff alert for {kind!r}")
    if not (business.staff_email or business.staff_phone):
        return []
    language = business.staff_language
    customer = session.get(Customer, customer_id) if customer_id else None
    text = i18n.text(
        f"staff_alert_{kind}",
        language,
        business=business.name,
        customer=(
            f"{customer.name} ({customer.id})"
            if customer
            else customer_id or i18n.text("staff_alert_unverified", language)
        ),
        invoice=invoice_id or "-",
        url=f"{settings.public_base_url}/console",
    )
    spoken = customer_language or (customer.language if customer else None)
    if spoken:
        name = i18n.language_name(spoken, language)
        text += "\n" + i18n.text("handoff_customer_language", language, spoken=name)
    key = f"staff-alert:{kind}:{item_id}"
    # The alert names the customer, so erasing them erases it too.
    customer_id = customer.id if customer else None
    queued = []
    if business.staff_phone:
        queued.append(
            queue_sms(session, business.staff_phone, text, f"{key}:sms", actor, customer_id)
        )
    if business.staff_email:
        subject = i18n.text("staff_alert_subject", language, business=business.name)
        queued.append(
            queue_email(
                session, business.staff_email, subject, text, f"{key}:email", actor, customer_id
            )
        )
    return queued
