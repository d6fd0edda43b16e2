"""What a full first scan costs per phone, against the obvious peer, in one run.

For each simulated Android release (9-15), a phone with about 200 packages is read through
the real adb server twice: by tetherguard (its link, collector and parsers) and by the peer a
researcher would script today (stock adbutils for the same commands, MVT's artifact parsers
for the two big dumps). Prints round trips, bytes, wall time and host CPU for each, and the
ratio. Target: a full first scan of a 200-package phone in < 2 s of host CPU.

Usage: python scripts/bench/scan_cost.py [--packages 200] [--repeat 3] [--adb PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import adbutils

from agent.adb.server import PrivateAdbServer
from agent.collect import Collector
from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES, build_state

PEER_COMMANDS = [
    "getprop",
    "cmd user list",
    "dumpsys package",
    "dumpsys appops",
    "cmd package query-activities --components --user 0 -a android.intent.action.MAIN "
    "-c android.intent.category.LAUNCHER",
    "dumpsys device_policy",
    "dumpsys power",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packages", type=int, default=200, help="packages per phone (about)")
    ap.add_argument("--repeat", type=int, default=3, help="scans per phone (median kept)")
    ap.add_argument("--adb", help="adb binary (default: the bundled one)")
    args = ap.parse_args()
    try:
        from mvt.android.artifacts.dumpsys_appops import DumpsysAppopsArtifact
        from mvt.android.artifacts.dumpsys_packages import DumpsysPackagesArtifact
    except ImportError as exc:
        print(f"MVT is not installed ({exc}); install the bench extra: pip install -e '.[bench]'")
        return 2

    rows = []
    cycles: list[tuple[str, float, float, float]] = []
    with SimHost() as host, PrivateAdbServer(args.adb) as server:
        client = server.client()
        stock = adbutils.AdbClient(host="127.0.0.1", port=server.port)
        for name, profile in sorted(PROFILES.items(), key=lambda p: p[1].build.sdk):
            base = len(build_state(profile).packages)
            state = build_state(profile, extra_apps=max(0, args.packages - base))
            device = host.plug(SimDevice(state))
            client.connect(device.serial)
            while client.state(device.serial) != "device":
                time.sleep(0.02)
            ours_cpu, ours_wall, peer_cpu, peer_wall = [], [], [], []
            snap = None
            for _ in range(args.repeat):
                cpu, wall = time.process_time(), time.perf_counter()
                snap = Collector(client.link(device.serial)).full()
                ours_cpu.append(time.process_time() - cpu)
                ours_wall.append(time.perf_counter() - wall)
                cpu, wall = time.process_time(), time.perf_counter()
                dev = stock.device(device.serial)
                outputs = {c: dev.shell(c) for c in PEER_COMMANDS}
                pk = DumpsysPackagesArtifact()
                pk.parse(outputs["dumpsys package"])
                ao = DumpsysAppopsArtifact()
                ao.parse(outputs["dumpsys appops"])
                peer_cpu.append(time.process_time() - cpu)
                peer_wall.append(time.perf_counter() - wall)
            assert snap is not None
            collector = Collector(client.link(device.serial))
            current = collector.full()
            quiet = []
            for _ in range(args.repeat):
                current = collector.cycle(current)
                quiet.append(current.cost)
            cycles.append(
                (
                    f"{name} (API {state.build.sdk})",
                    statistics.median(c.round_trips for c in quiet),
                    statistics.median(c.bytes_in for c in quiet),
                    statistics.median(c.seconds for c in quiet),
                )
            )
            rows.append(
                (
                    f"{name} (API {state.build.sdk})",
                    len(snap.packages.packages),
                    snap.cost.round_trips,
                    snap.cost.bytes_in,
                    statistics.median(ours_wall),
                    statistics.median(ours_cpu),
                    statistics.median(peer_wall),
                    statistics.median(peer_cpu),
                )
            )
            client.disconnect(device.serial)
    print(f"scan_cost: full first scan, median of {args.repeat}, same phone and server for both")
    print(
        f"{'phone':26} {'pkgs':>5} {'trips':>5} {'KB':>7} {'ours wall s':>11} {'ours CPU s':>10} {'peer wall s':>11} {'peer CPU s':>10} {'wall ratio':>10}"
    )
    for r in rows:
        print(
            f"{r[0]:26} {r[1]:5d} {r[2]:5d} {r[3] / 1024:7.1f} {r[4]:11.3f} {r[5]:10.3f} {r[6]:11.3f} {r[7]:10.3f} {r[6] / r[4]:9.1f}x"
        )
    worst = max(r[5] for r in rows)
    print(
        f"\ntarget: full scan of a ~{args.packages}-package phone in < 2 s host CPU: worst {worst:.3f} s -> {'met' if worst < 2 else 'MISSED'}"
    )
    print(
        "note: the peer parses less (MVT reads no per-user state, launcher entries, policy or screen)"
    )
    print(f"\nquiet steady-state cycle (nothing changed), median of {args.repeat}")
    print(f"{'phone':26} {'trips':>5} {'bytes':>7} {'wall ms':>8}   vs full scan")
    for (name, trips, nbytes, secs), r in zip(cycles, rows, strict=True):
        print(
            f"{name:26} {trips:5.0f} {nbytes:7.0f} {secs * 1000:8.2f}   {r[3] / max(nbytes, 1):.0f}x fewer bytes"
        )
    worst_bytes = max(c[2] for c in cycles)
    worst_trips = max(c[1] for c in cycles)
    print(
        f"target: <= 8 KB and a handful of round trips per quiet cycle: worst {worst_bytes:.0f} bytes, {worst_trips:.0f} trips -> {'met' if worst_bytes <= 8192 and worst_trips <= 5 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
