"""Config readers of the Llama family: Llama, Mistral, Qwen2, Phi-3, Gemma and Gemma 2
(RMSNorm, gated MLP, rotary positions, grouped-query attention).
"""

from __future__ import annotations

from ridgeline.plugin import ConfigReader, HFConfig, hookimpl

from .readers_common import (derived_head_dim, llama_like)


def _read_llama(cfg: HFConfig) -> dict:
    return llama_like(cfg, tie_default=False, max_seq_default=2048)


def _read_mistral(cfg: HFConfig) -> dict:
    return llama_like(cfg, tie_default=False, max_seq_default=4096 * 32)


def _read_qwen2(cfg: HFConfig) -> dict:
    # Qwen2 always has biases on the Q, K and V projections and nowhere else
    return llama_like(cfg, tie_default=False, max_seq_default=32768, bias="qkv")


def _read_phi3(cfg: HFConfig) -> dict:
    derived_head_dim(cfg, cfg.size("hidden_size"), cfg.size("num_attention_heads"))
    return llama_like(cfg, tie_default=False, max_seq_default=4096, bias="none")


def _read_gemma(cfg: HFConfig) -> dict:
    return _gemma(cfg, norms_per_layer=2)


def _read_gemma2(cfg: HFConfig) -> dict:
    # Gemma 2 normalises before and after both attention and MLP
    return _gemma(cfg, norms_per_layer=4)


def _gemma(cfg: HFConfig, norms_per_layer: int) -> dict:
    if cfg.flag("attention_bias", default=False):
        cfg.fail("attention_bias", "biases on Q, K, V and O without MLP biases are not a "
                                   "layout the dense family models")
    # GemmaConfig's head_dim defaults to 256 whatever hidden_size / heads is
    fields = llama_like(cfg, tie_default=True, max_seq_default=8192, bias="none",
                         head_dim_default=256)
    return {**fields, "norms_per_layer": norms_per_layer}


@hookimpl
def ridgeline_register_config_readers(register):
    register(ConfigReader("llama", _read_llama, "Llama 1-3: RMSNorm, SwiGLU, rotary, GQA"))
    register(ConfigReader("mistral", _read_mistral, "Mistral: Llama's layout"))
    register(ConfigReader("qwen2", _read_qwen2, "Qwen2 and Qwen2.5: biases on Q, K, V"))
    register(ConfigReader("phi3", _read_phi3, "Phi-3: fused QKV and gate-up, no biases"))
    register(ConfigReader("gemma", _read_gemma, "Gemma: GeGLU, head_dim 256, tied embeddings"))
    register(ConfigReader("gemma2", _read_gemma2, "Gemma 2: norms before and after attention "
                                                  "and MLP"))
