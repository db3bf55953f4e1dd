"""Speed of the adaptation estimates, run by hand (never as timed unit tests).

Usage::

    .venv/bin/python benchmarks/bench_adaptation.py

``rl()`` composes several engine estimates (the rollouts under serving, one per rollout
tensor-parallel degree tried; a forward pass per scorer; the update), and ``prompt_cost()``
two serving estimates and a training one. Each timed call changes the workload (prompts per
step, or the extra prompt) so that every workload-dependent formula computes afresh; the
deployments' static values are kept between calls, as for any caller that loops over
workloads. Target: a planner's loop of 100 RL plans within a second, 10 ms per call.
The process exits 0 whether or not a target is met: read the table.
"""

from __future__ import annotations

import itertools
import time

import ridgeline

TARGET_S = 10e-3


def _per_call(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    prompts = itertools.cycle([8 * k for k in range(1, 33)])
    extra = itertools.cycle([500 * k for k in range(1, 17)])

    def one_rl():
        ridgeline.rl("llama-3.1-8b", on="h100", devices=8, prompts=next(prompts), group=8,
                     prompt=512, completion=1024, steps=100)

    def one_rl_separate():
        ridgeline.rl("llama-3.1-8b", on="h100", devices=8, prompts=next(prompts), group=8,
                     prompt=512, completion=1024, steps=100, rollout_devices=4)

    def one_prompt_cost():
        ridgeline.prompt_cost("llama-3.1-8b", on="h100", prompt=500, output=300,
                              extra_prompt=next(extra), tune_tokens="50M")

    first = time.perf_counter()
    one_rl()
    print(f"first rl() (catalog and programs built, not counted)  "
          f"{(time.perf_counter() - first) * 1e3:8.1f} ms")
    for label, fn in (("rl, colocated", one_rl), ("rl, separate pools", one_rl_separate),
                      ("prompt_cost with a full fine-tune", one_prompt_cost)):
        fn()
        t = _per_call(fn, 64)
        print(f"{label:<40} {t * 1e3:8.2f} ms per call   (target {TARGET_S * 1e3:.0f} ms: "
              f"{'met' if t <= TARGET_S else 'NOT met'})")


if __name__ == "__main__":
    main()
