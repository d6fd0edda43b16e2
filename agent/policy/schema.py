"""The JSON Schema (Draft 2020-12) of a policy file, as a Python dict.

It says what a file may contain, key by key, with ``additionalProperties: false`` everywhere so a
misspelt key is an error rather than a rule that silently matches more than meant. What one key
implies for another (``act: revoke`` needs events that name a permission, rule names are
unique, ...) is checked after it, in :mod:`agent.policy.load`, which also turns each error into
``file:line: field: message``. Format documented in ``policies/README.md``.

``x-expected`` is ours (validators ignore unknown keywords): how an error on that value is
worded, when the schema's own words would not help.
"""

from __future__ import annotations

from typing import Any, Final, get_args

from agent.events import KINDS, Consent, Severity
from agent.policy.model import ActKind

ACT_KINDS: Final[tuple[str, ...]] = get_args(ActKind)
"""What a rule may do: ``revoke``, ``appop``, ``restrict``, ``force_stop``, ``disable``,
``uninstall``."""
APPOP_MODES: Final = ("ignore", "deny", "foreground")
"""The app-op modes a rule may set: only ones that take away (a policy never grants)."""
CONSENTS: Final[tuple[str, ...]] = tuple(
    c.value
    for c in (Consent.NONE, Consent.USER, Consent.PLATFORM, Consent.TETHERGUARD, Consent.BASELINE)
)
SEVERITIES: Final[tuple[str, ...]] = tuple(s.value for s in Severity)
NAME_PATTERN: Final = "^[a-z0-9][a-z0-9-]*$"

_NAME: Final[dict[str, Any]] = {
    "type": "string",
    "pattern": NAME_PATTERN,
    "maxLength": 64,
    "x-expected": "a name of lower-case letters, digits and '-' (not starting with '-')",
}


def _list(items: dict[str, Any], description: str) -> dict[str, Any]:
    """A non-empty list (any of its values matches)."""
    return {"type": "array", "minItems": 1, "items": items, "description": description}


_GLOB: Final[dict[str, Any]] = {"type": "string", "minLength": 1}

_WHEN: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Which events the rule applies to: every key given must match.",
    "properties": {
        "kind": _list({"enum": sorted(KINDS)}, "event kinds (agent.events.KINDS)"),
        "consent": _list({"enum": list(CONSENTS)}, "who consented to the change"),
        "package": _list(_GLOB, "package name globs"),
        "not_package": _list(_GLOB, "package name globs that exclude"),
        "installer": _list(_GLOB, "installer globs ('none': no installer recorded)"),
        "not_installer": _list(_GLOB, "installer globs that exclude"),
        "op": _list(
            {
                "type": "string",
                "pattern": "^[A-Z][A-Z0-9_]*$",
                "x-expected": "an app-op name in capitals (RECORD_AUDIO, FINE_LOCATION)",
            },
            "app ops",
        ),
        "permission": _list(
            {
                "type": "string",
                "pattern": "^[A-Za-z0-9_.]+$",
                "x-expected": "a permission (RECORD_AUDIO or android.permission.RECORD_AUDIO)",
            },
            "permissions (a bare NAME means android.permission.NAME)",
        ),
        "user": _list({"type": "integer", "minimum": 0}, "Android user ids"),
        "min_severity": {"enum": list(SEVERITIES), "description": "this severity or higher"},
        "foreground": {
            "type": "boolean",
            "description": "sensitive use only: in the foreground (true) or background (false)",
        },
        "finding": {
            "const": True,
            "x-expected": "true (leave 'finding' out to match findings and non-findings alike)",
            "description": "only findings (no consent, above info)",
        },
        "device": _list(_GLOB, "device serial globs"),
        "device_label": _list(
            {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
            "device labels ([devices.labels] in tetherguard.toml)",
        ),
    },
}

_ACT: Final[dict[str, Any]] = {
    "description": "What the rule does to the event's package: an action name, or a mapping.",
    "if": {"type": "string"},
    "then": {"enum": list(ACT_KINDS)},
    "else": {
        "type": "object",
        "additionalProperties": False,
        "required": ["action"],
        "x-expected": "an action name (revoke, disable, ...) or a mapping like "
        "{action: appop, mode: ignore}",
        "properties": {
            "action": {"enum": list(ACT_KINDS)},
            "mode": {"enum": list(APPOP_MODES), "description": "appop only (default ignore)"},
        },
    },
}

_RULE: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "when"],
    "properties": {
        "name": _NAME,
        "summary": {"type": "string"},
        "clause": {
            "type": "string",
            "minLength": 1,
            "description": "the regulation clause the rule enforces (MIIT I.1, CAC Art.7(4))",
        },
        "when": _WHEN,
        "alert": {"type": "boolean", "default": True},
        "act": _ACT,
    },
}

SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:tetherguard:policy",
    "title": "tetherguard policy",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "rules"],
    "properties": {
        "name": _NAME,
        "summary": {"type": "string"},
        "mode": {"enum": ["dry-run", "enforce"], "default": "dry-run"},
        "rules": {"type": "array", "minItems": 1, "items": _RULE},
    },
}
"""A policy file, after YAML parsing."""
