"""Memory per device: weights, KV cache, activations, gradients and optimizer state; fit or not.

"Does not fit" is a result: ``fits`` is false and ``memory_shortfall_bytes`` says by how much.
"""

from __future__ import annotations

import numpy as np

from ridgeline.plugin import (bytes_per_element, ceil, floor, formula, held_positions, hookimpl,
                              maximum, minimum, pipeline_stage_layers)


@formula
def usable_memory_bytes(memory_capacity_bytes, system):
    """Device memory a framework can fill (capacity x the accelerator's usable fraction)."""
    return memory_capacity_bytes * system.eff.usable_memory


@formula
def weight_bytes(model, params):
    """Bytes of all weights in their storage precision (quantisation scales included)."""
    return params * bytes_per_element(model.weights_dtype)


@formula(unit="", domain="count")
def layers_per_stage_max(model, plan):
    """Layers of the fullest pipeline stage: ``num_layers / pp`` when ``pp`` divides them,
    else the most any stage of the split (``pp_layers``, or Megatron-LM's) takes. The
    fullest stage holds the most weights, KV cache and activations, and sets the pace."""
    if plan.pp_layers is None and isinstance(plan.pp, np.ndarray):
        # many plans at once (a search): Megatron-LM's split fills its fullest stage with
        # ceil(num_layers / pp) layers, as pipeline_stage_layers lays it out
        return ceil(model.num_layers / plan.pp)
    return float(max(pipeline_stage_layers(model.num_layers, plan.pp, plan.pp_layers)))


@formula(unit="", domain="nonnegative")
def pp_shards(model, layers_per_stage_max):
    """Parts the layers' weights and state are split into, seen from the fullest pipeline
    stage: ``pp`` when the stages are even, ``num_layers / layers_per_stage_max`` (less than
    ``pp``) when they are not."""
    return model.num_layers / layers_per_stage_max


@formula
def weight_bytes_per_device(weight_bytes, plan, pp_shards):
    """Weights held by one device: sharded by tensor and pipeline parallelism (the fullest
    stage's share)."""
    return weight_bytes / (plan.tp * pp_shards)


# ---- inference


@formula(workload="inference", domain="count")
def context_tokens(prompt_tokens, output_tokens):
    """Tokens each sequence holds in its KV cache by the end of the request."""
    return prompt_tokens + output_tokens


@formula(workload="inference", unit="", domain="nonnegative")
def kv_held_tokens(model, context_tokens):
    """Positions of KV cache each sequence keeps at full context, averaged over the layers:
    a sliding-window layer keeps at most its window, a chunked one at most its chunk, a
    global one the whole context (``context_tokens`` without a window)."""
    return held_positions(model, context_tokens)


@formula(workload="inference")
def kv_cache_bytes(kv_cache_bytes_per_token, batch, kv_held_tokens):
    """KV cache of the whole batch at full context, all devices together."""
    return kv_cache_bytes_per_token * batch * kv_held_tokens


@formula(workload="inference")
def kv_cache_bytes_per_device(kv_cache_bytes_per_token_per_device, batch, kv_held_tokens):
    """KV cache held by one device at full context."""
    return kv_cache_bytes_per_token_per_device * batch * kv_held_tokens


@formula(workload="inference")
def activation_bytes(prefill_activation_bytes_per_sequence, batch):
    """Peak activation working set on one device (during prefill of the whole batch)."""
    return prefill_activation_bytes_per_sequence * batch


@formula(workload="inference")
def memory_per_device_bytes(weight_bytes_per_device, kv_cache_bytes_per_device,
                            activation_bytes):
    """Everything one device holds: weights + KV cache + activations."""
    return weight_bytes_per_device + kv_cache_bytes_per_device + activation_bytes


@formula(workload="inference", unit="", domain="whole")
def max_batch(usable_memory_bytes, weight_bytes_per_device, kv_cache_bytes_per_token_per_device,
              kv_held_tokens, prefill_activation_bytes_per_sequence):
    """Largest batch whose weights, KV cache and activations fit (0 if the weights alone don't)."""
    per_sequence = kv_cache_bytes_per_token_per_device * kv_held_tokens + \
        prefill_activation_bytes_per_sequence
    room = usable_memory_bytes - weight_bytes_per_device
    return maximum(floor(room / per_sequence), 0.0)


# ---- training


@formula(workload="training")
def gradient_bytes_per_device(params, plan, pp_shards):
    """16-bit gradients on one device (sharded over data parallelism from ZeRO-2 on)."""
    shard = plan.tp * pp_shards * (plan.dp if plan.zero >= 2 else 1)
    return 2.0 * params / shard


@formula(workload="training")
def optimizer_bytes_per_device(params, plan, pp_shards):
    """Mixed-precision Adam state, 12 bytes per parameter (fp32 master weights, momentum and
    variance; Rajbhandari et al. 2020, section 3.1), sharded over data parallelism from ZeRO-1."""
    shard = plan.tp * pp_shards * (plan.dp if plan.zero >= 1 else 1)
    return 12.0 * params / shard


@formula("weight_bytes_per_device", workload="training", plan="zero3")
def weight_bytes_per_device_zero3(weight_bytes, plan, pp_shards):
    """ZeRO-3 shards the 16-bit weights over data parallelism too."""
    return weight_bytes / (plan.tp * pp_shards * plan.dp)


@formula(workload="training", domain="nonnegative")
def in_flight_micro_batches(plan, micro_batches_per_step):
    """Micro-batches whose activations the first pipeline stage holds at once (1F1B: pp;
    interleaved: x (1 + (pp-1)/(pp·v)), Narayanan et al. 2021)."""
    held = minimum(micro_batches_per_step, plan.pp)
    # interleaving is a plan feature: every plan a program sees (one Plan, or a PlanArray of
    # plans that share their features) interleaves, or none does
    return held * (1.0 + (plan.pp - 1) / (plan.pp * plan.interleave)
                   if "interleave" in plan.features() else 1.0)


@formula("activation_bytes", workload="training")
def training_activation_bytes(model, plan, training_activation_bytes_per_layer, in_flight_micro_batches,
                     micro_batch_size, seq_len, layers_per_stage_max):
    """Stored activations on the busiest device: its layers x micro-batches in flight, plus the
    fp32 logits of one micro-batch. With uneven stages, the fullest stage's layers with the
    first stage's micro-batches in flight: a bound on every stage's."""
    layers = layers_per_stage_max
    logits = 4.0 * micro_batch_size * seq_len * model.vocab_size / plan.tp
    return training_activation_bytes_per_layer * layers * in_flight_micro_batches + logits


@formula("memory_per_device_bytes", workload="training")
def training_memory_per_device_bytes(weight_bytes_per_device, gradient_bytes_per_device,
                                     optimizer_bytes_per_device, activation_bytes):
    """Weights + gradients + optimizer state + stored activations on one device."""
    return (weight_bytes_per_device + gradient_bytes_per_device + optimizer_bytes_per_device
            + activation_bytes)


# ---- fit


@formula(unit="", domain="flag")
def fits(memory_per_device_bytes, usable_memory_bytes):
    """Whether everything one device must hold fits in its usable memory."""
    return memory_per_device_bytes <= usable_memory_bytes


@formula
def memory_shortfall_bytes(memory_per_device_bytes, usable_memory_bytes):
    """How much more memory one device would need (0 when it fits)."""
    return maximum(memory_per_device_bytes - usable_memory_bytes, 0.0)


FORMULAS = (usable_memory_bytes, weight_bytes, layers_per_stage_max, pp_shards,
            weight_bytes_per_device, context_tokens, kv_held_tokens,
            kv_cache_bytes, kv_cache_bytes_per_device, activation_bytes, memory_per_device_bytes,
            max_batch, gradient_bytes_per_device, optimizer_bytes_per_device,
            weight_bytes_per_device_zero3, in_flight_micro_batches, training_activation_bytes,
            training_memory_per_device_bytes, fits, memory_shortfall_bytes)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
