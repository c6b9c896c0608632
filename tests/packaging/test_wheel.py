"""The built wheel is the whole of Settle: installed outside the repository, with no
checkout beside it, `settle --help` and `settle import` work.

The wheel goes into a fresh virtual environment that sees the project's installed
dependencies (a path entry to its site-packages) but not the project itself, and is
installed with --no-deps, so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "settle" / "demo"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools writes build/ beside the sources, never in the checkout.
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in ("settle", "actions"):
        shutil.copytree(ROOT / part, source / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / part, source / part)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(work / "dist"),
            str(source),
        ],
        check=True,
    )
    [wheel] = (work / "dist").glob("settle-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The project's dependencies, as a plain path entry: its .pth files (the editable
    # install of this checkout among them) are not read, so only the wheel provides Settle.
    Path(site, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
    )
    return venv


def _settle(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SETTLE_", "DATABASE_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{cwd / 'books.db'}"
    return subprocess.run(
        [str(venv / "bin" / "settle"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_the_installed_wheel_runs_outside_the_repository(installed, tmp_path):
    help_ = _settle(installed, "--help", cwd=tmp_path)
    assert help_.returncode == 0, help_.stderr
    assert "import" in help_.stdout and "run" in help_.stdout
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import settle; print(settle.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(ROOT) not in where  # the wheel's copy, not this checkout


def test_the_installed_wheel_imports_billing_data(installed, tmp_path):
    imported = _settle(
        installed,
        "import",
        "--customers",
        str(DEMO / "customers.csv"),
        "--invoices",
        str(DEMO / "invoices.csv"),
        cwd=tmp_path,
    )
    assert imported.returncode == 0, imported.stderr
    shown = _settle(installed, "invoice", "show", "INV-1001", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert '"INV-1001"' in shown.stdout
    assert (tmp_path / "books.db").exists()  # where DATABASE_URL said, not in the package
