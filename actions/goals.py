"""Which flow carries each goal on once the customer is verified.

A registry that the flow modules fill at import (a decorator on the step), so the router
(actions.router) looks a goal up and never imports the flows: the arrows point from each
flow to the router and to this module, never back. actions/__init__.py imports every flow
module, so the registry is full whichever module of the package is imported first.

A goal goes on in one of three ways: with the customer alone (a refund, an opt-out), with
all of their open invoices (the balance, a reminder), or with one invoice they pick, read
back as a list when there are several (paying, a plan, a dispute).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from rasa_sdk.events import EventType

from actions.turn import Turn
from settle.billing.ledger import OpenInvoice

# (the turn, the customer id: verified at its start or just now, in this run)
CustomerStep = Callable[[Turn, str], Awaitable[list[EventType]]]
# (the turn, the customer id, their open invoices: never empty)
OpenInvoicesStep = Callable[[Turn, str, list[OpenInvoice]], Awaitable[list[EventType]]]
# (the turn, the customer id, the invoice, whether it is the customer's only one)
InvoiceStep = Callable[[Turn, str, OpenInvoice, bool], Awaitable[list[EventType]]]

# The decorators hand back the step as it was written (its own name and any further
# keyword arguments stay visible to its callers).
WithCustomer = TypeVar("WithCustomer", bound=CustomerStep)
WithOpenInvoices = TypeVar("WithOpenInvoices", bound=OpenInvoicesStep)
WithInvoice = TypeVar("WithInvoice", bound=InvoiceStep)


@dataclass(frozen=True)
class GoalHandler:
    """One goal's next step after verification: exactly one of the three steps is set."""

    for_customer: CustomerStep | None = None
    for_open_invoices: OpenInvoicesStep | None = None
    for_invoice: InvoiceStep | None = None
    # What the list of open invoices asks (for_invoice goals); None: the paying question.
    list_response: str | None = None


GOALS: dict[str, GoalHandler] = {}


def register(goal: str, handler: GoalHandler) -> None:
    """`goal` goes on with `handler`. Registering again replaces it (rasa-sdk reloads a
    changed module, and its decorators run again)."""
    GOALS[goal] = handler


def with_customer(goal: str) -> Callable[[WithCustomer], WithCustomer]:
    """Decorator: `goal` goes on with the verified customer alone."""

    def registered(step: WithCustomer) -> WithCustomer:
        register(goal, GoalHandler(for_customer=step))
        return step

    return registered


def with_open_invoices(goal: str) -> Callable[[WithOpenInvoices], WithOpenInvoices]:
    """Decorator: `goal` goes on with all of the customer's open invoices."""

    def registered(step: WithOpenInvoices) -> WithOpenInvoices:
        register(goal, GoalHandler(for_open_invoices=step))
        return step

    return registered


def with_invoice(
    goal: str, list_response: str | None = None
) -> Callable[[WithInvoice], WithInvoice]:
    """Decorator: `goal` goes on with one invoice the customer picks (from `list_response`,
    when they have several)."""

    def registered(step: WithInvoice) -> WithInvoice:
        register(goal, GoalHandler(for_invoice=step, list_response=list_response))
        return step

    return registered
