"""The screens: fleet, device, app, alerts inbox, the confirmation before an action, help.

Every string that came from a phone goes into a table as a ``rich.text.Text`` built from
:func:`agent.textsafe.printable`: a label can carry Rich markup or terminal escapes, and must
show as the characters it is made of.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
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

from agent.actions import Action, Outcome
from agent.events import Event
from agent.fleet import seen_words
from agent.model import PLATFORM_FLAGS, SENSITIVE_PERMISSIONS, USER_FLAGS, AppOpEntry, PackageInfo
from agent.snapshot import Snapshot
from agent.textsafe import printable
from tui.model import remedy, sensitive_words, where
from tui.widgets import Row, Table

if TYPE_CHECKING:
    from tui.app import TetherguardApp


def safe(value: object, limit: int = 80) -> Text:
    """Device text for a table cell: printable, never markup."""
    return Text(printable("" if value is None else str(value), limit))


INBOX_ROWS = 100
"""Findings listed in the inbox at once (the newest); the rest are counted."""

MARK: Final = Text("✓", style="bold")
"""A marked finding in the inbox."""

CONFIRM_SHOWN = 8
"""Actions spelled out in one confirmation; the rest are counted."""


def _when(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def _what(event: Event) -> str:
    d = event.detail
    if event.kind.startswith("sensitive_use") and d.get("op"):
        fg = d.get("foreground")
        where = " (background)" if fg is False else " (foreground)" if fg is True else ""
        return f"{d['op']}{where}"
    what = next((str(d[k]).removeprefix("android.permission.") for k in _WHAT_KEYS if d.get(k)), "")
    return what + _by_host(d.get("host"))


_WHAT_KEYS: Final = ("permission", "op", "reason", "installer", "state")


def _by_host(clients: object) -> str:
    """``via adb shell pm grant ... (from bash)``: the program on this computer seen driving
    adb when the change happened (agent.hostwatch)."""
    if not isinstance(clients, list) or not clients or not isinstance(clients[0], dict):
        return ""
    first = clients[0]
    argv = [str(a) for a in first.get("cmdline") or []]
    if argv:
        argv[0] = argv[0].rsplit("/", 1)[-1]
    parents = first.get("parents") or []
    origin = f" (from {parents[0]})" if parents else ""
    return f"  via {' '.join(argv)[:80]}{origin}"


class TgScreen(Screen[None]):
    """Shared by the screens: the app, typed, and whether the screen is ready to be refreshed
    (the app's redraw timer may fire between a screen's compose and its mount); ``[`` and
    ``]`` (or 1-5) switch the tabs of a screen that has them, wherever the focus is."""

    ready = False

    TAB_BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right_square_bracket", "tab(1)", "Next tab"),
        Binding("left_square_bracket", "tab(-1)", "Previous tab", show=False),
        *(Binding(str(n), f"tab_at({n - 1})", f"Tab {n}", show=False) for n in range(1, 6)),
    ]

    def _tabs(self) -> TabbedContent | None:
        try:
            return self.query_one(TabbedContent)
        except NoMatches:
            return None

    def action_tab(self, step: int) -> None:
        tabs = self._tabs()
        if tabs is None:
            return
        panes = [pane.id for pane in tabs.query(TabPane) if pane.id]
        if tabs.active in panes:
            tabs.active = panes[(panes.index(tabs.active) + step) % len(panes)]
            self._focus_tab()

    def action_tab_at(self, index: int) -> None:
        tabs = self._tabs()
        panes = [pane.id for pane in tabs.query(TabPane) if pane.id] if tabs else []
        if tabs is not None and index < len(panes):
            tabs.active = panes[index]
            self._focus_tab()

    def _focus_tab(self) -> None:
        """The keys act on the tab in view: its table takes the focus."""
        tabs = self._tabs()
        if tabs is None:
            return
        pane = tabs.get_pane(tabs.active)
        for table in pane.query(Table):
            table.focus()
            return

    def on_unmount(self) -> None:
        self.ready = False

    refresh_every: ClassVar[float] = 0.5
    """Seconds between two redraws for new data, at least: a busy fleet changes something
    every few milliseconds, and a table's redraw costs the keys that wait behind it."""
    _refreshed = 0.0

    def refresh_data(self) -> None:
        """Fill the screen from the app's model and source (the screens with data)."""

    def redraw(self, *, force: bool = False) -> bool:
        """Refresh if the screen is up and its data older than ``refresh_every`` (or
        ``force``, after something the user did); False when not done (try again later)."""
        if not self.ready or not self.is_attached:
            return False
        now = time.monotonic()
        if not force and now - self._refreshed < self.refresh_every:
            return False
        self._refreshed = now
        self.refresh_data()
        return True

    def on_screen_resume(self) -> None:
        """Back on top: show what changed meanwhile, once the screen is up (the key that brought
        it back is answered first; the new rows follow in the next frame)."""
        if self.ready:
            self.call_after_refresh(self._redraw_if_shown)

    def _redraw_if_shown(self) -> None:
        if self.is_current:
            self.redraw()

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
        Binding("h", "hosts", "All hosts"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # No fleet database: the key is not offered.
        return not (action == "hosts" and not self.tg.fleet_url)

    def action_hosts(self) -> None:
        self.app.push_screen(HostsScreen())

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="fleet-summary")
        yield Table(id="fleet", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#fleet", Table)
        table.add_columns("Device", "State", "Model", "Android", "Findings", "In use now")
        self.refresh_data()
        table.focus()
        self.ready = True

    def refresh_data(self) -> None:
        views = self.tg.model.fleet()
        rows: list[Row] = []
        for view in views:
            state = view.state
            if state == "unauthorized":
                state = "unauthorized: accept the prompt on the phone"
            live = Text(view.live, style="bold red") if view.live else Text("")
            findings = Text(str(view.findings), style="bold" if view.findings else "dim")
            cells = (safe(view.serial), safe(state), safe(view.model), safe(view.release))
            rows.append((view.serial, (*cells, findings, live)))
        self.query_one("#fleet", Table).fill(rows)
        open_findings = sum(v.findings for v in views)
        self.query_one("#fleet-summary", Static).update(
            f"{len(views)} phone(s), {open_findings} open finding(s)"
        )

    @on(DataTable.RowSelected, "#fleet")
    def _row(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        serial = self.query_one("#fleet", Table).selected
        if serial is not None:
            self.app.push_screen(DeviceScreen(serial))

    def action_alerts(self) -> None:
        self.tg.action_alerts()


# --------------------------------------------------------------------------- hosts
class HostsScreen(TgScreen):
    """Every host's phones, from the fleet database (``tui --fleet URL``): read on a worker
    thread every few seconds, so a slow or unreachable database never holds a key."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]
    refresh_every = 5.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the fleet database ...", id="hosts-summary")
        yield Table(id="hosts", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "all hosts (fleet database)"
        self.query_one("#hosts", Table).add_columns(
            "Host", "Device", "State", "Model", "Android", "Findings 7 d", "Last seen"
        )
        self.ready = True
        self.refresh_data()
        self.query_one("#hosts", Table).focus()
        self.set_interval(self.refresh_every, self.refresh_data)

    def refresh_data(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="fleet", exit_on_error=False)
    def _read(self) -> None:
        from agent.fleet import FleetError, fleet_view

        url = self.tg.fleet_url
        if not url:
            return
        try:
            view = fleet_view(url)
        except FleetError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._show, view)

    def _show_error(self, text: str) -> None:
        self.query_one("#hosts-summary", Static).update(Text(printable(text, 300), style="red"))

    def _show(self, view: list[Any]) -> None:
        now = time.time()
        rows: list[Row] = []
        for d in view:
            seen = seen_words(now - d.last_seen)
            found = Text(str(d.findings_7d), style="bold red" if d.findings_7d else "dim")
            rows.append(
                (
                    f"{d.host}|{d.serial}",
                    (
                        safe(d.host_name, 30),
                        safe(d.serial),
                        safe(d.state or "-"),
                        safe(d.model or "-"),
                        safe(d.release or "-"),
                        found,
                        seen,
                    ),
                )
            )
        self.query_one("#hosts", Table).fill(rows)
        hosts = len({d.host for d in view})
        self.query_one("#hosts-summary", Static).update(
            f"{len(view)} phone(s) on {hosts} host(s), read {time.strftime('%H:%M:%S')}"
        )


# --------------------------------------------------------------------------- device
APP_SORTS: Final = ("package", "label", "installer", "findings", "sensitive")
"""The apps list's orders, cycled with ``o`` (or chosen by clicking a column's header)."""


def _keyed(package: str, user: int) -> str:
    return f"{user}:{package}"


def _unkeyed(key: str) -> tuple[int, str]:
    user, package = key.split(":", 1)
    return int(user), package


class DeviceScreen(TgScreen):
    """One phone: its apps (filterable, sortable), live use, recent events, starts, device
    admins; ``r`` undoes what the selected row shows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Open app"),
        Binding("r", "remedy", "Act on row"),
        Binding("slash", "filter", "Filter"),
        Binding("o", "sort", "Sort"),
        Binding("a", "alerts", "Alerts inbox"),
        *TgScreen.TAB_BINDINGS,
    ]

    def __init__(self, serial: str) -> None:
        super().__init__()
        self.serial = serial
        self.sort = "package"
        self._apps_of: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="device-tabs"):
            with TabPane("Apps", id="tab-apps"):
                yield Input(placeholder="filter: package, label, installer ...", id="filter")
                yield Table(id="apps", zebra_stripes=True)
            with TabPane("Live", id="tab-live"):
                yield Table(id="live")
            with TabPane("Events", id="tab-events"):
                yield Table(id="events")
            with TabPane("Starts", id="tab-starts"):
                yield Table(id="starts")
            with TabPane("Admins", id="tab-admins"):
                yield Table(id="admins")
        yield Footer()

    def on_mount(self) -> None:
        view = self.tg.model.devices.get(self.serial)
        model = f" {view.model}, Android {view.release}" if view and view.model else ""
        self.sub_title = printable(f"{self.serial}{model}")
        self.query_one("#apps", Table).add_columns(
            "Package", "Label", "User", "Installer", "Sensitive grants", "Findings", "System"
        )
        self.query_one("#live", Table).add_columns("App", "Using", "Where", "Since", "One key")
        self.query_one("#events", Table).add_columns(
            "Time", "Kind", "App", "What", "Consent", "One key"
        )
        self.query_one("#starts", Table).add_columns("Caller", "Started", "Times today")
        self.query_one("#admins", Table).add_columns("User", "Admin", "Uninstall")
        self.refresh_data()
        self.query_one("#apps", Table).focus()
        self.ready = True

    def refresh_data(self) -> None:
        self._fill_apps()
        view = self.tg.model.devices.get(self.serial)
        live: list[Row] = []
        for (package, op), event in sorted((view.in_use if view else {}).items()):
            at = where(event)
            fix = remedy(event)
            live.append(
                (
                    f"{package}|{op}",
                    (
                        safe(package),
                        safe(op),
                        Text(at, style="bold red" if at == "background" else ""),
                        _when(event.ts),
                        _fix_words(fix),
                    ),
                )
            )
        self.query_one("#live", Table).fill(live)
        self.query_one("#events", Table).fill(
            [
                (
                    e.id,
                    (
                        _when(e.ts),
                        e.kind,
                        safe(e.package or "-"),
                        safe(_what(e)),
                        _consent(e),
                        _fix_words(remedy(e)) if e.finding else "",
                    ),
                )
                for e in self.tg.source.history(self.serial, None, 200)
            ]
        )
        self.query_one("#starts", Table).fill(
            [
                (f"{caller}>{callee}", (safe(caller), safe(callee), str(n)))
                for caller, callee, n in self.tg.source.start_graph(self.serial)
            ]
        )
        snap = self.tg.source.snapshot(self.serial)
        self.query_one("#admins", Table).fill(
            [
                (
                    f"{admin.user}:{admin.component}",
                    (str(admin.user), safe(admin.component), "blocked while active"),
                )
                for admin in (snap.policy.admins if snap is not None else ())
            ]
        )

    def _fill_apps(self) -> None:
        table = self.query_one("#apps", Table)
        wanted = self.query_one("#filter", Input).value.strip().lower()
        snap = self.tg.source.snapshot(self.serial)
        counts = self.tg.model.findings_by_package(self.serial)
        shown = (snap, wanted, self.sort, tuple(sorted(counts.items())))
        if self._apps_of == shown:
            return  # same snapshot, filter, order and findings: the table is right as it is
        self._apps_of = shown
        if snap is None:
            table.fill([])
            return
        rows: list[tuple[tuple[object, ...], Row]] = []
        for pkg in snap.packages.packages:
            label = snap.labels.get(pkg.name, "")
            for state in pkg.users:
                if not state.installed:
                    continue
                if wanted and not any(
                    _fuzzy(wanted, part.lower()) for part in (pkg.name, label, pkg.installer or "")
                ):
                    continue
                grants = sensitive_words(snap, pkg.name, state.user)
                found = counts.get(pkg.name, 0)
                order = {
                    "package": (pkg.name,),
                    "label": (label.lower() or "\uffff", pkg.name),
                    "installer": (pkg.installer or "\uffff", pkg.name),
                    "findings": (-found, pkg.name),
                    "sensitive": (-len(grants.split()), pkg.name),
                }[self.sort]
                cells = (
                    safe(pkg.name),
                    safe(label, 40),
                    str(state.user),
                    safe(pkg.installer or "-"),
                    safe(grants),
                    Text(str(found), style="bold red") if found else Text(""),
                    "system" if pkg.system else "",
                )
                rows.append(
                    ((pkg.system, *order, state.user), (_keyed(pkg.name, state.user), cells))
                )
        rows.sort(key=lambda r: r[0])
        table.fill([row for _, row in rows])
        self.query_one(
            "#filter", Input
        ).placeholder = f"filter: package, label, installer ...   (apps by {self.sort}: o sorts)"

    @on(Input.Changed, "#filter")
    def _filter(self, _: Input.Changed) -> None:
        self._fill_apps()

    @on(DataTable.HeaderSelected, "#apps")
    def _header(self, message: DataTable.HeaderSelected) -> None:
        name = str(message.label).lower().split()[0]
        if name in APP_SORTS:
            self.sort = name
            self._fill_apps()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_sort(self) -> None:
        self.sort = APP_SORTS[(APP_SORTS.index(self.sort) + 1) % len(APP_SORTS)]
        self._fill_apps()
        self.notify(f"apps sorted by {self.sort}", timeout=2)

    @on(DataTable.RowSelected)
    def _row(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    def _tab(self) -> str:
        return self.query_one("#device-tabs", TabbedContent).active

    def _package_of_row(self) -> tuple[str, int] | None:
        """The app the selected row of the tab in view is about."""
        tab = self._tab()
        if tab == "tab-apps":
            key = self.query_one("#apps", Table).selected
            if key is None:
                return None
            user, package = _unkeyed(key)
            return package, user
        event = self._event_of_row()
        if event is not None and event.package:
            return event.package, event.user or 0
        if tab == "tab-starts":
            key = self.query_one("#starts", Table).selected
            return None if key is None else (key.split(">", 1)[1], 0)
        return None

    def _event_of_row(self) -> Event | None:
        tab = self._tab()
        if tab == "tab-live":
            key = self.query_one("#live", Table).selected
            view = self.tg.model.devices.get(self.serial)
            if key is None or view is None:
                return None
            package, op = key.split("|", 1)
            return view.in_use.get((package, op))
        if tab == "tab-events":
            key = self.query_one("#events", Table).selected
            found = self.tg.source.history(self.serial, None, 200)
            return next((e for e in found if e.id == key), None)
        return None

    def action_open(self) -> None:
        target = self._package_of_row()
        if target is not None:
            package, user = target
            self.app.push_screen(AppScreen(self.serial, package, user))

    def action_remedy(self) -> None:
        """``r``: the one-key action for the selected row (a use: revoke what allows it; an
        event: undo it; a start: restrict the started app; an admin: remove it)."""
        tab = self._tab()
        fix: Action | None = None
        event = self._event_of_row()
        if tab in ("tab-live", "tab-events"):
            fix = remedy(event) if event is not None else None
        elif tab == "tab-starts":
            target = self._package_of_row()
            fix = Action("restrict", target[0], target[1]) if target else None
        elif tab == "tab-admins":
            key = self.query_one("#admins", Table).selected
            if key is not None:
                user, component = key.split(":", 1)
                fix = Action("remove_admin", component.split("/", 1)[0], int(user))
        elif tab == "tab-apps":
            target = self._package_of_row()
            if target is not None:
                self.app.push_screen(AppScreen(self.serial, *target))
            return
        if fix is None:
            self.notify("nothing to undo on this row", severity="warning")
            return
        self.tg.confirm(self.serial, fix, finding=event if event and event.finding else None)

    def action_alerts(self) -> None:
        self.tg.action_alerts()


def _fuzzy(needle: str, haystack: str) -> bool:
    """Every character of ``needle`` in order in ``haystack`` (``wcht`` finds ``wechat``)."""
    it = iter(haystack)
    return all(ch in it for ch in needle)


def _fix_words(fix: Action | None) -> str:
    return printable(fix.describe().split(" for user")[0], 60) if fix else ""


def _consent(event: Event) -> Text:
    value = event.consent.value
    return Text(value, style="bold red" if event.finding else "")


# --------------------------------------------------------------------------- app
def _ops_of(snap: Snapshot, pkg: PackageInfo, user: int) -> tuple[AppOpEntry, ...]:
    """The app ops of ``pkg`` for ``user`` (its uid's block; the first block as a fallback)."""
    uid = snap.uid(pkg, user)
    for block in snap.appops.uids:
        if block.uid == uid and pkg.name in block.packages:
            return block.packages[pkg.name]
    return snap.appops.ops_of(pkg.name)


def _last_access(entry: AppOpEntry) -> str:
    times = [a for a in entry.accesses if a.time or a.relative_ms is not None]
    if not times:
        return ""
    latest = times[0]
    if latest.time:
        return printable(latest.time, 24)
    assert latest.relative_ms is not None
    return f"{abs(latest.relative_ms) // 1000}s ago"


class AppScreen(TgScreen):
    """One app for one user: where it came from and who signed it, every runtime permission
    and who granted it, its app ops, what it did, who started it; actions on each row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "revoke", "Revoke/deny row"),
        Binding("g", "grant", "Grant/allow row"),
        Binding("b", "restrict", "Restrict background"),
        Binding("B", "unrestrict", "Allow background", show=False),
        Binding("k", "force_stop", "Force-stop", show=False),
        Binding("d", "disable", "Disable"),
        Binding("e", "enable", "Enable", show=False),
        Binding("u", "uninstall", "Uninstall"),
        Binding("s", "restore", "Restore"),
        Binding("a", "alerts", "Alerts inbox", show=False),
        *TgScreen.TAB_BINDINGS,
    ]

    def __init__(self, serial: str, package: str, user: int) -> None:
        super().__init__()
        self.serial, self.package, self.user = serial, package, user

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="app-info")
        with TabbedContent(id="app-tabs"):
            with TabPane("Permissions", id="tab-perms"):
                yield Table(id="perms", zebra_stripes=True)
            with TabPane("App ops", id="tab-ops"):
                yield Table(id="ops", zebra_stripes=True)
            with TabPane("Activity", id="tab-activity"):
                yield Table(id="activity")
            with TabPane("Starts", id="tab-app-starts"):
                yield Table(id="app-starts")
        yield Footer()

    def on_mount(self) -> None:
        self.tg.probe(self.serial)
        self.sub_title = printable(f"{self.package} (user {self.user}) on {self.serial}")
        self.query_one("#perms", Table).add_columns(
            "Permission", "Granted", "Granted by", "Sensitive"
        )
        self.query_one("#ops", Table).add_columns("App op", "Mode", "Last access", "Now")
        self.query_one("#activity", Table).add_columns("Time", "Kind", "What", "Consent", "One key")
        self.query_one("#app-starts", Table).add_columns("", "App", "Times today")
        self.refresh_data()
        self.query_one("#perms", Table).focus()
        self.ready = True

    def refresh_data(self) -> None:
        snap = self.tg.source.snapshot(self.serial)
        pkg = snap.package(self.package) if snap is not None else None
        info = self.query_one("#app-info", Static)
        self._fill_history()
        if snap is None or pkg is None:
            info.update(Text(f"{printable(self.package)}: not on the phone any more"))
            for name in ("#perms", "#ops"):
                self.query_one(name, Table).fill([])
            return
        info.update(self._info(snap, pkg))
        rows: list[Row] = []
        for grant in snap.runtime_grants(pkg, self.user):
            if grant.flags & USER_FLAGS:
                who = Text("you")
            elif grant.flags & PLATFORM_FLAGS:
                who = Text("the platform")
            else:
                who = Text("no consent", style="bold red") if grant.granted else Text("")
            cells = (
                safe(grant.name.removeprefix("android.permission.")),
                "yes" if grant.granted else "no",
                who,
                SENSITIVE_PERMISSIONS.get(grant.name, ""),
            )
            rows.append((grant.name, cells))
        self.query_one("#perms", Table).fill(rows)
        self.query_one("#ops", Table).fill(
            [
                (
                    entry.op,
                    (
                        safe(entry.op),
                        Text(entry.mode, style="bold" if entry.mode == "allow" else "dim"),
                        _last_access(entry),
                        Text("in use", style="bold red") if entry.running else "",
                    ),
                )
                for entry in _ops_of(snap, pkg, self.user)
                if entry.scope == "package"
            ]
        )

    def _info(self, snap: Snapshot, pkg: PackageInfo) -> Text:
        state = pkg.user(self.user)
        label = snap.labels.get(pkg.name)
        words = [
            "installed" if state and state.installed else "not installed for this user",
            "disabled" if state and state.enabled in (2, 3, 4) else "",
            "hidden" if state and state.hidden else "",
            "suspended" if state and state.suspended else "",
            "stopped" if state and state.stopped else "",
            "system app" if pkg.system else "",
        ]
        text = Text()
        text.append(printable(self.package), style="bold")
        if label:
            text.append(f"  “{printable(label, 60)}”")
        text.append(
            f"  version {printable(pkg.version_name or '?', 40)} ({pkg.version_code})"
            f"  target SDK {pkg.target_sdk or '?'}  {', '.join(w for w in words if w)}"
        )
        source = [f"installed by {printable(pkg.installer or 'nobody recorded', 60)}"]
        for what, who in (
            ("initiated by", pkg.initiating_installer),
            ("originating", pkg.originating_installer),
            ("update owner", pkg.update_owner),
        ):
            if who and who != pkg.installer:
                source.append(f"{what} {printable(who, 60)}")
        first = state.first_install_time if state and state.first_install_time else None
        first = first or pkg.first_install_time
        if first:
            source.append(f"first installed {printable(first, 24)}")
        if pkg.last_update_time:
            source.append(f"updated {printable(pkg.last_update_time, 24)}")
        text.append("\n" + ", ".join(source))
        signer = (pkg.signing_digests or pkg.signature_hashes or (pkg.signatures or "",))[0]
        text.append(f"\nsigner {printable(signer, 72) or 'not shown by this phone'}")
        if pkg.past_signature_hashes:
            text.append(f" (signed by {len(pkg.past_signature_hashes)} other key(s) before)")
        caps = self.tg.capabilities.get(self.serial, {})
        blocked = sorted(k for k, c in caps.items() if not c.available)
        if blocked:
            why = next((c.note for c in caps.values() if not c.available and c.note), "")
            text.append(
                f"\nNot on this phone: {', '.join(blocked)} ({printable(why, 200)})", style="yellow"
            )
        return text

    def _fill_history(self) -> None:
        self._history = self.tg.source.history(self.serial, self.package, 200)
        self.query_one("#activity", Table).fill(
            [
                (
                    e.id,
                    (
                        _when(e.ts),
                        e.kind,
                        safe(_what(e)),
                        _consent(e),
                        _fix_words(remedy(e)) if e.finding else "",
                    ),
                )
                for e in self._history
                if e.user in (None, self.user)
            ]
        )
        rows: list[Row] = []
        for caller, callee, n in self.tg.source.start_graph(self.serial):
            if callee == self.package:
                rows.append((f"<{caller}", ("started by", safe(caller), str(n))))
            elif caller == self.package:
                rows.append((f">{callee}", ("started", safe(callee), str(n))))
        self.query_one("#app-starts", Table).fill(rows)

    def _tab(self) -> str:
        return self.query_one("#app-tabs", TabbedContent).active

    def _act(self, kind: str, finding: Event | None = None, **extra: Any) -> None:
        action = Action(kind, self.package, self.user, **extra)  # type: ignore[arg-type]
        self.tg.confirm(self.serial, action, finding=finding)

    def _take_or_give(self, take: bool) -> None:
        """``r``/``g`` on the row in view: a permission is revoked/granted, an app op set to
        ignore/allow, an event's remedy applied."""
        tab = self._tab()
        if tab == "tab-perms":
            permission = self.query_one("#perms", Table).selected
            if permission is not None:
                self._act("revoke" if take else "grant", permission=permission)
        elif tab == "tab-ops":
            op = self.query_one("#ops", Table).selected
            if op is not None:
                self._act("appop", op=op, mode="ignore" if take else "allow")
        elif tab == "tab-activity" and take:
            key = self.query_one("#activity", Table).selected
            event = next((e for e in self._history if e.id == key), None)
            fix = remedy(event) if event is not None else None
            if event is None or fix is None:
                self.notify("nothing to undo on this row", severity="warning")
            else:
                self.tg.confirm(self.serial, fix, finding=event if event.finding else None)
        elif tab == "tab-app-starts" and take:
            self._act("restrict")

    def action_revoke(self) -> None:
        self._take_or_give(take=True)

    def action_grant(self) -> None:
        self._take_or_give(take=False)

    def action_restrict(self) -> None:
        self._act("restrict")

    def action_unrestrict(self) -> None:
        self._act("unrestrict")

    def action_force_stop(self) -> None:
        self._act("force_stop")

    def action_disable(self) -> None:
        self._act("disable")

    def action_enable(self) -> None:
        self._act("enable")

    def action_uninstall(self) -> None:
        self._act("uninstall")

    def action_restore(self) -> None:
        self._act("restore")

    def action_alerts(self) -> None:
        self.tg.action_alerts()


# --------------------------------------------------------------------------- alerts
class AlertsScreen(TgScreen):
    """Findings without consent, newest first: act on one (or on every marked one) with one
    key, accept into the baseline, or dismiss."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "remedy", "Act (revoke ...)"),
        Binding("A", "accept", "Accept into baseline"),
        Binding("x", "dismiss_finding", "Dismiss"),
        Binding("space", "mark", "Mark"),
        Binding("M", "mark_all", "Mark all/none"),
        Binding("enter", "open", "Open app", show=False),
    ]

    refresh_every = 2.0  # newest first: every new finding moves every row

    def __init__(self) -> None:
        super().__init__()
        self.marked: set[str] = set()
        self.shown_ids: tuple[str, ...] = ()
        self.total = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="alerts-summary")
        yield Table(id="alerts", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#alerts", Table).add_columns(
            "", "Time", "Device", "Kind", "App", "What", "Severity", "One key"
        )
        self.refresh_data()
        self.query_one("#alerts", Table).focus()
        self.ready = True

    def refresh_data(self) -> None:
        everything = self.tg.model.open_findings()
        findings = everything[:INBOX_ROWS]
        self.total = len(everything)
        self.shown_ids = tuple(e.id for e in findings)
        self.marked &= set(self.shown_ids)
        self.query_one("#alerts", Table).fill(
            [
                (
                    e.id,
                    (
                        MARK if e.id in self.marked else "",
                        _when(e.ts),
                        safe(e.serial, 24),
                        e.kind,
                        safe(e.package or "-"),
                        safe(_what(e)),
                        Text(
                            e.severity.value, style="bold red" if e.severity.value == "high" else ""
                        ),
                        _fix_words(remedy(e)),
                    ),
                )
                for e in findings
            ]
        )
        self._summary()

    def _summary(self) -> None:
        summary = f"{self.total} open finding(s)"
        if self.total > len(self.shown_ids):
            summary += f" (the newest {INBOX_ROWS} shown)"
        if self.marked:
            summary += f", {len(self.marked)} marked: r, A and x act on the marked ones"
        self.query_one("#alerts-summary", Static).update(summary)

    def _chosen(self) -> list[Event]:
        """The marked findings, or the one under the cursor when none is marked."""
        key = self.query_one("#alerts", Table).selected
        wanted = self.marked or ({key} if key is not None else set())
        return [e for e in self.tg.model.open_findings() if e.id in wanted]

    def action_mark(self) -> None:
        table = self.query_one("#alerts", Table)
        key = table.selected
        if key is None:
            return
        self.marked ^= {key}
        self._show_marks()
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_mark_all(self) -> None:
        self.marked = set() if self.marked else set(self.shown_ids)
        self._show_marks()

    def _show_marks(self) -> None:
        """Only the mark column changes: the rows stay where they are under the cursor."""
        table = self.query_one("#alerts", Table)
        table.fill(
            [
                (key, (MARK if key in self.marked else "", *cells))
                for key, (_, *cells) in table.rows_shown
            ]
        )
        self._summary()

    def action_remedy(self) -> None:
        chosen = self._chosen()
        plans: list[tuple[str, Action, Event | None]] = [
            (e.serial, fix, e) for e in chosen if (fix := remedy(e)) is not None
        ]
        if not plans:
            self.notify("no action undoes this finding", severity="warning")
            return
        if len(plans) < len(chosen):
            self.notify(
                f"{len(chosen) - len(plans)} marked finding(s) have no one-key action",
                severity="warning",
            )
        self.marked.clear()
        if len(plans) == 1:
            serial, fix, finding = plans[0]
            self.tg.confirm(serial, fix, finding=finding)
        else:
            self.tg.confirm_many(plans)

    def action_accept(self) -> None:
        for event in self._chosen():
            self.tg.accept(event)
        self.marked.clear()
        self.redraw(force=True)

    def action_dismiss_finding(self) -> None:
        for event in self._chosen():
            self.tg.model.dismiss(event)
        self.marked.clear()
        self.redraw(force=True)

    def action_open(self) -> None:
        key = self.query_one("#alerts", Table).selected
        event = next((e for e in self.tg.model.open_findings() if e.id == key), None)
        if event is not None and event.package:
            self.app.push_screen(AppScreen(event.serial, event.package, event.user or 0))


# --------------------------------------------------------------------------- confirm
UNDO: Final = {
    "revoke": "yes: grants it back",
    "grant": "yes: revokes it again",
    "appop": "yes: puts the previous mode back",
    "restrict": "yes: allows background running again",
    "unrestrict": "yes: restricts it again",
    "disable": "yes: enables it again",
    "enable": "yes: disables it again",
    "uninstall": "yes: restores it (its data was kept)",
    "restore": "yes: uninstalls it again",
}
"""Whether (and how) ``z`` puts each kind of action back; anything else cannot be undone."""

Plan = tuple[str, Action, Outcome]
"""A phone's serial, the action, and its dry run (the commands that will run)."""


class ConfirmScreen(ModalScreen[bool]):
    """Exactly what will happen, and whether it can be undone, before anything does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes, do it"),
        Binding("enter", "confirm", "Yes", show=False),
        Binding("n", "cancel", "No"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    def __init__(self, plans: Sequence[Plan]) -> None:
        super().__init__()
        self.plans = list(plans)

    def compose(self) -> ComposeResult:
        text = Text()
        if len(self.plans) > 1:
            text.append(f"{len(self.plans)} actions, one after the other:\n\n", style="bold")
        for serial, action, preview in self.plans[:CONFIRM_SHOWN]:
            what = printable(action.describe())
            text.append(what[:1].upper() + what[1:], style="bold")
            text.append("\non ")
            text.append(printable(serial), style="bold")
            text.append("\nRuns:\n")
            for command in preview.commands:
                text.append(f"  adb shell {printable(command, 300)}\n", style="dim")
            text.append(f"Can be undone: {UNDO.get(action.kind, 'no')}\n\n")
        if len(self.plans) > CONFIRM_SHOWN:
            text.append(f"... and {len(self.plans) - CONFIRM_SHOWN} more like these\n\n")
        text.append("y", style="bold")
        text.append(" does it, " if len(self.plans) == 1 else " does them all, ")
        text.append("n", style="bold")
        text.append(" cancels.")
        with VerticalScroll(id="confirm-box"):
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

- **Fleet**: Enter opens a phone, **a** the alerts inbox, **h** every host's phones (with
  `tui --fleet URL`: the fleet database).
- Screens with tabs: **]** and **[** switch them (or **1** to **5**; or click).
- **Device**: tabs Apps, Live, Events, Starts, Admins; **/** filters the apps (fuzzy), **o**
  sorts them (or click a column's header), Enter opens an app. **r** acts on the selected row:
  a use in progress or a finding is undone, a start restricts the started app, an admin is
  removed.
- **App**: tabs Permissions, App ops, Activity, Starts. **r** takes away what the row shows
  (revoke the permission, set the app op to ignore, undo the event), **g** gives it back
  (grant, allow); **b** restricts background running (**B** allows it), **k** force-stops,
  **d** disables (**e** enables), **u** uninstalls (keeps data), **s** restores.
- **Alerts**: **r** the one-key remedy for the selected finding, **A** accept it into the
  baseline, **x** dismiss, Enter opens the app. **Space** marks findings (**M** marks all):
  then **r**, **A** and **x** act on every marked one, with one confirmation.

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
    "HostsScreen",
    "RefusedScreen",
]
