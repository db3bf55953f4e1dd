"""ridgeline.testing itself: the fixture, assert_quantity_close, check_plugin, the strategies."""

import importlib
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ridgeline.accelerator import Accelerator
from ridgeline.catalog import BUILTIN_PLUGINS
from ridgeline.model import Model
from ridgeline.plugin import formula, hookimpl
from ridgeline.scenario import InferenceWorkload, Plan, Scenario, System, TrainingWorkload
from ridgeline.testing import assert_quantity_close, check_plugin
from ridgeline.testing.strategies import accelerators, models, plans, scenarios

pytest_plugins = ["ridgeline.testing", "pytester"]

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- fixture


def test_catalog_factory_builds_only_what_it_is_given(catalog_factory):
    assert catalog_factory().accelerators == {}
    assert "nvidia-h100-sxm" in catalog_factory(builtins=True).accelerators


def test_catalog_factory_ignores_the_callers_environment(pytester, monkeypatch):
    pytester.makeconftest('pytest_plugins = ["ridgeline.testing"]')
    pytester.makepyfile("""
        import os
        def test_isolated(catalog_factory):
            assert "RIDGELINE_DISABLE_PLUGINS" not in os.environ
            assert "nvidia-h100-sxm" in catalog_factory(builtins=True).accelerators
    """)
    monkeypatch.setenv("RIDGELINE_DISABLE_PLUGINS", "ridgeline.plugins.registry_data")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


# --------------------------------------------------------------------------- assertions


def test_assert_quantity_close_accepts_close_values():
    assert_quantity_close(1.0 + 1e-12, 1.0)
    assert_quantity_close(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-10], rel=1e-9)
    assert_quantity_close(0.0, 1e-13, abs=1e-12)
    assert_quantity_close(float("inf"), float("inf"))


def test_assert_quantity_close_names_the_values_in_human_units():
    with pytest.raises(AssertionError) as info:
        assert_quantity_close(3.0e12, 3.35e12, rel=1e-3, unit="B/s",
                              what="memory_bandwidth_bytes_per_s")
    message = str(info.value)
    assert "memory_bandwidth_bytes_per_s" in message
    assert "3 TB/s" in message and "3.35 TB/s" in message


def test_assert_quantity_close_points_at_the_first_bad_element():
    with pytest.raises(AssertionError, match="index 2"):
        assert_quantity_close(np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(AssertionError, match="shapes"):
        assert_quantity_close(np.ones(2), np.ones(3))


# --------------------------------------------------------------------------- check_plugin


@pytest.mark.parametrize("module", BUILTIN_PLUGINS)
def test_builtin_plugin_passes_the_conformance_checks(module):
    # every built-in formula vectorises: arrays in give, point by point, what scalars give
    check_plugin(importlib.import_module(module))


def _plugin(name, *formulas):
    module = types.ModuleType(name)

    def ridgeline_register_formulas(register):
        for f in formulas:
            register(f)
    module.ridgeline_register_formulas = hookimpl(ridgeline_register_formulas)
    return module


def test_check_plugin_catches_a_formula_that_does_not_vectorise():
    @formula
    def branchy_s(memory_bandwidth_bytes_per_s):
        if memory_bandwidth_bytes_per_s > 1e12:     # an `if` on a number: breaks on arrays
            return 1.0
        return 2.0

    with pytest.raises(AssertionError) as info:
        check_plugin(_plugin("branchy", branchy_s))
    message = str(info.value)
    assert "branchy_s" in message and "np.where" in message


def test_check_plugin_catches_arrays_that_disagree_with_scalars():
    @formula
    def first_only_s(memory_bandwidth_bytes_per_s):
        return 1e9 / np.atleast_1d(memory_bandwidth_bytes_per_s)[0]

    with pytest.raises(AssertionError, match="first_only_s.*with arrays gives"):
        check_plugin(_plugin("first-only", first_only_s))


def test_check_plugin_passes_a_vectorised_formula():
    @formula(kind="gpu")
    def stream_gb_s(memory_bandwidth_bytes_per_s, compute_flops_per_s):
        return np.maximum(1e9 / memory_bandwidth_bytes_per_s, 1e9 / compute_flops_per_s)

    catalog = check_plugin(_plugin("vectorised", stream_gb_s))
    assert "stream_gb_s" in catalog.formulas


def test_check_plugin_reports_a_plugin_that_does_not_register():
    from ridgeline.errors import PluginError

    def ridgeline_register_accelerators(register):
        raise RuntimeError("no spec")
    module = types.ModuleType("broken")
    module.ridgeline_register_accelerators = hookimpl(ridgeline_register_accelerators)
    with pytest.raises(PluginError, match="no spec"):
        check_plugin(module)


# --------------------------------------------------------------------------- strategies


@FAST
@given(s=scenarios())
def test_generated_scenarios_pass_their_own_checks(s):
    s.check()
    m, p = s.model, s.plan
    assert m.num_heads % m.kv_heads == 0 and m.num_heads % p.tp == 0
    assert m.kv_heads % p.tp == 0 and m.num_layers % p.pp == 0
    if isinstance(s.workload, InferenceWorkload):
        assert s.workload.prompt_tokens + s.workload.output_tokens <= m.max_seq_len
    else:
        assert s.workload.seq_len <= m.max_seq_len
        assert s.workload.global_batch % (p.dp * p.micro_batch) == 0


@FAST
@given(m=models())
def test_generated_models_have_consistent_heads(m):
    assert m.num_heads % m.kv_heads == 0
    assert m.head_dim is not None or m.hidden_size % m.num_heads == 0


@FAST
@given(a=accelerators())
def test_generated_accelerators_can_be_estimated(a):
    assert a.main_memory.bandwidth_bytes_per_s > 0
    assert "bf16" in a.peak_flops_per_s and a.sources
    assert a.id not in a.aliases


@FAST
@given(data=st.data())
def test_plans_for_a_model_shard_it_evenly(data):
    m = data.draw(models())
    p = data.draw(plans(for_model=m, max_devices=16))
    assert p.devices <= 16 and m.num_layers % p.pp == 0


@pytest.mark.parametrize("cls", [Accelerator, Model, Plan, System, InferenceWorkload,
                                 TrainingWorkload, Scenario])
def test_hypothesis_entry_point_registers_from_type(cls):
    # ridgeline's `hypothesis` entry point ran when Hypothesis was imported
    @settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.from_type(cls))
    def check(obj):
        assert isinstance(obj, cls)
    check()
