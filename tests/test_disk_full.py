"""A full disk on the host: the store and the fleet outbox say so clearly, hold what they cannot
write in memory, and write it, in order and once, when space is back. The disk is a real small
filesystem (tmpfs, mounted for the test) filled up with a file, then freed."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agent.adb import AdbClient
from agent.engine import Engine
from agent.events import Consent, Event, Severity
from agent.fleet import FleetSink
from agent.sim.host import SimHost
from agent.store import Store
from tests.postgres import PgServer, pg_bin
from tests.support import Plug, wait_for

PERMISSIONS = (
    "android.permission.READ_CONTACTS",
    "android.permission.CAMERA",
    "android.permission.ACCESS_FINE_LOCATION",
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB filesystem of its own (root mounts it; CI runs as root)."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk``; the file returned gives them back when removed."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 4096)
    return filler


def test_a_full_disk_delays_the_record_and_loses_nothing(
    host: SimHost, client: AdbClient, plug: Plug, small_disk: Path
) -> None:
    device = plug("pixel8-a15")
    package = "com.sina.weibo"
    with Store.open(small_disk / "tg.db") as store:
        engine = Engine(client, store, interval=0.2, serials=[device.serial])
        events, _ = engine.events_queue()
        engine.start()
        try:
            wait_for(lambda: store.load_snapshot(device.serial) is not None)
            wait_for(lambda: engine.live_ready(device.serial))
            filler = fill(small_disk)

            def grant(permission: str) -> None:
                host.call(lambda: device.state.grant(package, 0, permission))
                wait_for(
                    lambda: any(
                        e.kind == "permission_granted" and e.detail["permission"] == permission
                        for e in list(events.queue)
                    ),
                    timeout=30,
                )

            # The owner still sees each change at once, and is told why it is not on record.
            grant(PERMISSIONS[0])
            grant(PERMISSIONS[1])
            assert engine.held >= 2
            said = [e for e in engine.errors if "full" in e]
            assert said and "held in memory" in said[0] and str(small_disk) in said[0]
            assert len(said) == 1  # once, not once per batch
            with Store.open(small_disk / "tg.db", timeout=1.0) as reader:
                assert not list(reader.events(kind="permission_granted"))

            filler.unlink()  # space again: the held events go in, in order
            wait_for(lambda: engine.held == 0, timeout=30)
            assert any("writable again" in e for e in engine.errors)
            grant(PERMISSIONS[2])
            wait_for(lambda: len(list(store.events(kind="permission_granted"))) == 3, timeout=30)
        finally:
            engine.stop()
        stored = list(store.events(kind="permission_granted"))
        assert sorted(e.detail["permission"] for e in stored) == sorted(PERMISSIONS)
        assert [e.ts for e in stored] == sorted(e.ts for e in stored)
        assert store.integrity_check() == ["ok"]
        # The snapshots held with the events went in too: nothing is reported again.
        again = Engine(client, store, interval=0.2, serials=[device.serial], live=False)
        assert [e for e in again.once() if e.kind == "permission_granted"] == []


def _event(i: int) -> Event:
    return Event(
        kind="permission_granted",
        serial="S1",
        ts=1_795_000_000.0 + i,
        consent=Consent.NONE,
        severity=Severity.HIGH,
        user=0,
        package="com.app",
        detail={"permission": "android.permission.CAMERA", "n": i, "pad": "x" * 2000},
        id=f"ev-{i:05d}",
    )


@pytest.mark.skipif(pg_bin() is None, reason="needs PostgreSQL (CI installs it)")
def test_a_full_disk_under_the_fleet_outbox_loses_nothing(small_disk: Path) -> None:
    pg = PgServer()
    pg.start()
    try:
        sink = FleetSink(pg.url, small_disk / "outbox.db", host="h1").start()
        try:
            for i in range(5):
                sink(_event(i))
            wait_for(lambda: sink.status().pending == 0 and sink.shipped >= 5, timeout=30)
            filler = fill(small_disk)
            for i in range(5, 60):
                sink(_event(i))  # never raises: the engine's thread must go on
            assert sink.status().pending > 0
            assert sink.status().error is not None and "full" in sink.status().error
            filler.unlink()
            wait_for(lambda: sink.status().pending == 0, timeout=60)
            assert sink.status().error is None
        finally:
            sink.close()
        with psycopg.connect(pg.url) as conn:
            got = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY seq").fetchall()]
        assert got == [f"ev-{i:05d}" for i in range(60)]
    finally:
        pg.close()
