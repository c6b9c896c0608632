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
from settle.core.money import format_money
from settle.plans import setup_page_expires
from settle.store.models import PaymentLink, Plan, utcnow


def add_payment_pages(app: Sanic) -> None:
    """/sandbox/checkout/…, /sandbox/setup/…, /plans/saved|cancelled, /pay/done|cancelled."""

    @app.get("/sandbox/checkout/<session_id>")
    async def sandbox_checkout(request: Request, session_id: str):
        link = await asyncio.to_thread(_sandbox_link, session_id)
        if link is None:
            return response.html(
                _page("Not found", "<p>This payment link does not exist.</p>"), status=404
            )
        amount = html.escape(format_money(link.amount_minor, link.currency))
        if link.status != "open":
            return response.html(
                _page("Payment link", f"<p>This link is {html.escape(link.status)}.</p>")
            )
        body = (
            f"<p>Invoice <strong>{html.escape(link.invoice_id)}</strong></p>"
            f"<p class=amount>{amount}</p>"
            f"<form method=post action='/sandbox/checkout/{html.escape(session_id)}/pay'>"
            f"<button type=submit>Pay {amount}</button></form>"
            "<p class=note>Sandbox: no card is charged. Set STRIPE_API_KEY for real payments.</p>"
        )
        return response.html(_page("Settle sandbox checkout", body))

    @app.post("/sandbox/checkout/<session_id>/pay")
    async def sandbox_pay(request: Request, session_id: str):
        link = await asyncio.to_thread(_sandbox_link, session_id)
        if link is None:
            return response.html(_page("Not found", "<p>No such payment link.</p>"), status=404)
        if link.status != "open" or link.expires_at <= utcnow():
            # Like Stripe's: a session that was paid or has expired takes no payment.
            state = "expired" if link.status == "open" else link.status
            return response.html(
                _page(
                    "Payment link",
                    f"<p>This link is {html.escape(state)}: nothing was charged.</p>",
                ),
                status=410,
            )
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
        if plan is None:
            return response.html(_page("Not found", "<p>This page does not exist.</p>"), status=404)
        if plan.status != "pending_card":
            return response.html(
                _page("Payment plan", f"<p>This plan is {html.escape(plan.status)}.</p>")
            )
        amount = html.escape(format_money(plan.total_minor, plan.currency))
        body = (
            f"<p>Invoice <strong>{html.escape(plan.invoice_id)}</strong>: {amount} in "
            f"{plan.installment_count} {html.escape(plan.interval)} payments.</p>"
            f"<form method=post action='/sandbox/setup/{html.escape(session_id)}/save'>"
            "<button type=submit>Save card</button></form>"
            "<p class=note>Sandbox: no card is saved or charged. Set STRIPE_API_KEY for "
            "real payments.</p>"
        )
        return response.html(_page("Settle sandbox: save a card", body))

    @app.post("/sandbox/setup/<session_id>/save")
    async def sandbox_setup_save(request: Request, session_id: str):
        plan = await asyncio.to_thread(_sandbox_plan, session_id)
        if plan is None:
            return response.html(_page("Not found", "<p>No such page.</p>"), status=404)
        if not _setup_page_open(plan):  # like Stripe's: a finished or expired page saves nothing
            return response.html(
                _page(
                    "Payment plan",
                    "<p>This page has expired or was already used: no card was saved.</p>",
                ),
                status=410,
            )
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

    for path, (title, text) in RETURN_PAGES.items():
        page = _page(title, f"<p>{html.escape(text)}</p>")
        app.add_route(_static(page), path, methods=["GET"], name=path.strip("/").replace("/", "_"))


# Where Stripe's hosted pages send the customer back: (title, what happened).
RETURN_PAGES = {
    "/pay/done": (
        "Thank you",
        "Thank you! Your payment is being processed; a receipt is on its way by text.",
    ),
    "/pay/cancelled": (
        "Payment cancelled",
        "No payment was made. You can use the link in your text message again while it is valid.",
    ),
    "/plans/saved": (
        "Card saved",
        "Thank you! Your card is saved and your payment plan is starting; the schedule is on "
        "its way by text.",
    ),
    "/plans/cancelled": (
        "No card saved",
        "No card was saved and nothing was charged. You can use the link in your text message "
        "again while it is valid.",
    ),
}


def _static(page: str):
    async def show(request: Request):
        return response.html(page)

    return show


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


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;"
        "padding:0 1rem}.amount{font-size:2rem;font-weight:600}button{font-size:1.1rem;"
        "padding:.6rem 1.4rem}.note{color:#666;font-size:.9rem}</style>"
        f"<h1>{html.escape(title)}</h1>{body}</html>"
    )
