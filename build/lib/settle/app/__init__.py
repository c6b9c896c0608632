"""The composition root and entry points: the `settle` command, the Settle service (rasa-sdk's
action server plus Settle's HTTP routes), the wired-up runtime, and `settle run`'s supervisor.
Everything may be imported from here; nothing in the business imports it."""
