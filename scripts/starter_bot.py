"""Rasa's own starter bot (`rasa init`, the mood bot), the yardstick for Settle's turn cost.

Created and trained once per Rasa version under .cache/starter-bot/ (git-ignored; about a
minute on 2 cores, offline), then served as `rasa init` leaves it: `rasa run --enable-api`
with its own credentials and endpoints (REST channel, in-memory tracker store, no action
server: its actions are all responses).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from bench_flows import ROOT, ServerFailed

# bench_flows (imported above) puts the repository on sys.path.
from tests.harness import BIN, free_port, http, wait_until_up

CACHE = ROOT / ".cache" / "starter-bot"
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass
class StarterBot:
    url: str
    process: subprocess.Popen


def project() -> tuple[Path, Path]:
    """The starter project and its trained model, made if this Rasa version has none yet."""
    home = CACHE / f"rasa-{version('rasa')}"
    models = sorted(home.glob("models/*.tar.gz"))
    if models:
        return home, models[-1]
    building = CACHE / f"building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    print(f"Training Rasa's starter bot once, into {home.relative_to(ROOT)} ...", flush=True)
    made = subprocess.run(
        [str(BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(building)],
        cwd=building,
        env=ENV,
        capture_output=True,
        text=True,
    )
    if made.returncode != 0 or not list(building.glob("models/*.tar.gz")):
        raise ServerFailed(
            f"Rasa's starter bot: `rasa init` failed ({made.returncode}):\n{made.stderr[-3000:]}"
        )
    shutil.rmtree(home, ignore_errors=True)
    building.rename(home)
    return home, next(home.glob("models/*.tar.gz"))


@contextlib.contextmanager
def starter_bot(workdir: Path) -> Iterator[StarterBot]:
    """The starter bot served on a free loopback port until the block ends."""
    home, model = project()
    port = free_port()
    log = workdir / "starter-rasa.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(BIN / "rasa"), "run", "--enable-api", "--model", str(model)]
            + ["--interface", "127.0.0.1", "--port", str(port)],
            cwd=home,
            env=ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{url}/", 240, process, log)
        except RuntimeError as error:
            raise ServerFailed(f"Rasa's starter bot did not start: {error}") from error
        status, body = http("GET", f"{url}/status")
        if status != 200:  # Rasa serves on without a model it could not load
            raise ServerFailed(
                f"Rasa's starter bot has no model ({model}: HTTP {status} {body[:200]}):\n"
                f"{log.read_text()[-3000:]}"
            )
        yield StarterBot(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
