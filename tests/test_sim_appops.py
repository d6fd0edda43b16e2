"""The simulated ``dumpsys appops`` / ``cmd appops`` and sensor dumps against real Android output.

Three groups:

* **Structure**: the simulator's output for a release is compared with a real capture of that
  release (Fire OS 9, Samsung Q, OriginOS, AppManager #29, emulator audio/location, camera
  excerpts from issue threads) and, for R+ appops, with the grammar quoted in the reference
  doc. "Same structure" means: the section headers both print come in the same order, and every
  line the simulator prints has a *kind* (a strict line-shape regex: indentation, keys and
  separators exact, values abstracted) that also matches a line of the capture. Kinds the
  capture happens not to contain are listed with the reason we still trust them.
* **Behaviour**: starting/finishing ops, ``set``/``reset``/filters, error texts and exit codes,
  OEM refusals, camera/recording/screen state, ``TimeUtils.formatDuration``.
* **Hostile data**: odd package names and attribution tags, and 2,000 packages.

Captures are read from ``../shared/android-samples`` and never copied into the repository.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from agent.sim.android import Registry, appops, sensors
from agent.sim.android.appops import (
    OPS,
    OPS_BY_CODE,
    PERMISSION_OPS,
    format_duration,
    format_uid,
    op_name,
    resolve_op,
    switch_op,
)
from agent.sim.profiles import build_state
from agent.sim.shell import ShellIO
from agent.sim.state import (
    Build,
    CameraClient,
    DeviceState,
    LocationRequest,
    OemPolicy,
    Package,
    Recording,
    User,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "android-samples" / "appops-perms"
HELP = SHARED / "android-samples" / "packages" / "poweradb_help"
DOC = SHARED / "docs" / "android-appops-permissions.md"

CAM = "com.example.cam"
OTHER = "org.example.other"


def _capture(path: Path) -> list[str]:
    if not path.exists():
        pytest.skip(f"real capture {path} is not available (../shared is not mounted here)")
    return path.read_text(encoding="utf-8").splitlines()


# ----------------------------------------------------------------------------------- fixtures


def make_state(sdk: int, *, oem: OemPolicy | None = None) -> DeviceState:
    """A phone with a camera app, a second app and the system uid, with varied op history."""
    state = DeviceState(Build(sdk=sdk), oem)
    state.install(Package("android", 1000, system=True))
    state.install(Package(CAM, 0))
    state.install(Package(OTHER, 0))
    state.install(Package("com.android.systemui", 0, system=True))
    now = state.now_ms()
    state.note_op("android", 0, "FINE_LOCATION", state="pers")
    state.start_op("android", 0, "MONITOR_LOCATION", state="pers")
    state.note_op(CAM, 0, "WAKE_LOCK", state="bg", duration_ms=33)
    state.note_op(CAM, 0, "WAKE_LOCK", state="fg")
    state.note_op(CAM, 0, "WRITE_SMS", state="cch", rejected=True)
    state.note_op(
        CAM,
        0,
        "READ_CONTACTS",
        state="bg",
        flags="tpd",
        proxy=(10070, "com.android.providers.contacts"),
    )
    state.op(CAM, 0, "REQUEST_INSTALL_PACKAGES").mode = "allow"
    state.op(OTHER, 0, "SYSTEM_ALERT_WINDOW").mode = "default"
    state.note_op(OTHER, 0, "SYSTEM_ALERT_WINDOW", state="top")
    state.uid_op(state.packages[CAM].uid(0), "COARSE_LOCATION").mode = "ignore"
    # Shift the history into the past so relative times have several units.
    for pkg in state.packages.values():
        for pu in pkg.users.values():
            for op in pu.ops.values():
                for rec in [*op.accesses.values(), *op.rejects.values()]:
                    rec.time_ms -= 3_723_004
                if op.running_since_ms is not None:
                    op.running_since_ms -= 3_723_004
    assert now > 0
    return state


def registry(state: DeviceState) -> Registry:
    reg = Registry(state)
    appops.install(reg)
    sensors.install(reg)
    return reg


async def dumpsys(reg: Registry, service: str, *args: str) -> tuple[int, str, str]:
    io = ShellIO()
    status = await reg.dumpsys[service](list(args), io)
    return status, io.stdout.decode(), io.stderr.decode()


async def cmd(reg: Registry, *args: str) -> tuple[int, str, str]:
    io = ShellIO()
    status = await reg.cmd["appops"](list(args), io)
    return status, io.stdout.decode(), io.stderr.decode()


# ----------------------------------------------------------------------------------- shapes

TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"
DUR = r"(?:0|[+-](?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?\d+ms)"
UID = r"(?:\d+|u\d+[as]\d+|u\d+i\d+)"
PKG = r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*"
OP = r"[A-Z][A-Z0-9_]*"
MODE = r"(?:allow|ignore|deny|default|foreground)"
HEX = r"[0-9a-f]+"
P_STATE = r"(?:pers |top  |fgsvc|fg   |bg   |cch  )"
STATE = r"(?:pers|top|fgsvc|fg|bg|cch)"
FLAGS = r"(?:s|tp|up|tpd|upd)(?:\|(?:s|tp|up|tpd|upd))*"
TAG = r"(?:null|[A-Za-z0-9_.]+)"

Kinds = dict[str, str]

_COMMON: Kinds = {
    "blank": r"",
    "title": r"Current AppOps Service state:",
    "section": r"  (?:Settings|Profile owners|Op mode watchers|Package mode watchers"
    r"|All op mode watchers|All op active watchers|All op started watchers"
    r"|All op noted watchers|Clients):",
    "setting": rf"    (?:top_state_settle_time|fg_service_state_settle_time"
    rf"|bg_state_settle_time)={DUR}",
    "profile owner": rf"    User #\d+: {UID}",
    "watched op": rf"    Op {OP}:",
    "mode callback": rf"      #\d+: ModeCallback\{{{HEX} watchinguid=-?\d+ flags=0x{HEX} "
    rf"from uid={UID} pid=\d+\}}",
    "all-op callback": rf"    {HEX}: ModeCallback\{{{HEX} watchinguid=-?\d+ flags=0x{HEX} "
    rf"from uid={UID} pid=\d+\}}",
    "watcher token": rf"    {HEX} ->",
    "watched ops": rf"        \[{OP}(?:, {OP})*\]",
    "active callback": rf"        (?:Active|Started|Noted)Callback\{{{HEX} watchinguid=-?\d+ "
    rf"from uid={UID} pid=\d+\}}",
    "client token": rf"    android\.os\.Binder@{HEX}:",
    "client state": rf"      ClientState\{{mAppToken=android\.os\.Binder@{HEX}, pid=\d+\}}",
    "started header": r"      Started ops:",
    "started op": rf"        uid=\d+ pkg={PKG} op={OP}",
    "uid": rf"  Uid {UID}:",
    "uid nesting": r"    startNesting=\d+",
    "uid mode": rf"      {OP}: mode={MODE}",
    "package": rf"    Package {PKG}:",
    "restriction token": rf"  User restrictions for token android\.os\.Binder@{HEX}:",
    "restricted header": r"      Restricted ops:",
    "restricted user": rf"        user: \d+ restricted ops: \[{OP}(?:, {OP})*\]",
}

P_KINDS: Kinds = {
    **_COMMON,
    "state": rf"    state={P_STATE}",
    "op": rf"      {OP} \({MODE}(?: / switch {OP}={MODE})?\): ",
    "times": rf"          (?:Access|Reject): {P_STATE} = {TS} \({DUR}\)",
    "more times": rf"                  {P_STATE} = {TS} \({DUR}\)",
    "running": rf"          Running start at: {DUR}",
    "duration": rf"          duration={DUR}",
    "op nesting": r"          startNesting=\d+",
}

_PROXY_Q = rf" proxy\[uid=\d+, pkg=(?:{PKG}|null)\]"
_PROXY_R = rf" proxy\[uid=\d+, pkg=(?:{PKG}|null), attributionTag={TAG}\]"

Q_KINDS: Kinds = {
    **_COMMON,
    "state": rf"    state={STATE}",
    # The MVT fixture lost trailing blanks; AOSP prints "): " on every release, so shapes are
    # compared on right-stripped lines for Q and later.
    "op": rf"      {OP} \({MODE}(?: / switch {OP}={MODE})?\):",
    "access": rf"          Access: \[{STATE}-{FLAGS}\] {TS} \({DUR}\)(?: duration={DUR})?"
    rf"(?:{_PROXY_Q})?",
    "reject": rf"          Reject: \[{STATE}-{FLAGS}\]{TS} \({DUR}\)(?:{_PROXY_Q})?",
    "running": rf"          Running start at: {DUR}",
    "op nesting": r"          startNesting=\d+",
}

R_KINDS: Kinds = {
    **_COMMON,
    "state": rf"    state={STATE}",
    "capability": r"    capability=[-LCMNFUA]+",
    "widget": r"    appWidgetVisible=(?:true|false)",
    "op": rf"      {OP} \({MODE}(?: / switch {OP}={MODE})?\):",
    "tag open": rf"        {TAG}=\[",
    "tag close": r"        \]",
    "access": rf"          Access: \[{STATE}-{FLAGS}\] {TS} \({DUR}\)(?: duration={DUR})?"
    rf"(?:{_PROXY_R})?",
    "reject": rf"          Reject: \[{STATE}-{FLAGS}\]{TS} \({DUR}\)(?:{_PROXY_R})?",
    "running": rf"          Running start at: {DUR}",
    "op nesting": r"          startNesting=\d+",
    "global restriction": rf"  Global restrictions for token android\.os\.Binder@{HEX}:",
    "global restricted": rf"      Restricted ops: \[{OP}(?:, {OP})*\]",
    "policy": r"  AppOps policy not set\.",
}


def kind_of(line: str, kinds: Kinds) -> str | None:
    for name, pattern in kinds.items():
        if re.fullmatch(pattern, line):
            return name
    return None


def check_shapes(
    sim: Iterable[str], real: Iterable[str], kinds: Kinds, absent_ok: dict[str, str]
) -> None:
    """Every simulated line has a kind, and every kind used also occurs in the capture.

    ``absent_ok`` names kinds the capture does not contain, each with the reason the shape is
    still trusted; a kind listed there that the capture *does* contain is an error too, so the
    list cannot rot into a blanket excuse.
    """
    real_kinds = {k for line in real if (k := kind_of(line, kinds)) is not None}
    unknown = [line for line in sim if kind_of(line, kinds) is None]
    assert not unknown, f"simulated lines of no known shape: {unknown[:5]}"
    used = {k for line in sim if (k := kind_of(line, kinds)) is not None}
    missing = used - real_kinds - set(absent_ok)
    assert not missing, f"line kinds never seen in the real capture: {sorted(missing)}"
    stale = set(absent_ok) & real_kinds
    assert not stale, f"kinds listed as absent but present in the capture: {sorted(stale)}"


def headers(lines: Iterable[str]) -> list[str]:
    """Section headers: ``Current ...``, two-space ``Name:`` sections (not Uid/Package)."""
    out = []
    for line in lines:
        if re.fullmatch(
            r"Current AppOps Service state:|  [A-Z][A-Za-z ]+:|  User restrictions"
            r" for token .*:",
            line,
        ) and not line.startswith("  Uid "):
            out.append(re.sub(r"@[0-9a-f]+", "@", line))
    return out


def same_order(sim: list[str], real: list[str]) -> None:
    common = [h for h in sim if h in real]
    assert common == [h for h in real if h in common], (sim, real)


# ----------------------------------------------------------------------------------- structure

# Extra sections the simulator prints that a (trimmed) capture lacks; seen in the P capture or
# the source of the release.
_SECTIONS_FROM_SOURCE = {
    "  Profile owners:",
    "  All op mode watchers:",
    "  All op active watchers:",
    "  All op started watchers:",
    "  All op noted watchers:",
    "  Clients:",
    "  User restrictions for token android.os.Binder@:",
}


async def test_p_dump_matches_fire_os_capture() -> None:
    real = _capture(SAMPLES / "fireos_kftrwi_a9_dumpsys_appops_full.txt")
    state = make_state(28)
    state.users[10] = User(10, "child")
    state.profile_owners[0] = f"{OTHER}/.Admin"
    reg = registry(state)
    status, out, err = await dumpsys(reg, "appops")
    assert (status, err) == (0, "")
    sim = out.splitlines()
    # P keeps trailing blanks (the capture is byte-exact): compare unstripped lines.
    check_shapes(
        sim,
        real,
        P_KINDS,
        {"uid mode": "the Fire OS phone has no uid-level modes; shape as in the Q capture"},
    )
    assert headers(sim)[:2] == ["Current AppOps Service state:", "  Settings:"]
    same_order(headers(sim), headers(real))
    assert set(headers(sim)) <= set(headers(real)) | _SECTIONS_FROM_SOURCE


async def test_p_appops_get_matches_fire_os_capture() -> None:
    real = _capture(SAMPLES / "fireos_kftrwi_a9_appops_get_firelauncher.txt")
    state = make_state(28)
    state.finish_op("android", 0, "MONITOR_LOCATION")
    reg = registry(state)
    status, out, _ = await cmd(reg, "get", CAM)
    assert status == 0
    kinds = {
        "time": rf"{OP}: {MODE}; time={DUR} ago",
        "time+duration": rf"{OP}: {MODE}; time={DUR} ago; duration={DUR}",
        "reject": rf"{OP}: {MODE}; rejectTime={DUR} ago",
        "time+reject": rf"{OP}: {MODE}; time={DUR} ago; rejectTime={DUR} ago",
        "mode only": rf"{OP}: {MODE}",
    }
    check_shapes(
        out.splitlines(),
        real,
        kinds,
        {
            "reject": "AppManager #29 capture (P/Q era) shows it; see the next test",
            "mode only": "AppManager #29 capture shows it",
        },
    )
    am = _capture(SAMPLES / "issue_appmanager29_unknown-device_appops_get_excerpt.txt")
    assert all(kind_of(line, kinds) for line in am if not line.startswith("OP_"))
    # P prints no uid modes for a package (the CAM uid has COARSE_LOCATION ignore).
    assert "COARSE_LOCATION" not in out


async def test_q_dump_matches_samsung_capture() -> None:
    real = [line.rstrip() for line in _capture(SAMPLES / "mvt_samsung-a40_a10_dumpsys_appops.txt")]
    state = make_state(29)
    reg = registry(state)
    status, out, _ = await dumpsys(reg, "appops")
    assert status == 0
    sim = [line.rstrip() for line in out.splitlines()]
    check_shapes(
        sim,
        real,
        Q_KINDS,
        {
            "running": "Q placement of Running start at: same helper as P (doc S4); no Q capture",
            "op nesting": "printed with Running start at:",
            "uid nesting": "UidState.startNesting still exists in Q (removed in R)",
            "all-op callback": "trimmed fixture; P capture shows the same ModeCallback line",
            "watcher token": "trimmed fixture; shape from the P capture",
            "watched ops": "trimmed fixture; shape from the P capture",
            "active callback": "trimmed fixture; shape from the P capture",
            "client token": "trimmed fixture; shape from the P capture",
            "client state": "trimmed fixture; shape from the P capture",
            "started header": "trimmed fixture; shape from the P capture",
            "started op": "trimmed fixture; shape from the P capture",
        },
    )
    same_order(headers(sim), headers(real))
    assert set(headers(sim)) <= set(headers(real)) | _SECTIONS_FROM_SOURCE
    # The Reject line really has no space after "]" (Q through U).
    assert re.search(r"Reject: \[cch-s\]\d{4}-", out)


def _doc_block(title: str) -> list[str]:
    """The code block of the reference doc that follows ``title``, comments removed."""
    if not DOC.exists():
        pytest.skip(f"reference doc {DOC} is not available")
    text = DOC.read_text(encoding="utf-8")
    start = text.index(title)
    block = text[start:].split("```", 2)[1]
    return [re.sub(r"\s+# .*$", "", line).rstrip() for line in block.splitlines()[1:]]


@pytest.mark.parametrize("sdk", [30, 31, 33, 34, 35])
async def test_r_plus_dump_matches_doc_grammar(sdk: int) -> None:
    real = _doc_block("**R (11) and later**")
    state = make_state(sdk)
    state.note_op(
        CAM,
        0,
        "READ_CONTACTS",
        state="fgsvc",
        flags="tpd",
        tag="sync",
        proxy=(10070, "com.android.providers.contacts"),
    )
    state.start_op(CAM, 0, "CAMERA", state="top", tag="video")
    state.start_op(CAM, 0, "CAMERA", state="top", tag="video")
    state.sensor_privacy["microphone"] = True
    reg = registry(state)
    status, out, _ = await dumpsys(reg, "appops")
    assert status == 0
    sim = [line.rstrip() for line in out.splitlines()]
    absent = {
        "title": "the doc block starts at the uid level",
        "section": "the doc block starts at the uid level; sections as in P/Q captures",
        "setting": "settle times of R+ source (5s/5s/1s)",
        "blank": "separator lines of dump()",
        "watched op": "as in the P and Q captures",
        "mode callback": "as in the P and Q captures",
        "all-op callback": "as in the P capture",
        "watcher token": "as in the P capture",
        "watched ops": "as in the P capture",
        "active callback": "Started/Noted callbacks print like ActiveCallback (R source)",
        "capability": "R source prints printCapabilitiesFull letters; the doc's '6' is AppOps.md",
        "reject": "dumpStatesLocked (R/S/U source); Q capture shows the same no-space form",
        "restriction token": "as in the P capture",
        "restricted header": "as in the P capture",
        "restricted user": "as in the P capture",
        "global restriction": "U AppOpsRestrictionsImpl.dumpRestrictions",
        "global restricted": "U AppOpsRestrictionsImpl.dumpRestrictions",
        "policy": "U dump(): AppOps policy not set.",
    }
    check_shapes(sim, real, R_KINDS, absent)
    assert re.search(r"\n        video=\[\n(?:.*\n)*?          Running start at: ", out)
    assert "          startNesting=2\n" in out
    assert ("Global restrictions for token" in out) == (sdk >= 34)
    assert ("  AppOps policy not set." in out) == (sdk >= 34)


@pytest.mark.parametrize(("sdk", "letters"), [(30, "LCM"), (31, "LCMN"), (34, "LCMNFU")])
async def test_capability_letters_by_release(sdk: int, letters: str) -> None:
    state = make_state(sdk)
    state.uid_states[state.packages[CAM].uid(0)] = "top"
    state.uid_states[state.packages[OTHER].uid(0)] = "cch"
    _, out, _ = await dumpsys(registry(state), "appops")
    assert f"    capability={letters}\n" in out
    assert f"    capability={'-' * len(letters)}\n" in out


async def test_r_plus_get_matches_originos_capture() -> None:
    real = _capture(SAMPLES / "issue_shizucallrecorder41_iqoo-neo7-originos6_appops_get.txt")
    state = make_state(35)
    uid = state.packages[CAM].uid(0)
    for name in ("FINE_LOCATION", "CAMERA", "RECORD_AUDIO"):
        state.uid_op(uid, name).mode = "ignore"
    state.note_op(CAM, 0, "MANAGE_ONGOING_CALLS", state="bg", rejected=True)
    reg = registry(state)
    status, out, _ = await cmd(reg, "get", CAM)
    assert status == 0
    lines = out.splitlines()
    kinds = {
        "first uid": rf"Uid mode: {OP}: {MODE}",
        "mode only": rf"{OP}: {MODE}",
        "reject": rf"{OP}: {MODE}; rejectTime={DUR} ago",
        "time": rf"{OP}: {MODE}; time={DUR} ago",
        "time+duration": rf"{OP}: {MODE}; time={DUR} ago; duration={DUR}",
        "running": rf"{OP}: {MODE}; time={DUR} ago \(running\)",
    }
    check_shapes(
        lines,
        real,
        kinds,
        {
            "time": "AppManager #29 and Fire OS captures",
            "time+duration": "AppManager #29 and Fire OS captures",
            "running": "AOSP get: ' (running)' replaces '; duration='",
        },
    )
    # "Uid mode: " only before the first uid-level entry, as on the OriginOS phone.
    assert lines[0].startswith("Uid mode: COARSE_LOCATION: ignore")
    assert sum(line.startswith("Uid mode:") for line in lines) == 1
    assert lines[1:4] == ["FINE_LOCATION: ignore", "CAMERA: ignore", "RECORD_AUDIO: ignore"]


def _op_blocks(lines: list[str], sdk: int) -> Iterable[list[str]]:
    block: list[str] = []
    for line in lines:
        if re.match(r"    Package |  Uid ", line):
            if block:
                yield block
            block = []
        elif m := re.match(r"      ([A-Z][A-Z0-9_]+) \(", line):
            block.append(m.group(1))
    if block:
        yield block


@pytest.mark.parametrize(
    ("name", "sdk"),
    [
        ("fireos_kftrwi_a9_dumpsys_appops_full.txt", 28),
        ("mvt_samsung-a40_a10_dumpsys_appops.txt", 29),
    ],
)
def test_catalogue_numbers_order_real_dumps(name: str, sdk: int) -> None:
    """Dumps list ops by number: the catalogue must reproduce every package's order."""
    real = _capture(SAMPLES / name)
    by_name = {op_name(info, sdk): info for info in OPS.values()}
    checked = 0
    for block in _op_blocks(real, sdk):
        codes = [by_name[n].code for n in block if n in by_name]
        assert codes == sorted(codes), block
        unknown = [n for n in block if n not in by_name]
        assert not unknown, unknown
        checked += len(block)
    assert checked > 20


def test_catalogue_orders_originos_uid_modes() -> None:
    real = _capture(SAMPLES / "issue_shizucallrecorder41_iqoo-neo7-originos6_appops_get.txt")
    # Uid-level entries come first (no times), then the package entries: each list is ordered.
    for part in ([x for x in real if ";" not in x], [x for x in real if ";" in x]):
        names = [line.removeprefix("Uid mode: ").split(":")[0] for line in part]
        codes = [OPS[n].code for n in names if n in OPS]
        assert codes == sorted(codes)
    assert sum(";" not in x for x in real) >= 25


@pytest.mark.parametrize(
    ("sdk", "name"),
    [
        (28, "appops_help_api28.txt"),
        (29, "appops_help_api29.txt"),
        (33, "appops_help_api30-35.txt"),
    ],
)
async def test_help_matches_real_help(sdk: int, name: str) -> None:
    real = _capture(HELP / name)
    status, out, _ = await cmd(registry(make_state(sdk)), "help")
    assert status == 255  # handleDefaultCommands returns -1 even for help
    # The help capture lost trailing blanks (AOSP prints "<OP> " on start/stop).
    assert [line.rstrip() for line in out.splitlines()] == real


# Camera, audio, location against their captures.

CAMERA_KINDS: Kinds = {
    "blank": r"",
    "header": r"== [A-Za-z0-9 ()/:.,-]+ ==",
    "count": r"Number of (?:normal |public )?camera devices(?: visible to API1)?: \d+",
    "map": r'    Device \d+ maps to "[^"]+"',
    "clients": r"Active Camera Clients:",
    "empty": r"\[\]",
    "open": r"\[",
    "close": r"\]",
    "client": rf"\(Camera ID: \w+, Cost: \d+, PID: \d+, Score: -?\d+, State: \d+User Id: \d+, "
    rf"Client Package Name: {PKG}, Conflicting Client Devices: \{{\}}\)",
    "allowed": r"Allowed user IDs: \d+(?:, \d+)*",
    "event": rf"  \d\d-\d\d \d\d:\d\d:\d\d : (?:CONNECT|DISCONNECT) device \w+ client for package "
    rf"{PKG} \(PID \d+\)",
    "user switch": r"  \d\d-\d\d \d\d:\d\d:\d\d : USER_SWITCH previous allowed user IDs: "
    r"<None>, current allowed user IDs: \d+",
    "vendor": r"  Dumping configured vendor tag descriptors: (?:\d+ entries|None set)",
    "device closed": r"  Device \w+ is closed, no client instance",
    "device open": r"  Device \w+ is open\. Client instance dump:",
    "client detail": r"    Client (?:priority score: -?\d+ state: \d+|PID: \d+|package: \S+)",
    "hal device": r"== Camera HAL device device@3\.\d/[\w/]+ \(v3\.\d\) static information: ==",
    "static": r"  (?:Resource cost: \d+|Conflicting devices: None|API1 info:)",
    "static detail": r"    (?:Has a flash unit: (?:true|false)|Facing: \w+|Orientation: \d+)",
    "traces": r"  No camera traces collected\.",
}


@pytest.mark.parametrize("sdk", [33, 34])
async def test_camera_dump_matches_captures(sdk: int) -> None:
    names = [
        "issue_wsa478_wsa-a13_dumpsys_media.camera_excerpt.txt",
        "issue_r1escape18_rabbit-r1-mtk_dumpsys_media.camera_excerpt.txt",
        "issue_ncnn-nanodet2_hikey970_dumpsys_media.camera_excerpt.txt",
    ]
    real = [line for name in names for line in _capture(SAMPLES / name)]
    state = make_state(sdk)
    proc = state.start_process(CAM, 0, reason="activity", component=f"{CAM}/.Main", state="top")
    state.camera_clients.append(CameraClient(CAM, proc.pid, "0", state.now_ms() - 5_000))
    status, out, _ = await dumpsys(registry(state), "media.camera")
    assert status == 0
    sim = out.splitlines()
    check_shapes(
        sim,
        real,
        CAMERA_KINDS,
        {
            "device closed": "CameraService::dump (frameworks/av); no excerpt reaches it",
            "device open": "CameraService::dump (frameworks/av)",
            "client detail": "CameraService::dump (frameworks/av)",
            "hal device": "CameraProviderManager dump; not verified against a capture",
            "static": "CameraProviderManager dump; not verified against a capture",
            "static detail": "CameraProviderManager dump; not verified against a capture",
            "traces": "CameraTraces::dump; not verified against a capture",
        },
    )
    order = [line for line in sim if line.startswith("== ")]
    assert order[:2] == [
        "== Service global info: ==",
        "== Camera service events log (most recent at top): ==",
    ]
    assert order.index("== Vendor tags: ==") > order.index(
        "== Camera service events log (most recent at top): =="
    )


async def test_audio_markdown_layout_matches_emulator_capture() -> None:
    real = _capture(SAMPLES / "adbjsoncli_emulator-sdk_gphone16k_dumpsys_audio_head.txt")
    state = make_state(36)
    status, out, _ = await dumpsys(registry(state), "audio")
    assert status == 0
    sim = out.splitlines()
    # The headings of the simulated head appear in the capture, in the same order.
    sim_heads = [line for line in sim if line.startswith("#")]
    real_heads = [line for line in real if line.startswith("#")]
    assert sim_heads == real_heads[: len(sim_heads)]
    assert sim[:2] == ["AudioService Dumpsys", sim[1]]
    assert re.fullmatch(
        r"Current time: \w{3} \w{3} \d\d \d\d:\d\d:\d\d GMT[+-]\d\d:\d\d \d{4}", sim[1]
    )
    assert re.fullmatch(
        r"Current time: \w{3} \w{3} \d\d \d\d:\d\d:\d\d GMT[+-]\d\d:\d\d \d{4}", real[1]
    )
    for line in ("  playback listeners:", "  players:", "  allowed capture policies:"):
        assert line in sim and line in real


LOCATION_KINDS: Kinds = {
    "blank": r"",
    "top": r"Location Manager State:",
    "section": r"  (?:User Info|Location Settings|Location Providers|Historical Aggregate "
    r"Location Provider Data|GNSS Manager|Geofence Manager|Event Log):",
    "users": r"    current users: u\[\d+\]",
    "setting": r"    Location (?:Setting: (?:true|false)|Allow/Deny Packages:)",
    "provider": r"    \w+ provider:",
    "service": r"      service: (?:registered|unregistered|ProviderRequest\[OFF\]|ProviderRequest"
    rf"\[@{DUR}(?:, HIGH_ACCURACY|, LOW_POWER)?(?:, WorkSource\{{[^}}]+\}})?\])",
    "listeners": r"      listeners:",
    "listener": rf"        \d+/{PKG}(?:\[\w+\])?/[0-9A-F]{{8}} Request\[(?:PASSIVE|@{DUR} "
    r"(?:HIGH_ACCURACY|BALANCED|LOW_POWER))(?:, [^\]]+)?\](?: \(inactive\))?",
    "last": r"      last location=(?:null|Location\[.*\])",
    "flag": r"      (?:enabled|allowed)=(?:true|false)",
    "identity": r"      identity=\d+/\w+(?:\[\w+\])?",
    "properties": r"      properties=ProviderProperties\[.*\]",
    "aggregate provider": r"    \w+:",
    "aggregate": rf"      \d+/{PKG}(?:\[\w+\])?: min/max interval = (?:\d+s|passive)/(?:\d+s|"
    rf"passive), total/active/foreground duration = {DUR}/{DUR}/{DUR}, locations = \d+",
    "geofence": r"    service: unregistered",
    "registration": rf"    \d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}}: \w+ provider \+registration \d+/"
    rf"{PKG}(?:\[\w+\])?/[0-9A-F]{{8}} -> Request\[.*\]",
    "provider request": r"    \d\d-\d\d \d\d:\d\d:\d\d\.\d{3}: \w+ provider request = "
    r"ProviderRequest\[.*\]",
}


@pytest.mark.parametrize("sdk", [31, 35])
async def test_location_dump_matches_emulator_capture(sdk: int) -> None:
    real = _capture(SAMPLES / "adbjsoncli_emulator-sdk_gphone16k_dumpsys_location.txt")
    state = make_state(sdk)
    uid = state.packages[CAM].uid(0)
    state.location_requests.append(
        LocationRequest(CAM, uid, "fused", 1000, True, state.now_ms() - 7_000)
    )
    status, out, _ = await dumpsys(registry(state), "location")
    assert status == 0
    sim = out.splitlines()
    check_shapes(sim, real, LOCATION_KINDS, {})
    sections = [line for line in sim if re.fullmatch(r"  [A-Z][\w /]+:", line)]
    same_order(sections, [line for line in real if re.fullmatch(r"  [A-Z][\w /]+:", line)])
    assert f"        {uid}/{CAM}/" in out


# ----------------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0"),
        (5, "+5ms"),
        (1_005, "+1s5ms"),
        (93_784_005, "+1d2h3m4s5ms"),
        (3_603_000, "+1h0m3s0ms"),
        (-12, "-12ms"),
        (-93_784_005, "-1d2h3m4s5ms"),
        (30_000, "+30s0ms"),
        (60_000, "+1m0s0ms"),
    ],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


def test_format_uid() -> None:
    assert [format_uid(u) for u in (1000, 10036, 1010341, 101000, 99005)] == [
        "1000",
        "u0a36",
        "u10a341",
        "u1s1000",
        "u0i5",
    ]


def test_catalogue() -> None:
    assert OPS["CAMERA"].code == 26 and OPS["RECORD_AUDIO"].code == 27
    assert (
        OPS_BY_CODE[100].name == "PHONE_CALL_MICROPHONE"
        and OPS["PHONE_CALL_MICROPHONE"].since == 30
    )
    assert switch_op(OPS["FINE_LOCATION"], 28).name == "COARSE_LOCATION"
    assert switch_op(OPS["FINE_LOCATION"], 31).name == "FINE_LOCATION"
    assert switch_op(OPS["MONITOR_HIGH_POWER_LOCATION"], 35).name == "COARSE_LOCATION"
    assert PERMISSION_OPS["android.permission.RECORD_AUDIO"] == "RECORD_AUDIO"
    assert PERMISSION_OPS["android.permission.ACCESS_FINE_LOCATION"] == "FINE_LOCATION"
    assert PERMISSION_OPS["android.permission.PACKAGE_USAGE_STATS"] == "GET_USAGE_STATS"
    assert PERMISSION_OPS["android.permission.POST_NOTIFICATIONS"] == "POST_NOTIFICATION"
    for name in [
        "COARSE_LOCATION",
        "MONITOR_LOCATION",
        "READ_CLIPBOARD",
        "WRITE_CLIPBOARD",
        "WRITE_CONTACTS",
        "RECEIVE_SMS",
        "SEND_SMS",
        "SYSTEM_ALERT_WINDOW",
        "REQUEST_INSTALL_PACKAGES",
        "RUN_IN_BACKGROUND",
        "RUN_ANY_IN_BACKGROUND",
        "WAKE_LOCK",
        "TOAST_WINDOW",
        "PHONE_CALL_CAMERA",
        "RECORD_AUDIO_HOTWORD",
        "MANAGE_EXTERNAL_STORAGE",
        "POST_NOTIFICATION",
        "READ_CALL_LOG",
        "READ_PHONE_STATE",
        "READ_SMS",
        "BODY_SENSORS",
        "GET_USAGE_STATS",
    ]:
        assert name in OPS
    assert resolve_op("android:camera", 28) is OPS["CAMERA"]
    assert resolve_op("26", 28) is OPS["CAMERA"]
    assert (
        resolve_op("android:monitor_location_high_power", 30) is OPS["MONITOR_HIGH_POWER_LOCATION"]
    )
    assert resolve_op("PHONE_CALL_CAMERA", 29) is None  # R op on Q
    assert op_name(OPS["TURN_SCREEN_ON"], 28) == "TURN_ON_SCREEN"


@pytest.mark.parametrize("sdk", [28, 29, 31, 35])
async def test_start_and_finish(sdk: int) -> None:
    state = make_state(sdk)
    reg = registry(state)
    state.start_op(CAM, 0, "CAMERA", state="top")
    _, out, _ = await dumpsys(reg, "appops", "--op", "CAMERA")
    assert "Running start at: " in out
    _, got, _ = await cmd(reg, "get", CAM, "CAMERA")
    assert got.endswith(" (running)\n")
    op = state.op(CAM, 0, "CAMERA")
    op.running_since_ms = state.now_ms() - 61_500  # ran 61.5 s; the access is the start
    for rec in op.accesses.values():
        rec.time_ms = op.running_since_ms
    state.finish_op(CAM, 0, "CAMERA")
    _, out, _ = await dumpsys(reg, "appops", "--op", "CAMERA")
    assert "Running start at" not in out
    if sdk == 28:
        assert re.search(r"\n          duration=\+1m1s5\d\dms\n", out)
    else:
        assert re.search(r"Access: \[top-s\] .* duration=\+1m1s5\d\dms", out)
    _, got, _ = await cmd(reg, "get", CAM, "CAMERA")
    assert re.fullmatch(r"CAMERA: allow; time=\+1m1s5\d\dms ago; duration=\+1m1s5\d\dms\n", got)


@pytest.mark.parametrize("sdk", [28, 33])
async def test_set_package_mode(sdk: int) -> None:
    state = make_state(sdk)
    reg = registry(state)
    state.note_op(CAM, 0, "CAMERA", state="top")
    assert await cmd(reg, "set", CAM, "CAMERA", "ignore") == (0, "", "")
    _, out, _ = await dumpsys(reg, "appops", "--package", CAM)
    assert "      CAMERA (ignore): " in out
    _, got, _ = await cmd(reg, "get", CAM, "android:camera")
    assert got.startswith("CAMERA: ignore; time=")
    assert state.op(CAM, 0, "CAMERA").mode == "ignore"
    assert state.uid_ops.get(state.packages[CAM].uid(0), {}).get("CAMERA") is None


async def test_set_uid_scope() -> None:
    state = make_state(33)
    reg = registry(state)
    uid = state.packages[CAM].uid(0)
    assert (await cmd(reg, "set", "--uid", CAM, "RECORD_AUDIO", "ignore"))[0] == 0
    assert (await cmd(reg, "set", format_uid(uid), "CAMERA", "deny"))[0] == 0
    assert (await cmd(reg, "set", str(uid), "WAKE_LOCK", "foreground"))[0] == 0
    _, out, _ = await dumpsys(reg, "appops", "--package", CAM)
    assert "      CAMERA: mode=deny\n      RECORD_AUDIO: mode=ignore\n" in out
    assert "    foregroundOps:\n      WAKE_LOCK: SILENT\n    hasForegroundWatchers=false\n" in out
    _, got, _ = await cmd(reg, "get", CAM)
    assert got.startswith("Uid mode: COARSE_LOCATION: ignore\nCAMERA: deny\nRECORD_AUDIO: ignore\n")
    _, got, _ = await cmd(reg, "get", format_uid(uid), "CAMERA")
    assert got == "Uid mode: CAMERA: deny\n"


@pytest.mark.parametrize(("sdk", "stored"), [(28, "COARSE_LOCATION"), (31, "FINE_LOCATION")])
async def test_set_goes_through_the_switch_op(sdk: int, stored: str) -> None:
    state = make_state(sdk)
    await cmd(registry(state), "set", OTHER, "FINE_LOCATION", "ignore")
    assert state.op(OTHER, 0, stored).mode == "ignore"


async def test_set_to_default_mode_prunes_the_op() -> None:
    state = make_state(33)
    reg = registry(state)
    await cmd(reg, "set", OTHER, "RUN_ANY_IN_BACKGROUND", "ignore")
    _, got, _ = await cmd(reg, "get", OTHER, "RUN_ANY_IN_BACKGROUND")
    assert got == "RUN_ANY_IN_BACKGROUND: ignore\n"
    await cmd(reg, "set", OTHER, "RUN_ANY_IN_BACKGROUND", "allow")
    _, got, _ = await cmd(reg, "get", OTHER, "RUN_ANY_IN_BACKGROUND")
    assert got == "No operations.\nDefault mode: allow\n"


@pytest.mark.parametrize("sdk", [28, 34])
async def test_dump_filters(sdk: int) -> None:
    state = make_state(sdk)
    reg = registry(state)
    _, full, _ = await dumpsys(reg, "appops")
    _, by_op, _ = await dumpsys(reg, "appops", "--op", "WAKE_LOCK")
    ops = set(re.findall(r"\n      ([A-Z_]+) \(", by_op))
    assert ops == {"WAKE_LOCK"} and "SYSTEM_ALERT_WINDOW" in full
    assert "Profile owners" not in by_op and "All op mode watchers" not in by_op
    _, by_pkg, _ = await dumpsys(reg, "appops", "--package", OTHER)
    assert re.findall(r"\n    Package (\S+):", by_pkg) == [OTHER]
    _, by_mode, _ = await dumpsys(reg, "appops", "--mode", "ignore")
    assert set(re.findall(r"\(([a-z]+)[ )/]", by_mode)) <= {"ignore"}
    assert "      COARSE_LOCATION: mode=ignore" in by_mode
    assert "WAKE_LOCK" not in by_mode
    # There is no --uid option on dumpsys appops; filter a uid with cmd appops get.
    assert (await dumpsys(reg, "appops", "--uid", "10101"))[1] == "Unknown option: --uid\n"
    uid = format_uid(state.packages[CAM].uid(0))
    _, by_uid, _ = await cmd(reg, "get", uid)
    assert by_uid.strip().endswith("COARSE_LOCATION: ignore") and "WAKE_LOCK" not in by_uid


@pytest.mark.parametrize("profile", ["fire-hd10-a9", "pixel8-a15"])
def test_a_dump_for_one_op_prints_what_the_whole_collection_would(
    profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--op`` reads only the uids holding the op (a poller asks it many times a second);
    what it prints must not change for that: shared-uid nesting, foreground ops, filters."""
    state = build_state(profile, seed=3, work_profile=True)
    monkeypatch.setattr(DeviceState, "now_ms", lambda self: 1_790_000_000_000)
    for pkg in list(state.packages.values())[::7]:  # running and foreground ops here and there
        for pu in pkg.users.values():
            for op in list(pu.ops.values())[:2]:
                op.running_since_ms, op.nesting, op.mode = 1_789_999_990_000, 2, "foreground"
    some_pkg = sorted(state.packages)[5]
    narrowed = appops._collect

    def whole(state: DeviceState, sdk: int, only: object = None) -> object:
        return narrowed(state, sdk)

    compared = 0
    for info in OPS.values():
        if info.since > state.build.sdk:
            continue
        for extra in ([], ["--package", some_pkg], ["--mode", "foreground"], ["-a"]):
            args = ["--op", info.name, *extra]
            monkeypatch.setattr(appops, "_collect", narrowed)
            got = appops._dump_appops(state, args)
            monkeypatch.setattr(appops, "_collect", whole)
            assert got == appops._dump_appops(state, args), args
            compared += any(line.startswith("  Uid ") for line in got)
    assert compared > 20  # the comparison saw real uids, not only empty dumps


async def test_dump_option_errors() -> None:
    reg = registry(make_state(33))
    assert await dumpsys(reg, "appops", "--op", "BOGUS") == (
        0,
        "Error: Unknown operation string: BOGUS\n",
        "",
    )
    assert (await dumpsys(reg, "appops", "--package", "com.nope"))[
        1
    ] == "Unknown package: com.nope\n"
    assert (await dumpsys(reg, "appops", "--op"))[1] == "No argument for --op option\n"
    assert (await dumpsys(reg, "appops", "--mode", "maybe"))[
        1
    ] == "Error: Mode maybe is not valid\n"
    assert (await dumpsys(reg, "appops", "extra"))[1] == "Unknown command: extra\n"
    assert (await dumpsys(reg, "appops", "-h"))[1].startswith(
        "AppOps service (appops) dump options:"
    )
    p = registry(make_state(28))
    assert (await dumpsys(p, "appops", "--watchers"))[1] == "Unknown option: --watchers\n"


async def test_cmd_errors_and_exit_statuses() -> None:
    reg = registry(make_state(34))
    assert await cmd(reg, "get", CAM, "BOGUS") == (
        255,
        "",
        "Error: Unknown operation string: BOGUS\n",
    )
    assert await cmd(reg, "get", "com.nope") == (255, "", "Error: No UID for com.nope in user 0\n")
    assert await cmd(reg, "set", "--user", "10", CAM, "CAMERA", "ignore") == (
        255,
        "",
        f"Error: No UID for {CAM} in user 10\n",
    )
    assert await cmd(reg, "set", CAM, "CAMERA") == (255, "", "Error: Mode not specified.\n")
    assert await cmd(reg, "set", CAM, "CAMERA", "maybe") == (
        255,
        "",
        "Error: Mode maybe is not valid\n",
    )
    assert await cmd(reg, "set", CAM) == (255, "", "Error: Operation not specified.\n")
    assert await cmd(reg, "get") == (255, "", "Error: Package name not specified.\n")
    assert await cmd(reg, "frobnicate") == (255, "Unknown command: frobnicate\n", "")
    status, _, err = await cmd(reg, "get", "--user", "x", CAM)
    assert status == 255
    assert err.startswith("\nException occurred while executing 'get':\n")
    assert "java.lang.IllegalArgumentException: Bad user number: x\n" in err
    assert await cmd(reg, "get", OTHER, "CAMERA") == (
        0,
        "No operations.\nDefault mode: allow\n",
        "",
    )
    assert await cmd(reg, "write-settings") == (0, "Current settings written.\n", "")
    assert await cmd(reg, "read-settings") == (0, "Last settings read.\n", "")


async def test_query_op() -> None:
    state = make_state(30)
    reg = registry(state)
    await cmd(reg, "set", OTHER, "RUN_ANY_IN_BACKGROUND", "ignore")
    await cmd(reg, "set", "--uid", CAM, "RUN_ANY_IN_BACKGROUND", "ignore")  # uid modes don't count
    assert await cmd(reg, "query-op", "RUN_ANY_IN_BACKGROUND") == (0, f"{OTHER}\n", "")
    assert await cmd(reg, "query-op", "WAKE_LOCK", "allow") == (0, f"{CAM}\n", "")
    assert await cmd(reg, "query-op", "CAMERA") == (0, "No operations.\n", "")


async def test_reset() -> None:
    state = make_state(33)
    reg = registry(state)
    await cmd(reg, "set", CAM, "CAMERA", "ignore")
    await cmd(reg, "set", CAM, "READ_SMS", "ignore")  # READ_SMS is never reset (disableReset)
    await cmd(reg, "set", OTHER, "CAMERA", "ignore")
    assert await cmd(reg, "reset", CAM) == (0, f"Reset all modes for: user 0, package {CAM}\n", "")
    assert state.op(CAM, 0, "CAMERA").mode == "default"
    assert state.op(CAM, 0, "READ_SMS").mode == "ignore"
    assert state.uid_op(state.packages[CAM].uid(0), "COARSE_LOCATION").mode == "default"
    assert state.op(OTHER, 0, "CAMERA").mode == "ignore"
    assert await cmd(reg, "reset") == (0, "Reset all modes for: user 0, all packages\n", "")
    assert state.op(OTHER, 0, "CAMERA").mode == "default"
    assert (await cmd(reg, "reset", "--user", "all"))[1] == (
        "Reset all modes for: all users, all packages\n"
    )
    assert await cmd(reg, "reset", "a", "b") == (255, "", "Error: Unsupported argument: b\n")


@pytest.mark.parametrize(("sdk", "head"), [(28, "executing:"), (33, "executing 'set':")])
async def test_oem_blocks_appops_set(sdk: int, head: str) -> None:
    state = make_state(sdk, oem=OemPolicy("miui", blocks_permission_changes=True))
    reg = registry(state)
    status, out, err = await cmd(reg, "set", CAM, "CAMERA", "ignore")
    assert (status, out) == (255, "")
    assert err.startswith(f"\nException occurred while {head}\n")
    assert (
        "java.lang.SecurityException: uid 2000 does not have "
        "android.permission.MANAGE_APP_OPS_MODES.\n\tat android.app.ContextImpl.enforce("
    ) in err
    assert state.packages[CAM].users[0].ops.get("CAMERA") is None
    assert (await cmd(reg, "get", CAM))[0] == 0  # reading is still allowed


async def test_start_stop_commands() -> None:
    state = make_state(31)
    reg = registry(state)
    assert await cmd(reg, "start", "--attribution", "rec", CAM, "RECORD_AUDIO") == (0, "", "")
    _, out, _ = await dumpsys(reg, "appops", "--op", "RECORD_AUDIO", "--attributionTag", "rec")
    assert "        rec=[\n" in out and "Running start at: " in out
    assert await cmd(reg, "stop", CAM, "RECORD_AUDIO") == (0, "", "")
    assert state.op(CAM, 0, "RECORD_AUDIO").running_since_ms is None
    assert (await cmd(reg, "start", "10101", "CAMERA"))[0] == 255


async def test_discrete_history() -> None:
    state = make_state(33)
    reg = registry(state)
    state.note_op(CAM, 0, "CAMERA", state="top", duration_ms=61_000)
    _, out, _ = await dumpsys(reg, "appops", "--include-discrete", "0")
    tail = out[out.index("Discrete accesses: \n") :]
    uid = state.packages[CAM].uid(0)
    assert f"  Uid: {uid}\n    Package: {CAM}\n      CAMERA\n        Attribution: null\n" in tail
    assert re.search(
        r"          Access \[top-s\] at \d{4}-\d\d-\d\d \d\d:\d\d:00\.000 for "
        r"120000 milliseconds \n",
        tail,
    )


async def test_camera_client_appears_and_goes() -> None:
    state = make_state(33)
    reg = registry(state)
    _, out, _ = await dumpsys(reg, "media.camera")
    assert "Active Camera Clients:\n[]\n" in out
    proc = state.start_process(CAM, 0, reason="activity", component=f"{CAM}/.Main", state="top")
    state.camera_clients.append(CameraClient(CAM, proc.pid, "0", state.now_ms()))
    _, out, _ = await dumpsys(reg, "media.camera")
    assert f"State: 2User Id: 0, Client Package Name: {CAM}, Conflicting" in out
    assert f"CONNECT device 0 client for package {CAM} (PID {proc.pid})" in out
    assert "  Device 0 is open. Client instance dump:" in out
    state.kill(proc.pid, "test")
    _, out, _ = await dumpsys(reg, "media.camera")
    assert "Active Camera Clients:\n[]\n" in out


@pytest.mark.parametrize("sdk", [28, 29, 33, 36])
async def test_recording_appears_in_audio(sdk: int) -> None:
    state = make_state(sdk)
    reg = registry(state)
    uid = state.packages[CAM].uid(0)
    rec = Recording(CAM, uid, 4242, state.new_session(), "MIC", state.now_ms())
    state.recordings.append(rec)
    _, out, _ = await dumpsys(reg, "audio")
    assert f"-- uid:{uid} -- patch:" in out and f"-- pack:{CAM} --" in out
    if sdk >= 29:
        assert f"riid {rec.session // 8}; active? true\n" in out
        assert " -- silenced:false -- " in out
        state.sensor_privacy["microphone"] = True
        _, out, _ = await dumpsys(reg, "audio")
        assert (" -- silenced:true -- " in out) == (sdk >= 31)
    else:
        assert "silenced" not in out and f"session:{rec.session} -- source:MIC -- uid:" in out
    if sdk < 36:
        assert re.search(r"\nRecordActivityMonitor dump time: \d+:\d\d:\d\d.[AP]M\n", out)


@pytest.mark.parametrize("sdk", [28, 35])
async def test_screen_state_in_power(sdk: int) -> None:
    state = make_state(sdk)
    reg = registry(state)
    _, out, _ = await dumpsys(reg, "power")
    assert "  mWakefulness=Awake\n" in out and out.endswith("Display Power: state=ON\n")
    state.screen_on = False
    _, out, _ = await dumpsys(reg, "power")
    assert "  mWakefulness=Asleep\n" in out and "Display Power: state=OFF\n" in out


async def test_location_old_layout_and_privacy_and_clipboard() -> None:
    state = make_state(29)
    uid = state.packages[CAM].uid(0)
    state.location_requests.append(LocationRequest(CAM, uid, "fused", 5000, False, state.now_ms()))
    reg = registry(state)
    _, out, _ = await dumpsys(reg, "location")
    assert f"UpdateRecord[fused {CAM}({uid} foreground) Request[ACCURACY_BLOCK fused " in out
    assert "sensor_privacy" not in reg.dumpsys  # the service exists from S on
    assert await dumpsys(reg, "clipboard") == (0, "", "")
    s = make_state(31)
    s.sensor_privacy["camera"] = True
    _, out, _ = await dumpsys(registry(s), "sensor_privacy")
    assert out.startswith("SENSOR PRIVACY MANAGER STATE (dumpsys sensor_privacy)\n")
    assert "        sensor=2\n        is_enabled=true\n" in out


# ----------------------------------------------------------------------------------- hostile data


HOSTILE = [
    "a",
    "com.x-y_z.ünïcødé",
    "pkg with spaces",
    "x" * 500,
    "line\nbreak",
    "%s%n{}",
    "..",
]


@pytest.mark.parametrize("sdk", [28, 29, 30, 33, 35])
async def test_hostile_names_never_crash(sdk: int) -> None:
    state = make_state(sdk)
    for name in HOSTILE:
        state.install(Package(name, 0))
        state.note_op(name, 0, "CAMERA", tag="]=[\n\x00", proxy=(1, "p\np"))
        state.start_op(name, 0, "RECORD_AUDIO", tag="")
        state.op(name, 0, "NOT_AN_OP").mode = "ignore"  # unknown names are skipped, not fatal
    state.uid_op(123_456_789, "CAMERA").mode = "deny"
    reg = registry(state)
    variants = [[], ["--op", "CAMERA"], ["--package", HOSTILE[4]], ["--mode", "ignore"]]
    if sdk >= 31:
        variants.append(["--include-discrete", "3"])
    for args in variants:
        status, out, _ = await dumpsys(reg, "appops", *args)
        assert status == 0 and out.startswith("Current AppOps Service state:")
    for name in HOSTILE:
        status, out, _ = await cmd(reg, "get", name)
        assert status == 0 and "RECORD_AUDIO: allow" in out
        assert (await cmd(reg, "set", name, "CAMERA", "ignore"))[0] == 0
    for service in ("media.camera", "audio", "location", "power"):
        assert (await dumpsys(reg, service))[0] == 0


async def test_two_thousand_packages() -> None:
    state = DeviceState(Build(sdk=34))
    for i in range(2_000):
        name = f"com.bulk.app{i}"
        state.install(Package(name, 0))
        state.note_op(name, 0, "WAKE_LOCK", state="bg", duration_ms=10)
        state.note_op(name, 0, "READ_CLIPBOARD", state="top", tag=f"t{i % 3}")
        if i % 10 == 0:
            state.start_op(name, 0, "CAMERA")
    reg = registry(state)
    started = time.perf_counter()
    status, out, _ = await dumpsys(reg, "appops")
    assert status == 0
    assert out.count("    Package com.bulk.app") == 2_000
    assert out.count("Running start at:") == 200
    assert time.perf_counter() - started < 10
