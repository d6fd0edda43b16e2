"""Checking reported events against a scenario's ``expect`` list: the one rule every scenario
test applies, in-process or through adb.

Every expectation must be met exactly ``count`` times (default once), each finding it names
must be there (as an event of its own, or as the verdict on the matched event), and nothing
else may be reported.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from agent.events import Consent, Event
from agent.sim.scenario import Expectation, Scenario

LIVE_KINDS = frozenset(
    {"sensitive_use_started", "sensitive_use_stopped", "autostart", "associated_start"}
)
"""Kinds made by the live watchers (probes and the log stream), not by snapshot diffs."""
KIND_OF = {"device_admin_added": "device_admin", "device_rebooted": "device_state"}
VERDICT_FINDINGS = frozenset(
    {
        "grant_without_consent",
        "appop_without_consent",
        "admin_blocks_uninstall",
        "background_sensitive_use",
        "autostart",
        "associated_start",
    }
)
"""Findings that are a verdict on the matched event (it must be a finding) rather than an
event of their own."""
DETAIL_KEYS = (
    "permission",
    "op",
    "mode",
    "previous",
    "installer",
    "screen_on",
    "foreground",
    "reason",
    "caller",
)


def findings_of(exp: Expectation) -> list[str]:
    raw = exp.fields.get("finding")
    return raw if isinstance(raw, list) else [] if raw is None else [raw]


def matches(event: Event, exp: Expectation) -> bool:
    if event.kind != KIND_OF.get(exp.event, exp.event):
        return False
    f: Mapping[str, Any] = exp.fields
    if "package" in f and event.package != f["package"]:
        return False
    if "user" in f and event.user != f["user"]:
        return False
    if "consent" in f and event.consent is not Consent(f["consent"]):
        return False
    return all(k not in f or event.detail.get(k) == f[k] for k in DETAIL_KEYS)


def show(e: Event) -> str:
    return f"{e.kind}({e.package}, u{e.user}, {e.consent.value}, {dict(e.detail)})"


def check(scenario: Scenario, events: list[Event], *, skip: Collection[str] = ()) -> None:
    """Assert ``events`` are exactly what ``scenario`` expects (kinds in ``skip`` aside: an
    expectation of such a kind is not checked, and events of it are not reported here)."""
    unexplained = [e for e in events if e.kind not in skip]
    everything = [show(e) for e in events]
    for exp in scenario.expect:
        if exp.event in skip:
            continue
        wanted = int(exp.fields.get("count", 1))
        hits = [e for e in unexplained if matches(e, exp)]
        assert hits, f"missing {exp.event} {dict(exp.fields)}; got {everything}"
        assert len(hits) == wanted, f"{len(hits)} x {exp.event}, not {wanted}: {everything}"
        for hit in hits:
            unexplained.remove(hit)
            for finding in findings_of(exp):
                if finding in VERDICT_FINDINGS:
                    assert hit.finding, f"{finding}: not a finding: {show(hit)}"
                    continue
                extra = [e for e in unexplained if e.kind == finding and e.package == hit.package]
                assert extra, f"missing finding {finding} for {hit.package}: {everything}"
                for e in extra:
                    unexplained.remove(e)
    assert not unexplained, f"unexpected: {[show(e) for e in unexplained]}"
    if scenario.no_findings:
        assert not [show(e) for e in events if e.finding and e.kind not in skip]
