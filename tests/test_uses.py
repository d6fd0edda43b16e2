"""The live-use watch (agent.uses): probe outputs from simulated phones of every release, in
process, and two scenarios end to end through the real adb server with a UseWorker."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from agent.adb import AdbClient, DeviceOffline, InvalidArgument, Script, ShellResult
from agent.collect import Collector
from agent.events import KINDS, Consent, Event, Severity
from agent.model import (
    AppOpsDump,
    DeviceProps,
    PackageDump,
    PackageInfo,
    PackageUserState,
    PermissionGrant,
)
from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import apply_step, load_scenario, run_scenario, start_use, stop_use
from agent.snapshot import Snapshot
from agent.uses import UseMonitor, UseWorker, foreground_of, permission_consent
from tests.locallink import LocalLink
from tests.support import Plug

RELEASES = sorted(PROFILES, key=lambda p: PROFILES[p].build.sdk)
P = "android.permission."


def _phone(profile: str = "pixel6a-a14") -> tuple[SimDevice, LocalLink]:
    device = SimDevice(build_state(PROFILES[profile]))
    return device, LocalLink(device)


def _monitor(link: Any, **kwargs: Any) -> UseMonitor:
    kwargs.setdefault("slow_every", 1)
    kwargs.setdefault("noted_hold", 0.0)
    return UseMonitor(link, **kwargs)


def _brief(events: Sequence[Event]) -> list[tuple[str, str | None, str, Any]]:
    return [(e.kind, e.package, e.detail["op"], e.detail["foreground"]) for e in events]


# ---------------------------------------------------------------------------- runs
@pytest.mark.parametrize("profile", RELEASES)
def test_mic_and_camera_start_and_stop_with_foreground_flags(profile: str) -> None:
    device, link = _phone(profile)
    monitor = _monitor(link)
    assert monitor.tick() == []  # nothing runs: the first look reports nothing
    start_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO", {"state": "bg"})
    start_use(device.state, "com.eg.android.AlipayGphone", 0, "CAMERA", {"state": "top"})
    started = monitor.tick()
    assert _brief(started) == [
        ("sensitive_use_started", "com.tencent.mm", "RECORD_AUDIO", False),
        ("sensitive_use_started", "com.eg.android.AlipayGphone", "CAMERA", True),
    ]
    mic, camera = started
    assert mic.severity is Severity.HIGH and camera.severity is Severity.MEDIUM
    for event in started:
        assert event.consent is Consent.NONE
        assert event.clause == "MIIT II.(4).11"
        assert event.serial == link.serial
        assert event.user == 0
        assert event.detail["already_running"] is False
        assert event.detail["attribution_tag"] is None
        assert event.detail["permission_consent"] == "unknown"  # no snapshot given
        assert event.kind in KINDS
    assert mic.detail["uid_state"] == "bg" and camera.detail["uid_state"] == "top"
    assert monitor.tick() == []  # still running: nothing new
    time.sleep(0.25)
    stop_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO")
    stopped = monitor.tick()
    assert _brief(stopped) == [("sensitive_use_stopped", "com.tencent.mm", "RECORD_AUDIO", False)]
    # The phone's own recorded duration of the finished access.
    assert 0.2 <= stopped[0].detail["duration_s"] < 5
    assert stopped[0].severity is Severity.HIGH
    stop_use(device.state, "com.eg.android.AlipayGphone", 0, "CAMERA")
    stopped = monitor.tick()
    assert _brief(stopped) == [
        ("sensitive_use_stopped", "com.eg.android.AlipayGphone", "CAMERA", True)
    ]
    assert stopped[0].severity is Severity.MEDIUM
    assert monitor.tick() == []
    assert monitor.warnings == []


@pytest.mark.parametrize("profile", RELEASES)
def test_a_quiet_tick_costs_tens_of_bytes(profile: str) -> None:
    _device, link = _phone(profile)
    monitor = _monitor(link)  # every op, every tick
    monitor.tick()  # the baseline fetch of the noted ops is the only big answer
    for _ in range(3):
        assert monitor.tick() == []
        assert monitor.cost.last_bytes < 64  # the end marker alone
    assert monitor.cost.round_trips == 4  # one per tick
    # Nothing runs on a quiet phone; the hashed ops were fetched once (the baseline).
    assert monitor.cost.fetches == 10


def test_a_running_use_refreshes_but_stays_small() -> None:
    device, link = _phone()
    monitor = _monitor(link)
    monitor.tick()
    start_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO", {"state": "bg"})
    monitor.tick()
    monitor.tick()
    assert monitor.cost.last_bytes < 4096  # the mic's filtered structure, not a full dump


@pytest.mark.parametrize("profile", RELEASES)
def test_use_running_before_the_first_tick_is_reported_at_it(profile: str) -> None:
    device, link = _phone(profile)
    start_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO", {"state": "fgsvc"})
    start_use(device.state, "com.taobao.taobao", 0, "FINE_LOCATION", {"state": "bg"})
    device.state.op("com.tencent.mm", 0, "RECORD_AUDIO").running_since_ms -= 30_000
    events = _monitor(link).tick()
    by_op = {e.detail["op"]: e for e in events}
    assert {e.kind for e in events} == {"sensitive_use_started"}
    # One location use, not one event per op the platform runs for it.
    assert sorted(e.detail["op"] for e in events) == ["FINE_LOCATION", "RECORD_AUDIO"]
    assert by_op["FINE_LOCATION"].detail["location_ops"] == [
        "FINE_LOCATION",
        "MONITOR_HIGH_POWER_LOCATION",
        "MONITOR_LOCATION",
    ]
    assert all(e.detail["already_running"] is True for e in events)
    assert by_op["RECORD_AUDIO"].detail["foreground"] is True
    assert by_op["RECORD_AUDIO"].detail["running_for_s"] >= 30
    assert by_op["FINE_LOCATION"].detail["foreground"] is False
    assert by_op["FINE_LOCATION"].package == "com.taobao.taobao"


def test_the_shell_uid_is_never_reported() -> None:
    device, link = _phone()
    monitor = _monitor(link)
    monitor.tick()
    device.state.start_op("com.android.shell", 0, "RECORD_AUDIO", state="fg")
    device.state.note_op("com.android.shell", 0, "READ_CLIPBOARD", state="fg")
    assert monitor.tick() == []
    device.state.finish_op("com.android.shell", 0, "RECORD_AUDIO")
    assert monitor.tick() == []


def test_attribution_tags_are_reported_apart() -> None:
    device, link = _phone("pixel8-a15")
    monitor = _monitor(link)
    monitor.tick()
    device.state.start_op("com.tencent.mm", 0, "CAMERA", state="top", tag="video_call")
    events = monitor.tick()
    assert [(e.detail["op"], e.detail["attribution_tag"]) for e in events] == [
        ("CAMERA", "video_call")
    ]
    device.state.finish_op("com.tencent.mm", 0, "CAMERA")
    assert [e.detail["attribution_tag"] for e in monitor.tick()] == ["video_call"]


def test_a_foreground_use_going_on_in_the_background_is_reported() -> None:
    device, link = _phone()
    monitor = _monitor(link)
    monitor.tick()
    start_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO", {"state": "top"})
    (first,) = monitor.tick()
    assert first.detail["foreground"] is True and first.severity is Severity.MEDIUM
    uid = device.state.packages["com.tencent.mm"].uid(0)
    device.state.uid_states[uid] = "cch"
    (moved,) = monitor.tick()
    assert moved.kind == "sensitive_use_started"
    assert moved.detail["went_background"] is True
    assert moved.detail["foreground"] is False and moved.severity is Severity.HIGH
    assert monitor.tick() == []  # once per run
    stop_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO")
    (stopped,) = monitor.tick()
    assert stopped.detail["background_seen"] is True and stopped.severity is Severity.HIGH


def test_a_restart_between_two_probes_is_a_stop_and_a_start() -> None:
    device, link = _phone()
    monitor = _monitor(link)
    start_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO", {"state": "top"})
    entry = device.state.op("com.tencent.mm", 0, "RECORD_AUDIO")
    entry.running_since_ms -= 10_000
    monitor.tick()
    entry.running_since_ms = device.state.now_ms()  # finished and started again
    events = monitor.tick()
    assert [e.kind for e in events] == ["sensitive_use_stopped", "sensitive_use_started"]
    assert events[0].detail["duration_s"] >= 10


# ---------------------------------------------------------------------------- noted ops
@pytest.mark.parametrize("profile", RELEASES)
def test_noted_clipboard_and_contacts_reads(profile: str) -> None:
    device, link = _phone(profile)
    monitor = _monitor(link)
    assert monitor.tick() == []  # the first fetch is the baseline: history is not news
    start_use(device.state, "com.ss.android.ugc.aweme", 0, "READ_CLIPBOARD", {"state": "bg"})
    (clip,) = monitor.tick()
    assert _brief([clip]) == [
        ("sensitive_use_started", "com.ss.android.ugc.aweme", "READ_CLIPBOARD", False)
    ]
    assert clip.detail["noted"] is True and clip.severity is Severity.HIGH
    assert clip.detail["permission_consent"] == "unknown"  # the clipboard has no permission
    assert monitor.tick() == []  # the same access is not news twice
    start_use(
        device.state,
        "com.whatsapp",
        0,
        "READ_CONTACTS",
        {"state": "fgsvc", "proxy": "com.android.providers.contacts"},
    )
    (contacts,) = monitor.tick()
    assert _brief([contacts]) == [("sensitive_use_started", "com.whatsapp", "READ_CONTACTS", True)]
    assert contacts.detail["noted"] is True and contacts.severity is Severity.MEDIUM
    if PROFILES[profile].build.sdk >= 29:  # P prints no proxy
        assert contacts.detail["proxy"]["package"] == "com.android.providers.contacts"
    time.sleep(0.01)  # a later millisecond: a new access time
    start_use(device.state, "com.whatsapp", 0, "READ_CONTACTS", {"state": "fgsvc"})
    assert len(monitor.tick()) == 1  # every new access (noted_hold=0)
    assert monitor.warnings == []


def test_repeated_noted_reads_are_held() -> None:
    device, link = _phone()
    monitor = _monitor(link, noted_hold=60.0)
    monitor.tick()
    for _ in range(3):
        start_use(device.state, "com.whatsapp", 0, "READ_CONTACTS", {"state": "top"})
        monitor.tick()
        time.sleep(0.01)
    start_use(device.state, "com.whatsapp", 0, "READ_CONTACTS", {"state": "bg"})
    events = monitor.tick()
    # One for the foreground reads; a background read is news again despite the hold.
    assert [e.detail["foreground"] for e in events] == [False]


def test_slow_ops_are_probed_every_slow_every_ticks() -> None:
    device, link = _phone()
    monitor = UseMonitor(link, slow_every=4, noted_hold=0)
    monitor.tick()
    start_use(device.state, "com.ss.android.ugc.aweme", 0, "READ_CLIPBOARD", {"state": "bg"})
    assert [monitor.tick() for _ in range(3)] == [[], [], []]
    assert "READ_CLIPBOARD" not in link.commands[-1]
    (clip,) = monitor.tick()
    assert clip.detail["op"] == "READ_CLIPBOARD"
    assert "READ_CLIPBOARD" in link.commands[-1]


# ---------------------------------------------------------------------------- scenarios
USE_SCENARIOS = ["background-mic", "camera-use", "location-use", "clipboard-read", "contacts-read"]
SCENARIO_CASES = [(name, profile) for name in USE_SCENARIOS for profile in RELEASES]


@pytest.mark.parametrize(
    ("name", "profile"), SCENARIO_CASES, ids=[f"{n}-{p}" for n, p in SCENARIO_CASES]
)
def test_each_use_scenario_meets_its_expectations_in_process(name: str, profile: str) -> None:
    scenario = load_scenario(name)
    device, link = _phone(profile)
    for step in scenario.setup:
        apply_step(device.state, step)
    monitor = _monitor(link)
    assert monitor.tick() == []
    for step in scenario.steps:
        apply_step(device.state, step)
    events = monitor.tick()
    for exp in scenario.expect:
        hits = [
            e
            for e in events
            if e.kind == "sensitive_use_started"
            and e.package == exp.fields["package"]
            and e.detail["op"] == exp.fields["op"]
        ]
        assert len(hits) == 1, [(e.kind, e.package, dict(e.detail)) for e in events]
        if "foreground" in exp.fields:
            assert hits[0].detail["foreground"] is exp.fields["foreground"]
        if exp.fields.get("finding") == "background_sensitive_use":
            assert hits[0].severity is Severity.HIGH
    # Ops the step really started too (a location request starts MONITOR_*), nothing else.
    assert {e.package for e in events} == {exp.fields["package"] for exp in scenario.expect}


# ---------------------------------------------------------------------------- consent
def _snapshot(grants: Sequence[PermissionGrant], *, shared: bool = False) -> Snapshot:
    state = PackageUserState(0, runtime_permissions=tuple(grants))
    if shared:
        pkg = PackageInfo("com.x", uid=10100, shared_user="x.shared")
        owner = PackageInfo("x.shared", users=(state,))
        packages = PackageDump(packages=(pkg,), shared_users={"x.shared": owner})
    else:
        packages = PackageDump(packages=(PackageInfo("com.x", uid=10100, users=(state,)),))
    return Snapshot("s", 0.0, DeviceProps(), (), packages, AppOpsDump())


@pytest.mark.parametrize(
    ("grants", "op", "verdict"),
    [
        (
            [PermissionGrant(P + "RECORD_AUDIO", True, frozenset({"USER_SET"}))],
            "RECORD_AUDIO",
            "user",
        ),
        (
            [PermissionGrant(P + "RECORD_AUDIO", True, frozenset({"USER_FIXED"}))],
            "PHONE_CALL_MICROPHONE",
            "user",
        ),
        (
            [PermissionGrant(P + "CAMERA", True, frozenset({"GRANTED_BY_DEFAULT"}))],
            "CAMERA",
            "platform",
        ),
        ([PermissionGrant(P + "CAMERA", True)], "CAMERA", "none"),
        ([PermissionGrant(P + "CAMERA", False, frozenset({"USER_SET"}))], "CAMERA", "unknown"),
        (
            [PermissionGrant(P + "ACCESS_FINE_LOCATION", True, frozenset({"POLICY_FIXED"}))],
            "MONITOR_LOCATION",
            "platform",
        ),
        ([PermissionGrant(P + "READ_CONTACTS", True)], "READ_CLIPBOARD", "unknown"),
    ],
)
def test_permission_consent_follows_the_detect_flag_rules(
    grants: list[PermissionGrant], op: str, verdict: str
) -> None:
    assert permission_consent(_snapshot(grants), "com.x", 0, op)[0] == verdict
    assert permission_consent(_snapshot(grants, shared=True), "com.x", 0, op)[0] == verdict


def test_permission_consent_without_a_snapshot_or_package() -> None:
    assert permission_consent(None, "com.x", 0, "CAMERA") == ("unknown", None)
    assert permission_consent(_snapshot([]), "com.y", 0, "CAMERA") == ("unknown", None)


def test_events_carry_the_consent_of_the_latest_snapshot() -> None:
    device, link = _phone()
    device.state.grant("com.tencent.mm", 0, P + "RECORD_AUDIO", ["USER_SET"])
    monitor = _monitor(link)
    monitor.tick(Collector(link).full())
    start_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO", {"state": "bg"})
    (event,) = monitor.tick()  # no snapshot this time: the latest one given counts
    assert event.detail["permission_consent"] == "user"
    assert event.detail["permission"] == P + "RECORD_AUDIO"


def test_foreground_of() -> None:
    assert [foreground_of(s) for s in ("top", "fgsvc", "fg", "pers", "bg", "cch", None)] == [
        True,
        True,
        True,
        True,
        False,
        False,
        None,
    ]


# ---------------------------------------------------------------------------- the script
@pytest.mark.parametrize(
    "ops", [["CAMERA; reboot"], ["android:camera"], ["26"], ["CAMERA", "CAMERA"], ["a'b"]]
)
def test_op_names_are_validated(ops: list[str]) -> None:
    _, link = _phone()
    with pytest.raises(InvalidArgument):
        UseMonitor(link, fast_ops=ops, slow_ops=())


class _Canned:
    """A link answering every probe with a fixed text (or raising)."""

    serial = "canned:1"

    def __init__(self, text: str = "", error: Exception | None = None) -> None:
        self.text = text
        self.error = error
        self.calls = 0

    def shell(self, command: Script, *, timeout: float | None = None) -> ShellResult:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return ShellResult(self.serial, str(command), self.text.encode(), b"", 0, 0.0)


def test_a_cut_off_probe_reports_nothing_and_says_so() -> None:
    monitor = UseMonitor(_Canned("@@tg-forged:run:CAMERA\n  Uid u0a5:\n"))
    assert monitor.tick() == []
    assert "no end marker" in monitor.warnings[-1]


def test_one_round_trip_per_tick_whatever_the_op_count() -> None:
    _device, link = _phone()
    monitor = _monitor(link)
    for _ in range(3):
        monitor.tick()
    assert len(link.commands) == 3
    assert link.commands[0].count("dumpsys appops --op") == 14 * 2  # probe + fetch per op


# ---------------------------------------------------------------------------- the worker
def test_worker_publishes_and_stops_from_any_thread() -> None:
    device, link = _phone()
    got: list[Event] = []
    ticked = threading.Event()

    class Counting(UseMonitor):
        def tick(self, snapshot: Snapshot | None = None) -> list[Event]:
            events = super().tick(snapshot)
            ticked.set()
            return events

    worker = UseWorker(Counting(link), got.append, period=0.05).start()
    assert ticked.wait(10)
    start_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO", {"state": "bg"})
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    stopper.join(10)
    assert not worker.alive and worker.error is None
    assert _brief(got)[:1] == [("sensitive_use_started", "com.tencent.mm", "RECORD_AUDIO", False)]


def test_worker_ends_cleanly_on_a_device_error() -> None:
    errors: list[BaseException] = []
    link = _Canned(error=DeviceOffline("gone", serial="canned:1"))
    worker = UseWorker(UseMonitor(link), lambda e: None, period=0.01, on_error=errors.append)
    worker.start()
    deadline = time.monotonic() + 10
    while worker.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not worker.alive
    assert isinstance(worker.error, DeviceOffline) and errors == [worker.error]
    assert link.calls == 1
    worker.stop()  # stopping an ended worker is fine


def test_worker_can_stop_itself_from_its_callback() -> None:
    device, link = _phone()
    start_use(device.state, "com.tencent.mm", 0, "RECORD_AUDIO", {"state": "bg"})
    got: list[Event] = []
    worker: UseWorker

    def publish(event: Event) -> None:
        got.append(event)
        worker.stop()

    worker = UseWorker(UseMonitor(link), publish, period=0.05)
    worker.start()
    deadline = time.monotonic() + 10
    while worker.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not worker.alive and len(got) >= 1


def test_worker_rejects_a_bad_period() -> None:
    _, link = _phone()
    with pytest.raises(ValueError, match="period"):
        UseWorker(UseMonitor(link), lambda e: None, period=0)


# ---------------------------------------------------------------------------- end to end
E2E = [
    (scenario, profile)
    for scenario in ("background-mic", "camera-use")
    for profile in ("fire-hd10-a9", "moto-g30-a11", "pixel8-a15")
]


@pytest.fixture
def plugged(plug: Plug, request: pytest.FixtureRequest) -> SimDevice:
    return plug(request.param)


@pytest.mark.parametrize(
    ("name", "plugged"), E2E, ids=[f"{s}-{p}" for s, p in E2E], indirect=["plugged"]
)
def test_scenario_end_to_end_through_adb(
    name: str, plugged: SimDevice, host: SimHost, client: AdbClient
) -> None:
    device = plugged
    scenario = load_scenario(name)
    for step in scenario.setup:
        host.call(lambda s=step: apply_step(device.state, s))
    got: list[Event] = []
    lock = threading.Lock()

    def publish(event: Event) -> None:
        with lock:
            got.append(event)

    monitor = UseMonitor(client.link(device.serial))
    with UseWorker(monitor, publish, period=0.2) as worker:
        deadline = time.monotonic() + 30
        while monitor.cost.ticks < 1:  # the first look, before the story begins
            assert time.monotonic() < deadline and worker.alive
            time.sleep(0.02)
        host.submit(run_scenario(device, scenario, speed=2)).result(timeout=60)
        time.sleep(1.0)  # a few more ticks: the stop, late or duplicate events
    assert worker.error is None
    with lock:
        events = list(got)
    for exp in scenario.expect:
        fields = exp.fields
        for kind in ("sensitive_use_started", "sensitive_use_stopped"):
            hits = [
                e
                for e in events
                if e.kind == kind
                and e.package == fields["package"]
                and e.detail["op"] == fields["op"]
            ]
            assert len(hits) == 1, f"{kind}: {[(e.kind, dict(e.detail)) for e in events]}"
            assert hits[0].detail["foreground"] is fields["foreground"]
            expected = Severity.MEDIUM if fields["foreground"] else Severity.HIGH
            assert hits[0].severity is expected
            assert hits[0].serial == device.serial
        (stop,) = [e for e in events if e.kind == "sensitive_use_stopped"]
        duration = float(scenario.steps[0].args["duration"]) / 2
        assert abs(stop.detail["duration_s"] - duration) < 0.5
    assert all(e.detail["op"] in ("RECORD_AUDIO", "CAMERA") for e in events)
    assert all(e.consent is Consent.NONE and e.clause == "MIIT II.(4).11" for e in events)


@pytest.mark.parametrize("profile", ["galaxy-a40-a10", "pixel8-a15"])
def test_a_location_request_is_one_use_however_many_ops_show_it(profile: str) -> None:
    # As a real phone shows a request: MONITOR_LOCATION runs while it lasts, FINE_LOCATION is
    # noted at each delivery.
    device, link = _phone(profile)
    state = device.state
    monitor = _monitor(link)
    assert monitor.tick() == []
    start_use(state, "com.taobao.taobao", 0, "RECORD_AUDIO", {"state": "fgsvc"})
    stop_use(state, "com.taobao.taobao", 0, "RECORD_AUDIO")  # the app is running now
    monitor.tick()
    state.start_op("com.taobao.taobao", 0, "MONITOR_LOCATION", state="fgsvc")
    state.note_op("com.taobao.taobao", 0, "FINE_LOCATION", state="fgsvc", flags="s")
    started = monitor.tick()
    assert [(e.kind, e.detail["op"]) for e in started] == [
        ("sensitive_use_started", "FINE_LOCATION")
    ]
    assert started[0].detail["location_ops"] == ["FINE_LOCATION", "MONITOR_LOCATION"]
    time.sleep(0.05)
    state.note_op("com.taobao.taobao", 0, "FINE_LOCATION", state="fgsvc", flags="s")
    state.start_op("com.taobao.taobao", 0, "MONITOR_HIGH_POWER_LOCATION", state="fgsvc")
    assert monitor.tick() == []  # more of the same use
    state.finish_op("com.taobao.taobao", 0, "MONITOR_HIGH_POWER_LOCATION")
    assert monitor.tick() == []  # GPS off, the request goes on
    state.finish_op("com.taobao.taobao", 0, "MONITOR_LOCATION")
    stopped = monitor.tick()
    assert [(e.kind, e.detail["op"]) for e in stopped] == [
        ("sensitive_use_stopped", "FINE_LOCATION")
    ]
    assert monitor.tick() == []
