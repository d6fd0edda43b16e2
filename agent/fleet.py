"""Many hosts, one view: events, actions and device inventory shipped to a central PostgreSQL.

Every host keeps its own SQLite store (the engine needs nothing else to run). Next to it, a
durable outbox (SQLite, one row per thing to ship, in order) takes what the central database
must learn: events as they are reported, device states, actions as they change. A shipper
thread empties it into PostgreSQL in order, a batch per transaction; a row leaves the outbox
only after its transaction committed. A database that is down, restarting or cut off only
delays delivery: rows wait on disk (a restart of the agent included) and go, in order, once it
is back. Inserts are idempotent (events by id, actions by host and id), so a batch sent again
after a commit whose answer was lost never duplicates.

psycopg 3; the central schema is versioned and migrated by the first host that connects (under
an advisory lock, so two hosts starting together do not race).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from agent.events import Event
from agent.store import AuditRecord, DeviceRecord, Store, StoreError, private_files

log = logging.getLogger(__name__)

BATCH: Final = 500
BACKOFF_MAX_S: Final = 10.0
HEARTBEAT_S: Final = 30.0
"""How often a host says it is alive (and how its phones are) when nothing else happens."""

MIGRATIONS: Final = (
    # 1: hosts, their phones, the events and the actions
    """
    CREATE TABLE hosts (
        host TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        policy TEXT,
        first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE devices (
        host TEXT NOT NULL REFERENCES hosts,
        serial TEXT NOT NULL,
        state TEXT,
        model TEXT,
        release TEXT,
        sdk INTEGER,
        last_seen DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (host, serial)
    );
    CREATE TABLE events (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL REFERENCES hosts,
        seq BIGINT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        serial TEXT NOT NULL,
        "user" INTEGER,
        package TEXT,
        kind TEXT NOT NULL,
        consent TEXT NOT NULL,
        severity TEXT NOT NULL,
        finding BOOLEAN NOT NULL,
        clause TEXT,
        detail JSONB NOT NULL,
        received_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX events_host_seq ON events (host, seq);
    CREATE INDEX events_serial_ts ON events (serial, ts);
    CREATE TABLE audit (
        host TEXT NOT NULL REFERENCES hosts,
        id BIGINT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        serial TEXT NOT NULL,
        "user" INTEGER,
        action TEXT NOT NULL,
        target JSONB,
        status TEXT NOT NULL,
        result JSONB,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (host, id)
    );
    """,
)
"""The central schema, one entry per version: a database is brought up to date in order."""


class FleetError(Exception):
    """The central database cannot be used (bad URL, refused, wrong schema)."""


# ---------------------------------------------------------------------------- the outbox
class Outbox:
    """What is still to ship, in order, on disk (survives a restart of the agent)."""

    def __init__(self, path: Path) -> None:
        private_files(path)  # 0600 in a 0700 directory, as the store
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a row put is a row kept, power cut or not
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "kind TEXT NOT NULL, payload TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")

    def put(self, kind: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO outbox (kind, payload) VALUES (?, ?)",
                (kind, json.dumps(payload, sort_keys=True)),
            )

    def take(self, n: int = BATCH) -> list[tuple[int, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, payload FROM outbox ORDER BY seq LIMIT ?", (n,)
            ).fetchall()
        return [(seq, kind, json.loads(payload)) for seq, kind, payload in rows]

    def done(self, upto: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE seq <= ?", (upto,))

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ---------------------------------------------------------------------------- the database
def connect(url: str, timeout: float = 5.0) -> Any:
    """A psycopg connection with the schema up to date."""
    import psycopg

    try:
        conn = psycopg.connect(url, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as exc:
        raise FleetError(f"cannot reach the fleet database: {_short(exc, url)}") from None
    try:
        migrate(conn)
    except psycopg.Error as exc:
        conn.close()
        raise FleetError(f"fleet database schema: {_short(exc, url)}") from None
    return conn


def migrate(conn: Any) -> int:
    """Bring the central schema up to date; returns its version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7263)")  # one host migrates at a time
        conn.execute("CREATE TABLE IF NOT EXISTS tetherguard_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM tetherguard_schema").fetchone()
        version = int(row[0] or 0)
        if version > len(MIGRATIONS):
            raise FleetError(
                f"the fleet database is at schema {version}, newer than this tetherguard "
                f"({len(MIGRATIONS)}): upgrade tetherguard on this host"
            )
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.execute(sql)
            conn.execute("INSERT INTO tetherguard_schema (version) VALUES (%s)", (number,))
        return len(MIGRATIONS)


def _short(exc: BaseException, url: str = "") -> str:
    """One line of a database error, with the DSN's password (if any) blotted out: libpq
    quotes the connection string back in some errors, and these lines go to logs and screens."""
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    return redact(text, url)


_PASSWORDS: Final = (
    re.compile(r"^[a-z][a-z0-9+.-]*://[^:/@\s]*:([^@]*)@", re.IGNORECASE),  # URL form
    re.compile(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)"),  # key=value form
)


def redact(text: str, url: str) -> str:
    """``text`` with the password of ``url`` replaced by ``***`` (also as it was typed)."""
    for pattern in _PASSWORDS:
        for match in pattern.finditer(url):
            secret = match.group(1).strip("'")
            for form in {secret, match.group(1), " ".join(secret.split())}:
                if form:
                    text = text.replace(form, "***")
    return text


def _ship(
    conn: Any,
    host: str,
    name: str,
    policy: str | None,
    rows: Sequence[tuple[int, str, dict[str, Any]]],
) -> None:
    """One batch, one transaction, in order; idempotent."""
    from psycopg.types.json import Jsonb

    with conn.transaction():
        conn.execute(
            "INSERT INTO hosts (host, name, policy) VALUES (%s, %s, %s) ON CONFLICT (host) DO "
            "UPDATE SET name = excluded.name, policy = excluded.policy, last_seen = now()",
            (host, name, policy),
        )
        for seq, kind, p in rows:
            if kind == "event":
                conn.execute(
                    'INSERT INTO events (id, host, seq, ts, serial, "user", package, kind, '
                    "consent, severity, finding, clause, detail) VALUES (%s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (
                        p["id"],
                        host,
                        seq,
                        p["ts"],
                        p["serial"],
                        p["user"],
                        p["package"],
                        p["kind"],
                        p["consent"],
                        p["severity"],
                        p["finding"],
                        p["clause"],
                        Jsonb(p["detail"]),
                    ),
                )
            elif kind == "device":
                conn.execute(
                    "INSERT INTO devices (host, serial, state, model, release, sdk, last_seen) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (host, serial) DO UPDATE SET "
                    "state = excluded.state, model = excluded.model, release = excluded.release, "
                    "sdk = excluded.sdk, last_seen = excluded.last_seen "
                    "WHERE excluded.last_seen >= devices.last_seen",
                    (
                        host,
                        p["serial"],
                        p["state"],
                        p["model"],
                        p["release"],
                        p["sdk"],
                        p["last_seen"],
                    ),
                )
            elif kind == "audit":
                conn.execute(
                    'INSERT INTO audit (host, id, ts, actor, serial, "user", action, target, '
                    "status, result, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s) ON CONFLICT (host, id) DO UPDATE SET status = excluded.status, result = "
                    "excluded.result, updated_at = excluded.updated_at "
                    "WHERE excluded.updated_at >= audit.updated_at",
                    (
                        host,
                        p["id"],
                        p["ts"],
                        p["actor"],
                        p["serial"],
                        p["user"],
                        p["action"],
                        Jsonb(p["target"]),
                        p["status"],
                        Jsonb(p["result"]),
                        p["updated_at"],
                    ),
                )


# ---------------------------------------------------------------------------- the sink
@dataclass(frozen=True)
class SinkStatus:
    pending: int
    shipped: int
    error: str | None
    """Why the last attempt failed (the rows wait), or None when the database took them."""


class FleetSink:
    """An engine subscriber shipping to the central database through the outbox.

    ``sink = FleetSink(url, outbox, store=engine.store).start(); engine.subscribe(sink)``;
    ``sink.close()`` at the end (ships what it can within ``drain_s``, the rest waits on disk).
    """

    def __init__(
        self,
        url: str,
        outbox: Path | Outbox,
        *,
        store: Store | None = None,
        host: str | None = None,
        name: str | None = None,
        policy: str | None = None,
        connector: Callable[[str], Any] = connect,
    ) -> None:
        self.url = url
        self.outbox = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
        self.store = store
        self.host = self._host_id(host)
        self.name = name or socket.gethostname()
        self.policy = policy
        self._connect = connector
        self._conn: Any = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.shipped = 0
        self.error: str | None = None
        self._held: deque[Event] = deque()
        self._held_lock = threading.Lock()
        self._outbox_error: str | None = None

    def _host_id(self, given: str | None) -> str:
        """This host's id: given, or made once; kept with the outbox (stable across restarts,
        so the rows waiting there are shipped under the id they were taken for)."""
        known = given or self.outbox.get("host") or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        if known != self.outbox.get("host"):
            self.outbox.set("host", known)
        return known

    # ---------------------------------------------------------------- taking
    def __call__(self, event: Event) -> None:
        with self._held_lock:
            self._held.append(event)
        if self._put_held() and event.kind == "device_state":
            with contextlib.suppress(sqlite3.Error):  # the state is sent again with the beat
                self._devices(event.serial)
        self._wake.set()

    def _put_held(self) -> bool:
        """Move the events waiting in memory into the outbox, in order; whether all went.

        The outbox may refuse a write (a full disk): the event then waits in memory, said once,
        and goes at the next event or the shipper's next round (every second or so).
        """
        with self._held_lock:
            while self._held:
                event = self._held[0]
                try:
                    self.outbox.put(
                        "event", {**event.as_dict(), "ts": event.ts, "finding": event.finding}
                    )
                except sqlite3.Error as exc:
                    why = f"outbox {self.outbox.path}: {exc}"
                    if why != self._outbox_error:
                        log.error("fleet: %s; events wait in memory until it can be written", why)
                    self._outbox_error = self.error = why
                    return False
                self._held.popleft()
            if self._outbox_error is not None:
                log.warning("fleet: outbox %s writable again", self.outbox.path)
                self._outbox_error = None
                if self.error is not None and self.error.startswith("outbox "):
                    self.error = None
            return True

    def _devices(self, serial: str | None = None) -> None:
        if self.store is None:
            return
        try:
            records: list[DeviceRecord] = self.store.devices()
        except StoreError:
            return
        for r in records:
            if serial is None or r.serial == serial:
                self.outbox.put(
                    "device",
                    {
                        "serial": r.serial,
                        "state": r.last_state,
                        "model": r.model,
                        "release": r.release,
                        "sdk": r.sdk,
                        "last_seen": time.time() if r.last_state == "device" else r.last_seen,
                    },
                )

    def _actions(self) -> None:
        """Actions new or changed since the last look (the local audit log is the source)."""
        if self.store is None:
            return
        mark = float(self.outbox.get("audit_mark") or 0.0)
        try:
            records: list[AuditRecord] = self.store.audit()
        except StoreError:
            return
        newest = mark
        for r in records:
            if r.updated_at > mark:
                self.outbox.put("audit", dataclasses.asdict(r))
                newest = max(newest, r.updated_at)
        if newest > mark:
            self.outbox.set("audit_mark", repr(newest))

    # ---------------------------------------------------------------- shipping
    def start(self) -> FleetSink:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="fleet:ship", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        backoff = 1.0
        beat = 0.0
        while not self._stop.is_set():
            if time.monotonic() - beat >= HEARTBEAT_S:
                beat = time.monotonic()
                with contextlib.suppress(sqlite3.Error):  # a full disk: the next beat
                    self._devices()
            self._put_held()
            try:
                self._actions()
            except sqlite3.Error as exc:  # the outbox refused the audit rows: next round
                log.debug("fleet: actions not taken yet: %s", exc)
            try:
                sent = self.flush()
            except sqlite3.Error as exc:  # the outbox itself (a full disk): rows stay put
                self._failed(f"outbox {self.outbox.path}: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            except FleetError as exc:
                self._failed(str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = 1.0
            if not sent:
                self._wake.wait(1.0)
                self._wake.clear()

    def _failed(self, why: str) -> None:
        if why != self.error:
            log.warning("fleet: %s (%d waiting on disk)", why, self.outbox.pending())
        self.error = why
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to lose
                self._conn.close()
            self._conn = None

    def flush(self) -> int:
        """Ship one batch; returns how many rows went (0: nothing waiting).

        Raises:
            FleetError: the database did not take it (the rows stay in the outbox).
        """
        import psycopg

        rows = self.outbox.take(BATCH)
        if not rows:
            return 0
        try:
            if self._conn is None:
                self._conn = self._connect(self.url)
            _ship(self._conn, self.host, self.name, self.policy, rows)
        except psycopg.Error as exc:
            raise FleetError(f"fleet database: {_short(exc, self.url)}") from None
        self.outbox.done(rows[-1][0])  # only now: the batch is committed
        self.shipped += len(rows)
        if self.error is not None and not self.error.startswith("outbox "):
            log.warning("fleet: the fleet database takes rows again")
        self.error = None
        return len(rows)

    def status(self) -> SinkStatus:
        with self._held_lock:
            held = len(self._held)
        return SinkStatus(self.outbox.pending() + held, self.shipped, self.error)

    def close(self, drain_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=drain_s + 5)
        deadline = time.monotonic() + drain_s
        if not self._put_held():
            # Still on record in the local store (export it, or it ships from a later run's
            # outbox only if put there); said here so nobody believes the fleet has it.
            for event in self._held:
                log.error("fleet: not queued for the fleet (outbox full): %s", event.to_json())
        with contextlib.suppress(sqlite3.Error):
            self._actions()
        while time.monotonic() < deadline:
            try:
                if not self.flush():
                    break
            except (FleetError, sqlite3.Error) as exc:
                self._failed(str(exc))
                break
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.outbox.close()


# ---------------------------------------------------------------------------- the fleet view
@dataclass(frozen=True)
class FleetDevice:
    host: str
    host_name: str
    serial: str
    state: str | None
    model: str | None
    release: str | None
    findings_7d: int
    last_seen: float
    policy: str | None
    """The policy its host runs (``watch --policy``), if any."""
    policy_actions_7d: int = 0
    """Actions that policy took on the phone in the last seven days (done, failed or undone)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "host_name": self.host_name,
            "serial": self.serial,
            "state": self.state,
            "model": self.model,
            "release": self.release,
            "findings_7d": self.findings_7d,
            "last_seen": round(self.last_seen, 3),
            "policy": self.policy,
            "policy_actions_7d": self.policy_actions_7d,
        }


def seen_words(ago_s: float) -> str:
    """How long ago a host last told about a phone, in words (``now``, ``12 min ago``)."""
    if ago_s < 90:
        return "now"
    if ago_s < 7200:
        return f"{ago_s / 60:.0f} min ago"
    return f"{ago_s / 3600:.0f} h ago"


def fleet_view(url: str, now: float | None = None) -> list[FleetDevice]:
    """Every host's phones, with their findings of the last seven days."""
    now = time.time() if now is None else now
    with _conn(url) as conn:
        rows = conn.execute(
            "SELECT d.host, h.name, d.serial, d.state, d.model, d.release, "
            "(SELECT count(*) FROM events e WHERE e.host = d.host AND e.serial = d.serial "
            " AND e.finding AND e.ts >= %s), d.last_seen, h.policy, "
            "(SELECT count(*) FROM audit a WHERE a.host = d.host AND a.serial = d.serial "
            " AND a.actor LIKE 'policy:%%' AND a.ts >= %s) "
            "FROM devices d JOIN hosts h USING (host) ORDER BY h.name, d.host, d.serial",
            (now - 7 * 86400, now - 7 * 86400),
        ).fetchall()
    return [FleetDevice(*row) for row in rows]


@contextmanager
def _conn(url: str) -> Iterator[Any]:
    conn = connect(url)
    try:
        yield conn
    finally:
        conn.close()
