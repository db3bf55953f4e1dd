"""State-space families: ``mamba`` (Mamba-1), ``mamba2`` (Mamba-2, SSD) and the hybrid ``jamba``.

A Mamba layer replaces attention and the MLP with one *mixer* that carries a fixed-size
recurrent state from token to token instead of a cache that grows with the context
(Gu & Dao 2023, arXiv:2312.00752; Dao & Gu 2024, arXiv:2405.21060). Its widths, in the
Hugging Face ``config.json`` names:

- ``d_inner``: the channels the mixer works on, ``intermediate_size`` in a pure Mamba model
  (``expand x hidden_size`` in the configs, but FalconMamba-7B's config gives
  ``intermediate_size = 8192`` beside ``expand = 16``, and the modules use the former), the
  ``expand`` option times ``hidden_size`` in Jamba (whose ``intermediate_size`` is its MLP's);
- ``state_size`` (``d_state``, ``N``): the state per channel (Mamba-1) or per head dimension
  (Mamba-2);
- ``conv_kernel`` (``d_conv``): width of the causal depthwise convolution before the scan;
- Mamba-1: ``dt_rank`` (``R``), the width of the low-rank step-size projection;
- Mamba-2: ``ssm_head_dim`` (``P``), heads ``H = d_inner / P``, ``n_groups`` (``G``) sets of
  ``B`` and ``C`` shared by the heads of a group, ``chunk_size`` (``Q``) of the SSD algorithm.

One Mamba-1 mixer, as ``transformers``' ``MambaMixer`` holds it::

    in_proj     hidden -> 2 d_inner          (x and the gate z; bias with proj_bias)
    conv1d      d_inner x d_conv, depthwise  (bias with conv_bias)
    x_proj      d_inner -> R + 2N            (dt, B, C; no bias)
    dt_proj     R -> d_inner                 (always a bias)
    A_log       d_inner x N
    D           d_inner
    out_proj    d_inner -> hidden            (bias with proj_bias)

Jamba's mixer adds RMSNorms over dt (R), B (N) and C (N). FalconMamba's extra RMS
normalisations of B, C and dt have no weights: it counts as Mamba-1.

One Mamba-2 mixer (``Mamba2Mixer``)::

    in_proj     hidden -> 2 d_inner + 2 G N + H    (z, x, B, C, dt; bias with proj_bias)
    conv1d      (d_inner + 2 G N) x d_conv          (over x, B, C; bias with conv_bias)
    dt_bias, A_log, D                                H each
    norm        d_inner                              (gated RMSNorm before out_proj)
    out_proj    d_inner -> hidden                    (bias with proj_bias)

A pure Mamba model has one RMSNorm per layer (``norms_per_layer = 1``), no MLP, no positions;
``intermediate_size`` is ``d_inner``; ``num_heads`` is what
tensor parallelism splits: ``H`` for Mamba-2, and ``d_inner`` with ``head_dim = 1`` for
Mamba-1, whose scan is one SSM per channel (Mamba-2 paper, section 7: head dimension 1).

**Jamba** (Lieber et al. 2024, arXiv:2403.19887) interleaves: layer ``i`` is attention when
``i % attn_layer_period == attn_layer_offset`` and a Mamba-1 mixer otherwise; its MLP is a
mixture of experts when ``i % expert_layer_period == expert_layer_offset`` and a dense gated
MLP otherwise. The family extends ``moe``: ``num_experts`` and ``experts_per_token`` are the
moe family's, and ``dense_layers`` must be given as the count of dense-MLP layers the period
leaves (the moe formulas count layers, and where they sit changes no estimate).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ridgeline.plugin import Architecture, OptionSpec, ScenarioError, hookimpl

_MIXER_OPTIONS = (
    OptionSpec("state_size", "int", required=True,
               doc="d_state (N): SSM state per channel (Mamba-1: 16) or per head dimension "
                   "(Mamba-2: 128)."),
    OptionSpec("conv_kernel", "int", doc="d_conv: width of the causal depthwise convolution; "
                                         "default 4."),
    OptionSpec("conv_bias", "bool", doc="A bias on the convolution; default true."),
    OptionSpec("proj_bias", "bool", doc="Biases on in_proj and out_proj; default false."),
)

_MAMBA1_OPTIONS = (
    OptionSpec("dt_rank", "int", doc="R: width of the step-size projection; default "
                                     "ceil(hidden_size / 16) (Mamba's \"auto\")."),
)

_HYBRID_OPTIONS = (
    OptionSpec("expand", "int", doc="The Mamba layers' d_inner = expand x hidden_size (Jamba's "
                                    "mamba_expand); default 2."),
    OptionSpec("attn_layer_period", "int", required=True,
               doc="Every this many layers one is attention (Jamba: 8)."),
    OptionSpec("attn_layer_offset", "int", required=True,
               doc="Index of the attention layer within each period (Jamba: 4)."),
    OptionSpec("expert_layer_period", "int", required=True,
               doc="Every this many layers one has a mixture-of-experts MLP (Jamba: 2)."),
    OptionSpec("expert_layer_offset", "int", required=True,
               doc="Index of the MoE layer within each period (Jamba: 1)."),
)

MAMBA = Architecture(
    family="mamba",
    extends="dense",
    new_layers=True,
    doc="Selective state-space model, Mamba-1 (Mamba, FalconMamba): every layer one mixer with "
        "a causal convolution and a selective scan over a fixed-size recurrent state; no "
        "attention, no MLP, no KV cache.",
    options=_MIXER_OPTIONS + _MAMBA1_OPTIONS,
)

MAMBA2 = Architecture(
    family="mamba2",
    extends="mamba",
    doc="Mamba-2 (Codestral Mamba): multi-head state-space duality (SSD) mixers, computed in "
        "chunks as matrix multiplies; a fixed-size recurrent state per sequence.",
    options=(
        OptionSpec("ssm_head_dim", "int", doc="P: channels per SSM head; default 64."),
        OptionSpec("n_groups", "int", doc="G: groups of heads sharing B and C; default 1."),
        OptionSpec("chunk_size", "int", doc="Q: chunk length of the SSD algorithm; default 256."),
    ),
)

JAMBA = Architecture(
    family="jamba",
    extends="moe",
    new_layers=True,
    doc="Hybrid of attention and Mamba-1 layers with MoE MLPs in some layers (Jamba): only "
        "the attention layers keep a KV cache; the Mamba layers keep a fixed-size state.",
    options=_MIXER_OPTIONS + _MAMBA1_OPTIONS + _HYBRID_OPTIONS,
)

#: families whose layers (some or all) are Mamba mixers.
SSM_FAMILIES = ("mamba", "mamba2", "jamba")


class SsmShape(NamedTuple):
    """A state-space model's mixer widths and layer counts, checked."""

    version: int
    """1: Mamba-1 selective scan; 2: Mamba-2 SSD."""
    d_inner: int
    state_size: int
    conv_kernel: int
    dt_rank: int
    """Mamba-1 only (0 for Mamba-2)."""
    head_dim: int
    """Mamba-2 only (0 for Mamba-1)."""
    heads: int
    """Mamba-2 SSM heads (0 for Mamba-1)."""
    groups: int
    chunk_size: int
    conv_bias: bool
    proj_bias: bool
    inner_norms: bool
    """Jamba's RMSNorms over dt, B and C."""
    mamba_layers: int
    attention_layers: int
    expert_layers: int

    @property
    def conv_channels(self) -> int:
        """Channels the convolution runs over: x (Mamba-1); x, B and C (Mamba-2)."""
        if self.version == 2:
            return self.d_inner + 2 * self.groups * self.state_size
        return self.d_inner


def _whole(model, name, default, least):
    value = model.option(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ScenarioError(f"model {model.id!r}: options.{name} must be a whole number >= "
                            f"{least}, got {value!r}")
    return value


def _flag(model, name, default):
    value = model.option(name, default)
    if not isinstance(value, bool):
        raise ScenarioError(f"model {model.id!r}: options.{name} must be true or false, "
                            f"got {value!r}")
    return value


def periodic_layers(layers: int, period: int, offset: int) -> int:
    """How many of layers ``0 .. layers-1`` satisfy ``i % period == offset``."""
    return sum(1 for i in range(layers) if i % period == offset)


def ssm_shape(model) -> SsmShape:
    """The mixer widths of ``model`` (family ``mamba``, ``mamba2`` or ``jamba``), or
    :class:`ScenarioError` naming the option that is wrong. Models built in code have not
    had their option types checked, so everything is checked here."""
    if model.family not in SSM_FAMILIES:
        raise ScenarioError(f"model {model.id!r}: family {model.family!r} has no Mamba mixer")
    version = 2 if model.family == "mamba2" else 1
    hidden = model.hidden_size
    # a pure Mamba model's mixer width is its intermediate_size (what transformers' mixers
    # use); the hybrid's intermediate_size is its MLP's, and its mixers are expand x hidden
    d_inner = _whole(model, "expand", 2, 1) * hidden if model.family == "jamba" \
        else model.intermediate_size
    state = _whole(model, "state_size", None, 1)
    conv = _whole(model, "conv_kernel", 4, 1)
    conv_bias = _flag(model, "conv_bias", True)
    proj_bias = _flag(model, "proj_bias", False)
    layers = model.num_layers
    if model.family == "jamba":
        a_period = _whole(model, "attn_layer_period", None, 1)
        a_offset = _whole(model, "attn_layer_offset", None, 0)
        e_period = _whole(model, "expert_layer_period", None, 1)
        e_offset = _whole(model, "expert_layer_offset", None, 0)
        for name, offset, period in (("attn_layer_offset", a_offset, a_period),
                                     ("expert_layer_offset", e_offset, e_period)):
            if offset >= period:
                raise ScenarioError(f"model {model.id!r}: options.{name} ({offset}) must be "
                                    f"less than its period ({period})")
        attention = periodic_layers(layers, a_period, a_offset)
        experts = periodic_layers(layers, e_period, e_offset)
        dense = model.option("dense_layers", 0)
        if dense != layers - experts:
            raise ScenarioError(
                f"model {model.id!r}: options.dense_layers must be {layers - experts} (the "
                f"layers without experts under expert_layer_period = {e_period}, "
                f"expert_layer_offset = {e_offset}), got {dense!r}")
        if experts == 0:
            raise ScenarioError(f"model {model.id!r}: no layer has experts under "
                                f"expert_layer_period = {e_period}, offset = {e_offset}")
    else:
        attention, experts = 0, 0
    if version == 1:
        dt_rank = _whole(model, "dt_rank", math.ceil(hidden / 16), 1)
        head_dim = heads = 0
        groups, chunk = 1, 0
    else:
        dt_rank = 0
        head_dim = _whole(model, "ssm_head_dim", 64, 1)
        if d_inner % head_dim:
            raise ScenarioError(f"model {model.id!r}: options.ssm_head_dim ({head_dim}) must "
                                f"divide d_inner = expand x hidden_size = {d_inner}")
        heads = d_inner // head_dim
        groups = _whole(model, "n_groups", 1, 1)
        if heads % groups:
            raise ScenarioError(f"model {model.id!r}: options.n_groups ({groups}) must divide "
                                f"the {heads} SSM heads")
        chunk = _whole(model, "chunk_size", 256, 1)
    return SsmShape(version, d_inner, state, conv, dt_rank, head_dim, heads, groups, chunk,
                    conv_bias, proj_bias, model.family == "jamba", layers - attention,
                    attention, experts)


@hookimpl
def ridgeline_register_architectures(register):
    register(MAMBA)
    register(MAMBA2)
    register(JAMBA)
