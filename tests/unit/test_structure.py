"""The shape of the code: no import cycle between files (an import inside a function
counts: a late import hides a cycle, it does not remove it), no module over 400 lines,
and at most eight plain modules directly in settle/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("actions", "settle", "settle_rasa")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in targets:
                found = known(target)
                # A package's __init__ importing its own modules is its public face, not a cycle.
                own = path.name == "__init__.py" and found and found.startswith(name + ".")
                if found and found != name and not own:
                    graph[name].add(found)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_files():
    assert _cycles(_imports(_modules())) == []


def test_the_cycle_finder_finds_a_late_import_cycle(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_over_400_lines():
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules().values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_settle_keeps_its_modules_in_packages():
    plain = sorted(p.name for p in (ROOT / "settle").glob("*.py") if p.name != "__init__.py")
    assert len(plain) <= 8, plain


def test_actions_open_no_unit_of_work():
    """Actions are thin: the database is the services' (settle/*/conversation.py and the
    like); an action calls one of them, off the event loop."""
    opening = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "actions").rglob("*.py")
        if "unit_of_work(" in path.read_text()
    )
    assert opening == []


def test_only_the_turn_fetches_the_application():
    """An action reads its turn once (actions/turn.py: the application, the language, the
    channel's proof, the customer) and hands it on; nothing else in actions/ reaches for
    the application or imports settle.app."""
    fetching = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "actions").rglob("*.py")
        if path.name != "turn.py" and _uses_the_application(path)
    )
    assert fetching == []


def test_the_application_check_sees_a_fetch_and_an_import(tmp_path):
    fetch = tmp_path / "fetch.py"
    fetch.write_text("from settle.app import runtime\n\ndef f():\n    return runtime.current()\n")
    imported = tmp_path / "imported.py"
    imported.write_text("from settle.app.runtime import current\n")
    clean = tmp_path / "clean.py"
    clean.write_text("from actions.turn import Turn\n")
    assert [_uses_the_application(p) for p in (fetch, imported, clean)] == [True, True, False]


def _uses_the_application(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("settle.app"):
            return True
        if isinstance(node, ast.Import) and any(
            alias.name.startswith("settle.app") for alias in node.names
        ):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "current":
            if isinstance(node.value, ast.Name) and node.value.id == "runtime":
                return True
    return False


def test_settle_never_imports_the_actions_or_rasa_sdk():
    """The business knows nothing of Rasa: the arrows point from actions/ to settle/. Only
    the composition root (settle/app, which hosts the action server) may know rasa_sdk."""
    graph = _imports(_modules())
    wrong = sorted(
        (name, target)
        for name, targets in graph.items()
        if name.startswith("settle.")
        for target in targets
        if target == "actions" or target.startswith("actions.")
    )
    assert wrong == []
    rasa_sdk = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "settle").rglob("*.py")
        if "app" not in path.relative_to(ROOT / "settle").parts[:1]
        and "rasa_sdk" in path.read_text()
    )
    assert rasa_sdk == []


def test_only_the_composition_root_knows_the_process_application():
    """The feature packages are handed their store, settings and providers: none of them
    reaches for the process's application (settle.app.runtime) or anything else in app."""
    graph = _imports(_modules())
    reaching = sorted(
        (name, target)
        for name, targets in graph.items()
        if name.startswith("settle.") and not name.startswith("settle.app")
        for target in targets
        if target == "settle.app" or target.startswith("settle.app.")
    )
    assert reaching == []


def test_no_action_reads_the_domain():
    """endpoints.yml sets enable_selective_domain: Rasa sends actions no domain, so an
    action reading it would silently get {} (docs/performance.md)."""
    reading = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "actions").rglob("*.py")
        if re.search(r"\bdomain\s*(\[|\.get\(|\.items\(|\.keys\()", path.read_text())
    )
    assert reading == []
