"""The engine: the one public face of tetherguard's core. The CLI (``watch``) and the TUI both
run it, so a feature works the same way in both.

It watches devices (per online device: a cycle worker, and with ``live`` a use worker and a
logcat stream, plus one hot-plug tracker for the fleet), turns each new snapshot into events
through :class:`~agent.detect.Detector`, and live probes into sensitive-use, autostart and
associated-start events (:mod:`agent.uses`, :mod:`agent.starts`); every event is recorded in the
:class:`~agent.store.Store` *before* it is handed to subscribers. Restart safety: a device's
first read is compared with the snapshot persisted by the previous run, and its log stream
resumes after the last start recorded (or from the boot, after a reboot), so what happened
while the engine was down is reported when it comes back.

Threads, not asyncio: adb calls block, and each device is independent. Nothing here imports
Textual.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Final

from agent.actions import Actions
from agent.adb import AdbClient, AdbError, DeviceEvent, DeviceTracker
from agent.collect import SWEEP_EVERY, Collector
from agent.detect import Detector, Settings
from agent.events import Consent, Event, Severity
from agent.hostwatch import ATTRIBUTED_KINDS, HostWatcher
from agent.labels import LabelCache
from agent.memory import TRIM_EVERY_S, give_back
from agent.snapshot import Snapshot
from agent.starts import StartTracker, StreamWorker, platform_packages, uid_packages
from agent.store import Store, StoreError
from agent.uses import UseMonitor, UseWorker

log = logging.getLogger(__name__)

HOST_WINDOW_S: Final = 10.0
"""At least this long before a change, a host program seen talking to adb may have made it."""
PRUNE_EVERY_S: Final = 86_400.0
"""How often a running engine drops what is older than the store's retention."""
STORE_RETRY_S: Final = 2.0
"""While the store cannot be written (a full disk, a long lock), how often it is tried again."""
HELD_MAX: Final = 500_000
"""Events held in memory while the store cannot be written (~1 KB each): past this, the oldest
go, each loss said in the log. Far more than days of a busy fleet."""
RECONNECT_TRIES: Final = 5
"""Tries (1 s, 2 s, ... apart) to ``adb connect`` a network phone again after a server restart."""
WORKER_AGAIN_S: Final = (2.0, 60.0)
"""A phone's watch that ended with an error while the phone stays online is started again
after the first delay, doubling up to the second while it keeps failing."""
_NETWORK_SERIAL: Final = re.compile(
    r"[A-Za-z0-9.\-]{1,253}:[0-9]{1,5}|\[[0-9A-Fa-f:.]{2,45}\]:[0-9]{1,5}"
)
"""A serial that is an ``adb connect`` address (host:port): only these are connected again,
and nothing else from the server's list reaches a request."""
DEFAULT_INTERVAL = 2.0
DEFAULT_USE_PERIOD = 0.5
"""Seconds between two live-use probes of a device (one small round trip each)."""
AUDIT_WINDOW = 600.0
"""Seconds during which a change matching a finished action of ours counts as ours."""


class EngineBusy(StoreError):
    """Another engine watches with the same store: two would report every change twice."""


class _Claim:
    """The store's watch lock (``<store>.watch.lock``, the holder's pid inside, 0600).

    One engine watches through a store at a time; ``flock`` is released by the kernel when the
    holder dies, so a crash never leaves a stale lock behind.
    """

    def __init__(self, store_path: Path) -> None:
        self.store_path = store_path
        self.path = store_path.with_name(store_path.name + ".watch.lock")
        self._fd: int | None = None

    def take(self) -> None:
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the watch lock {self.path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise EngineBusy(
                f"another tetherguard (pid {holder}) is already watching with the store at "
                f"{self.store_path}; two would report every change twice: use that "
                f"one, stop it, or give this one a store of its own (--store)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock


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
            if _expected(target.get("expects"), target.get("key"), kind, key):
                return True
        return False

    def accepted(
        self, serial: str, user: int | None, package: str | None, kind: str, key: str, value: str
    ) -> bool:
        return self.store.is_accepted(serial, user, package, kind, key, value)

    def flags_ours(self, serial: str, user: int, package: str, permission: str) -> bool:
        latest = None
        for record in self.store.audit(serial=serial):
            target = record.target if isinstance(record.target, dict) else {}
            if (
                record.action in ("revoke", "grant")
                and record.user == user
                and target.get("package") == package
                and target.get("permission") == permission
                and record.status in ("done", "undone")
            ):
                latest = record
        return latest is not None and latest.action == "revoke" and latest.status == "done"


def _expected(expects: object, default_key: object, kind: str, key: str) -> bool:
    """Whether an action's ``expects`` list names this change: items are a kind (with the
    row's ``key``, ``None`` for any) or a ``[kind, key]`` pair (key ``None``: any)."""
    if not isinstance(expects, list):
        return False
    for item in expects:
        if item == kind and default_key in (None, key):
            return True
        if isinstance(item, list) and len(item) == 2 and item[0] == kind and item[1] in (None, key):
            return True
    return False


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
    live: bool = True
    """Also watch sensitive use and app starts as they happen (``watch``; not ``--once``)."""
    use_period: float = DEFAULT_USE_PERIOD
    host: HostWatcher | None = None
    """Who on this computer talks to the adb server: attached to installs and permission
    changes as ``detail["host"]`` (``watch`` runs one; started and stopped with the engine)."""
    _subscribers: list[Subscriber] = field(default_factory=list)
    _workers: dict[str, threading.Thread] = field(default_factory=dict)
    _trackers: dict[str, StartTracker] = field(default_factory=dict)
    _monitors: dict[str, UseMonitor] = field(default_factory=dict)
    _actions: dict[tuple[str, str], Actions] = field(default_factory=dict)
    _lives: dict[str, _Live] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tracker: DeviceTracker | None = None
    detector: Detector = field(init=False)
    errors: list[str] = field(default_factory=list)
    """Device problems seen (one line each), for the CLI's summary."""
    _held: deque[tuple[list[Event], Snapshot | None]] = field(default_factory=deque)
    _held_events: int = 0
    _held_dropped: int = 0
    _store_lock: threading.Lock = field(default_factory=threading.Lock)
    _store_failing: str | None = None
    _online: set[str] = field(default_factory=set)
    """Phones the device tracker last saw online."""
    _failures: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Per phone: watches ended by an error in a row, and the last problem said."""

    def __post_init__(self) -> None:
        self.detector = Detector(evidence=StoreEvidence(self.store), settings=self.settings)
        self._claim = _Claim(self.store.path)

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
        batch = [self._with_host(e) for e in events]
        # Recorded first, with the snapshot they were found in, in one transaction: an event is
        # never shown that a restart could lose, and never reported again after a crash.
        added = self._record(batch, snapshot)
        if len(batch) == 1 and added == 0:
            return  # already stored: a log line read again after a restart
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

    def _record(self, batch: list[Event], snapshot: Snapshot | None) -> int | None:
        """Store a batch, or hold it (in order, after any batch already held) when the store
        cannot be written; ``None`` when held. Held batches are written first, as soon as the
        store takes writes again (:meth:`_retry_held` tries every few seconds meanwhile), so a
        full disk or a long lock delays the record but loses nothing."""
        with self._store_lock:
            if self._held and not self._write_held():
                self._hold(batch, snapshot)
                return None
            try:
                return self.store.record_events(batch, snapshot)
            except StoreError as exc:
                self._store_failed(exc)
                self._hold(batch, snapshot)
                return None

    def _hold(self, batch: list[Event], snapshot: Snapshot | None) -> None:
        if not batch and snapshot is None:
            return
        self._held.append((batch, snapshot))
        self._held_events += len(batch)
        while self._held_events > HELD_MAX and len(self._held) > 1:
            lost, _ = self._held.popleft()
            self._held_events -= len(lost)
            self._held_dropped += len(lost)
            for event in lost:
                log.error("store: memory for held events is full; lost %s", event.to_json())

    def _write_held(self) -> bool:
        """Write the held batches in order (the caller holds ``_store_lock``); whether all went."""
        written = 0
        while self._held:
            batch, snapshot = self._held[0]
            try:
                self.store.record_events(batch, snapshot)
            except StoreError as exc:
                self._store_failed(exc)
                return False
            self._held.popleft()
            self._held_events -= len(batch)
            written += len(batch)
        if self._store_failing is not None:
            self._store_failing = None
            dropped = f" ({self._held_dropped} lost: memory ran out)" if self._held_dropped else ""
            text = f"store: writable again; {written} held events written{dropped}"
            log.warning("%s", text)
            with self._lock:
                self.errors.append(text)
        return True

    def _store_failed(self, exc: StoreError) -> None:
        if str(exc) == self._store_failing:
            return  # said once; a line per failed batch would bury the rest
        self._store_failing = str(exc)
        self._problem(f"store: {exc}; new events are held in memory and written when it can be")

    @property
    def held(self) -> int:
        """Events waiting in memory for the store (a full disk, a long lock)."""
        return self._held_events

    def _retry_held(self) -> None:
        while not self._stop.wait(STORE_RETRY_S):
            if self._held:
                with self._store_lock:
                    self._write_held()

    def _give_back(self) -> None:
        """Freed memory back to the system every minute: see :mod:`agent.memory`."""
        while not self._stop.wait(TRIM_EVERY_S):
            give_back()

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
        return self._first_look(serial)[0]

    def _first_look(self, serial: str) -> tuple[list[Event], Snapshot]:
        """:meth:`check`, also giving the snapshot read (the store may be holding it back)."""
        prev = self.store.load_snapshot(serial)
        cur = self._collector(serial).full()
        try:
            self.store.touch_device(serial, "device", cur.props)
        except StoreError as exc:  # the device list's metadata: not worth stopping for
            self._store_failed(exc)
        events: list[Event] = []
        if prev is None:
            self.store.save_snapshot(cur, baseline=True)
            self.detector.remember(cur)
        else:
            self.detector.remember(prev)
            events = self.detector.diff(prev, cur)
        self._publish(events, cur)
        return events, cur

    def _watch_device(self, serial: str) -> None:
        """A worker: a full read (compared with the stored snapshot), then cycles; with
        ``live``, the device's use worker and log stream run beside it and end with it."""
        live: _Live | None = None
        started = time.monotonic()
        problem: str | None = None
        with self._lock:
            for key in [k for k in self._actions if k[0] == serial]:
                del self._actions[key]
        try:
            while True:
                try:
                    prev = self.store.load_snapshot(serial)
                    snap: Snapshot | None = self._first_look(serial)[1]
                    break
                except StoreError as exc:  # no baseline could be kept: try again shortly
                    self._store_failed(exc)
                    if self._stop.wait(STORE_RETRY_S):
                        return
            if snap is not None and self.live:
                live = self._start_live(serial, prev, snap)
            collector = self._collector(serial)
            while snap is not None and not self._stop.wait(self.interval):
                cur = collector.cycle(snap)
                events = self.detector.diff(snap, cur)
                # More than the probe's round trip means something was re-read: persist it.
                moved = bool(events) or cur.cost.round_trips > 1 or cur.boot_id != snap.boot_id
                self._publish(events, cur if moved else None)
                snap = cur
                if live is not None:
                    live.update(cur)
                    live.save_position()
        except AdbError as exc:
            if not self._stop.is_set():
                problem = f"{serial}: {exc}"
        except StoreError as exc:
            problem = f"{serial}: store: {exc}"
        except Exception:  # a bug must not take the other devices down with it
            log.exception("watching %s failed", serial)
            problem = f"{serial}: internal error (see the log)"
        finally:
            if live is not None:
                live.stop()
                with self._lock:
                    if self._lives.get(serial) is live:
                        del self._lives[serial]
            with self._lock:
                if self._workers.get(serial) is threading.current_thread():
                    del self._workers[serial]
            if problem is not None:
                self._ended(serial, problem, time.monotonic() - started)

    def _ended(self, serial: str, problem: str, ran_s: float) -> None:
        """A watch ended by an error. Said (once while each new try ends the same way: a
        phone that stays broken), and started again if the tracker still has the phone online
        (a busy phone's late answer, a server restarted under a command): the tracker says
        nothing new about a phone that never left, so nobody else would."""
        first, most = WORKER_AGAIN_S
        with self._lock:
            tries, said = self._failures.get(serial, (0, ""))
            if ran_s > most:  # it ran a while: a new trouble, not the old one going on
                tries, said = 0, ""
            tries += 1
            self._failures[serial] = (tries, problem)
        if problem == said:
            log.info("%s (again)", problem)
        else:
            self._problem(problem)
        delay = min(first * 2 ** (tries - 1), most)

        def again() -> None:
            with self._lock:
                online = serial in self._online
            if online and not self._stop.is_set():
                log.info("%s: watching again (try %d)", serial, tries + 1)
                self._start_worker(serial)

        timer = threading.Timer(delay, again)
        timer.name, timer.daemon = f"watch:again:{serial}", True
        timer.start()

    # ---------------------------------------------------------------- live watching
    def _start_live(self, serial: str, prev: Snapshot | None, snap: Snapshot) -> _Live:
        """Start the device's use worker and log stream (kept knowledge survives reconnects:
        start counts and the start graph per day, runs in progress)."""
        with self._lock:
            tracker = self._trackers.get(serial)
            if tracker is None:
                tracker = self._trackers[serial] = StartTracker(serial)
            monitor = self._monitors.get(serial)
            if monitor is None:
                monitor = self._monitors[serial] = UseMonitor(self.client.link(serial))
        live = _Live(self, serial, tracker, monitor, snap)
        live.update(snap)
        live.start(since_ms=self._resume_ms(serial, prev, snap))
        with self._lock:
            self._lives[serial] = live
        return live

    def live_ready(self, serial: str) -> bool:
        """Whether ``serial``'s live watch is on: its log stream is open and its use probe has
        answered once (what a status line shows; tests wait for it before acting)."""
        with self._lock:
            live = self._lives.get(serial)
        return live is not None and live.ready

    def _resume_ms(self, serial: str, prev: Snapshot | None, snap: Snapshot) -> int | None:
        """Where the log stream starts: where the last run stopped reading it, or at the boot
        when the phone rebooted since the stored snapshot; on the first look at a phone, from
        now (``None``): its past is the baseline, not news."""
        if prev is None:
            return None
        try:
            since = self.store.log_position(serial)
        except StoreError as exc:
            self._problem(f"{serial}: store: {exc}")
            since = None
        boot = boot_ms(snap)
        if boot is not None and prev.boot_id != snap.boot_id:
            since = max(since or 0, boot)
        return since

    def note_own_action(self, serial: str, package: str, seconds: float = 30.0) -> None:
        """tetherguard itself is about to start ``package`` on ``serial`` (an action, a label
        read): the starts this causes are ours, not an autostart."""
        with self._lock:
            tracker = self._trackers.get(serial)
            if tracker is None:
                tracker = self._trackers[serial] = StartTracker(serial)
        tracker.note_own_action(package, seconds)

    def actions(self, serial: str, actor: str) -> Actions:
        """Actions on ``serial`` on behalf of ``actor`` (``tui:alice``, ``policy:NAME``): audited
        in this engine's store, and the app starts they cause are not counted as the app's."""
        # Kept per phone and actor: an Actions asks the phone for its launcher once, and a
        # policy or the TUI acts many times. Dropped when the phone's worker starts again
        # (after a reconnect or a reboot the answers may differ).
        with self._lock:
            cached = self._actions.get((serial, actor))
        if cached is not None:
            return cached
        # The device record has the API level: no snapshot to decode for it.
        record = next((d for d in self.store.devices() if d.serial == serial), None)
        made = Actions(
            self.client.link(serial),
            self.store,
            actor=actor,
            sdk=record.sdk if record is not None and record.sdk is not None else 0,
            before_start=lambda package: self.note_own_action(serial, package),
        )
        with self._lock:
            return self._actions.setdefault((serial, actor), made)

    def start_counts(self, serial: str, day: str | None = None) -> dict[str, dict[str, int]]:
        """Starts per app on ``day`` (default today): package -> verdict -> count."""
        tracker = self._trackers.get(serial)
        return {} if tracker is None else tracker.counts(day)

    def start_graph(self, serial: str, day: str | None = None) -> list[tuple[str, str, int]]:
        """Who started whom on ``day`` (default today): (caller, callee, count), most first."""
        tracker = self._trackers.get(serial)
        return [] if tracker is None else tracker.graph(day)

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
        tracker = self.client.track(
            poll_interval=max(1.0, self.interval), on_server_back=self._server_back
        )
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
                with self._lock:
                    if change.kind == "connected":
                        self._online.add(change.serial)
                        self._failures.pop(change.serial, None)  # back: its troubles are news
                    else:
                        self._online.discard(change.serial)
                if change.kind == "connected":
                    if change.previous is not None or change.serial in known_online:
                        self._publish([self._device_event(change)])
                    known_online.add(change.serial)
                    self._start_worker(change.serial)
                else:
                    self._publish([self._device_event(change)])
        except AdbError as exc:
            self._problem(f"device tracking stopped: {exc}")

    def _server_back(self, went: frozenset[str]) -> None:
        """The adb server went away and one serves again (restarted by us, by the owner, or by
        another adb program): said, and the network phones it dropped are connected again
        (USB phones come back by themselves; a new server knows no ``adb connect`` of the old)."""
        network = sorted(s for s in went if _NETWORK_SERIAL.fullmatch(s) and self._wanted(s))
        who = self.client.server_binary
        self._problem(
            f"the adb server at {self.client.address} went away and is back"
            + (f" (last seen serving: {who})" if who else "")
            + (f"; connecting {len(network)} network phones again" if network else "")
        )
        if network:
            threading.Thread(
                target=self._reconnect, args=(network,), name="watch:reconnect", daemon=True
            ).start()

    def _reconnect(self, serials: list[str]) -> None:
        for attempt in range(RECONNECT_TRIES):
            left = []
            for serial in serials:
                try:
                    self.client.connect(serial)  # "already connected" is fine too
                except AdbError as exc:
                    log.info("%s: not connected again yet: %s", serial, exc)
                    left.append(serial)
            serials = left
            if not serials or self._stop.wait(1.0 + attempt):
                break
        for serial in serials:
            self._problem(f"{serial}: could not be connected again after the adb server restart")

    def _with_host(self, event: Event) -> Event:
        """The programs on this computer seen talking to adb just before the change (the
        change happened since the previous look, an interval or so ago)."""
        if (
            self.host is None
            or event.kind not in ATTRIBUTED_KINDS
            or event.consent is Consent.TETHERGUARD
        ):
            return event
        since = event.ts - max(HOST_WINDOW_S, 3 * self.interval)
        clients = self.host.attribute(event.serial, event.package, since, event.ts)
        if not clients:
            return event
        detail = {**event.detail, "host": [c.as_dict() for c in clients]}
        return replace(event, detail=MappingProxyType(detail))

    def _prune(self) -> None:
        """The retention (default 180 days; the regulation asks for 60): at start, then daily."""
        while True:
            try:
                self.store.prune()
            except StoreError as exc:
                self._problem(f"store: {exc}")
            if self._stop.wait(PRUNE_EVERY_S):
                return

    def start(self) -> None:
        """Start watching in background threads; returns at once.

        Raises:
            EngineBusy: another engine watches with this store.
        """
        self._claim.take()
        self._stop.clear()
        if self.host is not None:
            self.host.start()
        threading.Thread(target=self._prune, name="watch:prune", daemon=True).start()
        threading.Thread(target=self._retry_held, name="watch:held", daemon=True).start()
        threading.Thread(target=self._give_back, name="watch:memory", daemon=True).start()
        threading.Thread(target=self._track, name="watch:track", daemon=True).start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self.host is not None:
            self.host.stop()
        tracker = self._tracker
        if tracker is not None:
            tracker.close()
        deadline = time.monotonic() + timeout
        for worker in list(self._workers.values()):
            worker.join(max(0.0, deadline - time.monotonic()))
        self._last_write()
        self._claim.release()

    def _last_write(self) -> None:
        """On the way out: the held events get a last chance; what the store still refuses is
        said, and each event is written to the log in full (JSON) so nothing vanishes."""
        with self._store_lock:
            if not self._held or self._write_held():
                return
            left = list(self._held)
        self._problem(
            f"store: {self._held_events} events could not be written "
            f"({self._store_failing}); they are in the log as JSON lines"
        )
        for batch, _ in left:
            for event in batch:
                log.error("store: not written: %s", event.to_json())

    def once(self) -> list[Event]:
        """Check every wanted online device once, in parallel; device problems are recorded in
        :attr:`errors` and do not stop the others.

        Raises:
            EngineBusy: another engine watches with this store.
        """
        held = self._claim._fd is not None
        self._claim.take()
        try:
            return self._once()
        finally:
            if not held:
                self._claim.release()

    def _once(self) -> list[Event]:
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
            except StoreError as exc:
                self._problem(f"{serial}: store: {exc}")
                return
            with lock:
                results.extend(found)

        for serial in online:
            t = threading.Thread(target=run, args=(serial,), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        self._last_write()
        return results


def boot_ms(snapshot: Snapshot) -> int | None:
    """When the phone booted (epoch ms, device clock): ``ro.runtime.firstboot``."""
    text = snapshot.boot_id or ""
    return int(text) if text.isdigit() and 0 < len(text) <= 16 else None


class _Live:
    """One device's live watchers: a :class:`UseWorker` and a :class:`StreamWorker`.

    A use worker that ends on a device error is started again at the next cycle (the cycle
    worker ends the whole watch when the device is really gone); the stream reconnects by
    itself. Their events go through :meth:`Engine._publish` like every other.
    """

    def __init__(
        self,
        engine: Engine,
        serial: str,
        tracker: StartTracker,
        monitor: UseMonitor,
        snapshot: Snapshot,
    ) -> None:
        self.engine = engine
        self.serial = serial
        self.tracker = tracker
        self.monitor = monitor
        self.snapshot = snapshot
        self.uses: UseWorker | None = None
        self.stream: StreamWorker | None = None
        self._reported: str | None = None
        self._known: tuple[object, ...] | None = None
        self._saved_ms: int | None = None

    def _publish(self, event: Event) -> None:
        self.engine._publish([event])

    def _use_failed(self, exc: BaseException) -> None:
        text = f"{self.serial}: live use watch: {exc}"
        if text != self._reported and not self.engine._stop.is_set():
            self._reported = text
            log.info("%s", text)

    def _new_use_worker(self) -> UseWorker:
        return UseWorker(
            self.monitor,
            self._publish,
            period=self.engine.use_period,
            snapshots=lambda: self.snapshot,
            on_error=self._use_failed,
        )

    def start(self, since_ms: int | None) -> None:
        self.uses = self._new_use_worker().start()
        link = self.engine.client.link(self.serial)
        self.stream = StreamWorker(link, self.tracker, self._publish, since_ms=since_ms).start()

    def update(self, snapshot: Snapshot) -> None:
        """A new snapshot: what the start tracker knows, and the use worker kept alive."""
        self.snapshot = snapshot
        # Cycles reuse the package dump object until something is re-read: rebuild the uid
        # map only then (a few hundred packages, every cycle, times fifty phones adds up).
        known = (snapshot.packages, snapshot.users, snapshot.boot_id)
        if self._known is None or any(a is not b for a, b in zip(known, self._known, strict=True)):
            self._known = known
            users = [u.id for u in snapshot.users] or [0]
            packages = snapshot.packages.packages
            self.tracker.update(
                uid_packages=uid_packages(packages, users),
                platform=platform_packages(packages),
                boot_ms=boot_ms(snapshot),
            )
        if self.uses is not None and not self.uses.alive and not self.engine._stop.is_set():
            self.uses = self._new_use_worker().start()

    def save_position(self) -> None:
        """Persist how far the log was read (a restart resumes there)."""
        stream = self.stream
        at = stream.position_ms if stream is not None else None
        if at is None or at == self._saved_ms:
            return
        try:
            self.engine.store.set_log_position(self.serial, at)
        except StoreError as exc:
            self.engine._store_failed(exc)
            return
        self._saved_ms = at

    @property
    def ready(self) -> bool:
        stream, uses = self.stream, self.uses
        return (
            stream is not None
            and stream.connected.is_set()
            and uses is not None
            and uses.alive
            and self.monitor.cost.ticks > 0
        )

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.save_position()
        if self.uses is not None:
            self.uses.stop()
