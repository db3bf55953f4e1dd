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
from .units import DOMAINS, STRUCTURED_UNITS, domain_of, unit_of

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
    """Features that must all be present: the plan's (``tp``, ``sp``, ``zero3``,
    ``recompute-full``, ``offload-host``), the model's (``attention-mla``) and the
    workload's (``speculative``)."""

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.family, self.kind, self.workload)) + len(self.plan)

    def holds(self, features: tuple) -> bool:
        """Whether the formula applies to scenarios with ``features``.

        The first element is the model's family, or its lineage (the family, then the family
        it extends, and so on): a formula for any family of the lineage applies.
        """
        family, kind, workload, plan_features = features
        if self.family is not None:
            lineage = (family,) if isinstance(family, str) else family
            if not any(f in self.family for f in lineage):
                return False
        return ((self.kind is None or kind in self.kind)
                and (self.workload is None or workload in self.workload)
                and self.plan <= plan_features)

    def closeness(self, lineage: tuple[str, ...]) -> int:
        """How close the formula's family is in ``lineage`` (the scenario's family first, then
        the family it extends, ...): higher is closer, 0 for formulas of any family. Between
        equally specific formulas, the one for the closer family wins."""
        if self.family is None:
            return 0
        return max((len(lineage) - i for i, f in enumerate(lineage) if f in self.family),
                   default=0)

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

    domain: str = field(validator=v.one_of(*DOMAINS))
    """The values the quantity takes (a key of :data:`ridgeline.units.DOMAINS`): ``count``,
    ``whole``, ``fraction``, ``flag``, ``nonnegative``, ``real`` or ``structured``. The
    engine checks every value the formula returns, and every value given for the quantity,
    against it."""

    @domain.default
    def _domain_of_unit(self) -> str:
        return domain_of(self.unit)

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
            plan=(), features=(), unit: str | None = None,
            domain: str | None = None) -> Callable:
    """Make a :class:`Formula` of a function; use as ``@formula`` or ``@formula("name", ...)``.

    Args:
        produces: the quantity computed; defaults to the function's name.
        family, kind, workload: architecture families, accelerator kinds, workload kinds the
            formula is for (a string or a collection); omitted means any.
        plan, features: features that must all be present (two names for one condition:
            ``plan="zero3"`` reads better for the plan's, ``features="attention-mla"`` for
            the model's and the workload's).
        unit: the quantity's unit symbol, when its name does not say it; ``"table"`` for
            a tuple of :class:`Operation` (a phase's operations: best a :class:`Table` made
            with ``table(*rows)`` or ``concat(*tables)``), ``"object"`` for another
            structured value that formulas hand each other (per-device dimensions).
            Neither is checked as a number, and the JSON output lists them apart.
        domain: the values the quantity takes, when its unit does not say it all:

            - ``"count"``: a whole number >= 1 (``batch``, ``prompt_tokens``, ``params``,
              devices, layers, steps);
            - ``"whole"``: a whole number >= 0 (``max_batch``: 0 when nothing fits; layers
              left on the host);
            - ``"fraction"``: from 0 to 1 (``mfu``, a probability such as
              ``acceptance_rate``);
            - ``"flag"``: 0 or 1, or a bool (``fits``);
            - ``"nonnegative"``: a finite number >= 0; the default for every physical unit
              (s, B, FLOP, B/s, FLOP/s, W, J, USD, tokens/s), since amounts are never negative;
            - ``"real"``: any finite number; the default for dimensionless quantities.

            Quantities of unit ``"table"`` or ``"object"`` are ``"structured"``. The engine
            checks every value a formula returns against its domain (a value outside it is a
            :class:`FormulaError` naming the plugin and the formula), and every value a user
            gives for the quantity (``inputs=``, a sweep's axis: a :class:`ScenarioError`).
            Formulas that produce the same quantity must declare the same domain.

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
        symbol = unit_of(name) if unit is None else unit
        if domain is not None and (domain == "structured") != (symbol in STRUCTURED_UNITS):
            raise ValueError(f"formula {function.__qualname__}: domain {domain!r} does not fit "
                             f"unit {symbol!r} (tables and objects, and only they, are "
                             f"structured)")
        return Formula(produces=name, function=function, params=tuple(params),
                       applies=Applies(family=family, kind=kind, workload=workload,
                                       plan=(_names(plan) or frozenset())
                                       | (_names(features) or frozenset())),
                       unit=symbol, domain=domain_of(symbol) if domain is None else domain,
                       doc=inspect.cleandoc(function.__doc__ or ""))
    return wrap
