"""Exact parameter counts of a mixture-of-experts transformer: total and active.

Per MoE layer the Hugging Face modules (MixtralSparseMoeBlock, Qwen2MoeSparseMoeBlock,
Qwen3MoeSparseMoeBlock, DeepSeek's MoE) hold:

- the router: ``hidden x num_experts`` weights, no bias (plus ``num_experts`` when
  ``router_bias``: DeepSeek-V3's score-correction bias);
- ``num_experts`` routed experts, each an MLP of width ``moe_intermediate_size`` laid out like
  the dense MLP (three matrices when gated, two when plain; biases only with ``bias = "all"``);
- shared experts: one MLP of total width ``shared_intermediate_size`` (Qwen2-MoE's single
  shared expert; DeepSeek fuses its ``n_shared_experts`` into one MLP of ``n x`` the width);
- Qwen2-MoE's shared-expert gate: ``hidden x 1``.

The first ``dense_layers`` layers hold the dense MLP instead. Qwen3's per-head query and key
norms (``qk_norm``) add ``2 x head_dim`` per layer. Everything else (attention, layer norms,
embeddings, LM head) is the dense family's.

Active parameters are the total minus the routed experts a token does not run:
``moe_layers x (num_experts - experts_per_token) x expert_params``. The router and the shared
experts count in full, as every token runs them; this is the convention behind the published
"13B active" of Mixtral-8x7B (12,879,925,248 with the router counted in full).
"""

from __future__ import annotations

from typing import NamedTuple

from ridgeline.plugin import ScenarioError, formula, hookimpl


class MoeShape(NamedTuple):
    """A model's mixture-of-experts options, with their defaults filled in and checked."""

    experts: int
    """Routed experts per MoE layer."""
    top_k: int
    """Routed experts each token runs."""
    expert_width: int
    """Width of one routed expert's MLP."""
    shared_width: int
    """Total width of the shared-expert MLP (0: none)."""
    shared_gate: bool
    dense_layers: int
    """Layers with a dense MLP: the leading ``dense_layers`` and those ``moe_layer_step`` skips."""
    moe_layers: int
    router_bias: bool
    qk_norm: bool
    expert_bias: bool


def _whole(model, name, value, least):
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ScenarioError(f"model {model.id}: options.{name} must be a whole number >= "
                            f"{least}, got {value!r}")
    return value


def moe_shape(model) -> MoeShape:
    """The MoE options of ``model`` with defaults applied; a clear error for impossible ones.

    Raises:
        ScenarioError: an option is missing, not a whole number, or contradicts another
            (more experts per token than experts, as many dense layers as layers).
    """
    experts = model.option("num_experts")
    top_k = model.option("experts_per_token")
    if experts is None or top_k is None:
        raise ScenarioError(f"model {model.id}: the moe family needs options.num_experts and "
                            f"options.experts_per_token")
    experts = _whole(model, "num_experts", experts, 1)
    top_k = _whole(model, "experts_per_token", top_k, 1)
    if top_k > experts:
        raise ScenarioError(f"model {model.id}: options.experts_per_token ({top_k}) exceeds "
                            f"options.num_experts ({experts})")
    width = _whole(model, "moe_intermediate_size",
                   model.option("moe_intermediate_size", model.intermediate_size), 1)
    shared = _whole(model, "shared_experts", model.option("shared_experts", 0), 0)
    shared_width = _whole(model, "shared_intermediate_size",
                          model.option("shared_intermediate_size", shared * width), 0)
    dense = _whole(model, "dense_layers", model.option("dense_layers", 0), 0)
    step = _whole(model, "moe_layer_step", model.option("moe_layer_step", 1), 1)
    # Llama 4 and Qwen-MoE: layer i (from 0) is a MoE layer when (i + 1) % step == 0
    moe_layers = model.num_layers // step - dense // step
    if moe_layers < 1:
        raise ScenarioError(f"model {model.id}: options.dense_layers ({dense}) and "
                            f"options.moe_layer_step ({step}) leave no MoE layer of its "
                            f"{model.num_layers}")
    return MoeShape(experts, top_k, width, shared_width,
                    bool(model.option("shared_expert_gate", False)),
                    model.num_layers - moe_layers, moe_layers,
                    bool(model.option("router_bias", False)),
                    bool(model.option("qk_norm", False)),
                    bool(model.option("expert_bias", False)))


def mlp_width_params(model, width: int) -> int:
    """Parameters of one MLP of ``width`` laid out like the model's dense MLP, with biases."""
    if width == 0:
        return 0
    hidden = model.hidden_size
    up_matrices = 2 if model.mlp == "gated" else 1  # gated: gate and up
    weights = (up_matrices + 1) * hidden * width
    biases = up_matrices * width + hidden if model.bias in ("all", "mlp") else 0
    return weights + biases


def expert_params(model) -> int:
    """Parameters of one routed expert (with gpt-oss's expert biases)."""
    s = moe_shape(model)
    if s.expert_bias and model.bias not in ("all", "mlp"):
        up_matrices = 2 if model.mlp == "gated" else 1
        return mlp_width_params(model, s.expert_width) + up_matrices * s.expert_width + \
            model.hidden_size
    return mlp_width_params(model, s.expert_width)


def router_params(model) -> int:
    """Parameters of one MoE layer's router and Qwen2-MoE's shared-expert gate."""
    s = moe_shape(model)
    return (model.hidden_size * s.experts + (s.experts if s.router_bias else 0)
            + (model.hidden_size if s.shared_gate else 0))


def moe_layer_mlp_params(model) -> int:
    """Parameters of one MoE layer's MLP: router, routed experts, shared experts and gate."""
    s = moe_shape(model)
    return (router_params(model) + s.experts * expert_params(model)
            + mlp_width_params(model, s.shared_width))


def dense_layer_mlp_params(model) -> int:
    """Parameters of the dense MLP of the leading dense layers."""
    return mlp_width_params(model, model.intermediate_size)


def all_mlp_params(model) -> int:
    """Parameters of every layer's MLP, dense and MoE."""
    s = moe_shape(model)
    return s.dense_layers * dense_layer_mlp_params(model) + \
        s.moe_layers * moe_layer_mlp_params(model)


def all_routed_expert_params(model) -> int:
    """Parameters of the routed experts of every MoE layer."""
    s = moe_shape(model)
    return s.moe_layers * s.experts * expert_params(model)


def inactive_expert_params(model) -> int:
    """Parameters of the routed experts one token does not run, over every MoE layer."""
    s = moe_shape(model)
    return s.moe_layers * (s.experts - s.top_k) * expert_params(model)


def qk_norm_params(model) -> int:
    """Parameters of one layer's query and key norms (``head_dim`` weights each)."""
    return 2 * model.head_width if moe_shape(model).qk_norm else 0


# ---- formulas: the MoE family replaces the MLP's share of the dense composition


@formula("mlp_params", family="moe", domain="whole")
def moe_mlp_params(model):
    """Parameters of every layer's MLP: routers, all routed experts, shared experts and gates,
    and the dense MLP of the leading dense layers."""
    return all_mlp_params(model)


@formula(family="moe", unit="", domain="whole")
def routed_expert_params(model):
    """Parameters of every routed expert of every MoE layer (held in memory, mostly idle)."""
    return all_routed_expert_params(model)


@formula(family="moe", unit="", domain="whole")
def qk_norm_params_per_layer(model):
    """Parameters of one layer's per-head query and key norms (Qwen3); 0 without them."""
    return qk_norm_params(model)


@formula("params", family="moe", domain="count")
def moe_params_from_parts(model, embedding_params, attention_params_per_layer,
                          norm_params_per_layer, qk_norm_params_per_layer, mlp_params,
                          final_norm_params, lm_head_params):
    """Total unique parameters: the dense composition with the MoE MLP, every expert counted."""
    return (embedding_params + model.num_layers * (attention_params_per_layer
                                                   + norm_params_per_layer
                                                   + qk_norm_params_per_layer)
            + mlp_params + final_norm_params + lm_head_params)


@formula("active_params", family="moe", domain="count")
def moe_active_params(model, params):
    """Parameters one token uses: all but the routed experts it does not run (router and
    shared experts in full)."""
    return params - inactive_expert_params(model)


FORMULAS = (moe_mlp_params, routed_expert_params, qk_norm_params_per_layer,
            moe_params_from_parts, moe_active_params)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
