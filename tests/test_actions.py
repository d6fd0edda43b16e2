"""Actions end to end: each one on simulated phones of every Android release through the real
adb server, verified by reading the phone back, recorded in the audit log, undone; Android's
refusals in plain words; and never reported back as a change without consent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.actions import Action, ActionError, Actions, Outcome
from agent.adb import AdbClient
from agent.engine import Engine
from agent.events import Consent
from agent.sim.device import SimDevice
from agent.sim.profiles import PROFILES
from agent.sim.scenario import apply_step, load_scenario
from agent.store import Store
from tests.adbserver import AdbServer
from tests.support import Plug, run_cli

RELEASES = sorted(PROFILES, key=lambda p: PROFILES[p].build.sdk)
MM, MIC = "com.tencent.mm", "android.permission.RECORD_AUDIO"
WEIBO = "com.sina.weibo"


def _actions(client: AdbClient, device: SimDevice, store: Store | None) -> Actions:
    return Actions(client.link(device.serial), store, actor="cli:test", sdk=device.state.build.sdk)


def _granted(device: SimDevice, package: str, permission: str) -> bool | None:
    perm = device.state.packages[package].users[0].permissions.get(permission)
    return None if perm is None else perm.granted


def _with_admin(device: SimDevice) -> str:
    """An app that made itself a device admin (which blocks its uninstall); its name."""
    state = device.state
    for step in load_scenario("admin-resists-uninstall").steps:
        apply_step(state, step)
    return next(p for p in state.packages.values() if p.admin_receiver).name


def _done(outcome: Outcome) -> Outcome:
    assert outcome.status == "done", (outcome.message, outcome.hint)
    return outcome


@pytest.mark.parametrize("profile", RELEASES)
def test_revoke_is_verified_recorded_kept_and_undone(
    profile: str, plug: Plug, client: AdbClient, tmp_path: Path
) -> None:
    device = plug(profile)
    with Store.open(tmp_path / "tg.db") as store:
        engine = Engine(client, store, serials=[device.serial])
        assert engine.once() == []  # the baseline
        actions = _actions(client, device, store)
        oem = device.state.oem
        if oem.refuses_permission_changes:  # ColorOS's permission monitoring, on by default
            refused = actions.run(Action("revoke", MM, permission="RECORD_AUDIO"))
            assert refused.status == "failed" and refused.hint is not None
            assert "Disable permission monitoring" in refused.hint
            assert _granted(device, MM, MIC) is True
            oem.monitors_permissions = oem.blocks_permission_changes = False  # as the hint says
        revoked = _done(actions.run(Action("revoke", MM, permission="RECORD_AUDIO")))
        assert _granted(device, MM, MIC) is False
        assert revoked.before["granted"] is True and revoked.after["granted"] is False
        flags = device.state.packages[MM].users[0].permissions[MIC].flags
        # Kept revoked (the app cannot simply ask again), or the owner is told it was not.
        if "USER_FIXED" not in flags:
            assert "not kept revoked: this Android version has no such command" in revoked.message
        else:
            assert "USER_SET" in flags
        # Our own change comes back as ours, not as a finding.
        events = engine.once()
        assert events, "the revocation was not seen"
        assert {e.consent for e in events} == {Consent.TETHERGUARD}
        assert not any(e.finding for e in events)
        row = store.audit(serial=device.serial)[-1]
        assert (row.actor, row.action, row.status) == ("cli:test", "revoke", "done")
        assert row.target["permission"] == MIC and row.result["verified"] is True
        # Undone: granted again, the original marked undone.
        assert revoked.audit_id is not None
        _done(actions.undo(revoked.audit_id))
        assert _granted(device, MM, MIC) is True
        statuses = [(r.action, r.status) for r in store.audit(serial=device.serial)]
        assert statuses[-2:] == [("revoke", "undone"), ("grant", "done")]
        assert not any(e.finding for e in engine.once())


@pytest.mark.parametrize("profile", RELEASES)
def test_restrict_disable_uninstall_and_their_undo(
    profile: str, plug: Plug, client: AdbClient, tmp_path: Path
) -> None:
    device = plug(profile)
    state = device.state
    with Store.open(tmp_path / "tg.db") as store:
        engine = Engine(client, store, serials=[device.serial])
        engine.once()
        actions = _actions(client, device, store)
        restricted = _done(actions.run(Action("restrict", MM)))
        assert restricted.after["mode"] == "ignore"
        assert state.packages[MM].users[0].standby_bucket == (45 if state.build.sdk >= 30 else 40)
        _done(actions.run(Action("appop", MM, op="camera", mode="ignore")))
        _done(actions.run(Action("force_stop", MM)))
        disabled = _done(actions.run(Action("disable", MM)))
        assert state.packages[MM].users[0].enabled == 3
        gone = _done(actions.run(Action("uninstall", MM)))
        assert not state.packages[MM].users[0].installed
        assert not any(e.finding for e in engine.once())
        for outcome in (gone, disabled, restricted):
            assert outcome.audit_id is not None
            _done(actions.undo(outcome.audit_id))
        user = state.packages[MM].users[0]
        assert user.installed and user.enabled in (0, 1)
        assert state.op(MM, 0, "RUN_ANY_IN_BACKGROUND").mode in ("allow", "default")
        assert user.standby_bucket == 10  # active
        assert not any(e.finding for e in engine.once())


def test_a_dry_run_changes_nothing_and_records_nothing(
    plug: Plug, client: AdbClient, tmp_path: Path
) -> None:
    device = plug("pixel8-a15")
    with Store.open(tmp_path / "tg.db") as store:
        outcome = _actions(client, device, store).run(
            Action("revoke", MM, permission=MIC), dry_run=True
        )
        assert outcome.status == "dry-run"
        assert outcome.commands == (
            f"pm revoke --user 0 {MM} {MIC}",
            f"pm set-permission-flags --user 0 {MM} {MIC} user-set user-fixed",
        )
        assert store.audit() == []
    assert _granted(device, MM, MIC) is True


def test_refusals_are_explained_in_plain_words(
    plug: Plug, client: AdbClient, tmp_path: Path
) -> None:
    device = plug("redmi-note11-a13")
    state = device.state
    admin = _with_admin(device)
    with Store.open(tmp_path / "tg.db") as store:
        actions = _actions(client, device, store)
        stuck = actions.run(Action("uninstall", admin))
        assert stuck.status == "failed"
        assert "device admin" in stuck.message and stuck.hint and "deactivate" in stuck.hint
        assert state.packages[admin].users[0].installed
        internet = actions.run(Action("revoke", MM, permission="android.permission.INTERNET"))
        assert internet.status in ("failed", "refused")
        assert "not a runtime permission" in internet.message or "does not ask" in internet.message
        protected = actions.run(Action("disable", "com.android.systemui"))
        assert protected.status == "refused" and "protected" in protected.message
        assert protected.hint and "--force" in protected.hint
        assert state.packages["com.android.systemui"].users[0].enabled != 3
        missing = actions.run(Action("disable", "com.example.nothere"))
        assert missing.status == "refused" and "no package" in missing.message
        state.oem.blocks_permission_changes = True  # MIUI's "USB debugging (Security settings)"
        blocked = actions.run(Action("revoke", MM, permission=MIC))
        assert blocked.status == "failed" and blocked.hint is not None
        assert "USB debugging (Security settings)" in blocked.hint
        assert _granted(device, MM, MIC) is True
        failed = [r for r in store.audit(serial=device.serial) if r.status == "failed"]
        assert {r.action for r in failed} == {"uninstall", "revoke"}
        assert all(r.result["output"] for r in failed)  # Android's own words are kept


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        (Action("disable", "com.evil; reboot"), "package"),
        (Action("revoke", MM, permission="X; rm -rf /"), "permission"),
        (Action("appop", MM, op="CAMERA", mode="sudo"), "mode"),
        (Action("appop", MM, op="CAM ERA", mode="allow"), "op"),
        (Action("revoke", MM), "permission"),
    ],
)
def test_bad_arguments_never_reach_the_phone(action: Action, problem: str) -> None:
    class NoPhone:
        serial = "none"

        def shell(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("a command was sent")

    with pytest.raises(ActionError) as caught:
        Actions(NoPhone(), None, actor="cli:test", sdk=34).run(action)  # type: ignore[arg-type]
    assert problem in str(caught.value).lower()


def test_the_cli_asks_acts_lists_and_undoes(
    plug: Plug, adb_server: AdbServer, tmp_path: Path
) -> None:
    device = plug("moto-g30-a11")
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    serial = ("--serial", device.serial)
    # No terminal to ask on and no --yes: nothing happens.
    asked = run_cli("revoke", MM, "RECORD_AUDIO", *serial, env=env)
    assert asked.returncode == 2 and "not confirmed" in asked.stderr
    assert _granted(device, MM, MIC) is True
    dry = run_cli("revoke", MM, "RECORD_AUDIO", "--dry-run", *serial, env=env)
    assert dry.returncode == 0, dry.stderr
    assert f"$ adb shell pm revoke --user 0 {MM} {MIC}" in dry.stdout
    assert _granted(device, MM, MIC) is True
    done = run_cli("revoke", MM, "RECORD_AUDIO", "--yes", *serial, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"done: revoke {MIC} from {MM} for user 0")
    assert "read back: granted=False" in done.stdout
    assert _granted(device, MM, MIC) is False
    protected = run_cli("disable", "com.android.systemui", "--yes", *serial, env=env)
    assert protected.returncode == 2 and "protected" in protected.stderr
    listed = run_cli("audit", "--json", env=env)
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["action"], row["status"], row["target"]["permission"]) == ("revoke", "done", MIC)
    assert row["actor"].startswith("cli:")
    undone = run_cli("undo", str(row["id"]), "--yes", *serial, env=env)
    assert undone.returncode == 0, undone.stderr
    assert _granted(device, MM, MIC) is True
    table = run_cli("audit", env=env).stdout.splitlines()
    assert [line.split()[5:7] for line in table] == [["revoke", "undone"], ["grant", "done"]]


@pytest.mark.parametrize(
    ("profile", "blocked"),
    [("redmi-note11-a13", True), ("fire-hd10-a9", False), ("pixel8-a15", False)],
)
def test_the_capability_probe_says_what_will_work_and_changes_nothing(
    profile: str, blocked: bool, plug: Plug, client: AdbClient
) -> None:
    device = plug(profile)
    device.state.oem.blocks_permission_changes = blocked  # MIUI's setting off, or on
    before = device.state.op("com.android.shell", 0, "RUN_ANY_IN_BACKGROUND").mode
    caps = _actions(client, device, None).capabilities()
    assert device.state.op("com.android.shell", 0, "RUN_ANY_IN_BACKGROUND").mode == before
    for kind in ("revoke", "grant", "appop", "restrict"):
        assert caps[kind].available is not blocked, kind
    if blocked:
        assert caps["revoke"].note and "USB debugging (Security settings)" in caps["revoke"].note
    elif device.state.build.sdk < 30:
        assert caps["restrict"].note and "'rare'" in caps["restrict"].note
    assert all(caps[k].available for k in ("disable", "uninstall", "restore", "force_stop"))


def test_restore_grants_back_what_was_revoked_and_a_full_uninstall_is_final(
    plug: Plug, client: AdbClient, tmp_path: Path
) -> None:
    device = plug("pixel6a-a14")
    state = device.state
    with Store.open(tmp_path / "tg.db") as store:
        actions = _actions(client, device, store)
        _done(actions.run(Action("revoke", MM, permission=MIC)))
        _done(actions.run(Action("uninstall", MM)))
        restored = _done(actions.run(Action("restore", MM)))
        assert f"{MIC} granted back" in restored.message
        assert state.packages[MM].users[0].installed and _granted(device, MM, MIC) is True
        system = actions.run(Action("uninstall", "com.android.camera2", keep_data=False))
        assert system.status == "refused" and "system app" in system.message
        gone = _done(actions.run(Action("uninstall", WEIBO, keep_data=False)))
        assert WEIBO not in state.packages or not any(
            u.installed for u in state.packages[WEIBO].users.values()
        )
        assert gone.audit_id is not None
        with pytest.raises(ActionError, match="reinstall it from its store"):
            actions.undo(gone.audit_id)


def test_capabilities_cli(plug: Plug, adb_server: AdbServer, tmp_path: Path) -> None:
    device = plug("redmi-note11-a13")
    device.state.oem.blocks_permission_changes = True
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    shown = run_cli("capabilities", "--serial", device.serial, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["actions"]["revoke"]["available"] is False
    assert doc["actions"]["disable"]["available"] is True
    table = run_cli("capabilities", "--serial", device.serial, env=env).stdout.splitlines()
    assert any(line.startswith("no  revoke") for line in table)


@pytest.mark.parametrize("profile", ["galaxy-a40-a10", "pixel8-a15"])
def test_a_test_admin_is_removed_and_a_real_one_is_explained(
    profile: str, plug: Plug, client: AdbClient, tmp_path: Path
) -> None:
    device = plug(profile)
    state = device.state
    admin = _with_admin(device)
    with Store.open(tmp_path / "tg.db") as store:
        actions = _actions(client, device, store)
        real = actions.run(Action("remove_admin", admin))
        assert real.status == "failed" and "only test device admins" in real.message
        assert real.hint and "Device admin apps" in real.hint
        state.admins[0].test_only = True  # an app built with android:testOnly
        _done(actions.run(Action("remove_admin", admin)))
        assert not [a for a in state.admins if a.component.startswith(admin + "/")]
        _done(actions.run(Action("uninstall", admin)))  # no admin: uninstall works now
