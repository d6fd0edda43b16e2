"""Toybox's text filters for simulated phones: ``grep``, ``md5sum`` (and ``sha*sum``), ``head``,
``tail``, ``wc`` and ``cat``.

Owns these commands because clients filter and hash on the phone to keep a round trip small
(``dumpsys appops | grep -E '^  Uid |mode=' | md5sum``), and a digest is only useful if the
simulator produces the very bytes a phone would. So options, output formats (``<hex>  -`` for
stdin, ``wc``'s column padding, ``==> name <==`` headers), messages and exit statuses follow
toybox as Android 10+ ships it (``/system/bin/toybox``; option errors from its ``lib/args.c``).
Every filter streams: it reads stdin chunk by chunk and stops reading as soon as it has what it
needs (``head -n 1``, ``grep -m 1``, ``grep -q``), which, through the shell's pipes, stops the
producer the way SIGPIPE does. File arguments are read from ``reg.files`` (the same files
``adb pull`` sees, APKs included), relative to ``/``, the shell's working directory.

Regular expressions are POSIX, as bionic's ``regcomp`` reads them; :func:`posix_regex`
translates the part agents use (``|``, ``+``, ``?``, groups, brackets with ``[:classes:]``,
anchors, ``.``, ``*``, ``{n,m}``, back-references, GNU ``\\w \\s \\b \\< \\>``; in BRE the GNU
``\\|``, ``\\+``, ``\\?`` that toybox accepts) into Python's :mod:`re`, with bionic's error texts.
A known difference: Python picks the first alternative that matches where POSIX wants the
longest, which only shows with ``grep -o``. Binary input is detected only for file arguments,
as toybox does (it cannot seek on a pipe).
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import posixpath
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from agent.sim.android import Registry, ServiceHandler
from agent.sim.shell import CommandHandler, ShellIO

__all__ = ["RegexError", "commands", "install", "posix_regex", "shell_commands"]

_CHUNK: Final = 64 * 1024
"""Bytes written or read at a time (toybox's buffer is 4 KiB; bigger is cheaper here)."""


# ------------------------------------------------------------------------------------ errors


class _Exit(Exception):
    """``error_exit``/``help_exit``: the message goes to stderr, the command ends."""

    def __init__(self, message: str, status: int, *, usage: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.usage = usage


async def _fail(io: ShellIO, name: str, e: _Exit) -> int:
    hint = f' (see "{name} --help")' if e.usage else ""
    await io.err(f"{name}: {e.message}{hint}\n")
    return e.status


# ------------------------------------------------------------------------------------ options


@dataclass
class _Opts:
    """Parsed options: flags seen, values of options that take one, and the rest."""

    flags: set[str] = field(default_factory=set)
    values: dict[str, list[str]] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def last(self, letter: str) -> str | None:
        got = self.values.get(letter)
        return got[-1] if got else None


def _parse(
    argv: Sequence[str],
    flags: str,
    valued: str,
    status: int,
    *,
    longs: Mapping[str, str] | None = None,
    pass_unknown: bool = False,
) -> _Opts:
    """toybox's option parser, for the shapes these commands use.

    Options may follow operands; ``-abc`` bundles flags; a valued option takes the rest of its
    word or the next word; ``--`` ends options; ``-`` is an operand. ``pass_unknown`` is the
    ``?`` of toybox's option strings (``head -5``: the unknown option becomes an operand).
    """
    opts = _Opts()
    longs = longs or {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            opts.args += args[i:]
            break
        if not arg.startswith("-") or arg == "-":
            opts.args.append(arg)
            continue
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            letter = longs.get(name)
            if letter is None:
                if pass_unknown:
                    opts.args.append(arg)
                    continue
                raise _Exit(f"Unknown option '{arg[2:]}'", status, usage=True)
            if letter in valued:
                if not eq:
                    if i >= len(args):
                        raise _Exit(f"Missing argument to --{name}", status, usage=True)
                    value = args[i]
                    i += 1
                opts.values.setdefault(letter, []).append(value)
            else:
                opts.flags.add(letter)
            continue
        body = arg[1:]
        if pass_unknown and any(c not in flags and c not in valued for c in body[:1]):
            opts.args.append(arg)
            continue
        for j, c in enumerate(body):
            if c in valued:
                value = body[j + 1 :]
                if not value:
                    if i >= len(args):
                        raise _Exit(f"Missing argument to -{c}", status, usage=True)
                    value = args[i]
                    i += 1
                opts.values.setdefault(c, []).append(value)
                break
            if c not in flags:
                raise _Exit(f"Unknown option '{body[j:]}'", status, usage=True)
            opts.flags.add(c)
    return opts


_SUFFIXES: Final = "cwbkmgtpe"


def _atolx(text: str, status: int) -> int:
    """toybox ``atolx``: decimal (or 0x hex) with an optional c/w/b/k/m/g/t/p/e suffix."""
    m = re.fullmatch(r"\s*([-+]?)(0x[0-9a-fA-F]+|\d+)([a-zA-Z]?)(d?)\s*", text)
    if m is None or (m.group(4) and m.group(3).lower() not in "kmgtpe"):
        raise _Exit(f"not integer: {text}", status)
    value = int(m.group(2), 0 if m.group(2).startswith("0x") else 10)
    suffix = m.group(3).lower()
    if suffix:
        index = _SUFFIXES.find(suffix)
        if index < 0:
            raise _Exit(f"not integer: {text}", status)
        shift = index - 2
        if shift == -2:
            pass
        elif shift == -1:
            value *= 2
        elif shift == 0:
            value *= 512
        elif m.group(4):
            value *= 1000**shift
        else:
            value <<= shift * 10
    return -value if m.group(1) == "-" else value


# ---------------------------------------------------------------------------------- input


def _path(name: str) -> str:
    return posixpath.normpath(posixpath.join("/", name))


def _read_file(files: Mapping[str, bytes], name: str) -> bytes | None:
    try:
        return files[_path(name)]
    except KeyError:
        return None


async def _chunks(io: ShellIO, data: bytes | None) -> AsyncIterator[bytes]:
    """Stdin (``data`` None) or a file's bytes, a chunk at a time."""
    if data is None:
        while chunk := await io.read_stdin():
            yield chunk
        return
    for start in range(0, len(data), _CHUNK):
        yield data[start : start + _CHUNK]


async def _split(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[list[bytes], bool]]:
    """(lines without their newline, True) batches, then ``([rest], False)`` if the input does
    not end with a newline. Linear even for a line longer than many chunks."""
    pending = bytearray()
    async for chunk in chunks:
        nl = chunk.rfind(b"\n")
        if nl < 0:
            pending += chunk
            continue
        pending += chunk[:nl]
        lines = pending.split(b"\n")
        pending = bytearray(chunk[nl + 1 :])
        yield [bytes(line) for line in lines], True
    if pending:
        yield [bytes(pending)], False


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """Batches of lines (without their newline); a last line without one is still a line."""
    async for batch, _terminated in _split(chunks):
        yield batch


class _Inputs:
    """toybox ``loopfiles``: stdin when there are no operands, ``-`` for stdin, and a warning
    (status 1, or the command's own) for a file that cannot be opened."""

    def __init__(self, name: str, io: ShellIO, files: Mapping[str, bytes], status: int = 1):
        self.name = name
        self.io = io
        self.files = files
        self.status = 0
        self._error_status = status
        self.quiet = False

    async def open(self, operands: Sequence[str]) -> AsyncIterator[tuple[str, bytes | None]]:
        """(name, bytes or None for stdin) of each input that could be opened."""
        for operand in operands or ["-"]:
            if operand == "-":
                yield "-", None
                continue
            data = _read_file(self.files, operand)
            if data is None:
                if not self.quiet:
                    await self.io.err(f"{self.name}: {operand}: No such file or directory\n")
                self.status = self.status or self._error_status
                continue
            yield operand, data


# ---------------------------------------------------------------------------------- regex


class RegexError(ValueError):
    """A pattern ``regcomp`` refuses; the message is bionic's ``regerror`` text."""


_EPAREN: Final = "parentheses not balanced"
_EBRACK: Final = "brackets ([ ]) not balanced"
_EBRACE: Final = "braces not balanced"
_BADBR: Final = "invalid repetition count(s)"
_BADRPT: Final = "repetition-operator operand invalid"
_EESCAPE: Final = "trailing backslash (\\)"
_ERANGE: Final = "invalid character range"
_ECTYPE: Final = "invalid character class"
_ESUBREG: Final = "invalid backreference number"
_DUP_MAX: Final = 255

_CLASSES: Final[dict[str, str]] = {
    "alpha": "A-Za-z",
    "digit": "0-9",
    "alnum": "0-9A-Za-z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r" \t\n\r\f\v",
    "blank": r" \t",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "xdigit": "0-9A-Fa-f",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
}
_GNU_ESCAPES: Final[dict[str, str]] = {
    "w": r"\w",
    "W": r"\W",
    "s": r"\s",
    "S": r"\S",
    "b": r"\b",
    "B": r"\B",
    "<": r"\b(?=\w)",
    ">": r"\b(?<=\w)",
}


def _class_char(c: str) -> str:
    return c if c.isalnum() else "\\" + c


def _bracket(p: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression whose ``[`` is at ``i - 1``; returns (text, next)."""
    n = len(p)
    out = ["["]
    if i < n and p[i] == "^":
        out.append("^")
        i += 1
    first = True
    prev: str | None = None  # last single character, a possible range start
    while True:
        if i >= n:
            raise RegexError(_EBRACK)
        c = p[i]
        if c == "]" and not first:
            return "".join(out) + "]", i + 1
        first = False
        if c == "[" and i + 1 < n and p[i + 1] in ":=.":
            kind = p[i + 1]
            end = p.find(kind + "]", i + 2)
            if end < 0:
                raise RegexError(_EBRACK)
            name = p[i + 2 : end]
            i = end + 2
            if kind == ":":
                if name not in _CLASSES:
                    raise RegexError(_ECTYPE)
                out.append(_CLASSES[name])
                prev = None
                continue
            if len(name) != 1:
                raise RegexError("invalid collating element")
            c = name
        else:
            i += 1
        if c == "-" and prev is not None and i < n and p[i] != "]":
            end_char = p[i]
            i += 1
            if end_char == "[" and i < n and p[i] in ".=":
                close = p.find(p[i] + "]", i + 1)
                if close < 0:
                    raise RegexError(_EBRACK)
                end_char = p[i + 1 : close]
                i = close + 2
                if len(end_char) != 1:
                    raise RegexError("invalid collating element")
            if ord(end_char) < ord(prev):
                raise RegexError(_ERANGE)
            out.append("-" + _class_char(end_char))
            prev = None
            continue
        out.append(_class_char(c))
        prev = c


def posix_regex(pattern: str, *, extended: bool) -> str:
    """Translate a POSIX ERE (``extended``) or BRE into an equivalent Python pattern."""
    p, n = pattern, len(pattern)
    out: list[str] = []
    i = 0
    groups = 0  # opened so far (back-references may only name these)
    depth = 0
    at_start = True  # start of the RE, of a group or of an alternative
    quantifiable = False  # an atom was just emitted
    quantified = False  # ... and it already has a repetition

    def atom(text: str) -> None:
        nonlocal at_start, quantifiable, quantified
        out.append(text)
        at_start, quantifiable, quantified = False, True, False

    def repeat(text: str) -> None:
        nonlocal quantified
        if quantified:
            if extended:
                raise RegexError(_BADRPT)
            return  # BRE `a**` is `a*`
        out.append(text)
        quantified = True

    def interval(i: int, close: str) -> int:
        m = re.compile(r"(\d+)(,(\d*))?").match(p, i)
        if m is None:
            raise RegexError(_BADBR)
        low = int(m.group(1))
        high = low if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
        if low > _DUP_MAX or (high is not None and (high > _DUP_MAX or high < low)):
            raise RegexError(_BADBR)
        j = m.end()
        if not p.startswith(close, j):
            raise RegexError(_EBRACE if p.find(close, j) < 0 else _BADBR)
        if not quantifiable:
            raise RegexError(_BADRPT)
        repeat(f"{{{low},{'' if high is None else high}}}")
        return j + len(close)

    def open_group() -> None:
        nonlocal depth, groups, at_start, quantifiable, quantified
        out.append("(")
        depth += 1
        groups += 1
        at_start, quantifiable, quantified = True, False, False

    def close_group() -> None:
        nonlocal depth
        if depth == 0:
            raise RegexError(_EPAREN)
        depth -= 1
        atom(")")

    def alternative() -> None:
        nonlocal at_start, quantifiable, quantified
        out.append("|")
        at_start, quantifiable, quantified = True, False, False

    while i < n:
        c = p[i]
        i += 1
        if c == "\\":
            if i >= n:
                raise RegexError(_EESCAPE)
            d = p[i]
            i += 1
            if not extended and d in "(){|+?":
                if d == "(":
                    open_group()
                elif d == ")":
                    close_group()
                elif d == "{":
                    i = interval(i, "\\}")
                elif d == "|":
                    alternative()
                elif at_start or not quantifiable:
                    atom(re.escape(d))  # a leading `\+` is literal in BRE
                else:
                    repeat(d)
            elif d.isdigit() and d != "0":
                if int(d) > groups:
                    raise RegexError(_ESUBREG)
                atom("\\" + d)
            elif d in _GNU_ESCAPES:
                out.append(_GNU_ESCAPES[d])
                at_start = False
                quantifiable = d in "wWsS"
                quantified = False
            else:
                atom(re.escape(d))
        elif c == "[":
            text, i = _bracket(p, i)
            atom(text)
        elif c == ".":
            atom(".")
        elif c == "*":
            if at_start or not quantifiable:
                if extended:
                    raise RegexError(_BADRPT)
                atom(re.escape(c))
            else:
                repeat("*")
        elif c == "^":
            if extended or at_start:
                out.append("^")  # an anchor; what follows it is still "at the start" in BRE
                quantifiable = False
            else:
                atom(re.escape(c))
        elif c == "$":
            ends = i == n or (not extended and (p.startswith("\\)", i) or p.startswith("\\|", i)))
            if extended or ends:
                out.append(r"\Z")
                at_start, quantifiable, quantified = False, False, False
            else:
                atom(re.escape(c))
        elif extended and c == "(":
            open_group()
        elif extended and c == ")":
            close_group()
        elif extended and c == "|":
            alternative()
        elif extended and c in "+?":
            if at_start or not quantifiable:
                raise RegexError(_BADRPT)
            repeat(c)
        elif extended and c == "{" and i < n and p[i].isdigit():
            if at_start or not quantifiable:
                raise RegexError(_BADRPT)
            i = interval(i, "}")
        else:
            atom(re.escape(c))
    if depth:
        raise RegexError(_EPAREN)
    return "".join(out)


# ----------------------------------------------------------------------------------- grep

_WORD: Final = "0-9A-Za-z_"


@dataclass(frozen=True)
class _Matcher:
    """The patterns of one ``grep`` run, compiled once."""

    patterns: list[re.Pattern[str]]
    invert: bool
    only: bool

    def selected(self, line: str) -> bool:
        if len(self.patterns) == 1:  # the common case, without a generator per line
            return (self.patterns[0].search(line) is not None) != self.invert
        return any(p.search(line) for p in self.patterns) != self.invert

    def parts(self, line: str) -> list[str]:
        """``-o``: the non-empty matches, leftmost first, longest at a tie."""
        found: list[str] = []
        pos = 0
        while pos <= len(line):
            best: tuple[int, int] | None = None
            for p in self.patterns:
                m = p.search(line, pos)
                if m is not None and (
                    best is None
                    or m.start() < best[0]
                    or (m.start() == best[0] and m.end() > best[1])
                ):
                    best = (m.start(), m.end())
            if best is None:
                break
            if best[1] > best[0]:
                found.append(line[best[0] : best[1]])
                pos = best[1]
            else:
                pos = best[0] + 1
        return found


def _compile(texts: list[str], opts: _Opts) -> _Matcher:
    return _compiled(tuple(texts), frozenset(opts.flags & set("EFiwxvo")))


# A phone polled every second runs the same few greps over and over: translating and compiling
# their patterns each time was a fifth of what a simulated phone cost.
@functools.lru_cache(maxsize=512)
def _compiled(texts: tuple[str, ...], opts_flags: frozenset[str]) -> _Matcher:
    flags = re.ASCII | re.DOTALL | (re.IGNORECASE if "i" in opts_flags else 0)
    compiled: list[re.Pattern[str]] = []
    for text in texts:
        if "F" in opts_flags:
            body = re.escape(text)
        else:
            try:
                body = posix_regex(text, extended="E" in opts_flags)
            except RegexError as e:
                raise _Exit(f"bad regex '{text}': {e}", 2) from None
        if "x" in opts_flags:
            body = rf"^(?:{body})\Z"
        elif "w" in opts_flags:
            body = rf"(?<![{_WORD}])(?:{body})(?![{_WORD}])"
        try:
            compiled.append(re.compile(body, flags))
        except re.error as e:
            message = _BADRPT if "repeat" in str(e) else str(e)
            raise _Exit(f"bad regex '{text}': {message}", 2) from None
    return _Matcher(compiled, "v" in opts_flags, "o" in opts_flags)


def _is_binary(data: bytes) -> bool:
    """toybox's test: the first 256 bytes are not UTF-8 (a NUL counts as not UTF-8)."""
    head = data[:256]
    if b"\0" in head:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return True
    return False


_GREP_LONGS: Final = {
    "count": "c",
    "quiet": "q",
    "silent": "q",
    "files-with-matches": "l",
    "files-without-match": "L",
    "only-matching": "o",
    "no-filename": "h",
}


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _dec(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


async def _grep(args: list[str], io: ShellIO, files: Mapping[str, bytes], name: str) -> int:
    opts = _parse(args, "EFHILachilnoqsvwx", "efm", 2, longs=_GREP_LONGS)
    for a, b in (("w", "x"), ("E", "F")):
        if a in opts.flags and b in opts.flags:
            raise _Exit(f"No '{b}' with '{a}'", 2, usage=True)
    if name == "egrep":
        opts.flags.add("E")
    elif name == "fgrep":
        opts.flags.add("F")
    texts: list[str] = []
    for pattern_file in opts.values.get("f", []):
        data = _read_file(files, pattern_file)
        if data is None:
            raise _Exit(f"{pattern_file}: No such file or directory", 2)
        text = _dec(data)
        if text:
            texts += text.removesuffix("\n").split("\n")
    for pattern in opts.values.get("e", []):
        texts += pattern.split("\n")
    operands = opts.args
    if not texts and "e" not in opts.values and "f" not in opts.values:
        if not operands:
            raise _Exit("no REGEX", 2)
        texts = operands[0].split("\n")
        operands = operands[1:]
    matcher = _compile(texts, opts)
    limit = _atolx(opts.last("m") or "0", 2) if "m" in opts.values else None
    show_name = "H" in opts.flags or ("h" not in opts.flags and len(operands) > 1)
    inputs = _Inputs(name, io, files, status=2)
    inputs.quiet = "s" in opts.flags
    found = False
    tried = 0
    async for operand, data in inputs.open(operands):
        label = "(standard input)" if data is None else operand
        binary = data is not None and "a" not in opts.flags and _is_binary(data)
        tried += 1
        if binary and "I" in opts.flags:
            continue
        prefix = f"{label}:" if show_name else ""
        count = lineno = 0
        done = False
        async for batch in _lines(_chunks(io, data)):
            out: list[str] = []
            for raw in batch:
                lineno += 1
                line = _dec(raw)
                if matcher.selected(line):
                    found = True
                    count += 1
                    if "q" in opts.flags:
                        return 0
                    if "l" in opts.flags or "L" in opts.flags:
                        done = True
                        break
                    if "c" not in opts.flags:
                        number = f"{lineno}:" if "n" in opts.flags else ""
                        if binary:
                            out.append(f"Binary file {label} matches\n")
                        elif matcher.only and not matcher.invert:
                            out += [f"{prefix}{number}{part}\n" for part in matcher.parts(line)]
                        elif not matcher.only:
                            out.append(f"{prefix}{number}{line}\n")
                if limit is not None and count >= limit:
                    done = True
                    break
            if out:
                await io.out(_enc("".join(out)))
            if done:
                break
        if ("l" in opts.flags and count) or ("L" in opts.flags and not count):
            await io.out(_enc(f"{label}\n"))
        elif "c" in opts.flags:
            await io.out(f"{prefix}{count}\n")
    if tried >= len(operands) or ("q" in opts.flags and found):
        return 0 if found else 1
    return inputs.status or 2


# ---------------------------------------------------------------------------------- hashes

_HASHES: Final = {
    "md5sum": "md5",
    "sha1sum": "sha1",
    "sha224sum": "sha224",
    "sha256sum": "sha256",
    "sha384sum": "sha384",
    "sha512sum": "sha512",
}


async def _hashsum(args: list[str], io: ShellIO, files: Mapping[str, bytes], name: str) -> int:
    opts = _parse(args, "b", "", 1)
    inputs = _Inputs(name, io, files)
    async for operand, data in inputs.open(opts.args):
        digest = hashlib.new(_HASHES[name])
        async for chunk in _chunks(io, data):
            digest.update(chunk)
        await io.out(digest.hexdigest() + ("\n" if "b" in opts.flags else f"  {operand}\n"))
    return inputs.status


# ------------------------------------------------------------------------------ head, tail


def _header(operand: str, first: bool) -> str:
    return ("" if first else "\n") + f"==> {operand} <==\n"


async def _head(args: list[str], io: ShellIO, files: Mapping[str, bytes], name: str) -> int:
    opts = _parse(args, "qv", "nc", 1, longs={"lines": "n", "bytes": "c"}, pass_unknown=True)
    if "n" in opts.values and "c" in opts.values:
        raise _Exit("No 'c' with 'n'", 1, usage=True)
    lines = _atolx(opts.last("n") or "10", 1)
    count_bytes = "c" in opts.values
    size = _atolx(opts.last("c") or "0", 1)
    for letter, value in (("n", lines), ("c", size)):
        if value < 0:
            raise _Exit(f"-{letter} < 0", 1, usage=True)
    operands = opts.args
    if operands and operands[0].startswith("-") and len(operands[0]) > 1:
        lines = _atolx(operands[0][1:], 1)  # the old `head -42`
        operands = operands[1:]
    headers = (len(operands) > 1 and "q" not in opts.flags) or "v" in opts.flags
    inputs = _Inputs(name, io, files)
    first = True
    async for operand, data in inputs.open(operands):
        if headers:
            await io.out(_header(operand, first))
        first = False
        left = size if count_bytes else lines
        if not left:
            continue
        async for chunk in _chunks(io, data):
            if count_bytes:
                take = chunk[:left]
                left -= len(take)
            else:
                end = 0
                while left and (nl := chunk.find(b"\n", end)) >= 0:
                    end = nl + 1
                    left -= 1
                take = chunk[:end] if not left else chunk
            await io.out(take)
            if not left:
                break  # read no further: upstream gets its SIGPIPE
    return inputs.status


async def _tail(args: list[str], io: ShellIO, files: Mapping[str, bytes], name: str) -> int:
    opts = _parse(args, "", "nc", 1, longs={"lines": "n", "bytes": "c"}, pass_unknown=True)
    if "n" in opts.values and "c" in opts.values:
        raise _Exit("No 'c' with 'n'", 1, usage=True)
    operands = opts.args
    count_bytes = "c" in opts.values
    text = opts.last("c") if count_bytes else opts.last("n")
    if text is None:
        text = "-10"
        if operands and operands[0][:1] in ("-", "+") and len(operands[0]) > 1:
            text = operands[0]  # the old `tail -42` / `tail +42`
            operands = operands[1:]
    elif text[:1] not in ("-", "+"):
        text = "-" + text  # `-n 5` means the last five
    number = _atolx(text, 1)
    from_start = text.startswith("+")
    inputs = _Inputs(name, io, files)
    first = True
    async for operand, data in inputs.open(operands):
        if len(operands) > 1:
            await io.out(_header(operand, first))
        first = False
        chunks = _chunks(io, data)
        if from_start:
            await _tail_from(io, chunks, max(number, 1) - 1, count_bytes)
        elif count_bytes:
            kept = b""
            async for chunk in chunks:
                kept = (kept + chunk)[number:] if number else b""
            await io.out(kept)
        else:
            await _tail_lines(io, chunks, -number)
    return inputs.status


async def _tail_from(
    io: ShellIO, chunks: AsyncIterator[bytes], skip: int, count_bytes: bool
) -> None:
    """Everything after the first ``skip`` lines (or bytes)."""
    async for chunk in chunks:
        if skip and count_bytes:
            cut = min(skip, len(chunk))
            skip -= cut
            chunk = chunk[cut:]
        while skip and chunk:
            nl = chunk.find(b"\n")
            if nl < 0:
                chunk = b""
                break
            chunk = chunk[nl + 1 :]
            skip -= 1
        if chunk:
            await io.out(chunk)


async def _tail_lines(io: ShellIO, chunks: AsyncIterator[bytes], keep: int) -> None:
    """The last ``keep`` lines, holding no more than that many in memory."""
    last: deque[bytes] = deque(maxlen=keep)
    async for batch, terminated in _split(chunks):
        if keep:
            last.extend(line + b"\n" if terminated else line for line in batch)
    if last:
        await io.out(b"".join(last))


# ------------------------------------------------------------------------------------- wc


async def _wc(args: list[str], io: ShellIO, files: Mapping[str, bytes], name: str) -> int:
    opts = _parse(args, "lwcm", "", 1)
    shown = [c for c in "lwmc" if c in opts.flags] or ["l", "w", "c"]
    if "m" in shown and "c" in shown:
        shown.remove("c")  # "Displays only either bytes or characters."
    operands = opts.args
    # toybox pads to 7 columns unless one number is printed for stdin, or there is one file.
    width = 0 if (not operands and len(shown) == 1) or len(operands) == 1 else 7
    totals = dict.fromkeys(shown, 0)
    inputs = _Inputs(name, io, files)

    def row(counts: Mapping[str, int], label: str | None) -> str:
        cells = [f"{counts[c]:{width}d}" for c in shown]
        return " ".join(cells) + (f" {label}" if label is not None else "") + "\n"

    async for operand, data in inputs.open(operands):
        counts = dict.fromkeys("lwmc", 0)
        in_word = False
        decoder = codecs.getincrementaldecoder("utf-8")("ignore")
        async for chunk in _chunks(io, data):
            counts["l"] += chunk.count(b"\n")
            counts["c"] += len(chunk)
            if "m" in shown:
                counts["m"] += len(decoder.decode(chunk))
            if "w" in shown:
                words = chunk.split()
                if words:
                    starts_word = not chunk[:1].isspace()
                    counts["w"] += len(words) - (1 if in_word and starts_word else 0)
                    in_word = not chunk[-1:].isspace()
                else:
                    in_word = False
        for c in shown:
            totals[c] += counts[c]
        await io.out(row(counts, operand if operands else None))
    if len(operands) > 1:
        await io.out(row(totals, "total"))
    return inputs.status


# ------------------------------------------------------------------------------------ cat


async def _cat(args: list[str], io: ShellIO, files: Mapping[str, bytes], name: str) -> int:
    opts = _parse(args, "u", "", 1)
    inputs = _Inputs(name, io, files)
    async for _operand, data in inputs.open(opts.args):
        async for chunk in _chunks(io, data):
            await io.out(chunk)
    return inputs.status


# ------------------------------------------------------------------------------- wiring

_Tool = Callable[[list[str], ShellIO, Mapping[str, bytes], str], Awaitable[int]]
_TOOLS: Final[dict[str, _Tool]] = {
    "grep": _grep,
    "egrep": _grep,
    "fgrep": _grep,
    **dict.fromkeys(_HASHES, _hashsum),
    "head": _head,
    "tail": _tail,
    "wc": _wc,
    "cat": _cat,
}


def commands(files: Mapping[str, bytes] | None = None) -> dict[str, ServiceHandler]:
    """The filters as registry handlers (they get the arguments after the command name)."""
    source: Mapping[str, bytes] = files if files is not None else {}

    def handler(name: str, tool: _Tool) -> ServiceHandler:
        async def run(args: list[str], io: ShellIO) -> int:
            try:
                return await tool(args, io, source, name)
            except _Exit as e:
                return await _fail(io, name, e)

        return run

    return {name: handler(name, tool) for name, tool in _TOOLS.items()}


def shell_commands(files: Mapping[str, bytes] | None = None) -> dict[str, CommandHandler]:
    """The filters as plain shell commands (``argv[0]`` included), for a bare :class:`Shell`."""

    def argv_handler(handler: ServiceHandler) -> CommandHandler:
        async def run(argv: list[str], io: ShellIO) -> int:
            return await handler(argv[1:], io)

        return run

    return {name: argv_handler(h) for name, h in commands(files).items()}


def install(reg: Registry) -> None:
    for name, handler in commands(reg.files).items():
        reg.command(name, handler, "filter")
