"""The engine's live watch through the real adb server: app starts and sensitive use reported
as they happen, across restarts of tetherguard, without our own doings."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

import pytest

from agent import engine as engine_module
from agent.adb import AdbClient, DeviceOffline
from agent.collect import Collector
from agent.engine import Engine
from agent.events import Event
from agent.sim.android import activity
from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.store import Store
from tests.support import Plug, wait_for

TAOBAO, ALIPAY, WEIBO = "com.taobao.taobao", "com.eg.android.AlipayGphone", "com.sina.weibo"


@pytest.fixture
def phone(plug: Plug) -> SimDevice:
    return plug("pixel6a-a14")


class Running:
    """An engine watching one phone live, and what it published."""

    def __init__(self, client: AdbClient, store: Store, serial: str) -> None:
        self.engine = Engine(client, store, interval=0.1, serials=[serial], use_period=0.1)
        self.serial = serial
        self.events: queue.Queue[Event]
        self.events, self._unsubscribe = self.engine.events_queue()
        self.engine.start()
        wait_for(lambda: self.engine.live_ready(serial))

    def seen(self, kind: str | None = None) -> list[Event]:
        return [e for e in list(self.events.queue) if kind is None or e.kind == kind]

    def stop(self) -> None:
        self.engine.stop()
        self._unsubscribe()


def _service_start(device: SimDevice, host: SimHost, callee: str, caller: str) -> None:
    state = device.state

    def start() -> None:
        state.start_process(
            callee,
            0,
            reason="service",
            component=f"{callee}/.PushService",
            caller=caller,
            state="bg",
        )

    host.call(start)


def _broadcast_start(device: SimDevice, host: SimHost, package: str) -> None:
    """The app's broadcast receiver starts it: nobody on screen asked."""
    state = device.state
    host.call(
        lambda: state.start_process(
            package, 0, reason="broadcast", component=f"{package}/.PushReceiver"
        )
    )


def test_starts_made_while_tetherguard_was_down_are_reported_once_at_restart(
    phone: SimDevice, host: SimHost, client: AdbClient, tmp_path: Path
) -> None:
    state = phone.state
    with Store.open(tmp_path / "tg.db") as store:
        first = Running(client, store, phone.serial)
        host.call(lambda: activity.start_activity(state, TAOBAO, 0, from_launcher=True))
        _service_start(phone, host, ALIPAY, TAOBAO)
        wait_for(lambda: first.seen("associated_start"))
        time.sleep(0.3)  # a cycle or two: the log position is saved
        first.stop()
        # While nobody watches: WeChat's broadcast receiver starts it.
        _broadcast_start(phone, host, "com.tencent.mm")
        second = Running(client, store, phone.serial)
        wait_for(lambda: second.seen("autostart"))
        time.sleep(0.5)  # late or repeated events would show now
        second.stop()
        stored = list(store.events(serial=phone.serial))
    (chain,) = first.seen("associated_start")
    assert (chain.package, chain.detail["caller"]) == (ALIPAY, TAOBAO)
    assert [(e.kind, e.package) for e in second.seen()] == [("autostart", "com.tencent.mm")]
    assert [(e.kind, e.package) for e in stored] == [
        ("associated_start", ALIPAY),
        ("autostart", "com.tencent.mm"),
    ]


def test_our_own_starts_are_not_counted_and_counts_and_graph_are_kept(
    phone: SimDevice, host: SimHost, client: AdbClient, tmp_path: Path
) -> None:
    state = phone.state
    with Store.open(tmp_path / "tg.db") as store:
        run = Running(client, store, phone.serial)
        try:
            # An action of ours is about to wake Weibo: not the app's doing.
            run.engine.note_own_action(phone.serial, WEIBO)
            _broadcast_start(phone, host, WEIBO)
            host.call(lambda: activity.start_activity(state, TAOBAO, 0, from_launcher=True))
            _service_start(phone, host, ALIPAY, TAOBAO)
            wait_for(lambda: run.seen("associated_start"))
            wait_for(lambda: WEIBO in run.engine.start_counts(phone.serial))
            time.sleep(0.3)
            counts = run.engine.start_counts(phone.serial)
            graph = run.engine.start_graph(phone.serial)
        finally:
            run.stop()
    assert [e.kind for e in run.seen()] == ["associated_start"]
    assert counts[WEIBO] == {"tetherguard": 1}
    assert counts[TAOBAO] == {"user": 1}
    assert graph == [(TAOBAO, ALIPAY, 1)]


def test_a_watch_ended_by_an_error_while_the_phone_stays_online_starts_again(
    phone: SimDevice, host: SimHost, client: AdbClient, tmp_path: Path, monkeypatch: Any
) -> None:
    """A busy phone's late answer ends the watch of a phone that never left: the tracker
    has nothing new to say, so without a restart nothing would be watched until a replug."""
    plain = Collector.cycle
    busy = {"left": 3}  # three late answers in a row: tried again each time, said once

    def cycle(self: Collector, prev: Any) -> Any:
        if busy["left"] > 0:
            busy["left"] -= 1
            raise DeviceOffline(f"{phone.serial} did not answer in time (device busy)")
        return plain(self, prev)

    perm = "android.permission.READ_CONTACTS"
    with Store.open(tmp_path / "tg.db") as store:
        running = Running(client, store, phone.serial)
        try:
            monkeypatch.setattr(engine_module, "WORKER_AGAIN_S", (0.2, 60.0))
            monkeypatch.setattr(Collector, "cycle", cycle)
            wait_for(lambda: busy["left"] == 0, timeout=30)
            host.call(lambda: phone.state.grant(WEIBO, 0, perm))
            wait_for(
                lambda: [e for e in running.seen("permission_granted") if e.package == WEIBO],
                timeout=30,
                message=f"the grant was not reported; said: {running.engine.errors}",
            )
        finally:
            running.stop()
    said = [e for e in running.engine.errors if "did not answer in time" in e]
    assert len(said) == 1, running.engine.errors
