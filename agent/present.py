"""Plain-text presentation shared by CLI commands. Device strings pass through printable()."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from agent.adb import DeviceInfo
from agent.textsafe import printable

_HINTS = {
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging?' prompt",
    "offline": "replug the cable or toggle USB debugging",
    "authorizing": "waiting for the phone to answer the key exchange",
    "no permissions": "the host lacks permission for this USB device (udev rules)",
}


def devices_table(infos: Sequence[DeviceInfo], out: TextIO) -> None:
    """The ``tetherguard devices`` table; hints for devices that need the owner go to stderr."""
    rows = [("SERIAL", "STATE", "MODEL", "ANDROID", "TRANSPORT")]
    hints: list[str] = []
    for i in infos:
        release = i.android_release or "-"
        if i.sdk is not None:
            release = f"{release} (API {i.sdk})"
        rows.append(
            (
                printable(i.serial, 64),
                printable(i.state, 32),
                printable(i.model or "-", 40),
                printable(release, 24),
                i.transport,
            )
        )
        for state, hint in _HINTS.items():
            if i.state.startswith(state):
                hints.append(f"{printable(i.serial, 64)}: {hint}")
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")
    for h in hints:
        sys.stderr.write(h + "\n")
