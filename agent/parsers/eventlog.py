"""logcat lines -> process and activity starts (:class:`~agent.model.ProcessStart`,
:class:`~agent.model.ActivityStart`, deaths, kills, boot markers).

Owns reading the lines tetherguard asks logcat for (``logcat -b events -b system -v epoch -v uid``,
see ``android-packages-installs.md`` §2.4 and §4) and the captures people share (threadtime,
``-v time``). Autostart and associated-start detection (:mod:`agent.starts`) is built on these
records, so every shape Android 8-15 prints is read, and the simulator's formatter is checked
against the same parser in the tests.

Line headers (``liblog/logprint.cpp``), each with or without the ``-v uid`` column:

* ``-v epoch``: ``%19lld.%03ld`` seconds (``usec``/``nsec`` widen the fraction), then
  ``[uid ]pid tid P tag: message``; ``-v monotonic`` has the same shape with seconds since boot
  (no wall-clock time is derived from it).
* threadtime (the default): ``MM-DD hh:mm:ss.mmm``, ``-v year`` prefixes the year, ``-v zone``
  appends ``+hhmm``; only year *and* zone together name a moment (``time_ms``).
* ``-v time``/``brief``: ``[time ]P/tag( [uid:]pid): message``.

Messages read (``am/EventLogTags.logtags`` and ``ProcessList``/``ActivityStarter`` per release):

* ``am_proc_start: [User,PID,UID,Process Name,Type,Component]`` - six fields on every release
  since Android 4.2 (five, without the user, before). P prints the component as ``pkg/.Cls``;
  Q+ prints ``{pkg/full.Class}`` (``HostingRecord`` + ``ComponentName.toShortString()``).
  Components are normalised to the short form, so starts compare across releases.
* ``ActivityManager: Start proc PID:PROC/u0a12 [ENTRY] for TYPE [NAME]`` (O+), and the old
  ``Start proc PROC for TYPE NAME: pid=N uid=N gids={...}``. One start shows in both buffers;
  the two views are merged into one record by pid (:attr:`ProcessStart.sources`).
* ``am_proc_died: [User,PID,Process Name(,OomAdj,ProcState)]``, ``ActivityManager: Process
  NAME (pid N) has died``; ``am_kill: [User,PID,Process Name,OomAdj,Reason(,Rss)]`` (V adds
  Rss, some ROMs insert Pss: the reason is the first non-numeric field after the adj), and
  ``ActivityManager: Killing PID:PROC/UID (adj N): REASON``.
* ``ActivityManager`` (<= P) / ``ActivityTaskManager`` (Q+) ``START u0 {INTENT} [with MODE]
  from uid N [(pkg)] [(realCallingUid=N)] [(BAL_...)] [result code=N]`` (older: ``on display
  0``). The intent's ``act``/``cat``/``flg``/``cmp``/``pkg``/``bnds`` are read: ``MAIN`` +
  ``LAUNCHER`` + icon bounds is a tap on the launcher.
* ``boot_progress_<stage>: <uptime ms>``.

Hostile text: apps may write the event log (``android.util.EventLog.writeEvent`` is public API),
so a start, death or boot line whose ``-v uid`` column names a writer other than root or system
is dropped and counted as ``spoofed``. Every parse is linear in the line (no backtracking
patterns over device text), every field is cut to a bounded length, nothing raises. logcat is
noisy, so lines of other tags and unreadable lines are only counted
(:class:`~agent.model.EventLogCounts`); a line of a tag read here that cannot be read is also
warned about (bounded, see :class:`~agent.parsers.sections.Warnings`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Final

from agent.model import (
    PER_USER_RANGE,
    ActivityStart,
    BootMarker,
    EventLog,
    EventLogCounts,
    LogRecord,
    Parsed,
    ParseWarning,
    ProcessDied,
    ProcessKilled,
    ProcessStart,
)
from agent.parsers.sections import Warnings, lines_of

__all__ = [
    "EventLogReader",
    "LogLine",
    "merge_starts",
    "parse_eventlog",
    "parse_uid",
    "short_component",
    "split_line",
]

_FIELD_MAX: Final = 512
"""Longest process name, component or reason kept (logd caps a message at 4068 bytes)."""
_MESSAGE_MAX: Final = 4096
"""Longest message examined; longer ones (only a hostile writer makes them) are cut first."""
CLOCK_STEP_BACK_MS: Final = 60_000
"""A line this much older than the newest one read means the phone's clock went back."""
_MERGE_WINDOW_MS: Final = 5_000
"""The two views of one start (events and system buffer) are written moments apart."""
_RECENT_PIDS: Final = 512
"""Starts remembered for merging in a stream (bounded memory, whatever the phone prints)."""
_TRUSTED_WRITERS: Final = frozenset({0, 1000})
"""root (init, zygote: ``boot_progress_start``) and system_server."""

# uid column names: logprint prints getpwuid()'s name when it has at most five characters.
_AID_NAMES: Final = {
    "root": 0,
    "bin": 2,
    "radio": 1001,
    "input": 1004,
    "audio": 1005,
    "log": 1007,
    "mount": 1009,
    "wifi": 1010,
    "adb": 1011,
    "media": 1013,
    "dhcp": 1014,
    "vpn": 1016,
    "usb": 1018,
    "drm": 1019,
    "mdnsr": 1020,
    "gps": 1021,
    "mtp": 1024,
    "nfc": 1027,
    "logd": 1036,
    "shell": 2000,
    "cache": 2001,
    "diag": 2002,
}

# ------------------------------------------------------------------------------------ headers
_NUMERIC_TIME = re.compile(r" *(\d{1,19})\.(\d{1,9}) +")
_DATE_TIME = re.compile(
    r"(?:(\d{4})-)?(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,9})(?: ([+-])(\d\d)(\d\d))? +"
)
_THREADTIME_REST = re.compile(r"(?:([A-Za-z0-9_]{1,12}) +)?(\d{1,10}) +(\d{1,10}) ([VDIWEFS]) ")
_BRIEF_REST = re.compile(
    r"([VDIWEFS])/([^(\n]{0,128})\( *(?:([A-Za-z0-9_]{1,12}):)? *(\d{1,10})\): ?"
)
_EPOCH_FLOOR: Final = 1_000_000_000
"""Seconds below this (2001-09-09) are ``-v monotonic`` (time since boot), not epoch."""


@dataclass(frozen=True, slots=True)
class LogLine:
    """One logcat line's header and message."""

    time_ms: int | None
    """Epoch milliseconds when the header names a moment (``-v epoch``; year and zone)."""
    stamp: str
    """The time as printed (empty for ``brief``)."""
    uid: int | None
    """The writer's uid from ``-v uid`` (``None``: not shown, or a name not known here)."""
    uid_shown: bool
    pid: int
    tid: int | None
    priority: str
    tag: str
    message: str


def _fraction_ms(frac: str) -> int:
    return int(frac[:3].ljust(3, "0"))


def _to_int(text: str) -> int | None:
    """An ASCII decimal (optionally signed) of sane length, else None; never raises."""
    t = text.strip()
    body = t[1:] if t[:1] in ("-", "+") else t
    if not body or len(body) > 19 or not body.isascii() or not body.isdigit():
        return None
    return int(t)


def _uid_column(text: str | None) -> tuple[int | None, bool]:
    if text is None:
        return None, False
    if text.isdigit():
        return _to_int(text), True
    return _AID_NAMES.get(text), True


def split_line(line: str) -> LogLine | None:
    """Read one line's header (any format above); ``None`` if it is not a logcat line."""
    time_ms: int | None = None
    stamp = ""
    pos = 0
    m = _NUMERIC_TIME.match(line)
    if m:
        secs = int(m.group(1))
        stamp = f"{m.group(1)}.{m.group(2)}"
        if secs >= _EPOCH_FLOOR:
            time_ms = secs * 1000 + _fraction_ms(m.group(2))
        pos = m.end()
    else:
        d = _DATE_TIME.match(line)
        if d:
            stamp = line[: d.end()].strip()
            time_ms = _date_ms(d)
            pos = d.end()
    t = _THREADTIME_REST.match(line, pos)
    if t and (stamp or t.start() == 0):
        uid, shown = _uid_column(t.group(1))
        rest = line[t.end() :]
        tag, sep, message = rest.partition(": ")
        if not sep:
            if not rest.endswith(":"):
                return None
            tag, message = rest[:-1], ""
        return LogLine(
            time_ms,
            stamp,
            uid,
            shown,
            int(t.group(2)),
            int(t.group(3)),
            t.group(4),
            tag.strip(),
            message,
        )
    b = _BRIEF_REST.match(line, pos)
    if b:
        uid, shown = _uid_column(b.group(3))
        return LogLine(
            time_ms,
            stamp,
            uid,
            shown,
            int(b.group(4)),
            None,
            b.group(1),
            b.group(2).strip(),
            line[b.end() :],
        )
    return None


def _date_ms(d: re.Match[str]) -> int | None:
    """Epoch ms of a threadtime stamp, when it carries both a year and a zone."""
    if d.group(1) is None or d.group(8) is None:
        return None
    try:
        offset = dt.timedelta(hours=int(d.group(9)), minutes=int(d.group(10)))
        zone = dt.timezone(-offset if d.group(8) == "-" else offset)
        stamp = dt.datetime(
            int(d.group(1)),
            int(d.group(2)),
            int(d.group(3)),
            int(d.group(4)),
            int(d.group(5)),
            int(d.group(6)),
            tzinfo=zone,
        )
    except ValueError:
        return None
    return int(stamp.timestamp()) * 1000 + _fraction_ms(d.group(7))


# ------------------------------------------------------------------------------------ helpers
def parse_uid(text: str) -> int | None:
    """``UserHandle.formatUid`` back to a uid: ``u0a111``, ``u10i5``, ``u0s1000``, ``10111``."""
    t = text.strip()
    if t.isascii() and t.isdigit():
        return _to_int(t)
    if len(t) < 4 or t[0] != "u" or not t.isascii():
        return None
    for kind, base in (("a", 10_000), ("i", 99_000), ("s", 0)):
        user, sep, num = t[1:].partition(kind)
        if sep and user.isdigit() and num.isdigit() and len(user) <= 6 and len(num) <= 6:
            return int(user) * PER_USER_RANGE + base + int(num)
    return None


def short_component(text: str) -> str | None:
    """``{pkg/full.Class}`` or ``pkg/.Cls`` -> ``pkg/.Cls`` (``flattenToShortString``); None for
    text that is not a component (a bare process name, ``NULL``, empty)."""
    t = text.strip()
    if t.startswith("{"):
        t = t[1:]
    if t.endswith("}"):
        t = t[:-1]
    pkg, sep, cls = t.partition("/")
    pkg, cls = pkg.strip(), cls.strip()
    if not sep or not pkg or not cls or " " in pkg:
        return None
    if cls.startswith(pkg + ".") and len(cls) > len(pkg) + 1:
        cls = cls[len(pkg) :]
    return f"{pkg}/{cls}"[:_FIELD_MAX]


def _fields(payload: str) -> list[str]:
    """An event payload ``[a,b,c]`` as fields; a cut payload (1023 bytes) lacks the ``]``."""
    p = payload.strip()
    if p.startswith("["):
        p = p[1:]
    if p.endswith("]"):
        p = p[:-1]
    return p.split(",")


def _cut(text: str) -> str:
    return text[:_FIELD_MAX]


_MULTI_WORD_TYPES: Final = ("content provider", "added application", "link fail")
"""Hosting types with a space (``HostingRecord``); others are one word."""


def _split_hosting(text: str) -> tuple[str, str]:
    """``TYPE NAME`` -> (type, name); the type may be empty (``for  {pkg/Cls}``)."""
    for t in _MULTI_WORD_TYPES:
        if text == t or text.startswith(t + " "):
            return t, text[len(t) + 1 :]
    htype, _, name = text.partition(" ")
    return htype, name


# ------------------------------------------------------------------------------------ messages
class _Malformed(Exception):
    """A line of a tag read here whose message could not be read."""


_SYSTEM_TAGS: Final = frozenset({"ActivityManager", "ActivityTaskManager"})
_EVENT_TAGS: Final = frozenset({"am_proc_start", "am_proc_died", "am_kill"})


def _decode(entry: LogLine) -> LogRecord | None:
    """The record a line carries; None for a line of another tag or another message."""
    tag = entry.tag
    msg = entry.message[:_MESSAGE_MAX]
    if tag == "am_proc_start":
        return _proc_start_event(entry, msg)
    if tag == "am_proc_died":
        return _proc_died_event(entry, msg)
    if tag == "am_kill":
        return _kill_event(entry, msg)
    if tag.startswith("boot_progress_"):
        return BootMarker(entry.time_ms, entry.stamp, _cut(tag[14:]), _to_int(msg))
    if tag in _SYSTEM_TAGS:
        if msg.startswith("Start proc "):
            return _start_proc_line(entry, msg[11:])
        if msg.startswith("START u"):
            return _activity_start(entry, msg)
        if msg.startswith("Killing "):
            return _killing_line(entry, msg[8:])
        if msg.startswith("Process ") and " has died" in msg:
            return _died_line(entry, msg)
    return None


def _proc_start_event(entry: LogLine, msg: str) -> ProcessStart:
    f = _fields(msg)
    if len(f) >= 6 and all(_to_int(x) is not None for x in f[:3]):
        user, pid, uid = (_to_int(x) for x in f[:3])
        rest = f[3:]
    elif len(f) == 5 and _to_int(f[0]) is not None and _to_int(f[1]) is not None:
        pid, uid = _to_int(f[0]), _to_int(f[1])  # before 4.2: no user field
        user = None if uid is None else uid // PER_USER_RANGE
        rest = f[2:]
    else:
        raise _Malformed("am_proc_start needs [user,pid,uid,process,type,component]")
    # A comma in a process name (or a cut payload) shifts fields: the component is the field
    # that opens with "{" (Q+), else the last one.
    k = next((i for i in range(2, len(rest)) if rest[i].startswith("{")), len(rest) - 1)
    process = ",".join(rest[: k - 1])
    if pid is None or pid <= 0 or not process:
        raise _Malformed("am_proc_start without a pid or process name")
    return ProcessStart(
        entry.time_ms,
        entry.stamp,
        pid,
        uid,
        user,
        _cut(process),
        _cut(rest[k - 1].strip()),
        short_component(",".join(rest[k:])),
        sources=frozenset({"am_proc_start"}),
    )


def _start_proc_line(entry: LogLine, s: str) -> ProcessStart:
    if s[:1].isdigit():
        # O+: "PID:PROC/UID[ [ENTRY]] for TYPE[ NAME]"
        pid_text, _, rest = s.partition(":")
        head, sep, tail = rest.partition(" for ")
        if not sep:
            raise _Malformed("Start proc without ' for '")
        entry_point = None
        if " [" in head:
            head, _, entry_text = head.partition(" [")
            entry_point = _cut(entry_text.rstrip("]"))
        process, _, uid_text = head.rpartition("/")
        pid = _to_int(pid_text)
        uid = parse_uid(uid_text)
    else:
        # Before O: "PROC for TYPE NAME: pid=N uid=N gids={...}"
        head, sep, tail = s.partition(" for ")
        tail, sep2, ids = tail.rpartition(": pid=")
        if not sep or not sep2:
            raise _Malformed("Start proc without ' for ' or ': pid='")
        process, entry_point = head, None
        words = ids.split(" ")
        pid = _to_int(words[0])
        uid_word = next((w for w in words if w.startswith("uid=")), "")
        uid = _to_int(uid_word[4:]) if uid_word else None
    if pid is None or pid <= 0 or not process:
        raise _Malformed("Start proc without a pid or process name")
    htype, name = _split_hosting(tail)
    return ProcessStart(
        entry.time_ms,
        entry.stamp,
        pid,
        uid,
        None if uid is None else uid // PER_USER_RANGE,
        _cut(process),
        _cut(htype),
        short_component(name),
        entry_point,
        frozenset({"Start proc"}),
    )


def _proc_died_event(entry: LogLine, msg: str) -> ProcessDied:
    f = _fields(msg)
    if len(f) < 3 or _to_int(f[0]) is None or _to_int(f[1]) is None:
        raise _Malformed("am_proc_died needs [user,pid,process,...]")
    tail = f[3:]
    if len(f) > 5 and all(_to_int(x) is not None for x in f[-2:]):
        name, tail = ",".join(f[2:-2]), f[-2:]  # a comma in the process name
    else:
        name = f[2]
    pid = _to_int(f[1])
    assert pid is not None
    return ProcessDied(
        entry.time_ms,
        entry.stamp,
        pid,
        _cut(name),
        _to_int(f[0]),
        _to_int(tail[0]) if tail else None,
        _to_int(tail[1]) if len(tail) > 1 else None,
    )


def _kill_event(entry: LogLine, msg: str) -> ProcessKilled:
    f = _fields(msg)
    if len(f) < 4 or _to_int(f[0]) is None or _to_int(f[1]) is None:
        raise _Malformed("am_kill needs [user,pid,process,adj,reason]")
    first = next((i for i in range(4, len(f)) if _to_int(f[i]) is None), None)
    reason_fields = f[first:] if first is not None else []
    if len(reason_fields) > 1 and _to_int(reason_fields[-1]) is not None:
        reason_fields = reason_fields[:-1]  # V's trailing Rss
    pid = _to_int(f[1])
    assert pid is not None
    return ProcessKilled(
        entry.time_ms,
        entry.stamp,
        pid,
        _cut(f[2]),
        _cut(",".join(reason_fields)),
        user=_to_int(f[0]),
        oom_adj=_to_int(f[3]),
    )


def _killing_line(entry: LogLine, s: str) -> ProcessKilled:
    pid_text, _, rest = s.partition(":")
    head, sep, reason = rest.partition("): ")
    proc_uid, sep2, adj = head.partition(" (adj ")
    process, _, uid_text = proc_uid.rpartition("/")
    pid = _to_int(pid_text)
    if not sep or not sep2 or pid is None or not process:
        raise _Malformed("Killing line is not 'PID:PROC/UID (adj N): REASON'")
    uid = parse_uid(uid_text)
    return ProcessKilled(
        entry.time_ms,
        entry.stamp,
        pid,
        _cut(process),
        _cut(reason),
        user=None if uid is None else uid // PER_USER_RANGE,
        uid=uid,
        oom_adj=_to_int(adj),
    )


_DIED = re.compile(r"Process (\S{1,512}) \(pid (\d{1,10})\) has died")


def _died_line(entry: LogLine, msg: str) -> ProcessDied | None:
    m = _DIED.match(msg)
    if m is None:
        return None  # other "Process ..." messages of ActivityManager
    return ProcessDied(entry.time_ms, entry.stamp, int(m.group(2)), m.group(1))


_START = re.compile(r"START u(\d{1,6}) \{")
_PAREN = re.compile(r"\(([^()]{0,200})\)")
_RESULT = re.compile(r"result code=(-?\d{1,10})")
_LAUNCHER = "android.intent.category.LAUNCHER"
_MAIN = "android.intent.action.MAIN"


def _activity_start(entry: LogLine, msg: str) -> ActivityStart | None:
    m = _START.match(msg)
    if m is None:
        return None
    at = msg.rfind(" from uid ")
    by_pid = at < 0
    if by_pid:
        at = msg.rfind(" from pid ")  # Android 4.x
        if at < 0:
            raise _Malformed("START line without 'from uid'")
    before, after = msg[m.end() : at], msg[at + 10 :]
    launch_mode = None
    if before.endswith("}"):
        intent = before[:-1]
    else:
        cut = before.rfind("} with ")
        if cut < 0:
            raise _Malformed("START line's intent does not end with '}'")
        intent, launch_mode = before[:cut], _cut(before[cut + 7 :])
    number = after.split(" ", 1)[0]
    caller = _to_int(number)
    if caller is None:
        raise _Malformed("START line's caller is not a number")
    caller_package = real = bal = None
    for group in _PAREN.findall(after):
        if group.startswith("realCallingUid="):
            real = _to_int(group[15:])
        elif group.startswith("BAL_"):
            bal = _cut(group)
        elif group and "=" not in group and " " not in group:
            caller_package = _cut(group)
    result = _RESULT.search(after)
    action = component = package = None
    categories: tuple[str, ...] = ()
    flags = None
    bounds = False
    for word in intent.split(" "):
        if word.startswith("act="):
            action = _cut(word[4:])
        elif word.startswith("cat=["):
            categories = tuple(_cut(c) for c in word[5:].rstrip("]").split(",") if c)[:16]
        elif word.startswith("flg=0x"):
            try:
                flags = int(word[6:14], 16)
            except ValueError:
                flags = None
        elif word.startswith("cmp="):
            component = short_component(word[4:])
        elif word.startswith("pkg="):
            package = _cut(word[4:])
        elif word.startswith("bnds=["):
            bounds = True
    if component is not None:
        package = component.split("/", 1)[0]
    return ActivityStart(
        entry.time_ms,
        entry.stamp,
        int(m.group(1)),
        component,
        package,
        None if by_pid else caller,
        caller if by_pid else None,
        caller_package,
        real,
        action,
        categories,
        flags,
        bounds,
        action == _MAIN and _LAUNCHER in categories and bounds,
        launch_mode,
        bal,
        None if result is None else int(result.group(1)),
    )


# ------------------------------------------------------------------------------------ readers
class EventLogReader:
    """Reads a logcat stream line by line: each :meth:`feed` returns the line's record, if any.

    Pure (no I/O) and bounded: a start seen in both buffers is returned once (the second view
    is counted as ``merged``), using the last :data:`_RECENT_PIDS` starts. Counts and warnings
    accumulate; :attr:`last_time_ms` is the newest epoch time seen on any line, in the clock's
    new time once it went back (where to resume with ``logcat -T`` after a reconnect).
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "lines",
                "records",
                "merged",
                "ignored",
                "unknown",
                "malformed",
                "spoofed",
                "dividers",
            ),
            0,
        )
        self._warnings = Warnings()
        self._recent: OrderedDict[int, ProcessStart] = OrderedDict()
        self.last_time_ms: int | None = None
        self.last_merged: ProcessStart | None = None
        """The second view the last :meth:`feed` merged away (None if it merged nothing)."""

    @property
    def counts(self) -> EventLogCounts:
        return EventLogCounts(**self._counts)

    @property
    def warnings(self) -> tuple[ParseWarning, ...]:
        return self._warnings.result()

    def feed(self, line: str) -> LogRecord | None:
        """The record of one line (no trailing newline needed); never raises."""
        c = self._counts
        c["lines"] += 1
        self.last_merged = None
        if line.startswith("--------- "):
            c["dividers"] += 1
            return None
        entry = split_line(line[: _MESSAGE_MAX + 256])
        if entry is None:
            c["unknown"] += 1
            return None
        if entry.time_ms is not None and (
            self.last_time_ms is None
            or entry.time_ms > self.last_time_ms
            # The phone's clock went back (a few ms out of order is two buffers interleaving):
            # the newest line is now in the new time, where a resumed stream must start.
            or entry.time_ms < self.last_time_ms - CLOCK_STEP_BACK_MS
        ):
            self.last_time_ms = entry.time_ms
        if (
            entry.tag not in _EVENT_TAGS
            and entry.tag not in _SYSTEM_TAGS
            and not (entry.tag.startswith("boot_progress_"))
        ):
            c["ignored"] += 1
            return None
        try:
            record = _decode(entry)
        except _Malformed as exc:
            c["malformed"] += 1
            self._warnings.add(c["lines"], line, str(exc))
            return None
        if record is None:
            c["ignored"] += 1
            return None
        if entry.uid_shown and entry.uid not in _TRUSTED_WRITERS:
            c["spoofed"] += 1
            return None
        if isinstance(record, ProcessStart):
            if self._seen(record):
                c["merged"] += 1
                return None
        elif isinstance(record, ProcessDied | ProcessKilled):
            self._recent.pop(record.pid, None)
        elif isinstance(record, BootMarker) and record.stage == "start":
            self._recent.clear()  # pids start over at boot
        c["records"] += 1
        return record

    def _seen(self, start: ProcessStart) -> bool:
        """Whether ``start`` is the second view of a start already returned (and remember it)."""
        known = self._recent.get(start.pid)
        if known is not None and _same_start(known, start):
            self._recent[start.pid] = merge_starts(known, start)
            self.last_merged = start
            return True
        self._recent[start.pid] = start
        self._recent.move_to_end(start.pid)
        while len(self._recent) > _RECENT_PIDS:
            self._recent.popitem(last=False)
        return False


def _same_start(a: ProcessStart, b: ProcessStart) -> bool:
    if a.process != b.process or a.sources == b.sources:
        return False
    if a.time_ms is None or b.time_ms is None:
        return True
    return abs(a.time_ms - b.time_ms) <= _MERGE_WINDOW_MS


def parse_eventlog(text: str) -> Parsed[EventLog]:
    """Parse captured logcat text (any format above) into its start records, in order.

    A start seen in both buffers is one record, where the first view was, whose ``sources``
    name both views and whose fields come from ``am_proc_start`` where both have them.
    """
    reader = EventLogReader()
    records: list[LogRecord] = []
    index: dict[int, int] = {}
    for line in lines_of(text):
        record = reader.feed(line)
        if record is None:
            other = reader.last_merged
            at = None if other is None else index.get(other.pid)
            if other is not None and at is not None:
                first = records[at]
                assert isinstance(first, ProcessStart)
                records[at] = merge_starts(first, other)
            continue
        if isinstance(record, ProcessStart):
            index[record.pid] = len(records)
        records.append(record)
    return Parsed(EventLog(tuple(records), reader.counts), reader.warnings)


def merge_starts(a: ProcessStart, b: ProcessStart) -> ProcessStart:
    """One record of two views of the same start: ``am_proc_start``'s fields first, gaps filled
    from the other, both sources named."""
    main, other = (
        (b, a) if "am_proc_start" in b.sources and "am_proc_start" not in a.sources else (a, b)
    )
    return replace(
        main,
        time_ms=a.time_ms if a.time_ms is not None else b.time_ms,
        stamp=a.stamp or b.stamp,
        uid=main.uid if main.uid is not None else other.uid,
        user=main.user if main.user is not None else other.user,
        component=main.component or other.component,
        entry_point=main.entry_point or other.entry_point,
        sources=a.sources | b.sources,
    )
