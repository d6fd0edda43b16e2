"""The TUI's behaviour without an engine (one in-process simulated phone, fixed findings):
toasts as findings arrive, sorting and tabs, marking in the inbox, the command palette."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable, TabbedContent

from agent.events import Consent, Event, Severity
from tests.tui_static import SERIAL, StaticSource
from tui.app import EngineEvent, TetherguardApp
from tui.cli import main as tui_main
from tui.screens import AlertsScreen, AppScreen, DeviceScreen, FleetScreen
from tui.widgets import Table


@pytest.fixture
def static() -> StaticSource:
    """Built outside the test's event loop (the in-process phone runs one of its own)."""
    return StaticSource()


async def _until(predicate: Callable[[], object]) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - the app's state, as a person would see it
            await asyncio.sleep(0.02)


def _finding(i: int, package: str) -> Event:
    return Event(
        kind="permission_granted",
        serial=SERIAL,
        ts=time.time(),
        consent=Consent.NONE,
        severity=Severity.HIGH,
        user=0,
        package=package,
        detail={"permission": "android.permission.READ_CONTACTS"},
        id=f"new{i}",
    )


def _column(table: DataTable[object], index: int) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


async def test_one_finding_is_toasted_by_name_a_burst_as_one_summary(static: StaticSource) -> None:
    app = TetherguardApp(static, refresh_s=0.05)
    app.toast_s = 0.0
    async with app.run_test(size=(140, 36), notifications=True):
        await _until(lambda: isinstance(app.screen, FleetScreen) and app.screen.ready)
        app.post_message(EngineEvent(_finding(0, "com.whatsapp")))
        await _until(lambda: len(app._notifications) == 1)
        [toast] = list(app._notifications)
        assert "permission granted: com.whatsapp" in str(toast.message)
        for i in range(1, 8):  # a burst: arrives between two redraws
            app.post_message(EngineEvent(_finding(i, f"com.burst{i}")))
        await _until(lambda: len(app._notifications) == 2)
        await asyncio.sleep(0.3)
        assert len(app._notifications) == 2  # one toast for the seven
        summary = list(app._notifications)[-1]
        assert summary.title == "7 new findings on 1 phone(s)"
        assert "com.burst1" in str(summary.message) and "and 4 more" in str(summary.message)
        # the inbox has them all, newest first
        assert len(app.model.open_findings()) == 3 + 8


async def test_the_engines_problems_are_shown_as_warnings_once(static: StaticSource) -> None:
    app = TetherguardApp(static, refresh_s=0.05)
    async with app.run_test(size=(140, 36), notifications=True):
        await _until(lambda: isinstance(app.screen, FleetScreen) and app.screen.ready)
        static.said.append("store: the disk holding the store at /x is full: \x1b[31mred")
        await _until(lambda: len(app._notifications) == 1)
        [toast] = list(app._notifications)
        assert toast.severity == "warning" and "is full" in str(toast.message)
        assert "\x1b" not in str(toast.message)  # escaped, never an escape sequence
        static.said.extend(f"problem {i}" for i in range(6))
        await _until(lambda: len(app._notifications) == 5)
        await asyncio.sleep(1.5)
        shown = [str(n.message) for n in app._notifications]
        assert len(shown) == 5  # three named, one count, nothing twice
        assert shown[-1] == "3 more problems" and "problem 5" in shown[-2]


async def test_the_apps_list_sorts_and_the_tabs_switch_from_the_keyboard(
    static: StaticSource,
) -> None:
    app = TetherguardApp(static, refresh_s=60.0)
    async with app.run_test(size=(140, 36)) as pilot:
        await _until(lambda: isinstance(app.screen, FleetScreen) and app.screen.ready)
        await pilot.press("enter")
        await _until(lambda: isinstance(app.screen, DeviceScreen) and app.screen.ready)
        apps = app.screen.query_one("#apps", Table)
        by_package = _column(apps, 0)
        user_apps = [p for p, s in zip(by_package, _column(apps, 6), strict=True) if not s]
        assert user_apps == sorted(user_apps)
        for _ in range(3):  # package -> label -> installer -> findings
            await pilot.press("o")
        assert app.screen.sort == "findings"  # type: ignore[attr-defined]
        # the two apps with open findings come first
        assert set(_column(apps, 0)[:2]) == {"com.sina.weibo", "com.tencent.mm"}
        assert _column(apps, 5)[:3] == ["1", "1", ""]
        await pilot.press("o")
        sensitive = [len(s.split()) for s in _column(apps, 4)]
        users = [n for n, s in zip(sensitive, _column(apps, 6), strict=True) if not s]
        assert users == sorted(users, reverse=True)
        tabs = app.screen.query_one("#device-tabs", TabbedContent)
        await pilot.press("right_square_bracket")
        assert tabs.active == "tab-live"
        await pilot.press("4")
        assert tabs.active == "tab-starts"
        starts = app.screen.query_one("#starts", Table)
        assert app.focused is starts
        assert _column(starts, 0) == ["com.taobao.taobao"]
        await pilot.press("enter")  # the started app
        await _until(lambda: isinstance(app.screen, AppScreen) and app.screen.ready)
        assert app.screen.package == "com.eg.android.AlipayGphone"  # type: ignore[attr-defined]
        await pilot.press("4")
        rows = app.screen.query_one("#app-starts", Table)
        assert [str(c) for c in rows.get_row_at(0)] == ["started by", "com.taobao.taobao", "2"]


async def test_marked_findings_are_dismissed_together_and_the_palette_has_every_key(
    static: StaticSource,
) -> None:
    app = TetherguardApp(static, refresh_s=60.0)
    async with app.run_test(size=(140, 36)) as pilot:
        await _until(lambda: isinstance(app.screen, FleetScreen) and app.screen.ready)
        await pilot.press("a")
        await _until(lambda: isinstance(app.screen, AlertsScreen) and app.screen.ready)
        inbox = app.screen
        assert isinstance(inbox, AlertsScreen)
        table = inbox.query_one("#alerts", Table)
        await pilot.press("down", "space", "space")
        assert inbox.marked == {"e2", "e1"}
        assert _column(table, 0) == ["", "✓", "✓"]
        await pilot.press("x")  # dismiss both
        assert [e.id for e in app.model.open_findings()] == ["e3"]
        assert table.row_count == 1
        await pilot.press("M")
        assert inbox.marked == {"e3"}
        titles = {c.title for c in app.get_system_commands(inbox)}
        assert {"Act (revoke ...)", "Accept into baseline", "Dismiss", "Mark"} <= titles
        await pilot.press("escape")
        await pilot.press("a")  # the same inbox, brought back
        await _until(lambda: app.screen is inbox)
        app.push_screen(AppScreen(SERIAL, "com.tencent.mm", 0))
        await _until(lambda: isinstance(app.screen, AppScreen) and app.screen.ready)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Revoke/deny row", "Grant/allow row", "Uninstall", "Force-stop"} <= titles
        await pilot.press("a")  # back down to the inbox, not a second one on top
        assert app.screen is inbox and app.screen_stack.count(inbox) == 1


def test_tui_refuses_a_broken_configuration_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "tetherguard.toml"
    broken.write_text("[store]\nretention_days = 'forever'\n")
    assert tui_main(["tui", "--config", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tetherguard: config:") and "retention_days" in err
