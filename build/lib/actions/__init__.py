"""Rasa custom actions: thin wrappers that read slots, call the settle domain and dispatch
responses."""
