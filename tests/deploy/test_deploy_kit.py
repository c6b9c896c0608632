"""The deployment kit (deploy/) read, not run (no Docker on the build machine): the images'
bases and commands, two Rasa and two Settle servers after a one-shot migration, every
variable in .env.example and the README, ports and public paths as docs/security.md says,
and the Rasa endpoints with the Redis lock store."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from settle.access.rasa_api import rasa_arguments
from settle.app.cli import build_parser
from tests.deploy import kit

RASA_BASE = "rasa/rasa:3.6.21"
SETTLE_BASES = {"rasa/rasa-sdk:3.6.2", "python:3.10-slim"}
# Names the containers get that are not Settle's: Rasa's own, the PostgreSQL image's.
NOT_SETTLES = {"SANIC_WORKERS", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD"}


def _dockerfile(name: str) -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", kit.text(f"deploy/{name}"))
    lines = [line.strip() for line in joined.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def _last(instructions: list[tuple[str, str]], keyword: str) -> str:
    return [args for instruction, args in instructions if instruction == keyword][-1]


def _services(prefix: str) -> dict:
    return {
        name: s for name, s in kit.compose()["services"].items() if name.startswith(prefix + "-")
    }


def _objects(kind: str) -> dict:
    return {o["metadata"]["name"]: o for o in kit.kubernetes() if o["kind"] == kind}


def _container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _jwt_flags(tmp_path: Path) -> list[str]:
    """The flags `settle rasa-key` prints, for a key at /keys/rasa-jwt.pem."""
    return [a.replace(str(tmp_path), "/keys") for a in rasa_arguments(tmp_path / "rasa-jwt.pem")]


def _has_run(command: list[str], flags: list[str]) -> bool:
    return " ".join(flags) in " ".join(command)


def test_images_build_on_rasa_36_and_run_as_a_user():
    rasa, settle = _dockerfile("rasa.Dockerfile"), _dockerfile("settle.Dockerfile")
    assert _last(rasa, "FROM") == RASA_BASE
    assert _last(settle, "FROM") in SETTLE_BASES
    for instructions in (rasa, settle):
        assert _last(instructions, "USER") not in ("root", "0")
    copied = " ".join(args for instruction, args in rasa if instruction == "COPY")
    for needed in ("domain.yml", "config.yml", "credentials.yml", "endpoints.yml", "settle.yml"):
        assert needed in copied.split()
    assert "data" in copied.split()
    assert "rasa train" in " ".join(args for instruction, args in rasa if instruction == "RUN")


@pytest.mark.parametrize("name", ["rasa.Dockerfile", "settle.Dockerfile"])
def test_everything_an_image_copies_is_in_the_project(name):
    for instruction, args in _dockerfile(name):
        if instruction == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (kit.ROOT / source).exists(), f"{name} copies {source}, which is missing"


def test_commands_are_real_settle_commands():
    settle_cmd = yaml.safe_load(_last(_dockerfile("settle.Dockerfile"), "CMD"))
    commands = [settle_cmd, *(s["command"] for s in _services("settle").values())]
    commands.append(_container(_objects("Deployment")["settle"])["command"])
    migrate = kit.compose()["services"]["migrate"]["command"]
    commands += [shlex.split(step) for step in migrate[-1].split("&&")]
    job = _objects("Job")["settle-migrate"]["spec"]["template"]["spec"]
    commands.append(job["containers"][0]["command"])
    for command in commands:
        assert command[0] == "settle"
        build_parser().parse_args([c for c in command[1:] if c not in (">", "/dev/null")])
    assert commands[0][1] == "serve"
    assert migrate[-1].startswith("settle migrate")


def test_rasa_runs_as_settle_run_starts_it(tmp_path):
    """The flags of `settle run`: API with the service's JWT key, the project's files."""
    project = ["--credentials", "credentials.yml", "--model", "models"]
    commands = [yaml.safe_load(_last(_dockerfile("rasa.Dockerfile"), "CMD"))]
    commands += [s["command"] for s in _services("rasa").values()]
    commands.append(_container(_objects("Deployment")["rasa"])["args"])
    for command in commands:
        assert command[0] == "run"
        assert _has_run(command, _jwt_flags(tmp_path))
        assert _has_run(command, project[:2]) and _has_run(command, project[2:])
        assert "--endpoints" in command
    for service in _services("rasa").values():
        assert _has_run(service["command"], ["--cors", "${SETTLE_ALLOWED_ORIGINS:-*}"])


def test_two_rasa_and_two_settle_servers_start_after_the_migration():
    services = kit.compose()["services"]
    assert len(_services("rasa")) == 2 and len(_services("settle")) == 2
    assert services["migrate"].get("restart") == "no"
    for name, service in {**_services("rasa"), **_services("settle")}.items():
        assert service["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name
        assert service["environment"]["REDIS_URL"] == "${REDIS_URL:?set REDIS_URL in .env}"
    for service in _services("rasa").values():
        env = service["environment"]
        assert env["SANIC_WORKERS"] == env["RASA_WORKERS"] == "${RASA_WORKERS:-2}"
        assert env["ACTION_SERVER_URL"].startswith("${ACTION_SERVER_URL")
    replicas = {name: d["spec"]["replicas"] for name, d in _objects("Deployment").items()}
    assert replicas == {"rasa": 2, "settle": 2}
    config = _objects("ConfigMap")["settle-config"]["data"]
    assert config["SANIC_WORKERS"] == config["RASA_WORKERS"]


def test_every_variable_is_in_env_example_and_documented():
    assert (
        kit.variable_problems(
            kit.text("deploy/docker-compose.yml"),
            kit.text("deploy/Caddyfile"),
            kit.text("deploy/.env.example"),
            kit.text("README.md"),
        )
        == []
    )


def test_every_variable_a_container_gets_is_documented():
    documented = kit.documented_variables() | NOT_SETTLES
    for name, service in kit.compose()["services"].items():
        assert set(service.get("environment", {})) <= documented, name
    assert set(_objects("ConfigMap")["settle-config"]["data"]) <= documented


def test_a_broken_kit_is_caught():
    """The checks above fail on an undocumented variable, a real secret, a lost route."""
    compose_source = kit.text("deploy/docker-compose.yml")
    caddy, env, readme = (
        kit.text(f) for f in ("deploy/Caddyfile", "deploy/.env.example", "README.md")
    )
    undocumented = compose_source.replace("${LOG_LEVEL:-INFO}", "${LOG_LEVEL_TYPO:-INFO}")
    assert "LOG_LEVEL_TYPO is not in .env.example" in kit.variable_problems(
        undocumented, caddy, env, readme
    )
    env_with_typo = "LOG_LEVEL_TYPO=INFO\n" + env
    assert any(
        p.startswith("LOG_LEVEL_TYPO is neither")
        for p in kit.variable_problems(undocumented, caddy, env_with_typo, readme)
    )
    assert kit.secret_problems(env.replace("STRIPE_API_KEY=", "STRIPE_API_KEY=sk_live_4eC39"))
    assert kit.secret_problems(
        env.replace("SETTLE_ACTION_SECRET=change-me", "SETTLE_ACTION_SECRET=x")
    )
    assert kit.secret_problems(env.replace("settle:change-me@", "settle:hunter2@"))
    routes = kit.caddy_routes(caddy.replace(" /webhooks/stripe ", " "))
    assert kit.caddy_port_for("/webhooks/stripe", routes) == set()


def test_env_example_holds_no_real_secret():
    assert kit.secret_problems(kit.text("deploy/.env.example")) == []


def test_ports_are_those_of_the_security_doc():
    ports = kit.security_ports()
    rasa, settle = ports["rasa run"].number, ports["settle serve"].number
    for service in _services("rasa").values():
        assert _has_run(service["command"], ["--port", str(rasa)])
        assert f"127.0.0.1:{rasa}/'" in service["healthcheck"]["test"][-1]
    for service in _services("settle").values():
        assert _has_run(service["command"], ["--port", str(settle)])
        assert f"127.0.0.1:{settle}/ready'" in service["healthcheck"]["test"][-1]
    values, _ = kit.env_example()
    assert values["ACTION_SERVER_URL"].endswith(f":{settle}/webhook")
    assert values["RASA_URL"].endswith(f":{rasa}")
    deployments = _objects("Deployment")
    for name, port in (("rasa", rasa), ("settle", settle)):
        container = _container(deployments[name])
        assert container["ports"] == [{"containerPort": port}]
        assert container["readinessProbe"]["httpGet"]["port"] == port
        assert _objects("Service")[name]["spec"]["ports"][0]["targetPort"] == port
    settle_probes = _container(deployments["settle"])
    assert settle_probes["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert settle_probes["livenessProbe"]["httpGet"]["path"] == "/health"
    assert _container(deployments["rasa"])["readinessProbe"]["httpGet"]["path"] == "/"


def test_proxies_send_each_public_path_to_its_server_and_hide_the_rest():
    routes, ingress = kit.caddy_routes(), _objects("Ingress")["settle"]
    for port in kit.security_ports().values():
        assert port.public or port.internal
        for path in port.public:
            assert kit.caddy_port_for(path, routes) == {port.number}, path
            assert kit.ingress_port_for(path, ingress) == {port.number}, path
        for path in port.internal:
            assert kit.caddy_port_for(path, routes) == set(), path
            assert kit.ingress_port_for(path, ingress) == set(), path


def test_rasa_endpoints_use_the_settle_stores_and_the_action_server():
    # The image and the cluster use the project's own endpoints.yml.
    endpoints = yaml.safe_load(kit.text("endpoints.yml"))
    in_cluster = yaml.safe_load(_objects("ConfigMap")["rasa-endpoints"]["data"]["endpoints.yml"])
    assert in_cluster == endpoints
    assert endpoints["lock_store"] == {"type": "settle_rasa.lock_store.SettleLockStore"}
    assert endpoints["action_endpoint"]["url"] == "${ACTION_SERVER_URL}"
