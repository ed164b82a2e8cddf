"""One check for every option value: a dataclass field's declared type and range.

Configuration dataclasses (the trainer's config, each model's config, the presets of
``ktiw verify``) declare what a field may hold where the field is declared: its type hint
(``int``, ``float``, ``bool``, ``str``, ``X | None``, ``list[int]``, ``tuple[str, ...]``,
``Mapping[str, Any]``, a nested dataclass) and, in ``field(metadata=...)``, optional bounds::

    hidden: int = field(default=256, metadata={"min": 1, "max": 1 << 16})
    lr: float = field(default=1e-3, metadata={"gt": 0, "max": 1e3})
    init: str = field(default="zero", metadata={"choices": ("zero", "eps")})

(``min``/``max`` inclusive, ``gt`` exclusive; every ``float`` must be finite unless the
metadata says ``"finite": False``).  :func:`check_fields` checks a mapping of values meant
for such a class (``--opt``, ``--set``, ``config.json``), :func:`check_instance` a built
object.  Both raise a one-line :class:`~ktiw.core.errors.KtiwError` naming the field, the
value and what was expected; ``bool`` is never accepted as a number, and an ``int`` is
accepted for a ``float`` (and converted).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from .errors import KtiwError

_BOUNDS = ("min", "max", "gt")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and not typing.get_args(tp):
        return {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp).replace("typing.", "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_value(name: str, value: Any, tp: Any, meta: Mapping[str, Any] | None = None) -> Any:
    """``value`` converted to type ``tp`` within the bounds in ``meta``, or a :class:`KtiwError`."""
    meta = meta or {}
    converted = _convert(name, value, tp)
    _check_bounds(name, converted, meta)
    return converted


def _fail(name: str, value: Any, expected: str) -> KtiwError:
    return KtiwError(f"{name} must be {expected}, got {_short(value)}")


def _convert(name: str, value: Any, tp: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(name, value, arg)
            except KtiwError as exc:
                errors.append(exc)
        raise _fail(name, value, " or ".join(_type_name(a) for a in args))
    if origin is typing.Literal:
        if value in args:
            return value
        raise _fail(name, value, "one of " + ", ".join(map(repr, args)))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(name, value, "true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise _fail(name, value, "an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _fail(name, value, "a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(name, value, "a string")
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(name, value, f"a list ({_type_name(tp)})")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise _fail(name, value, f"a list of {len(args)} items")
            items = [_convert(f"{name}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args, strict=True))]
        else:
            item_tp = args[0] if args else Any
            items = [_convert(f"{name}[{i}]", v, item_tp) for i, v in enumerate(value)]
        return tuple(items) if (origin or tp) is tuple else items
    if origin in (dict, Mapping) or tp in (dict, Mapping) or origin is typing.get_origin(Mapping[str, Any]):
        if not isinstance(value, Mapping):
            raise _fail(name, value, "a mapping (JSON object)")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return tp(**check_fields(tp, value, what=name))
        raise _fail(name, value, f"a {tp.__name__}")
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _fail(name, value, _type_name(tp))
    return value  # an annotation this checker does not know: leave it to the class


def _check_bounds(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    if value is None:
        return
    if isinstance(value, float) and meta.get("finite", True) and not math.isfinite(value):
        raise _fail(name, value, "a finite number")
    if "choices" in meta and value not in meta["choices"]:
        raise _fail(name, value, "one of " + ", ".join(map(str, meta["choices"])))
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        if isinstance(value, (list, tuple)) and "max_items" in meta and len(value) > meta["max_items"]:
            raise _fail(name, f"{len(value)} items", f"at most {meta['max_items']} items")
        return
    if "gt" in meta and not value > meta["gt"]:
        raise _fail(name, value, f"> {meta['gt']}")
    if "min" in meta and not value >= meta["min"]:
        raise _fail(name, value, f">= {meta['min']}")
    if "max" in meta and not value <= meta["max"]:
        raise _fail(name, value, f"<= {meta['max']}")


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls)}


def check_fields(
    cls: type, values: Mapping[str, Any], what: str = "option", *, unknown_ok: bool = False
) -> dict[str, Any]:
    """``values`` (field name -> value) checked and converted against dataclass ``cls``.

    An unknown name is a :class:`KtiwError` listing the valid ones (unless ``unknown_ok``:
    then it is passed through unchecked)."""
    known = _fields(cls)
    hints = _hints(cls)
    unknown = sorted(set(values) - set(known))
    if unknown and not unknown_ok:
        raise KtiwError(f"unknown {what}(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    out = dict(values)
    for key, value in values.items():
        if key in known:
            out[key] = check_value(key, value, hints.get(key, Any), known[key].metadata)
    return out


def check_instance(obj: Any) -> None:
    """Check every field of the dataclass instance ``obj`` (see :func:`check_fields`)."""
    values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    check_fields(type(obj), values)


def bounds(**meta: Any) -> dict[str, Any]:
    """``field(metadata=bounds(min=1))``: the metadata keys this module reads, spelled checked."""
    bad = set(meta) - {*_BOUNDS, "finite", "choices", "max_items", "meaning"}
    if bad:
        raise TypeError(f"unknown bound(s) {sorted(bad)}")
    return meta
