"""`settle` commands about the books: CSV imports and the demo data, an invoice's state,
what the policy means for a customer, and a pass of the plan engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import func, select

from settle.app.reports import explain
from settle.app.runtime import Settle
from settle.billing.credits import apply_credits
from settle.billing.disputes import disputes_document
from settle.billing.importer import ImportFailed, import_billing_data
from settle.config import Settings
from settle.core.money import format_money
from settle.plans import charge_due_installments, plan_document
from settle.refunds import refunds_document
from settle.store.db import Store
from settle.store.models import Customer, Invoice, PaymentLink

DEMO = Path(__file__).resolve().parent.parent / "demo"


def import_files(
    store: Store, settings: Settings, customers: Path | None, invoices: Path | None
) -> int:
    if not customers and not invoices:
        print("settle import: give --customers and/or --invoices", file=sys.stderr)
        return 2
    try:
        with store.unit_of_work() as session:
            result = import_billing_data(
                session,
                customers,
                invoices,
                settings.business.default_region,
                business_zone=settings.business.timezone,
            )
            session.flush()
            credit_used = sum(
                apply_credits(session, settings, customer_id, "cli:import")
                for customer_id in sorted(result.invoice_customers)
            )
    except ImportFailed as failure:
        print(
            f"settle import: nothing imported, {len(failure.errors)} problem(s):", file=sys.stderr
        )
        for error in failure.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"settle import: warning: {warning}", file=sys.stderr)
    print(
        f"customers: {result.customers_created} created, {result.customers_updated} updated; "
        f"invoices: {result.invoices_created} created, {result.invoices_updated} updated"
        + ("; credit kept for customers paid toward their new invoices" if credit_used else "")
    )
    return 0


def load_demo(store: Store, settings: Settings, if_empty: bool) -> int:
    if if_empty:
        with store.unit_of_work() as session:
            if session.scalar(select(func.count(Customer.id))):
                return 0
    return import_files(store, settings, DEMO / "customers.csv", DEMO / "invoices.csv")


def invoice_document(session, invoice: Invoice) -> dict:
    links = session.scalars(
        select(PaymentLink).where(PaymentLink.invoice_id == invoice.id).order_by(PaymentLink.id)
    ).all()
    return {
        "invoice_id": invoice.id,
        "customer_id": invoice.customer_id,
        "status": invoice.status,
        "currency": invoice.currency,
        "amount": invoice.amount_minor,
        "amount_paid": invoice.amount_paid_minor,
        "amount_due": invoice.balance_minor,
        "overpaid": invoice.overpaid_minor,
        "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "description": invoice.description,
        "payments": [
            {
                "id": p.id,
                "amount": p.amount_minor,
                "currency": p.currency,
                "provider": p.provider,
                "provider_ref": p.provider_ref,
                "flag": p.flag,
                "created_at": p.created_at.isoformat(),
            }
            for p in invoice.payments
        ],
        "payment_links": [
            {
                "id": link.id,
                "provider": link.provider,
                "session_id": link.session_id,
                "url": link.url,
                "amount": link.amount_minor,
                "status": link.status,
                "expires_at": link.expires_at.isoformat(),
            }
            for link in links
        ],
        "refunds": refunds_document(session, invoice.id),
        "plan": plan_document(session, invoice.id),
        "disputes": disputes_document(session, invoice.id),
    }


def show_invoice(store: Store, invoice_id: str, as_json: bool) -> int:
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            print(f"settle: no invoice {invoice_id!r}", file=sys.stderr)
            return 1
        document = invoice_document(session, invoice)
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        print(
            f"{document['invoice_id']} ({document['status']}) for {document['customer_id']}: "
            f"{format_money(document['amount_due'], document['currency'])} due "
            f"{document['due_on']} of {format_money(document['amount'], document['currency'])}"
        )
        for payment in document["payments"]:
            print(
                f"  paid {format_money(payment['amount'], payment['currency'])} "
                f"on {payment['created_at']} ({payment['provider_ref']})"
            )
        for refund in document["refunds"]:
            print(
                f"  refund {format_money(refund['amount'], refund['currency'])} of payment "
                f"#{refund['payment_id']}: {refund['status']} ({refund['reason']})"
            )
        plan = document["plan"]
        if plan:
            print(
                f"  plan #{plan['id']} ({plan['status']}), {plan['installment_count']} "
                f"{plan['interval']} installments:"
            )
            for i in plan["installments"]:
                print(
                    f"    {i['seq']}. {format_money(i['amount'], plan['currency'])} "
                    f"due {i['due_on']}: {i['status']}"
                )
        for dispute in document["disputes"]:
            print(f"  dispute #{dispute['id']} ({dispute['status']}): {dispute['reason']}")
    return 0


def explain_policy(
    store: Store, settings: Settings, customer_id: str, invoice_id: str | None, as_json: bool
) -> int:
    try:
        with store.unit_of_work() as session:
            report = explain(session, settings.policy, customer_id, invoice_id)
    except LookupError as error:
        print(f"settle policy explain: {error}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Customer {customer_id}, {report['today']}:")
    if not report["invoices"]:
        print("  no open invoices")
    for invoice in report["invoices"]:
        due = format_money(invoice["balance_minor"], invoice["currency"])
        if not invoice["plans_eligible"]:
            print(
                f"  {invoice['invoice_id']} ({due} due): no plan — "
                f"{_WHY_NO_PLAN.get(invoice['reason'], invoice['reason'])}"
            )
            continue
        print(f"  {invoice['invoice_id']} ({due} due): plans offered")
        for option in invoice["options"]:
            amounts = [i["amount_minor"] for i in option["installments"]]
            default = " (offered first)" if option["count"] == invoice["default_count"] else ""
            print(
                f"    {option['count']} {option['interval']} payments of "
                f"{format_money(amounts[-1], invoice['currency'])}"
                + (
                    f" (the first {format_money(amounts[0], invoice['currency'])})"
                    if amounts[0] != amounts[-1]
                    else ""
                )
                + f", {option['first_due_on']} to {option['last_due_on']}{default}"
            )
    if not report["payments"]:
        print("  no payments to refund")
    for payment in report["payments"]:
        amount = format_money(payment["amount_minor"], payment["currency"])
        verdict = {
            "approve": "refund would be approved",
            "refuse": f"refund would be refused ({payment['rule']})",
            "person": f"refund goes to a person ({payment['rule']}, "
            f"{payment['handoff_phone'] or 'no hand-off number'})",
        }[payment["refund"]]
        print(
            f"  payment #{payment['payment_id']} {amount} on {payment['paid_at'][:10]} "
            f"for {payment['invoice_id']}: {verdict}"
        )
    return 0


_WHY_NO_PLAN = {
    "plans_disabled": "plans are turned off (policy.skills.plans)",
    "not_open": "the invoice is not open or has nothing to pay",
    "disputed": "the invoice is disputed",
    "already_on_plan": "the invoice already has a plan",
    "below_minimum": "the balance is below policy.plans.min_balance",
    "no_fitting_plan": "no allowed count keeps installments above min_installment within max_days",
}


def run_plans(store: Store, settings: Settings) -> int:
    app = Settle.from_settings(settings, store)
    summary = charge_due_installments(store, app.gateway, settings, settings.policy)
    app.deliver_messages()
    print(
        f"installments: {summary.charged} charged, {summary.failed} failed, "
        f"{summary.processing} processing, {summary.unanswered} unanswered; "
        f"{summary.reminded} reminders, {summary.notified} decline texts"
    )
    return 0
