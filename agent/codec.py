"""The codec: typed records (a :class:`~agent.snapshot.Snapshot` above all) <-> JSON-able data.

It owns the on-disk shape of every record the store keeps as a blob, so the store never knows a
record's fields, and the record modules (:mod:`agent.model`, :mod:`agent.snapshot`) never know
JSON. ``decode(Snapshot, encode(s)) == s`` holds field for field: tuples, frozensets,
``MappingProxyType`` mappings (integer keys too), nested records, ``None`` and ``Literal`` values
all come back as they were.

Why a library: the records are dozens of frozen dataclasses that other people keep extending.
`cattrs <https://catt.rs>`_ derives (un)structuring code from the type hints, so a new field is
stored with no change here; hand-written reflection would be a second copy of the model to keep
in step. What this module adds on top is only policy:

* **Strict decoding.** A key the record does not have, a missing required field, a value of the
  wrong JSON type (``"1"`` for an ``int``, ``1`` for a ``bool``) or a value outside a ``Literal``
  is an error, never coerced. A blob written before a field was *added* still decodes (the
  field takes its default: the old snapshot simply did not know it); a field *renamed*, removed
  or retyped fails loudly with the path of the offending value.
* **Every field is written, defaults included.** Omitting defaults would halve the JSON, but
  zlib removes nearly all of that repetition anyway (a 200-package phone: ~680 KB of JSON, ~30 KB
  stored, ~10% more than with defaults omitted), and an omitted value would silently change
  meaning if the model's default ever changed.
* **A versioned envelope** ``{"v": 1, "type": "Snapshot", "data": {...}}``. :data:`VERSION`
  changes when the *encoding* changes (not when a record gains a field). Older envelopes are
  brought forward by the steps in :data:`_UPGRADES`; a version with no path forward, or one
  newer than this code, is a :class:`CodecError` that says so.

:func:`pack` / :func:`unpack` add zlib compression for the store's blobs.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar, get_args, get_origin

import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception

T = TypeVar("T")

VERSION: Final = 1
"""The envelope/encoding version this code writes."""

_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""Version N -> a function turning a version-N envelope's ``data`` into version N+1's.

Empty while there is one version. When the encoding changes, bump :data:`VERSION` and add the
step from the old version here (or leave it out to make old blobs a clear error)."""

_ZLIB_LEVEL: Final = 6
"""zlib's default. On a 200-package phone (~700 KB of JSON): 32 KB in ~3 ms; level 9 saves 1 KB
for twice the time, level 1 costs 10 KB."""


class CodecError(ValueError):
    """Data that cannot be decoded into the requested record (corrupt, foreign or too new)."""


# --------------------------------------------------------------------------- strict primitives
# cattrs structures primitives by calling the type (``int("1")``, ``bool("no")`` is True): right
# for loose input, wrong for our own blobs, where a type mismatch means the model changed under
# the data and the value must not be guessed.
def _strict_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _strict_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _strict_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _key_hook(key_type: Any) -> Callable[[Any], Any]:
    """JSON object keys are always strings: map them back to the declared key type."""
    if key_type is int:

        def int_key(key: Any) -> int:
            if isinstance(key, str) and key.lstrip("-").isdigit():
                return int(key)
            raise TypeError(f"expected an integer key, got {key!r}")

        return int_key
    if key_type is str or key_type is Any:
        return lambda key: _strict_str(key, str)
    raise TypeError(f"mapping keys of type {key_type!r} have no JSON form")


def _is_mapping(tp: Any) -> bool:
    origin = get_origin(tp) or tp
    return origin in (Mapping, dict, MappingProxyType)


def _mapping_structure(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Mappings come back read-only (``MappingProxyType``), as the frozen records hold them.

    Not cattrs' own mapping hook: its keys go through the same hooks as values, and the strict
    ``int`` hook above would then refuse the string keys JSON gives back for ``Mapping[int, _]``.
    Errors carry cattrs' notes, so messages still name the failing key."""
    args = get_args(tp)
    key_type, value_type = args if len(args) == 2 else (Any, Any)
    key = _key_hook(key_type)
    value = converter.get_structure_hook(value_type)

    def structure(obj: Any, _: Any) -> Mapping[Any, Any]:
        if not isinstance(obj, dict):
            raise TypeError(f"expected an object, got {type(obj).__name__}")
        result: dict[Any, Any] = {}
        errors: list[Exception] = []
        for k, v in obj.items():
            try:
                result[key(k)] = value(v, value_type)
            except Exception as exc:
                exc.add_note(IterableValidationNote(f"Structuring mapping @ key {k!r}", k, tp))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return MappingProxyType(result)

    return structure


def _mapping_unstructure(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    args = get_args(tp)
    value_type = args[1] if len(args) == 2 else Any
    value = converter.get_unstructure_hook(value_type)
    # Integer keys become strings here, not in json.dumps, so encode() is JSON-ready as is.
    return lambda obj: {str(k): value(v) for k, v in obj.items()}


def _is_set(tp: Any) -> bool:
    return (get_origin(tp) or tp) in (frozenset, set)


def _set_unstructure(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    args = get_args(tp)
    item = converter.get_unstructure_hook(args[0] if args else Any)

    def unstructure(obj: Any) -> list[Any]:
        items = [item(v) for v in obj]
        # Sorted: set order varies with hash seeds, and equal snapshots should give equal bytes
        # (smaller diffs, better compression).
        with contextlib.suppress(TypeError):  # unorderable items: keep them as they came
            items.sort()
        return items

    return unstructure


def _make_converter() -> cattrs.Converter:
    conv = make_converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook_factory(_is_mapping, lambda tp: _mapping_structure(tp, conv))
    conv.register_unstructure_hook_factory(_is_mapping, lambda tp: _mapping_unstructure(tp, conv))
    conv.register_unstructure_hook_factory(_is_set, lambda tp: _set_unstructure(tp, conv))
    return conv


_CONVERTER: Final = _make_converter()


def _why(exc: BaseException, tp: Any) -> str:
    """One decoding problem in words: our hooks' own messages say more than cattrs' generic
    ``invalid value for type`` (which also names the mapping, not the key, for a bad key)."""
    if isinstance(exc, KeyError | cattrs.ForbiddenExtraKeysError) or not str(exc):
        return format_exception(exc, tp)
    return str(exc)


# --------------------------------------------------------------------------- envelope
def encode(record: Any) -> dict[str, Any]:
    """A record as JSON-able data in the versioned envelope."""
    return {
        "v": VERSION,
        "type": type(record).__name__,
        "data": _CONVERTER.unstructure(record, unstructure_as=type(record)),
    }


def decode(cls: type[T], envelope: Any) -> T:
    """The record of type ``cls`` that :func:`encode` turned into ``envelope``.

    Raises:
        CodecError: not an envelope, another record type, a version this code cannot read, or
            data that does not fit ``cls`` (the message names the offending path).
    """
    if not isinstance(envelope, dict) or not isinstance(envelope.get("v"), int):
        raise CodecError("not an encoded record (no version envelope)")
    version: int = envelope["v"]
    if envelope.get("type") != cls.__name__:
        raise CodecError(f"expected an encoded {cls.__name__}, found {envelope.get('type')!r}")
    if version > VERSION:
        raise CodecError(
            f"{cls.__name__} encoded by a newer tetherguard (codec v{version}; this one reads "
            f"up to v{VERSION}): upgrade tetherguard to read it"
        )
    data: Any = envelope.get("data")
    while version < VERSION:
        step = _UPGRADES.get(version)
        if step is None:
            raise CodecError(
                f"{cls.__name__} encoded by codec v{version}, which this tetherguard (v{VERSION}) "
                "can no longer read"
            )
        try:
            data = step(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CodecError(
                f"cannot bring {cls.__name__} from codec v{version} to v{version + 1}: {exc!r}"
            ) from exc
        version += 1
    try:
        return _CONVERTER.structure(data, cls)
    except Exception as exc:  # cattrs raises ClassValidationError, an ExceptionGroup
        problems = cattrs.transform_error(exc, path=cls.__name__, format_exception=_why)
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        detail = "; ".join(problems[:5]) + more
        raise CodecError(f"cannot decode {cls.__name__}: {detail}") from exc


def pack(record: Any) -> bytes:
    """The compact stored form: the envelope as compact JSON, zlib-compressed."""
    text = json.dumps(encode(record), separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode("utf-8"), _ZLIB_LEVEL)


def unpack(cls: type[T], blob: bytes) -> T:
    """The inverse of :func:`pack`.

    Raises:
        CodecError: the blob is not zlib data, not UTF-8 JSON, or not a ``cls`` (see
            :func:`decode`).
    """
    try:
        envelope = json.loads(zlib.decompress(blob).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise CodecError(f"corrupt {cls.__name__} blob: {exc}") from exc
    return decode(cls, envelope)
