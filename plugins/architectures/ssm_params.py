"""Exact parameter counts of the state-space families (layouts in :mod:`.ssm`).

Counted as ``sum(p.numel() for p in model.parameters())`` counts the ``transformers`` modules
(``MambaForCausalLM``, ``Mamba2ForCausalLM``, ``FalconMambaForCausalLM``,
``JambaForCausalLM``): every ``nn.Parameter``, a tied LM head once.
"""

from __future__ import annotations

from ridgeline.plugin import formula, hookimpl
from ridgeline.plugins.architectures.dense_params import attention_params
from ridgeline.plugins.architectures.ssm import ssm_shape


def mixer_params(model) -> int:
    """Parameters of one Mamba mixer (Mamba-1 or Mamba-2, by the family)."""
    s = ssm_shape(model)
    hidden, d, n = model.hidden_size, s.d_inner, s.state_size
    conv = s.conv_channels * s.conv_kernel + (s.conv_channels if s.conv_bias else 0)
    if s.version == 2:
        in_width = 2 * d + 2 * s.groups * n + s.heads
        projections = hidden * in_width + d * hidden
        biases = in_width + hidden if s.proj_bias else 0
        # dt_bias, A_log and D per head; the gated RMSNorm's weight per channel
        return projections + biases + conv + 3 * s.heads + d
    projections = hidden * 2 * d + d * (s.dt_rank + 2 * n) + s.dt_rank * d + d * hidden
    biases = (2 * d + hidden if s.proj_bias else 0) + d  # dt_proj always has one
    inner_norms = s.dt_rank + 2 * n if s.inner_norms else 0
    return projections + biases + conv + d * n + d + inner_norms


def mixer_matmul_params(model) -> int:
    """Weights of one mixer's projections that every token multiplies by (no biases, no
    convolution, no per-channel vectors)."""
    s = ssm_shape(model)
    hidden, d, n = model.hidden_size, s.d_inner, s.state_size
    if s.version == 2:
        return hidden * (2 * d + 2 * s.groups * n + s.heads) + d * hidden
    return hidden * 2 * d + d * (s.dt_rank + 2 * n) + s.dt_rank * d + d * hidden


@formula(family=("mamba", "mamba2"), domain="whole")
def attention_params_per_layer(model):
    """Parameters of one layer's token mixer: a Mamba mixer in place of attention."""
    return mixer_params(model)


@formula("mlp_params", family=("mamba", "mamba2"), domain="whole")
def ssm_mlp_params(model):
    """A pure Mamba model has no MLP: the mixer's gate does the MLP's work."""
    return 0


@formula("attention_params_per_layer", family="jamba", domain="whole")
def jamba_attention_params_per_layer(model):
    """Parameters of the token mixer of one attention layer of the hybrid (the Mamba layers'
    are ``mamba_params_per_layer``)."""
    return attention_params(model)


@formula(family="jamba", unit="", domain="whole")
def mamba_params_per_layer(model):
    """Parameters of the Mamba mixer of one Mamba layer of the hybrid."""
    return mixer_params(model)


@formula("params", family="jamba", domain="count")
def jamba_params(model, embedding_params, attention_params_per_layer, mamba_params_per_layer,
                 norm_params_per_layer, mlp_params, final_norm_params, lm_head_params):
    """Total unique parameters: attention in the attention layers, a Mamba mixer in the rest,
    every layer's norms and MLP (dense or experts), embeddings, final norm, LM head."""
    s = ssm_shape(model)
    return (embedding_params + s.attention_layers * attention_params_per_layer
            + s.mamba_layers * mamba_params_per_layer + model.num_layers * norm_params_per_layer
            + mlp_params + final_norm_params + lm_head_params)


FORMULAS = (attention_params_per_layer, ssm_mlp_params, jamba_attention_params_per_layer,
            mamba_params_per_layer, jamba_params)

@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
