"""agent.adb end to end: our client -> the real adb server -> simulated phones over loopback."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from agent.adb import (
    AdbClient,
    AdbServerUnavailable,
    CommandTimeout,
    DeviceEvent,
    DeviceNotFound,
    DeviceOffline,
    DeviceUnauthorized,
    OutputTooLarge,
    Package,
    ServerAddress,
)
from agent.adb.server import PrivateAdbServer
from agent.sim.commands import pattern_bytes
from agent.sim.host import SimHost
from agent.sim.transport import AdbDeviceServer, AuthMode
from tests.adbserver import AdbServer, free_port
from tests.simfleet import PIXEL_PROPS, plugged
from tests.support import run_cli


@pytest.fixture
def phone(host: SimHost, adb_server: AdbServer) -> Iterator[AdbDeviceServer]:
    with plugged(host, adb_server) as device:
        yield device


def test_devices_lists_model_release_and_transport(
    client: AdbClient, phone: AdbDeviceServer
) -> None:
    info = next(i for i in client.devices(details=True) if i.serial == phone.serial)
    assert info.state == "device"
    assert info.model == "Pixel 8"
    assert (info.android_release, info.sdk) == ("15", 35)
    assert info.transport == "tcp"


def test_shell_output_stderr_and_exit_codes(client: AdbClient, phone: AdbDeviceServer) -> None:
    link = client.link(phone.serial)
    r = link.shell(["echo", "hello"])
    assert (r.stdout, r.stderr, r.exit_code, r.ok) == ("hello\n", "", 0, True)
    assert link.shell(["false"]).exit_code == 1
    assert link.shell(["exit", "42"]).exit_code == 42
    missing = link.shell(["no-such-tool"])
    assert missing.exit_code == 127
    assert missing.stdout == ""
    assert "no-such-tool: inaccessible or not found" in missing.stderr
    with pytest.raises(Exception, match="exited 127"):
        missing.check()


def test_arguments_arrive_exactly_as_given(client: AdbClient, phone: AdbDeviceServer) -> None:
    words = ["a b", "c;reboot", "$HOME", "it's", '"q"', "&&", "x\ny"]
    r = client.link(phone.serial).shell(["echo", *words, Package("com.example")])
    assert r.stdout == " ".join([*words, "com.example"]) + "\n"


def test_v1_device_gets_exit_code_from_marker(
    client: AdbClient, host: SimHost, adb_server: AdbServer
) -> None:
    with plugged(host, adb_server, features=("cmd",)) as old:
        link = client.link(old.serial)
        assert "shell_v2" not in link.features()
        r = link.shell(["echo", "old"])
        assert (r.stdout, r.exit_code) == ("old\n", 0)
        assert link.shell(["false"]).exit_code == 1
        # 'exit' ends the shell before the marker: the exit code is honestly unknown.
        assert link.shell(["exit", "3"]).exit_code is None
        missing = link.shell(["nope"])
        # No separate stderr on v1: it arrives merged, as on a real pre-Nougat phone.
        assert missing.exit_code == 127 and "inaccessible or not found" in missing.stdout
        assert "TG_EXIT" not in missing.stdout
        no_newline = link.shell(["echo", "-n", "tail"])
        assert (no_newline.stdout, no_newline.exit_code) == ("tail", 0)


def test_large_output_is_byte_exact_and_capped(client: AdbClient, phone: AdbDeviceServer) -> None:
    link = client.link(phone.serial)
    size = 4 << 20
    r = link.shell(["yes-bytes", str(size)])
    assert r.raw_stdout == pattern_bytes(size)
    with pytest.raises(OutputTooLarge, match="more than 1048576 bytes"):
        link.shell(["yes-bytes", str(size)], max_bytes=1 << 20)
    assert link.shell(["echo", "still fine"]).stdout == "still fine\n"


def test_timeout_cancels_instead_of_hanging(client: AdbClient, phone: AdbDeviceServer) -> None:
    link = client.link(phone.serial)
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"did not finish within 0\.5s"):
        link.shell(["sleep", "30"], timeout=0.5)
    assert time.monotonic() - started < 10
    assert link.shell(["echo", "ok"]).ok


def test_stream_lines_then_close(client: AdbClient, phone: AdbDeviceServer) -> None:
    stream = client.link(phone.serial).stream(["logcat", "-b", "events", "-v", "epoch"])
    lines = []
    for line in stream:
        lines.append(line)
        if len(lines) == 3:
            stream.close()
    assert len(lines) == 3 and all(line.strip() for line in lines)
    # The device-side command ends when we close: no stream stays open on the phone.
    deadline = time.monotonic() + 5
    while phone.connections and phone.active_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert phone.active_streams == 0


def test_stream_close_from_another_thread(client: AdbClient, phone: AdbDeviceServer) -> None:
    stream = client.link(phone.serial).stream(["logcat"])
    threading.Timer(0.35, stream.close).start()
    got = list(stream)
    assert 1 <= len(got) < 20


def test_unauthorized_until_accepted(
    client: AdbClient, host: SimHost, adb_server: AdbServer
) -> None:
    with plugged(host, adb_server, auth=AuthMode.PROMPT, connect=False) as locked:
        adb_server.run("connect", locked.serial)
        adb_server.wait_state(locked.serial, "unauthorized")
        info = next(i for i in client.devices(details=True) if i.serial == locked.serial)
        assert info.state == "unauthorized" and info.android_release is None
        with pytest.raises(DeviceUnauthorized, match="accept the RSA key prompt"):
            client.link(locked.serial).shell(["echo", "hi"])
        host.call(locked.accept_auth)
        adb_server.wait_state(locked.serial, "device")
        assert client.link(locked.serial).shell(["echo", "hi"]).stdout == "hi\n"


def test_unplug_mid_command_raises_promptly(
    client: AdbClient, host: SimHost, adb_server: AdbServer
) -> None:
    with plugged(host, adb_server) as doomed:
        link = client.link(doomed.serial)
        link.features()
        errors: queue.Queue[BaseException | None] = queue.Queue()

        def run() -> None:
            try:
                link.shell(["sleep", "60"], timeout=None)
                errors.put(None)
            except BaseException as exc:
                errors.put(exc)

        threading.Thread(target=run, daemon=True).start()
        time.sleep(0.3)
        host.stop(doomed)
        error = errors.get(timeout=15)
        assert isinstance(error, DeviceOffline | DeviceNotFound), error
        assert doomed.serial in str(error)


def test_unplug_mid_stream_raises(client: AdbClient, host: SimHost, adb_server: AdbServer) -> None:
    with plugged(host, adb_server) as doomed:
        stream = client.link(doomed.serial).stream(["logcat"])
        it = iter(stream)
        assert next(it)
        host.stop(doomed)
        with pytest.raises((DeviceOffline, DeviceNotFound)):
            for _ in it:
                pass


def test_unknown_serial(client: AdbClient) -> None:
    with pytest.raises(DeviceNotFound, match="not attached"):
        client.link("127.0.0.1:1").shell(["echo"])


def test_track_reports_connect_and_gone(
    client: AdbClient, host: SimHost, adb_server: AdbServer
) -> None:
    events: queue.Queue[DeviceEvent] = queue.Queue()
    tracker = client.track(poll_interval=0.5)

    def pump() -> None:
        for event in tracker:
            events.put(event)

    threading.Thread(target=pump, daemon=True).start()

    def wait_for(serial: str, kind: str) -> DeviceEvent:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if event.serial == serial and event.kind == kind:
                return event
        raise AssertionError(f"no {kind} event for {serial}")

    with plugged(host, adb_server) as device:
        assert wait_for(device.serial, "connected").state == "device"
    assert wait_for(device.serial, "gone").previous is not None


def test_track_sees_an_unplug_the_server_does_not_announce(
    client: AdbClient, host: SimHost, adb_server: AdbServer
) -> None:
    # adb v29 never reports a vanished TCP device on track-devices (only host:devices shows it
    # offline), so tracking must poll too; with v36 the track message arrives first.
    with plugged(host, adb_server) as device:
        tracker = client.track(poll_interval=0.3)
        seen: queue.Queue[DeviceEvent] = queue.Queue()
        threading.Thread(target=lambda: [seen.put(e) for e in tracker], daemon=True).start()
        deadline = time.monotonic() + 10
        kinds: list[str] = []
        while "connected" not in kinds and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                event = seen.get(timeout=0.2)
                if event.serial == device.serial:
                    kinds.append(event.kind)
        host.stop(device)  # pulled out: no adb disconnect
        while not {"offline", "gone"} & set(kinds) and time.monotonic() < deadline + 10:
            with contextlib.suppress(queue.Empty):
                event = seen.get(timeout=0.2)
                if event.serial == device.serial:
                    kinds.append(event.kind)
        tracker.close()
        assert kinds[0] == "connected"
        assert {"offline", "gone"} & set(kinds[1:])


def test_push_and_pull(client: AdbClient, phone: AdbDeviceServer, tmp_path: Path) -> None:
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(300_000))
    link = client.link(phone.serial)
    link.push(src, "/sdcard/up.bin")
    assert link.pull("/sdcard/up.bin", tmp_path / "down.bin") == 300_000
    assert (tmp_path / "down.bin").read_bytes() == src.read_bytes()


def test_fifty_devices_at_once(client: AdbClient, host: SimHost, adb_server: AdbServer) -> None:
    with ExitStack() as stack:
        devices = [stack.enter_context(plugged(host, adb_server, connect=False)) for _ in range(50)]
        for d in devices:
            adb_server.run("connect", d.serial)
        for d in devices:
            adb_server.wait_state(d.serial, "device", timeout=20)
        online = {i.serial for i in client.devices() if i.online}
        assert {d.serial for d in devices} <= online
        with ThreadPoolExecutor(8) as pool:
            outs = list(
                pool.map(lambda d: client.link(d.serial).shell(["echo", d.serial]).stdout, devices)
            )
        assert outs == [f"{d.serial}\n" for d in devices]


def test_server_started_when_absent_and_after_it_dies() -> None:
    with PrivateAdbServer() as private:
        binary = private.binary
        port = free_port()
        address = ServerAddress("127.0.0.1", port)
        with pytest.raises(AdbServerUnavailable, match=f"no adb server at 127.0.0.1:{port}"):
            AdbClient(address, start_server=False).devices()
        env_home = private.home
        assert env_home is not None
        os.environ.setdefault("ADB_EMU", "0")
        client = AdbClient(address, adb_path=binary)
        try:
            assert client.devices() == []
            assert client.started_server
            client.kill_server()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # wait until the port is really free
                try:
                    AdbClient(address, start_server=False).server_version()
                except AdbServerUnavailable:
                    break
                time.sleep(0.1)
            # The server died; the next call brings it back on the same port.
            assert client.devices() == []
            assert client.server_version() >= 39
        finally:
            client.kill_server(force=True)


def test_refuses_to_kill_a_server_it_did_not_start(client: AdbClient) -> None:
    with pytest.raises(Exception, match="did not start"):
        client.kill_server()


def test_cli_devices_json_and_table(adb_server: AdbServer, phone: AdbDeviceServer) -> None:
    env = dict(adb_server.env)
    listed = json.loads(run_cli("devices", "--json", env=env).stdout)
    mine = next(d for d in listed if d["serial"] == phone.serial)
    assert mine["model"] == PIXEL_PROPS["ro.product.model"]
    assert mine["android_release"] == "15" and mine["state"] == "device"
    table = run_cli("devices", env=env)
    assert table.returncode == 0
    assert any(
        line.split()[:2] == [phone.serial, "device"] and "15 (API 35)" in line
        for line in table.stdout.splitlines()
    )


def test_cli_exit_code_3_with_one_clear_line(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        ANDROID_ADB_SERVER_PORT=str(free_port()),
        ADBUTILS_ADB_PATH=str(tmp_path / "no-adb-here"),
        HOME=str(tmp_path),
    )
    done = run_cli("devices", env=env)
    assert done.returncode == 3
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tetherguard: adb server unavailable:")
    assert "Traceback" not in done.stderr


def test_cli_usage_error_exit_2() -> None:
    assert run_cli("devices", "--bogus", env=dict(os.environ)).returncode == 2
    assert run_cli(env=dict(os.environ)).returncode == 2


def test_engine_imports_no_textual() -> None:
    # The headless agent must start without the TUI stack (servers, CI runners, fleets).
    code = "import sys, agent.cli, agent.adb, agent.sim; print('textual' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
