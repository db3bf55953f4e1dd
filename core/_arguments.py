"""Checks of the Python API's arguments, shared by the modules that take them.

Each check answers a wrong type or value with a :class:`ScenarioError` that names the
argument and says what it expected; none costs anything for an argument of the right type
beyond one ``type()`` or ``isinstance()`` test.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import ScenarioError

#: the longest repr of a wrong value an error message shows.
_SHOWN = 60


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, shortened; never raises (an int of more than
    4,300 digits has no repr, and a user's object may raise in its own)."""
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a message must not fail on what it describes
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def expected(what: str, description: str, value: Any) -> ScenarioError:
    """The error for argument ``what``: expected ``description``, got ``value``."""
    return ScenarioError(f"{what}: expected {description}, got {shown(value)}")


def name(value: Any, what: str, description: str = "a name (a string)") -> str:
    """``value`` if it is a string."""
    if type(value) is str or isinstance(value, str):
        return value
    raise expected(what, description, value)


def names(value: Any, what: str) -> tuple:
    """A list or tuple of names (never one string, whose letters would be taken as names)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise expected(what, "a list of quantity names (['tpot_s', 'fits'])", value)
    for item in value:
        name(item, what, "a list of quantity names (strings)")
    return tuple(value)


def flag(value: Any, what: str) -> bool:
    """A switch: ``True`` or ``False`` (0 and 1 are taken as them)."""
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise expected(what, "True or False", value)


def path(value: Any, what: str) -> str:
    """A file-system path: a ``str`` or an ``os.PathLike`` that gives one."""
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        text = os.fspath(value)
        if isinstance(text, str):
            return text
    raise expected(what, "a path (a str or pathlib.Path)", value)
