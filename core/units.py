"""Human units, parsed once at load time.

Inside ridgeline every number is in SI base units and the unit is in the name: ``_bytes``,
``_bytes_per_s``, ``_flops``, ``_flops_per_s``, ``_s``, ``_w``, ``_j``, ``_usd``,
``_usd_per_hour``. People may write ``"80 GiB"``, ``"3.35 TB/s"``, ``"989 TFLOP/s"``,
``"700 W"``, ``"2.49 USD/h"`` or a count such as ``"300B"`` in TOML files and on the command line.

Decimal prefixes are decimal and binary prefixes are binary, always: ``GB`` is 10^9 bytes and
``GiB`` is 2^30 bytes. (Vendors' "80 GB" of HBM is physically 80 GiB; the registry files say
``"80 GiB"`` for it.) A capital ``B`` is a byte and a lower-case ``b`` a bit: ``"400 Gb/s"`` is
5e10 bytes/s.
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np

from ._arguments import shown
from .errors import ScenarioError

__all__ = ["parse", "parse_count", "unit_of", "format_value", "DIMENSIONS"]

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}


def _table(base_units: dict[str, float], prefixes=_DECIMAL, binary=False) -> dict[str, float]:
    out: dict[str, float] = {}
    for unit, scale in base_units.items():
        for p, f in prefixes.items():
            out[p + unit] = f * scale
        if binary:
            for p, f in _BINARY.items():
                out[p + unit] = f * scale
    return out


_BYTES = _table({"B": 1.0, "bit": 0.125, "b": 0.125}, binary=True)
_RATE = {k + "/s": v for k, v in _BYTES.items()} | {k + "ps": v for k, v in _BYTES.items()}
_FLOP_NAMES = {"FLOP": 1.0, "OP": 1.0}
_FLOPS = _table(_FLOP_NAMES)
_FLOP_RATE = (
    {k + "/s": v for k, v in _FLOPS.items()}
    | {k + "S": v for k, v in _FLOPS.items()}
    | {k + "s": v for k, v in _FLOPS.items()}
)
_TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0,
         "day": 86400.0, "days": 86400.0}
_POWER = _table({"W": 1.0})
_ENERGY = _table({"J": 1.0, "Wh": 3600.0})
_PRICE_PER_HOUR = {"USD/h": 1.0, "$/h": 1.0, "USD/hour": 1.0, "$/hour": 1.0}
_USD = {"USD": 1.0, "$": 1.0}
_COUNT = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}

#: unit tables by the dimension a field's name declares (its suffix).
DIMENSIONS: dict[str, dict[str, float]] = {
    "bytes_per_s": _RATE,
    "flops_per_s": _FLOP_RATE,
    "usd_per_hour": _PRICE_PER_HOUR,
    "bytes": _BYTES,
    "flops": _FLOPS,
    "usd": _USD,
    "s": _TIME,
    "w": _POWER,
    "j": _ENERGY,
    "count": _COUNT,
}

_SYMBOL = {"bytes_per_s": "B/s", "flops_per_s": "FLOP/s", "usd_per_hour": "USD/h",
           "bytes": "B", "flops": "FLOP", "usd": "USD", "s": "s", "w": "W", "j": "J",
           "tokens_per_s": "tokens/s", "per_s": "1/s"}

_NUMBER = re.compile(r"^\s*([+-]?(?:\d[\d_,]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*?)\s*$")

#: a number whose commas group its digits in threes (1,000 or 12,345.5)
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?(?:[eE][+-]?\d+)?$")

#: qualifiers that may follow the unit in a name (``kv_cache_bytes_per_token_per_device``).
_QUALIFIERS = ("_per_device", "_per_token", "_per_sequence", "_per_layer", "_per_step",
               "_per_user", "_forward")


def unit_of(name: str) -> str:
    """The unit symbol a quantity's name declares (``"decode_step_s"`` -> ``"s"``), or ``""``.

    Qualifiers after the unit are skipped: ``weight_bytes_per_device`` is in bytes.
    """
    stripped = True
    while stripped:
        stripped = False
        for q in _QUALIFIERS:
            if name.endswith(q) and len(name) > len(q):
                name, stripped = name[: -len(q)], True
    for suffix in ("tokens_per_s", "bytes_per_s", "flops_per_s", "usd_per_hour", "per_s",
                   "bytes", "flops", "usd", "s", "w", "j"):
        if name == suffix or name.endswith("_" + suffix):
            return _SYMBOL[suffix]
    return ""


def dimension_of(name: str) -> str | None:
    """The dimension key of :data:`DIMENSIONS` that a field name's suffix declares."""
    for suffix in ("bytes_per_s", "flops_per_s", "usd_per_hour", "bytes", "flops", "usd", "s",
                   "w", "j"):
        if name == suffix or name.endswith("_" + suffix):
            return suffix
    return None


def parse(value: object, dimension: str, *, what: str = "value") -> float:
    """Parse a number or a human string such as ``"3.35 TB/s"`` into SI base units.

    Args:
        value: an int, a float, or a string of a number and a unit.
        dimension: a key of :data:`DIMENSIONS` (``"bytes"``, ``"bytes_per_s"``, ...).
        what: how to name the value in an error message.

    Raises:
        ScenarioError: the value is not a finite number, or its unit does not fit the dimension.
    """
    table = DIMENSIONS[dimension]
    if isinstance(value, bool):
        raise ScenarioError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond the float range: no quantity is that large
            raise ScenarioError(f"{what}: expected a finite number, got "
                                f"{shown(value)}") from None
        if not math.isfinite(number):
            raise ScenarioError(f"{what}: expected a finite number, got {value!r}")
        return number
    if isinstance(value, numbers.Real) and not isinstance(value, np.bool_):
        return parse(float(value), dimension, what=what)  # numpy's integers, fractions
    if not isinstance(value, str):
        raise ScenarioError(f"{what}: expected a number or a string such as "
                            f"{_example(dimension)!r}, got {type(value).__name__}")
    key = (value, dimension)
    result = _PARSED.get(key)
    if result is None:
        result = _parse_text(value, dimension, table, what)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = result
    return result


#: strings already parsed, by (text, dimension): the same few ("1B", "80 GiB") come back on
#: every call of the API, and a regular expression costs microseconds. Bounded; errors are
#: never stored, so a bad string raises every time with its own ``what``.
_PARSED: dict[tuple[str, str], float] = {}
_PARSED_MAX = 4096


def _parse_text(value: str, dimension: str, table: dict, what: str) -> float:
    match = _NUMBER.match(value)
    if not match:
        raise ScenarioError(f"{what}: cannot read {value!r} as a number with a unit "
                            f"(e.g. {_example(dimension)!r})")
    number_text, unit = match.groups()
    if "," in number_text and not _THOUSANDS.match(number_text):
        # "1,8,64" is a list, not one thousand eight hundred and sixty-four
        raise ScenarioError(f"{what}: cannot read {value!r} as one number: commas may only "
                            f"separate thousands (1,000,000); give one value")
    try:
        number = float(number_text.replace("_", "").replace(",", ""))
    except ValueError:
        raise ScenarioError(f"{what}: cannot read {number_text!r} as a number") from None
    scale = 1.0 if unit == "" else table.get(unit)  # a bare number is in SI base units
    if scale is None:
        scale = table.get(unit.replace(" ", ""))
    if scale is None:
        raise ScenarioError(f"{what}: unit {unit!r} in {value!r} is not a unit of "
                            f"{_DIMENSION_NAMES[dimension]} (e.g. {_example(dimension)!r})")
    result = number * scale
    if not math.isfinite(result):
        raise ScenarioError(f"{what}: {value!r} is not a finite number")
    return result


_DIMENSION_NAMES = {"bytes": "size (bytes)", "bytes_per_s": "bandwidth (bytes/s)",
                    "flops": "work (FLOP)", "flops_per_s": "compute rate (FLOP/s)",
                    "s": "time", "w": "power", "j": "energy", "usd": "money (USD)",
                    "usd_per_hour": "price per hour", "count": "count"}


def parse_count(value: object, *, what: str = "count") -> float:
    """Parse a count such as ``300B``, ``1.4T``, ``7M`` or ``1e9``."""
    return parse(value, "count", what=what)


def _example(dimension: str) -> str:
    return {"bytes": "80 GiB", "bytes_per_s": "3.35 TB/s", "flops_per_s": "989 TFLOP/s",
            "flops": "3.2 TFLOP", "s": "27 ms", "w": "700 W", "j": "1.5 kJ",
            "usd_per_hour": "2.49 USD/h", "usd": "100 USD", "count": "300B"}[dimension]


_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_SMALL = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))


def format_value(value: float, unit: str, digits: int = 3) -> str:
    """Format an SI value for people: ``format_value(3.35e12, "B/s") == "3.35 TB/s"``."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if unit == "":
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.{digits}g}"
    if unit in ("USD", "USD/h"):
        return f"{v:,.4g} {unit}" if abs(v) < 1000 else f"{v:,.0f} {unit}"
    mag = abs(v)
    if unit == "s":
        if mag >= 86400 * 2:
            return f"{v / 86400:.{digits}g} days"
        if mag >= 3600 * 2:
            return f"{v / 3600:.{digits}g} h"
        for scale, p in _SMALL:
            if mag >= scale:
                return f"{v / scale:.{digits}g} {p}s"
        return f"{v:.{digits}g} s"
    for scale, p in _PREFIXES:
        if mag >= scale:
            return f"{v / scale:.{digits}g} {p}{unit}"
    return f"{v:.{digits}g} {unit}"


# ------------------------------------------------------------------ what values a quantity takes

#: The domains a quantity's values lie in, with what a value must be to belong. A formula
#: declares its quantity's domain (``formula(..., domain="count")``); the engine checks every
#: value a formula returns, every given input and every sweep axis against it.
DOMAINS: dict[str, str] = {
    "real": "a finite real number",
    "nonnegative": "a finite real number >= 0",
    "count": "a whole number >= 1",
    "whole": "a whole number >= 0",
    "fraction": "a real number from 0 to 1",
    "flag": "0 or 1 (or a bool)",
    "structured": "a structured value (an operation table or an object)",
}

#: units whose values are not numbers: operation tables, and structured values (per-device
#: dimensions) that formulas hand each other.
STRUCTURED_UNITS = frozenset(("table", "object"))


def domain_of(unit: str) -> str:
    """The domain a quantity of ``unit`` has unless its formula says otherwise.

    Every physical unit (s, B, FLOP, B/s, W, J, USD, ...) measures an amount, which is never
    negative; a dimensionless quantity (``""``) may be any finite real number.
    """
    if unit in STRUCTURED_UNITS:
        return "structured"
    return "real" if unit == "" else "nonnegative"


_REAL_SCALARS = (int, float, np.integer, np.floating)


def value_problem(value: object, domain: str, shape: tuple = ()) -> str | None:
    """What is wrong with ``value`` as a value of a quantity of ``domain``, or ``None``.

    ``value`` may be a number or a real numpy array that broadcasts to ``shape`` (the shape of
    a sweep's grid; ``()`` for a single estimate). Numbers from numpy count as numbers; a bool
    counts as 0 or 1, but an array of bools only for a flag.
    """
    if domain == "structured":
        return None
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind not in "fiub" or (kind == "b" and domain != "flag"):
            return f"an array of {value.dtype}, expected {DOMAINS[domain]}"
        try:
            fits = np.broadcast_shapes(value.shape, shape) == tuple(shape)
        except ValueError:
            fits = False
        if not fits:
            return f"an array of shape {value.shape}, expected " + (
                f"one that broadcasts to the grid's shape {tuple(shape)}" if shape
                else "a single number")
        if kind == "f" and not np.all(np.isfinite(value)):
            return "a non-finite value in an array"
        if value.size == 0:
            return None
        return _range_problem(value, domain, in_array=True)
    if isinstance(value, (bool, np.bool_)):  # a formula's True is 1
        return None if value or domain != "count" else \
            f"{value!r}, expected {DOMAINS[domain]}"
    if isinstance(value, np.integer) and abs(int(value)) > 2**53:
        # numpy's fixed-width integers wrap around silently when arithmetic overflows them
        return f"numpy {type(value).__name__} {value!r:.40}, too large to compute with " \
               f"exactly (more than 2**53); return a float"
    if not isinstance(value, _REAL_SCALARS):
        shown = repr(value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        return f"{type(value).__name__} {shown}, expected {DOMAINS[domain]}"
    try:
        number = float(value)
    except OverflowError:
        return f"{value!r:.40}, which is not a finite number"
    if not math.isfinite(number):
        return f"{number!r}, which is not a finite number"
    return _range_problem(value, domain, in_array=False)


#: the largest magnitude a quantity may take. The largest physical ones ridgeline computes
#: (the FLOPs of a training run, ~1e26; its joules, ~1e16) are far below it; a value beyond it
#: only comes from an error upstream, and would overflow the arithmetic that uses it.
LARGEST = 1e200


def _range_problem(value, domain: str, in_array: bool) -> str | None:
    """The range part of :func:`value_problem`, for a finite number or array."""
    where = " in an array" if in_array else ""
    biggest = np.max(np.abs(value)).item() if in_array else abs(value)
    if biggest > LARGEST:
        return f"{biggest!r}{where}, beyond any physical scale (more than {LARGEST:g})"
    if domain == "real":
        return None
    low = np.min(value).item() if in_array else value
    if domain in ("count", "whole", "flag"):
        whole = bool(np.all(np.floor(value) == value)) if in_array else \
            float(value).is_integer()
        if not whole:
            bad = value[np.floor(value) != value].flat[0].item() if in_array else value
            return f"{bad!r}{where}, expected {DOMAINS[domain]}"
    least = 1 if domain == "count" else 0
    if low < least:
        which = ", which is negative;" if low < 0 else ","
        return f"{low!r}{where}{which} expected {DOMAINS[domain]}"
    if domain in ("fraction", "flag"):
        high = np.max(value).item() if in_array else value
        if high > 1:
            return f"{high!r}{where}, expected {DOMAINS[domain]}"
    return None
