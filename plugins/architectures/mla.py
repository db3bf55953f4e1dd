"""Multi-head latent attention (MLA), the attention of DeepSeek-V2 and -V3, for any family.

A model selects it with ``attention = "mla"`` and gives its widths as options (the names of
the Hugging Face ``config.json``):

- ``kv_lora_rank`` (``d_c`` in the DeepSeek-V2 paper, arXiv:2405.04434, section 2.1): width of
  the latent each token's keys and values are compressed into;
- ``qk_nope_head_dim``, ``qk_rope_head_dim``: the per-head query/key width without and with
  rotary positions; the rotary key (``d_h^R``) is decoupled from the latent and shared by
  all heads;
- ``v_head_dim``: the per-head value width;
- ``q_lora_rank`` (``d_c'``): width of the query's own compression; 0 or absent means the
  query is a single ``hidden -> heads x (nope + rope)`` projection (DeepSeek-V2-Lite).

One layer's attention, as the Hugging Face modules hold it (every ``nn.Parameter``)::

    q_a_proj            hidden -> q_lora_rank                  (with q_lora_rank)
    q_a_layernorm       q_lora_rank                            (with q_lora_rank)
    q_b_proj            q_lora_rank -> heads x (nope + rope)   (with q_lora_rank)
    q_proj              hidden -> heads x (nope + rope)        (without)
    kv_a_proj_with_mqa  hidden -> kv_lora_rank + rope          (the latent and the rotary key)
    kv_a_layernorm      kv_lora_rank
    kv_b_proj           kv_lora_rank -> heads x (nope + v)     (the up-projection W_UK, W_UV)
    o_proj              heads x v -> hidden

The model's own fields keep their meaning: ``num_heads`` is the number of attention heads;
``head_dim`` must be the score width ``qk_nope_head_dim + qk_rope_head_dim`` (what each
query-key dot product spans; ``hidden_size // num_heads`` when it is left out, so give it
whenever that differs); ``num_kv_heads`` must be left out or equal ``num_heads``, since
after the up-projection every head has its own key and value. Formulas that this plugin does
not replace (the prefill activation working set) read those fields, and so see MLA as the
multi-head attention its naive form materialises. Biases are not modelled (no DeepSeek or
MiniCPM3 checkpoint has them); a model that asks for them is refused.

**KV cache.** Per token and layer the cache holds the latent and the rotary key,
``kv_lora_rank + qk_rope_head_dim`` elements, shared by all heads (the cache of multi-query
attention with a 576-wide head in DeepSeek-V3, against 2 x 128 x 192 = 49,152 for the
equivalent multi-head attention). Because every head reads all of it, tensor parallelism
cannot split it: each tensor-parallel device holds the whole cache of its pipeline stage's
layers (as vLLM and SGLang do when they shard MLA by heads). Serving systems that avoid that
replication run attention data-parallel instead; that plan is not modelled here.

**Two ways to compute it** (DeepSeek-V2, section 2.1.2; vLLM's ``mla/common.py`` calls them
"compute friendly" and "data-movement friendly"):

- *naive*: up-project the latent of every token attended to into per-head keys and values
  (``kv_b_proj``: ``2 x kv_lora_rank x heads x (nope + v)`` FLOPs per token), then run
  ordinary multi-head attention with ``nope + rope``-wide scores and ``v``-wide values;
- *absorbed*: fold ``W_UK`` into the query (``2 x heads x nope x kv_lora_rank`` FLOPs per new
  token) and ``W_UV`` into the output (``2 x heads x kv_lora_rank x v``), so attention runs in
  the latent space: ``2 x heads x (kv_lora_rank + rope)`` FLOPs per context token for the
  scores and ``2 x heads x kv_lora_rank`` for the values, with the cache read once for all
  heads instead of materialised per head.

The naive form does fewer FLOPs per context token; the absorbed one moves far fewer bytes and
does no work per context token outside attention. Which form each phase uses is an input:
``mla_absorbed_decode`` (default 1: absorbed) and ``mla_absorbed_prefill`` (default 0: naive;
also used by the training forward pass, which processes whole sequences as a prefill does),
overridable with ``--set mla_absorbed_prefill=1``. The defaults are what vLLM and SGLang do
for DeepSeek models. Either value changes FLOPs and time, never the KV cache.

**Training model FLOPs** count the projections' multiply-adds (``kv_b_proj`` included, whichever
form applies it) and causal attention in the cheaper of the two forms: per token
``L x heads x (T + 1) x min(nope + rope + v, 2 x kv_lora_rank + rope)``.

Not modelled: the latent projections ``q_a_proj`` and ``kv_a_proj_with_mqa`` are replicated on
every tensor-parallel device (their time and bytes per device count them in full), but
``weight_bytes_per_device`` still splits all weights evenly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ridgeline.plugin import (AttentionVariant, Operation, OptionSpec, ScenarioError,
                              bytes_per_element, formula, hookimpl)
# unfused kernels stream each attention score through memory as the dense family counts it
from ridgeline.plugins.architectures.dense_operations import UNFUSED_SCORE_BYTES

MLA = AttentionVariant(
    name="mla",
    doc="Multi-head latent attention (DeepSeek-V2/V3, MiniCPM3): keys and values compressed "
        "into one latent per token plus a decoupled rotary key, shared by all heads in the KV "
        "cache; computed naively (up-projecting the latent) or with the up-projections "
        "absorbed into the query and output.",
    options=(
        OptionSpec("q_lora_rank", "int",
                   doc="Width of the query's low-rank compression (DeepSeek-V3: 1536); 0 or "
                       "absent: a single query projection (DeepSeek-V2-Lite)."),
        OptionSpec("kv_lora_rank", "int", required=True,
                   doc="Width of the key/value latent held in the KV cache (DeepSeek: 512)."),
        OptionSpec("qk_nope_head_dim", "int", required=True,
                   doc="Per-head query/key width without rotary positions (DeepSeek: 128)."),
        OptionSpec("qk_rope_head_dim", "int", required=True,
                   doc="Per-head query/key width with rotary positions; the rotary key is "
                       "shared by all heads and cached (DeepSeek: 64)."),
        OptionSpec("v_head_dim", "int", required=True,
                   doc="Per-head value width (DeepSeek: 128)."),
    ),
)

#: option names, for the messages.
_REQUIRED = ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")


class MlaDims(NamedTuple):
    """An MLA model's widths, checked."""

    q_lora_rank: int
    """0 when the query is not compressed."""

    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int

    @property
    def qk_head_dim(self) -> int:
        """Width of each query-key dot product (``nope + rope``)."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def cached_width(self) -> int:
        """Elements cached per token and layer: the latent and the shared rotary key."""
        return self.kv_lora_rank + self.qk_rope_head_dim


def _whole(model, name, value, least):
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ScenarioError(f"model {model.id!r}: options.{name} must be a whole number >= "
                            f"{least} for multi-head latent attention, got {value!r}")
    return value


def mla_dims(model) -> MlaDims:
    """The MLA widths of ``model``, or :class:`ScenarioError` naming what is wrong.

    Models from the catalog have had their option types checked already; models built in code
    (``ridgeline.infer(Model(...))``) have not, so everything is checked here.
    """
    missing = [k for k in _REQUIRED if model.option(k) is None]
    if missing:
        raise ScenarioError(f"model {model.id!r} uses attention 'mla' but lacks "
                            f"options.{', options.'.join(missing)}")
    dims = MlaDims(
        q_lora_rank=_whole(model, "q_lora_rank", model.option("q_lora_rank", 0), 0),
        kv_lora_rank=_whole(model, "kv_lora_rank", model.option("kv_lora_rank"), 1),
        qk_nope_head_dim=_whole(model, "qk_nope_head_dim", model.option("qk_nope_head_dim"), 1),
        qk_rope_head_dim=_whole(model, "qk_rope_head_dim", model.option("qk_rope_head_dim"), 1),
        v_head_dim=_whole(model, "v_head_dim", model.option("v_head_dim"), 1),
    )
    if model.head_width != dims.qk_head_dim:
        raise ScenarioError(
            f"model {model.id!r}: head_dim is {model.head_width}"
            f"{'' if model.head_dim else ' (hidden_size // num_heads)'} but multi-head latent "
            f"attention scores span qk_nope_head_dim + qk_rope_head_dim = {dims.qk_head_dim}; "
            f"set head_dim = {dims.qk_head_dim}")
    if model.kv_heads != model.num_heads:
        raise ScenarioError(f"model {model.id!r}: num_kv_heads ({model.kv_heads}) must be left "
                            f"out with multi-head latent attention, where every one of the "
                            f"{model.num_heads} heads has its own key and value")
    if model.bias != "none":
        raise ScenarioError(f"model {model.id!r}: bias = {model.bias!r} is not modelled with "
                            f"multi-head latent attention (only bias = \"none\")")
    return dims


# --------------------------------------------------------------------------- parameters


def mla_attention_params(model) -> int:
    """Parameters of one layer's multi-head latent attention (see the module docstring)."""
    d = mla_dims(model)
    hidden, heads = model.hidden_size, model.num_heads
    norm_per_channel = 2 if model.norm == "layernorm" else 1
    if d.q_lora_rank:
        query = (hidden * d.q_lora_rank + norm_per_channel * d.q_lora_rank
                 + d.q_lora_rank * heads * d.qk_head_dim)
    else:
        query = hidden * heads * d.qk_head_dim
    key_value = (hidden * d.cached_width + norm_per_channel * d.kv_lora_rank
                 + d.kv_lora_rank * heads * (d.qk_nope_head_dim + d.v_head_dim))
    output = heads * d.v_head_dim * hidden
    return query + key_value + output


@formula(family="dense", features="attention-mla", domain="whole")
def attention_params_per_layer(model):
    """Parameters of one layer's multi-head latent attention: the query (compressed or not),
    the key/value down-projection to the latent and rotary key, its norm, the up-projection
    to per-head keys and values, the output projection."""
    return mla_attention_params(model)


# --------------------------------------------------------------------------- KV cache


@formula(family="dense", features="attention-mla")
def kv_cache_bytes_per_token(model):
    """KV-cache bytes one token of context takes across all layers: the latent and the rotary
    key, ``kv_lora_rank + qk_rope_head_dim`` elements per layer, shared by all heads."""
    return model.num_layers * mla_dims(model).cached_width * bytes_per_element(model.kv_dtype)


@formula(family="dense", features="attention-mla")
def kv_cache_bytes_per_token_per_device(model, layers_per_stage_max):
    """KV-cache bytes per token of context on one device: layers split by pipeline stages
    (the fullest stage's), but the whole latent on every tensor-parallel device, since every
    head reads all of it."""
    return layers_per_stage_max * mla_dims(model).cached_width * \
        bytes_per_element(model.kv_dtype)


# --------------------------------------------------------------------------- operations


@formula(family="dense", features="attention-mla", unit="")
def mla_absorbed_decode():
    """1 (absorbed) or 0 (naive): how decode steps compute multi-head latent attention.

    Default 1: a decode step has one new token per sequence against a long context, where the
    absorbed form's single read of the shared latent wins (vLLM's "data-movement friendly"
    path, FlashMLA). Any value other than 0 means absorbed."""
    return 1.0


@formula(family="dense", features="attention-mla", unit="")
def mla_absorbed_prefill():
    """1 (absorbed) or 0 (naive): how prefill and training forward passes compute multi-head
    latent attention.

    Default 0: with as many new tokens as context tokens the naive form's fewer FLOPs per
    context token win, and its up-projection is paid once per token (vLLM's "compute
    friendly" path). Any value other than 0 means absorbed."""
    return 0.0


def _shared_operations(model, d, heads, layers, tokens, w, a):
    """The projections both forms run: the query, the key/value down-projection, the output."""
    hidden = model.hidden_size
    if d.q_lora_rank:
        # q_a_proj is replicated across tensor-parallel devices; q_b_proj is split by heads
        q_weights = hidden * d.q_lora_rank + d.q_lora_rank * heads * d.qk_head_dim
        q_activations = hidden + 2 * d.q_lora_rank + heads * d.qk_head_dim
    else:
        q_weights = hidden * heads * d.qk_head_dim
        q_activations = hidden + heads * d.qk_head_dim
    return (
        Operation("q_proj", flops=2.0 * tokens * q_weights, weight_bytes=q_weights * w,
                  activation_bytes=tokens * q_activations * a, count=layers),
        # replicated: every device needs the whole latent of every token
        Operation("kv_down_proj", flops=2.0 * tokens * hidden * d.cached_width,
                  weight_bytes=hidden * d.cached_width * w,
                  activation_bytes=tokens * (hidden + d.cached_width) * a, count=layers),
    ), Operation("out_proj", flops=2.0 * tokens * heads * d.v_head_dim * hidden,
                 weight_bytes=heads * d.v_head_dim * hidden * w,
                 activation_bytes=tokens * (heads * d.v_head_dim + hidden) * a, count=layers)


def _naive_operations(d, heads, layers, sequences, tokens, context_tokens, kv_read, w, a, kv,
                      score_bytes):
    """The naive form: materialise per-head keys and values from the latent, then ordinary
    multi-head attention."""
    kv_width = d.qk_nope_head_dim + d.v_head_dim  # kv_b_proj's output per head
    # a decode step re-materialises every cached token; a prefill only its own tokens
    materialised = sequences * context_tokens if kv_read else tokens
    cached = sequences * context_tokens if kv_read else 0.0 * tokens
    per_head = d.qk_head_dim + d.v_head_dim
    return (
        Operation("kv_up_proj", flops=2.0 * materialised * d.kv_lora_rank * heads * kv_width,
                  weight_bytes=d.kv_lora_rank * heads * kv_width * w,
                  # reads the latent (from the cache in decode, in place in prefill) and
                  # writes per-head keys and values
                  activation_bytes=materialised * heads * kv_width * a
                  + (0.0 if kv_read else 1.0) * tokens * d.kv_lora_rank * a,
                  kv_bytes=cached * d.kv_lora_rank * kv, count=layers),
        Operation("attention", flops=2.0 * tokens * context_tokens * heads * per_head,
                  # the query in and the output out; the materialised keys and values in
                  activation_bytes=tokens * heads * per_head * a
                  + materialised * heads * per_head * a
                  + tokens * context_tokens * heads * score_bytes,
                  # the new tokens' latent written; the cached rotary keys read
                  kv_bytes=tokens * d.cached_width * kv + cached * d.qk_rope_head_dim * kv,
                  count=layers),
    )


def _absorbed_operations(d, heads, layers, sequences, tokens, context_tokens, kv_read, w, a,
                         kv, score_bytes):
    """The absorbed form: W_UK folded into the query, W_UV into the output, attention over
    the latent shared by all heads."""
    r, rope = d.kv_lora_rank, d.qk_rope_head_dim
    cached = sequences * context_tokens if kv_read else 0.0 * tokens
    return (
        Operation("q_absorb", flops=2.0 * tokens * heads * d.qk_nope_head_dim * r,
                  weight_bytes=heads * d.qk_nope_head_dim * r * w,
                  activation_bytes=tokens * heads * (d.qk_nope_head_dim + r) * a, count=layers),
        Operation("attention", flops=2.0 * tokens * context_tokens * heads * (2 * r + rope),
                  # the latent-space query in and latent output out; a prefill also reads
                  # its own tokens' latent in place
                  activation_bytes=tokens * heads * (2 * r + rope) * a
                  + (0.0 if kv_read else 1.0) * tokens * d.cached_width * a
                  + tokens * context_tokens * heads * score_bytes,
                  # the new tokens' latent written; the cache read once for all heads
                  kv_bytes=(tokens + cached) * d.cached_width * kv, count=layers),
        Operation("out_absorb", flops=2.0 * tokens * heads * r * d.v_head_dim,
                  weight_bytes=heads * r * d.v_head_dim * w,
                  activation_bytes=tokens * heads * (r + d.v_head_dim) * a, count=layers),
    )


def mla_attention_operations(model, tp, layers, sequences, new_tokens, context_tokens, kv_read,
                             absorbed, score_bytes=0.0):
    """Multi-head latent attention of one phase on one device.

    Args:
        model: the model (``attention = "mla"``).
        tp: tensor-parallel degree; it splits the heads.
        layers: transformer layers this device runs in the phase.
        sequences: sequences processed together (number or array).
        new_tokens: tokens per sequence processed in the phase (prompt, 1 for decode).
        context_tokens: average number of tokens each new token attends to.
        kv_read: whether attention reads the cache (decode) or has the keys in place.
        absorbed: 0 for the naive form, anything else for the absorbed form (a number, or an
            array in a sweep: then both forms' rows are returned, each switched on or off per
            point by its ``count``).
        score_bytes: bytes each attention-score element moves through memory (0 with fused
            kernels).
    """
    d = mla_dims(model)
    heads = model.num_heads / tp
    w = bytes_per_element(model.weights_dtype)
    a = bytes_per_element(model.activations_dtype)
    kv = bytes_per_element(model.kv_dtype)
    tokens = sequences * new_tokens
    before, after = _shared_operations(model, d, heads, layers, tokens, w, a)
    args = (d, heads, layers, sequences, tokens, context_tokens, kv_read, w, a, kv, score_bytes)
    if np.ndim(absorbed) == 0:
        middle = _absorbed_operations(*args) if absorbed != 0 else _naive_operations(*args)
    else:
        # a sweep over the switch: keep both forms, each counted only where it is chosen
        on = (np.asarray(absorbed) != 0).astype(float)
        middle = tuple(op._replace(count=op.count * on) for op in _absorbed_operations(*args)) \
            + tuple(op._replace(count=op.count * (1.0 - on)) for op in _naive_operations(*args))
    return before + middle + (after,)


@formula(family="dense", workload="inference", features="attention-mla", unit="table")
def prefill_attention_operations(model, plan, batch, prompt_tokens, mla_absorbed_prefill):
    """Multi-head latent attention in the prefill of the whole prompt (causal: the average
    context), in the form ``mla_absorbed_prefill`` picks."""
    return mla_attention_operations(model, plan.tp, model.num_layers, batch, prompt_tokens,
                                    (prompt_tokens + 1) / 2.0, False, mla_absorbed_prefill)


@formula(family="dense", workload="inference", features="attention-mla", unit="table")
def decode_attention_operations(model, plan, batch, decode_new_tokens, decode_context_tokens,
                                mla_absorbed_decode):
    """Multi-head latent attention in one decode step at the average context, reading the
    cached latent, in the form ``mla_absorbed_decode`` picks."""
    return mla_attention_operations(model, plan.tp, model.num_layers, batch, decode_new_tokens,
                                    decode_context_tokens, True, mla_absorbed_decode)


@formula(family="dense", workload="inference", features="attention-mla", unit="table")
def first_decode_attention_operations(model, plan, batch, prompt_tokens, mla_absorbed_decode):
    """Multi-head latent attention in the first decode step, attending to the prompt."""
    return mla_attention_operations(model, plan.tp, model.num_layers, batch, 1, prompt_tokens,
                                    True, mla_absorbed_decode)


@formula(family="dense", workload="training", features="attention-mla", unit="table")
def training_forward_attention_operations(model, plan, micro_batch_size, seq_len,
                                          mla_absorbed_prefill, layers_per_stage_max):
    """Multi-head latent attention in the forward pass of one micro-batch through one pipeline
    stage, in the form ``mla_absorbed_prefill`` picks.

    Flash-style kernels skip the masked half of causal attention; unfused ones compute the
    full square and stream every score through memory."""
    unfused = plan.attention == "unfused"
    return mla_attention_operations(
        model, plan.tp, layers_per_stage_max, micro_batch_size, seq_len,
        seq_len if unfused else (seq_len + 1) / 2.0, False, mla_absorbed_prefill,
        score_bytes=UNFUSED_SCORE_BYTES * bytes_per_element(model.activations_dtype) / 2.0
        if unfused else 0.0)


@formula(family="dense", workload="training", features="attention-mla")
def attention_flops_per_token_forward(model, seq_len_for_flops):
    """Attention-score and -value FLOPs per token in the causal forward pass (a token attends
    to ``(T + 1) / 2`` tokens on average), in the cheaper of the two forms per attended token:
    ``2·heads·(nope + rope + v)`` naive, ``2·heads·(2·kv_lora_rank + rope)`` absorbed. Either
    form computes the same function, so the model's work is the smaller; the step time charges
    at least that whichever form runs."""
    d = mla_dims(model)
    per_pair = min(d.qk_head_dim + d.v_head_dim, 2 * d.kv_lora_rank + d.qk_rope_head_dim)
    return model.num_layers * model.num_heads * (seq_len_for_flops + 1.0) * float(per_pair)


@formula(family="dense", workload="training", features="attention-mla", unit="")
def attention_matmul_params_per_layer(model):
    """Weights of one layer's MLA projections that every token multiplies by: the query (one
    matrix, or the compression and its up-projection), the key/value down-projection, the
    key/value up-projection (applied per token in the naive form, folded into the query and
    output in the absorbed one: the same multiply-adds) and the output; norms excluded."""
    d = mla_dims(model)
    hidden, heads = model.hidden_size, model.num_heads
    if d.q_lora_rank:
        query = hidden * d.q_lora_rank + d.q_lora_rank * heads * d.qk_head_dim
    else:
        query = hidden * heads * d.qk_head_dim
    return float(query + hidden * d.cached_width
                 + d.kv_lora_rank * heads * (d.qk_nope_head_dim + d.v_head_dim)
                 + heads * d.v_head_dim * hidden)


FORMULAS = (attention_params_per_layer, kv_cache_bytes_per_token,
            kv_cache_bytes_per_token_per_device, mla_absorbed_decode, mla_absorbed_prefill,
            prefill_attention_operations, decode_attention_operations,
            first_decode_attention_operations, training_forward_attention_operations,
            attention_flops_per_token_forward, attention_matmul_params_per_layer)


@hookimpl
def ridgeline_register_architectures(register):
    register(MLA)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
