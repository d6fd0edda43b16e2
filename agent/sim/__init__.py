"""Simulated Android devices for end-to-end tests: the device side of the adb transport.

The real adb server connects to these over loopback (``adb connect 127.0.0.1:PORT``), so the
host stack is exercised exactly as with a phone. Stdlib asyncio only; it must never import the
host-side client (:mod:`agent.adb`) or adbutils - an import-linter contract enforces that.
"""

from agent.sim.commands import basic_shell, pattern_bytes
from agent.sim.host import SimHost
from agent.sim.shell import CommandHandler, Shell, ShellIO
from agent.sim.transport import AdbDeviceServer, AuthMode

__all__ = [
    "AdbDeviceServer",
    "AuthMode",
    "CommandHandler",
    "Shell",
    "ShellIO",
    "SimHost",
    "basic_shell",
    "pattern_bytes",
]
