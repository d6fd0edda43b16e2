"""The look of each screen, pinned (pytest-textual-snapshot): fleet, device, app, alerts inbox,
the confirmation, help. The phone is simulated in-process and the findings are fixed, so the
pictures do not move; update them with ``pytest --snapshot-update`` after looking at the report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.tui_static import SERIAL, StaticSource
from tui.app import TetherguardApp
from tui.screens import AppScreen


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def _app() -> TetherguardApp:
    return TetherguardApp(StaticSource(), refresh_s=60.0)


SIZE = (140, 36)


def test_fleet(snap_compare: Any) -> None:
    assert snap_compare(_app(), terminal_size=SIZE)


def test_device_apps(snap_compare: Any) -> None:
    assert snap_compare(_app(), press=["enter"], terminal_size=SIZE)


def test_alerts_inbox(snap_compare: Any) -> None:
    assert snap_compare(_app(), press=["a"], terminal_size=SIZE)


def test_app_screen(snap_compare: Any) -> None:
    async def open_app(pilot: Any) -> None:
        pilot.app.push_screen(AppScreen(SERIAL, "com.tencent.mm", 0))
        await pilot.pause()

    assert snap_compare(_app(), run_before=open_app, terminal_size=SIZE)


def test_confirmation(snap_compare: Any) -> None:
    assert snap_compare(_app(), press=["a", "down", "r", "wait:500"], terminal_size=SIZE)


def test_help(snap_compare: Any) -> None:
    assert snap_compare(_app(), press=["question_mark"], terminal_size=SIZE)


def test_app_ops_tab(snap_compare: Any) -> None:
    async def open_app(pilot: Any) -> None:
        pilot.app.push_screen(AppScreen(SERIAL, "com.tencent.mm", 0))
        await pilot.pause()

    assert snap_compare(_app(), run_before=open_app, press=["2"], terminal_size=SIZE)


def test_device_starts_tab(snap_compare: Any) -> None:
    assert snap_compare(_app(), press=["enter", "4"], terminal_size=SIZE)


def test_confirmation_of_marked_findings(snap_compare: Any) -> None:
    press = ["a", "space", "space", "r", "wait:500"]
    assert snap_compare(_app(), press=press, terminal_size=SIZE)
