"""What a mixture-of-experts MLP does per phase: router, routed experts, shared experts.

The MoE family replaces only the MLP's table of each phase (``prefill_mlp_operations``,
``decode_mlp_operations``, ``first_decode_mlp_operations``, ``training_forward_mlp_operations``)
and the MLP's share of activation memory; attention and the rest are the dense family's.

Per MoE layer, on one device, for ``T`` tokens of the phase:

- ``router``: ``T x hidden x num_experts`` multiply-adds; it reads the (small) router weights;
- ``experts``: each token runs ``k`` routed experts. A device computes its share of the
  ``T·k`` token-expert assignments (``T·k / tp`` expert-widths of work whatever the expert
  parallelism, see :mod:`ridgeline.plugins.parallel.expert_parallel`), times
  ``expert_compute_factor`` (capacity padding, or the busiest device's excess load). It reads
  the weights of every local expert that at least one token is routed to: with uniform
  routing, each token picks ``k`` of ``E`` experts, an expert escapes one token with
  probability ``1 - k/E``, so ``T`` tokens touch ``E·(1 - (1 - k/E)^T)`` distinct experts on
  average: ``k`` for one token, all ``E`` for a long prompt. This is why decode at batch 1
  reads ``k`` experts but at batch 64 nearly all of Mixtral's 8. Under expert parallelism
  the step waits for the device that reads the most of its local experts
  (:func:`experts_read_busiest`);
- ``shared_experts``: a dense MLP every token runs;
- the leading ``dense_layers`` layers run the dense family's ``mlp`` instead.

Prefill and training FLOPs therefore count the experts a token runs (active parameters), and
memory holds all of them (``weight_bytes`` from total parameters).
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ridgeline.plugin import (Operation, ScenarioError, bytes_per_element, formula, hookimpl,
                             maximum, minimum)
from ridgeline.plugins.architectures import dense_operations
from ridgeline.plugins.architectures.moe_params import moe_shape
from ridgeline.plugins.parallel.expert_parallel import expert_tensor_parallel


def experts_touched(experts, top_k, tokens, share_factor=1.0):
    """Expected distinct experts, of ``experts``, that ``tokens`` tokens route to.

    Each token picks ``top_k`` distinct experts, uniformly (the balance routers are trained
    toward); ``share_factor`` scales each expert's chance to be picked (the experts of the
    busiest expert-parallel device are picked ``expert_load_imbalance`` times more often).
    Exact for independent uniform routing: ``E·(1 - (1 - p)^T)`` with ``p = k/E``.
    """
    pick = minimum(share_factor * top_k / experts, 1.0)
    return experts * (1.0 - (1.0 - pick) ** tokens)


def _plain(x):
    """Whether ``x`` is a plain number (every single estimate) rather than an array (sweeps)."""
    return isinstance(x, (int, float)) and not isinstance(x, np.ndarray)


def _expected_max_binomial(n: int, q, draws: int):
    """``E[max of draws independent Binomial(n, q)]`` = ``sum_{j<n} 1 - P(X <= j)^draws``."""
    if _plain(q):
        if q >= 1.0:
            return float(n)
        total, cdf, pmf = 0.0, 0.0, (1.0 - q) ** n
        for j in range(n):
            cdf = min(cdf + pmf, 1.0)
            total += 1.0 - cdf ** draws
            pmf = pmf * (n - j) / (j + 1) * q / (1.0 - q)
        return total
    q = np.asarray(q, dtype=float)
    total, cdf = np.zeros_like(q), np.zeros_like(q)
    for j in range(n):
        pmf = math.comb(n, j) * q ** j * (1.0 - q) ** (n - j)
        cdf = np.minimum(cdf + pmf, 1.0)
        total = total + 1.0 - cdf ** draws
    return total


def experts_read_busiest(experts, top_k, tokens, ep, share_factor=1.0):
    """Expected routed experts the busiest of ``ep`` devices (each holding ``E/ep`` of them)
    reads for ``tokens`` tokens: the step waits for it.

    With balanced routing a device's local experts are each touched with probability
    ``q = 1 - (1 - k/E)^T``; treating them as touched independently (exact marginals), the
    busiest device reads the expected maximum of ``ep`` Binomial(``E/ep``, ``q``) counts: at
    batch 1 with Mixtral's 8 experts on 8 devices, 1 expert, not the mean 0.25. A systematic
    skew (``share_factor``, the busiest device's experts picked that many times more often)
    raises it further. Without expert parallelism it is the expected distinct experts.
    """
    if isinstance(ep, np.ndarray):  # a PlanArray's degrees: few distinct ones, each exact
        out = np.empty(ep.shape)
        tokens = np.broadcast_to(tokens, ep.shape)
        share_factor = np.broadcast_to(share_factor, ep.shape)
        for degree in np.unique(ep):
            at = ep == degree
            out[at] = experts_read_busiest(experts, top_k, tokens[at], int(degree),
                                           share_factor[at])
        return out
    if ep == 1:
        return experts_touched(experts, top_k, tokens)
    local = experts // ep
    if local * ep != experts:
        raise ScenarioError(f"ep={ep} does not divide the {experts} routed experts")
    balanced = _expected_max_binomial(local, 1.0 - (1.0 - top_k / experts) ** tokens, ep)
    # one token alone puts its k experts on at least ceil(k/ep) of some device's experts,
    # which the independent approximation misses when devices hold few experts
    balanced = maximum(balanced, float(-(-top_k // ep)))
    skewed = experts_touched(experts, top_k, tokens, share_factor) / ep
    return maximum(balanced, skewed)


def moe_mlp_operations(model, plan, tokens, compute_factor, imbalance, stages=1,
                       experts_read_per_device=None):
    """The MLP of every layer this device runs, for a MoE model, in one phase.

    Args:
        model, plan: the scenario's.
        tokens: tokens each device processes in the phase (as the dense tables count them:
            the micro-batch or batch, replicated across tensor parallelism).
        compute_factor: ``expert_compute_factor`` (capacity padding or the busiest device's
            load, relative to an even share).
        imbalance: ``expert_load_imbalance`` (1 without expert parallelism).
        stages: pipeline stages the layers are split over (``pp`` in training; 1 in
            inference, where one decode step runs every stage's layers in turn).
        experts_read_per_device: routed experts whose weights each MoE layer reads on this
            device; by default the expected number for ``tokens`` tokens.
    """
    s = moe_shape(model)
    h, tp, ep = model.hidden_size, plan.tp, plan.ep
    etp = expert_tensor_parallel(plan)
    w = bytes_per_element(model.weights_dtype)
    a = bytes_per_element(model.activations_dtype)
    mats = 3 if model.mlp == "gated" else 2
    moe_layers = s.moe_layers / stages
    # tokens whose experts live in this device's expert-parallel group (see expert_parallel)
    group_tokens = tokens * ep * etp / tp
    if experts_read_per_device is None:
        experts_read_per_device = experts_read_busiest(s.experts, s.top_k, group_tokens, ep,
                                                       imbalance)
    width = s.expert_width / etp  # one expert's MLP width on this device
    assignments = tokens * s.top_k * compute_factor * etp / tp  # token-expert pairs here
    scored = s.experts + (1 if s.shared_gate else 0)  # router outputs (and the shared gate)
    ops = [
        Operation("router", flops=2.0 * tokens * h * scored,
                  weight_bytes=(h * scored + (s.experts if s.router_bias else 0)) * w,
                  activation_bytes=tokens * (h + scored) * a, count=moe_layers),
        Operation("experts", flops=2.0 * mats * assignments * h * width,
                  weight_bytes=experts_read_per_device * mats * h * width * w,
                  activation_bytes=assignments * (2 * h + mats * width) * a, count=moe_layers),
    ]
    if s.shared_width:
        shared = s.shared_width / tp
        ops.append(Operation("shared_experts", flops=2.0 * mats * tokens * h * shared,
                             weight_bytes=mats * h * shared * w,
                             activation_bytes=tokens * (2 * h + mats * shared) * a,
                             count=moe_layers))
    dense = dense_operations.mlp_table(dense_operations.DenseShard.of(model, tp),
                                       s.dense_layers / stages, tokens) \
        if s.dense_layers else ()
    return tuple(dense) + tuple(ops)


# ---- tunable inputs


@formula(family="moe", unit="", domain="nonnegative")
def capacity_factor():
    """Expert capacity / each expert's even share of the token-expert assignments.

    1.0 by default: dropless routing (MegaBlocks, Megatron-Core's default, vLLM, SGLang, the
    Transformers modules) computes exactly the tokens routed. Token-dropping routers pad every
    expert's buffer to a capacity (GShard and Switch Transformer: 1.25 in training, 2.0 in
    evaluation, Fedus et al. 2021) and compute the padding: give it with
    ``--set capacity_factor=1.25``."""
    return 1.0


@formula(family="moe", unit="", domain="nonnegative")
def expert_load_imbalance():
    """Tokens routed to the busiest expert-parallel device / the mean over devices.

    1.0 by default: the even load that auxiliary balance losses (Switch Transformer) and
    DeepSeek-V3's bias-based balancing train toward. Measured loads are workload-dependent and
    higher; give yours with ``--set expert_load_imbalance=1.3``. Without expert parallelism
    every device holds a slice of every expert, so it has no effect."""
    return 1.0


@formula(family="moe", unit="", domain="nonnegative")
def expert_compute_factor(plan, capacity_factor, expert_load_imbalance):
    """Expert work on the busiest device relative to an even share: the capacity padding
    (``capacity_factor``), or the busiest device's load when it is larger (dropless routing
    under expert parallelism; a token-dropping router would drop the excess instead: keep
    ``expert_load_imbalance`` <= ``capacity_factor`` to model that)."""
    if np.any(np.asarray(capacity_factor) < 1.0):
        raise ScenarioError(f"capacity_factor must be >= 1 (padding is computed, tokens past "
                            f"capacity are not), got {capacity_factor!r}")
    imbalance = _checked_imbalance(plan, expert_load_imbalance)
    return maximum(capacity_factor, imbalance)


def _checked_imbalance(plan, expert_load_imbalance):
    """The busiest device's load factor in force: 1 without expert parallelism."""
    values = np.asarray(expert_load_imbalance)
    if np.any(values < 1.0):
        raise ScenarioError(f"expert_load_imbalance is the busiest device's load over the mean, "
                            f"so it is >= 1; got {expert_load_imbalance!r}")
    if "ep" not in plan.features():  # ep = 1 (a feature: one value for a PlanArray's plans)
        return 1.0
    if np.any(values > plan.ep):
        raise ScenarioError(f"expert_load_imbalance {expert_load_imbalance!r} exceeds ep="
                            f"{plan.ep}: the busiest of {plan.ep} devices gets at most every "
                            f"token")
    return expert_load_imbalance


# ---- per phase


@formula(family="moe", workload="inference", unit="table")
def prefill_mlp_operations(model, plan, batch, prompt_tokens, expert_compute_factor,
                           expert_load_imbalance):
    """Router, routed and shared experts over every prompt token of the batch."""
    return moe_mlp_operations(model, plan, batch * prompt_tokens, expert_compute_factor,
                              _checked_imbalance(plan, expert_load_imbalance))


@formula(family="moe", workload="inference", unit="", domain="nonnegative")
def decode_experts_touched(model, batch, decode_new_tokens):
    """Distinct routed experts a decode step reads per MoE layer, all devices together:
    ``E·(1 - (1 - k/E)^T)`` for the ``T = batch x new tokens`` tokens (uniform routing)."""
    s = moe_shape(model)
    return experts_touched(s.experts, s.top_k, batch * decode_new_tokens)


@formula(family="moe", workload="inference", unit="", domain="nonnegative")
def decode_experts_read_per_device(model, plan, batch, decode_new_tokens,
                                   expert_load_imbalance):
    """Routed experts whose weights the busiest device reads per MoE layer in a decode step
    (of its ``E/ep`` local experts); the step waits for it."""
    s = moe_shape(model)
    etp = expert_tensor_parallel(plan)
    group_tokens = batch * decode_new_tokens * plan.ep * etp / plan.tp
    return experts_read_busiest(s.experts, s.top_k, group_tokens, plan.ep,
                                _checked_imbalance(plan, expert_load_imbalance))


@formula(family="moe", workload="inference", unit="table")
def decode_mlp_operations(model, plan, batch, decode_new_tokens, expert_compute_factor,
                          expert_load_imbalance, decode_experts_read_per_device):
    """The MoE MLP in one decode step: only the experts some token is routed to are read."""
    return moe_mlp_operations(model, plan, batch * decode_new_tokens, expert_compute_factor,
                              _checked_imbalance(plan, expert_load_imbalance),
                              experts_read_per_device=decode_experts_read_per_device)


@formula(family="moe", workload="inference", unit="table")
def first_decode_mlp_operations(model, plan, batch, expert_compute_factor,
                                expert_load_imbalance):
    """The MoE MLP in the first decode step (one token per sequence)."""
    return moe_mlp_operations(model, plan, batch, expert_compute_factor,
                              _checked_imbalance(plan, expert_load_imbalance))


@formula(family="moe", workload="training", unit="table")
def training_forward_mlp_operations(model, plan, micro_batch_size, seq_len,
                                    expert_compute_factor, expert_load_imbalance, pp_shards):
    """The MoE MLP in the forward pass of one micro-batch through one pipeline stage."""
    return moe_mlp_operations(model, plan, micro_batch_size * seq_len, expert_compute_factor,
                              _checked_imbalance(plan, expert_load_imbalance),
                              stages=pp_shards)


@formula(family="moe", workload="training", unit="")
def mlp_matmul_params_per_token(model):
    """Weights of the MLP matrices one token multiplies by, over every layer: in each MoE
    layer the router (and shared-expert gate), its ``k`` routed experts and the shared ones;
    the dense MLP in the leading dense layers. Capacity padding and load imbalance are work
    the hardware does, not the model's."""
    s = moe_shape(model)
    h = model.hidden_size
    mats = 3.0 if model.mlp == "gated" else 2.0
    scored = s.experts + (1 if s.shared_gate else 0)
    per_moe_layer = h * scored + mats * h * (s.top_k * s.expert_width + s.shared_width)
    return s.moe_layers * per_moe_layer + \
        s.dense_layers * mats * h * float(model.intermediate_size)


# ---- activation memory: the dense formulas with the width of what a token's MLP holds


def _with_mlp_width(model, width: int):
    """``model`` as a dense model whose MLP is ``width`` wide, for the dense memory formulas."""
    if width == model.intermediate_size:
        return model
    return attrs.evolve(model, intermediate_size=width)


def _moe_token_width(model) -> int:
    """MLP width one token holds in a MoE layer: its ``k`` experts and the shared experts."""
    s = moe_shape(model)
    return s.top_k * s.expert_width + s.shared_width


@formula(family="moe", workload="inference")
def prefill_activation_bytes_per_token(model, plan):
    """Each prompt token's share of the prefill's peak activation working set on one device:
    the dense formula with the widest MLP a layer holds per token (``k`` experts plus shared
    ones, or the dense layers' MLP). The ``k`` copies of each token's hidden state that
    dispatch makes are not counted separately."""
    s = moe_shape(model)
    width = _moe_token_width(model)
    if s.dense_layers:
        width = max(width, model.intermediate_size)
    return dense_operations.prefill_activation_bytes_per_token.function(
        _with_mlp_width(model, width), plan)


@formula(family="moe", workload="training")
def training_activation_bytes_per_layer(model, plan, micro_batch_size, seq_len):
    """Activations one layer stores for the backward pass (Korthikanti et al. 2022, as for
    the dense family), with each MoE layer's MLP share taken at the width a token runs
    (``k`` experts plus shared ones): the mean over dense and MoE layers."""
    s = moe_shape(model)
    per_layer = dense_operations.training_activation_bytes_per_layer.function
    moe = per_layer(_with_mlp_width(model, _moe_token_width(model)), plan, micro_batch_size,
                    seq_len)
    if not s.dense_layers:
        return moe
    dense = per_layer(model, plan, micro_batch_size, seq_len)
    return (s.dense_layers * dense + s.moe_layers * moe) / model.num_layers


FORMULAS = (capacity_factor, expert_load_imbalance, expert_compute_factor,
            prefill_mlp_operations, decode_experts_touched, decode_experts_read_per_device,
            decode_mlp_operations, first_decode_mlp_operations, training_forward_mlp_operations,
            mlp_matmul_params_per_token,
            prefill_activation_bytes_per_token, training_activation_bytes_per_layer)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
