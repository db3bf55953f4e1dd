"""Reading and writing registry files: one cattrs converter for TOML and JSON.

A bad file gets one :class:`RegistryError` naming the file and listing every problem, each
with its field path (``memory[0].capacity_bytes``) and the reason. Unknown keys are errors.
Registry files are data: nothing in them is evaluated.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import typing
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, TypeVar

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, is_mapping
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from ._arguments import shown
from ._validators import Bytes, BytesPerS, Count, FlopsPerS, Seconds, UsdPerHour, Watts
from .accelerator import Accelerator
from .errors import RegistryError, RidgelineError, ScenarioError
from .model import Model
from .units import parse

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["make_converter", "load_accelerator", "load_model", "structure", "to_toml",
           "read_toml"]

T = TypeVar("T")

_UNIT_TYPES = {Bytes: "bytes", BytesPerS: "bytes_per_s", FlopsPerS: "flops_per_s",
               Seconds: "s", Watts: "w", UsdPerHour: "usd_per_hour", Count: "count"}


def _strict(kind):
    def hook(value, _type):
        if kind is bool:
            if not isinstance(value, bool):
                raise TypeError(f"expected true or false, got {value!r}")
            return value
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"expected a whole number, got {value!r}")
            return value
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"expected a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"expected a finite number, got {value!r}")
            return float(value)
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    return hook


def _unit_hook(dimension):
    def hook(value, _type):
        try:
            return parse(value, dimension)
        except ScenarioError as exc:
            # the field path is added by the error formatter; keep only the reason
            raise ValueError(str(exc).removeprefix("value: ")) from None
    return hook


def _what(value) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "an array"
    return repr(value)


def _expecting(container: type, name: str, inner):
    """Wrap cattrs' own hook so that a value of the wrong shape is an error, not iterated:
    cattrs would happily turn ``sources = "abc"`` into ``("a", "b", "c")``."""
    def hook(value, type_):
        if not isinstance(value, container):
            raise TypeError(f"expected {name}, got {_what(value)}")
        return inner(value, type_)
    return hook


def _is_homogeneous_tuple(type_) -> bool:
    args = typing.get_args(type_)
    return typing.get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def make_converter() -> cattrs.Converter:
    """The converter for every registry file: strict types, human units, no unknown keys."""
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook_factory(
        _is_homogeneous_tuple,
        lambda t: _expecting((list, tuple), "an array",
                             homogenous_tuple_structure_factory(t, conv)))
    conv.register_structure_hook_factory(
        is_mapping, lambda t: _expecting(dict, "a table", conv.gen_structure_mapping(t)))
    conv.register_structure_hook_factory(
        attrs.has, lambda t: _expecting(dict, "a table", conv.gen_structure_attrs_fromdict(t)))
    for kind in (bool, int, float, str):
        conv.register_structure_hook(kind, _strict(kind))
    for newtype, dimension in _UNIT_TYPES.items():
        conv.register_structure_hook(newtype, _unit_hook(dimension))
    conv.register_unstructure_hook(MappingProxyType,
                                   lambda m: {k: conv.unstructure(x) for k, x in m.items()})
    return conv


_CONVERTER = make_converter()


def _describe(exc: BaseException, path: str) -> list[str]:
    """Flatten a cattrs exception group into ``path: reason`` lines."""
    if isinstance(exc, ForbiddenExtraKeysError):
        keys = ", ".join(sorted(exc.extra_fields))
        return [f"{path or '(top level)'}: unknown key(s) {keys}"]
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        lines = []
        with_notes, without_notes = exc.group_exceptions()
        for sub, note in with_notes:
            name = getattr(note, "name", None)
            index = getattr(note, "index", None)
            if name is not None:
                sub_path = f"{path}.{name}" if path else str(name)
            elif index is not None:
                sub_path = f"{path}[{index!r}]" if isinstance(index, str) else f"{path}[{index}]"
            else:
                sub_path = path
            lines.extend(_describe(sub, sub_path))
        for sub in without_notes:
            lines.extend(_describe(sub, path))
        return lines or [f"{path or '(top level)'}: {exc}"]
    if isinstance(exc, KeyError):
        return [f"{path}: required field is missing"]
    if isinstance(exc, TypeError) and "missing" in str(exc) and "argument" in str(exc):
        # attrs __init__ rejected the call: a required field is absent
        missing = str(exc).split(":")[-1].strip()
        return [f"{path or '(top level)'}: required field(s) missing: {missing}"]
    reason = str(exc) or type(exc).__name__
    # an attrs validator says "capacity_bytes must be ..."; put the field into the path
    named = _VALIDATOR_MESSAGE.match(reason)
    if named and isinstance(exc, ValueError):
        field_path = f"{path}.{named[1]}" if path else named[1]
        return [f"{field_path}: {named[2]}"]
    return [f"{path or '(top level)'}: {reason}"]


_VALIDATOR_MESSAGE = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*):? (must .*)$", re.S)


def structure(data: Any, cls: type[T], *, source: str) -> T:
    """Turn plain data (from TOML or JSON) into ``cls``, or raise one :class:`RegistryError`."""
    if not isinstance(data, dict):
        raise RegistryError(source, f"expected a table of fields, got {type(data).__name__}")
    try:
        return _CONVERTER.structure(data, cls)
    except RidgelineError:
        raise
    except Exception as exc:  # cattrs groups, attrs validators, type errors
        raise RegistryError(source, _describe(exc, "")) from None


def unstructure(obj: Any) -> dict:
    """The plain-data form of a value object (the inverse of :func:`structure`)."""
    return _CONVERTER.unstructure(obj)


def read_toml(path: Path | Any) -> dict:
    """Parse a TOML file, or raise :class:`RegistryError` naming it and the line.

    ``path``: a ``str`` or ``os.PathLike``, or an object with ``read_bytes()`` (a package
    resource)."""
    path = _file(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryError(name, f"cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL character in the path
        raise RegistryError(shown(name), f"cannot read: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegistryError(name, f"not UTF-8 text (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(name, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise RegistryError(name, "not valid TOML: nested too deeply to read") from None


def _file(path: Any) -> Any:
    """A path as an object with ``read_bytes()``: a ``Path`` made from a ``str`` or
    ``os.PathLike``, or a resource object that has the method already."""
    if isinstance(path, (str, os.PathLike)):
        try:
            return Path(path)
        except TypeError:  # a PathLike that gives bytes
            pass
    elif callable(getattr(path, "read_bytes", None)):
        return path
    raise RegistryError(shown(path), "expected a path to a file (a str or pathlib.Path)")


def _load(path, cls, stem_must_match=True):
    path = _file(path)
    data = read_toml(path)
    obj = structure(data, cls, source=str(path))
    stem = Path(str(path)).stem if not hasattr(path, "stem") else path.stem
    if stem_must_match and obj.id != stem:
        raise RegistryError(str(path), f"id: {obj.id!r} must equal the file name's stem {stem!r}")
    return obj


def load_accelerator(path) -> Accelerator:
    """Load an accelerator spec from a TOML file whose stem is its id."""
    return _load(path, Accelerator)


def load_model(path) -> Model:
    """Load a model preset from a TOML file whose stem is its id."""
    return _load(path, Model)


def load_json(path, cls: type[T]) -> T:
    """Load a value object from a JSON file."""
    path = _file(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RegistryError(str(path), f"not valid JSON: {exc}") from None
    except RecursionError:
        raise RegistryError(str(path), "not valid JSON: nested too deeply to read") from None
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, a NUL in the path
        raise RegistryError(str(path), f"cannot read: {exc}") from None
    return structure(data, cls, source=str(path))


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                 "\f": "\\f", "\r": "\\r"}


def _toml_str(text: str) -> str:
    # TOML basic strings must escape '"', '\\' and every control character (U+0000-U+001F and
    # U+007F); json.dumps leaves U+007F raw, which TOML rejects.
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in value) + "]"
    if isinstance(value, dict):
        # TOML has no null: an absent key means "not given" (None), at every depth
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in value.items()
                               if x is not None) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    # bare keys are ASCII letters, digits, '_' and '-' only; anything else is quoted
    return k if _BARE_KEY.match(k) else _toml_str(k)


def to_toml(obj: Any) -> str:
    """Write a value object as TOML that :func:`structure` reads back to an equal object."""
    data = unstructure(obj)
    lines = [f"{_key(k)} = {_toml_value(x)}" for k, x in data.items() if x is not None]
    return "\n".join(lines) + "\n"
