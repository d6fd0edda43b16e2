"""``dumpsys package``, ``pm list packages`` and ``pm path`` -> package records.

Owns everything the agent reads about installed packages: versions, installer chain, install
and update times, signer hashes, splits, requested/install/runtime permissions per user,
per-user state (installed, hidden, suspended, stopped, enabled, disabled components), shared
users, the ``Package Changes`` sequence and the secondary dex files from the dexopt state. The
detection layer diffs these records between snapshots, so every field must mean the same thing
on every Android version; version differences are absorbed here, in one place.

``dumpsys package`` (full, ``dumpsys package <pkg>``, or one section: ``packages``,
``shared-users``, ``changes``, ``dexopt``) is read in one pass: a single scan finds the section
titles (the lines at column 0), and only the lines of the sections read here are split and
walked, once each:

=========================== ==========================================================
parsed                      ``Packages:``, ``Hidden system packages:``, ``Shared users:``,
                            ``Package Changes:``, ``Dexopt state:``
skipped as whole sections   everything else: ``Database versions``, ``Verifiers``,
                            ``Libraries``, ``Features``, the four resolver tables,
                            ``Preferred Activities``, ``Permissions``, ``AppOp
                            Permissions``, ``Registered ContentProviders``, ``ContentProvider
                            Authorities``, ``Key Set Manager``, ``Queries``, ``Frozen
                            packages``, ``Loaded volumes``, ``Service permissions``,
                            ``Compiler stats``, ``Settings parse messages``, ``Package warning
                            messages``, install sessions, APEX sections, ``Known Packages`` ...
=========================== ==========================================================

Inside a parsed section every line is either read into a record, one of the known lines this
module ignores on purpose (:data:`IGNORED_PACKAGE_KEYS`, :data:`IGNORED_PACKAGE_LISTS`, the
dexopt detail listed in :func:`_DumpParser._dexopt`), or reported as a
:class:`~agent.model.ParseWarning`. An OEM that adds a field therefore shows up as warnings, not
as silently missing data.

Formats by version (sources: real captures in ``shared/android-samples`` for P (Fire OS 9),
Q (Samsung A40), R (LineageOS 11), V (Pixel 8 excerpt); AOSP ``Settings.dumpPackageLPr`` for
the rest):

* first line ``userId=`` (P-S) or ``appId=`` (T+);
* runtime permission flags ``flags=[ A B ]`` (P, and permissions without state are omitted)
  or ``flags=[ A|B]`` (Q+); install permissions of other users add ``, userId=N`` (Q+);
* the ``User N:`` line gains ``distractionFlags`` (R), ``deDataInode``/``quarantined``
  (newest); ``installReason``/``firstInstallTime``/``uninstallReason`` move under it (13/14),
  while P-12L print ``firstInstallTime`` at package level;
* ``installerPackageName`` only when set (P-13) vs the full installer block with
  ``installerPackageUid``/``initiatingPackageName``/``originatingPackageName``/
  ``packageSource`` (14+); ``installInitiatingPackageName`` spellings are read too;
* P prints ``overlay paths:`` of a user at the package indent, Android 12 a library's
  ``<lib> overlay paths:`` at column 0, R+ ``Suspend params:`` at the package indent: all stay
  inside the user block (the suspender is also read from P/Q's ``User N:`` line and from the
  ``<user>package`` form of 14+);
* dexopt: ``known secondary dex files:`` under ``path:`` (P-13, ``PackageDexOptimizer``) or
  under the package (ART Service, 14+), entries possibly suffixed `` (public)``.

A complete dump ends every ``Package [`` block with at least one ``User N:`` line (the
package's per-user state is printed for every user). A block that is still open without one
when the text ends means the dump was cut: the packages read so far are returned and ``error``
says where. ``*** SERVICE 'package' DUMP TIMEOUT`` sets ``error`` as well.

Everything is total: no input raises, and each line is looked at a bounded number of times
with ``str`` methods and a few anchored, backtracking-free patterns.

A limit no parser can lift: ``dumpsys`` prints app-controlled text (``versionName``, a
permission name) unescaped, so a newline in it can forge lines. A forged block still cannot
hide a package (every block is kept), and the usual traces of such forgery -- a block without
``User N:`` lines, a user printed twice in one block -- are warnings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import MappingProxyType

from agent.model import (
    PackageChange,
    PackageDump,
    PackageInfo,
    PackageListEntry,
    PackageUserState,
    Parsed,
    PermissionGrant,
)
from agent.parsers.sections import Warnings, lines_of

__all__ = [
    "IGNORED_PACKAGE_KEYS",
    "IGNORED_PACKAGE_LISTS",
    "PACKAGE_NAME",
    "parse_dumpsys_package",
    "parse_pm_list_packages",
    "parse_pm_path",
]

# ----------------------------------------------------------------------------- field tables

IGNORED_PACKAGE_KEYS = frozenset(
    {
        # Package-level "key=value" lines read and deliberately not kept: identity hashes that
        # change every boot (pkg=, applicationInfo=), paths derived from codePath, ABI and
        # build details, and flags the detection layer does not use.
        "pkg",
        "applicationInfo",
        "resourcePath",
        "legacyNativeLibraryDir",
        "extractNativeLibs",
        "primaryCpuAbi",
        "secondaryCpuAbi",
        "cpuAbiOverride",
        "minExtensionVersions",
        "hiddenApiEnforcementPolicy",
        "usesNonSdkApi",
        "pendingRestore",
        "updatableSystem",
        "emergencyInstaller",
        "hasPreserveLegacyExternalStorage",
        "forceQueryable",
        "pageSizeCompat",
        "developerVerificationStatus",
        "queriesPackages",
        "queriesIntents",
        "scannedAsStoppedSystemApp",
        "supportsScreens",
        "dataDir",
        "loadingProgress",
        "loadingCompletedTime",
        "appMetadataFilePath",
        "appMetadataSource",
        "volumeUuid",
        "installPermissionsFixed",
        "privatePkgFlags",
        "apexModuleName",
        "overlayTarget",
        "overlayCategory",
        "category",
        "isOrphaned",
        "installerAttributionTag",
        "compat name",
        "mimeGroups",
    }
)

IGNORED_PACKAGE_LISTS = frozenset(
    {
        # Package-level "title:" lines whose indented items are skipped on purpose.
        "usesLibraries",
        "usesLibraryFiles",
        "usesOptionalLibraries",
        "usesStaticLibraries",
        "usesSdkLibraries",
        "usesNativeLibraries",
        "usesOptionalNativeLibraries",
        "dynamic libraries",
        "static library",
        "SDK library",
        "processes",
        "activities",
        "services",
        "receivers",
        "providers",
        "instrumentations",
        "Packages",  # members of a shared user (T+), known from each package's sharedUser=
    }
)

_PACKAGE_FIELDS: dict[str, tuple[str, str]] = {
    # Package-level "key=value" lines: (how, attribute). "=" keeps the value as printed, "?"
    # reads Java's "null" as None, "#" an int, "[" a "[ A B ]" flag list; ("", "") marks a
    # field ignored on purpose.
    **dict.fromkeys(IGNORED_PACKAGE_KEYS, ("", "")),
    "codePath": ("=", "code_path"),
    "timeStamp": ("=", "timestamp"),
    "firstInstallTime": ("=", "first_install_time"),
    "lastUpdateTime": ("=", "last_update_time"),
    "signatures": ("=", "signatures"),
    "versionName": ("?", "version_name"),
    "installerPackageName": ("?", "installer"),
    "initiatingPackageName": ("?", "initiating_installer"),
    "installInitiatingPackageName": ("?", "initiating_installer"),
    "originatingPackageName": ("?", "originating_installer"),
    "installOriginatingPackageName": ("?", "originating_installer"),
    "updateOwnerPackageName": ("?", "update_owner"),
    "userId": ("#", "uid"),
    "appId": ("#", "uid"),
    "apkSigningVersion": ("#", "apk_signing_version"),
    "installerPackageUid": ("#", "installer_uid"),
    "packageSource": ("#", "package_source"),
    "flags": ("[", "flags"),
    "privateFlags": ("[", "private_flags"),
    "pkgFlags": ("[", "pkg_flags"),
    # Fields of their own shape: "v" versionCode= with minSdk=/targetSdk= on the same line,
    # "s" a "[base, config.x]" split list, "u" a SharedUserSetting{id name/uid}.
    "versionCode": ("v", ""),
    "splits": ("s", "splits"),
    "sharedUser": ("u", "shared_user"),
}

_USER_BOOLS = {
    "installed": "installed",
    "hidden": "hidden",
    "suspended": "suspended",
    "stopped": "stopped",
    "notLaunched": "not_launched",
    "instant": "instant",
    "virtual": "virtual_preload",
    "quarantined": "quarantined",
}
_USER_INTS = {
    "ceDataInode": "ce_data_inode",
    "distractionFlags": "distraction_flags",
    "enabled": "enabled",
}
_USER_IGNORED = frozenset({"deDataInode", "blocked"})
_USER_DETAIL_INTS = {"installReason": "install_reason", "uninstallReason": "uninstall_reason"}
_USER_DETAIL_IGNORED = frozenset({"dataDir", "archiveTime", "unarchiveInstallerTitle"})

# Package list kinds (the current "title:" at package level).
_DECLARED, _REQUESTED, _INSTALL, _SKIP, _SDK_LIBS = range(5)
_LIST_KINDS = {
    "declared permissions": _DECLARED,
    "requested permissions": _REQUESTED,
    "install permissions": _INSTALL,
    "usesSdkLibraries": _SDK_LIBS,
}
_LIST_TITLES: dict[str, int] = {
    # Package-level "title:" -> the kind of list whose items follow.
    **dict.fromkeys(IGNORED_PACKAGE_LISTS, _SKIP),
    **_LIST_KINDS,
}
# User list kinds.
_RUNTIME, _DISABLED, _ENABLED, _USKIP = range(4)
# Section readers.
_SKIPPED, _BLOCKS, _CHANGES, _DEXOPT = range(4)

_EMPTY: frozenset[str] = frozenset()
_TOP_LEVEL = re.compile(r"\n[^ \t\r\n]")  # the start of a column-0 line (a section title)
_TIMEOUT = re.compile(r"\*\*\* SERVICE '[^']*' DUMP TIMEOUT")
PACKAGE_NAME = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")
"""Android's package-name grammar (``PackageParser.validateName``, leniently: a segment may
start with a digit). Names that reach a shell command are checked against it again there."""


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _bool(text: str) -> bool | None:
    if text == "true":
        return True
    if text == "false":
        return False
    return None


def _null(text: str) -> str | None:
    return None if text == "null" else text


def _suspender(word: str) -> str:
    """``<0>com.android.shell`` (UserPackage, 14+) or ``com.android.shell`` -> the package."""
    if word.startswith("<") and ">" in word:
        return word.partition(">")[2]
    return word


def _read_user_fields(text: str) -> tuple[tuple[tuple[str, object], ...], str]:
    """``installed=true hidden=false ... enabled=0`` -> ((attr, value) ..., words not read)."""
    values: list[tuple[str, object]] = []
    unknown: list[str] = []
    for word in text.split():
        key, eq, raw = word.partition("=")
        attr = _USER_BOOLS.get(key)
        value: object = None
        if attr is not None:
            value = _bool(raw)
        else:
            attr = _USER_INTS.get(key)
            if attr is not None:
                value = _int(raw)
            elif eq and key in _USER_IGNORED:
                continue
        if attr is None or value is None:
            unknown.append(word)
        else:
            values.append((attr, value))
    return tuple(values), " ".join(unknown)[:100]


# ----------------------------------------------------------------------------- builders


class _User:
    """Mutable state of one ``User N:`` block while it is read."""

    __slots__ = (
        "ce_data_inode",
        "disabled",
        "distraction_flags",
        "enabled",
        "enabled_components",
        "first_install_time",
        "hidden",
        "install_reason",
        "installed",
        "instant",
        "last_disabled_caller",
        "not_launched",
        "quarantined",
        "runtime",
        "stopped",
        "suspended",
        "suspending",
        "uninstall_reason",
        "user",
        "virtual_preload",
    )

    def __init__(self, user: int) -> None:
        self.user = user
        self.installed = True
        self.enabled = 0
        self.hidden = self.suspended = self.stopped = self.not_launched = False
        self.instant = self.virtual_preload = self.quarantined = False
        self.distraction_flags = 0
        self.ce_data_inode: int | None = None
        self.first_install_time: str | None = None
        self.install_reason: int | None = None
        self.uninstall_reason: int | None = None
        self.last_disabled_caller: str | None = None
        self.runtime: list[PermissionGrant] = []
        self.suspending: list[str] = []
        self.disabled: list[str] = []
        self.enabled_components: list[str] = []

    def build(self) -> PackageUserState:
        return PackageUserState(
            user=self.user,
            installed=self.installed,
            enabled=self.enabled,
            hidden=self.hidden,
            suspended=self.suspended,
            stopped=self.stopped,
            not_launched=self.not_launched,
            first_install_time=self.first_install_time,
            runtime_permissions=tuple(self.runtime),
            ce_data_inode=self.ce_data_inode,
            distraction_flags=self.distraction_flags,
            instant=self.instant,
            virtual_preload=self.virtual_preload,
            quarantined=self.quarantined,
            install_reason=self.install_reason,
            uninstall_reason=self.uninstall_reason,
            last_disabled_caller=self.last_disabled_caller,
            suspending_packages=tuple(self.suspending),
            disabled_components=tuple(self.disabled),
            enabled_components=tuple(self.enabled_components),
        )


class _Package:
    """Mutable state of one ``Package [...]`` / ``SharedUser [...]`` block while it is read."""

    __slots__ = (
        "absolute",
        "apk_signing_version",
        "code_path",
        "declared",
        "first_install_time",
        "flags",
        "header",
        "initiating_installer",
        "install",
        "installer",
        "installer_uid",
        "last_update_time",
        "line_no",
        "min_sdk",
        "name",
        "originating_installer",
        "package_source",
        "pkg_flags",
        "private_flags",
        "requested",
        "shared",
        "shared_user",
        "signatures",
        "splits",
        "target_sdk",
        "timestamp",
        "uid",
        "update_owner",
        "user_ids",
        "users",
        "version_code",
        "version_name",
    )

    def __init__(self, name: str, line_no: int, header: str) -> None:
        self.name = name
        self.line_no = line_no  # relative to the section title (see _DumpParser.line_no)
        self.absolute: int | None = None  # the absolute number, once the title moved on
        self.header = header
        self.shared = header.lstrip().startswith("SharedUser [")
        self.uid: int | None = None
        self.version_code: int | None = None
        self.version_name: str | None = None
        self.code_path: str | None = None
        self.min_sdk: int | None = None
        self.target_sdk: int | None = None
        self.flags: frozenset[str] | None = None
        self.pkg_flags: frozenset[str] | None = None
        self.private_flags: frozenset[str] = _EMPTY
        self.installer: str | None = None
        self.installer_uid: int | None = None
        self.update_owner: str | None = None
        self.initiating_installer: str | None = None
        self.originating_installer: str | None = None
        self.package_source: int | None = None
        self.timestamp: str | None = None
        self.first_install_time: str | None = None
        self.last_update_time: str | None = None
        self.signatures: str | None = None
        self.apk_signing_version: int | None = None
        self.shared_user: str | None = None
        self.splits: tuple[str, ...] = ()
        self.declared: list[str] = []
        self.requested: list[str] = []
        self.install: list[PermissionGrant] = []
        self.users: list[_User] = []
        self.user_ids: set[int] = set()

    def build(self, signatures: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> PackageInfo:
        """The record; ``signatures`` caches :func:`_signature_hashes` by the value without its
        identity hash (one signer signs many packages)."""
        raw = self.signatures
        key = raw.partition(" ")[2] if raw else ""
        hashes = signatures.get(key)
        if hashes is None:
            hashes = signatures[key] = _signature_hashes(raw)
        sig_hashes, past_hashes = hashes
        # flags= is ApplicationInfo's view and absent when the package is not scanned;
        # pkgFlags= (the settings' copy) is printed always and is the same set then.
        flags = self.flags if self.flags is not None else (self.pkg_flags or _EMPTY)
        return PackageInfo(
            name=self.name,
            uid=self.uid,
            version_code=self.version_code,
            version_name=self.version_name,
            code_path=self.code_path,
            min_sdk=self.min_sdk,
            target_sdk=self.target_sdk,
            flags=flags,
            private_flags=self.private_flags,
            installer=self.installer,
            installer_uid=self.installer_uid,
            update_owner=self.update_owner,
            initiating_installer=self.initiating_installer,
            originating_installer=self.originating_installer,
            package_source=self.package_source,
            timestamp=self.timestamp,
            first_install_time=self.first_install_time,
            last_update_time=self.last_update_time,
            signatures=self.signatures,
            signature_hashes=sig_hashes,
            past_signature_hashes=past_hashes,
            apk_signing_version=self.apk_signing_version,
            shared_user=self.shared_user,
            splits=self.splits,
            declared_permissions=tuple(self.declared),
            requested_permissions=tuple(self.requested),
            install_permissions=tuple(self.install),
            users=tuple([u.build() for u in self.users]),
        )


def _signature_hashes(raw: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``PackageSignatures{h version:3, signatures:[a], past signatures:[b flags: 17, a ...]}``
    -> (current hashes, past hashes); P-era ``PackageSignatures{h [a,b]}`` too."""
    if not raw:
        return (), ()
    current: tuple[str, ...] = ()
    past: tuple[str, ...] = ()
    start = raw.find("signatures:[")
    while start >= 5 and raw[start - 5 : start] == "past ":
        start = raw.find("signatures:[", start + 1)
    if start >= 0:
        end = raw.find("]", start)
        if end > start:
            current = tuple(t for t in raw[start + 12 : end].split(", ") if t)
    elif "past signatures:[" not in raw:
        open_, close = raw.find("["), raw.rfind("]")
        if 0 <= open_ < close:
            current = tuple(t.strip() for t in raw[open_ + 1 : close].split(",") if t.strip())
    pstart = raw.find("past signatures:[")
    if pstart >= 0:
        pend = raw.find("]", pstart)
        if pend > pstart:
            words = raw[pstart + 17 : pend].split(", ")
            past = tuple(w.partition(" ")[0] for w in words if w.strip())
    return current, past


def _shared_user_name(value: str) -> str | None:
    """``SharedUserSetting{cb92b86 android.uid.system/1000}`` -> ``android.uid.system``."""
    if not value.startswith("SharedUserSetting{") or not value.endswith("}"):
        return None
    inner = value[18:-1]
    _, sep, rest = inner.partition(" ")
    name, sep2, _ = rest.rpartition("/")
    return name if sep and sep2 and name else None


# ----------------------------------------------------------------------------- dumpsys package


class _DumpParser:
    """One pass over ``dumpsys package`` text; see the module docstring for the rules.

    The column-0 lines (section titles) are found with one regular-expression scan of the
    whole text; only the bodies of the sections read here are split into lines and walked,
    so the resolver tables and the other skipped sections (half a full dump) cost a C-speed
    scan and nothing more. Line numbers are relative to the current section's title while a
    section is read and are made absolute only for a warning (:meth:`warn`).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.warnings = Warnings()
        self.error: str | None = None
        self.packages: list[PackageInfo] = []
        self.hidden: list[PackageInfo] = []
        self.shared: dict[str, PackageInfo] = {}
        self.sequence: int | None = None
        self.changes: list[PackageChange] = []
        self.change_user = 0
        self.dex: dict[str, dict[str, None]] = {}
        self.dex_package: str | None = None
        self.dex_list_indent = -1
        # Where the current section's title is (offset, and its line number once computed).
        self.title_at = 0  # offset of the current column-0 line: line numbers count from it
        self.counted = (0, 1)  # (offset, line number there): counting resumes from here
        # Block state (Packages / Hidden system packages / Shared users).
        self.target: Callable[[PackageInfo], None] | None = None
        self.pkg: _Package | None = None
        self.user: _User | None = None
        self.list_kind: int | None = None  # package-level list being read
        self.user_list: int | None = None  # user-level list being read
        self.overlay_items = False  # P: "overlay paths:" at the package indent, items at 6
        # Caches: the same permission line and flag list recur hundreds of times in a full dump;
        # the records are immutable, so sharing them is safe and saves time and memory.
        self.grants: dict[str, PermissionGrant | None] = {}
        self.flag_sets: dict[str, frozenset[str]] = {}
        self.split_lists: dict[str, tuple[str, ...]] = {}
        self.signature_hashes: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.user_fields: dict[str, tuple[tuple[tuple[str, object], ...], str]] = {}

    # -------------------------------------------------------------- driver
    def run(self) -> PackageDump:
        text = self.text
        starts = [m.start() + 1 for m in _TOP_LEVEL.finditer(text)]
        if text[:1] not in ("", " ", "\t", "\r", "\n"):
            starts.insert(0, 0)
        starts.append(len(text) + 1)
        section = _SKIPPED
        for k in range(len(starts) - 1):
            at, following = starts[k], starts[k + 1]
            end = text.find("\n", at, following)
            if end < 0:
                end = following - 1  # the last line, without a newline
            title = text[at:end].rstrip()
            if section == _BLOCKS and self.user is not None and title.endswith("overlay paths:"):
                # Android 12 prints "<library> [legacy ]overlay paths:" of a user at column 0
                # (a stray println before it), its items 8 or 10 deep: a title inside the
                # user block, not a new section.
                self.user_list, self.overlay_items = _USKIP, True
                if self.pkg is not None and self.pkg.absolute is None:
                    # Its header counts from the old title; fix its number before moving on,
                    # so that line counting only ever moves forward (linear).
                    self.pkg.absolute = self.line_no(self.pkg.line_no)
                self.title_at = at
            else:
                self._close_package()
                self.title_at = at
                section = self._section(title)
                if section == _SKIPPED:
                    continue
            lines = lines_of(text[end + 1 : following - 1])
            if section == _BLOCKS:
                self._blocks(lines)
            else:
                handler = self._changes if section == _CHANGES else self._dexopt
                for no, raw in enumerate(lines, 1):
                    if raw:
                        handler(no, raw)
        self._close_package(at_end=True)
        return PackageDump(
            packages=tuple(self.packages),
            hidden_system_packages=tuple(self.hidden),
            shared_users=MappingProxyType(self.shared),
            change_sequence=self.sequence,
            changes=tuple(self.changes),
            secondary_dex=MappingProxyType({k: tuple(v) for k, v in self.dex.items() if v}),
        )

    def _blocks(self, lines: list[str]) -> None:
        """Read the package blocks of one section. The most frequent line shapes (a permission
        line seen before, a plain or ignored package field, a declared permission, an item of
        an ignored list: nine in ten lines of a full dump) are handled inline, on local copies
        of the block state. Every other line goes through :meth:`_block`, which treats these
        shapes the same way; the locals are reloaded after each such call."""
        grants = self.grants
        read_grant = self._grant
        fields = _PACKAGE_FIELDS
        titles = _LIST_TITLES
        flag_sets = self.flag_sets
        split_lists = self.split_lists
        set_field = self._set_field
        block = self._block
        pkg, user, kind, ulist = self.pkg, self.user, self.list_kind, self.user_list
        for i, raw in enumerate(lines, 1):
            if not raw:
                continue
            s = raw.lstrip(" ")
            indent = len(raw) - len(s)
            if pkg is not None:
                if indent == 4:
                    if user is None:
                        key, sep, value = s.partition("=")
                        if sep:
                            field = fields.get(key)
                            if field is not None:
                                if kind is not None:
                                    self.list_kind = kind = None
                                code, attr = field
                                value = value.rstrip()
                                if code == "=":
                                    setattr(pkg, attr, value)
                                elif code == "[" and value in flag_sets:
                                    setattr(pkg, attr, flag_sets[value])
                                elif code == "s" and value in split_lists:
                                    pkg.splits = split_lists[value]
                                elif code == "#" and value.isdigit() and len(value) < 19:
                                    setattr(pkg, attr, int(value))
                                elif code:
                                    set_field(i, raw, pkg, code, attr, value)
                                continue
                        else:
                            key = key.rstrip()
                            if key[-1:] == ":":
                                title = titles.get(key[:-1])
                                if title is not None:
                                    self.list_kind = kind = title
                                    continue
                elif kind is not None:
                    if indent >= 6:
                        if kind in (_SKIP, _SDK_LIBS):
                            continue
                        if indent == 6:
                            if kind == _INSTALL:
                                grant = grants.get(s) or read_grant(s.rstrip())
                                if grant is not None:
                                    pkg.install.append(grant)
                                    continue
                            elif kind == _DECLARED:
                                name, sep, _ = s.rpartition(": prot=")
                                if sep:
                                    pkg.declared.append(name)
                                    continue
                elif indent == 8 and ulist == _RUNTIME and user is not None:
                    grant = grants.get(s) or read_grant(s.rstrip())
                    if grant is not None:
                        user.runtime.append(grant)
                        continue
            block(i, raw, s, indent)
            pkg, user, kind, ulist = self.pkg, self.user, self.list_kind, self.user_list

    def _section(self, title: str) -> int:
        """Enter the section titled ``title``; returns which reader takes its lines."""
        self.target = None
        if title == "Packages:":
            self.target = self.packages.append
            return _BLOCKS
        if title == "Hidden system packages:":
            self.target = self.hidden.append
            return _BLOCKS
        if title == "Shared users:":
            self.target = self._add_shared
            return _BLOCKS
        if title == "Package Changes:":
            self.change_user = 0
            return _CHANGES
        if title == "Dexopt state:":
            self.dex_package, self.dex_list_indent = None, -1
            return _DEXOPT
        if title.startswith("Sequence number="):
            # The changes section whose title was lost (seen in pasted excerpts).
            self.change_user = 0
            self._changes(0, "  " + title)
            return _CHANGES
        if _TIMEOUT.match(title) or title.startswith(("Permission Denial", "Unable to find")):
            self.error = self.error or title[:200]
        return _SKIPPED

    def _add_shared(self, pkg: PackageInfo) -> None:
        self.shared[pkg.name] = pkg

    def line_no(self, no: int) -> int:
        """The absolute number of line ``no`` (0: the title) of the current section. Titles
        only move forward, so the newlines are counted once over the whole parse."""
        offset = self.title_at
        at, line = self.counted
        if offset < at:
            at, line = 0, 1
        line += self.text.count("\n", at, offset)
        self.counted = (offset, line)  # the next count resumes here: linear overall
        return line + no

    def warn(self, no: int, raw: str, reason: str) -> None:
        # Once the warnings are full they are only counted: skip counting lines for them.
        self.warnings.add(0 if self.warnings.full else self.line_no(no), raw, reason)

    # -------------------------------------------------------------- package blocks
    def _close_package(self, *, at_end: bool = False) -> None:
        pkg = self.pkg
        if pkg is None:
            return
        self.pkg = self.user = None
        self.list_kind = self.user_list = None
        if not pkg.users and not pkg.shared:
            # A shared user prints User N: only when it has gids or permissions for N.
            if pkg.absolute is not None:
                number = pkg.absolute
            elif at_end or not self.warnings.full:
                number = self.line_no(pkg.line_no)
            else:
                number = 0  # only counted (see warn)
            if at_end:
                self.error = self.error or (
                    f"text ends inside Package [{pkg.name}] (line {number}) "
                    "before its per-user state: the dump was cut"
                )
            else:
                self.warnings.add(number, pkg.header, "block has no User N: line")
        if self.target is not None:
            self.target(pkg.build(self.signature_hashes))

    def _block(self, no: int, raw: str, s: str, indent: int) -> None:
        """One line of a package block; ``s`` is ``raw`` without its ``indent`` spaces."""
        s = s.rstrip()
        if not s:
            return
        if indent == 4:
            self._package_line(no, raw, s)
        elif indent >= 6:
            self._nested_line(no, raw, s, indent)
        elif indent == 2:
            self._close_package()
            if s.startswith(("Package [", "SharedUser [")) and s.endswith("):"):
                end = s.rfind("] (")
                start = s.find("[") + 1
                if end >= start:
                    name = s[start:end]
                    self.pkg = _Package(name, no, raw)
                    if not PACKAGE_NAME.fullmatch(name):
                        # Kept (hiding it would hide the anomaly), but flagged: Android allows
                        # no such name, so the line was forged through unescaped app text.
                        self.warn(no, raw, "not a valid package name")
                    return
            self.warn(no, raw, "expected Package [name] (id):")
        elif self.list_kind == _SDK_LIBS and s.startswith("optional:"):
            pass  # usesSdkLibraries prints " optional:true" on a line of its own (AOSP bug)
        else:
            self.warn(no, raw, "unexpected indentation")

    def _package_line(self, no: int, raw: str, s: str) -> None:
        pkg = self.pkg
        if pkg is None:
            self.warn(no, raw, "line outside a Package [...] block")
            return
        if s.startswith("User "):
            self._user_header(no, raw, s, pkg)
            return
        if self.user is not None:
            # Lines a user block prints at the package indent (P overlays, R+ suspend params).
            if s == "Suspend params:":
                self.user_list = None
                return
            if s.endswith("overlay paths:"):
                self.user_list, self.overlay_items = None, True
                return
            self.user = None
        self.user_list = None
        if s[-1] == ":" and "=" not in s:
            title = s[:-1]
            kind = _LIST_KINDS.get(title)
            if kind is None:
                kind = _SKIP
                if title not in IGNORED_PACKAGE_LISTS:
                    self.warn(no, raw, "unknown list (its items are skipped)")
            self.list_kind = kind
            return
        self.list_kind = None
        if s == "Packages":
            self.list_kind = _SKIP  # shared user members (T+), printed without a colon
            return
        key, sep, value = s.partition("=")
        if not sep:
            self.warn(no, raw, "expected key=value")
            return
        field = _PACKAGE_FIELDS.get(key)
        if field is not None:
            if field[0]:
                self._set_field(no, raw, pkg, field[0], field[1], value)
            return
        self.warn(no, raw, f"unknown package field {key!r}")

    def _set_field(
        self, no: int, raw: str, pkg: _Package, code: str, attr: str, value: str
    ) -> None:
        """Set ``attr`` from ``value`` read as ``code`` says (see :data:`_PACKAGE_FIELDS`)."""
        if code == "=":
            setattr(pkg, attr, value)
        elif code == "?":
            setattr(pkg, attr, None if value == "null" else value)
        elif code == "#":
            number = _int(value)
            if number is None:
                self.warn(no, raw, f"{attr} is not a number")
            else:
                setattr(pkg, attr, number)
        elif code == "[":
            flags = self._flags(value)
            if flags is None:
                self.warn(no, raw, "expected [ FLAG ... ]")
            else:
                setattr(pkg, attr, flags)
        elif code == "v":
            self._version_line(no, raw, value, pkg)
        elif code == "s":
            if value.startswith("[") and value.endswith("]"):
                pkg.splits = tuple(t for t in value[1:-1].split(", ") if t)
                self.split_lists[value] = pkg.splits
            else:
                self.warn(no, raw, "expected splits=[...]")
        else:  # "u"
            pkg.shared_user = _shared_user_name(value)
            if pkg.shared_user is None:
                self.warn(no, raw, "expected SharedUserSetting{id name/uid}")

    def _flags(self, value: str) -> frozenset[str] | None:
        """``[ A B ]`` (package flags, every version) -> frozenset."""
        cached = self.flag_sets.get(value)
        if cached is not None:
            return cached
        if not (value.startswith("[") and value.endswith("]")):
            return None
        flags = frozenset(value[1:-1].split())
        self.flag_sets[value] = flags
        return flags

    def _version_line(self, no: int, raw: str, value: str, pkg: _Package) -> None:
        """``versionCode=N minSdk=N targetSdk=N`` (minSdk absent when the APK is not parsed);
        ``value`` is what follows ``versionCode=``."""
        number, _, rest = value.partition(" ")
        pkg.version_code = _int(number)
        if pkg.version_code is None:
            self.warn(no, raw, "versionCode is not a number")
        for word in rest.split(" ") if rest else ():
            key, _, text = word.partition("=")
            number_ = _int(text)
            if number_ is None:
                self.warn(no, raw, f"{key} is not a number")
            elif key == "minSdk":
                pkg.min_sdk = number_
            elif key == "targetSdk":
                pkg.target_sdk = number_
            else:
                self.warn(no, raw, f"unknown version field {key!r}")

    def _user_header(self, no: int, raw: str, s: str, pkg: _Package) -> None:
        """``User 0: ceDataInode=N installed=true hidden=false ...`` (fields vary by version)."""
        self.list_kind = self.user_list = None
        self.overlay_items = False
        head, sep, rest = s.partition(":")
        user_id = _int(head[5:])
        if not sep or user_id is None:
            self.user = None
            self.warn(no, raw, "expected User N:")
            return
        if user_id in pkg.user_ids:
            # dumpsys prints app-controlled text (versionName ...) unescaped: a newline in it
            # can forge lines. A user printed twice in one block is the visible trace of that.
            self.warn(no, raw, f"User {user_id} appears twice in this block")
        user = _User(user_id)
        pkg.users.append(user)
        pkg.user_ids.add(user_id)
        self.user = user
        susp = rest.find(" suspendingPackage=")
        if susp >= 0:
            # P/Q print the suspender inside the User line, followed by a free-text dialog
            # message; the fields resume at " stopped=" (the last one: the message is text).
            resume = rest.rfind(" stopped=")
            if resume < susp:
                resume = len(rest)
            user.suspending.append(_suspender(rest[susp + 19 : resume].partition(" ")[0]))
            rest = rest[:susp] + rest[resume:]
        # Only ceDataInode differs between most packages' user lines: read it apart and reuse
        # the reading of the rest.
        if rest.startswith(" ceDataInode="):
            inode, _, rest = rest[13:].partition(" ")
            user.ce_data_inode = _int(inode)
            if user.ce_data_inode is None:
                self.warn(no, raw, "ceDataInode is not a number")
        reading = self.user_fields.get(rest)
        if reading is None:
            reading = self.user_fields[rest] = _read_user_fields(rest)
        values, unknown = reading
        for attr, value in values:
            setattr(user, attr, value)
        if unknown:
            self.warn(no, raw, "not understood: " + unknown)

    def _nested_line(self, no: int, raw: str, s: str, indent: int) -> None:
        pkg = self.pkg
        if pkg is None:
            self.warn(no, raw, "line outside a Package [...] block")
            return
        kind = self.list_kind
        if kind is not None:
            if kind in (_SKIP, _SDK_LIBS):
                return
            if indent != 6:
                self.warn(no, raw, "unexpected indentation in a permission list")
            elif kind == _INSTALL:
                grant = self._grant(s)
                if grant is None:
                    self.warn(no, raw, "expected name: granted=true|false[, flags=[...]]")
                else:
                    pkg.install.append(grant)
            elif kind == _REQUESTED:
                # R-era dumps mark hard/soft-restricted permissions ": restricted=true".
                name, sep, suffix = s.partition(": ")
                if sep and suffix != "restricted=true":
                    self.warn(no, raw, "unknown requested-permission suffix")
                pkg.requested.append(name)
            else:  # _DECLARED: "name: prot=signature|privileged, INSTALLED"
                name, sep, _ = s.rpartition(": prot=")
                if sep:
                    pkg.declared.append(name)
                else:
                    self.warn(no, raw, "expected name: prot=...")
            return
        user = self.user
        if user is None:
            if not s.startswith("oldCodePath="):  # printed six deep, under no title
                self.warn(no, raw, "line outside a User N: block")
            return
        if indent == 6:
            self._user_line(no, raw, s, user)
            return
        ulist = self.user_list
        if ulist == _RUNTIME and indent == 8:
            grant = self._grant(s)
            if grant is None:
                self.warn(no, raw, "expected name: granted=true|false[, flags=[...]]")
            else:
                user.runtime.append(grant)
        elif ulist == _DISABLED and indent == 8:
            user.disabled.append(s)
        elif ulist == _ENABLED and indent == 8:
            user.enabled_components.append(s)
        elif ulist == _USKIP:
            pass
        elif s.startswith("harmfulAppWarning: "):
            pass  # printed eight deep after the runtime permissions (AOSP indent quirk)
        elif s.startswith("archiveActivityInfo="):
            pass
        else:
            self.warn(no, raw, "unexpected line in a User N: block")

    def _user_line(self, no: int, raw: str, s: str, user: _User) -> None:
        """A line six deep in a user block: a field or the title of a list."""
        if self.overlay_items and s[0] == "/":
            return  # P: an item of "overlay paths:" printed at the package indent
        self.overlay_items = False
        self.user_list = None
        if s == "runtime permissions:":
            self.user_list = _RUNTIME
        elif s == "disabledComponents:":
            self.user_list = _DISABLED
        elif s == "enabledComponents:":
            self.user_list = _ENABLED
        elif s.startswith("gids="):
            pass
        elif s.startswith("lastDisabledCaller: "):
            user.last_disabled_caller = s[20:]
        elif s.startswith("suspendingPackage="):
            user.suspending.append(_suspender(s[18:].partition(" ")[0]))
        elif s.endswith("overlay paths:"):
            self.user_list = _USKIP
        elif s.startswith("harmfulAppWarning: "):
            pass
        else:
            key, sep, value = s.partition("=")
            if not sep:
                self.warn(no, raw, "unexpected line in a User N: block")
            elif key == "firstInstallTime":
                user.first_install_time = value
            elif key in _USER_DETAIL_INTS:
                number = _int(value)
                if number is None:
                    self.warn(no, raw, f"{key} is not a number")
                else:
                    setattr(user, _USER_DETAIL_INTS[key], number)
            elif key not in _USER_DETAIL_IGNORED:
                self.warn(no, raw, f"unknown user field {key!r}")

    def _grant(self, s: str) -> PermissionGrant | None:
        """``name: granted=B[, flags=[ A B ] | [ A|B]][, userId=N]`` -> PermissionGrant."""
        try:
            return self.grants[s]
        except KeyError:
            pass
        grant = None
        # rfind: a permission name is the app's own text and may contain ": granted=".
        at = s.rfind(": granted=")
        if at > 0:
            rest = s[at + 10 :]
            granted = rest.startswith("true")
            if granted or rest.startswith("false"):
                rest = rest[4:] if granted else rest[5:]
                flags: frozenset[str] | None = _EMPTY
                user: int | None = None
                if rest.startswith(", flags=["):
                    end = rest.find("]", 9)
                    inner = rest[9:end] if end > 0 else None
                    flags = None if inner is None else self._permission_flags(inner)
                    rest = rest[end + 1 :] if end > 0 else ""
                if rest.startswith(", userId="):
                    user = _int(rest[9:])
                    rest = "" if user is not None else rest
                if flags is not None and not rest:
                    grant = PermissionGrant(s[:at], granted, flags, user)
        self.grants[s] = grant
        return grant

    def _permission_flags(self, inner: str) -> frozenset[str]:
        """`` A B `` (P) or `` A|B`` (Q+) -> frozenset of flag names."""
        cached = self.flag_sets.get(inner)
        if cached is None:
            cached = frozenset(inner.replace("|", " ").split())
            self.flag_sets[inner] = cached
        return cached

    # -------------------------------------------------------------- Package Changes
    def _changes(self, no: int, raw: str) -> None:
        s = raw.strip()
        if not s:
            return
        if s.startswith("seq="):
            # "seq=3, package=org.fdroid.fdroid"
            seq_text, sep, name = s[4:].partition(", package=")
            seq = _int(seq_text)
            if seq is None or not sep or not name:
                self.warn(no, raw, "expected seq=N, package=name")
            else:
                self.changes.append(PackageChange(seq, name, self.change_user))
        elif s.startswith("User ") and s.endswith(":"):
            user = _int(s[5:-1])
            if user is None:
                self.warn(no, raw, "expected User N:")
            else:
                self.change_user = user
        elif s.startswith("Sequence number="):
            seq = _int(s[16:])
            if seq is None:
                self.warn(no, raw, "Sequence number is not a number")
            else:
                self.sequence = seq
        else:
            self.warn(no, raw, "unexpected line in Package Changes")

    # -------------------------------------------------------------- Dexopt state
    _DEX_DETAIL = (
        "path: ",
        "[location is ",
        "used by other apps:",
        "class loader context:",
        "Current GC:",
        "(No ",
    )

    def _dexopt(self, no: int, raw: str) -> None:
        """Package titles and ``known secondary dex files:`` entries are read; the rest of
        the per-APK detail (paths, ``isa: [status=..] [reason=..]``, ``[location is ..]``,
        ``used by other apps``, class loader contexts, ``Current GC:``) is skipped."""
        s = raw.lstrip(" ")
        indent = len(raw) - len(s)
        s = s.rstrip()
        if not s:
            return
        if indent == 2 and s[0] == "[" and s[-1] == "]":
            self.dex_package, self.dex_list_indent = s[1:-1], -1
            return
        list_indent = self.dex_list_indent
        if list_indent >= 0:
            if indent == list_indent + 2:
                if self.dex_package is not None:
                    # "/data/user/0/pkg/app_cache/x.apk (public)": visibility, not the name.
                    path = s[:-9] if s.endswith(" (public)") else s
                    # A dict keeps the order and drops repeats in constant time.
                    self.dex.setdefault(self.dex_package, {})[path] = None
                return
            if indent > list_indent + 2:
                return  # the dex file's own status lines
            self.dex_list_indent = -1
        if s == "known secondary dex files:":
            self.dex_list_indent = indent
        elif s.startswith(self._DEX_DETAIL) or _ISA_STATUS.match(s):
            pass
        else:
            self.warn(no, raw, "unexpected line in Dexopt state")


_ISA_STATUS = re.compile(r"[a-z0-9_]+: \[status=")


def parse_dumpsys_package(text: str) -> Parsed[PackageDump]:
    """Parse ``dumpsys package`` output (full, per package, or one section).

    Returns every ``Package [...]`` block of ``Packages:`` (and, apart, of ``Hidden system
    packages:``), the ``Shared users:`` permission holders by name, the ``Package Changes``
    sequence with the latest change per package and user, and the secondary dex files per
    package. See the module docstring for what is skipped and when ``error`` is set.
    """
    if not text.strip():
        return Parsed(PackageDump(), (), "no output")
    parser = _DumpParser(text)
    dump = parser.run()
    return Parsed(dump, parser.warnings.result(), parser.error)


# ----------------------------------------------------------------------------- pm list / path


def _list_error(line: str) -> bool:
    return line.startswith(("Error:", "Exception occurred", "Security exception", "Failure ["))


def parse_pm_list_packages(text: str) -> Parsed[tuple[PackageListEntry, ...]]:
    """Parse ``cmd package list packages`` / ``pm list packages`` with any of its options.

    A line is ``package:[<sourceDir>=]<name>[ versionCode:<n>][  installer=<pkg|null>]
    [ uid:<uid>[,<uid>...]][ stopped=<bool>]``: ``-f`` adds the path (which may itself contain
    ``=``, so the name is what follows the last one), ``--show-versioncode`` the version,
    ``-i`` the installer (``null`` -> ``None``), ``-U`` the uid, or on 13+ without ``--user``
    the comma-joined uids of every user that has the package. ``-u -e -d -s -3 -a`` change which
    lines appear, not their shape.

    ``Error: ...`` lines (a user the shell may not read, an unknown option) and an ``Exception
    occurred while executing 'list':`` trace set ``error``: the list is then incomplete. The
    trace lines themselves are skipped.
    """
    warnings = Warnings()
    entries: list[PackageListEntry] = []
    error: str | None = None
    in_trace = False
    for no, raw in enumerate(lines_of(text), 1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("package:"):
            if _list_error(line):
                error = error or line[:200]
                in_trace = line.startswith(("Exception", "Security exception"))
            elif not in_trace:
                warnings.add(no, raw, "not a package: line")
            continue
        entry, problem = _list_entry(line[8:])
        if entry is None:
            warnings.add(no, raw, problem)
        else:
            entries.append(entry)
    return Parsed(tuple(entries), warnings.result(), error)


def _list_entry(body: str) -> tuple[PackageListEntry | None, str]:
    installer: str | None = None
    uids: tuple[int, ...] = ()
    version: int | None = None
    stopped: bool | None = None
    seen: set[str] = set()
    # The options append " key:value" / "  key=value" words; take them off from the right.
    while True:
        head, sep, word = body.rpartition(" ")
        if not sep:
            break
        if word.startswith("uid:"):
            kind = "uid"
            try:
                uids = tuple(int(u) for u in word[4:].split(","))
            except ValueError:
                return None, "uid: is not a list of numbers"
        elif word.startswith("installer="):
            kind = "installer"
            installer = _null(word[10:])
        elif word.startswith("versionCode:"):
            kind = "versionCode"
            version = _int(word[12:])
            if version is None:
                return None, "versionCode: is not a number"
        elif word.startswith("stopped="):
            kind = "stopped"
            stopped = _bool(word[8:])
            if stopped is None:
                return None, "stopped= is not true/false"
        else:
            break
        if kind in seen:
            return None, f"{kind} given twice"
        seen.add(kind)
        body = head.rstrip(" ")
    path, eq, name = body.rpartition("=")
    if not PACKAGE_NAME.fullmatch(name):
        return None, "not a package name"
    return PackageListEntry(
        name=name,
        path=path if eq else None,
        installer=installer,
        uids=uids,
        version_code=version,
        stopped=stopped,
    ), ""


def parse_pm_path(text: str) -> Parsed[tuple[str, ...]]:
    """Parse ``cmd package path [--user N] <pkg>``: one ``package:<apk path>`` per APK (base
    first, then each split). No output means the package is not installed for that user."""
    warnings = Warnings()
    paths: list[str] = []
    error: str | None = None
    for no, raw in enumerate(lines_of(text), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("package:") and len(line) > 8:
            paths.append(line[8:])
        elif _list_error(line):
            error = error or line[:200]
        else:
            warnings.add(no, raw, "not a package:<path> line")
    return Parsed(tuple(paths), warnings.result(), error)
