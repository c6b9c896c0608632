"""The wired-up application on the demo data, for action tests."""

from __future__ import annotations

import pytest

from settle.adapters.payments import SandboxGateway
from settle.app import runtime
from tests.unit.trackers import RecordingSms


class InlineDelivery(runtime.Settle):
    """Delivers and runs background jobs when asked, in the caller's thread (the courier's
    work, made deterministic)."""

    def request_delivery(self) -> None:
        self.deliver_messages()

    def in_background(self, job) -> None:
        job()
        self.deliver_messages()


@pytest.fixture
def app(demo_store, settings):
    app = InlineDelivery(
        settings, demo_store, SandboxGateway(settings.public_base_url), RecordingSms()
    )
    runtime.use(app)
    yield app
    runtime.use(None)
