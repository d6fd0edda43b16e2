"""A bare-bones host side of the adb wire protocol, for poking simulated devices directly.

The end-to-end tests go through the real adb server; this exists for what that server never does
on purpose: send garbage, open unknown services, or inspect our checksums.
"""

from __future__ import annotations

import socket
import struct

HEADER = struct.Struct("<6I")


def cmd(name: bytes) -> int:
    return int.from_bytes(name, "little")


CNXN, AUTH, OPEN, OKAY, CLSE, WRTE = (
    cmd(b"CNXN"),
    cmd(b"AUTH"),
    cmd(b"OPEN"),
    cmd(b"OKAY"),
    cmd(b"CLSE"),
    cmd(b"WRTE"),
)


class RawHost:
    """A blocking socket speaking adb packets to one device."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        header = HEADER.pack(command, arg0, arg1, len(data), sum(data), command ^ 0xFFFFFFFF)
        self.sock.sendall(header + data)

    def _exactly(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return buf

    def recv(self) -> tuple[int, int, int, bytes, int]:
        """(command, arg0, arg1, data, data_check)"""
        command, arg0, arg1, length, check, magic = HEADER.unpack(self._exactly(HEADER.size))
        assert magic == command ^ 0xFFFFFFFF
        return command, arg0, arg1, self._exactly(length) if length else b"", check

    def handshake(self, version: int = 0x01000001, max_payload: int = 1024 * 1024) -> bytes:
        """CNXN, answering AUTH tokens with a dummy signature; returns the device banner."""
        self.send(CNXN, version, max_payload, b"host::features=shell_v2,cmd\0")
        while True:
            command, _a0, _a1, data, _check = self.recv()
            if command == CNXN:
                return data
            assert command == AUTH
            self.send(AUTH, 2, 0, b"\0" * 256)

    def closed_by_peer(self) -> bool:
        """True once the device has closed the connection (reads to EOF)."""
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        return True
