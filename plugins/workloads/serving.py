"""Serving under traffic: the steady state of an engine with in-flight batching.

The engine (vLLM, SGLang, TensorRT-LLM) keeps ``B`` sequences in flight per model replica.
Every iteration each decoding sequence adds one token; prompts are prefilled in chunks that
share an iteration with the decodes, up to ``max_tokens`` tokens per iteration. The formulas
here turn the per-operation tables every architecture family already provides (the decode
step at batch ``B`` and the prefill of ``B`` prompts) into that steady state:

- ``B`` is bounded by the scheduler's ``max_sequences``, by the KV cache (its capacity in
  tokens, allocated in blocks, over the tokens each sequence holds) and by the token budget
  (each decoded token brings ``prompt/output`` prompt tokens to prefill);
- an iteration either decodes only, or decodes and prefills a chunk of the budget left
  (first-come-first-served chunking). In a mixed iteration the chunk's tokens go through the
  same weight matrices as the decodes, so the weights are read once: the two tables merge
  operation by operation before the roofline (see :func:`merge_tables`);
- TPOT is the mean iteration time a decoding sequence sees; TTFT is the wait for the prefill
  chunks ahead, the chunks of the prompt itself, and under Poisson arrivals the wait for a
  free slot; throughput follows from Little's law, ``B / e2e`` requests per second.

Loads other than a fixed number in flight (a Poisson rate, users who think) and latency
targets need the curve of the deployment over concurrency: it is the same estimate at a grid
of concurrencies, evaluated in one vectorised pass (:func:`serving_curve`).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, NamedTuple

import attrs
import numpy as np

from ridgeline.plugin import (Scenario, ScenarioError, bytes_per_element, ceil, estimate, floor,
                              formula, held_positions, hookimpl, maximum, minimum, operations_time_s, plain,
                              rows, table, total, where)

SERVING = "serving"

# ---------------------------------------------------------------- the scheduler's limits


@formula(workload="inference", features=SERVING, unit="", domain="count")
def scheduler_max_sequences(workload):
    """Sequences in flight per replica, at most (max_num_seqs / max_batch_size)."""
    return float(workload.max_sequences)


@formula(workload="inference", features=SERVING, unit="", domain="count")
def scheduler_max_tokens(workload):
    """Tokens per iteration, at most: decode tokens and prefill chunks together."""
    return float(workload.max_tokens)


@formula(workload="inference", features=SERVING, unit="", domain="count")
def kv_block_tokens(workload):
    """Tokens per KV-cache block: the cache is allocated a block at a time."""
    return float(workload.block_tokens)


@formula(workload="inference", features=SERVING, unit="", domain="count")
def replicas(system, plan):
    """Copies of the model the deployment runs: its devices over tp x pp."""
    return float(system.devices // (plan.tp * plan.pp))


@formula("activation_bytes", workload="inference", features=SERVING)
def serving_activation_bytes(prefill_activation_bytes_per_token, scheduler_max_tokens,
                             scheduler_max_sequences, model, plan):
    """Activation workspace one device reserves: the live tensors of a full iteration
    (``max_tokens`` tokens through one layer at a time) and the fp32 logits of a full
    decode batch (``max_sequences`` rows of the vocabulary shard)."""
    return prefill_activation_bytes_per_token * scheduler_max_tokens + \
        4.0 * model.vocab_size / plan.tp * scheduler_max_sequences


@formula(workload="inference", features=SERVING)
def kv_cache_room_bytes_per_device(usable_memory_bytes, weight_bytes_per_device,
                                   activation_bytes):
    """Memory left for the KV cache on one device at the usable fraction: what the weights
    and the activation workspace leave (0 when they alone do not fit)."""
    return maximum(usable_memory_bytes - weight_bytes_per_device - activation_bytes, 0.0)


@formula(workload="inference", features=SERVING, unit="", domain="whole")
def kv_cache_capacity_tokens(kv_cache_room_bytes_per_device, kv_cache_bytes_per_token_per_device,
                             kv_block_tokens):
    """Tokens of context one replica's KV cache holds, in whole blocks."""
    blocks = floor(kv_cache_room_bytes_per_device / kv_cache_bytes_per_token_per_device
                   / kv_block_tokens)
    return blocks * kv_block_tokens


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def kv_tokens_per_sequence(model, workload, prompt_tokens, output_tokens, kv_block_tokens):
    """KV-cache tokens one sequence in flight takes: with ``reserve`` admission the blocks
    for its whole prompt and output, from admission on; ``on-demand``, its mean context over
    its life (the prompt and half the output) and half a block of the last one unfilled.
    Windowed layers keep at most their window of it (averaged over the layers)."""
    if workload.admission == "reserve":
        held = held_positions(model, prompt_tokens + output_tokens)
        return ceil(held / kv_block_tokens) * kv_block_tokens
    return held_positions(model, prompt_tokens + output_tokens / 2.0) + kv_block_tokens / 2.0


@formula(workload="inference", features=SERVING, unit="", domain="whole")
def kv_concurrency_limit(kv_cache_capacity_tokens, kv_tokens_per_sequence, plan):
    """Sequences one micro-batch holds in the KV cache at once: with pipeline parallelism
    ``pp`` micro-batches share the replica's cache (see ``requests_per_s_per_replica``)."""
    return floor(kv_cache_capacity_tokens / plan.pp / kv_tokens_per_sequence)


@formula(workload="inference", features=SERVING, unit="", domain="whole")
def token_budget_concurrency_limit(workload, scheduler_max_tokens, prompt_tokens,
                                   output_tokens):
    """Sequences the token budget sustains: each decoded token brings ``prompt/output`` prompt
    tokens to prefill, and both share the iteration's ``max_tokens``. Without chunked
    prefill a prompt goes whole into one iteration: with ``k`` prompts per iteration the
    decodes may take ``max_tokens - k·prompt`` tokens and the prompts keep up with
    ``k·output`` sequences; the best ``k`` is next to ``max_tokens / (prompt + output)``."""
    if workload.chunked_prefill:
        return floor(scheduler_max_tokens / (1.0 + prompt_tokens / output_tokens))
    best = 0.0 * prompt_tokens
    k0 = floor(scheduler_max_tokens / (prompt_tokens + output_tokens))
    for k in (k0, k0 + 1.0):
        k = maximum(k, 1.0)
        best = maximum(best, minimum(k * output_tokens, scheduler_max_tokens - k * prompt_tokens))
    return floor(best)


@formula(workload="inference", features=SERVING, unit="", domain="whole")
def concurrency_limit(scheduler_max_sequences, kv_concurrency_limit,
                      token_budget_concurrency_limit):
    """Sequences in flight per replica at saturation: the tightest of the scheduler's limit,
    the KV cache and the token budget."""
    return minimum(minimum(scheduler_max_sequences, kv_concurrency_limit),
                   token_budget_concurrency_limit)


# ---------------------------------------------------------------- how many are in flight


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def requested_concurrency_per_replica(concurrency_limit):
    """Sequences each replica is asked to hold: at saturation, as many as it can."""
    return concurrency_limit


@formula("requested_concurrency_per_replica", workload="inference",
         features=(SERVING, "load-concurrency"), unit="", domain="nonnegative")
def requested_concurrency_closed_loop(workload, replicas, plan):
    """A closed loop of ``concurrency`` requests, spread evenly over the replicas and their
    ``pp`` micro-batches."""
    return workload.concurrency / (replicas * plan.pp)


@formula("batch", workload="inference", features=SERVING, unit="", domain="count")
def serving_batch(requested_concurrency_per_replica, concurrency_limit):
    """Sequences in flight per replica, a whole number: what is asked for (under a Poisson
    rate or users, the mean, rounded), up to the limit, and at least one, so that a deployment
    that does not fit is still priced (``fits`` then says so)."""
    return maximum(minimum(floor(requested_concurrency_per_replica + 0.5), concurrency_limit),
                   1.0)


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def queued_requests_per_replica(requested_concurrency_per_replica, batch):
    """Requests of a closed loop that wait for a free slot (beyond the concurrency limit)."""
    return maximum(requested_concurrency_per_replica - batch, 0.0)


@formula("kv_cache_bytes_per_device", workload="inference", features=SERVING)
def serving_kv_cache_bytes_per_device(kv_cache_bytes_per_token_per_device, batch,
                                      kv_tokens_per_sequence, plan):
    """KV cache the sequences in flight hold on one device (every micro-batch's)."""
    return kv_cache_bytes_per_token_per_device * batch * plan.pp * kv_tokens_per_sequence


# ---------------------------------------------------------------- one iteration


def merge_tables(decode_ops, prefill_ops, scale) -> Table:
    """One iteration's operations: the decode table plus ``scale`` times the prefill table.

    An operation present in both, with weights, is one matrix product over the decode
    tokens and the chunk's together: its FLOPs and activation bytes add, its weights are read
    once (the larger of the two reads, for expert layers that touch more experts with more
    tokens). Attention runs as one kernel over the mixed batch: its FLOPs and bytes add.
    """
    prefill = {op[0]: op for op in rows(prefill_ops)}
    merged = []
    for name, flops, weights, activations, kv, count in rows(decode_ops):
        other = prefill.pop(name, None)
        if other is None or other[5] != count:
            merged.append((name, flops, weights, activations, kv, count))
            if other is not None:
                prefill[name] = other
            continue
        other_weights = other[2]
        try:  # plain numbers: a comparison, not a call
            read = weights if weights >= other_weights else other_weights
        except ValueError:
            read = maximum(weights, other_weights)
        merged.append((name, flops + scale * other[1], read, activations + scale * other[3],
                       kv + scale * other[4], count))
    for name, flops, weights, activations, kv, count in prefill.values():
        merged.append((name, scale * flops, weights, scale * activations, scale * kv, count))
    return table(*merged)


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def prefill_tokens_per_iteration(batch, prompt_tokens, output_tokens):
    """Prompt tokens prefilled per iteration on average: each decoded token's share."""
    return batch * prompt_tokens / output_tokens


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def prefill_budget_tokens(workload, scheduler_max_tokens, batch, prompt_tokens):
    """Prompt tokens an iteration can prefill beside its decodes: the rest of the budget,
    or without chunked prefill the whole prompts that fit in it."""
    room = maximum(scheduler_max_tokens - batch, 0.0)
    if workload.chunked_prefill:
        return room
    return floor(room / prompt_tokens) * prompt_tokens


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def prefill_chunk_tokens(workload, prefill_budget_tokens, prompt_tokens,
                         prefill_tokens_per_iteration):
    """Prompt tokens an iteration with a prefill chunk carries: what is waiting (one
    prompt, or more when more than one arrives per iteration; whole prompts without chunked
    prefill), up to the budget the decodes leave (first come, first served, across
    prompts)."""
    waiting = maximum(prompt_tokens, prefill_tokens_per_iteration)
    if not workload.chunked_prefill:
        waiting = ceil(waiting / prompt_tokens) * prompt_tokens
    return maximum(minimum(prefill_budget_tokens, waiting), 1.0)


@formula(workload="inference", features=SERVING, unit="", domain="fraction")
def prefill_iteration_fraction(prefill_tokens_per_iteration, prefill_chunk_tokens):
    """Fraction of iterations that carry a prefill chunk."""
    return minimum(prefill_tokens_per_iteration / prefill_chunk_tokens, 1.0)


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def prefill_budget_utilisation(prefill_tokens_per_iteration, prefill_budget_tokens):
    """Prompt tokens to prefill over the budget the decodes leave: how busy the prefill
    queue is (1 at the token-budget limit)."""
    return prefill_tokens_per_iteration / maximum(prefill_budget_tokens, 1.0)


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def chunk_share_of_prefill(prefill_chunk_tokens, batch, prompt_tokens):
    """A chunk as a fraction of the prefill table (``batch`` whole prompts)."""
    return prefill_chunk_tokens / (batch * prompt_tokens)


@formula(workload="inference", features=SERVING, unit="table")
def mixed_iteration_operations(decode_operations, prefill_operations, chunk_share_of_prefill):
    """An iteration that decodes every sequence and prefills one chunk, per device."""
    return merge_tables(decode_operations, prefill_operations, chunk_share_of_prefill)


@formula(workload="inference", features=SERVING, unit="", domain="fraction")
def paged_kv_bandwidth_fraction():
    """Bandwidth a decode-attention kernel reaches reading a paged KV cache, as a fraction of
    what it reaches on a contiguous one: 0.9. Blocks of 16-32 tokens per head are gathered
    through a block table rather than streamed; FlashInfer's authors report that their
    sparse (paged) attention reaches 90% of the bandwidth of their dense kernels on the same
    problem (github.com/flashinfer-ai/flashinfer, README)."""
    return 0.9


def _operations_time_s(ops, flops_per_s, bytes_per_s, overhead_s, kv_fraction,
                       dequant_s_per_byte, model):
    """Each operation's roofline, the KV cache read at the paged fraction of the bandwidth."""
    return operations_time_s(ops, flops_per_s, bytes_per_s, overhead_s,
                             kv_bytes_per_s=bytes_per_s * kv_fraction,
                             dequant_s_per_byte=dequant_s_per_byte,
                             weight_bytes_per_element=bytes_per_element(model.weights_dtype))


@formula(workload="inference", features=SERVING)
def sampling_s(model, batch, memory_bandwidth_bytes_per_s):
    """Sampling the next token of every decoding sequence: the fp32 logits over the whole
    vocabulary read three times (maximum, normaliser, draw) on each device."""
    return 3.0 * 4.0 * model.vocab_size * batch / memory_bandwidth_bytes_per_s


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def pipeline_pace_factor(plan, pp_shards):
    """How much longer a micro-batch waits for its next pass than its layers take, with
    ``pp`` micro-batches cycling through uneven pipeline stages: the cycle is ``pp`` times
    the fullest stage's time, ``pp / pp_shards`` times the whole model's. 1 with even stages
    (or none)."""
    return plan.pp / pp_shards


@formula(workload="inference", features=SERVING)
def mixed_iteration_s(mixed_iteration_operations, compute_flops_per_s,
                      memory_bandwidth_bytes_per_s, kernel_overhead_s,
                      paged_kv_bandwidth_fraction, decode_tp_comm_s, prefill_tp_comm_s,
                      decode_ep_comm_s, prefill_ep_comm_s, chunk_share_of_prefill,
                      pipeline_hop_s, step_overhead_s, sampling_s, weight_dequant_s_per_byte,
                      model, pipeline_pace_factor):
    """GPU time of an iteration with a prefill chunk: the merged operations' rooflines, the
    decode's communication and the chunk's share of the prefill's, sampling. The layers'
    work is paced by the fullest pipeline stage (``pipeline_pace_factor``)."""
    compute_s = _operations_time_s(mixed_iteration_operations, compute_flops_per_s,
                                   memory_bandwidth_bytes_per_s, kernel_overhead_s,
                                   paged_kv_bandwidth_fraction, weight_dequant_s_per_byte, model)
    comm_s = decode_tp_comm_s + decode_ep_comm_s + \
        chunk_share_of_prefill * (prefill_tp_comm_s + prefill_ep_comm_s)
    return (compute_s + comm_s) * pipeline_pace_factor + pipeline_hop_s + step_overhead_s + \
        sampling_s


@formula(workload="inference", features=SERVING)
def decode_iteration_s(decode_operations, compute_flops_per_s, memory_bandwidth_bytes_per_s,
                       kernel_overhead_s, paged_kv_bandwidth_fraction, decode_tp_comm_s,
                       decode_ep_comm_s, pipeline_hop_s, step_overhead_s, sampling_s,
                       weight_dequant_s_per_byte, model, pipeline_pace_factor):
    """GPU time of an iteration that only decodes: the decode step's rooflines (the KV cache
    paged), its communication, sampling; the layers' work paced by the fullest pipeline
    stage (``pipeline_pace_factor``)."""
    return (_operations_time_s(decode_operations, compute_flops_per_s,
                               memory_bandwidth_bytes_per_s, kernel_overhead_s,
                               paged_kv_bandwidth_fraction, weight_dequant_s_per_byte, model) +
            decode_tp_comm_s + decode_ep_comm_s) * pipeline_pace_factor + pipeline_hop_s + \
        step_overhead_s + sampling_s


@formula(workload="inference", features=SERVING)
def engine_host_s_per_iteration(batch):
    """Host work per iteration: scheduling, preparing inputs and replaying a captured graph
    (a fixed 200 µs), and per-sequence bookkeeping (stop checks, detokenisation, block
    tables: 2 µs each, a few dozen Python operations). Give a measured value with
    ``--set engine_host_s_per_iteration=...``."""
    return 200e-6 + 2e-6 * batch


@formula(workload="inference", features=SERVING)
def iteration_s(prefill_iteration_fraction, mixed_iteration_s, decode_iteration_s,
                engine_host_s_per_iteration):
    """Mean iteration time: mixed and decode-only iterations in their proportions. The host
    prepares the next iteration while the device runs this one (overlapped scheduling, as
    current engines do), so it shows only when it is the longer of the two."""
    device_s = prefill_iteration_fraction * mixed_iteration_s + \
        (1.0 - prefill_iteration_fraction) * decode_iteration_s
    return maximum(device_s, engine_host_s_per_iteration)


# ---------------------------------------------------------------- latency


def _z(percentile: float) -> float:
    return NormalDist().inv_cdf(percentile / 100.0)


def _tail_wait_s(mean_wait_s, wait_probability, percentile):
    """The ``percentile`` of a waiting time whose tail is exponential: it waits with
    ``wait_probability``, and then for an exponential time of mean ``mean / probability``."""
    p = percentile / 100.0
    prob = maximum(wait_probability, 1e-300)
    return maximum(mean_wait_s / prob * np.log(maximum(prob / (1.0 - p), 1.0)), 0.0)


@formula(workload="inference", features=SERVING)
def prefill_wait_s(batch):
    """Wait for the prefill chunks ahead in a closed loop: none. A request is sent as another
    finishes, at an iteration's end, and the next iteration's chunk takes every prompt then
    waiting while they fit in the budget the decodes leave (at saturation the token budget
    bounds the concurrency so that they do)."""
    return 0.0 * batch


def _prefill_queue_s(prefill_budget_utilisation, mixed_iteration_s, batch, prompt_tokens,
                     prefill_chunk_tokens):
    """Mean wait for the prefill chunks ahead (first come, first served) of requests arriving
    at random: a queue served one budget-full chunk per iteration and busy
    ``prefill_budget_utilisation`` of it (M/D/1), never longer than the whole replica's
    prompts ahead."""
    f = minimum(prefill_budget_utilisation, 0.999)
    chunks_ahead = minimum(f / (2.0 * (1.0 - f)),
                           batch * prompt_tokens / prefill_chunk_tokens / 2.0)
    return chunks_ahead * mixed_iteration_s


@formula("prefill_wait_s", workload="inference", features=(SERVING, "load-rate"))
def prefill_wait_poisson_s(prefill_budget_utilisation, mixed_iteration_s, batch, prompt_tokens,
                           prefill_chunk_tokens):
    """Wait for the prefill chunks ahead under Poisson arrivals (M/D/1 on the chunk budget)."""
    return _prefill_queue_s(prefill_budget_utilisation, mixed_iteration_s, batch,
                            prompt_tokens, prefill_chunk_tokens)


@formula("prefill_wait_s", workload="inference", features=(SERVING, "load-users"))
def prefill_wait_users_s(prefill_budget_utilisation, mixed_iteration_s, batch, prompt_tokens,
                         prefill_chunk_tokens):
    """Users send when they finish thinking, at random: as under Poisson arrivals."""
    return _prefill_queue_s(prefill_budget_utilisation, mixed_iteration_s, batch,
                            prompt_tokens, prefill_chunk_tokens)


@formula(workload="inference", features=SERVING)
def prefill_service_s(prompt_tokens, prefill_chunk_tokens, mixed_iteration_s):
    """The prompt's own chunks: the first token comes out of the last one."""
    return ceil(prompt_tokens / prefill_chunk_tokens) * mixed_iteration_s


@formula("prefill_s", workload="inference", features=SERVING)
def serving_prefill_s(prefill_service_s):
    """A prompt's prefill in service: its own chunks (not a static batch of prompts)."""
    return prefill_service_s


@formula(workload="inference", features=SERVING)
def queue_wait_s(queued_requests_per_replica, batch, e2e_service_s):
    """Wait for a free slot: a closed loop beyond the concurrency limit waits for the
    requests ahead of it to finish (``queued / B`` service times)."""
    return queued_requests_per_replica / batch * e2e_service_s


@formula(workload="inference", features=SERVING, unit="", domain="fraction")
def queue_wait_probability(queued_requests_per_replica):
    """Probability that a request waits for a slot (closed loop: all or none)."""
    return where(queued_requests_per_replica > 0, 1.0, 0.0)


@formula(workload="inference", features=SERVING)
def e2e_service_s(prefill_wait_s, prefill_service_s, iteration_s, output_tokens):
    """A request from admission to its last token."""
    return prefill_wait_s + prefill_service_s + (output_tokens - 1.0) * iteration_s


def _overloaded(stable):
    """Refuse a latency that includes a queue growing without bound (one estimate; a sweep
    keeps its points, and ``stable`` says which are overloaded)."""
    if np.ndim(stable) == 0 and not stable:
        raise ScenarioError("the deployment is overloaded: requests arrive faster than its "
                            "replicas complete them at their concurrency limit (utilisation "
                            ">= 1), so the queue and the time to first token grow without "
                            "bound; add replicas or lower the rate")


@formula(workload="inference", features=SERVING)
def iteration_in_progress_s(batch):
    """Wait for the iteration under way when a request arrives: none in a closed loop, where
    a request is sent as another finishes, at an iteration's end."""
    return 0.0 * batch


def _residual_s(f, mixed_s, decode_s):
    """Mean remainder of the iteration under way at a random instant (renewal theory:
    E[T^2] / 2E[T]; a random arrival more often lands in a long mixed iteration)."""
    mean_s = f * mixed_s + (1.0 - f) * decode_s
    return (f * mixed_s ** 2 + (1.0 - f) * decode_s ** 2) / (2.0 * mean_s)


@formula("iteration_in_progress_s", workload="inference", features=(SERVING, "load-rate"))
def iteration_in_progress_poisson_s(prefill_iteration_fraction, mixed_iteration_s,
                                    decode_iteration_s):
    """Wait for the iteration under way when a request arrives: an engine admits only
    between iterations."""
    return _residual_s(prefill_iteration_fraction, mixed_iteration_s, decode_iteration_s)


@formula("iteration_in_progress_s", workload="inference", features=(SERVING, "load-users"))
def iteration_in_progress_users_s(prefill_iteration_fraction, mixed_iteration_s,
                                  decode_iteration_s):
    """Users send when they finish thinking, at random instants of an iteration."""
    return _residual_s(prefill_iteration_fraction, mixed_iteration_s, decode_iteration_s)


@formula(workload="inference", features=SERVING)
def ttft_mean_s(queue_wait_s, iteration_in_progress_s, prefill_wait_s, prefill_service_s,
                stable):
    """Mean time to first token: the wait for a slot, for the iteration under way, for the
    chunks ahead, and the prompt's own chunks."""
    _overloaded(stable)
    return queue_wait_s + iteration_in_progress_s + prefill_wait_s + prefill_service_s


@formula(workload="inference", features=SERVING)
def tpot_mean_s(iteration_s):
    """Mean time per output token: the mean iteration time a decoding sequence sees."""
    return iteration_s


def _ttft_at(percentile, queue_wait_s, queue_wait_probability, prefill_wait_s,
             prefill_budget_utilisation, prefill_service_s, iteration_in_progress_s):
    """Time to first token at ``percentile``: both waits have exponential tails; the
    iteration under way and the prompt's own chunks count at their means."""
    return iteration_in_progress_s + \
        _tail_wait_s(queue_wait_s, queue_wait_probability, percentile) + \
        _tail_wait_s(prefill_wait_s, minimum(prefill_budget_utilisation, 0.999), percentile) + \
        prefill_service_s


@formula("ttft_s", workload="inference", features=SERVING)
def serving_ttft_s(workload, queue_wait_s, queue_wait_probability, prefill_wait_s,
                   prefill_budget_utilisation, prefill_service_s, iteration_in_progress_s,
                   stable):
    """Time to first token at the workload's percentile (the median by default)."""
    _overloaded(stable)
    return _ttft_at(workload.percentile, queue_wait_s, queue_wait_probability, prefill_wait_s,
                    prefill_budget_utilisation, prefill_service_s, iteration_in_progress_s)


@formula("tpot_s", workload="inference", features=SERVING)
def serving_tpot_s(workload, iteration_s, prefill_iteration_fraction, mixed_iteration_s,
                   decode_iteration_s, output_tokens):
    """Time per output token of a request at the workload's percentile: the mean of its
    ``output - 1`` iterations, each mixed with probability ``f`` (a binomial spread about
    the mean iteration)."""
    f = prefill_iteration_fraction
    steps = maximum(output_tokens - 1.0, 1.0)
    spread = abs(mixed_iteration_s - decode_iteration_s) * \
        np.sqrt(maximum(f * (1.0 - f), 0.0) / steps)
    return maximum(iteration_s + _z(workload.percentile) * spread,
                   minimum(mixed_iteration_s, decode_iteration_s))


@formula("e2e_latency_s", workload="inference", features=SERVING)
def serving_e2e_latency_s(ttft_mean_s, tpot_mean_s, output_tokens):
    """Mean time from sending a request to its last token."""
    return ttft_mean_s + (output_tokens - 1.0) * tpot_mean_s


# ---------------------------------------------------------------- throughput and load


@formula(workload="inference", features=SERVING)
def requests_per_s_per_replica(batch, e2e_service_s, plan):
    """Requests each replica completes per second: Little's law over the sequences in flight.

    With pipeline parallelism an engine keeps ``pp`` micro-batches of ``batch`` sequences in
    flight, one in each stage (vLLM's virtual engines, TensorRT-LLM's micro-batches): a
    micro-batch passes through every stage in ``iteration_s`` (the tables hold every layer),
    and the stages work on the others meanwhile."""
    return plan.pp * batch / e2e_service_s


@formula(workload="inference", features=SERVING)
def requests_per_s(requests_per_s_per_replica, replicas):
    """Requests the deployment completes per second."""
    return requests_per_s_per_replica * replicas


@formula("throughput_tokens_per_s", workload="inference", features=SERVING)
def serving_throughput_tokens_per_s(requests_per_s, output_tokens):
    """Output tokens per second of the whole deployment."""
    return requests_per_s * output_tokens


@formula(workload="inference", features=SERVING)
def throughput_tokens_per_s_per_device(throughput_tokens_per_s, system):
    """Output tokens per second per device."""
    return throughput_tokens_per_s / system.devices


@formula("tokens_per_s_per_user", workload="inference", features=SERVING)
def serving_tokens_per_s_per_user(tpot_mean_s):
    """Decode speed one user sees."""
    return 1.0 / tpot_mean_s


@formula(workload="inference", features=SERVING, unit="", domain="nonnegative")
def concurrency(requested_concurrency_per_replica, concurrency_limit,
                queued_requests_per_replica, replicas, stable, plan):
    """Requests in the deployment on average: in flight (the mean, which the iteration's
    tables take rounded) and waiting for a slot."""
    _overloaded(stable)
    in_flight = minimum(requested_concurrency_per_replica, maximum(concurrency_limit, 1.0))
    return (in_flight + queued_requests_per_replica) * replicas * plan.pp


# ---------------------------------------------------------------- utilisation, money, energy


@formula(workload="inference", features=SERVING)
def iteration_flops(decode_step_flops, prefill_flops, output_tokens):
    """FLOPs of a mean iteration, all devices of a replica: the decodes and each decoded
    token's share of a prompt's prefill."""
    return decode_step_flops + prefill_flops / output_tokens


@formula(workload="inference", features=SERVING)
def iteration_bytes(prefill_iteration_fraction, mixed_iteration_operations, decode_operations,
                    plan):
    """Bytes a mean iteration moves through memory, all devices of a replica."""
    f = prefill_iteration_fraction
    return (f * total(mixed_iteration_operations, "bytes")
            + (1.0 - f) * total(decode_operations, "bytes")) * plan.tp


@formula("mfu", workload="inference", features=SERVING, unit="", domain="fraction")
def serving_mfu(iteration_flops, iteration_s, peak_flops_per_s, replica_devices, plan):
    """Model FLOPs utilisation of the busy deployment (``pp`` micro-batches in flight)."""
    return plan.pp * iteration_flops / (iteration_s * peak_flops_per_s * replica_devices)


@formula("mbu", workload="inference", features=SERVING, unit="", domain="fraction")
def serving_mbu(iteration_bytes, iteration_s, peak_memory_bandwidth_bytes_per_s,
                replica_devices, plan):
    """Memory-bandwidth utilisation of the busy deployment (``pp`` micro-batches in flight)."""
    return plan.pp * iteration_bytes / (iteration_s * peak_memory_bandwidth_bytes_per_s
                                        * replica_devices)


@formula("deployment_usd_per_hour", workload="inference", features=SERVING)
def serving_usd_per_hour(price_usd_per_hour, system):
    """Cost of every device of the deployment per hour."""
    return price_usd_per_hour * system.devices


@formula("energy_per_token_j", workload="inference", features=SERVING)
def serving_energy_per_token_j(device_power_w, system, throughput_tokens_per_s):
    """Joules per output token at rated power, every device of the deployment."""
    return device_power_w * system.devices / throughput_tokens_per_s


FORMULAS = (scheduler_max_sequences, scheduler_max_tokens, kv_block_tokens, replicas,
            serving_activation_bytes, kv_cache_room_bytes_per_device, kv_cache_capacity_tokens,
            kv_tokens_per_sequence, kv_concurrency_limit, token_budget_concurrency_limit,
            concurrency_limit, requested_concurrency_per_replica,
            requested_concurrency_closed_loop, serving_batch, queued_requests_per_replica,
            serving_kv_cache_bytes_per_device, prefill_chunk_tokens,
            prefill_tokens_per_iteration, prefill_budget_tokens, prefill_iteration_fraction,
            prefill_budget_utilisation,
            chunk_share_of_prefill,
            mixed_iteration_operations, paged_kv_bandwidth_fraction, sampling_s,
            mixed_iteration_s, decode_iteration_s,
            engine_host_s_per_iteration, iteration_s, prefill_wait_s, prefill_wait_poisson_s,
            prefill_wait_users_s, prefill_service_s,
            serving_prefill_s,
            queue_wait_s, queue_wait_probability, e2e_service_s, iteration_in_progress_s,
            iteration_in_progress_poisson_s, iteration_in_progress_users_s, ttft_mean_s,
            tpot_mean_s,
            serving_ttft_s, serving_tpot_s, serving_e2e_latency_s, requests_per_s_per_replica,
            requests_per_s, serving_throughput_tokens_per_s, throughput_tokens_per_s_per_device,
            serving_tokens_per_s_per_user, concurrency, iteration_flops, iteration_bytes,
            serving_mfu, serving_mbu, serving_usd_per_hour, serving_energy_per_token_j,
            pipeline_pace_factor)


# ---------------------------------------------------------------- the curve over concurrency

CURVE = "serving-curve"

#: concurrencies the curve is evaluated at, geometrically spaced from 1 to the limit.
CURVE_POINTS = 48


class ServingCurve(NamedTuple):
    """The deployment at a grid of concurrencies per replica, each field an array over it."""

    batch: Any
    iteration_s: Any
    tpot_s: Any
    """At the workload's percentile, for a fixed number in flight."""
    e2e_service_s: Any
    prefill_wait_s: Any
    prefill_budget_utilisation: Any
    prefill_service_s: Any
    requests_per_s_per_replica: Any
    prefill_iteration_fraction: Any
    mixed_iteration_s: Any
    decode_iteration_s: Any


_CURVE_QUANTITIES = ("batch", "iteration_s", "tpot_s", "e2e_service_s", "prefill_wait_s",
                     "prefill_budget_utilisation", "prefill_service_s",
                     "requests_per_s_per_replica", "prefill_iteration_fraction",
                     "mixed_iteration_s", "decode_iteration_s")


@formula(workload="inference", features=(SERVING, CURVE), unit="object")
def serving_curve(model, system, plan, workload, concurrency_limit, prompt_tokens,
                  output_tokens, scheduler_max_sequences, scheduler_max_tokens,
                  kv_block_tokens):
    """The same deployment held at a grid of concurrencies (a closed loop), from one to the
    limit, evaluated in one vectorised pass: what a Poisson rate, users and latency targets
    are read from. The grid is the first axis of every field; the scenario's own arrays (a
    sweep's) broadcast along the others."""
    top = np.maximum(np.asarray(concurrency_limit, dtype=float), 1.0)
    steps = np.linspace(0.0, 1.0, CURVE_POINTS).reshape((CURVE_POINTS,) + (1,) * top.ndim)
    grid = np.round(top ** steps)  # geometric from 1 to the limit, the limit itself last
    closed = attrs.evolve(workload, load="concurrency", concurrency=1, ttft_target_s=None,
                          tpot_target_s=None)
    given = {"requested_concurrency_per_replica": grid, "prompt_tokens": prompt_tokens,
             "output_tokens": output_tokens, "scheduler_max_sequences": scheduler_max_sequences,
             "scheduler_max_tokens": scheduler_max_tokens, "kv_block_tokens": kv_block_tokens}
    e = estimate(Scenario(model, system, plan, closed), _CURVE_QUANTITIES, check=False,
                 inputs=given)
    shape = np.broadcast_shapes(grid.shape, *(np.shape(e[q]) for q in _CURVE_QUANTITIES))
    return ServingCurve(*(np.broadcast_to(np.asarray(e[q], dtype=float), shape)
                          for q in _CURVE_QUANTITIES))


def _interp(x, xp, fp):
    """``np.interp(x, xp, fp)`` along the first axis of ``xp`` and ``fp`` (a curve's grid),
    column by column when they have more axes (a sweep's); ``xp`` increases along the grid.
    Plain numbers in, a plain number out."""
    xp, fp = np.asarray(xp, dtype=float), np.asarray(fp, dtype=float)
    if xp.ndim == 1 and fp.ndim == 1:
        return plain(np.interp(x, xp, fp))
    x = np.asarray(x, dtype=float)
    dims = max(xp.ndim, fp.ndim)  # both have the grid first: pad the others at the end
    xp = xp.reshape(xp.shape + (1,) * (dims - xp.ndim))
    fp = fp.reshape(fp.shape + (1,) * (dims - fp.ndim))
    rest = np.broadcast_shapes(xp.shape[1:], fp.shape[1:], x.shape)
    points = max(xp.shape[0], fp.shape[0])
    xp = np.broadcast_to(xp, (points,) + rest)
    fp = np.broadcast_to(fp, (points,) + rest)
    x = np.broadcast_to(x, rest)
    above = np.clip((xp < x).sum(axis=0), 1, points - 1)[None]
    x0, x1 = np.take_along_axis(xp, above - 1, 0)[0], np.take_along_axis(xp, above, 0)[0]
    f0, f1 = np.take_along_axis(fp, above - 1, 0)[0], np.take_along_axis(fp, above, 0)[0]
    span = np.where(x1 > x0, x1 - x0, 1.0)
    t = np.clip(np.where(x1 > x0, (x - x0) / span, 0.0), 0.0, 1.0)
    return f0 + t * (f1 - f0)


@formula(workload="inference", features=(SERVING, "load-rate"))
def arrival_rate_per_s(workload):
    """Requests per second arriving at the deployment (Poisson)."""
    return workload.rate_per_s


@formula(workload="inference", features=(SERVING, "load-rate"), unit="", domain="nonnegative")
def utilisation(arrival_rate_per_s, replicas, serving_curve):
    """Arrivals over what the replicas complete at their concurrency limit (1 or more:
    overloaded, the queue grows without bound)."""
    return arrival_rate_per_s / replicas / serving_curve.requests_per_s_per_replica[-1]


@formula("requested_concurrency_per_replica", workload="inference",
         features=(SERVING, "load-rate"), unit="", domain="nonnegative")
def requested_concurrency_poisson(arrival_rate_per_s, replicas, serving_curve):
    """Sequences in flight under Poisson arrivals: the concurrency whose completion rate
    (Little's law on the curve) equals each replica's share of the arrivals."""
    c = serving_curve
    return _interp(arrival_rate_per_s / replicas, c.requests_per_s_per_replica, c.batch)


def _stable(utilisation):
    return minimum(utilisation, 0.999)


@formula("queue_wait_s", workload="inference", features=(SERVING, "load-rate"))
def queue_wait_poisson_s(utilisation, serving_curve, plan):
    """Mean wait for a free slot under Poisson arrivals: M/D/c with ``c`` the concurrency
    limit, by Sakasegawa's approximation of M/M/c (1977) halved for fixed service times
    (Allen-Cunneen). Near saturation it grows as 1/(1 - utilisation); beyond it the queue
    grows without bound, and the latencies that include it say so (see ``stable``)."""
    c = plan.pp * serving_curve.batch[-1]  # slots of the replica, every micro-batch's
    rho = _stable(utilisation)
    service_s = serving_curve.e2e_service_s[-1]
    return 0.5 * rho ** (np.sqrt(2.0 * (c + 1.0)) - 1.0) / (c * (1.0 - rho)) * service_s


@formula("queue_wait_probability", workload="inference", features=(SERVING, "load-rate"),
         unit="", domain="fraction")
def queue_wait_probability_poisson(utilisation, serving_curve, plan):
    """Probability that an arrival finds every slot busy (Sakasegawa's form)."""
    c = plan.pp * serving_curve.batch[-1]
    return _stable(utilisation) ** np.sqrt(2.0 * (c + 1.0))


@formula("queued_requests_per_replica", workload="inference", features=(SERVING, "load-rate"),
         unit="", domain="nonnegative")
def queued_requests_poisson(arrival_rate_per_s, replicas, queue_wait_s, plan):
    """Requests waiting for a slot, per micro-batch of a replica (Little's law on the queue)."""
    return arrival_rate_per_s / (replicas * plan.pp) * queue_wait_s


@formula("requests_per_s_per_replica", workload="inference", features=(SERVING, "load-rate"))
def requests_per_s_poisson(arrival_rate_per_s, replicas, serving_curve):
    """Requests each replica completes: all that arrive, up to its capacity."""
    return minimum(arrival_rate_per_s / replicas, serving_curve.requests_per_s_per_replica[-1])


@formula("tpot_s", workload="inference", features=(SERVING, "load-rate"))
def tpot_poisson_s(workload, serving_curve, batch):
    """Time per output token at the percentile under Poisson arrivals: the number in flight
    varies (Poisson about its mean, as in M/G/inf), and so does the iteration time."""
    c = serving_curve
    z = _z(workload.percentile)
    busy = minimum(batch + z * np.sqrt(batch), c.batch[-1])
    return maximum(_interp(busy, c.batch, c.iteration_s), _interp(batch, c.batch, c.tpot_s))


@formula(workload="inference", features=(SERVING, "load-users"), unit="", domain="nonnegative")
def users_per_replica(workload, replicas):
    """Users each replica serves."""
    return workload.users / replicas


@formula(workload="inference", features=(SERVING, "load-users"))
def think_time_s(workload):
    """Time a user takes between a response and the next request."""
    return workload.think_time_s


def _users_at(curve, think_time_s, pp):
    """Users a replica holds at each concurrency of the curve: those in flight (in each of
    its ``pp`` micro-batches) and those thinking (each completion starts a think time)."""
    think = np.asarray(think_time_s, dtype=float)
    grid = (-1,) + (1,) * max(think.ndim - curve.batch.ndim + 1, 0)
    return pp * curve.batch.reshape(grid) + \
        curve.requests_per_s_per_replica.reshape(grid) * think


@formula("requested_concurrency_per_replica", workload="inference",
         features=(SERVING, "load-users"), unit="", domain="nonnegative")
def requested_concurrency_users(users_per_replica, think_time_s, serving_curve, plan):
    """Sequences in flight per micro-batch for users who think: the concurrency at which
    in-flight and thinking users add up to the users (beyond the limit, the rest wait for a
    slot)."""
    users = _users_at(serving_curve, think_time_s, plan.pp)
    below = _interp(users_per_replica, users, serving_curve.batch)
    return where(users_per_replica > users[-1],
                 serving_curve.batch[-1] + (users_per_replica - users[-1]) / plan.pp, below)


# ---------------------------------------------------------------- latency targets


@formula(workload="inference", features=(SERVING, CURVE))
def max_rate_within_slo_per_s(workload, serving_curve, replicas, plan):
    """The highest Poisson rate the deployment sustains with TTFT and TPOT within their
    targets at the percentile (0 when even one request at a time misses them)."""
    c = serving_curve
    p = workload.percentile
    rho = minimum(c.requests_per_s_per_replica / c.requests_per_s_per_replica[-1], 0.999)
    slots = plan.pp * c.batch[-1]
    wait = 0.5 * rho ** (np.sqrt(2.0 * (slots + 1.0)) - 1.0) / (slots * (1.0 - rho)) * \
        c.e2e_service_s[-1]
    ttft = _tail_wait_s(wait, rho ** np.sqrt(2.0 * (slots + 1.0)), p) + \
        _tail_wait_s(c.prefill_wait_s, minimum(c.prefill_budget_utilisation, 0.999), p) + \
        c.prefill_service_s + _residual_s(c.prefill_iteration_fraction,
                                          c.mixed_iteration_s, c.decode_iteration_s)
    busy = np.minimum(c.batch + _z(p) * np.sqrt(c.batch), c.batch[-1])
    tpot = np.maximum(_interp(busy, c.batch, c.iteration_s), c.tpot_s)
    ok = np.ones(np.shape(ttft), dtype=bool)
    if workload.ttft_target_s is not None:
        ok &= ttft <= workload.ttft_target_s
    if workload.tpot_target_s is not None:
        ok &= tpot <= workload.tpot_target_s
    # the highest rate below the first concurrency that misses: latency grows with load
    within = np.logical_and.accumulate(ok, axis=0).sum(axis=0)
    rate = np.take_along_axis(c.requests_per_s_per_replica,
                              np.maximum(within - 1, 0)[None], 0)[0]
    return plain(np.where(within > 0, rate, 0.0) * replicas)


@formula(workload="inference", features=(SERVING, CURVE), unit="", domain="flag")
def slo_met(workload, stable, tpot_s, queue_wait_s, queue_wait_probability, prefill_wait_s,
            prefill_budget_utilisation, prefill_service_s, iteration_in_progress_s):
    """1 when TTFT and TPOT at the percentile are within their targets at this load (0 when
    the deployment is overloaded)."""
    ok = stable
    if workload.ttft_target_s is not None:
        ttft = _ttft_at(workload.percentile, queue_wait_s, queue_wait_probability,
                        prefill_wait_s, prefill_budget_utilisation, prefill_service_s,
                        iteration_in_progress_s)
        ok = ok * where(ttft <= workload.ttft_target_s, 1.0, 0.0)
    if workload.tpot_target_s is not None:
        ok = ok * where(tpot_s <= workload.tpot_target_s, 1.0, 0.0)
    return ok


@formula(workload="inference", features=SERVING, unit="", domain="flag")
def stable(requested_concurrency_per_replica):
    """1 when the deployment keeps up with its load (a fixed number in flight always does)."""
    return 1.0 + 0.0 * requested_concurrency_per_replica


@formula("stable", workload="inference", features=(SERVING, "load-rate"), unit="",
         domain="flag")
def stable_poisson(utilisation):
    """1 when arrivals stay below what the replicas complete at their limit."""
    return where(utilisation < 1.0, 1.0, 0.0)


# ---------------------------------------------------------------- the decode pool of a split


DECODE_ONLY = "role-decode"


@formula("prefill_tokens_per_iteration", workload="inference", features=(SERVING, DECODE_ONLY),
         unit="", domain="nonnegative")
def no_prefill_tokens(batch):
    """A decode pool prefills nothing: prompts arrive with their KV cache."""
    return 0.0 * batch


@formula("token_budget_concurrency_limit", workload="inference",
         features=(SERVING, DECODE_ONLY), unit="", domain="whole")
def decode_only_token_limit(scheduler_max_tokens):
    """Every token of a decode pool's iteration is a decode."""
    return scheduler_max_tokens


@formula("prefill_service_s", workload="inference", features=(SERVING, DECODE_ONLY))
def no_prefill_service_s(batch):
    """A decode pool's requests spend no time in prefill there."""
    return 0.0 * batch


@formula("e2e_service_s", workload="inference", features=(SERVING, DECODE_ONLY))
def decode_only_e2e_service_s(iteration_s, output_tokens):
    """A request in a decode pool: the tokens after the first, one per iteration."""
    return maximum(output_tokens - 1.0, 1.0) * iteration_s


@formula("iteration_flops", workload="inference", features=(SERVING, DECODE_ONLY),
         unit="FLOP", domain="nonnegative")
def decode_only_iteration_flops(decode_step_flops):
    """A decode pool's iteration is decodes only: the prompts' prefill FLOPs are spent in
    the prefill pool, and counting them here would put MFU above what the pool computes."""
    return decode_step_flops


# (no prefill tokens: the prefill queue is idle, and its wait is 0 under any load)
DECODE_ONLY_FORMULAS = (no_prefill_tokens, decode_only_token_limit, no_prefill_service_s,
                        decode_only_e2e_service_s, decode_only_iteration_flops)


CURVE_FORMULAS = (serving_curve, arrival_rate_per_s, utilisation, requested_concurrency_poisson,
                  queue_wait_poisson_s, queue_wait_probability_poisson, queued_requests_poisson,
                  requests_per_s_poisson, tpot_poisson_s, users_per_replica, think_time_s,
                  requested_concurrency_users, max_rate_within_slo_per_s, slo_met, stable,
                  stable_poisson)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS + CURVE_FORMULAS + DECODE_ONLY_FORMULAS:
        register(f)
