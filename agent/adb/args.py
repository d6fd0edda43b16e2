"""Validation and quoting of everything that goes into an ``adb shell`` command line.

Android's shell (mksh, or toybox sh) re-parses the command string the adb server hands it,
so an unquoted package name like ``x;reboot`` would run ``reboot``. Two defences, both here:

1. Typed arguments (:class:`Package`, :class:`UserId`, :class:`Permission`, :class:`AppOp`)
   check Android's own grammar when they are built, so a hostile name from one device dump is
   refused before it can be used against any device.
2. :func:`render` quotes every word, typed or not, so even a valid-looking string cannot
   change the command's shape. Only :class:`Script`, a literal written in *our* source code,
   bypasses quoting.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from agent.adb.errors import InvalidArgument

# PackageParser/FrameworkParsingPackageUtils.validateName: dot-separated segments, each a
# letter then letters, digits or underscores. "android" itself has no dot, so one segment is
# allowed. 223 is the platform's MAX_FILE_NAME_SIZE bound on package names.
_PACKAGE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_PACKAGE_MAX = 223
# Permission names are not enforced by the platform beyond being a string, but every real one
# (AOSP, GMS, OEM) is a dotted identifier; a few OEM ones contain '-'.
_PERMISSION_RE = re.compile(r"[A-Za-z][A-Za-z0-9_$\-]*(?:\.[A-Za-z0-9_$\-]+)*")
# AppOpsManager names ("CAMERA", "android:camera", "RUN_ANY_IN_BACKGROUND") or op numbers.
_APPOP_RE = re.compile(r"(?:[A-Za-z][A-Za-z0-9_]*(?::[A-Za-z][A-Za-z0-9_]*)?|[0-9]{1,4})")
_NAME_MAX = 255


class Arg(str):
    """A validated command word. Subclasses check a grammar in ``__new__``."""

    kind = "argument"


class Package(Arg):
    """An Android package name such as ``com.example.app``."""

    kind = "package name"

    def __new__(cls, value: str) -> Package:
        _check(value, _PACKAGE_RE, _PACKAGE_MAX, cls.kind)
        return super().__new__(cls, value)


class Permission(Arg):
    """A permission name such as ``android.permission.CAMERA``."""

    kind = "permission name"

    def __new__(cls, value: str) -> Permission:
        _check(value, _PERMISSION_RE, _NAME_MAX, cls.kind)
        return super().__new__(cls, value)


class AppOp(Arg):
    """An AppOps operation: ``CAMERA``, ``android:camera`` or its number."""

    kind = "app op"

    def __new__(cls, value: str) -> AppOp:
        _check(value, _APPOP_RE, 64, cls.kind)
        return super().__new__(cls, value)


class UserId(Arg):
    """An Android user id (0, 10, ...) or one of the words ``pm``/``cmd`` accept for it."""

    kind = "user id"
    _WORDS = frozenset({"all", "current", "cur"})

    def __new__(cls, value: int | str) -> UserId:
        text = str(value)
        if isinstance(value, bool) or not (
            (text.isascii() and text.isdigit() and len(text) <= 9) or text in cls._WORDS
        ):
            raise InvalidArgument(f"not a valid user id: {_show(text)}")
        return super().__new__(cls, text)


class Script(str):
    """A trusted shell snippet from our own source code; it is sent as is, never quoted.

    Never build one from device output: wrap device strings in the typed arguments instead.
    """


def _show(value: str) -> str:
    """Shorten and make printable a rejected value for an error message."""
    text = value if len(value) <= 80 else value[:77] + "..."
    return repr(text)


def _check(value: str, pattern: re.Pattern[str], max_len: int, kind: str) -> None:
    if not isinstance(value, str):
        raise InvalidArgument(f"{kind} must be text, got {type(value).__name__}")
    if len(value) > max_len or not pattern.fullmatch(value):
        raise InvalidArgument(f"not a valid {kind}: {_show(value)}")


def render(argv: Sequence[str | int] | Script) -> str:
    """Turn an argv list into the one command string adb carries, every word quoted.

    Raises:
        InvalidArgument: an empty argv, or a word with a NUL byte (no shell can carry it).
    """
    if isinstance(argv, Script):
        if "\x00" in argv:
            raise InvalidArgument("script contains a NUL byte")
        return str(argv)
    if isinstance(argv, str):
        raise InvalidArgument(
            "commands are argv lists, e.g. ['dumpsys', 'package']; "
            "use Script(...) for a trusted literal"
        )
    if not argv:
        raise InvalidArgument("empty command")
    words = []
    for item in argv:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise InvalidArgument("command words must be text or integers")
        word = str(item)
        if "\x00" in word:
            raise InvalidArgument(f"command word contains a NUL byte: {_show(word)}")
        words.append(_quote(word))
    return " ".join(words)


_SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def _quote(word: str) -> str:
    # shlex.quote already leaves safe words bare; we keep the check local so the rule stays
    # visible: anything outside the plain set goes into single quotes, which mksh and toybox sh
    # treat literally (a quote inside becomes '"'"').
    if _SAFE_WORD.fullmatch(word):
        return word
    return shlex.quote(word)
