"""Live-use latency and cost: 50 simulated phones, one UseWorker each at a 0.5 s period.

The microphone or the camera is started (and a little later stopped) on random phones at random
moments, changing the phone's state as the scenario engine does; the latency is the time from
the change to the published event. Reported: change -> event latency p50/p95/p99 (target: p95
<= 1 s), the watch's CPU per device (its worker threads only; the simulated phones run in this
process too and are shown apart), the adb server's CPU, and bytes per device per second, quiet
and busy. The peer, measured in the same run over the same phones: polling the full unfiltered
``dumpsys appops`` with adbutils at the same period (and parsing it, as any watcher must to
know who runs what).

Usage: python scripts/bench/use_latency.py [--devices 50] [--changes 60] [--period 0.5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import adbutils
import psutil

from agent.adb.server import PrivateAdbServer
from agent.events import Event
from agent.parsers.appops import parse_dumpsys_appops
from agent.sim.device import SimDevice
from agent.sim.scenario import Step, apply_step, stop_use
from agent.simfleet import SimFleet
from agent.snapshot import Snapshot
from agent.uses import UseMonitor, UseWorker

TARGET_P95_S = 1.0
OPS = ("RECORD_AUDIO", "CAMERA")


class TimedMonitor(UseMonitor):
    """A monitor that counts its own CPU time exactly (``time.thread_time`` around each tick):
    the kernel's per-thread figures are sampled at the timer tick, and a thread that wakes on a
    timer, works a fraction of a millisecond and sleeps again is mostly missed by them."""

    cpu = 0.0

    def tick(self, snapshot: Snapshot | None = None) -> list[Event]:
        started = time.thread_time()
        try:
            return super().tick(snapshot)
        finally:
            self.cpu += time.thread_time() - started


def thread_cpu(names: Callable[[str], bool]) -> float:
    """CPU seconds (user + system) of this process's threads whose name passes ``names``
    (sampled by the kernel: right for a busy thread such as the simulator's)."""
    ids = {t.native_id for t in threading.enumerate() if names(t.name)}
    return sum(t.user_time + t.system_time for t in psutil.Process().threads() if t.id in ids)


def watch_cpu(monitors: list[TimedMonitor]) -> float:
    return sum(m.cpu for m in monitors)


def adb_server_process(port: int) -> psutil.Process | None:
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "adb" in (proc.info.get("name") or "") and any(f"tcp:{port}" in a for a in cmdline):
            return proc
    return None


def cpu_of(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    times = proc.cpu_times()
    return float(times.user + times.system)


def quantile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Recorder:
    """First publish time of each (serial, package, op, kind)."""

    seen: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Event) -> None:
        now = time.time()
        key = (event.serial, event.package or "", str(event.detail.get("op")), event.kind)
        with self.lock:
            self.seen.setdefault(key, now)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--changes", type=int, default=60)
    ap.add_argument("--period", type=float, default=0.5)
    ap.add_argument("--quiet", type=float, default=10.0, help="seconds of the quiet phase")
    ap.add_argument("--peer-seconds", type=float, default=10.0)
    ap.add_argument("--adb", help="adb binary (default: the bundled one)")
    args = ap.parse_args()
    rng = random.Random(11)
    me = psutil.Process()
    n = args.devices
    with PrivateAdbServer(args.adb) as server, SimFleet(server.client()) as fleet:
        fleet.start(n, android="mixed")
        fleet.connect()
        client = server.client()
        adb_proc = adb_server_process(server.port)
        record = Recorder()
        monitors = [TimedMonitor(client.link(d.serial)) for d in fleet.devices]
        workers = [UseWorker(m, record, period=args.period).start() for m in monitors]
        deadline = time.monotonic() + 120
        while any(m.cost.ticks < 2 for m in monitors):  # past the baseline fetch
            if time.monotonic() > deadline:
                print("not every phone was probed within 120 s")
                return 1
            time.sleep(0.1)
        sim = lambda name: name == "tetherguard-sim"  # noqa: E731

        # ---- quiet phase: nothing in use
        b0 = sum(m.cost.bytes_in for m in monitors)
        k0 = sum(m.cost.ticks for m in monitors)
        t0, c0, s0, a0 = time.monotonic(), watch_cpu(monitors), thread_cpu(sim), cpu_of(adb_proc)
        p0 = sum(me.cpu_times()[:2])
        time.sleep(args.quiet)
        quiet_s = time.monotonic() - t0
        quiet_bytes = sum(m.cost.bytes_in for m in monitors) - b0
        quiet_cpu = watch_cpu(monitors) - c0
        quiet_sim = thread_cpu(sim) - s0
        quiet_adb = cpu_of(adb_proc) - a0
        quiet_proc = sum(me.cpu_times()[:2]) - p0
        quiet_ticks = sum(m.cost.ticks for m in monitors) - k0

        # ---- busy phase: uses started and stopped at random moments
        b0 = sum(m.cost.bytes_in for m in monitors)
        t0, c0 = time.monotonic(), watch_cpu(monitors)
        made: dict[tuple[str, str, str, str], float] = {}
        running: list[tuple[float, SimDevice, str, str]] = []
        busy: set[tuple[str, str]] = set()
        for _ in range(args.changes):
            time.sleep(rng.uniform(0.05, 0.25))
            now = time.monotonic()
            for item in [r for r in running if r[0] <= now]:
                running.remove(item)
                _, device, package, op = item
                fleet.host.call(lambda d=device, p=package, o=op: stop_use(d.state, p, 0, o))
                made[(device.serial, package, op, "sensitive_use_stopped")] = time.time()
            device = rng.choice(fleet.devices)
            candidates = [
                p.name
                for p in device.state.packages.values()
                if not p.system and 0 in p.users and (device.serial, p.name) not in busy
            ]
            if not candidates:
                continue
            package, op = rng.choice(candidates), rng.choice(OPS)
            step = Step(
                0, "use", {"package": package, "op": op, "state": rng.choice(["top", "bg"])}
            )
            fleet.host.call(lambda d=device, s=step: apply_step(d.state, s))
            made[(device.serial, package, op, "sensitive_use_started")] = time.time()
            busy.add((device.serial, package))
            running.append((now + rng.uniform(1.0, 3.0), device, package, op))
        for _, device, package, op in running:
            time.sleep(0.05)
            fleet.host.call(lambda d=device, p=package, o=op: stop_use(d.state, p, 0, o))
            made[(device.serial, package, op, "sensitive_use_stopped")] = time.time()
        settle = time.monotonic() + 5
        while time.monotonic() < settle and not made.keys() <= record.seen.keys():
            time.sleep(0.05)
        busy_s = time.monotonic() - t0
        busy_bytes = sum(m.cost.bytes_in for m in monitors) - b0
        busy_cpu = watch_cpu(monitors) - c0
        for w in workers:
            w.stop()
        errors = [w.error for w in workers if w.error is not None]

        # ---- the peer: full dumpsys appops with adbutils at the same period, same phones
        stock = adbutils.AdbClient(host="127.0.0.1", port=server.port)
        peer_bytes = [0]
        peer_polls = [0]
        peer_time = [0.0]
        peer_lock = threading.Lock()
        stop = threading.Event()

        def peer(serial: str) -> None:
            dev = stock.device(serial)
            due = time.monotonic()
            while not stop.is_set():
                started = time.thread_time()
                text = dev.shell("dumpsys appops")
                parse_dumpsys_appops(text)
                spent = time.thread_time() - started
                with peer_lock:
                    peer_bytes[0] += len(text.encode())
                    peer_polls[0] += 1
                    peer_time[0] += spent
                due = max(due + args.period, time.monotonic())
                stop.wait(due - time.monotonic())

        threads = [
            threading.Thread(target=peer, args=(d.serial,), name=f"peer-{i}", daemon=True)
            for i, d in enumerate(fleet.devices)
        ]
        peer_sim0, peer_adb0 = thread_cpu(sim), cpu_of(adb_proc)
        pt0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(args.peer_seconds)
        with peer_lock:
            peer_cpu = peer_time[0]
        peer_sim = thread_cpu(sim) - peer_sim0
        peer_adb = cpu_of(adb_proc) - peer_adb0
        stop.set()
        peer_s = time.monotonic() - pt0
        for t in threads:
            t.join(10)

    latencies = {
        kind: sorted(
            record.seen[k] - t for k, t in made.items() if k[3] == kind and k in record.seen
        )
        for kind in ("sensitive_use_started", "sensitive_use_stopped")
    }
    missed = sum(1 for k in made if k not in record.seen)
    print(
        f"use_latency: {n} simulated phones (mixed Android 9-15), one UseWorker each, period "
        f"{args.period:g} s (fast ops every tick, slow ops every 4th); {len(made)} changes "
        f"(mic/camera started or stopped, random phones and moments)"
    )
    print(f"  target: p95 change -> event <= {TARGET_P95_S:g} s")
    for kind, values in latencies.items():
        if values:
            print(
                f"  {kind:22}: n={len(values):3}  p50 {quantile(values, 50):.2f} s  "
                f"p95 {quantile(values, 95):.2f} s  p99 {quantile(values, 99):.2f} s  "
                f"max {values[-1]:.2f} s"
            )
    print(f"  missed: {missed}; worker errors: {len(errors)}")
    dev_s_quiet = n * quiet_s
    print(
        f"  quiet: {quiet_bytes / dev_s_quiet:.0f} bytes per device per second "
        f"({quiet_bytes / max(quiet_ticks, 1):.0f} bytes per tick); watch CPU "
        f"{quiet_cpu / dev_s_quiet * 1000:.2f} ms per device-second "
        f"({quiet_cpu / quiet_s * 100 / n:.3f}% of a core per device)"
    )
    print(
        f"         (same window: simulated phones {quiet_sim / dev_s_quiet * 1000:.2f} ms, adb server "
        f"{quiet_adb / dev_s_quiet * 1000:.2f} ms, whole process "
        f"{quiet_proc / dev_s_quiet * 1000:.2f} ms per device-second)"
    )
    dev_s_busy = n * busy_s
    print(
        f"  busy:  {busy_bytes / dev_s_busy:.0f} bytes per device per second; watch CPU "
        f"{busy_cpu / dev_s_busy * 1000:.2f} ms per device-second"
    )
    dev_s_peer = n * peer_s
    achieved = peer_s * n / max(peer_polls[0], 1)
    print(
        f"peer (adbutils, full `dumpsys appops` + parse, same period): "
        f"{peer_bytes[0] / dev_s_peer / 1024:.1f} KB per device per second, CPU "
        f"{peer_cpu / dev_s_peer * 1000:.2f} ms per device-second (simulated phones "
        f"{peer_sim / dev_s_peer * 1000:.2f} ms, adb server {peer_adb / dev_s_peer * 1000:.2f} ms); "
        f"achieved period {achieved:.2f} s"
    )
    quiet_rate = quiet_bytes / dev_s_quiet
    print(
        f"ratio (quiet): {peer_bytes[0] / dev_s_peer / max(quiet_rate, 1e-9):.0f}x fewer bytes, "
        f"{(peer_cpu / dev_s_peer) / max(quiet_cpu / dev_s_quiet, 1e-9):.0f}x less host CPU "
        "per device-second"
    )
    started = latencies["sensitive_use_started"]
    ok = bool(started) and quantile(started, 95) <= TARGET_P95_S and not missed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
