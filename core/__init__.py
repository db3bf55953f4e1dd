"""ridgeline: what it costs to train or serve a language model, and why.

The public API is small; names load on first use so that ``import ridgeline`` (and the
command line's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "estimate": "engine", "sweep": "engine", "Estimate": "engine",
    "infer": "api", "train": "api", "scenario": "api",
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
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .accelerator import Accelerator
    from .api import infer, scenario, train
    from .catalog import Catalog, build_catalog, default_catalog
    from .distillation import Distillation, distill
    from .engine import Estimate, estimate, sweep
    from .errors import (ConflictError, CycleError, FormulaError, PluginError, RegistryError,
                         RidgelineError, ScenarioError, UnknownNameError)
    from .hookspecs import hookimpl
    from .model import Model
    from .scenario import InferenceWorkload, Plan, Scenario, System, TrainingWorkload


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ridgeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
