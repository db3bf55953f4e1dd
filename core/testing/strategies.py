"""Hypothesis strategies for ridgeline's value objects, with ranges that respect the validators.

``st.builds(Accelerator)`` would ignore the attrs range validators (``gt(0)``, fractions in
(0, 1], a model's heads dividing evenly), so every strategy here draws each field from an
explicit range that the validators accept. Each strategy also mixes in a hand-picked, simple
real-world example (an H100-like device, a Llama-2-7B-like model), so that shrinking lands on
something readable.

The same strategies back ``st.from_type(Accelerator)`` and friends through the ``hypothesis``
entry point (:mod:`ridgeline.testing.hypothesis_hook`).

Example::

    from hypothesis import given
    from ridgeline.testing.strategies import scenarios

    @given(s=scenarios())
    def test_decode_time_is_positive(s):
        assert ridgeline.estimate(s, ["decode_step_s"])["decode_step_s"] > 0
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import attrs
from hypothesis import strategies as st

from .. import _validators

from ..accelerator import KINDS, Accelerator, Efficiency, Link, Links, MemoryTier
from ..model import Model
from ..precision import PRECISIONS
from ..scenario import InferenceWorkload, Plan, Scenario, System, TrainingWorkload

__all__ = [
    "identifiers", "accelerators", "models", "dense_models", "plans", "systems",
    "inference_workloads", "training_workloads", "workloads", "scenarios",
    "H100_LIKE", "LLAMA_2_7B_LIKE",
    "junk_values", "junk_numbers", "EDGE_VALUES", "file_values", "file_tables", "mutated",
    "toml_text", "hf_configs", "mutated_hf_configs", "HF_CONFIGS", "FIELD_NAMES",
]

# --------------------------------------------------------------------------- hand-picked

#: an H100 SXM-like device: the figures of ``registry/accelerators/nvidia-h100-sxm.toml``.
H100_LIKE = Accelerator(
    id="h100-like", name="H100 SXM-like", vendor="example", kind="gpu",
    sources=("registry/accelerators/nvidia-h100-sxm.toml",),
    memory=(MemoryTier("hbm", 80 * 2.0**30, 3.35e12),),
    peak_flops_per_s={"fp32": 66.9e12, "tf32": 494.7e12, "bf16": 989.4e12,
                      "fp16": 989.4e12, "fp8": 1978.9e12, "int8": 1978.9e12},
    links=Links(scale_up=Link(450e9, domain_devices=8, name="NVLink 4.0"),
                scale_out=Link(50e9, latency_s=10e-6, name="InfiniBand NDR"),
                host=Link(64e9, name="PCIe Gen5 x16")),
    power_w=700.0, price_usd_per_hour=3.2, launch_year=2022,
)

#: a Llama-2-7B-like dense model (MHA, gated MLP, rotary positions).
LLAMA_2_7B_LIKE = Model(
    id="llama-2-7b-like", name="Llama-2-7B-like", vocab_size=32000, hidden_size=4096,
    num_layers=32, num_heads=32, intermediate_size=11008, max_seq_len=4096,
)

# --------------------------------------------------------------------------- pieces
# The helpers are cached: composite strategies draw from them on every example, and a strategy
# built once is much cheaper for Hypothesis than a new one per draw.

_ID_PART = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)

#: human text: any Unicode scalar value (no lone surrogates, which UTF-8 cannot hold).
_TEXT_CHARS = st.characters(codec="utf-8")


@functools.lru_cache(maxsize=None)
def identifiers() -> st.SearchStrategy[str]:
    """Registry ids: lower-case letters and digits, joined by ``-`` (``acme-x1``)."""
    return st.builds(lambda first, rest: "-".join([first, *rest]),
                     st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6),
                     st.lists(_ID_PART, max_size=2))


@functools.lru_cache(maxsize=None)
def _text(min_size: int = 0, max_size: int = 24) -> st.SearchStrategy[str]:
    s = st.text(_TEXT_CHARS, min_size=min_size, max_size=max_size)
    return s.filter(lambda x: x.strip()) if min_size else s


@functools.lru_cache(maxsize=None)
def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@functools.lru_cache(maxsize=None)
def _log_floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats spread evenly over orders of magnitude, from ``lo`` to ``hi`` (both > 0)."""
    a, b = math.log10(lo), math.log10(hi)
    return _floats(a, b).map(lambda e: min(max(10.0 ** e, lo), hi))


@functools.lru_cache(maxsize=None)
def _one_of(*options) -> st.SearchStrategy:
    return st.sampled_from(options)


@functools.lru_cache(maxsize=None)
def _optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


@functools.lru_cache(maxsize=None)
def _links() -> st.SearchStrategy[Link]:
    return st.builds(
        Link,
        bandwidth_bytes_per_s=_log_floats(1e8, 2e12),
        latency_s=_floats(0.0, 1e-3),
        domain_devices=_optional(st.integers(1, 1024)),
        topology=st.sampled_from(("switch", "mesh", "ring", "torus2d", "torus3d", "none")),
        name=_text(0, 16),
    )


@functools.lru_cache(maxsize=None)
def _efficiency() -> st.SearchStrategy[Efficiency]:
    # every fraction field (compute, memory, ... whatever the class grows) in (0, 1]
    fractions = {a.name: _floats(0.05, 1.0) for a in attrs.fields(Efficiency)
                 if a.validator is _validators.fraction}
    return st.builds(Efficiency, step_overhead_s=_floats(0.0, 1e-2), **fractions)


# --------------------------------------------------------------------------- accelerators


_TIER_NAMES = st.lists(st.sampled_from(("hbm", "sram", "ddr", "external")), min_size=1,
                       max_size=3, unique=True)
_EXTRA_PRECISIONS = st.lists(st.sampled_from(PRECISIONS), unique=True, max_size=4)
_ALIASES = st.lists(identifiers(), max_size=3, unique=True)
_SOURCES = st.lists(_text(1, 40), min_size=1, max_size=3)
_LINKS = st.builds(Links, scale_up=_optional(_links()), scale_out=_optional(_links()),
                   host=_optional(_links()))
_EFFICIENCIES = st.just(Efficiency()) | _efficiency()


@st.composite
def _generated_accelerators(draw, kinds) -> Accelerator:
    acc_id = draw(identifiers())
    tier_names = draw(_TIER_NAMES)
    memory = [MemoryTier(name=tier_names[0], capacity_bytes=draw(_log_floats(1e6, 1e13)),
                         # the tier that holds the weights always publishes its bandwidth,
                         # so that every generated device can be estimated
                         bandwidth_bytes_per_s=draw(_log_floats(1e9, 1e15)))]
    for name in tier_names[1:]:
        memory.append(MemoryTier(name=name, capacity_bytes=draw(_log_floats(1e6, 1e13)),
                                 bandwidth_bytes_per_s=draw(_optional(_log_floats(1e9, 1e15)))))
    # bf16 and fp32 always, so that every precision has a peak or a fallback to one
    extra = draw(_EXTRA_PRECISIONS)
    peaks = {p: draw(_log_floats(1e11, 5e16)) for p in ("bf16", "fp32", *extra)}
    aliases = [x for x in draw(_ALIASES) if x != acc_id]
    return Accelerator(
        id=acc_id,
        name=draw(_text(1)),
        vendor=draw(_text(1, 12)),
        kind=draw(kinds),
        sources=draw(_SOURCES),
        memory=memory,
        peak_flops_per_s=peaks,
        aliases=aliases,
        links=draw(_LINKS),
        efficiency=draw(_EFFICIENCIES),
        power_w=draw(_optional(_log_floats(1.0, 1e5))),
        price_usd_per_hour=draw(_optional(_log_floats(0.01, 1e3))),
        launch_year=draw(_optional(st.integers(1990, 2040))),
        notes=draw(_text(0, 40)),
    )


def accelerators(*, kinds: Optional[tuple[str, ...]] = None) -> st.SearchStrategy[Accelerator]:
    """Valid accelerators: 1-3 memory tiers (the first with a bandwidth), peaks including bf16
    and fp32, optional links, prices and power, and Unicode in the free-text fields.

    Args:
        kinds: accelerator kinds to draw from (default: the built-in kinds).
    """
    kinds = tuple(kinds) if kinds else KINDS
    generated = _generated_accelerators(st.sampled_from(kinds))
    if H100_LIKE.kind in kinds:
        return st.just(H100_LIKE) | generated
    return generated


# --------------------------------------------------------------------------- models


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def _generated_dense_models(draw) -> Model:
    heads = draw(_one_of(1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128))
    kv_heads = draw(_one_of(*_divisors(heads)))
    head_dim = draw(_one_of(32, 64, 80, 96, 128, 256))
    explicit_head_dim = draw(st.booleans())
    # with head_dim given, hidden_size is free; without it, hidden_size = heads x head_dim
    hidden = draw(st.integers(64, 16384)) if explicit_head_dim else heads * head_dim
    return Model(
        id=draw(identifiers()),
        name=draw(_text(0, 16)),
        family="dense",
        vocab_size=draw(st.integers(256, 262144)),
        hidden_size=hidden,
        num_layers=draw(st.integers(1, 128)),
        num_heads=heads,
        num_kv_heads=draw(_one_of(kv_heads, None) if kv_heads == heads else _one_of(kv_heads)),
        head_dim=head_dim if explicit_head_dim else None,
        intermediate_size=draw(st.integers(hidden, 4 * hidden)),
        mlp=draw(_one_of("gated", "plain")),
        bias=draw(_one_of("none", "qkv", "all")),
        tie_embeddings=draw(st.booleans()),
        positions=draw(_one_of("rotary", "learned", "alibi", "none")),
        norm=draw(_one_of("rmsnorm", "layernorm")),
        norms_per_layer=draw(st.integers(1, 4)),
        final_norm=draw(st.booleans()),
        max_seq_len=draw(_one_of(512, 1024, 2048, 4096, 8192, 32768, 131072)),
        weights_dtype=draw(_one_of("bf16", "fp16", "fp8", "int8", "int4", "fp4")),
        activations_dtype=draw(_one_of("bf16", "fp16", "fp8", "fp32")),
        kv_dtype=draw(_one_of("bf16", "fp16", "fp8")),
    )


@functools.lru_cache(maxsize=None)
def dense_models() -> st.SearchStrategy[Model]:
    """Valid dense models: heads divisible by kv heads, hidden size consistent with head_dim."""
    return st.just(LLAMA_2_7B_LIKE) | _generated_dense_models()


def models() -> st.SearchStrategy[Model]:
    """Valid models (the ``dense`` family, which every catalog with built-ins knows)."""
    return dense_models()


# --------------------------------------------------------------------------- plans


def _powers_of_two_dividing(n: int, limit: int) -> list[int]:
    out, p = [], 1
    while p <= limit and n % p == 0:
        out.append(p)
        p *= 2
    return out


@st.composite
def plans(draw, for_model: Optional[Model] = None, max_devices: int = 64) -> Plan:
    """Valid plans using at most ``max_devices`` devices.

    With ``for_model``, the tensor-parallel degree divides the model's heads and kv heads and the
    pipeline degree divides its layers, so the plan shards the model evenly.
    """
    heads = for_model.num_heads if for_model else 64
    kv = for_model.kv_heads if for_model else 64
    layers = for_model.num_layers if for_model else 64
    tp = draw(_one_of(*_powers_of_two_dividing(math.gcd(heads, kv), max_devices)))
    pp = draw(_one_of(*[p for p in _divisors(layers) if tp * p <= max_devices][:8]))
    dp = draw(_one_of(*[d for d in (1, 2, 4, 8) if tp * pp * d <= max_devices]))
    interleave = 1
    if pp > 1 and layers % (2 * pp) == 0:
        interleave = draw(_one_of(1, 2))
    return Plan(
        tp=tp, pp=pp, dp=dp,
        sp=draw(st.booleans()) if tp > 1 else False,
        micro_batch=draw(st.integers(1, 8)),
        interleave=interleave,
        zero=draw(_one_of(0, 1, 2, 3)),
        recompute=draw(_one_of("none", "selective", "full")),
        offload=draw(_one_of("none", "host")),
    )


# --------------------------------------------------------------------------- workloads


@functools.lru_cache(maxsize=None)
def inference_workloads(max_context: int = 131072) -> st.SearchStrategy[InferenceWorkload]:
    """Static batches whose prompt plus output fits in ``max_context`` tokens."""
    if max_context < 2:
        raise ValueError("max_context must be at least 2 tokens (one prompt, one output)")
    prompt_cap = min(max_context // 2, 32768)
    return st.builds(
        InferenceWorkload,
        batch=st.integers(1, 256),
        prompt_tokens=st.integers(1, prompt_cap),
        output_tokens=st.integers(1, min(max_context - prompt_cap, 4096)),
    )


@functools.lru_cache(maxsize=None)
def training_workloads(max_seq_len: int = 131072,
                       batch_multiple: int = 1) -> st.SearchStrategy[TrainingWorkload]:
    """Training runs; ``global_batch`` is a multiple of ``batch_multiple`` (dp x micro-batch)."""
    return st.builds(
        TrainingWorkload,
        global_batch=st.integers(1, max(1, 4096 // batch_multiple)).map(
            lambda k: k * batch_multiple),
        seq_len=st.integers(min(128, max_seq_len), min(max_seq_len, 32768)),
        tokens=_log_floats(1e6, 1e13),
    )


def workloads() -> st.SearchStrategy:
    """Inference or training workloads."""
    return inference_workloads() | training_workloads()


# --------------------------------------------------------------------------- systems, scenarios


def systems(accelerator: Optional[Accelerator] = None,
            devices: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)) -> st.SearchStrategy[System]:
    """Systems of ``devices`` accelerators (drawn with :func:`accelerators` unless given)."""
    accs = st.just(accelerator) if accelerator is not None else accelerators()
    return st.builds(System, accelerator=accs, devices=st.sampled_from(devices))


@st.composite
def _generated_scenarios(draw, accs, workload_kinds) -> Scenario:
    model = draw(models())
    plan = draw(plans(for_model=model))
    system = System(accelerator=draw(accs), devices=plan.devices * draw(_one_of(1, 2)))
    kind = draw(_one_of(*workload_kinds))
    if kind == "inference":
        workload = draw(inference_workloads(max_context=model.max_seq_len))
    else:
        workload = draw(training_workloads(max_seq_len=model.max_seq_len,
                                           batch_multiple=plan.dp * plan.micro_batch))
    return Scenario(model=model, system=system, plan=plan, workload=workload)


def scenarios(*, accelerator: Optional[Accelerator] = None,
              workload_kinds: tuple[str, ...] = ("inference", "training"),
              ) -> st.SearchStrategy[Scenario]:
    """Scenarios that pass :meth:`Scenario.check`: a dense model, a plan that shards it
    evenly, a system with a multiple of the plan's devices, and a workload that fits the
    model's context.

    Args:
        accelerator: use this device (a plugin's own) instead of generated ones.
        workload_kinds: ``inference``, ``training`` or both.
    """
    accs = st.just(accelerator) if accelerator is not None else accelerators()
    generated = _generated_scenarios(accs, tuple(workload_kinds))
    if accelerator is None and "inference" in workload_kinds:
        return st.just(Scenario(LLAMA_2_7B_LIKE, System(H100_LIKE))) | generated
    return generated


# --------------------------------------------------------------------------- junk
# Inputs a careless or adversarial caller passes: wrong types, boundary and huge numbers,
# text where a number belongs. ridgeline must answer each with one of its own errors (or, where
# the value happens to be acceptable, with a physically possible result).

class _Opaque:
    """An object of no type ridgeline knows (``repr`` kept short for shrunk examples)."""

    def __repr__(self) -> str:
        return "_Opaque()"


#: hand-picked values at the edges of every kind of argument.
EDGE_VALUES = (
    None, True, False, 0, -0.0, -1, 1, 0.5, -0.5, 1e-300, 5e-324, 1e308, 2**31, 2**53 + 1,
    2**63, 10**400, -(10**400), math.nan, math.inf, -math.inf, 1j, 1 + 0j,
    "", " ", "0", "-1", "1.5", "1e9", "1e400", "-5T", "nan", "inf", "max", "none", "auto",
    "None", "h100", "bf16", "int4", "1B", "300 GB", b"1", [], [1, 2], ["fp8"], (), {},
    {"a": 1}, {1, 2}, range(3), _Opaque(), Ellipsis,
)


def _numpy_junk() -> st.SearchStrategy:
    import numpy as np
    return st.sampled_from((np.float64("nan"), np.float64(-1.0), np.float32(0.5),
                            np.int64(-1), np.int64(2**62), np.bool_(True), np.array(2.0),
                            np.array([1.0, 2.0]), np.array([]), np.array(["a"]),
                            np.array([[1, 2]]), np.float64("inf")))


@functools.lru_cache(maxsize=None)
def junk_values() -> st.SearchStrategy:
    """Values of every type and edge: ``None``, booleans, nan and infinities, zero, negatives,
    integers beyond any float (``10**400``), complex numbers, numeric-looking and other text,
    bytes, containers, numpy scalars and arrays, and objects of unknown types."""
    return st.one_of(
        st.sampled_from(EDGE_VALUES),
        st.integers(),
        st.floats(),
        st.text(max_size=12),
        st.complex_numbers(),
        st.lists(st.integers(-3, 3), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=2),
        _numpy_junk(),
    )


@functools.lru_cache(maxsize=None)
def junk_numbers() -> st.SearchStrategy:
    """Numbers only, at the edges: negative, zero, fractional, tiny, huge, nan, infinities."""
    return st.one_of(
        st.sampled_from((0, -1, 0.5, -0.5, 1e-300, 1e308, 2**63, 10**400, -(10**400),
                         math.nan, math.inf, -math.inf, 1.0, 3, 7)),
        st.integers(), st.floats())


# --------------------------------------------------------------------------- files

#: key names found in registry files and Hugging Face configs, so that junk hits real fields.
FIELD_NAMES = (
    "id", "name", "vendor", "kind", "sources", "memory", "capacity_bytes",
    "bandwidth_bytes_per_s", "peak_flops_per_s", "bf16", "fp8", "links", "scale_up",
    "scale_out", "host", "efficiency", "compute", "power_w", "price_usd_per_hour", "family",
    "vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim",
    "intermediate_size", "max_seq_len", "weights_dtype", "replaces", "aliases", "options",
    "model_type", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "max_position_embeddings", "tie_word_embeddings", "rope_scaling", "n_embd", "n_layer",
)

_FILE_SCALARS = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=12),
    st.sampled_from(("80 GiB", "3.35 TB/s", "989 TFLOP/s", "700 W", "2 USD/h", "gpu", "hbm",
                     "dense", "moe", "bf16", "llama", "-1 GB", "1e400 B", "nan s")))
_FILE_KEYS = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8))


@functools.lru_cache(maxsize=None)
def file_values() -> st.SearchStrategy:
    """Values a TOML or JSON file can hold, nested with ``st.recursive``: scalars of every
    type (text with units included), lists and tables."""
    return st.recursive(
        _FILE_SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_FILE_KEYS, inner,
                                                                    max_size=4),
        max_leaves=20)


@functools.lru_cache(maxsize=None)
def file_tables() -> st.SearchStrategy[dict]:
    """Junk top-level tables for a registry file or a ``config.json``."""
    return st.dictionaries(_FILE_KEYS, file_values(), max_size=8)


def _paths(data, prefix=()):
    """Every path to a value in nested dicts and lists (the containers' own paths included)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, prefix + (i,))
    return out


def _copy(data):
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


def _parent(data, path):
    for k in path[:-1]:
        data = data[k]
    return data


@st.composite
def _mutation(draw, base: dict, values: st.SearchStrategy) -> dict:
    data = _copy(base)
    paths = _paths(data)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        action = draw(st.sampled_from(("set", "delete", "add", "scale", "retype")))
        if action == "add" or not paths:
            where = draw(st.sampled_from([()] + [p for p in paths
                                                 if isinstance(_parent(data, p + (0,)), dict)]))
            table = _parent(data, where + (None,))
            if isinstance(table, dict):
                table[draw(_FILE_KEYS)] = draw(values)
            continue
        path = draw(st.sampled_from(paths))
        parent, key = _parent(data, path), path[-1]
        if action == "delete":
            del parent[key]
        elif action == "set":
            parent[key] = draw(values)
        elif action == "scale" and isinstance(parent[key], (int, float)) \
                and not isinstance(parent[key], bool):
            factor = draw(st.sampled_from((-1, 0, 0.5, 2, 3, 1000, 10**12, 1e300)))
            parent[key] = parent[key] * factor
        else:  # the same content as another type: "4096" for 4096, [x] for x, 4096.0
            old = parent[key]
            as_float = old
            if isinstance(old, int) and not isinstance(old, bool):
                as_float = float(old) if abs(old) < 2**1023 else old
            parent[key] = draw(st.sampled_from((str(old), [old], {"value": old}, as_float)))
    return data


def mutated(base: dict, values: Optional[st.SearchStrategy] = None) -> st.SearchStrategy[dict]:
    """Copies of a valid nested dict (a registry file's table, a ``config.json``) with one to
    three faults: a value replaced (by ``values``, default :func:`file_values`), a key deleted or
    added, a number scaled by a negative, zero, fractional or huge factor, or a value turned
    into another type. The base itself is never changed."""
    return _mutation(base, values if values is not None else file_values())


# --------------------------------------------------------------------------- TOML text
# A writer of its own, independent of ridgeline.loader.to_toml, so that it can also write what
# no valid object holds: nan, inf, mixed arrays, arbitrary keys.

def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\uFFFD")  # TOML cannot hold a lone surrogate
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in value if x is not None) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_string(str(k))} = {_toml_value(x)}"
                               for k, x in value.items() if x is not None) + "}"
    return _toml_string(str(value))


def toml_text(data: dict) -> str:
    """``data`` as TOML text, whatever it holds (``None`` values are left out, as TOML has no
    null; other values of no TOML type are written as strings)."""
    return "".join(f"{_toml_string(str(k))} = {_toml_value(v)}\n"
                   for k, v in data.items() if v is not None)


# --------------------------------------------------------------------------- Hugging Face configs

def _llama_like(model_type, hidden, heads, kv, layers, ffn, vocab, positions, **extra):
    return {"architectures": [f"{model_type.capitalize()}ForCausalLM"], "model_type": model_type,
            "hidden_size": hidden, "num_attention_heads": heads, "num_key_value_heads": kv,
            "num_hidden_layers": layers, "intermediate_size": ffn, "vocab_size": vocab,
            "max_position_embeddings": positions, "hidden_act": "silu", "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
            **extra}


#: published ``config.json`` shapes, one per reader: Llama-3-8B, Mistral-7B, Qwen2-7B, Gemma-2B,
#: GPT-2, OPT-125M, Pythia-160M (GPT-NeoX), Falcon-7B, Mixtral-8x7B, Phi-3-mini.
HF_CONFIGS = (
    _llama_like("llama", 4096, 32, 8, 32, 14336, 128256, 8192, rope_theta=500000.0),
    _llama_like("mistral", 4096, 32, 8, 32, 14336, 32000, 32768, sliding_window=4096),
    _llama_like("qwen2", 3584, 28, 4, 28, 18944, 152064, 131072, rope_theta=1000000.0),
    {"architectures": ["GemmaForCausalLM"], "model_type": "gemma", "hidden_size": 2048,
     "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256,
     "num_hidden_layers": 18, "intermediate_size": 16384, "vocab_size": 256000,
     "max_position_embeddings": 8192, "hidden_act": "gelu"},
    {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 768, "n_head": 12,
     "n_layer": 12, "n_positions": 1024, "vocab_size": 50257, "activation_function": "gelu_new"},
    {"architectures": ["OPTForCausalLM"], "model_type": "opt", "hidden_size": 768,
     "num_attention_heads": 12, "num_hidden_layers": 12, "ffn_dim": 3072, "vocab_size": 50272,
     "max_position_embeddings": 2048, "word_embed_proj_dim": 768,
     "do_layer_norm_before": True},
    {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": 768,
     "num_attention_heads": 12, "num_hidden_layers": 12, "intermediate_size": 3072,
     "vocab_size": 50304, "max_position_embeddings": 2048, "rotary_pct": 0.25,
     "use_parallel_residual": True},
    {"architectures": ["FalconForCausalLM"], "model_type": "falcon", "hidden_size": 4544,
     "num_attention_heads": 71, "num_hidden_layers": 32, "vocab_size": 65024,
     "multi_query": True, "parallel_attn": True, "bias": False, "alibi": False,
     "new_decoder_architecture": False},
    _llama_like("mixtral", 4096, 32, 8, 32, 14336, 32000, 32768, num_local_experts=8,
                num_experts_per_tok=2, rope_theta=1000000.0),
    _llama_like("phi3", 3072, 32, 32, 32, 8192, 32064, 4096, tie_word_embeddings=False),
)


@functools.lru_cache(maxsize=None)
def hf_configs() -> st.SearchStrategy[dict]:
    """Real-looking Hugging Face ``config.json`` contents: the published shapes of
    :data:`HF_CONFIGS`, scaled to other consistent sizes (layers, widths, vocabularies)."""
    @st.composite
    def scaled(draw) -> dict:
        cfg = _copy(draw(st.sampled_from(HF_CONFIGS)))
        for key in ("num_hidden_layers", "n_layer"):
            if key in cfg:
                cfg[key] = draw(st.integers(1, 128))
        for key in ("vocab_size",):
            cfg[key] = draw(st.sampled_from((cfg[key], 256, 32000, 128256, 256000)))
        for key in ("max_position_embeddings", "n_positions"):
            if key in cfg:
                cfg[key] = draw(st.sampled_from((cfg[key], 512, 4096, 131072)))
        for key in ("intermediate_size", "ffn_dim"):
            if key in cfg:
                cfg[key] = draw(st.sampled_from((cfg[key], cfg[key] // 2, cfg[key] * 2)))
        return cfg
    return scaled()


def mutated_hf_configs() -> st.SearchStrategy[dict]:
    """:func:`hf_configs` with one to three faults (see :func:`mutated`): wrong types, missing
    keys, negative, zero or huge sizes, unknown keys."""
    return hf_configs().flatmap(lambda cfg: mutated(cfg, junk_values() | file_values()))
