"""The regulation report: one self-contained HTML page of what the store recorded over a period,
per phone and app, and what was observed against each clause of the regulations.

For researchers and owners: a timeline plot per phone (matplotlib, drawn as inline SVG, so the
page needs nothing else), the permission changes with their consent verdicts, the installs with
their source, the findings, the actions taken; then a section per clause (CAC Art.7(4), 7(6);
MIIT I.1, I.3, I.6, I.10, II.(4).10-12) saying what was seen against it, each piece of evidence
a link to its event in the page's event list.

Everything from a phone is escaped (``html.escape``): a label may carry markup.
"""

from __future__ import annotations

import html
import io
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from agent.events import Consent, Event
from agent.store import AuditRecord, Store

USE_LANES: Final = {
    "RECORD_AUDIO": "microphone",
    "PHONE_CALL_MICROPHONE": "microphone",
    "CAMERA": "camera",
    "PHONE_CALL_CAMERA": "camera",
    "FINE_LOCATION": "location",
    "COARSE_LOCATION": "location",
    "READ_CLIPBOARD": "clipboard",
    "READ_CONTACTS": "contacts",
}
LANES: Final = (
    "microphone",
    "camera",
    "location",
    "clipboard",
    "contacts",
    "other use",
    "autostart",
    "associated start",
    "permission change",
    "install / update",
)
PERMISSION_KINDS: Final = (
    "permission_granted",
    "permission_revoked",
    "permission_flags_changed",
    "appop_changed",
)
INSTALL_KINDS: Final = (
    "package_installed",
    "package_updated",
    "package_removed",
    "silent_install",
    "bundled_install",
    "hot_update",
    "signer_changed",
)
Writer = Callable[[str], None]

EVIDENCE_SHOWN: Final = 12
"""Evidence links listed per clause (the rest counted)."""
EVENTS_LISTED: Final = 2_000
"""Events in the page's list (the newest; the rest counted: export has them all)."""


@dataclass(frozen=True)
class Clause:
    code: str
    title: str
    kinds: tuple[str, ...]
    findings_only: bool = False
    """Only events without consent are evidence (a consented grant is no breach)."""


CLAUSES: Final = (
    Clause(
        "CAC Art.7(4)",
        "Right to know and choose at install and use time; no bundled installs of unrelated apps",
        ("silent_install", "bundled_install", "package_installed"),
        findings_only=True,
    ),
    Clause("CAC Art.7(6)", "Keep user log records for at least sixty days", ()),
    Clause(
        "MIIT I.1",
        "Informed consent for installs; no silent download",
        ("silent_install", "package_installed"),
        findings_only=True,
    ),
    Clause(
        "MIIT I.3",
        "Easy uninstall: not blocked by blank names, hidden icons or device administration",
        ("hidden_app", "device_admin"),
    ),
    Clause(
        "MIIT I.6",
        "No unreasonable autostart or associated start of other apps",
        ("autostart", "associated_start"),
    ),
    Clause(
        "MIIT I.10",
        "No change of permission status without the user's consent",
        PERMISSION_KINDS,
        findings_only=True,
    ),
    Clause(
        "MIIT II.(4).10",
        "Let users close autostart and associated start; watch silent download and hot update",
        ("hot_update", "silent_install", "autostart", "associated_start"),
    ),
    Clause(
        "MIIT II.(4).11",
        "Records of permission use users can query; obvious prompts for the microphone, "
        "camera, location, clipboard and address book",
        ("sensitive_use_started",),
    ),
    Clause(
        "MIIT II.(4).12",
        "Signature checks; warnings about counterfeit or risky apps",
        ("signer_changed",),
    ),
)


@dataclass
class _Device:
    serial: str
    points: dict[str, list[tuple[float, bool]]] = field(default_factory=lambda: defaultdict(list))
    apps: Counter[str] = field(default_factory=Counter)
    findings: int = 0
    events: int = 0


@dataclass
class ReportData:
    since: float
    until: float
    devices: dict[str, _Device] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)
    evidence: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))
    evidence_count: Counter[str] = field(default_factory=Counter)
    permission_changes: list[Event] = field(default_factory=list)
    installs: list[Event] = field(default_factory=list)
    listed: deque[Event] = field(default_factory=lambda: deque(maxlen=EVENTS_LISTED))
    total: int = 0
    findings: int = 0
    first_ts: float | None = None
    actions: list[AuditRecord] = field(default_factory=list)
    retention_days: float = 0.0


def _lane(event: Event) -> str | None:
    if event.kind == "sensitive_use_started":
        return USE_LANES.get(str(event.detail.get("op")), "other use")
    if event.kind == "autostart":
        return "autostart"
    if event.kind == "associated_start":
        return "associated start"
    if event.kind in PERMISSION_KINDS:
        return "permission change"
    if event.kind in INSTALL_KINDS:
        return "install / update"
    return None


def gather(
    events: Iterable[Event],
    actions: Sequence[AuditRecord],
    since: float,
    until: float,
    retention_days: float,
) -> ReportData:
    """One pass over the events (streamed): what the page needs, bounded in size."""
    data = ReportData(since, until, actions=list(actions), retention_days=retention_days)
    for e in events:
        data.total += 1
        data.first_ts = e.ts if data.first_ts is None else min(data.first_ts, e.ts)
        data.kinds[e.kind] += 1
        device = data.devices.setdefault(e.serial, _Device(e.serial))
        device.events += 1
        if e.finding:
            data.findings += 1
            device.findings += 1
        lane = _lane(e)
        if lane is not None:
            device.points[lane].append((e.ts, e.finding))
            if e.package:
                device.apps[e.package] += 1
        for clause in CLAUSES:
            if e.kind in clause.kinds and (e.finding or not clause.findings_only):
                data.evidence_count[clause.code] += 1
                if len(data.evidence[clause.code]) < EVIDENCE_SHOWN:
                    data.evidence[clause.code].append(e)
        if e.kind in PERMISSION_KINDS and len(data.permission_changes) < EVENTS_LISTED:
            data.permission_changes.append(e)
        if e.kind in INSTALL_KINDS and len(data.installs) < EVENTS_LISTED:
            data.installs.append(e)
        data.listed.append(e)
    return data


def build(
    store: Store,
    *,
    since: float,
    until: float | None = None,
    serials: Sequence[str] = (),
) -> str:
    """The report's HTML for the store's records in ``[since, until)``."""
    until = time.time() if until is None else until
    one = serials[0] if len(serials) == 1 else None
    events = (
        e
        for e in store.events(since=since, until=until, serial=one)
        if not serials or e.serial in serials
    )
    actions = [
        a for a in store.audit(since=since) if a.ts < until and (not serials or a.serial in serials)
    ]
    data = gather(events, actions, since, until, store.retention_days)
    return render(data)


# ---------------------------------------------------------------------------- rendering
def _t(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _anchor(event: Event) -> str:
    return f"ev-{_e(event.id)}"


def _what(event: Event) -> str:
    d = event.detail
    parts = [
        f"{k}={d[k]}"
        for k in ("permission", "op", "mode", "previous", "installer", "reason", "caller")
        if d.get(k) not in (None, "")
    ]
    if event.kind.startswith("sensitive_use") and d.get("foreground") is not None:
        parts.append("foreground" if d["foreground"] else "background")
    return ", ".join(parts)


def _num(ts: float) -> float:
    """Epoch seconds as matplotlib's date number (days since its epoch)."""
    from matplotlib import dates as mdates

    return float(mdates.date2num(datetime.fromtimestamp(ts, UTC)))  # type: ignore[no-untyped-call]


def timeline_svg(device: _Device, since: float, until: float) -> str:
    """The phone's sensitive uses, starts, permission changes and installs over the period:
    one lane each, red where nobody consented. Drawn with matplotlib, returned as SVG."""
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure  # not pyplot: no global state, no display

    fig = Figure(figsize=(11, 3.6), dpi=96)
    ax = fig.add_subplot()
    lanes = [lane for lane in LANES if device.points.get(lane)] or ["(nothing recorded)"]
    for y, lane in enumerate(lanes):
        pts = device.points.get(lane, [])
        for finding, color, label in (
            (False, "#4a7fb5", "consented"),
            (True, "#d62728", "no consent"),
        ):
            xs = [_num(ts) for ts, f in pts if f is finding]
            if xs:
                ax.scatter(xs, [y] * len(xs), s=14, color=color, alpha=0.75, label=label, lw=0)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.3, -0.7)  # the first lane (the microphone) on top
    ax.set_xlim(_num(since), _num(until))
    ax.xaxis_date(tz=UTC)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    ax.grid(axis="x", alpha=0.3)
    # The serial is the phone's: plain text, never matplotlib's $math$ (a stray $ would fail).
    ax.set_title(
        f"{device.serial}: what happened, when (UTC)", fontsize=10, loc="left", parse_math=False
    )
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize=8)
    fig.tight_layout()
    out = io.StringIO()
    fig.savefig(out, format="svg")
    svg = out.getvalue()
    return svg[svg.index("<svg") :]  # inline: without the XML prolog and doctype


CSS: Final = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 24px; color: #1d232a; background: #fff; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { margin-top: 36px; border-bottom: 2px solid #e3e7ec; }
h3 { margin-top: 24px; } .muted { color: #5b6570; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 8px 0 16px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e7ec;
         vertical-align: top; }
th { background: #f4f6f8; position: sticky; top: 0; }
.finding { color: #b3261e; font-weight: 600; } .ok { color: #2e7d32; }
.clause { border-left: 4px solid #4a7fb5; padding: 4px 14px; margin: 14px 0; background: #f8fafc; }
.clause.seen { border-color: #d62728; } .cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { background: #f4f6f8; border-radius: 8px; padding: 10px 16px; min-width: 140px; }
.card b { display: block; font-size: 22px; } svg { max-width: 100%; height: auto; }
a { color: #1f5fa8; } code { font-size: 12px; }
"""


def render(data: ReportData) -> str:
    parts: list[str] = []
    w = parts.append
    w("<!doctype html><html lang='en'><head><meta charset='utf-8'>")
    w("<meta name='viewport' content='width=device-width, initial-scale=1'>")
    w(f"<title>tetherguard report {_e(_t(data.since))} to {_e(_t(data.until))}</title>")
    w(f"<style>{CSS}</style></head><body>")
    w("<h1>tetherguard: what the phones did</h1>")
    w(f"<p class='muted'>From {_e(_t(data.since))} to {_e(_t(data.until))}; ")
    w(f"made {_e(_t(time.time()))}.</p>")
    w("<div class='cards'>")
    for label, value in (
        ("phones", len(data.devices)),
        ("events", data.total),
        ("without consent", data.findings),
        ("sensitive uses", data.kinds["sensitive_use_started"]),
        ("starts", data.kinds["autostart"] + data.kinds["associated_start"]),
        ("actions taken", len(data.actions)),
    ):
        w(f"<div class='card'><b>{value}</b>{_e(label)}</div>")
    w("</div>")

    w("<h2 id='clauses'>Against each clause</h2>")
    for clause in CLAUSES:
        _clause(w, data, clause)

    w("<h2 id='phones'>Per phone</h2>")
    for device in sorted(data.devices.values(), key=lambda d: d.serial):
        w(f"<h3 id='phone-{_e(device.serial)}'>{_e(device.serial)}</h3>")
        w(f"<p>{device.events} events, ")
        w(f"<span class='finding'>{device.findings} without consent</span>. ")
        top = ", ".join(f"{_e(p)} ({n})" for p, n in device.apps.most_common(8))
        w(f"Most active apps: {top or 'none'}.</p>")
        w(timeline_svg(device, data.since, data.until))

    _table(
        w, "permissions", "Permission changes, with the consent verdict", data.permission_changes
    )
    _table(w, "installs", "Installs, updates and removals, with their source", data.installs)
    _actions(w, data.actions)
    # Evidence is the first of its kind in the period, the table the newest: in a large report
    # the evidence cited above is older than the table, so it gets its rows too (a link must
    # always land).
    listed = {e.id for e in data.listed}
    cited = {e.id: e for kept in data.evidence.values() for e in kept if e.id not in listed}
    title = "Every event"
    if data.total > EVENTS_LISTED:
        title = f"The newest {EVENTS_LISTED:,} events"
        if cited:
            title += f", after the {len(cited)} older ones cited above"
    rows = [*sorted(cited.values(), key=lambda e: e.ts), *data.listed]
    _table(w, "events", title, rows, anchors=True)
    w("<p class='muted'>All records: <code>tetherguard export --output events.parquet</code>")
    w(" (add <code>--since</code> for this period).</p>")
    w("</body></html>")
    return "".join(parts)


def _clause(w: Writer, data: ReportData, clause: Clause) -> None:
    n = data.evidence_count[clause.code]
    if clause.code == "CAC Art.7(6)":
        kept = data.retention_days
        span = (data.until - data.first_ts) / 86400 if data.first_ts else 0.0
        verdict = "ok" if kept >= 60 else "finding"
        w(f"<div class='clause'><h3>{_e(clause.code)}: {_e(clause.title)}</h3>")
        w(
            f"<p>Records are kept <span class='{verdict}'>{kept:g} days</span> "
            f"(the clause asks for 60); the oldest record in this report is {span:.1f} days old. "
            "Every event below is queryable: <code>tetherguard events</code>, "
            "<code>tetherguard export</code>.</p></div>"
        )
        return
    seen = "seen" if n else ""
    w(f"<div class='clause {seen}'><h3>{_e(clause.code)}: {_e(clause.title)}</h3>")
    if not n:
        w("<p class='ok'>Nothing observed against this clause in the period.</p></div>")
        return
    what = "without the owner's consent" if clause.findings_only else "recorded"
    w(f"<p><b>{n}</b> event(s) {what}:</p><ul>")
    for e in data.evidence[clause.code]:
        mark = " class='finding'" if e.finding else ""
        w(
            f"<li><a href='#{_anchor(e)}'{mark}>{_e(_t(e.ts))} {_e(e.serial)} {_e(e.kind)} "
            f"{_e(e.package or '')}</a> {_e(_what(e))} (consent: {_e(e.consent.value)})</li>"
        )
    if n > len(data.evidence[clause.code]):
        w(f"<li>... and {n - len(data.evidence[clause.code])} more</li>")
    done = [a for a in data.actions if a.status == "done"]
    w("</ul>")
    if done and clause.code in ("MIIT I.6", "MIIT I.10", "MIIT II.(4).10", "MIIT II.(4).11"):
        w(f"<p>Actions taken on the phones in the period: {len(done)} (see Actions).</p>")
    w("</div>")


def _table(
    w: Writer, anchor: str, title: str, events: Sequence[Event], *, anchors: bool = False
) -> None:
    w(f"<h2 id='{anchor}'>{_e(title)}</h2>")
    if not events:
        w("<p class='muted'>None in the period.</p>")
        return
    w("<table><tr><th>time (UTC)</th><th>phone</th><th>user</th><th>app</th><th>kind</th>")
    w("<th>what</th><th>consent</th></tr>")
    for e in events:
        row_id = f" id='{_anchor(e)}'" if anchors else ""
        consent = "finding" if e.finding else ("ok" if e.consent is not Consent.NONE else "")
        w(
            f"<tr{row_id}><td>{_e(_t(e.ts))}</td><td>{_e(e.serial)}</td><td>{_e(e.user)}</td>"
            f"<td>{_e(e.package or '')}</td><td>{_e(e.kind)}</td><td>{_e(_what(e))}</td>"
            f"<td class='{consent}'>{_e(e.consent.value)}</td></tr>"
        )
    w("</table>")


def _actions(w: Writer, actions: Sequence[AuditRecord]) -> None:
    w("<h2 id='actions'>Actions taken</h2>")
    if not actions:
        w("<p class='muted'>None in the period.</p>")
        return
    w("<table><tr><th>time (UTC)</th><th>phone</th><th>who asked</th><th>action</th>")
    w("<th>app</th><th>status</th></tr>")
    for a in actions:
        target = a.target if isinstance(a.target, dict) else {}
        w(
            f"<tr><td>{_e(_t(a.ts))}</td><td>{_e(a.serial)}</td><td>{_e(a.actor)}</td>"
            f"<td>{_e(a.action)}</td><td>{_e(target.get('package'))}</td><td>{_e(a.status)}</td></tr>"
        )
    w("</table>")
