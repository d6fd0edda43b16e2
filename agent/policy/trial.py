"""``policy test``: what a policy would do during a scenario, without a phone or an adb server.

The scenario is played on a simulated phone in-process (:class:`agent.simlink.LocalLink`), and
the same parts as ``watch`` look at it after each step: the collector and detector (state
changes), the use monitor (sensitive use) and the start tracker fed from the phone's log
(autostart, associated start). Each event gets the policy's decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from agent.adb import InvalidArgument, Package
from agent.collect import Collector
from agent.detect import Detector
from agent.engine import boot_ms
from agent.events import Event
from agent.model import ProcessStart, ServiceRecordInfo
from agent.parsers.services import parse_service_records
from agent.policy.enforce import Decision, decide
from agent.policy.model import Policy
from agent.sim.device import SimDevice
from agent.sim.profiles import PROFILES, build_state
from agent.sim.scenario import Scenario, Step, apply_step, stop_use
from agent.simlink import LocalLink
from agent.snapshot import Snapshot
from agent.starts import LOGCAT_ARGV, StartTracker, platform_packages, uid_packages
from agent.uses import UseMonitor

DEFAULT_PROFILE = "pixel8-a15"


@dataclass(frozen=True)
class Trial:
    """One event of the replay and what the policy decided about it."""

    event: Event
    decisions: tuple[Decision, ...]


class _Replay:
    def __init__(self, scenario: Scenario, profile: str) -> None:
        state = build_state(PROFILES[profile], work_profile=scenario.needs_work_profile)
        self.state = state
        self.link = LocalLink(SimDevice(state), serial=f"sim:{profile}")
        for step in scenario.setup:
            apply_step(state, step)
        self.collector = Collector(self.link)  # type: ignore[arg-type]
        self.detector = Detector()
        self.snap = self.collector.full()
        self.detector.remember(self.snap)
        self.uses = UseMonitor(self.link, slow_every=1, noted_hold=0.0)
        self.starts = StartTracker(self.link.serial, lookup=self._services)
        self._know(self.snap)
        self.uses.tick(self.snap)
        self._lines = len(self._log())

    def _services(self, start: ProcessStart) -> Sequence[ServiceRecordInfo] | None:
        try:
            package = Package(start.package)
        except InvalidArgument:
            return None  # a hostile name never reaches a command line
        out = self.link.shell(["dumpsys", "activity", "services", package])
        return parse_service_records(out.stdout).value

    def _know(self, snap: Snapshot) -> None:
        packages = snap.packages.packages
        self.starts.update(
            uid_packages=uid_packages(packages, [u.id for u in snap.users] or [0]),
            platform=platform_packages(packages),
            boot_ms=boot_ms(snap),
        )

    def _log(self) -> list[str]:
        return self.link.shell([*LOGCAT_ARGV, "-d"]).stdout.splitlines()

    def look(self) -> list[Event]:
        lines = self._log()
        if len(lines) < self._lines:  # the log was cleared (a reboot)
            self._lines = 0
        events = self.starts.feed_lines(lines[self._lines :])
        self._lines = len(lines)
        events += self.uses.tick(self.snap)
        cur = self.collector.cycle(self.snap)
        events += self.detector.diff(self.snap, cur)
        self.snap = cur
        self._know(cur)
        return events

    def sweep(self) -> list[Event]:
        """Android 9 mirrors no grants into app ops: its periodic full read, once at the end."""
        cur = self.collector.cycle(replace(self.snap, sweeps_due=1))
        events = self.detector.diff(self.snap, cur)
        self.snap = cur
        return events


def replay(scenario: Scenario, profile: str = DEFAULT_PROFILE) -> list[Event]:
    """Every event ``watch`` reports while ``scenario`` plays on a phone of ``profile``."""
    run = _Replay(scenario, profile)
    timeline: list[tuple[float, int, Step]] = sorted(
        (s.at + n * (s.every or 0), i, s)
        for i, s in enumerate(scenario.steps)
        for n in range(s.count)
    )
    events: list[Event] = []
    for _, _, step in timeline:
        apply_step(run.state, step)
        events += run.look()
        if step.action == "use":  # a use lasts until the next look
            args = step.args
            stop_use(run.state, str(args["package"]), int(args.get("user", 0)), str(args["op"]))
            events += run.look()
    return events + run.sweep()


def try_policy(policy: Policy, scenario: Scenario, profile: str = DEFAULT_PROFILE) -> list[Trial]:
    """The events of ``scenario`` and, for each, what ``policy`` would decide."""
    return [Trial(event, tuple(decide(policy, event))) for event in replay(scenario, profile)]
