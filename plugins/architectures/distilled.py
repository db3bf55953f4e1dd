"""The ``distilled`` family, and the teacher's forward-only pass that produces its targets.

A distilled model is a dense transformer (``extends = "dense"``: it inherits every dense
formula) that names its teacher and how many tokens of the teacher's outputs it was trained
on. Those two options are what ``ridgeline distill`` needs to price making it: the teacher
reads every distillation token once, forward only, computing logits at every position (the
token-level targets, as Meta describes for Llama 3.2 1B/3B and NVIDIA for Minitron), and the
student trains on the same tokens.

The ``forward_only_*`` quantities price that teacher pass. They are evaluated on a *training*
scenario of the teacher (its sequence length, micro-batches, plan), so they apply to any
family: every forward-pass formula of the training workload applies unchanged, only the
backward pass, gradient synchronisation and the optimizer step are left out. They are
registered for the training workload of every family because the teacher may be of any
family; a training estimate computes them alongside its other quantities.
"""

from __future__ import annotations

from ridgeline.plugin import Architecture, OptionSpec, formula, hookimpl

DISTILLED = Architecture(
    family="distilled",
    doc="A dense transformer trained on a teacher's token-level targets (knowledge "
        "distillation): every dense formula applies; the options name the teacher preset and "
        "the number of distillation tokens, which `ridgeline distill` uses to price making it.",
    extends="dense",
    options=(
        OptionSpec("teacher", "str", required=True,
                   doc="Preset id of the teacher whose outputs were the training targets "
                       "(llama-3.1-8b)."),
        OptionSpec("distill_tokens", "float",
                   doc="Tokens of teacher targets the student was trained on, where its "
                       "makers say (94e9 for Llama-3.1-Minitron-4B); leave it out when they "
                       "do not."),
    ),
)


@formula(workload="training", features="forward-only")
def forward_only_micro_batch_s(training_forward_compute_s, training_tp_comm_s,
                               training_pp_comm_s, plan):
    """One micro-batch's forward pass through one pipeline stage, nothing kept for a backward.

    The forward compute, the forward share of tensor-parallel communication (2 of the 4
    all-reduces per layer the training step counts; 2 of 6 with full recomputation) and the
    forward send between stages (1 of the 2 point-to-point transfers)."""
    tp_share = 2.0 / 6.0 if plan.recompute == "full" else 2.0 / 4.0
    return training_forward_compute_s + tp_share * training_tp_comm_s + \
        0.5 * training_pp_comm_s


@formula(workload="training", features="forward-only")
def forward_only_step_s(micro_batches_per_step, forward_only_micro_batch_s, plan,
                        step_overhead_s):
    """A global batch through the forward pass only: its micro-batches, plus the pipeline's
    fill and drain ((p-1)/v forward micro-batch times); no gradient sync, no optimizer step."""
    fill = (plan.pp - 1) / plan.interleave
    return (micro_batches_per_step + fill) * forward_only_micro_batch_s + step_overhead_s


@formula(workload="training", features="forward-only")
def forward_only_wall_clock_s(steps, forward_only_step_s):
    """Time to run every training token through the forward pass once (a teacher's targets)."""
    return steps * forward_only_step_s


@formula(workload="training", features="forward-only")
def forward_only_memory_per_device_bytes(weight_bytes_per_device,
                                         training_activation_bytes_per_layer, model, plan,
                                         micro_batch_size, seq_len):
    """What one device holds in a forward-only pass: its weights, one layer's activations of
    one micro-batch (nothing is stored for a backward pass; the layer's training set is an
    upper bound on its working set) and the fp32 logits of the micro-batch (the targets)."""
    logits = 4.0 * micro_batch_size * seq_len * model.vocab_size / plan.tp
    return weight_bytes_per_device + training_activation_bytes_per_layer + logits


@formula(workload="training", features="forward-only", unit="", domain="flag")
def forward_only_fits(forward_only_memory_per_device_bytes, usable_memory_bytes):
    """Whether the forward-only pass fits in each device's usable memory."""
    return forward_only_memory_per_device_bytes <= usable_memory_bytes


@formula(workload="training", features="forward-only", unit="", domain="nonnegative")
def forward_only_device_hours(forward_only_wall_clock_s, training_devices):
    """Device-hours of the forward-only pass over every token."""
    return forward_only_wall_clock_s * training_devices / 3600.0


@formula(workload="training", features="forward-only")
def forward_only_cost_usd(forward_only_device_hours, price_usd_per_hour):
    """Cost of the forward-only pass at the device-hour price."""
    return forward_only_device_hours * price_usd_per_hour


@formula(workload="training", features="forward-only")
def forward_only_energy_j(device_power_w, training_devices, forward_only_wall_clock_s):
    """Energy of the forward-only pass at rated power (TDP), devices only."""
    return device_power_w * training_devices * forward_only_wall_clock_s


FORMULAS = (forward_only_micro_batch_s, forward_only_step_s, forward_only_wall_clock_s,
            forward_only_memory_per_device_bytes, forward_only_fits, forward_only_device_hours,
            forward_only_cost_usd, forward_only_energy_j)


@hookimpl
def ridgeline_register_architectures(register):
    register(DISTILLED)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
