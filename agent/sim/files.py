"""A simulated phone's files as ``sync:`` sees them: what was pushed, plus every installed APK.

Owns the mapping the transport serves ``adb pull``/``push``/``ls`` from. Plain files (pushed, or
set by a test) are stored as given; the APKs of installed packages are *virtual*: they appear at
each package's code path (``pm path`` prints the same paths: ``base.apk`` and one
``split_<name>.apk`` per split) from the moment the package is installed, and their bytes are
built by :mod:`agent.sim.apk` only when a path is first read or statted, then kept until the
package changes (an update, a new label). A fleet of 150 phones with 40 apps each therefore
builds nothing at start-up, and a ``pm path`` never builds anything.

The transport knows nothing of packages: it sees a ``MutableMapping[str, bytes]``. Deleting an
APK path (``del files[path]``) makes it vanish, as a file removed behind the package manager's
back does, until the package changes (an update writes a new APK) or a file is pushed there.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, MutableMapping

from agent.sim.apk import ApkSpec, base_apk, spec_of, split_apk
from agent.sim.state import DeviceState, Package

__all__ = ["DeviceFiles"]


class DeviceFiles(MutableMapping[str, bytes]):
    """Path -> bytes for one phone; APKs of installed packages are built on first access."""

    def __init__(self, state: DeviceState) -> None:
        self._state = state
        self._plain: dict[str, bytes] = {}
        self._removed: dict[str, ApkSpec] = {}
        """APK paths deleted by hand -> the APK they held; gone until the package changes."""
        self._built: dict[str, tuple[ApkSpec, str | None, bytes]] = {}
        """path -> (spec, split, bytes) of the last APK built there."""
        self.builds = 0
        """How many APKs were generated so far (tests check the laziness)."""

    # ---------------------------------------------------------------- the virtual part
    def _apk_paths(self) -> dict[str, tuple[Package, str | None]]:
        """Every APK on the phone now: path -> (package, split name or None for base)."""
        paths: dict[str, tuple[Package, str | None]] = {}
        for pkg in self._state.packages.values():
            if not (pkg.system or any(u.installed for u in pkg.users.values())):
                continue  # uninstalled, data kept (-k): the APK is gone
            base = pkg.dir_name
            directory = posixpath.dirname(base) or "/"
            paths[base] = (pkg, None)
            for split in pkg.splits:
                paths[f"{directory}/split_{split}.apk"] = (pkg, split)
        for path, spec in self._removed.items():
            if path in paths and spec_of(paths[path][0]) == spec:
                del paths[path]
        return paths

    def _apk(self, path: str) -> bytes | None:
        found = self._apk_paths().get(path)
        if found is None:
            return None
        pkg, split = found
        spec = spec_of(pkg)
        cached = self._built.get(path)
        if cached is not None and cached[0] == spec and cached[1] == split:
            return cached[2]
        data = base_apk(spec) if split is None else split_apk(spec, split)
        self._built[path] = (spec, split, data)
        self.builds += 1
        return data

    # ---------------------------------------------------------------- MutableMapping
    def __getitem__(self, path: str) -> bytes:
        if path in self._plain:
            return self._plain[path]
        data = self._apk(path)
        if data is None:
            raise KeyError(path)
        return data

    def __setitem__(self, path: str, data: bytes) -> None:
        self._plain[path] = data

    def __delitem__(self, path: str) -> None:
        if path in self._plain:
            del self._plain[path]
        elif (found := self._apk_paths().get(path)) is not None:
            self._removed[path] = spec_of(found[0])
            self._built.pop(path, None)
        else:
            raise KeyError(path)

    def __contains__(self, path: object) -> bool:
        # Overridden so a membership test never builds an APK (the default calls __getitem__).
        return isinstance(path, str) and (path in self._plain or path in self._apk_paths())

    def __iter__(self) -> Iterator[str]:
        yield from self._plain
        yield from (p for p in self._apk_paths() if p not in self._plain)

    def __len__(self) -> int:
        return len(self._plain) + sum(1 for p in self._apk_paths() if p not in self._plain)
