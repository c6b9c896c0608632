"""Two Rasa servers and two Settle services sharing PostgreSQL and Redis, as a deployment
behind a load balancer runs them (`make test-scale`)."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from tests.harness import ROOT, Servers, free_port, start_servers

# What a load balancer in front of both Rasa servers would be called: Twilio signs for it.
PUBLIC_RASA_URL = "https://rasa.settle.test"


@dataclass
class ScaledStack:
    first: Servers
    second: Servers
    second_alive: bool = True

    @property
    def all(self) -> list[Servers]:
        return [self.first, self.second]

    def rasa_for(self, turn: int) -> Servers:
        """Every other turn to the other Rasa server, while both run."""
        return self.second if self.second_alive and turn % 2 else self.first

    def kill_second_rasa(self) -> None:
        """SIGKILL, as a crashed machine: nothing it held in memory survives."""
        rasa = self.second.processes[-1]
        os.kill(rasa.pid, signal.SIGKILL)
        rasa.wait(timeout=30)
        self.second.processes.remove(rasa)
        self.second_alive = False

    def stop(self) -> None:
        self.second.stop()
        self.first.stop()


def start_scaled(
    workdir: Path,
    stripe_url: str,
    twilio_url: str,
    database_url: str,
    redis_url: str,
    extra_data: list[tuple],
) -> ScaledStack:
    shared = {
        "DATABASE_URL": database_url,
        "TRACKER_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RASA_PUBLIC_URL": PUBLIC_RASA_URL,
        # Both services run their background passes: outbox, reminders, plans.
        "SETTLE_VOICE_TURN_SECONDS": "8",
    }
    first = start_servers(workdir / "a", stripe_url, twilio_url, shared, extra_data)
    second = _twin(first, workdir / "b")
    try:
        second.start_service()
        second.start_rasa()
    except BaseException:
        second.stop()
        first.stop()
        raise
    return ScaledStack(first, second)


def _twin(first: Servers, workdir: Path) -> Servers:
    """Another Settle service and Rasa server with the same settings, secrets and stores."""
    workdir.mkdir(parents=True, exist_ok=True)
    service_port, rasa_port = free_port(), free_port()
    env = {**first.env, "RASA_URL": f"http://127.0.0.1:{rasa_port}"}
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{service_port}/webhook"
    (workdir / "endpoints.yml").write_text(yaml.safe_dump(endpoints, sort_keys=False))
    return replace(
        first,
        workdir=workdir,
        env=env,
        service_port=service_port,
        rasa_port=rasa_port,
        processes=[],
    )
