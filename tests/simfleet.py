"""Helpers to plug simulated phones into the test session's real adb server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agent.sim.commands import basic_shell
from agent.sim.host import SimHost
from agent.sim.transport import AdbDeviceServer
from tests.adbserver import AdbServer

PIXEL_PROPS = {
    "ro.product.model": "Pixel 8",
    "ro.product.name": "shiba",
    "ro.product.device": "shiba",
    "ro.product.manufacturer": "Google",
    "ro.build.version.release": "15",
    "ro.build.version.sdk": "35",
}


def banner(props: dict[str, str]) -> dict[str, str]:
    """Banner values must be plain words: adb splits the banner on ':', ';' and '='."""
    return {
        "ro.product.name": props["ro.product.name"],
        "ro.product.model": props["ro.product.model"].replace(" ", "_"),
        "ro.product.device": props["ro.product.device"],
    }


@contextmanager
def plugged(
    host: SimHost,
    adb: AdbServer,
    props: dict[str, str] | None = None,
    *,
    connect: bool = True,
    **kwargs: Any,
) -> Iterator[AdbDeviceServer]:
    """A simulated phone, ``adb connect``-ed for the duration; always disconnected afterwards
    (a stopped device that stays connected lingers as an offline ghost for 60 s)."""
    props = dict(props or PIXEL_PROPS)
    device = host.add(basic_shell(props), props=banner(props), **kwargs)
    try:
        if connect:
            adb.connect(device.serial)
        yield device
    finally:
        adb.disconnect(device.serial)
        host.stop(device)
