"""Small, explicit simulated phones for unit tests of the command families.

Each phone has one package of every kind the package commands treat differently: a privileged
system app with SYSTEM_FIXED grants, an updated system app, a store-installed user app with
USER_SET grants, a legacy (targetSdk 22) app, two apps sharing a uid, an app without a launcher
icon, one that loads code at run time, and a device-admin app. Times are fixed so outputs are
stable.
"""

from __future__ import annotations

from agent.sim.state import ActiveAdmin, Build, DeviceState, OemPolicy, Package, User

P = "android.permission."
RELEASES = {28: "9", 29: "10", 30: "11", 31: "12", 32: "12", 33: "13", 34: "14", 35: "15"}
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
DAY = 86_400_000

INSTALL = [P + "INTERNET", P + "ACCESS_NETWORK_STATE", P + "WAKE_LOCK"]


def _sensitive(sdk: int) -> set[str]:
    # Q+ marks every user-visible runtime permission (appops doc §3.1).
    return {"USER_SENSITIVE_WHEN_GRANTED", "USER_SENSITIVE_WHEN_DENIED"} if sdk >= 29 else set()


def make_state(
    sdk: int = 35,
    *,
    oem: OemPolicy | None = None,
    work_profile: bool = False,
    extra_apps: int = 0,
) -> DeviceState:
    """A phone of API level ``sdk`` with the packages described in the module docstring."""
    build = Build(release=RELEASES[sdk], sdk=sdk)
    state = DeviceState(build, oem)
    state.boot_ms = T0
    state.clock_offset_ms = T0 + 3_600_000 - state.now_ms()  # "now" is one hour after boot
    users = [0]
    if work_profile:
        state.users[10] = User(
            10, "Work profile", flags=0x1030, type="android.os.usertype.profile.MANAGED", parent=0
        )
        users.append(10)
    sens = _sensitive(sdk)

    def add(pkg: Package, grants: dict[str, set[str]], ungranted: dict[str, set[str]]) -> None:
        state.install(pkg, users=users)
        for user in users:
            for perm, flags in grants.items():
                state.grant(pkg.name, user, perm, flags)
            for perm, flags in ungranted.items():
                if flags:
                    state.update_permission_flags(pkg.name, user, perm, add=flags)

    add(
        Package(
            "com.android.vending",
            10_111,
            version_code=84_021_000,
            version_name="40.2.1",
            code_path="/system/priv-app/Phonesky/Phonesky.apk",
            system=True,
            priv=True,
            first_install_ms=T0 - 400 * DAY,
            last_update_ms=T0 - 400 * DAY,
            signing_digests=["a" * 64],
            target_sdk=sdk,
            min_sdk=sdk,
            requested=[P + "READ_CONTACTS", *INSTALL],
            install_granted=INSTALL,
            launcher_activity=".AssetBrowserActivity",
        ),
        {P + "READ_CONTACTS": {"SYSTEM_FIXED", "GRANTED_BY_DEFAULT"}},
        {},
    )
    add(
        Package(
            "com.android.chrome",
            10_112,
            version_code=661_308_832,
            version_name="130.0.6723.102",
            code_path="/data/app/~~FS_JvbO7Z2hwgeaH_W58TQ==/com.android.chrome-SF==/base.apk",
            system=True,
            updated_system=True,
            installer="com.android.vending",
            initiating="com.android.vending",
            first_install_ms=T0 - 400 * DAY,
            last_update_ms=T0 - 3 * DAY,
            signing_digests=["b" * 64],
            target_sdk=min(sdk, 34),
            requested=[P + "CAMERA", P + "RECORD_AUDIO", *INSTALL],
            install_granted=INSTALL,
            launcher_activity="com.google.android.apps.chrome.Main",
            splits=["config.arm64_v8a", "config.xxhdpi"],
        ),
        {P + "CAMERA": {"USER_SET"} | sens},
        {P + "RECORD_AUDIO": sens},
    )
    add(
        Package(
            "com.example.chat",
            10_150,
            version_code=4012,
            version_name="4.0.12",
            code_path="/data/app/~~q2Vx1c==/com.example.chat-Zm9v==/base.apk",
            installer="com.android.vending",
            initiating="com.android.vending",
            package_source=2,
            first_install_ms=T0 - 30 * DAY,
            last_update_ms=T0 - 2 * DAY,
            signing_digests=["c" * 64],
            target_sdk=min(sdk, 34),
            requested=[
                P + "CAMERA",
                P + "RECORD_AUDIO",
                P + "ACCESS_FINE_LOCATION",
                P + "READ_EXTERNAL_STORAGE",
                P + "RECEIVE_BOOT_COMPLETED",
                *INSTALL,
            ],
            install_granted=[*INSTALL, P + "RECEIVE_BOOT_COMPLETED"],
            declared=["com.example.chat.permission.C2D_MESSAGE"],
            boot_receivers=[".BootReceiver"],
        ),
        {P + "CAMERA": {"USER_SET"} | sens, P + "RECORD_AUDIO": {"USER_SET"} | sens},
        {P + "ACCESS_FINE_LOCATION": sens, P + "READ_EXTERNAL_STORAGE": sens},
    )
    add(
        Package(
            "com.example.legacy",
            10_151,
            version_code=7,
            code_path="/data/app/~~bGVn==/com.example.legacy-YWJj==/base.apk",
            first_install_ms=T0 - 10 * DAY,
            last_update_ms=T0 - 10 * DAY,
            signing_digests=["d" * 64],
            target_sdk=22,
            min_sdk=19,
            requested=[P + "CAMERA", P + "INTERNET"],
            install_granted=[P + "INTERNET"],
        ),
        {P + "CAMERA": set()},
        {},
    )
    for name in ("com.example.suite.mail", "com.example.suite.calendar"):
        add(
            Package(
                name,
                10_160,
                code_path=f"/data/app/~~c3VpdGU=/{name}-MQ==/base.apk",
                first_install_ms=T0 - 5 * DAY,
                last_update_ms=T0 - 5 * DAY,
                signing_digests=["e" * 64],
                target_sdk=min(sdk, 34),
                requested=[P + "READ_CALENDAR", *INSTALL],
                install_granted=INSTALL,
                shared_user="com.example.suite.shared",
            ),
            {P + "READ_CALENDAR": {"USER_SET"} | sens},
            {},
        )
    add(
        Package(
            "com.example.hidden",
            10_170,
            code_path="/data/app/~~aGlk==/com.example.hidden-aGlk==/base.apk",
            installer=None,
            initiating="com.android.shell",
            package_source=1,
            first_install_ms=T0 - DAY,
            last_update_ms=T0 - DAY,
            signing_digests=["f" * 64],
            target_sdk=min(sdk, 34),
            requested=[P + "RECORD_AUDIO", *INSTALL],
            install_granted=INSTALL,
            launcher_activity=None,
            secondary_dex=["/data/user/0/com.example.hidden/app_cache/7f3a/payload.jar"],
            boot_receivers=["com.example.hidden.Autostart"],
        ),
        {P + "RECORD_AUDIO": sens},
        {},
    )
    add(
        Package(
            "com.example.mdm",
            10_180,
            code_path="/data/app/~~bWRt==/com.example.mdm-bWRt==/base.apk",
            installer="com.android.vending",
            first_install_ms=T0 - 60 * DAY,
            last_update_ms=T0 - 60 * DAY,
            signing_digests=["0" * 64],
            target_sdk=min(sdk, 34),
            requested=[P + "ACCESS_FINE_LOCATION", *INSTALL],
            install_granted=INSTALL,
            admin_receiver=".AdminReceiver",
        ),
        {P + "ACCESS_FINE_LOCATION": {"POLICY_FIXED"} | sens},
        {},
    )
    state.admins.append(ActiveAdmin(0, "com.example.mdm/.AdminReceiver"))
    for i in range(extra_apps):
        name = f"com.example.filler{i:05d}"
        state.install(
            Package(
                name,
                20_000 + i,
                code_path=f"/data/app/~~ZmlsbA==/{name}-MQ==/base.apk",
                first_install_ms=T0,
                last_update_ms=T0,
                signing_digests=[format(i, "064x")],
                requested=[P + "CAMERA", *INSTALL],
                install_granted=INSTALL,
            ),
            users=users,
        )
        state.grant(name, 0, P + "CAMERA", {"USER_SET"} | sens)
    state.change_seq = 0
    state.package_changes.clear()
    return state
