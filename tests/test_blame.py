"""Who an impossible value is blamed on: where it first appears, not where it breaks."""

import types

import pytest

import ridgeline
from ridgeline.catalog import build_catalog
from ridgeline.errors import FormulaError, ScenarioError
from ridgeline.plugin import formula, hookimpl


def _overriding(quantity, value):
    @formula(quantity, family="dense", kind="gpu", workload="inference")
    def made_up(batch):
        return value
    module = types.ModuleType("made-up")
    module.ridgeline_register_formulas = hookimpl(lambda register: register(made_up))
    return build_catalog(plugins=[module], entry_points=False)


def test_a_zero_a_plugin_returns_is_blamed_on_it_where_it_is_divided_by():
    catalog = _overriding("decode_step_s", 0.0)
    with pytest.raises(FormulaError) as caught:
        ridgeline.infer("llama-3-8b", on="h100", catalog=catalog)
    assert caught.value.plugin == "made-up" and "above 0" in str(caught.value)


def test_a_value_next_to_zero_is_blamed_on_the_plugin_that_returned_it():
    catalog = _overriding("throughput_tokens_per_s", 1e-250)
    with pytest.raises(FormulaError) as caught:
        ridgeline.infer("llama-3-8b", on="h100", catalog=catalog)
    assert caught.value.plugin == "made-up" and "below any physical scale" in str(caught.value)


def test_a_given_zero_divisor_is_the_callers_error():
    with pytest.raises(ScenarioError, match="given compute_flops_per_s = 0"):
        ridgeline.infer("llama-3-8b", on="groq-lpu-v1", inputs={"compute_flops_per_s": 0})


def test_a_given_value_that_contradicts_the_model_is_the_callers_error():
    # 64 parameters for Mixtral leave its experts a negative count
    with pytest.raises(ScenarioError, match="given params"):
        ridgeline.infer("mixtral-8x7b", on="h100", tp=2, inputs={"params": 64})
    # a whole request faster than the arithmetic it holds: utilisation above 1
    with pytest.raises(ScenarioError, match="given e2e_latency_s"):
        ridgeline.infer("llama-3-8b", on="h100", inputs={"e2e_latency_s": 1e-9})
