"""The exceptions ridgeline raises.

Every error a user can cause (a bad file, an unknown name, a plan that does not divide the
model, a plugin that raises) is a :class:`RidgelineError` whose message says what happened,
where, and what was expected. Errors keep their structured fields so that code can act on them,
and they pickle, so they survive being sent between processes.
"""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = [
    "RidgelineError",
    "RegistryError",
    "PluginError",
    "UnknownNameError",
    "ScenarioError",
    "FormulaError",
    "in_stage",
    "ConflictError",
    "CycleError",
]


class RidgelineError(Exception):
    """Base class of every error ridgeline raises on purpose."""

    def __reduce__(self):  # keep pickling working for subclasses with keyword fields
        return (_rebuild, (type(self), self.__dict__.copy(), self.args))


def _rebuild(cls, state, args):
    obj = cls.__new__(cls)
    Exception.__init__(obj, *args)
    obj.__dict__.update(state)
    return obj


class RegistryError(ValueError, RidgelineError):
    """A registry file (TOML or JSON) or a registered object is invalid.

    Attributes:
        file: the file (or object) the problem was found in.
        problems: one line per problem, each naming the field path and the reason.
    """

    def __init__(self, file: str, problems: Iterable[str] | str):
        self.file = str(file)
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__(self.file, self.problems)

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"{self.file}: {self.problems[0]}"
        lines = "\n".join(f"  {p}" for p in self.problems)
        return f"{self.file}: {len(self.problems)} problems\n{lines}"


class PluginError(RidgelineError):
    """A plugin failed while it was loaded or while one of its hooks ran."""

    def __init__(self, plugin: str, hook: str | None, reason: str, *, hint: str = ""):
        self.plugin = plugin
        self.hook = hook
        self.reason = reason
        self.hint = hint
        super().__init__(plugin, hook, reason, hint)

    def __str__(self) -> str:
        where = f" in {self.hook}" if self.hook else ""
        text = f"plugin {self.plugin!r} failed{where}: {self.reason}"
        return f"{text}\n  {self.hint}" if self.hint else text


class ConflictError(RidgelineError):
    """Two plugins contributed the same thing, or two formulas are equally specific."""

    def __init__(self, what: str, providers: Iterable[str], hint: str = ""):
        self.what = what
        self.providers = tuple(providers)
        self.hint = hint
        super().__init__(what, self.providers, hint)

    def __str__(self) -> str:
        names = " and ".join(repr(p) for p in self.providers)
        text = f"{self.what} is provided by both {names}"
        return f"{text}; {self.hint}" if self.hint else text


class UnknownNameError(KeyError, RidgelineError):
    """A name (accelerator, model, quantity, plugin) that nothing registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str] = ()):
        self.kind = kind
        self.name = name
        self.suggestions = tuple(difflib.get_close_matches(name, list(known), n=3, cutoff=0.5))
        super().__init__(kind, name, self.suggestions)

    def __str__(self) -> str:
        text = f"unknown {self.kind} {self.name!r}"
        if self.suggestions:
            text += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        return text


class ScenarioError(ValueError, RidgelineError):
    """A scenario that cannot be estimated: a plan that does not divide the model, bad numbers."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


class FormulaError(RidgelineError):
    """A formula raised, or returned a value outside its quantity's domain: not a real
    number (``None``, a string, a complex number, a list), not finite, negative where the
    unit is physical, not whole where the quantity is a count, or an array that does not
    broadcast to a sweep's grid. ``plugin`` and ``formula`` name who returned it."""

    def __init__(self, formula: str, plugin: str, reason: str):
        self.formula = formula
        self.plugin = plugin
        self.reason = reason
        super().__init__(formula, plugin, reason)

    def __str__(self) -> str:
        return f"formula {self.formula!r} of plugin {self.plugin!r}: {self.reason}"


class CycleError(RidgelineError):
    """Formulas that need each other's results."""

    def __init__(self, cycle: Iterable[str]):
        self.cycle = tuple(cycle)
        super().__init__(self.cycle)

    def __str__(self) -> str:
        return "formulas form a cycle: " + " -> ".join(self.cycle)


def in_stage(what: str, call, *args, **kwargs):
    """``call(*args, **kwargs)``; a ScenarioError it raises is re-raised saying which stage of
    a larger calculation it is in (``decode pool: ...``). An unknown name is already clear
    on its own and passes through."""
    try:
        return call(*args, **kwargs)
    except UnknownNameError:
        raise
    except ScenarioError as exc:
        raise ScenarioError(f"{what}: {exc}") from None
