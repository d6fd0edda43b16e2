"""Android's refusals, in plain words, with what to try.

``pm``, ``appops``, ``am`` and ``dpm`` answer a refused change with a Java exception or a
``Failure [CODE]`` line. The owner needs to know why and what to do; the raw text stays in the
audit log. Patterns are matched on the device's output (hostile text: only searched, never
echoed without :func:`agent.textsafe.printable`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_VENDOR_BLOCK: Final = (
    "this phone's vendor blocks permission changes from adb: on Xiaomi enable "
    "'USB debugging (Security settings)' in Developer options; on OPPO, realme and OnePlus "
    "turn on 'Disable permission monitoring' there; then try again"
)


@dataclass(frozen=True)
class Refusal:
    reason: str
    """Why, in plain words."""
    hint: str | None = None
    """What to try."""


_RULES: Final[tuple[tuple[re.Pattern[str], Refusal], ...]] = (
    (
        re.compile(r"DELETE_FAILED_DEVICE_POLICY_MANAGER"),
        Refusal(
            "it is an active device admin, which Android will not uninstall",
            "deactivate it first: Settings > Security > Device admin apps "
            "(or `tetherguard remove-admin`), then uninstall",
        ),
    ),
    (
        re.compile(r"DELETE_FAILED_USER_RESTRICTED|DELETE_FAILED_OWNER_BLOCKED"),
        Refusal(
            "the owner or a device management app forbids uninstalling apps here",
            "lift the restriction in the device management app, or disable the app instead",
        ),
    ),
    (
        re.compile(r"DELETE_FAILED_INTERNAL_ERROR"),
        Refusal(
            "Android refused to uninstall it (a system app cannot be removed from the phone)",
            "uninstall it for the user only (keeps the system copy) or disable it",
        ),
    ),
    (
        re.compile(
            r"Neither user 2000 nor current process has android\.permission\."
            r"(GRANT|REVOKE)_RUNTIME_PERMISSIONS|uid 2000 does not have android\.permission\."
            r"MANAGE_APP_OPS_MODES|updatePermissionFlags requires|USB debugging \(Security"
        ),
        Refusal("the phone refused the change", _VENDOR_BLOCK),
    ),
    (
        re.compile(r"is not a changeable permission type|has not requested permission"),
        Refusal(
            "it is not a runtime permission the app asked for: Android lets no one revoke it",
            "restrict the app (background running, app ops) or uninstall it",
        ),
    ),
    (
        re.compile(r"Unknown permission"),
        Refusal("this phone does not know that permission"),
    ),
    (
        re.compile(r"Attempt to remove non-test admin"),
        Refusal(
            "Android lets adb remove only test device admins",
            "deactivate it on the phone: Settings > Security > Device admin apps",
        ),
    ),
    (
        re.compile(r"Cannot disable a protected package|Cannot disable system packages"),
        Refusal("Android protects this package from being disabled"),
    ),
    (
        re.compile(r"NameNotFoundException|Unknown package|doesn't exist|not installed for"),
        Refusal("the package is not on this phone (for that user)"),
    ),
    (
        re.compile(r"Unknown bucket"),
        Refusal("this Android version has no such standby bucket"),
    ),
    (
        re.compile(r"Unknown command"),
        Refusal("this Android version has no such command"),
    ),
    (
        re.compile(r"SecurityException"),
        Refusal("Android refused: the shell may not do this on this phone"),
    ),
)


def explain(output: str) -> Refusal:
    """The plain-words reason for a refused command's output."""
    for pattern, refusal in _RULES:
        if pattern.search(output):
            return refusal
    first = next((line.strip() for line in output.splitlines() if line.strip()), "")
    return Refusal(f"the phone refused: {first[:200]}" if first else "the command failed")
