"""Every public name of ``ridgeline`` is the object it exports, whatever was imported before."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import ridgeline


def _submodules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(ridgeline.__path__, prefix="ridgeline."):
        if info.name.startswith("ridgeline.testing.hypothesis_hook"):
            continue  # an entry point of Hypothesis, imported by it
        names.append(info.name)
    return names


def test_no_export_is_shadowed_by_a_submodule():
    modules = _submodules()
    assert "ridgeline.scenario" in modules and "ridgeline.api" in modules
    for name in modules:
        importlib.import_module(name)
    for name, module in ridgeline._EXPORTS.items():
        value = getattr(ridgeline, name)
        assert not isinstance(value, types.ModuleType), name
        assert value is getattr(importlib.import_module(f"ridgeline.{module}"), name), name


def test_scenario_after_an_estimate():
    # the README's snippet: an estimate imports ridgeline.scenario, which used to replace the
    # function ridgeline.scenario with the module
    ridgeline.infer("llama-3-8b", on="h100")
    s = ridgeline.scenario("infer", "llama-3-70b", on="h100", tp=8, batch=1)
    assert s.plan.tp == 8 and s.model.id == "llama-3-70b"
    e = ridgeline.estimate(s, ["tpot_s"])
    assert e["tpot_s"] > 0


def test_submodule_still_importable_by_full_name():
    from ridgeline.scenario import Scenario
    assert ridgeline.Scenario is Scenario
    assert callable(ridgeline.scenario) and not isinstance(ridgeline.scenario, type)


def test_import_stays_lazy():
    # `import ridgeline` loads no submodule: the command line's --help starts fast
    code = ("import sys, ridgeline; "
            "print(sorted(m for m in sys.modules if m.startswith('ridgeline.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
