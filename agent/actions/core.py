"""Actions: the owner's remedies, run on a phone over the adb link, recorded and verified.

Owns the life of one change: check it (arguments validated, the package present for the user,
not a protected package, possible on this Android version), record it in the audit log *before*
it runs (so the change it causes is reported as tetherguard's, never as one without consent),
run it, read the state back to verify it, and record the outcome - with Android's refusal in
plain words (:mod:`agent.actions.messages`). What an action changed is kept in its audit row
(``before``), so :meth:`Actions.undo` can put it back.

Kinds: ``revoke`` (and keep revoked: USER_SET|USER_FIXED where the version has
``set-permission-flags``), ``grant``, ``appop`` (any mode), ``restrict`` (no background
running: RUN_ANY_IN_BACKGROUND ignore, and the restricted standby bucket, ``rare`` before
Android 11), ``unrestrict``, ``force_stop``, ``disable``, ``enable``, ``uninstall`` (for a
user, keeping data), ``restore`` (``install-existing``), ``remove_admin``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, Protocol

from agent.actions.messages import Refusal, explain
from agent.actions.protected import protection
from agent.adb import AdbError, AppOp, InvalidArgument, Package, Permission, ShellResult, UserId
from agent.adb.args import render
from agent.model import PackageDump, PackageInfo, PermissionGrant
from agent.parsers.appops import parse_appops_get
from agent.parsers.packages import parse_dumpsys_package
from agent.store import Store, StoreError

log = logging.getLogger(__name__)

Kind = Literal[
    "revoke",
    "grant",
    "appop",
    "restrict",
    "unrestrict",
    "force_stop",
    "disable",
    "enable",
    "uninstall",
    "restore",
    "remove_admin",
]
KINDS: Final[tuple[str, ...]] = Kind.__args__  # type: ignore[attr-defined]
MODES: Final = frozenset({"allow", "ignore", "deny", "default", "foreground"})
_COMPONENT = re.compile(r"[A-Za-z][\w.]*/[\w.$]+")
_RESTRICTED_BUCKET_SDK: Final = 30
_KEEP_REVOKED: Final = ("user-set", "user-fixed")
_BUCKETS: Final = {"10": "active", "20": "working_set", "30": "frequent", "40": "rare"}
_BUCKETS.update({"45": "restricted", "50": "never", "5": "exempted"})

Status = Literal["done", "failed", "refused", "dry-run"]


class Link(Protocol):
    """What actions need of a device link (:class:`agent.adb.DeviceLink`)."""

    @property
    def serial(self) -> str: ...

    def shell(self, command: Sequence[str], *, timeout: float | None = ...) -> ShellResult: ...


@dataclass(frozen=True)
class Action:
    """One change to one package for one user."""

    kind: Kind
    package: str
    user: int = 0
    permission: str | None = None
    """``revoke``/``grant``: the runtime permission (short names get ``android.permission.``)."""
    op: str | None = None
    """``appop``: the app-op name (``RECORD_AUDIO``)."""
    mode: str | None = None
    """``appop``: allow, ignore, deny, default, foreground."""
    component: str | None = None
    """``remove_admin``: the admin receiver (``pkg/.Receiver``); found on the phone if None."""
    keep_data: bool = True
    """``uninstall``: for this user only, keeping the app's data (undo: restore). False
    removes the app for every user with its data - user apps only, and not reversible."""

    def describe(self) -> str:
        what = {
            "revoke": f"revoke {self.permission} from",
            "grant": f"grant {self.permission} to",
            "appop": f"set app op {self.op} to {self.mode} for",
            "restrict": "stop background running of",
            "unrestrict": "allow background running of",
            "force_stop": "force-stop",
            "disable": "disable",
            "enable": "enable",
            "uninstall": "uninstall (keeping its data)"
            if self.keep_data
            else "uninstall for every user, deleting its data,",
            "restore": "restore",
            "remove_admin": "remove the device admin of",
        }[self.kind]
        return f"{what} {self.package} for user {self.user}"


@dataclass(frozen=True)
class Outcome:
    """What became of an action."""

    action: Action
    status: Status
    message: str
    """One line for people: what was done, or why not."""
    hint: str | None = None
    """What to try, when it failed or was refused."""
    audit_id: int | None = None
    commands: tuple[str, ...] = ()
    """The commands run (or, for a dry run, that would run), as typed in a shell."""
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("done", "dry-run")


@dataclass(frozen=True)
class Capability:
    """Whether an action can work on this phone, and what to know about it."""

    available: bool
    note: str | None = None


class ActionError(Exception):
    """An action that cannot even be tried (bad arguments, unknown audit record)."""


@dataclass
class _Plan:
    commands: list[list[str]]
    before: dict[str, Any]
    expects: list[list[str | None]]
    """[kind, key] pairs of the events this action will cause (key None: any)."""
    verify: Callable[[], tuple[bool, dict[str, Any]]]
    tolerate: Callable[[int, ShellResult], str | None] = lambda i, r: None
    """For a failed command ``i`` that is a best-effort extra step: the note saying what
    could not be done (the action goes on); ``None``: the failure fails the action."""
    notes: list[str] = field(default_factory=list)


class Actions:
    """Runs actions on one phone.

    Args:
        link: the device.
        store: the audit log (``None``: nothing recorded; only for dry runs and tests).
        actor: who asks (``cli:alice``, ``tui:alice``, ``policy:enterprise-strict``).
        sdk: the phone's API level (what it supports).
        launchers: home apps in use (protected like the system's own packages); ``None``:
            asked of the phone before the first action.
        before_start: called with a package tetherguard is about to act on (the engine's
            ``note_own_action``: starts this causes are not the app's).
    """

    def __init__(
        self,
        link: Link,
        store: Store | None,
        *,
        actor: str,
        sdk: int,
        launchers: Sequence[str] | None = None,
        before_start: Callable[[str], None] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.link = link
        self.store = store
        self.actor = actor
        self.sdk = sdk
        self._launchers = None if launchers is None else tuple(launchers)
        self.before_start = before_start
        self.timeout = timeout

    # ---------------------------------------------------------------- public face
    def run(self, action: Action, *, dry_run: bool = False, force: bool = False) -> Outcome:
        """Check, record, run and verify ``action``; never raises for a device's refusal.

        Raises:
            ActionError: the action's arguments are invalid.
            AdbError: the device could not be reached.
        """
        action = _checked(action)
        shown = action.describe()
        guard = protection(action.package, self.launchers())
        if guard is not None and not force and action.kind not in ("enable", "restore", "grant"):
            return Outcome(
                action,
                "refused",
                f"not done: {action.package} is protected ({guard})",
                hint="add --force if you are sure; the phone may stop working properly",
            )
        pkg = self._package(action.package)
        refusal = self._precheck(action, pkg)
        if refusal is not None:
            return Outcome(action, "refused", f"not done: {refusal.reason}", refusal.hint)
        plan = self._plan(action, pkg)
        commands = tuple(render(argv) for argv in plan.commands)
        if dry_run:
            return Outcome(
                action, "dry-run", f"would {shown}", commands=commands, before=plan.before
            )
        audit_id = self._begin(action, plan, commands)
        if self.before_start is not None:
            self.before_start(action.package)
        for i, argv in enumerate(plan.commands):
            try:
                result = self.link.shell(argv, timeout=self.timeout)
            except AdbError as exc:
                self._finish(audit_id, "failed", {"error": str(exc), "command": commands[i]})
                raise
            if _failed(result):
                note = plan.tolerate(i, result)
                if note is not None:
                    plan.notes.append(f"{note}: {explain(result.stdout + result.stderr).reason}")
                    continue
                output = (result.stdout + result.stderr).strip()
                why = explain(output)
                self._finish(
                    audit_id,
                    "failed",
                    {"command": commands[i], "exit_code": result.exit_code, "output": output},
                )
                return Outcome(
                    action,
                    "failed",
                    f"failed to {shown}: {why.reason}",
                    why.hint,
                    audit_id,
                    commands,
                    plan.before,
                )
        ok, after = plan.verify()
        if not ok:
            self._finish(audit_id, "failed", {"verified": False, "after": after})
            return Outcome(
                action,
                "failed",
                f"the phone accepted the command but did not {shown}",
                "the app or a management policy may have changed it back; try again",
                audit_id,
                commands,
                plan.before,
                after,
            )
        if action.kind == "restore":
            plan.notes += self._regrant(action)
        self._finish(audit_id, "done", {"verified": True, "after": after, "notes": plan.notes})
        done = f"done: {shown}" + (f" ({'; '.join(plan.notes)})" if plan.notes else "")
        return Outcome(action, "done", done, None, audit_id, commands, plan.before, after)

    def undo(self, audit_id: int, *, dry_run: bool = False, force: bool = False) -> Outcome:
        """Put back what the audit record ``audit_id`` (a ``done`` action) changed.

        Raises:
            ActionError: no such record, not done, not on this phone, or not reversible.
        """
        if self.store is None:
            raise ActionError("undo needs the audit log")
        record = next(
            (r for r in self.store.audit(serial=self.link.serial) if r.id == audit_id), None
        )
        if record is None:
            raise ActionError(f"no action {audit_id} on {self.link.serial} in the audit log")
        if record.status != "done":
            raise ActionError(f"action {audit_id} is {record.status}: only a done one is undone")
        target = record.target if isinstance(record.target, dict) else {}
        inverse = _inverse(record.action, target, record.user or 0)
        outcome = self.run(inverse, dry_run=dry_run, force=force)
        if outcome.status == "done":
            try:
                self.store.audit_finish(audit_id, "undone", record.result)
            except StoreError as exc:
                log.warning("could not mark action %d undone: %s", audit_id, exc)
        return outcome

    def _regrant(self, action: Action) -> list[str]:
        """After a restore: grant back what tetherguard revoked from the app (audit log)."""
        if self.store is None:
            return []
        notes = []
        for record in self.store.audit(serial=self.link.serial):
            target = record.target if isinstance(record.target, dict) else {}
            if (
                record.action != "revoke"
                or record.status != "done"
                or record.user != action.user
                or target.get("package") != action.package
            ):
                continue
            try:
                outcome = self.undo(record.id)
            except ActionError as exc:
                notes.append(f"{target.get('permission')} not granted back: {exc}")
                continue
            if outcome.status == "done":
                notes.append(f"{target.get('permission')} granted back")
            else:
                notes.append(f"{target.get('permission')} not granted back: {outcome.message}")
        return notes

    def capabilities(self) -> dict[str, Capability]:
        """Which actions work on this phone (for a UI to offer only those).

        The vendor block (MIUI/HyperOS without "USB debugging (Security settings)", ColorOS and
        OxygenOS with permission monitoring) is probed with a change that changes nothing: the
        shell's own background-run app op set to the mode it already has. The same permission
        check guards grants, revocations and app-op changes, so one probe answers for all.
        """
        op = AppOp("RUN_ANY_IN_BACKGROUND")
        shell = Package("com.android.shell")
        current = self._mode("com.android.shell", 0, op) or "default"
        probe = self._sh(["appops", "set", "--user", UserId(0), shell, op, current])
        blocked = explain(probe.stdout + probe.stderr) if _failed(probe) else None
        caps = {kind: Capability(True) for kind in KINDS}
        if blocked is not None:
            for kind in ("revoke", "grant", "appop", "restrict", "unrestrict"):
                caps[kind] = Capability(False, blocked.hint or blocked.reason)
        elif self.sdk < _RESTRICTED_BUCKET_SDK:
            note = "background running stopped; standby bucket 'rare' (no 'restricted' before 11)"
            caps["restrict"] = Capability(True, note)
        caps["remove_admin"] = Capability(
            True, "Android lets adb remove test admins only; others are deactivated on the phone"
        )
        return caps

    def launchers(self) -> tuple[str, ...]:
        """The home app in use (asked once): without it there is no home screen."""
        if self._launchers is None:
            out = self._sh(
                [
                    "cmd",
                    "package",
                    "resolve-activity",
                    "--brief",
                    "-a",
                    "android.intent.action.MAIN",
                    "-c",
                    "android.intent.category.HOME",
                ]
            ).stdout
            # The last line is the component; "android/...ResolverActivity" when the owner
            # has not chosen a default home app (then every home app is guarded below).
            last = out.strip().splitlines()[-1] if out.strip() else ""
            name = last.split("/", 1)[0] if "/" in last else ""
            self._launchers = (name,) if name and name != "android" else ()
        return self._launchers

    # ---------------------------------------------------------------- reading the phone
    def _sh(self, argv: Sequence[str]) -> ShellResult:
        return self.link.shell(list(argv), timeout=self.timeout)

    def _dump(self, package: str) -> PackageDump:
        out = self._sh(["dumpsys", "package", Package(package)]).stdout
        return parse_dumpsys_package(out).value

    def _package(self, package: str) -> PackageInfo | None:
        dump = self._dump(package)
        return next((p for p in dump.packages if p.name == package), None)

    def _grants(self, package: str, user: int) -> tuple[PermissionGrant, ...]:
        dump = self._dump(package)
        pkg = next((p for p in dump.packages if p.name == package), None)
        if pkg is None:
            return ()
        sources = [pkg, dump.shared_users.get(pkg.shared_user or "")]
        for source in sources:
            state = source.user(user) if source is not None else None
            if state is not None and state.runtime_permissions:
                return state.runtime_permissions
        return ()

    def _grant(self, package: str, user: int, permission: str) -> PermissionGrant | None:
        return next((g for g in self._grants(package, user) if g.name == permission), None)

    def _mode(self, package: str, user: int, op: str) -> str | None:
        out = self._sh(["appops", "get", "--user", UserId(user), Package(package), AppOp(op)])
        entries = parse_appops_get(out.stdout).value
        return next((str(e.mode) for e in entries if e.op == op), None)

    def _bucket(self, package: str, user: int) -> str | None:
        out = self._sh(["am", "get-standby-bucket", "--user", UserId(user), Package(package)])
        word = out.stdout.strip()
        return _BUCKETS.get(word, word or None)

    def _installed(self, package: str, user: int) -> bool:
        pkg = self._package(package)
        state = pkg.user(user) if pkg is not None else None
        return state is not None and state.installed

    def _enabled(self, package: str, user: int) -> int | None:
        pkg = self._package(package)
        state = pkg.user(user) if pkg is not None else None
        return None if state is None else state.enabled

    # ---------------------------------------------------------------- checks and plans
    def _precheck(self, action: Action, pkg: PackageInfo | None) -> Refusal | None:
        if pkg is None:
            return Refusal(f"there is no package {action.package} on this phone")
        state = pkg.user(action.user)
        if state is None:
            return Refusal(f"user {action.user} has no {action.package} on this phone")
        if action.kind != "restore" and not state.installed:
            return Refusal(
                f"{action.package} is not installed for user {action.user}",
                "`tetherguard restore` puts it back" if action.kind == "uninstall" else None,
            )
        if action.kind == "uninstall" and not action.keep_data and pkg.system:
            return Refusal(
                "a system app cannot be removed from the phone",
                "uninstall it for the user (the default: keeps its data) or disable it",
            )
        if action.kind == "restore" and state.installed and state.enabled in (0, 1):
            return Refusal(f"{action.package} is installed and enabled for user {action.user}")
        if action.kind in ("revoke", "grant"):
            assert action.permission is not None
            if action.permission not in pkg.requested_permissions and not any(
                g.name == action.permission for g in self._grants(action.package, action.user)
            ):
                return Refusal(
                    f"{action.package} does not ask for {action.permission}",
                    "nothing to revoke" if action.kind == "revoke" else None,
                )
        return None

    def _plan(self, action: Action, pkg: PackageInfo | None) -> _Plan:
        user, name, kind = action.user, action.package, action.kind
        u, p = UserId(user), Package(name)
        if kind in ("revoke", "grant"):
            assert action.permission is not None
            perm = Permission(action.permission)
            grant = self._grant(name, user, perm)
            before = {
                "granted": grant.granted if grant else None,
                "flags": sorted(grant.flags) if grant else [],
            }
            verb = "revoke" if kind == "revoke" else "grant"
            # The flags command is missing from older releases (their help texts vary): it is
            # tried everywhere, and the phone's "Unknown command" becomes a note.
            flags_verb = "set-permission-flags" if kind == "revoke" else "clear-permission-flags"
            commands = [
                ["pm", verb, "--user", u, p, perm],
                ["pm", flags_verb, "--user", u, p, perm, *_KEEP_REVOKED],
            ]
            kept = "not kept revoked" if kind == "revoke" else "the revoked flags stay"
            want = kind == "grant"

            def verify() -> tuple[bool, dict[str, Any]]:
                now = self._grant(name, user, perm)
                granted = None if now is None else now.granted
                return granted is want, {
                    "granted": granted,
                    "flags": sorted(now.flags) if now else [],
                }

            event = "permission_revoked" if kind == "revoke" else "permission_granted"
            return _Plan(
                commands,
                before,
                [[event, perm], ["permission_flags_changed", perm], ["appop_changed", None]],
                verify,
                # Keeping it revoked is a bonus: a phone that refuses only the flags still
                # had the permission revoked.
                tolerate=lambda i, r: kept if i == 1 else None,
            )
        if kind == "appop":
            assert action.op is not None
            assert action.mode is not None
            op = AppOp(action.op)
            mode = action.mode
            modes: dict[str, Any] = {"mode": self._mode(name, user, op)}

            def verify_mode() -> tuple[bool, dict[str, Any]]:
                now = self._mode(name, user, op)
                # `appops get` lists no op at its default mode: unlisted is "default".
                return now == mode or (mode == "default" and now in (None, "default")), {
                    "mode": now
                }

            return _Plan(
                [["appops", "set", "--user", u, p, op, mode]],
                modes,
                [["appop_changed", f"package:{op}"], ["appop_changed", f"uid:{op}"]],
                verify_mode,
            )
        if kind in ("restrict", "unrestrict"):
            op = AppOp("RUN_ANY_IN_BACKGROUND")
            running: dict[str, Any] = {
                "mode": self._mode(name, user, op),
                "bucket": self._bucket(name, user),
            }
            restricting = kind == "restrict"
            if restricting:
                bucket = "restricted" if self.sdk >= _RESTRICTED_BUCKET_SDK else "rare"
                mode = "ignore"
            else:
                bucket, mode = "active", "allow"
            commands = [
                ["appops", "set", "--user", u, p, op, mode],
                ["am", "set-standby-bucket", "--user", u, p, bucket],
            ]

            def verify_restrict() -> tuple[bool, dict[str, Any]]:
                now = {"mode": self._mode(name, user, op), "bucket": self._bucket(name, user)}
                # An op back at its default (allow) is no longer listed by `appops get`.
                return now["mode"] == mode or (mode == "allow" and now["mode"] is None), now

            plan = _Plan(
                commands,
                running,
                [["appop_changed", f"package:{op}"], ["appop_changed", f"uid:{op}"]],
                verify_restrict,
                # The bucket is the lesser half (some vendors refuse it): not a failure.
                tolerate=lambda i, r: "standby bucket unchanged" if i == 1 else None,
            )
            if restricting and bucket == "rare":
                plan.notes.append("standby bucket 'rare': this Android has no 'restricted'")
            return plan
        if kind == "force_stop":
            return _Plan(
                [["am", "force-stop", "--user", u, p]],
                {},
                [],
                lambda: (True, {}),
            )
        if kind in ("disable", "enable"):
            enabled: dict[str, Any] = {"enabled": self._enabled(name, user)}
            verb = "disable-user" if kind == "disable" else "enable"
            states = {3} if kind == "disable" else {0, 1}

            def verify_enabled() -> tuple[bool, dict[str, Any]]:
                now = self._enabled(name, user)
                return now in states, {"enabled": now}

            event = "package_disabled" if kind == "disable" else "package_enabled"
            return _Plan([["pm", verb, "--user", u, p]], enabled, [[event, None]], verify_enabled)
        if kind == "uninstall":

            def verify_gone() -> tuple[bool, dict[str, Any]]:
                gone = not self._installed(name, user)
                return gone, {"installed": not gone}

            argv = ["pm", "uninstall", "-k", "--user", u, p] if action.keep_data else None
            return _Plan(
                [argv or ["pm", "uninstall", p]],
                {
                    "installed": True,
                    "system": bool(pkg and pkg.system),
                    "kept_data": action.keep_data,
                },
                [["package_removed", None], ["package_hidden", None]],
                verify_gone,
            )
        if kind == "restore":
            state = pkg.user(user) if pkg is not None else None
            commands = []
            if state is None or not state.installed:
                commands.append(["cmd", "package", "install-existing", "--user", u, p])
            if state is None or state.enabled not in (0, 1):
                commands.append(["pm", "enable", "--user", u, p])

            def verify_back() -> tuple[bool, dict[str, Any]]:
                pkg_now = self._package(name)
                st = pkg_now.user(user) if pkg_now is not None else None
                ok = st is not None and st.installed and st.enabled in (0, 1)
                return ok, {
                    "installed": bool(st and st.installed),
                    "enabled": None if st is None else st.enabled,
                }

            return _Plan(
                commands,
                {
                    "installed": bool(state and state.installed),
                    "enabled": None if state is None else state.enabled,
                },
                [["package_installed", None], ["package_enabled", None]],
                verify_back,
            )
        if kind == "remove_admin":
            component = action.component or self._admin_of(name, user)
            if component is None:
                raise ActionError(f"{name} is not an active device admin for user {user}")
            if not _COMPONENT.fullmatch(component) or not component.startswith(name + "/"):
                raise ActionError(f"not an admin component of {name}: {component!r}")

            def verify_admin() -> tuple[bool, dict[str, Any]]:
                still = self._admin_of(name, user)
                return still is None, {"admin": still}

            return _Plan(
                [["dpm", "remove-active-admin", "--user", u, component]],
                {"admin": component},
                [["device_admin", None]],
                verify_admin,
            )
        raise ActionError(f"unknown action {kind!r}")

    def _admin_of(self, package: str, user: int) -> str | None:
        from agent.parsers.policy import parse_device_policy

        out = self._sh(["dumpsys", "device_policy"]).stdout
        policy = parse_device_policy(out).value
        for admin in policy.admins:
            if admin.package == package and admin.user == user:
                return admin.component
        return None

    # ---------------------------------------------------------------- the audit log
    def _begin(self, action: Action, plan: _Plan, commands: Sequence[str]) -> int | None:
        if self.store is None:
            return None
        target = {
            "package": action.package,
            "permission": action.permission,
            "op": action.op,
            "mode": action.mode,
            "component": action.component,
            "expects": plan.expects,
            "before": plan.before,
            "commands": list(commands),
        }
        return self.store.audit_begin(
            self.actor, self.link.serial, action.user, action.kind, target
        )

    def _finish(self, audit_id: int | None, status: Literal["done", "failed"], result: Any) -> None:
        if audit_id is None or self.store is None:
            return
        try:
            self.store.audit_finish(audit_id, status, result)
        except StoreError as exc:
            log.warning("could not record the outcome of action %d: %s", audit_id, exc)


# ---------------------------------------------------------------------------- helpers
def _failed(result: ShellResult) -> bool:
    text = result.stdout + result.stderr
    if result.exit_code not in (0, None):
        return True
    # Old releases exit 0 with the failure only in the text.
    return bool(
        re.search(r"^(Failure \[|Error:|Exception occurred|java\.lang\.\w+Exception)", text, re.M)
    )


def _checked(action: Action) -> Action:
    """Validate arguments (they go into shell commands) and normalise names."""
    if action.kind not in KINDS:
        raise ActionError(f"unknown action {action.kind!r}; one of {', '.join(KINDS)}")
    try:
        Package(action.package)
        UserId(action.user)
        if action.kind in ("revoke", "grant"):
            if not action.permission:
                raise ActionError(f"{action.kind} needs a permission")
            name = action.permission
            if "." not in name:
                name = "android.permission." + name.upper()
            action = replace(action, permission=str(Permission(name)))
        if action.kind == "appop":
            if not action.op or not action.mode:
                raise ActionError("appop needs an op and a mode")
            if action.mode not in MODES:
                raise ActionError(f"mode must be one of {', '.join(sorted(MODES))}")
            action = replace(action, op=str(AppOp(action.op.upper())))
    except InvalidArgument as exc:
        raise ActionError(str(exc)) from None
    return action


def _inverse(kind: str, target: Mapping[str, Any], user: int) -> Action:
    package = str(target.get("package") or "")
    before = target.get("before") if isinstance(target.get("before"), dict) else {}
    assert isinstance(before, dict)
    if kind == "revoke":
        return Action("grant", package, user, permission=target.get("permission"))
    if kind == "grant":
        return Action("revoke", package, user, permission=target.get("permission"))
    if kind == "appop":
        previous = before.get("mode") or "default"
        return Action("appop", package, user, op=target.get("op"), mode=str(previous))
    if kind == "restrict":
        return Action("unrestrict", package, user)
    if kind == "unrestrict":
        return Action("restrict", package, user)
    if kind == "disable":
        return Action("enable", package, user)
    if kind == "enable":
        return Action("disable", package, user)
    if kind == "uninstall":
        if before.get("kept_data") is False:
            raise ActionError(
                "that uninstall deleted the app and its data: reinstall it from its store"
            )
        return Action("restore", package, user)
    raise ActionError(f"a {kind} cannot be undone from here")
