"""Packages tetherguard will not touch without ``--force``.

Disabling, uninstalling or even stopping one of these can leave a phone without a screen, a
keyboard, a dialler or a way to install apps again - the worst failure a tool of this kind can
have, and one the owner cannot undo from the phone. The list holds the platform's own
components, the package installer and permission controller (without them no app can be
installed or asked for a permission), telephony, input, the vendors' equivalents, and at run
time the launcher in use.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

PROTECTED: Final = frozenset(
    {
        "android",
        "com.android.systemui",
        "com.android.settings",
        "com.android.shell",
        "com.android.phone",
        "com.android.server.telecom",
        "com.android.providers.telephony",
        "com.android.providers.settings",
        "com.android.providers.media",
        "com.android.providers.contacts",
        "com.android.packageinstaller",
        "com.google.android.packageinstaller",
        "com.android.permissioncontroller",
        "com.google.android.permissioncontroller",
        "com.android.inputmethod.latin",
        "com.google.android.inputmethod.latin",
        "com.android.bluetooth",
        "com.android.nfc",
        "com.android.networkstack",
        "com.google.android.networkstack",
        "com.android.se",
        "com.android.keychain",
        "com.android.location.fused",
        "com.google.android.gms",
        "com.google.android.gsf",
        "com.android.vending",
        # vendors: security centres and launchers that the system UI depends on
        "com.miui.securitycenter",
        "com.miui.home",
        "com.coloros.safecenter",
        "com.oppo.launcher",
        "com.sec.android.app.launcher",
        "com.samsung.android.app.telephonyui",
        "com.amazon.firelauncher",
    }
)


def protection(package: str, launchers: Collection[str] = ()) -> str | None:
    """Why ``package`` is protected (``None`` when it is not); ``launchers``: the home apps in
    use on the phone."""
    if package in launchers:
        return "it is the phone's launcher: without it there is no home screen"
    if package in PROTECTED:
        return "it is part of the system the phone needs to work"
    return None
