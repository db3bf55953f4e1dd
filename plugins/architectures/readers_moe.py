"""Config readers of mixtures of experts: Mixtral, Qwen2-MoE, Qwen3-MoE (family ``moe``).
"""

from __future__ import annotations

from ridgeline.plugin import ConfigReader, HFConfig, hookimpl

from .readers_common import (attention, bias_layout, windows, llama_like, moe, dense_prefix)


def _read_mixtral(cfg: HFConfig) -> dict:
    # Mixtral: Mistral's layout with every MLP a top-2-of-8 mixture of full-width experts
    fields = llama_like(cfg, kv_heads_default=8, tie_default=False, max_seq_default=4096 * 32,
                        bias="none")
    return moe(cfg, fields, ("num_local_experts",), experts_default=8, top_k_default=2)


def _read_qwen2_moe(cfg: HFConfig) -> dict:
    # Qwen1.5-MoE and Qwen2-MoE: Qwen2's Q/K/V biases; one shared expert behind a sigmoid gate
    fields = llama_like(cfg, kv_heads_default=16, tie_default=False, max_seq_default=32768,
                        bias="qkv")
    return moe(cfg, fields, ("num_experts", "num_local_experts"), experts_default=60,
                top_k_default=4,
                moe_intermediate_size=cfg.size("moe_intermediate_size", default=1408),
                shared_experts=1,
                shared_intermediate_size=cfg.size("shared_expert_intermediate_size",
                                                  default=5632),
                shared_expert_gate=True, **dense_prefix(cfg, fields["num_layers"]))


def _read_qwen3_moe(cfg: HFConfig) -> dict:
    # Qwen3-MoE: no biases, per-head query and key RMSNorms, no shared expert
    if cfg.flag("attention_bias", default=False):
        cfg.fail("attention_bias", "biases on Q, K, V and O without MLP biases are not a "
                                   "layout the moe family models")
    fields = llama_like(cfg, kv_heads_default=4, tie_default=False, max_seq_default=32768,
                        bias="none")
    return moe(cfg, fields, ("num_experts", "num_local_experts"), experts_default=128,
                top_k_default=8,
                moe_intermediate_size=cfg.size("moe_intermediate_size", default=768),
                qk_norm=True, **dense_prefix(cfg, fields["num_layers"]))


def _read_olmoe(cfg: HFConfig) -> dict:
    # OLMoE: every layer 64 experts of intermediate_size, top-8; RMSNorms over the whole
    # query and key widths; clip_qkv clamps, no parameters
    cfg.use("clip_qkv")
    fields = llama_like(cfg, tie_default=False, max_seq_default=4096,
                        bias=bias_layout(cfg.flag("attention_bias", default=False), False))
    return {**moe(cfg, {**fields, "qk_norm": "full"}, ("num_experts",), experts_default=64,
                  top_k_default=8)}


def _read_granitemoe(cfg: HFConfig) -> dict:
    # Granite 3 MoE: Granite's scalar multipliers, every layer a top-k of fused gated experts
    cfg.use("embedding_multiplier", "residual_multiplier", "attention_multiplier",
            "logits_scaling")
    fields = llama_like(cfg, tie_default=False, max_seq_default=2048,
                        bias=bias_layout(cfg.flag("attention_bias", default=False), False))
    return moe(cfg, fields, ("num_local_experts",), experts_default=8, top_k_default=2)


def _read_phimoe(cfg: HFConfig) -> dict:
    # Phi-3.5-MoE: LayerNorms with biases, optional biases on the attention projections and on
    # the LM head, 16 full-width experts top-2
    fields = llama_like(cfg, kv_heads_default=8, tie_default=False, max_seq_default=131072,
                        bias=bias_layout(cfg.flag("attention_bias", default=False), False))
    fields = {**fields, "norm": "layernorm",
              "lm_head_bias": cfg.flag("lm_head_bias", default=False),
              **windows(cfg, fields["num_layers"], window_default=None, all_layers=True)}
    return moe(cfg, fields, ("num_local_experts",), experts_default=16, top_k_default=2)


def _read_gpt_oss(cfg: HFConfig) -> dict:
    # gpt-oss: biases on the attention projections, one learned sink logit per head, every
    # other layer a 128-token window; every layer routes to experts that carry biases, through
    # a router with a bias
    fields = llama_like(cfg, kv_heads_default=8, tie_default=False, max_seq_default=131072,
                        head_dim_default=64,
                        bias="attention" if cfg.flag("attention_bias", default=True) else "none")
    cfg.use("swiglu_limit", "router_aux_loss_coef")
    fields = {**fields, "attention_sinks": True,
              **windows(cfg, fields["num_layers"], window_default=128, pattern=2)}
    return moe(cfg, fields, ("num_local_experts",), experts_default=128, top_k_default=4,
               router_bias=True, expert_bias=True)


def _read_llama4_text(cfg: HFConfig) -> dict:
    # Llama 4: routed experts of intermediate_size plus one shared expert of the same width
    # in every interleave_moe_layer_step-th layer, dense MLPs of intermediate_size_mlp in the
    # others; the layers with rotary positions attend within chunks of attention_chunk_size,
    # the no-rotary layers globally; its QK norm is an L2 norm without weights
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_attention_heads")
    layers = cfg.size("num_hidden_layers")
    cfg.use("use_qk_norm", "no_rope_layers", "no_rope_layer_interval", "moe_layers")
    step = cfg.size("interleave_moe_layer_step", default=1)
    expert_width = cfg.size("intermediate_size", default=8192)
    fields = {
        "vocab_size": cfg.size("vocab_size", default=202048), "hidden_size": hidden,
        "num_layers": layers,
        "intermediate_size": cfg.size("intermediate_size_mlp", default=16384),
        **attention(cfg, hidden, heads, kv_heads=cfg.size("num_key_value_heads", default=8),
                    head_dim=cfg.size("head_dim", default=128)),
        "mlp": "gated", "norm": "rmsnorm", "positions": "rotary",
        "bias": bias_layout(cfg.flag("attention_bias", default=False), False),
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=False),
        "max_seq_len": cfg.size("max_position_embeddings", default=131072),
    }
    chunk = cfg.size("attention_chunk_size", default=None)
    if chunk is not None:
        no_rope = cfg.data.get("no_rope_layers")
        interval = cfg.data.get("no_rope_layer_interval", 4)
        # no_rope_layers[i] == 1: layer i uses rotary positions and so the chunked attention
        if isinstance(no_rope, list) and len(no_rope) == layers:
            chunked = sum(1 for flag in no_rope if flag)
        elif isinstance(interval, int) and not isinstance(interval, bool) and interval >= 1:
            chunked = layers - layers // interval
        else:
            cfg.fail("no_rope_layer_interval", f"expected a whole number >= 1, got "
                                               f"{interval!r}")
        if chunked:
            fields.update(sliding_window=chunk, window_kind="chunked",
                          window_layers=None if chunked == layers else chunked)
    if layers // step < 1:
        cfg.fail("interleave_moe_layer_step", f"{step} leaves no MoE layer of the {layers}")
    options = {"moe_intermediate_size": expert_width, "shared_experts": 1}
    if step != 1:
        options["moe_layer_step"] = step
    return moe(cfg, fields, ("num_local_experts",), experts_default=16, top_k_default=1,
               **options)


def _read_llama4(cfg: HFConfig) -> dict:
    # the multimodal Llama 4 config nests its language model; the vision tower is not read
    return _read_llama4_text(cfg.nested("text_config"))


def _read_dbrx(cfg: HFConfig) -> dict:
    # DBRX: bias-free LayerNorms and projections, grouped KV heads and clip_qkv in attn_config,
    # 16 gated experts top-4 in every layer (ffn_config)
    hidden = cfg.size("d_model", "hidden_size")
    heads = cfg.size("n_heads", "num_attention_heads")
    cfg.use("attn_config", "ffn_config")
    sub = {}
    for name in ("attn_config", "ffn_config"):
        value = cfg.data.get(name) or {}
        if not isinstance(value, dict):
            cfg.fail(name, f"expected an object of fields, got {value!r}")
        sub[name] = HFConfig(value, f"{cfg.source}: {name}")
    attn, ffn = sub["attn_config"], sub["ffn_config"]
    attn.use("clip_qkv", "rope_theta")
    experts = ffn.size("moe_num_experts", default=4)
    top_k = ffn.size("moe_top_k", default=1)
    if top_k > experts:
        ffn.fail("moe_top_k", f"{top_k} exceeds the {experts} experts")
    width = ffn.size("ffn_hidden_size", default=3584)
    fields = {
        "vocab_size": cfg.size("vocab_size", default=32000), "hidden_size": hidden,
        "num_layers": cfg.size("n_layers", "num_hidden_layers", default=24),
        "intermediate_size": width,
        **attention(cfg, hidden, heads, kv_heads=attn.size("kv_n_heads", default=1),
                    head_dim=None, kv_field="attn_config.kv_n_heads"),
        "mlp": "gated", "norm": "layernorm-nobias", "positions": "rotary", "bias": "none",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=False),
        "max_seq_len": cfg.size("max_seq_len", default=2048),
    }
    return {**fields, "family": "moe",
            "options": {"num_experts": experts, "experts_per_token": top_k}}


@hookimpl
def ridgeline_register_config_readers(register):
    register(ConfigReader("mixtral", _read_mixtral, "Mixtral: top-2 of 8 full-width experts",
                          family="moe", experts_keys=("num_local_experts",)))
    register(ConfigReader("qwen2_moe", _read_qwen2_moe, "Qwen1.5/2-MoE: fine-grained "
                          "experts and a gated shared expert", family="moe",
                          experts_keys=("num_experts", "num_local_experts")))
    register(ConfigReader("qwen3_moe", _read_qwen3_moe, "Qwen3-MoE: fine-grained experts, "
                          "per-head QK norms", family="moe",
                          experts_keys=("num_experts", "num_local_experts")))
    for model_type, reader, doc, keys in (
            ("olmoe", _read_olmoe, "OLMoE: 64 experts top-8, full-width QK norms",
             ("num_experts",)),
            ("granitemoe", _read_granitemoe, "Granite 3 MoE", ("num_local_experts",)),
            ("phimoe", _read_phimoe, "Phi-3.5-MoE: LayerNorm, 16 experts top-2",
             ("num_local_experts",)),
            ("gpt_oss", _read_gpt_oss, "gpt-oss: attention sinks, expert and router biases, "
                                       "128-token windows", ("num_local_experts",)),
            ("llama4_text", _read_llama4_text, "Llama 4: shared expert, interleaved MoE, "
                                               "chunked attention", ("num_local_experts",)),
            ("llama4", _read_llama4, "Llama 4 (its text_config; the vision tower is not read)",
             ("num_local_experts",)),
            ("dbrx", _read_dbrx, "DBRX: 16 experts top-4, bias-free", ()),
    ):
        register(ConfigReader(model_type, reader, doc, family="moe", experts_keys=keys,
                              count_keys=COUNT_KEYS))


#: keys of these families that change the parameter count
COUNT_KEYS = ("intermediate_size_mlp", "interleave_moe_layer_step", "lm_head_bias",
              "ffn_config", "attn_config")
