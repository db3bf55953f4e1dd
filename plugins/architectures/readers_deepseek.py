"""Config readers of DeepSeek-V2/V3 and MiniCPM3 (multi-head latent attention).
"""

from __future__ import annotations

from ridgeline.plugin import ConfigReader, HFConfig, hookimpl

from .readers_common import (moe, latent_attention)


def _deepseek(cfg: HFConfig, *, max_seq_default: int, topk_method_default: str,
              defaults: dict) -> dict:
    """DeepSeek-V2 and -V3: latent attention, then a dense MLP in the first
    ``first_k_dense_replace`` layers and a mixture of experts in the rest (every layer dense
    when ``n_routed_experts`` is null, as DeepSeek's modelling code allows). An absent MoE key
    takes ``defaults``, the config class's value."""
    heads = cfg.size("num_attention_heads")
    attention = latent_attention(cfg, heads, q_lora_default=1536)
    fields = {
        "vocab_size": cfg.size("vocab_size"),
        "hidden_size": cfg.size("hidden_size"),
        "num_layers": cfg.size("num_hidden_layers"),
        "intermediate_size": cfg.size("intermediate_size"),
        "mlp": "gated", "norm": "rmsnorm", "positions": "rotary", "bias": "none",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=False),
        "max_seq_len": cfg.size("max_position_embeddings", default=max_seq_default),
        **attention,
    }
    mla_options = fields.pop("options")
    # without routed experts the MoE layout keys describe nothing: every MLP is dense
    cfg.used.update(("n_routed_experts", "moe_intermediate_size", "moe_layer_freq",
                     "first_k_dense_replace", "n_shared_experts"))
    if "n_routed_experts" in cfg.data and cfg.data["n_routed_experts"] is None:
        return {**fields, "options": mla_options}
    if cfg.size("moe_layer_freq", default=1) != 1:
        cfg.fail("moe_layer_freq", "MoE in every k-th layer only is not modelled (the moe "
                                   "family keeps a dense MLP in the first dense_layers layers, "
                                   "MoE in the rest)")
    dense = cfg.count("first_k_dense_replace", defaults["first_k_dense_replace"])
    if dense >= fields["num_layers"]:
        cfg.fail("first_k_dense_replace", f"{dense} leaves no MoE layer of the "
                                          f"{fields['num_layers']}")
    shared = cfg.count("n_shared_experts", defaults["n_shared_experts"])
    topk_method = cfg.data.get("topk_method") or topk_method_default
    moe_options = {"moe_intermediate_size": cfg.size(
        "moe_intermediate_size", default=defaults["moe_intermediate_size"])}
    if shared:
        moe_options["shared_experts"] = shared
    if dense:
        moe_options["dense_layers"] = dense
    if topk_method == "noaux_tc":
        # DeepSeek-V3's e_score_correction_bias: an nn.Parameter in DeepSeek's modelling code
        # and stored in the checkpoint (a buffer in the Transformers port)
        moe_options["router_bias"] = True
    # V2's config class has no top-k default (its modelling code then fails): required there
    top_k = defaults["num_experts_per_tok"]
    if "num_experts_per_tok" in cfg.data and cfg.data["num_experts_per_tok"] is None:
        cfg.fail("num_experts_per_tok", "null: the routed experts need a top-k")
    cfg.size("num_experts_per_tok", **({} if top_k is None else {"default": top_k}))
    model = moe(cfg, fields, ("n_routed_experts",), experts_default=defaults["n_routed_experts"],
                top_k_default=top_k or 0, **moe_options)
    return {**model, "options": {**model["options"], **mla_options}}


def _read_deepseek_v2(cfg: HFConfig) -> dict:
    # DeepseekV2Config's defaults
    return _deepseek(cfg, max_seq_default=2048, topk_method_default="greedy",
                     defaults={"n_routed_experts": 64, "n_shared_experts": 2,
                               "first_k_dense_replace": 0, "moe_intermediate_size": 1407,
                               "num_experts_per_tok": None})


def _read_deepseek_v3(cfg: HFConfig) -> dict:
    # DeepseekV3Config's defaults
    return _deepseek(cfg, max_seq_default=4096, topk_method_default="noaux_tc",
                     defaults={"n_routed_experts": 256, "n_shared_experts": 1,
                               "first_k_dense_replace": 3, "moe_intermediate_size": 2048,
                               "num_experts_per_tok": 8})


def _read_minicpm3(cfg: HFConfig) -> dict:
    # MiniCPM3: a dense Llama-like model with DeepSeek-V2's latent attention; its value heads
    # are hidden_size / heads wide unless v_head_dim is given; tied embeddings by default
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_attention_heads")
    if cfg.flag("mlp_bias", default=False):
        cfg.fail("mlp_bias", "MLP biases are not modelled with multi-head latent attention")
    return {
        "vocab_size": cfg.size("vocab_size"),
        "hidden_size": hidden,
        "num_layers": cfg.size("num_hidden_layers"),
        "intermediate_size": cfg.size("intermediate_size"),
        "mlp": "gated", "norm": "rmsnorm", "positions": "rotary", "bias": "none",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=True),
        "max_seq_len": cfg.size("max_position_embeddings", default=32768),
        **latent_attention(cfg, heads, q_lora_default=768, v_default=hidden // heads),
    }


@hookimpl
def ridgeline_register_config_readers(register):
    register(ConfigReader("deepseek_v2", _read_deepseek_v2, "DeepSeek-V2: latent attention, "
                          "shared and routed experts", family="moe",
                          experts_keys=("n_routed_experts",)))
    register(ConfigReader("deepseek_v3", _read_deepseek_v3, "DeepSeek-V3: latent attention, "
                          "routed experts with a bias-corrected router", family="moe",
                          experts_keys=("n_routed_experts",)))
    register(ConfigReader("minicpm3", _read_minicpm3, "MiniCPM3: dense with latent attention"))
