"""App labels: simulated APKs (agent.sim.apk, agent.sim.files) and the host-side reader and cache
(agent.labels), end to end through the real adb server: ``pm path``, a real ``sync:`` pull, then
pyaxmlparser on the host."""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import pytest
from pyaxmlparser import APK
from pyaxmlparser.axmlprinter import AXMLPrinter

from agent.adb import AdbClient, DeviceLink
from agent.labels import CACHE_FILE, LabelCache, LabelResult, read_label
from agent.sim.apk import (
    ANDROID_NS,
    LABEL_RES_ID,
    ApkSpec,
    Ref,
    base_apk,
    dex_stub,
    manifest_axml,
    resource_table,
    split_apk,
)
from agent.sim.device import SimDevice
from agent.sim.files import DeviceFiles
from agent.sim.host import SimHost
from agent.sim.profiles import PROFILES, build_state
from tests.adbserver import AdbServer
from tests.support import Plug

HOSTILE = {
    "blank": "",
    "space": " ",
    "rtl": "\u202egpj.exe",
    "markup": "[bold red]x[/]",
    "ansi": "\x1b[31mred\x1b[0m\x1b]0;pwned\x07",
    "long": "L" * 10 * 1024,
    "long-cjk": "微信" * 9000,  # 54 KB of UTF-8: past UTF-8's 15-bit lengths, a UTF-16 pool
    "invisible": "\u200b\u3164\u2800",
    "newlines": "a\nb\r\n\t",
    "nul": "a\0b",
    "emoji": "👨\u200d👩\u200d👧 family",
    "looks-like-a-ref": "@7F010000",
}

SPEC = ApkSpec(
    "com.example.app",
    42,
    "4.2",
    "Example",
    permissions=("android.permission.CAMERA",),
    launcher_activity="com.example.app.Main",
    boot_receivers=("com.example.app.Boot",),
    translations=(("zh-rCN", "例子"),),
)


def _write(tmp_path: Path, data: bytes, name: str = "app.apk") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _apk_with(data: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in data.items():
            zf.writestr(name, content)
    return buf.getvalue()


# ----------------------------------------------------------------------- the generated APK


def test_generated_apk_opens_with_zipfile_and_pyaxmlparser() -> None:
    data = base_apk(SPEC)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["AndroidManifest.xml", "classes.dex", "resources.arsc"]
        arsc = zf.getinfo("resources.arsc")
        assert arsc.compress_type == zipfile.ZIP_STORED
        assert (arsc.header_offset + 30 + len(arsc.filename) + len(arsc.extra)) % 4 == 0
        manifest = zf.read("AndroidManifest.xml")
        assert zf.read("classes.dex") == dex_stub()
    assert dex_stub().startswith(b"dex\n035\0")

    apk = APK(data, raw=True)
    assert apk.is_valid_APK()
    assert (apk.package, apk.version_code, apk.version_name) == ("com.example.app", "42", "4.2")
    assert apk.application == "Example"  # the default configuration, not the zh-rCN one
    assert apk.get_permissions() == ["android.permission.CAMERA"]
    assert apk.get_main_activity() == "com.example.app.Main"
    assert apk.get_receivers() == ["com.example.app.Boot"]
    values = apk.get_android_resources().get_resolved_res_configs(LABEL_RES_ID)
    assert sorted(v for _, v in values) == ["Example", "例子"]

    # The manifest parses as XML, and the label is a reference, as real apps' labels are.
    printed = AXMLPrinter(manifest)
    assert printed.is_valid()
    assert ElementTree.fromstring(printed.get_buff()).tag == "manifest"  # well-formed XML text
    xml = printed.get_xml_obj()
    assert xml.get("package") == "com.example.app"
    assert xml.get(f"{{{ANDROID_NS}}}versionCode") == "42"
    application = xml.find("application")
    assert application is not None
    assert application.get(f"{{{ANDROID_NS}}}label") == "@7F010000"


@pytest.mark.skipif(shutil.which("aapt") is None, reason="AOSP aapt not installed (apt: aapt)")
def test_aosp_aapt_reads_the_generated_apk(tmp_path: Path) -> None:
    path = _write(tmp_path, base_apk(SPEC))
    badging = subprocess.run(
        ["aapt", "dump", "badging", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "package: name='com.example.app' versionCode='42' versionName='4.2'" in badging
    assert "application-label:'Example'" in badging
    assert "application-label-zh-CN:'例子'" in badging
    assert "launchable-activity: name='com.example.app.Main'" in badging


def test_generated_apk_is_deterministic() -> None:
    assert base_apk(SPEC) == base_apk(SPEC)
    assert base_apk(SPEC) != base_apk(ApkSpec("com.example.app", 43, "4.3", "Example"))


def test_split_apk_names_its_split() -> None:
    apk = APK(split_apk(SPEC, "config.arm64_v8a"), raw=True)
    assert apk.package == "com.example.app"
    xml = AXMLPrinter(apk.get_file("AndroidManifest.xml")).get_xml_obj()
    assert xml.get("split") == "config.arm64_v8a"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_labels_survive_the_apk_exactly(name: str, tmp_path: Path) -> None:
    label = HOSTILE[name]
    path = _write(tmp_path, base_apk(ApkSpec("com.evil", 1, "1", label)))
    assert read_label(path, "com.evil") == LabelResult(label)


def test_literal_and_missing_labels(tmp_path: Path) -> None:
    table = resource_table("com.x", {"app_name": "unused"})
    literal = manifest_axml(ApkSpec("com.x", 1, "1", ""), label="Written In The Manifest")
    none = manifest_axml(ApkSpec("com.x", 1, "1", ""), label=None)
    for manifest, expected in ((literal, "Written In The Manifest"), (none, None)):
        path = _write(
            tmp_path, _apk_with({"AndroidManifest.xml": manifest, "resources.arsc": table})
        )
        assert read_label(path, "com.x") == LabelResult(expected)


def test_unreadable_apks_are_error_results(tmp_path: Path) -> None:
    spec = ApkSpec("com.x", 1, "1", "X")
    manifest = manifest_axml(spec)
    cases = {
        "not a zip": b"this is not an APK",
        "no manifest": _apk_with({"classes.dex": dex_stub()}),
        "no resources": _apk_with({"AndroidManifest.xml": manifest}),
        "dangling ref": _apk_with(
            {
                "AndroidManifest.xml": manifest_axml(spec, label=Ref(0x7F010005)),
                "resources.arsc": resource_table("com.x", {"app_name": "X"}),
            }
        ),
        "garbage manifest": _apk_with({"AndroidManifest.xml": b"\x03\x00\x08\x00" + b"\xff" * 64}),
    }
    for what, data in cases.items():
        result = read_label(_write(tmp_path, data), "com.x")
        assert result.label is None, what
        assert result.error, what
    other = read_label(_write(tmp_path, base_apk(spec)), "com.y")
    assert other.error is not None
    assert "com.x" in other.error


# ------------------------------------------------------------------------ lazy device files


def test_device_files_build_nothing_until_an_apk_is_read() -> None:
    fleet = [
        SimDevice(build_state(PROFILES[name], seed=seed))
        for name in sorted(PROFILES)
        for seed in range(3)
    ]
    for device in fleet:
        files = device.files
        listed = list(files)  # what `adb ls` and every STAT of a directory walk
        pkg = device.state.packages["com.tencent.mm"]
        assert pkg.dir_name in listed
        assert pkg.dir_name in files
        assert len(files) == len(listed)
    assert sum(d.files.builds for d in fleet) == 0

    files = fleet[0].files
    state = fleet[0].state
    path = state.packages["com.tencent.mm"].dir_name
    first = files[path]
    assert files[path] is first
    assert files.builds == 1
    assert APK(first, raw=True).application == "WeChat"

    state.packages["com.tencent.mm"].version_code += 1  # an update: a new APK
    assert files[path] != first
    assert files.builds == 2


def test_device_files_follow_installs_splits_and_deletions() -> None:
    state = build_state(PROFILES["pixel8-a15"])
    files = DeviceFiles(state)
    pkg = state.packages["com.tencent.mm"]
    pkg.splits = ["config.arm64_v8a"]
    split_path = pkg.dir_name.rsplit("/", 1)[0] + "/split_config.arm64_v8a.apk"
    assert APK(files[split_path], raw=True).package == "com.tencent.mm"

    del files[pkg.dir_name]  # the file removed behind the package manager's back
    assert pkg.dir_name not in files
    assert files.get(pkg.dir_name) is None
    pkg.version_code += 1  # reinstalled: a new APK is written
    assert pkg.dir_name in files

    state.uninstall("com.tencent.mm", None)
    assert pkg.dir_name not in files
    with pytest.raises(KeyError):
        files[pkg.dir_name]

    files["/sdcard/x.txt"] = b"pushed"
    assert files["/sdcard/x.txt"] == b"pushed"
    del files["/sdcard/x.txt"]
    assert "/sdcard/x.txt" not in files


# ---------------------------------------------------------------------- end to end over adb


@dataclass
class CountingLink:
    """A DeviceLink that counts its pulls."""

    link: DeviceLink
    pulls: list[str] = field(default_factory=list)

    @property
    def serial(self) -> str:
        return self.link.serial

    def pull(self, remote: str, local: str | Path) -> int:
        self.pulls.append(remote)
        return self.link.pull(remote, local)


@pytest.fixture
def phone(plug: Plug) -> SimDevice:
    return plug("pixel8-a15")


def _base_path(link: DeviceLink, package: str) -> str:
    """``pm path``'s first line: the base APK, as the collector finds it."""
    lines = link.shell(["pm", "path", package]).check().stdout.splitlines()
    return lines[0].removeprefix("package:")


def test_profile_label_is_read_through_a_real_pull(
    phone: SimDevice, client: AdbClient, tmp_path: Path
) -> None:
    link = CountingLink(client.link(phone.serial))
    pkg = phone.state.packages["com.tencent.mm"]
    path = _base_path(link.link, "com.tencent.mm")
    assert path == pkg.dir_name
    cache = LabelCache(tmp_path)
    assert cache.label(link, "com.tencent.mm", pkg.version_code, path) == LabelResult("WeChat")
    assert link.pulls == [path]
    assert not list(tmp_path.glob("pull-*")), "the pulled APK is deleted"

    # Cached: no second pull, not even from a new cache on the same directory (a restart).
    assert cache.label(link, "com.tencent.mm", pkg.version_code, path).label == "WeChat"
    restarted = LabelCache(tmp_path)
    assert restarted.label(link, "com.tencent.mm", pkg.version_code, path).label == "WeChat"
    assert link.pulls == [path]
    assert phone.files.builds == 1


def test_a_new_version_code_is_read_again(
    phone: SimDevice, client: AdbClient, host: SimHost, tmp_path: Path
) -> None:
    link = CountingLink(client.link(phone.serial))
    pkg = phone.state.packages["com.tencent.mm"]
    old = pkg.version_code
    path = _base_path(link.link, "com.tencent.mm")
    cache = LabelCache(tmp_path)
    assert cache.label(link, "com.tencent.mm", old, path).label == "WeChat"

    def update() -> None:
        pkg.version_code = old + 1
        pkg.label = "WeChat Lite"

    host.call(update)
    assert cache.label(link, "com.tencent.mm", old + 1, path).label == "WeChat Lite"
    assert cache.label(link, "com.tencent.mm", old, path).label == "WeChat"  # still cached
    assert len(link.pulls) == 2


def test_hostile_labels_round_trip_through_the_phone(
    phone: SimDevice, client: AdbClient, host: SimHost, tmp_path: Path
) -> None:
    link = client.link(phone.serial)
    names = sorted(phone.state.packages)  # system apps' APKs under /system too
    assert len(names) >= len(HOSTILE)
    chosen = dict(zip(names, HOSTILE.values(), strict=False))

    def relabel() -> None:
        for package, label in chosen.items():
            phone.state.packages[package].label = label

    host.call(relabel)
    cache = LabelCache(tmp_path)
    for package, label in chosen.items():
        version = phone.state.packages[package].version_code
        result = cache.label(link, package, version, _base_path(link, package))
        assert result == LabelResult(label), package
    # ... and exactly again from the disk cache.
    restarted = LabelCache(tmp_path)
    for package, label in chosen.items():
        version = phone.state.packages[package].version_code
        assert restarted.label(link, package, version, "/nonexistent").label == label


def test_blank_label_is_blank_not_none(
    phone: SimDevice, client: AdbClient, host: SimHost, tmp_path: Path
) -> None:
    link = client.link(phone.serial)
    pkg = phone.state.packages["com.tencent.mm"]
    host.call(lambda: setattr(pkg, "label", ""))
    result = LabelCache(tmp_path).label(link, pkg.name, pkg.version_code, pkg.dir_name)
    assert result.label == ""
    assert result.error is None


def test_vanished_file_is_an_error_cached_briefly(
    phone: SimDevice, client: AdbClient, host: SimHost, tmp_path: Path
) -> None:
    link = CountingLink(client.link(phone.serial))
    pkg = phone.state.packages["com.tencent.mm"]
    path = pkg.dir_name
    host.call(lambda: phone.files.__delitem__(path))
    now = [1000.0]
    cache = LabelCache(tmp_path, negative_ttl=60, clock=lambda: now[0])
    result = cache.label(link, pkg.name, pkg.version_code, path)
    assert result.label is None
    assert result.error is not None
    assert "pull failed" in result.error
    assert not list(tmp_path.glob("pull-*"))

    assert cache.label(link, pkg.name, pkg.version_code, path) == result  # no retry yet
    assert len(link.pulls) == 1
    now[0] += 61
    host.call(lambda: phone.files.__setitem__(path, base_apk(ApkSpec(pkg.name, 1, "1", "Back"))))
    assert cache.label(link, pkg.name, pkg.version_code, path) == LabelResult("Back")
    assert len(link.pulls) == 2


def test_a_path_holding_garbage_is_an_error(
    phone: SimDevice, client: AdbClient, host: SimHost, tmp_path: Path
) -> None:
    link = client.link(phone.serial)
    pkg = phone.state.packages["com.tencent.mm"]
    host.call(lambda: phone.files.__setitem__(pkg.dir_name, b"PK\x03\x04 truncated"))
    result = LabelCache(tmp_path).label(link, pkg.name, pkg.version_code, pkg.dir_name)
    assert result.label is None
    assert result.error is not None
    assert "unparsable" in result.error


def test_unplugged_phone_is_an_error_not_an_exception(
    plug: Plug,
    client: AdbClient,
    host: SimHost,
    adb_server: AdbServer,
    tmp_path: Path,
) -> None:
    device = plug("redmi-note11-a13")
    link = client.link(device.serial)
    pkg = device.state.packages["com.tencent.mm"]
    path = _base_path(link, pkg.name)
    assert device.server is not None
    host.stop(device.server)  # pulled out
    adb_server.disconnect(device.serial)
    result = LabelCache(tmp_path).label(link, pkg.name, pkg.version_code, path)
    assert result.label is None
    assert result.error is not None
    assert device.serial in result.error


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff not json",
        b'{"format": 1, "labels": [{"package": 5}]}',
        b'{"format": 99, "labels": []}',
        b"[]",
        b"",
    ],
)
def test_corrupt_cache_file_is_ignored_with_a_warning(
    content: bytes,
    phone: SimDevice,
    client: AdbClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / CACHE_FILE).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="agent.labels"):
        cache = LabelCache(tmp_path)
    assert any("label cache" in r.getMessage() for r in caplog.records)
    pkg = phone.state.packages["com.tencent.mm"]
    link = client.link(phone.serial)
    assert cache.label(link, pkg.name, pkg.version_code, pkg.dir_name).label == "WeChat"
    saved = json.loads((tmp_path / CACHE_FILE).read_text())  # rewritten whole
    assert saved["labels"][0]["label"] == "WeChat"
