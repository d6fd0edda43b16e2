"""Alerts end to end: tetherguard.toml and the environment, real apprise targets (``json://``
against an HTTP server on 127.0.0.1, and apprise's custom-schema decorator as an in-process
sink), retries and the delivery record, rate limit and quiet hours on a fake clock, routing,
hostile device strings in every format, secrets kept out of logs and errors, ``alerts test``,
and the notification on a simulated phone through the real adb server."""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from apprise.decorators import notify
from apprise.manager_plugins import NotificationManager

from agent.adb import AdbClient
from agent.alerts import (
    PART_MAX,
    Alerter,
    DeviceChannel,
    TextFormat,
    describe,
    render,
)
from agent.cli import main
from agent.config import (
    AlertsConfig,
    AlertTarget,
    ConfigError,
    QuietHours,
    Retry,
    Route,
    load_config,
    redact_url,
)
from agent.engine import Engine
from agent.events import Consent, Event, Severity
from agent.sim.host import SimHost
from agent.sim.scenario import apply_step, load_scenario
from agent.store import DeliveryRecord, Store
from tests.adbserver import AdbServer
from tests.support import Plug, Watching, wait_for

SECRET = "hunter2-s3cret"
HOSTILE = {
    "rich": "[bold red]Update[/bold red][link=https://evil.example]tap[/link]",
    "ansi": "\x1b[31mred\x1b[0m\x1b[2J",
    "osc8": "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\x1b]0;owned\x07",
    "rtl": "photo\u202egpj.exe",
    "html": "<script>alert(1)</script><b>x</b>&amp;",
    "markdown": "**bold** [x](https://evil.example) `code` _i_ <https://evil.example>",
    "10k": "A" * 10_240,
}
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# --------------------------------------------------------------------------- helpers
class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Facts:
    """Device facts without a store (hostile labels and models come from here)."""

    labels: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    sdks: dict[str, int] = field(default_factory=dict)

    def model(self, serial: str) -> str | None:
        return self.models.get(serial)

    def sdk(self, serial: str) -> int | None:
        return self.sdks.get(serial)

    def label(self, serial: str, package: str) -> str | None:
        return self.labels.get(package)


def event(
    kind: str = "sensitive_use_started",
    *,
    serial: str = "SIM-1",
    package: str | None = "com.example.app",
    severity: Severity = Severity.HIGH,
    consent: Consent = Consent.NONE,
    ts: float = 1_700_000_000.0,
    **detail: Any,
) -> Event:
    if kind == "sensitive_use_started" and not detail:
        detail = {"op": "RECORD_AUDIO", "foreground": False}
    return Event(
        kind=kind,
        serial=serial,
        ts=ts,
        consent=consent,
        severity=severity,
        user=0,
        package=package,
        clause="MIIT II.(4).11",
        detail=detail,
    )


@dataclass
class Hook:
    """An HTTP endpoint on 127.0.0.1 that records the JSON apprise posts to it."""

    port: int
    received: list[tuple[str, dict[str, Any]]]

    def url(self, path: str = "", *, auth: bool = False, query: str = "") -> str:
        who = f"tg:{SECRET}@" if auth else ""
        return f"json://{who}127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")


@contextlib.contextmanager
def http_hook(delay: float = 0.0, port: int = 0) -> Iterator[Hook]:
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            if delay:
                time.sleep(delay)
            received.append((self.path, payload))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.block_on_close = False  # a sleeping handler must not hold up the test's teardown
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hook(server.server_address[1], received)
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def target(url: str, name: str, tags: set[str] | None = None) -> AlertTarget:
    return AlertTarget(url=url, name=name, tags=frozenset(tags or ()))


@dataclass
class Sent:
    host: str
    title: str
    body: str
    tags: list[str]


@pytest.fixture
def sink() -> Iterator[list[Sent]]:
    """apprise's custom-schema decorator as an in-process target: ``tgsink://NAME``."""
    sent: list[Sent] = []

    @notify(on="tgsink", name="tetherguard test sink")
    def _record(
        body: str, title: str, notify_type: str, meta: dict[str, Any], *a: Any, **k: Any
    ) -> bool:
        sent.append(Sent(str(meta.get("host")), title, body, sorted(meta.get("tag") or ())))
        return True

    yield sent
    NotificationManager().remove("tgsink")  # the plugin registry is global


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "tg.db") as s:
        yield s


def config(targets: list[AlertTarget], **changes: Any) -> AlertsConfig:
    return replace(AlertsConfig(targets=tuple(targets), on_device=False), **changes)


# --------------------------------------------------------------------------- configuration
EXAMPLE = """
[alerts]
urls = [
  "ntfys://ntfy.sh/my-phones",
  { url = "tgram://123456789:AAEhBOweik9ad9r/987654321", tags = ["pager"] },
  { url = "mailto://me:app-password@gmail.com", tags = ["mail"], name = "owner mail" },
]
min_severity = "medium"
window_s = 600
quiet_hours = "22:00-07:00"
on_device = false

[alerts.retry]
attempts = 5
backoff_s = 1.5
max_backoff_s = 60

[[alerts.routes]]
kinds = ["sensitive_use_started", "device_admin"]
min_severity = "high"
tags = ["pager"]

[[alerts.routes]]
tags = ["mail"]
"""


def test_the_example_configuration_loads_into_typed_settings(tmp_path: Path) -> None:
    path = tmp_path / "tetherguard.toml"
    path.write_text(EXAMPLE)
    cfg = load_config(path, env={})
    alerts = cfg.alerts
    assert cfg.source == path
    assert [(t.name, sorted(t.tags)) for t in alerts.targets] == [
        ("ntfys://ntfy.sh", []),
        ("tgram://***", ["pager"]),
        ("owner mail", ["mail"]),
    ]
    assert alerts.routes == (
        Route(
            tags=frozenset({"pager"}),
            kinds=frozenset({"sensitive_use_started", "device_admin"}),
            min_severity=Severity.HIGH,
        ),
        Route(tags=frozenset({"mail"})),
    )
    assert (alerts.min_severity, alerts.window_s, alerts.on_device) == (Severity.MEDIUM, 600, False)
    assert str(alerts.quiet_hours) == "22:00-07:00"
    assert alerts.retry == Retry(attempts=5, backoff_s=1.5, max_backoff_s=60)
    assert [alerts.retry.delay(n) for n in (1, 2, 3, 10)] == [1.5, 3.0, 6.0, 60.0]
    # Secrets stay out of every printed form of the settings.
    for secret in ("AAEhBOweik9ad9r", "app-password", "my-phones", "123456789"):
        assert secret not in repr(cfg)


def test_no_file_means_defaults_and_the_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHERGUARD_HOME", str(tmp_path))
    monkeypatch.delenv("TETHERGUARD_CONFIG", raising=False)
    defaults = load_config(env={}).alerts
    assert defaults == AlertsConfig()
    assert (defaults.min_severity, defaults.window_s, defaults.on_device) == (
        Severity.MEDIUM,
        300,
        True,
    )
    assert defaults.quiet_hours is None and defaults.enabled
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "tetherguard.toml").write_text(EXAMPLE)
    env = {
        "TETHERGUARD_APPRISE_URLS": "json://127.0.0.1:9/ ntfys://ntfy.sh/topic",
        "TETHERGUARD_ALERTS_MIN_SEVERITY": "HIGH",
        "TETHERGUARD_ALERTS_WINDOW_S": "0",
        "TETHERGUARD_ALERTS_QUIET_HOURS": "",
        "TETHERGUARD_ALERTS_ON_DEVICE": "yes",
    }
    alerts = load_config(env=env).alerts
    assert [t.name for t in alerts.targets] == ["json://127.0.0.1", "ntfys://ntfy.sh"]
    assert [t.key for t in alerts.targets] == [
        "TETHERGUARD_APPRISE_URLS[0]",
        "TETHERGUARD_APPRISE_URLS[1]",
    ]
    assert (alerts.min_severity, alerts.window_s, alerts.quiet_hours, alerts.on_device) == (
        Severity.HIGH,
        0,
        None,
        True,
    )
    assert len(alerts.routes) == 2  # what the environment does not name comes from the file
    other = tmp_path / "other.toml"
    other.write_text("[alerts]\non_device = false\n")
    assert load_config(env={"TETHERGUARD_CONFIG": str(other)}).alerts.on_device is False


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[alerts]\nwindow_s = "5m"\n', "alerts.window_s"),
        ("[alerts]\nwindow_s = -1\n", "alerts.window_s"),
        ('[alerts]\nquiet_hour = "22:00-07:00"\n', "alerts.quiet_hour"),
        ('[alerts]\nquiet_hours = "22-7"\n', "alerts.quiet_hours"),
        ('[alerts]\nquiet_hours = "07:00-07:00"\n', "alerts.quiet_hours"),
        ('[alerts]\nmin_severity = "urgent"\n', "alerts.min_severity"),
        ('[alerts]\non_device = "yes"\n', "alerts.on_device"),
        ('[alerts]\nurls = "json://127.0.0.1/"\n', "alerts.urls"),
        (f'[alerts]\nurls = ["json://127.0.0.1/", "bogus://{SECRET}/x"]\n', "alerts.urls[1]"),
        (f'[alerts]\nurls = ["{SECRET}"]\n', "alerts.urls[0]"),
        ("[alerts]\nurls = [{tags = ['x']}]\n", "alerts.urls[0].url"),
        ('[alerts]\nurls = [{url = "json://127.0.0.1/", tags = ["all"]}]\n', "alerts.urls[0].tags"),
        ('[alerts]\nurls = [{url = "json://127.0.0.1/", tag = ["a"]}]\n', "alerts.urls[0].tag"),
        ('[[alerts.routes]]\nkinds = ["mic"]\ntags = ["x"]\n', "alerts.routes[0].kinds[0]"),
        ('[[alerts.routes]]\nkinds = ["sensitive_use_started"]\n', "alerts.routes[0].tags"),
        ("[alerts.retry]\nattempts = 0\n", "alerts.retry.attempts"),
        ("[alerts.retry]\nattempts = 2.5\n", "alerts.retry.attempts"),
        ("[alertz]\n", "alertz"),
    ],
)
def test_configuration_errors_name_the_file_and_the_key(
    tmp_path: Path, text: str, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tetherguard.toml"
    path.write_text(text)
    with caplog.at_level("DEBUG"), pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.source == str(path) and caught.value.key == key
    assert str(caught.value).startswith(f"{path}: {key}: ")
    assert SECRET not in str(caught.value) and SECRET not in caplog.text


def test_unreadable_files_and_bad_variables_are_named(tmp_path: Path) -> None:
    path = tmp_path / "tetherguard.toml"
    path.write_text('[alerts]\nurls = ["json://x/"\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: not valid TOML"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match=r"missing\.toml: no such file"):
        load_config(tmp_path / "missing.toml", env={})
    path.write_text("")
    for name, value in (
        ("TETHERGUARD_ALERTS_WINDOW_S", "soon"),
        ("TETHERGUARD_ALERTS_ON_DEVICE", "maybe"),
        ("TETHERGUARD_ALERTS_QUIET_HOURS", "night"),
        ("TETHERGUARD_APPRISE_URLS", f"bogus://{SECRET}"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={name: value})
        assert str(caught.value).startswith(f"environment: {name}")
        assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("tgram://123456789:AAEhBOweik9ad9r/987654321", "tgram://***"),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://***"),
        ("mailto://me:app-password@gmail.com", "mailto://gmail.com"),
        ("ntfys://ntfy.sh/secret-topic", "ntfys://ntfy.sh"),
        ("ntfy://secret-topic", "ntfy://***"),
        (f"json://tg:{SECRET}@127.0.0.1:8080/hook?token={SECRET}", "json://127.0.0.1"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7", "slack://***"),
        ("not a url", "***"),
    ],
)
def test_urls_are_shown_as_scheme_and_host_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# --------------------------------------------------------------------------- delivery
@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_an_alert_reaches_a_json_target_with_escaped_text(fmt: str, store: Store) -> None:
    label = HOSTILE["html"] + HOSTILE["osc8"] + HOSTILE["rtl"]
    facts = Facts(labels={"com.example.app": label}, models={"SIM-1": "Pixel\x1b[5m 8"})
    with http_hook() as hook:
        url = hook.url("hook", query="" if fmt == "text" else f"format={fmt}")
        cfg = config([target(url, "hook")])
        with Alerter(cfg, store, facts=facts, tick_s=0.05) as alerter:
            ev = event(op="RECORD_AUDIO", foreground=False, installer=HOSTILE["markdown"])
            alerter(ev)
            assert alerter.drain()
        assert alerter.counters.sent == 1
        [(path, payload)] = hook.received
    assert path == "/hook"
    title, body = payload["title"], payload["message"]
    assert title == "tetherguard: Microphone used in the background"
    # The model's ESC shows as the text \x1b (in Markdown, its backslash and bracket escaped).
    model = {"text": r"Pixel\x1b[5m 8", "markdown": r"Pixel\\x1b\[5m 8", "html": r"Pixel\x1b[5m 8"}
    assert f"in the background on {model[fmt]}" in body
    for text in (title, body):
        assert not UNSAFE.search(text)
    if fmt == "text":  # plain text needs no markup escaping, only printable text
        assert "by <script>alert(1)</script><b>x</b>&amp;\\x1b]8;;https://evil.example" in body
        assert "\\u202egpj.exe (com.example.app)" in body
        assert "installer=**bold** [x](https://evil.example)" in body
    if fmt == "markdown":
        assert not re.search(r"(?<!\\)[\[\]<>*_`]", body), body
        assert "\\*\\*bold\\*\\* \\[x\\]\\(https\\:\\/\\/evil\\.example\\)" in body
    if fmt == "html":
        assert "<" not in body.replace("<br>", ""), body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    [row] = store.deliveries(ev.id)
    assert (row.target, row.status, row.attempts, row.last_error) == ("hook", "delivered", 1, None)


def test_a_dead_target_is_retried_then_recorded_as_failed_without_its_secret(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"json://tg:{SECRET}@127.0.0.1:{closed_port()}/hook?token={SECRET}"
    path = store.path.with_name("tetherguard.toml")
    path.write_text(
        f'[alerts]\nurls = ["{dead}"]\n[alerts.retry]\nattempts = 3\nbackoff_s = 0.02\n'
    )
    with caplog.at_level("DEBUG"):
        cfg = load_config(path, env={}).alerts
        assert cfg.targets[0].name == "json://127.0.0.1"
        cfg = replace(cfg, on_device=False)
        with http_hook() as live:
            cfg = replace(cfg, targets=(*cfg.targets, target(live.url("ok"), "live")))
            alerter = Alerter(cfg, store, tick_s=0.02).start()
            ev = event()
            alerter(ev)
            wait_for(lambda: alerter.counters.failed == 1, timeout=20)
            assert alerter.close()
            assert len(live.received) == 1  # the live target got it once, not once per retry
    rows = {r.target: r for r in store.deliveries(ev.id)}
    assert rows["live"].status == "delivered"
    failed = rows["json://127.0.0.1"]
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.last_error is not None and "connection" in failed.last_error.lower()
    assert [r.event_id for r in store.deliveries(status=("failed", "pending", "held"))] == [ev.id]
    assert alerter.counters.sent == 1 and alerter.counters.failed == 1
    assert "failed after 3 attempt(s)" in caplog.text
    everything = caplog.text + repr(store.deliveries()) + repr(cfg)
    assert SECRET not in everything


def test_the_engine_callback_never_blocks_on_a_hanging_target(store: Store) -> None:
    with http_hook(delay=3.0) as slow:
        cfg = config(
            [target(slow.url("slow", query="rto=0.3&cto=0.3"), "slow")],
            queue_size=2,
            retry=Retry(attempts=1),
        )
        alerter = Alerter(cfg, store, tick_s=0.05).start()
        events = [event(package=f"com.example.app{i}") for i in range(50)]
        durations = []
        for ev in events:
            started = time.perf_counter()
            alerter(ev)
            durations.append(time.perf_counter() - started)
        assert max(durations) < 0.1, max(durations)
        assert alerter.counters.dropped >= 45  # one in flight, two queued, the rest counted
        alerter.close(timeout=10)
    counters = alerter.counters
    assert counters.failed + counters.dropped == 50
    rows = store.deliveries(status="failed")
    assert len(rows) == 50  # every event is on record as not delivered, dropped ones included
    assert sum(1 for r in rows if r.last_error == "not alerted: the alert queue was full") == (
        counters.dropped
    )


# --------------------------------------------------------------------------- rate limit, quiet
def test_one_alert_per_window_then_a_summary(sink: list[Sent], store: Store) -> None:
    clock = FakeClock(1_700_000_000.0)
    cfg = config([target("tgsink://all", "sink")], window_s=300)
    with Alerter(cfg, store, clock=clock, tick_s=0.05) as alerter:
        burst = [event(ts=clock.now + i) for i in range(5)]
        for ev in burst:
            alerter(ev)
            clock.advance(1)
        camera = event(op="CAMERA", foreground=False)
        alerter(camera)  # another op of the same app: its own alert
        assert alerter.drain()
        assert [s.title for s in sink] == [
            "tetherguard: Microphone used in the background",
            "tetherguard: Camera used in the background",
        ]
        assert alerter.counters.suppressed == 4
        clock.advance(290)  # 296 s after the first: still inside the window
        assert alerter.drain() and len(sink) == 2
        clock.advance(10)
        assert alerter.drain()
        summary = sink[2]
        assert summary.title == "tetherguard: 4 more alerts of the same kind"
        assert summary.body.startswith(
            "4 more in the last 5 min: Microphone used by com.example.app in the background"
        )
        later = event()
        alerter(later)  # a new window: sent at once
        assert alerter.drain() and len(sink) == 4
    statuses = [store.deliveries(ev.id)[0] for ev in burst]
    assert [r.status for r in statuses] == ["delivered"] + ["suppressed"] * 4
    assert {r.note for r in statuses[1:]} == {"counted in a summary"}
    assert store.deliveries(later.id)[0].status == "delivered"


def test_quiet_hours_hold_all_but_high_alerts_and_summarise_after(
    sink: list[Sent], store: Store
) -> None:
    night = calendar.timegm((2025, 1, 10, 23, 30, 0))
    clock = FakeClock(night)
    cfg = config([target("tgsink://all", "sink")], quiet_hours=QuietHours(dt.time(22), dt.time(7)))
    with Alerter(cfg, store, clock=clock, localtime=time.gmtime, tick_s=0.05) as alerter:
        medium = [
            event(
                "permission_granted", severity=Severity.MEDIUM, permission="android.permission.X"
            ),
            event("silent_install", package="com.other", severity=Severity.MEDIUM),
        ]
        high = event("device_admin", severity=Severity.HIGH)
        for ev in (*medium, high):
            alerter(ev)
        assert alerter.drain()
        assert [s.title for s in sink] == ["tetherguard: Device admin"]
        assert alerter.counters.held == 2
        assert {store.deliveries(ev.id)[0].status for ev in medium} == {"held"}
        clock.now = calendar.timegm((2025, 1, 11, 6, 59, 0))
        assert alerter.drain() and len(sink) == 1
        clock.now = calendar.timegm((2025, 1, 11, 7, 0, 0))
        assert alerter.drain()
    summary = sink[1]
    assert summary.title == "tetherguard: 2 alerts held during quiet hours"
    assert summary.body.splitlines()[:3] == [
        "2 alerts held during quiet hours (22:00-07:00):",
        "- Permission android.permission.X granted to com.example.app without consent on SIM-1",
        "- Silent install: com.other on SIM-1",
    ]
    rows = [store.deliveries(ev.id)[0] for ev in medium]
    assert {(r.status, r.note) for r in rows} == {("delivered", "in the summary after quiet hours")}


def test_routes_send_kinds_and_severities_to_tagged_targets(sink: list[Sent], store: Store) -> None:
    cfg = config(
        [
            target("tgsink://pager", "pager", {"pager"}),
            target("tgsink://mail", "mail", {"mail"}),
            target("tgsink://everything", "everything"),
        ],
        routes=(
            Route(tags=frozenset({"pager"}), kinds=frozenset({"sensitive_use_started"}),
                  min_severity=Severity.HIGH),
            Route(tags=frozenset({"mail"}), min_severity=Severity.MEDIUM),
        ),
        min_severity=Severity.LOW,
        window_s=0,
    )  # fmt: skip
    cases = {
        "mic high": (event(severity=Severity.HIGH), {"pager", "mail", "everything"}),
        "mic medium": (event(severity=Severity.MEDIUM), {"mail", "everything"}),
        "install high": (event("silent_install"), {"mail", "everything"}),
        "grant low": (
            event("permission_granted", severity=Severity.LOW, permission="p.Q"),
            {"everything"},
        ),
        "info": (event("package_installed", severity=Severity.INFO), set()),
        "consented": (event("package_installed", consent=Consent.USER), set()),
    }
    with Alerter(cfg, store, tick_s=0.05) as alerter:
        for name, (ev, expected) in cases.items():
            sink.clear()
            alerter(ev)
            assert alerter.drain()
            assert {s.host for s in sink} == expected, name
            for sent in sink:  # apprise was asked with the route's tags
                assert sent.tags == ([] if sent.host == "everything" else [sent.host]), name
    assert {r.target for r in store.deliveries(cases["mic high"][0].id)} == {
        "pager",
        "mail",
        "everything",
    }


# --------------------------------------------------------------------------- hostile strings
@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("fmt", list(TextFormat))
def test_hostile_device_strings_are_escaped_in_every_format(name: str, fmt: TextFormat) -> None:
    hostile = HOSTILE[name]
    ev = event(
        "permission_granted",
        serial="SER" + hostile[:40],
        package="com.x" + hostile,
        permission=hostile,
        installer=hostile,
    )
    message = describe(ev, label=hostile, model=hostile)
    assert message.title == "tetherguard: Permission granted without consent"
    body = render(message, fmt)
    assert not UNSAFE.search(body)
    assert len(body) < 12 * (PART_MAX + 60)  # a 10 KB label is cut, not relayed
    if fmt is TextFormat.MARKDOWN:
        assert not re.search(r"(?<!\\)[\[\]<>*_`]", body), body
    if fmt is TextFormat.HTML:
        assert "<" not in body.replace("<br>", ""), body


# --------------------------------------------------------------------------- alerts test
def test_alerts_test_reports_each_target_and_exits_3_when_one_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with http_hook() as hook:
        path = tmp_path / "tetherguard.toml"
        dead = f"json://tg:{SECRET}@127.0.0.1:{closed_port()}/"
        path.write_text(
            f'[alerts]\nurls = ["{hook.url("ok", auth=True)}", {{url = "{dead}", name = "dead"}}]\n'
        )
        code = main(["alerts", "test", "--config", str(path), "--no-device"])
        out = capsys.readouterr().out
        assert len(hook.received) == 1
        assert hook.received[0][1]["title"] == "tetherguard: test alert"
    lines = out.splitlines()
    assert code == 3
    assert lines[0] == "OK       json://127.0.0.1"
    assert lines[1].startswith("FAILED   dead: ")
    assert SECRET not in out
    path.write_text("[alerts]\non_device = false\n")
    assert main(["alerts", "test", "--config", str(path)]) == 2
    path.write_text('[alerts]\nwindow_s = "x"\n')
    assert main(["alerts", "test", "--config", str(path)]) == 2
    assert f"{path}: alerts.window_s: " in capsys.readouterr().err


# --------------------------------------------------------------------------- on the phone
@pytest.mark.parametrize("profile", ["pixel8-a15", "fire-hd10-a9"])
def test_a_finding_shows_on_the_phone_itself_from_android_10(
    profile: str,
    host: SimHost,
    client: AdbClient,
    plug: Plug,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    device = plug(profile)
    sdk = device.state.build.sdk
    engine = Engine(client, store, interval=0.1, serials=[device.serial], sweep_every=3)
    alerter = Alerter(AlertsConfig(), store, client=client, tick_s=0.05)  # on_device by default
    try:
        with caplog.at_level("INFO"):
            engine.subscribe(alerter)
            alerter.start()
            engine.start()
            wait_for(lambda: store.load_snapshot(device.serial) is not None)
            for step in load_scenario("grant-without-consent").steps:
                host.call(lambda s=step: apply_step(device.state, s))
            wait_for(lambda: any(e.kind == "permission_granted" for e in store.events()))
            assert alerter.drain()
            engine.stop()
            assert alerter.close()
        [found] = [e for e in store.events() if e.kind == "permission_granted"]
        notes = list(device.state.notifications)
        if sdk >= 29:
            [(_, tag, text)] = notes
            model = device.state.build.model
            assert tag.startswith("tg-")
            assert text == (
                "Permission android.permission.READ_CONTACTS granted to com.sina.weibo "
                f"without consent on {model}"
            )
            [row] = store.deliveries(found.id)
            assert (row.target, row.status) == (f"device:{device.serial}", "delivered")
            # A hostile label reaches the phone printable and capped.
            hostile = describe(found, label=HOSTILE["osc8"] + HOSTILE["10k"], model=model)
            assert DeviceChannel(client, device.serial, sdk).send(hostile, frozenset()).ok
            _, _, shown = device.state.notifications[-1]
            assert not UNSAFE.search(shown) and len(shown) <= 240
        else:
            # Android 9 has no `cmd notification post`: nothing is sent, nothing complains.
            assert notes == []
            assert store.deliveries(found.id) == []
            assert not [r for r in caplog.records if r.name.startswith("agent.alerts")]
            assert alerter.counters.failed == 0
            # Without knowing the API level it is tried, refused, and reported as unavailable.
            outcome = DeviceChannel(client, device.serial).send(describe(found), frozenset())
            assert (outcome.ok, outcome.unavailable) == (False, True)
            assert "Unknown command" in outcome.reason
    finally:
        engine.stop()
        alerter.close()


def test_watch_alerts_through_the_configured_target_and_the_phone(
    host: SimHost,
    plug: Plug,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    device = plug("pixel6a-a14")
    with http_hook() as hook:
        path = tmp_path / "tetherguard.toml"
        path.write_text(f'[alerts]\nurls = ["{hook.url("watch", auth=True)}"]\n')
        argv = ["watch", "--once", "--serial", device.serial, "--store", str(tmp_path / "db")]
        assert main([*argv, "--config", str(path)]) == 0  # the first look: the baseline
        for step in load_scenario("grant-without-consent").steps:
            host.call(lambda s=step: apply_step(device.state, s))
        assert main([*argv, "--config", str(path)]) == 1  # a finding
        [(_, payload)] = hook.received  # delivered before `watch --once` returned
    assert payload["title"] == "tetherguard: Permission granted without consent"
    assert [text for _, _, text in device.state.notifications] == [
        "Permission android.permission.READ_CONTACTS granted to com.sina.weibo without "
        f"consent on {device.state.build.model}"
    ]
    with Store.open(tmp_path / "db") as store:
        rows = store.deliveries()
    assert {(r.target, r.status) for r in rows} == {
        ("json://127.0.0.1", "delivered"),
        (f"device:{device.serial}", "delivered"),
    }
    assert SECRET not in capsys.readouterr().err


def test_watch_keeps_watching_while_the_alert_target_is_down_and_delivers_when_it_is_back(
    host: SimHost, adb_server: AdbServer, plug: Plug, tmp_path: Path
) -> None:
    """What a user of ``watch`` sees with a webhook that is down: every change shown and stored
    at once; the alert retried and delivered when the webhook is back (in the same run, or -
    when watch was stopped before it came back - at the next start); one given up on said on
    stderr and kept on record; the webhook's secret never shown anywhere."""
    device = plug("pixel6a-a14")
    weibo = "com.sina.weibo"
    port = closed_port()  # nothing listens there yet
    url = f"json://tg:{SECRET}@127.0.0.1:{port}/watch?-token={SECRET}"
    path = tmp_path / "tetherguard.toml"
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    argv = ["--interval", "0.2", "--no-host", "--serial", device.serial, "--config", str(path)]
    db = tmp_path / "data" / "tetherguard.db"
    webhook = "json://127.0.0.1"  # as the target is named: scheme and host only

    def configure(attempts: int) -> None:
        path.write_text(
            f'[alerts]\nurls = ["{url}"]\n[alerts.retry]\nattempts = {attempts}\n'
            "backoff_s = 0.3\nmax_backoff_s = 1\n"
        )

    def grant(watch: Watching, local: Store, permission: str) -> str:
        """A grant nobody consented to; the id of its event, once watch has shown it."""
        host.call(lambda: device.state.grant(weibo, 0, permission))
        wait_for(lambda: any(permission in line for line in watch.out))
        [line] = [line for line in watch.out if permission in line]
        assert " ! " in line and "permission_granted" in line  # shown as a finding
        [found] = [e for e in local.events() if e.detail.get("permission") == permission]
        assert watch.running
        return found.id

    def record(event_id: str) -> DeliveryRecord | None:
        rows = local.deliveries(event_id, target=webhook)
        return rows[0] if rows else None

    configure(attempts=20)  # plenty (20 s): the webhook is back before they are used up
    with Watching(*argv, env=env) as first:
        first.until(db.exists)
        with Store.open(db) as local:
            wait_for(lambda: local.load_snapshot(device.serial) is not None)
            contacts = grant(first, local, "android.permission.READ_CONTACTS")
            # tried, failed, and waiting for the next try: on record, with the reason
            wait_for(lambda: (r := record(contacts)) is not None and r.attempts >= 2, timeout=20)
            waiting = record(contacts)
            assert waiting is not None and waiting.status == "pending"
            assert "connection error" in (waiting.last_error or "").lower()
            # and said on stderr as it happens, a line per try, naming the host only
            said = [line for line in first.err if "connection error" in line.lower()]
            assert said and all("127.0.0.1" in line for line in said), first.stderr
            assert not any(f":{port}" in line or "/watch" in line for line in first.err)
            # tetherguard says the target is down once, at its first failure, not at each try
            ours = [line for line in first.err if f"alerts: {webhook} failed (attempt" in line]
            assert len(ours) == 1 and "(attempt 1 of 20), retrying" in ours[0], first.stderr
            with http_hook(port=port) as hook:  # the webhook is back
                wait_for(lambda: len(hook.received) == 1, timeout=20)
                wait_for(lambda: getattr(record(contacts), "status", "") == "delivered")
                time.sleep(1.5)  # no second copy
            assert len(hook.received) == 1
            assert [ln for ln in first.err if f"alerts: {webhook} delivers again" in ln]
            [(_, payload)] = hook.received
            assert payload["title"] == "tetherguard: Permission granted without consent"
            assert "android.permission.READ_CONTACTS" in payload["message"]

            # down again; watch is stopped before the webhook comes back
            camera = grant(first, local, "android.permission.CAMERA")
            wait_for(lambda: getattr(record(camera), "attempts", 0) >= 2, timeout=20)
            started = time.monotonic()
            assert first.stop() == 1  # Ctrl-C: a normal end, with findings reported
            assert time.monotonic() - started < 15  # not held up by the dead webhook
            left = record(camera)
            assert left is not None
            assert (left.status, left.note) == (
                "pending",
                "tetherguard stopped before the next retry",
            )
            assert "connection error" in (left.last_error or "").lower()  # why, still on record

    configure(attempts=2)
    with contextlib.ExitStack() as running:
        with http_hook(port=port) as hook, Store.open(db) as local:
            second = running.enter_context(Watching(*argv, env=env))
            # the next start sends what the last run left undelivered, and only that
            wait_for(lambda: len(hook.received) == 1, timeout=30)
            wait_for(lambda: getattr(record(camera), "status", "") == "delivered")
            sent = record(camera)
            assert sent is not None and sent.note == "sent after a restart"
            time.sleep(1.5)
            [(_, payload)] = hook.received
            assert "android.permission.CAMERA" in payload["message"]
            assert [r.status for r in local.deliveries(contacts, target=webhook)] == ["delivered"]
        # down for good: two attempts, then given up, said on stderr and kept on record
        with Store.open(db) as local:
            wait_for(lambda: local.load_snapshot(device.serial) is not None)
            location = grant(second, local, "android.permission.ACCESS_FINE_LOCATION")
            wait_for(lambda: getattr(record(location), "status", "") == "failed", timeout=20)
            wait_for(lambda: any("failed after 2 attempt(s)" in line for line in second.err))
            [given_up] = [line for line in second.err if "failed after 2 attempt(s)" in line]
            assert webhook in given_up and "connection error" in given_up.lower()
            assert second.running
            assert [r.event_id for r in local.deliveries(status="failed")] == [location]
        assert second.stop() == 1

    for run in (first, second):
        err = run.stderr
        assert SECRET not in err and "Traceback" not in err, err
        assert SECRET not in "\n".join(run.out)
    with Store.open(db) as local:
        assert SECRET not in repr(local.deliveries())


def test_the_readme_example_is_a_valid_configuration(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    example = readme.split("## Alerts", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    path = tmp_path / "tetherguard.toml"
    path.write_text(example)
    alerts = load_config(path, env={}).alerts
    assert [t.name for t in alerts.targets] == ["ntfys://ntfy.sh", "tgram://***", "owner mail"]
    assert str(alerts.quiet_hours) == "22:00-07:00" and len(alerts.routes) == 2


def test_a_store_of_the_previous_schema_gains_the_deliveries_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.store

    full = agent.store.MIGRATIONS
    ev = event()
    with monkeypatch.context() as patch:  # a store as the release before alerts left it
        patch.setattr(agent.store, "MIGRATIONS", full[:1])
        patch.setattr(agent.store, "SCHEMA_VERSION", 1)
        with Store.open(tmp_path / "tg.db") as old:
            old.record_events([ev])
    with Store.open(tmp_path / "tg.db") as store:
        assert store.schema_version == len(full) >= 2
        assert store.event(ev.id) == ev
        assert store.deliveries() == []
        alerter = Alerter(config([]), store).start()
        alerter(ev)  # no target at all: nothing recorded, nothing raised
        assert alerter.close()


# --------------------------------------------------------------------------- after a restart
def test_alerts_left_undelivered_are_sent_at_the_next_start(store: Store) -> None:
    dead = target(f"json://127.0.0.1:{closed_port()}/hook", "hook")
    cfg = config([dead], retry=Retry(attempts=5, backoff_s=60))
    first, second = event(package="com.first"), event(package="com.second")
    store.record_events([first, second])  # the engine records before it publishes
    with Alerter(cfg, store, tick_s=0.05) as alerter:
        alerter(first)
        alerter(second)
        assert alerter.drain()
    # Stopped before the retry: still pending, not given up.
    assert {r.status for r in store.deliveries()} == {"pending"}
    with http_hook() as live:
        cfg = config([target(live.url("hook"), "hook")])
        with Alerter(cfg, store, tick_s=0.05) as alerter:
            wait_for(lambda: len(live.received) == 2)
            assert alerter.drain()
        bodies = sorted(payload["message"] for _, payload in live.received)
    assert "com.first" in bodies[0] and "com.second" in bodies[1]
    rows = store.deliveries()
    assert {(r.status, r.note) for r in rows} == {("delivered", "sent after a restart")}
    with http_hook() as live:  # delivered ones are not sent again
        with Alerter(config([target(live.url("hook"), "hook")]), store, tick_s=0.05) as alerter:
            assert alerter.drain()
        assert live.received == []


def test_many_undelivered_alerts_become_one_summary_and_stale_ones_stay_on_record(
    sink: list[Sent], store: Store
) -> None:
    clock = FakeClock(1_700_000_000.0)
    events = [event(package=f"com.app{i}", ts=clock.now) for i in range(6)]
    store.record_events(events)
    old = DeliveryRecord(events[0].id, "sink", "pending", 2, "timeout", None, clock.now - 90_000)
    fresh = [
        DeliveryRecord(e.id, "sink", "pending", 1, "timeout", None, clock.now - 60)
        for e in events[1:5]
    ]
    gone = DeliveryRecord(events[5].id, "old target", "pending", 1, "timeout", None, clock.now)
    store.record_deliveries([old, *fresh, gone])
    cfg = config([target("tgsink://all", "sink")])
    with Alerter(cfg, store, clock=clock, tick_s=0.05) as alerter:
        assert alerter.drain()
    [summary] = sink
    assert summary.title == "tetherguard: 4 undelivered alerts"
    assert summary.body.splitlines()[0] == (
        "4 alerts could not be delivered before tetherguard restarted:"
    )
    assert all(f"com.app{i}" in summary.body for i in range(1, 5))
    assert "com.app0" not in summary.body
    rows = {r.event_id: r for r in store.deliveries()}
    assert rows[events[0].id].status == "failed"
    assert rows[events[0].id].note == "not resent: older than 1440 min"
    assert rows[events[5].id].note == "not resent: the target is no longer configured"
    assert {rows[e.id].status for e in events[1:5]} == {"delivered"}


def test_alerts_held_for_quiet_hours_survive_a_restart(sink: list[Sent], store: Store) -> None:
    night = calendar.timegm((2025, 1, 10, 23, 30, 0))
    clock = FakeClock(night)
    quiet = QuietHours(dt.time(22), dt.time(7))
    cfg = config([target("tgsink://all", "sink")], quiet_hours=quiet)
    held = event("silent_install", package="com.other", severity=Severity.MEDIUM, ts=night)
    store.record_events([held])
    with Alerter(cfg, store, clock=clock, localtime=time.gmtime, tick_s=0.05) as alerter:
        alerter(held)
        assert alerter.drain()
    assert sink == [] and store.deliveries(held.id)[0].status == "held"
    clock.now = calendar.timegm((2025, 1, 11, 7, 30, 0))  # restarted after the quiet hours
    with Alerter(cfg, store, clock=clock, localtime=time.gmtime, tick_s=0.05) as alerter:
        assert alerter.drain()
    assert [s.title for s in sink] == ["tetherguard: 1 alert held during quiet hours"]
    assert store.deliveries(held.id)[0].status == "delivered"
