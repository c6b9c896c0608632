"""Where the billing system hears about changes: SETTLE_SYNC_URL (comma-separated), else the
settings file's `sync.urls`; and SETTLE_SYNC_SECRET, which signs every event (only from the
environment: a secret stays out of settle.yml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from settle.core.settings_file import ConfigError


@dataclass(frozen=True)
class SyncSettings:
    urls: tuple[str, ...] = ()
    secret: str | None = field(default=None, repr=False)  # a secret: never printed

    @property
    def enabled(self) -> bool:
        return bool(self.urls)


def sync_from(
    env_urls: str | None, env_secret: str | None, file: Path, raw: dict[str, Any]
) -> SyncSettings:
    """The sync settings from the environment and the settings file's `sync:` section."""
    section = raw.get("sync") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: sync: expected a section with urls: [...]")
    unknown = set(section) - {"urls"}
    if unknown:
        raise ConfigError(f"{file}: unknown sync setting(s): {', '.join(sorted(unknown))}")
    if env_urls:
        urls, where = [u.strip() for u in env_urls.split(",") if u.strip()], "SETTLE_SYNC_URL"
    else:
        listed = section.get("urls") or []
        if not isinstance(listed, list) or not all(isinstance(u, str) for u in listed):
            raise ConfigError(f"{file}: sync.urls must be a list of URLs")
        urls, where = [u.strip() for u in listed], f"{file}: sync.urls"
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where}: {url!r} is not an http(s) URL")
    if len(set(urls)) != len(urls):
        raise ConfigError(f"{where}: an endpoint is listed twice")
    if urls and not env_secret:
        raise ConfigError(
            f"SETTLE_SYNC_SECRET must be set when {where} names an endpoint: "
            "every event is signed with it"
        )
    return SyncSettings(tuple(urls), env_secret)
