"""From events to decisions, and decisions to actions.

:func:`decide` is pure: the rules of a policy that match an event, each with the action it
asks for. :class:`Enforcer` is the engine's subscriber that carries them out: in ``enforce``
mode it runs the actions (through :class:`agent.actions.Actions`, as ``policy:NAME``, so they
are audited, verified and reported back as tetherguard's own changes); in ``dry-run`` it only
says what it would do. Actions run on the enforcer's own thread: a slow phone never holds up
detection. Drift - a change the policy undid coming back - is acted on again and flagged
(``drift``), because an app that re-grants itself a revoked permission is worth knowing about.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Final

from agent.actions import Action, ActionError, Actions, Outcome
from agent.adb import AdbError
from agent.events import Event
from agent.policy.model import Act, Mode, Policy, Rule

log = logging.getLogger(__name__)

_STOP: Final = object()


@dataclass(frozen=True)
class Decision:
    """One rule's verdict on one event."""

    policy: str
    rule: Rule
    event: Event
    mode: Mode
    alert: bool
    action: Action | None
    problem: str | None = None
    """Why the rule's act cannot apply to this event (no permission in it, ...)."""

    def describe(self) -> str:
        what = self.action.describe() if self.action is not None else "alert only"
        if self.problem is not None:
            what = f"cannot act: {self.problem}"
        verb = "would " if self.mode == "dry-run" and self.action is not None else ""
        clause = f" [{self.rule.clause}]" if self.rule.clause else ""
        return f"{self.policy}/{self.rule.name}{clause}: {verb}{what}"


def action_for(act: Act, event: Event) -> Action | str:
    """The action ``act`` means for ``event``, or why there is none."""
    package = event.package
    if not package:
        return "the event names no package"
    user = event.user if event.user is not None else 0
    if act.kind == "revoke":
        permission = event.detail.get("permission")
        if not isinstance(permission, str):
            return "the event names no permission"
        return Action("revoke", package, user, permission=permission)
    if act.kind == "appop":
        op = event.detail.get("op")
        if not isinstance(op, str):
            return "the event names no app op"
        return Action("appop", package, user, op=op, mode=act.mode or "ignore")
    return Action(act.kind, package, user)


def decide(
    policy: Policy, event: Event, labels_of: Callable[[str], Collection[str]] | None = None
) -> list[Decision]:
    """Every rule of ``policy`` that matches ``event``, with what it asks for; ``labels_of``
    gives a device's labels (for ``when.device_label``)."""
    labels = labels_of(event.serial) if labels_of is not None else ()
    decisions = []
    for rule in policy.rules:
        if not rule.match.matches(event, labels):
            continue
        action: Action | None = None
        problem = None
        if rule.act is not None:
            made = action_for(rule.act, event)
            if isinstance(made, str):
                problem = made
            else:
                action = made
        decisions.append(
            Decision(policy.name, rule, event, policy.mode, rule.alert, action, problem)
        )
    return decisions


@dataclass(frozen=True)
class Enforced:
    """What the enforcer did about a decision."""

    decision: Decision
    outcome: Outcome | None
    """``None`` in dry-run, or when there was nothing to run."""
    drift: bool = False
    """The same change was already undone by this policy once (it came back)."""
    error: str | None = None


@dataclass
class Enforcer:
    """Applies a policy to the events it is called with (an engine subscriber).

    Args:
        policy: the policy (replace with :meth:`set_policy`; a reload does that).
        actions_for: ``(serial, actor) -> Actions`` for a phone (the engine's
            :meth:`~agent.engine.Engine.actions`).
        report: called with what was done about each decision (on the enforcer's thread).
    """

    policy: Policy
    actions_for: Callable[[str, str], Actions]
    report: Callable[[Enforced], None] = lambda enforced: None
    labels_of: Callable[[str], Collection[str]] | None = None
    """A device's labels (``[devices.labels]``), for rules that match on them."""
    _queue: queue.Queue[object] = field(default_factory=lambda: queue.Queue(maxsize=10_000))
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: set[tuple[str, int, str, str, str | None, str | None]] = field(default_factory=set)

    def set_policy(self, policy: Policy) -> None:
        with self._lock:
            self.policy = policy

    def __call__(self, event: Event) -> None:
        """Take an event (any thread); never blocks the caller."""
        if event.consent.value == "tetherguard":
            return  # our own doings are never acted on again
        with self._lock:
            policy = self.policy
        decisions = decide(policy, event, self.labels_of)
        if not decisions:
            return
        for decision in decisions:
            try:
                self._queue.put_nowait(decision)
            except queue.Full:
                log.warning("policy: queue full; %s not applied", decision.describe())

    def start(self) -> Enforcer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="policy", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Apply what is queued, then stop."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far was applied (tests, ``policy test``)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            if isinstance(item, Decision):
                try:
                    self._apply(item)
                except Exception:  # one bad decision must not stop enforcement
                    log.exception("policy: applying %s failed", item.describe())

    def _apply(self, decision: Decision) -> None:
        action = decision.action
        if action is None or decision.mode == "dry-run":
            self._report(Enforced(decision, None, error=decision.problem))
            return
        serial = decision.event.serial
        key = (serial, action.user, action.kind, action.package, action.permission, action.op)
        drift = key in self._done
        try:
            actions = self.actions_for(serial, f"policy:{decision.policy}")
            outcome = actions.run(action)
        except (ActionError, AdbError) as exc:
            self._report(Enforced(decision, None, drift, error=str(exc)))
            return
        if outcome.status == "done":
            self._done.add(key)
        self._report(Enforced(decision, outcome, drift))

    def _report(self, enforced: Enforced) -> None:
        try:
            self.report(enforced)
        except Exception:
            log.exception("policy: report callback failed")
