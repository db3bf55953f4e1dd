"""How fast ``ridgeline.simulate`` replays requests (run by hand, not by the tests).

    .venv/bin/python benchmarks/bench_simulate.py [--requests N] [--repeat R]

Each case is Llama 3.1 8B with fp8 weights on one H100, prompt 1000 and output 250 tokens
(unless it says otherwise), under a different load. The analytic estimate is made once per
case and not timed; each simulation is timed end to end (the re-estimate of the iteration
times included), the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import time

from ridgeline.serving import serve
from ridgeline.simulate import simulate


def cases(capacity_per_s: float):
    base = dict(on="h100", weights="fp8", prompt=1000, output=250)
    return [
        ("saturation (offline)", dict(base), {}),
        ("Poisson at 70% of capacity", dict(base, rate=0.7 * capacity_per_s), {}),
        ("Poisson at 70%, lengths cv 1", dict(base, rate=0.7 * capacity_per_s),
         dict(prompt_cv=1.0, output_cv=1.0)),
        ("closed loop of 64", dict(base, concurrency=64), dict(output_cv=0.5)),
        ("closed loop of 1", dict(base, concurrency=1), {}),
        ("1000 users, think 10 s", dict(base, users=1000, think_time=10), {}),
        ("on-demand KV, saturation", dict(base, admission="on-demand"), {}),
        ("on-demand KV, cv 1", dict(base, admission="on-demand"),
         dict(prompt_cv=1.0, output_cv=1.0)),
        ("128 in, 2048 out, saturation", dict(base, prompt=128, output=2048), {}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    capacity = float(serve("llama-3.1-8b", on="h100", weights="fp8", prompt=1000,
                           output=250)["requests_per_s"])
    print(f"== simulate: {args.requests:,} requests per run, best of {args.repeat}")
    print(f"   {'case':32} {'wall':>9} {'requests/s':>12} {'iterations':>11} "
          f"{'iterations/s':>13}")
    for label, serve_args, sim_args in cases(capacity):
        e = serve("llama-3.1-8b", **serve_args)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            s = simulate(e, requests=args.requests, seed=0, **sim_args)
            best = min(best, time.perf_counter() - started)
        print(f"   {label:32} {best * 1e3:7.1f} ms {args.requests / best:12,.0f} "
              f"{s.iterations:11,} {s.iterations / best:13,.0f}")


if __name__ == "__main__":
    main()
