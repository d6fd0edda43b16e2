"""tetherguard's configuration: ``tetherguard.toml``, overridden by the environment.

Owns reading and validating the file, so the rest of the agent only ever sees frozen, typed,
already-checked settings: a mistake is reported once, at start, as a :class:`ConfigError` that
names the file and the key (``tetherguard.toml: alerts.urls[2]: ...``), never half way through a
night of watching. Unknown keys are errors too: a misspelt ``quiet_hour`` would otherwise be
silently ignored and the owner woken at 3 a.m.

Where the file is: the path given, else ``$TETHERGUARD_CONFIG``, else ``config_dir() /
"tetherguard.toml"`` (a missing default file means defaults; a missing named file is an error).
The environment overrides the file (fleets template units, containers have no home directory):

========================================  ==========================================
``TETHERGUARD_APPRISE_URLS``              ``alerts.urls``: apprise URLs, space-separated
                                          (untagged; empty for none)
``TETHERGUARD_ALERTS_MIN_SEVERITY``       ``alerts.min_severity``
``TETHERGUARD_ALERTS_WINDOW_S``           ``alerts.window_s``
``TETHERGUARD_ALERTS_QUIET_HOURS``        ``alerts.quiet_hours`` (empty for none)
``TETHERGUARD_ALERTS_ON_DEVICE``          ``alerts.on_device`` (1/0, true/false, yes/no, on/off)
========================================  ==========================================

Secrets: an apprise URL carries the notifier's credentials (bot tokens, webhook keys,
passwords), so a URL is never shown whole - not in errors, logs, ``repr`` or the store. It is
shown as :func:`redact_url` prints it (scheme and host, and the host only when it is a real
host name: for many services the "host" is the token itself). apprise logs a URL it cannot
parse in full, so every URL loaded here is also registered with a filter on apprise's logger
that blanks its secret parts out of whatever apprise logs.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress
import logging
import os
import re
import threading
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from agent.events import KINDS, Severity
from agent.paths import config_dir

__all__ = [
    "CONFIG_NAME",
    "SEVERITY_RANK",
    "AlertTarget",
    "AlertsConfig",
    "Config",
    "ConfigError",
    "DevicesConfig",
    "QuietHours",
    "Retry",
    "Route",
    "default_path",
    "known_secrets",
    "load_config",
    "redact_url",
    "scrub",
    "secrets_of",
]

CONFIG_NAME: Final = "tetherguard.toml"
SEVERITY_RANK: Final[Mapping[Severity, int]] = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
}
"""Severities in order, for "at least this severe" comparisons."""

_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:@#-]{0,63}")
_RESERVED_TAGS = frozenset({"all", "always"})
"""apprise's own tag words (match every service / be matched by every filter)."""
_HHMM_RE = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_ENV_PREFIX: Final = "TETHERGUARD_"
_ALERTS_KEYS: Final = {
    "urls",
    "routes",
    "min_severity",
    "window_s",
    "quiet_hours",
    "on_device",
    "retry",
    "queue_size",
    "resend_within_s",
}


class ConfigError(Exception):
    """The configuration cannot be used; ``str()`` names the file (or variable) and the key."""

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


# --------------------------------------------------------------------------- secrets
_DNS_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}")


def _public_host(host: str) -> bool:
    """Whether ``host`` names a machine (IP address, ``localhost``, a dotted DNS name) rather
    than being a credential that a service's URL format puts where a host would be
    (``tgram://BOTTOKEN/...``, ``discord://WEBHOOK_ID/...``, ``ntfy://TOPIC``)."""
    if host == "localhost" or _DNS_NAME.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def redact_url(url: str) -> str:
    """``scheme://host`` of an apprise URL, with ``***`` for a host that is not a real host
    name; never the user, password, path or query, where services keep their tokens."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return "***"
    scheme = parts.scheme.lower()
    if not re.fullmatch(r"[a-z][a-z0-9+.-]{0,31}", scheme):
        return "***"
    return f"{scheme}://{host if host and _public_host(host) else '***'}"


def secrets_of(url: str) -> set[str]:
    """The parts of ``url`` that may be credentials (3 characters or more, to keep ``/a/``
    path words from blanking out half a log line), raw and percent-decoded."""
    found = {url.strip()}
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        pieces = [parts.username or "", parts.password or "", parts.fragment]
        pieces += parts.path.split("/")
        pieces += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
        if host and not _public_host(host):
            pieces.append(host)
            pieces.append(parts.netloc.rpartition("@")[2])  # host:token forms (tgram)
    except ValueError:
        return found
    for piece in pieces:
        for text in (piece, unquote(piece)):
            if len(text) >= 3:
                found.add(text)
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so a URL goes before
    the token inside it)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


class _ScrubSecrets(logging.Filter):
    """Blanks registered secrets out of every record apprise logs (before any handler, ours
    or apprise's own per-call capture, sees it)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets = self._secrets | frozenset(secrets)

    def secrets(self) -> frozenset[str]:
        return self._secrets

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if secrets:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is logging's problem; keep it unchanged
                return True
            clean = scrub(message, secrets)
            if clean != message:
                record.msg, record.args = clean, None
        return True


_SCRUBBER: Final = _ScrubSecrets()
logging.getLogger("apprise").addFilter(_SCRUBBER)


def known_secrets() -> frozenset[str]:
    """Every secret part of every URL loaded so far (for scrubbing other text)."""
    return _SCRUBBER.secrets()


# --------------------------------------------------------------------------- the settings
@dataclass(frozen=True)
class AlertTarget:
    """One apprise URL alerts may go to."""

    url: str = field(repr=False)
    """The apprise URL. Secret: show :attr:`name` instead."""
    name: str
    """How the target is shown in logs, errors, ``alerts test`` and the store's ``deliveries``
    table: the configured ``name``, else :func:`redact_url` (``#2``... added when two targets
    would otherwise read the same)."""
    tags: frozenset[str] = frozenset()
    """apprise tags; a target with none receives every alert, a tagged one only the alerts a
    route sends to one of its tags."""
    key: str = "alerts.urls"
    """Where it was configured (``alerts.urls[1]``, or the environment variable)."""


@dataclass(frozen=True)
class Route:
    """A routing rule: events matching it go to the targets carrying one of :attr:`tags`."""

    tags: frozenset[str]
    kinds: frozenset[str] | None = None
    """Event kinds it applies to (:data:`agent.events.KINDS`); ``None`` for every kind."""
    min_severity: Severity | None = None
    """Applies to events at least this severe; ``None`` for any severity."""

    def matches(self, kind: str, severity: Severity) -> bool:
        if self.kinds is not None and kind not in self.kinds:
            return False
        return (
            self.min_severity is None or SEVERITY_RANK[severity] >= SEVERITY_RANK[self.min_severity]
        )


@dataclass(frozen=True)
class QuietHours:
    """A daily span of host local time (it may wrap past midnight, as ``22:00-07:00`` does)."""

    start: dt.time
    end: dt.time

    def __contains__(self, moment: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Retry:
    """How hard a failed delivery is retried: ``attempts`` in all, waiting ``backoff_s``,
    then twice that, and so on, never more than ``max_backoff_s`` between two attempts."""

    attempts: int = 4
    """Attempts per message and target, the first included (1 = no retry)."""
    backoff_s: float = 2.0
    """Wait before the second attempt; doubled before each later one."""
    max_backoff_s: float = 300.0
    """Cap on one wait."""

    def delay(self, attempts_made: int) -> float:
        """Seconds to wait after the ``attempts_made``-th failed attempt."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** max(0, attempts_made - 1)))


@dataclass(frozen=True)
class AlertsConfig:
    """The ``[alerts]`` section: who is told about findings, how often, and when not."""

    targets: tuple[AlertTarget, ...] = ()
    """``urls``: apprise URLs, each a string or ``{url = "...", tags = [...], name = "..."}``."""
    routes: tuple[Route, ...] = ()
    """``[[alerts.routes]]``: kinds and severities -> tags."""
    min_severity: Severity = Severity.MEDIUM
    """Alerts are sent for events at least this severe."""
    window_s: float = 300.0
    """Rate limit: one alert per (device, package, kind and op) per this many seconds; the
    rest are counted and summarised when the window ends ("3 more ... in the last 5 min").
    0 sends every one."""
    quiet_hours: QuietHours | None = None
    """Host local time during which alerts below ``high`` are held, then summarised."""
    on_device: bool = True
    """Also post a notification on the phone itself (Android 10+; ``cmd notification post``)."""
    retry: Retry = field(default_factory=Retry)
    """``[alerts.retry]``."""
    resend_within_s: float = 86_400.0
    """At start, alerts a previous run could not deliver (or held for quiet hours) are sent
    if they are at most this old; older ones stay on record as not delivered."""
    queue_size: int = 1000
    """Events waiting for the alert thread; past this, an event is counted as not alerted
    (it is in the store regardless)."""

    @property
    def enabled(self) -> bool:
        """Whether anything would ever be sent."""
        return bool(self.targets) or self.on_device


@dataclass(frozen=True)
class StoreConfig:
    """``[store]``: where events live and for how long."""

    path: Path | None = None
    """The database file (default: ``tetherguard.db`` in the data directory)."""
    retention_days: float = 180.0
    """Events and finished audit rows older than this are pruned (the regulation asks 60)."""


@dataclass(frozen=True)
class DevicesConfig:
    """``[devices]``: what the owner or IT knows about the phones."""

    labels: tuple[tuple[str, frozenset[str]], ...] = ()
    """``[devices.labels]``: serial (or glob) -> labels, for policies (``when.device_label``)
    and fleet views."""

    def labels_of(self, serial: str) -> frozenset[str]:
        found: set[str] = set()
        for pattern, labels in self.labels:
            if fnmatch.fnmatchcase(serial, pattern):
                found |= labels
        return frozenset(found)


@dataclass(frozen=True)
class Config:
    """Everything read from ``tetherguard.toml`` and the environment."""

    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    source: Path | None = None
    """The file read, or ``None`` when there was none (defaults and environment only)."""


# --------------------------------------------------------------------------- loading
def default_path(env: Mapping[str, str] | None = None) -> Path:
    """``$TETHERGUARD_CONFIG``, else ``config_dir() / "tetherguard.toml"``."""
    named = (os.environ if env is None else env).get(_ENV_PREFIX + "CONFIG", "").strip()
    return Path(named) if named else config_dir() / CONFIG_NAME


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the configuration.

    Args:
        path: the file; default :func:`default_path` (where a missing file means defaults).
        env: the environment (default ``os.environ``); tests pass their own.

    Raises:
        ConfigError: the file cannot be read or parsed, or a key is unknown or invalid; the
            message names the file (or the variable) and the key.
    """
    environ = os.environ if env is None else env
    explicit = path is not None or bool(environ.get(_ENV_PREFIX + "CONFIG", "").strip())
    if path is None:
        path = default_path(environ)
    data: dict[str, Any] = {}
    source: Path | None = None
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        source = path
    except FileNotFoundError:
        if explicit:
            raise ConfigError(str(path), None, "no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), None, f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot be read: {exc.strerror or exc}") from None
    where = str(path)
    _known(where, "", data, {"alerts", "store", "devices"})
    alerts = _alerts(where, _table(where, "alerts", data.get("alerts", {})))
    store = _store(where, _table(where, "store", data.get("store", {})))
    devices = _devices(where, _table(where, "devices", data.get("devices", {})))
    return Config(alerts=_alerts_env(alerts, environ), store=store, devices=devices, source=source)


def _devices(source: str, table: Mapping[str, Any]) -> DevicesConfig:
    _known(source, "devices.", table, {"labels"})
    raw = _table(source, "devices.labels", table.get("labels", {}))
    labels = []
    for serial, names in raw.items():
        key = f"devices.labels.{serial}"
        if not isinstance(names, list) or not all(
            isinstance(n, str) and _TAG_RE.fullmatch(n) for n in names
        ):
            raise ConfigError(source, key, "must be an array of labels (letters, digits, _.-)")
        labels.append((str(serial), frozenset(names)))
    return DevicesConfig(tuple(labels))


def _store(source: str, table: Mapping[str, Any]) -> StoreConfig:
    _known(source, "store.", table, {"path", "retention_days"})
    path = table.get("path")
    if path is not None and (not isinstance(path, str) or not path.strip()):
        raise ConfigError(source, "store.path", "must be a file path")
    days = _number(source, "store.retention_days", table.get("retention_days", 180), minimum=1)
    return StoreConfig(Path(path).expanduser() if path else None, days)


def _known(source: str, prefix: str, table: Mapping[str, Any], keys: set[str]) -> None:
    for key in table:
        if key not in keys:
            known = ", ".join(sorted(keys))
            raise ConfigError(source, f"{prefix}{key}", f"unknown key (known: {known})")


def _table(source: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(source, key, f"must be a table, not {_type(value)}")
    return value


def _type(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _alerts(source: str, table: dict[str, Any]) -> AlertsConfig:
    _known(source, "alerts.", table, _ALERTS_KEYS)
    defaults = AlertsConfig()
    urls = table.get("urls", [])
    if not isinstance(urls, list):
        raise ConfigError(source, "alerts.urls", f"must be an array, not {_type(urls)}")
    targets = _targets(source, [(f"alerts.urls[{i}]", item) for i, item in enumerate(urls)])
    routes_raw = table.get("routes", [])
    if not isinstance(routes_raw, list):
        raise ConfigError(source, "alerts.routes", "must be an array of tables ([[alerts.routes]])")
    routes = tuple(_route(source, f"alerts.routes[{i}]", item) for i, item in enumerate(routes_raw))
    retry = _retry(source, _table(source, "alerts.retry", table.get("retry", {})))
    return AlertsConfig(
        targets=targets,
        routes=routes,
        min_severity=_severity(
            source, "alerts.min_severity", table.get("min_severity", defaults.min_severity.value)
        ),
        window_s=_number(source, "alerts.window_s", table.get("window_s", defaults.window_s)),
        quiet_hours=_quiet(source, "alerts.quiet_hours", table.get("quiet_hours", "")),
        on_device=_bool(source, "alerts.on_device", table.get("on_device", defaults.on_device)),
        retry=retry,
        resend_within_s=_number(
            source,
            "alerts.resend_within_s",
            table.get("resend_within_s", defaults.resend_within_s),
        ),
        queue_size=int(
            _number(
                source,
                "alerts.queue_size",
                table.get("queue_size", defaults.queue_size),
                minimum=1,
                integer=True,
            )
        ),
    )


def _targets(source: str, items: list[tuple[str, Any]]) -> tuple[AlertTarget, ...]:
    targets: list[AlertTarget] = []
    for key, item in items:
        if isinstance(item, str):
            url, tags, name = item, frozenset[str](), None
        elif isinstance(item, dict):
            _known(source, f"{key}.", item, {"url", "tags", "name"})
            if "url" not in item:
                raise ConfigError(source, f"{key}.url", "missing")
            url = item["url"]
            if not isinstance(url, str):
                raise ConfigError(source, f"{key}.url", f"must be a string, not {_type(url)}")
            tags = _tags(source, f"{key}.tags", item.get("tags", []))
            name = item.get("name")
            if name is not None and not (isinstance(name, str) and _NAME_RE.fullmatch(name)):
                raise ConfigError(
                    source, f"{key}.name", "must be 1-64 letters, digits, spaces or _.:@#-"
                )
        else:
            raise ConfigError(
                source, key, f"must be a URL string or a table with url and tags, not {_type(item)}"
            )
        _check_url(source, key, url)
        targets.append(
            AlertTarget(url=url.strip(), name=name or redact_url(url), tags=tags, key=key)
        )
    # Two targets on one host read the same once redacted; the store keys deliveries by name.
    seen: dict[str, int] = {}
    unique: list[AlertTarget] = []
    for target in targets:
        count = seen.get(target.name, 0) + 1
        seen[target.name] = count
        unique.append(target if count == 1 else replace(target, name=f"{target.name} #{count}"))
    return tuple(unique)


def _check_url(source: str, key: str, url: str) -> None:
    """An apprise URL that apprise can load (the scheme is known and its tokens parse)."""
    shown = redact_url(url)
    _SCRUBBER.add(secrets_of(url))  # before apprise sees it: it logs what it cannot parse
    if not re.match(r"\s*[A-Za-z][A-Za-z0-9+.-]*://", url):
        raise ConfigError(source, key, f"not an apprise URL ({shown}); expected scheme://...")
    import apprise  # deferred: loading its plugins takes a tenth of a second

    if apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True) is None:
        raise ConfigError(
            source,
            key,
            f"apprise cannot use {shown} (unknown scheme, or a token is missing or malformed; "
            "see https://appriseit.com/services/)",
        )


def _tags(source: str, key: str, value: Any) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(source, key, f"must be an array of tag names, not {_type(value)}")
    for tag in value:
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            raise ConfigError(
                source, key, f"{tag!r:.40} is not a tag (letters, digits, _.-; at most 64)"
            )
        if tag.lower() in _RESERVED_TAGS:
            raise ConfigError(source, key, f"{tag!r} is reserved by apprise")
    return frozenset(value)


def _route(source: str, key: str, item: Any) -> Route:
    table = _table(source, key, item)
    _known(source, f"{key}.", table, {"kinds", "min_severity", "tags"})
    if "tags" not in table:
        raise ConfigError(source, f"{key}.tags", "missing (which targets the route sends to)")
    tags = _tags(source, f"{key}.tags", table["tags"])
    if not tags:
        raise ConfigError(source, f"{key}.tags", "must name at least one tag")
    kinds: frozenset[str] | None = None
    if "kinds" in table:
        raw = table["kinds"]
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            raise ConfigError(source, f"{key}.kinds", "must be a non-empty array of event kinds")
        for i, kind in enumerate(raw):
            if not isinstance(kind, str) or kind not in KINDS:
                raise ConfigError(
                    source,
                    f"{key}.kinds[{i}]",
                    f"{kind!r:.40} is not an event kind (see README.md, Events)",
                )
        kinds = frozenset(raw)
    severity = None
    if "min_severity" in table:
        severity = _severity(source, f"{key}.min_severity", table["min_severity"])
    return Route(tags=tags, kinds=kinds, min_severity=severity)


def _retry(source: str, table: dict[str, Any]) -> Retry:
    _known(source, "alerts.retry.", table, {"attempts", "backoff_s", "max_backoff_s"})
    d = Retry()
    attempts = _number(
        source, "alerts.retry.attempts", table.get("attempts", d.attempts), minimum=1, integer=True
    )
    if attempts > 20:
        raise ConfigError(source, "alerts.retry.attempts", "at most 20")
    return Retry(
        attempts=int(attempts),
        backoff_s=_number(source, "alerts.retry.backoff_s", table.get("backoff_s", d.backoff_s)),
        max_backoff_s=_number(
            source, "alerts.retry.max_backoff_s", table.get("max_backoff_s", d.max_backoff_s)
        ),
    )


def _severity(source: str, key: str, value: Any) -> Severity:
    try:
        return Severity(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        names = ", ".join(s.value for s in Severity)
        raise ConfigError(source, key, f"{value!r:.40} is not a severity ({names})") from None


def _number(
    source: str, key: str, value: Any, *, minimum: float = 0.0, integer: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(source, key, f"must be a number, not {_type(value)}")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise ConfigError(source, key, f"must be a whole number, not {value}")
    if not value >= minimum or value != value or value == float("inf"):
        raise ConfigError(source, key, f"must be a finite number >= {minimum:g}, not {value}")
    return float(value)


def _bool(source: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(source, key, f"must be true or false, not {_type(value)}")
    return value


def _quiet(source: str, key: str, value: Any) -> QuietHours | None:
    if not isinstance(value, str):
        raise ConfigError(source, key, f'must be a string like "22:00-07:00", not {_type(value)}')
    text = value.strip()
    if not text:
        return None
    start_text, sep, end_text = text.partition("-")
    start, end = _HHMM_RE.fullmatch(start_text.strip()), _HHMM_RE.fullmatch(end_text.strip())
    if not sep or start is None or end is None:
        raise ConfigError(source, key, f'{text!r:.40} is not HH:MM-HH:MM (e.g. "22:00-07:00")')
    quiet = QuietHours(dt.time(int(start[1]), int(start[2])), dt.time(int(end[1]), int(end[2])))
    if quiet.start == quiet.end:
        raise ConfigError(source, key, "start and end are the same time")
    return quiet


# --------------------------------------------------------------------------- environment
def _alerts_env(alerts: AlertsConfig, env: Mapping[str, str]) -> AlertsConfig:
    def var(name: str) -> str | None:
        return env.get(_ENV_PREFIX + name)

    changes: dict[str, Any] = {}
    urls = var("APPRISE_URLS")
    if urls is not None:
        key = _ENV_PREFIX + "APPRISE_URLS"
        words = urls.split()
        changes["targets"] = _targets(
            "environment", [(f"{key}[{i}]", word) for i, word in enumerate(words)]
        )
    parsers: dict[str, tuple[str, Callable[[str, str, str], Any]]] = {
        "ALERTS_MIN_SEVERITY": ("min_severity", _severity),
        "ALERTS_WINDOW_S": ("window_s", _env_number),
        "ALERTS_QUIET_HOURS": ("quiet_hours", _quiet),
        "ALERTS_ON_DEVICE": ("on_device", _env_bool),
    }
    for name, (attr, parse) in parsers.items():
        raw = var(name)
        if raw is not None:
            changes[attr] = parse("environment", _ENV_PREFIX + name, raw)
    return replace(alerts, **changes) if changes else alerts


def _env_number(source: str, key: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(source, key, f"{text!r:.40} is not a number") from None
    return _number(source, key, value)


def _env_bool(source: str, key: str, text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(source, key, f"{text!r:.40} is not a boolean (1/0, true/false, yes/no)")
