"""The tetherguard TUI: the fleet, a phone, an app, the alerts inbox; one key to act.

Engine events arrive on the engine's threads and are posted to the app as messages
(``post_message`` is thread-safe); the screens redraw at most a few times a second however
many phones stream events. Actions run in thread workers, so no keystroke waits on a phone:
a dry run first (what exactly will run, read from the phone), then the confirmation, then the
action with its read-back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
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
)
from tui.source import EngineSource


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


class TetherguardApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "tetherguard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("z", "undo", "Undo last action"),
        Binding("t", "toggle_theme", "Light/dark"),
    ]

    def __init__(self, source: EngineSource, *, refresh_s: float = 0.5) -> None:
        super().__init__()
        self.source = source
        self.model = FleetModel()
        self.last_action: tuple[str, Outcome] | None = None
        self.capabilities: dict[str, dict[str, Capability]] = {}
        """Serial -> what actions can do on that phone (probed once per phone)."""
        self._dirty = True
        self._refresh_s = refresh_s
        self._ticks = 0

    # ---------------------------------------------------------------- life
    def on_mount(self) -> None:
        self.model.load(self.source.devices(), self.source.findings())
        for view in self.model.fleet():
            self.model.snapshot_info(view.serial, self.source.snapshot(view.serial))
        self.source.subscribe(self._from_engine)
        self.push_screen(FleetScreen())
        self.set_interval(self._refresh_s, self._redraw)

    def on_unmount(self) -> None:
        self.source.close()

    def _from_engine(self, event: Event) -> None:
        """Called on an engine thread."""
        self.post_message(EngineEvent(event))

    @on(EngineEvent)
    def _event(self, message: EngineEvent) -> None:
        event = message.event
        self.model.apply(event)
        if event.kind == "device_state" or event.serial not in self.model.devices:
            self.model.snapshot_info(event.serial, self.source.snapshot(event.serial))
        if event.finding and event.kind != "sensitive_use_stopped":
            what = f"{event.kind.replace('_', ' ')}: {printable(event.package or '', 60)}"
            self.notify(what, title=printable(event.serial, 30), severity="warning", markup=False)
        self._dirty = True

    def _redraw(self) -> None:
        """Redraw the screen on top when something changed (at most every refresh_s)."""
        self._ticks += 1
        if self._ticks % 4 == 0:  # new phones and their facts, from the engine's records
            self.model.sync(self.source.devices())
            self._dirty = True
        if not self._dirty:
            return
        self._dirty = False
        screen = self.screen
        refresh = getattr(screen, "refresh_data", None)
        if callable(refresh) and getattr(screen, "ready", False) and screen.is_attached:
            try:
                refresh()
            except NoMatches:  # being torn down (the app is closing): nothing to draw
                return
        else:
            self._dirty = True  # not mounted yet: next tick

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
        self._redraw()

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

        self.push_screen(ConfirmScreen(serial, action, preview), answered)

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
        self._redraw()

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
        self._redraw()

    # ---------------------------------------------------------------- app keys
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_alerts(self) -> None:
        self.push_screen(AlertsScreen())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Alerts inbox", "Findings without consent", self.action_alerts)
        yield SystemCommand(
            "Undo last action", "Put back what the last action changed", self.action_undo
        )
        yield SystemCommand("Help", "Keys and screens", self.action_help)
        yield SystemCommand("Light/dark", "Switch the theme", self.action_toggle_theme)
