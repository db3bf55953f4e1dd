"""The model: an architecture family and its dimensions.

A :class:`Model` describes a decoder-only transformer the way a Hugging Face ``config.json``
does. Architecture families other than ``dense`` (``moe``, ...) add their own fields in
``options``; the :class:`Architecture` a plugin registers declares which options its family
takes, and every model is checked against it when the catalog is built.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, Optional, Union

from attrs import field, frozen

from . import _validators as v
from .precision import ELEMENT_BYTES

OptionValue = Union[bool, int, float, str]


def _precision(instance, attribute, value) -> None:
    if value not in ELEMENT_BYTES:
        raise ValueError(f"{attribute.name} must be one of {', '.join(ELEMENT_BYTES)}, "
                         f"got {value!r}")


def _options(value) -> Mapping[str, OptionValue]:
    return MappingProxyType(dict(value))


@frozen
class Model:
    """A language model's architecture and dimensions."""

    id: str = field(validator=v.identifier)
    """Registry id (``llama-3-70b``); equals the preset's file stem."""

    vocab_size: int = field(validator=v.positive_int)
    hidden_size: int = field(validator=v.positive_int)
    num_layers: int = field(validator=v.positive_int)
    num_heads: int = field(validator=v.positive_int)
    intermediate_size: int = field(validator=v.positive_int)
    """Width of the MLP's hidden layer (``d_ff``)."""

    family: str = field(default="dense", validator=v.identifier)
    """Architecture family: ``dense``, or one a plugin registers (``moe``, ...)."""

    attention: str = field(default="standard", validator=v.identifier)
    """Attention variant: ``standard`` (MHA, GQA or MQA, by ``num_kv_heads``) or one a plugin
    registers as an :class:`AttentionVariant` (``mla``). A variant other than ``standard``
    is the scenario feature ``attention-<name>`` that formulas may require."""

    name: str = ""
    num_kv_heads: Optional[int] = field(default=None, validator=v.optional_positive_int)
    """Key/value heads: equal to ``num_heads`` for MHA (the default), fewer for GQA, 1 for MQA."""

    head_dim: Optional[int] = field(default=None, validator=v.optional_positive_int)
    """Per-head width; defaults to ``hidden_size // num_heads``."""

    mlp: str = field(default="gated", validator=v.one_of("gated", "plain"))
    """``gated`` (SwiGLU/GeGLU: three matrices) or ``plain`` (two matrices)."""

    bias: str = field(default="none",
                      validator=v.one_of("none", "qkv", "all", "attention", "mlp"))
    """Which linear layers have biases: none, only Q/K/V (Qwen2), all (GPT-2, OPT), the four
    attention projections only (Phi-3.5-MoE, Granite's ``attention_bias``) or the MLP only
    (GPT-J)."""

    tie_embeddings: bool = False
    """Whether the LM head reuses the token embedding matrix."""

    positions: str = field(default="rotary", validator=v.one_of("rotary", "learned", "alibi", "none"))
    position_rows: Optional[int] = field(default=None, validator=v.optional_positive_int)
    """Rows of a learned position table; defaults to ``max_seq_len`` (OPT has 2 extra)."""

    norm: str = field(default="rmsnorm",
                      validator=v.one_of("rmsnorm", "layernorm", "layernorm-nobias",
                                         "layernorm-noparams"))
    """``layernorm`` has a weight and a bias per channel; ``rmsnorm`` and ``layernorm-nobias``
    (PaLM) a weight only; ``layernorm-noparams`` (OLMo 1) none."""

    parallel_layers: bool = False
    """Attention and MLP read the same normalised input and their outputs are summed (GPT-J,
    PaLM, Falcon): one tensor-parallel all-reduce per layer instead of two."""

    sliding_window: Optional[int] = field(default=None, validator=v.optional_positive_int)
    """Tokens a windowed attention layer attends to (Mistral, Gemma 2/3, gpt-oss: 4,096 or
    less), or the chunk length of chunked attention (Llama 4: 8,192). ``None``: every layer
    attends to the whole context. A windowed layer keeps at most this many positions of KV
    cache per sequence, and its attention work per token is bounded by it."""

    window_kind: str = field(default="sliding", validator=v.one_of("sliding", "chunked"))
    """``sliding``: each token sees the ``sliding_window`` tokens before it. ``chunked``: the
    context is cut into chunks of ``sliding_window`` tokens and each token sees only the
    earlier tokens of its own chunk."""

    window_layers: Optional[int] = field(default=None, validator=v.optional_positive_int)
    """How many of the layers use the window when only some do (Gemma 3: 5 of every 6; the
    rest attend globally); ``None`` with a ``sliding_window``: all of them."""

    qk_norm: str = field(default="none", validator=v.one_of("none", "head", "head-bias",
                                                             "full"))
    """Norms on queries and keys before attention: ``head`` one ``head_dim`` weight vector for
    Q and one for K shared by every head (Qwen3, Gemma 3), ``head-bias`` the same with biases
    (Phi's LayerNorm), ``full`` a weight per channel of the whole Q and K widths (OLMo 2,
    Cohere, StableLM)."""

    attention_sinks: bool = False
    """A learned sink logit per head joins every softmax (gpt-oss; StreamingLLM's attention
    sink, Xiao et al. 2023): one more score column per query row, no key or value to cache;
    one parameter per head per layer."""

    embedding_norm: bool = False
    """A norm right after the token embedding (BLOOM's ``word_embeddings_layernorm``)."""

    lm_head_bias: bool = False
    """Whether the LM head has a bias per vocabulary entry (GPT-J, Phi)."""

    norms_per_layer: int = field(default=2, validator=v.positive_int)
    final_norm: bool = True
    embed_dim: Optional[int] = field(default=None, validator=v.optional_positive_int)
    """Width of the token embedding when it differs from ``hidden_size`` (OPT-350m: 512, with
    ``project_in``/``project_out`` matrices to and from the trunk)."""

    max_seq_len: Optional[int] = field(default=None, validator=v.optional_positive_int)
    """Positions the model runs with: its config's ``max_position_embeddings`` (times the
    ``rope_scaling`` factor where it has one). Prompt plus output, or a training sequence,
    beyond it is an error unless the caller gives a context limit. ``None``: no limit stated
    (a learned position table then needs ``position_rows``)."""

    weights_dtype: str = field(default="bf16", validator=_precision)
    """Precision the weights are stored and read in (quantisation lives here)."""

    activations_dtype: str = field(default="bf16", validator=_precision)
    """Precision of activations, and of the arithmetic (the peak FLOP/s that applies)."""

    kv_dtype: str = field(default="bf16", validator=_precision)
    """Precision of the KV cache."""

    options: Mapping[str, OptionValue] = field(factory=dict, converter=_options)
    """Fields of families other than ``dense``, as their :class:`Architecture` declares them."""

    aliases: tuple[str, ...] = field(default=(), converter=tuple, validator=v.identifiers)
    sources: tuple[str, ...] = field(default=(), converter=tuple)
    replaces: Optional[str] = None
    """Id of a preset this one deliberately replaces."""

    notes: str = ""

    def __attrs_post_init__(self) -> None:
        if self.positions == "learned" and self.max_seq_len is None and \
                self.position_rows is None:
            raise ValueError("max_seq_len must be given for learned positions (or "
                             "position_rows): it is the size of the position table")
        if self.window_layers is not None:
            if self.sliding_window is None:
                raise ValueError("window_layers needs a sliding_window: the window those "
                                 "layers use")
            if self.window_layers > self.num_layers:
                raise ValueError(f"window_layers ({self.window_layers}) is more than "
                                 f"num_layers ({self.num_layers})")
        kv = self.kv_heads
        if self.num_heads % kv:
            raise ValueError(f"num_heads ({self.num_heads}) must be a multiple of "
                             f"num_kv_heads ({kv})")
        if self.head_dim is None and self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) is not a multiple of num_heads "
                             f"({self.num_heads}); give head_dim explicitly")

    @property
    def kv_heads(self) -> int:
        """Key/value heads (``num_kv_heads``, or ``num_heads`` when it is not given)."""
        return self.num_kv_heads or self.num_heads

    @property
    def head_width(self) -> int:
        """Per-head width (``head_dim``, or ``hidden_size // num_heads``)."""
        return self.head_dim or self.hidden_size // self.num_heads

    @property
    def windowed_layers(self) -> int:
        """Layers whose attention is bounded by ``sliding_window`` (0 without one)."""
        if self.sliding_window is None:
            return 0
        return self.num_layers if self.window_layers is None else self.window_layers

    def matrix_shapes(self) -> dict:
        """``(d_in, d_out)`` of each weight matrix of a standard attention and MLP layer
        (``q``, ``k``, ``v``, ``o``, ``gate`` where the MLP is gated, ``up``, ``down``): the
        matrices an adapter (LoRA) can be put on."""
        d = self.hidden_size
        q_width = self.num_heads * self.head_width
        kv_width = self.kv_heads * self.head_width
        shapes = {"q": (d, q_width), "k": (d, kv_width), "v": (d, kv_width), "o": (q_width, d),
                  "up": (d, self.intermediate_size), "down": (self.intermediate_size, d)}
        if self.mlp == "gated":
            shapes["gate"] = (d, self.intermediate_size)
        return shapes

    def option(self, name: str, default: OptionValue | None = None):
        """A family-specific field, or ``default``."""
        return self.options.get(name, default)

    def features(self) -> frozenset[str]:
        """The model's discrete features beyond its family (``attention-mla``)."""
        if self.attention == "standard":
            return frozenset()
        return frozenset((f"attention-{self.attention}",))


@frozen
class OptionSpec:
    """One family-specific field an :class:`Architecture` declares."""

    name: str = field(validator=v.identifier)
    type: str = field(validator=v.one_of("int", "float", "bool", "str"))
    doc: str = ""
    required: bool = False


def check_options(model: Model, specs: "tuple[OptionSpec, ...]", owner: str) -> list[str]:
    """Problems with ``model``'s options against the option specs in force, one string each.

    ``owner`` names where the specs come from (``family 'moe'``) for the messages.
    """
    problems = []
    by_name = {o.name: o for o in specs}
    types = {"int": int, "float": (int, float), "bool": bool, "str": str}
    for key, value in model.options.items():
        spec = by_name.get(key)
        if spec is None:
            problems.append(f"options.{key}: not an option of {owner} "
                            f"(it takes: {', '.join(by_name) or 'none'})")
        elif not isinstance(value, types[spec.type]) or (
                spec.type in ("int", "float") and isinstance(value, bool)):
            problems.append(f"options.{key}: expected {spec.type}, got {value!r}")
    for spec in specs:
        if spec.required and spec.name not in model.options:
            problems.append(f"options.{spec.name}: required by {owner}")
    return problems


@frozen
class AttentionVariant:
    """An attention variant a plugin contributes (``mla``), usable by any family.

    A model selects it with ``attention = "<name>"``; its ``options`` are then allowed (and
    checked) in the model's ``options`` alongside the family's. Formulas for the variant
    require the feature ``attention-<name>`` (``@formula(features="attention-mla")``).
    """

    name: str = field(validator=v.identifier)
    doc: str = field(validator=v.non_empty_str)
    options: tuple[OptionSpec, ...] = field(default=(), converter=tuple)

    @property
    def id(self) -> str:
        return self.name


@frozen
class Architecture:
    """An architecture family a plugin contributes (``dense``, ``moe``, ...).

    A family that ``extends`` another inherits every formula of its parent: a formula for the
    family itself beats an equally specific one for its parent, so a family registers only
    what differs (``moe`` extends ``dense`` and replaces the MLP). Its models may use the
    parent's options as well as its own.
    """

    family: str = field(validator=v.identifier)
    doc: str = field(validator=v.non_empty_str)
    options: tuple[OptionSpec, ...] = field(default=(), converter=tuple)
    extends: Optional[str] = field(default=None, validator=v.optional_identifier)
    """The family this one builds on (``dense``), or ``None``."""

    new_layers: bool = False
    """Whether the family has layers its parent's hardware cannot be assumed to run (Mamba's
    selective scan extends ``dense`` for its embedding and head, but a transformer-only chip
    has no scan unit): an accelerator that lists the parent in ``runs_families`` does not run
    this family unless it lists it too."""

    def check(self, model: Model) -> list[str]:
        """Problems with ``model``'s options under this family alone, one string each."""
        return check_options(model, self.options, f"family {self.family!r}")
