"""One pass of the formulas over many feature combinations (ridgeline.plan_pass) gives what
each combination's own program gives: the plan search's numbers, whatever the formulas do
with the choices they read."""

from __future__ import annotations

import types

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.catalog import build_catalog
from ridgeline.engine import estimate
from ridgeline.errors import ScenarioError
from ridgeline.plan_pass import evaluate_combinations
from ridgeline.planning.space import groups, numeric_plans
from ridgeline.planning.train import _GATHERED, _TARGETS, _evaluate_chunk, _evaluate_group
from ridgeline.plugin import formula, hookimpl
from ridgeline.scenario import Scenario, System, TrainingWorkload

CATALOG = ridgeline.default_catalog()

#: (model, accelerators, devices, global batch): dense, MoE and MLA models; GPUs of one kind
#: and of two; a TPU (whose torus layouts run one plan at a time)
CASES = [("llama-2-7b", ("h100", "a100"), 64, 512),
         ("mixtral-8x7b", ("h100",), 64, 256),
         ("deepseek-v2-lite", ("h200",), 32, 256),
         ("llama-3-8b", ("tpu-v5p", "h100"), 32, 256),
         ("gpt2", ("a100",), 16, 64)]


def _combinations(model, accelerators, devices, batch, catalog=CATALOG):
    out = []
    for acc in accelerators:
        system = System(acc, devices)
        out += list(groups(numeric_plans(model, acc, devices, batch), acc, system=system))
    return out


def _each_alone(model, workload, combinations, catalog=CATALOG) -> dict:
    """The gathered quantities, each combination through its own program."""
    parts = [_evaluate_group(model, c.system, workload, c._replace(system=None), catalog)
             for c in combinations]
    return {q: np.concatenate([p[q] for p in parts]) for q in _GATHERED + ("fits",)}


def _assert_same(one_pass: dict, alone: dict) -> None:
    for q in _GATHERED:
        a, b = one_pass[q], alone[q]
        same = (np.isnan(a) & np.isnan(b)) | (a == b)
        assert same.all(), (q, np.flatnonzero(~same)[:5], a[~same][:5], b[~same][:5])
    assert (one_pass["fits"] == alone["fits"]).all()


@pytest.mark.parametrize("case", CASES, ids=[c[0] + "-" + "+".join(c[1]) for c in CASES])
def test_one_pass_equals_a_program_per_combination(case):
    name, on, devices, batch = case
    model = CATALOG.model(name)
    accelerators = [CATALOG.accelerator(a) for a in on]
    workload = TrainingWorkload(batch, 2048, 1e9)
    todo = _combinations(model, accelerators, devices, batch)
    one_pass = _evaluate_chunk(model, None, workload, todo, CATALOG)
    alone = _each_alone(model, workload, todo)
    _assert_same(one_pass, alone)
    assert one_pass["fits"].any()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), pick=st.integers(0, 10**6))
def test_one_pass_equals_the_scalar_estimate(case, pick):
    name, on, devices, batch = case
    model = CATALOG.model(name)
    workload = TrainingWorkload(batch, 2048, 1e9)
    todo = _combinations(model, [CATALOG.accelerator(a) for a in on], devices, batch)
    out = _evaluate_chunk(model, None, workload, todo, CATALOG)
    row = pick % len(out["step_s"])
    sizes = np.cumsum([len(c.numbers) for c in todo])
    k = int(np.searchsorted(sizes, row, side="right"))
    combination = todo[k]
    plan = combination.plans().plan(row - (int(sizes[k - 1]) if k else 0))
    one = estimate(Scenario(model, combination.system, plan, workload), catalog=CATALOG,
                   check=False)
    for q in ("step_s", "memory_per_device_bytes", "mfu", "wall_clock_s"):
        assert out[q][row] == pytest.approx(one[q], rel=1e-12, abs=0), (q, plan)


# ---- formulas that read choices, branch in Python, or raise


def _catalog_with(*formulas):
    def ridgeline_register_formulas(register):
        for f in formulas:
            register(f)

    module = types.ModuleType("choice-readers")
    module.ridgeline_register_formulas = hookimpl(ridgeline_register_formulas)
    return build_catalog(plugins=[module], entry_points=False)


def _search(catalog, on=("h100",), devices=32, batch=256, model="llama-2-7b"):
    m = catalog.model(model)
    todo = _combinations(m, [catalog.accelerator(a) for a in on], devices, batch, catalog)
    workload = TrainingWorkload(batch, 2048, 1e9)
    return (_evaluate_chunk(m, None, workload, todo, catalog),
            _each_alone(m, workload, todo, catalog), todo)


@formula("step_overhead_s", family="dense", workload="training")
def overhead_by_zero_stage(system, plan):
    """A made-up overhead that branches in Python on the ZeRO stage: one number per stage."""
    if plan.zero >= 2:
        return system.eff.step_overhead_s + 0.01
    return system.eff.step_overhead_s


@formula("step_s", family="dense", workload="training", plan="offload-none")
def step_with_a_python_branch(micro_batches_per_step, micro_batch_s, pipeline_bubble_s,
                              gradient_sync_exposed_s, optimizer_step_s, step_overhead_s):
    """The built-in step, plus a branch on a number that is one per ZeRO stage: joined into
    an array over the plans, it cannot be branched on, and runs again per stage."""
    extra = 0.5 if step_overhead_s > 0.005 else 0.0
    return micro_batches_per_step * micro_batch_s + pipeline_bubble_s + \
        gradient_sync_exposed_s + optimizer_step_s + step_overhead_s + extra


def test_a_choice_read_in_python_splits_the_plans_as_programs_do():
    one_pass, alone, todo = _search(_catalog_with(overhead_by_zero_stage,
                                                  step_with_a_python_branch))
    _assert_same(one_pass, alone)
    default = _search(CATALOG)[0]
    # the made-up overhead and branch made ZeRO-2 and -3 plans slower, not the others
    zero = np.concatenate([np.full(len(c.numbers), c.choices["zero"]) for c in todo])
    offload = np.concatenate([np.full(len(c.numbers), c.choices["offload"]) for c in todo])
    slower = (zero >= 2) & (offload == "none")
    assert slower.any()
    assert np.allclose(one_pass["step_s"][slower], default["step_s"][slower] + 0.51,
                       rtol=1e-12, atol=1e-12)
    assert (one_pass["step_s"][zero < 2] == default["step_s"][zero < 2]).all()


@formula("usable_memory_bytes", family="dense", workload="training", plan="recompute-full")
def no_memory_with_full_recompute(memory_capacity_bytes, plan):
    """Refuses full recomputation on plans with a pipeline (a ScenarioError for those
    combinations only)."""
    if "pp" in plan.features():
        raise ScenarioError("made up: no full recomputation with a pipeline")
    return memory_capacity_bytes * 0.9


def test_a_formula_that_refuses_some_combinations_leaves_only_those_out():
    one_pass, alone, todo = _search(_catalog_with(no_memory_with_full_recompute))
    _assert_same(one_pass, alone)
    refused = np.concatenate([np.full(len(c.numbers), c.choices["recompute"] == "full"
                                      and "pp" in c.plan_features) for c in todo])
    assert refused.any() and np.isnan(one_pass["usable_memory_bytes"][refused]).all()
    assert not one_pass["fits"][refused].any()
    assert np.isfinite(one_pass["usable_memory_bytes"][~refused]).all()


@formula("pp_shards", family="dense", workload="training")
def shards_one_plan_at_a_time(plan):
    """Works on one plan only (``int`` of an array raises): the search evaluates such
    combinations on their own, plan by plan."""
    return int(plan.pp)


def test_a_formula_that_takes_one_plan_at_a_time_still_gets_every_plan():
    catalog = _catalog_with(shards_one_plan_at_a_time)
    one_pass, alone, _ = _search(catalog, devices=8, batch=32)
    _assert_same(one_pass, alone)
    assert one_pass["fits"].any()


def test_an_accelerator_without_a_scale_out_link_loses_only_the_plans_that_need_it():
    h100 = CATALOG.accelerator("h100")
    island = attrs.evolve(h100, id="island-h100",
                          links=attrs.evolve(h100.links, scale_out=None))
    model = CATALOG.model("llama-2-7b")
    workload = TrainingWorkload(256, 2048, 1e9)
    todo = _combinations(model, [h100, island], 32, 256)
    one_pass = _evaluate_chunk(model, None, workload, todo, CATALOG)
    _assert_same(one_pass, _each_alone(model, workload, todo))
    on_island = np.concatenate([np.full(len(c.numbers), c.system.accelerator is island)
                                for c in todo])
    assert one_pass["fits"][~on_island].any()
    # 32 devices are four domains of 8: only plans whose groups stay in one fit
    fits = one_pass["fits"] & on_island
    dp = np.concatenate([c.numbers[:, 2] for c in todo])
    assert fits.any() and (dp[fits] == 1).all()


def test_the_pass_reports_combinations_it_cannot_evaluate():
    catalog = _catalog_with(shards_one_plan_at_a_time)
    m = catalog.model("llama-2-7b")
    todo = _combinations(m, [catalog.accelerator("h100")], 8, 32, catalog)
    _, failed = evaluate_combinations(catalog, m, None, TrainingWorkload(32, 2048, 1e9),
                                      todo, _TARGETS)
    assert failed == (1 << len(todo)) - 1


_FORWARD = next(f for f in CATALOG.formulas["training_forward_compute_s"]
                if f.applies.describe() == "workload=training")


@formula("training_forward_compute_s", family="dense", workload="training")
def forward_by_zero_stage(training_forward_operations, compute_flops_per_s,
                          memory_bandwidth_bytes_per_s, kernel_overhead_s, plan):
    """The built-in forward pass, 1% slower under ZeRO-3 (read in Python): the operation
    table, made once for every plan, is made again for each stage's plans."""
    seconds = _FORWARD.function(training_forward_operations, compute_flops_per_s,
                                memory_bandwidth_bytes_per_s, kernel_overhead_s)
    return seconds * 1.01 if plan.zero == 3 else seconds


def test_a_table_of_many_combinations_is_made_again_for_fewer():
    one_pass, alone, todo = _search(_catalog_with(forward_by_zero_stage))
    _assert_same(one_pass, alone)
    default = _search(CATALOG)[0]
    zero = np.concatenate([np.full(len(c.numbers), c.choices["zero"]) for c in todo])
    offload = np.concatenate([np.full(len(c.numbers), c.choices["offload"]) for c in todo])
    # (with host offload a slower forward pass can hide more of the transfers)
    known = np.isfinite(default["step_s"]) & (offload == "none")
    assert (known & (zero == 3)).any()
    assert (one_pass["step_s"] > default["step_s"])[known & (zero == 3)].all()
    assert (one_pass["step_s"] == default["step_s"])[known & (zero < 3)].all()
