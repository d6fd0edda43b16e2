"""What the screens show, kept apart from the widgets: the fleet's state built from the engine's
events and store, and the remedy that fits each finding.

Pure Python (no Textual), so the rules - which finding gets which one-key action, what is in
use right now, how many findings are open - are tested without a terminal.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from agent.actions import Action
from agent.events import Event
from agent.model import SENSITIVE_PERMISSIONS
from agent.snapshot import Snapshot
from agent.store import DeviceRecord

LIVE_ICONS = {
    "RECORD_AUDIO": "mic",
    "PHONE_CALL_MICROPHONE": "mic",
    "CAMERA": "camera",
    "PHONE_CALL_CAMERA": "camera",
    "FINE_LOCATION": "location",
    "COARSE_LOCATION": "location",
}
"""Ops whose use in progress shows on the fleet and device screens."""


def remedy(event: Event) -> Action | None:
    """The one-key action that undoes what ``event`` reports, if there is one."""
    package, user = event.package, event.user if event.user is not None else 0
    if not package:
        return None
    d = event.detail
    if event.kind == "permission_granted" and isinstance(d.get("permission"), str):
        return Action("revoke", package, user, permission=str(d["permission"]))
    if event.kind == "sensitive_use_started" and isinstance(d.get("permission"), str):
        # The permission behind the use (RECORD_AUDIO for the microphone): no more use at all.
        return Action("revoke", package, user, permission=str(d["permission"]))
    if event.kind == "sensitive_use_started" and isinstance(d.get("op"), str):
        return Action("appop", package, user, op=str(d["op"]), mode="ignore")
    if event.kind == "appop_changed" and isinstance(d.get("op"), str):
        previous = d.get("previous")
        mode = str(previous) if previous in ("ignore", "deny", "default") else "ignore"
        return Action("appop", package, user, op=str(d["op"]), mode=mode)
    if event.kind in ("silent_install", "bundled_install", "package_installed", "hidden_app"):
        return Action("uninstall", package, user)
    if event.kind in ("autostart", "associated_start"):
        return Action("restrict", package, user)
    if event.kind == "device_admin":
        return Action("remove_admin", package, user)
    if event.kind in ("hot_update", "signer_changed"):
        return Action("disable", package, user)
    return None


@dataclass
class DeviceView:
    serial: str
    state: str = "device"
    model: str = ""
    release: str = ""
    sdk: int | None = None
    findings: int = 0
    in_use: dict[tuple[str, str], Event] = field(default_factory=dict)
    """(package, op) -> the event that started a use still in progress."""

    @property
    def live(self) -> str:
        """ "mic camera location" in use right now (what the fleet screen shows)."""
        kinds = sorted({LIVE_ICONS.get(op, "") for _, op in self.in_use} - {""})
        return " ".join(kinds)


class FleetModel:
    """The fleet as the TUI sees it: updated from engine events (any thread), read by screens."""

    def __init__(self, inbox_size: int = 2000) -> None:
        self._lock = threading.Lock()
        self.devices: dict[str, DeviceView] = {}
        self.inbox: deque[Event] = deque(maxlen=inbox_size)
        """Findings, newest last."""
        self.recent: deque[Event] = deque(maxlen=inbox_size)
        """Every event, newest last."""
        self.dismissed: set[str] = set()

    def load(self, records: list[DeviceRecord], findings: list[Event]) -> None:
        """Start from what the store knows (devices seen before, open findings)."""
        self.sync(records)
        with self._lock:
            for event in findings:
                if _inbox_worthy(event):
                    self._add_finding(event)

    def sync(self, records: list[DeviceRecord]) -> None:
        """Devices and their facts as the engine recorded them (new phones, model, state)."""
        with self._lock:
            for r in records:
                view = self._view(r.serial)
                view.state = r.last_state or view.state
                view.model = r.model or view.model
                view.release = r.release or view.release
                view.sdk = r.sdk if r.sdk is not None else view.sdk

    def _view(self, serial: str) -> DeviceView:
        view = self.devices.get(serial)
        if view is None:
            view = self.devices[serial] = DeviceView(serial)
        return view

    def _add_finding(self, event: Event) -> None:
        self.inbox.append(event)
        self._view(event.serial).findings += 1

    def apply(self, event: Event) -> None:
        """Take one engine event."""
        with self._lock:
            self.recent.append(event)
            view = self._view(event.serial)
            if event.kind == "device_state":
                state = str(event.detail.get("adb_state") or event.detail.get("state") or "")
                if state:
                    view.state = "device" if state == "rebooted" else state
            key = (event.package or "", str(event.detail.get("op")))
            if event.kind == "sensitive_use_started" and not event.detail.get("noted"):
                view.in_use[key] = event
            elif event.kind == "sensitive_use_stopped":
                view.in_use.pop(key, None)
            if _inbox_worthy(event):
                self._add_finding(event)

    def open_findings(self) -> list[Event]:
        """Findings not dismissed, newest first."""
        with self._lock:
            return [e for e in reversed(self.inbox) if e.id not in self.dismissed]

    def dismiss(self, event: Event) -> None:
        with self._lock:
            if event.id not in self.dismissed:
                self.dismissed.add(event.id)
                view = self.devices.get(event.serial)
                if view is not None and view.findings > 0:
                    view.findings -= 1

    def fleet(self) -> list[DeviceView]:
        with self._lock:
            return sorted(self.devices.values(), key=lambda v: v.serial)

    def findings_by_package(self, serial: str) -> dict[str, int]:
        """Open findings per package on one phone (the apps list's column)."""
        counts: dict[str, int] = {}
        with self._lock:
            for e in self.inbox:
                if e.serial == serial and e.package and e.id not in self.dismissed:
                    counts[e.package] = counts.get(e.package, 0) + 1
        return counts

    def events_of(self, serial: str, limit: int = 200) -> list[Event]:
        with self._lock:
            found = [e for e in reversed(self.recent) if e.serial == serial]
        return found[:limit]


def where(event: Event) -> str:
    """Where a use happens: "background", "foreground", or "" when the phone does not say."""
    fg = event.detail.get("foreground")
    return "background" if fg is False else "foreground" if fg is True else ""


def _inbox_worthy(event: Event) -> bool:
    """A finding the owner may act on (a use's end is recorded, not a new finding)."""
    return event.finding and event.kind != "sensitive_use_stopped"


def sensitive_words(snapshot: Snapshot, package: str, user: int) -> str:
    """The sensitive grants of a package, as short words (mic, camera, location ...)."""
    pkg = snapshot.package(package)
    if pkg is None:
        return ""
    words = {
        SENSITIVE_PERMISSIONS[g.name]
        for g in snapshot.runtime_grants(pkg, user)
        if g.granted and g.name in SENSITIVE_PERMISSIONS
    }
    return " ".join(sorted(words))
