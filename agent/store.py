"""The durable store: events, last snapshots, the baseline and the audit log, in one SQLite file.

It owns everything tetherguard must not lose (DESIGN.md: "nothing is lost on restart", "every
change the engine makes is recorded first"):

* ``events`` — every reported event, append-only, idempotent by :attr:`Event.id`;
* ``snapshots`` — the latest :class:`~agent.snapshot.Snapshot` of each device (and a baseline
  one, if marked), so a change made while the agent was down is still detected;
* ``baseline`` — states the owner accepted (consent ``baseline``);
* ``audit`` — every change the engine makes, written *before* the action runs;
* ``devices`` — every phone ever seen, with its last known state;
* ``deliveries`` — what became of each alert at each target (delivered, failed after retries,
  suppressed by the rate limit, held for quiet hours), so an alert that never reached anyone
  is on record even when the notifier was down.

Why SQLite in WAL mode: embedded (no server for a single host), crash-safe, and in WAL mode the
TUI or CLI in another process reads while the engine writes; writers queue on the file lock
(``busy_timeout``) instead of failing. ``synchronous=FULL``: a commit survives power loss as well
as ``kill -9``; the engine commits a batch per collection cycle, so the fsync is cheap.

Every write method is one committed transaction (``BEGIN IMMEDIATE``: the write lock is taken
up front, so a busy database is detected at the start and waited for, never half way), and
returns only once it is durable. One connection per :class:`Store`, guarded by a lock, so a
store may be shared between threads. Failures surface as :class:`StoreError` with a sentence a
person can act on (locked by pid N, newer schema, not a tetherguard file), never as a raw
``sqlite3`` traceback or a hang.

Record encoding is not here: snapshots go through :mod:`agent.codec` (versioned, compressed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from agent import codec
from agent.events import Consent, Event, Severity
from agent.model import DeviceProps
from agent.paths import data_dir
from agent.snapshot import Snapshot

log = logging.getLogger(__name__)

DB_NAME: Final = "tetherguard.db"
RETENTION_DAYS: Final = 180
"""Default age (days) past which :meth:`Store.prune` drops events and finished audit rows."""
APPLICATION_ID: Final = 0x54475244
"""``PRAGMA application_id`` ("TGRD"): tells our database from any other SQLite file."""
_PAGE: Final = 500
"""Rows per page when streaming events: memory stays constant, and the lock is released
between pages, so a slow reader never holds up the engine's writes."""
_ALL_USERS: Final = -1
"""``UserHandle.USER_ALL``: stored for a baseline entry that applies to every user (SQLite treats
NULLs as distinct in a UNIQUE constraint, so NULL cannot stand for it)."""

AuditStatus = Literal["pending", "done", "failed", "undone"]
DeliveryStatus = Literal["pending", "delivered", "failed", "suppressed", "held"]
_FINISH_FROM: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"done": ("pending",), "failed": ("pending",), "undone": ("done",)}
)
"""Allowed audit transitions: an action finishes once; only a done action can be undone."""


class StoreError(Exception):
    """The store cannot do what was asked; the message says why, for a person to read."""


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class DeviceRecord:
    """A phone the agent has seen."""

    serial: str
    first_seen: float
    last_seen: float
    last_state: str
    """``device``, ``unauthorized``, ``offline``, ``gone``, ... (as the adb link reports it)."""
    model: str | None = None
    manufacturer: str | None = None
    release: str | None = None
    sdk: int | None = None


@dataclass(frozen=True)
class BaselineEntry:
    """A state the owner accepted: detection treats it as consented (``Consent.BASELINE``).

    ``kind`` and ``key`` say what (``permission`` + ``android.permission.CAMERA``, ``appop`` +
    ``RECORD_AUDIO``, ``installer`` + ``com.example.store``, ...); ``value`` the accepted state
    (``granted``, ``allow``, ...), or ``None`` for any state. ``user`` ``None``: every user;
    ``package`` ``None``: the device as a whole.
    """

    serial: str
    kind: str
    key: str
    value: str | None
    user: int | None = None
    package: str | None = None
    accepted_at: float = 0.0
    """Epoch seconds; 0 means "now" when passed to :meth:`Store.accept`."""
    source_event_id: str | None = None
    """The event the owner accepted, when accepted from one."""
    note: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One change the engine made (or tried to) on a phone."""

    id: int
    ts: float
    actor: str
    """Who asked: ``tui:alice``, ``cli``, ``policy:corp-baseline``, ..."""
    serial: str
    user: int | None
    action: str
    """``revoke``, ``appop``, ``disable``, ``uninstall``, ..."""
    target: Any
    """JSON data: what the action applies to (package, permission, op, ...)."""
    status: AuditStatus
    result: Any
    """JSON data: the outcome (command output, error), ``None`` while pending."""
    updated_at: float


@dataclass(frozen=True)
class DeliveryRecord:
    """What became of one event's alert at one target (:mod:`agent.alerts` writes these)."""

    event_id: str
    target: str
    """The target as shown to people (``json://127.0.0.1``, ``device:SERIAL``): never a
    secret-bearing URL."""
    status: DeliveryStatus
    """``pending`` (failed, will be retried), ``delivered``, ``failed`` (gave up),
    ``suppressed`` (rate-limited: counted in a summary), ``held`` (quiet hours: in the
    summary sent when they end)."""
    attempts: int = 0
    last_error: str | None = None
    note: str | None = None
    updated_at: float = 0.0
    """Epoch seconds; 0 means "now" when passed to :meth:`Store.record_deliveries`."""


# --------------------------------------------------------------------------- schema
Migration = tuple[str, tuple[str, ...]]
"""(what it does, SQL statements): schema version N is reached by applying ``MIGRATIONS[N-1]``."""

MIGRATIONS: Final[tuple[Migration, ...]] = (
    (
        "initial schema",
        (
            """CREATE TABLE devices (
                serial TEXT PRIMARY KEY,
                first_seen REAL NOT NULL,
                last_seen REAL NOT NULL,
                model TEXT,
                manufacturer TEXT,
                release TEXT,
                sdk INTEGER,
                last_state TEXT NOT NULL
            )""",
            # role 'latest' is overwritten each cycle; 'baseline' only when the owner marks one.
            """CREATE TABLE snapshots (
                serial TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('latest', 'baseline')),
                taken_at REAL NOT NULL,
                blob BLOB NOT NULL,
                saved_at REAL NOT NULL,
                PRIMARY KEY (serial, role)
            )""",
            """CREATE TABLE events (
                id TEXT PRIMARY KEY,
                ts REAL NOT NULL,
                serial TEXT NOT NULL,
                user INTEGER,
                kind TEXT NOT NULL,
                package TEXT,
                consent TEXT NOT NULL,
                severity TEXT NOT NULL,
                clause TEXT,
                detail TEXT NOT NULL DEFAULT '{}'
            )""",
            # (ts, id): the streaming order, so pages are read straight off the index.
            "CREATE INDEX events_ts ON events (ts, id)",
            "CREATE INDEX events_serial_ts ON events (serial, ts)",
            "CREATE INDEX events_package_ts ON events (package, ts)",
            "CREATE INDEX events_kind ON events (kind)",
            """CREATE TABLE baseline (
                serial TEXT NOT NULL,
                user INTEGER NOT NULL,
                package TEXT NOT NULL,
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                value TEXT,
                accepted_at REAL NOT NULL,
                source_event_id TEXT,
                note TEXT,
                UNIQUE (serial, user, package, kind, key)
            )""",
            # AUTOINCREMENT: an audit id is never reused after prune (events cite them).
            """CREATE TABLE audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts REAL NOT NULL,
                actor TEXT NOT NULL,
                serial TEXT NOT NULL,
                user INTEGER,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('pending', 'done', 'failed', 'undone')),
                result TEXT,
                updated_at REAL NOT NULL
            )""",
            "CREATE INDEX audit_ts ON audit (ts)",
            "CREATE INDEX audit_serial_ts ON audit (serial, ts)",
            "CREATE INDEX audit_status ON audit (status)",
        ),
    ),
    (
        "alert deliveries",
        (
            # One row per (event, alert target): what became of the alert. No foreign key to
            # events: a delivery is worth keeping even when the event's own write failed.
            """CREATE TABLE deliveries (
                event_id TEXT NOT NULL,
                target TEXT NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('pending', 'delivered', 'failed', 'suppressed', 'held')),
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                note TEXT,
                updated_at REAL NOT NULL,
                PRIMARY KEY (event_id, target)
            )""",
            "CREATE INDEX deliveries_status ON deliveries (status, updated_at)",
        ),
    ),
    (
        "log stream position per device",
        # Device time (epoch ms) of the newest log line the live watch has read: a restart
        # resumes there, so starts made while tetherguard was down are reported.
        ("ALTER TABLE devices ADD COLUMN log_ms INTEGER",),
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def _json(value: Any) -> str:
    """Compact, stable JSON for detail/target/result columns (read-only mappings, tuples and
    sets are what the frozen records hold, so they are accepted as objects and lists)."""

    def jsonable(obj: Any) -> Any:
        if isinstance(obj, Mapping):
            return dict(obj)
        if isinstance(obj, set | frozenset):
            return sorted(obj, key=repr)
        raise TypeError(f"{type(obj).__name__} is not JSON data: {obj!r:.80}")

    return json.dumps(
        value, default=jsonable, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )


# --------------------------------------------------------------------------- the store
class Store:
    """The store; see the module docstring. Open with :meth:`open`; close, or use ``with``."""

    def __init__(
        self,
        path: Path,
        *,
        timeout: float = 5.0,
        retention_days: float = RETENTION_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Prefer :meth:`open`. Raises :class:`StoreError` (see there)."""
        self.path = path
        self.timeout = timeout
        self.retention_days = retention_days
        self._clock = clock
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        private_files(path)
        with self._errors("open"):
            conn = sqlite3.connect(
                path,
                timeout=timeout,
                isolation_level=None,  # autocommit: transactions are ours, explicit
                check_same_thread=False,  # shared between threads, serialized by self._lock
            )
        self._conn = conn
        try:
            with self._lock, self._errors("open"):
                conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"the store at {path} cannot use WAL mode (got {mode})")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
                self._migrate(conn)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        *,
        timeout: float = 5.0,
        retention_days: float = RETENTION_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Open (creating and migrating as needed) the store at ``path``.

        Args:
            path: the database file; default ``data_dir() / "tetherguard.db"``. Its directory
                is created 0700 and the file 0600: events name apps and devices, and the audit
                log says who did what, so only the user may read them.
            timeout: seconds to wait for another process's write lock before giving up.
            retention_days: what :meth:`prune` keeps by default.
            clock: epoch seconds (tests pass a fake one).

        Raises:
            StoreError: locked by another process past ``timeout``, written by a newer
                tetherguard, not a tetherguard database, or not accessible.
        """
        return cls(
            path if path is not None else data_dir() / DB_NAME,
            timeout=timeout,
            retention_days=retention_days,
            clock=clock,
        )

    def close(self) -> None:
        """Close the connection (idempotent). Every write was already committed."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- plumbing
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the store at {self.path} is closed")
        return self._conn

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """sqlite3 errors -> :class:`StoreError` with a sentence a person can act on."""
        try:
            yield
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc):
                holders = _lock_holders(self.path)
                who = f"pid {', '.join(map(str, holders))}" if holders else "pid unknown"
                raise StoreError(
                    f"the store at {self.path} is locked by another process ({who}); "
                    f"gave up after {self.timeout:g} s trying to {doing} it"
                ) from exc
            if code == sqlite3.SQLITE_FULL:
                raise StoreError(
                    f"the disk holding the store at {self.path} is full: cannot {doing} it"
                ) from exc
            if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
                raise StoreError(
                    f"the store at {self.path} is damaged or not a tetherguard database: {exc}"
                ) from exc
            raise StoreError(f"cannot {doing} the store at {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _write(self, doing: str = "write to") -> Iterator[sqlite3.Connection]:
        """One committed write transaction (or none at all, on any error)."""
        with self._lock, self._errors(doing):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._lock, self._errors("read"):
            return self._connection().execute(sql, tuple(params)).fetchall()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`, one transaction per step, so a crash
        mid-way leaves the database at the last completed step."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store at {self.path} was written by a newer tetherguard (schema "
                f"v{version}; this one knows up to v{SCHEMA_VERSION}): upgrade tetherguard"
            )
        if app_id not in (0, APPLICATION_ID) or (
            app_id == 0 and conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] > 0
        ):
            raise StoreError(f"{self.path} is an SQLite database, but not tetherguard's")
        while version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Re-read under the write lock: another process may have migrated meanwhile.
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version < SCHEMA_VERSION:
                    _name, statements = MIGRATIONS[version]
                    for statement in statements:
                        conn.execute(statement)
                    version += 1
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])

    # ---------------------------------------------------------------- events
    def record_events(self, events: Iterable[Event], snapshot: Snapshot | None = None) -> int:
        """Store events in one transaction; returns how many were new.

        Idempotent: an id already stored is skipped (the first write wins), so a retried batch
        never duplicates an event. With ``snapshot``, it becomes the device's latest in the same
        transaction: after a crash either both are stored or neither, so a restart never
        reports the same change again.

        Raises:
            TypeError: an event's ``detail`` holds something that is not JSON data (nothing of
                the batch is stored).
        """
        blob = codec.pack(snapshot) if snapshot is not None else None
        rows = [
            (
                ev.id,
                ev.ts,
                ev.serial,
                ev.user,
                ev.kind,
                ev.package,
                ev.consent.value,
                ev.severity.value,
                ev.clause,
                _json(ev.detail),
            )
            for ev in events
        ]
        if not rows and snapshot is None:
            return 0
        with self._write() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO events (id, ts, serial, user, kind, package, consent, "
                "severity, clause, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            added = conn.total_changes - before
            if snapshot is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO snapshots (serial, role, taken_at, blob, saved_at) "
                    "VALUES (?, 'latest', ?, ?, ?)",
                    (snapshot.serial, snapshot.taken_at, blob, self._clock()),
                )
            return added

    def events(
        self,
        since: float | None = None,
        until: float | None = None,
        serial: str | None = None,
        package: str | None = None,
        kind: str | Collection[str] | None = None,
        consent: Consent | str | Collection[Consent | str] | None = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
    ) -> Iterator[Event]:
        """Events with ``since <= ts < until`` matching every filter given, ordered by time
        (oldest first unless ``newest_first``).

        Streams: rows are read in pages keyed on ``(ts, id)``, so memory stays constant over
        any range and no lock or read transaction is held while the caller works. Events
        committed while iterating appear if they sort after the current position.
        """
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        if until is not None:
            where.append("ts < ?")
            params.append(until)
        for column, value in (("serial", serial), ("package", package)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        for column, values in (("kind", kind), ("consent", consent)):
            if values is None:
                continue
            items = [values] if isinstance(values, str) else list(values)
            where.append(f"{column} IN ({', '.join('?' * len(items))})")
            params.extend(str(v) for v in items)
        order, after = ("DESC", "<") if newest_first else ("ASC", ">")
        remaining = limit
        cursor: tuple[float, str] | None = None
        while remaining is None or remaining > 0:
            page = _PAGE if remaining is None else min(_PAGE, remaining)
            clauses = list(where)
            args = list(params)
            if cursor is not None:
                clauses.append(f"(ts, id) {after} (?, ?)")
                args.extend(cursor)
            sql = (
                "SELECT id, ts, serial, user, kind, package, consent, severity, clause, detail "
                "FROM events"
                + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
                + f" ORDER BY ts {order}, id {order} LIMIT ?"
            )
            rows = self._read(sql, [*args, page])
            for row in rows:
                yield _event(row)
            if len(rows) < page:
                return
            cursor = (rows[-1][1], rows[-1][0])
            if remaining is not None:
                remaining -= len(rows)

    def event(self, id: str) -> Event | None:  # noqa: A002 - the field is called id
        """The event with this id, if stored."""
        rows = self._read(
            "SELECT id, ts, serial, user, kind, package, consent, severity, clause, detail "
            "FROM events WHERE id = ?",
            (id,),
        )
        return _event(rows[0]) if rows else None

    def count_events(self) -> int:
        return int(self._read("SELECT count(*) FROM events")[0][0])

    # ---------------------------------------------------------------- snapshots
    def save_snapshot(self, snapshot: Snapshot, *, baseline: bool = False) -> None:
        """Keep ``snapshot`` as its device's latest (replacing the previous one); with
        ``baseline``, also as its baseline snapshot."""
        blob = codec.pack(snapshot)  # before taking the lock: encoding a big phone takes ms
        roles = ("latest", "baseline") if baseline else ("latest",)
        now = self._clock()
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO snapshots (serial, role, taken_at, blob, saved_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(snapshot.serial, role, snapshot.taken_at, blob, now) for role in roles],
            )

    def load_snapshot(self, serial: str, *, baseline: bool = False) -> Snapshot | None:
        """The device's latest (or baseline) snapshot; ``None`` if there is none, or if it
        cannot be decoded (damaged, or written by an incompatible tetherguard: logged as a
        warning; the next cycle then starts afresh, as after a first connect)."""
        role = "baseline" if baseline else "latest"
        rows = self._read(
            "SELECT blob FROM snapshots WHERE serial = ? AND role = ?", (serial, role)
        )
        if not rows:
            return None
        try:
            snap = codec.unpack(Snapshot, bytes(rows[0][0]))
        except codec.CodecError as exc:
            log.warning("%s snapshot of %s in %s is unreadable: %s", role, serial, self.path, exc)
            return None
        if snap.serial != serial:
            log.warning("%s snapshot stored for %s is of %s; ignored", role, serial, snap.serial)
            return None
        return snap

    def mark_baseline_snapshot(self, serial: str) -> bool:
        """Keep the device's latest snapshot as its baseline snapshot too; False if it has
        none."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT OR REPLACE INTO snapshots (serial, role, taken_at, blob, saved_at) "
                "SELECT serial, 'baseline', taken_at, blob, ? FROM snapshots "
                "WHERE serial = ? AND role = 'latest'",
                (self._clock(), serial),
            )
            return cur.rowcount > 0

    def forget_snapshots(self, serial: str) -> int:
        """Drop a device's stored snapshots (latest and baseline); returns how many."""
        with self._write() as conn:
            return conn.execute("DELETE FROM snapshots WHERE serial = ?", (serial,)).rowcount

    # ---------------------------------------------------------------- devices
    def touch_device(self, serial: str, state: str, props: DeviceProps | None = None) -> None:
        """Record that the device was seen now in ``state``; ``props`` (when read) refresh its
        model, manufacturer, release and SDK, which otherwise keep their last known values."""
        now = self._clock()
        info: tuple[str | None, str | None, str | None, int | None] = (None, None, None, None)
        if props is not None:
            info = (
                props.model or None,
                props.manufacturer or None,
                props.release or None,
                props.sdk,
            )
        with self._write() as conn:
            conn.execute(
                "INSERT INTO devices (serial, first_seen, last_seen, model, manufacturer, "
                "release, sdk, last_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (serial) DO UPDATE SET last_seen = excluded.last_seen, "
                "last_state = excluded.last_state, "
                "model = coalesce(excluded.model, model), "
                "manufacturer = coalesce(excluded.manufacturer, manufacturer), "
                "release = coalesce(excluded.release, release), "
                "sdk = coalesce(excluded.sdk, sdk)",
                (serial, now, now, *info, state),
            )

    def set_log_position(self, serial: str, ms: int) -> None:
        """How far the device's log was read (device epoch ms); see :meth:`log_position`."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO devices (serial, first_seen, last_seen, last_state, log_ms) "
                "VALUES (?, ?, ?, 'device', ?) "
                "ON CONFLICT (serial) DO UPDATE SET log_ms = excluded.log_ms",
                (serial, self._clock(), self._clock(), ms),
            )

    def log_position(self, serial: str) -> int | None:
        """The newest log line's time read from the device by the last run, if any."""
        rows = self._read("SELECT log_ms FROM devices WHERE serial = ?", (serial,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def devices(self) -> list[DeviceRecord]:
        """Every device ever seen, most recently seen first."""
        rows = self._read(
            "SELECT serial, first_seen, last_seen, last_state, model, manufacturer, release, "
            "sdk FROM devices ORDER BY last_seen DESC, serial"
        )
        return [DeviceRecord(*row) for row in rows]

    # ---------------------------------------------------------------- baseline
    def accept(self, entries: Iterable[BaselineEntry]) -> int:
        """Add entries to the baseline (replacing an entry with the same serial, user,
        package, kind and key); returns how many were written."""
        now = self._clock()
        rows = [
            (
                e.serial,
                _ALL_USERS if e.user is None else e.user,
                e.package or "",
                e.kind,
                e.key,
                e.value,
                e.accepted_at or now,
                e.source_event_id,
                e.note,
            )
            for e in entries
        ]
        if not rows:
            return 0
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO baseline (serial, user, package, kind, key, value, accepted_at, "
                "source_event_id, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (serial, user, package, kind, key) DO UPDATE SET "
                "value = excluded.value, accepted_at = excluded.accepted_at, "
                "source_event_id = excluded.source_event_id, note = excluded.note",
                rows,
            )
        return len(rows)

    def baseline(self, serial: str | None = None) -> list[BaselineEntry]:
        """The baseline (of one device, or all), in a stable order."""
        sql = (
            "SELECT serial, kind, key, value, user, package, accepted_at, source_event_id, note "
            "FROM baseline"
        )
        params: tuple[Any, ...] = ()
        if serial is not None:
            sql += " WHERE serial = ?"
            params = (serial,)
        rows = self._read(sql + " ORDER BY serial, user, package, kind, key", params)
        return [
            BaselineEntry(
                serial=r[0],
                kind=r[1],
                key=r[2],
                value=r[3],
                user=None if r[4] == _ALL_USERS else r[4],
                package=r[5] or None,
                accepted_at=r[6],
                source_event_id=r[7],
                note=r[8],
            )
            for r in rows
        ]

    def is_accepted(
        self,
        serial: str,
        user: int | None,
        package: str | None,
        kind: str,
        key: str,
        value: str | None,
    ) -> bool:
        """Whether the owner accepted this state: an entry for this user (or for every user)
        whose value is ``value`` (or any value)."""
        users = (_ALL_USERS,) if user is None else (user, _ALL_USERS)
        rows = self._read(
            "SELECT 1 FROM baseline WHERE serial = ? AND user IN (?, ?) AND package = ? "
            "AND kind = ? AND key = ? AND (value IS NULL OR value = ?) LIMIT 1",
            (serial, users[0], users[-1], package or "", kind, key, value),
        )
        return bool(rows)

    def forget_baseline(
        self,
        serial: str | None = None,
        *,
        user: int | None = None,
        package: str | None = None,
        kind: str | None = None,
        key: str | None = None,
    ) -> int:
        """Remove baseline entries matching every filter given (``None``: any); returns how
        many. With no filter at all, the whole baseline goes."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("serial", serial),
            ("user", user),
            ("package", package),
            ("kind", kind),
            ("key", key),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        # Column names are the literals above; values are bound parameters.
        sql = "DELETE FROM baseline" + (f" WHERE {' AND '.join(where)}" if where else "")  # noqa: S608
        with self._write() as conn:
            return conn.execute(sql, params).rowcount

    # ---------------------------------------------------------------- audit
    def audit_begin(
        self, actor: str, serial: str, user: int | None, action: str, target: Any
    ) -> int:
        """Record an action as ``pending`` and return its id. Call this, and let it return,
        BEFORE running the action: the change is then never reported as one without consent,
        and after a crash a ``pending`` row says it may or may not have happened."""
        now = self._clock()
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO audit (ts, actor, serial, user, action, target, status, result, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, ?)",
                (now, actor, serial, user, action, _json(target), now),
            )
            assert cur.lastrowid is not None  # an INSERT into a rowid table always has one
            return cur.lastrowid

    def audit_finish(
        self,
        id: int,  # noqa: A002 - the column is called id
        status: Literal["done", "failed", "undone"],
        result: Any = None,
    ) -> None:
        """Record the outcome of an action: ``done`` or ``failed`` (from ``pending``), or
        ``undone`` (from ``done``, when a later action reverted it).

        Raises:
            StoreError: no such audit row, or a transition not listed above.
        """
        allowed = _FINISH_FROM.get(status)
        if allowed is None:
            raise StoreError(f"audit status {status!r} is not one of done, failed, undone")
        with self._write() as conn:
            row = conn.execute("SELECT status FROM audit WHERE id = ?", (id,)).fetchone()
            if row is None:
                raise StoreError(f"no audit record {id} in the store at {self.path}")
            if row[0] not in allowed:
                raise StoreError(f"audit record {id} is {row[0]}; it cannot become {status}")
            conn.execute(
                "UPDATE audit SET status = ?, result = ?, updated_at = ? WHERE id = ?",
                (status, _json(result), self._clock(), id),
            )

    def audit(
        self,
        since: float | None = None,
        serial: str | None = None,
        status: AuditStatus | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Audit records (``ts >= since``, of one device, in one status), oldest first."""
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (("ts >= ?", since), ("serial = ?", serial), ("status = ?", status)):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = (
            "SELECT id, ts, actor, serial, user, action, target, status, result, updated_at "
            "FROM audit" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY ts, id"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [
            AuditRecord(
                id=r[0],
                ts=r[1],
                actor=r[2],
                serial=r[3],
                user=r[4],
                action=r[5],
                target=json.loads(r[6]),
                status=r[7],
                result=None if r[8] is None else json.loads(r[8]),
                updated_at=r[9],
            )
            for r in self._read(sql, params)
        ]

    # ---------------------------------------------------------------- alert deliveries
    def record_deliveries(self, records: Iterable[DeliveryRecord]) -> int:
        """Write delivery outcomes in one transaction, each replacing the row of the same
        event and target (a retry updates its row); returns how many were written."""
        now = self._clock()
        rows = [
            (
                r.event_id,
                r.target,
                r.status,
                r.attempts,
                r.last_error,
                r.note,
                r.updated_at or now,
            )
            for r in records
        ]
        if not rows:
            return 0
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO deliveries (event_id, target, status, attempts, last_error, note, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (event_id, target) DO UPDATE SET status = excluded.status, "
                "attempts = excluded.attempts, last_error = excluded.last_error, "
                "note = excluded.note, updated_at = excluded.updated_at",
                rows,
            )
        return len(rows)

    def deliveries(
        self,
        event_id: str | None = None,
        *,
        status: DeliveryStatus | Collection[DeliveryStatus] | None = None,
        target: str | None = None,
    ) -> list[DeliveryRecord]:
        """Delivery rows matching every filter given, oldest update first. Events whose alert
        did not reach someone: ``status=("pending", "failed", "held")``."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("event_id", event_id), ("target", target)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if status is not None:
            items = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({', '.join('?' * len(items))})")
            params.extend(items)
        sql = (
            "SELECT event_id, target, status, attempts, last_error, note, updated_at "
            "FROM deliveries"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY updated_at, event_id, target"
        )
        return [DeliveryRecord(*row) for row in self._read(sql, params)]

    # ---------------------------------------------------------------- housekeeping
    def prune(self, older_than_days: float | None = None) -> int:
        """Drop events, alert deliveries and finished audit rows older than
        ``older_than_days`` (default: the store's retention, 180 days); returns how many rows
        went. Pending audit rows stay: they are the evidence of actions whose outcome is
        unknown."""
        days = self.retention_days if older_than_days is None else older_than_days
        cutoff = self._clock() - days * 86_400
        with self._write("prune") as conn:
            gone = conn.execute("DELETE FROM events WHERE ts < ?", (cutoff,)).rowcount
            gone += conn.execute(
                "DELETE FROM audit WHERE status != 'pending' AND updated_at < ?", (cutoff,)
            ).rowcount
            gone += conn.execute("DELETE FROM deliveries WHERE updated_at < ?", (cutoff,)).rowcount
        return gone

    def vacuum(self) -> None:
        """Give the space of pruned rows back to the file system (rewrites the file: run it
        when idle, e.g. after a large prune)."""
        with self._lock, self._errors("vacuum"):
            conn = self._connection()
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity_check(self) -> list[str]:
        """SQLite's ``integrity_check``: ``["ok"]`` for a sound file."""
        return [str(r[0]) for r in self._read("PRAGMA integrity_check")]


def private_files(path: Path) -> None:
    """Create the directory 0700 and the file 0600 before SQLite does (it would use the
    umask). SQLite gives the -wal and -shm files the database file's mode. For every SQLite
    file tetherguard keeps (the store, the fleet outbox): what phones did is private.

    Raises:
        StoreError: the directory or file cannot be made.
    """
    directory = path.parent
    try:
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True)
            os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
        elif directory == data_dir():
            # Our own data directory, perhaps made by an older version or by hand.
            os.chmod(directory, directory.stat().st_mode & 0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create the store at {path}: {exc.strerror or exc}") from exc


def _event(row: tuple[Any, ...]) -> Event:
    detail = json.loads(row[9])
    return Event(
        id=row[0],
        ts=row[1],
        serial=row[2],
        user=row[3],
        kind=row[4],
        package=row[5],
        consent=Consent(row[6]),
        severity=Severity(row[7]),
        clause=row[8],
        detail=MappingProxyType(detail if isinstance(detail, dict) else {}),
    )


def _lock_holders(path: Path) -> list[int]:
    """Best effort: the pids holding a write lock on the database or its -shm file (Linux's
    /proc/locks; SQLite uses POSIX record locks, which name their owner). Never raises."""
    try:
        inodes: set[str] = set()
        for file in (path, path.with_name(path.name + "-shm")):
            with contextlib.suppress(OSError):
                st = file.stat()
                inodes.add(f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}")
        pids: set[int] = set()
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                # "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a "->" marks waiters)
                if "->" in fields:
                    continue
                if len(fields) >= 6 and fields[3] == "WRITE" and fields[5] in inodes:
                    pid = int(fields[4])
                    if pid > 0 and pid != os.getpid():
                        pids.add(pid)
        return sorted(pids)
    except (OSError, ValueError):
        return []
