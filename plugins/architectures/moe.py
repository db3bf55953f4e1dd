"""The ``moe`` family: decoder-only transformers whose MLP is a mixture of experts.

A mixture-of-experts (MoE) layer replaces the dense MLP with ``num_experts`` routed experts
(each a gated or plain MLP of width ``moe_intermediate_size``), a router (a ``hidden x
num_experts`` linear layer that scores the experts for each token, of which the top
``experts_per_token`` run), optionally shared experts that every token runs, and in Qwen2-MoE a
sigmoid gate on the shared expert. DeepSeek's models keep a dense MLP in the first
``dense_layers`` layers.

The family extends ``dense``: attention, norms, embeddings, KV cache and every workload formula
are the dense ones; this family replaces only what the MLP changes (parameters, the MLP's
operations, activation memory) and adds expert parallelism. Attention variants (``mla``)
combine with it freely.

Conventions the formulas share:

- parameters are counted the way ``sum(p.numel() for p in model.parameters())`` counts the
  Hugging Face module: every expert, the router, the shared experts and gate, but no buffers;
- *active* parameters are those one token uses: everything except the routed experts it does
  not pick (the router counts in full, as every token runs it);
- memory holds every expert; a decode step reads the experts that some token of the batch is
  routed to; prefill and training FLOPs count the experts each token runs.
"""

from __future__ import annotations

from ridgeline.plugin import Architecture, OptionSpec, hookimpl

MOE = Architecture(
    family="moe",
    extends="dense",
    doc="Mixture-of-experts decoder (Mixtral, Qwen-MoE, DeepSeek-V3): attention as in the dense "
        "family, and in each MoE layer a router picking the top-k of the routed experts, plus "
        "optional shared experts; total parameters differ from the parameters a token uses.",
    options=(
        OptionSpec("num_experts", "int", required=True,
                   doc="Routed experts per MoE layer (Mixtral's num_local_experts, Qwen's "
                       "num_experts, DeepSeek's n_routed_experts)."),
        OptionSpec("experts_per_token", "int", required=True,
                   doc="Routed experts each token runs: top-k (num_experts_per_tok)."),
        OptionSpec("moe_intermediate_size", "int",
                   doc="Width of one routed expert's MLP; default the model's "
                       "intermediate_size (Mixtral's experts are full-width MLPs)."),
        OptionSpec("shared_experts", "int",
                   doc="Experts every token runs besides the routed ones (DeepSeek's "
                       "n_shared_experts); default 0."),
        OptionSpec("shared_intermediate_size", "int",
                   doc="Total width of the shared-expert MLP (Qwen2-MoE's "
                       "shared_expert_intermediate_size); default shared_experts x "
                       "moe_intermediate_size."),
        OptionSpec("shared_expert_gate", "bool",
                   doc="Qwen2-MoE's sigmoid gate on the shared expert: a hidden x 1 linear "
                       "layer per MoE layer; default false."),
        OptionSpec("dense_layers", "int",
                   doc="The first k layers keep a dense MLP of width intermediate_size "
                       "(DeepSeek's first_k_dense_replace); default 0."),
        OptionSpec("router_bias", "bool",
                   doc="A per-expert bias vector in each router counted as a parameter. "
                       "DeepSeek-V3's e_score_correction_bias is an nn.Parameter in DeepSeek's "
                       "own modeling_deepseek.py (and is stored in its checkpoint); the "
                       "Transformers port registers it as a buffer, which a count of "
                       "model.parameters() skips. Default false (Mixtral and Qwen routers "
                       "have no bias)."),
        OptionSpec("moe_layer_step", "int",
                   doc="After the dense_layers, only every k-th layer is a MoE layer (layer i, "
                       "counted from 0, when (i + 1) % k == 0), the rest keep the dense MLP: "
                       "Llama 4's interleave_moe_layer_step, Qwen's decoder_sparse_step; "
                       "default 1 (every layer)."),
        OptionSpec("expert_bias", "bool",
                   doc="Biases on every routed expert's projections (gpt-oss: 2 x width on "
                       "gate-up and hidden on down per expert); default false."),
        OptionSpec("qk_norm", "bool",
                   doc="Per-head RMSNorm of queries and keys (Qwen3's q_norm and k_norm: "
                       "head_dim weights each, per layer); default false."),
    ),
)


@hookimpl
def ridgeline_register_architectures(register):
    register(MOE)
