"""Autostart and associated start: the event-log parser, the start tracker, the stream worker.

Three layers, as in ``agent.parsers.eventlog`` / ``agent.starts``:

* parsing - the lines the simulator's own logcat formatter prints for Android 9-15 (sdk 28-35)
  in every header format tetherguard or a capture uses, checked field by field against the
  records the simulated phone wrote; the real loghub threadtime capture; older and OEM shapes;
  hostile lines (spoofed writers, commas in names, cut payloads, garbage, megabyte lines);
* classification - a boot receiver after a reboot is an autostart, a service another app
  started is an associated start naming the caller, launcher taps and the shell's own
  ``am start`` are nothing; counts per app and day, and the start graph;
* end to end - simulated phones behind the real adb server play the ``boot-autostart`` and
  ``associated-start`` scenarios with a :class:`~agent.starts.StreamWorker` attached, which
  must report what each scenario expects (surviving the reboot's dropped link) and nothing for
  the launcher and shell starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.adb import AdbClient, DeviceLink
from agent.events import Consent, Event, Severity
from agent.model import (
    ActivityStart,
    BootMarker,
    ProcessDied,
    ProcessKilled,
    ProcessStart,
    ServiceRecordInfo,
)
from agent.parsers.eventlog import EventLogReader, parse_eventlog, parse_uid, split_line
from agent.parsers.services import parse_service_records
from agent.sim.android import activity
from agent.sim.device import SimDevice
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import Scenario, load_scenario, run_scenario
from agent.sim.state import Build, DeviceState, EventRecord, Package
from agent.starts import (
    CLAUSE,
    LOGCAT_ARGV,
    StartTracker,
    StreamWorker,
    platform_packages,
    uid_packages,
)
from tests.adbserver import AdbServer
from tests.locallink import LocalLink
from tests.support import wait_for

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "android-samples"
SDKS = (28, 29, 30, 31, 32, 33, 34, 35)
TAOBAO, ALIPAY, WEIBO = "com.taobao.taobao", "com.eg.android.AlipayGphone", "com.sina.weibo"
BOOTER, LAUNCHER = "com.example.boot", "com.google.android.apps.nexuslauncher"
FORMATS: dict[str, tuple[str, ...]] = {
    "epoch-uid": ("-v", "epoch", "-v", "uid"),  # what the stream asks for
    "epoch": ("-v", "epoch"),
    "epoch-usec": ("-v", "epoch", "-v", "usec"),
    "threadtime": (),
    "threadtime-uid": ("-v", "uid"),
    "year-zone": ("-v", "year", "-v", "zone"),
    "time": ("-v", "time"),
    "monotonic": ("-v", "monotonic"),
}
TIMED = {"epoch-uid", "epoch", "epoch-usec", "year-zone"}
"""Formats whose header names a moment (the others give ``time_ms=None``)."""


# ====================================================================== a simulated phone
def phone(sdk: int = 35) -> tuple[DeviceState, LocalLink]:
    """A small phone: the shell and launcher packages, a boot-receiver app, three user apps."""
    state = DeviceState(Build(sdk=sdk, release=str(sdk - 19)))
    state.install(Package("com.android.shell", 2000, system=True, launcher_activity=None))
    state.install(Package(LAUNCHER, 0, system=True))
    state.install(Package(BOOTER, 0, boot_receivers=[".BootReceiver"]))
    for name in (TAOBAO, ALIPAY, WEIBO):
        state.install(Package(name, 0))
    return state, LocalLink(SimDevice(state))


def play_story(state: DeviceState, link: LocalLink) -> None:
    """A launcher tap, a service another app starts, an activity another app starts, the
    shell's own ``am start``, a kill, and a broadcast start."""
    activity.start_activity(state, TAOBAO, 0, from_launcher=True)
    state.start_process(
        ALIPAY, 0, reason="service", component=f"{ALIPAY}/.PushService", caller=TAOBAO, state="bg"
    )
    weibo = activity.start_activity(state, WEIBO, 0, caller=TAOBAO)
    assert link.shell(["am", "start", "-n", f"{BOOTER}/.MainActivity"]).exit_code == 0
    state.kill(weibo.pid, f"stop {WEIBO}")
    assert link.shell(["am", "broadcast", "-n", f"{WEIBO}/.PushReceiver"]).exit_code == 0


def logcat(link: LocalLink, *fmt: str) -> str:
    result = link.shell(["logcat", "-d", "-b", "events", "-b", "system", *fmt])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def written(state: DeviceState, tag: str) -> list[EventRecord]:
    return [r for r in state.events if r.tag == tag]


def knowledge(state: DeviceState) -> dict[str, Any]:
    """What a snapshot would tell the tracker about this phone."""
    uids: dict[int, set[str]] = {}
    for pkg in state.packages.values():
        for user in pkg.users:
            uids.setdefault(pkg.uid(user), set()).add(pkg.name)
    return {
        "uid_packages": {uid: frozenset(names) for uid, names in uids.items()},
        "platform": frozenset(p.name for p in state.packages.values() if p.system),
    }


def sim_lookup(link: LocalLink) -> Callable[[ProcessStart], Sequence[ServiceRecordInfo]]:
    def lookup(start: ProcessStart) -> Sequence[ServiceRecordInfo]:
        out = link.shell(["dumpsys", "activity", "services", start.package]).stdout
        return parse_service_records(out).value

    return lookup


def tracked(state: DeviceState, link: LocalLink, **kwargs: Any) -> StartTracker:
    return StartTracker("sim", **{**knowledge(state), "lookup": sim_lookup(link), **kwargs})


# ====================================================================== parsing: simulator lines
@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("sdk", SDKS)
def test_every_release_and_format_parses_to_what_the_phone_wrote(sdk: int, fmt: str) -> None:
    state, link = phone(sdk)
    play_story(state, link)
    parsed = parse_eventlog(logcat(link, *FORMATS[fmt]))
    counts = parsed.value.counts
    assert parsed.warnings == ()
    assert (counts.unknown, counts.malformed, counts.spoofed) == (0, 0, 0), counts
    records = parsed.value.records

    # Process starts: one record per am_proc_start, both buffers' views merged.
    starts = [r for r in records if isinstance(r, ProcessStart)]
    wrote = written(state, "am_proc_start")
    assert len(starts) == len(wrote) == 5
    assert counts.merged == 5
    for rec, ev in zip(starts, wrote, strict=True):
        user, pid, uid, name, htype, component = ev.values
        assert (rec.user, rec.pid, rec.uid, rec.process, rec.hosting_type) == (
            user,
            pid,
            uid,
            name,
            htype,
        )
        # P prints pkg/.Cls, Q+ {pkg/full.Class}: both read back as the short form.
        assert rec.component == activity.short_component(
            activity.hosting_component(str(component), sdk)
        )
        assert rec.sources == {"am_proc_start", "Start proc"}
        assert rec.time_ms == (ev.time_ms if fmt in TIMED else None)
    top = "top-activity" if sdk >= 30 else "activity"
    assert [s.hosting_type for s in starts] == [top, "service", top, top, "broadcast"]

    # Activity starts: the launcher's tap, taobao starting weibo, the shell's am start.
    acts = [r for r in records if isinstance(r, ActivityStart)]
    uid = {p.name: p.uid(0) for p in state.packages.values()}
    assert [(a.package, a.caller_uid, a.from_launcher) for a in acts] == [
        (TAOBAO, uid[LAUNCHER], True),
        (WEIBO, uid[TAOBAO], False),
        (BOOTER, 2000, False),
    ]
    assert acts[0].categories == ("android.intent.category.LAUNCHER",)
    assert acts[0].action == "android.intent.action.MAIN" and acts[0].has_bounds
    assert acts[1].component == f"{WEIBO}/.MainActivity" and acts[1].flags == 0x10000000
    if sdk >= 34:
        assert [a.launch_mode for a in acts] == ["LAUNCH_SINGLE_TOP"] * 3
        assert acts[2].bal == "BAL_ALLOW_PERMISSION" and acts[2].result == 0
    else:
        assert all(a.launch_mode is None and a.result is None for a in acts)

    # The kill shows in both buffers (am_kill and "Killing"), the death once.
    kills = [r for r in records if isinstance(r, ProcessKilled)]
    (died,) = [r for r in records if isinstance(r, ProcessDied)]
    weibo_pid = starts[2].pid
    assert starts[4].process == WEIBO and starts[4].pid != weibo_pid
    assert [(k.pid, k.process, k.reason, k.oom_adj) for k in kills] == [
        (weibo_pid, WEIBO, f"stop {WEIBO}", 900)
    ] * 2
    assert kills[1].uid == uid[WEIBO]
    assert (died.pid, died.process, died.oom_adj, died.proc_state) == (weibo_pid, WEIBO, 900, 19)


@pytest.mark.parametrize("sdk", SDKS)
def test_boot_markers_and_boot_receiver_starts(sdk: int) -> None:
    state, link = phone(sdk)
    state.reboot()
    records = parse_eventlog(logcat(link, "-v", "epoch", "-v", "uid")).value.records
    marks = [r for r in records if isinstance(r, BootMarker)]
    assert [(m.stage, m.uptime_ms) for m in marks] == [("start", 0), ("enable_screen", 5000)]
    (start,) = [r for r in records if isinstance(r, ProcessStart)]
    assert (start.process, start.hosting_type, start.component) == (
        BOOTER,
        "broadcast",
        f"{BOOTER}/.BootReceiver",
    )


def test_the_stream_reader_returns_each_start_once_and_tracks_time() -> None:
    state, link = phone(35)
    play_story(state, link)
    reader = EventLogReader()
    records = [
        r
        for line in logcat(link, "-v", "epoch", "-v", "uid").splitlines()
        if (r := reader.feed(line)) is not None
    ]
    assert len([r for r in records if isinstance(r, ProcessStart)]) == 5
    assert reader.counts.merged == 5 and reader.counts.dividers == 2
    assert reader.last_time_ms == max(r.time_ms for r in state.events)


def test_system_buffer_alone_gives_starts_with_uids() -> None:
    state, link = phone(33)
    play_story(state, link)
    out = link.shell(["logcat", "-d", "-b", "system"]).stdout
    starts = [r for r in parse_eventlog(out).value.records if isinstance(r, ProcessStart)]
    assert [(s.pid, s.uid, s.user, s.sources) for s in starts] == [
        (int(str(e.values[1])), int(str(e.values[2])), 0, {"Start proc"})
        for e in written(state, "am_proc_start")
    ]


# ====================================================================== parsing: real captures
def sample(*parts: str) -> Path:
    path = SAMPLES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real capture {path} is not available on this machine")
    return path


def test_loghub_threadtime_capture() -> None:
    text = sample("packages", "loghub", "Android_2k.log").read_text(encoding="utf-8")
    parsed = parse_eventlog(text)
    counts = parsed.value.counts
    assert (counts.lines, counts.records, counts.unknown, counts.malformed) == (2000, 7, 0, 0)
    assert parsed.warnings == ()
    records = parsed.value.records
    (start,) = [r for r in records if isinstance(r, ProcessStart)]
    assert start == ProcessStart(
        None,
        "03-17 16:15:21.065",
        13003,
        10111,
        0,
        "com.tencent.mobileqq:qzone",
        "service",
        "com.tencent.mobileqq/cooperation.qzone.remote.logic.QzoneWebPluginProxyService",
        sources=frozenset({"Start proc"}),
    )
    assert start.package == "com.tencent.mobileqq"
    acts = [r for r in records if isinstance(r, ActivityStart)]
    assert [(a.package, a.caller_uid, a.from_launcher) for a in acts] == [
        ("com.tencent.mobileqq", 10111, False),  # "... from uid 10111 on display 0"
        ("com.example.android.notepad", 10057, True),
        ("com.tencent.mobileqq", 10057, True),
        ("com.tencent.mm", 10112, False),
    ]
    (kill,) = [r for r in records if isinstance(r, ProcessKilled)]
    assert (kill.pid, kill.process, kill.uid, kill.oom_adj, kill.reason) == (
        23484,
        "com.android.calendar",
        10013,
        906,
        "empty for 1810s",
    )
    (died,) = [r for r in records if isinstance(r, ProcessDied)]
    assert (died.pid, died.process) == (12236, "com.tencent.mobileqq:qzone")


@pytest.mark.parametrize(
    "name",
    [
        "issue_scrcpy4153_oneplus6t-a11_logcat_mic_denied_by_appop.txt",
        "issue_motioncam50_logcat_camera_state_active.txt",
        "issue_rnvisioncamera2152_workprofile_logcat_cameraservice_connect.txt",
    ],
)
def test_other_real_logcat_captures_hold_no_starts(name: str) -> None:
    text = sample("appops-perms", name).read_text(encoding="utf-8", errors="replace")
    parsed = parse_eventlog(text)
    c = parsed.value.counts
    assert parsed.value.records == () and parsed.warnings == ()
    assert c.lines == c.ignored + c.unknown + c.dividers
    if "rnvisioncamera" in name:  # Android Studio's own layout: not a logcat format
        assert c.unknown == c.lines


# ====================================================================== parsing: other shapes
EPOCH_SYS = "        1700000000.123  1000  1000  1065 I ActivityManager: "
EPOCH_EV = "        1700000000.123  1000  1000  1000 I "
DAY0 = time.strftime("%Y-%m-%d", time.localtime(1_700_000_000))
"""The host-local day of the hand-written lines above."""


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Before O: name first, ids after.
        (
            "01-02 03:04:05.678  1000  1065 I ActivityManager: Start proc com.x:push for service "
            "com.x/.Push: pid=4321 uid=10077 gids={50077, 3003}",
            ("com.x:push", 4321, 10077, "service", "com.x/.Push"),
        ),
        # A multi-word hosting type, an isolated entry point, a user-10 uid.
        (
            EPOCH_SYS + "Start proc 77:com.y/u10a5 [org.Entry] for content provider "
            "{com.y/com.y.Prov}",
            ("com.y", 77, 1_010_005, "content provider", "com.y/.Prov"),
        ),
        # An empty hosting type (HostingRecord type "").
        (
            EPOCH_SYS + "Start proc 78:com.z/u0a1 for  {com.z/com.z.S}",
            ("com.z", 78, 10001, "", "com.z/.S"),
        ),
        # Before 4.2: five fields, no user.
        (
            EPOCH_EV + "am_proc_start: [4242,10099,com.old,broadcast,com.old/.R]",
            ("com.old", 4242, 10099, "broadcast", "com.old/.R"),
        ),
        # A comma in the process name (Q+ braces show where the component starts).
        (
            EPOCH_EV + "am_proc_start: [0,4243,10100,com.evil,x,broadcast,{com.evil/com.evil.R}]",
            ("com.evil,x", 4243, 10100, "broadcast", "com.evil/.R"),
        ),
        # A payload cut at 1023 bytes has no closing bracket.
        (
            EPOCH_EV + "am_proc_start: [0,4244,10101,com.cut,service,{com.cut/com.cut.LongNa",
            ("com.cut", 4244, 10101, "service", "com.cut/.LongNa"),
        ),
        # OEM hosting types are kept as printed.
        (
            EPOCH_EV + "am_proc_start: [0,11549,10833,com.galaxy.steward,activelaunch,{com.galaxy"
            ".steward/com.galaxy.steward.Main}]",
            ("com.galaxy.steward", 11549, 10833, "activelaunch", "com.galaxy.steward/.Main"),
        ),
        # -v time (the header many shared captures use).
        (
            "06-08 06:10:16.921 I/ActivityManager( 3035): Start proc 4299:com.xxx/1000 for "
            "activity com.xxx/.GuideActivity",
            ("com.xxx", 4299, 1000, "activity", "com.xxx/.GuideActivity"),
        ),
    ],
)
def test_process_start_shapes(line: str, expected: tuple[Any, ...]) -> None:
    reader = EventLogReader()
    rec = reader.feed(line)
    assert isinstance(rec, ProcessStart), reader.counts
    assert (rec.process, rec.pid, rec.uid, rec.hosting_type, rec.component) == expected


def test_kill_shapes_by_release() -> None:
    reader = EventLogReader()
    v = reader.feed(EPOCH_EV + "am_kill: [0,22308,com.a,700,stop com.a due to installPackageLI,88]")
    pss = reader.feed(EPOCH_EV + "am_kill : [0,22309,com.b,900,52311,empty #17]")
    assert isinstance(v, ProcessKilled) and v.reason == "stop com.a due to installPackageLI"
    assert isinstance(pss, ProcessKilled) and (pss.reason, pss.oom_adj) == ("empty #17", 900)


def test_activity_start_shapes() -> None:
    reader = EventLogReader()
    a14 = reader.feed(
        EPOCH_SYS.replace("ActivityManager", "ActivityTaskManager")
        + "START u0 {act=android.intent.action.VIEW dat=https://x.example/... flg=0x10000000 "
        "cmp=com.b/.Deep} with LAUNCH_MULTIPLE from uid 10200 (com.a) (realCallingUid=10032) "
        "(BAL_ALLOW_PENDING_INTENT) result code=0"
    )
    assert isinstance(a14, ActivityStart)
    assert (a14.package, a14.caller_uid, a14.caller_package, a14.real_caller_uid) == (
        "com.b",
        10200,
        "com.a",
        10032,
    )
    assert (a14.launch_mode, a14.bal, a14.result) == (
        "LAUNCH_MULTIPLE",
        "BAL_ALLOW_PENDING_INTENT",
        0,
    )
    # Text inside the intent cannot fake the caller: the last "from uid" is the real one.
    fake = reader.feed(
        EPOCH_SYS + "START u0 {dat=x://a} from uid 1000 b cmp=com.c/.A} from uid 10300"
    )
    assert isinstance(fake, ActivityStart) and fake.caller_uid == 10300
    old = reader.feed(EPOCH_SYS + "START u0 {cmp=com.d/.A} from pid 1234")
    assert isinstance(old, ActivityStart) and (old.caller_uid, old.caller_pid) == (None, 1234)
    implicit = reader.feed(EPOCH_SYS + "START u10 {act=x.y pkg=com.e} from uid 1010200")
    assert isinstance(implicit, ActivityStart)
    assert (implicit.user, implicit.package, implicit.component) == (10, "com.e", None)


def test_uids_as_android_formats_them() -> None:
    assert [parse_uid(t) for t in ("u0a111", "u10a5", "u0i3", "u0s1000", "1000", "x", "u0a")] == [
        10111,
        1_010_005,
        99_003,
        1000,
        1000,
        None,
        None,
    ]


# ====================================================================== parsing: hostile text
def test_an_app_writing_the_event_log_is_not_believed() -> None:
    """EventLog.writeEvent is public API: an app can write 'am_proc_start' itself. With -v uid
    the writer shows, and only root and system_server are believed."""
    reader = EventLogReader()
    app = "        1700000000.123 10123  4242  4242 I "
    fake = app + "am_proc_start: [0,4243,10100,com.x,broadcast,{com.x/.R}]"
    fake_sys = app + "ActivityManager: START u0 {cmp=com.y/.A} from uid 10100"
    real = fake.replace(" 10123 ", "  1000 ")
    assert reader.feed(fake) is None and reader.feed(fake_sys) is None
    assert isinstance(reader.feed(real), ProcessStart)
    assert reader.counts.spoofed == 2
    boot = "        1700000000.000  root     0     0 I boot_progress_start: 1234"
    assert isinstance(reader.feed(boot), BootMarker)


def test_malformed_lines_are_warned_and_counted() -> None:
    text = "\n".join(
        [
            EPOCH_EV + "am_proc_start: [0,abc]",
            EPOCH_SYS + "Start proc nonsense",
            EPOCH_SYS + "START u0 {cmp=com.a/.B} from uid banana",
            "not a log line at all",
            "--------- beginning of events",
            EPOCH_EV + "am_proc_bound: [0,123,com.a]",
        ]
    )
    parsed = parse_eventlog(text)
    c = parsed.value.counts
    assert (c.malformed, c.unknown, c.dividers, c.ignored, c.records) == (3, 1, 1, 1, 0)
    assert [w.line_no for w in parsed.warnings] == [1, 2, 3]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_is_read_without_raising(text: str) -> None:
    parsed = parse_eventlog(text)
    assert parsed.value.counts.lines >= 0
    for prefix in (EPOCH_EV + "am_proc_start: ", EPOCH_SYS + "Start proc ", EPOCH_SYS + "START u"):
        EventLogReader().feed(prefix + text.replace("\n", " "))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="{}[]"),
        min_size=1,
        max_size=60,
    ),
    htype=st.sampled_from(["broadcast", "service", "content provider", "top-activity", ""]),
    sdk=st.sampled_from([28, 29, 35]),
)
def test_process_names_survive_the_round_trip(name: str, htype: str, sdk: int) -> None:
    """Whatever a (hostile) app names its process, the start reads back with that name."""
    if sdk < 29 and "," in name:
        name = name.replace(",", ".")  # P prints no braces: a comma there is ambiguous
    state, link = phone(sdk)
    state.emit("am_proc_start", 0, 4321, 10123, name, htype, f"{BOOTER}/.R", pid=1000)
    (rec,) = parse_eventlog(logcat(link, "-v", "epoch", "-v", "uid")).value.records
    assert isinstance(rec, ProcessStart)
    assert (rec.process, rec.hosting_type, rec.component) == (name, htype, f"{BOOTER}/.R")


def test_huge_lines_are_linear() -> None:
    junk = ("/1 [" * 250_000) + " for " + ("x " * 100_000)
    started = time.perf_counter()
    reader = EventLogReader()
    for prefix in (EPOCH_SYS + "Start proc 1:", EPOCH_SYS + "START u0 {", EPOCH_EV + "am_kill: ["):
        reader.feed(prefix + junk)
    assert split_line("1" * 1_000_000) is None
    assert time.perf_counter() - started < 2.0


def test_service_dump_names_binding_clients_and_recent_callers() -> None:
    text = (
        "ACTIVITY MANAGER SERVICES (dumpsys activity services)\n"
        "  User 0 active services:\n"
        "  * ServiceRecord{1c1 u0 com.b/.Svc c:com.a}\n"
        "    intent={cmp=com.b/.Svc}\n"
        "    packageName=com.b\n"
        "    app=ProcessRecord{2a2 4321:com.b:remote/u0a50}\n"
        "    createdFromFg=false\n"
        "    Bindings:\n"
        "    * IntentBindRecord{3b3 CREATE}:\n"
        "      * Client AppBindRecord{4c4 ProcessRecord{5d5 1234:com.a/u0a49}}\n"
        "  * ServiceRecord{garbage\n"
        "  * ServiceRecord{6e6 u10 {com.c/com.c.Job}}\n"
        "    recentCallingPackage=android\n"
        "    recentCallingUid=1000\n"
    )
    parsed = parse_service_records(text)
    first, second = parsed.value
    assert (first.component, first.pid, first.uid, first.process) == (
        "com.b/.Svc",
        4321,
        10050,
        "com.b:remote",
    )
    assert first.recent_caller_package == "com.a" and first.created_from_fg is False
    assert [(c.pid, c.process, c.uid) for c in first.clients] == [(1234, "com.a", 10049)]
    assert (second.user, second.component, second.recent_caller_uid) == (10, "com.c/.Job", 1000)
    assert [w.reason for w in parsed.warnings] == ["ServiceRecord header not understood"]


# ====================================================================== classification
def test_boot_receiver_start_after_a_reboot_is_an_autostart() -> None:
    state, link = phone(35)
    state.install(Package("com.android.bluetooth", 1002, system=True, boot_receivers=[".Boot"]))
    state.install(Package("com.google.android.gms", 0, system=True, boot_receivers=[".Boot"]))
    state.reboot()
    tracker = tracked(state, link)
    events = tracker.feed_lines(logcat(link, "-v", "epoch", "-v", "uid").splitlines())
    (event,) = events  # platform packages and platform uids start at boot too: not findings
    assert (event.kind, event.package, event.consent, event.severity, event.clause) == (
        "autostart",
        BOOTER,
        Consent.NONE,
        Severity.MEDIUM,
        CLAUSE,
    )
    assert event.finding and event.serial == "sim" and event.user == 0
    d = event.detail
    assert (d["reason"], d["hosting_type"], d["component"], d["caller"], d["at_boot"]) == (
        "broadcast",
        "broadcast",
        f"{BOOTER}/.BootReceiver",
        None,
        True,
    )
    assert d["since_boot_s"] == 0 and d["count_today"] == 1
    assert tracker.boot_ms == state.boot_ms
    counts = tracker.counts()
    assert counts[BOOTER] == {"autostart": 1}
    assert counts["com.google.android.gms"] == {"platform": 1}


def test_a_broadcast_start_long_after_boot_is_a_low_autostart() -> None:
    state, link = phone(30)
    tracker = tracked(state, link, boot_ms=state.boot_ms)  # booted an hour ago
    assert link.shell(["am", "broadcast", "-n", f"{WEIBO}/.Alarm"]).exit_code == 0
    (event,) = tracker.feed_lines(logcat(link, "-v", "epoch", "-v", "uid").splitlines())
    assert (event.kind, event.package, event.severity) == ("autostart", WEIBO, Severity.LOW)
    assert event.detail["at_boot"] is False and event.detail["since_boot_s"] > 3000


@pytest.mark.parametrize("sdk", [28, 29, 30, 35])
def test_a_service_another_app_started_is_an_associated_start(sdk: int) -> None:
    """The caller comes from the binding client (all releases) or recentCallingPackage (R+)."""
    state, link = phone(sdk)
    activity.start_activity(state, TAOBAO, 0, from_launcher=True)
    state.start_process(
        ALIPAY, 0, reason="service", component=f"{ALIPAY}/.PushService", caller=TAOBAO, state="bg"
    )
    tracker = tracked(state, link)
    (event,) = tracker.feed_lines(logcat(link, "-v", "epoch", "-v", "uid").splitlines())
    assert (event.kind, event.package, event.severity, event.consent) == (
        "associated_start",
        ALIPAY,
        Severity.HIGH,
        Consent.NONE,
    )
    d = event.detail
    assert (d["caller"], d["reason"], d["component"]) == (
        TAOBAO,
        "service",
        f"{ALIPAY}/.PushService",
    )
    assert d["caller_uid"] == state.packages[TAOBAO].uid(0)
    assert d["via"] == ("recentCallingPackage" if sdk >= 30 else "binding")
    assert tracker.counts() == {TAOBAO: {"user": 1}, ALIPAY: {"associated_start": 1}}
    assert tracker.graph() == [(TAOBAO, ALIPAY, 1)]


def test_a_service_nobody_started_is_an_autostart() -> None:
    state, link = phone(34)
    state.start_process(ALIPAY, 0, reason="service", component=f"{ALIPAY}/.Sync", state="bg")
    for lookup in (sim_lookup(link), None):
        tracker = tracked(state, link, lookup=lookup)
        (event,) = tracker.feed_lines(logcat(link, "-v", "epoch", "-v", "uid").splitlines())
        assert (event.kind, event.package, event.detail["reason"]) == (
            "autostart",
            ALIPAY,
            "service",
        )


def test_an_activity_another_app_started_is_an_associated_start() -> None:
    state, link = phone(31)
    activity.start_activity(state, TAOBAO, 0, from_launcher=True)
    activity.start_activity(state, WEIBO, 0, caller=TAOBAO)
    tracker = tracked(state, link)
    (event,) = tracker.feed_lines(logcat(link, "-v", "epoch", "-v", "uid").splitlines())
    assert (event.kind, event.package, event.severity) == (
        "associated_start",
        WEIBO,
        Severity.MEDIUM,
    )
    assert (event.detail["caller"], event.detail["reason"], event.detail["via"]) == (
        TAOBAO,
        "activity",
        "START",
    )


def test_launcher_and_shell_starts_are_not_findings() -> None:
    state, link = phone(35)
    activity.start_activity(state, TAOBAO, 0, from_launcher=True)  # the user tapped the icon
    assert link.shell(["am", "start", "-n", f"{WEIBO}/.MainActivity"]).exit_code == 0
    assert link.shell(["am", "start-service", "-n", f"{ALIPAY}/.Sync"]).exit_code == 0
    tracker = tracked(state, link)
    assert tracker.feed_lines(logcat(link, "-v", "epoch", "-v", "uid").splitlines()) == []
    assert tracker.counts() == {
        TAOBAO: {"user": 1},
        WEIBO: {"shell": 1},
        ALIPAY: {"shell": 1},  # recentCallingPackage=com.android.shell
    }
    assert tracker.graph() == []


def test_starts_tetherguard_announced_are_its_own() -> None:
    """Before R nothing shows who ran 'am start-service': tetherguard says it was itself."""
    state, link = phone(29)
    tracker = tracked(state, link)
    tracker.note_own_action(ALIPAY)
    assert link.shell(["am", "start-service", "-n", f"{ALIPAY}/.Sync"]).exit_code == 0
    assert tracker.feed_lines(logcat(link, "-v", "epoch", "-v", "uid").splitlines()) == []
    assert tracker.counts() == {ALIPAY: {"tetherguard": 1}}


def test_a_pending_intent_sent_for_the_user_is_the_users_start() -> None:
    state, _ = phone(34)
    tracker = StartTracker("sim", **knowledge(state), launchers={LAUNCHER})
    taobao, weibo = state.packages[TAOBAO].uid(0), state.packages[WEIBO].uid(0)
    launcher = state.packages[LAUNCHER].uid(0)
    lines = [
        # A notification tap: the app's PendingIntent, sent by System UI (a platform uid).
        EPOCH_SYS + f"START u0 {{cmp={WEIBO}/.A}} with LAUNCH_MULTIPLE from uid {taobao} "
        "(realCallingUid=1000) result code=0",
        # The home app starting an activity without icon bounds (a widget, a shortcut).
        EPOCH_SYS + f"START u0 {{cmp={ALIPAY}/.A}} from uid {launcher}",
        # The app starting its own activity.
        EPOCH_SYS + f"START u0 {{cmp={WEIBO}/.B}} from uid {weibo}",
        # Refused by the background-activity-launch rules: nothing started.
        EPOCH_SYS + f"START u0 {{cmp={ALIPAY}/.B}} with LAUNCH_MULTIPLE from uid {taobao} "
        "(BAL_BLOCK) result code=102",
    ]
    assert tracker.feed_lines(lines) == []
    assert tracker.counts(DAY0) == {
        WEIBO: {"user": 1, "self": 1},
        ALIPAY: {"user": 1},
    }


def test_counts_per_day_and_the_graph() -> None:
    state, _ = phone(35)
    now = {"t": 1_700_000_000.0}
    tracker = StartTracker("sim", **knowledge(state), clock=lambda: now["t"])
    uid = {name: state.packages[name].uid(0) for name in (TAOBAO, WEIBO, ALIPAY)}

    def start(caller: str, callee: str, t: int) -> str:
        return (
            f"        {t}.000  1000  1000  1417 I ActivityTaskManager: START u0 "
            f"{{cmp={callee}/.A}} from uid {uid[caller]}"
        )

    day1 = [start(TAOBAO, ALIPAY, 1_700_000_000), start(TAOBAO, ALIPAY, 1_700_000_060)]
    events = tracker.feed_lines([*day1, start(WEIBO, ALIPAY, 1_700_000_120)])
    assert [e.detail["count_today"] for e in events] == [1, 2, 3]
    assert [e.detail["edge_count_today"] for e in events] == [1, 2, 1]
    next_day = 1_700_000_000 + 86_400
    now["t"] = next_day
    tracker.feed_lines([start(WEIBO, ALIPAY, next_day)])
    day = time.strftime("%Y-%m-%d", time.localtime(1_700_000_000))
    assert tracker.counts(day) == {ALIPAY: {"associated_start": 3}}
    assert tracker.counts() == {ALIPAY: {"associated_start": 1}}
    assert tracker.graph() == [(WEIBO, ALIPAY, 2), (TAOBAO, ALIPAY, 2)]  # ties by name
    assert tracker.graph(day) == [(TAOBAO, ALIPAY, 2), (WEIBO, ALIPAY, 1)]


def test_snapshot_helpers() -> None:
    from agent.model import PackageInfo

    pkgs = [
        PackageInfo("com.a", uid=10050),
        PackageInfo("com.b", uid=10050),  # a shared uid
        PackageInfo("android", uid=1000, flags=frozenset({"SYSTEM"})),
        PackageInfo("com.nouid"),
    ]
    assert uid_packages(pkgs, users=(0, 10)) == {
        10050: frozenset({"com.a", "com.b"}),
        1_010_050: frozenset({"com.a", "com.b"}),
        1000: frozenset({"android"}),
        1_001_000: frozenset({"android"}),
    }
    assert platform_packages(pkgs) == {"android"}


def test_the_workers_service_lookup_refuses_hostile_names() -> None:
    state, link = phone(35)
    state.start_process(
        ALIPAY, 0, reason="service", component=f"{ALIPAY}/.PushService", caller=TAOBAO, state="bg"
    )
    worker = StreamWorker(cast(DeviceLink, link), StartTracker("sim"), lambda e: None)
    start = ProcessStart(None, "", 5, 10100, 0, ALIPAY, "service", f"{ALIPAY}/.PushService")
    (record,) = worker.services_of(start) or ()
    assert record.component == f"{ALIPAY}/.PushService"
    hostile = ProcessStart(None, "", 5, 10100, 0, "x;reboot", "service", "x;reboot/.S")
    before = len(link.commands)
    assert worker.services_of(hostile) is None and len(link.commands) == before


def test_the_command_and_its_resume_point() -> None:
    worker = StreamWorker(cast(DeviceLink, object()), StartTracker("s"), lambda e: None)
    assert worker.argv() == [*LOGCAT_ARGV, "-T", "1"]
    assert LOGCAT_ARGV == ("logcat", "-b", "events", "-b", "system", "-v", "epoch", "-v", "uid")
    since = StreamWorker(
        cast(DeviceLink, object()), StartTracker("s"), print, since_ms=1_700_000_000_007
    )
    assert since.argv()[-2:] == ["-T", "1700000000.007"]


# ====================================================================== end to end through adb
class Watched:
    """A simulated phone behind the real adb server, with a StreamWorker attached (after
    ``before``, if given, has run on the phone's state)."""

    def __init__(
        self,
        host: SimHost,
        adb_server: AdbServer,
        client: AdbClient,
        profile: str,
        before: Callable[[DeviceState], object] | None = None,
    ):
        self.host, self.adb_server = host, adb_server
        self.device = host.plug(SimDevice(build_state(PROFILES[profile])))
        if before is not None:
            host.call(lambda: before(self.device.state))
        adb_server.connect(self.device.serial)
        self.link = client.link(self.device.serial)
        self.events: list[Event] = []
        state = self.device.state
        self.tracker = StartTracker(self.device.serial, **host.call(lambda: knowledge(state)))
        self.worker = StreamWorker(
            self.link, self.tracker, self.events.append, backoff=(0.1, 0.5)
        ).start()
        assert self.worker.connected.wait(10)

    def close(self) -> None:
        self.worker.stop()
        self.adb_server.disconnect(self.device.serial)
        if self.device.server is not None:
            self.host.stop(self.device.server)


@pytest.fixture
def watched(
    host: SimHost, adb_server: AdbServer, client: AdbClient
) -> Iterator[Callable[..., Watched]]:
    made: list[Watched] = []

    def make(profile: str, before: Callable[[DeviceState], object] | None = None) -> Watched:
        w = Watched(host, adb_server, client, profile, before)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def _matches(event: Event, fields: dict[str, Any]) -> bool:
    return event.package == fields["package"] and all(
        event.detail.get(k) == fields[k] for k in ("caller", "reason") if k in fields
    )


E2E = [
    (scenario, profile)
    for scenario in ("boot-autostart", "associated-start")
    for profile in ("fire-hd10-a9", "galaxy-a40-a10", "moto-g30-a11", "pixel8-a15")
]


@pytest.mark.parametrize(("name", "profile"), E2E, ids=[f"{s}-{p}" for s, p in E2E])
def test_scenarios_through_adb_report_what_they_expect(
    name: str, profile: str, watched: Callable[[str], Watched]
) -> None:
    w = watched(profile)
    scenario: Scenario = load_scenario(name)
    w.host.submit(run_scenario(w.device, scenario, speed=10.0)).result(timeout=60)
    if any(s.action == "reboot" for s in scenario.steps):
        # The reboot dropped the link; the worker reconnects once adb sees the phone again.
        w.adb_server.run("connect", w.device.serial)
        w.adb_server.wait_state(w.device.serial, "device", timeout=30)
    expected = [
        (e.event, dict(e.fields))
        for e in scenario.expect
        if e.event in ("autostart", "associated_start")
    ]
    assert expected
    wait_for(
        lambda: all(any(ev.kind == k and _matches(ev, f) for ev in w.events) for k, f in expected)
    )

    # The owner's own doings afterwards: a tap on the launcher, the shell's am start.
    state = w.device.state
    w.host.call(lambda: activity.start_activity(state, "com.sina.weibo", 0, from_launcher=True))
    assert w.link.shell(["am", "start", "-n", "org.mozilla.firefox/.MainActivity"]).exit_code == 0
    wait_for(lambda: {"com.sina.weibo", "org.mozilla.firefox"} <= set(w.tracker.counts()))
    time.sleep(0.3)  # late or duplicate events would show now

    unexplained = list(w.events)
    for kind, fields in expected:
        hits = [e for e in unexplained if e.kind == kind and _matches(e, fields)]
        assert len(hits) == 1, [(e.kind, e.package, dict(e.detail)) for e in w.events]
        assert hits[0].finding and hits[0].consent is Consent.NONE and hits[0].clause == CLAUSE
        unexplained.remove(hits[0])
    # What is left may only be other apps' own boot receivers firing at the reboot.
    boot_apps = w.host.call(
        lambda: {p.name for p in state.packages.values() if p.boot_receivers and not p.system}
    )
    for e in unexplained:
        assert (e.kind, e.detail["reason"], e.detail["at_boot"]) == ("autostart", "broadcast", True)
        assert e.package in boot_apps
    counts = w.tracker.counts()
    assert counts["com.sina.weibo"] == {"user": 1}
    assert counts["org.mozilla.firefox"] == {"shell": 1}
    if name == "associated-start":
        assert w.tracker.graph() == [("com.taobao.taobao", "com.eg.android.AlipayGphone", 1)]
        assert counts["com.taobao.taobao"] == {"user": 1}  # the scenario's launcher tap
    else:
        assert w.worker.connections >= 2


def test_the_worker_resumes_after_a_dropped_link_without_repeating(
    watched: Callable[[str], Watched],
) -> None:
    w = watched("pixel6a-a14")
    state = w.device.state
    first = w.host.call(
        lambda: state.start_process(TAOBAO, 0, reason="broadcast", component=f"{TAOBAO}/.R")
    )
    wait_for(lambda: len(w.events) == 1)
    w.adb_server.disconnect(w.device.serial)
    wait_for(lambda: not w.worker.connected.is_set())
    # Started while nobody was reading: still reported after the reconnection, once.
    w.host.call(lambda: state.kill(first.pid, "test"))
    w.host.call(lambda: state.start_process(WEIBO, 0, reason="broadcast", component=f"{WEIBO}/.R"))
    w.adb_server.connect(w.device.serial)
    wait_for(lambda: len(w.events) >= 2)
    time.sleep(0.5)
    assert [e.package for e in w.events] == [TAOBAO, WEIBO]
    assert w.worker.connections == 2
    assert w.worker.argv()[-2] == "-T" and w.worker.argv()[-1] != "1"


def test_the_worker_stops_from_another_thread_while_blocked(
    watched: Callable[[str], Watched],
) -> None:
    w = watched("oppo-a77-a12")
    thread = w.worker._thread
    assert thread is not None and thread.is_alive()
    stopper = threading.Thread(target=w.worker.stop)
    started = time.monotonic()
    stopper.start()
    stopper.join(5)
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 5
    assert w.worker.stopped and not w.worker.connected.is_set()
    w.worker.stop()  # again: harmless


def test_a_new_stream_reports_nothing_from_before_it_started(
    watched: Callable[..., Watched],
) -> None:
    # The newest instant of the log holds two lines (Start proc and am_proc_start): neither
    # is news to a guard that starts afterwards.
    def before(state: DeviceState) -> None:
        state.start_process(TAOBAO, 0, reason="broadcast", component=f"{TAOBAO}/.R")

    w = watched("galaxy-a40-a10", before)
    w.host.call(
        lambda: w.device.state.start_process(WEIBO, 0, reason="broadcast", component=f"{WEIBO}/.R")
    )
    wait_for(lambda: len(w.events) >= 1)
    time.sleep(0.3)
    assert [e.package for e in w.events] == [WEIBO]


def test_a_stream_on_an_empty_log_reports_the_first_line(
    watched: Callable[..., Watched],
) -> None:
    w = watched("pixel8-a15", lambda state: state.events.clear())
    w.host.call(
        lambda: w.device.state.start_process(WEIBO, 0, reason="broadcast", component=f"{WEIBO}/.R")
    )
    wait_for(lambda: len(w.events) >= 1)
    assert [e.package for e in w.events] == [WEIBO]
