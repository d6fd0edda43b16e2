"""``tetherguard export`` and ``tetherguard prune``: the records out of the store, and the
store kept to its retention."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.export import Format

OK = 0
USAGE = 2
FAILED = 3
"""Exit codes (``agent.cli.ExitCode``)."""

_FORMAT_OF: dict[str, Format] = {".csv": "csv", ".parquet": "parquet"}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def when(text: str | None, *, now: float | None = None) -> float | None:
    """``30d``/``12h``/``2w`` ago, an ISO 8601 date or time (UTC unless it says), or epoch
    seconds; ``None`` for no bound.

    Raises:
        ValueError: none of these.
    """
    if not text:
        return None
    text = text.strip()
    now = time.time() if now is None else now
    if text[-1:] in _UNITS and text[:-1].replace(".", "", 1).isdigit():
        return now - float(text[:-1]) * _UNITS[text[-1]]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use 30d, 12h, 2w ago, 2026-11-01, 2026-11-01T08:00:00+08:00 "
            "or epoch seconds)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _days(text: str | None) -> float | None:
    """``90d``, ``12w``, ``36h`` as days."""
    if not text:
        return None
    text = text.strip()
    if text[-1:] in _UNITS and text[:-1].replace(".", "", 1).isdigit():
        return float(text[:-1]) * _UNITS[text[-1]] / 86400
    raise ValueError(f"not a duration: {text!r} (use 90d, 12w, 36h)")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write events, uses, starts or the audit log as JSON lines, CSV or Parquet",
        description="Write recorded events, sensitive uses, starts or the audit log to a file, "
        "with stable documented columns (README: Records and export). Streams: any range "
        "takes constant memory.",
    )
    p.add_argument(
        "table",
        nargs="?",
        default="events",
        choices=["events", "uses", "starts", "audit"],
        help="what to export (default: events, every kind)",
    )
    p.add_argument("--since", help="from: 30d, 12h ago, 2026-11-01, or epoch (default: all)")
    p.add_argument("--until", help="up to (not including): same forms (default: now)")
    p.add_argument("--serial", action="append", default=[], help="only this phone (repeat)")
    p.add_argument("--package", help="only this app")
    p.add_argument(
        "--format",
        choices=["jsonl", "csv", "parquet"],
        help="default: from the output's name (.jsonl, .csv, .parquet), else jsonl",
    )
    p.add_argument("--output", "-o", default="-", help="the file (default: standard output)")
    p.add_argument("--store", type=Path, help="the database (default: in the data directory)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "report",
        help="an HTML page of what the phones did, per phone and app and per regulation clause",
    )
    p.add_argument("--since", default="30d", help="from: 30d, 12h ago, a date (default 30d)")
    p.add_argument("--until", help="up to: same forms (default: now)")
    p.add_argument("--serial", action="append", default=[], help="only this phone (repeat)")
    p.add_argument("--output", "-o", required=True, help="the HTML file to write")
    p.add_argument("--store", type=Path, help="the database (default: in the data directory)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "prune",
        help="drop records older than the retention (events, finished actions, deliveries)",
    )
    p.add_argument(
        "--older-than",
        help="e.g. 90d (default: [store] retention_days of the configuration, 180 days)",
    )
    p.add_argument("--vacuum", action="store_true", help="give the space back to the disk")
    p.add_argument("--config", type=Path, help="tetherguard.toml (default: the config directory)")
    p.add_argument("--store", type=Path, help="the database (default: [store] path)")
    p.set_defaults(func=cmd_prune)


def cmd_export(args: argparse.Namespace) -> int:
    from agent.export import ExportError, Query, export
    from agent.store import Store, StoreError

    try:
        query = Query(when(args.since), when(args.until), tuple(args.serial), args.package)
    except ValueError as exc:
        print(f"tetherguard export: {exc}", file=sys.stderr)
        return USAGE
    out = Path(args.output)
    fmt: Format = args.format or _FORMAT_OF.get(out.suffix.lower(), "jsonl")
    try:
        with Store.open(args.store) as store:
            n = export(store, out, table=args.table, fmt=fmt, query=query)
    except ExportError as exc:
        print(f"tetherguard export: {exc}", file=sys.stderr)
        return USAGE if "give --output" in str(exc) else FAILED
    except StoreError as exc:
        print(f"tetherguard export: {exc}", file=sys.stderr)
        return FAILED
    if args.output != "-":
        print(f"{n} {args.table} row(s) written to {out} ({fmt})", file=sys.stderr)
    return OK


def cmd_report(args: argparse.Namespace) -> int:
    from agent.regreport import build
    from agent.store import Store, StoreError

    try:
        since, until = when(args.since), when(args.until)
    except ValueError as exc:
        print(f"tetherguard report: {exc}", file=sys.stderr)
        return USAGE
    out = Path(args.output)
    tmp = out.with_name(f".{out.name}.part")
    try:
        with Store.open(args.store) as store:
            page = build(store, since=since or 0.0, until=until, serials=tuple(args.serial))
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(out)
    except StoreError as exc:
        print(f"tetherguard report: {exc}", file=sys.stderr)
        return FAILED
    except OSError as exc:
        print(f"tetherguard report: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        tmp.unlink(missing_ok=True)
        return FAILED
    print(f"report written to {out}", file=sys.stderr)
    return OK


def cmd_prune(args: argparse.Namespace) -> int:
    from agent.config import ConfigError, load_config
    from agent.store import Store, StoreError

    try:
        config = load_config(args.config)
        days = _days(args.older_than)
    except (ConfigError, ValueError) as exc:
        print(f"tetherguard prune: {exc}", file=sys.stderr)
        return USAGE
    path = args.store or config.store.path
    try:
        with Store.open(path, retention_days=config.store.retention_days) as store:
            gone = store.prune(days)
            if args.vacuum:
                store.vacuum()
    except StoreError as exc:
        print(f"tetherguard prune: {exc}", file=sys.stderr)
        return FAILED
    kept = days if days is not None else config.store.retention_days
    print(f"{gone} row(s) older than {kept:g} days removed", file=sys.stderr)
    return OK
