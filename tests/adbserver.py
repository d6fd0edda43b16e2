"""The real adb server the end-to-end tests run against, private to the test session."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def bundled_adb() -> str:
    import adbutils

    bundled = Path(adbutils.__file__).parent / "binaries" / "adb"
    return str(bundled) if bundled.exists() else adbutils.adb_path()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class AdbServer:
    """A running adb server private to the test session."""

    binary: str
    port: int
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        """Run the adb CLI against this server."""
        return subprocess.run(
            [self.binary, "-P", str(self.port), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def connect(self, serial: str, timeout: float = 10.0) -> None:
        """``adb connect`` and wait until the device is online (state ``device``)."""
        self.run("connect", serial)
        self.wait_state(serial, "device", timeout)

    def state(self, serial: str) -> str | None:
        out = self.run("devices").stdout
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == serial:
                return parts[1]
        return None

    def wait_state(self, serial: str, state: str | None, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            now = self.state(serial)
            if now == state:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{serial} is {now!r}, expected {state!r}")
            time.sleep(0.05)

    def disconnect(self, serial: str) -> None:
        self.run("disconnect", serial)
