"""Communication: collectives priced by group size and by the link the group crosses.

The alpha-beta model (Thakur, Rabenseifner & Gropp 2005; formulas.md section 5.1), with
``S`` the bytes each rank holds and ``n`` ranks:

- all-reduce: ``2·(n-1)/n · S / BW`` plus the latency of the faster of ring
  (``2·(n-1)·alpha``) and tree (``2·log2(n)·alpha``) algorithms
- all-gather, reduce-scatter, all-to-all: ``(n-1)/n · S / BW + (n-1)·alpha``
- point-to-point: ``S / BW + alpha``

``BW`` is the per-device, per-direction bandwidth of the bottleneck link times the
accelerator's network efficiency: the scale-up link when the whole group fits in one
scale-up domain, the scale-out network otherwise.

Tensor parallelism (Megatron, Shoeybi et al. 2019): two all-reduces of the activations per
layer in the forward pass and two in the backward; sequence parallelism replaces each with a
reduce-scatter + all-gather pair of the same volume.

What a kind of hardware prices differently is a quantity of its own, so that a plugin
overrides only that: the bandwidth and the latency of one tensor-parallel all-reduce
(``tp_all_reduce_bandwidth_bytes_per_s``, ``tp_all_reduce_latency_s``), the bandwidth and
latency of a pipeline point-to-point send (``pp_point_to_point_*``), and, whole, the
data-parallel ``gradient_sync_s``. The TPU plugin (``ridgeline.plugins.hardware.tpu``)
prices the tensor-parallel ones and the point-to-point bandwidth on the ICI torus, and the
gradient synchronisation hierarchically (ICI within a slice, the DCN across slices). How many
all-reduces a layer needs is ``tp_all_reduces_per_layer``, a property of the block's layout.
"""

from __future__ import annotations

import math

import numpy as np

from ridgeline.plugin import ScenarioError, bytes_per_element, formula, hookimpl


def group_link(system, group_devices, stride=1):
    """``(bandwidth_bytes_per_s, latency_s)`` of the slowest link a group of devices crosses.

    Args:
        group_devices: devices in the group.
        stride: distance between consecutive members (data-parallel groups are strided by
            tp x pp), which decides whether the group spans scale-up domains.
    """
    links = system.accelerator.links
    eff = system.eff.network
    span = group_devices * stride
    if isinstance(span, np.ndarray):  # many plans at once (a PlanArray)
        return _group_links(system, group_devices, span, links, eff)
    if links.scale_up is not None and span <= system.scale_up_devices:
        return links.scale_up.bandwidth_bytes_per_s * eff, links.scale_up.latency_s
    if links.scale_out is not None:
        return links.scale_out.bandwidth_bytes_per_s * eff, links.scale_out.latency_s
    if links.scale_up is not None and system.devices <= system.scale_up_devices:
        return links.scale_up.bandwidth_bytes_per_s * eff, links.scale_up.latency_s
    raise _spans_domains(system, group_devices)


def _spans_domains(system, group_devices):
    return ScenarioError(
        f"a group of {group_devices} devices spans more than one scale-up domain of "
        f"{system.accelerator.id} ({system.scale_up_devices} devices), and its registry file "
        f"gives no scale-out link bandwidth; add [links.scale_out] to it (a user registry "
        f"file with replaces = \"{system.accelerator.id}\") or keep the group inside the domain")


def _group_links(system, group_devices, span, links, eff):
    """:func:`group_link` for an array of spans: the same choice, entry by entry."""
    up = links.scale_up
    inside = span <= system.scale_up_devices if up is not None else np.zeros(span.shape, bool)
    if links.scale_out is not None:
        outside = links.scale_out
    elif up is not None and system.devices <= system.scale_up_devices:
        outside = up
    elif not inside.any():
        raise _spans_domains(system, int(np.max(group_devices)))
    else:
        # some plans' groups stay inside a domain: the others have no link, NaN, which a
        # search masks as a plan that cannot run
        return (np.where(inside, up.bandwidth_bytes_per_s * eff, np.nan),
                np.where(inside, up.latency_s, np.nan))
    if up is None:
        return (np.full(span.shape, outside.bandwidth_bytes_per_s * eff),
                np.full(span.shape, outside.latency_s))
    return (np.where(inside, up.bandwidth_bytes_per_s * eff, outside.bandwidth_bytes_per_s * eff),
            np.where(inside, up.latency_s, outside.latency_s))


def all_reduce_hops(n):
    """Latency hops of an all-reduce over ``n`` ranks: the fewer of ring (2(n-1)) and tree
    (2·log2 n), as NCCL picks the algorithm per message size."""
    if isinstance(n, np.ndarray):
        n = n.astype(float)
        hops = np.minimum(2.0 * (n - 1), 2.0 * np.ceil(np.log2(np.maximum(n, 1.0))))
        return np.where(n > 1, hops, 0.0)
    return min(2.0 * (n - 1), 2.0 * math.ceil(math.log2(n))) if n > 1 else 0.0


def all_reduce_s(size_bytes, n, bandwidth, latency):
    """Ring bandwidth term plus :func:`all_reduce_hops` x the per-message latency."""
    return 2.0 * (n - 1) / n * size_bytes / bandwidth + all_reduce_hops(n) * latency


def all_gather_s(size_bytes, n, bandwidth, latency):
    """Also the cost of a reduce-scatter or an all-to-all of ``size_bytes`` per rank."""
    return (n - 1) / n * size_bytes / bandwidth + (n - 1) * latency


def point_to_point_s(size_bytes, bandwidth, latency):
    return size_bytes / bandwidth + latency


def _tp_all_reduces_s(model, plan, tokens, per_layer, layers, bandwidth, latency_s):
    """``per_layer x layers`` all-reduces of ``tokens`` tokens' activations over the tensor-
    parallel group: the ring bandwidth term over ``bandwidth`` plus ``latency_s`` each."""
    size = tokens * model.hidden_size * bytes_per_element(model.activations_dtype)
    n = plan.tp
    return per_layer * layers * (2.0 * (n - 1) / n * size / bandwidth + latency_s)


# ---- what one collective costs (hardware plugins override these)


@formula(unit="", domain="whole")
def tp_all_reduces_per_layer(model):
    """Tensor-parallel all-reduces per layer in one forward pass: 2 for the sequential block
    (after attention and after the MLP, Megatron), 1 for a parallel block (GPT-J, PaLM: the
    two outputs are summed before one all-reduce; ``parallel_layers = true``)."""
    return 1.0 if model.parallel_layers else 2.0


@formula(plan="tp")
def tp_all_reduce_bandwidth_bytes_per_s(system, plan):
    """Bandwidth a tensor-parallel all-reduce runs at: the slowest link crossed x efficiency."""
    return group_link(system, plan.tp)[0]


@formula(plan="tp")
def tp_all_reduce_latency_s(system, plan):
    """Latency of a tensor-parallel all-reduce: ring or tree hops (fewer) x link latency."""
    return all_reduce_hops(plan.tp) * group_link(system, plan.tp)[1]


@formula(plan="pp")
def pp_point_to_point_bandwidth_bytes_per_s(system, plan):
    """Bandwidth of a send to the next pipeline stage (tp devices on) x network efficiency."""
    return group_link(system, 2, stride=plan.tp)[0]


@formula(plan="pp")
def pp_point_to_point_latency_s(system, plan):
    """Per-message latency of a send between neighbouring pipeline stages."""
    return group_link(system, 2, stride=plan.tp)[1]


# ---- inference: tensor and pipeline parallel communication per phase


@formula(workload="inference")
def prefill_tp_comm_s(plan):
    """Tensor-parallel communication in prefill (none without tensor parallelism)."""
    return 0.0


@formula("prefill_tp_comm_s", workload="inference", plan="tp")
def prefill_tp_comm_s_tp(model, plan, batch, prompt_tokens, tp_all_reduces_per_layer,
                         tp_all_reduce_bandwidth_bytes_per_s, tp_all_reduce_latency_s):
    """All-reduces of the prompt's activations, ``tp_all_reduces_per_layer`` per layer."""
    return _tp_all_reduces_s(model, plan, batch * prompt_tokens, tp_all_reduces_per_layer,
                             model.num_layers, tp_all_reduce_bandwidth_bytes_per_s,
                             tp_all_reduce_latency_s)


@formula(workload="inference")
def decode_tp_comm_s(plan):
    """Tensor-parallel communication per decode step (none without tensor parallelism)."""
    return 0.0


@formula("decode_tp_comm_s", workload="inference", plan="tp")
def decode_tp_comm_s_tp(model, plan, batch, decode_new_tokens, tp_all_reduces_per_layer,
                        tp_all_reduce_bandwidth_bytes_per_s, tp_all_reduce_latency_s):
    """All-reduces of the step's new tokens' activations (one token per sequence; gamma + 1
    when speculative decoding verifies drafts), ``tp_all_reduces_per_layer`` per layer;
    latency-bound."""
    return _tp_all_reduces_s(model, plan, batch * decode_new_tokens, tp_all_reduces_per_layer,
                             model.num_layers, tp_all_reduce_bandwidth_bytes_per_s,
                             tp_all_reduce_latency_s)


@formula(workload="inference")
def pipeline_hop_s(plan):
    """Time to pass activations between pipeline stages (none without pipeline parallelism)."""
    return 0.0 * plan.pp


@formula("pipeline_hop_s", workload="inference", plan="pp")
def pipeline_hop_s_pp(model, plan, batch, pp_point_to_point_bandwidth_bytes_per_s,
                      pp_point_to_point_latency_s):
    """Point-to-point sends of one decode step's activations across the pp-1 stage boundaries."""
    size = batch * model.hidden_size * bytes_per_element(model.activations_dtype)
    return (plan.pp - 1) * point_to_point_s(size, pp_point_to_point_bandwidth_bytes_per_s,
                                            pp_point_to_point_latency_s)


# ---- training


@formula(workload="training")
def training_tp_comm_s(plan):
    """Tensor-parallel communication per micro-batch (none without tensor parallelism)."""
    return 0.0


@formula("training_tp_comm_s", workload="training", plan="tp")
def training_tp_comm_s_tp(model, plan, micro_batch_size, seq_len, tp_all_reduces_per_layer,
                          tp_all_reduce_bandwidth_bytes_per_s, tp_all_reduce_latency_s,
                          layers_per_stage_max):
    """Tensor-parallel all-reduces per micro-batch: forward's, backward's, recomputation's.

    The forward pass's all-reduces per layer come again in the backward (four for Megatron's
    block), and a third time with full recomputation (six); sequence parallelism moves the
    same volume as reduce-scatter + all-gather."""
    passes = 3 if plan.recompute == "full" else 2
    return _tp_all_reduces_s(model, plan, micro_batch_size * seq_len,
                             passes * tp_all_reduces_per_layer, layers_per_stage_max,
                             tp_all_reduce_bandwidth_bytes_per_s, tp_all_reduce_latency_s)


@formula(workload="training")
def training_pp_comm_s(plan):
    """Pipeline point-to-point time per micro-batch (none without pipeline parallelism)."""
    return 0.0


@formula("training_pp_comm_s", workload="training", plan="pp")
def training_pp_comm_s_pp(model, plan, micro_batch_size, seq_len,
                          pp_point_to_point_bandwidth_bytes_per_s, pp_point_to_point_latency_s):
    """Activations forward and gradients backward across a stage boundary, per micro-batch,
    once per model chunk (interleaving multiplies the hops); scatter/gather over tp."""
    size = micro_batch_size * seq_len * model.hidden_size * \
        bytes_per_element(model.activations_dtype) / plan.tp
    return 2.0 * plan.interleave * point_to_point_s(size, pp_point_to_point_bandwidth_bytes_per_s,
                                                    pp_point_to_point_latency_s)


@formula(workload="training")
def gradient_sync_s(plan):
    """Data-parallel gradient synchronisation per step (none without data parallelism)."""
    return 0.0 * plan.dp


@formula("gradient_sync_s", workload="training", plan="dp")
def gradient_sync_s_dp(model, plan, system, params, pp_shards):
    """Gradient all-reduce over the data-parallel group (ZeRO-1/2: reduce-scatter +
    all-gather of the same volume; ZeRO-3 adds a parameter all-gather: 1.5x)."""
    bandwidth, latency = group_link(system, plan.dp, stride=plan.tp * plan.pp)
    size = params / (plan.tp * pp_shards) * bytes_per_element(model.activations_dtype)
    volume = 1.5 if plan.zero == 3 else 1.0
    return volume * all_reduce_s(size, plan.dp, bandwidth, latency)


FORMULAS = (tp_all_reduces_per_layer, tp_all_reduce_bandwidth_bytes_per_s,
            tp_all_reduce_latency_s, pp_point_to_point_bandwidth_bytes_per_s,
            pp_point_to_point_latency_s, prefill_tp_comm_s, prefill_tp_comm_s_tp,
            decode_tp_comm_s, decode_tp_comm_s_tp,
            pipeline_hop_s, pipeline_hop_s_pp, training_tp_comm_s, training_tp_comm_s_tp,
            training_pp_comm_s, training_pp_comm_s_pp, gradient_sync_s, gradient_sync_s_dp)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
