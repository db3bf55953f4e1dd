"""Validators shared by the value objects (never lambdas: their names appear in errors)."""

from __future__ import annotations

import math
import re
from typing import NewType

# Marker types: the converter parses human units for fields annotated with these.
Bytes = NewType("Bytes", float)
BytesPerS = NewType("BytesPerS", float)
FlopsPerS = NewType("FlopsPerS", float)
Seconds = NewType("Seconds", float)
Watts = NewType("Watts", float)
UsdPerHour = NewType("UsdPerHour", float)
Count = NewType("Count", float)

_INF = math.inf


def _finite(value) -> bool:
    """``math.isfinite``, false for an int too large for a float (rather than raising)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _shown(value) -> str:
    from ._arguments import shown
    return shown(value)
_ID = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")


def finite_positive(instance, attribute, value) -> None:
    if type(value) is float and 0.0 < value < _INF:
        return  # the common case, in one comparison (NaN fails it)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{attribute.name} must be a number, got {_shown(value)}")
    if not _finite(value) or value <= 0:
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {_shown(value)}")


def optional_finite_positive(instance, attribute, value) -> None:
    if value is not None:
        finite_positive(instance, attribute, value)


def finite_non_negative(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{attribute.name} must be a number, got {_shown(value)}")
    if not _finite(value) or value < 0:
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {_shown(value)}")


def fraction(instance, attribute, value) -> None:
    """A factor in (0, 1]: an efficiency, a probability of doing work."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{attribute.name} must be a number, got {_shown(value)}")
    if not _finite(value) or not 0 < value <= 1:
        raise ValueError(f"{attribute.name} must be in (0, 1], got {_shown(value)}")


def probability(instance, attribute, value) -> None:
    """A probability in [0, 1]."""
    if type(value) is float and 0.0 <= value <= 1.0:
        return  # the common case, in one comparison (NaN fails it)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{attribute.name} must be a number, got {_shown(value)}")
    if not _finite(value) or not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be in [0, 1], got {_shown(value)}")


def positive_int(instance, attribute, value) -> None:
    if type(value) is int and value >= 1:
        return  # the common case (bool is a subclass of int, not int)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a whole number >= 1, got {_shown(value)}")


def optional_positive_int(instance, attribute, value) -> None:
    if value is not None:
        positive_int(instance, attribute, value)


def identifier(instance, attribute, value) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(
            f"{attribute.name} must be lower-case letters, digits and '.', '_', '+', '-' "
            f"(e.g. 'nvidia-h100-sxm'), got {_shown(value)}")


def optional_identifier(instance, attribute, value) -> None:
    if value is not None:
        identifier(instance, attribute, value)


def identifiers(instance, attribute, value) -> None:
    for item in value:
        identifier(instance, attribute, item)


def non_empty_str(instance, attribute, value) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string, got {_shown(value)}")


def one_of(*choices):
    def check(instance, attribute, value) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(map(repr, choices))}, "
                             f"got {_shown(value)}")
    check.__name__ = f"one_of({', '.join(map(str, choices))})"
    return check
