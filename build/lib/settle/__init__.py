"""Settle's business domain: billing store, identity, payments, messaging.

Nothing in this package imports Rasa; the Rasa actions and plug-ins call into it.
"""
