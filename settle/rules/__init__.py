"""The business's rules as its settings file (settle.yml) states them, parsed and checked:
no database, no clock, no provider.

* policy — which skills are on, plan rules, refund policy, where hand-offs go
* cadence — reminder steps, contact hours per region, caps and leases
* security — identity-check lockouts, caller-ID attestation, web rate, message size
* opening_hours — when the team takes hand-offs, and when it next opens

settle.config loads all of them once, with the environment, into one Settings.
"""
