"""A training step under tensor, pipeline and data parallelism, ZeRO and recomputation.

Per micro-batch, each pipeline stage runs forward, backward (twice the forward's work: the
gradients with respect to activations and to weights) and any recomputation, plus its
tensor-parallel and point-to-point communication. A step runs ``m`` micro-batches through a
``p``-stage pipeline: 1F1B idles ``(p-1)`` micro-batch times, the interleaved schedule with
``v`` chunks per stage ``(p-1)/v`` (Narayanan et al. 2021, sections 2.2.1-2.2.2). Data-parallel
gradient synchronisation overlaps with the last micro-batch's backward pass; only what sticks
out adds to the step. The optimizer step streams its state through memory.
"""

from __future__ import annotations

from ridgeline.plugin import formula, hookimpl, maximum, roofline_s


@formula(workload="training", unit="", domain="count")
def micro_batches_per_step(global_batch, micro_batch_size, plan):
    """Micro-batches each pipeline runs per step: global batch / (dp x micro-batch)."""
    return global_batch / (plan.dp * micro_batch_size)


@formula(workload="training")
def recompute_s(plan):
    """Time recomputing activations per micro-batch (none without recomputation)."""
    return 0.0 * plan.tp


@formula("recompute_s", workload="training", plan="recompute-full")
def recompute_s_full(training_forward_compute_s):
    """Full recomputation: the forward pass again, before the backward."""
    return training_forward_compute_s


@formula("recompute_s", workload="training", plan="recompute-selective")
def recompute_s_selective(training_forward_operations, compute_flops_per_s,
                          memory_bandwidth_bytes_per_s):
    """Selective recomputation: attention scores and values again."""
    return sum(roofline_s(op, compute_flops_per_s, memory_bandwidth_bytes_per_s)
               for op in training_forward_operations if op.name == "attention")


@formula(workload="training")
def micro_batch_s(training_forward_compute_s, recompute_s, training_tp_comm_s,
                  training_pp_comm_s):
    """One micro-batch through one stage: forward + backward (2x forward) + recomputation +
    tensor-parallel and pipeline communication (on the critical path, not overlapped)."""
    return 3.0 * training_forward_compute_s + recompute_s + training_tp_comm_s + \
        training_pp_comm_s


@formula(workload="training")
def pipeline_bubble_s(plan, micro_batch_s):
    """Idle time of a pipeline flush: (p-1)/v micro-batch times."""
    return (plan.pp - 1) / plan.interleave * micro_batch_s


@formula(workload="training")
def gradient_sync_exposed_s(gradient_sync_s, training_forward_compute_s):
    """Gradient synchronisation not hidden behind the last micro-batch's backward pass."""
    return maximum(gradient_sync_s - 2.0 * training_forward_compute_s, 0.0)


@formula(workload="training")
def optimizer_step_s(params, plan, memory_bandwidth_bytes_per_s, pp_shards):
    """Adam update, memory-bound: per parameter it reads fp32 master, momentum, variance and
    the 16-bit gradient and writes the first three and the 16-bit weight (28 bytes); ZeRO-1 and
    up shard it over data parallelism."""
    shard = plan.tp * pp_shards * (plan.dp if plan.zero >= 1 else 1)
    return 28.0 * params / shard / memory_bandwidth_bytes_per_s


@formula(workload="training")
def step_s(micro_batches_per_step, micro_batch_s, pipeline_bubble_s, gradient_sync_exposed_s,
           optimizer_step_s, step_overhead_s):
    """One optimizer step: micro-batches + pipeline bubble + exposed gradient sync + optimizer."""
    return micro_batches_per_step * micro_batch_s + pipeline_bubble_s + \
        gradient_sync_exposed_s + optimizer_step_s + step_overhead_s


FORMULAS = (micro_batches_per_step, recompute_s, recompute_s_full, recompute_s_selective,
            micro_batch_s, pipeline_bubble_s, gradient_sync_exposed_s, optimizer_step_s, step_s)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
