"""Autostart and associated start ("chain wake-up", MIIT I.6), live from the phone's logcat.

Owns turning process and activity starts into ``autostart`` / ``associated_start`` events, and
keeping what the TUI and reports show about them: starts per app per day and a start graph
(which app woke which). Two parts, kept apart so the rules can be tested without a phone:

* :class:`StartTracker` (no I/O): fed the records of :mod:`agent.parsers.eventlog`, plus what a
  snapshot knows (uid -> packages, platform packages, home apps, boot time), it decides who
  caused each start (``android-packages-installs.md`` §4.2):

  - ``START u0 {...} from uid N``: the caller of an activity start. The launcher (``MAIN`` +
    ``LAUNCHER`` + icon bounds, or a home app's uid) is the user; uid 2000 is the shell (our
    own ``am start``); a platform uid (< 10000) or platform package is the platform; the app
    itself is a self start; any other app is an **associated start** (``reason: activity``).
    A PendingIntent sent by the platform or launcher on the user's behalf
    (``realCallingUid=``) is the user's start.
  - ``am_proc_start`` / ``Start proc`` of type ``broadcast``, ``service``, ``content provider``
    or ``restart``: nobody on screen asked for it. For ``service`` the tracker asks its lookup
    (``dumpsys activity services PKG``: ``recentCallingPackage=``, the binding clients) who
    started or bound it: another app makes it an **associated start** naming the caller, the
    shell makes it ours, the app itself a self start; no app caller makes it an **autostart**.
    ``broadcast`` (and ``content provider``, ``restart``) starts are autostarts; within
    :data:`BOOT_WINDOW_S` of a boot they are flagged ``at_boot`` (BOOT_COMPLETED receivers).
  - activity-type starts (``activity``, ``top-activity`` ...) take the verdict of the START line
    just before them; ``backup``, ``added application``, ``system`` and processes of platform
    uids or packages are the platform's; starts tetherguard announced with
    :meth:`StartTracker.note_own_action` are ours. None of these is a finding.

  Severity: an associated start in the background (service, provider, broadcast) is ``high``,
  one that shows an activity ``medium``; an autostart at boot ``medium``, later ``low``. Consent
  is always ``none`` (nothing on the phone records the owner agreeing to it).

* :class:`StreamWorker`: one thread per device running ``logcat -b events -b system -v epoch
  -v uid -T ...`` (all accepted from API 26, doc §2.4), feeding the tracker and publishing its
  events through a callback. When the stream drops (unplug, reboot, adb restart) it reconnects
  with backoff and resumes with ``-T <epoch of the last line>``, skipping the lines it already
  had; it runs until :meth:`StreamWorker.stop` is called, from any thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from agent.adb import AdbError, DeviceLink, InvalidArgument, Package, ShellStream
from agent.events import Consent, Event, Severity
from agent.model import (
    PER_USER_RANGE,
    ActivityStart,
    BootMarker,
    LogRecord,
    PackageInfo,
    ProcessStart,
    ServiceRecordInfo,
    app_id_of,
)
from agent.parsers.eventlog import CLOCK_STEP_BACK_MS, EventLogReader, split_line
from agent.parsers.services import parse_service_records

__all__ = [
    "BOOT_WINDOW_S",
    "CLAUSE",
    "LOGCAT_ARGV",
    "ServiceLookup",
    "StartTracker",
    "StreamWorker",
    "platform_packages",
    "uid_packages",
]

log = logging.getLogger(__name__)

CLAUSE: Final = "MIIT I.6"
BOOT_WINDOW_S: Final = 300.0
"""Starts this long after a boot are boot autostarts (BOOT_COMPLETED fires within it)."""
ACTIVITY_LINK_S: Final = 10.0
"""A process started for an activity follows its START line within this."""
OWN_ACTION_S: Final = 30.0
SHELL_UID: Final = 2000
SHELL_PACKAGE: Final = "com.android.shell"
FIRST_APP_ID: Final = 10_000
LOGCAT_ARGV: Final = ("logcat", "-b", "events", "-b", "system", "-v", "epoch", "-v", "uid")
"""The stream's command, before ``-T``."""
_DAYS_KEPT: Final = 8
_EDGE_LINES: Final = 64
_JUMP_LINES: Final = 512
"""Newest lines read to find where the clock went back (see ``StreamWorker._check_clock``)."""
_RECORDS_KEPT: Final = 4096
"""Lines with a record remembered per phone (~100 bytes each) to recognise them again."""
CLOCK_JUMP_MS: Final = CLOCK_STEP_BACK_MS
"""A step back of more than this between two log lines, or from where the log was read, is
the phone's clock going back (lines of two buffers interleave a few ms out of order)."""
"""Lines read to find where the log ends before a first stream (all of its newest instant)."""
_EVENT_NS: Final = uuid.uuid5(uuid.NAMESPACE_URL, "tetherguard:start-event")
_RECENT_ACTIVITIES: Final = 256

_ACTIVITY_TYPES: Final = frozenset(
    {
        "activity",
        "top-activity",
        "next-activity",
        "next-top-activity",
        "pre-top-activity",  # OEM (doc §4.1)
        "activelaunch",  # Samsung
    }
)
_SERVICE_TYPES: Final = frozenset({"service", "fg-service", "foreground-service"})
_WAKE_TYPES: Final = frozenset({"broadcast", "content provider", "restart"}) | _SERVICE_TYPES

ServiceLookup = Callable[[ProcessStart], Sequence[ServiceRecordInfo] | None]
"""Who started or bound the services of a start's package (``dumpsys activity services PKG``,
parsed); ``None`` when it could not be read."""

Verdict = Literal[
    "user", "shell", "platform", "self", "tetherguard", "app", "autostart", "unknown", "other"
]


@dataclass(frozen=True)
class _Caller:
    uid: int | None
    package: str | None
    via: str


def uid_packages(
    packages: Iterable[PackageInfo], users: Iterable[int] = (0,)
) -> dict[int, frozenset[str]]:
    """uid -> packages for each user, from a package dump (for :class:`StartTracker`)."""
    out: dict[int, set[str]] = {}
    user_ids = list(users) or [0]
    for pkg in packages:
        if pkg.uid is None:
            continue
        for user in user_ids:
            out.setdefault(user * PER_USER_RANGE + app_id_of(pkg.uid), set()).add(pkg.name)
    return {uid: frozenset(names) for uid, names in out.items()}


def platform_packages(packages: Iterable[PackageInfo]) -> frozenset[str]:
    """Packages of the system image (whose starts are the platform's, not findings)."""
    return frozenset(p.name for p in packages if p.system)


def _day(seconds: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(seconds))


class StartTracker:
    """Per-device start classifier; see the module docstring for the rules.

    ``feed`` is meant for one thread (the stream's); ``counts``, ``graph`` and ``update`` may be
    called from any thread.

    Args:
        serial: the device, for the events.
        uid_packages: uid -> package names (see :func:`uid_packages`); a uid missing here is
            looked up by app id, and a start of an unknown uid is named by its component.
        platform: packages of the system image; their starts are never findings.
        launchers: home apps; an activity they start is the user's.
        boot_ms: when the phone booted (epoch ms), if known; boot markers in the log update it.
        lookup: who started a service (see :data:`ServiceLookup`); without one a service start
            has no known caller and is an autostart.
        clock: host wall clock (event times, own-action windows, days when a line has no time).
    """

    def __init__(
        self,
        serial: str,
        *,
        uid_packages: Mapping[int, Collection[str]] | None = None,
        platform: Collection[str] = (),
        launchers: Collection[str] = (),
        boot_ms: int | None = None,
        lookup: ServiceLookup | None = None,
        clock: Callable[[], float] = time.time,
        boot_window_s: float = BOOT_WINDOW_S,
    ) -> None:
        self.serial = serial
        self.lookup = lookup
        self.boot_ms = boot_ms
        self.boot_window_s = boot_window_s
        self._clock = clock
        self.last_was_record = False
        """Whether the last line fed carried a record (a start, a boot)."""
        self._lock = threading.Lock()
        self._uids: dict[int, frozenset[str]] = {}
        self._app_ids: dict[int, frozenset[str]] = {}
        self._app_id_of_package: dict[str, int] = {}
        self._platform: frozenset[str] = frozenset()
        self._launchers: frozenset[str] = frozenset()
        self.update(uid_packages=uid_packages or {}, platform=platform, launchers=launchers)
        self._own: dict[str, float] = {}
        self._activities: OrderedDict[tuple[int, str], tuple[float, Verdict]] = OrderedDict()
        self._counts: dict[str, dict[str, Counter[str]]] = {}
        self._edges: dict[str, Counter[tuple[str, str]]] = {}
        self.reader = EventLogReader()
        """Reads lines for :meth:`feed_line`; its ``counts`` say what the stream held."""

    # ---------------------------------------------------------------- knowledge
    def update(
        self,
        *,
        uid_packages: Mapping[int, Collection[str]] | None = None,
        platform: Collection[str] | None = None,
        launchers: Collection[str] | None = None,
        boot_ms: int | None = None,
    ) -> None:
        """Refresh what the tracker knows (after each snapshot); ``None`` keeps the old value."""
        with self._lock:
            if uid_packages is not None:
                self._uids = {uid: frozenset(names) for uid, names in uid_packages.items()}
                self._app_ids = {}
                self._app_id_of_package = {}
                for uid, names in self._uids.items():
                    self._app_ids.setdefault(app_id_of(uid), names)
                    for name in names:
                        self._app_id_of_package.setdefault(name, app_id_of(uid))
            if platform is not None:
                self._platform = frozenset(platform)
            if launchers is not None:
                self._launchers = frozenset(launchers)
            if boot_ms is not None:
                self.boot_ms = boot_ms

    def note_own_action(self, package: str, seconds: float = OWN_ACTION_S) -> None:
        """tetherguard is about to start ``package`` itself (an action, a label read ...): its
        starts in the next ``seconds`` are ours, not the app's."""
        with self._lock:
            self._own[package] = self._clock() + seconds

    def _packages_of(self, uid: int | None) -> frozenset[str]:
        if uid is None:
            return frozenset()
        return self._uids.get(uid) or self._app_ids.get(app_id_of(uid), frozenset())

    def _same_app(self, uid: int | None, package: str) -> bool:
        if uid is None:
            return False
        if package in self._packages_of(uid):
            return True
        known = self._app_id_of_package.get(package)
        return known is not None and known == app_id_of(uid)

    def _kind_of_caller(self, uid: int | None, package: str | None = None) -> Verdict:
        if uid is None and package is None:
            return "unknown"
        names = self._packages_of(uid) | ({package} if package else set())
        if (uid is not None and app_id_of(uid) == SHELL_UID) or SHELL_PACKAGE in names:
            return "shell"
        if names & self._launchers:
            return "user"
        if uid is not None and app_id_of(uid) < FIRST_APP_ID:
            return "platform"
        if names & self._platform:
            return "platform"
        return "app"

    # ---------------------------------------------------------------- records
    def feed_line(self, line: str) -> list[Event]:
        """Read one logcat line and classify what it carries."""
        record = self.reader.feed(line)
        self.last_was_record = record is not None
        return [] if record is None else self.feed(record)

    def feed_lines(self, lines: Iterable[str]) -> list[Event]:
        return [event for line in lines for event in self.feed_line(line)]

    def feed(self, record: LogRecord) -> list[Event]:
        """Classify one record; the events it makes (often none)."""
        with self._lock:
            if isinstance(record, BootMarker):
                self._on_boot(record)
                return []
            if isinstance(record, ActivityStart):
                return self._on_activity(record)
            if isinstance(record, ProcessStart):
                return self._on_process(record)
            return []

    def _on_boot(self, rec: BootMarker) -> None:
        if rec.stage != "start" and self.boot_ms is not None:
            return
        if rec.time_ms is not None:
            self.boot_ms = rec.time_ms - (rec.uptime_ms or 0)
        else:
            self.boot_ms = int(self._clock() * 1000)
        if rec.stage == "start":
            self._activities.clear()

    def _on_activity(self, rec: ActivityStart) -> list[Event]:
        package = rec.package
        if not package or (rec.result is not None and (rec.result < 0 or rec.result == 102)):
            return []  # nothing resolved, or not started (an error, or START_ABORTED)
        if rec.from_launcher:
            verdict: Verdict = "user"
        else:
            verdict = self._kind_of_caller(rec.caller_uid, rec.caller_package)
            if verdict == "app" and self._same_app(rec.caller_uid, package):
                verdict = "self"
            if verdict == "app" and rec.real_caller_uid is not None:
                # A PendingIntent the app made, sent by the platform or launcher on the user's
                # behalf (a notification tap): the user's start.
                real = self._kind_of_caller(rec.real_caller_uid)
                if real in ("user", "platform", "shell"):
                    verdict = "user" if real != "shell" else "shell"
        now = self._clock()
        self._remember_activity(rec.user, package, now, verdict)
        day = _day(rec.time_ms / 1000 if rec.time_ms is not None else now)
        if self._is_own(package, now):
            verdict = "tetherguard"
        if verdict != "app" or package in self._platform:
            self._count(day, package, verdict if verdict != "app" else "platform")
            return []
        callers = sorted(self._packages_of(rec.caller_uid))
        caller = rec.caller_package or (callers[0] if callers else None)
        n = self._count(day, package, "associated_start")
        edge = self._edge(day, caller or f"uid:{rec.caller_uid}", package)
        return [
            self._event(
                "associated_start",
                package,
                rec.user,
                Severity.MEDIUM,
                reason="activity",
                hosting_type="activity",
                component=rec.component,
                caller=caller,
                caller_uid=rec.caller_uid,
                callers=callers,
                via="START",
                action=rec.action,
                bal=rec.bal,
                count_today=n,
                edge_count_today=edge,
                time_ms=rec.time_ms,
            )
        ]

    def _remember_activity(self, user: int, package: str, now: float, verdict: Verdict) -> None:
        key = (user, package)
        self._activities[key] = (now, verdict)
        self._activities.move_to_end(key)
        while len(self._activities) > _RECENT_ACTIVITIES:
            self._activities.popitem(last=False)

    def _is_own(self, package: str, now: float) -> bool:
        until = self._own.get(package)
        if until is None:
            return False
        if until < now:
            del self._own[package]
            return False
        return True

    def _on_process(self, rec: ProcessStart) -> list[Event]:
        now = self._clock()
        day = _day(rec.time_ms / 1000 if rec.time_ms is not None else now)
        names = self._packages_of(rec.uid)
        package = rec.package if (not names or rec.package in names) else sorted(names)[0]
        user = (
            rec.user
            if rec.user is not None
            else (0 if rec.uid is None else rec.uid // PER_USER_RANGE)
        )
        htype = rec.hosting_type
        if rec.uid is not None and (
            app_id_of(rec.uid) < FIRST_APP_ID or 99_000 <= app_id_of(rec.uid) <= 99_999
        ):
            # Platform uids; isolated processes (sandboxes an app spawns for itself).
            self._count(day, package, "platform")
            return []
        if self._is_own(package, now):
            self._count(day, package, "tetherguard")
            return []
        if htype in _ACTIVITY_TYPES:
            # The START line just before it was judged (and counted) already.
            seen = self._activities.get((user, package))
            if seen is None or now - seen[0] > ACTIVITY_LINK_S:
                self._count(day, package, "unknown")
            return []
        if htype not in _WAKE_TYPES:
            self._count(day, package, "other")
            return []
        if package in self._platform:
            self._count(day, package, "platform")
            return []
        caller: _Caller | None = None
        if htype in _SERVICE_TYPES:
            verdict, caller = self._service_caller(rec, package)
            if verdict != "autostart":
                if verdict != "app":
                    self._count(day, package, verdict)
                    return []
                assert caller is not None
                return [self._associated(rec, package, user, day, caller)]
        return [self._autostart(rec, package, user, day)]

    def _service_caller(self, rec: ProcessStart, package: str) -> tuple[Verdict, _Caller | None]:
        """Who started or bound the service: shell, self, another app, or no app (autostart)."""
        if self.lookup is None:
            return "autostart", None
        self._lock.release()  # the lookup runs a command: do not block readers meanwhile
        try:
            records = self.lookup(rec)
        except Exception:
            log.exception("%s: service caller lookup failed", self.serial)
            records = None
        finally:
            self._lock.acquire()
        if not records:
            return "autostart", None
        mine = [r for r in records if rec.component and r.component == rec.component]
        mine = mine or [r for r in records if r.pid == rec.pid]
        mine = mine or [r for r in records if r.package == package]
        callers: list[_Caller] = []
        for r in mine:
            if r.recent_caller_uid is not None or r.recent_caller_package:
                callers.append(
                    _Caller(r.recent_caller_uid, r.recent_caller_package, "recentCallingPackage")
                )
            callers += [_Caller(c.uid, c.process.split(":", 1)[0], "binding") for c in r.clients]
        verdicts = []
        for c in callers:
            kind = self._kind_of_caller(c.uid, c.package)
            if kind == "app" and (
                self._same_app(c.uid, package) or (c.package is not None and c.package == package)
            ):
                kind = "self"
            verdicts.append((kind, c))
        for wanted in ("shell", "app", "self"):
            for kind, c in verdicts:
                if kind == wanted:
                    return kind, c
        return "autostart", None

    def _associated(
        self, rec: ProcessStart, package: str, user: int, day: str, caller: _Caller
    ) -> Event:
        names = sorted(self._packages_of(caller.uid))
        name = caller.package if caller.package in names or not names else names[0]
        n = self._count(day, package, "associated_start")
        edge = self._edge(day, name or f"uid:{caller.uid}", package)
        return self._event(
            "associated_start",
            package,
            user,
            Severity.HIGH,
            reason=_reason(rec.hosting_type),
            hosting_type=rec.hosting_type,
            component=rec.component,
            process=rec.process,
            pid=rec.pid,
            uid=rec.uid,
            caller=name,
            caller_uid=caller.uid,
            callers=names,
            via=caller.via,
            count_today=n,
            edge_count_today=edge,
            time_ms=rec.time_ms,
        )

    def _autostart(self, rec: ProcessStart, package: str, user: int, day: str) -> Event:
        since = None
        if self.boot_ms is not None and rec.time_ms is not None:
            since = (rec.time_ms - self.boot_ms) / 1000
        at_boot = since is not None and 0 <= since <= self.boot_window_s
        n = self._count(day, package, "autostart")
        return self._event(
            "autostart",
            package,
            user,
            Severity.MEDIUM if at_boot else Severity.LOW,
            reason=_reason(rec.hosting_type),
            hosting_type=rec.hosting_type,
            component=rec.component,
            process=rec.process,
            pid=rec.pid,
            uid=rec.uid,
            caller=None,
            at_boot=at_boot,
            since_boot_s=None if since is None else round(since, 3),
            count_today=n,
            time_ms=rec.time_ms,
        )

    def _event(
        self, kind: str, package: str, user: int, severity: Severity, **detail: Any
    ) -> Event:
        extra: dict[str, Any] = {}
        if detail.get("time_ms") is not None:
            # One log line, one event: read again after a restart, it has the same id, and the
            # store keeps the first (a resumed stream re-reads the last instant it saw).
            seed = f"{self.serial}|{kind}|{package}|{user}|{detail['time_ms']}|{detail.get('pid')}"
            extra["id"] = uuid.uuid5(_EVENT_NS, seed).hex
        return Event(
            **extra,
            kind=kind,
            serial=self.serial,
            ts=self._clock(),
            consent=Consent.NONE,
            severity=severity,
            user=user,
            package=package,
            clause=CLAUSE,
            detail=MappingProxyType(detail),
        )

    # ---------------------------------------------------------------- counts and graph
    def _count(self, day: str, package: str, verdict: str) -> int:
        per_day = self._counts.get(day)
        if per_day is None:
            per_day = self._counts[day] = {}
            for old in sorted(self._counts)[:-_DAYS_KEPT]:
                del self._counts[old]
        counter = per_day.setdefault(package, Counter())
        counter[verdict] += 1
        return counter[verdict]

    def _edge(self, day: str, caller: str, callee: str) -> int:
        edges = self._edges.get(day)
        if edges is None:
            edges = self._edges[day] = Counter()
            for old in sorted(self._edges)[:-_DAYS_KEPT]:
                del self._edges[old]
        edges[(caller, callee)] += 1
        return edges[(caller, callee)]

    def counts(self, day: str | None = None) -> dict[str, dict[str, int]]:
        """Starts of ``day`` (``YYYY-MM-DD``, host local time; default today) per package, by
        verdict: ``autostart``, ``associated_start``, ``user``, ``shell``, ``self``,
        ``platform``, ``tetherguard``, ``unknown``, ``other``."""
        with self._lock:
            wanted = day or _day(self._clock())
            return {pkg: dict(c) for pkg, c in self._counts.get(wanted, {}).items()}

    def graph(self, day: str | None = None) -> list[tuple[str, str, int]]:
        """(caller, callee, count) of associated starts, most frequent first; all kept days
        (the last eight) unless ``day`` is given."""
        with self._lock:
            total: Counter[tuple[str, str]] = Counter()
            for d, edges in self._edges.items():
                if day is None or d == day:
                    total.update(edges)
        return sorted(((a, b, n) for (a, b), n in total.items()), key=lambda e: (-e[2], e[0], e[1]))


def _reason(hosting_type: str) -> str:
    return "service" if hosting_type in _SERVICE_TYPES else hosting_type


# ------------------------------------------------------------------------------ the stream
def _logcat_time(ms: int) -> str:
    """``-T`` in logcat's ``sssss.mmm`` form."""
    return f"{ms // 1000}.{ms % 1000:03d}"


class StreamWorker:
    """Streams one device's event and system logs into a :class:`StartTracker`.

    Args:
        link: the device.
        tracker: its tracker; the worker gives it a service lookup through ``link`` unless the
            tracker already has one (pass ``lookup_services=False`` to leave it without).
        publish: called with each event, on the worker's thread; exceptions are logged.
        since_ms: on the first connection, read from this device time (epoch ms): a guard
            started right after a boot sees the boot's starts, one restarted sees what happened
            while it was down. Without it the stream starts after the newest line logged
            before the worker started.
        backoff: first and longest wait between reconnection attempts (seconds).
    """

    def __init__(
        self,
        link: DeviceLink,
        tracker: StartTracker,
        publish: Callable[[Event], None],
        *,
        since_ms: int | None = None,
        backoff: tuple[float, float] = (0.5, 15.0),
        lookup_services: bool = True,
        resume_margin_s: float = 5.0,
    ) -> None:
        self.link = link
        self.tracker = tracker
        self.publish = publish
        self._since_ms = since_ms
        self._backoff = backoff
        self._resume_margin_ms = int(resume_margin_s * 1000)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stream: ShellStream | None = None
        self._thread: threading.Thread | None = None
        self._first_connect_ms: int | None = None
        self._edge_ms: int | None = None
        self._edge_lines: set[str] = set()
        self._read_records: deque[int] = deque(maxlen=_RECORDS_KEPT)
        self._read_set: set[int] = set()
        self._jump_from_ms: int | None = None
        self.clock_jumps = 0
        """Times the phone's clock was found to have gone back while the stream was away."""
        self.connections = 0
        """Streams opened so far (1 + reconnections)."""
        self.connected = threading.Event()
        """Set while a stream is open."""
        if lookup_services and tracker.lookup is None:
            tracker.lookup = self.services_of

    # ---------------------------------------------------------------- control
    def start(self) -> StreamWorker:
        """Run in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.run, name=f"starts-{self.link.serial}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop streaming; safe from any thread, any number of times."""
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> StreamWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- the loop
    def argv(self) -> list[str]:
        """The logcat command for the next connection."""
        resume = self._edge_ms
        if resume is None and self.connections == 0:
            resume = self._since_ms
        elif resume is None:
            # Reconnected before any line with a time: from our first connection, roughly.
            resume = self._first_connect_ms
        if self._jump_from_ms is not None:
            resume = self._jump_from_ms
        tail = "1" if resume is None else _logcat_time(resume)
        return [*LOGCAT_ARGV, "-T", tail]

    def _check_clock(self, resume_ms: int) -> None:
        """Before resuming at a device time: has the phone's clock gone back since?

        ``-T <time>`` starts at the first line logged at or after that time, so after the clock
        went back (set by hand, or by the network) every line logged since would be skipped,
        or dropped here as already read. The newest lines tell: when they are older than the
        resume point, the stream resumes at the first line after the step back (the oldest
        line read, if the step is further back), and lines already read are recognised by
        their content instead of their time.
        """
        self._jump_from_ms = None
        try:
            out = self.link.shell([*LOGCAT_ARGV, "-t", str(_JUMP_LINES)], timeout=10.0)
        except AdbError as exc:
            log.debug("%s: logcat unavailable: %s", self.link.serial, exc)
            return
        times = [
            e.time_ms
            for line in out.stdout.splitlines()
            if (e := split_line(line)) is not None and e.time_ms is not None
        ]
        if not times or times[-1] >= resume_ms - CLOCK_JUMP_MS:
            return
        start = times[0]
        for before, after in itertools.pairwise(times):
            if after < before - CLOCK_JUMP_MS:
                start = after  # the last step back in the window
        self._jump_from_ms = min(start, resume_ms)
        self.clock_jumps += 1
        log.warning(
            "%s: the phone's clock went back %.0f s; reading its log from %s",
            self.link.serial,
            (resume_ms - times[-1]) / 1000,
            _logcat_time(self._jump_from_ms),
        )

    def run(self) -> None:
        """Stream until stopped (blocking; :meth:`start` runs this in a thread)."""
        wait = self._backoff[0]
        while not self._stop.is_set():
            got_lines = self._connect_once()
            if self._stop.is_set():
                break
            wait = self._backoff[0] if got_lines else min(wait * 2, self._backoff[1])
            self._stop.wait(wait)

    def _find_edge(self) -> bool:
        """Before the first stream with no start time: where the phone's log ends now.

        ``-T 1`` would print the newest line already logged - history the guard did not see
        happen - and nothing tells it apart from a new line when the log was empty. So the
        newest lines are read first (``-t``) and the newest instant becomes the edge the
        stream resumes after; an empty log means every line to come is new.
        """
        try:
            out = self.link.shell([*LOGCAT_ARGV, "-t", str(_EDGE_LINES)], timeout=10.0)
        except AdbError as exc:
            log.debug("%s: logcat unavailable: %s", self.link.serial, exc)
            return False
        timed = [
            (e.time_ms, line)
            for line in out.stdout.splitlines()
            if (e := split_line(line)) is not None and e.time_ms is not None
        ]
        if timed:
            # Every line of the newest instant (one start writes a line to each buffer).
            newest = max(ms for ms, _ in timed)
            self._edge_ms = newest
            self._edge_lines = {line for ms, line in timed if ms == newest}
            return True
        if out.exit_code not in (None, 0):
            log.debug("%s: logcat -t exited %s", self.link.serial, out.exit_code)
            return False
        self._since_ms = 1  # nothing logged yet: all of it is news
        return True

    def _connect_once(self) -> bool:
        first = self.connections == 0 and self._since_ms is None and self._edge_ms is None
        if first and not self._find_edge():
            return False
        resume = self._edge_ms if self._edge_ms is not None else self._since_ms
        if not first and resume is not None and resume > 1:
            self._check_clock(resume)
        argv = self.argv()
        try:
            stream = self.link.stream(argv)
        except AdbError as exc:
            log.debug("%s: logcat stream unavailable: %s", self.link.serial, exc)
            return False
        with self._lock:
            self._stream = stream
        if self._stop.is_set():
            stream.close()
            return False
        if self._first_connect_ms is None:
            self._first_connect_ms = int(time.time() * 1000) - self._resume_margin_ms
        self.connections += 1
        self.connected.set()
        replay = self._edge_ms
        by_content = self._jump_from_ms is not None
        got = False
        try:
            for line in stream:
                got = True
                if by_content:
                    if hash(line) in self._read_set:
                        continue
                elif replay is not None and self._already_had(line, replay):
                    continue
                replay = None
                self._line(line)
        except AdbError as exc:
            log.info("%s: logcat stream ended: %s", self.link.serial, exc)
        except Exception:
            log.exception("%s: logcat stream failed", self.link.serial)
        finally:
            self.connected.clear()
            with self._lock:
                self._stream = None
            stream.close()
        if not got and stream.exit_code not in (None, 0):
            log.warning(
                "%s: '%s' exited %s: %s",
                self.link.serial,
                " ".join(argv),
                stream.exit_code,
                bytes(stream.stderr).decode("utf-8", "replace").strip()[:200],
            )
        return got

    def _already_had(self, line: str, resume_ms: int) -> bool:
        """After ``-T <time>``: the lines at that very time were read before the drop."""
        entry = split_line(line)
        if entry is None or entry.time_ms is None:
            return line.startswith("--------- ")
        if entry.time_ms < resume_ms:
            return True
        return entry.time_ms == resume_ms and line in self._edge_lines

    @property
    def position_ms(self) -> int | None:
        """Device time of the newest log line read (where a new stream would resume)."""
        return self._edge_ms

    def _line(self, line: str) -> None:
        events = self.tracker.feed_line(line)
        if self.tracker.last_was_record:
            # Kept to recognise a start read again after the clock went back (see
            # _check_clock); only the lines that carry a record, so memory stays small.
            if len(self._read_records) == self._read_records.maxlen:
                self._read_set.discard(self._read_records[0])
            key = hash(line)
            self._read_records.append(key)
            self._read_set.add(key)
        newest = self.tracker.reader.last_time_ms
        if newest is not None:
            if newest != self._edge_ms:
                self._edge_ms = newest
                self._edge_lines = set()
            if len(self._edge_lines) < 4096:
                self._edge_lines.add(line)
        for event in events:
            try:
                self.publish(event)
            except Exception:
                log.exception("%s: publishing %s failed", self.link.serial, event.kind)

    # ---------------------------------------------------------------- service callers
    def services_of(self, start: ProcessStart) -> Sequence[ServiceRecordInfo] | None:
        """``dumpsys activity services PKG``, parsed (a :data:`ServiceLookup`).

        The record can trail the process start by a moment on a real phone, so a dump that
        does not show the started service yet is read once more.
        """
        try:
            package = Package(start.package)
        except InvalidArgument:
            return None  # a hostile name never reaches a command line
        records: tuple[ServiceRecordInfo, ...] = ()
        for attempt in (1, 2):
            try:
                out = self.link.shell(["dumpsys", "activity", "services", package], timeout=10.0)
            except AdbError as exc:
                log.debug("%s: services of %s unavailable: %s", self.link.serial, package, exc)
                return None
            records = parse_service_records(out.stdout).value
            if attempt == 2 or any(
                r.component == start.component or r.pid == start.pid for r in records
            ):
                break
            if self._stop.wait(0.3):
                break
        return records
