"""Reading a Hugging Face ``config.json`` into a dense :class:`Model`. Nothing is downloaded.

Each supported ``model_type`` has a reader that maps the family's keys (and its key aliases,
such as GPT-2's ``n_embd`` for ``hidden_size``) onto :class:`Model` fields, using the defaults
of the family's Transformers config class where a key is absent, because that is what the
checkpoint was built with: GPT-2, OPT, Falcon and Gemma tie the LM head to the embedding by
default, the Llama family does not; Gemma's ``head_dim`` defaults to 256, not
``hidden_size / heads``.

Keys that do not change the parameter count (``torch_dtype``, ``rope_scaling``,
``architectures``, ...) are ignored. Keys that do change it are either honoured or rejected:
a count key that the family's reader does not use (``ffn_dim`` in a Llama config) is an
error, never silently dropped. Every problem is a :class:`RegistryError` naming the config
and the field.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Union

from ._arguments import shown
from .errors import RegistryError
from .model import Model

__all__ = ["model_from_hf_config", "SUPPORTED_MODEL_TYPES"]

#: keys whose presence (with a non-zero value) marks a mixture-of-experts config.
MOE_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")

#: mixture-of-experts model types read as family ``moe`` (their expert keys are not refused).
MOE_MODEL_TYPES = frozenset({"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3",
                             "jamba"})

#: keys that change the parameter count in some family (or mark an architecture this reader
#: does not model). Each reader records the keys it uses; any of these it did not use is an
#: error rather than a silent miscount.
COUNT_KEYS = frozenset({
    "vocab_size", "hidden_size", "n_embd", "n_embed", "num_hidden_layers", "n_layer",
    "num_attention_heads", "n_head", "num_key_value_heads", "num_kv_heads", "n_head_kv",
    "head_dim", "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size",
    "word_embed_proj_dim", "tie_word_embeddings", "attention_bias", "mlp_bias", "enable_bias",
    "bias", "new_decoder_architecture", "multi_query", "parallel_attn",
    "num_ln_in_parallel_attn", "do_layer_norm_before", "_remove_final_layer_norm",
    "layer_norm_elementwise_affine", "add_cross_attention",
    # architectures this reader does not model (multi-head latent attention, MoE layouts)
    "kv_lora_rank", "q_lora_rank", "moe_intermediate_size", "shared_expert_intermediate_size",
    # Qwen-MoE layer layouts (which layers are sparse)
    "decoder_sparse_step", "mlp_only_layers",
    # multi-head latent attention widths and DeepSeek's MoE layout
    "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "n_shared_experts",
    "first_k_dense_replace", "moe_layer_freq",
})

_REQUIRED = object()
_NOT_ID = re.compile(r"[^a-z0-9._+-]+")


class _Config:
    """A parsed config with typed getters that name the field in every error.

    It records the keys it was asked for, so that count keys nobody used can be reported.
    """

    def __init__(self, data: Mapping[str, Any], source: str):
        self.data = data
        self.source = source
        self.used: set[str] = set()

    def fail(self, field: str, reason: str) -> NoReturn:
        raise RegistryError(self.source, f"{field}: {reason}")

    def _lookup(self, names: tuple[str, ...]) -> tuple[str, Any]:
        """The first of ``names`` present with a non-null value; aliases must agree."""
        self.used.update(names)
        found = [(n, self.data[n]) for n in names if self.data.get(n) is not None]
        for name, value in found[1:]:
            if value != found[0][1]:
                self.fail(name, f"{value!r} contradicts {found[0][0]} = {found[0][1]!r} "
                                f"(the two keys are aliases)")
        return found[0] if found else (names[0], None)

    def size(self, *names: str, default: Any = _REQUIRED) -> Any:
        """A whole number >= 1 under any of ``names``, or ``default`` when absent."""
        name, value = self._lookup(names)
        if value is None:
            if default is _REQUIRED:
                self.fail(name, "required field is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, f"expected a whole number, got {value!r}")
        if value < 1:
            self.fail(name, f"must be >= 1, got {value}")
        return value

    def flag(self, *names: str, default: bool) -> bool:
        """A boolean under any of ``names``, or ``default`` when absent."""
        name, value = self._lookup(names)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(name, f"expected true or false, got {value!r}")
        return value

    def present(self, name: str) -> bool:
        return self.data.get(name) is not None

    def check_unused_count_keys(self, model_type: str) -> None:
        # a switched-off feature (``attention_bias: false``) adds nothing, so it can be ignored
        active = {k for k, v in self.data.items() if v is not None and v is not False}
        for key in sorted(COUNT_KEYS & active - self.used):
            self.fail(key, f"changes the parameter count but is not a field of model_type "
                           f"{model_type!r}, so it cannot be honoured")


# --------------------------------------------------------------------------- shared checks


def _attention(cfg: _Config, hidden: int, heads: int, *, kv_heads: int | None,
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


def _derived_head_dim(cfg: _Config, hidden: int, heads: int) -> None:
    """Families that derive the head width from ``hidden_size`` accept only that value."""
    head_dim = cfg.size("head_dim", default=None)
    if hidden % heads:
        cfg.fail("hidden_size", f"{hidden} is not divisible by num_attention_heads ({heads})")
    if head_dim is not None and head_dim != hidden // heads:
        cfg.fail("head_dim", f"{head_dim} contradicts hidden_size / num_attention_heads = "
                             f"{hidden // heads}, which this model_type always uses")


def _full_multi_head(cfg: _Config, heads: int) -> None:
    """Families without grouped-query attention accept only ``kv heads == heads``."""
    kv = cfg.size("num_key_value_heads", default=heads)
    if kv != heads:
        cfg.fail("num_key_value_heads", f"{kv} differs from num_attention_heads ({heads}), "
                                        f"but this model_type has no grouped-query attention")


def _matching_intermediate(cfg: _Config, effective: int, source: str) -> None:
    """An ``intermediate_size`` the family does not read must agree with the width it uses."""
    given = cfg.size("intermediate_size", default=None)
    if given is not None and given != effective:
        cfg.fail("intermediate_size", f"{given} contradicts the MLP width this model_type "
                                      f"uses ({source} = {effective})")


# --------------------------------------------------------------------------- family readers


def _llama_like(cfg: _Config, *, tie_default: bool, max_seq_default: int,
                bias: str | None = None, head_dim_default: int | None = None) -> dict:
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
        **_attention(cfg, hidden, heads, kv_heads=cfg.size("num_key_value_heads", default=None),
                     head_dim=cfg.size("head_dim", default=head_dim_default)),
        "mlp": "gated", "norm": "rmsnorm", "positions": "rotary",
        "bias": _llama_biases(cfg) if bias is None else bias,
        "tie_embeddings": cfg.flag("tie_word_embeddings", default=tie_default),
        "max_seq_len": cfg.size("max_position_embeddings", default=max_seq_default),
    }


def _llama_biases(cfg: _Config) -> str:
    """Llama's ``attention_bias`` (Q, K, V and O) and ``mlp_bias`` (all three MLP matrices)."""
    attention = cfg.flag("attention_bias", default=False)
    mlp = cfg.flag("mlp_bias", default=False)
    if attention and mlp:
        return "all"
    if attention or mlp:
        field = "attention_bias" if attention else "mlp_bias"
        cfg.fail(field, "biases on only the attention or only the MLP are not a layout the "
                        "dense family models (it has none, Q/K/V only, or all)")
    return "none"


def _read_llama(cfg: _Config) -> dict:
    return _llama_like(cfg, tie_default=False, max_seq_default=2048)


def _read_mistral(cfg: _Config) -> dict:
    return _llama_like(cfg, tie_default=False, max_seq_default=4096 * 32)


def _read_qwen2(cfg: _Config) -> dict:
    # Qwen2 always has biases on the Q, K and V projections and nowhere else
    return _llama_like(cfg, tie_default=False, max_seq_default=32768, bias="qkv")


def _read_phi3(cfg: _Config) -> dict:
    _derived_head_dim(cfg, cfg.size("hidden_size"), cfg.size("num_attention_heads"))
    return _llama_like(cfg, tie_default=False, max_seq_default=4096, bias="none")


def _read_gemma(cfg: _Config) -> dict:
    return _gemma(cfg, norms_per_layer=2)


def _read_gemma2(cfg: _Config) -> dict:
    # Gemma 2 normalises before and after both attention and MLP
    return _gemma(cfg, norms_per_layer=4)


def _gemma(cfg: _Config, norms_per_layer: int) -> dict:
    if cfg.flag("attention_bias", default=False):
        cfg.fail("attention_bias", "biases on Q, K, V and O without MLP biases are not a "
                                   "layout the dense family models")
    # GemmaConfig's head_dim defaults to 256 whatever hidden_size / heads is
    fields = _llama_like(cfg, tie_default=True, max_seq_default=8192, bias="none",
                         head_dim_default=256)
    return {**fields, "norms_per_layer": norms_per_layer}


def _read_gpt2(cfg: _Config) -> dict:
    hidden = cfg.size("n_embd", "hidden_size")
    heads = cfg.size("n_head", "num_attention_heads")
    _derived_head_dim(cfg, hidden, heads)
    _full_multi_head(cfg, heads)
    inner = cfg.size("n_inner", default=None)
    intermediate = inner or 4 * hidden
    _matching_intermediate(cfg, intermediate, "n_inner" if inner else "4 * n_embd")
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


def _read_opt(cfg: _Config) -> dict:
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_attention_heads")
    _derived_head_dim(cfg, hidden, heads)
    _full_multi_head(cfg, heads)
    intermediate = cfg.size("ffn_dim")
    _matching_intermediate(cfg, intermediate, "ffn_dim")
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


def _read_gpt_neox(cfg: _Config) -> dict:
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_attention_heads")
    _derived_head_dim(cfg, hidden, heads)
    _full_multi_head(cfg, heads)
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


def _read_falcon(cfg: _Config) -> dict:
    hidden = cfg.size("hidden_size", "n_embed")
    heads = cfg.size("num_attention_heads", "n_head")
    _derived_head_dim(cfg, hidden, heads)
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
        **_attention(cfg, hidden, heads, kv_heads=kv_heads, head_dim=None,
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


# --------------------------------------------------------------------------- mixture of experts


def _moe(cfg: _Config, fields: dict, experts_keys: tuple[str, ...], *, experts_default: int,
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


def _dense_prefix(cfg: _Config, num_layers: int) -> dict:
    """Qwen-MoE's ``decoder_sparse_step`` and ``mlp_only_layers`` as the moe family's
    ``dense_layers`` option: only a prefix of dense layers is modelled."""
    step = cfg.size("decoder_sparse_step", default=1)
    if step != 1:
        cfg.fail("decoder_sparse_step", f"{step}: MoE in every {step}th layer only is not "
                                        f"modelled (the moe family keeps a dense MLP in the "
                                        f"first dense_layers layers, MoE in the rest)")
    cfg.used.add("mlp_only_layers")
    dense = cfg.data.get("mlp_only_layers") or []
    if not isinstance(dense, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                              for i in dense):
        cfg.fail("mlp_only_layers", f"expected a list of layer indices, got {dense!r}")
    if sorted(dense) != list(range(len(dense))) or len(dense) >= num_layers:
        cfg.fail("mlp_only_layers", f"{dense}: only dense layers 0 .. k-1 followed by MoE "
                                    f"layers are modelled")
    return {"dense_layers": len(dense)} if dense else {}


def _read_mixtral(cfg: _Config) -> dict:
    # Mixtral: Mistral's layout with every MLP a top-2-of-8 mixture of full-width experts
    fields = _llama_like(cfg, tie_default=False, max_seq_default=4096 * 32, bias="none")
    return _moe(cfg, fields, ("num_local_experts",), experts_default=8, top_k_default=2)


def _read_qwen2_moe(cfg: _Config) -> dict:
    # Qwen1.5-MoE and Qwen2-MoE: Qwen2's Q/K/V biases; one shared expert behind a sigmoid gate
    fields = _llama_like(cfg, tie_default=False, max_seq_default=32768, bias="qkv")
    return _moe(cfg, fields, ("num_experts", "num_local_experts"), experts_default=60,
                top_k_default=4,
                moe_intermediate_size=cfg.size("moe_intermediate_size", default=1408),
                shared_experts=1,
                shared_intermediate_size=cfg.size("shared_expert_intermediate_size",
                                                  default=5632),
                shared_expert_gate=True, **_dense_prefix(cfg, fields["num_layers"]))


def _read_qwen3_moe(cfg: _Config) -> dict:
    # Qwen3-MoE: no biases, per-head query and key RMSNorms, no shared expert
    if cfg.flag("attention_bias", default=False):
        cfg.fail("attention_bias", "biases on Q, K, V and O without MLP biases are not a "
                                   "layout the moe family models")
    fields = _llama_like(cfg, tie_default=False, max_seq_default=32768, bias="none")
    return _moe(cfg, fields, ("num_experts", "num_local_experts"), experts_default=128,
                top_k_default=8,
                moe_intermediate_size=cfg.size("moe_intermediate_size", default=768),
                qk_norm=True, **_dense_prefix(cfg, fields["num_layers"]))


# --------------------------------------------------------------------------- latent attention


def _count_or_zero(cfg: _Config, name: str, default: int) -> int:
    """A whole number >= 0 (``first_k_dense_replace``, ``n_shared_experts``); null counts as 0."""
    cfg.used.add(name)
    if name not in cfg.data:
        return default
    value = cfg.data[name]
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        cfg.fail(name, f"expected a whole number >= 0, got {value!r}")
    return value


def _latent_attention(cfg: _Config, heads: int, *, q_lora_default: int | None,
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


def _deepseek(cfg: _Config, *, max_seq_default: int, topk_method_default: str) -> dict:
    """DeepSeek-V2 and -V3: latent attention, then a dense MLP in the first
    ``first_k_dense_replace`` layers and a mixture of experts in the rest (every layer dense
    when ``n_routed_experts`` is null, as DeepSeek's modelling code allows)."""
    heads = cfg.size("num_attention_heads")
    attention = _latent_attention(cfg, heads, q_lora_default=1536)
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
    if not cfg.present("n_routed_experts"):
        return {**fields, "options": mla_options}
    if cfg.size("moe_layer_freq", default=1) != 1:
        cfg.fail("moe_layer_freq", "MoE in every k-th layer only is not modelled (the moe "
                                   "family keeps a dense MLP in the first dense_layers layers, "
                                   "MoE in the rest)")
    dense = _count_or_zero(cfg, "first_k_dense_replace", 0)
    if dense >= fields["num_layers"]:
        cfg.fail("first_k_dense_replace", f"{dense} leaves no MoE layer of the "
                                          f"{fields['num_layers']}")
    shared = _count_or_zero(cfg, "n_shared_experts", 0)
    topk_method = cfg.data.get("topk_method") or topk_method_default
    moe_options = {"moe_intermediate_size": cfg.size("moe_intermediate_size")}
    if shared:
        moe_options["shared_experts"] = shared
    if dense:
        moe_options["dense_layers"] = dense
    if topk_method == "noaux_tc":
        # DeepSeek-V3's e_score_correction_bias: an nn.Parameter in DeepSeek's modelling code
        # and stored in the checkpoint (a buffer in the Transformers port)
        moe_options["router_bias"] = True
    cfg.size("num_experts_per_tok")  # required: the top-k has no safe default
    model = _moe(cfg, fields, ("n_routed_experts",), experts_default=0, top_k_default=0,
                 **moe_options)
    return {**model, "options": {**model["options"], **mla_options}}


def _read_deepseek_v2(cfg: _Config) -> dict:
    return _deepseek(cfg, max_seq_default=2048, topk_method_default="greedy")


def _read_deepseek_v3(cfg: _Config) -> dict:
    return _deepseek(cfg, max_seq_default=4096, topk_method_default="noaux_tc")


def _read_minicpm3(cfg: _Config) -> dict:
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
        **_latent_attention(cfg, heads, q_lora_default=768, v_default=hidden // heads),
    }


_READERS: dict[str, Callable[[_Config], dict]] = {
    "falcon": _read_falcon, "gemma": _read_gemma, "gemma2": _read_gemma2, "gpt2": _read_gpt2,
    "gpt_neox": _read_gpt_neox, "llama": _read_llama, "mistral": _read_mistral,
    "opt": _read_opt, "phi3": _read_phi3, "qwen2": _read_qwen2,
    "mixtral": _read_mixtral, "qwen2_moe": _read_qwen2_moe, "qwen3_moe": _read_qwen3_moe,
    "deepseek_v2": _read_deepseek_v2, "deepseek_v3": _read_deepseek_v3,
    "minicpm3": _read_minicpm3,
}

# the state-space families' readers live with their plugin
from .plugins.architectures.ssm_readers import READERS as _SSM_READERS  # noqa: E402

_READERS.update(_SSM_READERS)

SUPPORTED_MODEL_TYPES = tuple(sorted(_READERS))

#: keys a config without ``model_type`` must have to be read as a Llama config.
_LLAMA_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


# --------------------------------------------------------------------------- context


#: rope_scaling types whose max_position_embeddings is already the extended context (the
#: factor applies to original_max_position_embeddings, given beside it).
_EXTENDED_ALREADY = frozenset({"llama3", "longrope", "su"})


def _scaled_context(cfg: _Config, max_positions: int) -> int:
    """The context a rotary model runs with: ``max_position_embeddings``, or the
    ``rope_scaling`` factor times the length it scales (its ``original_max_position_embeddings``,
    else ``max_position_embeddings``) where that is longer.

    Linear, dynamic-NTK and YaRN scaling stretch the rotary frequencies by the factor, so
    positions up to factor x the trained length map into the trained range; Llama 3.1's and
    LongRoPE's configs give the extended length as ``max_position_embeddings`` already.
    """
    scaling = cfg.data.get("rope_scaling")
    if scaling is None:
        return max_positions
    if not isinstance(scaling, dict):
        cfg.fail("rope_scaling", f"expected an object or null, got {scaling!r}")
    factor = scaling.get("factor")
    if factor is None:
        return max_positions
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or \
            not 0 < factor < float("inf"):
        cfg.fail("rope_scaling.factor", f"expected a finite number > 0, got {factor!r}")
    kind = scaling.get("rope_type", scaling.get("type"))
    original = scaling.get("original_max_position_embeddings")
    if original is None:
        if kind in _EXTENDED_ALREADY:
            return max_positions
        original = max_positions
    elif isinstance(original, bool) or not isinstance(original, int) or original < 1:
        cfg.fail("rope_scaling.original_max_position_embeddings",
                 f"expected a whole number >= 1, got {original!r}")
    scaled = factor * original
    if scaled >= 2**53:  # beyond any context that could be stored, let alone trained
        cfg.fail("rope_scaling.factor", f"{factor!r} x {original} positions is not a context "
                                        f"length")
    return max(max_positions, int(scaled))


# --------------------------------------------------------------------------- entry point


def model_from_hf_config(source: Union[str, Path, Mapping[str, Any]], *,
                         id: str | None = None) -> Model:
    """A :class:`Model` from a Hugging Face ``config.json`` (family ``moe`` for the
    mixture-of-experts types in ``MOE_MODEL_TYPES``, ``dense`` otherwise).

    Args:
        source: a path to a local ``config.json`` (or to the folder holding one), or the
            already-parsed dict. Nothing is downloaded.
        id: the model's id; defaults to the config's folder name (``custom`` for a dict),
            lower-cased, with characters outside ``[a-z0-9._+-]`` replaced by ``-``.

    Raises:
        RegistryError: the file cannot be read or is not JSON; the ``model_type`` is not
            supported (mixture-of-experts configs of other types included); a required field is
            missing; a field has the wrong type or contradicts another. The message names the
            field.
    """
    data, source_name, default_id = _read(source)
    cfg = _Config(data, source_name)
    model_type = _model_type(cfg)
    fields = _READERS[model_type](cfg)
    if fields.get("positions") == "rotary":
        fields["max_seq_len"] = _scaled_context(cfg, fields["max_seq_len"])
    cfg.check_unused_count_keys(model_type)
    model_id = _check_id(cfg, id) if id is not None else _sanitise_id(default_id)
    name = data.get("_name_or_path")
    family = fields.pop("family", "dense")  # mixture-of-experts readers set "moe" and options
    try:
        return Model(id=model_id, family=family, name=name if isinstance(name, str) else "",
                     notes=f"read from a Hugging Face config (model_type {model_type})",
                     **fields)
    except (TypeError, ValueError) as exc:  # a validator the readers did not anticipate
        raise RegistryError(source_name, str(exc)) from None


def _read(source) -> tuple[Mapping[str, Any], str, str]:
    """The parsed config, the name errors use for it, and the default id."""
    if isinstance(source, Mapping):
        return source, "config dict", "custom"
    if not isinstance(source, (str, os.PathLike)):
        raise RegistryError(shown(source), "expected a path to a config.json (a str or "
                                           "pathlib.Path) or a parsed dict")
    path = Path(source)
    if path.is_dir():
        path = path / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(str(path), f"cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(str(path), f"not valid JSON: {exc}") from None
    except RecursionError:
        raise RegistryError(str(path), "not a config: its values are nested too deeply to "
                                       "read") from None
    if not isinstance(data, dict):
        raise RegistryError(str(path), f"expected a JSON object of fields, got "
                                       f"{type(data).__name__}")
    return data, str(path), path.resolve().parent.name


def _model_type(cfg: _Config) -> str:
    """The reader to use; mixture-of-experts configs are refused first, whatever their type."""
    model_type = cfg.data.get("model_type")
    for key in MOE_KEYS:
        # absent, null or 0 experts: a dense model
        if cfg.data.get(key) and not (isinstance(model_type, str)
                                      and model_type in MOE_MODEL_TYPES):
            cfg.fail(key, f"mixture-of-experts configs (family 'moe') are not supported yet "
                          f"for model_type {model_type!r}; the MoE types read are "
                          f"{', '.join(sorted(MOE_MODEL_TYPES))}")
    supported = ", ".join(SUPPORTED_MODEL_TYPES)
    if model_type is not None and not isinstance(model_type, str):
        cfg.fail("model_type", f"expected a string, got {model_type!r}")
    if model_type is None:
        missing = [k for k in _LLAMA_KEYS if not cfg.present(k)]
        if missing:
            cfg.fail("model_type", f"missing, and the config is not Llama-like (it lacks "
                                   f"{', '.join(missing)}); supported: {supported}")
        return "llama"
    if model_type not in _READERS:
        cfg.fail("model_type", f"{model_type!r} is not supported; supported: {supported}")
    return model_type


def _check_id(cfg: _Config, model_id: str) -> str:
    if not isinstance(model_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._+-]*", model_id):
        cfg.fail("id", f"must be lower-case letters, digits and '.', '_', '+', '-', "
                       f"got {model_id!r}")
    return model_id


def _sanitise_id(raw: str) -> str:
    """A registry id made of ``raw``: lower-case, runs of other characters become ``-``."""
    cleaned = _NOT_ID.sub("-", raw.lower()).strip("-._+")
    return cleaned or "custom"
