"""A request-level replay of a serving deployment, one engine iteration at a time.

:func:`simulate` takes an estimate from :func:`ridgeline.serving.serve` and replays requests
through one replica of it (the load split evenly over the replicas), with the scheduler the
analytic model assumes: first-come-first-served admission against ``max_sequences`` and the
KV cache, a token budget of ``max_tokens`` per iteration in which every decoding sequence
takes one token and the rest goes to prefill chunks. It gives what the steady-state formulas
cannot: percentiles under Poisson arrivals and spread-out request lengths, and the transient
of an offline batch.

The iteration time comes from the same formulas as the estimate (see :func:`iteration_times`),
so where the analytic model is exact the two agree, and where they differ the difference is
what queueing, bursts and length spread do.
"""

from __future__ import annotations

import heapq
import math
import sys
import time
import types
from collections import deque
from typing import Any, Callable, Optional, Union

import attrs
import numpy as np
from attrs import field, frozen

from .errors import RidgelineError, ScenarioError

__all__ = ["simulate", "Simulation", "IterationTimes", "iteration_times", "MAX_REQUESTS"]

#: requests one simulation replays at most (each takes a few dozen bytes per array).
MAX_REQUESTS = 10_000_000

#: the percentiles a simulation reports.
PERCENTILES = (50, 90, 99)

#: share of completions dropped at each end when measuring the steady state.
WARMUP_SHARE = 0.1

#: sequences in flight up to which the iteration times are estimated at every integer; above
#: it, on a geometric grid and interpolated (they are smooth in the batch).
_EXACT_GRID = 4096
_GEOMETRIC_POINTS = 256


# ---------------------------------------------------------------- iteration times


@frozen
class IterationTimes:
    """Iteration times of one replica, by sequences decoding ``b`` (index 0 to ``b_max``).

    ``device_s(b, c) = decode_s[b] + slope_s_per_token[b] * c`` for ``c`` prefill tokens;
    the iteration takes ``max(device_s, host_s[n])`` with ``n`` sequences in flight.
    """

    decode_s: list
    slope_s_per_token: list
    host_s: list
    b_max: int

    def iteration_s(self, decoding: int, prefill_tokens: float, in_flight: int) -> float:
        b = min(max(decoding, 0), self.b_max)
        device = self.decode_s[b] + self.slope_s_per_token[b] * prefill_tokens
        return max(device, self.host_s[min(max(in_flight, 0), self.b_max)])


_TIME_QUANTITIES = ("decode_iteration_s", "mixed_iteration_s", "prefill_chunk_tokens",
                    "engine_host_s_per_iteration")


def iteration_times(e, b_max: int) -> IterationTimes:
    """Iteration times of ``e``'s deployment for 0 to ``b_max`` sequences decoding.

    One vectorised re-estimate of the deployment (a closed loop, like ``serving_curve``) with
    ``batch`` given at every integer from 1 to ``b_max`` yields, per ``b``:
    ``decode_iteration_s`` (an iteration that only decodes), ``mixed_iteration_s`` (one that
    also prefills ``prefill_chunk_tokens``) and ``engine_host_s_per_iteration``. An iteration
    with ``c`` prefill tokens then takes, on the device,

        T(b, c) = T_decode(b) + (T_mixed(b) - T_decode(b)) * c / chunk(b),

    linear in ``c`` between the two points the formulas price (beyond the chunk, the same
    line: a larger chunk is compute-bound, as the chunk already is at every batch where the
    budget allows one). The batch is given rather than the requested concurrency so that the
    times are not clamped at the analytic concurrency limit: the scheduler here may run more
    sequences than the steady state would (the token budget is not a hard limit on it). An
    iteration with no decodes is priced as one with a single decode (its weights are read
    all the same). As in ``iteration_s``, the host's per-iteration work overlaps the device's
    and shows only when it is the longer of the two.
    """
    from .engine import estimate
    from .scenario import Scenario
    s = e.scenario
    closed = attrs.evolve(s.workload, load="concurrency", concurrency=1, ttft_target_s=None,
                          tpot_target_s=None)
    if b_max <= _EXACT_GRID:
        grid = np.arange(1.0, b_max + 1.0)
    else:
        grid = np.unique(np.round(np.geomspace(1.0, float(b_max), _GEOMETRIC_POINTS)))
    inputs = {name: e[name] for name in e.program.inputs
              if name not in ("batch", "requested_concurrency_per_replica")}
    inputs["batch"] = grid
    try:
        g = estimate(Scenario(s.model, s.system, s.plan, closed), _TIME_QUANTITIES,
                     catalog=e.catalog, inputs=inputs, check=False)
        dec, mixed, chunk, host = (np.broadcast_to(np.asarray(g[q], dtype=float), grid.shape)
                                   for q in _TIME_QUANTITIES)
    except RidgelineError as exc:
        raise ScenarioError(f"estimate: its iteration times could not be re-estimated over "
                            f"the batch: {exc}") from exc
    slope = (mixed - dec) / chunk
    if grid.size != b_max:
        every = np.arange(1.0, b_max + 1.0)
        dec, slope, host = (np.interp(every, grid, a) for a in (dec, slope, host))
    for name, a in (("decode_iteration_s", dec), ("mixed_iteration_s", slope),
                    ("engine_host_s_per_iteration", host)):
        if not np.all(np.isfinite(a)) or np.any(a < 0) or (name != "mixed_iteration_s"
                                                          and np.any(a <= 0)):
            raise ScenarioError(f"estimate: {name} is not a finite positive time at every "
                                f"batch from 1 to {b_max}; cannot replay iterations")
    # index 0 (no decodes) is priced as one decode
    dec, slope, host = ([float(a[0])] + a.tolist() for a in (dec, slope, host))
    return IterationTimes(dec, slope, host, b_max)


# ---------------------------------------------------------------- the result


def _percentiles(x: np.ndarray) -> tuple:
    if x.size == 0:
        return (math.nan,) * (1 + len(PERCENTILES))
    return (float(np.mean(x)),) + tuple(float(v) for v in np.percentile(x, PERCENTILES))


@frozen(eq=False)
class Simulation:
    """What a replay of requests through one replica measured, scaled to the deployment.

    Latencies are over the requests that complete in the steady window (between the
    completions of the first and last :data:`WARMUP_SHARE` of requests); throughput and the
    mean numbers in flight over the same window. ``analytic`` holds the estimate's values
    for the same quantities (``None`` where it has none). The per-request arrays (in arrival
    order, times in seconds from the start) cover every request.
    """

    requests: int
    seed: int
    load: str
    replicas: int
    admission: str
    prompt_cv: float
    output_cv: float
    throughput_tokens_per_s: float
    """Output tokens per second, whole deployment."""
    requests_per_s: float
    """Requests completed per second, whole deployment."""
    batch: float
    """Sequences in flight per replica, time-weighted mean."""
    queued_requests_per_replica: float
    """Requests waiting for admission per replica, time-weighted mean."""
    concurrency: float
    """Requests in the deployment (in flight and waiting), time-weighted mean."""
    iteration_s: float
    """Mean iteration time in the window (idle time between iterations left out)."""
    prefill_iteration_fraction: float
    """Share of the window's iterations that carry a prefill chunk."""
    ttft: tuple
    """Mean, p50, p90, p99 of the time to first token."""
    tpot: tuple
    """The same for the time per output token, ``(finish - first) / (output - 1)``."""
    e2e: tuple
    """The same for the whole request, arrival to last token."""
    iterations: int
    preemptions: int
    simulated_s: float
    """Simulated time from the first arrival to the last completion."""
    window_s: float
    wall_s: float
    analytic: dict
    arrival_s: np.ndarray = field(repr=False)
    admitted_s: np.ndarray = field(repr=False)
    first_token_s: np.ndarray = field(repr=False)
    finish_s: np.ndarray = field(repr=False)
    prompt_tokens: np.ndarray = field(repr=False)
    output_tokens: np.ndarray = field(repr=False)

    @property
    def ttft_mean_s(self) -> float:
        return self.ttft[0]

    @property
    def tpot_mean_s(self) -> float:
        return self.tpot[0]

    @property
    def e2e_latency_s(self) -> float:
        return self.e2e[0]

    def to_dict(self) -> dict:
        """Plain JSON-able data, SI units in the names (latency statistics flattened:
        ``ttft_mean_s``, ``ttft_p50_s``, ...; NaN, where there is nothing to measure, as
        ``None``)."""
        def num(x):
            return None if x is None or not math.isfinite(x) else x

        out: dict[str, Any] = {
            "requests": self.requests, "seed": self.seed, "load": self.load,
            "replicas": self.replicas, "admission": self.admission,
            "prompt_cv": self.prompt_cv, "output_cv": self.output_cv,
            "throughput_tokens_per_s": num(self.throughput_tokens_per_s),
            "requests_per_s": num(self.requests_per_s), "batch": num(self.batch),
            "queued_requests_per_replica": num(self.queued_requests_per_replica),
            "concurrency": num(self.concurrency), "iteration_s": num(self.iteration_s),
            "prefill_iteration_fraction": num(self.prefill_iteration_fraction)}
        for name, stats in (("ttft", self.ttft), ("tpot", self.tpot), ("e2e_latency", self.e2e)):
            out[f"{name}_mean_s"] = num(stats[0])
            for p, v in zip(PERCENTILES, stats[1:]):
                out[f"{name}_p{p}_s"] = num(v)
        out.update({"iterations": self.iterations, "preemptions": self.preemptions,
                    "simulated_s": self.simulated_s, "window_s": self.window_s,
                    "wall_s": self.wall_s,
                    "analytic": {k: num(v) for k, v in self.analytic.items()}})
        return out

    def report(self) -> str:
        """A short table for people: simulated next to analytic, with the difference."""
        from .units import format_value
        a = self.analytic
        rows = [("output tokens per second", self.throughput_tokens_per_s,
                 a.get("throughput_tokens_per_s"), "tok/s"),
                ("requests per second", self.requests_per_s, a.get("requests_per_s"), "1/s"),
                ("in flight per replica (mean)", self.batch, a.get("batch"), ""),
                ("iteration (mean)", self.iteration_s, a.get("iteration_s"), "s"),
                ("iterations with a prefill chunk", self.prefill_iteration_fraction,
                 a.get("prefill_iteration_fraction"), ""),
                ("time to first token (mean)", self.ttft[0], a.get("ttft_mean_s"), "s"),
                ("time per output token (mean)", self.tpot[0], a.get("tpot_mean_s"), "s"),
                ("whole request (mean)", self.e2e[0], a.get("e2e_latency_s"), "s")]
        pct = a.get("percentile", 50.0)
        if pct in PERCENTILES:
            i = 1 + PERCENTILES.index(pct)
            rows += [(f"time to first token (p{pct:g})", self.ttft[i], a.get("ttft_s"), "s"),
                     (f"time per output token (p{pct:g})", self.tpot[i], a.get("tpot_s"), "s")]

        def fmt(v, unit):
            if v is None or not math.isfinite(v):
                return "n/a"
            if unit == "":
                return f"{v:.3g}"
            if unit in ("tok/s", "1/s"):
                return f"{v:,.4g} {unit}"
            return format_value(v, unit)

        # offline, the simulated latencies include the backlog the analytic ones leave out
        backlog = ("time to first token", "whole request") if self.load == "saturation" else ()
        table = [("", "simulated", "analytic", "difference")]
        for label, sim, ana, unit in rows:
            diff = "" if ana is None or not math.isfinite(sim) or not ana or \
                label.startswith(backlog) else f"{100.0 * (sim - ana) / ana:+.1f}%"
            table.append((label, fmt(sim, unit), fmt(ana, unit), diff))
        widths = [max(len(r[i]) for r in table) for i in range(4)]
        lines = [f"simulation: {self.requests:,} requests through one of {self.replicas} "
                 f"replica(s), seed {self.seed}; {self.iterations:,} iterations, "
                 f"{self.preemptions:,} preemptions, {format_value(self.simulated_s, 's')} "
                 f"simulated in {format_value(self.wall_s, 's')}"]
        lines += ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))) for r in table]
        lines.append("  percentiles (p50 / p90 / p99): ttft " + " / ".join(
            fmt(v, "s") for v in self.ttft[1:]) + "; tpot " + " / ".join(
            fmt(v, "s") for v in self.tpot[1:]) + "; whole request " + " / ".join(
            fmt(v, "s") for v in self.e2e[1:]))
        if self.load == "saturation":
            lines.append("  (offline: every request arrives at once, so the simulated time to "
                         "first token includes the wait behind the whole backlog; the analytic "
                         "one does not)")
            held = a.get("batch")
            if held and self.requests < 3 * held:
                lines.append(f"  (the backlog of {self.requests:,} requests drains before a "
                             f"steady state: the deployment holds {held:,.0f} at once; give "
                             f"--requests {int(10 * held):,} or more to measure saturation)")
        if self.load in ("concurrency", "users") and not a.get("think_time_s") and \
                self.prompt_cv == 0.0 and self.output_cv == 0.0:
            lines.append("  (a closed loop of identical requests that start together stays in "
                         "lockstep: prompts are prefilled in bursts, not spread over the "
                         "decodes as in the analytic steady state; output_cv > 0 spreads them)")
        if a.get("stable") == 0.0:
            lines.append("  (overloaded: arrivals outrun the deployment, the queue grows with "
                         "every request simulated: there is no steady state)")
        return "\n".join(lines)


# ---------------------------------------------------------------- checking the arguments


def _serving_estimate(e):
    from .engine import Estimate
    from .serving import ServingWorkload
    if not isinstance(e, Estimate) or not isinstance(e.scenario.workload, ServingWorkload):
        raise ScenarioError(f"estimate must be a serving estimate (from ridgeline.serving."
                            f"serve(...)), got {type(e).__name__}"
                            + ("" if not isinstance(e, Estimate) else
                               f" of a {type(e.scenario.workload).__name__}"))
    return e


def _scalar_of(e, name: str) -> float:
    value = e[name] if name in e else None
    if value is None:
        from .engine import estimate
        value = estimate(e.scenario, (name,), catalog=e.catalog, check=False,
                         inputs={n: e[n] for n in e.program.inputs})[name]
    if np.ndim(value) != 0:
        raise ScenarioError(f"estimate: {name} varies over a sweep; simulate replays one "
                            f"deployment (estimate each point on its own)")
    return float(value)


def _requests(value: Any) -> int:
    from .api import _positive_int
    n = _positive_int(value, "requests")
    if n > MAX_REQUESTS:
        raise ScenarioError(f"requests must be at most {MAX_REQUESTS:,}, got {value!r}")
    return n


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ScenarioError(f"seed must be a whole number >= 0, got {value!r}")
    return int(value)


def _cv(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not math.isfinite(value) or value < 0:
        raise ScenarioError(f"{what} must be a finite number >= 0 (the coefficient of "
                            f"variation of the lengths: 0 for every request the same), "
                            f"got {value!r}")
    return float(value)


def _lengths(rng, mean: int, cv: float, n: int) -> np.ndarray:
    """Token counts of mean ``mean``: all equal, or gamma-distributed with that coefficient
    of variation (shape ``1/cv²``), rounded and at least one."""
    if cv == 0.0:
        return np.full(n, mean, dtype=np.int64)
    shape = 1.0 / (cv * cv)
    draws = rng.gamma(shape, mean / shape, size=n)
    return np.maximum(np.rint(draws), 1).astype(np.int64)


# ---------------------------------------------------------------- the replay


ProgressArg = Union[None, bool, Callable[[int, int], Any]]


def simulate(estimate, *, requests: Any = 10_000, seed: Any = 0, prompt_cv: Any = 0.0,
             output_cv: Any = 0.0, progress: ProgressArg = None) -> Simulation:
    """Replay ``requests`` requests through one replica of a serving deployment.

    Args:
        estimate: from :func:`ridgeline.serving.serve`; its model, system, plan and
            workload (lengths, load, scheduler limits, admission policy) are replayed.
        requests: how many requests to replay (default 10,000).
        seed: of the random arrivals, think times and lengths; the same seed gives the
            same result.
        prompt_cv, output_cv: coefficient of variation of the prompt and output lengths
            (0: every request has the workload's mean; otherwise gamma-distributed).
        progress: ``True`` to print progress to stderr every 10% of requests, or a function
            called with (completed, requests) as often.

    How requests arrive, by the workload's load (each replica gets its share):
      saturation: all at once at time 0 (offline); concurrency N: a closed loop of
      N / replicas in flight, a new request the moment one finishes; rate R: Poisson
      arrivals at R / replicas per second; users N with think time Z: N / replicas users,
      each sending its next request an exponential time of mean Z after its response (at
      once when Z is 0). Fractional shares round to the nearest whole number (at least 1).

    The scheduler, before each iteration: admits waiting requests first come, first served
    while fewer than ``max_sequences`` (and fewer than ``max_tokens``, so that every
    decoding sequence gets its token) are in flight and the KV cache has room. With
    ``reserve`` admission a request holds the blocks of its whole prompt and output from
    admission; with ``on-demand`` it holds the blocks of its context so far (the prompt and
    its first output token on admission, a block more whenever decoding fills one), and when
    the decoding sequences need a block the cache does not have, the newest sequence in
    flight is preempted: its blocks are freed, it goes back to the head of the queue, and on
    readmission its prompt and the tokens it had generated are prefilled again (vLLM's
    recompute). In an iteration every decoding sequence takes one token of the budget; the
    rest goes to the prompts waiting for prefill, first come, first served, chunk by chunk. A
    prompt's first output token comes at the end of the iteration that finishes its prefill,
    then one token per iteration until its output length.

    Iterations between two events (an arrival, an admission, a prefill finishing, a
    sequence finishing or needing a KV block it cannot have) are identical, and are
    advanced together. Iteration times come from :func:`iteration_times`.

    Returns a :class:`Simulation`. Raises :class:`ScenarioError` for arguments that are not
    what is described here, for a deployment that does not fit, and for a request too long
    for the replica's KV cache.
    """
    started = time.perf_counter()
    e = _serving_estimate(estimate)
    n = _requests(requests)
    seed = _seed(seed)
    prompt_cv = _cv(prompt_cv, "prompt_cv")
    output_cv = _cv(output_cv, "output_cv")
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise ScenarioError(f"progress must be True, False, None or a function of (completed, "
                            f"requests), got {progress!r}")
    w = e.scenario.workload

    if not _scalar_of(e, "fits"):
        short = e.get("memory_shortfall_bytes")
        from .units import format_value
        raise ScenarioError(
            "estimate: the deployment does not fit"
            + (f" (each device is short by {format_value(float(short), 'B')})"
               if short is not None and np.ndim(short) == 0 else "")
            + "; simulate replays deployments that fit (add devices, raise tp or quantise)")
    # with pipeline parallelism a replica keeps pp micro-batches in flight, one per stage,
    # sharing its KV cache: each is an engine of its own, as the analytic model takes it
    stages = int(e.scenario.plan.pp)
    replicas = int(round(_scalar_of(e, "replicas"))) * stages
    capacity_tokens = _scalar_of(e, "kv_cache_capacity_tokens") / stages
    blk = int(w.block_tokens)
    total_blocks = int(capacity_tokens // blk)
    if total_blocks < 1:
        raise ScenarioError("estimate: the KV cache of a replica holds no block (the weights "
                            "and activations leave no room); simulate needs room for at least "
                            "one request")

    rng = np.random.default_rng(seed)
    prompts = _lengths(rng, w.prompt_tokens, prompt_cv, n)
    outputs = _lengths(rng, w.output_tokens, output_cv, n)
    need = -(-(prompts + outputs) // blk)  # blocks of a whole request
    worst = int(np.argmax(need))
    if need[worst] > total_blocks:
        cvs = " (lower prompt_cv / output_cv)" if prompt_cv or output_cv else ""
        raise ScenarioError(
            f"a request of {prompts[worst]} prompt and {outputs[worst]} output tokens needs "
            f"{need[worst] * blk:,} KV-cache tokens, more than a replica holds "
            f"({total_blocks * blk:,}){cvs}")

    load = w.load
    pending: list = []  # arrival times not yet due (a heap)
    in_loop = 0         # requests a closed loop (users) keeps going; 0 for open arrivals
    think = None
    if load == "saturation":
        pending = [0.0] * n
    elif load == "rate":
        gaps = rng.exponential(replicas / w.rate_per_s, size=n)
        pending = np.cumsum(gaps).tolist()
    else:
        per = w.concurrency if load == "concurrency" else w.users
        in_loop = min(max(int(round(per / replicas)), 1), n)
        z = w.think_time_s if load == "users" else 0.0
        if z > 0:
            think = (rng.exponential(z, size=n + in_loop)).tolist()
            pending = sorted(think[n:])  # each user starts after a first think
        else:
            pending = [0.0] * in_loop
    spawned = len(pending)

    cap = int(min(w.max_sequences, w.max_tokens, total_blocks, n))
    times = iteration_times(e, cap)
    dec_s, slope_s, host_s = times.decode_s, times.slope_s_per_token, times.host_s

    p_list = prompts.tolist()
    o_list = outputs.tolist()
    need_list = need.tolist()
    on_demand = w.admission == "on-demand"
    max_tokens = int(w.max_tokens)

    arrival = [0.0] * n
    admitted = [-1.0] * n
    first = [-1.0] * n
    finish = [0.0] * n
    gen = [0] * n          # output tokens generated so far
    held = [0] * n         # blocks held (on-demand: on admission; decoding adds lazily)
    pf_left = [0] * n      # prompt (and recomputed) tokens still to prefill
    dfin = [-1] * n        # iteration at whose end a decoding sequence finishes, -1 if none
    dstart = [0] * n       # first decode iteration (on-demand block accounting)
    dphase = [0] * n       # needs a block in iteration i when (dphase + i) % blk == 0
    done_order = []        # request ids in completion order
    cum_run: list = []     # at each completion: integral of in-flight over time so far
    cum_queue: list = []   # ... of waiting requests
    cum_iter: list = []    # iterations so far
    cum_mixed: list = []   # iterations with a prefill chunk so far
    cum_busy: list = []    # time spent in iterations so far (not idle)

    queue: deque = deque()
    prefill: deque = deque()
    heap: list = []        # (finish iteration, request) of decoding sequences
    dec_order: dict = {}   # decoding sequences in the order they started (on-demand)
    phase = [0] * blk      # decoding sequences by when they next need a block (on-demand)
    free = total_blocks
    pending_tokens = 0
    ndec = 0
    running = 0
    next_id = 0
    done = 0
    preemptions = 0
    t = 0.0
    it = 0
    area_run = 0.0
    area_queue = 0.0
    mixed_iters = 0
    busy = 0.0
    heappush, heappop = heapq.heappush, heapq.heappop
    heapq.heapify(pending)

    report_every = max(n // 10, 1)
    if progress is True:
        def progress(completed, total):  # noqa: F811 - the default reporter
            print(f"simulate: {completed:,} of {total:,} requests "
                  f"({100 * completed // total}%), {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)

    while done < n:
        # arrivals due by now join the queue
        while pending and pending[0] <= t:
            at = heappop(pending)
            arrival[next_id] = at
            queue.append(next_id)
            next_id += 1
        # admission, first come first served
        while queue and running < cap:
            rid = queue[0]
            want = -(-(p_list[rid] + gen[rid] + 1) // blk) if on_demand else need_list[rid]
            if want > free:
                break
            queue.popleft()
            free -= want
            held[rid] = want
            left = p_list[rid] + gen[rid]
            pf_left[rid] = left
            pending_tokens += left
            prefill.append(rid)
            running += 1
            if admitted[rid] < 0.0:
                admitted[rid] = t
        if running == 0:
            t = pending[0]  # idle until the next arrival (there is one: done < n)
            continue
        if on_demand and ndec:
            # the decodes of this iteration need their blocks: preempt the newest until they fit
            while phase[-it % blk] > free:
                preemptions += 1
                if prefill:
                    rid = prefill.pop()
                    pending_tokens -= pf_left[rid]
                    free += held[rid]
                else:
                    rid = next(reversed(dec_order))
                    del dec_order[rid]
                    j = gen[rid] + (it - dstart[rid])  # tokens it has generated
                    gen[rid] = j
                    free += -(-(p_list[rid] + j) // blk)
                    phase[dphase[rid]] -= 1
                    dfin[rid] = -1
                    ndec -= 1
                running -= 1
                queue.appendleft(rid)

        b = ndec
        avail = max_tokens - b
        if pending_tokens:
            c = pending_tokens if pending_tokens < avail else avail
            head_left = pf_left[prefill[0]]
            k = -(-head_left // avail) - 1  # iterations before the head prompt completes
            if k < 1:
                k = 1
        else:
            c = 0
            k = 1 << 62
        if b:
            while dfin[heap[0][1]] != heap[0][0]:
                heappop(heap)  # preempted
            kf = heap[0][0] - it + 1
            if kf < k:
                k = kf
        bi = b if b else 0
        T = dec_s[bi] + slope_s[bi] * c
        h = host_s[running]
        if T < h:
            T = h
        if pending and not queue and running < cap:
            ka = math.ceil((pending[0] - t) / T)
            if ka < k:
                k = ka if ka > 0 else 1
        if on_demand and b:
            k = _blocks_allow(phase, b, blk, it, free, k)
            q, rem = divmod(k, blk)
            used = b * q
            for i in range(it, it + rem):
                used += phase[-i % blk]
            free -= used

        dt = k * T
        area_run += running * dt
        area_queue += len(queue) * dt
        if c:
            mixed_iters += k
        busy += dt
        t += dt
        it += k
        last = it - 1
        completed_now = done

        # decodes that finish at the end of this step
        while heap and heap[0][0] <= last:
            fi, rid = heappop(heap)
            if dfin[rid] != fi:
                continue
            dfin[rid] = -1
            ndec -= 1
            gen[rid] = o_list[rid]
            if on_demand:
                del dec_order[rid]
                phase[dphase[rid]] -= 1
                free += -(-(p_list[rid] + o_list[rid]) // blk)
            else:
                free += need_list[rid]
            running -= 1
            finish[rid] = t
            done_order.append(rid)
            done += 1
        # prefill progress
        if c:
            if k > 1:
                pf_left[prefill[0]] -= k * c
                pending_tokens -= k * c
            else:
                pending_tokens -= c
                budget = c
                while budget:
                    rid = prefill[0]
                    r = pf_left[rid]
                    if r > budget:
                        pf_left[rid] = r - budget
                        break
                    budget -= r
                    pf_left[rid] = 0
                    prefill.popleft()
                    j = gen[rid] + 1
                    gen[rid] = j
                    if first[rid] < 0.0:
                        first[rid] = t
                    if j >= o_list[rid]:
                        free += held[rid] if on_demand else need_list[rid]
                        running -= 1
                        finish[rid] = t
                        done_order.append(rid)
                        done += 1
                    else:
                        fi = last + o_list[rid] - j
                        dfin[rid] = fi
                        heappush(heap, (fi, rid))
                        ndec += 1
                        if on_demand:
                            dstart[rid] = it
                            dec_order[rid] = None
                            # its context before iteration i is p + j + (i - it) tokens
                            r = (p_list[rid] + j - it) % blk
                            dphase[rid] = r
                            phase[r] += 1
        for _ in range(done - completed_now):
            cum_run.append(area_run)
            cum_queue.append(area_queue)
            cum_iter.append(it)
            cum_mixed.append(mixed_iters)
            cum_busy.append(busy)
        if in_loop:
            # a closed loop: each completion sends the next request (after a think time)
            for _ in range(done - completed_now):
                if spawned < n:
                    heappush(pending, t + think[spawned] if think is not None else t)
                    spawned += 1
        if progress and done // report_every != completed_now // report_every:
            progress(done, n)

    return _result(e, w, n, seed, replicas, prompt_cv, output_cv, prompts, outputs,
                   np.array(arrival), np.array(admitted), np.array(first), np.array(finish),
                   done_order, cum_run, cum_queue, cum_iter, cum_mixed, cum_busy, it,
                   preemptions, started)


def _blocks_allow(phase: list, b: int, blk: int, it: int, free: int, k: int) -> int:
    """The most iterations, up to ``k``, whose decodes find the KV blocks they need among
    ``free`` (at least 1: the caller has made room for the first)."""
    if b * -(-k // blk) <= free:
        return k  # a sequence needs at most one block per ``blk`` iterations
    q = free // b
    left = free - q * b
    m = 0
    while m < blk - 1:
        a = phase[-(it + q * blk + m) % blk]
        if a > left:
            break
        left -= a
        m += 1
    return max(min(k, q * blk + m), 1)


_ANALYTIC = ("throughput_tokens_per_s", "requests_per_s", "batch", "iteration_s",
             "prefill_iteration_fraction", "ttft_mean_s", "tpot_mean_s", "e2e_latency_s",
             "ttft_s", "tpot_s", "concurrency", "stable")


def _result(e, w, n, seed, replicas, prompt_cv, output_cv, prompts, outputs, arrival,
            admitted, first, finish, done_order, cum_run, cum_queue, cum_iter, cum_mixed,
            cum_busy, iterations, preemptions, started) -> Simulation:
    order = np.asarray(done_order)
    ends = finish[order]
    cut = int(n * WARMUP_SHARE)
    lo, hi = cut, n - 1 - cut
    if hi > lo:
        # the steady window: from the completion of the first 10% to that of the first 90%
        t0, t1 = float(ends[lo]), float(ends[hi])
        inside = order[lo + 1:hi + 1]
        run0, q0, it0, mix0, busy0 = (cum_run[lo], cum_queue[lo], cum_iter[lo],
                                      cum_mixed[lo], cum_busy[lo])
    else:
        # too few requests for a window: the whole run
        t0, t1 = 0.0, float(ends[-1])
        inside = order
        run0 = q0 = it0 = mix0 = busy0 = 0
    span = t1 - t0
    run1, q1, it1, mix1, busy1 = (cum_run[hi], cum_queue[hi], cum_iter[hi], cum_mixed[hi],
                                  cum_busy[hi])
    iters = it1 - it0
    if span > 0:
        # tokens emitted inside the window, each request's spread evenly between its first
        # token and its last: counting whole requests by when they complete would overstate
        # the rate when completions bunch up (a burst that drains at once)
        per_replica_tokens = _tokens_between(first, finish, outputs, t0, t1) / span
        per_replica_requests = per_replica_tokens / float(outputs.mean())
        batch = (run1 - run0) / span
        queued = (q1 - q0) / span
        iteration = (busy1 - busy0) / iters if iters else math.nan
    else:
        per_replica_tokens = per_replica_requests = batch = queued = iteration = math.nan
    fraction = (mix1 - mix0) / iters if iters else math.nan
    ttft = first[inside] - arrival[inside]
    many = outputs[inside] > 1
    tpot = (finish[inside][many] - first[inside][many]) / (outputs[inside][many] - 1)
    e2e = finish[inside] - arrival[inside]
    analytic = {}
    for q in _ANALYTIC:
        v = e.get(q)
        analytic[q] = float(v) if v is not None and np.ndim(v) == 0 else None
    analytic["percentile"] = float(w.percentile)
    analytic["think_time_s"] = float(w.think_time_s) if w.load == "users" else None
    return Simulation(
        requests=n, seed=seed, load=w.load, replicas=replicas, admission=w.admission,
        prompt_cv=prompt_cv, output_cv=output_cv,
        throughput_tokens_per_s=per_replica_tokens * replicas,
        requests_per_s=per_replica_requests * replicas, batch=batch,
        queued_requests_per_replica=queued, concurrency=(batch + queued) * replicas,
        iteration_s=iteration, prefill_iteration_fraction=fraction,
        ttft=_percentiles(ttft), tpot=_percentiles(tpot), e2e=_percentiles(e2e),
        iterations=int(iterations), preemptions=int(preemptions),
        simulated_s=float(finish.max() - arrival.min()), window_s=span,
        wall_s=time.perf_counter() - started, analytic=analytic, arrival_s=arrival,
        admitted_s=admitted, first_token_s=first, finish_s=finish, prompt_tokens=prompts,
        output_tokens=outputs)


def _tokens_between(first: np.ndarray, finish: np.ndarray, outputs: np.ndarray, t0: float,
                    t1: float) -> float:
    """Output tokens emitted in [t0, t1]: each request's first token at ``first``, the rest
    spread evenly up to ``finish``."""
    firsts = ((first >= t0) & (first <= t1)).sum()
    length = finish - first
    overlap = np.clip(np.minimum(finish, t1) - np.maximum(first, t0), 0.0, None)
    share = np.divide(overlap, length, out=np.zeros_like(overlap), where=length > 0)
    return float(firsts + ((outputs - 1) * share).sum())


class _CallableModule(types.ModuleType):
    """``ridgeline.simulate`` names both this module and its function. Importing the module
    (``from ridgeline.simulate import Simulation``) binds the package's attribute to the
    module, so the module calls the function too: ``ridgeline.simulate(e)`` works whichever
    was loaded first."""

    def __call__(self, *args, **kwargs) -> Simulation:
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
