"""pyproject.toml declares every package the code imports (not only what Rasa happens to
bring along), and no test tool is a runtime dependency."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import tomli

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"settle", "settle_rasa", "actions"}
# Distributions whose installed metadata does not list their top-level module.
# (Python 3.10 reads only top_level.txt, which wheels built by hatchling do not have.)
PROVIDED_BY = {"text_to_num": "text2num", "argon2": "argon2-cffi"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomli.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        _canonical(re.split(r"[\s<>=!~\[;]", d, maxsplit=1)[0]) for d in project["dependencies"]
    }


def _imported() -> set[str]:
    names = set()
    for package in FIRST_PARTY:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names - FIRST_PARTY - set(sys.stdlib_module_names) - {"__future__"}


def test_every_package_the_code_imports_is_declared():
    declared, providers = _declared(), importlib.metadata.packages_distributions()

    def provider(module: str) -> list[str]:
        return providers.get(module) or [PROVIDED_BY.get(module, module)]

    undeclared = {
        module: provider(module)
        for module in _imported()
        if not any(_canonical(dist) in declared for dist in provider(module))
    }
    assert undeclared == {}


def test_test_tools_are_not_runtime_dependencies():
    assert not _declared() & {
        "pytest",
        "pytest-timeout",
        "hypothesis",
        "playwright",
        "ruff",
        "mypy",
    }
