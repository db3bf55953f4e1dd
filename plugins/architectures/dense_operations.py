"""What a dense transformer does per phase: the operations, their FLOPs and bytes, per device.

For every phase (prefill, one decode step, a training forward pass) and every layer type the
operations are: QKV projection, attention (scores and values), output projection, MLP, norms
and residual adds, embedding look-up, LM head. Each is an :class:`Operation` holding FLOPs and
the bytes it reads and writes (weights, activations, KV cache) on one device, after tensor
parallelism has split heads and the MLP. Times come from the hardware plugins.

Conventions: a multiply-add is 2 FLOPs; causal attention counts the average context (Kaplan
et al. 2020's convention: the triangle, not the full square).
"""

from __future__ import annotations

import operator
from typing import NamedTuple

from ridgeline.plugin import (bytes_per_element, concat, formula, hookimpl, maximum,
                              mean_attended, table)


def _shard(model, tp):
    """Per-device head counts and MLP width under tensor parallelism of degree ``tp``."""
    heads = model.num_heads / tp
    # GQA/MQA with fewer KV heads than devices replicates KV heads: at least one per device
    kv_heads = maximum(model.kv_heads / tp, 1.0)
    return heads, kv_heads, model.intermediate_size / tp


class DenseShard(NamedTuple):
    """What one device holds of a dense layer under tensor parallelism, element sizes, and
    the per-token FLOPs and bytes of each operation that follow from them.

    Depends only on the model and the plan, so the engine computes it once per model, system
    and plan (the ``dense_shard`` quantity) and every phase's table reuses it: the tables
    then do only the arithmetic that depends on the workload (tokens, context).
    """

    tp: float
    hidden: float
    head_width: float
    heads: float
    """Query heads on the device."""
    kv_heads: float
    """Key/value heads on the device (at least one: GQA/MQA replicate them)."""
    ff: float
    """The MLP's hidden width on the device."""
    mats: float
    """Matrices of the MLP: 3 gated, 2 plain."""
    norms_per_layer: float
    embed: float
    """Width of the token embedding (``embed_dim`` or ``hidden_size``)."""
    vocab: float
    weight_bytes_per_element: float
    activation_bytes_per_element: float
    kv_bytes_per_element: float
    layers: float
    """Transformer layers of the whole model."""

    # per layer and token (or per layer, for weights), on the device
    qkv_flops_per_token: float
    qkv_weight_bytes: float
    qkv_activation_bytes_per_token: float
    """The hidden state read, Q, K and V written."""
    kv_cache_bytes_per_token: float
    """K and V of one token in one layer."""
    attention_flops_per_token_context: float
    """Scores and values: 4 FLOPs per query-head dimension and token attended to."""
    attention_query_bytes_per_token: float
    """Q read, the attention output written."""
    attention_kv_bytes_per_token: float
    """K and V read from activations (attention that computes them in place)."""
    out_flops_per_token: float
    out_weight_bytes: float
    out_activation_bytes_per_token: float
    mlp_flops_per_token: float
    mlp_weight_bytes: float
    mlp_activation_bytes_per_token: float
    """The hidden state in and out, the intermediate of every matrix."""
    norms_flops_per_token: float
    norms_activation_bytes_per_token: float
    """Norms read and write the hidden state; two residual adds read two and write one."""
    embedding_bytes_per_token: float
    lm_head_flops_per_token: float
    lm_head_weight_bytes: float
    lm_head_activation_bytes_per_token: float
    projection_flops_per_token: float
    """``project_in`` (after the look-up) or ``project_out`` (before the LM head) of a model
    whose embedding is narrower or wider than the trunk; 0 when the widths agree."""
    projection_weight_bytes: float

    @classmethod
    def of(cls, model, tp) -> "DenseShard":
        heads, kv_heads, ff = _shard(model, tp)
        # floats throughout: mixed int-float arithmetic is several times slower in CPython,
        # and every value here is an integer small enough to be exact as a float
        h, d = float(model.hidden_size), float(model.head_width)
        mats = 3.0 if model.mlp == "gated" else 2.0
        norms = float(model.norms_per_layer)
        embed, vocab = float(model.embed_dim or model.hidden_size), float(model.vocab_size)
        w = bytes_per_element(model.weights_dtype)
        a = bytes_per_element(model.activations_dtype)
        kv = bytes_per_element(model.kv_dtype)
        q_width = heads * d
        qkv_width = (heads + 2 * kv_heads) * d
        kv_width = 2 * kv_heads * d
        vocab_shard = vocab / tp
        projection = 0.0 if embed == h else embed * h
        return cls(
            tp * 1.0, h, d, heads, kv_heads, ff, mats, norms, embed, vocab, w, a, kv,
            float(model.num_layers),
            qkv_flops_per_token=2.0 * h * qkv_width, qkv_weight_bytes=h * qkv_width * w,
            qkv_activation_bytes_per_token=(h + qkv_width) * a,
            kv_cache_bytes_per_token=kv_width * kv,
            attention_flops_per_token_context=4.0 * q_width,
            attention_query_bytes_per_token=2 * q_width * a,
            attention_kv_bytes_per_token=kv_width * a,
            out_flops_per_token=2.0 * q_width * h, out_weight_bytes=q_width * h * w,
            out_activation_bytes_per_token=(q_width + h) * a,
            mlp_flops_per_token=2.0 * mats * h * ff, mlp_weight_bytes=mats * h * ff * w,
            mlp_activation_bytes_per_token=(2 * h + mats * ff) * a,
            norms_flops_per_token=8.0 * h * norms,
            norms_activation_bytes_per_token=h * a * (2 * norms + 6),
            embedding_bytes_per_token=embed * (w + a),
            lm_head_flops_per_token=2.0 * embed * vocab_shard,
            lm_head_weight_bytes=embed * vocab_shard * w,
            lm_head_activation_bytes_per_token=(embed + vocab_shard) * a,
            projection_flops_per_token=2.0 * projection, projection_weight_bytes=projection * w)


#: bytes each attention-score element moves with unfused kernels and 2-byte activations:
#: QK^T writes it (2), fused scale-mask-softmax reads and writes it (4), dropout reads it and
#: writes the result and a 1-byte mask (5), the AV product reads it (2).
UNFUSED_SCORE_BYTES = 13.0


def attention_table(shard, layers, sequences, new_tokens, context_tokens, kv_read,
                    score_bytes=0.0, sink_columns=0.0):
    """Standard attention (MHA, GQA, MQA) of one phase on one device: the QKV projection,
    the scores and values, the output projection.

    Args:
        shard: the device's :class:`DenseShard`.
        layers: transformer layers this device runs in the phase.
        sequences: sequences processed together (number or array).
        new_tokens: tokens per sequence processed in the phase (prompt, 1 for decode).
        context_tokens: average number of tokens each new token attends to.
        kv_read: whether attention reads the cache (decode) or computes K/V in place (prefill,
            training, with flash-attention-style kernels that keep scores on chip).
        score_bytes: bytes each attention-score element moves through memory (0 with
            flash-attention-style kernels; see ``UNFUSED_SCORE_BYTES``).
        sink_columns: score columns per query row and head beyond the positions attended:
            1 with attention sinks (a learned logit per head that joins the softmax; no key,
            no value, so no FLOPs of the score and value products), moved through memory
            only by unfused kernels.
    """
    (heads, qkv_flops, qkv_weights, qkv_activations, kv_per_token, attention_flops,
     query_bytes, kv_activation_bytes, out_flops, out_weights,
     out_activations) = _attention_fields(shard)
    n = sequences * new_tokens  # tokens processed
    attended = n * context_tokens  # (token, context token) pairs
    if kv_read:  # the new tokens' K and V written, the context's read
        kv_bytes = n * kv_per_token + sequences * context_tokens * kv_per_token
        attention_bytes = n * query_bytes
    else:  # K and V written to the cache, and read as activations
        kv_bytes = n * kv_per_token
        attention_bytes = n * (query_bytes + kv_activation_bytes)
    if score_bytes:
        attention_bytes = attention_bytes + (attended + n * sink_columns) * heads * score_bytes
    return table(
        ("qkv_proj", n * qkv_flops, qkv_weights, n * qkv_activations, 0.0, layers),
        ("attention", attended * attention_flops, 0.0, attention_bytes, kv_bytes, layers),
        ("out_proj", n * out_flops, out_weights, n * out_activations, 0.0, layers),
    )


def _fields(*names):
    """A function that gives these fields of a :class:`DenseShard` in one call (reading a
    named tuple's fields one by one costs several times as much in CPython 3.11)."""
    return operator.itemgetter(*map(DenseShard._fields.index, names))


_attention_fields = _fields(
    "heads", "qkv_flops_per_token", "qkv_weight_bytes", "qkv_activation_bytes_per_token",
    "kv_cache_bytes_per_token", "attention_flops_per_token_context",
    "attention_query_bytes_per_token", "attention_kv_bytes_per_token", "out_flops_per_token",
    "out_weight_bytes", "out_activation_bytes_per_token")
_mlp_fields = _fields("mlp_flops_per_token", "mlp_weight_bytes",
                      "mlp_activation_bytes_per_token")
_other_fields = _fields(
    "norms_flops_per_token", "norms_activation_bytes_per_token", "embedding_bytes_per_token",
    "lm_head_flops_per_token", "lm_head_weight_bytes", "lm_head_activation_bytes_per_token",
    "projection_flops_per_token", "projection_weight_bytes")


def mlp_table(shard, layers, tokens):
    """The dense MLP of one phase on one device: ``tokens`` tokens through every layer's MLP."""
    flops, weights, activations = _mlp_fields(shard)
    return table(("mlp", tokens * flops, weights, tokens * activations, 0.0, layers))


def other_table(shard, layers, tokens, logit_tokens):
    """What every decoder has around attention and MLP: norms and residual adds per layer,
    the embedding look-up, the LM head over ``logit_tokens`` tokens.

    The look-up is a gather (no FLOPs); a model whose embedding width differs from the trunk's
    projects in after it and out before the LM head, real matrix multiplies."""
    (norms_flops, norms_activations, embedding_bytes, lm_head_flops, lm_head_weights,
     lm_head_activations, projection_flops, projection_weights) = _other_fields(shard)
    return table(
        ("norms_residual", tokens * norms_flops, 0.0, tokens * norms_activations, 0.0, layers),
        ("embedding", tokens * projection_flops, projection_weights, tokens * embedding_bytes,
         0.0, 1.0),
        ("lm_head", logit_tokens * (lm_head_flops + projection_flops),
         lm_head_weights + projection_weights, logit_tokens * lm_head_activations, 0.0, 1.0),
    )


@formula(family="dense", unit="object")
def dense_shard(model, plan):
    """What one device holds of each layer under tensor parallelism (heads, MLP width) and
    the element sizes: the constants of every phase's operation table."""
    return DenseShard.of(model, plan.tp)


# Each phase's table is attention + MLP + the rest, and each part is a table of its own, so
# that an attention variant (MLA) or another MLP (mixture of experts) replaces just its part.


@formula(family="dense", workload="inference", unit="table")
def prefill_attention_operations(model, dense_shard, batch, prompt_tokens):
    """Attention in the prefill of the whole prompt (causal: the average context, bounded by
    the window in windowed layers)."""
    context = (prompt_tokens + 1) / 2.0 if model.sliding_window is None else \
        mean_attended(model, 1.0, prompt_tokens)
    return attention_table(dense_shard, dense_shard.layers, batch, prompt_tokens, context,
                           kv_read=False)


@formula(family="dense", workload="inference", unit="table")
def prefill_mlp_operations(dense_shard, batch, prompt_tokens):
    """The MLP over every prompt token of the batch."""
    return mlp_table(dense_shard, dense_shard.layers, batch * prompt_tokens)


@formula(family="dense", workload="inference", unit="table")
def prefill_other_operations(dense_shard, batch, prompt_tokens):
    """Norms, embedding and the LM head in the prefill (logits of the last position only)."""
    return other_table(dense_shard, dense_shard.layers, batch * prompt_tokens,
                       logit_tokens=batch)


@formula(family="dense", workload="inference", unit="table")
def prefill_operations(prefill_attention_operations, prefill_mlp_operations,
                       prefill_other_operations):
    """Prefill of the whole prompt for the batch: every layer, per tensor-parallel shard."""
    return concat(prefill_attention_operations, prefill_mlp_operations,
                  prefill_other_operations)


@formula(workload="inference", unit="", domain="count")
def decode_new_tokens():
    """Tokens each sequence feeds through the model per decode step: 1 (speculative decoding
    verifies several at once)."""
    return 1.0


@formula(family="dense", workload="inference", unit="table")
def decode_attention_operations(model, dense_shard, batch, decode_new_tokens,
                                decode_context_tokens, output_tokens):
    """Attention in one decode step at the average context, reading the KV cache. A windowed
    layer reads at most its window: the average over the generation's steps, whose contexts
    run over ``output_tokens`` positions centred on ``decode_context_tokens``."""
    context = decode_context_tokens
    if model.sliding_window is not None:
        context = mean_attended(model, decode_context_tokens - output_tokens / 2.0,
                                decode_context_tokens + output_tokens / 2.0)
    return attention_table(dense_shard, dense_shard.layers, batch, decode_new_tokens,
                           context, kv_read=True)


@formula(family="dense", workload="inference", unit="table")
def decode_mlp_operations(dense_shard, batch, decode_new_tokens):
    """The MLP in one decode step."""
    return mlp_table(dense_shard, dense_shard.layers, batch * decode_new_tokens)


@formula(family="dense", workload="inference", unit="table")
def decode_other_operations(dense_shard, batch, decode_new_tokens):
    """Norms, embedding and the LM head in one decode step (logits of every new token)."""
    n = batch * decode_new_tokens
    return other_table(dense_shard, dense_shard.layers, n, logit_tokens=n)


@formula(family="dense", workload="inference", unit="table")
def decode_operations(decode_attention_operations, decode_mlp_operations,
                      decode_other_operations):
    """One decode step at the average context of the generation, per tensor-parallel shard."""
    return concat(decode_attention_operations, decode_mlp_operations, decode_other_operations)


def _one_token_per_step(decode_new_tokens) -> bool:
    """Whether decode steps feed one token per sequence, as the first decode step does: the
    parts of the two steps that do not depend on the context are then the same tables."""
    return type(decode_new_tokens) is float and decode_new_tokens == 1.0


@formula(family="dense", workload="inference", unit="table")
def first_decode_attention_operations(model, dense_shard, batch, prompt_tokens):
    """Attention in the first decode step, attending to the prompt (at most the window of it
    in windowed layers)."""
    context = prompt_tokens if model.sliding_window is None else \
        mean_attended(model, prompt_tokens, prompt_tokens)
    return attention_table(dense_shard, dense_shard.layers, batch, 1, context, kv_read=True)


@formula(family="dense", workload="inference", unit="table")
def first_decode_mlp_operations(dense_shard, batch, decode_new_tokens, decode_mlp_operations):
    """The MLP in the first decode step (one token per sequence): the decode step's own when
    decode steps feed one token too."""
    if _one_token_per_step(decode_new_tokens):
        return decode_mlp_operations
    return mlp_table(dense_shard, dense_shard.layers, batch)


@formula(family="dense", workload="inference", unit="table")
def first_decode_other_operations(dense_shard, batch, decode_new_tokens,
                                  decode_other_operations):
    """Norms, embedding and the LM head in the first decode step (one token per sequence):
    the decode step's own when decode steps feed one token too."""
    if _one_token_per_step(decode_new_tokens):
        return decode_other_operations
    return other_table(dense_shard, dense_shard.layers, batch, logit_tokens=batch)


@formula(family="dense", workload="inference", unit="table")
def first_decode_operations(first_decode_attention_operations, first_decode_mlp_operations,
                            first_decode_other_operations):
    """The first decode step, attending to the prompt (one token per sequence)."""
    return concat(first_decode_attention_operations, first_decode_mlp_operations,
                  first_decode_other_operations)


def _sink_columns(model) -> float:
    """1.0 for a model with attention sinks (gpt-oss: a learned logit per head in every
    softmax, Xiao et al. 2023, arXiv:2309.17453, as trained in), else 0.0."""
    return 1.0 if model.attention_sinks else 0.0


@formula(family="dense", workload="training", unit="table")
def training_forward_attention_operations(model, plan, dense_shard, micro_batch_size, seq_len,
                                          layers_per_stage_max):
    """Attention in the forward pass of one micro-batch through one pipeline stage.

    Flash-style kernels skip the masked half of causal attention, and the blocks outside a
    sliding or chunked window; unfused ones compute the full square (masking afterwards) and
    stream every score through memory."""
    unfused = plan.attention == "unfused"
    if unfused:
        context = seq_len
    elif model.sliding_window is None:
        context = (seq_len + 1) / 2.0
    else:
        context = mean_attended(model, 1.0, seq_len)
    return attention_table(
        dense_shard, layers_per_stage_max, micro_batch_size, seq_len,
        context, kv_read=False, sink_columns=_sink_columns(model),
        score_bytes=UNFUSED_SCORE_BYTES * bytes_per_element(model.activations_dtype) / 2.0
        if unfused else 0.0)


@formula(family="dense", workload="training", unit="table")
def training_forward_mlp_operations(dense_shard, micro_batch_size, seq_len,
                                    layers_per_stage_max):
    """The MLP in the forward pass of one micro-batch through the fullest pipeline stage."""
    return mlp_table(dense_shard, layers_per_stage_max, micro_batch_size * seq_len)


@formula(family="dense", workload="training", unit="table")
def training_forward_other_operations(dense_shard, micro_batch_size, seq_len,
                                      layers_per_stage_max):
    """Norms, embedding and the LM head in the forward pass of one micro-batch through one
    pipeline stage (logits of every token)."""
    n = micro_batch_size * seq_len
    return other_table(dense_shard, layers_per_stage_max, n, logit_tokens=n)


@formula(family="dense", workload="training", unit="table")
def training_forward_operations(training_forward_attention_operations,
                                training_forward_mlp_operations,
                                training_forward_other_operations):
    """Forward pass of one micro-batch through one pipeline stage's layers."""
    return concat(training_forward_attention_operations, training_forward_mlp_operations,
                  training_forward_other_operations)


@formula(family="dense")
def kv_cache_bytes_per_token(model):
    """KV-cache bytes one token of context takes across all layers (K and V)."""
    return 2.0 * model.num_layers * model.kv_heads * model.head_width * \
        bytes_per_element(model.kv_dtype)


@formula(family="dense")
def kv_cache_bytes_per_token_per_device(model, plan, layers_per_stage_max):
    """KV-cache bytes per token of context on one device (heads split by tp, layers by pp:
    the fullest stage's)."""
    _, kv_heads, _ = _shard(model, plan.tp)
    return 2.0 * layers_per_stage_max * kv_heads * model.head_width * \
        bytes_per_element(model.kv_dtype)


def embedding_width(model) -> int:
    """Width of the token embedding and the LM head (``embed_dim``, or ``hidden_size``)."""
    return model.embed_dim or model.hidden_size


def projection_matmul_params(model) -> int:
    """Weights of the ``project_in``/``project_out`` matrices between a narrower (or wider)
    embedding and the trunk (OPT-350m); 0 when the widths agree."""
    width = embedding_width(model)
    return 0 if width == model.hidden_size else 2 * width * model.hidden_size


@formula(family="dense", workload="training", unit="")
def attention_matmul_params_per_layer(model):
    """Weights of one layer's attention projections that every token multiplies by: Q, K, V
    and the output (no biases: a bias add is not a matrix multiply)."""
    return model.hidden_size * model.head_width * 2.0 * (model.num_heads + model.kv_heads)


@formula(family="dense", workload="training", unit="")
def mlp_matmul_params_per_token(model):
    """Weights of the MLP matrices one token multiplies by, over every layer."""
    mats = 3.0 if model.mlp == "gated" else 2.0
    return model.num_layers * mats * model.hidden_size * model.intermediate_size


@formula(family="dense", workload="training")
def forward_flops_per_token(model, attention_matmul_params_per_layer,
                            mlp_matmul_params_per_token, attention_flops_per_token_forward):
    """Model forward FLOPs per token: 2 per multiply-add of every weight matrix the token goes
    through (attention projections, MLP, the LM head whether tied or not, embedding
    projections) plus causal attention scores and values.

    Not counted: the token embedding (a row gather, no arithmetic), norms, biases, residual
    adds and activations (elementwise work the kernels do but no matrix multiply). Every FLOP
    counted here is one the operation tables charge time for, so MFU cannot exceed the compute
    efficiency."""
    lm_head = float(model.vocab_size) * embedding_width(model)
    return 2.0 * (model.num_layers * attention_matmul_params_per_layer
                  + mlp_matmul_params_per_token + lm_head
                  + projection_matmul_params(model)) + attention_flops_per_token_forward


@formula(family="dense", workload="training")
def attention_flops_per_token_forward(model, seq_len_for_flops):
    """Attention-score and -value FLOPs per token in the causal forward pass: 4 FLOPs per
    query-head dimension and attended token, and a token attends to ``(T + 1) / 2`` tokens on
    average (the triangle, as the step time counts it, not PaLM's full square); in a windowed
    layer the positions its window lets it see, as flash kernels with a window compute."""
    if model.sliding_window is not None:
        return 4.0 * model.num_layers * model.num_heads * model.head_width * \
            mean_attended(model, 1.0, seq_len_for_flops)
    return 2.0 * model.num_layers * model.num_heads * model.head_width * \
        (seq_len_for_flops + 1.0)


@formula(family="dense", workload="inference")
def prefill_activation_bytes_per_token(model, plan):
    """Each prompt token's share of the prefill's peak activation working set on one device.

    One layer's live tensors at a time (the hidden state, Q/K/V, the MLP's intermediate), with
    flash-attention-style kernels that never store the score matrix.
    """
    heads, kv_heads, ff = _shard(model, plan.tp)
    a = bytes_per_element(model.activations_dtype)
    mats = 3 if model.mlp == "gated" else 2
    return (2 * model.hidden_size + (heads + 2 * kv_heads) * model.head_width
            + (mats - 1) * ff) * a


@formula(family="dense", workload="inference")
def prefill_activation_bytes_per_sequence(model, plan, prompt_tokens,
                                          prefill_activation_bytes_per_token):
    """Peak activation working set of one sequence's prefill on one device: every prompt
    token's share, plus fp32 logits of the last position."""
    return prompt_tokens * prefill_activation_bytes_per_token + 4.0 * model.vocab_size / plan.tp


#: bytes of the softmax statistics a fused attention kernel keeps per row (query) and head for
#: its backward pass: the logsumexp, in fp32 whatever the activations' precision.
SOFTMAX_STATS_BYTES = 4.0


@formula(family="dense", workload="training")
def training_activation_bytes_per_layer(model, plan, micro_batch_size, seq_len):
    """Activations one layer stores for the backward pass, per micro-batch, on one device.

    Korthikanti et al. 2022 (arXiv:2205.05198, Section 4): ``s·b·h·(34 + 5·a·s/h)`` for a
    GPT block with 16-bit activations and d_ff = 4h. The 34 splits into 10·h that tensor
    parallelism does not shard and 24·h that it does; the MLP's share is generalised to any
    d_ff and to gated MLPs. The ``5·a·s/h`` term is the score matrix (2 bytes), its softmax (2)
    and dropout mask (1) of unfused attention; a fused (flash) kernel stores none of them,
    only the fp32 logsumexp of each query row and head (Dao et al. 2022, arXiv:2205.14135,
    Algorithm 2), so its activations grow linearly in ``s``. Sequence parallelism shards
    all of it; selective recomputation drops the score term (and the statistics, recomputed
    with it); full recomputation keeps only the layer input.
    """
    s, b, h, t = seq_len, micro_batch_size, model.hidden_size, plan.tp
    a = bytes_per_element(model.activations_dtype) / 2.0  # the formula assumes 2-byte values
    ff = model.intermediate_size
    linear = 18.0 * h + ff * (6.0 if model.mlp == "gated" else 4.0)  # 34h when ff = 4h
    if plan.recompute == "full":
        return s * b * a * 2.0 * h / (t if plan.sp else 1)
    if plan.sp:
        per_token = linear / t
    else:
        per_token = 10.0 * h + (linear - 10.0 * h) / t
    stored = s * b * per_token * a
    if plan.recompute == "selective":
        return stored
    if plan.attention == "unfused":  # per token: a·s score entries x 5 bytes, heads split
        # (a sink logit per head adds a column to each row)
        return stored + s * b * 5.0 * model.num_heads * (s + _sink_columns(model)) / t * a
    return stored + s * b * SOFTMAX_STATS_BYTES * model.num_heads / t


FORMULAS = (dense_shard, prefill_attention_operations, prefill_mlp_operations,
            prefill_other_operations, prefill_operations, decode_new_tokens,
            decode_attention_operations, decode_mlp_operations, decode_other_operations,
            decode_operations, first_decode_attention_operations, first_decode_mlp_operations,
            first_decode_other_operations, first_decode_operations,
            training_forward_attention_operations, training_forward_mlp_operations,
            training_forward_other_operations, training_forward_operations,
            kv_cache_bytes_per_token, kv_cache_bytes_per_token_per_device,
            attention_matmul_params_per_layer, mlp_matmul_params_per_token,
            forward_flops_per_token, attention_flops_per_token_forward, prefill_activation_bytes_per_token,
            prefill_activation_bytes_per_sequence,
            training_activation_bytes_per_layer)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
