"""Fine-tuning: full, LoRA (Hu et al. 2021) and QLoRA (Dettmers et al. 2023).

Full fine-tuning is training: the training formulas apply unchanged, over the tokens of the
data set (x epochs). The adapter methods freeze the base weights and train, on each chosen
weight matrix ``W`` (``d_in x d_out``) of every layer, a pair ``A`` (``d_in x r``) and ``B``
(``r x d_out``) whose product is added to ``W``'s output (Hu et al. 2021, section 4.1):

- weights: the frozen base (16-bit for LoRA; NF4 for QLoRA) plus the adapters (16-bit);
- gradients and mixed-precision Adam state (fp32 master, momentum, variance) for the adapters
  only: a frozen matrix needs no weight gradient and no optimizer state;
- FLOPs: the forward pass; a backward pass that still carries activation gradients through
  every frozen matrix (one matmul per weight matrix instead of two: 2 FLOPs per weight per
  token, not 4) and through attention (twice its forward, as in training); and the adapters'
  own forward, activation-gradient and weight-gradient matmuls (6 FLOPs per adapter weight);
- activations: as training (a frozen matrix still needs its input saved to pass the gradient
  back, and LoRA saves the same input for ``A``'s gradient), plus the ``r``-wide product
  ``x·A`` of each adapted matrix.

QLoRA stores the base in 4-bit NormalFloat with double quantisation (Dettmers et al. 2023,
section 3): an 8-bit scale per block of 64 weights and one fp32 scale per 256 of those
scales, i.e. 4 + 8/64 + 32/(64·256) = 4.127 bits per weight. Each matmul first dequantises
its weight to bf16 (bitsandbytes writes a bf16 copy, then runs a bf16 matmul), once in the
forward and once in the backward pass (again for a recomputed forward). Its paged optimizer
lets the optimizer state page out to host memory when the device runs short: counted in
device memory unless everything would not fit, and then reported as paged.
"""

from __future__ import annotations

from ridgeline.plugin import bytes_per_element, formula, hookimpl, maximum, where

#: the conditions every adapter method's formula names: more specific than any plan override
#: of the same training quantity (see ``FINETUNE_FEATURES`` in ridgeline.scenario).
ADAPTERS = ("finetune", "adapters", "frozen-base")
QLORA = ADAPTERS + ("finetune-qlora",)
FULL = ("finetune", "finetune-full")

#: bytes per NF4 weight with double-quantised scales (Dettmers et al. 2023, section 3).
NF4_BITS_PER_WEIGHT = 4.0 + 8.0 / 64.0 + 32.0 / (64.0 * 256.0)
NF4_BYTES_PER_WEIGHT = NF4_BITS_PER_WEIGHT / 8.0

#: vector instructions to turn one NF4 weight into bf16: shift and mask the nibble out, look
#: it up in the 16-entry code book, multiply by its block's scale (counted from the
#: arithmetic, as ``DEQUANT_INSTRUCTIONS`` in the roofline plugin).
NF4_DEQUANT_INSTRUCTIONS = 4.0


@formula(workload="training", features=ADAPTERS, unit="", domain="count")
def lora_rank(workload):
    """Rank r of every adapter."""
    return workload.lora_rank


@formula(workload="training", features=ADAPTERS, unit="", domain="count")
def adapted_matrices_per_layer(workload):
    """Weight matrices of each layer that carry an adapter."""
    return len(workload.lora_targets)


@formula(workload="training", features=ADAPTERS, unit="", domain="nonnegative")
def adapter_params_per_layer(model, workload, lora_rank):
    """Adapter weights of one layer: r x (d_in + d_out) for each adapted matrix."""
    shapes = model.matrix_shapes()
    return lora_rank * sum(sum(shapes[name]) for name in workload.lora_targets)


@formula(workload="training", features=ADAPTERS, unit="", domain="nonnegative")
def adapter_params(model, adapter_params_per_layer):
    """Adapter weights of the whole model (every layer carries the same adapters)."""
    return adapter_params_per_layer * model.num_layers


@formula("adapter_params", workload="training", features=FULL, unit="",
         domain="nonnegative")
def adapter_params_full(params):
    """Full fine-tuning trains the weights themselves: no adapters."""
    return 0.0 * params


@formula(workload="training", features=ADAPTERS, unit="", domain="nonnegative")
def trainable_params(adapter_params):
    """Weights the optimizer updates: the adapters only."""
    return adapter_params


@formula("trainable_params", workload="training", features=FULL, unit="", domain="nonnegative")
def trainable_params_full(params):
    """Weights the optimizer updates: all of them."""
    return params


@formula(workload="training", features=ADAPTERS, unit="", domain="fraction")
def trainable_fraction(trainable_params, params, adapter_params):
    """Trainable weights as a fraction of all weights held (base and adapters)."""
    return trainable_params / (params + adapter_params)


@formula("trainable_fraction", workload="training", features=FULL, unit="", domain="fraction")
def trainable_fraction_full(trainable_params, params):
    """Every weight is trained."""
    return trainable_params / params


@formula(workload="training", features=ADAPTERS)
def frozen_weight_bytes(model, params):
    """Bytes of the frozen base weights, in their 16-bit training precision."""
    return params * bytes_per_element(model.weights_dtype)


@formula("frozen_weight_bytes", workload="training", features=QLORA)
def frozen_weight_bytes_nf4(params):
    """Bytes of the frozen base weights in NF4 with double-quantised scales (4.127 bits)."""
    return params * NF4_BYTES_PER_WEIGHT


@formula("frozen_weight_bytes", workload="training", features=FULL)
def frozen_weight_bytes_full(params):
    """Nothing is frozen in full fine-tuning."""
    return 0.0 * params


@formula("weight_bytes", workload="training", features=ADAPTERS)
def weight_bytes_adapters(model, frozen_weight_bytes, adapter_params):
    """Frozen base weights plus the 16-bit adapters."""
    return frozen_weight_bytes + adapter_params * bytes_per_element(model.weights_dtype)


@formula("gradient_bytes_per_device", workload="training", features=ADAPTERS)
def gradient_bytes_per_device_adapters(adapter_params, plan):
    """16-bit gradients of the adapters only (sharded from ZeRO-2 on, as training)."""
    shard = plan.tp * plan.pp * (plan.dp if plan.zero >= 2 else 1)
    return 2.0 * adapter_params / shard


@formula("optimizer_bytes_per_device", workload="training", features=ADAPTERS)
def optimizer_bytes_per_device_adapters(adapter_params, plan):
    """Mixed-precision Adam state of the adapters only: 12 bytes per adapter weight."""
    shard = plan.tp * plan.pp * (plan.dp if plan.zero >= 1 else 1)
    return 12.0 * adapter_params / shard


@formula("optimizer_step_s", workload="training", features=ADAPTERS)
def optimizer_step_s_adapters(adapter_params, plan, memory_bandwidth_bytes_per_s):
    """Adam update of the adapters (28 bytes streamed per adapter weight, as training)."""
    shard = plan.tp * plan.pp * (plan.dp if plan.zero >= 1 else 1)
    return 28.0 * adapter_params / shard / memory_bandwidth_bytes_per_s


@formula("gradient_sync_exposed_s", workload="training", features=ADAPTERS)
def gradient_sync_exposed_s_adapters(gradient_sync_s, adapter_params, params,
                                     training_forward_compute_s):
    """Only the adapters' gradients are synchronised: the full gradient's all-reduce scaled
    by adapter/base weights (its bandwidth term; per-message latency is understated for very
    small adapters), hidden behind the last micro-batch's backward (about one forward)."""
    return maximum(gradient_sync_s * adapter_params / params - training_forward_compute_s, 0.0)


@formula("model_flops_per_token", workload="training", features=ADAPTERS)
def model_flops_per_token_adapters(forward_flops_per_token, attention_flops_per_token_forward,
                                   adapter_params):
    """Forward (weights and attention) + backward through the frozen weights for activation
    gradients only (one more forward's weight FLOPs) + attention's backward (twice its
    forward) + the adapters' forward and both backward matmuls (6 per adapter weight)."""
    return (2.0 * forward_flops_per_token + attention_flops_per_token_forward
            + 6.0 * adapter_params)


@formula(workload="training", features=ADAPTERS, unit="", domain="nonnegative")
def work_per_forward(model_flops_per_token, forward_flops_per_token):
    """A fine-tuning step's FLOPs per token as multiples of a forward pass's (3 for
    training; about 2 with frozen weights)."""
    return model_flops_per_token / forward_flops_per_token


@formula("micro_batch_s", workload="training", features=ADAPTERS)
def micro_batch_s_adapters(training_forward_compute_s, work_per_forward, recompute_s,
                           training_tp_comm_s, training_pp_comm_s):
    """One micro-batch through one stage: the forward's time scaled by the step's work per
    forward (same operations, same achieved rates), plus recomputation and communication."""
    return work_per_forward * training_forward_compute_s + recompute_s + training_tp_comm_s + \
        training_pp_comm_s


@formula(workload="training", features=QLORA)
def qlora_dequant_s(params, plan, system, memory_bandwidth_bytes_per_s, pp_shards):
    """Dequantising the NF4 base weights of one stage to bf16, per micro-batch: once in the
    forward, once in the backward (and once more for a recomputed forward). Each weight is
    read (4.127 bits), converted on the vector units (at half the fp32 FLOP/s peak: one
    instruction per lane per cycle) and written as bf16; the slower of the two bounds."""
    passes = 3.0 if plan.recompute == "full" else 2.0
    weights = params / (plan.tp * pp_shards)
    bytes_s = weights * (NF4_BYTES_PER_WEIGHT + 2.0) / memory_bandwidth_bytes_per_s
    vector = system.accelerator.peak_flops_per_s.get("fp32")
    convert_s = weights * NF4_DEQUANT_INSTRUCTIONS / (vector / 2.0) if vector else 0.0 * bytes_s
    return passes * maximum(bytes_s, convert_s)


@formula("micro_batch_s", workload="training", features=QLORA)
def micro_batch_s_qlora(training_forward_compute_s, work_per_forward, recompute_s,
                        training_tp_comm_s, training_pp_comm_s, qlora_dequant_s):
    """As LoRA, plus dequantising the base weights for each matmul pass."""
    return work_per_forward * training_forward_compute_s + recompute_s + training_tp_comm_s + \
        training_pp_comm_s + qlora_dequant_s


@formula(workload="training", features=ADAPTERS)
def adapter_activation_bytes(model, plan, workload, lora_rank, in_flight_micro_batches,
                             micro_batch_size, seq_len, layers_per_stage_max):
    """The r-wide products x·A that each adapted matrix saves for its backward pass, on the
    busiest stage (its layers x micro-batches in flight)."""
    layers = layers_per_stage_max
    per_token = len(workload.lora_targets) * lora_rank * bytes_per_element(
        model.activations_dtype)
    return per_token * layers * in_flight_micro_batches * micro_batch_size * seq_len


@formula(workload="training", features=ADAPTERS)
def device_state_bytes(weight_bytes_per_device, gradient_bytes_per_device,
                       optimizer_bytes_per_device, activation_bytes, adapter_activation_bytes):
    """Everything one device would hold with the optimizer state on the device."""
    return (weight_bytes_per_device + gradient_bytes_per_device + optimizer_bytes_per_device
            + activation_bytes + adapter_activation_bytes)


@formula("memory_per_device_bytes", workload="training", features=ADAPTERS)
def memory_per_device_bytes_adapters(device_state_bytes):
    """Frozen weights + adapters + their gradients and optimizer state + activations."""
    return device_state_bytes


@formula(workload="training", features=QLORA, unit="", domain="flag")
def optimizer_paged(device_state_bytes, optimizer_bytes_per_device, usable_memory_bytes):
    """Whether the paged optimizer moves its state to host memory: only when everything
    would not fit on the device but would without the optimizer state."""
    return (device_state_bytes > usable_memory_bytes) & \
        (device_state_bytes - optimizer_bytes_per_device <= usable_memory_bytes)


@formula("memory_per_device_bytes", workload="training", features=QLORA)
def memory_per_device_bytes_qlora(device_state_bytes, optimizer_bytes_per_device,
                                  optimizer_paged):
    """As LoRA, less the optimizer state when it pages out to host memory."""
    return where(optimizer_paged, device_state_bytes - optimizer_bytes_per_device,
                 device_state_bytes)


FORMULAS = (lora_rank, adapted_matrices_per_layer, adapter_params_per_layer, adapter_params,
            adapter_params_full, trainable_params, trainable_params_full, trainable_fraction,
            trainable_fraction_full, frozen_weight_bytes, frozen_weight_bytes_nf4,
            frozen_weight_bytes_full, weight_bytes_adapters, gradient_bytes_per_device_adapters,
            optimizer_bytes_per_device_adapters, optimizer_step_s_adapters,
            gradient_sync_exposed_s_adapters, model_flops_per_token_adapters, work_per_forward,
            micro_batch_s_adapters, qlora_dequant_s, micro_batch_s_qlora,
            adapter_activation_bytes, device_state_bytes, memory_per_device_bytes_adapters,
            optimizer_paged, memory_per_device_bytes_qlora)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
