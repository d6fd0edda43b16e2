"""Make device-originated text safe to show on a terminal.

Labels, package names and model strings come from the phone, and a hostile app controls its
label: an ANSI/OSC escape could recolour or retitle the terminal, hide text, or plant a link;
a bidi override (U+202E) can make ``gpj.exe`` read as ``exe.jpg``. Everything printed by the
CLI passes through :func:`printable`; the TUI additionally escapes Rich markup.
"""

from __future__ import annotations

import re

# C0/C1 controls (tab excepted), DEL, and the bidi embeddings/overrides/isolates and marks that
# reorder text. Zero-width joiners are left alone: emoji sequences use them legitimately.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, max_len: int | None = 500) -> str:
    """``text`` with control and bidi characters shown as ``\\xNN``/``\\uNNNN`` escapes.

    Args:
        text: anything, typically from a device.
        max_len: cut longer text with an ellipsis (a 1 MB label must not flood the screen);
            ``None`` for no cut.
    """
    if max_len is not None and len(text) > max_len:
        return _UNSAFE.sub(_escape, text[:max_len]) + "…"
    return _UNSAFE.sub(_escape, text)
