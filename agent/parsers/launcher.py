"""``cmd package query-activities ... -a android.intent.action.MAIN -c
android.intent.category.LAUNCHER`` -> the set of packages that have a launcher icon.

An installed app absent from this set has no launcher entry: a classic trait of stalkerware and
of apps that hide after install (they disable their launcher ``activity-alias``). The docs
recommend ``--components`` (one ``package/.Activity`` per line); all three output shapes of
``PackageManagerShellCommand.runQueryIntentActivities`` are read, Android 9-15 alike:

* ``--components``: ``com.android.settings/.Settings`` per line, nothing else;
* ``--brief``: ``N activities found:``, then per entry ``  Activity #i:``, a
  ``priority=.. preferredOrder=.. match=0x.. specificIndex=.. isDefault=..`` line and the
  component;
* neither: the same entries with the full ``ResolveInfo`` dump; only the first
  ``packageName=`` of each entry (its ``ActivityInfo``) is read, the rest of that dump
  (``ApplicationInfo``, labels, flags ...) is skipped on purpose.

``No activities found`` is an empty set. When ``N activities found:`` promised more entries than
were read, the text was cut: the packages read are returned and ``error`` says so. Package
names are checked against Android's grammar, so a hostile line cannot smuggle a name that
would later reach a shell command.
"""

from __future__ import annotations

import re

from agent.model import Parsed
from agent.parsers.packages import PACKAGE_NAME
from agent.parsers.sections import Warnings, lines_of

__all__ = ["parse_launcher_activities"]

# A class name after the "/": Java identifiers with dots and "$"; ".Name" is the short form.
_CLASS = re.compile(r"\.?[\w$]+(?:\.[\w$]+)*")


def _component_package(text: str) -> str | None:
    """``package/.Class`` or ``package/full.Class`` -> ``package``; None if not a component."""
    package, sep, cls = text.partition("/")
    if sep and PACKAGE_NAME.fullmatch(package) and _CLASS.fullmatch(cls):
        return package
    return None


def _count(text: str) -> int | None:
    # Not str.isdigit(): it accepts "²", which int() refuses; and int() refuses 5000 digits.
    try:
        return int(text) if text.isascii() else None
    except ValueError:
        return None


def parse_launcher_activities(text: str) -> Parsed[frozenset[str]]:
    """Parse ``query-activities`` output (``--components``, ``--brief`` or full) into the set of
    package names with a launcher activity."""
    warnings = Warnings()
    packages: set[str] = set()
    error: str | None = None
    expected: int | None = None
    entries = 0
    entry_has_package = False
    for no, raw in enumerate(lines_of(text), 1):
        s = raw.strip()
        if not s or s == "No activities found":
            continue
        if s.endswith(" activities found:"):
            expected = _count(s[:-18])
            if expected is None:
                warnings.add(no, raw, "activity count is not a number")
            continue
        if s.startswith("Activity #") and s.endswith(":"):
            entries += 1
            entry_has_package = False
            continue
        if s.startswith(("Error:", "Exception occurred", "Security exception", "java.")):
            error = error or s[:200]
            continue
        package = _component_package(s) if "/" in s and " " not in s else None
        if package is not None:
            packages.add(package)
            entry_has_package = True
            if expected is None:
                entries += 1  # --components: one line per entry
            continue
        if s.startswith("packageName=") and not entry_has_package:
            name = s[12:]
            if PACKAGE_NAME.fullmatch(name):
                packages.add(name)
                entry_has_package = True
            else:
                warnings.add(no, raw, "not a package name")
            continue
        if expected is not None and entries:
            # Inside an entry: the brief "priority=..." line or the full ResolveInfo dump.
            continue
        warnings.add(no, raw, "not a component or activity entry")
    if expected is not None and entries < expected:
        error = error or f"{expected} activities announced, {entries} read: the text is cut"
    return Parsed(frozenset(packages), warnings.result(), error)
