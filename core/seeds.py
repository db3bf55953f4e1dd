"""The seed essays' worked examples, set up with each essay's own assumptions.

Used by the tests, the README and ``make demo``; each function returns what the essay
computes by hand, computed by ridgeline.
"""

from __future__ import annotations

import numpy as np

from .accelerator import Accelerator, Efficiency, Link, Links, MemoryTier
from .model import Model

#: Essay 003's H100: "3e15 8-bit FLOP/s", 60 TB/s across 20 of them (3 TB/s each), and no
#: communication cost (the essay leaves it out), every figure at 100 % efficiency.
ESSAY_003_H100 = Accelerator(
    id="essay-003-h100", name="H100 as essay 003 assumes it", vendor="(essay)", kind="gpu",
    sources=("seed essay 003",),
    memory=(MemoryTier("hbm", 80e9, 3e12),),
    peak_flops_per_s={"fp8": 3e15},
    links=Links(scale_up=Link(bandwidth_bytes_per_s=1e18, latency_s=0.0, domain_devices=20)),
    efficiency=Efficiency(compute=1.0, memory=1.0, network=1.0, usable_memory=1.0,
                          kernel_overhead_s=0.0))

#: Essay 003's "1.6 trillion 8-bit parameters" as a dense model: 140 layers of width 30720
#: (12·L·h² = 1.59 T) with a 64k vocabulary, every dimension divisible by 20.
ESSAY_003_MODEL = Model(
    id="essay-003-1.6t", vocab_size=64000, hidden_size=30720, num_layers=140, num_heads=160,
    intermediate_size=4 * 30720, mlp="plain", weights_dtype="fp8",
    activations_dtype="fp8", kv_dtype="fp8")


def essay_003(batch: int = 1):
    """1.6 T fp8 parameters on 20 H100s with 20-way tensor parallelism."""
    from .api import infer
    return infer(ESSAY_003_MODEL, on=ESSAY_003_H100, tp=20, batch=batch, prompt=1, output=1)


def essay_000_intensity(model="llama-3-70b", on="h100", tp=8,
                        batches=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)):
    """Decode's arithmetic intensity, step time and throughput as the batch grows (a sweep)."""
    from .api import infer_scenario
    from .engine import sweep
    scenario = infer_scenario(model, on=on, tp=tp, batch=1, prompt=512, output=256)
    e = sweep(scenario, {"batch": np.asarray(batches, dtype=float)},
              ["decode_arithmetic_intensity", "ridge_point_flops_per_byte", "tpot_s",
               "decode_throughput_tokens_per_s", "fits"])
    return batches, e
