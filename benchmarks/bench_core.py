"""Speed benchmarks of ridgeline's core, run by hand (never as timed unit tests).

Usage::

    .venv/bin/python benchmarks/bench_core.py            # full run (about a minute)
    .venv/bin/python benchmarks/bench_core.py --quick    # fewer repeats
    .venv/bin/python benchmarks/bench_core.py --profile  # also: where real estimates spend
    .venv/bin/python benchmarks/bench_core.py --only d   # one part (a, b, c, d; repeatable)

It measures, each against its target:

a) cold start: ``ridgeline --help`` minus ``python -c pass`` (median of subprocess runs);
b) the engine's scalar cost per ``estimate()`` on a synthetic 20-formula graph (and the raw
   compiled ``Program.run`` under it, for reference);
c) the vectorised rate: points per second of ``sweep()`` / ``estimate(inputs=arrays)`` over
   1,000,000 points of the same graph;
d) one real ``ridgeline.infer(...)`` and ``ridgeline.train(...)`` on the default catalog, with
   every quantity and with the headline ones only; each timed call is a different workload
   (batch and prompt, or global batch and sequence length, step through cycles), so every
   formula that depends on the workload computes afresh. What depends only on the model,
   system and plan (parameter counts, peaks, per-device dimensions: the engine's static
   steps) is kept between calls, as for any caller who estimates many workloads of one
   deployment. The "cold" rows give every call a model object no estimate has seen, so
   nothing is kept: the cost of a first estimate for a model and plan.

Timings are the best of several repeats (``timeit``), except cold start, which is a median of
separate processes. The process exits 0 whether or not a target is met: read the table.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import platform
import pstats
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

import numpy as np

import ridgeline
from ridgeline.catalog import build_catalog
from ridgeline.engine import compile_program, estimate, sweep
from ridgeline.loader import load_accelerator
from ridgeline.model import Model
from ridgeline.plugin import Architecture, formula, hookimpl
from ridgeline.scenario import InferenceWorkload, Plan, Scenario, System

ROOT = Path(__file__).resolve().parent.parent
H100_TOML = ROOT / "registry" / "accelerators" / "nvidia-h100-sxm.toml"

# --------------------------------------------------------------------------- targets

COLD_START_TARGET_S = 0.15        # llm-analysis: 0.57 s
SCALAR_TARGET_US = 20.0           # per estimate of a 20-formula graph
RATE_TARGET_PER_S = 1_000_000.0   # points per second, vectorised
REAL_TARGET_US = 50.0             # one infer()/train() on the default catalog (llm-analysis ~200)


# --------------------------------------------------------------------------- a 20-formula graph
# Chained and branching, reading the scenario objects and each other, written with plain
# arithmetic so that the same functions take floats or numpy arrays (as every formula must).


def _max(a, b):
    return (a + b + abs(a - b)) * 0.5


@formula
def batch(workload):
    return workload.batch


@formula
def prompt_tokens(workload):
    return workload.prompt_tokens


@formula
def context_tokens(prompt_tokens, workload):
    return prompt_tokens + workload.output_tokens


@formula
def param_count(model):
    h = model.hidden_size
    return model.num_layers * (4 * h * h + 3 * h * model.intermediate_size) \
        + 2 * model.vocab_size * h


@formula
def weight_bytes(param_count):
    return 2.0 * param_count


@formula
def kv_cache_bytes_per_token(model):
    return 2.0 * 2 * model.num_layers * model.kv_heads * model.head_width


@formula
def kv_cache_bytes(kv_cache_bytes_per_token, batch, context_tokens):
    return kv_cache_bytes_per_token * batch * context_tokens


@formula
def memory_bandwidth_bytes_per_s(system):
    return system.accelerator.main_memory.bandwidth_bytes_per_s * system.eff.memory


@formula
def compute_flops_per_s(system):
    return system.accelerator.peak_flops_per_s["bf16"] * system.eff.compute


@formula
def decode_flops(param_count, batch):
    return 2.0 * param_count * batch


@formula
def decode_bytes(weight_bytes, kv_cache_bytes):
    return weight_bytes + kv_cache_bytes


@formula
def decode_memory_s(decode_bytes, memory_bandwidth_bytes_per_s):
    return decode_bytes / memory_bandwidth_bytes_per_s


@formula
def decode_compute_s(decode_flops, compute_flops_per_s):
    return decode_flops / compute_flops_per_s


@formula
def decode_step_s(decode_memory_s, decode_compute_s):
    return _max(decode_memory_s, decode_compute_s)


@formula
def prefill_s(param_count, batch, prompt_tokens, compute_flops_per_s):
    return 2.0 * param_count * batch * prompt_tokens / compute_flops_per_s


@formula
def ttft_s(prefill_s, decode_step_s):
    return prefill_s + decode_step_s


@formula
def e2e_latency_s(ttft_s, decode_step_s, workload):
    return ttft_s + (workload.output_tokens - 1) * decode_step_s


@formula
def throughput_tokens_per_s(batch, workload, e2e_latency_s):
    return batch * workload.output_tokens / e2e_latency_s


@formula
def memory_per_device_bytes(weight_bytes, kv_cache_bytes, system):
    return (weight_bytes + kv_cache_bytes) / system.devices


@formula
def cost_per_mtok_usd(throughput_tokens_per_s, memory_per_device_bytes, system):
    """The final quantity: every other formula runs to produce it."""
    fits = memory_per_device_bytes <= system.accelerator.main_memory.capacity_bytes
    price = system.device_price_usd_per_hour * system.devices
    return price / 3600.0 / throughput_tokens_per_s * 1e6 * (2.0 - fits)


GRAPH = [batch, prompt_tokens, context_tokens, param_count, weight_bytes,
         kv_cache_bytes_per_token, kv_cache_bytes, memory_bandwidth_bytes_per_s,
         compute_flops_per_s, decode_flops, decode_bytes, decode_memory_s, decode_compute_s,
         decode_step_s, prefill_s, ttft_s, e2e_latency_s, throughput_tokens_per_s,
         memory_per_device_bytes, cost_per_mtok_usd]
FINAL = "cost_per_mtok_usd"
assert len(GRAPH) == 20


class BenchPlugin:
    """A minimal plugin: the ``dense`` family, the H100 and the 20 formulas."""

    __name__ = "bench-plugin"

    @hookimpl
    def ridgeline_register_architectures(self, register):
        register(Architecture(family="dense", doc="Synthetic dense family for benchmarks."))

    @hookimpl
    def ridgeline_register_accelerators(self, register):
        register(load_accelerator(H100_TOML))

    @hookimpl
    def ridgeline_register_formulas(self, register):
        for f in GRAPH:
            register(f)


LLAMA2_7B = Model(id="bench-llama-2-7b", vocab_size=32000, hidden_size=4096, num_layers=32,
                  num_heads=32, intermediate_size=11008)


# --------------------------------------------------------------------------- helpers


def best_per_call(fn, number: int, repeat: int) -> float:
    """Seconds per call: the best of ``repeat`` timings of ``number`` calls."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def median_wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.2f} µs"


def fmt_rate(r: float) -> str:
    return f"{r / 1e6:.2f} M/s" if r >= 1e6 else f"{r / 1e3:.0f} k/s"


def section(title: str) -> None:
    print(f"\n== {title}")


# --------------------------------------------------------------------------- measurements


def bench_cold_start(runs: int, results: list) -> None:
    section(f"a) cold start ({runs} runs each, median)")
    script = Path(sys.executable).parent / "ridgeline"
    if not script.exists():
        print(f"   console script not found at {script}; skipped")
        return
    python = median_wall([sys.executable, "-c", "pass"], runs)
    help_ = median_wall([str(script), "--help"], runs)
    cold = help_ - python
    print(f"   python -c pass    {fmt_time(python)}")
    print(f"   ridgeline --help  {fmt_time(help_)}")
    print(f"   difference        {fmt_time(cold)}   (llm-analysis: 0.57 s)")
    results.append(("cold start: ridgeline --help - python", cold, COLD_START_TARGET_S, "max",
                    fmt_time))


def make_bench_scenario(cat) -> Scenario:
    acc = cat.accelerator("h100")
    return Scenario(model=LLAMA2_7B, system=System(accelerator=acc, devices=1), plan=Plan(),
                    workload=InferenceWorkload(batch=8, prompt_tokens=512, output_tokens=256))


def bench_scalar(scale: int, repeat: int, results: list):
    section("b) engine, scalar, 20-formula graph")
    cat = build_catalog(plugins=[BenchPlugin()], entry_points=False, builtins=False)
    scenario = make_bench_scenario(cat)
    e = estimate(scenario, [FINAL], catalog=cat)
    program = e.program
    assert len(program.steps) == 20, len(program.steps)
    n = 20_000 * scale
    per = best_per_call(lambda: estimate(scenario, [FINAL], catalog=cat), n, repeat)
    per_all = best_per_call(lambda: estimate(scenario, catalog=cat), n, repeat)
    values = {"model": scenario.model, "system": scenario.system, "plan": scenario.plan,
              "workload": scenario.workload}
    run = compile_program(cat, scenario.features(), (FINAL,)).run
    per_run = best_per_call(lambda: run(values), n * 2, repeat)
    print(f"   {FINAL} = {e[FINAL]:.4g} USD   (program of {len(program.steps)} steps)")
    print(f"   estimate(scenario, [{FINAL!r}])  {fmt_time(per)}")
    print(f"   estimate(scenario)  (all)              {fmt_time(per_all)}")
    print(f"   Program.run(values)  (raw)             {fmt_time(per_run)}"
          f"   -> engine overhead {fmt_time(per - per_run)}")
    results.append(("engine: estimate, 20 formulas (µs)", per, SCALAR_TARGET_US * 1e-6, "max",
                    fmt_time))
    results.append(("  (ref) Program.run, 20 formulas", per_run, None, None, fmt_time))
    return cat, scenario


def bench_vectorised(cat, scenario, repeat: int, results: list) -> None:
    section("c) engine, vectorised, 1,000,000 points")
    n_points = 1_000_000
    batch_axis = np.arange(1, n_points + 1, dtype=float)
    repeat = max(2, repeat - 2)

    inputs = {"batch": batch_axis}
    e = estimate(scenario, [FINAL], catalog=cat, inputs=inputs)
    assert e[FINAL].shape == (n_points,)
    t_one = best_per_call(lambda: estimate(scenario, [FINAL], catalog=cat, inputs=inputs),
                          1, repeat)
    print(f"   estimate(inputs={{batch: 1e6 array}})             {fmt_time(t_one)}"
          f"   {fmt_rate(n_points / t_one)}")

    two = {"batch": np.repeat(np.arange(1.0, 1001.0), 1000),
           "prompt_tokens": np.tile(np.arange(64.0, 64.0 + 1000 * 8, 8), 1000)}
    t_two = best_per_call(lambda: estimate(scenario, [FINAL], catalog=cat, inputs=two),
                          1, repeat)
    print(f"   estimate(inputs={{batch, prompt_tokens}}: 1e6)    {fmt_time(t_two)}"
          f"   {fmt_rate(n_points / t_two)}")

    grid = {"batch": range(1, 1001), "prompt_tokens": range(64, 64 + 1000 * 8, 8)}
    e = sweep(scenario, grid, [FINAL], catalog=cat)
    assert e[FINAL].shape == (1000, 1000) and e.axes == ("batch", "prompt_tokens")
    t_sweep = best_per_call(lambda: sweep(scenario, grid, [FINAL], catalog=cat), 1, repeat)
    print(f"   sweep(1000 batch x 1000 prompt_tokens)           {fmt_time(t_sweep)}"
          f"   {fmt_rate(n_points / t_sweep)}")
    t_all = best_per_call(lambda: sweep(scenario, grid, catalog=cat), 1, repeat)
    print(f"   sweep(same grid, every quantity)                 {fmt_time(t_all)}"
          f"   {fmt_rate(n_points / t_all)}")

    results.append(("engine: sweep 1e6 points (points/s)", n_points / t_sweep,
                    RATE_TARGET_PER_S, "min", fmt_rate))
    results.append(("engine: estimate(inputs=1e6 array) (points/s)", n_points / t_one,
                    RATE_TARGET_PER_S, "min", fmt_rate))


INFER_ARGS = dict(on="h100", tp=1, batch=8, prompt=512, output=256)
TRAIN_ARGS = dict(on="h100", tp=2, pp=2, dp=2, global_batch=64, seq=2048, tokens="1B")
HEADLINE = ["tpot_s", "ttft_s", "throughput_tokens_per_s"]
TRAIN_HEADLINE = ["step_s", "tokens_per_s", "mfu"]

# Each timed call estimates a different scenario: the workload's numbers step through cycles
# of coprime lengths (64 x 61 infer workloads, 32 x 29 train workloads), so no value computed
# for one call can be reused by the next; only what depends on the scenario's discrete
# features (the compiled program) and its plan and system objects is shared between calls.
_BATCHES = itertools.cycle(range(1, 65))
_PROMPTS = itertools.cycle(range(256, 256 + 61 * 32, 32))
_GLOBAL_BATCHES = itertools.cycle(range(8, 8 + 32 * 8, 8))  # multiples of dp x micro-batch
_SEQS = itertools.cycle(range(1024, 1024 + 29 * 128, 128))


# Every timed call also reads the headline quantities from its estimate, as a caller does:
# an estimate keeps its values in a row that its program indexes, and reading is part of the
# cost of using one.


def _read(estimate, names):
    for name in names:
        estimate[name]
    return estimate


def _infer(quantities=None):
    return _read(ridgeline.infer(LLAMA2_7B, on="h100", tp=1, batch=next(_BATCHES),
                                 prompt=next(_PROMPTS), output=256, quantities=quantities),
                 HEADLINE)


def _train(quantities=None):
    return _read(ridgeline.train(LLAMA2_7B, on="h100", tp=2, pp=2, dp=2,
                                 global_batch=next(_GLOBAL_BATCHES), seq=next(_SEQS),
                                 tokens="1B", quantities=quantities),
                 TRAIN_HEADLINE)


# "Cold" calls also take a model object no estimate has seen (equal dimensions, a new
# identity), so that none of the values the engine keeps per model, system and plan (the
# static steps: parameter counts, peaks, per-device dimensions) can be reused: this is the
# cost of a first estimate for a model and plan.
_COLD_MODELS = None


def _cold_model():
    global _COLD_MODELS
    if _COLD_MODELS is None:
        import attrs
        # more than the engine keeps per program, so every call misses
        _COLD_MODELS = itertools.cycle([attrs.evolve(LLAMA2_7B, name=f"cold {i}")
                                        for i in range(1000)])
    return next(_COLD_MODELS)


def _infer_cold(quantities=None):
    return _read(ridgeline.infer(_cold_model(), on="h100", tp=1, batch=next(_BATCHES),
                                 prompt=next(_PROMPTS), output=256, quantities=quantities),
                 HEADLINE)


def _train_cold(quantities=None):
    return _read(ridgeline.train(_cold_model(), on="h100", tp=2, pp=2, dp=2,
                                 global_batch=next(_GLOBAL_BATCHES), seq=next(_SEQS),
                                 tokens="1B", quantities=quantities),
                 TRAIN_HEADLINE)


def real_calls():
    return {
        "infer (all quantities)": _infer,
        "infer (tpot_s, ttft_s, throughput)": lambda: _infer(HEADLINE),
        "train (all quantities)": _train,
        "train (step_s, tokens_per_s, mfu)": lambda: _train(TRAIN_HEADLINE),
    }


def cold_calls():
    return {
        "cold infer (all quantities)": _infer_cold,
        "cold infer (tpot_s, ttft_s, throughput)": lambda: _infer_cold(HEADLINE),
        "cold train (all quantities)": _train_cold,
        "cold train (step_s, tokens_per_s, mfu)": lambda: _train_cold(TRAIN_HEADLINE),
    }


def bench_real(number: int, repeat: int, results: list) -> None:
    section("d) real estimates on the default catalog (Llama-2-7B dims, h100)")
    t0 = time.perf_counter()
    ridgeline.default_catalog()
    print(f"   first default_catalog() (not counted)   {fmt_time(time.perf_counter() - t0)}")
    calls = {**real_calls(), **cold_calls()}
    first, size = {}, {}
    for name, fn in calls.items():
        t0 = time.perf_counter()
        size[name] = len(fn().values)  # warm: compiles and caches the program
        first[name] = time.perf_counter() - t0
    # Round-robin: every call is timed once per round, so a slow spell of a shared machine
    # hits every row alike, and each row keeps its best round.
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeat):
        for name, fn in calls.items():
            best[name] = min(best[name], best_per_call(fn, number, 1))
    for name in calls:
        cold = name.startswith("cold")
        print(f"   {name:<40} {fmt_time(best[name]):>10}   ({size[name]} quantities"
              + ("" if cold else f"; first call {fmt_time(first[name])}") + ")")
        if cold:
            results.append((f"  (ref) {name}", best[name], None, None, fmt_time))
        else:
            results.append((f"real: {name}", best[name], REAL_TARGET_US * 1e-6, "max", fmt_time))
    e = ridgeline.infer(LLAMA2_7B, **INFER_ARGS)
    t = ridgeline.train(LLAMA2_7B, **TRAIN_ARGS)
    print(f"   check: tpot {fmt_time(e['tpot_s'])}, ttft {fmt_time(e['ttft_s'])}, "
          f"step {fmt_time(t['step_s'])}, mfu {t['mfu']:.3f}")


def breakdown_real() -> None:
    """Where one real estimate's time goes: its stages, then each formula of its program."""
    from ridgeline.api import infer_scenario, train_scenario
    from ridgeline.engine import evaluate

    def per_call(fn, number=300, repeat=15):
        return best_per_call(fn, number, repeat)

    section("breakdown of the real estimates (best of 15 x 300 calls per item)")
    cat = ridgeline.default_catalog()
    cases = (("infer", infer_scenario, INFER_ARGS, HEADLINE),
             ("train", train_scenario, TRAIN_ARGS, TRAIN_HEADLINE))
    for kind, make, args, headline in cases:
        scenario = make(LLAMA2_7B, catalog=cat, **args)
        for quantities in (None, headline):
            label = "all quantities" if quantities is None else ", ".join(quantities)
            targets = tuple(cat.formulas) if quantities is None else tuple(quantities)
            optional = quantities is None
            program = compile_program(cat, scenario.features(), targets, {}, optional)
            values = evaluate(program, scenario, {}, {} if optional else None)
            call = _infer if kind == "infer" else _train
            stages = [
                (f"{kind}() whole call (varied)", lambda: call(quantities)),
                ("  default_catalog()", ridgeline.default_catalog),
                (f"  {kind}_scenario()", lambda: make(LLAMA2_7B, catalog=cat, **args)),
                ("  scenario.features()", scenario.features),
                ("  compile_program() cache hit", lambda: compile_program(
                    cat, scenario.features(), targets, {}, optional)),
                (f"  program run + checks, all {len(program.steps)} formulas",
                 lambda: program._run_checked(
                    {"model": scenario.model, "system": scenario.system,
                     "plan": scenario.plan, "workload": scenario.workload})),
                (f"  the same, static values kept ({len(program.dynamic_steps)} run)",
                 lambda: program._run_dynamic_checked(
                    {"model": scenario.model, "system": scenario.system,
                     "plan": scenario.plan, "workload": scenario.workload},
                    program._static_tuple(scenario.model, scenario.system,
                                          scenario.plan)[0])),
            ]
            print(f"\n-- {kind} ({label})")
            whole = None
            for name, fn in stages:
                t = per_call(fn)
                whole = whole or t
                print(f"   {name:<36} {fmt_time(t):>10}  {100 * t / whole:5.1f}%")
            rows = []
            for f in program.dynamic_steps:
                args_ = [values[p] for p in f.params]
                fn = f.function
                t = per_call(lambda: fn(*args_), 200, 10)
                rows.append((t, f"{f.plugin.removeprefix('ridgeline.plugins.')}:{f.name}",
                             type(values.get(f.produces)).__name__))
            rows.sort(reverse=True)
            total = sum(r[0] for r in rows)
            by_plugin: dict[str, float] = {}
            for t, name, typ in rows:
                plugin = name.split(":")[0]
                by_plugin[plugin] = by_plugin.get(plugin, 0.0) + t
            print(f"   dynamic formulas alone: {fmt_time(total)}; by plugin: " + ", ".join(
                f"{p} {fmt_time(t)}" for p, t in sorted(by_plugin.items(), key=lambda x: -x[1])))
            print("   the costliest formulas:")
            for t, name, typ in rows[:8]:
                print(f"     {fmt_time(t):>10}  {100 * t / total:5.1f}%  {name} -> {typ}")


def profile_real(top: int = 18) -> None:
    section("profile of the real estimates (cProfile, cumulative; 2,000 calls each)")
    for name, fn in real_calls().items():
        fn()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(2_000):
            fn()
        prof.disable()
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        total = stats.total_tt
        print(f"\n-- {name}: {total / 2000 * 1e6:.1f} µs per call under the profiler")
        rows = []
        for (file, line, func), (cc, nc, tt, ct, callers) in stats.stats.items():
            where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
            rows.append((ct, tt, nc, f"{func} ({where})"))
        rows.sort(reverse=True)
        print(f"   {'cum %':>6} {'self %':>6} {'calls/op':>8}  function")
        for ct, tt, nc, label in rows[:top]:
            print(f"   {100 * ct / total:6.1f} {100 * tt / total:6.1f} {nc / 2000:8.1f}  {label}")
        rows.sort(key=lambda r: r[1], reverse=True)
        print("   top self time: " + "; ".join(
            f"{label.split(' (')[0]} {100 * tt / total:.0f}%" for ct, tt, nc, label in rows[:8]))


# --------------------------------------------------------------------------- summary


def summary(results: list) -> int:
    section("summary")
    header = ("metric", "measured", "target", "ratio", "result")
    rows = []
    missed = 0
    for name, value, target, sense, fmt in results:
        if target is None:
            rows.append((name, fmt(value), "-", "-", "-"))
            continue
        if sense == "max":   # lower is better: ratio = measured / target, < 1 passes
            ratio = value / target
            ok = value < target
            tgt = "< " + fmt(target)
        else:                # higher is better: ratio = measured / target, > 1 passes
            ratio = value / target
            ok = value > target
            tgt = "> " + fmt(target)
        missed += not ok
        rows.append((name, fmt(value), tgt, f"{ratio:.2f}x", "PASS" if ok else "MISS"))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(  # noqa: E731
        (c.ljust(w) if i == 0 else c.rjust(w)) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print(line(tuple("-" * w for w in widths)))
    for r in rows:
        print(line(r))
    print("\nratio = measured / target (times: below 1 passes; rates: above 1 passes)")
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a rough look)")
    parser.add_argument("--profile", action="store_true",
                        help="also break down and cProfile the real infer()/train() calls")
    parser.add_argument("--only", choices=("a", "b", "c", "d"), action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args(argv)
    scale, repeat, runs = (1, 3, 7) if args.quick else (5, 5, 15)
    parts = set(args.only or "abcd")

    print(f"ridgeline {ridgeline.__version__}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {platform.machine()} {platform.system()}")
    results: list = []
    if "a" in parts:
        bench_cold_start(runs, results)
    if parts & {"b", "c"}:
        cat, scenario = bench_scalar(scale, repeat, results) if "b" in parts else (None, None)
        if cat is None:
            cat = build_catalog(plugins=[BenchPlugin()], entry_points=False, builtins=False)
            scenario = make_bench_scenario(cat)
        if "c" in parts:
            bench_vectorised(cat, scenario, repeat, results)
    if "d" in parts:
        # many short repeats: the best of them is robust to a noisy, shared machine
        bench_real(500, 20 if not args.quick else 5, results)
    if args.profile:
        breakdown_real()
        profile_real()
    missed = summary(results)
    print(f"{missed} target(s) missed." if missed else "every target met.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
