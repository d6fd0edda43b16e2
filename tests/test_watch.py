"""The engine and ``tetherguard watch`` end to end: scenarios on simulated phones through the
real adb server, each reporting exactly its expected events; restart safety; the CLI."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.adb import AdbClient
from agent.engine import Engine
from agent.events import Event
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES
from agent.sim.scenario import Scenario, apply_step, list_scenarios, load_scenario, run_scenario
from agent.store import Store
from tests.adbserver import AdbServer
from tests.expect import check
from tests.support import Plug, run_cli, wait_for

RELEASES = sorted(PROFILES, key=lambda p: PROFILES[p].build.sdk)
CASES = [(s, release) for s in list_scenarios() for release in RELEASES]


def _check(scenario: Scenario, events: list[Event]) -> None:
    # Connectivity changes (offline/online around a reboot) are real events too, but no
    # scenario lists them; the reboot itself is expected as device_state "rebooted".
    check(
        scenario,
        [e for e in events if e.kind != "device_state" or e.detail.get("state") == "rebooted"],
    )


@pytest.mark.parametrize(("scenario", "profile"), CASES, ids=[f"{s.name}-{p}" for s, p in CASES])
def test_watch_reports_each_scenario_exactly(
    scenario: Scenario,
    profile: str,
    host: SimHost,
    adb_server: AdbServer,
    client: AdbClient,
    plug: Plug,
    tmp_path: Path,
) -> None:
    device = plug(profile, connect=False, work_profile=scenario.needs_work_profile)
    for step in scenario.setup:
        host.call(lambda s=step: apply_step(device.state, s))
    adb_server.connect(device.serial)
    with Store.open(tmp_path / "tg.db") as store:
        # Android 9 mirrors no grants into app ops: its full read runs every few cycles here.
        engine = Engine(
            client,
            store,
            interval=0.1,
            serials=[device.serial],
            sweep_every=3,
            use_period=0.05,
        )
        events, unsubscribe = engine.events_queue()
        engine.start()
        wait_for(lambda: engine.live_ready(device.serial))
        # A use lasts a few seconds of the story: slowed down enough to be seen on a busy
        # machine (the latency itself is the benchmark's business). Two steps are at least
        # 0.5 s (five looks) apart: an uninstall and a reinstall within one look are one
        # update on a real phone too, and the test would be about luck.
        times = sorted({s.at for s in scenario.steps})
        gap = min((b - a for a, b in itertools.pairwise(times)), default=10.0)
        speed = 5.0 if any(s.action == "use" for s in scenario.steps) else min(20.0, gap / 0.5)
        played = host.submit(run_scenario(device, scenario, speed=speed))
        played.result(timeout=60)
        if any(s.action == "reboot" for s in scenario.steps):
            adb_server.run("connect", device.serial)
            adb_server.wait_state(device.serial, "device", timeout=30)
            wait_for(lambda: any(e.detail.get("state") == "rebooted" for e in events.queue))
        time.sleep(0.5)  # a few more cycles: late or duplicate events would show now
        engine.stop()
        unsubscribe()
        seen = list(events.queue)
        stored = list(store.events(serial=device.serial))
    assert sorted(e.id for e in stored) == sorted(e.id for e in seen)
    _check(scenario, seen)


def test_changes_made_while_the_engine_was_down_are_reported_on_restart(
    host: SimHost, client: AdbClient, plug: Plug, tmp_path: Path
) -> None:
    device = plug("pixel6a-a14")
    with Store.open(tmp_path / "tg.db") as store:
        first = Engine(client, store, serials=[device.serial]).once()
        assert first == []  # the first look is the baseline, not news
    for step in load_scenario("grant-without-consent").steps:
        host.call(lambda s=step: apply_step(device.state, s))
    with Store.open(tmp_path / "tg.db") as store:
        events = Engine(client, store, serials=[device.serial]).once()
        again = Engine(client, store, serials=[device.serial]).once()
    assert [(e.kind, e.package, e.consent.value) for e in events] == [
        ("permission_granted", "com.sina.weibo", "none")
    ]
    assert again == []  # reported once, not at every start


def test_watch_once_jsonl_events_and_baselinerun_cli(
    host: SimHost, adb_server: AdbServer, plug: Plug, tmp_path: Path
) -> None:
    device = plug("redmi-note11-a13")
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    assert run_cli("watch", "--once", "--jsonl", env=env).returncode == 0
    for name in ("silent-install", "grant-without-consent"):
        for step in load_scenario(name).steps:
            host.call(lambda s=step: apply_step(device.state, s))
    done = run_cli("watch", "--once", "--jsonl", env=env)
    assert done.returncode == 1, done.stderr  # findings without consent
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = {(e["kind"], e["package"]) for e in lines}
    assert ("silent_install", "com.sim.luckygame") in kinds
    assert ("permission_granted", "com.sina.weibo") in kinds
    assert all(
        set(e)
        >= {
            "ts",
            "serial",
            "user",
            "kind",
            "package",
            "consent",
            "severity",
            "clause",
            "detail",
        }
        for e in lines
    )
    listed = run_cli("events", "--json", "--kind", "permission_granted", env=env)
    (grant,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert grant["package"] == "com.sina.weibo"
    assert run_cli("baseline", "accept", "--event", grant["id"], env=env).returncode == 0
    shown = run_cli("baseline", "show", env=env).stdout
    assert "com.sina.weibo" in shown and "READ_CONTACTS" in shown
    # Revoked and granted again the same way: the owner accepted that state.
    host.call(lambda: device.state.revoke("com.sina.weibo", 0, "android.permission.READ_CONTACTS"))
    run_cli("watch", "--once", "--jsonl", env=env)
    host.call(lambda: device.state.grant("com.sina.weibo", 0, "android.permission.READ_CONTACTS"))
    again = run_cli("watch", "--once", "--jsonl", env=env)
    regrant = [json.loads(line) for line in again.stdout.splitlines()]
    assert [(e["kind"], e["consent"]) for e in regrant] == [("permission_granted", "baseline")]
    assert again.returncode == 0


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4])
def test_kill_9_mid_change_loses_nothing_and_duplicates_nothing(
    host: SimHost, adb_server: AdbServer, plug: Plug, tmp_path: Path, delay: float
) -> None:
    import os
    import signal

    device = plug("pixel8-a15")
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    db = tmp_path / "data" / "tetherguard.db"
    contacts, sms = "android.permission.READ_CONTACTS", "android.permission.READ_PHONE_STATE"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "watch",
            "--jsonl",
            "--interval",
            "0.2",
            "--serial",
            device.serial,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for(lambda: db.exists())
        with Store.open(db) as store:
            wait_for(lambda: store.load_snapshot(device.serial) is not None)
        host.call(lambda: device.state.grant("com.sina.weibo", 0, contacts))
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert (line["kind"], line["detail"]["permission"]) == ("permission_granted", contacts)
        host.call(lambda: device.state.grant("com.sina.weibo", 0, sms))
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        again = run_cli("watch", "--once", "--jsonl", "--serial", device.serial, env=env)
        assert again.returncode in (0, 1), again.stderr
        with Store.open(db) as store:
            grants = [e.detail["permission"] for e in store.events(kind="permission_granted")]
            assert store.integrity_check() == ["ok"]
        assert sorted(grants) == sorted([contacts, sms]), grants
    finally:
        if proc.poll() is None:
            proc.kill()


def test_watch_jsonl_streams_live_use_and_boot_autostart(
    host: SimHost, adb_server: AdbServer, plug: Plug, tmp_path: Path
) -> None:
    import signal

    device = plug("moto-g30-a11")
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    db = tmp_path / "data" / "tetherguard.db"
    argv = ["watch", "--jsonl", "--interval", "0.2", "--use-period", "0.1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", *argv, "--serial", device.serial],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[dict[str, Any]] = []

    def read_until(done: Any) -> None:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while not done():
            assert time.monotonic() < deadline, lines
            line = proc.stdout.readline()
            assert line, f"watch ended: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(json.loads(line))

    def seen(kind: str, package: str) -> bool:
        return any(e["kind"] == kind and e["package"] == package for e in lines)

    try:
        wait_for(lambda: db.exists())
        with Store.open(db) as store:
            wait_for(lambda: store.load_snapshot(device.serial) is not None)
        # A use long enough to be running whenever the live probe first looks.
        mic = load_scenario("background-mic")
        host.submit(run_scenario(device, mic, speed=0.5)).result(timeout=60)
        read_until(lambda: seen("sensitive_use_stopped", "com.tencent.mm"))
        boot = load_scenario("boot-autostart")
        host.submit(run_scenario(device, boot, speed=2.0)).result(timeout=60)
        adb_server.run("connect", device.serial)
        adb_server.wait_state(device.serial, "device", timeout=30)
        # The watch reconnects by itself and reads the log from the boot.
        read_until(lambda: seen("autostart", "com.sim.pushhelper"))
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, _ = proc.communicate(timeout=30)
        lines += [json.loads(line) for line in out.splitlines()]
        assert proc.returncode == 1  # findings without consent were reported
    finally:
        if proc.poll() is None:
            proc.kill()
    (start,) = [e for e in lines if e["kind"] == "sensitive_use_started"]
    assert start["package"] == "com.tencent.mm" and start["detail"]["op"] == "RECORD_AUDIO"
    assert start["detail"]["foreground"] is False and start["severity"] == "high"
    (stop,) = [e for e in lines if e["kind"] == "sensitive_use_stopped"]
    assert stop["detail"]["duration_s"] > 4
    (auto,) = [
        e for e in lines if e["kind"] == "autostart" and e["package"] == "com.sim.pushhelper"
    ]
    assert auto["detail"]["reason"] == "broadcast" and auto["detail"]["at_boot"] is True
    assert auto["consent"] == "none" and auto["clause"] == "MIIT I.6"
    with Store.open(db) as store:  # every line printed is on record
        stored = {e.id for e in store.events(serial=device.serial)}
    assert {e["id"] for e in lines} <= stored


def test_a_new_app_with_a_blank_name_is_flagged(
    host: SimHost, client: AdbClient, plug: Plug, tmp_path: Path
) -> None:
    from agent.labels import LabelCache

    device = plug("oppo-a77-a12")
    with Store.open(tmp_path / "tg.db") as store:
        labels = LabelCache(tmp_path / "labels")
        engine = Engine(client, store, interval=0.2, serials=[device.serial], labels=labels)
        events, _ = engine.events_queue()
        engine.start()
        wait_for(lambda: store.load_snapshot(device.serial) is not None)
        for step in load_scenario("hidden-icon").steps:
            host.call(lambda s=step: apply_step(device.state, s))
        wait_for(lambda: any(e.kind == "hidden_app" for e in events.queue))
        engine.stop()
    hidden = next(e for e in events.queue if e.kind == "hidden_app")
    assert hidden.package == "com.sim.svchost"
    assert set(hidden.detail["reasons"]) == {"no launcher icon", "blank name"}


def test_device_states_are_reported_as_they_come_and_go(
    host: SimHost, adb_server: AdbServer, client: AdbClient, plug: Plug, tmp_path: Path
) -> None:
    from agent.sim.transport import AuthMode

    device = plug("moto-g30-a11", connect=False, auth=AuthMode.PROMPT)
    with Store.open(tmp_path / "tg.db") as store:
        engine = Engine(client, store, interval=0.2, serials=[device.serial])
        events, _ = engine.events_queue()
        engine.start()

        def states() -> list[str]:
            return [
                str(e.detail.get("state")) for e in list(events.queue) if e.kind == "device_state"
            ]

        adb_server.run("connect", device.serial)
        wait_for(lambda: "unauthorized" in states())
        assert store.load_snapshot(device.serial) is None  # nothing can be read yet
        assert device.server is not None
        host.call(device.server.accept_auth)
        wait_for(lambda: "connected" in states())
        wait_for(lambda: store.load_snapshot(device.serial) is not None)  # read at once
        adb_server.disconnect(device.serial)
        wait_for(lambda: "gone" in states())
        engine.stop()
    seen = states()  # the server may show "offline" while the key exchange runs
    order = [seen.index(s) for s in ("unauthorized", "connected", "gone")]
    assert order == sorted(order), seen


def test_baseline_accept_package_and_all(adb_server: AdbServer, plug: Plug, tmp_path: Path) -> None:
    plug("pixel8-a15")
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    assert run_cli("watch", "--once", env=env).returncode == 0
    done = run_cli("baseline", "accept", "--package", "com.tencent.mm", env=env)
    assert done.returncode == 0, done.stderr
    assert "accepted" in done.stdout
    shown = run_cli("baseline", "show", env=env).stdout.splitlines()
    assert shown
    assert all("com.tencent.mm" in line for line in shown)
    assert any("android.permission.CAMERA = true" in line for line in shown)
    everything = run_cli("baseline", "accept", "--all", env=env)
    assert everything.returncode == 0
    assert len(run_cli("baseline", "show", env=env).stdout.splitlines()) > len(shown)
    missing = run_cli("baseline", "accept", "--package", "com.not.there", env=env)
    assert missing.returncode == 4
    assert "no stored snapshot shows" in missing.stderr


def _watch_in_background(env: dict[str, str], serial: str, db: Path) -> subprocess.Popen[bytes]:
    """``tetherguard watch --serial SERIAL`` running, once it has read the phone and stored it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "watch", "--serial", serial],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: db.exists())
        with Store.open(db) as store:
            wait_for(lambda: store.load_snapshot(serial) is not None)
    except BaseException:
        proc.kill()
        raise
    return proc


def test_a_second_tetherguard_on_the_same_store_is_refused_and_a_dead_one_leaves_no_lock(
    adb_server: AdbServer, plug: Plug, tmp_path: Path
) -> None:
    import os
    import signal

    device = plug("pixel8-a15")
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    db = tmp_path / "data" / "tetherguard.db"
    first = _watch_in_background(env, device.serial, db)
    try:
        # Two engines would both report every change: the second says who holds the store.
        for module, *argv in (("agent.cli", "watch", "--once"), ("tui.cli", "tui")):
            second = subprocess.run(
                [sys.executable, "-m", module, *argv, "--serial", device.serial],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert second.returncode == 4, second.stderr
            (line,) = second.stderr.strip().splitlines()
            assert f"pid {first.pid}" in line and "already watching" in line
            assert f"with the store at {db};" in line
            assert "Traceback" not in second.stderr
        lock = db.with_name(db.name + ".watch.lock")
        assert lock.stat().st_mode & 0o077 == 0
        os.kill(first.pid, signal.SIGKILL)  # no clean-up at all
        first.wait(timeout=10)
        assert run_cli("watch", "--once", env=env).returncode == 0
    finally:
        if first.poll() is None:
            first.kill()


def test_watch_opens_no_listening_socket(adb_server: AdbServer, plug: Plug, tmp_path: Path) -> None:
    """Nothing to attack from the network or from other local users: tetherguard only connects
    out (to the adb server, an alert target, the fleet database); the store and its files are
    its user's only (tests/test_store.py, tests/test_fleet_private.py)."""
    import psutil

    device = plug("pixel8-a15")
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    db = tmp_path / "data" / "tetherguard.db"
    proc = _watch_in_background(env, device.serial, db)
    try:
        time.sleep(1.0)  # the live watch is up too
        conns = psutil.Process(proc.pid).net_connections(kind="all")
        assert conns, "the watch should at least talk to the adb server"
        listening = [c for c in conns if c.status == psutil.CONN_LISTEN]
        unconnected = [c for c in conns if c.type == 2 and not c.raddr]  # bound UDP
        assert listening == [] and unconnected == [], (listening, unconnected)
        assert all(c.raddr for c in conns if c.family != 1), conns  # AF_UNIX aside
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_reboot_in_the_middle_of_a_full_read_loses_nothing(
    host: SimHost, adb_server: AdbServer, client: AdbClient, plug: Plug, tmp_path: Path
) -> None:
    device = plug("moto-g30-a11")
    contacts, location = (
        "android.permission.READ_CONTACTS",
        "android.permission.ACCESS_FINE_LOCATION",
    )
    with Store.open(tmp_path / "tg.db") as store:
        Engine(client, store, serials=[device.serial], live=False).once()  # the baseline
        host.call(lambda: device.state.grant("com.sina.weibo", 0, contacts))  # while down
        # The next full read stalls in the package dump, and the phone reboots under it.
        device.faults.hang = ["dumpsys -t * package"]
        engine = Engine(client, store, interval=0.2, serials=[device.serial])
        events, _ = engine.events_queue()
        engine.start()
        try:
            time.sleep(1.0)
            assert not any(e.kind == "permission_granted" for e in list(events.queue))
            host.run(device.reboot(downtime=0.2))
            device.faults.hang = []
            adb_server.connect(device.serial, timeout=30)

            def granted() -> list[str]:
                return [
                    str(e.detail["permission"])
                    for e in list(events.queue)
                    if e.kind == "permission_granted"
                ]

            wait_for(lambda: granted() == [contacts], timeout=60, message=str(engine.errors))
            wait_for(lambda: engine.live_ready(device.serial))
            host.call(lambda: device.state.grant("com.sina.weibo", 0, location))
            wait_for(lambda: sorted(granted()) == sorted([contacts, location]), timeout=60)
            time.sleep(1.0)  # a late duplicate would show now
        finally:
            engine.stop()
        assert sorted(granted()) == sorted([contacts, location])
        stored = [e.detail["permission"] for e in store.events(kind="permission_granted")]
        assert sorted(stored) == sorted([contacts, location])
        states = [e.detail.get("state") for e in store.events(kind="device_state")]
        assert "rebooted" in states
