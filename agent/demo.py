"""``tetherguard demo``: a simulated fleet on a private adb server, seen through the real stack.

A new user runs one command and, with no phone, sees what tetherguard sees: phones of Android
9 to 15 come online through the real adb server and answer over the real protocol. The private
server keeps the simulated phones out of the owner's own adb server.
"""

from __future__ import annotations

import time
from typing import TextIO

from agent.adb.server import PrivateAdbServer
from agent.present import devices_table
from agent.simfleet import SimFleet


def run_demo(*, devices: int, stay: bool, out: TextIO, seed: int = 0) -> int:
    """Start the fleet, show it as ``tetherguard devices`` would, then stop (or stay)."""
    with PrivateAdbServer() as server:
        client = server.client()
        out.write(f"Private adb server {server.binary} on 127.0.0.1:{server.port}\n")
        with SimFleet(client) as fleet:
            fleet.start(devices, android="mixed", seed=seed)
            fleet.connect()
            out.write(f"{devices} simulated phone(s) online:\n\n")
            devices_table(client.devices(details=True), out)
            started = time.perf_counter()
            total = 0
            for device in fleet.devices:
                listing = client.link(device.serial).shell(["pm", "list", "packages"]).check()
                total += sum(
                    1 for line in listing.stdout.splitlines() if line.startswith("package:")
                )
            took = (time.perf_counter() - started) * 1000
            out.write(
                f"\nListed {total} packages across the fleet in {took:.1f} ms "
                f"({took / devices:.2f} ms per phone)\n"
            )
            if stay:
                out.write(
                    "\nThe fleet stays up until Ctrl-C. In another terminal:\n"
                    f"  ANDROID_ADB_SERVER_PORT={server.port} tetherguard devices\n"
                    f"  ANDROID_ADB_SERVER_PORT={server.port} adb -s {fleet.devices[0].serial} "
                    "shell dumpsys package\n"
                )
                out.flush()
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    out.write("stopping the fleet\n")
    return 0
