"""A snapshot: everything read from one device at one moment, as typed records.

Immutable, so the previous and the current snapshot can be diffed safely from any thread, and
persisted whole. Built by :mod:`agent.collect`; read by detection, the scan command and the UI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agent.model import (
    AppOpsDump,
    DevicePolicy,
    DeviceProps,
    PackageDump,
    PackageInfo,
    PermissionGrant,
    PowerState,
    User,
    app_id_of,
)


@dataclass(frozen=True)
class ScanCost:
    """What reading a device cost: the figures the collection strategy is judged by."""

    round_trips: int = 0
    bytes_in: int = 0
    seconds: float = 0.0
    parse_seconds: float = 0.0
    """Host CPU time spent in parsers."""


@dataclass(frozen=True)
class Snapshot:
    serial: str
    taken_at: float
    """Host wall-clock time (epoch seconds) when the read finished."""
    props: DeviceProps
    users: tuple[User, ...]
    packages: PackageDump
    appops: AppOpsDump
    launcher: Mapping[int, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    """User -> packages with a launcher activity for that user."""
    policy: DevicePolicy = field(default_factory=DevicePolicy)
    power: PowerState = field(default_factory=lambda: PowerState(screen_on=None))
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Package -> label, for the packages whose label was read (labels are optional)."""
    boot_id: str | None = None
    """``ro.runtime.firstboot``: changes at every boot (the Package Changes list resets)."""
    ops_digest: str | None = None
    """MD5 of the app-op mode lines, taken on the phone by the steady-state probe."""
    policy_digest: str | None = None
    """MD5 of ``dumpsys device_policy`` (device admins change rarely; re-read when it moves)."""
    sweeps_due: int = 1
    """Cycles until the next full package read on phones that mirror no grants (Android 9)."""
    warnings: tuple[str, ...] = ()
    """Human-readable parse warnings and partial-read errors (nothing is dropped silently)."""
    cost: ScanCost = field(default_factory=ScanCost)

    def package(self, name: str) -> PackageInfo | None:
        for pkg in self.packages.packages:
            if pkg.name == name:
                return pkg
        return None

    def shared_user_of(self, pkg: PackageInfo) -> PackageInfo | None:
        """Permission state lives on the shared user for packages of a shared uid."""
        if pkg.shared_user is None:
            return None
        return self.packages.shared_users.get(pkg.shared_user)

    def runtime_grants(self, pkg: PackageInfo, user: int) -> tuple[PermissionGrant, ...]:
        """The package's runtime permissions for ``user``; packages of a shared uid keep them
        on the shared user."""
        for source in (pkg, self.shared_user_of(pkg)):
            state = source.user(user) if source is not None else None
            if state is not None and state.runtime_permissions:
                return state.runtime_permissions
        return ()

    def uid(self, pkg: PackageInfo, user: int) -> int | None:
        return None if pkg.uid is None else user * 100_000 + app_id_of(pkg.uid)
