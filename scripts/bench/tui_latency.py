"""TUI responsiveness: how long a keystroke takes to be handled while 50 simulated phones stream
events into the app.

The TUI runs headless (Textual's pilot) over an in-process engine (as ``tetherguard tui`` runs
it) watching 50 simulated phones behind a private adb server, live watchers on; the phones live
in a child process (as real phones are not in the TUI's process), with scenarios playing on
random phones all the time. A keystroke opens the alerts inbox and another closes it; the latency is from the key
reaching the app (as the terminal driver delivers it) to the new screen mounted with its table
filled. The peer, measured in the same run: the same
keystrokes on the same app with the fleet idle (no events streaming). Target: p95 <= 100 ms.

Usage: python scripts/bench/tui_latency.py [--devices 50] [--presses 60]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual import events

from agent.adb.server import PrivateAdbServer
from agent.engine import Engine
from agent.sim.scenario import load_scenario, run_scenario
from agent.simfleet import SimFleet
from agent.store import Store
from tui.app import TetherguardApp
from tui.screens import AlertsScreen, FleetScreen
from tui.source import EngineSource

TARGET_P95_S = 0.1
STORY = ("background-mic", "grant-without-consent", "associated-start", "camera-use")


def quantile(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


async def _until(predicate: Callable[[], bool], step: float) -> None:
    while not predicate():  # noqa: ASYNC110 - the app's state, polled as a user would see it
        await asyncio.sleep(step)


async def _presses(app: TetherguardApp, n: int) -> list[float]:
    """Open and close the alerts inbox ``n`` times; seconds from the key reaching the app (as
    the terminal driver delivers it) to the new screen mounted and filled."""
    took = []
    async with app.run_test(size=(140, 40)) as pilot:
        await _until(lambda: isinstance(app.screen, FleetScreen) and app.screen.ready, 0.05)
        driver = app._driver  # the key goes where a real terminal's driver puts it
        assert driver is not None
        for _ in range(n):
            for key, char, screen in (("a", "a", AlertsScreen), ("escape", "\x1b", FleetScreen)):
                event = events.Key(key, char)
                event.set_sender(app)
                started = time.perf_counter()
                driver.send_message(event)
                await _until(lambda s=screen: isinstance(app.screen, s) and app.screen.ready, 0.001)
                took.append(time.perf_counter() - started)
                await pilot.pause()  # let it paint before the next key
            await asyncio.sleep(0.05)
    return took


def _full_passes(pauses: list[float]) -> Callable[[str, dict[str, int]], None]:
    """A gc callback recording how long each full collection stopped the process."""
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started[0])

    return callback


def child(devices: int, port: int) -> int:
    """The simulated fleet, in its own process (as real phones are not in the TUI's process):
    prints ``ready``, starts the story on ``go`` from stdin, stops at end of input."""
    from agent.adb import AdbClient, ServerAddress

    client = AdbClient(ServerAddress("127.0.0.1", port), start_server=False)
    with SimFleet(client) as fleet:
        fleet.start(devices, android="mixed")
        fleet.connect()
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return 0
        stop = threading.Event()
        threading.Thread(target=_story, args=(fleet, stop), daemon=True).start()
        sys.stdin.readline()  # until the parent closes our input
        stop.set()
    return 0


def _story(fleet: SimFleet, stop: threading.Event) -> None:
    rng = random.Random(5)
    scenarios = [load_scenario(name) for name in STORY]
    while not stop.wait(0.05):
        fleet.host.submit(run_scenario(rng.choice(fleet.devices), rng.choice(scenarios), speed=4))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--presses", type=int, default=60)
    ap.add_argument("--child", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        return child(args.devices, args.child)
    with (
        tempfile.TemporaryDirectory() as home,
        PrivateAdbServer() as server,
        Store.open(Path(home) / "bench.db") as store,
    ):
        fleet = subprocess.Popen(
            [sys.executable, __file__, "--devices", str(args.devices), "--child", str(server.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert fleet.stdin is not None
        assert fleet.stdout is not None
        if fleet.stdout.readline().strip() != "ready":
            print("the simulated fleet did not start")
            return 1
        engine = Engine(server.client(), store, interval=2.0)
        engine.start()
        deadline = time.monotonic() + 180
        serials = [i.serial for i in server.client().devices() if i.online]
        while not all(engine.live_ready(s) for s in serials):
            if time.monotonic() > deadline:
                print("not every phone was watched live within 180 s")
                return 1
            time.sleep(0.2)
        events = [0]
        engine.subscribe(lambda _event: events.__setitem__(0, events[0] + 1))

        idle = asyncio.run(_presses(TetherguardApp(EngineSource(engine)), args.presses))

        fleet.stdin.write("go\n")
        fleet.stdin.flush()
        e0, t0 = events[0], time.monotonic()
        pauses: list[float] = []
        gc.callbacks.append(_full_passes(pauses))
        busy = asyncio.run(_presses(TetherguardApp(EngineSource(engine)), args.presses))
        gc.callbacks.clear()
        rate = (events[0] - e0) / (time.monotonic() - t0)
        engine.stop()
        fleet.stdin.close()
        fleet.wait(timeout=60)

    print(
        f"tui_latency: {len(serials)} simulated phones (in a child process), engine in the TUI's "
        f"process with the live watch on; {len(busy)} key presses (open/close the alerts inbox) "
        f"while scenarios played ({rate:.0f} events/s into the app)"
    )
    print(f"  target: p95 key -> screen ready <= {TARGET_P95_S * 1000:.0f} ms")
    for name, values in (("streaming", busy), ("idle (peer)", idle)):
        print(
            f"  {name:<12}: p50 {quantile(values, 50) * 1000:6.1f} ms  "
            f"p95 {quantile(values, 95) * 1000:6.1f} ms  max {max(values) * 1000:6.1f} ms"
        )
    longest = f", the longest {max(pauses) * 1000:.0f} ms" if pauses else ""
    print(f"  full garbage-collector passes while streaming: {len(pauses)}{longest}")
    ratio = quantile(busy, 95) / quantile(idle, 95)
    print(f"ratio (p95 streaming / idle): {ratio:.2f}x")
    ok = quantile(busy, 95) <= TARGET_P95_S
    print("OK" if ok else "ABOVE TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
