"""Detection against every scenario, on every Android release: exactly the expected events.

The phone is simulated in-process (``tests.locallink``) so 17 scenarios x 7 releases stay
fast; the same collector and parsers run as against a real adb server. The guard looks once
before the story (a full read), then after each step (a steady-state cycle), and every event it
reports must be one the scenario expects, with the expected consent, and every expectation must
be met: nothing missed, nothing extra, nothing twice.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.collect import Collector
from agent.detect import Detector
from agent.events import Event
from agent.policy.trial import replay
from agent.sim.device import SimDevice
from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import Scenario, Step, apply_step, list_scenarios
from tests.expect import LIVE_KINDS, check
from tests.locallink import LocalLink


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
            from agent.sim.scenario import stop_use

            stop_use(
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
    # Live kinds (uses, starts) come from probes and the log stream, not from snapshot diffs:
    # tests/test_watch.py checks them through adb.
    check(scenario, play(scenario, profile), skip=LIVE_KINDS)


@pytest.mark.parametrize(("scenario", "profile"), CASES, ids=[f"{s.name}-{p}" for s, p in CASES])
def test_the_policy_replay_reports_every_kind_each_scenario_expects(
    scenario: Scenario, profile: str
) -> None:
    # `policy test` replays a scenario in-process with every watcher, live ones included.
    check(scenario, replay(scenario, profile))


@pytest.mark.parametrize("profile", ["fire-hd10-a9", "galaxy-a40-a10", "pixel6a-a14"])
def test_an_app_installed_again_for_a_user_brings_its_app_ops_without_a_report(
    profile: str,
) -> None:
    # `uninstall -k --user 0` then `install-existing` (tetherguard's restore, or a reinstall):
    # the app comes back with the app ops it had (TikTok keeps background running ignored);
    # the install event says what happened, not an app op change nobody made.
    tiktok = "com.ss.android.ugc.aweme"
    state = build_state(PROFILES[profile])
    assert state.op(tiktok, 0, "RUN_ANY_IN_BACKGROUND").mode == "ignore"
    collector = Collector(LocalLink(SimDevice(state)))  # type: ignore[arg-type]
    detector = Detector(clock=lambda: 1_000.0)
    snap = collector.full()
    detector.remember(snap)
    kinds: list[list[str]] = []
    for change in (
        lambda: state.uninstall(tiktok, 0, keep_data=True),
        lambda: state.install_existing(tiktok, 0),
    ):
        change()
        cur = collector.cycle(replace(snap, sweeps_due=1))
        kinds.append(sorted({e.kind for e in detector.diff(snap, cur) if e.package == tiktok}))
        snap = cur
    assert kinds[0] == ["package_removed"]
    assert "package_installed" in kinds[1] and "appop_changed" not in kinds[1]
