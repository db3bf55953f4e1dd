"""Serving a static batch: time to first token, time per output token, throughput, utilisation.

Definitions embedders rely on:

- ``tpot_s``: one decode step, i.e. the time per output token of one sequence;
- ``ttft_s``: prefill of the prompt plus the first decode step;
- ``e2e_latency_s``: ``ttft_s + (output_tokens - 1) · tpot_s``;
- ``throughput_tokens_per_s``: generated tokens per second across the batch over the whole
  request, prefill included (what a static-batch benchmark reports).
"""

from __future__ import annotations

from ridgeline.plugin import formula, hookimpl, total


@formula(workload="inference", unit="", domain="count")
def batch(workload):
    """Sequences served together."""
    return workload.batch


@formula(workload="inference", unit="", domain="count")
def prompt_tokens(workload):
    """Prompt length of each sequence, in tokens."""
    return workload.prompt_tokens


@formula(workload="inference", unit="", domain="count")
def output_tokens(workload):
    """Tokens generated per sequence."""
    return workload.output_tokens


@formula(workload="inference", unit="", domain="nonnegative")
def decode_context_tokens(prompt_tokens, output_tokens):
    """Average context a decode step attends to over the generation (prompt + half the output):
    attention cost is linear in context, so the average step gives the exact total."""
    return prompt_tokens + output_tokens / 2.0


@formula(workload="inference")
def prefill_s(prefill_compute_s, prefill_tp_comm_s, prefill_ep_comm_s, pipeline_hop_s,
              step_overhead_s):
    """Prefill of the batch's prompts: compute + tensor- and expert-parallel communication +
    pipeline hops."""
    return prefill_compute_s + prefill_tp_comm_s + prefill_ep_comm_s + pipeline_hop_s + \
        step_overhead_s


@formula(workload="inference")
def decode_step_s(decode_compute_s, decode_tp_comm_s, decode_ep_comm_s, pipeline_hop_s,
                  step_overhead_s):
    """One decode step for the whole batch at the average context."""
    return decode_compute_s + decode_tp_comm_s + decode_ep_comm_s + pipeline_hop_s + \
        step_overhead_s


@formula(workload="inference")
def first_decode_step_s(first_decode_compute_s, decode_tp_comm_s, decode_ep_comm_s,
                        pipeline_hop_s, step_overhead_s):
    """The first decode step (context = the prompt)."""
    return first_decode_compute_s + decode_tp_comm_s + decode_ep_comm_s + pipeline_hop_s + \
        step_overhead_s


@formula(workload="inference")
def ttft_s(prefill_s, first_decode_step_s):
    """Time to first token: prefill plus the first decode step."""
    return prefill_s + first_decode_step_s


@formula(workload="inference")
def tpot_s(decode_step_s):
    """Time per output token of one sequence: one decode step."""
    return decode_step_s


@formula(workload="inference")
def e2e_latency_s(ttft_s, tpot_s, output_tokens):
    """Whole request: time to first token, then one step per further token."""
    return ttft_s + (output_tokens - 1) * tpot_s


@formula(workload="inference")
def throughput_tokens_per_s(batch, output_tokens, e2e_latency_s):
    """Generated tokens per second across the batch over the whole request, prefill included."""
    return batch * output_tokens / e2e_latency_s


@formula(workload="inference")
def decode_throughput_tokens_per_s(batch, tpot_s):
    """Generated tokens per second while decoding (prefill excluded)."""
    return batch / tpot_s


@formula(workload="inference")
def tokens_per_s_per_user(tpot_s):
    """Decode speed one user sees."""
    return 1.0 / tpot_s


@formula(workload="inference")
def prefill_flops(prefill_operations, plan):
    """FLOPs of the prefill, all devices together."""
    return total(prefill_operations, "flops") * plan.tp


@formula(workload="inference")
def decode_step_flops(decode_operations, plan):
    """FLOPs of one decode step, all devices together."""
    return total(decode_operations, "flops") * plan.tp


@formula(workload="inference")
def first_decode_step_flops(first_decode_operations, plan):
    """FLOPs of the first decode step (context = the prompt), all devices together."""
    return total(first_decode_operations, "flops") * plan.tp


@formula(workload="inference")
def decode_step_bytes(decode_operations, plan):
    """Bytes one decode step moves through memory, all devices together."""
    return total(decode_operations, "bytes") * plan.tp


@formula(workload="inference", unit="", domain="nonnegative")
def decode_arithmetic_intensity(decode_step_flops, decode_step_bytes):
    """FLOP per byte of a decode step: about the batch size with 16-bit weights, until the
    KV cache dominates (essay 000's "free win until compute-bound")."""
    return decode_step_flops / decode_step_bytes


@formula(workload="inference", unit="", domain="count")
def replica_devices(plan):
    """Devices serving one copy of the model (tp x pp)."""
    return plan.tp * plan.pp


@formula(workload="inference", unit="", domain="fraction")
def mfu(prefill_flops, first_decode_step_flops, decode_step_flops, output_tokens,
        e2e_latency_s, peak_flops_per_s, replica_devices):
    """Model FLOPs utilisation over the request: FLOPs done / (time x peak of every device).

    The FLOPs are those of the steps ``e2e_latency_s`` is made of (the prefill, the first
    decode step at the prompt's context, then ``output_tokens - 1`` steps at the average
    context), each counted as its operations are timed (causal attention, no FLOPs for the
    embedding gather), so the ratio cannot exceed the compute efficiency."""
    done = prefill_flops + first_decode_step_flops + decode_step_flops * (output_tokens - 1)
    return done / (e2e_latency_s * peak_flops_per_s * replica_devices)


@formula(workload="inference", unit="", domain="fraction")
def decode_mfu(decode_step_flops, tpot_s, peak_flops_per_s, replica_devices):
    """FLOPs utilisation while decoding: essay 003's "0.2 % at batch 1"."""
    return decode_step_flops / (tpot_s * peak_flops_per_s * replica_devices)


@formula(workload="inference", unit="", domain="fraction")
def mbu(decode_step_bytes, tpot_s, peak_memory_bandwidth_bytes_per_s, replica_devices):
    """Memory-bandwidth utilisation while decoding: bytes moved per step / (step time x peak
    bandwidth of every device)."""
    return decode_step_bytes / (tpot_s * peak_memory_bandwidth_bytes_per_s * replica_devices)


FORMULAS = (batch, prompt_tokens, output_tokens, decode_context_tokens, prefill_s, decode_step_s,
            first_decode_step_s, ttft_s, tpot_s, e2e_latency_s, throughput_tokens_per_s,
            decode_throughput_tokens_per_s, tokens_per_s_per_user, prefill_flops,
            decode_step_flops, first_decode_step_flops, decode_step_bytes,
            decode_arithmetic_intensity, replica_devices, mfu, decode_mfu, mbu)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
