"""Detection: the difference between two snapshots of a device, as events with consent verdicts.

Pure and deterministic: :meth:`Detector.diff` takes the previous and the current snapshot and
returns events; it does no I/O. What it needs from outside comes in through
:class:`Evidence` (is this change in tetherguard's own audit log? did the owner accept it into
the baseline?), and the little state it keeps between diffs (recent installs for bundle
detection, signers of packages seen before) lives on the detector object.

The consent model (DESIGN.md): a change is with consent when there is evidence of it, in this
order: tetherguard made it (audit log), the owner accepted it (baseline), the owner made it on
the phone (USER_SET / USER_FIXED), the platform or policy made it (POLICY_FIXED, SYSTEM_FIXED,
GRANTED_BY_DEFAULT, GRANTED_BY_ROLE; AUTO_REVOKED and ONE_TIME for revokes). Anything else is
``none``, and a finding when it matters.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from agent.events import Consent, Event, Severity
from agent.model import (
    PER_USER_RANGE,
    PLATFORM_FLAGS,
    SENSITIVE_PERMISSIONS,
    USER_FLAGS,
    AppOpEntry,
    PackageInfo,
    PackageUserState,
    PermissionGrant,
    app_id_of,
)
from agent.snapshot import Snapshot

P = "android.permission."

PLATFORM_REVOKE_FLAGS = frozenset({"AUTO_REVOKED", "ONE_TIME", "REVOKE_WHEN_REQUESTED"})

SENSITIVE_OPS = frozenset(
    {
        "RECORD_AUDIO",
        "CAMERA",
        "FINE_LOCATION",
        "COARSE_LOCATION",
        "MONITOR_LOCATION",
        "MONITOR_HIGH_POWER_LOCATION",
        "READ_CLIPBOARD",
        "READ_CONTACTS",
        "WRITE_CONTACTS",
        "READ_CALL_LOG",
        "READ_SMS",
        "RECEIVE_SMS",
        "SEND_SMS",
        "READ_PHONE_STATE",
        "BODY_SENSORS",
        "SYSTEM_ALERT_WINDOW",
        "REQUEST_INSTALL_PACKAGES",
        "GET_USAGE_STATS",
        "MANAGE_EXTERNAL_STORAGE",
        "PHONE_CALL_MICROPHONE",
        "PHONE_CALL_CAMERA",
    }
)
# From Android 10 the platform keeps each runtime permission's app-op in step with the grant
# (PermissionPolicyService); such uid-mode moves are the grant itself, not a second change.
PERMISSION_OPS: Mapping[str, str] = MappingProxyType(
    {
        P + "RECORD_AUDIO": "RECORD_AUDIO",
        P + "CAMERA": "CAMERA",
        P + "ACCESS_FINE_LOCATION": "FINE_LOCATION",
        P + "ACCESS_COARSE_LOCATION": "COARSE_LOCATION",
        P + "READ_CONTACTS": "READ_CONTACTS",
        P + "WRITE_CONTACTS": "WRITE_CONTACTS",
        P + "GET_ACCOUNTS": "GET_ACCOUNTS",
        P + "READ_CALL_LOG": "READ_CALL_LOG",
        P + "WRITE_CALL_LOG": "WRITE_CALL_LOG",
        P + "READ_SMS": "READ_SMS",
        P + "SEND_SMS": "SEND_SMS",
        P + "RECEIVE_SMS": "RECEIVE_SMS",
        P + "READ_PHONE_STATE": "READ_PHONE_STATE",
        P + "CALL_PHONE": "CALL_PHONE",
        P + "BODY_SENSORS": "BODY_SENSORS",
        P + "READ_CALENDAR": "READ_CALENDAR",
        P + "WRITE_CALENDAR": "WRITE_CALENDAR",
        P + "READ_EXTERNAL_STORAGE": "READ_EXTERNAL_STORAGE",
        P + "WRITE_EXTERNAL_STORAGE": "WRITE_EXTERNAL_STORAGE",
        P + "ACTIVITY_RECOGNITION": "ACTIVITY_RECOGNITION",
        P + "POST_NOTIFICATIONS": "POST_NOTIFICATION",
        P + "READ_MEDIA_IMAGES": "READ_MEDIA_IMAGES",
        P + "READ_MEDIA_VIDEO": "READ_MEDIA_VIDEO",
        P + "READ_MEDIA_AUDIO": "READ_MEDIA_AUDIO",
        P + "ACCESS_BACKGROUND_LOCATION": "COARSE_LOCATION",
    }
)
# App-op permissions whose op defaults to "default" (the permission decides); every other op
# defaults to allow, so an op first appearing as allow is a first access, not a change.
DEFAULT_MODE_OPS = frozenset(
    {
        "SYSTEM_ALERT_WINDOW",
        "REQUEST_INSTALL_PACKAGES",
        "GET_USAGE_STATS",
        "WRITE_SETTINGS",
        "MANAGE_EXTERNAL_STORAGE",
        "PICTURE_IN_PICTURE",
        "ACCESS_NOTIFICATIONS",
        "SCHEDULE_EXACT_ALARM",
        "MANAGE_MEDIA",
        "INTERACT_ACROSS_PROFILES",
    }
)
RAISED = frozenset({"allow", "foreground"})

TRUSTED_INSTALLERS = frozenset(
    {
        "com.android.vending",
        "com.sec.android.app.samsungapps",
        "com.xiaomi.market",
        "com.heytap.market",
        "com.oppo.market",
        "com.huawei.appmarket",
        "com.bbk.appstore",
        "com.amazon.venezia",
        "com.tencent.android.qqdownloader",
        "com.google.android.packageinstaller",
        "com.android.packageinstaller",
        "com.miui.packageinstaller",
        "com.samsung.android.packageinstaller",
    }
)
"""App stores and the platform's package installer UI (the owner confirms there)."""

SHELL_PACKAGES = frozenset({"com.android.shell"})
SHELL_UID = 2000


class Evidence(Protocol):
    """Where consent evidence beyond the snapshots comes from (the store, in practice)."""

    def ours(self, serial: str, user: int | None, package: str | None, kind: str, key: str) -> bool:
        """tetherguard itself made this change (audit log, recent)."""
        ...

    def accepted(
        self, serial: str, user: int | None, package: str | None, kind: str, key: str, value: str
    ) -> bool:
        """The owner accepted this state into the baseline."""
        ...

    def flags_ours(self, serial: str, user: int, package: str, permission: str) -> bool:
        """The permission's user flags were set by tetherguard (it revoked the permission and
        kept it revoked): they are no evidence that the owner granted it since."""
        ...


class NoEvidence:
    """No audit log, no baseline: every verdict rests on the phone's own flags."""

    def ours(self, serial: str, user: int | None, package: str | None, kind: str, key: str) -> bool:
        return False

    def accepted(
        self, serial: str, user: int | None, package: str | None, kind: str, key: str, value: str
    ) -> bool:
        return False

    def flags_ours(self, serial: str, user: int, package: str, permission: str) -> bool:
        return False


@dataclass
class Settings:
    bundle_window: float = 120.0
    """Seconds within which installs by one installer count as a bundle (CAC Art.7(4))."""
    bundle_min: int = 2
    trusted_installers: frozenset[str] = TRUSTED_INSTALLERS


@dataclass
class Detector:
    """Diffs snapshots of many devices; keeps the little memory detection needs."""

    evidence: Evidence = field(default_factory=NoEvidence)
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], float] | None = None
    _installs: dict[tuple[str, str], deque[tuple[float, str, int]]] = field(default_factory=dict)
    _bundled: set[tuple[str, str, int]] = field(default_factory=set)
    _signers: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    def remember(self, snap: Snapshot) -> None:
        """Learn what a snapshot shows without reporting it (a first read, the baseline)."""
        for pkg in snap.packages.packages:
            if pkg.signature_hashes:
                self._signers[(snap.serial, pkg.name)] = pkg.signature_hashes

    # ---------------------------------------------------------------- entry point
    def diff(self, prev: Snapshot, cur: Snapshot) -> list[Event]:
        """Every change from ``prev`` to ``cur`` (same device), in a stable order."""
        ts = self.clock() if self.clock is not None else cur.taken_at
        ctx = _Ctx(self, prev, cur, ts)
        if prev.boot_id is not None and cur.boot_id is not None and prev.boot_id != cur.boot_id:
            ctx.emit(
                "device_state",
                None,
                None,
                Consent.PLATFORM,
                Severity.INFO,
                None,
                {"state": "rebooted"},
            )
        self._packages(ctx)
        self._permissions(ctx)
        self._appops(ctx)
        self._admins(ctx)
        self.remember(cur)
        return ctx.events

    # ---------------------------------------------------------------- packages
    def _packages(self, ctx: _Ctx) -> None:
        prev_pkgs = {p.name: p for p in ctx.prev.packages.packages}
        cur_pkgs = {p.name: p for p in ctx.cur.packages.packages}
        users = sorted({u.id for u in ctx.cur.users} | {u.id for u in ctx.prev.users})
        for name in sorted(prev_pkgs.keys() | cur_pkgs.keys()):
            old, new = prev_pkgs.get(name), cur_pkgs.get(name)
            reinstalled = (
                old is not None
                and new is not None
                and old.first_install_time is not None
                and new.first_install_time is not None
                and old.first_install_time != new.first_install_time
            )
            for user in users:
                was = _installed(old, user)
                now = _installed(new, user)
                if was and (not now or reinstalled):
                    ctx.emit(
                        "package_removed",
                        user,
                        name,
                        self._install_consent(ctx, old, user, "package_removed"),
                        Severity.LOW,
                        None,
                        {"version_code": old.version_code if old else None},
                    )
                if now and (not was or reinstalled):
                    assert new is not None
                    self._installed(ctx, new, user, update_of=None)
                elif was and now and old is not None and new is not None:
                    self._user_state(ctx, old, new, user)
            if (
                old is not None
                and new is not None
                and not reinstalled
                and any(_installed(new, u) for u in users)
                and (
                    old.version_code != new.version_code
                    or old.last_update_time != new.last_update_time
                )
            ):
                self._updated(ctx, old, new)

    def _install_consent(
        self, ctx: _Ctx, pkg: PackageInfo | None, user: int | None, kind: str
    ) -> Consent:
        name = pkg.name if pkg is not None else None
        if self.evidence.ours(ctx.serial, user, name, kind, ""):
            return Consent.TETHERGUARD
        if self.evidence.accepted(ctx.serial, user, name, kind, "", ""):
            return Consent.BASELINE
        if kind == "package_removed":
            return Consent.NONE
        assert pkg is not None
        via = {pkg.installer, pkg.initiating_installer} - {None}
        screen_off = ctx.cur.power.screen_on is False
        if via and via <= self.settings.trusted_installers and not screen_off:
            return Consent.USER
        return Consent.NONE

    def _installed(self, ctx: _Ctx, pkg: PackageInfo, user: int, update_of: None) -> None:
        consent = self._install_consent(ctx, pkg, user, "package_installed")
        screen_on = ctx.cur.power.screen_on
        detail = {
            "installer": pkg.installer,
            "initiator": pkg.initiating_installer,
            "originator": pkg.originating_installer,
            "version_code": pkg.version_code,
            "version_name": pkg.version_name,
            "screen_on": screen_on,
            "system": pkg.system,
            "first_install": not any(_installed(pkg, u) for u in ctx.prev_user_ids if u != user)
            if ctx.prev.package(pkg.name) is not None
            else True,
        }
        base = ctx.emit(
            "package_installed",
            user,
            pkg.name,
            consent,
            Severity.INFO if consent is not Consent.NONE else Severity.MEDIUM,
            "MIIT I.1",
            detail,
        )
        if consent is Consent.NONE and not pkg.system:
            trusted = self.settings.trusted_installers
            reasons = []
            if screen_on is False:
                reasons.append("screen off")
            if not ({pkg.installer, pkg.initiating_installer} - {None}) <= trusted:
                reasons.append(f"installed by {pkg.initiating_installer or pkg.installer}")
            if reasons:
                ctx.emit(
                    "silent_install",
                    user,
                    pkg.name,
                    Consent.NONE,
                    Severity.HIGH,
                    "MIIT I.1",
                    {**detail, "reasons": reasons, "event": base.id},
                )
        self._bundle(ctx, pkg, user, base)
        self._hidden(ctx, pkg, user, base)
        old_signers = self._signers.get((ctx.serial, pkg.name))
        if old_signers and pkg.signature_hashes and old_signers != pkg.signature_hashes:
            ctx.emit(
                "signer_changed",
                user,
                pkg.name,
                Consent.NONE,
                Severity.HIGH,
                "MIIT II.(4).12",
                {
                    "before": list(old_signers),
                    "after": list(pkg.signature_hashes),
                    "event": base.id,
                },
            )
        for grant in ctx.cur.runtime_grants(pkg, user):
            if grant.granted:
                self._grant_event(ctx, pkg, user, grant, None)

    def _bundle(self, ctx: _Ctx, pkg: PackageInfo, user: int, base: Event) -> None:
        installer = pkg.initiating_installer or pkg.installer
        if installer is None or installer in self.settings.trusted_installers or pkg.system:
            return
        recent = self._installs.setdefault((ctx.serial, installer), deque())
        while recent and ctx.ts - recent[0][0] > self.settings.bundle_window:
            recent.popleft()
        recent.append((ctx.ts, pkg.name, user))
        if len(recent) < self.settings.bundle_min:
            return
        members = sorted({name for _, name, _ in recent})
        for _, name, member_user in recent:
            key = (ctx.serial, name, member_user)
            if key in self._bundled:
                continue
            self._bundled.add(key)
            ctx.emit(
                "bundled_install",
                member_user,
                name,
                Consent.NONE,
                Severity.HIGH,
                "CAC Art.7(4)",
                {
                    "installer": installer,
                    "packages": members,
                    "window_s": self.settings.bundle_window,
                },
            )

    def _hidden(self, ctx: _Ctx, pkg: PackageInfo, user: int, base: Event) -> None:
        if pkg.system:
            return
        launcher = ctx.cur.launcher.get(user)
        label = ctx.cur.labels.get(pkg.name)
        reasons = []
        if launcher is not None and pkg.name not in launcher:
            reasons.append("no launcher icon")
        if label is not None and not label.strip():
            reasons.append("blank name")
        if reasons:
            ctx.emit(
                "hidden_app",
                user,
                pkg.name,
                Consent.NONE,
                Severity.HIGH,
                "MIIT I.3",
                {"reasons": reasons, "event": base.id},
            )

    def _updated(self, ctx: _Ctx, old: PackageInfo, new: PackageInfo) -> None:
        trusted = self.settings.trusted_installers
        installer = new.installer
        consent = Consent.NONE
        if self.evidence.ours(ctx.serial, None, new.name, "package_updated", ""):
            consent = Consent.TETHERGUARD
        elif installer in trusted:
            consent = Consent.USER
        elif new.system and installer is None:
            consent = Consent.PLATFORM
        detail = {
            "version_code": new.version_code,
            "previous_version_code": old.version_code,
            "version_name": new.version_name,
            "installer": installer,
        }
        base = ctx.emit("package_updated", None, new.name, consent, Severity.INFO, None, detail)
        known = _known_permissions(ctx.prev, old)
        added_perms = sorted(set(new.requested_permissions) - known) if known is not None else []
        added_splits = sorted(set(new.splits) - set(old.splits))
        old_dex = set(ctx.prev.packages.secondary_dex.get(old.name, ()))
        added_dex = sorted(set(ctx.cur.packages.secondary_dex.get(new.name, ())) - old_dex)
        if (added_perms or added_splits or added_dex) and consent is not Consent.TETHERGUARD:
            ctx.emit(
                "hot_update",
                None,
                new.name,
                Consent.NONE if installer not in trusted else Consent.USER,
                Severity.HIGH if installer not in trusted else Severity.LOW,
                "MIIT II.(4).10",
                {
                    "added_permissions": added_perms,
                    "added_splits": added_splits,
                    "added_code": added_dex,
                    "installer": installer,
                    "event": base.id,
                },
            )
        if (
            old.signature_hashes
            and new.signature_hashes
            and old.signature_hashes != new.signature_hashes
        ):
            ctx.emit(
                "signer_changed",
                None,
                new.name,
                Consent.NONE,
                Severity.HIGH,
                "MIIT II.(4).12",
                {
                    "before": list(old.signature_hashes),
                    "after": list(new.signature_hashes),
                    "event": base.id,
                },
            )
        old_install = {g.name for g in old.install_permissions if g.granted}
        new_install = {g.name for g in new.install_permissions if g.granted}
        if old_install != new_install:
            ctx.emit(
                "install_permissions_changed",
                None,
                new.name,
                consent,
                Severity.INFO,
                None,
                {
                    "added": sorted(new_install - old_install),
                    "removed": sorted(old_install - new_install),
                },
            )

    def _user_state(self, ctx: _Ctx, old: PackageInfo, new: PackageInfo, user: int) -> None:
        a, b = old.user(user), new.user(user)
        if a is None or b is None:
            return
        disabled_before, disabled_now = a.enabled in (2, 3, 4), b.enabled in (2, 3, 4)
        if disabled_before != disabled_now:
            kind = "package_disabled" if disabled_now else "package_enabled"
            consent = (
                Consent.TETHERGUARD
                if self.evidence.ours(ctx.serial, user, new.name, kind, "")
                else Consent.NONE
            )
            ctx.emit(
                kind,
                user,
                new.name,
                consent,
                Severity.LOW,
                None,
                {"enabled": b.enabled, "previous": a.enabled},
            )
        if a.hidden != b.hidden:
            ctx.emit(
                "package_hidden",
                user,
                new.name,
                Consent.NONE,
                Severity.MEDIUM,
                "MIIT I.3",
                {"hidden": b.hidden},
            )

    # ---------------------------------------------------------------- permissions
    def _permissions(self, ctx: _Ctx) -> None:
        prev_pkgs = {p.name: p for p in ctx.prev.packages.packages}
        for pkg in ctx.cur.packages.packages:
            old = prev_pkgs.get(pkg.name)
            if old is None:
                continue
            for user in sorted({u.id for u in ctx.cur.users}):
                if not (_installed(old, user) and _installed(pkg, user)):
                    continue
                if _reinstalled(old, pkg):
                    continue
                before = {g.name: g for g in ctx.prev.runtime_grants(old, user)}
                for grant in ctx.cur.runtime_grants(pkg, user):
                    prior = before.pop(grant.name, None)
                    was = prior is not None and prior.granted
                    if grant.granted and not was:
                        self._grant_event(ctx, pkg, user, grant, prior)
                    elif was and not grant.granted:
                        self._revoke_event(ctx, pkg, user, grant)
                    elif prior is not None and prior.flags != grant.flags:
                        ctx.emit(
                            "permission_flags_changed",
                            user,
                            pkg.name,
                            Consent.PLATFORM,
                            Severity.INFO,
                            None,
                            {
                                "permission": grant.name,
                                "flags": sorted(grant.flags),
                                "previous": sorted(prior.flags),
                            },
                        )
                for gone in before.values():  # absent now means not granted (dumps omit it)
                    if gone.granted:
                        self._revoke_event(ctx, pkg, user, PermissionGrant(gone.name, False))

    def _grant_event(
        self,
        ctx: _Ctx,
        pkg: PackageInfo,
        user: int,
        grant: PermissionGrant,
        prior: PermissionGrant | None,
    ) -> None:
        key = grant.name
        if self.evidence.ours(ctx.serial, user, pkg.name, "permission_granted", key):
            consent = Consent.TETHERGUARD
        elif self.evidence.accepted(ctx.serial, user, pkg.name, "permission_granted", key, "true"):
            consent = Consent.BASELINE
        elif grant.flags & USER_FLAGS and not (
            # Granted with the USER_FIXED we set when we revoked it: the owner's grant in
            # Settings clears that flag, so this one came from elsewhere (drift).
            "USER_FIXED" in grant.flags
            and self.evidence.flags_ours(ctx.serial, user, pkg.name, grant.name)
        ):
            consent = Consent.USER
        elif grant.flags & PLATFORM_FLAGS:
            consent = Consent.PLATFORM
        else:
            consent = Consent.NONE
        sensitive = grant.name in SENSITIVE_PERMISSIONS
        severity = Severity.INFO
        if consent is Consent.NONE:
            severity = Severity.HIGH if sensitive else Severity.MEDIUM
        ctx.granted_ops.add((_uid(pkg, user), PERMISSION_OPS.get(grant.name, "")))
        ctx.emit(
            "permission_granted",
            user,
            pkg.name,
            consent,
            severity,
            "MIIT II.(4).10",
            {"permission": grant.name, "flags": sorted(grant.flags), "sensitive": sensitive},
        )

    def _revoke_event(self, ctx: _Ctx, pkg: PackageInfo, user: int, grant: PermissionGrant) -> None:
        key = grant.name
        if self.evidence.ours(ctx.serial, user, pkg.name, "permission_revoked", key):
            consent = Consent.TETHERGUARD
        elif grant.flags & USER_FLAGS:
            consent = Consent.USER
        elif grant.flags & (PLATFORM_FLAGS | PLATFORM_REVOKE_FLAGS):
            consent = Consent.PLATFORM
        else:
            consent = Consent.NONE
        ctx.granted_ops.add((_uid(pkg, user), PERMISSION_OPS.get(grant.name, "")))
        ctx.emit(
            "permission_revoked",
            user,
            pkg.name,
            consent,
            Severity.LOW if consent is Consent.NONE else Severity.INFO,
            "MIIT II.(4).10",
            {"permission": grant.name, "flags": sorted(grant.flags)},
        )

    # ---------------------------------------------------------------- app ops
    def _appops(self, ctx: _Ctx) -> None:
        before = {b.uid: b for b in ctx.prev.appops.uids}
        names = _uid_names(ctx.cur)
        for block in ctx.cur.appops.uids:
            if app_id_of(block.uid) == SHELL_UID:
                continue  # our own polling shows up as the shell's ops
            old = before.get(block.uid)
            old_modes = dict(old.modes) if old is not None else {}
            for op, mode in sorted(block.modes.items()):
                previous = old_modes.get(op)
                if previous == mode:
                    continue
                if (block.uid, op) in ctx.granted_ops:
                    continue  # the platform mirroring a grant or revoke reported above
                if previous is None and _is_mirror(ctx.cur, block.uid, op, mode):
                    continue  # first appearance of a mirrored mode, in line with the grant
                if old is None and not _known_uid(ctx.prev, block.uid):
                    continue  # a new app's modes come with its install event
                pkgs = names.get(app_id_of(block.uid), [])
                self._op_event(ctx, block.uid, pkgs[0] if pkgs else None, op, mode, previous, "uid")
            old_pkgs = old.packages if old is not None else {}
            for pkg_name, entries in sorted(block.packages.items()):
                if pkg_name in SHELL_PACKAGES:
                    continue
                prior = {e.op: e for e in old_pkgs.get(pkg_name, ())}
                for entry in entries:
                    was = prior.get(entry.op)
                    previous_mode = was.mode if was is not None else _default_mode(entry)
                    if previous_mode == entry.mode:
                        continue
                    if was is None and not _installed_before(ctx.prev, pkg_name, block.uid):
                        # A new package's ops, or those of one installed again for this user
                        # (``install-existing`` after ``uninstall -k --user``), come with its
                        # install event.
                        continue
                    self._op_event(
                        ctx, block.uid, pkg_name, entry.op, entry.mode, previous_mode, "package"
                    )

    def _op_event(
        self,
        ctx: _Ctx,
        uid: int,
        package: str | None,
        op: str,
        mode: str,
        previous: str | None,
        scope: str,
    ) -> None:
        user = uid // PER_USER_RANGE
        key = f"{scope}:{op}"
        if self.evidence.ours(ctx.serial, user, package, "appop_changed", key):
            consent = Consent.TETHERGUARD
        elif self.evidence.accepted(ctx.serial, user, package, "appop_changed", key, mode):
            consent = Consent.BASELINE
        else:
            consent = Consent.NONE
        raised = mode in RAISED and previous not in RAISED
        severity = Severity.INFO
        if consent is Consent.NONE:
            severity = Severity.HIGH if (raised and op in SENSITIVE_OPS) else Severity.LOW
        ctx.emit(
            "appop_changed",
            user,
            package,
            consent,
            severity,
            "MIIT II.(4).10",
            {
                "op": op,
                "mode": mode,
                "previous": previous,
                "scope": scope,
                "uid": uid,
                "raised": raised,
            },
        )

    # ---------------------------------------------------------------- device admins
    def _admins(self, ctx: _Ctx) -> None:
        before = {(a.user, a.component) for a in ctx.prev.policy.admins}
        after = {(a.user, a.component) for a in ctx.cur.policy.admins}
        for user, component in sorted(after - before):
            package = component.split("/", 1)[0]
            consent = (
                Consent.TETHERGUARD
                if self.evidence.ours(ctx.serial, user, package, "device_admin", component)
                else Consent.NONE
            )
            ctx.emit(
                "device_admin",
                user,
                package,
                consent,
                Severity.HIGH if consent is Consent.NONE else Severity.INFO,
                "MIIT I.3",
                {
                    "component": component,
                    "active": True,
                    "note": "an active device admin cannot be uninstalled until deactivated",
                },
            )
        for user, component in sorted(before - after):
            ctx.emit(
                "device_admin",
                user,
                component.split("/", 1)[0],
                Consent.NONE,
                Severity.INFO,
                "MIIT I.3",
                {"component": component, "active": False},
            )


# --------------------------------------------------------------------------- helpers
@dataclass
class _Ctx:
    detector: Detector
    prev: Snapshot
    cur: Snapshot
    ts: float
    events: list[Event] = field(default_factory=list)
    granted_ops: set[tuple[int | None, str]] = field(default_factory=set)

    @property
    def serial(self) -> str:
        return self.cur.serial

    @property
    def prev_user_ids(self) -> list[int]:
        return [u.id for u in self.prev.users]

    def emit(
        self,
        kind: str,
        user: int | None,
        package: str | None,
        consent: Consent,
        severity: Severity,
        clause: str | None,
        detail: Mapping[str, Any],
    ) -> Event:
        event = Event(
            kind=kind,
            serial=self.serial,
            ts=self.ts,
            consent=consent,
            severity=severity,
            user=user,
            package=package,
            clause=clause,
            detail=MappingProxyType(dict(detail)),
        )
        self.events.append(event)
        return event


def _uid(pkg: PackageInfo, user: int) -> int | None:
    return None if pkg.uid is None else user * PER_USER_RANGE + app_id_of(pkg.uid)


def _installed(pkg: PackageInfo | None, user: int) -> bool:
    if pkg is None:
        return False
    state: PackageUserState | None = pkg.user(user)
    return state is not None and state.installed


def _reinstalled(old: PackageInfo, new: PackageInfo) -> bool:
    return (
        old.first_install_time is not None
        and new.first_install_time is not None
        and old.first_install_time != new.first_install_time
    )


def _uid_names(snap: Snapshot) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for pkg in snap.packages.packages:
        if pkg.uid is not None:
            out.setdefault(app_id_of(pkg.uid), []).append(pkg.name)
    return out


def _is_mirror(snap: Snapshot, uid: int, op: str, mode: str) -> bool:
    """Whether a uid mode simply mirrors the grant state of the permission behind the op
    (a permission the dump does not list is not granted)."""
    user = uid // PER_USER_RANGE
    for pkg in snap.packages.packages:
        if pkg.uid is None or app_id_of(pkg.uid) != app_id_of(uid):
            continue
        grants = {g.name: g.granted for g in snap.runtime_grants(pkg, user)}
        perms = [p for p, o in PERMISSION_OPS.items() if o == op]
        if any(p in grants or p in pkg.requested_permissions for p in perms):
            return (mode in RAISED) == any(grants.get(p, False) for p in perms)
    return False


def _known_permissions(snap: Snapshot, pkg: PackageInfo) -> set[str] | None:
    """The permissions ``pkg`` requested in ``snap``, or None when the snapshot cannot tell.

    A full dump usually omits "requested permissions:"; from Android 10 every requested
    runtime permission is listed in the user blocks anyway (USER_SENSITIVE_* flags), so those
    plus the install permissions stand in for it. Android 9 lists only granted ones.
    """
    if pkg.requested_permissions:
        return set(pkg.requested_permissions)
    if (snap.props.sdk or 0) < 29:
        return None
    names = {g.name for g in pkg.install_permissions}
    for user in pkg.users:
        names.update(g.name for g in snap.runtime_grants(pkg, user.user))
    return names


def _known_uid(snap: Snapshot, uid: int) -> bool:
    user = uid // PER_USER_RANGE
    return any(
        pkg.uid is not None and app_id_of(pkg.uid) == app_id_of(uid) and _installed(pkg, user)
        for pkg in snap.packages.packages
    )


def _installed_before(snap: Snapshot, package: str, uid: int) -> bool:
    pkg = snap.package(package)
    return pkg is not None and _installed(pkg, uid // PER_USER_RANGE)


def _default_mode(entry: AppOpEntry) -> str:
    return "default" if entry.op in DEFAULT_MODE_OPS else "allow"


def consent_counts(events: Iterable[Event]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for e in events:
        counts[e.consent.value] = counts.get(e.consent.value, 0) + 1
    return counts


def findings(events: Iterable[Event]) -> Iterator[Event]:
    return (e for e in events if e.finding)
