"""Everything a plugin author constructs: the public plugin API.

Built-in plugins import only from here (and :mod:`ridgeline.hookspecs`), so anything they can
do, a third-party plugin can do too.
"""

from .accelerator import Accelerator, Efficiency, Link, Links, MemoryTier
from .formula import Applies, Formula, formula
from .hookspecs import hookimpl
from .loader import load_accelerator, load_model, read_toml, structure
from .model import Architecture, AttentionVariant, Model, OptionSpec
from .precision import arithmetic_precision, bytes_per_element, compute_precision
from .scenario import (InferenceWorkload, Plan, System, TrainingWorkload,
                       pipeline_stage_layers)
from .scenario import PlanArray, per_plan
from .errors import ScenarioError
from .operations import (Operation, Table, ceil, concat, floor, maximum, minimum,
                         operations_time_s, plain, roofline_s, rows, table, total, where)
# a formula may estimate a second scenario (the draft model of speculative decoding on the
# same devices): the engine's own entry point, so a plugin needs no private access
from .scenario import Scenario
from .serving import ServingWorkload
from .engine import estimate
from .window import attended_sum, held_positions, mean_attended
# reading a Hugging Face config.json: the config view a reader gets and the reader itself
from .hf_config import ConfigReader, HFConfig

__all__ = [
    "Accelerator", "MemoryTier", "Link", "Links", "Efficiency",
    "Model", "Architecture", "AttentionVariant", "OptionSpec",
    "Formula", "Applies", "formula",
    "System", "Plan", "InferenceWorkload", "TrainingWorkload",
    "hookimpl", "load_accelerator", "load_model", "read_toml", "structure",
    "bytes_per_element", "compute_precision", "arithmetic_precision", "ScenarioError",
    "Operation", "Table", "table", "concat", "rows", "roofline_s", "operations_time_s", "total",
    "plain", "where",
    "maximum", "minimum", "floor", "ceil",
    "Scenario", "ServingWorkload", "estimate",
    "attended_sum", "mean_attended", "held_positions", "pipeline_stage_layers",
    "ConfigReader", "HFConfig",
    "PlanArray", "per_plan",
]
