"""A TUI source over one in-process simulated phone and a fixed set of findings: screens that
do not move (snapshot tests) and app behaviour without an engine (toasts, sorting, palette)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

from agent.actions import Actions
from agent.collect import Collector
from agent.events import Consent, Event, Severity
from agent.sim.device import SimDevice
from agent.sim.profiles import PROFILES, build_state
from agent.simlink import LocalLink
from agent.snapshot import Snapshot
from agent.store import DeviceRecord

SERIAL = "SIM-0001"
T0 = 1_795_000_000.0


class StaticSource:
    """The TUI's source over one in-process simulated phone and a fixed set of findings."""

    def __init__(self) -> None:
        # The phone's clock stands still at T0 while it is built and read: install dates show.
        with mock.patch("time.time", return_value=T0):
            state = build_state(PROFILES["pixel8-a15"], seed=7)
            self.device = SimDevice(state)
            self.link = LocalLink(self.device, serial=SERIAL)
            self.snap: Snapshot = Collector(self.link).full()  # type: ignore[arg-type]
        self.actor = "tui:test"
        self.said: list[str] = []
        """The engine's problems, as a test makes them."""

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

    def history(self, serial: str, package: str | None, limit: int = 200) -> list[Event]:
        found = [e for e in reversed(self.findings()) if package in (None, e.package)]
        return found[:limit]

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

    def problems(self, start: int = 0) -> list[str]:
        return self.said[start:]
