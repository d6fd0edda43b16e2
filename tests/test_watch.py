"""The engine and ``tetherguard watch`` end to end: scenarios on simulated phones through the
real adb server, each reporting exactly its expected events; restart safety; the CLI."""

from __future__ import annotations

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
from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import Scenario, apply_step, list_scenarios, load_scenario, run_scenario
from agent.store import Store
from tests.adbserver import AdbServer
from tests.test_detect_scenarios import LIVE_KINDS, _findings, _matches, _show

RELEASES = sorted(PROFILES, key=lambda p: PROFILES[p].build.sdk)
CASES = [(s, release) for s in list_scenarios() for release in RELEASES]


def _wait(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _check(scenario: Scenario, events: list[Event]) -> None:
    # Connectivity changes (offline/online around a reboot) are real events too, but no
    # scenario lists them; the reboot itself is expected as device_state "rebooted".
    unexplained = [
        e for e in events if not (e.kind == "device_state" and e.detail.get("state") != "rebooted")
    ]
    for exp in scenario.expect:
        if exp.event in LIVE_KINDS:
            continue
        hits = [e for e in unexplained if _matches(e, exp)]
        assert len(hits) == 1, f"{exp.event} {dict(exp.fields)}: {[_show(e) for e in events]}"
        unexplained.remove(hits[0])
        for finding in _findings(exp):
            extra = [e for e in unexplained if e.kind == finding and e.package == hits[0].package]
            assert extra, f"missing finding {finding}: {[_show(e) for e in events]}"
            for e in extra:
                unexplained.remove(e)
    assert not unexplained, f"unexpected: {[_show(e) for e in unexplained]}"


@pytest.mark.parametrize(("scenario", "profile"), CASES, ids=[f"{s.name}-{p}" for s, p in CASES])
def test_watch_reports_each_scenario_exactly(
    scenario: Scenario,
    profile: str,
    host: SimHost,
    adb_server: AdbServer,
    client: AdbClient,
    tmp_path: Path,
) -> None:
    device = host.plug(
        SimDevice(build_state(PROFILES[profile], work_profile=scenario.needs_work_profile))
    )
    for step in scenario.setup:
        host.call(lambda s=step: apply_step(device.state, s))
    adb_server.connect(device.serial)
    try:
        with Store.open(tmp_path / "tg.db") as store:
            # Android 9 mirrors no grants into app ops: its full read runs every few cycles here.
            engine = Engine(client, store, interval=0.1, serials=[device.serial], sweep_every=3)
            events, unsubscribe = engine.events_queue()
            engine.start()
            _wait(lambda: store.load_snapshot(device.serial) is not None)
            played = host.submit(run_scenario(device, scenario, speed=20.0))
            played.result(timeout=60)
            if any(s.action == "reboot" for s in scenario.steps):
                adb_server.run("connect", device.serial)
                adb_server.wait_state(device.serial, "device", timeout=30)
                _wait(lambda: any(e.detail.get("state") == "rebooted" for e in events.queue))
            time.sleep(0.5)  # a few more cycles: late or duplicate events would show now
            engine.stop()
            unsubscribe()
            seen = list(events.queue)
            stored = list(store.events(serial=device.serial))
        assert sorted(e.id for e in stored) == sorted(e.id for e in seen)
        _check(scenario, seen)
    finally:
        adb_server.disconnect(device.serial)
        if device.server is not None:
            host.stop(device.server)


def test_changes_made_while_the_engine_was_down_are_reported_on_restart(
    host: SimHost, adb_server: AdbServer, client: AdbClient, tmp_path: Path
) -> None:
    device = host.plug(SimDevice(build_state(PROFILES["pixel6a-a14"])))
    adb_server.connect(device.serial)
    try:
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
    finally:
        adb_server.disconnect(device.serial)
        if device.server is not None:
            host.stop(device.server)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_watch_once_jsonl_events_and_baseline_cli(
    host: SimHost, adb_server: AdbServer, tmp_path: Path
) -> None:
    device = host.plug(SimDevice(build_state(PROFILES["redmi-note11-a13"])))
    adb_server.connect(device.serial)
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    try:
        assert _cli("watch", "--once", "--jsonl", env=env).returncode == 0
        for name in ("silent-install", "grant-without-consent"):
            for step in load_scenario(name).steps:
                host.call(lambda s=step: apply_step(device.state, s))
        done = _cli("watch", "--once", "--jsonl", env=env)
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
        listed = _cli("events", "--json", "--kind", "permission_granted", env=env)
        (grant,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert grant["package"] == "com.sina.weibo"
        assert _cli("baseline", "accept", "--event", grant["id"], env=env).returncode == 0
        shown = _cli("baseline", "show", env=env).stdout
        assert "com.sina.weibo" in shown and "READ_CONTACTS" in shown
        # Revoked and granted again the same way: the owner accepted that state.
        host.call(
            lambda: device.state.revoke("com.sina.weibo", 0, "android.permission.READ_CONTACTS")
        )
        _cli("watch", "--once", "--jsonl", env=env)
        host.call(
            lambda: device.state.grant("com.sina.weibo", 0, "android.permission.READ_CONTACTS")
        )
        again = _cli("watch", "--once", "--jsonl", env=env)
        regrant = [json.loads(line) for line in again.stdout.splitlines()]
        assert [(e["kind"], e["consent"]) for e in regrant] == [("permission_granted", "baseline")]
        assert again.returncode == 0
    finally:
        adb_server.disconnect(device.serial)
        if device.server is not None:
            host.stop(device.server)


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4])
def test_kill_9_mid_change_loses_nothing_and_duplicates_nothing(
    host: SimHost, adb_server: AdbServer, tmp_path: Path, delay: float
) -> None:
    import os
    import signal

    device = host.plug(SimDevice(build_state(PROFILES["pixel8-a15"])))
    adb_server.connect(device.serial)
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
        _wait(lambda: db.exists())
        with Store.open(db) as store:
            _wait(lambda: store.load_snapshot(device.serial) is not None)
        host.call(lambda: device.state.grant("com.sina.weibo", 0, contacts))
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert (line["kind"], line["detail"]["permission"]) == ("permission_granted", contacts)
        host.call(lambda: device.state.grant("com.sina.weibo", 0, sms))
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        again = _cli("watch", "--once", "--jsonl", "--serial", device.serial, env=env)
        assert again.returncode in (0, 1), again.stderr
        with Store.open(db) as store:
            grants = [e.detail["permission"] for e in store.events(kind="permission_granted")]
            assert store.integrity_check() == ["ok"]
        assert sorted(grants) == sorted([contacts, sms]), grants
    finally:
        if proc.poll() is None:
            proc.kill()
        adb_server.disconnect(device.serial)
        if device.server is not None:
            host.stop(device.server)


def test_a_new_app_with_a_blank_name_is_flagged(
    host: SimHost, adb_server: AdbServer, client: AdbClient, tmp_path: Path
) -> None:
    from agent.labels import LabelCache

    device = host.plug(SimDevice(build_state(PROFILES["oppo-a77-a12"])))
    adb_server.connect(device.serial)
    try:
        with Store.open(tmp_path / "tg.db") as store:
            engine = Engine(
                client,
                store,
                interval=0.2,
                serials=[device.serial],
                labels=LabelCache(tmp_path / "labels"),
            )
            events, _ = engine.events_queue()
            engine.start()
            _wait(lambda: store.load_snapshot(device.serial) is not None)
            for step in load_scenario("hidden-icon").steps:
                host.call(lambda s=step: apply_step(device.state, s))
            _wait(lambda: any(e.kind == "hidden_app" for e in events.queue))
            engine.stop()
        hidden = next(e for e in events.queue if e.kind == "hidden_app")
        assert hidden.package == "com.sim.svchost"
        assert set(hidden.detail["reasons"]) == {"no launcher icon", "blank name"}
    finally:
        adb_server.disconnect(device.serial)
        if device.server is not None:
            host.stop(device.server)


def test_device_states_are_reported_as_they_come_and_go(
    host: SimHost, adb_server: AdbServer, client: AdbClient, tmp_path: Path
) -> None:
    from agent.sim.transport import AuthMode

    device = host.plug(SimDevice(build_state(PROFILES["moto-g30-a11"]), auth=AuthMode.PROMPT))
    try:
        with Store.open(tmp_path / "tg.db") as store:
            engine = Engine(client, store, interval=0.2, serials=[device.serial])
            events, _ = engine.events_queue()
            engine.start()

            def states() -> list[str]:
                return [
                    str(e.detail.get("state"))
                    for e in list(events.queue)
                    if e.kind == "device_state"
                ]

            adb_server.run("connect", device.serial)
            _wait(lambda: "unauthorized" in states())
            assert store.load_snapshot(device.serial) is None  # nothing can be read yet
            assert device.server is not None
            host.call(device.server.accept_auth)
            _wait(lambda: "connected" in states())
            _wait(lambda: store.load_snapshot(device.serial) is not None)  # read at once
            adb_server.disconnect(device.serial)
            _wait(lambda: "gone" in states())
            engine.stop()
        seen = states()  # the server may show "offline" while the key exchange runs
        order = [seen.index(s) for s in ("unauthorized", "connected", "gone")]
        assert order == sorted(order), seen
    finally:
        adb_server.disconnect(device.serial)
        if device.server is not None:
            host.stop(device.server)


def test_baseline_accept_package_and_all(
    host: SimHost, adb_server: AdbServer, tmp_path: Path
) -> None:
    device = host.plug(SimDevice(build_state(PROFILES["pixel8-a15"])))
    adb_server.connect(device.serial)
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    try:
        assert _cli("watch", "--once", env=env).returncode == 0
        done = _cli("baseline", "accept", "--package", "com.tencent.mm", env=env)
        assert done.returncode == 0, done.stderr
        assert "accepted" in done.stdout
        shown = _cli("baseline", "show", env=env).stdout.splitlines()
        assert shown
        assert all("com.tencent.mm" in line for line in shown)
        assert any("android.permission.CAMERA = true" in line for line in shown)
        everything = _cli("baseline", "accept", "--all", env=env)
        assert everything.returncode == 0
        assert len(_cli("baseline", "show", env=env).stdout.splitlines()) > len(shown)
        missing = _cli("baseline", "accept", "--package", "com.not.there", env=env)
        assert missing.returncode == 4
        assert "no stored snapshot shows" in missing.stderr
    finally:
        adb_server.disconnect(device.serial)
        if device.server is not None:
            host.stop(device.server)
