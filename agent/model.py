"""The typed records every layer speaks: what a phone holds, read from its dumps.

Frozen dataclasses with tuples and frozensets only, so a record can be hashed, shared between
threads and compared whole when snapshots are diffed. No I/O and no parsing here: parsers in
:mod:`agent.parsers` build these from text; detection compares them; the store persists them.

Times from a phone are kept as the phone printed them *and* as epoch milliseconds when the
text allows (``dumpsys`` prints local time without a zone; the collector knows the phone's
zone and clock offset and fills ``*_ms`` accordingly).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

PER_USER_RANGE = 100_000
"""uid = user * 100000 + app id (UserHandle.PER_USER_RANGE)."""

Mode = Literal["allow", "ignore", "deny", "default", "foreground", "errored", "unknown"]


def user_of(uid: int) -> int:
    return uid // PER_USER_RANGE


def app_id_of(uid: int) -> int:
    return uid % PER_USER_RANGE


def frozen_map(data: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """A read-only view, for mapping fields of frozen records."""
    return MappingProxyType(dict(data or {}))


# --------------------------------------------------------------------------- parse results
@dataclass(frozen=True)
class ParseWarning:
    """A line the parser did not understand: nothing is dropped silently."""

    line_no: int
    """1-based line number in the parsed text."""
    line: str
    """The line, cut to 200 characters."""
    reason: str


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """What a parser returns: the value it could read, plus warnings and a fatal error, if any.

    A truncated or malformed dump still yields what could be read; ``error`` then says why the
    rest is missing. Parsers never raise on bad input.
    """

    value: T
    warnings: tuple[ParseWarning, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# --------------------------------------------------------------------------- device, users
@dataclass(frozen=True)
class User:
    id: int
    name: str
    flags: int = 0
    running: bool = False
    type: str | None = None
    """``android.os.usertype.full.SYSTEM``, ``...profile.MANAGED`` (when printed)."""
    parent: int | None = None
    current: bool = False
    """The foreground user (``(current)`` in ``cmd user list -v``)."""
    state: str | None = None
    """``RUNNING_UNLOCKED``, ``RUNNING_LOCKED``, ... as ``dumpsys user`` prints it (``-1``: not
    started)."""


@dataclass(frozen=True)
class DeviceProps:
    """The build, from ``getprop``."""

    props: Mapping[str, str] = field(default_factory=frozen_map)

    @property
    def model(self) -> str:
        return self.props.get("ro.product.model", "")

    @property
    def manufacturer(self) -> str:
        return self.props.get("ro.product.manufacturer", "")

    @property
    def release(self) -> str:
        return self.props.get("ro.build.version.release", "")

    @property
    def sdk(self) -> int | None:
        text = self.props.get("ro.build.version.sdk", "")
        return int(text) if text.isascii() and text.isdigit() else None

    @property
    def fingerprint(self) -> str:
        return self.props.get("ro.build.fingerprint", "")


# --------------------------------------------------------------------------- packages
USER_FLAGS = frozenset({"USER_SET", "USER_FIXED"})
"""The owner acted on the phone (grant dialog or Settings): evidence of consent."""
PLATFORM_FLAGS = frozenset(
    {"POLICY_FIXED", "SYSTEM_FIXED", "GRANTED_BY_DEFAULT", "GRANTED_BY_ROLE"}
)
"""Granted by policy, the system image, default grants or a role: the platform's doing."""

_P = "android.permission."
SENSITIVE_PERMISSIONS: Mapping[str, str] = MappingProxyType(
    {
        _P + "RECORD_AUDIO": "mic",
        _P + "CAMERA": "camera",
        _P + "ACCESS_FINE_LOCATION": "location",
        _P + "ACCESS_COARSE_LOCATION": "location",
        _P + "ACCESS_BACKGROUND_LOCATION": "location",
        _P + "READ_CONTACTS": "contacts",
        _P + "WRITE_CONTACTS": "contacts",
        _P + "GET_ACCOUNTS": "accounts",
        _P + "READ_CALL_LOG": "call log",
        _P + "WRITE_CALL_LOG": "call log",
        _P + "READ_SMS": "sms",
        _P + "SEND_SMS": "sms",
        _P + "RECEIVE_SMS": "sms",
        _P + "READ_PHONE_STATE": "phone",
        _P + "CALL_PHONE": "phone",
        _P + "BODY_SENSORS": "sensors",
        _P + "READ_CALENDAR": "calendar",
        _P + "READ_EXTERNAL_STORAGE": "storage",
        _P + "READ_MEDIA_IMAGES": "photos",
        _P + "READ_MEDIA_VIDEO": "videos",
        _P + "READ_MEDIA_AUDIO": "audio files",
    }
)
"""Runtime permissions to personal data or sensors, and the short word shown for each: a grant
of one of these without consent is a finding (detection, the scan report and its table)."""


@dataclass(frozen=True)
class PermissionGrant:
    """A runtime (or install-time) permission's state for one package and user."""

    name: str
    granted: bool
    flags: frozenset[str] = frozenset()
    """USER_SET, USER_FIXED, POLICY_FIXED, SYSTEM_FIXED, GRANTED_BY_DEFAULT, GRANTED_BY_ROLE..."""
    user: int | None = None
    """Set on install-permission lines a non-system user prints differently (Q+
    ``, userId=N``); ``None`` everywhere else."""


@dataclass(frozen=True)
class PackageUserState:
    """A package's state for one user (the ``User N:`` block of ``dumpsys package``)."""

    user: int
    installed: bool = True
    enabled: int = 0
    """0 default, 1 enabled, 2 disabled, 3 disabled-user, 4 disabled-until-used."""
    hidden: bool = False
    suspended: bool = False
    stopped: bool = False
    not_launched: bool = False
    first_install_time: str | None = None
    """Per user from Android 13/14 (``firstInstallTime=`` under ``User N:``)."""
    runtime_permissions: tuple[PermissionGrant, ...] = ()
    ce_data_inode: int | None = None
    """Changes when the app's data is recreated (reinstall, clear)."""
    distraction_flags: int = 0
    instant: bool = False
    virtual_preload: bool = False
    quarantined: bool = False
    install_reason: int | None = None
    """``PackageManager.INSTALL_REASON_*`` (per user, Android 14+)."""
    uninstall_reason: int | None = None
    last_disabled_caller: str | None = None
    suspending_packages: tuple[str, ...] = ()
    disabled_components: tuple[str, ...] = ()
    """Class names as printed (an app that hides its launcher icon disables an alias here)."""
    enabled_components: tuple[str, ...] = ()

    def permission(self, name: str) -> PermissionGrant | None:
        return next((p for p in self.runtime_permissions if p.name == name), None)


@dataclass(frozen=True)
class PackageInfo:
    """One ``Package [name]`` block (and what ``pm list packages`` knows of it)."""

    name: str
    uid: int | None = None
    """The user-0 uid (``userId=``); other users' uids follow from :data:`PER_USER_RANGE`."""
    version_code: int | None = None
    version_name: str | None = None
    code_path: str | None = None
    min_sdk: int | None = None
    target_sdk: int | None = None
    flags: frozenset[str] = frozenset()
    """pkgFlags: SYSTEM, UPDATED_SYSTEM_APP, HAS_CODE, ALLOW_BACKUP, DEBUGGABLE, ..."""
    private_flags: frozenset[str] = frozenset()
    installer: str | None = None
    installer_uid: int | None = None
    """``installerPackageUid=`` (Android 14+; -1 for ``adb install``)."""
    update_owner: str | None = None
    initiating_installer: str | None = None
    originating_installer: str | None = None
    package_source: int | None = None
    timestamp: str | None = None
    first_install_time: str | None = None
    last_update_time: str | None = None
    signing_digests: tuple[str, ...] = ()
    """Lowercase hex SHA-256 of the signing certificates (where printed)."""
    signatures: str | None = None
    """The raw ``signatures=`` value (PackageSignatures{...}) for older versions."""
    signature_hashes: tuple[str, ...] = ()
    """``Signature.hashCode()`` values from ``signatures:[...]``: a cheap "signer changed" check,
    not a digest; unlike the raw value they survive reboots (no identity hash)."""
    past_signature_hashes: tuple[str, ...] = ()
    """The v3 rotation lineage (``past signatures:[...]``), flags dropped."""
    apk_signing_version: int | None = None
    shared_user: str | None = None
    splits: tuple[str, ...] = ()
    declared_permissions: tuple[str, ...] = ()
    requested_permissions: tuple[str, ...] = ()
    install_permissions: tuple[PermissionGrant, ...] = ()
    users: tuple[PackageUserState, ...] = ()

    @property
    def system(self) -> bool:
        return "SYSTEM" in self.flags

    def user(self, user: int) -> PackageUserState | None:
        return next((u for u in self.users if u.user == user), None)


@dataclass(frozen=True)
class PackageListEntry:
    """One line of ``pm list packages`` (with whatever options were given)."""

    name: str
    path: str | None = None
    installer: str | None = None
    uids: tuple[int, ...] = ()
    version_code: int | None = None
    stopped: bool | None = None
    """``--show-stopped`` (newest releases only)."""


@dataclass(frozen=True)
class PackageChange:
    seq: int
    package: str
    user: int = 0


@dataclass(frozen=True)
class PackageDump:
    """What ``dumpsys package`` (full or per package) yields."""

    packages: tuple[PackageInfo, ...] = ()
    hidden_system_packages: tuple[PackageInfo, ...] = ()
    """Factory copies of updated system apps (``Hidden system packages:``), kept apart so a
    package is never listed twice in :attr:`packages`."""
    shared_users: Mapping[str, PackageInfo] = field(default_factory=lambda: MappingProxyType({}))
    """Shared user name -> its permission state (packages of a shared uid have none of their
    own in the full dump)."""
    change_sequence: int | None = None
    """``Package Changes: Sequence number=N`` (resets on reboot)."""
    changes: tuple[PackageChange, ...] = ()
    secondary_dex: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Package -> secondary dex files from the dexopt state (code loaded at run time)."""


# --------------------------------------------------------------------------- app ops
# slots=True: a full dump holds tens of thousands of these records, and without a per-instance
# __dict__ each one is a single allocation (a third of the memory, and far less work for the
# garbage collector, which a large parse otherwise triggers over and over). Still frozen, so
# still hashable and compared by value; agent.parsers.appops builds them through same-slot
# builders (see its "records" section).
@dataclass(frozen=True, slots=True)
class OpAccess:
    """One access or rejection record of an op."""

    uid_state: str
    """pers, top, fgsvcl, fgsvc, fg, bg, cch (P prints the padded names, trimmed here); empty
    where the source does not split by state (O dumps, ``cmd appops get``)."""
    flags: str = ""
    """s, tp, up, tpd, upd joined with '|' (Q+); empty before Q."""
    time: str | None = None
    """The local time as printed (``2024-10-05 12:34:56.789``)."""
    relative_ms: int | None = None
    """The signed offset from dump time (``-1d2h3m4s5ms`` -> -93784005)."""
    duration_ms: int | None = None
    rejected: bool = False
    attribution_tag: str | None = None
    proxy_uid: int | None = None
    proxy_package: str | None = None
    proxy_tag: str | None = None


@dataclass(frozen=True, slots=True)
class OpRun:
    """An op in progress now (``Running start at:``); from R on one per attribution tag."""

    attribution_tag: str | None = None
    running_for_ms: int | None = None
    nesting: int = 1
    """Unfinished starts (``startNesting=``; R+ prints it only when above 1)."""


OpScope = Literal["package", "uid", "uid_or_package"]
"""Where a mode lives. ``uid_or_package``: ``cmd appops get`` lines the text cannot place."""


@dataclass(frozen=True, slots=True)
class AppOpEntry:
    """An op of a package (per-package scope) with its mode and history."""

    op: str
    mode: Mode
    switch_op: str | None = None
    switch_mode: Mode | None = None
    accesses: tuple[OpAccess, ...] = ()
    running: bool = False
    running_for_ms: int | None = None
    """From ``Running start at: +5s0ms`` (how long it has been running)."""
    nesting: int = 0
    duration_ms: int | None = None
    """The op-level last duration (O and P dumps, ``cmd appops get``); Q+ dumps print it per
    access instead (:attr:`OpAccess.duration_ms`)."""
    runs: tuple[OpRun, ...] = ()
    """Each ``Running start at:`` (per attribution tag from R on). ``running`` is set by any of
    them, or by `` (running)`` (O dumps, ``cmd appops get``), which gives no run detail."""
    scope: OpScope = "package"


@dataclass(frozen=True, slots=True)
class UidOps:
    """One ``Uid`` block: uid-scope modes and each package's ops."""

    uid: int
    uid_state: str | None = None
    capability: str | None = None
    modes: Mapping[str, str] = field(default_factory=frozen_map)
    """Uid-scope op -> mode (``CAMERA: mode=ignore``)."""
    packages: Mapping[str, tuple[AppOpEntry, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    properties: Mapping[str, str] = field(default_factory=frozen_map)
    """The block's other ``key=value`` lines as printed (pendingState, startNesting,
    appWidgetVisible, hasForegroundWatchers, ...)."""


@dataclass(frozen=True, slots=True)
class AppOpsDump:
    uids: tuple[UidOps, ...] = ()

    def ops_of(self, package: str) -> tuple[AppOpEntry, ...]:
        for block in self.uids:
            if package in block.packages:
                return block.packages[package]
        return ()


# --------------------------------------------------------------------------- other surfaces
@dataclass(frozen=True)
class ActiveAdminInfo:
    user: int
    component: str
    """``package/.Receiver``"""
    uid: int | None = None
    test_only: bool | None = None
    """``testOnlyAdmin=``: only such admins can be removed with ``dpm remove-active-admin``."""
    policies: tuple[str, ...] = ()
    """``wipe-data``, ``reset-password``, ``force-lock``, ``disable-camera`` ..."""

    @property
    def package(self) -> str:
        return self.component.split("/", 1)[0]


@dataclass(frozen=True)
class DevicePolicy:
    admins: tuple[ActiveAdminInfo, ...] = ()
    device_owner: str | None = None
    """``package/.Receiver`` (short form, comparable with :attr:`ActiveAdminInfo.component`)."""
    device_owner_user: int | None = None
    profile_owners: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    """User id -> ``package/.Receiver`` (short form)."""


@dataclass(frozen=True)
class PowerState:
    screen_on: bool | None
    wakefulness: str | None = None
    display_state: str | None = None
    """``ON``, ``OFF``, ``DOZE``, ``DOZE_SUSPEND``, ``VR``, ``ON_SUSPEND`` (``Display Power:``)."""
    interactive: bool | None = None


# =========================================================================== process starts
# Process and activity starts read from logcat (``-b events -b system``) and from ``dumpsys
# activity services``: built by agent.parsers.eventlog and agent.parsers.services, read by
# agent.starts (autostart / associated start). A section of its own, apart from the snapshot
# records above: these are a stream of facts, never part of a Snapshot.
#
# Every record keeps the time as printed (``stamp``) and, when the line says which moment it
# means (``-v epoch``, or a year and a zone), as epoch milliseconds (``time_ms``).


@dataclass(frozen=True)
class ProcessStart:
    """A process started: ``am_proc_start`` and/or ``ActivityManager: Start proc ...``.

    One start shows in both buffers; the parser merges the two views (same pid, moments apart)
    into one record and says which it saw in :attr:`sources`.
    """

    time_ms: int | None
    stamp: str
    pid: int
    uid: int | None
    user: int | None
    process: str
    hosting_type: str
    """``HostingRecord`` type: ``activity``, ``top-activity``, ``broadcast``, ``service``,
    ``content provider``, ``restart``, ``backup``, ... (OEMs add their own); ``""`` if none."""
    component: str | None = None
    """``pkg/.Cls`` (``flattenToShortString``), whatever form the line printed (P prints it so,
    Q+ prints ``{pkg/full.Class}``); ``None`` when the start names none."""
    entry_point: str | None = None
    """``[...]`` after the uid in ``Start proc`` (isolated / app-zygote processes)."""
    sources: frozenset[str] = frozenset()
    """``am_proc_start`` (events buffer), ``Start proc`` (system buffer), or both."""

    @property
    def package(self) -> str:
        """The package of the component, else the process name up to ``:``."""
        if self.component:
            return self.component.split("/", 1)[0]
        return self.process.split(":", 1)[0]


@dataclass(frozen=True)
class ProcessDied:
    """``am_proc_died`` or ``ActivityManager: Process NAME (pid N) has died``."""

    time_ms: int | None
    stamp: str
    pid: int
    process: str
    user: int | None = None
    oom_adj: int | None = None
    proc_state: int | None = None


@dataclass(frozen=True)
class ProcessKilled:
    """``am_kill`` or ``ActivityManager: Killing PID:NAME/UID (adj N): REASON``."""

    time_ms: int | None
    stamp: str
    pid: int
    process: str
    reason: str
    user: int | None = None
    uid: int | None = None
    oom_adj: int | None = None


@dataclass(frozen=True)
class ActivityStart:
    """``ActivityManager`` (<= P) / ``ActivityTaskManager`` (Q+) ``START u0 {...} from uid N``:
    the only logcat trace of *who* started an activity."""

    time_ms: int | None
    stamp: str
    user: int
    component: str | None
    """``cmp=`` in short form; ``None`` for an implicit intent."""
    package: str | None
    """The component's package, else ``pkg=``."""
    caller_uid: int | None
    """``from uid N`` (``from pid N`` on very old releases leaves it ``None``)."""
    caller_pid: int | None = None
    caller_package: str | None = None
    """``(pkg)`` after the uid, which newer builds print."""
    real_caller_uid: int | None = None
    """``(realCallingUid=N)``: who sent a PendingIntent another app created."""
    action: str | None = None
    categories: tuple[str, ...] = ()
    flags: int | None = None
    has_bounds: bool = False
    """``bnds=[..][..]``: the launcher passed the tapped icon's bounds."""
    from_launcher: bool = False
    """``MAIN`` + ``LAUNCHER`` + icon bounds: the user tapped an icon."""
    launch_mode: str | None = None
    """``with LAUNCH_SINGLE_TOP`` (Android 12+)."""
    bal: str | None = None
    """``(BAL_ALLOW_...)``: the background-activity-launch verdict (Android 14+)."""
    result: int | None = None
    """``result code=N`` (0 = started)."""


@dataclass(frozen=True)
class BootMarker:
    """``boot_progress_<stage>: <uptime ms>`` (``start``, ``ams_ready``, ``enable_screen`` ...)."""

    time_ms: int | None
    stamp: str
    stage: str
    uptime_ms: int | None = None


LogRecord = ProcessStart | ProcessDied | ProcessKilled | ActivityStart | BootMarker


@dataclass(frozen=True)
class EventLogCounts:
    """What a pass over logcat lines saw. logcat is noisy, so unknown lines are counted rather
    than warned about one by one."""

    lines: int = 0
    records: int = 0
    merged: int = 0
    """Second views of a process start already recorded (events + system buffer)."""
    ignored: int = 0
    """Well-formed lines of tags that say nothing about starts."""
    unknown: int = 0
    """Lines that are not a logcat line in a format read here."""
    malformed: int = 0
    """Lines of a tag read here whose message could not be read (warned)."""
    spoofed: int = 0
    """Start/boot lines written by a uid other than system_server's (apps can write the event
    log): dropped. Only ``-v uid`` output shows the writer."""
    dividers: int = 0
    """``--------- beginning of ...`` / ``switch to ...``."""


@dataclass(frozen=True)
class EventLog:
    records: tuple[LogRecord, ...] = ()
    counts: EventLogCounts = field(default_factory=EventLogCounts)


@dataclass(frozen=True)
class ServiceClient:
    """A process bound to a service (``* Client AppBindRecord{... ProcessRecord{...}}``)."""

    pid: int | None
    process: str
    uid: int | None


@dataclass(frozen=True)
class ServiceRecordInfo:
    """One ``* ServiceRecord{...}`` of ``dumpsys activity services``: who started or bound it."""

    component: str
    """``pkg/.Cls`` (short form)."""
    user: int | None = None
    package: str | None = None
    process: str | None = None
    pid: int | None = None
    """The hosting process (``app=ProcessRecord{... pid:proc/uid}``), once it runs."""
    uid: int | None = None
    recent_caller_package: str | None = None
    """``recentCallingPackage=`` (Android 11+): who last started or bound it."""
    recent_caller_uid: int | None = None
    created_from_fg: bool | None = None
    clients: tuple[ServiceClient, ...] = ()
