"""Where the TUI gets its data and sends its actions: the engine's public API, in-process.

The TUI never runs adb itself: reads come from the store the engine keeps, actions go through
:meth:`agent.engine.Engine.actions` (audited as ``tui:USER``), and events arrive through
:meth:`agent.engine.Engine.subscribe`. A daemon attached over a local socket would implement
the same few methods.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable

from agent.actions import Actions
from agent.baseline import accept_event
from agent.engine import Engine
from agent.events import Event
from agent.snapshot import Snapshot
from agent.store import DeviceRecord, StoreError


class EngineSource:
    """The TUI's view of an in-process :class:`~agent.engine.Engine`."""

    def __init__(self, engine: Engine, *, actor: str | None = None) -> None:
        self.engine = engine
        self.actor = actor or f"tui:{getpass.getuser()}"
        self._unsubscribe: Callable[[], None] | None = None

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        self._unsubscribe = self.engine.subscribe(callback)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

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

    def snapshot(self, serial: str) -> Snapshot | None:
        try:
            return self.engine.store.load_snapshot(serial)
        except StoreError:
            return None

    def start_graph(self, serial: str) -> list[tuple[str, str, int]]:
        return self.engine.start_graph(serial)

    def actions(self, serial: str) -> Actions:
        return self.engine.actions(serial, self.actor)

    def accept(self, event: Event) -> int:
        return accept_event(self.engine.store, event.id)
