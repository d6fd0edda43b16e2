"""A simulated fleet wired to a real adb server: what ``tetherguard sim`` and the demo run.

Builds phones from :mod:`agent.sim.profiles`, gives each a loopback port on a
:class:`~agent.sim.host.SimHost`, ``adb connect``s them through :mod:`agent.adb`, plays
scenarios on them, and disconnects them again on the way out, so no offline ghosts stay
behind in the adb server.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.adb import AdbClient, AdbError
from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES, build_state, profile_for_release
from agent.sim.scenario import Scenario, run_scenario
from agent.sim.transport import AuthMode

RELEASES = ("9", "10", "11", "12", "13", "14", "15")


def pick_profiles(count: int, android: str) -> list[str]:
    """Profile names for ``count`` phones: one release, or ``mixed`` round-robin 15 -> 9."""
    if android == "mixed":
        order = [profile_for_release(r).name for r in reversed(RELEASES)]
        return [order[i % len(order)] for i in range(count)]
    return [profile_for_release(android).name] * count


@dataclass
class SimFleet:
    """Simulated phones on one SimHost, optionally registered with an adb server."""

    client: AdbClient | None = None
    host: SimHost = field(default_factory=SimHost)
    devices: list[SimDevice] = field(default_factory=list)
    _connected: list[str] = field(default_factory=list)
    _scenario_tasks: list[concurrent.futures.Future[None]] = field(default_factory=list)

    def start(
        self,
        count: int,
        *,
        android: str = "mixed",
        seed: int = 0,
        work_profile: bool = False,
        unauthorized: int = 0,
    ) -> list[SimDevice]:
        """Start ``count`` phones; the first ``unauthorized`` of them wait for accept_auth()."""
        self.host.start()
        for i, name in enumerate(pick_profiles(count, android)):
            state = build_state(PROFILES[name], seed=seed + i, work_profile=work_profile)
            auth = AuthMode.PROMPT if i < unauthorized else AuthMode.ACCEPT_ANY
            device = SimDevice(state, auth=auth, name=name)
            self.host.plug(device)
            self.devices.append(device)
        return self.devices

    def connect(self, timeout: float = 30.0) -> None:
        """``adb connect`` every phone and wait until each is listed (in whatever state)."""
        if self.client is None:
            raise AdbError("no adb server to connect the simulated phones to")
        for device in self.devices:
            self.client.connect(device.serial)
            self._connected.append(device.serial)
        deadline = time.monotonic() + timeout
        want = {d.serial: d.auth is AuthMode.PROMPT for d in self.devices}
        while True:
            states = {i.serial: i.state for i in self.client.devices()}
            if all(
                states.get(s) == ("unauthorized" if locked else "device")
                for s, locked in want.items()
            ):
                return
            if time.monotonic() > deadline:
                online = sum(1 for s in want if states.get(s) == "device")
                raise AdbError(f"only {online} of {len(want)} simulated phones came online")
            time.sleep(0.05)

    def play(self, scenarios: Sequence[Scenario], *, speed: float = 1.0) -> None:
        """Start every scenario on every phone, in the background (returns at once)."""
        for device in self.devices:
            for scenario in scenarios:
                self._scenario_tasks.append(
                    self.host.submit(run_scenario(device, scenario, speed=speed))
                )

    def wait_scenarios(self, timeout: float | None = None) -> None:
        """Block until every scenario has played out (re-raising a scenario's error)."""
        for task in self._scenario_tasks:
            task.result(timeout)

    def close(self) -> None:
        """Disconnect from the adb server, then unplug everything."""
        for task in self._scenario_tasks:
            task.cancel()
        if self.client is not None:
            for serial in self._connected:
                # The server may be gone already; the phones go anyway.
                with contextlib.suppress(AdbError):
                    self.client.disconnect(serial)
        self._connected.clear()
        self.host.close()

    def __enter__(self) -> SimFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
