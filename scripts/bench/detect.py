"""Detection latency and cost: 50 simulated phones watched by the engine at the default interval.

Changes (a runtime permission granted behind the owner's back) are made on random phones at
random moments; the latency is the time from the change to the event. The engine's CPU is
measured per device and second, and its steady-state bytes per device per cycle, against the
peer a script would do today: re-reading `dumpsys package` and `dumpsys appops` each interval
with adbutils and parsing them with MVT, over the same phones in the same run.

Usage: python scripts/bench/detect.py [--devices 50] [--changes 40] [--interval 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import adbutils
import psutil

from agent.adb.server import PrivateAdbServer
from agent.engine import DEFAULT_INTERVAL, Engine
from agent.events import Event
from agent.sim.state import PermissionState
from agent.simfleet import SimFleet
from agent.store import Store

PERM = "android.permission.READ_CONTACTS"
_NOT_GRANTED = PermissionState()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--changes", type=int, default=40)
    ap.add_argument("--interval", type=float, default=DEFAULT_INTERVAL)
    ap.add_argument("--adb", help="adb binary (default: the bundled one)")
    args = ap.parse_args()
    try:
        from mvt.android.artifacts.dumpsys_appops import DumpsysAppopsArtifact
        from mvt.android.artifacts.dumpsys_packages import DumpsysPackagesArtifact
    except ImportError as exc:
        print(f"MVT is not installed ({exc}); install the bench extra: pip install -e '.[bench]'")
        return 2
    rng = random.Random(7)
    me = psutil.Process()
    with (
        PrivateAdbServer(args.adb) as server,
        SimFleet(server.client()) as fleet,
        tempfile.TemporaryDirectory() as tmp,
        Store.open(Path(tmp) / "bench.db") as store,
    ):
        fleet.start(args.devices, android="mixed")
        fleet.connect()
        client = server.client()
        engine = Engine(client, store, interval=args.interval)
        seen: dict[tuple[str, str], float] = {}
        lock = threading.Lock()

        def on_event(event: Event) -> None:
            if event.kind == "permission_granted" and event.package:
                with lock:
                    seen.setdefault((event.serial, event.package), time.time())

        engine.subscribe(on_event)
        engine.start()
        deadline = time.monotonic() + 120
        while sum(1 for d in fleet.devices if store.load_snapshot(d.serial)) < args.devices:
            if time.monotonic() > deadline:
                print("not every phone was read within 120 s")
                return 1
            time.sleep(0.2)
        time.sleep(args.interval)
        cpu0 = sum(me.cpu_times()[:2])
        t0 = time.monotonic()
        made: dict[tuple[str, str], float] = {}
        candidates = [
            (d, p.name)
            for d in fleet.devices
            for p in d.state.packages.values()
            if not p.system
            and PERM in p.requested
            and 0 in p.users
            and not p.users[0].permissions.get(PERM, _NOT_GRANTED).granted
            # Android 9 mirrors no grant into app ops: there grants wait for the periodic
            # full read (every 60 cycles), which this run does not last for.
            and d.state.build.sdk >= 29
        ]
        for device, package in rng.sample(candidates, min(args.changes, len(candidates))):
            time.sleep(rng.uniform(0, 0.3))
            fleet.host.call(lambda d=device, p=package: d.state.grant(p, 0, PERM))
            made[(device.serial, package)] = time.time()
        settle = time.monotonic() + 4 * args.interval + 5
        while time.monotonic() < settle and len(seen.keys() & made.keys()) < len(made):
            time.sleep(0.1)
        busy = time.monotonic() - t0
        cpu = sum(me.cpu_times()[:2]) - cpu0
        engine.stop()
        latencies = sorted(seen[k] - made[k] for k in made if k in seen)
        missed = len(made) - len(latencies)
        cycle_bytes = []
        for d in fleet.devices[: min(10, args.devices)]:
            from agent.collect import Collector

            c = Collector(client.link(d.serial))
            snap = c.full()
            cycle_bytes.append(c.cycle(snap).cost.bytes_in)
        # The peer: re-read the two big dumps every interval, parse with MVT.
        stock = adbutils.AdbClient(host="127.0.0.1", port=server.port)
        peer_cpu0 = sum(me.cpu_times()[:2])
        peer_t0 = time.monotonic()
        peer_bytes = 0
        for d in fleet.devices:
            dev = stock.device(d.serial)
            pk, ao = dev.shell("dumpsys package"), dev.shell("dumpsys appops")
            peer_bytes += len(pk) + len(ao)
            DumpsysPackagesArtifact().parse(pk)
            DumpsysAppopsArtifact().parse(ao)
        peer_cpu = sum(me.cpu_times()[:2]) - peer_cpu0
        peer_wall = time.monotonic() - peer_t0

    n = args.devices
    cycles = busy / args.interval
    print(
        f"detect: {n} simulated phones (mixed Android 9-15), interval {args.interval:g} s, "
        f"{len(made)} grants made behind the owner's back on Android 10-15 phones\n"
        "  (Android 9 mirrors no grant into app ops: there grants surface at the full read that "
        "runs every 60 cycles)"
    )
    if latencies:
        q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [latencies[0]] * 19
        print(
            f"  latency change -> event: p50 {statistics.median(latencies):.2f} s, "
            f"p95 {q[18]:.2f} s, max {latencies[-1]:.2f} s; missed {missed}"
        )
    else:
        print(f"  no change detected; missed {missed}")
    ours_cpu_dev_s = cpu / busy / n
    print(
        f"  engine CPU: {cpu:.2f} s over {busy:.1f} s -> {ours_cpu_dev_s * 1000:.2f} ms per device-second"
    )
    print(f"  quiet cycle: median {statistics.median(cycle_bytes):.0f} bytes per device")
    peer_per_cycle = peer_cpu / n
    ours_per_cycle = cpu / n / max(cycles, 1)
    print(
        f"peer (adbutils + MVT, full dumps each interval): {peer_per_cycle * 1000:.1f} ms CPU and "
        f"{peer_bytes / n / 1024:.0f} KB per device per cycle ({peer_wall:.1f} s for one pass)"
    )
    print(
        f"ratio: the engine spends {peer_per_cycle / max(ours_per_cycle, 1e-9):.0f}x less CPU and "
        f"{peer_bytes / n / max(statistics.median(cycle_bytes), 1):.0f}x fewer bytes per device per cycle"
    )
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
