"""`settle run`'s two children (the Settle service and the Rasa server), kept running.

A child that exits is started again after a pause that doubles with each quick exit
(1 s, 2 s, 4 s … up to a minute) and is forgotten once it has stayed up for a minute; the
reason (its exit code, or the signal that ended it) is printed each time.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

FIRST_PAUSE, LONGEST_PAUSE, STEADY_SECONDS = 1.0, 60.0, 60.0


def why(returncode: int) -> str:
    """'exit code 3', 'killed by SIGKILL'."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    pause: float = FIRST_PAUSE
    restart_at: float | None = None
    restarts: int = 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@dataclass
class Supervisor:
    children: list[Child]
    out: TextIO = sys.stderr
    clock: Callable[[], float] = time.monotonic
    events: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, starters: dict[str, Callable[[], subprocess.Popen]], **kwargs) -> Supervisor:
        return cls([Child(name, start) for name, start in starters.items()], **kwargs)

    def start(self) -> None:
        # A process manager stops us with SIGTERM: stop like Ctrl-C, so stop() ends the
        # children instead of leaving them running with no one to watch them.
        signal.signal(signal.SIGTERM, _interrupt)
        for child in self.children:
            self._launch(child)

    def check(self) -> None:
        """One look at every child: note the ones that exited, restart the ones due."""
        now = self.clock()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    child.restarts += 1
                    self._say(
                        f"settle run: starting the {child.name} again (restart {child.restarts})"
                    )
                    self._launch(child)
                continue
            code = child.process.poll() if child.process else None
            if code is None:
                if now - child.started_at >= STEADY_SECONDS:
                    child.pause = FIRST_PAUSE  # it has been up a while: start afresh
                continue
            child.restart_at = now + child.pause
            self._say(
                f"settle run: the {child.name} stopped ({why(code)}); "
                f"starting it again in {child.pause:.0f} s"
            )
            child.pause = min(child.pause * 2, LONGEST_PAUSE)

    def stop(self, timeout: float = 15) -> None:
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGINT)
        for process in running:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()

    def process(self, name: str) -> subprocess.Popen:
        found = next(c.process for c in self.children if c.name == name)
        if found is None:
            raise RuntimeError(f"{name} has not been started")
        return found

    def _launch(self, child: Child) -> None:
        child.process, child.started_at = child.start(), self.clock()

    def _say(self, line: str) -> None:
        self.events.append(line)
        print(line, file=self.out, flush=True)
