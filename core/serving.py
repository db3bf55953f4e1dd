"""Serving a deployment under traffic: the workload, and ``serve()`` to estimate it.

A serving workload is an inference workload with the feature ``serving``: the same
per-operation tables (every architecture family's) price an engine's iterations, and the
formulas of :mod:`ridgeline.plugins.workloads.serving` turn them into the steady state of an
engine with in-flight batching, a paged KV cache and chunked prefill.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional

import attrs
from attrs import field, frozen

from . import _validators as v
from .errors import RidgelineError, ScenarioError

__all__ = ["ServingWorkload", "LOADS", "ADMISSION_POLICIES"]

#: how requests arrive: at an infinite rate, a closed loop of N in flight, Poisson arrivals
#: at R per second, or N users who think between requests.
LOADS = ("saturation", "concurrency", "rate", "users")

#: how the scheduler admits a request against the KV cache: ``reserve`` holds blocks for the
#: whole prompt + output from admission (TensorRT-LLM's GUARANTEED_NO_EVICT), ``on-demand``
#: allocates blocks as the sequence grows (vLLM, SGLang).
ADMISSION_POLICIES = ("reserve", "on-demand")


def _positive_or_none(instance, attribute, value) -> None:
    if value is not None:
        v.finite_positive(instance, attribute, value)


def _percentile(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or not 0 < value < 100:
        raise ValueError(f"{attribute.name} must be a number between 0 and 100 (exclusive), "
                         f"got {value!r}")


@frozen
class ServingWorkload:
    """An engine serving requests of ``prompt_tokens`` in and ``output_tokens`` out (means).

    ``load`` says how requests arrive (see :data:`LOADS`); each load reads its own field
    (``concurrency``, ``rate_per_s`` for the whole deployment, ``users`` with
    ``think_time_s``). The scheduler runs at most ``max_sequences`` sequences and
    ``max_tokens`` tokens per iteration, and allocates the KV cache in blocks of
    ``block_tokens``. Latency targets are at ``percentile``.
    """

    kind = "inference"
    prompt_tokens: int = field(default=512, validator=v.positive_int)
    output_tokens: int = field(default=256, validator=v.positive_int)
    load: str = field(default="saturation", validator=v.one_of(*LOADS))
    concurrency: int = field(default=1, validator=v.positive_int)
    """Requests in flight for ``load="concurrency"`` (whole deployment)."""

    rate_per_s: float = field(default=1.0, validator=v.finite_positive)
    """Poisson arrival rate for ``load="rate"`` (whole deployment)."""

    users: int = field(default=1, validator=v.positive_int)
    """Users for ``load="users"`` (whole deployment)."""

    think_time_s: float = field(default=0.0, validator=v.finite_non_negative)
    """Time a user waits between receiving a response and sending the next request."""

    max_sequences: int = field(default=2048, validator=v.positive_int)
    """Sequences in flight per replica, at most (vLLM's max_num_seqs, TensorRT-LLM's
    max_batch_size; 2048 is TensorRT-LLM's default)."""

    max_tokens: int = field(default=8192, validator=v.positive_int)
    """Tokens per iteration, prefill chunks and decode tokens together (max_num_batched_tokens,
    max_num_tokens; 8192 is TensorRT-LLM's default)."""

    block_tokens: int = field(default=32, validator=v.positive_int)
    """Tokens per KV-cache block (TensorRT-LLM's default tokens_per_block is 32, vLLM's 16)."""

    admission: str = field(default="reserve", validator=v.one_of(*ADMISSION_POLICIES))
    chunked_prefill: bool = field(default=True, validator=v.one_of(True, False))
    """Whether a prompt may be split over iterations (vLLM, SGLang by default); without it a
    prompt goes whole into one iteration (TensorRT-LLM's default), so ``max_tokens`` must
    hold it."""
    ttft_target_s: Optional[float] = field(default=None, validator=_positive_or_none)
    tpot_target_s: Optional[float] = field(default=None, validator=_positive_or_none)
    percentile: float = field(default=50.0, validator=_percentile)
    """The percentile the targets (and the reported latencies) are at: 50 is the median."""

    role: str = field(default="both", validator=v.one_of("both", "decode"))
    """``both``: each replica prefills and decodes; ``decode``: the decode pool of a
    disaggregated deployment (prompts arrive prefilled, with their KV cache)."""

    def features(self) -> frozenset[str]:
        """``serving``, the load (``load-rate``, ...), and ``serving-curve`` when an answer
        needs the deployment's curve over concurrency (a Poisson rate, users, targets)."""
        features = _FEATURES[self.load, self.load in ("rate", "users") or self.has_targets]
        return features | _DECODE_ONLY if self.role == "decode" else features

    @property
    def has_targets(self) -> bool:
        return self.ttft_target_s is not None or self.tpot_target_s is not None


_DECODE_ONLY = frozenset(("role-decode",))
_FEATURES = {(load, curve): frozenset(("serving", f"load-{load}")
                                      + (("serving-curve",) if curve else ()))
             for load in LOADS for curve in (False, True)}


def load_fields(concurrency: Any = None, rate: Any = None, users: Any = None,
                think_time: Any = None) -> dict:
    """The workload fields of a load given as ``serve()``'s (and the CLI's) arguments: at most
    one of ``concurrency``, ``rate`` and ``users``; none means saturation."""
    from .units import parse_count
    given = [name for name, value in (("concurrency", concurrency), ("rate", rate),
                                      ("users", users)) if value is not None]
    if len(given) > 1:
        raise ScenarioError(f"give one load, not {' and '.join(given)}: concurrency (requests "
                            f"in flight), rate (requests per second) or users (with a think "
                            f"time)")
    if think_time is not None and users is None:
        raise ScenarioError("think time belongs to users (--users N --think-time T)")
    if not given:
        return {"load": "saturation"}
    if concurrency is not None:
        return {"load": "concurrency",
                "concurrency": _whole(parse_count(concurrency, what="concurrency"),
                                      "concurrency", concurrency)}
    if rate is not None:
        return {"load": "rate", "rate_per_s": _positive_number(rate, "rate",
                                                               "requests per second")}
    fields: dict = {"load": "users", "users": _whole(parse_count(users, what="users"), "users",
                                                       users)}
    if think_time is not None:
        fields["think_time_s"] = seconds(think_time, "think time", allow_zero=True)
    return fields


def _positive_number(value: Any, what: str, unit: str) -> float:
    """A finite number > 0 from a number or a numeric string (a trailing ``/s`` allowed)."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip().removesuffix("/s").strip())
        except ValueError:
            number = None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        number = None
    elif isinstance(value, int):
        number = float(value) if abs(value) < 2**1023 else math.inf
    if number is None or not math.isfinite(number) or number <= 0:
        raise ScenarioError(f"{what} must be a finite number of {unit} > 0, got "
                            f"{_shown(value)}")
    return float(number)


def _shown(value: Any) -> str:
    from ._arguments import shown
    return shown(value)


def _whole(number: float, what: str, given: Any) -> int:
    if number != int(number) or number < 1:
        raise ScenarioError(f"{what} must be a whole number >= 1, got {given!r}")
    return int(number)


def seconds(value: Any, what: str, *, allow_zero: bool = False) -> float:
    """A duration from a number of seconds or a string with a unit (``300ms``, ``1 s``)."""
    from .units import parse
    number = None
    if isinstance(value, str):
        try:
            number = parse(value.strip(), "s", what=what)
        except Exception:  # noqa: BLE001 - reworded below with the accepted forms
            number = None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value) if not isinstance(value, int) or abs(value) < 2**1023 \
            else math.inf
    if number is None or not math.isfinite(number) or number < 0 or \
            (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ScenarioError(f"{what} must be a finite duration {bound} such as 0.3, '300ms' "
                            f"or '1 s', got {_shown(value)}")
    return float(number)


def targets(ttft: Any = None, tpot: Any = None, percentile: Any = None) -> dict:
    """The workload fields of latency targets (``--ttft 300ms --tpot 10ms --percentile 99``)."""
    fields: dict = {}
    if ttft is not None:
        fields["ttft_target_s"] = seconds(ttft, "ttft target")
    if tpot is not None:
        fields["tpot_target_s"] = seconds(tpot, "tpot target")
    if percentile is not None:
        p = percentile
        if isinstance(p, str):
            try:
                p = float(p.strip().removeprefix("p"))
            except ValueError:
                p = None
        if isinstance(p, bool) or not isinstance(p, (int, float)) or \
                (isinstance(p, int) and abs(p) > 100) or not math.isfinite(p) or \
                not 0 < p < 100:
            raise ScenarioError(f"percentile must be a number between 0 and 100 (exclusive), "
                                f"got {_shown(percentile)}")
        fields["percentile"] = float(p)
    return fields


def evolve_workload(workload: ServingWorkload, **changes) -> ServingWorkload:
    """The workload with ``changes``, as a ridgeline error when one is invalid."""
    try:
        return attrs.evolve(workload, **changes)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"serving workload: {exc}") from None


def workload_from(prompt: Any, output: Any, load: Mapping[str, Any],
                  scheduler: Mapping[str, Any], slo: Mapping[str, Any]) -> ServingWorkload:
    """A checked :class:`ServingWorkload` from parsed arguments."""
    try:
        return ServingWorkload(prompt, output, **load, **scheduler, **slo)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"serving workload: {exc}") from None


def quantities_of(values: Mapping[str, Any], names: Iterable[str]) -> dict:
    return {n: values[n] for n in names if n in values}


# ---------------------------------------------------------------- serve()

#: the quantities a serving report leads with, in order.
HEADLINE = ("replicas", "concurrency", "requests_per_s", "throughput_tokens_per_s",
            "throughput_tokens_per_s_per_device", "tokens_per_s_per_user", "ttft_s", "tpot_s",
            "e2e_latency_s", "kv_cache_capacity_tokens", "cost_per_mtok_usd",
            "energy_per_token_j", "mfu", "mbu", "slo_met", "max_rate_within_slo_per_s")

#: replicas a capacity search tries at most before it says the demand cannot be met.
MAX_REPLICAS = 1_000_000


def serve(model, *, on, devices: Optional[int] = None, tp: int = 1, pp: int = 1, ep: int = 1,
          prompt: Any = 512, output: Any = 256, concurrency: Any = None, rate: Any = None,
          users: Any = None, think_time: Any = None, tokens_per_day: Any = None,
          max_batch: Any = 2048, max_tokens: Any = 8192, block_tokens: Any = 32,
          admission: str = "reserve", chunked_prefill: Any = True, ttft: Any = None,
          tpot: Any = None,
          percentile: Any = None, weights: Optional[str] = None, kv: Optional[str] = None,
          activations: Optional[str] = None, price: Any = None,
          efficiency: Optional[dict] = None, quantities: Optional[Iterable[str]] = None,
          inputs: Optional[Mapping[str, Any]] = None, catalog=None, disagg: Any = None,
          role: str = "both", context_limit: Any = None, pp_layers: Any = None):
    """Estimate a deployment serving requests with in-flight batching.

    Args:
        model, on, tp, pp, ep, weights, kv, activations, price, efficiency, inputs, catalog:
            as for :func:`ridgeline.infer`.
        devices: a multiple of tp x pp; the rest are replicas. Default: tp x pp, or with a
            ``rate``, ``users`` or ``tokens_per_day`` demand the replicas that demand needs
            (within the latency targets when they are given).
        prompt, output: mean tokens in and out per request.
        concurrency: a closed loop of this many requests in flight (whole deployment).
        rate: Poisson arrivals, requests per second (whole deployment).
        users: this many users, each waiting ``think_time`` between requests.
        tokens_per_day: a demand in output tokens per day (a Poisson rate).
        max_batch: sequences in flight per replica, at most; max_tokens: tokens per
            iteration; block_tokens: KV-cache block size; admission: ``reserve`` or
            ``on-demand`` (see :class:`ServingWorkload`).
        ttft, tpot: latency targets (seconds, or ``"300ms"``); percentile: that they are at
            (default 50, the median).
        disagg: prefill and decode on separate pools,
            ``"prefill=2x(tp=1),decode=1x(tp=4)"``: the result is then a
            :class:`ridgeline.disagg.Disaggregated` (tp, pp, ep and devices come from it).
        role: ``"decode"`` for the decode pool of a split (used by ``disagg``).
        context_limit: as for :func:`ridgeline.infer`: prompt + output beyond the model's
            context is an error unless this says otherwise.
        pp_layers: as for :func:`ridgeline.infer`: layers of each pipeline stage.

    With no load, the deployment runs at saturation (offline, maximum throughput).
    """
    from .api import _check_context, _check_given, _given, _inference_setup
    from .catalog import default_catalog
    from .engine import estimate
    from .scenario import Scenario, check_plan
    catalog = catalog or default_catalog()
    if tokens_per_day is not None:
        if rate is not None:
            raise ScenarioError("give a demand as rate or as tokens_per_day, not both")
        from .units import parse_count
        try:
            daily = parse_count(tokens_per_day, what="tokens per day")
        except (TypeError, ValueError, OverflowError):
            daily = None
        if daily is None or not math.isfinite(daily) or daily <= 0:
            raise ScenarioError(f"tokens per day must be a finite count > 0 (2B, 1e12), got "
                                f"{_shown(tokens_per_day)}")
        rate = daily / 86400.0 / _count(output, "output")
    load = load_fields(concurrency, rate, users, think_time)
    scheduler = {"max_sequences": _count(max_batch, "max batch"),
                 "max_tokens": _count(max_tokens, "max tokens"),
                 "block_tokens": _count(block_tokens, "block tokens"),
                 "admission": _choice(admission, ADMISSION_POLICIES, "admission"),
                 "chunked_prefill": _flag(chunked_prefill, "chunked_prefill")}
    if not scheduler["chunked_prefill"] and _count(prompt, "prompt") >= scheduler["max_tokens"]:
        raise ScenarioError(f"without chunked prefill a prompt goes whole into one iteration: "
                            f"a prompt of {_count(prompt, 'prompt')} tokens needs max tokens "
                            f"above it (it is {scheduler['max_tokens']})")
    workload = workload_from(_count(prompt, "prompt"), _count(output, "output"), load,
                             scheduler, {**targets(ttft, tpot, percentile),
                                         "role": _choice(role, ("both", "decode"), "role")})
    given = _given(inputs, catalog)
    if disagg is not None:
        from .disagg import parse_disagg, serve_disaggregated
        prefill_pool, decode_pool = parse_disagg(disagg)
        if devices is not None or (tp, pp, ep) != (1, 1, 1) or pp_layers is not None:
            raise ScenarioError("with disagg the pools give the devices and their plans; "
                                "leave out devices, tp, pp, pp_layers and ep")
        if quantities is not None:
            raise ScenarioError("quantities cannot be chosen for a disaggregated deployment")
        kwargs = dict(prompt=prompt, output=output, concurrency=concurrency, rate=rate,
                      users=users, think_time=think_time, max_batch=max_batch,
                      max_tokens=max_tokens, block_tokens=block_tokens, admission=admission,
                      chunked_prefill=chunked_prefill,
                      ttft=ttft, tpot=tpot, percentile=percentile, weights=weights, kv=kv,
                      activations=activations, price=price, efficiency=efficiency,
                      inputs=inputs, context_limit=context_limit)
        return serve_disaggregated(model, prefill_pool, decode_pool, on=on, workload=workload,
                                   given=given, serve_kwargs=kwargs, catalog=catalog)
    m, plan, system, spreads, _features = _inference_setup(
        catalog, model, on, None, tp, pp, weights, kv, activations, price, ep, "none",
        efficiency=efficiency, pp_layers=pp_layers)
    if spreads:
        acc = system.accelerator
        raise ScenarioError(f"serving with in-flight batching is not modelled on {acc.id} "
                            f"({acc.kind}): it places a replica over its devices itself, and "
                            f"its KV cache and weights share on-chip memory in ways the "
                            f"serving formulas do not price yet; ridgeline infer estimates a "
                            f"static batch on it")
    _check_context(m, workload.prompt_tokens + workload.output_tokens, context_limit,
                   "prompt + output")
    replica_devices = plan.tp * plan.pp
    if devices is not None:
        n = _count(devices, "devices")
        if n % replica_devices:
            raise ScenarioError(f"devices={n} is not a multiple of tp x pp = {replica_devices} "
                                f"(the devices beyond one replica are whole replicas)")
        system = attrs.evolve(system, devices=n)
        check_plan(plan, system)
    scenario = Scenario(m, system, plan, workload)
    if devices is None and workload.load in ("rate", "users"):
        scenario = _size_for_demand(scenario, given, catalog)
    return _check_given(estimate(scenario, quantities, catalog=catalog, inputs=given,
                                 check=False), given, every_quantity=quantities is None)


def _size_free_kwargs(kwargs: dict) -> dict:
    """``serve()`` arguments of a deployment at saturation: no load, no targets."""
    return {k: v for k, v in kwargs.items()
            if k not in ("concurrency", "rate", "users", "think_time", "ttft", "tpot",
                         "percentile", "tokens_per_day")}


def _count(value: Any, what: str) -> int:
    from .api import _positive_int
    return _positive_int(value, what)


def _flag(value: Any, what: str) -> bool:
    from ._arguments import flag
    return flag(value, what)


def _choice(value: Any, allowed: tuple, what: str) -> str:
    if type(value) is not str or value not in allowed:
        raise ScenarioError(f"{what} must be one of {', '.join(allowed)}, got {_shown(value)}")
    return value


def _meets(e) -> bool:
    """Whether an estimate keeps up with its load, within its targets if it has any."""
    if not e.get("fits", True) or not e.get("stable", 1.0):
        return False
    return bool(e.get("slo_met", 1.0)) if e.scenario.workload.has_targets else True


_SIZING = ("fits", "stable", "slo_met", "max_rate_within_slo_per_s")


def _size_for_demand(scenario, given, catalog):
    """The scenario with the fewest replicas that serve its demand (within its targets)."""
    from .engine import estimate
    per_replica = scenario.system.devices

    def with_replicas(r: int):
        return attrs.evolve(scenario, system=attrs.evolve(scenario.system,
                                                          devices=r * per_replica))

    wanted = [q for q in _SIZING if q != "slo_met" or scenario.workload.has_targets]

    def ok(r: int) -> bool:
        try:
            e = estimate(with_replicas(r), wanted, catalog=catalog, inputs=given, check=False)
        except RidgelineError:
            return False  # overloaded: the queue grows without bound
        if r == 1 and scenario.workload.has_targets and \
                float(e["max_rate_within_slo_per_s"]) <= 0.0:
            raise ScenarioError("no number of replicas meets the latency targets: even one "
                                "request at a time misses them on this deployment; relax "
                                "the targets or change the plan")
        return _meets(e)

    try:
        one = estimate(with_replicas(1), ["fits"], catalog=catalog, inputs=given, check=False)
    except RidgelineError:
        one = None
    if one is not None and not one["fits"]:
        # a replica that does not fit is the answer, with its shortfall: more of them fit
        # no better
        return with_replicas(1)
    lo, hi = 0, 1
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > MAX_REPLICAS:
            raise ScenarioError(f"the demand needs more than {MAX_REPLICAS} replicas")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return with_replicas(hi)



# ---------------------------------------------------------------- the report


def _describe_load(w: ServingWorkload) -> str:
    if w.load == "saturation":
        return "saturation (requests at an infinite rate: maximum throughput)"
    if w.load == "concurrency":
        return f"a closed loop of {w.concurrency} requests in flight"
    if w.load == "rate":
        return f"Poisson arrivals at {w.rate_per_s:.4g} requests/s"
    return f"{w.users} users, {w.think_time_s:.3g} s between a response and the next request"


def serve_report(e) -> str:
    """What a serving estimate says, for a person."""
    from .report import _fit_lines, _header, _lines, hypothetical
    w = e.scenario.workload
    hyp = frozenset(hypothetical(e))
    lines = [_header(e),
             f"requests: prompt {w.prompt_tokens} tokens, output {w.output_tokens} tokens; "
             f"load: {_describe_load(w)}",
             f"scheduler: at most {w.max_sequences} sequences and {w.max_tokens} tokens per "
             f"iteration per replica, KV blocks of {w.block_tokens} tokens ({w.admission})",
             "", *_fit_lines(e, hyp)]
    lines += ["", "per replica:"]
    lines += _lines(e, [("weights per device", "weight_bytes_per_device"),
                        ("activation workspace", "activation_bytes"),
                        ("KV cache capacity (tokens)", "kv_cache_capacity_tokens"),
                        ("in flight at most (KV cache)", "kv_concurrency_limit"),
                        ("in flight at most (token budget)", "token_budget_concurrency_limit"),
                        ("in flight at most (scheduler)", "scheduler_max_sequences"),
                        ("in flight (mean)", "batch"),
                        ("iteration (mean)", "iteration_s"),
                        ("iterations with a prefill chunk", "prefill_iteration_fraction")],
                    hyp)
    if w.load == "rate":
        lines += _lines(e, [("utilisation (arrivals / capacity)", "utilisation")])
    at = "median" if w.percentile == 50 else f"p{w.percentile:g}"
    lines += ["", "deployment:"]
    lines += _lines(e, [("replicas", "replicas"),
                        ("requests in the system (mean)", "concurrency"),
                        ("requests per second", "requests_per_s"),
                        ("output tokens per second", "throughput_tokens_per_s"),
                        ("  per device", "throughput_tokens_per_s_per_device"),
                        ("  per user", "tokens_per_s_per_user"),
                        (f"time to first token ({at})", "ttft_s"),
                        (f"time per output token ({at})", "tpot_s"),
                        ("whole request (mean)", "e2e_latency_s"),
                        ("MFU", "mfu"), ("MBU", "mbu")], hyp)
    if w.has_targets:
        targets_text = ", ".join(t for t in (
            f"ttft {w.ttft_target_s * 1e3:.4g} ms" if w.ttft_target_s is not None else "",
            f"tpot {w.tpot_target_s * 1e3:.4g} ms" if w.tpot_target_s is not None else "")
            if t)
        met = e.get("slo_met")
        verdict = "n/a" if met is None else ("yes" if met else "NO")
        lines += ["", f"targets ({targets_text}, {at}): met at this load: {verdict}"]
        lines += _lines(e, [("highest Poisson rate within them", "max_rate_within_slo_per_s")])
    lines += ["", "money and energy:"]
    lines += _lines(e, [("price per device-hour", "price_usd_per_hour"),
                        ("deployment per hour", "deployment_usd_per_hour"),
                        ("cost per million output tokens", "cost_per_mtok_usd"),
                        ("energy per output token (at TDP)", "energy_per_token_j")], hyp)
    if e.get("stable") == 0.0:
        lines += ["", "OVERLOADED: " + e.skipped.get("ttft_s", "arrivals exceed capacity")]
    lines += ["", "why? ridgeline serve ... --json lists every quantity; ridgeline explain "
                  "serve ... --quantity tpot_s shows where one comes from"]
    return "\n".join(lines)
