"""Running parts of a search on a ``concurrent.futures``-style executor (a process pool, a
``dask.distributed`` Client): what travels to the workers, and how the work is split.

Value objects that hold mappings (models, accelerators) do not pickle; they travel as the
plain data of their registry files and are rebuilt on the worker, whose default catalog
supplies the formulas.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from ..accelerator import Accelerator, Efficiency
from ..errors import ScenarioError
from ..loader import structure, unstructure
from ..model import Model
from ..scenario import InferenceWorkload, Plan, Scenario, System, TrainingWorkload


def check_executor(executor) -> None:
    """Raise ScenarioError unless ``executor`` has a ``submit`` method."""
    if not callable(getattr(executor, "submit", None)):
        raise ScenarioError(f"executor: expected a concurrent.futures-style executor (a "
                            f"ProcessPoolExecutor, a dask.distributed Client: something with "
                            f"submit()), got {type(executor).__name__}")


def workers(executor) -> int:
    """How many tasks the executor runs at once (a guess of 8 when it does not say)."""
    count = getattr(executor, "_max_workers", None)
    if isinstance(count, int):
        return count
    try:  # a dask.distributed Client
        return max(1, sum(executor.nthreads().values()))
    except Exception:  # noqa: BLE001 - any other executor: a fixed number of chunks
        return 8


def chunks(items: list, count: int) -> list:
    size = max(1, math.ceil(len(items) / max(count, 1)))
    return [items[i:i + size] for i in range(0, len(items), size)]


def pack(scenario: Scenario) -> tuple:
    """A scenario as plain data that pickles."""
    s = scenario.system
    w = scenario.workload
    workload = unstructure(attrs.evolve(w, draft=None)) if isinstance(w, InferenceWorkload) \
        else unstructure(w)
    draft = unstructure(w.draft) if getattr(w, "draft", None) is not None else None
    return (unstructure(scenario.model), unstructure(s.accelerator), s.devices,
            None if s.efficiency is None else unstructure(s.efficiency), s.price_usd_per_hour,
            scenario.plan, type(w).__name__, workload, draft)


def unpack(data: tuple) -> Scenario:
    (model, accelerator, devices, efficiency, price, plan, kind, workload, draft) = data
    source = "a search's scenario"
    system = System(structure(accelerator, Accelerator, source=source), devices,
                    None if efficiency is None else structure(efficiency, Efficiency,
                                                              source=source), price)
    cls = {"InferenceWorkload": InferenceWorkload, "TrainingWorkload": TrainingWorkload}.get(kind)
    if cls is None:  # another workload (serving): it pickles as it is
        w = workload
    else:
        w = structure(workload, cls, source=source)
        if draft is not None:
            w = attrs.evolve(w, draft=structure(draft, Model, source=source))
    return Scenario(structure(model, Model, source=source), system, plan, w)


def _remote_sweep(data: tuple, grid: dict, quantities) -> dict:
    from ..engine import sweep
    e = sweep(unpack(data), grid, quantities)
    return {q: np.asarray(v) for q, v in e.values.items()
            if isinstance(v, (np.ndarray, float, int, bool, np.generic))}, \
        getattr(e, "masked", 0)


def sweep_on(executor, scenario: Scenario, grid: dict, quantities, catalog) -> Any:
    """:func:`ridgeline.sweep` with the grid's first axis split into chunks, one task each;
    the parts are joined along that axis (the default catalog's formulas on the workers)."""
    from ..engine import Estimate, sweep
    check_executor(executor)
    names = list(grid)
    first = np.asarray(list(grid[names[0]]) if not isinstance(grid[names[0]], np.ndarray)
                       else grid[names[0]])
    whole = sweep(scenario, {**grid, names[0]: first[:1]}, quantities, catalog=catalog)
    parts = chunks(list(first), workers(executor))
    data = pack(scenario)
    futures = [executor.submit(_remote_sweep, data, {**grid, names[0]: part}, quantities)
               for part in parts]
    results = [f.result() for f in futures]
    values = {}
    for q in results[0][0]:
        values[q] = np.concatenate([np.asarray(r[0][q]) for r in results], axis=0)
    values.update({k: v for k, v in whole._values.items() if k not in values and
                   not isinstance(v, np.ndarray) and k in ("model", "system", "plan",
                                                           "workload")})
    out = Estimate(scenario, values, whole.program, catalog, whole._skipped_here)
    out.axes = whole.axes
    out.masked = sum(r[1] for r in results)
    return out
