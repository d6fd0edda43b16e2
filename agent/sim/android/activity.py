"""Process and activity surfaces of a simulated phone: ``logcat``, ``am``, ``dumpsys activity``,
``ps`` and ``cmd notification``, printed exactly as Android 9-15 prints them.

This module owns how the event log and the activity manager *look*; what happened lives in
:class:`~agent.sim.state.DeviceState` (``events``, ``processes``, standby buckets, notifications).
The agent's autostart and associated-start detection reads these outputs, so every line shape
follows the AOSP source of the version simulated (``reg.state.build.sdk``):

* ``logcat`` - ``system/logging/logcat/logcat.cpp`` (three generations: P/Q ``logcat_panic``,
  R's rewrite, S+ with the ``argv[optind]`` error message) and ``liblog/logprint.cpp`` (the
  ``%19lld`` epoch column, ``%5d %5d`` pid/tid, ``%-8s`` tag, one prefix per message line).
* event payloads - ``am``/``wm``/``android.app`` ``EventLogTags.logtags`` per release: the
  activity tags moved from ``am_`` to ``wm_`` in Q; ``am_proc_start`` keeps six fields on every
  release, but its component is ``flattenToShortString()`` on P and ``{pkg/full.Class}``
  (``HostingRecord`` + ``ComponentName.toShortString()``) from Q; ``am_kill`` gains ``Rss`` on V.
* ``am`` - ``ActivityManagerShellCommand`` and ``BasicShellCommandHandler`` (error texts,
  ``Exception occurred while executing``, exit status 255 for ``-1``).
* ``dumpsys activity`` - ``processes`` (``*APP* UID ... ProcessRecord{hash pid:proc/u0aNN}``)
  and ``services``: no release logs who started or bound a service, so the binding client
  (``* Client AppBindRecord{... ProcessRecord{...}}``) and, from R, ``recentCallingPackage=``
  are where an associated start shows.
* ``cmd notification`` - ``NotificationShellCmd`` (``post`` exists from Q).
* ``ps`` - toybox ``ps -A`` columns, with toybox's overflow/reclaim padding.

Text lines of the ``main``/``system`` buffers come from two places: records written with
:meth:`DeviceState.log` (for instance the ``START u0 {...} from uid N`` line that
:func:`start_activity` writes) and lines system_server prints next to an event
(``Start proc ...`` after ``am_proc_start``, ``Killing ...`` after ``am_kill``), which are
derived here so that every process start, whoever caused it, shows both.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from agent.sim.android import Registry
from agent.sim.shell import ShellIO
from agent.sim.state import APP_ID_START, PER_USER_RANGE, DeviceState, EventRecord, Process

__all__ = [
    "format_uid",
    "hosting_component",
    "install",
    "short_component",
    "start_activity",
]

SHELL_UID: Final = 2000
_SHELL_PACKAGE: Final = "com.android.shell"
SYSTEM_SERVER_PID: Final = 1000
"""The simulated system_server pid; DeviceState.emit() writes AM events with pid 1000 too."""
ZYGOTE_PID: Final = 600
ADBD_PID: Final = 900
SHELL_PID: Final = 31000
"""The ``sh`` that adbd spawned for this command; ``ps`` runs as its child."""

# ------------------------------------------------------------------------------------ naming

_AID_NAMES: Final = {
    0: "root",
    1000: "system",
    1001: "radio",
    1002: "bluetooth",
    1010: "wifi",
    1013: "media",
    1036: "logd",
    1041: "audioserver",
    1047: "cameraserver",
    2000: "shell",
    9999: "nobody",
}


def format_uid(uid: int) -> str:
    """``UserHandle.formatUid``: ``u0a123`` for apps, ``u0i5`` isolated, plain number for AIDs."""
    if uid < APP_ID_START:
        return str(uid)
    user, app_id = divmod(uid, PER_USER_RANGE)
    if 99_000 <= app_id <= 99_999:
        return f"u{user}i{app_id - 99_000}"
    if app_id >= APP_ID_START:
        return f"u{user}a{app_id - APP_ID_START}"
    return f"u{user}s{app_id}"


def _user_name(uid: int) -> str:
    """bionic's getpwuid name, as ``ps`` prints it (``u0_a123``, ``system``)."""
    user, app_id = divmod(uid, PER_USER_RANGE)
    if APP_ID_START <= app_id < 20_000:
        return f"u{user}_a{app_id - APP_ID_START}"
    if 99_000 <= app_id <= 99_999:
        return f"u{user}_i{app_id - 99_000}"
    name = _AID_NAMES.get(app_id)
    if name is None:
        return str(uid)
    return name if user == 0 else f"u{user}_{name}"


def _split_component(component: str) -> tuple[str, str] | None:
    text = component.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    pkg, sep, cls = text.partition("/")
    if not sep or not pkg or not cls:
        return None
    if cls.startswith("."):
        cls = pkg + cls
    return pkg, cls


def short_component(component: str) -> str:
    """``ComponentName.flattenToShortString()``: ``pkg/.Cls`` when the class is in the package."""
    parts = _split_component(component)
    if parts is None:
        return component
    pkg, cls = parts
    if cls.startswith(pkg + ".") and len(cls) > len(pkg) + 1:
        cls = cls[len(pkg) :]
    return f"{pkg}/{cls}"


def _brace_component(component: str) -> str:
    """``ComponentName.toShortString()``: ``{pkg/full.Class}`` (no abbreviation)."""
    parts = _split_component(component)
    return component if parts is None else "{" + parts[0] + "/" + parts[1] + "}"


def hosting_component(component: str, sdk: int) -> str:
    """The component as ``am_proc_start`` and ``Start proc`` print it on ``sdk``.

    P builds the hosting name with ``flattenToShortString()``; Q introduced ``HostingRecord``,
    which stores ``ComponentName.toShortString()`` - braces and the full class name.
    """
    return short_component(component) if sdk < 29 else _brace_component(component)


def _class_name(component: str) -> str:
    parts = _split_component(component)
    return component if parts is None else parts[1]


def _pseudo_hash(*seed: int) -> int:
    """A stable stand-in for ``System.identityHashCode`` (seven or eight hex digits)."""
    h = 0x811C9DC5
    for s in seed:
        h = ((h ^ (s & 0xFFFFFFFF)) * 0x01000193) & 0xFFFFFFFF
    return (h & 0x7FFFFFF) | 0x1000000


# ---------------------------------------------------------------------------- event payloads

# Activity lifecycle tags that moved from am/EventLogTags to wm/EventLogTags (and the client
# side android.app tags) when ActivityTaskManager was split out in Q. Same numbers, new names.
_AM_TO_WM: Final = {
    f"am_{n}": f"wm_{n}"
    for n in (
        "finish_activity",
        "task_to_front",
        "new_intent",
        "create_task",
        "create_activity",
        "restart_activity",
        "resume_activity",
        "activity_launch_time",
        "failed_to_pause",
        "pause_activity",
        "destroy_activity",
        "relaunch_resume_activity",
        "relaunch_activity",
        "on_paused_called",
        "on_resume_called",
        "set_resumed_activity",
        "stop_activity",
        "on_stop_called",
    )
}
_WM_TO_AM: Final = {v: k for k, v in _AM_TO_WM.items()}


def _event_tag(tag: str, sdk: int) -> str:
    if sdk >= 29:
        return _AM_TO_WM.get(tag, tag)
    return _WM_TO_AM.get(tag, tag)


def _event_values(tag: str, values: Sequence[object], sdk: int) -> list[object]:
    """The payload ``sdk`` writes for ``tag``, from the values the state recorded."""
    out = list(values)
    if tag == "am_proc_start" and len(out) >= 6 and isinstance(out[5], str):
        out[5] = hosting_component(out[5], sdk)
    elif tag == "am_kill":
        # (User),(PID),(Process Name),(OomAdj),(Reason) through U; V appends (Rss|2|2).
        base = out[:5]
        if sdk >= 35:
            pid = out[1] if len(out) > 1 and isinstance(out[1], int) else 0
            base.append(out[5] if len(out) > 5 else 40_000 + _pseudo_hash(pid, 5) % 90_000)
        out = base
    return out


def _event_scalar(value: object) -> str:
    if value is None:
        return "NULL"  # EventLog.writeEvent writes a null String as "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


_EVENT_MSG_MAX: Final = 1023
"""logcat decodes a binary event into a 1024-byte buffer; longer payloads are cut."""


def _event_payload(tag: str, values: Sequence[object], sdk: int) -> str:
    vals = _event_values(tag, values, sdk)
    if len(vals) == 1:
        text = _event_scalar(vals[0])
    else:
        text = "[" + ",".join(_event_scalar(v) for v in vals) + "]"
    raw = text.encode()
    if len(raw) > _EVENT_MSG_MAX:
        text = raw[:_EVENT_MSG_MAX].decode(errors="ignore")
    return text


# ------------------------------------------------------------------------------- log entries


class _Entry(NamedTuple):
    """One logd entry as logcat receives it (buffer, header, message)."""

    buffer: str
    priority: str
    tag: str
    pid: int
    tid: int
    uid: int
    time_ms: int
    message: str


_BUFFERS: Final = ("main", "radio", "events", "system", "crash", "stats", "security", "kernel")
"""logd buffer names in log-id order (the order logcat iterates and names them)."""

_TEXT_MAX: Final = 4068
"""LOGGER_ENTRY_MAX_PAYLOAD: logd truncates longer text entries."""


class _Renderer:
    """Turns state records into logd entries; remembers pid -> uid for lines after a death."""

    def __init__(self, state: DeviceState) -> None:
        self.state = state
        self.uids: dict[int, int] = {}

    def uid_of(self, pid: int) -> int:
        if pid == 0:
            return 0
        if pid == SYSTEM_SERVER_PID:
            return 1000
        proc = self.state.processes.get(pid)
        if proc is not None:
            return proc.uid
        return self.uids.get(pid, 1000)

    def _uid_for_name(self, user: int, name: str) -> int | None:
        pkg = self.state.packages.get(name.split(":", 1)[0])
        return None if pkg is None else pkg.uid(user)

    def entries(self, rec: EventRecord) -> list[_Entry]:
        sdk = self.state.build.sdk
        if rec.buffer != "events":
            message = str(rec.values[0]) if rec.values else ""
            raw = message.encode()
            if len(raw) > _TEXT_MAX - len(rec.tag) - 2:
                message = raw[: _TEXT_MAX - len(rec.tag) - 2].decode(errors="ignore")
            return [
                _Entry(
                    rec.buffer,
                    rec.priority,
                    rec.tag,
                    rec.pid,
                    rec.tid,
                    self.uid_of(rec.pid),
                    rec.time_ms,
                    message,
                )
            ]
        tag = _event_tag(rec.tag, sdk)
        out = [
            _Entry(
                "events",
                "I",
                tag,
                rec.pid,
                rec.tid,
                self.uid_of(rec.pid),
                rec.time_ms,
                _event_payload(rec.tag, rec.values, sdk),
            )
        ]
        v = rec.values
        # system_server's companion lines (ProcessList "Start proc", ProcessRecord.kill).
        if rec.tag == "am_proc_start" and len(v) >= 6 and _ints(v[1], v[2]):
            pid, uid = int(str(v[1])), int(str(v[2]))
            self.uids[pid] = uid
            line = f"Start proc {pid}:{v[3]}/{format_uid(uid)} for {v[4]}"
            if v[5]:
                line += f" {hosting_component(str(v[5]), sdk)}"
            out.append(_am_line(rec, line))
        elif rec.tag == "am_kill" and len(v) >= 5 and _ints(v[0], v[1]):
            pid = int(str(v[1]))
            known = self.uids.get(pid) or self._uid_for_name(int(str(v[0])), str(v[2]))
            if known is not None:
                uid = known
                line = f"Killing {pid}:{v[2]}/{format_uid(uid)} (adj {v[3]}): {v[4]}"
                out.append(_am_line(rec, line))
        return out


def _ints(*values: object) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _am_line(rec: EventRecord, message: str) -> _Entry:
    # ActivityManager logs from its own handler thread, not the binder thread of the event.
    return _Entry(
        "system",
        "I",
        "ActivityManager",
        SYSTEM_SERVER_PID,
        SYSTEM_SERVER_PID + 65,
        1000,
        rec.time_ms,
        message,
    )


# ------------------------------------------------------------------------ logprint formatting

_VERBS: Final = frozenset(
    {"brief", "process", "tag", "thread", "raw", "time", "threadtime", "long"}
)
_ADVERBS: Final = frozenset(
    {
        "color",
        "colour",
        "usec",
        "nsec",
        "printable",
        "UTC",
        "year",
        "zone",
        "epoch",
        "monotonic",
        "uid",
        "descriptive",
    }
)
_COLORS: Final = {"V": 231, "D": 75, "I": 40, "W": 166, "E": 196, "F": 196, "S": 226}


@dataclass
class _Format:
    verb: str = "threadtime"
    adverbs: set[str] = field(default_factory=set)
    tz: dt.tzinfo = dt.UTC
    """persist.sys.timezone of the simulated phones is UTC; ``-v Area/City`` overrides it."""

    def set(self, word: str) -> int:
        """``android_log_setPrintFormat``: 1 for a verb, 0 for an adverb, -1 if invalid."""
        if word in _VERBS:
            self.verb = word
            return 1
        if word in _ADVERBS:
            self.adverbs.add("color" if word == "colour" else word)
            if word == "UTC":
                self.tz = dt.UTC
            return 0
        if "/" in word or word.isalpha():
            # logprint accepts a time zone name when tzset() knows it.
            try:
                self.tz = zoneinfo.ZoneInfo(word)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                return -1
            self.adverbs.add("zone-name")
            return 0
        return -1


def _time_buf(fmt: _Format, time_ms: int, boot_ms: int) -> str:
    a = fmt.adverbs
    if "monotonic" in a:
        sec, ms = divmod(max(time_ms - boot_ms, 0), 1000)
        text = f"{sec:6d}"
        stamp = None
    else:
        sec, ms = divmod(time_ms, 1000)
        stamp = dt.datetime.fromtimestamp(sec, fmt.tz)
        if "epoch" in a:
            text = f"{sec:19d}"
            stamp = None
        else:
            text = stamp.strftime("%Y-%m-%d %H:%M:%S" if "year" in a else "%m-%d %H:%M:%S")
    if "nsec" in a:
        text += f".{ms * 1_000_000:09d}"
    elif "usec" in a:
        text += f".{ms * 1000:06d}"
    else:
        text += f".{ms:03d}"
    if "zone" in a and stamp is not None:
        text += stamp.strftime(" %z")
    return text


def _printable(text: str) -> str:
    """``-v printable``: escape control characters the way logprint's convertPrintable does."""
    named = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\v": "\\v", "\f": "\\f", "\r": "\\r"}
    out: list[str] = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch in named:
            out.append(named[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):o}")
        else:
            out.append(ch)
    return "".join(out)


def format_entry(entry: _Entry, fmt: _Format, boot_ms: int) -> str:
    """``android_log_formatLogLine``: the header once per message line, as logcat prints it."""
    pri, tag, pid, tid = entry.priority, entry.tag, entry.pid, entry.tid
    uid = ""
    if "uid" in fmt.adverbs:
        name = _AID_NAMES.get(entry.uid)
        uid = f"{name:>5}:" if name is not None and len(name) <= 5 else f"{entry.uid:5d}:"
    prefix = suffix = ""
    if "color" in fmt.adverbs:
        prefix = f"\x1b[38;5;{_COLORS.get(pri, 231)}m"
        suffix = "\x1b[0m"
    verb = fmt.verb
    message = entry.message
    if verb == "long":
        head = (
            f"{prefix}[ {_time_buf(fmt, entry.time_ms, boot_ms)} {uid}{pid:5d}:{tid:5d} "
            f"{pri}/{tag:<8} ]\n"
        )
        body = _printable(message) if "printable" in fmt.adverbs else message
        return head + body + suffix + "\n\n"
    if verb == "tag":
        head = f"{pri}/{tag:<8}: "
    elif verb == "process":
        head = f"{pri}({uid}{pid:5d}) "
        suffix += f"  ({tag})"
    elif verb == "thread":
        head = f"{pri}({uid}{pid:5d}:{tid:5d}) "
    elif verb == "raw":
        head = ""
    elif verb == "time":
        head = f"{_time_buf(fmt, entry.time_ms, boot_ms)} {pri}/{tag:<8}({uid}{pid:5d}): "
    elif verb == "threadtime":
        uid = uid.replace(":", " ", 1)
        head = f"{_time_buf(fmt, entry.time_ms, boot_ms)} {uid}{pid:5d} {tid:5d} {pri} {tag:<8}: "
    else:  # brief
        head = f"{pri}/{tag:<8}({uid}{pid:5d}): "
    lines = message.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # a trailing newline does not make an empty line
    if "printable" in fmt.adverbs:
        lines = [_printable(line) for line in lines]
    return "".join(f"{prefix}{head}{line}{suffix}\n" for line in lines)


# --------------------------------------------------------------------------------- filtering

_PRIORITIES: Final = "??VDIWEFS"  # index = android_LogPriority


def _pri_from_char(ch: str) -> int | None:
    if ch.isdigit():
        n = int(ch)
        return 2 if n >= 8 else n
    if ch == "*":
        return 1  # ANDROID_LOG_DEFAULT: below everything, so all lines pass
    idx = _PRIORITIES.find(ch.upper())
    return idx if idx >= 2 else None


@dataclass
class _Filter:
    default: int = 2
    rules: dict[str, int] = field(default_factory=dict)

    def add(self, expression: str) -> bool:
        """``android_log_addFilterString``: whitespace-separated ``tag[:pri]`` rules."""
        for word in expression.split():
            tag, colon, pri = word.partition(":")
            if colon:
                value = _pri_from_char(pri) if len(pri) == 1 else None
                if value is None:
                    return False
            else:
                value = 3 if tag == "*" else 2  # '*' alone means '*:D', a tag alone tag:V
            if tag == "*":
                self.default = value
            else:
                self.rules[tag] = value
        return True

    def passes(self, tag: str, priority: str) -> bool:
        return _PRIORITIES.index(priority) >= self.rules.get(tag, self.default)


# -------------------------------------------------------------------------- logcat: options


class _LogcatError(Exception):
    """logcat exits with status 1 after printing ``text`` to stderr."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


_SHORT_OPTS: Final = "cdDhLt:T:gG:sQf:r:n:v:b:BSpP:m:e:"
_LONG_OPTS: Final = {
    # name: (short equivalent or the long name itself, "no" | "req" | "opt")
    "binary": ("B", "no"),
    "buffer": ("b", "req"),
    "buffer-size": ("g", "opt"),
    "clear": ("c", "no"),
    "debug": ("debug", "no"),
    "dividers": ("D", "no"),
    "file": ("f", "req"),
    "format": ("v", "req"),
    "grep": ("e", "req"),
    "head": ("m", "req"),
    "help": ("h", "no"),
    "id": ("id", "req"),
    "last": ("L", "no"),
    "max-count": ("m", "req"),
    "pid": ("pid", "req"),
    "print": ("print", "no"),
    "prune": ("p", "opt"),
    "regex": ("e", "req"),
    "rotate-count": ("n", "req"),
    "rotate-kbytes": ("r", "req"),
    "statistics": ("S", "no"),
    "tail": ("t", "req"),
    "wrap": ("wrap", "opt"),
}


def _long_opts(sdk: int) -> dict[str, tuple[str, str]]:
    opts = dict(_LONG_OPTS)
    if sdk >= 31:
        opts["uid"] = ("uid", "req")
    if sdk >= 35:
        opts["proto"] = ("proto", "no")
    return opts


class _Getopt:
    """bionic ``getopt_long`` with a leading ``:`` (silent errors), arguments in order.

    Yields ``(option, argument)``; unknown options and missing arguments raise with what
    logcat then prints, which needs ``optind``/``optopt`` as getopt leaves them.
    """

    def __init__(self, argv: list[str], sdk: int) -> None:
        self.argv = argv
        self.sdk = sdk
        self.operands: list[str] = []

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return self._run()

    def _unknown(self, optind: int, optopt: str) -> _LogcatError:
        argv = self.argv
        if self.sdk <= 29:
            # logcat_panic(HELP_TRUE, "Unrecognized Option %c\n", optopt): optopt is NUL
            # for an unknown long option, and the usage follows on stderr.
            return _LogcatError(f"Unrecognized Option {optopt or chr(0)}\n" + _usage(self.sdk))
        shown = argv[optind - 1] if self.sdk == 30 else _argv_at(argv, optind)
        return _LogcatError(f"logcat: Unknown option '{shown}'.\n")

    def _missing(self, optind: int, optopt: str) -> _LogcatError:
        if self.sdk <= 29:
            # optopt is the option's short letter; long-only options have none (NUL).
            letter = optopt if len(optopt) == 1 else chr(0)
            return _LogcatError(f"Option -{letter} needs an argument\n" + _usage(self.sdk))
        return _LogcatError(f"logcat: Option '{self.argv[optind - 1]}' needs an argument.\n")

    def _run(self) -> Iterator[tuple[str, str | None]]:
        argv, longs = self.argv, _long_opts(self.sdk)
        i = 1
        while i < len(argv):
            arg = argv[i]
            if arg == "--":
                self.operands.extend(argv[i + 1 :])
                return
            if arg.startswith("--"):
                name, eq, value = arg[2:].partition("=")
                matches = [n for n in longs if n == name] or [
                    n for n in longs if n.startswith(name)
                ]
                i += 1
                if len(matches) != 1:
                    raise self._unknown(i, "")
                opt, kind = longs[matches[0]]
                if kind == "no":
                    if eq:
                        raise self._missing(i, opt)
                    yield opt, None
                elif kind == "opt":
                    yield opt, value if eq else None
                elif eq:
                    yield opt, value
                elif i < len(argv):
                    i += 1
                    yield opt, argv[i - 1]
                else:
                    raise self._missing(i, opt)
                continue
            if not arg.startswith("-") or arg == "-":
                self.operands.append(arg)  # bionic permutes: operands may precede options
                i += 1
                continue
            j = 1
            while j < len(arg):
                ch = arg[j]
                j += 1
                pos = _SHORT_OPTS.find(ch)
                if ch == ":" or pos < 0:
                    if j >= len(arg):
                        i += 1
                    raise self._unknown(i, ch)
                takes = pos + 1 < len(_SHORT_OPTS) and _SHORT_OPTS[pos + 1] == ":"
                if not takes:
                    if j >= len(arg):
                        i += 1
                    yield ch, None
                    continue
                if j < len(arg):
                    i += 1
                    yield ch, arg[j:]
                elif i + 1 < len(argv):
                    i += 2
                    yield ch, argv[i - 1]
                else:
                    i += 1
                    raise self._missing(i, ch)
                break


def _argv_at(argv: list[str], index: int) -> str:
    """``printf("%s", argv[optind])``: bionic prints ``(null)`` past the end of argv."""
    return argv[index] if index < len(argv) else "(null)"


_DELIMS: Final = re.compile(r"[,:; \t\n\r\f]+")


def _split_list(text: str) -> list[str]:
    return [part for part in _DELIMS.split(text) if part]


@dataclass
class _LogcatArgs:
    buffers: list[str] = field(default_factory=list)
    fmt: _Format = field(default_factory=_Format)
    verb_set: bool = False
    nonblock: bool = False
    clear: bool = False
    tail_lines: int = 0
    tail_time_ms: int | None = None
    got_t: bool = False
    dividers: bool = False
    regex: re.Pattern[str] | None = None
    max_count: int = 0
    print_anyway: bool = False
    pid: int = 0
    uids: set[int] = field(default_factory=set)
    filters: _Filter = field(default_factory=_Filter)
    help: str = ""
    """``usage`` (R's lone ``--help``), ``full`` (``-h``) or ``format`` (``-v help``, P-R)."""
    unsupported: str = ""
    warnings: list[str] = field(default_factory=list)


def _parse_time(text: str, now: dt.datetime) -> int | None:
    """logcat's parseTime: ``MM-DD hh:mm:ss.mmm``, ``YYYY-MM-DD hh:mm:ss.mmm`` or ``sssss.mmm``."""
    m = re.fullmatch(
        r"(?:(\d{4})-)?(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?", text
    )
    if m:
        year = int(m.group(1) or now.year)
        frac = (m.group(7) or "0")[:3].ljust(3, "0")
        try:
            stamp = dt.datetime(
                year,
                int(m.group(2)),
                int(m.group(3)),
                int(m.group(4)),
                int(m.group(5)),
                int(m.group(6)),
                tzinfo=dt.UTC,
            )
        except ValueError:
            return None
        return int(stamp.timestamp()) * 1000 + int(frac)
    m = re.fullmatch(r"(\d+)\.(\d+)", text)
    if m:
        return int(m.group(1)) * 1000 + int(m.group(2)[:3].ljust(3, "0"))
    return None


def _parse_logcat(args: list[str], env: dict[str, str], state: DeviceState) -> _LogcatArgs:
    sdk = state.build.sdk
    out = _LogcatArgs()
    if args == ["--help"]:
        out.help = "usage" if sdk == 30 else "full"
        return out
    getopt = _Getopt(["logcat", *args], sdk)
    now = dt.datetime.fromtimestamp(state.now_ms() / 1000, dt.UTC)
    for opt, arg in getopt:
        if opt == "h":
            out.help = "full"
            return out
        if opt == "s":
            out.filters.add("*:s")
        elif opt == "c":
            out.clear = True
        elif opt == "d":
            out.nonblock = True
        elif opt in ("t", "T"):
            assert arg is not None
            if opt == "t":
                out.got_t = out.nonblock = True
            if not arg.isdigit():
                when = _parse_time(arg, now)
                if when is None:
                    raise _LogcatError(f"logcat: -{opt} '{arg}' not in time format.\n")
                out.tail_time_ms = when
            else:
                n = int(arg)
                if n < 1:
                    out.warnings.append(f"WARNING: -{opt} {arg} invalid, setting to 1\n")
                    n = 1
                out.tail_lines = n
        elif opt == "D":
            out.dividers = True
        elif opt == "e":
            assert arg is not None
            try:
                out.regex = re.compile(arg)
            except re.error as exc:
                raise _LogcatError(
                    "libc++abi: terminating due to uncaught exception of type "
                    f"std::__1::regex_error: {exc}\n"
                ) from exc
        elif opt == "m":
            assert arg is not None
            if not arg.isdigit() or int(arg) < 1:
                raise _LogcatError(f"logcat: -m '{arg}' isn't an integer greater than zero.\n")
            out.max_count = int(arg)
        elif opt == "b":
            assert arg is not None
            for name in _split_list(arg):
                if name == "default":
                    out.buffers += ["main", "system", "crash"]
                elif name == "all":
                    out.buffers += list(_BUFFERS)
                elif name in _BUFFERS:
                    out.buffers.append(name)
                elif sdk <= 29:
                    raise _LogcatError(f"unknown buffer {name}\n" + _usage(sdk))
                elif sdk == 30:
                    raise _LogcatError(f"logcat: Unknown buffer '{name}' listed for -b.\n")
                else:
                    raise _LogcatError(f"logcat: Unknown -b buffer '{name}'.\n")
        elif opt == "v":
            assert arg is not None
            if sdk <= 30 and arg in ("help", "--help"):
                out.help = "format"
                return out
            for word in _split_list(arg):
                kind = out.fmt.set(word)
                if kind < 0:
                    if sdk <= 29:
                        raise _LogcatError(f'Invalid parameter "{word}" to -v\n' + _FORMAT_HELP)
                    if sdk == 30:
                        raise _LogcatError(f"logcat: Invalid parameter '{word}' to -v.\n")
                    raise _LogcatError(f"logcat: Invalid -v '{word}'.\n")
                out.verb_set = out.verb_set or kind > 0
        elif opt == "pid":
            assert arg is not None
            if out.pid:
                raise _LogcatError("logcat: Only one --pid argument can be provided.\n")
            if not arg.isdigit() or int(arg) < 1:
                raise _LogcatError(f"logcat: pid '{arg}' out of range.\n")
            out.pid = int(arg)
        elif opt == "uid":
            assert arg is not None
            for part in _split_list(arg):
                if not part.isdigit():
                    raise _LogcatError(f"logcat: Unable to parse UID '{part}'\n")
                out.uids.add(int(part))
        elif opt == "print":
            out.print_anyway = True
        elif opt in ("debug", "wrap", "id", "Q"):
            pass  # accepted and irrelevant to a phone without pstore or emulator console
        else:
            # -f/-r/-n (files on the device), -L (pstore), -g/-G/-S/-p/-P (logd control),
            # -B/--proto (binary): real options the simulated phones do not implement.
            out.unsupported = out.unsupported or opt
    if out.max_count and out.got_t:
        raise _LogcatError("logcat: Cannot use -m (--max-count) and -t together.\n")
    if out.print_anyway and (out.regex is None or not out.max_count):
        out.warnings.append(
            "WARNING: --print ignored, to be used in combination with\n"
            "         --regex <expr> and --max-count <N>\n"
        )
        out.print_anyway = False
    if not out.verb_set:
        env_format = env.get("ANDROID_PRINTF_LOG")
        if env_format:
            for word in _split_list(env_format):
                if out.fmt.set(word) > 0:
                    out.verb_set = True
        if not out.verb_set:
            out.fmt.verb = "threadtime"
    if getopt.operands:
        for spec in getopt.operands:
            if not out.filters.add(spec):
                msg = f"Invalid filter expression '{spec}'"
                raise _LogcatError(msg + "\n" + _usage(sdk) if sdk <= 29 else f"logcat: {msg}.\n")
    else:
        env_tags = env.get("ANDROID_LOG_TAGS")
        if env_tags and not out.filters.add(env_tags):
            raise _LogcatError(
                "Invalid filter expression in ANDROID_LOG_TAGS\n" + _usage(sdk)
                if sdk <= 29
                else f"logcat: Invalid filter expression '{env_tags}' in ANDROID_LOG_TAGS.\n"
            )
    if not out.buffers:
        out.buffers = ["main", "system", "crash"] + (["kernel"] if sdk >= 30 else [])
    out.buffers = [b for b in _BUFFERS if b in set(out.buffers)]
    return out


# --------------------------------------------------------------------------- logcat: running

# logcat -c does not delete what other readers (and other modules) see in state.events; it
# hides everything up to the newest record, per buffer, as logd does for later readers.
_CLEARED: weakref.WeakKeyDictionary[DeviceState, dict[str, EventRecord]] = (
    weakref.WeakKeyDictionary()
)


def _clear(state: DeviceState, buffers: Iterable[str]) -> None:
    marks = _CLEARED.setdefault(state, {})
    last = state.events[-1] if state.events else None
    for b in buffers:
        if last is None:
            marks.pop(b, None)
        else:
            marks[b] = last


def _snapshot(state: DeviceState) -> list[tuple[EventRecord, frozenset[str]]]:
    """Records in order, each with the buffers still hidden by ``logcat -c`` at that point."""
    records = list(state.events)
    marks = dict(_CLEARED.get(state, {}))
    present = {id(r) for r in records}
    hidden = {b for b, r in marks.items() if id(r) in present}
    out: list[tuple[EventRecord, frozenset[str]]] = []
    for rec in records:
        out.append((rec, frozenset(hidden)))
        for b in [b for b in hidden if marks[b] is rec]:
            hidden.discard(b)
    return out


class _Printer:
    """Applies filters, dividers, --regex/--max-count, and writes lines."""

    def __init__(self, state: DeviceState, opts: _LogcatArgs) -> None:
        self.state = state
        self.opts = opts
        self.selected = set(opts.buffers)
        self.printed_start: set[str] = set()
        self.last_buffer = ""
        self.count = 0
        # P/Q print "beginning of" only when several buffers are read; R+ always.
        sdk = state.build.sdk
        self.start_dividers = sdk >= 30 or len(opts.buffers) > 1

    def wanted(self, e: _Entry) -> bool:
        o = self.opts
        if e.buffer not in self.selected:
            return False
        if o.pid and e.pid != o.pid:
            return False
        if o.uids and e.uid not in o.uids:
            return False
        return o.filters.passes(e.tag, e.priority)

    @property
    def done(self) -> bool:
        return bool(self.opts.max_count) and self.count >= self.opts.max_count

    def render(self, e: _Entry) -> str:
        o = self.opts
        match = o.regex is None or o.regex.search(e.message) is not None
        if not match and not o.print_anyway:
            return ""
        self.count += match
        text = ""
        if e.buffer != self.last_buffer:
            first = e.buffer not in self.printed_start
            if (first and self.start_dividers) or (o.dividers and not first):
                text += f"--------- {'beginning of' if first else 'switch to'} {e.buffer}\n"
            self.printed_start.add(e.buffer)
            self.last_buffer = e.buffer
        return text + format_entry(e, o.fmt, self.state.boot_ms)


async def _logcat(state: DeviceState, args: list[str], io: ShellIO) -> int:
    sdk = state.build.sdk
    try:
        opts = _parse_logcat(args, io.env, state)
    except _LogcatError as exc:
        await io.err(exc.text)
        return 1
    for warning in opts.warnings:
        await io.err(warning)
    if opts.help:
        # P-R print usage and the format help to stderr; S+ prints its help to stdout.
        if sdk >= 31:
            await io.out(_help_31(sdk))
        elif opts.help == "format":
            await io.err(_FORMAT_HELP)
        elif opts.help == "usage":
            await io.err(_usage(sdk))
        else:
            await io.err(_usage(sdk) + _FORMAT_HELP)
        return 0
    if opts.unsupported:
        await io.err(
            f"logcat: option '{opts.unsupported}' is not supported by the simulated phone\n"
        )
        return 1
    if opts.clear:
        _clear(state, opts.buffers)
        return 0

    renderer = _Renderer(state)
    printer = _Printer(state, opts)
    queue = None if opts.nonblock else state.subscribe()
    try:
        # Snapshot right after subscribing, with no await between, so the dump and the stream
        # neither lose nor repeat a record.
        entries: list[_Entry] = []
        for rec, hidden in _snapshot(state):
            for e in renderer.entries(rec):
                if e.buffer not in hidden and printer.wanted(e):
                    entries.append(e)
        if opts.tail_time_ms is not None:
            entries = [e for e in entries if e.time_ms >= opts.tail_time_ms]
        elif opts.tail_lines:
            entries = entries[-opts.tail_lines :]
        chunk: list[str] = []
        size = 0
        for e in entries:
            text = printer.render(e)
            if text:
                chunk.append(text)
                size += len(text)
            if size >= 32_768 or printer.done:
                await io.out("".join(chunk))
                chunk, size = [], 0
            if printer.done:
                return 0
        await io.out("".join(chunk))
        if queue is None:
            return 0
        while True:
            rec = await queue.get()
            for e in renderer.entries(rec):
                if not printer.wanted(e):
                    continue
                text = printer.render(e)
                if text:
                    await io.out(text)  # one await per line: backpressure and cancellation
                if printer.done:
                    return 0
    finally:
        if queue is not None:
            state.unsubscribe(queue)


# ------------------------------------------------------------------------------ logcat: help

_USAGE_P: Final = """\
Usage: logcat [options] [filterspecs]
options include:
  -s              Set default filter to silent. Equivalent to filterspec '*:S'
  -f <file>, --file=<file>               Log to file. Default is stdout
  -r <kbytes>, --rotate-kbytes=<kbytes>
                  Rotate log every kbytes. Requires -f option
  -n <count>, --rotate-count=<count>
                  Sets max number of rotated logs to <count>, default 4
  --id=<id>       If the signature id for logging to file changes, then clear
                  the fileset and continue
  -v <format>, --format=<format>
                  Sets log print format verb and adverbs, where <format> is:
                    brief help long process raw tag thread threadtime time
                  and individually flagged modifying adverbs can be added:
                    color descriptive epoch monotonic printable uid
                    usec UTC year zone
                  Multiple -v parameters or comma separated list of format and
                  format modifiers are allowed.
  -D, --dividers  Print dividers between each log buffer
  -c, --clear     Clear (flush) the entire log and exit
                  if Log to File specified, clear fileset instead
  -d              Dump the log and then exit (don't block)
  -e <expr>, --regex=<expr>
                  Only print lines where the log message matches <expr>
                  where <expr> is a Perl-compatible regular expression
  -m <count>, --max-count=<count>
                  Quit after printing <count> lines. This is meant to be
                  paired with --regex, but will work on its own.
  --print         Paired with --regex and --max-count to let content bypass
                  regex filter but still stop at number of matches.
  -t <count>      Print only the most recent <count> lines (implies -d)
  -t '<time>'     Print most recent lines since specified time (implies -d)
  -T <count>      Print only the most recent <count> lines (does not imply -d)
  -T '<time>'     Print most recent lines since specified time (not imply -d)
                  count is pure numerical, time is 'MM-DD hh:mm:ss.mmm...'
                  'YYYY-MM-DD hh:mm:ss.mmm...' or 'sssss.mmm...' format
  -g, --buffer-size                      Get the size of the ring buffer.
  -G <size>, --buffer-size=<size>
                  Set size of log ring buffer, may suffix with K or M.
  -L, --last      Dump logs from prior to last reboot
  -b <buffer>, --buffer=<buffer>         Request alternate ring buffer, 'main',
                  'system', 'radio', 'events', 'crash', 'default' or 'all'.
                  Additionally, 'kernel' for userdebug and eng builds, and
                  'security' for Device Owner installations.
                  Multiple -b parameters or comma separated list of buffers are
                  allowed. Buffers interleaved. Default -b main,system,crash.
  -B, --binary    Output the log in binary.
  -S, --statistics                       Output statistics.
  -p, --prune     Print prune white and ~black list. Service is specified as
                  UID, UID/PID or /PID. Weighed for quicker pruning if prefix
                  with ~, otherwise weighed for longevity if unadorned. All
                  other pruning activity is oldest first. Special case ~!
                  represents an automatic quicker pruning for the noisiest
                  UID as determined by the current statistics.
  -P '<list> ...', --prune='<list> ...'
                  Set prune white and ~black list, using same format as
                  listed above. Must be quoted.
  --pid=<pid>     Only prints logs from the given pid.
  --wrap          Sleep for 2 hours or when buffer about to wrap whichever
                  comes first. Improves efficiency of polling by providing
                  an about-to-wrap wakeup.
"""

_USAGE_R: Final = """\
Usage: logcat [options] [filterspecs]

General options:
  -b, --buffer=<buffer>       Request alternate ring buffer(s):
                                main system radio events crash default all
                              Additionally, 'kernel' for userdebug and eng builds, and
                              'security' for Device Owner installations.
                              Multiple -b parameters or comma separated list of buffers are
                              allowed. Buffers are interleaved.
                              Default -b main,system,crash,kernel.
  -L, --last                  Dump logs from prior to last reboot from pstore.
  -c, --clear                 Clear (flush) the entire log and exit.
                              if -f is specified, clear the specified file and its related rotated
                              log files instead.
                              if -L is specified, clear pstore log instead.
  -d                          Dump the log and then exit (don't block).
  --pid=<pid>                 Only print logs from the given pid.
  --wrap                      Sleep for 2 hours or when buffer about to wrap whichever
                              comes first. Improves efficiency of polling by providing
                              an about-to-wrap wakeup.

Formatting:
  -v, --format=<format>       Sets log print format verb and adverbs, where <format> is one of:
                                brief help long process raw tag thread threadtime time
                              Modifying adverbs can be added:
                                color descriptive epoch monotonic printable uid usec UTC year zone
                              Multiple -v parameters or comma separated list of format and format
                              modifiers are allowed.
  -D, --dividers              Print dividers between each log buffer.
  -B, --binary                Output the log in binary.

Outfile files:
  -f, --file=<file>           Log to file instead of stdout.
  -r, --rotate-kbytes=<n>     Rotate log every <n> kbytes. Requires -f option.
  -n, --rotate-count=<count>  Sets max number of rotated logs to <count>, default 4.
  --id=<id>                   If the signature <id> for logging to file changes, then clear the
                              associated files and continue.

Logd control:
 These options send a control message to the logd daemon on device, print its return message if
 applicable, then exit. They are incompatible with -L, as these attributes do not apply to pstore.
  -g, --buffer-size           Get the size of the ring buffers within logd.
  -G, --buffer-size=<size>    Set size of a ring buffer in logd. May suffix with K or M.
                              This can individually control each buffer's size with -b.
  -S, --statistics            Output statistics.
                              --pid can be used to provide pid specific stats.
  -p, --prune                 Print prune white and ~black list. Service is specified as UID,
                              UID/PID or /PID. Weighed for quicker pruning if prefix with ~,
                              otherwise weighed for longevity if unadorned. All other pruning
                              activity is oldest first. Special case ~! represents an automatic
                              quicker pruning for the noisiest UID as determined by the current
                              statistics.
  -P, --prune='<list> ...'    Set prune white and ~black list, using same format as listed above.
                              Must be quoted.

Filtering:
  -s                          Set default filter to silent. Equivalent to filterspec '*:S'
  -e, --regex=<expr>          Only print lines where the log message matches <expr> where <expr> is
                              an ECMAScript regular expression.
  -m, --max-count=<count>     Quit after printing <count> lines. This is meant to be paired with
                              --regex, but will work on its own.
  --print                     This option is only applicable when --regex is set and only useful if
                              --max-count is also provided.
                              With --print, logcat will print all messages even if they do not
                              match the regex. Logcat will quit after printing the max-count number
                              of lines that match the regex.
  -t <count>                  Print only the most recent <count> lines (implies -d).
  -t '<time>'                 Print the lines since specified time (implies -d).
  -T <count>                  Print only the most recent <count> lines (does not imply -d).
  -T '<time>'                 Print the lines since specified time (not imply -d).
                              count is pure numerical, time is 'MM-DD hh:mm:ss.mmm...'
                              'YYYY-MM-DD hh:mm:ss.mmm...' or 'sssss.mmm...' format.
"""

_FILTERSPEC_OLD: Final = """
filterspecs are a series of \n  <tag>[:priority]

where <tag> is a log component tag (or * for all) and priority is:
  V    Verbose (default for <tag>)
  D    Debug (default for '*')
  I    Info
  W    Warn
  E    Error
  F    Fatal
  S    Silent (suppress all output)

'*' by itself means '*:D' and <tag> by itself means <tag>:V.
If no '*' filterspec or -s on command line, all filter defaults to '*:V'.
eg: '*:S <tag>' prints only <tag>, '<tag>:S' suppresses all <tag> log messages.

If not specified on the command line, filterspec is set from ANDROID_LOG_TAGS.

If not specified with -v on command line, format is set from ANDROID_PRINTF_LOG
or defaults to "threadtime"

"""

_FORMAT_HELP: Final = """\
-v <format>, --format=<format> options:
  Sets log print format verb and adverbs, where <format> is:
    brief long process raw tag thread threadtime time
  and individually flagged modifying adverbs can be added:
    color descriptive epoch monotonic printable uid usec UTC year zone

Single format verbs:
  brief      — Display priority/tag and PID of the process issuing the message.
  long       — Display all metadata fields, separate messages with blank lines.
  process    — Display PID only.
  raw        — Display the raw log message, with no other metadata fields.
  tag        — Display the priority/tag only.
  thread     — Display priority, PID and TID of process issuing the message.
  threadtime — Display the date, invocation time, priority, tag, and the PID
               and TID of the thread issuing the message. (the default format).
  time       — Display the date, invocation time, priority/tag, and PID of the
             process issuing the message.

Adverb modifiers can be used in combination:
  color       — Display in highlighted color to match priority. i.e. \x1b[38;5;231mVERBOSE
                \x1b[38;5;75mDEBUG \x1b[38;5;40mINFO \x1b[38;5;166mWARNING \
\x1b[38;5;196mERROR FATAL\x1b[0m
  descriptive — events logs only, descriptions from event-log-tags database.
  epoch       — Display time as seconds since Jan 1 1970.
  monotonic   — Display time as cpu seconds since last boot.
  printable   — Ensure that any binary logging content is escaped.
  uid         — If permitted, display the UID or Android ID of logged process.
  usec        — Display time down the microsecond precision.
  UTC         — Display time as UTC.
  year        — Add the year to the displayed time.
  zone        — Add the local timezone to the displayed time.
  \"<zone>\"    — Print using this public named timezone (experimental).

"""


def _usage(sdk: int) -> str:
    """The usage P-R print to stderr after an argument error (``show_help``)."""
    return (_USAGE_P if sdk <= 29 else _USAGE_R) + _FILTERSPEC_OLD


_HELP_31_BODY: Final = """\
Usage: logcat [OPTION]... [FILTERSPEC]...

General options:

-b BUFFER, --buffer=BUFFER
    Request alternate ring buffer(s). Options are:
        main system radio events crash default all
    Additionally, 'kernel' for userdebug and eng builds, and 'security' for
    Device Owner installations.
    Multiple -b parameters or comma separated list of buffers are
    allowed. Buffers are interleaved.
    Default is "main,system,crash,kernel".
-c, --clear
    Clear (flush) the entire log and exit. With -f, clear the specified file
    and its related rotated log files instead. With -L, clear pstore instead.
-d            Dump the log and then exit (don't block).
-L, --last    Dump logs from prior to last reboot from pstore.
--pid=PID     Only print logs from the given pid.
--wrap
    Sleep for 2 hours or until buffer about to wrap (whichever comes first).
    Improves efficiency of polling by providing an about-to-wrap wakeup.

Formatting:

-v, --format=FORMAT         Sets log print format. See FORMAT below.
-D, --dividers              Print dividers between each log buffer.
-B, --binary                Output the log in binary.
@PROTO@
Output files:

-f, --file=FILE             Log to FILE instead of stdout.
-r, --rotate-kbytes=N       Rotate log every N KiB. Requires -f.
-n, --rotate-count=N        Sets max number of rotated logs, default 4.
--id=<id>
    Clears the associated files if the signature <id> for logging to file
    changes.

Logd control:

These options send a control message to the logd daemon on device, print its
return message if applicable, then exit. They are incompatible with -L
because these attributes do not apply to pstore.

-g, --buffer-size
    Get size of the ring buffers within logd.
-G, --buffer-size=SIZE
    Set size of a ring buffer in logd. May suffix with K or M.
    This can individually control each buffer's size with -b.
-p, --prune
    Get prune rules. Each rule is specified as UID, UID/PID or /PID. A
    '~' prefix indicates that elements matching the rule should be pruned
    with higher priority otherwise they're pruned with lower priority. All
    other pruning activity is oldest first. Special case ~! represents an
    automatic pruning for the noisiest UID as determined by the current
    statistics. Special case ~1000/! represents pruning of the worst PID
    within AID_SYSTEM when AID_SYSTEM is the noisiest UID.
-P, --prune='LIST ...'
    Set prune rules, using same format as listed above. Must be quoted.
-S, --statistics
    Output statistics. With --pid provides pid-specific stats.

Filtering:

-s                   Set default filter to silent (like filterspec '*:S').
-e, --regex=EXPR     Only print lines matching ECMAScript regex.
-m, --max-count=N    Exit after printing <count> lines.
--print              With --regex and --max-count, prints all messages
                     even if they do not match the regex, but exits after
                     printing max-count matching lines.
-t N                 Print most recent <count> lines (implies -d).
-T N                 Print most recent <count> lines (does not imply -d).
-t TIME              Print lines since specified time (implies -d).
-T TIME              Print lines since specified time (not imply -d).
                     Time format is 'MM-DD hh:mm:ss.mmm...',
                     'YYYY-MM-DD hh:mm:ss.mmm...', or 'sssss.mmm...'.
--uid=UIDS
    Only display log messages from UIDs in the comma-separated list UIDS.
    UIDs must be numeric because no name lookup is performed.
    Note that only root/log/system users can view logs from other users.

FILTERSPEC:

Filter specifications are a series of

  <tag>[:priority]

where <tag> is a log component tag (or * for all) and priority is:

  V    Verbose (default for <tag>)
  D    Debug (default for '*')
  I    Info
  W    Warn
  E    Error
  F    Fatal
  S    Silent (suppress all output)

'*' by itself means '*:D' and <tag> by itself means <tag>:V.
If no '*' filterspec or -s on command line, all filter defaults to '*:V'.
'*:S <tag>' prints only <tag>, '<tag>:S' suppresses all <tag> log messages.

If not specified on the command line, FILTERSPEC is $ANDROID_LOG_TAGS.

FORMAT:

Formats are a comma-separated sequence of verbs and adverbs.

Single format verbs:

  brief      Show priority, tag, and PID of the process issuing the message.
  long       Show all metadata fields and separate messages with blank lines.
  process    Show PID only.
  raw        Show the raw log message with no other metadata fields.
  tag        Show the priority and tag only.
  thread     Show priority, PID, and TID of the thread issuing the message.
  threadtime Show the date, invocation time, priority, tag, PID, and TID of
             the thread issuing the message. (This is the default.)
  time       Show the date, invocation time, priority, tag, and PID of the
             process issuing the message.

Adverb modifiers can be used in combination:

  color       Show each priority with a different color.
  descriptive Show event descriptions from event-log-tags database.
  epoch       Show time as seconds since 1970-01-01 (Unix epoch).
  monotonic   Show time as CPU seconds since boot.
  printable   Ensure that any binary logging content is escaped.
  uid         Show UID or Android ID of logged process (if permitted).
  usec        Show time with microsecond precision.
  UTC         Show time as UTC.
  year        Add the year to the displayed time.
  zone        Add the local timezone to the displayed time.
  \\"<ZONE>\\"  Print using this named timezone (experimental).

If not specified with -v on command line, FORMAT is $ANDROID_PRINTF_LOG or
defaults to "threadtime".
"""


def _help_31(sdk: int) -> str:
    """S+ ``show_help``: a raw string that starts with a newline; S-U indent it by two spaces."""
    proto = "    --proto                 Output the log in protobuffer.\n" if sdk >= 35 else ""
    body = _HELP_31_BODY.replace("@PROTO@", proto)
    if sdk >= 35:
        return "\n" + body
    indented = "".join(
        ("  " + line if line.strip() else line) for line in body.splitlines(keepends=True)
    )
    return "\n" + indented


# -------------------------------------------------------------------------- activity starts

_TASKS: weakref.WeakKeyDictionary[DeviceState, list[int]] = weakref.WeakKeyDictionary()


def _next_task_id(state: DeviceState) -> int:
    counter = _TASKS.setdefault(state, [100])
    counter[0] += 1
    return counter[0]


def _launcher_uid(state: DeviceState, user: int) -> int:
    for pkg in state.installed_for(user):
        if "launcher" in pkg.name.rsplit(".", 1)[-1].lower() or pkg.name.endswith(".launcher3"):
            return pkg.uid(user)
    return user * PER_USER_RANGE + 10_057  # the launcher uid of the loghub capture's phone


def start_activity(
    state: DeviceState,
    name: str,
    user: int = 0,
    *,
    activity: str | None = None,
    caller: str | None = None,
    from_launcher: bool = False,
    action: str | None = None,
    categories: Sequence[str] = (),
) -> Process:
    """Start an activity of ``name`` and log it the way ``sdk`` does.

    ``from_launcher``: the user tapped the icon (LAUNCHER intent with icon bounds, launcher
    uid); ``caller``: another app started it (its uid is in the START line); neither: the shell
    did (``am start``, uid 2000). Writes the ``ActivityManager``/``ActivityTaskManager``
    ``START u0 {...} from uid N`` system line (the only logcat trace of *who* started an
    activity), then ``am_``/``wm_create_activity``, ``am_proc_start`` (``top-activity`` from R)
    and ``am_proc_bound`` for a cold start, ``restart_activity`` and the app's
    ``on_resume_called``. Returns the app's process.
    """
    sdk = state.build.sdk
    pkg = state.packages[name]
    cls = activity or pkg.launcher_activity or ".MainActivity"
    short = short_component(f"{name}/{cls}")
    if from_launcher:
        action = action or "android.intent.action.MAIN"
        categories = tuple(categories) or ("android.intent.category.LAUNCHER",)
        caller_uid = _launcher_uid(state, user)
        flags = 0x10200000  # NEW_TASK | RESET_TASK_IF_NEEDED, as launchers send it
    elif caller is not None:
        caller_uid = state.packages[caller].uid(user) if caller in state.packages else 1000
        flags = 0x10000000
    else:
        caller_uid = SHELL_UID
        flags = 0x10000000  # am start adds FLAG_ACTIVITY_NEW_TASK
    intent = []
    if action:
        intent.append(f"act={action}")
    if categories:
        intent.append("cat=[" + ",".join(categories) + "]")
    intent.append(f"flg=0x{flags:x}")
    intent.append(f"cmp={short}")
    if from_launcher:
        intent.append("bnds=[48,1242][288,1524]")
    start = f"START u{user} {{{' '.join(intent)}}}"
    if sdk >= 34:
        bal = "BAL_ALLOW_PERMISSION" if caller_uid == SHELL_UID else "BAL_ALLOW_VISIBLE_WINDOW"
        start += f" with LAUNCH_SINGLE_TOP from uid {caller_uid} ({bal}) result code=0"
    else:
        start += f" from uid {caller_uid}"
    tag = "ActivityManager" if sdk < 29 else "ActivityTaskManager"
    state.log("system", "I", tag, start, pid=SYSTEM_SERVER_PID, tid=SYSTEM_SERVER_PID + 417)

    uid = pkg.uid(user)
    task = _next_task_id(state)
    token = _pseudo_hash(uid, task, 1)
    state.emit(
        _event_tag("wm_create_activity", sdk),
        user,
        token,
        task,
        short,
        action,
        None,
        None,
        flags,
        pid=SYSTEM_SERVER_PID,
    )
    proc = next((p for p in state.processes.values() if p.uid == uid and p.package == name), None)
    if proc is None:
        proc = state.start_process(
            name,
            user,
            reason="top-activity" if sdk >= 30 else "activity",
            component=short,
            caller=caller,
            state="top",
        )
        state.emit("am_proc_bound", user, proc.pid, proc.process_name, pid=SYSTEM_SERVER_PID)
    else:
        proc.state = "top"
        state.uid_states[uid] = "top"
    state.emit(_event_tag("wm_restart_activity", sdk), user, token, task, short)
    cls_name = _class_name(short)
    if sdk < 29:
        state.emit("am_on_resume_called", user, cls_name, "RESUME_ACTIVITY", pid=proc.pid)
    else:
        client_token = _pseudo_hash(proc.pid, task, 2)
        state.emit("wm_on_resume_called", client_token, cls_name, "RESUME_ACTIVITY", pid=proc.pid)
    return proc


# ------------------------------------------------------------------------------------ am / cmd


class _ShellError(Exception):
    """A Java exception escaping ``onCommand``; printed by ``BasicShellCommandHandler``."""

    def __init__(self, java_class: str, message: str, frames: Sequence[str]) -> None:
        super().__init__(message)
        self.java_class = java_class
        self.message = message
        self.frames = tuple(frames)


class _Cursor:
    """``ShellCommand``'s argument cursor (getNextOption / getNextArg / getNextArgRequired)."""

    def __init__(self, args: list[str], frame: str, sdk: int = 35) -> None:
        self.args = args
        self.handler = _handler_class(sdk)
        self.pos = 1  # args[0] is the command, as in BasicShellCommandHandler.exec
        self.cur_data: str | None = None
        self.frame = frame

    def next_option(self) -> str | None:
        if self.cur_data is not None:
            prev = self.args[self.pos - 1]
            raise self._iae(f'No argument expected after "{prev}"', "getNextOption")
        if self.pos >= len(self.args):
            return None
        arg = self.args[self.pos]
        if not arg.startswith("-"):
            return None
        self.pos += 1
        if arg == "--":
            return None
        if len(arg) > 1 and arg[1] != "-":
            if len(arg) > 2:
                self.cur_data = arg[2:]
                return arg[:2]
            return arg
        return arg

    def next_arg(self) -> str | None:
        if self.cur_data is not None:
            arg, self.cur_data = self.cur_data, None
            return arg
        if self.pos < len(self.args):
            self.pos += 1
            return self.args[self.pos - 1]
        return None

    def peek(self) -> str | None:
        if self.cur_data is not None:
            return self.cur_data
        return self.args[self.pos] if self.pos < len(self.args) else None

    def required(self) -> str:
        arg = self.next_arg()
        if arg is None:
            prev = self.args[self.pos - 1]
            raise self._iae(f'Argument expected after "{prev}"', "getNextArgRequired")
        return arg

    def _iae(self, message: str, method: str) -> _ShellError:
        return _ShellError(
            "java.lang.IllegalArgumentException",
            message,
            [f"{self.handler}.{method}({self.handler.rsplit('.', 1)[1]}.java:295)", self.frame],
        )


def _handler_class(sdk: int) -> str:
    """Where getNextArgRequired/exec live: ShellCommand (P/Q), BasicShellCommandHandler (R/S),
    then the modules-utils copy (T+)."""
    if sdk < 30:
        return "android.os.ShellCommand"
    if sdk < 33:
        return "android.os.BasicShellCommandHandler"
    return "com.android.modules.utils.BasicShellCommandHandler"


def _binder_frames(sdk: int) -> tuple[str, ...]:
    """The frames below ``onCommand`` of an exception escaping ``cmd activity``.

    Only the shape is modelled; line numbers differ on every build and nobody parses them.
    """
    handler = _handler_class(sdk)
    frames = [
        "com.android.server.am.ActivityManagerShellCommand.onCommand"
        "(ActivityManagerShellCommand.java:201)",
    ]
    if sdk >= 30:
        frames.append(f"{handler}.exec({handler.rsplit('.', 1)[1]}.java:97)")
    frames += [
        "android.os.ShellCommand.exec(ShellCommand.java:44)",
        "com.android.server.am.ActivityManagerService.onShellCommand"
        "(ActivityManagerService.java:9987)",
        "android.os.Binder.shellCommand(Binder.java:1049)",
        "android.os.Binder.onTransact(Binder.java:877)",
        "android.app.IActivityManager$Stub.onTransact(IActivityManager.java:4986)",
        "com.android.server.am.ActivityManagerService.onTransact(ActivityManagerService.java:2907)",
    ]
    if sdk >= 29:
        frames.append("android.os.Binder.execTransactInternal(Binder.java:1290)")
    frames.append("android.os.Binder.execTransact(Binder.java:1249)")
    return tuple(frames)


async def _print_exception(io: ShellIO, sdk: int, cmd: str, exc: _ShellError) -> int:
    # ShellCommand before R printed no command name; BasicShellCommandHandler (R+) does.
    head = (
        "Exception occurred while executing:"
        if sdk < 30
        else (f"Exception occurred while executing '{cmd}':")
    )
    frames = "".join(f"\tat {f}\n" for f in (*exc.frames, *_binder_frames(sdk)))
    await io.err(f"\n{head}\n{exc.java_class}: {exc.message}\n{frames}")
    return 255


def _parse_user(text: str, frame: str) -> int:
    """``UserHandle.parseUserArg``: ``all`` -1, ``current``/``cur`` -2, else a number."""
    if text == "all":
        return -1
    if text in ("current", "cur"):
        return -2
    try:
        return int(text)
    except ValueError:
        raise _ShellError(
            "java.lang.NumberFormatException",
            f'For input string: "{text}"',
            [
                "java.lang.Integer.parseInt(Integer.java:797)",
                "android.os.UserHandle.parseUserArg(UserHandle.java:612)",
                frame,
            ],
        ) from None


_BUCKETS: Final = {10: "active", 20: "working_set", 30: "frequent", 40: "rare", 45: "restricted"}


class _ActivityCommand:
    """``cmd activity`` / ``am``: the subcommands the guard uses, with AOSP's texts."""

    def __init__(self, state: DeviceState) -> None:
        self.state = state
        self.handlers: dict[str, Callable[[_Cursor, ShellIO], Awaitable[int]]] = {
            "force-stop": self.force_stop,
            "stop-app": self.stop_app,
            "kill": self.kill,
            "set-standby-bucket": self.set_standby_bucket,
            "get-standby-bucket": self.get_standby_bucket,
            "set-inactive": self.set_inactive,
            "get-inactive": self.get_inactive,
            "start": self.start,
            "start-activity": self.start,
            "startservice": self.start_service,
            "start-service": self.start_service,
            "start-foreground-service": self.start_service,
            "broadcast": self.broadcast,
            "get-current-user": self.get_current_user,
            "stack": self.stack,
        }

    async def __call__(self, args: list[str], io: ShellIO) -> int:
        sdk = self.state.build.sdk
        cmd = args[0] if args else None
        if cmd is None or cmd in ("help", "-h"):
            await io.out(_AM_HELP)
            return 255
        handler = self.handlers.get(cmd)
        if handler is None or (cmd == "stop-app" and sdk < 33):
            await io.out(f"Unknown command: {cmd}\n")
            return 255
        frame_name = "run" + "".join(p.capitalize() for p in cmd.split("-"))
        frame = (
            f"com.android.server.am.ActivityManagerShellCommand.{frame_name}"
            "(ActivityManagerShellCommand.java:1120)"
        )
        try:
            return await handler(_Cursor(args, frame, sdk), io)
        except _ShellError as exc:
            return await _print_exception(io, sdk, cmd, exc)

    # -- helpers
    def _users(self, user: int) -> list[int]:
        if user == -1:
            return sorted(self.state.users)
        if user == -2:
            return [self.state.current_user]
        return [user]

    async def _user_option(self, c: _Cursor, io: ShellIO, default: int) -> int | None:
        user = default
        while (opt := c.next_option()) is not None:
            if opt == "--user":
                user = _parse_user(c.required(), c.frame)
            else:
                await io.err(f"Error: Unknown option: {opt}\n")
                return None
        return user

    def _procs(self, name: str, users: list[int]) -> list[Process]:
        pkg = self.state.packages.get(name)
        uids = {pkg.uid(u) for u in users} if pkg is not None else set()
        return [
            p
            for p in self.state.processes.values()
            if p.uid in uids or (p.package == name and p.uid // PER_USER_RANGE in users)
        ]

    def _kill_reason(self, name: str) -> str:
        # forceStopPackageLocked: "stop <pkg>" until Q; R added " due to <reason>", and the
        # shell's reason is "from pid <caller>".
        if self.state.build.sdk < 30:
            return f"stop {name}"
        return f"stop {name} due to from pid {SHELL_PID + 2}"

    # -- process lifecycle
    async def force_stop(self, c: _Cursor, io: ShellIO) -> int:
        user = await self._user_option(c, io, -1)
        if user is None:
            return 255
        name = c.required()
        users = self._users(user)
        for proc in self._procs(name, users):
            self.state.kill(proc.pid, self._kill_reason(name))
        pkg = self.state.packages.get(name)
        if pkg is not None:
            for u in users:
                pu = pkg.users.get(u)
                if pu is not None and pu.installed:
                    pu.stopped = True
        return 0

    async def stop_app(self, c: _Cursor, io: ShellIO) -> int:
        user = await self._user_option(c, io, -1)
        if user is None:
            return 255
        name = c.required()
        for proc in self._procs(name, self._users(user)):
            self.state.kill(proc.pid, self._kill_reason(name))
        return 0

    async def kill(self, c: _Cursor, io: ShellIO) -> int:
        user = await self._user_option(c, io, -1)
        if user is None:
            return 255
        name = c.required()
        for proc in self._procs(name, self._users(user)):
            if proc.state in ("bg", "cch"):  # killBackgroundProcesses spares foreground ones
                self.state.kill(proc.pid, "kill background")
        return 0

    # -- App Standby
    def _bucket_value(self, name: str) -> int | None:
        """``bucketNameToBucketValue``; ``restricted`` (``re``) exists from R."""
        lower = name.lower()
        prefixes = [("ac", 10), ("wo", 20), ("fr", 30), ("ra", 40)]
        if self.state.build.sdk >= 30:
            prefixes.append(("re", 45))
        prefixes.append(("ne", 50))
        for prefix, value in prefixes:
            if lower.startswith(prefix):
                return value
        try:
            return int(lower)
        except ValueError:
            return None

    def _require_package(self, name: str, verb: str, user: int, frame: str) -> None:
        pkg = self.state.packages.get(name)
        u = self.state.current_user if user == -2 else user
        if pkg is None or not pkg.users.get(u, None) or not pkg.users[u].installed:
            raise _ShellError(
                "java.lang.IllegalArgumentException",
                f"Cannot {verb} standby bucket for non existent package ({name})",
                [
                    "com.android.server.usage.AppStandbyController.setAppStandbyBucket(AppStandbyController.java:1610)",
                    frame,
                ],
            )

    async def set_standby_bucket(self, c: _Cursor, io: ShellIO) -> int:
        user = await self._user_option(c, io, -2)
        if user is None:
            return 255
        name, value = c.required(), c.required()
        bucket = self._bucket_value(value)
        if bucket is None:
            await io.err(f"Error: Unknown bucket: {value}\n")
        if bucket is None or bucket < 0:
            return 255
        resolved = [(name, bucket)]
        # More PACKAGE BUCKET pairs: a bad bucket there is reported and skipped.
        while (more := c.next_arg()) is not None:
            value = c.required()
            bucket = self._bucket_value(value)
            if bucket is None:
                await io.err(f"Error: Unknown bucket: {value}\n")
            if bucket is None or bucket < 0:
                continue
            resolved.append((more, bucket))
        u = self.state.current_user if user == -2 else user
        for name, bucket in resolved:
            if not 10 <= bucket <= 50:
                raise _ShellError(
                    "java.lang.IllegalArgumentException",
                    f"Cannot set the standby bucket to {bucket}",
                    [c.frame],
                )
            self._require_package(name, "set", user, c.frame)
            self.state.packages[name].users[u].standby_bucket = bucket
        return 0

    async def get_standby_bucket(self, c: _Cursor, io: ShellIO) -> int:
        user = await self._user_option(c, io, -2)
        if user is None:
            return 255
        u = self.state.current_user if user == -2 else user
        name = c.next_arg()
        if name is not None:
            self._require_package(name, "get", user, c.frame)
            await io.out(f"{self.state.packages[name].users[u].standby_bucket}\n")
            return 0
        lines = [
            f"{pkg.name}: {pkg.users[u].standby_bucket}\n" for pkg in self.state.installed_for(u)
        ]
        await io.out("".join(lines))
        return 0

    async def set_inactive(self, c: _Cursor, io: ShellIO) -> int:
        user = await self._user_option(c, io, -2)
        if user is None:
            return 255
        name = c.required()
        value = c.required().lower() == "true"  # Boolean.parseBoolean
        u = self.state.current_user if user == -2 else user
        pkg = self.state.packages.get(name)
        if pkg is not None and u in pkg.users:
            # setAppInactive forces RARE (idle) or ACTIVE in AppStandbyController.
            pkg.users[u].standby_bucket = 40 if value else 10
        return 0

    async def get_inactive(self, c: _Cursor, io: ShellIO) -> int:
        user = await self._user_option(c, io, -2)
        if user is None:
            return 255
        name = c.required()
        u = self.state.current_user if user == -2 else user
        pkg = self.state.packages.get(name)
        idle = pkg is not None and u in pkg.users and pkg.users[u].standby_bucket >= 40
        await io.out(f"Idle={'true' if idle else 'false'}\n")
        return 0

    # -- starts (intent arguments, minimal: -a -c -d -n -p -f --user, extras skipped)
    def _intent(self, c: _Cursor, user: int = -2) -> tuple[dict[str, object], int, bool]:
        intent: dict[str, object] = {"cat": []}
        wait = False
        while (opt := c.next_option()) is not None:
            if opt == "-a":
                intent["act"] = c.required()
            elif opt == "-c":
                cats = intent["cat"]
                assert isinstance(cats, list)
                cats.append(c.required())
            elif opt == "-d":
                intent["dat"] = c.required()
            elif opt == "-t":
                intent["typ"] = c.required()
            elif opt == "-n":
                intent["cmp"] = c.required()
            elif opt == "-p":
                intent["pkg"] = c.required()
            elif opt == "-f":
                intent["flg"] = int(c.required(), 0)
            elif opt == "--user":
                user = _parse_user(c.required(), c.frame)
            elif opt == "-W":
                wait = True
            elif opt in ("--es", "-e", "--ei", "--ez", "--el", "--ef", "--eu", "--ecn"):
                c.required()
                c.required()
                intent["extras"] = True
            elif opt in ("--esn",):
                c.required()
                intent["extras"] = True
            elif opt in ("-D", "-N", "-S", "--streaming", "--track-allocation"):
                pass
            elif opt in ("-P", "--start-profiler", "--sampling", "-R", "--display"):
                c.required()
            elif opt.startswith("--activity-") or opt.startswith("--receiver-"):
                pass
            else:
                raise _ShellError(
                    "java.lang.IllegalArgumentException",
                    f"Unknown option: {opt}",
                    ["android.content.Intent.parseCommandArgs(Intent.java:8192)", c.frame],
                )
        rest = c.next_arg()
        if rest is not None:
            if "/" in rest and ":" not in rest.split("/", 1)[0]:
                intent["cmp"] = rest
            elif ":" in rest:
                intent["dat"] = rest
            else:
                intent["pkg"] = rest
        return intent, user, wait

    @staticmethod
    def _intent_str(intent: dict[str, object], extra_flags: int = 0) -> str:
        """``Intent.toString()``: ``Intent { act=... cat=[...] dat=... flg=... cmp=... }``."""
        parts = []
        if "act" in intent:
            parts.append(f"act={intent['act']}")
        cats = intent.get("cat")
        if isinstance(cats, list) and cats:
            parts.append("cat=[" + ",".join(str(x) for x in cats) + "]")
        if "dat" in intent:
            data = str(intent["dat"])
            m = re.match(r"(https?)://([^/]+)", data)
            parts.append(f"dat={m.group(1)}://{m.group(2)}/..." if m else f"dat={data}")
        if "typ" in intent:
            parts.append(f"typ={intent['typ']}")
        flags = int(str(intent.get("flg", 0))) | extra_flags
        if flags:
            parts.append(f"flg=0x{flags:x}")
        if "pkg" in intent:
            parts.append(f"pkg={intent['pkg']}")
        if "cmp" in intent:
            parts.append(f"cmp={short_component(str(intent['cmp']))}")
        if intent.get("extras"):
            parts.append("(has extras)")
        return "Intent { " + " ".join(parts) + " }"

    async def start(self, c: _Cursor, io: ShellIO) -> int:
        intent, user, wait = self._intent(c)
        if user == -1:
            await io.err("Error: Can't start service with user 'all'\n")
            return 1
        u = self.state.current_user if user == -2 else user
        await io.out(f"Starting: {self._intent_str(intent)}\n")
        cats = intent.get("cat")
        launcher = isinstance(cats, list) and "android.intent.category.LAUNCHER" in cats
        target: tuple[str, str] | None = None
        if "cmp" in intent:
            target = _split_component(str(intent["cmp"]))
        elif "pkg" in intent and launcher and intent.get("act") == "android.intent.action.MAIN":
            pkg = self.state.packages.get(str(intent["pkg"]))
            if pkg is not None and pkg.launcher_activity:
                target = _split_component(f"{pkg.name}/{pkg.launcher_activity}")
        pkg = self.state.packages.get(target[0]) if target else None
        if target is None or pkg is None or not pkg.users.get(u) or not pkg.users[u].installed:
            if target is not None and "cmp" in intent:
                await io.err(
                    "Error type 3\nError: Activity class "
                    f"{_brace_component(str(intent['cmp']))} does not exist.\n"
                )
                return 0
            await io.err(
                "Error: Activity not started, unable to resolve "
                f"{self._intent_str(intent, 0x10000000)}\n"
            )
            return 0
        start_activity(
            self.state,
            pkg.name,
            u,
            activity=target[1],
            action=str(intent["act"]) if "act" in intent else None,
            categories=tuple(str(x) for x in cats) if isinstance(cats, list) else (),
        )
        if wait:
            lines = ["Status: ok\n"]
            if self.state.build.sdk >= 29:
                lines.append("LaunchState: COLD\n")
            lines.append(f"Activity: {short_component(f'{pkg.name}/{target[1]}')}\n")
            if self.state.build.sdk < 29:
                lines.append("ThisTime: 412\n")
            lines += ["TotalTime: 412\n", "WaitTime: 418\n", "Complete\n"]
            await io.out("".join(lines))
        return 0

    async def start_service(self, c: _Cursor, io: ShellIO) -> int:
        intent, user, _ = self._intent(c)
        if user == -1:
            await io.err("Error: Can't start activity with user 'all'\n")
            return 1
        u = self.state.current_user if user == -2 else user
        await io.out(f"Starting service: {self._intent_str(intent)}\n")
        target = _split_component(str(intent["cmp"])) if "cmp" in intent else None
        pkg = self.state.packages.get(target[0]) if target else None
        if target is None or pkg is None or not pkg.users.get(u) or not pkg.users[u].installed:
            await io.err("Error: Not found; no service started.\n")
            return 255
        # ServiceRecord remembers the caller (recentCallingPackage, R+): here the shell.
        self._ensure_process(
            pkg.name, u, "service", f"{pkg.name}/{target[1]}", caller=_SHELL_PACKAGE
        )
        return 0

    async def broadcast(self, c: _Cursor, io: ShellIO) -> int:
        intent, user, _ = self._intent(c, -1)  # broadcasts go to all users by default
        await io.out(f"Broadcasting: {self._intent_str(intent, 0x400000)}\n")
        target = _split_component(str(intent["cmp"])) if "cmp" in intent else None
        users = self._users(user)
        if target is not None and target[0] in self.state.packages:
            pkg = self.state.packages[target[0]]
            for u in users:
                pu = pkg.users.get(u)
                if pu is not None and pu.installed and pu.enabled not in (2, 3):
                    self._ensure_process(pkg.name, u, "broadcast", f"{pkg.name}/{target[1]}")
        await io.out("Broadcast completed: result=0\n")
        return 0

    def _ensure_process(
        self, name: str, user: int, reason: str, component: str, caller: str | None = None
    ) -> None:
        uid = self.state.packages[name].uid(user)
        if any(p.uid == uid for p in self.state.processes.values()):
            return
        self.state.start_process(
            name,
            user,
            reason=reason,
            component=short_component(component),
            caller=caller,
            state="bg",
        )
        pu = self.state.packages[name].users.get(user)
        if pu is not None:
            pu.stopped = False  # an explicit start takes an app out of the stopped state

    async def get_current_user(self, c: _Cursor, io: ShellIO) -> int:
        await io.out(f"{self.state.current_user}\n")
        return 0

    async def stack(self, c: _Cursor, io: ShellIO) -> int:
        op = c.required()
        if op != "list":
            await io.err(f"Error: unknown command '{op}'\n")
            return 255
        lines = []
        for n, proc in enumerate(p for p in self.state.processes.values() if p.state == "top"):
            pkg = self.state.packages.get(proc.package)
            cls = (pkg.launcher_activity if pkg else None) or ".MainActivity"
            full = _split_component(f"{proc.package}/{cls}")
            comp = f"{full[0]}/{full[1]}" if full else proc.package
            lines.append(
                f"Stack id={n + 2} bounds=[0,0][1080,2400] displayId=0 "
                f"userId={proc.uid // PER_USER_RANGE}\n"
                f"  taskId={101 + n}: {comp} bounds=[0,0][1080,2400] "
                f"userId={proc.uid // PER_USER_RANGE} visible=true "
                f"topActivity=ComponentInfo{{{comp}}}\n"
            )
        await io.out("".join(lines))
        return 0


_AM_HELP: Final = """\
Activity manager (activity) commands:
  help
      Print this help text.
  start-activity [-D] [-N] [-W] [-P <FILE>] [--start-profiler <FILE>]
          [--sampling INTERVAL] [--streaming] [-R COUNT] [-S]
          [--track-allocation] [--user <USER_ID> | current] <INTENT>
      Start an Activity.
  start-service [--user <USER_ID> | current] <INTENT>
      Start a Service.
  broadcast [--user <USER_ID> | all | current] <INTENT>
      Send a broadcast Intent.
  force-stop [--user <USER_ID> | all | current] <PACKAGE>
      Completely stop the given application package.
  kill [--user <USER_ID> | all | current] <PACKAGE>
      Kill all background processes associated with the given application.
  get-current-user
      Returns id of the current foreground user.
  set-inactive [--user <USER_ID>] <PACKAGE> true|false
      Sets the inactive state of an app.
  get-inactive [--user <USER_ID>] <PACKAGE>
      Returns the inactive state of an app.
  set-standby-bucket [--user <USER_ID>] <PACKAGE> active|working_set|frequent|rare
      Puts an app in the standby bucket.
  get-standby-bucket [--user <USER_ID>] <PACKAGE>
      Returns the standby bucket of an app.
"""


# ---------------------------------------------------------------------------- dumpsys activity


def _record(proc: Process) -> str:
    """``ProcessRecord.toString()``: identity hash, then ``pid:process/u0a123``."""
    short = f"{proc.pid}:{proc.process_name}/{format_uid(proc.uid)}"
    return f"ProcessRecord{{{_pseudo_hash(proc.pid, proc.uid):x} {short}}}"


_SYSTEM_RECORD: Final = f"ProcessRecord{{{_pseudo_hash(1000, 1000):x} 1000:system/1000}}"

# OOM adjustment, scheduling group and process state per simulated uid state.
_OOM: Final = {
    "pers": (-800, "pers", "F", "PER ", "fixed"),
    "top": (0, "fg", "T", "TOP ", "top-activity"),
    "fgsvc": (50, "fg", "F", "FGS ", "fg-service"),
    "fg": (100, "vis", "F", "BFGS", "visible"),
    "bg": (500, "svc", "B", "SVC ", "started-services"),
    "cch": (905, "cch", "B", "CEM ", "cch-empty"),
}


class _Dumpsys:
    """``dumpsys activity``: processes, services (with binding clients), and the fallbacks."""

    def __init__(self, state: DeviceState, am: _ActivityCommand) -> None:
        self.state = state
        self.am = am

    async def __call__(self, args: list[str], io: ShellIO) -> int:
        opts = [a for a in args if a.startswith("-")]
        rest = [a for a in args if not a.startswith("-")]
        del opts  # -a/-c/-p only change verbosity on a phone
        if not rest:
            await io.out(self.services(None) + "\n" + self.processes(None))
            return 0
        cmd, arg = rest[0], (rest[1] if len(rest) > 1 else None)
        if cmd in ("processes", "p"):
            await io.out(self.processes(arg))
        elif cmd in ("services", "s"):
            await io.out(self.services(arg))
        else:
            # ActivityManagerService.doDump hands unknown words to the shell command, then
            # complains if that failed too.
            status = await self.am([cmd, *rest[1:]], io)
            if status == 255:
                await io.out(
                    f"Bad activity command, or no activities match: {cmd}\nUse -h for help.\n"
                )
        return 0

    def _proc_block(self, proc: Process) -> str:
        sdk = self.state.build.sdk
        pkg = self.state.packages.get(proc.package)
        user, app_id = divmod(proc.uid, PER_USER_RANGE)
        data = f"/data/user/{user}/{proc.package}" if user else f"/data/user/0/{proc.package}"
        code = pkg.dir_name if pkg is not None else f"/data/app/{proc.package}/base.apk"
        gids = f"{{{50_000 + app_id - APP_ID_START}, {20_000 + app_id - APP_ID_START}, 9997, 3003}}"
        lines = [
            f"  *APP* UID {proc.uid} {_record(proc)}\n",
            f"    user #{user} uid={proc.uid} gids={gids}\n",
            (
                "    mRequiredAbi=arm64-v8a instructionSet=null\n"
                if sdk >= 31
                else "    requiredAbi=arm64-v8a instructionSet=null\n"
            ),
            f"    dir={code} publicDir={code} data={data}\n",
            f"    packageList={{{proc.package}}}\n",
            f"    pid={proc.pid}" + ("\n" if sdk >= 31 else " starting=false\n"),
        ]
        adj, _, _, state_name, adj_type = _OOM.get(proc.state, _OOM["fg"])
        lines.append(f"    oom adj: max=1001 curRaw={adj} setRaw={adj} cur={adj} set={adj}\n")
        lines.append(f"    curProcState={state_name.strip()} adjType={adj_type}\n")
        return "".join(lines)

    def processes(self, package: str | None) -> str:
        sdk = self.state.build.sdk
        procs = sorted(self.state.processes.values(), key=lambda p: (p.uid, p.pid))
        if package is not None:
            procs = [p for p in procs if p.package == package or p.process_name == package]
        out = ["ACTIVITY MANAGER RUNNING PROCESSES (dumpsys activity processes)\n"]
        out.append("  All known processes:\n")
        if package is None:
            out.append(f"  *PERS* UID 1000 {_SYSTEM_RECORD}\n")
            out.append("    user #0 uid=1000 gids={1000, 1065, 3002, 3003}\n")
            out.append("    pid=1000" + ("\n" if sdk >= 31 else " starting=false\n"))
        out.extend(self._proc_block(p) for p in procs)
        lru = sorted(procs, key=lambda p: _OOM.get(p.state, _OOM["fg"])[0])
        total = len(lru) + (1 if package is None else 0)
        out.append(
            f"\n  Process LRU list (sorted by oom_adj, {total} total, "
            "non-act at 0, non-svc at 0):\n"
        )
        fg_label = "fg" if sdk >= 30 else "fore"
        for n, proc in enumerate(reversed(lru)):
            _, label, sched, state_name, adj_type = _OOM.get(proc.state, _OOM["fg"])
            label = fg_label if label == "fg" else label
            out.append(
                f"    Proc #{n:2d}: {label:<6} {sched}/{'A' if proc.state == 'top' else ' '}/"
                f"{state_name} t: 0 {proc.pid}:{proc.process_name}/{format_uid(proc.uid)} "
                f"({adj_type})\n"
            )
        if package is None:
            out.append(f"    PERS #{len(lru):2d}: sys    F/ /PER  t: 0 1000:system/1000 (fixed)\n")
        out.append("\n  PID mappings:\n")
        mapped = procs if package is not None else sorted(procs, key=lambda p: p.pid)
        if package is None:
            out.append(f"    PID #1000: {_SYSTEM_RECORD}\n")
        out.extend(f"    PID #{p.pid}: {_record(p)}\n" for p in mapped)
        return "".join(out)

    def services(self, package: str | None) -> str:
        sdk = self.state.build.sdk
        by_user: dict[int, list[Process]] = {}
        for proc in sorted(self.state.processes.values(), key=lambda p: p.pid):
            if proc.reason not in ("service", "fg-service") or not proc.component:
                continue
            if package is not None and proc.package != package:
                continue
            by_user.setdefault(proc.uid // PER_USER_RANGE, []).append(proc)
        out = ["ACTIVITY MANAGER SERVICES (dumpsys activity services)\n"]
        if not by_user:
            out.append("  (nothing)\n")
            return "".join(out)
        for user in sorted(by_user):
            out.append(f"  User {user} active services:\n")
            for proc in by_user[user]:
                short = short_component(proc.component)
                h = _pseudo_hash(proc.pid, 7)
                out.append(f"  * ServiceRecord{{{h:x} u{user} {short}}}\n")
                out.append(f"    intent={{cmp={short}}}\n")
                out.append(f"    packageName={proc.package}\n")
                out.append(f"    processName={proc.process_name}\n")
                out.append(f"    app={_record(proc)}\n")
                if sdk >= 30 and proc.caller_package:
                    # ServiceRecord remembers who last started it (FGS while-in-use checks).
                    caller_uid = self._caller_uid(proc)
                    out.append(f"    recentCallingPackage={proc.caller_package}\n")
                    out.append(f"    recentCallingUid={caller_uid}\n")
                out.append("    createdFromFg=false\n")
                client = self._caller_proc(proc)
                if client is not None:
                    ib = _pseudo_hash(proc.pid, 8)
                    ab = _pseudo_hash(proc.pid, client.pid, 9)
                    out.append("    Bindings:\n")
                    out.append(f"    * IntentBindRecord{{{ib:x} CREATE}}:\n")
                    out.append(f"      intent={{cmp={short}}}\n")
                    out.append("      requested=true received=true hasBound=true doRebind=false\n")
                    out.append(f"      * Client AppBindRecord{{{ab:x} {_record(client)}}}\n")
        return "".join(out)

    def _caller_uid(self, proc: Process) -> int:
        if proc.caller_package == _SHELL_PACKAGE:
            return SHELL_UID  # whether or not the phone lists com.android.shell
        pkg = self.state.packages.get(proc.caller_package or "")
        return pkg.uid(proc.uid // PER_USER_RANGE) if pkg is not None else 1000

    def _caller_proc(self, proc: Process) -> Process | None:
        if not proc.caller_package:
            return None
        uid = self._caller_uid(proc)
        return next((p for p in self.state.processes.values() if p.uid == uid), None)


# ------------------------------------------------------------------------------------------ ps


@dataclass(frozen=True)
class _PsRow:
    uid: int
    pid: int
    ppid: int
    vsz: int
    rss: int
    wchan: str
    state: str
    name: str


# toybox ps: (width, numeric). Negative widths are left-justified; numbers never truncate.
_PS_FIELDS: Final = {
    "USER": (-12, False),
    "UID": (5, True),
    "PID": (5, True),
    "PPID": (5, True),
    "VSZ": (7, True),
    "RSS": (6, True),
    "WCHAN": (-16, False),
    "ADDR": (4, True),
    "S": (-1, False),
    "NAME": (-27, False),
    "CMD": (-27, False),
    "ARGS": (-27, False),
    "CMDLINE": (-27, False),
    "COMM": (-27, False),
}
_PS_DEFAULT: Final = ("USER", "PID", "PPID", "VSZ", "RSS", "WCHAN", "ADDR", "S", "NAME")


def _crunch(text: str) -> str:
    """toybox ``crunch_escape``: control characters as ``^X`` so a row stays one line."""
    return "".join(
        "^?" if ch == "\x7f" else ("^" + chr(ord(ch) + 64) if ord(ch) < 32 else ch) for ch in text
    )


def _ps_value(row: _PsRow, name: str) -> str:
    if name == "USER":
        return _user_name(row.uid)
    if name == "UID":
        return str(row.uid)
    if name == "PID":
        return str(row.pid)
    if name == "PPID":
        return str(row.ppid)
    if name == "VSZ":
        return str(row.vsz)
    if name == "RSS":
        return str(row.rss)
    if name == "WCHAN":
        return row.wchan
    if name == "ADDR":
        return "0"
    if name == "S":
        return row.state
    return _crunch(row.name)


def _ps_line(values: Sequence[str], fields: Sequence[str]) -> str:
    """toybox show_ps: pad to the column width, let numbers overflow and reclaim the slack."""
    parts: list[str] = []
    extra = 0
    for i, (name, value) in enumerate(zip(fields, values, strict=True)):
        width, numeric = _PS_FIELDS[name]
        if i == len(fields) - 1 and width < 0:
            parts.append(value)  # the last left-justified column is neither padded nor cut
            break
        absw = abs(width)
        if numeric and len(value) > absw:
            extra += len(value) - absw
            absw = len(value)
        elif extra and len(value) < absw:
            unused = min(absw - len(value), extra)
            absw -= unused
            extra -= unused
        text = value if numeric else value[:absw]
        parts.append(text.ljust(absw) if width < 0 else text.rjust(absw))
    return " ".join(parts) + "\n"


class _Ps:
    """toybox ``ps``: ``-A``/``-e`` for everything, ``-o`` fields, ``-p`` pids."""

    _SYSTEM: Final = (
        (0, 1, 0, 10_782_796, 9_808, "do_epoll_wait", "init"),
        (0, 2, 0, 0, 0, "kthreadd", "[kthreadd]"),
        (1036, 283, 1, 12_652_404, 6_020, "__do_sys_rt_sigsuspend", "logd"),
        (1000, 420, 1, 10_855_344, 4_468, "binder_ioctl", "servicemanager"),
        (0, ZYGOTE_PID, 1, 15_102_220, 112_408, "do_sys_poll", "zygote64"),
        (1000, 700, 1, 11_482_976, 38_116, "do_epoll_wait", "surfaceflinger"),
        (2000, ADBD_PID, 1, 12_640_712, 8_164, "do_epoll_wait", "adbd"),
        (
            1000,
            SYSTEM_SERVER_PID,
            ZYGOTE_PID,
            18_997_412,
            331_544,
            "do_epoll_wait",
            "system_server",
        ),
    )

    def __init__(self, state: DeviceState) -> None:
        self.state = state

    def rows(self) -> list[_PsRow]:
        # P/Q ship 4.4-4.14 kernels, whose syscall entry points are still named SyS_*.
        old = self.state.build.sdk < 30
        rename = {"do_epoll_wait": "SyS_epoll_wait"} if old else {}
        rows = [
            _PsRow(u, p, pp, v, r, rename.get(w, w), "S", n)
            for (u, p, pp, v, r, w, n) in self._SYSTEM
        ]
        epoll = rename.get("do_epoll_wait", "do_epoll_wait")
        for proc in sorted(self.state.processes.values(), key=lambda p: p.pid):
            rss = 60_000 + _pseudo_hash(proc.pid) % 140_000
            rows.append(
                _PsRow(
                    proc.uid,
                    proc.pid,
                    ZYGOTE_PID,
                    14_800_000 + _pseudo_hash(proc.pid, 3) % 900_000,
                    rss,
                    epoll,
                    "S",
                    proc.process_name,
                )
            )
        rows += self.own_rows()
        return rows

    @staticmethod
    def own_rows() -> list[_PsRow]:
        return [
            _PsRow(
                SHELL_UID,
                SHELL_PID,
                ADBD_PID,
                10_803_076,
                2_980,
                "__do_sys_rt_sigsuspend",
                "S",
                "sh",
            ),
            _PsRow(SHELL_UID, SHELL_PID + 2, SHELL_PID, 10_868_612, 3_520, "0", "R", "ps"),
        ]

    async def __call__(self, args: list[str], io: ShellIO) -> int:
        show_all = False
        fields: list[str] = []
        pids: set[int] = set()
        it = iter(args)
        for arg in it:
            if not arg.startswith("-") or arg == "-":
                for part in arg.split(","):
                    if not part.isdigit():
                        await io.err(f"ps: bad -p '{part}'\n")
                        return 1
                    pids.add(int(part))  # toybox treats bare arguments as -p
                continue
            flags = arg[1:]
            for k, ch in enumerate(flags):
                if ch in "Ae":
                    show_all = True
                elif ch in "wZlfT":
                    pass
                elif ch in "op":
                    value = flags[k + 1 :] or next(it, None)
                    if value is None:
                        await io.err(f'ps: Missing argument to -{ch} (see "ps --help")\n')
                        return 1
                    if ch == "o":
                        for f in value.split(","):
                            f = f.split("=", 1)[0].upper()
                            if f not in _PS_FIELDS:
                                await io.err(f"ps: bad -o {f}\n")
                                return 1
                            fields.append(f)
                    else:
                        for part in value.split(","):
                            if not part.isdigit():
                                await io.err(f"ps: bad -p '{part}'\n")
                                return 1
                            pids.add(int(part))
                    break
                else:
                    await io.err(f"ps: Unknown option '{ch}' (see \"ps --help\")\n")
                    return 1
        fields = fields or list(_PS_DEFAULT)
        if pids:
            rows = [r for r in self.rows() if r.pid in pids]
        elif show_all:
            rows = self.rows()
        else:
            rows = self.own_rows()  # toybox default: this session's processes
        header = _ps_line([f for f in fields], fields)
        body = "".join(_ps_line([_ps_value(r, f) for f in fields], fields) for r in rows)
        await io.out(header + body)
        return 0


# -------------------------------------------------------------------------------- notification

_NOTIFY_USAGE: Final = """\
usage: cmd notification post [flags] <tag> <text>

flags:
  -h|--help
  -v|--verbose
  -t|--title <text>
  -i|--icon <iconspec>
  -I|--large-icon <iconspec>
  -S|--style <style> [styleargs]
  -c|--content-intent <intentspec>

styles: (default none)
  bigtext
  bigpicture --picture <iconspec>
  inbox --line <text> --line <text> ...
  messaging --conversation <title> --message <who>:<text> ...
  media

an <iconspec> is one of
  file:///data/local/tmp/<img.png>
  content://<provider>/<path>
  @[<package>:]drawable/<img>
  data:base64,<B64DATA==>

an <intentspec> is (broadcast|service|activity) <args>
  <args> are as described in `am start`
"""

_NOTIFICATION_HELP_OLD: Final = """\
help
allow_listener COMPONENT [user_id]
disallow_listener COMPONENT [user_id]
allow_assistant COMPONENT
remove_assistant COMPONENT
allow_dnd PACKAGE
disallow_dnd PACKAGE
suspend_package PACKAGE
unsuspend_package PACKAGE
"""

_CUR = "[user_id (current user if not specified)]"


def _notification_help(sdk: int) -> str:
    if sdk <= 28:
        return _NOTIFICATION_HELP_OLD
    lines = [
        "usage: cmd notification SUBCMD [args]",
        "",
        "SUBCMDs:",
        f"  allow_listener COMPONENT {_CUR}",
        f"  disallow_listener COMPONENT {_CUR}",
        f"  allow_assistant COMPONENT {_CUR}",
        f"  remove_assistant COMPONENT {_CUR}",
    ]
    if sdk >= 30:
        # The missing newline after set_dnd is AOSP's (NotificationShellCmd.USAGE).
        lines.append(
            "  set_dnd [on|none (same as on)|priority|alarms|all|off (same as all)]"
            f"  allow_dnd PACKAGE {_CUR}"
        )
    else:
        lines.append(f"  allow_dnd PACKAGE {_CUR}")
    lines.append(f"  disallow_dnd PACKAGE {_CUR}")
    if sdk <= 30:
        lines += ["  suspend_package PACKAGE", "  unsuspend_package PACKAGE"]
    lines += [
        f"  reset_assistant_user_set {_CUR}",
        f"  get_approved_assistant {_CUR}",
        "  post [--help | flags] TAG TEXT",
    ]
    if sdk >= 30:
        lines += [
            "  set_bubbles PACKAGE PREFERENCE (0=none 1=all 2=selected) " + _CUR,
            "  set_bubbles_channel PACKAGE CHANNEL_ID ALLOW " + _CUR,
            "  list",
            "  get <notification-key>",
            "  snooze --for <msec> <notification-key>",
            "  unsnooze <notification-key>",
        ]
    return "\n".join(lines) + "\n"


_NOTIFICATION_SUBCMDS: Final = frozenset(
    {
        "allow_listener",
        "disallow_listener",
        "allow_assistant",
        "disallow_assistant",
        "remove_assistant",
        "allow_dnd",
        "disallow_dnd",
        "suspend_package",
        "unsuspend_package",
        "reset_assistant_user_set",
        "get_approved_assistant",
        "set_dnd",
        "set_bubbles",
        "set_bubbles_channel",
        "get",
        "snooze",
        "unsnooze",
        "snoozed",
        "distract_package",
    }
)


class _PostError(Exception):
    """An exception ``doNotify`` throws; onCommand prints it as ``Error occurred...``."""


class _Notification:
    """``cmd notification``; ``post`` exists from Q and posts as com.android.shell."""

    NOTIFICATION_ID: Final = 2020

    def __init__(self, state: DeviceState) -> None:
        self.state = state

    async def __call__(self, args: list[str], io: ShellIO) -> int:
        sdk = self.state.build.sdk
        cmd = args[0] if args else None
        if cmd is None or cmd in ("help", "-h"):
            await io.out(_notification_help(sdk))
            return 255
        sub = cmd.replace("-", "_")
        try:
            if sub in ("post", "notify") and sdk >= 29:
                return await self.post(_Cursor(args, "NotificationShellCmd.doNotify", sdk), io)
            if sub == "list" and sdk >= 30:
                keys = [
                    f"0|com.android.shell|{self.NOTIFICATION_ID}|{tag}|{SHELL_UID}\n"
                    for _, tag, _ in self.state.notifications
                ]
                await io.out("".join(dict.fromkeys(keys)))
                return 0
            if sub in _NOTIFICATION_SUBCMDS:
                return 0
        except _ShellError as exc:
            await io.out(f"Error occurred. Check logcat for details. {exc.message}\n")
            return 0
        except _PostError as exc:
            await io.out(f"Error occurred. Check logcat for details. {exc}\n")
            return 0
        await io.out(f"Unknown command: {cmd}\n")
        return 255

    @staticmethod
    def _valid_icon(spec: str) -> bool:
        if spec.startswith("/"):
            spec = "file://" + spec
        schemes = ("http:", "https:", "content:", "file:", "android.resource:", "data:")
        return spec.startswith(schemes) or (spec.startswith("@") and "drawable/" in spec)

    async def post(self, c: _Cursor, io: ShellIO) -> int:
        verbose = False
        style: str | None = None
        while (opt := c.next_option()) is not None:
            if opt in ("-v", "--verbose"):
                verbose = True
            elif opt in ("-t", "--title", "title"):
                c.required()
            elif opt in ("-i", "--icon", "icon", "-I", "--large-icon", "--largeicon"):
                spec = c.required()
                if not self._valid_icon(spec):
                    await io.out(f"error: invalid icon: {spec}\n")
                    return 255
            elif opt in ("-c", "--content-intent", "--intent"):
                if c.peek() in ("broadcast", "service", "activity"):
                    c.next_arg()
                while (nxt := c.peek()) is not None and nxt.startswith("-") and nxt != "--":
                    c.next_option()
                    if nxt in ("-a", "-d", "-n", "-p", "-c", "-t", "-f"):
                        c.required()
            elif opt in ("-S", "--style"):
                style = c.required().lower()
                if style not in ("bigtext", "bigpicture", "inbox", "messaging", "media"):
                    raise _PostError(f"unrecognized notification style: {style}")
                if style == "messaging" and c.peek() == "--user":
                    c.next_arg()
                    c.required()
            elif opt in ("--bigText", "--bigtext", "--big-text"):
                if style != "bigtext":
                    raise _PostError("--bigtext requires --style bigtext")
                c.required()
            elif opt == "--picture":
                if style != "bigpicture":
                    raise _PostError("--picture requires --style bigpicture")
                c.required()
            elif opt == "--line":
                if style != "inbox":
                    raise _PostError("--line requires --style inbox")
                c.required()
            elif opt in ("--message", "--conversation"):
                if style != "messaging":
                    raise _PostError(f"{opt} requires --style messaging")
                c.required()
            else:  # -h, --help, --wtf and anything unknown print the usage, status 0
                await io.out(_NOTIFY_USAGE)
                return 0
        tag, text = c.next_arg(), c.next_arg()
        if tag is None or text is None:
            await io.out(_NOTIFY_USAGE)
            return 255
        sdk = self.state.build.sdk
        # Notification.toString(): P/Q print the priority, R+ the shortcut id in its place.
        second = " pri=0" if sdk < 30 else " shortcut=null"
        n = (
            f"Notification(channel=shell_cmd{second} contentView=null vibrate=null sound=null "
            "defaults=0x0 flags=0x0 color=0x00000000 vis=PRIVATE)"
        )
        self.state.notifications.append((self.state.now_ms(), tag, text))
        self.state.log("system", "V", "NotificationManager", f"posting: {n}", pid=SYSTEM_SERVER_PID)
        await io.out(f"posting:\n  {n}\n")
        if verbose:
            key = f"0|com.android.shell|{self.NOTIFICATION_ID}|{tag}|{SHELL_UID}"
            h = _pseudo_hash(len(self.state.notifications), 11)
            await io.out(
                "posted: \n"
                f"  NotificationRecord(0x{h:08x}: pkg=com.android.shell user=UserHandle{{0}} "
                f"id={self.NOTIFICATION_ID} tag={tag} importance=3 key={key}: {n})\n"
            )
        return 0


# ------------------------------------------------------------------------------------- install


def install(reg: Registry) -> None:
    """Register ``logcat``, ``ps``, ``cmd activity`` (``am``), ``dumpsys activity`` and
    ``cmd notification`` on ``reg``."""
    state = reg.state
    am = _ActivityCommand(state)

    async def logcat(args: list[str], io: ShellIO) -> int:
        return await _logcat(state, args, io)

    reg.command("logcat", logcat)
    reg.command("ps", _Ps(state), "source")
    reg.cmd_service("activity", am)
    reg.dumpsys_service("activity", _Dumpsys(state, am))
    reg.cmd_service("notification", _Notification(state))
