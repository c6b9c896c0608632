"""`settle run` restarts a child that dies, with back-off, and says why."""

from __future__ import annotations

import io
import subprocess
import sys

from settle.app.supervisor import Supervisor, why


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def exits_with(code: int):
    return lambda: subprocess.Popen([sys.executable, "-c", f"import sys; sys.exit({code})"])


def sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_a_child_that_dies_is_restarted_with_growing_pauses_and_the_reason(tmp_path):
    clock, out = Clock(), io.StringIO()
    supervisor = Supervisor.of({"service": exits_with(3), "rasa": sleeper}, out=out, clock=clock)
    supervisor.start()
    try:
        supervisor.process("service").wait(10)
        supervisor.check()
        assert "the service stopped (exit code 3); starting it again in 1 s" in out.getvalue()
        first = supervisor.process("service")
        clock.now = 1.0
        supervisor.check()  # restarted
        assert supervisor.process("service") is not first
        supervisor.process("service").wait(10)
        supervisor.check()
        assert "starting it again in 2 s" in out.getvalue()  # the pause doubles
        assert supervisor.process("rasa").poll() is None  # the other child is left alone
        assert "rasa" not in out.getvalue()
    finally:
        supervisor.stop()
    assert supervisor.process("rasa").poll() is not None


def test_a_child_that_stays_up_starts_its_pauses_afresh():
    clock = Clock()
    supervisor = Supervisor.of({"rasa": sleeper}, out=io.StringIO(), clock=clock)
    supervisor.start()
    try:
        child = supervisor.children[0]
        child.pause = 16.0
        clock.now = 61.0
        supervisor.check()
        assert child.pause == 1.0
    finally:
        supervisor.stop()


def test_the_reason_names_the_signal():
    assert why(-9) == "killed by SIGKILL" and why(2) == "exit code 2"
