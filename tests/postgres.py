"""A real PostgreSQL server for the fleet tests: Debian's package, a throwaway cluster in a temp
directory on a private port, started, stopped, killed and restarted as the tests need.

PostgreSQL refuses to run as root: when the tests run as root, the cluster belongs to the
``postgres`` system user the package creates, and its programs run as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def pg_bin() -> Path | None:
    """Where Debian put the server's programs (the newest version), if it is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    def __init__(self) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="tetherguard-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_user(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else argv

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(self._as_user(argv), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr[-2000:]}")

    def start(self) -> None:
        self._launch()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                # Quit at once: the lock or the shared memory of a server just killed, whose
                # last processes are not gone yet (see kill). Again, until they are.
                time.sleep(0.2)
                self._launch()
                continue
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if self._ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        said = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"PostgreSQL did not start within 60 s:\n{said}")

    def _launch(self) -> None:
        argv = [
            str(self.bin / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.root),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ]
        with open(self.log, "ab") as log:  # the server's own words, for a start that fails
            self.proc = subprocess.Popen(
                self._as_user(argv),
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )

    def _ready(self) -> bool:
        done = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            timeout=10,
        )
        return done.returncode == 0

    def kill(self) -> None:
        """Down hard, as a crash or a pulled cable would have it (SIGKILL to the server group)."""
        if self.proc is not None:
            postmaster = self._postmaster()
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None
            # The postmaster's children run in sessions of their own: they outlive the group
            # and quit when they notice it died. The postmaster, orphaned, lingers as a zombie
            # until init reaps it (seconds, here), and a new server will not start while its
            # lock file names a process that still exists.
            deadline = time.monotonic() + 30
            while postmaster is not None and time.monotonic() < deadline:
                try:
                    os.kill(postmaster, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def _postmaster(self) -> int | None:
        """The server's process id, from its lock file (``None`` if it has none)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
