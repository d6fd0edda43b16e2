"""The simulated process/activity surfaces (``agent.sim.android.activity``) against real output.

Three groups: line shapes checked against real captures (loghub's threadtime log, the logcat
lines of the app-ops issue captures, real help texts, MVT's toybox ``ps``) - read from
``/work/shared`` and skipped with a reason when absent; behaviour (streaming ``logcat`` that
sees new starts and stops when cancelled, ``-d``/``-c``/``-T``, force-stop, standby buckets,
notifications, reboot autostart) across Android 9-15; and hostile data (odd process names,
a reader that never reads).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from agent.sim.android import Registry, activity
from agent.sim.shell import ShellIO
from agent.sim.state import Build, DeviceState, EventRecord, Package

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "android-samples"
HELP = SAMPLES / "packages" / "poweradb_help"

ALL_SDKS = (28, 29, 30, 31, 32, 33, 34, 35)

# logprint's threadtime header: time, then "%5d %5d %c %-8s: ".
THREADTIME = re.compile(
    r"^(\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ([ \d]{5}) ([ \d]{5}) ([VDIWEF]) (.*?): "
)
# -v epoch: "%19lld.%03ld" then the same header.
EPOCH = re.compile(r"^( {0,18}\d{1,19}\.\d{3}) ([ \d]{5}) ([ \d]{5}) ([VDIWEF]) (.*?): (.*)$")


def sample(*parts: str) -> Path:
    path = SAMPLES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real capture {path} is not available on this machine")
    return path


def help_sample(name: str) -> str:
    path = HELP / name
    if not path.exists():
        pytest.skip(f"real help capture {path} is not available on this machine")
    return path.read_text(encoding="utf-8")


def make(sdk: int = 35) -> tuple[DeviceState, Registry]:
    state = DeviceState(Build(sdk=sdk, release=str(sdk - 19)))
    state.install(Package("com.example.app", 0, boot_receivers=[".BootReceiver"]))
    state.install(Package("com.taobao.taobao", 0))
    state.install(Package("com.eg.android.AlipayGphone", 0))
    reg = Registry(state)
    activity.install(reg)
    return state, reg


async def run(
    reg: Registry, kind: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``logcat``/``ps`` (plain), ``cmd X`` or ``dumpsys X`` against the registry."""
    io = ShellIO(env or {})
    if kind == "cmd":
        status = await reg.cmd[args[0]](list(args[1:]), io)
    elif kind == "dumpsys":
        status = await reg.dumpsys[args[0]](list(args[1:]), io)
    else:
        status = await reg.commands[kind](list(args), io)
    return status, io.stdout.decode(), io.stderr.decode()


def event_lines(text: str, tag: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(rf" I {tag} *: ", line)]


def payload(line: str) -> str:
    return line.split(": ", 1)[1]


class LineIO(ShellIO):
    """A ShellIO that hands every written line to a queue, like a client reading a stream."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: asyncio.Queue[str] = asyncio.Queue()

    async def _write(self, fd: int, data: bytes) -> None:
        await super()._write(fd, data)
        for line in data.decode().splitlines():
            self.lines.put_nowait(line)


class StuckIO(ShellIO):
    """A client that stopped reading: every write blocks forever."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked = asyncio.Event()

    async def _write(self, fd: int, data: bytes) -> None:
        self.blocked.set()
        await asyncio.Event().wait()


async def next_matching(io: LineIO, pattern: str, within: float = 2.0) -> str:
    async def scan() -> str:
        while True:
            line = await io.lines.get()
            if re.search(pattern, line):
                return line

    return await asyncio.wait_for(scan(), within)


# ================================================================ structure vs real captures


def test_threadtime_columns_match_loghub_capture() -> None:
    """Our threadtime header puts pid, tid and priority in loghub's columns, tag and ': ' after."""
    real = [
        line.rstrip("\r\n")
        for line in sample("packages", "loghub", "Android_2k.log")
        .read_text(encoding="utf-8", errors="replace")
        .splitlines()
    ]
    assert all(THREADTIME.match(line) for line in real)
    real_cols = {
        (m.start(2), m.end(2), m.start(3), m.end(3), m.start(4))
        for m in map(THREADTIME.match, real)
        if m
    }

    state, reg = make(28)
    activity.start_activity(state, "com.example.app", 0, from_launcher=True)
    state.log("main", "D", "TextView", "visible is system.time.showampm", pid=2227, tid=2227)
    _, out, _ = asyncio.run(run(reg, "logcat", "-d", "-b", "all"))
    lines = [line for line in out.splitlines() if not line.startswith("---------")]
    assert lines
    for line in lines:
        m = THREADTIME.match(line)
        assert m is not None, line
        assert (m.start(2), m.end(2), m.start(3), m.end(3), m.start(4)) in real_cols, line


def test_start_line_shape_matches_loghub_start_lines() -> None:
    """``START u0 {act=... cat=[...LAUNCHER] flg=0x10200000 cmp=... bnds=[...]} from uid N``."""
    real = [
        line
        for line in sample("packages", "loghub", "Android_2k.log")
        .read_text(encoding="utf-8", errors="replace")
        .splitlines()
        if "LAUNCHER" in line and "START u0" in line
    ]
    assert real
    shape = re.compile(
        r"I ActivityManager: START u0 \{act=android\.intent\.action\.MAIN "
        r"cat=\[android\.intent\.category\.LAUNCHER\] flg=0x10200000 cmp=[\w.]+/[\w.]+ "
        r"bnds=\[\d+,\d+\]\[\d+,\d+\]\} from uid \d+"
    )
    assert all(shape.search(line) for line in real)  # the pattern describes the capture ...
    state, reg = make(28)
    activity.start_activity(state, "com.example.app", 0, from_launcher=True)
    _, out, _ = asyncio.run(run(reg, "logcat", "-d", "-b", "system"))
    ours = [line for line in out.splitlines() if "START u0" in line]
    assert len(ours) == 1 and shape.search(ours[0])  # ... and our P line (P drops "on display")


def test_start_proc_line_shape_matches_loghub() -> None:
    real = [
        line
        for line in sample("packages", "loghub", "Android_2k.log")
        .read_text(encoding="utf-8", errors="replace")
        .splitlines()
        if "Start proc" in line
    ]
    shape = re.compile(r"I ActivityManager: Start proc \d+:[\w.:]+/u\d+a\d+ for \w+ [\w.]+/[\w.]+$")
    assert real and all(shape.search(line) for line in real)
    state, reg = make(28)
    state.start_process(
        "com.taobao.taobao", 0, reason="service", component="com.taobao.taobao/.Push"
    )
    _, out, _ = asyncio.run(run(reg, "logcat", "-d", "-b", "system"))
    assert [line for line in out.splitlines() if shape.search(line)]


def test_threadtime_matches_appops_issue_logcat_captures() -> None:
    """The mic-denied and camera captures are threadtime too; our lines parse the same way."""
    for name in (
        "issue_scrcpy4153_oneplus6t-a11_logcat_mic_denied_by_appop.txt",
        "issue_motioncam50_logcat_camera_state_active.txt",
    ):
        text = sample("appops-perms", name).read_text(encoding="utf-8", errors="replace")
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines and all(THREADTIME.match(line) for line in lines), name
    state, reg = make(30)
    state.log("main", "E", "ServiceUtilities", "Request denied by app op: 27", pid=1150, tid=31382)
    _, out, _ = asyncio.run(run(reg, "logcat", "-d", "-b", "main"))
    line = out.splitlines()[-1]
    assert THREADTIME.match(line)
    assert line.endswith(" 1150 31382 E ServiceUtilities: Request denied by app op: 27")


def doc_event_lines(tag: str) -> list[str]:
    path = SHARED / "docs" / "android-packages-installs.md"
    if not path.exists():
        pytest.skip(f"{path} is not available on this machine")
    return re.findall(rf"{tag}: (\[[^\]\n]*\])", path.read_text(encoding="utf-8"))


def test_am_proc_start_shape_matches_real_lines_per_version() -> None:
    """Real lines: P-era ``pkg/.Cls`` without braces, Q+ ``{pkg/full.Class}``; six fields."""
    # Real lines only: the doc also shows a field template and elided ("…") examples.
    real = [r for r in doc_event_lines("am_proc_start") if r.startswith("[0,") and "…" not in r]
    old = [r for r in real if "{" not in r]
    new = [r for r in real if "{" in r]
    assert old and new
    field = r"\[\d+,\d+,\d+,[\w.:]+,[\w -]+,"
    old_shape = re.compile(field + r"[\w.]+/[\w.]+\]$")
    new_shape = re.compile(field + r"\{[\w.]+/[\w.$]+\}\]$")
    assert all(old_shape.match(r) for r in old) and all(new_shape.match(r) for r in new)
    for sdk in ALL_SDKS:
        state, reg = make(sdk)
        state.start_process(
            "com.taobao.taobao", 0, reason="service", component="com.taobao.taobao/.push.Push"
        )
        _, out, _ = asyncio.run(run(reg, "logcat", "-d", "-b", "events"))
        (line,) = event_lines(out, "am_proc_start")
        shape = old_shape if sdk < 29 else new_shape
        assert shape.match(payload(line)), (sdk, line)


def test_am_kill_shape_matches_real_line() -> None:
    """``am_kill: [0,22308,pkg,700,stop pkg due to ...]``: R-U layout; V appends Rss."""
    (real,) = [r for r in doc_event_lines("am_kill") if "due to" in r]
    shape = re.compile(r"^\[0,\d+,[\w.]+,\d+,stop [\w.]+ due to [^,\]]+(,\d+)?\]$")
    assert shape.match(real)
    for sdk in ALL_SDKS:
        state, reg = make(sdk)
        state.start_process(
            "com.taobao.taobao", 0, reason="activity", component="com.taobao.taobao/.M"
        )
        asyncio.run(run(reg, "cmd", "activity", "force-stop", "com.taobao.taobao"))
        _, out, _ = asyncio.run(run(reg, "logcat", "-d", "-b", "events"))
        (line,) = event_lines(out, "am_kill")
        assert " I am_kill : [" in line  # "%-8s": the 7-letter tag is padded
        fields = payload(line)[1:-1].split(",")
        if sdk < 30:
            assert fields[4] == "stop com.taobao.taobao", sdk
        else:
            assert shape.match(payload(line)), (sdk, line)
        assert len(fields) == (6 if sdk >= 35 else 5), (sdk, line)


def rendered(text: str) -> str:
    """Help text as the captures hold it: ANSI colours and trailing blanks dropped by the
    collector's terminal."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def test_logcat_r_help_equals_real_help() -> None:
    """R: ``-h`` prints show_help and show_format_help to stderr; ``--help`` only the first."""
    real = help_sample("logcat_help_api30.txt")
    _state, reg = make(30)
    status, out, err = asyncio.run(run(reg, "logcat", "-h"))
    assert status == 0 and out == ""
    assert rendered(err) == rendered(real)
    status, out, err = asyncio.run(run(reg, "logcat", "--help"))
    assert status == 0 and out == ""
    usage = real.split("-v <format>, --format=<format> options:")[0]
    assert rendered(err) == rendered(usage)


@pytest.mark.parametrize(
    ("sdk", "name"),
    [
        (31, "logcat_help_api31-34.txt"),
        (34, "logcat_help_api31-34.txt"),
        (35, "logcat_help_api35.txt"),
    ],
)
def test_logcat_s_plus_help_equals_real_help(sdk: int, name: str) -> None:
    """S+ prints help to stdout; the raw string starts with a newline and S-U indent it."""
    real = help_sample(name)
    _state, reg = make(sdk)
    status, out, err = asyncio.run(run(reg, "logcat", "-h"))
    assert status == 0 and err == ""
    # The collector stripped the leading newline and the first line's indentation.
    assert out.startswith("\n")
    assert rendered(out).lstrip() == rendered(real)


@pytest.mark.parametrize("sdk", ALL_SDKS)
def test_logcat_unknown_option_texts(sdk: int) -> None:
    """P/Q: ``Unrecognized Option y`` + usage; R: the option; S+: ``argv[optind]``."""
    _state, reg = make(sdk)
    status, out, err = asyncio.run(run(reg, "logcat", "-y"))
    assert status == 1 and out == ""
    if sdk <= 29:
        assert err.startswith("Unrecognized Option y\nUsage: logcat [options] [filterspecs]\n")
        assert err.endswith('or defaults to "threadtime"\n\n')
    elif sdk == 30:
        assert err == "logcat: Unknown option '-y'.\n"
    else:
        assert err == "logcat: Unknown option '(null)'.\n"
        _, _, err2 = asyncio.run(run(reg, "logcat", "-y", "-d"))
        assert err2 == "logcat: Unknown option '-d'.\n"


@pytest.mark.parametrize(
    ("sdk", "expected"),
    [
        (28, 'Invalid parameter "nonsense" to -v\n-v <format>, --format=<format> options:\n'),
        (30, "logcat: Invalid parameter 'nonsense' to -v.\n"),
        (31, "logcat: Invalid -v 'nonsense'.\n"),
    ],
)
def test_logcat_bad_format_texts(sdk: int, expected: str) -> None:
    _state, reg = make(sdk)
    status, out, err = asyncio.run(run(reg, "logcat", "-v", "nonsense"))
    assert status == 1 and out == ""
    assert err.startswith(expected)


@pytest.mark.parametrize(
    ("sdk", "name"),
    [
        (28, "notification_help_api28.txt"),
        (29, "notification_help_api29.txt"),
        (30, "notification_help_api30.txt"),
        (31, "notification_help_api31-35.txt"),
        (35, "notification_help_api31-35.txt"),
    ],
)
def test_notification_help_equals_real(sdk: int, name: str) -> None:
    real = help_sample(name)
    _state, reg = make(sdk)
    status, out, _ = asyncio.run(run(reg, "cmd", "notification"))
    assert status == 255
    assert out.rstrip("\n") == real.rstrip("\n")


@pytest.mark.parametrize("sdk", [29, 33, 35])
def test_notification_post_help_equals_real(sdk: int) -> None:
    real = help_sample("notification_post_help_api29-35.txt")
    _state, reg = make(sdk)
    status, out, _ = asyncio.run(run(reg, "cmd", "notification", "post", "--help"))
    assert status == 0
    assert out.rstrip("\n") == real.rstrip("\n")


def test_ps_matches_mvt_capture_columns() -> None:
    """Header byte-equal, and the capture's rows re-rendered by our column code are identical."""
    real = sample("packages", "mvt_tests", "android_data__ps.txt").read_text().splitlines()
    _state, reg = make(33)
    _, out, _ = asyncio.run(run(reg, "ps", "-A"))
    assert out.splitlines()[0] == real[0]
    fields = activity._PS_DEFAULT
    for line in real[1:]:
        values = line.split(None, len(fields) - 1)
        assert activity._ps_line(values, fields).rstrip("\n") == line


def test_ps_lists_app_processes_as_toybox_does() -> None:
    state, reg = make(33)
    proc = state.start_process("com.taobao.taobao", 0, reason="activity", component="x/.Y")
    _, out, _ = asyncio.run(run(reg, "ps", "-A"))
    header, *rows = out.splitlines()
    name_col = header.index("NAME")
    row = next(r for r in rows if r.endswith("com.taobao.taobao"))
    assert row.startswith(f"u0_a{proc.uid - 10000:<8} {proc.pid:5d}")
    assert row.index("com.taobao.taobao") == name_col  # overflowing VSZ is reclaimed later
    _, mine, _ = asyncio.run(run(reg, "ps"))
    assert [r.split()[-1] for r in mine.splitlines()[1:]] == ["sh", "ps"]
    status, _, err = asyncio.run(run(reg, "ps", "-X"))
    assert status == 1 and err == "ps: Unknown option 'X' (see \"ps --help\")\n"


# ============================================================================== behaviour


@pytest.mark.parametrize("sdk", ALL_SDKS)
async def test_streaming_sees_new_start_and_stops_when_cancelled(sdk: int) -> None:
    state, reg = make(sdk)
    unsubscribed: list[object] = []
    original = state.unsubscribe

    def spy(q: asyncio.Queue[EventRecord]) -> None:
        unsubscribed.append(q)
        original(q)

    state.unsubscribe = spy  # type: ignore[method-assign]
    io = LineIO()
    task = asyncio.create_task(reg.commands["logcat"](["-b", "events", "-v", "epoch"], io))
    await asyncio.sleep(0.01)
    proc = state.start_process(
        "com.taobao.taobao", 0, reason="service", component="com.taobao.taobao/.P"
    )
    line = await next_matching(io, r" am_proc_start: ")
    m = EPOCH.match(line)
    assert m is not None and int(m.group(2)) == 1000
    # logprint: "%19lld" seconds, ".%03ld", then " %5d %5d %c %-8s: " (today: 9 blanks first).
    assert len(m.group(1)) == 19 + 4 and line.startswith(" " * 9)
    assert payload(line).startswith(f"[0,{proc.pid},{proc.uid},com.taobao.taobao,service,")
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)
    assert len(unsubscribed) == 1


async def test_tail_one_then_follow() -> None:
    state, reg = make(34)
    state.start_process("com.taobao.taobao", 0, reason="activity", component="com.taobao.taobao/.A")
    state.emit("am_uid_running", 10_123)
    io = LineIO()
    task = asyncio.create_task(
        reg.commands["logcat"](["-b", "events", "-v", "epoch", "-T", "1"], io)
    )
    first = await next_matching(io, r" I ")
    assert first.endswith(" am_uid_running: 10123")  # a single value prints without brackets
    state.emit("am_uid_stopped", 10_123)
    assert (await next_matching(io, r" I ")).endswith(" am_uid_stopped: 10123")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_dump_exits_and_clear_hides_only_the_cleared_buffers() -> None:
    state, reg = make(31)
    state.start_process("com.taobao.taobao", 0, reason="activity", component="com.taobao.taobao/.A")
    status, out, _ = await asyncio.wait_for(run(reg, "logcat", "-d", "-b", "all"), 1)
    assert status == 0
    assert "--------- beginning of events" in out and "--------- beginning of system" in out
    assert (await run(reg, "logcat", "-c")) == (0, "", "")
    _, out, _ = await run(reg, "logcat", "-d")  # main,system,crash,kernel: cleared
    assert out == ""
    _, out, _ = await run(reg, "logcat", "-d", "-b", "events")  # events were not cleared
    assert event_lines(out, "am_proc_start")
    await run(reg, "logcat", "-b", "all", "-c")
    assert (await run(reg, "logcat", "-d", "-b", "all"))[1] == ""
    state.start_process("com.example.app", 0, reason="activity", component="com.example.app/.A")
    _, out, _ = await run(reg, "logcat", "-d", "-b", "all")
    assert "com.example.app" in out and "com.taobao.taobao" not in out
    assert len(state.events) == 2  # logcat -c hides; the state (other readers) keeps all


@pytest.mark.parametrize("sdk", ALL_SDKS)
async def test_force_stop_kills_and_logs(sdk: int) -> None:
    state, reg = make(sdk)
    proc = state.start_process(
        "com.taobao.taobao", 0, reason="activity", component="com.taobao.taobao/.A"
    )
    assert await run(reg, "cmd", "activity", "force-stop", "com.taobao.taobao") == (0, "", "")
    assert proc.pid not in state.processes
    assert state.packages["com.taobao.taobao"].users[0].stopped
    _, out, _ = await run(reg, "logcat", "-d", "-b", "events,system")
    assert event_lines(out, "am_kill") and event_lines(out, "am_proc_died")
    assert f"ActivityManager: Killing {proc.pid}:com.taobao.taobao/u0a" in out
    # Unknown packages are ignored silently, a missing argument is a Java exception.
    assert await run(reg, "cmd", "activity", "force-stop", "com.nope") == (0, "", "")
    status, out, err = await run(reg, "cmd", "activity", "force-stop")
    head = "Exception occurred while executing" + (":" if sdk < 30 else " 'force-stop':")
    assert status == 255 and out == ""
    assert err.startswith(f"\n{head}\njava.lang.IllegalArgumentException: Argument expected after")


async def test_kill_spares_foreground_processes() -> None:
    state, reg = make(33)
    fg = state.start_process(
        "com.taobao.taobao", 0, reason="activity", component="t/.A", state="top"
    )
    bg = state.start_process("com.example.app", 0, reason="service", component="e/.S", state="bg")
    await run(reg, "cmd", "activity", "kill", "com.taobao.taobao")
    await run(reg, "cmd", "activity", "kill", "com.example.app")
    assert fg.pid in state.processes and bg.pid not in state.processes
    _, out, _ = await run(reg, "logcat", "-d", "-b", "events")
    assert payload(event_lines(out, "am_kill")[0]).endswith(",kill background]")


@pytest.mark.parametrize("sdk", ALL_SDKS)
async def test_standby_buckets(sdk: int) -> None:
    state, reg = make(sdk)
    assert await run(reg, "cmd", "activity", "get-standby-bucket", "com.example.app") == (
        0,
        "10\n",
        "",
    )
    assert (await run(reg, "cmd", "activity", "set-standby-bucket", "com.example.app", "rare"))[
        0
    ] == 0
    assert (await run(reg, "cmd", "activity", "get-standby-bucket", "com.example.app"))[1] == "40\n"
    status, out, err = await run(
        reg, "cmd", "activity", "set-standby-bucket", "com.example.app", "restricted"
    )
    if sdk >= 30:
        assert (status, out, err) == (0, "", "")
        assert state.packages["com.example.app"].users[0].standby_bucket == 45
    else:  # bucketNameToBucketValue learned "re" in R
        assert (status, out, err) == (255, "", "Error: Unknown bucket: restricted\n")
        assert state.packages["com.example.app"].users[0].standby_bucket == 40
    status, _, err = await run(
        reg, "cmd", "activity", "set-standby-bucket", "--user", "0", "com.nope", "rare"
    )
    assert status == 255
    assert "Cannot set standby bucket for non existent package (com.nope)" in err
    _, listing, _ = await run(reg, "cmd", "activity", "get-standby-bucket")
    assert "com.taobao.taobao: 10\n" in listing
    assert await run(reg, "cmd", "activity", "set-inactive", "com.taobao.taobao", "true") == (
        0,
        "",
        "",
    )
    assert (await run(reg, "cmd", "activity", "get-inactive", "com.taobao.taobao"))[
        1
    ] == "Idle=true\n"
    status, _, err = await run(reg, "cmd", "activity", "get-standby-bucket", "--frob", "x")
    assert (status, err) == (255, "Error: Unknown option: --frob\n")


async def test_unknown_am_command_and_dumpsys_fallback() -> None:
    _state, reg = make(35)
    assert await run(reg, "cmd", "activity", "frobnicate") == (
        255,
        "Unknown command: frobnicate\n",
        "",
    )
    assert await run(reg, "cmd", "activity", "stop-app", "x") == (0, "", "")
    _state28, reg28 = make(32)
    assert (await run(reg28, "cmd", "activity", "stop-app", "x"))[:2] == (
        255,
        "Unknown command: stop-app\n",
    )
    _, out, _ = await run(reg, "dumpsys", "activity", "frob")
    assert out.endswith("Bad activity command, or no activities match: frob\nUse -h for help.\n")
    assert (await run(reg, "dumpsys", "activity", "get-current-user"))[1] == "0\n"


@pytest.mark.parametrize("sdk", ALL_SDKS)
async def test_notification_post(sdk: int) -> None:
    state, reg = make(sdk)
    status, out, err = await run(
        reg, "cmd", "notification", "post", "-t", "Guard", "tg", "Mic in use"
    )
    if sdk < 29:  # no `post` before Q
        assert (status, out, err) == (255, "Unknown command: post\n", "")
        assert state.notifications == []
        return
    second = "pri=0" if sdk < 30 else "shortcut=null"
    assert (status, err) == (0, "")
    assert out == (
        f"posting:\n  Notification(channel=shell_cmd {second} contentView=null vibrate=null "
        "sound=null defaults=0x0 flags=0x0 color=0x00000000 vis=PRIVATE)\n"
    )
    assert [(tag, text) for _, tag, text in state.notifications] == [("tg", "Mic in use")]
    status, out, _ = await run(reg, "cmd", "notification", "post", "-S", "fancy", "a", "b")
    assert (status, out) == (
        0,
        "Error occurred. Check logcat for details. unrecognized notification style: fancy\n",
    )
    status, out, _ = await run(reg, "cmd", "notification", "post", "lonely-tag")
    assert status == 255 and out.startswith("usage: cmd notification post [flags] <tag> <text>")
    if sdk >= 30:
        _, keys, _ = await run(reg, "cmd", "notification", "list")
        assert keys == "0|com.android.shell|2020|tg|2000\n"


@pytest.mark.parametrize("sdk", ALL_SDKS)
async def test_reboot_autostart_is_a_broadcast_start(sdk: int) -> None:
    state, reg = make(sdk)
    state.reboot()
    _, out, _ = await run(reg, "logcat", "-d", "-b", "events")
    assert event_lines(out, "boot_progress_start")
    (start,) = event_lines(out, "am_proc_start")
    fields = payload(start)[1:-1].split(",")
    component = (
        "com.example.app/.BootReceiver"
        if sdk < 29
        else "{com.example.app/com.example.app.BootReceiver}"
    )
    assert fields[3:] == ["com.example.app", "broadcast", component]
    _, system, _ = await run(reg, "logcat", "-d", "-b", "system")
    assert f"for broadcast {component}" in system


# Table: what one launcher tap logs on each release.
LAUNCH = {
    28: ("ActivityManager", "am_create_activity", "activity", "am_on_resume_called", " from uid "),
    29: (
        "ActivityTaskManager",
        "wm_create_activity",
        "activity",
        "wm_on_resume_called",
        " from uid ",
    ),
    30: (
        "ActivityTaskManager",
        "wm_create_activity",
        "top-activity",
        "wm_on_resume_called",
        " from uid ",
    ),
    33: (
        "ActivityTaskManager",
        "wm_create_activity",
        "top-activity",
        "wm_on_resume_called",
        " from uid ",
    ),
    34: (
        "ActivityTaskManager",
        "wm_create_activity",
        "top-activity",
        "wm_on_resume_called",
        " with LAUNCH_SINGLE_TOP from uid ",
    ),
}


@pytest.mark.parametrize("sdk", sorted(LAUNCH))
async def test_activity_start_per_version(sdk: int) -> None:
    tag, create, hosting, resume, from_uid = LAUNCH[sdk]
    state, reg = make(sdk)
    proc = activity.start_activity(state, "com.taobao.taobao", 0, caller="com.example.app")
    caller_uid = state.packages["com.example.app"].uid(0)
    _, out, _ = await run(reg, "logcat", "-d", "-b", "all")
    intent = "{flg=0x10000000 cmp=com.taobao.taobao/.MainActivity}"
    assert f" I {tag}: START u0 {intent}{from_uid}{caller_uid}" in out
    (create_line,) = event_lines(out, create)
    assert payload(create_line).endswith(
        ",com.taobao.taobao/.MainActivity,NULL,NULL,NULL,268435456]"
    )
    (start,) = event_lines(out, "am_proc_start")
    assert payload(start).split(",")[4] == hosting
    (resumed,) = event_lines(out, resume)
    assert f" {proc.pid} {proc.pid:5d} I " in resumed  # written by the app's own main thread
    assert payload(resumed).endswith(",com.taobao.taobao.MainActivity,RESUME_ACTIVITY]")
    assert proc.caller_package == "com.example.app"


async def test_am_start_from_shell() -> None:
    _state, reg = make(35)
    status, out, err = await run(
        reg, "cmd", "activity", "start", "-W", "-n", "com.taobao.taobao/.Main"
    )
    assert status == 0 and err == ""
    assert out.startswith("Starting: Intent { cmp=com.taobao.taobao/.Main }\nStatus: ok\n")
    _, log, _ = await run(reg, "logcat", "-d", "-b", "system")
    assert (
        "START u0 {flg=0x10000000 cmp=com.taobao.taobao/.Main} with LAUNCH_SINGLE_TOP "
        "from uid 2000 (BAL_ALLOW_PERMISSION) result code=0"
    ) in log
    status, out, err = await run(reg, "cmd", "activity", "start", "-n", "com.nope/.Main")
    assert err == "Error type 3\nError: Activity class {com.nope/com.nope.Main} does not exist.\n"
    status, out, _ = await run(
        reg, "cmd", "activity", "startservice", "-n", "com.example.app/.Sync"
    )
    assert out == "Starting service: Intent { cmp=com.example.app/.Sync }\n"
    _, ev, _ = await run(reg, "logcat", "-d", "-b", "events")
    assert payload(event_lines(ev, "am_proc_start")[-1]).endswith(
        ",com.example.app,service,{com.example.app/com.example.app.Sync}]"
    )


@pytest.mark.parametrize("sdk", [29, 30, 35])
async def test_dumpsys_services_names_the_caller(sdk: int) -> None:
    """Associated start: the binding client (all versions), recentCallingPackage (R+)."""
    state, reg = make(sdk)
    caller = activity.start_activity(state, "com.taobao.taobao", 0, from_launcher=True)
    svc = state.start_process(
        "com.eg.android.AlipayGphone",
        0,
        reason="service",
        component="com.eg.android.AlipayGphone/.PushService",
        caller="com.taobao.taobao",
        state="bg",
    )
    _, out, _ = await run(reg, "dumpsys", "activity", "services", "com.eg.android.AlipayGphone")
    assert out.startswith(
        "ACTIVITY MANAGER SERVICES (dumpsys activity services)\n  User 0 active services:\n"
    )
    assert re.search(
        r"  \* ServiceRecord\{[0-9a-f]+ u0 com\.eg\.android\.AlipayGphone/\.PushService\}", out
    )
    assert "    app=ProcessRecord{" in out and f" {svc.pid}:com.eg.android.AlipayGphone/u0a" in out
    assert re.search(
        rf"\* Client AppBindRecord\{{[0-9a-f]+ "
        rf"ProcessRecord\{{[0-9a-f]+ {caller.pid}:com\.taobao\.taobao/u0a\d+\}}\}}",
        out,
    )
    assert ("recentCallingPackage=com.taobao.taobao" in out) == (sdk >= 30)
    _, procs, _ = await run(reg, "dumpsys", "activity", "processes")
    assert procs.startswith(
        "ACTIVITY MANAGER RUNNING PROCESSES (dumpsys activity processes)\n  All known processes:\n"
    )
    assert re.search(
        rf"  \*APP\* UID {svc.uid} "
        rf"ProcessRecord\{{[0-9a-f]+ {svc.pid}:com\.eg\.android\.AlipayGphone/u0a\d+\}}",
        procs,
    )
    assert f"    PID #{svc.pid}: ProcessRecord{{" in procs


@pytest.mark.parametrize("sdk", [28, 30, 31])
async def test_filters_and_formats(sdk: int) -> None:
    state, reg = make(sdk)
    state.start_process("com.taobao.taobao", 0, reason="activity", component="com.taobao.taobao/.A")
    _, out, _ = await run(reg, "logcat", "-d", "-b", "events", "-s", "am_proc_start")
    body = [line for line in out.splitlines() if not line.startswith("-")]
    assert len(body) == 1 and " am_proc_start: " in body[0]
    _, out, _ = await run(
        reg, "logcat", "-d", "-b", "events", "-v", "brief", "*:S", "am_proc_start:I"
    )
    body = [line for line in out.splitlines() if not line.startswith("-")]
    assert body and body[0].startswith("I/am_proc_start( 1000): [0,")
    _, out, _ = await run(
        reg, "logcat", "-d", "-v", "raw", "-b", "system", env={"ANDROID_LOG_TAGS": ""}
    )
    assert any(line.startswith("Start proc ") for line in out.splitlines())
    _, out, _ = await run(reg, "logcat", "-d", "-b", "events", "-e", "taobao", "-m", "1")
    assert len([line for line in out.splitlines() if not line.startswith("-")]) == 1


async def test_through_the_device_shell_as_adb_logcat_sends_it() -> None:
    """``adb logcat`` runs ``export ANDROID_LOG_TAGS="" ; exec logcat ...``; ``am`` is the
    device's alias for ``cmd activity``."""
    from agent.sim.device import SimDevice

    state = DeviceState(Build(sdk=34, release="14"))
    state.install(Package("com.example.app", 0))
    device = SimDevice(state)
    state.start_process("com.example.app", 0, reason="activity", component="com.example.app/.A")
    io = ShellIO()
    script = 'export ANDROID_LOG_TAGS="" ; exec logcat -b events -v epoch -d'
    assert await device.shell.run(script, io) == 0
    assert event_lines(io.stdout.decode(), "am_proc_start")
    io = ShellIO()
    assert await device.shell.run("am force-stop com.example.app; echo $?", io) == 0
    assert io.stdout.decode() == "0\n" and not state.processes


# ============================================================================ hostile data


@pytest.mark.parametrize("sdk", [28, 35])
async def test_odd_process_names_do_not_break_lines(sdk: int) -> None:
    state, reg = make(sdk)
    odd = [
        "com.evil\ninjected 12-25 00:00:00.000  1 1 I fake: line",
        "com.evil,with,commas]{}",
        "com.ünï.çødé.名字",
        "x" * 3000,
        "com.evil\x1b[31m\x00bell\x07",
    ]
    for n, name in enumerate(odd):
        pkg = state.install(Package(f"com.odd{n}", 0))
        proc = state.start_process(pkg.name, 0, reason="service", component=f"{pkg.name}/.S")
        proc.process_name = name
        state.emit("am_proc_died", 0, proc.pid, name, 900, 19)
    for fmt in ("threadtime", "epoch"):
        _, out, _ = await run(reg, "logcat", "-d", "-b", "events", "-v", fmt)
        for line in out.splitlines():
            if line.startswith("---------"):
                continue
            assert (THREADTIME if fmt == "threadtime" else EPOCH).match(line), line
            assert len(line.encode()) < 1200  # event payloads are cut at 1 KiB like logcat does
    _, ps, _ = await run(reg, "ps", "-A")
    assert all("\n" not in row and "\x1b" not in row for row in ps.splitlines())
    assert "^[[31m^@bell^G" in ps
    _, dump, _ = await run(reg, "dumpsys", "activity", "processes")
    assert dump.count("*APP* UID") == len(odd)


async def test_hostile_values_in_events_are_printed_not_parsed() -> None:
    state, reg = make(30)
    state.emit("am_proc_start", "x", None, True, 1.5, "", "")  # wrong types from a bad scenario
    state.emit("am_kill", "?", "?", "p", "?", "r")
    status, out, _ = await run(reg, "logcat", "-d", "-b", "all")
    assert status == 0
    assert " am_proc_start: [x,NULL,1,1.500000,,]" in out
    assert "Start proc" not in out and "Killing" not in out


async def test_stuck_reader_does_not_grow_memory() -> None:
    state, reg = make(35)
    io = StuckIO()
    task = asyncio.create_task(reg.commands["logcat"](["-b", "events"], io))
    state.emit("am_uid_running", 1)
    await asyncio.wait_for(io.blocked.wait(), 1)
    for n in range(30_000):
        state.emit("am_uid_running", n)
    queues = list(state._listeners)
    assert len(queues) == 1
    assert queues[0].qsize() <= queues[0].maxsize == 10_000
    assert len(state.events) <= 20_000
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not state._listeners
