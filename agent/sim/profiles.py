"""Ready-made simulated phones: one profile per Android version 9-15 and vendor flavour.

Each profile builds a :class:`~agent.sim.state.DeviceState` with what a phone of that kind
ships: the platform and vendor system apps with their default grants (SYSTEM_FIXED,
GRANTED_BY_DEFAULT), an app store, a launcher, and a handful of popular user apps installed
from the store with the owner's grants (USER_SET). The contents are deterministic for a given
seed, so a test and the demo see the same phone every time.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from agent.sim.state import Build, DeviceState, OemPolicy, Package, UidState, User

__all__ = ["PROFILES", "RUNTIME_PERMISSIONS", "Profile", "build_state", "profile_for_release"]

P = "android.permission."
RUNTIME_PERMISSIONS: dict[str, int] = {
    # name -> first SDK where it is a runtime permission
    P + "READ_CONTACTS": 23,
    P + "WRITE_CONTACTS": 23,
    P + "GET_ACCOUNTS": 23,
    P + "READ_CALENDAR": 23,
    P + "WRITE_CALENDAR": 23,
    P + "CAMERA": 23,
    P + "RECORD_AUDIO": 23,
    P + "ACCESS_FINE_LOCATION": 23,
    P + "ACCESS_COARSE_LOCATION": 23,
    P + "ACCESS_BACKGROUND_LOCATION": 29,
    P + "READ_PHONE_STATE": 23,
    P + "CALL_PHONE": 23,
    P + "READ_CALL_LOG": 23,
    P + "WRITE_CALL_LOG": 23,
    P + "READ_SMS": 23,
    P + "SEND_SMS": 23,
    P + "RECEIVE_SMS": 23,
    P + "READ_EXTERNAL_STORAGE": 23,
    P + "WRITE_EXTERNAL_STORAGE": 23,
    P + "BODY_SENSORS": 23,
    P + "ACTIVITY_RECOGNITION": 29,
    P + "BLUETOOTH_CONNECT": 31,
    P + "BLUETOOTH_SCAN": 31,
    P + "NEARBY_WIFI_DEVICES": 33,
    P + "POST_NOTIFICATIONS": 33,
    P + "READ_MEDIA_IMAGES": 33,
    P + "READ_MEDIA_VIDEO": 33,
    P + "READ_MEDIA_AUDIO": 33,
}
INSTALL_PERMISSIONS = [
    P + "INTERNET",
    P + "ACCESS_NETWORK_STATE",
    P + "ACCESS_WIFI_STATE",
    P + "WAKE_LOCK",
    P + "VIBRATE",
    P + "RECEIVE_BOOT_COMPLETED",
    P + "FOREGROUND_SERVICE",
]


@dataclass(frozen=True)
class AppSpec:
    """A package the profile installs."""

    name: str
    label: str
    system: bool = False
    priv: bool = False
    runtime: tuple[str, ...] = ()
    """Runtime permissions requested; system apps get them GRANTED_BY_DEFAULT/SYSTEM_FIXED,
    user apps get the ones in ``granted`` with USER_SET."""
    granted: tuple[str, ...] = ()
    launcher: bool = True
    boot: bool = False
    app_id: int = 0
    min_sdk: int = 0
    """Only on phones of at least this SDK."""


def _p(*names: str) -> tuple[str, ...]:
    return tuple(P + n for n in names)


_PLATFORM = [
    AppSpec("android", "Android System", system=True, launcher=False, app_id=1000),
    AppSpec(
        "com.android.systemui",
        "System UI",
        system=True,
        priv=True,
        launcher=False,
        runtime=_p("CAMERA", "RECORD_AUDIO", "ACCESS_FINE_LOCATION"),
        app_id=10032,
    ),
    AppSpec("com.android.settings", "Settings", system=True, priv=True, app_id=1000),
    AppSpec(
        "com.android.shell",
        "Shell",
        system=True,
        priv=True,
        launcher=False,
        app_id=2000,
        runtime=_p("READ_PHONE_STATE", "READ_EXTERNAL_STORAGE"),
    ),
    AppSpec(
        "com.android.phone",
        "Phone Services",
        system=True,
        priv=True,
        launcher=False,
        runtime=_p("READ_CONTACTS", "READ_CALL_LOG", "READ_SMS", "CALL_PHONE"),
        app_id=1001,
    ),
    AppSpec(
        "com.android.providers.contacts",
        "Contacts Storage",
        system=True,
        priv=True,
        launcher=False,
        runtime=_p("READ_CONTACTS", "WRITE_CONTACTS"),
        app_id=10005,
    ),
    AppSpec(
        "com.android.providers.media",
        "Media Storage",
        system=True,
        priv=True,
        launcher=False,
        runtime=_p("READ_EXTERNAL_STORAGE", "WRITE_EXTERNAL_STORAGE"),
    ),
    AppSpec(
        "com.android.providers.downloads",
        "Download Manager",
        system=True,
        priv=True,
        launcher=False,
    ),
    AppSpec(
        "com.android.bluetooth",
        "Bluetooth",
        system=True,
        priv=True,
        launcher=False,
        boot=True,
        app_id=1002,
    ),
    AppSpec("com.android.nfc", "NFC Service", system=True, priv=True, launcher=False, app_id=1027),
    AppSpec(
        "com.android.inputmethod.latin",
        "Keyboard",
        system=True,
        launcher=False,
        runtime=_p("READ_CONTACTS", "RECORD_AUDIO"),
    ),
    AppSpec(
        "com.android.contacts",
        "Contacts",
        system=True,
        priv=True,
        runtime=_p("READ_CONTACTS", "WRITE_CONTACTS", "CALL_PHONE", "READ_PHONE_STATE"),
    ),
    AppSpec(
        "com.android.dialer",
        "Phone",
        system=True,
        priv=True,
        runtime=_p("CALL_PHONE", "READ_CALL_LOG", "READ_CONTACTS", "RECORD_AUDIO"),
    ),
    AppSpec(
        "com.android.mms",
        "Messaging",
        system=True,
        priv=True,
        runtime=_p("READ_SMS", "SEND_SMS", "RECEIVE_SMS", "READ_CONTACTS"),
    ),
    AppSpec(
        "com.android.camera2",
        "Camera",
        system=True,
        runtime=_p("CAMERA", "RECORD_AUDIO", "ACCESS_FINE_LOCATION"),
    ),
    AppSpec("com.android.documentsui", "Files", system=True, priv=True),
    AppSpec("com.android.keychain", "Key Chain", system=True, launcher=False, app_id=1000),
    AppSpec(
        "com.android.location.fused", "Fused Location", system=True, launcher=False, app_id=1000
    ),
    AppSpec(
        "com.android.wallpaper.livepicker", "Live Wallpaper Picker", system=True, launcher=False
    ),
]
_GOOGLE = [
    AppSpec(
        "com.google.android.gms",
        "Google Play services",
        system=True,
        priv=True,
        launcher=False,
        boot=True,
        runtime=_p(
            "ACCESS_FINE_LOCATION",
            "ACCESS_COARSE_LOCATION",
            "READ_CONTACTS",
            "READ_PHONE_STATE",
            "CAMERA",
            "RECORD_AUDIO",
            "BODY_SENSORS",
        ),
    ),
    AppSpec(
        "com.android.vending",
        "Google Play Store",
        system=True,
        priv=True,
        runtime=_p("READ_CONTACTS", "READ_PHONE_STATE"),
    ),
    AppSpec(
        "com.google.android.packageinstaller",
        "Package installer",
        system=True,
        priv=True,
        launcher=False,
    ),
    AppSpec("com.google.android.apps.nexuslauncher", "Pixel Launcher", system=True, priv=True),
    AppSpec(
        "com.android.chrome",
        "Chrome",
        system=True,
        runtime=_p("CAMERA", "RECORD_AUDIO", "ACCESS_FINE_LOCATION"),
    ),
    AppSpec(
        "com.google.android.apps.maps",
        "Maps",
        system=True,
        runtime=_p("ACCESS_FINE_LOCATION", "ACCESS_COARSE_LOCATION", "RECORD_AUDIO"),
    ),
]
_AOSP_INSTALLER = [
    AppSpec(
        "com.android.packageinstaller", "Package installer", system=True, priv=True, launcher=False
    ),
    AppSpec("com.android.launcher3", "Launcher3", system=True, priv=True),
]
_MIUI = [
    AppSpec("com.miui.securitycenter", "Security", system=True, priv=True, boot=True),
    AppSpec("com.xiaomi.market", "GetApps", system=True, priv=True),
    AppSpec("com.miui.home", "System launcher", system=True, priv=True),
    AppSpec(
        "com.miui.analytics",
        "Analytics",
        system=True,
        launcher=False,
        boot=True,
        runtime=_p("READ_PHONE_STATE"),
    ),
]
_COLOROS = [
    AppSpec("com.coloros.safecenter", "Phone Manager", system=True, priv=True, boot=True),
    AppSpec("com.heytap.market", "App Market", system=True, priv=True),
    AppSpec("com.oppo.launcher", "System Launcher", system=True, priv=True),
]
_FIREOS = [
    AppSpec("com.amazon.venezia", "Appstore", system=True, priv=True),
    AppSpec("com.amazon.firelauncher", "Fire Launcher", system=True, priv=True),
    AppSpec(
        "com.amazon.device.software.ota", "Software Updates", system=True, launcher=False, boot=True
    ),
]
_SAMSUNG = [
    AppSpec("com.sec.android.app.launcher", "One UI Home", system=True, priv=True),
    AppSpec("com.sec.android.app.samsungapps", "Galaxy Store", system=True, priv=True),
    AppSpec(
        "com.samsung.android.scloud",
        "Samsung Cloud",
        system=True,
        launcher=False,
        boot=True,
        runtime=_p("READ_CONTACTS", "READ_CALL_LOG"),
    ),
]
_USER_APPS = [
    AppSpec(
        "com.tencent.mm",
        "WeChat",
        runtime=_p(
            "CAMERA",
            "RECORD_AUDIO",
            "ACCESS_FINE_LOCATION",
            "READ_CONTACTS",
            "READ_PHONE_STATE",
            "READ_EXTERNAL_STORAGE",
        ),
        granted=_p("CAMERA", "RECORD_AUDIO", "READ_EXTERNAL_STORAGE"),
        boot=True,
    ),
    AppSpec(
        "com.eg.android.AlipayGphone",
        "Alipay",
        runtime=_p("CAMERA", "ACCESS_FINE_LOCATION", "ACCESS_COARSE_LOCATION", "READ_PHONE_STATE"),
        granted=_p("CAMERA", "ACCESS_COARSE_LOCATION"),
    ),
    AppSpec(
        "com.ss.android.ugc.aweme",
        "Douyin",
        runtime=_p("CAMERA", "RECORD_AUDIO", "ACCESS_FINE_LOCATION", "READ_CONTACTS"),
        granted=_p("CAMERA", "RECORD_AUDIO"),
    ),
    AppSpec(
        "com.taobao.taobao",
        "Taobao",
        runtime=_p("CAMERA", "ACCESS_FINE_LOCATION", "READ_PHONE_STATE"),
        granted=_p("ACCESS_FINE_LOCATION"),
    ),
    AppSpec(
        "com.sina.weibo",
        "Weibo",
        runtime=_p("CAMERA", "RECORD_AUDIO", "ACCESS_FINE_LOCATION", "READ_CONTACTS"),
    ),
    AppSpec(
        "org.mozilla.firefox",
        "Firefox",
        runtime=_p("CAMERA", "RECORD_AUDIO", "ACCESS_FINE_LOCATION"),
        granted=_p("ACCESS_FINE_LOCATION"),
    ),
    AppSpec(
        "com.whatsapp",
        "WhatsApp",
        runtime=_p("CAMERA", "RECORD_AUDIO", "READ_CONTACTS", "ACCESS_FINE_LOCATION"),
        granted=_p("READ_CONTACTS", "CAMERA", "RECORD_AUDIO"),
        boot=True,
    ),
]


# Platform uids below 10000 are shared users (android:sharedUserId in the platform manifests).
_SHARED_UIDS = {
    1000: "android.uid.system",
    1001: "android.uid.phone",
    1002: "android.uid.bluetooth",
    1027: "android.uid.nfc",
    2000: "android.uid.shell",
}


@dataclass(frozen=True)
class Profile:
    """A kind of phone: its build, vendor behaviour and preinstalled apps."""

    name: str
    build: Build
    oem: OemPolicy
    vendor_apps: tuple[AppSpec, ...]
    store: str
    """The installer package of user apps (the vendor's app store)."""
    launcher: str


def _digest(name: str, seed: int) -> str:
    return hashlib.sha256(f"{name}/{seed}".encode()).hexdigest()


def _build(
    model: str, maker: str, brand: str, device: str, release: str, sdk: int, bid: str, patch: str
) -> Build:
    return Build(
        model=model,
        manufacturer=maker,
        brand=brand,
        device=device,
        product=device,
        release=release,
        sdk=sdk,
        build_id=bid,
        security_patch=patch,
        incremental=str(int(_digest(model + release, 0)[:8], 16) % 10**8).zfill(8),
    )


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile(
            "fire-hd10-a9",
            _build("KFTRWI", "Amazon", "Amazon", "trona", "9", 28, "PS7327", "2021-09-01"),
            OemPolicy("fireos"),
            tuple(_FIREOS + _AOSP_INSTALLER[:1]),
            "com.amazon.venezia",
            "com.amazon.firelauncher",
        ),
        Profile(
            "galaxy-a40-a10",
            _build(
                "SM-A405FN", "samsung", "samsung", "a40", "10", 29, "QP1A.190711.020", "2021-08-01"
            ),
            OemPolicy("oneui"),
            tuple(_SAMSUNG + _GOOGLE),
            "com.android.vending",
            "com.sec.android.app.launcher",
        ),
        Profile(
            "moto-g30-a11",
            _build(
                "moto g(30)",
                "motorola",
                "motorola",
                "caprip",
                "11",
                30,
                "RRCS31.Q1-3-66",
                "2022-06-01",
            ),
            OemPolicy("aosp"),
            tuple(_GOOGLE),
            "com.android.vending",
            "com.google.android.apps.nexuslauncher",
        ),
        Profile(
            "oppo-a77-a12",
            _build(
                "CPH2385", "OPPO", "OPPO", "OP5579L1", "12", 31, "SP1A.210812.016", "2023-03-05"
            ),
            OemPolicy("coloros", monitors_permissions=True),
            tuple(_COLOROS + _GOOGLE),
            "com.heytap.market",
            "com.oppo.launcher",
        ),
        Profile(
            "redmi-note11-a13",
            _build(
                "Redmi Note 11",
                "Xiaomi",
                "Redmi",
                "spes",
                "13",
                33,
                "TKQ1.221114.001",
                "2024-01-01",
            ),
            OemPolicy("miui"),
            tuple(_MIUI + _GOOGLE),
            "com.xiaomi.market",
            "com.miui.home",
        ),
        Profile(
            "pixel6a-a14",
            _build(
                "Pixel 6a", "Google", "google", "bluejay", "14", 34, "AP2A.240905.003", "2024-09-05"
            ),
            OemPolicy("aosp"),
            tuple(_GOOGLE),
            "com.android.vending",
            "com.google.android.apps.nexuslauncher",
        ),
        Profile(
            "pixel8-a15",
            _build(
                "Pixel 8", "Google", "google", "shiba", "15", 35, "AP3A.241005.015", "2024-10-05"
            ),
            OemPolicy("aosp"),
            tuple(_GOOGLE),
            "com.android.vending",
            "com.google.android.apps.nexuslauncher",
        ),
    ]
}


def profile_for_release(release: str) -> Profile:
    """The profile of an Android release ("9" ... "15")."""
    for profile in PROFILES.values():
        if profile.build.release == release:
            return profile
    raise KeyError(
        f"no simulated profile for Android {release}; have "
        + ", ".join(p.build.release for p in PROFILES.values())
    )


def build_state(
    profile: Profile | str,
    *,
    seed: int = 0,
    serial: str = "",
    work_profile: bool = False,
    extra_apps: int = 0,
) -> DeviceState:
    """A fresh phone of ``profile``.

    Args:
        seed: varies install times and serial, deterministically.
        work_profile: add a managed profile (user 10) with a copy of the user apps.
        extra_apps: add that many filler user apps (for large-output tests).
    """
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    rng = random.Random(seed)
    build = Build(**{**prof.build.__dict__, "serialno": serial or f"SIM{seed:07d}"})
    state = DeviceState(build, OemPolicy(**prof.oem.__dict__))
    sdk = build.sdk
    users = [0]
    if work_profile:
        state.users[10] = User(
            10, "Work profile", flags=0x1030, type="android.os.usertype.profile.MANAGED", parent=0
        )
        users.append(10)
    boot = state.boot_ms
    year_ms = 365 * 86_400_000
    for spec in [*_PLATFORM, *prof.vendor_apps]:
        if sdk < spec.min_sdk:
            continue
        _install(state, spec, sdk, users, installer=None, when=boot - year_ms, seed=seed)
    apps = list(_USER_APPS)
    apps += [
        AppSpec(f"com.example.filler{i:04d}", f"Filler {i}", runtime=_p("CAMERA"))
        for i in range(extra_apps)
    ]
    for spec in apps:
        when = boot - rng.randrange(86_400_000, 200 * 86_400_000)
        _install(state, spec, sdk, users, installer=prof.store, when=when, seed=seed)
    _seed_op_history(state, rng, users)
    state.change_seq = 0
    state.package_changes.clear()
    return state


# Ops a phone has on record after ordinary use: what each permission lets an app note.
_HISTORY_OPS = {
    P + "CAMERA": "CAMERA",
    P + "RECORD_AUDIO": "RECORD_AUDIO",
    P + "ACCESS_FINE_LOCATION": "FINE_LOCATION",
    P + "ACCESS_COARSE_LOCATION": "COARSE_LOCATION",
    P + "READ_CONTACTS": "READ_CONTACTS",
    P + "READ_EXTERNAL_STORAGE": "READ_EXTERNAL_STORAGE",
    P + "READ_PHONE_STATE": "READ_PHONE_STATE",
}


def _seed_op_history(state: DeviceState, rng: random.Random, users: list[int]) -> None:
    """Give the phone the AppOps history of a phone in use: past accesses of granted
    permissions, wake locks, and a background restriction the owner once set."""
    now = state.now_ms()
    for pkg in state.packages.values():
        if pkg.app_id < 10_000:
            continue
        for user in users:
            pu = pkg.users.get(user)
            if pu is None or not pu.installed:
                continue
            if P + "WAKE_LOCK" in pkg.install_granted:
                state.note_op(
                    pkg.name,
                    user,
                    "WAKE_LOCK",
                    state="bg",
                    at_ms=now - rng.randrange(60_000, 86_400_000),
                    duration_ms=rng.randrange(5, 5_000),
                )
            for perm, grant in pu.permissions.items():
                op = _HISTORY_OPS.get(perm)
                if op and grant.granted:
                    uid_state: UidState = rng.choice(["top", "top", "fgsvc", "bg"])
                    state.note_op(
                        pkg.name,
                        user,
                        op,
                        state=uid_state,
                        at_ms=now - rng.randrange(60_000, 30 * 86_400_000),
                        duration_ms=rng.randrange(100, 60_000)
                        if op in ("CAMERA", "RECORD_AUDIO")
                        else None,
                    )
                    state.op(pkg.name, user, op).mode = "allow"
        if pkg.name == "com.ss.android.ugc.aweme":
            for user in users:
                if user in pkg.users:
                    state.op(pkg.name, user, "RUN_ANY_IN_BACKGROUND").mode = "ignore"


def _install(
    state: DeviceState,
    spec: AppSpec,
    sdk: int,
    users: list[int],
    *,
    installer: str | None,
    when: int,
    seed: int,
) -> None:
    runtime = [p for p in spec.runtime if RUNTIME_PERMISSIONS.get(p, 99) <= sdk]
    if spec.system:
        path = f"/system/{'priv-app' if spec.priv else 'app'}/{spec.name.split('.')[-1]}"
        code_path = f"{path}/{spec.name.split('.')[-1]}.apk"
    else:
        code_path = f"/data/app/~~{_digest(spec.name, seed)[:22]}==/{spec.name}-1/base.apk"
    pkg = Package(
        name=spec.name,
        app_id=spec.app_id or 0,
        version_code=int(_digest(spec.name, 1)[:6], 16) % 900_000 + 100,
        version_name=f"{sdk - 18}.{len(spec.name) % 10}.{seed % 7}",
        label=spec.label,
        code_path=code_path,
        system=spec.system,
        priv=spec.priv,
        installer=installer,
        initiating=installer,
        originating=None,
        package_source=2 if installer else 0,
        first_install_ms=when,
        last_update_ms=when,
        signing_digests=[_digest("platform" if spec.system else spec.name, 0)],
        signing_version=3 if sdk >= 28 else 2,
        target_sdk=min(sdk, 34) if not spec.system else sdk,
        min_sdk=24 if not spec.system else sdk,
        requested=[*runtime, *INSTALL_PERMISSIONS[: 3 + len(spec.name) % 4]],
        install_granted=INSTALL_PERMISSIONS[: 3 + len(spec.name) % 4],
        launcher_activity=(".MainActivity" if spec.launcher else None),
        boot_receivers=([".BootReceiver"] if spec.boot else []),
    )
    if spec.boot:
        pkg.requested.append(P + "RECEIVE_BOOT_COMPLETED")
        pkg.install_granted.append(P + "RECEIVE_BOOT_COMPLETED")
    if not pkg.app_id:
        pkg.app_id = state.alloc_app_id()
    pkg.shared_user = _SHARED_UIDS.get(pkg.app_id)
    state.install(pkg, users=users)
    sensitive = (
        {"USER_SENSITIVE_WHEN_GRANTED", "USER_SENSITIVE_WHEN_DENIED"} if sdk >= 29 else set()
    )
    for user in users:
        for perm in runtime:
            if spec.system:
                flags = {"GRANTED_BY_DEFAULT"} | ({"SYSTEM_FIXED"} if spec.priv else set())
                state.grant(spec.name, user, perm, flags)
            elif perm in spec.granted:
                state.grant(spec.name, user, perm, {"USER_SET"} | sensitive)
            elif sensitive:
                state.permission(spec.name, user, perm).flags |= sensitive
