"""``infer()`` and ``train()``: scenarios from names and numbers, in one call.

Keyword names match the command line's flags. Counts accept ``300B``, ``1.4T``, ``1e9``.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

import attrs

from ._arguments import expected, flag, shown
from .accelerator import Accelerator, Efficiency
from .catalog import Catalog, default_catalog
from .engine import Estimate, check_inputs, check_used, estimate
from .errors import ScenarioError, UnknownNameError
from .model import Model
from .precision import check as check_precision
from .precision import check_training as check_training_precision
from .scenario import (InferenceWorkload, Plan, Scenario, System, TrainingWorkload,
                       check_plan, pipeline_stage_layers, scenario_features)
from .units import parse, parse_count

ModelLike = Union[str, os.PathLike, Model]
AcceleratorLike = Union[str, Accelerator]


def resolve_model(model: ModelLike, catalog: Catalog, *, what: str = "model") -> Model:
    """A model from a preset name, a local ``config.json`` path, or a :class:`Model`.

    ``what`` names the argument in errors (``draft``, ``teacher``)."""
    if isinstance(model, Model):
        return model
    if not isinstance(catalog, Catalog):
        raise expected("catalog", "a Catalog (ridgeline.default_catalog())", catalog)
    if not isinstance(model, (str, os.PathLike)):
        raise expected(what, "a preset name, a path to a config.json, or a Model", model)
    text = os.fspath(model)
    if not isinstance(text, str):  # a PathLike that gives bytes
        raise expected(what, "a preset name, a path to a config.json, or a Model", model)
    looks_like_path = _looks_like_path(text)
    if not looks_like_path and isinstance(model, str):
        try:  # a preset name needs no file-system look-up (most calls, and sweeps of them)
            return catalog.model(text)
        except UnknownNameError:
            pass
    path = Path(text)
    if looks_like_path or path.is_dir() or path.is_file():
        from .hf_config import model_from_hf_config
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            raise ScenarioError(f"model {text!r}: no such file")
        return model_from_hf_config(path, catalog=catalog)
    return catalog.model(text)


def _looks_like_path(text: str) -> bool:
    """Whether a model argument names a file or folder rather than a preset."""
    return text.endswith(".json") or "/" in text or os.sep in text


def _catalog(catalog: Any) -> Catalog:
    """The catalog argument: ``None`` for the default one, else a :class:`Catalog`."""
    if catalog is None:
        return default_catalog()
    if isinstance(catalog, Catalog):
        return catalog
    raise expected("catalog", "a Catalog (from ridgeline.build_catalog()) or None", catalog)


def _accelerator(on: Any, catalog: Catalog, what: str = "on") -> Accelerator:
    """The accelerator argument: an id or alias, or an :class:`Accelerator`."""
    if isinstance(on, Accelerator):
        return on
    if type(on) is not str:
        raise expected(what, "an accelerator id or alias (a string such as 'h100') or an "
                             "Accelerator", on)
    return catalog.accelerator(on)


def _mapping(value: Any, what: str, example: str) -> None:
    """``None`` or a mapping, the type of ``inputs`` and ``efficiency``."""
    if value is not None and not isinstance(value, Mapping):
        raise expected(what, f"a mapping such as {example}, or None", value)


def _count(value: Any, what: str) -> int:
    if type(value) is int and 0 < value <= _EXACT_INT:
        return value  # what the general path returns for it, without the float round trip
    number = parse_count(value, what=what)
    if number != int(number) or number < 1:
        raise ScenarioError(f"{what} must be a whole number >= 1, got {shown(value)}")
    return int(number)


#: the largest int that survives a round trip through float unchanged (2^53).
_EXACT_INT = 2**53

_PLANS: dict = {}


def _plan(**fields) -> Plan:
    """``Plan(**fields)``, built and validated once per distinct plan: plans are immutable
    values and estimates use a few distinct ones. (``benchmarks/bench_core.py``: a train
    that asks for its headline quantities takes 1.1-1.7 µs, 7-11%, more without it; infer,
    whose plan comes with its kept setup, takes the same.)

    Keyed by the fields with their types (1 and 1.0, 0 and False stay distinct, as without
    the cache); a plan that fails validation is not kept.
    """
    key = tuple((k, type(v), v) for k, v in fields.items())
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= 256:
            _PLANS.clear()
        plan = _PLANS[key] = Plan(**fields)
    return plan

def _plain_system(accelerator: Accelerator, devices: int) -> System:
    """``System(accelerator, devices)`` without overrides. (Not kept between calls:
    ``benchmarks/bench_core.py`` times infer and train the same with and without keeping it,
    and a plan search makes one per accelerator.)"""
    return System(accelerator=accelerator, devices=devices)


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str):
            return _count(value, what)
        elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)  # numpy's integers, as a loop over an array gives them
        else:
            raise ScenarioError(f"{what} must be a whole number >= 1, got {shown(value)}")
    if value < 1:
        raise ScenarioError(f"{what} must be a whole number >= 1, got {shown(value)}")
    return value


def _precisions(model: Model, weights, kv, activations) -> Model:
    changes = {}
    if weights is not None:
        changes["weights_dtype"] = check_precision(weights, what="weights")
    if kv is not None:
        changes["kv_dtype"] = check_precision(kv, what="kv")
    if activations is not None:
        changes["activations_dtype"] = check_precision(activations, what="activations")
    return attrs.evolve(model, **changes) if changes else model


def _system(accelerator: Accelerator, devices: int, price, efficiency) -> System:
    price_value = None
    if price is not None:
        price_value = parse(price, "usd_per_hour", what="price")
        if price_value <= 0:
            raise ScenarioError(f"price must be > 0, got {price!r}")
    eff = None
    _mapping(efficiency, "efficiency", "{'compute': 0.6, 'memory': 0.8}")
    if efficiency:
        known = [a.name for a in attrs.fields(Efficiency)]
        unknown = [k for k in dict(efficiency) if k not in known]
        if unknown:
            raise ScenarioError(f"efficiency: unknown factor {shown(unknown[0])}; the factors "
                                f"are {', '.join(known)}")
        try:
            eff = attrs.evolve(accelerator.efficiency, **dict(efficiency))
        except TypeError as exc:
            raise ScenarioError(f"efficiency: {exc}") from None
        except ValueError as exc:
            raise ScenarioError(f"efficiency: {exc}") from None
    return System(accelerator=accelerator, devices=devices, price_usd_per_hour=price_value,
                  efficiency=eff)


def _given(inputs: Optional[Mapping[str, Any]], catalog: Catalog) -> dict:
    """Given quantities: known names, single numbers inside each quantity's domain (a typo
    must not be ignored silently, and a given count of 0.5 is as wrong as ``batch=0.5``)."""
    if inputs is None or (isinstance(inputs, Mapping) and not inputs):
        return {}
    return check_inputs(catalog, inputs, arrays=False)


def _check_given(e: Estimate, given: Mapping[str, float], every_quantity: bool) -> Estimate:
    """A given quantity must matter: one that no formula of a full estimate uses is most
    likely a typo or meant for another model, and one a formula rejects is an error, not a
    gap in the report."""
    if not given:
        return e
    if every_quantity:
        check_used(e, given)
    for quantity, reason in e.skipped.items():
        if any(name in reason for name in given):
            raise ScenarioError(f"{quantity}: {reason}")
    return e


def _check_divides(model: Model, plan: Plan) -> None:
    if model.num_heads % plan.tp:
        raise ScenarioError(f"tp={plan.tp} does not divide the {model.num_heads} attention "
                            f"heads of {model.id}")
    if model.intermediate_size % plan.tp:
        raise ScenarioError(f"tp={plan.tp} does not divide the MLP width "
                            f"{model.intermediate_size} of {model.id}")
    if plan.pp_layers is not None or model.num_layers % plan.pp:
        _check_stages(model, plan)
        return
    if plan.interleave > 1 and (model.num_layers // plan.pp) % plan.interleave:
        raise ScenarioError(f"interleave={plan.interleave} does not divide the "
                            f"{model.num_layers // plan.pp} layers per pipeline stage")


def _check_stages(model: Model, plan: Plan) -> None:
    """Uneven pipeline stages: the user's (``pp_layers``) must cover the layers, one stage
    each; the default split must leave every stage a layer."""
    if plan.pp_layers is not None:
        total = sum(plan.pp_layers)
        if total != model.num_layers:
            raise ScenarioError(f"pp_layers adds up to {total} layers but {model.id} has "
                                f"{model.num_layers}")
    else:
        try:
            pipeline_stage_layers(model.num_layers, plan.pp)
        except ValueError as e:
            raise ScenarioError(str(e)) from None
    stages = pipeline_stage_layers(model.num_layers, plan.pp, plan.pp_layers)
    if plan.interleave > 1 and len(set(stages)) > 1:
        raise ScenarioError(f"interleave={plan.interleave} needs pipeline stages of equal "
                            f"layers; these have {', '.join(map(str, stages))}")
    if plan.interleave > 1 and stages[0] % plan.interleave:
        raise ScenarioError(f"interleave={plan.interleave} does not divide the {stages[0]} "
                            f"layers per pipeline stage")


def _pp_layers(value: Any, pp: int) -> Optional[tuple]:
    """``pp_layers`` as a tuple of whole numbers >= 1, one per pipeline stage (a sequence of
    them, or a string ``"7,8,8,7"``), or ``None``."""
    if value is None:
        return None
    items = value.split(",") if type(value) is str else value
    try:
        stages = tuple(items)
    except TypeError:
        raise ScenarioError(f"pp_layers: expected layers per pipeline stage, such as "
                            f"'7,8,8,7' or [7, 8, 8, 7], got {shown(value)}") from None
    out = []
    for item in stages:
        if type(item) is str and item.strip().isdigit():
            item = int(item.strip())
        elif isinstance(item, numbers.Integral) and not isinstance(item, bool):
            item = int(item)  # numpy integers
        if type(item) is not int or item < 1:
            raise ScenarioError(f"pp_layers: every stage needs a whole number of layers >= 1, "
                                f"got {shown(value)}")
        out.append(item)
    if len(out) != pp:
        raise ScenarioError(f"pp_layers gives {len(out)} stages but pp is {pp}")
    return tuple(out)


def _check_expert_parallel(model: Model, plan: Plan) -> None:
    """Expert parallelism needs routed experts that ``ep`` divides, and an ``ep`` that fits
    the ``tp x dp`` devices of a pipeline stage (inside the tensor-parallel group, or spanning
    whole tensor-parallel groups)."""
    if plan.ep == 1:
        return
    experts = model.option("num_experts")
    if not isinstance(experts, int) or isinstance(experts, bool):
        raise ScenarioError(f"ep={plan.ep} needs a mixture-of-experts model; {model.id} "
                            f"(family {model.family!r}) has no routed experts")
    if experts % plan.ep:
        raise ScenarioError(f"ep={plan.ep} does not divide the {experts} routed experts of "
                            f"{model.id}")
    if plan.tp % plan.ep and plan.ep % plan.tp:
        raise ScenarioError(f"ep={plan.ep} and tp={plan.tp}: one must divide the other (the "
                            f"experts are split within each tensor-parallel group, or over "
                            f"whole tensor-parallel groups)")
    stage_devices = plan.tp * plan.dp
    if stage_devices % plan.ep:
        raise ScenarioError(f"ep={plan.ep} does not divide the tp x dp = {plan.tp} x {plan.dp} "
                            f"= {stage_devices} devices of a pipeline stage that hold the "
                            f"experts")
    expert_tp = plan.tp // plan.ep if plan.tp % plan.ep == 0 else 1
    width = model.option("moe_intermediate_size", model.intermediate_size)
    if isinstance(width, int) and width % expert_tp:
        raise ScenarioError(f"tp/ep = {expert_tp} does not divide the expert MLP width {width} "
                            f"of {model.id}")


def _check_context(model: Model, tokens: int, context_limit: Any, what: str,
                   role: str = "") -> None:
    """Tokens of context beyond the model's limit (or the one given instead) are an error:
    positions it was never trained on, whose estimate would be of no real deployment."""
    if context_limit is None:
        limit = model.max_seq_len
        if limit is not None and tokens > limit:
            raise ScenarioError(
                f"{what} = {_tokens(tokens)} tokens exceed the {limit:,}-token context of {role}"
                f"{model.id} (max_seq_len, from max_position_embeddings and any rope_scaling "
                f"factor); give context_limit (--context-limit N) to estimate it beyond that")
        return
    limit = _positive_int(context_limit, "context_limit")
    if tokens > limit:
        raise ScenarioError(f"{what} = {_tokens(tokens)} tokens exceed context_limit = "
                            f"{_tokens(limit)}")


def _tokens(count: int) -> str:
    """A token count for a message: digits grouped, or three figures when it is huge."""
    if count < 10**15:
        return f"{count:,}"
    return f"{float(count):.3g}" if count < 10**300 else shown(count)


def _accelerator_runs(model: Model, accelerator: Accelerator,
                      catalog: Optional[Catalog] = None) -> None:
    runs = accelerator.runs_families
    if runs is None:
        return
    # a family that extends one the device runs (distilled extends dense) is that architecture
    lineage = catalog.hardware_lineage(model.family) if catalog is not None else (model.family,)
    if not any(f in runs for f in lineage):
        raise ScenarioError(f"{accelerator.id} does not run the {model.family!r} architecture "
                            f"(it runs: {', '.join(runs)})")


def infer_scenario(model: ModelLike, *, on: AcceleratorLike, devices: Optional[int] = None,
                   tp: int = 1, pp: int = 1, batch: Union[int, str] = 1, prompt: Any = 512,
                   output: Any = 256, weights: Optional[str] = None, kv: Optional[str] = None,
                   activations: Optional[str] = None, price: Any = None,
                   efficiency: Optional[dict] = None, catalog: Optional[Catalog] = None,
                   inputs: Optional[Mapping[str, Any]] = None, ep: int = 1,
                   offload: str = "none", draft: Optional[ModelLike] = None,
                   gamma: Any = None, accept: Any = None,
                   context_limit: Any = None, pp_layers: Any = None) -> Scenario:
    """The scenario :func:`infer` estimates (``batch="max"`` is resolved there).

    On an accelerator kind whose formulas define ``devices_needed`` (SRAM-only chips, wafers:
    they spread one replica over the system's devices themselves), ``devices`` may be any count
    and defaults to ``devices_needed``, evaluated with ``inputs``.
    """
    _mapping(inputs, "inputs", "{'capacity_factor': 1.25}")
    _mapping(efficiency, "efficiency", "{'compute': 0.6, 'memory': 0.8}")
    return _infer_scenario(_catalog(catalog), model, on, devices, tp, pp, batch,
                           prompt, output, weights, kv, activations, price, efficiency, inputs,
                           ep, offload, draft, gamma, accept, context_limit, pp_layers)


def _infer_scenario(catalog, model, on, devices, tp, pp, batch, prompt, output, weights, kv,
                    activations, price, efficiency, inputs, ep, offload, draft, gamma,
                    accept, context_limit, pp_layers=None) -> Scenario:
    # positional: infer() calls it on every estimate, and twenty keywords cost more to match
    speculative = draft is not None or gamma is not None or accept is not None
    setup_args = (model, on, devices, tp, pp, weights, kv, activations, price, ep, offload)
    # kept only for plain arguments (see _kept_setup)
    plain = type(tp) is int and type(pp) is int and type(ep) is int and \
        (devices is None or type(devices) is int) and (weights is None or type(weights) is str) \
        and (kv is None or type(kv) is str) and (activations is None or type(activations) is str) \
        and (price is None or type(price) in _PRICE_TYPES) and type(offload) is str
    setup = _kept_setup(catalog, _INFERENCE_SETUPS, setup_args, _inference_setup) \
        if plain and not speculative and not efficiency and pp_layers is None else None
    if setup is None:
        setup = _inference_setup(catalog, *setup_args, efficiency=efficiency,
                                 pp_layers=pp_layers)
    m, plan, system, spreads, features = setup
    b = 1 if type(batch) is str and batch == "max" else _positive_int(batch, "batch")
    p, o = _count(prompt, "prompt"), _count(output, "output")
    limit = m.max_seq_len
    if context_limit is not None or limit is not None and p + o > limit:
        _check_context(m, p + o, context_limit, "prompt + output")
    if speculative:
        fields = _speculation(m, system.accelerator, draft, gamma, accept, catalog)
        if "draft" in fields:
            # the draft reads the same context as the target, and cannot propose more tokens
            # in one step than a context holds
            _check_context(fields["draft"], p + o, context_limit, "prompt + output",
                           role="draft ")
            _check_context(fields["draft"], fields.get("draft_tokens", 1), context_limit,
                           "gamma", role="draft ")
        workload = InferenceWorkload(b, p, o, **fields)
        scenario = Scenario(m, system, plan, workload)
        # the draft's features may change which formulas apply
        spreads = plan.tp * plan.pp == 1 and _defines_devices_needed(catalog,
                                                                     scenario.features())
    else:
        workload = InferenceWorkload(b, p, o)
        scenario = Scenario(m, system, plan, workload)._known_features(features)
    if system.devices != plan.tp * plan.pp and not spreads:
        raise ScenarioError(f"devices={system.devices} must equal tp x pp = "
                            f"{plan.tp * plan.pp} for inference of one model replica")
    if devices is None and spreads:
        needed = estimate(scenario, ["devices_needed"], catalog=catalog,
                          inputs=_given(inputs, catalog))["devices_needed"]
        scenario = attrs.evolve(scenario, system=attrs.evolve(system, devices=int(needed)))
        return scenario.check()
    return scenario.check() if speculative else scenario


def _inference_setup(catalog: Catalog, model, on, devices, tp, pp, weights, kv, activations,
                     price, ep, offload, efficiency=None, pp_layers=None) -> tuple:
    """The checked model, plan and system of an inference call, and whether the accelerator
    kind spreads one replica over the devices itself: everything but the workload."""
    m = _precisions(resolve_model(model, catalog), weights, kv, activations)
    acc = _accelerator(on, catalog)
    _accelerator_runs(m, acc, catalog)
    ep = _positive_int(ep, "ep")
    pp = _positive_int(pp, "pp")
    stages = {} if pp_layers is None else {"pp_layers": _pp_layers(pp_layers, pp)}
    plan = _plan(tp=_positive_int(tp, "tp"), pp=pp, ep=ep,
                 offload=_offload(offload, acc, ep), **stages)
    _check_divides(m, plan)
    _check_expert_parallel(m, plan)
    n = _positive_int(devices, "devices") if devices is not None else plan.tp * plan.pp
    system = _plain_system(acc, n) if price is None and not efficiency else \
        _system(acc, n, price, efficiency)
    # the features of every scenario of this setup without a draft model
    features = scenario_features(m, system, plan, _PLAIN_INFERENCE)
    spreads = plan.tp * plan.pp == 1 and _defines_devices_needed(catalog, features)
    if spreads or n == plan.tp * plan.pp:
        # a system that spreads is checked again once it is sized
        check_plan(plan, system)
    return m, plan, system, spreads, features


#: workloads without discrete features, for the features of scenarios built from a setup.
_PLAIN_INFERENCE = InferenceWorkload()
_PLAIN_TRAINING = TrainingWorkload()


#: prices are parsed to the same value from any of these (2, 2.0 and "2" alike).
_PRICE_TYPES = (str, int, float)

#: distinct argument sets whose checked setup (model, plan, system) one catalog keeps.
_SETUP_CACHE_SIZE = 256


#: keys, in a catalog's cache, of the setups it keeps for each kind of call.
_INFERENCE_SETUPS = ("setups", "inference")
_TRAINING_SETUPS = ("setups", "training")


def _kept_setup(catalog: Catalog, kind: tuple, args: tuple, build) -> Optional[tuple]:
    """``build(catalog, *args)``, computed once per distinct ``args`` and kept in the catalog
    (whose presets and plugins the result depends on), or ``None`` for a model it must not
    keep: one read from a file (the file may change).

    The model and the accelerator (``args[0]``, ``args[1]``) may be names or objects; objects
    are kept by identity, each entry holding them so that no identity is reused while it is
    kept. Every other argument must be a plain ``int``, ``str`` or ``None`` (the caller checks:
    ``tp=True`` or ``tp=1.0`` would find the entry of ``tp=1`` by equality, yet must be
    refused or converted as on the first call), or a price.

    It still pays: counted by ``benchmarks/instructions.py -n 30`` (valgrind), a ``train()``
    of the headline quantities takes 160k instructions with it and 212k without, an
    ``infer()`` 221k and 253k; a first (cold) call is the same either way.
    """
    model, on = args[0], args[1]
    if type(model) is str:
        if _looks_like_path(model):
            return None
        model_key = model
    elif isinstance(model, Model):
        model_key = id(model)
    else:
        return None
    key = (model_key, on if type(on) is str else id(on)) + args[2:]
    kept = catalog._cache.get(kind)
    if kept is None:
        kept = catalog._cache[kind] = {}
    entry = kept.get(key)
    if entry is not None and (type(model) is str or entry[0] is model) and \
            (type(on) is str or entry[1] is on):
        return entry[2]
    if type(model) is str and not _is_preset(catalog, model):
        return None  # a folder or file without the ".json" ending: read each time
    setup = build(catalog, *args)
    if len(kept) >= _SETUP_CACHE_SIZE:
        kept.clear()
    kept[key] = (model, on, setup)
    return setup


def _is_preset(catalog: Catalog, name: str) -> bool:
    try:
        catalog.model(name)
    except UnknownNameError:
        return False
    return True


def _defines_devices_needed(catalog: Catalog, features: tuple) -> bool:
    """Whether a formula for ``devices_needed`` applies to scenarios with ``features``: the
    accelerator's kind then places one replica over the system's devices itself."""
    key = ("defines devices_needed", features)
    known = catalog._cache.get(key)
    if known is None:
        scenario_features = (catalog.lineage(features[0]),) + features[1:]
        known = catalog._cache[key] = any(f.applies.holds(scenario_features)
                                          for f in catalog.formulas.get("devices_needed", ()))
    return known


def infer(model: ModelLike, *, on: AcceleratorLike, devices: Optional[int] = None, tp: int = 1,
          pp: int = 1, batch: Union[int, str] = 1, prompt: Any = 512, output: Any = 256,
          weights: Optional[str] = None, kv: Optional[str] = None,
          activations: Optional[str] = None, price: Any = None,
          efficiency: Optional[dict] = None, quantities: Optional[Iterable[str]] = None,
          inputs: Optional[Mapping[str, Any]] = None, catalog: Optional[Catalog] = None,
          ep: int = 1, offload: str = "none", draft: Optional[ModelLike] = None,
          gamma: Any = None, accept: Any = None, context_limit: Any = None,
          pp_layers: Any = None) -> Estimate:
    """Estimate serving a static batch of requests.

    Args:
        model: preset name (``llama-3-70b``), path to a local ``config.json``, or a Model.
        on: accelerator id or alias (``h100``).
        devices: defaults to tp x pp, or to ``devices_needed`` on a kind that spreads the
            model over its devices itself (``lpu``, ``wafer-scale``).
        tp, pp: tensor- and pipeline-parallel degrees.
        ep: expert-parallel degree (mixture-of-experts models): the routed experts are split
            over ``ep`` devices of each tensor-parallel group, so ``ep`` divides ``tp``.
        batch: sequences served together, or ``"max"`` for the largest batch that fits.
        prompt, output: tokens per sequence.
        weights, kv, activations: precisions (``bf16``, ``fp8``, ``int4``, ...).
        price: USD per device-hour, overriding the registry's.
        efficiency: overrides of the accelerator's efficiency factors
            (``{"compute": 0.6, "memory": 0.8}``).
        quantities: names to compute; default every one that applies.
        inputs: quantities given instead of computed (``{"capacity_factor": 1.25}``).
        offload: ``none``, ``host`` or ``nvme``: keep the weights there and stream the layers
            that do not fit to the device on every pass.
        draft: a draft model for speculative decoding (preset, config path or Model; same
            vocabulary as the target); gamma: tokens drafted per target step (default 4);
            accept: probability that the target accepts a drafted token (default 0.7).
        context_limit: tokens of context the model is run with, instead of its own limit
            (``max_seq_len``: the config's ``max_position_embeddings``, times the
            ``rope_scaling`` factor where it has one). Prompt plus output beyond the limit in
            force is an error.
        pp_layers: layers of each pipeline stage, first to last (``[7, 8, 8, 7]`` or
            ``"7,8,8,7"``; ``pp`` of them, adding up to the model's layers). Default: even
            stages, or when ``pp`` does not divide the layers Megatron-LM's split with the
            embedding and the loss counted as a layer each (see ``pipeline_stage_layers``).
            The fullest stage holds the most memory and sets the pace.
    """
    catalog = default_catalog() if catalog is None else _catalog(catalog)
    if inputs is not None:
        _mapping(inputs, "inputs", "{'capacity_factor': 1.25}")
    if efficiency is not None:
        _mapping(efficiency, "efficiency", "{'compute': 0.6, 'memory': 0.8}")
    given = _given(inputs, catalog)
    if given:
        _check_given_rates(given)
    scenario = _infer_scenario(catalog, model, on, devices, tp, pp, batch, prompt, output,
                               weights, kv, activations, price, efficiency, given, ep, offload,
                               draft, gamma, accept, context_limit, pp_layers)
    if type(batch) is str and batch == "max":
        fit = estimate(scenario, ["max_batch"], catalog=catalog, inputs=given)
        largest = int(fit["max_batch"])
        scenario = attrs.evolve(scenario, workload=attrs.evolve(
            scenario.workload, batch=max(largest, 1)))
    # the scenario was checked when it was built
    return _check_given(estimate(scenario, quantities, catalog=catalog, inputs=given,
                                 check=False), given,
                        every_quantity=quantities is None)


def train_scenario(model: ModelLike, *, on: AcceleratorLike, devices: Optional[int] = None,
                   tp: int = 1, pp: int = 1, dp: Optional[int] = None, micro_batch: int = 1,
                   global_batch: Any = 512, seq: Any = 2048, tokens: Any = "1B",
                   precision: Optional[str] = None, sp: bool = False, interleave: int = 1,
                   zero: int = 0, recompute: str = "none", attention: str = "flash",
                   price: Any = None, efficiency: Optional[dict] = None,
                   catalog: Optional[Catalog] = None, ep: int = 1,
                   offload: str = "none", forward_only: bool = False,
                   context_limit: Any = None, pp_layers: Any = None) -> Scenario:
    """The scenario :func:`train` estimates."""
    _mapping(efficiency, "efficiency", "{'compute': 0.6, 'memory': 0.8}")
    return _train_scenario(_catalog(catalog), model, on, devices, tp, pp, dp,
                           micro_batch, global_batch, seq, tokens, precision, sp, interleave,
                           zero, recompute, attention, price, efficiency, ep, offload,
                           forward_only, context_limit, pp_layers)


def _train_scenario(catalog, model, on, devices, tp, pp, dp, micro_batch, global_batch, seq,
                    tokens, precision, sp, interleave, zero, recompute, attention, price,
                    efficiency, ep, offload, forward_only, context_limit,
                    pp_layers=None) -> Scenario:
    # positional, as _infer_scenario
    setup_args = (model, on, devices, tp, pp, dp, micro_batch, precision, sp, interleave, zero,
                  recompute, attention, price, ep, offload)
    # kept only for plain arguments (see _kept_setup)
    plain = type(tp) is int and type(pp) is int and (dp is None or type(dp) is int) and \
        type(micro_batch) is int and type(interleave) is int and type(zero) is int and \
        type(ep) is int and type(sp) is bool and (devices is None or type(devices) is int) \
        and (precision is None or type(precision) is str) and type(recompute) is str and \
        type(attention) is str and (price is None or type(price) in _PRICE_TYPES) and \
        type(offload) is str
    setup = _kept_setup(catalog, _TRAINING_SETUPS, setup_args, _training_setup) \
        if plain and not efficiency and pp_layers is None else None
    if setup is None:
        setup = _training_setup(catalog, *setup_args, efficiency=efficiency,
                                pp_layers=pp_layers)
    m, plan, system, features = setup
    g = _count(global_batch, "global batch")
    if g % (plan.dp * plan.micro_batch):
        raise ScenarioError(f"global batch {g} is not a multiple of dp x micro-batch = "
                            f"{plan.dp} x {plan.micro_batch}")
    s = _count(seq, "seq")
    limit = m.max_seq_len
    if context_limit is not None or limit is not None and s > limit:
        _check_context(m, s, context_limit, "seq")
    workload = TrainingWorkload(g, s, float(_count(tokens, "tokens")),
                                flag(forward_only, "forward_only"))
    # the plan was checked against the system with the setup
    scenario = Scenario(m, system, plan, workload)
    return scenario if forward_only else scenario._known_features(features)


def _training_setup(catalog: Catalog, model, on, devices, tp, pp, dp, micro_batch, precision,
                    sp, interleave, zero, recompute, attention, price, ep, offload,
                    efficiency=None, pp_layers=None) -> tuple:
    """The checked model, plan and system of a training call: everything but the workload."""
    m = resolve_model(model, catalog)
    if precision is not None:
        check_training_precision(precision, what="precision")
        m = _precisions(m, precision, precision, precision)
    else:  # the model's own precisions (a quantised checkpoint cannot be trained as it is)
        for what, dtype in (("weights", m.weights_dtype), ("activations", m.activations_dtype)):
            check_training_precision(dtype, what=f"model {m.id!r} {what} (give precision=)")
    acc = _accelerator(on, catalog)
    _accelerator_runs(m, acc, catalog)
    tp, pp = _positive_int(tp, "tp"), _positive_int(pp, "pp")
    interleave = _positive_int(interleave, "interleave")
    micro_batch = _positive_int(micro_batch, "micro-batch")
    ep = _positive_int(ep, "ep")
    sp = flag(sp, "sp")
    if dp is None:
        if devices is None:
            dp = 1
        else:
            n = _positive_int(devices, "devices")
            if n % (tp * pp):
                raise ScenarioError(f"devices={n} is not a multiple of tp x pp = {tp * pp}")
            dp = n // (tp * pp)
    dp = _positive_int(dp, "dp")
    if type(zero) is not int or zero not in (0, 1, 2, 3):
        raise ScenarioError(f"zero must be 0, 1, 2 or 3, got {shown(zero)}")
    if type(recompute) is not str or recompute not in ("none", "selective", "full"):
        raise ScenarioError(f"recompute must be none, selective or full, got "
                            f"{shown(recompute)}")
    if type(attention) is not str or attention not in ("flash", "unfused"):
        raise ScenarioError(f"attention must be flash or unfused, got {shown(attention)}")
    if sp and tp == 1:
        raise ScenarioError("sequence parallelism (--sp) needs tensor parallelism (tp > 1)")
    if interleave > 1 and pp == 1:
        raise ScenarioError("interleaving (--interleave) needs pipeline parallelism (pp > 1)")
    stages = {} if pp_layers is None else {"pp_layers": _pp_layers(pp_layers, pp)}
    plan = _plan(tp=tp, pp=pp, dp=dp, sp=sp, micro_batch=micro_batch, interleave=interleave,
                 zero=zero, recompute=recompute, attention=attention, ep=ep,
                 offload=_offload(offload, acc, ep), **stages)
    _check_divides(m, plan)
    _check_expert_parallel(m, plan)
    n = _positive_int(devices, "devices") if devices is not None else plan.devices
    if n != plan.devices:
        raise ScenarioError(f"devices={n} must equal tp x pp x dp = {plan.tp} x {plan.pp} x "
                            f"{plan.dp} = {plan.devices}")
    system = _plain_system(acc, n) if price is None and not efficiency else \
        _system(acc, n, price, efficiency)
    check_plan(plan, system)
    return m, plan, system, scenario_features(m, system, plan, _PLAIN_TRAINING)


def train(model: ModelLike, *, on: AcceleratorLike, devices: Optional[int] = None, tp: int = 1,
          pp: int = 1, dp: Optional[int] = None, micro_batch: int = 1, global_batch: Any = 512,
          seq: Any = 2048, tokens: Any = "1B", precision: Optional[str] = None,
          sp: bool = False, interleave: int = 1, zero: int = 0, recompute: str = "none",
          attention: str = "flash", price: Any = None, efficiency: Optional[dict] = None,
          quantities: Optional[Iterable[str]] = None, inputs: Optional[Mapping[str, Any]] = None,
          catalog: Optional[Catalog] = None, ep: int = 1, offload: str = "none",
          forward_only: bool = False, context_limit: Any = None,
          pp_layers: Any = None) -> Estimate:
    """Estimate a training run.

    Args:
        model, on, price, efficiency, quantities: as for :func:`infer`.
        devices: defaults to tp x pp x dp; when given without dp, dp = devices / (tp x pp).
        tp, pp, dp: parallel degrees; micro_batch: sequences per micro-batch.
        ep: expert-parallel degree (mixture-of-experts models): the routed experts are split
            over ``ep`` of a stage's ``tp x dp`` devices (``ep`` divides ``tp``, or ``tp``
            divides ``ep``).
        global_batch: sequences per step; seq: sequence length; tokens: tokens to train on.
        precision: of weights, activations and arithmetic (default: the model's).
        sp: sequence parallelism; interleave: model chunks per pipeline stage.
        zero: ZeRO stage 0-3; recompute: ``none``, ``selective`` or ``full``.
        attention: ``flash`` (default) or ``unfused`` kernels (Megatron-LM before 2022).
        inputs: quantities given instead of computed, as for :func:`infer`.
        offload: ``none``, ``host`` or ``nvme``: optimizer state and gradients (and with
            ZeRO-3 the weights) live there, ZeRO-Infinity style; the Adam step runs on the host.
        forward_only: also price one forward-only pass over the tokens (``forward_only_*``
            quantities: a teacher producing distillation targets, see :func:`distill`).
        context_limit: as for :func:`infer`; a ``seq`` beyond the limit in force is an error.
        pp_layers: as for :func:`infer`.
    """
    catalog = default_catalog() if catalog is None else _catalog(catalog)
    if inputs is not None:
        _mapping(inputs, "inputs", "{'capacity_factor': 1.25}")
    if efficiency is not None:
        _mapping(efficiency, "efficiency", "{'compute': 0.6, 'memory': 0.8}")
    given = _given(inputs, catalog)
    scenario = _train_scenario(catalog, model, on, devices, tp, pp, dp, micro_batch,
                               global_batch, seq, tokens, precision, sp, interleave, zero,
                               recompute, attention, price, efficiency, ep, offload,
                               forward_only, context_limit, pp_layers)
    # the scenario was checked when it was built
    return _check_given(estimate(scenario, quantities, catalog=catalog, inputs=given,
                                 check=False), given,
                        every_quantity=quantities is None)


def scenario(kind: str, model: ModelLike, **kwargs) -> Scenario:
    """A scenario for ``kind`` ``"infer"`` or ``"train"`` from the same arguments."""
    if type(kind) is not str:
        raise ScenarioError(f"kind must be 'infer' or 'train', got {shown(kind)}")
    if kind == "infer":
        builder = infer_scenario
    elif kind == "train":
        builder = train_scenario
    else:
        raise ScenarioError(f"kind must be 'infer' or 'train', got {shown(kind)}")
    # the keywords are passed on: a typo or a missing one is the caller's error, not a
    # TypeError from a function the caller never named
    known = _KEYWORDS.get(kind)
    if known is None:
        known = _KEYWORDS[kind] = tuple(inspect.signature(builder).parameters)[1:]
    for key in kwargs:
        if key not in known:
            raise UnknownNameError(f"argument of scenario({kind!r})", key, known)
    if "on" not in kwargs:
        raise ScenarioError(f"on: scenario({kind!r}) needs the accelerator (on='h100')")
    return builder(model, **kwargs)


#: keyword arguments of the scenario builders, by kind (read from their signatures).
_KEYWORDS: dict = {}


# ---------------------------------------------------------------- offload, speculative decoding


def _offload(value: Any, accelerator: Accelerator, ep: int = 1) -> str:
    """The offload tier (``none``, ``host``, ``nvme``), checked against the device's links."""
    tier = "none" if value is None else value
    if type(tier) is not str or tier not in ("none", "host", "nvme"):
        raise ScenarioError(f"offload must be none, host or nvme, got {shown(value)}")
    if tier != "none" and ep > 1:
        # the streamed layer is a 1/tp slice of every layer; expert parallelism places the
        # experts differently, and its own memory formulas would not see the offload
        raise ScenarioError(f"offload={tier} with expert parallelism (ep={ep}) is not modelled; "
                            f"use ep=1 (every device then streams its 1/tp slice of each layer)")
    if tier != "none" and accelerator.links.host is None:
        raise ScenarioError(f"offload={tier}: {accelerator.id} has no host link in its registry "
                            f"file ([links.host]), so nothing can be streamed to it")
    return tier


def _acceptance(value: Any, what: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ScenarioError(f"{what} must be a number from 0 to 1, got {shown(value)}") \
                from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not 0.0 <= value <= 1.0:
        raise ScenarioError(f"{what} must be a number from 0 to 1 (the probability that the "
                            f"target accepts a drafted token), got {shown(value)}")
    return float(value)


def _speculation(target: Model, accelerator: Accelerator, draft: Optional[ModelLike], gamma: Any,
                 accept: Any, catalog: Catalog) -> dict:
    """The workload's speculative-decoding fields, or none without a draft."""
    if draft is None:
        if gamma is not None or accept is not None:
            raise ScenarioError("gamma and accept describe speculative decoding: they need a "
                                "draft model (--draft MODEL)")
        return {}
    d = resolve_model(draft, catalog, what="draft")
    # the target scores the draft's token ids: the two must share one tokenizer, and a
    # different vocabulary size is the one sign of a different tokenizer a config shows
    if d.vocab_size != target.vocab_size:
        raise ScenarioError(f"draft {d.id} has a vocabulary of {d.vocab_size} tokens but the "
                            f"target {target.id} has {target.vocab_size}: the target verifies "
                            f"the draft's tokens, so both must use the same tokenizer")
    _accelerator_runs(d, accelerator, catalog)
    # drafting pays only when a draft pass costs a fraction of a target pass; a draft as
    # large as its target makes every step slower than decoding without one
    target_params, draft_params = (_params(m, accelerator, catalog) for m in (target, d))
    if draft_params >= target_params:
        raise ScenarioError(f"draft {d.id} has {draft_params / 1e9:.3g}B parameters, not fewer "
                            f"than the target {target.id} ({target_params / 1e9:.3g}B): the "
                            f"draft must be smaller than the target")
    fields: dict = {"draft": d}
    if gamma is not None:
        fields["draft_tokens"] = _positive_int(gamma, "gamma")
    if accept is not None:
        fields["acceptance_rate"] = _acceptance(accept, "accept")
    return fields


def _params(model: Model, accelerator: Accelerator, catalog: Catalog) -> float:
    """The model's parameter count, as the catalog's formulas give it (kept per model)."""
    key = ("params of", id(model))
    kept = catalog._cache.get(key)
    if kept is not None and kept[0] is model:
        return kept[1]
    one = Scenario(model, _plain_system(accelerator, 1), _plan(), _PLAIN_INFERENCE)
    params = float(estimate(one, ["params"], catalog=catalog, check=False)["params"])
    catalog._cache[key] = (model, params)
    return params


def _check_given_rates(given: Mapping[str, float]) -> None:
    if "acceptance_rate" in given:
        _acceptance(given["acceptance_rate"], "given acceptance_rate")
