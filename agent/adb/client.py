"""The adb link: one :class:`AdbClient` per adb server, one :class:`DeviceLink` per device.

Everything tetherguard says to a phone goes through here: commands are argv lists rendered by
:mod:`agent.adb.args` (validated, quoted), every read has a deadline, output is capped, and the
adb server's failures become the typed errors of :mod:`agent.adb.errors`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from agent.adb.args import Script, render
from agent.adb.devices import DeviceEvent, DeviceInfo, diff_states, parse_devices_l, parse_track
from agent.adb.errors import (
    AdbError,
    AdbServerUnavailable,
    CommandFailed,
    CommandTimeout,
    DeviceNotFound,
    DeviceOffline,
    OutputTooLarge,
)
from agent.adb.wire import (
    CLOSE_STDIN_PACKET,
    SHELL_EXIT,
    SHELL_STDERR,
    SHELL_STDOUT,
    Connection,
    Deadline,
    ServerAddress,
    ShellV2Decoder,
)

log = logging.getLogger(__name__)
_PROP_RE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 64 << 20
SERVER_GRACE_S = 2.0
"""After a server that served a moment ago vanished: how long another program's start of
its own is awaited before tetherguard starts one (see :meth:`AdbClient.connection`)."""
Command = Sequence[str | int] | Script


@dataclass(frozen=True)
class ShellResult:
    """What one command printed and how it ended."""

    serial: str
    command: str
    """The exact command line sent (quoted)."""
    raw_stdout: bytes
    raw_stderr: bytes
    exit_code: int | None
    """``None`` only when the device cannot report one."""
    duration: float

    @functools.cached_property
    def stdout(self) -> str:
        """stdout as text; undecodable bytes become U+FFFD, never an exception."""
        return self.raw_stdout.decode("utf-8", "replace")

    @functools.cached_property
    def stderr(self) -> str:
        return self.raw_stderr.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> ShellResult:
        """Return self, or raise :class:`CommandFailed` with the device's own words."""
        if self.exit_code not in (0, None):
            said = (self.stderr or self.stdout).strip().splitlines()
            reason = said[-1] if said else "no message"
            raise CommandFailed(
                f"{self.serial}: '{self.command}' exited {self.exit_code}: {reason}",
                serial=self.serial,
                exit_code=self.exit_code,
                stderr=self.stderr,
            )
        return self


class AdbClient:
    """A handle on one adb server; cheap to create, safe to share between threads.

    Args:
        address: where the server listens; default from the environment, as the adb CLI does.
        start_server: if nothing listens on a local address, start the adb binary there.
        adb_path: the adb binary to start; default ``$ADBUTILS_ADB_PATH``, ``adb`` on PATH,
            else the one bundled in adbutils' wheel.
    """

    def __init__(
        self,
        address: ServerAddress | None = None,
        *,
        start_server: bool = True,
        adb_path: str | None = None,
        connect_timeout: float = 3.0,
    ) -> None:
        self.address = address or ServerAddress.from_env()
        self._start_server = start_server
        self._adb_path = adb_path
        self._connect_timeout = connect_timeout
        self._start_lock = threading.Lock()
        self._features: dict[str, frozenset[str]] = {}
        self.started_server = False
        """True when this client started the server (only then may it kill it)."""
        self.server_binary: str | None = None
        """The program serving the port when last looked (after a start or a restart)."""
        self._looked = False
        self._served_at: float | None = None

    # ---------------------------------------------------------------- server
    def connection(self) -> Connection:
        """A fresh connection to the server, starting the server once if allowed."""
        try:
            conn = Connection.open(self.address, self._connect_timeout)
        except AdbServerUnavailable:
            self._looked = False  # whoever serves next is looked at again
            if not (self._start_server and self.address.is_local):
                raise
        else:
            self._served_at = time.monotonic()
            if not self._looked:
                self._look_at_server()
            return conn
        with self._start_lock:
            # A server that served a moment ago was killed by someone: most often another adb
            # program about to start its own (a version mismatch, an IDE). Its start is awaited
            # first: started now, ours would be killed in turn by that start, or kill it.
            now = time.monotonic()
            recent = self._served_at is not None and now - self._served_at < 60
            wait_until = now + (SERVER_GRACE_S if recent else 0.0)
            while True:
                try:
                    conn = Connection.open(self.address, self._connect_timeout)
                    break
                except AdbServerUnavailable:
                    if time.monotonic() >= wait_until:
                        self._launch_server()
                        conn = Connection.open(self.address, self._connect_timeout)
                        break
                    time.sleep(0.1)
            self._served_at = time.monotonic()
        if not self._looked:
            self._look_at_server()
        return conn

    def _look_at_server(self) -> None:
        """Note which program serves the port (psutil: the listening socket's owner).

        Two adb programs of different versions kill each other's server in turn, each time
        one of them runs (Android Studio's against the system's, say). When the server has to
        be started again, tetherguard starts the one that was serving, so it never takes part
        in such a fight. Looked at once per server: after a start, or a loss and a return.
        """
        self._looked = True
        if not self.address.is_local:
            return
        import psutil  # deferred: a remote server needs none of it

        try:
            listening = [
                c.pid
                for c in psutil.net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.address.port
            ]
            exe = psutil.Process(listening[0]).exe() if listening and listening[0] else ""
        except (psutil.Error, OSError, IndexError):
            return  # another user's server, or gone already: nothing to learn
        if exe and exe != self.server_binary and os.access(exe, os.X_OK):
            if self.server_binary is not None:
                log.warning("the adb server on port %d is now %s", self.address.port, exe)
            self.server_binary = exe

    def adb_binary(self) -> str:
        """The adb program to start: the one given, else the one that served the port last
        (see :meth:`_look_at_server`), else ``$ADBUTILS_ADB_PATH``, ``adb`` on PATH, or the one
        in adbutils' wheel."""
        if self._adb_path:
            return self._adb_path
        if self.server_binary and os.access(self.server_binary, os.X_OK):
            return self.server_binary
        import adbutils  # deferred: only needed to find the binary

        try:
            return str(adbutils.adb_path())
        except Exception:  # adbutils raises its own AdbError when nothing is found
            raise AdbServerUnavailable(
                "no adb binary found: install Android platform-tools or set ADBUTILS_ADB_PATH"
            ) from None

    def _launch_server(self) -> None:
        # adbutils would run 'adb start-server' without -P and start it on the wrong port, so
        # we start it ourselves on exactly the configured one.
        binary = self.adb_binary()
        env = dict(os.environ)
        env.pop("ADB_SERVER_SOCKET", None)
        env["ANDROID_ADB_SERVER_PORT"] = str(self.address.port)
        log.info("starting adb server %s on port %d", binary, self.address.port)
        try:
            proc = subprocess.run(
                [binary, "-P", str(self.address.port), "start-server"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AdbServerUnavailable(
                f"could not start the adb server ({binary}): {exc}"
            ) from None
        if proc.returncode != 0:
            said = (proc.stderr or proc.stdout).strip().splitlines()
            raise AdbServerUnavailable(
                f"adb start-server failed on port {self.address.port}: "
                f"{said[-1] if said else 'exit ' + str(proc.returncode)}"
            )
        self.started_server = True

    def server_version(self, timeout: float = 5.0) -> int:
        text = self._host_query("host:version", timeout)
        try:
            return int(text, 16)
        except ValueError:
            raise AdbServerUnavailable(
                f"the adb server sent a malformed version {text!r}"
            ) from None

    def kill_server(self, *, force: bool = False) -> None:
        """Stop the server, but only one this client started unless ``force``: another tool
        (Android Studio, a CI runner) may be using a server we merely found."""
        if not (self.started_server or force):
            raise AdbError("refusing to kill an adb server tetherguard did not start")
        with contextlib.suppress(AdbServerUnavailable), Connection.open(self.address) as conn:
            conn.send_request("host:kill")
            with contextlib.suppress(EOFError, TimeoutError, OSError):
                conn.read_exact(4, Deadline(2.0))
        self.started_server = False

    def _host_query(self, request: str, timeout: float, serial: str | None = None) -> str:
        """One request/answer with the server itself (not a device service).

        A server that is shutting down accepts the connection and then closes it; one retry
        after a short pause lets a fresh server (started by us, if allowed) answer instead.
        """
        for attempt in (1, 2):
            try:
                # The answer's deadline starts once connected: starting a server (and awaiting
                # another program's start first) has bounds of its own.
                with self.connection() as conn:
                    deadline = Deadline(timeout)
                    conn.request(request, deadline, serial)
                    return conn.read_block(deadline)
            except EOFError:
                if attempt == 2:
                    raise AdbServerUnavailable(
                        f"the adb server at {self.address} closed the connection during '{request}'"
                    ) from None
                time.sleep(0.2)
            except TimeoutError:
                raise AdbServerUnavailable(
                    f"the adb server at {self.address} did not answer '{request}' "
                    f"within {timeout:g}s"
                ) from None
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- devices
    def devices(self, *, details: bool = False, timeout: float = 5.0) -> list[DeviceInfo]:
        """Every device the server knows, in every state (device, unauthorized, offline, ...).

        With ``details``, online devices also get their Android release and SDK level, read in
        parallel; a device that fails to answer keeps ``None`` there rather than failing the list.
        """
        infos = parse_devices_l(self._host_query("host:devices-l", timeout))
        if not details:
            return infos
        online = [i for i in infos if i.state == "device"]
        if not online:
            return infos
        with ThreadPoolExecutor(max_workers=min(16, len(online))) as pool:
            detailed = dict(
                zip([i.serial for i in online], pool.map(self._details, online), strict=True)
            )
        return [detailed.get(i.serial, i) for i in infos]

    def _details(self, info: DeviceInfo) -> DeviceInfo:
        try:
            props = self.link(info.serial).getprops(
                "ro.product.model", "ro.build.version.release", "ro.build.version.sdk", timeout=5.0
            )
        except AdbError as exc:
            log.debug("details of %s unavailable: %s", info.serial, exc)
            return info
        sdk = props.get("ro.build.version.sdk", "")
        return replace(
            info,
            model=props.get("ro.product.model") or info.model,
            android_release=props.get("ro.build.version.release") or None,
            sdk=int(sdk) if sdk.isdigit() else None,
        )

    def state(self, serial: str, timeout: float = 5.0) -> str | None:
        """The device's state as the server sees it, or ``None`` if it does not know it."""
        for info in parse_devices_l(self._host_query("host:devices-l", timeout)):
            if info.serial == serial:
                return info.state
        return None

    def link(self, serial: str) -> DeviceLink:
        return DeviceLink(self, serial)

    def connect(self, address: str, timeout: float = 10.0) -> str:
        """``adb connect`` a Wi-Fi or TCP device; returns the server's answer.

        Raises:
            DeviceNotFound: the server could not reach it.
        """
        answer = self._host_query(f"host:connect:{address}", timeout)
        if answer.startswith(("failed", "unable", "cannot")):
            raise DeviceNotFound(f"{address}: {answer}", serial=address)
        return answer

    def disconnect(self, address: str, timeout: float = 5.0) -> str:
        try:
            return self._host_query(f"host:disconnect:{address}", timeout)
        except AdbError as exc:
            raise DeviceNotFound(f"{address}: {exc}", serial=address) from None

    # ---------------------------------------------------------------- hot-plug
    def track(
        self,
        *,
        poll_interval: float = 2.0,
        on_server_back: Callable[[frozenset[str]], None] | None = None,
    ) -> DeviceTracker:
        """Hot-plug events, forever: connected, unauthorized, offline, gone, and back again.

        ``host:track-devices`` gives changes at once, but old servers (v29) never report an
        unplugged TCP device there, so the device list is also polled every ``poll_interval``.
        If the server goes away, its devices are reported gone, and tracking resumes when it is
        back; then ``on_server_back`` is called (on the iterating thread) with the serials that
        were online when it went (a new server knows no network phone until told again).
        Iterate the tracker; ``close()`` it from any thread to stop.
        """
        return DeviceTracker(self, poll_interval, on_server_back)


class DeviceTracker:
    """An iterator of :class:`DeviceEvent` fed by a reader thread plus polling."""

    # Sentinels put on the queue: by close(), and by the reader when the server goes and
    # when it is back.
    _WAKE: ClassVar[dict[str, str]] = {}
    _LOST: ClassVar[dict[str, str]] = {}
    _BACK: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        client: AdbClient,
        poll_interval: float,
        on_server_back: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        self._client = client
        self._poll = poll_interval
        self._on_back = on_server_back
        self._updates: queue.Queue[dict[str, str] | None] = queue.Queue()
        self._stop = threading.Event()
        self._conn: Connection | None = None
        self._thread = threading.Thread(target=self._read, name="adb-track", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        lost = False
        while not self._stop.is_set():
            try:
                conn = Connection.open(self._client.address, self._client._connect_timeout)
            except AdbServerUnavailable:
                # Ask the iterator to poll (and see the loss).
                self._updates.put(None if lost else self._LOST)
                lost = True
                self._stop.wait(1.0)
                continue
            self._conn = conn
            try:
                conn.request("host:track-devices", Deadline(5.0))
                if lost:
                    self._client._looked = False  # whoever serves now is looked at again
                    self._updates.put(self._BACK)
                    lost = False
                while not self._stop.is_set():
                    self._updates.put(parse_track(conn.read_block(Deadline(None))))
            except (AdbError, EOFError, TimeoutError, OSError):
                self._updates.put(None if lost or self._stop.is_set() else self._LOST)
                lost = True
            finally:
                conn.close()
            self._stop.wait(0.5)

    def __iter__(self) -> Iterator[DeviceEvent]:
        known: dict[str, str] = {}
        went: set[str] = set()  # online when the server went
        try:
            while not self._stop.is_set():
                try:
                    current = self._updates.get(timeout=self._poll)
                except queue.Empty:
                    current = None
                if current is self._WAKE or self._stop.is_set():
                    return
                if current is self._LOST:
                    went |= {s for s, state in known.items() if state == "device"}
                    current = None
                elif current is self._BACK:
                    # Kept until each is seen online again: a server that flaps (two adb
                    # programs fighting) may go again before the phones are back.
                    if self._on_back is not None:
                        try:
                            self._on_back(frozenset(went))
                        except Exception:
                            log.exception("the adb server's return could not be handled")
                    current = None
                if current is None:
                    try:
                        current = {i.serial: i.state for i in self._client.devices()}
                    except AdbServerUnavailable:
                        current = {}
                yield from diff_states(known, current)
                known = current
                went -= {s for s, state in current.items() if state == "device"}
        finally:
            self.close()

    def close(self) -> None:
        """Stop tracking; safe from any thread, any number of times."""
        self._stop.set()
        self._updates.put(self._WAKE)
        conn = self._conn
        if conn is not None:
            conn.abort()

    def __enter__(self) -> DeviceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class DeviceLink:
    """Commands to one device. Cheap to make: it holds only the client and the serial."""

    client: AdbClient
    serial: str

    # ---------------------------------------------------------------- plumbing
    def _open(self, service: str, deadline: Deadline) -> Connection:
        """A connection switched to this device with ``service`` running on it."""
        conn = self.client.connection()
        try:
            conn.request(f"host:transport:{self.serial}", deadline, self.serial)
            conn.request(service, deadline, self.serial)
        except (DeviceNotFound, DeviceOffline):
            conn.close()
            self._forget()
            raise
        except TimeoutError:
            conn.close()
            raise DeviceOffline(
                f"{self.serial} did not open '{_short(service)}' in time "
                "(device busy or going away)",
                serial=self.serial,
            ) from None
        except EOFError:
            conn.close()
            raise self._gone(service) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _gone(self, command: str) -> AdbError:
        """The error for a stream that ended without its exit status."""
        self._forget()
        try:
            state = self.client.state(self.serial, timeout=2.0)
        except AdbError:
            state = "unknown"
        if state is None:
            return DeviceNotFound(
                f"{self.serial} disappeared during '{_short(command)}' (unplugged?)",
                serial=self.serial,
            )
        return DeviceOffline(
            f"{self.serial} went {state} during '{_short(command)}'", serial=self.serial
        )

    def features(self, timeout: float = 5.0) -> frozenset[str]:
        """What the device's adbd supports (``shell_v2``, ``cmd``, ``abb``, ...).

        Cached per serial in the client, so a fresh link per command costs no extra round trip;
        the cache entry is dropped whenever the device is found gone or offline, because the
        next device on that serial (a reboot, another phone on the same port) may differ.
        """
        cached = self.client._features.get(self.serial)
        if cached is None:
            query = f"host-serial:{self.serial}:features"
            text = self.client._host_query(query, timeout, self.serial)
            cached = frozenset(f for f in text.strip().split(",") if f)
            self.client._features[self.serial] = cached
        return cached

    def _forget(self) -> None:
        self.client._features.pop(self.serial, None)

    def state(self) -> str | None:
        return self.client.state(self.serial)

    # ---------------------------------------------------------------- shell
    def shell(
        self,
        command: Command,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> ShellResult:
        """Run one command and collect its output.

        Uses shell protocol v2 (separate stderr, real exit code) when the device has it; on
        older devices stderr is merged into stdout and the exit code is read from a marker.

        Raises:
            InvalidArgument: a word failed validation; nothing was sent.
            CommandTimeout: not finished within ``timeout`` seconds; the command is cancelled.
            OutputTooLarge: more than ``max_bytes`` of output; the command is cancelled.
            DeviceNotFound, DeviceOffline, DeviceUnauthorized: the device is not usable.
        """
        line = render(command)
        started = time.monotonic()
        deadline = Deadline(timeout)
        v2 = "shell_v2" in self.features()
        marker = "" if v2 else f"TG_EXIT_{secrets.token_hex(6)}"
        service = (
            f"shell,v2,raw:{line}" if v2 else f"shell:{line} ; __tg=$? ; echo ; echo {marker}:$__tg"
        )
        conn = self._open(service, deadline)
        try:
            if v2:
                out, err, code = self._collect_v2(conn, deadline, max_bytes, line, timeout)
            else:
                out, err, code = self._collect_v1(conn, deadline, max_bytes, line, timeout, marker)
        finally:
            conn.close()
        return ShellResult(self.serial, line, out, err, code, time.monotonic() - started)

    def _collect_v2(
        self, conn: Connection, deadline: Deadline, max_bytes: int, line: str, timeout: float | None
    ) -> tuple[bytes, bytes, int | None]:
        conn.sock.sendall(CLOSE_STDIN_PACKET)
        decoder = ShellV2Decoder()
        out, err = bytearray(), bytearray()
        while True:
            try:
                chunk = conn.recv_some(deadline)
            except TimeoutError:
                raise CommandTimeout(
                    f"{self.serial}: '{_short(line)}' did not finish within {timeout:g}s",
                    serial=self.serial,
                ) from None
            if not chunk:
                raise self._gone(line)
            for pid, payload in decoder.feed(chunk):
                if pid == SHELL_STDOUT:
                    out += payload
                elif pid == SHELL_STDERR:
                    err += payload
                elif pid == SHELL_EXIT:
                    return bytes(out), bytes(err), payload[0] if len(payload) else None
            if len(out) + len(err) > max_bytes:
                raise OutputTooLarge(
                    f"{self.serial}: '{_short(line)}' printed more than {max_bytes} bytes",
                    serial=self.serial,
                )

    def _collect_v1(
        self,
        conn: Connection,
        deadline: Deadline,
        max_bytes: int,
        line: str,
        timeout: float | None,
        marker: str,
    ) -> tuple[bytes, bytes, int | None]:
        out = bytearray()
        while True:
            try:
                chunk = conn.recv_some(deadline)
            except TimeoutError:
                raise CommandTimeout(
                    f"{self.serial}: '{_short(line)}' did not finish within {timeout:g}s",
                    serial=self.serial,
                ) from None
            if not chunk:
                break
            out += chunk
            if len(out) > max_bytes + 64:
                raise OutputTooLarge(
                    f"{self.serial}: '{_short(line)}' printed more than {max_bytes} bytes",
                    serial=self.serial,
                )
        # Output ends "\n<marker>:<rc>\n" (with \r\n on pty-backed old shells).
        tag = b"\n" + marker.encode() + b":"
        at = out.rfind(tag)
        if at < 0:
            # The shell ended before printing the marker: either the command itself ended the
            # shell ('exit 3') or the device went away. Only the device's state tells which.
            if self.client.state(self.serial, timeout=2.0) == "device":
                return bytes(out), b"", None
            raise self._gone(line)
        rc_text = bytes(out[at + len(tag) :]).strip()
        cut = at - 1 if at > 0 and out[at - 1 : at] == b"\r" else at
        code = int(rc_text) if rc_text.isdigit() else None
        return bytes(out[:cut]), b"", code

    def getprops(self, *keys: str, timeout: float = 10.0) -> dict[str, str]:
        """Selected system properties, one round trip."""
        names = [k for k in keys if _PROP_RE.fullmatch(k)]
        # One getprop per key: an unset property prints an empty line, so lines map to keys.
        script = Script(" ; ".join(f"getprop {k}" for k in names))
        lines = self.shell(script, timeout=timeout).check().stdout.split("\n")
        return {k: (lines[i].strip() if i < len(lines) else "") for i, k in enumerate(names)}

    def stream(
        self,
        command: Command,
        *,
        max_line_bytes: int = 1 << 20,
        connect_timeout: float = 10.0,
    ) -> ShellStream:
        """Start a long-running command and iterate over its output lines as they come.

        The stream ends when the command ends; if the device goes away first, iteration raises
        :class:`DeviceOffline`/:class:`DeviceNotFound`. ``close()`` (from any thread) cancels it.
        Reconnecting is the caller's choice.
        """
        line = render(command)
        v2 = "shell_v2" in self.features()
        service = f"shell,v2,raw:{line}" if v2 else f"shell:{line}"
        conn = self._open(service, Deadline(connect_timeout))
        if v2:
            conn.sock.sendall(CLOSE_STDIN_PACKET)
        return ShellStream(self, conn, line, v2, max_line_bytes)

    # ---------------------------------------------------------------- files (adbutils)
    def _adbutils_device(self) -> Any:
        import adbutils

        client = adbutils.AdbClient(host=self.client.address.host, port=self.client.address.port)
        return client.device(self.serial)

    def pull(self, remote: str, local: str | Path) -> int:
        """Copy a file from the device; returns its size."""
        try:
            return int(self._adbutils_device().sync.pull(remote, Path(local)))
        except Exception as exc:
            raise CommandFailed(
                f"{self.serial}: pull {remote!r} failed: {exc}", serial=self.serial
            ) from None

    def push(self, local: str | Path, remote: str) -> None:
        """Copy a file to the device."""
        try:
            self._adbutils_device().sync.push(Path(local), remote)
        except Exception as exc:
            raise CommandFailed(
                f"{self.serial}: push to {remote!r} failed: {exc}", serial=self.serial
            ) from None


class ShellStream:
    """Lines of a running command. Iterate it; ``close()`` it from anywhere to cancel."""

    def __init__(
        self, link: DeviceLink, conn: Connection, command: str, v2: bool, max_line_bytes: int
    ) -> None:
        self.link = link
        self.command = command
        self._conn = conn
        self._v2 = v2
        self._max_line = max_line_bytes
        self._closed = threading.Event()
        self._reading = False
        self.exit_code: int | None = None
        """Set when the command ended by itself (v2 devices only)."""
        self.stderr = bytearray()
        """What the command wrote to stderr so far (bounded to 64 KiB)."""
        self.truncated_lines = 0
        """Lines cut because they exceeded ``max_line_bytes``."""

    def __iter__(self) -> Iterator[str]:
        decoder = ShellV2Decoder() if self._v2 else None
        pending = bytearray()
        skipping = False
        never = Deadline(None)
        self._reading = True
        try:
            while not self._closed.is_set():
                chunk = self._conn.recv_some(never)
                if not chunk:
                    if self._closed.is_set():
                        return
                    if self._v2:  # v2 always ends with an exit packet; no packet means device lost
                        raise self.link._gone(self.command)
                    break
                data: list[bytes | memoryview] = (
                    [chunk] if decoder is None else self._stdout(decoder, chunk)
                )
                for part in data:
                    pending += part
                    while True:
                        nl = pending.find(b"\n")
                        if nl < 0:
                            break
                        if skipping:
                            skipping = False
                        else:
                            yield _line(pending[:nl])
                        del pending[: nl + 1]
                    if len(pending) > self._max_line:
                        if not skipping:
                            self.truncated_lines += 1
                            yield _line(pending[: self._max_line])
                        skipping = True
                        pending.clear()
                # A stream waits in recv most of its life: holding the last chunk (up to
                # 256 KiB, a backlog's) meanwhile would keep that much per phone for nothing.
                # Nothing in this frame may refer to it then, not even a memoryview of a part
                # (the v2 payloads are views into it): hence the decoding in _stdout.
                chunk = part = b""
                data = []
                if self.exit_code is not None:
                    break
            if pending and not skipping:
                yield _line(pending)
        finally:
            self._closed.set()
            self._reading = False
            self._conn.close()

    def _stdout(self, decoder: ShellV2Decoder, chunk: bytes) -> list[bytes | memoryview]:
        """The stdout parts of a v2 chunk; stderr and the exit code are kept on the stream."""
        out: list[bytes | memoryview] = []
        for pid, payload in decoder.feed(chunk):
            if pid == SHELL_STDOUT:
                out.append(payload)
            elif pid == SHELL_STDERR and len(self.stderr) < 65536:
                self.stderr += payload
            elif pid == SHELL_EXIT:
                self.exit_code = payload[0] if len(payload) else None
        return out

    def close(self) -> None:
        """Cancel the command; safe from any thread, any number of times.

        Only shuts the socket down: the reading thread, if any, sees end of stream and closes
        the socket itself, so a file descriptor is never closed under a blocked reader.
        """
        self._closed.set()
        self._conn.abort()
        if not self._reading:
            self._conn.close()

    def __enter__(self) -> ShellStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _line(data: bytes | bytearray) -> str:
    return bytes(data).rstrip(b"\r").decode("utf-8", "replace")


def _short(command: str, limit: int = 60) -> str:
    return command if len(command) <= limit else command[: limit - 3] + "..."
