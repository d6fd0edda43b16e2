"""Device lists as the adb server reports them: pure parsing and diffing, no sockets.

Kept apart from the socket code (as adbutils does with ``_output2devices``) so the rules for
odd lines — ``no permissions (...)`` states, missing tags, junk — are tested on plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

Transport = Literal["usb", "tcp", "emulator", "unknown"]
_TAG = re.compile(r"([a-z_]+):(\S*)")


@dataclass(frozen=True)
class DeviceInfo:
    """One device as the adb server lists it."""

    serial: str
    state: str
    """``device``, ``unauthorized``, ``offline``, ``authorizing``, ``no permissions``, ..."""
    transport: Transport = "unknown"
    model: str | None = None
    product: str | None = None
    device: str | None = None
    transport_id: int | None = None
    usb: str | None = None
    android_release: str | None = None
    """Filled by ``AdbClient.devices(details=True)`` for online devices."""
    sdk: int | None = None

    @property
    def online(self) -> bool:
        return self.state == "device"

    def as_dict(self) -> dict[str, object]:
        return {
            "serial": self.serial,
            "state": self.state,
            "transport": self.transport,
            "model": self.model,
            "android_release": self.android_release,
            "sdk": self.sdk,
            "product": self.product,
            "device": self.device,
            "transport_id": self.transport_id,
            "usb": self.usb,
        }


EventKind = Literal["connected", "unauthorized", "offline", "gone", "other"]


@dataclass(frozen=True)
class DeviceEvent:
    """A device changed state (hot-plug)."""

    serial: str
    state: str | None
    """The new state, ``None`` when the server no longer lists the device."""
    previous: str | None
    """The state before, ``None`` when the device is new."""

    @property
    def kind(self) -> EventKind:
        if self.state is None:
            return "gone"
        if self.state == "device":
            return "connected"
        if self.state in ("unauthorized", "offline"):
            return self.state  # type: ignore[return-value]  # narrowed by the check above
        return "other"


def _transport(serial: str, tags: Mapping[str, str]) -> Transport:
    if "usb" in tags:
        return "usb"
    if serial.startswith("emulator-"):
        return "emulator"
    if ":" in serial or "._adb-tls-" in serial:
        return "tcp"
    return "unknown"


def parse_devices_l(text: str) -> list[DeviceInfo]:
    """Parse ``host:devices-l``: ``SERIAL  STATE [tag:value ...]`` per line.

    The state may contain spaces (``no permissions (...); see [...]``), so everything between
    the serial and the first ``tag:value`` word is the state. Lines without a state are skipped.
    """
    out: list[DeviceInfo] = []
    for raw in text.splitlines():
        words = raw.split()
        if len(words) < 2:
            continue
        serial, rest = words[0], words[1:]
        state_words: list[str] = []
        tags: dict[str, str] = {}
        for word in rest:
            match = _TAG.fullmatch(word)
            if match and (tags or state_words):
                tags[match.group(1)] = match.group(2)
            else:
                state_words.append(word)
        state = " ".join(state_words)
        tid = tags.get("transport_id", "")
        out.append(
            DeviceInfo(
                serial=serial,
                state=state,
                transport=_transport(serial, tags),
                model=tags.get("model") or None,
                product=tags.get("product") or None,
                device=tags.get("device") or None,
                transport_id=int(tid) if tid.isdigit() else None,
                usb=tags.get("usb") or None,
            )
        )
    return out


def parse_track(text: str) -> dict[str, str]:
    """Parse one ``host:track-devices`` message (``SERIAL\\tSTATE`` lines) into serial -> state."""
    states: dict[str, str] = {}
    for raw in text.splitlines():
        serial, _, state = raw.partition("\t")
        if serial and state:
            states[serial] = state.strip()
    return states


def diff_states(before: Mapping[str, str], after: Mapping[str, str]) -> Iterator[DeviceEvent]:
    """Events that turn ``before`` into ``after``, in a stable order (by serial)."""
    for serial in sorted(before.keys() | after.keys()):
        old, new = before.get(serial), after.get(serial)
        if old != new:
            yield DeviceEvent(serial=serial, state=new, previous=old)
