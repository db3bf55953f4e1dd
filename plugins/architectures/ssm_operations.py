"""What a Mamba mixer does per phase, and the recurrent state that replaces the KV cache.

**Operations** (per token, per layer, on one device: tensor parallelism splits ``d_inner``
and the Mamba-2 heads, as in Mamba-2's own tensor-parallel layout, Dao & Gu 2024 section 8.2;
a multiply-add is 2 FLOPs):

- ``in_proj``, ``x_proj`` and ``dt_proj`` (Mamba-1), ``out_proj``: matrix multiplies,
  ``2 x`` their weights;
- ``conv1d``: the causal depthwise convolution, ``2 x d_conv`` FLOPs per channel;
- Mamba-1 ``selective_scan`` (Gu & Dao 2023, section 3.3 and Algorithm 2): per channel and
  state element, ``exp(dt·A)`` (a multiply and an exponential), ``dt·B·x`` (one multiply,
  ``dt·x`` shared by the state), the recurrence ``h = Ā·h + B̄x`` (a multiply-add) and the
  output ``y = C·h`` (a multiply-add): ``SCAN_FLOPS = 7`` per element, ``O(L·D·N)`` as the paper
  states. The fused kernel keeps the state in SRAM: it reads x, dt, z, B and C and writes y.
- Mamba-2 ``ssd`` (Dao & Gu 2024, section 6, the chunked "SSD algorithm"): with chunks of
  ``Q`` tokens, per token ``2·Q·N`` FLOPs per group for the ``C·Bᵀ`` block (shared by the
  heads of the group), ``2·Q·P`` per head for that block times x, ``2·N·P`` per head for the
  chunk's state and ``2·N·P`` per head for the output from the states passed in: matrix
  multiplies, which is why Mamba-2 trains fast on tensor cores. The chunk is the prompt
  itself when that is shorter. A decode step runs the recurrence instead: ``A`` is one
  scalar per head, so ``SSD_STEP_FLOPS = 5`` per state element (``dt·x·B`` a multiply,
  the recurrence a multiply-add, the output a multiply-add).

**State** (what a sequence keeps between steps, in place of a KV cache): per Mamba layer
``d_inner x d_state`` elements of SSM state plus ``conv_channels x (d_conv - 1)`` elements of
convolution state (the last inputs the convolution needs), in ``kv_dtype`` (what
``transformers``' cache and vLLM's default ``mamba_ssm_cache_dtype = "auto"`` do: the model's
dtype). It does not grow with the context. A decode step reads and writes all of it; a prefill
writes it once. Tensor parallelism splits it with ``d_inner`` (Mamba-2's B and C groups are
replicated when there are fewer groups than devices, as GQA's KV heads are).

**Memory and serving.** ``kv_cache_bytes_per_token`` counts only the attention layers (none in
a pure Mamba model); ``state_bytes_per_sequence`` is added once per sequence to the memory
that holds the batch, so the concurrency a replica sustains is bounded by state plus KV per
sequence, never divided by a per-token cache of zero.
"""

from __future__ import annotations

from typing import NamedTuple

from ridgeline.plugin import (bytes_per_element, concat, floor, formula, hookimpl, maximum,
                              minimum, table)
from ridgeline.plugins.architectures import dense_operations
from ridgeline.plugins.architectures.ssm import SSM_FAMILIES, ssm_shape
from ridgeline.plugins.architectures.ssm_params import mixer_matmul_params

#: FLOPs per channel and state element of one Mamba-1 scan step (see the module docstring).
SCAN_FLOPS = 7.0
#: FLOPs per head dimension and state element of one Mamba-2 recurrent (decode) step.
SSD_STEP_FLOPS = 5.0
#: the serving feature (plugins/workloads/serving.py)
SERVING = "serving"
PURE = ("mamba", "mamba2")


class MixerShard(NamedTuple):
    """What one device holds of a Mamba mixer under tensor parallelism of degree ``tp``."""

    version: int
    hidden: float
    d_inner: float
    state: float
    conv_kernel: float
    dt_rank: float
    head_dim: float
    heads: float
    groups: float
    chunk: float
    conv_channels: float
    w: float
    a: float
    s: float
    """Bytes per element of the weights, activations and state."""

    @classmethod
    def of(cls, model, tp) -> "MixerShard":
        sh = ssm_shape(model)
        d = sh.d_inner / tp
        groups = max(sh.groups / tp, 1.0)  # fewer groups than devices: replicated
        conv = d + 2.0 * groups * sh.state_size if sh.version == 2 else d
        return cls(sh.version, float(model.hidden_size), d, float(sh.state_size),
                   float(sh.conv_kernel), float(sh.dt_rank), float(sh.head_dim),
                   sh.heads / tp, groups, float(sh.chunk_size), conv,
                   bytes_per_element(model.weights_dtype),
                   bytes_per_element(model.activations_dtype),
                   bytes_per_element(model.kv_dtype))

    @property
    def state_elements(self) -> float:
        """SSM and convolution state of one sequence in one layer on the device."""
        return self.d_inner * self.state + self.conv_channels * (self.conv_kernel - 1.0)


def mixer_table(m: MixerShard, layers, sequences, new_tokens, recurrent):
    """The Mamba mixers of one phase on one device.

    Args:
        m: the device's :class:`MixerShard`.
        layers: Mamba layers this device runs in the phase.
        sequences: sequences processed together (number or array).
        new_tokens: tokens per sequence in the phase (the prompt; 1 in decode).
        recurrent: a decode step: the state is read and written; otherwise (prefill,
            training) the chunked or parallel scan runs over the tokens and the final state
            is written once.
    """
    h, d, n, k = m.hidden, m.d_inner, m.state, m.conv_kernel
    w, a, s = m.w, m.a, m.s
    t = sequences * new_tokens
    state_bytes = sequences * m.state_elements * s * (2.0 if recurrent else 1.0)
    conv_state = sequences * m.conv_channels * (k - 1.0) * s * (2.0 if recurrent else 1.0)
    if m.version == 2:
        in_width = 2.0 * d + 2.0 * m.groups * n + m.heads
        if recurrent:
            ssd_flops = t * SSD_STEP_FLOPS * d * n
        else:
            q = minimum(m.chunk, new_tokens)
            ssd_flops = t * (2.0 * q * n * m.groups + m.heads * (2.0 * q * m.head_dim
                                                                 + 4.0 * n * m.head_dim))
        projections = (
            ("in_proj", 2.0 * t * h * in_width, h * in_width * w, t * (h + in_width) * a, 0.0,
             layers),
        )
        scan = ("ssd", ssd_flops, 3.0 * m.heads * w,
                # x, z, dt, B and C in; y out; the gated norm reads y and z, writes its output
                t * (3.0 * d + 2.0 * m.groups * n + m.heads) * a + t * 3.0 * d * a,
                state_bytes - conv_state, layers)
    else:
        r = m.dt_rank
        projections = (
            ("in_proj", 2.0 * t * h * 2.0 * d, h * 2.0 * d * w, t * (h + 2.0 * d) * a, 0.0,
             layers),
            ("x_proj", 2.0 * t * d * (r + 2.0 * n), d * (r + 2.0 * n) * w,
             t * (d + r + 2.0 * n) * a, 0.0, layers),
            ("dt_proj", 2.0 * t * r * d, r * d * w, t * (r + d) * a, 0.0, layers),
        )
        scan = ("selective_scan", t * SCAN_FLOPS * d * n, d * (n + 1.0) * w,
                t * (4.0 * d + 2.0 * n) * a, state_bytes - conv_state, layers)
    c = m.conv_channels
    return table(
        *projections,
        ("conv1d", 2.0 * t * c * k, c * k * w, 2.0 * t * c * a, conv_state, layers),
        scan,
        ("mixer_out_proj", 2.0 * t * d * h, d * h * w, t * (d + h) * a, 0.0, layers),
    )


def scan_flops_per_token(model) -> float:
    """FLOPs of one layer's scan (Mamba-1) or chunked SSD (Mamba-2) per token in a whole-
    sequence forward pass, all devices together."""
    m = MixerShard.of(model, 1)
    if m.version == 2:
        return (2.0 * m.chunk * m.state * m.groups
                + m.heads * (2.0 * m.chunk * m.head_dim + 4.0 * m.state * m.head_dim))
    return SCAN_FLOPS * m.d_inner * m.state


@formula(family=SSM_FAMILIES, unit="object")
def mixer_shard(model, plan):
    """What one device holds of each Mamba mixer under tensor parallelism and the element
    sizes: the constants of every phase's mixer table."""
    return MixerShard.of(model, plan.tp)


@formula(family=SSM_FAMILIES, unit="", domain="whole")
def mamba_layers(model):
    """Layers whose token mixer is a Mamba mixer (all of them in a pure Mamba model)."""
    return float(ssm_shape(model).mamba_layers)


@formula(family=SSM_FAMILIES, unit="", domain="whole")
def attention_layers(model):
    """Layers whose token mixer is attention (none in a pure Mamba model)."""
    return float(ssm_shape(model).attention_layers)


# --------------------------------------------------------------------------- state


@formula(family=SSM_FAMILIES, domain="nonnegative")
def state_bytes_per_sequence(model, mamba_layers):
    """Recurrent state one sequence keeps across all Mamba layers: SSM state (``d_inner x
    d_state``) and convolution state (``conv_channels x (d_conv - 1)``) per layer. It does
    not grow with the context."""
    m = MixerShard.of(model, 1)
    return mamba_layers * m.state_elements * m.s


@formula(family=SSM_FAMILIES, domain="nonnegative")
def state_bytes_per_sequence_per_device(mixer_shard, mamba_layers, plan, pp_shards):
    """Recurrent state of one sequence on one device: layers split by pipeline stages,
    channels by tensor parallelism."""
    return mamba_layers / pp_shards * mixer_shard.state_elements * mixer_shard.s


@formula("state_bytes_per_sequence_per_device", family=SSM_FAMILIES,
         kind=("lpu", "wafer-scale"), workload="inference", domain="nonnegative")
def spread_state_bytes_per_sequence_per_device(state_bytes_per_sequence, replica_devices):
    """Recurrent state of one sequence on one chip or wafer of a system that spreads the
    layers over all its devices itself (SRAM-only chips, wafers): an equal share, as their
    KV cache is."""
    return state_bytes_per_sequence / replica_devices


@formula("kv_cache_bytes_per_token", family=PURE)
def ssm_kv_cache_bytes_per_token(model):
    """A pure Mamba model keeps no per-token cache: 0 (its state is per sequence)."""
    return 0.0


@formula("kv_cache_bytes_per_token_per_device", family=PURE)
def ssm_kv_cache_bytes_per_token_per_device(plan):
    """A pure Mamba model keeps no per-token cache: 0 on every device."""
    return 0.0


@formula("kv_cache_bytes_per_token", family="jamba")
def hybrid_kv_cache_bytes_per_token(model, attention_layers):
    """KV-cache bytes one token of context takes: K and V in the attention layers only."""
    return 2.0 * attention_layers * model.kv_heads * model.head_width * \
        bytes_per_element(model.kv_dtype)


@formula("kv_cache_bytes_per_token_per_device", family="jamba")
def hybrid_kv_cache_bytes_per_token_per_device(model, plan, attention_layers, pp_shards):
    """KV-cache bytes per token of context on one device: the attention layers' K and V,
    heads split by tp (at least one KV head per device), layers by pp."""
    kv_heads = max(model.kv_heads / plan.tp, 1.0)
    return 2.0 * attention_layers / pp_shards * kv_heads * model.head_width * \
        bytes_per_element(model.kv_dtype)


@formula("kv_cache_bytes", family=SSM_FAMILIES, workload="inference")
def ssm_kv_cache_bytes(kv_cache_bytes_per_token, state_bytes_per_sequence, batch,
                       context_tokens):
    """KV cache and recurrent state of the whole batch at full context, all devices."""
    return (kv_cache_bytes_per_token * context_tokens + state_bytes_per_sequence) * batch


@formula("kv_cache_bytes_per_device", family=SSM_FAMILIES, workload="inference")
def ssm_kv_cache_bytes_per_device(kv_cache_bytes_per_token_per_device,
                                  state_bytes_per_sequence_per_device, batch, context_tokens):
    """KV cache (attention layers) and recurrent state (Mamba layers) one device holds at
    full context."""
    return (kv_cache_bytes_per_token_per_device * context_tokens
            + state_bytes_per_sequence_per_device) * batch


@formula("max_batch", family=SSM_FAMILIES, workload="inference", unit="", domain="whole")
def ssm_max_batch(usable_memory_bytes, weight_bytes_per_device,
                  kv_cache_bytes_per_token_per_device, state_bytes_per_sequence_per_device,
                  context_tokens, prefill_activation_bytes_per_sequence):
    """Largest batch whose weights, KV cache, recurrent state and activations fit."""
    per_sequence = (kv_cache_bytes_per_token_per_device * context_tokens
                    + state_bytes_per_sequence_per_device + prefill_activation_bytes_per_sequence)
    room = usable_memory_bytes - weight_bytes_per_device
    return maximum(floor(room / per_sequence), 0.0)


@formula("kv_concurrency_limit", family=SSM_FAMILIES, workload="inference", features=SERVING,
         unit="", domain="whole")
def ssm_kv_concurrency_limit(kv_cache_room_bytes_per_device, kv_cache_bytes_per_token_per_device,
                             kv_tokens_per_sequence, state_bytes_per_sequence_per_device, plan):
    """Sequences one micro-batch holds at once: the room left for caches over what each
    sequence takes (its attention layers' KV cache and its Mamba layers' state), shared by
    the ``pp`` micro-batches."""
    per_sequence = (kv_cache_bytes_per_token_per_device * kv_tokens_per_sequence
                    + state_bytes_per_sequence_per_device)
    return floor(kv_cache_room_bytes_per_device / per_sequence / plan.pp)


@formula("kv_cache_capacity_tokens", family=SSM_FAMILIES, workload="inference",
         features=SERVING, unit="", domain="whole")
def ssm_kv_cache_capacity_tokens(kv_concurrency_limit, kv_tokens_per_sequence, plan):
    """Tokens of context one replica holds: those of the sequences its caches and states
    hold at once (with a recurrent state the bound is on sequences, not tokens)."""
    return floor(kv_concurrency_limit * plan.pp * kv_tokens_per_sequence)


@formula("kv_cache_bytes_per_device", family=SSM_FAMILIES, workload="inference",
         features=SERVING)
def ssm_serving_kv_cache_bytes_per_device(kv_cache_bytes_per_token_per_device,
                                          state_bytes_per_sequence_per_device, batch,
                                          kv_tokens_per_sequence, plan):
    """KV cache and recurrent state the sequences in flight hold on one device (every
    micro-batch's)."""
    return (kv_cache_bytes_per_token_per_device * kv_tokens_per_sequence
            + state_bytes_per_sequence_per_device) * batch * plan.pp


# --------------------------------------------------------------------------- operations


@formula("prefill_attention_operations", family=PURE, workload="inference", unit="table")
def ssm_prefill_mixer_operations(mixer_shard, mamba_layers, batch, prompt_tokens):
    """The Mamba mixers over the prompt (parallel scan or chunked SSD), writing the state."""
    return mixer_table(mixer_shard, mamba_layers, batch, prompt_tokens, False)


@formula("decode_attention_operations", family=PURE, workload="inference", unit="table")
def ssm_decode_mixer_operations(mixer_shard, mamba_layers, batch, decode_new_tokens):
    """The Mamba mixers in one decode step: the recurrence, reading and writing the state;
    its cost does not depend on the context."""
    return mixer_table(mixer_shard, mamba_layers, batch, decode_new_tokens, True)


@formula("first_decode_attention_operations", family=PURE, workload="inference",
         unit="table")
def ssm_first_decode_mixer_operations(mixer_shard, mamba_layers, batch):
    """The Mamba mixers in the first decode step (one token per sequence)."""
    return mixer_table(mixer_shard, mamba_layers, batch, 1, True)


@formula("training_forward_attention_operations", family=PURE, workload="training",
         unit="table")
def ssm_training_forward_mixer_operations(plan, pp_shards, mixer_shard, mamba_layers, micro_batch_size,
                                          seq_len):
    """The Mamba mixers in the forward pass of one micro-batch through one pipeline stage."""
    return mixer_table(mixer_shard, mamba_layers / pp_shards, micro_batch_size, seq_len, False)


def _no_mlp():
    return table()


@formula("prefill_mlp_operations", family=PURE, workload="inference", unit="table")
def ssm_prefill_mlp_operations(batch):
    """A pure Mamba model has no MLP."""
    return _no_mlp()


@formula("decode_mlp_operations", family=PURE, workload="inference", unit="table")
def ssm_decode_mlp_operations(batch):
    """A pure Mamba model has no MLP."""
    return _no_mlp()


@formula("first_decode_mlp_operations", family=PURE, workload="inference", unit="table")
def ssm_first_decode_mlp_operations(batch):
    """A pure Mamba model has no MLP."""
    return _no_mlp()


@formula("training_forward_mlp_operations", family=PURE, workload="training", unit="table")
def ssm_training_forward_mlp_operations(micro_batch_size):
    """A pure Mamba model has no MLP."""
    return _no_mlp()


# the hybrid: attention in its attention layers, a Mamba mixer in the rest


@formula("prefill_attention_operations", family="jamba", workload="inference", unit="table")
def hybrid_prefill_mixer_operations(dense_shard, mixer_shard, attention_layers, mamba_layers,
                                    batch, prompt_tokens):
    """Attention over the prompt in the attention layers, the Mamba mixers in the rest."""
    return concat(dense_operations.attention_table(dense_shard, attention_layers, batch,
                                                   prompt_tokens, (prompt_tokens + 1) / 2.0,
                                                   kv_read=False),
                  mixer_table(mixer_shard, mamba_layers, batch, prompt_tokens, False))


@formula("decode_attention_operations", family="jamba", workload="inference", unit="table")
def hybrid_decode_mixer_operations(dense_shard, mixer_shard, attention_layers, mamba_layers,
                                   batch, decode_new_tokens, decode_context_tokens):
    """One decode step: attention layers read their KV cache at the average context, Mamba
    layers step their state."""
    return concat(dense_operations.attention_table(dense_shard, attention_layers, batch,
                                                   decode_new_tokens, decode_context_tokens,
                                                   kv_read=True),
                  mixer_table(mixer_shard, mamba_layers, batch, decode_new_tokens, True))


@formula("first_decode_attention_operations", family="jamba", workload="inference",
         unit="table")
def hybrid_first_decode_mixer_operations(dense_shard, mixer_shard, attention_layers,
                                         mamba_layers, batch, prompt_tokens):
    """The first decode step, its attention layers attending to the prompt."""
    return concat(dense_operations.attention_table(dense_shard, attention_layers, batch, 1,
                                                   prompt_tokens, kv_read=True),
                  mixer_table(mixer_shard, mamba_layers, batch, 1, True))


@formula("training_forward_attention_operations", family="jamba", workload="training",
         unit="table")
def hybrid_training_forward_mixer_operations(model, plan, pp_shards, dense_shard, mixer_shard,
                                             attention_layers, mamba_layers, micro_batch_size,
                                             seq_len):
    """The forward pass of one micro-batch through one pipeline stage's attention and Mamba
    layers (flash-style attention; unfused kernels stream every score through memory)."""
    unfused = plan.attention == "unfused"
    score = dense_operations.UNFUSED_SCORE_BYTES * \
        bytes_per_element(model.activations_dtype) / 2.0 if unfused else 0.0
    return concat(dense_operations.attention_table(
        dense_shard, attention_layers / pp_shards, micro_batch_size, seq_len,
        seq_len if unfused else (seq_len + 1) / 2.0, kv_read=False, score_bytes=score),
        mixer_table(mixer_shard, mamba_layers / pp_shards, micro_batch_size, seq_len, False))


# --------------------------------------------------------------------------- training FLOPs


@formula("attention_matmul_params_per_layer", family=PURE, workload="training", unit="")
def ssm_mixer_matmul_params_per_layer(model):
    """Weights of one layer's Mamba projections every token multiplies by (in_proj, x_proj,
    dt_proj, out_proj; no convolution, biases or per-channel vectors)."""
    return float(mixer_matmul_params(model))


@formula("mlp_matmul_params_per_token", family=PURE, workload="training", unit="")
def ssm_mlp_matmul_params_per_token(model):
    """A pure Mamba model has no MLP."""
    return 0.0


@formula("attention_flops_per_token_forward", family=PURE, workload="training")
def ssm_scan_flops_per_token_forward(model, seq_len_for_flops):
    """Scan (Mamba-1) or chunked SSD (Mamba-2) FLOPs per token in the forward pass, every
    layer: linear in the sequence, so the same per token at any length (the SSD chunk is the
    sequence when that is shorter)."""
    m = MixerShard.of(model, 1)
    if m.version == 2:
        q = minimum(m.chunk, seq_len_for_flops)
        per_layer = 2.0 * q * m.state * m.groups + \
            m.heads * (2.0 * q * m.head_dim + 4.0 * m.state * m.head_dim)
    else:
        per_layer = SCAN_FLOPS * m.d_inner * m.state + 0.0 * seq_len_for_flops
    return model.num_layers * per_layer


@formula("attention_matmul_params_per_layer", family="jamba", workload="training", unit="")
def hybrid_matmul_params_per_layer(model, attention_layers, mamba_layers):
    """Weights of the token-mixer projections per layer, averaged over the attention and
    Mamba layers (the total, ``num_layers`` times this, is exact)."""
    attention = model.hidden_size * model.head_width * 2.0 * (model.num_heads + model.kv_heads)
    return (attention_layers * attention + mamba_layers * mixer_matmul_params(model)) / \
        model.num_layers


@formula("attention_flops_per_token_forward", family="jamba", workload="training")
def hybrid_flops_per_token_forward(model, seq_len_for_flops, attention_layers, mamba_layers):
    """Causal attention FLOPs of the attention layers (4 per query-head dimension and
    attended token, ``(T + 1) / 2`` tokens attended on average) plus the Mamba layers'
    scans."""
    attention = 2.0 * attention_layers * model.num_heads * model.head_width * \
        (seq_len_for_flops + 1.0)
    return attention + mamba_layers * scan_flops_per_token(model)


# --------------------------------------------------------------------------- activations


@formula("prefill_activation_bytes_per_token", family=PURE, workload="inference")
def ssm_prefill_activation_bytes_per_token(mixer_shard):
    """Each prompt token's share of one layer's live tensors on one device: the hidden state
    in and out, in_proj's output, the convolution's output and the scan's output."""
    m = mixer_shard
    in_width = 2.0 * m.d_inner + (2.0 * m.groups * m.state + m.heads if m.version == 2
                                  else 0.0)
    return (2.0 * m.hidden + in_width + m.conv_channels + m.d_inner) * m.a


@formula("training_activation_bytes_per_layer", family=PURE, workload="training")
def ssm_training_activation_bytes_per_layer(model, plan, mixer_shard, micro_batch_size,
                                            seq_len):
    """Activations one Mamba layer stores for the backward pass, per micro-batch, on one
    device: the layer input and its norm (2 x hidden, not split by tp), in_proj's output, the
    convolution's output, x_proj's output and dt (Mamba-1), the scan's output and the gated
    output. The fused scan recomputes its states in the backward pass rather than storing
    them (Gu & Dao 2023, section 3.3.2), so nothing of size ``d_state`` per token is kept.
    Full recomputation keeps only the layer input; sequence parallelism splits all of it."""
    m = mixer_shard
    s, b, t = seq_len, micro_batch_size, plan.tp
    if plan.recompute == "full":
        return s * b * m.hidden * m.a / (t if plan.sp else 1)
    in_width = 2.0 * m.d_inner + (2.0 * m.groups * m.state + m.heads if m.version == 2
                                  else m.dt_rank + 2.0 * m.state + m.d_inner)
    split = in_width + m.conv_channels + 2.0 * m.d_inner
    per_token = (2.0 * m.hidden + split * t) / t if plan.sp else 2.0 * m.hidden + split
    return s * b * per_token * m.a


@formula("tp_all_reduces_per_layer", family=PURE, unit="", domain="whole")
def ssm_tp_all_reduces_per_layer(model):
    """One all-reduce per layer, after out_proj: a Mamba layer has no separate MLP (Mamba-2
    section 8.2; Mamba-1's x_proj reduction of ``dt_rank + 2·d_state`` values per token is
    small beside it and not counted)."""
    return 1.0


FORMULAS = (mixer_shard, mamba_layers, attention_layers, state_bytes_per_sequence,
            state_bytes_per_sequence_per_device, spread_state_bytes_per_sequence_per_device,
            ssm_kv_cache_bytes_per_token,
            ssm_kv_cache_bytes_per_token_per_device, hybrid_kv_cache_bytes_per_token,
            hybrid_kv_cache_bytes_per_token_per_device, ssm_kv_cache_bytes,
            ssm_kv_cache_bytes_per_device, ssm_max_batch, ssm_kv_concurrency_limit,
            ssm_kv_cache_capacity_tokens, ssm_serving_kv_cache_bytes_per_device,
            ssm_prefill_mixer_operations, ssm_decode_mixer_operations,
            ssm_first_decode_mixer_operations, ssm_training_forward_mixer_operations,
            ssm_prefill_mlp_operations, ssm_decode_mlp_operations,
            ssm_first_decode_mlp_operations, ssm_training_forward_mlp_operations,
            hybrid_prefill_mixer_operations, hybrid_decode_mixer_operations,
            hybrid_first_decode_mixer_operations, hybrid_training_forward_mixer_operations,
            ssm_mixer_matmul_params_per_layer, ssm_mlp_matmul_params_per_token,
            ssm_scan_flops_per_token_forward, hybrid_matmul_params_per_layer,
            hybrid_flops_per_token_forward, ssm_prefill_activation_bytes_per_token,
            ssm_training_activation_bytes_per_layer, ssm_tp_all_reduces_per_layer)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
