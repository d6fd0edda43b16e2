"""The look of each screen, pinned (pytest-textual-snapshot): fleet, device, app, alerts inbox,
the confirmation, help. The phone is simulated in-process and the findings are fixed, so the
pictures do not move; update them with ``pytest --snapshot-update`` after looking at the report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.actions import Actions
from agent.collect import Collector
from agent.events import Consent, Event, Severity
from agent.sim.device import SimDevice
from agent.sim.profiles import PROFILES, build_state
from agent.simlink import LocalLink
from agent.snapshot import Snapshot
from agent.store import DeviceRecord
from tui.app import TetherguardApp
from tui.screens import AppScreen

SERIAL = "SIM-0001"
T0 = 1_795_000_000.0


class StaticSource:
    """The TUI's source over one in-process simulated phone and a fixed set of findings."""

    def __init__(self) -> None:
        state = build_state(PROFILES["pixel8-a15"], seed=7)
        self.device = SimDevice(state)
        self.link = LocalLink(self.device, serial=SERIAL)
        self.snap: Snapshot = Collector(self.link).full()  # type: ignore[arg-type]
        self.actor = "tui:test"

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        pass

    def close(self) -> None:
        pass

    def devices(self) -> list[DeviceRecord]:
        return [DeviceRecord(SERIAL, T0, T0, "device", "Pixel 8", "Google", "15", 35)]

    def findings(self, limit: int = 500) -> list[Event]:
        def event(i: int, kind: str, package: str, **detail: Any) -> Event:
            return Event(
                kind=kind,
                serial=SERIAL,
                ts=T0 + i * 60,
                consent=Consent.NONE,
                severity=Severity.HIGH,
                user=0,
                package=package,
                detail=detail,
                id=f"e{i}",
            )

        return [
            event(
                1,
                "permission_granted",
                "com.sina.weibo",
                permission="android.permission.READ_CONTACTS",
            ),
            event(
                2,
                "sensitive_use_started",
                "com.tencent.mm",
                op="RECORD_AUDIO",
                foreground=False,
                permission="android.permission.RECORD_AUDIO",
            ),
            event(3, "silent_install", "com.sim.luckygame", installer="com.android.shell"),
        ]

    def snapshot(self, serial: str) -> Snapshot | None:
        return self.snap if serial == SERIAL else None

    def invalidate(self, serial: str) -> None:
        pass

    def start_graph(self, serial: str) -> list[tuple[str, str, int]]:
        return [("com.taobao.taobao", "com.eg.android.AlipayGphone", 2)]

    def actions(self, serial: str) -> Actions:
        return Actions(self.link, None, actor=self.actor, sdk=35)

    def accept(self, event: Event) -> int:
        return 1


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
    return TetherguardApp(StaticSource(), refresh_s=60.0)  # type: ignore[arg-type]


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
