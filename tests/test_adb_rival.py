"""Two adb programs fighting for the server's port, end to end: another adb (of another version,
as Android Studio's often is) kills any server it did not start and starts its own, which is
what adb does on a version mismatch. tetherguard goes on watching through it, connects the
network phones the new server dropped, loses and duplicates nothing, says what happened, and
when the server has to be started again it starts the one that was serving, so the fight ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from agent.adb import AdbClient, ServerAddress
from agent.engine import Engine
from agent.sim.host import SimHost
from agent.store import Store
from tests.adbserver import AdbServer, bundled_adb, free_port
from tests.support import Plug, wait_for

CONTACTS = "android.permission.READ_CONTACTS"
LOCATION = "android.permission.ACCESS_FINE_LOCATION"


def serving(port: int) -> tuple[int, str] | None:
    """The pid and program listening on ``port``, if any."""
    for c in psutil.net_connections(kind="tcp"):
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            try:
                return c.pid, psutil.Process(c.pid).exe()
            except psutil.Error:
                return None
    return None


def other_adb(ours: str, spare: Path) -> str:
    """An adb program that is not ``ours``: the other of Debian's and the bundled one, else a
    copy (told apart by its path, as a different version would be by its build)."""
    for candidate in (bundled_adb(), shutil.which("adb")):
        if candidate and os.path.realpath(candidate) != os.path.realpath(ours):
            return os.path.realpath(candidate)
    spare.mkdir(parents=True, exist_ok=True)
    copy = spare / "adb"
    shutil.copy2(ours, copy)
    return str(copy)


class Rival(threading.Thread):
    """The other adb program, run often (an IDE polling its devices): a server it did not
    start is killed and replaced by its own."""

    def __init__(self, binary: str, port: int, env: dict[str, str]) -> None:
        super().__init__(name="rival-adb", daemon=True)
        self.binary, self.port, self.env = binary, port, env
        self.takeovers = 0
        self.stopped = threading.Event()

    def adb(self, *args: str) -> None:
        subprocess.run(
            [self.binary, "-P", str(self.port), *args],
            env=self.env,
            capture_output=True,
            timeout=30,
            check=False,
        )

    def run(self) -> None:
        while not self.stopped.wait(0.3):
            now = serving(self.port)
            if now is not None and now[1] != self.binary:
                self.takeovers += 1
                self.adb("kill-server")
                self.adb("start-server")


@pytest.fixture
def fight(adb_server: AdbServer, tmp_path: Path) -> Iterator[tuple[AdbServer, str]]:
    """A server of our own adb on a port of its own, and the rival's program."""
    port = free_port()
    env = dict(adb_server.env, ANDROID_ADB_SERVER_PORT=str(port))
    server = AdbServer(binary=adb_server.binary, port=port, env=env)
    assert server.run("start-server", timeout=30).returncode == 0
    try:
        yield server, other_adb(adb_server.binary, tmp_path / "rival")
    finally:
        server.run("kill-server")


def test_a_rival_adb_taking_the_port_loses_nothing_and_the_fight_ends(
    host: SimHost, fight: tuple[AdbServer, str], tmp_path: Path
) -> None:
    server, rival_binary = fight
    ours = serving(server.port)
    assert ours is not None and ours[1] != rival_binary
    client = AdbClient(ServerAddress("127.0.0.1", server.port))  # may start a server
    package = "com.sina.weibo"
    with Plug(host, server) as plug, Store.open(tmp_path / "tg.db") as store:
        device = plug("pixel8-a15")
        engine = Engine(client, store, interval=0.2, serials=[device.serial])
        events, _ = engine.events_queue()
        engine.start()
        rival = Rival(rival_binary, server.port, server.env)
        try:
            wait_for(lambda: store.load_snapshot(device.serial) is not None)
            wait_for(lambda: engine.live_ready(device.serial))

            def grant(permission: str) -> None:
                host.call(lambda: device.state.grant(package, 0, permission))
                wait_for(
                    lambda: any(
                        e.kind == "permission_granted" and e.detail["permission"] == permission
                        for e in list(events.queue)
                    ),
                    timeout=60,
                    message=f"{permission} not reported; said: {engine.errors}",
                )

            # The rival takes the port: its new server does not know the network phone.
            rival.start()
            wait_for(lambda: (serving(server.port) or (0, ""))[1] == rival_binary, timeout=30)
            wait_for(lambda: any("went away and is back" in e for e in engine.errors), timeout=30)
            wait_for(lambda: server.state(device.serial) == "device", timeout=60)
            grant(CONTACTS)

            # The rival's server dies (its IDE closed): tetherguard starts one, the same
            # program as the rival's, which therefore leaves it alone.
            now = serving(server.port)
            assert now is not None
            # (While it took the port, a server may have been started between its kill and its
            # start; from here on, nobody has a reason to take the port again.)
            before = rival.takeovers
            os.kill(now[0], signal.SIGKILL)
            wait_for(lambda: serving(server.port) is not None, timeout=30)
            wait_for(lambda: server.state(device.serial) == "device", timeout=60)
            grant(LOCATION)
            time.sleep(2)  # room for a takeover that must not come
        finally:
            rival.stopped.set()
            rival.join(timeout=40)
            engine.stop()
        assert rival.takeovers == before, "tetherguard started a server the rival had to kill"
        said = [e for e in engine.errors if "went away and is back" in e]
        assert len(said) >= 2 and "connecting 1 network phones again" in said[0], said
        grants = [e.detail["permission"] for e in store.events(kind="permission_granted")]
        assert sorted(grants) == sorted([CONTACTS, LOCATION]), grants
