"""A simulated fleet at scale: N phones in one process, one real adb server, a full inventory each.

The phones run in a child process (``tetherguard sim --connect``) so its CPU and memory are
measured on their own; the inventory is read twice in this run, through tetherguard's adb link
and through stock adbutils (the peer), over the same phones and the same server.

Prints: time to bring the fleet online, inventory wall time and bytes for each client and
their ratio, and CPU seconds and RSS of the simulator, the adb server and this process.

Usage: python scripts/bench/sim_fleet.py [--devices 150] [--workers 16] [--adb PATH]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import adbutils
import psutil

from agent.adb import AdbClient
from agent.adb.server import PrivateAdbServer

# What a guard reads from every phone on its first pass.
INVENTORY = [
    ["getprop"],
    ["pm", "list", "packages", "-U", "-i", "--show-versioncode"],
    ["cmd", "user", "list"],
    ["dumpsys", "package"],
    ["dumpsys", "appops"],
    ["dumpsys", "device_policy"],
    ["dumpsys", "power"],
]


def inventory(
    run: Callable[[list[str]], bytes], serials: list[str], workers: int
) -> tuple[float, int]:
    def one(serial: str) -> int:
        return sum(len(run([serial, *cmd])) for cmd in INVENTORY)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(one, serials))
    return time.perf_counter() - started, total


def cpu_rss(proc: psutil.Process) -> tuple[float, float]:
    times = proc.cpu_times()
    return times.user + times.system, proc.memory_info().rss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=150)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--adb", help="adb binary (default: the one bundled with adbutils)")
    args = ap.parse_args()

    with PrivateAdbServer(args.adb) as server:
        env = server.env()
        started = time.perf_counter()
        sim = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "sim", "--devices", str(args.devices), "--connect"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert sim.stdout is not None
        serials = [sim.stdout.readline().split("\t")[0] for _ in range(args.devices)]
        online = time.perf_counter() - started
        adb_proc = next(
            p
            for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "adb" and str(server.port) in " ".join(p.info["cmdline"] or [])
        )
        sim_ps = psutil.Process(sim.pid)
        me = psutil.Process(os.getpid())
        sim_before, adb_before, me_before = cpu_rss(sim_ps)[0], cpu_rss(adb_proc)[0], cpu_rss(me)[0]

        client = AdbClient(server.client().address, start_server=False)
        ours_t, ours_b = inventory(
            lambda a: client.link(a[0]).shell(a[1:], timeout=60).raw_stdout, serials, args.workers
        )
        sim_mid, adb_mid, me_mid = cpu_rss(sim_ps)[0], cpu_rss(adb_proc)[0], cpu_rss(me)[0]
        stock = adbutils.AdbClient(host="127.0.0.1", port=server.port)
        peer_t, peer_b = inventory(
            lambda a: stock.device(a[0]).shell(a[1:], encoding=None), serials, args.workers
        )
        sim_cpu, sim_rss = cpu_rss(sim_ps)
        adb_cpu, adb_rss = cpu_rss(adb_proc)
        me_cpu, me_rss = cpu_rss(me)
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=60)

    n = args.devices
    print(f"sim_fleet: {n} simulated phones (mixed Android 9-15), {args.workers} workers")
    print(f"  online after start + adb connect: {online:.2f} s")
    print(
        f"  inventory = {len(INVENTORY)} commands per phone ({' | '.join(' '.join(c) for c in INVENTORY)})"
    )
    print(f"{'client':24} {'wall s':>8} {'MB':>8} {'ms/phone':>9} {'client CPU s':>13}")
    print(
        f"{'tetherguard adb link':24} {ours_t:8.2f} {ours_b / 1e6:8.1f} {ours_t / n * 1000:9.1f} {me_mid - me_before:13.2f}"
    )
    print(
        f"{'adbutils (peer)':24} {peer_t:8.2f} {peer_b / 1e6:8.1f} {peer_t / n * 1000:9.1f} {me_cpu - me_mid:13.2f}"
    )
    print(
        f"  ratio: tetherguard is {peer_t / ours_t:.1f}x faster for the same bytes ({ours_b == peer_b})"
    )
    print(f"{'process':24} {'CPU s (ours / peer pass)':>26} {'RSS MiB':>9}")
    print(
        f"{'simulated phones':24} {sim_mid - sim_before:12.2f} / {sim_cpu - sim_mid:<11.2f} {sim_rss:9.1f}"
    )
    print(
        f"{'adb server':24} {adb_mid - adb_before:12.2f} / {adb_cpu - adb_mid:<11.2f} {adb_rss:9.1f}"
    )
    print(
        f"{'this process':24} {me_mid - me_before:12.2f} / {me_cpu - me_mid:<11.2f} {me_rss:9.1f}"
    )


if __name__ == "__main__":
    main()
