"""Families that extend others, attention variants, model and workload features, given inputs.

Toy plugins only (no built-ins), so these say what the catalog and engine do with the
extension points, whatever the built-in physics does.
"""

import types

import pytest

from ridgeline.engine import estimate
from ridgeline.errors import ConflictError, PluginError, RegistryError, ScenarioError
from ridgeline.plugin import (Accelerator, Architecture, AttentionVariant, InferenceWorkload,
                              MemoryTier, Model, OptionSpec, Plan, System, formula, hookimpl)
from ridgeline.scenario import Scenario

pytest_plugins = ["ridgeline.testing"]

BASE = Architecture(family="base", doc="A base family.",
                    options=(OptionSpec("depth_factor", "int"),))
CHILD = Architecture(family="child", doc="Extends base.", extends="base",
                     options=(OptionSpec("experts", "int", required=True),))
GRANDCHILD = Architecture(family="grandchild", doc="Extends child.", extends="child")
LATENT = AttentionVariant(name="latent", doc="A compressed attention.",
                          options=(OptionSpec("latent_rank", "int", required=True),))

GPU = Accelerator(id="g1", name="g1", vendor="Test", kind="gpu", sources=["test"],
                  memory=[MemoryTier("hbm", 8e10, 2e12)], peak_flops_per_s={"bf16": 1e15})


def model(family="base", attention="standard", **options):
    return Model(id=f"m-{family}", family=family, vocab_size=1000, hidden_size=256,
                 num_layers=2, num_heads=4, intermediate_size=1024, attention=attention,
                 options=options)


@formula("widget_count", family="base")
def base_widgets(model):
    return 1.0


@formula("widget_count", family="child")
def child_widgets(model):
    return 2.0


@formula("widget_count", family="base", features="attention-latent")
def latent_widgets(model):
    return 10.0


@formula("widget_count", workload="inference", features="speculative")
def speculative_widgets(model):
    return 100.0


@formula(unit="")
def knob(model):
    return 3.0


@formula("widget_count", family="base", plan="tp")
def tp_widgets(knob):
    return knob


def plugin(name, *objects, formulas=(), accelerators=(GPU,)):
    module = types.ModuleType(name)

    def ridgeline_register_architectures(register):
        for o in objects:
            register(o)

    def ridgeline_register_formulas(register):
        for f in formulas:
            register(f)

    module.ridgeline_register_architectures = hookimpl(ridgeline_register_architectures)
    module.ridgeline_register_formulas = hookimpl(ridgeline_register_formulas)
    def ridgeline_register_accelerators(register):
        for a in accelerators:
            register(a)

    module.ridgeline_register_accelerators = hookimpl(ridgeline_register_accelerators)
    return module


@pytest.fixture
def families(catalog_factory):
    return catalog_factory(plugin("fam", BASE, CHILD, GRANDCHILD, LATENT,
                                  formulas=(base_widgets, child_widgets, latent_widgets,
                                            speculative_widgets, knob, tp_widgets)))


def widgets(catalog, m, plan=Plan(), workload=InferenceWorkload(), inputs=None):
    s = Scenario(model=m, system=System(GPU, devices=plan.devices), plan=plan,
                 workload=workload)
    return estimate(s, ["widget_count"], catalog=catalog, inputs=inputs)


def test_lineage_runs_from_the_family_to_its_ancestors(families):
    assert families.lineage("grandchild") == ("grandchild", "child", "base")
    assert families.lineage("base") == ("base",)


def test_a_family_inherits_its_parents_formulas_and_its_own_win(families):
    assert widgets(families, model("base"))["widget_count"] == 1.0
    assert widgets(families, model("child", experts=4))["widget_count"] == 2.0
    # the closest family of the lineage wins: grandchild has none of its own, child's applies
    e = widgets(families, model("grandchild", experts=4))
    assert e["widget_count"] == 2.0
    assert e.formula("widget_count").name == "child_widgets"


def test_more_conditions_still_beat_a_closer_family(families):
    # family=base + plan tp (2 conditions) beats family=child (1)
    e = widgets(families, model("child", experts=4), plan=Plan(tp=2))
    assert e["widget_count"] == 3.0


def test_an_attention_variant_is_a_model_feature(families):
    assert widgets(families, model("base", attention="latent", latent_rank=8))[
        "widget_count"] == 10.0
    assert model("base", attention="latent").features() == {"attention-latent"}
    assert model("base").features() == frozenset()


def test_a_draft_model_makes_the_workload_speculative(families):
    draft = model("base")
    workload = InferenceWorkload(draft=draft)
    assert workload.features() == {"speculative"}
    assert widgets(families, model("base"), workload=workload)["widget_count"] == 100.0


def test_given_inputs_replace_formulas(families):
    e = widgets(families, model("base"), plan=Plan(tp=2), inputs={"knob": 7.0})
    assert e["widget_count"] == 7.0
    assert "given" in e.explain("widget_count")


def test_models_may_use_their_ancestors_and_variants_options(catalog_factory):
    ok = plugin("ok", BASE, CHILD, LATENT)
    presets = types.ModuleType("presets")
    presets.ridgeline_register_models = hookimpl(lambda register: register(
        model("child", attention="latent", experts=8, depth_factor=2, latent_rank=4)))
    c = catalog_factory(ok, presets)
    assert c.model("m-child").option("latent_rank") == 4


@pytest.mark.parametrize("bad, message", [
    (model("child"), "options.experts: required by family 'child'"),
    (model("base", experts=2), "options.experts: not an option of family 'base'"),
    (model("base", attention="sliding"), "attention 'sliding' is not registered"),
    (model("base", attention="latent"), "options.latent_rank: required by family 'base' or "
                                        "attention 'latent'"),
])
def test_bad_models_are_named_with_the_reason(catalog_factory, bad, message):
    presets = types.ModuleType("presets")
    presets.ridgeline_register_models = hookimpl(lambda register: register(bad))
    with pytest.raises(RegistryError) as info:
        catalog_factory(plugin("fam", BASE, CHILD, LATENT), presets)
    assert message in str(info.value)


def test_extending_an_unknown_family_or_a_cycle_is_an_error(catalog_factory):
    orphan = Architecture(family="orphan", doc="Extends nothing known.", extends="ghost")
    with pytest.raises(RegistryError, match="extends 'ghost', which is not registered"):
        catalog_factory(plugin("o", orphan))
    a = Architecture(family="a", doc="a", extends="b")
    b = Architecture(family="b", doc="b", extends="a")
    with pytest.raises(RegistryError, match="extends itself"):
        catalog_factory(plugin("cyc", a, b))


def test_two_plugins_registering_one_variant_conflict(catalog_factory):
    with pytest.raises(ConflictError) as info:
        catalog_factory(plugin("one", LATENT), plugin("two", LATENT, accelerators=()))
    message = str(info.value)
    assert "attention variant 'latent'" in message and "one" in message and "two" in message


def test_register_rejects_other_objects_by_name(catalog_factory):
    with pytest.raises(PluginError, match="Architecture or AttentionVariant"):
        catalog_factory(plugin("junk", "not an architecture"))


def test_equal_formulas_for_two_unrelated_families_never_both_apply(families):
    # a formula for a sibling family does not apply to the other
    @formula("widget_count", family="other")
    def other_widgets(model):
        return 5.0
    assert not other_widgets.applies.holds((("child", "base"), "gpu", "inference",
                                            frozenset()))
    assert other_widgets.applies.closeness(("child", "base")) == 0


def test_unknown_family_in_a_scenario_is_a_clear_error(families):
    with pytest.raises(ScenarioError, match="no formula computes 'widget_count'"):
        widgets(families, model("nobody"))
