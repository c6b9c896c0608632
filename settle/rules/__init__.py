"""The business's rules as its settings file (settle.yml) states them, parsed and checked:
no database, no clock, no provider.

* policy — which skills are on, plan rules, refund policy, where hand-offs go
* cadence — reminder steps, contact hours per region, caps and leases
* security — identity-check lockouts, caller-ID attestation, web rate, message size

settle.config loads all of them once, with the environment, into one Settings.
"""
