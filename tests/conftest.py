"""Shared fixtures: a private, real adb server for the whole test session.

Every end-to-end test talks to the real adb binary (the one bundled in adbutils' wheel unless
``TETHERGUARD_TEST_ADB`` names another, e.g. Debian's ``/usr/bin/adb``) on a free port, with its own
``HOME`` (so its RSA key is throwaway) and with the emulator port scan off (``ADB_EMU=0``), so a
developer's own adb server and emulators are never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from agent.adb import AdbClient, ServerAddress
from agent.sim.host import SimHost
from tests.adbserver import AdbServer, bundled_adb, free_port
from tests.support import Plug


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdbServer]:
    binary = os.environ.get("TETHERGUARD_TEST_ADB") or bundled_adb()
    home = tmp_path_factory.mktemp("adbhome")
    port = free_port()
    env = dict(os.environ, HOME=str(home), ADB_EMU="0", ANDROID_ADB_SERVER_PORT=str(port))
    env.pop("ADB_SERVER_SOCKET", None)
    server = AdbServer(binary=binary, port=port, env=env)
    started = server.run("start-server", timeout=30)
    assert started.returncode == 0, started.stderr
    # Everything in this process (adbutils auto-start included) must reach this server only.
    saved = {
        k: os.environ.get(k)
        for k in ("ANDROID_ADB_SERVER_PORT", "ADBUTILS_ADB_PATH", "HOME", "ADB_EMU")
    }
    os.environ.update(
        ANDROID_ADB_SERVER_PORT=str(port), ADBUTILS_ADB_PATH=binary, HOME=str(home), ADB_EMU="0"
    )
    try:
        yield server
    finally:
        server.run("kill-server")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def host() -> Iterator[SimHost]:
    """One event loop hosting the simulated phones of the whole session (tests plug and unplug
    their own phones on it)."""
    with SimHost() as sim:
        yield sim


@pytest.fixture
def plug(host: SimHost, adb_server: AdbServer) -> Iterator[Plug]:
    """``plug(profile or state, connect=, work_profile=, auth=, **build_state options)``: a
    simulated phone on ``host``, ``adb connect``-ed; every one is disconnected and unplugged at
    teardown, so tests need no try/finally of their own (a phone left connected after its port
    closed would linger in adb as an offline ghost)."""
    with Plug(host, adb_server) as plugger:
        yield plugger


@pytest.fixture
def client(adb_server: AdbServer) -> AdbClient:
    """tetherguard's adb client on the session's private server (never starts another)."""
    return AdbClient(ServerAddress("127.0.0.1", adb_server.port), start_server=False)
