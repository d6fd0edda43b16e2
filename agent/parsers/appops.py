"""AppOps text -> records: ``dumpsys appops`` (O to V) and ``cmd appops get`` (every version).

This module owns three pure functions:

* :func:`parse_dumpsys_appops` -> :class:`~agent.model.AppOpsDump`: per uid the uid-scope modes,
  the uid's state/capability, and per package each op's mode, switch op, last access and reject
  times per uid state (and flags, attribution tag and proxy from Q/R on), op-level durations and
  whether the op is running now (``Running start at:``).
* :func:`parse_appops_get` -> ``tuple[AppOpEntry, ...]``: one entry per line of
  ``cmd appops get PKG [OP]``.
* :func:`parse_duration`: the exact inverse of ``android.util.TimeUtils.formatDuration``, in
  which every relative time of both outputs is printed.

Why one hand-written pass: ``dumpsys appops`` has no grammar of its own, only the indentation
and wording of ``AppOpsService.dump()``, which changed at O->P->Q->R (see
``shared/docs/android-appops-permissions.md`` §1-2). The parser walks the lines once and
dispatches on indentation and a literal prefix (``str.startswith``/``str.partition``); its few
regexes (an access record, a duration, a uid) have only bounded quantifiers or ones over a class
their successor cannot match, so time is linear in the input and hostile text (NUL, ANSI
escapes, megabyte lines, labels holding anything) can only produce warnings. Nothing raises:
lines it does not understand come back as :class:`~agent.model.ParseWarning` with their line
number, a cut-off dump comes back with what could be read plus ``error``.

Formats handled by :func:`parse_dumpsys_appops` (indentation in spaces)::

    O   2 ``Uid u0a5:``  6 ``OP: mode=1`` (uid mode, numeric)   4 ``Package p:``
        6 ``OP: mode=0; time=+5s0ms ago; rejectTime=...; duration=+2s0ms`` or `` (running)``
    P   4 ``state=pers `` (padded), ``startNesting=``, ``pendingState=``...
        6 ``OP: mode=foreground`` (uid mode)  6 ``OP (allow / switch SW=allow): ``
        10 ``Access: pers  = 2026-08-09 10:40:07.177 (-21h32m51s810ms)``, continued at 18 by
        ``fg    = ...`` for each further uid state; ``Reject:`` alike; ``Running start at: +5s0ms``,
        ``duration=+17ms``, ``startNesting=1``
    Q   10 ``Access: [bg-s] <time> (<rel>)[ duration=<d>][ proxy[uid=0, pkg=null]]``,
        ``Reject: [fg-s]<time> (<rel>)`` (no space after ``]``), ``Running start at:``
    R+  8 ``<tag>=[`` ... 8 ``]`` around the Access/Reject/Running lines (``null`` = no tag);
        ``proxy[uid=, pkg=, attributionTag=]``; 4 ``capability=``, ``appWidgetVisible=`` (S+)

Sections skipped as whole sections (on purpose: watcher registrations, settings and logs say
nothing about what an app may do or did): ``Settings:``, ``Profile owners:``, every
``... watchers:`` list, ``Clients:`` (O/P started-op bookkeeping, duplicated by ``Running start
at:`` / `` (running)``), ``Audio Restrictions:``, ``User/Global restrictions for token ...:``,
``AppOps policy ...``, ``History:``; at column 0 ``Uid State Changes Event Log:`` and
``Discrete accesses:`` (both run to the end of the dump), and inside a uid block the
``foregroundOps:`` list (its ``hasForegroundWatchers=`` is kept in ``properties``). An indented
section header not in that list is skipped too, with one warning for its header line.

Concatenated ``dumpsys`` output (bugreport ``dumpstate``, androidqf ``dumpsys.txt``) is accepted:
only the first ``DUMP OF SERVICE appops:`` section is read, line numbers stay those of the whole
text, the other services are not looked at.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from agent.model import (
    AppOpEntry,
    AppOpsDump,
    Mode,
    OpAccess,
    OpRun,
    OpScope,
    Parsed,
    UidOps,
)
from agent.parsers.sections import Warnings, lines_of

__all__ = ["parse_appops_get", "parse_dumpsys_appops", "parse_duration"]

_CUT: Final = 200
"""Error messages quote at most this much of a line (as ParseWarning.line does)."""


# ------------------------------------------------------------------------------ records
# A full dump yields one OpAccess per access line and one AppOpEntry per op line, and a frozen
# dataclass __init__ (one object.__setattr__ per field) costs three times what the rest of the
# line does. Where a record is a plain dataclass whose fields are exactly the ones named here,
# filling its __dict__ (in field order, which keeps CPython's shared-key dict, as __init__ does)
# gives the very same object (same fields, ==, hash, repr); the check runs at import, so a
# changed model falls back to the real constructor instead of diverging.
def _plain(cls: type, names: tuple[str, ...]) -> bool:
    return (
        dataclasses.is_dataclass(cls)
        and tuple(f.name for f in dataclasses.fields(cls)) == names
        and not hasattr(cls, "__post_init__")
        and "__slots__" not in vars(cls)
    )


_new = object.__new__
_FAST_ACCESS = _plain(
    OpAccess,
    (
        "uid_state",
        "flags",
        "time",
        "relative_ms",
        "duration_ms",
        "rejected",
        "attribution_tag",
        "proxy_uid",
        "proxy_package",
        "proxy_tag",
    ),
)
_FAST_ENTRY = _plain(
    AppOpEntry,
    (
        "op",
        "mode",
        "switch_op",
        "switch_mode",
        "accesses",
        "running",
        "running_for_ms",
        "nesting",
        "duration_ms",
        "runs",
        "scope",
    ),
)


def _make_access(
    uid_state: str,
    flags: str,
    time: str | None,
    relative_ms: int | None,
    duration_ms: int | None,
    rejected: bool,
    attribution_tag: str | None,
    proxy_uid: int | None,
    proxy_package: str | None,
    proxy_tag: str | None,
) -> OpAccess:
    if _FAST_ACCESS:
        record: OpAccess = _new(OpAccess)
        fields = record.__dict__
        fields["uid_state"] = uid_state
        fields["flags"] = flags
        fields["time"] = time
        fields["relative_ms"] = relative_ms
        fields["duration_ms"] = duration_ms
        fields["rejected"] = rejected
        fields["attribution_tag"] = attribution_tag
        fields["proxy_uid"] = proxy_uid
        fields["proxy_package"] = proxy_package
        fields["proxy_tag"] = proxy_tag
        return record
    return OpAccess(
        uid_state=uid_state,
        flags=flags,
        time=time,
        relative_ms=relative_ms,
        duration_ms=duration_ms,
        rejected=rejected,
        attribution_tag=attribution_tag,
        proxy_uid=proxy_uid,
        proxy_package=proxy_package,
        proxy_tag=proxy_tag,
    )


def _make_entry(
    op: str,
    mode: Mode,
    switch_op: str | None,
    switch_mode: Mode | None,
    accesses: list[OpAccess],
    runs_seen: list[tuple[str | None, int | None, int]],
    duration_ms: int | None,
    nesting: int,
    scope: OpScope = "package",
    running: bool = False,
) -> AppOpEntry:
    """An op's record from what its lines gave (``runs_seen``: tag, running-for, nesting)."""
    runs: tuple[OpRun, ...] = ()
    running_for: int | None = None
    if runs_seen:
        running = True
        runs = tuple(
            OpRun(attribution_tag=tag, running_for_ms=since, nesting=starts)
            for tag, since, starts in runs_seen
        )
        for _, since, starts in runs_seen:
            if since is not None and (running_for is None or since > running_for):
                running_for = since
            # P/Q print startNesting per op, R+ per attribution tag: the op gets the largest.
            nesting = max(nesting, starts)
    if _FAST_ENTRY:
        record: AppOpEntry = _new(AppOpEntry)
        fields = record.__dict__
        fields["op"] = op
        fields["mode"] = mode
        fields["switch_op"] = switch_op
        fields["switch_mode"] = switch_mode
        fields["accesses"] = tuple(accesses)
        fields["running"] = running
        fields["running_for_ms"] = running_for
        fields["nesting"] = nesting
        fields["duration_ms"] = duration_ms
        fields["runs"] = runs
        fields["scope"] = scope
        return record
    return AppOpEntry(
        op=op,
        mode=mode,
        switch_op=switch_op,
        switch_mode=switch_mode,
        accesses=tuple(accesses),
        running=running,
        running_for_ms=running_for,
        nesting=nesting,
        duration_ms=duration_ms,
        runs=runs,
        scope=scope,
    )


# ------------------------------------------------------------------------------ durations
# TimeUtils.formatDuration prints "0", or a sign, then the d, h, m, s fields from the first
# non-zero one on (every later field always, no zero padding, carried: h < 24, m and s < 60),
# then always "<millis>ms" (< 1000). The nesting below makes a field require all smaller ones,
# the lookahead refuses a zero first field ("+0h..", "+0ms"), the digit classes refuse leading
# zeros and out-of-range values. Linear: every quantifier is bounded or over a disjoint class.
_DUR: Final = (
    r"(?:(0)|([+-])(?!0[dhms])"
    r"(?:(?:(?:(?:([1-9]\d{0,11})d)?(1?\d|2[0-3])h)?([1-5]?\d)m)?([1-5]?\d)s)?"
    r"(0|[1-9]\d{0,2})ms)"
)
_DURATION: Final = re.compile(_DUR)
_SMALL: Final[Mapping[str, int]] = MappingProxyType({str(i): i for i in range(1000)})


def _duration_value(
    sign: str | None,
    days: str | None,
    hours: str | None,
    minutes: str | None,
    seconds: str | None,
    millis: str | None,
) -> int:
    """The milliseconds of a :data:`_DUR` match's groups (``sign`` None: the bare ``0``)."""
    if sign is None or millis is None:
        return 0
    small = _SMALL
    value = small[millis]
    if seconds is not None:
        value += 1000 * small[seconds]
        if minutes is not None:
            value += 60_000 * small[minutes]
            if hours is not None:
                value += 3_600_000 * small[hours]
                if days is not None:
                    value += 86_400_000 * int(days)
    return -value if sign == "-" else value


def parse_duration(text: str) -> int | None:
    """Milliseconds from ``TimeUtils.formatDuration`` text, or None if it could not print it.

    ``-1d2h3m4s5ms`` -> -93784005, ``+5s0ms`` -> 5000, ``-12ms`` -> -12, ``0`` -> 0. Strict:
    forms formatDuration never prints (``+3s``, ``+0h5m0s0ms``, ``+61s0ms``, ``05ms``, ``+0ms``)
    are refused, so a value that parses is one the phone really printed.
    """
    m = _DURATION.fullmatch(text)
    if m is None:
        return None
    _, sign, days, hours, minutes, seconds, millis = m.groups()
    return _duration_value(sign, days, hours, minutes, seconds, millis)


def _relative_ago(text: str) -> int | None:
    """``+1h2m3s4ms ago`` (time since an event) -> signed offset from now (here negative)."""
    if not text.endswith(" ago"):
        return None
    value = parse_duration(text[:-4])
    return None if value is None else -value


# ------------------------------------------------------------------------------ small values
_MODES: Final[Mapping[str, Mode]] = MappingProxyType(
    {
        "allow": "allow",
        "ignore": "ignore",
        "deny": "deny",
        "default": "default",
        "foreground": "foreground",
        "errored": "errored",
        # O prints the numbers (AppOpsManager.MODE_*): 2 is MODE_ERRORED, named "deny" later.
        "0": "allow",
        "1": "ignore",
        "2": "deny",
        "3": "default",
        "4": "foreground",
    }
)

_UID_FORM: Final = re.compile(r"u(\d{1,6})(a|s|i|ai)(\d{1,6})")
_UID_BASE: Final[Mapping[str, int]] = MappingProxyType(
    # UserHandle.formatUid: a = app (10000+), s = system (< 10000), i = isolated (99000+),
    # ai = app-zygote isolated (90000+, Q+).
    {"a": 10_000, "s": 0, "i": 99_000, "ai": 90_000}
)


def _uid(text: str) -> int | None:
    """``1000`` / ``u0a123`` / ``u10s1000`` / ``u0i3`` / ``u0ai2`` -> the numeric uid."""
    if text.isascii() and text.isdigit() and len(text) <= 10:
        return int(text)
    m = _UID_FORM.fullmatch(text)
    if m is None:
        return None
    user, kind, number = m.groups()
    return int(user) * 100_000 + _UID_BASE[kind] + int(number)


def _small_int(text: str) -> int | None:
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def _op_name(name: str) -> str:
    # Some builds print "OP_READ_PHONE_STATE" for READ_PHONE_STATE (doc §5.7): one name per op.
    return name[3:] if name[:3] == "OP_" and len(name) > 3 else name


def _looks_like_op(name: str) -> bool:
    # Op names are upper-case identifiers; unknown codes print as e.g. "Unknown(123)". A
    # space or an empty name means the line is something else.
    return bool(name) and " " not in name


# ------------------------------------------------------------------------------ access lines
# One pattern for the body of every access record (after "Access: "/"Reject: ", or a whole P
# continuation line): Q+ "[<state>-<flags>] <time> (<rel>)[ duration=<d>][ proxy[...]]" (a
# Reject has no space after "]"), P "<state padded> = <time> (<rel>)". The time is kept as
# printed (locale digits and all); a proxy tail is split with str methods, since a tag may hold
# anything. Groups: Q state, Q flags, P state, time, the seven of _DUR, duration, tail.
_ACCESS_BODY: Final = re.compile(
    r"(?:\[([^\]\-]*)-([^\]]*)\] ?|([^ =\[]+) *= )([^()]+) \("
    + _DUR
    + r"\)(?: duration=(\S*))?(.*)"
)


def _proxy(tail: str) -> tuple[int, str | None, str | None] | None:
    """`` proxy[uid=0, pkg=null]`` (Q) / `` proxy[uid=, pkg=, attributionTag=]`` (R+)."""
    if not tail.startswith(" proxy[uid=") or tail[-1] != "]":
        return None
    uid_text, sep, rest = tail[11:-1].partition(", pkg=")
    uid = _small_int(uid_text)
    if not sep or uid is None:
        return None
    # A package name cannot hold ", " but a tag can hold anything: split at the first.
    package, _, tag = rest.partition(", attributionTag=")
    return uid, (None if package == "null" else package), (None if tag in ("null", "") else tag)


def _access_failure(body: str) -> str:
    """Why an access line did not match (the slow path, for the warning's reason)."""
    open_ = body.find(" (")
    close = body.find(")", open_ + 1)
    if open_ < 0 or close < 0:
        return "access record without '(relative time)'"
    if parse_duration(body[open_ + 2 : close]) is None:
        return "relative time is not TimeUtils.formatDuration text"
    return "access record not understood"


def _warn(warnings: Warnings, line_no: int, line: str, reason: str) -> None:
    warnings.add(line_no, line, reason)


# ------------------------------------------------------------------------------ dumpsys appops
_SERVICE: Final = re.compile(r"^DUMP OF SERVICE (?:[A-Z]+ )?appops:[ \t\r]*$", re.MULTILINE)
_HEADER: Final = "Current AppOps Service state:"

# Indent-2 section headers of AppOpsService.dump() (O to V) that are skipped on purpose.
_KNOWN_SECTIONS: Final = frozenset(
    {
        "Settings:",
        "Profile owners:",
        "Op mode watchers:",
        "Package mode watchers:",
        "All mode watchers:",
        "All op mode watchers:",
        "All op active watchers:",
        "All op started watchers:",
        "All op noted watchers:",
        "Clients:",
        "Audio Restrictions:",
        "AppOps policy not set.",
        "AppOps policy location tags:",
        "AppOps policy activity recognition tags:",
        "Empty",
    }
)
_KNOWN_SECTION_PREFIXES: Final = (
    "User restrictions for token ",
    "Global restrictions for token ",
    "History:",
)
# Column-0 sections that run to the end of the dump (their lines may sit at column 0 too).
_TAIL_SECTIONS: Final = frozenset({"Uid State Changes Event Log:", "Discrete accesses:"})
# What dump() or dumpsys print instead of a dump.
_FAILURES: Final = (
    "Permission Denial",
    "Unknown package: ",
    "Unknown option: ",
    "Unknown command: ",
    "No argument for ",
    "Wrong parameter: ",
    "Can't find service",
    "*** SERVICE ",
    "AppOps service (appops) dump options:",
)

# Region the parser is in (ints: cheaper to compare in the hot loop than enum members).
_TOP, _UID, _SECTION, _TAIL = 0, 1, 2, 3


def parse_dumpsys_appops(text: str) -> Parsed[AppOpsDump]:
    """Parse ``dumpsys appops`` (any option set; O to V), bare or inside concatenated dumpsys.

    Never raises. The value holds what could be read; ``error`` says why the rest is missing
    (not an appops dump, a refusal, a cut-off dump).
    """
    try:
        return _parse_dump(text)
    except Exception as exc:  # totality is the contract; tests assert this path never runs
        return Parsed(AppOpsDump(), (), f"internal parser error: {exc!r}")


def _uid_ops(
    uid: int,
    state: str | None,
    capability: str | None,
    modes: dict[str, str],
    packages: dict[str, list[AppOpEntry]],
    properties: dict[str, str],
) -> UidOps:
    return UidOps(
        uid=uid,
        uid_state=state,
        capability=capability,
        modes=MappingProxyType(modes),
        packages=MappingProxyType({name: tuple(ops) for name, ops in packages.items()}),
        properties=MappingProxyType(properties),
    )


def _parse_dump(text: str) -> Parsed[AppOpsDump]:
    warnings = Warnings()  # bounded: a megabyte of garbage must not become one of warnings
    errors: list[str] = []

    base = 0  # line number of the region's first line, minus one
    region = text
    if text.startswith("DUMP OF SERVICE ") or "\nDUMP OF SERVICE " in text:
        found = _SERVICE.search(text)
        if found is None:
            return Parsed(AppOpsDump(), (), "no 'DUMP OF SERVICE appops:' section in this text")
        start = found.end()  # the newline that ends the service header line
        base = text.count("\n", 0, start) + 1
        # The section ends at dumpsys' "--------- 0.05s was the duration ..." trailer, its
        # "-----" separator, or the next service, whichever comes first.
        ends = [i for i in (text.find("\n-----", start), text.find("\nDUMP OF", start)) if i >= 0]
        if ends:
            region = text[start + 1 : min(ends) + 1]
        else:
            region = text[start + 1 :]
            errors.append("the appops section has no end marker: the dumpsys output is cut off")

    lines = lines_of(region)  # on "\n" only, CRLF (pty captures) tolerated
    last_complete = region.endswith("\n")
    if not any(lines):
        return Parsed(AppOpsDump(), (), "; ".join([*errors, "no dumpsys appops text: empty"]))
    final_no = base + len(lines)  # a cut-off dump ends in an incomplete line: see the end
    warned_before_final = -1

    uids: list[UidOps] = []
    kind = _TOP
    seen_header = False
    # The uid block being read (u_uid < 0: none).
    u_uid = -1
    u_state: str | None = None
    u_capability: str | None = None
    u_modes: dict[str, str] = {}
    u_props: dict[str, str] = {}
    u_packages: dict[str, list[AppOpEntry]] = {}
    fg_ops = False
    # The package and the op being read (o_name None: none).
    p_ops: list[AppOpEntry] = []
    in_package = False
    o_name: str | None = None
    o_mode: Mode = "unknown"
    o_switch: str | None = None
    o_switch_mode: Mode | None = None
    o_accesses: list[OpAccess] = []
    o_runs: list[tuple[str | None, int | None, int]] = []  # (tag, running_for_ms, nesting)
    o_duration: int | None = None
    o_nesting = 0
    o_tag: str | None = None
    in_group = False
    group_line = 0
    group_text = ""
    last_kind = 0  # 1 after an Access: line, 2 after Reject: (P continuation lines follow them)
    # Each distinct duration / proxy text is read once (they take few values in a dump).
    durations: dict[str, int | None] = {}
    proxies: dict[str, tuple[int, str | None, str | None] | None] = {}
    record: OpAccess | AppOpEntry
    # Hot-loop locals (a local lookup is cheaper than a global or attribute one).
    access_body = _ACCESS_BODY.fullmatch
    small = _SMALL
    mode_of = _MODES.get
    new = _new
    fast_access = _FAST_ACCESS
    fast_entry = _FAST_ENTRY

    line_no = base
    for line in lines:
        line_no += 1
        if line_no == final_no:
            warned_before_final = len(warnings)
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)

        if kind == _UID and indent > 2 and stripped:
            if indent >= 8:
                # ---- inside an op: access records, running state, attribution groups
                if o_name is None:
                    _warn(warnings, line_no, line, "op detail outside an op")
                    continue
                head = stripped[:8]
                if head == "Access: ":
                    last_kind = 1
                    body = stripped[8:]
                elif head == "Reject: ":
                    last_kind = 2
                    body = stripped[8:]
                elif indent >= 14 and last_kind:
                    body = stripped  # P: one more uid state of the Access:/Reject: line above
                else:
                    body = ""
                if body:
                    rejected = last_kind == 2
                    m = access_body(body)
                    if m is None:
                        _warn(warnings, line_no, line, _access_failure(body))
                        last_kind = 0
                        continue
                    (
                        q_state,
                        flags,
                        state,
                        time,
                        _,
                        sign,
                        days,
                        hours,
                        minutes,
                        seconds,
                        millis,
                        dur,
                        tail,
                    ) = m.groups()
                    if q_state is not None:
                        state = q_state
                    else:
                        flags = ""
                    # The relative time, as _duration_value() computes it (inlined: hot path).
                    relative = 0
                    if sign is not None:
                        relative = small[millis]
                        if seconds is not None:
                            relative += 1000 * small[seconds]
                            if minutes is not None:
                                relative += 60_000 * small[minutes]
                                if hours is not None:
                                    relative += 3_600_000 * small[hours]
                                    if days is not None:
                                        relative += 86_400_000 * int(days)
                        if sign == "-":
                            relative = -relative
                    duration: int | None = None
                    if dur is not None:
                        duration = durations.get(dur)
                        if duration is None:
                            duration = durations[dur] = parse_duration(dur)
                            if duration is None:
                                _warn(warnings, line_no, line, "duration not understood")
                                last_kind = 0
                                continue
                    proxy_uid: int | None = None
                    proxy_package: str | None = None
                    proxy_tag: str | None = None
                    if tail:
                        proxy = proxies.get(tail)
                        if proxy is None:
                            proxy = proxies[tail] = _proxy(tail)
                            if proxy is None:
                                _warn(warnings, line_no, line, "text after the time not understood")
                                last_kind = 0
                                continue
                        proxy_uid, proxy_package, proxy_tag = proxy
                    if fast_access:
                        record = new(OpAccess)
                        fields = record.__dict__
                        fields["uid_state"] = state
                        fields["flags"] = flags
                        fields["time"] = time
                        fields["relative_ms"] = relative
                        fields["duration_ms"] = duration
                        fields["rejected"] = rejected
                        fields["attribution_tag"] = o_tag
                        fields["proxy_uid"] = proxy_uid
                        fields["proxy_package"] = proxy_package
                        fields["proxy_tag"] = proxy_tag
                    else:
                        record = _make_access(
                            state,
                            flags,
                            time,
                            relative,
                            duration,
                            rejected,
                            o_tag,
                            proxy_uid,
                            proxy_package,
                            proxy_tag,
                        )
                    o_accesses.append(record)
                    continue
                if indent >= 14:
                    _warn(warnings, line_no, line, "access line without Access:/Reject:")
                    continue
                last_kind = 0
                if stripped.startswith("Running start at: "):
                    since = parse_duration(stripped[18:].rstrip())
                    if since is None:
                        _warn(warnings, line_no, line, "running time not understood")
                    o_runs.append((o_tag, since, 1))
                elif stripped.startswith("duration="):
                    o_duration = parse_duration(stripped[9:].rstrip())
                    if o_duration is None:
                        _warn(warnings, line_no, line, "duration not understood")
                elif stripped.startswith("startNesting="):
                    nesting = _small_int(stripped[13:].rstrip())
                    if nesting is None:
                        _warn(warnings, line_no, line, "startNesting not understood")
                    elif in_group:  # R+: after this tag's "Running start at:", if > 1
                        if o_runs and o_runs[-1][0] == o_tag:
                            o_runs[-1] = (o_tag, o_runs[-1][1], nesting)
                        else:
                            _warn(warnings, line_no, line, "startNesting without running")
                    else:  # P/Q: per op, also while not running
                        o_nesting = nesting
                        if o_runs:
                            o_runs[-1] = (o_runs[-1][0], o_runs[-1][1], nesting)
                elif stripped.rstrip() == "]":
                    if not in_group:
                        _warn(warnings, line_no, line, "']' without an attribution group")
                    in_group = False
                    o_tag = None
                elif stripped.endswith("=["):
                    if in_group:
                        _warn(warnings, line_no, line, "attribution group inside another")
                    tag = stripped[:-2]
                    o_tag = None if tag == "null" else tag
                    in_group = True
                    group_line = line_no
                    group_text = line
                else:
                    _warn(warnings, line_no, line, "line in an op not understood")
                continue

            if indent == 6:
                # ---- an op of the current package, or a uid-scope mode before any package
                body = stripped.rstrip()
                if in_package:
                    if o_name is not None:
                        if o_runs or not fast_entry:
                            p_ops.append(
                                _make_entry(
                                    o_name,
                                    o_mode,
                                    o_switch,
                                    o_switch_mode,
                                    o_accesses,
                                    o_runs,
                                    o_duration,
                                    o_nesting,
                                )
                            )
                        else:  # _make_entry() inlined for the common case (hot path)
                            record = new(AppOpEntry)
                            fields = record.__dict__
                            fields["op"] = o_name
                            fields["mode"] = o_mode
                            fields["switch_op"] = o_switch
                            fields["switch_mode"] = o_switch_mode
                            fields["accesses"] = tuple(o_accesses)
                            fields["running"] = False
                            fields["running_for_ms"] = None
                            fields["nesting"] = o_nesting
                            fields["duration_ms"] = o_duration
                            fields["runs"] = ()
                            fields["scope"] = "package"
                            p_ops.append(record)
                        o_name = None
                        if in_group:
                            _warn(warnings, group_line, group_text, "attribution group not closed")
                            in_group = False
                    if body[-2:] == "):":
                        # "OP (mode[ / switch SWITCH=mode]):" (P+; with a trailing space to U)
                        name, sep, inner = body[:-2].partition(" (")
                        if sep and name and " " not in name:
                            mode_text, sw_sep, switch = inner.partition(" / switch ")
                            mode = mode_of(mode_text)
                            if mode is None:
                                _warn(warnings, line_no, line, "mode not understood")
                                mode = "unknown"
                            if name.startswith("OP_"):
                                name = _op_name(name)
                            o_name = name
                            o_mode = mode
                            o_switch = o_switch_mode = None
                            if sw_sep:
                                sw_name, _, sw_mode = switch.partition("=")
                                o_switch = _op_name(sw_name)
                                o_switch_mode = _MODES.get(sw_mode)
                                if o_switch_mode is None:
                                    _warn(warnings, line_no, line, "switch mode not understood")
                                    o_switch_mode = "unknown"
                            if o_accesses:  # (the entry holds a copy: reuse an empty list)
                                o_accesses = []
                            if o_runs:
                                o_runs = []
                            o_duration = None
                            o_nesting = 0
                            o_tag = None
                            last_kind = 0
                            continue
                    elif ": mode=" in body:
                        # O: "OP: mode=0; time=+5s0ms ago; duration=+1s0ms" or "... (running)"
                        entry = _get_line(body, "package", True)
                        if isinstance(entry, str):
                            _warn(warnings, line_no, line, entry)
                        else:
                            p_ops.append(entry)
                        continue
                    _warn(warnings, line_no, line, "op line not understood")
                    continue
                name, sep, value = body.partition(": ")
                if sep and _looks_like_op(name):
                    if value[:5] == "mode=":
                        mode = _MODES.get(value[5:])
                        if mode is None:
                            _warn(warnings, line_no, line, "mode not understood")
                        u_modes[_op_name(name)] = value[5:] if mode is None else mode
                        continue
                    if fg_ops and value in ("WATCHER", "SILENT"):
                        continue  # the foregroundOps list: watcher bookkeeping, skipped
                _warn(warnings, line_no, line, "uid-level line not understood")
                continue

            if indent == 4:
                # ---- a package, or a property of the uid
                fg_ops = False
                if stripped.startswith("Package ") and stripped.rstrip()[-1] == ":":
                    if o_name is not None:
                        p_ops.append(
                            _make_entry(
                                o_name,
                                o_mode,
                                o_switch,
                                o_switch_mode,
                                o_accesses,
                                o_runs,
                                o_duration,
                                o_nesting,
                            )
                        )
                        o_name = None
                        if in_group:
                            _warn(warnings, group_line, group_text, "attribution group not closed")
                            in_group = False
                    name = stripped.rstrip()[8:-1]
                    known = u_packages.get(name)
                    if known is None:
                        known = u_packages[name] = []
                    p_ops = known
                    in_package = True
                    continue
                if not in_package:
                    key, sep, value = stripped.partition("=")
                    if sep and key and " " not in key:
                        value = value.strip()
                        if key == "state":
                            u_state = value
                        elif key == "capability":
                            u_capability = value
                        else:
                            u_props[key] = value
                        continue
                    if stripped.rstrip() == "foregroundOps:":
                        fg_ops = True
                        continue
                _warn(warnings, line_no, line, "uid-level line not understood")
                continue

            _warn(warnings, line_no, line, "unexpected indentation")
            continue

        if not stripped:
            continue  # blank
        new_uid = -1
        if indent == 0:
            # ---- column 0: the dump header, tail sections, failures
            title = line.rstrip()
            if title == _HEADER:
                if seen_header:
                    _warn(warnings, line_no, line, "a second dump starts here; not read")
                    break
                seen_header = True
                new_kind = _TOP
            elif title in _TAIL_SECTIONS:
                new_kind = _TAIL
            elif line.startswith(_FAILURES):
                errors.append(f"line {line_no}: {line[:_CUT]}")
                continue
            elif kind in (_SECTION, _TAIL):
                continue  # e.g. PackageTagsList lines of the policy dump, event log lines
            else:
                _warn(warnings, line_no, line, "unexpected line at column 0")
                continue
        elif indent <= 2:
            # ---- indent 2: a uid block or another section begins
            if kind == _TAIL:
                continue
            new_kind = _SECTION
            if indent == 2 and stripped.startswith("Uid ") and stripped.rstrip()[-1] == ":":
                uid = _uid(stripped.rstrip()[4:-1])
                if uid is None:
                    _warn(warnings, line_no, line, "uid not understood; block skipped")
                else:
                    new_kind = _UID
                    new_uid = uid
            elif indent != 2 or not (
                stripped in _KNOWN_SECTIONS or stripped.startswith(_KNOWN_SECTION_PREFIXES)
            ):
                _warn(warnings, line_no, line, "unknown section; skipped")
        else:
            if kind == _TOP:
                _warn(warnings, line_no, line, "indented line outside any section")
            continue  # inside a skipped section

        # A new region begins: the uid block being read (if any) is complete.
        if o_name is not None:
            p_ops.append(
                _make_entry(
                    o_name,
                    o_mode,
                    o_switch,
                    o_switch_mode,
                    o_accesses,
                    o_runs,
                    o_duration,
                    o_nesting,
                )
            )
            o_name = None
            if in_group:
                _warn(warnings, group_line, group_text, "attribution group not closed")
                in_group = False
        if u_uid >= 0:
            uids.append(_uid_ops(u_uid, u_state, u_capability, u_modes, u_packages, u_props))
        kind = new_kind
        u_uid = new_uid
        if new_uid >= 0:
            u_state = u_capability = None
            u_modes = {}
            u_props = {}
            u_packages = {}
            fg_ops = False
        in_package = False

    if in_group:
        errors.append(f"cut off: the attribution group opened on line {group_line} is not closed")
    if o_name is not None:
        p_ops.append(
            _make_entry(
                o_name, o_mode, o_switch, o_switch_mode, o_accesses, o_runs, o_duration, o_nesting
            )
        )
    if u_uid >= 0:
        uids.append(_uid_ops(u_uid, u_state, u_capability, u_modes, u_packages, u_props))

    if not last_complete and 0 <= warned_before_final < len(warnings):
        errors.append(f"cut off: the last line ({final_no}) is incomplete")
    if not seen_header and not errors:
        errors.append(f"no '{_HEADER}' line: not a complete dumpsys appops output")
    return Parsed(AppOpsDump(tuple(uids)), warnings.result(), "; ".join(errors) or None)


# ------------------------------------------------------------------------------ cmd appops get
def _get_line(body: str, scope: OpScope, numeric: bool) -> AppOpEntry | str:
    """``OP: mode[; time=D ago][; rejectTime=D ago][ (running) | ; duration=D]`` (and the O
    dump's ``OP: mode=N; ...``) -> an entry; a str is the reason it is not one."""
    running = body.endswith(" (running)")
    if running:
        body = body[:-10]
    head, *fields = body.split("; ")
    name, sep, mode_text = head.partition(": ")
    if not sep or not _looks_like_op(name):
        return "not 'OP: mode'"
    if numeric:
        if not mode_text.startswith("mode="):
            return "not 'OP: mode=N'"
        mode_text = mode_text[5:]
    mode = _MODES.get(mode_text)
    if mode is None:
        return "mode not understood"
    accesses: list[OpAccess] = []
    duration: int | None = None
    for item in fields:
        key, _, value = item.partition("=")
        if key == "time" or key == "rejectTime":
            relative = _relative_ago(value)
            if relative is None:
                return f"{key}= not understood"
            rejected = key == "rejectTime"
            accesses.append(
                _make_access("", "", None, relative, None, rejected, None, None, None, None)
            )
        elif key == "duration" and not running and duration is None:
            duration = parse_duration(value)
            if duration is None:
                return "duration= not understood"
        else:
            return f"unexpected field {item[:40]!r}"
    return _make_entry(_op_name(name), mode, None, None, accesses, [], duration, 0, scope, running)


def parse_appops_get(text: str) -> Parsed[tuple[AppOpEntry, ...]]:
    """Parse ``cmd appops get PKG|UID [OP]`` (also ``appops get``), O to V.

    Scope: R+ prints the uid's modes first, and ``Uid mode: `` only before the first of them
    (doc §2.3). Uid modes carry no times, so the uid list ends at the first line with a time,
    a duration, `` (running)`` or an op already listed; the plain ``OP: mode`` lines after the
    first one and before that point could be either scope and are marked ``uid_or_package``.
    Lines before any ``Uid mode:`` are package modes (O/P print only those). ``No operations.``
    (and its ``Default mode:`` line) gives an empty tuple.
    """
    try:
        return _parse_get(text)
    except Exception as exc:  # totality is the contract; tests assert this path never runs
        return Parsed((), (), f"internal parser error: {exc!r}")


def _parse_get(text: str) -> Parsed[tuple[AppOpEntry, ...]]:
    warnings = Warnings()
    errors: list[str] = []
    entries: list[AppOpEntry] = []
    lines = lines_of(text)
    last_complete = text.endswith("\n")
    warned_before_final = -1
    # Before any "Uid mode:" line every line is a package mode; after one, "in_uid_run" while
    # the uid list may still go on.
    in_uid_run = False
    uid_names: set[str] = set()
    saw_any = False
    line_no = 0
    for line in lines:
        line_no += 1
        if line_no == len(lines):
            warned_before_final = len(warnings)
        body = line.strip()
        if not body:
            continue
        saw_any = True
        if body == "No operations." or body.startswith("Default mode: "):
            continue
        if body.startswith(("Error: ", "Unknown operation string", "Security exception")) or (
            "Exception" in body.partition(":")[0]
        ):
            errors.append(f"line {line_no}: {body[:_CUT]}")
            continue
        scope: OpScope = "package"
        if body.startswith("Uid mode: "):
            body = body[10:]
            scope = "uid"
        elif in_uid_run:
            scope = "uid_or_package"
        entry = _get_line(body, scope, False)
        if isinstance(entry, str):
            _warn(warnings, line_no, line, entry)
            continue
        if scope == "uid":
            in_uid_run = True
            uid_names = {entry.op}
        elif scope == "uid_or_package":
            if (
                entry.accesses
                or entry.running
                or entry.duration_ms is not None
                or entry.op in uid_names
            ):
                # Uid modes have no history and list each op once: the package list began.
                in_uid_run = False
                entry = _with_scope(entry, "package")
            else:
                uid_names.add(entry.op)
        entries.append(entry)
    if not saw_any:
        errors.append("empty input: no appops get text")
    if not last_complete and 0 <= warned_before_final < len(warnings):
        errors.append(f"cut off: the last line ({len(lines)}) is incomplete")
    return Parsed(tuple(entries), warnings.result(), "; ".join(errors) or None)


def _with_scope(entry: AppOpEntry, scope: OpScope) -> AppOpEntry:
    return entry if entry.scope == scope else dataclasses.replace(entry, scope=scope)
