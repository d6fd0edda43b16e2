"""Unit and property tests of the package, user, getprop, launcher, policy and power parsers.

The texts here are written for these tests, one per format the docs and AOSP describe for
Android 9-15 (P ``flags=[ A B ]``, Q+ ``flags=[ A|B]``, per-user fields by version, installer
fields by version ...); real captures are exercised in ``test_parsers_conformance_packages.py``.
The property tests mutate these texts (and the real captures when ``../shared`` is present)
and check that every parser stays total and linear.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.model import Parsed
from agent.parsers.appops import parse_appops_get, parse_dumpsys_appops
from agent.parsers.eventlog import parse_eventlog
from agent.parsers.launcher import parse_launcher_activities
from agent.parsers.packages import parse_dumpsys_package, parse_pm_list_packages, parse_pm_path
from agent.parsers.policy import parse_device_policy
from agent.parsers.power import parse_power
from agent.parsers.props import parse_getprop
from agent.parsers.sections import MAX_WARNINGS, split_dumpsys
from agent.parsers.services import parse_service_records
from agent.parsers.users import parse_dumpsys_user, parse_user_list

SHARED = Path(__file__).resolve().parents[2] / "shared"

# ---------------------------------------------------------------------------- fixtures

# Long dump lines, spliced into the texts below by expand() to keep the source narrow.
LONG = {
    "P_USER": "installed=true hidden=false suspended=false stopped=false notLaunched=false "
    "enabled=0 instant=false virtual=false",
    "P_USER_GONE": "installed=false hidden=false suspended=false stopped=true notLaunched=true "
    "enabled=0 instant=false virtual=false",
    "P_USER_DISABLED": "installed=true hidden=false suspended=false stopped=false "
    "notLaunched=false enabled=3 instant=false virtual=false",
    "R_USER": "installed=true hidden=false suspended=false distractionFlags=0 stopped=false "
    "notLaunched=false enabled=0 instant=false virtual=false",
    "R_USER_HIDDEN": "installed=true hidden=true suspended=false distractionFlags=2 "
    "stopped=false notLaunched=false enabled=2 instant=false virtual=false",
    "SENSITIVE_EXEMPT": "USER_SENSITIVE_WHEN_GRANTED|USER_SENSITIVE_WHEN_DENIED"
    "|RESTRICTION_INSTALLER_EXEMPT",
    "SENSITIVE": "USER_SENSITIVE_WHEN_GRANTED|USER_SENSITIVE_WHEN_DENIED",
    "U_USER": "deDataInode=6575 installed=true hidden=false suspended=true distractionFlags=0 "
    "stopped=false notLaunched=false enabled=0 instant=false virtual=false quarantined=false",
    "U_QUERIES": "queriesIntents=[Intent { act=android.intent.action.VIEW "
    "cat=[android.intent.category.BROWSABLE] dat=http://www.example.com/... }]",
    "U_SIGNATURES": "signatures=PackageSignatures{fec21ff version:3, signatures:[fa41615], "
    "past signatures:[7d3bce25 flags: 17, fa41615 flags: 17]}",
    "V_OWNER": "0: id=0, name=Owner, type=full.SYSTEM, "
    "flags=ADMIN|FULL|INITIALIZED|MAIN|PRIMARY|SYSTEM (running) (current) (visible)",
    "V_WORK": "1: id=10, name=Work, type=Work, type=profile.MANAGED, "
    "flags=INITIALIZED|MANAGED_PROFILE|PROFILE (parentId=0) (running) (profile-owner)",
}


def expand(text: str) -> str:
    for key, value in LONG.items():
        text = text.replace(f"<<{key}>>", value)
    return text


# Android 9 (P): userId=, package-level firstInstallTime, installer only when set, runtime flags
# with spaces, a shared-uid package without permission blocks, a shared user with "User 0: ".
P_DUMP = expand(
    """\
Database versions:
  Internal:
    sdkVersion=28 databaseVersion=3

Activity Resolver Table:
  Non-Data Actions:
      android.intent.action.MAIN:
        3a1b2c4 com.example.notes/.Main filter 1f2e3d

Packages:
  Package [com.example.notes] (f74c182):
    userId=10174
    pkg=Package{150a64f com.example.notes}
    codePath=/data/app/com.example.notes-ucr-k_N9R9PrzicjGnGBCg==
    resourcePath=/data/app/com.example.notes-ucr-k_N9R9PrzicjGnGBCg==
    primaryCpuAbi=arm64-v8a
    versionCode=42 minSdk=21 targetSdk=28
    versionName=4.2
    splits=[base, config.arm64_v8a, config.hdpi]
    apkSigningVersion=2
    applicationInfo=ApplicationInfo{1a2da7b com.example.notes}
    flags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]
    privateFlags=[ PRIVATE_FLAG_ACTIVITIES_RESIZE_MODE_RESIZEABLE_VIA_SDK_VERSION ]
    dataDir=/data/user/0/com.example.notes
    usesLibraries:
      org.apache.http.legacy
    usesLibraryFiles:
      /system/framework/org.apache.http.legacy.boot.jar
    timeStamp=2023-05-01 10:00:00
    firstInstallTime=2023-04-30 09:00:00
    lastUpdateTime=2023-05-01 10:00:01
    installerPackageName=com.android.vending
    signatures=PackageSignatures{21d11dc version:2, signatures:[e627f73a], past signatures:[]}
    installPermissionsFixed=true
    pkgFlags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]
    declared permissions:
      com.example.notes.permission.SYNC: prot=signature, INSTALLED
    install permissions:
      android.permission.INTERNET: granted=true
      android.permission.WAKE_LOCK: granted=true
    User 0: ceDataInode=868456 <<P_USER>>
      gids=[3003]
      runtime permissions:
        android.permission.CAMERA: granted=true, flags=[ USER_SET ]
        android.permission.READ_CONTACTS: granted=false, flags=[ USER_SET USER_FIXED ]
        android.permission.RECORD_AUDIO: granted=true
    User 10: ceDataInode=0 <<P_USER_GONE>>
  Package [com.example.provider] (9a353a5):
    userId=1000
    sharedUser=SharedUserSetting{cb92b86 android.uid.system/1000}
    pkg=Package{5be8c47 com.example.provider}
    codePath=/system/app/Provider
    versionCode=7 minSdk=28 targetSdk=28
    versionName=null
    flags=[ SYSTEM HAS_CODE ]
    timeStamp=2009-01-01 08:00:00
    firstInstallTime=2009-01-01 08:00:00
    lastUpdateTime=2009-01-01 08:00:00
    signatures=PackageSignatures{6c98c74 version:2, signatures:[b378e95c], past signatures:[]}
    pkgFlags=[ SYSTEM HAS_CODE ]
    User 0: ceDataInode=852090 <<P_USER>>
    User 10: ceDataInode=852091 <<P_USER_DISABLED>>
      lastDisabledCaller: com.android.shell

Hidden system packages:
  Package [com.example.provider] (b308c4a):
    userId=1000
    codePath=/system/priv-app/Provider
    versionCode=5 minSdk=28 targetSdk=28
    flags=[ SYSTEM HAS_CODE ]
    User 0: ceDataInode=0 <<P_USER>>

Shared users:
  SharedUser [android.uid.system] (2aeb558):
    userId=1000
    install permissions:
      android.permission.MANAGE_USERS: granted=true
    User 0: 
      gids=[1000]
      runtime permissions:
        android.permission.READ_PHONE_STATE: granted=true, flags=[ SYSTEM_FIXED GRANTED_BY_DEFAULT ]
  SharedUser [android.uid.se] (9a353a6):
    userId=1068

Package Changes:
  Sequence number=5
  User 0:
    seq=0, package=com.microsoft.launcher
    seq=4, package=com.example.notes
  User 10:
    seq=3, package=com.example.provider


Dexopt state:
  [com.example.notes]
    path: /data/app/com.example.notes-ucr-k_N9R9PrzicjGnGBCg==/base.apk
      arm64: [status=speed-profile] [reason=bg-dexopt]
      known secondary dex files:
        /data/user/0/com.example.notes/app_pccache/5/A55/pcam.jar
          class loader context: PCL[];PCL[/data/app/com.example.notes-ucr==/base.apk]
        /data/user/0/com.example.notes/app_pccache/5/570/pcam.jar
          class loader context: PCL[]
      used by other apps: [com.example.other]
  [com.example.provider]

Compiler stats:
  [com.example.notes]
     base.apk - 50120
"""
)

# Android 11 (R): Q+ flags "[ A|B]", distractionFlags, ": restricted=true" on requested,
# enabledComponents, install permissions of another user with ", userId=N".
R_DUMP = expand(
    """\
Packages:
  Package [org.fdroid.fdroid] (c34d38d):
    userId=10151
    pkg=Package{7013942 org.fdroid.fdroid}
    codePath=/data/app/~~STVfdipYRYJs6KMukOgQrg==/org.fdroid.fdroid-v49NvZi77MbfUKeimvYw9A==
    versionCode=1013051 minSdk=22 targetSdk=25
    versionName=1.13.1
    splits=[base]
    apkSigningVersion=3
    flags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]
    forceQueryable=false
    queriesPackages=[]
    timeStamp=2021-11-04 20:12:50
    firstInstallTime=2021-11-04 20:12:50
    lastUpdateTime=2021-11-04 20:12:50
    installerPackageName=com.android.packageinstaller
    signatures=PackageSignatures{603ad53 version:3, signatures:[8b8a3ff5], past signatures:[]}
    installPermissionsFixed=true
    pkgFlags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]
    requested permissions:
      android.permission.INTERNET
      android.permission.READ_EXTERNAL_STORAGE: restricted=true
      android.permission.ACCESS_COARSE_LOCATION
    install permissions:
      android.permission.INTERNET: granted=true
      android.permission.NFC: granted=false, flags=[ USER_SET], userId=10
    User 0: ceDataInode=392899 <<R_USER>>
      lastDisabledCaller: com.android.packageinstaller
      gids=[3003]
      runtime permissions:
        android.permission.READ_EXTERNAL_STORAGE: granted=false, flags=[ <<SENSITIVE_EXEMPT>>]
        android.permission.ACCESS_COARSE_LOCATION: granted=true, flags=[ USER_SET|<<SENSITIVE>>]
      enabledComponents:
        androidx.work.impl.background.systemalarm.RescheduleReceiver
    User 10: ceDataInode=392900 <<R_USER_HIDDEN>>
      runtime permissions:
        android.permission.ACCESS_COARSE_LOCATION: granted=false, flags=[ <<SENSITIVE>>]

Package Changes:
  Sequence number=6
  User 0:
    seq=3, package=org.fdroid.fdroid
"""
)

# Android 14/15: appId=, the installer block, per-user installReason/dataDir/firstInstallTime,
# quarantined, "Suspend params:" at the package indent with a <user>package suspender,
# disabledComponents, ART Service dexopt with "(public)" secondary dex.
U_DUMP = expand(
    """\
Packages:
  Package [com.example.spy] (6b7d559):
    appId=10267
    pkg=Package{b1d251e com.example.spy}
    codePath=/data/app/~~u8EW==/com.example.spy-BOiL==
    extractNativeLibs=false
    versionCode=1544019392 minSdk=26 targetSdk=34
    minExtensionVersions=[]
    versionName=19.03.35
    usesNonSdkApi=false
    splits=[base:3, config.arm64_v8a]
    apkSigningVersion=3
    flags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ]
    privateFlags=[ HAS_DOMAIN_URLS ]
    forceQueryable=false
    <<U_QUERIES>>
    scannedAsStoppedSystemApp=false
    supportsScreens=[small, medium, large, xlarge, resizeable, anyDensity]
    timeStamp=2024-01-24 15:15:22
    lastUpdateTime=2024-01-24 15:15:22
    installerPackageName=null
    installerPackageUid=-1
    initiatingPackageName=com.android.shell
    originatingPackageName=null
    updateOwnerPackageName=com.android.vending
    packageSource=1
    appMetadataFilePath=null
    <<U_SIGNATURES>>
    installPermissionsFixed=true
    pkgFlags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ]
    privatePkgFlags=[ HAS_DOMAIN_URLS ]
    apexModuleName=null
    install permissions:
      android.permission.FOREGROUND_SERVICE_CAMERA: granted=true
    User 0: ceDataInode=6574 <<U_USER>>
      installReason=4
      dataDir=/data/user/0/com.example.spy
      firstInstallTime=2022-01-01 09:00:00
      uninstallReason=0
    Suspend params:
      suspendingPackage=<0>com.android.shell dialogInfo=null quarantined=false

      lastDisabledCaller: com.android.vending
      gids=[3003]
      runtime permissions:
        android.permission.RECORD_AUDIO: granted=true, flags=[ <<SENSITIVE>>]
      disabledComponents:
        com.example.spy.LauncherAlias

Dexopt state:
  [com.example.spy]
    path: /data/app/~~u8EW==/com.example.spy-BOiL==/base.apk
      arm64: [status=speed] [reason=ab-ota] [primary-abi]
        [location is /data/app/~~u8EW==/com.example.spy-BOiL==/oat/arm64/base.odex]
    known secondary dex files:
      /data/user/0/com.example.spy/app_cache_dg/102a/the.apk
        arm64: [status=verify] [reason=vdex] [primary-abi]
          [location is /data/user/0/com.example.spy/app_cache_dg/102a/oat/arm64/the.vdex]
        class loader context: PCL[];PCL[/data/app/~~u8EW==/com.example.spy-BOiL==/base.apk]
      /data/user/0/com.example.spy/app_cache_dg/18c5/the.apk (public)
        arm64: [status=verify] [reason=vdex] [primary-abi]
  Current GC: CollectorTypeCMC
"""
)

USER_LIST = "Users:\n\tUserInfo{0:Owner:c13} running\n\tUserInfo{10:Work: a}b:1030} running\n"
USER_LIST_V = expand(
    """\
3 users:

<<V_OWNER>>
<<V_WORK>>
2: id=11, name=Guest, type=full.GUEST, flags=GUEST|0x10000
"""
)
DUMPSYS_USER = """\
Current user: 10
Users:
  UserInfo{0:Owner:c13} serialNo=0 isPrimary=true
    Type: android.os.usertype.full.SYSTEM
    Flags: 3091 (ADMIN|FULL|INITIALIZED|MAIN|PRIMARY|SYSTEM)
    State: RUNNING_UNLOCKED
    Created: <unknown>
    Last logged in: +1d2h3m4s5ms ago
  UserInfo{10:Work:1030} serialNo=10 isPrimary=false parentId=0
    Type: android.os.usertype.profile.MANAGED
    Flags: 4144 (INITIALIZED|MANAGED_PROFILE|PROFILE)
    State: -1

Guest settings:
  Enabled: true
"""

GETPROP = """\
[ro.product.model]: [Pixel 8]
[ro.build.version.sdk]: [35]

[persist.sys.boot.reason.history]: [reboot,shell,1718000000
reboot,userrequested,1717000000]
[ro.odd]: [a]
b]
[ro.build.fingerprint]: [google/husky/husky:15/BP1A.250505.005.B1/13277630:user/release-keys]
"""

POLICY_P = """\
Current Device Policy Manager state:
  Profile Owner (User 0): 
    admin=ComponentInfo{com.amazon.parentalcontrols/com.amazon.parentalcontrols.receivers.ParentalAdminReceiver}
    name=Parental Controls
    package=com.amazon.parentalcontrols

  Enabled Device Admins (User 0, provisioningState: 0):
    com.amazon.parentalcontrols/.receivers.ParentalAdminReceiver:
      uid=10058
      testOnlyAdmin=false
      policies:
        force-lock
        disable-camera
      passwordQuality=0x0
      userRestrictions:
        null
      isParent=false
 
    mPasswordOwner=-1

  Constants:
    DAS_DIED_SERVICE_RECONNECT_BACKOFF_SEC: 3600
"""

POLICY_U = """\
Current Device Policy Manager state:
  Immutable state:
    mHasFeature=true
  Device Owner: 
    admin=ComponentInfo{com.example.mdm/com.example.mdm.AdminReceiver}
    name=
    package=com.example.mdm
    isOrganizationOwnedDevice=true
    User ID: 0
  Device Owner Type: 0

  Profile Owner (User 10): 
    admin=ComponentInfo{com.example.work/com.other.Receiver}
    name=Work
    package=com.example.work

  Enabled Device Admins (User 0, provisioningState: 3):
    com.example.mdm/.AdminReceiver:
      uid=10180
      testOnlyAdmin=true
      policies: wipe-data, reset-password, limit-password, watch-login,
                force-lock, expire-password
      passwordQuality=0x0

  Enabled Device Admins (User 10, provisioningState: 3):
    com.example.work/com.other.Receiver:
      uid=1010181
      testOnlyAdmin=false
      policies:
        wipe-data
"""

POWER_OFF = "  mWakefulness=Asleep\n  mInteractive=false\nDisplay Power: state=OFF\n"
POWER_ON = """\
POWER MANAGER (dumpsys power)

Power Manager State:
  Settings power_manager_constants:
    no_cached_wake_locks=true
  mDirty=0x0
  mWakefulness=Awake
  mWakefulnessChanging=false
  mIsPowered=true

Display Power: state=ON
"""


def clean(result: Parsed[Any]) -> Any:
    """The value of a parse that must succeed without warnings."""
    assert result.error is None, result.error
    assert result.warnings == (), result.warnings
    return result.value


# ---------------------------------------------------------------------------- dumpsys package


def test_pie_layout_with_spaced_flags_and_package_level_install_time() -> None:
    dump = clean(parse_dumpsys_package(P_DUMP))
    notes, provider = dump.packages
    assert notes.name == "com.example.notes"
    assert notes.uid == 10174
    assert (notes.version_code, notes.min_sdk, notes.target_sdk) == (42, 21, 28)
    assert notes.version_name == "4.2"
    assert notes.code_path == "/data/app/com.example.notes-ucr-k_N9R9PrzicjGnGBCg=="
    assert notes.splits == ("base", "config.arm64_v8a", "config.hdpi")
    assert notes.flags == {"HAS_CODE", "ALLOW_CLEAR_USER_DATA", "ALLOW_BACKUP"}
    assert not notes.system
    assert notes.installer == "com.android.vending"
    assert notes.initiating_installer is None
    assert notes.first_install_time == "2023-04-30 09:00:00"
    assert notes.timestamp == "2023-05-01 10:00:00"
    assert notes.last_update_time == "2023-05-01 10:00:01"
    assert notes.signature_hashes == ("e627f73a",)
    assert notes.past_signature_hashes == ()
    assert notes.apk_signing_version == 2
    assert notes.declared_permissions == ("com.example.notes.permission.SYNC",)
    assert [g.name for g in notes.install_permissions] == [
        "android.permission.INTERNET",
        "android.permission.WAKE_LOCK",
    ]
    owner = notes.user(0)
    assert owner is not None
    assert owner.ce_data_inode == 868456
    camera = owner.permission("android.permission.CAMERA")
    contacts = owner.permission("android.permission.READ_CONTACTS")
    audio = owner.permission("android.permission.RECORD_AUDIO")
    assert camera is not None and camera.granted and camera.flags == {"USER_SET"}
    assert contacts is not None and not contacts.granted
    assert contacts.flags == {"USER_SET", "USER_FIXED"}
    assert audio is not None and audio.granted and audio.flags == frozenset()
    work = notes.user(10)
    assert work is not None
    assert (work.installed, work.stopped, work.not_launched) == (False, True, True)
    assert work.runtime_permissions == ()
    assert provider.shared_user == "android.uid.system"
    assert provider.version_name is None
    assert provider.system
    provider_work = provider.user(10)
    assert provider_work is not None
    assert provider_work.enabled == 3
    assert provider_work.last_disabled_caller == "com.android.shell"


def test_pie_hidden_shared_changes_and_dexopt() -> None:
    dump = clean(parse_dumpsys_package(P_DUMP))
    assert [h.code_path for h in dump.hidden_system_packages] == ["/system/priv-app/Provider"]
    assert set(dump.shared_users) == {"android.uid.system", "android.uid.se"}
    system = dump.shared_users["android.uid.system"]
    assert system.uid == 1000
    assert [g.name for g in system.install_permissions] == ["android.permission.MANAGE_USERS"]
    user0 = system.user(0)
    assert user0 is not None
    phone = user0.permission("android.permission.READ_PHONE_STATE")
    assert phone is not None and phone.flags == {"SYSTEM_FIXED", "GRANTED_BY_DEFAULT"}
    assert dump.shared_users["android.uid.se"].users == ()
    assert dump.change_sequence == 5
    assert [(c.user, c.seq, c.package) for c in dump.changes] == [
        (0, 0, "com.microsoft.launcher"),
        (0, 4, "com.example.notes"),
        (10, 3, "com.example.provider"),
    ]
    assert dict(dump.secondary_dex) == {
        "com.example.notes": (
            "/data/user/0/com.example.notes/app_pccache/5/A55/pcam.jar",
            "/data/user/0/com.example.notes/app_pccache/5/570/pcam.jar",
        )
    }


def test_q_plus_pipe_flags_restricted_requested_and_other_user_install_grants() -> None:
    dump = clean(parse_dumpsys_package(R_DUMP))
    (fdroid,) = dump.packages
    assert fdroid.requested_permissions == (
        "android.permission.INTERNET",
        "android.permission.READ_EXTERNAL_STORAGE",
        "android.permission.ACCESS_COARSE_LOCATION",
    )
    internet, nfc = fdroid.install_permissions
    assert internet.granted and internet.user is None
    assert not nfc.granted and nfc.user == 10 and nfc.flags == {"USER_SET"}
    owner, work = fdroid.users
    storage = owner.permission("android.permission.READ_EXTERNAL_STORAGE")
    assert storage is not None and not storage.granted
    assert storage.flags == {
        "USER_SENSITIVE_WHEN_GRANTED",
        "USER_SENSITIVE_WHEN_DENIED",
        "RESTRICTION_INSTALLER_EXEMPT",
    }
    assert owner.enabled_components == (
        "androidx.work.impl.background.systemalarm.RescheduleReceiver",
    )
    assert owner.last_disabled_caller == "com.android.packageinstaller"
    assert (work.hidden, work.distraction_flags, work.enabled) == (True, 2, 2)
    coarse = work.permission("android.permission.ACCESS_COARSE_LOCATION")
    assert coarse is not None and not coarse.granted


def test_android_14_installer_block_per_user_times_and_suspend_params() -> None:
    dump = clean(parse_dumpsys_package(U_DUMP))
    (spy,) = dump.packages
    assert spy.uid == 10267
    assert spy.installer is None
    assert spy.installer_uid == -1
    assert spy.initiating_installer == "com.android.shell"
    assert spy.originating_installer is None
    assert spy.update_owner == "com.android.vending"
    assert spy.package_source == 1
    assert spy.first_install_time is None  # moved under User N: on 14
    assert spy.splits == ("base:3", "config.arm64_v8a")
    assert spy.signature_hashes == ("fa41615",)
    assert spy.past_signature_hashes == ("7d3bce25", "fa41615")
    (user,) = spy.users
    assert user.first_install_time == "2022-01-01 09:00:00"
    assert (user.install_reason, user.uninstall_reason) == (4, 0)
    assert user.suspended and user.suspending_packages == ("com.android.shell",)
    assert user.last_disabled_caller == "com.android.vending"
    assert user.disabled_components == ("com.example.spy.LauncherAlias",)
    audio = user.permission("android.permission.RECORD_AUDIO")
    assert audio is not None and audio.granted
    assert dict(dump.secondary_dex) == {
        "com.example.spy": (
            "/data/user/0/com.example.spy/app_cache_dg/102a/the.apk",
            "/data/user/0/com.example.spy/app_cache_dg/18c5/the.apk",
        )
    }


def test_pie_inline_suspender_with_a_free_text_dialog_message() -> None:
    text = (
        "Packages:\n  Package [a.b] (1):\n    userId=10001\n"
        "    User 0: ceDataInode=1 installed=true hidden=false suspended=true "
        "suspendingPackage=com.android.shell dialogMessage=Ask your stopped=true parent "
        "stopped=false notLaunched=false enabled=0 instant=false virtual=false\n"
    )
    (pkg,) = clean(parse_dumpsys_package(text)).packages
    (user,) = pkg.users
    assert user.suspending_packages == ("com.android.shell",)
    assert user.suspended and not user.stopped


def test_line_numbers_stay_right_across_a_column_zero_overlay_title() -> None:
    text = (
        "Packages:\n  Package [a.b] (1):\n    userId=10001\n"
        "    User 0: ceDataInode=1 installed=true\n"
        "lib overlay paths:\n"
        "      /product/overlay/Lib.apk\n"
        "      strange line\n"
        "  Package [c.d] (2):\n    userId=10002\n"
        "Queries:\n"
    )
    result = parse_dumpsys_package(text)
    assert [(w.line_no, w.line) for w in result.warnings] == [
        (7, "      strange line"),
        (8, "  Package [c.d] (2):"),
    ]


def test_column_zero_library_overlay_title_stays_inside_the_user_block() -> None:
    # Android 12 prints a stray blank line, then "<lib> overlay paths:" at column 0.
    text = (
        "Packages:\n  Package [a.b] (1):\n    userId=10001\n"
        "    User 0: ceDataInode=1 installed=true\n"
        "      \n"
        "com.google.android.trichromelibrary overlay paths:\n"
        "          /product/overlay/Trichrome.apk\n"
        "      \n"
        "com.google.android.trichromelibrary legacy overlay paths:\n"
        "        /product/overlay/TrichromeLegacy.apk\n"
        "      runtime permissions:\n"
        "        android.permission.CAMERA: granted=true, flags=[ USER_SET]\n"
        "  Package [c.d] (2):\n    userId=10002\n    User 0: ceDataInode=2 installed=true\n"
    )
    dump = clean(parse_dumpsys_package(text))
    assert [x.name for x in dump.packages] == ["a.b", "c.d"]
    assert dump.packages[0].users[0].permission("android.permission.CAMERA") is not None


def test_truncated_block_gives_the_packages_read_and_an_error() -> None:
    cut = P_DUMP.index("  Package [com.example.provider] (9a353a5):")
    text = P_DUMP[: cut + 200]  # the second block stops before its User lines
    result = parse_dumpsys_package(text)
    assert result.error is not None
    assert "com.example.provider" in result.error and "cut" in result.error
    notes, provider = result.value.packages
    assert notes.user(0) is not None  # the complete block is intact
    assert provider.users == ()


EXPECTED_GRANT = "expected name: granted=true|false[, flags=[...]]"


def test_unknown_lines_are_warnings_with_their_line_numbers() -> None:
    lines = P_DUMP.split("\n")
    lines.insert(lines.index("Packages:"), "\x1b[31mgarbage at column 0")  # a skipped section
    field = lines.index("    versionName=4.2") + 2  # 1-based number of the line inserted next
    lines.insert(field - 1, "    oemSecretField=1")
    perm = lines.index("        android.permission.RECORD_AUDIO: granted=true") + 2
    lines.insert(perm - 1, "        this is not a permission")
    result = parse_dumpsys_package("\n".join(lines))
    assert result.error is None
    assert [(w.line_no, w.line, w.reason) for w in result.warnings] == [
        (field, "    oemSecretField=1", "unknown package field 'oemSecretField'"),
        (perm, "        this is not a permission", EXPECTED_GRANT),
    ]
    assert len(result.value.packages) == 2


def test_a_column_zero_line_inside_a_block_ends_it_with_a_warning() -> None:
    lines = P_DUMP.split("\n")
    header = lines.index("  Package [com.example.notes] (f74c182):") + 1
    lines.insert(lines.index("    versionName=4.2"), "stray text at column 0")
    result = parse_dumpsys_package("\n".join(lines))
    assert result.error is None
    assert [(w.line_no, w.reason) for w in result.warnings] == [
        (header, "block has no User N: line")
    ]
    assert [x.name for x in result.value.packages] == ["com.example.notes"]
    assert result.value.packages[0].version_code == 42  # what was read before the break


def test_errors_for_timeouts_missing_packages_and_empty_output() -> None:
    timeout = P_DUMP + "\n*** SERVICE 'package' DUMP TIMEOUT (10000ms) EXPIRED ***\n"
    result = parse_dumpsys_package(timeout)
    assert result.error is not None and "TIMEOUT" in result.error
    assert len(result.value.packages) == 2
    assert parse_dumpsys_package("Unable to find package: x.y\n").error == (
        "Unable to find package: x.y"
    )
    assert parse_dumpsys_package("").error == "no output"


def test_crlf_output_reads_like_lf() -> None:
    assert parse_dumpsys_package(P_DUMP.replace("\n", "\r\n")) == parse_dumpsys_package(P_DUMP)


def test_a_user_printed_twice_in_one_block_is_reported() -> None:
    forged = (
        "Packages:\n  Package [a.b] (1):\n    userId=10001\n"
        "    versionName=1.0\n    User 0: ceDataInode=1 installed=true\n"
        "    User 0: ceDataInode=1 installed=true\n"
    )
    result = parse_dumpsys_package(forged)
    assert [w.line_no for w in result.warnings] == [6]


def test_permission_names_containing_the_separator_keep_the_last_one() -> None:
    text = (
        "Packages:\n  Package [a.b] (1):\n    userId=1\n    install permissions:\n"
        "      x.y: granted=true, flags=[ A]: granted=false\n    User 0: installed=true\n"
    )
    (pkg,) = clean(parse_dumpsys_package(text)).packages
    (grant,) = pkg.install_permissions
    assert grant.name == "x.y: granted=true, flags=[ A]"
    assert not grant.granted


def test_changes_section_alone_and_without_its_title() -> None:
    alone = clean(parse_dumpsys_package("Package Changes:\n  Sequence number=4952\n"))
    assert alone.change_sequence == 4952 and alone.packages == ()
    headless = clean(parse_dumpsys_package("Sequence number=7\n  User 0:\n    seq=1, package=a\n"))
    assert headless.change_sequence == 7
    assert [(c.seq, c.package) for c in headless.changes] == [(1, "a")]


# ---------------------------------------------------------------------------- pm list / path


def test_pm_list_every_option_shape() -> None:
    text = (
        "package:com.plain\n"
        "package:/data/app/~~AbC==/com.f-XyZ==/base.apk=com.f\n"
        "package:com.qualcomm.qti.telephonyservice  installer=null uid:8\n"
        "package:com.multi versionCode:1544019392  installer=com.android.vending "
        "uid:10123,1010123\n"
        "package:/system/app/A b/A.apk=com.space.path versionCode:3 uid:10005 stopped=true\n"
    )
    plain, f, qti, multi, space = clean(parse_pm_list_packages(text))
    assert plain.name == "com.plain" and plain.path is None and plain.uids == ()
    assert (f.name, f.path) == ("com.f", "/data/app/~~AbC==/com.f-XyZ==/base.apk")
    assert (qti.installer, qti.uids) == (None, (8,))
    assert multi.version_code == 1544019392
    assert multi.installer == "com.android.vending"
    assert multi.uids == (10123, 1010123)
    assert (space.path, space.stopped, space.version_code) == ("/system/app/A b/A.apk", True, 3)


@given(
    name=st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,3}", fullmatch=True),
    path=st.none()
    | st.from_regex(r"/data/app/~~[\w=\-]{1,12}/x-[A-Za-z0-9=]{1,6}/base\.apk", fullmatch=True),
    version=st.none() | st.integers(0, 2**62),
    installer=st.none() | st.just("null") | st.just("com.android.vending"),
    uids=st.lists(st.integers(0, 2**31 - 1), max_size=4),
)
def test_pm_list_round_trips_the_aosp_line_layout(
    name: str, path: str | None, version: int | None, installer: str | None, uids: list[int]
) -> None:
    # runListPackages: package:[<sourceDir>=]<name>[ versionCode:<n>][  installer=<x>][ uid:<u>]
    line = "package:" + (f"{path}=" if path else "") + name
    line += f" versionCode:{version}" if version is not None else ""
    line += f"  installer={installer}" if installer is not None else ""
    line += " uid:" + ",".join(map(str, uids)) if uids else ""
    (entry,) = clean(parse_pm_list_packages(line + "\n"))
    assert entry.name == name and entry.path == path and entry.version_code == version
    assert entry.installer == (None if installer in (None, "null") else installer)
    assert entry.uids == tuple(uids)


def test_pm_list_errors_keep_what_was_listed_and_skip_the_trace() -> None:
    text = (
        "package:com.a uid:10001\n"
        "Error: java.lang.SecurityException: Shell does not have permission to access user 150\n"
        "package:com.b uid:10002\n"
    )
    result = parse_pm_list_packages(text)
    assert [e.name for e in result.value] == ["com.a", "com.b"]
    assert result.error is not None and "user 150" in result.error
    aborted = parse_pm_list_packages(
        "Exception occurred while executing 'list':\n"
        "java.lang.SecurityException: Shell does not have permission to access user 150\n"
        " com.android.server.am.ActivityManagerService.handleIncomingUser:14983\n"
        "\tat com.android.server.pm.PackageManagerShellCommand.translateUserId(Unknown)\n"
    )
    assert aborted.value == () and aborted.warnings == ()
    assert aborted.error == "Exception occurred while executing 'list':"
    unknown = parse_pm_list_packages("Error: Unknown option: --show-versioncode\n")
    assert unknown.error == "Error: Unknown option: --show-versioncode"


def test_pm_list_bad_lines_are_warnings() -> None:
    result = parse_pm_list_packages("package:ok.one\nnot a line\npackage:bad name!\n")
    assert [e.name for e in result.value] == ["ok.one"]
    assert [(w.line_no, w.reason) for w in result.warnings] == [
        (2, "not a package: line"),
        (3, "not a package name"),
    ]


def test_pm_path_base_and_splits() -> None:
    text = (
        "package:/data/app/~~x==/a.b-y==/base.apk\n"
        "package:/data/app/~~x==/a.b-y==/split_config.arm64_v8a.apk\n"
    )
    assert clean(parse_pm_path(text)) == (
        "/data/app/~~x==/a.b-y==/base.apk",
        "/data/app/~~x==/a.b-y==/split_config.arm64_v8a.apk",
    )
    assert parse_pm_path("Error: no package specified\n").error == "Error: no package specified"


# ---------------------------------------------------------------------------- users


def test_user_list_with_names_containing_separators() -> None:
    owner, work = clean(parse_user_list(USER_LIST))
    assert (owner.id, owner.name, owner.flags, owner.running) == (0, "Owner", 0xC13, True)
    assert (work.id, work.name, work.flags) == (10, "Work: a}b", 0x1030)


def test_verbose_user_list_turns_flag_names_into_bits() -> None:
    owner, work, guest = clean(parse_user_list(USER_LIST_V))
    assert owner.flags == 0x4C13 and owner.current and owner.running
    assert owner.type == "android.os.usertype.full.SYSTEM"
    assert (work.name, work.parent, work.type) == (
        "Work, type=Work",
        0,
        "android.os.usertype.profile.MANAGED",
    )
    assert work.flags == 0x1030
    assert guest.flags == 0x4 | 0x10000 and not guest.running


def test_dumpsys_user_reads_type_flags_and_state() -> None:
    owner, work = clean(parse_dumpsys_user(DUMPSYS_USER))
    assert owner.type == "android.os.usertype.full.SYSTEM"
    assert (owner.flags, owner.state, owner.running, owner.current) == (
        3091,
        "RUNNING_UNLOCKED",
        True,
        False,
    )
    assert (work.parent, work.state, work.running, work.current) == (0, "-1", False, True)


def test_user_list_errors_and_warnings() -> None:
    result = parse_user_list("Users:\n\tUserInfo{x:bad}\nException occurred while executing\n")
    assert result.error == "Exception occurred while executing"
    assert [w.line_no for w in result.warnings] == [2]


# ---------------------------------------------------------------------------- getprop


def test_getprop_values_blank_lines_and_multi_line_values() -> None:
    result = parse_getprop(GETPROP)
    props = result.value
    assert result.error is None
    assert props.model == "Pixel 8" and props.sdk == 35
    assert props.fingerprint.startswith("google/husky")
    assert props.props["persist.sys.boot.reason.history"] == (
        "reboot,shell,1718000000\nreboot,userrequested,1717000000"
    )
    assert props.props["ro.odd"] == "a"  # ambiguous in getprop's format: ends at the first "]"
    assert [(w.line_no, w.line) for w in result.warnings] == [(7, "b]")]


def test_getprop_cut_value_and_stray_lines() -> None:
    cut = parse_getprop("[a.b]: [1]\nstray\n[c.d]: [open\nvalue\n[e.f]: [2]\n[g.h]: [x\ny")
    assert cut.value.props["a.b"] == "1"
    assert cut.value.props["c.d"] == "open\nvalue"  # kept, and said to be unclosed
    assert cut.value.props["e.f"] == "2"
    assert cut.value.props["g.h"] == "x\ny"
    assert cut.error is not None and "g.h" in cut.error
    assert [(w.line_no, w.reason) for w in cut.warnings] == [
        (2, "not a [name]: [value] line"),
        (3, "value not closed by ]"),
    ]


# ---------------------------------------------------------------------------- launcher


def test_launcher_components_brief_and_full_forms() -> None:
    components = "com.android.settings/.Settings\norg.fdroid.fdroid/org.fdroid.fdroid.Main\n"
    assert clean(parse_launcher_activities(components)) == {
        "com.android.settings",
        "org.fdroid.fdroid",
    }
    brief = (
        "2 activities found:\n  Activity #0:\n"
        "    priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=false\n"
        "    com.android.settings/.Settings\n  Activity #1:\n"
        "    priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=true\n"
        "    com.example.app/.Main$Alias\n"
    )
    assert clean(parse_launcher_activities(brief)) == {"com.android.settings", "com.example.app"}
    full = (
        "1 activities found:\n  Activity #0:\n"
        "    priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=false\n"
        "    ActivityInfo:\n      name=com.example.app.Main\n      packageName=com.example.app\n"
        "      ApplicationInfo:\n        packageName=com.example.other\n"
        "        labelRes=0x7f1402c9 nonLocalizedLabel=null icon=0x7f090311 banner=0x0\n"
    )
    assert clean(parse_launcher_activities(full)) == {"com.example.app"}
    assert clean(parse_launcher_activities("No activities found\n")) == frozenset()


def test_launcher_cut_output_and_hostile_names() -> None:
    cut = parse_launcher_activities(
        "3 activities found:\n  Activity #0:\n    priority=0\n    a.b/.C\n  Activity #1:\n"
    )
    assert cut.value == {"a.b"}
    assert cut.error is not None and "3 activities announced, 2 read" in cut.error
    hostile = parse_launcher_activities("a.b/.C\n$(reboot)/.X\nx.y;rm/.Z\n")
    assert hostile.value == {"a.b"}
    assert [w.line_no for w in hostile.warnings] == [2, 3]


# ---------------------------------------------------------------------------- device policy


def test_device_policy_pie_profile_owner_and_admins() -> None:
    policy = clean(parse_device_policy(POLICY_P))
    assert policy.device_owner is None
    assert dict(policy.profile_owners) == {
        0: "com.amazon.parentalcontrols/.receivers.ParentalAdminReceiver"
    }
    (admin,) = policy.admins
    assert admin.component == policy.profile_owners[0]
    assert (admin.user, admin.uid, admin.test_only) == (0, 10058, False)
    assert admin.policies == ("force-lock", "disable-camera")
    assert admin.package == "com.amazon.parentalcontrols"


def test_device_policy_device_owner_and_wrapped_policy_lines() -> None:
    policy = clean(parse_device_policy(POLICY_U))
    assert policy.device_owner == "com.example.mdm/.AdminReceiver"
    assert policy.device_owner_user == 0
    assert dict(policy.profile_owners) == {10: "com.example.work/com.other.Receiver"}
    mdm, work = policy.admins
    assert mdm.test_only is True
    assert mdm.policies == (
        "wipe-data",
        "reset-password",
        "limit-password",
        "watch-login",
        "force-lock",
        "expire-password",
    )
    assert (work.user, work.uid, work.policies) == (10, 1010181, ("wipe-data",))


def test_device_policy_errors() -> None:
    assert parse_device_policy("").error is not None
    denied = parse_device_policy("Permission Denial: can't dump DevicePolicyManager\n")
    assert denied.error is not None and denied.error.startswith("Permission Denial")


# ---------------------------------------------------------------------------- power


@pytest.mark.parametrize(
    ("text", "screen_on", "wakefulness", "display"),
    [
        (POWER_ON, True, "Awake", "ON"),
        (POWER_OFF, False, "Asleep", "OFF"),
        ("  mWakefulness=Dozing\nDisplay Power: state=DOZE\n", False, "Dozing", "DOZE"),
        ("  mWakefulness=Dreaming\n", True, "Dreaming", None),
        ("  mScreenOn=true\n", True, None, None),
    ],
)
def test_power_states(
    text: str, screen_on: bool, wakefulness: str | None, display: str | None
) -> None:
    state = clean(parse_power(text))
    assert (state.screen_on, state.wakefulness, state.display_state) == (
        screen_on,
        wakefulness,
        display,
    )


def test_power_unknown_values_and_missing_lines() -> None:
    odd = parse_power("  mWakefulness=Hibernating\n")
    assert odd.value.screen_on is None and odd.value.wakefulness == "Hibernating"
    assert [w.line_no for w in odd.warnings] == [1]
    assert parse_power("nothing here\n").error is not None


# ---------------------------------------------------------------------------- sections


def test_split_dumpsys_framing_priorities_and_duplicates() -> None:
    text = (
        "some random text here\n\n"
        "-------------------------------------------------------------------------------\n"
        "DUMP OF SERVICE CRITICAL power:\n  mWakefulness=Awake\n"
        "--------- 0.004s was the duration of dumpsys power, ending at: 2022-01-28 17:37:22\n"
        "-------------------------------------------------------------------------------\n"
        "DUMP OF SERVICE package:\nPackages:\n"
        "*** SERVICE 'package' DUMP TIMEOUT (10000ms) EXPIRED ***\n"
        "-------------------------------------------------------------------------------\n"
        "DUMP OF SERVICE power:\n  mWakefulness=Asleep\n"
        "------ SYSTEM LOG (logcat -v threadtime) ------\nlog line\n"
    )
    sections = split_dumpsys(text)
    assert sections == {
        "power": "  mWakefulness=Awake\n",
        "package": "Packages:\n*** SERVICE 'package' DUMP TIMEOUT (10000ms) EXPIRED ***\n",
        "power#2": "  mWakefulness=Asleep\n",
    }
    assert parse_dumpsys_package(sections["package"]).error is not None


# ---------------------------------------------------------------------------- totality


PARSERS: list[Callable[[str], Parsed[Any]]] = [
    parse_dumpsys_package,
    parse_pm_list_packages,
    parse_pm_path,
    parse_user_list,
    parse_dumpsys_user,
    parse_getprop,
    parse_launcher_activities,
    parse_device_policy,
    parse_power,
    parse_dumpsys_appops,
    parse_appops_get,
    parse_eventlog,
    parse_service_records,
]
"""Every parser of text a phone prints (the hostile-input suite runs each on every case)."""
VALUE_TYPES: dict[Callable[[str], Parsed[Any]], str] = {
    parse_dumpsys_package: "PackageDump",
    parse_pm_list_packages: "tuple",
    parse_pm_path: "tuple",
    parse_user_list: "tuple",
    parse_dumpsys_user: "tuple",
    parse_getprop: "DeviceProps",
    parse_launcher_activities: "frozenset",
    parse_device_policy: "DevicePolicy",
    parse_power: "PowerState",
    parse_dumpsys_appops: "AppOpsDump",
    parse_appops_get: "tuple",
    parse_eventlog: "EventLog",
    parse_service_records: "tuple",
}
SEEDS = [
    P_DUMP,
    R_DUMP,
    U_DUMP,
    USER_LIST,
    USER_LIST_V,
    DUMPSYS_USER,
    GETPROP,
    POLICY_P,
    POLICY_U,
    POWER_ON,
    "package:com.a  installer=null uid:10001,1010001\n",
    "1 activities found:\n  Activity #0:\n    a.b/.C\n",
    # the event log as `logcat -b events -v epoch` prints it (process starts and deaths)
    "1795000000.123  1000  1201 I am_proc_start: [0,4321,10123,com.a,service,{com.a/com.a.S}]\n"
    "1795000000.456  1000  1201 I am_proc_died: [0,4321,com.a,900,17]\n",
]


def _captures() -> list[str]:
    """Real captures to mutate too, when ../shared is checked out (small ones only)."""
    root = SHARED / "android-samples"
    if not root.is_dir():
        return []
    texts = []
    for path in sorted(root.rglob("*.txt")):
        if path.stat().st_size <= 64_000:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return texts


ALL_SEEDS = SEEDS + _captures()
NASTY = [
    "\x00",
    "\x1b[31m",
    "\x1b]8;;http://x\x07",
    "\u202e",
    "\u2028",
    "\ufffd",
    "\r",
    "\t",
    "]",
    "[",
    ":",
    "=",
    "  Package [",
    "User 0:",
    "\n",
    "x" * 5000,
    "9" * 5000,  # more digits than int() accepts
    "\u00b2",  # "²": str.isdigit() says yes, int() says no
    "\u0665",  # an Arabic-Indic digit
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A seed text with lines deleted, duplicated, cut, or with hostile bytes inserted."""
    lines = draw(st.sampled_from(ALL_SEEDS)).split("\n")
    for _ in range(draw(st.integers(0, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "truncate", "insert", "replace"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, max(0, len(lines[i]))))]
        elif op == "insert":
            at = draw(st.integers(0, len(lines[i])))
            junk = draw(st.sampled_from(NASTY) | st.text(max_size=20))
            lines[i] = lines[i][:at] + junk + lines[i][at:]
        else:
            lines[i] = draw(st.text(max_size=40))
    text = "\n".join(lines)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]  # cut anywhere, mid-line included
    return text


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated())
def test_every_parser_is_total_on_mutated_text(text: str) -> None:
    # Real captures and seeds, cut, duplicated, interleaved with hostile bytes (escapes, RTL
    # overrides, NULs, huge runs): 1,000 cases, every parser on each; a typed value back,
    # never an exception.
    for parse in PARSERS:
        result = parse(text)
        assert isinstance(result, Parsed)
        assert type(result.value).__name__ == VALUE_TYPES[parse]
        assert all(len(w.line) <= 200 and w.line_no >= 1 for w in result.warnings)


@settings(max_examples=1000, deadline=None)
@given(text=st.text(max_size=300))
def test_every_parser_is_total_on_arbitrary_text(text: str) -> None:
    for parse in PARSERS:
        assert isinstance(parse(text), Parsed)


def test_warnings_are_bounded() -> None:
    text = "Packages:\n  Package [a.b] (1):\n" + "    ???\n" * (MAX_WARNINGS + 50)
    result = parse_dumpsys_package(text)
    assert len(result.warnings) == MAX_WARNINGS + 1
    assert result.warnings[-1].reason.startswith("50 more lines")


# ---------------------------------------------------------------------------- linear time


@contextmanager
def count_lines_executed() -> Iterator[list[int]]:
    """Count the Python lines executed inside agent.parsers (an operation count: no clock)."""
    counter = [0]

    def local(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            counter[0] += 1
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_globals.get("__name__", "").startswith("agent.parsers"):
            return local
        return None

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield counter
    finally:
        sys.settrace(old)


def _work(parse: Callable[[str], object], text: str) -> int:
    with count_lines_executed() as counter:
        parse(text)
    return counter[0]


BLOCK = P_DUMP[
    P_DUMP.index("  Package [com.example.notes]") : P_DUMP.index("  Package [com.example.provider]")
]


def _users(n: int) -> str:
    return "".join(f"    User {k}: ceDataInode={k} installed=true\n" for k in range(n))


def _uids(n: int) -> str:
    return "".join(
        f"  Uid u0a{k}:\n    state=cch\n    Package com.a{k}:\n      CAMERA (allow):\n"
        "        null=[\n          Access: [top-s] 2026-10-01 10:00:00.000 (-1s0ms)\n        ]\n"
        for k in range(n)
    )


def _proc_start(k: int) -> str:
    record = f"[0,{4000 + k},{10100 + k},com.a{k},service,{{com.a{k}/.S}}]"
    return f"1795000000.{k % 1000:03d}  1000  1201 I am_proc_start: {record}\n"


def _service(k: int) -> str:
    return f"  * ServiceRecord{{{k:x} u0 com.b{k}/.Svc c:com.a{k}}}\n"


def _dex(n: int) -> str:
    files = "".join(f"      /data/user/0/a/f{k}.apk (public)\n" for k in range(n))
    return "Dexopt state:\n  [a]\n    known secondary dex files:\n" + files


@pytest.mark.parametrize(
    ("parse", "make"),
    [
        (parse_dumpsys_package, lambda n: "Packages:\n" + BLOCK * n),
        (parse_dumpsys_package, lambda n: P_DUMP * n),
        (parse_pm_list_packages, lambda n: "package:a.b versionCode:1  installer=null uid:1\n" * n),
        (parse_user_list, lambda n: USER_LIST * n),
        (parse_dumpsys_user, lambda n: DUMPSYS_USER * n),
        (parse_getprop, lambda n: GETPROP * n),
        (parse_launcher_activities, lambda n: "a.b/.C\n" * n),
        (parse_device_policy, lambda n: POLICY_U * n),
        (parse_power, lambda n: POWER_ON * n),
        (split_dumpsys, lambda n: "DUMP OF SERVICE x:\n a\n" * n),
        # One block, many of one thing: no per-item scan of what was read before.
        (parse_dumpsys_package, lambda n: "Packages:\n  Package [a] (1):\n" + _users(n)),
        (parse_dumpsys_package, lambda n: _dex(n)),
        (parse_device_policy, lambda n: POLICY_U.replace("        wipe-data\n", "  x\n" * n)),
        (parse_dumpsys_appops, lambda n: "Current AppOps Service state:\n" + _uids(n)),
        (
            parse_appops_get,
            lambda n: "".join(f"OP_{k}: allow; time=+1s0ms ago\n" for k in range(n)),
        ),
        (parse_eventlog, lambda n: "".join(_proc_start(k) for k in range(n))),
        (parse_service_records, lambda n: "".join(_service(k) for k in range(n))),
    ],
)
def test_work_grows_linearly_with_the_number_of_lines(
    parse: Callable[[str], object], make: Callable[[int], str]
) -> None:
    small, large = _work(parse, make(50)), _work(parse, make(200))
    assert small > 0  # the count is live (the tracer saw the parser's frames)
    assert large <= 4.5 * small, (small, large)


@pytest.mark.parametrize("parse", PARSERS)
def test_work_does_not_grow_with_the_length_of_a_line(parse: Callable[[str], object]) -> None:
    # Python-level work must not depend on how long a line is (no per-character loops).
    def text(n: int) -> str:
        return P_DUMP.replace("    versionName=4.2", "    versionName=" + "\u202e\x00[" * n)

    assert _work(parse, text(10_000)) <= _work(parse, text(100)) + 50


def _best_time(parse: Callable[[str], object], text: str) -> float:
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        parse(text)
        runs.append(time.perf_counter() - start)
    return min(runs)


def _long_lines(n: int) -> str:
    return (
        "Packages:\n  Package [a] (1):\n    versionName="
        + "a=[ :" * n
        + "\n"
        + ("[k]: [" + "v]" * n + "\n")
    )


def _forged_overlays(n: int) -> str:
    # Every block moves the line-number origin (a column-0 overlay title) and then warns.
    block = (
        "  Package [a.b] (1):\n    userId=1\n    User 0: installed=true\n"
        "x overlay paths:\n      /p\n    ???\n"
    )
    return "Packages:\n" + block * n


@pytest.mark.parametrize(
    ("parse", "make"),
    [*((parse, _long_lines) for parse in PARSERS), (parse_dumpsys_package, _forged_overlays)],
)
def test_c_level_work_grows_in_proportion(
    parse: Callable[[str], object], make: Callable[[int], str]
) -> None:
    # C-level string work (str.count, find, split on megabyte lines) is invisible to the line
    # count above; compare two sizes of one input as a ratio only (never an absolute time),
    # best of three, with a generous bound: 8x the input may cost up to 24x the time (a
    # quadratic step would cost 64x).
    small, large = _best_time(parse, make(2_500)), _best_time(parse, make(20_000))
    assert large <= 24 * max(small, 1e-4), (small, large)
