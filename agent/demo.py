"""``tetherguard demo``: a simulated fleet on a private adb server, seen through the real stack.

A new user runs one command and, with no phone, sees what tetherguard sees: phones of several
Android versions come online through the real adb server and answer over the real protocol.
The private server keeps the simulated phones out of the owner's own adb server.
"""

from __future__ import annotations

import time
from typing import TextIO

from agent.adb import AdbClient, AdbError
from agent.adb.server import PrivateAdbServer
from agent.present import devices_table
from agent.sim import SimHost, basic_shell

# (model, manufacturer, codename, release, sdk): the versions the simulator speaks.
_PROFILES = [
    ("Pixel 8", "Google", "shiba", "15", "35"),
    ("SM-A405FN", "samsung", "a40", "10", "29"),
    ("KFTRWI", "Amazon", "trona", "9", "28"),
    ("Redmi Note 11", "Xiaomi", "spes", "13", "33"),
    ("CPH2409", "OPPO", "OP5579L1", "12", "31"),
    ("Pixel 6a", "Google", "bluejay", "14", "34"),
    ("moto g(30)", "motorola", "caprip", "11", "30"),
]


def _props(index: int) -> dict[str, str]:
    model, maker, codename, release, sdk = _PROFILES[index % len(_PROFILES)]
    return {
        "ro.product.model": model,
        "ro.product.manufacturer": maker,
        "ro.product.name": codename,
        "ro.product.device": codename,
        "ro.build.version.release": release,
        "ro.build.version.sdk": sdk,
        "ro.serialno": f"TG{index:06d}",
    }


def _banner(props: dict[str, str]) -> dict[str, str]:
    clean = {
        k: "".join(c if c.isalnum() or c in "_.-" else "_" for c in v) for k, v in props.items()
    }
    return {k: clean[k] for k in ("ro.product.name", "ro.product.model", "ro.product.device")}


def run_demo(*, devices: int, stay: bool, out: TextIO) -> int:
    """Start the fleet, show it as ``tetherguard devices`` would, then stop (or stay)."""
    with SimHost() as host, PrivateAdbServer() as server:
        client: AdbClient = server.client()
        out.write(f"Private adb server {server.binary} on 127.0.0.1:{server.port}\n")
        phones = []
        for i in range(devices):
            props = _props(i)
            phones.append(host.add(basic_shell(props), props=_banner(props)))
        for phone in phones:
            client.connect(phone.serial)
        deadline = time.monotonic() + 30
        while True:
            online = {i.serial for i in client.devices() if i.online}
            if all(p.serial in online for p in phones):
                break
            if time.monotonic() > deadline:
                raise AdbError(f"only {len(online)} of {devices} simulated phones came online")
            time.sleep(0.05)
        out.write(f"{devices} simulated phone(s) online:\n\n")
        devices_table(client.devices(details=True), out)
        started = time.perf_counter()
        for phone in phones:
            client.link(phone.serial).shell(["echo", "ok"]).check()
        took = (time.perf_counter() - started) * 1000
        out.write(
            f"\nOne command on every phone: {took:.1f} ms in all ({took / devices:.2f} ms each)\n"
        )
        if stay:
            out.write(
                f"\nThe fleet stays up until Ctrl-C. In another terminal:\n"
                f"  ANDROID_ADB_SERVER_PORT={server.port} tetherguard devices\n"
            )
            out.flush()
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                out.write("stopping the fleet\n")
        for phone in phones:
            client.disconnect(phone.serial)
    return 0
