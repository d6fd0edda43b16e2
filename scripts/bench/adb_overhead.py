"""How much the adb link costs per command, against its peers, in one run.

Everything is measured against the same simulated phone through the same real adb server
(a private one on a free port): the raw-socket floor, tetherguard's link, stock adbutils, and
the ``adb`` CLI as a subprocess. Prints medians, p95s, throughput and the ratios the targets
are about:

- median ``echo`` round trip <= 2 ms and >= 10x faster than adbutils ``device.shell``;
- >= 100 MB/s for a 4 MiB output.

Usage: python scripts/bench/adb_overhead.py [--n 300] [--adb PATH]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Callable

import adbutils

from agent.adb import AdbClient
from agent.adb.server import PrivateAdbServer
from agent.sim.commands import basic_shell, pattern_bytes
from agent.sim.host import SimHost

PROPS = {"ro.product.model": "Bench", "ro.product.name": "bench", "ro.product.device": "bench"}
BIG = 4 << 20


def timed(fn: Callable[[], object], n: int) -> list[float]:
    fn()  # warm up: first call pays for feature probes and connection set-up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def raw_socket(port: int, serial: str, command: str) -> bytes:
    """The floor: two requests on one socket, read to EOF, no framing, no checks."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for req in (f"host:transport:{serial}", f"shell:{command}"):
            data = req.encode()
            s.sendall(b"%04x" % len(data) + data)
            assert s.recv(4) == b"OKAY"
        chunks = []
        while chunk := s.recv(1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)


def row(name: str, samples: list[float]) -> tuple[str, float, float]:
    qs = statistics.quantiles(samples, n=20)
    return name, statistics.median(samples) * 1000, qs[18] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="round trips per contender")
    ap.add_argument("--adb", help="adb binary (default: the one bundled with adbutils)")
    args = ap.parse_args()

    with SimHost() as host, PrivateAdbServer(args.adb) as server:
        device = host.add(basic_shell(PROPS), props=PROPS)
        client = server.client()
        client.connect(device.serial)
        deadline = time.monotonic() + 10
        while client.state(device.serial) != "device":
            if time.monotonic() > deadline:
                raise SystemExit("simulated device did not come online")
            time.sleep(0.05)
        serial, port, n = device.serial, server.port, args.n
        link = AdbClient(client.address, start_server=False).link(serial)
        stock = adbutils.AdbClient(host="127.0.0.1", port=port).device(serial)
        env = server.env()
        cli = [server.binary, "-P", str(port), "-s", serial, "shell", "echo", "hi"]

        # Each contender must really carry the output before its time means anything.
        assert raw_socket(port, serial, f"yes-bytes {BIG}") == pattern_bytes(BIG)
        assert link.shell(["yes-bytes", str(BIG)]).raw_stdout == pattern_bytes(BIG)
        assert stock.shell(f"yes-bytes {BIG}", encoding=None) == pattern_bytes(BIG)
        assert link.shell(["echo", "hi"]).stdout == "hi\n" == stock.shell("echo hi") + "\n"

        results = [
            row("raw socket (floor)", timed(lambda: raw_socket(port, serial, "echo hi"), n)),
            row("tetherguard link.shell", timed(lambda: link.shell(["echo", "hi"]), n)),
            row("adbutils device.shell", timed(lambda: stock.shell("echo hi"), n)),
            row(
                "adb CLI subprocess",
                timed(
                    lambda: subprocess.run(cli, env=env, capture_output=True, check=True), n // 4
                ),
            ),
        ]
        big = [
            ("raw socket (floor)", timed(lambda: raw_socket(port, serial, f"yes-bytes {BIG}"), 10)),
            ("tetherguard link.shell", timed(lambda: link.shell(["yes-bytes", str(BIG)]), 10)),
            (
                "adbutils shell(encoding=None)",
                timed(lambda: stock.shell(f"yes-bytes {BIG}", encoding=None), 10),
            ),
            (
                "adb CLI exec-out",
                timed(
                    lambda: subprocess.run(
                        [
                            server.binary,
                            "-P",
                            str(port),
                            "-s",
                            serial,
                            "exec-out",
                            f"yes-bytes {BIG}",
                        ],
                        env=env,
                        capture_output=True,
                        check=True,
                    ),
                    10,
                ),
            ),
        ]
        client.disconnect(serial)

    print(f"adb_overhead: {n} echo round trips per contender, adb {server.binary}")
    print(f"{'contender':32} {'median ms':>10} {'p95 ms':>10}")
    for name, med, p95 in results:
        print(f"{name:32} {med:10.3f} {p95:10.3f}")
    ours, stock_med = results[1][1], results[2][1]
    print(f"\n4 MiB output ({BIG} bytes), median of 10")
    print(f"{'contender':32} {'median ms':>10} {'MB/s':>10}")
    rates = {}
    for name, samples in big:
        med = statistics.median(samples)
        rates[name] = BIG / med / 1e6
        print(f"{name:32} {med * 1000:10.2f} {rates[name]:10.1f}")
    ratio = stock_med / ours
    ours_rate = rates["tetherguard link.shell"]
    print("\ntargets")
    print(f"  median echo {ours:.3f} ms (target <= 2 ms): {'met' if ours <= 2 else 'MISSED'}")
    print(
        f"  vs adbutils {ratio:.1f}x faster (target >= 10x): {'met' if ratio >= 10 else 'MISSED'}"
    )
    print(f"  vs raw floor {ours / results[0][1]:.2f}x the floor's time")
    print(
        f"  4 MiB at {ours_rate:.0f} MB/s (target >= 100): "
        f"{'met' if ours_rate >= 100 else 'MISSED'}"
    )
    print(f"  vs adbutils throughput {ours_rate / rates['adbutils shell(encoding=None)']:.1f}x")


if __name__ == "__main__":
    os.environ.setdefault("ADB_EMU", "0")
    main()
