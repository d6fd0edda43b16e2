"""The TUI driven as a person would (Textual's pilot) against simulated phones behind the real
adb server: a finding arrives as a toast and in the inbox, one key and a confirmation act on
it, the phone is changed, and z undoes it; the device and app screens act on rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input

from agent.adb import AdbClient
from agent.engine import Engine
from agent.events import Consent, Event, Severity
from agent.sim.device import SimDevice
from agent.store import Store
from tests.support import Plug
from tui.app import TetherguardApp
from tui.model import FleetModel, remedy
from tui.screens import (
    AlertsScreen,
    AppScreen,
    ConfirmScreen,
    DeviceScreen,
    FleetScreen,
    RefusedScreen,
    safe,
)
from tui.source import EngineSource

WEIBO, CONTACTS = "com.sina.weibo", "android.permission.READ_CONTACTS"


async def _until(predicate: Callable[[], object]) -> None:
    """Wait (letting the app run) until ``predicate`` holds; fails after 30 s."""
    async with asyncio.timeout(30):
        while not predicate():  # noqa: ASYNC110 - the state lives in other threads too
            await asyncio.sleep(0.05)


@pytest.fixture
async def running(
    plug: Plug, client: AdbClient, tmp_path: Path
) -> AsyncIterator[tuple[TetherguardApp, SimDevice, Store]]:
    device = plug("pixel6a-a14")
    with Store.open(tmp_path / "tg.db") as store:
        engine = Engine(client, store, interval=0.2, serials=[device.serial], use_period=0.2)
        engine.start()
        app = TetherguardApp(EngineSource(engine, actor="tui:test"), refresh_s=0.1)
        try:
            yield app, device, store
        finally:
            engine.stop()


def _table(app: TetherguardApp, selector: str) -> DataTable[object]:
    return app.screen.query_one(selector, DataTable)


async def _fleet_shown(app: TetherguardApp, device: SimDevice, store: Store) -> None:
    """The fleet screen is up and lists the phone, whose first look is stored."""
    await _until(lambda: isinstance(app.screen, FleetScreen) and app.screen.ready)
    await _until(lambda: store.load_snapshot(device.serial) is not None)
    await _until(lambda: _table(app, "#fleet").row_count == 1)


def _cells(table: DataTable[object]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_a_finding_is_toasted_revoked_with_one_key_and_undone(
    running: tuple[TetherguardApp, SimDevice, Store], plug: Plug
) -> None:
    app, device, store = running
    state = device.state
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await _fleet_shown(app, device, store)
        plug.host.call(lambda: state.grant(WEIBO, 0, CONTACTS))  # nobody consented
        await _until(lambda: app.model.open_findings())
        await _until(lambda: any("com.sina.weibo" in str(n.message) for n in app._notifications))
        await pilot.press("a")
        await _until(lambda: isinstance(app.screen, AlertsScreen) and app.screen.ready)
        await _until(lambda: _table(app, "#alerts").row_count == 1)
        row = _cells(_table(app, "#alerts"))[0]
        assert row[3] == "permission_granted" and row[4] == WEIBO
        assert row[7] == f"revoke {CONTACTS} from {WEIBO}"
        await pilot.press("r")
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await _until(lambda: not state.packages[WEIBO].users[0].permissions[CONTACTS].granted)
        await _until(lambda: any(n.title == "Done" for n in app._notifications))
        done = next(n for n in app._notifications if n.title == "Done")
        assert "read back: granted=False" in str(done.message)
        await _until(lambda: _table(app, "#alerts").row_count == 0)  # acted on
        await pilot.press("z")  # undo
        await _until(lambda: state.packages[WEIBO].users[0].permissions[CONTACTS].granted)
    actions = [(r.actor, r.action, r.status) for r in store.audit(serial=device.serial)]
    assert actions == [("tui:test", "revoke", "undone"), ("tui:test", "grant", "done")]


async def test_device_and_app_screens_filter_and_act_on_rows(
    running: tuple[TetherguardApp, SimDevice, Store],
) -> None:
    app, device, store = running
    state = device.state
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await _fleet_shown(app, device, store)
        await pilot.press("enter")
        assert isinstance(app.screen, DeviceScreen)
        await _until(lambda: app.screen.ready)
        apps = _table(app, "#apps")
        await _until(lambda: apps.row_count > 10)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        for ch in "tencentmm":
            await pilot.press(ch)
        await _until(lambda: apps.row_count == 1)
        assert _cells(apps)[0][0] == "com.tencent.mm"
        assert "camera" in _cells(apps)[0][4] and "mic" in _cells(apps)[0][4]
        apps.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, AppScreen)
        await _until(lambda: app.screen.ready)
        perms = _table(app, "#perms")
        await _until(lambda: perms.row_count > 0)
        names = [row[0] for row in _cells(perms)]
        assert "RECORD_AUDIO" in names
        await pilot.press("b")  # restrict background running
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # cancelled: nothing happens
        await pilot.pause()
        assert state.packages["com.tencent.mm"].users[0].standby_bucket != 45
        await pilot.press("b")
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await _until(lambda: state.packages["com.tencent.mm"].users[0].standby_bucket == 45)
        await _until(lambda: any(n.title == "Done" for n in app._notifications))
        perms.move_cursor(row=names.index("RECORD_AUDIO"))
        await pilot.press("r")
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        mic = "android.permission.RECORD_AUDIO"
        await _until(lambda: not state.packages["com.tencent.mm"].users[0].permissions[mic].granted)


async def test_a_protected_package_is_refused_with_the_reason(
    running: tuple[TetherguardApp, SimDevice, Store],
) -> None:
    app, device, store = running
    async with app.run_test(size=(140, 40)) as pilot:
        await _until(lambda: isinstance(app.screen, FleetScreen) and app.screen.ready)
        await _until(lambda: store.load_snapshot(device.serial) is not None)
        app.push_screen(AppScreen(device.serial, "com.android.systemui", 0))
        await _until(lambda: app.screen.ready)
        await pilot.press("d")
        await _until(lambda: isinstance(app.screen, RefusedScreen))
        assert device.state.packages["com.android.systemui"].users[0].enabled != 3


def test_device_text_never_becomes_markup_or_escapes() -> None:
    hostile = "[bold red]Update[/bold red]\x1b]8;;https://evil.example\x07x\x1b[5m"
    cell = safe(hostile)
    assert isinstance(cell, Text) and cell.spans == []
    assert "\x1b" not in cell.plain and "[bold red]" in cell.plain


def test_the_fleet_model_counts_findings_and_live_use() -> None:
    model = FleetModel()

    def event(kind: str, consent: Consent = Consent.NONE, **detail: object) -> Event:
        return Event(
            kind=kind,
            serial="S1",
            ts=0.0,
            consent=consent,
            severity=Severity.HIGH,
            user=0,
            package="com.x",
            detail=detail,
        )

    model.apply(event("sensitive_use_started", op="RECORD_AUDIO", foreground=False))
    model.apply(event("sensitive_use_started", op="CAMERA", foreground=True, noted=False))
    [view] = model.fleet()
    assert view.live == "camera mic" and view.findings == 2
    model.apply(event("sensitive_use_stopped", op="RECORD_AUDIO", foreground=False))
    assert view.live == "camera" and view.findings == 2  # an end is not a new finding
    finding = model.open_findings()[0]
    model.dismiss(finding)
    assert view.findings == 1
    assert remedy(event("silent_install")) is not None
    assert remedy(event("silent_install")).kind == "uninstall"  # type: ignore[union-attr]
    assert remedy(event("device_state")) is None


async def test_actions_the_phone_refuses_are_marked_and_explained(
    plug: Plug, client: AdbClient, tmp_path: Path
) -> None:
    device = plug("redmi-note11-a13")
    device.state.oem.blocks_permission_changes = True  # MIUI without its Security setting
    with Store.open(tmp_path / "tg.db") as store:
        engine = Engine(client, store, interval=0.2, serials=[device.serial], live=False)
        engine.start()
        app = TetherguardApp(EngineSource(engine, actor="tui:test"), refresh_s=0.1)
        try:
            async with app.run_test(size=(160, 40)) as pilot:
                await _until(lambda: isinstance(app.screen, FleetScreen) and app.screen.ready)
                await _until(lambda: store.load_snapshot(device.serial) is not None)
                app.push_screen(AppScreen(device.serial, "com.tencent.mm", 0))
                await _until(lambda: device.serial in app.capabilities)
                await _until(
                    lambda: "Not on this phone" in str(app.screen.query_one("#app-info").render())
                )
                shown = str(app.screen.query_one("#app-info").render())
                assert "revoke" in shown and "USB debugging (Security settings)" in shown
                await pilot.press("r")
                await _until(lambda: isinstance(app.screen, RefusedScreen))
                mic = "android.permission.RECORD_AUDIO"
                assert device.state.packages["com.tencent.mm"].users[0].permissions[mic].granted
        finally:
            engine.stop()


async def test_a_use_in_progress_is_stopped_from_the_live_tab(
    running: tuple[TetherguardApp, SimDevice, Store], plug: Plug
) -> None:
    app, device, store = running
    state, mm = device.state, "com.tencent.mm"
    mic = "android.permission.RECORD_AUDIO"
    async with app.run_test(size=(140, 40)) as pilot:
        await _fleet_shown(app, device, store)
        await _until(lambda: app.source.engine.live_ready(device.serial))  # type: ignore[attr-defined]
        plug.host.call(lambda: state.start_op(mm, 0, "RECORD_AUDIO", state="bg"))
        await _until(lambda: app.model.devices[device.serial].live == "mic")
        await _until(lambda: "mic" in _cells(_table(app, "#fleet"))[0][5])
        await pilot.press("enter", "2")  # the phone, its Live tab
        await _until(lambda: isinstance(app.screen, DeviceScreen) and app.screen.ready)
        live = _table(app, "#live")
        await _until(lambda: live.row_count == 1)
        assert _cells(live)[0][:3] == [mm, "RECORD_AUDIO", "background"]
        assert _cells(live)[0][4] == f"revoke {mic} from {mm}"
        await pilot.press("r")
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await _until(lambda: not state.packages[mm].users[0].permissions[mic].granted)
        await pilot.press("3")  # Events: the use and the revocation, attributed
        events = _table(app, "#events")
        await _until(
            lambda: (
                ["permission_revoked", "tetherguard"]
                in [[row[1], row[4]] for row in _cells(events)]
            )
        )


async def test_app_ops_are_set_from_the_app_screen_and_listed_in_its_activity(
    running: tuple[TetherguardApp, SimDevice, Store],
) -> None:
    app, device, store = running
    mm = "com.tencent.mm"
    async with app.run_test(size=(140, 40)) as pilot:
        await _fleet_shown(app, device, store)
        app.push_screen(AppScreen(device.serial, mm, 0))
        await _until(lambda: isinstance(app.screen, AppScreen) and app.screen.ready)
        info = str(app.screen.query_one("#app-info").render())
        assert "installed by com.android.vending" in info and "signer " in info
        await pilot.press("2")
        ops = _table(app, "#ops")
        await _until(lambda: "CAMERA" in [row[0] for row in _cells(ops)])
        ops.move_cursor(row=[row[0] for row in _cells(ops)].index("CAMERA"))
        await pilot.press("r")  # deny
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await _until(lambda: device.state.op(mm, 0, "CAMERA").mode == "ignore")
        await _until(lambda: ["CAMERA", "ignore"] in [row[:2] for row in _cells(ops)])
        await pilot.press("g")  # allow again
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        # as the phone reports it (appops), read back by the action and then by the engine
        await _until(lambda: ["CAMERA", "allow"] in [row[:2] for row in _cells(ops)])
        audit = [(r.action, r.status) for r in store.audit(serial=device.serial)]
        assert audit == [("appop", "done"), ("appop", "done")]
        await pilot.press("3")
        activity = _table(app, "#activity")
        await _until(lambda: [row[1] for row in _cells(activity)].count("appop_changed") >= 2)
        assert {row[3] for row in _cells(activity) if row[1] == "appop_changed"} == {"tetherguard"}


async def test_marked_findings_are_acted_on_after_one_confirmation(
    running: tuple[TetherguardApp, SimDevice, Store], plug: Plug
) -> None:
    app, device, store = running
    state = device.state
    apps = (WEIBO, "com.tencent.mm")
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await _fleet_shown(app, device, store)
        for package in apps:
            plug.host.call(lambda p=package: state.grant(p, 0, CONTACTS))
        await _until(lambda: len(app.model.open_findings()) == 2)
        await pilot.press("a")
        await _until(lambda: isinstance(app.screen, AlertsScreen) and app.screen.ready)
        await _until(lambda: _table(app, "#alerts").row_count == 2)
        await pilot.press("M", "r")  # mark all, act
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        assert len(app.screen.plans) == 2  # type: ignore[attr-defined]
        shown = str(app.screen.query_one("Static").render())
        assert "2 actions" in shown and all(f"Revoke {CONTACTS} from {p}" in shown for p in apps)
        await pilot.press("y")
        for package in apps:
            await _until(
                lambda p=package: not state.packages[p].users[0].permissions[CONTACTS].granted
            )
        await _until(lambda: any(n.title == "2 done" for n in app._notifications))
        await _until(lambda: _table(app, "#alerts").row_count == 0)


async def test_every_app_action_changes_the_phone_and_a_finding_is_accepted(
    running: tuple[TetherguardApp, SimDevice, Store], plug: Plug
) -> None:
    app, device, store = running
    state, tiktok = device.state, "com.ss.android.ugc.aweme"

    def user_state() -> Any:
        return state.packages[tiktok].users[0]

    async def act(key: str, done: Callable[[], object]) -> None:
        await pilot.press(key)
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await _until(done)
        await _until(lambda: isinstance(app.screen, AppScreen))

    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await _fleet_shown(app, device, store)
        component = f"{tiktok}/.Main"
        plug.host.call(
            lambda: state.start_process(tiktok, 0, reason="activity", component=component)
        )

        def running_now() -> bool:
            return any(p.package == tiktok for p in list(state.processes.values()))

        app.push_screen(AppScreen(device.serial, tiktok, 0))
        await _until(lambda: isinstance(app.screen, AppScreen) and app.screen.ready)
        assert running_now()
        await act("k", lambda: not running_now())  # force-stop
        await act("d", lambda: user_state().enabled == 3)  # disable (for the user)
        await act("e", lambda: user_state().enabled in (0, 1))  # enable
        await act("u", lambda: not user_state().installed)  # uninstall, data kept
        await act("s", lambda: user_state().installed)  # restore
        await act("B", lambda: True)  # allow background: nothing was restricted
        done = [n.title for n in app._notifications]
        assert done.count("Done") == 6 and "Failed" not in done
        audit = [r.action for r in store.audit(serial=device.serial)]
        assert audit == ["force_stop", "disable", "enable", "uninstall", "restore", "unrestrict"]
        # restored as it was: its app ops came back with it (in the same look), no finding
        await _until(
            lambda: (
                "package_installed"
                in [e.kind for e in store.events(serial=device.serial, package=tiktok)]
            )
        )
        assert app.model.open_findings() == []
        # a finding accepted into the baseline: no longer open, and remembered
        plug.host.call(lambda: state.grant(WEIBO, 0, CONTACTS))
        await _until(lambda: app.model.open_findings())
        assert [e.package for e in app.model.open_findings()] == [WEIBO]
        await pilot.press("a")
        await _until(lambda: isinstance(app.screen, AlertsScreen) and app.screen.ready)
        await _until(lambda: _table(app, "#alerts").row_count == 1)
        await pilot.press("A")
        await _until(lambda: _table(app, "#alerts").row_count == 0)
        assert [(b.package, b.kind) for b in store.baseline(device.serial)] == [
            (WEIBO, "permission_granted")
        ]
