"""ridgeline: what it costs to train or serve a language model, and why.

The public API is small; names load on first use so that ``import ridgeline`` (and the
command line's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "estimate": "engine", "sweep": "engine", "Estimate": "engine",
    "infer": "api", "train": "api", "scenario": "api",
    "serve": "serving", "ServingWorkload": "serving",
    "distill": "distillation", "Distillation": "distillation",
    "Scenario": "scenario", "System": "scenario", "Plan": "scenario",
    "InferenceWorkload": "scenario", "TrainingWorkload": "scenario",
    "Model": "model", "Accelerator": "accelerator",
    "Catalog": "catalog", "build_catalog": "catalog", "default_catalog": "catalog",
    "hookimpl": "hookspecs",
    "RidgelineError": "errors", "PluginError": "errors", "RegistryError": "errors",
    "ScenarioError": "errors", "UnknownNameError": "errors", "ConflictError": "errors",
    "FormulaError": "errors", "CycleError": "errors",
    "simulate": "simulate",
    "plan_serve": "planning.serve",
    "finetune": "finetuning",
    "rl": "adaptation.rl", "RLRun": "adaptation.rl",
    "prompt_cost": "adaptation.prompt_cost", "PromptCost": "adaptation.prompt_cost",
    "plan_train": "planning", "PlanArray": "scenario",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .accelerator import Accelerator
    from .api import infer, scenario, train
    from .catalog import Catalog, build_catalog, default_catalog
    from .distillation import Distillation, distill
    from .engine import Estimate, estimate, sweep
    from .finetuning import finetune
    from .errors import (ConflictError, CycleError, FormulaError, PluginError, RegistryError,
                         RidgelineError, ScenarioError, UnknownNameError)
    from .hookspecs import hookimpl
    from .model import Model
    from .scenario import InferenceWorkload, Plan, Scenario, System, TrainingWorkload
    from .planning import plan_train
    from .scenario import PlanArray


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ridgeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package's module type: a submodule never takes the place of a public name.

    Importing a submodule binds it as an attribute of its package, so the first estimate
    (which imports ``ridgeline.scenario``) would replace the function ``ridgeline.scenario``
    with the module. Such a binding is skipped here: the public name keeps its object (loaded
    on first use as before), and the submodule stays importable by its full name
    (``from ridgeline.scenario import Scenario``), which goes through ``sys.modules``.
    """

    def __setattr__(self, name: str, value) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType) and \
                value.__name__ == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
