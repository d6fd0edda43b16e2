"""The simulated package manager, users and device policy against real captures and real texts.

Structure tests normalise every line to a *shape* (indentation, keys and punctuation kept;
names, paths, numbers, hashes, dates and flag words abstracted) and require each shape the
simulator prints to occur in a real capture of the same Android version. Captures live in
``../shared/android-samples`` (never copied into this repository); tests that need them skip
with a reason when that directory is absent.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from agent.sim.android import Registry
from agent.sim.android import packages as pm
from agent.sim.shell import ShellIO
from agent.sim.state import DeviceState, OemPolicy, Package
from tests.sim_state_fixtures import INSTALL, P, make_state

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "android-samples"
DOCS = SHARED / "docs"

needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"real captures not found at {SAMPLES} (CI checks out ../shared)"
)


# ------------------------------------------------------------------------------ harness


class Phone:
    """A registry with the packages family installed, driven like a shell would."""

    def __init__(self, state: DeviceState) -> None:
        self.state = state
        self.reg = Registry(state)
        pm.install(self.reg)

    async def run(self, line: str) -> tuple[int, str, str]:
        words = line.split()
        io = ShellIO()
        if words[0] == "dumpsys":
            rc = await self.reg.dumpsys[words[1]](words[2:], io)
        elif words[0] == "cmd":
            rc = await self.reg.cmd[words[1]](words[2:], io)
        elif words[0] == "pm":
            rc = await self.reg.cmd["package"](words[1:], io)
        elif words[0] == "dpm":
            rc = await self.reg.cmd["device_policy"](words[1:], io)
        else:
            raise AssertionError(line)
        return rc & 0xFF, io.stdout.decode(), io.stderr.decode()

    async def out(self, line: str) -> str:
        rc, out, err = await self.run(line)
        assert rc == 0, (line, rc, out, err)
        return out


def phone(
    sdk: int = 35,
    *,
    oem: OemPolicy | None = None,
    work_profile: bool = False,
    extra_apps: int = 0,
) -> Phone:
    return Phone(make_state(sdk, oem=oem, work_profile=work_profile, extra_apps=extra_apps))


# ------------------------------------------------------------------------------ line shapes

_COMPONENT = re.compile(r"[A-Za-z][\w$]*(?:\.[\w$]+)+/\.?[\w$]+(?:\.[\w$]+)*")


def shape(line: str) -> str:
    """Indentation + keys + punctuation; values abstracted (see module docstring).

    Placeholders are lower-case in angle brackets so later rules (flag words, hex hashes)
    cannot match inside them.
    """
    line = line.rstrip()
    indent = len(line) - len(line.lstrip(" "))
    body = line.strip()
    rules = [
        (r"\{[^{}]*\}", "{}"),  # Package{...}, PackageSignatures{...}, ComponentInfo{...}
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<date>"),
        (r"\[(status|reason)=[^\]]*\]", r"[\1=*]"),
        (r"(?<=ingerprint=)\S+", "<fp>"),  # build fingerprints vary in shape
        (r"(?<=versionName=)\S+", "<ver>"),
        (r"(?<=\bname=).*", "<text>"),  # free text (device owner names)
        (_COMPONENT.pattern, "<comp>"),
        (r"(?<![\w.])/[^\s\[\],]*", "<path>"),
        (r"[A-Za-z_][\w$]*(?:\.[\w$-]+)+", "<n>"),
        (r"<n>(?:, <n>)*", "<names>"),
        (r"\b[A-Z][A-Z0-9_]{2,}\b", "<f>"),
        (r"<f>(?:\|<f>)+", "<f>|<f>"),
        (r"<f>(?: <f>)+", "<f> <f>"),
        (r"\b(?:true|false|null)\b", "<v>"),
        (r"0x[0-9a-fA-F]+", "<hex>"),
        (r"(?<==)-?\d+\b", "<num>"),
        (r"(?<=: )\d+\b|(?<= - )\d+\b", "<num>"),
        (r"\b[0-9a-f]{5,8}\b", "<h>"),
        (r"-?\d+", "<num>"),
        (r"<num>(?:, <num>)+", "<num>"),
    ]
    for pattern, replacement in rules:
        body = re.sub(pattern, replacement, body)
    return f"{indent}|{body}"


def shapes(text: str) -> set[str]:
    return {shape(line) for line in text.splitlines() if line.strip()}


def headers(text: str) -> list[str]:
    """Top-level section titles (``Packages:``), in order."""
    out = []
    for line in text.splitlines():
        line = line.rstrip()
        if re.fullmatch(r"[A-Z][A-Za-z0-9 ,()]*:", line):
            out.append(line)
    return out


def in_order(found: list[str], reference: list[str]) -> bool:
    positions = [reference.index(h) for h in found if h in reference]
    return positions == sorted(positions)


def missing_shapes(sim: str, allowed: set[str]) -> list[str]:
    """Sim lines whose shape no real line has (with an example line each)."""
    seen: dict[str, str] = {}
    for line in sim.splitlines():
        if line.strip() and shape(line) not in allowed:
            seen.setdefault(shape(line), line)
    return [f"{s!r}  e.g. {line!r}" for s, line in seen.items()]


@cache
def sample(rel: str) -> str:
    return (SAMPLES / rel).read_text(encoding="utf-8", errors="replace")


def sample_section(rel: str, start: str, end: str) -> str:
    text = sample(rel)
    begin = text.index(start)
    return text[begin : text.index(end, begin)]


FIRE9 = "appops-perms/fireos_kftrwi_a9_dumpsys_package_full.txt"
SAMSUNG10 = "appops-perms/mvt_samsung-a40_a10_dumpsys_package_excerpt.txt"
LINEAGE11 = [
    f"packages/spytrap-adb_lineageos-a11/dumpsys_package_{n}.txt"
    for n in ("contacts", "fdroid", "gpstest")
]
PIXEL15 = "packages/poweradb_pixel8_a15/dumpsys_package_sections_excerpt.txt"


def a10_text() -> str:
    qf = sample_section(
        "packages/mvt_tests/androidqf__dumpsys.txt", "DUMP OF SERVICE package:", "---------"
    )
    return sample(SAMSUNG10) + "\n" + qf.split("\n", 1)[1]


def a14_doc_block() -> str:
    """The real Android 14 package-block excerpt quoted in docs §1.5."""
    doc = (DOCS / "android-packages-installs.md").read_text(encoding="utf-8")
    start = doc.index("Example (Android 14, excerpt of a real capture")
    block = doc[doc.index("```", start) + 3 :]
    return block[: block.index("```")].replace("…", "x")


# ------------------------------------------------------------------------------ 1. structure


@cache
def a9() -> set[str]:
    return shapes(sample(FIRE9))


@cache
def a10() -> set[str]:
    return shapes(a10_text())


@cache
def a11() -> set[str]:
    return set().union(*(shapes(sample(f)) for f in LINEAGE11))


@cache
def later() -> set[str]:
    """Shapes seen on 11 or later (LineageOS 11, Pixel 15 excerpt, A14 doc excerpt)."""
    return a11() | shapes(sample(PIXEL15)) | shapes(a14_doc_block())


SOURCES = {"A9": a9, "A10": a10, "A11": a11}


def borrowed(examples: dict[str, str]) -> set[str]:
    """Shapes of lines printed by the same code on another version; each example line must
    itself match that version's real capture, so nothing is accepted on faith."""
    out = set()
    for line, source in examples.items():
        assert shape(line) in SOURCES[source](), (line, source)
        out.add(shape(line))
    return out


@needs_samples
async def test_android9_full_dump_matches_fire_os_capture() -> None:
    real = sample(FIRE9)
    # The Fire tablet has no verifier package; the same line with one is real on 10.
    allowed = a9() | borrowed({"  Required: com.android.vending (uid=10019)": "A10"})
    sim = await phone(28).out("dumpsys package")
    assert missing_shapes(sim, allowed) == []
    assert set(headers(sim)) <= set(headers(real))
    assert in_order(headers(sim), headers(real))


@needs_samples
async def test_android10_full_dump_matches_samsung_captures() -> None:
    # The Samsung excerpts are trimmed: a line printed identically on 9 and on 11+ counts as
    # real for 10 too (it exists on both sides of it); anything else must be in the A10 text.
    allowed = a10() | (a9() & later())
    allowed |= borrowed(
        {
            "        android.permission.RECORD_AUDIO: granted=true": "A9",
            "Hidden system packages:": "A9",
            "    splits=[base, config.arm64_v8a, config.hdpi]": "A9",
            # DexManager's pre-ART-Service layout, as on 9.
            "      known secondary dex files:": "A9",
            "        /data/user/0/com.google.android.youtube/app_pccache2/5/pcam.jar": "A9",
            "          class loader context: PCL[];PCL[/data/app/x/base.apk]": "A9",
        }
    )
    sim = await phone(29).out("dumpsys package")
    assert missing_shapes(sim, allowed) == []
    assert in_order(headers(sim), headers(sample(FIRE9)))
    # Only the androidqf block is a whole dump; the MVT excerpt's sections were reordered.
    qf = sample_section(
        "packages/mvt_tests/androidqf__dumpsys.txt", "DUMP OF SERVICE package:", "--------- "
    )
    assert in_order(headers(sim), headers(qf))


@needs_samples
@pytest.mark.parametrize("sdk", [30, 31, 32])
@pytest.mark.parametrize(
    "package", ["com.example.chat", "com.android.vending", "com.example.legacy"]
)
async def test_android11_12_per_package_dump_matches_lineage_capture(
    sdk: int, package: str
) -> None:
    # 12/12L keep the R layout here (unverified: no 12 capture in the sample set).
    reals = [sample(f) for f in LINEAGE11]
    allowed = a11() | borrowed(
        {
            # Settings.dumpPackageLPr prints these the same way on 9, 10 and 15 (AOSP-A16).
            "    declared permissions:": "A10",
            "      com.example.permission.X: prot=signature, INSTALLED": "A9",
            # permissionFlagsToString prints nothing when no flag is set, on every version.
            "        android.permission.RECORD_AUDIO: granted=true": "A9",
        }
    )
    sim = await phone(sdk).out(f"dumpsys package {package}")
    assert missing_shapes(sim, allowed) == []
    assert in_order(headers(sim), headers(reals[0]))
    assert set(headers(sim)) <= set(headers(reals[0]))


# Lines of an Android 15 Package block that no 15 capture shows (the Pixel excerpt has no
# Packages section): AOSP-A16 Settings.dumpPackageLPr prints them. Unverified on a device.
SOURCE_ONLY_15 = [
    "    extractNativeLibs=false",
    "    cpuAbiOverride=null",
    "    minExtensionVersions=[]",
    "    hiddenApiEnforcementPolicy=2",
    "    usesNonSdkApi=false",
    "    installerPackageName=null",
    "    initiatingPackageName=null",
    "    appMetadataFilePath=null",
    "    User 0: ceDataInode=1 installed=true hidden=false suspended=false distractionFlags=0 "
    "stopped=false notLaunched=false enabled=0 instant=false virtual=false quarantined=false",
    "      dataDir=/data/user/0/com.example",
    # Package Changes / Dexopt headers and the "Sequence number" indent: the extraction kept
    # only comment lines, so these header lines are missing or shifted in the excerpt.
    "Package Changes:",
    "  Sequence number=4952",
    "Dexopt state:",
    # No shared libraries in the class path, so no "{...}" part (format as in the 9 capture).
    "        class loader context: PCL[];PCL[/data/app/x/base.apk]",
]


@needs_samples
async def test_android15_full_dump_matches_pixel_capture_and_a14_excerpt() -> None:
    real = sample(PIXEL15)
    # Lines printed identically on 9 and on 11+ are taken as stable; the negative checks
    # below catch the ones 14/15 changed.
    allowed = shapes(real) | shapes(a14_doc_block()) | (a9() & later())
    allowed |= {shape(line) for line in SOURCE_ONLY_15}
    allowed |= borrowed(
        {
            "        android.permission.RECORD_AUDIO: granted=true": "A9",
            "    declared permissions:": "A10",
            "      com.example.permission.X: prot=signature, INSTALLED": "A9",
            "    sharedUser=SharedUserSetting{cb92b86 android.uid.system/1000}": "A10",
            "  Required: com.android.vending (uid=10019)": "A10",
            "  queries via package name:": "A11",
            "  queryable via interaction:": "A11",
            "    forceQueryable=false": "A11",
            "    splits=[base, config.arm64_v8a, config.hdpi]": "A9",
            "Hidden system packages:": "A9",
            # IntentResolver.dump in a full dump (no per-filter lines), as on 9.
            "        5ae83a1 com.kingsoft.office.amz/cn.wps.moffice.PreStartActivity2": "A9",
        }
    )
    allowed |= {shape("  queries via component:")}  # AOSP-A16 AppsFilter dump; unverified
    sim = await phone(35).out("dumpsys package")
    assert missing_shapes(sim, allowed) == []
    # The excerpt keeps real order from Queries to the install sessions; later blocks were
    # pasted in a different order by its author.
    block = real[real.index("Queries:") : real.index("Gentle update")]
    assert in_order(headers(sim), headers(block))
    # What 15 no longer prints (appId rename, per-user install time, installer block).
    assert not re.search(r"^    (userId|firstInstallTime|applicationInfo)=", sim, re.M)
    assert "    installerPackageUid=" in sim


@needs_samples
def test_a15_reference_order_agrees_with_capture() -> None:
    block = sample(PIXEL15)
    block = block[block.index("Queries:") : block.index("Gentle update")]
    got = headers(block)
    for a, b in [("Queries:", "Shared users:"), ("Frozen packages:", "Loaded volumes:")]:
        assert got.index(a) < got.index(b)
    assert "Finalized install sessions:" in got


@needs_samples
def test_shape_check_detects_a_wrong_flags_format() -> None:
    """The structure tests can fail: Q-style flags in a P dump are not a real P line."""
    real = shapes(sample(FIRE9))
    good = "        android.permission.CAMERA: granted=true, flags=[ USER_SET USER_FIXED ]"
    bad = "        android.permission.CAMERA: granted=true, flags=[ USER_SET|USER_FIXED]"
    assert missing_shapes(good, real) == []
    assert missing_shapes(bad, real) != []
    assert missing_shapes("    appId=10123", real) != []  # T+ key in a P dump


@needs_samples
async def test_user_list_and_device_policy_match_fire_os_captures() -> None:
    p = phone(28)
    users = await p.out("cmd user list")
    assert (
        missing_shapes(users, shapes(sample("appops-perms/fireos_kftrwi_a9_cmd_user_list.txt")))
        == []
    )
    p.state.profile_owners[0] = "com.example.mdm/.AdminReceiver"
    policy = await p.out("dumpsys device_policy")
    real = sample("appops-perms/fireos_kftrwi_a9_dumpsys_device_policy.txt")
    assert missing_shapes(policy, shapes(real)) == []


@pytest.mark.parametrize("sdk", [31, 32])
async def test_android12_formats_per_docs(sdk: int) -> None:
    out = await phone(sdk).out("dumpsys package com.example.chat")
    assert "    userId=10150\n" in out
    assert re.search(r"^    firstInstallTime=\d{4}-", out, re.M)  # 12L: still package-level
    assert "distractionFlags=0 stopped=" in out
    assert "android.permission.READ_EXTERNAL_STORAGE: restricted=true\n" in out
    assert "installerPackageUid=" not in out
    assert "flags=[ USER_SET|USER_SENSITIVE_WHEN_GRANTED|USER_SENSITIVE_WHEN_DENIED]" in out


async def test_android13_formats_per_docs() -> None:
    # Unverified on a real 13 device: docs place the appId/per-user move "in 13 or 14".
    out = await phone(33).out("dumpsys package com.example.chat")
    assert "    appId=10150\n" in out
    assert not re.search(r"^    firstInstallTime=", out, re.M)
    assert re.search(r"^      firstInstallTime=\d{4}-", out, re.M)
    assert "    installerPackageName=com.android.vending\n" in out
    assert "installerPackageUid=" not in out


async def test_android14_formats_per_docs() -> None:
    p = phone(34)
    out = await p.out("dumpsys package com.example.hidden")
    block = out[out.index("    timeStamp=") : out.index("    signatures=")]
    keys = [line.split("=")[0].strip() for line in block.splitlines()]
    assert keys == [
        "timeStamp",
        "lastUpdateTime",
        "installerPackageName",
        "installerPackageUid",
        "initiatingPackageName",
        "originatingPackageName",
        "packageSource",
        "appMetadataFilePath",
    ]
    assert "installerPackageName=null\n    installerPackageUid=-1\n" in out
    assert "initiatingPackageName=com.android.shell\n" in out
    user = re.search(r"^    User 0: (.*)\n((?:      .*\n)*)", out, re.M)
    assert user is not None
    assert user.group(1).endswith("enabled=0 instant=false virtual=false")
    assert user.group(2).startswith("      installReason=0\n      firstInstallTime=")
    assert "      uninstallReason=0\n" in user.group(2)
    assert "      known secondary dex files:" not in out  # ART Service layout from 14
    assert "    known secondary dex files:\n      /data/user/0/com.example.hidden/" in out


@pytest.mark.parametrize("sdk", [28, 29, 30, 31, 32, 33, 34, 35])
async def test_every_version_prints_sections_in_a_real_order(sdk: int) -> None:
    reference = [
        "Database versions:",
        "Verifiers:",
        "Domain Verifier:",
        "Intent Filter Verifier:",
        "Activity Resolver Table:",
        "Receiver Resolver Table:",
        "Key Set Manager:",
        "Packages:",
        "Hidden system packages:",
        "Queries:",
        "Shared users:",
        "Package Changes:",
        "Frozen packages:",
        "Loaded volumes:",
        "Dexopt state:",
        "Compiler stats:",
        "Active install sessions:",
        "Finalized install sessions:",
        "Historical install sessions:",
        "Legacy install sessions:",
    ]
    got = headers(await phone(sdk).out("dumpsys package"))
    assert set(got) <= set(reference)
    assert in_order(got, reference)
    assert ("Queries:" in got) == (sdk >= 30)


# ------------------------------------------------------------------------------ 2. behaviour


def runtime_line(dump: str, package: str, perm: str, user: int = 0) -> str:
    block = dump[dump.index(f"Package [{package}]") :]
    block = block[block.index(f"    User {user}:") :]
    match = re.search(rf"^        {re.escape(perm)}: (.*)$", block, re.M)
    assert match is not None, (package, perm)
    return match.group(1)


@pytest.mark.parametrize("sdk", [28, 29, 30, 33, 35])
async def test_grant_and_revoke_change_the_dump_and_keep_flags(sdk: int) -> None:
    p = phone(sdk)
    mic = P + "RECORD_AUDIO"
    assert await p.out(f"pm revoke com.example.chat {mic}") == ""
    line = runtime_line(await p.out("dumpsys package com.example.chat"), "com.example.chat", mic)
    flags = "flags=[ USER_SET ]" if sdk == 28 else "flags=[ USER_SET|USER_SENSITIVE_WHEN_GRANTED"
    assert line.startswith("granted=false") and flags in line
    await p.out(f"cmd package grant --user 0 com.example.chat {mic}")
    line = runtime_line(await p.out("dumpsys package com.example.chat"), "com.example.chat", mic)
    assert line.startswith("granted=true")


async def test_pie_omits_ungranted_permissions_without_flags() -> None:
    p = phone(28)
    await p.out(f"pm grant com.example.chat {P}ACCESS_FINE_LOCATION")
    await p.out(f"pm revoke com.example.chat {P}ACCESS_FINE_LOCATION")
    dump = await p.out("dumpsys package com.example.chat")
    assert f"        {P}ACCESS_FINE_LOCATION:" not in dump
    assert f"        {P}CAMERA: granted=true, flags=[ USER_SET ]\n" in dump


async def test_revoke_kills_the_app() -> None:
    p = phone(35)
    proc = p.state.start_process("com.example.chat", 0, reason="activity", component="x/.y")
    await p.out(f"pm revoke com.example.chat {P}CAMERA")
    assert proc.pid not in p.state.processes
    assert any(e.tag == "am_kill" and e.values[1] == proc.pid for e in p.state.events)


async def test_revoke_of_an_ungranted_permission_kills_nothing() -> None:
    p = phone(35)
    proc = p.state.start_process("com.example.chat", 0, reason="activity", component="x/.y")
    await p.out(f"pm revoke com.example.chat {P}ACCESS_FINE_LOCATION")
    assert proc.pid in p.state.processes


@pytest.mark.parametrize(
    ("sdk", "head"),
    [
        (28, "Security exception: Non-System UID cannot revoke system fixed permission"),
        (29, "Security exception: Non-System UID cannot revoke system fixed permission"),
        (30, "\nException occurred while executing 'revoke':\njava.lang.SecurityException: "),
        (35, "\nException occurred while executing 'revoke':\njava.lang.SecurityException: "),
    ],
)
async def test_system_fixed_revoke_is_refused_with_the_real_text(sdk: int, head: str) -> None:
    p = phone(sdk)
    rc, out, err = await p.run(f"pm revoke com.android.vending {P}READ_CONTACTS")
    assert (rc, out) == (255, "")
    assert err.startswith(head)
    assert (
        f"Non-System UID cannot revoke system fixed permission {P}READ_CONTACTS "
        "for package com.android.vending\n"
    ) in err
    assert "\tat " in err
    assert p.state.packages["com.android.vending"].users[0].permissions[P + "READ_CONTACTS"].granted


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            f"pm revoke com.example.mdm {P}ACCESS_FINE_LOCATION",
            f"java.lang.SecurityException: Cannot revoke policy fixed permission "
            f"{P}ACCESS_FINE_LOCATION for package com.example.mdm",
        ),
        (
            f"pm grant no.such.app {P}CAMERA",
            "java.lang.IllegalArgumentException: Unknown package: no.such.app",
        ),
        (
            f"pm grant com.example.chat {P}READ_SMS",
            f"java.lang.SecurityException: Package com.example.chat has not requested "
            f"permission {P}READ_SMS",
        ),
        (
            f"pm grant com.example.chat {P}INTERNET",
            f"java.lang.SecurityException: Permission {P}INTERNET requested by "
            "com.example.chat is not a changeable permission type",
        ),
        (
            "pm grant com.example.chat android.permission.NOPE",
            "java.lang.IllegalArgumentException: Unknown permission: android.permission.NOPE",
        ),
    ],
)
async def test_permission_refusals(command: str, message: str) -> None:
    rc, out, err = await phone(33).run(command)
    assert rc == 255 and out == ""
    assert f"\nException occurred while executing '{command.split()[1]}':\n{message}\n" in err


async def test_argument_errors_go_to_stderr_with_status_1() -> None:
    p = phone(35)
    assert await p.run("pm grant") == (1, "", "Error: no package specified\n")
    assert await p.run("pm revoke com.example.chat") == (1, "", "Error: no permission specified\n")


async def test_legacy_app_revoke_is_a_no_op() -> None:
    p = phone(35)
    await p.out(f"pm revoke com.example.legacy {P}CAMERA")
    assert p.state.packages["com.example.legacy"].users[0].permissions[P + "CAMERA"].granted


async def test_shared_uid_permissions_move_together_and_print_under_shared_users() -> None:
    p = phone(30)
    await p.out(f"pm revoke com.example.suite.mail {P}READ_CALENDAR")
    for name in ("com.example.suite.mail", "com.example.suite.calendar"):
        assert not p.state.packages[name].users[0].permissions[P + "READ_CALENDAR"].granted
    dump = await p.out("dumpsys package")
    suite = dump[dump.index("  SharedUser [com.example.suite.shared]") :]
    assert f"        {P}READ_CALENDAR: granted=false, flags=[ USER_SET|" in suite
    block = dump[dump.index("  Package [com.example.suite.mail]") :]
    block = block[: block.index("  Package [", 5)]
    assert "sharedUser=SharedUserSetting{" in block and "runtime permissions:" not in block


async def test_uninstall_keep_data_for_user_then_install_existing_restores() -> None:
    p = phone(35)
    assert "package:com.example.chat\n" in await p.out("pm list packages --user 0")
    assert await p.run("pm uninstall -k --user 0 com.example.chat") == (0, "Success\n", "")
    assert "com.example.chat" not in await p.out("pm list packages --user 0")
    assert "package:com.example.chat\n" in await p.out("pm list packages -u --user 0")
    rc, out, _ = await p.run("cmd package install-existing --user 0 com.example.chat")
    assert (rc, out) == (0, "Package com.example.chat installed for user: 0\n")
    assert "package:com.example.chat\n" in await p.out("pm list packages --user 0")
    # Keeping data keeps the grants.
    assert p.state.packages["com.example.chat"].users[0].permissions[P + "CAMERA"].granted


async def test_uninstall_failures_and_system_app_removed_for_user() -> None:
    p = phone(30)
    assert await p.run("pm uninstall com.android.vending") == (
        1,
        "Failure [DELETE_FAILED_INTERNAL_ERROR]\n",
        "",
    )
    assert await p.run("pm uninstall no.such.app") == (
        1,
        "Failure [DELETE_FAILED_INTERNAL_ERROR]\n",
        "",
    )
    assert await p.run("pm uninstall --user 0 com.android.vending") == (0, "Success\n", "")
    assert "com.android.vending" not in await p.out("pm list packages -s --user 0")
    assert "com.android.vending" in await p.out("pm list packages -s -u --user 0")
    assert await p.run("pm uninstall --user 0 com.android.vending") == (
        1,
        "Failure [not installed for 0]\n",
        "",
    )
    assert "package:com.android.vending\n" in await p.out("pm list packages -u --user 0")


async def test_uninstall_of_updated_system_app_rolls_back() -> None:
    p = phone(35)
    assert await p.out("pm uninstall com.android.chrome") == "Success\n"
    chrome = p.state.packages["com.android.chrome"]
    assert not chrome.updated_system and chrome.users[0].installed
    assert "Hidden system packages:" not in await p.out("dumpsys package")


async def test_device_admin_blocks_uninstall_until_test_admin_removed() -> None:
    p = phone(35)
    assert await p.run("pm uninstall com.example.mdm") == (
        1,
        "Failure [DELETE_FAILED_DEVICE_POLICY_MANAGER]\n",
        "",
    )
    assert await p.run("pm uninstall --user 0 com.example.mdm") == (
        1,
        "Failure [DELETE_FAILED_DEVICE_POLICY_MANAGER]\n",
        "",
    )
    rc, out, err = await p.run("dpm remove-active-admin com.example.mdm/.AdminReceiver")
    assert (rc, out) == (255, "")
    assert err.startswith(
        "\nException occurred while executing 'remove-active-admin':\n"
        "java.lang.SecurityException: Attempt to remove non-test admin "
        "ComponentInfo{com.example.mdm/com.example.mdm.AdminReceiver} 0\n"
    )
    p.state.admins[0].test_only = True
    rc, out, _ = await p.run("dpm remove-active-admin --user 0 com.example.mdm/.AdminReceiver")
    assert (rc, out) == (
        0,
        "Success: Admin removed ComponentInfo{com.example.mdm/com.example.mdm.AdminReceiver}\n",
    )
    assert await p.out("pm uninstall com.example.mdm") == "Success\n"
    assert "com.example.mdm" not in p.state.packages


async def test_old_dpm_prints_a_bare_stack_trace() -> None:
    rc, out, err = await phone(29).run("dpm remove-active-admin com.example.mdm/.AdminReceiver")
    assert (rc, out) == (1, "")
    assert err.startswith("java.lang.SecurityException: Attempt to remove non-test admin ")


async def test_old_dpm_usage_and_unknown_commands() -> None:
    p = phone(30)
    assert await p.run("dpm") == (0, "usage: dpm [subcommand] [options]\n", "")
    rc, out, err = await p.run("dpm frob")
    assert (rc, out) == (0, "") and err.endswith("\nError: unknown command 'frob'\n")
    assert await phone(31).run("dpm frob") == (255, "Unknown command: frob\n", "")


async def test_package_changes_sequence_moves_with_mutations() -> None:
    p = phone(30)
    assert "  Sequence number=0\n" in await p.out("dumpsys package changes")
    await p.out("pm uninstall --user 0 com.example.chat")
    await p.out("pm disable-user com.example.legacy")
    changes = await p.out("dumpsys package changes")
    assert changes == (
        "Package Changes:\n  Sequence number=2\n  User 0:\n"
        "    seq=0, package=com.example.chat\n    seq=1, package=com.example.legacy\n\n"
    )


async def test_disable_user_enable_and_refusals() -> None:
    p = phone(35)
    assert await p.out("pm disable-user --user 0 com.example.chat") == (
        "Package com.example.chat new state: disabled-user\n"
    )
    assert "com.example.chat" in await p.out("pm list packages -d --user 0")
    assert "com.example.chat" not in await p.out("pm list packages -e --user 0")
    assert (
        await p.out("pm enable com.example.chat") == "Package com.example.chat new state: enabled\n"
    )
    assert await p.out("pm default-state com.example.chat") == (
        "Package com.example.chat new state: default\n"
    )
    rc, _, err = await p.run("pm disable com.example.chat")
    assert (
        rc == 255
        and (
            "java.lang.SecurityException: Shell cannot change component state for "
            "com.example.chat/null to 2\n"
        )
        in err
    )
    rc, _, err = await p.run("pm disable-user com.example.chat/.BootReceiver")
    assert rc == 255 and "com.example.chat/com.example.chat.BootReceiver to 3" in err
    p.state.device_owner = "com.example.mdm/.AdminReceiver"
    rc, _, err = await p.run("pm disable-user com.example.mdm")
    assert rc == 255 and "Cannot disable a protected package: com.example.mdm\n" in err


async def test_disable_user_kills_the_app() -> None:
    p = phone(35)
    proc = p.state.start_process("com.example.chat", 0, reason="service", component="x/.y")
    await p.out("pm disable-user com.example.chat")
    assert proc.pid not in p.state.processes


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            "-3 --user 0",
            {
                "com.example.chat",
                "com.example.legacy",
                "com.example.hidden",
                "com.example.mdm",
                "com.example.suite.mail",
                "com.example.suite.calendar",
            },
        ),
        ("-s --user 0", {"com.android.vending", "com.android.chrome"}),
        ("--user 0 suite", {"com.example.suite.mail", "com.example.suite.calendar"}),
        ("--uid 10160 --user 0", {"com.example.suite.mail", "com.example.suite.calendar"}),
    ],
)
async def test_list_packages_filters(args: str, expected: set[str]) -> None:
    out = await phone(30).out(f"pm list packages {args}")
    names = {re.sub(r"^package:|[ =].*$", "", line) for line in out.splitlines()}
    assert names == expected


async def test_list_packages_line_format() -> None:
    p = phone(30)
    out = await p.out("pm list packages -f -i -U --show-versioncode --user 0 com.example.chat")
    assert out == (
        "package:/data/app/~~q2Vx1c==/com.example.chat-Zm9v==/base.apk=com.example.chat "
        "versionCode:4012  installer=com.android.vending uid:10150\n"
    )
    out = await p.out("pm list packages -i -U --user 0 com.android.vending")
    assert out == "package:com.android.vending  installer=null uid:10111\n"


async def test_list_packages_version_differences() -> None:
    assert await phone(28).run("pm list packages --show-versioncode") == (
        255,
        "Error: Unknown option: --show-versioncode\n",
        "",
    )
    assert await phone(28).run("pm list packages -3f") == (
        255,
        'Error: java.lang.IllegalArgumentException: No argument expected after "-3f"\n',
        "",
    )
    two_users = phone(35, work_profile=True)
    out = await two_users.out("pm list packages -U com.example.chat")  # all users by default
    assert out == "package:com.example.chat uid:10150,1010150\n"
    old = phone(30, work_profile=True)
    assert await old.out("pm list packages -U com.example.chat") == (
        "package:com.example.chat uid:10150\n"
    )
    assert await old.out("pm list packages -U --user 10 com.example.chat") == (
        "package:com.example.chat uid:1010150\n"
    )


async def test_path_prints_base_and_splits() -> None:
    p = phone(35)
    out = await p.out("pm path com.android.chrome")
    base = "/data/app/~~FS_JvbO7Z2hwgeaH_W58TQ==/com.android.chrome-SF=="
    assert out == (
        f"package:{base}/base.apk\npackage:{base}/split_config.arm64_v8a.apk\n"
        f"package:{base}/split_config.xxhdpi.apk\n"
    )
    assert await p.run("pm path no.such.app") == (1, "", "")


@pytest.mark.parametrize("sdk", [28, 35])
async def test_oem_blocks_permission_changes(sdk: int) -> None:
    p = phone(sdk, oem=OemPolicy("miui", blocks_permission_changes=True, blocks_install=True))
    rc, _, err = await p.run(f"pm grant com.example.chat {P}ACCESS_FINE_LOCATION")
    assert rc == 255
    assert (
        "java.lang.SecurityException: grantRuntimePermission: Neither user 2000 nor current "
        "process has android.permission.GRANT_RUNTIME_PERMISSIONS.\n"
    ) in err
    rc, _, err = await p.run(f"pm revoke com.example.chat {P}CAMERA")
    assert (
        "revokeRuntimePermission: Neither user 2000 nor current process has "
        "android.permission.REVOKE_RUNTIME_PERMISSIONS." in err
    )
    assert p.state.packages["com.example.chat"].users[0].permissions[P + "CAMERA"].granted
    rc, out, _ = await p.run("pm install-existing com.example.chat")
    assert (rc, out) == (1, "Failure [INSTALL_FAILED_USER_RESTRICTED: Install canceled by user]\n")


async def test_oem_blocks_permission_flags() -> None:
    p = phone(35, oem=OemPolicy("miui", blocks_permission_changes=True))
    rc, _, err = await p.run(f"pm set-permission-flags com.example.chat {P}CAMERA user-fixed")
    assert rc == 255 and "updatePermissionFlags requires android.permission." in err


@pytest.mark.parametrize("sdk", [28, 30, 32])
async def test_permission_flag_commands_absent_before_13(sdk: int) -> None:
    rc, out, _ = await phone(sdk).run(
        f"pm set-permission-flags com.example.chat {P}CAMERA user-set"
    )
    assert (rc, out) == (255, "Unknown command: set-permission-flags\n")


async def test_set_and_clear_permission_flags() -> None:
    p = phone(33)
    mic = P + "RECORD_AUDIO"
    await p.out(f"pm revoke com.example.chat {mic}")
    await p.out(f"pm set-permission-flags --user 0 com.example.chat {mic} user-set user-fixed")
    line = runtime_line(await p.out("dumpsys package com.example.chat"), "com.example.chat", mic)
    assert line == (
        "granted=false, flags=[ USER_SET|USER_FIXED|USER_SENSITIVE_WHEN_GRANTED|"
        "USER_SENSITIVE_WHEN_DENIED]"
    )
    await p.out(f"pm clear-permission-flags com.example.chat {mic} user-fixed")
    line = runtime_line(await p.out("dumpsys package com.example.chat"), "com.example.chat", mic)
    assert "USER_FIXED" not in line and "USER_SET" in line
    assert await p.run(f"pm set-permission-flags com.example.chat {mic} sticky") == (
        1,
        "Unknown permission flag: sticky\n",
        "",
    )


async def test_query_activities_lists_launchers_only() -> None:
    p = phone(35)
    intent = "-a android.intent.action.MAIN -c android.intent.category.LAUNCHER"
    out = await p.out(f"cmd package query-activities --components --user 0 {intent}")
    assert out.splitlines() == [
        "com.android.vending/.AssetBrowserActivity",
        "com.android.chrome/com.google.android.apps.chrome.Main",
        "com.example.chat/.MainActivity",
        "com.example.legacy/.MainActivity",
        "com.example.suite.mail/.MainActivity",
        "com.example.suite.calendar/.MainActivity",
        "com.example.mdm/.MainActivity",
    ]
    assert "com.example.hidden" not in out
    await p.out("pm disable-user com.example.legacy")
    brief = await p.out(f"pm query-activities --brief {intent} com.example.chat")
    assert brief == (
        "1 activities found:\n  Activity #0:\n"
        "    priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=false\n"
        "    com.example.chat/.MainActivity\n"
    )
    assert "com.example.legacy" not in await p.out(f"pm query-activities --components {intent}")
    assert await p.out(f"pm query-activities {intent} no.such.app") == "No activities found\n"


async def test_query_receivers_for_boot() -> None:
    out = await phone(30).out(
        "cmd package query-receivers --components -a android.intent.action.BOOT_COMPLETED"
    )
    assert out == "com.example.chat/.BootReceiver\ncom.example.hidden/.Autostart\n"


async def test_full_resolve_info_never_prints_a_label() -> None:
    p = phone(35)
    p.state.packages["com.example.chat"].label = "Chat Label"
    out = await p.out("pm resolve-activity -a android.intent.action.MAIN com.example.chat")
    assert "nonLocalizedLabel=null" in out and "Chat Label" not in out


async def test_unknown_commands_and_help() -> None:
    p = phone(35)
    assert await p.run("pm frobnicate x") == (255, "Unknown command: frobnicate\n", "")
    assert await p.run("cmd user frobnicate") == (255, "Unknown command: frobnicate\n", "")
    assert (await p.run("pm list gadgets"))[:2] == (255, "Error: unknown list type 'gadgets'\n")
    assert (await p.run("pm"))[0] == 255


async def test_dumpsys_package_arguments() -> None:
    p = phone(30)
    assert await p.out("dumpsys package no.such.app") == "Unable to find package: no.such.app\n"
    packages_only = await p.out("dumpsys package p")
    assert headers(packages_only) == ["Packages:", "Hidden system packages:"]
    dexopt = await p.out("dumpsys package dexopt")
    assert (
        "    path: /data/app/~~aGlk==/com.example.hidden-aGlk==/base.apk\n"
        "      arm64: [status=speed-profile] [reason=install]\n"
        "      known secondary dex files:\n"
        "        /data/user/0/com.example.hidden/app_cache/7f3a/payload.jar\n"
        "          class loader context: PCL[];PCL[/data/app/~~aGlk==/"
        "com.example.hidden-aGlk==/base.apk]\n"
    ) in dexopt


async def test_requested_permissions_only_in_the_single_package_dump() -> None:
    p = phone(28)
    assert "requested permissions:" not in await p.out("dumpsys package")
    one = await p.out("dumpsys package com.example.chat")
    assert f"    requested permissions:\n      {P}CAMERA\n" in one
    assert ": restricted=true" not in one  # added in R


@pytest.mark.parametrize("sdk", [28, 30, 33, 34, 35])
async def test_user_list_formats(sdk: int) -> None:
    p = phone(sdk, work_profile=True)
    assert await p.out("pm list users") == (
        "Users:\n\tUserInfo{0:Owner:13} running\n\tUserInfo{10:Work profile:1030} running\n"
    )
    rc, out, _ = await p.run("cmd user list -v")
    assert rc == 0
    if sdk < 30:
        assert out.startswith("Users:\n")  # no options before R
        return
    lines = out.splitlines()
    assert lines[:2] == ["2 users:", ""]
    assert lines[2].startswith(
        "0: id=0, name=Owner, type=full.SYSTEM, flags=ADMIN|INITIALIZED|PRIMARY (running) (current)"
    )
    assert lines[3].startswith(
        "1: id=10, name=Work profile, type=profile.MANAGED, "
        "flags=INITIALIZED|MANAGED_PROFILE|PROFILE (parentId=0) (running)"
    )
    assert (await p.run("cmd user list --bogus"))[:2] == (255, "Invalid option: --bogus\n")


async def test_dumpsys_user_is_real_shaped() -> None:
    out = await phone(35, work_profile=True).out("dumpsys user")
    assert "  UserInfo{10:Work profile:1030} serialNo=10\n" in out
    assert out.startswith("Current user: 0\nUsers:\n")


async def test_device_policy_dump_lists_admins_and_owners() -> None:
    p = phone(35)
    p.state.device_owner = "com.example.mdm/.AdminReceiver"
    out = await p.out("dumpsys device_policy")
    assert (
        "  Device Owner: \n    admin=ComponentInfo{com.example.mdm/com.example.mdm.AdminReceiver}"
        in out
    )
    assert "  Enabled Device Admins (User 0, provisioningState: 0):\n" in out
    assert (
        "    com.example.mdm/.AdminReceiver:\n      uid=10180\n      testOnlyAdmin=false\n" in out
    )


# ------------------------------------------------------------------------------ 3. hostile data


HOSTILE = [
    "com.evil.\u202eexe.gpj",  # right-to-left override
    "com.evil.zero\u200bwidth",
    "com.evil.nul\x00byte",
    "com.evil.new\nline",
    "com.evil.{brace}[bracket]%s%n",
    "com.\u4e2d\u6587.app",
]


@pytest.mark.parametrize("sdk", [28, 29, 30, 33, 34, 35])
async def test_odd_names_and_labels_do_not_break_formatters(sdk: int) -> None:
    p = phone(sdk)
    for i, name in enumerate(HOSTILE):
        p.state.install(
            Package(
                name,
                30_000 + i,
                label="\u3164\u200b" + name,
                code_path=f"/data/app/~~x==/{name}-1/base.apk",
                requested=[P + "CAMERA", *INSTALL],
                install_granted=INSTALL,
                secondary_dex=[f"/data/user/0/{name}/x.dex"],
                boot_receivers=[".R"],
                splits=["config.\u00e9"],
                shared_user="odd.\u202eshared" if i % 2 else None,
            )
        )
        p.state.grant(name, 0, P + "CAMERA", {"USER_SET", "WEIRD_OEM_FLAG"})
    for command in [
        "dumpsys package",
        "pm list packages -f -i -U -u",
        "pm query-activities --brief -a android.intent.action.MAIN",
        "dumpsys device_policy",
        "cmd user list",
    ]:
        rc, out, err = await p.run(command)
        assert rc == 0 and err == ""
        assert "\u3164\u200b" not in out  # labels are never printed
    for name in HOSTILE:
        await p.run(f"dumpsys package {name}")
        await p.run(f"pm revoke {name} {P}CAMERA")


async def test_two_thousand_packages_format() -> None:
    p = phone(35, extra_apps=2000, work_profile=True)
    dump = await p.out("dumpsys package")
    assert dump.count("  Package [") == 2000 + 8 + 1  # + chrome's factory copy
    listing = await p.out("pm list packages -f -i -U --show-versioncode")
    assert listing.count("\n") == 2000 + 8
    assert "uid:20000,1020000" in listing


def test_format_table_is_monotonic_where_android_only_adds() -> None:
    rows = [pm.fmt(sdk) for sdk in range(28, 36)]
    for flag in ("show_versioncode", "queries", "installer_block", "permission_flag_commands"):
        values = [getattr(r, flag) for r in rows]
        assert values == sorted(values), flag


def test_flags_text_by_version() -> None:
    flags = {"GRANTED_BY_DEFAULT", "SYSTEM_FIXED", "REVOKED_COMPAT"}
    assert pm.permission_flags_text(flags, pm.fmt(28)) == (
        ", flags=[ REVOKE_ON_UPGRADE SYSTEM_FIXED GRANTED_BY_DEFAULT ]"
    )
    assert pm.permission_flags_text(flags, pm.fmt(30)) == (
        ", flags=[ REVOKED_COMPAT|SYSTEM_FIXED|GRANTED_BY_DEFAULT]"
    )
    assert pm.permission_flags_text((), pm.fmt(30)) == ""
