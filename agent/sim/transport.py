"""The device side of the adb transport: simulated phones that a real adb server connects to.

Owns the wire protocol below the adb server (AOSP ``packages/modules/adb`` protocol.txt and
SERVICES.TXT): the CNXN/AUTH handshake, OPEN/OKAY/WRTE/CLSE streams with stop-and-wait flow
control, and the ``shell:`` (v1), ``shell,v2:``, ``exec:`` and ``sync:`` services. It exists so the
whole host stack - our client, adbutils, the adb CLI and the real server in between - can be
tested end to end without a phone; ``adb connect 127.0.0.1:PORT`` is all it takes.

Each :class:`AdbDeviceServer` listens on its own port; any number of them share one event loop.
Only stdlib asyncio is used, and nothing from the host-side client is imported, so a bug on one
side of the wire cannot hide the same bug on the other.

Choices worth knowing:

* Only the features we implement are advertised; ``stat_v2``, ``ls_v2``, ``sendrecv_v2*`` and
  ``delayed_ack`` change the wire format and are refused.
* ``exec:`` merges stderr into stdout, as adbd does (its raw subprocesses share one socket).
* Checksums are sent only when the negotiated version is below 0x01000001; the host's are never
  checked (adb does not check them either).
* A host WRTE is acknowledged when the service consumes it, not when it arrives, so a command that
  never reads stdin stalls the host's writer exactly as a real device would.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import re
import struct
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Final

from agent.sim.shell import Shell, ShellIO

__all__ = ["AdbDeviceServer", "AuthMode", "ProtocolError"]

log = logging.getLogger(__name__)


def _cmd(name: bytes) -> int:
    return int.from_bytes(name, "little")


A_SYNC: Final = _cmd(b"SYNC")
A_CNXN: Final = _cmd(b"CNXN")
A_AUTH: Final = _cmd(b"AUTH")
A_OPEN: Final = _cmd(b"OPEN")
A_OKAY: Final = _cmd(b"OKAY")
A_CLSE: Final = _cmd(b"CLSE")
A_WRTE: Final = _cmd(b"WRTE")
A_STLS: Final = _cmd(b"STLS")

AUTH_TOKEN: Final = 1
AUTH_SIGNATURE: Final = 2
AUTH_RSAPUBLICKEY: Final = 3

VERSION_SKIP_CHECKSUM: Final = 0x01000001
MAX_PAYLOAD_V1: Final = 4096
_HEADER: Final = struct.Struct("<6I")

# Shell protocol (v2) packet ids.
_SH_STDIN: Final = 0
_SH_STDOUT: Final = 1
_SH_STDERR: Final = 2
_SH_EXIT: Final = 3
_SH_CLOSE_STDIN: Final = 4
_SH_WINDOW_SIZE: Final = 5
_SH_HEADER: Final = struct.Struct("<BI")
_SH_PACKET_MAX: Final = 1024 * 1024  # the host never sends more than its max payload

_SYNC_DATA_MAX: Final = 64 * 1024
_SYNC_PATH_MAX: Final = 1024
_S_IFREG: Final = 0o100000
_S_IFDIR: Final = 0o040000

_BANNER_VALUE: Final = re.compile(r"[A-Za-z0-9_.-]+")
_BANNER_KEYS: Final = ("ro.product.name", "ro.product.model", "ro.product.device")
_WIRE_CHANGING_FEATURES: Final = frozenset(
    {
        "stat_v2",
        "ls_v2",
        "sendrecv_v2",
        "sendrecv_v2_brotli",
        "sendrecv_v2_lz4",
        "sendrecv_v2_zstd",
        "sendrecv_v2_dry_run_send",
        "delayed_ack",
    }
)
_DEFAULT_DIRS: Final = ("/", "/sdcard", "/data", "/data/local", "/data/local/tmp")
_SESSION_ENV: Final = {
    "PATH": "/product/bin:/apex/com.android.runtime/bin:/system/bin",
    "HOME": "/",
}


class AuthMode(enum.Enum):
    """How the device answers the host's CNXN."""

    NONE = "none"
    """No AUTH at all (like ``ro.adb.secure=0``): reply CNXN at once."""
    ACCEPT_ANY = "accept_any"
    """Send an AUTH token and accept any signature: a phone that already trusts this host."""
    PROMPT = "prompt"
    """Refuse signatures, so the host offers its public key and shows ``unauthorized`` until
    :meth:`AdbDeviceServer.accept_auth` (the user tapping "Allow")."""


class ProtocolError(Exception):
    """The host sent something that is not adb; the connection is dropped, the server lives on."""


# ------------------------------------------------------------------------------------- streams


class _Stream:
    """One OPENed service: stop-and-wait in both directions."""

    def __init__(self, conn: _Connection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()  # no WRTE of ours is waiting for the host's OKAY
        self._ready.set()
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def write(self, data: bytes) -> None:
        """Send ``data`` as WRTEs of at most max_payload, each after the previous one's OKAY."""
        step = self.conn.max_payload
        view = memoryview(data)
        for offset in range(0, len(view), step):
            await self._ready.wait()
            self._ready.clear()
            self.conn.send(A_WRTE, self.local_id, self.remote_id, view[offset : offset + step])
            await self.conn.drain()

    async def read(self) -> bytes:
        """The next WRTE payload from the host, acknowledged only now (backpressure)."""
        data = await self._inbox.get()
        self.conn.send(A_OKAY, self.local_id, self.remote_id)
        return data

    async def drained(self) -> None:
        """Wait until the host has acknowledged everything we wrote."""
        await self._ready.wait()

    def on_okay(self) -> None:
        self._ready.set()

    def on_write(self, data: bytes) -> None:
        self._inbox.put_nowait(data)


class _ByteReader:
    """Exact-length reads over a stream whose messages may be split across WRTEs (sync)."""

    def __init__(self, stream: _Stream) -> None:
        self._stream = stream
        self._buf = bytearray()

    async def readexactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._buf += await self._stream.read()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data


class _StreamIO(ShellIO):
    """Shell I/O over a raw stream (``shell:`` v1 and ``exec:``): one merged output, no EOF."""

    def __init__(self, stream: _Stream, env: Mapping[str, str]) -> None:
        super().__init__(env)
        self._stream = stream

    async def read_stdin(self) -> bytes:
        return await self._stream.read()

    async def _write(self, fd: int, data: bytes) -> None:
        await self._stream.write(data)


class _ShellV2IO(ShellIO):
    """Shell I/O framed by the shell protocol: separate stdout/stderr, stdin with EOF.

    Packets are gathered into WRTEs of up to max_payload, sent once the command pauses or the
    WRTE is full, as adbd forwards what its socket holds: a script of ten ``echo``s is one WRTE
    and one OKAY, not ten round trips (which, for a fleet polled every second, were most of
    what the simulated phones and the adb server cost).
    """

    def __init__(self, stream: _Stream, env: Mapping[str, str]) -> None:
        super().__init__(env)
        self._stream = stream
        self._stdin_chunks: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)
        self._eof = False
        self._out = bytearray()  # framed packets not yet sent
        self._sending = asyncio.Lock()
        self._soon: asyncio.Task[None] | None = None

    async def read_stdin(self) -> bytes:
        if self._eof:
            return b""
        data = await self._stdin_chunks.get()
        self._eof = not data
        return data

    async def _write(self, fd: int, data: bytes) -> None:
        await self.packet(_SH_STDOUT if fd == 1 else _SH_STDERR, data)

    async def packet(self, kind: int, data: bytes) -> None:
        limit = self._stream.conn.max_payload
        step = limit - _SH_HEADER.size
        for offset in range(0, max(len(data), 1), step):
            chunk = data[offset : offset + step]
            # A packet never straddles two WRTEs; a full WRTE waits for the host (backpressure).
            while self._out and len(self._out) + _SH_HEADER.size + len(chunk) > limit:
                await self.flush()
            self._out += _SH_HEADER.pack(kind, len(chunk)) + chunk
        if self._soon is None or self._soon.done():
            self._soon = asyncio.create_task(self.flush())

    async def flush(self) -> None:
        """Send what is gathered, in order, one WRTE at a time."""
        async with self._sending:
            while self._out:
                data = bytes(self._out)
                self._out.clear()
                await self._stream.write(data)

    def discard(self) -> None:
        """The session is over: a send still waiting for an OKAY that will not come stops."""
        if self._soon is not None:
            self._soon.cancel()

    async def demux(self) -> None:
        """Route the host's packets: stdin and close-stdin to the command, the rest dropped."""
        buf = bytearray()
        while True:
            buf += await self._stream.read()
            offset = 0
            while len(buf) - offset >= _SH_HEADER.size:
                kind, length = _SH_HEADER.unpack_from(buf, offset)
                if length > _SH_PACKET_MAX:
                    log.warning("shell packet of %d bytes: dropping the connection", length)
                    self._stream.conn.abort()
                    return
                end = offset + _SH_HEADER.size + length
                if len(buf) < end:
                    break
                payload = bytes(buf[offset + _SH_HEADER.size : end])
                offset = end
                if kind == _SH_STDIN and payload:
                    await self._stdin_chunks.put(payload)
                elif kind == _SH_CLOSE_STDIN:
                    await self._stdin_chunks.put(b"")
                # _SH_WINDOW_SIZE: there is no terminal to resize.
            del buf[:offset]


# --------------------------------------------------------------------------------- connections


class _Connection:
    """One TCP connection from the adb server: handshake, then streams."""

    def __init__(
        self, server: AdbDeviceServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.version = server.version
        self.max_payload = server.max_payload
        self.online = False
        self.key_pending = False  # the host offered its public key: the prompt is showing
        self.task: asyncio.Task[object] | None = None
        self._host_connected = False  # the host's CNXN has arrived
        self._streams: dict[int, _Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # every service task, until it ends
        self._next_id = 1
        self._closed = False

    @property
    def running(self) -> int:
        return len(self._tasks)

    # -- sending

    def send(self, command: int, arg0: int, arg1: int, data: bytes | memoryview = b"") -> None:
        if self._closed:
            return
        check = sum(data) & 0xFFFFFFFF if self.version < VERSION_SKIP_CHECKSUM else 0
        header = _HEADER.pack(command, arg0, arg1, len(data), check, command ^ 0xFFFFFFFF)
        self.writer.write(header + data if len(data) < 65536 else header)
        if len(data) >= 65536:
            self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    # -- lifecycle

    async def serve(self) -> None:
        try:
            while True:
                header = await self.reader.readexactly(_HEADER.size)
                command, arg0, arg1, length, _check, magic = _HEADER.unpack(header)
                if magic != command ^ 0xFFFFFFFF:
                    raise ProtocolError(f"bad magic in {header.hex()}")
                if length > max(self.max_payload, MAX_PAYLOAD_V1):
                    raise ProtocolError(f"payload of {length} bytes is over the limit")
                data = await self.reader.readexactly(length) if length else b""
                self.dispatch(command, arg0, arg1, data)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.debug("%s: host went away", self.server.serial)
        except ProtocolError as e:
            log.warning("%s: dropping connection: %s", self.server.serial, e)
        except Exception:
            log.exception("%s: dropping connection after an internal error", self.server.serial)
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop the connection at once, with no CLSE: a cable pulled out."""
        if self._closed:
            return
        self._closed = True
        for stream in self._streams.values():
            if stream.task is not None:
                stream.task.cancel()
        self._streams.clear()
        # No cancel() for the serve task: the aborted transport ends its read with EOF, and a
        # cancelled client_connected_cb task makes asyncio (3.11) log a spurious traceback.
        self.writer.transport.abort()

    async def wait_streams(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- packets

    def dispatch(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        if command == A_CNXN:
            self.on_cnxn(arg0, arg1)
        elif command == A_AUTH:
            self.on_auth(arg0)
        elif not self.online:
            log.debug("%s: ignoring %08x before CNXN", self.server.serial, command)
        elif command == A_OPEN:
            self.on_open(arg0, data)
        elif command == A_OKAY:
            stream = self._streams.get(arg1)
            if stream is not None and stream.remote_id == arg0:
                stream.on_okay()
        elif command == A_WRTE:
            stream = self._streams.get(arg1)
            if stream is not None and stream.remote_id == arg0:
                stream.on_write(data)
        elif command == A_CLSE:
            stream = self._streams.get(arg1)
            if stream is not None and stream.remote_id == arg0:
                del self._streams[arg1]
                if stream.task is not None:
                    stream.task.cancel()
                self.send(A_CLSE, arg1, arg0)
            # else: the host echoing our own CLSE, or a stream we never knew.
        else:
            log.debug("%s: ignoring command %08x", self.server.serial, command)

    def on_cnxn(self, version: int, max_payload: int) -> None:
        if max_payload < 256:
            raise ProtocolError(f"host max payload {max_payload} is too small")
        if self._host_connected:  # a restarted handshake resets the transport
            for stream in self._streams.values():
                if stream.task is not None:
                    stream.task.cancel()
            self._streams.clear()
        self._host_connected = True
        self.online = False
        self.key_pending = False
        self.version = min(self.server.version, version)
        self.max_payload = min(self.server.max_payload, max_payload)
        if self.server.auth is AuthMode.NONE:
            self.go_online()
        else:
            self.send_token()

    def on_auth(self, kind: int) -> None:
        if not self._host_connected or self.online or self.server.auth is AuthMode.NONE:
            return
        if kind == AUTH_SIGNATURE:
            if self.server.authorized:
                self.go_online()
            else:
                self.send_token()  # "wrong key": the host tries its next key, then RSAPUBLICKEY
        elif kind == AUTH_RSAPUBLICKEY:
            if self.server.authorized:
                self.go_online()
            else:
                self.key_pending = True
        else:
            raise ProtocolError(f"unexpected AUTH type {kind}")

    def send_token(self) -> None:
        self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))

    def go_online(self) -> None:
        self.online = True
        self.key_pending = False
        self.send(A_CNXN, self.version, self.max_payload, self.server.banner)

    def on_open(self, remote_id: int, data: bytes) -> None:
        if remote_id == 0:
            raise ProtocolError("OPEN with remote id 0")
        name = data.split(b"\0", 1)[0].decode("utf-8", "replace")
        log.debug("%s: OPEN %r", self.server.serial, name)
        service = self.server.service(name)
        if service is None:
            log.debug("%s: refusing service %r", self.server.serial, name)
            self.send(A_CLSE, 0, remote_id)
            return
        local_id = self._next_id
        self._next_id = self._next_id % 0xFFFFFFFF + 1
        stream = _Stream(self, local_id, remote_id)
        self._streams[local_id] = stream
        self.send(A_OKAY, local_id, remote_id)
        stream.task = task = asyncio.create_task(self._run(stream, service, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, stream: _Stream, service: _Service, name: str) -> None:
        try:
            await service(stream)
            await stream.drained()
        except asyncio.CancelledError:
            raise  # the host closed the stream or the connection is gone: nothing to send
        except ConnectionError:
            return
        except ProtocolError as e:
            log.warning("%s: closing %r: %s", self.server.serial, name, e)
        except Exception:
            log.exception("%s: service %r failed", self.server.serial, name)
        if self._streams.get(stream.local_id) is stream:
            del self._streams[stream.local_id]
            self.send(A_CLSE, stream.local_id, stream.remote_id)


_Service = Callable[[_Stream], Awaitable[None]]


# -------------------------------------------------------------------------------------- server


class AdbDeviceServer:
    """One simulated phone: a listening port that speaks the device side of adb.

    ``stop()`` is an unplug (every connection aborted, no CLSE) and ``start()`` after it plugs the
    same phone back in on the same port.
    """

    def __init__(
        self,
        shell: Shell,
        *,
        props: Mapping[str, str],
        state: str = "device",
        features: Sequence[str] = ("shell_v2", "cmd"),
        auth: AuthMode = AuthMode.ACCEPT_ANY,
        max_payload: int = 1024 * 1024,
        version: int = 0x01000001,
        files: MutableMapping[str, bytes] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        for key in _BANNER_KEYS:
            value = props.get(key)
            if value is not None and not _BANNER_VALUE.fullmatch(value):
                raise ValueError(f"{key}={value!r}: banner values must match [A-Za-z0-9_.-]+")
        if not re.fullmatch(r"[a-z]+", state):
            raise ValueError(f"bad state {state!r}")
        for feature in features:
            if not re.fullmatch(r"[A-Za-z0-9_]+", feature):
                raise ValueError(f"bad feature name {feature!r}")
            if feature in _WIRE_CHANGING_FEATURES:
                raise ValueError(f"feature {feature!r} changes the wire format; not simulated")
        if max_payload < 256:
            raise ValueError("max_payload must be at least 256")
        self.shell = shell
        self.props = dict(props)
        self.state = state
        self.features = tuple(features)
        self.auth = auth
        self.max_payload = max_payload
        self.version = version
        self.files: MutableMapping[str, bytes] = files if files is not None else {}
        self.host = host
        self._port = port
        self._mtimes: dict[str, int] = {}
        self._accepted = False
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        fields = [f"{k}={self.props[k]}" for k in _BANNER_KEYS if k in self.props]
        fields.append("features=" + ",".join(self.features))
        self.banner = f"{state}::{';'.join(fields)}".encode()

    # -- public API

    @property
    def port(self) -> int:
        return self._port

    @property
    def serial(self) -> str:
        """The name the adb server gives this device after ``adb connect``."""
        return f"{self.host}:{self._port}"

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def active_streams(self) -> int:
        """Services still running on the device, over all connections (tests check cleanup)."""
        return sum(conn.running for conn in self._connections)

    @property
    def authorized(self) -> bool:
        return self.auth is not AuthMode.PROMPT or self._accepted

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, self.host, self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Unplug: close the listener and abort every connection at once (no CLSE)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        connections = list(self._connections)
        for conn in connections:
            conn.abort()
        tasks = [c.task for c in connections if c.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def accept_auth(self) -> None:
        """The user taps "Allow": pending and future connections become authorized."""
        self._accepted = True
        for conn in list(self._connections):
            if conn.key_pending:
                conn.go_online()

    def revoke_auth(self) -> None:
        """Forget the host's key. Only new handshakes see it; live connections stay online."""
        self._accepted = False

    # -- connections

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        conn.task = asyncio.current_task()
        self._connections.add(conn)
        try:
            await conn.serve()
        finally:
            self._connections.discard(conn)
            with contextlib.suppress(Exception):
                await conn.wait_streams()

    # -- services

    def service(self, name: str) -> _Service | None:
        """The handler for an OPEN, or None to refuse it."""
        if name.startswith("shell") and ":" in name:
            head, _, command = name.partition(":")
            args = head.split(",")
            if args[0] != "shell":
                return None
            env = dict(_SESSION_ENV)
            for arg in args[1:]:
                if arg.startswith("TERM="):
                    env["TERM"] = arg[5:]
            if "v2" in args[1:]:
                return lambda stream: self._shell_v2(stream, command, env)
            return lambda stream: self._shell_raw(stream, command, env)
        if name.startswith("exec:"):
            command = name[5:]
            return lambda stream: self._shell_raw(stream, command, dict(_SESSION_ENV))
        if name == "sync:":
            return self._sync
        return None

    async def _shell_raw(self, stream: _Stream, command: str, env: dict[str, str]) -> None:
        io = _StreamIO(stream, env)
        if command.strip():
            await self.shell.run(command, io)
        else:
            await self.shell.run_interactive(io)

    async def _shell_v2(self, stream: _Stream, command: str, env: dict[str, str]) -> None:
        io = _ShellV2IO(stream, env)
        demux = asyncio.create_task(io.demux())
        try:
            try:
                if command.strip():
                    status = await self.shell.run(command, io)
                else:
                    status = await self.shell.run_interactive(io)
            finally:
                demux.cancel()
            await io.packet(_SH_EXIT, bytes([status & 0xFF]))
            await io.flush()
        finally:
            io.discard()

    # -- sync v1 over the in-memory filesystem

    def _is_dir(self, path: str) -> bool:
        path = path.rstrip("/") or "/"
        if path in _DEFAULT_DIRS:
            return True
        prefix = path + "/"
        return any(name.startswith(prefix) for name in self.files)

    def _stat(self, path: str) -> tuple[int, int, int]:
        if path in self.files:
            return _S_IFREG | 0o644, len(self.files[path]), self._mtimes.get(path, 0)
        if self._is_dir(path):
            return _S_IFDIR | 0o771, 4096, 0
        return 0, 0, 0

    def _list(self, path: str) -> list[tuple[str, tuple[int, int, int]]]:
        prefix = path.rstrip("/") + "/"
        names: dict[str, None] = {}
        for full in [*self.files, *_DEFAULT_DIRS]:
            if full.startswith(prefix) and len(full) > len(prefix):
                names[full[len(prefix) :].split("/", 1)[0]] = None
        return [(name, self._stat(prefix + name)) for name in sorted(names)]

    async def _sync(self, stream: _Stream) -> None:
        reader = _ByteReader(stream)
        while True:
            request, length = struct.unpack("<4sI", await reader.readexactly(8))
            if request == b"QUIT":
                return
            if length > _SYNC_PATH_MAX:
                raise ProtocolError(f"sync path of {length} bytes")
            path = (await reader.readexactly(length)).decode("utf-8", "surrogateescape")
            if request == b"STAT":
                await stream.write(b"STAT" + struct.pack("<3I", *self._stat(path)))
            elif request == b"LIST":
                out = bytearray()
                for name, (mode, size, mtime) in self._list(path):
                    encoded = name.encode("utf-8", "surrogateescape")
                    out += b"DENT" + struct.pack("<4I", mode, size, mtime, len(encoded)) + encoded
                await stream.write(bytes(out + b"DONE" + bytes(16)))
            elif request == b"RECV":
                data = self.files.get(path)
                if data is None:
                    await _sync_fail(stream, "No such file or directory")
                    continue
                out = bytearray()
                for offset in range(0, len(data), _SYNC_DATA_MAX):
                    chunk = data[offset : offset + _SYNC_DATA_MAX]
                    out += b"DATA" + struct.pack("<I", len(chunk)) + chunk
                await stream.write(bytes(out + b"DONE" + bytes(4)))
            elif request == b"SEND":
                await self._sync_send(stream, reader, path)
            else:
                raise ProtocolError(f"unknown sync request {request!r}")

    async def _sync_send(self, stream: _Stream, reader: _ByteReader, spec: str) -> None:
        path = spec.rpartition(",")[0] or spec
        parts: list[bytes] = []
        while True:
            kind, arg = struct.unpack("<4sI", await reader.readexactly(8))
            if kind == b"DATA":
                if arg > 1024 * 1024:
                    raise ProtocolError(f"sync DATA of {arg} bytes")
                parts.append(await reader.readexactly(arg))
            elif kind == b"DONE":
                break
            else:
                raise ProtocolError(f"unexpected {kind!r} during SEND")
        if self._is_dir(path):
            await _sync_fail(stream, f"{path}: Is a directory")
            return
        self.files[path] = b"".join(parts)
        self._mtimes[path] = arg or int(time.time())
        await stream.write(b"OKAY" + bytes(4))


async def _sync_fail(stream: _Stream, message: str) -> None:
    encoded = message.encode()
    await stream.write(b"FAIL" + struct.pack("<I", len(encoded)) + encoded)
