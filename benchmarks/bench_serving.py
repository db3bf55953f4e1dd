"""Speed of serving estimates, run by hand (never as timed unit tests).

Usage::

    .venv/bin/python benchmarks/bench_serving.py           # about half a minute
    .venv/bin/python benchmarks/bench_serving.py --quick

It measures, each against its target (the serving issue's):

a) one analytic ``serve`` estimate in process (every quantity, the deployment kept between
   calls and the workload changed on each, as for ``infer`` in bench_core), against 100 µs,
   and as a ratio to one ``infer`` estimate of the same deployment measured the same way;
b) the same under a Poisson rate (the deployment's curve over concurrency is re-estimated
   every call: 48 concurrencies in one vectorised pass);
c) the vectorised rate of a sweep over arrival rate and over concurrency, against 1,000,000
   points per second.

Timings are the best of several repeats (``timeit``). The process exits 0 whether or not a
target is met: read the table.
"""

from __future__ import annotations

import argparse
import itertools
import timeit

import numpy as np

from ridgeline.api import infer_scenario
from ridgeline.engine import estimate, sweep
from ridgeline.serving import serve

ONE_SERVE_TARGET_S = 100e-6
SWEEP_TARGET_POINTS_PER_S = 1_000_000


def _best(fn, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def _cycling(scenarios):
    it = itertools.cycle(scenarios)
    return lambda: estimate(next(it))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    number, repeat = (200, 3) if args.quick else (1000, 5)

    import attrs
    base = serve("llama-3.1-8b", on="h100", weights="fp8", kv="fp8", activations="fp8",
                 prompt=1000, output=250).scenario
    workloads = [attrs.evolve(base.workload, prompt_tokens=p, output_tokens=o)
                 for p, o in itertools.product((500, 1000, 2000), (100, 250, 1000))]
    serving = [attrs.evolve(base, workload=w) for w in workloads]
    inference = [infer_scenario("llama-3.1-8b", on="h100", weights="fp8", kv="fp8",
                                activations="fp8", batch=b, prompt=p, output=o)
                 for b, p, o in zip((64, 128, 256) * 3, (500, 1000, 2000) * 3,
                                    (100,) * 3 + (250,) * 3 + (1000,) * 3)]
    rated = [attrs.evolve(s, workload=attrs.evolve(s.workload, load="rate", rate_per_s=r))
             for s, r in zip(serving, (2.0, 5.0, 9.0) * 3)]
    for s in serving + inference + rated:  # compile every program first
        estimate(s)

    rows = []
    one_serve = _best(_cycling(serving), number, repeat)
    one_infer = _best(_cycling(inference), number, repeat)
    rows.append(("a) serve, saturation, every quantity", f"{one_serve * 1e6:,.1f} µs",
                 f"<= {ONE_SERVE_TARGET_S * 1e6:.0f} µs",
                 "yes" if one_serve <= ONE_SERVE_TARGET_S else "NO"))
    rows.append(("   infer, same deployment, every quantity", f"{one_infer * 1e6:,.1f} µs",
                 f"serve / infer = {one_serve / one_infer:.2f}", ""))
    one_rate = _best(_cycling(rated), max(number // 10, 20), repeat)
    rows.append(("b) serve, Poisson rate (curve re-estimated)", f"{one_rate * 1e6:,.1f} µs",
                 "", ""))

    rate_scenario = attrs.evolve(base, workload=attrs.evolve(base.workload, load="rate",
                                                             rate_per_s=5.0))
    closed = attrs.evolve(base, workload=attrs.evolve(base.workload, load="concurrency"))
    for label, scenario, axis, values in (
            ("c) sweep over arrival rate", rate_scenario, "arrival_rate_per_s",
             np.linspace(0.5, 30.0, 100_000)),
            ("   sweep over concurrency", closed, "requested_concurrency_per_replica",
             np.linspace(1.0, 400.0, 100_000))):
        wanted = ["ttft_s", "tpot_s", "throughput_tokens_per_s"]
        sweep(scenario, {axis: values[:10]}, wanted)
        seconds = _best(lambda: sweep(scenario, {axis: values}, wanted), 1, repeat)
        rate = values.size / seconds
        rows.append((label, f"{rate:,.0f} points/s", f">= {SWEEP_TARGET_POINTS_PER_S:,}",
                     "yes" if rate >= SWEEP_TARGET_POINTS_PER_S else "NO"))

    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
