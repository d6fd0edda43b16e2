"""Shell protocol v2 framing, split at every possible byte boundary."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from agent.adb.wire import ServerAddress, ShellV2Decoder


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
