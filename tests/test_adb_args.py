"""Every word reaching an Android shell is validated and quoted."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.adb import AppOp, InvalidArgument, Package, Permission, Script, UserId, render


@pytest.mark.parametrize(
    "name", ["com.example.app", "android", "com.android.chrome", "a.b_c.D9", "x" * 200]
)
def test_real_package_names_pass(name: str) -> None:
    assert Package(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "com.x;reboot",
        "com.x reboot",
        "com..x",
        ".com.x",
        "com.x.",
        "9com.x",
        "com.9x",
        "com.x\nreboot",
        "com.x$(id)",
        "com.x`id`",
        "ком.пример",
        "a" * 224,
    ],
)
def test_hostile_or_malformed_package_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgument, match="package name"):
        Package(name)


def test_permission_op_and_user_grammar() -> None:
    assert Permission("android.permission.RECORD_AUDIO")
    assert Permission("com.sec.android.provider.badge.permission.READ")
    assert AppOp("android:camera") and AppOp("RUN_ANY_IN_BACKGROUND") and AppOp("27")
    assert UserId(0) == "0" and UserId("10") == "10" and UserId("all") == "all"
    for bad in ("android.permission.X;id", "a b"):
        with pytest.raises(InvalidArgument):
            Permission(bad)
    for bad_op in ("CAMERA;id", "android:camera:x", ""):
        with pytest.raises(InvalidArgument):
            AppOp(bad_op)
    for bad_user in (-1, "-1", "1e3", True, "0;id", "١"):
        with pytest.raises(InvalidArgument):
            UserId(bad_user)  # type: ignore[arg-type]


def test_render_quotes_only_what_needs_it() -> None:
    line = render(["dumpsys", "package", Package("com.example"), "a b", "it's", "$HOME", 10])
    assert line == "dumpsys package com.example 'a b' 'it'\"'\"'s' '$HOME' 10"


def test_render_refuses_strings_nul_and_empty() -> None:
    with pytest.raises(InvalidArgument, match="argv lists"):
        render("pm list packages")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="NUL"):
        render(["echo", "a\x00b"])
    with pytest.raises(InvalidArgument, match="empty"):
        render([])
    assert render(Script("getprop a ; getprop b")) == "getprop a ; getprop b"


@given(st.lists(st.text(st.characters(exclude_characters="\x00"), max_size=40), min_size=1))
def test_any_argv_survives_a_posix_shell_round_trip(words: list[str]) -> None:
    # Whatever the words (metacharacters, quotes, newlines, escapes), a POSIX shell reading the
    # rendered line sees exactly the same words: nothing can break out of its argument.
    assert shlex.split(render(words)) == words
