"""The package, user, getprop and device-policy parsers against every real capture we have.

Captures live in ``../shared/android-samples`` (see each folder's PROVENANCE.md; never copied
into this repository). Each test checks that a capture parses without ``error`` and that what
the parser returns agrees with counts taken from the raw text in a different way: regular
expressions over the text cut at its column-0 lines, not the parser's own walk.

Warnings on real captures are pinned: a capture of a complete dump must give none, and the
stitched or excerpted fixtures give exactly the warnings their editing explains (trimmed
blocks, ``[...]`` elisions). A new warning here means the parser met a line shape it does not
know, which is what the test is for.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from agent.model import PackageDump, PackageInfo, Parsed
from agent.parsers.packages import parse_dumpsys_package, parse_pm_list_packages, parse_pm_path
from agent.parsers.policy import parse_device_policy
from agent.parsers.props import parse_getprop
from agent.parsers.sections import split_dumpsys
from agent.parsers.users import parse_user_list

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "android-samples"

pytestmark = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"real captures not found at {SAMPLES} (CI checks out ../shared next to the repo)",
)


@cache
def read(rel: str) -> str:
    # Some captures hold binary bytes (an ABX keystore in the adb service dump): the agent
    # decodes device output with replacement, so the tests do too.
    return (SAMPLES / rel).read_text(encoding="utf-8", errors="replace")


def service(rel: str, name: str) -> str:
    """The text of one ``DUMP OF SERVICE`` section of a concatenated capture."""
    sections = split_dumpsys(read(rel))
    assert name in sections, sorted(sections)
    return sections[name]


# (capture, service to cut out of it or None, warnings expected: (line, reason) or "[...]")
PACKAGE_DUMPS: dict[str, tuple[str, str | None, list[Any]]] = {
    "fireos_a9_full": ("appops-perms/fireos_kftrwi_a9_dumpsys_package_full.txt", None, []),
    "lineage_a11_contacts": (
        "packages/spytrap-adb_lineageos-a11/dumpsys_package_contacts.txt",
        None,
        [],
    ),
    "lineage_a11_fdroid": (
        "packages/spytrap-adb_lineageos-a11/dumpsys_package_fdroid.txt",
        None,
        [],
    ),
    "lineage_a11_gpstest": (
        "packages/spytrap-adb_lineageos-a11/dumpsys_package_gpstest.txt",
        None,
        [],
    ),
    "samsung_a10_excerpt": ("packages/mvt_tests/android_data__dumpsys_packages.txt", None, []),
    "samsung_a10_excerpt_copy": (
        "appops-perms/mvt_samsung-a40_a10_dumpsys_package_excerpt.txt",
        None,
        [],
    ),
    "samsung_a10_bugreport": ("packages/mvt_tests/bugreport__dumpstate.txt", "package", []),
    "samsung_a10_bugreport_copy": (
        "appops-perms/mvt_bugreport_samsung_dumpstate_excerpt.txt",
        "package",
        [],
    ),
    # Stitched by MVT from several captures: two blocks were cut before their User lines and
    # an indented "APEX session state:" follows them (see PROVENANCE.md).
    "samsung_a10_androidqf": (
        "packages/mvt_tests/androidqf__dumpsys.txt",
        "package",
        [
            (39, "block has no User N: line"),
            (69, "block has no User N: line"),
            (91, "expected Package [name] (id):"),
        ],
    ),
    "samsung_a10_androidqf_copy": (
        "appops-perms/mvt_androidqf_samsung-a40_a10_dumpsys_multi.txt",
        "package",
        [
            (39, "block has no User N: line"),
            (69, "block has no User N: line"),
            (91, "expected Package [name] (id):"),
        ],
    ),
    # Pasted from comments: the author's "[...]" elisions are the only lines not understood.
    "pixel_a15_excerpt": (
        "packages/poweradb_pixel8_a15/dumpsys_package_sections_excerpt.txt",
        None,
        ["[...]"],
    ),
}

BLOCK_SECTIONS = ("Packages:", "Hidden system packages:", "Shared users:")


def text_of(name: str) -> str:
    rel, svc, _ = PACKAGE_DUMPS[name]
    return service(rel, svc) if svc else read(rel)


def chunks(text: str) -> dict[str, list[str]]:
    """Column-0 title -> the texts that follow it up to the next column-0 line."""
    out: dict[str, list[str]] = {}
    for chunk in re.split(r"(?m)^(?=[^\s])", text):
        title, _, body = chunk.partition("\n")
        out.setdefault(title.rstrip(), []).append(body)
    return out


def block_text(text: str) -> str:
    parts = chunks(text)
    return "\n".join(body for title in BLOCK_SECTIONS for body in parts.get(title, []))


def all_blocks(dump: PackageDump) -> list[PackageInfo]:
    return [*dump.packages, *dump.hidden_system_packages, *dump.shared_users.values()]


@pytest.fixture(params=sorted(PACKAGE_DUMPS))
def capture(request: pytest.FixtureRequest) -> tuple[str, str, Parsed[PackageDump]]:
    name = request.param
    text = text_of(name)
    return name, text, parse_dumpsys_package(text)


def test_package_dump_parses_without_error_and_with_only_the_known_warnings(
    capture: tuple[str, str, Parsed[PackageDump]],
) -> None:
    name, _, result = capture
    assert result.error is None
    expected = PACKAGE_DUMPS[name][2]
    if expected == ["[...]"]:
        assert {w.line.strip() for w in result.warnings} == {"[...]"}
    else:
        assert [(w.line_no, w.reason) for w in result.warnings] == expected


def test_every_package_line_is_a_package(capture: tuple[str, str, Parsed[PackageDump]]) -> None:
    _, text, result = capture
    dump = result.value
    assert len(dump.packages) + len(dump.hidden_system_packages) == len(
        re.findall(r"(?m)^  Package \[", text)
    )
    assert len(dump.shared_users) == len(re.findall(r"(?m)^  SharedUser \[", text))
    names = re.findall(r"(?m)^  Package \[([^\]]+)\]", text)
    assert sorted(p.name for p in [*dump.packages, *dump.hidden_system_packages]) == sorted(names)


def test_every_grant_line_is_a_grant(capture: tuple[str, str, Parsed[PackageDump]]) -> None:
    _, text, result = capture
    blocks = block_text(text)
    parsed = [
        g
        for p in all_blocks(result.value)
        for g in [*p.install_permissions, *(g for u in p.users for g in u.runtime_permissions)]
    ]
    assert sum(g.granted for g in parsed) == len(re.findall(r": granted=true\b", blocks))
    assert sum(not g.granted for g in parsed) == len(re.findall(r": granted=false\b", blocks))
    runtime = sum(len(u.runtime_permissions) for p in all_blocks(result.value) for u in p.users)
    assert runtime == len(re.findall(r"(?m)^        \S[^\n]*: granted=", blocks))
    flagged = [g for g in parsed if g.flags]
    assert len(flagged) == len(re.findall(r", flags=\[", blocks))


def test_every_user_block_is_read(capture: tuple[str, str, Parsed[PackageDump]]) -> None:
    _, text, result = capture
    blocks = block_text(text)
    users = [u for p in all_blocks(result.value) for u in p.users]
    assert len(users) == len(re.findall(r"(?m)^    User \d+:", blocks))
    inodes = re.findall(r"(?m)^    User \d+: ceDataInode=(-?\d+)", blocks)
    assert sorted(u.ce_data_inode for u in users if u.ce_data_inode is not None) == sorted(
        map(int, inodes)
    )


def test_permission_lists_are_read(capture: tuple[str, str, Parsed[PackageDump]]) -> None:
    _, text, result = capture
    blocks = block_text(text)
    declared = sum(len(p.declared_permissions) for p in all_blocks(result.value))
    assert declared == len(re.findall(r"(?m)^      \S[^\n]*: prot=", blocks))
    lists = re.findall(r"(?m)^    requested permissions:\n((?:      [^\n]*\n)*)", blocks)
    requested = sum(len(p.requested_permissions) for p in all_blocks(result.value))
    assert requested == sum(body.count("\n") for body in lists)


def test_package_changes_are_read(capture: tuple[str, str, Parsed[PackageDump]]) -> None:
    _, text, result = capture
    seqs = re.findall(r"(?m)^\s*Sequence number=(\d+)$", text)
    assert result.value.change_sequence == (int(seqs[-1]) if seqs else None)
    changes = re.findall(r"(?m)^    seq=(\d+), package=(\S+)$", text)
    assert [(str(c.seq), c.package) for c in result.value.changes] == changes


def test_secondary_dex_files_are_read(capture: tuple[str, str, Parsed[PackageDump]]) -> None:
    _, text, result = capture
    dexopt = "\n".join(chunks(text).get("Dexopt state:", []))
    # Secondary dex files are loaded from an app's own data directory.
    files = re.findall(r"(?m)^ +(/data/(?:user|data|user_de)/\S+?)(?: \(public\))?$", dexopt)
    assert sum(len(v) for v in result.value.secondary_dex.values()) == len(set(files))


def test_fire_os_full_dump_in_detail() -> None:
    dump = parse_dumpsys_package(text_of("fireos_a9_full")).value
    # "Read completed successfully: 219 packages, 19 shared uids" (Settings parse messages).
    assert len(dump.packages) == 219
    assert [p.name for p in dump.hidden_system_packages] == ["com.amazon.avod"]
    youtube = next(p for p in dump.packages if p.name == "com.google.android.youtube")
    assert youtube.splits == ("base", "config.arm64_v8a", "config.hdpi", "config.ja")
    assert youtube.apk_signing_version == 3
    assert len(dump.secondary_dex["com.google.android.youtube"]) == 2
    platform = next(p for p in dump.packages if p.name == "com.amazon.platform")
    (user,) = platform.users
    location = user.permission("android.permission.ACCESS_FINE_LOCATION")
    assert location is not None and location.flags == {"SYSTEM_FIXED", "GRANTED_BY_DEFAULT"}
    assert dump.change_sequence == 5
    assert [(c.seq, c.package) for c in dump.changes] == [
        (0, "com.microsoft.launcher"),
        (4, "com.google.android.gms"),
    ]


def test_pixel_dexopt_excerpt_with_its_title_restored() -> None:
    # The excerpt lost the "Dexopt state:" title (it lived in code, not in the pasted comment)
    # and the indentation of its first line; put both back and read the ART Service layout.
    text = read("packages/poweradb_pixel8_a15/dumpsys_package_sections_excerpt.txt")
    start, end = text.index("\n[android]\n") + 1, text.index("\nCompiler stats:")
    section = "Dexopt state:\n  " + text[start:end]
    result = parse_dumpsys_package(section)
    assert result.error is None
    assert {w.line.strip() for w in result.warnings} <= {"[...]"}
    files = set(re.findall(r"(?m)^      (/data/user/0/\S+?\.apk)(?: \(public\))?$", section))
    assert set(result.value.secondary_dex["app.revanced.android.gms"]) == files
    assert len(files) == 9


def test_lineage_per_package_dump_in_detail() -> None:
    (gps,) = parse_dumpsys_package(text_of("lineage_a11_gpstest")).value.packages
    assert gps.installer == "com.android.packageinstaller"
    assert gps.first_install_time == "2021-11-07 23:55:09"
    assert "android.permission.WRITE_EXTERNAL_STORAGE" in gps.requested_permissions
    (user,) = gps.users
    assert user.last_disabled_caller == "com.android.packageinstaller"
    fine = user.permission("android.permission.ACCESS_FINE_LOCATION")
    assert fine is not None and fine.granted and "USER_SET" in fine.flags


def test_samsung_shared_uid_package_has_no_permission_blocks_of_its_own() -> None:
    provider, data_create = parse_dumpsys_package(text_of("samsung_a10_excerpt")).value.packages
    assert provider.shared_user == "android.uid.system"
    assert provider.install_permissions == () and provider.users[0].runtime_permissions == ()
    assert provider.users[0].ce_data_inode == -4294835840
    assert len(data_create.users[0].runtime_permissions) == 13


def test_bugreport_package_section_with_disabled_components() -> None:
    result = parse_dumpsys_package(text_of("samsung_a10_bugreport"))
    instagram = next(p for p in result.value.packages if p.name == "com.instagram.android")
    (user,) = instagram.users
    assert user.enabled == 4 and user.last_disabled_caller == "auto_disabler"
    assert len(user.disabled_components) == 7
    assert instagram.installer == "com.android.vending"


def test_split_dumpsys_finds_every_service() -> None:
    for rel in (
        "packages/mvt_tests/androidqf__dumpsys.txt",
        "packages/mvt_tests/bugreport__dumpstate.txt",
    ):
        text = read(rel)
        names = re.findall(r"(?m)^DUMP OF SERVICE (?:(?:CRITICAL|HIGH|NORMAL) )?(\S+):$", text)
        assert sorted(split_dumpsys(text)) == sorted(names)
        for body in split_dumpsys(text).values():
            assert " was the duration of dumpsys " not in body


def test_fire_os_user_list() -> None:
    text = read("appops-perms/fireos_kftrwi_a9_cmd_user_list.txt")
    result = parse_user_list(text)
    assert result.error is None and result.warnings == ()
    assert len(result.value) == text.count("UserInfo{")
    (owner,) = result.value
    assert (owner.id, owner.name, owner.flags, owner.running) == (0, "sinyu", 0x13, True)


def test_fire_os_device_policy() -> None:
    text = read("appops-perms/fireos_kftrwi_a9_dumpsys_device_policy.txt")
    result = parse_device_policy(text)
    assert result.error is None and result.warnings == ()
    policy = result.value
    admin_lines = re.findall(r"(?m)^    (\S+/\S+):$", text)
    assert [a.component for a in policy.admins] == admin_lines
    policy_lists = re.findall(r"(?m)^      policies:\n((?:        [^\n]*\n)*)", text)
    assert sum(len(a.policies) for a in policy.admins) == sum(b.count("\n") for b in policy_lists)
    assert dict(policy.profile_owners) == {
        0: "com.amazon.parentalcontrols/.receivers.ParentalAdminReceiver"
    }
    assert "disable-camera" in policy.admins[0].policies


def test_mvt_getprop() -> None:
    text = read("packages/mvt_tests/android_data__getprop.txt")
    result = parse_getprop(text)
    assert result.error is None and result.warnings == ()
    assert len(result.value.props) == len(re.findall(r"(?m)^\[[^\]]+\]: \[.*\]$", text))
    assert result.value.props["dalvik.vm.heapgrowthlimit"] == "192m"


def test_androidqf_package_list_values_round_trip() -> None:
    # No raw "pm list packages" capture is in the samples; androidqf's JSON holds the values it
    # read from a real "pm list packages -U -u -i" (and "pm path"), so print them back in the
    # AOSP layout, with and without -f, and read them again.
    entries = json.loads(read("packages/mvt_tests/androidqf__packages.json"))
    lines = [f"package:{e['name']}  installer={e['installer']} uid:{e['uid']}" for e in entries]
    with_paths = [
        f"package:{e['files'][0]['path']}={e['name']}  installer={e['installer']} uid:{e['uid']}"
        for e in entries
    ]
    for text in ("\n".join(lines) + "\n", "\n".join(with_paths) + "\n"):
        result = parse_pm_list_packages(text)
        assert result.error is None and result.warnings == ()
        assert len(result.value) == text.count("package:") == len(entries)
        for entry, raw in zip(result.value, entries, strict=True):
            assert entry.name == raw["name"]
            assert entry.uids == (raw["uid"],)
            assert entry.installer == (None if raw["installer"] == "null" else raw["installer"])
    paths = "".join(f"package:{f['path']}\n" for e in entries for f in e["files"])
    assert parse_pm_path(paths).value == tuple(f["path"] for e in entries for f in e["files"])
