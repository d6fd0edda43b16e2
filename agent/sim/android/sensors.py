"""Sensitive-use services of simulated phones: camera, microphone, location, screen, toggles.

Owns ``dumpsys media.camera``, ``audio``, ``location``, ``power``, ``sensor_privacy`` and
``clipboard``. They print :attr:`DeviceState.camera_clients`, ``recordings``,
``location_requests``, ``screen_on`` and ``sensor_privacy`` the way each release does, because
the agent cross-checks AppOps' "running" ops against them (a RECORD_AUDIO that is running but
``silenced:true``, a camera client the indicator hides).

Sources: frameworks/av ``CameraService::dump`` (``State: 2User Id`` really has no separator),
``RecordingActivityMonitor``/``AudioRecordingConfiguration.toLogFriendlyString``,
``LocationManagerService`` (S+ layout from an emulator capture), ``PowerManagerService``,
``SensorPrivacyService`` and ``ClipboardService`` (which has no ``dump()``, so the dump is
empty). The parts no capture shows (static camera info, the old location layout, audio's
volume sections, the T+ sensor-privacy fields) are kept short and named in the report.
Version differences are rows of small format tables, chosen by ``state.build.sdk``.
"""

from __future__ import annotations

import datetime
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from agent.sim.android import Registry
from agent.sim.android.appops import format_duration
from agent.sim.shell import ShellIO
from agent.sim.state import PER_USER_RANGE, DeviceState, LocationRequest, Recording

__all__ = ["install"]


def _dt(ms: int) -> datetime.datetime:
    # The simulated phones run on UTC (persist.sys.timezone in Build.props).
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


def _hex8(*parts: object) -> str:
    """A stable stand-in for an identity hash printed in hex."""
    return f"{zlib.crc32(repr(parts).encode()):08X}"


T = TypeVar("T")


def _pick(table: Sequence[tuple[int, T]], sdk: int) -> T:
    """The row of ``table`` (sorted by first SDK) that applies to ``sdk``."""
    chosen = table[0][1]
    for first, value in table:
        if sdk >= first:
            chosen = value
    return chosen


async def _write(io: ShellIO, lines: list[str]) -> int:
    await io.out("".join(line + "\n" for line in lines))
    return 0


# ----------------------------------------------------------------------------------- camera


@dataclass(frozen=True)
class _CameraFormat:
    device_map: bool
    """Q+: ``    Device N maps to "N"`` lines."""
    api1_count: bool
    """R+: ``Number of public camera devices visible to API1``."""
    provider: str
    """The camera provider instance and HIDL version of the static-info header."""


_CAMERA_FORMATS: Final = (
    (28, _CameraFormat(False, False, "legacy/0 (v2.4, remote)")),
    (29, _CameraFormat(True, False, "legacy/0 (v2.5, remote)")),
    (30, _CameraFormat(True, True, "legacy/0 (v2.6, remote)")),
    (31, _CameraFormat(True, True, "internal/0 (v2.7, remote)")),
)

_CAMERAS: Final = (("0", "Back", 90), ("1", "Front", 270))

# oom score and ActivityManager process state CameraService reports per AppOps uid state.
_PRIORITY: Final = {
    "pers": (-800, 0),
    "top": (0, 2),
    "fgsvc": (200, 4),
    "fg": (100, 5),
    "bg": (250, 10),
    "cch": (900, 16),
}


def _allowed_users(state: DeviceState) -> str:
    users = {state.current_user} | {
        u.id for u in state.users.values() if u.parent == state.current_user
    }
    return ", ".join(str(u) for u in sorted(users))


def _camera_dump(state: DeviceState) -> list[str]:
    sdk = state.build.sdk
    fmt = _pick(_CAMERA_FORMATS, sdk)
    n = len(_CAMERAS)
    lines = ["", "== Service global info: ==", "", f"Number of camera devices: {n}"]
    lines.append(f"Number of normal camera devices: {n}")
    if fmt.api1_count:
        lines.append(f"Number of public camera devices visible to API1: {n}")
    if fmt.device_map:
        lines += [f'    Device {i} maps to "{cid}"' for i, (cid, _, _) in enumerate(_CAMERAS)]
    lines.append("Active Camera Clients:")
    if not state.camera_clients:
        lines.append("[]")
    else:
        lines.append("[")
        for client in state.camera_clients:
            proc = state.processes.get(client.pid)
            pkg = state.packages.get(client.package)
            uid = proc.uid if proc is not None else (pkg.uid(0) if pkg is not None else 0)
            score, proc_state = _PRIORITY.get(state.uid_states.get(uid, "top"), (0, 2))
            lines.append(
                f"(Camera ID: {client.camera_id}, Cost: 100, PID: {client.pid}, Score: {score}, "
                f"State: {proc_state}User Id: {uid // PER_USER_RANGE}, "
                f"Client Package Name: {client.package}, Conflicting Client Devices: {{}})"
            )
        lines.append("]")
    lines.append(f"Allowed user IDs: {_allowed_users(state)}")
    lines += ["", "== Camera service events log (most recent at top): =="]
    events = [
        (c.started_ms, f"CONNECT device {c.camera_id} client for package {c.package} (PID {c.pid})")
        for c in state.camera_clients
    ]
    events.append(
        (
            state.boot_ms + 8_000,
            "USER_SWITCH previous allowed user IDs: <None>, current allowed user IDs: "
            + _allowed_users(state),
        )
    )
    for when, text in sorted(events, key=lambda e: -e[0]):
        lines.append(f"  {_dt(when):%m-%d %H:%M:%S} : {text}")
    lines.append("")
    open_ids = {c.camera_id: c for c in state.camera_clients}
    for cid, _, _ in _CAMERAS:
        lines.append(f"== Camera device {cid} dynamic info: ==")
        holder = open_ids.get(cid)
        if holder is None:
            lines.append(f"  Device {cid} is closed, no client instance")
            continue
        proc = state.processes.get(holder.pid)
        score, proc_state = _PRIORITY.get(proc.state if proc else "top", (0, 2))
        lines += [
            f"  Device {cid} is open. Client instance dump:",
            f"    Client priority score: {score} state: {proc_state}",
            f"    Client PID: {holder.pid}",
            f"    Client package: {holder.package}",
        ]
    lines.append(f"== Camera Provider HAL {fmt.provider} static info: {n} devices: ==")
    hal = fmt.provider.split(" ", 1)[0]
    for cid, facing, orientation in _CAMERAS:
        lines += [
            f"== Camera HAL device device@3.5/{hal.rsplit('/', 1)[0]}/{cid} (v3.5) "
            "static information: ==",
            "  Resource cost: 100",
            "  Conflicting devices: None",
            "  API1 info:",
            f"    Has a flash unit: {'true' if facing == 'Back' else 'false'}",
            f"    Facing: {facing}",
            f"    Orientation: {orientation}",
        ]
    lines += ["", "== Vendor tags: ==", "", "  Dumping configured vendor tag descriptors: None set"]
    lines += ["", "== Camera error traces (0): ==", "  No camera traces collected."]
    return lines


# ----------------------------------------------------------------------------------- audio

# MediaRecorder.AudioSource numbers, for the event log's src: field.
_SOURCES: Final = (
    "DEFAULT",
    "MIC",
    "VOICE_UPLINK",
    "VOICE_DOWNLINK",
    "VOICE_CALL",
    "CAMCORDER",
    "VOICE_RECOGNITION",
    "VOICE_COMMUNICATION",
    "REMOTE_SUBMIX",
    "UNPROCESSED",
    "VOICE_PERFORMANCE",
)


def _clock_time(state: DeviceState) -> str:
    """``DateFormat.getTimeInstance()`` (en_US medium): ``8:40:05 PM``.

    ICU 72 (Android 14) puts a narrow no-break space before AM/PM.
    """
    t = _dt(state.now_ms())
    sep = "\u202f" if state.build.sdk >= 34 else " "
    return f"{t.hour % 12 or 12}:{t:%M:%S}{sep}{'AM' if t.hour < 12 else 'PM'}"


def _riid(rec: Recording) -> int:
    return rec.session // 8


def _silenced(state: DeviceState, rec: Recording) -> bool:
    # The S+ microphone toggle makes every capture deliver silence.
    return rec.silenced or (state.build.sdk >= 31 and state.sensor_privacy.get("microphone", False))


def _record_config(state: DeviceState, rec: Recording) -> str:
    """``AudioRecordingConfiguration.toLogFriendlyString`` of the release."""
    client, device = "1ch 16000Hz PCM 16bit", "2ch 48000Hz PCM 16bit"
    patch = 30 + _riid(rec)
    if state.build.sdk < 29:
        return (
            f"session:{rec.session} -- source:{rec.source} -- uid:{rec.uid} -- patch:{patch}"
            f" -- pack:{rec.package} -- format client={client}, dev={device}"
        )
    return (
        f"session:{rec.session} -- source client={rec.source}, dev={device} -- uid:{rec.uid}"
        f" -- patch:{patch} -- pack:{rec.package} -- format client={client}, dev={device}"
        f" -- silenced:{str(_silenced(state, rec)).lower()} -- effects client=, dev="
    )


def _record_events(state: DeviceState) -> list[str]:
    lines = []
    for rec in sorted(state.recordings, key=lambda r: r.started_ms):
        stamp = f"{_dt(rec.started_ms):%m-%d %H:%M:%S}:{rec.started_ms % 1000:03d}"
        riid = f" riid:{_riid(rec)}" if state.build.sdk >= 29 else ""
        lines.append(
            f"{stamp} rec start{riid} uid:{rec.uid} session:{rec.session} src:{rec.source}"
            f" pack:{rec.package}"
        )
    return lines


def _record_states(state: DeviceState) -> list[str]:
    lines = []
    for rec in state.recordings:
        if state.build.sdk >= 29:
            lines.append(f"riid {_riid(rec)}; active? true")
        lines.append("  " + _record_config(state, rec))
    return lines


def _audio_classic(state: DeviceState) -> list[str]:
    """AudioService.dump of P-V: focus, volumes, routes, then the playback/record monitors."""
    now = _clock_time(state)
    lines: list[str] = []
    if state.build.sdk >= 34:
        boot = state.boot_ms + 6_000
        lines += [
            "Audio event log: audioserver lifecycle events",
            f"{_dt(boot):%m-%d %H:%M:%S}:{boot % 1000:03d} AudioService()",
            "",
            "Message handler (watch for unhandled messages):",
            "  Handler (com.android.server.audio.AudioService$AudioHandler) "
            f"{{{_hex8('h').lower()[:7]}}} @ {state.uptime_ms()}",
            f"    Looper (AudioService, tid 139) {{{_hex8('l').lower()[:7]}}}",
            "      (Total messages: 0, polling=true, quitting=false)",
        ]
    lines += [
        "",
        f"MediaFocusControl dump time: {now}",
        "",
        "Audio Focus stack entries (last is top of stack):",
        "",
        " No external focus policy",
        "",
        "",
        "Audio event log: focus commands as seen by MediaFocusControl",
        "",
        "Stream volumes (device: index)",
    ]
    for stream, index in (("STREAM_VOICE_CALL", 4), ("STREAM_RING", 5), ("STREAM_MUSIC", 8)):
        lines += [
            f"- {stream}:",
            "   Muted: false",
            "   Min: 0",
            f"   Current: 2 (speaker): {index}",
        ]
    lines += [
        "",
        "Ringer mode: ",
        "- mode (internal) = NORMAL",
        "- mode (external) = NORMAL",
        "",
        "Audio routes:",
        "  mMainType=0x0",
        "  mBluetoothName=null",
        "",
        "Other state:",
        "  mSafeMediaVolumeState=SAFE_MEDIA_VOLUME_ACTIVE",
        "",
        f"PlaybackActivityMonitor dump time: {now}",
        "",
        "  players:",
        "",
        f"RecordActivityMonitor dump time: {now}",
        *_record_states(state),
        "",
        "",
        "Audio event log: recording activity received by AudioService",
        *_record_events(state),
    ]
    return lines


def _audio_markdown(state: DeviceState) -> list[str]:
    """The heading layout of the newest builds (emulator capture: ``# Stream activity``...)."""
    now = _dt(state.now_ms())
    boot = state.boot_ms + 6_000
    return [
        "AudioService Dumpsys",
        f"Current time: {now:%a %b %d %H:%M:%S} GMT+00:00 {now:%Y}",
        "",
        "# IPC",
        "## Native audioserver lifecycle events",
        f"{_dt(boot):%m-%d %H:%M:%S}:{boot % 1000:03d} AudioService()",
        "",
        "## AudioHandler",
        "Message handler (watch for unhandled messages):",
        "  Handler (com.android.server.audio.AudioService$AudioHandler) "
        f"{{{_hex8('h').lower()[:7]}}} @ {state.uptime_ms()}",
        f"    Looper (AudioService, tid 139) {{{_hex8('l').lower()[:7]}}}",
        "      (Total messages: 0, polling=true, quitting=false)",
        "",
        "",
        "# Stream activity",
        "## PlaybackActivityMonitor",
        "  playback listeners:",
        "",
        "  players:",
        "",
        "### Playback activity",
        "",
        "",
        "  allowed capture policies:",
        "## RecordActivityMonitor",
        *_record_states(state),
        "",
        "",
        "### Recording Activity",
        *_record_events(state),
        "",
        "  mHardeningOverride=0",
        "## Hardening enforcement",
        "",
        "## MediaFocusControl",
        "  has focus policy:false",
        "",
        "Audio Focus stack entries (last is top of stack):",
        "",
        "# Routing",
        "## AudioDeviceBroker",
    ]


# The heading layout is only known from an emulator capture with Android 16 traits (DeliQueue,
# hardening enforcement); releases up to 15 keep the classic layout here.
_AUDIO_FORMATS: Final[tuple[tuple[int, Callable[[DeviceState], list[str]]], ...]] = (
    (28, _audio_classic),
    (36, _audio_markdown),
)


# ----------------------------------------------------------------------------------- location


def _identity(state: DeviceState, req: LocationRequest) -> str:
    return f"{req.uid}/{req.package}"


def _request_new(req: LocationRequest) -> str:
    """S+ ``LocationRequest.toString``."""
    quality = "HIGH_ACCURACY" if req.high_power else "BALANCED"
    return f"Request[@{format_duration(req.interval_ms)} {quality}]"


def _provider_request(reqs: list[LocationRequest]) -> str:
    if not reqs:
        return "ProviderRequest[OFF]"
    interval = min(r.interval_ms for r in reqs)
    text = f"ProviderRequest[@{format_duration(interval)}"
    if any(r.high_power for r in reqs):
        text += ", HIGH_ACCURACY"
    work = ", ".join(f"{r.uid} {r.package}" for r in reqs)
    return text + f", WorkSource{{{work}}}]"


def _location_new(state: DeviceState) -> list[str]:
    now = state.now_ms()
    by_provider: dict[str, list[LocationRequest]] = {}
    for req in state.location_requests:
        by_provider.setdefault(req.provider, []).append(req)
    lines = [
        "Location Manager State:",
        "  User Info:",
        f"    current users: u[{state.current_user}]",
        "  Location Settings:",
        "    Location Setting: true",
        "    Location Allow/Deny Packages:",
        "  Location Providers:",
        "    passive provider:",
        "      service: registered",
        "      last location=null",
        "      enabled=true",
        "      allowed=true",
        "      identity=1000/android[LocationService]",
        "      properties=ProviderProperties[powerUsage=Low, accuracy=Fine]",
    ]
    extra = sorted(p for p in by_provider if p not in ("passive", "network", "fused", "gps"))
    for provider in ["network", "fused", "gps", *extra]:
        reqs = by_provider.get(provider, [])
        lines += [f"    {provider} provider:", f"      service: {_provider_request(reqs)}"]
        if reqs:
            lines.append("      listeners:")
            for req in reqs:
                ident = f"{_identity(state, req)}/{_hex8(req.package, req.started_ms)}"
                lines.append(f"        {ident} {_request_new(req)}")
        lines += ["      last location=null", "      enabled=true", "      allowed=true"]
    lines.append("  Historical Aggregate Location Provider Data:")
    for provider, reqs in by_provider.items():
        lines.append(f"    {provider}:")
        for req in reqs:
            dur = format_duration(now - req.started_ms)
            secs = f"{req.interval_ms // 1000}s"
            lines.append(
                f"      {_identity(state, req)}: min/max interval = {secs}/{secs}, "
                f"total/active/foreground duration = {dur}/{dur}/{dur}, locations = 0"
            )
    lines += ["  GNSS Manager:", "  Geofence Manager:", "    service: unregistered", "  Event Log:"]
    for req in sorted(state.location_requests, key=lambda r: r.started_ms):
        stamp = f"{_dt(req.started_ms):%m-%d %H:%M:%S}.{req.started_ms % 1000:03d}"
        ident = f"{_identity(state, req)}/{_hex8(req.package, req.started_ms)}"
        lines.append(
            f"    {stamp}: {req.provider} provider +registration {ident} -> {_request_new(req)}"
        )
        reqs = [r for r in by_provider[req.provider] if r.started_ms <= req.started_ms]
        lines.append(f"    {stamp}: {req.provider} provider request = {_provider_request(reqs)}")
    return lines


def _location_old(state: DeviceState) -> list[str]:
    """P-R ``LocationManagerService.dump`` (``Reciever`` is AOSP's spelling)."""
    by_provider: dict[str, list[LocationRequest]] = {}
    records: list[tuple[LocationRequest, str]] = []
    for req in state.location_requests:
        by_provider.setdefault(req.provider, []).append(req)
        quality = "ACCURACY_FINE" if req.high_power else "ACCURACY_BLOCK"
        request = (
            f"Request[{quality} {req.provider} requested={format_duration(req.interval_ms)}"
            f" fastest={format_duration(req.interval_ms // 6)}]"
        )
        fg = (
            "foreground"
            if state.uid_states.get(req.uid, "top") in ("top", "fgsvc", "fg")
            else ("background")
        )
        records.append(
            (
                req,
                f"UpdateRecord[{req.provider} {req.package}({req.uid} {fg}) {request} "
                f"WorkSource{{{req.uid} {req.package}}}]",
            )
        )
    lines = [
        "Current Location Manager state:",
        f"  Current user: {state.current_user} [{state.current_user}]",
        "  Location mode: true",
        "  Location Listeners:",
    ]
    for req, record in records:
        lines.append(
            f"    Reciever[{_hex8(req.package).lower()[:7]} listener {record} "
            "monitoring location: true]"
        )
    lines.append("  Active Records by Provider:")
    for provider, reqs in by_provider.items():
        lines.append(f"    {provider}:")
        lines += [f"      {record}" for req, record in records if req in reqs]
    lines += ["  Active GnssMeasurement Listeners:", "  Historical Records by Provider:"]
    for req in state.location_requests:
        secs = req.interval_ms // 1000
        lines.append(
            f"    {req.package}: {req.provider}: Min interval {secs} seconds: Max interval "
            f"{secs} seconds: Currently active"
        )
    lines += ["  Last Known Locations:", "  Location Providers:"]
    for provider in ("passive", "network", "fused", "gps"):
        lines.append(f"    {provider} Provider:")
        lines.append(f"      enabled={'true' if provider != 'network' else 'false'}")
    return lines


_LOCATION_FORMATS: Final[tuple[tuple[int, Callable[[DeviceState], list[str]]], ...]] = (
    (28, _location_old),
    (31, _location_new),
)


# ----------------------------------------------------------------------------------- power


_BOOT_WAKE_MS: Final = 8_000
"""Uptime at which the simulated phone woke up during boot (``mLastWakeTime``)."""


def _power_dump(state: DeviceState) -> list[str]:
    on = state.screen_on
    uptime = state.uptime_ms()
    wake = "Awake" if on else "Asleep"
    return [
        "POWER MANAGER (dumpsys power)",
        "",
        "Power Manager State:",
        "  Settings power_manager_constants:",
        "    no_cached_wake_locks=true",
        "  mDirty=0x0",
        f"  mWakefulness={wake}",
        "  mWakefulnessChanging=false",
        "  mIsPowered=false",
        "  mPlugType=0",
        "  mBatteryLevel=87",
        "  mDockState=0",
        "  mStayOn=false",
        "  mProximityPositive=false",
        "  mBootCompleted=true",
        "  mSystemReady=true",
        f"  mHalInteractiveModeEnabled={str(on).lower()}",
        f"  mWakeLockSummary=0x{1 if on else 0:x}",
        f"  mUserActivitySummary=0x{1 if on else 0:x}",
        "  mRequestWaitForNegativeProximity=false",
        "  mSandmanScheduled=false",
        f"  mLastWakeTime={_BOOT_WAKE_MS} ({uptime - _BOOT_WAKE_MS} ms ago)",
        "",
        "Settings and Configuration:",
        "  mScreenOffTimeoutSetting=30000",
        "",
        "Wake Locks: size=0",
        "",
        "Suspend Blockers: size=4",
        "  PowerManagerService.WakeLocks: ref count=0",
        f"  PowerManagerService.Display: ref count={1 if on else 0}",
        "  PowerManagerService.Broadcasts: ref count=0",
        "  PowerManagerService.WirelessChargerDetector: ref count=0",
        "",
        f"Display Power: state={'ON' if on else 'OFF'}",
    ]


# ----------------------------------------------------------------------------------- privacy

_SENSOR_IDS: Final = (("microphone", 1), ("camera", 2))


def _sensor_privacy_dump(state: DeviceState) -> list[str]:
    """``SENSOR PRIVACY MANAGER STATE`` through DualDumpOutputStream's text form."""
    lines = ["SENSOR PRIVACY MANAGER STATE (dumpsys sensor_privacy)"]
    toggles = state.sensor_privacy
    users = [u for u in sorted(state.users) if state.users[u].parent is None]
    if state.build.sdk < 33:
        body = ["  users={" if len(users) == 1 else "  users=["]
        for user in users:
            ind = "    " if len(users) == 1 else "      "
            if len(users) > 1:
                body.append("    {")
            body += [f"{ind}user_id={user}", f"{ind}is_enabled=false"]
            body.append(f"{ind}individual_enabled_sensor=[")
            for name, sid in _SENSOR_IDS:
                enabled = str(toggles.get(name, False)).lower()
                body += [f"{ind}  {{", f"{ind}    sensor={sid}", f"{ind}    is_enabled={enabled}"]
                body.append(f"{ind}  }}")
            body.append(f"{ind}]")
            if len(users) > 1:
                body.append("    }")
        body.append("  }" if len(users) == 1 else "  ]")
        return lines + body
    lines.append("  storage_implementation=com.android.server.sensorprivacy.PersistedState")
    lines.append("  users={" if len(users) == 1 else "  users=[")
    for user in users:
        ind = "    " if len(users) == 1 else "      "
        if len(users) > 1:
            lines.append("    {")
        lines += [f"{ind}user_id={user}", f"{ind}toggles=["]
        for name, sid in _SENSOR_IDS:
            on = toggles.get(name, False)
            lines += [
                f"{ind}  {{",
                f"{ind}    sensor={sid}",
                f"{ind}    is_enabled={str(on).lower()}",
                f"{ind}    toggle_type=1",
                f"{ind}    state_type={1 if on else 2}",
                f"{ind}    last_change={state.boot_ms}",
                f"{ind}  }}",
            ]
        lines.append(f"{ind}]")
        if len(users) > 1:
            lines.append("    }")
    lines.append("  }" if len(users) == 1 else "  ]")
    return lines


# ----------------------------------------------------------------------------------- install


def install(reg: Registry) -> None:
    """Register the sensor-side dumpsys services (``sensor_privacy`` exists from S on)."""
    state = reg.state

    async def media_camera(args: list[str], io: ShellIO) -> int:
        return await _write(io, _camera_dump(state))

    async def audio(args: list[str], io: ShellIO) -> int:
        return await _write(io, _pick(_AUDIO_FORMATS, state.build.sdk)(state))

    async def location(args: list[str], io: ShellIO) -> int:
        return await _write(io, _pick(_LOCATION_FORMATS, state.build.sdk)(state))

    async def power(args: list[str], io: ShellIO) -> int:
        return await _write(io, _power_dump(state))

    async def sensor_privacy(args: list[str], io: ShellIO) -> int:
        for arg in args:
            if arg.startswith("-") and arg != "--proto":
                await io.out(f"Unknown argument: {arg}; use -h for help\n")
        return await _write(io, _sensor_privacy_dump(state))

    async def clipboard(args: list[str], io: ShellIO) -> int:
        # ClipboardService's binder has no dump(): dumpsys prints nothing and succeeds.
        return 0

    reg.dumpsys_service("media.camera", media_camera)
    reg.dumpsys_service("audio", audio)
    reg.dumpsys_service("location", location)
    reg.dumpsys_service("power", power)
    reg.dumpsys_service("clipboard", clipboard)
    if state.build.sdk >= 31:
        reg.dumpsys_service("sensor_privacy", sensor_privacy)
