"""Where tetherguard keeps its files, per the platform's conventions (XDG on Linux).

``TETHERGUARD_HOME`` moves everything under one directory (tests, portable installs, fleets
that want data on a given volume).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def _root(kind: str) -> Path | None:
    home = os.environ.get("TETHERGUARD_HOME", "").strip()
    return Path(home) / kind if home else None


def cache_dir() -> Path:
    """Re-creatable data: app labels read from APKs."""
    return _root("cache") or Path(platformdirs.user_cache_dir("tetherguard"))


def data_dir() -> Path:
    """Data that must survive: the event store, baselines, the audit log."""
    return _root("data") or Path(platformdirs.user_data_dir("tetherguard"))


def config_dir() -> Path:
    """Configuration: tetherguard.toml and local policy files."""
    return _root("config") or Path(platformdirs.user_config_dir("tetherguard"))
