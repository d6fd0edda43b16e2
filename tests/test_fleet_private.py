"""What the fleet connection keeps private: the outbox is readable by its user only (what the
phones did waits there), and the database password never reaches a log, a status or a screen,
whatever libpq says back."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from agent.cli import main as cli
from agent.events import Consent, Event, Severity
from agent.fleet import FleetSink

SECRET = "s3cr3t-Pw"
URLS = (
    f"postgresql://tg:{SECRET}@127.0.0.1:1/fleet",  # refused
    f"postgresql://tg:{SECRET}@127.0.0.1:notaport/fleet",  # malformed
    f"postgresql://tg:{SECRET} x@[::1/fleet",  # libpq quotes this one back
    f"host=127.0.0.1 port=1 dbname=fleet password={SECRET}",
    f"host=127.0.0.1 port=1 dbname=fleet password='{SECRET} x'",
)


PLUGGED = Event(
    kind="device_state", serial="S", ts=1.0, consent=Consent.NONE, severity=Severity.INFO, id="e1"
)


def test_the_outbox_is_its_users_only(tmp_path: Path) -> None:
    box = tmp_path / "new" / "outbox.db"
    sink = FleetSink(URLS[0], box, host="h")
    sink(PLUGGED)
    sink.close(drain_s=0.1)
    assert stat.S_IMODE(box.stat().st_mode) == 0o600
    assert stat.S_IMODE(box.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("url", URLS)
def test_the_password_never_shows(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    sink = FleetSink(url, tmp_path / "outbox.db", host="h")
    sink(PLUGGED)
    sink.close(drain_s=0.5)  # fails to ship: says why
    assert sink.error and "***" not in url
    assert SECRET not in sink.error
    assert cli(["--debug", "fleet", "--fleet", url]) == 3
    shown = capsys.readouterr()
    assert "fleet" in shown.err
    for text in (sink.error, caplog.text, shown.out, shown.err):
        assert SECRET not in text and SECRET.lower() not in text.lower()
