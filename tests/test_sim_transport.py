"""The simulated devices (agent.sim) against the real adb server and CLI.

If these pass, a failure elsewhere in the end-to-end suite is in the host stack, not in the
simulator. The shell interpreter is also unit-tested here, because every client depends on its
exact handling of the wrappers they put around commands.
"""

from __future__ import annotations

import asyncio
import functools
import re
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agent.sim import AdbDeviceServer, AuthMode, Shell, ShellIO, SimHost, basic_shell, pattern_bytes
from agent.sim.android import toybox
from agent.sim.shell import PIPE_CAPACITY, CommandHandler, parse
from tests.adbserver import AdbServer
from tests.sim_helpers import AUTH, CLSE, CNXN, HEADER, OKAY, OPEN, WRTE, RawHost

PROPS = {
    "ro.product.name": "panther",
    "ro.product.model": "Pixel_7",
    "ro.product.device": "panther",
    "ro.build.version.sdk": "34",
}

Plug = Callable[..., AdbDeviceServer]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHost]:
    with SimHost() as host:
        yield host


@pytest.fixture
def plug(adb_server: AdbServer, sim: SimHost) -> Iterator[Plug]:
    """Factory: start a device, ``adb connect`` it and wait for ``state``; clean up after."""
    devices: list[AdbDeviceServer] = []

    def plug_device(
        shell: Shell | None = None, *, state: str | None = "device", **kwargs: Any
    ) -> AdbDeviceServer:
        files: dict[str, bytes] = kwargs.pop("files", {})
        props = kwargs.pop("props", PROPS)
        device = sim.add(shell or basic_shell(props, files), props=props, files=files, **kwargs)
        devices.append(device)
        if state is not None:
            adb_server.run("connect", device.serial)
            adb_server.wait_state(device.serial, state)
        return device

    yield plug_device
    for device in devices:  # disconnect first, or the server keeps an offline ghost for 60 s
        adb_server.disconnect(device.serial)
        sim.stop(device)


def adb_bytes(
    server: AdbServer, *args: str, stdin: bytes | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [server.binary, "-P", str(server.port), *args],
        env=server.env,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``check`` until it holds; a generous bound that only catches hangs."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@functools.cache
def _adb_version(binary: str) -> str:
    return subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout


def adb_major(server: AdbServer) -> int:
    """Major version of the adb binary (29 for Debian's, 36 for adbutils' bundled one)."""
    m = re.search(r"^Version (\d+)\.", _adb_version(server.binary), re.MULTILINE)
    return int(m.group(1)) if m else 0


def shell(
    server: AdbServer, device: AdbDeviceServer, command: str
) -> subprocess.CompletedProcess[str]:
    return server.run("-s", device.serial, "shell", command)


# ----------------------------------------------------------------------- end to end (real adb)


def test_devices_l_shows_the_banner(adb_server: AdbServer, plug: Plug) -> None:
    device = plug()
    line = next(
        line
        for line in adb_server.run("devices", "-l").stdout.splitlines()
        if line.startswith(device.serial + " ")
    )
    assert line.split()[1] == "device"
    assert "product:panther" in line
    assert "model:Pixel_7" in line
    assert "device:panther" in line


def test_shell_echo(adb_server: AdbServer, plug: Plug) -> None:
    result = shell(adb_server, plug(), "echo hi")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")


@pytest.mark.parametrize(
    ("command", "status"),
    [("true", 0), ("false", 1), ("exit 42", 42), ("echo a && false || exit 7", 7)],
)
def test_shell_exit_codes(adb_server: AdbServer, plug: Plug, command: str, status: int) -> None:
    assert shell(adb_server, plug(), command).returncode == status


def test_unknown_command_is_127_with_the_mksh_message(adb_server: AdbServer, plug: Plug) -> None:
    result = shell(adb_server, plug(), "frobnicate --now")
    assert result.returncode == 127
    assert result.stdout == ""
    assert result.stderr == "/system/bin/sh: frobnicate: inaccessible or not found\n"


def test_shell_v2_keeps_stderr_apart(adb_server: AdbServer, plug: Plug) -> None:
    result = shell(adb_server, plug(), "echo out; nosuch; echo more")
    assert result.stdout == "out\nmore\n"
    assert result.stderr == "/system/bin/sh: nosuch: inaccessible or not found\n"
    assert result.returncode == 0


def test_device_without_shell_v2_still_runs_commands(adb_server: AdbServer, plug: Plug) -> None:
    device = plug(features=("cmd",))
    result = shell(adb_server, device, "echo out; nosuch; exit 3")
    # v1: one merged stream and no exit status, exactly like an old phone.
    assert result.stdout == "out\n/system/bin/sh: nosuch: inaccessible or not found\n"
    assert result.returncode == 0
    # Clients recover the status with a marker, as adbutils' shell2() does.
    assert shell(adb_server, device, "false; echo X4EXIT:$?").stdout == "X4EXIT:1\n"


def test_stdin_reaches_the_command_and_closes(adb_server: AdbServer, plug: Plug) -> None:
    result = adb_bytes(adb_server, "-s", plug().serial, "shell", "cat", stdin=b"abc\n" * 1000)
    assert (result.returncode, result.stdout) == (0, b"abc\n" * 1000)


def test_logcat_streams_until_the_client_goes_away(
    adb_server: AdbServer, plug: Plug, sim: SimHost
) -> None:
    sent = 0
    started = threading.Event()
    cancelled = threading.Event()
    seen: dict[str, Any] = {}

    async def logcat(argv: list[str], io: ShellIO) -> int:
        nonlocal sent
        seen.update(argv=argv, tags=io.env.get("ANDROID_LOG_TAGS"))
        started.set()
        try:
            while True:
                await io.out(f"{time.time():.3f}  1000  1000 I am_wtf: [{sent}]\n")
                sent += 1
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    device = plug(Shell({"logcat": logcat}))
    proc = subprocess.Popen(
        [
            adb_server.binary,
            "-P",
            str(adb_server.port),
            "-s",
            device.serial,
            "logcat",
            "-b",
            "events",
        ],
        env=adb_server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        assert [line.split(b"[")[1] for line in lines] == [b"%d]\n" % i for i in range(5)]
        assert not cancelled.is_set()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert cancelled.wait(10), "the device kept streaming after the client went away"
    assert eventually(lambda: sim.call(lambda: device.active_streams) == 0)
    assert started.is_set()
    assert seen["argv"] == ["logcat", "-b", "events"]
    # `adb logcat` wraps the command: v36 sends `export ANDROID_LOG_TAGS=''; exec logcat …`,
    # v29 over-quotes it as `ANDROID_LOG_TAGS="''"`, which a real mksh also takes literally.
    assert seen["tags"] == ("''" if adb_major(adb_server) < 30 else "")


@pytest.mark.parametrize("service", ["shell", "exec-out"])
def test_four_mib_arrive_byte_exact(adb_server: AdbServer, plug: Plug, service: str) -> None:
    size = 4 * 1024 * 1024
    result = adb_bytes(adb_server, "-s", plug().serial, service, f"yes-bytes {size}")
    assert result.returncode == 0
    assert len(result.stdout) == size
    assert result.stdout == pattern_bytes(size)


def test_push_pull_round_trip(adb_server: AdbServer, plug: Plug, tmp_path: Path) -> None:
    files: dict[str, bytes] = {}
    device = plug(files=files)
    payload = pattern_bytes(3_000_001, offset=17)
    src, dst = tmp_path / "up.bin", tmp_path / "down.bin"
    src.write_bytes(payload)
    pushed = adb_server.run("-s", device.serial, "push", str(src), "/sdcard/up.bin")
    assert pushed.returncode == 0, pushed.stderr
    assert files["/sdcard/up.bin"] == payload
    pulled = adb_server.run("-s", device.serial, "pull", "/sdcard/up.bin", str(dst))
    assert pulled.returncode == 0, pulled.stderr
    assert dst.read_bytes() == payload
    # Pushing to a directory names the file after the source, as on a phone.
    assert adb_server.run("-s", device.serial, "push", str(src), "/data/local/tmp").returncode == 0
    assert files["/data/local/tmp/up.bin"] == payload
    missing = adb_server.run("-s", device.serial, "pull", "/sdcard/nope", str(dst))
    assert missing.returncode != 0


def test_prompt_stays_unauthorized_until_accepted(
    adb_server: AdbServer, plug: Plug, sim: SimHost
) -> None:
    device = plug(auth=AuthMode.PROMPT, state="unauthorized")
    assert not sim.call(lambda: device.authorized)
    refused = shell(adb_server, device, "echo hi")
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr
    sim.call(device.accept_auth)
    adb_server.wait_state(device.serial, "device")
    assert shell(adb_server, device, "echo hi").stdout == "hi\n"


def test_unplug_mid_command_fails_fast(adb_server: AdbServer, plug: Plug, sim: SimHost) -> None:
    running = threading.Event()
    stock = basic_shell(PROPS)

    async def sleep(argv: list[str], io: ShellIO) -> int:
        running.set()
        await asyncio.sleep(float(argv[1]))
        return 0

    stock.register("sleep", sleep)
    device = plug(stock)
    proc = subprocess.Popen(
        [adb_server.binary, "-P", str(adb_server.port), "-s", device.serial, "shell", "sleep 30"],
        env=adb_server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert running.wait(10)
        sim.stop(device)
        returncode = proc.wait(timeout=10)  # no hang: well under the 30 s sleep
    finally:
        proc.kill()
    if adb_major(adb_server) >= 36:
        assert returncode == 255  # the exit packet never came
    # else: the v29 CLI exits 0 when the transport dies mid-command - it only must not hang.
    assert sim.call(lambda: device.connections) == 0


def test_fifty_devices_at_once(adb_server: AdbServer, plug: Plug) -> None:
    devices = [plug(props={**PROPS, "ro.serialno": f"SIM{i:03d}"}, state=None) for i in range(50)]
    for device in devices:
        adb_server.run("connect", device.serial)
    deadline = time.monotonic() + 30
    while True:
        lines = adb_server.run("devices").stdout.splitlines()[1:]
        online = {line.split()[0] for line in lines if line.split()[1:2] == ["device"]}
        if online >= {d.serial for d in devices} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert online >= {d.serial for d in devices}

    def ask(device: AdbDeviceServer) -> str:
        return shell(adb_server, device, "getprop ro.serialno").stdout

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, devices))
    assert answers == [f"SIM{i:03d}\n" for i in range(50)]


def test_old_protocol_with_checksums_and_small_payload(
    adb_server: AdbServer, plug: Plug, tmp_path: Path
) -> None:
    files: dict[str, bytes] = {}
    device = plug(version=0x01000000, max_payload=4096, files=files)
    assert shell(adb_server, device, "echo hi; exit 5").returncode == 5
    size = 100_000
    out = adb_bytes(adb_server, "-s", device.serial, "shell", f"yes-bytes {size}")
    assert out.stdout == pattern_bytes(size)
    src, dst = tmp_path / "small.bin", tmp_path / "back.bin"
    src.write_bytes(pattern_bytes(70_000))
    assert adb_server.run("-s", device.serial, "push", str(src), "/sdcard/s.bin").returncode == 0
    assert adb_server.run("-s", device.serial, "pull", "/sdcard/s.bin", str(dst)).returncode == 0
    assert dst.read_bytes() == files["/sdcard/s.bin"] == pattern_bytes(70_000)


def test_adbutils_client_end_to_end(adb_server: AdbServer, plug: Plug) -> None:
    import adbutils

    client = adbutils.AdbClient(host="127.0.0.1", port=adb_server.port)
    for device in (plug(), plug(features=("cmd",))):
        d = client.device(device.serial)
        assert d.shell("echo hi") == "hi"
        assert d.shell2("nosuch").returncode == 127  # v1 path uses `; echo X4EXIT:$?`
        assert d.prop.model == "Pixel_7"
        d.sync.push(b"hello", "/sdcard/h.txt")
        assert d.sync.read_bytes("/sdcard/h.txt") == b"hello"
        assert [f.path for f in d.sync.list("/sdcard")] == ["h.txt"]


# ------------------------------------------------------------------- raw wire (no adb server)


def test_malformed_packets_drop_only_that_connection(adb_server: AdbServer, plug: Plug) -> None:
    device = plug(auth=AuthMode.NONE)
    oversized = HEADER.pack(WRTE, 1, 1, 1 << 24, 0, WRTE ^ 0xFFFFFFFF)
    for garbage in (b"\xde\xad\xbe\xef" * 6, bytes(24), oversized):
        with RawHost(device.port) as raw:
            raw.send(CNXN, 0x01000001, 1 << 20, b"host::\0")
            assert raw.recv()[0] == CNXN
            raw.send(WRTE, 1, 1, b"x" * 100)  # unknown stream: ignored
            raw.sock.sendall(garbage)
            assert raw.closed_by_peer()
    assert shell(adb_server, device, "echo still here").stdout == "still here\n"


def test_unknown_service_is_refused_and_echoed_clse_ignored(plug: Plug) -> None:
    device = plug(auth=AuthMode.NONE, state=None)
    with RawHost(device.port) as raw:
        banner = raw.handshake()
        assert banner == (
            b"device::ro.product.name=panther;ro.product.model=Pixel_7;"
            b"ro.product.device=panther;features=shell_v2,cmd"
        )
        raw.send(OPEN, 7, 0, b"framebuffer:\0")
        assert raw.recv()[:3] == (CLSE, 0, 7)
        raw.send(OPEN, 8, 0, b"shell:echo hi\0")
        command, local, remote, _data, _check = raw.recv()
        assert (command, remote) == (OKAY, 8)
        assert raw.recv()[:4] == (WRTE, local, 8, b"hi\n")
        raw.send(OKAY, 8, local)
        assert raw.recv()[:3] == (CLSE, local, 8)
        raw.send(CLSE, 8, local)  # the host's echo: must be ignored, not answered
        raw.send(OPEN, 9, 0, b"exec:echo again\0")
        command, local, remote, _data, _check = raw.recv()
        assert (command, remote) == (OKAY, 9)
        assert raw.recv()[:4] == (WRTE, local, 9, b"again\n")


def test_checksums_follow_the_negotiated_version(plug: Plug) -> None:
    for version, checked in ((0x01000000, True), (0x01000001, False)):
        device = plug(auth=AuthMode.ACCEPT_ANY, version=version, max_payload=4096, state=None)
        with RawHost(device.port) as raw:
            raw.send(CNXN, 0x01000001, 1 << 20, b"host::\0")
            command, arg0, _arg1, token, check = raw.recv()
            assert (command, arg0, len(token)) == (AUTH, 1, 20)
            assert check == (sum(token) if checked else 0)
            raw.send(AUTH, 2, 0, b"\0" * 256)
            command, arg0, arg1, banner, check = raw.recv()
            assert (command, arg0, arg1) == (CNXN, version, 4096)
            assert check == (sum(banner) if checked else 0)


def test_shell_v2_output_comes_in_full_writes_and_a_pausing_command_still_streams(
    plug: Plug,
) -> None:
    """adbd forwards what its socket holds: ten echoes are one WRTE (one OKAY round trip), not
    ten; output written before a command waits is sent at once, not held to its end."""

    async def pause(argv: list[str], io: ShellIO) -> int:
        await io.out("before\n")
        await asyncio.sleep(3600)
        return 0

    device = plug(Shell({"pause": pause}), auth=AuthMode.NONE, state=None)
    with RawHost(device.port) as raw:
        raw.handshake()
        raw.send(OPEN, 3, 0, b"shell,v2,raw:" + b"; ".join([b"echo x"] * 10) + b"; exit 3\0")
        _command, local, _remote, _data, _check = raw.recv()
        command, _l, _r, data, _check = raw.recv()
        assert command == WRTE
        packets = []
        while data:
            kind, length = struct.unpack_from("<BI", data)
            packets.append((kind, data[5 : 5 + length]))
            data = data[5 + length :]
        assert packets == [(1, b"x\n")] * 10 + [(3, b"\x03")]
        raw.send(OKAY, 3, local)
        assert raw.recv()[:3] == (CLSE, local, 3)
        raw.send(OPEN, 4, 0, b"shell,v2,raw:pause\0")
        _command, local, _remote, _data, _check = raw.recv()
        assert raw.recv()[:4] == (WRTE, local, 4, b"\x01\x07\x00\x00\x00before\n")
        raw.send(CLSE, 4, local)


def test_host_close_cancels_the_command(plug: Plug) -> None:
    cancelled = threading.Event()

    async def forever(argv: list[str], io: ShellIO) -> int:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()
        return 0

    device = plug(Shell({"forever": forever}), auth=AuthMode.NONE, state=None)
    with RawHost(device.port) as raw:
        raw.handshake()
        raw.send(OPEN, 3, 0, b"shell,v2,raw:forever\0")
        _command, local, _remote, _data, _check = raw.recv()
        raw.send(CLSE, 3, local)
        assert raw.recv()[:3] == (CLSE, local, 3)
        assert cancelled.wait(5)


# ------------------------------------------------------------------------------ shell (unit)


def run_script(
    script: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> tuple[int, str, str]:
    io = ShellIO(env, stdin)
    status = asyncio.run(basic_shell(PROPS).run(script, io))
    return status, io.stdout.decode(), io.stderr.decode()


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("echo hi", (0, "hi\n", "")),
        ("echo -n hi", (0, "hi", "")),
        ("echo a && false || echo b; echo $?", (0, "a\nb\n0\n", "")),
        ("false && echo no; echo $?", (0, "1\n", "")),
        ("true || echo no", (0, "", "")),
        (
            'echo \'a  b\' "c \\"d\\" \\\\ $HOME ${HOME}x" e\\ f',
            (0, 'a  b c "d" \\ / /x e f\n', ""),
        ),
        ("A='1  2'; echo $A; echo \"$A\"", (0, "1 2\n1  2\n", "")),
        ('E=; echo x${E}y $E "$E" z', (0, "xy  z\n", "")),
        ("A=1 B=2; export C=3; echo $A$B$C", (0, "123\n", "")),
        ("false; echo X4EXIT:$?", (0, "X4EXIT:1\n", "")),
        (
            "cmd 'a b' ; __tg=$? ; echo ; echo MARKER:$__tg",
            (0, "\nMARKER:127\n", "/system/bin/sh: cmd: inaccessible or not found\n"),
        ),
        ('export ANDROID_LOG_TAGS="" ; exec echo x; echo unreachable', (0, "x\n", "")),
        ("exit 3; echo unreachable", (3, "", "")),
        ("false; exit", (1, "", "")),
        ("echo a #comment\necho b#c", (0, "a\nb#c\n", "")),
        ("echo a &&\necho b", (0, "a\nb\n", "")),
        ("/system/bin/getprop ro.product.model", (0, "Pixel_7\n", "")),
        ("getprop ro.nope", (0, "\n", "")),
        ("cat", (0, "typed\n", "")),
        ("nosuch", (127, "", "/system/bin/sh: nosuch: inaccessible or not found\n")),
        ("echo 'open", (1, "", "/system/bin/sh: syntax error: unterminated quoted string\n")),
        ('echo "open', (1, "", "/system/bin/sh: syntax error: unterminated quoted string\n")),
        ("echo hi; && echo", (1, "", "/system/bin/sh: syntax error: '&&' unexpected\n")),
    ],
)
def test_shell_grammar(script: str, expected: tuple[int, str, str]) -> None:
    assert run_script(script, {"HOME": "/"}, b"typed\n") == expected


@pytest.mark.parametrize(
    "script",
    [
        "echo > f",
        "echo hi >> /sdcard/log",
        "cat < /sdcard/x",
        "echo 2>&3",
        "echo >&-",
        "cat <<EOF",
        "echo > $F",
        "echo >",
        "echo > > /dev/null",
        "echo $(id)",
        "echo `id`",
        "a & b",
        "(echo a)",
        "echo a |",
        "| echo a",
        "echo a | | cat",
        "echo a | && cat",
    ],
)
def test_shell_rejects_what_it_does_not_implement(script: str) -> None:
    status, out, err = run_script(script)
    assert (status, out) == (1, "")
    assert err.startswith("/system/bin/sh: syntax error:")


def test_getprop_without_key_lists_like_android() -> None:
    assert run_script("getprop")[1].splitlines()[0] == "[ro.build.version.sdk]: [34]"


@pytest.mark.timeout(30)
def test_shell_is_linear_on_huge_input() -> None:
    assert run_script("echo " + "a" * 5_000_000)[1] == "a" * 5_000_000 + "\n"
    assert run_script("true;" * 100_000 + "echo done") == (0, "done\n", "")
    assert len(parse('echo "' + 'x\\"$A ' * 200_000 + '"')) == 1


def test_sleep_is_cancellable() -> None:
    async def main() -> None:
        task = asyncio.create_task(Shell().run("sleep 30", ShellIO()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_device_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="banner"):
        AdbDeviceServer(Shell(), props={"ro.product.model": "Pixel 7"})
    with pytest.raises(ValueError, match="wire format"):
        AdbDeviceServer(Shell(), props=PROPS, features=("shell_v2", "stat_v2"))


# ----------------------------------------------------------------- pipelines and redirections


def toybox_shell(in_turn: bool = False, **extra: CommandHandler) -> Shell:
    """The toybox filters; with ``in_turn`` they are declared filters (as on a simulated phone),
    so pipelines of them may run one stage after another."""
    shell = basic_shell(PROPS)
    for name, handler in toybox.shell_commands().items():
        if name != "cat":  # keep basic_shell's cat: it is what the transport tests push to
            shell.register(name, handler, "filter" if in_turn else None)
    if in_turn:
        shell.register("cat", shell._commands["cat"], "filter")
    for name, handler in extra.items():
        shell.register(name, handler)
    return shell


def run_piped(script: str, stdin: bytes = b"", shell: Shell | None = None) -> tuple[int, str, str]:
    io = ShellIO({"HOME": "/"}, stdin)
    status = asyncio.run((shell or toybox_shell()).run(script, io))
    return status, io.stdout.decode(), io.stderr.decode()


NOT_FOUND = "/system/bin/sh: nosuch: inaccessible or not found\n"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("echo hi | cat", (0, "hi\n", "")),
        ("echo a b | cat | cat | wc -w", (0, "2\n", "")),
        ("cat | grep -c x", (0, "2\n", "")),  # stdin reaches the first stage only
        ("false | true; echo $?", (0, "0\n", "")),
        ("true | false; echo $?", (0, "1\n", "")),
        ("echo x | grep y || echo none", (0, "none\n", "")),
        ("echo x | grep x && echo found", (0, "x\nfound\n", "")),
        ("nosuch | echo after; echo $?", (0, "after\n0\n", NOT_FOUND)),
        ("echo a | nosuch; echo $?", (0, "127\n", NOT_FOUND)),
        ("echo a |\ncat", (0, "a\n", "")),
        ("echo a|cat", (0, "a\n", "")),
        # Each stage is a subshell: its exit, assignments and exports stay there.
        ("exit 3 | echo hi; echo $?", (0, "hi\n0\n", "")),
        ("A=1 | true; export B=2 | true; echo a${A}b${B}", (0, "ab\n", "")),
        ("false; echo $? | cat", (0, "1\n", "")),
        # Redirections: only /dev/null, and the two dups clients use.
        ("nosuch 2>/dev/null; echo $?", (0, "127\n", "")),
        ("echo out >/dev/null; echo shown", (0, "shown\n", "")),
        ("echo out 1>/dev/null >>/dev/null", (0, "", "")),
        ("echo err >&2", (0, "", "err\n")),
        ("echo err 1>&2 2>/dev/null", (0, "", "err\n")),  # order matters, as in sh
        ("echo gone >/dev/null 2>&1", (0, "", "")),
        ("nosuch 2>&1 | grep -c found", (0, "1\n", "")),
        ("cat </dev/null; echo end", (0, "end\n", "")),
        ("2>/dev/null", (0, "", "")),
        ("A=1 >/dev/null; echo $A", (0, "1\n", "")),
        ("exec 2>/dev/null; nosuch; echo $?", (0, "127\n", "")),
        ("echo a 2 >/dev/null", (0, "", "")),  # `2` with a space is an argument
        ("echo a2>/dev/null", (0, "", "")),  # ... and `a2>` redirects stdout
        ("exit 4 2>/dev/null; echo no", (4, "", "")),
    ],
)
@pytest.mark.parametrize("in_turn", [False, True], ids=["concurrent", "in-turn"])
def test_shell_pipelines_and_redirections(
    script: str, expected: tuple[int, str, str], in_turn: bool
) -> None:
    assert run_piped(script, b"x\ny\nx\n", toybox_shell(in_turn)) == expected


@pytest.mark.parametrize("in_turn", [False, True], ids=["concurrent", "in-turn"])
def test_stderr_of_every_stage_reaches_the_session(in_turn: bool) -> None:
    status, out, err = run_piped("echo x | grep -E '(' | wc -l", shell=toybox_shell(in_turn))
    assert (status, out) == (0, "0\n")
    assert err == "grep: bad regex '(': parentheses not balanced\n"
    status, out, err = run_piped("nosuch | grep -E '(' | wc -l", shell=toybox_shell(in_turn))
    assert (status, out) == (0, "0\n")
    assert err == NOT_FOUND + "grep: bad regex '(': parentheses not balanced\n"


def test_pipeline_status_is_the_last_stage_even_when_upstream_is_cut_off() -> None:
    io = ShellIO()
    script = "yes-bytes 10000000 | head -c 10; echo :$?"
    assert asyncio.run(toybox_shell().run(script, io)) == 0
    assert (bytes(io.stdout), bytes(io.stderr)) == (pattern_bytes(10) + b":0\n", b"")


@pytest.mark.timeout(10)
async def test_huge_producer_into_head_stops_promptly_without_buffering() -> None:
    written = 0
    cancelled = asyncio.Event()
    line = b"x" * 99 + b"\n"

    async def forever(argv: list[str], io: ShellIO) -> int:
        nonlocal written
        try:
            while True:
                await io.out(line * 100)  # 10 kB a write, without end
                written += 10_000
        except asyncio.CancelledError:
            cancelled.set()
            raise

    io = ShellIO()
    started = time.monotonic()
    status = await toybox_shell(forever=forever).run("forever | head -n 1", io)
    assert (status, bytes(io.stdout), bytes(io.stderr)) == (0, line, b"")
    assert cancelled.is_set(), "the producer kept running after head was done"
    assert time.monotonic() - started < 2
    # Backpressure: the producer got at most one pipe's worth (plus one write) ahead.
    assert written <= PIPE_CAPACITY + 20_000


@pytest.mark.timeout(10)
async def test_a_slow_consumer_holds_the_producer_back() -> None:
    written = 0
    consumed = asyncio.Event()

    async def producer(argv: list[str], io: ShellIO) -> int:
        nonlocal written
        for _ in range(1000):
            await io.out(b"y" * 1000)
            written += 1000
        return 0

    async def stalled(argv: list[str], io: ShellIO) -> int:
        await io.read_stdin()
        consumed.set()
        await asyncio.sleep(3600)
        return 0

    task = asyncio.create_task(
        toybox_shell(producer=producer, stalled=stalled).run("producer | stalled", ShellIO())
    )
    await consumed.wait()
    await asyncio.sleep(0.1)
    assert 0 < written <= 2 * PIPE_CAPACITY + 1000
    task.cancel()  # the session goes away: every stage is cancelled, nothing leaks
    with pytest.raises(asyncio.CancelledError):
        await task
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []


async def test_head_of_stdin_leaves_the_rest_unread() -> None:
    io = ShellIO(stdin=b"one\ntwo\nthree\n")
    assert await toybox_shell().run("head -n 1 | cat", io) == 0
    assert bytes(io.stdout) == b"one\n"


@pytest.mark.timeout(30)
def test_pipeline_parsing_is_linear() -> None:
    program = parse("echo a | " * 200_000 + "cat 2>/dev/null")
    pipeline = program[0][0][1]
    assert len(pipeline) == 200_001
    assert pipeline[-1].redirects == ((2, -1),)
    assert run_piped("echo a" + " | cat" * 300) == (0, "a\n", "")
