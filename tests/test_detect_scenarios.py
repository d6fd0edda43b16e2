"""Detection against every scenario, on every Android release: exactly the expected events.

The phone is simulated in-process (``tests.locallink``) so 17 scenarios x 7 releases stay
fast; the same collector and parsers run as against a real adb server. The guard looks once
before the story (a full read), then after each step (a steady-state cycle), and every event it
reports must be one the scenario expects, with the expected consent, and every expectation must
be met: nothing missed, nothing extra, nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from agent.collect import Collector
from agent.detect import Detector
from agent.events import Consent, Event
from agent.sim.device import SimDevice
from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import Expectation, Scenario, Step, apply_step, list_scenarios
from tests.locallink import LocalLink

# Events of the live-use issue (sensitive use, autostart, associated start) are not made by
# snapshot diffs; scenarios that expect them are checked here only for the rest.
LIVE_KINDS = {"sensitive_use", "autostart", "associated_start"}
KIND_OF = {"device_admin_added": "device_admin", "device_rebooted": "device_state"}
# Findings that are a verdict on the event itself rather than an event of their own.
VERDICT_FINDINGS = {
    "grant_without_consent",
    "appop_without_consent",
    "admin_blocks_uninstall",
    "background_sensitive_use",
    "autostart",
    "associated_start",
}
DETAIL_KEYS = ("permission", "op", "mode", "previous", "installer", "screen_on")


def _findings(exp: Expectation) -> list[str]:
    raw = exp.fields.get("finding")
    wanted = raw if isinstance(raw, list) else [] if raw is None else [raw]
    return [f for f in wanted if f not in VERDICT_FINDINGS]


def _matches(event: Event, exp: Expectation) -> bool:
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


def play(scenario: Scenario, profile: str) -> list[Event]:
    state = build_state(PROFILES[profile], work_profile=scenario.needs_work_profile)
    device = SimDevice(state)
    for step in scenario.setup:
        apply_step(state, step)
    clock = {"now": 1_000.0}
    detector = Detector(clock=lambda: clock["now"])
    collector = Collector(LocalLink(device))  # type: ignore[arg-type]
    snap = collector.full()
    detector.remember(snap)
    timeline: list[tuple[float, Step]] = sorted(
        ((s.at + n * (s.every or 0), s) for s in scenario.steps for n in range(s.count)),
        key=lambda t: t[0],
    )
    events: list[Event] = []
    for at, step in timeline:
        apply_step(state, step)
        if step.action == "use":  # a use ends before the next look; live use is not diffed
            from agent.sim.scenario import _stop_use

            _stop_use(
                state,
                str(step.args["package"]),
                int(step.args.get("user", 0)),
                str(step.args["op"]),
            )
        clock["now"] = 1_000.0 + at
        cur = collector.cycle(snap)
        assert not cur.warnings, cur.warnings
        events += detector.diff(snap, cur)
        snap = cur
    if state.build.sdk < 29:
        # Android 9 mirrors no grant into app ops: grants surface at the periodic sweep.
        cur = collector.cycle(replace(snap, sweeps_due=1))
        events += detector.diff(snap, cur)
    return events


CASES = [
    (scenario, profile)
    for scenario in list_scenarios()
    for profile in sorted(PROFILES, key=lambda p: PROFILES[p].build.sdk)
]


@pytest.mark.parametrize(("scenario", "profile"), CASES, ids=[f"{s.name}-{p}" for s, p in CASES])
def test_scenario_reports_exactly_what_it_expects(scenario: Scenario, profile: str) -> None:
    events = play(scenario, profile)
    unexplained = list(events)
    for exp in scenario.expect:
        if exp.event in LIVE_KINDS:
            continue
        hits = [e for e in unexplained if _matches(e, exp)]
        assert hits, f"missing {exp.event} {dict(exp.fields)}; got {[_show(e) for e in events]}"
        assert len(hits) == 1, f"reported twice: {[_show(e) for e in hits]}"
        unexplained.remove(hits[0])
        for finding in _findings(exp):
            extra = [e for e in unexplained if e.kind == finding and e.package == hits[0].package]
            assert extra, f"missing finding {finding} for {hits[0].package}"
            for e in extra:
                unexplained.remove(e)
    assert not unexplained, f"unexpected: {[_show(e) for e in unexplained]}"
    if scenario.no_findings:
        assert not [e for e in events if e.finding]


def _show(e: Event) -> str:
    return f"{e.kind}({e.package}, u{e.user}, {e.consent.value}, {dict(e.detail)})"
