"""Alerts: tell people about findings - through apprise and on the phone itself - without ever
slowing detection down, and without losing track of an alert that could not be delivered.

Owns what happens to an event once the engine has recorded and published it:

* which events are worth an alert (a finding, or a sensitive use such as the microphone in the
  background, at least ``min_severity``) and to which targets they go (routes: kinds and
  severities -> apprise tags; untagged targets get every alert; the phone the event is about,
  when ``on_device``);
* the message, in tetherguard's own words, with every string that came from the phone (labels,
  package names, model, serial, permission names) escaped for the target's format: plain text
  goes through :func:`~agent.textsafe.printable`, Markdown and HTML targets additionally get
  their markup escaped. A hostile app controls its label; it must not be able to forge a link,
  recolour a terminal or reorder the text of an alert. Titles hold our words only, because
  apprise passes a title through unconverted and some services render it as markup;
* rate limit and quiet hours: one alert per (device, package, kind and op) per ``window_s``,
  then one summary "N more ... in the last X min"; below ``high``, alerts in quiet hours are
  held and summarised when they end;
* delivery: apprise's ``notify`` per target, retried with exponential backoff; on Android 10+
  a visible notification through ``cmd notification post`` (best effort: silently skipped on
  Android 9 or when the phone cannot post one);
* the record: every outcome goes to the store's ``deliveries`` table (delivered, failed,
  pending a retry, suppressed, held), so when a notifier is down the store still says which
  events reached nobody.

Why a thread and a bounded queue: the engine calls subscribers from its device workers, and a
notifier can hang for seconds (a dead mail server, a slow webhook). :meth:`Alerter.__call__`
only puts the event in a queue and returns; if the queue is full the event is counted as not
alerted (and recorded as such) - it is in the store either way. One worker thread does
everything else, so the rate-limit state needs no locks, and retries wait in a timer heap
rather than in ``sleep``, so one dead target does not hold up the others.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import heapq
import html
import itertools
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

import apprise
from apprise.common import MATCH_ALL_TAG

from agent.adb import AdbClient, AdbError
from agent.config import (
    SEVERITY_RANK,
    AlertsConfig,
    AlertTarget,
    QuietHours,
    scrub,
    secrets_of,
)
from agent.events import KINDS, Event, Severity
from agent.store import DeliveryRecord, DeliveryStatus, Store, StoreError
from agent.textsafe import printable

__all__ = [
    "SENSITIVE_KINDS",
    "AlertCounters",
    "Alerter",
    "Message",
    "TestResult",
    "TextFormat",
    "describe",
    "render",
    "send_test",
]

log = logging.getLogger(__name__)

SENSITIVE_KINDS: Final = frozenset({"sensitive_use_started"})
"""Kinds alerted even when consented (the owner wants to know the mic is on), if severe enough;
a use's end (``sensitive_use_stopped``) is recorded, not alerted."""
ON_DEVICE_MIN_SDK: Final = 29
"""``cmd notification post`` exists from Android 10 (shared/docs/android-packages-installs.md
§7)."""
DEVICE_TITLE_MAX: Final = 64
DEVICE_TEXT_MAX: Final = 240
"""A notification shows a line or two; the cap also bounds the shell command we send."""
PART_MAX: Final = 120
"""Longest device string shown in an alert (a 10 KB label must not become a 10 KB e-mail)."""
_HELD_LINES: Final = 10
"""Lines listed in a quiet-hours summary; the rest are counted."""
_RESEND_ONE_BY_ONE: Final = 3
"""After a restart, up to this many undelivered alerts per target are sent as they were; more
become one summary."""


class TextFormat(StrEnum):
    """What a target renders: apprise's ``NotifyFormat`` values."""

    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"


# --------------------------------------------------------------------------- messages
class Dev(str):
    """Text that came from a device: shown only after escaping for the target."""


Part = str | Dev
Line = tuple[Part, ...]


@dataclass(frozen=True)
class Message:
    """An alert before it is rendered for one target."""

    title: str
    """tetherguard's own words only (no device string): see the module docstring."""
    lines: tuple[Line, ...]
    """The body; parts that are :class:`Dev` are escaped when rendered."""
    severity: Severity = Severity.MEDIUM
    tag: str = "tetherguard"
    """The on-device notification tag: a later alert (or summary) with the same tag replaces
    the earlier one instead of piling up."""


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
"""Every ASCII punctuation character: CommonMark lets each be backslash-escaped, and escaping
them all leaves no emphasis, link, autolink, HTML or code span to open."""


def _escape(text: str, fmt: TextFormat, cap: int | None = PART_MAX) -> str:
    shown = printable(text, cap)
    if fmt is TextFormat.HTML:
        return html.escape(shown, quote=True)
    if fmt is TextFormat.MARKDOWN:
        return _MD_SPECIAL.sub(r"\\\1", shown)
    return shown


def render_line(line: Line, fmt: TextFormat) -> str:
    """One line: our words as written, device strings escaped for ``fmt``."""
    return "".join(_escape(p, fmt) if isinstance(p, Dev) else p for p in line)


def render(message: Message, fmt: TextFormat) -> str:
    """The body of ``message`` for a target that renders ``fmt``."""
    lines = [render_line(line, fmt) for line in message.lines]
    if fmt is TextFormat.HTML:
        return "<br>\n".join(lines)
    if fmt is TextFormat.MARKDOWN:
        return "  \n".join(lines)  # two spaces: a hard line break in CommonMark
    return "\n".join(lines)


_OPS: Final = {
    "RECORD_AUDIO": "Microphone",
    "CAMERA": "Camera",
    "FINE_LOCATION": "Location",
    "COARSE_LOCATION": "Location",
    "MONITOR_LOCATION": "Location",
    "MONITOR_HIGH_POWER_LOCATION": "Location",
    "READ_CLIPBOARD": "Clipboard",
    "READ_CONTACTS": "Contacts",
    "WRITE_CONTACTS": "Contacts",
    "READ_CALL_LOG": "Call log",
    "READ_SMS": "SMS",
    "RECEIVE_SMS": "SMS",
    "READ_PHONE_STATE": "Phone state",
    "BODY_SENSORS": "Body sensors",
    "READ_CALENDAR": "Calendar",
}
"""App-op names (as AppOpsManager prints them) -> what the owner calls the thing."""

_TITLES: Final = {
    "permission_granted": "Permission granted",
    "permission_revoked": "Permission revoked",
    "permission_flags_changed": "Permission flags changed",
    "install_permissions_changed": "Install-time permissions changed",
    "appop_changed": "App op changed",
    "package_installed": "App installed",
    "package_updated": "App updated",
    "package_removed": "App removed",
    "package_disabled": "App disabled",
    "package_enabled": "App enabled",
    "package_hidden": "App hidden",
    "silent_install": "Silent install",
    "bundled_install": "Bundled install",
    "hot_update": "Hot update",
    "signer_changed": "App signature changed",
    "hidden_app": "Hidden app",
    "device_admin": "Device admin",
    "device_state": "Device state",
    "sensitive_use_started": "Sensitive data used",
    "sensitive_use_stopped": "Sensitive use ended",
    "autostart": "App started itself",
    "associated_start": "App started by another app",
}


def _op_name(op: object) -> str | None:
    if not isinstance(op, str):
        return None
    return _OPS.get(op.removeprefix("android:").upper())


def _app(event: Event, label: str | None) -> Line:
    if event.package is None:
        return ("an app",)
    if label and label.strip():
        return (Dev(label), " (", Dev(event.package), ")")
    return (Dev(event.package),)


def _headline(event: Event, label: str | None, model: str | None) -> tuple[str, Line]:
    """(title, first line) of the alert for ``event``."""
    app = _app(event, label)
    where: Line = (" on ", Dev(model or event.serial))
    detail = event.detail
    unconsented = " without consent" if event.finding else ""
    if event.kind in SENSITIVE_KINDS:
        thing = _op_name(detail.get("op"))
        fg = detail.get("foreground")
        place = " in the background" if fg is False else " in the foreground" if fg else ""
        if thing is None:
            op = detail.get("op")
            what: Line = ("Sensitive data (", Dev(str(op)), ")") if op else ("Sensitive data",)
            return f"Sensitive data used{place}", (*what, " used by ", *app, place, *where)
        return f"{thing} used{place}", (thing, " used by ", *app, place, *where)
    if event.kind == "permission_granted" and detail.get("permission"):
        perm = str(detail["permission"])
        return (
            f"Permission granted{unconsented}",
            ("Permission ", Dev(perm), " granted to ", *app, unconsented, *where),
        )
    if event.kind == "appop_changed" and detail.get("op"):
        op, mode = str(detail["op"]), str(detail.get("mode") or "?")
        return (
            f"App op changed{unconsented}",
            ("App op ", Dev(op), " set to ", Dev(mode), " for ", *app, unconsented, *where),
        )
    title = _TITLES.get(event.kind) or (
        event.kind.replace("_", " ").capitalize() if event.kind in KINDS else "Event"
    )
    return title, (title, ": ", *app, *where)


def _key(event: Event) -> str:
    """The rate-limit key: device, package, kind, and the op or permission when there is one
    (the microphone and the camera of one app are two alerts, not one)."""
    what = event.detail.get("op") or event.detail.get("permission") or ""
    return "\x1f".join((event.serial, event.package or "", event.kind, str(what)))


def _device_tag(key: str) -> str:
    # The tag is a shell word and shows in `cmd notification list`: a hash, never device text.
    return "tg-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def describe(event: Event, label: str | None = None, model: str | None = None) -> Message:
    """The alert for ``event``: a title in our own words, and body lines in which every
    device string is a :class:`Dev` part.

    Args:
        event: what happened.
        label: the app's label, when known (shown with its package name).
        model: the device's model, when known (else its serial).
    """
    title, headline = _headline(event, label, model)
    device: Line = ("Device: ", Dev(model or "unknown model"), " (", Dev(event.serial), ")")
    if event.user is not None:
        device += (f", user {event.user}",)
    verdict: Line = (
        f"Severity: {event.severity.value}; consent: {event.consent.value}",
        *(("; ", Dev(event.clause)) if event.clause else ()),
    )
    shown = {"op", "permission", "foreground", "mode", "event"}
    facts = [
        f"{k}={v}"
        for k, v in sorted(event.detail.items())
        if k not in shown and isinstance(v, str | int | float | bool) and v not in ("", None)
    ]
    lines: list[Line] = [headline, device, verdict]
    if facts:
        lines.append(("Details: ", Dev(", ".join(facts))))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.ts))
    lines.append((f"Seen {stamp}; event ", Dev(event.id)))
    if event.finding:
        lines.append(("If this was you: tetherguard baseline accept --event ", Dev(event.id)))
    return Message(
        title=f"tetherguard: {title}",
        lines=tuple(lines),
        severity=event.severity,
        tag=_device_tag(_key(event)),
    )


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} min"


def _rate_summary(items: Sequence[tuple[Event, Message]], window_s: float) -> Message:
    last_event, last = items[-1]
    n = len(items)
    return Message(
        title=f"tetherguard: {n} more alert{'s' if n != 1 else ''} of the same kind",
        lines=(
            (f"{n} more in the last {_minutes(window_s)}: ", *last.lines[0]),
            *last.lines[1:2],
            ("See them: tetherguard events --since 1h --serial ", Dev(last_event.serial)),
        ),
        severity=max((e.severity for e, _ in items), key=SEVERITY_RANK.__getitem__),
        tag=last.tag,
    )


def _held_summary(items: Sequence[tuple[Event, Message]], quiet: QuietHours) -> Message:
    groups: dict[str, list[tuple[Event, Message]]] = {}
    for event, message in items:
        groups.setdefault(_key(event), []).append((event, message))
    n = len(items)
    lines: list[Line] = [(f"{n} alert{'s' if n != 1 else ''} held during quiet hours ({quiet}):",)]
    for group in list(groups.values())[:_HELD_LINES]:
        count = f"{len(group)}x " if len(group) > 1 else ""
        lines.append(("- ", count, *group[-1][1].lines[0]))
    if len(groups) > _HELD_LINES:
        lines.append((f"... and {len(groups) - _HELD_LINES} more kinds of alert",))
    lines.append(("See them: tetherguard events --since 12h",))
    title = f"tetherguard: {n} alert{'s' if n != 1 else ''} held during quiet hours"
    return _summary(title, lines, items, "tg-quiet-hours")


def _summary(
    title: str, lines: list[Line], items: Sequence[tuple[Event, Message]], tag: str
) -> Message:
    """A message that speaks for several alerts: as severe as the most severe of them."""
    return Message(
        title=title,
        lines=tuple(lines),
        severity=max((e.severity for e, _ in items), key=SEVERITY_RANK.__getitem__),
        tag=tag,
    )


def _resend_summary(items: Sequence[tuple[Event, Message]]) -> Message:
    n = len(items)
    lines: list[Line] = [(f"{n} alerts could not be delivered before tetherguard restarted:",)]
    for _, message in items[-_HELD_LINES:]:
        lines.append(("- ", *message.lines[0]))
    if n > _HELD_LINES:
        lines.append((f"... and {n - _HELD_LINES} earlier",))
    lines.append(("See them: tetherguard events --since 24h",))
    return _summary(f"tetherguard: {n} undelivered alerts", lines, items, "tg-undelivered")


# --------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Outcome:
    """How one attempt at one target went."""

    ok: bool
    reason: str = ""
    """Why not (already free of secrets and device control characters)."""
    unavailable: bool = False
    """The target cannot take this at all (a phone without ``cmd notification post``):
    no retry, nothing logged above debug."""


class Channel(Protocol):
    """Somewhere alerts go."""

    @property
    def name(self) -> str:
        """As shown to people and in the store: never a secret."""
        ...

    def send(self, message: Message, tags: frozenset[str]) -> Outcome: ...


_NOTIFY_TYPES: Final = {
    Severity.HIGH: apprise.NotifyType.FAILURE,
    Severity.MEDIUM: apprise.NotifyType.WARNING,
}
_NOMATCH: Final = 3
"""``AppriseResultStatus.NOMATCH`` (apprise 2): no service matched the tags."""


def _asset() -> apprise.AppriseAsset:
    return apprise.AppriseAsset(app_id="tetherguard", app_desc="tetherguard")


class AppriseChannel:
    """One configured apprise URL, in its own :class:`apprise.Apprise` so that each target's
    outcome is known (and retried) on its own."""

    def __init__(self, target: AlertTarget) -> None:
        self.target = target
        self._secrets = secrets_of(target.url)
        self._apprise = apprise.Apprise(asset=_asset())
        if not self._apprise.add(target.url, tag=sorted(target.tags) or None):
            # load_config already checked the URL with apprise; this is a safety net.
            raise ValueError(f"{target.key}: apprise cannot use {target.name}")
        self.format = _format_of(self._apprise[0])

    @property
    def name(self) -> str:
        return self.target.name

    def send(self, message: Message, tags: frozenset[str]) -> Outcome:
        # Rendered in the format the service declares, and announced as such, so apprise
        # sends our escaped text as is instead of converting (and unescaping) it.
        body = render(message, self.format)
        tag: Any = sorted(tags & self.target.tags) if self.target.tags else MATCH_ALL_TAG
        try:
            result: object = self._apprise.notify(
                body=body,
                title=message.title,
                notify_type=_NOTIFY_TYPES.get(message.severity, apprise.NotifyType.INFO),
                body_format=self.format.value,
                tag=tag,
            )
        except Exception as exc:  # a plugin bug must cost one alert, not the alert thread
            return Outcome(False, self._clean(f"{type(exc).__name__}: {exc}"))
        status = getattr(result, "status", None)
        if result is None or (status is not None and int(status) == _NOMATCH):
            return Outcome(False, "apprise matched no service for these tags")
        if bool(result):
            return Outcome(True)
        return Outcome(False, self._clean(_apprise_reason(result)))

    def _clean(self, text: str) -> str:
        return printable(scrub(text, self._secrets), 300)


def _format_of(plugin: Any) -> TextFormat:
    """The format a loaded apprise service renders (apprise 2 plugins may declare several and
    pick one per send; text is our choice when they do, unless the URL asked for another)."""
    fmt: Any
    resolve = getattr(plugin, "resolve_format", None)
    if callable(resolve):
        fmt = resolve(apprise.NotifyFormat.TEXT)
    else:
        fmt = getattr(plugin, "notify_format", "text")
    value = str(getattr(fmt, "value", fmt)).lower()
    try:
        return TextFormat(value)
    except ValueError:
        return TextFormat.TEXT


def _apprise_reason(result: object) -> str:
    """The last warning or error apprise logged for this call (apprise 2 keeps them on the
    result; the secret filter of agent.config already ran over them)."""
    logs = getattr(result, "logs", None)
    if callable(logs):
        with contextlib.suppress(Exception):
            said = [
                str(getattr(e, "message", ""))
                for e in logs()
                if str(getattr(e, "level", "")).upper() in ("WARNING", "ERROR", "CRITICAL")
            ]
            if said:
                return said[-1]
    return "the notifier reported a failure"


class DeviceChannel:
    """A visible notification on the phone the event is about: ``cmd notification post``
    (Android 10+), posted as ``com.android.shell``. Best effort: where it cannot be posted
    (Android 9, a phone gone offline, a shell that refuses) the outcome is ``unavailable``."""

    def __init__(self, client: AdbClient, serial: str, sdk: int | None = None) -> None:
        self.client = client
        self.serial = serial
        self.sdk = sdk
        self.name = f"device:{printable(serial, 64)}"

    def send(self, message: Message, tags: frozenset[str]) -> Outcome:
        if self.sdk is not None and self.sdk < ON_DEVICE_MIN_SDK:
            return Outcome(False, f"Android API {self.sdk} has no cmd notification post", True)
        title = _device_text(message.title.removeprefix("tetherguard: "), DEVICE_TITLE_MAX)
        text = _device_text(render_line(message.lines[0], TextFormat.TEXT), DEVICE_TEXT_MAX)
        try:
            # Each word is quoted by the adb layer; the text is printable and capped, and it
            # follows the tag, so a leading '-' cannot be read as an option.
            result = self.client.link(self.serial).shell(
                ["cmd", "notification", "post", "-t", title, message.tag, text], timeout=10.0
            )
        except AdbError as exc:
            return Outcome(False, printable(str(exc), 300), True)
        said = result.stdout.strip()
        # NotificationShellCmd reports its own errors on stdout with status 0.
        if not result.ok or said.startswith(("Error occurred", "Unknown command", "usage:")):
            first = said.splitlines()[0] if said else f"exit status {result.exit_code}"
            return Outcome(False, printable(first, 200), True)
        return Outcome(True)


def _device_text(text: str, cap: int) -> str:
    # Already printable (no control or bidi characters); cap once more for the whole line.
    shown = printable(text, None)
    return shown if len(shown) <= cap else shown[: cap - 1] + "…"


# --------------------------------------------------------------------------- device facts
class Facts(Protocol):
    """What the alerter looks up about a device to word an alert."""

    def model(self, serial: str) -> str | None: ...

    def sdk(self, serial: str) -> int | None: ...

    def label(self, serial: str, package: str) -> str | None: ...


class StoreFacts:
    """Device facts from the store (the devices table, the latest snapshot's labels), cached
    for ``ttl`` seconds: an alert burst must not decode a snapshot per alert."""

    def __init__(self, store: Store | None, ttl: float = 60.0) -> None:
        self.store = store
        self.ttl = ttl
        self._devices: tuple[float, dict[str, tuple[str | None, int | None]]] | None = None
        self._labels: dict[str, tuple[float, dict[str, str]]] = {}

    def _device(self, serial: str) -> tuple[str | None, int | None]:
        now = time.monotonic()
        if self.store is None:
            return None, None
        known = self._devices[1].get(serial) if self._devices is not None else None
        stale = self._devices is None or now - self._devices[0] > self.ttl
        # A device first seen by the hot-plug tracker has no props yet: look again until its
        # API level is known, which decides whether a notification can be posted at all.
        if stale or known is None or known[1] is None:
            try:
                found = {d.serial: (d.model, d.sdk) for d in self.store.devices()}
            except StoreError:
                found = {}
            self._devices = (now, found)
        assert self._devices is not None
        return self._devices[1].get(serial, (None, None))

    def model(self, serial: str) -> str | None:
        return self._device(serial)[0]

    def sdk(self, serial: str) -> int | None:
        return self._device(serial)[1]

    def label(self, serial: str, package: str) -> str | None:
        if self.store is None:
            return None
        now = time.monotonic()
        cached = self._labels.get(serial)
        if cached is None or now - cached[0] > self.ttl:
            try:
                snap = self.store.load_snapshot(serial)
            except StoreError:
                snap = None
            cached = (now, dict(snap.labels) if snap is not None else {})
            self._labels[serial] = cached
        return cached[1].get(package)


# --------------------------------------------------------------------------- the alerter
@dataclass(frozen=True)
class AlertCounters:
    """What the alerter did so far.

    ``sent`` and ``failed`` count messages per target (an alert to two targets counts twice;
    ``failed`` only once retries are exhausted); ``suppressed``, ``held`` and ``dropped``
    count events. ``unavailable`` counts phones that could not show a notification.
    """

    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    held: int = 0
    dropped: int = 0
    """Events not alerted because the queue was full (or the alerter closed)."""
    unavailable: int = 0


Routed = list[tuple[Channel, frozenset[str]]]
"""The targets an event goes to, each with the route tags that sent it there."""


@dataclass
class _Window:
    """A rate-limit window: opened by the alert that was sent, collecting the ones that
    were not, for the summary when it ends."""

    start: float
    suppressed: list[tuple[Event, Message, Routed]] = field(default_factory=list)


@dataclass
class _Delivery:
    """One message for one target, with the events it speaks for."""

    channel: Channel
    message: Message
    tags: frozenset[str]
    covers: tuple[str, ...]
    success: DeliveryStatus = "delivered"
    """Status of the covered events once sent (a rate-limit summary leaves its events
    ``suppressed``: they were counted, not shown one by one)."""
    note: str | None = None
    attempts: int = 0
    reason: str | None = None
    """Why the last attempt failed (kept on record when tetherguard stops before the retry)."""


@dataclass
class _Sync:
    done: threading.Event = field(default_factory=threading.Event)


_STOP: Final = object()


class Alerter:
    """Delivers alerts for the events it is called with; see the module docstring.

    Use::

        alerter = Alerter(config.alerts, store, client=engine.client)
        engine.subscribe(alerter)     # a plain callable taking an Event; never blocks
        alerter.start()
        ...
        alerter.close()               # drains the queue, with a timeout

    Args:
        config: the ``[alerts]`` settings.
        store: where delivery outcomes are recorded (and device facts read); ``None`` records
            nothing.
        client: the adb server, for notifications on the phones (``None``: none are posted).
        clock: epoch seconds (rate-limit windows, quiet hours, retries; tests pass a fake).
        localtime: epoch -> local time, for quiet hours (tests pin a time zone with it).
        facts: device model, API level and app labels (default: from ``store``).
        tick_s: longest the worker sleeps between two looks at its timers.
        channels: the apprise targets (default: one per configured URL); tests pass their own.
    """

    def __init__(
        self,
        config: AlertsConfig,
        store: Store | None = None,
        *,
        client: AdbClient | None = None,
        clock: Callable[[], float] = time.time,
        localtime: Callable[[float], time.struct_time] = time.localtime,
        facts: Facts | None = None,
        tick_s: float = 1.0,
        channels: Sequence[tuple[Channel, frozenset[str]]] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.client = client
        self._clock = clock
        self._localtime = localtime
        self._facts: Facts = facts if facts is not None else StoreFacts(store)
        self._tick = tick_s
        if channels is None:
            channels = [(AppriseChannel(t), t.tags) for t in config.targets]
        self._targets: Routed = list(channels)
        self._devices: dict[str, DeviceChannel] = {}
        self._queue: queue.Queue[object] = queue.Queue(maxsize=config.queue_size)
        self._dropped_events: collections.deque[Event] = collections.deque(maxlen=10_000)
        self._counts: collections.Counter[str] = collections.Counter()
        self._count_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._deadline = float("inf")
        # Worker-thread state: touched by the worker only, so no lock.
        self._windows: dict[str, _Window] = {}
        self._held: list[tuple[Event, Message, Routed]] = []
        self._retries: list[tuple[float, int, _Delivery]] = []
        self._seq = itertools.count()
        # Targets whose last attempt failed: their first failure is said at WARNING (a user
        # watching stderr must learn the target is down), the retries after it at INFO.
        self._failing: set[str] = set()

    # ---------------------------------------------------------------- public face
    def __call__(self, event: Event) -> None:
        """Take an event (from any thread). Never blocks: it is queued or counted as dropped."""
        if not self.qualifies(event):
            return
        if self._closed.is_set():
            self._bump("dropped")
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._bump("dropped")
            self._dropped_events.append(event)

    def qualifies(self, event: Event) -> bool:
        """Whether ``event`` is worth an alert at all (before routing)."""
        if not (event.finding or event.kind in SENSITIVE_KINDS):
            return False
        return SEVERITY_RANK[event.severity] >= SEVERITY_RANK[self.config.min_severity]

    def start(self) -> Alerter:
        """Start the delivery thread (idempotent); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
            self._thread.start()
        return self

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was handled and the timers were looked at
        (with a fake clock: after moving it). False on timeout."""
        sync = _Sync()
        try:
            self._queue.put(sync, timeout=timeout)
        except queue.Full:
            return False
        return sync.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop taking events, deliver what is queued and the pending rate-limit summaries
        (one attempt each, within ``timeout`` seconds), record retries still pending as
        failed, and stop the thread. Returns whether it all finished in time; what did not
        is in the store (events, and their ``held``/``suppressed``/``pending`` deliveries)."""
        self._closed.set()
        if self._thread is None:
            return True
        self._deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(max(0.0, self._deadline - time.monotonic()))
        if self._thread.is_alive():
            log.warning(
                "alerts: gave up waiting after %g s; %d queued alert(s) not sent",
                timeout,
                self._queue.qsize(),
            )
            return False
        return True

    def __enter__(self) -> Alerter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def counters(self) -> AlertCounters:
        with self._count_lock:
            counts = dict(self._counts)
        return AlertCounters(**counts)

    # ---------------------------------------------------------------- worker
    def _bump(self, name: str, n: int = 1) -> None:
        with self._count_lock:
            self._counts[name] += n

    def _run(self) -> None:
        try:
            self._resume()
        except Exception:
            log.exception("alerts: internal error while resuming undelivered alerts")
        while True:
            try:
                item = self._queue.get(timeout=self._wait())
            except queue.Empty:
                item = None
            # The stop token, or closed with a queue too full to take it and now empty.
            if item is _STOP or (item is None and self._closed.is_set()):
                break
            try:
                if isinstance(item, Event):
                    self._handle(item)
                self._record_dropped()
                self._due(self._clock())
            except Exception:  # the alert thread must outlive any one bad alert
                log.exception("alerts: internal error")
            finally:
                if isinstance(item, _Sync):
                    item.done.set()
        self._finish()

    def _wait(self) -> float:
        """Seconds until the next timer (a retry, a window's end), at most one tick."""
        now = self._clock()
        due = [self._retries[0][0]] if self._retries else []
        if self.config.window_s > 0:
            due += [w.start + self.config.window_s for w in self._windows.values() if w.suppressed]
        return max(0.0, min([self._tick, *(d - now for d in due)]))

    def _finish(self) -> None:
        """At close: the queue's rest, the rate-limit summaries, and pending retries on
        record as failed (the retry would have come after we stopped)."""
        try:
            while time.monotonic() < self._deadline:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, Event):
                    self._handle(item, final=True)
                elif isinstance(item, _Sync):
                    item.done.set()
            self._record_dropped()
            for key in list(self._windows):
                if time.monotonic() >= self._deadline:
                    break
                self._close_window(key, final=True)
            for _, _, delivery in self._retries:
                # Left pending: the next start sends it (see _resume). The record keeps why
                # the target did not take it, and says why it was not tried again.
                self._record(
                    delivery.covers,
                    delivery.channel,
                    "pending",
                    delivery.attempts,
                    delivery.reason,
                    "tetherguard stopped before the next retry",
                )
            self._retries.clear()
        except Exception:
            log.exception("alerts: internal error while stopping")

    # ---------------------------------------------------------------- after a restart
    def _resume(self) -> None:
        """Alerts a previous run left undelivered: ``pending`` ones (a target was down, or
        tetherguard stopped before the retry) are sent again - one by one, or as one summary
        per target when there are many - and ``held`` ones (quiet hours) wait for the quiet
        hours' summary again. Older than ``resend_within_s``, or for a target no longer
        configured, they are marked ``failed`` with the reason: on record, not sent."""
        if self.store is None:
            return
        try:
            rows = self.store.deliveries(status=("pending", "held"))
        except StoreError as exc:
            log.warning("alerts: cannot read undelivered alerts: %s", exc)
            return
        now = self._clock()
        cutoff = now - self.config.resend_within_s
        pending: dict[int, tuple[Channel, frozenset[str], list[tuple[Event, Message]]]] = {}
        for row in rows:
            if row.updated_at < cutoff:
                note = f"not resent: older than {_minutes(self.config.resend_within_s)}"
                self._record_row(row, note)
                continue
            try:
                event = self.store.event(row.event_id)
            except StoreError as exc:
                log.warning("alerts: cannot read event %s: %s", row.event_id, exc)
                continue
            if event is None:
                continue  # pruned with its deliveries' retention
            routed = [(c, tags) for c, tags in self._route(event) if c.name == row.target]
            if not routed:
                self._record_row(row, "not resent: the target is no longer configured")
                continue
            message = self._message(event)
            if row.status == "held":
                self._held.append((event, message, routed))
                continue
            for channel, tags in routed:
                entry = pending.setdefault(id(channel), (channel, frozenset(), []))
                pending[id(channel)] = (channel, entry[1] | tags, entry[2])
                entry[2].append((event, message))
        for channel, tags, items in pending.values():
            note = "sent after a restart"
            if len(items) <= _RESEND_ONE_BY_ONE:
                for event, message in items:
                    self._deliver(_Delivery(channel, message, tags, (event.id,), note=note))
            else:
                covers = tuple(e.id for e, _ in items)
                summary = _resend_summary(items)
                self._deliver(_Delivery(channel, summary, tags, covers, note=note))

    def _record_row(self, row: DeliveryRecord, note: str) -> None:
        if self.store is None:
            return
        failed = DeliveryRecord(
            row.event_id, row.target, "failed", row.attempts, row.last_error, note, self._clock()
        )
        try:
            self.store.record_deliveries([failed])
        except StoreError as exc:
            log.warning("alerts: cannot record deliveries: %s", exc)

    # ---------------------------------------------------------------- one event
    def _route(self, event: Event) -> Routed:
        """The targets ``event`` goes to, each with the route tags that sent it there."""
        tags = frozenset(
            tag
            for route in self.config.routes
            if route.matches(event.kind, event.severity)
            for tag in route.tags
        )
        chosen = [(channel, tags) for channel, own in self._targets if not own or (own & tags)]
        device = self._device_channel(event.serial)
        if device is not None:
            chosen.append((device, frozenset()))
        return chosen

    def _device_channel(self, serial: str) -> DeviceChannel | None:
        if not self.config.on_device or self.client is None:
            return None
        sdk = self._facts.sdk(serial)
        if sdk is not None and sdk < ON_DEVICE_MIN_SDK:
            log.debug("alerts: %s is API %d; no notification on the phone", serial, sdk)
            return None
        channel = self._devices.get(serial)
        if channel is None or channel.sdk != sdk:
            channel = DeviceChannel(self.client, serial, sdk)
            self._devices[serial] = channel
        return channel

    def _message(self, event: Event) -> Message:
        label = self._facts.label(event.serial, event.package) if event.package else None
        return describe(event, label, self._facts.model(event.serial))

    def _quiet(self, now: float) -> bool:
        quiet = self.config.quiet_hours
        if quiet is None:
            return False
        local = self._localtime(now)
        return dt.time(local.tm_hour, local.tm_min) in quiet

    def _handle(self, event: Event, *, final: bool = False) -> None:
        channels = self._route(event)
        if not channels:
            log.debug("alerts: no target for %s %s", event.kind, event.id)
            return
        now = self._clock()
        message = self._message(event)
        if SEVERITY_RANK[event.severity] < SEVERITY_RANK[Severity.HIGH] and self._quiet(now):
            self._held.append((event, message, channels))
            self._bump("held")
            for channel, _ in channels:
                self._record((event.id,), channel, "held", 0, None, "quiet hours")
            return
        key = _key(event)
        window = self._windows.get(key)
        if window is not None and now < window.start + self.config.window_s:
            window.suppressed.append((event, message, channels))
            self._bump("suppressed")
            for channel, _ in channels:
                note = f"rate limit: one alert per {self.config.window_s:g} s"
                self._record((event.id,), channel, "suppressed", 0, None, note)
            return
        if window is not None:
            self._close_window(key)
        if self.config.window_s > 0:
            self._windows[key] = _Window(start=now)
        for channel, tags in channels:
            self._deliver(_Delivery(channel, message, tags, (event.id,)), final=final)

    # ---------------------------------------------------------------- timers
    def _due(self, now: float) -> None:
        while self._retries and self._retries[0][0] <= now:
            _, _, delivery = heapq.heappop(self._retries)
            self._deliver(delivery)
        for key, window in list(self._windows.items()):
            if now >= window.start + self.config.window_s:
                self._close_window(key)
        quiet = self.config.quiet_hours
        if self._held and quiet is not None and not self._quiet(now):
            held, self._held = self._held, []
            for channel, tags, items in _by_channel(held):
                self._deliver(
                    _Delivery(
                        channel,
                        _held_summary(items, quiet),
                        tags,
                        tuple(e.id for e, _ in items),
                        note="in the summary after quiet hours",
                    )
                )

    def _close_window(self, key: str, *, final: bool = False) -> None:
        window = self._windows.pop(key)
        if not window.suppressed:
            return
        for channel, tags, items in _by_channel(window.suppressed):
            self._deliver(
                _Delivery(
                    channel,
                    _rate_summary(items, self.config.window_s),
                    tags,
                    tuple(e.id for e, _ in items),
                    success="suppressed",
                    note="counted in a summary",
                ),
                final=final,
            )

    # ---------------------------------------------------------------- delivery
    def _deliver(self, delivery: _Delivery, *, final: bool = False) -> None:
        delivery.attempts += 1
        outcome = delivery.channel.send(delivery.message, delivery.tags)
        name = delivery.channel.name
        if outcome.ok:
            self._bump("sent")
            if name in self._failing:
                self._failing.discard(name)
                log.warning("alerts: %s delivers again", name)
            self._record(
                delivery.covers,
                delivery.channel,
                delivery.success,
                delivery.attempts,
                None,
                delivery.note,
            )
            return
        if outcome.unavailable:
            self._bump("unavailable")
            log.debug("alerts: %s cannot show it: %s", name, outcome.reason)
            self._record(
                delivery.covers, delivery.channel, "failed", delivery.attempts, outcome.reason
            )
            return
        delivery.reason = outcome.reason
        retry = self.config.retry
        if delivery.attempts < retry.attempts and not final and not self._closed.is_set():
            due = self._clock() + retry.delay(delivery.attempts)
            heapq.heappush(self._retries, (due, next(self._seq), delivery))
            first = name not in self._failing
            self._failing.add(name)
            log.log(
                logging.WARNING if first else logging.INFO,
                "alerts: %s failed (attempt %d of %d), retrying: %s",
                name,
                delivery.attempts,
                retry.attempts,
                outcome.reason,
            )
            self._record(
                delivery.covers, delivery.channel, "pending", delivery.attempts, outcome.reason
            )
            return
        self._bump("failed")
        self._failing.add(name)
        log.warning(
            "alerts: %s failed after %d attempt(s): %s", name, delivery.attempts, outcome.reason
        )
        self._record(delivery.covers, delivery.channel, "failed", delivery.attempts, outcome.reason)

    def _record_dropped(self) -> None:
        while self._dropped_events:
            event = self._dropped_events.popleft()
            for channel, _ in self._route(event):
                self._record(
                    (event.id,), channel, "failed", 0, "not alerted: the alert queue was full"
                )

    def _record(
        self,
        covers: Iterable[str],
        channel: Channel,
        status: DeliveryStatus,
        attempts: int,
        error: str | None,
        note: str | None = None,
    ) -> None:
        if self.store is None:
            return
        now = self._clock()
        rows = [
            DeliveryRecord(event_id, channel.name, status, attempts, error, note, now)
            for event_id in covers
        ]
        try:
            self.store.record_deliveries(rows)
        except StoreError as exc:
            log.warning("alerts: cannot record deliveries: %s", exc)


def _by_channel(
    items: Sequence[tuple[Event, Message, Routed]],
) -> list[tuple[Channel, frozenset[str], list[tuple[Event, Message]]]]:
    """Regroup (event, message, targets) by target, keeping order."""
    groups: dict[int, tuple[Channel, frozenset[str], list[tuple[Event, Message]]]] = {}
    for event, message, channels in items:
        for channel, tags in channels:
            entry = groups.setdefault(id(channel), (channel, frozenset(), []))
            groups[id(channel)] = (channel, entry[1] | tags, entry[2])
            entry[2].append((event, message))
    return list(groups.values())


# --------------------------------------------------------------------------- alerts test
@dataclass(frozen=True)
class TestResult:
    """The outcome of ``tetherguard alerts test`` at one target."""

    __test__ = False  # not a pytest test class, despite the name

    target: str
    status: str
    """``ok``, ``failed`` or ``skipped``."""
    detail: str = ""


def send_test(config: AlertsConfig, client: AdbClient | None = None) -> list[TestResult]:
    """Send a test alert to every configured apprise target (one attempt each; every tag),
    and, when ``on_device`` and ``client`` are given, to every online phone."""
    host = printable(_hostname(), 64)
    message = Message(
        title="tetherguard: test alert",
        lines=(
            ("This is a test alert from tetherguard on ", Dev(host), "."),
            ("Sent ", time.strftime("%Y-%m-%d %H:%M:%S"), "; alerts reach this target."),
        ),
        severity=Severity.INFO,
        tag="tg-test",
    )
    results: list[TestResult] = []
    for target in config.targets:
        outcome = AppriseChannel(target).send(message, target.tags)
        status = "ok" if outcome.ok else "failed"
        results.append(TestResult(target.name, status, outcome.reason))
    if config.on_device and client is not None:
        try:
            infos = [i for i in client.devices(details=True) if i.online]
        except AdbError as exc:
            infos = []
            results.append(TestResult("device:*", "skipped", printable(str(exc), 200)))
        for info in infos:
            channel = DeviceChannel(client, info.serial, info.sdk)
            outcome = channel.send(message, frozenset())
            if outcome.ok:
                results.append(TestResult(channel.name, "ok"))
            else:
                state = "skipped" if outcome.unavailable else "failed"
                results.append(TestResult(channel.name, state, outcome.reason))
    return results


def _hostname() -> str:
    import socket

    return socket.gethostname()
