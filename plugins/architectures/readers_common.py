"""Helpers the built-in config readers share: head layouts, Llama-like fields, mixtures of
experts, latent attention. Each takes the :class:`HFConfig` being read and names the field in
every error. Not a plugin itself: the ``readers_*`` modules register the readers.
"""

from __future__ import annotations

from ridgeline.plugin import HFConfig

#: keys whose presence (with a non-zero value) marks a mixture-of-experts config.
MOE_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


def attention(cfg: HFConfig, hidden: int, heads: int, *, kv_heads: int | None,
               head_dim: int | None, kv_field: str = "num_key_value_heads") -> dict:
    """Validate the head layout and return the Model's attention fields."""
    if head_dim is None and hidden % heads:
        cfg.fail("hidden_size", f"{hidden} is not divisible by num_attention_heads ({heads}) "
                                f"and no head_dim is given")
    kv = kv_heads or heads
    if heads % kv:
        cfg.fail(kv_field, f"num_attention_heads ({heads}) must be a multiple of the "
                           f"key/value heads ({kv})")
    derived_head_dim = hidden // heads if hidden % heads == 0 else None
    # the Model keeps only what differs from its defaults (MHA, hidden_size / heads)
    return {"num_heads": heads, "num_kv_heads": None if kv == heads else kv,
            "head_dim": None if head_dim == derived_head_dim else head_dim}


def derived_head_dim(cfg: HFConfig, hidden: int, heads: int) -> None:
    """Families that derive the head width from ``hidden_size`` accept only that value."""
    head_dim = cfg.size("head_dim", default=None)
    if hidden % heads:
        cfg.fail("hidden_size", f"{hidden} is not divisible by num_attention_heads ({heads})")
    if head_dim is not None and head_dim != hidden // heads:
        cfg.fail("head_dim", f"{head_dim} contradicts hidden_size / num_attention_heads = "
                             f"{hidden // heads}, which this model_type always uses")


def full_multi_head(cfg: HFConfig, heads: int) -> None:
    """Families without grouped-query attention accept only ``kv heads == heads``."""
    kv = cfg.size("num_key_value_heads", default=heads)
    if kv != heads:
        cfg.fail("num_key_value_heads", f"{kv} differs from num_attention_heads ({heads}), "
                                        f"but this model_type has no grouped-query attention")


def matching_intermediate(cfg: HFConfig, effective: int, source: str) -> None:
    """An ``intermediate_size`` the family does not read must agree with the width it uses."""
    given = cfg.size("intermediate_size", default=None)
    if given is not None and given != effective:
        cfg.fail("intermediate_size", f"{given} contradicts the MLP width this model_type "
                                      f"uses ({source} = {effective})")


def llama_like(cfg: HFConfig, *, tie_default: bool, max_seq_default: int,
               bias: str | None = None, head_dim_default: int | None = None,
               kv_heads_default: int | None = None) -> dict:
    """Llama, Mistral, Qwen2, Phi-3, Gemma: RMSNorm, gated MLP, rotary positions, GQA.

    ``bias`` is the family's fixed bias layout; ``None`` reads Llama's bias switches.
    """
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_attention_heads")
    return {
        "vocab_size": cfg.size("vocab_size"),
        "hidden_size": hidden,
        "num_layers": cfg.size("num_hidden_layers"),
        "intermediate_size": cfg.size("intermediate_size"),
        **attention(cfg, hidden, heads,
                    kv_heads=cfg.size("num_key_value_heads", default=kv_heads_default),
                    head_dim=cfg.size("head_dim", default=head_dim_default)),
        "mlp": "gated", "norm": "rmsnorm", "positions": "rotary",
        "bias": llama_biases(cfg) if bias is None else bias,
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=tie_default),
        "max_seq_len": cfg.size("max_position_embeddings", default=max_seq_default),
    }


def llama_biases(cfg: HFConfig) -> str:
    """Llama's ``attention_bias`` (Q, K, V and O) and ``mlp_bias`` (all three MLP matrices)."""
    return bias_layout(cfg.flag("attention_bias", default=False),
                       cfg.flag("mlp_bias", default=False))


def bias_layout(attention: bool, mlp: bool) -> str:
    """The Model's ``bias`` for biases on all four attention projections and/or the MLP."""
    return {(True, True): "all", (True, False): "attention", (False, True): "mlp",
            (False, False): "none"}[(attention, mlp)]


def windows(cfg: HFConfig, num_layers: int, *, window_default: int | None,
            pattern: int | None = None, all_layers: bool = False) -> dict:
    """The Model's ``sliding_window`` and ``window_layers`` from a config's window keys.

    ``layer_types`` (``sliding_attention`` / ``full_attention`` per layer) wins where given.
    Otherwise ``pattern``: every ``pattern``-th layer is global, the rest windowed (Gemma 3:
    6, Cohere 2: 4); ``all_layers``: every layer is windowed (Mistral, Starcoder2); else Qwen2's
    ``use_sliding_window`` with the layers from ``max_window_layers`` on windowed.
    """
    cfg.use("use_sliding_window", "max_window_layers", "sliding_window_pattern",
            "_sliding_window_pattern")
    window = cfg.size("sliding_window", default=window_default)
    types = cfg.strings("layer_types")
    if types is not None:
        if len(types) != num_layers:
            cfg.fail("layer_types", f"{len(types)} entries for {num_layers} layers")
        windowed = sum(t in ("sliding_attention", "chunked_attention") for t in types)
    elif pattern is not None:
        given = cfg.data.get("sliding_window_pattern", cfg.data.get("_sliding_window_pattern"))
        if given is not None:
            if isinstance(given, bool) or not isinstance(given, int) or given < 1:
                cfg.fail("sliding_window_pattern", f"expected a whole number >= 1, got "
                                                   f"{given!r}")
            pattern = given
        windowed = num_layers - num_layers // pattern  # layer i is global when (i+1) % pattern == 0
    elif all_layers:
        windowed = num_layers
    else:
        if not cfg.flag("use_sliding_window", default=False):
            return {}
        start = cfg.count("max_window_layers", default=num_layers)
        windowed = max(0, num_layers - start)
    if window is None or windowed == 0:
        return {}
    return {"sliding_window": window,
            "window_layers": None if windowed == num_layers else windowed}


def moe(cfg: HFConfig, fields: dict, experts_keys: tuple[str, ...], *, experts_default: int,
         top_k_default: int, **options) -> dict:
    """``fields`` as a family ``moe`` model with ``options``; expert-count keys of other
    families are refused rather than ignored."""
    for key in MOE_KEYS:
        if key not in experts_keys and cfg.present(key):
            cfg.fail(key, f"not a field of this model_type (family 'moe'): its routed experts "
                          f"are {' or '.join(experts_keys)}")
    experts = cfg.size(*experts_keys, default=experts_default)
    top_k = cfg.size("num_experts_per_tok", default=top_k_default)
    if top_k > experts:
        cfg.fail("num_experts_per_tok", f"{top_k} exceeds the {experts} routed experts")
    return {**fields, "family": "moe",
            "options": {"num_experts": experts, "experts_per_token": top_k, **options}}


def dense_prefix(cfg: HFConfig, num_layers: int) -> dict:
    """Qwen-MoE's ``decoder_sparse_step`` and ``mlp_only_layers`` as the moe family's
    ``moe_layer_step`` and ``dense_layers`` options (a layer is MoE when it is not in
    ``mlp_only_layers`` and (i + 1) % step == 0): dense layers other than a prefix 0 .. k-1
    are not modelled."""
    step = cfg.size("decoder_sparse_step", default=1)
    cfg.used.add("mlp_only_layers")
    dense = cfg.data.get("mlp_only_layers") or []
    if not isinstance(dense, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                              for i in dense):
        cfg.fail("mlp_only_layers", f"expected a list of layer indices, got {dense!r}")
    if sorted(dense) != list(range(len(dense))) or len(dense) >= num_layers:
        cfg.fail("mlp_only_layers", f"{dense}: only dense layers 0 .. k-1 followed by MoE "
                                    f"layers are modelled")
    if num_layers // step - len(dense) // step < 1:
        cfg.fail("decoder_sparse_step", f"{step} leaves no MoE layer of the {num_layers}")
    return {**({"dense_layers": len(dense)} if dense else {}),
            **({"moe_layer_step": step} if step != 1 else {})}



def latent_attention(cfg: HFConfig, heads: int, *, q_lora_default: int | None,
                      v_default: int | None = None) -> dict:
    """Multi-head latent attention (DeepSeek-V2/V3, MiniCPM3): the Model's fields and the
    ``mla`` options. ``q_lora_rank: null`` means an uncompressed query (DeepSeek-V2-Lite)."""
    kv = cfg.size("num_key_value_heads", default=heads)
    if kv != heads:
        cfg.fail("num_key_value_heads", f"{kv} differs from num_attention_heads ({heads}); "
                                        f"multi-head latent attention gives every head its "
                                        f"own key and value")
    if cfg.flag("attention_bias", default=False):
        cfg.fail("attention_bias", "biases on q_a_proj, kv_a_proj_with_mqa and o_proj are not "
                                   "modelled with multi-head latent attention")
    cfg.used.add("q_lora_rank")
    if "q_lora_rank" in cfg.data and cfg.data["q_lora_rank"] is None:
        q_lora = 0
    else:
        q_lora = cfg.size("q_lora_rank", default=q_lora_default)
    nope = cfg.size("qk_nope_head_dim")
    rope = cfg.size("qk_rope_head_dim")
    v = cfg.size("v_head_dim", default=v_default)
    # Transformers stores the rotary width as head_dim in these configs
    head_dim = cfg.size("head_dim", default=None)
    if head_dim is not None and head_dim not in (rope, nope + rope):
        cfg.fail("head_dim", f"{head_dim} is neither qk_rope_head_dim ({rope}) nor "
                             f"qk_nope_head_dim + qk_rope_head_dim ({nope + rope})")
    options = {"kv_lora_rank": cfg.size("kv_lora_rank"), "qk_nope_head_dim": nope,
               "qk_rope_head_dim": rope, "v_head_dim": v}
    if q_lora:
        options["q_lora_rank"] = q_lora
    return {"num_heads": heads, "head_dim": nope + rope, "attention": "mla",
            "options": options}
