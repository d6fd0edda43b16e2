"""Scenarios: shipped files validate, steps change phone state as Android would."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import (
    EXPECTED_EVENTS,
    ScenarioError,
    apply_step,
    list_scenarios,
    load_scenario,
)
from agent.sim.state import DeviceState

REQUIRED = {
    "silent-install",
    "bundled-install",
    "grant-without-consent",
    "appop-raised",
    "background-mic",
    "camera-use",
    "location-use",
    "clipboard-read",
    "contacts-read",
    "boot-autostart",
    "associated-start",
    "hot-update",
    "signer-change",
    "hidden-icon",
    "admin-resists-uninstall",
    "work-profile",
    "normal-day",
}


def test_every_required_scenario_ships_with_expectations() -> None:
    shipped = {s.name: s for s in list_scenarios()}
    assert set(shipped) >= REQUIRED
    for s in shipped.values():
        assert s.expect or s.no_findings, s.name
        assert all(e.event in EXPECTED_EVENTS for e in s.expect)
        assert s.duration < 60, "scenarios stay short so tests can play them"
    assert shipped["normal-day"].no_findings
    assert not any("finding" in e.fields for e in shipped["normal-day"].expect)


def _steps_until(name: str, state: DeviceState | None = None) -> DeviceState:
    scenario = load_scenario(name)
    if state is None:
        state = build_state(PROFILES["pixel8-a15"], work_profile=scenario.needs_work_profile)
    for step in scenario.steps:
        for _ in range(step.count):
            apply_step(state, step)
    return state


def test_silent_install_leaves_the_screen_off_and_the_dropper_as_installer() -> None:
    state = _steps_until("silent-install")
    pkg = state.packages["com.sim.luckygame"]
    assert not state.screen_on
    assert pkg.installer == pkg.initiating == "com.sim.phonecleaner"
    assert state.package_changes[-1][1] == "com.sim.luckygame"


def test_grant_without_consent_sets_no_user_flag() -> None:
    state = _steps_until("grant-without-consent")
    perm = state.packages["com.sina.weibo"].users[0].permissions["android.permission.READ_CONTACTS"]
    assert perm.granted
    assert not perm.flags & {"USER_SET", "USER_FIXED"}


def test_hot_update_adds_permissions_and_code_and_keeps_first_install() -> None:
    state = build_state(PROFILES["pixel8-a15"])
    before = state.packages["com.sina.weibo"]
    _steps_until("hot-update", state)
    pkg = state.packages["com.sina.weibo"]
    assert "android.permission.READ_SMS" in pkg.requested
    assert "android.permission.READ_SMS" not in before.requested
    assert pkg.secondary_dex
    assert pkg.version_code == before.version_code + 1
    assert pkg.first_install_ms == before.first_install_ms
    assert pkg.last_update_ms > before.last_update_ms


def test_signer_change_and_work_profile() -> None:
    state = _steps_until("signer-change")
    after = state.packages["com.taobao.taobao"]
    before = build_state(PROFILES["pixel8-a15"]).packages["com.taobao.taobao"]
    assert after.signing_digests != before.signing_digests
    wp = _steps_until("work-profile")
    assert wp.users[10].parent == 0
    assert wp.packages["com.sina.weibo"].users[10].permissions["android.permission.CAMERA"].granted
    assert (
        not wp.packages["com.sina.weibo"].users[0].permissions["android.permission.CAMERA"].granted
    )


def test_uses_start_ops_and_sensor_records() -> None:
    state = _steps_until("background-mic")
    op = state.packages["com.tencent.mm"].users[0].ops["RECORD_AUDIO"]
    assert op.running_since_ms is not None
    assert [r.package for r in state.recordings] == ["com.tencent.mm"]
    cam = _steps_until("camera-use")
    assert [c.package for c in cam.camera_clients] == ["com.eg.android.AlipayGphone"]
    clip = _steps_until("clipboard-read")
    assert clip.clipboard_reads[-1][1] == "com.ss.android.ugc.aweme"


def test_associated_start_records_the_caller() -> None:
    state = _steps_until("associated-start")
    started = [p for p in state.processes.values() if p.package == "com.eg.android.AlipayGphone"]
    assert started[0].caller_package == "com.taobao.taobao"
    tags = [e.tag for e in state.events]
    assert tags.count("am_proc_start") >= 2


def test_boot_autostart_starts_receivers_after_reboot() -> None:
    state = _steps_until("boot-autostart")
    assert state.change_seq == 0  # the Package Changes sequence resets on boot
    autostarted = {p.package for p in state.processes.values() if p.reason == "broadcast"}
    assert "com.sim.pushhelper" in autostarted


def test_admin_blocks_and_bundled_installs_share_an_installer() -> None:
    state = _steps_until("admin-resists-uninstall")
    assert state.admins[-1].component == "com.sim.phonesafe/.LockAdmin"
    bundle = _steps_until("bundled-install")
    installers = {bundle.packages[n].installer for n in ("com.sim.browserlite", "com.sim.newsfeed")}
    assert installers == {"com.sim.appmarket"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nsummary: y\nsteps: []\n", "states what a guard must report"),
        (
            "name: x\nsummary: y\nsteps:\n  - {at: 1, action: explode}\nexpect: []\n",
            "unknown action",
        ),
        ("name: x\nsummary: y\nsteps:\n  - {at: 1, action: grant, package: a}\n", "needs"),
        (
            "name: x\nsummary: y\nsteps:\n  - {at: 1, action: screen_off, colour: red}\n",
            "does not take",
        ),
        ("name: x\nsummary: y\nsteps: []\nexpect:\n  - {event: magic}\n", "unknown event"),
        ("[unclosed", "not valid YAML"),
        (
            "name: x\nsummary: y\nsteps:\n  - {at: soon, action: screen_on}\nexpect: []\n",
            "numbers",
        ),
    ],
)
def test_broken_scenario_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenario(path)
    assert "broken.yaml" in str(info.value)


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="silent-install"):
        load_scenario("no-such-scenario")
