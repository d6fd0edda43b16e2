"""Shell protocol v2 framing, split at every possible byte boundary."""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
import tracemalloc
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.adb import wire
from agent.adb.client import ShellStream
from agent.adb.wire import Connection, ServerAddress, ShellV2Decoder


def _packet(pid: int, payload: bytes) -> bytes:
    return struct.pack("<BI", pid, len(payload)) + payload


@given(
    st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=8),
    st.lists(st.integers(1, 64), min_size=1, max_size=50),
)
def test_decoder_reassembles_any_split(packets: list[tuple[int, bytes]], cuts: list[int]) -> None:
    stream = b"".join(_packet(p, d) for p, d in packets) + _packet(3, b"\x07")
    decoder = ShellV2Decoder()
    got: dict[int, bytearray] = {1: bytearray(), 2: bytearray(), 3: bytearray()}
    pos, i = 0, 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        for pid, payload in decoder.feed(stream[pos : pos + step]):
            got[pid] += payload
        pos += step
        i += 1
    assert bytes(got[1]) == b"".join(d for p, d in packets if p == 1)
    assert bytes(got[2]) == b"".join(d for p, d in packets if p == 2)
    assert bytes(got[3]) == b"\x07"
    assert not decoder.mid_packet


def test_server_address_follows_adb_environment() -> None:
    assert ServerAddress.from_env({}) == ServerAddress("127.0.0.1", 5037)
    assert ServerAddress.from_env({"ANDROID_ADB_SERVER_PORT": "5137"}).port == 5137
    env = {"ADB_SERVER_SOCKET": "tcp:10.0.0.2:6000", "ANDROID_ADB_SERVER_PORT": "1"}
    assert ServerAddress.from_env(env) == ServerAddress("10.0.0.2", 6000)
    assert ServerAddress.from_env({"ADB_SERVER_SOCKET": "tcp:7000"}).port == 7000


@pytest.mark.parametrize("v2", [True, False], ids=["shell-v2", "shell-v1"])
def test_a_waiting_stream_holds_none_of_the_burst_it_last_read(v2: bool) -> None:
    """150 phones each waiting on their log: a kept burst would be 256 KiB a phone, for nothing."""
    ours, theirs = socket.socketpair()
    burst = b"".join(b"%06d an event line of a busy log\n" % i for i in range(4000))  # ~160 KB
    stream = ShellStream(
        cast(Any, None), Connection(ours, ServerAddress("127.0.0.1", 5037)), "logcat", v2, 1 << 20
    )
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(stream), daemon=True)
    tracemalloc.start()
    try:
        theirs.sendall(_packet(1, burst) if v2 else burst)
        reader.start()
        deadline = time.monotonic() + 10
        # Every line read and the reader back in recv, waiting for more.
        while not (len(got) == 4000 and _blocked_in_recv(reader)):
            assert time.monotonic() < deadline, (len(got), "lines read")
            time.sleep(0.01)
        held = sum(
            stat.size
            for stat in tracemalloc.take_snapshot()
            .filter_traces([tracemalloc.Filter(True, wire.__file__)])
            .statistics("filename")
        )
    finally:
        tracemalloc.stop()
        stream.close()
        theirs.close()
        reader.join(10)
    assert got[-1] == "003999 an event line of a busy log"
    assert held < len(burst) // 10, f"{held} bytes of the {len(burst)}-byte burst still held"


def _blocked_in_recv(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    return frame is not None and frame.f_code.co_name == "_recv"
