"""Live use of the microphone, camera, location, clipboard, contacts...: who is using what *now*.

This module owns the live-use watch: :class:`UseMonitor` asks a phone, once per tick, which apps
are using a sensitive app-op and turns the answers into ``sensitive_use_started`` /
``sensitive_use_stopped`` events; :class:`UseWorker` runs a monitor on its own thread.

Why it is separate from :mod:`agent.collect` and :mod:`agent.detect`: those compare snapshots
taken every few seconds, and a snapshot is far too expensive to take twice a second. The owner
must learn that an app records *while* it records, so this path polls often and must cost
almost nothing when nothing happens (shared/docs/android-appops-permissions.md §1.5, §4, §4.x).

The probe is one adb round trip per tick: a nonce-marked :class:`~agent.adb.Script` with one
``dumpsys appops --op OP`` per op, each filtered *on the phone*. An op prints its marker only
when it has something to say, and the script ends with an end marker (the proof that every op
was asked), so a quiet tick is that one 18-byte line whatever the number of ops:

* ``run`` ops (mic, camera, phone calls: started and finished, never merely noted) are probed
  every tick as ``dumpsys appops --op OP | grep -q 'Running start' && echo MARK && dumpsys
  appops --op OP | grep -E '<structure>'``. The structure (uid, ``state=``, package, op header,
  attribution tag, ``Access:``/``Reject:``/``Running start at:``/``duration=`` lines) is
  fetched only while something runs, then every tick and without the gate, so a stop (with the
  duration the phone recorded), a restart or an app falling into the background shows within a
  period.
* ``hash`` ops (clipboard, contacts, location, ...: noted on each access, or long-running where
  a few seconds of latency do not matter) are probed every ``slow_every`` ticks by an MD5, taken
  on the phone, of their ``Access:`` and ``Running start`` lines cut before the first ``(`` or
  ``+`` (the relative times there change every millisecond; what is left changes only with a
  new access, or a run that starts or ends). The previous digest is part of the script
  (``md5sum | grep -v '^<previous>' && echo MARK && <fetch>``), so the phone prints the new
  digest and the structure only when the digest moved: a quiet op costs one ``dumpsys`` and no
  bytes, a moved one a second ``dumpsys`` and a few kilobytes. New accesses are found by
  comparing each "last access" slot's printed time with the previous fetch; the first fetch is
  the baseline (history, not news).

Android 8 has no ``--op`` filter (§1.1), so this watch needs Android 9 or later.

Events (kinds documented in :data:`agent.events.KINDS`), per (serial, user, package, op,
attribution tag): ``sensitive_use_started`` when a run is first seen (``already_running`` when
it was running at the first probe), again with ``went_background`` when a foreground use goes
on in the background, and once per new access of a noted op (``noted``; repeats within
``noted_hold`` seconds are held back);
``sensitive_use_stopped`` when a run ends, with ``duration_s``. How the permission behind the
op was granted is in ``permission_consent``, by the same flag rules as :mod:`agent.detect`,
from the latest snapshot given to :meth:`UseMonitor.tick`. A use in the foreground under a
permission the owner granted has consent ``user`` (``platform`` under a platform grant); any
other use - in the background, under a grant nobody chose, or of an op with no permission
(the clipboard) - has consent ``none`` and is a finding. Severity is high in the background,
medium otherwise. The shell (uid 2000: our own polling) is never reported.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

from agent.adb import AdbError, AppOp, InvalidArgument, Script, ShellResult
from agent.events import Consent, Event, Severity
from agent.model import (
    PER_USER_RANGE,
    PLATFORM_FLAGS,
    USER_FLAGS,
    AppOpsDump,
    OpAccess,
    app_id_of,
)
from agent.parsers.appops import parse_dumpsys_appops
from agent.snapshot import Snapshot

__all__ = [
    "FAST_OPS",
    "OP_PERMISSIONS",
    "SLOW_OPS",
    "STARTED_OPS",
    "ProbeCost",
    "UseMonitor",
    "UseWorker",
    "foreground_of",
    "permission_consent",
]

log = logging.getLogger(__name__)

FAST_OPS: Final = ("RECORD_AUDIO", "CAMERA", "PHONE_CALL_MICROPHONE", "PHONE_CALL_CAMERA")
SLOW_OPS: Final = (
    "FINE_LOCATION",
    "COARSE_LOCATION",
    "MONITOR_LOCATION",
    "MONITOR_HIGH_POWER_LOCATION",
    "READ_CLIPBOARD",
    "READ_CONTACTS",
    "READ_CALL_LOG",
    "READ_SMS",
    "READ_PHONE_STATE",
    "BODY_SENSORS",
)
STARTED_OPS: Final = frozenset(
    {
        "RECORD_AUDIO",
        "CAMERA",
        "PHONE_CALL_MICROPHONE",
        "PHONE_CALL_CAMERA",
        "RECORD_AUDIO_HOTWORD",
        "RECEIVE_AMBIENT_TRIGGER_AUDIO",
        "RECEIVE_EXPLICIT_USER_INTERACTION_AUDIO",
        "RECORD_AUDIO_SANDBOXED",
        "RECEIVE_SANDBOX_TRIGGER_AUDIO",
        "MONITOR_LOCATION",
        "MONITOR_HIGH_POWER_LOCATION",
    }
)
"""Ops the platform starts and finishes (doc §1.5, §4.1); a fast op among them gets the
``run`` probe. Every other op gets the ``hash`` probe, which sees both notes and runs."""
LOCATION_OPS: Final = frozenset(
    {"FINE_LOCATION", "COARSE_LOCATION", "MONITOR_LOCATION", "MONITOR_HIGH_POWER_LOCATION"}
)
"""One location request shows as several ops: the platform runs ``MONITOR_LOCATION`` (and
``MONITOR_HIGH_POWER_LOCATION`` for GPS) while the request lasts and notes ``FINE_LOCATION`` or
``COARSE_LOCATION`` at each delivery. The owner sees one location use per app: these fold into
one started and one stopped event (the ops behind it in ``location_ops``)."""

CLAUSE: Final = "MIIT II.(4).11"

# doc §1.3: only bg and cch (and "gone", newest builds) mean "not user-visible".
FOREGROUND_STATES: Final = frozenset({"pers", "top", "fgsvcl", "fgsvc", "fg"})
BACKGROUND_STATES: Final = frozenset({"bg", "cch", "gone"})

SHELL_APP_ID: Final = 2000
SHELL_PACKAGES: Final = frozenset({"com.android.shell"})


_P = "android.permission."
_MIC = (_P + "RECORD_AUDIO",)
_LOCATION = (_P + "ACCESS_FINE_LOCATION", _P + "ACCESS_COARSE_LOCATION")
OP_PERMISSIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "RECORD_AUDIO": _MIC,
        "PHONE_CALL_MICROPHONE": _MIC,
        "RECORD_AUDIO_HOTWORD": _MIC,
        "CAMERA": (_P + "CAMERA",),
        "PHONE_CALL_CAMERA": (_P + "CAMERA",),
        "FINE_LOCATION": (_P + "ACCESS_FINE_LOCATION",),
        # A fine grant covers coarse use too.
        "COARSE_LOCATION": _LOCATION,
        "MONITOR_LOCATION": _LOCATION,
        "MONITOR_HIGH_POWER_LOCATION": _LOCATION,
        "READ_CONTACTS": (_P + "READ_CONTACTS",),
        "WRITE_CONTACTS": (_P + "WRITE_CONTACTS",),
        "READ_CALL_LOG": (_P + "READ_CALL_LOG",),
        "READ_SMS": (_P + "READ_SMS",),
        "READ_PHONE_STATE": (_P + "READ_PHONE_STATE",),
        "BODY_SENSORS": (_P + "BODY_SENSORS",),
        "READ_CALENDAR": (_P + "READ_CALENDAR",),
        "ACTIVITY_RECOGNITION": (_P + "ACTIVITY_RECOGNITION",),
    }
)
"""The runtime permissions that allow each op (READ_CLIPBOARD has none)."""

# ---------------------------------------------------------------------------- the probe text
# What the phone keeps of a dump (see the module docstring). Indentation is part of each
# pattern so a label or tag cannot pass for a structure line; "[^ ]" after the indentation
# refuses deeper lines (P's "Started ops:" entries sit at 8 too, but do not end in "=[").
# Reject: lines are kept for P's continuation lines (one more uid state of the Access:/Reject:
# line above, at 18): without the Reject: line a continuation would be read as an access.
# "duration=" is P's op-level duration of the last finished run.
_STRUCTURE: Final = (
    r"^Current AppOps|^  Uid |^    state=|^    Package |^      [A-Z_0-9]+ \(|"
    r"^        [^ ].*=\[$|^        \]|^          (Access: |Reject: |Running start|duration=)|"
    r"^ {18}[^ ]"
)
_HASHED: Final = r"Access: |^ {18}[^ ]|Running start"
# Cut at "(" (the relative time) or "+" (a running time): what is left moves only with a new
# access, a run that starts or ends.
_STABLE_PART: Final = r"^[^(+]*"


def _run_probe(nonce: str, op: str, gated: bool) -> str:
    fetch = f"echo @@tg-{nonce}:run:{op} && dumpsys appops --op {op} | grep -E '{_STRUCTURE}'"
    if not gated:
        return fetch
    return f"dumpsys appops --op {op} | grep -q 'Running start' && {fetch}"


def _hash_probe(nonce: str, op: str, previous: str) -> str:
    # The new digest line comes out just before the op's marker: _split_answers pairs them.
    return (
        f"dumpsys appops --op {op} | grep -E '{_HASHED}' | grep -oE '{_STABLE_PART}' | md5sum | "
        f"grep -v '^{previous}' && echo @@tg-{nonce}:hash:{op} && "
        f"dumpsys appops --op {op} | grep -E '{_STRUCTURE}'"
    )


_DEBUG_NAME: Final = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_DIGEST_LINE: Final = re.compile(r"([0-9a-f]{32})  -")

RESTART_SLACK_S: Final = 1.0
"""A run whose start moved later by more than this stopped and started again between probes."""
NOTED_SLACK_S: Final = 2.0
"""Clock leeway when checking that a new access happened after the previous fetch."""


class ShellLink(Protocol):
    """What the monitor needs of a device link (:class:`agent.adb.DeviceLink` has it)."""

    @property
    def serial(self) -> str: ...

    def shell(self, command: Script, *, timeout: float | None = ...) -> ShellResult: ...


ProbeKind = Literal["run", "hash"]
Verdict = Literal["user", "platform", "none", "unknown"]


# ---------------------------------------------------------------------------- consent
def permission_consent(
    snapshot: Snapshot | None, package: str, user: int, op: str
) -> tuple[Verdict, str | None]:
    """How the permission behind ``op`` was granted to ``package`` for ``user``, and which one.

    ``user``: granted with USER_SET/USER_FIXED (the owner chose); ``platform``: with
    POLICY_FIXED/SYSTEM_FIXED/GRANTED_BY_DEFAULT/GRANTED_BY_ROLE; ``none``: granted with
    neither (a programmatic grant: no evidence of consent); ``unknown``: no snapshot, the
    package is not in it, the op has no permission (READ_CLIPBOARD), or the snapshot shows no
    grant (it may be older than the grant).
    """
    wanted = OP_PERMISSIONS.get(op, ())
    if snapshot is None or not wanted:
        return "unknown", None
    pkg = snapshot.package(package)
    if pkg is None:
        return "unknown", None
    granted = [g for g in snapshot.runtime_grants(pkg, user) if g.granted and g.name in wanted]
    checks: tuple[tuple[frozenset[str], Verdict], ...] = (
        (USER_FLAGS, "user"),
        (PLATFORM_FLAGS, "platform"),
    )
    for flags, verdict in checks:
        for grant in granted:
            if grant.flags & flags:
                return verdict, grant.name
    if granted:
        return "none", granted[0].name
    return "unknown", None


def foreground_of(uid_state: str | None) -> bool | None:
    """True for a user-visible uid state, False for bg/cch/gone, None when not known."""
    if uid_state in FOREGROUND_STATES:
        return True
    if uid_state in BACKGROUND_STATES:
        return False
    return None


# ---------------------------------------------------------------------------- state
RunKey = tuple[int, str, str | None]
"""(uid, package, attribution tag) of one op."""
AccessKey = tuple[int, str, str | None, str, str]
"""(uid, package, tag, uid state, flags): one "last access" slot of the dump."""


@dataclass
class _Run:
    """A run in progress, as last seen."""

    start: float
    """Host epoch estimate of its start (fetch time minus the running time printed)."""
    last_seen: float
    uid_state: str | None
    proxy: Mapping[str, Any] | None
    background_seen: bool


@dataclass(frozen=True)
class _Seen:
    """One run in a fetched dump."""

    running_for_ms: int | None
    uid_state: str | None
    proxy: Mapping[str, Any] | None


@dataclass
class _OpState:
    op: str
    kind: ProbeKind
    fast: bool
    probed: bool = False
    """One answer was read: runs seen later started after the watch began."""
    digest: str | None = None
    accesses: dict[AccessKey, str] | None = None
    """The baseline of a hash op (None before its first fetch): access slot -> printed time."""
    fetched_at: float = 0.0
    runs: dict[RunKey, _Run] = field(default_factory=dict)
    noted_at: dict[tuple[int, str, str | None, bool | None], float] = field(default_factory=dict)


@dataclass
class ProbeCost:
    """What the probes have cost so far (the figures the benchmark reports)."""

    ticks: int = 0
    round_trips: int = 0
    bytes_in: int = 0
    seconds: float = 0.0
    last_bytes: int = 0
    fetches: int = 0
    """Ops whose structure was fetched (something ran, or a digest moved)."""


# ---------------------------------------------------------------------------- the monitor
class UseMonitor:
    """Turns one cheap probe per tick into sensitive-use events for one device.

    Args:
        link: the device (:class:`agent.adb.DeviceLink`, or anything with ``serial`` and
            ``shell``).
        fast_ops: probed every tick; those in :data:`STARTED_OPS` with the ``run`` probe.
        slow_ops: probed every ``slow_every`` ticks, with the ``hash`` probe.
        slow_every: ticks between slow probes (the first tick probes every op).
        timeout: seconds one probe may take.
        noted_hold: seconds during which further new accesses of one noted op by one app (same
            tag, same foreground-ness) are counted into the next event instead of each making
            one: location deliveries and phone-state reads repeat every few seconds. 0 reports
            every new access.

    Raises:
        InvalidArgument: an op is not an app-op debug name (``RECORD_AUDIO``), or is listed twice.
    """

    def __init__(
        self,
        link: ShellLink,
        *,
        fast_ops: Sequence[str] = FAST_OPS,
        slow_ops: Sequence[str] = SLOW_OPS,
        slow_every: int = 4,
        timeout: float = 10.0,
        noted_hold: float = 30.0,
    ) -> None:
        if slow_every < 1:
            raise ValueError("slow_every must be at least 1")
        self.link = link
        self.slow_every = slow_every
        self.timeout = timeout
        self.noted_hold = noted_hold
        self.snapshot: Snapshot | None = None
        """The latest snapshot given to :meth:`tick` (for ``permission_consent``)."""
        self.cost = ProbeCost()
        self.warnings: list[str] = []
        """Probe answers that could not be read (bounded: the last 50)."""
        self._ops: dict[str, _OpState] = {}
        for fast, names in ((True, fast_ops), (False, slow_ops)):
            for name in names:
                op = _checked_op(name)
                if op in self._ops:
                    raise InvalidArgument(f"app op listed twice: {op}")
                kind: ProbeKind = "run" if fast and op in STARTED_OPS else "hash"
                self._ops[op] = _OpState(op, kind, fast)
        self._tick = 0
        self._location_op: dict[tuple[int, str], str] = {}
        """App -> the location op its use in progress was reported as."""

    @property
    def serial(self) -> str:
        return self.link.serial

    def probe_script(self, nonce: str, ops: Iterable[str] | None = None) -> Script:
        """The command line of one tick (for the ops due now, or ``ops``)."""
        states = self._due() if ops is None else [self._ops[op] for op in ops]
        parts = []
        for state in states:
            if state.kind == "run":
                # While runs are known, fetch without the gate: the tick that sees a run end
                # then reads the duration the phone recorded for it.
                parts.append(_run_probe(nonce, state.op, gated=not state.runs))
            else:
                # Hex from our own parse, or "-" (an md5sum line never starts with one).
                previous = state.digest if state.digest is not None else "-"
                parts.append(_hash_probe(nonce, state.op, previous))
        parts.append(f"echo @@tg-{nonce}:end")
        return Script("; ".join(parts))

    def _due(self) -> list[_OpState]:
        slow_due = self._tick % self.slow_every == 0
        return [s for s in self._ops.values() if s.fast or slow_due]

    def tick(self, snapshot: Snapshot | None = None) -> list[Event]:
        """Probe once (one round trip) and return what started, stopped or was noted.

        Raises:
            AdbError: the device could not be asked (gone, offline, timeout...).
        """
        if snapshot is not None:
            self.snapshot = snapshot
        due = self._due()
        self._tick += 1
        if not due:
            return []
        nonce = secrets.token_hex(4)
        started = time.perf_counter()
        result = self.link.shell(
            self.probe_script(nonce, [s.op for s in due]), timeout=self.timeout
        )
        now = time.time()
        size = len(result.raw_stdout) + len(result.raw_stderr)
        self.cost.ticks += 1
        self.cost.round_trips += 1
        self.cost.bytes_in += size
        self.cost.last_bytes = size
        self.cost.seconds += time.perf_counter() - started
        answers = _split_answers(result.stdout, nonce)
        if answers is None:
            # The script did not run to its end (cut off, killed): nothing is known this tick.
            self._warn(f"probe output has no end marker ({size} bytes)")
            return []
        locating = self._locating()
        events: list[Event] = []
        for state in due:
            answer = answers.get(f"{state.kind}:{state.op}")
            if state.kind == "run":
                events += self._read_run(state, answer, now)
            else:
                events += self._read_hash(state, answer, now)
        return self._fold_location(events, locating)

    # ------------------------------------------------------------ location
    def _locating(self) -> dict[tuple[int, str], int]:
        """App -> location-family runs in progress, with the longest-running first."""
        active: dict[tuple[int, str], int] = {}
        for op in LOCATION_OPS:
            state = self._ops.get(op)
            for uid, package, _tag in state.runs if state is not None else ():
                active[(uid, package)] = active.get((uid, package), 0) + 1
        return active

    def _fold_location(
        self, events: list[Event], before: Mapping[tuple[int, str], int]
    ) -> list[Event]:
        """One started/stopped pair per app's location use (see :data:`LOCATION_OPS`)."""
        if not any(e.detail.get("op") in LOCATION_OPS for e in events):
            return events
        after = self._locating()
        out: list[Event] = []
        groups: dict[tuple[str, int, str], list[Event]] = {}
        for event in events:
            if event.detail.get("op") not in LOCATION_OPS:
                out.append(event)
                continue
            uid = int(event.detail["uid"])
            groups.setdefault((event.kind, uid, event.package or ""), []).append(event)
        for (kind, uid, package), group in groups.items():
            app = (uid, package)
            ops = sorted({str(e.detail["op"]) for e in group})
            if kind == "sensitive_use_started":
                turned = [e for e in group if e.detail.get("went_background")]
                if before.get(app) and not turned:
                    continue  # a further op of a use already reported
                chosen = (turned or sorted(group, key=_location_rank))[0]
                op = self._location_op.get(app) if turned else None
                op = op or _location_op(ops, chosen)
                self._location_op[app] = op
                out.append(_with_op(chosen, op, ops))
            elif not after.get(app):  # the last op of the use ended
                chosen = max(group, key=lambda e: float(e.detail.get("duration_s") or 0.0))
                op = self._location_op.pop(app, None) or _location_op(ops, chosen)
                out.append(_with_op(chosen, op, ops))
        return out

    # ------------------------------------------------------------ reading answers
    def _read_run(self, state: _OpState, answer: _Answer | None, now: float) -> list[Event]:
        dump = AppOpsDump()  # no answer: nothing runs
        if answer is not None:
            self.cost.fetches += 1
            dump = self._parse(state.op, answer.lines)
        return self._runs(state, _runs_in(dump, state.op), now, _durations_in(dump, state.op))

    def _read_hash(self, state: _OpState, answer: _Answer | None, now: float) -> list[Event]:
        if answer is None:
            # The digest did not move: every run known still runs, nothing was noted.
            for run in state.runs.values():
                run.last_seen = now
            state.probed = True
            return []
        self.cost.fetches += 1
        state.digest = answer.digest
        if answer.digest is None:  # fetch again next time rather than trust a garbled answer
            self._warn(f"{state.op}: no digest line before its answer")
        dump = self._parse(state.op, answer.lines)
        seen = _runs_in(dump, state.op)
        was_running = set(state.runs)
        events = self._runs(state, seen, now, _durations_in(dump, state.op))
        accesses = _accesses_in(dump, state.op)
        current = {key: access.time or "" for key, access in accesses.items()}
        if state.accesses is not None:
            window_ms = (now - state.fetched_at + NOTED_SLACK_S) * 1000
            for key, access in sorted(accesses.items(), key=lambda kv: _sort_key(kv[0])):
                if state.accesses.get(key) == current[key]:
                    continue
                if access.relative_ms is not None and access.relative_ms < -window_ms:
                    continue  # an old access re-printed (a clock or zone change), not news
                run_key = key[:3]
                if run_key in seen or run_key in was_running:
                    continue  # the start of a run: reported as such
                event = self._noted(state, key, access, now)
                if event is not None:
                    events.append(event)
        state.accesses = current
        state.fetched_at = now
        return events

    def _parse(self, op: str, lines: list[str]) -> AppOpsDump:
        parsed = parse_dumpsys_appops("\n".join(lines).rstrip("\n") + "\n")
        if parsed.warnings:
            first = parsed.warnings[0]
            self._warn(f"{op}: line {first.line_no}: {first.reason} ({len(parsed.warnings)})")
        return parsed.value

    def _runs(
        self,
        state: _OpState,
        seen: Mapping[RunKey, _Seen],
        now: float,
        durations: Mapping[RunKey, tuple[float, int]] | None = None,
    ) -> list[Event]:
        """Events for the runs of ``seen`` against those known. ``durations``: per run, the
        (host epoch) start and the duration of its latest finished access, where printed."""
        events: list[Event] = []
        first = not state.probed
        state.probed = True
        for key in sorted(state.runs.keys() - seen.keys(), key=_sort_key):
            ended = state.runs.pop(key)
            finished = (durations or {}).get(key)
            exact = None
            if finished is not None and finished[0] >= ended.start - RESTART_SLACK_S:
                exact = finished[1] / 1000  # the access that this run recorded
            events.append(self._stopped(state, key, ended, now, exact))
        for key in sorted(seen, key=_sort_key):
            info = seen[key]
            start = now - (info.running_for_ms or 0) / 1000
            run = state.runs.get(key)
            if (
                run is not None
                and info.running_for_ms is not None
                and start > run.start + RESTART_SLACK_S
            ):
                # Stopped and started again between two probes.
                events.append(self._stopped(state, key, run, now))
                run = None
            if run is None:
                foreground = foreground_of(info.uid_state)
                run = state.runs[key] = _Run(
                    start, now, info.uid_state, info.proxy, foreground is False
                )
                events.append(
                    self._started(
                        state,
                        key,
                        info.uid_state,
                        info.proxy,
                        now,
                        already_running=first,
                        running_for_ms=info.running_for_ms,
                    )
                )
                continue
            before = foreground_of(run.uid_state)
            after = foreground_of(info.uid_state)
            run.last_seen = now
            run.uid_state = info.uid_state
            if info.proxy is not None:
                run.proxy = info.proxy
            if before is not False and after is False and not run.background_seen:
                # Began in view, goes on in the background: the case the owner most needs.
                run.background_seen = True
                events.append(
                    self._started(
                        state,
                        key,
                        info.uid_state,
                        run.proxy,
                        now,
                        already_running=False,
                        running_for_ms=info.running_for_ms,
                        went_background=True,
                    )
                )
            elif after is False:
                run.background_seen = True
        return events

    # ------------------------------------------------------------ events
    def _event(
        self,
        kind: str,
        op: str,
        uid: int,
        package: str,
        now: float,
        foreground: bool | None,
        severe: bool,
        detail: dict[str, Any],
    ) -> Event:
        user = uid // PER_USER_RANGE
        verdict, permission = permission_consent(self.snapshot, package, user, op)
        detail = {
            "op": op,
            "foreground": foreground,
            **detail,
            "uid": uid,
            "permission_consent": verdict,
        }
        if permission is not None:
            detail["permission"] = permission
        # A use in the foreground under a permission the owner (or the platform) granted is
        # consented: still shown and alerted (the owner asked to see every use), but not a
        # finding. Background use, and use under a grant nobody chose, is.
        consent = Consent.NONE
        if not severe and foreground is True:
            consent = {"user": Consent.USER, "platform": Consent.PLATFORM}.get(
                verdict, Consent.NONE
            )
        return Event(
            kind=kind,
            serial=self.link.serial,
            ts=now,
            consent=consent,
            severity=Severity.HIGH if severe else Severity.MEDIUM,
            user=user,
            package=package,
            clause=CLAUSE,
            detail=MappingProxyType(detail),
        )

    def _started(
        self,
        state: _OpState,
        key: RunKey,
        uid_state: str | None,
        proxy: Mapping[str, Any] | None,
        now: float,
        *,
        already_running: bool,
        running_for_ms: int | None,
        went_background: bool = False,
    ) -> Event:
        uid, package, tag = key
        foreground = foreground_of(uid_state)
        detail: dict[str, Any] = {
            "uid_state": uid_state,
            "attribution_tag": tag,
            "already_running": already_running,
            "running_for_s": None if running_for_ms is None else running_for_ms / 1000,
        }
        if went_background:
            detail["went_background"] = True
        if proxy is not None:
            detail["proxy"] = dict(proxy)
        return self._event(
            "sensitive_use_started",
            state.op,
            uid,
            package,
            now,
            foreground,
            foreground is False,
            detail,
        )

    def _stopped(
        self, state: _OpState, key: RunKey, run: _Run, now: float, exact: float | None = None
    ) -> Event:
        uid, package, tag = key
        foreground = foreground_of(run.uid_state)
        # The duration the dump printed for the finished access when we have it; else from the
        # running time printed when the run was last seen: a lower bound, short by at most one
        # probe period.
        duration = exact if exact is not None else max(run.last_seen - run.start, 0.0)
        detail: dict[str, Any] = {
            "uid_state": run.uid_state,
            "attribution_tag": tag,
            "duration_s": round(duration, 3),
            "background_seen": run.background_seen,
        }
        if run.proxy is not None:
            detail["proxy"] = dict(run.proxy)
        return self._event(
            "sensitive_use_stopped",
            state.op,
            uid,
            package,
            now,
            foreground,
            run.background_seen,
            detail,
        )

    def _noted(self, state: _OpState, key: AccessKey, access: OpAccess, now: float) -> Event | None:
        uid, package, tag, uid_state, flags = key
        foreground = foreground_of(uid_state)
        hold_key = (uid, package, tag, foreground)
        last = state.noted_at.get(hold_key)
        if last is not None and now - last < self.noted_hold:
            return None
        state.noted_at[hold_key] = now
        detail: dict[str, Any] = {
            "noted": True,
            "uid_state": uid_state,
            "attribution_tag": tag,
            "flags": flags,
            "access_time": access.time,
        }
        proxy = _proxy_of(access)
        if proxy is not None:
            detail["proxy"] = dict(proxy)
        return self._event(
            "sensitive_use_started",
            state.op,
            uid,
            package,
            now,
            foreground,
            foreground is False,
            detail,
        )

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        del self.warnings[:-50]


# ---------------------------------------------------------------------------- helpers
def _checked_op(name: str) -> str:
    """An app-op debug name, validated before it goes into a script."""
    op = str(AppOp(name))
    if not _DEBUG_NAME.fullmatch(op):
        # The dump prints debug names; "android:camera" or "26" would never match its lines.
        raise InvalidArgument(f"app ops are watched by their debug name (CAMERA), not {op!r}")
    return op


@dataclass
class _Answer:
    """What one op's probe printed: its new digest (hash ops) and its structure lines."""

    digest: str | None = None
    lines: list[str] = field(default_factory=list)


def _split_answers(text: str, nonce: str) -> dict[str, _Answer] | None:
    """The probe's output by ``@@tg-NONCE:kind:OP`` marker; None if it did not run to its end.

    An op with nothing to say prints no marker at all, so a quiet tick is the end marker
    alone; the end marker is what proves that every op was asked. A hash op's new digest
    (``<hex>  -``) is printed just before its marker. The nonce is fresh per probe, so no
    app-controlled text in a dump can forge a boundary.
    """
    marker = f"@@tg-{nonce}:"
    out: dict[str, _Answer] = {}
    current: _Answer | None = None
    digest: str | None = None
    for line in text.split("\n"):
        if line.startswith(marker):
            name = line[len(marker) :].strip()
            if name == "end":
                return out
            current = out[name] = _Answer(digest)
            digest = None
            continue
        if digest is not None and current is not None:
            current.lines.append(digest + "  -")  # not a digest after all (never, in practice)
        found = _DIGEST_LINE.fullmatch(line)
        digest = found.group(1) if found else None
        if found is None and current is not None and line:
            current.lines.append(line)
    return None


def _ours(uid: int, package: str) -> bool:
    return app_id_of(uid) == SHELL_APP_ID or package in SHELL_PACKAGES


def _proxy_of(access: OpAccess) -> Mapping[str, Any] | None:
    if access.proxy_uid is None and access.proxy_package is None:
        return None
    return {"uid": access.proxy_uid, "package": access.proxy_package, "tag": access.proxy_tag}


def _runs_in(dump: AppOpsDump, op: str) -> dict[RunKey, _Seen]:
    """Every run of ``op`` in a fetched dump, with its uid's state and latest proxy."""
    out: dict[RunKey, _Seen] = {}
    for block in dump.uids:
        for package, entries in block.packages.items():
            if _ours(block.uid, package):
                continue  # our own polling shows up as the shell's ops
            for entry in entries:
                if entry.op != op or not entry.running:
                    continue
                runs = entry.runs or ()
                tags: list[tuple[str | None, int | None]] = [
                    (r.attribution_tag, r.running_for_ms) for r in runs
                ] or [(None, entry.running_for_ms)]
                for tag, running_for in tags:
                    latest = _latest(entry.accesses, tag)
                    state = block.uid_state or (latest.uid_state if latest is not None else None)
                    proxy = _proxy_of(latest) if latest is not None else None
                    out[(block.uid, package, tag)] = _Seen(running_for, state, proxy)
    return out


def _durations_in(dump: AppOpsDump, op: str) -> dict[RunKey, tuple[float, int]]:
    """Per (uid, package, tag): the host-epoch start and duration of the latest access with a
    printed duration (Q+ per access; P per op, on its ``duration=`` line)."""
    now = time.time()
    out: dict[RunKey, tuple[float, int]] = {}
    for block in dump.uids:
        for package, entries in block.packages.items():
            for entry in entries:
                if entry.op != op or entry.running:
                    continue
                tags = {a.attribution_tag for a in entry.accesses}
                for tag in tags:
                    latest = _latest(entry.accesses, tag)
                    if latest is None or latest.relative_ms is None:
                        continue
                    duration = latest.duration_ms
                    if duration is None and tag is None:
                        duration = entry.duration_ms
                    if duration is not None:
                        start = now + latest.relative_ms / 1000
                        out[(block.uid, package, tag)] = (start, duration)
    return out


def _latest(accesses: Iterable[OpAccess], tag: str | None) -> OpAccess | None:
    best: OpAccess | None = None
    for access in accesses:
        if access.rejected or access.attribution_tag != tag or access.relative_ms is None:
            continue
        if best is None or (best.relative_ms or 0) < access.relative_ms:
            best = access
    return best


def _accesses_in(dump: AppOpsDump, op: str) -> dict[AccessKey, OpAccess]:
    """Every "last access" slot of ``op`` (rejections left out) in a fetched dump."""
    out: dict[AccessKey, OpAccess] = {}
    for block in dump.uids:
        for package, entries in block.packages.items():
            if _ours(block.uid, package):
                continue
            for entry in entries:
                if entry.op != op:
                    continue
                for access in entry.accesses:
                    if not access.rejected:
                        key = (block.uid, package, access.attribution_tag, access.uid_state)
                        out[(*key, access.flags)] = access
    return out


_LOCATION_ORDER: Final = (
    "FINE_LOCATION",
    "COARSE_LOCATION",
    "MONITOR_HIGH_POWER_LOCATION",
    "MONITOR_LOCATION",
)


def _location_rank(event: Event) -> int:
    return _LOCATION_ORDER.index(str(event.detail["op"]))


def _location_op(ops: Sequence[str], event: Event) -> str:
    """What the owner is told: precise location when a precise op is involved (GPS is only
    given to apps holding the precise permission), else approximate."""
    if "FINE_LOCATION" in ops or "MONITOR_HIGH_POWER_LOCATION" in ops:
        return "FINE_LOCATION"
    if "COARSE_LOCATION" in ops:
        return "COARSE_LOCATION"
    fine = "android.permission.ACCESS_FINE_LOCATION"
    return "FINE_LOCATION" if event.detail.get("permission") == fine else "COARSE_LOCATION"


def _with_op(event: Event, op: str, ops: Sequence[str]) -> Event:
    detail = dict(event.detail)
    detail["op"] = op
    detail["location_ops"] = list(ops)
    return replace(event, detail=MappingProxyType(detail))


def _sort_key(key: tuple[Any, ...]) -> tuple[str, ...]:
    """Deterministic event order (tags may be None)."""
    return tuple("" if part is None else str(part) for part in key)


# ---------------------------------------------------------------------------- the worker
class UseWorker:
    """Runs a :class:`UseMonitor` on its own thread, a tick every ``period`` seconds.

    ``publish`` gets every event, on the worker thread (an exception there is logged, and the
    watch goes on). ``snapshots``, when given, is asked for the latest snapshot before each tick
    (for ``permission_consent``). A device error (gone, offline, timeout) ends the worker
    cleanly: :attr:`error` holds it, ``on_error`` is called with it. :meth:`stop` may be called
    from any thread, the worker's own included.
    """

    def __init__(
        self,
        monitor: UseMonitor,
        publish: Callable[[Event], None],
        *,
        period: float = 0.5,
        snapshots: Callable[[], Snapshot | None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        if not period > 0:
            raise ValueError("period must be positive")
        self.monitor = monitor
        self.period = period
        self.error: BaseException | None = None
        self._publish = publish
        self._snapshots = snapshots
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"tg-uses-{monitor.serial}", daemon=True
        )

    def start(self) -> UseWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the worker to end, and wait for it (unless called from the worker itself)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> UseWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            try:
                snapshot = self._snapshots() if self._snapshots is not None else None
                events = self.monitor.tick(snapshot)
            except AdbError as exc:
                self._fail(exc)
                return
            except Exception as exc:  # a bug must not leave a thread spinning on it
                log.exception("live-use watch of %s failed", self.monitor.serial)
                self._fail(exc)
                return
            for event in events:
                try:
                    self._publish(event)
                except Exception:
                    log.exception("publishing a live-use event failed")
            due += self.period
            now = time.monotonic()
            if due < now:
                due = now  # a slow probe: start the next at once, but do not burst to catch up
            self._stop.wait(due - now)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                log.exception("on_error callback failed")
