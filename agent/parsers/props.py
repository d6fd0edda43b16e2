"""``getprop`` (no arguments) -> :class:`~agent.model.DeviceProps`.

Owns the ``[key]: [value]`` listing that identifies a phone: model, release, SDK, fingerprint,
time zone. ``getprop`` prints each property as ``[name]: [value]``. A value can contain newlines
(``persist.sys.boot.reason.history`` holds several ``reason,epoch`` lines); such a value runs to
the first later line that ends with ``]``. A value that could end on its own line is taken to
end there, and a new ``[name]: [`` line always starts a new property: a stray or mangled line
then costs that one line (a warning), never the properties after it. (A value whose inner
line ends with ``]`` is ambiguous in ``getprop``'s own format; it is read as ending there.)
Blank lines between properties are skipped. A multi-line value still open at the end of the
text is kept as far as it was read, and ``error`` says it was cut.
"""

from __future__ import annotations

import re

from agent.model import DeviceProps, Parsed, frozen_map
from agent.parsers.sections import Warnings, lines_of

__all__ = ["parse_getprop"]

# Property names are [A-Za-z0-9._:@-]+ (PropertyInfo); anything else is not a getprop line.
_START = re.compile(r"\[([\w.:@\-]+)\]: \[")


def parse_getprop(text: str) -> Parsed[DeviceProps]:
    """Parse the whole ``getprop`` listing (see the module docstring for multi-line values).

    A property listed twice keeps its last value (``getprop`` never does that; a concatenated
    capture might). Values are kept verbatim, brackets removed.
    """
    warnings = Warnings()
    props: dict[str, str] = {}
    error: str | None = None
    key: str | None = None  # the multi-line value being read
    parts: list[str] = []
    start_no, start_line = 0, ""
    for no, line in enumerate(lines_of(text), 1):
        m = _START.match(line) if line.startswith("[") else None
        if key is not None:
            if m is None:
                parts.append(line)
                if line.endswith("]"):
                    parts[-1] = line[:-1]
                    props[key] = "\n".join(parts)
                    key = None
                continue
            # A new property before the closing bracket: keep what was read, say so.
            props[key] = "\n".join(parts)
            warnings.add(start_no, start_line, "value not closed by ]")
            key = None
        if m is None:
            if line.strip():
                warnings.add(no, line, "not a [name]: [value] line")
            continue
        value = line[m.end() :]
        if value.endswith("]"):
            props[m.group(1)] = value[:-1]
        else:
            key, parts, start_no, start_line = m.group(1), [value], no, line
    if key is not None:
        props[key] = "\n".join(parts)
        error = f"value of [{key}] (line {start_no}) is not closed: the text is cut"
    return Parsed(DeviceProps(frozen_map(props)), warnings.result(), error)
