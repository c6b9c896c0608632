"""`settle run` restarts a child that dies, with back-off, and says why."""

from __future__ import annotations

import io
import os
import signal
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


def test_a_terminated_settle_run_stops_its_children(tmp_path):
    """A process manager stops `settle run` with SIGTERM: its servers go with it."""
    script = tmp_path / "run.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "from settle.app.supervisor import Supervisor\n"
        "supervisor = Supervisor.of({'sleeper': lambda: subprocess.Popen(['sleep', '60'])})\n"
        "try:\n"
        "    supervisor.start()\n"
        "    print(supervisor.process('sleeper').pid, flush=True)\n"
        "    while True:\n"
        "        supervisor.check()\n"
        "        time.sleep(0.1)\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "finally:\n"
        "    supervisor.stop()\n"
    )
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(run.stdout.readline())
    run.terminate()
    run.wait(timeout=30)
    try:
        os.kill(child, 0)
    except ProcessLookupError:
        return
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the child outlived `settle run`")
