"""Events: what the engine reports, each with who consented to it.

An event is a fact about one device (and usually one user and package) with a consent verdict
from the model in DESIGN.md: ``user`` (the owner acted on the phone: USER_SET/USER_FIXED and
the like), ``platform`` (policy, system, default grants, roles), ``tetherguard`` (our own audit
log), ``baseline`` (the owner accepted it) or ``none`` (no evidence of consent: a finding).

Events are immutable and carry a stable id, so a retried write never duplicates one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Consent(StrEnum):
    USER = "user"
    PLATFORM = "platform"
    TETHERGUARD = "tetherguard"
    BASELINE = "baseline"
    NONE = "none"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


KINDS: dict[str, str] = {
    "permission_granted": "a runtime permission became granted",
    "permission_revoked": "a runtime permission became not granted",
    "permission_flags_changed": "a runtime permission's flags changed, its grant did not",
    "install_permissions_changed": "an update changed the install-time permissions",
    "appop_changed": "an app-op mode changed (package or uid scope)",
    "package_installed": "a package appeared for a user",
    "package_updated": "a package's version or code changed",
    "package_removed": "a package disappeared for a user",
    "package_disabled": "a package was disabled for a user",
    "package_enabled": "a package was enabled again for a user",
    "package_hidden": "a package was hidden (or unhidden) for a user",
    "silent_install": "an install by something other than a store or the owner's installer UI, "
    "or with the screen off",
    "bundled_install": "several installs by one installer within the bundling window",
    "hot_update": "an update that adds permissions, splits or code loaded at run time",
    "signer_changed": "a known package now carries another signature",
    "hidden_app": "an installed user app with no launcher icon or a blank name",
    "device_admin": "an app became (or stopped being) an active device admin",
    "device_state": "a device connected, became unauthorized, offline, gone, or rebooted",
    "sensitive_use_started": "an app is using the mic, camera, location... now, or newly read one",
    "sensitive_use_stopped": "an app stopped using the mic, camera, location... (with how long)",
    "autostart": "an app started itself (boot or broadcast) with no user action",
    "associated_start": "one app caused another to start",
}
"""Every event kind, with what it means (documented in README.md)."""


@dataclass(frozen=True)
class Event:
    """One reported fact."""

    kind: str
    serial: str
    ts: float
    """Host wall-clock time the change was detected (epoch seconds)."""
    consent: Consent
    severity: Severity
    user: int | None = None
    package: str | None = None
    clause: str | None = None
    """The regulation clause it bears on (``MIIT I.1``, ``CAC Art.7(4)``, ...)."""
    detail: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def finding(self) -> bool:
        """A change nobody consented to, worth the owner's attention."""
        return self.consent is Consent.NONE and self.severity is not Severity.INFO

    def as_dict(self) -> dict[str, Any]:
        """The ``--jsonl`` shape (stable, documented)."""
        return {
            "id": self.id,
            "ts": round(self.ts, 3),
            "serial": self.serial,
            "user": self.user,
            "kind": self.kind,
            "package": self.package,
            "consent": self.consent.value,
            "severity": self.severity.value,
            "clause": self.clause,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            kind=str(data["kind"]),
            serial=str(data["serial"]),
            ts=float(data["ts"]),
            consent=Consent(data["consent"]),
            severity=Severity(data["severity"]),
            user=data.get("user"),
            package=data.get("package"),
            clause=data.get("clause"),
            detail=MappingProxyType(dict(data.get("detail") or {})),
            id=str(data["id"]),
        )

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=True, sort_keys=True)
