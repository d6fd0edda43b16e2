"""Conformance of agent.parsers.appops with the real captures in ``shared/android-samples``.

Every capture must parse without error or warning, and what the parser found is checked
against counts taken here in another way (line patterns over the raw text, a second duration
reader), not by re-running the parser's logic. Then the same captures, mutated (lines dropped,
doubled, cut, garbage, NUL, ANSI, RTL, huge lines), must never make the parser raise, and the
parser's work must grow linearly with the input (counted in executed lines, not in seconds).

The samples are read where they are; nothing is copied into this repository (see their
PROVENANCE.md).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.model import AppOpEntry, AppOpsDump, Parsed
from agent.parsers import appops
from agent.parsers.appops import parse_appops_get, parse_dumpsys_appops

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "android-samples"
if not SAMPLES.is_dir():
    pytest.skip(
        f"shared captures not found at {SAMPLES} (a checkout next to ../shared is needed)",
        allow_module_level=True,
    )

# Files holding `dumpsys appops`, bare or inside a concatenated dumpsys / bugreport.
DUMPS = [
    "appops-perms/fireos_kftrwi_a9_dumpsys_appops_full.txt",  # Android 9, full
    "appops-perms/mvt_samsung-a40_a10_dumpsys_appops.txt",  # Android 10
    "appops-perms/mvt_androidqf_samsung-a40_a10_dumpsys_multi.txt",  # 10, concatenated
    "appops-perms/mvt_bugreport_samsung_dumpstate_excerpt.txt",  # 10, bugreport
    "packages/mvt_tests/android_data__dumpsys_appops.txt",
    "packages/mvt_tests/androidqf__dumpsys.txt",
    "packages/mvt_tests/bugreport__dumpstate.txt",
]
GETS = sorted(p.name for p in (SAMPLES / "appops-perms").glob("*appops_get*.txt"))


def read(name: str) -> str:
    return (SAMPLES / name).read_bytes().decode("utf-8", errors="replace")


def appops_lines(text: str) -> list[str]:
    """The raw lines of the appops dump in ``text``, found without the parser's code."""
    lines = text.split("\n")
    if not any(line.startswith("DUMP OF SERVICE ") for line in lines):
        return lines
    start = lines.index("DUMP OF SERVICE appops:") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("-----"))
    return lines[start:end]


def count(pattern: str, lines: list[str]) -> int:
    rx = re.compile(pattern)
    return sum(1 for line in lines if rx.search(line))


def entries(dump: AppOpsDump) -> list[AppOpEntry]:
    return [e for block in dump.uids for ops in block.packages.values() for e in ops]


_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}


def millis(text: str) -> int:
    """A second reader of formatDuration text: sum every <number><unit>, then the sign."""
    total = sum(int(n) * _UNIT_MS[u] for n, u in re.findall(r"(\d+)(ms|d|h|m|s)", text))
    return -total if text.startswith("-") else total


# ------------------------------------------------------------------------------ dumps
@pytest.fixture(scope="module", params=DUMPS)
def capture(request: pytest.FixtureRequest) -> tuple[list[str], Parsed[AppOpsDump]]:
    text = read(request.param)
    return appops_lines(text), parse_dumpsys_appops(text)


def test_parses_without_error_or_warning(
    capture: tuple[list[str], Parsed[AppOpsDump]],
) -> None:
    _, result = capture
    assert result.error is None
    assert result.warnings == ()


def test_uid_package_and_op_counts(capture: tuple[list[str], Parsed[AppOpsDump]]) -> None:
    lines, result = capture
    dump = result.value
    assert len(dump.uids) == count(r"^  Uid [^:]+:$", lines)
    assert sum(len(u.packages) for u in dump.uids) == count(r"^    Package \S+:$", lines)
    assert len(entries(dump)) == count(r"^      [A-Z0-9_]+ \([^)]*\): ?$", lines)
    assert sum(len(u.modes) for u in dump.uids) == count(r"^      [A-Z0-9_]+: mode=\S+$", lines)
    states = [line.split("=", 1)[1].strip() for line in lines if line.startswith("    state=")]
    assert [u.uid_state for u in dump.uids] == states


def test_access_records(capture: tuple[list[str], Parsed[AppOpsDump]]) -> None:
    lines, result = capture
    accesses = [a for e in entries(result.value) for a in e.accesses]
    # P continues an Access:/Reject: line with one line per further uid state (18 spaces).
    keyword = ""
    rejects = 0
    relatives: list[int] = []
    for line in lines:
        found = re.match(r"^ +(Access|Reject): |^ {18}(?=\w)", line)
        if found:
            keyword = found.group(1) or keyword
            rejects += keyword == "Reject"
            relatives.append(millis(line[line.rindex("(") + 1 : line.rindex(")")]))
        elif line.strip():
            keyword = ""
    assert len(accesses) == len(relatives)
    assert sum(a.rejected for a in accesses) == rejects
    assert [a.relative_ms for a in accesses] == relatives
    assert sum(a.proxy_uid is not None for a in accesses) == sum(" proxy[" in x for x in lines)
    per_access = [
        millis(m) for x in lines if "Access: " in x for m in re.findall(r" duration=(\S+)", x)
    ]
    assert [a.duration_ms for a in accesses if a.duration_ms is not None] == per_access


def test_running_and_op_durations(capture: tuple[list[str], Parsed[AppOpsDump]]) -> None:
    lines, result = capture
    ops = entries(result.value)
    running = [millis(x.split(": ", 1)[1]) for x in lines if "Running start at: " in x]
    assert [e.running_for_ms for e in ops if e.running] == running
    assert sum(len(e.runs) for e in ops) == len(running)
    durations = [millis(x.split("=", 1)[1]) for x in lines if x.startswith("          duration=")]
    assert [e.duration_ms for e in ops if e.duration_ms is not None] == durations


def test_android_9_spot_checks() -> None:
    dump = parse_dumpsys_appops(read(DUMPS[0])).value
    assert [u.uid for u in dump.uids[:3]] == [1000, 1002, 1041]
    assert {u.uid for u in dump.uids} >= {10_005, 99_000, 1_001_000, 1_010_185}  # u0a5 u0i0 ...
    android = {e.op: e for e in dump.ops_of("android")}
    monitor = android["MONITOR_LOCATION"]
    assert (monitor.running, monitor.running_for_ms, monitor.nesting) == (
        True,
        ((21 * 60 + 32) * 60 + 54) * 1000 + 633,
        1,
    )
    assert (monitor.switch_op, monitor.switch_mode) == ("COARSE_LOCATION", "allow")
    wake = android["WAKE_LOCK"]
    assert [(a.uid_state, a.time) for a in wake.accesses] == [
        ("pers", "2026-08-10 08:10:31.791"),
        ("fg", "2026-04-11 03:58:41.049"),
    ]
    assert wake.duration_ms == 17
    assert dict(dump.uids[0].properties) == {"startNesting": "1"}


def test_android_10_spot_checks() -> None:
    dump = parse_dumpsys_appops(read(DUMPS[1])).value
    by_uid = {u.uid: u for u in dump.uids}
    assert dict(by_uid[10_103].modes) == {"COARSE_LOCATION": "ignore", "LEGACY_STORAGE": "allow"}
    katana = {e.op: e for e in dump.ops_of("com.facebook.katana")}
    assert [a.uid_state for a in katana["WRITE_SMS"].accesses] == ["fg", "bg", "cch"]
    assert all(a.rejected and a.flags == "s" for a in katana["WRITE_SMS"].accesses)
    assert katana["READ_CONTACTS"].accesses[0].flags == "tpd"
    fdroid = {e.op: e for e in dump.ops_of("org.fdroid.fdroid")}
    toast = fdroid["TOAST_WINDOW"].accesses[0]
    assert (toast.proxy_uid, toast.proxy_package, toast.duration_ms) == (0, None, 1_942)


# ------------------------------------------------------------------------------ appops get
@pytest.mark.parametrize("name", GETS)
def test_get_captures(name: str) -> None:
    text = read(f"appops-perms/{name}")
    result = parse_appops_get(text)
    assert (result.error, result.warnings) == (None, ())
    lines = [line for line in text.split("\n") if line.strip()]
    got = result.value
    assert len(got) == len(lines)
    assert [e.op.removeprefix("OP_") for e in got] == [
        line.removeprefix("Uid mode: ").split(":", 1)[0].removeprefix("OP_") for line in lines
    ]
    times = [millis(m) for x in lines for m in re.findall(r"; time=(\S+) ago", x)]
    rejects = [millis(m) for x in lines for m in re.findall(r"; rejectTime=(\S+) ago", x)]
    accesses = [a for e in got for a in e.accesses]
    assert [a.relative_ms for a in accesses if not a.rejected] == [-t for t in times]
    assert [a.relative_ms for a in accesses if a.rejected] == [-t for t in rejects]
    assert sum(e.duration_ms is not None for e in got) == text.count("duration=")
    assert sum(e.running for e in got) == text.count(" (running)")
    uid_lines = [i for i, line in enumerate(lines) if line.startswith("Uid mode: ")]
    assert [i for i, e in enumerate(got) if e.scope == "uid"] == uid_lines


# ------------------------------------------------------------------------------ hostility
HOSTILE = [
    "\x00",
    "\x1b[31m",
    "\u202e",  # right-to-left override
    "\u2028",  # a line separator that is not "\n"
    "\r",
    "]",
    "=[",
    " (",
    "): ",
    "Access: ",
    "Reject: [",
    "Running start at: ",
    "  Uid ",
    "    Package ",
    "DUMP OF SERVICE appops:",
    "-----",
    " proxy[uid=",
    ", attributionTag=",
    "-1d2h3m4s5ms",
    "9" * 40,
]


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few lines dropped, doubled, cut, replaced or padded with junk."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        action = draw(st.sampled_from(["drop", "double", "cut", "junk", "insert", "huge"]))
        if not lines:
            lines.append("")
        line = lines[i]
        if action == "drop":
            del lines[i]
        elif action == "double":
            lines.insert(i, line)
        elif action == "cut":
            lines[i] = line[: draw(st.integers(0, len(line)))]
        elif action == "junk":
            at = draw(st.integers(0, len(line)))
            junk = "".join(draw(st.lists(st.sampled_from(HOSTILE), max_size=4)))
            lines[i] = line[:at] + junk + line[at:]
        elif action == "insert":
            lines.insert(i, draw(st.text(max_size=60)))
        else:  # a megabyte line
            lines[i] = line + draw(st.sampled_from(HOSTILE)) * (1_000_000 // 8)
    if draw(st.booleans()):
        return "\n".join(lines)
    return "\n".join(lines)[: draw(st.integers(0, len(text)))]  # cut anywhere


def assert_total(result: Parsed[Any], n_lines: int) -> None:
    assert result.error is None or not result.error.startswith("internal parser error")
    for warning in result.warnings:
        assert 1 <= warning.line_no <= n_lines + 1
        assert len(warning.line) <= 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(DUMPS))
def test_mutated_dumps_never_raise(data: st.DataObject, name: str) -> None:
    text = data.draw(mutated(read(name)))
    result = parse_dumpsys_appops(text)
    assert isinstance(result.value, AppOpsDump)
    assert_total(result, text.count("\n") + 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(GETS))
def test_mutated_gets_never_raise(data: st.DataObject, name: str) -> None:
    text = data.draw(mutated(read(f"appops-perms/{name}")))
    result = parse_appops_get(text)
    assert isinstance(result.value, tuple)
    assert_total(result, text.count("\n") + 1)


# ------------------------------------------------------------------------------ linear time
def executed_lines(parse: Callable[[str], object], text: str) -> int:
    """How many lines of agent/parsers/appops.py run while parsing ``text`` (no clock)."""
    source = appops.__file__
    executed = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal executed
        if frame.f_code.co_filename != source:
            return None  # neither this frame's lines nor its callees' are counted
        if event == "line":
            executed += 1
        return tracer

    sys.settrace(tracer)
    try:
        parse(text)
    finally:
        sys.settrace(None)
    return executed


def uid_region(text: str) -> tuple[str, str, str]:
    start = text.index("\n  Uid ") + 1
    end = text.rindex("\n  User restrictions")
    return text[:start], text[start : end + 1], text[end + 1 :]


def grown(factor: int) -> list[str]:
    """The Android 9 dump with its uid blocks repeated, and junk, ``factor`` times."""
    head, body, tail = uid_region(read(DUMPS[0]))
    op = "  Uid 1000:\n    Package p:\n      OP (allow):\n"
    return [
        head + body * factor + tail,
        head + op + "        ?\n" * 500 * factor,  # a warning per line
        head + (op + "        x=[\n") * 200 * factor,  # blocks, groups never closed
        head + op + "          Access: [top-s] 2024-01-01 10:00:00.000 (-5s0ms)\n" * 300 * factor,
    ]


@pytest.mark.parametrize("kind", range(4))
def test_work_grows_linearly(kind: int) -> None:
    small, large = grown(1)[kind], grown(8)[kind]
    ratio = executed_lines(parse_dumpsys_appops, large) / executed_lines(
        parse_dumpsys_appops, small
    )
    assert ratio <= 8 * 1.25, f"8x the input cost {ratio:.1f}x the work"


def test_get_work_grows_linearly() -> None:
    text = read(f"appops-perms/{GETS[0]}")
    ratio = executed_lines(parse_appops_get, text * 16) / executed_lines(parse_appops_get, text)
    assert ratio <= 16 * 1.25


def cpu_cost(parse: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        parse(text)
        best = min(best, time.process_time() - started)
    return max(best, 1e-6)


# One line holds all the text: executed lines cannot see inside the regexes and str methods
# that run over it, so here the CPU time of a 16x longer line is compared with a 4x margin
# (a quadratic cost would be 256x). Only a ratio is asserted, never a duration.
LONG_LINES = ["[a-", " (", "9", "Access: ", "x = ", " proxy[uid=1, pkg=", ", attributionTag=", "=["]


@pytest.mark.parametrize("junk", LONG_LINES)
def test_long_lines_cost_linear_cpu(junk: str) -> None:
    head, _, _ = uid_region(read(DUMPS[0]))
    op = head + "  Uid 1000:\n    Package p:\n      OP (allow):\n"

    def text(size: int) -> str:
        return f"{op}          Access: [t-s] 2024-01-01 {junk * (size // len(junk))} (-5s0ms)\n"

    small, large = text(262_144), text(16 * 262_144)
    for parse in (parse_dumpsys_appops, parse_appops_get):
        ratio = cpu_cost(parse, large) / cpu_cost(parse, small)
        assert ratio <= 16 * 4, f"{parse.__name__}: 16x the line cost {ratio:.0f}x the CPU"


def test_megabyte_lines_parse() -> None:
    head, _, _ = uid_region(read(DUMPS[0]))
    op = head + "  Uid 1000:\n    Package p:\n      OP (allow):\n"
    for junk in ("[a-" * 350_000, " (" * 500_000, "9" * 1_000_000, "Access: " * 125_000):
        result = parse_dumpsys_appops(f"{op}          Access: {junk} (-5s0ms)\n")
        assert result.error is None
        assert len(result.warnings) == 1
        assert result.warnings[0].line_no == op.count("\n") + 1
