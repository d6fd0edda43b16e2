"""The engine: the one public face of tetherguard's core. The CLI, the TUI and the daemon all use
it, so a feature works the same way in all three.

It watches devices (one worker thread per online device, plus a hot-plug tracker), turns each
new snapshot into events through :class:`~agent.detect.Detector`, records them in the
:class:`~agent.store.Store` *before* publishing them, and hands them to subscribers. Restart
safety: a device's first read is compared with the snapshot persisted by the previous run, so
what changed while the engine was down is reported when it comes back.

Threads, not asyncio: adb calls block, and each device is independent. Nothing here imports
Textual.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from agent.adb import AdbClient, AdbError, DeviceEvent, DeviceTracker
from agent.collect import SWEEP_EVERY, Collector
from agent.detect import Detector, Settings
from agent.events import Consent, Event, Severity
from agent.labels import LabelCache
from agent.snapshot import Snapshot
from agent.store import Store, StoreError

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 2.0
AUDIT_WINDOW = 600.0
"""Seconds during which a change matching a finished action of ours counts as ours."""


class StoreEvidence:
    """Consent evidence from the store: our audit log and the owner's baseline."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def ours(self, serial: str, user: int | None, package: str | None, kind: str, key: str) -> bool:
        since = self.clock() - AUDIT_WINDOW
        for record in self.store.audit(since=since, serial=serial):
            if record.status not in ("pending", "done"):
                continue
            target = record.target if isinstance(record.target, dict) else {}
            if target.get("package") not in (None, package):
                continue
            if record.user is not None and user is not None and record.user != user:
                continue
            expects = target.get("expects")
            if isinstance(expects, list) and kind in expects:
                key_ok = target.get("key") in (None, key)
                if key_ok:
                    return True
        return False

    def accepted(
        self, serial: str, user: int | None, package: str | None, kind: str, key: str, value: str
    ) -> bool:
        return self.store.is_accepted(serial, user, package, kind, key, value)


Subscriber = Callable[[Event], None]


@dataclass
class Engine:
    """Watch devices and report what changes.

    Args:
        client: the adb server to use.
        store: where events, snapshots, baseline and audit log live.
        interval: seconds between two steady-state cycles of a device.
        serials: only these devices (default: every device that comes online).
        labels: label cache (optional; new installs get their label read).
    """

    client: AdbClient
    store: Store
    interval: float = DEFAULT_INTERVAL
    serials: Sequence[str] | None = None
    labels: LabelCache | None = None
    settings: Settings = field(default_factory=Settings)
    sweep_every: int = SWEEP_EVERY
    """On Android 9 (no grants mirrored into app ops), a full package read every this many
    cycles: the latency of grant detection there, traded against the phone's CPU."""
    _subscribers: list[Subscriber] = field(default_factory=list)
    _workers: dict[str, threading.Thread] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tracker: DeviceTracker | None = None
    detector: Detector = field(init=False)
    errors: list[str] = field(default_factory=list)
    """Device problems seen (one line each), for the CLI's summary."""

    def __post_init__(self) -> None:
        self.detector = Detector(evidence=StoreEvidence(self.store), settings=self.settings)

    # ---------------------------------------------------------------- subscribers
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every event (from worker threads). Returns an unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def events_queue(self) -> tuple[queue.Queue[Event], Callable[[], None]]:
        """A queue fed with every event, and its unsubscribe."""
        q: queue.Queue[Event] = queue.Queue()
        return q, self.subscribe(q.put)

    def _publish(self, events: Iterable[Event], snapshot: Snapshot | None = None) -> None:
        batch = list(events)
        # Recorded first, with the snapshot they were found in, in one transaction: an event is
        # never shown that a restart could lose, and never reported again after a crash.
        try:
            self.store.record_events(batch, snapshot)
        except StoreError as exc:
            self._problem(f"store: {exc}")
        if not batch:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for event in batch:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:
                    log.exception("an event subscriber failed")

    def _problem(self, text: str) -> None:
        log.warning("%s", text)
        with self._lock:
            self.errors.append(text)

    # ---------------------------------------------------------------- one device
    def _wanted(self, serial: str) -> bool:
        return self.serials is None or serial in self.serials

    def _collector(self, serial: str) -> Collector:
        return Collector(
            self.client.link(serial),
            labels=self.labels,
            fetch_labels=False,
            sweep_every=self.sweep_every,
        )

    def check(self, serial: str) -> list[Event]:
        """Read a device once and report what changed since the stored snapshot (``--once``).

        The first time a device is seen, its state becomes the baseline and nothing is
        reported. Raises the adb link's errors.
        """
        prev = self.store.load_snapshot(serial)
        cur = self._collector(serial).full()
        self.store.touch_device(serial, "device", cur.props)
        events: list[Event] = []
        if prev is None:
            self.store.save_snapshot(cur, baseline=True)
            self.detector.remember(cur)
        else:
            self.detector.remember(prev)
            events = self.detector.diff(prev, cur)
        self._publish(events, cur)
        return events

    def _watch_device(self, serial: str) -> None:
        """A worker: a full read (compared with the stored snapshot), then cycles."""
        try:
            self.check(serial)
            snap = self.store.load_snapshot(serial)
            collector = self._collector(serial)
            while snap is not None and not self._stop.wait(self.interval):
                cur = collector.cycle(snap)
                events = self.detector.diff(snap, cur)
                # More than the probe's round trip means something was re-read: persist it.
                moved = bool(events) or cur.cost.round_trips > 1 or cur.boot_id != snap.boot_id
                self._publish(events, cur if moved else None)
                snap = cur
        except AdbError as exc:
            if not self._stop.is_set():
                self._problem(f"{serial}: {exc}")
        except StoreError as exc:
            self._problem(f"{serial}: store: {exc}")
        except Exception:  # a bug must not take the other devices down with it
            log.exception("watching %s failed", serial)
            self._problem(f"{serial}: internal error (see the log)")
        finally:
            with self._lock:
                if self._workers.get(serial) is threading.current_thread():
                    del self._workers[serial]

    def _start_worker(self, serial: str) -> None:
        with self._lock:
            if serial in self._workers or self._stop.is_set():
                return
            worker = threading.Thread(
                target=self._watch_device, args=(serial,), name=f"watch:{serial}", daemon=True
            )
            self._workers[serial] = worker
        worker.start()

    # ---------------------------------------------------------------- the fleet
    def _device_event(self, change: DeviceEvent) -> Event:
        return Event(
            kind="device_state",
            serial=change.serial,
            ts=time.time(),
            consent=Consent.PLATFORM,
            severity=Severity.INFO if change.kind == "connected" else Severity.LOW,
            detail={"state": change.kind, "adb_state": change.state, "previous": change.previous},
        )

    def _track(self) -> None:
        tracker = self.client.track(poll_interval=max(1.0, self.interval))
        self._tracker = tracker
        known_online: set[str] = set()
        try:
            for change in tracker:
                if self._stop.is_set():
                    return
                if not self._wanted(change.serial):
                    continue
                state = change.state or "gone"
                with contextlib.suppress(StoreError):
                    self.store.touch_device(change.serial, state)
                if change.kind == "connected":
                    if change.previous is not None or change.serial in known_online:
                        self._publish([self._device_event(change)])
                    known_online.add(change.serial)
                    self._start_worker(change.serial)
                else:
                    self._publish([self._device_event(change)])
        except AdbError as exc:
            self._problem(f"device tracking stopped: {exc}")

    def start(self) -> None:
        """Start watching in background threads; returns at once."""
        self._stop.clear()
        try:  # retention (default 180 days; the regulation asks for 60)
            self.store.prune()
        except StoreError as exc:
            self._problem(f"store: {exc}")
        threading.Thread(target=self._track, name="watch:track", daemon=True).start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        tracker = self._tracker
        if tracker is not None:
            tracker.close()
        deadline = time.monotonic() + timeout
        for worker in list(self._workers.values()):
            worker.join(max(0.0, deadline - time.monotonic()))

    def once(self) -> list[Event]:
        """Check every wanted online device once, in parallel; device problems are recorded in
        :attr:`errors` and do not stop the others."""
        online = [i.serial for i in self.client.devices() if i.online and self._wanted(i.serial)]
        missing = [s for s in (self.serials or []) if s not in online]
        for serial in missing:
            self._problem(f"{serial}: not online")
        results: list[Event] = []
        threads = []
        lock = threading.Lock()

        def run(serial: str) -> None:
            try:
                found = self.check(serial)
            except AdbError as exc:
                self._problem(f"{serial}: {exc}")
                return
            with lock:
                results.extend(found)

        for serial in online:
            t = threading.Thread(target=run, args=(serial,), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        return results
