"""Helpers shared by the end-to-end tests: polling for a condition, and plugging simulated phones
into the session's real adb server (the ``plug`` fixture in conftest.py)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES, build_state
from agent.sim.state import DeviceState
from agent.sim.transport import AuthMode
from tests.adbserver import AdbServer


def wait_for(
    predicate: Callable[[], object], timeout: float = 30.0, message: str = "timed out"
) -> None:
    """Poll ``predicate`` every 0.05 s until it is true; AssertionError(message) after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``tetherguard ARGS`` in a subprocess (as a user runs it), with no terminal on stdin."""
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


class Watching:
    """``tetherguard watch ARGS`` running in a subprocess, as a user runs it in a terminal: what
    it prints on stdout and on stderr is collected line by line as it comes (so the test can
    look while it runs, and a chatty stderr never fills its pipe); :meth:`stop` is Ctrl-C."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "watch", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)

    def until(self, predicate: Callable[[], object], timeout: float = 30.0) -> None:
        """:func:`wait_for` ``predicate``; on a timeout, the message says whether watch is still
        running and what it said on stderr."""
        try:
            wait_for(predicate, timeout)
        except AssertionError:
            state = "running" if self.running else f"exited with {self.proc.returncode}"
            raise AssertionError(f"timed out; watch {state}; stderr:\n{self.stderr}") from None

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C (SIGINT), then its exit status once it is done and its output read."""
        if self.running:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def __enter__(self) -> Watching:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.running:
            self.proc.kill()
            self.proc.wait(timeout=30)


class Plug:
    """Plugs simulated phones into ``host`` and ``adb connect``-s them; :meth:`close` unplugs
    them all. A stopped phone left connected lingers in adb as an offline ghost, so every phone
    is disconnected too, including one a test already disconnected or stopped itself."""

    def __init__(self, host: SimHost, adb_server: AdbServer) -> None:
        self.host = host
        self.adb_server = adb_server
        self.plugged: list[SimDevice] = []

    def __call__(
        self,
        profile_or_state: str | DeviceState,
        *,
        connect: bool = True,
        work_profile: bool = False,
        auth: AuthMode | None = None,
        **build_kwargs: Any,
    ) -> SimDevice:
        """A phone of that profile (built with ``work_profile`` and ``build_kwargs``) or with that
        state, listening; with ``connect``, online in adb (``unauthorized`` for
        :attr:`AuthMode.PROMPT`, until the test accepts the key)."""
        if isinstance(profile_or_state, str):
            state = build_state(
                PROFILES[profile_or_state], work_profile=work_profile, **build_kwargs
            )
        elif work_profile or build_kwargs:
            raise TypeError("work_profile and build options apply to a profile name only")
        else:
            state = profile_or_state
        device = self.host.plug(SimDevice(state) if auth is None else SimDevice(state, auth=auth))
        self.plugged.append(device)
        if connect:
            if device.auth is AuthMode.PROMPT:
                self.adb_server.run("connect", device.serial)
                self.adb_server.wait_state(device.serial, "unauthorized")
            else:
                self.adb_server.connect(device.serial)
        return device

    def close(self) -> None:
        plugged, self.plugged = self.plugged, []
        for device in plugged:
            with contextlib.suppress(Exception):
                self.adb_server.disconnect(device.serial)
            if device.server is not None:
                self.host.stop(device.server)

    def __enter__(self) -> Plug:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
