"""The fleet store, against a real PostgreSQL started for the tests: events go through the
durable outbox in order, a database killed mid-stream loses nothing and duplicates nothing once
it is back, and two agents watching two simulated fleets share one fleet view."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agent.actions import Action
from agent.adb import AdbClient
from agent.cli import main as cli
from agent.engine import Engine
from agent.events import Consent, Event, Severity
from agent.fleet import FleetSink, Outbox, fleet_view
from agent.store import Store
from tests.adbserver import AdbServer
from tests.postgres import PgServer, pg_bin
from tests.support import Plug, Watching, run_cli, wait_for
from tests.tui_static import StaticSource
from tui.app import TetherguardApp
from tui.screens import HostsScreen
from tui.widgets import Table

pytestmark = pytest.mark.skipif(
    pg_bin() is None, reason="needs PostgreSQL (CI installs it: apt-get install postgresql)"
)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


def _fresh(pg: PgServer) -> None:
    """An empty central database for each test (the schema comes back with the first host)."""
    if pg.proc is None:
        pg.start()
    with psycopg.connect(pg.url, autocommit=True) as conn:
        for table in ("events", "audit", "devices", "hosts", "tetherguard_schema"):
            conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")


def _event(i: int, serial: str = "S1") -> Event:
    return Event(
        kind="permission_granted",
        serial=serial,
        ts=1_795_000_000.0 + i,
        consent=Consent.NONE,
        severity=Severity.HIGH,
        user=0,
        package=f"com.app{i % 5}",
        detail={"permission": "android.permission.CAMERA", "n": i, "label": "微信 'x'"},
        id=f"ev-{i:05d}",
    )


def _central(pg: PgServer, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(pg.url) as conn:
        return list(conn.execute(sql).fetchall())


def test_a_database_killed_mid_stream_loses_and_duplicates_nothing(
    pg: PgServer, tmp_path: Path
) -> None:
    _fresh(pg)
    sink = FleetSink(pg.url, tmp_path / "outbox.db", host="host-a", name="lab-1").start()
    try:
        feeder_done = threading.Event()

        def feed() -> None:
            for i in range(600):
                sink(_event(i))
                time.sleep(0.004)
            feeder_done.set()

        threading.Thread(target=feed, daemon=True).start()
        wait_for(lambda: sink.shipped > 50)
        pg.kill()  # mid-stream, hard
        wait_for(lambda: sink.status().error is not None)
        wait_for(feeder_done.is_set)
        waiting = sink.status().pending
        assert waiting > 0  # kept on disk while the database is away
        time.sleep(3)  # an outage of a few seconds (and retries with backoff meanwhile)
        assert sink.status().pending == waiting
        pg.start()
        wait_for(lambda: sink.status().pending == 0, timeout=60)
        assert sink.status().error is None
    finally:
        sink.close()
    rows = _central(pg, "SELECT id, seq, detail FROM events WHERE host = 'host-a' ORDER BY seq")
    assert [r[0] for r in rows] == [f"ev-{i:05d}" for i in range(600)]  # all, once, in order
    assert rows[7][2] == {"permission": "android.permission.CAMERA", "n": 7, "label": "微信 'x'"}


def test_a_batch_sent_again_is_not_duplicated_and_the_outbox_survives_a_restart(
    pg: PgServer, tmp_path: Path
) -> None:
    _fresh(pg)
    box = tmp_path / "outbox.db"
    first = FleetSink("postgresql://nobody@127.0.0.1:1/none", box, host="host-b")
    for i in range(20):
        first(_event(i))
    first.close(drain_s=0.5)  # the database is unreachable: everything waits on disk
    assert Outbox(box).pending() == 20
    again = FleetSink(pg.url, box)  # the agent restarted, now reaching the database
    assert again.host == "host-b"  # the host id is kept with the outbox
    assert again.flush() == 20
    for i in range(10):  # as if the answer to a commit had been lost: the same rows again
        again(_event(i))
    assert again.flush() == 10
    again.close()
    assert _central(pg, "SELECT count(*), count(DISTINCT id) FROM events") == [(20, 20)]


def test_two_agents_with_two_simulated_fleets_share_one_fleet_view(
    pg: PgServer, plug: Plug, client: AdbClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fresh(pg)
    phones = [plug("pixel6a-a14"), plug("redmi-note11-a13"), plug("pixel8-a15")]
    agents = []
    for name, mine in (("desk-1", phones[:2]), ("desk-2", phones[2:])):
        store = Store.open(tmp_path / f"{name}.db")
        engine = Engine(client, store, interval=0.3, serials=[p.serial for p in mine], live=False)
        policy = "corp-baseline" if name == "desk-2" else None
        sink = FleetSink(
            pg.url, tmp_path / f"{name}-outbox.db", store=store, name=name, policy=policy
        )
        engine.subscribe(sink)
        sink.start()
        engine.start()
        agents.append((store, engine, sink))
    try:
        for phone in phones:
            wait_for(lambda p=phone: any(s.load_snapshot(p.serial) for s, _, _ in agents))
        weibo = "com.sina.weibo"
        plug.host.call(lambda: phones[2].state.grant(weibo, 0, "android.permission.READ_CONTACTS"))

        # desk-2's policy undoes it (an action as policy:NAME, shipped from the audit log)
        _, engine2, _ = agents[1]
        wait_for(lambda: any(e.kind == "permission_granted" for e in agents[1][0].events()))
        engine2.actions(phones[2].serial, "policy:corp-baseline").run(
            Action("revoke", weibo, 0, permission="android.permission.READ_CONTACTS")
        )

        def seen() -> bool:
            found = {d.serial: d for d in fleet_view(pg.url)}
            mine = found.get(phones[2].serial)
            return (
                len(found) == 3
                and mine is not None
                and (
                    mine.findings_7d,
                    mine.policy,
                    mine.policy_actions_7d,
                )
                == (1, "corp-baseline", 1)
            )

        wait_for(seen, timeout=60)
    finally:
        for store, engine, sink in agents:
            engine.stop()
            sink.close()
            store.close()
    view = {d.serial: d for d in fleet_view(pg.url)}
    assert {view[p.serial].host_name for p in phones[:2]} == {"desk-1"}
    assert view[phones[2].serial].host_name == "desk-2"
    assert view[phones[0].serial].state == "device" and view[phones[0].serial].model
    assert cli(["fleet", "--fleet", pg.url, "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(d["serial"] for d in listed) == sorted(p.serial for p in phones)
    assert cli(["fleet", "--fleet", pg.url]) == 0
    table = capsys.readouterr().out
    assert "desk-1" in table and "desk-2" in table and phones[2].serial in table
    assert "corp-baseline (1)" in table
    assert cli(["fleet", "--fleet", "postgresql://nobody@127.0.0.1:1/none"]) == 3
    assert "cannot reach the fleet database" in capsys.readouterr().err
    # the TUI's hosts screen (h) reads the same view, off the main thread
    assert asyncio.run(_hosts_screen(StaticSource(), pg.url)) == sorted(
        [("desk-1", phones[0].serial), ("desk-1", phones[1].serial), ("desk-2", phones[2].serial)]
    )


async def _hosts_screen(source: StaticSource, url: str) -> list[tuple[str, str]]:
    app = TetherguardApp(source, refresh_s=60.0, fleet_url=url)
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.pause()
        await pilot.press("h")
        async with asyncio.timeout(30):
            while not (  # noqa: ASYNC110 - the screen's state, as a person would watch it
                isinstance(app.screen, HostsScreen) and app.screen.query_one(Table).row_count == 3
            ):
                await asyncio.sleep(0.05)
        table = app.screen.query_one(Table)
        return sorted((str(table.get_row_at(i)[0]), str(table.get_row_at(i)[1])) for i in range(3))


def test_watch_ships_to_the_fleet_database(
    pg: PgServer, adb_server: AdbServer, plug: Plug, tmp_path: Path
) -> None:
    _fresh(pg)
    device = plug("redmi-note11-a13")
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    first = run_cli("watch", "--once", "--no-host", "--fleet", pg.url, env=env)
    assert first.returncode == 0, first.stderr
    plug.host.call(
        lambda: device.state.grant("com.sina.weibo", 0, "android.permission.READ_CONTACTS")
    )
    # a postgresql:// URL as --store means the same
    done = run_cli("watch", "--once", "--no-host", "--store", pg.url, env=env)
    assert done.returncode == 1, done.stderr  # a finding
    rows = _central(pg, "SELECT serial, kind, package, finding FROM events ORDER BY seq")
    assert (device.serial, "permission_granted", "com.sina.weibo", True) in rows
    devices = _central(pg, "SELECT serial, state FROM devices")
    assert (device.serial, "device") in devices
    assert (tmp_path / "data" / "outbox.db").exists()


def test_watch_started_while_the_fleet_database_is_down_keeps_watching_and_delivers_later(
    pg: PgServer, adb_server: AdbServer, plug: Plug, tmp_path: Path
) -> None:
    _fresh(pg)
    pg.stop()  # down before the watch starts
    secret = "s3cretPW"  # trust auth ignores it; it must never be shown all the same
    url = pg.url.replace("postgres@", f"postgres:{secret}@")
    device = plug("redmi-note11-a13")
    weibo = "com.sina.weibo"
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    argv = ["--jsonl", "--interval", "0.2", "--no-host", "--serial", device.serial]
    db = tmp_path / "data" / "tetherguard.db"

    def central() -> list[tuple[str, str]]:
        """(id, permission) of the grants in the fleet database, in the order shipped."""
        try:
            rows = _central(
                pg,
                "SELECT id, detail->>'permission' FROM events "
                "WHERE kind = 'permission_granted' ORDER BY seq",
            )
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
            return []  # down, or not migrated yet
        return [(str(i), str(p)) for i, p in rows]

    def said(words: str) -> list[str]:
        return [line for line in watch.err if words in line]

    with Watching(*argv, "--fleet", url, env=env) as watch:
        watch.until(db.exists)
        with Store.open(db) as store:

            def grant(permission: str) -> None:
                plug.host.call(lambda: device.state.grant(weibo, 0, permission))
                wait_for(lambda: any(permission in line for line in watch.out))  # shown
                stored = [e.detail["permission"] for e in store.events(kind="permission_granted")]
                assert stored[-1] == permission  # in the local store at once
                assert watch.running

            wait_for(lambda: store.load_snapshot(device.serial) is not None)
            grant("android.permission.READ_CONTACTS")
            # said while it runs, on one line, without the password
            watch.until(lambda: said("cannot reach the fleet database"), timeout=20)
            [down] = said("cannot reach the fleet database")
            assert "127.0.0.1" in down and down.endswith("(1 waiting on disk)"), down
            assert central() == []
            pg.start()
            wait_for(lambda: central(), timeout=40)
            wait_for(lambda: said("takes rows again"), timeout=10)
            grant("android.permission.CAMERA")
            wait_for(lambda: len(central()) == 2, timeout=40)

            pg.kill()  # down again, mid-run
            grant("android.permission.ACCESS_FINE_LOCATION")
            # it tries, fails, says so and keeps the row on disk meanwhile
            wait_for(lambda: len(said("fleet database")) > 2, timeout=20)
            assert watch.running
            pg.start()
            wait_for(lambda: len(central()) == 3, timeout=40)
            wait_for(lambda: len(said("takes rows again")) == 2, timeout=10)
            time.sleep(1.0)  # a few more rounds: a row shipped twice would show now
            local = [
                (e.id, e.detail["permission"]) for e in store.events(kind="permission_granted")
            ]
        assert watch.stop() == 1  # Ctrl-C: a normal end, with findings reported
    assert central() == local  # each change once, in order
    assert [p for _, p in local] == [
        "android.permission.READ_CONTACTS",
        "android.permission.CAMERA",
        "android.permission.ACCESS_FINE_LOCATION",
    ]
    assert all(json.loads(line)["kind"] for line in watch.out)  # stdout stays JSON lines
    err = watch.stderr
    assert secret not in err and "Traceback" not in err, err
    fleet_lines = [line for line in watch.err if "fleet" in line]
    assert all("fleet database" in line for line in fleet_lines), err
