"""AppOps for simulated phones: ``dumpsys appops``, ``cmd appops`` (``appops``) and the op table.

Owns three things:

* The **op catalogue** (:data:`OPS`, :data:`OPS_BY_CODE`, :data:`PERMISSION_OPS`): name, number,
  first release, default mode, switch op, backing permission and public ``android:`` name of every
  op the simulator knows. Other command families and the scenario engine use it, so the numbers
  and switch relations live in one place. Numbers follow AOSP ``AppOpsManager``; they matter
  because every dump orders ops by number.
* ``dumpsys appops`` in the format of each release (P padded uid states and per-state time
  lines, Q ``[state-flags]`` keys, R+ attribution-tag groups, S+ discrete history, U+ policy and
  global restrictions), with the filter options the release accepts and its error texts.
* ``cmd appops`` (the ``appops`` command is the same service): ``get``/``set``/``reset``/
  ``query-op``/``start``/``stop``/``write-settings``/``read-settings`` and ``help``, with the
  release's argument parsing, error lines and exit statuses (-1, i.e. 255, on every error).

Texts come from AOSP ``AppOpsService`` (P: Bootleggers-pie 34240df, R: crDroid11 73bd293, S:
aosp-mirror 0008993, U: aosp-mirror b0fe1b6) and were checked against real captures (Fire OS 9,
Samsung Q, OriginOS, AppManager #29). Version differences are data in :data:`_FORMATS`, not
branches spread through the code.
"""

from __future__ import annotations

import datetime
import functools
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from agent.sim.android import Registry
from agent.sim.shell import ShellIO
from agent.sim.state import (
    APP_ID_START,
    PER_USER_RANGE,
    Access,
    DeviceState,
    Mode,
    OpState,
    UidState,
)

__all__ = [
    "MODE_NAMES",
    "OPS",
    "OPS_BY_CODE",
    "PERMISSION_OPS",
    "UID_STATE_ORDER",
    "OpInfo",
    "default_mode",
    "format_duration",
    "format_uid",
    "install",
    "op_name",
    "resolve_op",
    "switch_op",
]

MODE_NAMES: Final[tuple[Mode, ...]] = ("allow", "ignore", "deny", "default", "foreground")
"""``AppOpsManager.MODE_NAMES``: index = mode number (0 allowed ... 4 foreground)."""

UID_STATE_ORDER: Final[dict[str, int]] = {
    "pers": 100,
    "top": 200,
    "fgsvcl": 300,
    "fgsvc": 400,
    "fg": 500,
    "bg": 600,
    "cch": 700,
}
"""``AppOpsManager.UID_STATE_*`` values; dumps list access keys in this order."""

_P = "android.permission."


# ----------------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class OpInfo:
    """One AppOps operation as ``AppOpsManager`` defines it."""

    code: int
    name: str
    """The debug name current releases print (``opToName``)."""
    since: int
    """First SDK level that has the op."""
    default: Mode = "allow"
    """``opToDefaultMode``."""
    switch: str | None = None
    """The op whose mode gates this one (``opToSwitch``); None means the op itself."""
    switch_until: int = 99
    """Last SDK level on which ``switch`` applies (FINE_LOCATION got its own switch in S)."""
    permission: str | None = None
    public: str | None = None
    """``OPSTR_*`` when it is not ``android:`` + the lower-case name."""
    disable_reset: bool = False
    """``reset`` leaves the mode alone (SMS ops, legacy storage...)."""
    old_names: tuple[tuple[int, str], ...] = ()
    """(last SDK, name): what older releases print instead of ``name``."""

    @property
    def public_name(self) -> str:
        return self.public or "android:" + self.name.lower()


def _op(
    code: int,
    name: str,
    since: int = 28,
    default: Mode = "allow",
    perm: str | None = None,
    *,
    switch: str | None = None,
    switch_until: int = 99,
    public: str | None = None,
    disable_reset: bool = False,
    old_names: tuple[tuple[int, str], ...] = (),
) -> OpInfo:
    return OpInfo(
        code, name, since, default, switch, switch_until, perm, public, disable_reset, old_names
    )


# Ops 0-76 exist on every simulated release (P and later); the since= values mark later ones.
_CATALOGUE: Final[tuple[OpInfo, ...]] = (
    _op(0, "COARSE_LOCATION", perm=_P + "ACCESS_COARSE_LOCATION"),
    _op(
        1,
        "FINE_LOCATION",
        perm=_P + "ACCESS_FINE_LOCATION",
        switch="COARSE_LOCATION",
        switch_until=30,
    ),
    _op(2, "GPS", switch="COARSE_LOCATION"),
    _op(3, "VIBRATE", perm=_P + "VIBRATE"),
    _op(4, "READ_CONTACTS", perm=_P + "READ_CONTACTS"),
    _op(5, "WRITE_CONTACTS", perm=_P + "WRITE_CONTACTS"),
    _op(6, "READ_CALL_LOG", perm=_P + "READ_CALL_LOG"),
    _op(7, "WRITE_CALL_LOG", perm=_P + "WRITE_CALL_LOG"),
    _op(8, "READ_CALENDAR", perm=_P + "READ_CALENDAR"),
    _op(9, "WRITE_CALENDAR", perm=_P + "WRITE_CALENDAR"),
    _op(10, "WIFI_SCAN", switch="COARSE_LOCATION"),
    _op(11, "POST_NOTIFICATION", perm=_P + "POST_NOTIFICATIONS"),
    _op(12, "NEIGHBORING_CELLS", switch="COARSE_LOCATION"),
    _op(13, "CALL_PHONE", perm=_P + "CALL_PHONE"),
    _op(14, "READ_SMS", perm=_P + "READ_SMS", disable_reset=True),
    _op(15, "WRITE_SMS", default="ignore", disable_reset=True),
    _op(16, "RECEIVE_SMS", perm=_P + "RECEIVE_SMS", disable_reset=True),
    _op(
        17,
        "RECEIVE_EMERGENCY_BROADCAST",
        switch="RECEIVE_SMS",
        old_names=((29, "RECEIVE_EMERGECY_SMS"),),
    ),
    _op(18, "RECEIVE_MMS", perm=_P + "RECEIVE_MMS"),
    _op(19, "RECEIVE_WAP_PUSH", perm=_P + "RECEIVE_WAP_PUSH", disable_reset=True),
    _op(20, "SEND_SMS", perm=_P + "SEND_SMS", disable_reset=True),
    _op(21, "READ_ICC_SMS", switch="READ_SMS"),
    _op(22, "WRITE_ICC_SMS", switch="WRITE_SMS"),
    _op(23, "WRITE_SETTINGS", default="default", perm=_P + "WRITE_SETTINGS"),
    _op(24, "SYSTEM_ALERT_WINDOW", default="default", perm=_P + "SYSTEM_ALERT_WINDOW"),
    _op(25, "ACCESS_NOTIFICATIONS"),
    _op(26, "CAMERA", perm=_P + "CAMERA"),
    _op(27, "RECORD_AUDIO", perm=_P + "RECORD_AUDIO"),
    _op(28, "PLAY_AUDIO"),
    _op(29, "READ_CLIPBOARD"),
    _op(30, "WRITE_CLIPBOARD"),
    _op(31, "TAKE_MEDIA_BUTTONS"),
    _op(32, "TAKE_AUDIO_FOCUS"),
    _op(33, "AUDIO_MASTER_VOLUME"),
    _op(34, "AUDIO_VOICE_VOLUME"),
    _op(35, "AUDIO_RING_VOLUME"),
    _op(36, "AUDIO_MEDIA_VOLUME"),
    _op(37, "AUDIO_ALARM_VOLUME"),
    _op(38, "AUDIO_NOTIFICATION_VOLUME"),
    _op(39, "AUDIO_BLUETOOTH_VOLUME"),
    _op(40, "WAKE_LOCK", perm=_P + "WAKE_LOCK"),
    _op(41, "MONITOR_LOCATION", switch="COARSE_LOCATION"),
    _op(
        42,
        "MONITOR_HIGH_POWER_LOCATION",
        switch="COARSE_LOCATION",
        public="android:monitor_location_high_power",
    ),
    _op(43, "GET_USAGE_STATS", default="default", perm=_P + "PACKAGE_USAGE_STATS"),
    _op(44, "MUTE_MICROPHONE"),
    _op(45, "TOAST_WINDOW"),
    _op(46, "PROJECT_MEDIA", default="ignore"),
    _op(47, "ACTIVATE_VPN", default="ignore"),
    _op(48, "WRITE_WALLPAPER"),
    _op(49, "ASSIST_STRUCTURE"),
    _op(50, "ASSIST_SCREENSHOT"),
    _op(51, "READ_PHONE_STATE", perm=_P + "READ_PHONE_STATE"),
    _op(52, "ADD_VOICEMAIL", perm="com.android.voicemail.permission.ADD_VOICEMAIL"),
    _op(53, "USE_SIP", perm=_P + "USE_SIP"),
    _op(54, "PROCESS_OUTGOING_CALLS", perm=_P + "PROCESS_OUTGOING_CALLS"),
    _op(55, "USE_FINGERPRINT", perm=_P + "USE_FINGERPRINT"),
    _op(56, "BODY_SENSORS", perm=_P + "BODY_SENSORS"),
    _op(57, "READ_CELL_BROADCASTS", disable_reset=True),
    _op(58, "MOCK_LOCATION", default="deny"),
    _op(59, "READ_EXTERNAL_STORAGE", perm=_P + "READ_EXTERNAL_STORAGE"),
    _op(60, "WRITE_EXTERNAL_STORAGE", perm=_P + "WRITE_EXTERNAL_STORAGE"),
    _op(
        61,
        "TURN_SCREEN_ON",
        default="default",
        perm=_P + "TURN_SCREEN_ON",
        old_names=((30, "TURN_ON_SCREEN"),),
    ),
    _op(62, "GET_ACCOUNTS", perm=_P + "GET_ACCOUNTS"),
    _op(63, "RUN_IN_BACKGROUND"),
    _op(64, "AUDIO_ACCESSIBILITY_VOLUME"),
    _op(65, "READ_PHONE_NUMBERS", perm=_P + "READ_PHONE_NUMBERS"),
    _op(66, "REQUEST_INSTALL_PACKAGES", default="default", perm=_P + "REQUEST_INSTALL_PACKAGES"),
    _op(67, "PICTURE_IN_PICTURE"),
    _op(68, "INSTANT_APP_START_FOREGROUND", default="default"),
    _op(69, "ANSWER_PHONE_CALLS", perm=_P + "ANSWER_PHONE_CALLS"),
    _op(70, "RUN_ANY_IN_BACKGROUND"),
    _op(71, "CHANGE_WIFI_STATE", perm=_P + "CHANGE_WIFI_STATE"),
    _op(72, "REQUEST_DELETE_PACKAGES", perm=_P + "REQUEST_DELETE_PACKAGES"),
    _op(73, "BIND_ACCESSIBILITY_SERVICE", perm=_P + "BIND_ACCESSIBILITY_SERVICE"),
    _op(74, "ACCEPT_HANDOVER", perm=_P + "ACCEPT_HANDOVER"),
    _op(75, "MANAGE_IPSEC_TUNNELS", default="deny"),
    _op(76, "START_FOREGROUND", perm=_P + "FOREGROUND_SERVICE"),
    _op(77, "BLUETOOTH_SCAN", 29, perm=_P + "BLUETOOTH_SCAN"),
    _op(78, "USE_BIOMETRIC", 29, perm=_P + "USE_BIOMETRIC"),
    _op(79, "ACTIVITY_RECOGNITION", 29, perm=_P + "ACTIVITY_RECOGNITION"),
    _op(80, "SMS_FINANCIAL_TRANSACTIONS", 29, default="default"),
    _op(81, "READ_MEDIA_AUDIO", 29, perm=_P + "READ_MEDIA_AUDIO"),
    _op(82, "WRITE_MEDIA_AUDIO", 29, default="deny"),
    _op(83, "READ_MEDIA_VIDEO", 29, perm=_P + "READ_MEDIA_VIDEO"),
    _op(84, "WRITE_MEDIA_VIDEO", 29, default="deny", disable_reset=True),
    _op(85, "READ_MEDIA_IMAGES", 29, perm=_P + "READ_MEDIA_IMAGES"),
    _op(86, "WRITE_MEDIA_IMAGES", 29, default="deny", disable_reset=True),
    _op(87, "LEGACY_STORAGE", 29, default="default", disable_reset=True),
    _op(88, "ACCESS_ACCESSIBILITY", 29),
    _op(89, "READ_DEVICE_IDENTIFIERS", 29, default="deny"),
    _op(90, "ACCESS_MEDIA_LOCATION", 29, perm=_P + "ACCESS_MEDIA_LOCATION"),
    _op(91, "QUERY_ALL_PACKAGES", 30, default="default"),
    _op(92, "MANAGE_EXTERNAL_STORAGE", 30, default="default", perm=_P + "MANAGE_EXTERNAL_STORAGE"),
    _op(
        93, "INTERACT_ACROSS_PROFILES", 30, default="default", perm=_P + "INTERACT_ACROSS_PROFILES"
    ),
    _op(94, "ACTIVATE_PLATFORM_VPN", 30, default="ignore"),
    _op(95, "LOADER_USAGE_STATS", 30, default="default", perm=_P + "LOADER_USAGE_STATS"),
    _op(97, "AUTO_REVOKE_PERMISSIONS_IF_UNUSED", 30, default="default"),
    _op(98, "AUTO_REVOKE_MANAGED_BY_INSTALLER", 30),
    _op(99, "NO_ISOLATED_STORAGE", 30, default="deny", disable_reset=True),
    _op(100, "PHONE_CALL_MICROPHONE", 30),
    _op(101, "PHONE_CALL_CAMERA", 30),
    _op(102, "RECORD_AUDIO_HOTWORD", 30),
    _op(
        103,
        "MANAGE_ONGOING_CALLS",
        31,
        default="default",
        disable_reset=True,
        perm=_P + "MANAGE_ONGOING_CALLS",
    ),
    _op(104, "MANAGE_CREDENTIALS", 31, default="default"),
    _op(105, "USE_ICC_AUTH_WITH_DEVICE_IDENTIFIER", 31, default="default", disable_reset=True),
    _op(106, "RECORD_AUDIO_OUTPUT", 31),
    _op(107, "SCHEDULE_EXACT_ALARM", 31, default="default", perm=_P + "SCHEDULE_EXACT_ALARM"),
    _op(108, "FINE_LOCATION_SOURCE", 31, switch="FINE_LOCATION"),
    _op(109, "COARSE_LOCATION_SOURCE", 31, switch="COARSE_LOCATION"),
    _op(110, "MANAGE_MEDIA", 31, default="default", perm=_P + "MANAGE_MEDIA"),
    _op(111, "BLUETOOTH_CONNECT", 31, perm=_P + "BLUETOOTH_CONNECT"),
    _op(112, "UWB_RANGING", 31, perm=_P + "UWB_RANGING"),
    _op(113, "ACTIVITY_RECOGNITION_SOURCE", 31, switch="ACTIVITY_RECOGNITION"),
    _op(114, "BLUETOOTH_ADVERTISE", 31, perm=_P + "BLUETOOTH_ADVERTISE"),
    _op(115, "RECORD_INCOMING_PHONE_AUDIO", 31),
    _op(116, "NEARBY_WIFI_DEVICES", 33, perm=_P + "NEARBY_WIFI_DEVICES"),
    _op(117, "ESTABLISH_VPN_SERVICE", 33),
    _op(118, "ESTABLISH_VPN_MANAGER", 33),
    _op(119, "ACCESS_RESTRICTED_SETTINGS", 33, disable_reset=True),
    # AOSP prints this one as RECEIVE_SOUNDTRIGGER_AUDIO; the constant is *_AMBIENT_TRIGGER_*.
    _op(120, "RECEIVE_SOUNDTRIGGER_AUDIO", 33, public="android:receive_ambient_trigger_audio"),
    _op(121, "RECEIVE_EXPLICIT_USER_INTERACTION_AUDIO", 34),
    _op(122, "RUN_USER_INITIATED_JOBS", 34),
    _op(123, "READ_MEDIA_VISUAL_USER_SELECTED", 34, perm=_P + "READ_MEDIA_VISUAL_USER_SELECTED"),
    _op(124, "SYSTEM_EXEMPT_FROM_SUSPENSION", 34, default="default", disable_reset=True),
    _op(
        125,
        "SYSTEM_EXEMPT_FROM_DISMISSIBLE_NOTIFICATIONS",
        34,
        default="default",
        disable_reset=True,
    ),
    _op(126, "READ_WRITE_HEALTH_DATA", 34),
    _op(
        127,
        "FOREGROUND_SERVICE_SPECIAL_USE",
        34,
        default="default",
        perm=_P + "FOREGROUND_SERVICE_SPECIAL_USE",
    ),
    _op(128, "SYSTEM_EXEMPT_FROM_POWER_RESTRICTIONS", 34, default="default", disable_reset=True),
    _op(129, "SYSTEM_EXEMPT_FROM_HIBERNATION", 34, default="default", disable_reset=True),
    _op(
        130,
        "SYSTEM_EXEMPT_FROM_ACTIVITY_BG_START_RESTRICTION",
        34,
        default="default",
        disable_reset=True,
    ),
    _op(131, "CAPTURE_CONSENTLESS_BUGREPORT_ON_USERDEBUG_BUILD", 34, default="default"),
    _op(133, "USE_FULL_SCREEN_INTENT", 34, default="default", perm=_P + "USE_FULL_SCREEN_INTENT"),
    _op(134, "CAMERA_SANDBOXED", 34),
    _op(135, "RECORD_AUDIO_SANDBOXED", 34),
    _op(136, "RECEIVE_SANDBOX_TRIGGER_AUDIO", 35),
)

OPS: Final[dict[str, OpInfo]] = {info.name: info for info in _CATALOGUE}
"""Op debug name -> :class:`OpInfo`, in op-number order."""

OPS_BY_CODE: Final[dict[int, OpInfo]] = {info.code: info for info in _CATALOGUE}

# Constant names that differ from the printed name, accepted in commands like AOSP's table.
_ALIASES: Final[dict[str, str]] = {
    "RECEIVE_AMBIENT_TRIGGER_AUDIO": "RECEIVE_SOUNDTRIGGER_AUDIO",
    "RECEIVE_EMERGECY_SMS": "RECEIVE_EMERGENCY_BROADCAST",
    "TURN_ON_SCREEN": "TURN_SCREEN_ON",
}

PERMISSION_OPS: Final[dict[str, str]] = {
    info.permission: info.name
    for info in _CATALOGUE
    if info.permission and info.name not in ("VIBRATE", "WAKE_LOCK", "START_FOREGROUND")
}
"""Permission -> the op that mirrors it (``AppOpsManager.permissionToOp``): runtime permissions
(``android.permission.RECORD_AUDIO`` -> ``RECORD_AUDIO``) and app-op permissions
(``SYSTEM_ALERT_WINDOW``, ``PACKAGE_USAGE_STATS`` -> ``GET_USAGE_STATS``...)."""


def op_name(info: OpInfo, sdk: int) -> str:
    """The name ``opToName`` prints on ``sdk`` (a few ops were renamed)."""
    for last, old in info.old_names:
        if sdk <= last:
            return old
    return info.name


def switch_op(info: OpInfo, sdk: int) -> OpInfo:
    """The op whose mode gates ``info`` on ``sdk`` (``opToSwitch``)."""
    if info.switch is not None and sdk <= info.switch_until:
        return OPS[info.switch]
    return info


def default_mode(info: OpInfo) -> Mode:
    return info.default


@functools.lru_cache(maxsize=1024)  # pure, and asked the same few names every poll
def resolve_op(text: str, sdk: int) -> OpInfo | None:
    """``Shell.strOpToOp``: the public name (``android:camera``), a number, or the debug name."""
    for candidate in OPS.values():
        if candidate.since <= sdk and candidate.public_name == text:
            return candidate
    try:
        number = int(text)
    except ValueError:
        pass
    else:
        found = OPS_BY_CODE.get(number)
        return found if found is not None and found.since <= sdk else None
    # Old and new spellings of renamed ops are both accepted, whatever the release prints.
    info = OPS.get(_ALIASES.get(text, text))
    return info if info is not None and info.since <= sdk else None


# ----------------------------------------------------------------------------------- time text


def format_duration(ms: int) -> str:
    """``android.util.TimeUtils.formatDuration(long)``: ``+1d2h3m4s5ms``, ``-12ms``, ``0``.

    Once a larger unit is printed every smaller one follows, even at zero (``+1h0m3s0ms``);
    milliseconds are always printed.
    """
    if ms == 0:
        return "0"
    sign = "+" if ms > 0 else "-"
    ms = abs(ms)
    millis = ms % 1000
    seconds = ms // 1000
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    out = [sign]
    printed = False
    for amount, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")):
        if printed or amount > 0:
            out.append(f"{amount}{unit}")
            printed = True
    out.append(f"{millis}ms")
    return "".join(out)


@functools.lru_cache(maxsize=8192)  # an access's time is printed at every poll until it ages out
def _local(ms: int) -> str:
    """``SimpleDateFormat("yyyy-MM-dd HH:mm:ss.SSS")`` in the device zone (UTC, see Build)."""
    dt = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


def format_uid(uid: int) -> str:
    """``UserHandle.formatUid``: ``1000``, ``u0a123``, ``u10s1000``, ``u0i5``."""
    if uid < APP_ID_START:
        return str(uid)
    user, app_id = divmod(uid, PER_USER_RANGE)
    if 99_000 <= app_id <= 99_999:
        return f"u{user}i{app_id - 99_000}"
    if 90_000 <= app_id < 99_000:
        return f"u{user}ai{app_id - 90_000}"
    if app_id >= APP_ID_START:
        return f"u{user}a{app_id - APP_ID_START}"
    return f"u{user}s{app_id}"


def _hex_id(*parts: object) -> str:
    """A stable stand-in for ``Integer.toHexString(System.identityHashCode(x))``."""
    return f"{zlib.crc32(repr(parts).encode()) & 0xFFFFFFF:x}"


# ----------------------------------------------------------------------------------- formats


@dataclass(frozen=True)
class _Format:
    """What one release's AppOpsService prints; picked by SDK level in :data:`_FORMATS`."""

    settle_ms: tuple[int, int, int]
    """top / fg_service / bg state settle times of the Settings block."""
    padded_states: bool
    """P: ``UID_STATE_NAMES`` padded to five characters and one time line per uid state."""
    keyed: bool
    """Q+: ``Access: [state-flags]`` lines with inline duration and proxy."""
    attribution: bool
    """R+: entries grouped in ``tag=[ ... ]`` blocks."""
    capability: str | None
    """Capability letters of ``printCapabilitiesFull`` (None: line not printed)."""
    uid_nesting: bool
    """P/Q: ``startNesting=`` on the uid block."""
    clients: bool
    """P/Q: the ``Clients:`` / ``Started ops:`` section."""
    extra_watchers: bool
    """R+: ``All op started watchers`` and ``All op noted watchers``."""
    proxy_tag: bool
    """R+: ``proxy[uid=, pkg=, attributionTag=]``; Q prints no attribution tag."""
    get_uid_modes: bool
    """R+: ``get PKG`` lists the uid modes first, ``Uid mode: `` before the first of them."""
    set_uid: bool
    """Q+: ``set --uid PACKAGE``."""
    tag_args: bool
    """R+: ``--attribution`` for get/start/stop, ``--attributionTag``/``--watchers`` for dumps."""
    discrete: bool
    """S+: ``--include-discrete N`` and ``--history``."""
    policy: bool
    """U+: ``AppOps policy not set.`` and ``Global restrictions for token``."""
    state_changes: bool
    """U+: ``--uid-state-changes`` (and ``-a``) print the uid state change log."""
    exception_names_cmd: bool
    """R+: ``Exception occurred while executing 'set':`` (P/Q omit the command)."""
    server_pkg: str
    """Where AppOpsService lives, for stack frames."""
    help: tuple[str, ...]


_HELP_P: Final = (
    "AppOps service (appops) commands:",
    "  help",
    "    Print this help text.",
    "  start [--user <USER_ID>] <PACKAGE | UID> <OP> ",
    "    Starts a given operation for a particular application.",
    "  stop [--user <USER_ID>] <PACKAGE | UID> <OP> ",
    "    Stops a given operation for a particular application.",
    "  set [--user <USER_ID>] <PACKAGE | UID> <OP> <MODE>",
    "    Set the mode for a particular application and operation.",
    "  get [--user <USER_ID>] <PACKAGE | UID> [<OP>]",
    "    Return the mode for a particular application and optional operation.",
    "  query-op [--user <USER_ID>] <OP> [<MODE>]",
    "    Print all packages that currently have the given op in the given mode.",
    "  reset [--user <USER_ID>] [<PACKAGE>]",
    "    Reset the given application or all applications to default modes.",
    "  write-settings",
    "    Immediately write pending changes to storage.",
    "  read-settings",
    "    Read the last written settings, replacing current state in RAM.",
    "  options:",
    "    <PACKAGE> an Android package name.",
    "    <OP>      an AppOps operation.",
    "    <MODE>    one of allow, ignore, deny, or default",
    "    <USER_ID> the user id under which the package is installed. If --user is not",
    "              specified, the current user is assumed.",
)
_HELP_Q: Final = tuple(
    line.replace("<PACKAGE | UID> <OP> <MODE>", "<[--uid] PACKAGE | UID> <OP> <MODE>").replace(
        "an Android package name.", "an Android package name or its UID if prefixed by --uid"
    )
    for line in _HELP_P
)
_HELP_R: Final = (
    *_HELP_Q[:3],
    "  start [--user <USER_ID>] [--attribution <ATTRIBUTION_TAG>] <PACKAGE | UID> <OP> ",
    _HELP_Q[4],
    "  stop [--user <USER_ID>] [--attribution <ATTRIBUTION_TAG>] <PACKAGE | UID> <OP> ",
    *_HELP_Q[6:9],
    "  get [--user <USER_ID>] [--attribution <ATTRIBUTION_TAG>] <PACKAGE | UID> [<OP>]",
    *_HELP_Q[10:23],
    "    <USER_ID> the user id under which the package is installed. If --user is",
    "              not specified, the current user is assumed.",
)

_FORMAT_P: Final = _Format(
    settle_ms=(30_000, 10_000, 1_000),
    padded_states=True,
    keyed=False,
    attribution=False,
    capability=None,
    uid_nesting=True,
    clients=True,
    extra_watchers=False,
    proxy_tag=False,
    get_uid_modes=False,
    set_uid=False,
    tag_args=False,
    discrete=False,
    policy=False,
    state_changes=False,
    exception_names_cmd=False,
    server_pkg="com.android.server",
    help=_HELP_P,
)
_FORMAT_Q: Final = replace(
    _FORMAT_P,
    padded_states=False,
    keyed=True,
    set_uid=True,
    server_pkg="com.android.server.appop",
    help=_HELP_Q,
)
_FORMAT_R: Final = replace(
    _FORMAT_Q,
    settle_ms=(5_000, 5_000, 1_000),
    attribution=True,
    capability="LCM",
    uid_nesting=False,
    clients=False,
    extra_watchers=True,
    proxy_tag=True,
    get_uid_modes=True,
    tag_args=True,
    exception_names_cmd=True,
    help=_HELP_R,
)
_FORMATS: Final[tuple[tuple[int, _Format], ...]] = (
    (28, _FORMAT_P),
    (29, _FORMAT_Q),
    (30, _FORMAT_R),
    (31, replace(_FORMAT_R, capability="LCMN", discrete=True)),
    # Capability letters of U/V (BFSL 'F', user-restricted network 'U') are read from decompiled
    # ActivityManager copies, not from a capture.
    (34, replace(_FORMAT_R, capability="LCMNFU", discrete=True, policy=True, state_changes=True)),
)


def _format(sdk: int) -> _Format:
    chosen = _FORMATS[0][1]
    for first, fmt in _FORMATS:
        if sdk >= first:
            chosen = fmt
    return chosen


# ----------------------------------------------------------------------------------- model


@dataclass
class _PkgOps:
    package: str
    user: int
    ops: list[tuple[OpInfo, OpState]]


@dataclass
class _UidBlock:
    uid: int
    state: str
    uid_modes: list[tuple[OpInfo, Mode]]
    packages: list[_PkgOps]


def _visible(op: OpState) -> bool:
    """AOSP keeps an Op once it was noted/started or got a non-default mode."""
    return (
        op.mode != "default"
        or bool(op.accesses)
        or bool(op.rejects)
        or op.running_since_ms is not None
    )


def _shown_mode(info: OpInfo, op: OpState) -> Mode:
    """``Op.mode``: an op never set carries its default mode."""
    return info.default if op.mode == "default" else op.mode


def _known(name: str, sdk: int) -> OpInfo | None:
    info = OPS.get(_ALIASES.get(name, name))
    return info if info is not None and info.since <= sdk else None


@functools.lru_cache(maxsize=256)
def _names_of(info: OpInfo) -> tuple[str, ...]:
    """The names an op may be stored under: its own and the aliases that lead to it."""
    return (info.name, *(alias for alias, name in _ALIASES.items() if name == info.name))


def _holders(state: DeviceState, info: OpInfo) -> set[int]:
    """The uids that hold ``info`` (as a uid mode, or a visible op of an installed package)."""
    names = _names_of(info)
    found = {
        uid
        for uid, op_map in state.uid_ops.items()
        if any((op := op_map.get(n)) is not None and op.mode != "default" for n in names)
    }
    for pkg in state.packages.values():
        for user, pu in pkg.users.items():
            for n in names:
                op = pu.ops.get(n)
                if op is not None and pu.installed and _visible(op):
                    found.add(pkg.uid(user))
                    break
    return found


def _collect(state: DeviceState, sdk: int, only: OpInfo | None = None) -> list[_UidBlock]:
    """Every uid AppOpsService would hold a UidState for, ascending like its SparseArray.

    With ``only``, just the uids holding that op (all of each such uid, as ``dump --op`` needs
    for its nesting and foreground lines): the others print nothing under that filter, and a
    phone polled for one op at a time is asked this many times a second.
    """
    blocks: dict[int, _UidBlock] = {}
    wanted = _holders(state, only) if only is not None else None

    def block(uid: int) -> _UidBlock:
        found = blocks.get(uid)
        if found is None:
            found = blocks[uid] = _UidBlock(uid, state.uid_states.get(uid, "cch"), [], [])
        return found

    for uid, op_map in state.uid_ops.items():
        if wanted is not None and uid not in wanted:
            continue
        modes = [
            (info, op.mode)
            for name, op in op_map.items()
            if op.mode != "default" and (info := _known(name, sdk)) is not None
        ]
        if modes:
            block(uid).uid_modes = sorted(modes, key=lambda m: m[0].code)
    for pkg in state.packages.values():
        for user, pu in pkg.users.items():
            if not pu.installed:
                continue  # packageRemoved drops the package's ops
            if wanted is not None and pkg.uid(user) not in wanted:
                continue
            ops = [
                (info, op)
                for name, op in pu.ops.items()
                if _visible(op) and (info := _known(name, sdk)) is not None
            ]
            if ops:
                ops.sort(key=lambda o: o[0].code)
                block(pkg.uid(user)).packages.append(_PkgOps(pkg.name, user, ops))
    for uid, uid_state in state.uid_states.items():
        # R+ drops a UidState that is cached and holds nothing (UidState.isDefault).
        if uid not in blocks and (sdk < 30 or uid_state != "cch") and wanted is None:
            block(uid)
    for b in blocks.values():
        b.packages.sort(key=lambda p: p.package)
    return [blocks[uid] for uid in sorted(blocks)]


def _latest(records: Iterable[Access]) -> Access | None:
    best: Access | None = None
    for rec in records:
        if best is None or rec.time_ms > best.time_ms:
            best = rec
    return best


# ----------------------------------------------------------------------------------- dumpsys


@dataclass
class _DumpArgs:
    op: OpInfo | None = None
    package: str | None = None
    app_id: int | None = None
    tag: str | None = None
    tag_filter: bool = False
    mode: Mode | None = None
    watchers: bool = False
    history: bool = False
    discrete: int | None = None
    state_changes: bool = False


_DUMP_HELP: Final = (
    "AppOps service (appops) dump options:",
    "  -h",
    "    Print this help text.",
    "  --op [OP]",
    "    Limit output to data associated with the given app op code.",
    "  --mode [MODE]",
    "    Limit output to data associated with the given app op mode.",
    "  --package [PACKAGE]",
    "    Limit output to data associated with the given package name.",
)
_DUMP_HELP_R: Final = (
    "  --attributionTag [attributionTag]",
    "    Limit output to data associated with the given attribution tag.",
)
_DUMP_HELP_S: Final = (
    "  --include-discrete [n]",
    "    Include discrete ops limited to n per dimension. Use zero for no limit.",
)
_DUMP_HELP_WATCHERS: Final = ("  --watchers", "    Only output the watcher sections.")
_DUMP_HELP_HISTORY: Final = ("  --history", "    Only output history.")
_DUMP_HELP_U: Final = ("  --uid-state-changes", "    Include logs about uid state changes.")


def _dump_help(fmt: _Format) -> list[str]:
    lines = list(_DUMP_HELP)
    if fmt.tag_args:
        lines += _DUMP_HELP_R
    if fmt.discrete:
        lines += _DUMP_HELP_S
    if fmt.tag_args:
        lines += _DUMP_HELP_WATCHERS
    if fmt.discrete:
        lines += _DUMP_HELP_HISTORY
    if fmt.state_changes:
        lines += _DUMP_HELP_U
    return lines


def _parse_mode(text: str) -> Mode | None:
    """``Shell.strModeToMode``: a name of MODE_NAMES or its number."""
    for mode in MODE_NAMES:
        if mode == text:
            return mode
    try:
        number = int(text)
    except ValueError:
        return None
    return MODE_NAMES[number] if 0 <= number < len(MODE_NAMES) else None


def _parse_dump_args(
    args: Sequence[str], state: DeviceState, fmt: _Format, out: list[str]
) -> _DumpArgs | None:
    """Parse like ``AppOpsService.dump``; on an error append its line to ``out``, return None."""
    sdk = state.build.sdk
    parsed = _DumpArgs()
    i = 0
    while i < len(args):
        arg = args[i]
        with_value = {"--op", "--package", "--mode"}
        if fmt.tag_args:
            with_value.add("--attributionTag")
        if fmt.discrete:
            with_value.add("--include-discrete")
        if arg == "-h":
            out.extend(_dump_help(fmt))
            return None
        if arg == "-a":
            parsed.state_changes = parsed.state_changes or fmt.state_changes
        elif arg in with_value:
            i += 1
            if i >= len(args):
                out.append(f"No argument for {arg} option")
                return None
            value = args[i]
            if arg == "--op":
                info = resolve_op(value, sdk)
                if info is None:
                    out.append(f"Error: Unknown operation string: {value}")
                    return None
                parsed.op = info
            elif arg == "--package":
                pkg = state.packages.get(value)
                if pkg is None:
                    out.append(f"Unknown package: {value}")
                    return None
                parsed.package, parsed.app_id = value, pkg.app_id
            elif arg == "--mode":
                mode = _parse_mode(value)
                if mode is None:
                    out.append(f"Error: Mode {value} is not valid")
                    return None
                parsed.mode = mode
            elif arg == "--attributionTag":
                parsed.tag, parsed.tag_filter = value, True
            else:
                try:
                    parsed.discrete = int(value)
                except ValueError:
                    out.append(f"Wrong parameter: {value}")
                    return None
        elif arg == "--watchers" and fmt.tag_args:
            parsed.watchers = True
        elif arg == "--history" and fmt.discrete:
            parsed.history = True
        elif arg == "--uid-state-changes" and fmt.state_changes:
            parsed.state_changes = True
        elif arg.startswith("-"):
            out.append(f"Unknown option: {arg}")
            return None
        else:
            out.append(f"Unknown command: {arg}")
            return None
        i += 1
    return parsed


def _system_uid_of(state: DeviceState, package: str, fallback: int) -> int:
    pkg = state.packages.get(package)
    return pkg.uid(0) if pkg is not None else fallback


# SystemUI's AppOpsController listens to these (sorted by op number as in a SparseArray).
_SYSUI_ACTIVE: Final = (
    (28, ("SYSTEM_ALERT_WINDOW", "CAMERA", "RECORD_AUDIO")),
    (
        30,
        (
            "COARSE_LOCATION",
            "FINE_LOCATION",
            "SYSTEM_ALERT_WINDOW",
            "CAMERA",
            "RECORD_AUDIO",
            "PHONE_CALL_MICROPHONE",
            "PHONE_CALL_CAMERA",
        ),
    ),
)


def _watcher_lines(state: DeviceState, fmt: _Format, args: _DumpArgs) -> list[str]:
    """The watcher sections: system_server and SystemUI listening as on every real phone.

    All the simulated watchers watch every uid (``watchinguid=-1``). With ``--package``, P/Q
    still print them (the check skips uid -1) while R+ drops them (app id -1 never matches).
    """
    sdk = state.build.sdk
    hidden_by_package = args.package is not None and sdk >= 30
    if hidden_by_package:
        return []
    server = 1000
    sysui = _system_uid_of(state, "com.android.systemui", APP_ID_START + 36)
    pid_server, pid_ui = 638, 923
    lines: list[str] = []
    mode_watch = [
        ("COARSE_LOCATION", server, pid_server, "0x1"),
        ("SYSTEM_ALERT_WINDOW", server, pid_server, "0x0"),
        ("RUN_IN_BACKGROUND", server, pid_server, "0x0"),
        ("RUN_ANY_IN_BACKGROUND", server, pid_server, "0x0"),
    ]
    filtered = [w for w in mode_watch if args.op is None or OPS[w[0]].code == args.op.code]
    if filtered:
        lines.append("  Op mode watchers:")
        for name, uid, pid, flags in filtered:
            lines.append(f"    Op {name}:")
            lines.append(
                f"      #0: ModeCallback{{{_hex_id('mode', name)} watchinguid=-1 flags={flags} "
                f"from uid={format_uid(uid)} pid={pid}}}"
            )
    if args.op is None:
        lines.append("  All op mode watchers:")
        for name, uid, pid, flags in mode_watch:
            lines.append(
                f"    {_hex_id('all', name)}: ModeCallback{{{_hex_id('mode', name)} "
                f"watchinguid=-1 flags={flags} from uid={format_uid(uid)} pid={pid}}}"
            )
    if args.mode is not None:
        return lines
    active_ops: tuple[str, ...] = next(o for first, o in reversed(_SYSUI_ACTIVE) if sdk >= first)
    sections: list[tuple[str, str, tuple[str, ...]]] = [
        ("All op active watchers:", "ActiveCallback", active_ops)
    ]
    if fmt.extra_watchers:
        sections.append(("All op started watchers:", "StartedCallback", active_ops))
        sections.append(
            ("All op noted watchers:", "NotedCallback", ("COARSE_LOCATION", "FINE_LOCATION"))
        )
    for header, kind, ops in sections:
        if args.op is not None and args.op.name not in ops:
            continue
        lines.append(f"  {header}")
        lines.append(f"    {_hex_id(header)} ->")
        lines.append("        [" + ", ".join(ops) + "]")
        lines.append(
            f"        {kind}{{{_hex_id(kind)} watchinguid=-1 from uid={format_uid(sysui)} "
            f"pid={pid_ui}}}"
        )
    return lines


def _clients_lines(state: DeviceState, blocks: list[_UidBlock], args: _DumpArgs) -> list[str]:
    """P/Q ``Clients:``: ops started through system_server's token, one line per nesting."""
    started: list[str] = []
    for b in blocks:
        for p in b.packages:
            if args.package is not None and p.package != args.package:
                continue
            for info, op in p.ops:
                if op.running_since_ms is None or (args.op and args.op.code != info.code):
                    continue
                name = op_name(info, state.build.sdk)
                started += [f"        uid={b.uid} pkg={p.package} op={name}"] * max(1, op.nesting)
    if not started:
        return []
    token = f"android.os.Binder@{_hex_id('client')}"
    return [
        "  Clients:",
        f"    {token}:",
        f"      ClientState{{mAppToken={token}, pid=638}}",
        "      Started ops:",
        *started,
    ]


def _capability(fmt: _Format, uid_state: str) -> str:
    letters = fmt.capability or ""
    if uid_state in ("pers", "top"):
        have = set(letters)
    elif uid_state in ("fgsvc", "fg"):
        have = set(letters) & {"N", "F", "U"}
    else:
        have = set()
    return "".join(c if c in have else "-" for c in letters)


def _uid_matches(b: _UidBlock, args: _DumpArgs, sdk: int) -> bool:
    """The uid filter of ``dump``: any of op/package/mode must be present in the uid."""
    if args.op is None and args.package is None and args.mode is None:
        return True
    has_op = args.op is None or any(i.code == args.op.code for i, _ in b.uid_modes)
    # R+ compares the app id with the whole uid (so work-profile uids match by name only).
    has_pkg = args.package is None or (sdk >= 30 and args.app_id == b.uid)
    has_mode = args.mode is None or any(m == args.mode for _, m in b.uid_modes)
    for p in b.packages:
        if not has_op and args.op is not None:
            has_op = any(i.code == args.op.code for i, _ in p.ops)
        if not has_mode:
            has_mode = any(_shown_mode(i, o) == args.mode for i, o in p.ops)
        if not has_pkg:
            has_pkg = p.package == args.package
    return has_op and has_pkg and has_mode


def _uid_state_lines(state: DeviceState, fmt: _Format, b: _UidBlock, args: _DumpArgs) -> list[str]:
    lines = [f"  Uid {format_uid(b.uid)}:"]
    name = f"{b.state:<5}" if fmt.padded_states else b.state
    lines.append(f"    state={name}")
    if fmt.capability is not None:
        lines.append(f"    capability={_capability(fmt, b.state)}")
        lines.append("    appWidgetVisible=false")
    if fmt.uid_nesting:
        nesting = sum(op.nesting for p in b.packages for _, op in p.ops if op.running_since_ms)
        if nesting:
            lines.append(f"    startNesting={nesting}")
    foreground = [i for i, m in b.uid_modes if m == "foreground"] + [
        i for p in b.packages for i, o in p.ops if _shown_mode(i, o) == "foreground"
    ]
    if foreground and args.mode in (None, "foreground"):
        lines.append("    foregroundOps:")
        for info in sorted({i.code: i for i in foreground}.values(), key=lambda i: i.code):
            if args.op is None or args.op.code == info.code:
                lines.append(f"      {op_name(info, state.build.sdk)}: SILENT")
        lines.append("    hasForegroundWatchers=false")
    for info, mode in b.uid_modes:
        if (args.op is None or args.op.code == info.code) and args.mode in (None, mode):
            lines.append(f"      {op_name(info, state.build.sdk)}: mode={mode}")
    return lines


def _op_header(sdk: int, info: OpInfo, op: OpState, p: _PkgOps, state: DeviceState) -> str:
    text = f"      {op_name(info, sdk)} ({_shown_mode(info, op)}"
    sw = switch_op(info, sdk)
    if sw.code != info.code:
        pkg_ops = state.packages[p.package].users[p.user].ops
        sw_state = pkg_ops.get(sw.name)
        sw_mode = _shown_mode(sw, sw_state) if sw_state is not None else sw.default
        text += f" / switch {op_name(sw, sdk)}={sw_mode}"
    return text + "): "


def _p_times(
    records: dict[tuple[str | None, UidState, str], Access], first: str, now: int
) -> list[str]:
    """P ``dumpTimesLocked``: one line per uid state, the latest time over tags and flags."""
    per_state: dict[str, int] = {}
    for (_tag, uid_state, _flags), rec in records.items():
        per_state[uid_state] = max(per_state.get(uid_state, 0), rec.time_ms)
    lines: list[str] = []
    for name in sorted(per_state, key=lambda s: UID_STATE_ORDER.get(s, 999)):
        prefix = first if not lines else " " * len(first)
        t = per_state[name]
        lines.append(f"{prefix}{name:<5} = {_local(t)} ({format_duration(t - now)})")
    return lines


def _java(value: str | None) -> str:
    """Java string concatenation prints a null reference as ``null``."""
    return "null" if value is None else value


def _proxy_text(fmt: _Format, rec: Access) -> str:
    if rec.proxy_uid is None:
        return ""
    text = f" proxy[uid={rec.proxy_uid}, pkg={_java(rec.proxy_package)}"
    if fmt.proxy_tag:
        text += f", attributionTag={_java(rec.proxy_tag)}"
    return text + "]"


def _newest(found: Access | None, rec: Access) -> Access:
    return rec if found is None or rec.time_ms > found.time_ms else found


def _keyed_lines(
    fmt: _Format, op: OpState, tag: str | None, all_tags: bool, prefix: str, now: int
) -> list[str]:
    """Q+ ``dumpStatesLocked``: Access/Reject per (uid state, flags) of one attribution tag."""
    accesses: dict[tuple[str, str], Access] = {}
    rejects: dict[tuple[str, str], Access] = {}
    for (rec_tag, uid_state, flags), rec in op.accesses.items():
        if all_tags or rec_tag == tag:
            accesses[(uid_state, flags)] = _newest(accesses.get((uid_state, flags)), rec)
    for (rec_tag, uid_state, flags), rec in op.rejects.items():
        if all_tags or rec_tag == tag:
            rejects[(uid_state, flags)] = _newest(rejects.get((uid_state, flags)), rec)
    lines: list[str] = []
    for state_name, flags in sorted(
        accesses.keys() | rejects.keys(), key=lambda k: (UID_STATE_ORDER.get(k[0], 999), k[1])
    ):
        key = f"[{state_name}-{flags}]"
        acc = accesses.get((state_name, flags))
        rej = rejects.get((state_name, flags))
        if acc is not None:
            rel = format_duration(acc.time_ms - now)
            text = f"{prefix}Access: {key} {_local(acc.time_ms)} ({rel})"
            if acc.duration_ms:
                text += f" duration={format_duration(acc.duration_ms)}"
            lines.append(text + _proxy_text(fmt, acc))
        if rej is not None:
            # The missing space after "]" is in every release's code.
            rel = format_duration(rej.time_ms - now)
            lines.append(
                f"{prefix}Reject: {key}{_local(rej.time_ms)} ({rel})" + _proxy_text(fmt, rej)
            )
    return lines


def _running_lines(op: OpState, now: int, prefix: str, min_nesting: int) -> list[str]:
    """``Running start at:`` (time since the start) and ``startNesting=`` above a threshold."""
    if op.running_since_ms is None:
        return []
    lines = [f"{prefix}Running start at: {format_duration(now - op.running_since_ms)}"]
    if op.nesting >= min_nesting:
        lines.append(f"{prefix}startNesting={op.nesting}")
    return lines


def _op_lines(fmt: _Format, op: OpState, args: _DumpArgs, now: int) -> list[str]:
    """The lines under one op header, in the release's format."""
    pad = "          "
    if not fmt.keyed:
        lines = _p_times(op.accesses, pad + "Access: ", now)
        lines += _p_times(op.rejects, pad + "Reject: ", now)
        if op.running_since_ms is not None:
            return lines + _running_lines(op, now, pad, 1)
        last = _latest(a for a in op.accesses.values() if a.duration_ms)
        if last is not None and last.duration_ms:
            lines.append(f"{pad}duration={format_duration(last.duration_ms)}")
        return lines
    if not fmt.attribution:
        return _keyed_lines(fmt, op, None, True, pad, now) + _running_lines(op, now, pad, 1)
    tags: set[str | None] = {k[0] for k in op.accesses} | {k[0] for k in op.rejects}
    if op.running_since_ms is not None:
        tags.add(op.running_tag)
    lines = []
    # ArrayMap puts the null tag first; the others follow (by name here, by hash on a phone).
    for tag in sorted(tags, key=lambda t: (t is not None, t or "")):
        if args.tag_filter and tag != args.tag:
            continue
        lines.append(f"        {_java(tag)}=[")
        lines += _keyed_lines(fmt, op, tag, False, pad, now)
        if tag == op.running_tag:
            lines += _running_lines(op, now, pad, 2)  # R+ prints the nesting only above one
        lines.append("        ]")
    return lines


_USER_RESTRICTED: Final = (
    "READ_CALL_LOG",
    "WRITE_CALL_LOG",
    "READ_SMS",
    "WRITE_SMS",
    "RECEIVE_SMS",
    "RECEIVE_MMS",
    "SEND_SMS",
    "READ_ICC_SMS",
    "WRITE_ICC_SMS",
)
"""What DISALLOW_SMS / DISALLOW_OUTGOING_CALLS restrict for a secondary or child user."""


def _restriction_lines(state: DeviceState, fmt: _Format, args: _DumpArgs) -> list[str]:
    lines: list[str] = []
    sdk = state.build.sdk
    if fmt.policy:
        # The S+ privacy toggles are global restrictions of SensorPrivacyService's token.
        privacy = state.sensor_privacy
        restricted: list[str] = []
        if privacy.get("microphone"):
            restricted += ["RECORD_AUDIO", "PHONE_CALL_MICROPHONE", "RECEIVE_SOUNDTRIGGER_AUDIO"]
            if sdk >= 35:
                restricted.append("RECEIVE_SANDBOX_TRIGGER_AUDIO")
        if privacy.get("camera"):
            restricted += ["CAMERA", "PHONE_CALL_CAMERA"]
        if restricted:
            restricted.sort(key=lambda n: OPS[n].code)
            lines.append(f"  Global restrictions for token android.os.Binder@{_hex_id('sp')}:")
            lines.append("      Restricted ops: [" + ", ".join(restricted) + "]")
        # U shows user restrictions only with --mode, --watchers or --history.
        if args.mode is None and not args.watchers and not args.history:
            return lines
    elif sdk >= 30 and (args.mode is not None or args.watchers or args.history):
        return lines  # R/S skip the user restrictions for these options; P/Q never do
    users = [u for u in sorted(state.users) if u != 0]
    if not users:
        return lines
    if sdk >= 30 and (
        args.package is not None or (args.op is not None and args.op.name not in _USER_RESTRICTED)
    ):
        return lines
    lines.append(f"  User restrictions for token android.os.Binder@{_hex_id('ur')}:")
    lines.append("      Restricted ops:")
    for user in users:
        lines.append(f"        user: {user} restricted ops: [{', '.join(_USER_RESTRICTED)}]")
    return lines


_DISCRETE_OPS: Final = frozenset(
    {
        "COARSE_LOCATION",
        "FINE_LOCATION",
        "CAMERA",
        "RECORD_AUDIO",
        "PHONE_CALL_MICROPHONE",
        "PHONE_CALL_CAMERA",
    }
)


def _discrete_lines(
    state: DeviceState, blocks: list[_UidBlock], args: _DumpArgs, limit: int
) -> list[str]:
    """S+ ``Discrete accesses:`` from the last 24 h, times floored and durations ceiled to 1 min."""
    now = state.now_ms()
    lines = ["Discrete accesses: "]
    for b in blocks:
        uid_lines: list[str] = []
        for p in b.packages:
            if args.package is not None and p.package != args.package:
                continue
            pkg_lines: list[str] = []
            for info, op in p.ops:
                if info.name not in _DISCRETE_OPS or (args.op and args.op.code != info.code):
                    continue
                by_tag: dict[str | None, list[str]] = {}
                events = [(k, a) for k, a in op.accesses.items() if now - a.time_ms < 86_400_000]
                events.sort(key=lambda e: -e[1].time_ms)
                for (tag, uid_state, flags), rec in events:
                    if flags not in ("s", "tpd") or (args.tag_filter and tag != args.tag):
                        continue
                    entries = by_tag.setdefault(tag, [])
                    if limit and len(entries) >= limit:
                        continue
                    text = f"          Access [{uid_state}-{flags}] at "
                    text += _local(rec.time_ms - rec.time_ms % 60_000)
                    if rec.duration_ms is not None:
                        minutes = -(-rec.duration_ms // 60_000)
                        text += f" for {minutes * 60_000} milliseconds "
                    entries.append(text)
                if by_tag:
                    pkg_lines.append(f"      {op_name(info, state.build.sdk)}")
                    for tag, entries in by_tag.items():
                        pkg_lines.append(f"        Attribution: {_java(tag)}")
                        pkg_lines += entries
            if pkg_lines:
                uid_lines += [f"    Package: {p.package}", *pkg_lines]
        if uid_lines:
            lines += [f"  Uid: {b.uid}", *uid_lines]
    return lines


def _dump_appops(state: DeviceState, args_in: Sequence[str]) -> list[str]:
    sdk = state.build.sdk
    fmt = _format(sdk)
    out: list[str] = []
    args = _parse_dump_args(args_in, state, fmt, out)
    if args is None:
        return out
    now = state.now_ms()
    out.append("Current AppOps Service state:")
    if not args.watchers and not args.history:
        top, fgs, bg = fmt.settle_ms
        out += [
            "  Settings:",
            f"    top_state_settle_time={format_duration(top)}",
            f"    fg_service_state_settle_time={format_duration(fgs)}",
            f"    bg_state_settle_time={format_duration(bg)}",
        ]
    out.append("")
    unfiltered = args.op is None and args.package is None and args.mode is None
    # DevicePolicyManager hands AppOps the device owner (user 0) together with profile owners.
    owners = dict(state.profile_owners)
    if state.device_owner is not None:
        owners.setdefault(0, state.device_owner)
    if unfiltered and owners and not args.watchers and not args.history and not args.tag_filter:
        out.append("  Profile owners:")
        for user in sorted(owners):
            pkg = state.packages.get(owners[user].split("/", 1)[0])
            uid = pkg.uid(user) if pkg is not None else user * PER_USER_RANGE + APP_ID_START
            out.append(f"    User #{user}: {format_uid(uid)}")
        out.append("")
    # An op filter narrows the uids: a uid is dumped only if it holds the op (_uid_matches).
    narrow = args.op if args.discrete is None else None
    blocks = _collect(state, sdk, narrow)
    section = _watcher_lines(state, fmt, args) if not args.history else []
    if fmt.clients and args.mode is None:
        section += _clients_lines(state, blocks, args)
    out += section
    if section:
        out.append("")
    printed_uid = False
    if not args.watchers and not args.history:
        for b in blocks:
            if not _uid_matches(b, args, sdk):
                continue
            printed_uid = True
            out += _uid_state_lines(state, fmt, b, args)
            for p in b.packages:
                if args.package is not None and p.package != args.package:
                    continue
                printed_pkg = False
                for info, op in p.ops:
                    if args.op is not None and args.op.code != info.code:
                        continue
                    if args.mode is not None and _shown_mode(info, op) != args.mode:
                        continue
                    if not printed_pkg:
                        out.append(f"    Package {p.package}:")
                        printed_pkg = True
                    out.append(_op_header(sdk, info, op, p, state))
                    out += _op_lines(fmt, op, args, now)
    if printed_uid or section:
        out.append("")
    out += _restriction_lines(state, fmt, args)
    if fmt.policy and not args.history and not args.watchers:
        out += ["", "  AppOps policy not set."]
    if args.state_changes:
        out += ["", "Uid State Changes Event Log:"]
    if args.discrete is not None:
        out += _discrete_lines(state, blocks, args, args.discrete)
    return out


# ----------------------------------------------------------------------------------- cmd appops


class _CmdError(Exception):
    """A handled error: ``lines`` go to stderr (or stdout), exit status 255 (``return -1``)."""

    def __init__(self, *lines: str, to_stdout: bool = False) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines
        self.to_stdout = to_stdout


class _Exception(Exception):
    """A Java exception escaping ``onShellCommand``; ShellCommand prints it with a stack."""

    def __init__(self, java_class: str, message: str, frames: Sequence[str]) -> None:
        super().__init__(message)
        self.java_class = java_class
        self.message = message
        self.frames = frames


@dataclass
class _Target:
    user: int
    package: str | None
    uid: int
    op: OpInfo | None
    tag: str | None
    targets_uid: bool


_SPECIAL_UIDS: Final = {
    "root": 0,
    "shell": 2000,
    "media": 1013,
    "audioserver": 1041,
    "cameraserver": 1047,
}


def _parse_user(text: str, state: DeviceState) -> int:
    """``UserHandle.parseUserArg``; ``current`` resolves to the foreground user."""
    if text == "all":
        return -1
    if text in ("current", "cur"):
        return state.current_user
    try:
        return int(text)
    except ValueError:
        raise _Exception(
            "java.lang.IllegalArgumentException", f"Bad user number: {text}", ()
        ) from None


def _shell_uid(text: str) -> int | None:
    """A numeric uid or ``u0a123``/``u10s1000`` (``parseUserPackageOp``)."""
    try:
        return int(text)
    except ValueError:
        pass
    if len(text) < 2 or text[0] != "u" or "." in text:
        return None
    i = 1
    while i < len(text) and text[i].isdigit():
        i += 1
    if i == 1 or i >= len(text) or text[i] not in "as":
        return None
    digits = text[i + 1 :]
    if not digits.isdigit():
        # AOSP stops at the first non-digit; anything after it is ignored.
        j = 0
        while j < len(digits) and digits[j].isdigit():
            j += 1
        digits = digits[:j]
        if not digits:
            return None
    user, value = int(text[1:i]), int(digits)
    return user * PER_USER_RANGE + (value + APP_ID_START if text[i] == "a" else value)


def _parse_target(
    rest: list[str], state: DeviceState, fmt: _Format, *, require_op: bool
) -> tuple[_Target, list[str]]:
    """``parseUserPackageOp``: options, package or uid, op; returns the unconsumed arguments."""
    user = state.current_user
    package: str | None = None
    op_text: str | None = None
    tag: str | None = None
    targets_uid = False
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--user":
            if i >= len(rest):
                raise _Exception(
                    "java.lang.IllegalArgumentException", 'Argument expected after "--user"', ()
                )
            user = _parse_user(rest[i], state)
            i += 1
        elif arg == "--uid" and fmt.set_uid:
            targets_uid = True
        elif arg == "--attribution" and fmt.tag_args:
            if i >= len(rest):
                raise _Exception(
                    "java.lang.IllegalArgumentException",
                    'Argument expected after "--attribution"',
                    (),
                )
            tag = rest[i]
            i += 1
        elif package is None:
            package = arg
        elif op_text is None:
            op_text = arg
            break
    if package is None:
        raise _CmdError("Error: Package name not specified.")
    if op_text is None and require_op:
        raise _CmdError("Error: Operation not specified.")
    info: OpInfo | None = None
    if op_text is not None:
        info = resolve_op(op_text, state.build.sdk)
        if info is None:
            raise _CmdError(f"Error: Unknown operation string: {op_text}")
    uid = _shell_uid(package)
    if uid is not None:
        return _Target(user, None, uid, info, tag, targets_uid), rest[i:]
    special = _SPECIAL_UIDS.get(package)
    if special is not None:
        return _Target(user, package, special, info, tag, targets_uid), rest[i:]
    pkg = state.packages.get(package)
    # MATCH_UNINSTALLED_PACKAGES: a package removed for this user but kept still has a uid.
    if pkg is None or user not in pkg.users:
        raise _CmdError(f"Error: No UID for {package} in user {user}")
    return _Target(user, package, pkg.uid(user), info, tag, targets_uid), rest[i:]


def _security(fmt: _Format, method: str) -> _Exception:
    """The SecurityException MIUI raises for shell without "USB debugging (Security settings)"."""
    service = f"{fmt.server_pkg}.AppOpsService"
    return _Exception(
        "java.lang.SecurityException",
        "uid 2000 does not have android.permission.MANAGE_APP_OPS_MODES.",
        (
            "android.app.ContextImpl.enforce(ContextImpl.java:2073)",
            "android.app.ContextImpl.enforcePermission(ContextImpl.java:2082)",
            f"{service}.enforceManageAppOpsModes(AppOpsService.java:2214)",
            f"{service}.{method}(AppOpsService.java:2487)",
            f"{service}.onShellCommand(AppOpsService.java:4822)",
            f"{service}$Shell.onCommand(AppOpsService.java:4591)",
            "android.os.BasicShellCommandHandler.exec(BasicShellCommandHandler.java:98)"
            if fmt.exception_names_cmd
            else "android.os.ShellCommand.exec(ShellCommand.java:104)",
            "android.os.Binder.shellCommand(Binder.java:936)",
            "android.os.Binder.onTransact(Binder.java:820)",
        ),
    )


def _mode_text(mode_text: str | None) -> Mode:
    if mode_text is None:
        raise _CmdError("Error: Mode not specified.")
    mode = _parse_mode(mode_text)
    if mode is None:
        raise _CmdError(f"Error: Mode {mode_text} is not valid")
    return mode


def _store_mode(op: OpState, info: OpInfo, mode: Mode) -> None:
    """setMode: the op's default mode is stored as 'never set', as AOSP prunes such an op."""
    op.mode = "default" if mode == info.default else mode


def _cmd_set(state: DeviceState, fmt: _Format, rest: list[str]) -> list[str]:
    target, rest = _parse_target(rest, state, fmt, require_op=True)
    mode = _mode_text(rest[0] if rest else None)
    if state.oem.blocks_permission_changes:
        raise _security(fmt, "setUidMode" if target.package is None else "setMode")
    assert target.op is not None
    # setMode/setUidMode act on the switch op (FINE_LOCATION is set through COARSE_LOCATION).
    info = switch_op(target.op, state.build.sdk)
    if target.package is None:
        _store_mode(state.uid_op(target.uid, info.name), info, mode)
    elif target.targets_uid:
        pkg = state.packages.get(target.package)
        if pkg is None or target.user not in pkg.users:
            raise _CmdError()  # NameNotFoundException is swallowed: no text, status -1
        _store_mode(state.uid_op(pkg.uid(target.user), info.name), info, mode)
    elif target.package in state.packages:
        _store_mode(state.op(target.package, target.user, info.name), info, mode)
    return []


def _entry_line(
    info: OpInfo, mode: Mode, op: OpState | None, fmt: _Format, sdk: int, now: int
) -> str:
    """One ``get`` line: ``OP: mode[; time=+.. ago][; rejectTime=..][ (running)|; duration=..]``."""
    text = f"{op_name(info, sdk)}: {mode}"
    if op is None:
        return text
    acc = _latest(op.accesses.values())
    rej = _latest(op.rejects.values())
    if acc is not None:
        text += f"; time={format_duration(now - acc.time_ms)} ago"
    if rej is not None:
        text += f"; rejectTime={format_duration(now - rej.time_ms)} ago"
    if op.running_since_ms is not None:
        text += " (running)"
    else:
        if fmt.attribution:
            duration = acc.duration_ms if acc is not None else None
        else:
            with_duration = _latest(a for a in op.accesses.values() if a.duration_ms)
            duration = with_duration.duration_ms if with_duration is not None else None
        if duration:
            text += f"; duration={format_duration(duration)}"
    return text


def _tag_view(op: OpState, tag: str | None) -> OpState:
    """The part of an op recorded under one attribution tag (``get --attribution``)."""
    return OpState(
        mode=op.mode,
        accesses={k: v for k, v in op.accesses.items() if k[0] == tag},
        rejects={k: v for k, v in op.rejects.items() if k[0] == tag},
        running_since_ms=op.running_since_ms if op.running_tag == tag else None,
        running_tag=op.running_tag,
        nesting=op.nesting,
    )


def _cmd_get(state: DeviceState, fmt: _Format, rest: list[str]) -> list[str]:
    target, _ = _parse_target(rest, state, fmt, require_op=False)
    sdk = state.build.sdk
    now = state.now_ms()
    lines: list[str] = []
    want = target.op

    def uid_entries(uid: int) -> list[str]:
        modes = [
            (info, op.mode)
            for name, op in state.uid_ops.get(uid, {}).items()
            if op.mode != "default"
            and (info := _known(name, sdk)) is not None
            and (want is None or want.code == info.code)
        ]
        modes.sort(key=lambda m: m[0].code)
        entries = [_entry_line(info, mode, None, fmt, sdk, now) for info, mode in modes]
        if entries and fmt.get_uid_modes:
            entries[0] = "Uid mode: " + entries[0]
        return entries

    if target.package is None or target.package in _SPECIAL_UIDS:
        lines += uid_entries(target.uid)
    else:
        if fmt.get_uid_modes:
            lines += uid_entries(target.uid)
        pu = state.packages[target.package].users[target.user]
        ops = [
            (info, op)
            for name, op in pu.ops.items()
            if _visible(op)
            and (info := _known(name, sdk)) is not None
            and (want is None or want.code == info.code)
        ]
        for info, op in sorted(ops, key=lambda o: o[0].code):
            if target.tag is not None:
                view = _tag_view(op, target.tag)
                line = f"{op_name(info, sdk)}: {_shown_mode(info, op)}"
                if view.accesses or view.rejects or view.running_since_ms is not None:
                    line = _entry_line(info, _shown_mode(info, op), view, fmt, sdk, now)
                lines.append(line)
            else:
                lines.append(_entry_line(info, _shown_mode(info, op), op, fmt, sdk, now))
    if not lines:
        lines.append("No operations.")
        if want is not None:
            lines.append(f"Default mode: {want.default}")
    return lines


def _cmd_query_op(state: DeviceState, fmt: _Format, rest: list[str]) -> list[str]:
    op_text: str | None = None
    mode_text: str | None = None
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--user":
            if i < len(rest):
                _parse_user(rest[i], state)  # parsed, then unused, as in AOSP
                i += 1
        elif op_text is None:
            op_text = arg
        elif mode_text is None:
            mode_text = arg
            break
    if op_text is None:
        raise _CmdError("Error: Operation not specified.")
    info = resolve_op(op_text, state.build.sdk)
    if info is None:
        raise _CmdError(f"Error: Unknown operation string: {op_text}")
    mode: Mode = "ignore" if mode_text is None else _mode_text(mode_text)
    holders: list[tuple[str, Mode]] = []
    # getPackagesForOps reads package-level entries of every user; uid modes do not count.
    for pkg in state.packages.values():
        for pu in pkg.users.values():
            op = pu.ops.get(info.name)
            if pu.installed and op is not None and _visible(op):
                holders.append((pkg.name, _shown_mode(info, op)))
    if not holders:
        return ["No operations."]
    return [name for name, m in holders if m == mode]


def _cmd_reset(state: DeviceState, fmt: _Format, rest: list[str]) -> list[str]:
    package: str | None = None
    user = state.current_user
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--user":
            if i >= len(rest):
                raise _Exception(
                    "java.lang.IllegalArgumentException", 'Argument expected after "--user"', ()
                )
            user = _parse_user(rest[i], state)
            i += 1
        elif package is None:
            package = arg
        else:
            raise _CmdError(f"Error: Unsupported argument: {arg}")
    if state.oem.blocks_permission_changes:
        raise _security(fmt, "resetAllModes")
    sdk = state.build.sdk

    def in_scope(uid: int) -> bool:
        return user == -1 or uid // PER_USER_RANGE == user

    for pkg in state.packages.values():
        if package is not None and pkg.name != package:
            continue
        for u, pu in pkg.users.items():
            if not in_scope(pkg.uid(u)):
                continue
            for name, op in pu.ops.items():
                info = _known(name, sdk)
                if info is not None and not info.disable_reset:
                    op.mode = "default"
    if package is None or package in state.packages:
        uids = {
            p.uid(u) for p in state.packages.values() if package in (None, p.name) for u in p.users
        }
        for uid, op_map in state.uid_ops.items():
            if not in_scope(uid) or (package is not None and uid not in uids):
                continue
            for name, op in op_map.items():
                info = _known(name, sdk)
                if info is not None and not info.disable_reset:
                    op.mode = "default"
    who = "all users" if user == -1 else f"user {user}"
    what = "all packages" if package is None else f"package {package}"
    return [f"Reset all modes for: {who}, {what}"]


def _cmd_start_stop(state: DeviceState, fmt: _Format, rest: list[str], start: bool) -> list[str]:
    target, _ = _parse_target(rest, state, fmt, require_op=True)
    if target.package is None or target.package not in state.packages:
        raise _CmdError()  # a uid argument is refused silently (return -1)
    assert target.op is not None
    if start:
        uid_state = state.uid_states.get(target.uid, "top")
        state.start_op(target.package, target.user, target.op.name, state=uid_state, tag=target.tag)
    else:
        state.finish_op(target.package, target.user, target.op.name)
    return []


async def _cmd_appops(state: DeviceState, args: list[str], io: ShellIO) -> int:
    fmt = _format(state.build.sdk)
    verb = args[0] if args else None
    rest = args[1:]
    try:
        if verb in (None, "help", "-h"):
            # handleDefaultCommands prints the help and still returns -1.
            await io.out("".join(line + "\n" for line in fmt.help))
            return 255
        if verb == "set":
            lines = _cmd_set(state, fmt, rest)
        elif verb == "get":
            lines = _cmd_get(state, fmt, rest)
        elif verb == "query-op":
            lines = _cmd_query_op(state, fmt, rest)
        elif verb == "reset":
            lines = _cmd_reset(state, fmt, rest)
        elif verb == "write-settings":
            if state.oem.blocks_permission_changes:
                raise _security(fmt, "enforceManageAppOpsModes")
            lines = ["Current settings written."]
        elif verb == "read-settings":
            if state.oem.blocks_permission_changes:
                raise _security(fmt, "enforceManageAppOpsModes")
            lines = ["Last settings read."]
        elif verb in ("start", "stop"):
            lines = _cmd_start_stop(state, fmt, rest, verb == "start")
        else:
            await io.out(f"Unknown command: {verb}\n")
            return 255
    except _CmdError as e:
        text = "".join(line + "\n" for line in e.lines)
        await (io.out(text) if e.to_stdout else io.err(text))
        return 255
    except _Exception as e:
        head = (
            f"Exception occurred while executing '{verb}':"
            if fmt.exception_names_cmd
            else "Exception occurred while executing:"
        )
        stack = "".join(f"\tat {frame}\n" for frame in e.frames)
        await io.err(f"\n{head}\n{e.java_class}: {e.message}\n{stack}")
        return 255
    await io.out("".join(line + "\n" for line in lines))
    return 0


# ----------------------------------------------------------------------------------- install


def install(reg: Registry) -> None:
    """Register ``dumpsys appops`` and ``cmd appops`` (the ``appops`` command is an alias)."""
    state = reg.state

    async def dumpsys_appops(args: list[str], io: ShellIO) -> int:
        lines = _dump_appops(state, args)
        # One write per ~64 KiB keeps a 2,000-package dump from costing a write per line.
        chunk: list[str] = []
        size = 0
        for line in lines:
            chunk.append(line + "\n")
            size += len(line) + 1
            if size >= 65_536:
                await io.out("".join(chunk))
                chunk, size = [], 0
        await io.out("".join(chunk))
        return 0

    async def cmd_appops(args: list[str], io: ShellIO) -> int:
        return await _cmd_appops(state, args, io)

    reg.dumpsys_service("appops", dumpsys_appops)
    reg.cmd_service("appops", cmd_appops)
