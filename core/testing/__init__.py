"""Test helpers for ridgeline and its plugins: an opt-in pytest plugin.

Opt in from your ``conftest.py`` (or a test module), as with pytester::

    pytest_plugins = ["ridgeline.testing"]

It is deliberately not a ``pytest11`` entry point, which would load it into every pytest run of
every environment where ridgeline is installed. It offers:

- the ``catalog_factory`` fixture, which builds an isolated catalog holding only the plugins a
  test names (no entry points, no ``RIDGELINE_*`` environment variables);
- :func:`assert_quantity_close`, in the style of ``pint.testing``;
- :func:`check_plugin`, the conformance checks a plugin author runs against their plugin:
  it registers, its data validates and round-trips through TOML, and every formula
  vectorises (numpy arrays in give, point by point, what scalars in give);
- :func:`assert_physical` (and :func:`physical_problems`): every value of an estimate has a
  real type, is finite and not negative, and the invariants between quantities hold.

Hypothesis strategies live in :mod:`ridgeline.testing.strategies`.

The helpers raise ``AssertionError`` with their own messages, so pytest need not rewrite this
module's asserts; and Hypothesis imports this package (for its ``hypothesis`` entry point)
before pytest could. Hence PYTEST_DONT_REWRITE, which also spares every plugin author pytest's
"already imported" warning.

Example::

    import acme_ridgeline
    from ridgeline.testing import check_plugin

    def test_conformance():
        check_plugin(acme_ridgeline)
"""

from __future__ import annotations

import builtins
import math
import sys
from typing import Any, Iterable, Optional

__all__ = ["catalog_factory", "assert_quantity_close", "check_plugin", "assert_physical",
           "physical_problems"]

#: environment variables that change what a catalog holds; the fixture clears them.
_CATALOG_ENV = ("RIDGELINE_DISABLE_PLUGINS", "RIDGELINE_NO_PLUGINS", "RIDGELINE_REGISTRY",
                "RIDGELINE_TRACE_PLUGINS")


# --------------------------------------------------------------------------- pytest fixture

try:  # pytest is optional: check_plugin and assert_quantity_close work without it
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture
    def catalog_factory(monkeypatch):
        """Build isolated catalogs: ``catalog_factory(plugin_a, plugin_b, builtins=False)``.

        Entry points are never loaded and the ``RIDGELINE_*`` variables are cleared for the
        test (a test may set them again with ``monkeypatch.setenv``), so a catalog holds only
        the plugins named, plus the built-ins when ``builtins=True``.
        """
        from ..catalog import build_catalog

        for name in _CATALOG_ENV:
            monkeypatch.delenv(name, raising=False)

        def make(*plugins: Any, builtins: bool = False, registry: Iterable = ()):
            return build_catalog(plugins=plugins, entry_points=False, builtins=builtins,
                                 registry=registry)

        return make


# --------------------------------------------------------------------------- assertions


def assert_quantity_close(actual: Any, expected: Any, rel: float = 1e-9, abs: float = 0.0,
                          *, unit: str = "", what: str = "quantity") -> None:
    """Assert that two values (floats or numpy arrays) agree within ``rel`` and ``abs``.

    Args:
        actual, expected: numbers or arrays of the same shape (they are broadcast).
        rel: relative tolerance, as in :func:`math.isclose`.
        abs: absolute tolerance, in the quantity's SI unit.
        unit: unit symbol for the message (``"s"``, ``"B/s"``).
        what: the quantity's name, for the message.

    Raises:
        AssertionError: naming the values (in human units) and the largest relative difference.
    """
    import numpy as np

    from ..units import format_value

    a = np.asarray(actual, dtype=float)
    e = np.asarray(expected, dtype=float)
    try:
        a_b, e_b = np.broadcast_arrays(a, e)
    except ValueError:
        raise AssertionError(f"{what}: shapes differ: {a.shape} and {e.shape}") from None
    same_special = (np.isnan(a_b) & np.isnan(e_b)) | ((a_b == e_b) & ~np.isfinite(e_b))
    with np.errstate(invalid="ignore"):  # inf - inf: decided by same_special above
        ok = same_special | (np.abs(a_b - e_b) <= np.maximum(rel * np.abs(e_b), abs))
    if np.all(ok):
        return
    bad = np.flatnonzero(~ok.ravel())
    i = int(bad[0])
    got, want = float(a_b.ravel()[i]), float(e_b.ravel()[i])
    where = f" at index {i} ({len(bad)} of {ok.size} differ)" if a_b.ndim else ""
    diff = math.inf if want == 0 else builtins.abs(got - want) / builtins.abs(want)
    raise AssertionError(
        f"{what}{where}: got {format_value(got, unit)} ({got!r}), expected "
        f"{format_value(want, unit)} ({want!r}); relative difference {diff:.3g} > rel={rel:g}"
        + (f" and abs={abs:g}" if abs else ""))


# --------------------------------------------------------------------------- conformance

#: how each plan feature a formula may require is switched on, for :func:`check_plugin`.
_PLAN_FEATURES = {
    "tp": {"tp": 2}, "pp": {"pp": 2}, "dp": {"dp": 2}, "ep": {"ep": 2},
    "sp": {"tp": 2, "sp": True}, "interleave": {"pp": 2, "interleave": 2},
    **{f"zero{i}": {"zero": i} for i in range(4)},
    **{f"recompute-{r}": {"recompute": r} for r in ("none", "selective", "full")},
    **{f"offload-{o}": {"offload": o} for o in ("none", "host", "nvme")},
}


def _plugin_name(plugin: Any) -> str:
    # the name build_catalog gives an object passed in ``plugins=[...]`` at index 0
    return getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-0"


def _sample_scenarios(catalog, plugin_name: str, formula, extra: Iterable) -> list:
    """Scenarios in which ``formula`` applies: the caller's, then ones built from the catalog."""
    from ..errors import ScenarioError
    from ..scenario import InferenceWorkload, Plan, Scenario, System, TrainingWorkload
    from .strategies import H100_LIKE, LLAMA_2_7B_LIKE

    out = [s for s in extra if formula.applies.holds(s.features())]
    # the plugin's own objects first, then complete hand-picked ones (an H100-like device has
    # a price, power and links), then the rest of the catalog's
    mine = [a for a in catalog.accelerators.values()
            if catalog.provider("accelerator", a.id) == plugin_name]
    accs = mine + [H100_LIKE] + [a for a in catalog.accelerators.values() if a not in mine]
    models = [m for m in catalog.models.values()
              if catalog.provider("model", m.id) == plugin_name]
    models += [LLAMA_2_7B_LIKE] + [m for m in catalog.models.values() if m not in models]
    plan_kwargs: dict = {}
    for feature in formula.applies.plan:
        plan_kwargs.update(_PLAN_FEATURES.get(feature, {}))
    try:
        plan = Plan(**plan_kwargs)
    except (TypeError, ValueError, ScenarioError):
        plan = Plan()
    kinds, families = formula.applies.kind, formula.applies.family
    accs = [a for a in accs if kinds is None or a.kind in kinds][:4]
    models = [m for m in models if families is None or m.family in families]
    # models with the model features the formula requires (attention-mla) first; stable sort
    models = sorted(models, key=lambda m: -len(m.features() & formula.applies.plan))[:3]
    for acc in accs:
        for model in models:
            workloads = (InferenceWorkload(), TrainingWorkload())
            if "speculative" in formula.applies.plan:  # a workload feature: needs a draft
                workloads = (InferenceWorkload(draft=model),)
            elif "forward-only" in formula.applies.plan:
                workloads = (TrainingWorkload(forward_only=True),)
            elif "serving" in formula.applies.plan:
                workloads = _serving_workloads(formula.applies.plan)
            elif "finetune" in formula.applies.plan:  # fine-tuning's workload features
                workloads = tuple(TrainingWorkload(finetune=method, lora_rank=8,
                                                   lora_targets=("q", "v"))
                                  for method in ("full", "lora", "qlora"))
            for workload in workloads:
                s = Scenario(model=model, system=System(acc, devices=plan.devices), plan=plan,
                             workload=workload)
                if formula.applies.holds(s.features()):
                    out.append(s)
    return out


def _serving_workloads(required: frozenset) -> tuple:
    """Serving workloads with the features a serving formula requires (its load, a curve,
    the decode role)."""
    from ..serving import LOADS, ServingWorkload
    loads = [load for load in LOADS if f"load-{load}" in required] or list(LOADS)
    fields = {"role": "decode"} if "role-decode" in required else {}
    if "serving-curve" in required:
        fields["tpot_target_s"] = 0.05
    return tuple(ServingWorkload(1000, 200, load=load, rate_per_s=2.0, concurrency=8, users=8,
                                 think_time_s=5.0, **fields) for load in loads)


def _is_number(x: Any) -> bool:
    import numpy as np
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _check_vectorises(formula, scenario, values: dict, points: int) -> Optional[str]:
    """None if ``formula`` gives with arrays what it gives point by point, else the problem."""
    import numpy as np

    numeric = [p for p in formula.quantity_params() if _is_number(values[p])]
    if not numeric:
        return None  # nothing numeric flows in: nothing to vectorise
    factors = np.arange(1, points + 1)
    arrays = {}
    for i, p in enumerate(numeric):
        base = values[p]
        f = np.roll(factors, i)  # decorrelate the parameters
        arrays[p] = (int(base) * f) if isinstance(base, (int, np.integer)) else float(base) * f
    objects = {"model": scenario.model, "system": scenario.system, "plan": scenario.plan,
               "workload": scenario.workload}

    def args(pick):
        return [objects[p] if p in objects else pick(p) for p in formula.params]

    try:
        vector = formula.function(*args(lambda p: arrays.get(p, values[p])))
    except Exception as exc:
        return (f"raised {type(exc).__name__}: {exc} when given numpy arrays for "
                f"{', '.join(numeric)} (use np.maximum, np.where, np.ceil rather than max, "
                f"if, math.ceil)")
    for k in range(points):
        def pick(p, k=k):
            if p in arrays:
                x = arrays[p][k]
                return int(x) if isinstance(values[p], (int, np.integer)) else float(x)
            return values[p]
        try:
            scalar = formula.function(*args(pick))
        except Exception as exc:
            return f"raised {type(exc).__name__}: {exc} at point {k} with scalars"
        if not _is_number(scalar) and not isinstance(scalar, np.ndarray):
            return None  # a structured value (an operations table): not compared
        try:
            got = np.broadcast_to(np.asarray(vector, dtype=float), (points,))[k]
        except (TypeError, ValueError):
            return (f"returned {type(vector).__name__} for arrays of {points} points, "
                    f"not an array of {points} values")
        want = float(np.asarray(scalar, dtype=float))
        if not (got == want or (math.isnan(got) and math.isnan(want))
                or builtins.abs(got - want) <= 1e-9 * builtins.abs(want)):
            inputs = ", ".join(f"{p}={arrays[p][k]!r}" for p in numeric)
            return (f"with arrays gives {got!r} at point {k} but with scalars gives {want!r} "
                    f"({inputs})")
    return None


def check_plugin(plugin: Any, *, builtins: bool = True, scenarios: Iterable = (),
                 points: int = 5):
    """Run the conformance checks on a plugin (a module or object with hook implementations).

    Checks that the plugin registers without errors or conflicts (alongside the built-in plugins
    when ``builtins`` is true); that every accelerator and model it registers names its sources
    and survives ``to_toml`` and loading back unchanged; and that every formula it registers
    vectorises: evaluated with numpy arrays of ``points`` values for its numeric inputs, it
    gives what it gives for each point with plain floats. A formula's inputs come from an
    estimate of a scenario where it applies: the ``scenarios`` given, else ones built from the
    plugin's own accelerators and models (and the catalog's).

    Args:
        plugin: the plugin module or object, as ``build_catalog(plugins=[...])`` takes it.
        builtins: build the catalog with the built-in plugins (needed when the plugin's
            formulas use quantities the built-ins compute).
        scenarios: scenarios to evaluate formulas in, tried first.
        points: how many points the vectorisation check uses.

    Returns:
        The catalog built.

    Raises:
        PluginError, ConflictError, RegistryError: the plugin does not register.
        AssertionError: listing every other problem found.
    """
    import numpy as np

    from ..catalog import BUILTIN_PLUGINS, build_catalog
    from ..engine import estimate
    from ..errors import RidgelineError
    from ..loader import structure, to_toml

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    name = _plugin_name(plugin)
    if builtins and name in BUILTIN_PLUGINS:
        catalog = build_catalog(entry_points=False)
    else:
        catalog = build_catalog(plugins=[plugin], entry_points=False, builtins=builtins)
    info = catalog.plugin(name)
    problems: list[str] = []

    for kind, objects in (("accelerators", catalog.accelerators), ("models", catalog.models)):
        for obj_id in info.registered.get(kind, ()):
            obj = objects.get(obj_id)
            if obj is None:  # replaced by another plugin's object
                continue
            if not obj.sources:
                problems.append(f"{kind[:-1]} {obj_id!r} names no sources")
            try:
                back = structure(tomllib.loads(to_toml(obj)), type(obj), source=obj_id)
            except Exception as exc:  # noqa: BLE001 - any failure is a finding
                problems.append(f"{kind[:-1]} {obj_id!r} does not survive to_toml: {exc}")
                continue
            if back != obj:
                problems.append(f"{kind[:-1]} {obj_id!r} changes when written to TOML and read "
                                f"back")

    scenarios = list(scenarios)
    mine = [f for fs in catalog.formulas.values() for f in fs if f.plugin == name]
    for f in mine:
        candidates = _sample_scenarios(catalog, name, f, scenarios)
        if not candidates:
            problems.append(f"formula {f.name} ({f.produces}, where {f.applies.describe()}): "
                            f"no scenario to check it in; pass scenarios=[...]")
            continue
        errors = []
        for s in candidates:
            try:
                est = estimate(s, f.quantity_params(), catalog=catalog, check=False)
            except (RidgelineError, ArithmeticError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            values = {p: est[p] for p in f.quantity_params()}
            values = {p: (v.item() if isinstance(v, np.generic) else v)
                      for p, v in values.items()}
            problem = _check_vectorises(f, s, values, points)
            if problem:
                problems.append(f"formula {f.name} ({f.produces}) {problem}")
            break
        else:
            problems.append(f"formula {f.name} ({f.produces}): its inputs could not be "
                            f"computed in any of {len(candidates)} sample scenarios (first: "
                            f"{errors[0]}); pass scenarios=[...] or builtins=True")

    if problems:
        raise AssertionError(f"plugin {name!r} fails {len(problems)} conformance check(s):\n"
                             + "\n".join(f"  - {p}" for p in problems))
    return catalog


# --------------------------------------------------------------------------- physical estimates

#: quantities that count whole things (a fractional batch is no batch).
WHOLE_QUANTITIES = frozenset({"batch", "global_batch", "micro_batch_size", "prompt_tokens",
                              "output_tokens", "seq_len", "params", "active_params",
                              "non_embedding_params", "embedding_params", "replica_devices",
                              "training_devices", "devices_needed", "draft_tokens"})

#: utilisations and probabilities: fractions of a whole, at most 1.
FRACTIONS = frozenset({"mfu", "hfu", "decode_mfu", "mbu", "acceptance_rate"})

#: units whose values are not numbers (a phase's operations, per-device dimensions).
_STRUCTURED_UNITS = frozenset({"table", "object"})


def _real(value: Any) -> bool:
    import numpy as np
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    return isinstance(value, (int, float, np.integer, np.floating, np.bool_))


def _show(value: Any) -> str:
    """A value for a message: numpy scalars as plain numbers, long ones cut short."""
    import numpy as np
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        value = value.item()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _le(a: Any, b: Any, rel: float) -> bool:
    """``a <= b`` everywhere (arrays broadcast), within a relative tolerance ``rel``."""
    import numpy as np
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(a <= b + rel * np.abs(b)))


def physical_problems(estimate: Any, *, rel: float = 1e-9) -> list:
    """What is physically impossible in an estimate (an empty list when nothing is).

    Checked for every value of ``estimate.values`` (structured ones, ``unit="table"`` or
    ``"object"``, aside): it is a real number or a numpy array of real numbers, finite, and not
    negative (ridgeline's quantities are magnitudes: times, bytes, FLOPs, watts, joules,
    dollars, rates, counts and fractions; none is signed); counts of whole things
    (:data:`WHOLE_QUANTITIES`, and every quantity whose formula declares the domain ``count``,
    ``whole`` or ``flag``) are whole; utilisations (:data:`FRACTIONS`, and the domains
    ``fraction`` and ``flag``) are at most 1. And between quantities, where both are present:
    ``mfu <= hfu``, ``hfu`` at most the compute efficiency (``compute_flops_per_s /
    peak_flops_per_s``); ``e2e_latency_s >= ttft_s >= prefill_s`` (for a serving estimate,
    whose latencies are at a percentile, ``e2e_latency_s >= ttft_mean_s >= prefill_s``); a deployment that does not fit (``fits`` false) names a positive
    ``memory_shortfall_bytes``, and one that fits has none.

    Args:
        estimate: an :class:`ridgeline.Estimate` (a single one or a sweep's).
        rel: relative tolerance of the comparisons between quantities.
    """
    import numpy as np

    values = estimate.values
    problems: list[str] = []
    numeric: dict = {}
    for name, value in values.items():
        unit = estimate.unit(name)
        made_by = estimate.formula(name)
        domain = made_by.domain if made_by is not None else ""
        if unit in _STRUCTURED_UNITS:
            continue
        if not _real(value):
            problems.append(f"{name} is {type(value).__name__} {_show(value)}, not a real number")
            continue
        array = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(array)):
            problems.append(f"{name} = {_show(value)} is not finite")
            continue
        numeric[name] = array
        if np.any(array < 0):
            problems.append(f"{name} = {_show(value)} is negative" + (f" ({unit})" if unit
                                                                      else ""))
        whole = name in WHOLE_QUANTITIES or domain in ("count", "whole", "flag")
        if whole and np.any(array != np.floor(array)):
            problems.append(f"{name} = {_show(value)} is not a whole number")
        if (name in FRACTIONS or domain in ("fraction", "flag")) and np.any(array > 1.0 + rel):
            problems.append(f"{name} = {_show(value)} is above 1")

    def at_most(small: str, big: str, what: str = "") -> None:
        if small in numeric and big in numeric and not _le(numeric[small], numeric[big], rel):
            problems.append(f"{small} = {_show(values[small])} exceeds {what or big} = "
                            f"{_show(values[big])}")

    at_most("mfu", "hfu")
    if "ttft_mean_s" in values:
        # serving: the whole request is a mean; the time to first token at a percentile may
        # exceed it, its mean may not
        at_most("ttft_mean_s", "e2e_latency_s")
        at_most("prefill_s", "ttft_mean_s")
    else:
        at_most("ttft_s", "e2e_latency_s")
        at_most("prefill_s", "ttft_s")
    if {"hfu", "compute_flops_per_s", "peak_flops_per_s"} <= numeric.keys() and \
            np.all(numeric["peak_flops_per_s"] > 0):
        efficiency = numeric["compute_flops_per_s"] / numeric["peak_flops_per_s"]
        if not _le(numeric["hfu"], efficiency, rel):
            problems.append(f"hfu = {_show(values['hfu'])} exceeds the compute efficiency "
                            f"compute_flops_per_s / peak_flops_per_s = {_show(efficiency)}")
    if "fits" in values and _real(values["fits"]):
        fits = np.asarray(values["fits"], dtype=bool)
        shortfall = numeric.get("memory_shortfall_bytes")
        if shortfall is None:
            if not np.all(fits):
                reason = estimate.skipped.get("memory_shortfall_bytes", "not computed")
                problems.append(f"fits is false but memory_shortfall_bytes is missing "
                                f"({reason})")
        else:
            fits, shortfall = np.broadcast_arrays(fits, shortfall)
            if np.any(~fits & (shortfall <= 0)):
                problems.append(f"fits is false but memory_shortfall_bytes = "
                                f"{_show(values['memory_shortfall_bytes'])} names no shortfall")
            if np.any(fits & (shortfall > 0)):
                problems.append(f"fits is true but memory_shortfall_bytes = "
                                f"{_show(values['memory_shortfall_bytes'])}")
    return problems


def assert_physical(estimate: Any, *, rel: float = 1e-9) -> None:
    """Assert that :func:`physical_problems` finds nothing in ``estimate``.

    Raises:
        AssertionError: listing every problem, with the scenario's model and accelerator.
    """
    problems = physical_problems(estimate, rel=rel)
    if problems:
        s = estimate.scenario
        raise AssertionError(
            f"{len(problems)} impossible value(s) for {s.model.id} on {s.system.devices} x "
            f"{s.system.accelerator.id}:\n" + "\n".join(f"  - {p}" for p in problems))
