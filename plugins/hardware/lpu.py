"""SRAM-only chips pipelined chip to chip (Groq LPU): how many chips a model needs, and why.

An LPU has no device DRAM: its few hundred MB of on-die SRAM is all the memory there is, so a
model is spread over as many chips as its weights (and KV cache) need, and a token flows
through them in order. The formulas here apply to accelerators of ``kind = "lpu"``:

- ``devices_needed``: ``ceil((weights + KV cache) / (usable SRAM per chip - activations))``,
  every weight and KV byte held once somewhere in the pipeline; the activations per chip are
  the hidden states of the tokens in flight through it. ``ridgeline infer`` uses it as the device
  count when ``--devices`` is not given.
- Each chip holds ``1/N`` of the model and does ``1/N`` of every step's work, so a token's
  latency is the whole model's work at one chip's rates (``lpu_pass_compute_s``, the sum of
  the operations' rooflines: each chip streams its own SRAM) plus one chip-to-chip hop per
  boundary (``(N - 1) x lpu_chip_hop_s``).
- With the pipeline full, the batch is split into ``min(batch, N)`` micro-batches, one per
  chip at a time; every sequence still waits one full pass per token, so throughput is
  ``batch / tpot_s`` and grows with the batch until the micro-batches become compute-bound.

The chips are scheduled statically by the compiler: no kernel launches, so no per-operation
overhead is added (the registry's ``kernel_overhead_s`` is not used here). The plan's ``tp``
and ``pp`` stay 1: the chips are placed by these formulas, and ``--devices`` says how many.
"""

from __future__ import annotations

import numpy as np

from ridgeline.plugin import ScenarioError, bytes_per_element, formula, hookimpl, plain

from .wafer_scale import rooflines_s, scaled_to_batch, spread_devices

KIND = "lpu"


# ---------------------------------------------------------------- how many chips


@formula(kind=KIND, workload="inference", family="dense", unit="", domain="count")
def replica_devices(system, plan):
    """Chips one replica spans: all of the system's, pipelined chip to chip."""
    return spread_devices(system, plan, KIND)


@formula("prefill_activation_bytes_per_sequence", kind=KIND, workload="inference",
         family="dense")
def lpu_prefill_activation_bytes_per_sequence(model):
    """Activations one chip holds per sequence: the hidden state of the token passing through
    its slice, in and out. Tokens stream through the pipeline, so no chip holds a whole
    prompt's working set at once (as a GPU prefilling it in one pass does)."""
    return 2.0 * model.hidden_size * bytes_per_element(model.activations_dtype)


@formula(kind=KIND, workload="inference", unit="", domain="count")
def devices_needed(weight_bytes, kv_cache_bytes, activation_bytes, usable_memory_bytes):
    """Chips needed to hold the model in SRAM: ceil((weights + KV cache) / (usable SRAM per
    chip - the activations in flight on each chip)). Weights dominate; the KV cache at this
    batch and context can add many chips, since SRAM is all the memory there is."""
    room = usable_memory_bytes - activation_bytes
    if np.any(room <= 0):
        raise ScenarioError("the activations in flight alone exceed a chip's usable SRAM at "
                            "this batch; lower --batch")
    return plain(np.maximum(np.ceil((weight_bytes + kv_cache_bytes) / room), 1.0))


@formula("weight_bytes_per_device", kind=KIND, workload="inference", family="dense")
def lpu_weight_bytes_per_device(weight_bytes, replica_devices):
    """Weights one chip holds: an equal share."""
    return weight_bytes / replica_devices


@formula("kv_cache_bytes_per_token_per_device", kind=KIND, workload="inference",
         family="dense")
def lpu_kv_cache_bytes_per_token_per_device(kv_cache_bytes_per_token, replica_devices):
    """KV cache per token of context on one chip: that of its own layers, an equal share."""
    return kv_cache_bytes_per_token / replica_devices


# ---------------------------------------------------------------- the pipeline


@formula(kind=KIND, workload="inference", unit="", domain="count")
def lpu_micro_batch(batch, replica_devices):
    """Sequences each chip processes at a time: the batch split into min(batch, chips)
    micro-batches, so that a full pipeline has one on every chip."""
    return plain(np.ceil(batch / np.minimum(batch, replica_devices)))


@formula(kind=KIND, workload="inference", unit="", domain="fraction")
def lpu_pipeline_occupancy(batch, replica_devices):
    """Fraction of the chips busy at any moment: min(batch, chips) / chips (1 = pipeline full)."""
    return plain(np.minimum(batch, replica_devices) / replica_devices)


@formula(kind=KIND, workload="inference")
def lpu_chip_hop_s(lpu_micro_batch, model, system):
    """Handing one micro-batch's hidden states to the next chip: their bytes over the
    chip-to-chip link (x the network efficiency) plus the link's latency."""
    link = system.accelerator.links.scale_up
    if link is None:
        raise ScenarioError(f"{system.accelerator.id} gives no chip-to-chip link "
                            f"([links.scale_up]), so its pipeline cannot be priced")
    size = lpu_micro_batch * model.hidden_size * bytes_per_element(model.activations_dtype)
    return size / (link.bandwidth_bytes_per_s * system.eff.network) + link.latency_s


@formula(kind=KIND, workload="inference")
def lpu_pass_compute_s(decode_operations, batch, lpu_micro_batch, compute_flops_per_s,
                       memory_bandwidth_bytes_per_s):
    """One micro-batch's pass through every chip's slice: the model's decode operations at the
    micro-batch, each on its roofline at one chip's compute and SRAM bandwidth. Each of the N
    chips does 1/N of that work, one after another, so the pass takes all of it."""
    ops = scaled_to_batch(decode_operations, lpu_micro_batch / batch)
    return rooflines_s(ops, compute_flops_per_s, memory_bandwidth_bytes_per_s)


@formula(kind=KIND, workload="inference")
def lpu_pipeline_hops_s(replica_devices, lpu_chip_hop_s):
    """Chip-to-chip hops of one pass: one per chip boundary."""
    return (replica_devices - 1) * lpu_chip_hop_s


@formula("decode_step_s", kind=KIND, workload="inference", family="dense")
def lpu_decode_step_s(lpu_pass_compute_s, lpu_pipeline_hops_s, step_overhead_s):
    """Time per output token of one sequence: its micro-batch's pass through every chip,
    compute plus hops (the other micro-batches fill the pipeline meanwhile)."""
    return lpu_pass_compute_s + lpu_pipeline_hops_s + step_overhead_s


@formula("first_decode_step_s", kind=KIND, workload="inference", family="dense")
def lpu_first_decode_step_s(first_decode_operations, batch, lpu_micro_batch, compute_flops_per_s,
                            memory_bandwidth_bytes_per_s, lpu_pipeline_hops_s, step_overhead_s):
    """The first decode step (context = the prompt), as ``decode_step_s``."""
    ops = scaled_to_batch(first_decode_operations, lpu_micro_batch / batch)
    return rooflines_s(ops, compute_flops_per_s, memory_bandwidth_bytes_per_s) + \
        lpu_pipeline_hops_s + step_overhead_s


@formula("prefill_s", kind=KIND, workload="inference", family="dense")
def lpu_prefill_s(prefill_operations, compute_flops_per_s, memory_bandwidth_bytes_per_s,
                  replica_devices, lpu_pipeline_hops_s, step_overhead_s):
    """Prefill: the prompts' tokens stream through the pipeline, every chip busy on its slice
    once it fills, so the work divides over the chips; plus one pass of hops to fill it."""
    work = rooflines_s(prefill_operations, compute_flops_per_s, memory_bandwidth_bytes_per_s)
    return work / replica_devices + lpu_pipeline_hops_s + step_overhead_s


FORMULAS = (replica_devices, lpu_prefill_activation_bytes_per_sequence, devices_needed,
            lpu_weight_bytes_per_device, lpu_kv_cache_bytes_per_token_per_device, lpu_micro_batch,
            lpu_pipeline_occupancy, lpu_chip_hop_s, lpu_pass_compute_s, lpu_pipeline_hops_s,
            lpu_decode_step_s, lpu_first_decode_step_s, lpu_prefill_s)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
