"""The formula engine, on small test plugins: selection, order, provenance, checks, sweeps.

Every catalog here holds only the test plugins named (no built-ins, no entry points), a toy
architecture family and accelerator objects made in the test, so these tests say what the
engine does, whatever the built-in physics does.
"""

import math
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ridgeline.engine import compile_program, estimate, sweep
from ridgeline.errors import ConflictError, CycleError, FormulaError, ScenarioError
from ridgeline.plugin import (Accelerator, Architecture, MemoryTier, Model, Plan, System,
                              formula, hookimpl)
from ridgeline.scenario import Scenario
from ridgeline.testing import assert_quantity_close

pytest_plugins = ["ridgeline.testing"]

TOY = Architecture(family="toy", doc="A toy family for engine tests.")
MODEL = Model(id="toy-1", family="toy", vocab_size=1000, hidden_size=256, num_layers=2,
              num_heads=4, intermediate_size=1024)


def accelerator(id="g1", kind="gpu", bandwidth=2e12):
    return Accelerator(id=id, name=id, vendor="Test", kind=kind, sources=["test"],
                       memory=[MemoryTier("hbm", 8e10, bandwidth)],
                       peak_flops_per_s={"bf16": 1e15})


GPU = accelerator("g1", "gpu")
TPU = accelerator("t1", "tpu")


def scenario(acc=GPU, plan=Plan(), model=MODEL):
    return Scenario(model=model, system=System(acc, devices=plan.devices), plan=plan)


def plugin(name, *formulas, family=True):
    """A plugin registering ``formulas`` (and the toy family, unless ``family=False``)."""
    module = types.ModuleType(name)

    def ridgeline_register_formulas(register):
        for f in formulas:
            register(f)
    module.ridgeline_register_formulas = hookimpl(ridgeline_register_formulas)
    if family:
        module.ridgeline_register_architectures = hookimpl(lambda register: register(TOY))
    return module


@pytest.fixture
def catalog(catalog_factory):
    return catalog_factory


# --------------------------------------------------------------------------- specificity


@formula("widget_count")
def generic_widgets(system):
    return 1.0


@formula("widget_count", kind="gpu")
def gpu_widgets(system):
    return 2.0


@formula("widget_count", kind="gpu", plan="tp")
def gpu_tp_widgets(system, plan):
    return 3.0 * plan.tp


@formula("widget_count", kind="gpu", family="toy")
def toy_gpu_widgets(system):
    return 4.0


def test_kind_specific_formula_beats_generic(catalog):
    c = catalog(plugin("widgets", generic_widgets, gpu_widgets))
    on_gpu = estimate(scenario(GPU), ["widget_count"], catalog=c)
    on_tpu = estimate(scenario(TPU), ["widget_count"], catalog=c)
    assert on_gpu["widget_count"] == 2.0 and on_gpu.formula("widget_count").name == "gpu_widgets"
    assert on_tpu["widget_count"] == 1.0
    assert on_tpu.formula("widget_count").name == "generic_widgets"


def test_plan_feature_beats_kind_only(catalog):
    c = catalog(plugin("widgets", generic_widgets, gpu_widgets, gpu_tp_widgets))
    with_tp = estimate(scenario(GPU, Plan(tp=2)), ["widget_count"], catalog=c)
    without = estimate(scenario(GPU, Plan()), ["widget_count"], catalog=c)
    assert with_tp["widget_count"] == 6.0
    assert with_tp.formula("widget_count").name == "gpu_tp_widgets"
    assert without["widget_count"] == 2.0


def test_specificity_does_not_depend_on_registration_order(catalog):
    forward = catalog(plugin("a", generic_widgets, gpu_widgets, toy_gpu_widgets))
    backward = catalog(plugin("a", toy_gpu_widgets, gpu_widgets, generic_widgets))
    for c in (forward, backward):
        assert estimate(scenario(GPU), ["widget_count"], catalog=c)["widget_count"] == 4.0


def test_equally_specific_formulas_conflict_naming_both(catalog):
    @formula("widget_count", family="toy")
    def family_widgets(system):
        return 5.0

    c = catalog(plugin("by-kind", gpu_widgets), plugin("by-family", family_widgets,
                                                       family=False))
    with pytest.raises(ConflictError) as info:
        estimate(scenario(GPU), ["widget_count"], catalog=c)
    message = str(info.value)
    assert "by-kind" in message and "by-family" in message
    assert "gpu_widgets" in message and "family_widgets" in message


def test_identical_conditions_conflict_when_registered(catalog):
    @formula("widget_count", kind="gpu")
    def other_gpu_widgets(system):
        return 9.0

    with pytest.raises(ConflictError) as info:
        catalog(plugin("first", gpu_widgets), plugin("second", other_gpu_widgets, family=False))
    assert "first" in str(info.value) and "second" in str(info.value)


def test_no_formula_that_applies_is_a_scenario_error(catalog):
    c = catalog(plugin("gpu-only", gpu_widgets))
    with pytest.raises(ScenarioError, match="widget_count.*kind=tpu"):
        estimate(scenario(TPU), ["widget_count"], catalog=c)
    with pytest.raises(ScenarioError, match="no formula computes 'nothing_s'"):
        estimate(scenario(GPU), ["nothing_s"], catalog=c)


def test_missing_input_names_the_formula_that_needs_it(catalog):
    @formula
    def needy_s(missing_bytes):
        return missing_bytes

    c = catalog(plugin("needy", needy_s))
    with pytest.raises(ScenarioError) as info:
        estimate(scenario(), ["needy_s"], catalog=c)
    assert "missing_bytes" in str(info.value) and "needy" in str(info.value)


# --------------------------------------------------------------------------- cycles


def test_cycle_is_an_error_naming_it(catalog):
    @formula
    def a_s(b_s):
        return b_s

    @formula
    def b_s(c_s):
        return c_s

    @formula
    def c_s(a_s):
        return a_s

    c = catalog(plugin("loop", a_s, b_s, c_s))
    with pytest.raises(CycleError) as info:
        estimate(scenario(), ["a_s"], catalog=c)
    cycle = info.value.cycle
    assert cycle == ("a_s", "b_s", "c_s", "a_s")
    assert "a_s -> b_s -> c_s -> a_s" in str(info.value)


def test_a_formula_needing_itself_is_a_cycle(catalog):
    @formula
    def selfish_s(selfish_s):
        return selfish_s

    with pytest.raises(CycleError, match="selfish_s -> selfish_s"):
        estimate(scenario(), ["selfish_s"], catalog=catalog(plugin("me", selfish_s)))


def test_optional_estimate_skips_quantities_in_a_cycle(catalog):
    @formula
    def a_s(b_s):
        return b_s

    @formula
    def b_s(a_s):
        return a_s

    c = catalog(plugin("loop", a_s, b_s, generic_widgets))
    est = estimate(scenario(), catalog=c)          # every quantity that applies
    assert est["widget_count"] == 1.0
    assert "a_s" in est.skipped and "cycle" in est.skipped["a_s"]


# --------------------------------------------------------------------------- provenance


@formula(kind="gpu")
def weight_read_s(weight_bytes, system):
    """Time to stream the weights once from main memory."""
    return weight_bytes / system.accelerator.main_memory.bandwidth_bytes_per_s


@formula
def weight_bytes(model):
    """Weights in bytes: two bytes per parameter (a toy count)."""
    return 2.0 * model.hidden_size * model.intermediate_size * model.num_layers


@formula
def step_s(weight_read_s, overhead_s):
    """One step: read the weights, then a fixed overhead."""
    return weight_read_s + overhead_s


@formula
def overhead_s():
    return 1e-3


def test_provenance_names_formula_and_plugin(catalog):
    c = catalog(plugin("physics", weight_read_s, weight_bytes, step_s, overhead_s))
    est = estimate(scenario(), ["step_s"], catalog=c)
    assert est.formula("step_s").plugin == "physics"
    assert est.formula("weight_read_s").name == "weight_read_s"
    expected = 2.0 * 256 * 1024 * 2 / 2e12
    assert_quantity_close(est["weight_read_s"], expected, unit="s", what="weight_read_s")
    assert_quantity_close(est["step_s"], expected + 1e-3, unit="s")
    assert est.to_dict()["provenance"]["step_s"] == "physics:step_s"
    assert est.unit("weight_bytes") == "B"


def test_explain_shows_the_tree_of_formulas_and_plugins(catalog):
    c = catalog(plugin("physics", weight_read_s, weight_bytes, step_s, overhead_s))
    text = estimate(scenario(), ["step_s"], catalog=c).explain("step_s")
    lines = text.splitlines()
    assert lines[0].startswith("step_s = ") and "[physics: step_s]" in lines[0]
    assert "One step: read the weights" in text                  # the docstring's summary
    assert "weight_read_s" in text and "where kind=gpu" in text  # the condition that chose it
    assert "weight_bytes" in text and "[physics: weight_bytes]" in text
    assert "overhead_s = 1 ms" in text
    assert "└─" in text


def test_explain_marks_given_inputs(catalog):
    c = catalog(plugin("physics", weight_read_s, weight_bytes, step_s, overhead_s))
    est = estimate(scenario(), ["step_s"], catalog=c, inputs={"weight_bytes": 4e9})
    assert "weight_bytes = 4 GB   [given]" in est.explain("step_s")


# --------------------------------------------------------------------------- memoisation, caching


def test_a_formula_used_twice_runs_once(catalog):
    calls = []

    @formula
    def base_bytes(model):
        calls.append(1)
        return 10.0

    @formula
    def left_bytes(base_bytes):
        return base_bytes + 1

    @formula
    def right_bytes(base_bytes):
        return base_bytes + 2

    @formula
    def total_bytes(left_bytes, right_bytes, base_bytes):
        return left_bytes + right_bytes + base_bytes

    c = catalog(plugin("memo", total_bytes, left_bytes, right_bytes, base_bytes))
    est = estimate(scenario(), ["total_bytes", "left_bytes"], catalog=c)
    assert est["total_bytes"] == 33.0
    assert len(calls) == 1
    estimate(scenario(), ["total_bytes"], catalog=c)
    assert len(calls) == 2                          # once per estimate


def test_program_is_cached_per_features(catalog):
    c = catalog(plugin("physics", weight_read_s, weight_bytes, step_s, overhead_s,
                       generic_widgets))
    s = scenario()
    first = compile_program(c, s.features(), ("step_s",))
    assert compile_program(c, s.features(), ("step_s",)) is first
    bigger = scenario(model=Model(id="toy-2", family="toy", vocab_size=5000, hidden_size=512,
                                  num_layers=8, num_heads=8, intermediate_size=2048))
    # other numbers, same discrete features: the same program
    assert estimate(bigger, ["step_s"], catalog=c).program is first
    assert estimate(s, ["step_s"], catalog=c).program is first
    # other features: another program
    on_tp = scenario(plan=Plan(tp=2))
    assert compile_program(c, on_tp.features(), ("step_s",)) is not first
    assert [f.produces for f in first.steps][-1] == "step_s"


def test_program_orders_each_formula_after_its_inputs(catalog):
    c = catalog(plugin("physics", step_s, overhead_s, weight_read_s, weight_bytes))
    program = compile_program(c, scenario().features(), ("step_s",))
    order = [f.produces for f in program.steps]
    for f in program.steps:
        for p in f.quantity_params():
            assert order.index(p) < order.index(f.produces)


# --------------------------------------------------------------------------- failures


def test_formula_that_raises_is_a_formula_error_naming_plugin_and_formula(catalog):
    @formula
    def fragile_s(weight_bytes):
        raise ZeroDivisionError("no bandwidth")

    c = catalog(plugin("fragile-plugin", fragile_s, weight_bytes))
    with pytest.raises(FormulaError) as info:
        estimate(scenario(), ["fragile_s"], catalog=c)
    err = info.value
    assert err.plugin == "fragile-plugin" and err.formula.endswith("fragile_s")
    assert "fragile-plugin" in str(err) and "fragile_s" in str(err)
    assert "ZeroDivisionError" in str(err) and "no bandwidth" in str(err)


@pytest.mark.parametrize("quantity, value, reason", [
    ("bad_s", -1.0, "negative"),
    ("bad_s", math.nan, "nan"),
    ("bad_bytes", math.inf, "inf"),
    ("bad_bytes", -math.inf, "inf"),
    ("bad_bytes", np.float64("nan"), "nan"),
])
def test_non_finite_values_and_negative_times_are_formula_errors(catalog, quantity, value,
                                                                 reason):
    @formula(quantity)
    def broken(model):
        return value

    with pytest.raises(FormulaError, match=reason) as info:
        estimate(scenario(), [quantity], catalog=catalog(plugin("broken-plugin", broken)))
    assert info.value.plugin == "broken-plugin" and info.value.formula.endswith("broken")
    assert quantity in str(info.value)


def test_negative_amounts_are_formula_errors_and_a_real_domain_allows_them(catalog):
    @formula
    def margin_bytes(model):
        return -5.0

    with pytest.raises(FormulaError, match="margin_bytes is -5.0, which is negative"):
        estimate(scenario(), ["margin_bytes"], catalog=catalog(plugin("m", margin_bytes)))

    @formula(domain="real")
    def log_ratio(model):
        return -5.0

    est = estimate(scenario(), ["log_ratio"], catalog=catalog(plugin("m", log_ratio)))
    assert est["log_ratio"] == -5.0


def test_a_bad_value_inside_a_sweep_is_a_formula_error(catalog):
    @formula
    def gap_s(base_s):
        return np.where(base_s > 2, -1.0, base_s)

    @formula
    def base_s():
        return 1.0

    c = catalog(plugin("gappy", gap_s, base_s))
    with pytest.raises(FormulaError, match="negative"):
        sweep(scenario(), {"base_s": [1.0, 2.0, 3.0]}, ["gap_s"], catalog=c)


# --------------------------------------------------------------------------- inputs, sweeps


def test_inputs_override_formulas(catalog):
    calls = []

    @formula
    def counted_bytes(model):
        calls.append(1)
        return 1.0

    @formula
    def doubled_bytes(counted_bytes):
        return 2 * counted_bytes

    c = catalog(plugin("p", counted_bytes, doubled_bytes))
    est = estimate(scenario(), ["doubled_bytes"], catalog=c, inputs={"counted_bytes": 21.0})
    assert est["doubled_bytes"] == 42.0
    assert calls == []
    assert est.formula("counted_bytes") is None
    assert estimate(scenario(), ["doubled_bytes"], catalog=c)["doubled_bytes"] == 2.0


@formula
def stream_s(payload_bytes, link_bytes_per_s, latency_s):
    """alpha-beta time, with numpy so that arrays flow through."""
    return latency_s + payload_bytes / np.maximum(link_bytes_per_s, 1.0)


@formula
def payload_bytes(model):
    return 1e9


@formula
def link_bytes_per_s(system):
    return system.accelerator.main_memory.bandwidth_bytes_per_s


@formula
def latency_s():
    return 5e-6


@formula
def overlapped_s(stream_s, latency_s):
    return np.maximum(stream_s, 10 * latency_s)


SWEEP_PLUGIN = plugin("sweepable", stream_s, payload_bytes, link_bytes_per_s, latency_s,
                      overlapped_s)


def test_sweep_equals_scalar_estimates_point_by_point(catalog):
    c = catalog(SWEEP_PLUGIN)
    payloads = [1e3, 1e6, 1e9, 1e12]
    links = [1e9, 5e11, 3e12]
    swept = sweep(scenario(), {"payload_bytes": payloads, "link_bytes_per_s": links},
                  ["overlapped_s", "stream_s"], catalog=c)
    assert swept.axes == ("payload_bytes", "link_bytes_per_s")
    assert swept["overlapped_s"].shape == (len(payloads), len(links))
    for i, p in enumerate(payloads):
        for j, link in enumerate(links):
            one = estimate(scenario(), ["overlapped_s", "stream_s"], catalog=c,
                           inputs={"payload_bytes": p, "link_bytes_per_s": link})
            for q in ("overlapped_s", "stream_s"):
                assert_quantity_close(swept[q][i, j], one[q], rel=1e-12, what=q)


# the factory holds no state between examples, so a function-scoped fixture is safe here
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(st.floats(1.0, 1e13), min_size=1, max_size=5),
       latencies=st.lists(st.floats(0.0, 1e-3), min_size=1, max_size=4))
def test_vectorised_equals_scalar(payloads, latencies, catalog_factory):
    c = catalog_factory(SWEEP_PLUGIN)
    swept = sweep(scenario(), {"payload_bytes": payloads, "latency_s": latencies},
                  ["overlapped_s"], catalog=c)
    for i, p in enumerate(payloads):
        for j, lat in enumerate(latencies):
            one = estimate(scenario(), ["overlapped_s"], catalog=c,
                           inputs={"payload_bytes": p, "latency_s": lat})
            assert_quantity_close(swept["overlapped_s"][i, j], one["overlapped_s"], rel=1e-12)


def test_sweep_needs_values_on_every_axis(catalog):
    with pytest.raises(ScenarioError, match="at least one value"):
        sweep(scenario(), {"payload_bytes": []}, ["stream_s"], catalog=catalog(SWEEP_PLUGIN))
