"""``tetherguard demo`` in a real terminal (tmux), used as a person would: a microphone used in
the background shows up, one key and a confirmation revoke it, the revocation is read back."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    def __init__(self, name: str) -> None:
        self.name = name

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", *args], capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def wait(self, *texts: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if all(t in shown for t in texts):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"never showed {texts!r}; the screen:\n{shown}")
            time.sleep(0.2)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    name = f"tg-{uuid.uuid4().hex[:8]}"
    # COLUMNS/LINES from the test process would pin Textual to 80x24 whatever tmux says.
    command = (
        f"env -u COLUMNS -u LINES TETHERGUARD_HOME={tmp_path} {sys.executable} -m tui.cli "
        "demo --devices 1 "
        "--scenario background-mic --every 6"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "45", command],
        check=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[1],
    )
    term = Terminal(name)
    term.tmux("resize-window", "-t", name, "-x", "160", "-y", "45")
    try:
        yield term
    finally:
        term.keys("q")
        time.sleep(1)
        term.tmux("kill-session", "-t", name)


def test_demo_shows_a_background_mic_and_revokes_it_with_one_key(terminal: Terminal) -> None:
    terminal.wait("tetherguard", "1 phone(s)")
    terminal.wait("sensitive use started")  # the toast
    terminal.keys("a")
    shown = terminal.wait("sensitive_use_started", "com.tencent.mm", "RECORD_AUDIO")
    assert "(background)" in shown
    terminal.keys("r")
    shown = terminal.wait("Can be undone: yes")
    assert "adb shell pm revoke --user 0 com.tencent.mm android.permission.RECORD_AUDIO" in shown
    terminal.keys("y")
    terminal.wait("read back: granted=False")
