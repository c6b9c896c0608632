"""What Rasa sends the action server on each call: the tracker, not the 77 KB domain."""

from __future__ import annotations

import json
from pathlib import Path

from rasa.core.actions.action import RemoteAction
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

ROOT = Path(__file__).resolve().parents[2]


def test_the_action_request_leaves_the_domain_out(monkeypatch):
    monkeypatch.setenv("SETTLE_ACTION_SECRET", "s")
    monkeypatch.setenv("ACTION_SERVER_URL", "http://localhost:5055/webhook")
    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml"))
    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = DialogueStateTracker.from_events("web-1", [], domain.slots)
    action = RemoteAction("action_pay_invoice", endpoints.action)
    request = action._action_call_format(tracker, domain)
    assert "domain" not in request
    assert len(json.dumps(request)) < 5_000  # the domain alone is ~77 KB
    # Rasa sends it when selective domain is off: the setting is what keeps it out.
    monkeypatch.setitem(endpoints.action.kwargs, "enable_selective_domain", False)
    assert "domain" in action._action_call_format(tracker, domain)
