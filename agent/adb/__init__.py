"""The one layer through which tetherguard talks to phones.

Public API (researchers script against it)::

    from agent.adb import AdbClient, Package
    client = AdbClient()                       # server from the environment, as adb does
    for info in client.devices(details=True):  # every state: device, unauthorized, offline, ...
        print(info.serial, info.state, info.model, info.android_release)
    link = client.link("SERIAL")
    r = link.shell(["dumpsys", "package", Package("com.example")], timeout=10.0)
    r.stdout, r.stderr, r.exit_code
    with link.stream(["logcat", "-b", "events", "-v", "epoch"]) as lines:
        for line in lines: ...
    for event in client.track(): ...           # DeviceEvent(serial, state, previous).kind

Nothing here parses Android's dumps: that is :mod:`agent.parsers`' job.
"""

from agent.adb.args import AppOp, Arg, Package, Permission, Script, UserId, render
from agent.adb.client import AdbClient, DeviceLink, DeviceTracker, ShellResult, ShellStream
from agent.adb.devices import DeviceEvent, DeviceInfo
from agent.adb.errors import (
    AdbError,
    AdbServerUnavailable,
    CommandFailed,
    CommandTimeout,
    DeviceNotFound,
    DeviceOffline,
    DeviceUnauthorized,
    InvalidArgument,
    OutputTooLarge,
)
from agent.adb.wire import ServerAddress

__all__ = [
    "AdbClient",
    "AdbError",
    "AdbServerUnavailable",
    "AppOp",
    "Arg",
    "CommandFailed",
    "CommandTimeout",
    "DeviceEvent",
    "DeviceInfo",
    "DeviceLink",
    "DeviceNotFound",
    "DeviceOffline",
    "DeviceTracker",
    "DeviceUnauthorized",
    "InvalidArgument",
    "OutputTooLarge",
    "Package",
    "Permission",
    "Script",
    "ServerAddress",
    "ShellResult",
    "ShellStream",
    "UserId",
    "render",
]
