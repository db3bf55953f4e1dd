"""The ``dense`` family: decoder-only transformers with every parameter used by every token."""

from __future__ import annotations

from ridgeline.plugin import Architecture, hookimpl

DENSE = Architecture(
    family="dense",
    doc="Decoder-only transformer (GPT, Llama, Mistral, Qwen2, OPT, ...): attention (MHA, GQA "
        "or MQA) and an MLP (plain or gated) in every layer, every parameter used per token.",
)


@hookimpl
def ridgeline_register_architectures(register):
    register(DENSE)
