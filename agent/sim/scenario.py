"""Scripted behaviour for simulated phones: declarative YAML scenarios with expectations.

A scenario is a list of timed steps (install, grant, use the microphone, start another app,
reboot, ...) and the list of events a correct guard must report for them. The steps change a
:class:`~agent.sim.state.DeviceState` through the same methods the shell commands use, so what
the guard sees is exactly what ``dumpsys``/``logcat`` print after such a change on a phone.

Files live in ``agent/sim/scenarios/*.yaml`` (shipped with the package); ``load_scenario``
validates one strictly and says which file, step and key is wrong.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agent.sim.android.activity import start_activity
from agent.sim.state import (
    CameraClient,
    DeviceState,
    LocationRequest,
    Package,
    Recording,
    UidState,
    User,
)

if TYPE_CHECKING:
    from agent.sim.device import SimDevice

__all__ = [
    "EXPECTED_EVENTS",
    "Expectation",
    "Scenario",
    "ScenarioError",
    "Step",
    "apply_step",
    "list_scenarios",
    "load_scenario",
    "run_scenario",
]

P = "android.permission."

# What a guard reports; scenarios may only expect these (issue-level vocabulary of the engine).
EXPECTED_EVENTS = frozenset(
    {
        "package_installed",
        "package_updated",
        "package_removed",
        "package_disabled",
        "permission_granted",
        "permission_revoked",
        "appop_changed",
        "sensitive_use_started",
        "sensitive_use_stopped",
        "autostart",
        "associated_start",
        "device_admin_added",
        "device_rebooted",
        "screen_changed",
    }
)
FINDINGS = frozenset(
    {
        "silent_install",
        "bundled_install",
        "grant_without_consent",
        "appop_without_consent",
        "background_sensitive_use",
        "autostart",
        "associated_start",
        "hot_update",
        "signer_changed",
        "hidden_app",
        "admin_blocks_uninstall",
    }
)

# Sensitive ops a "use" step may exercise, and the permission behind each.
USE_OPS: dict[str, str | None] = {
    "RECORD_AUDIO": P + "RECORD_AUDIO",
    "CAMERA": P + "CAMERA",
    "FINE_LOCATION": P + "ACCESS_FINE_LOCATION",
    "COARSE_LOCATION": P + "ACCESS_COARSE_LOCATION",
    "READ_CLIPBOARD": None,
    "READ_CONTACTS": P + "READ_CONTACTS",
    "READ_CALL_LOG": P + "READ_CALL_LOG",
    "READ_SMS": P + "READ_SMS",
    "READ_PHONE_STATE": P + "READ_PHONE_STATE",
    "BODY_SENSORS": P + "BODY_SENSORS",
}


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file, step and key."""


# Keys each action accepts (beyond ``at``, ``every``, ``count``, ``action``); the first tuple
# is required, the second optional.
_ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "install": (
        ("package",),
        (
            "installer",
            "initiating",
            "originating",
            "label",
            "permissions",
            "grant",
            "grant_flags",
            "launcher",
            "boot",
            "signer",
            "version",
            "user",
            "system",
            "package_source",
            "secondary_dex",
            "splits",
        ),
    ),
    "update": (
        ("package",),
        ("permissions", "secondary_dex", "splits", "signer", "version", "installer", "initiating"),
    ),
    "uninstall": (("package",), ("user", "keep_data")),
    "grant": (("package", "permission"), ("user", "flags")),
    "revoke": (("package", "permission"), ("user",)),
    "set_flags": (("package", "permission", "flags"), ("user",)),
    "set_mode": (("package", "op", "mode"), ("user", "scope")),
    "use": (("package", "op"), ("user", "duration", "state", "proxy")),
    "start": (("package",), ("user", "reason", "caller", "component", "state")),
    "reboot": ((), ("downtime",)),
    "screen_off": ((), ()),
    "screen_on": ((), ()),
    "add_admin": (("package",), ("receiver", "user")),
    "add_user": (("id",), ("name", "profile_of")),
    "disable": (("package",), ("user",)),
}


@dataclass(frozen=True)
class Step:
    at: float
    """Seconds after the scenario starts."""
    action: str
    args: Mapping[str, Any]
    every: float | None = None
    """Repeat every this many seconds ..."""
    count: int = 1
    """... this many times in all."""


@dataclass(frozen=True)
class Expectation:
    """One event a correct guard must report, matched on the keys given (``count``: that many
    such events)."""

    event: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    steps: tuple[Step, ...]
    expect: tuple[Expectation, ...]
    setup: tuple[Step, ...] = ()
    """Applied before the guard's first look: the phone's state when the story begins."""
    regulation: tuple[str, ...] = ()
    needs_work_profile: bool = False
    no_findings: bool = False
    """A quiet scenario: a correct guard reports no finding at all."""
    source: str = field(default="", compare=False)

    @property
    def duration(self) -> float:
        return max(
            (
                s.at + (s.every or 0) * (s.count - 1) + float(s.args.get("duration", 0))
                for s in self.steps
            ),
            default=0.0,
        )


def _scenario_dir() -> Any:
    return resources.files("agent.sim").joinpath("scenarios")


def list_scenarios() -> list[Scenario]:
    """Every shipped scenario, by name."""
    out = []
    for entry in sorted(_scenario_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            out.append(_parse(entry.read_text(encoding="utf-8"), entry.name))
    return out


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (``silent-install``) or a YAML file of your own."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return _parse(path.read_text(encoding="utf-8"), str(path))
    entry = _scenario_dir().joinpath(f"{name_or_path}.yaml")
    if not entry.is_file():
        names = ", ".join(s.name for s in list_scenarios())
        raise ScenarioError(f"no scenario {str(name_or_path)!r}; shipped: {names}")
    return _parse(entry.read_text(encoding="utf-8"), entry.name)


def _parse(text: str, source: str) -> Scenario:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping with name, steps, expect")
    unknown = set(doc) - {
        "name",
        "summary",
        "regulation",
        "setup",
        "steps",
        "expect",
        "work_profile",
        "no_findings",
    }
    if unknown:
        raise ScenarioError(f"{source}: unknown keys {sorted(unknown)}")
    for key in ("name", "summary", "steps"):
        if key not in doc:
            raise ScenarioError(f"{source}: missing {key!r}")
    steps = tuple(_step(raw, f"{source}: step {i + 1}") for i, raw in enumerate(doc["steps"]))
    setup = tuple(
        _step(raw, f"{source}: setup step {i + 1}") for i, raw in enumerate(doc.get("setup") or [])
    )
    expect = tuple(
        _expectation(raw, f"{source}: expectation {i + 1}")
        for i, raw in enumerate(doc.get("expect") or [])
    )
    no_findings = bool(doc.get("no_findings", False))
    if not expect and not no_findings:
        raise ScenarioError(f"{source}: a scenario states what a guard must report (expect)")
    return Scenario(
        name=str(doc["name"]),
        summary=str(doc["summary"]).strip(),
        steps=steps,
        setup=setup,
        expect=expect,
        regulation=tuple(str(r) for r in doc.get("regulation") or ()),
        needs_work_profile=bool(doc.get("work_profile", False)),
        no_findings=no_findings,
        source=source,
    )


def _step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict) or "action" not in raw or "at" not in raw:
        raise ScenarioError(f"{where}: a step needs 'at' (seconds) and 'action'")
    action = raw["action"]
    if action not in _ACTIONS:
        raise ScenarioError(f"{where}: unknown action {action!r}; one of {sorted(_ACTIONS)}")
    required, optional = _ACTIONS[action]
    args = {k: v for k, v in raw.items() if k not in ("at", "action", "every", "count")}
    missing = [k for k in required if k not in args]
    if missing:
        raise ScenarioError(f"{where}: {action} needs {missing}")
    extra = sorted(set(args) - set(required) - set(optional))
    if extra:
        raise ScenarioError(f"{where}: {action} does not take {extra}")
    if "state" in args and str(args["state"]) not in _UID_STATES:
        raise ScenarioError(f"{where}: state must be one of {sorted(_UID_STATES)}")
    if "op" in args and action == "use" and args["op"] not in USE_OPS:
        raise ScenarioError(f"{where}: use op must be one of {sorted(USE_OPS)}")
    try:
        at = float(raw["at"])
        every = float(raw["every"]) if "every" in raw else None
        count = int(raw.get("count", 1))
    except (TypeError, ValueError):
        raise ScenarioError(f"{where}: at/every/count must be numbers") from None
    if at < 0 or count < 1 or (every is not None and every <= 0):
        raise ScenarioError(f"{where}: at >= 0, count >= 1, every > 0")
    return Step(at, action, args, every, count)


def _expectation(raw: Any, where: str) -> Expectation:
    if not isinstance(raw, dict) or "event" not in raw:
        raise ScenarioError(f"{where}: an expectation needs 'event'")
    if raw["event"] not in EXPECTED_EVENTS:
        raise ScenarioError(f"{where}: unknown event {raw['event']!r}")
    finding = raw.get("finding")
    wanted = finding if isinstance(finding, list) else [] if finding is None else [finding]
    unknown = [f for f in wanted if f not in FINDINGS]
    if unknown:
        raise ScenarioError(f"{where}: unknown finding {unknown!r}")
    consent = raw.get("consent")
    if consent is not None and consent not in (
        "none",
        "user",
        "platform",
        "tetherguard",
        "baseline",
    ):
        raise ScenarioError(f"{where}: consent is none/user/platform/tetherguard/baseline")
    count = raw.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ScenarioError(f"{where}: count (how many such events) is a whole number >= 1")
    return Expectation(str(raw["event"]), {k: v for k, v in raw.items() if k != "event"})


# --------------------------------------------------------------------------- running
def _perm(name: str) -> str:
    return name if "." in name else P + name


def _digest(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def apply_step(state: DeviceState, step: Step) -> None:
    """Apply one step's change to the state at once (``use`` starts the use only)."""
    a = step.args
    user = int(a.get("user", 0))
    name = str(a.get("package", ""))
    act = step.action
    if act == "install":
        perms = [_perm(p) for p in a.get("permissions", [])]
        pkg = Package(
            name=name,
            app_id=0,
            version_code=int(a.get("version", 1)),
            version_name=str(a.get("version", 1)) + ".0",
            label=str(a.get("label", name.split(".")[-1].title())),
            system=bool(a.get("system", False)),
            installer=a.get("installer"),
            initiating=a.get("initiating", a.get("installer")),
            originating=a.get("originating"),
            package_source=int(a.get("package_source", 0)),
            signing_digests=[_digest(str(a.get("signer", name)))],
            requested=[*perms, P + "INTERNET"],
            install_granted=[P + "INTERNET"],
            launcher_activity=".MainActivity" if a.get("launcher", True) else None,
            boot_receivers=[".BootReceiver"] if a.get("boot", False) else [],
            secondary_dex=list(a.get("secondary_dex", [])),
            splits=list(a.get("splits", [])),
        )
        pkg.code_path = f"/data/app/~~{_digest(name)[:22]}==/{name}-1/base.apk"
        state.install(
            pkg,
            users=[user],
            grant=[_perm(p) for p in a.get("grant", [])],
            grant_flags=a.get("grant_flags", []),
        )
    elif act == "update":
        old = state.packages[name]
        new = Package(**{**old.__dict__})
        new.requested = list(old.requested) + [
            _perm(p) for p in a.get("permissions", []) if _perm(p) not in old.requested
        ]
        new.version_code = int(a.get("version", old.version_code + 1))
        new.version_name = f"{new.version_code}.0"
        new.secondary_dex = list(old.secondary_dex) + list(a.get("secondary_dex", []))
        new.splits = list(old.splits) + list(a.get("splits", []))
        if "signer" in a:
            new.signing_digests = [_digest(str(a["signer"]))]
        if "installer" in a:
            new.installer = a["installer"]
            new.initiating = a.get("initiating", a["installer"])
        state.install(new, users=[u for u, s in old.users.items() if s.installed])
    elif act == "uninstall":
        state.uninstall(name, user if "user" in a else None, keep_data=bool(a.get("keep_data")))
    elif act == "grant":
        state.grant(name, user, _perm(a["permission"]), a.get("flags", []))
    elif act == "revoke":
        state.revoke(name, user, _perm(a["permission"]))
    elif act == "set_flags":
        state.update_permission_flags(name, user, _perm(a["permission"]), add=a["flags"])
    elif act == "set_mode":
        if a.get("scope", "package") == "uid":
            state.uid_op(state.packages[name].uid(user), str(a["op"])).mode = a["mode"]
        else:
            state.op(name, user, str(a["op"])).mode = a["mode"]
    elif act == "use":
        start_use(state, name, user, str(a["op"]), a)
    elif act == "start" and a.get("reason", "activity") == "activity":
        # Activity starts leave the START line (with the caller's uid) in the system log.
        start_activity(
            state, name, user, caller=a.get("caller"), from_launcher=a.get("caller") is None
        )
    elif act == "start":
        pkg = state.packages[name]
        reason = str(a.get("reason", "service"))
        component = str(a.get("component", f"{name}/{pkg.launcher_activity or '.MainService'}"))
        state.start_process(
            name,
            user,
            reason=reason,
            component=component,
            caller=a.get("caller"),
            state=a.get("state", "fg"),
        )
    elif act in ("screen_off", "screen_on"):
        # Two actions rather than a boolean key: YAML 1.1 reads a bare 'on'/'off' as true/false.
        state.screen_on = act == "screen_on"
    elif act == "add_admin":
        from agent.sim.state import ActiveAdmin

        receiver = str(a.get("receiver", ".AdminReceiver"))
        state.packages[name].admin_receiver = receiver
        state.admins.append(ActiveAdmin(user, f"{name}/{receiver}"))
    elif act == "add_user":
        uid = int(a["id"])
        parent = a.get("profile_of")
        state.users[uid] = User(
            uid,
            str(a.get("name", f"User {uid}")),
            type="android.os.usertype.profile.MANAGED"
            if parent is not None
            else "android.os.usertype.full.SECONDARY",
            parent=None if parent is None else int(parent),
        )
    elif act == "disable":
        state.set_enabled(name, user, 3)
    elif act == "reboot":
        state.reboot()


_UID_STATES: dict[str, UidState] = {
    "pers": "pers",
    "top": "top",
    "fgsvc": "fgsvc",
    "fg": "fg",
    "bg": "bg",
    "cch": "cch",
}


def _uid_state(value: object) -> UidState:
    """A uid state name (validated when the scenario was loaded)."""
    return _UID_STATES[str(value)]


def start_use(state: DeviceState, name: str, user: int, op: str, a: Mapping[str, Any]) -> None:
    pkg = state.packages[name]
    uid_state = _uid_state(a.get("state", "top"))
    uid = pkg.uid(user)
    proc = next((p for p in state.processes.values() if p.uid == uid), None)
    if proc is None:
        # The owner opened the app from the launcher earlier (a use story is about the use,
        # not about how the app came to run); it may have gone to the background since.
        proc = start_activity(state, name, user, from_launcher=True)
    proc.state = uid_state
    state.uid_states[proc.uid] = uid_state
    now = state.now_ms()
    if op in ("READ_CLIPBOARD", "READ_CONTACTS", "READ_CALL_LOG", "READ_SMS", "READ_PHONE_STATE"):
        proxy = a.get("proxy")
        state.note_op(
            name,
            user,
            op,
            state=uid_state,
            flags="tpd" if proxy else "s",
            proxy=(1000, str(proxy)) if proxy else None,
        )
        if op == "READ_CLIPBOARD":
            state.clipboard_reads.append((now, name))
        return
    state.start_op(name, user, op, state=uid_state)
    if op == "CAMERA":
        state.camera_clients.append(CameraClient(name, proc.pid, "0", now))
    elif op == "RECORD_AUDIO":
        state.recordings.append(Recording(name, uid, proc.pid, state.new_session(), "MIC", now))
    elif op in ("FINE_LOCATION", "COARSE_LOCATION"):
        state.location_requests.append(
            LocationRequest(name, uid, "fused", 1000, op == "FINE_LOCATION", now)
        )
        state.start_op(name, user, "MONITOR_LOCATION", state=uid_state)
        if op == "FINE_LOCATION":
            state.start_op(name, user, "MONITOR_HIGH_POWER_LOCATION", state=uid_state)


def stop_use(state: DeviceState, name: str, user: int, op: str) -> None:
    pkg = state.packages.get(name)
    if pkg is None:
        return
    state.finish_op(name, user, op)
    if op == "CAMERA":
        state.camera_clients = [c for c in state.camera_clients if c.package != name]
    elif op == "RECORD_AUDIO":
        state.recordings = [r for r in state.recordings if r.package != name]
    elif op in ("FINE_LOCATION", "COARSE_LOCATION"):
        state.location_requests = [r for r in state.location_requests if r.package != name]
        state.finish_op(name, user, "MONITOR_LOCATION")
        state.finish_op(name, user, "MONITOR_HIGH_POWER_LOCATION")


async def run_scenario(device: SimDevice, scenario: Scenario, *, speed: float = 1.0) -> None:
    """Play ``scenario`` on ``device`` (on the SimHost loop). ``speed`` > 1 compresses time."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    timeline: list[tuple[float, int, Step]] = []
    for order, step in enumerate(scenario.steps):
        for n in range(step.count):
            timeline.append((step.at + n * (step.every or 0), order, step))
    timeline.sort(key=lambda t: (t[0], t[1]))
    for step in scenario.setup:
        apply_step(device.state, step)
    pending: list[asyncio.Task[None]] = []
    for at, _, step in timeline:
        delay = start + at / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if step.action == "reboot":
            await device.reboot(float(step.args.get("downtime", 1.0)) / speed)
            continue
        apply_step(device.state, step)
        if step.action == "use" and step.args["op"] in _TIMED_OPS:
            duration = float(step.args.get("duration", 2.0)) / speed
            pending.append(asyncio.create_task(_finish_later(device.state, step, duration)))
    await asyncio.gather(*pending)


_TIMED_OPS = frozenset(
    {"RECORD_AUDIO", "CAMERA", "FINE_LOCATION", "COARSE_LOCATION", "BODY_SENSORS"}
)


async def _finish_later(state: DeviceState, step: Step, delay: float) -> None:
    await asyncio.sleep(delay)
    stop_use(state, str(step.args["package"]), int(step.args.get("user", 0)), str(step.args["op"]))


def expectations_text(scenarios: Sequence[Scenario]) -> str:
    """A readable list, for ``tetherguard sim --list-scenarios``."""
    lines = []
    for s in scenarios:
        regs = f"  [{', '.join(s.regulation)}]" if s.regulation else ""
        lines.append(f"{s.name:28} {s.summary}{regs}")
    return "\n".join(lines)
