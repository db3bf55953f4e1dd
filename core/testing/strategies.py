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
