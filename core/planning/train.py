"""``plan_train``: the training plans that fit, ranked, from one numpy pass per feature
combination (see ``docs/plans.md``)."""

from __future__ import annotations

import csv
import math
import os
import time
from typing import Any, Callable, Iterable, Optional

import numpy as np

from .. import api
from .._arguments import shown
from ..catalog import Catalog
from ..engine import estimate, evaluate_plans
from ..errors import CycleError, RidgelineError, ScenarioError
from ..model import Model
from ..accelerator import Accelerator
from ..loader import structure, unstructure
from ..scenario import PLAN_NUMBERS, Scenario, System, TrainingWorkload
from .executor import check_executor
from .executor import chunks as executor_chunks
from .executor import workers
from .pareto import pareto_front
from ..plan_pass import Combination, evaluate_combinations
from .space import RECOMPUTE, ZERO, groups, numeric_plans

#: the fields of a plan in a result, in order.
PLAN_KEYS = ("accelerator", "tp", "pp", "dp", "ep", "sp", "micro_batch", "interleave",
             "recompute", "zero", "offload")
#: the values of a plan in a result, in order.
VALUE_KEYS = ("step_s", "wall_clock_s", "cost_usd", "energy_j", "memory_per_device_bytes",
              "mfu")
#: quantities each evaluated plan gives back to the search.
_GATHERED = VALUE_KEYS + ("usable_memory_bytes",)
_TARGETS = _GATHERED + ("fits",)

#: what ``by`` ranks on.
RANKINGS = {"step": "step_s", "wall": "wall_clock_s", "cost": "cost_usd", "energy": "energy_j"}



def _evaluate_group(model: Model, system, workload, group: Combination,
                    catalog: Optional[Catalog]) -> dict:
    """One combination's gathered quantities through its own program, as float arrays (NaN
    where a plan cannot be estimated), and whether each plan fits."""
    plans = group.plans()
    n = len(plans)
    try:
        # a quantity whose formula raises ScenarioError on the group's arrays (a link the
        # registry lacks, for every plan of the group) is left out: those plans do not run
        values, _ = evaluate_plans(Scenario(model, system, plans, workload), catalog,
                                   _TARGETS)
    except (RidgelineError, TypeError, ValueError, ZeroDivisionError):
        # a formula that works on one plan only (a third party's, branching on a degree):
        # the plans one by one, through the scalar path
        return _evaluate_one_by_one(model, system, workload, plans, catalog)
    out = {}
    for q in _GATHERED:
        v = values.get(q)
        out[q] = np.full(n, np.nan) if v is None else \
            np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
    fits = np.broadcast_to(np.asarray(values.get("fits", False), dtype=bool), (n,))
    out["fits"] = fits & _usable(out)
    return out


def _usable(out: dict) -> np.ndarray:
    """Plans whose ranked values are usable: times, memory and MFU finite numbers >= 0; a
    price or an energy may be missing (NaN: the registry lacks the figure), never infinite
    or negative."""
    ok = np.ones(out["step_s"].shape, bool)
    for q in ("step_s", "wall_clock_s", "memory_per_device_bytes", "mfu"):
        ok &= np.isfinite(out[q]) & (out[q] >= 0)
    for q in ("energy_j", "cost_usd"):
        ok &= ~(np.isinf(out[q]) | (out[q] < 0))
    return ok


def _evaluate_one_by_one(model, system, workload, plans, catalog) -> dict:
    n = len(plans)
    out = {q: np.full(n, np.nan) for q in _GATHERED}
    fits = np.zeros(n, bool)
    for i in range(n):
        try:
            e = estimate(Scenario(model, system, plans.plan(i), workload), catalog=catalog,
                         check=False)
        except RidgelineError:
            continue
        for q in _GATHERED:
            if q in e:
                out[q][i] = e[q]
        fits[i] = bool(e.get("fits", False))
    out["fits"] = fits & _usable(out)
    return out


def _evaluate_chunk(model, system, workload, chunk: list, catalog=None) -> dict:
    """The gathered quantities of a few combinations' plans, block after block, from one
    pass of the formulas (see :mod:`ridgeline.plan_pass`); a combination whose formulas
    fail on arrays is evaluated by its own program, or plan by plan."""
    catalog = api._catalog(catalog)
    try:
        out, failed = evaluate_combinations(catalog, model, system, workload, chunk, _TARGETS)
    except CycleError:  # two combinations order their formulas in opposite ways
        out, failed = None, (1 << len(chunk)) - 1
    if out is not None:
        fits = out["fits"] == 1.0
        out["fits"] = fits & _usable(out)
    start = 0
    for k, combination in enumerate(chunk):
        stop = start + len(combination.numbers)
        if failed >> k & 1:
            alone = _evaluate_group(model, combination.system or system, workload,
                                    combination._replace(system=None), catalog)
            if out is None:
                out = {q: np.full(sum(len(c.numbers) for c in chunk), np.nan)
                       for q in _GATHERED}
                out["fits"] = np.zeros(len(out["step_s"]), bool)
            for q in _GATHERED + ("fits",):
                out[q][start:stop] = alone[q]
        start = stop
    return out


def _remote_chunk(model_data: dict, accelerator_data: dict, devices: int, workload,
                  chunk: list) -> dict:
    """What an executor runs (module level, so that processes and Dask workers can unpickle
    it): the model and accelerator travel as plain data, which pickles, and the worker's
    default catalog supplies the formulas."""
    model = structure(model_data, Model, source="plan search: model")
    accelerator = structure(accelerator_data, Accelerator, source="plan search: accelerator")
    return _evaluate_chunk(model, System(accelerator, devices), workload, chunk)


def _accelerators(on: Any, catalog: Catalog) -> list:
    if isinstance(on, str):
        names = [s.strip() for s in on.split(",")]
    elif isinstance(on, Iterable) and not isinstance(on, (bytes, dict)):
        names = list(on)
    else:
        names = [on]
    if not names or any(n == "" for n in names):
        raise ScenarioError(f"on: expected accelerator ids separated by commas (h100,mi300x), "
                            f"got {on!r}")
    return [api._accelerator(n, catalog) for n in names]


def _model(model, precision, seq: int, catalog: Catalog) -> Model:
    m = api.resolve_model(model, catalog)
    if precision is not None:
        api.check_training_precision(precision, what="precision")
        m = api._precisions(m, precision, precision, precision)
    else:
        for what, dtype in (("weights", m.weights_dtype), ("activations", m.activations_dtype)):
            api.check_training_precision(dtype, what=f"model {m.id!r} {what} (give precision=)")
    api._check_context(m, seq, None, "seq")
    return m


def plan_train(model, *, on, devices, seq: Any = 2048, global_batch: Any = 512,
               tokens: Any = "1B", by: str = "step", top: int = 10,
               precision: Optional[str] = None, attention: str = "flash",
               recompute: Iterable[str] = RECOMPUTE, zero: Iterable[int] = ZERO,
               max_micro_batch: int = 64, executor=None, csv_path=None,
               catalog: Optional[Catalog] = None,
               progress: Optional[Callable[[str], None]] = None) -> dict:
    """The best training plans for ``model`` on ``devices`` devices of each accelerator of
    ``on``, ranked by ``by`` (``step``, ``wall``, ``cost`` or ``energy``).

    Searches tp, pp, dp = devices / (tp x pp), ep (mixture-of-experts models), sequence
    parallelism, micro-batch, interleaving, recompute, ZeRO stage and offload (see
    ``docs/plans.md``); drops the plans that do not fit and ranks the rest.

    Args:
        executor: a ``concurrent.futures``-style executor (``ProcessPoolExecutor``, a
            ``dask.distributed`` Client): the space is split into chunks submitted to it.
        csv_path: write every fitting plan there.
        progress: called with a line of text after each accelerator.

    Returns:
        A dict of plain values: ``best``, ``plans`` (the top ``top``), ``pareto`` (by
        accelerator), ``why`` (the best against the runner-up), ``configs_evaluated``,
        ``configs_fitting``, ``search_s``; with nothing fitting, ``best`` is ``None`` and
        ``closest`` says why the plan nearest to fitting does not.

    Raises:
        ScenarioError, UnknownNameError: bad arguments (named).
    """
    started = time.perf_counter()
    catalog = api._catalog(catalog)
    if type(by) is not str or by not in RANKINGS:
        raise ScenarioError(f"by must be one of {', '.join(RANKINGS)}, got {shown(by)}")
    top = api._positive_int(top, "top")
    n = api._positive_int(devices, "devices")
    if n > MAX_DEVICES:
        raise ScenarioError(f"devices: a plan search takes at most {MAX_DEVICES:,} devices, "
                            f"got {shown(devices)}")
    g = api._count(global_batch, "global batch")
    s = api._count(seq, "seq")
    for what, value in (("global batch", g), ("seq", s)):
        if value > MAX_COUNT:  # the search's arrays hold 64-bit integers
            raise ScenarioError(f"{what}: a plan search takes at most {MAX_COUNT:,}, got "
                                f"{value:.3g}")
    t = float(api._count(tokens, "tokens"))
    max_micro_batch = api._positive_int(max_micro_batch, "max_micro_batch")
    recompute = _choices(recompute, "recompute", RECOMPUTE)
    zero = _choices(zero, "zero", ZERO)
    if type(attention) is not str or attention not in ("flash", "unfused"):
        raise ScenarioError(f"attention must be flash or unfused, got {shown(attention)}")
    if executor is not None:
        check_executor(executor)
    if progress is not None and not callable(progress):
        raise ScenarioError(f"progress: expected a function of one line of text, or None, got "
                            f"{shown(progress)}")
    if csv_path is not None and not isinstance(csv_path, (str, os.PathLike)):
        raise ScenarioError(f"csv_path: expected a file path, got {shown(csv_path)}")
    m = _model(model, precision, s, catalog)
    accelerators = _accelerators(on, catalog)
    workload = TrainingWorkload(g, s, t)

    # a plan's accelerator and choices are those of its combination: one row of `choices`
    choices: list = []
    columns: dict = {k: [] for k in PLAN_NUMBERS + _GATHERED + ("fits", "combination")}
    searched = []  # per accelerator: its index, itself, its system, its combinations
    for index, acc in enumerate(accelerators):
        api._accelerator_runs(m, acc, catalog)
        system = api._plain_system(acc, n)
        numbers = numeric_plans(m, acc, n, g, max_micro_batch)
        searched.append((index, acc, system, list(groups(numbers, acc, attention, recompute,
                                                         zero, system=system))))
    parts = []  # (accelerator index, combinations, their gathered quantities)
    if executor is None:
        # every accelerator in one pass: a formula that reads no accelerator runs once
        chunk = [c for _, _, _, todo in searched for c in todo]
        if chunk:
            out = _evaluate_chunk(m, None, workload, chunk, catalog)
            start = 0
            for index, _, _, todo in searched:
                stop = start + sum(len(c.numbers) for c in todo)
                parts.append((index, todo, {k: v[start:stop] for k, v in out.items()}))
                start = stop
    else:
        futures = []
        for index, acc, _, todo in searched:
            model_data, accelerator_data = unstructure(m), unstructure(acc)
            # the system travels as its accelerator's plain data (see _remote_chunk)
            todo = [c._replace(system=None) for c in todo]
            futures += [(index, c, executor.submit(_remote_chunk, model_data, accelerator_data,
                                                   n, workload, c))
                        for c in executor_chunks(todo, 4 * workers(executor))]
        parts = [(index, c, f.result()) for index, c, f in futures]
    for index, chunk, out in parts:
        acc = accelerators[index]
        sizes = [len(c.numbers) for c in chunk]
        if not sizes:
            continue
        rows = np.concatenate([c.numbers for c in chunk])
        columns["combination"].append(np.repeat(np.arange(len(choices),
                                                          len(choices) + len(chunk)), sizes))
        choices.extend(dict(c.choices, accelerator=acc.id, accelerator_index=index)
                       for c in chunk)
        for i, k in enumerate(PLAN_NUMBERS):
            columns[k].append(rows[:, i])
        for k in _GATHERED + ("fits",):
            columns[k].append(out[k])
    if progress is not None:
        for index, acc, _, todo in searched:
            evaluated = sum(len(c.numbers) for c in todo)
            fitting = sum(int(o["fits"].sum()) for i, _, o in parts if i == index)
            progress(f"{acc.id}: {evaluated:,} plans in {len(todo)} feature combinations, "
                     f"{fitting:,} fit ({time.perf_counter() - started:.2f} s)")
    table = {k: (np.concatenate(v) if v else np.empty(0, dtype=np.int64))
             for k, v in columns.items()}
    table["choices"] = choices
    table["accelerator_index"] = np.array([c["accelerator_index"] for c in choices],
                                          dtype=np.int64)[table["combination"]]
    result = _rank(table, m, accelerators, n, workload, by, top, catalog)
    if csv_path is not None:
        try:
            write_csv(table, csv_path)
        except OSError as exc:
            raise ScenarioError(f"csv: cannot write {csv_path!s}: {exc.strerror}") from None
    result["search_s"] = time.perf_counter() - started
    return result


#: the most devices a search takes: its space grows with the divisors of the count.
MAX_DEVICES = 2**20
#: the largest global batch and sequence length a search takes.
MAX_COUNT = 2**40


def _choices(value, what: str, allowed: tuple) -> tuple:
    """A choice or a list of choices among ``allowed``, as a tuple."""
    values = (value,) if type(value) in (str, int) else value
    if isinstance(values, (bytes, dict)) or not isinstance(values, Iterable):
        raise ScenarioError(f"{what}: expected one of {', '.join(map(str, allowed))} or a "
                            f"list of them, got {shown(value)}")
    values = tuple(values)
    if not values:
        raise ScenarioError(f"{what}: expected at least one of "
                            f"{', '.join(map(str, allowed))}")
    for v in values:
        if type(v) is not type(allowed[0]) or v not in allowed:
            raise ScenarioError(f"{what} must be {', '.join(map(str, allowed))}, got "
                                f"{shown(v)}")
    return tuple(dict.fromkeys(values))


def _record(table: dict, i: int) -> dict:
    """Plan ``i`` of a search's table as plain values."""
    choices = table["choices"][int(table["combination"][i])]
    r = {}
    for k in PLAN_KEYS + VALUE_KEYS:
        if k in choices:
            r[k] = choices[k]
            continue
        v = table[k][i]
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (np.floating, float)):
            v = None if math.isnan(v) else float(v)
        r[k] = v
    r["sp"] = bool(r["sp"])
    r["zero"] = int(r["zero"])
    return r


def _rank(table: dict, model: Model, accelerators: list, devices: int, workload, by: str,
          top: int, catalog: Catalog) -> dict:
    fits = table["fits"].astype(bool)
    key = RANKINGS[by]
    rank_values = np.where(fits, table[key], np.nan)
    if by in ("cost", "energy") and fits.any() and np.isnan(rank_values[fits]).all():
        figure = "price" if by == "cost" else "power figure"
        others = ", ".join(b for b in RANKINGS if b != by)
        raise ScenarioError(f"by={by}: none of {', '.join(a.id for a in accelerators)} has a "
                            f"{figure} in its registry file; rank by {others}")
    fitting = np.flatnonzero(fits & ~np.isnan(rank_values))
    wanted = max(top, 2)  # the runner-up explains the winner
    if fitting.size > wanted:  # only the plans up to the wanted-th value need sorting
        values = rank_values[fitting]
        fitting = fitting[values <= np.partition(values, wanted - 1)[wanted - 1]]
    # ties (plans equal on the ranked value) go to the faster, then the smaller plan
    order = fitting[np.lexsort((table["memory_per_device_bytes"][fitting],
                                table["step_s"][fitting], rank_values[fitting]))]
    plans = [_record(table, i) for i in order[:top]]
    result = {"best": plans[0] if plans else None, "plans": plans, "ranked_by": key,
              "configs_evaluated": int(fits.size), "configs_fitting": int(fits.sum())}
    pareto = {}
    for index, acc in enumerate(accelerators):
        mine = np.flatnonzero(fits & (table["accelerator_index"] == index))
        cost = table["cost_usd"][mine]
        if mine.size and not np.isnan(cost).any():
            front = mine[pareto_front(table["wall_clock_s"][mine], cost)]
            pareto[acc.id] = [_record(table, i) for i in front]
        else:
            pareto[acc.id] = []
    result["pareto"] = pareto
    if len(order) >= 2:
        result["why"] = _why(table, order[0], order[1], model, accelerators, devices, workload,
                             catalog)
    else:
        result["why"] = []
    if not plans:
        result["closest"] = _closest(table, model, devices)
    return result


def _scalar(table: dict, i: int, model, accelerators, devices, workload, catalog):
    r = _record(table, i)
    acc = next(a for a in accelerators if a.id == r["accelerator"])
    plan = api.Plan(r["tp"], r["pp"], r["dp"], r["ep"], sp=r["sp"],
                    micro_batch=r["micro_batch"], interleave=r["interleave"], zero=r["zero"],
                    recompute=r["recompute"], offload=r["offload"],
                    attention=table["choices"][int(table["combination"][i])]["attention"])
    return estimate(Scenario(model, api._plain_system(acc, devices), plan, workload),
                    catalog=catalog, check=False)


def _why(table, best, runner_up, model, accelerators, devices, workload, catalog) -> list:
    """The times and sizes that differ most between the best plan and the runner-up, as
    ``explain`` would show them: what makes the winner win."""
    a = _scalar(table, best, model, accelerators, devices, workload, catalog)
    b = _scalar(table, runner_up, model, accelerators, devices, workload, catalog)
    rows = []
    for f in a.program.steps:
        q = f.produces
        if f.unit not in ("s", "B") or q not in b or q not in a:
            continue
        x, y = a[q], b[q]
        if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            continue
        if x == y or max(abs(x), abs(y)) == 0:
            continue
        rows.append({"quantity": q, "unit": f.unit, "best": float(x), "runner_up": float(y),
                     "change": (float(x) - float(y)) / max(abs(x), abs(y))})
    rows.sort(key=lambda r: -abs(r["change"]))
    return rows[:8]


def _closest(table: dict, model: Model, devices: int) -> Optional[dict]:
    """The plan nearest to fitting (the least memory over what is usable), and by how much
    it misses."""
    need, usable = table["memory_per_device_bytes"], table["usable_memory_bytes"]
    ratio = np.where(np.isfinite(need) & (usable > 0), need / np.where(usable > 0, usable, 1),
                     np.inf)
    if not ratio.size or not np.isfinite(ratio).any():
        return {"plan": None, "reason": f"no plan of {devices} devices could be estimated for "
                                         f"{model.id}"}
    i = int(np.argmin(ratio))
    plan = _record(table, i)
    gib = 2.0**30
    return {"plan": plan, "memory_per_device_bytes": float(need[i]),
            "usable_memory_bytes": float(usable[i]),
            "reason": f"the plan nearest to fitting needs {need[i] / gib:,.1f} GiB per device "
                      f"and {plan['accelerator']} has {usable[i] / gib:,.1f} GiB usable"}


def write_csv(table: dict, path) -> int:
    """Every fitting plan of a search's table as CSV rows; returns how many."""
    fits = np.flatnonzero(table["fits"].astype(bool))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(PLAN_KEYS + VALUE_KEYS)
        for i in fits:
            r = _record(table, i)
            w.writerow(["" if r[k] is None else r[k] for k in PLAN_KEYS + VALUE_KEYS])
    return int(fits.size)
