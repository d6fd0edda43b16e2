"""Where the TUI gets its data and sends its actions: the engine's public API, in-process.

The TUI never runs adb itself: reads come from the store the engine keeps, actions go through
:meth:`agent.engine.Engine.actions` (audited as ``tui:USER``), and events arrive through
:meth:`agent.engine.Engine.subscribe`. A daemon attached over a local socket would implement
the same few methods.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable
from typing import Protocol

from agent.actions import Actions
from agent.baseline import accept_event
from agent.engine import Engine
from agent.events import Event
from agent.snapshot import Snapshot
from agent.store import DeviceRecord, StoreError


class Source(Protocol):
    """What the TUI needs of the engine; :class:`EngineSource` is the in-process one."""

    def subscribe(self, callback: Callable[[Event], None]) -> None: ...
    def close(self) -> None: ...
    def devices(self) -> list[DeviceRecord]: ...
    def findings(self, limit: int = 500) -> list[Event]: ...
    def history(self, serial: str, package: str | None, limit: int = 200) -> list[Event]: ...
    def snapshot(self, serial: str) -> Snapshot | None: ...
    def invalidate(self, serial: str) -> None: ...
    def start_graph(self, serial: str) -> list[tuple[str, str, int]]: ...
    def actions(self, serial: str) -> Actions: ...
    def accept(self, event: Event) -> int: ...
    def problems(self, start: int = 0) -> list[str]: ...


class EngineSource:
    """The TUI's view of an in-process :class:`~agent.engine.Engine`."""

    def __init__(self, engine: Engine, *, actor: str | None = None) -> None:
        self.engine = engine
        self.actor = actor or f"tui:{getpass.getuser()}"
        self._unsubscribe: Callable[[], None] | None = None
        self._snapshots: dict[str, tuple[float, Snapshot | None]] = {}
        self.max_age_s = 2.0
        self.keep = 4
        """Snapshots kept decoded (the phones looked at last): each is tens of thousands of
        objects, and the garbage collector's pauses grow with every one kept."""

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        self._unsubscribe = self.engine.subscribe(callback)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def problems(self, start: int = 0) -> list[str]:
        """What the engine had to say (a full disk, the adb server restarted, a phone that
        could not be read), from the ``start``-th line on."""
        return list(self.engine.errors[start:])

    def devices(self) -> list[DeviceRecord]:
        try:
            return self.engine.store.devices()
        except StoreError:
            return []

    def findings(self, limit: int = 500) -> list[Event]:
        """Recent findings from the store, oldest first (the inbox at start)."""
        try:
            found = [
                e for e in self.engine.store.events(newest_first=True, limit=5000) if e.finding
            ]
        except StoreError:
            return []
        return list(reversed(found[:limit]))

    def history(self, serial: str, package: str | None, limit: int = 200) -> list[Event]:
        """What happened on one phone (to one app, or to all), newest first: from the store,
        so it reaches back before the TUI started."""
        try:
            return list(
                self.engine.store.events(
                    serial=serial, package=package, limit=limit, newest_first=True
                )
            )
        except StoreError:
            return []

    def snapshot(self, serial: str) -> Snapshot | None:
        """The device's latest snapshot, read from the store at most every ``max_age_s`` (a
        snapshot is a few hundred kilobytes to decode: not on every redraw)."""
        now = time.monotonic()
        cached = self._snapshots.get(serial)
        if cached is not None and now - cached[0] < self.max_age_s:
            return cached[1]
        try:
            snap = self.engine.store.load_snapshot(serial)
        except StoreError:
            return cached[1] if cached is not None else None
        before = cached[1] if cached is not None else None
        if before is not None and snap is not None and snap.taken_at == before.taken_at:
            snap = before  # the same: keep the object (screens compare by identity)
        self._snapshots.pop(serial, None)
        self._snapshots[serial] = (now, snap)  # the newest last
        while len(self._snapshots) > self.keep:
            del self._snapshots[next(iter(self._snapshots))]
        return snap

    def invalidate(self, serial: str) -> None:
        """Read the snapshot afresh next time (after an action on that phone)."""
        self._snapshots.pop(serial, None)

    def start_graph(self, serial: str) -> list[tuple[str, str, int]]:
        return self.engine.start_graph(serial)

    def actions(self, serial: str) -> Actions:
        return self.engine.actions(serial, self.actor)

    def accept(self, event: Event) -> int:
        return accept_event(self.engine.store, event.id)
