"""Config readers of the GPT lineage: GPT-2, OPT, GPT-NeoX and Falcon (LayerNorm, plain MLP,
biases, learned or rotary positions).
"""

from __future__ import annotations

from ridgeline.plugin import ConfigReader, HFConfig, hookimpl

from .readers_common import (attention, derived_head_dim, full_multi_head,
                             matching_intermediate, windows)


def _read_gpt2(cfg: HFConfig) -> dict:
    hidden = cfg.size("n_embd", "hidden_size")
    heads = cfg.size("n_head", "num_attention_heads")
    derived_head_dim(cfg, hidden, heads)
    full_multi_head(cfg, heads)
    inner = cfg.size("n_inner", default=None)
    intermediate = inner or 4 * hidden
    matching_intermediate(cfg, intermediate, "n_inner" if inner else "4 * n_embd")
    if cfg.flag("add_cross_attention", default=False):
        cfg.fail("add_cross_attention", "cross-attention layers are not part of a decoder-only "
                                        "model")
    return {
        "vocab_size": cfg.size("vocab_size"),
        "hidden_size": hidden,
        "num_layers": cfg.size("n_layer", "num_hidden_layers"),
        "num_heads": heads,
        "intermediate_size": intermediate,
        "mlp": "plain", "bias": "all", "norm": "layernorm", "positions": "learned",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=True),
        "max_seq_len": cfg.size("n_positions", "max_position_embeddings", default=1024),
    }


def _read_opt(cfg: HFConfig) -> dict:
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_attention_heads")
    derived_head_dim(cfg, hidden, heads)
    full_multi_head(cfg, heads)
    intermediate = cfg.size("ffn_dim")
    matching_intermediate(cfg, intermediate, "ffn_dim")
    if not cfg.flag("layer_norm_elementwise_affine", default=True):
        cfg.fail("layer_norm_elementwise_affine", "LayerNorms without weights are not modelled")
    embed_dim = cfg.size("word_embed_proj_dim", default=hidden)
    max_positions = cfg.size("max_position_embeddings", default=2048)
    # post-LN OPT (350m) has no final norm; so does a config that removes it explicitly
    final_norm = (cfg.flag("do_layer_norm_before", default=True)
                  and not cfg.flag("_remove_final_layer_norm", default=False))
    return {
        "vocab_size": cfg.size("vocab_size"),
        "hidden_size": hidden,
        "num_layers": cfg.size("num_hidden_layers"),
        "num_heads": heads,
        "intermediate_size": intermediate,
        "mlp": "plain", "norm": "layernorm", "positions": "learned",
        "bias": "all" if cfg.flag("enable_bias", default=True) else "none",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=True),
        # OPT's learned position table keeps 2 rows for its padding offset
        "position_rows": max_positions + 2,
        "max_seq_len": max_positions,
        "final_norm": final_norm,
        "embed_dim": embed_dim if embed_dim != hidden else None,
    }


def _read_gpt_neox(cfg: HFConfig) -> dict:
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_attention_heads")
    derived_head_dim(cfg, hidden, heads)
    full_multi_head(cfg, heads)
    if not cfg.flag("attention_bias", default=True):
        cfg.fail("attention_bias", "false leaves biases on the MLP only, a layout the dense "
                                   "family does not model")
    return {
        "vocab_size": cfg.size("vocab_size"),
        "hidden_size": hidden,
        "num_layers": cfg.size("num_hidden_layers"),
        "num_heads": heads,
        "intermediate_size": cfg.size("intermediate_size"),
        "mlp": "plain", "bias": "all", "norm": "layernorm", "positions": "rotary",
        "parallel_layers": cfg.flag("use_parallel_residual", default=True),
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=False),
        "max_seq_len": cfg.size("max_position_embeddings", default=2048),
    }


def _read_falcon(cfg: HFConfig) -> dict:
    hidden = cfg.size("hidden_size", "n_embed")
    heads = cfg.size("num_attention_heads", "n_head")
    derived_head_dim(cfg, hidden, heads)
    new_architecture = cfg.flag("new_decoder_architecture", default=False)
    multi_query = cfg.flag("multi_query", default=True)
    parallel = cfg.flag("parallel_attn", default=True)
    # Falcon's fused QKV width: grouped KV heads in the new architecture; otherwise one
    # shared KV head with multi_query, else full multi-head (num_kv_heads is then unused)
    configured_kv = cfg.size("num_kv_heads", "n_head_kv", default=heads)
    kv_heads = configured_kv if new_architecture else (1 if multi_query else heads)
    # The new architecture normalises attention and MLP inputs separately unless told not to
    parallel_norms = cfg.size("num_ln_in_parallel_attn", default=2 if new_architecture else 1)
    if parallel_norms not in (1, 2):
        cfg.fail("num_ln_in_parallel_attn", f"must be 1 or 2, got {parallel_norms}")
    return {
        "vocab_size": cfg.size("vocab_size"),
        "hidden_size": hidden,
        "num_layers": cfg.size("num_hidden_layers", "n_layer"),
        **attention(cfg, hidden, heads, kv_heads=kv_heads, head_dim=None,
                     kv_field="num_kv_heads"),
        "intermediate_size": cfg.size("ffn_hidden_size", default=4 * hidden),
        "mlp": "plain", "norm": "layernorm",
        "bias": "all" if cfg.flag("bias", default=False) else "none",
        "positions": "alibi" if cfg.flag("alibi", default=False) else "rotary",
        "norms_per_layer": parallel_norms if parallel else 2,
        "parallel_layers": parallel or new_architecture,
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=True),
        "max_seq_len": cfg.size("max_position_embeddings", default=2048),
    }


def _read_gpt_bigcode(cfg: HFConfig) -> dict:
    # SantaCoder / StarCoder: GPT-2 with one shared key/value head when multi_query (the
    # default)
    fields = _read_gpt2(cfg)
    return {**fields, "num_kv_heads": 1 if cfg.flag("multi_query", default=True) else None}


def _read_starcoder2(cfg: HFConfig) -> dict:
    # StarCoder2: grouped-query attention with rotary positions, LayerNorm, a plain MLP, and
    # biases everywhere when use_bias (the default); tied embeddings by default
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_attention_heads")
    layers = cfg.size("num_hidden_layers")
    fields = {
        "vocab_size": cfg.size("vocab_size"), "hidden_size": hidden, "num_layers": layers,
        "intermediate_size": cfg.size("intermediate_size"),
        **attention(cfg, hidden, heads, kv_heads=cfg.size("num_key_value_heads", default=None),
                    head_dim=None),
        "mlp": "plain", "norm": "layernorm", "positions": "rotary",
        "bias": "all" if cfg.flag("use_bias", default=True) else "none",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=True),
        "max_seq_len": cfg.size("max_position_embeddings", default=4096),
    }
    return {**fields, **windows(cfg, layers, window_default=None, all_layers=True)}


def _read_gptj(cfg: HFConfig) -> dict:
    # GPT-J: attention and MLP in parallel after one LayerNorm; Q, K, V and output without
    # biases, MLP and LM head with them; rotary over the first rotary_dim channels
    hidden = cfg.size("n_embd", "hidden_size")
    heads = cfg.size("n_head", "num_attention_heads")
    derived_head_dim(cfg, hidden, heads)
    full_multi_head(cfg, heads)
    cfg.use("rotary_dim")
    inner = cfg.size("n_inner", default=None)
    return {
        "vocab_size": cfg.size("vocab_size"), "hidden_size": hidden,
        "num_layers": cfg.size("n_layer", "num_hidden_layers"), "num_heads": heads,
        "intermediate_size": inner or 4 * hidden,
        "mlp": "plain", "bias": "mlp", "norm": "layernorm", "positions": "rotary",
        "parallel_layers": True, "norms_per_layer": 1, "lm_head_bias": True,
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=False),
        "max_seq_len": cfg.size("n_positions", "max_position_embeddings", default=2048),
    }


def _read_phi(cfg: HFConfig) -> dict:
    # Phi-1/1.5/2: GPT-J's parallel block with biases on every projection, partial rotary
    # positions, an LM head with a bias; optional per-head LayerNorms on queries and keys
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_attention_heads")
    derived_head_dim(cfg, hidden, heads)
    cfg.use("partial_rotary_factor")
    return {
        "vocab_size": cfg.size("vocab_size"), "hidden_size": hidden,
        "num_layers": cfg.size("num_hidden_layers"),
        "intermediate_size": cfg.size("intermediate_size"),
        **attention(cfg, hidden, heads, kv_heads=cfg.size("num_key_value_heads", default=None),
                    head_dim=None),
        "mlp": "plain", "bias": "all", "norm": "layernorm", "positions": "rotary",
        "parallel_layers": True, "norms_per_layer": 1, "lm_head_bias": True,
        "qk_norm": "head-bias" if cfg.flag("qk_layernorm", default=False) else "none",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=False),
        "max_seq_len": cfg.size("max_position_embeddings", default=2048),
    }


def _read_bloom(cfg: HFConfig) -> dict:
    # BLOOM: ALiBi (no position table), a LayerNorm right after the embedding, biases
    # everywhere, a 4x plain MLP, tied embeddings
    hidden = cfg.size("hidden_size", "n_embed")
    heads = cfg.size("n_head", "num_attention_heads")
    derived_head_dim(cfg, hidden, heads)
    full_multi_head(cfg, heads)
    matching_intermediate(cfg, 4 * hidden, "4 * hidden_size")
    return {
        "vocab_size": cfg.size("vocab_size"), "hidden_size": hidden,
        "num_layers": cfg.size("n_layer", "num_hidden_layers"), "num_heads": heads,
        "intermediate_size": 4 * hidden,
        "mlp": "plain", "bias": "all", "norm": "layernorm", "positions": "alibi",
        "embedding_norm": True,
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=True),
        "max_seq_len": cfg.size("seq_length", default=None),
    }


def _read_mpt(cfg: HFConfig) -> dict:
    # MPT: ALiBi, a plain MLP expansion_ratio x d_model wide, and no biases (LayerNorms
    # without them too) when no_bias, the default; tied embeddings
    hidden = cfg.size("d_model", "hidden_size")
    heads = cfg.size("n_heads", "num_attention_heads")
    derived_head_dim(cfg, hidden, heads)
    full_multi_head(cfg, heads)
    attn = cfg.data.get("attn_config") or {}
    cfg.use("attn_config")
    if not isinstance(attn, dict):
        cfg.fail("attn_config", f"expected an object of fields, got {attn!r}")
    if attn.get("qk_ln"):
        cfg.fail("attn_config.qk_ln", "query and key LayerNorms are not built by the reference "
                                      "MPT implementation")
    if attn.get("alibi") is False:
        cfg.fail("attn_config.alibi", "MPT without ALiBi is not built by the reference MPT "
                                      "implementation")
    ratio = cfg.size("expansion_ratio", default=4)
    no_bias = cfg.flag("no_bias", default=True)
    cfg.use("learned_pos_emb")
    return {
        "vocab_size": cfg.size("vocab_size"), "hidden_size": hidden,
        "num_layers": cfg.size("n_layers", "num_hidden_layers"), "num_heads": heads,
        "intermediate_size": ratio * hidden,
        "mlp": "plain", "bias": "none" if no_bias else "all",
        "norm": "layernorm-nobias" if no_bias else "layernorm", "positions": "alibi",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=True),
        "max_seq_len": cfg.size("max_seq_len", default=2048),
    }


@hookimpl
def ridgeline_register_config_readers(register):
    register(ConfigReader("gpt2", _read_gpt2, "GPT-2: LayerNorm, GELU MLP, learned positions"))
    register(ConfigReader("opt", _read_opt, "OPT: learned positions offset by 2"))
    register(ConfigReader("gpt_neox", _read_gpt_neox, "GPT-NeoX and Pythia: parallel "
                                                      "attention and MLP, rotary"))
    register(ConfigReader("falcon", _read_falcon, "Falcon: multi-query or grouped KV, "
                                                  "parallel blocks"))
    for model_type, reader, doc in (
            ("gpt_bigcode", _read_gpt_bigcode, "StarCoder / SantaCoder: GPT-2 with "
                                               "multi-query attention"),
            ("starcoder2", _read_starcoder2, "StarCoder2: GQA, rotary, LayerNorm, plain MLP"),
            ("gptj", _read_gptj, "GPT-J: parallel block, MLP and LM-head biases"),
            ("phi", _read_phi, "Phi-1/1.5/2: parallel block, partial rotary"),
            ("bloom", _read_bloom, "BLOOM: ALiBi, embedding LayerNorm"),
            ("mpt", _read_mpt, "MPT: ALiBi, no biases"),
    ):
        register(ConfigReader(model_type, reader, doc, count_keys=COUNT_KEYS))


#: keys of these families that change the parameter count
COUNT_KEYS = ("d_model", "n_heads", "n_layers", "expansion_ratio", "no_bias",
              "qk_layernorm")
