"""Every value is checked against its quantity's domain: given inputs, sweep axes, and what
plugins' formulas return. And a sweep names its axes and refuses names it does not know.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline import api
from ridgeline.engine import check_inputs, estimate, quantity_domain, sweep
from ridgeline.errors import FormulaError, ScenarioError, UnknownNameError
from ridgeline.plugin import formula, hookimpl
from ridgeline.units import LARGEST, DOMAINS, domain_of, value_problem

pytest_plugins = ["ridgeline.testing"]


@pytest.fixture(scope="module")
def catalog():
    return ridgeline.default_catalog()


def _infer(**kw):
    args = dict(on="h100", batch=8, prompt=512, output=128)
    args.update(kw)
    return ridgeline.infer("llama-3-8b", **args)


# --------------------------------------------------------------------------- declarations


@pytest.mark.parametrize("quantity, domain", [
    ("batch", "count"), ("prompt_tokens", "count"), ("output_tokens", "count"),
    ("params", "count"), ("active_params", "count"), ("devices_needed", "count"),
    ("replica_devices", "count"), ("seq_len", "count"), ("global_batch", "count"),
    ("steps", "count"), ("draft_tokens", "count"),
    ("max_batch", "whole"), ("lm_head_params", "whole"), ("offload_resident_layers", "whole"),
    ("acceptance_rate", "fraction"), ("fits", "flag"), ("offload_link_bound", "flag"),
    ("price_usd_per_hour", "nonnegative"), ("device_power_w", "nonnegative"),
    ("decode_step_s", "nonnegative"), ("kv_cache_bytes", "nonnegative"),
    ("decode_operations", "structured"), ("dense_shard", "structured"),
])
def test_built_in_quantities_declare_their_domain(catalog, quantity, domain):
    assert quantity_domain(catalog, quantity) == domain
    assert {f.domain for f in catalog.formulas[quantity]} == {domain}


def test_the_domain_follows_the_unit_unless_declared():
    assert domain_of("s") == domain_of("B") == domain_of("USD/h") == "nonnegative"
    assert domain_of("") == "real" and domain_of("table") == "structured"
    assert formula("x_s")(lambda model: 1.0).domain == "nonnegative"
    assert formula("ratio")(lambda model: 1.0).domain == "real"
    assert formula("layers", domain="count")(lambda model: 1.0).domain == "count"


@pytest.mark.parametrize("kw, message", [
    (dict(domain="counts"), "domain must be one of"),
    (dict(domain="count", unit="table"), "does not fit unit 'table'"),
])
def test_a_bad_domain_declaration_is_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        formula("layers", **kw)(lambda model: 1.0)


# --------------------------------------------------------------------------- given values


@pytest.mark.parametrize("inputs, field", [
    ({"price_usd_per_hour": -1}, "price_usd_per_hour"),
    ({"device_power_w": -700}, "device_power_w"),
    ({"output_tokens": 1e-300}, "output_tokens"),
    ({"batch": 0.5}, "batch"),
    ({"batch": 0}, "batch"),
    ({"batch": True}, "batch"),
    ({"prompt_tokens": 10**400}, "prompt_tokens"),
    ({"acceptance_rate": 1.5}, "acceptance_rate"),
    ({"memory_bandwidth_bytes_per_s": math.inf}, "memory_bandwidth_bytes_per_s"),
    ({"kernel_overhead_s": math.nan}, "kernel_overhead_s"),
    ({"kernel_overhead_s": "20us"}, "kernel_overhead_s"),
    ({"kernel_overhead_s": 1j}, "kernel_overhead_s"),
    ({"kernel_overhead_s": np.array([1.0])}, "kernel_overhead_s"),
])
def test_given_values_outside_their_domain_are_scenario_errors(inputs, field):
    with pytest.raises(ScenarioError, match=f"given {field}"):
        _infer(inputs=inputs)


def test_given_params_of_zero_is_refused_in_training():
    with pytest.raises(ScenarioError, match="given params: got 0.*whole number >= 1"):
        ridgeline.train("llama-2-7b", on="h100", dp=8, global_batch=64, inputs={"params": 0})


def test_given_values_are_checked_by_estimate_and_distill_too(catalog):
    s = api.infer_scenario("llama-3-8b", on="h100", catalog=catalog)
    with pytest.raises(ScenarioError, match="given batch: got -4.0"):
        estimate(s, ["tpot_s"], inputs={"batch": -4.0})
    with pytest.raises(ScenarioError, match="given batch"):
        estimate(s, ["tpot_s"], inputs={"batch": np.array([1.0, 0.5])})
    with pytest.raises(UnknownNameError, match="bacth"):
        estimate(s, ["tpot_s"], inputs={"bacth": 4.0})
    with pytest.raises(ScenarioError, match="inputs.*a mapping"):
        estimate(s, ["tpot_s"], inputs=5)
    with pytest.raises(ScenarioError, match="given price_usd_per_hour"):
        ridgeline.distill("llama-3.2-1b", on="h100", devices=8, tokens="1B",
                          inputs={"price_usd_per_hour": -1.0})


@pytest.mark.parametrize("inputs", [{"decode_operations": 2.0}, {"dense_shard": 0.99},
                                    {"prefill_operations": None}])
def test_structured_quantities_cannot_be_given_as_numbers(inputs, catalog):
    (name,) = inputs
    with pytest.raises(ScenarioError, match=f"given {name}: .*structured value"):
        _infer(inputs=inputs)
    s = api.infer_scenario("llama-3-8b", on="h100", catalog=catalog)
    with pytest.raises(ScenarioError, match=f"given {name}"):
        estimate(s, ["tpot_s"], inputs=inputs)


def test_good_given_values_still_work():
    e = _infer(inputs={"price_usd_per_hour": 0.0, "output_tokens": 64, "acceptance_rate": 1.0,
                       "kernel_overhead_s": np.float64(2e-6)}, draft="llama-3.2-1b")
    assert e["e2e_latency_s"] >= e["ttft_s"] and e["cost_per_mtok_usd"] == 0.0


#: a value inside and one outside each domain (not structured)
INSIDE = {"real": -3.5, "nonnegative": 0.0, "count": 7.0, "whole": 0.0, "fraction": 0.25,
          "flag": 1.0}
OUTSIDE = {"real": math.inf, "nonnegative": -1e-9, "count": 0.5, "whole": -1.0,
           "fraction": 1.0000001, "flag": 0.5}


def test_every_quantity_of_the_catalog_checks_given_values_by_its_domain(catalog):
    for quantity in catalog.formulas:
        domain = quantity_domain(catalog, quantity)
        if domain == "structured":
            continue
        assert check_inputs(catalog, {quantity: INSIDE[domain]}) == {quantity: INSIDE[domain]}
        with pytest.raises(ScenarioError, match=quantity):
            check_inputs(catalog, {quantity: OUTSIDE[domain]})


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                       st.integers(-10**30, 10**30)),
       domain=st.sampled_from([d for d in DOMAINS if d != "structured"]))
def test_value_problem_agrees_with_the_definition_of_each_domain(value, domain):
    x = float(value)
    inside = math.isfinite(x) and abs(x) <= LARGEST and {
        "real": True, "nonnegative": x >= 0, "count": x >= 1 and x.is_integer(),
        "whole": x >= 0 and x.is_integer(), "fraction": 0 <= x <= 1, "flag": x in (0, 1),
    }[domain]
    assert (value_problem(value, domain) is None) == inside
    array = np.array([1.0 if domain != "flag" else 0.0, x])
    assert (value_problem(array, domain, (2,)) is None) == inside


# --------------------------------------------------------------------------- plugin outputs


BAD_OUTPUTS = [
    ("decode_step_s", "abc"), ("decode_step_s", None), ("decode_step_s", {}),
    ("decode_step_s", object()), ("decode_step_s", 1j), ("decode_step_s", np.complex128(2.0)),
    ("decode_step_s", [1, 2]), ("decode_step_s", 10**400), ("decode_step_s", -1.0),
    ("decode_step_s", math.nan), ("decode_step_s", np.array([1.0, 2.0, 3.0])),
    ("weight_bytes", -5.0), ("weight_bytes", math.inf), ("weight_bytes", np.float64(-1.0)),
    ("batch", 0.5), ("batch", 0.0), ("fits", 2.0), ("max_batch", -1.0),
]


def _overriding(quantity, value):
    """A plugin whose formula for ``quantity`` beats the built-in on GPUs and returns
    ``value``."""
    import types

    @formula(quantity, kind="gpu", workload="inference", plan=("dp",) if quantity == "x" else ())
    def rogue(model):
        return value

    module = types.ModuleType("rogue-plugin")
    module.ridgeline_register_formulas = hookimpl(lambda register: register(rogue))
    return module


@pytest.mark.parametrize("quantity, value", BAD_OUTPUTS,
                         ids=[f"{q}={v!r:.20}" for q, v in BAD_OUTPUTS])
def test_a_plugin_value_outside_its_domain_is_a_formula_error(catalog_factory, quantity, value):
    c = catalog_factory(_overriding(quantity, value), builtins=True)
    s = api.infer_scenario("llama-3-8b", on="h100", batch=4, catalog=c)
    wanted = ["tpot_s", "fits", quantity]
    for run in (lambda: estimate(s, wanted, catalog=c),
                lambda: estimate(s, catalog=c),
                lambda: sweep(s, {"prompt_tokens": [128, 1024]}, wanted, catalog=c)):
        with pytest.raises(FormulaError) as info:
            run()
        assert info.value.plugin == "rogue-plugin" and "rogue" in info.value.formula
        assert quantity in str(info.value)


@pytest.mark.parametrize("value", ["abc", None, 3.0])
def test_a_plugin_table_that_is_no_table_is_blamed_on_the_plugin(catalog_factory, value):
    @formula("decode_operations", family="dense", kind="gpu", workload="inference", unit="table")
    def rogue(model):
        return value

    import types
    module = types.ModuleType("rogue-plugin")
    module.ridgeline_register_formulas = hookimpl(lambda register: register(rogue))
    c = catalog_factory(module, builtins=True)
    s = api.infer_scenario("llama-3-8b", on="h100", catalog=c)
    with pytest.raises(FormulaError, match="expected an operation table") as info:
        estimate(s, ["tpot_s"], catalog=c)
    assert info.value.plugin == "rogue-plugin"


def test_a_plugin_array_of_the_grid_shape_is_fine_and_a_wrong_shape_is_not(catalog_factory):
    grid = {"prompt_tokens": [128.0, 1024.0, 4096.0]}

    @formula("kernel_overhead_s", kind="gpu")
    def shaped(prompt_tokens):
        return 1e-6 * np.ones_like(prompt_tokens)

    @formula("kernel_overhead_s", kind="gpu")
    def misshaped(prompt_tokens):
        return np.ones(5) * 1e-6

    for f, ok in ((shaped, True), (misshaped, False)):
        import types
        module = types.ModuleType("shapes")
        module.ridgeline_register_formulas = hookimpl(lambda register, f=f: register(f))
        c = catalog_factory(module, builtins=True)
        s = api.infer_scenario("llama-3-8b", on="h100", catalog=c)
        if ok:
            assert sweep(s, grid, ["tpot_s"], catalog=c)["tpot_s"].shape == (3,)
        else:
            with pytest.raises(FormulaError, match="shape"):
                sweep(s, grid, ["tpot_s"], catalog=c)


# --------------------------------------------------------------------------- sweeps


def test_a_sweep_names_its_axes_and_broadcasts_constants(catalog):
    s = api.infer_scenario("llama-3-8b", on="h100", catalog=catalog)
    grid = sweep(s, {"batch": [1, 2, 4], "prompt_tokens": [128, 512]},
                 ["tpot_s", "weight_bytes", "fits"], catalog=catalog)
    assert grid.axes == ("batch", "prompt_tokens")
    for q in ("tpot_s", "weight_bytes", "fits", "batch", "prompt_tokens"):
        assert grid[q].shape == (3, 2), q
    assert np.all(grid["weight_bytes"] == grid["weight_bytes"][0, 0])
    assert grid["batch"][2, 0] == 4 and grid["prompt_tokens"][0, 1] == 512
    assert grid.to_dict()["axes"] == ["batch", "prompt_tokens"]
    one = estimate(s, ["tpot_s"], inputs={"batch": 2, "prompt_tokens": 512})
    assert grid["tpot_s"][1, 1] == pytest.approx(one["tpot_s"], rel=1e-12)


@pytest.mark.parametrize("grid, error, message", [
    ({"zero": [0, 1]}, ScenarioError, "zero chooses the formulas.*train"),
    ({"bacth": [1, 2]}, UnknownNameError, "did you mean 'batch'"),
    ({"seq_len": [128]}, ScenarioError, "sweep axis seq_len is not used"),
    ({"batch": [-4.0]}, ScenarioError, "sweep axis batch: got -4.0"),
    ({"batch": [1.0, 0.5]}, ScenarioError, "sweep axis batch: got 0.5"),
    ({"batch": []}, ScenarioError, "'batch'.*at least one value"),
    ({"batch": ["a", "b"]}, ScenarioError, "'batch'.*numbers"),
    ({"batch": [1.0, math.nan]}, ScenarioError, "sweep axis batch.*non-finite"),
    ({"batch": [[1, 2], [3, 4]]}, ScenarioError, "'batch'.*shape"),
    ({"batch": 4}, ScenarioError, "'batch'.*list"),
    ({"batch": "1234"}, ScenarioError, "'batch'.*list"),
    ({"batch": [True, False]}, ScenarioError, "sweep axis batch"),
    ({}, ScenarioError, "sweep needs a grid"),
    ({4: [1.0]}, ScenarioError, "quantity names"),
])
def test_bad_sweep_grids_are_clear_errors(catalog, grid, error, message):
    s = api.infer_scenario("llama-3-8b", on="h100", catalog=catalog)
    with pytest.raises(error, match=message):
        sweep(s, grid, ["tpot_s"], catalog=catalog)
