"""App labels (the names a launcher shows), read host-side from each app's pulled ``base.apk``.

Owns the label of a ``(package, versionCode)``: no shell command prints a resolved label
(``dumpsys`` shows ``labelRes=0x7f1402c9 nonLocalizedLabel=null`` at best), so the only way
without pushing code to the phone is to pull the APK and read ``<application android:label>``
from its binary ``AndroidManifest.xml``, following ``@string/...`` into ``resources.arsc``. The
value of the default configuration is returned (what a phone shows in a locale the app has no
translation for); a label that is a plain string in the manifest is returned as written; an app
that declares no label gets ``None`` (the system shows its package name).

A label is immutable for a ``(package, versionCode)``, so each is pulled once and cached on disk
(``labels.json`` under the cache directory) for every phone and every restart; a pull or parse
failure is cached too, but only for ``negative_ttl`` seconds. The cache is only a cache: a file
that does not parse is ignored with a warning and rewritten. Labels are returned exactly as the
APK holds them - blank, bidi overrides, escape sequences, markup and all; making them safe to
show is the display's job (:func:`agent.textsafe.printable`).

Why ``pyaxmlparser`` reads the APK (measured on Python 3.11, each in a fresh venv):

* ``androguard`` 4.1.4 resolves labels the same way, byte-exact on every hostile label we tried,
  and tolerates tampered zip headers (through apkInspector), but installs 36 packages and
  162 MB (IPython, SQLAlchemy, networkx, cryptography, loguru ...) for what is one method here;
  importing ``androguard.core.apk`` takes 0.10 s and it logs through a global loguru logger.
* ``pyaxmlparser`` 0.3.31 is androguard's APK/AXML/ARSC reader cut out on its own (lxml,
  asn1crypto, click: 15 MB), imports in 0.06 s, parses our APKs three times faster, logs through
  stdlib ``logging``, and resolves ``@string/`` references with androguard's own resolver
  (default-configuration fallback included). Its last release is 2024-03; the repository took
  fixes in 2025. It is what ``shared/docs/android-packages-installs.md`` §3.2 names first.
* ``apkInspector`` (tolerant zip/AXML reader, no dependencies) cannot resolve a reference: it
  has no ``resources.arsc`` parser, and real apps' labels are references.

Exactness has one limit: a label written literally into the manifest (not a reference) passes
through lxml, which cannot hold C0 control characters, and pyaxmlparser turns each into ``_``.
Labels from ``resources.arsc`` - what real apps and every simulated one use - are exact.

A zip whose headers were tampered with to break host tools (a bogus compression method, which
Python's ``zipfile`` refuses) is an error result here rather than a label; the caller can treat
"this APK does not open" as a finding in itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from agent.adb import AdbError

__all__ = ["ApkSource", "LabelCache", "LabelResult", "read_label"]

log = logging.getLogger(__name__)

CACHE_FILE: Final = "labels.json"
_FORMAT: Final = 1
_MAX_MANIFEST: Final = 16 * 1024 * 1024
_MAX_RESOURCES: Final = 256 * 1024 * 1024
"""Declared sizes above these are refused before anything is inflated (zip bombs)."""
_VERSIONS_KEPT: Final = 8
"""Labels kept per package: older versionCodes are dropped as newer ones are read."""
_REFERENCE: Final = re.compile(r"@(?:android:)?[0-9A-F]{8}")
"""How pyaxmlparser prints a reference-typed attribute (``@7F010000``)."""


class ApkSource(Protocol):
    """What the cache needs of a device: :class:`agent.adb.DeviceLink` is one."""

    @property
    def serial(self) -> str: ...

    def pull(self, remote: str, local: str | Path) -> int: ...


@dataclass(frozen=True)
class LabelResult:
    """A label, or why there is none. ``label`` is None with no error when the app declares
    no label; ``""`` is a blank label, a finding of its own."""

    label: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ApkError(Exception):
    """The APK does not yield a label (not an APK, another package, unresolvable reference)."""


# ------------------------------------------------------------------------------- reading


def read_label(path: str | Path, package: str) -> LabelResult:
    """The default-configuration application label of the APK at ``path``; never raises.

    ``package`` must match the manifest's: a path that now holds another app's APK is an error.
    """
    try:
        return LabelResult(_read(Path(path), package))
    except ApkError as e:
        return LabelResult(None, str(e))
    except Exception as e:  # the parser on hostile input: any failure is "unparsable"
        return LabelResult(None, f"unparsable APK: {type(e).__name__}: {e}")


def _read(path: Path, package: str) -> str | None:
    from pyaxmlparser import APK  # deferred: lxml and the parser load only when a label is read
    from pyaxmlparser.arscparser import ARSCParser
    from pyaxmlparser.arscutil import ARSCResTableConfig

    _check_sizes(path)
    apk: Any = APK(str(path))
    try:
        found = apk.get_package()
        if found != package:
            raise ApkError(
                f"the APK is {found!r}, not {package!r}"
                if found
                else "no readable AndroidManifest.xml"
            )
        raw = apk.get_attribute_value("application", "label")
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise ApkError(f"android:label is {type(raw).__name__}")
        if not _REFERENCE.fullmatch(raw):
            return raw  # a string written into the manifest itself
        res_id, res_package = ARSCParser.parse_id(raw)
        if res_package is not None:
            raise ApkError(f"label {raw} is a {res_package} resource (framework-res.apk)")
        resources = apk.get_android_resources()
        if resources is None:
            raise ApkError(f"label {raw} but no resources.arsc")
        values = resources.get_resolved_res_configs(res_id, ARSCResTableConfig.default_config())
        if not values or not isinstance(values[0][1], str):
            raise ApkError(f"label {raw} does not resolve to a string")
        return str(values[0][1])
    finally:
        apk.zip.close()


def _check_sizes(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        limits = {"AndroidManifest.xml": _MAX_MANIFEST, "resources.arsc": _MAX_RESOURCES}
        for info in zf.infolist():
            limit = limits.get(info.filename)
            if limit is not None and info.file_size > limit:
                raise ApkError(f"{info.filename} claims {info.file_size} bytes; refusing")


# ------------------------------------------------------------------------------- caching


@dataclass(frozen=True)
class _Entry:
    label: str | None
    error: str | None
    checked: float
    """Wall-clock time of the read (negative entries expire by it)."""


class LabelCache:
    """Labels by ``(package, versionCode)``, read once through any phone, kept on disk.

    Thread-safe: collectors of several phones may share one cache. Two threads asking for the
    same new label at once may both pull it; the answer is the same.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        negative_ttl: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int], _Entry] = {}
        self.pulls = 0
        """APKs pulled by this cache (a cheap health figure: it should grow only with installs
        and updates)."""
        self._load()
        self._sweep()

    @property
    def path(self) -> Path:
        return self.directory / CACHE_FILE

    # ---------------------------------------------------------------- public
    def label(self, link: ApkSource, package: str, version_code: int, apk_path: str) -> LabelResult:
        """The label of ``package`` at ``version_code``, pulling ``apk_path`` only on a miss.

        Never raises: an unplugged phone, a vanished file or an APK that does not parse give a
        result with ``error`` set, which is retried after ``negative_ttl`` seconds.
        """
        key = (package, version_code)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._fresh(entry):
                return LabelResult(entry.label, entry.error)
        result = self._pull_and_read(link, package, apk_path)
        self._store(key, result)
        return result

    def cached(self, package: str, version_code: int) -> LabelResult | None:
        """The cached answer, if any and still fresh; never touches a phone."""
        with self._lock:
            entry = self._entries.get((package, version_code))
            if entry is None or not self._fresh(entry):
                return None
            return LabelResult(entry.label, entry.error)

    def forget(self, package: str, version_code: int) -> None:
        """Drop one entry (the next :meth:`label` reads the APK again)."""
        with self._lock:
            if self._entries.pop((package, version_code), None) is not None:
                self._save()

    # ---------------------------------------------------------------- internals
    def _fresh(self, entry: _Entry) -> bool:
        if entry.error is None:
            return True
        # abs(): a clock set back must not keep a failure cached for ever.
        return abs(self._clock() - entry.checked) < self.negative_ttl

    def _pull_and_read(self, link: ApkSource, package: str, apk_path: str) -> LabelResult:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="pull-", suffix=".apk", dir=self.directory)
        except OSError as e:
            return LabelResult(None, f"no room for the APK: {e}")
        os.close(fd)
        try:
            self.pulls += 1
            try:
                link.pull(apk_path, name)
            except AdbError as e:
                return LabelResult(None, f"pull failed: {e}")
            except Exception as e:  # any other ApkSource: never raise either
                return LabelResult(None, f"pull failed: {type(e).__name__}: {e}")
            return read_label(name, package)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)

    def _sweep(self) -> None:
        """Remove APKs an earlier process left behind when it died mid-pull (an hour old)."""
        cutoff = time.time() - 3600
        for leftover in self.directory.glob("pull-*.apk"):
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def _store(self, key: tuple[str, int], result: LabelResult) -> None:
        with self._lock:
            self._entries[key] = _Entry(result.label, result.error, self._clock())
            if result.error is None:
                self._prune(key[0])
            self._save()

    def _prune(self, package: str) -> None:
        versions = sorted(vc for (p, vc) in self._entries if p == package)
        for vc in versions[:-_VERSIONS_KEPT]:
            del self._entries[(package, vc)]

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as e:
            log.warning("label cache %s unreadable, starting empty: %s", self.path, e)
            return
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise ValueError(f"not a format-{_FORMAT} label cache")
            records = data["labels"]
            if not isinstance(records, list):
                raise ValueError("'labels' is not a list")
            entries = dict(_record(r) for r in records)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("label cache %s is corrupt, ignoring it: %s", self.path, e)
            return
        self._entries = entries

    def _save(self) -> None:
        """Write the whole cache atomically (a crash leaves the old file or the new one)."""
        records = [
            {
                "package": package,
                "version_code": version_code,
                "label": entry.label,
                "error": entry.error,
                "checked": entry.checked,
            }
            for (package, version_code), entry in sorted(self._entries.items())
        ]
        # ensure_ascii: lone surrogates and control characters survive as \u escapes.
        text = json.dumps({"format": _FORMAT, "labels": records}, ensure_ascii=True)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".labels-", suffix=".json", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="ascii") as f:
                    f.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as e:
            log.warning("label cache %s not saved: %s", self.path, e)


def _record(raw: object) -> tuple[tuple[str, int], _Entry]:
    """One stored record, checked field by field (a hand-edited file must not poison results)."""
    if not isinstance(raw, dict):
        raise TypeError("a record is not an object")
    package, version_code = raw["package"], raw["version_code"]
    label, error, checked = raw["label"], raw["error"], raw["checked"]
    if not isinstance(package, str) or type(version_code) is not int:
        raise TypeError(f"bad key {package!r}/{version_code!r}")
    if not (label is None or isinstance(label, str)) or not (
        error is None or isinstance(error, str)
    ):
        raise TypeError(f"bad label/error for {package}")
    if not isinstance(checked, int | float) or isinstance(checked, bool):
        raise TypeError(f"bad time for {package}")
    return (package, version_code), _Entry(label, error, float(checked))
