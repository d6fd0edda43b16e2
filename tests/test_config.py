"""tetherguard.toml: the [store] section (alerts are covered in test_alerts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from tests.adbserver import AdbServer
from tests.support import Plug


def test_store_section_is_read_and_checked(tmp_path: Path) -> None:
    cfg = tmp_path / "tetherguard.toml"
    cfg.write_text('[store]\npath = "~/tg/events.db"\nretention_days = 60\n')
    store = load_config(cfg).store
    assert store.path == Path("~/tg/events.db").expanduser()
    assert store.retention_days == 60
    cfg.write_text("[store]\nretention_days = 0\n")
    with pytest.raises(ConfigError, match=r"store\.retention_days"):
        load_config(cfg)
    cfg.write_text("[store]\nkeep = 3\n")
    with pytest.raises(ConfigError, match="keep"):
        load_config(cfg)


def test_watch_writes_where_the_config_says(
    adb_server: AdbServer, plug: Plug, tmp_path: Path
) -> None:
    import subprocess
    import sys

    db = tmp_path / "elsewhere" / "events.db"
    cfg = tmp_path / "tetherguard.toml"
    cfg.write_text(f'[store]\npath = "{db}"\nretention_days = 90\n[alerts]\non_device = false\n')
    plug("pixel8-a15")
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "watch", "--once", "--config", str(cfg)],
        env=dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert db.exists()
    assert not (tmp_path / "home" / "data" / "tetherguard.db").exists()
