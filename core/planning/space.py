"""The space of training plans: every split of the devices the model allows, grouped by the
discrete features that choose the formulas (see :mod:`ridgeline.plan_pass`).

What is left out, and why (the search space of ``docs/plans.md``):

- tensor parallelism beyond one scale-up domain: its all-reduces, two per layer and pass,
  would cross the scale-out network, several times slower than the scale-up links;
- ZeRO stages 1-3 without data parallelism: with ``dp = 1`` there is nothing to shard over,
  and every estimate equals ZeRO-0's;
- offload to NVMe: it frees the same device memory as offload to host memory, through a
  slower link;
- micro-batches above ``max_micro_batch`` (64 by default): activation memory grows with the
  micro-batch while the arithmetic intensity of the matrix multiplies has long saturated.
"""

from __future__ import annotations

import math
from typing import Iterator, Optional

import numpy as np

from ..accelerator import Accelerator
from ..model import Model
from ..plan_pass import Combination
from ..scenario import PLAN_NUMBERS, plan_features

RECOMPUTE = ("none", "selective", "full")
ZERO = (0, 1, 2, 3)


def divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def pipeline_splits(model: Model, stage_devices: int) -> list[int]:
    """Pipeline degrees to try: those that divide the layers (every stage gets as many) and
    the devices left after tensor parallelism. Uneven splits (a ``pp_layers`` of the plan)
    join the space here."""
    return [p for p in divisors(model.num_layers) if stage_devices % p == 0]


def tensor_degrees(model: Model, accelerator: Accelerator, devices: int) -> list[int]:
    link = accelerator.links.scale_up
    domain = (link.domain_devices or 1) if link else 1
    return [t for t in divisors(devices) if t <= max(domain, 1) and model.num_heads % t == 0
            and model.intermediate_size % t == 0]


def expert_degrees(model: Model, tp: int, dp: int) -> list[int]:
    """Expert-parallel degrees :func:`ridgeline.train` accepts for this tp and dp."""
    experts = model.option("num_experts")
    if not isinstance(experts, int) or isinstance(experts, bool):
        return [1]
    width = model.option("moe_intermediate_size", model.intermediate_size)
    out = [1]
    for ep in divisors(experts)[1:]:
        if (tp % ep and ep % tp) or (tp * dp) % ep:
            continue
        expert_tp = tp // ep if tp % ep == 0 else 1
        if isinstance(width, int) and width % expert_tp:
            continue
        out.append(ep)
    return out


def numeric_plans(model: Model, accelerator: Accelerator, devices: int, global_batch: int,
                  max_micro_batch: int = 64) -> np.ndarray:
    """Every ``(tp, pp, dp, ep, micro_batch, interleave)`` that splits ``devices`` devices and
    ``global_batch`` sequences evenly, as rows of an integer array."""
    rows = []
    for tp in tensor_degrees(model, accelerator, devices):
        for pp in pipeline_splits(model, devices // tp):
            dp = devices // (tp * pp)
            if global_batch % dp:
                continue
            per_replica = global_batch // dp
            stage_layers = model.num_layers // pp
            for ep in expert_degrees(model, tp, dp):
                for mb in range(1, min(per_replica, max_micro_batch) + 1):
                    if per_replica % mb:
                        continue
                    rows.append((tp, pp, dp, ep, mb, 1))
                    if pp == 1 or (per_replica // mb) % pp:
                        continue  # interleaved 1F1B needs micro-batches in multiples of pp
                    for v in divisors(stage_layers)[1:]:
                        rows.append((tp, pp, dp, ep, mb, v))
    return np.array(rows, dtype=np.int64).reshape(-1, len(PLAN_NUMBERS))


def groups(numbers: np.ndarray, accelerator: Accelerator, attention: str = "flash",
           recompute=RECOMPUTE, zero=ZERO, offload: Optional[tuple] = None,
           system=None) -> Iterator[Combination]:
    """The plans of ``numbers`` under every choice of sp, recompute, ZeRO stage and offload,
    grouped by feature combination (on ``system``, when given)."""
    if offload is None:
        offload = ("none", "host") if accelerator.links.host is not None else ("none",)
    if not len(numbers):
        return
    tp, pp, dp, ep, mb, v = numbers.T
    # which degrees exceed 1: the plan features a degree decides
    key = (tp > 1) * 1 + (pp > 1) * 2 + (dp > 1) * 4 + (ep > 1) * 8 + (v > 1) * 16
    for k in np.unique(key):
        rows = numbers[key == k]
        has_tp, has_dp, has_ep = bool(k & 1), bool(k & 4), bool(k & 8)
        degrees = tuple(rows[0, i] for i in (0, 1, 2, 3, 5))
        for sp in ((False, True) if has_tp else (False,)):
            for r in recompute:
                for z in (zero if has_dp else zero[:1]):
                    for o in offload:
                        if o != "none" and has_ep:
                            continue  # not modelled with expert parallelism (see train())
                        choices = dict(sp=sp, zero=z, recompute=r, offload=o,
                                       attention=attention)
                        yield Combination(choices, rows, plan_features(degrees, **choices),
                                          system)
