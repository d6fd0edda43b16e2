"""The tetherguard TUI: the fleet, a phone, an app, the alerts inbox; one key to act.

Engine events arrive on the engine's threads and are posted to the app as messages
(``post_message`` is thread-safe); the screens redraw at most a few times a second however
many phones stream events. Actions run in thread workers, so no keystroke waits on a phone:
a dry run first (what exactly will run, read from the phone), then the confirmation, then the
action with its read-back.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen

from agent.actions import Action, ActionError, Capability, Outcome
from agent.adb import AdbError
from agent.events import Event
from agent.store import StoreError
from agent.textsafe import printable
from tui.model import FleetModel
from tui.screens import (
    AlertsScreen,
    ConfirmScreen,
    FleetScreen,
    HelpScreen,
    RefusedScreen,
    TgScreen,
)
from tui.source import Source


@dataclass
class EngineEvent(Message):
    """An event from the engine (posted from its threads)."""

    event: Event


@dataclass
class ActionDone(Message):
    """An action finished (posted from the worker that ran it)."""

    serial: str
    outcome: Outcome
    finding: Event | None = None


FULL_PASS_IDLE_S = 2.0
"""A full garbage collection runs only after this long without a key or a click ..."""
FULL_PASS_EVERY_S = 30.0
"""... at most this often ..."""
FULL_PASS_LATEST_S = 300.0
"""... and at the latest this long after the last one, whatever the user is doing."""


TOAST_LINES = 3
"""Findings named in one summary toast; the inbox has the rest."""
PROBLEMS_EVERY_S = 1.0
"""How often the engine's problems are looked for (a list read: no work when there are none)."""
PROBLEMS_SHOWN = 3
"""Problems toasted at once; past that, a count."""


@dataclass
class BatchDone(Message):
    """Several actions finished (the marked findings in the inbox)."""

    done: list[tuple[str, Outcome, Event | None]]
    failed: list[str]


class TetherguardApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "tetherguard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("z", "undo", "Undo last action"),
        Binding("t", "toggle_theme", "Light/dark"),
    ]

    def __init__(
        self,
        source: Source,
        *,
        refresh_s: float = 0.5,
        tune_gc: bool = True,
        fleet_url: str | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.fleet_url = fleet_url
        """The fleet database (PostgreSQL URL) the hosts screen reads, if any."""
        self.model = FleetModel()
        self.last_action: tuple[str, Outcome] | None = None
        self.capabilities: dict[str, dict[str, Capability]] = {}
        """Serial -> what actions can do on that phone (probed once per phone)."""
        self._dirty = True
        self._refresh_s = refresh_s
        self._ticks = 0
        self.tune_gc = tune_gc
        self._collected = self._input_at = time.monotonic()
        self._thresholds = gc.get_threshold()
        self.toast_s = 2.0
        self._toasted = 0.0
        self._arrived: list[Event] = []
        self._problems_seen = 0
        """Findings not toasted yet: toasted once per redraw, many as one summary (a toast per
        event would bury the screen, and the layout work, when a fleet streams)."""

    # ---------------------------------------------------------------- life
    def on_mount(self) -> None:
        # Facts from the engine's device records, not the phones' snapshots: fifty decoded
        # snapshots are a million objects for the garbage collector to walk, and pauses.
        self.model.load(self.source.devices(), self.source.findings())
        self.source.subscribe(self._from_engine)
        self.push_screen(FleetScreen())
        self.set_interval(self._refresh_s, self._redraw)
        self.call_after_refresh(self._quiet_collector)
        self.set_interval(1.0, self._collect_when_idle)
        self.set_interval(PROBLEMS_EVERY_S, self._show_problems)

    def _show_problems(self) -> None:
        """The engine's problems as warnings: the owner must learn that events wait in memory
        for a full disk, or that the adb server restarted, without reading a log."""
        new = self.source.problems(self._problems_seen)
        self._problems_seen += len(new)
        for text in new[-PROBLEMS_SHOWN:]:
            self.notify(printable(text, 300), title="tetherguard", severity="warning", markup=False)
        if len(new) > PROBLEMS_SHOWN:
            self.notify(f"{len(new) - PROBLEMS_SHOWN} more problems", severity="warning")

    # The garbage collector's full passes walk every object the process holds (Textual's
    # widgets, an in-process engine's state for every phone): a tenth of a second or more with
    # a fleet attached, and a key that arrives meanwhile waits. So the app decides when they
    # run: what exists once the first screen is up lives as long as the app and is moved out
    # of the collector's sight (gc.freeze); automatic full passes are off, and one runs when
    # the user has not touched a key for a moment (young objects are collected as before).
    def _quiet_collector(self) -> None:
        if not self.tune_gc:
            return
        gc.freeze()
        self._thresholds = gc.get_threshold()
        young, middle, _ = self._thresholds
        gc.set_threshold(young, middle, 1 << 30)
        self._collected = time.monotonic()

    def _collect_when_idle(self) -> None:
        if not self.tune_gc:
            return
        now = time.monotonic()
        since = now - self._collected
        idle = now - self._input_at >= FULL_PASS_IDLE_S
        if (idle and since >= FULL_PASS_EVERY_S) or since >= FULL_PASS_LATEST_S:
            gc.collect()
            self._collected = time.monotonic()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self._input_at = time.monotonic()
        await super().on_event(event)

    def on_unmount(self) -> None:
        self.source.close()
        if self.tune_gc:  # the process goes on (tests, a library user): collection as before
            gc.unfreeze()
            gc.set_threshold(*self._thresholds)

    def _from_engine(self, event: Event) -> None:
        """Called on an engine thread."""
        self.post_message(EngineEvent(event))

    @on(EngineEvent)
    def _event(self, message: EngineEvent) -> None:
        event = message.event
        self.model.apply(event)
        if event.kind == "device_state":  # a new phone, or one back: its model and release
            self.model.sync(self.source.devices())
        if event.finding and event.kind != "sensitive_use_stopped":
            self._arrived.append(event)
        self._dirty = True

    def _toast(self) -> None:
        """Toast what arrived since the last toast: one finding by name, several as one; at most
        one toast every ``toast_s`` (each toast costs a layout of the whole screen)."""
        now = time.monotonic()
        if not self._arrived or now - self._toasted < self.toast_s:
            return
        self._toasted = now
        arrived, self._arrived = self._arrived, []
        if len(arrived) == 1:
            event = arrived[0]
            what = f"{event.kind.replace('_', ' ')}: {printable(event.package or '', 60)}"
            self.notify(what, title=printable(event.serial, 30), severity="warning", markup=False)
            return
        phones = {e.serial for e in arrived}
        lines = [
            f"{e.kind.replace('_', ' ')}: {printable(e.package or '', 40)}"
            f" on {printable(e.serial, 24)}"
            for e in arrived[:TOAST_LINES]
        ]
        if len(arrived) > TOAST_LINES:
            lines.append(f"... and {len(arrived) - TOAST_LINES} more: press a for the inbox")
        self.notify(
            "\n".join(lines),
            title=f"{len(arrived)} new findings on {len(phones)} phone(s)",
            severity="warning",
            markup=False,
        )

    def _redraw(self, *, force: bool = False) -> None:
        """Redraw the screen on top when something changed (at most every refresh_s, and as
        often as that screen allows; ``force`` after the user's own action)."""
        self._ticks += 1
        self._toast()
        if self._ticks % 4 == 0:  # new phones and their facts, from the engine's records
            self.model.sync(self.source.devices())
            self._dirty = True
        if not (self._dirty or force):
            return
        screen = self.screen
        try:
            done = isinstance(screen, TgScreen) and screen.redraw(force=force)
        except NoMatches:  # being torn down (the app is closing): nothing to draw
            return
        self._dirty = not done

    # ---------------------------------------------------------------- actions
    def confirm(self, serial: str, action: Action, finding: Event | None = None) -> None:
        """Ask, then act: the dry run (on a worker) says exactly what will run."""
        self._preview(serial, action, finding)

    def probe(self, serial: str) -> None:
        """Find out (once, on a worker) which actions this phone allows."""
        if serial not in self.capabilities:
            self._probe(serial)

    @work(thread=True, group="probe", exit_on_error=False)
    def _probe(self, serial: str) -> None:
        try:
            caps = self.source.actions(serial).capabilities()
        except (AdbError, StoreError, ActionError):
            return  # unknown: every action is offered, and the phone's answer says the rest
        self.call_from_thread(self._probed, serial, caps)

    def _probed(self, serial: str, caps: dict[str, Capability]) -> None:
        self.capabilities[serial] = caps
        self._dirty = True
        self._redraw(force=True)

    @work(thread=True, exclusive=True, group="actions", exit_on_error=False)
    def _preview(self, serial: str, action: Action, finding: Event | None) -> None:
        cap = self.capabilities.get(serial, {}).get(action.kind)
        if cap is not None and not cap.available:
            refused = Outcome(
                action, "refused", f"not possible on this phone: {action.kind}", cap.note
            )
            self.call_from_thread(self._ask, serial, action, refused, finding)
            return
        try:
            preview = self.source.actions(serial).run(action, dry_run=True)
        except (ActionError, AdbError, StoreError) as exc:
            self.call_from_thread(self._failed, str(exc))
            return
        self.call_from_thread(self._ask, serial, action, preview, finding)

    def _failed(self, text: str) -> None:
        self.notify(printable(text), title="Not done", severity="error", markup=False)

    def _ask(self, serial: str, action: Action, preview: Outcome, finding: Event | None) -> None:
        if preview.status != "dry-run":
            self.push_screen(RefusedScreen(preview))
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._run(serial, action, finding)

        self.push_screen(ConfirmScreen([(serial, action, preview)]), answered)

    def confirm_many(self, plans: list[tuple[str, Action, Event | None]]) -> None:
        """Several actions (marked findings) behind one confirmation."""
        self._preview_many(plans)

    @work(thread=True, exclusive=True, group="actions", exit_on_error=False)
    def _preview_many(self, plans: list[tuple[str, Action, Event | None]]) -> None:
        ready: list[tuple[str, Action, Outcome, Event | None]] = []
        refused: list[str] = []
        for serial, action, finding in plans:
            try:
                preview = self.source.actions(serial).run(action, dry_run=True)
            except (ActionError, AdbError, StoreError) as exc:
                refused.append(f"{serial}: {exc}")
                continue
            if preview.status == "dry-run":
                ready.append((serial, action, preview, finding))
            else:
                refused.append(f"{serial}: {preview.message}")
        self.call_from_thread(self._ask_many, ready, refused)

    def _ask_many(
        self, ready: list[tuple[str, Action, Outcome, Event | None]], refused: list[str]
    ) -> None:
        if refused:
            self.notify(
                printable("\n".join(refused[:5]), 600),
                title=f"{len(refused)} not possible",
                severity="warning",
                markup=False,
            )
        if not ready:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_many([(serial, action, finding) for serial, action, _, finding in ready])

        self.push_screen(ConfirmScreen([(s, a, p) for s, a, p, _ in ready]), answered)

    @work(thread=True, group="actions", exit_on_error=False)
    def _run_many(self, plans: list[tuple[str, Action, Event | None]]) -> None:
        done: list[tuple[str, Outcome, Event | None]] = []
        failed: list[str] = []
        for serial, action, finding in plans:
            try:
                outcome = self.source.actions(serial).run(action)
            except (ActionError, AdbError, StoreError) as exc:
                failed.append(f"{serial}: {exc}")
                continue
            if outcome.status == "done":
                done.append((serial, outcome, finding))
            else:
                failed.append(f"{serial}: {outcome.message}")
        self.post_message(BatchDone(done, failed))

    @on(BatchDone)
    def _batch_done(self, message: BatchDone) -> None:
        for serial, outcome, finding in message.done:
            self.source.invalidate(serial)
            self.last_action = (serial, outcome)
            if finding is not None:
                self.model.dismiss(finding)
        lines = [printable(o.message, 100) for _, o, _ in message.done[:TOAST_LINES]]
        if len(message.done) > TOAST_LINES:
            lines.append(f"... and {len(message.done) - TOAST_LINES} more")
        if message.done:
            self.notify("\n".join(lines), title=f"{len(message.done)} done", markup=False)
        if message.failed:
            self.notify(
                printable("\n".join(message.failed[:TOAST_LINES]), 600),
                title=f"{len(message.failed)} failed",
                severity="error",
                markup=False,
                timeout=10,
            )
        self._dirty = True
        self._redraw(force=True)

    @work(thread=True, group="actions", exit_on_error=False)
    def _run(self, serial: str, action: Action, finding: Event | None) -> None:
        try:
            outcome = self.source.actions(serial).run(action)
        except (ActionError, AdbError, StoreError) as exc:
            self.call_from_thread(self._failed, str(exc))
            return
        self.post_message(ActionDone(serial, outcome, finding))

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        outcome = message.outcome
        self.source.invalidate(message.serial)
        if outcome.status == "done":
            self.last_action = (message.serial, outcome)
            if message.finding is not None:
                self.model.dismiss(message.finding)
            read = ", ".join(f"{k}={v}" for k, v in outcome.after.items())
            text = f"{outcome.message}\nread back: {read}" if read else outcome.message
            self.notify(printable(text, 400), title="Done", markup=False)
        else:
            hint = f"\ntry: {outcome.hint}" if outcome.hint else ""
            self.notify(
                printable(outcome.message + hint, 400),
                title="Failed",
                severity="error",
                markup=False,
                timeout=10,
            )
        self._dirty = True
        self._redraw(force=True)

    def action_undo(self) -> None:
        if self.last_action is None or self.last_action[1].audit_id is None:
            self.notify("nothing to undo", severity="warning")
            return
        serial, last = self.last_action
        self._undo(serial, last.audit_id)

    @work(thread=True, group="actions", exit_on_error=False)
    def _undo(self, serial: str, audit_id: int) -> None:
        try:
            outcome = self.source.actions(serial).undo(audit_id)
        except (ActionError, AdbError, StoreError) as exc:
            self.call_from_thread(self._failed, str(exc))
            return
        self.post_message(ActionDone(serial, outcome))

    def accept(self, event: Event) -> None:
        try:
            n = self.source.accept(event)
        except (StoreError, KeyError, ValueError) as exc:
            self._failed(str(exc))
            return
        self.model.dismiss(event)
        self.notify(f"accepted into the baseline ({n} entr{'y' if n == 1 else 'ies'})")
        self._dirty = True
        self._redraw(force=True)

    # ---------------------------------------------------------------- app keys
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_alerts(self) -> None:
        """The inbox: one screen for the app's life (built once: a hundred rows and their
        layout are not rebuilt at every visit), brought to the top if it is open below."""
        if not self.is_screen_installed("alerts"):
            self.install_screen(AlertsScreen(), "alerts")
        inbox = self.get_screen("alerts")
        if inbox in self.screen_stack:
            while self.screen is not inbox:
                self.pop_screen()
            return
        self.push_screen(inbox)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        # The screen's own keys as commands too (the palette lists every action there is).
        seen = {"app.pop_screen"}
        for binding in screen.BINDINGS:
            if not isinstance(binding, Binding) or binding.action in seen:
                continue
            seen.add(binding.action)
            method = getattr(screen, f"action_{binding.action}", None)
            if callable(method):
                yield SystemCommand(binding.description, f"key: {binding.key}", method)
        yield SystemCommand("Alerts inbox", "Findings without consent", self.action_alerts)
        yield SystemCommand(
            "Undo last action", "Put back what the last action changed", self.action_undo
        )
        yield SystemCommand("Help", "Keys and screens", self.action_help)
        yield SystemCommand("Light/dark", "Switch the theme", self.action_toggle_theme)
