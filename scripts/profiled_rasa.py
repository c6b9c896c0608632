"""`rasa` with two switchable instruments, for scripts/profile_turn.py.

    profiled_rasa.py OUT_PREFIX run --model ...      (the rest is `rasa`'s command line)

SIGUSR1 switches step timers on, and off again writing OUT_PREFIX.steps.json: the CPU
(event-loop thread clock) and wall time spent in each of Rasa's steps for a message,
inclusive, outermost call only. Only meaningful one message at a time: a coroutine's
timer runs on across its awaits. SIGUSR2 does the same for cProfile (OUT_PREFIX.prof).
The timers are put in place when switched on, so they wrap what Rasa runs by then
(settle_rasa/compat.py's check included).
"""

from __future__ import annotations

import cProfile
import functools
import importlib
import inspect
import json
import os
import signal
import sys
import time
from collections import defaultdict
from typing import Any

# (label, module, qualified name): Rasa 3.6's steps for one message
# (rasa/core/processor.py, rasa/core/actions/action.py), and what a custom action call does.
STEPS = [
    ("whole turn", "rasa.core.processor", "MessageProcessor.handle_message"),
    ("NLU (parse the message)", "rasa.core.processor", "MessageProcessor.parse_message"),
    ("tracker load", "rasa.core.processor", "MessageProcessor.get_tracker"),
    ("session start", "rasa.core.processor", "MessageProcessor._update_tracker_session"),
    ("slot extraction", "rasa.core.processor", "MessageProcessor.run_action_extract_slots"),
    ("prediction loop", "rasa.core.processor", "MessageProcessor._run_prediction_loop"),
    ("policies", "rasa.core.processor", "MessageProcessor._predict_next_with_tracker"),
    ("tracker save", "rasa.core.processor", "MessageProcessor.save_tracker"),
    ("custom action calls", "rasa.core.actions.action", "RemoteAction.run"),
    ("result schema check", "rasa.core.actions.action", "RemoteAction._validate_action_result"),
    ("tracker state, all", "rasa.shared.core.trackers", "DialogueStateTracker.current_state"),
    ("Domain.as_dict, all", "rasa.shared.core.domain", "Domain.as_dict"),
    ("request to the action server", "rasa.utils.endpoints", "EndpointConfig.request"),
]


class StepTimers:
    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self.originals: list[tuple[Any, str, Any]] = []

    def timed(self, label: str, function: Any) -> Any:
        depth = [0]

        def enter() -> tuple[float, float]:
            depth[0] += 1
            return time.thread_time(), time.perf_counter()

        def leave(started: tuple[float, float]) -> None:
            depth[0] -= 1
            if depth[0] == 0:
                total = self.totals[label]
                total[0] += 1
                total[1] += time.thread_time() - started[0]
                total[2] += time.perf_counter() - started[1]

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
                started = enter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    leave(started)

            return timed_coroutine

        @functools.wraps(function)
        def timed_function(*args: Any, **kwargs: Any) -> Any:
            started = enter()
            try:
                return function(*args, **kwargs)
            finally:
                leave(started)

        return timed_function

    def install(self) -> None:
        self.totals.clear()
        for label, module, qualname in STEPS:
            owner_name, _, name = qualname.rpartition(".")
            owner = getattr(importlib.import_module(module), owner_name)
            original = owner.__dict__[name]
            function = original.__func__ if isinstance(original, staticmethod) else original
            wrapped = self.timed(label, function)
            if isinstance(original, staticmethod):
                wrapped = staticmethod(wrapped)
            setattr(owner, name, wrapped)
            self.originals.append((owner, name, original))

    def uninstall(self, path: str) -> None:
        for owner, name, original in reversed(self.originals):
            setattr(owner, name, original)
        self.originals.clear()
        steps = {
            label: {"calls": calls, "cpu": cpu, "wall": wall}
            for label, (calls, cpu, wall) in self.totals.items()
        }
        write(path, json.dumps(steps, indent=1).encode())


def write(path: str, data: bytes) -> None:
    with open(f"{path}.part", "wb") as out:
        out.write(data)
    os.replace(f"{path}.part", path)


def main() -> None:
    prefix, rasa_args = sys.argv[1], sys.argv[2:]
    timers, profiler, on = StepTimers(), cProfile.Profile(), {"timers": False, "profile": False}

    def toggle_timers(*_: object) -> None:
        if on["timers"]:
            timers.uninstall(f"{prefix}.steps.json")
        else:
            timers.install()
        on["timers"] = not on["timers"]

    def toggle_profile(*_: object) -> None:
        if on["profile"]:
            profiler.disable()
            profiler.dump_stats(f"{prefix}.prof.part")
            os.replace(f"{prefix}.prof.part", f"{prefix}.prof")
        else:
            profiler.enable()
        on["profile"] = not on["profile"]

    signal.signal(signal.SIGUSR1, toggle_timers)
    signal.signal(signal.SIGUSR2, toggle_profile)
    from rasa.__main__ import main as rasa

    sys.argv = ["rasa", *rasa_args]
    rasa()


if __name__ == "__main__":
    main()
