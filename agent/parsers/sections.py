"""How dump text is framed: the lines a parser walks, and the services of a concatenated dump.

Owns :func:`split_dumpsys`, which cuts the output of a bare ``dumpsys`` (androidqf, MVT) or the
``dumpsys`` part of a bugreport into one text per ``DUMP OF SERVICE <name>:`` section, so that a
service parser (``dumpsys package``, ``dumpsys device_policy`` ...) can be fed the very text it
would have got from ``dumpsys <name>``. The conformance tests use it on the shared captures.

It also owns two helpers the package, user, getprop, launcher, policy and power parsers share,
kept here because this module is about framing and imports nothing else of the parsers:

* :func:`lines_of` splits text on ``\\n`` only. ``str.splitlines`` would also split on U+2028,
  U+0085, form feeds and the like, which a hostile app can put in a label; Android's own line
  break is ``\\n`` (``\\r\\n`` when a pty was used, so a trailing ``\\r`` is dropped).
* :class:`Warnings` collects :class:`~agent.model.ParseWarning` records with the line cut to 200
  characters, and stops storing them after :data:`MAX_WARNINGS` (a megabyte of garbage must not
  become a megabyte of warnings); the overflow is counted in one final warning, so nothing is
  dropped silently.
"""

from __future__ import annotations

from agent.model import ParseWarning

__all__ = ["MAX_WARNINGS", "Warnings", "lines_of", "split_dumpsys"]

MAX_WARNINGS = 1000
"""Warnings stored per parse; the rest are counted (see :meth:`Warnings.result`)."""

_HEADER = "DUMP OF SERVICE "
_PRIORITIES = frozenset({"CRITICAL", "HIGH", "NORMAL"})
"""``dumpstate`` dumps services by priority: ``DUMP OF SERVICE CRITICAL SurfaceFlinger:``."""


def lines_of(text: str) -> list[str]:
    """``text`` split on ``\\n``, without trailing ``\\r``s. Split once, by the caller."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()  # the terminator of the last line, not an empty line
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


class Warnings:
    """A bounded list of :class:`ParseWarning`; see the module docstring."""

    __slots__ = ("_dropped", "_items")

    def __init__(self) -> None:
        self._items: list[ParseWarning] = []
        self._dropped = 0

    def add(self, line_no: int, line: str, reason: str) -> None:
        if len(self._items) < MAX_WARNINGS:
            self._items.append(ParseWarning(line_no, line[:200], reason))
        else:
            self._dropped += 1

    @property
    def full(self) -> bool:
        """No more warnings will be stored (a caller may skip working out their details)."""
        return len(self._items) >= MAX_WARNINGS

    def __len__(self) -> int:
        return len(self._items) + self._dropped

    def result(self) -> tuple[ParseWarning, ...]:
        if not self._dropped:
            return tuple(self._items)
        last = self._items[-1].line_no
        more = ParseWarning(last, "", f"{self._dropped} more lines not understood (not stored)")
        return (*self._items, more)


def _service_name(line: str) -> str | None:
    """``DUMP OF SERVICE [PRIORITY ]name:`` -> ``name``."""
    if not line.startswith(_HEADER) or not line.endswith(":"):
        return None
    words = line[len(_HEADER) : -1].split(" ")
    if len(words) == 2 and words[0] in _PRIORITIES:
        words = words[1:]
    if len(words) != 1 or not words[0]:
        return None
    return words[0]


def _ends_body(line: str) -> bool:
    """The framing ``dumpsys``/``dumpstate`` prints after a service's own output."""
    if line.startswith("--------- ") and " was the duration of " in line:
        return True  # "--------- 2.929s was the duration of dumpsys package, ending at: ..."
    # "------ SYSTEM LOG (logcat -v threadtime ...) ------": the next dumpstate section.
    return line.startswith("------ ") and line.endswith(" ------")


def split_dumpsys(text: str) -> dict[str, str]:
    """Split a concatenated ``dumpsys`` or bugreport into ``{service: text}``.

    Each value is what ``dumpsys <service>`` printed: the lines after the ``DUMP OF SERVICE``
    header up to the ``--------- N.NNNs was the duration of dumpsys ...`` line, or up to the
    dash rule before the next header when that line is missing (a stitched or truncated file).
    Lines outside any service (``Currently running services:``, a tool's own preamble) are not
    returned. A ``*** SERVICE 'x' DUMP TIMEOUT ... EXPIRED ***`` line stays in the text so the
    service's parser can report the truncation.

    A service dumped twice (some bugreports dump a service at two priorities) keeps its first
    text under its name and the next ones under ``name#2``, ``name#3`` ...: concatenating them
    would make one parser see every record twice.
    """
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    name: str | None = None
    body: list[str] = []

    def close() -> None:
        if name is None:
            return
        while body and body[-1].strip("-") == "" and body[-1]:
            body.pop()  # the dash rule dumpsys prints before the next header
        n = seen[name] = seen.get(name, 0) + 1
        key = name if n == 1 else f"{name}#{n}"
        out[key] = "".join(line + "\n" for line in body)

    in_body = False
    for line in lines_of(text):
        header = _service_name(line) if line.startswith(_HEADER) else None
        if header is not None:
            close()
            name, body, in_body = header, [], True
        elif in_body:
            if _ends_body(line):
                in_body = False
            else:
                body.append(line)
    close()
    return out
