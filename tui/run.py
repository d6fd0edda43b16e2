"""Starting the TUI: on the phones attached (``tetherguard tui``), or on a simulated fleet that
lives through the scenarios (``tetherguard demo`` in a terminal)."""

from __future__ import annotations

import random
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from agent.adb import AdbClient
from agent.adb.server import PrivateAdbServer
from agent.engine import Engine
from agent.hostwatch import HostWatcher
from agent.labels import LabelCache
from agent.sim.scenario import load_scenario, run_scenario
from agent.simfleet import SimFleet
from agent.store import Store
from tui.app import TetherguardApp
from tui.source import EngineSource

DEMO_STORY = (
    "background-mic",
    "grant-without-consent",
    "silent-install",
    "associated-start",
    "camera-use",
    "clipboard-read",
    "appop-raised",
    "location-use",
)
"""What the demo's phones live through, one scenario at a time on a random phone."""


def run_tui(
    client: AdbClient,
    store: Store,
    *,
    interval: float = 2.0,
    serials: Sequence[str] | None = None,
    labels: LabelCache | None = None,
    fleet_url: str | None = None,
) -> None:
    """The TUI over the engine watching ``client``'s phones (all, or ``serials``) until the
    user quits; app labels come from ``labels`` (what ``scan --labels`` read)."""
    engine = Engine(
        client,
        store,
        interval=interval,
        serials=serials or None,
        labels=labels,
        host=HostWatcher(port=client.address.port),
    )
    app = TetherguardApp(EngineSource(engine), fleet_url=fleet_url)
    engine.start()
    try:
        app.run()
    finally:
        engine.stop()


def _story(
    fleet: SimFleet, stop: threading.Event, seed: int, every_s: float, names: Sequence[str]
) -> None:
    """Scenarios at random moments on random phones, until ``stop``."""
    rng = random.Random(seed)  # noqa: S311 - a demo's story, not security
    scenarios = [load_scenario(name) for name in names]
    while not stop.wait(rng.uniform(every_s / 2, every_s)):
        device = rng.choice(fleet.devices)
        scenario = rng.choice(scenarios)
        fleet.host.submit(run_scenario(device, scenario, speed=1.0))


def run_demo_tui(
    *,
    devices: int = 4,
    seed: int = 0,
    every_s: float = 8.0,
    story: Sequence[str] | None = None,
) -> None:
    """The TUI on simulated phones behind a private adb server, with a throwaway store."""
    with (
        tempfile.TemporaryDirectory(prefix="tetherguard-demo-") as home,
        PrivateAdbServer() as server,
        SimFleet(server.client()) as fleet,
        Store.open(Path(home) / "demo.db") as store,
    ):
        fleet.start(devices, android="mixed", seed=seed)
        fleet.connect()
        stop = threading.Event()
        threading.Thread(
            target=_story,
            args=(fleet, stop, seed, every_s, story or DEMO_STORY),
            name="demo-story",
            daemon=True,
        ).start()
        try:
            run_tui(server.client(), store, interval=1.0)
        finally:
            stop.set()
