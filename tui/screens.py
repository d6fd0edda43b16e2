"""The screens: fleet, device, app, alerts inbox, the confirmation before an action, help.

Every string that came from a phone goes into a table as a ``rich.text.Text`` built from
:func:`agent.textsafe.printable`: a label can carry Rich markup or terminal escapes, and must
show as the characters it is made of.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    Markdown,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.data_table import RowDoesNotExist

from agent.actions import Action, Outcome
from agent.events import Event
from agent.model import PLATFORM_FLAGS, SENSITIVE_PERMISSIONS, USER_FLAGS
from agent.textsafe import printable
from tui.model import remedy, sensitive_words

if TYPE_CHECKING:
    from tui.app import TetherguardApp


def safe(value: object, limit: int = 80) -> Text:
    """Device text for a table cell: printable, never markup."""
    return Text(printable("" if value is None else str(value), limit))


INBOX_ROWS = 100
"""Findings listed in the inbox at once (the newest); the rest are counted."""


def selected_key(table: DataTable[object]) -> str | None:
    """The key of the row under the cursor (``None`` for an empty table)."""
    if table.row_count == 0:
        return None
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return None if key is None else str(key)


def restore_cursor(table: DataTable[object], key: str | None, fallback: int) -> None:
    """After a refill: back on the same row (by key), else near where the cursor was."""
    if table.row_count == 0:
        return
    try:
        row = table.get_row_index(key) if key is not None else fallback
    except RowDoesNotExist:  # the row is gone (dismissed, uninstalled): stay near it
        row = fallback
    table.move_cursor(row=min(row, table.row_count - 1))


def _when(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def _what(event: Event) -> str:
    d = event.detail
    if event.kind.startswith("sensitive_use") and d.get("op"):
        fg = d.get("foreground")
        where = " (background)" if fg is False else " (foreground)" if fg is True else ""
        return f"{d['op']}{where}"
    for key in ("permission", "op", "reason", "installer", "state"):
        if d.get(key):
            return str(d[key]).removeprefix("android.permission.")
    return ""


class TgScreen(Screen[None]):
    """Shared by the screens: the app, typed, and whether the screen is ready to be refreshed
    (the app's redraw timer may fire between a screen's compose and its mount)."""

    ready = False

    def on_unmount(self) -> None:
        self.ready = False

    @property
    def tg(self) -> TetherguardApp:
        from tui.app import TetherguardApp

        assert isinstance(self.app, TetherguardApp)
        return self.app


# --------------------------------------------------------------------------- fleet
class FleetScreen(TgScreen):
    """Every phone: state, model, Android, open findings, what is in use right now."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open device", show=True),
        Binding("a", "alerts", "Alerts inbox"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="fleet-summary")
        yield DataTable(id="fleet", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#fleet", DataTable)
        table.add_columns("Device", "State", "Model", "Android", "Findings", "In use now")
        self.refresh_data()
        table.focus()
        self.ready = True

    def refresh_data(self) -> None:
        table = self.query_one("#fleet", DataTable)
        cursor, key = table.cursor_row, selected_key(table)
        table.clear()
        views = self.tg.model.fleet()
        for view in views:
            state = view.state
            if state == "unauthorized":
                state = "unauthorized: accept the prompt on the phone"
            live = Text(view.live, style="bold red") if view.live else Text("")
            findings = Text(str(view.findings), style="bold" if view.findings else "dim")
            table.add_row(
                safe(view.serial),
                safe(state),
                safe(view.model),
                safe(view.release),
                findings,
                live,
                key=view.serial,
            )
        restore_cursor(table, key, cursor)
        open_findings = sum(v.findings for v in views)
        self.query_one("#fleet-summary", Static).update(
            f"{len(views)} phone(s), {open_findings} open finding(s)"
        )

    def _selected(self) -> str | None:
        table = self.query_one("#fleet", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    @on(DataTable.RowSelected, "#fleet")
    def _row(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        serial = self._selected()
        if serial is not None:
            self.app.push_screen(DeviceScreen(serial))

    def action_alerts(self) -> None:
        self.app.push_screen(AlertsScreen())


# --------------------------------------------------------------------------- device
class DeviceScreen(TgScreen):
    """One phone: its apps (filterable), live use, recent events, starts, device admins."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Open app"),
        Binding("slash", "filter", "Filter"),
        Binding("a", "alerts", "Alerts inbox"),
    ]

    def __init__(self, serial: str) -> None:
        super().__init__()
        self.serial = serial

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="device-tabs"):
            with TabPane("Apps", id="tab-apps"):
                yield Input(placeholder="filter: package, label, installer ...", id="filter")
                yield DataTable(id="apps", cursor_type="row", zebra_stripes=True)
            with TabPane("Live", id="tab-live"):
                yield DataTable(id="live", cursor_type="row")
            with TabPane("Events", id="tab-events"):
                yield DataTable(id="events", cursor_type="row")
            with TabPane("Starts", id="tab-starts"):
                yield DataTable(id="starts", cursor_type="row")
            with TabPane("Admins", id="tab-admins"):
                yield DataTable(id="admins", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        view = self.tg.model.devices.get(self.serial)
        model = f" {view.model}, Android {view.release}" if view and view.model else ""
        self.sub_title = printable(f"{self.serial}{model}")
        self.query_one("#apps", DataTable).add_columns(
            "Package", "Label", "User", "Installer", "Sensitive grants", "System"
        )
        self.query_one("#live", DataTable).add_columns("App", "Using", "Where")
        self.query_one("#events", DataTable).add_columns("Time", "Kind", "App", "What", "Consent")
        self.query_one("#starts", DataTable).add_columns("Caller", "Started", "Times today")
        self.query_one("#admins", DataTable).add_columns("User", "Admin", "Uninstall")
        self.refresh_data()
        self.query_one("#apps", DataTable).focus()
        self.ready = True

    def refresh_data(self) -> None:
        self._fill_apps()
        model = self.tg.model
        view = model.devices.get(self.serial)
        live = self.query_one("#live", DataTable)
        live.clear()
        for (package, op), where in sorted((view.in_use if view else {}).items()):
            style = "bold red" if where == "background" else ""
            live.add_row(safe(package), safe(op), Text(where, style=style))
        events = self.query_one("#events", DataTable)
        events.clear()
        for e in model.events_of(self.serial, 200):
            events.add_row(
                _when(e.ts), e.kind, safe(e.package or "-"), safe(_what(e)), e.consent.value
            )
        starts = self.query_one("#starts", DataTable)
        starts.clear()
        for caller, callee, n in self.tg.source.start_graph(self.serial):
            starts.add_row(safe(caller), safe(callee), str(n))
        admins = self.query_one("#admins", DataTable)
        admins.clear()
        snap = self.tg.source.snapshot(self.serial)
        for admin in snap.policy.admins if snap is not None else ():
            admins.add_row(str(admin.user), safe(admin.component), "blocked while active")

    _apps_of: tuple[object, str] | None = None

    def _fill_apps(self) -> None:
        table = self.query_one("#apps", DataTable)
        wanted = self.query_one("#filter", Input).value.strip().lower()
        snap = self.tg.source.snapshot(self.serial)
        if self._apps_of == (snap, wanted):
            return  # same snapshot, same filter: the table is right as it is
        self._apps_of = (snap, wanted)
        cursor, key = table.cursor_row, selected_key(table)
        table.clear()
        if snap is None:
            return
        for pkg in sorted(snap.packages.packages, key=lambda p: (p.system, p.name)):
            label = snap.labels.get(pkg.name, "")
            for state in pkg.users:
                if not state.installed:
                    continue
                row = (pkg.name, label, pkg.installer or "")
                if wanted and not any(_fuzzy(wanted, part.lower()) for part in row):
                    continue
                table.add_row(
                    safe(pkg.name),
                    safe(label, 40),
                    str(state.user),
                    safe(pkg.installer or "-"),
                    safe(sensitive_words(snap, pkg.name, state.user)),
                    "system" if pkg.system else "",
                    key=f"{state.user}:{pkg.name}",
                )
        restore_cursor(table, key, cursor)

    @on(Input.Changed, "#filter")
    def _filter(self, _: Input.Changed) -> None:
        self._fill_apps()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    @on(DataTable.RowSelected, "#apps")
    def _row(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one("#apps", DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key:
            user, package = str(key).split(":", 1)
            self.app.push_screen(AppScreen(self.serial, package, int(user)))

    def action_alerts(self) -> None:
        self.app.push_screen(AlertsScreen())


def _fuzzy(needle: str, haystack: str) -> bool:
    """Every character of ``needle`` in order in ``haystack`` (``wcht`` finds ``wechat``)."""
    it = iter(haystack)
    return all(ch in it for ch in needle)


# --------------------------------------------------------------------------- app
class AppScreen(TgScreen):
    """One app for one user: where it came from, every runtime permission and who granted
    it, and the actions."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "revoke", "Revoke"),
        Binding("g", "grant", "Grant"),
        Binding("b", "restrict", "Restrict background"),
        Binding("d", "disable", "Disable"),
        Binding("u", "uninstall", "Uninstall"),
        Binding("s", "restore", "Restore"),
    ]

    def __init__(self, serial: str, package: str, user: int) -> None:
        super().__init__()
        self.serial, self.package, self.user = serial, package, user

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="app-info")
        yield DataTable(id="perms", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.tg.probe(self.serial)
        self.query_one("#perms", DataTable).add_columns(
            "Permission", "Granted", "Granted by", "Sensitive"
        )
        self.refresh_data()
        self.query_one("#perms", DataTable).focus()
        self.ready = True

    def refresh_data(self) -> None:
        snap = self.tg.source.snapshot(self.serial)
        pkg = snap.package(self.package) if snap is not None else None
        info = self.query_one("#app-info", Static)
        table = self.query_one("#perms", DataTable)
        cursor, key = table.cursor_row, selected_key(table)
        table.clear()
        if snap is None or pkg is None:
            info.update(Text(f"{printable(self.package)}: not on the phone any more"))
            return
        state = pkg.user(self.user)
        text = Text(
            f"{printable(self.package)}  user {self.user}  version "
            f"{printable(pkg.version_name or '?')} ({pkg.version_code})  installer "
            f"{printable(pkg.installer or '-')}  "
            f"{'installed' if state and state.installed else 'not installed'}  "
            f"{'disabled' if state and state.enabled in (2, 3, 4) else ''}"
        )
        caps = self.tg.capabilities.get(self.serial, {})
        blocked = sorted(k for k, c in caps.items() if not c.available)
        if blocked:
            why = next((c.note for c in caps.values() if not c.available and c.note), "")
            text.append(
                f"\nNot on this phone: {', '.join(blocked)} ({printable(why, 200)})", style="yellow"
            )
        info.update(text)
        for grant in snap.runtime_grants(pkg, self.user):
            if grant.flags & USER_FLAGS:
                who = Text("you")
            elif grant.flags & PLATFORM_FLAGS:
                who = Text("the platform")
            else:
                who = Text("no consent", style="bold red") if grant.granted else Text("")
            table.add_row(
                safe(grant.name.removeprefix("android.permission.")),
                "yes" if grant.granted else "no",
                who,
                SENSITIVE_PERMISSIONS.get(grant.name, ""),
                key=grant.name,
            )
        restore_cursor(table, key, cursor)

    def _permission(self) -> str | None:
        table = self.query_one("#perms", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key else None

    def _act(self, kind: str, **extra: Any) -> None:
        action = Action(kind, self.package, self.user, **extra)  # type: ignore[arg-type]
        self.tg.confirm(self.serial, action)

    def action_revoke(self) -> None:
        permission = self._permission()
        if permission is not None:
            self._act("revoke", permission=permission)

    def action_grant(self) -> None:
        permission = self._permission()
        if permission is not None:
            self._act("grant", permission=permission)

    def action_restrict(self) -> None:
        self._act("restrict")

    def action_disable(self) -> None:
        self._act("disable")

    def action_uninstall(self) -> None:
        self._act("uninstall")

    def action_restore(self) -> None:
        self._act("restore")


# --------------------------------------------------------------------------- alerts
class AlertsScreen(TgScreen):
    """Findings without consent, newest first: act on one with one key, accept it into the
    baseline, or dismiss it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "remedy", "Act (revoke ...)"),
        Binding("A", "accept", "Accept into baseline"),
        Binding("x", "dismiss_finding", "Dismiss"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="alerts-summary")
        yield DataTable(id="alerts", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#alerts", DataTable).add_columns(
            "Time", "Device", "Kind", "App", "What", "Severity", "One key"
        )
        self.refresh_data()
        self.query_one("#alerts", DataTable).focus()
        self.ready = True

    shown_ids: tuple[str, ...] = ()

    def refresh_data(self) -> None:
        table = self.query_one("#alerts", DataTable)
        everything = self.tg.model.open_findings()
        findings = everything[:INBOX_ROWS]
        ids = tuple(e.id for e in findings)
        more = len(everything) - len(findings)
        summary = f"{len(everything)} open finding(s)" + (
            f" (the newest {INBOX_ROWS} shown)" if more else ""
        )
        self.query_one("#alerts-summary", Static).update(summary)
        if ids == self.shown_ids:
            return  # nothing new: no rebuild (a busy fleet sends events all the time)
        self.shown_ids = ids
        cursor, key = table.cursor_row, selected_key(table)
        table.clear()
        for e in findings:
            fix = remedy(e)
            table.add_row(
                _when(e.ts),
                safe(e.serial, 24),
                e.kind,
                safe(e.package or "-"),
                safe(_what(e)),
                Text(e.severity.value, style="bold red" if e.severity.value == "high" else ""),
                fix.describe().split(" for user")[0] if fix else "",
                key=e.id,
            )
        restore_cursor(table, key, cursor)

    def _selected(self) -> Event | None:
        table = self.query_one("#alerts", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((e for e in self.tg.model.open_findings() if e.id == key), None)

    def action_remedy(self) -> None:
        event = self._selected()
        if event is None:
            return
        fix = remedy(event)
        if fix is None:
            self.notify("no action undoes this finding", severity="warning")
            return
        self.tg.confirm(event.serial, fix, finding=event)

    def action_accept(self) -> None:
        event = self._selected()
        if event is not None:
            self.tg.accept(event)

    def action_dismiss_finding(self) -> None:
        event = self._selected()
        if event is not None:
            self.tg.model.dismiss(event)
            self.refresh_data()


# --------------------------------------------------------------------------- confirm
class ConfirmScreen(ModalScreen[bool]):
    """Exactly what will happen, and whether it can be undone, before anything does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes, do it"),
        Binding("enter", "confirm", "Yes", show=False),
        Binding("n", "cancel", "No"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    def __init__(self, serial: str, action: Action, preview: Outcome) -> None:
        super().__init__()
        self.serial, self.action, self.preview = serial, action, preview

    def compose(self) -> ComposeResult:
        undo = {
            "revoke": "yes: grants it back",
            "grant": "yes: revokes it again",
            "appop": "yes: puts the previous mode back",
            "restrict": "yes: allows background running again",
            "disable": "yes: enables it again",
            "uninstall": "yes: restores it (its data was kept)",
            "restore": "yes: uninstalls it again",
        }.get(self.action.kind, "no")
        text = Text()
        what = printable(self.action.describe())
        text.append(what[:1].upper() + what[1:], style="bold")
        text.append("\non ")
        text.append(printable(self.serial), style="bold")
        text.append("\n\nRuns:\n")
        for command in self.preview.commands:
            text.append(f"  adb shell {printable(command, 300)}\n", style="dim")
        text.append(f"\nCan be undone: {undo}\n\n")
        text.append("y", style="bold")
        text.append(" does it, ")
        text.append("n", style="bold")
        text.append(" cancels.")
        with Vertical(id="confirm-box"):
            # Text, not markup or Markdown: package names and serials come from the phone.
            yield Static(text)

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class RefusedScreen(ModalScreen[None]):
    """Why an action will not be done (protected, not on the phone, not possible here)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, outcome: Outcome) -> None:
        super().__init__()
        self.outcome = outcome

    def compose(self) -> ComposeResult:
        hint = f"\n\nTry: {printable(self.outcome.hint)}" if self.outcome.hint else ""
        with Vertical(id="confirm-box"):
            yield Static(Text(f"{printable(self.outcome.message)}{hint}\n\n(Enter closes)"))

    def action_close(self) -> None:
        self.dismiss(None)


HELP = """\
# tetherguard

- **Fleet**: Enter opens a phone, **a** the alerts inbox.
- **Device**: tabs Apps, Live, Events, Starts, Admins; **/** filters the apps (fuzzy), Enter
  opens one.
- **App**: **r** revoke the selected permission, **g** grant it, **b** restrict background
  running, **d** disable, **u** uninstall (keeps data), **s** restore.
- **Alerts**: **r** the one-key remedy for the selected finding, **A** accept it into the
  baseline, **x** dismiss.

Every action asks first, shows the commands and whether it can be undone, and reads the phone
back. **z** undoes the last action, **Ctrl+P** lists every command, **t** switches light and
dark, **q** quits.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = [
    "AlertsScreen",
    "AppScreen",
    "ConfirmScreen",
    "DeviceScreen",
    "FleetScreen",
    "HelpScreen",
    "RefusedScreen",
]
