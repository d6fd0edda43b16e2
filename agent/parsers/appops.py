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

Speed: a full dump is tens of thousands of access, op and package lines, so those are read in a
fast lane at the top of the loop, recognised by their fixed start (indentation included) and
taken only when exactly in the usual shape; any other line, or one the lane declines, goes on to
the general dispatch, which reads it again and warns if need be. The lane changes speed only
(tests compare it with the general dispatch on near-miss lines). Records are built through
same-slot builders (see "records" below), and an op with a mode and nothing else is one shared
record per distinct value (they repeat over thousands of packages). Nothing is cached from one
call to the next.

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
# dataclass __init__ (one object.__setattr__ call per field) costs several times what the rest of
# the line does. The AppOps records are slotted (agent.model), so the parser fills a builder
# instead: a plain class with exactly the record's __slots__, whose attribute stores are plain
# slot writes, then sets the builder's __class__ to the record class. CPython allows that between
# classes of the same layout, and the object then is the record __init__ would have made (same
# type and fields, ==, hash, repr, still frozen), built five times faster than by __init__, as
# one allocation (no instance __dict__: less memory, and less work for the garbage collector,
# which the tens of thousands of records of a parse trigger over and over). _retypable() checks
# the layout at import: a changed model falls back to the real constructor instead of diverging.
class _AccessSlots:
    __slots__ = (  # noqa: RUF023 -- the order of OpAccess's fields, which _retypable checks
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
    )
    uid_state: str
    flags: str
    time: str | None
    relative_ms: int | None
    duration_ms: int | None
    rejected: bool
    attribution_tag: str | None
    proxy_uid: int | None
    proxy_package: str | None
    proxy_tag: str | None


class _EntrySlots:
    __slots__ = (  # noqa: RUF023 -- the order of AppOpEntry's fields, which _retypable checks
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
    )
    op: str
    mode: Mode
    switch_op: str | None
    switch_mode: Mode | None
    accesses: tuple[OpAccess, ...]
    running: bool
    running_for_ms: int | None
    nesting: int
    duration_ms: int | None
    runs: tuple[OpRun, ...]
    scope: OpScope


class _UidSlots:
    __slots__ = (  # noqa: RUF023 -- the order of UidOps's fields, which _retypable checks
        "uid",
        "uid_state",
        "capability",
        "modes",
        "packages",
        "properties",
    )
    uid: int
    uid_state: str | None
    capability: str | None
    modes: Mapping[str, str]
    packages: Mapping[str, tuple[AppOpEntry, ...]]
    properties: Mapping[str, str]


def _retypable(builder: type, cls: type) -> bool:
    """Whether a filled ``builder`` may become a ``cls`` record by ``__class__`` assignment."""
    if not dataclasses.is_dataclass(cls) or "__post_init__" in vars(cls):
        return False
    names = tuple(f.name for f in dataclasses.fields(cls))
    if vars(cls).get("__slots__") != names or vars(builder).get("__slots__") != names:
        return False
    probe: object = _new(builder)
    try:
        probe.__class__ = cls  # TypeError unless both layouts are the same
    except TypeError:
        return False
    return True


_new = object.__new__
_FAST_ACCESS = _retypable(_AccessSlots, OpAccess)
_FAST_ENTRY = _retypable(_EntrySlots, AppOpEntry)
_FAST_UID = _retypable(_UidSlots, UidOps)

# Shared by every uid block with nothing to put in them: an empty read-only mapping is one value
# however many records hold it, and a dump has thousands of uid blocks without uid modes.
_NO_STRINGS: Final[Mapping[str, str]] = MappingProxyType({})
_NO_PACKAGES: Final[Mapping[str, tuple[AppOpEntry, ...]]] = MappingProxyType({})


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
        record = _new(_AccessSlots)
        record.uid_state = uid_state
        record.flags = flags
        record.time = time
        record.relative_ms = relative_ms
        record.duration_ms = duration_ms
        record.rejected = rejected
        record.attribution_tag = attribution_tag
        record.proxy_uid = proxy_uid
        record.proxy_package = proxy_package
        record.proxy_tag = proxy_tag
        record.__class__ = OpAccess  # type: ignore[assignment]  # same slots: see above
        return record  # type: ignore[return-value]  # it is an OpAccess now
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
    bare: dict[tuple[str, Mode, str | None, Mode | None], AppOpEntry] | None = None,
) -> AppOpEntry:
    """An op's record from what its lines gave (``runs_seen``: tag, running-for, nesting).

    ``bare``: the parse's records of ops with a mode and nothing else, by value; such an op is
    looked up there (and added if new), so that each distinct one is a single record.
    """
    if (
        bare is None
        or accesses
        or runs_seen
        or duration_ms is not None
        or nesting
        or scope != "package"
        or running
    ):
        return _new_entry(
            op,
            mode,
            switch_op,
            switch_mode,
            accesses,
            runs_seen,
            duration_ms,
            nesting,
            scope,
            running,
        )
    key = (op, mode, switch_op, switch_mode)
    known = bare.get(key)
    if known is None:
        known = bare[key] = _new_entry(
            op, mode, switch_op, switch_mode, [], [], None, 0, scope, False
        )
    return known


def _new_entry(
    op: str,
    mode: Mode,
    switch_op: str | None,
    switch_mode: Mode | None,
    accesses: list[OpAccess],
    runs_seen: list[tuple[str | None, int | None, int]],
    duration_ms: int | None,
    nesting: int,
    scope: OpScope,
    running: bool,
) -> AppOpEntry:
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
        record = _new(_EntrySlots)
        record.op = op
        record.mode = mode
        record.switch_op = switch_op
        record.switch_mode = switch_mode
        record.accesses = tuple(accesses)
        record.running = running
        record.running_for_ms = running_for
        record.nesting = nesting
        record.duration_ms = duration_ms
        record.runs = runs
        record.scope = scope
        record.__class__ = AppOpEntry  # type: ignore[assignment]  # same slots: see above
        return record  # type: ignore[return-value]  # it is an AppOpEntry now
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


def _uid_ops(
    uid: int,
    state: str | None,
    capability: str | None,
    modes: dict[str, str],
    packages: dict[str, list[AppOpEntry]],
    properties: dict[str, str],
) -> UidOps:
    shown_modes = MappingProxyType(modes) if modes else _NO_STRINGS
    shown_packages = (
        MappingProxyType({name: tuple(ops) for name, ops in packages.items()})
        if packages
        else _NO_PACKAGES
    )
    shown_properties = MappingProxyType(properties) if properties else _NO_STRINGS
    if _FAST_UID:
        record = _new(_UidSlots)
        record.uid = uid
        record.uid_state = state
        record.capability = capability
        record.modes = shown_modes
        record.packages = shown_packages
        record.properties = shown_properties
        record.__class__ = UidOps  # type: ignore[assignment]  # same slots: see above
        return record  # type: ignore[return-value]  # it is a UidOps now
    return UidOps(
        uid=uid,
        uid_state=state,
        capability=capability,
        modes=shown_modes,
        packages=shown_packages,
        properties=shown_properties,
    )


# ------------------------------------------------------------------------------ durations
# TimeUtils.formatDuration prints "0", or a sign, then the d, h, m, s fields from the first
# non-zero one on (every later field always, no zero padding, carried: h < 24, m and s < 60),
# then always "<millis>ms" (< 1000). The nesting below makes a field require all smaller ones,
# the lookahead refuses a zero first field ("+0h..", "+0ms"), the digit classes refuse leading
# zeros and out-of-range values. Linear: every quantifier is bounded or over a disjoint class.
# Written for the regex engine's speed, the language being the same: "(?:X|)" rather than
# "(?:X)?" (a plain branch, not the engine's general repeat), "2[0-3]" tried before "1?[0-9]"
# (no backtracking on "21h"), and [0-9] rather than \d, which would also take other scripts'
# digits that formatDuration never prints (and that the tables below do not hold).
# Groups: sign, days, hours, minutes, seconds, millis (all None for the bare "0").
_DUR: Final = (
    r"(?:0|([+-])(?!0[dhms])"
    r"(?:(?:(?:(?:([1-9][0-9]{0,11})d|)(2[0-3]|1?[0-9])h|)([1-5]?[0-9])m|)([1-5]?[0-9])s|)"
    r"(0|[1-9][0-9]{0,2})ms)"
)
_DURATION: Final = re.compile(_DUR)


def _unit_table(count: int, unit: int) -> Mapping[str | None, int]:
    """``{"0": 0, "1": unit, ...}`` plus ``None: 0``: a field's milliseconds by its digits, an
    absent field (a None group) counting 0, so a duration is a sum of lookups."""
    table: dict[str | None, int] = {str(i): i * unit for i in range(count)}
    table[None] = 0
    return MappingProxyType(table)


_MILLIS: Final = _unit_table(1000, 1)
_SECONDS: Final = _unit_table(60, 1000)
_MINUTES: Final = _unit_table(60, 60_000)
_HOURS: Final = _unit_table(24, 3_600_000)
_DAYS: Final = _unit_table(1000, 86_400_000)  # beyond: int(), as in _duration_value()


def parse_duration(text: str) -> int | None:
    """Milliseconds from ``TimeUtils.formatDuration`` text, or None if it could not print it.

    ``-1d2h3m4s5ms`` -> -93784005, ``+5s0ms`` -> 5000, ``-12ms`` -> -12, ``0`` -> 0. Strict:
    forms formatDuration never prints (``+3s``, ``+0h5m0s0ms``, ``+61s0ms``, ``05ms``, ``+0ms``)
    are refused, so a value that parses is one the phone really printed.
    """
    m = _DURATION.fullmatch(text)
    if m is None:
        return None
    return _duration_value(*m.groups())


def _duration_value(
    sign: str | None,
    days: str | None,
    hours: str | None,
    minutes: str | None,
    seconds: str | None,
    millis: str | None,
) -> int:
    """The milliseconds of a :data:`_DUR` match's groups (``sign`` None: not negated)."""
    value = _MILLIS[millis] + _SECONDS[seconds] + _MINUTES[minutes] + _HOURS[hours]
    if days is not None:
        value += 86_400_000 * int(days)
    return -value if sign == "-" else value


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
    if text[:1] == "u":
        # The usual app uid "u<user>a<app>", read without the regex (the same language: an
        # "ai" kind or other digits than ASCII ones go on to it).
        user, sep, number = text[1:].partition("a")
        if (
            sep
            and 0 < len(user) <= 6
            and 0 < len(number) <= 6
            and user.isascii()
            and user.isdigit()
            and number.isascii()
            and number.isdigit()
        ):
            return int(user) * 100_000 + 10_000 + int(number)
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
# anything. Groups: Q state, Q flags, P state, time, the six of _DUR, duration, tail.
_ACCESS_BODY: Final = re.compile(
    r"(?:\[([^\]\-]*)-([^\]]*)\] ?|([^ =\[]+) *= )([^()]+) \("
    + _DUR
    + r"\)(?: duration=(\S*))?(.*)"
)
# The same pattern for a body that does not start with "[" and ends at the ")": P's whole line
# (Q+ does not print the padded "state = " form, P prints no duration or proxy there). Where it
# matches, _ACCESS_BODY matches with the same groups (its first branch needs a "[", the rest is
# the same, and (?: duration=...)?(.*) take nothing at the end); where it does not, the parse
# loop asks _ACCESS_BODY. It is the cheaper of the two for the engine (fewer groups, no tail).
# Groups: P state, time, the six of _DUR.
_ACCESS_P: Final = re.compile(r"([^ =\[]+) *= ([^()]+) \(" + _DUR + r"\)")


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


def _access(
    body: str,
    rejected: bool,
    tag: str | None,
    durations: dict[str, int | None],
    proxies: dict[str, tuple[int, str | None, str | None] | None],
) -> OpAccess | str:
    """The record of an access line's ``body``, or why there is none (the warning's reason).

    The general case; the parse loop reads the usual lines itself, with the same pattern and
    the same tables. ``durations`` and ``proxies`` hold the texts already read in this parse.
    """
    m = _ACCESS_BODY.fullmatch(body)
    if m is None:
        return _access_failure(body)
    q_state, flags, state, time, sign, days, hours, minutes, seconds, millis, dur, tail = m.groups()
    if q_state is not None:
        state = q_state
    else:
        flags = ""
    relative = _duration_value(sign, days, hours, minutes, seconds, millis)
    duration: int | None = None
    if dur is not None:
        duration = durations.get(dur)
        if duration is None:
            duration = durations[dur] = parse_duration(dur)
            if duration is None:
                return "duration not understood"
    proxy_uid: int | None = None
    proxy_package: str | None = None
    proxy_tag: str | None = None
    if tail:
        proxy = proxies.get(tail)
        if proxy is None:
            proxy = proxies[tail] = _proxy(tail)
            if proxy is None:
                return "text after the time not understood"
        proxy_uid, proxy_package, proxy_tag = proxy
    return _make_access(
        state, flags, time, relative, duration, rejected, tag, proxy_uid, proxy_package, proxy_tag
    )


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

# The fixed starts (indentation included) of the lines a uid block is mostly made of.
_ACCESS_AT: Final = "          Access: "
_REJECT_AT: Final = "          Reject: "
_CONTINUED_AT: Final = " " * 18  # P: a further uid state of the Access:/Reject: line above
_OP_AT: Final = " " * 6
_PACKAGE_AT: Final = "    Package "
_KEYWORDS: Final = ("Access: ", "Reject: ")
_FAST_LANE = True
"""Read those lines in the fast lane of the parse loop. False: the general dispatch reads every
line, as it does any line the fast lane passes on (tests compare the two)."""


def parse_dumpsys_appops(text: str) -> Parsed[AppOpsDump]:
    """Parse ``dumpsys appops`` (any option set; O to V), bare or inside concatenated dumpsys.

    Never raises. The value holds what could be read; ``error`` says why the rest is missing
    (not an appops dump, a refusal, a cut-off dump).
    """
    try:
        return _parse_dump(text)
    except Exception as exc:  # totality is the contract; tests assert this path never runs
        return Parsed(AppOpsDump(), (), f"internal parser error: {exc!r}")


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
    warned_before_final = -1  # a cut-off dump ends in an incomplete line: see the end
    # The last line is read after the others, by the same loop body, so that the number of
    # warnings before it is known without comparing every line's number with the last one.
    final = [lines.pop()]

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
    # The package and the op being read (o_name None: none). o_name is only ever set while
    # in_package, and in_package only while kind == _UID.
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
    bare: dict[tuple[str, Mode, str | None, Mode | None], AppOpEntry] = {}
    # Hot-loop locals (a local lookup is cheaper than a global or attribute one).
    access_body = _ACCESS_BODY.fullmatch
    access_p = _ACCESS_P.fullmatch
    # Plain-dict copies of the read-only tables, once per parse: the loop makes five lookups
    # per access record, and a dict subscript skips the MappingProxyType's indirection.
    mode_of = dict(_MODES).get
    in_millis, in_seconds = dict(_MILLIS), dict(_SECONDS)
    in_minutes, in_hours, in_days = dict(_MINUTES), dict(_HOURS), dict(_DAYS)
    new = _new
    fast_access = _FAST_ACCESS
    fast_entry = _FAST_ENTRY
    fast_lane = _FAST_LANE
    access_at, reject_at, continued_at = _ACCESS_AT, _REJECT_AT, _CONTINUED_AT
    op_at, package_at = _OP_AT, _PACKAGE_AT

    line_no = base
    for batch in (lines, final):
        if batch is final:
            warned_before_final = len(warnings)
        for line in batch:
            line_no += 1

            if in_package and fast_lane:
                # ---- the lines a package is made of, known by their fixed start (indentation
                # included) without measuring it. A line not exactly in the usual shape goes on
                # to the general dispatch below, which reads it again (and warns).
                head = line[:18]
                access = 0  # what the line is if it is an access record: as last_kind
                if o_name is not None:
                    if head == access_at:
                        access = 1
                    elif head == reject_at:
                        access = 2
                    elif (
                        head == continued_at
                        and line[18:19] not in " "
                        and line[18:26] not in _KEYWORDS
                    ):
                        # Indented 18 exactly: P's next uid state, if one is due (a keyword
                        # there starts a record of its own: the general path reads that).
                        access = last_kind
                if access:
                    # What _access() does, inlined: this runs once per access record. Where
                    # the line is not as usual, the general dispatch below reads it again.
                    m = access_p(line, 18)
                    if m is not None:
                        state, time, sign, days, hours, minutes, seconds, millis = m.groups()
                        flags = ""
                        duration: int | None = None
                        proxy_uid: int | None = None
                        proxy_package: str | None = None
                        proxy_tag: str | None = None
                    else:
                        m = access_body(line, 18)
                        if m is not None:
                            (
                                q_state,
                                flags,
                                state,
                                time,
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
                            duration = proxy_uid = proxy_package = proxy_tag = None
                            if dur is not None:
                                duration = durations.get(dur)
                                if duration is None:
                                    duration = durations[dur] = parse_duration(dur)
                                    if duration is None:
                                        m = None  # to be warned about below
                            if tail and m is not None:
                                proxy = proxies.get(tail)
                                if proxy is None:
                                    proxy = proxies[tail] = _proxy(tail)
                                if proxy is None:
                                    m = None  # to be warned about below
                                else:
                                    proxy_uid, proxy_package, proxy_tag = proxy
                    if m is not None:
                        try:
                            relative = (
                                in_millis[millis]
                                + in_seconds[seconds]
                                + in_minutes[minutes]
                                + in_hours[hours]
                                + in_days[days]
                            )
                        except KeyError:  # a thousand days or more: the only key not held
                            relative = _duration_value(None, days, hours, minutes, seconds, millis)
                        if sign == "-":
                            relative = -relative
                        if fast_access:
                            built = new(_AccessSlots)
                            built.uid_state = state
                            built.flags = flags
                            built.time = time
                            built.relative_ms = relative
                            built.duration_ms = duration
                            built.rejected = access == 2
                            built.attribution_tag = o_tag
                            built.proxy_uid = proxy_uid
                            built.proxy_package = proxy_package
                            built.proxy_tag = proxy_tag
                            built.__class__ = OpAccess  # type: ignore[assignment]  # see records
                            o_accesses.append(built)  # type: ignore[arg-type]  # an OpAccess now
                        else:
                            o_accesses.append(
                                _make_access(
                                    state,
                                    flags,
                                    time,
                                    relative,
                                    duration,
                                    access == 2,
                                    o_tag,
                                    proxy_uid,
                                    proxy_package,
                                    proxy_tag,
                                )
                            )
                        last_kind = access
                        continue
                elif not in_group:
                    # An op line "OP (mode):" (P+; with a trailing space to U) or a package
                    # line: both end the op being read.
                    op_mode: Mode | None = None  # set: the line opens an op
                    opens_package = False
                    if head[:6] == op_at and line[6:7] not in " ":
                        if line[-2:] == "):":
                            name, sep, inner = line[6:-2].partition(" (")
                        elif line[-3:] == "): ":
                            name, sep, inner = line[6:-3].partition(" (")
                        else:
                            sep = ""
                        if sep and name and " " not in name:
                            op_mode = mode_of(inner)  # None for "mode / switch OP=mode" too
                    elif head[:12] == package_at and line[-1:] == ":":
                        opens_package = True
                    if op_mode is not None or opens_package:
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
                                        bare=bare,
                                    )
                                )
                            else:  # _make_entry() inlined for the common case
                                # An op with a mode and nothing else is one record per distinct
                                # value, shared by every package that has it: a dump repeats a
                                # few dozen such values over thousands of packages.
                                bare_key = None
                                shared = None
                                if not o_accesses and o_duration is None and not o_nesting:
                                    bare_key = (o_name, o_mode, o_switch, o_switch_mode)
                                    shared = bare.get(bare_key)
                                if shared is not None:
                                    p_ops.append(shared)
                                else:
                                    built_entry = new(_EntrySlots)
                                    built_entry.op = o_name
                                    built_entry.mode = o_mode
                                    built_entry.switch_op = o_switch
                                    built_entry.switch_mode = o_switch_mode
                                    built_entry.accesses = tuple(o_accesses)
                                    built_entry.running = False
                                    built_entry.running_for_ms = None
                                    built_entry.nesting = o_nesting
                                    built_entry.duration_ms = o_duration
                                    built_entry.runs = ()
                                    built_entry.scope = "package"
                                    built_entry.__class__ = AppOpEntry  # type: ignore[assignment]
                                    made: AppOpEntry = built_entry  # type: ignore[assignment]
                                    p_ops.append(made)
                                    if bare_key is not None:
                                        bare[bare_key] = made
                            o_name = None
                        if op_mode is not None:
                            o_name = _op_name(name) if name[:3] == "OP_" else name
                            o_mode = op_mode
                            o_switch = o_switch_mode = None
                            if o_accesses:  # (the entry holds a copy: reuse an empty list)
                                o_accesses = []
                            if o_runs:
                                o_runs = []
                            o_duration = None
                            o_nesting = 0
                            o_tag = None
                            last_kind = 0
                        else:
                            fg_ops = False
                            name = line[12:-1]
                            known = u_packages.get(name)
                            if known is None:
                                known = u_packages[name] = []
                            p_ops = known
                        continue

            # ---- the general dispatch, on indentation and a literal prefix
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
                        got = _access(body, last_kind == 2, o_tag, durations, proxies)
                        if isinstance(got, str):
                            _warn(warnings, line_no, line, got)
                            last_kind = 0
                        else:
                            o_accesses.append(got)
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
                                    bare=bare,
                                )
                            )
                            o_name = None
                            if in_group:
                                _warn(
                                    warnings, group_line, group_text, "attribution group not closed"
                                )
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
                            mode = mode_of(value[5:])
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
                                    bare=bare,
                                )
                            )
                            o_name = None
                            if in_group:
                                _warn(
                                    warnings, group_line, group_text, "attribution group not closed"
                                )
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
                        bare=bare,
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
        else:
            continue
        break  # a second dump begins: the rest is not read

    if in_group:
        errors.append(f"cut off: the attribution group opened on line {group_line} is not closed")
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
                bare=bare,
            )
        )
    if u_uid >= 0:
        uids.append(_uid_ops(u_uid, u_state, u_capability, u_modes, u_packages, u_props))

    if not last_complete and 0 <= warned_before_final < len(warnings):
        errors.append(f"cut off: the last line ({line_no}) is incomplete")
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
