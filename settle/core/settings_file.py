"""The business settings file (settle.yml, or SETTLE_SETTINGS) read as its raw sections, and
the error every malformed setting raises. Each section's parser lives with what it
configures; settle.config puts them together into one Settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def _project_root() -> Path:
    """The checkout when Settle runs from one (its settle.yml, var/, models/); an installed
    Settle works in the directory it was started in."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "domain.yml").exists() else Path.cwd()


PROJECT_ROOT = _project_root()


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


def read_settings_file(path: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The business settings file and its sections: `path`, else SETTLE_SETTINGS, else
    settle.yml in the project. No file at all gives no sections: each has its defaults."""
    path = path or (os.environ.get("SETTLE_SETTINGS") or "").strip() or None
    file = Path(path) if path else PROJECT_ROOT / "settle.yml"
    if not file.exists():
        if path:
            raise ConfigError(f"SETTLE_SETTINGS points to {file}, which does not exist")
        return file, {}
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected sections such as business: and policy:")
    return file, raw
