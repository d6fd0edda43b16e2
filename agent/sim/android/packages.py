"""Package manager, users and device policy of a simulated phone, in each Android version's words.

Owns ``cmd package`` (and ``pm``, which the device maps to it), ``dumpsys package``, ``cmd user``
/ ``dumpsys user``, and ``dumpsys device_policy`` / ``cmd device_policy`` (``dpm``). These are the
commands the agent uses to list, inspect, revoke and remove apps, so the simulator must print the
same sections, line shapes and error texts as a real Android 9-15 phone: the agent's parsers are
proven on real captures (``shared/android-samples``) and on this module alike.

Version differences live in one table, :class:`Fmt` (``fmt(sdk)``), not in scattered ``if``s;
formatters ask it "does this version print ``appId=`` or ``userId=``", "which flag-list style",
and so on. Sources for each choice are in the comments next to the table; formats that no real
capture confirms are marked *unverified* there and in the tests.

Everything that changes the phone goes through :class:`~agent.sim.state.DeviceState` methods
(``grant``, ``revoke``, ``uninstall``, ``install_existing`` ...), which bump the "Package
Changes" sequence and kill processes the way Android does; this module only decides whether a
command is allowed and what it prints. Labels are never printed: no real command prints them.
"""

from __future__ import annotations

import posixpath
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from agent.sim.android import Registry
from agent.sim.shell import ShellIO
from agent.sim.state import ActiveAdmin, DeviceState, Package, PackageUser

__all__ = [
    "PERMISSION_FLAG_BITS",
    "RUNTIME_PERMISSIONS",
    "Fmt",
    "fmt",
    "install",
]

P = "android.permission."

RUNTIME_PERMISSIONS: dict[str, tuple[int, str]] = {
    # name -> (first SDK where it is a runtime permission, permission group)
    P + "READ_CONTACTS": (23, "CONTACTS"),
    P + "WRITE_CONTACTS": (23, "CONTACTS"),
    P + "GET_ACCOUNTS": (23, "CONTACTS"),
    P + "READ_CALENDAR": (23, "CALENDAR"),
    P + "WRITE_CALENDAR": (23, "CALENDAR"),
    P + "CAMERA": (23, "CAMERA"),
    P + "RECORD_AUDIO": (23, "MICROPHONE"),
    P + "ACCESS_FINE_LOCATION": (23, "LOCATION"),
    P + "ACCESS_COARSE_LOCATION": (23, "LOCATION"),
    P + "ACCESS_BACKGROUND_LOCATION": (29, "LOCATION"),
    P + "READ_PHONE_STATE": (23, "PHONE"),
    P + "READ_PHONE_NUMBERS": (26, "PHONE"),
    P + "CALL_PHONE": (23, "PHONE"),
    P + "ANSWER_PHONE_CALLS": (26, "PHONE"),
    P + "ADD_VOICEMAIL": (23, "PHONE"),
    P + "USE_SIP": (23, "PHONE"),
    P + "ACCEPT_HANDOVER": (28, "PHONE"),
    P + "READ_CALL_LOG": (23, "CALL_LOG"),
    P + "WRITE_CALL_LOG": (23, "CALL_LOG"),
    P + "PROCESS_OUTGOING_CALLS": (23, "CALL_LOG"),
    P + "SEND_SMS": (23, "SMS"),
    P + "RECEIVE_SMS": (23, "SMS"),
    P + "READ_SMS": (23, "SMS"),
    P + "RECEIVE_WAP_PUSH": (23, "SMS"),
    P + "RECEIVE_MMS": (23, "SMS"),
    P + "READ_EXTERNAL_STORAGE": (23, "STORAGE"),
    P + "WRITE_EXTERNAL_STORAGE": (23, "STORAGE"),
    P + "ACCESS_MEDIA_LOCATION": (29, "STORAGE"),
    P + "BODY_SENSORS": (23, "SENSORS"),
    P + "BODY_SENSORS_BACKGROUND": (33, "SENSORS"),
    P + "ACTIVITY_RECOGNITION": (29, "ACTIVITY_RECOGNITION"),
    P + "BLUETOOTH_CONNECT": (31, "NEARBY_DEVICES"),
    P + "BLUETOOTH_SCAN": (31, "NEARBY_DEVICES"),
    P + "BLUETOOTH_ADVERTISE": (31, "NEARBY_DEVICES"),
    P + "UWB_RANGING": (31, "NEARBY_DEVICES"),
    P + "NEARBY_WIFI_DEVICES": (33, "NEARBY_DEVICES"),
    P + "POST_NOTIFICATIONS": (33, "NOTIFICATIONS"),
    P + "READ_MEDIA_IMAGES": (33, "READ_MEDIA_VISUAL"),
    P + "READ_MEDIA_VIDEO": (33, "READ_MEDIA_VISUAL"),
    P + "READ_MEDIA_AUDIO": (33, "READ_MEDIA_AURAL"),
    P + "READ_MEDIA_VISUAL_USER_SELECTED": (34, "READ_MEDIA_VISUAL"),
}

# Hard/soft-restricted permissions: R-era per-package dumps add ": restricted=true" to them in
# the requested list (real LineageOS 11 captures).
_RESTRICTED = frozenset(
    P + n
    for n in (
        "READ_EXTERNAL_STORAGE",
        "WRITE_EXTERNAL_STORAGE",
        "ACCESS_BACKGROUND_LOCATION",
        "SEND_SMS",
        "RECEIVE_SMS",
        "READ_SMS",
        "RECEIVE_WAP_PUSH",
        "RECEIVE_MMS",
        "READ_CELL_BROADCASTS",
        "READ_CALL_LOG",
        "WRITE_CALL_LOG",
        "PROCESS_OUTGOING_CALLS",
    )
)

# Normal permissions the platform declares; a permission that is neither here, nor runtime,
# nor requested/declared by any package is "Unknown permission" to pm grant.
_PLATFORM_NORMAL = frozenset(
    P + n
    for n in (
        "INTERNET",
        "ACCESS_NETWORK_STATE",
        "ACCESS_WIFI_STATE",
        "CHANGE_WIFI_STATE",
        "WAKE_LOCK",
        "VIBRATE",
        "RECEIVE_BOOT_COMPLETED",
        "FOREGROUND_SERVICE",
        "BLUETOOTH",
        "BLUETOOTH_ADMIN",
        "NFC",
        "REQUEST_INSTALL_PACKAGES",
        "SYSTEM_ALERT_WINDOW",
        "WRITE_SETTINGS",
        "WRITE_SECURE_SETTINGS",
        "DUMP",
        "READ_LOGS",
        "PACKAGE_USAGE_STATS",
        "QUERY_ALL_PACKAGES",
        "MANAGE_EXTERNAL_STORAGE",
        "SCHEDULE_EXACT_ALARM",
        "USE_FULL_SCREEN_INTENT",
    )
)

PERMISSION_FLAG_BITS: dict[str, int] = {
    # PackageManager.FLAG_PERMISSION_*; dumps list set flags in bit order.
    "USER_SET": 0x1,
    "USER_FIXED": 0x2,
    "POLICY_FIXED": 0x4,
    "REVOKED_COMPAT": 0x8,
    "REVOKE_ON_UPGRADE": 0x8,  # the same bit before R
    "SYSTEM_FIXED": 0x10,
    "GRANTED_BY_DEFAULT": 0x20,
    "REVIEW_REQUIRED": 0x40,
    "REVOKE_WHEN_REQUESTED": 0x80,
    "USER_SENSITIVE_WHEN_GRANTED": 0x100,
    "USER_SENSITIVE_WHEN_DENIED": 0x200,
    "RESTRICTION_INSTALLER_EXEMPT": 0x800,
    "RESTRICTION_SYSTEM_EXEMPT": 0x1000,
    "RESTRICTION_UPGRADE_EXEMPT": 0x2000,
    "APPLY_RESTRICTION": 0x4000,
    "GRANTED_BY_ROLE": 0x8000,
    "ONE_TIME": 0x10000,
    "AUTO_REVOKED": 0x20000,
    "SELECTED_LOCATION_ACCURACY": 0x80000,
}

# `pm set-permission-flags` accepts these words only (PackageManagerShellCommand).
_SETTABLE_FLAGS = {
    "review-required": "REVIEW_REQUIRED",
    "revoked-compat": "REVOKED_COMPAT",
    "revoke-when-requested": "REVOKE_WHEN_REQUESTED",
    "user-fixed": "USER_FIXED",
    "user-set": "USER_SET",
}

_ENABLED_NAMES = {
    0: "default",
    1: "enabled",
    2: "disabled",
    3: "disabled-user",
    4: "disabled-until-used",
}

USER_ALL = -1
USER_CURRENT = -2

ACTION_MAIN = "android.intent.action.MAIN"
CATEGORY_LAUNCHER = "android.intent.category.LAUNCHER"
ACTION_BOOT = "android.intent.action.BOOT_COMPLETED"


# ------------------------------------------------------------------------------ version table


@dataclass(frozen=True)
class Fmt:
    """What one Android version prints. Built by :func:`fmt`; see the comments there."""

    sdk: int
    pie_flags: bool
    """``flags=[ A B ]`` and ungranted-without-flags omitted (P), else ``flags=[ A|B]``."""
    exception_names_command: bool
    """R+ ``Exception occurred while executing 'grant':``; P/Q have no command name and
    print SecurityExceptions as ``Security exception: <msg>``."""
    app_id_key: str
    """``userId`` (P-S) or ``appId`` (T+) as the first line of a Package block."""
    distraction_flags: bool
    quarantined: bool
    per_user_install_times: bool
    """``installReason=`` / ``firstInstallTime=`` / ``uninstallReason=`` under ``User N:``."""
    per_user_data_dir: bool
    installer_block: bool
    """U+: installerPackageName/Uid, initiating/originating, packageSource always printed."""
    queries: bool
    restricted_suffix: bool
    application_info_line: bool
    art_service_dexopt: bool
    domain_verifier: bool
    build_fingerprint_line: bool
    shared_user_package_list: bool
    show_versioncode: bool
    apex_only: bool
    factory_only: bool
    quarantine_filter: bool
    list_all_users_by_default: bool
    permission_flag_commands: bool
    user_list_verbose: bool
    user_list_long_verbose: bool
    dpm_is_service: bool
    finalized_sessions: bool
    install_existing_current_user: bool


@cache
def fmt(sdk: int) -> Fmt:
    """The format table row for ``sdk`` (28 = Android 9 ... 35 = Android 15)."""
    return Fmt(
        sdk=sdk,
        # Fire OS 9 full dump vs Samsung Q / LineageOS 11 / Pixel 15 captures.
        pie_flags=sdk <= 28,
        # ShellCommand (P/Q) vs BasicShellCommandHandler (R+); real P/Q/R+ traces in issues.
        exception_names_command=sdk >= 30,
        # userId= in A10/A11/A12L captures, appId= in A14 and AOSP-A16; 13 unverified.
        app_id_key="appId" if sdk >= 33 else "userId",
        # distractionFlags= first seen in the LineageOS 11 capture; absent from P and Q.
        distraction_flags=sdk >= 30,
        # quarantined= (PackageUserState) arrived with V; unverified on a device.
        quarantined=sdk >= 35,
        # firstInstallTime per user: A14 capture and AOSP-A16; 12L still package-level;
        # 13 follows the per-user API introduced there (unverified).
        per_user_install_times=sdk >= 33,
        per_user_data_dir=sdk >= 35,
        # installer block always printed from U (A14 capture, AOSP-A16).
        installer_block=sdk >= 34,
        queries=sdk >= 30,
        # restricted=true seen on 11; AOSP-A16 no longer prints it; 12-13 unverified.
        restricted_suffix=30 <= sdk <= 33,
        application_info_line=sdk <= 33,
        # ART Service (Pixel 15 capture) from U; 14 unverified.
        art_service_dexopt=sdk >= 34,
        domain_verifier=sdk >= 31,
        build_fingerprint_line=sdk >= 34,
        shared_user_package_list=sdk >= 33,
        # --show-versioncode / --apex-only: HELP-29; --factory-only HELP-34; -q HELP-35.
        show_versioncode=sdk >= 29,
        apex_only=sdk >= 29,
        factory_only=sdk >= 34,
        quarantine_filter=sdk >= 35,
        # docs §1.2: list packages iterates all users on 13+.
        list_all_users_by_default=sdk >= 33,
        # set/clear-permission-flags: first listed in HELP-33 (the appops doc says R+ with a
        # verify flag; the help texts of 30-32 do not list them, so they are absent here).
        permission_flag_commands=sdk >= 33,
        # cmd user list -v: HELP 30-32; --verbose spelled out from HELP-33.
        user_list_verbose=sdk >= 30,
        user_list_long_verbose=sdk >= 33,
        # dpm is the app_process Dpm.java up to HELP-30, the device_policy service from 31.
        dpm_is_service=sdk >= 31,
        finalized_sessions=sdk >= 35,
        install_existing_current_user=sdk >= 34,
    )


# ------------------------------------------------------------------------------ small helpers


class JavaException(Exception):
    """An exception thrown inside system_server; ``cmd`` prints it per :class:`Fmt`."""

    def __init__(self, cls: str, message: str, frames: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.cls = cls
        self.message = message
        self.frames = frames


def _security(message: str, *frames: str) -> JavaException:
    return JavaException("java.lang.SecurityException", message, frames)


def _illegal(message: str, *frames: str) -> JavaException:
    return JavaException("java.lang.IllegalArgumentException", message, frames)


async def _print_exception(io: ShellIO, f: Fmt, command: str, exc: JavaException) -> int:
    """What ShellCommand.exec writes to stderr for an uncaught exception; ``cmd`` exits 255."""
    head = f"{exc.cls}: {exc.message}\n"
    frames = exc.frames or ("com.android.server.pm.PackageManagerShellCommand.onCommand",)
    trace = "".join(f"\tat {frame}({_source_of(frame)})\n" for frame in frames)
    if f.exception_names_command:
        await io.err(f"\nException occurred while executing '{command}':\n{head}{trace}")
    elif exc.cls == "java.lang.SecurityException":
        await io.err(f"Security exception: {exc.message}\n\n{head}{trace}")
    else:
        await io.err(f"\nException occurred while executing:\n{head}{trace}")
    return 255


def _source_of(frame: str) -> str:
    """``File.java:line`` for a stack frame; line numbers are stand-ins, stable per frame."""
    simple = frame.rsplit(".", 2)[-2].split("$", 1)[0]
    return f"{simple}.java:{zlib.crc32(frame.encode()) % 4000 + 100}"


class Args:
    """android.os.ShellCommand's argument cursor: options, ``-abc`` data, required args."""

    def __init__(self, args: list[str]) -> None:
        self._args = args
        self._pos = 0
        self._cur: str | None = None

    def option(self) -> str | None:
        if self._cur is not None:
            raise _illegal(f'No argument expected after "{self._args[self._pos - 1]}"')
        if self._pos >= len(self._args) or not self._args[self._pos].startswith("-"):
            return None
        arg = self._args[self._pos]
        self._pos += 1
        if arg == "--":
            return None
        if len(arg) > 2 and arg[1] != "-":
            self._cur = arg[2:]
            return arg[:2]
        return arg

    def next(self) -> str | None:
        if self._cur is not None:
            arg, self._cur = self._cur, None
            return arg
        if self._pos < len(self._args):
            self._pos += 1
            return self._args[self._pos - 1]
        return None

    def required(self) -> str:
        arg = self.next()
        if arg is None:
            prev = self._args[self._pos - 1] if self._pos else ""
            raise _illegal(f'Argument expected after "{prev}"')
        return arg

    def rest(self) -> list[str]:
        out: list[str] = []
        while (arg := self.next()) is not None:
            out.append(arg)
        return out


def parse_user(value: str) -> int:
    """UserHandle.parseUserArg."""
    if value == "all":
        return USER_ALL
    if value in ("current", "cur"):
        return USER_CURRENT
    try:
        return int(value)
    except ValueError:
        raise JavaException(
            "java.lang.NumberFormatException", f'For input string: "{value}"'
        ) from None


def ident(*parts: object) -> str:
    """A stable stand-in for System.identityHashCode in hex (``Package [x] (f74c182):``)."""
    return format(zlib.crc32("\x00".join(map(str, parts)).encode()) & 0x7FFFFFFF, "x")


def _date(ms: int) -> str:
    # SimpleDateFormat("yyyy-MM-dd HH:mm:ss") in the device zone; simulated phones run UTC
    # (persist.sys.timezone in Build.props).
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def full_class(package: str, cls: str) -> str:
    return package + cls if cls.startswith(".") else cls


def short_component(package: str, cls: str) -> str:
    """ComponentName.flattenToShortString."""
    full = full_class(package, cls)
    if full.startswith(package + "."):
        return f"{package}/{full[len(package) :]}"
    return f"{package}/{full}"


def _is_runtime(perm: str, sdk: int) -> bool:
    entry = RUNTIME_PERMISSIONS.get(perm)
    return entry is not None and entry[0] <= sdk


def _flag_names(flags: Iterable[str], f: Fmt) -> list[str]:
    names = set(flags)
    if f.sdk < 30 and "REVOKED_COMPAT" in names:  # renamed in R; the bit is the same
        names = (names - {"REVOKED_COMPAT"}) | {"REVOKE_ON_UPGRADE"}
    elif f.sdk >= 30 and "REVOKE_ON_UPGRADE" in names:
        names = (names - {"REVOKE_ON_UPGRADE"}) | {"REVOKED_COMPAT"}
    return sorted(names, key=lambda n: (PERMISSION_FLAG_BITS.get(n, 1 << 30), n))


def permission_flags_text(flags: Iterable[str], f: Fmt) -> str:
    """``, flags=[ A B ]`` (P) or ``, flags=[ A|B]`` (Q+); empty when no flag is set."""
    names = _flag_names(flags, f)
    if not names:
        return ""
    if f.pie_flags:
        return ", flags=[ " + " ".join(names) + " ]"
    return ", flags=[ " + "|".join(names) + "]"


def _apk_dir(pkg: Package) -> str:
    return posixpath.dirname(pkg.dir_name) or "/"


def _enabled(pu: PackageUser) -> bool:
    """ApplicationInfo.enabled: default and enabled count as enabled, every disable as not."""
    return pu.enabled in (0, 1)


# ------------------------------------------------------------------------------ dumpsys package


_SCREENS = "supportsScreens=[small, medium, large, xlarge, resizeable, anyDensity]"


class PackageDump:
    """Builds ``dumpsys package`` text for one state and version."""

    def __init__(self, state: DeviceState) -> None:
        self.state = state
        self.f = fmt(state.build.sdk)

    # -------------------------------------------------------------- sections
    def full(self) -> str:
        sections = [
            self.database_versions(),
            self.verifiers(),
            self.resolver("Activity Resolver Table:", self._launcher_entries(), False),
            self.resolver("Receiver Resolver Table:", self._boot_entries(), False),
            self.key_sets(list(self.state.packages.values())),
            self.packages_section(list(self.state.packages.values()), per_package=False),
            self.hidden_system(list(self.state.packages.values())),
            self.queries(),
            self.shared_users(list(self.state.packages.values())),
            self.changes(),
            ["Frozen packages:", "  (none)", ""],
            ["Loaded volumes:", "  (none)"],
            self.dexopt(list(self.state.packages.values())),
            self.compiler_stats(list(self.state.packages.values())),
            self.sessions(),
        ]
        return self._join(sections)

    def one(self, pkg: Package) -> str:
        """``dumpsys package <pkg>`` (LineageOS 11 capture layout)."""
        sections = [
            self.resolver("Activity Resolver Table:", self._launcher_entries(pkg), True),
            self.resolver("Receiver Resolver Table:", self._boot_entries(pkg), True),
            self.key_sets([pkg]),
            self.packages_section([pkg], per_package=True),
            self.hidden_system([pkg]),
            self.queries(),
            self.shared_users([pkg]),
            self.changes(),
            self.dexopt([pkg]),
            self.compiler_stats([pkg]),
        ]
        return self._join(sections)

    def section(self, name: str) -> str:
        packages = list(self.state.packages.values())
        builders: dict[str, Callable[[], list[str]]] = {
            "packages": lambda: self.packages_section(packages, per_package=False),
            "hidden": lambda: self.hidden_system(packages),
            "changes": self.changes,
            "dexopt": lambda: self.dexopt(packages),
            "shared-users": lambda: self.shared_users(packages),
        }
        wanted = ["packages", "hidden"] if name == "packages" else [name]
        return self._join([builders[n]() for n in wanted])

    @staticmethod
    def _join(sections: list[list[str]]) -> str:
        # Every section after the first is preceded by one blank line (DumpState.onTitlePrinted);
        # sections whose dump ends with pw.println() carry their own extra "" line.
        present = [s for s in sections if s]
        return "\n".join("\n".join(s) + "\n" for s in present)

    def database_versions(self) -> list[str]:
        b = self.state.build
        # IndentingPrintWriter.printPair leaves a trailing space before the newline (Fire OS 9).
        lines = ["Database versions:", "  Internal:", f"    sdkVersion={b.sdk} databaseVersion=3 "]
        if self.f.build_fingerprint_line:
            digest = format(zlib.crc32(b.fingerprint.encode()), "08x") * 5
            lines.append(f"    buildFingerprint={b.fingerprint} fingerprint={digest} ")
        else:
            lines.append(f"    fingerprint={b.fingerprint} ")
        return lines

    def verifiers(self) -> list[str]:
        pk = self.state.packages
        vending = pk.get("com.android.vending")
        required = f"{vending.name} (uid={vending.app_id})" if vending else "null (uid=-1)"
        lines = ["Verifiers:", f"  Required: {required}"]
        using = pk.get("com.google.android.gms") or pk.get("com.android.statementservice")
        if using is not None:
            if self.f.domain_verifier:
                lines += ["", "Domain Verifier:", f"  Using: {using.name} (uid={using.app_id})"]
            lines += ["", "Intent Filter Verifier:", f"  Using: {using.name} (uid={using.app_id})"]
        return lines

    def _launcher_entries(self, only: Package | None = None) -> dict[str, list[tuple[str, str]]]:
        entries: dict[str, list[tuple[str, str]]] = {}
        for pkg in [only] if only else self.state.packages.values():
            if pkg.launcher_activity:
                entries.setdefault(ACTION_MAIN, []).append((pkg.name, pkg.launcher_activity))
        return entries

    def _boot_entries(self, only: Package | None = None) -> dict[str, list[tuple[str, str]]]:
        entries: dict[str, list[tuple[str, str]]] = {}
        for pkg in [only] if only else self.state.packages.values():
            for receiver in pkg.boot_receivers:
                entries.setdefault(ACTION_BOOT, []).append((pkg.name, receiver))
        return entries

    @staticmethod
    def resolver(title: str, entries: dict[str, list[tuple[str, str]]], filters: bool) -> list[str]:
        """IntentResolver.dump: a single package's dump shows each filter, the full one not."""
        if not entries:
            return []
        lines = [title, "  Non-Data Actions:"]
        for action, comps in entries.items():
            lines.append(f"      {action}:")
            for package, cls in comps:
                comp = short_component(package, cls)
                head = f"        {ident('component', package, cls)} {comp}"
                if not filters:
                    lines.append(head)
                    continue
                lines.append(f"{head} filter {ident('filter', package, cls, action)}")
                lines.append(f'          Action: "{action}"')
                if action == ACTION_MAIN:
                    lines.append(f'          Category: "{CATEGORY_LAUNCHER}"')
        return lines

    @staticmethod
    def key_sets(packages: list[Package]) -> list[str]:
        if not packages:
            return []
        lines = ["Key Set Manager:"]
        for pkg in packages:
            keyset = zlib.crc32(",".join(pkg.signing_digests).encode()) % 40 + 1
            lines += [f"  [{pkg.name}]", f"      Signing KeySets: {keyset}"]
        return lines

    def packages_section(self, packages: list[Package], *, per_package: bool) -> list[str]:
        if not packages:
            return []
        lines = ["Packages:"]
        for pkg in packages:
            lines += self.package_block(pkg, per_package=per_package)
        return lines

    def hidden_system(self, packages: list[Package]) -> list[str]:
        """The factory copies of updated system apps (``Hidden system packages:``)."""
        updated = [p for p in packages if p.system and p.updated_system]
        if not updated:
            return []
        lines = ["Hidden system packages:"]
        for pkg in updated:
            lines += self.package_block(pkg, per_package=False, factory=True)
        return lines

    def queries(self) -> list[str]:
        if not self.f.queries:
            return []
        if self.f.sdk >= 35:  # Pixel 15 capture adds the forceQueryable / uses-library lists
            return [
                "Queries:",
                "  system apps queryable: false",
                "  queries via forceQueryable:",
                "  queries via package name:",
                "  queries via component:",
                "  queryable via interaction:",
                "  queryable via uses-library:",
            ]
        return [
            "Queries:",
            "  system apps queryable: false",
            "  queries via package name:",
            "  queries via intent:",
            "  queryable via interaction:",
        ]

    # -------------------------------------------------------------- one package
    def package_block(self, pkg: Package, *, per_package: bool, factory: bool = False) -> list[str]:
        f, s = self.f, self.state
        code_dir = _factory_dir(pkg) if factory else _apk_dir(pkg)
        flags = _app_flags(pkg, factory=factory)
        out = [f"  Package [{pkg.name}] ({ident('ps', pkg.name, factory)}):"]
        add = out.append
        add(f"    {f.app_id_key}={pkg.app_id}")
        if pkg.shared_user:
            add(
                f"    sharedUser=SharedUserSetting{{{ident('sus', pkg.shared_user)} "
                f"{pkg.shared_user}/{pkg.app_id}}}"
            )
        add(f"    pkg=Package{{{ident('pkg', pkg.name, factory)} {pkg.name}}}")
        add(f"    codePath={code_dir}")
        add(f"    resourcePath={code_dir}")
        add(f"    legacyNativeLibraryDir={code_dir}/lib")
        if f.installer_block:
            add("    extractNativeLibs=false")
        add("    primaryCpuAbi=null")
        add("    secondaryCpuAbi=null")
        if f.installer_block:
            add("    cpuAbiOverride=null")
        add(f"    versionCode={pkg.version_code} minSdk={pkg.min_sdk} targetSdk={pkg.target_sdk}")
        if f.installer_block:
            add("    minExtensionVersions=[]")
        add(f"    versionName={pkg.version_name}")
        if f.installer_block:
            add(f"    hiddenApiEnforcementPolicy={0 if pkg.system else 2}")
            add("    usesNonSdkApi=false")
        add("    splits=[" + ", ".join(["base", *([] if factory else pkg.splits)]) + "]")
        add(f"    apkSigningVersion={pkg.signing_version}")
        if f.application_info_line:
            add(f"    applicationInfo=ApplicationInfo{{{ident('ai', pkg.name)} {pkg.name}}}")
        add(f"    flags=[ {' '.join(flags)} ]")
        add(f"    privateFlags=[ {' '.join(_private_flags(pkg, f))} ]")
        if f.queries:
            add("    forceQueryable=false")
        if f.queries and not f.installer_block:
            add("    queriesPackages=[]")
        if not f.per_user_data_dir:
            add(f"    dataDir=/data/user/0/{pkg.name}")
        add(f"    {_SCREENS}")
        first = pkg.first_install_ms
        last = first if factory else pkg.last_update_ms
        add(f"    timeStamp={_date(last)}")
        if not f.per_user_install_times:
            add(f"    firstInstallTime={_date(first)}")
        add(f"    lastUpdateTime={_date(last)}")
        if f.installer_block:
            installer_uid = self._installer_uid(pkg)
            add(f"    installerPackageName={_null(None if factory else pkg.installer)}")
            add(f"    installerPackageUid={-1 if factory else installer_uid}")
            add(f"    initiatingPackageName={_null(None if factory else pkg.initiating)}")
            add(f"    originatingPackageName={_null(None if factory else pkg.originating)}")
            add(f"    packageSource={0 if factory else pkg.package_source}")
            add("    appMetadataFilePath=null")
        elif pkg.installer and not factory:
            add(f"    installerPackageName={pkg.installer}")
        add(
            f"    signatures=PackageSignatures{{{ident('sig', pkg.name, factory)} "
            f"version:{pkg.signing_version}, signatures:[{_signature_hash(pkg)}], "
            "past signatures:[]}"
        )
        add("    installPermissionsFixed=true")
        add(f"    pkgFlags=[ {' '.join(flags)} ]")
        if pkg.declared and not factory:
            add("    declared permissions:")
            out.extend(f"      {perm}: prot=signature, INSTALLED" for perm in pkg.declared)
        if per_package and pkg.requested and not factory:
            add("    requested permissions:")
            for perm in pkg.requested:
                restricted = f.restricted_suffix and perm in _RESTRICTED
                add(f"      {perm}" + (": restricted=true" if restricted else ""))
        if pkg.install_granted and not factory and (per_package or not pkg.shared_user):
            add("    install permissions:")
            out.extend(f"      {perm}: granted=true" for perm in pkg.install_granted)
        for user in sorted(s.users):
            out += self.user_block(pkg, user, per_package=per_package, factory=factory)
        return out

    def _installer_uid(self, pkg: Package) -> int:
        if pkg.installer_uid is not None:
            return pkg.installer_uid
        installer = self.state.packages.get(pkg.installer or "")
        return installer.app_id if installer else -1

    def user_block(self, pkg: Package, user: int, *, per_package: bool, factory: bool) -> list[str]:
        f = self.f
        pu = pkg.users.get(user) or PackageUser(installed=False)
        fields = [
            f"ceDataInode={_inode(pkg.name, user) if pu.installed else 0}",
            f"installed={_b(pu.installed)}",
            f"hidden={_b(pu.hidden)}",
            f"suspended={_b(pu.suspended)}",
        ]
        if f.distraction_flags:
            fields.append("distractionFlags=0")
        fields += [
            f"stopped={_b(pu.stopped)}",
            f"notLaunched={_b(pu.not_launched)}",
            f"enabled={pu.enabled}",
            "instant=false",
            "virtual=false",
        ]
        if f.quarantined:
            fields.append("quarantined=false")
        out = [f"    User {user}: " + " ".join(fields)]
        if f.per_user_install_times:
            # Printed with a fixed six-space indent in Settings.dumpPackageLPr.
            out.append("      installReason=0")
            if f.per_user_data_dir:
                out.append(f"      dataDir=/data/user/{user}/{pkg.name}")
            out.append(
                f"      firstInstallTime={_date(pu.first_install_ms or pkg.first_install_ms)}"
            )
            out.append("      uninstallReason=0")
        if factory or pkg.shared_user:
            return out  # permissions of a shared uid are under "Shared users:"
        if P + "INTERNET" in pkg.install_granted:
            out.append("      gids=[3003]")
        perms = self.runtime_lines(pu, "        ")
        if perms or per_package:
            out.append("      runtime permissions:")
            out += perms
        return out

    def runtime_lines(self, pu: PackageUser, indent: str) -> list[str]:
        out = []
        for name, ps in pu.permissions.items():
            if self.f.pie_flags and not ps.granted and not ps.flags:
                continue  # P keeps no state for an ungranted permission without flags
            out.append(
                f"{indent}{name}: granted={_b(ps.granted)}"
                + permission_flags_text(ps.flags, self.f)
            )
        return out

    def shared_users(self, packages: list[Package]) -> list[str]:
        groups: dict[str, list[Package]] = {}
        for pkg in packages:
            if pkg.shared_user:
                groups.setdefault(pkg.shared_user, []).append(pkg)
        if not groups:
            return []
        lines = ["Shared users:"]
        for name, members in groups.items():
            # Permissions belong to the uid; the members of one shared uid share one record,
            # so the dump shows the union of what the simulator keeps per member.
            app_id = members[0].app_id
            lines.append(f"  SharedUser [{name}] ({ident('sus', name)}):")
            lines.append(f"    {self.f.app_id_key}={app_id}")
            if self.f.shared_user_package_list:
                lines.append("    Packages")
                lines += [
                    f"      PackageSetting{{{ident('pset', p.name)} {p.name}/{app_id}}}"
                    for p in self.state.packages.values()
                    if p.shared_user == name
                ]
            install = list(dict.fromkeys(p for m in members for p in m.install_granted))
            if install:
                lines.append("    install permissions:")
                lines += [f"      {perm}: granted=true" for perm in install]
            for user in sorted(self.state.users):
                merged = PackageUser()
                for member in members:
                    for perm, ps in member.users.get(user, PackageUser()).permissions.items():
                        merged.permissions.setdefault(perm, ps)
                gids = any(P + "INTERNET" in m.install_granted for m in members)
                perms = self.runtime_lines(merged, "        ")
                if not gids and not perms:
                    continue
                lines.append(f"    User {user}: ")
                if gids:
                    lines.append("      gids=[3003]")
                if perms:
                    lines.append("      runtime permissions:")
                    lines += perms
        return lines

    def changes(self) -> list[str]:
        """``Package Changes:``: the latest change of each package per user, in seq order."""
        s = self.state
        # Android numbers changes from 0 and prints the next number as "Sequence number".
        per_user: dict[int, dict[str, int]] = {}
        for seq, name in s.package_changes:
            pkg = s.packages.get(name)
            users = sorted(pkg.users) if pkg and pkg.users else [0]
            for user in users:
                per_user.setdefault(user, {}).pop(name, None)
                per_user[user][name] = seq - 1
        lines = ["Package Changes:", f"  Sequence number={s.change_seq}"]
        for user in sorted(per_user):
            lines.append(f"  User {user}:")
            ordered = sorted(per_user[user].items(), key=lambda kv: kv[1])
            lines += [f"    seq={seq}, package={name}" for name, seq in ordered]
        return [*lines, ""]

    def dexopt(self, packages: list[Package]) -> list[str]:
        if not packages:
            return []
        lines = ["Dexopt state:"]
        art = self.f.art_service_dexopt
        for pkg in packages:
            apk = pkg.dir_name
            reason = "bg-dexopt" if pkg.system else "install"
            lines += [f"  [{pkg.name}]", f"    path: {apk}"]
            if art:
                oat = f"{_apk_dir(pkg)}/oat/arm64/{posixpath.basename(apk).rsplit('.', 1)[0]}"
                lines += [
                    f"      arm64: [status=speed-profile] [reason={reason}] [primary-abi]",
                    f"        [location is {oat}.odex]",
                ]
            else:
                lines.append(f"      arm64: [status=speed-profile] [reason={reason}]")
            if pkg.secondary_dex:
                lines += self._secondary(pkg, art)
        return [*lines, ""]

    @staticmethod
    def _secondary(pkg: Package, art: bool) -> list[str]:
        context = f"PCL[];PCL[{pkg.dir_name}]"
        if not art:  # P-era DexManager layout (Fire OS 9 capture)
            lines = ["      known secondary dex files:"]
            for path in pkg.secondary_dex:
                lines += [f"        {path}", f"          class loader context: {context}"]
            return lines
        lines = ["    known secondary dex files:"]  # ART Service layout (Pixel 15 capture)
        for path in pkg.secondary_dex:
            stem = posixpath.basename(path).rsplit(".", 1)[0]
            oat = f"{posixpath.dirname(path)}/oat/arm64/{stem}.vdex"
            lines += [
                f"      {path}",
                "        arm64: [status=verify] [reason=vdex] [primary-abi]",
                f"          [location is {oat}]",
                f"        class loader context: {context}",
            ]
        return lines

    @staticmethod
    def compiler_stats(packages: list[Package]) -> list[str]:
        if not packages:
            return []
        lines = ["Compiler stats:"]
        for pkg in packages:
            ms = zlib.crc32(pkg.name.encode()) % 9000 + 100
            lines += [f"  [{pkg.name}]", f"     {posixpath.basename(pkg.dir_name)} - {ms}"]
        return lines

    def sessions(self) -> list[str]:
        # The simulator keeps no PackageInstaller sessions; real phones print the empty
        # headers with an indented blank line (Fire OS 9 capture).
        lines = ["Active install sessions:", "  "]
        if self.f.finalized_sessions:
            lines += ["Finalized install sessions:", "  "]
        return [*lines, "Historical install sessions:", "  ", "Legacy install sessions:", "  {}"]


def _b(value: bool) -> str:
    return "true" if value else "false"


def _null(value: str | None) -> str:
    """Java prints a null String as ``null``."""
    return "null" if value is None else value


def _inode(name: str, user: int) -> int:
    return 800_000 + zlib.crc32(f"{name}/{user}".encode()) % 200_000


def _signature_hash(pkg: Package) -> str:
    """Signature.hashCode() is 32 bits printed without leading zeros; not a digest."""
    digest = pkg.signing_digests[0] if pkg.signing_digests else pkg.name
    return format(zlib.crc32(digest.encode()), "x")


def _factory_dir(pkg: Package) -> str:
    if pkg.code_path.startswith("/system/"):
        return _apk_dir(pkg)
    return f"/system/{'priv-app' if pkg.priv else 'app'}/{pkg.name.rsplit('.', 1)[-1]}"


def _app_flags(pkg: Package, *, factory: bool = False) -> list[str]:
    # Settings.FLAG_DUMP_SPEC order.
    flags = ["SYSTEM"] if pkg.system else []
    flags += ["HAS_CODE", "ALLOW_CLEAR_USER_DATA"]
    if pkg.updated_system and not factory:
        flags.append("UPDATED_SYSTEM_APP")
    flags.append("ALLOW_BACKUP")
    return flags


def _private_flags(pkg: Package, f: Fmt) -> list[str]:
    flags = ["PRIVATE_FLAG_ACTIVITIES_RESIZE_MODE_RESIZEABLE_VIA_SDK_VERSION"]
    if f.sdk >= 29 and pkg.target_sdk >= 29:
        flags.append("ALLOW_AUDIO_PLAYBACK_CAPTURE")
    if f.sdk >= 29 and pkg.target_sdk < 29:  # Q grants legacy storage to older targets
        flags.append("PRIVATE_FLAG_REQUEST_LEGACY_EXTERNAL_STORAGE")
    if pkg.priv:
        flags.append("PRIVILEGED")
    if f.sdk >= 30:
        flags.append("PRIVATE_FLAG_ALLOW_NATIVE_HEAP_POINTER_TAGGING")
    return flags


# ------------------------------------------------------------------------------ cmd package


Handler = Callable[[Args, ShellIO], Awaitable[int]]


class PackageShell:
    """``cmd package`` / ``pm``: one method per subcommand, dispatched by table."""

    def __init__(self, state: DeviceState) -> None:
        self.state = state
        self.table: dict[str, Handler] = {
            "list": self.list_,
            "path": self.path,
            "grant": self.grant,
            "revoke": self.revoke,
            "set-permission-flags": self.set_permission_flags,
            "clear-permission-flags": self.clear_permission_flags,
            "enable": self._enabled_setter(1),
            "disable": self._enabled_setter(2),
            "disable-user": self._enabled_setter(3),
            "disable-until-used": self._enabled_setter(4),
            "default-state": self._enabled_setter(0),
            "uninstall": self.uninstall,
            "install-existing": self.install_existing,
            "query-activities": self._query("activities", "Activity"),
            "query-receivers": self._query("receivers", "Receiver"),
            "resolve-activity": self.resolve_activity,
        }

    @property
    def f(self) -> Fmt:
        return fmt(self.state.build.sdk)

    async def __call__(self, argv: list[str], io: ShellIO) -> int:
        if not argv or argv[0] in ("help", "-h"):
            # The full help text is not reproduced; real phones print it and exit 255 too.
            await io.out("Package manager (package) commands:\n  help\n    Print this help text.\n")
            return 255
        command = argv[0]
        handler = self.table.get(command)
        if handler is None or (
            command.endswith("permission-flags") and not self.f.permission_flag_commands
        ):
            await io.out(f"Unknown command: {command}\n")
            return 255
        try:
            return await handler(Args(argv[1:]), io)
        except JavaException as exc:
            return await _print_exception(io, self.f, command, exc)

    # -------------------------------------------------------------- helpers
    def _user(self, value: int) -> int:
        return self.state.current_user if value == USER_CURRENT else value

    def _package(self, name: str, frames: tuple[str, ...]) -> Package:
        pkg = self.state.packages.get(name)
        if pkg is None:
            raise _illegal(f"Unknown package: {name}", *frames)
        return pkg

    def _same_uid(self, pkg: Package) -> list[Package]:
        if not pkg.shared_user:
            return [pkg]
        return [p for p in self.state.packages.values() if p.app_id == pkg.app_id]

    def _known_permission(self, perm: str) -> bool:
        if perm in RUNTIME_PERMISSIONS or perm in _PLATFORM_NORMAL:
            return True
        return any(perm in p.requested or perm in p.declared for p in self.state.packages.values())

    def _protected(self, name: str) -> bool:
        """Device owner and profile owner packages (ProtectedPackages)."""
        owners = [self.state.device_owner, *self.state.profile_owners.values()]
        return any(o is not None and o.split("/", 1)[0] == name for o in owners)

    def _has_admin(self, name: str, users: Iterable[int]) -> bool:
        wanted = set(users)
        return self._protected(name) or any(
            a.component.split("/", 1)[0] == name and a.user in wanted for a in self.state.admins
        )

    # -------------------------------------------------------------- list
    async def list_(self, args: Args, io: ShellIO) -> int:
        kind = args.next()
        if kind is None:
            await io.out("Error: didn't specify type of data to list\n")
            return 255
        if kind in ("package", "packages"):
            return await self.list_packages(args, io)
        if kind == "users":
            return await list_users(self.state, [], io)
        if kind == "permissions":
            return await self.list_permissions(args, io)
        if kind == "permission-groups":
            groups = sorted({g for _, g in RUNTIME_PERMISSIONS.values()})
            await io.out("".join(f"permission group:{P[:-1]}-group.{g}\n" for g in groups))
            return 0
        await io.out(f"Error: unknown list type '{kind}'\n")
        return 255

    async def list_packages(self, args: Args, io: ShellIO) -> int:
        f = self.f
        opts: set[str] = set()
        uid_filter = -1
        user = USER_ALL if f.list_all_users_by_default else 0
        known = {"-d", "-e", "-f", "-i", "-l", "-s", "-U", "-u", "-3"}
        known |= {"-a", "--show-versioncode", "--apex-only"} if f.apex_only else set()
        known |= {"--factory-only", "--match-libraries"} if f.factory_only else set()
        known |= {"-q"} if f.quarantine_filter else set()
        try:
            while (opt := args.option()) is not None:
                if opt == "--user":
                    user = parse_user(args.required())
                elif opt == "--uid":
                    opts.add("-U")
                    uid_filter = parse_user(args.required())
                elif opt in known:
                    opts.add(opt)
                else:
                    await io.out(f"Error: Unknown option: {opt}\n")
                    return 255
        except JavaException as exc:  # runListPackages catches RuntimeException itself
            await io.out(f"Error: {exc.cls}: {exc.message}\n")
            return 255
        name_filter = args.next()
        user = self._user(user)
        if user != USER_ALL and user not in self.state.users:
            return 0
        users = sorted(self.state.users) if user == USER_ALL else [user]
        if "--apex-only" in opts or "-q" in opts:
            return 0  # the simulator has no APEX modules and no quarantined packages
        lines: dict[str, list[int]] = {}  # line without uid -> uids (merged across users)
        for u in users:
            for pkg in self.state.packages.values():
                line = self._list_line(pkg, u, opts, name_filter, uid_filter)
                if line is not None:
                    lines.setdefault(line, []).append(pkg.uid(u))
        out = []
        for line, uids in lines.items():
            suffix = " uid:" + ",".join(map(str, uids)) if "-U" in opts else ""
            out.append(f"package:{line}{suffix}\n")
        await io.out("".join(out))
        return 0

    def _list_line(
        self, pkg: Package, user: int, opts: set[str], name_filter: str | None, uid_filter: int
    ) -> str | None:
        pu = pkg.users.get(user)
        if pu is None or not (pu.installed or "-u" in opts or "-a" in opts):
            return None
        if name_filter is not None and name_filter not in pkg.name:
            return None
        if uid_filter != -1 and pkg.uid(user) != uid_filter:
            return None
        enabled = _enabled(pu)
        if ("-d" in opts and enabled) or ("-e" in opts and not enabled):
            return None
        if ("-s" in opts or "--factory-only" in opts) and not pkg.system:
            return None
        if "-3" in opts and pkg.system:
            return None
        # runListPackages: [sourceDir=]name[ versionCode:N][  installer=X] (uid appended later)
        line = f"{pkg.dir_name}={pkg.name}" if "-f" in opts else pkg.name
        if "--show-versioncode" in opts:
            line += f" versionCode:{pkg.version_code}"
        if "-i" in opts:
            line += f"  installer={_null(pkg.installer)}"
        return line

    async def list_permissions(self, args: Args, io: ShellIO) -> int:
        dangerous = groups = False
        while (opt := args.option()) is not None:
            if opt == "-d":
                dangerous = True
            elif opt == "-g":
                groups = True
            elif opt in ("-f", "-u", "-s"):
                pass  # labels and summaries need resources the simulator does not have
            else:
                await io.out(f"Error: Unknown option: {opt}\n")
                return 1
        sdk = self.state.build.sdk
        runtime = [p for p, (since, _) in RUNTIME_PERMISSIONS.items() if since <= sdk]
        declared = [p for pkg in self.state.packages.values() for p in pkg.declared]
        names = runtime if dangerous else sorted({*runtime, *_PLATFORM_NORMAL, *declared})
        out = ["Dangerous Permissions:\n\n" if dangerous else "All Permissions:\n\n"]
        if not groups:
            out += [f"permission:{p}\n" for p in names]
        else:
            by_group: dict[str | None, list[str]] = {}
            for perm in names:
                group = RUNTIME_PERMISSIONS.get(perm, (0, None))[1]
                by_group.setdefault(group, []).append(perm)
            ordered = [*sorted(g for g in by_group if g is not None), None]
            for i, group in enumerate(ordered):
                if i:
                    out.append("\n")
                out.append(f"group:{P[:-1]}-group.{group}\n" if group else "ungrouped:\n")
                out += [f"  permission:{p}\n" for p in by_group.get(group, [])]
        await io.out("".join(out))
        return 0

    # -------------------------------------------------------------- path
    async def path(self, args: Args, io: ShellIO) -> int:
        user = 0
        if args.option() == "--user":
            user = self._user(parse_user(args.required()))
        name = args.next()
        if name is None:
            await io.err("Error: no package specified\n")
            return 1
        pkg = self.state.packages.get(name)
        pu = pkg.users.get(user) if pkg else None
        if pkg is None or pu is None or not pu.installed:
            return 1
        base = _apk_dir(pkg)
        paths = [pkg.dir_name, *(f"{base}/split_{s}.apk" for s in pkg.splits)]
        await io.out("".join(f"package:{p}\n" for p in paths))
        return 0

    # -------------------------------------------------------------- permissions
    def _perm_args(self, args: Args) -> tuple[int, str | None, str | None]:
        user = 0  # pm grant/revoke default to USER_SYSTEM (appops doc §3.4)
        while (opt := args.option()) is not None:
            if opt == "--user":
                user = self._user(parse_user(args.required()))
        return user, args.next(), args.next()

    def _check_changeable(self, pkg: Package, perm: str, frames: tuple[str, ...]) -> None:
        if not self._known_permission(perm):
            raise _illegal(f"Unknown permission: {perm}", *frames)
        if perm not in pkg.requested:
            raise _security(f"Package {pkg.name} has not requested permission {perm}", *frames)
        if not _is_runtime(perm, self.state.build.sdk):
            raise _security(
                f"Permission {perm} requested by {pkg.name} is not a changeable permission type",
                *frames,
            )

    async def grant(self, args: Args, io: ShellIO) -> int:
        return await self._grant_revoke(args, io, grant=True)

    async def revoke(self, args: Args, io: ShellIO) -> int:
        return await self._grant_revoke(args, io, grant=False)

    async def _grant_revoke(self, args: Args, io: ShellIO, *, grant: bool) -> int:
        user, name, perm = self._perm_args(args)
        if name is None or perm is None:
            await io.err(f"Error: no {'package' if name is None else 'permission'} specified\n")
            return 1
        verb = "grant" if grant else "revoke"
        frames = _perm_frames(f"{verb}RuntimePermission", "runGrantRevokePermission")
        if self.state.oem.refuses_permission_changes:
            # MIUI/HyperOS without "USB debugging (Security settings)" (appops doc §5.6).
            right = "GRANT_RUNTIME_PERMISSIONS" if grant else "REVOKE_RUNTIME_PERMISSIONS"
            raise _security(
                f"{verb}RuntimePermission: Neither user 2000 nor current process has "
                f"android.permission.{right}.",
                "android.app.ContextImpl.enforce",
                "android.app.ContextImpl.enforceCallingOrSelfPermission",
                *frames,
            )
        pkg = self._package(name, frames)
        if user not in pkg.users:
            raise _illegal(f"Unknown package: {name}", *frames)
        self._check_changeable(pkg, perm, frames)
        if pkg.target_sdk < 23:
            return 0  # legacy app: the runtime permission is managed through its app-op
        current = pkg.users[user].permissions.get(perm)
        flags = current.flags if current else set()
        if "SYSTEM_FIXED" in flags:
            text = (
                f"Cannot grant system fixed permission {perm} for package {name}"
                if grant
                else f"Non-System UID cannot revoke system fixed permission {perm} "
                f"for package {name}"
            )
            raise _security(text, *frames)
        if "POLICY_FIXED" in flags:
            raise _security(
                f"Cannot {verb} policy fixed permission {perm} for package {name}", *frames
            )
        for member in self._same_uid(pkg):  # permissions belong to the uid
            if user not in member.users:
                continue
            if grant:
                self.state.grant(member.name, user, perm)
            elif (ps := member.users[user].permissions.get(perm)) is not None and ps.granted:
                self.state.revoke(member.name, user, perm)  # kills the app, as Android does
        return 0

    async def set_permission_flags(self, args: Args, io: ShellIO) -> int:
        return await self._permission_flags(args, io, set_=True)

    async def clear_permission_flags(self, args: Args, io: ShellIO) -> int:
        return await self._permission_flags(args, io, set_=False)

    async def _permission_flags(self, args: Args, io: ShellIO, *, set_: bool) -> int:
        user, name, perm = self._perm_args(args)
        if name is None or perm is None:
            await io.err(f"Error: no {'package' if name is None else 'permission'} specified\n")
            return 1
        words = args.rest()
        for word in words:
            if word not in _SETTABLE_FLAGS:
                await io.out(f"Unknown permission flag: {word}\n")
                return 1
        frames = _perm_frames("updatePermissionFlags", "runSetPermissionFlags")
        if self.state.oem.refuses_permission_changes:
            raise _security(
                "updatePermissionFlags requires android.permission.GRANT_RUNTIME_PERMISSIONS "
                "or android.permission.REVOKE_RUNTIME_PERMISSIONS",
                *frames,
            )
        pkg = self._package(name, frames)
        if user not in pkg.users:
            raise _illegal(f"Unknown package: {name}", *frames)
        if not self._known_permission(perm):
            raise _illegal(f"Unknown permission: {perm}", *frames)
        flags = [_SETTABLE_FLAGS[w] for w in words]
        for member in self._same_uid(pkg):
            if user in member.users:
                if set_:
                    self.state.update_permission_flags(member.name, user, perm, add=flags)
                else:
                    self.state.update_permission_flags(member.name, user, perm, remove=flags)
        return 0

    # -------------------------------------------------------------- enable / disable
    def _enabled_setter(self, new_state: int) -> Handler:
        async def run(args: Args, io: ShellIO) -> int:
            return await self.set_enabled(args, io, new_state)

        return run

    async def set_enabled(self, args: Args, io: ShellIO, new_state: int) -> int:
        user = 0
        if args.option() == "--user":  # runSetEnabledSetting reads a single option
            user = self._user(parse_user(args.required()))
        target = args.next()
        if target is None:
            await io.err("Error: no package or component specified\n")
            return 1
        name, _, cls = target.partition("/")
        if cls:
            # Shell may only toggle whole packages (PackageManagerService.setEnabledSetting).
            raise _security(
                f"Shell cannot change component state for {name}/{full_class(name, cls)} "
                f"to {new_state}",
                *_ENABLE_FRAMES,
            )
        pkg = self.state.packages.get(name)
        if pkg is None or user not in pkg.users:
            raise _illegal(f"Unknown package: {name}", *_ENABLE_FRAMES)
        old = pkg.users[user].enabled
        if new_state not in (0, 1, 3) or old not in (0, 1, 3):
            raise _security(
                f"Shell cannot change component state for {name}/null to {new_state}",
                *_ENABLE_FRAMES,
            )
        if new_state == 3 and self._protected(name):
            raise _security(f"Cannot disable a protected package: {name}", *_ENABLE_FRAMES)
        self.state.set_enabled(name, user, new_state)
        shown = _ENABLED_NAMES[pkg.users[user].enabled]
        await io.out(f"Package {name} new state: {shown}\n")
        return 0

    # -------------------------------------------------------------- uninstall / restore
    async def uninstall(self, args: Args, io: ShellIO) -> int:
        keep = False
        user = USER_ALL
        while (opt := args.option()) is not None:
            if opt == "-k":
                keep = True
            elif opt == "--user":
                user = self._user(parse_user(args.required()))
            elif opt == "--versionCode":
                args.required()
            else:
                await io.out(f"Error: Unknown option: {opt}\n")
                return 1
        name = args.next()
        if name is None:
            await io.out("Error: package name not specified\n")
            return 1
        result = self._uninstall(name, user, keep)
        await io.out(result + "\n")
        return 0 if result == "Success" else 1

    def _uninstall(self, name: str, user: int, keep: bool) -> str:
        s = self.state
        pkg = s.packages.get(name)
        if user == USER_ALL:
            if pkg is None or not any(pu.installed for pu in pkg.users.values()):
                return "Failure [DELETE_FAILED_INTERNAL_ERROR]"
            if self._has_admin(name, pkg.users):
                return "Failure [DELETE_FAILED_DEVICE_POLICY_MANAGER]"
            if pkg.system and not pkg.updated_system:
                # A factory system app cannot be deleted for all users (docs §5.2).
                return "Failure [DELETE_FAILED_INTERNAL_ERROR]"
            if pkg.updated_system:
                s.uninstall_updates(name)  # rolls back to the factory version
            else:
                s.uninstall(name, None, keep_data=keep)
            return "Success"
        if user not in s.users and self.f.sdk >= 35:
            return f"Failure [user {user} doesn't exist]"
        pu = pkg.users.get(user) if pkg else None
        if pkg is None or pu is None or not pu.installed:
            return f"Failure [not installed for {user}]"
        if self._has_admin(name, [user]):
            return "Failure [DELETE_FAILED_DEVICE_POLICY_MANAGER]"
        # DELETE_SYSTEM_APP for a system app: "removed for user", the APK stays on /system.
        s.uninstall(name, user, keep_data=keep)
        return "Success"

    async def install_existing(self, args: Args, io: ShellIO) -> int:
        user = self.state.current_user if self.f.install_existing_current_user else 0
        while (opt := args.option()) is not None:
            if opt == "--user":
                user = self._user(parse_user(args.required()))
            elif opt not in (
                "--ephemeral",
                "--instant",
                "--full",
                "--wait",
                "--restrict-permissions",
            ):
                await io.out(f"Error: Unknown option: {opt}\n")
                return 1
        name = args.next()
        if name is None:
            await io.out("Error: package name not specified\n")
            return 1
        if self.state.oem.blocks_install:
            # MIUI "Install via USB" off refuses installs this way (real for pm install;
            # unverified for install-existing).
            await io.out("Failure [INSTALL_FAILED_USER_RESTRICTED: Install canceled by user]\n")
            return 1
        if name not in self.state.packages or user not in self.state.users:
            await io.out(
                "android.content.pm.PackageManager$NameNotFoundException: "
                f"Package {name} doesn't exist\n"
            )
            return 1
        self.state.install_existing(name, user)
        await io.out(f"Package {name} installed for user: {user}\n")
        return 0

    # -------------------------------------------------------------- intents
    def _parse_intent(self, args: Args) -> tuple[dict[str, object], int, bool, bool]:
        intent: dict[str, object] = {"categories": []}
        user, brief, components = USER_CURRENT, False, False
        with_value = {"-a": "action", "-d": "data", "-t": "type", "-n": "component"}
        while (opt := args.option()) is not None:
            if opt in with_value:
                intent[with_value[opt]] = args.required()
            elif opt == "-c":
                categories = intent["categories"]
                assert isinstance(categories, list)
                categories.append(args.required())
            elif opt == "--user":
                user = parse_user(args.required())
            elif opt == "--brief":
                brief = True
            elif opt == "--components":
                components = True
            elif opt in ("--query-flags", "-f"):
                args.required()
            else:
                raise _illegal(f"Unknown option: {opt}", "android.content.Intent.parseCommandArgs")
        rest = args.next()
        if rest is not None:
            intent["package"] = rest
        return intent, self._user(user), brief, components

    def _resolve(
        self, intent: dict[str, object], user: int, kind: str
    ) -> list[tuple[Package, str]]:
        action = intent.get("action")
        categories = intent.get("categories") or []
        assert isinstance(categories, list)
        wanted_pkg = intent.get("package")
        component = intent.get("component")
        found: list[tuple[Package, str]] = []
        for pkg in self.state.packages.values():
            pu = pkg.users.get(user)
            if pu is None or not pu.installed or not _enabled(pu):
                continue  # disabled packages' components do not resolve
            if wanted_pkg not in (None, pkg.name):
                continue
            if kind == "activities":
                ok = action in (None, ACTION_MAIN) and set(categories) <= {CATEGORY_LAUNCHER}
                classes = [pkg.launcher_activity] if pkg.launcher_activity and ok else []
            else:
                ok = action == ACTION_BOOT and not categories
                classes = list(pkg.boot_receivers) if ok else []
            for cls in classes:
                if component in (None, short_component(pkg.name, cls)):
                    found.append((pkg, cls))
        return found

    def _query(self, kind: str, title: str) -> Handler:
        async def run(args: Args, io: ShellIO) -> int:
            intent, user, brief, components = self._parse_intent(args)
            found = self._resolve(intent, user, kind)
            if not found:
                await io.out(f"No {kind} found\n")
                return 0
            out: list[str] = []
            if components:
                out += [short_component(p.name, c) + "\n" for p, c in found]
            else:
                out.append(f"{len(found)} {kind} found:\n")
                for i, (pkg, cls) in enumerate(found):
                    out.append(f"  {title} #{i}:\n")
                    out += _resolve_info(pkg, cls, "    ", brief, kind)
            await io.out("".join(out))
            return 0

        return run

    async def resolve_activity(self, args: Args, io: ShellIO) -> int:
        intent, user, brief, components = self._parse_intent(args)
        found = self._resolve(intent, user, "activities")
        if not found:
            await io.out("No activity found\n")
            return 0
        if len(found) > 1:  # ambiguous: the chooser resolves it
            ri = "android/com.android.internal.app.ResolverActivity"
            if brief or components:
                head = (
                    []
                    if components
                    else [
                        "priority=0 preferredOrder=0 match=0x0 specificIndex=-1 isDefault=false\n"
                    ]
                )
                await io.out("".join([*head, ri + "\n"]))
            else:
                await io.out(
                    f"priority=0 preferredOrder=0 match=0x0 specificIndex=-1 "
                    f"isDefault=false\nActivityInfo:\n  name={ri.split('/')[1]}\n"
                    "  packageName=android\n"
                )
            return 0
        pkg, cls = found[0]
        if components:
            await io.out(short_component(pkg.name, cls) + "\n")
        else:
            await io.out("".join(_resolve_info(pkg, cls, "", brief, "activities")))
        return 0


def _resolve_info(pkg: Package, cls: str, prefix: str, brief: bool, kind: str) -> list[str]:
    """PackageManagerShellCommand.printResolveInfo; the non-brief form is a reduced
    ResolveInfo.dump (no label: ``nonLocalizedLabel=null``)."""
    head = f"{prefix}priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=false\n"
    if brief:
        return [head, f"{prefix}{short_component(pkg.name, cls)}\n"]
    app = ident("ai", pkg.name)
    return [
        head,
        f"{prefix}ActivityInfo:\n",  # receivers are ActivityInfo objects too
        f"{prefix}  name={full_class(pkg.name, cls)}\n",
        f"{prefix}  packageName={pkg.name}\n",
        f"{prefix}  enabled=true exported=true directBootAware=false\n",
        f"{prefix}  ApplicationInfo:\n",
        f"{prefix}    packageName={pkg.name}\n",
        f"{prefix}    labelRes=0x7f{app[:6]:0>6} nonLocalizedLabel=null icon=0x7f{app[-6:]:0>6} "
        "banner=0x0\n",
        f"{prefix}    enabled=true minSdkVersion={pkg.min_sdk} "
        f"targetSdkVersion={pkg.target_sdk} versionCode={pkg.version_code} "
        "targetSandboxVersion=1\n",
    ]


def _perm_frames(method: str, command: str) -> tuple[str, ...]:
    """Top frames of a permission exception (the service class moved in 13 and 14, but the
    exception line, which is what callers read, did not)."""
    return (
        f"com.android.server.pm.permission.PermissionManagerService.{method}",
        f"com.android.server.pm.PackageManagerShellCommand.{command}",
        "com.android.server.pm.PackageManagerShellCommand.onCommand",
    )


_ENABLE_FRAMES = (
    "com.android.server.pm.PackageManagerService.setEnabledSetting",
    "com.android.server.pm.PackageManagerService.setApplicationEnabledSetting",
    "com.android.server.pm.PackageManagerShellCommand.runSetEnabledSetting",
    "com.android.server.pm.PackageManagerShellCommand.onCommand",
)


# ------------------------------------------------------------------------------ users


def _user_flags(flags: int) -> str:
    """UserInfo.flagsToString: flag names joined by '|' in name order (getDeclaredFields)."""
    names = {
        0x1: "PRIMARY",
        0x2: "ADMIN",
        0x4: "GUEST",
        0x8: "RESTRICTED",
        0x10: "INITIALIZED",
        0x20: "MANAGED_PROFILE",
        0x40: "DISABLED",
        0x80: "QUIET_MODE",
        0x100: "EPHEMERAL",
        0x200: "DEMO",
        0x400: "FULL",
        0x800: "SYSTEM",
        0x1000: "PROFILE",
        0x2000: "EPHEMERAL_ON_CREATE",
        0x4000: "MAIN",
        0x8000: "FOR_TESTING",
    }
    return "|".join(sorted(n for bit, n in names.items() if flags & bit)) or "0"


def _user_info(state: DeviceState, uid: int) -> str:
    u = state.users[uid]
    return f"UserInfo{{{u.id}:{u.name}:{u.flags:x}}}"


async def list_users(state: DeviceState, argv: list[str], io: ShellIO) -> int:
    """``cmd user list [-v]`` and ``pm list users`` (which runs ``cmd user list``)."""
    f = fmt(state.build.sdk)
    verbose = False
    args = Args(argv)
    if f.user_list_verbose:
        while (opt := args.option()) is not None:
            if opt == "-v" or (opt == "--verbose" and f.user_list_long_verbose):
                verbose = True
            elif opt in ("--all", "-all"):
                pass
            else:
                await io.out(f"Invalid option: {opt}\n")
                return 255
    users = [state.users[k] for k in sorted(state.users)]
    if not verbose:
        # "the standard list users command ... should not be changed" (UserManagerService).
        lines = ["Users:\n"]
        lines += [f"\t{_user_info(state, u.id)}{' running' if u.running else ''}\n" for u in users]
        await io.out("".join(lines))
        return 0
    out = [f"{len(users)} users:\n\n"]
    for i, u in enumerate(users):
        extra = f" (parentId={u.parent})" if u.parent is not None else ""
        extra += " (running)" if u.running else ""
        if f.sdk >= 33:
            if u.id == 0 and state.device_owner:
                extra += " (device-owner)"
            if u.id in state.profile_owners:
                extra += " (profile-owner)"
        extra += " (current)" if u.id == state.current_user else ""
        if f.sdk >= 34 and u.running and (u.id == state.current_user or u.parent is not None):
            extra += " (visible)"
        kind = u.type.replace("android.os.usertype.", "")
        out.append(
            f"{i}: id={u.id}, name={u.name}, type={kind}, flags={_user_flags(u.flags)}{extra}\n"
        )
    await io.out("".join(out))
    return 0


def _user_service(state: DeviceState) -> Callable[[list[str], ShellIO], Awaitable[int]]:
    async def run(argv: list[str], io: ShellIO) -> int:
        if not argv or argv[0] in ("help", "-h"):
            await io.out(
                "User manager (user) commands:\n  help\n    Print this help text.\n\n"
                "  list\n    Prints all users on the system.\n"
            )
            return 255
        if argv[0] == "list":
            return await list_users(state, argv[1:], io)
        await io.out(f"Unknown command: {argv[0]}\n")
        return 255

    return run


def _dumpsys_user(state: DeviceState) -> Callable[[list[str], ShellIO], Awaitable[int]]:
    async def run(argv: list[str], io: ShellIO) -> int:
        # A short, real-shaped subset of UserManagerService.dump (unverified against a capture).
        out = []
        if state.build.sdk >= 30:
            out.append(f"Current user: {state.current_user}\n")
        out.append("Users:\n")
        for uid in sorted(state.users):
            u = state.users[uid]
            out.append(f"  {_user_info(state, uid)} serialNo={uid}\n")
            if state.build.sdk >= 30:
                out.append(f"    Type: {u.type.replace('android.os.usertype.', '')}\n")
                out.append(f"    Flags: {u.flags} ({_user_flags(u.flags)})\n")
            out.append(f"    State: {'RUNNING_UNLOCKED' if u.running else '-1'}\n")
            if u.parent is not None:
                out.append(f"    Profile group id: {u.parent}\n")
            out.append("    Created: <unknown>\n")
        await io.out("".join(out))
        return 0

    return run


# ------------------------------------------------------------------------------ device policy


def _component_info(component: str) -> str:
    package, _, cls = component.partition("/")
    return f"ComponentInfo{{{package}/{full_class(package, cls)}}}"


def _admin_block(state: DeviceState, admin: ActiveAdmin) -> list[str]:
    package = admin.component.split("/", 1)[0]
    pkg = state.packages.get(package)
    uid = pkg.uid(admin.user) if pkg else -1
    return [
        f"    {admin.component}:",
        f"      uid={uid}",
        f"      testOnlyAdmin={_b(admin.test_only)}",
        "      policies:",
        *(f"        {p}" for p in admin.policies),
        "      passwordQuality=0x0",
        "      minimumPasswordLength=0",
        "      maximumFailedPasswordsForWipe=0",
        "      disableCamera=false",
        "      isParent=false",
    ]


def _dumpsys_device_policy(state: DeviceState) -> Callable[[list[str], ShellIO], Awaitable[int]]:
    async def run(argv: list[str], io: ShellIO) -> int:
        # Fire OS 9 capture layout; newer releases add sections the agent does not read
        # (their exact layout is unverified here).
        lines = ["Current Device Policy Manager state:"]
        if state.device_owner:
            package = state.device_owner.split("/", 1)[0]
            lines += [
                "  Device Owner: ",
                f"    admin={_component_info(state.device_owner)}",
                "    name=",
                f"    package={package}",
                "    User ID: 0",
                "",
            ]
        for user in sorted(state.profile_owners):
            comp = state.profile_owners[user]
            lines += [
                f"  Profile Owner (User {user}): ",
                f"    admin={_component_info(comp)}",
                "    name=",
                f"    package={comp.split('/', 1)[0]}",
                "",
            ]
        for user in sorted(state.users):
            admins = [a for a in state.admins if a.user == user]
            if not admins:
                continue
            lines.append(f"  Enabled Device Admins (User {user}, provisioningState: 0):")
            for admin in admins:
                lines += _admin_block(state, admin)
            lines += [" ", "    mPasswordOwner=-1", ""]
        lines += ["  Encryption Status: inactive"]
        await io.out("\n".join(lines) + "\n")
        return 0

    return run


_DPM_USAGE = "usage: dpm [subcommand] [options]\n"


def _dpm(state: DeviceState) -> Callable[[list[str], ShellIO], Awaitable[int]]:
    """``dpm`` / ``cmd device_policy``: only ``remove-active-admin`` changes anything."""

    async def run(argv: list[str], io: ShellIO) -> int:
        f = fmt(state.build.sdk)
        if not argv or argv[0] != "remove-active-admin":
            if f.dpm_is_service:
                if not argv or argv[0] in ("help", "-h"):
                    await io.out("DevicePolicyManager Service (device_policy) commands:\n")
                    return 255
                await io.out(f"Unknown command: {argv[0]}\n")
                return 255
            # Old app_process Dpm (BaseCommand): usage on stdout without arguments; an unknown
            # command is an IllegalArgumentException, printed after the usage on stderr, and
            # BaseCommand swallows it, so the exit status stays 0. (The full usage text is
            # not reproduced.)
            if not argv:
                await io.out(_DPM_USAGE)
                return 0
            await io.err(f"{_DPM_USAGE}\nError: unknown command '{argv[0]}'\n")
            return 0
        args = Args(argv[1:])
        user = 0
        try:
            while (opt := args.option()) is not None:
                if opt == "--user":
                    value = args.required()
                    user = state.current_user if value == "current" else parse_user(value)
                elif opt == "--name" and not f.dpm_is_service:
                    args.required()
                else:
                    raise _illegal(f"Unknown option: {opt}")
            component = args.next()
            if component is None or "/" not in component:
                raise _illegal(f"Invalid component {component}")
        except JavaException as exc:
            if f.dpm_is_service:
                return await _print_exception(io, f, "remove-active-admin", exc)
            await io.err(f"{_DPM_USAGE}\nError: {exc.message}\n")
            return 0
        package, _, cls = component.partition("/")
        short = short_component(package, cls).split("/", 1)[1]
        stored = f"{package}/{short}"
        admin = next(
            (
                a
                for a in state.admins
                if a.user == user and short_component(*a.component.split("/", 1)) == stored
            ),
            None,
        )
        if admin is None or not admin.test_only:
            text = f"Attempt to remove non-test admin {_component_info(component)} {user}"
            if f.dpm_is_service:
                return await _print_exception(
                    io,
                    f,
                    "remove-active-admin",
                    _security(
                        text,
                        "com.android.server.devicepolicy.DevicePolicyManagerService"
                        ".forceRemoveActiveAdmin",
                        "com.android.server.devicepolicy."
                        "DevicePolicyManagerServiceShellCommand.runRemoveActiveAdmin",
                    ),
                )
            # Old app_process Dpm: BaseCommand prints the stack trace and exits 1.
            await io.err(
                f"java.lang.SecurityException: {text}\n"
                "\tat android.os.Parcel.createException(Parcel.java:1950)\n"
                "\tat android.app.admin.IDevicePolicyManager$Stub$Proxy.forceRemoveActiveAdmin"
                "(IDevicePolicyManager.java:8695)\n"
                "\tat com.android.commands.dpm.Dpm.runRemoveActiveAdmin(Dpm.java:222)\n"
            )
            return 1
        state.remove_active_admin(admin.user, admin.component)
        await io.out(f"Success: Admin removed {_component_info(component)}\n")
        return 0

    return run


# ------------------------------------------------------------------------------ registration


def _dumpsys_package(state: DeviceState) -> Callable[[list[str], ShellIO], Awaitable[int]]:
    sections = {
        "p": "packages",
        "packages": "packages",
        "changes": "changes",
        "dexopt": "dexopt",
        "s": "shared-users",
        "shared-users": "shared-users",
    }

    async def run(argv: list[str], io: ShellIO) -> int:
        dump = PackageDump(state)
        words = [a for a in argv if not a.startswith("-")]
        if not words:
            await io.out(dump.full())
            return 0
        word = words[0]
        if word == "android" or "." in word:  # PackageManagerService: a dot means a package
            pkg = state.packages.get(word)
            if pkg is None:
                await io.out(f"Unable to find package: {word}\n")
                return 0
            await io.out(dump.one(pkg))
            return 0
        if word in sections:
            await io.out(dump.section(sections[word]))
            return 0
        await io.out(dump.full())  # an unknown word selects nothing, so everything is dumped
        return 0

    return run


def install(reg: Registry) -> None:
    """Register ``cmd package``/``dumpsys package``, ``cmd user``/``dumpsys user`` and
    ``cmd device_policy``/``dumpsys device_policy`` on ``reg``."""
    state = reg.state
    reg.cmd_service("package", PackageShell(state))
    reg.dumpsys_service("package", _dumpsys_package(state))
    reg.cmd_service("user", _user_service(state))
    reg.dumpsys_service("user", _dumpsys_user(state))
    reg.cmd_service("device_policy", _dpm(state))
    reg.dumpsys_service("device_policy", _dumpsys_device_policy(state))
