"""Records out of the store: what goes into an export is what comes out, in every format and
table; filters cut the right rows; a large range streams; the CLI says what it wrote, and
refuses what it cannot do without leaving a half file."""

from __future__ import annotations

import csv
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import engine as engine_module
from agent.adb import AdbClient
from agent.cli import main as cli
from agent.cli_export import when
from agent.engine import Engine
from agent.events import Consent, Event, Severity
from agent.export import COLUMNS, FORMATS, Query, export, read_export
from agent.store import Store
from tests.support import wait_for

T0 = 1_790_000_000.0
FORMAT_OF = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}


def _event(i: int, kind: str = "permission_granted", **detail: Any) -> Event:
    return Event(
        kind=kind,
        serial=f"SER{i % 3}",
        ts=T0 + i * 3600.123456,
        consent=Consent.NONE if i % 2 else Consent.USER,
        severity=Severity.HIGH,
        user=0 if i % 5 else None,
        package=f"com.app{i % 4}" if i % 7 else None,
        clause="MIIT I.6",
        detail=detail or {"permission": "android.permission.CAMERA"},
        id=f"ev{i:05d}",
    )


HOSTILE = {
    "label": 'say "hi", then\nnew line\r\n, tab\t, [bold]markup[/] \x1b[31m, 微信, emoji 🎤',
    "nested": {"list": [1, 2.5, None, True, "x,y"], "empty": {}},
    "big": 2**53 + 1,
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "tg.db")
    events = [
        _event(0),
        _event(
            1,
            "sensitive_use_started",
            op="RECORD_AUDIO",
            foreground=False,
            permission="android.permission.RECORD_AUDIO",
            permission_consent="user",
        ),
        _event(2, "sensitive_use_stopped", op="RECORD_AUDIO", foreground=None),
        _event(
            3,
            "associated_start",
            caller="com.taobao.taobao",
            reason="service",
            component="com.eg.android.AlipayGphone/.Push",
        ),
        _event(4, "autostart", reason="boot", component="com.app/.Boot"),
        _event(5, "package_installed", **HOSTILE),
        _event(6, "appop_changed", op="CAMERA", mode="ignore", previous="allow"),
    ]
    s.record_events(events)
    done = s.audit_begin(
        "tui:alice",
        "SER1",
        0,
        "revoke",
        {
            "package": "com.app1",
            "permission": "android.permission.CAMERA",
            "commands": ["pm revoke --user 0 com.app1 android.permission.CAMERA"],
        },
    )
    s.audit_finish(done, "done", {"after": {"granted": False}})
    s.audit_begin("policy:corp", "SER2", None, "uninstall", {"package": 'com.evil, "x"'})
    return s


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("table", ["events", "uses", "starts", "audit"])
def test_what_goes_in_comes_out(store: Store, tmp_path: Path, fmt: str, table: str) -> None:
    out = tmp_path / f"out.{fmt}"
    n = export(store, out, table=table, fmt=fmt)  # type: ignore[arg-type]
    if table == "audit":
        expected: list[Any] = store.audit()
    else:
        kinds = {
            "uses": ("sensitive_use_started", "sensitive_use_stopped"),
            "starts": ("autostart", "associated_start"),
        }.get(table)
        expected = list(store.events(kind=kinds))
    got = list(read_export(out, table))  # type: ignore[arg-type]
    assert n == len(expected) > 0
    assert got == expected
    assert not list(tmp_path.glob(".*.part"))  # written aside, then renamed


def test_the_columns_are_the_documented_ones_in_every_format(store: Store, tmp_path: Path) -> None:
    names = [c.name for c in COLUMNS["uses"]]
    assert names[:12] == [
        "id",
        "time",
        "ts",
        "serial",
        "user",
        "package",
        "kind",
        "consent",
        "severity",
        "finding",
        "clause",
        "op",
    ]
    export(store, tmp_path / "u.csv", table="uses", fmt="csv")
    export(store, tmp_path / "u.jsonl", table="uses", fmt="jsonl")
    export(store, tmp_path / "u.parquet", table="uses", fmt="parquet")
    with (tmp_path / "u.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == names
    use = rows[0]
    assert (use["op"], use["foreground"], use["finding"], use["permission_consent"]) == (
        "RECORD_AUDIO",
        "false",
        "true",
        "user",
    )
    assert use["time"] == "2026-09-21T15:13:20.123456+00:00"
    lines = [json.loads(x) for x in (tmp_path / "u.jsonl").read_text().splitlines()]
    assert list(lines[0]) == names and lines[1]["foreground"] is None
    table = pq.read_table(tmp_path / "u.parquet")
    assert table.column_names == names
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    assert table.schema.metadata[b"tetherguard"] == b"tetherguard.export/1"
    assert table.column("op").to_pylist() == ["RECORD_AUDIO", "RECORD_AUDIO"]


def test_filters_cut_by_time_phone_and_app(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "f.jsonl"
    query = Query(since=T0 + 3600, until=T0 + 5 * 3600, serials=("SER1", "SER2"))
    export(store, out, query=query)
    got = list(read_export(out))
    assert [e.id for e in got] == ["ev00001", "ev00002", "ev00004"]
    export(store, out, query=Query(package="com.app1"))
    assert {e.package for e in read_export(out)} == {"com.app1"}
    export(store, out, table="audit", query=Query(serials=("SER2",)))
    [pending] = read_export(out, "audit")
    assert (pending.actor, pending.status, pending.result) == ("policy:corp", "pending", None)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
    number=st.one_of(
        st.none(), st.integers(-(2**62), 2**62), st.floats(allow_nan=False, allow_infinity=False)
    ),
    ts=st.floats(0, 4e9),
)
def test_any_text_and_number_survive_every_format(
    tmp_path: Path, text: str, number: Any, ts: float
) -> None:
    with Store.open(tmp_path / f"h{time.monotonic_ns()}.db") as s:
        event = Event(
            kind="package_installed",
            serial=text or "s",
            ts=ts,
            consent=Consent.NONE,
            severity=Severity.LOW,
            user=None,
            package=text or None,
            clause=None,
            detail={"t": text, "n": number, text: [text]},
            id=f"id-{text}",
        )
        s.record_events([event])
        [stored] = list(s.events())
        for fmt in FORMATS:
            out = tmp_path / f"x.{fmt}"
            export(s, out, fmt=fmt)  # type: ignore[arg-type]
            assert list(read_export(out)) == [stored], fmt


def test_a_large_range_streams_in_constant_memory(tmp_path: Path) -> None:
    def peak(n: int) -> int:
        with Store.open(tmp_path / f"big{n}.db") as s:
            s.record_events(_event(i, blob="x" * 200) for i in range(n))
            tracemalloc.start()
            try:
                assert export(s, tmp_path / f"big{n}.parquet", fmt="parquet") == n
                export(s, tmp_path / f"big{n}.csv", fmt="csv")
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    small, large = peak(6_000), peak(60_000)
    assert large < small * 2  # ten times the rows, not ten times the memory


def test_the_cli_exports_and_prunes(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(store.path)
    out = tmp_path / "uses.csv"
    assert cli(["export", "uses", "--store", db, "--output", str(out)]) == 0
    assert "2 uses row(s) written" in capsys.readouterr().err
    assert len(list(read_export(out, "uses"))) == 2
    assert cli(["export", "--store", db, "--serial", "SER0"]) == 0  # standard output, JSON lines
    lines = capsys.readouterr().out.splitlines()
    assert {json.loads(x)["serial"] for x in lines} == {"SER0"} and len(lines) == 3
    assert cli(["export", "--store", db, "--format", "parquet"]) == 2
    assert "give --output FILE" in capsys.readouterr().err
    assert cli(["export", "--store", db, "--since", "last tuesday"]) == 2
    assert "not a time: 'last tuesday'" in capsys.readouterr().err
    blocked = tmp_path / "nowhere" / "x.jsonl"
    assert cli(["export", "--store", db, "--output", str(blocked)]) == 3
    assert "cannot write" in capsys.readouterr().err and not blocked.exists()
    # prune: what is older than the retention goes, the rest (and pending actions) stays
    now = time.time()
    with Store.open(tmp_path / "p.db") as s:
        s.record_events([_event(1), replace_ts(_event(2), now - 86400)])
    assert cli(["prune", "--store", str(tmp_path / "p.db"), "--older-than", "30d"]) == 0
    assert "1 row(s) older than 30 days removed" in capsys.readouterr().err
    with Store.open(tmp_path / "p.db") as s:
        assert [e.id for e in s.events()] == ["ev00002"]
    assert cli(["prune", "--store", str(tmp_path / "p.db"), "--older-than", "2026-01-01"]) == 2


def replace_ts(event: Event, ts: float) -> Event:
    from dataclasses import replace

    return replace(event, ts=ts)


def test_times_read_as_durations_dates_or_epochs() -> None:
    now = 1_800_000_000.0
    assert when("30d", now=now) == now - 30 * 86400
    assert when("12h", now=now) == now - 12 * 3600
    assert when("2026-11-01") == 1_793_491_200.0
    assert when("2026-11-01T08:00:00+08:00") == 1_793_491_200.0
    assert when("1793491200") == 1_793_491_200.0
    assert when(None) is None
    with pytest.raises(ValueError, match="not a time"):
        when("soon")


def test_a_running_engine_keeps_the_store_to_its_retention(
    client: AdbClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PRUNE_EVERY_S", 0.1)
    old = time.time() - 100 * 86400
    with Store.open(tmp_path / "r.db", retention_days=60) as s:
        s.record_events([replace_ts(_event(1), old), replace_ts(_event(2), time.time())])
        engine = Engine(client, s, serials=["no-such-phone"])
        engine.start()
        try:
            wait_for(lambda: [e.id for e in s.events()] == ["ev00002"])  # at start
            s.record_events([replace_ts(_event(3), old)])  # a week-long run: daily, again
            wait_for(lambda: [e.id for e in s.events()] == ["ev00002"])
        finally:
            engine.stop()
