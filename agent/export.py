"""Records out of the store, for researchers and auditors: events, sensitive uses, starts and
the audit log as JSON lines, CSV or Parquet, with stable documented columns.

Every table keeps the columns that rebuild its records exactly (:func:`read_export` gives back
the :class:`~agent.events.Event` or :class:`~agent.store.AuditRecord` that went in), plus
columns pulled out of ``detail`` for analysis (a use's op and where it ran, a start's caller).
Columns only ever grow within ``tetherguard.export/1``; a file's columns are in its header
(CSV), its keys (JSON lines) or its schema (Parquet, with the version in its metadata).

Exports stream: the store is read in pages and written in batches, so a year of events takes
the memory of one batch.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final, Literal

from agent.events import Event
from agent.store import AuditRecord, Store

VERSION: Final = "tetherguard.export/1"
FORMATS: Final = ("jsonl", "csv", "parquet")
TABLES: Final = ("events", "uses", "starts", "audit")
USE_KINDS: Final = ("sensitive_use_started", "sensitive_use_stopped")
START_KINDS: Final = ("autostart", "associated_start")
BATCH: Final = 5_000
"""Rows per Parquet row group (and per write): the memory an export needs."""

Format = Literal["jsonl", "csv", "parquet"]
Table = Literal["events", "uses", "starts", "audit"]
Kind = Literal["string", "int", "float", "bool", "time", "json"]


class ExportError(Exception):
    """An export that cannot be written or read (bad format, table, file)."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    doc: str
    get: Callable[[Any], Any]


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _detail(key: str) -> Callable[[Event], Any]:
    return lambda e: e.detail.get(key)


_EVENT_CORE: Final = (
    Column(
        "id",
        "string",
        "event id (unique; the same event exported twice has the same)",
        lambda e: e.id,
    ),
    Column("time", "time", "when, UTC (ISO 8601 in JSON lines and CSV)", lambda e: _utc(e.ts)),
    Column("ts", "float", "when, seconds since 1970-01-01 UTC (exact)", lambda e: e.ts),
    Column("serial", "string", "the phone's adb serial", lambda e: e.serial),
    Column("user", "int", "Android user (0 the owner; empty when not per user)", lambda e: e.user),
    Column("package", "string", "the app (empty when about the phone)", lambda e: e.package),
    Column("kind", "string", "what happened (see README, Events)", lambda e: e.kind),
    Column(
        "consent",
        "string",
        "none, user, platform, baseline, tetherguard, ...",
        lambda e: e.consent.value,
    ),
    Column("severity", "string", "low, medium, high", lambda e: e.severity.value),
    Column("finding", "bool", "true: a change without the owner's consent", lambda e: e.finding),
    Column("clause", "string", "the regulation clause it bears on", lambda e: e.clause),
)
_DETAIL: Final = Column(
    "detail", "json", "everything else the event says, as JSON", lambda e: dict(e.detail)
)

COLUMNS: Final[dict[str, tuple[Column, ...]]] = {
    "events": (*_EVENT_CORE, _DETAIL),
    "uses": (
        *_EVENT_CORE,
        Column(
            "op",
            "string",
            "the app op used (RECORD_AUDIO, CAMERA, FINE_LOCATION ...)",
            _detail("op"),
        ),
        Column(
            "foreground",
            "bool",
            "true in the foreground, false in the background",
            _detail("foreground"),
        ),
        Column(
            "permission", "string", "the runtime permission behind the op", _detail("permission")
        ),
        Column(
            "permission_consent",
            "string",
            "who granted that permission: user, platform, none",
            _detail("permission_consent"),
        ),
        _DETAIL,
    ),
    "starts": (
        *_EVENT_CORE,
        Column("caller", "string", "the app that started it (associated start)", _detail("caller")),
        Column(
            "reason",
            "string",
            "boot, broadcast, service, activity, provider ...",
            _detail("reason"),
        ),
        Column("component", "string", "the component started", _detail("component")),
        _DETAIL,
    ),
    "audit": (
        Column("id", "int", "action id (tetherguard undo ID)", lambda r: r.id),
        Column("time", "time", "when it was asked, UTC", lambda r: _utc(r.ts)),
        Column("ts", "float", "when it was asked, seconds since 1970-01-01 UTC", lambda r: r.ts),
        Column("updated_ts", "float", "when its status last changed", lambda r: r.updated_at),
        Column("actor", "string", "who asked: cli:USER, tui:USER, policy:NAME", lambda r: r.actor),
        Column("serial", "string", "the phone", lambda r: r.serial),
        Column("user", "int", "Android user", lambda r: r.user),
        Column(
            "action",
            "string",
            "revoke, appop, restrict, disable, uninstall, ...",
            lambda r: r.action,
        ),
        Column("status", "string", "pending, done, failed, undone", lambda r: r.status),
        Column(
            "package",
            "string",
            "the app acted on",
            lambda r: r.target.get("package") if isinstance(r.target, dict) else None,
        ),
        Column(
            "target",
            "json",
            "what it applied to, the commands, the state before",
            lambda r: r.target,
        ),
        Column(
            "result", "json", "the outcome: the state read back, or the error", lambda r: r.result
        ),
    ),
}
"""The columns of each table, in order: a contract (only ever appended to within version 1)."""


@dataclass(frozen=True)
class Query:
    since: float | None = None
    until: float | None = None
    serials: Sequence[str] = ()
    package: str | None = None


def records(store: Store, table: Table, query: Query) -> Iterator[Any]:
    """The table's records, oldest first, streamed from the store."""
    if table == "audit":
        for record in store.audit(since=query.since):
            if query.until is not None and record.ts >= query.until:
                continue
            if query.serials and record.serial not in query.serials:
                continue
            target = record.target if isinstance(record.target, dict) else {}
            if query.package is not None and target.get("package") != query.package:
                continue
            yield record
        return
    kinds = {"uses": USE_KINDS, "starts": START_KINDS}.get(table)
    one = query.serials[0] if len(query.serials) == 1 else None
    for event in store.events(
        since=query.since, until=query.until, serial=one, package=query.package, kind=kinds
    ):
        if not query.serials or event.serial in query.serials:
            yield event  # one pass in time order, whatever the number of phones


def export(
    store: Store,
    path: Path,
    *,
    table: Table = "events",
    fmt: Format = "jsonl",
    query: Query = Query(),
) -> int:
    """Write the table to ``path`` (``-`` for standard output, not for Parquet); returns the
    number of rows. Written next to the target and renamed into place: an export cut short
    leaves no half file behind."""
    if table not in TABLES:
        raise ExportError(f"no table {table!r}: one of {', '.join(TABLES)}")
    if fmt not in FORMATS:
        raise ExportError(f"no format {fmt!r}: one of {', '.join(FORMATS)}")
    rows = records(store, table, query)
    columns = COLUMNS[table]
    if str(path) == "-":
        if fmt == "parquet":
            raise ExportError("Parquet is binary: give --output FILE")
        import sys

        return _write_text(rows, columns, fmt, sys.stdout)
    tmp = path.with_name(f".{path.name}.part")
    try:
        if fmt == "parquet":
            n = _write_parquet(rows, columns, tmp, table)
        else:
            with tmp.open("w", encoding="utf-8", newline="") as out:
                n = _write_text(rows, columns, fmt, out)
        tmp.replace(path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return n


# ---------------------------------------------------------------------------- writers
def _json_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.kind == "time":
        return value.isoformat()
    return value


def _csv_value(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == "time":
        return str(value.isoformat())
    if column.kind == "json":
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if column.kind == "bool":
        return "true" if value else "false"
    if column.kind == "float":
        return repr(float(value))  # shortest text that reads back as the same float
    return str(value)


def _write_text(rows: Iterable[Any], columns: Sequence[Column], fmt: Format, out: IO[str]) -> int:
    n = 0
    if fmt == "csv":
        writer = csv.writer(out)  # RFC 4180: CRLF rows, so a lone CR in a field is quoted
        writer.writerow([c.name for c in columns])
        for row in rows:
            writer.writerow([_csv_value(c, c.get(row)) for c in columns])
            n += 1
        return n
    for row in rows:
        line = {c.name: _json_value(c, c.get(row)) for c in columns}
        out.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
        n += 1
    return n


def _arrow_schema(columns: Sequence[Column], table: Table) -> Any:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "time": pa.timestamp("us", tz="UTC"),
        "json": pa.string(),
    }
    fields = [
        pa.field(c.name, types[c.kind], metadata={"doc": c.doc, "kind": c.kind}) for c in columns
    ]
    return pa.schema(fields, metadata={"tetherguard": VERSION, "table": table})


def _write_parquet(rows: Iterable[Any], columns: Sequence[Column], path: Path, table: Table) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema(columns, table)
    n = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        batch: list[Any] = []

        def flush() -> None:
            data = {
                c.name: [
                    json.dumps(v, sort_keys=True, ensure_ascii=False)
                    if c.kind == "json" and v is not None
                    else v
                    for v in (c.get(r) for r in batch)
                ]
                for c in columns
            }
            writer.write_table(pa.Table.from_pydict(data, schema=schema))
            batch.clear()

        for row in rows:
            batch.append(row)
            n += 1
            if len(batch) >= BATCH:
                flush()
        if batch or n == 0:
            flush()
    return n


# ---------------------------------------------------------------------------- reading back
def read_export(path: Path, table: Table = "events", fmt: Format | None = None) -> Iterator[Any]:
    """The records an export holds, as they were in the store (Events, or AuditRecords for
    the audit table): for analysis in Python, and the proof that nothing is lost on the way."""
    fmt = fmt or _format_of(path)
    if fmt == "parquet":
        rows = _parquet_rows(path)
    elif fmt == "csv":
        rows = _csv_rows(path, COLUMNS[table])
    else:
        rows = _jsonl_rows(path)
    build = _audit if table == "audit" else _event
    for row in rows:
        yield build(row)


def _format_of(path: Path) -> Format:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "csv", "parquet"):
        return suffix  # type: ignore[return-value]
    if suffix in ("json", "ndjson"):
        return "jsonl"
    raise ExportError(f"cannot tell the format of {path}: name it .jsonl, .csv or .parquet")


def _jsonl_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _csv_rows(path: Path, columns: Sequence[Column]) -> Iterator[dict[str, Any]]:
    kinds = {c.name: c.kind for c in columns}
    with path.open(encoding="utf-8", newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for name, text in raw.items():
                kind = kinds.get(name, "string")
                if text == "":
                    row[name] = None
                elif kind == "int":
                    row[name] = int(text)
                elif kind == "float":
                    row[name] = float(text)
                elif kind == "bool":
                    row[name] = text == "true"
                elif kind == "json":
                    row[name] = json.loads(text)
                else:
                    row[name] = text
            yield row


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as f:
        kinds = {
            field.name: (field.metadata or {}).get(b"kind", b"").decode()
            for field in f.schema_arrow
        }
        for batch in f.iter_batches(batch_size=BATCH):
            for row in batch.to_pylist():
                yield {
                    k: json.loads(v) if kinds.get(k) == "json" and v is not None else v
                    for k, v in row.items()
                }


def _event(row: dict[str, Any]) -> Event:
    try:
        event = Event.from_dict(row)
    except (KeyError, ValueError, TypeError) as exc:
        raise ExportError(f"not an exported event: {row.get('id')!r} ({exc})") from exc
    if not math.isfinite(event.ts):
        raise ExportError(f"event {event.id}: ts is not a time")
    return event


def _audit(row: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        id=int(row["id"]),
        ts=float(row["ts"]),
        actor=row["actor"],
        serial=row["serial"],
        user=row["user"],
        action=row["action"],
        target=row["target"],
        status=row["status"],
        result=row["result"],
        updated_at=float(row["updated_ts"]),
    )
