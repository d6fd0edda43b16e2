"""``tetherguard scan`` against simulated phones of every Android version: field-by-field truth."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from typing import Any

import jsonschema
import pytest

from agent.adb import AdbClient
from agent.report import scan_document, static_findings
from agent.scan import scan_devices
from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import apply_step, load_scenario
from agent.sim.state import DeviceState
from agent.sim.transport import AuthMode
from tests.adbserver import AdbServer
from tests.support import Plug

SCHEMA = json.loads(
    resources.files("agent").joinpath("schemas/scan-1.schema.json").read_text(encoding="utf-8")
)


def _truth(state: DeviceState, entry: dict[str, Any]) -> None:
    """Compare one scan entry with what the simulated phone really holds."""
    pkg = state.packages[entry["name"]]
    pu = pkg.users[entry["user"]]
    where = f"{entry['name']}/user {entry['user']}"
    assert entry["uid"] == pkg.uid(entry["user"]), where
    assert entry["version_code"] == pkg.version_code, where
    assert entry["version_name"] == pkg.version_name, where
    assert entry["installer"] == pkg.installer, where
    if state.build.sdk >= 34:  # the package block carries the initiator from Android 14
        assert entry["initiator"] == pkg.initiating, where
    else:
        assert entry["initiator"] is None, where
    assert entry["system"] == pkg.system, where
    assert entry["installed"] == pu.installed, where
    assert entry["enabled"] == (pu.enabled in (0, 1)), where
    assert entry["launcher"] == (pkg.launcher_activity is not None and pu.installed), where
    runtime = {p["name"]: p for p in entry["permissions"] if p["runtime"]}
    for name, perm in pu.permissions.items():
        if not perm.granted and not perm.flags:
            assert name not in runtime or not runtime[name]["granted"], where
            continue
        assert name in runtime, f"{where}: {name} missing"
        assert runtime[name]["granted"] == perm.granted, f"{where}: {name}"
        assert set(runtime[name]["flags"]) == perm.flags, f"{where}: {name}"
    ops = {o["op"]: o for o in entry["appops"] if o["scope"] == "package"}
    for op, st in pu.ops.items():
        if st.mode != "default" or st.accesses:
            assert op in ops, f"{where}: op {op} missing"
            if st.mode != "default":
                assert ops[op]["mode"] == st.mode, f"{where}: op {op}"
            if st.accesses:
                assert ops[op]["last_access_time"], f"{where}: op {op} has no access time"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_scan_matches_the_phone_field_by_field(profile: str, plug: Plug, client: AdbClient) -> None:
    state = build_state(PROFILES[profile], work_profile=True)
    device = plug(state)
    snaps, errors = scan_devices(client, [device.serial])
    assert errors == []
    doc = scan_document(snaps, errors)
    jsonschema.validate(doc, SCHEMA)
    (dev,) = doc["devices"]
    assert (dev["model"], dev["android_release"], dev["sdk"]) == (
        state.build.model,
        state.build.release,
        state.build.sdk,
    )
    assert [u["id"] for u in dev["users"]] == [0, 10]
    assert dev["warnings"] == []
    pairs = {(e["name"], e["user"]) for e in dev["packages"]}
    expected = {(p.name, u) for p in state.packages.values() for u in p.users}
    assert pairs == expected
    for entry in dev["packages"]:
        _truth(state, entry)
    assert dev["cost"]["round_trips"] <= 12


def test_static_findings_from_one_look(plug: Plug, client: AdbClient) -> None:
    state = build_state(PROFILES["pixel8-a15"])
    for name in ("hidden-icon", "admin-resists-uninstall", "grant-without-consent"):
        for step in load_scenario(name).steps:
            apply_step(state, step)
    device = plug(state)
    snaps, _ = scan_devices(client, [device.serial])
    kinds = {(f.kind, f.package) for f in static_findings(snaps[0])}
    assert ("hidden_app", "com.sim.svchost") in kinds
    assert ("admin_blocks_uninstall", "com.sim.phonesafe") in kinds
    assert ("grant_without_consent", "com.sina.weibo") in kinds
    # The owner's own grants and the platform's defaults are not findings.
    assert not any(k == "grant_without_consent" and p == "com.tencent.mm" for k, p in kinds)
    assert not any(p.startswith("com.android.") for _, p in kinds)


def test_cli_scan_json_reports_unreadable_devices_and_exits_3(
    plug: Plug, adb_server: AdbServer
) -> None:
    good = plug(build_state(PROFILES["galaxy-a40-a10"]))
    locked = plug(build_state(PROFILES["moto-g30-a11"]), auth=AuthMode.PROMPT)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "scan",
            "--json",
            "--serial",
            good.serial,
            "--serial",
            locked.serial,
        ],
        env=dict(adb_server.env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert [d["serial"] for d in doc["devices"]] == [good.serial]
    (error,) = doc["errors"]
    assert error["serial"] == locked.serial
    assert "unauthorized" in error["message"]


def test_cli_scan_table_is_readable(plug: Plug, adb_server: AdbServer) -> None:
    state = build_state(PROFILES["redmi-note11-a13"])
    for step in load_scenario("hidden-icon").steps:
        apply_step(state, step)
    device = plug(state)
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "scan", "--serial", device.serial],
        env=dict(adb_server.env, COLUMNS="160"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Redmi Note 11" in done.stdout
    row = next(line for line in done.stdout.splitlines() if "com.sim.svchost" in line)
    assert "hidden app" in row
    wechat = next(line for line in done.stdout.splitlines() if "com.tencent.mm" in line)
    assert "camera" in wechat and "mic" in wechat


def test_labels_are_read_once_and_shown_escaped(
    plug: Plug, client: AdbClient, adb_server: AdbServer, tmp_path: Any
) -> None:
    from agent.labels import LabelCache

    state = build_state(PROFILES["pixel8-a15"])
    hostile = "[bold red]Bank[/]\x1b]0;owned\x07\u202egpj.exe"
    state.packages["com.sina.weibo"].label = hostile
    device = plug(state)
    cache = LabelCache(tmp_path / "labels")
    snaps, _ = scan_devices(client, [device.serial], labels=cache, fetch_labels=True)
    labels = snaps[0].labels
    assert labels["com.tencent.mm"] == "WeChat"
    assert labels["com.sina.weibo"] == hostile
    assert not any(name.startswith("com.android.") for name in labels)  # user apps only
    pulls = cache.pulls
    again, _ = scan_devices(client, [device.serial], labels=cache, fetch_labels=True)
    assert cache.pulls == pulls, "labels are pulled once per version"
    assert again[0].labels == labels
    # A scan from the CLI shows the cached labels, escaped: no markup, no escape sequence.
    env = dict(adb_server.env, COLUMNS="200", TETHERGUARD_HOME=str(tmp_path / "home"))
    (tmp_path / "home" / "cache").mkdir(parents=True)
    (tmp_path / "labels").rename(tmp_path / "home" / "cache" / "labels")
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "scan", "--serial", device.serial],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if "com.sina.weibo" in line)
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "[bold red]Bank[/]" in row
    assert "\\x1b]0;owned" in row
