"""One simulated phone: its state, the Android commands that read and change it, its adb port,
and the faults a real phone shows (unplug, reboot, slow or never-ending commands, OEM refusals).

:class:`SimDevice` assembles a :class:`~agent.sim.shell.Shell` from the command families in
:mod:`agent.sim.android`, so ``adb shell pm revoke ...`` from any client changes the same
:class:`~agent.sim.state.DeviceState` that ``dumpsys package`` prints, and toybox's filters
(``grep``, ``md5sum`` ...) read the same :class:`~agent.sim.files.DeviceFiles` that ``adb pull``
serves.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.sim.android import Registry, ServiceHandler
from agent.sim.android import activity as activity_family
from agent.sim.android import appops as appops_family
from agent.sim.android import packages as packages_family
from agent.sim.android import sensors as sensors_family
from agent.sim.android import toybox as toybox_family
from agent.sim.files import DeviceFiles
from agent.sim.shell import CommandHandler, Shell, ShellIO
from agent.sim.state import DeviceState
from agent.sim.transport import AdbDeviceServer, AuthMode

__all__ = ["Faults", "SimDevice"]

log = logging.getLogger(__name__)

# Old command names and the cmd services behind them (frameworks/base/cmds/*).
_ALIASES = {"pm": "package", "appops": "appops", "am": "activity", "dpm": "device_policy"}


@dataclass
class Faults:
    """Misbehaviour to inject; change fields at any time (on the host loop)."""

    latency: float = 0.0
    """Seconds every command waits before answering (a slow phone, a busy system_server)."""
    hang: list[str] = field(default_factory=list)
    """Glob patterns of command lines that never finish (``dumpsys appops*``)."""
    fail: dict[str, str] = field(default_factory=dict)
    """Glob pattern -> stderr text; matching commands fail with exit 1 and that text."""


class SimDevice:
    """A simulated phone. Create it, then plug it into a :class:`~agent.sim.host.SimHost`."""

    def __init__(
        self,
        state: DeviceState,
        *,
        auth: AuthMode = AuthMode.ACCEPT_ANY,
        features: tuple[str, ...] = ("shell_v2", "cmd"),
        name: str = "",
    ) -> None:
        self.state = state
        self.name = name or state.build.model
        self.auth = auth
        self.features = features if state.build.sdk >= 24 else ("cmd",)
        self.faults = Faults()
        self.files = DeviceFiles(state)
        """What ``adb pull``/``push`` see: pushed files and, built on first read, each APK."""
        self.registry = Registry(state, self.files)
        families = (packages_family, appops_family, sensors_family, activity_family, toybox_family)
        for family in families:
            family.install(self.registry)
        self.shell = self._assemble()
        self.server: AdbDeviceServer | None = None

    # ---------------------------------------------------------------- shell assembly
    def _assemble(self) -> Shell:
        shell = Shell()
        reg = self.registry
        for name, handler in reg.commands.items():
            shell.register(name, self._wrap(handler), reg.kinds.get(name))
        # The services print their state and end (``pm install -S`` reads the session's stdin,
        # never a pipe's, so it too may run first in a pipeline).
        shell.register("getprop", self._wrap(self._getprop), "source")
        shell.register("dumpsys", self._wrap(self._dumpsys), "source")
        shell.register("cmd", self._wrap(self._cmd), "source")
        shell.register("id", self._wrap(self._id), "source")
        shell.register("whoami", self._wrap(self._whoami), "source")
        for alias, service in _ALIASES.items():
            if alias in reg.commands:
                continue
            shell.register(alias, self._wrap(self._alias(service)), "source")
        return shell

    def _wrap(self, handler: ServiceHandler) -> CommandHandler:
        """Adapt a handler that takes the arguments after the name, and apply the faults."""

        async def run(argv: list[str], io: ShellIO) -> int:
            line = " ".join(argv)
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            if any(fnmatch.fnmatchcase(line, pat) for pat in self.faults.hang):
                await asyncio.Event().wait()  # until the client gives up and the task is cancelled
            for pattern, text in self.faults.fail.items():
                if fnmatch.fnmatchcase(line, pattern):
                    await io.err(text if text.endswith("\n") else text + "\n")
                    return 1
            return await handler(argv[1:], io)

        return run

    def _alias(self, service: str) -> ServiceHandler:
        async def run(args: list[str], io: ShellIO) -> int:
            return await self._cmd([service, *args], io)

        return run

    async def _getprop(self, args: list[str], io: ShellIO) -> int:
        props = self.props()
        if not args:
            await io.out("".join(f"[{k}]: [{props[k]}]\n" for k in sorted(props)))
        else:
            await io.out(props.get(args[0], args[1] if len(args) > 1 else "") + "\n")
        return 0

    async def _dumpsys(self, args: list[str], io: ShellIO) -> int:
        services = self.registry.dumpsys
        # -t SECONDS / -T MILLISECONDS set dumpsys' per-service timeout; nothing to simulate.
        while len(args) >= 2 and args[0] in ("-t", "-T"):
            if not args[1].isdigit():
                await io.err(f"Error parsing timeout '{args[1]}'\n")
                return 255
            args = args[2:]
        if not args:
            for name in sorted(services):
                await io.out(
                    "-------------------------------------------------------------------------------\n"
                    f"DUMP OF SERVICE {name}:\n"
                )
                await services[name]([], io)
            return 0
        if args[0] == "-l":
            await io.out("Currently running services:\n")
            await io.out("".join(f"  {name}\n" for name in sorted(services)))
            return 0
        handler = services.get(args[0])
        if handler is None:
            # frameworks/native/cmds/dumpsys: the message goes to stderr, the exit status is 0.
            await io.err(f"Can't find service: {args[0]}\n")
            return 0
        return await handler(args[1:], io)

    async def _cmd(self, args: list[str], io: ShellIO) -> int:
        if not args:
            await io.err("cmd: No service specified; use -l to list all running services. ")
            await io.err("Use -w to start and wait for a service.\n")
            return 20
        if args[0] == "-l":
            await io.out("Currently running services:\n")
            await io.out("".join(f"  {name}\n" for name in sorted(self.registry.cmd)))
            return 0
        handler = self.registry.cmd.get(args[0])
        if handler is None:
            await io.err(f"cmd: Can't find service: {args[0]}\n")
            return 20
        return await handler(args[1:], io)

    async def _id(self, args: list[str], io: ShellIO) -> int:
        await io.out(
            "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),"
            "1011(adb),1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),"
            "3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:shell:s0\n"
        )
        return 0

    async def _whoami(self, args: list[str], io: ShellIO) -> int:
        await io.out("shell\n")
        return 0

    # ---------------------------------------------------------------- adb endpoint
    def props(self) -> dict[str, str]:
        props = self.state.build.props()
        # Set by system_server at each boot (wall-clock ms): a cheap way to notice a reboot.
        props["ro.runtime.firstboot"] = str(self.state.boot_ms)
        props["sys.boot_completed"] = "1"
        return props

    def banner(self) -> Mapping[str, str]:
        """Banner values must be plain words: adb splits the banner on ':', ';' and '='."""
        props = self.props()

        def clean(value: str) -> str:
            return "".join(c if c.isalnum() or c in "_.-" else "_" for c in value) or "unknown"

        return {
            key: clean(props[key])
            for key in ("ro.product.name", "ro.product.model", "ro.product.device")
        }

    def server_kwargs(self) -> dict[str, object]:
        return {
            "props": self.banner(),
            "features": self.features,
            "auth": self.auth,
            "files": self.files,
        }

    @property
    def serial(self) -> str:
        if self.server is None:
            raise RuntimeError("the device is not plugged into a SimHost")
        return self.server.serial

    # ---------------------------------------------------------------- faults on the link
    async def unplug(self) -> None:
        """Pull the cable: every connection drops at once, the port stops listening."""
        if self.server is not None:
            await self.server.stop()

    async def plug(self) -> None:
        """Plug back in on the same port; the adb server reconnects on its next retry."""
        if self.server is not None:
            await self.server.start()

    async def reboot(self, downtime: float = 1.0) -> None:
        """Reboot: the link drops, state resets the way a boot does, the link comes back."""
        await self.unplug()
        self.state.reboot()
        await asyncio.sleep(downtime)
        await self.plug()
