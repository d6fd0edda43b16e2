"""The phone's clock jumps (the owner sets it, the network corrects it, a time zone is mistaken
for a clock): what the phone logs after the jump is still read, once, whether the jump came
while tetherguard was streaming the log or while the phone was away; sensitive use noted after a
jump is still news. End to end through the real adb server."""

from __future__ import annotations

from pathlib import Path

from agent.adb import AdbClient
from agent.engine import Engine
from agent.events import Event
from agent.sim.android import activity
from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.sim.scenario import load_scenario, run_scenario
from agent.store import Store
from tests.adbserver import AdbServer
from tests.support import Plug, wait_for

HOUR_MS = 3_600_000
TAOBAO, WOKEN = "com.taobao.taobao", "com.eg.android.AlipayGphone"


def chain_start(host: SimHost, device: SimDevice) -> None:
    """One app wakes another's service (an associated start); the two apps that ran before are
    stopped first, so the same start happens again."""

    def stop_both() -> None:
        for pid, proc in list(device.state.processes.items()):
            if proc.package in (TAOBAO, WOKEN):
                device.state.kill(pid, "test")

    host.call(stop_both)
    state = device.state
    host.call(lambda: activity.start_activity(state, TAOBAO, 0, from_launcher=True))
    host.call(
        lambda: state.start_process(
            WOKEN, 0, reason="service", component=f"{WOKEN}/.PushService", caller=TAOBAO, state="bg"
        )
    )


def jump(host: SimHost, device: SimDevice, ms: int) -> None:
    def move() -> None:
        device.state.clock_offset_ms += ms

    host.call(move)


def test_log_written_after_a_clock_jump_is_read_once(
    host: SimHost, adb_server: AdbServer, client: AdbClient, plug: Plug, tmp_path: Path
) -> None:
    device = plug("pixel6a-a14")
    with Store.open(tmp_path / "tg.db") as store:
        engine = Engine(client, store, interval=0.2, serials=[device.serial])
        events, _ = engine.events_queue()
        engine.start()

        def woken() -> list[Event]:
            return [
                e for e in list(events.queue) if e.kind == "associated_start" and e.package == WOKEN
            ]

        try:
            wait_for(lambda: engine.live_ready(device.serial))
            chain_start(host, device)
            wait_for(lambda: len(woken()) == 1)

            # Back an hour while the log is streamed.
            jump(host, device, -HOUR_MS)
            chain_start(host, device)
            wait_for(lambda: len(woken()) == 2, message="lost after a jump back while streaming")
            # App ops time their accesses with the same clock: a use after the jump is news.
            host.submit(run_scenario(device, load_scenario("camera-use"), speed=2.0)).result(60)
            wait_for(
                lambda: any(
                    e.kind == "sensitive_use_started" and e.detail.get("op") == "CAMERA"
                    for e in list(events.queue)
                ),
                message="camera use missed after a jump back",
            )

            # Back another hour while the phone is away, then it returns.
            adb_server.disconnect(device.serial)
            wait_for(lambda: not engine.live_ready(device.serial))
            jump(host, device, -HOUR_MS)
            chain_start(host, device)
            adb_server.connect(device.serial)
            wait_for(lambda: len(woken()) == 3, message="lost after a jump back while away")

            # Forward three hours, streaming again.
            wait_for(lambda: engine.live_ready(device.serial))
            jump(host, device, 3 * HOUR_MS)
            chain_start(host, device)
            wait_for(lambda: len(woken()) == 4, message="lost after a jump forward")

            # The stream dropped and resumed once more: nothing is read twice.
            adb_server.disconnect(device.serial)
            wait_for(lambda: not engine.live_ready(device.serial))
            adb_server.connect(device.serial)
            wait_for(lambda: engine.live_ready(device.serial))
            chain_start(host, device)
            wait_for(lambda: len(woken()) == 5)
        finally:
            engine.stop()
        stored = [e for e in store.events(kind="associated_start") if e.package == WOKEN]
    assert len(stored) == 5, [e.detail.get("time_ms") for e in stored]
    assert len({e.detail["time_ms"] for e in woken()}) == 5
