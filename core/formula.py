"""Formulas: plain functions that compute one quantity each.

A formula's parameters are named like pytest fixtures: ``model``, ``system``, ``plan``,
``workload`` receive the scenario's objects; any other name is another quantity, computed
first. Where the formula applies is stated as data (:class:`Applies`): the engine keeps the
formulas whose conditions hold and takes the most specific.

Every formula must accept numpy arrays wherever a number flows in (``np.maximum``,
``np.where``, ``np.ceil`` rather than ``max``, ``if``, ``math.ceil``), because ``sweep``
evaluates whole grids in one pass.
"""

from __future__ import annotations

import inspect
from typing import Callable, Optional

from attrs import field, frozen

from . import _validators as v
from .units import unit_of

#: parameter names that receive the scenario's objects rather than quantities.
SCENARIO_NAMES = ("model", "system", "plan", "workload")


def _names(value) -> Optional[frozenset[str]]:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(value)


@frozen
class Applies:
    """Where a formula applies. ``None`` means "any"; a set means "any of these".

    Specificity is the number of conditions given (``plan`` features count one each): a formula
    for ``kind="gpu"`` beats a generic one, one for ``kind="gpu", plan={"tp"}`` beats both.
    """

    family: Optional[frozenset[str]] = field(default=None, converter=_names)
    """Architecture families (``dense``, ``moe``)."""

    kind: Optional[frozenset[str]] = field(default=None, converter=_names)
    """Accelerator kinds (``gpu``, ``tpu``)."""

    workload: Optional[frozenset[str]] = field(default=None, converter=_names)
    """Workload kinds (``inference``, ``training``)."""

    plan: frozenset[str] = field(default=frozenset(), converter=lambda p: _names(p) or frozenset())
    """Plan features that must all be present (``tp``, ``sp``, ``zero3``, ``recompute-full``)."""

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.family, self.kind, self.workload)) + len(self.plan)

    def holds(self, features: tuple) -> bool:
        family, kind, workload, plan_features = features
        return ((self.family is None or family in self.family)
                and (self.kind is None or kind in self.kind)
                and (self.workload is None or workload in self.workload)
                and self.plan <= plan_features)

    def describe(self) -> str:
        parts = []
        for name in ("family", "kind", "workload"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={'|'.join(sorted(value))}")
        if self.plan:
            parts.append("plan=" + "+".join(sorted(self.plan)))
        return ", ".join(parts) or "always"


@frozen
class Formula:
    """A function that computes the quantity ``produces``, and where it applies."""

    produces: str = field(validator=v.identifier)
    """The quantity's name, with its unit in the name (``decode_step_s``)."""

    function: Callable = field(repr=False)
    params: tuple[str, ...]
    """The function's parameter names: scenario objects or other quantities."""

    applies: Applies = Applies()
    unit: str = ""
    """Unit symbol; inferred from the name's suffix when not given."""

    doc: str = ""
    plugin: str = ""
    """Set when the formula is registered: the plugin that gave it."""

    @property
    def id(self) -> str:
        return f"{self.plugin}:{self.function.__module__}.{self.function.__qualname__}" \
            if self.plugin else f"{self.function.__module__}.{self.function.__qualname__}"

    @property
    def name(self) -> str:
        """The function's name, which explanations print."""
        return self.function.__qualname__

    def quantity_params(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if p not in SCENARIO_NAMES)


def formula(produces: str | Callable | None = None, *, family=None, kind=None, workload=None,
            plan=(), unit: str | None = None) -> Callable:
    """Make a :class:`Formula` of a function; use as ``@formula`` or ``@formula("name", ...)``.

    Args:
        produces: the quantity computed; defaults to the function's name.
        family, kind, workload: architecture families, accelerator kinds, workload kinds the
            formula is for (a string or a collection); omitted means any.
        plan: plan features that must all be present.
        unit: the quantity's unit symbol, when its name does not say it.

    Example::

        @formula(kind="gpu")
        def decode_step_s(decode_weight_read_s, decode_attention_s):
            return decode_weight_read_s + decode_attention_s
    """
    if callable(produces):
        return formula()(produces)

    def wrap(function: Callable) -> Formula:
        params = []
        for p in inspect.signature(function).parameters.values():
            if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY):
                raise TypeError(f"formula {function.__qualname__}: parameter {p.name!r} must be "
                                f"a plain positional parameter")
            params.append(p.name)
        name = produces or function.__name__
        return Formula(produces=name, function=function, params=tuple(params),
                       applies=Applies(family=family, kind=kind, workload=workload, plan=plan),
                       unit=unit_of(name) if unit is None else unit,
                       doc=inspect.cleandoc(function.__doc__ or ""))
    return wrap
