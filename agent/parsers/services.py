"""``dumpsys activity services [PKG]`` -> who started or bound each running service.

Owns the one place the shell can learn *which app* started another app's service: no release
logs the caller of ``startService``/``bindService`` (the event log's ``am_proc_start`` only says
``service``), but ActivityManager's dump of each ``ServiceRecord`` keeps it
(``android-packages-installs.md`` §4.2):

* ``* Client AppBindRecord{hash ProcessRecord{hash PID:PROC/u0a12}}`` under ``Bindings:`` -
  every release: the processes bound to the service (``bindService``);
* ``recentCallingPackage=`` / ``recentCallingUid=`` - Android 11+: who last started or bound it
  (kept for the foreground-service while-in-use checks);
* ``app=ProcessRecord{hash PID:PROC/u0a12}`` - the process hosting the service, once it runs;
  ``createdFromFg=`` - whether the caller was in the foreground.

:mod:`agent.starts` reads these right after an ``am_proc_start ... service`` line to tell an
associated start (another app's client) from an autostart (no app caller). Record headers
``* ServiceRecord{hash uN pkg/.Cls[ ...]}`` open a block; everything else in the dump (intent
filters, connections, timings, the ``(nothing)`` of an empty dump) is skipped without warning,
because the dump's layout varies by release and OEM and only these lines matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from agent.model import Parsed, ServiceClient, ServiceRecordInfo
from agent.parsers.eventlog import parse_uid, short_component
from agent.parsers.sections import Warnings, lines_of

__all__ = ["parse_service_records"]

_FIELD_MAX: Final = 512
_RECORD = re.compile(
    r"\* ServiceRecord\{([0-9a-f]{1,16}) u(\d{1,6}) ([^\s}]{1,512})([^}]{0,512})\}"
)
_PROCESS_RECORD = re.compile(
    r"ProcessRecord\{[0-9a-f]{1,16} (\d{1,10}):([^\s/}]{1,512})/(\w{1,16})"
)


def _client(text: str) -> ServiceClient | None:
    m = _PROCESS_RECORD.search(text)
    if m is None:
        return None
    return ServiceClient(int(m.group(1)), m.group(2), parse_uid(m.group(3)))


def _to_int(text: str) -> int | None:
    t = text.strip()
    body = t[1:] if t.startswith("-") else t
    return int(t) if body and len(body) <= 12 and body.isascii() and body.isdigit() else None


@dataclass
class _Block:
    """The fields of the ``ServiceRecord`` being read."""

    component: str
    user: int
    package: str
    process: str | None = None
    pid: int | None = None
    uid: int | None = None
    recent_caller_package: str | None = None
    recent_caller_uid: int | None = None
    created_from_fg: bool | None = None
    clients: list[ServiceClient] = field(default_factory=list)

    def record(self) -> ServiceRecordInfo:
        return ServiceRecordInfo(
            self.component,
            self.user,
            self.package,
            self.process,
            self.pid,
            self.uid,
            self.recent_caller_package,
            self.recent_caller_uid,
            self.created_from_fg,
            tuple(self.clients),
        )


def _header(line: str) -> _Block | str:
    """A ``* ServiceRecord{...}`` line as a new block, or why it cannot be read."""
    m = _RECORD.match(line)
    if m is None:
        return "ServiceRecord header not understood"
    component = short_component(m.group(3))
    if component is None:
        return "ServiceRecord without a component"
    block = _Block(component, int(m.group(2)), component.split("/", 1)[0])
    # Newer builds append " c:<calling package>" inside the braces.
    for word in m.group(4).split():
        if word.startswith("c:") and len(word) > 2:
            block.recent_caller_package = word[2:_FIELD_MAX]
    return block


def parse_service_records(text: str) -> Parsed[tuple[ServiceRecordInfo, ...]]:
    """Parse ``dumpsys activity services [PKG]`` into one record per ``ServiceRecord``."""
    warnings = Warnings()
    out: list[ServiceRecordInfo] = []
    block: _Block | None = None
    for no, raw in enumerate(lines_of(text), 1):
        s = raw.strip()
        if s.startswith("* ServiceRecord{"):
            if block is not None:
                out.append(block.record())
            opened = _header(s)
            block = opened if isinstance(opened, _Block) else None
            if isinstance(opened, str):
                warnings.add(no, raw, opened)
        elif block is not None:
            _field(block, s, no, raw, warnings)
    if block is not None:
        out.append(block.record())
    return Parsed(tuple(out), warnings.result())


def _field(block: _Block, s: str, no: int, raw: str, warnings: Warnings) -> None:
    if s.startswith("packageName=") and len(s) > 12:
        block.package = s[12:][:_FIELD_MAX]
    elif s.startswith("processName="):
        block.process = s[12:][:_FIELD_MAX] or None
    elif s.startswith("app=ProcessRecord{"):
        proc = _client(s)
        if proc is not None:
            block.pid, block.uid = proc.pid, proc.uid
            block.process = block.process or proc.process
    elif s.startswith("recentCallingPackage="):
        value = s[21:]
        if value and value != "null":
            block.recent_caller_package = value[:_FIELD_MAX]
    elif s.startswith("recentCallingUid="):
        block.recent_caller_uid = _to_int(s[17:])
    elif s.startswith("createdFromFg="):
        block.created_from_fg = s[14:].startswith("true")
    elif s.startswith("* Client AppBindRecord{"):
        client = _client(s)
        if client is None:
            warnings.add(no, raw, "binding client not understood")
        elif client not in block.clients and len(block.clients) < 64:
            block.clients.append(client)
