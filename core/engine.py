"""The formula engine: which formulas run, in what order, and why each value is what it is.

For a scenario, the engine picks for every quantity asked for the most specific formula whose
conditions hold, resolves its parameters the same way (recursively, naming any cycle), and
orders them. That order depends only on the scenario's discrete features (family, accelerator
kind, workload kind, plan features), so it is computed once per combination and cached in the
catalog. Evaluating it is then a straight run of function calls, compiled into one Python
function so that no dictionary look-up or dispatch sits between two formulas.

Values may be floats or numpy arrays (``sweep``); every formula must handle both.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Mapping, Optional

import attrs
import numpy as np

from ._arguments import expected, name, names
from .catalog import BUILTIN_PLUGINS, Catalog, default_catalog
from .errors import (ConflictError, CycleError, FormulaError, RidgelineError, ScenarioError,
                     UnknownNameError)
from .formula import SCENARIO_NAMES, Formula
from .scenario import Scenario
from .units import DOMAINS, LARGEST, format_value, value_problem

__all__ = ["Program", "compile_program", "evaluate", "Estimate", "estimate", "sweep",
           "check_inputs", "check_used", "quantity_domain", "evaluate_plans"]

#: the key, in a catalog's cache of programs, of "every quantity that applies".
_ALL = "every quantity"

_NO_INPUTS: frozenset = frozenset()


#: names a static quantity may depend on: everything but the workload and given inputs.
_STATIC_ROOTS = frozenset(("model", "system", "plan"))

#: distinct (model, system, plan) triples whose static values one program keeps.
_STATIC_CACHE_SIZE = 64


class Program:
    """The resolved, ordered formulas for one combination of features, targets and inputs.

    Its steps split in two. *Static* steps depend, through every parameter, only on the
    model, the system and the plan: their values are computed once per such triple and kept
    (a sweep over workloads, a ``batch="max"`` search, a planner trying traffic patterns all
    reuse them). *Dynamic* steps depend on the workload or on given inputs and run on every
    estimate.
    """

    def __init__(self, features: tuple, steps: list[Formula], inputs: frozenset[str],
                 targets: tuple[str, ...], skipped: Mapping[str, str]):
        self.features = features
        self.steps = tuple(steps)
        self.inputs = inputs
        self.targets = targets
        self.skipped = dict(skipped)
        """Quantities asked for optionally that cannot be computed here, with the reason."""
        self.formula_of = {f.produces: f for f in steps}
        static = set(_STATIC_ROOTS)
        for f in self.steps:
            if static.issuperset(f.params):
                static.add(f.produces)
        self.static_steps = tuple(f for f in self.steps if f.produces in static)
        self.dynamic_steps = tuple(f for f in self.steps if f.produces not in static)
        self.static_quantities = tuple(f.produces for f in self.static_steps)
        kept = SCENARIO_NAMES + tuple(sorted(inputs))
        self._kept = kept
        # the compiled functions are made on first use (see __getattr__): a plan search
        # resolves hundreds of programs and runs them step by step on arrays, and compiling
        # them costs several times what resolving them does
        self.row_names = kept + self.static_quantities + tuple(
            f.produces for f in self.dynamic_steps)
        """The names of the values of an estimate's row (see :class:`Estimate`), in order."""
        self.row_index = {q: i for i, q in enumerate(self.row_names) if q not in SCENARIO_NAMES}
        self._statics: dict = {}
        self.time_quantities = tuple(f.produces for f in steps if f.unit == "s")
        # quantities of unit "table" (operation lists) and "object" are structured, not numbers
        self.checked = tuple(f for f in steps if f.domain != "structured")
        self.checked_quantities = tuple(f.produces for f in self.checked)

    def __getattr__(self, name: str) -> Any:
        """The compiled functions, made on first use; then they are plain attributes."""
        if name in ("run", "_run_checked"):
            self.run, self._run_checked = _compile(self.steps)
        elif name == "_run_static_checked":
            self._run_static_checked = _compile(self.static_steps, returns="tuple and check")
        elif name in ("_run_dynamic", "_run_dynamic_checked"):
            self._run_dynamic, self._run_dynamic_checked = _compile(
                self.dynamic_steps, static=self.static_quantities, keep=self._kept)
        else:
            raise AttributeError(name)
        return self.__dict__[name]

    def static_values(self, model: Any, system: Any, plan: Any) -> tuple[dict, bool]:
        """The static steps' values for this model, system and plan, and whether every one is
        a finite number (times >= 0): computed on first use, then kept.

        Keyed by identity (frozen values; an accelerator holds mappings, so it has no hash);
        each entry holds its objects, so no identity is reused while it is kept. Values that
        fail the check are not kept: the caller's full check names the culprit.
        """
        statics, ok = self._static_tuple(model, system, plan)
        entry = self._statics.get((id(model), id(system), id(plan)))
        if entry is None or entry[3] is not statics:  # not kept: they failed the check
            return dict(zip(self.static_quantities, statics)), ok
        if entry[4] is None:  # the dict is made once, on first request
            entry[4] = dict(zip(self.static_quantities, statics))
        return entry[4], True

    def _static_tuple(self, model: Any, system: Any, plan: Any) -> tuple[tuple, bool]:
        """The static steps' values in step order, as :meth:`static_values` keeps them."""
        key = (id(model), id(system), id(plan))
        entry = self._statics.get(key)
        if entry is not None and entry[0] is model and entry[1] is system and entry[2] is plan:
            return entry[3], True
        statics, ok = self._run_static_checked({"model": model, "system": system, "plan": plan})
        if ok:
            if len(self._statics) >= _STATIC_CACHE_SIZE:
                self._statics.clear()
            self._statics[key] = [model, system, plan, statics, None]
        return statics, ok


#: domains whose values are never negative, and those whose values are whole numbers.
_NON_NEGATIVE = frozenset(("nonnegative", "count", "whole", "fraction", "flag"))
_WHOLE = frozenset(("count", "whole", "flag"))
_AT_MOST_ONE = frozenset(("fraction", "flag"))

#: types whose values are real numbers: the sum of the values in the quick check has one of
#: them exactly when no value is complex (a numpy complex converts to float with a warning).
_REAL_TYPES = (int, float, np.integer, np.floating)


def _check_lines(steps, names: dict) -> list[str]:
    """The quick check of the compiled functions, on the locals of ``steps``' values: sets
    ``_ok`` to whether every value is a real number inside its quantity's domain (see
    :func:`_compile`).

    The sum of finite numbers is finite (or overflows, a false alarm that only sends the
    values to the full check); any inf or NaN makes it inf or NaN, and any complex value
    makes it complex. Arrays, strings and other values raise here or give a sum of another
    type, and go to the full check too. Then each domain's bounds, and a remainder for the
    values that must be whole. Chains of ``+`` and of comparisons with float constants run
    as CPython's specialised float instructions: a few times cheaper than ``sum()`` or
    ``min()`` of a tuple, which compare through the generic protocol.
    """
    numbers = [names[f.produces] for f in steps if f.domain != "structured"]
    if not numbers:
        return ["    _ok = True"]
    # chunks keep the expression shallow: the compiler recurses once per "+"
    chunks = [" + ".join(numbers[i:i + 50]) for i in range(0, len(numbers), 50)]
    total = chunks[0] if len(chunks) == 1 else f"_sum(({', '.join(chunks)},))"
    # (a value beyond LARGEST makes the sum of the magnitudes beyond it too)
    parts = ["(type(_t) is float or _isinstance(_t, _REAL))", "_isfinite(_t)",
             f"-{LARGEST!r} < _t < {LARGEST!r}"]
    parts += [f"{names[f.produces]} >= 0.0" for f in steps if f.domain in _NON_NEGATIVE]
    parts += [f"{names[f.produces]} <= 1.0" for f in steps if f.domain in _AT_MOST_ONE]
    whole = [names[f.produces] for f in steps if f.domain in _WHOLE]
    if whole:  # every remainder is >= 0, so their "or" is 0 only when each one is
        parts.append("not (" + " or ".join(f"{w} % 1.0" for w in whole) + ")")
    # a whole number >= 0 is >= 1 unless it is 0: a truth test
    parts += [names[f.produces] for f in steps if f.domain == "count"]
    return ["    try:", f"      _t = {total}", f"      _ok = bool({' and '.join(parts)})",
            "    except Exception:", "      _ok = False"]


def _compile(steps: tuple[Formula, ...], static: Optional[tuple[str, ...]] = None,
             returns: str = "", keep: tuple[str, ...] = ()):
    """Python functions that call every step in order, with locals for values.

    By default two: ``run(values)`` fills ``values`` and returns it; ``run_checked(values)``
    does the same and returns whether every number is finite and every time >= 0 (see
    :func:`_quick_check`), tested on the locals, which costs a fraction of looking each value
    up again. With ``returns="tuple and check"``, one function that returns the values in
    step order as a tuple, and the check's result.

    With ``static`` (names of values computed before), both take a second argument, a tuple
    of those values in that order, and return a *row* instead of filling ``values``
    (``run_checked`` returns it with the check's result): a tuple of the values named in
    ``keep`` (the scenario's objects and given inputs, taken from ``values``), then the static
    values, then the steps' own. A tuple of dozens of values costs a small fraction of a dict
    of them (CPython builds a large dict literal in chunks and merges them).

    The formulas are bound as closure variables (one fast load per call, no argument
    unpacking); a step that raises leaves ``values`` as it was (the engine's error paths
    re-run the steps one by one).
    """
    produced = {f.produces for f in steps}
    given = set(static or ())
    needed = {p for f in steps for p in f.params}
    names = {q: f"v{i}" for i, q in enumerate(dict.fromkeys(itertools.chain(
        SCENARIO_NAMES, keep, sorted(needed - set(SCENARIO_NAMES) - produced - given),
        static or (), (f.produces for f in steps))))}
    inputs = [q for q in names if q not in produced and q not in given
              and (q in needed or q in keep)]
    body = [f"    {names[q]} = _values.get({q!r})" for q in inputs]
    if static:
        body.append(f"    {', '.join(names[q] for q in static)}, = _static")
    for i, f in enumerate(steps):
        body.append(f"    {names[f.produces]} = f{i}({', '.join(names[p] for p in f.params)})")
    checked = _check_lines(steps, names)
    args = "_values, _static" if static is not None else "_values"
    if returns == "tuple and check":
        result = "(" + "".join(f"{names[f.produces]}, " for f in steps) + ")"
        functions = [f"  def run_static_checked({args}):", *body, *checked,
                     f"    return {result}, _ok", "  return run_static_checked"]
    elif static is not None:
        row = "(" + "".join(f"{names[q]}, " for q in itertools.chain(
            keep, static, (f.produces for f in steps))) + ")"
        functions = [f"  def run({args}):", *body, f"    return {row}",
                     f"  def run_checked({args}):", *body, *checked,
                     f"    return {row}, _ok", "  return run, run_checked"]
    else:
        store = ["    _values.update({" + ", ".join(f"{f.produces!r}: {names[f.produces]}"
                                          for f in steps) + "})"]
        functions = [f"  def run({args}):", *body, *store, "    return _values",
                     f"  def run_checked({args}):", *body, *store, *checked, "    return _ok",
                     "  return run, run_checked"]
    lines = ["def make(_isfinite, _min, _max, _sum, _isinstance, _REAL, "
             + ", ".join(f"f{i}" for i in range(len(steps))) + "):", *functions]
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<ridgeline program>", "exec"), namespace)
    return namespace["make"](math.isfinite, min, max, sum, isinstance, _REAL_TYPES,
                             *(f.function for f in steps))


def _candidates(catalog: Catalog, quantity: str, features: tuple) -> list[Formula]:
    return [f for f in catalog.formulas.get(quantity, ()) if f.applies.holds(features)]


def _describe_features(features: tuple) -> str:
    family, kind, workload, plan = features
    if not isinstance(family, str):
        family = " extends ".join(family) if len(family) > 1 else family[0]
    return f"family={family}, kind={kind}, workload={workload}"


def compile_program(catalog: Catalog, features: tuple, targets: Iterable[str],
                    inputs: Iterable[str] = (), optional: bool = False) -> Program:
    """Resolve and order the formulas that compute ``targets`` for scenarios with ``features``.

    Args:
        targets: quantities wanted.
        inputs: quantities whose values are given (overrides, sweep axes): no formula runs
            for them.
        optional: skip targets that cannot be computed here (recorded in ``skipped``) instead
            of raising.

    Raises:
        ConflictError: two formulas from different plugins are equally specific.
        CycleError: formulas need each other.
        ScenarioError: no formula computes a quantity that is needed.
    """
    targets = tuple(targets)
    inputs = frozenset(inputs) if inputs else _NO_INPUTS
    key = (features, targets, inputs, optional)
    try:
        cached = catalog._cache.get(key)
    except TypeError:  # a target that is no name (a list) cannot even be looked up
        names(targets, "quantities")
        raise
    if cached is not None:
        return cached
    names(targets, "quantities")  # once per distinct list: then it is kept

    lineage = catalog.lineage(features[0])
    scenario_features = (lineage,) + tuple(features[1:])
    chosen: dict[str, Formula] = {}
    order: list[Formula] = []
    failed: dict[str, str] = {}

    def pick(quantity: str) -> Formula:
        found = _candidates(catalog, quantity, scenario_features)
        if not found:
            if quantity not in catalog.formulas:
                raise ScenarioError(f"no formula computes {quantity!r}")
            raise ScenarioError(f"no formula computes {quantity!r} for "
                                f"{_describe_features(scenario_features)}")
        best = max(f.applies.specificity for f in found)
        top = [f for f in found if f.applies.specificity == best]
        # among equally specific formulas for families of the lineage, the closest family wins
        closest = max(f.applies.closeness(lineage) for f in top)
        top = [f for f in top if f.applies.family is None
               or f.applies.closeness(lineage) == closest]
        if len(top) > 1:
            raise ConflictError(f"formula for {quantity!r} "
                                f"({_describe_features(scenario_features)})",
                                [f"{f.plugin} ({f.name}, where {f.applies.describe()})"
                                 for f in top],
                                "they are equally specific; make one more specific or "
                                "disable a plugin with RIDGELINE_DISABLE_PLUGINS")
        return top[0]

    def visit(quantity: str, stack: list[str]) -> None:
        if quantity in SCENARIO_NAMES or quantity in inputs or quantity in chosen:
            return
        if quantity in failed:
            raise ScenarioError(failed[quantity])
        if quantity in stack:
            raise CycleError(stack[stack.index(quantity):] + [quantity])
        try:
            f = pick(quantity)
        except ScenarioError as exc:
            if stack:
                needer = chosen_by_stack.get(stack[-1])
                who = f" (needed by {needer.plugin}:{needer.name})" if needer else ""
                msg = f"{exc}{who}"
            else:
                msg = str(exc)
            failed[quantity] = msg
            raise ScenarioError(msg) from None
        chosen_by_stack[quantity] = f
        stack.append(quantity)
        try:
            for p in f.params:
                visit(p, stack)
        finally:
            stack.pop()
        chosen[quantity] = f
        order.append(f)

    chosen_by_stack: dict[str, Formula] = {}
    skipped: dict[str, str] = {}
    for t in targets:
        if not optional:
            visit(t, [])
            continue
        snapshot = (dict(chosen), list(order))
        try:
            visit(t, [])
        except (ScenarioError, CycleError) as exc:
            chosen.clear()
            chosen.update(snapshot[0])
            order[:] = snapshot[1]
            if _candidates(catalog, t, scenario_features):  # applies but cannot be computed
                skipped[t] = str(exc)
    # a quantity's values are checked by the strictest domain its formulas declare: a plugin
    # that replaces the built-in batch without saying it is a count still returns a count
    order = [f if f.domain == quantity_domain(catalog, f.produces)
             else attrs.evolve(f, domain=quantity_domain(catalog, f.produces)) for f in order]
    program = Program(features, order, inputs, targets, skipped)
    catalog._cache[key] = program
    return program


def _bad_value(value: Any, domain: str, shape: tuple = ()) -> Optional[str]:
    """What is wrong with a formula's value, or ``None`` (see :func:`units.value_problem`)."""
    return value_problem(value, domain, shape)


def evaluate(program: Program, scenario: Scenario, inputs: Mapping[str, Any] = (),
             skipped: Optional[dict] = None) -> dict:
    """Run a program for one scenario; every value is checked finite, every time >= 0.

    With ``skipped`` (a dict), a formula that raises :class:`ScenarioError` (a price the
    accelerator lacks, say) leaves its quantity and everything that needs it out, with the
    reason recorded there, instead of failing the whole estimate.
    """
    values = _evaluate(program, scenario, inputs, skipped)
    return dict(zip(program.row_names, values)) if type(values) is tuple else values


def _evaluate(program: Program, scenario: Scenario, inputs: Mapping[str, Any],
              skipped: Optional[dict]) -> Any:
    """:func:`evaluate`, giving the values as the program's row (a tuple in the order of
    ``program.row_names``) when every value passes the quick check, as a dict otherwise."""
    model, system, plan = scenario.model, scenario.system, scenario.plan
    values = {"model": model, "system": system, "plan": plan, "workload": scenario.workload}
    if inputs:
        values.update(inputs)
    # with arrays (a sweep), the quick check on locals would add whole arrays before finding
    # they are arrays: such values go straight to the full check
    vectorised = bool(inputs) and any(isinstance(v, np.ndarray) for v in inputs.values())
    ok = False
    try:
        statics, static_ok = program._static_tuple(model, system, plan)
        if vectorised:
            row = program._run_dynamic(values, statics)
        else:
            row, ok = program._run_dynamic_checked(values, statics)
            if ok and static_ok:
                return row
        values = dict(zip(program.row_names, row))
    except ScenarioError:
        if skipped is None:
            raise
        _run_skipping(program, values, skipped)
    except RidgelineError:
        raise
    except Exception:
        _rerun_to_blame(program, values)
        raise  # pragma: no cover - the re-run always raises
    shape = np.broadcast_shapes(*(np.shape(v) for v in inputs.values())) if vectorised else ()
    for f in program.checked:
        if f.produces in values:
            _checked_step(program, f, values, shape)
    return values


def _quick_check(program: Program, values: dict) -> bool:
    """True when every value is a real scalar inside its quantity's domain (a reference for
    the compiled check: the same rules, one value at a time)."""
    return all(value_problem(values[f.produces], f.domain) is None for f in program.checked)


def _run_skipping(program: Program, values: dict, skipped: dict) -> None:
    shape = _shape_of(values)
    for f in program.steps:
        missing = [p for p in f.params if p in skipped]
        if missing:
            skipped[f.produces] = skipped[missing[0]]
            values.pop(f.produces, None)
            continue
        try:
            values[f.produces] = f.function(*(values[p] for p in f.params))
        except ScenarioError as exc:
            skipped[f.produces] = str(exc)
            values.pop(f.produces, None)
            continue
        except RidgelineError:
            raise
        except Exception as exc:
            raise _raised(program, f, values, exc) from exc
        _checked_step(program, f, values, shape)


def _rerun_to_blame(program: Program, values: dict) -> None:
    """Run the steps one by one, checking each value as it comes: a value outside its domain
    is blamed on the formula that made it, not on the one that choked on it later."""
    shape = _shape_of(values)
    for f in program.steps:
        try:
            values[f.produces] = f.function(*(values[p] for p in f.params))
        except RidgelineError:
            raise
        except Exception as exc:
            raise _raised(program, f, values, exc) from exc
        _checked_step(program, f, values, shape)


def _checked_step(program: Program, f: Formula, values: dict, shape: tuple) -> None:
    """Check ``f``'s value, blaming an impossible one on where its cause first appears."""
    try:
        _check_step(f, values, shape)
    except FormulaError as exc:
        _blame_a_tiny_divisor(program, f, values, exc)
        raise


#: magnitudes below this are no physical quantity's either: a time, a rate or a size this
#: small only comes from an error, and whatever divides by it leaves every physical scale.
_TINY = 1e-100


def _is_tiny(value: Any) -> bool:
    try:
        array = np.asarray(value)
        # a complex value's magnitude (casting it to float would drop its imaginary part)
        magnitude = np.abs(array if array.dtype.kind == "c" else array.astype(float))
    except (TypeError, ValueError, OverflowError):
        return False
    return bool(np.any((magnitude > 0) & (magnitude < _TINY)))


def _origin(program: Program, quantity: str, values: dict, test) -> str:
    """``quantity`` followed up through the formulas that made it, while an input of theirs
    passes ``test`` too: where such a value (a 0, a value next to 0) first appears."""
    while quantity in program.formula_of:
        upstream = [p for p in program.formula_of[quantity].quantity_params()
                    if (p in program.formula_of or p in program.inputs) and test(values.get(p))]
        if not upstream:
            break
        quantity = upstream[0]
    return quantity


def _divisor(f: Formula, values: dict) -> Optional[str]:
    """The input of ``f`` whose 0 it divided by: the one that, made 1 instead, lets it run."""
    for p in f.quantity_params():
        value = values.get(p)
        if not _is_zero(value):
            continue
        trial = dict(values)
        trial[p] = np.where(np.asarray(value, dtype=float) == 0.0, 1.0, value) \
            if isinstance(value, np.ndarray) else 1.0
        try:
            f.function(*(trial[q] for q in f.params))
        except ArithmeticError:
            continue
        except Exception:  # noqa: BLE001 - any other failure is not this input's 0
            continue
        return p
    return None


def _blamed_for(program: Program, quantity: str, values: dict, consumer: Formula,
                what: str) -> RidgelineError:
    """The error for a value ``what`` describes, where it first appears: the caller's when
    the caller gave it, else the formula's that made it."""
    if quantity in program.inputs:
        return ScenarioError(f"given {quantity} = {_short(values.get(quantity))}: {what}, "
                             f"in {consumer.plugin}:{consumer.name}")
    maker = program.formula_of[quantity]
    return FormulaError(maker.name, maker.plugin, f"{quantity} is "
                        f"{_short(values.get(quantity))}: {what}, in "
                        f"{consumer.plugin}:{consumer.name}")


def _raised(program: Program, f: Formula, values: dict,
            exc: Exception) -> RidgelineError:
    """The error of a formula that raised. A division by a 0 that another formula returned
    is that formula's (0 is in its quantity's domain, but not as a divisor), and a 0 the
    caller gave is the caller's; both formulas are named."""
    divisor = _divisor(f, values) if isinstance(exc, ArithmeticError) else None
    if divisor is None:
        return FormulaError(f.name, f.plugin, f"raised {type(exc).__name__}: {exc}")
    quantity = _origin(program, divisor, values, _is_zero)
    return _blamed_for(program, quantity, values, f,
                       f"it must be above 0, since what follows from it is divided by "
                       f"({type(exc).__name__})")


def _blame_a_tiny_divisor(program: Program, f: Formula, values: dict, exc: FormulaError) -> None:
    """A value of ``f`` outside its domain, made from an input next to 0 (1e-300 seconds of a
    step) or from a value the caller gave: blame where that input first appears (the caller,
    or the formula that made it), not the formula that divided by it."""
    tiny = [p for p in f.quantity_params()
            if (p in program.formula_of or p in program.inputs) and _is_tiny(values.get(p))]
    if tiny:
        quantity = _origin(program, tiny[0], values, _is_tiny)
        raise _blamed_for(program, quantity, values, f,
                          f"below any physical scale (less than {_TINY:g}), and what follows "
                          f"from it gives {exc.reason}") from exc
    given = [p for p in f.quantity_params() if p in program.inputs]
    if given and f.plugin in BUILTIN_PLUGINS:
        # the built-in formulas are tried: what they make of a given value outside their
        # quantity's domain, the given value contradicts the model (a third party's formula
        # is blamed for its own values)
        raise ScenarioError(f"given {given[0]} = {_short(values.get(given[0]))} does not fit "
                            f"the rest of the estimate: with it, {f.plugin}:{f.name} gives "
                            f"{exc.reason}") from exc


def _is_zero(value: Any) -> bool:
    try:
        return bool(np.any(np.asarray(value, dtype=float) == 0.0))
    except (TypeError, ValueError, OverflowError):
        return False


def _shape_of(values: dict) -> tuple:
    """The shape of a sweep's grid from the given arrays among ``values`` (``()`` for none)."""
    arrays = [v.shape for v in values.values() if isinstance(v, np.ndarray)]
    try:
        return np.broadcast_shapes(*arrays) if arrays else ()
    except ValueError:
        return ()


def _check_step(f: Formula, values: dict, shape: tuple) -> None:
    if f.domain == "structured":
        # only on the slow path, after a step raised: a table that is no tuple of rows is
        # blamed on the formula that made it, not on the roofline that choked on it
        value = values[f.produces]
        if f.unit == "table" and not isinstance(value, tuple):
            raise FormulaError(f.name, f.plugin, f"{f.produces} is {type(value).__name__} "
                               f"{value!r:.40}, expected an operation table (a tuple of "
                               f"rows: ridgeline.plugin.table(...))")
        return
    problem = value_problem(values[f.produces], f.domain, shape)
    if problem:
        params = f.quantity_params()
        raise FormulaError(f.name, f.plugin, f"{f.produces} is {problem}" + (
            "; inputs: " + ", ".join(f"{p}={_short(values.get(p))}" for p in params)
            if params else ""))


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    return repr(value)


_NOT_IN_ROW = object()


class Estimate:
    """The quantities computed for a scenario, each with its value, unit and provenance."""

    def __init__(self, scenario: Scenario, values: Any, program: Program, catalog: Catalog,
                 skipped: Optional[dict] = None):
        """``values``: a dict by name, or the program's row (a tuple in the order of
        ``program.row_names``), read through the program's index of it."""
        self.scenario = scenario
        if type(values) is tuple:
            self._row, self._dict = values, None
        else:
            self._row, self._dict = None, values
        self.program = program
        self.catalog = catalog
        self._skipped_here = skipped
        self.axes: tuple[str, ...] = ()
        """A sweep's axes: the grid's names, in the order of the values' dimensions."""

    @property
    def _values(self) -> dict:
        """Every value by name, the scenario's objects included (made once, on first use)."""
        if self._dict is None:
            self._dict = dict(zip(self.program.row_names, self._row))
        return self._dict

    @property
    def values(self) -> dict[str, Any]:
        """Computed quantities by name (SI units; the unit is in the name)."""
        return {k: v for k, v in self._values.items() if k not in SCENARIO_NAMES}

    @property
    def skipped(self) -> dict[str, str]:
        """Quantities that apply to this scenario but could not be computed, with the reason."""
        return {**self.program.skipped, **(self._skipped_here or {})}

    def _in_row(self, quantity: str) -> Any:
        """The value of ``quantity`` from the row, or ``_NOT_IN_ROW`` (no row, or not in it:
        the scenario's objects are read by name)."""
        if type(quantity) is not str:
            raise expected("quantity", "a quantity's name (a string)", quantity)
        if self._row is not None:
            i = self.program.row_index.get(quantity)
            if i is not None:
                return self._row[i]
        return _NOT_IN_ROW

    def __getitem__(self, quantity: str) -> Any:
        if self._row is not None:  # _in_row, spelled out: this is the read every caller makes
            try:
                i = self.program.row_index.get(quantity)
            except TypeError:  # unhashable: no name
                raise expected("quantity", "a quantity's name (a string)", quantity) from None
            if i is not None:
                return self._row[i]
        if type(quantity) is not str:
            raise expected("quantity", "a quantity's name (a string)", quantity)
        try:
            return self._values[quantity] if quantity not in SCENARIO_NAMES else None
        except KeyError:
            from .errors import UnknownNameError
            reason = self.skipped.get(quantity)
            if reason:
                raise ScenarioError(f"{quantity} was not computed: {reason}") from None
            raise UnknownNameError("quantity", quantity, self.values) from None

    def __contains__(self, quantity: str) -> bool:
        return self._in_row(quantity) is not _NOT_IN_ROW or \
            quantity in self._values and quantity not in SCENARIO_NAMES

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = self._in_row(name)
        if value is not _NOT_IN_ROW:
            return value
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, quantity: str, default: Any = None) -> Any:
        value = self._in_row(quantity)
        return value if value is not _NOT_IN_ROW else self._values.get(quantity, default)

    def unit(self, quantity: str) -> str:
        name(quantity, "quantity", "a quantity's name (a string)")
        f = self.program.formula_of.get(quantity)
        if f is not None:
            return f.unit
        from .units import unit_of
        return unit_of(quantity)

    def formula(self, quantity: str) -> Optional[Formula]:
        """The formula that produced ``quantity`` (``None`` for inputs)."""
        name(quantity, "quantity", "a quantity's name (a string)")
        return self.program.formula_of.get(quantity)

    def format(self, quantity: str) -> str:
        return format_value(self[quantity], self.unit(quantity))

    def explain(self, quantity: str, *, depth: int = 6) -> str:
        """The provenance tree of ``quantity``: which formula of which plugin made it, from what."""
        self[quantity]  # raises a clear error for unknown or skipped quantities
        if type(depth) is not int or depth < 0:
            raise expected("depth", "a whole number >= 0", depth)
        lines: list[str] = []
        seen: set[str] = set()

        def walk(q: str, prefix: str, last: bool, level: int) -> None:
            connector = "" if level == 0 else ("└─ " if last else "├─ ")
            f = self.program.formula_of.get(q)
            value = self._values.get(q)
            shown = _format_any(value, self.unit(q))
            if f is None:
                origin = "given" if q in self.program.inputs else "input"
                lines.append(f"{prefix}{connector}{q} = {shown}   [{origin}]")
                return
            where = "" if f.applies.specificity == 0 else f", where {f.applies.describe()}"
            summary = f.doc.splitlines()[0] if f.doc else ""
            repeat = q in seen and f.quantity_params()
            lines.append(f"{prefix}{connector}{q} = {shown}   [{f.plugin}: {f.name}{where}]"
                         + (" (see above)" if repeat else ""))
            if summary and not repeat:
                pad = prefix + ("" if level == 0 else ("   " if last else "│  "))
                lines.append(f"{pad}  # {summary}")
            if repeat or level >= depth:
                return
            seen.add(q)
            children = f.quantity_params()
            child_prefix = prefix + ("" if level == 0 else ("   " if last else "│  "))
            for i, c in enumerate(children):
                walk(c, child_prefix, i == len(children) - 1, level + 1)

        walk(quantity, "", True, 0)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain data: ``values`` in SI units, ``units``, ``provenance``, ``skipped``."""
        values = {k: _plain(v) for k, v in self.values.items()}
        out = {"values": values,
               "units": {k: self.unit(k) for k in values},
               "provenance": {k: f"{f.plugin}:{f.name}" for k, f in
                              self.program.formula_of.items()},
               "skipped": dict(self.skipped)}
        if self.axes:
            out["axes"] = list(self.axes)
        return out

    def __repr__(self) -> str:
        return f"<Estimate of {len(self.values)} quantities>"


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _format_any(value: Any, unit: str) -> str:
    if unit == "table":
        return f"{len(value)} operations"
    if unit == "object":
        if hasattr(value, "_asdict"):  # a named tuple: its fields, numbers in short form
            return f"{type(value).__name__}(" + ", ".join(
                f"{k}={v:g}" if isinstance(v, float) else f"{k}={v!r}"
                for k, v in value._asdict().items()) + ")"
        return repr(value)
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return "[" + ", ".join(format_value(x, unit) for x in value.ravel()) + "]"
        return f"array of {value.size} from {format_value(value.min(), unit)} to " \
               f"{format_value(value.max(), unit)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_value(value, unit)
    return str(value)


def estimate(scenario: Scenario, quantities: Optional[Iterable[str]] = None, *,
             catalog: Optional[Catalog] = None, inputs: Mapping[str, Any] | None = None,
             check: bool = True) -> Estimate:
    """Estimate ``quantities`` (default: every quantity that applies) for ``scenario``.

    Args:
        scenario: what to estimate.
        quantities: names of quantities; ``None`` computes every one that applies.
        catalog: defaults to :func:`ridgeline.default_catalog`.
        inputs: values given for quantities instead of computed (numbers or arrays), each
            checked against its quantity's domain (see :func:`check_inputs`).
        check: check the plan against the system first.

    Raises:
        UnknownNameError: a given quantity that no formula produces.
        ScenarioError: a given value outside its quantity's domain; a scenario that cannot be
            estimated.
        FormulaError: a formula raised, or returned a value outside its quantity's domain.
    """
    catalog, quantities = _arguments(scenario, quantities, catalog)
    if check:
        scenario.check()
    if inputs is not None and not isinstance(inputs, Mapping):
        raise expected("inputs", "a mapping of quantity names to values, or None", inputs)
    # infer() and train() pass an empty dict when nothing is given: skip the checks' set-up
    empty = inputs is None or (type(inputs) is dict and not inputs)
    return _estimate(scenario, quantities, catalog, {} if empty else check_inputs(catalog, inputs))


def _arguments(scenario: Any, quantities: Any, catalog: Any) -> tuple:
    """The catalog (the default one for None) and the quantities of a call, checked."""
    if type(scenario) is not Scenario and not isinstance(scenario, Scenario):
        raise expected("scenario", "a Scenario (from ridgeline.scenario(...))", scenario)
    if catalog is None:
        catalog = default_catalog()
    elif not isinstance(catalog, Catalog):
        raise expected("catalog", "a Catalog (from ridgeline.build_catalog()) or None", catalog)
    if quantities is not None and type(quantities) is not list and type(quantities) is not tuple:
        quantities = names(quantities, "quantities")
    return catalog, quantities


def _estimate(scenario: Scenario, quantities: Optional[Iterable[str]], catalog: Catalog,
              inputs: dict) -> Estimate:
    """:func:`estimate` with checked ``inputs``."""
    optional = quantities is None
    features = scenario.features()
    if optional:
        # "every quantity" has a key of its own rather than the tuple of every name, which
        # would be rebuilt and hashed on each call
        key = (_ALL, features, frozenset(inputs) if inputs else _NO_INPUTS)
        program = catalog._cache.get(key)
        if program is None:
            program = catalog._cache[key] = compile_program(
                catalog, features, tuple(catalog.formulas), inputs, True)
    else:
        program = compile_program(catalog, features, quantities, inputs, False)
    skipped: Optional[dict] = {} if optional else None
    values = _evaluate(program, scenario, inputs, skipped)
    return Estimate(scenario, values, program, catalog, skipped)


#: domains from the strictest to the loosest: a quantity whose formulas disagree (a plugin's
#: formula declaring less than the built-in one) is checked by the strictest.
_STRICTEST_FIRST = ("count", "whole", "flag", "fraction", "nonnegative", "real", "structured")


def quantity_domain(catalog: Catalog, name: str) -> str:
    """The domain (see :data:`ridgeline.units.DOMAINS`) of a quantity of ``catalog``.

    Raises:
        UnknownNameError: no formula of the catalog produces ``name``.
    """
    key = ("domain of", name)
    domain = catalog._cache.get(key)
    if domain is None:
        formulas = catalog.formulas.get(name)
        if not formulas:
            raise UnknownNameError("quantity", name, catalog.formulas)
        domain = catalog._cache[key] = min((f.domain for f in formulas),
                                           key=_STRICTEST_FIRST.index)
    return domain


def check_inputs(catalog: Catalog, inputs: Any, *, what: str = "given",
                 arrays: bool = True) -> dict:
    """Given values (``inputs=`` of every entry point, a sweep's axes) checked against the
    domain of their quantity: a count is a whole number >= 1, an amount (bytes, seconds, USD,
    joules, watts, rates) a finite number >= 0, a fraction lies from 0 to 1, and so on.

    Numbers come back as floats, arrays as they are. ``arrays=False`` accepts numbers only.

    Raises:
        UnknownNameError: a name no formula of ``catalog`` produces.
        ScenarioError: ``inputs`` is not a mapping, or a value is outside its domain; the
            message names the quantity and what was expected.
    """
    if not isinstance(inputs, Mapping):
        raise ScenarioError(f"inputs must be a mapping of quantity names to values (e.g. "
                            f"{{'capacity_factor': 1.25}}), got {type(inputs).__name__}")
    out = {}
    for name, value in inputs.items():
        if not isinstance(name, str):
            raise ScenarioError(f"inputs: quantity names are strings, got {name!r}")
        domain = quantity_domain(catalog, name)
        if domain == "structured":
            # operation tables and per-device dimensions pass between formulas; a number,
            # a string or an array in their place would fail far from here
            if not arrays or value is None or isinstance(value, (str, bytes, int, float, complex,
                                                                 np.ndarray, np.generic)):
                raise ScenarioError(f"{what} {name}: it is {DOMAINS[domain]} that formulas "
                                    f"hand each other, not a value that can be given; give "
                                    f"the numbers it is made of instead")
            out[name] = value
            continue
        if isinstance(value, (bool, np.bool_)) and domain != "flag":
            raise ScenarioError(f"{what} {name}: got {value!r}, expected "
                                f"{DOMAINS[domain]}")
        if isinstance(value, np.ndarray):
            if not arrays:
                raise ScenarioError(f"{what} {name} must be a single number, got an array "
                                    f"(ridgeline.sweep evaluates arrays of values)")
            problem = value_problem(value, domain, value.shape)
        else:
            problem = value_problem(value, domain)
        if problem:
            raise ScenarioError(f"{what} {name}: got {problem}")
        out[name] = value if isinstance(value, np.ndarray) else float(value)
    return out


def check_used(estimate: Estimate, names: Iterable[str], what: str = "given",
               requested: bool = False) -> None:
    """Raise when a given quantity (``inputs=``, a sweep's axis) changes nothing: no formula
    of the estimate uses it (with ``requested``, the quantities asked for count as used).
    Such a name is most likely a typo or meant for another model."""
    program = estimate.program
    used = {p for f in program.steps for p in f.params}
    if requested:
        used.update(program.targets)
    unused = sorted(set(names) - used)
    if unused:
        s = estimate.scenario
        raise ScenarioError(f"{what} {unused[0]} is not used by this estimate (no formula for "
                            f"{s.model.id} on {s.system.accelerator.id} needs it)")


#: plan fields, which a sweep cannot vary (yet): they choose the compiled program.
_PLAN_FIELDS = ("tp", "pp", "dp", "ep", "sp", "micro_batch", "interleave", "zero", "recompute",
                "offload", "attention", "devices")


def _axis(name: str, values: Any) -> np.ndarray:
    """A sweep axis's values as a 1-D array, or a ScenarioError naming the axis."""
    expected = "a list or 1-D array of numbers"
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ScenarioError(f"sweep axis {name!r}: expected {expected}, got "
                            f"{type(values).__name__} {values!r:.40}")
    try:
        axis = values if isinstance(values, np.ndarray) else np.asarray(list(values))
    except (ValueError, TypeError, OverflowError):
        axis = None
    if axis is None or axis.dtype.kind not in "fiub":
        raise ScenarioError(f"sweep axis {name!r}: expected {expected}, got {values!r:.60}")
    if axis.ndim != 1:
        raise ScenarioError(f"sweep axis {name!r}: expected {expected}, got an array of "
                            f"shape {axis.shape}")
    if axis.size == 0:
        raise ScenarioError(f"sweep axis {name!r}: sweep needs at least one value on every "
                            f"axis")
    return axis


def sweep(scenario: Scenario, grid: Mapping[str, Iterable[float]],
          quantities: Optional[Iterable[str]] = None, *, catalog: Optional[Catalog] = None,
          executor: Any = None) -> Estimate:
    """Evaluate a whole grid of numeric inputs in one vectorised pass.

    ``grid`` maps quantity names (``batch``, ``memory_bandwidth_bytes_per_s``, ...) to the
    values to try, each checked against the quantity's domain (a batch is a whole number
    >= 1). The result's ``axes`` are the grid's names in order, and every numeric quantity
    is an array of the grid's shape ``(len(axis0), len(axis1), ...)``, as
    ``numpy.meshgrid(..., indexing="ij")`` lays it out: a quantity that does not depend on
    the grid is broadcast to it (a read-only view).

    Plan degrees (``tp``, ``pp``, ``dp``, ``ep``, ``micro_batch``, ``interleave``) may be
    axes too: the grid's plans are grouped by the features their degrees give and each group
    runs in one pass; a plan that does not split the model or the devices evenly is masked
    (``fits`` false, other values NaN; the count in ``masked``), not an error.

    ``executor``: a ``concurrent.futures``-style executor (a process pool, a
    ``dask.distributed`` Client); the grid's first axis is split into chunks, one task each.

    Raises:
        UnknownNameError: an axis that is no quantity.
        ScenarioError: an axis with no values, values that are not numbers or lie outside
            the quantity's domain, a plan field other than a degree as an axis, an axis
            that no formula of the estimate uses.
    """
    catalog, quantities = _arguments(scenario, quantities, catalog)
    if not isinstance(grid, Mapping) or not grid:
        raise ScenarioError("sweep needs a grid: a mapping of quantity names to the values to "
                            "try (e.g. {'batch': [1, 8, 64]})")
    if executor is not None:
        from .planning.executor import sweep_on
        return sweep_on(executor, scenario, dict(grid), quantities, catalog)
    for name in grid:
        if not isinstance(name, str):
            raise ScenarioError(f"sweep axes are named by quantity names (strings), got {name!r}")
        if name not in catalog.formulas and name in _PLAN_FIELDS:
            if name not in _PLAN_AXES:
                raise ScenarioError(f"sweep axis {name!r}: plan axes are the degrees "
                                    f"{', '.join(_PLAN_AXES)}; {name} chooses the formulas "
                                    f"(call ridgeline.train() or infer() once per value)")
            continue
        quantity_domain(catalog, name)  # an unknown name, before its values
    if any(name in _PLAN_AXES and name not in catalog.formulas for name in grid):
        return _sweep_plans(scenario, grid, quantities, catalog)
    axes = check_inputs(catalog, {name: _axis(name, values) for name, values in grid.items()},
                        what="sweep axis")
    shape = tuple(a.size for a in axes.values())
    mesh = np.meshgrid(*(a.astype(float) for a in axes.values()), indexing="ij")
    scenario.check()
    e = _estimate(scenario, quantities, catalog, {k: m.ravel() for k, m in zip(axes, mesh)})
    check_used(e, axes, "sweep axis", requested=quantities is not None)
    values = dict(e._values)
    size = math.prod(shape)
    for q, v in values.items():
        f = e.program.formula_of.get(q)
        if q in SCENARIO_NAMES or (f is not None and f.domain == "structured"):
            continue
        if isinstance(v, (bool, np.bool_)) and (f is None or f.domain != "flag"):
            v = float(v)  # a formula's True is 1; only a flag is an array of bools
        values[q] = np.broadcast_to(v, (size,)).reshape(shape)
    result = Estimate(scenario, values, e.program, catalog, e._skipped_here)
    result.axes = tuple(axes)
    return result


def evaluate_plans(scenario: Scenario, catalog: Optional[Catalog] = None,
                   quantities: Optional[tuple] = None) -> tuple[dict, Program]:
    """``quantities`` (default: every quantity that applies), for a scenario whose plan is a
    :class:`~ridgeline.scenario.PlanArray`: one pass of the program its shared features
    choose, each value an array with one entry per plan (or one number for all).

    Quantities that cannot be computed here (a price the accelerator lacks) are left out.
    The values are not checked: a search masks the plans whose values it cannot use.

    Raises:
        ScenarioError: the scenario as a whole cannot be estimated.
        FormulaError: a formula raised.
    """
    catalog = default_catalog() if catalog is None else catalog
    features = scenario.features()
    if quantities is None:
        quantities = tuple(catalog.formulas)
    program = compile_program(catalog, features, quantities, _NO_INPUTS, True)
    values = {"model": scenario.model, "system": scenario.system, "plan": scenario.plan,
              "workload": scenario.workload}
    try:
        # step by step: on arrays each step's numpy work outweighs the loop, and a search
        # runs each of its many programs once
        for f in program.steps:
            values[f.produces] = f.function(*[values[p] for p in f.params])
    except ScenarioError:
        values = {"model": scenario.model, "system": scenario.system,
                  "plan": scenario.plan, "workload": scenario.workload}
        for f in program.steps:
            if any(p not in values for p in f.params):
                continue
            try:
                values[f.produces] = f.function(*(values[p] for p in f.params))
            except ScenarioError:
                continue
    return values, program


#: plan fields a sweep may vary: numbers, which a PlanArray holds one per plan.
_PLAN_AXES = ("tp", "pp", "dp", "ep", "micro_batch", "interleave")


def _plan_axis(name: str, values: Any) -> np.ndarray:
    axis = _axis(name, values)
    if axis.dtype.kind == "b" or np.any(axis != np.floor(axis)) or np.any(axis < 1):
        raise ScenarioError(f"sweep axis {name!r}: plan degrees are whole numbers >= 1, got "
                            f"{values!r:.60}")
    return axis.astype(np.int64)


def _plan_problems(scenario: Scenario, degrees: dict) -> np.ndarray:
    """Per grid point, whether the plan cannot run: it does not split the model or the
    devices evenly, or mixes interleaving or sequence parallelism with degrees of 1."""
    m, system = scenario.model, scenario.system
    tp, pp, dp, ep = degrees["tp"], degrees["pp"], degrees["dp"], degrees["ep"]
    v, mb = degrees["interleave"], degrees["micro_batch"]
    bad = (m.num_heads % tp != 0) | (m.intermediate_size % tp != 0) | (m.num_layers % pp != 0)
    bad |= (v > 1) & ((pp == 1) | ((m.num_layers // pp) % v != 0))
    bad |= system.devices % (tp * pp * dp) != 0
    if scenario.plan.sp:
        bad |= tp == 1
    experts = m.option("num_experts")
    if isinstance(experts, int) and not isinstance(experts, bool):
        bad |= (experts % ep != 0) | (((tp % ep) != 0) & ((ep % tp) != 0)) | ((tp * dp) % ep != 0)
    else:
        bad |= ep > 1
    workload = scenario.workload
    if getattr(workload, "kind", "") == "training":
        bad |= workload.global_batch % (dp * mb) != 0
    return bad


def _sweep_plans(scenario: Scenario, grid: Mapping, quantities, catalog: Catalog) -> Estimate:
    """:func:`sweep` with plan degrees among the axes: the grid's points grouped by the plan
    features their degrees give, each group one pass of its program; points whose plan cannot
    run are masked (``fits`` false, every other value NaN) and their count is in
    ``Estimate.masked``."""
    from .scenario import PLAN_CHOICES, PlanArray
    plan_axes = {k: _plan_axis(k, v) for k, v in grid.items()
                 if k in _PLAN_AXES and k not in catalog.formulas}
    other = check_inputs(catalog, {k: _axis(k, v) for k, v in grid.items() if k not in plan_axes},
                         what="sweep axis")
    axes = {k: plan_axes.get(k, other.get(k)) for k in grid}
    shape = tuple(a.size for a in axes.values())
    mesh = dict(zip(axes, (m.ravel() for m in np.meshgrid(*axes.values(), indexing="ij"))))
    size = math.prod(shape)
    degrees = {k: mesh[k].astype(np.int64) if k in plan_axes else
               np.full(size, getattr(scenario.plan, k), dtype=np.int64) for k in _PLAN_AXES}
    bad = _plan_problems(scenario, degrees)
    choices = {k: getattr(scenario.plan, k) for k in PLAN_CHOICES}
    key = sum((degrees[k] > 1) * (1 << i) for i, k in enumerate(("tp", "pp", "dp", "ep",
                                                                   "interleave")))
    values: dict = {}
    first = None
    for k in np.unique(key[~bad]):
        at = np.flatnonzero((key == k) & ~bad)
        plans = PlanArray(*(degrees[f][at] for f in _PLAN_AXES), **choices)
        inputs = {q: mesh[q][at].astype(float) for q in other}
        sub = Scenario(scenario.model, scenario.system, plans, scenario.workload)
        program = compile_program(catalog, sub.features(),
                                  tuple(catalog.formulas) if quantities is None else quantities,
                                  frozenset(inputs), quantities is None)
        part = {"model": sub.model, "system": sub.system, "plan": plans,
                "workload": sub.workload, **inputs}
        for f in program.steps:
            part[f.produces] = f.function(*[part[p] for p in f.params])
        first = first or (program, sub)
        for f in program.steps:
            if f.domain == "structured" or f.unit in ("table", "object"):
                continue
            column = values.get(f.produces)
            if column is None:
                column = values[f.produces] = np.full(size, np.nan)
            column[at] = np.broadcast_to(np.asarray(part[f.produces], dtype=float), at.shape)
    if first is None:
        raise ScenarioError("sweep: no point of the grid is a plan that splits the model and "
                            "the devices evenly")
    for q in other:
        values[q] = mesh[q].astype(float)
    for k in plan_axes:
        values[k] = mesh[k].astype(float)
    if "fits" in values:
        values["fits"] = np.where(np.isnan(values["fits"]), 0.0, values["fits"]) > 0.5
    result = Estimate(scenario, {q: v.reshape(shape) for q, v in values.items()}, first[0],
                      catalog)
    result.axes = tuple(axes)
    result.masked = int(bad.sum())
    return result
