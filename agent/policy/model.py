"""What a policy is, once loaded: typed, frozen, already validated.

A policy is a named list of rules. A rule matches events (:class:`Match`) and says what to do
about them (:class:`Effect`): alert, act, or both. A policy runs in ``dry-run`` (say what it
would do) or ``enforce`` mode. Files and their schema: :mod:`agent.policy.load`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.events import Consent, Event, Severity

Mode = Literal["dry-run", "enforce"]
ActKind = Literal["revoke", "appop", "restrict", "force_stop", "disable", "uninstall"]
"""What a rule may do by itself (the reversible remedies; never grant or restore)."""

SEVERITY_ORDER: Mapping[Severity, int] = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
}


def _any_glob(value: str | None, patterns: tuple[str, ...]) -> bool:
    return value is not None and any(fnmatch.fnmatchcase(value, p) for p in patterns)


@dataclass(frozen=True)
class Match:
    """Which events a rule applies to; every field given must match (lists: any of)."""

    kinds: tuple[str, ...] = ()
    consent: tuple[Consent, ...] = ()
    packages: tuple[str, ...] = ()
    """Glob patterns (``com.tencent.*``)."""
    not_packages: tuple[str, ...] = ()
    installers: tuple[str, ...] = ()
    """Glob patterns on ``detail.installer`` (``null`` for none: written as ``"none"``)."""
    not_installers: tuple[str, ...] = ()
    """Glob patterns on ``detail.installer`` that exclude (``not_installer``: not an app store)."""
    ops: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    users: tuple[int, ...] = ()
    min_severity: Severity | None = None
    foreground: bool | None = None
    """Sensitive use only: in the foreground (true) or the background (false)."""
    findings_only: bool = False
    devices: tuple[str, ...] = ()
    """Glob patterns on the serial."""
    device_labels: tuple[str, ...] = ()
    """Any of these labels (``[devices.labels]`` of tetherguard.toml)."""

    def matches(self, event: Event, labels: Collection[str] = ()) -> bool:
        """``labels``: the labels of the event's device."""
        d = event.detail
        checks = (
            not self.kinds or event.kind in self.kinds,
            not self.consent or event.consent in self.consent,
            not self.packages or _any_glob(event.package, self.packages),
            not _any_glob(event.package, self.not_packages),
            not self.installers or _any_glob(str(d.get("installer") or "none"), self.installers),
            not _any_glob(str(d.get("installer") or "none"), self.not_installers),
            not self.ops or str(d.get("op")) in self.ops,
            not self.permissions or str(d.get("permission")) in self.permissions,
            not self.users or event.user in self.users,
            self.min_severity is None
            or SEVERITY_ORDER[event.severity] >= SEVERITY_ORDER[self.min_severity],
            self.foreground is None or d.get("foreground") is self.foreground,
            not self.findings_only or event.finding,
            not self.devices or _any_glob(event.serial, self.devices),
            not self.device_labels or bool(set(self.device_labels) & set(labels)),
        )
        return all(checks)


@dataclass(frozen=True)
class Act:
    """The action a rule takes on the event's package (and permission, op)."""

    kind: ActKind
    mode: str | None = None
    """``appop``: the mode to set (default ``ignore``)."""


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    alert: bool = True
    act: Act | None = None
    clause: str | None = None
    """The regulation clause the rule enforces (``MIIT I.1``)."""
    summary: str = ""
    line: int | None = None
    """Where the rule starts in its file (for messages)."""


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    mode: Mode = "dry-run"
    summary: str = ""
    source: str | None = None
    """The file it came from (``None`` for one built in code)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
