"""A tiny POSIX-ish shell for simulated devices.

Owns parsing and running the command lines that adb clients send to a device. A real phone hands
them to mksh (``/system/bin/sh``), and clients lean on that: adbutils appends ``; echo X4EXIT:$?``,
``adb logcat`` sends ``export ANDROID_LOG_TAGS="" ; exec logcat …``, our own client wraps
commands in ``cmd ; __tg=$? ; echo ; echo MARKER:$__tg``, and asks cheap questions in one round
trip by filtering and hashing on the phone (``dumpsys appops | grep -E '…' | md5sum``). So the
simulator needs quoting, ``;``/``&&``/``||``, pipelines, ``$?``/``$VAR`` expansion, assignments,
``export``, ``exec``, ``exit`` and the redirections clients really use (``2>/dev/null``,
``>/dev/null``, ``</dev/null``, ``2>&1``, ``>&2``) - and nothing more. Redirections to real
files, subshells, command substitution and ``&`` are rejected with a syntax error rather than
half-implemented. Error texts and exit statuses follow mksh as Android ships it.

Pipeline stages run concurrently, joined by bounded in-memory pipes (:class:`_Pipe`, 64 KiB like
a Linux pipe), so a producer waits for its consumer instead of buffering its whole output. Each
stage runs as in a subshell (its own copy of the environment; ``exit`` ends only that stage), the
pipeline's status is the last stage's, and every stage's stderr goes to the session's stderr.
When a stage ends, the stage feeding it is cancelled at once (a write into a pipe nobody reads
cancels its writer too): SIGPIPE would kill it at its next write, silently, with status 141 that
nobody sees without ``pipefail``. Cancelling at once rather than at that write keeps an idle
producer (``logcat | grep -m 1 x`` on a quiet phone) from holding the session open.

Parsing is a single left-to-right pass with anchored regular expressions, so it is linear in the
size of the script; expansion is deferred to run time because ``$?`` changes between commands.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Literal, NamedTuple

__all__ = [
    "PIPE_CAPACITY",
    "SH",
    "Command",
    "CommandHandler",
    "Shell",
    "ShellIO",
    "ShellSyntaxError",
    "parse",
]

log = logging.getLogger(__name__)

SH: Final = "/system/bin/sh"
"""The shell's name as it prefixes error messages on Android."""

# Word parts: (text, kind). Unquoted expansions are field-split, everything else is not.
_LIT: Final = 0  # unquoted literal text
_QUOTED: Final = 1  # quoted or backslash-escaped literal text
_VAR: Final = 2  # unquoted parameter expansion; text is the parameter name
_QVAR: Final = 3  # parameter expansion inside double quotes

Part = tuple[str, int]
Word = tuple[Part, ...]

DEV_NULL: Final = -1
"""Redirection source meaning ``/dev/null``."""

Redirect = tuple[int, int]
"""(fd, source): ``source`` is :data:`DEV_NULL` or the fd it duplicates (``2>&1`` is (2, 1))."""


class Command(NamedTuple):
    """A simple command: its words and its redirections, applied left to right."""

    words: tuple[Word, ...]
    redirects: tuple[Redirect, ...] = ()


Pipeline = tuple[Command, ...]
StageKind = Literal["source", "filter"]
"""What a command is known to do in a pipeline (see :meth:`Shell.register`)."""
AndOrList = tuple[tuple[str, Pipeline], ...]
"""Pipelines joined by ``&&``/``||``; the first connector is ``""``."""
Program = tuple[AndOrList, ...]

PIPE_CAPACITY: Final = 64 * 1024
"""Bytes a pipe holds before its writer waits (a Linux pipe's default)."""


class ShellIO:
    """The standard streams and environment of one shell session.

    The base class captures output in memory and serves a fixed stdin, which is all a unit test
    needs; the transport subclasses it to stream over an adb connection with flow control.
    """

    def __init__(self, env: Mapping[str, str] | None = None, stdin: bytes = b"") -> None:
        self.env: dict[str, str] = dict(env or {})
        self.stdout = bytearray()
        self.stderr = bytearray()
        self._stdin = stdin

    async def out(self, data: bytes | str) -> None:
        """Write to stdout; returns once the peer can take more (backpressure)."""
        if data:
            await self._write(1, data.encode() if isinstance(data, str) else bytes(data))

    async def err(self, data: bytes | str) -> None:
        """Write to stderr (merged into stdout on channels that have only one stream)."""
        if data:
            await self._write(2, data.encode() if isinstance(data, str) else bytes(data))

    async def read_stdin(self) -> bytes:
        """Next chunk of stdin; ``b""`` at end of input."""
        data, self._stdin = self._stdin, b""
        return data

    async def _write(self, fd: int, data: bytes) -> None:
        (self.stdout if fd == 1 else self.stderr).extend(data)


CommandHandler = Callable[[list[str], ShellIO], Awaitable[int]]
"""A command: receives argv (``argv[0]`` is the name as typed) and returns the exit status."""


Source = Callable[[], Awaitable[bytes]]
"""Where a command's stdin comes from (``b""`` at end of input)."""
Sink = Callable[[bytes], Awaitable[None]]
"""Where a command's stdout or stderr goes."""


class _StreamView(ShellIO):
    """The streams of one command after its redirections, or of one pipeline stage.

    It shares (or, for a pipeline stage, copies) the session's environment and forwards each
    stream to a source or sink: the session's own streams, a :class:`_Pipe` end or /dev/null.
    """

    def __init__(self, env: dict[str, str], stdin: Source, stdout: Sink, stderr: Sink) -> None:
        super().__init__()
        self.env = env
        self._source = stdin
        self._stdout = stdout
        self._stderr = stderr

    async def read_stdin(self) -> bytes:
        return await self._source()

    async def _write(self, fd: int, data: bytes) -> None:
        await (self._stdout if fd == 1 else self._stderr)(data)


async def _eof() -> bytes:
    return b""


async def _discard(data: bytes) -> None:
    return None


def _once(data: bytes) -> Source:
    """A stdin that serves ``data`` and then end of input."""
    pending = [data] if data else []

    async def read() -> bytes:
        return pending.pop() if pending else b""

    return read


def _append_to(buf: bytearray) -> Sink:
    async def write(data: bytes) -> None:
        buf.extend(data)

    return write


def _static_name(command: Command) -> str | None:
    """The command's name when it is plain literal text (no assignment, expansion or exec)."""
    if not command.words:
        return None
    first = command.words[0]
    if any(kind not in (_LIT, _QUOTED) for _, kind in first):
        return None
    name = "".join(text for text, _ in first)
    if "=" in name or name in ("exec", "exit", "export"):
        return None
    return name


def _redirected(base: ShellIO, redirects: tuple[Redirect, ...]) -> ShellIO:
    """``base`` seen through ``redirects``, applied left to right (``>/dev/null 2>&1``)."""
    source: Source = base.read_stdin
    sinks: dict[int, Sink] = {1: base.out, 2: base.err}
    for fd, src in redirects:
        if fd == 0:
            source = _eof
        elif fd in sinks:
            sinks[fd] = _discard if src == DEV_NULL else sinks[src]
        # Other descriptors: nothing in the simulator reads or writes them.
    return _StreamView(base.env, source, sinks[1], sinks[2])


class _Pipe:
    """A bounded byte pipe between two pipeline stages.

    ``write`` waits while :data:`PIPE_CAPACITY` bytes are unread, so a producer never runs
    ahead of its consumer by more than that. Writing after the reader has gone raises
    :class:`asyncio.CancelledError` in the writer and marks the pipe ``broken``: the simulated
    SIGPIPE.
    """

    def __init__(self, capacity: int = PIPE_CAPACITY) -> None:
        self._buf = bytearray()
        self._capacity = capacity
        self._eof = False  # the writer is done
        self.closed = False  # the reader is done
        self.broken = False  # a write found the reader gone
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while True:
            if self.closed:
                self.broken = True
                raise asyncio.CancelledError("broken pipe")
            if not view:
                return
            room = self._capacity - len(self._buf)
            if room <= 0:
                self._writable.clear()
                await self._writable.wait()
                continue
            self._buf += view[:room]
            view = view[room:]
            self._readable.set()

    async def read(self) -> bytes:
        while not self._buf:
            if self._eof:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data = bytes(self._buf)
        self._buf.clear()
        self._writable.set()
        return data

    def close_write(self) -> None:
        self._eof = True
        self._readable.set()

    def close_read(self) -> None:
        self.closed = True
        self._buf.clear()
        self._writable.set()


class ShellSyntaxError(Exception):
    """The script cannot be parsed; the message is mksh-style text without the ``sh:`` prefix."""


class _Exit(Exception):
    """``exit``/``exec`` unwinding to :meth:`Shell.run`; control flow, not an error."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# ------------------------------------------------------------------------------------- parsing

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def _param_re(p: str) -> str:
    """``$name``, ``${name}`` or a special parameter, with group names prefixed by ``p``."""
    name = rf"(?P<{p}name>{_NAME})"
    brace = rf"\{{(?P<{p}brace>{_NAME}|[?#$0-9])\}}"
    return rf"(?:{name}|{brace}|(?P<{p}special>[?#$0-9]))"


_UNQUOTED = re.compile(
    r"""
    (?P<ws>[^\S\n]+)
  | (?P<lit>[^\s'"\\$;&|<>()`\#]+)
  | (?P<sq>'[^']*')
  | (?P<dq>")
  | (?P<esc>\\[\s\S]?)
  | \$"""
    + _param_re("u")
    + r"""
  | (?P<op>&&|\|\||;|\n)
  | (?P<pipe>\|)
  | (?P<redir><<|>>|>&|<&|<>|>\||>|<)
  | (?P<hash>\#)
  | (?P<dollar>\$)
  | (?P<bad>[\s\S])
    """,
    re.VERBOSE,
)
_DOUBLE = re.compile(
    r"""
    (?P<lit>[^"\\$`]+)
  | (?P<end>")
  | (?P<esc>\\[\s\S]?)
  | \$"""
    + _param_re("d")
    + r"""
  | (?P<dollar>\$)
  | (?P<bad>`)
    """,
    re.VERBOSE,
)
_DQ_ESCAPABLE: Final = frozenset('$`"\\\n')
_ASSIGNMENT = re.compile(rf"({_NAME})=")
_IFS = re.compile(r"[ \t\n]+")


def _param(m: re.Match[str], p: str) -> str | None:
    """The parameter name of a ``$…`` match, or None if the match is something else."""
    return m.group(p + "name") or m.group(p + "brace") or m.group(p + "special")


def _unsupported(token: str) -> ShellSyntaxError:
    return ShellSyntaxError(f"'{token}' unexpected (not supported by the simulated shell)")


class _Parser:
    """One pass over the script, building words, commands, pipelines and and-or lists."""

    def __init__(self, script: str) -> None:
        self.s = script
        self.program: list[AndOrList] = []
        self.andor: list[tuple[str, Pipeline]] = []
        self.connector = ""  # connector before the pipeline being built
        self.pipeline: list[Command] = []
        self.words: list[Word] = []
        self.redirects: list[Redirect] = []
        self.pending: tuple[int, str] | None = None  # a redirection waiting for its target
        self.parts: list[Part] = []
        self.in_word = False

    def end_word(self) -> None:
        if self.in_word:
            word = tuple(self.parts)
            self.parts = []
            self.in_word = False
            if self.pending is None:
                self.words.append(word)
            else:
                self.redirects.append(_redirect(*self.pending, word))
                self.pending = None

    def redirection(self, op: str) -> None:
        """A redirection operator; its target is the next word (see :meth:`end_word`)."""
        if op in ("<<", "<&", "<>"):
            raise _unsupported(op)
        if op == ">|":
            op = ">"
        fd = -1
        text, kind = self.parts[0] if len(self.parts) == 1 else ("", _QUOTED)
        if self.in_word and kind == _LIT and len(text) == 1 and text.isdigit():
            fd = int(text)  # an IO number: `2>` (a digit word right before the operator)
            self.parts = []
            self.in_word = False
        else:
            self.end_word()
        if self.pending is not None:
            raise ShellSyntaxError(f"'{op}' unexpected")
        self.pending = (fd if fd >= 0 else (0 if op == "<" else 1), op)

    def end_simple(self, op: str) -> bool:
        """Close the simple command being built; False if there was none."""
        self.end_word()
        if self.pending is not None:
            raise ShellSyntaxError("newline unexpected" if op == "\n" else f"'{op}' unexpected")
        if not self.words and not self.redirects:
            return False
        self.pipeline.append(Command(tuple(self.words), tuple(self.redirects)))
        self.words = []
        self.redirects = []
        return True

    def end_command(self, op: str) -> None:
        have = self.end_simple(op)
        if op == "|":
            if not have:
                raise ShellSyntaxError("'|' unexpected")
            return
        if not have and self.pipeline:  # `a |` then an operator, or the end of a line
            if op == "\n":  # `a |` continues on the next line
                return
            raise ShellSyntaxError(f"'{op}' unexpected")
        if op in ("&&", "||"):
            if not have:
                raise ShellSyntaxError(f"'{op}' unexpected")
            self.andor.append((self.connector, tuple(self.pipeline)))
            self.pipeline = []
            self.connector = op
            return
        if have:
            self.andor.append((self.connector, tuple(self.pipeline)))
            self.pipeline = []
        elif self.connector:
            if op == "\n":  # `a &&` continues on the next line
                return
            raise ShellSyntaxError(f"'{op}' unexpected")
        if self.andor:
            self.program.append(tuple(self.andor))
        self.andor = []
        self.connector = ""

    def parse(self) -> Program:
        s, n, pos = self.s, len(self.s), 0
        while pos < n:
            m = _UNQUOTED.match(s, pos)
            assert m is not None  # the last alternative matches any character
            pos = m.end()
            kind = m.lastgroup
            if kind == "ws":
                self.end_word()
            elif kind == "lit":
                self.parts.append((m.group(), _LIT))
                self.in_word = True
            elif kind == "sq":
                self.parts.append((m.group()[1:-1], _QUOTED))
                self.in_word = True
            elif kind == "dq":
                pos = self.double_quoted(pos)
            elif kind == "esc":
                text = m.group()[1:]
                if text == "\n":  # line continuation
                    continue
                self.parts.append((text or "\\", _QUOTED))
                self.in_word = True
            elif kind in ("op", "pipe"):
                self.end_command(m.group())
            elif kind == "redir":
                self.redirection(m.group())
            elif kind == "hash":
                if self.in_word:
                    self.parts.append(("#", _LIT))
                else:
                    end = s.find("\n", pos)
                    pos = n if end < 0 else end
            elif kind == "dollar":
                if s.startswith("$(", pos - 1) or s.startswith("${", pos - 1):
                    raise _unsupported(s[pos - 1 : pos + 1])
                self.parts.append(("$", _LIT))
                self.in_word = True
            elif kind == "bad":
                if m.group() == "'":
                    raise ShellSyntaxError("unterminated quoted string")
                raise _unsupported(m.group())
            else:
                name = _param(m, "u")
                assert name is not None
                self.parts.append((name, _VAR))
                self.in_word = True
        self.end_command("\n")
        if self.connector or self.pipeline:
            raise ShellSyntaxError("unexpected end of input")
        return tuple(self.program)

    def double_quoted(self, pos: int) -> int:
        """Parse after an opening ``"``; returns the position after the closing one."""
        s, n = self.s, len(self.s)
        self.in_word = True
        self.parts.append(("", _QUOTED))  # keeps `""` as an empty argument
        while pos < n:
            m = _DOUBLE.match(s, pos)
            if m is None:
                break
            pos = m.end()
            kind = m.lastgroup
            if kind == "end":
                return pos
            if kind == "lit":
                self.parts.append((m.group(), _QUOTED))
            elif kind == "esc":
                text = m.group()[1:]
                if text in _DQ_ESCAPABLE:
                    if text != "\n":
                        self.parts.append((text, _QUOTED))
                else:
                    self.parts.append((m.group(), _QUOTED))
            elif kind == "dollar":
                if s.startswith("$(", pos - 1) or s.startswith("${", pos - 1):
                    raise _unsupported(s[pos - 1 : pos + 1])
                self.parts.append(("$", _QUOTED))
            elif kind == "bad":
                raise _unsupported("`")
            else:
                name = _param(m, "d")
                assert name is not None
                self.parts.append((name, _QVAR))
        raise ShellSyntaxError("unterminated quoted string")


def _redirect(fd: int, op: str, word: Word) -> Redirect:
    """Check a redirection's target: only ``/dev/null`` and ``>&1``/``>&2`` are simulated."""
    if any(kind not in (_LIT, _QUOTED) for _, kind in word):
        raise ShellSyntaxError(f"'{op}' target must be a literal /dev/null in the simulated shell")
    target = "".join(text for text, _ in word)
    if op == ">&":
        if fd in (1, 2) and target in ("1", "2"):
            return fd, int(target)
        raise ShellSyntaxError(
            f"'{fd}>&{target}' not supported by the simulated shell (only 1>&2 and 2>&1)"
        )
    if target != "/dev/null":
        raise ShellSyntaxError(
            f"redirection to '{target}' not supported by the simulated shell (only /dev/null)"
        )
    return fd, DEV_NULL


def parse(script: str) -> Program:
    """Parse a command line; raises :class:`ShellSyntaxError`."""
    return _Parser(script).parse()


# ----------------------------------------------------------------------------------- execution


class _Session:
    """Per-run state; a Shell is shared by every connection, so nothing lives on it."""

    def __init__(self, io: ShellIO) -> None:
        self.io = io
        self.status = 0

    def lookup(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name == "#":
            return "0"
        if name == "$":
            return "1"
        if name == "0":
            return SH
        if name.isdigit():
            return ""
        return self.io.env.get(name, "")

    def expand(self, word: Word) -> list[str]:
        """Expand one word into fields, splitting unquoted expansions on whitespace."""
        fields: list[str] = []
        cur: list[str] = []
        have = False  # a field is open (it may be empty if it held quotes)
        for text, kind in word:
            if kind != _VAR:
                value = self.lookup(text) if kind == _QVAR else text
                cur.append(value)
                have = have or kind != _LIT or bool(value)
                continue
            value = self.lookup(text)
            if not value:
                continue
            pieces = [p for p in _IFS.split(value) if p]
            if have and (not pieces or _IFS.match(value)):
                fields.append("".join(cur))
                cur, have = [], False
            for i, piece in enumerate(pieces):
                if i:
                    fields.append("".join(cur))
                    cur = []
                cur.append(piece)
                have = True
            if pieces and value[-1] in " \t\n":
                fields.append("".join(cur))
                cur, have = [], False
        if have:
            fields.append("".join(cur))
        return fields

    def expand_joined(self, parts: Word) -> str:
        """Expand without field splitting (assignment values)."""
        return "".join(self.lookup(t) if k in (_VAR, _QVAR) else t for t, k in parts)

    def assignment(self, word: Word) -> tuple[str, str] | None:
        if not word or word[0][1] != _LIT:
            return None
        m = _ASSIGNMENT.match(word[0][0])
        if m is None:
            return None
        rest = ((word[0][0][m.end() :], _LIT), *word[1:])
        return m.group(1), self.expand_joined(rest)


async def _echo(argv: list[str], io: ShellIO) -> int:
    args = argv[1:]
    newline = True
    while args and args[0] == "-n":
        newline = False
        args = args[1:]
    await io.out(" ".join(args) + ("\n" if newline else ""))
    return 0


async def _true(argv: list[str], io: ShellIO) -> int:
    return 0


async def _false(argv: list[str], io: ShellIO) -> int:
    return 1


async def _sleep(argv: list[str], io: ShellIO) -> int:
    if len(argv) != 2:
        await io.err("usage: sleep SECONDS\n")
        return 1
    try:
        seconds = float(argv[1])
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        await io.err(f"sleep: invalid number '{argv[1]}'\n")
        return 1
    await asyncio.sleep(seconds)
    return 0


class Shell:
    """A command table plus the interpreter; one instance may serve many sessions at once.

    ``echo``, ``true``, ``false`` and ``sleep`` are ordinary commands that callers may replace;
    ``exit``, ``export`` and ``exec`` are part of the interpreter.
    """

    def __init__(self, commands: Mapping[str, CommandHandler] | None = None) -> None:
        self._commands: dict[str, CommandHandler] = {
            "echo": _echo,
            "true": _true,
            "false": _false,
            "sleep": _sleep,
        }
        self._commands.update(commands or {})
        self._sources: set[str] = {"echo", "true", "false"}
        self._filters: set[str] = set()

    def register(self, name: str, handler: CommandHandler, kind: StageKind | None = None) -> None:
        """Add a command. ``kind`` ``"source"``: it ends on its own and never reads stdin
        (``dumpsys``); ``"filter"``: it reads nothing but stdin and its files, and ends when
        they do (``grep``). A pipeline of these may run its stages one after another."""
        self._commands[name] = handler
        self._sources.discard(name)
        self._filters.discard(name)
        if kind == "source":
            self._sources.add(name)
        elif kind == "filter":
            self._filters.add(name)

    async def run(self, script: str, io: ShellIO) -> int:
        """Run a command line and return its exit status (``exit N`` ends it early)."""
        session = _Session(io)
        try:
            program = parse(script)
        except ShellSyntaxError as e:
            await io.err(f"{SH}: syntax error: {e}\n")
            return 1
        try:
            await self._program(program, session)
        except _Exit as e:
            return e.status
        return session.status

    async def run_interactive(self, io: ShellIO) -> int:
        """Run stdin line by line until end of input or ``exit``; ``adb shell`` with no command.

        No prompt and no echo: this is for scripts piped in, not for people.
        """
        session = _Session(io)
        pending = bytearray()
        while True:
            chunk = await io.read_stdin()
            pending += chunk
            while (nl := pending.find(b"\n")) >= 0 or (not chunk and pending):
                end = nl if nl >= 0 else len(pending)
                line = pending[:end].decode(errors="replace")
                del pending[: end + 1]
                try:
                    await self._program(parse(line), session)
                except ShellSyntaxError as e:
                    await io.err(f"{SH}: syntax error: {e}\n")
                    session.status = 1
                except _Exit as e:
                    return e.status
            if not chunk:
                return session.status

    async def _program(self, program: Program, session: _Session) -> None:
        for andor in program:
            for connector, pipeline in andor:
                if (connector == "&&" and session.status != 0) or (
                    connector == "||" and session.status == 0
                ):
                    continue
                session.status = await self._pipeline(pipeline, session)

    async def _pipeline(self, pipeline: Pipeline, session: _Session) -> int:
        """Run the stages concurrently; the status is the last stage's (no ``pipefail``)."""
        if len(pipeline) == 1:
            return await self._simple(pipeline[0], session)
        if self._in_turn_ok(pipeline):
            return await self._in_turn(pipeline, session)
        io = session.io
        last = len(pipeline) - 1
        pipes = [_Pipe() for _ in range(last)]
        sigpipe = [False] * len(pipeline)
        tasks: list[asyncio.Task[int]] = []

        async def stage(i: int) -> int:
            view = _StreamView(
                dict(io.env),  # a subshell: assignments and exports stay in the stage
                io.read_stdin if i == 0 else pipes[i - 1].read,
                io.out if i == last else pipes[i].write,
                io.err,
            )
            sub = _Session(view)
            sub.status = session.status
            try:
                return await self._simple(pipeline[i], sub)
            except _Exit as e:
                return e.status
            except asyncio.CancelledError:
                task = asyncio.current_task()
                ours = int(sigpipe[i])  # the cancel request we made, if any
                killed = sigpipe[i] or (i < last and pipes[i].broken)
                if not killed or (task is not None and task.cancelling() > ours):
                    raise  # the whole session is being cancelled
                if task is not None and ours:
                    task.uncancel()
                return 141  # 128 + SIGPIPE, silently
            finally:
                if i < last:
                    pipes[i].close_write()  # the next stage reads end of input
                if i > 0:
                    pipes[i - 1].close_read()
                    upstream = tasks[i - 1]
                    if not upstream.done() and not sigpipe[i - 1]:
                        sigpipe[i - 1] = True  # its next write would get SIGPIPE: stop it now
                        upstream.cancel()

        tasks.extend(asyncio.create_task(stage(i)) for i in range(len(pipeline)))
        try:
            statuses = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return statuses[-1]

    def _in_turn_ok(self, pipeline: Pipeline) -> bool:
        """Whether every stage is known to end without waiting on anything but its input."""
        for i, command in enumerate(pipeline):
            name = _static_name(command)
            if name is None or not (name in self._sources or (i and name in self._filters)):
                return False
        return True

    async def _in_turn(self, pipeline: Pipeline, session: _Session) -> int:
        """Run the stages one after another, each reading the whole output of the one before.

        What the pipeline prints and returns is what the concurrent run gives (no stage's
        status but the last one's is seen, and none of these stages waits on its reader), in
        a few turns of the event loop instead of several per stage: the phones of a fleet
        polled every second answered a ten-stage probe script in ~70 turns of a loop shared
        by every phone, and so late.
        """
        io = session.io
        data = b""
        status = 0
        last = len(pipeline) - 1
        for i, command in enumerate(pipeline):
            buf = bytearray()
            view = _StreamView(
                dict(io.env),  # a subshell, as in the concurrent run
                io.read_stdin if i == 0 else _once(data),
                io.out if i == last else _append_to(buf),
                io.err,
            )
            sub = _Session(view)
            sub.status = session.status
            try:
                status = await self._simple(command, sub)
            except _Exit as e:
                status = e.status
            data = bytes(buf)
        return status

    async def _simple(self, command: Command, session: _Session) -> int:
        outer = session
        if command.redirects:
            session = _Session(_redirected(session.io, command.redirects))
            session.status = outer.status
        io = session.io
        words = command.words
        assignments: list[tuple[str, str]] = []
        i = 0
        while i < len(words) and (a := session.assignment(words[i])) is not None:
            assignments.append(a)
            i += 1
        head = session.expand(words[i]) if i < len(words) else []
        if head[:1] == ["export"]:
            return await self._export(head[1:], words[i + 1 :], session)
        argv = head + [f for w in words[i + 1 :] for f in session.expand(w)]
        if not argv:
            io.env.update(assignments)
            return 0
        if argv[0] == "exit":
            raise _Exit(await self._exit_status(argv, session))
        exec_ = argv[0] == "exec"
        if exec_:
            argv = argv[1:]
            if not argv:
                io.env.update(assignments)
                outer.io = io  # `exec 2>/dev/null`: the redirections stay for the session
                return 0
        saved = {name: io.env.get(name) for name, _ in assignments}
        io.env.update(assignments)
        try:
            status = await self._invoke(argv, io)
        finally:
            for name, old in saved.items():
                if old is None:
                    io.env.pop(name, None)
                else:
                    io.env[name] = old
        if exec_:
            raise _Exit(status)
        return status

    async def _invoke(self, argv: list[str], io: ShellIO) -> int:
        name = argv[0]
        handler = self._commands.get(name)
        if handler is None and "/" in name:
            handler = self._commands.get(name.rsplit("/", 1)[1])
        if handler is None:
            await io.err(f"{SH}: {name}: inaccessible or not found\n")
            return 127
        try:
            status = await handler(argv, io)
        except (asyncio.CancelledError, OSError):
            raise  # the session is going away; nobody is left to tell
        except Exception:
            log.exception("simulated command %r failed", name)
            await io.err(f"{SH}: {name}: simulator error\n")
            return 1
        return int(status) & 0xFF

    async def _exit_status(self, argv: list[str], session: _Session) -> int:
        if len(argv) < 2:
            return session.status
        try:
            return int(argv[1]) & 0xFF
        except ValueError:
            await session.io.err(f"{SH}: exit: {argv[1]}: bad number\n")
            return 1

    async def _export(self, args: list[str], words: tuple[Word, ...], session: _Session) -> int:
        io = session.io
        if not args and not words:
            for name in sorted(io.env):
                await io.out(f"export {name}={_quote(io.env[name])}\n")
            return 0
        fields = list(args)  # `export` expanded from e.g. "$X" may carry its own arguments
        for word in words:
            a = session.assignment(word)
            if a is not None:
                io.env[a[0]] = a[1]
            else:
                fields.extend(session.expand(word))
        status = 0
        for field in fields:
            name, eq, value = field.partition("=")
            if not re.fullmatch(_NAME, name):
                await io.err(f"{SH}: export: {field}: is not an identifier\n")
                status = 1
            elif eq:
                io.env[name] = value
            else:
                io.env.setdefault(name, "")
        return status


def _quote(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:=+-]+", value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"
