"""What to ask a device, and when: the only code that turns adb round trips into snapshots.

A full read costs what Android makes it cost (``dumpsys package`` is 1-4 MB and seconds of
``system_server`` time on a real phone), so it is done once per device; later cycles ask cheap
questions and re-read only what changed (see :meth:`Collector.cycle`, built on the detection
issue). Every round trip goes through :meth:`Collector.run`, which counts bytes, round trips
and time, so the cost of a strategy is measured, not guessed.

Parsing happens here too, but only by calling the pure functions of :mod:`agent.parsers`;
their warnings are kept in the snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from agent.adb import AdbError, DeviceLink, InvalidArgument, Package, ShellResult, UserId
from agent.labels import LabelCache
from agent.model import (
    AppOpsDump,
    DevicePolicy,
    DeviceProps,
    PackageDump,
    Parsed,
    PowerState,
    User,
)
from agent.parsers.appops import parse_dumpsys_appops
from agent.parsers.launcher import parse_launcher_activities
from agent.parsers.packages import parse_dumpsys_package, parse_pm_path
from agent.parsers.policy import parse_device_policy
from agent.parsers.power import parse_power
from agent.parsers.props import parse_getprop
from agent.parsers.users import parse_user_list
from agent.snapshot import ScanCost, Snapshot

T = TypeVar("T")

LAUNCHER_QUERY = [
    "-a",
    "android.intent.action.MAIN",
    "-c",
    "android.intent.category.LAUNCHER",
]
# dumpsys gives each service 10 s by default; a full package dump on a slow phone needs more.
DUMPSYS_TIMEOUT = "60"


@dataclass
class CostMeter:
    """Counts what a collection pass costs."""

    round_trips: int = 0
    bytes_in: int = 0
    seconds: float = 0.0
    parse_seconds: float = 0.0

    def freeze(self) -> ScanCost:
        return ScanCost(self.round_trips, self.bytes_in, self.seconds, self.parse_seconds)


@dataclass
class Collector:
    """Reads one device into snapshots.

    Args:
        link: the device.
        timeout: per-command deadline in seconds (a full ``dumpsys package`` can take long).
        progress: called with a short description before each step (for progress bars).
    """

    link: DeviceLink
    timeout: float = 120.0
    progress: Callable[[str], None] | None = None
    labels: LabelCache | None = None
    """Where app labels are cached; without one, snapshots carry no labels."""
    fetch_labels: bool = False
    """Pull the APKs of user apps whose label is not cached yet (one pull per version)."""
    meter: CostMeter = field(default_factory=CostMeter)
    warnings: list[str] = field(default_factory=list)

    def run(self, argv: Sequence[str | int], timeout: float | None = None) -> ShellResult:
        """One round trip, counted. Raises the adb link's typed errors."""
        started = time.perf_counter()
        result = self.link.shell(argv, timeout=timeout or self.timeout)
        self.meter.round_trips += 1
        self.meter.bytes_in += len(result.raw_stdout) + len(result.raw_stderr)
        self.meter.seconds += time.perf_counter() - started
        return result

    def _parse(self, what: str, parser: Callable[[str], Parsed[T]], text: str) -> T:
        started = time.process_time()
        parsed = parser(text)
        self.meter.parse_seconds += time.process_time() - started
        for w in parsed.warnings[:20]:
            self.warnings.append(f"{what}: line {w.line_no}: {w.reason}")
        if len(parsed.warnings) > 20:
            self.warnings.append(f"{what}: {len(parsed.warnings) - 20} more warnings")
        if parsed.error:
            self.warnings.append(f"{what}: {parsed.error}")
        return parsed.value

    def _step(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)

    def _dumpsys(self, service: str) -> str:
        result = self.run(["dumpsys", "-t", DUMPSYS_TIMEOUT, service])
        if result.exit_code not in (0, None) and not result.stdout:
            self.warnings.append(f"dumpsys {service}: {result.stderr.strip() or 'failed'}")
        return result.stdout

    # ---------------------------------------------------------------- full read
    def full(self, users: Sequence[int] | None = None) -> Snapshot:
        """Read everything once: build, users, packages, app ops, launcher entries, policy,
        screen. ``users`` limits the per-user queries (default: every user on the phone).

        Raises:
            AdbError: the device could not be read at all (gone, unauthorized, ...). A single
                command that fails is a warning in the snapshot instead.
        """
        self.meter = CostMeter()
        self.warnings = []
        self._step("build properties")
        props = self._parse("getprop", parse_getprop, self.run(["getprop"]).stdout)
        self._step("users")
        found = self._users()
        wanted = [u.id for u in found] if users is None else list(users)
        self._step("packages")
        packages: PackageDump = self._parse(
            "dumpsys package", parse_dumpsys_package, self._dumpsys("package")
        )
        self._step("app ops")
        appops: AppOpsDump = self._parse(
            "dumpsys appops", parse_dumpsys_appops, self._dumpsys("appops")
        )
        launcher: dict[int, frozenset[str]] = {}
        for user in wanted:
            self._step(f"launcher entries of user {user}")
            launcher[user] = self._launcher(user)
        self._step("device policy")
        policy: DevicePolicy = self._parse(
            "dumpsys device_policy", parse_device_policy, self._dumpsys("device_policy")
        )
        power: PowerState = self._parse("dumpsys power", parse_power, self._dumpsys("power"))
        labels = self._labels(packages)
        return Snapshot(
            serial=self.link.serial,
            taken_at=time.time(),
            props=props,
            users=tuple(u for u in found if u.id in wanted),
            packages=packages,
            appops=appops,
            launcher=MappingProxyType(launcher),
            policy=policy,
            power=power,
            labels=MappingProxyType(labels),
            warnings=tuple(self.warnings),
            cost=self.meter.freeze(),
        )

    def _labels(self, packages: PackageDump) -> dict[str, str]:
        """Labels of user apps: from the cache, and (when asked) by pulling the base APK."""
        if self.labels is None:
            return {}
        found: dict[str, str] = {}
        for pkg in packages.packages:
            if pkg.system or pkg.version_code is None:
                continue
            result = self.labels.cached(pkg.name, pkg.version_code)
            if result is None and self.fetch_labels:
                self._step(f"label of {pkg.name}")
                path = self._base_apk(pkg.name)
                if path is None:
                    continue
                result = self.labels.label(self.link, pkg.name, pkg.version_code, path)
                if result.error:
                    self.warnings.append(f"label of {pkg.name}: {result.error}")
            if result is not None and result.label is not None:
                found[pkg.name] = result.label
        return found

    def _base_apk(self, package: str) -> str | None:
        try:
            result = self.run(["pm", "path", Package(package)])
        except InvalidArgument:
            self.warnings.append(f"not a valid package name, label skipped: {package[:80]!r}")
            return None
        paths = self._parse(f"pm path {package}", parse_pm_path, result.stdout)
        return next((p for p in paths if p.endswith("/base.apk")), paths[0] if paths else None)

    def _users(self) -> tuple[User, ...]:
        result = self.run(["cmd", "user", "list"])
        users: tuple[User, ...] = ()
        if result.ok:
            users = self._parse("cmd user list", parse_user_list, result.stdout)
        if not users:  # very old or locked-down builds: the pm front end still answers
            users = self._parse(
                "pm list users", parse_user_list, self.run(["pm", "list", "users"]).stdout
            )
        return users or (User(0, "Owner", running=True),)

    def _launcher(self, user: int) -> frozenset[str]:
        argv = ["cmd", "package", "query-activities", "--components", "--user", UserId(user)]
        result = self.run([*argv, *LAUNCHER_QUERY])
        if not result.ok:
            self.warnings.append(
                f"launcher query for user {user} failed: {result.stderr.strip()[:200]}"
            )
            return frozenset()
        return self._parse(
            f"launcher entries of user {user}", parse_launcher_activities, result.stdout
        )


def read_props(link: DeviceLink) -> DeviceProps:
    """Just the build properties (a cheap liveness and identity check)."""
    parsed = parse_getprop(link.shell(["getprop"], timeout=10).stdout)
    return parsed.value


__all__ = ["AdbError", "Collector", "CostMeter", "read_props"]
