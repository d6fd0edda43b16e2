"""A snapshot as the documented ``tetherguard.scan/1`` JSON, and the findings a single look shows.

The JSON shape is a contract for scripts and researchers: it is described by the JSON Schema
shipped at ``agent/schemas/scan-1.schema.json`` and only ever grows within version 1. One
entry per (package, user). Pure functions of a :class:`~agent.snapshot.Snapshot`: no I/O.

Static findings are what one snapshot proves on its own (no history needed): an installed
user app with no launcher entry or a blank label, an active device admin (it blocks
uninstall), a sensitive runtime permission granted with no flag saying who granted it.
Changes over time are the detection engine's job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agent.model import (
    PER_USER_RANGE,
    PLATFORM_FLAGS,
    SENSITIVE_PERMISSIONS,
    USER_FLAGS,
    AppOpEntry,
    PackageInfo,
    PackageUserState,
    app_id_of,
)
from agent.snapshot import Snapshot

SCHEMA = "tetherguard.scan/1"

P = "android.permission."


@dataclass(frozen=True)
class StaticFinding:
    kind: str
    """hidden_app, blank_label, admin_blocks_uninstall, grant_without_consent"""
    package: str
    user: int
    detail: str


def _ops(snap: Snapshot, pkg: PackageInfo, user: int) -> list[dict[str, Any]]:
    if pkg.uid is None:
        return []
    uid = user * PER_USER_RANGE + app_id_of(pkg.uid)
    out: list[dict[str, Any]] = []
    for block in snap.appops.uids:
        if block.uid != uid:
            continue
        for op, mode in block.modes.items():
            out.append(
                {"op": op, "mode": mode, "scope": "uid", "last_access_time": None, "running": False}
            )
        entries: Iterable[AppOpEntry] = block.packages.get(pkg.name, ())
        for entry in entries:
            times = [a.time for a in entry.accesses if a.time and not a.rejected]
            out.append(
                {
                    "op": entry.op,
                    "mode": entry.mode,
                    "scope": "package",
                    "last_access_time": max(times) if times else None,
                    "running": entry.running,
                }
            )
    return out


def _user_state(pkg: PackageInfo, user: int) -> PackageUserState | None:
    return pkg.user(user)


def static_findings(snap: Snapshot) -> list[StaticFinding]:
    """What this one snapshot shows, per (package, user)."""
    found: list[StaticFinding] = []
    admins = {(a.user, a.package) for a in snap.policy.admins}
    for pkg in snap.packages.packages:
        for user in (u.id for u in snap.users):
            state = _user_state(pkg, user)
            if state is None or not state.installed:
                continue
            user_app = not pkg.system
            launcher = snap.launcher.get(user)
            if user_app and launcher is not None and pkg.name not in launcher:
                found.append(StaticFinding("hidden_app", pkg.name, user, "no launcher icon"))
            label = snap.labels.get(pkg.name)
            if user_app and label is not None and not label.strip():
                found.append(StaticFinding("blank_label", pkg.name, user, "blank app name"))
            if (user, pkg.name) in admins:
                found.append(
                    StaticFinding(
                        "admin_blocks_uninstall",
                        pkg.name,
                        user,
                        "active device admin: uninstall is blocked until it is deactivated",
                    )
                )
            if not user_app:
                continue
            for grant in snap.runtime_grants(pkg, user):
                if (
                    grant.granted
                    and grant.name in SENSITIVE_PERMISSIONS
                    and not grant.flags & (USER_FLAGS | PLATFORM_FLAGS)
                ):
                    found.append(
                        StaticFinding(
                            "grant_without_consent",
                            pkg.name,
                            user,
                            f"{grant.name.removeprefix(P)} granted with no user or platform flag",
                        )
                    )
    return found


def package_entries(snap: Snapshot) -> list[dict[str, Any]]:
    """One ``packages`` entry per (package, user) known for that user."""
    findings: dict[tuple[str, int], list[str]] = {}
    for f in static_findings(snap):
        findings.setdefault((f.package, f.user), []).append(f.kind)
    entries: list[dict[str, Any]] = []
    for pkg in snap.packages.packages:
        for user in (u.id for u in snap.users):
            state = _user_state(pkg, user)
            if state is None:
                continue
            launcher = snap.launcher.get(user)
            install = [
                {"name": g.name, "granted": g.granted, "flags": sorted(g.flags), "runtime": False}
                for g in pkg.install_permissions
            ]
            runtime = [
                {"name": g.name, "granted": g.granted, "flags": sorted(g.flags), "runtime": True}
                for g in snap.runtime_grants(pkg, user)
            ]
            entries.append(
                {
                    "name": pkg.name,
                    "user": user,
                    "uid": snap.uid(pkg, user),
                    "version_code": pkg.version_code,
                    "version_name": pkg.version_name,
                    "label": snap.labels.get(pkg.name),
                    "installer": pkg.installer,
                    "initiator": pkg.initiating_installer,
                    "system": pkg.system,
                    "enabled": state.enabled in (0, 1),
                    "installed": state.installed,
                    "launcher": None if launcher is None else pkg.name in launcher,
                    "first_install_time": state.first_install_time or pkg.first_install_time,
                    "last_update_time": pkg.last_update_time,
                    "signing_sha256": list(pkg.signing_digests),
                    "permissions": runtime + install,
                    "appops": _ops(snap, pkg, user),
                    "findings": findings.get((pkg.name, user), []),
                }
            )
    return entries


def device_entry(snap: Snapshot) -> dict[str, Any]:
    props = snap.props
    return {
        "serial": snap.serial,
        "model": props.model,
        "manufacturer": props.manufacturer,
        "android_release": props.release,
        "sdk": props.sdk,
        "fingerprint": props.fingerprint,
        "taken_at": round(snap.taken_at, 3),
        "screen_on": snap.power.screen_on,
        "users": [{"id": u.id, "name": u.name} for u in snap.users],
        "device_admins": [{"user": a.user, "component": a.component} for a in snap.policy.admins],
        "packages": package_entries(snap),
        "warnings": list(snap.warnings),
        "cost": {
            "round_trips": snap.cost.round_trips,
            "bytes": snap.cost.bytes_in,
            "seconds": round(snap.cost.seconds, 3),
            "parse_seconds": round(snap.cost.parse_seconds, 3),
        },
    }


def scan_document(snaps: Iterable[Snapshot], errors: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "devices": [device_entry(s) for s in snaps],
        "errors": [{"serial": serial, "message": message} for serial, message in errors],
    }
