"""Policy files: read, validate, and say exactly what is wrong and where.

A file is YAML (format in ``policies/README.md``). It is read twice: :func:`yaml.compose` gives
the node tree with line marks, :func:`yaml.safe_load` the data. The data is checked against
:data:`agent.policy.schema.SCHEMA`; then what the schema cannot say (rule names are unique, an
act fits the events the rule matches, a rule alerts or acts). Every problem is reported as
``FILE:LINE: FIELD: MESSAGE``, one per line, sorted by line, e.g.::

    policies/x.yaml:12: rules[1].when.consent[0]: 'nobody' is not one of none, user, ...

Shipped packs live in the repository's top-level ``policies/`` directory
(:func:`builtin_policies`); :func:`resolve_policy` takes a file or a pack name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from agent.events import Consent, Severity
from agent.policy.model import Act, ActKind, Match, Mode, Policy, Rule
from agent.policy.schema import SCHEMA

__all__ = [
    "PERMISSION_KINDS",
    "PolicyError",
    "Problem",
    "builtin_policies",
    "load_policy",
    "parse_policy",
    "policies_dir",
    "resolve_policy",
]

PERMISSION_KINDS: Final = frozenset({"permission_granted", "permission_flags_changed"})
"""Events that name a permission the app holds (``act: revoke`` acts on it)."""
OP_KINDS: Final = frozenset({"appop_changed", "sensitive_use_started", "sensitive_use_stopped"})
"""Events that name an app op (``act: appop`` sets it)."""
NO_PACKAGE_KINDS: Final = frozenset({"device_state"})
"""Events about a whole device, with no package to act on."""
_CARRIES: Final[Mapping[str, frozenset[str]]] = {
    "permission": PERMISSION_KINDS
    | {"permission_revoked", "sensitive_use_started", "sensitive_use_stopped"},
    "op": OP_KINDS,
    "foreground": frozenset({"sensitive_use_started", "sensitive_use_stopped"}),
}
"""The ``when`` keys that only some kinds carry: a rule that asks for one and matches none of
them could never match."""

_VALIDATOR: Final = Draft202012Validator(SCHEMA)
_MAX_PROBLEMS: Final = 50
_PERMISSION_PREFIX: Final = "android.permission."


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a policy file."""

    line: int
    """1-based."""
    field: str
    """Where in the document (``rules[1].when.kind[0]``); empty for the file as a whole."""
    message: str

    def format(self, source: str) -> str:
        where = f"{source}:{self.line}:"
        return f"{where} {self.field}: {self.message}" if self.field else f"{where} {self.message}"


class PolicyError(Exception):
    """A policy file cannot be used; the message names the file, line and field of each
    problem, one per line (``problems`` has them one by one)."""

    def __init__(
        self, message: str, *, source: str | None = None, problems: Sequence[Problem] = ()
    ) -> None:
        super().__init__(message)
        self.source = source
        self.problems: tuple[Problem, ...] = tuple(problems)

    @classmethod
    def of(cls, source: str, problems: Sequence[Problem]) -> PolicyError:
        ordered = sorted(set(problems))
        lines = [p.format(source) for p in ordered[:_MAX_PROBLEMS]]
        if len(ordered) > _MAX_PROBLEMS:
            lines.append(f"{source}: ... and {len(ordered) - _MAX_PROBLEMS} more problems")
        return cls("\n".join(lines), source=source, problems=ordered)


# --------------------------------------------------------------------------- files and packs
def policies_dir() -> Path:
    """Where the shipped packs are: ``agent/policy/packs`` in a built wheel (hatch copies
    ``policies/`` there), else the checkout's top-level ``policies/`` (editable install)."""
    here = Path(__file__).resolve().parent
    packed = here / "packs"
    return packed if packed.is_dir() else here.parents[1] / "policies"


def builtin_policies() -> dict[str, Path]:
    """The packs shipped in ``policies/``: file stem -> path, by name."""
    folder = policies_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml")) if p.is_file()}


def resolve_policy(name_or_path: str) -> Path:
    """A policy file: ``name_or_path`` if such a file exists, else the shipped pack so named."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packs = builtin_policies()
    if name_or_path in packs:
        return packs[name_or_path]
    shipped = ", ".join(packs) or "none"
    raise PolicyError(
        f"no policy file or shipped pack {name_or_path!r} (shipped packs: {shipped})",
        source=name_or_path,
    )


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; raises :class:`PolicyError` naming what is wrong."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{source}: not UTF-8 text", source=source) from None
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read: {exc.strerror or exc}", source=source) from None
    return parse_policy(text, source)


def parse_policy(text: str, source: str) -> Policy:
    """Validate a policy's YAML ``text``; ``source`` names it in messages and ``Policy.source``."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = str(exc.problem or exc.context or "cannot be read")
        if exc.context and exc.problem:
            where = exc.context_mark
            other = where.line + 1 if where is not None else line
            on = f" on line {other}" if other != line else ""
            what += f" ({exc.context}{on})"
        raise PolicyError.of(source, [Problem(line, "", f"not valid YAML: {what}")]) from None
    except yaml.YAMLError as exc:
        raise PolicyError.of(source, [Problem(1, "", f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise PolicyError.of(source, [Problem(1, "", "nested too deeply")]) from None
    if root is None:
        raise PolicyError.of(
            source, [Problem(1, "", "the file is empty: a policy has a name and rules")]
        )
    problems = list(_shape(root))
    if problems:  # recursive or explosive aliases: no further look is safe
        raise PolicyError.of(source, problems)
    problems = list(_duplicate_keys(root, (), set()))
    problems += [p for error in _VALIDATOR.iter_errors(data) for p in _schema_problems(root, error)]
    if not problems:
        problems = list(_cross_checks(root, data))
    if problems:
        raise PolicyError.of(source, problems)
    return Policy(
        name=data["name"],
        rules=tuple(
            _rule(raw, _node_at(root, ("rules", i))[0].start_mark.line + 1)
            for i, raw in enumerate(data["rules"])
        ),
        mode=cast(Mode, data.get("mode", "dry-run")),
        summary=str(data.get("summary", "")).strip(),
        source=source,
    )


# --------------------------------------------------------------------------- building
def _permission(name: str) -> str:
    return name if "." in name else _PERMISSION_PREFIX + name


def _rule(raw: Mapping[str, Any], line: int) -> Rule:
    when: Mapping[str, Any] = raw["when"]

    def strings(key: str) -> tuple[str, ...]:
        return tuple(str(v) for v in when.get(key, ()))

    severity = when.get("min_severity")
    match = Match(
        kinds=strings("kind"),
        consent=tuple(Consent(c) for c in when.get("consent", ())),
        packages=strings("package"),
        not_packages=strings("not_package"),
        installers=strings("installer"),
        not_installers=strings("not_installer"),
        ops=strings("op"),
        permissions=tuple(_permission(p) for p in strings("permission")),
        users=tuple(int(u) for u in when.get("user", ())),
        min_severity=Severity(severity) if severity is not None else None,
        foreground=when.get("foreground"),
        findings_only=bool(when.get("finding", False)),
        devices=strings("device"),
        device_labels=strings("device_label"),
    )
    return Rule(
        name=raw["name"],
        match=match,
        alert=bool(raw.get("alert", True)),
        act=_act(raw.get("act")),
        clause=raw.get("clause"),
        summary=str(raw.get("summary", "")).strip(),
        line=line,
    )


def _act(raw: object) -> Act | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        kind, mode = raw, None
    else:
        spec = cast(Mapping[str, str], raw)
        kind, mode = spec["action"], spec.get("mode")
    if kind == "appop" and mode is None:
        mode = "ignore"
    return Act(cast(ActKind, kind), mode)


# --------------------------------------------------------------------------- checks
def _cross_checks(root: yaml.Node, data: Mapping[str, Any]) -> Iterator[Problem]:
    """What the schema cannot say; ``data`` already passed it."""
    first: dict[str, tuple[str, int]] = {}
    for i, raw in enumerate(data["rules"]):
        at = ("rules", i)
        name = raw["name"]
        line = _line(root, (*at, "name"))
        if name in first:
            other, other_line = first[name]
            yield Problem(
                line,
                _field((*at, "name")),
                f"duplicate rule name {name!r} (also {other}, line {other_line})",
            )
        else:
            first[name] = (_field(at), line)
        when: Mapping[str, Any] = raw["when"]
        kinds = set(when.get("kind", ()))
        for key, carriers in _CARRIES.items():
            if key in when and kinds and not kinds & carriers:
                yield Problem(
                    _line(root, (*at, "when", key)),
                    _field((*at, "when", key)),
                    f"never matches: only events of kind {_names(carriers)} have a {key}, "
                    f"and this rule matches {_names(kinds)}",
                )
        act = raw.get("act")
        if act is None:
            if raw.get("alert", True) is False:
                yield Problem(
                    _line(root, (*at, "alert")),
                    _field((*at, "alert")),
                    "a rule must alert or act: this one has alert: false and no act",
                )
            continue
        problem = _act_problem(act, when, kinds)
        if problem is not None:
            path, message = problem
            yield Problem(_line(root, (*at, "act", *path)), _field((*at, "act", *path)), message)


def _act_problem(
    act: str | Mapping[str, str], when: Mapping[str, Any], kinds: set[str]
) -> tuple[tuple[str, ...], str] | None:
    """Why ``act`` cannot apply to what the rule matches (path under ``act``, message)."""
    kind = act if isinstance(act, str) else act["action"]
    if not isinstance(act, str) and "mode" in act and kind != "appop":
        return ("mode",), f"mode is for action appop only, not {kind}"
    for action, key, carriers, what in (
        ("revoke", "permission", PERMISSION_KINDS, "a permission"),
        ("appop", "op", OP_KINDS, "an app op"),
    ):
        if kind != action or key in when or (kinds and kinds <= carriers):
            continue
        but = "this rule matches every kind" if not kinds else f"{_names(kinds - carriers)} "
        but += "names none" if kinds else ""
        return (), (
            f"{action} needs events that name {what}, but {but}: match only kind "
            f"{_names(carriers)}, or give when.{key}"
        )
    if kind not in ("revoke", "appop") and not kinds:
        return (), f"a rule that acts ({kind}) names the event kinds it acts on (when.kind)"
    if kinds & NO_PACKAGE_KINDS:
        return (), f"{kind} needs a package, but {_names(kinds & NO_PACKAGE_KINDS)} names none"
    return None


def _names(values: set[str] | frozenset[str]) -> str:
    return " or ".join(sorted(values))


# --------------------------------------------------------------------------- schema errors
_TYPE_NAMES: Final = {
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "null": "nothing",
}


def _schema_problems(root: yaml.Node, error: ValidationError) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    expected = schema.get("x-expected")
    keyword = error.validator
    if keyword == "additionalProperties" and isinstance(value, dict):
        known = sorted(schema.get("properties", {}))
        for key in sorted((k for k in value if k not in known), key=str):
            yield Problem(
                _line(root, (*path, key), key=True),
                _field((*path, key)),
                f"unknown key {key!r}{_did_you_mean(key, known)}; expected one of "
                + ", ".join(known),
            )
        return
    if keyword == "required" and isinstance(value, dict):
        for key in cast(list[str], error.validator_value):
            if key not in value:
                yield Problem(_line(root, path), _field(path), f"missing {key!r}")
        return
    if keyword == "enum":
        options = cast(list[Any], error.validator_value)
        message = (
            f"{_show(value)} is not one of {', '.join(_show(o, quote=False) for o in options)}"
        )
        if isinstance(value, str):
            message += _did_you_mean(value, [str(o) for o in options])
        yield Problem(_line(root, path), _field(path), message)
        return
    if keyword in ("type", "pattern", "const") and expected is not None:
        message = f"expected {expected}, not {_show(value)}"
    elif keyword == "type":
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else list(cast(list[str], wanted))
        types = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        message = f"expected {types}, not {_kind(value)}"
    elif keyword in ("minItems", "minLength"):
        message = "must not be empty"
    elif keyword == "maxLength":
        message = f"too long (at most {error.validator_value} characters)"
    elif keyword == "minimum":
        message = f"must be {error.validator_value} or more, not {_show(value)}"
    elif keyword == "pattern":
        message = f"{_show(value)} does not match {error.validator_value}"
    else:
        message = error.message
    yield Problem(_line(root, path), _field(path), message)


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: object, *, quote: bool = True) -> str:
    """A value as YAML writes it (``true``, ``null``), strings quoted unless ``quote`` is off."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value) if quote else value
    if isinstance(value, (dict, list)):
        return _kind(value)
    return str(value)


def _kind(value: object) -> str:
    """What a value is, in the words of :data:`_TYPE_NAMES` (with the value if short)."""
    if isinstance(value, bool):
        return _show(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) <= 40 else "a string"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} ({value})"


# --------------------------------------------------------------------------- YAML nodes
def _field(path: Sequence[object]) -> str:
    """``("rules", 1, "when", "kind", 0)`` -> ``rules[1].when.kind[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _node_at(root: yaml.Node, path: Sequence[object]) -> tuple[yaml.Node, yaml.Node | None]:
    """The deepest node along ``path`` (and the key node of the last step, if a mapping's)."""
    node, key_node = root, None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pairs = ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode))
            found = next(((k, v) for k, v in pairs if _same(k, part)), None)
            if found is None:
                break
            key_node, node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            key_node, node = None, node.value[part]
        else:
            break
    return node, key_node


def _same(key: yaml.ScalarNode, part: object) -> bool:
    return bool(key.value == str(part))


def _line(root: yaml.Node, path: Sequence[object], *, key: bool = False) -> int:
    """The 1-based line of the value at ``path`` (of its key, with ``key``)."""
    node, key_node = _node_at(root, path)
    if key and key_node is not None:
        node = key_node
    return int(node.start_mark.line) + 1


_MAX_VALUES: Final = 100_000


def _shape(root: yaml.Node) -> Iterator[Problem]:
    """Aliases that make the document recursive, or expand it past :data:`_MAX_VALUES`."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise _Recursive(node)
        active.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1 + sum(size(c) for c in children)
        active.discard(id(node))
        sizes[id(node)] = total
        return total

    try:
        total = size(root)
    except _Recursive as exc:
        yield Problem(exc.node.start_mark.line + 1, "", "an alias refers to itself (recursive)")
        return
    if total > _MAX_VALUES:
        yield Problem(1, "", f"too large: aliases expand it to more than {_MAX_VALUES} values")


class _Recursive(Exception):
    def __init__(self, node: yaml.Node) -> None:
        super().__init__()
        self.node = node


def _duplicate_keys(
    node: yaml.Node, path: tuple[object, ...], seen_nodes: set[int]
) -> Iterator[Problem]:
    """A key given twice in one mapping (YAML keeps the last one without a word)."""
    if id(node) in seen_nodes:
        return  # an alias: looked at where its anchor is
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            name = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
            if name in seen:
                yield Problem(
                    k.start_mark.line + 1,
                    _field((*path, name)),
                    f"duplicate key {name!r} (first on line {seen[name]})",
                )
            else:
                seen[name] = k.start_mark.line + 1
            yield from _duplicate_keys(v, (*path, name), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, i), seen_nodes)
