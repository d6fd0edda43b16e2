"""``dumpsys device_policy`` -> :class:`~agent.model.DevicePolicy`: device admins and owners.

An active device admin blocks ``pm uninstall`` (``DELETE_FAILED_DEVICE_POLICY_MANAGER``) and a
device or profile owner can fix permissions (``POLICY_FIXED``) and disable the camera, so the
agent must know who holds those roles before it explains a change or offers an uninstall.

``DevicePolicyManagerService.dump`` (Android 9-15; real Fire OS 9 capture, AOSP source for
the rest) prints, under ``Current Device Policy Manager state:``:

* ``Device Owner:`` with ``admin=ComponentInfo{pkg/cls}``, ``name=``, ``package=``, newer
  flags (``canAccessDeviceIds=``, ``isOrganizationOwnedDevice=``) and ``User ID: N``;
* ``Profile Owner (User N):`` with the same fields but no user line;
* per user ``Enabled Device Admins (User N, provisioningState: M):`` (``(User N):`` on old
  builds), then each admin as ``pkg/.Receiver:`` followed by ``ActiveAdmin.dump``: ``uid=``,
  ``testOnlyAdmin=``, ``policies:`` (one per line, or Samsung's comma-separated continuation
  lines), then dozens of password/quality/restriction fields; after the admins the user's own
  ``mPasswordOwner=``-style fields.

Read: the owners' components and the device owner's user, each admin's component, uid,
test-only flag and policies. Skipped on purpose: the owners' other fields, every other
``ActiveAdmin`` field and its sub-lists (``userRestrictions:`` ...), the per-user
``DevicePolicyData`` fields, and every other section (``Immutable state``, ``Constants``,
``Stats``, ``Encryption Status``, the policy engine ...). Lines inside the owner and admin
blocks that fit none of these shapes are warnings.

Components are returned in ``ComponentName.flattenToShortString()`` form (``pkg/.Receiver``),
the form the admin list prints, so an owner can be compared with the admins directly.
"""

from __future__ import annotations

from types import MappingProxyType

from agent.model import ActiveAdminInfo, DevicePolicy, Parsed
from agent.parsers.sections import Warnings, lines_of

__all__ = ["parse_device_policy"]

_HEADER = "Current Device Policy Manager state:"
_DEVICE_OWNER, _PROFILE_OWNER, _ADMINS = range(3)


def short_component(component: str) -> str:
    """``pkg/pkg.sub.Cls`` -> ``pkg/.sub.Cls`` (``ComponentName.flattenToShortString``)."""
    package, sep, cls = component.partition("/")
    if sep and cls.startswith(package + "."):
        return f"{package}/{cls[len(package) :]}"
    return component


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _user_of_title(title: str, prefix: str) -> int | None:
    """``Enabled Device Admins (User 0, provisioningState: 3):`` -> 0."""
    inner = title[len(prefix) :]
    return _int(inner.partition(",")[0].partition(")")[0])


class _Admin:
    __slots__ = ("component", "policies", "test_only", "uid", "user")

    def __init__(self, user: int, component: str) -> None:
        self.user = user
        self.component = component
        self.uid: int | None = None
        self.test_only: bool | None = None
        self.policies: list[str] = []

    def build(self) -> ActiveAdminInfo:
        return ActiveAdminInfo(
            user=self.user,
            component=self.component,
            uid=self.uid,
            test_only=self.test_only,
            policies=tuple(self.policies),
        )


def parse_device_policy(text: str) -> Parsed[DevicePolicy]:
    """Parse ``dumpsys device_policy`` (see the module docstring)."""
    warnings = Warnings()
    admins: list[_Admin] = []
    device_owner: str | None = None
    device_owner_user: int | None = None
    profile_owners: dict[int, str] = {}
    error: str | None = None
    seen_header = False

    block: int | None = None  # which titled block the lines belong to
    block_indent = 0
    block_user = 0
    owner_component: str | None = None  # admin= of the owner block being read
    owner_package: str | None = None  # package= of it (used if admin= is missing)
    admin: _Admin | None = None
    sub: str | None = None  # title of the sub-list inside an admin ("policies", ...)
    sub_indent = 0

    def close_owner() -> None:
        nonlocal device_owner, owner_component, owner_package
        component = owner_component or owner_package
        if component is not None:
            if block == _DEVICE_OWNER:
                device_owner = component
            elif block == _PROFILE_OWNER:
                profile_owners[block_user] = component
        owner_component = owner_package = None

    for no, raw in enumerate(lines_of(text), 1):
        s = raw.strip()
        if not s:
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if block is not None and indent <= block_indent:
            close_owner()
            block, admin, sub = None, None, None
        if indent == 0:
            if s == _HEADER:
                seen_header = True
            elif s.startswith(("Permission Denial", "Can't find service", "Error:")):
                error = error or s[:200]
            continue
        if block is None:
            if s == "Device Owner:":
                block, block_indent = _DEVICE_OWNER, indent
            elif s.startswith("Profile Owner (User ") and s.endswith("):"):
                user = _user_of_title(s, "Profile Owner (User ")
                if user is None:
                    warnings.add(no, raw, "profile owner user is not a number")
                else:
                    block, block_indent, block_user = _PROFILE_OWNER, indent, user
            elif s.startswith("Enabled Device Admins (User ") and s.endswith("):"):
                user = _user_of_title(s, "Enabled Device Admins (User ")
                if user is None:
                    warnings.add(no, raw, "admin user is not a number")
                else:
                    block, block_indent, block_user = _ADMINS, indent, user
            continue  # any other line outside these blocks belongs to a skipped section
        if block != _ADMINS:
            key, sep, value = s.partition("=")
            if sep and key == "admin":
                if value.startswith("ComponentInfo{") and value.endswith("}"):
                    owner_component = short_component(value[14:-1])
                else:
                    warnings.add(no, raw, "expected admin=ComponentInfo{pkg/cls}")
            elif sep and key == "package":
                owner_package = value or None
            elif s.startswith("User ID: "):
                device_owner_user = _int(s[9:])
                if device_owner_user is None:
                    warnings.add(no, raw, "User ID is not a number")
            elif not sep and not s.endswith(":"):
                warnings.add(no, raw, "unexpected line in an owner block")
            continue  # name=, isOrganizationOwnedDevice= ...: skipped on purpose
        if indent == block_indent + 2:
            admin, sub = None, None
            if s.endswith(":") and "/" in s and " " not in s:
                admin = _Admin(block_user, s[:-1])
                admins.append(admin)
            elif s.startswith("admin=ComponentInfo{") and s.endswith("}"):
                admin = _Admin(block_user, short_component(s[20:-1]))
                admins.append(admin)
            elif "=" not in s and not s.startswith("Removing Device Admins"):
                warnings.add(no, raw, "expected pkg/.Receiver: or a key=value field")
            continue  # mPasswordOwner= and the other per-user fields: skipped on purpose
        if admin is None:
            continue  # detail under a line already warned about
        if sub is not None and indent > sub_indent:
            if sub == "policies":
                admin.policies.extend(p for p in s.replace(",", " ").split() if p)
            continue
        sub = None
        key, sep, value = s.partition("=")
        if sep and key == "uid":
            admin.uid = _int(value)
            if admin.uid is None:
                warnings.add(no, raw, "uid is not a number")
        elif sep and key == "testOnlyAdmin":
            admin.test_only = value == "true" if value in ("true", "false") else None
            if admin.test_only is None:
                warnings.add(no, raw, "expected true or false")
        elif s.startswith("policies:"):
            sub, sub_indent = "policies", indent
            admin.policies.extend(p for p in s[9:].replace(",", " ").split() if p)
        elif not sep and s.endswith(":"):
            sub, sub_indent = s[:-1], indent  # userRestrictions: and other lists: skipped
        elif not sep:
            warnings.add(no, raw, "unexpected line in an admin block")
    if block is not None:
        close_owner()
    if not seen_header and error is None and not admins and device_owner is None:
        error = "not a dumpsys device_policy output (no 'Current Device Policy Manager state:')"
    policy = DevicePolicy(
        admins=tuple(a.build() for a in admins),
        device_owner=device_owner,
        device_owner_user=device_owner_user,
        profile_owners=MappingProxyType(profile_owners),
    )
    return Parsed(policy, warnings.result(), error)
