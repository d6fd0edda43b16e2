"""A private adb server: ours alone, on a free port, with a throwaway key and no emulator scan.

The demo and the simulator use it so that simulated phones never appear in the owner's own
adb server (or Android Studio's), and so that stopping the demo kills only what it started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from agent.adb.client import AdbClient
from agent.adb.errors import AdbServerUnavailable
from agent.adb.wire import ServerAddress


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateAdbServer:
    """Start with ``with PrivateAdbServer() as server: client = server.client()``."""

    def __init__(self, adb_path: str | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self._adb_path = adb_path
        self._home: str | None = None
        self.binary = ""

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("ADB_SERVER_SOCKET", None)
        # The emulator scan (127.0.0.1:5555-5585) would adopt unrelated local ports.
        env.update(ANDROID_ADB_SERVER_PORT=str(self.port), ADB_EMU="0")
        if self._home:
            env["HOME"] = self._home
        return env

    def start(self) -> PrivateAdbServer:
        """Raises :class:`AdbServerUnavailable` if the binary cannot start."""
        self.binary = self._adb_path or AdbClient().adb_binary()
        self._home = tempfile.mkdtemp(prefix="tetherguard-adb-")
        try:
            proc = subprocess.run(
                [self.binary, "-P", str(self.port), "start-server"],
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AdbServerUnavailable(f"could not start {self.binary}: {exc}") from None
        if proc.returncode != 0:
            raise AdbServerUnavailable(
                f"{self.binary} start-server failed: {(proc.stderr or proc.stdout).strip()}"
            )
        return self

    def client(self) -> AdbClient:
        client = AdbClient(
            ServerAddress("127.0.0.1", self.port), start_server=False, adb_path=self.binary
        )
        client.started_server = True
        return client

    def stop(self) -> None:
        if self.binary:
            subprocess.run(
                [self.binary, "-P", str(self.port), "kill-server"],
                env=self.env(),
                capture_output=True,
                timeout=15,
                check=False,
            )
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def __enter__(self) -> PrivateAdbServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def home(self) -> Path | None:
        return Path(self._home) if self._home else None
