"""Exact parameter counts of a dense decoder-only transformer, from its :class:`Model`.

Counts are unique trainable parameters laid out the way the Hugging Face modules hold them
(every ``nn.Parameter``, no buffers such as rotary ``inv_freq`` or causal masks), so they equal
``sum(p.numel() for p in model.parameters())``. A tied LM head shares the token embedding and
adds nothing. Plain integer arithmetic: these depend only on the model, never on a sweep axis.

The pieces, per layer:

- attention: Q and O are ``hidden x (heads * head_dim)``; K and V are
  ``hidden x (kv_heads * head_dim)`` (GQA/MQA); biases on Q/K/V (``bias = "qkv"``) or on all
  four (``bias = "all"``);
- MLP: three ``hidden x d_ff`` matrices when gated, two when plain; biases only when
  ``bias = "all"``;
- norms: ``norms_per_layer`` of them, ``hidden`` weights each, plus ``hidden`` biases for
  LayerNorm.

Outside the layers: the token embedding (``vocab x embed_dim``), a learned position table, the
``project_in``/``project_out`` matrices of models whose embedding is narrower than the trunk
(OPT-350m), the final norm, and an untied LM head.
"""

from __future__ import annotations

from ridgeline.plugin import formula, hookimpl


def _embedding_width(model) -> int:
    """Width of the token embedding and the LM head (``embed_dim``, or ``hidden_size``)."""
    return model.embed_dim or model.hidden_size


def norm_params(model) -> int:
    """Parameters of one normalisation layer over the hidden state."""
    return _per_channel(model) * model.hidden_size


def _per_channel(model) -> int:
    """Parameters a norm of the model's kind keeps per channel."""
    return {"layernorm": 2, "layernorm-noparams": 0}.get(model.norm, 1)


def qk_norm_params(model) -> int:
    """Parameters of one layer's query and key norms (Qwen3, OLMo 2, Cohere, Phi)."""
    if model.qk_norm == "full":
        # one weight per channel of Q and of K (OLMo 2's q_norm over heads x head_dim)
        return (model.num_heads + model.kv_heads) * model.head_width
    if model.qk_norm in ("head", "head-bias"):
        # one head_dim vector for Q and one for K, shared by every head
        return (4 if model.qk_norm == "head-bias" else 2) * model.head_width
    return 0


def attention_params(model) -> int:
    """Parameters of one layer's attention: Q, K, V and output projections, with biases."""
    hidden = model.hidden_size
    q_width = model.num_heads * model.head_width
    kv_width = model.kv_heads * model.head_width
    weights = 2 * hidden * q_width + 2 * hidden * kv_width  # Q and O; K and V
    biases = 0
    if model.bias in ("qkv", "all", "attention"):
        biases += q_width + 2 * kv_width
    if model.bias in ("all", "attention"):
        biases += hidden  # output projection
    sinks = model.num_heads if model.attention_sinks else 0  # one logit per head
    return weights + biases + qk_norm_params(model) + sinks


def mlp_params(model) -> int:
    """Parameters of one layer's MLP: up (and gate) and down projections, with biases."""
    hidden, ff = model.hidden_size, model.intermediate_size
    up_matrices = 2 if model.mlp == "gated" else 1  # gated: gate and up
    weights = (up_matrices + 1) * hidden * ff
    biases = up_matrices * ff + hidden if model.bias in ("all", "mlp") else 0
    return weights + biases


def layer_params(model) -> int:
    """Parameters of one transformer layer: attention, MLP and the layer's norms."""
    return attention_params(model) + mlp_params(model) + model.norms_per_layer * norm_params(model)


def token_embedding_params(model) -> int:
    """Parameters of the token embedding table (``vocab x embed_dim``)."""
    return model.vocab_size * _embedding_width(model)


def position_embedding_params(model) -> int:
    """Parameters of a learned position table; rotary, ALiBi and no positions have none."""
    if model.positions != "learned":
        return 0
    rows = model.position_rows or model.max_seq_len
    return rows * model.hidden_size


def embedding_projection_params(model) -> int:
    """Parameters of the bias-free ``project_in`` and ``project_out`` matrices.

    They exist when the token embedding is narrower or wider than the trunk (OPT-350m:
    512 <-> 1024).
    """
    width = _embedding_width(model)
    if width == model.hidden_size:
        return 0
    return 2 * width * model.hidden_size


def final_norm_params(model) -> int:
    """Parameters of the norm after the last layer (none in post-LN models such as OPT-350m)."""
    return norm_params(model) if model.final_norm else 0


def embedding_params(model) -> int:
    """Embedding parameters: token and position tables, and the embedding projections."""
    embedding_norm = norm_params(model) if model.embedding_norm else 0  # BLOOM
    return (token_embedding_params(model) + position_embedding_params(model)
            + embedding_projection_params(model) + embedding_norm)


def lm_head_params(model) -> int:
    """Parameters of the LM head: 0 when it is tied to the token embedding."""
    bias = model.vocab_size if model.lm_head_bias else 0  # kept even when the weight is tied
    return bias + (0 if model.tie_embeddings else model.vocab_size * _embedding_width(model))


def params(model) -> int:
    """Total unique parameters (a tied LM head counted once, buffers excluded)."""
    return (embedding_params(model) + model.num_layers * layer_params(model)
            + final_norm_params(model) + lm_head_params(model))


def non_embedding_params(model) -> int:
    """Parameters outside the embeddings and LM head: the layers and the final norm."""
    return params(model) - embedding_params(model) - lm_head_params(model)


# The counting functions stay plain (callable with a Model); the formulas wrap them. The total
# is composed from per-part quantities so that an attention variant (MLA) replaces just
# ``attention_params_per_layer`` and a mixture of experts just ``mlp_params``.


@formula(family="dense", domain="whole")
def attention_params_per_layer(model):
    """Parameters of one layer's attention (Q, K, V, output; biases)."""
    return attention_params(model)


@formula(family="dense", domain="whole")
def norm_params_per_layer(model):
    """Parameters of one layer's norms."""
    return model.norms_per_layer * norm_params(model)


@formula("mlp_params", family="dense", domain="whole")
def mlp_params_all_layers(model):
    """Parameters of every layer's MLP."""
    return model.num_layers * mlp_params(model)


@formula("params", family="dense", domain="count")
def params_from_parts(model, embedding_params, attention_params_per_layer,
                      norm_params_per_layer, mlp_params, final_norm_params, lm_head_params):
    """Total unique parameters (a tied LM head counted once, buffers excluded)."""
    return (embedding_params + model.num_layers * (attention_params_per_layer
                                                   + norm_params_per_layer)
            + mlp_params + final_norm_params + lm_head_params)


@formula(family="dense", domain="count")
def active_params(params):
    """Parameters each token uses: all of them in a dense model."""
    return params


@formula("non_embedding_params", family="dense", domain="whole")
def non_embedding_params_from_parts(params, embedding_params, lm_head_params):
    """Parameters outside the embeddings and LM head: the layers and the final norm."""
    return params - embedding_params - lm_head_params


FORMULAS = tuple(formula(f.__name__, family="dense", domain="whole")(f) for f in (
    embedding_params, lm_head_params, final_norm_params)) + (
    attention_params_per_layer, norm_params_per_layer, mlp_params_all_layers, params_from_parts,
    active_params, non_embedding_params_from_parts)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
