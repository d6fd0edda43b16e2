"""Android's shell commands for simulated phones, one module per family, in real formats.

Each family module has ``install(reg: Registry) -> None`` and adds its handlers: plain commands
(``logcat``), ``dumpsys`` services (``dumpsys package``) and ``cmd`` services (``cmd appops``;
``pm``, ``appops`` and ``am`` are the same services under their old names). Handlers read and
change :class:`~agent.sim.state.DeviceState` and print exactly what the simulated Android
version prints (``reg.state.build.sdk`` picks the format). The toybox family (``grep``,
``md5sum``, ``head`` ...) reads the phone's files from ``reg.files`` rather than the state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from agent.sim.shell import ShellIO, StageKind
from agent.sim.state import DeviceState

ServiceHandler = Callable[[list[str], ShellIO], Awaitable[int]]
"""Gets the arguments after the service name (``dumpsys package X`` -> ``["X"]``)."""


class Registry:
    """Where command families put their handlers; the device assembles a shell from it."""

    def __init__(self, state: DeviceState, files: Mapping[str, bytes] | None = None) -> None:
        self.state = state
        self.files: Mapping[str, bytes] = files if files is not None else {}
        """The phone's files by absolute path (what ``cat`` and ``md5sum FILE`` read)."""
        self.commands: dict[str, ServiceHandler] = {}
        """Plain commands; handlers get the arguments after the command name."""
        self.dumpsys: dict[str, ServiceHandler] = {}
        self.cmd: dict[str, ServiceHandler] = {}
        self.kinds: dict[str, StageKind] = {}
        """What each plain command is in a pipeline (see ``Shell.register``)."""

    def command(self, name: str, handler: ServiceHandler, kind: StageKind | None = None) -> None:
        self.commands[name] = handler
        if kind is not None:
            self.kinds[name] = kind

    def dumpsys_service(self, name: str, handler: ServiceHandler) -> None:
        self.dumpsys[name] = handler

    def cmd_service(self, name: str, handler: ServiceHandler) -> None:
        self.cmd[name] = handler
