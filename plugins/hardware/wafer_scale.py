"""Wafer-scale engines (Cerebras WSE-2/3): weights in on-wafer SRAM, or streamed when they do not fit.

A wafer is one mesh of about a million small cores, each with its own slice of SRAM; there is
no device DRAM. The formulas here apply to accelerators of ``kind = "wafer-scale"``:

- **Where the weights live.** If the weights and the KV cache, spread over the system's wafers,
  fit in their usable SRAM beside the activations, they stay there
  (``wafer_weights_resident = 1``). Otherwise they are streamed layer by layer from the
  external weight store (the accelerator's ``external`` memory tier: MemoryX) at its
  bandwidth on every pass, double-buffered so that streaming overlaps compute; SRAM then holds
  two layers' weights, the KV cache and the activations.
- **Several wafers** hold one replica with the layers pipelined across them (Llama-3.1-70B on
  four CS-3 systems); a token crosses ``devices - 1`` wafer boundaries per step over the
  systems' scale-out link.
- **One decode step** is the sum over layers of (a) the layer's roofline at the wafer's SRAM
  bandwidth and compute, each layer spread over its whole wafer (as in weight-streaming
  execution and WaferLLM, arXiv:2502.04563), and (b) the fabric pipeline: every layer needs a
  chain of dependent broadcasts and reductions that each cross the wafer's mesh. At batch 1
  (b) dominates by two to three orders of magnitude: 16 GB of Llama-3.1-8B weights leave
  21 PB/s of SRAM in about a microsecond, while a token needs roughly 18 mesh crossings of
  about 960 hops in each of 32 layers.

Every constant is a quantity with a documented default that a user may give instead
(``--set wafer_fabric_hop_s=0.8ns``): ``wafer_core_sram_bytes``, ``wafer_fabric_hop_s``,
``wafer_compute_flops_per_s``, ``wafer_fabric_traversals_per_layer``.

A wafer-scale system spreads one replica over all of its devices by itself, so the plan's
``tp`` and ``pp`` stay 1 and ``--devices`` (default: ``devices_needed``) says how many wafers.
"""

from __future__ import annotations

import numpy as np

from ridgeline.plugin import (Operation, ScenarioError, bytes_per_element, compute_precision,
                              formula, hookimpl, plain, roofline_s)

KIND = "wafer-scale"


def spread_devices(system, plan, kind: str) -> int:
    """Devices one replica spans on a kind that spreads the model itself (all of the system's).

    Raises:
        ScenarioError: the plan asks for tensor or pipeline parallelism, which these kinds do
            not take: they place the model over the devices themselves.
    """
    if plan.offload != "none":
        raise ScenarioError(f"{system.accelerator.id} ({kind}) places the weights itself; drop "
                            f"--offload {plan.offload}")
    if plan.tp * plan.pp > 1:
        flags = " ".join(f"--{name} {value}" for name, value in (("tp", plan.tp), ("pp", plan.pp))
                         if value > 1)
        raise ScenarioError(
            f"{system.accelerator.id} ({kind}) spreads one model replica over all of the "
            f"system's devices itself; give --devices N (or leave it out for the devices "
            f"needed) instead of {flags}")
    return system.devices


def scaled_to_batch(ops, factor):
    """The decode operations of ``factor`` times the batch: FLOPs, activation and KV traffic
    scale with the sequences in the step, weight bytes do not (they are read once per pass)."""
    return tuple(Operation(op.name, flops=op.flops * factor, weight_bytes=op.weight_bytes,
                           activation_bytes=op.activation_bytes * factor,
                           kv_bytes=op.kv_bytes * factor, count=op.count) for op in ops)


def rooflines_s(ops, flops_per_s, bytes_per_s):
    """Sum of each operation's own roofline time, with no per-kernel launch cost: a dataflow
    machine has no kernel launches (its fixed cost per layer is the fabric term)."""
    return sum(roofline_s(op, flops_per_s, bytes_per_s) for op in ops)


# ---------------------------------------------------------------- placement and memory


@formula(kind=KIND, workload="inference", family="dense", unit="", domain="count")
def replica_devices(system, plan):
    """Wafers one replica spans: all of the system's (layers pipelined across them)."""
    return spread_devices(system, plan, KIND)


@formula(kind=KIND, workload="inference", unit="", domain="flag")
def wafer_weights_resident(weight_bytes, kv_cache_bytes, activation_bytes, usable_memory_bytes,
                           replica_devices):
    """1 when the weights and KV cache, spread over the wafers, fit in SRAM beside the
    activations (weights stay on the wafer); 0 when the weights must be streamed."""
    per_wafer = (weight_bytes + kv_cache_bytes) / replica_devices + activation_bytes
    return plain(np.where(per_wafer <= usable_memory_bytes, 1.0, 0.0))


@formula("weight_bytes_per_device", kind=KIND, workload="inference", family="dense")
def wafer_weight_bytes_per_device(weight_bytes, wafer_weights_resident, replica_devices, model):
    """Weights one wafer's SRAM holds: its share of all of them when resident; two layers'
    worth when streamed (the layer being used and the next one arriving)."""
    streamed = 2.0 * weight_bytes / model.num_layers
    return wafer_weights_resident * weight_bytes / replica_devices + \
        (1.0 - wafer_weights_resident) * np.minimum(streamed, weight_bytes)


@formula("kv_cache_bytes_per_token_per_device", kind=KIND, workload="inference",
         family="dense")
def wafer_kv_cache_bytes_per_token_per_device(kv_cache_bytes_per_token, replica_devices):
    """KV cache per token of context on one wafer: that of its own layers, an equal share."""
    return kv_cache_bytes_per_token / replica_devices


@formula(kind=KIND, workload="inference", unit="", domain="count")
def devices_needed(weight_bytes, kv_cache_bytes, activation_bytes, usable_memory_bytes):
    """Wafers needed to keep the weights and KV cache in SRAM, each wafer also holding the
    activations of the layer it is running: ceil((weights + KV) / (usable SRAM - activations))."""
    room = usable_memory_bytes - activation_bytes
    if np.any(room <= 0):
        raise ScenarioError("the activations of one layer alone exceed a wafer's usable SRAM "
                            "at this batch and prompt; lower --batch or --prompt")
    return plain(np.maximum(np.ceil((weight_bytes + kv_cache_bytes) / room), 1.0))


@formula(kind=KIND)
def wafer_core_sram_bytes(system):
    """SRAM of one core: 48 kB (Cerebras at Hot Chips 34: 'each small core has 48kB of SRAM';
    WSE-3's 44 GB over its 900,000 cores is 48.9 kB)."""
    return 48e3


@formula(kind=KIND, unit="", domain="nonnegative")
def wafer_cores(memory_capacity_bytes, wafer_core_sram_bytes):
    """Cores on one wafer: its SRAM over the SRAM of one core (WSE-3: 44 GB / 48 kB = 916,667
    against the 900,000 published; WSE-2: 833,333 against 850,000)."""
    return memory_capacity_bytes / wafer_core_sram_bytes


@formula(kind=KIND)
def wafer_fabric_hop_s(system):
    """Time for data to move one core to the next on the mesh: 1 ns, i.e. one hop per clock
    at about 1 GHz. An assumption: Cerebras publishes neither the WSE clock nor the router
    latency. It sets the dominant term of batch-1 decode; give the figure you trust with
    --set wafer_fabric_hop_s=..."""
    return 1e-9


@formula(kind=KIND, unit="", domain="nonnegative")
def wafer_fabric_traversals_per_layer(model):
    """Dependent crossings of the mesh one token needs per transformer layer, each matrix or
    reduction spread over the whole wafer: a matrix-vector product broadcasts its input along
    one axis and reduces partial sums along the other (2 crossings); a norm reduces its
    statistic and broadcasts it back (2). Per layer: Q/K/V (2), attention scores (2), softmax
    max and sum (2), scores x V (2), output projection (2), the MLP's two dependent products
    (4), and 2 per norm: 18 for a Llama layer with two RMSNorms."""
    return 14.0 + 2.0 * model.norms_per_layer


@formula(kind=KIND, workload="inference")
def wafer_fabric_per_layer_s(wafer_fabric_traversals_per_layer, wafer_cores, wafer_fabric_hop_s,
                             batch, model):
    """Fabric time of one layer in a decode step: each crossing travels the mesh's side
    (sqrt(cores) hops) and streams the batch's hidden states, split over the side's columns,
    one element per hop-time behind the first."""
    side = np.sqrt(wafer_cores)
    per_crossing = (side + batch * model.hidden_size / side) * wafer_fabric_hop_s
    return wafer_fabric_traversals_per_layer * per_crossing


@formula(kind=KIND, workload="inference")
def wafer_prefill_fabric_per_layer_s(wafer_fabric_traversals_per_layer, wafer_cores,
                                     wafer_fabric_hop_s, batch, prompt_tokens, model):
    """Fabric time of one layer in prefill: as in decode, with every prompt token's hidden
    state streaming through the crossing."""
    side = np.sqrt(wafer_cores)
    tokens = batch * prompt_tokens
    per_crossing = (side + tokens * model.hidden_size / side) * wafer_fabric_hop_s
    return wafer_fabric_traversals_per_layer * per_crossing


@formula(kind=KIND)
def wafer_compute_flops_per_s(model, system, memory_bandwidth_bytes_per_s):
    """Achievable FLOP/s of one wafer.

    The published dense peak x the compute efficiency when the vendor gives one. WSE-2 and
    WSE-3 publish none (WSE-3's 125 PFLOP/s counts sparsity), so the rate is derived from the
    published SRAM bandwidth instead: 2 FLOP for every weight element the SRAM delivers, i.e.
    a datapath exactly balanced with its memory for matrix-vector work (each core's SRAM sits
    beside its datapath). This is an assumption, not a vendor figure: it decides prefill time
    and large-batch decode, and is irrelevant at batch 1, where the fabric dominates. Give the
    figure you trust with --set wafer_compute_flops_per_s=...
    """
    peaks = system.accelerator.peak_flops_per_s
    if peaks:
        return peaks[compute_precision(model.activations_dtype, peaks)] * system.eff.compute
    return 2.0 * memory_bandwidth_bytes_per_s / bytes_per_element(model.weights_dtype)


def _link(system, hops):
    """``(bandwidth, latency)`` of the scale-out link between systems (CS-3: 12 x 100 GbE
    system I/O) x the network efficiency; only needed when there are hops to price."""
    link = system.accelerator.links.scale_out
    if link is None:
        if np.any(hops > 0):
            raise ScenarioError(f"{system.accelerator.id} gives no link between systems "
                                f"([links.scale_out]), so a multi-wafer pipeline cannot be "
                                f"priced")
        return 1.0, 0.0
    return link.bandwidth_bytes_per_s * system.eff.network, link.latency_s


def wafer_hops(replica_devices, hidden_bytes, system):
    """Time to hand ``hidden_bytes`` across each of the pipeline's wafer boundaries."""
    hops = np.maximum(replica_devices - 1, 0)
    bandwidth, latency = _link(system, hops)
    return hops * (hidden_bytes / bandwidth + latency)


# ---------------------------------------------------------------- time


@formula(kind=KIND, workload="inference")
def wafer_hops_s(replica_devices, batch, model, system):
    """Handing one decode step's hidden states across the pipeline's wafer boundaries, over
    the scale-out link (none on one wafer)."""
    size = batch * model.hidden_size * bytes_per_element(model.activations_dtype)
    return wafer_hops(replica_devices, size, system)


@formula(kind=KIND, workload="inference")
def wafer_weight_stream_s(weight_bytes, wafer_weights_resident, replica_devices, system):
    """Streaming every weight in once per pass from the external weight store (the memory tier
    named ``external``: MemoryX, reached over the system's I/O, so x the network efficiency),
    each wafer its own layers in parallel; 0 when the weights are resident."""
    streamed = 1.0 - wafer_weights_resident
    tier = system.accelerator.tier("external")
    if tier is None or tier.bandwidth_bytes_per_s is None:
        if np.any(streamed > 0):
            raise ScenarioError(f"{system.accelerator.id}: the weights do not fit in SRAM and "
                                f"it gives no external weight store with a bandwidth (a memory "
                                f"tier named 'external') to stream them from")
        return 0.0 * streamed
    rate = tier.bandwidth_bytes_per_s * system.eff.network
    return streamed * weight_bytes / replica_devices / rate


@formula(kind=KIND, workload="inference")
def wafer_decode_layers_s(decode_operations, wafer_compute_flops_per_s,
                          memory_bandwidth_bytes_per_s):
    """The decode step's operations, each on its wafer's full SRAM bandwidth and compute, one
    layer after another (their roofline times summed, no kernel launches)."""
    return rooflines_s(decode_operations, wafer_compute_flops_per_s, memory_bandwidth_bytes_per_s)


@formula(kind=KIND, workload="inference")
def wafer_decode_fabric_s(wafer_fabric_per_layer_s, model):
    """The fabric pipeline of a decode step: every layer's chain of mesh crossings."""
    return model.num_layers * wafer_fabric_per_layer_s


@formula(kind=KIND, workload="inference")
def wafer_resident_decode_s(wafer_decode_layers_s, wafer_decode_fabric_s, wafer_hops_s):
    """One decode step with the weights in SRAM: layers + fabric + wafer-to-wafer hops."""
    return wafer_decode_layers_s + wafer_decode_fabric_s + wafer_hops_s


@formula("decode_step_s", kind=KIND, workload="inference", family="dense")
def wafer_decode_step_s(wafer_resident_decode_s, wafer_weight_stream_s, step_overhead_s):
    """One decode step: the on-wafer work, or streaming the weights in when that is slower
    (streaming overlaps compute, so the slower of the two sets the pace)."""
    return np.maximum(wafer_resident_decode_s, wafer_weight_stream_s) + step_overhead_s


@formula("first_decode_step_s", kind=KIND, workload="inference", family="dense")
def wafer_first_decode_step_s(first_decode_operations, wafer_compute_flops_per_s,
                              memory_bandwidth_bytes_per_s, wafer_decode_fabric_s, wafer_hops_s,
                              wafer_weight_stream_s, step_overhead_s):
    """The first decode step (context = the prompt), as ``decode_step_s``."""
    on_wafer = rooflines_s(first_decode_operations, wafer_compute_flops_per_s,
                           memory_bandwidth_bytes_per_s) + wafer_decode_fabric_s + wafer_hops_s
    return np.maximum(on_wafer, wafer_weight_stream_s) + step_overhead_s


@formula("prefill_s", kind=KIND, workload="inference", family="dense")
def wafer_prefill_s(prefill_operations, wafer_compute_flops_per_s, memory_bandwidth_bytes_per_s,
                    wafer_prefill_fabric_per_layer_s, replica_devices, batch, prompt_tokens,
                    model, system, wafer_weight_stream_s, step_overhead_s):
    """Prefill of the batch's prompts: each layer on its wafer in turn (roofline + fabric),
    the prompts' hidden states handed across wafer boundaries, weights streamed if needed."""
    on_wafer = rooflines_s(prefill_operations, wafer_compute_flops_per_s,
                           memory_bandwidth_bytes_per_s) + \
        model.num_layers * wafer_prefill_fabric_per_layer_s
    size = batch * prompt_tokens * model.hidden_size * bytes_per_element(model.activations_dtype)
    on_wafer = on_wafer + wafer_hops(replica_devices, size, system)
    return np.maximum(on_wafer, wafer_weight_stream_s) + step_overhead_s


@formula(kind=KIND, workload="inference", unit="", domain="fraction")
def wafer_fabric_share(wafer_decode_fabric_s, decode_step_s):
    """Fraction of a decode step spent in the fabric pipeline (the dominant term at batch 1)."""
    return wafer_decode_fabric_s / decode_step_s


FORMULAS = (replica_devices, wafer_weights_resident, wafer_weight_bytes_per_device,
            wafer_kv_cache_bytes_per_token_per_device, devices_needed,
            wafer_core_sram_bytes, wafer_cores, wafer_fabric_hop_s,
            wafer_fabric_traversals_per_layer, wafer_fabric_per_layer_s,
            wafer_prefill_fabric_per_layer_s, wafer_compute_flops_per_s, wafer_hops_s,
            wafer_weight_stream_s,
            wafer_decode_layers_s, wafer_decode_fabric_s, wafer_resident_decode_s,
            wafer_decode_step_s, wafer_first_decode_step_s, wafer_prefill_s, wafer_fabric_share)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
