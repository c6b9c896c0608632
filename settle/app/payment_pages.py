"""The pages a customer sees around a payment: the sandbox's checkout and card-saving pages
(no Stripe key: they raise the event Stripe would send, through the same webhook path) and
the pages a checkout returns to when it is done or cancelled."""

from __future__ import annotations

import asyncio
import html

from sanic import Sanic, response
from sanic.request import Request
from sqlalchemy import select

from settle.app import runtime
from settle.app.webhooks import apply_event
from settle.core import i18n
from settle.core.money import format_money
from settle.plans import setup_page_expires
from settle.store.models import PaymentLink, Plan, utcnow


def add_payment_pages(app: Sanic) -> None:
    """/sandbox/checkout/…, /sandbox/setup/…, /plans/saved|cancelled, /pay/done|cancelled."""

    @app.get("/sandbox/checkout/<session_id>")
    async def sandbox_checkout(request: Request, session_id: str):
        link = await asyncio.to_thread(_sandbox_link, session_id)
        language = _language(request)
        if link is None:
            return _html(notice("page_not_found_title", "page_link_missing", language), 404)
        return _html(checkout_page(link, session_id, language))

    @app.post("/sandbox/checkout/<session_id>/pay")
    async def sandbox_pay(request: Request, session_id: str):
        link = await asyncio.to_thread(_sandbox_link, session_id)
        language = _language(request)
        if link is None:
            return _html(notice("page_not_found_title", "page_link_missing", language), 404)
        if link.status != "open" or link.expires_at <= utcnow():
            # Like Stripe's: a session that was paid or has expired takes no payment.
            return _html(notice("page_link_title", "page_link_closed_uncharged", language), 410)
        # The sandbox "pays" by raising the event Stripe would send: one reconciliation path.
        event = {
            "id": f"evt_sandbox_{session_id}",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "amount_total": link.amount_minor,
                    "currency": link.currency.lower(),
                    "payment_intent": f"pi_sandbox_{session_id}",
                    "client_reference_id": link.invoice_id,
                }
            },
        }
        outcome = await asyncio.to_thread(apply_event, event, "sandbox")
        return response.redirect(
            f"/pay/done?invoice={link.invoice_id}&outcome={outcome}", status=303
        )

    @app.get("/sandbox/setup/<session_id>")
    async def sandbox_setup(request: Request, session_id: str):
        plan = await asyncio.to_thread(_sandbox_plan, session_id)
        language = _language(request)
        if plan is None:
            return _html(notice("page_not_found_title", "page_missing", language), 404)
        return _html(setup_page(plan, session_id, language))

    @app.post("/sandbox/setup/<session_id>/save")
    async def sandbox_setup_save(request: Request, session_id: str):
        plan = await asyncio.to_thread(_sandbox_plan, session_id)
        language = _language(request)
        if plan is None:
            return _html(notice("page_not_found_title", "page_missing", language), 404)
        if not _setup_page_open(plan):  # like Stripe's: a finished or expired page saves nothing
            return _html(notice("page_plan_title", "page_setup_expired", language), 410)
        # Like the checkout page: the event Stripe would send, through the same path.
        event = {
            "id": f"evt_sandbox_{session_id}",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "mode": "setup",
                    "status": "complete",
                    "payment_status": "no_payment_required",
                    "customer": plan.stripe_customer_id,
                    "setup_intent": f"seti_{session_id}",
                    "client_reference_id": plan.invoice_id,
                    "metadata": {"plan_id": str(plan.id)},
                }
            },
        }
        outcome = await asyncio.to_thread(apply_event, event, "sandbox")
        return response.redirect(f"/plans/saved?plan={plan.id}&outcome={outcome}", status=303)

    for path in RETURN_PAGES:
        app.add_route(_return(path), path, methods=["GET"], name=path.strip("/").replace("/", "_"))


# Where Stripe's hosted pages send the customer back: the title and text of what happened.
RETURN_PAGES = {
    "/pay/done": ("page_paid_title", "page_paid_text"),
    "/pay/cancelled": ("page_pay_cancelled_title", "page_pay_cancelled_text"),
    "/plans/saved": ("page_card_saved_title", "page_card_saved_text"),
    "/plans/cancelled": ("page_card_cancelled_title", "page_card_cancelled_text"),
}


def _return(path: str):
    async def show(request: Request):
        return _html(return_page(path, _language(request)))

    return show


def return_page(path: str, language: str) -> str:
    return notice(*RETURN_PAGES[path], language)


def notice(title_key: str, text_key: str, language: str) -> str:
    """A page that only says something, in the customer's language."""
    return _page(i18n.text(title_key, language), _p(i18n.text(text_key, language)), language)


def checkout_page(link, session_id: str, language: str) -> str:
    """The sandbox's stand-in for Stripe's checkout page of a payment link."""
    if link.status != "open":
        return notice("page_link_title", "page_link_closed", language)
    amount = format_money(link.amount_minor, link.currency, _locale(language))
    body = (
        _p(i18n.text("page_invoice", language, invoice=link.invoice_id))
        + f"<p class=amount>{html.escape(amount)}</p>"
        + f"<form method=post action='/sandbox/checkout/{html.escape(session_id)}/pay'>"
        + f"<button type=submit>{html.escape(i18n.text('pay_button', language, amount=amount))}"
        + "</button></form><p class=note>"
        + html.escape(i18n.text("page_sandbox_note", language))
        + "</p>"
    )
    return _page(i18n.text("page_checkout_title", language), body, language)


def setup_page(plan, session_id: str, language: str) -> str:
    """The sandbox's stand-in for Stripe's page that saves a card for a payment plan."""
    if plan.status != "pending_card":
        return notice("page_plan_title", "page_plan_closed", language)
    summary = i18n.text(
        "page_setup_summary",
        language,
        invoice=plan.invoice_id,
        amount=format_money(plan.total_minor, plan.currency, _locale(language)),
        count=plan.installment_count,
        interval=i18n.text(f"plan_interval_{plan.interval}", language),
    )
    body = (
        _p(summary)
        + f"<form method=post action='/sandbox/setup/{html.escape(session_id)}/save'>"
        + f"<button type=submit>{html.escape(i18n.text('save_card_button', language))}"
        + "</button></form><p class=note>"
        + html.escape(i18n.text("page_setup_note", language))
        + "</p>"
    )
    return _page(i18n.text("page_setup_title", language), body, language)


def _language(request: Request) -> str:
    languages = runtime.current().settings.business.languages
    return i18n.accepted_language(request.headers.get("accept-language"), languages)


def _locale(language: str) -> str:
    return i18n.locale_for(language, runtime.current().settings.business.default_region)


def _html(page: str, status: int = 200):
    return response.html(page, status=status, headers={"Vary": "Accept-Language"})


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _sandbox_link(session_id: str):
    settle = runtime.current()
    if settle.gateway.provider != "sandbox":
        return None
    with settle.store.unit_of_work() as session:
        return session.scalar(
            select(PaymentLink).where(
                PaymentLink.session_id == session_id, PaymentLink.provider == "sandbox"
            )
        )


def _sandbox_plan(session_id: str):
    settle = runtime.current()
    if settle.gateway.provider != "sandbox":
        return None
    with settle.store.unit_of_work() as session:
        return session.scalar(select(Plan).where(Plan.setup_session_id == session_id))


def _setup_page_open(plan) -> bool:
    return (
        plan.status == "pending_card"
        and setup_page_expires(plan, runtime.current().settings) > utcnow()
    )


def _page(title: str, body: str, language: str) -> str:
    return (
        f"<!doctype html><html lang={language}><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;"
        "padding:0 1rem}.amount{font-size:2rem;font-weight:600}button{font-size:1.1rem;"
        "padding:.6rem 1.4rem}.note{color:#666;font-size:.9rem}</style>"
        f"<h1>{html.escape(title)}</h1>{body}</html>"
    )
