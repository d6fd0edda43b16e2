"""Runtime grants mirrored into uid-scope app-op modes from Android 10, as on a real phone.

PermissionPolicyService keeps the app-op of every runtime permission in step with the grant:
granted -> ``allow`` (the op's default, which ``setUidMode`` stores as *no* uid mode), granted
location without background location -> ``foreground``, not granted -> ``ignore``. ``dumpsys
appops`` shows the result as ``OP: mode=x`` lines under ``Uid u0aNN:`` (appops doc §1.4, §3.4);
Android 9 mirrors nothing. Every path that changes a grant must keep the modes in step.
"""

from __future__ import annotations

import hashlib

import pytest

from agent.sim.android import Registry, appops
from agent.sim.android import packages as pm
from agent.sim.android.appops import OPS, PERMISSION_OPS, format_uid, switch_op
from agent.sim.device import SimDevice
from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import Step, apply_step
from agent.sim.shell import ShellIO
from agent.sim.state import (
    MIRROR_SINCE,
    RUNTIME_PERMISSION_OPS,
    DeviceState,
    Package,
    permission_op,
)
from tests.sim_state_fixtures import INSTALL, P, make_state

CAMERA = P + "CAMERA"
TAOBAO = "com.taobao.taobao"  # requests CAMERA on every profile; the owner never granted it


async def sh(device: SimDevice, script: str) -> str:
    io = ShellIO()
    status = await device.shell.run(script, io)
    assert (status, bytes(io.stderr)) == (0, b""), (script, io.stderr)
    return io.stdout.decode()


def uid_modes(dump: str, uid: int) -> list[str]:
    """The uid-level ``OP: mode=`` lines of one uid's block in ``dumpsys appops``."""
    lines = dump.splitlines()
    header = f"  Uid {format_uid(uid)}:"
    if header not in lines:
        return []
    found = []
    for line in lines[lines.index(header) + 1 :]:
        if not line.startswith("    "):
            break
        if line.startswith("      ") and ": mode=" in line:
            found.append(line.strip())
    return found


def registry(state: DeviceState) -> Registry:
    reg = Registry(state)
    pm.install(reg)
    appops.install(reg)
    return reg


async def run(reg: Registry, service: str, *args: str) -> str:
    io = ShellIO()
    handlers = reg.dumpsys if service == "dumpsys" else reg.cmd
    status = await handlers[args[0]](list(args[1:]), io)
    assert status == 0, io.stderr
    return io.stdout.decode()


def mode(state: DeviceState, package: str, op: str, user: int = 0) -> str | None:
    """The stored uid mode (None: no uid mode, i.e. the op's default)."""
    entry = state.uid_ops.get(state.packages[package].uid(user), {}).get(op)
    return None if entry is None or entry.mode == "default" else entry.mode


# ------------------------------------------------------------------------------- the table


def test_the_table_agrees_with_the_op_catalogue_and_the_package_manager() -> None:
    for perm, (op, since) in RUNTIME_PERMISSION_OPS.items():
        assert PERMISSION_OPS[perm] == op, perm
        assert OPS[op].default == "allow", op  # so a grant is stored as "no uid mode"
        assert pm.RUNTIME_PERMISSIONS[perm][0] == since, perm
        assert OPS[op].since <= max(since, MIRROR_SINCE), op
    runtime_with_op = {p for p in pm.RUNTIME_PERMISSIONS if p in PERMISSION_OPS}
    assert runtime_with_op == set(RUNTIME_PERMISSION_OPS)
    for sdk in range(28, 36):
        for perm, (op, since) in RUNTIME_PERMISSION_OPS.items():
            expected = None if sdk < MIRROR_SINCE or since > sdk else switch_op(OPS[op], sdk).name
            assert permission_op(perm, sdk) == expected, (perm, sdk)


# ------------------------------------------------------------------------------ pm, dumpsys


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_pm_grant_flips_the_uid_mode_line(profile: str) -> None:
    device = SimDevice(build_state(profile))
    device.state.oem.monitors_permissions = False  # ColorOS: the owner allowed pm grant
    sdk = device.state.build.sdk
    uid = device.state.packages[TAOBAO].uid(0)
    probe = "dumpsys appops --op CAMERA | grep -E '^  Uid |mode=' | md5sum"
    before, digest_before = await sh(device, "dumpsys appops --op CAMERA"), await sh(device, probe)
    await sh(device, f"pm grant {TAOBAO} {CAMERA}")
    granted, digest_granted = (
        await sh(device, "dumpsys appops --op CAMERA"),
        await sh(device, probe),
    )
    await sh(device, f"pm revoke {TAOBAO} {CAMERA}")
    revoked = await sh(device, "dumpsys appops --op CAMERA")
    if sdk >= 29:
        assert uid_modes(before, uid) == ["CAMERA: mode=ignore"]
        assert uid_modes(granted, uid) == []  # "allow" is the default: no uid mode is kept
        assert uid_modes(revoked, uid) == ["CAMERA: mode=ignore"]
        assert digest_before != digest_granted  # the on-phone digest sees the grant
    else:
        assert uid_modes(before, uid) == uid_modes(granted, uid) == uid_modes(revoked, uid) == []
        assert digest_before == digest_granted  # Android 9: grants are not in app ops
    # The digest is the md5 of exactly the lines grep kept.
    kept = [line for line in granted.splitlines() if line.startswith("  Uid ") or "mode=" in line]
    assert (
        digest_granted
        == hashlib.md5("".join(f"{x}\n" for x in kept).encode()).hexdigest() + "  -\n"
    )


@pytest.mark.parametrize("profile", ["moto-g30-a11", "pixel8-a15"])
async def test_cmd_appops_get_shows_the_mirrored_uid_mode(profile: str) -> None:
    device = SimDevice(build_state(profile))
    assert await sh(device, f"cmd appops get {TAOBAO} CAMERA") == "Uid mode: CAMERA: ignore\n"
    await sh(device, f"pm grant {TAOBAO} {CAMERA}")
    assert "Uid mode" not in await sh(device, f"cmd appops get {TAOBAO} CAMERA")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_profiles_start_with_their_grants_mirrored(profile: str) -> None:
    state = build_state(profile)
    mirrored = {
        (uid, op): entry.mode
        for uid, ops in state.uid_ops.items()
        for op, entry in ops.items()
        if entry.mode != "default"
    }
    if state.build.sdk < 29:
        assert mirrored == {}
        return
    for pkg in state.packages.values():
        if pkg.uid(0) == 1000 or pkg.shared_user:
            continue
        granted: dict[str, bool] = {}  # op -> any permission on it granted (most permissive)
        for perm in pkg.requested:
            op = permission_op(perm, state.build.sdk)
            if op is not None:
                ps = pkg.users[0].permissions.get(perm)
                granted[op] = granted.get(op, False) or (ps is not None and ps.granted)
        for op, any_granted in granted.items():
            got = mirrored.get((pkg.uid(0), op))
            assert got in ((None, "foreground") if any_granted else ("ignore",)), (pkg.name, op)


# --------------------------------------------------------------------------- state paths


@pytest.mark.parametrize("sdk", [29, 30, 31, 35])
async def test_location_without_background_is_foreground(sdk: int) -> None:
    state = make_state(sdk)
    reg = registry(state)
    op = "COARSE_LOCATION" if sdk <= 30 else "FINE_LOCATION"  # the switch op stores the mode
    assert mode(state, "com.example.chat", op) == "ignore"
    await run(reg, "cmd", "package", "grant", "com.example.chat", P + "ACCESS_FINE_LOCATION")
    assert mode(state, "com.example.chat", op) == "foreground"
    dump = await run(reg, "dumpsys", "appops", "--op", op)
    assert uid_modes(dump, state.packages["com.example.chat"].uid(0)) == [f"{op}: mode=foreground"]
    assert f"    foregroundOps:\n      {op}: SILENT\n" in dump
    state.packages["com.example.chat"].requested.append(P + "ACCESS_BACKGROUND_LOCATION")
    state.grant("com.example.chat", 0, P + "ACCESS_BACKGROUND_LOCATION")
    assert mode(state, "com.example.chat", op) is None  # allow: no uid mode
    state.revoke("com.example.chat", 0, P + "ACCESS_FINE_LOCATION")
    assert mode(state, "com.example.chat", op) == "ignore"


def test_android_9_mirrors_nothing() -> None:
    state = make_state(28)
    state.revoke("com.example.chat", 0, CAMERA)
    state.grant("com.example.chat", 0, P + "ACCESS_FINE_LOCATION")
    assert all(e.mode == "default" for ops in state.uid_ops.values() for e in ops.values())


def test_install_with_grants_and_uninstall() -> None:
    state = make_state(33)
    pkg = Package(
        "com.example.new", 0, requested=[CAMERA, P + "RECORD_AUDIO", P + "POST_NOTIFICATIONS"]
    )
    state.install(pkg, grant=[CAMERA])
    assert mode(state, pkg.name, "CAMERA") is None
    assert mode(state, pkg.name, "RECORD_AUDIO") == "ignore"
    assert mode(state, pkg.name, "POST_NOTIFICATION") == "ignore"  # runtime from 13
    uid = pkg.uid(0)
    state.uninstall(pkg.name, 0, keep_data=True)  # -k: the uid and its modes stay
    assert state.uid_ops[uid]["RECORD_AUDIO"].mode == "ignore"
    state.install_existing(pkg.name, 0)
    state.uninstall(pkg.name, None)  # gone: AppOpsService drops the uid
    assert uid not in state.uid_ops


def test_flags_that_change_the_mirrored_mode() -> None:
    state = make_state(35)
    # A legacy app's revoke is REVOKED_COMPAT on a still-granted permission: the op is ignored.
    state.update_permission_flags("com.example.legacy", 0, CAMERA, add=["REVOKED_COMPAT"])
    assert mode(state, "com.example.legacy", "CAMERA") == "ignore"
    state.update_permission_flags("com.example.legacy", 0, CAMERA, remove=["REVOKED_COMPAT"])
    assert mode(state, "com.example.legacy", "CAMERA") is None
    # A permission awaiting review is left as it was.
    state.update_permission_flags("com.example.chat", 0, CAMERA, add=["REVIEW_REQUIRED"])
    state.revoke("com.example.chat", 0, CAMERA)
    assert mode(state, "com.example.chat", "CAMERA") is None


async def test_shared_uid_is_mirrored_once_for_the_uid() -> None:
    state = make_state(34)
    reg = registry(state)
    await run(reg, "cmd", "package", "revoke", "com.example.suite.mail", P + "READ_CALENDAR")
    dump = await run(reg, "dumpsys", "appops", "--op", "READ_CALENDAR")
    assert uid_modes(dump, state.packages["com.example.suite.mail"].uid(0)) == [
        "READ_CALENDAR: mode=ignore"
    ]


def test_work_profile_grants_are_per_user() -> None:
    state = make_state(34, work_profile=True)
    state.revoke("com.example.chat", 10, CAMERA)
    assert mode(state, "com.example.chat", "CAMERA", user=10) == "ignore"
    assert mode(state, "com.example.chat", "CAMERA", user=0) is None


def test_a_grant_resets_a_package_mode_that_would_override_it() -> None:
    # PermissionToOpSynchroniser.setUidMode: if the raw mode still is not the wanted one after
    # setting the uid mode, the package mode is reset to the op's default.
    state = make_state(35)
    state.op("com.example.chat", 0, "CAMERA").mode = "ignore"
    state.grant("com.example.chat", 0, CAMERA)
    assert state.op("com.example.chat", 0, "CAMERA").mode == "default"


def test_scenario_steps_go_through_the_same_path() -> None:
    state = make_state(31)
    apply_step(state, Step(0, "revoke", {"package": "com.example.chat", "permission": "CAMERA"}))
    assert mode(state, "com.example.chat", "CAMERA") == "ignore"
    apply_step(state, Step(0, "grant", {"package": "com.example.chat", "permission": "CAMERA"}))
    assert mode(state, "com.example.chat", "CAMERA") is None
    flags = {"package": "com.example.chat", "permission": "CAMERA", "flags": ["REVOKED_COMPAT"]}
    apply_step(state, Step(0, "set_flags", flags))
    assert mode(state, "com.example.chat", "CAMERA") == "ignore"


def test_fixture_packages_request_what_the_tests_assume() -> None:
    state = make_state(35)
    assert CAMERA in state.packages["com.example.chat"].requested
    assert INSTALL[0] in state.packages["com.example.chat"].requested
