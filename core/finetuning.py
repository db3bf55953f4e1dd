"""Fine-tuning a model: full, LoRA or QLoRA, over given tokens or epochs of a data set.

The physics is training's (see :func:`ridgeline.api.train`); the workload's fine-tuning
features select the formulas of the ``finetune`` plugin for frozen weights, adapters and NF4
base weights. See docs/adaptation.md.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import attrs

from ._arguments import expected, shown
from .api import (AcceleratorLike, ModelLike, _catalog, _check_given, _given, _mapping,
                  _positive_int, train_scenario)
from .catalog import Catalog
from .engine import Estimate, estimate
from .errors import ScenarioError, UnknownNameError
from .scenario import Scenario
from .units import parse_count

__all__ = ["finetune", "finetune_scenario", "finetune_report", "METHODS", "TARGET_GROUPS"]

METHODS = ("full", "lora", "qlora")

#: names a target list may use: groups, and single matrices of a layer.
TARGET_GROUPS = {"attention": ("q", "k", "v", "o"), "mlp": ("gate", "up", "down"),
                 "all": ("q", "k", "v", "o", "gate", "up", "down")}
MATRICES = ("q", "k", "v", "o", "gate", "up", "down")
_ATTENTION = frozenset(TARGET_GROUPS["attention"])
_MLP = frozenset(TARGET_GROUPS["mlp"])

#: sequences per optimizer step unless given: fine-tuning recipes use tens of sequences per
#: step (the QLoRA paper's 16-64, Alpaca's 128), not pre-training's hundreds.
DEFAULT_GLOBAL_BATCH = 64


def _tokens(tokens: Any, epochs: Any, dataset_tokens: Any) -> float:
    """Tokens processed in all: ``tokens``, or ``epochs x dataset_tokens``."""
    if tokens is not None:
        if epochs is not None or dataset_tokens is not None:
            raise ScenarioError("tokens: give either tokens, or epochs and dataset_tokens, "
                                "not both")
        return _count(tokens, "tokens")
    if epochs is None and dataset_tokens is None:
        raise ScenarioError("tokens: give the tokens to process (tokens='50M'), or epochs and "
                            "dataset_tokens (epochs=3, dataset_tokens='20M')")
    if epochs is None:
        raise ScenarioError("epochs: dataset_tokens is given but not how many epochs to run "
                            "over it (epochs=3)")
    if dataset_tokens is None:
        raise ScenarioError("dataset_tokens: epochs needs the data set's size in tokens "
                            "(dataset_tokens='20M')")
    n = _epochs(epochs)
    return n * _count(dataset_tokens, "dataset_tokens")


def _count(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise expected(what, "a positive number of tokens such as 50M or 5e7", value)
    try:
        n = float(parse_count(value)) if isinstance(value, str) else value
    except Exception:  # noqa: BLE001 - the unit parser's own error names no argument
        raise expected(what, "a positive number of tokens such as 50M or 5e7", value) from None
    if not isinstance(n, (int, float)) or not n > 0 or n == float("inf"):
        raise expected(what, "a positive number of tokens such as 50M or 5e7", value)
    return float(n)


def _epochs(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise expected("epochs", "a positive number (3, or 0.5 for half the data set)",
                           value) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or \
            value == float("inf"):
        raise expected("epochs", "a positive number (3, or 0.5 for half the data set)", value)
    return float(value)


def _method(value: Any) -> str:
    if type(value) is not str or value not in METHODS:
        raise ScenarioError(f"method must be full, lora or qlora, got {shown(value)}")
    return value


def _targets(value: Any, model) -> tuple:
    """The adapted matrices of each layer, in a fixed order, checked against the model."""
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",") if n.strip()]
    elif isinstance(value, (list, tuple)) and all(isinstance(n, str) for n in value):
        names = [n.strip() for n in value]
    else:
        raise expected("targets", "matrix names such as ('attention', 'mlp') or 'q,v'", value)
    if not names:
        raise ScenarioError("targets: no matrices named; expected attention, mlp, all, or "
                            f"matrices of a layer ({', '.join(MATRICES)})")
    chosen: set = set()
    for name in names:
        if name in TARGET_GROUPS:
            chosen.update(TARGET_GROUPS[name])
        elif name in MATRICES:
            chosen.add(name)
        else:
            raise UnknownNameError("LoRA target (expected attention, mlp, all, or one of "
                                   f"{', '.join(MATRICES)})", name,
                                   (*TARGET_GROUPS, *MATRICES))
    if chosen & _ATTENTION and model.attention != "standard":
        instead = "its MLP is mixture-of-experts too, so no target is modelled for it" \
            if model.family == "moe" else "target the MLP: targets='mlp'"
        raise ScenarioError(f"targets: model {model.id} uses {model.attention} attention, whose "
                            f"projections are not q, k, v, o; adapters on them are not modelled "
                            f"({instead})")
    if chosen & _MLP and model.family == "moe":
        raise ScenarioError(f"targets: the MLP of {model.id} is mixture-of-experts (routed "
                            f"experts); adapters on experts are not modelled (target the "
                            f"attention projections: targets='attention')")
    if model.mlp != "gated":
        missing = sorted(chosen & {"gate"})
        if missing and "gate" in names:
            raise ScenarioError(f"targets: model {model.id} has a plain MLP (up and down "
                                f"projections), no gate projection")
        chosen.discard("gate")
    if not chosen:
        raise ScenarioError(f"targets: {', '.join(names)} match no weight matrix of "
                            f"{model.id}")
    return tuple(n for n in MATRICES if n in chosen)


def _rank(value: Any, targets: tuple, model) -> int:
    rank = _positive_int(value, "rank")
    shapes = model.matrix_shapes()
    smallest = min(min(shapes[n]) for n in targets)
    if rank > smallest:
        which = [n for n in targets if min(shapes[n]) == smallest]
        raise ScenarioError(f"rank {rank} is larger than the smallest dimension of an adapted "
                            f"matrix ({which[0]}: {smallest}); expected 1 to {smallest}")
    return rank


def finetune_scenario(model: ModelLike, *, on: AcceleratorLike, devices: Optional[int] = None,
                      tp: int = 1, pp: int = 1, dp: Optional[int] = None, micro_batch: int = 1,
                      global_batch: Any = DEFAULT_GLOBAL_BATCH, seq: Any = 2048,
                      tokens: Any = None, epochs: Any = None, dataset_tokens: Any = None,
                      method: str = "lora", rank: Any = 16,
                      targets: Any = ("attention", "mlp"), precision: Optional[str] = None,
                      zero: int = 0, recompute: str = "none", offload: str = "none",
                      price: Any = None, efficiency: Optional[dict] = None,
                      catalog: Optional[Catalog] = None,
                      context_limit: Any = None) -> Scenario:
    """The scenario :func:`finetune` estimates."""
    method = _method(method)
    total = _tokens(tokens, epochs, dataset_tokens)
    _positive_int(rank, "rank")  # a bad rank is wrong whatever the method
    if method != "full":
        if offload != "none":
            raise ScenarioError(f"offload={shown(offload)} with method={method} is not "
                                f"modelled: the adapters' optimizer state is small (QLoRA's "
                                f"paged optimizer moves it to host memory when needed)")
    base = train_scenario(model, on=on, devices=devices, tp=tp, pp=pp, dp=dp,
                          micro_batch=micro_batch, global_batch=global_batch, seq=seq,
                          tokens=total, precision=precision, zero=zero, recompute=recompute,
                          price=price, efficiency=efficiency, catalog=catalog,
                          offload=offload, context_limit=context_limit)
    m = base.model
    fields: dict = {"finetune": method}
    if method != "full":
        if base.plan.ep > 1:  # pragma: no cover - finetune() takes no ep
            raise ScenarioError("expert parallelism with adapters is not modelled")
        chosen = _targets(targets, m)
        fields.update(lora_rank=_rank(rank, chosen, m), lora_targets=chosen)
    workload = attrs.evolve(base.workload, **fields)
    return Scenario(m, base.system, base.plan, workload)


def finetune(model: ModelLike, *, on: AcceleratorLike, devices: Optional[int] = None,
             tp: int = 1, pp: int = 1, dp: Optional[int] = None, micro_batch: int = 1,
             global_batch: Any = DEFAULT_GLOBAL_BATCH, seq: Any = 2048, tokens: Any = None,
             epochs: Any = None, dataset_tokens: Any = None, method: str = "lora",
             rank: Any = 16, targets: Any = ("attention", "mlp"),
             precision: Optional[str] = None, zero: int = 0, recompute: str = "none",
             offload: str = "none", price: Any = None, efficiency: Optional[dict] = None,
             quantities: Optional[Iterable[str]] = None,
             inputs: Optional[Mapping[str, Any]] = None, catalog: Optional[Catalog] = None,
             context_limit: Any = None) -> Estimate:
    """Estimate fine-tuning ``model``: full, LoRA or QLoRA.

    Args:
        model, on, devices, tp, pp, dp, micro_batch, global_batch, seq, precision, zero,
            recompute, offload, price, efficiency, quantities, inputs, context_limit: as for
            :func:`ridgeline.train` (``global_batch`` defaults to 64 sequences).
        tokens: tokens processed in all; or ``epochs`` x ``dataset_tokens``.
        method: ``full`` (every weight trained), ``lora`` (16-bit frozen base, adapters) or
            ``qlora`` (NF4 frozen base, adapters, paged optimizer).
        rank: adapter rank r (``lora``, ``qlora``).
        targets: matrices of each layer that carry adapters: ``attention`` (q, k, v, o),
            ``mlp`` (gate, up, down), ``all``, or single matrices; a list or a comma list.

    Returns the training quantities (``step_s``, ``wall_clock_s``, ``cost_usd``,
    ``energy_j``, ``memory_per_device_bytes``, ``fits``, ``mfu``, ...) and fine-tuning's own
    (``trainable_params``, ``adapter_params``, ``frozen_weight_bytes``, ...).
    """
    catalog = _catalog(catalog)
    if inputs is not None:
        _mapping(inputs, "inputs", "{'compute_efficiency': 0.5}")
    given = _given(inputs, catalog)
    s = finetune_scenario(model, on=on, devices=devices, tp=tp, pp=pp, dp=dp,
                          micro_batch=micro_batch, global_batch=global_batch, seq=seq,
                          tokens=tokens, epochs=epochs, dataset_tokens=dataset_tokens,
                          method=method, rank=rank, targets=targets, precision=precision,
                          zero=zero, recompute=recompute, offload=offload, price=price,
                          efficiency=efficiency, catalog=catalog, context_limit=context_limit)
    return _check_given(estimate(s, quantities, catalog=catalog, inputs=given, check=False),
                        given, every_quantity=quantities is None)


def finetune_report(e: Estimate) -> str:
    """The training report of a fine-tuning estimate, with what the method trains and
    freezes."""
    from .report import _lines, hypothetical, train_report
    w = e.scenario.workload
    hyp = frozenset(hypothetical(e))
    text = train_report(e).replace("ridgeline explain train ...",
                                   "ridgeline explain finetune ...")
    if w.finetune == "full":
        head = ["", "fine-tuning: full (every weight trained)"]
        head += _lines(e, [("trainable weights", "trainable_params")], hyp)
    else:
        base = "NF4 (4.127 bits/weight)" if w.finetune == "qlora" else "16-bit"
        head = ["", f"fine-tuning: {w.finetune}, rank {w.lora_rank} on "
                    f"{', '.join(w.lora_targets)} of every layer; frozen {base} base"]
        pairs = [("trainable (adapter) weights", "trainable_params"),
                 ("trainable fraction", "trainable_fraction"),
                 ("frozen base weights", "frozen_weight_bytes"),
                 ("adapter activations", "adapter_activation_bytes")]
        if w.finetune == "qlora":
            pairs.append(("NF4 dequant per micro-batch", "qlora_dequant_s"))
        head += _lines(e, pairs, hyp)
        if w.finetune == "qlora":
            if e.get("optimizer_paged"):
                head.append("the paged optimizer keeps its state in host memory (it does not "
                            "fit beside the rest)")
    lines = text.split("\n")
    at = lines.index("memory per device:") - 1
    return "\n".join(lines[:at] + head + lines[at:])
