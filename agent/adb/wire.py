"""The adb smart-socket protocol, host side, spoken directly over one TCP connection.

Written by hand on purpose: adbutils' ``AdbConnection.close()`` sleeps 10 ms and its
``device.shell()`` opens a second server connection first, so every call costs 22 ms or more
(measured; see ``scripts/bench/adb_overhead.py``). A tethered fleet polled every few seconds
makes thousands of calls a minute, so shell/exec/stream/track go through this module, one
connection per command, no sleeps, and every read bounded by a deadline. adbutils stays in use
for what it does well (file sync, installs).

Protocol (AOSP ``packages/modules/adb/SERVICES.TXT``): the client sends ``%04x`` + request;
the server answers ``OKAY`` or ``FAIL`` + ``%04x`` + message. After ``host:transport:SERIAL``
the same socket is switched to that device and the next request names a device service.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import socket
import struct
import time
from dataclasses import dataclass

from agent.adb.errors import (
    AdbError,
    AdbServerUnavailable,
    CommandFailed,
    DeviceNotFound,
    DeviceOffline,
    DeviceUnauthorized,
)

DEFAULT_PORT = 5037
_RECV_CHUNK = 1 << 18
_poll = getattr(select, "poll", None)  # not on Windows: there recv waits with its buffer


@dataclass(frozen=True)
class ServerAddress:
    """Where the adb server listens."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServerAddress:
        """The address every adb tool agrees on: ``ADB_SERVER_SOCKET``, then
        ``ANDROID_ADB_SERVER_ADDRESS``/``ANDROID_ADB_SERVER_PORT``, then 127.0.0.1:5037.

        Raises:
            AdbServerUnavailable: the variables hold something we cannot use.
        """
        env = os.environ if environ is None else environ
        sock = env.get("ADB_SERVER_SOCKET", "").strip()
        if sock:
            parts = sock.split(":")
            if parts[0] != "tcp" or len(parts) not in (2, 3):
                raise AdbServerUnavailable(
                    f"ADB_SERVER_SOCKET={sock!r} is not supported; use tcp:HOST:PORT or tcp:PORT"
                )
            host = parts[1] if len(parts) == 3 else "127.0.0.1"
            return cls(host or "127.0.0.1", _port(parts[-1], "ADB_SERVER_SOCKET"))
        host = env.get("ANDROID_ADB_SERVER_ADDRESS", "").strip() or "127.0.0.1"
        port_text = env.get("ANDROID_ADB_SERVER_PORT", "").strip()
        port = _port(port_text, "ANDROID_ADB_SERVER_PORT") if port_text else DEFAULT_PORT
        return cls(host, port)

    @property
    def is_local(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def _port(text: str, name: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise AdbServerUnavailable(f"{name} has no valid port: {text!r}")
    return int(text)


class Deadline:
    """A point in monotonic time that every blocking read checks against."""

    __slots__ = ("at",)

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


class Connection:
    """One socket to the adb server with a read buffer. Not thread-safe except :meth:`abort`."""

    def __init__(self, sock: socket.socket, address: ServerAddress) -> None:
        self.sock = sock
        self.address = address
        self._buf = bytearray()
        self._closed = False

    # ---------------------------------------------------------------- life cycle
    @classmethod
    def open(cls, address: ServerAddress, timeout: float = 3.0) -> Connection:
        """Connect to the server.

        Raises:
            AdbServerUnavailable: nothing listens there.
        """
        try:
            sock = socket.create_connection((address.host, address.port), timeout=timeout)
        except OSError as exc:
            raise AdbServerUnavailable(
                f"no adb server at {address} ({exc.strerror or exc}); "
                "start one with 'adb start-server' or let tetherguard start it"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, address)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.sock.close()

    def abort(self) -> None:
        """Wake any thread blocked reading this connection (it sees end of stream)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- requests
    def send_request(self, request: str) -> None:
        data = request.encode("utf-8")
        if len(data) > 0xFFFF:
            raise CommandFailed(
                f"request of {len(data)} bytes exceeds adb's 64 KiB limit for one command line"
            )
        try:
            self.sock.sendall(b"%04x" % len(data) + data)
        except OSError as exc:
            raise AdbServerUnavailable(f"lost the adb server at {self.address}: {exc}") from None

    def read_status(self, deadline: Deadline, serial: str | None = None) -> None:
        """Read OKAY, or turn FAIL's message into the matching typed error."""
        status = self.read_exact(4, deadline)
        if status == b"OKAY":
            return
        if status == b"FAIL":
            raise fail_error(self.read_block(deadline), serial)
        raise AdbError(
            f"adb server sent {bytes(status)!r} where OKAY/FAIL was expected", serial=serial
        )

    def read_block(self, deadline: Deadline) -> str:
        """A ``%04x``-length-prefixed string."""
        size_text = bytes(self.read_exact(4, deadline))
        try:
            size = int(size_text, 16)
        except ValueError:
            raise AdbError(f"adb server sent a malformed length {size_text!r}") from None
        return bytes(self.read_exact(size, deadline)).decode("utf-8", "replace")

    def request(self, request: str, deadline: Deadline, serial: str | None = None) -> None:
        self.send_request(request)
        self.read_status(deadline, serial)

    # ---------------------------------------------------------------- reads
    def recv_some(self, deadline: Deadline) -> bytes:
        """Whatever is buffered, else the next chunk from the socket; ``b""`` at end of stream.

        Raises:
            TimeoutError: the deadline passed first.
        """
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            return data
        return self._recv(deadline)

    def read_exact(self, n: int, deadline: Deadline) -> bytearray:
        """Exactly ``n`` bytes.

        Raises:
            EOFError: the stream ended first.
            TimeoutError: the deadline passed first.
        """
        buf = self._buf
        while len(buf) < n:
            chunk = self._recv(deadline)
            if not chunk:
                raise EOFError
            buf += chunk
        out = buf[:n]
        del buf[:n]
        return out

    def _recv(self, deadline: Deadline) -> bytes:
        timeout = deadline.remaining()
        # CPython's recv(n) allocates its n-byte result before it blocks, so a stream waiting
        # for its phone's next log line would hold 256 KiB all the while (150 phones: 38 MB,
        # and resident once the allocator reuses pages). Waiting for data first keeps that
        # buffer only for the instant of the copy.
        if _poll is not None:
            waiter = _poll()
            try:
                waiter.register(self.sock, select.POLLIN)
                ready = waiter.poll(None if timeout is None else math.ceil(timeout * 1000))
            except (OSError, ValueError):  # closed under us: the recv below says how
                ready = [(0, 0)]
            if not ready:
                raise TimeoutError
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(_RECV_CHUNK)
        except TimeoutError:
            raise
        except OSError:
            if self._closed:
                return b""
            return b""


def fail_error(message: str, serial: str | None) -> AdbError:
    """Map the adb server's FAIL text to the typed error a caller can act on."""
    low = message.lower()
    who = serial or "device"
    if "not found" in low or "no devices" in low:
        return DeviceNotFound(
            f"{who} is not attached to the adb server (unplugged? for Wi-Fi, run "
            f"'tetherguard connect HOST:PORT')",
            serial=serial,
        )
    if "unauthorized" in low:
        return DeviceUnauthorized(
            f"{who} is unauthorized: unlock the phone and accept the RSA key prompt "
            "('Allow USB debugging?'), then retry",
            serial=serial,
        )
    if "authorizing" in low or "connecting" in low:
        return DeviceOffline(f"{who} is still connecting; retry in a few seconds", serial=serial)
    if "offline" in low:
        return DeviceOffline(
            f"{who} is offline: replug the cable or toggle USB debugging on the phone",
            serial=serial,
        )
    if low == "closed":
        return CommandFailed(f"{who} refused the service (adbd closed it)", serial=serial)
    return AdbError(f"adb server: {message}", serial=serial)


# --------------------------------------------------------------------------- shell protocol v2
# Each packet: 1 byte id, 4 bytes little-endian length, payload (adb shell_protocol.h).
SHELL_STDIN = 0
SHELL_STDOUT = 1
SHELL_STDERR = 2
SHELL_EXIT = 3
SHELL_CLOSE_STDIN = 4
_HEADER = struct.Struct("<BI")
CLOSE_STDIN_PACKET = _HEADER.pack(SHELL_CLOSE_STDIN, 0)


class ShellV2Decoder:
    """Incremental decoder for shell-v2 packets; feed bytes, get (id, payload) pairs.

    Payloads are handed out as memoryviews into the fed chunk where possible, so a 4 MiB
    output is copied once, into the caller's buffer.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._need_id: int | None = None
        self._need = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes | memoryview]]:
        out: list[tuple[int, bytes | memoryview]] = []
        view = memoryview(data)
        pos = 0
        end = len(data)
        while pos < end:
            if self._need_id is not None:
                take = min(self._need, end - pos)
                out.append((self._need_id, view[pos : pos + take]))
                pos += take
                self._need -= take
                if self._need == 0:
                    self._need_id = None
                continue
            # Header, possibly split across chunks.
            missing = _HEADER.size - len(self._pending)
            if self._pending or end - pos < _HEADER.size:
                self._pending += view[pos : pos + missing]
                pos += min(missing, end - pos)
                if len(self._pending) < _HEADER.size:
                    break
                pid, length = _HEADER.unpack(self._pending)
                self._pending.clear()
            else:
                pid, length = _HEADER.unpack_from(view, pos)
                pos += _HEADER.size
            if length == 0:
                out.append((pid, b""))
            else:
                self._need_id, self._need = pid, length
        return out

    @property
    def mid_packet(self) -> bool:
        return self._need_id is not None or bool(self._pending)
