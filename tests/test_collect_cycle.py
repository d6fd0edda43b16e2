"""The steady-state cycle: cheap when nothing happens, and nothing missed when something does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from agent.adb import AdbClient, ServerAddress, ShellResult
from agent.collect import Collector, _split_marked
from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.sim.scenario import apply_step, load_scenario
from agent.snapshot import Snapshot
from tests.adbserver import AdbServer
from tests.support import Plug


@pytest.fixture
def phone(plug: Plug, request: Any) -> SimDevice:
    return plug(getattr(request, "param", "pixel8-a15"), work_profile=True)


@pytest.fixture
def collector(phone: SimDevice, adb_server: AdbServer) -> Collector:
    client = AdbClient(ServerAddress("127.0.0.1", adb_server.port), start_server=False)
    return Collector(client.link(phone.serial))


def _grant(snap: Snapshot, package: str, perm: str, user: int = 0) -> bool:
    pkg = snap.package(package)
    assert pkg is not None
    state = pkg.user(user)
    assert state is not None
    grant = state.permission(perm)
    return grant is not None and grant.granted


@pytest.mark.parametrize("phone", ["fire-hd10-a9", "galaxy-a40-a10", "pixel8-a15"], indirect=True)
def test_quiet_cycle_is_one_small_round_trip(collector: Collector, phone: SimDevice) -> None:
    first = collector.full()
    assert first.boot_id and first.ops_digest
    quiet = collector.cycle(first)
    assert quiet.cost.round_trips == 1
    assert quiet.cost.bytes_in <= 8 * 1024
    assert quiet.packages.packages == first.packages.packages
    assert quiet.warnings == ()


def test_install_update_and_removal_are_picked_up(
    collector: Collector, phone: SimDevice, host: SimHost
) -> None:
    snap = collector.full()
    for step in load_scenario("silent-install").steps:
        host.call(lambda s=step: apply_step(phone.state, s))
    snap = collector.cycle(snap)
    new = snap.package("com.sim.luckygame")
    assert new is not None
    assert new.installer == "com.sim.phonecleaner"
    assert snap.power.screen_on is False
    assert snap.cost.round_trips <= 6
    host.call(lambda: phone.state.uninstall("com.sim.luckygame", None))
    snap = collector.cycle(snap)
    assert snap.package("com.sim.luckygame") is None


def test_a_grant_made_behind_the_owners_back_shows_in_the_next_cycle(
    collector: Collector, phone: SimDevice, host: SimHost
) -> None:
    perm = "android.permission.READ_CONTACTS"
    snap = collector.full()
    assert not _grant(snap, "com.sina.weibo", perm)
    collector.link.shell(["pm", "grant", "--user", "0", "com.sina.weibo", perm]).check()
    snap = collector.cycle(snap)
    assert _grant(snap, "com.sina.weibo", perm)
    assert snap.cost.bytes_in < 512 * 1024


def test_a_grant_made_while_the_full_read_runs_shows_in_the_next_cycle(
    collector: Collector, phone: SimDevice, host: SimHost
) -> None:
    """Whichever of the full read's commands it falls before, a grant missed by that read must
    move the next cycle's probe and be read then (a reconnect's first look is a full read)."""
    perm, package = "android.permission.READ_CONTACTS", "com.sina.weibo"
    commands = _full_read_with(collector, at=-1, act=lambda: None)[1]
    assert commands >= 6

    def grant() -> None:
        host.call(lambda: phone.state.grant(package, 0, perm))

    for before in range(commands):
        host.call(lambda: phone.state.revoke(package, 0, perm))
        snap, _ = _full_read_with(collector, at=before, act=grant)
        assert _grant(collector.cycle(snap), package, perm), (
            f"granted just before command {before + 1} of {commands} of the full read: missed"
        )


def _full_read_with(
    collector: Collector, at: int, act: Callable[[], object]
) -> tuple[Snapshot, int]:
    """A full read with ``act`` done just before its command number ``at`` (from 0); the
    snapshot and the number of commands it ran."""
    plain = collector.run
    count = 0

    def run(argv: Sequence[str | int], timeout: float | None = None) -> ShellResult:
        nonlocal count
        if count == at:
            act()
        count += 1
        return plain(argv, timeout)

    collector.run = run  # type: ignore[method-assign]
    try:
        return collector.full(), count
    finally:
        collector.run = plain  # type: ignore[method-assign]


@pytest.mark.parametrize("phone", ["fire-hd10-a9"], indirect=True)
def test_android_9_catches_grants_with_the_periodic_sweep(
    collector: Collector, phone: SimDevice
) -> None:
    perm = "android.permission.READ_CONTACTS"
    snap = collector.full()
    collector.link.shell(["pm", "grant", "--user", "0", "com.sina.weibo", perm]).check()
    quiet = collector.cycle(snap)  # Android 9 mirrors no grants into app ops
    assert not _grant(quiet, "com.sina.weibo", perm)
    swept = collector.cycle(replace(quiet, sweeps_due=1))
    assert _grant(swept, "com.sina.weibo", perm)


def test_reboot_means_a_full_read(
    collector: Collector, phone: SimDevice, host: SimHost, adb_server: AdbServer
) -> None:
    snap = collector.full()
    host.run(phone.reboot(downtime=0.1))
    adb_server.run("connect", phone.serial)
    adb_server.wait_state(phone.serial, "device", timeout=30)
    after = collector.cycle(snap)
    assert after.boot_id != snap.boot_id
    assert after.cost.round_trips > 3  # a full read, not a probe


def test_markers_cannot_be_forged_by_device_text() -> None:
    text = "@@tg-abc:changes\nversionName=1\n@@tg-fake:ops\nx\n@@tg-abc:ops\nd41d8  -\n"
    parts = _split_marked(text, "abc")
    assert parts["changes"] == "versionName=1\n@@tg-fake:ops\nx"
    assert parts["ops"].startswith("d41d8")
