"""``distill()``: what it costs to make a distilled student, and when serving it pays that back.

Making the student has two parts, each priced by the engine on the same system (``on`` x
``devices``, at the same device-hour price):

- **the teacher's targets**: the teacher reads every distillation token once, forward only,
  and computes logits at every position (Meta's "token-level targets" for Llama 3.2; the
  Minitron recipe). The engine prices it as a training scenario of the teacher with the
  ``forward_only_*`` quantities of the ``distilled`` plugin: the forward pass of every
  micro-batch and the pipeline's fill and drain, with no backward pass, gradient
  synchronisation or optimizer step. Unless ``teacher_tp``/``teacher_pp`` are given, the
  teacher gets the split that fits and costs least: every tensor-parallel degree within the
  scale-up domain (beyond it, per-layer all-reduces would cross the slower network) times
  every pipeline depth that divides its layers and the devices is tried, the remaining
  devices running data-parallel copies; among equals the fewest devices per copy win. The
  logits are used where they are made, as online distillation does; storing them (a
  vocabulary-wide vector per token: 9T tokens x 128k x 2 bytes is 2.3 EB) is not priced.
- **the student's training** on the same tokens: the engine's ``train`` estimate with the
  plan given. The distillation loss (a softmax and a KL divergence over the vocabulary per
  token) is left out: it is a few FLOPs per vocabulary entry against the LM head's
  ``2 x hidden`` per entry.

The two run one after the other on the same devices, so the making time, device-hours, cost
and energy are their sums (running them interleaved in one job costs the same device time).

Serving compares the teacher with the student under the same traffic (``batch``, ``prompt``,
``output``, precisions) on ``serve_on`` (default ``on``), each on the split of one copy that
fits and has the lowest ``cost_per_mtok_usd`` (the engine's: a replica busy all the time),
found the same way (``serve_tp``/``teacher_serve_tp`` fix it). With a fixed batch that is
almost always the fewest devices that hold the model: more devices cost more per hour than
they add in throughput. With ``batch="max"`` each model gets the largest batch that fits its
split, so the search weighs more devices against a larger batch, as an operator would.

The break-even volume is::

    break_even_tokens = making_cost_usd / (teacher_cost_per_token - student_cost_per_token)

served tokens after which the student's cheaper tokens have paid for making it. It does not
exist (``None``) when the student is not cheaper to serve. The teacher is taken as already
trained: its own training cost is not part of making the student.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Mapping, Optional, Union

from attrs import field, frozen

from .accelerator import Accelerator
from .api import (AcceleratorLike, ModelLike, _accelerator, _catalog, _given, _mapping,
                  _positive_int, infer, resolve_model, train)
from .catalog import Catalog
from .engine import Estimate
from .errors import ScenarioError, UnknownNameError, in_stage as _stage
from .model import Model
from .units import format_value, parse_count, unit_of

__all__ = ["distill", "Distillation", "break_even_tokens", "distill_report"]

_TEACHER_PASS = ("forward_only_wall_clock_s", "forward_only_device_hours",
                 "forward_only_cost_usd", "forward_only_fits",
                 "forward_only_memory_per_device_bytes", "usable_memory_bytes", "params")
# every part that says whether it fits also says by how much it does not
_TRAINING = ("wall_clock_s", "device_hours", "cost_usd", "fits", "memory_per_device_bytes",
             "usable_memory_bytes", "memory_shortfall_bytes", "params")
_SERVING = ("cost_per_mtok_usd", "throughput_tokens_per_s", "fits", "replica_devices",
            "memory_per_device_bytes", "usable_memory_bytes", "memory_shortfall_bytes")

#: largest model-parallel group (tp x pp) the automatic searches try for one copy of a model;
#: 64 devices hold 5 TB of HBM on H100s, more than any preset needs.
MAX_MODEL_PARALLEL = 64


def break_even_tokens(making_cost_usd: float, teacher_cost_per_mtok_usd: float,
                      student_cost_per_mtok_usd: float) -> Optional[float]:
    """Served tokens after which the student's serving saving has paid for making it.

    ``None`` when the student is not cheaper per token than the teacher (it never pays back),
    or when the saving is so small that the volume is not a finite number.
    """
    saving_per_token_usd = (teacher_cost_per_mtok_usd - student_cost_per_mtok_usd) / 1e6
    if not saving_per_token_usd > 0:
        return None
    volume = making_cost_usd / saving_per_token_usd
    return volume if math.isfinite(volume) else None


@frozen
class Distillation:
    """What making a distilled student costs, what each model costs to serve, and the
    break-even volume. Numbers are in :attr:`values`, SI units, the unit in each name:
    ``teacher_pass_*`` and ``student_training_*`` (``_s``, ``_device_hours``, ``_cost_usd``,
    ``_energy_j``) and their sums ``making_*``; ``teacher_*`` and ``student_*`` serving
    figures (``_cost_per_mtok_usd``, ``_throughput_tokens_per_s``, ``_energy_per_token_j``,
    ``_serve_devices``); ``break_even_tokens`` and ``break_even_serving_s`` (how long one busy
    copy of the student takes to serve that volume), both ``None`` when it never comes; and
    whether each of the four parts fits (``*_fits``)."""

    student: str
    """Student model id."""

    teacher: str
    """Teacher model id."""

    accelerator: str
    """Accelerator the student is made on."""

    devices: int
    """Devices the teacher's pass and the student's training each use."""

    serve_accelerator: str
    """Accelerator both models are served on."""

    values: Mapping[str, Any] = field(converter=lambda v: MappingProxyType(dict(v)))
    """Every figure by name (SI units; ``None`` where there is none, such as a break-even
    that never comes)."""

    never_reason: str = ""
    """Why there is no break-even (empty when there is one)."""

    notes: tuple[str, ...] = field(default=(), converter=tuple)
    """Things to know about the result (what did not fit, a teacher smaller than its
    student, figures left out)."""

    hypothetical: tuple[str, ...] = field(default=(), converter=tuple)
    """Figures of :attr:`values` that rest on a part that does not fit (its time, cost or
    energy, and every sum, saving and break-even it enters): what they would be if it fit."""

    teacher_pass: Estimate = field(default=None, eq=False, repr=False)
    """The engine's estimate of the teacher's forward-only pass (a training scenario)."""

    student_training: Estimate = field(default=None, eq=False, repr=False)
    """The engine's estimate of training the student."""

    teacher_serving: Estimate = field(default=None, eq=False, repr=False)
    student_serving: Estimate = field(default=None, eq=False, repr=False)

    @property
    def break_even_tokens(self) -> Optional[float]:
        """Served tokens after which distilling paid for itself, or ``None`` (never)."""
        return self.values["break_even_tokens"]

    def __getitem__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise UnknownNameError("distillation figure", name, self.values) from None

    def to_dict(self) -> dict:
        """Plain data: ``values`` in SI units with their ``units``, the models, the plans."""
        return {
            "student": self.student, "teacher": self.teacher,
            "accelerator": self.accelerator, "devices": self.devices,
            "serve_accelerator": self.serve_accelerator,
            "values": dict(self.values),
            "units": {k: unit_of(k) for k in self.values},
            "break_even": {"tokens": self.values["break_even_tokens"],
                           "never_reason": self.never_reason or None},
            "plans": {
                "teacher_pass": _plan(self.teacher_pass),
                "student_training": _plan(self.student_training),
                "teacher_serving": _plan(self.teacher_serving),
                "student_serving": _plan(self.student_serving),
            },
            "notes": list(self.notes),
            "hypothetical": list(self.hypothetical),
        }


def _plan(e: Optional[Estimate]) -> Optional[dict]:
    if e is None:
        return None
    p = e.scenario.plan
    out = {"tp": p.tp, "pp": p.pp, "dp": p.dp, "devices": e.scenario.system.devices}
    w = e.scenario.workload
    if w.kind == "inference":
        out["batch"] = w.batch
    return out


# --------------------------------------------------------------------------- helpers


def _tokens(value: Any, what: str) -> float:
    number = parse_count(value, what=what)
    if not math.isfinite(number) or number <= 0:
        raise ScenarioError(f"{what} must be > 0, got {value!r}")
    return float(number)



def _powers_of_two(limit: int) -> list[int]:
    out, n = [], 1
    while n <= limit:
        out.append(n)
        n *= 2
    return out


def _model_parallel_candidates(model: Model, accelerator: Accelerator, devices: Optional[int]
                               ) -> list[tuple[int, int]]:
    """(tp, pp) pairs one copy of ``model`` could use, fewest devices first, then fewest
    pipeline stages: tensor parallelism stays inside a scale-up domain (beyond it, its
    all-reduces per layer would cross the slower network), pipeline stages divide the layers.
    With ``devices``, only pairs whose product divides it."""
    link = accelerator.links.scale_up
    domain = (link.domain_devices or 1) if link else 1
    limit = MAX_MODEL_PARALLEL if devices is None else min(devices, MAX_MODEL_PARALLEL)
    pairs = []
    for tp in _powers_of_two(min(domain, limit)):
        if model.num_heads % tp or model.intermediate_size % tp:
            continue
        for pp in range(1, limit // tp + 1):
            if model.num_layers % pp:
                continue
            if devices is not None and devices % (tp * pp):
                continue
            pairs.append((tp, pp))
    return sorted(pairs, key=lambda p: (p[0] * p[1], p[1]))


def _cheapest_that_fits(candidates: list, run, fits_key: str, cost_key: str):
    """The estimate of the candidate plan that fits at the lowest ``cost_key`` (the first,
    so the fewest devices, among equals); when none fits, the largest plan tried, as a "does
    not fit" result rather than an error. Plans the scenario cannot use (a global batch that
    the data-parallel degree does not divide, say) are skipped."""
    best, last, reasons = None, None, []
    for candidate in candidates:
        try:
            e = run(candidate)
        except UnknownNameError:
            raise
        except ScenarioError as exc:
            reasons.append(str(exc))
            continue
        last = e
        if bool(e[fits_key]) and (best is None or float(e[cost_key]) < float(best[cost_key])):
            best = e
    if best is not None:
        return best
    if last is None:
        if len(set(reasons)) == 1:
            raise ScenarioError(reasons[0])
        raise ScenarioError("no plan could be estimated"
                            + (f" ({reasons[-1]})" if reasons else
                               ": no tensor/pipeline split divides the model"))
    return last


def _resolve_teacher(student: Model, teacher: Optional[ModelLike], catalog: Catalog) -> Model:
    if teacher is None:
        named = student.option("teacher")
        if named is None:
            raise ScenarioError(f"{student.id} names no teacher (its family is "
                                f"{student.family!r}); give one (--teacher ID)")
        where = f"the teacher of {student.id} (options.teacher in its preset)"
        teacher = named
    else:
        where = "teacher"
    try:
        return resolve_model(teacher, catalog, what=where)
    except UnknownNameError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- the API


def distill(student: ModelLike, *, teacher: Optional[ModelLike] = None, tokens: Any = None,
            on: AcceleratorLike, devices: Optional[int] = None, tp: int = 1, pp: int = 1,
            dp: Optional[int] = None, micro_batch: int = 1, global_batch: Any = 512,
            seq: Any = 2048, precision: Optional[str] = None, zero: int = 0,
            recompute: str = "none", teacher_tp: Optional[int] = None,
            teacher_pp: Optional[int] = None, serve_on: Optional[AcceleratorLike] = None,
            batch: Union[int, str] = 1, prompt: Any = 512, output: Any = 256,
            weights: Optional[str] = None, kv: Optional[str] = None,
            serve_tp: Optional[int] = None, teacher_serve_tp: Optional[int] = None,
            price: Any = None, serve_price: Any = None, efficiency: Optional[dict] = None,
            inputs: Optional[Mapping[str, Any]] = None, catalog: Optional[Catalog] = None,
            context_limit: Any = None) -> Distillation:
    """Estimate making a distilled student and when serving it instead of its teacher pays.

    Args:
        student: preset name, local ``config.json`` path or Model. A ``distilled`` preset
            names its teacher and token count; any other model needs ``teacher`` and
            ``tokens``.
        teacher: the teacher (default: the student's ``teacher`` option).
        tokens: distillation tokens (default: the student's ``distill_tokens`` option).
        on, devices, tp, pp, dp, micro_batch, global_batch, seq, precision, zero, recompute:
            where and how the student trains, as for :func:`ridgeline.train`; the teacher's
            pass runs on the same devices with the same sequence length and batches.
        teacher_tp, teacher_pp: the teacher pass's tensor and pipeline degrees (default: the
            split that fits at the lowest cost; the other devices run copies in parallel).
        serve_on: accelerator both models are served on (default: ``on``).
        batch, prompt, output, weights, kv: serving traffic and precisions, as for
            :func:`ridgeline.infer` (the same defaults), the same for teacher and student.
        serve_tp, teacher_serve_tp: tensor-parallel degree of one serving copy of the
            student / the teacher (default: the split that fits at the lowest cost per token).
        price: USD per device-hour of ``on``; serve_price: of ``serve_on`` (default: ``price``
            when both are the same accelerator, else the registry's).
        efficiency, inputs, context_limit: as for :func:`ridgeline.infer`, applied to every
            estimate (``context_limit`` to teacher and student alike).

    Returns:
        A :class:`Distillation`.

    Raises:
        ScenarioError: no teacher or token count, tokens <= 0, a plan that does not divide a
            model, an accelerator without a price.
        UnknownNameError: an unknown student or accelerator.
    """
    catalog = _catalog(catalog)
    _mapping(inputs, "inputs", "{'capacity_factor': 1.25}")
    _mapping(efficiency, "efficiency", "{'compute': 0.6, 'memory': 0.8}")
    _given(inputs, catalog)  # a typo in a given quantity is an error before anything runs
    s_model = resolve_model(student, catalog, what="student")
    # degrees the searches below would otherwise read as "not given" (0) or pass on under
    # another argument's name
    teacher_tp, teacher_pp, serve_tp, teacher_serve_tp = (
        None if value is None else _positive_int(value, what)
        for value, what in ((teacher_tp, "teacher_tp"), (teacher_pp, "teacher_pp"),
                            (serve_tp, "serve_tp"), (teacher_serve_tp, "teacher_serve_tp")))
    t_model = _resolve_teacher(s_model, teacher, catalog)
    if tokens is None:
        tokens = s_model.option("distill_tokens")
        if tokens is None:
            raise ScenarioError(f"{s_model.id} does not say how many tokens it was distilled "
                                f"on; give them (--tokens 100B)")
    n_tokens = _tokens(tokens, "tokens")
    acc = _accelerator(on, catalog)
    serve_acc = acc if serve_on is None else _accelerator(serve_on, catalog, "serve_on")
    if serve_price is None and serve_acc.id == acc.id:
        serve_price = price
    # the break-even is in dollars: say which flag gives a missing price before anything runs
    for a, given, flag in ((acc, price, "--price"), (serve_acc, serve_price, "--serve-price")):
        if given is None and a.price_usd_per_hour is None:
            raise ScenarioError(f"{a.id} has no price in the registry; give one "
                                f"({flag} USD_PER_H)")
    shared = dict(efficiency=efficiency, inputs=inputs, catalog=catalog,
                  context_limit=context_limit)

    # ---- the student's training: the plan given, as `ridgeline train` takes it
    training = _stage("student training", train, s_model, on=acc, devices=devices, tp=tp,
                      pp=pp, dp=dp, micro_batch=micro_batch, global_batch=global_batch,
                      seq=seq, tokens=n_tokens, precision=precision, zero=zero,
                      recompute=recompute, price=price, quantities=_TRAINING + _energy(acc),
                      **shared)
    n_devices = training.scenario.system.devices

    # ---- the teacher's forward-only pass over the same tokens on the same devices
    def teacher_pass(plan):
        t, p = plan
        return train(t_model, on=acc, devices=n_devices, tp=t, pp=p, micro_batch=micro_batch,
                     global_batch=global_batch, seq=seq, tokens=n_tokens, precision=precision,
                     price=price, quantities=_TEACHER_PASS + _forward_energy(acc),
                     forward_only=True, **shared)

    if teacher_tp is not None or teacher_pp is not None:
        t_plan = [(teacher_tp or 1, teacher_pp or 1)]
    else:
        t_plan = _model_parallel_candidates(t_model, acc, n_devices)
    t_pass = _stage("teacher pass", _cheapest_that_fits, t_plan, teacher_pass,
                    "forward_only_fits", "forward_only_cost_usd")

    # ---- serving each, with the same traffic
    def serving(model, explicit_tp):
        def run(plan):
            t, p = plan
            return infer(model, on=serve_acc, tp=t, pp=p, batch=batch, prompt=prompt,
                         output=output, weights=weights, kv=kv, price=serve_price,
                         quantities=_SERVING + _serve_energy(serve_acc), **shared)
        plans = [(explicit_tp, 1)] if explicit_tp is not None else \
            _model_parallel_candidates(model, serve_acc, None)
        return _cheapest_that_fits(plans, run, "fits", "cost_per_mtok_usd")

    t_serve = _stage("serving the teacher", serving, t_model, teacher_serve_tp)
    s_serve = _stage("serving the student", serving, s_model, serve_tp)

    return _result(s_model, t_model, n_tokens, acc, serve_acc, n_devices, t_pass, training,
                   t_serve, s_serve)


def _energy(acc: Accelerator) -> tuple[str, ...]:
    return ("energy_j",) if acc.power_w is not None else ()


def _forward_energy(acc: Accelerator) -> tuple[str, ...]:
    return ("forward_only_energy_j",) if acc.power_w is not None else ()


def _serve_energy(acc: Accelerator) -> tuple[str, ...]:
    return ("energy_per_token_j",) if acc.power_w is not None else ()


def _result(s_model, t_model, n_tokens, acc, serve_acc, n_devices, t_pass, training, t_serve,
            s_serve) -> Distillation:
    def get(e, q):
        return float(e[q]) if q in e else None

    def add(*xs):
        return None if any(x is None for x in xs) else float(sum(xs))

    v: dict[str, Any] = {"distill_tokens": n_tokens,
                         "teacher_params": float(t_pass["params"]),
                         "student_params": float(training["params"])}
    v["teacher_pass_s"] = get(t_pass, "forward_only_wall_clock_s")
    v["teacher_pass_device_hours"] = get(t_pass, "forward_only_device_hours")
    v["teacher_pass_cost_usd"] = get(t_pass, "forward_only_cost_usd")
    v["teacher_pass_energy_j"] = get(t_pass, "forward_only_energy_j")
    v["student_training_s"] = get(training, "wall_clock_s")
    v["student_training_device_hours"] = get(training, "device_hours")
    v["student_training_cost_usd"] = get(training, "cost_usd")
    v["student_training_energy_j"] = get(training, "energy_j")
    for key in ("s", "device_hours", "cost_usd", "energy_j"):
        v[f"making_{key}"] = add(v[f"teacher_pass_{key}"], v[f"student_training_{key}"])
    for who, e in (("teacher", t_serve), ("student", s_serve)):
        v[f"{who}_serve_devices"] = float(e["replica_devices"])
        v[f"{who}_throughput_tokens_per_s"] = get(e, "throughput_tokens_per_s")
        v[f"{who}_cost_per_mtok_usd"] = get(e, "cost_per_mtok_usd")
        v[f"{who}_energy_per_token_j"] = get(e, "energy_per_token_j")
    v["saving_per_mtok_usd"] = v["teacher_cost_per_mtok_usd"] - v["student_cost_per_mtok_usd"]
    tokens_even = break_even_tokens(v["making_cost_usd"], v["teacher_cost_per_mtok_usd"],
                                    v["student_cost_per_mtok_usd"])
    v["break_even_tokens"] = tokens_even
    v["break_even_serving_s"] = None if tokens_even is None else \
        tokens_even / v["student_throughput_tokens_per_s"]
    v["teacher_pass_fits"] = bool(t_pass["forward_only_fits"])
    v["student_training_fits"] = bool(training["fits"])
    v["teacher_serving_fits"] = bool(t_serve["fits"])
    v["student_serving_fits"] = bool(s_serve["fits"])

    never = ""
    if tokens_even is None:
        never = (f"the student costs {_usd(v['student_cost_per_mtok_usd'])} per million tokens "
                 f"to serve and the teacher {_usd(v['teacher_cost_per_mtok_usd'])}: serving the "
                 f"student saves nothing, so distilling never pays for itself in serving cost")
    notes = []
    if v["teacher_params"] < v["student_params"]:
        notes.append(f"the teacher {t_model.id} ({_count(v['teacher_params'])} parameters) is "
                     f"smaller than the student {s_model.id} ({_count(v['student_params'])})")
    if t_model.vocab_size != s_model.vocab_size:
        notes.append(f"the teacher's vocabulary ({t_model.vocab_size:,} tokens) is not the "
                     f"student's ({s_model.vocab_size:,}): token-level logit targets need a "
                     f"shared vocabulary")
    for label, e, key in (("the teacher pass", t_pass, "forward_only"),
                          ("the student's training", training, None),
                          (f"serving the teacher on {t_serve.scenario.system.devices} device(s)",
                           t_serve, None),
                          (f"serving the student on {s_serve.scenario.system.devices} device(s)",
                           s_serve, None)):
        fits = e["forward_only_fits"] if key else e["fits"]
        if not bool(fits):
            need = e["forward_only_memory_per_device_bytes"] if key else \
                e["memory_per_device_bytes"]
            notes.append(f"{label} does not fit: each device needs {format_value(need, 'B')} "
                         f"but has {format_value(e['usable_memory_bytes'], 'B')} usable")
    for name, a in {acc.id: acc, serve_acc.id: serve_acc}.items():
        if a.power_w is None:
            notes.append(f"{name} has no published power figure: energy is left out")
    return Distillation(student=s_model.id, teacher=t_model.id, accelerator=acc.id,
                        devices=n_devices, serve_accelerator=serve_acc.id, values=v,
                        never_reason=never, notes=notes, hypothetical=_hypothetical(v),
                        teacher_pass=t_pass,
                        student_training=training, teacher_serving=t_serve,
                        student_serving=s_serve)


def _hypothetical(v: Mapping[str, Any]) -> list[str]:
    """The figures that rest on a part that does not fit, as :attr:`Distillation.hypothetical`
    says."""
    unfit = {part for part in ("teacher_pass", "student_training", "teacher", "student")
             if not v[f"{part}_fits" if part.endswith(("pass", "training"))
                      else f"{part}_serving_fits"]}
    out = []
    for part in unfit & {"teacher_pass", "student_training"}:
        out += [f"{part}_{key}" for key in ("s", "device_hours", "cost_usd", "energy_j")]
    if unfit & {"teacher_pass", "student_training"}:
        out += [f"making_{key}" for key in ("s", "device_hours", "cost_usd", "energy_j")]
    for who in unfit & {"teacher", "student"}:
        out += [f"{who}_{key}" for key in ("throughput_tokens_per_s", "cost_per_mtok_usd",
                                           "energy_per_token_j")]
    if unfit & {"teacher", "student"}:
        out.append("saving_per_mtok_usd")
    if unfit:  # the break-even weighs the making cost against both serving costs
        out += ["break_even_tokens", "break_even_serving_s"]
    return [q for q in v if q in out and v[q] is not None]


# --------------------------------------------------------------------------- the report


def _usd(value: float) -> str:
    return format_value(value, "USD")


def _count(value: float) -> str:
    for scale, word in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{word}"
    return f"{value:.3g}"


def _tokens_words(value: float) -> str:
    for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"),
                        (1e3, "thousand")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {word} tokens"
    return f"{value:.3g} tokens"


def _figure(value, unit) -> str:
    if value is None:
        return "n/a"
    if unit == "s" and value >= 2 * _YEAR_S:
        return f"{value / _YEAR_S:.3g} years"
    if unit == "s" and 120.0 <= value < 7200.0:  # format_value goes from seconds to hours
        return f"{value / 60.0:.3g} min"
    if unit == "":
        return _count(value)
    return format_value(value, unit)


_YEAR_S = 365.25 * 86400.0


def _plan_text(e) -> str:
    p = e.scenario.plan
    parts = [f"tp={p.tp}"] + ([f"pp={p.pp}"] if p.pp > 1 else []) + \
        ([f"dp={p.dp}"] if p.dp > 1 else [])
    return " ".join(parts)


def distill_report(d: Distillation) -> str:
    """A short human-readable breakdown: making, serving, break-even."""
    v = d.values
    hyp = frozenset(d.hypothetical)

    def _f(value, unit, name=""):  # a figure, marked when it is hypothetical
        return _figure(value, unit) + (" *" if name in hyp else "")
    lines = [f"distilling {d.student} ({_count(v['student_params'])} parameters) from "
             f"{d.teacher} ({_count(v['teacher_params'])}) on "
             f"{_tokens_words(v['distill_tokens'])}",
             *(["figures marked * are hypothetical: they rest on a part that does not fit in "
                "memory (see the notes) and are what it would give if it fit"] if hyp else []),
             "",
             f"making it on {d.devices} x {d.accelerator} at "
             f"{format_value(d.student_training['price_usd_per_hour'], 'USD/h')} per device:"]
    rows = [["", "plan", "wall clock", "device-hours", "cost", "energy"]]
    for label, key, e in (("teacher targets (forward only)", "teacher_pass", d.teacher_pass),
                          ("student training", "student_training", d.student_training)):
        rows.append([label, _plan_text(e)] + [
            _f(v[f"{key}_{q}"], unit, f"{key}_{q}") for q, unit in
            (("s", "s"), ("device_hours", ""), ("cost_usd", "USD"), ("energy_j", "J"))])
    rows.append(["total", ""] + [
        _f(v[f"making_{q}"], unit, f"making_{q}") for q, unit in
        (("s", "s"), ("device_hours", ""), ("cost_usd", "USD"), ("energy_j", "J"))])
    lines += _rows(rows)
    w = d.student_serving.scenario.workload
    lines += ["", f"serving on {d.serve_accelerator}: prompt {w.prompt_tokens}, output "
                  f"{w.output_tokens} tokens per sequence"]
    rows = [["", "devices", "batch", "throughput", "per million tokens", "energy per token"]]
    for who in ("teacher", "student"):
        e = getattr(d, f"{who}_serving")
        rows.append([f"{who} ({getattr(d, who)})",
                     f"{int(v[f'{who}_serve_devices'])} ({_plan_text(e)})",
                     str(e.scenario.workload.batch),
                     _f(v[f"{who}_throughput_tokens_per_s"], "tokens/s",
                        f"{who}_throughput_tokens_per_s"),
                     _f(v[f"{who}_cost_per_mtok_usd"], "USD", f"{who}_cost_per_mtok_usd"),
                     _f(v[f"{who}_energy_per_token_j"], "J", f"{who}_energy_per_token_j")])
    lines += _rows(rows)
    saving = v["saving_per_mtok_usd"]
    lines.append("")
    if v["break_even_tokens"] is None:
        lines.append("break-even: never — " + d.never_reason)
    else:
        ratio = v["teacher_cost_per_mtok_usd"] / v["student_cost_per_mtok_usd"]
        mark = " *" if "saving_per_mtok_usd" in hyp else ""
        lines.append(f"the student saves {_usd(saving)}{mark} per million tokens served "
                     f"({ratio:.3g}x cheaper than the teacher)")
        mark = " *" if "break_even_tokens" in hyp else ""
        lines.append(f"break-even: after {_tokens_words(v['break_even_tokens'])}{mark} served, "
                     f"{_f(v['break_even_serving_s'], 's', 'break_even_serving_s')} of one "
                     f"busy student copy")
    for note in d.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _rows(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        out.append("  " + "  ".join(cells).rstrip())
    return out
