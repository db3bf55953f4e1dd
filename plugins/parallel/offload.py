"""Offload: weights kept in host DRAM or on NVMe and streamed to the device layer by layer, and in
training the optimizer state and gradients (and with ZeRO-3 the weights) kept off the device,
ZeRO-Infinity style (Rajbhandari et al. 2021, arXiv:2104.07857).

Every formula here needs the plan feature ``offload-host`` or ``offload-nvme``
(``Plan(offload=...)``, ``--offload host|nvme``): without it nothing changes.

**Inference.** Per pass (the prefill, each decode step) a device runs its ``L`` layers. The
memory left after the KV cache, the activations and the weights outside the layers
(embeddings, LM head) holds ``S`` layers' worth of weights. If ``S >= L`` every layer stays
resident and nothing is streamed. Otherwise ``k`` of those slots are prefetch buffers and the
other ``r = S - k`` layers stay resident; the remaining ``n = L - r`` layers cross the host
link on every pass, each taking ``load = latency + bytes / bandwidth``. With prefetch the load of
layer ``i+1`` overlaps the compute of layer ``i``; a buffer is busy from the start of its load
until its layer's compute ends (``load + c``, ``c`` the per-layer compute), so ``k`` buffers
deliver a layer every ``(load + c) / k`` at best, the link one every ``bytes / bandwidth``.
Streamed layers therefore go at the period ``p = max(c, bytes / bandwidth, (load + c) / k)``
at best. The pass takes the longest chain of events it must contain: the compute (the first
load, then every streamed layer: ``max(L·c, load + n·c)``), the link (``load + (n - 1)·bytes /
bandwidth + c``) and the buffer refills (``ceil(n / k)`` loads in sequence). When the loads
keep up that is the compute plus the exposed fill latency; when they do not, the link (or
the buffers) sets the pace, and ``offload_link_bound`` says so. Without prefetch, groups of
``k`` layers are loaded (one latency each, transfers back to back) and then computed.

That is essay 002's example (``/shared/seeds/002``): 100 layers of 10 ms, 40 ms to fetch a
layer, room for 5: pipelined 40 ms + 100 x 10 ms = 1.04 s; without pipelining 20 groups of
(40 ms + 5 x 10 ms) = 1.8 s (tests/test_offload.py reproduces both).

The buffer count ``k`` hides the fetch latency: one layer computes while the next
``ceil(latency / c)`` fetches are in flight, and at least 2 (double buffering, as DeepSpeed
ZeRO-Inference and FlexGen prefetch one layer ahead); sized on the first decode step (one
token per sequence: the steady state of generation), never more than the room or the layers.
Bandwidth does not enter it: when the link is the bottleneck more buffers do not help. Each
device is assumed to have its own host link (one PCIe x16 slot per GPU).

**Training** (ZeRO-Offload / ZeRO-Infinity). The fp32 master weights, momentum and variance
live in host memory (or on NVMe) and the Adam step runs on the host CPU; the device keeps a
one-layer gradient bucket instead of all its gradients, and, with ZeRO-3, two gathered layers
instead of its weight shard. Per step each device sends its 16-bit gradient shard to the host
and receives the updated 16-bit weights; with ZeRO-3 it also fetches its weight shard for the
forward and the backward pass of every micro-batch. That traffic overlaps the step's compute;
what sticks out adds to the step (``offload_exposed_s``).
"""

from __future__ import annotations

import numpy as np

from ridgeline.plugin import ScenarioError, bytes_per_element, formula, hookimpl, maximum, where

TIERS = ("offload-host", "offload-nvme")

#: Sequential read and write rates of the NVMe behind one device: one data-center PCIe Gen4 x4
#: SSD, such as the Samsung PM1733, specified at up to 7,000 MB/s sequential read and 3,800 MB/s
#: sequential write (Samsung's PM1733 data sheet). A server with fewer drives than devices
#: shares them: give the per-device share with --set.
NVME_READ_BANDWIDTH_BYTES_PER_S = 7.0e9
NVME_WRITE_BANDWIDTH_BYTES_PER_S = 3.8e9

#: Time before the first byte of an NVMe read arrives: the order of a flash page read plus the
#: NVMe stack; data-center SSD datasheets quote typical 4 KiB random-read latencies of tens to
#: about a hundred microseconds. It matters only when layers are small.
NVME_ACCESS_LATENCY_S = 100e-6

#: Host DRAM bandwidth one device's CPU Adam step can use: an 8-channel DDR5-4800 socket peaks
#: at 8 x 38.4 = 307 GB/s and serves the four GPUs of its half of an 8-GPU server (77 GB/s
#: each); streaming kernels on CPUs reach about two thirds of peak, so 50 GB/s.
HOST_MEMORY_BANDWIDTH_BYTES_PER_S = 50e9

#: Fewest prefetch buffers when streaming: one layer computing while the next one arrives.
MIN_BUFFER_LAYERS = 2.0

#: Bytes per parameter one mixed-precision Adam step moves: it reads the fp32 master weight,
#: momentum and variance and the 16-bit gradient, and writes the first three and the 16-bit
#: weight (the same count as the device-side ``optimizer_step_s``).
ADAM_BYTES_PER_PARAM = 28.0

#: Bytes per parameter of optimizer state (fp32 master, momentum, variance) that an NVMe tier
#: reads and writes back every step.
OPTIMIZER_STATE_BYTES_PER_PARAM = 12.0

#: 16-bit gradients and weights crossing the host link, bytes per parameter.
HALF_BYTES = 2.0


def _bounds(compute_s, layers, streamed_layers, transfer_s, latency_s, buffer_layers):
    """``(compute_bound_s, stream_bound_s)``: the lengths of the chains of events every
    schedule of the pass contains.

    Compute: every layer computes, and the first streamed layer cannot start before its load
    ends (``max(L·c, load + n·c)``). Stream: the first load, then the other transfers back to
    back on the link and the last layer's compute (``load + (n-1)·t + c``); and buffer refills:
    streamed layer ``w·k + 1`` waits for the buffer of layer ``(w-1)·k + 1``, so it arrives
    after ``w + 1`` loads and ``w`` computes, and the layers after it follow at the pace of
    compute or of the link.
    """
    per_layer_s = compute_s / layers
    load_s = latency_s + transfer_s
    n, k = streamed_layers, np.maximum(buffer_layers, 1.0)
    compute_bound_s = np.maximum(layers * per_layer_s, load_s + n * per_layer_s)
    link_s = load_s + (n - 1.0) * transfer_s + per_layer_s
    waves = np.floor(np.maximum(n - 1.0, 0.0) / k)
    tail = n - waves * k  # streamed layers from the last wave's first one on
    refill_s = (waves + 1.0) * load_s + waves * per_layer_s + np.maximum(
        tail * per_layer_s, (tail - 1.0) * transfer_s + per_layer_s)
    return compute_bound_s, np.maximum(link_s, refill_s)


def streamed_pass_s(compute_s, layers, streamed_layers, transfer_s, latency_s, buffer_layers):
    """Time of one pass over ``layers`` layers of which ``streamed_layers`` are fetched, with
    prefetch overlapped against compute: the longest chain of events the pass must contain
    (compute, link, buffer refills; see :func:`_bounds`).

    Like a roofline it is a bound that no schedule beats, reached when one resource dominates:
    essay 002's 1.04 s is 40 ms for the first load, then 100 x 10 ms.

    Args:
        compute_s: the pass's time with every layer resident, spread evenly over the layers.
        layers: layers the device runs in the pass.
        streamed_layers: layers fetched over the link during the pass (0 to ``layers``).
        transfer_s: one layer's bytes / link bandwidth.
        latency_s: time before a fetch's first byte arrives.
        buffer_layers: prefetch buffers (layers in flight at once).

    With nothing streamed it is ``compute_s``; it is never less.
    """
    compute_bound_s, stream_bound_s = _bounds(compute_s, layers, streamed_layers, transfer_s,
                                              latency_s, buffer_layers)
    return where(streamed_layers > 0, np.maximum(compute_bound_s, stream_bound_s), compute_s)


def unpipelined_pass_s(compute_s, streamed_layers, transfer_s, latency_s, buffer_layers):
    """The same pass without prefetch: groups of ``buffer_layers`` layers are fetched (one
    latency per group, transfers back to back) and only then computed."""
    groups = np.maximum(np.ceil(streamed_layers / np.maximum(buffer_layers, 1.0) - 1e-9), 0.0)
    return compute_s + groups * latency_s + streamed_layers * transfer_s


def link_bound(compute_s, layers, streamed_layers, transfer_s, latency_s, buffer_layers):
    """1.0 when the stream (the link, or buffers waiting on fetches) rather than compute sets
    the pass's time, else 0.0."""
    compute_bound_s, stream_bound_s = _bounds(compute_s, layers, streamed_layers, transfer_s,
                                              latency_s, buffer_layers)
    return where((streamed_layers > 0) & (stream_bound_s > compute_bound_s * (1.0 + 1e-9)),
                  1.0, 0.0)


def prefetch_layers(per_layer_compute_s, latency_s):
    """Buffers that hide the fetch latency: one layer computes while the next
    ``ceil(latency / c)`` fetches are in flight (essay 002: 40 ms / 10 ms + 1 = 5); at least 2
    (double buffering). The link's bandwidth does not enter: when it is the bottleneck more
    buffers do not help, they only take room from resident layers."""
    ahead = np.ceil(latency_s / np.maximum(per_layer_compute_s, 1e-30) - 1e-9)
    return np.maximum(MIN_BUFFER_LAYERS, 1.0 + ahead)


def _per_tier(function, produces=None, *, workload=None, plan=(), unit=None, domain=None,
              tiers=TIERS):
    """The formula once per offload tier (a formula's plan features must all hold, so "host or
    NVMe" is two registrations of one function)."""
    return tuple(formula(produces or function.__name__, workload=workload,
                         plan=(tier, *plan), unit=unit, domain=domain)(function)
                 for tier in tiers)


def _host_link(system):
    link = system.accelerator.links.host
    if link is None:
        raise ScenarioError(f"{system.accelerator.id} has no host link in its registry file "
                            f"([links.host]), so nothing can be streamed from host memory or "
                            f"NVMe; add one (a user registry file with replaces = "
                            f"\"{system.accelerator.id}\") or do not offload")
    return link


# --------------------------------------------------------------------------- the link


def host_link_bandwidth_bytes_per_s(system):
    """Achievable rate of the device's host link (PCIe, NVLink-C2C), one direction: its
    nominal rate x the accelerator's host-link efficiency."""
    return _host_link(system).bandwidth_bytes_per_s * system.eff.host_link


def nvme_read_bandwidth_bytes_per_s():
    """Sequential read rate of the NVMe behind one device: one PCIe Gen4 x4 data-center SSD
    (Samsung PM1733: 7.0 GB/s). Give your own with --set nvme_read_bandwidth_bytes_per_s=..."""
    return NVME_READ_BANDWIDTH_BYTES_PER_S


def nvme_write_bandwidth_bytes_per_s():
    """Sequential write rate of the NVMe behind one device (Samsung PM1733: 3.8 GB/s)."""
    return NVME_WRITE_BANDWIDTH_BYTES_PER_S


def nvme_access_latency_s():
    """Time to the first byte of an NVMe read (order of 100 us: a flash read plus the stack)."""
    return NVME_ACCESS_LATENCY_S


def offload_bandwidth_bytes_per_s_host(host_link_bandwidth_bytes_per_s):
    """Rate at which offloaded state reaches the device from host DRAM: the host link."""
    return host_link_bandwidth_bytes_per_s


def offload_bandwidth_bytes_per_s_nvme(host_link_bandwidth_bytes_per_s,
                                       nvme_read_bandwidth_bytes_per_s):
    """From NVMe the data crosses the drive and then the host link: the slower of the two."""
    return np.minimum(host_link_bandwidth_bytes_per_s, nvme_read_bandwidth_bytes_per_s)


def offload_fetch_latency_s_host(system):
    """Time before a fetch from host DRAM starts delivering: the host link's latency."""
    return _host_link(system).latency_s


def offload_fetch_latency_s_nvme(system, nvme_access_latency_s):
    """From NVMe: the drive's access latency, then the host link's."""
    return _host_link(system).latency_s + nvme_access_latency_s


# --------------------------------------------------------------------------- what is streamed


def offload_layers(layers_per_stage_max):
    """Transformer layers one device runs per pass (its pipeline stage's: the fullest)."""
    return layers_per_stage_max


def weight_bytes_per_layer_per_device(model, plan, non_embedding_params):
    """One layer's weights on one device (tensor-parallel shard): the unit that is streamed."""
    return non_embedding_params * bytes_per_element(model.weights_dtype) / \
        (plan.tp * model.num_layers)


def non_layer_weight_bytes_per_device(weight_bytes, plan, offload_layers,
                                      weight_bytes_per_layer_per_device, pp_shards):
    """Weights outside the layers (embeddings, LM head), which stay on the device: the
    device's share of all weights less its layers."""
    return np.maximum(weight_bytes / (plan.tp * pp_shards)
                      - offload_layers * weight_bytes_per_layer_per_device, 0.0)


def offload_layer_transfer_s(weight_bytes_per_layer_per_device, offload_bandwidth_bytes_per_s):
    """Time one layer's weights occupy the link."""
    return weight_bytes_per_layer_per_device / offload_bandwidth_bytes_per_s


# --------------------------------------------------------------------------- inference


def offload_room_bytes_per_device(usable_memory_bytes, kv_cache_bytes_per_device,
                                  activation_bytes, non_layer_weight_bytes_per_device):
    """Device memory left for layer weights (resident layers and prefetch buffers) after the
    KV cache, the activations and the embeddings and LM head: 0 when those alone overfill
    it (``fits`` is then false, and ``memory_shortfall_bytes`` says by how much)."""
    return maximum(usable_memory_bytes - kv_cache_bytes_per_device - activation_bytes
                   - non_layer_weight_bytes_per_device, 0.0)


def offload_prefetch_layers(first_decode_compute_s, offload_layers, offload_fetch_latency_s,
                            offload_layer_transfer_s):
    """Prefetch buffers wanted: enough to hide the fetch latency, 1 + ceil(latency / c), at
    least 2 (double buffering), sized on the first decode step (one token per sequence) and at
    most the layers. A buffer frees once per layer period, the longer of a layer's compute
    and its transfer: when the link is the slower, a deeper prefetch hides nothing and would
    only take room from resident layers (a smaller batch would then stream more)."""
    period_s = np.maximum(first_decode_compute_s / offload_layers, offload_layer_transfer_s)
    wanted = prefetch_layers(period_s, offload_fetch_latency_s)
    return np.minimum(wanted, offload_layers)


def offload_buffer_layers(offload_room_bytes_per_device, weight_bytes_per_layer_per_device,
                          offload_layers, offload_prefetch_layers):
    """Layers in flight at once: 0 when every layer fits; else the buffers wanted, as far as
    the room allows (at least 1: a layer must be on the device to run)."""
    slots = np.floor(offload_room_bytes_per_device / weight_bytes_per_layer_per_device)
    return where(slots >= offload_layers, 0.0,
                  np.clip(slots, 1.0, np.maximum(offload_prefetch_layers, 1.0)))


def offload_resident_layers(offload_room_bytes_per_device, weight_bytes_per_layer_per_device,
                            offload_layers, offload_buffer_layers):
    """Layers whose weights stay on the device: all of them when they fit, else the room left
    after the prefetch buffers."""
    slots = np.floor(offload_room_bytes_per_device / weight_bytes_per_layer_per_device)
    return np.clip(slots - offload_buffer_layers, 0.0, offload_layers)


def offload_streamed_layers(offload_layers, offload_resident_layers):
    """Layers fetched over the link on every pass (prefill, each decode step)."""
    return offload_layers - offload_resident_layers


def offload_streamed_bytes_per_step_per_device(offload_streamed_layers,
                                               weight_bytes_per_layer_per_device):
    """Weight bytes crossing one device's link per pass (the prefill, each decode step)."""
    return offload_streamed_layers * weight_bytes_per_layer_per_device


def weight_bytes_per_device_streamed(non_layer_weight_bytes_per_device, offload_resident_layers,
                                     offload_buffer_layers, weight_bytes_per_layer_per_device):
    """Weights on one device when streaming: embeddings and LM head, resident layers and the
    prefetch buffers (the rest lives in host memory or on NVMe)."""
    return non_layer_weight_bytes_per_device + \
        (offload_resident_layers + offload_buffer_layers) * weight_bytes_per_layer_per_device


def _pass_s(compute_s, offload_layers, offload_streamed_layers, offload_layer_transfer_s,
            offload_fetch_latency_s, offload_buffer_layers):
    return streamed_pass_s(compute_s, offload_layers, offload_streamed_layers,
                           offload_layer_transfer_s, offload_fetch_latency_s,
                           offload_buffer_layers)


def prefill_s_streamed(prefill_compute_s, prefill_tp_comm_s, prefill_ep_comm_s, pipeline_hop_s,
                       step_overhead_s, offload_layers, offload_streamed_layers,
                       offload_layer_transfer_s, offload_fetch_latency_s, offload_buffer_layers):
    """Prefill with streamed layers: compute and tensor- and expert-parallel communication,
    layer by layer, paced by the slower of that work and the stream (module docstring)."""
    return _pass_s(prefill_compute_s + prefill_tp_comm_s + prefill_ep_comm_s, offload_layers,
                   offload_streamed_layers, offload_layer_transfer_s, offload_fetch_latency_s,
                   offload_buffer_layers) + pipeline_hop_s + step_overhead_s


def decode_step_s_streamed(decode_compute_s, decode_tp_comm_s, decode_ep_comm_s, pipeline_hop_s,
                           step_overhead_s, offload_layers, offload_streamed_layers,
                           offload_layer_transfer_s, offload_fetch_latency_s,
                           offload_buffer_layers):
    """One decode step with streamed layers: every step fetches the non-resident layers again."""
    return _pass_s(decode_compute_s + decode_tp_comm_s + decode_ep_comm_s, offload_layers,
                   offload_streamed_layers, offload_layer_transfer_s, offload_fetch_latency_s,
                   offload_buffer_layers) + pipeline_hop_s + step_overhead_s


def first_decode_step_s_streamed(first_decode_compute_s, decode_tp_comm_s, decode_ep_comm_s,
                                 pipeline_hop_s, step_overhead_s, offload_layers,
                                 offload_streamed_layers, offload_layer_transfer_s,
                                 offload_fetch_latency_s, offload_buffer_layers):
    """The first decode step (context = the prompt) with streamed layers."""
    return _pass_s(first_decode_compute_s + decode_tp_comm_s + decode_ep_comm_s, offload_layers,
                   offload_streamed_layers, offload_layer_transfer_s, offload_fetch_latency_s,
                   offload_buffer_layers) + pipeline_hop_s + step_overhead_s


def decode_step_without_prefetch_s(decode_compute_s, decode_tp_comm_s, decode_ep_comm_s,
                                   pipeline_hop_s, step_overhead_s, offload_streamed_layers,
                                   offload_layer_transfer_s, offload_fetch_latency_s,
                                   offload_buffer_layers):
    """What a decode step would take without prefetch: fetch a group of buffer-many layers,
    compute them, fetch the next group (essay 002's "no pipelining" case)."""
    return unpipelined_pass_s(decode_compute_s + decode_tp_comm_s + decode_ep_comm_s,
                              offload_streamed_layers, offload_layer_transfer_s,
                              offload_fetch_latency_s, offload_buffer_layers) + \
        pipeline_hop_s + step_overhead_s


def offload_link_bound_decode(decode_compute_s, decode_tp_comm_s, decode_ep_comm_s,
                              offload_layers, offload_streamed_layers, offload_layer_transfer_s,
                              offload_fetch_latency_s, offload_buffer_layers):
    """1 when decode steps wait on the host link (streamed layers arrive slower than they
    compute), 0 when the loads keep up or nothing is streamed."""
    return link_bound(decode_compute_s + decode_tp_comm_s + decode_ep_comm_s, offload_layers,
                      offload_streamed_layers, offload_layer_transfer_s, offload_fetch_latency_s,
                      offload_buffer_layers)


def prefill_offload_link_bound(prefill_compute_s, prefill_tp_comm_s, prefill_ep_comm_s,
                               offload_layers, offload_streamed_layers, offload_layer_transfer_s,
                               offload_fetch_latency_s, offload_buffer_layers):
    """1 when the prefill waits on the host link, else 0 (long prompts usually hide it)."""
    return link_bound(prefill_compute_s + prefill_tp_comm_s + prefill_ep_comm_s, offload_layers,
                      offload_streamed_layers, offload_layer_transfer_s, offload_fetch_latency_s,
                      offload_buffer_layers)


def max_batch_streamed(usable_memory_bytes, non_layer_weight_bytes_per_device,
                       weight_bytes_per_layer_per_device, offload_layers,
                       kv_cache_bytes_per_token_per_device, kv_held_tokens,
                       prefill_activation_bytes_per_sequence):
    """Largest batch that fits when streaming as much as possible: the embeddings and LM head
    and two layer buffers stay; the rest of the memory holds KV cache and activations."""
    least_weights = non_layer_weight_bytes_per_device + \
        np.minimum(MIN_BUFFER_LAYERS, offload_layers) * weight_bytes_per_layer_per_device
    per_sequence = kv_cache_bytes_per_token_per_device * kv_held_tokens + \
        prefill_activation_bytes_per_sequence
    return np.maximum(np.floor((usable_memory_bytes - least_weights) / per_sequence), 0.0)


# --------------------------------------------------------------------------- training


def _optimizer_shard_params(params, plan, pp_shards):
    """Parameters whose optimizer state one device owns (ZeRO-1 and up shard it over dp)."""
    return params / (plan.tp * pp_shards * (plan.dp if plan.zero >= 1 else 1))


def optimizer_bytes_per_device_offloaded(plan):
    """Optimizer state (fp32 master, momentum, variance) lives in host memory or on NVMe."""
    return 0.0 * plan.tp


def gradient_bytes_per_device_offloaded(model, plan, params, non_embedding_params, pp_shards):
    """Gradients leave for the host as they are produced: the device keeps a one-layer bucket
    of 16-bit gradients (its tensor-parallel shard), never more than the gradient shard it
    would hold without offload (ZeRO-2 shards that over data parallelism too)."""
    bucket = HALF_BYTES * non_embedding_params / (plan.tp * model.num_layers)
    shard = HALF_BYTES * params / (plan.tp * pp_shards * (plan.dp if plan.zero >= 2 else 1))
    return np.minimum(bucket, shard)


def weight_bytes_per_device_zero3_offloaded(non_layer_weight_bytes_per_device, plan,
                                            weight_bytes_per_layer_per_device, weight_bytes,
                                            pp_shards):
    """ZeRO-3 with the weight shard in host memory: the device keeps its shard of the
    embeddings and LM head and two gathered layers (computing one, prefetching the next) —
    never more than the shard it would hold without offload."""
    held = non_layer_weight_bytes_per_device / plan.dp + \
        MIN_BUFFER_LAYERS * weight_bytes_per_layer_per_device
    return np.minimum(held, weight_bytes / (plan.tp * pp_shards * plan.dp))


def _update_bytes(params, plan, pp_shards):
    """Per step: the device's 16-bit gradient shard out to the host, updated weights back."""
    return 2.0 * HALF_BYTES * _optimizer_shard_params(params, plan, pp_shards)


def _zero3_fetch_bytes(params, plan, model, micro_batches_per_step, pp_shards):
    """With ZeRO-3 the weight shard is fetched for the forward and the backward pass of every
    micro-batch; without it the weights stay on the device."""
    if plan.zero != 3:
        return 0.0 * micro_batches_per_step
    shard = params * bytes_per_element(model.weights_dtype) / (plan.tp * pp_shards * plan.dp)
    return 2.0 * micro_batches_per_step * shard


def offload_link_bytes_per_step_per_device(params, plan, model, micro_batches_per_step,
                                           pp_shards):
    """Bytes crossing one device's host link per step: its 16-bit gradient shard out, the
    updated 16-bit weights back; with ZeRO-3 also its weight shard for the forward and the
    backward pass of every micro-batch."""
    return _update_bytes(params, plan, pp_shards) + \
        _zero3_fetch_bytes(params, plan, model, micro_batches_per_step, pp_shards)


def offload_link_s(params, plan, model, micro_batches_per_step, host_link_bandwidth_bytes_per_s,
                   offload_bandwidth_bytes_per_s, pp_shards):
    """Time one device's host link is busy per step. Gradients and updated weights go to and
    from host DRAM (where the CPU optimizer works) at the host link's rate; ZeRO-3 weight
    fetches come from the offload tier (NVMe: the slower of drive and link)."""
    return _update_bytes(params, plan, pp_shards) / host_link_bandwidth_bytes_per_s + \
        _zero3_fetch_bytes(params, plan, model, micro_batches_per_step, pp_shards) / \
        offload_bandwidth_bytes_per_s


def offload_exposed_s(offload_link_s, micro_batches_per_step, micro_batch_s):
    """Link time not hidden behind the step's forward and backward passes."""
    return np.maximum(offload_link_s - micro_batches_per_step * micro_batch_s, 0.0)


def offload_link_bound_training(offload_link_s, micro_batches_per_step, micro_batch_s):
    """1 when the host link traffic outlasts the step's compute, else 0."""
    return where(offload_link_s > micro_batches_per_step * micro_batch_s, 1.0, 0.0)


def host_memory_bandwidth_bytes_per_s():
    """Host DRAM bandwidth one device's CPU optimizer step can use: half an 8-channel
    DDR5-4800 socket (307 GB/s peak) per four GPUs at about two thirds of peak: 50 GB/s."""
    return HOST_MEMORY_BANDWIDTH_BYTES_PER_S


def optimizer_step_s_host(params, plan, host_memory_bandwidth_bytes_per_s, pp_shards):
    """Adam on the host CPU (ZeRO-Offload's CPU-Adam), memory-bound: 28 bytes per parameter of
    the device's optimizer shard through host DRAM."""
    return ADAM_BYTES_PER_PARAM * _optimizer_shard_params(params, plan, pp_shards) / \
        host_memory_bandwidth_bytes_per_s


def optimizer_step_s_nvme(params, plan, host_memory_bandwidth_bytes_per_s,
                          nvme_read_bandwidth_bytes_per_s, nvme_write_bandwidth_bytes_per_s,
                          pp_shards):
    """Adam on the host CPU with its state on NVMe: the state is read and written back every
    step, overlapped with the update chunk by chunk (ZeRO-Infinity), so the slower of the two."""
    shard = _optimizer_shard_params(params, plan, pp_shards)
    cpu_s = ADAM_BYTES_PER_PARAM * shard / host_memory_bandwidth_bytes_per_s
    nvme_s = OPTIMIZER_STATE_BYTES_PER_PARAM * shard * (
        1.0 / nvme_read_bandwidth_bytes_per_s + 1.0 / nvme_write_bandwidth_bytes_per_s)
    return np.maximum(cpu_s, nvme_s)


def step_s_offloaded(micro_batches_per_step, micro_batch_s, pipeline_bubble_s,
                     gradient_sync_exposed_s, optimizer_step_s, step_overhead_s,
                     offload_exposed_s):
    """One optimizer step with offload: as without, plus host-link traffic the compute does not
    hide (the optimizer step now runs on the host)."""
    return micro_batches_per_step * micro_batch_s + pipeline_bubble_s + \
        gradient_sync_exposed_s + optimizer_step_s + step_overhead_s + offload_exposed_s


FORMULAS = (
    *_per_tier(host_link_bandwidth_bytes_per_s),
    *_per_tier(nvme_read_bandwidth_bytes_per_s, tiers=("offload-nvme",)),
    *_per_tier(nvme_write_bandwidth_bytes_per_s, workload="training", tiers=("offload-nvme",)),
    *_per_tier(nvme_access_latency_s, tiers=("offload-nvme",)),
    *_per_tier(offload_bandwidth_bytes_per_s_host, "offload_bandwidth_bytes_per_s",
               tiers=("offload-host",)),
    *_per_tier(offload_bandwidth_bytes_per_s_nvme, "offload_bandwidth_bytes_per_s",
               tiers=("offload-nvme",)),
    *_per_tier(offload_fetch_latency_s_host, "offload_fetch_latency_s", workload="inference",
               tiers=("offload-host",)),
    *_per_tier(offload_fetch_latency_s_nvme, "offload_fetch_latency_s", workload="inference",
               tiers=("offload-nvme",)),
    *_per_tier(offload_layers, unit="", domain="whole"),
    *_per_tier(weight_bytes_per_layer_per_device),
    *_per_tier(non_layer_weight_bytes_per_device),
    *_per_tier(offload_layer_transfer_s, workload="inference"),
    *_per_tier(offload_room_bytes_per_device, workload="inference"),
    *_per_tier(offload_prefetch_layers, workload="inference", unit="", domain="whole"),
    *_per_tier(offload_buffer_layers, workload="inference", unit="", domain="whole"),
    *_per_tier(offload_resident_layers, workload="inference", unit="", domain="whole"),
    *_per_tier(offload_streamed_layers, workload="inference", unit="", domain="whole"),
    *_per_tier(offload_streamed_bytes_per_step_per_device, workload="inference"),
    *_per_tier(weight_bytes_per_device_streamed, "weight_bytes_per_device",
               workload="inference"),
    *_per_tier(prefill_s_streamed, "prefill_s", workload="inference"),
    *_per_tier(decode_step_s_streamed, "decode_step_s", workload="inference"),
    *_per_tier(first_decode_step_s_streamed, "first_decode_step_s", workload="inference"),
    *_per_tier(decode_step_without_prefetch_s, workload="inference"),
    *_per_tier(offload_link_bound_decode, "offload_link_bound", workload="inference", unit="",
               domain="flag"),
    *_per_tier(prefill_offload_link_bound, workload="inference", unit="", domain="flag"),
    *_per_tier(max_batch_streamed, "max_batch", workload="inference", unit="", domain="whole"),
    *_per_tier(optimizer_bytes_per_device_offloaded, "optimizer_bytes_per_device",
               workload="training"),
    *_per_tier(gradient_bytes_per_device_offloaded, "gradient_bytes_per_device",
               workload="training"),
    *_per_tier(weight_bytes_per_device_zero3_offloaded, "weight_bytes_per_device",
               workload="training", plan=("zero3",)),
    *_per_tier(offload_link_bytes_per_step_per_device, workload="training"),
    *_per_tier(offload_link_s, workload="training"),
    *_per_tier(offload_exposed_s, workload="training"),
    *_per_tier(offload_link_bound_training, "offload_link_bound", workload="training", unit="",
               domain="flag"),
    *_per_tier(host_memory_bandwidth_bytes_per_s, workload="training"),
    *_per_tier(optimizer_step_s_host, "optimizer_step_s", workload="training",
               tiers=("offload-host",)),
    *_per_tier(optimizer_step_s_nvme, "optimizer_step_s", workload="training",
               tiers=("offload-nvme",)),
    *_per_tier(step_s_offloaded, "step_s", workload="training"),
)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
