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

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TypeVar

from agent.adb import AdbError, DeviceLink, InvalidArgument, Package, Script, ShellResult, UserId
from agent.labels import LabelCache
from agent.model import (
    AppOpsDump,
    DevicePolicy,
    DeviceProps,
    PackageDump,
    PackageInfo,
    Parsed,
    PowerState,
    User,
    app_id_of,
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
SWEEP_EVERY = 60
"""On Android 9 (no grants mirrored into app ops) re-read every package this often (cycles)."""

# The steady-state probe: one command line, each answer small or hashed on the phone. The
# op-mode digest keeps only uid/package headers and mode lines, so accesses (which change
# all the time) do not move it; from Android 10 runtime grants are mirrored into those modes.
_OPS_DIGEST = (
    "echo @@tg-{n}:ops; dumpsys appops | "
    "grep -E '^  Uid |^    Package |: mode=|^      [A-Z_0-9]+ \\(' | md5sum"
)
_POLICY_DIGEST = "echo @@tg-{n}:policy; dumpsys device_policy | md5sum; "
_BASELINE = "echo @@tg-{n}:boot; getprop ro.runtime.firstboot; " + _POLICY_DIGEST + _OPS_DIGEST
_PROBE = (
    "echo @@tg-{n}:boot; getprop ro.runtime.firstboot; "
    "echo @@tg-{n}:changes; dumpsys package changes; "
    "echo @@tg-{n}:power; dumpsys power | grep -E 'mWakefulness=|Display Power: state='; "
    + _POLICY_DIGEST
    + _OPS_DIGEST
)


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
    sweep_every: int = SWEEP_EVERY
    """Cycles between full package reads on phones that mirror no grants (Android 9)."""
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
        # Boot id and op-mode digest first: a change made while the dumps are read then shows
        # as a moved digest in the next cycle instead of being lost.
        nonce = secrets.token_hex(4)
        marks = _split_marked(self.run(Script(_BASELINE.format(n=nonce))).stdout, nonce)
        boot = marks.get("boot", "").strip() or None
        ops_digest = _digest(marks.get("ops"))
        policy_digest = _digest(marks.get("policy"))
        self._step("build properties")
        props = self._parse("getprop", parse_getprop, self.run(["getprop"]).stdout)
        self._step("users")
        found = self._users()
        wanted = [u.id for u in found] if users is None else list(users)
        # App ops before packages: a grant landing between the two reads then leaves the
        # snapshot's ops behind the phone's, so the next cycle sees the uid's modes move and
        # re-reads the package. The other way round, the ops would already hold the grant, no
        # mode would seem to move, and the package's permission state would stay stale.
        self._step("app ops")
        appops: AppOpsDump = self._parse(
            "dumpsys appops", parse_dumpsys_appops, self._dumpsys("appops")
        )
        self._step("packages")
        packages: PackageDump = self._parse(
            "dumpsys package", parse_dumpsys_package, self._dumpsys("package")
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
        labels = self._labels(packages.packages)
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
            boot_id=boot,
            ops_digest=ops_digest,
            policy_digest=policy_digest,
            sweeps_due=self.sweep_every,
            warnings=tuple(self.warnings),
            cost=self.meter.freeze(),
        )

    def _labels(
        self, packages: Iterable[PackageInfo], *, fetch: bool | None = None
    ) -> dict[str, str]:
        """Labels of user apps: from the cache, and (when asked) by pulling the base APK."""
        if self.labels is None:
            return {}
        fetch = self.fetch_labels if fetch is None else fetch
        found: dict[str, str] = {}
        for pkg in packages:
            if pkg.system or pkg.version_code is None:
                continue
            result = self.labels.cached(pkg.name, pkg.version_code)
            if result is None and fetch:
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

    # ---------------------------------------------------------------- steady state
    def cycle(self, prev: Snapshot) -> Snapshot:
        """A cheap re-read: one round trip of small, device-filtered answers, then targeted
        reads of only what moved.

        The probe (``_PROBE``) asks, in one command line: the boot time (a reboot means a full
        read), the Package Changes list, the screen state, and an MD5 taken *on the phone* of
        the app-op mode lines (from Android 10 the runtime permissions are mirrored there, so a
        grant or revoke moves it too). Then: ``dumpsys package PKG`` for each package that
        changed, the full app-ops dump only if its digest moved (and the package dump of the
        apps whose uid modes moved, for the permission flags), and on Android 9 a periodic
        full package read (it mirrors no grants into app ops).
        """
        self.meter = CostMeter()
        self.warnings = []
        nonce = secrets.token_hex(4)
        sections = _split_marked(self.run(Script(_PROBE.format(n=nonce))).stdout, nonce)
        boot = sections.get("boot", "").strip()
        if boot != prev.boot_id and prev.boot_id is not None:
            return self.full([u.id for u in prev.users])
        changes: PackageDump = self._parse(
            "dumpsys package changes", parse_dumpsys_package, sections.get("changes", "")
        )
        power: PowerState = self._parse("dumpsys power", parse_power, sections.get("power", ""))
        ops_digest = _digest(sections.get("ops"))
        policy_digest = _digest(sections.get("policy"))
        policy = prev.policy
        if policy_digest != prev.policy_digest:
            policy = self._parse(
                "dumpsys device_policy", parse_device_policy, self._dumpsys("device_policy")
            )
        packages = {p.name: p for p in prev.packages.packages}
        moved = {
            c.package
            for c in changes.changes
            if prev.packages.change_sequence is None
            or changes.change_sequence is None
            or changes.change_sequence < prev.packages.change_sequence
            or c.seq >= prev.packages.change_sequence
        }
        appops = prev.appops
        if ops_digest != prev.ops_digest:
            appops = self._parse("dumpsys appops", parse_dumpsys_appops, self._dumpsys("appops"))
            moved |= _uid_mode_movers(prev, appops)
        sweep = prev.sweeps_due <= 1 and (prev.props.sdk or 0) < 29
        dex = dict(prev.packages.secondary_dex)
        fresh: set[str] = set()
        if sweep:
            dump = self._parse("dumpsys package", parse_dumpsys_package, self._dumpsys("package"))
            before = packages
            packages = {p.name: p for p in dump.packages}
            dex = dict(dump.secondary_dex)
            # Already read in full; what differs still needs its launcher entry and label.
            fresh = moved = {
                n for n in before.keys() | packages.keys() if before.get(n) != packages.get(n)
            }
        launcher = dict(prev.launcher)
        labels = dict(prev.labels)
        for name in sorted(moved - fresh):
            self._refresh_package(name, packages, dex)
        if moved:
            for user in launcher:
                launcher[user] = self._launcher(user)
            # A new install or update: one APK pull per version, so a blank name shows at once.
            labels.update(self._labels([packages[n] for n in moved if n in packages], fetch=True))
        return replace(
            prev,
            taken_at=time.time(),
            packages=replace(
                prev.packages,
                packages=tuple(packages.values()),
                change_sequence=changes.change_sequence,
                changes=changes.changes,
                secondary_dex=MappingProxyType({k: v for k, v in dex.items() if v}),
            ),
            appops=appops,
            launcher=MappingProxyType(launcher),
            labels=MappingProxyType(labels),
            power=power,
            policy=policy,
            ops_digest=ops_digest,
            policy_digest=policy_digest,
            sweeps_due=self.sweep_every if sweep else max(prev.sweeps_due - 1, 1),
            warnings=tuple(self.warnings),
            cost=self.meter.freeze(),
        )

    def _refresh_package(
        self, name: str, packages: dict[str, PackageInfo], dex: dict[str, tuple[str, ...]]
    ) -> None:
        try:
            argv = ["dumpsys", "package", Package(name)]
        except InvalidArgument:
            self.warnings.append(f"not a valid package name, skipped: {name[:80]!r}")
            return
        parsed = parse_dumpsys_package(self.run(argv).stdout)
        if parsed.error and parsed.error.startswith("Unable to find package"):
            packages.pop(name, None)  # it was removed: the expected answer, not a problem
            dex.pop(name, None)
            return
        dump: PackageDump = self._parse(f"dumpsys package {name}", lambda _: parsed, "")
        found = next((p for p in dump.packages if p.name == name), None)
        if found is None:
            packages.pop(name, None)
            dex.pop(name, None)
        else:
            packages[name] = found
            dex[name] = dump.secondary_dex.get(name, ())


def _digest(section: str | None) -> str | None:
    """The hex digest of an ``md5sum`` answer (``<hex>  -``), or None if it did not run."""
    word = (section or "").strip().split(" ", 1)[0]
    return word if len(word) == 32 and all(c in "0123456789abcdef" for c in word) else None


def _split_marked(text: str, nonce: str) -> dict[str, str]:
    """Split the probe's output at its ``@@tg-NONCE:name`` lines.

    The nonce is fresh per probe, so no app-controlled text in a dump (a versionName with a
    newline, say) can forge a section boundary.
    """
    marker = f"@@tg-{nonce}:"
    out: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith(marker):
            if name is not None:
                out[name] = "\n".join(lines)
            name, lines = line[len(marker) :].strip(), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        out[name] = "\n".join(lines)
    return out


def _uid_mode_movers(prev: Snapshot, appops: AppOpsDump) -> set[str]:
    """Packages whose uid-scope op modes differ between the two dumps."""
    before = {b.uid: dict(b.modes) for b in prev.appops.uids}
    after = {b.uid: dict(b.modes) for b in appops.uids}
    moved_uids = {
        uid for uid in before.keys() | after.keys() if before.get(uid, {}) != after.get(uid, {})
    }
    names: set[str] = set()
    for block in (*prev.appops.uids, *appops.uids):
        if block.uid in moved_uids:
            names.update(block.packages)
    by_app_id = {app_id_of(uid) for uid in moved_uids}
    for pkg in prev.packages.packages:
        if pkg.uid is not None and app_id_of(pkg.uid) in by_app_id:
            names.add(pkg.name)
    return names


def read_props(link: DeviceLink) -> DeviceProps:
    """Just the build properties (a cheap liveness and identity check)."""
    parsed = parse_getprop(link.shell(["getprop"], timeout=10).stdout)
    return parsed.value


__all__ = ["AdbError", "Collector", "CostMeter", "read_props"]
