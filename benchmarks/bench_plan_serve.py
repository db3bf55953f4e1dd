"""Speed of ``plan serve``, run by hand (never as timed unit tests).

Usage::

    .venv/bin/python benchmarks/bench_plan_serve.py
    .venv/bin/python benchmarks/bench_plan_serve.py --model llama-3.1-70b --devices 16

It times ``plan_serve`` for one model over every accelerator in the registry with the
default search space (target: 1 s, issue 13), with and without the disaggregated search,
and prints configurations per second (a configuration at one max batch counts once). The
first call of a process compiles the formula programs; the table reports it apart and takes
the best of the later repeats. The process exits 0 whether or not the target is met.
"""

from __future__ import annotations

import argparse
import time

import ridgeline

TARGET_S = 1.0


def _time(kwargs: dict, repeat: int) -> tuple[float, float, dict]:
    start = time.perf_counter()
    result = ridgeline.plan_serve(**kwargs)
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = ridgeline.plan_serve(**kwargs)
        best = min(best, time.perf_counter() - start)
    return first, best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama-3.1-70b")
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = dict(model=args.model, devices=args.devices, prompt=1000, output=250, ttft=1.0,
                tpot=0.05)
    print(f"plan serve {args.model} on every accelerator, {args.devices} devices, prompt 1000, "
          f"output 250, TTFT <= 1 s, TPOT <= 50 ms (target {TARGET_S:g} s)")
    print(f"{'search':<34}{'first s':>9}{'best s':>9}{'configs':>9}{'configs/s':>11}"
          f"{'fit':>7}  target")
    for name, extra in (("aggregated + disaggregated", {}),
                        ("aggregated only", {"disagg": False}),
                        ("under a rate of 20/s", {"rate": 20})):
        first, best, r = _time({**base, **extra}, args.repeat)
        n = r["configs_evaluated"]
        print(f"{name:<34}{first:>9.3f}{best:>9.3f}{n:>9,}{n / best:>11,.0f}"
              f"{r['configs_fitting']:>7,}  {'met' if best <= TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
