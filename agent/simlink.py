"""A DeviceLink stand-in that runs commands on a simulated phone in-process (no adb server).

For fast, deterministic replays of scenarios over every Android release (``policy test``, the
detection tests); the adb path itself is covered end to end elsewhere. The command line is
rendered exactly as the real link renders it, so quoting bugs still show.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from agent.adb import CommandFailed, Script, ShellResult, render
from agent.sim.device import SimDevice
from agent.sim.shell import ShellIO


class LocalLink:
    """``shell`` and ``pull`` of :class:`agent.adb.DeviceLink`, answered by ``device``."""

    def __init__(self, device: SimDevice, serial: str = "local:1") -> None:
        self.device = device
        self.serial = serial
        self.commands: list[str] = []

    def shell(
        self,
        command: Sequence[str | int] | Script,
        *,
        timeout: float | None = None,
        max_bytes: int = 64 << 20,
    ) -> ShellResult:
        line = render(command)
        self.commands.append(line)
        io = ShellIO()
        started = time.monotonic()
        code = asyncio.run(self.device.shell.run(line, io))
        return ShellResult(
            self.serial,
            line,
            bytes(io.stdout),
            bytes(io.stderr),
            code,
            time.monotonic() - started,
        )

    def pull(self, remote: str, local: str | Path) -> int:
        data = self.device.files.get(remote)
        if data is None:
            raise CommandFailed(f"{remote}: no such file", serial=self.serial)
        Path(local).write_bytes(data)
        return len(data)
