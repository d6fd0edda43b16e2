"""Device text never drives the terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.textsafe import printable


def test_escapes_ansi_osc_and_bidi() -> None:
    label = "\x1b]0;pwned\x07\x1b[31mBank\u202egpj.exe\r\n"
    shown = printable(label)
    assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
    assert shown == "\\x1b]0;pwned\\x07\\x1b[31mBank\\u202egpj.exe\\x0d\\x0a"


def test_keeps_ordinary_text_and_cuts_floods() -> None:
    assert printable("微信 WeChat 👍\tok") == "微信 WeChat 👍\tok"
    assert len(printable("x" * 10_000)) == 501


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    shown = printable(text, max_len=None)
    assert not any(ord(c) < 0x20 and c != "\t" for c in shown)
    assert not any(0x7F <= ord(c) <= 0x9F for c in shown)
