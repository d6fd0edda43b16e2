"""The users of a phone: ``cmd user list [-v]``, ``pm list users`` and ``dumpsys user``.

Every shell command takes ``--user N`` and a work profile or second space is a user of its own,
so the agent needs the list before it asks anything else. Three shapes exist (Android 9-15):

* ``cmd user list`` / ``pm list users`` (all versions)::

      Users:
        UserInfo{0:Owner:c13} running

  ``UserInfo.toString()`` is ``UserInfo{id:name:flags-in-hex}``; the name is the user's own text
  and may contain ``:`` or ``}``, so the id is read up to the first ``:`` and the flags after the
  last one.
* ``cmd user list -v`` (Android 11+; ``--verbose`` from 13)::

      2 users:

      0: id=0, name=Owner, type=full.SYSTEM, flags=ADMIN|FULL|PRIMARY|SYSTEM (running) (current)

  Flag names are turned back into ``UserInfo.FLAG_*`` bits; the type gets its
  ``android.os.usertype.`` prefix back so both shapes give the same :class:`~agent.model.User`.
* ``dumpsys user``: the ``Users:`` list, ``  UserInfo{...} serialNo=N [isPrimary=..]
  [parentId=N]`` followed by indented detail. Only ``Type:``, ``Flags:`` and ``State:`` of the
  detail are read (the "brief" view); the rest of each user's detail (creation and login times,
  restrictions, ...) and every other section of the dump (guest settings, user-type table, ...)
  are deliberately skipped.

``Error:`` / ``Exception occurred`` output (a user the shell may not see) sets ``error``.
"""

from __future__ import annotations

from dataclasses import replace

from agent.model import Parsed, User
from agent.parsers.sections import Warnings, lines_of

__all__ = ["USER_FLAGS", "parse_dumpsys_user", "parse_user_list"]

USER_FLAGS: dict[str, int] = {
    # android.content.pm.UserInfo.FLAG_*
    "PRIMARY": 0x1,
    "ADMIN": 0x2,
    "GUEST": 0x4,
    "RESTRICTED": 0x8,
    "INITIALIZED": 0x10,
    "MANAGED_PROFILE": 0x20,
    "DISABLED": 0x40,
    "QUIET_MODE": 0x80,
    "EPHEMERAL": 0x100,
    "DEMO": 0x200,
    "FULL": 0x400,
    "SYSTEM": 0x800,
    "PROFILE": 0x1000,
    "EPHEMERAL_ON_CREATE": 0x2000,
    "MAIN": 0x4000,
    "FOR_TESTING": 0x8000,
}

_TYPE_PREFIX = "android.os.usertype."
_RUNNING_STATES = frozenset(
    # UserState.stateToString; "-1" (or "?" on P) means the user is not started.
    {"BOOTING", "RUNNING_LOCKED", "RUNNING_UNLOCKING", "RUNNING_UNLOCKED", "STOPPING"}
)
_NO_PROFILE_GROUP = -10000  # UserInfo.NO_PROFILE_GROUP_ID


def _int(text: str, base: int = 10) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


def _user_info(text: str) -> User | None:
    """``UserInfo{id:name:hexflags}`` (nothing before or after) -> User, or None."""
    if not text.startswith("UserInfo{") or not text.endswith("}"):
        return None
    inner = text[9:-1]
    ident, sep, rest = inner.partition(":")
    name, sep2, flags = rest.rpartition(":")
    if not sep or not sep2:
        return None
    uid, bits = _int(ident), _int(flags, 16)
    if uid is None or bits is None:
        return None
    return User(id=uid, name=name, flags=bits)


def _error_line(line: str) -> bool:
    return line.startswith(("Error:", "Exception occurred", "Security exception", "java."))


def _verbose(s: str) -> tuple[User | None, str | None]:
    """One ``cmd user list -v`` line -> (User, problem)."""
    index, _, rest = s.partition(": id=")
    if not index.isdigit():
        return None, "not a user line"
    ident, sep, rest = rest.partition(", name=")
    uid = _int(ident)
    name, sep2, rest = rest.rpartition(", type=")  # the last one: names may contain ", type="
    kind, sep3, rest = rest.partition(", flags=")
    if uid is None or not (sep and sep2 and sep3):
        return None, "not a user line"
    flag_text, _, extras = rest.partition(" ")
    flags = 0
    for word in flag_text.split("|"):
        if word in USER_FLAGS:
            flags |= USER_FLAGS[word]
        elif word.startswith("0x") and (bits := _int(word[2:], 16)) is not None:
            flags |= bits  # DebugUtils.flagsToString prints bits it has no name for in hex
        elif word != "0":
            return None, f"unknown user flag {word!r}"
    running = current = False
    parent: int | None = None
    for part in extras.split(" "):
        if part == "(running)":
            running = True
        elif part == "(current)":
            current = True
        elif part.startswith("(parentId=") and part.endswith(")"):
            parent = _int(part[10:-1])
        elif part and part not in _KNOWN_MARKS:
            return None, f"unknown user mark {part!r}"
    user = User(
        id=uid,
        name=name,
        flags=flags,
        running=running,
        type=kind if kind.startswith(_TYPE_PREFIX) else _TYPE_PREFIX + kind,
        parent=parent,
        current=current,
    )
    return user, None


_KNOWN_MARKS = frozenset(
    {"(partial)", "(pre-created)", "(converted)", "(device-owner)", "(profile-owner)", "(visible)"}
)


def parse_user_list(text: str) -> Parsed[tuple[User, ...]]:
    """Parse ``cmd user list``, ``cmd user list -v`` or ``pm list users`` output."""
    warnings = Warnings()
    users: list[User] = []
    error: str | None = None
    for no, raw in enumerate(lines_of(text), 1):
        s = raw.strip()
        if not s or s == "Users:" or s == "No users":
            continue
        if s.endswith(" users:") and s[:-7].isdigit():
            continue  # "2 users:" header of -v
        if _error_line(s):
            error = error or s[:200]
            continue
        if s.startswith("UserInfo{"):
            running = s.endswith("} running")
            user = _user_info(s[:-8] if running else s)
            if user is None:
                warnings.add(no, raw, "malformed UserInfo{id:name:flags}")
            else:
                users.append(replace(user, running=running))
            continue
        parsed, problem = _verbose(s)
        if parsed is None:
            warnings.add(no, raw, problem or "not a user line")
        else:
            users.append(parsed)
    return Parsed(tuple(users), warnings.result(), error)


def _dumpsys_header(s: str) -> User | None:
    """``UserInfo{...} serialNo=N [isPrimary=B] [parentId=N] [<removing>] ...`` -> User."""
    # rpartition: the user's name may itself contain "} serialNo=".
    head, sep, tail = s.rpartition("} serialNo=")
    user = _user_info(head + "}") if sep else _user_info(s)
    if user is None:
        return None
    for word in tail.split(" "):
        key, sep, value = word.partition("=")
        if key == "parentId" and sep:
            parent = _int(value)
            if parent is not None and parent not in (_NO_PROFILE_GROUP, user.id):
                user = replace(user, parent=parent)
    return user


def parse_dumpsys_user(text: str) -> Parsed[tuple[User, ...]]:
    """Parse the ``Users:`` list of ``dumpsys user`` (see the module docstring)."""
    warnings = Warnings()
    users: list[User] = []
    current_id: int | None = None
    in_users = False
    error: str | None = None
    for no, raw in enumerate(lines_of(text), 1):
        if not raw.strip():
            continue
        if raw[0] != " ":
            # Top level: a section title or a "Key: value" line.
            in_users = raw.rstrip() == "Users:"
            if raw.startswith("Current user: "):
                current_id = _int(raw[14:].strip())
            elif _error_line(raw) or raw.startswith("Permission Denial"):
                error = error or raw[:200]
            continue
        if not in_users:
            continue
        s = raw.strip()
        if len(raw) - len(raw.lstrip(" ")) <= 2:
            user = _dumpsys_header(s)
            if user is None:
                warnings.add(no, raw, "expected UserInfo{id:name:flags} serialNo=...")
            else:
                users.append(user)
            continue
        if not users:
            continue
        key, sep, value = s.partition(": ")
        if not sep:
            continue  # detail we skip on purpose (module docstring)
        last = users[-1]
        if key == "Type":
            users[-1] = replace(
                last, type=value if value.startswith(_TYPE_PREFIX) else _TYPE_PREFIX + value
            )
        elif key == "Flags":
            bits = _int(value.partition(" ")[0])
            if bits is None:
                warnings.add(no, raw, "Flags: is not a number")
            else:
                users[-1] = replace(last, flags=bits)
        elif key == "State":
            users[-1] = replace(last, state=value, running=value in _RUNNING_STATES)
        elif key == "Profile group id":
            parent = _int(value)
            if parent is not None and parent not in (_NO_PROFILE_GROUP, last.id):
                users[-1] = replace(last, parent=parent)
        # Every other "Key: value" under a user is detail we skip on purpose.
    if current_id is not None:
        users = [replace(u, current=u.id == current_id) for u in users]
    return Parsed(tuple(users), warnings.result(), error)
