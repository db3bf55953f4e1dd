"""The plugin manager: hooks, conflicts, replacements, entry points, registry folders.

Every hook in ``ridgeline.hookspecs`` has a ``test_hook_<name>`` here (test_meta checks it).
"""

import importlib.util
import os
import subprocess
import sys
import types
from importlib.resources import files
from pathlib import Path

import pytest

import ridgeline
from ridgeline.catalog import build_catalog
from ridgeline.errors import ConflictError, PluginError, RegistryError, UnknownNameError
from ridgeline.loader import to_toml
from ridgeline.plugin import (Accelerator, Architecture, MemoryTier, Model, OptionSpec, System,
                              formula, hookimpl, load_accelerator)

pytest_plugins = ["ridgeline.testing"]

HAS_ACME = importlib.util.find_spec("acme_ridgeline") is not None
needs_acme = pytest.mark.skipif(
    not HAS_ACME, reason="acme_ridgeline is not installed: run "
                         "`.venv/bin/python -m pip install -e examples/acme-ridgeline`")


# --------------------------------------------------------------------------- helpers


def plugin(name, **hooks):
    """A plugin module called ``name`` whose hooks are the functions given."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def accelerator(id, kind="gpu", **kwargs):
    return Accelerator(id=id, name=id.upper(), vendor="Test", kind=kind,
                       sources=["test"], memory=[MemoryTier("hbm", 8e10, 3e12)],
                       peak_flops_per_s={"bf16": 1e15}, **kwargs)


def giving_accelerators(name, *accs):
    def ridgeline_register_accelerators(register):
        for a in accs:
            register(a)
    return plugin(name, ridgeline_register_accelerators=ridgeline_register_accelerators)


def giving_formulas(name, *formulas):
    def ridgeline_register_formulas(register):
        for f in formulas:
            register(f)
    return plugin(name, ridgeline_register_formulas=ridgeline_register_formulas)


TOY = Architecture(family="toy", doc="A toy family for tests.")
TOY_MODEL = Model(id="toy-1", family="toy", vocab_size=1000, hidden_size=256, num_layers=2,
                  num_heads=4, intermediate_size=1024, sources=["test"])


def toy_family(name="toy-family"):
    return plugin(name, ridgeline_register_architectures=lambda register: register(TOY))


@pytest.fixture
def catalog(catalog_factory):
    return catalog_factory


# --------------------------------------------------------------------------- one test per hook


def test_hook_ridgeline_register_accelerators(catalog):
    acme = giving_accelerators("acme-test", accelerator("acme-t1", aliases=["t1"]))
    c = catalog(acme)
    assert c.accelerators["acme-t1"].kind == "gpu"
    assert c.accelerator("T1") is c.accelerators["acme-t1"]          # alias, any case
    assert c.provider("accelerator", "acme-t1") == "acme-test"
    info = c.plugin("acme-test")
    assert info.hooks == ("ridgeline_register_accelerators",)
    assert info.registered["accelerators"] == ("acme-t1",)
    with pytest.raises(UnknownNameError, match="did you mean 'acme-t1'"):
        c.accelerator("acme-t2")


def test_hook_ridgeline_register_models(catalog):
    def ridgeline_register_models(register):
        register(TOY_MODEL)
    c = catalog(toy_family(), plugin("models", ridgeline_register_models=ridgeline_register_models))
    assert c.model("toy-1") == TOY_MODEL
    assert c.provider("model", "toy-1") == "models"


def test_hook_ridgeline_register_models_needs_a_registered_family(catalog):
    def ridgeline_register_models(register):
        register(TOY_MODEL)
    with pytest.raises(RegistryError, match="family 'toy' is not registered"):
        catalog(plugin("models", ridgeline_register_models=ridgeline_register_models))


def test_hook_ridgeline_register_architectures(catalog):
    ssm = Architecture(family="ssm", doc="State-space layers.",
                       options=(OptionSpec("state_size", "int", required=True),))
    good = Model(id="ssm-1", family="ssm", vocab_size=1000, hidden_size=256, num_layers=2,
                 num_heads=4, intermediate_size=1024, options={"state_size": 16})
    bad = Model(id="ssm-2", family="ssm", vocab_size=1000, hidden_size=256, num_layers=2,
                num_heads=4, intermediate_size=1024, options={"state_sise": 16})
    family = plugin("ssm", ridgeline_register_architectures=lambda register: register(ssm))
    c = catalog(family, plugin("m", ridgeline_register_models=lambda register: register(good)))
    assert c.architectures["ssm"] is ssm
    with pytest.raises(RegistryError) as info:
        catalog(family, plugin("m", ridgeline_register_models=lambda register: register(bad)))
    assert "state_sise" in str(info.value) and "state_size" in str(info.value)


def test_hook_ridgeline_register_formulas(catalog):
    @formula(kind="gpu")
    def double_bandwidth_bytes_per_s(system):
        return 2 * system.accelerator.main_memory.bandwidth_bytes_per_s

    c = catalog(giving_formulas("fx", double_bandwidth_bytes_per_s))
    (f,) = c.formulas["double_bandwidth_bytes_per_s"]
    assert f.plugin == "fx" and f.unit == "B/s"
    scenario = ridgeline.Scenario(TOY_MODEL, System(accelerator("g1")))
    est = ridgeline.estimate(scenario, ["double_bandwidth_bytes_per_s"], catalog=c)
    assert est["double_bandwidth_bytes_per_s"] == 6e12


def test_hook_may_declare_only_the_arguments_it_uses(catalog):
    # pluggy's opt-in arguments: a hook that takes nothing is called with nothing
    calls = []
    c = catalog(plugin("quiet", ridgeline_register_formulas=lambda: calls.append(1)))
    assert calls == [1] and c.plugin("quiet").hooks == ("ridgeline_register_formulas",)


# --------------------------------------------------------------------------- conflicts


def test_same_accelerator_from_two_plugins_is_a_conflict_naming_both(catalog):
    a = giving_accelerators("vendor-a", accelerator("x1"))
    b = giving_accelerators("vendor-b", accelerator("x1"))
    with pytest.raises(ConflictError) as info:
        catalog(a, b)
    assert set(info.value.providers) == {"vendor-a", "vendor-b"}
    assert "vendor-a" in str(info.value) and "vendor-b" in str(info.value)
    assert "'x1'" in str(info.value)


@pytest.mark.parametrize("order", ["original-first", "replacement-first"])
def test_replaces_makes_a_redefinition_legal_in_any_order(catalog, order):
    original = giving_accelerators("vendor", accelerator("x1", notes="original"))
    fixed = giving_accelerators("user", accelerator("x1", notes="corrected", replaces="x1"))
    plugins = (original, fixed) if order == "original-first" else (fixed, original)
    c = catalog(*plugins)
    assert c.accelerators["x1"].notes == "corrected"
    assert c.provider("accelerator", "x1") == "user"


def test_replacing_under_a_new_id_removes_the_old_one(catalog):
    original = giving_accelerators("vendor", accelerator("x1", aliases=["ex-one"]))
    fixed = giving_accelerators("user", accelerator("x1-fixed", replaces="x1",
                                                    aliases=["ex-one"]))
    c = catalog(fixed, original)
    assert "x1" not in c.accelerators
    assert c.accelerator("ex-one").id == "x1-fixed"


def test_two_replacements_of_one_accelerator_conflict(catalog):
    original = giving_accelerators("vendor", accelerator("x1"))
    a = giving_accelerators("user-a", accelerator("x1", replaces="x1"))
    b = giving_accelerators("user-b", accelerator("x1", replaces="x1"))
    with pytest.raises(ConflictError) as info:
        catalog(original, a, b)
    assert "user-a" in str(info.value) and "user-b" in str(info.value)


def test_alias_used_by_two_accelerators_is_a_conflict_naming_both(catalog):
    a = giving_accelerators("vendor-a", accelerator("a1", aliases=["fast"]))
    b = giving_accelerators("vendor-b", accelerator("b1", aliases=["fast"]))
    with pytest.raises(ConflictError) as info:
        catalog(a, b)
    message = str(info.value)
    assert "'fast'" in message and "vendor-a" in message and "vendor-b" in message


def test_alias_equal_to_another_id_is_a_conflict(catalog):
    a = giving_accelerators("vendor-a", accelerator("a1"))
    b = giving_accelerators("vendor-b", accelerator("b1", aliases=["a1"]))
    with pytest.raises(ConflictError) as info:
        catalog(a, b)
    assert "vendor-a" in str(info.value) and "vendor-b" in str(info.value)


def test_same_model_from_two_plugins_is_a_conflict(catalog):
    a = plugin("models-a", ridgeline_register_models=lambda register: register(TOY_MODEL))
    b = plugin("models-b", ridgeline_register_models=lambda register: register(TOY_MODEL))
    with pytest.raises(ConflictError, match="models-a.*models-b|models-b.*models-a"):
        catalog(toy_family(), a, b)


def test_same_architecture_from_two_plugins_is_a_conflict(catalog):
    with pytest.raises(ConflictError, match="toy"):
        catalog(toy_family("family-a"), toy_family("family-b"))


def test_catalog_contents_do_not_depend_on_plugin_order(catalog):
    a = giving_accelerators("a", accelerator("zz"), accelerator("mm"))
    b = giving_accelerators("b", accelerator("aa"))
    c1, c2 = catalog(a, b), catalog(b, a)
    assert list(c1.accelerators) == list(c2.accelerators) == ["aa", "mm", "zz"]
    assert [p.name for p in c1.plugins] == [p.name for p in c2.plugins]


# --------------------------------------------------------------------------- formula conflicts


def _bandwidth_formula(factor, **applies):
    @formula("memory_bandwidth_bytes_per_s", **applies)
    def effective_bandwidth(system):
        return factor * system.accelerator.main_memory.bandwidth_bytes_per_s
    return effective_bandwidth


def test_identical_formula_conditions_conflict_at_registration(catalog):
    a = giving_formulas("fast-a", _bandwidth_formula(1.0, kind="gpu"))
    b = giving_formulas("fast-b", _bandwidth_formula(2.0, kind="gpu"))
    with pytest.raises(ConflictError) as info:
        catalog(a, b)
    message = str(info.value)
    assert "fast-a" in message and "fast-b" in message and "kind=gpu" in message


def test_equally_specific_formulas_that_both_apply_conflict_at_resolution(catalog):
    by_kind = giving_formulas("by-kind", _bandwidth_formula(1.0, kind="gpu"))
    by_family = giving_formulas("by-family", _bandwidth_formula(2.0, family="toy"))
    c = catalog(by_kind, by_family)                     # different conditions: registers
    on_gpu = ridgeline.Scenario(TOY_MODEL, System(accelerator("g1")))
    with pytest.raises(ConflictError) as info:          # both apply, equally specific
        ridgeline.estimate(on_gpu, ["memory_bandwidth_bytes_per_s"], catalog=c)
    assert "by-kind" in str(info.value) and "by-family" in str(info.value)
    # where only one applies, there is no conflict
    on_tpu = ridgeline.Scenario(TOY_MODEL, System(accelerator("t1", kind="tpu")))
    est = ridgeline.estimate(on_tpu, ["memory_bandwidth_bytes_per_s"], catalog=c)
    assert est.formula("memory_bandwidth_bytes_per_s").plugin == "by-family"


def test_formulas_for_one_quantity_must_agree_on_its_unit(catalog):
    @formula("speed", unit="B/s")
    def speed_a(system):
        return 1.0

    @formula("speed", unit="FLOP/s", kind="gpu")
    def speed_b(system):
        return 1.0

    with pytest.raises(ConflictError, match="unit"):
        catalog(giving_formulas("a", speed_a), giving_formulas("b", speed_b))


# --------------------------------------------------------------------------- failing plugins


def test_plugin_whose_hook_raises_gives_plugin_error_naming_plugin_and_hook(catalog):
    def ridgeline_register_accelerators(register):
        raise RuntimeError("datasheet not found")
    with pytest.raises(PluginError) as info:
        catalog(plugin("flaky", ridgeline_register_accelerators=ridgeline_register_accelerators))
    err = info.value
    assert err.plugin == "flaky" and err.hook == "ridgeline_register_accelerators"
    assert "flaky" in str(err) and "ridgeline_register_accelerators" in str(err)
    assert "datasheet not found" in str(err)
    assert isinstance(err.__cause__, RuntimeError)


def test_registering_the_wrong_type_is_a_plugin_error(catalog):
    with pytest.raises(PluginError, match="takes a Accelerator|Accelerator"):
        catalog(plugin("sloppy",
                       ridgeline_register_accelerators=lambda register: register({"id": "x"})))


def test_a_hook_that_returns_objects_instead_of_registering_them_fails_loudly(catalog):
    with pytest.raises(PluginError, match="register"):
        catalog(plugin("llm-style",
                       ridgeline_register_accelerators=lambda register: [accelerator("x")]))


def test_a_misspelt_marked_hook_fails_loudly(catalog):
    def ridgeline_register_formula(register):  # missing "s"
        pass
    with pytest.raises(PluginError) as info:
        catalog(plugin("typo", ridgeline_register_formula=ridgeline_register_formula))
    assert "ridgeline_register_formula" in str(info.value)
    assert "ridgeline_register_formulas" in str(info.value)    # the hint lists the real ones


def test_a_misspelt_unmarked_hook_fails_loudly(catalog):
    module = types.ModuleType("typo-unmarked")
    module.ridgeline_register_formula = lambda register: None
    with pytest.raises(PluginError, match="ridgeline_register_formula"):
        catalog(module)


def test_an_unmarked_hook_fails_loudly(catalog):
    module = types.ModuleType("forgot-hookimpl")
    module.ridgeline_register_formulas = lambda register: None
    with pytest.raises(PluginError, match="hookimpl"):
        catalog(module)


def test_a_hook_with_a_misspelt_argument_fails_loudly(catalog):
    def ridgeline_register_formulas(registr):
        pass
    with pytest.raises(PluginError, match="registr"):
        catalog(plugin("bad-arg", ridgeline_register_formulas=ridgeline_register_formulas))


def test_a_wrapper_registration_hook_fails_loudly(catalog):
    def ridgeline_register_formulas(register):
        yield
    module = types.ModuleType("wrapper")
    module.ridgeline_register_formulas = hookimpl(wrapper=True)(ridgeline_register_formulas)
    with pytest.raises(PluginError, match="wrapper"):
        catalog(module)


# --------------------------------------------------------------------------- entry points


class FakeEntryPoint:
    def __init__(self, name, value, dist_name="acme-broken", version="9.9.9", target=None,
                 error=None):
        self.name, self.value, self.group = name, value, "ridgeline"
        self.dist = types.SimpleNamespace(name=dist_name, version=version)
        self._target, self._error = target, error

    def load(self):
        if self._error is not None:
            raise self._error
        return self._target


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Replace the installed entry points with the ones a test sets in the returned list."""
    import importlib.metadata

    class Installed(list):
        calls: list

    installed = Installed()
    calls = installed.calls = []

    def entry_points(**selection):
        calls.append(selection)
        assert selection == {"group": "ridgeline"}
        return list(installed)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return installed


def _with_entry_points():
    return build_catalog(entry_points=True, builtins=False)


def test_plugins_are_loaded_from_entry_points(fake_entry_points, monkeypatch):
    for name in ("RIDGELINE_NO_PLUGINS", "RIDGELINE_DISABLE_PLUGINS", "RIDGELINE_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    fake_entry_points.append(FakeEntryPoint(
        "good", "good_plugin", dist_name="good-dist", version="1.2.3",
        target=giving_accelerators("good_plugin", accelerator("g9"))))
    c = _with_entry_points()
    assert "g9" in c.accelerators
    info = c.plugin("good")
    assert (info.distribution, info.version) == ("good-dist", "1.2.3")


def test_entry_point_that_fails_to_load_names_it_its_distribution_and_the_switch(
        fake_entry_points, monkeypatch):
    monkeypatch.delenv("RIDGELINE_NO_PLUGINS", raising=False)
    monkeypatch.delenv("RIDGELINE_DISABLE_PLUGINS", raising=False)
    fake_entry_points.append(FakeEntryPoint(
        "broken", "acme_broken:plugin", error=ImportError("No module named 'acme_broken'")))
    with pytest.raises(PluginError) as info:
        _with_entry_points()
    message = str(info.value)
    assert "'broken'" in message                       # the entry point
    assert "acme-broken" in message and "9.9.9" in message   # its distribution and version
    assert "RIDGELINE_DISABLE_PLUGINS=broken" in message      # how to switch it off
    assert "acme_broken" in message                     # the cause


def test_disable_plugins_skips_a_broken_entry_point(fake_entry_points, monkeypatch):
    monkeypatch.delenv("RIDGELINE_NO_PLUGINS", raising=False)
    fake_entry_points.append(FakeEntryPoint("broken", "x:y", error=ImportError("boom")))
    fake_entry_points.append(FakeEntryPoint(
        "fine", "fine", target=giving_accelerators("fine", accelerator("f1"))))
    monkeypatch.setenv("RIDGELINE_DISABLE_PLUGINS", "other, broken")
    c = _with_entry_points()
    assert "f1" in c.accelerators
    assert "broken" not in [p.name for p in c.plugins]


def test_disable_plugins_also_blocks_plugins_passed_directly(catalog, monkeypatch):
    monkeypatch.setenv("RIDGELINE_DISABLE_PLUGINS", "blocked")
    c = catalog(giving_accelerators("blocked", accelerator("b1")),
                giving_accelerators("kept", accelerator("k1")))
    assert list(c.accelerators) == ["k1"]


def test_no_plugins_skips_every_entry_point(fake_entry_points, monkeypatch):
    fake_entry_points.append(FakeEntryPoint("broken", "x:y", error=ImportError("boom")))
    monkeypatch.setenv("RIDGELINE_NO_PLUGINS", "1")
    c = _with_entry_points()
    assert c.plugins == () or all(p.name != "broken" for p in c.plugins)
    assert fake_entry_points.calls == []               # not even looked up


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_no_plugins_set_to_a_false_value_keeps_entry_points(fake_entry_points, monkeypatch,
                                                             value):
    monkeypatch.delenv("RIDGELINE_DISABLE_PLUGINS", raising=False)
    fake_entry_points.append(FakeEntryPoint(
        "fine", "fine", target=giving_accelerators("fine", accelerator("f1"))))
    monkeypatch.setenv("RIDGELINE_NO_PLUGINS", value)
    assert "f1" in _with_entry_points().accelerators


# --------------------------------------------------------------------------- registry folders


def _registry_with(tmp_path, *accs, models=()):
    (tmp_path / "accelerators").mkdir(exist_ok=True)
    (tmp_path / "models").mkdir(exist_ok=True)
    for a in accs:
        (tmp_path / "accelerators" / f"{a.id}.toml").write_text(to_toml(a), encoding="utf-8")
    for m in models:
        (tmp_path / "models" / f"{m.id}.toml").write_text(to_toml(m), encoding="utf-8")
    return tmp_path


def test_registry_folder_adds_accelerators_and_models(catalog, tmp_path):
    folder = _registry_with(tmp_path, accelerator("lab-x1"), models=[TOY_MODEL])
    c = catalog(toy_family(), registry=[folder])
    assert "lab-x1" in c.accelerators and "toy-1" in c.models
    assert c.provider("accelerator", "lab-x1") == f"registry:{folder}"


def test_registry_folder_from_the_environment(catalog, tmp_path, monkeypatch):
    folder = _registry_with(tmp_path, accelerator("env-x1"))
    monkeypatch.setenv("RIDGELINE_REGISTRY", str(folder))
    assert "env-x1" in catalog().accelerators


def test_missing_registry_folder_is_a_registry_error(catalog, tmp_path):
    with pytest.raises(RegistryError, match="does not exist"):
        catalog(registry=[tmp_path / "nowhere"])


def test_bad_file_in_a_registry_folder_names_the_file(catalog, tmp_path):
    folder = _registry_with(tmp_path)
    (folder / "accelerators" / "junk.toml").write_text("id = 'junk'\n")
    with pytest.raises((PluginError, RegistryError)) as info:
        catalog(registry=[folder])
    assert "junk.toml" in str(info.value)


def _builtin_data_plugins():
    """The built-in registry data and every plugin that registers a family or an attention
    variant its presets use (no formulas needed)."""
    import importlib
    from ridgeline.catalog import BUILTIN_PLUGINS
    from ridgeline.plugins import registry_data
    modules = [importlib.import_module(m) for m in BUILTIN_PLUGINS]
    return (registry_data, *[m for m in modules
                             if hasattr(m, "ridgeline_register_architectures")])


def test_user_file_redefining_a_builtin_id_is_a_conflict(catalog, tmp_path):
    h100 = load_accelerator(files("ridgeline.registry") / "accelerators" / "nvidia-h100-sxm.toml")
    folder = _registry_with(tmp_path, h100)
    with pytest.raises(ConflictError) as info:
        catalog(*_builtin_data_plugins(), registry=[folder])
    message = str(info.value)
    assert "nvidia-h100-sxm" in message
    assert "ridgeline.plugins.registry_data" in message and str(folder) in message


def test_user_file_that_says_replaces_overrides_a_builtin(catalog, tmp_path):
    import attrs
    h100 = load_accelerator(files("ridgeline.registry") / "accelerators" / "nvidia-h100-sxm.toml")
    mine = attrs.evolve(h100, replaces="nvidia-h100-sxm", price_usd_per_hour=1.99)
    folder = _registry_with(tmp_path, mine)
    c = catalog(*_builtin_data_plugins(), registry=[folder])
    assert c.accelerator("h100").price_usd_per_hour == 1.99      # aliases follow the winner
    assert c.provider("accelerator", "nvidia-h100-sxm") == f"registry:{folder}"


# --------------------------------------------------------------------------- the example plugin


@needs_acme
def test_example_plugin_is_discovered_through_its_entry_point(monkeypatch):
    for name in ("RIDGELINE_NO_PLUGINS", "RIDGELINE_DISABLE_PLUGINS", "RIDGELINE_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    c = build_catalog()
    assert "acme-x1" in c.accelerators
    assert c.accelerator("x1").kind == "acme-npu"
    info = c.plugin("acme")
    assert (info.distribution, info.version) == ("acme-ridgeline", "0.1.0")
    assert info.registered["accelerators"] == ("acme-x1",)
    assert info.registered["formulas"] == ("memory_bandwidth_bytes_per_s",)


@needs_acme
def test_example_plugin_can_be_disabled(monkeypatch):
    monkeypatch.delenv("RIDGELINE_NO_PLUGINS", raising=False)
    monkeypatch.setenv("RIDGELINE_DISABLE_PLUGINS", "acme")
    assert "acme-x1" not in build_catalog().accelerators


@needs_acme
@pytest.mark.skipif(importlib.util.find_spec("ridgeline.cli") is None,
                    reason="ridgeline.cli is not written yet")
def test_ridgeline_plugins_lists_the_example_plugin():
    script = Path(sys.executable).with_name("ridgeline")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "import sys; from ridgeline.cli import main; sys.exit(main())"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("RIDGELINE_NO_PLUGINS", "RIDGELINE_DISABLE_PLUGINS")}
    result = subprocess.run(command + ["plugins"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "acme" in result.stdout and "acme-ridgeline" in result.stdout


@needs_acme
def test_example_formula_overrides_the_builtin_for_its_kind_only(monkeypatch):
    for name in ("RIDGELINE_NO_PLUGINS", "RIDGELINE_DISABLE_PLUGINS", "RIDGELINE_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    catalog = build_catalog()
    model = Model(id="tiny", vocab_size=32000, hidden_size=1024, num_layers=4, num_heads=8,
                  intermediate_size=4096)
    x1 = ridgeline.Scenario(model, System(catalog.accelerator("acme-x1")))
    h100 = ridgeline.Scenario(model, System(catalog.accelerator("h100")))

    on_x1 = ridgeline.estimate(x1, ["memory_bandwidth_bytes_per_s"], catalog=catalog)
    f = on_x1.formula("memory_bandwidth_bytes_per_s")
    assert f.plugin == "acme" and f.applies.kind == {"acme-npu"}
    assert on_x1["memory_bandwidth_bytes_per_s"] == pytest.approx(2.4e12 * 0.8 * 1.3)
    explained = on_x1.explain("memory_bandwidth_bytes_per_s")
    assert "acme" in explained and "kind=acme-npu" in explained

    on_h100 = ridgeline.estimate(h100, ["memory_bandwidth_bytes_per_s"], catalog=catalog)
    assert on_h100.formula("memory_bandwidth_bytes_per_s").plugin == \
        "ridgeline.plugins.hardware.roofline"
    assert on_h100["memory_bandwidth_bytes_per_s"] == pytest.approx(
        3.35e12 * catalog.accelerator("h100").efficiency.memory)


@needs_acme
def test_example_formula_through_the_default_catalog(monkeypatch):
    # end to end, the llm-echo way: only ridgeline.estimate(), no catalog passed
    for name in ("RIDGELINE_NO_PLUGINS", "RIDGELINE_DISABLE_PLUGINS", "RIDGELINE_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    acc = ridgeline.default_catalog().accelerator("x1")
    model = Model(id="tiny", vocab_size=32000, hidden_size=1024, num_layers=4, num_heads=8,
                  intermediate_size=4096)
    est = ridgeline.estimate(ridgeline.Scenario(model, System(acc)),
                             ["memory_bandwidth_bytes_per_s"])
    assert est.to_dict()["provenance"]["memory_bandwidth_bytes_per_s"].startswith("acme:")


@needs_acme
def test_example_plugin_passes_the_conformance_checks():
    import acme_ridgeline
    from ridgeline.testing import check_plugin
    catalog = check_plugin(acme_ridgeline)
    assert "acme-x1" in catalog.accelerators
