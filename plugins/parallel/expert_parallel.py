"""Expert parallelism: routed experts split over ``ep`` devices, tokens sent to them and back.

Layout. Within one pipeline stage, attention runs on ``tp x dp`` devices; each MoE layer
regroups them as ``etp x ep x edp``: the routed experts are split ``ep`` ways (each device holds
``E/ep`` of them), each expert's MLP is split ``etp`` ways by tensor parallelism, and ``edp``
groups hold copies. ``etp`` is ``tp/ep`` when ``ep`` divides ``tp`` (inference engines split
the tensor-parallel group's experts instead of slicing every expert: vLLM's and SGLang's
expert parallelism), and 1 when ``tp`` divides ``ep`` (Megatron-Core with an expert
tensor-parallel size of 1: whole experts per device, the expert-parallel group spanning
``ep/tp`` data-parallel replicas). Without expert parallelism ``etp = tp``: every device holds
a ``1/tp`` slice of every expert, as in the dense family.

Work per device does not depend on the layout: ``T`` tokens per replica make ``T·k``
token-expert assignments, of which a device computes ``T·k/tp`` expert-widths (the group's
``T·ep·etp/tp`` tokens' assignments, spread over ``ep`` devices, each at ``1/etp`` of an
expert's width). What changes is where weights live and what moves between devices.

Communication. Each MoE layer sends every token's hidden state to the devices holding its
``k`` experts (dispatch) and the experts' outputs back (combine): two all-to-alls of
``(tokens per device) x k x hidden x activation bytes`` per device, of which ``(ep-1)/ep``
leaves the device, priced by :mod:`ridgeline.plugins.parallel.collectives` on the scale-up
link when the ``ep x etp`` devices fit in one scale-up domain and on the scale-out network
otherwise (all of it: the share that stays inside a node is not priced apart, so a group
spanning domains is an upper bound, as for the other collectives). The backward pass
repeats both (gradients), full recomputation the forward pair.
Tensor-parallel all-reduces stay as the dense family counts them (Megatron-Core re-gathers
tokens across the expert tensor-parallel group), and the all-to-alls are not overlapped with
compute (DeepSeek's dual-micro-batch overlap hides them; ``--set training_ep_comm_s=0``
models that).

Padding and imbalance scale the bytes like the compute: ``expert_compute_factor``.
"""

from __future__ import annotations

import numpy as np

from ridgeline.plugin import bytes_per_element, formula, hookimpl
from ridgeline.plugins.architectures.moe_params import all_routed_expert_params, moe_shape
from ridgeline.plugins.parallel.collectives import all_gather_s, all_reduce_s, group_link


def expert_tensor_parallel(plan) -> int:
    """Devices each routed expert's MLP is split over (``etp``): ``tp/ep`` when ``ep`` divides
    ``tp``, else 1 (``tp`` without expert parallelism)."""
    if isinstance(plan.tp, np.ndarray):  # a PlanArray's degrees
        return np.where(plan.tp % plan.ep == 0, plan.tp // plan.ep, 1)
    return plan.tp // plan.ep if plan.tp % plan.ep == 0 else 1


def expert_data_parallel(plan) -> int:
    """Copies of each expert shard within a pipeline stage (``edp = tp·dp / (ep·etp)``)."""
    return plan.tp * plan.dp // (plan.ep * expert_tensor_parallel(plan))


def all_to_alls_s(model, plan, system, tokens, compute_factor, per_layer, layers):
    """``per_layer`` all-to-alls of the assignments of ``tokens`` tokens (per device, as the
    operation tables count them) in each of ``layers`` MoE layers."""
    s = moe_shape(model)
    etp = expert_tensor_parallel(plan)
    group_tokens = tokens * plan.ep * etp / plan.tp  # distinct tokens in one EP group
    per_device_bytes = group_tokens / plan.ep * s.top_k * compute_factor * \
        model.hidden_size * bytes_per_element(model.activations_dtype)
    bandwidth, latency = group_link(system, plan.ep, stride=etp)
    return per_layer * layers * all_gather_s(per_device_bytes, plan.ep, bandwidth, latency)


# ---- inference


@formula(workload="inference")
def prefill_ep_comm_s(plan):
    """Expert-parallel communication in prefill (none without expert parallelism)."""
    return 0.0


@formula("prefill_ep_comm_s", family="moe", workload="inference", plan="ep")
def prefill_ep_comm_s_ep(model, plan, system, batch, prompt_tokens, expert_compute_factor):
    """Dispatch and combine all-to-alls of every prompt token, in every MoE layer."""
    return all_to_alls_s(model, plan, system, batch * prompt_tokens, expert_compute_factor, 2,
                         moe_shape(model).moe_layers)


@formula(workload="inference")
def decode_ep_comm_s(plan):
    """Expert-parallel communication per decode step (none without expert parallelism)."""
    return 0.0


@formula("decode_ep_comm_s", family="moe", workload="inference", plan="ep")
def decode_ep_comm_s_ep(model, plan, system, batch, decode_new_tokens, expert_compute_factor):
    """Dispatch and combine all-to-alls of one step's tokens in every MoE layer; small
    messages, so mostly latency."""
    return all_to_alls_s(model, plan, system, batch * decode_new_tokens, expert_compute_factor,
                         2, moe_shape(model).moe_layers)


# ---- training


@formula(workload="training")
def training_ep_comm_s(plan):
    """Expert-parallel communication per micro-batch (none without expert parallelism)."""
    return 0.0


@formula("training_ep_comm_s", family="moe", workload="training", plan="ep")
def training_ep_comm_s_ep(model, plan, system, micro_batch_size, seq_len,
                          expert_compute_factor, pp_shards):
    """Per micro-batch and MoE layer of the stage: dispatch and combine forward, again for the
    gradients backward, and once more forward with full recomputation."""
    per_layer = 6 if plan.recompute == "full" else 4
    return all_to_alls_s(model, plan, system, micro_batch_size * seq_len, expert_compute_factor,
                         per_layer, moe_shape(model).moe_layers / pp_shards)


@formula("micro_batch_s", family="moe", workload="training", plan="ep")
def micro_batch_s_ep(training_forward_compute_s, recompute_s, training_tp_comm_s,
                     training_pp_comm_s, training_ep_comm_s):
    """One micro-batch through one stage, as without expert parallelism (forward, 2x
    backward, recomputation, tensor and pipeline communication) plus the all-to-alls."""
    return 3.0 * training_forward_compute_s + recompute_s + training_tp_comm_s + \
        training_pp_comm_s + training_ep_comm_s


# ---- training state per device: experts sharded over ep x etp, the rest over tp


def per_device_params(params, routed_expert_params, plan, shard_over_dp: bool,
                      pp_shards=None):
    """Parameters one device holds: the non-expert ones over ``tp x pp``, the routed experts
    over ``pp x ep x etp``, both also over data parallelism when ``shard_over_dp`` (ZeRO).
    ``pp_shards``: the fullest stage's share of ``pp`` when the stages are uneven."""
    pp = plan.pp if pp_shards is None else pp_shards
    dense = (params - routed_expert_params) / (plan.tp * pp)
    experts = routed_expert_params / (pp * plan.ep * expert_tensor_parallel(plan))
    if shard_over_dp:
        dense, experts = dense / plan.dp, experts / expert_data_parallel(plan)
    return dense + experts


@formula("weight_bytes_per_device", family="moe", workload="training", plan="ep")
def weight_bytes_per_device_ep(weight_bytes, params, routed_expert_params, plan, pp_shards):
    """Weights one device holds: experts split over expert parallelism (ZeRO-3 also over data
    parallelism)."""
    return weight_bytes / params * per_device_params(params, routed_expert_params, plan,
                                                     plan.zero == 3, pp_shards)


@formula("gradient_bytes_per_device", family="moe", workload="training", plan="ep")
def gradient_bytes_per_device_ep(params, routed_expert_params, plan, pp_shards):
    """16-bit gradients on one device (over data parallelism too from ZeRO-2)."""
    return 2.0 * per_device_params(params, routed_expert_params, plan, plan.zero >= 2,
                                   pp_shards)


@formula("optimizer_bytes_per_device", family="moe", workload="training", plan="ep")
def optimizer_bytes_per_device_ep(params, routed_expert_params, plan, pp_shards):
    """Mixed-precision Adam state, 12 bytes per parameter held (over data parallelism too from
    ZeRO-1)."""
    return 12.0 * per_device_params(params, routed_expert_params, plan, plan.zero >= 1,
                                    pp_shards)


@formula("optimizer_step_s", family="moe", workload="training", plan="ep")
def optimizer_step_s_ep(params, routed_expert_params, plan, memory_bandwidth_bytes_per_s,
                        pp_shards):
    """Adam update of the parameters one device holds, 28 bytes each through memory."""
    return 28.0 * per_device_params(params, routed_expert_params, plan, plan.zero >= 1,
                                    pp_shards) / \
        memory_bandwidth_bytes_per_s


@formula("gradient_sync_s", family="moe", workload="training", plan=("dp", "ep"))
def gradient_sync_s_ep(model, plan, system, params, routed_expert_params, pp_shards):
    """Gradient all-reduces: non-expert gradients over the ``dp`` replicas, expert gradients
    over the ``edp`` copies of each expert shard (none when every expert lives once per
    stage). ZeRO-3 adds a parameter all-gather (1.5x), as for the dense family."""
    a = bytes_per_element(model.activations_dtype)
    volume = 1.5 if plan.zero == 3 else 1.0
    bandwidth, latency = group_link(system, plan.dp, stride=plan.tp * plan.pp)
    dense = (params - routed_expert_params) / (plan.tp * pp_shards) * a
    total = volume * all_reduce_s(dense, plan.dp, bandwidth, latency)
    copies = expert_data_parallel(plan)
    # with arrays of plans, every plan takes the branch: one copy all-reduces in 0 s
    if isinstance(copies, np.ndarray) or copies > 1:
        experts = routed_expert_params / (pp_shards * plan.ep * expert_tensor_parallel(plan)) * a
        bandwidth, latency = group_link(system, copies,
                                        stride=plan.tp * plan.pp * plan.dp // copies)
        total = total + volume * all_reduce_s(experts, copies, bandwidth, latency)
    return total


@formula(family="moe", unit="", domain="nonnegative")
def routed_expert_params_per_device(model, plan, pp_shards):
    """Routed-expert parameters one device holds (``1/(pp·ep·etp)`` of them; with uneven
    stages the fullest stage's share, an average over its layers that need not be whole)."""
    return all_routed_expert_params(model) / (pp_shards * plan.ep * expert_tensor_parallel(plan))


FORMULAS = (prefill_ep_comm_s, prefill_ep_comm_s_ep, decode_ep_comm_s, decode_ep_comm_s_ep,
            training_ep_comm_s, training_ep_comm_s_ep, micro_batch_s_ep,
            weight_bytes_per_device_ep, gradient_bytes_per_device_ep,
            optimizer_bytes_per_device_ep, optimizer_step_s_ep, gradient_sync_s_ep,
            routed_expert_params_per_device)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
