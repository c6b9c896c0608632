"""Rasa custom actions: thin wrappers that read the turn once (actions.turn.Turn: the
language, the channel's proof, the verified customer, how to render buttons and voice),
call the settle services and dispatch responses.

The flow modules are imported here, so that each registers its goals (actions.goals) with
the router (actions.router) whichever module of the package is imported first: the action
server walks the whole package (rasa-sdk's register_package), a test imports one module."""

from actions import dispute, opt_out, payment, plan, refund, reminder

__all__ = ["dispute", "opt_out", "payment", "plan", "refund", "reminder"]
