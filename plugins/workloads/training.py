"""Training: step time, throughput, utilisation (MFU and HFU), wall-clock.

MFU = model FLOPs per second / peak FLOP/s of all devices, as PaLM (Chowdhery et al. 2022,
Appendix B) defines it, with the model FLOPs counted as the step time counts the work: per
token, 3 x (2 per multiply-add of every weight matrix the token passes through, the LM head
included and the embedding look-up, a gather, excluded; plus causal attention over the
``(T + 1) / 2`` tokens a token attends to on average). PaLM's ``6·N + 12·L·H·Q·T`` counts every
parameter (the embedding table too) and the full attention square, which the step time never
charges: at long sequences or large vocabularies it gave utilisations above 1. HFU adds the
FLOPs recomputed. Every FLOP in either numerator is one the step time charges at the
achievable rate (peak x compute efficiency), so MFU <= HFU <= the compute efficiency.
"""

from __future__ import annotations

from ridgeline.plugin import ceil, formula, hookimpl


@formula(workload="training", unit="", domain="count")
def seq_len(workload):
    """Sequence length in tokens."""
    return workload.seq_len


@formula(workload="training", unit="", domain="nonnegative")
def seq_len_for_flops(seq_len):
    """Context length the attention FLOPs are counted over (the training sequence)."""
    return seq_len


@formula(workload="training", unit="", domain="count")
def global_batch(workload):
    """Sequences per optimizer step, across all data-parallel replicas."""
    return workload.global_batch


@formula(workload="training", unit="", domain="nonnegative")
def training_tokens(workload):
    """Tokens to train on."""
    return workload.tokens


@formula(workload="training", unit="", domain="count")
def micro_batch_size(plan):
    """Sequences per micro-batch."""
    return plan.micro_batch


@formula(workload="training", unit="", domain="count")
def tokens_per_step(global_batch, seq_len):
    """Tokens per optimizer step."""
    return global_batch * seq_len


@formula(workload="training", unit="", domain="count")
def steps(training_tokens, tokens_per_step):
    """Optimizer steps to see every training token."""
    return ceil(training_tokens / tokens_per_step)


@formula(workload="training")
def model_flops_per_token(forward_flops_per_token):
    """Model FLOPs per training token: forward + backward (twice the forward), i.e. 6 per
    multiply-add of the weight matrices a token uses plus 3 x causal attention."""
    return 3.0 * forward_flops_per_token


@formula(workload="training")
def model_flops_per_step(model_flops_per_token, tokens_per_step):
    """Model FLOPs of one step (forward and backward, no recomputation)."""
    return model_flops_per_token * tokens_per_step


@formula(workload="training")
def recompute_flops_per_token(plan):
    """FLOPs recomputed per token (none without activation recomputation)."""
    return 0.0 * plan.tp


@formula("recompute_flops_per_token", workload="training", plan="recompute-full")
def recompute_flops_per_token_full(forward_flops_per_token):
    """Full recomputation repeats the whole forward pass."""
    return forward_flops_per_token


@formula("recompute_flops_per_token", workload="training", plan="recompute-selective")
def recompute_flops_per_token_selective(attention_flops_per_token_forward):
    """Selective recomputation repeats only attention scores and values (causal, as the
    forward pass counts them)."""
    return attention_flops_per_token_forward


@formula(workload="training")
def hardware_flops_per_step(model_flops_per_step, recompute_flops_per_token, tokens_per_step):
    """FLOPs the hardware executes per step: model FLOPs plus recomputation."""
    return model_flops_per_step + recompute_flops_per_token * tokens_per_step


@formula(workload="training")
def tokens_per_s(tokens_per_step, step_s):
    """Training throughput in tokens per second."""
    return tokens_per_step / step_s


@formula(workload="training", unit="", domain="count")
def training_devices(plan):
    """Devices the plan uses (tp x pp x dp)."""
    return plan.tp * plan.pp * plan.dp


@formula(workload="training", unit="", domain="fraction")
def mfu(model_flops_per_step, step_s, peak_flops_per_s, training_devices):
    """Model FLOPs utilisation: model FLOPs per second / peak of all devices."""
    return model_flops_per_step / (step_s * peak_flops_per_s * training_devices)


@formula(workload="training", unit="", domain="fraction")
def hfu(hardware_flops_per_step, step_s, peak_flops_per_s, training_devices):
    """Hardware FLOPs utilisation: model and recomputed FLOPs per second / peak of all
    devices."""
    return hardware_flops_per_step / (step_s * peak_flops_per_s * training_devices)


@formula(workload="training")
def wall_clock_s(steps, step_s):
    """Time to train on every token."""
    return steps * step_s


FORMULAS = (seq_len, seq_len_for_flops, global_batch, training_tokens, micro_batch_size,
            tokens_per_step, steps, model_flops_per_token, model_flops_per_step,
            recompute_flops_per_token, recompute_flops_per_token_full,
            recompute_flops_per_token_selective, hardware_flops_per_step, tokens_per_s,
            training_devices, mfu, hfu, wall_clock_s)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
