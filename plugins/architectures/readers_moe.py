"""Config readers of mixtures of experts: Mixtral, Qwen2-MoE, Qwen3-MoE (family ``moe``).
"""

from __future__ import annotations

from ridgeline.plugin import ConfigReader, HFConfig, hookimpl

from .readers_common import (llama_like, moe, dense_prefix)


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
