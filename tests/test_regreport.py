"""The regulation report over a week of simulated activity: the events come from replaying the
shipped scenarios on simulated phones (what watch reports), spread over seven days; the page
names every clause with its evidence, links each piece of evidence to its event, draws a
timeline per phone, escapes what came from a phone, and reads well in a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from agent.cli import main as cli
from agent.events import Consent, Event, Severity
from agent.policy.trial import replay
from agent.regreport import CLAUSES
from agent.sim.scenario import list_scenarios
from agent.store import Store

DAY = 86_400.0
T0 = 1_795_000_000.0
PHONES = ("pixel8-a15", "redmi-note11-a13")


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a week of what the scenarios make happen, on two phones."""
    path = tmp_path_factory.mktemp("week") / "tg.db"
    with Store.open(path) as store:
        for p, profile in enumerate(PHONES):
            for day in range(7):
                for s, scenario in enumerate(list_scenarios()):
                    at = T0 + day * DAY + s * 3000 + p * 600
                    events = [
                        replace(e, serial=f"PHONE-{p}", ts=at + i, id=f"{p}-{day}-{s}-{i}")
                        for i, e in enumerate(replay(scenario, profile))
                    ]
                    store.record_events(events)
        store.record_events(
            [
                Event(
                    kind="package_installed",
                    serial="PHONE-$\\nosuch$",  # not matplotlib math: a bad $...$ would fail
                    ts=T0 + 3 * DAY,
                    consent=Consent.NONE,
                    severity=Severity.HIGH,
                    user=0,
                    package="<script>alert(1)</script>",
                    detail={"installer": "<b>evil</b>"},
                    id="hostile",
                )
            ]
        )
    # The owner's action, taken within the week (not today: the report's period is that week).
    with Store.open(path, clock=lambda: T0 + 4 * DAY) as store:
        revoke = store.audit_begin("tui:alice", "PHONE-0", 0, "revoke", {"package": "com.x"})
        store.audit_finish(revoke, "done", {})
    return path


@pytest.fixture(scope="module")
def page(week: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    args = ["report", "--store", str(week), "--since", str(T0 - 3600)]
    assert cli([*args, "--until", str(T0 + 8 * DAY), "--output", str(out)]) == 0
    return out


def test_every_clause_is_named_with_what_was_observed(page: Path) -> None:
    text = page.read_text()
    sections = re.findall(r"<div class='clause ?(seen)?'><h3>([^<]+?):", text)
    assert [code for _, code in sections] == [c.code for c in CLAUSES]
    seen = {code for mark, code in sections if mark}
    # The scenarios exercise these clauses; the rest say nothing was observed.
    assert {
        "CAC Art.7(4)",
        "MIIT I.1",
        "MIIT I.3",
        "MIIT I.6",
        "MIIT I.10",
        "MIIT II.(4).10",
        "MIIT II.(4).11",
        "MIIT II.(4).12",
    } <= seen
    assert "Records are kept <span class='ok'>180 days</span>" in text


def test_every_evidence_link_leads_to_its_event(page: Path) -> None:
    text = page.read_text()
    links = set(re.findall(r"href='#(ev-[^']+)'", text))
    anchors = set(re.findall(r"<tr id='(ev-[^']+)'", text))
    assert links and links <= anchors


def test_evidence_older_than_the_event_table_still_has_its_row(tmp_path: Path) -> None:
    """More events than the table lists: the first findings (cited as evidence) are the
    oldest, so they would fall out of a table of the newest; each link must still land."""
    from agent.regreport import EVENTS_LISTED

    def event(i: int, kind: str, consent: Consent) -> Event:
        return Event(
            kind=kind,
            serial="PHONE-0",
            ts=T0 + i,
            consent=consent,
            severity=Severity.HIGH,
            user=0,
            package=f"com.app{i % 7}",
            detail={"permission": "android.permission.CAMERA", "state": "connected"},
            id=f"n{i:05d}",
        )

    first = [event(i, "permission_granted", Consent.NONE) for i in range(3)]
    rest = [event(i, "device_state", Consent.PLATFORM) for i in range(3, EVENTS_LISTED + 500)]
    store_path, out = tmp_path / "tg.db", tmp_path / "report.html"
    with Store.open(store_path) as store:
        store.record_events([*first, *rest])
    args = ["report", "--store", str(store_path), "--since", str(T0 - 1), "--output", str(out)]
    assert cli([*args, "--until", str(T0 + DAY)]) == 0
    text = out.read_text()
    links = set(re.findall(r"href='#([^']+)'", text))
    ids = set(re.findall(r" id='([^']+)'", text))
    assert {f"ev-n{i:05d}" for i in range(3)} <= links
    assert links <= ids, sorted(links - ids)[:5]
    assert f"The newest {EVENTS_LISTED:,} events, after the 3 older ones cited above" in text
    rows = re.findall(r"<tr id='ev-(n\d+)'", text)
    assert rows == sorted(rows) and len(rows) == EVENTS_LISTED + 3  # in time order, no doubles


def test_a_timeline_per_phone_and_phone_text_is_escaped(page: Path) -> None:
    text = page.read_text()
    for p in range(len(PHONES)):
        assert f"<h3 id='phone-PHONE-{p}'>PHONE-{p}</h3>" in text
    assert text.count("<svg") >= len(PHONES)
    assert "<script>alert(1)</script>" not in text and "<b>evil</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "tui:alice" in text  # the action taken


@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")),
    reason="needs Chromium (CI installs it: apt-get install chromium)",
)
def test_the_page_renders_in_a_real_browser(page: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1280,1600",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), done.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 1600)
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    # Text, cards and the plot's colours drawn: not a blank, nor a browser error page.
    assert len(colors) > 50
    assert any(r > 150 and g < 80 and b < 80 for _, (r, g, b) in colors)  # red: no consent
