"""The durable store and the snapshot codec: round trips, queries, schema, safety under crashes.

Snapshots are real: read by :class:`agent.collect.Collector` from simulated phones of every
profile through the real adb server, so the codec is tested on exactly what the engine stores.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import select
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from agent import codec
from agent.adb import AdbClient, ServerAddress
from agent.collect import Collector
from agent.events import Consent, Event, Severity
from agent.model import (
    ActiveAdminInfo,
    AppOpsDump,
    DevicePolicy,
    DeviceProps,
    PackageDump,
    User,
    frozen_map,
)
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import apply_step, load_scenario
from agent.snapshot import Snapshot
from agent.store import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    BaselineEntry,
    Store,
    StoreError,
)
from tests.adbserver import AdbServer
from tests.support import Plug

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- fixtures
def _read(host: SimHost, adb_server: AdbServer, state: Any) -> Snapshot:
    with Plug(host, adb_server) as plug:  # the module-scoped fixture below cannot use `plug`
        device = plug(state)
        client = AdbClient(ServerAddress("127.0.0.1", adb_server.port), start_server=False)
        return Collector(client.link(device.serial)).full()


@pytest.fixture(scope="module")
def snapshots(adb_server: AdbServer) -> dict[str, Snapshot]:
    """One real snapshot per simulator profile (with a work profile), plus ``busy``: a Pixel
    after several scenarios (device admin, hidden icon, grants, app-op changes) and
    ``big``: a 200-package phone."""
    found: dict[str, Snapshot] = {}
    with SimHost() as host:
        for name in sorted(PROFILES):
            found[name] = _read(host, adb_server, build_state(PROFILES[name], work_profile=True))
        busy = build_state(PROFILES["pixel8-a15"], seed=3, work_profile=True)
        for scenario in (
            "admin-resists-uninstall",
            "hidden-icon",
            "grant-without-consent",
            "appop-raised",
            "hot-update",
        ):
            for step in load_scenario(scenario).steps:
                apply_step(busy, step)
        found["busy"] = _read(host, adb_server, busy)
        big = build_state(PROFILES["redmi-note11-a13"], extra_apps=164)
        found["big"] = _read(host, adb_server, big)
    return found


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "tg.db") as opened:
        yield opened


def _event(i: int = 0, **kw: Any) -> Event:
    base: dict[str, Any] = dict(
        kind="permission_granted",
        serial="SIM1",
        ts=1_700_000_000.0 + i,
        consent=Consent.NONE,
        severity=Severity.HIGH,
        user=0,
        package="com.example.app",
        clause="MIIT I.5",
        detail=MappingProxyType({"permission": "android.permission.CAMERA", "flags": []}),
    )
    base.update(kw)
    return Event(**base)


def _same_shape(a: Any, b: Any, where: str = "$") -> None:
    """Equal *and* of the same types all the way down (dataclass equality alone would call a
    dict equal to a MappingProxyType and cannot tell a list from a tuple inside a mapping)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if is_dataclass(a):
        for f in fields(a):
            _same_shape(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, MappingProxyType | dict):
        assert list(a) == list(b) or set(a) == set(b), where
        for k in a:
            _same_shape(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_shape(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


# --------------------------------------------------------------------------- codec
@pytest.mark.parametrize("name", [*sorted(PROFILES), "busy", "big"])
def test_snapshot_round_trips_exactly(name: str, snapshots: dict[str, Snapshot]) -> None:
    snap = snapshots[name]
    assert snap.packages.packages and snap.appops.uids and not snap.warnings
    data = codec.encode(snap)
    assert data["v"] == codec.VERSION and data["type"] == "Snapshot"
    # JSON-able as is (no tuples, sets or proxies left), and stable across encodes.
    text = json.dumps(data)
    assert json.dumps(codec.encode(snap)) == text
    back = codec.decode(Snapshot, json.loads(text))
    assert back == snap
    _same_shape(back, snap)
    assert codec.unpack(Snapshot, codec.pack(snap)) == snap


def test_busy_snapshot_exercises_every_container(snapshots: dict[str, Snapshot]) -> None:
    """The round trip above covers what it claims: int-keyed mappings, frozensets, nested
    mappings of tuples of records, None and Literal values, admins from a scenario."""
    snap = snapshots["busy"]
    assert set(snap.launcher) == {0, 10}
    assert any(isinstance(v, frozenset) and v for v in snap.launcher.values())
    assert snap.policy.admins
    assert any(p.flags for p in snap.packages.packages)
    assert any(b.packages for b in snap.appops.uids)
    entries = [e for b in snap.appops.uids for ops in b.packages.values() for e in ops]
    assert any(e.mode == "allow" for e in entries) and any(e.switch_op is None for e in entries)
    assert any(e.accesses for e in entries)
    # Fields the collector leaves empty here, filled by hand.
    extra = replace(
        snap,
        labels=MappingProxyType({"com.tencent.mm": "WeChat", "x": "<b>[red]bad\x1b[0m"}),
        warnings=("dumpsys package: line 3: odd",),
        policy=replace(snap.policy, profile_owners=MappingProxyType({10: "com.corp/.Admin"})),
    )
    back = codec.unpack(Snapshot, codec.pack(extra))
    assert back == extra
    _same_shape(back, extra)


def test_a_200_package_phone_is_compact(snapshots: dict[str, Snapshot]) -> None:
    snap = snapshots["big"]
    assert len(snap.packages.packages) >= 200
    text = json.dumps(codec.encode(snap), separators=(",", ":"))
    blob = codec.pack(snap)
    print(f"200-package phone: {len(text) // 1024} KB of JSON, {len(blob) // 1024} KB stored")
    assert len(text) < 1_500_000
    assert len(blob) < 150_000


def _tiny() -> Snapshot:
    return Snapshot(
        serial="SIM1",
        taken_at=1.5,
        props=DeviceProps(frozen_map({"ro.build.version.sdk": "35"})),
        users=(User(0, "Owner"),),
        packages=PackageDump(),
        appops=AppOpsDump(),
        launcher=MappingProxyType({0: frozenset({"b", "a"})}),
        policy=DevicePolicy(admins=(ActiveAdminInfo(0, "com.x/.A", policies=("wipe-data",)),)),
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["data"]["users"][0].update(id="0"), "users[0].id"),
        (lambda d: d["data"]["users"][0].update(running=1), "users[0].running"),
        (lambda d: d["data"]["policy"]["admins"][0].update(user=None), "admins[0].user"),
        (lambda d: d["data"].update(launcher={"zero": ["a"]}), "launcher['zero']"),
        (lambda d: d["data"].update(launcher={"0": [1]}), "launcher['0'][0]"),
        (lambda d: d["data"]["power"].update(screen_on="yes"), "power.screen_on"),
        (lambda d: d["data"].update(renamed_field=1), "extra fields found (renamed_field)"),
        (lambda d: d["data"].pop("serial"), "required field missing @ Snapshot.serial"),
        (lambda d: d.update(type="Event"), "expected an encoded Snapshot"),
        (lambda d: d.update(v=codec.VERSION + 1), "newer tetherguard"),
        (lambda d: d.update(v=0), "can no longer read"),
        (lambda d: d.pop("v"), "no version envelope"),
    ],
)
def test_decoding_never_guesses(mutate: Any, message: str) -> None:
    """Data that does not fit the model (another version, a renamed or retyped field) is a
    clear error naming the place, never a coerced value."""
    data = codec.encode(_tiny())
    bad = copy.deepcopy(data)
    mutate(bad)
    with pytest.raises(codec.CodecError, match=None) as info:
        codec.decode(Snapshot, bad)
    assert message in str(info.value)


def test_literal_values_are_checked(snapshots: dict[str, Snapshot]) -> None:
    data = codec.encode(snapshots["busy"])
    block = next(b for b in data["data"]["appops"]["uids"] if b["packages"])
    ops = next(iter(block["packages"].values()))
    ops[0]["mode"] = "sometimes"
    with pytest.raises(codec.CodecError, match=r"sometimes|literal.*mode"):
        codec.decode(Snapshot, data)


def test_a_field_added_since_the_blob_was_written_takes_its_default() -> None:
    data = codec.encode(replace(_tiny(), boot_id="b1", sweeps_due=4))
    del data["data"]["boot_id"], data["data"]["sweeps_due"]
    back = codec.decode(Snapshot, data)
    assert back.boot_id is None and back.sweeps_due == 1


def test_older_codec_versions_are_upgraded_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    old = codec.encode(_tiny())
    old["data"]["serial_number"] = old["data"].pop("serial")  # pretend v1 called it so

    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        data["serial"] = data.pop("serial_number")
        return data

    monkeypatch.setattr(codec, "VERSION", 2)
    monkeypatch.setitem(codec._UPGRADES, 1, upgrade)
    assert codec.decode(Snapshot, old) == _tiny()
    assert codec.encode(_tiny())["v"] == 2


def test_unpack_rejects_garbage() -> None:
    for blob in (b"", b"not zlib", codec.zlib.compress(b"\xff\xfe"), codec.zlib.compress(b"[1")):
        with pytest.raises(codec.CodecError, match="corrupt Snapshot blob"):
            codec.unpack(Snapshot, blob)


# --------------------------------------------------------------------------- events
def test_events_round_trip_and_inserts_are_idempotent(store: Store) -> None:
    events = [_event(i) for i in range(10)]
    events.append(_event(10, user=None, package=None, clause=None, detail=MappingProxyType({})))
    events.append(_event(11, detail=MappingProxyType({"nested": {"a": [1, 2.5, None, "ü"]}})))
    assert store.record_events(events) == 12
    assert store.record_events([*events[:5], _event(99)]) == 1
    assert store.record_events([]) == 0
    assert store.count_events() == 13
    assert list(store.events(until=events[-1].ts + 1)) == events
    for ev in events:
        assert store.event(ev.id) == ev
    assert store.event("nope") is None


def test_event_details_from_frozen_records_are_stored_as_json(store: Store) -> None:
    ev = _event(detail=MappingProxyType({"flags": frozenset({"B", "A"}), "pair": (1, 2)}))
    store.record_events([ev])
    got = store.event(ev.id)
    assert got is not None and dict(got.detail) == {"flags": ["A", "B"], "pair": [1, 2]}
    with pytest.raises(TypeError, match="not JSON data"):
        store.record_events([_event(1), _event(2, detail={"when": object()})])
    assert store.count_events() == 1  # the batch is all or nothing


def test_event_queries_filter_order_and_stream(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    events = [
        _event(
            rng.randrange(5000),
            serial=rng.choice(["A", "B"]),
            package=rng.choice(["p1", "p2", None]),
            kind=rng.choice(["permission_granted", "package_installed", "autostart"]),
            consent=rng.choice(list(Consent)),
        )
        for _ in range(1300)
    ]
    # Same ts for a run of events: the (ts, id) key must still page them all exactly once.
    events += [_event(6000, serial="A") for _ in range(700)]
    store.record_events(events)

    def ids(**kw: Any) -> list[str]:
        return [e.id for e in store.events(**kw)]

    ordered = sorted(events, key=lambda e: (e.ts, e.id))
    assert ids() == [e.id for e in ordered]
    assert ids(newest_first=True) == [e.id for e in reversed(ordered)]
    assert ids(limit=777) == [e.id for e in ordered[:777]]
    t0, t1 = 1_700_001_000.0, 1_700_003_000.0
    assert ids(since=t0, until=t1) == [e.id for e in ordered if t0 <= e.ts < t1]
    assert ids(serial="B", package="p1") == [
        e.id for e in ordered if e.serial == "B" and e.package == "p1"
    ]
    kinds = ("package_installed", "autostart")
    assert ids(kind=kinds, consent=Consent.NONE) == [
        e.id for e in ordered if e.kind in kinds and e.consent is Consent.NONE
    ]
    assert ids(kind="autostart", consent=["user", Consent.PLATFORM]) == [
        e.id for e in ordered if e.kind == "autostart" and e.consent in ("user", "platform")
    ]
    # Streaming: one page read per 500 rows, and only as the caller asks for them.
    reads: list[str] = []
    real = Store._read

    def counting(self: Store, sql: str, params: Any = ()) -> list[Any]:
        reads.append(sql)
        return real(self, sql, params)

    monkeypatch.setattr(Store, "_read", counting)
    stream = store.events()
    next(stream)
    assert len(reads) == 1
    assert sum(1 for _ in stream) == len(events) - 1
    assert len(reads) == len(events) // 500 + 1


def test_writers_in_threads_share_one_store(store: Store) -> None:
    def write(n: int) -> None:
        for i in range(20):
            store.record_events([_event(i, serial=f"T{n}") for _ in range(5)])

    def read() -> None:
        for _ in range(20):
            list(store.events(limit=50))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_events() == 4 * 20 * 5


# --------------------------------------------------------------------------- snapshots
def test_snapshots_persist_latest_and_baseline(
    tmp_path: Path, snapshots: dict[str, Snapshot]
) -> None:
    path = tmp_path / "tg.db"
    first = snapshots["pixel8-a15"]
    later = replace(first, taken_at=first.taken_at + 60)
    with Store.open(path) as store:
        assert store.load_snapshot(first.serial) is None
        store.save_snapshot(first)
        assert not store.mark_baseline_snapshot("nobody")
        assert store.mark_baseline_snapshot(first.serial)
        store.save_snapshot(later)
        for name in PROFILES:
            store.save_snapshot(snapshots[name])
    with Store.open(path) as store:  # nothing lost on restart
        assert store.load_snapshot(first.serial, baseline=True) == first
        for name in PROFILES:
            assert store.load_snapshot(snapshots[name].serial) == snapshots[name]
        rows = sqlite3.connect(path).execute("SELECT count(*) FROM snapshots").fetchone()[0]
        assert rows == len(PROFILES) + 1  # only the latest per device, plus the baseline
        store.save_snapshot(later, baseline=True)
        assert store.load_snapshot(first.serial, baseline=True) == later
        assert store.forget_snapshots(first.serial) == 2
        assert store.load_snapshot(first.serial) is None


def test_an_unreadable_snapshot_is_none_and_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.save_snapshot(_tiny())
    db = sqlite3.connect(store.path)
    bad_blobs = [
        b"\x00garbage",
        codec.zlib.compress(json.dumps({"v": 99, "type": "Snapshot", "data": {}}).encode()),
        codec.pack(replace(_tiny(), serial="OTHER")),
    ]
    for blob in bad_blobs:
        with db:
            db.execute("UPDATE snapshots SET blob = ? WHERE serial = 'SIM1'", (blob,))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="agent.store"):
            assert store.load_snapshot("SIM1") is None
        assert "SIM1" in caplog.text
    db.close()


# --------------------------------------------------------------------------- schema
def test_a_new_store_gets_the_whole_schema(store: Store) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == store.schema_version
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_schema")}
    assert {"devices", "snapshots", "events", "baseline", "audit"} <= names
    assert {"events_ts", "events_serial_ts", "events_package_ts", "events_kind"} <= names
    db.close()


def test_migrations_run_in_order_each_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tg.db"
    with Store.open(path) as store:
        store.record_events([_event()])
    # A release adds a step: the existing store is brought forward, keeping its data.
    step = ("events get a tag", ("ALTER TABLE events ADD COLUMN tag TEXT",))
    monkeypatch.setattr("agent.store.MIGRATIONS", (*MIGRATIONS, step))
    monkeypatch.setattr("agent.store.SCHEMA_VERSION", len(MIGRATIONS) + 1)
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS) + 1
        assert store.count_events() == 1
    # A step that fails leaves the store at the last step that completed.
    broken = ("broken", ("CREATE TABLE half_done (x)", "THIS IS NOT SQL"))
    monkeypatch.setattr("agent.store.MIGRATIONS", (*MIGRATIONS, step, broken))
    monkeypatch.setattr("agent.store.SCHEMA_VERSION", len(MIGRATIONS) + 2)
    with pytest.raises(StoreError, match="cannot open"):
        Store.open(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
    assert db.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'").fetchone() == (
        0,
    )
    db.close()


def test_a_store_from_a_newer_tetherguard_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tg.db"
    Store.open(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match=rf"newer tetherguard \(schema v{SCHEMA_VERSION + 1}"):
        Store.open(path)


def test_other_files_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "other.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not tetherguard's"):
        Store.open(foreign)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="damaged or not a tetherguard database"):
        Store.open(junk)


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "tg.db")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.record_events([_event()])


# --------------------------------------------------------------------------- permissions
def test_only_its_user_may_read_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHERGUARD_HOME", str(tmp_path / "home"))
    old = os.umask(0o022)
    try:
        with Store.open() as store:
            store.record_events([_event()])  # -wal and -shm exist now
            assert store.path == tmp_path / "home" / "data" / "tetherguard.db"
            assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
            for suffix in ("", "-wal", "-shm"):
                mode = stat.S_IMODE(Path(f"{store.path}{suffix}").stat().st_mode)
                assert mode == 0o600, (suffix, oct(mode))
        # A file left readable by others (copied by hand, older version) is tightened.
        store.path.chmod(0o644)
        store.path.parent.chmod(0o755)
        Store.open().close()
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    finally:
        os.umask(old)


# --------------------------------------------------------------------------- locking
_HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(30)
"""


@pytest.fixture
def locked_by_another_process(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    path = tmp_path / "tg.db"
    with Store.open(path) as store:
        store.record_events([_event()])
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield path, holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_store_locked_by_another_process_is_a_clear_error(
    locked_by_another_process: tuple[Path, int],
) -> None:
    path, pid = locked_by_another_process
    with Store.open(path, timeout=0.5) as store:
        # WAL: reading goes on while another process writes.
        assert len(list(store.events())) == 1
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            store.record_events([_event(1)])
        waited = time.monotonic() - started
    assert 0.4 <= waited < 3
    message = str(info.value)
    assert f"the store at {path} is locked by another process" in message
    if Path("/proc/locks").exists():
        assert f"pid {pid}" in message
    assert info.value.__cause__ is not None  # the sqlite3 error is kept for debugging


def test_opening_a_store_that_needs_migrating_while_locked(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(StoreError, match="locked by another process"):
            Store.open(path, timeout=0.3)
    finally:
        holder.kill()
        holder.wait()
        db.close()


# --------------------------------------------------------------------------- devices
def test_devices_remember_first_and_last_sight(tmp_path: Path) -> None:
    now = [1000.0]
    with Store.open(tmp_path / "tg.db", clock=lambda: now[0]) as store:
        props = DeviceProps(
            frozen_map(
                {
                    "ro.product.model": "Pixel 8",
                    "ro.product.manufacturer": "Google",
                    "ro.build.version.release": "15",
                    "ro.build.version.sdk": "35",
                }
            )
        )
        store.touch_device("A", "device", props)
        now[0] = 2000.0
        store.touch_device("B", "unauthorized")
        now[0] = 3000.0
        store.touch_device("A", "offline")
        a, b = store.devices()
        assert (a.serial, a.first_seen, a.last_seen, a.last_state) == ("A", 1000, 3000, "offline")
        assert (a.model, a.manufacturer, a.release, a.sdk) == ("Pixel 8", "Google", "15", 35)
        assert (b.serial, b.last_state, b.model) == ("B", "unauthorized", None)


# --------------------------------------------------------------------------- baseline
def test_baseline_accept_query_and_forget(store: Store) -> None:
    cam = BaselineEntry("A", "permission", "android.permission.CAMERA", "granted", 0, "p1")
    any_mode = BaselineEntry("A", "appop", "RECORD_AUDIO", None, None, "p1", note="ok")
    device_wide = BaselineEntry("A", "installer", "com.corp.store", "trusted")
    assert store.accept([cam, any_mode, device_wide]) == 3
    # Same (serial, user, package, kind, key): replaced, not duplicated.
    assert store.accept([replace(cam, value="denied", source_event_id="e1")]) == 1
    entries = store.baseline("A")
    assert len(entries) == 3
    assert next(e for e in entries if e.kind == "permission").value == "denied"
    assert all(e.accepted_at > 0 for e in entries)
    assert store.baseline("B") == [] and len(store.baseline()) == 3

    assert store.is_accepted("A", 0, "p1", "permission", "android.permission.CAMERA", "denied")
    assert not store.is_accepted("A", 0, "p1", "permission", "android.permission.CAMERA", "granted")
    assert not store.is_accepted("A", 10, "p1", "permission", "android.permission.CAMERA", "denied")
    # No user: every user; no value: any value.
    assert store.is_accepted("A", 10, "p1", "appop", "RECORD_AUDIO", "allow")
    assert store.is_accepted("A", None, "p1", "appop", "RECORD_AUDIO", "ignore")
    assert store.is_accepted("A", None, None, "installer", "com.corp.store", "trusted")
    assert not store.is_accepted("B", None, None, "installer", "com.corp.store", "trusted")

    assert store.forget_baseline("A", kind="appop") == 1
    assert not store.is_accepted("A", 10, "p1", "appop", "RECORD_AUDIO", "allow")
    assert store.forget_baseline() == 2


# --------------------------------------------------------------------------- audit
def test_audit_is_committed_before_the_action_runs(tmp_path: Path) -> None:
    path = tmp_path / "tg.db"
    with Store.open(path) as engine, Store.open(path) as tui:
        aid = engine.audit_begin("tui:alice", "A", 0, "revoke", {"package": "p", "perm": "CAMERA"})
        # Another connection (a crash right now) already sees it, pending.
        (pending,) = tui.audit(status="pending")
        assert (pending.id, pending.actor, pending.target) == (
            aid,
            "tui:alice",
            {"package": "p", "perm": "CAMERA"},
        )
        engine.audit_finish(aid, "done", {"exit_code": 0})
        (done,) = tui.audit(serial="A")
        assert (done.status, done.result) == ("done", {"exit_code": 0})
        assert done.updated_at >= done.ts
        engine.audit_finish(aid, "undone", {"by": 7})
        with pytest.raises(StoreError, match="is undone; it cannot become done"):
            engine.audit_finish(aid, "done")
        with pytest.raises(StoreError, match="no audit record 999"):
            engine.audit_finish(999, "failed")
        with pytest.raises(StoreError, match="not one of"):
            engine.audit_finish(aid, "pending")  # type: ignore[arg-type]
        second = engine.audit_begin("policy:corp", "B", None, "disable", ["p1", "p2"])
        assert second > aid
        assert [r.id for r in tui.audit(serial="B")] == [second]
        assert [r.id for r in tui.audit(limit=1)] == [aid]


# --------------------------------------------------------------------------- retention
def test_prune_drops_old_events_and_finished_audit_rows(tmp_path: Path) -> None:
    day = 86_400.0
    now = [1_000 * day]
    with Store.open(tmp_path / "tg.db", clock=lambda: now[0], retention_days=30) as store:
        store.record_events([_event(ts=now[0] - d * day) for d in (1, 29, 31, 200)])
        old_done = store.audit_begin("cli", "A", 0, "revoke", {})
        store.audit_finish(old_done, "done")
        old_pending = store.audit_begin("cli", "A", 0, "revoke", {})
        now[0] += 40 * day
        fresh = store.audit_begin("cli", "A", 0, "revoke", {})
        store.audit_finish(fresh, "failed", {"error": "gone"})
        assert store.prune(older_than_days=180) == 1  # the 200-day-old event (240 days now)
        assert store.prune() == 3 + 1  # 30-day retention: 3 events, the finished old audit
        assert store.count_events() == 0
        assert {r.id for r in store.audit()} == {old_pending, fresh}
        store.vacuum()
        assert store.integrity_check() == ["ok"]


# --------------------------------------------------------------------------- crashes
def _kill_at_random(path: Path, seed: int, delay: float, *, wait_ready: bool = True) -> Any:
    """Run tests/store_writer.py, SIGKILL it ``delay`` seconds after it said ``ready`` (or
    after it started), and return what it reported as committed: (event ids, audit ids, the
    batch of its last snapshot)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store_writer", str(path), str(seed)],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    try:
        if wait_ready:
            ready, _, _ = select.select([child.stdout], [], [], 15)
            assert ready and child.stdout.readline() == b"ready\n"
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    out = child.stdout.read().decode()
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    ids: set[str] = set()
    audits: set[int] = set()
    snaps = 0
    for line in out.splitlines(keepends=True):
        if not line.endswith("\n"):
            continue  # killed mid-line: promised nothing
        word, *rest = line.split()
        if word == "events":
            ids.update(rest)
        elif word == "audit":
            audits.add(int(rest[0]))
        elif word == "snapshot":
            snaps = max(snaps, int(rest[0]))
    return ids, audits, snaps


def _check_after_crash(
    path: Path, ids: set[str], audits: set[int], serial: str, snap: int, context: str
) -> None:
    with Store.open(path) as store:
        assert store.integrity_check() == ["ok"], context
        stored = {e.id for e in store.events()}
        assert ids <= stored, f"{context}: {len(ids - stored)} committed events lost"
        assert {r.id for r in store.audit()} >= audits, context
        if snap:
            loaded = store.load_snapshot(serial)
            assert loaded is not None and loaded.taken_at >= snap, context


def test_kill_9_loses_no_committed_write(tmp_path: Path) -> None:
    """SIGKILL a writer at random moments; every write it reported is there afterwards."""
    started = time.monotonic()
    rng = random.Random()
    path = tmp_path / "tg.db"
    committed: set[str] = set()
    for run in range(4):
        delay = rng.uniform(0.01, 0.4)
        ids, audits, snap = _kill_at_random(path, run, delay)
        assert ids, "the writer committed nothing before it was killed"
        committed |= ids
        # Earlier runs' events must survive later crashes too.
        context = f"run {run}, killed {delay:.3f} s after ready"
        _check_after_crash(path, committed, audits, f"SIM{run}", snap, context)
    # Killed while it may still be creating the store and running the migrations.
    for run in range(2):
        fresh = tmp_path / f"early{run}.db"
        delay = rng.uniform(0.0, 0.3)
        ids, audits, snap = _kill_at_random(fresh, 10 + run, delay, wait_ready=False)
        context = f"early run {run}, killed {delay:.3f} s after start"
        _check_after_crash(fresh, ids, audits, f"SIM{10 + run}", snap, context)
    assert time.monotonic() - started < 10


def test_the_log_position_survives_reopening_and_older_stores_gain_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.store

    full = agent.store.MIGRATIONS
    with monkeypatch.context() as patch:  # a store as the release before live starts left it
        patch.setattr(agent.store, "MIGRATIONS", full[:2])
        patch.setattr(agent.store, "SCHEMA_VERSION", 2)
        with Store.open(tmp_path / "tg.db") as old:
            old.touch_device("SIM-1", "device")
    with Store.open(tmp_path / "tg.db") as store:
        assert store.schema_version == len(full)
        assert store.log_position("SIM-1") is None
        assert store.log_position("never-seen") is None
        store.set_log_position("SIM-1", 1_795_458_847_485)
        store.set_log_position("SIM-2", 1_795_458_000_000)  # before any other row of it
    with Store.open(tmp_path / "tg.db") as store:
        assert store.log_position("SIM-1") == 1_795_458_847_485
        assert store.log_position("SIM-2") == 1_795_458_000_000
        assert {d.serial for d in store.devices()} == {"SIM-1", "SIM-2"}
