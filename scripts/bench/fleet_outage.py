"""Fleet database outage: events keep coming while the central PostgreSQL is down for minutes.

A real PostgreSQL (Debian's package, a throwaway cluster on a private port) takes events from
tetherguard's FleetSink (durable outbox, in order, idempotent) and, as the peer measured in the
same run, from a writer that inserts straight into the database (what a sink without an outbox
does). Both are fed the same events at the same rate; the server is killed (SIGKILL) in the
middle and brought back after ``--outage`` seconds. Printed: events fed, delivered, lost and
duplicated for each, the largest backlog on disk, and how long the outbox took to catch up.

Usage: python scripts/bench/fleet_outage.py [--outage 120] [--rate 50] [--before 10] [--after 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.events import Consent, Event, Severity
from agent.fleet import FleetSink, migrate
from tests.postgres import PgServer


def _event(i: int, host: str) -> Event:
    return Event(
        kind="sensitive_use_started",
        serial="BENCH-1",
        ts=time.time(),
        consent=Consent.NONE,
        severity=Severity.HIGH,
        user=0,
        package=f"com.app{i % 20}",
        detail={"op": "RECORD_AUDIO", "foreground": False, "n": i},
        id=f"{host}-{i:07d}",
    )


class Direct:
    """The peer: one INSERT per event, straight to the database; an event that fails is gone."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection | None = None
        self.failed = 0

    def __call__(self, event: Event) -> None:
        try:
            if self.conn is None:
                self.conn = psycopg.connect(self.url, connect_timeout=1, autocommit=True)
                self.conn.execute(
                    "INSERT INTO hosts (host, name) VALUES ('direct', 'direct') "
                    "ON CONFLICT DO NOTHING"
                )
            self.conn.execute(
                'INSERT INTO events (id, host, seq, ts, serial, "user", package, kind, consent, '
                "severity, finding, clause, detail) VALUES (%s, 'direct', 0, %s, %s, 0, %s, %s, "
                "'none', 'high', true, NULL, '{}') ON CONFLICT (id) DO NOTHING",
                (event.id, event.ts, event.serial, event.package, event.kind),
            )
        except psycopg.Error:
            self.failed += 1
            if self.conn is not None:
                self.conn.close()
            self.conn = None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outage", type=float, default=120.0, help="seconds the database is down")
    ap.add_argument("--rate", type=float, default=50.0, help="events per second")
    ap.add_argument("--before", type=float, default=10.0, help="seconds of traffic before")
    ap.add_argument("--after", type=float, default=10.0, help="seconds of traffic after")
    args = ap.parse_args()
    pg = PgServer()
    pg.start()
    with psycopg.connect(pg.url) as conn:
        migrate(conn)
    with tempfile.TemporaryDirectory() as home:
        sink = FleetSink(pg.url, Path(home) / "outbox.db", host="outbox", name="bench").start()
        direct = Direct(pg.url)
        fed = 0
        backlog = 0
        stop = threading.Event()

        def feed() -> None:
            nonlocal fed
            while not stop.is_set():
                sink(_event(fed, "outbox"))
                direct(_event(fed, "direct"))
                fed += 1
                time.sleep(1 / args.rate)

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        time.sleep(args.before)
        pg.kill()
        down_at = time.monotonic()
        while time.monotonic() - down_at < args.outage:
            backlog = max(backlog, sink.status().pending)
            time.sleep(0.5)
        pg.start()
        back_at = time.monotonic()
        caught_up = None
        while time.monotonic() - back_at < args.after or caught_up is None:
            if caught_up is None and sink.status().pending <= args.rate:  # under 1 s behind
                caught_up = time.monotonic() - back_at
            time.sleep(0.05)
        stop.set()
        feeder.join()
        while sink.status().pending:
            time.sleep(0.1)
        sink.close()
    with psycopg.connect(pg.url) as conn:
        counts = {
            host: conn.execute(
                "SELECT count(*), count(DISTINCT id) FROM events WHERE host = %s", (host,)
            ).fetchone()
            for host in ("outbox", "direct")
        }
        order = [
            r[0] for r in conn.execute("SELECT id FROM events WHERE host = 'outbox' ORDER BY seq")
        ]
    pg.close()
    in_order = order == sorted(order)
    print(
        f"fleet_outage: {fed} events at {args.rate:g}/s; the database killed for "
        f"{args.outage:g} s in the middle"
    )
    for host, label in (("outbox", "tetherguard (outbox)"), ("direct", "direct inserts (peer)")):
        rows, distinct = counts[host] or (0, 0)
        print(
            f"  {label:<22}: delivered {distinct:6d}  lost {fed - distinct:6d}  "
            f"duplicated {rows - distinct}"
        )
    print(f"  largest backlog on disk: {backlog} events; less than a second behind again")
    print(
        f"  {caught_up:.1f} s after the database came back; in order: {'yes' if in_order else 'NO'}"
    )
    lost_peer = fed - (counts["direct"] or (0, 0))[1]
    lost_ours = fed - (counts["outbox"] or (0, 0))[1]
    print(f"ratio (events lost, peer / tetherguard): {lost_peer} / {lost_ours}")
    ok = lost_ours == 0 and in_order and (counts["outbox"] or (0, 0))[0] == fed
    print("OK" if ok else "LOSS OR DUPLICATES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
