"""Stock commands for simulated devices: just enough Android for end-to-end tests.

Owns the behaviour of ``getprop``, ``logcat``, ``cat`` and the test-only ``yes-bytes``. Tests that
need other commands (``pm``, ``dumpsys`` …) register their own on the :class:`Shell` this returns;
keeping the stock set small keeps it honest.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from typing import Final

from agent.sim.shell import CommandHandler, Shell, ShellIO

__all__ = ["basic_shell", "pattern_bytes"]

_PATTERN_PERIOD: Final = 251  # prime, so a lost or repeated chunk of any power-of-two size shows
_PATTERN_BLOCK: Final = bytes((i * 37 + 11) % 256 for i in range(_PATTERN_PERIOD))
_CHUNK: Final = 256 * 1024
_PATTERN_RUN: Final = _PATTERN_BLOCK * (_CHUNK // _PATTERN_PERIOD + 2)

LOGCAT_INTERVAL: Final = 0.1
"""Seconds between two lines of the simulated ``logcat`` stream."""


def pattern_bytes(size: int, offset: int = 0) -> bytes:
    """The bytes ``yes-bytes`` emits at ``offset``; tests recompute them to compare byte-exactly."""
    out = bytearray()
    while len(out) < size:
        start = (offset + len(out)) % _PATTERN_PERIOD
        take = min(size - len(out), _CHUNK)
        out += _PATTERN_RUN[start : start + take]
    return bytes(out)


def basic_shell(props: Mapping[str, str], files: dict[str, bytes] | None = None) -> Shell:
    """A Shell with ``getprop``, ``logcat``, ``yes-bytes`` and ``cat``.

    ``files`` is shared by reference, so passing the same dict to the device's ``files=`` makes
    ``adb push`` visible to ``cat``.
    """
    props = dict(props)
    fs: dict[str, bytes] = files if files is not None else {}

    async def getprop(argv: list[str], io: ShellIO) -> int:
        if len(argv) == 1:
            await io.out("".join(f"[{k}]: [{props[k]}]\n" for k in sorted(props)))
        else:
            default = argv[2] if len(argv) > 2 else ""
            await io.out(props.get(argv[1], default) + "\n")
        return 0

    async def logcat(argv: list[str], io: ShellIO) -> int:
        if "-c" in argv:
            return 0
        dump = "-d" in argv
        for n in itertools.count():
            if dump and n == 5:
                return 0
            await io.out(_event_line(n))
            if not dump:
                await asyncio.sleep(LOGCAT_INTERVAL)
        raise AssertionError("unreachable")

    async def yes_bytes(argv: list[str], io: ShellIO) -> int:
        try:
            size = int(argv[1])
            if size < 0:
                raise ValueError(size)
        except (IndexError, ValueError):
            await io.err("usage: yes-bytes N\n")
            return 1
        for offset in range(0, size, _CHUNK):
            await io.out(pattern_bytes(min(_CHUNK, size - offset), offset))
        return 0

    async def cat(argv: list[str], io: ShellIO) -> int:
        status = 0
        for name in argv[1:] or ["-"]:
            if name == "-":
                while chunk := await io.read_stdin():
                    await io.out(chunk)
            elif name in fs:
                await io.out(fs[name])
            else:
                await io.err(f"cat: {name}: No such file or directory\n")
                status = 1
        return status

    commands: dict[str, CommandHandler] = {
        "getprop": getprop,
        "logcat": logcat,
        "yes-bytes": yes_bytes,
        "cat": cat,
    }
    return Shell(commands)


_EVENTS: Final = (
    "am_proc_start: [0,{pid},{uid},com.example.app{n},activity,{{com.example.app{n}/.Main}}]",
    "am_create_activity: [0,{tid},0,com.example.app{n}/.Main,android.intent.action.MAIN,NULL,NULL,"
    "270532608]",
    "am_pss: [{pid},{uid},com.example.app{n},5234688,4161536,0,60260352,1,3,3]",
    "am_proc_died: [0,{pid},com.example.app{n},900,17]",
)


def _event_line(n: int) -> str:
    """One line shaped like ``logcat -b events -v epoch`` output."""
    pid = 4000 + n // len(_EVENTS)
    text = _EVENTS[n % len(_EVENTS)].format(
        pid=pid, tid=1000 + n, uid=10100 + n // len(_EVENTS) % 50, n=n // len(_EVENTS) % 50
    )
    return f"{time.time():.3f}  1000  {1200 + n % 7:4d} I {text}\n"
