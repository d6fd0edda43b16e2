"""What a simulated phone *is*: build, users, packages, permissions, AppOps, processes, sensors.

The state is plain mutable data with a few methods that change it the way Android does (an
install bumps the "Package Changes" sequence and emits event-log lines; a revoke clears the
grant and kills the app's processes). Command modules (:mod:`agent.sim.android`) only *print*
this state in each Android version's format or call these methods; scenarios call the same
methods, so a scripted "app grants itself the microphone" and an operator's ``pm revoke`` go
through one code path.

From Android 10 the state also plays PermissionPolicyService: every change of a runtime grant
(install, ``grant``, ``revoke``, flag changes) re-derives the uid-scope app-op mode of that
permission (granted: default ``allow``, or ``foreground`` for location or body sensors without
their background permission; not granted: ``ignore``), and removing an app's uid drops its
modes, so ``dumpsys appops`` shows what a real phone shows. The small permission -> op table
this needs (:data:`RUNTIME_PERMISSION_OPS`) lives here rather than being injected from
:mod:`agent.sim.android.appops`: the state must mirror grants no matter who built it (profiles,
scenarios, tests, ``SimDevice``), and the state layer must not import the command families.
``tests/test_sim_permission_ops.py`` checks the table against the op catalogue and the package
manager's runtime-permission table, so the copies cannot drift apart.

Times are milliseconds of wall-clock time (``time.time() * 1000`` plus a settable offset, so a
clock jump is one assignment); elapsed-realtime (uptime since boot) is derived from the boot
time, as on a phone.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "APP_ID_START",
    "MIRROR_SINCE",
    "PER_USER_RANGE",
    "RUNTIME_PERMISSION_OPS",
    "Access",
    "ActiveAdmin",
    "Build",
    "CameraClient",
    "DeviceState",
    "EventRecord",
    "LocationRequest",
    "OemPolicy",
    "OpState",
    "Package",
    "PackageUser",
    "PermissionState",
    "Process",
    "Recording",
    "User",
    "permission_op",
]

PER_USER_RANGE = 100_000
APP_ID_START = 10_000

Mode = Literal["allow", "ignore", "deny", "default", "foreground"]
UidState = Literal["pers", "top", "fgsvc", "fg", "bg", "cch"]

MIRROR_SINCE = 29
"""Android 10 (Q): PermissionPolicyService starts keeping runtime-permission ops in step."""

_P = "android.permission."

RUNTIME_PERMISSION_OPS: dict[str, tuple[str, int]] = {
    # permission -> (op it is mirrored into, first SDK where it is a runtime permission).
    # AppOpsManager.permissionToOp for the runtime permissions that have an op; every such op
    # defaults to MODE_ALLOWED (asserted by the tests), which setUidMode stores as "no uid mode".
    _P + "ACCESS_COARSE_LOCATION": ("COARSE_LOCATION", 23),
    _P + "ACCESS_FINE_LOCATION": ("FINE_LOCATION", 23),
    _P + "READ_CONTACTS": ("READ_CONTACTS", 23),
    _P + "WRITE_CONTACTS": ("WRITE_CONTACTS", 23),
    _P + "GET_ACCOUNTS": ("GET_ACCOUNTS", 23),
    _P + "READ_CALL_LOG": ("READ_CALL_LOG", 23),
    _P + "WRITE_CALL_LOG": ("WRITE_CALL_LOG", 23),
    _P + "PROCESS_OUTGOING_CALLS": ("PROCESS_OUTGOING_CALLS", 23),
    _P + "READ_CALENDAR": ("READ_CALENDAR", 23),
    _P + "WRITE_CALENDAR": ("WRITE_CALENDAR", 23),
    _P + "CALL_PHONE": ("CALL_PHONE", 23),
    _P + "READ_PHONE_STATE": ("READ_PHONE_STATE", 23),
    _P + "READ_PHONE_NUMBERS": ("READ_PHONE_NUMBERS", 26),
    _P + "ANSWER_PHONE_CALLS": ("ANSWER_PHONE_CALLS", 26),
    _P + "USE_SIP": ("USE_SIP", 23),
    _P + "ACCEPT_HANDOVER": ("ACCEPT_HANDOVER", 28),
    _P + "READ_SMS": ("READ_SMS", 23),
    _P + "RECEIVE_SMS": ("RECEIVE_SMS", 23),
    _P + "RECEIVE_MMS": ("RECEIVE_MMS", 23),
    _P + "RECEIVE_WAP_PUSH": ("RECEIVE_WAP_PUSH", 23),
    _P + "SEND_SMS": ("SEND_SMS", 23),
    _P + "CAMERA": ("CAMERA", 23),
    _P + "RECORD_AUDIO": ("RECORD_AUDIO", 23),
    _P + "BODY_SENSORS": ("BODY_SENSORS", 23),
    _P + "READ_EXTERNAL_STORAGE": ("READ_EXTERNAL_STORAGE", 23),
    _P + "WRITE_EXTERNAL_STORAGE": ("WRITE_EXTERNAL_STORAGE", 23),
    _P + "ACTIVITY_RECOGNITION": ("ACTIVITY_RECOGNITION", 29),
    _P + "ACCESS_MEDIA_LOCATION": ("ACCESS_MEDIA_LOCATION", 29),
    _P + "BLUETOOTH_SCAN": ("BLUETOOTH_SCAN", 31),
    _P + "BLUETOOTH_CONNECT": ("BLUETOOTH_CONNECT", 31),
    _P + "BLUETOOTH_ADVERTISE": ("BLUETOOTH_ADVERTISE", 31),
    _P + "UWB_RANGING": ("UWB_RANGING", 31),
    _P + "NEARBY_WIFI_DEVICES": ("NEARBY_WIFI_DEVICES", 33),
    _P + "POST_NOTIFICATIONS": ("POST_NOTIFICATION", 33),
    _P + "READ_MEDIA_AUDIO": ("READ_MEDIA_AUDIO", 33),
    _P + "READ_MEDIA_VIDEO": ("READ_MEDIA_VIDEO", 33),
    _P + "READ_MEDIA_IMAGES": ("READ_MEDIA_IMAGES", 33),
    _P + "READ_MEDIA_VISUAL_USER_SELECTED": ("READ_MEDIA_VISUAL_USER_SELECTED", 34),
}
"""Runtime permissions and the app-op each one's grant is mirrored into from Android 10."""

_SWITCHED: dict[str, tuple[str, int]] = {"FINE_LOCATION": ("COARSE_LOCATION", 30)}
"""op -> (switch op, last SDK it applies): setUidMode stores a mode on the switch op."""

_BACKGROUND: dict[str, tuple[str, int]] = {
    # PermissionInfo.backgroundPermission: granted without it, the op is only "foreground".
    _P + "ACCESS_COARSE_LOCATION": (_P + "ACCESS_BACKGROUND_LOCATION", 29),
    _P + "ACCESS_FINE_LOCATION": (_P + "ACCESS_BACKGROUND_LOCATION", 29),
    _P + "BODY_SENSORS": (_P + "BODY_SENSORS_BACKGROUND", 33),
}


def permission_op(permission: str, sdk: int) -> str | None:
    """The op whose uid mode mirrors ``permission``'s grant on ``sdk``, or None if none does.

    That is the permission's op, or the op switching it (``FINE_LOCATION`` is switched by
    ``COARSE_LOCATION`` up to Android 11): ``setUidMode`` stores modes on the switch op.
    """
    entry = RUNTIME_PERMISSION_OPS.get(permission)
    if sdk < MIRROR_SINCE or entry is None or entry[1] > sdk:
        return None
    switched = _SWITCHED.get(entry[0])
    return switched[0] if switched is not None and sdk <= switched[1] else entry[0]


_NOT_MIRRORED_FLAGS = frozenset({"REVOKED_COMPAT", "REVOKE_ON_UPGRADE"})
"""A granted permission with one of these (a legacy app's revoke) has its op ignored."""

_MODE_RANK: dict[Mode, int] = {"allow": 2, "foreground": 1, "ignore": 0}
"""Two permissions on one switch op: the synchroniser keeps the most permissive mode."""


@dataclass
class Build:
    """Build properties; ``sdk`` picks every output format."""

    model: str = "Pixel 8"
    manufacturer: str = "Google"
    brand: str = "google"
    device: str = "shiba"
    product: str = "shiba"
    release: str = "15"
    sdk: int = 35
    incremental: str = "12345678"
    security_patch: str = "2024-10-05"
    build_id: str = "AP3A.241005.015"
    build_type: str = "user"
    serialno: str = "SIM0000001"

    @property
    def fingerprint(self) -> str:
        return (
            f"{self.brand}/{self.product}/{self.device}:{self.release}/{self.build_id}/"
            f"{self.incremental}:{self.build_type}/release-keys"
        )

    def props(self) -> dict[str, str]:
        """The getprop view of the build."""
        return {
            "ro.product.model": self.model,
            "ro.product.manufacturer": self.manufacturer,
            "ro.product.brand": self.brand,
            "ro.product.device": self.device,
            "ro.product.name": self.product,
            "ro.build.version.release": self.release,
            "ro.build.version.sdk": str(self.sdk),
            "ro.build.version.incremental": self.incremental,
            "ro.build.version.security_patch": self.security_patch,
            "ro.build.id": self.build_id,
            "ro.build.type": self.build_type,
            "ro.build.fingerprint": self.fingerprint,
            "ro.serialno": self.serialno,
            "ro.debuggable": "0",
            "ro.secure": "1",
            "persist.sys.timezone": "UTC",
        }


@dataclass
class OemPolicy:
    """What this phone's vendor blocks for the shell user (see docs §5.6 of appops)."""

    name: str = "aosp"
    """``aosp``, ``miui``, ``coloros``, ``fireos``, ``oneui``..."""
    blocks_permission_changes: bool = False
    """MIUI with "USB debugging (Security settings)" off: pm grant/revoke and appops set
    fail with a SecurityException."""
    blocks_install: bool = False
    """MIUI "Install via USB" off."""
    monitors_permissions: bool = False
    """ColorOS/OxygenOS "permission monitoring" (on unless Developer options -> "Disable
    permission monitoring"): pm grant/revoke fail with the same SecurityException."""

    @property
    def refuses_permission_changes(self) -> bool:
        """Whether pm grant/revoke/set-permission-flags fail for the shell on this phone."""
        return self.blocks_permission_changes or self.monitors_permissions


@dataclass
class User:
    id: int
    name: str
    flags: int = 0x13  # PRIMARY|ADMIN|FULL... for user 0; profiles set their own
    type: str = "android.os.usertype.full.SYSTEM"
    running: bool = True
    parent: int | None = None
    """The profile's parent user (a work profile of user 0 has parent 0)."""

    @property
    def is_profile(self) -> bool:
        return self.parent is not None


@dataclass
class PermissionState:
    """A runtime permission of one package for one user."""

    granted: bool = False
    flags: set[str] = field(default_factory=set)
    """Flag names as dumpsys prints them: USER_SET, USER_FIXED, POLICY_FIXED, SYSTEM_FIXED,
    GRANTED_BY_DEFAULT, GRANTED_BY_ROLE, REVOKE_WHEN_REQUESTED, USER_SENSITIVE_WHEN_GRANTED,
    USER_SENSITIVE_WHEN_DENIED, ONE_TIME, AUTO_REVOKED, REVIEW_REQUIRED, ..."""


@dataclass
class Access:
    """One access (or rejection) record of an op, per (attribution tag, uid state, flags)."""

    time_ms: int
    duration_ms: int | None = None
    proxy_uid: int | None = None
    proxy_package: str | None = None
    proxy_tag: str | None = None


@dataclass
class OpState:
    """An AppOp of one package (per-package scope) or one uid (uid scope)."""

    mode: Mode = "allow"
    accesses: dict[tuple[str | None, UidState, str], Access] = field(default_factory=dict)
    """Key: (attribution tag, uid state, flags such as ``s`` or ``tpd``)."""
    rejects: dict[tuple[str | None, UidState, str], Access] = field(default_factory=dict)
    running_since_ms: int | None = None
    """Wall time the op was started (startOp) and not yet finished; None when idle."""
    running_tag: str | None = None
    nesting: int = 0


@dataclass
class PackageUser:
    """A package's state for one user."""

    installed: bool = True
    enabled: int = 0
    """0 default, 1 enabled, 2 disabled, 3 disabled-user, 4 disabled-until-used."""
    hidden: bool = False
    suspended: bool = False
    stopped: bool = False
    not_launched: bool = False
    first_install_ms: int = 0
    permissions: dict[str, PermissionState] = field(default_factory=dict)
    ops: dict[str, OpState] = field(default_factory=dict)
    """Per-package op modes and history for this user."""
    standby_bucket: int = 10
    """10 active, 20 working set, 30 frequent, 40 rare, 45 restricted, 50 never."""


@dataclass
class Package:
    """An installed (or known) package. Per-user state lives in ``users``."""

    name: str
    app_id: int
    version_code: int = 1
    version_name: str = "1.0"
    label: str = ""
    """What the launcher shows; blank labels are a finding. Never printed by any shell
    command (docs: no shell command prints the resolved label): it lives only in the APK's
    ``resources.arsc`` (:mod:`agent.sim.apk`), which the host pulls and reads."""
    code_path: str = ""
    system: bool = False
    updated_system: bool = False
    priv: bool = False
    installer: str | None = None
    initiating: str | None = None
    originating: str | None = None
    installer_uid: int | None = None
    package_source: int = 0
    """PackageInstaller.PACKAGE_SOURCE_*: 0 unspecified, 1 other, 2 store, 3 local file,
    4 downloaded file."""
    first_install_ms: int = 0
    last_update_ms: int = 0
    signing_digests: list[str] = field(default_factory=list)
    """SHA-256 of each signing certificate, lowercase hex."""
    signing_version: int = 2
    target_sdk: int = 34
    min_sdk: int = 24
    requested: list[str] = field(default_factory=list)
    """Requested permissions (runtime and install-time), in manifest order."""
    install_granted: list[str] = field(default_factory=list)
    """Install-time (normal/signature) permissions the package was granted."""
    declared: list[str] = field(default_factory=list)
    launcher_activity: str | None = ".MainActivity"
    """Activity with MAIN/LAUNCHER, relative to the package; None = no launcher icon."""
    boot_receivers: list[str] = field(default_factory=list)
    """Receivers of BOOT_COMPLETED (class names)."""
    admin_receiver: str | None = None
    splits: list[str] = field(default_factory=list)
    secondary_dex: list[str] = field(default_factory=list)
    """Code loaded at run time (dexopt's secondary dex files): hot-update evidence."""
    shared_user: str | None = None
    users: dict[int, PackageUser] = field(default_factory=dict)

    def uid(self, user: int) -> int:
        return user * PER_USER_RANGE + self.app_id

    @property
    def dir_name(self) -> str:
        return self.code_path or f"/data/app/~~sim==/{self.name}-sim==/base.apk"


@dataclass
class Process:
    pid: int
    uid: int
    package: str
    process_name: str
    started_ms: int
    reason: str
    """am_proc_start's hosting type: activity, service, broadcast, content provider, ..."""
    component: str
    caller_package: str | None = None
    """Who caused the start (the calling app of an activity/service start), if anyone."""
    state: UidState = "fg"


@dataclass
class ActiveAdmin:
    user: int
    component: str
    """``package/.Receiver``"""
    policies: list[str] = field(default_factory=lambda: ["force-lock", "wipe-data"])
    test_only: bool = False
    """The admin's app declares ``android:testOnly``: only then may the shell remove it."""


@dataclass
class CameraClient:
    package: str
    pid: int
    camera_id: str = "0"
    started_ms: int = 0


@dataclass
class Recording:
    package: str
    uid: int
    pid: int
    session: int
    source: str = "MIC"
    started_ms: int = 0
    silenced: bool = False


@dataclass
class LocationRequest:
    package: str
    uid: int
    provider: str = "fused"
    interval_ms: int = 1000
    high_power: bool = True
    started_ms: int = 0


@dataclass(frozen=True)
class EventRecord:
    """One logd record before formatting: an ``events`` entry, or (``buffer`` set) a text line."""

    time_ms: int
    pid: int
    tid: int
    tag: str
    """am_proc_start, am_proc_died, am_kill, boot_progress_start, ...; a log tag (such as
    ``ActivityTaskManager``) for text records of the other buffers."""
    values: tuple[object, ...]
    """Event payload; for text records (``buffer`` other than events) the message alone."""
    buffer: str = "events"
    """The logd buffer: ``events``, or ``main``/``system``/``crash``/``radio`` for text lines."""
    priority: str = "I"
    """Log priority letter (V D I W E F); event records are always I."""


class DeviceState:
    """Everything a simulated phone knows. Not thread-safe: it lives on the SimHost loop."""

    def __init__(self, build: Build | None = None, oem: OemPolicy | None = None) -> None:
        self.build = build or Build()
        self.oem = oem or OemPolicy()
        self.clock_offset_ms = 0
        self.boot_ms = self.now_ms() - 3_600_000  # booted an hour ago
        self.users: dict[int, User] = {0: User(0, "Owner")}
        self.current_user = 0
        self.packages: dict[str, Package] = {}
        self.uid_ops: dict[int, dict[str, OpState]] = {}
        """Uid-scope op modes (``Uid u0a123:`` then ``CAMERA: mode=ignore``)."""
        self.uid_states: dict[int, UidState] = {}
        self.processes: dict[int, Process] = {}
        self.screen_on = True
        self.package_changes: list[tuple[int, str]] = []
        """(sequence number, package) since boot; the sequence resets on reboot."""
        self.change_seq = 0
        self.admins: list[ActiveAdmin] = []
        self.device_owner: str | None = None
        """Component (``package/.Receiver``) of the device owner, which lives on user 0."""
        self.profile_owners: dict[int, str] = {}
        """User -> component of that user's profile owner (work profile DPC, parental controls)."""
        self.camera_clients: list[CameraClient] = []
        self.recordings: list[Recording] = []
        self.location_requests: list[LocationRequest] = []
        self.sensor_privacy: dict[str, bool] = {"microphone": False, "camera": False}
        """S+ privacy toggles (``dumpsys sensor_privacy``): on, apps get silence / black frames."""
        self.clipboard_owner: str | None = None
        self.clipboard_reads: list[tuple[int, str]] = []
        """(time, package) of clipboard reads, newest last."""
        self.notifications: list[tuple[int, str, str]] = []
        """(time, tag, text) posted with ``cmd notification post``."""
        self.events: deque[EventRecord] = deque(maxlen=20_000)
        self._listeners: set[asyncio.Queue[EventRecord]] = set()
        self._next_pid = 2000
        self._next_app_id = APP_ID_START + 100
        self._next_session = 100
        self.boot_count = 1

    # ---------------------------------------------------------------- time
    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def uptime_ms(self) -> int:
        return self.now_ms() - self.boot_ms

    # ---------------------------------------------------------------- events
    def subscribe(self) -> asyncio.Queue[EventRecord]:
        """A queue that receives every new event (for ``logcat`` streaming)."""
        q: asyncio.Queue[EventRecord] = asyncio.Queue(maxsize=10_000)
        self._listeners.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[EventRecord]) -> None:
        self._listeners.discard(q)

    def emit(self, tag: str, *values: object, pid: int = 1000, tid: int | None = None) -> None:
        record = EventRecord(self.now_ms(), pid, tid if tid is not None else pid, tag, values)
        self.events.append(record)
        for q in list(self._listeners):
            if q.full():  # a stuck reader loses lines, as logcat's reader does ("chatty")
                continue
            q.put_nowait(record)

    def log(
        self,
        buffer: str,
        priority: str,
        tag: str,
        message: str,
        *,
        pid: int = 1000,
        tid: int | None = None,
    ) -> None:
        """Write a text line to the ``main``/``system``/... buffer (``Log.i(tag, message)``).

        Kept apart from :meth:`emit` so event records keep their payload shape; both land in
        :attr:`events` (one logd, one ring) and reach the same listeners.
        """
        record = EventRecord(
            self.now_ms(), pid, tid if tid is not None else pid, tag, (message,), buffer, priority
        )
        self.events.append(record)
        for q in list(self._listeners):
            if not q.full():  # the same lossy policy as emit()
                q.put_nowait(record)

    # ---------------------------------------------------------------- lookups
    def package(self, name: str) -> Package | None:
        return self.packages.get(name)

    def packages_for_uid(self, uid: int) -> list[Package]:
        app_id, user = uid % PER_USER_RANGE, uid // PER_USER_RANGE
        return [p for p in self.packages.values() if p.app_id == app_id and user in p.users]

    def installed_for(self, user: int) -> Iterable[Package]:
        return (
            p for p in self.packages.values() if p.users.get(user, PackageUser(False)).installed
        )

    def alloc_app_id(self) -> int:
        self._next_app_id += 1
        return self._next_app_id

    def alloc_pid(self) -> int:
        self._next_pid += 1
        return self._next_pid

    # ---------------------------------------------------------------- packages
    def _bump(self, package: str) -> None:
        self.change_seq += 1
        self.package_changes.append((self.change_seq, package))

    def install(
        self,
        pkg: Package,
        *,
        users: Iterable[int] = (0,),
        grant: Iterable[str] = (),
        grant_flags: Iterable[str] = (),
    ) -> Package:
        """Install or update ``pkg`` (keyed by name) for ``users``; returns the stored package.

        An update keeps per-user state (grants stay, as on Android) and the first-install time.
        ``grant`` grants runtime permissions at install (``pm install -g``) with ``grant_flags``.
        """
        now = self.now_ms()
        old = self.packages.get(pkg.name)
        if old is not None:
            pkg.app_id = old.app_id
            pkg.first_install_ms = old.first_install_ms
            pkg.users = old.users
            if old.system:
                pkg.system, pkg.updated_system = True, True
        else:
            pkg.first_install_ms = pkg.first_install_ms or now
            if not pkg.app_id:
                pkg.app_id = self.alloc_app_id()
        pkg.last_update_ms = now if old is not None else (pkg.last_update_ms or now)
        for user in users:
            # A new package's per-user install time is its own; a later user gets "now".
            first = now if old is not None else pkg.first_install_ms
            state = pkg.users.setdefault(user, PackageUser(first_install_ms=first))
            state.installed = True
            for perm in grant:
                ps = state.permissions.setdefault(perm, PermissionState())
                ps.granted = True
                ps.flags |= set(grant_flags)
        self.packages[pkg.name] = pkg
        for user in users:
            self.sync_permission_ops(pkg.name, user)
        self._bump(pkg.name)
        return pkg

    def uninstall(self, name: str, user: int | None, *, keep_data: bool = False) -> None:
        """Remove for one user (``None``: all users and the package itself)."""
        pkg = self.packages[name]
        for pid in [p.pid for p in self.processes.values() if p.package == name]:
            self.kill(pid, "uninstall")
        removed: list[int] = []  # users whose copy of the app (and its data) is gone
        if user is None or (pkg.system and not pkg.updated_system):
            targets = list(pkg.users) if user is None else [user]
            for u in targets:
                pkg.users[u].installed = False
            if user is None and not pkg.system:
                del self.packages[name]
                removed = targets
        else:
            pkg.users[user].installed = False
            if not keep_data:
                pkg.users[user].permissions.clear()
                removed = [user]
            gone_everywhere = not any(s.installed for s in pkg.users.values())
            if gone_everywhere and not pkg.system and not keep_data:
                del self.packages[name]
        for u in removed:
            self._uid_removed(pkg, u)
        self._bump(name)

    def set_enabled(self, name: str, user: int, state: int) -> None:
        self.packages[name].users[user].enabled = state
        if state in (2, 3):
            for pid in [p.pid for p in self.processes.values() if p.package == name]:
                self.kill(pid, "disable")
        self._bump(name)

    def install_existing(self, name: str, user: int) -> None:
        """``pm install-existing``: make a package still on the device installed for ``user``."""
        pkg = self.packages[name]
        state = pkg.users.setdefault(user, PackageUser(first_install_ms=self.now_ms()))
        state.installed = True
        self.sync_permission_ops(name, user)
        self._bump(name)

    def uninstall_updates(self, name: str) -> None:
        """Remove the update of an updated system app; the factory copy stays installed."""
        pkg = self.packages[name]
        for pid in [p.pid for p in self.processes.values() if p.package == name]:
            self.kill(pid, "uninstall")
        pkg.updated_system = False
        pkg.installer = pkg.initiating = pkg.originating = None
        pkg.last_update_ms = pkg.first_install_ms
        self._bump(name)

    def remove_active_admin(self, user: int, component: str) -> None:
        """Drop an active admin (and the device/profile ownership that came with it)."""
        self.admins = [a for a in self.admins if (a.user, a.component) != (user, component)]
        if user == 0 and self.device_owner == component:
            self.device_owner = None
        if self.profile_owners.get(user) == component:
            del self.profile_owners[user]

    # ---------------------------------------------------------------- permissions and ops
    def permission(self, name: str, user: int, perm: str) -> PermissionState:
        return self.packages[name].users[user].permissions.setdefault(perm, PermissionState())

    def grant(self, name: str, user: int, perm: str, flags: Iterable[str] = ()) -> None:
        ps = self.permission(name, user, perm)
        ps.granted = True
        ps.flags |= set(flags)
        self.sync_permission_ops(name, user)

    def revoke(self, name: str, user: int, perm: str) -> None:
        """Revoke; like Android, the app's processes for that user are killed."""
        ps = self.permission(name, user, perm)
        ps.granted = False
        self.sync_permission_ops(name, user)
        uid = self.packages[name].uid(user)
        for pid in [p.pid for p in self.processes.values() if p.uid == uid]:
            self.kill(pid, f"permissions revoked: {perm}")

    def update_permission_flags(
        self,
        name: str,
        user: int,
        perm: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
    ) -> None:
        """``pm set-permission-flags`` / ``clear-permission-flags``: flags only, grant unchanged."""
        ps = self.permission(name, user, perm)
        ps.flags -= set(remove)
        ps.flags |= set(add)
        self.sync_permission_ops(name, user)  # REVIEW_REQUIRED / REVOKED_COMPAT matter

    def _uid_members(self, pkg: Package, user: int) -> list[Package]:
        """The packages installed for ``user`` that share ``pkg``'s uid (just ``pkg`` unless it
        declares a shared user id, as the package commands count them)."""
        if not pkg.shared_user:
            members = [pkg]
        else:
            members = [p for p in self.packages.values() if p.app_id == pkg.app_id]
        return [p for p in members if (pu := p.users.get(user)) is not None and pu.installed]

    def sync_permission_ops(self, name: str, user: int) -> None:
        """PermissionPolicyService's ``synchronizePackagePermissionsAndAppOpsForUser``.

        From Android 10, for every runtime permission the uid's packages request: granted (and
        not revoked-compat) -> the op's switch op gets uid mode ``allow`` (``foreground`` when the
        permission has a background permission that is not granted), otherwise ``ignore``; a
        permission awaiting review is left alone. Two permissions on one switch op keep the most
        permissive mode. ``allow`` is the default of every such op, and setUidMode stores a
        default as "no uid mode"; when a package mode would still override it, that package mode
        is reset, as the synchroniser's ``setUidMode`` does. Nothing happens before Android 10.
        """
        sdk = self.build.sdk
        pkg = self.packages.get(name)
        if sdk < MIRROR_SINCE or pkg is None:
            return
        uid = pkg.uid(user)
        if uid in (0, 1000):  # root and system_server always pass; their ops are left alone
            return
        members = self._uid_members(pkg, user)
        if not members:
            return

        def granted(perm: str) -> bool:
            for m in members:
                ps = m.users[user].permissions.get(perm)
                if ps is not None and ps.granted and not ps.flags & _NOT_MIRRORED_FLAGS:
                    return True
            return False

        wanted: dict[str, tuple[Mode, list[Package]]] = {}
        for m in members:
            pu = m.users[user]
            for perm in dict.fromkeys([*m.requested, *pu.permissions]):
                op = permission_op(perm, sdk)
                if op is None:
                    continue
                ps = pu.permissions.get(perm)
                if ps is not None and "REVIEW_REQUIRED" in ps.flags:
                    continue
                mode: Mode = "ignore"
                if granted(perm):
                    mode = "allow"
                    background = _BACKGROUND.get(perm)
                    if background is not None and background[1] <= sdk:
                        mode = "allow" if granted(background[0]) else "foreground"
                have = wanted.get(op)
                if have is None or _MODE_RANK[mode] > _MODE_RANK[have[0]]:
                    wanted[op] = (mode, [m])
                elif mode == have[0] and m not in have[1]:
                    have[1].append(m)
        for op, (mode, granting) in wanted.items():
            current = self.uid_ops.get(uid, {}).get(op)
            if mode == "allow":
                if current is not None:
                    current.mode = "default"
                for member in granting:
                    package_op = member.users[user].ops.get(op)
                    if package_op is not None and package_op.mode not in ("default", "allow"):
                        package_op.mode = "default"  # it would still override the uid's allow
            elif current is None or current.mode != mode:
                self.uid_op(uid, op).mode = mode

    def _uid_removed(self, pkg: Package, user: int) -> None:
        """AppOpsService.uidRemoved: the last package of a uid is gone with its data."""
        if not self._uid_members(pkg, user):
            self.uid_ops.pop(pkg.uid(user), None)

    def op(self, name: str, user: int, op: str) -> OpState:
        """The per-package op record (created in ``default`` mode when absent)."""
        return self.packages[name].users[user].ops.setdefault(op, OpState(mode="default"))

    def uid_op(self, uid: int, op: str) -> OpState:
        return self.uid_ops.setdefault(uid, {}).setdefault(op, OpState(mode="default"))

    def note_op(
        self,
        name: str,
        user: int,
        op: str,
        *,
        state: UidState = "top",
        flags: str = "s",
        tag: str | None = None,
        duration_ms: int | None = None,
        rejected: bool = False,
        proxy: tuple[int, str] | None = None,
        at_ms: int | None = None,
    ) -> None:
        """Record an access (noteOp) now, or at ``at_ms`` (for history seeded by profiles)."""
        rec = Access(
            self.now_ms() if at_ms is None else at_ms,
            duration_ms,
            proxy[0] if proxy else None,
            proxy[1] if proxy else None,
        )
        entry = self.op(name, user, op)
        (entry.rejects if rejected else entry.accesses)[(tag, state, flags)] = rec

    def start_op(
        self, name: str, user: int, op: str, *, state: UidState = "top", tag: str | None = None
    ) -> None:
        entry = self.op(name, user, op)
        if entry.running_since_ms is None:
            entry.running_since_ms = self.now_ms()
            entry.running_tag = tag
        entry.nesting += 1
        entry.accesses[(tag, state, "s")] = Access(self.now_ms())
        self.uid_states[self.packages[name].uid(user)] = state

    def finish_op(self, name: str, user: int, op: str) -> None:
        entry = self.op(name, user, op)
        if entry.running_since_ms is None:
            return
        duration = self.now_ms() - entry.running_since_ms
        for key, rec in entry.accesses.items():
            if key[0] == entry.running_tag and rec.time_ms >= entry.running_since_ms:
                rec.duration_ms = duration
        entry.running_since_ms = None
        entry.nesting = 0

    # ---------------------------------------------------------------- processes
    def start_process(
        self,
        name: str,
        user: int,
        *,
        reason: str,
        component: str,
        caller: str | None = None,
        state: UidState = "fg",
    ) -> Process:
        """Start the app's main process and write ``am_proc_start`` to the event log."""
        pkg = self.packages[name]
        pid = self.alloc_pid()
        proc = Process(
            pid, pkg.uid(user), name, name, self.now_ms(), reason, component, caller, state
        )
        self.processes[pid] = proc
        self.uid_states[proc.uid] = state
        # am_proc_start: User, PID, UID, Process Name, Type, Component (S+ adds the hosting
        # type name; the command modules format per version from these values).
        self.emit("am_proc_start", user, pid, proc.uid, name, reason, component, pid=1000)
        return proc

    def kill(self, pid: int, reason: str) -> None:
        proc = self.processes.pop(pid, None)
        if proc is None:
            return
        user = proc.uid // PER_USER_RANGE
        self.emit("am_kill", user, pid, proc.process_name, 900, reason, pid=1000)
        self.emit("am_proc_died", user, pid, proc.process_name, 900, 19, pid=1000)
        for pkg in self.packages_for_uid(proc.uid):
            for op in pkg.users.get(user, PackageUser()).ops:
                self.finish_op(pkg.name, user, op)
        self.camera_clients = [c for c in self.camera_clients if c.pid != pid]
        self.recordings = [r for r in self.recordings if r.pid != pid]

    # ---------------------------------------------------------------- device
    def reboot(self) -> None:
        """Processes die, the change sequence resets, boot receivers fire (autostart)."""
        for pid in list(self.processes):
            self.kill(pid, "reboot")
        self.events.clear()
        self.boot_ms = self.now_ms()
        self.boot_count += 1
        self.change_seq = 0
        self.package_changes.clear()
        self.camera_clients.clear()
        self.recordings.clear()
        self.location_requests.clear()
        for op_map in self.uid_ops.values():
            for entry in op_map.values():
                entry.running_since_ms = None
        # Uptimes as a boot would log them (0 and ~5 s), not as read off the wall clock a few
        # microseconds later.
        self.emit("boot_progress_start", 0, pid=0)
        self.emit("boot_progress_enable_screen", 5000, pid=1000)
        for pkg in list(self.packages.values()):
            for user, pu in pkg.users.items():
                if pu.installed and pkg.boot_receivers and pu.enabled not in (2, 3):
                    self.start_process(
                        pkg.name,
                        user,
                        reason="broadcast",
                        component=f"{pkg.name}/{pkg.boot_receivers[0]}",
                        state="bg",
                    )

    def new_session(self) -> int:
        self._next_session += 8
        return self._next_session
