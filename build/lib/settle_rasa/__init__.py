"""Settle's Rasa plug-ins: input channels and the tracker store, loaded by `rasa run`."""
