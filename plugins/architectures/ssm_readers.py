"""Readers of Hugging Face ``config.json`` files of the state-space families.

Each reader takes the config view the config loader hands it (``size``, ``flag``, ``present``
and ``fail``, which name the offending field in every error) and returns the fields of a
:class:`Model`, with ``family`` and ``options``. The keys and defaults are those of
``transformers``' ``MambaConfig``, ``Mamba2Config``, ``FalconMambaConfig`` and
``JambaConfig``.
"""

from __future__ import annotations

import math

from ridgeline.plugin import ConfigReader, hookimpl

#: attention keys a pure Mamba config must not carry (they would change the count).
_ATTENTION_KEYS = ("num_attention_heads", "num_key_value_heads", "head_dim_attention")


def _time_step_rank(cfg, hidden: int, key: str) -> int:
    """``time_step_rank`` (or Jamba's ``mamba_dt_rank``): a whole number, or ``"auto"`` for
    ``ceil(hidden / 16)``."""
    cfg.used.add(key)
    value = cfg.data.get(key, "auto")
    if value == "auto" or value is None:
        return math.ceil(hidden / 16)
    return cfg.size(key)


def _expand(cfg, hidden: int, expand_key: str) -> int:
    expand = cfg.size(expand_key, default=2)
    return expand, expand * hidden


def _pure(cfg, family: str, *, tie_default: bool, heads: int, options: dict) -> dict:
    hidden = cfg.size("hidden_size", "d_model")
    _, d_inner = _expand(cfg, hidden, "expand")
    if family == "mamba":
        # MambaMixer and FalconMambaMixer size themselves by intermediate_size, which
        # falcon-mamba-7b gives as 8192 beside an expand of 16
        d_inner = cfg.size("intermediate_size", default=d_inner)
    elif cfg.present("intermediate_size"):
        cfg.used.add("intermediate_size")  # Mamba2Mixer uses expand x hidden_size only
    for key in _ATTENTION_KEYS:
        if cfg.present(key):
            cfg.fail(key, f"an attention field in a pure state-space config (family "
                          f"{family!r} has no attention)")
    return {
        "family": family,
        "vocab_size": cfg.size("vocab_size"),
        "hidden_size": hidden,
        "num_layers": cfg.size("num_hidden_layers", "n_layer"),
        "num_heads": heads,
        "intermediate_size": d_inner,
        "norm": "rmsnorm",
        "norms_per_layer": 1,
        "positions": "none",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=tie_default),
        "options": {"state_size": cfg.size("state_size", default=16 if family == "mamba"
                                           else 128),
                    "conv_kernel": cfg.size("conv_kernel", default=4),
                    "conv_bias": cfg.flag("use_conv_bias", default=True),
                    "proj_bias": cfg.flag("use_bias", default=False), **options},
    }


def read_mamba(cfg) -> dict:
    """``model_type = "mamba"`` (state-spaces/mamba-*-hf): Mamba-1."""
    hidden = cfg.size("hidden_size")
    fields = _pure(cfg, "mamba", tie_default=True, heads=1,
                   options={"dt_rank": _time_step_rank(cfg, hidden, "time_step_rank")})
    # one SSM per channel: d_inner heads of width 1, which tensor parallelism splits
    return {**fields, "num_heads": fields["intermediate_size"], "head_dim": 1}


def read_falcon_mamba(cfg) -> dict:
    """``model_type = "falcon_mamba"``: Mamba-1 whose extra RMS normalisations of B, C and
    dt have no weights, so it counts as Mamba-1."""
    return read_mamba(cfg)


def read_mamba2(cfg) -> dict:
    """``model_type = "mamba2"`` (Codestral Mamba, mamba2-*): Mamba-2 with SSD mixers."""
    hidden = cfg.size("hidden_size")
    _, d_inner = _expand(cfg, hidden, "expand")
    head_dim = cfg.size("head_dim", default=64)
    if d_inner % head_dim:
        cfg.fail("head_dim", f"{head_dim} does not divide expand x hidden_size = {d_inner}")
    heads = cfg.size("num_heads", default=d_inner // head_dim)
    if heads * head_dim != d_inner:
        cfg.fail("num_heads", f"{heads} heads of head_dim {head_dim} are not expand x "
                              f"hidden_size = {d_inner} channels")
    groups = cfg.size("n_groups", default=1)
    if heads % groups:
        cfg.fail("n_groups", f"{groups} does not divide the {heads} heads")
    cfg.used.add("time_step_rank")  # Mamba2Config keeps it but no module uses it
    return _pure(cfg, "mamba2", tie_default=False, heads=heads,
                 options={"ssm_head_dim": head_dim, "n_groups": groups,
                          "chunk_size": cfg.size("chunk_size", default=256)})


def read_jamba(cfg) -> dict:
    """``model_type = "jamba"`` (ai21labs Jamba-v0.1, Jamba-1.5): attention every
    ``attn_layer_period`` layers, MoE every ``expert_layer_period``, Mamba-1 mixers."""
    hidden = cfg.size("hidden_size")
    layers = cfg.size("num_hidden_layers")
    heads = cfg.size("num_attention_heads", default=32)
    kv_heads = cfg.size("num_key_value_heads", default=8)
    if heads % kv_heads:
        cfg.fail("num_key_value_heads", f"{kv_heads} does not divide the {heads} heads")
    if hidden % heads:
        cfg.fail("num_attention_heads", f"{heads} does not divide hidden_size {hidden}")
    experts = cfg.size("num_experts", default=16)
    top_k = cfg.size("num_experts_per_tok", default=2)
    if top_k > experts:
        cfg.fail("num_experts_per_tok", f"{top_k} exceeds the {experts} experts")
    periods = {}
    for kind, period_default, offset_default in (("attn", 8, 4), ("expert", 2, 1)):
        period = cfg.size(f"{kind}_layer_period", default=period_default)
        key = f"{kind}_layer_offset"
        cfg.used.add(key)
        offset = cfg.data.get(key, offset_default)
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < period:
            cfg.fail(key, f"expected a whole number from 0 to {period - 1}, got {offset!r}")
        periods[kind] = (period, offset)
    expert_layers = sum(1 for i in range(layers) if i % periods["expert"][0] == periods["expert"][1])
    if expert_layers == 0:
        cfg.fail("expert_layer_offset", f"leaves no layer of {layers} with experts")
    expand, _ = _expand(cfg, hidden, "mamba_expand")
    for key in ("attention_bias", "mlp_bias"):
        if cfg.flag(key, default=False):
            cfg.fail(key, "Jamba's attention and MLP have no biases")
    return {
        "family": "jamba",
        "vocab_size": cfg.size("vocab_size", default=65536),
        "hidden_size": hidden,
        "num_layers": layers,
        "num_heads": heads,
        "num_kv_heads": kv_heads,
        "intermediate_size": cfg.size("intermediate_size", default=14336),
        "mlp": "gated",
        "norm": "rmsnorm",
        "positions": "none",
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=False),
        "max_seq_len": cfg.size("max_position_embeddings", default=262144),
        "options": {
            "num_experts": experts, "experts_per_token": top_k,
            "dense_layers": layers - expert_layers,
            "attn_layer_period": periods["attn"][0], "attn_layer_offset": periods["attn"][1],
            "expert_layer_period": periods["expert"][0],
            "expert_layer_offset": periods["expert"][1],
            "state_size": cfg.size("mamba_d_state", default=16),
            "conv_kernel": cfg.size("mamba_d_conv", default=4), "expand": expand,
            "dt_rank": _time_step_rank(cfg, hidden, "mamba_dt_rank"),
            "conv_bias": cfg.flag("mamba_conv_bias", default=True),
            "proj_bias": cfg.flag("mamba_proj_bias", default=False),
        },
    }


#: keys that change the count of a state-space model: a reader of another architecture that
#: leaves one unread refuses the config rather than miscount it.
COUNT_KEYS = ("state_size", "conv_kernel", "expand", "time_step_rank", "use_conv_bias",
              "n_groups", "mamba_d_state", "mamba_d_conv", "mamba_expand", "mamba_dt_rank",
              "attn_layer_period", "attn_layer_offset", "expert_layer_period",
              "expert_layer_offset")


@hookimpl
def ridgeline_register_config_readers(register):
    register(ConfigReader("mamba", read_mamba, "Mamba: selective state-space layers, no "
                          "attention", family="mamba", count_keys=COUNT_KEYS))
    register(ConfigReader("falcon_mamba", read_falcon_mamba, "FalconMamba: Mamba-1 layers "
                          "with normalised B, C and dt", family="mamba", count_keys=COUNT_KEYS))
    register(ConfigReader("mamba2", read_mamba2, "Mamba-2: multi-head SSD layers (Codestral "
                          "Mamba)", family="mamba2", count_keys=COUNT_KEYS))
    register(ConfigReader("jamba", read_jamba, "Jamba: attention and Mamba layers, MoE in "
                          "every other layer", family="jamba",
                          experts_keys=("num_experts",), count_keys=COUNT_KEYS))
