"""Toybox's filters on simulated phones: grep, md5sum, head, tail, wc and cat.

Outputs, messages and exit statuses are toybox's (Android 10+); digests must equal what
:mod:`hashlib` computes over the same bytes, since the host compares them with its own. The
end-to-end test of a whole one-round-trip probe through the real adb server is in
``test_sim_device.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from agent.sim.android.toybox import RegexError, posix_regex, shell_commands
from agent.sim.device import SimDevice
from agent.sim.profiles import build_state
from agent.sim.shell import Shell, ShellIO

FILES = {
    "/sdcard/a.txt": b"alpha\nbeta\ngamma\n",
    "/sdcard/b.txt": b"one two  three\nfour\n",
    "/sdcard/nonl.txt": b"x\ny",
    "/data/local/tmp/bin": b"\x00\x01binary\nmatch here\n",
    "/sdcard/pats": b"beta\ngam\n",
}
TEXT = b"Uid u0a1:\n  CAMERA: mode=ignore\nPackage com.x:\n  CAMERA (allow):\nfoo_bar foo\n"


def run(script: str, stdin: bytes = b"") -> tuple[int, str, str]:
    io = ShellIO(stdin=stdin)
    status = asyncio.run(Shell(shell_commands(FILES)).run(script, io))
    return status, io.stdout.decode("utf-8", "replace"), io.stderr.decode()


# ------------------------------------------------------------------------------------ grep


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("CAMERA", (0, "  CAMERA: mode=ignore\n  CAMERA (allow):\n", "")),
        ("-c CAMERA", (0, "2\n", "")),
        ("-v -c CAMERA", (0, "3\n", "")),
        ("nothing", (1, "", "")),
        ("-c nothing", (1, "0\n", "")),
        ("-E '^Uid |mode='", (0, "Uid u0a1:\n  CAMERA: mode=ignore\n", "")),
        ("-e '^Uid ' -e 'mode='", (0, "Uid u0a1:\n  CAMERA: mode=ignore\n", "")),
        ("'^Uid \\|mode='", (0, "Uid u0a1:\n  CAMERA: mode=ignore\n", "")),  # GNU BRE \|
        ("-E '^  [A-Z]+ \\('", (0, "  CAMERA (allow):\n", "")),  # \( is a literal in ERE
        ("'^  [A-Z]* ('", (0, "  CAMERA (allow):\n", "")),  # ( is a literal in BRE
        ("-F '(allow)'", (0, "  CAMERA (allow):\n", "")),
        ("-i 'uid U0A1'", (0, "Uid u0a1:\n", "")),
        ("-x 'foo_bar foo'", (0, "foo_bar foo\n", "")),
        ("-x foo", (1, "", "")),
        ("-w foo", (0, "foo_bar foo\n", "")),
        ("-w bar", (1, "", "")),
        ("-o -E 'u0a[0-9]+'", (0, "u0a1\n", "")),
        ("-o 'o*'", (0, "o\no\no\no\noo\noo\n", "")),
        ("-m 1 CAMERA", (0, "  CAMERA: mode=ignore\n", "")),
        ("-c -m 1 CAMERA", (0, "1\n", "")),
        ("-n Package", (0, "3:Package com.x:\n", "")),
        ("-q CAMERA", (0, "", "")),
        ("-E 'mode=(allow|ignore)$'", (0, "  CAMERA: mode=ignore\n", "")),
        ("-E 'u0a{1,2}1'", (0, "Uid u0a1:\n", "")),
        ("'u0a\\{1,2\\}1'", (0, "Uid u0a1:\n", "")),
        ("-E '[[:upper:]]{6}:'", (0, "  CAMERA: mode=ignore\n", "")),
        ("'[^a-z ]'", (0, TEXT.decode(), "")),
        ("'x*'", (0, TEXT.decode(), "")),  # matches the empty string: every line
        ("''", (0, TEXT.decode(), "")),
    ],
)
def test_grep(args: str, expected: tuple[int, str, str]) -> None:
    assert run(f"grep {args}", TEXT) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", (2, "", "grep: no REGEX\n")),
        ("-k x", (2, "", "grep: Unknown option 'k' (see \"grep --help\")\n")),
        ("--frob x", (2, "", "grep: Unknown option 'frob' (see \"grep --help\")\n")),
        ("-m", (2, "", 'grep: Missing argument to -m (see "grep --help")\n')),
        ("-w -x a", (2, "", "grep: No 'x' with 'w' (see \"grep --help\")\n")),
        ("-m z a", (2, "", "grep: not integer: z\n")),
        ("-E 'a(b'", (2, "", "grep: bad regex 'a(b': parentheses not balanced\n")),
        ("'a\\(b'", (2, "", "grep: bad regex 'a\\(b': parentheses not balanced\n")),
        ("'[ab'", (2, "", "grep: bad regex '[ab': brackets ([ ]) not balanced\n")),
        ("-E '*a'", (2, "", "grep: bad regex '*a': repetition-operator operand invalid\n")),
        ("-E 'a{1'", (2, "", "grep: bad regex 'a{1': braces not balanced\n")),
        ("-E 'a{2,1}'", (2, "", "grep: bad regex 'a{2,1}': invalid repetition count(s)\n")),
        ("'[[:nope:]]'", (2, "", "grep: bad regex '[[:nope:]]': invalid character class\n")),
        ("'[z-a]'", (2, "", "grep: bad regex '[z-a]': invalid character range\n")),
        ("'a\\'", (2, "", "grep: bad regex 'a\\': trailing backslash (\\)\n")),
    ],
)
def test_grep_errors_exit_2_with_toybox_messages(args: str, expected: tuple[int, str, str]) -> None:
    assert run(f"grep {args}", b"ab\n") == expected


def test_grep_files() -> None:
    assert run("grep beta /sdcard/a.txt") == (0, "beta\n", "")
    assert run("grep -e a /sdcard/a.txt /sdcard/b.txt") == (
        0,
        "/sdcard/a.txt:alpha\n/sdcard/a.txt:beta\n/sdcard/a.txt:gamma\n",
        "",
    )
    assert run("grep -c o /sdcard/a.txt /sdcard/b.txt") == (
        0,
        "/sdcard/a.txt:0\n/sdcard/b.txt:2\n",
        "",
    )
    assert run("grep -h four /sdcard/a.txt /sdcard/b.txt") == (0, "four\n", "")
    assert run("grep -l a /sdcard/a.txt /sdcard/b.txt") == (0, "/sdcard/a.txt\n", "")
    assert run("grep -f /sdcard/pats /sdcard/a.txt") == (0, "beta\ngamma\n", "")
    assert run("grep y /sdcard/nonl.txt") == (0, "y\n", "")  # the last line has no \n
    # A missing file is an error (2) even when another file matched; -s hides the message.
    assert run("grep alpha /sdcard/a.txt /nope") == (
        2,
        "/sdcard/a.txt:alpha\n",
        "grep: /nope: No such file or directory\n",
    )
    assert run("grep -s alpha /nope /sdcard/a.txt") == (2, "/sdcard/a.txt:alpha\n", "")
    assert run("grep -q alpha /nope /sdcard/a.txt") == (
        0,
        "",
        "grep: /nope: No such file or directory\n",
    )
    assert run("grep match /data/local/tmp/bin") == (
        0,
        "Binary file /data/local/tmp/bin matches\n",
        "",
    )
    assert run("grep -a -c match /data/local/tmp/bin") == (0, "1\n", "")
    assert run("echo x | grep x - /sdcard/a.txt") == (0, "(standard input):x\n", "")


@pytest.mark.parametrize(
    ("pattern", "extended", "line", "match"),
    [
        ("a|b", True, "b", True),
        ("a|b", False, "a|b", True),
        ("a|b", False, "b", False),
        ("ab+", True, "abbb", True),
        ("ab+", False, "ab+", True),
        ("ab\\+", False, "abbb", True),
        ("colou?r", True, "color", True),
        ("(ab){2}", True, "abab", True),
        ("\\(ab\\)\\{2\\}", False, "abab", True),
        ("\\(a\\)\\1", False, "aa", True),
        ("^a*$", False, "aaa", True),
        ("a^b", False, "a^b", True),  # ^ is only an anchor at the start of a BRE
        ("a$b", False, "a$b", True),
        ("*a", False, "*a", True),  # a leading * is literal in BRE
        ("[]a]", True, "]", True),
        ("[^]a]", True, "b", True),
        ("[a-c]x", True, "bx", True),
        ("[[:digit:]]+", True, "42", True),
        ("[[:space:]]", True, "a b", True),
        ("a.c", True, "a\\c", True),
        ("a\\.c", True, "abc", False),
        ("[.]", True, "x", False),
        ("[\\]", True, "\\", True),  # a backslash is literal in a bracket
        ("\\<foo\\>", True, "a foo b", True),
        ("\\<foo\\>", True, "afoob", False),
        ("\\w+", True, "abc", True),
        ("x{", True, "x{", True),  # { not followed by a digit is a literal
        ("a{,2}", True, "a{,2}", True),
    ],
)
def test_posix_regex_translation(pattern: str, extended: bool, line: str, match: bool) -> None:
    translated = posix_regex(pattern, extended=extended)
    assert bool(re.search(translated, line, re.ASCII)) is match, translated


@pytest.mark.parametrize(
    ("pattern", "extended"),
    [("a**", True), ("a+?", True), ("(", True), (")", True), ("\\)", False), ("\\1", False)],
)
def test_posix_regex_rejects_what_regcomp_rejects(pattern: str, extended: bool) -> None:
    with pytest.raises(RegexError):
        posix_regex(pattern, extended=extended)


# ------------------------------------------------------------------------------- md5sum


@pytest.mark.parametrize("data", [b"", b"a\n", TEXT, bytes(range(256)) * 1000])
def test_md5sum_of_stdin_is_hashlibs(data: bytes) -> None:
    assert run("md5sum", data) == (0, f"{hashlib.md5(data).hexdigest()}  -\n", "")


def test_md5sum_files_and_other_hashes() -> None:
    a, b = FILES["/sdcard/a.txt"], FILES["/sdcard/b.txt"]
    md5_a, md5_b = hashlib.md5(a).hexdigest(), hashlib.md5(b).hexdigest()
    assert run("md5sum /sdcard/a.txt sdcard/b.txt") == (
        0,
        f"{md5_a}  /sdcard/a.txt\n{md5_b}  sdcard/b.txt\n",
        "",
    )
    assert run("md5sum -b /sdcard/a.txt") == (0, hashlib.md5(a).hexdigest() + "\n", "")
    assert run("sha256sum -", b"x") == (0, hashlib.sha256(b"x").hexdigest() + "  -\n", "")
    assert run("md5sum /nope /sdcard/a.txt") == (
        1,
        f"{hashlib.md5(a).hexdigest()}  /sdcard/a.txt\n",
        "md5sum: /nope: No such file or directory\n",
    )
    assert run("md5sum -x")[0] == 1


def test_md5sum_of_an_apk_on_a_simulated_phone() -> None:
    device = SimDevice(build_state("pixel8-a15"))
    path = device.state.packages["com.tencent.mm"].dir_name
    io = ShellIO()
    assert asyncio.run(device.shell.run(f"md5sum {path}; cat {path} | md5sum", io)) == 0
    digest = hashlib.md5(device.files[path]).hexdigest()
    assert io.stdout.decode() == f"{digest}  {path}\n{digest}  -\n"


# ------------------------------------------------------------------------- head and tail

LINES = b"".join(b"%d\n" % i for i in range(1, 21))


@pytest.mark.parametrize(
    ("script", "stdin", "expected"),
    [
        ("head", LINES, (0, "".join(f"{i}\n" for i in range(1, 11)), "")),
        ("head -n 2", LINES, (0, "1\n2\n", "")),
        ("head -n2", LINES, (0, "1\n2\n", "")),
        ("head -3", LINES, (0, "1\n2\n3\n", "")),
        ("head -n 0", LINES, (0, "", "")),
        ("head -c 3", LINES, (0, "1\n2", "")),
        ("head -n 5", b"a\nb", (0, "a\nb", "")),
        ("head -n -1", LINES, (1, "", 'head: -n < 0 (see "head --help")\n')),
        ("head -n x", LINES, (1, "", "head: not integer: x\n")),
        (
            "head -n 1 /sdcard/a.txt /sdcard/b.txt",
            b"",
            (
                0,
                "==> /sdcard/a.txt <==\nalpha\n\n==> /sdcard/b.txt <==\none two  three\n",
                "",
            ),
        ),
        (
            "head -q -n 1 /sdcard/a.txt /nope /sdcard/b.txt",
            b"",
            (
                1,
                "alpha\none two  three\n",
                "head: /nope: No such file or directory\n",
            ),
        ),
        ("tail", LINES, (0, "".join(f"{i}\n" for i in range(11, 21)), "")),
        ("tail -n 2", LINES, (0, "19\n20\n", "")),
        ("tail -2", LINES, (0, "19\n20\n", "")),
        ("tail -n +19", LINES, (0, "19\n20\n", "")),
        ("tail +20", LINES, (0, "20\n", "")),
        ("tail -c 3", LINES, (0, "20\n", "")),
        ("tail -c +49", LINES, (0, "20\n", "")),
        ("tail -n 1", b"a\nb", (0, "b", "")),
        ("tail -n 0", LINES, (0, "", "")),
        (
            "tail -n 1 /sdcard/a.txt /sdcard/nonl.txt",
            b"",
            (
                0,
                "==> /sdcard/a.txt <==\ngamma\n\n==> /sdcard/nonl.txt <==\ny",
                "",
            ),
        ),
    ],
)
def test_head_and_tail(script: str, stdin: bytes, expected: tuple[int, str, str]) -> None:
    assert run(script, stdin) == expected


# ----------------------------------------------------------------------------- wc and cat


@pytest.mark.parametrize(
    ("script", "stdin", "expected"),
    [
        ("wc -l", TEXT, (0, "5\n", "")),
        ("wc -c", TEXT, (0, f"{len(TEXT)}\n", "")),
        ("wc -w", b"  one two\nthree  \n", (0, "3\n", "")),
        ("wc", b"hi\n", (0, "      1       1       3\n", "")),
        ("wc -lc", b"hi\n", (0, "      1       3\n", "")),
        ("wc -m", "héé\n".encode(), (0, "4\n", "")),
        ("wc -l", b"no newline", (0, "0\n", "")),
        ("wc -l /sdcard/a.txt", b"", (0, "3 /sdcard/a.txt\n", "")),
        (
            "wc -l /sdcard/a.txt /sdcard/b.txt",
            b"",
            (
                0,
                "      3 /sdcard/a.txt\n      2 /sdcard/b.txt\n      5 total\n",
                "",
            ),
        ),
        ("wc -l /nope", b"", (1, "", "wc: /nope: No such file or directory\n")),
        ("cat /sdcard/a.txt - /sdcard/nonl.txt", b"in\n", (0, "alpha\nbeta\ngamma\nin\nx\ny", "")),
        ("cat /nope; echo $?", b"", (0, "1\n", "cat: /nope: No such file or directory\n")),
    ],
)
def test_wc_and_cat(script: str, stdin: bytes, expected: tuple[int, str, str]) -> None:
    assert run(script, stdin) == expected


def test_wc_counts_words_across_chunk_boundaries() -> None:
    data = b"word " * 50_000 + b"tail"
    assert run("wc -w", data) == (0, "50001\n", "")


@pytest.mark.timeout(10)
def test_lines_longer_than_a_chunk() -> None:
    data = b"a" * 300_000 + b"x\n" + b"b" * 200_000
    io = ShellIO(stdin=data)
    shell = Shell(shell_commands(FILES))
    assert asyncio.run(shell.run("grep -c x", io)) == 0
    assert bytes(io.stdout) == b"1\n"
    io = ShellIO(stdin=data)
    assert asyncio.run(shell.run("tail -n 1", io)) == 0
    assert bytes(io.stdout) == b"b" * 200_000
    io = ShellIO(stdin=data)
    assert asyncio.run(shell.run("grep b | wc -c", io)) == 0
    assert bytes(io.stdout) == b"200001\n"  # grep ends every line it prints with a newline
