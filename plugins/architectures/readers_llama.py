"""Config readers of the Llama family: Llama, Mistral, Qwen2, Phi-3, Gemma and Gemma 2
(RMSNorm, gated MLP, rotary positions, grouped-query attention).
"""

from __future__ import annotations

from ridgeline.plugin import ConfigReader, HFConfig, hookimpl

from .readers_common import (bias_layout, windows, derived_head_dim, llama_like)


def _read_llama(cfg: HFConfig) -> dict:
    return llama_like(cfg, tie_default=False, max_seq_default=2048)


def _read_mistral(cfg: HFConfig) -> dict:
    fields = llama_like(cfg, kv_heads_default=8, tie_default=False, max_seq_default=4096 * 32)
    # MistralConfig's sliding_window defaults to 4,096 and applies to every layer
    return {**fields, **windows(cfg, fields["num_layers"], window_default=4096,
                                all_layers=True)}


def _read_qwen2(cfg: HFConfig) -> dict:
    # Qwen2 always has biases on the Q, K and V projections and nowhere else
    fields = llama_like(cfg, kv_heads_default=32, tie_default=False, max_seq_default=32768, bias="qkv")
    return {**fields, **windows(cfg, fields["num_layers"], window_default=4096)}


def _read_phi3(cfg: HFConfig) -> dict:
    derived_head_dim(cfg, cfg.size("hidden_size"), cfg.size("num_attention_heads"))
    return llama_like(cfg, tie_default=False, max_seq_default=4096, bias="none")


def _read_gemma(cfg: HFConfig) -> dict:
    return _gemma(cfg, norms_per_layer=2, kv_heads_default=16)


def _read_gemma2(cfg: HFConfig) -> dict:
    # Gemma 2 normalises before and after both attention and MLP; every other layer (the
    # first of each pair) attends within a 4,096-token window
    fields = _gemma(cfg, norms_per_layer=4, kv_heads_default=4)
    return {**fields, **windows(cfg, fields["num_layers"], window_default=4096, pattern=2)}


def _gemma(cfg: HFConfig, norms_per_layer: int, kv_heads_default: int,
           max_seq_default: int = 8192) -> dict:
    if cfg.flag("attention_bias", default=False):
        cfg.fail("attention_bias", "biases on Q, K, V and O without MLP biases are not a "
                                   "layout the dense family models")
    # GemmaConfig's head_dim defaults to 256 whatever hidden_size / heads is
    fields = llama_like(cfg, kv_heads_default=kv_heads_default, tie_default=True,
                        max_seq_default=max_seq_default, bias="none",
                        head_dim_default=256)
    return {**fields, "norms_per_layer": norms_per_layer}


def _read_qwen3(cfg: HFConfig) -> dict:
    # Qwen3: Llama's layout with one RMSNorm over head_dim for all query heads and one for
    # all key heads; head_dim 128 whatever hidden_size / heads is
    fields = llama_like(cfg, kv_heads_default=32, tie_default=False, max_seq_default=32768, head_dim_default=128,
                        bias=bias_layout(cfg.flag("attention_bias", default=False), False))
    return {**fields, "qk_norm": "head",
            **windows(cfg, fields["num_layers"], window_default=4096)}


def _read_granite(cfg: HFConfig) -> dict:
    # Granite: Llama's layout; its embedding, residual, attention and logit multipliers are
    # scalars, not parameters
    cfg.use("embedding_multiplier", "residual_multiplier", "attention_multiplier",
            "logits_scaling")
    return llama_like(cfg, tie_default=False, max_seq_default=2048)


def _read_gemma3_text(cfg: HFConfig) -> dict:
    # Gemma 3: Gemma 2's four norms per layer plus per-head query and key RMSNorms; five of
    # every six layers windowed
    fields = _gemma(cfg, norms_per_layer=4, kv_heads_default=4, max_seq_default=131072)
    return {**fields, "qk_norm": "head",
            **windows(cfg, fields["num_layers"], window_default=4096, pattern=6)}


def _read_gemma3(cfg: HFConfig) -> dict:
    # the multimodal Gemma 3 config nests its language model; the vision tower is not read
    return _read_gemma3_text(cfg.nested("text_config"))


def _read_olmo(cfg: HFConfig) -> dict:
    # OLMo 1: LayerNorms without weights or biases; clip_qkv clamps values, no parameters
    cfg.use("clip_qkv")
    fields = llama_like(cfg, tie_default=False, max_seq_default=2048,
                        bias=bias_layout(cfg.flag("attention_bias", default=False), False))
    return {**fields, "norm": "layernorm-noparams"}


def _read_olmo2(cfg: HFConfig) -> dict:
    # OLMo 2: norms after attention and after the MLP (none before), RMSNorms over the whole
    # query and key widths
    fields = llama_like(cfg, tie_default=False, max_seq_default=2048,
                        bias=bias_layout(cfg.flag("attention_bias", default=False), False))
    return {**fields, "qk_norm": "full"}


def _read_olmo3(cfg: HFConfig) -> dict:
    # OLMo 3: OLMo 2 with three of every four layers windowed
    fields = _read_olmo2(cfg)
    return {**fields, **windows(cfg, fields["num_layers"], window_default=4096, pattern=4)}


def _read_cohere(cfg: HFConfig) -> dict:
    # Command R: attention and MLP in parallel after one bias-free LayerNorm; optional
    # LayerNorms over each head's queries and keys (a weight per channel and head)
    fields = llama_like(cfg, tie_default=True, max_seq_default=8192,
                        bias=bias_layout(cfg.flag("attention_bias", default=False), False))
    cfg.use("logit_scale")
    return {**fields, "norm": "layernorm-nobias", "norms_per_layer": 1,
            "parallel_layers": True,
            "qk_norm": "full" if cfg.flag("use_qk_norm", default=False) else "none"}


def _read_cohere2(cfg: HFConfig) -> dict:
    # Command R7B / A: Cohere's block, three of every four layers windowed
    fields = llama_like(cfg, tie_default=True, max_seq_default=8192,
                        bias=bias_layout(cfg.flag("attention_bias", default=False), False))
    cfg.use("logit_scale")
    return {**fields, "norm": "layernorm-nobias", "norms_per_layer": 1,
            "parallel_layers": True,
            **windows(cfg, fields["num_layers"], window_default=4096, pattern=4)}


def _read_stablelm(cfg: HFConfig) -> dict:
    # StableLM 2: LayerNorm with biases, gated MLP, optional Q/K/V biases, optional per-head
    # LayerNorms (one of head_dim per head, no bias), optional parallel residual with one norm
    fields = llama_like(cfg, kv_heads_default=32, tie_default=False, max_seq_default=4096,
                        bias="qkv" if cfg.flag("use_qkv_bias", default=False) else "none")
    parallel = cfg.flag("use_parallel_residual", default=False)
    return {**fields, "norm": "layernorm", "parallel_layers": parallel,
            "norms_per_layer": 1 if parallel else 2,
            "qk_norm": "full" if cfg.flag("qk_layernorm", default=False) else "none"}


def _read_smollm3(cfg: HFConfig) -> dict:
    # SmolLM3: Llama's layout with tied embeddings; its no-rotary layers have no parameters
    cfg.use("no_rope_layers", "no_rope_layer_interval")
    fields = llama_like(cfg, kv_heads_default=4, tie_default=True, max_seq_default=32768)
    return {**fields, **windows(cfg, fields["num_layers"], window_default=None)}


def _read_arcee(cfg: HFConfig) -> dict:
    # Arcee (AFM): Llama's layout with a plain ReLU^2 MLP (up and down projections)
    return {**llama_like(cfg, tie_default=False, max_seq_default=4096), "mlp": "plain"}


def _read_helium(cfg: HFConfig) -> dict:
    return llama_like(cfg, kv_heads_default=20, tie_default=False, max_seq_default=4096, head_dim_default=128)


def _read_glm(cfg: HFConfig) -> dict:
    # GLM-4 (model_type glm): biases on Q, K, V only when attention_bias (the default), fused
    # gate-up MLP without biases
    qkv = cfg.flag("attention_bias", default=True)
    return llama_like(cfg, kv_heads_default=2, tie_default=False, max_seq_default=131072, head_dim_default=128,
                      bias="qkv" if qkv else "none")


def _read_glm4(cfg: HFConfig) -> dict:
    # GLM-4-0414: GLM with norms after attention and after the MLP as well
    return {**_read_glm(cfg), "norms_per_layer": 4}


def _read_ernie4_5(cfg: HFConfig) -> dict:
    # ERNIE 4.5 dense: use_bias puts biases on every attention and MLP projection
    bias = cfg.flag("use_bias", default=False)
    return llama_like(cfg, kv_heads_default=2, tie_default=True, max_seq_default=131072, head_dim_default=128,
                      bias=bias_layout(bias, bias))


def _read_exaone4(cfg: HFConfig) -> dict:
    # EXAONE 4: norms after attention and after the MLP (none before), per-head QK RMSNorms,
    # three of every four layers windowed
    fields = llama_like(cfg, kv_heads_default=32, tie_default=False, max_seq_default=2048, bias="none")
    return {**fields, "qk_norm": "head",
            **windows(cfg, fields["num_layers"], window_default=4096, pattern=4)}


def _read_seed_oss(cfg: HFConfig) -> dict:
    # Seed-OSS: Q/K/V biases by attention_bias, an output bias by attention_out_bias
    qkv = cfg.flag("attention_bias", default=True)
    out = cfg.flag("attention_out_bias", default=False)
    mlp = cfg.flag("mlp_bias", default=False)
    layouts = {(False, False, False): "none", (True, False, False): "qkv",
               (True, True, False): "attention", (True, True, True): "all",
               (False, False, True): "mlp"}
    layout = layouts.get((qkv, out, mlp))
    if layout is None:
        cfg.fail("attention_out_bias", "this combination of attention_bias, attention_out_bias "
                                       "and mlp_bias is not a bias layout the dense family "
                                       "models")
    return llama_like(cfg, kv_heads_default=8, tie_default=False, max_seq_default=524288, head_dim_default=128,
                      bias=layout)


def _read_hunyuan_v1_dense(cfg: HFConfig) -> dict:
    # Hunyuan dense: per-head query and key RMSNorms
    fields = llama_like(cfg, tie_default=False, max_seq_default=2048,
                        bias=bias_layout(cfg.flag("attention_bias", default=False), False))
    return {**fields, "qk_norm": "head"}


def _read_nemotron(cfg: HFConfig) -> dict:
    # Nemotron-4 / Minitron: plain ReLU^2 MLP, LayerNorm with a weight and a bias
    fields = llama_like(cfg, tie_default=False, max_seq_default=4096)
    return {**fields, "mlp": "plain", "norm": "layernorm"}


#: switches of these families that add parameters: a config of another type that sets one
#: is refused rather than miscounted
COUNT_KEYS = ("qk_layernorm", "use_qk_norm", "use_qkv_bias", "use_bias", "attention_out_bias",
              "use_parallel_residual")


@hookimpl
def ridgeline_register_config_readers(register):
    register(ConfigReader("llama", _read_llama, "Llama 1-3: RMSNorm, SwiGLU, rotary, GQA"))
    register(ConfigReader("mistral", _read_mistral, "Mistral: Llama's layout"))
    register(ConfigReader("qwen2", _read_qwen2, "Qwen2 and Qwen2.5: biases on Q, K, V"))
    register(ConfigReader("phi3", _read_phi3, "Phi-3: fused QKV and gate-up, no biases"))
    register(ConfigReader("gemma", _read_gemma, "Gemma: GeGLU, head_dim 256, tied embeddings"))
    register(ConfigReader("gemma2", _read_gemma2, "Gemma 2: norms before and after attention "
                                                  "and MLP"))
    for model_type, reader, doc in (
            ("qwen3", _read_qwen3, "Qwen3: per-head QK RMSNorm, optional windows"),
            ("granite", _read_granite, "Granite 3: Llama's layout with scalar multipliers"),
            ("gemma3_text", _read_gemma3_text, "Gemma 3 text: QK norms, 5 of 6 layers windowed"),
            ("gemma3", _read_gemma3, "Gemma 3 (its text_config; the vision tower is not read)"),
            ("olmo", _read_olmo, "OLMo 1: LayerNorm without parameters"),
            ("olmo2", _read_olmo2, "OLMo 2: post-norms, full-width QK RMSNorm"),
            ("olmo3", _read_olmo3, "OLMo 3: OLMo 2 with 3 of 4 layers windowed"),
            ("cohere", _read_cohere, "Command R: parallel block, bias-free LayerNorm"),
            ("cohere2", _read_cohere2, "Command R7B: Cohere's block, 3 of 4 layers windowed"),
            ("stablelm", _read_stablelm, "StableLM 2: LayerNorm, optional parallel residual"),
            ("smollm3", _read_smollm3, "SmolLM3: Llama's layout, tied embeddings"),
            ("arcee", _read_arcee, "Arcee AFM: plain ReLU^2 MLP"),
            ("helium", _read_helium, "Helium: Llama's layout"),
            ("glm", _read_glm, "GLM-4: Q/K/V biases, fused gate-up MLP"),
            ("glm4", _read_glm4, "GLM-4-0414: GLM with post-norms"),
            ("ernie4_5", _read_ernie4_5, "ERNIE 4.5 dense"),
            ("exaone4", _read_exaone4, "EXAONE 4: post-norms, QK norms, windows"),
            ("seed_oss", _read_seed_oss, "Seed-OSS: Q/K/V biases"),
            ("hunyuan_v1_dense", _read_hunyuan_v1_dense, "Hunyuan dense: QK norms"),
            ("nemotron", _read_nemotron, "Nemotron-4 / Minitron: plain ReLU^2 MLP, LayerNorm"),
    ):
        register(ConfigReader(model_type, reader, doc, count_keys=COUNT_KEYS))
