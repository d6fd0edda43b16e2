"""Host-side attribution: a change made on a phone by a program on this computer (here the real
``adb`` binary run from a shell) carries who ran it; the adb server and tetherguard itself are
never blamed, and tetherguard's own actions carry nothing."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from agent.actions import Action
from agent.adb import AdbClient
from agent.engine import Engine
from agent.hostwatch import HostWatcher
from agent.store import Store
from tests.adbserver import AdbServer
from tests.support import Plug, wait_for

WEIBO, CONTACTS = "com.sina.weibo", "android.permission.READ_CONTACTS"


def _events(store: Store, serial: str, kind: str, package: str) -> list[dict[str, object]]:
    return [dict(e.detail) for e in store.events(serial=serial, kind=kind, package=package)]


def test_a_grant_made_with_adb_from_a_shell_names_the_command_and_its_shell(
    plug: Plug, client: AdbClient, adb_server: AdbServer, tmp_path: Path
) -> None:
    device = plug("pixel6a-a14")
    host = HostWatcher(port=adb_server.port, period=0.02)
    with Store.open(tmp_path / "tg.db") as store:
        engine = Engine(client, store, interval=0.3, serials=[device.serial], live=False, host=host)
        engine.start()
        try:
            wait_for(lambda: store.load_snapshot(device.serial) is not None)
            # A script's session: the grant, then a moment's more work on the phone (a
            # simulated phone answers in milliseconds, a real one takes longer; a program that
            # comes and goes between two of the watcher's looks is missed).
            script = f"pm grant {WEIBO} {CONTACTS}; sleep 0.3"
            grant = [adb_server.binary, "-P", str(adb_server.port), "-s", device.serial]
            grant += ["shell", script]
            # A shell runs it (and then something else, so it stays the parent).
            done = subprocess.run(
                ["bash", "-c", f"{shlex.join(grant)}; echo granted"],
                capture_output=True,
                text=True,
                timeout=30,
                env=adb_server.env,
            )
            assert done.returncode == 0 and "granted" in done.stdout, done.stderr
            wait_for(lambda: _events(store, device.serial, "permission_granted", WEIBO))
            [detail] = _events(store, device.serial, "permission_granted", WEIBO)
            clients = detail["host"]
            assert isinstance(clients, list) and clients
            blamed = clients[0]
            assert blamed["name"] == "adb" and blamed["serial"] == device.serial
            assert blamed["cmdline"][-1] == f"pm grant {WEIBO} {CONTACTS}; sleep 0.3"
            assert blamed["parents"][0] == "bash"
            assert not any("fork-server" in c["cmdline"] for c in clients)  # not the server
            # tetherguard's own change: consent tetherguard, nobody on the host blamed
            engine.actions(device.serial, "cli:test").run(
                Action("revoke", WEIBO, 0, permission=CONTACTS)
            )
            wait_for(lambda: _events(store, device.serial, "permission_revoked", WEIBO))
            [revoked] = _events(store, device.serial, "permission_revoked", WEIBO)
            assert "host" not in revoked
        finally:
            engine.stop()


def test_the_adb_server_and_this_process_are_never_clients(adb_server: AdbServer) -> None:
    seen = HostWatcher(port=adb_server.port).sample()
    assert all("fork-server" not in c.cmdline for c in seen)
    assert all(c.pid != __import__("os").getpid() for c in seen)
