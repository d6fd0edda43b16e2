"""Simulated phones of every profile, end to end through the real adb server."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from agent import uses
from agent.adb import AdbClient, CommandTimeout
from agent.collect import _PROBE
from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES, build_state
from agent.sim.shell import ShellIO
from tests.adbserver import AdbServer
from tests.support import Plug


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_answers_as_its_android_version(
    profile: str, plug: Plug, client: AdbClient
) -> None:
    device = plug(profile)
    link = client.link(device.serial)
    build = device.state.build
    info = next(i for i in client.devices(details=True) if i.serial == device.serial)
    assert (info.android_release, info.sdk) == (build.release, build.sdk)
    listed = link.shell(["pm", "list", "packages"]).check().stdout.splitlines()
    assert sorted(line.removeprefix("package:") for line in listed) == sorted(device.state.packages)
    one = link.shell(["dumpsys", "package", "com.tencent.mm"]).check().stdout
    assert "Package [com.tencent.mm]" in one
    appops = link.shell(["dumpsys", "appops"]).check().stdout
    assert "Current AppOps Service state" in appops
    missing = link.shell(["frobnicate"])
    assert missing.exit_code == 127
    assert "frobnicate: inaccessible or not found" in missing.stderr


def test_revoke_through_adb_changes_what_dumpsys_prints(plug: Plug, client: AdbClient) -> None:
    device = plug("pixel8-a15")
    link = client.link(device.serial)
    perm = "android.permission.CAMERA"
    before = link.shell(["dumpsys", "package", "com.tencent.mm"]).stdout
    assert f"{perm}: granted=true" in before
    link.shell(["pm", "revoke", "--user", "0", "com.tencent.mm", perm]).check()
    after = link.shell(["dumpsys", "package", "com.tencent.mm"]).stdout
    assert f"{perm}: granted=false" in after
    assert not device.state.packages["com.tencent.mm"].users[0].permissions[perm].granted


def test_faults_slow_hanging_and_failing_commands(
    plug: Plug, client: AdbClient, host: SimHost
) -> None:
    device = plug("pixel6a-a14")
    link = client.link(device.serial)
    device.faults.hang.append("dumpsys appops*")
    with pytest.raises(CommandTimeout):
        link.shell(["dumpsys", "appops"], timeout=0.5)
    assert link.shell(["getprop", "ro.build.version.sdk"]).stdout == "34\n"
    device.faults.fail["pm list packages*"] = "java.lang.SecurityException: blocked by vendor"
    failed = link.shell(["pm", "list", "packages"])
    assert failed.exit_code == 1
    assert "SecurityException" in failed.stderr


def test_reboot_drops_the_link_and_comes_back(
    plug: Plug, client: AdbClient, host: SimHost, adb_server: AdbServer
) -> None:
    device = plug("moto-g30-a11")
    link = client.link(device.serial)
    link.shell(["pm", "uninstall", "-k", "--user", "0", "com.sina.weibo"]).check()
    assert device.state.change_seq > 0
    host.run(device.reboot(downtime=0.2))
    # The adb server reconnects on its own retry schedule (3 s on v36, 10 s on v29).
    adb_server.run("connect", device.serial)
    adb_server.wait_state(device.serial, "device", timeout=20)
    assert device.state.change_seq == 0
    boots = link.shell(["logcat", "-b", "events", "-d", "-v", "epoch"]).stdout
    assert "boot_progress_start" in boots


def _sim_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "sim", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sim_command_connects_and_cleans_up(adb_server: AdbServer, client: AdbClient) -> None:
    proc = _sim_cli("--devices", "2", "--android", "13", "--connect", env=dict(adb_server.env))
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        serials = [line.split("\t")[0] for line in lines]
        assert all("Android 13 (API 33)" in line for line in lines)
        states = {i.serial: i.state for i in client.devices()}
        assert all(states.get(s) == "device" for s in serials)
        assert client.link(serials[0]).shell(["getprop", "ro.product.model"]).stdout == (
            "Redmi Note 11\n"
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        remaining = {i.serial for i in client.devices()} & set(serials)
        if not remaining:
            break
        time.sleep(0.1)
    assert not remaining, "Ctrl-C must disconnect the simulated phones from the adb server"


def test_sim_lists_scenarios() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "sim", "--list-scenarios"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    assert "silent-install" in done.stdout
    assert "MIIT I.1" in done.stdout


def test_vendor_blocks_permission_changes_with_the_real_exception(
    plug: Plug, client: AdbClient
) -> None:
    device = plug("oppo-a77-a12")
    assert device.state.oem.monitors_permissions
    link = client.link(device.serial)
    denied = link.shell(["pm", "revoke", "com.tencent.mm", "android.permission.CAMERA"])
    assert denied.exit_code != 0
    assert "GRANT_RUNTIME_PERMISSIONS" in denied.stderr or "SecurityException" in denied.stderr
    assert (
        device.state.packages["com.tencent.mm"]
        .users[0]
        .permissions["android.permission.CAMERA"]
        .granted
    )
    device.state.oem.monitors_permissions = False  # the owner flips the developer option
    link.shell(["pm", "revoke", "com.tencent.mm", "android.permission.CAMERA"]).check()


# The host agent's cheap one-round-trip probe: filtered and hashed on the phone.
PROBE = (
    "echo @@tg:changes; dumpsys package changes; "
    "echo @@tg:power; dumpsys power | grep -E 'mWakefulness=|Display Power: state='; "
    "echo @@tg:ops; dumpsys appops --op CAMERA | grep -E '^  Uid |mode=' | md5sum"
)


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^@@tg:(\w+)\n", text, flags=re.MULTILINE)
    assert parts[0] == ""
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("profile", ["pixel8-a15", "fire-hd10-a9"])
def test_one_round_trip_probe_filters_and_hashes_on_the_phone(
    profile: str, plug: Plug, adb_server: AdbServer
) -> None:
    device = plug(profile)
    device.state.screen_on = False
    device.state.uninstall("com.sina.weibo", 0, keep_data=True)
    seq = device.state.change_seq
    done = adb_server.run("-s", device.serial, "shell", PROBE)
    assert (done.returncode, done.stderr) == (0, "")
    sections = _sections(done.stdout)
    assert list(sections) == ["changes", "power", "ops"]
    assert sections["changes"] == (
        f"Package Changes:\n  Sequence number={seq}\n  User 0:\n"
        f"    seq={seq - 1}, package=com.sina.weibo\n\n"
    )
    assert sections["power"] == "  mWakefulness=Asleep\nDisplay Power: state=OFF\n"
    # The digest is the host's own md5 over the same lines of the unfiltered dump.
    dump = adb_server.run("-s", device.serial, "shell", "dumpsys appops --op CAMERA").stdout
    kept = "".join(
        line for line in dump.splitlines(keepends=True) if re.search(r"^  Uid |mode=", line)
    )
    assert kept  # the digest covers something
    assert sections["ops"] == hashlib.md5(kept.encode()).hexdigest() + "  -\n"


@pytest.mark.parametrize("profile", ["fire-hd10-a9", "pixel8-a15"])
async def test_a_probe_script_is_answered_in_one_turn_and_prints_what_concurrent_stages_print(
    profile: str,
) -> None:
    """A phone of a polled fleet answers the agent's own scripts without yielding between
    pipeline stages (each yield waits behind every other phone), and prints the same bytes."""
    state = build_state(profile, seed=3)
    frozen = state.now_ms()
    state.now_ms = lambda: frozen  # type: ignore[method-assign]  # both runs print one time
    app = next(p for p in state.packages.values() if not p.system and 0 in p.users)
    state.start_op(app.name, 0, "RECORD_AUDIO")
    state.note_op(app.name, 0, "COARSE_LOCATION", state="fg")
    scripts = [
        "; ".join(uses._run_probe("n", op, True) for op in uses.FAST_OPS),
        "; ".join(uses._hash_probe("n", op, "0" * 32) for op in uses.SLOW_OPS),
        _PROBE.format(n="n"),
    ]
    device = SimDevice(state)
    loop = asyncio.get_running_loop()
    for script in scripts:
        turns = 0

        def tick() -> None:
            nonlocal turns
            turns += 1
            loop.call_soon(tick)

        handle = loop.call_soon(tick)
        in_turn = ShellIO()
        status = await device.shell.run(script, in_turn)
        handle.cancel()
        assert turns <= 1, f"{turns} turns of the loop for one script"
        concurrent = SimDevice(state)
        concurrent.shell._filters.clear()  # every pipeline runs its stages as tasks
        expected = ShellIO()
        assert await concurrent.shell.run(script, expected) == status
        assert (in_turn.stdout, in_turn.stderr) == (expected.stdout, expected.stderr)
        if script is scripts[0]:
            assert b"@@tg-n:run:RECORD_AUDIO\n" in in_turn.stdout
        if script is scripts[1]:
            assert b"@@tg-n:hash:COARSE_LOCATION\n" in in_turn.stdout
