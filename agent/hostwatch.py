"""Which program on this computer drove a change through adb: the owner's ``adb install``, an
IDE, a script, or a tool nobody started on purpose.

Every program that talks to a phone over adb is a client of the adb server: the ``adb`` binary
(``adb install``, ``adb shell pm grant ...``) or a library connected to the server's port. A
thread samples them with psutil (``adb`` clients often; connections to the server's port less
often, as that scan costs more) and keeps who was seen, when, running what, started by whom.
When the engine reports an install or a permission change, the clients seen in the moments
before it are attached to the event (``detail["host"]``): the owner can tell their own actions
from a rogue tool's.

Only processes this user may inspect are seen (another user's ``adb`` is not); tetherguard
itself is never listed. Command lines are host data and go through ``printable`` wherever
they are shown.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import psutil

log = logging.getLogger(__name__)

ATTRIBUTED_KINDS: Final = frozenset(
    {
        "package_installed",
        "package_removed",
        "package_updated",
        "hot_update",
        "silent_install",
        "bundled_install",
        "signer_changed",
        "permission_granted",
        "permission_revoked",
        "permission_flags_changed",
        "appop_changed",
        "package_disabled",
        "package_enabled",
        "device_admin",
    }
)
"""Changes a program on the host can make through adb (live uses and starts are the phone's)."""

YOUNG_S: Final = 3.0
"""Processes this young have their name read at every look (it changes at exec)."""
KEEP_S: Final = 600.0
"""How long a sighting is remembered."""
MAX_ATTACHED: Final = 5


@dataclass(frozen=True)
class HostClient:
    """A program seen talking to the adb server."""

    pid: int
    name: str
    cmdline: tuple[str, ...]
    started: float
    """Process start time (epoch seconds): with the pid, who it is."""
    parents: tuple[str, ...] = ()
    """Names of the processes that started it, nearest first (``bash``, ``sshd`` ...)."""
    username: str | None = None
    serial: str | None = None
    """The phone it addressed (``-s SERIAL`` or ``ANDROID_SERIAL``), when it said."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "name": self.name,
            "cmdline": list(self.cmdline),
            "started": round(self.started, 3),
            "parents": list(self.parents),
            "user": self.username,
            "serial": self.serial,
        }


@dataclass
class _Seen:
    client: HostClient
    first: float
    last: float


@dataclass
class HostWatcher:
    """Samples the adb server's clients until :meth:`stop`; :meth:`attribute` says who was
    around a change."""

    port: int = 5037
    period: float = 0.02
    """Seconds between two looks for ``adb`` processes (cheap: new processes only). A client
    that comes and goes between two looks is missed: a command on a real phone takes longer."""
    scan_every: int = 50
    """Looks between two scans of connections to the server's port (costlier)."""
    _seen: dict[tuple[int, float], _Seen] = field(default_factory=dict)
    _names: dict[int, tuple[str, float]] = field(default_factory=dict)
    """pid -> (name, start time) as last read."""
    _clients: dict[int, HostClient] = field(default_factory=dict)
    """pid -> what was read of it (``_NOT_A_CLIENT``: the server, or not ours to read)."""
    _order: deque[tuple[int, float]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> HostWatcher:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="watch:host", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                self.sample(connections=n % self.scan_every == 0)
            except Exception:  # a failed look is not worth stopping the watch
                log.debug("host sample failed", exc_info=True)
            n += 1
            self._stop.wait(self.period)

    # ---------------------------------------------------------------- looking
    def sample(self, *, connections: bool = True) -> list[HostClient]:
        """One look: the clients of the adb server now (recorded, and returned).

        Cheap enough to run every few hundredths of a second: the process list is read, but
        only processes new since the last look are asked their name, and a client is read
        (command line, parents) once.
        """
        now = time.time()
        me = os.getpid()
        pids = set(psutil.pids())
        for gone in self._names.keys() - pids:
            del self._names[gone]
            self._clients.pop(gone, None)
        # New processes, and young ones again: a shell forks, then the child becomes adb.
        young = {pid for pid, (_, born) in self._names.items() if born > now - YOUNG_S}
        for pid in (pids - self._names.keys()) | young:
            try:
                proc = psutil.Process(pid)
                self._names[pid] = (proc.name(), proc.create_time())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                self._names[pid] = ("", 0.0)
        wanted = {pid for pid, (name, _) in self._names.items() if name == "adb"}
        if connections:
            wanted |= self._connected_pids() & pids
        wanted.discard(me)
        found = []
        for pid in sorted(wanted):
            known = self._clients.get(pid)
            born = self._names.get(pid, ("", 0.0))[1]
            if known is None or (known is _NOT_A_CLIENT and born > now - YOUNG_S):
                known = self._clients[pid] = _client(pid, self.port) or _NOT_A_CLIENT
            if known is not _NOT_A_CLIENT:
                found.append(known)
        with self._lock:
            for client in found:
                key = (client.pid, client.started)
                seen = self._seen.get(key)
                if seen is None:
                    self._seen[key] = _Seen(client, now, now)
                    self._order.append(key)
                else:
                    seen.last = now
            while self._order and self._seen[self._order[0]].last < now - KEEP_S:
                self._seen.pop(self._order.popleft(), None)
        return found

    def _connected_pids(self) -> set[int]:
        """Processes with a TCP connection to the adb server's port on this machine."""
        try:
            conns = psutil.net_connections(kind="tcp")
        except (psutil.AccessDenied, OSError):
            return set()
        return {c.pid for c in conns if c.pid is not None and c.raddr and c.raddr.port == self.port}

    # ---------------------------------------------------------------- telling
    def attribute(
        self, serial: str, package: str | None, since: float, until: float
    ) -> list[HostClient]:
        """The clients seen between ``since`` and ``until`` that may have made a change on
        ``serial`` (to ``package``): those that named the phone or no phone, the ones whose
        command line names the package first."""
        with self._lock:
            seen = [s for s in self._seen.values() if s.last >= since and s.first <= until]
        around = [s.client for s in seen if s.client.serial in (None, serial)]
        if package:
            around.sort(key=lambda c: (not any(package in part for part in c.cmdline), -c.started))
        else:
            around.sort(key=lambda c: -c.started)
        return around[:MAX_ATTACHED]


_NOT_A_CLIENT: Final = HostClient(pid=-1, name="", cmdline=(), started=0.0)


def _client(pid: int, port: int) -> HostClient | None:
    """What psutil tells of one process; ``None`` for the adb server itself or a process gone
    or not ours to inspect."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            cmdline = tuple(proc.cmdline())
            if _is_server(cmdline):
                return None
            name = proc.name()
            started = proc.create_time()
            username = _username(proc)
            env_serial = _env_serial(proc)
            parents = tuple(_names(proc.parents()[:4]))
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return HostClient(
        pid=pid,
        name=name,
        cmdline=cmdline[:64],
        started=started,
        parents=parents,
        username=username,
        serial=_serial_of(cmdline) or env_serial,
    )


def _is_server(cmdline: Sequence[str]) -> bool:
    return any(part in ("fork-server", "start-server", "nodaemon") for part in cmdline) or (
        len(cmdline) > 1 and cmdline[1] == "server"
    )


def _serial_of(cmdline: Sequence[str]) -> str | None:
    for flag, value in itertools.pairwise(cmdline):
        if flag == "-s":
            return value
    return None


def _env_serial(proc: psutil.Process) -> str | None:
    try:
        return proc.environ().get("ANDROID_SERIAL")
    except (psutil.AccessDenied, psutil.NoSuchProcess, OSError):
        return None


def _username(proc: psutil.Process) -> str | None:
    try:
        return proc.username()
    except (psutil.AccessDenied, KeyError):
        return None


def _names(procs: Iterable[psutil.Process]) -> Iterable[str]:
    for p in procs:
        try:
            yield p.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            yield "?"
