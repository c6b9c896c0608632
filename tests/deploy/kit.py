"""Readers for the deployment kit (deploy/) and the documents it must agree with: the
README's configuration tables and docs/security.md's table of ports. Each check returns
the problems it found, so a test can also show that a broken file would be caught."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

# Compose's ${VAR}, ${VAR:-default}, ${VAR:?message}; Caddy's {$VAR}.
COMPOSE_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:?-][^}]*)?\}")
CADDY_VARIABLE = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)\}")
COMPOSE_ONLY_MARKER = "# Compose only"


def text(relative: str) -> str:
    return (ROOT / relative).read_text()


def compose(source: str | None = None) -> dict[str, Any]:
    return yaml.safe_load(source if source is not None else text("deploy/docker-compose.yml"))


def kubernetes() -> list[dict[str, Any]]:
    """Every object in deploy/kubernetes/*.yaml."""
    documents = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def env_example(source: str | None = None) -> tuple[dict[str, str], set[str]]:
    """deploy/.env.example's variables, and those listed as read by compose only."""
    values: dict[str, str] = {}
    compose_only: set[str] = set()
    in_compose_only = False
    for line in (source if source is not None else text("deploy/.env.example")).splitlines():
        if line.startswith(COMPOSE_ONLY_MARKER):
            in_compose_only = True
        if not line.strip() or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
        if in_compose_only:
            compose_only.add(name.strip())
    return values, compose_only


def documented_variables(readme: str | None = None) -> set[str]:
    """Variables named in the first column of the README's tables."""
    names: set[str] = set()
    for line in (readme if readme is not None else text("README.md")).splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


@dataclass
class Port:
    number: int
    process: str
    # "nobody outside" faces it (the metrics listener): every route on it is internal.
    faces_nobody_outside: bool = False
    public: list[str] = field(default_factory=list)
    internal: list[str] = field(default_factory=list)


def security_ports(source: str | None = None) -> dict[str, Port]:
    """docs/security.md's "What each port exposes", by process (`rasa run`, `settle serve`):
    a sample request path for each route, public or only for the servers themselves."""
    lines = (source if source is not None else text("docs/security.md")).splitlines()
    start = lines.index("## What each port exposes")
    ports: dict[str, Port] = {}
    current: Port | None = None
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) != 5 or cells[0] == "port" or cells[0].startswith("---"):
            continue
        if cells[0]:
            current = Port(int(cells[0]), cells[1].strip("`"), cells[2].startswith("nobody"))
            ports[current.process] = current
        if current is None:
            continue
        internal = (
            "Rasa server only" in cells[4] or "JWT" in cells[4] or current.faces_nobody_outside
        )
        (current.internal if internal else current.public).extend(_sample_paths(cells[3]))
    return ports


def _sample_paths(cell: str) -> list[str]:
    """A request path for each route in a cell; `a/b (+ /c)` means a sibling, a/c."""
    route = re.compile(r"`(?:[A-Z]+ )?(/[^`]*)`")  # `/chat`, `POST /webhook`
    main, _, siblings = cell.partition("(+")
    paths = [_sample(p) for p in route.findall(main)]
    parent = paths[-1].rsplit("/", 1)[0] if paths else ""
    paths += [parent + _sample(p) for p in route.findall(siblings)]
    return paths


def _sample(route: str) -> str:
    return route.replace("*", "x").replace("…", "x")


def caddy_routes(source: str | None = None) -> list[tuple[list[str], set[int]]]:
    """The Caddyfile's `handle` blocks that proxy, in order: the matcher's path patterns
    (`/*` for a bare `handle`) and the ports of the upstreams."""
    caddy = source if source is not None else text("deploy/Caddyfile")
    matchers = {m[1]: m[2].split() for m in re.finditer(r"^\s*@(\S+) path (.+)$", caddy, re.M)}
    routes = []
    for block in re.finditer(r"handle(?: @(\S+))? \{\s*reverse_proxy ([^{\n]+)", caddy):
        ports = {int(upstream.rsplit(":", 1)[1]) for upstream in block[2].split()}
        routes.append((matchers[block[1]] if block[1] else ["/*"], ports))
    return routes


def caddy_port_for(path: str, routes: list[tuple[list[str], set[int]]]) -> set[int]:
    """Where Caddy sends `path`: the first matching block's ports, or nowhere."""
    for patterns, ports in routes:
        for pattern in patterns:
            if path == pattern or (pattern.endswith("*") and path.startswith(pattern[:-1])):
                return ports
    return set()


def ingress_port_for(path: str, ingress: dict[str, Any]) -> set[int]:
    """Where the Ingress sends `path` (Exact, or Prefix by whole path segments)."""
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            prefix = entry["path"].rstrip("/")
            exact = entry["pathType"] == "Exact"
            if path == entry["path"] or not exact and path.startswith(prefix + "/"):
                return {entry["backend"]["service"]["port"]["number"]}
    return set()


def variable_problems(
    compose_source: str, caddy_source: str, env_source: str, readme: str
) -> list[str]:
    """Each variable compose or Caddy reads must be in .env.example, and documented in the
    README or listed there as compose-only; and .env.example holds nothing unused."""
    values, compose_only = env_example(env_source)
    documented = documented_variables(readme)
    used = set(COMPOSE_VARIABLE.findall(compose_source)) | set(CADDY_VARIABLE.findall(caddy_source))
    problems = [f"{name} is not in .env.example" for name in sorted(used - set(values))]
    problems += [
        f"{name} is neither in the README's configuration tables nor compose-only"
        for name in sorted(used - documented - compose_only)
    ]
    problems += [f"{name} in .env.example is not used" for name in sorted(set(values) - used)]
    return problems


SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|_KEY$")
REAL_SECRET = re.compile(
    r"\b(sk|rk|pk)_(live|test)_\w+|\bwhsec_\w+|\b(AC|SK)[0-9a-f]{32}\b|\b[0-9a-f]{32,}\b"
    r"|-----BEGIN"
)
PLACEHOLDER = "change-me"


def secret_problems(env_source: str) -> list[str]:
    """Secrets in .env.example are empty or `change-me` (also inside URLs); nothing in it
    looks like a real key."""
    values, _ = env_example(env_source)
    problems = [f"line looks like a real secret: {m[0]}" for m in REAL_SECRET.finditer(env_source)]
    for name, value in values.items():
        password = re.search(r"://[^:/@]+:([^@]*)@", value)
        if password and password[1] != PLACEHOLDER:
            problems.append(f"{name} holds a password")
        if SECRET_NAME.search(name) and value not in ("", PLACEHOLDER):
            problems.append(f"{name} is not empty or {PLACEHOLDER}")
    return problems
