"""Every shipped scenario, played on a simulated phone, is observable through the real adb server.

For each expectation a scenario states, the test reads the phone the way a guard would (plain
``adb shell`` commands through the real server) and finds the evidence: the package in the
package list, the grant in ``dumpsys package``, the running op in ``dumpsys appops``, the
process start in the event log, the admin in ``dumpsys device_policy``.
"""

from __future__ import annotations

import threading

import pytest

from agent.adb import AdbClient, DeviceLink, ServerAddress
from agent.sim.host import SimHost
from agent.sim.scenario import Expectation, Scenario, list_scenarios, run_scenario
from tests.adbserver import AdbServer
from tests.support import Plug

SPEED = 20.0


def _evidence(link: DeviceLink, exp: Expectation, during_use: bool) -> str | None:
    """The line of device output that shows ``exp`` happened, or None."""
    f = exp.fields
    pkg = str(f.get("package", ""))
    if exp.event in ("package_installed", "package_updated"):
        out = link.shell(["pm", "list", "packages", "--user", "0"]).stdout
        return next((ln for ln in out.splitlines() if ln == f"package:{pkg}"), None)
    if exp.event == "package_removed":
        # Removal leaves the package in the Package Changes list of the boot.
        out = link.shell(["dumpsys", "package", "changes"]).stdout
        return next((ln for ln in out.splitlines() if ln.endswith(f"package={pkg}")), None)
    if exp.event == "permission_granted":
        out = link.shell(["dumpsys", "package", pkg]).stdout
        user_block = out.split(f"User {f.get('user', 0)}:", 1)[-1]
        return next(
            (ln for ln in user_block.splitlines() if f"{f['permission']}: granted=true" in ln),
            None,
        )
    if exp.event == "appop_changed":
        # Uid-scope modes: the 'OP: mode=x' lines under the app's Uid block.
        out = link.shell(["dumpsys", "appops", "--op", str(f["op"])]).stdout
        return next(
            (ln for ln in out.splitlines() if ln.strip() == f"{f['op']}: mode={f['mode']}"), None
        )
    if exp.event.startswith("sensitive_use"):
        out = link.shell(["dumpsys", "appops", "--package", pkg]).stdout
        if not during_use or f["op"] in ("READ_CLIPBOARD", "READ_CONTACTS"):
            return next((ln for ln in out.splitlines() if f"{f['op']} (" in ln), None)
        return "Running start at" if "Running start at" in out else None
    if exp.event in ("autostart", "associated_start"):
        out = link.shell(["logcat", "-b", "events", "-d"]).stdout
        starts = [ln for ln in out.splitlines() if "am_proc_start" in ln and pkg in ln]
        return starts[-1] if starts else None
    if exp.event == "device_admin_added":
        out = link.shell(["dumpsys", "device_policy"]).stdout
        return next((ln for ln in out.splitlines() if pkg in ln), None)
    if exp.event == "device_rebooted":
        out = link.shell(["logcat", "-b", "events", "-d"]).stdout
        return next((ln for ln in out.splitlines() if "boot_progress_start" in ln), None)
    raise AssertionError(f"no evidence rule for {exp.event}")


@pytest.mark.parametrize("scenario", list_scenarios(), ids=lambda s: s.name)
@pytest.mark.parametrize("profile", ["galaxy-a40-a10", "pixel8-a15"])
def test_scenario_is_visible_through_adb(
    scenario: Scenario, profile: str, host: SimHost, adb_server: AdbServer, plug: Plug
) -> None:
    device = plug(profile, work_profile=scenario.needs_work_profile)
    link = AdbClient(ServerAddress("127.0.0.1", adb_server.port), start_server=False).link(
        device.serial
    )
    uses = [e for e in scenario.expect if e.event == "sensitive_use_started"]
    done = threading.Event()
    # Uses are looked at while they last, so they get a wider window on a busy machine.
    speed = SPEED / 5 if uses else SPEED
    future = host.submit(run_scenario(device, scenario, speed=speed))
    future.add_done_callback(lambda _: done.set())
    seen_during_use: dict[int, str | None] = {}
    if uses:
        # Look while the use is going on: the op must show as running (or recorded).
        use = min((s for s in scenario.steps if s.action == "use"), key=lambda s: s.at)
        midway = (use.at + float(use.args.get("duration", 2.0)) / 2) / speed
        done.wait(timeout=midway)
        for i, exp in enumerate(uses):
            seen_during_use[i] = _evidence(link, exp, during_use=True)
    future.result(timeout=60)
    if any(s.action == "reboot" for s in scenario.steps):
        adb_server.run("connect", device.serial)
        adb_server.wait_state(device.serial, "device", timeout=30)
    for exp in scenario.expect:
        if exp.event == "sensitive_use_started":
            assert seen_during_use[uses.index(exp)], f"{scenario.name}: {exp} not visible"
            continue
        assert _evidence(link, exp, during_use=False), f"{scenario.name}: {exp} not visible"
