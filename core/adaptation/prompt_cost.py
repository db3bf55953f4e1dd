"""``prompt_cost()``: what extra prompt tokens (instructions, few-shot examples) cost to serve,
and after how many requests an adaptation that removes them pays for itself.

The same model is served twice on the same hardware under the same traffic, with and without
the ``extra_prompt`` tokens (:func:`ridgeline.serve`: in-flight batching, a paged KV cache).
The extra tokens are extra prefill work, extra KV cache per sequence (so fewer sequences in
flight) and longer attention reads while decoding. A request's cost is the deployment's cost
per hour over the requests it completes per hour:

- with no load given, each deployment is busy (saturation): the cost is a request's share of
  a replica that is never idle, the marginal cost of capacity;
- with a ``rate``, ``serve`` sizes each deployment for it (whole replicas): the extra tokens
  cost money only when they need more replicas, and otherwise cost latency only;
- with a ``concurrency``, that many requests are in flight in each.

An adaptation that removes the tokens (the behaviour the instructions asked for is trained
into the model instead) costs once:

- ``full``, ``lora``, ``qlora``: :func:`ridgeline.finetune` over ``tune_tokens`` on
  ``tune_devices`` (full fine-tuning with ZeRO-3); the adapted model is
  served as the base (the adapter merged into the weights), so its serving cost is the base's
  without the extra tokens;
- ``distill_into=STUDENT``: :func:`ridgeline.distill` of the model into the student over
  ``tune_tokens``; the student is then served without the extra tokens.

``break_even_requests = adaptation_cost_usd / saving_per_request_usd``: requests after which
the adaptation paid for itself; ``None`` when it saves nothing per request. Whether the
adapted model follows the instructions as well as the prompt did is not an estimate this
makes.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

from attrs import field, frozen

from ..api import _accelerator, _positive_int, resolve_model
from ..errors import ScenarioError
from ..serving import serve
from ..units import format_value, parse_count, unit_of
from ..errors import in_stage as _stage
from .figures import Figures, figures_field, parts_field, sources_field

__all__ = ["prompt_cost", "PromptCost", "METHODS", "adaptation_cost"]

METHODS = ("full", "lora", "qlora")

_SERVE_Q = ("requests_per_s", "deployment_usd_per_hour", "replicas", "batch", "ttft_s",
            "tpot_s", "kv_cache_capacity_tokens", "fits", "throughput_tokens_per_s",
            "price_usd_per_hour")


@frozen
class PromptCost(Figures):
    """Serving with and without the extra prompt, the adaptations that remove it, and their
    break-even. Figures in :attr:`values` (SI units, the unit in each name); the engine's
    estimates behind them in :attr:`parts`; :meth:`explain` says where each comes from."""

    model: str
    accelerator: str
    values: Mapping[str, Any] = figures_field()
    parts: Mapping[str, Any] = parts_field()
    sources: Mapping[str, tuple] = sources_field()
    notes: tuple[str, ...] = field(default=(), converter=tuple)
    figure_kind = "prompt-cost figure"

    def to_dict(self) -> dict:
        return {"model": self.model, "accelerator": self.accelerator,
                "values": dict(self.values), "units": {k: unit_of(k) for k in self.values},
                "sources": self.sources_dict(), "notes": list(self.notes)}

    def report(self) -> str:
        return prompt_cost_report(self)


def _tokens(value: Any, what: str) -> int:
    try:
        number = parse_count(value, what=what)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not math.isfinite(number) or number != int(number) or number < 1:
        raise ScenarioError(f"{what} must be a whole number of tokens >= 1 (3000, 50M), got "
                            f"{value!r}")
    return int(number)



def adaptation_cost(method: str, model, *, on, devices, tokens: int, seq, catalog,
                    price=None) -> tuple[float, Any, str]:
    """Cost in USD of adapting ``model`` by ``method`` over ``tokens`` tokens, the estimate
    behind it, and the quantity read from it. Full fine-tuning is priced with
    :func:`ridgeline.finetune` for every method (full fine-tuning is the training model
    over the tokens)."""
    if type(method) is not str or method not in METHODS:
        raise ScenarioError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    from ..finetuning import finetune
    seq_len = _positive_int(seq, "tune seq")
    # full fine-tuning shards its optimizer state (ZeRO-3) as the training route does
    e = finetune(model, on=on, devices=devices, seq=seq_len, tokens=tokens, method=method,
                 global_batch=_global_batch(devices, tokens, seq_len),
                 zero=3 if method == "full" else 0, price=price, catalog=catalog)
    return float(e["cost_usd"]), e, "cost_usd"


def _global_batch(devices: int, tokens: int, seq_len: int) -> int:
    """Sequences per step for a fine-tune: about 1M tokens per step as Llama-scale
    fine-tunes use (a multiple of the devices), and no more sequences than the tokens hold."""
    n = _positive_int(devices, "tune devices")
    per_step = max(1, min(tokens // seq_len, (1 << 20) // seq_len))
    return max(n, (per_step // n) * n)


def _per_request_usd(e) -> float:
    return float(e["deployment_usd_per_hour"]) / 3600.0 / float(e["requests_per_s"])


def prompt_cost(model, *, on, prompt: Any, output: Any, extra_prompt: Any, tp: Any = 1,
                devices: Any = None, rate: Any = None, concurrency: Any = None,
                weights: Optional[str] = None, kv: Optional[str] = None, price: Any = None,
                tune_tokens: Any = None, method: str = "full", tune_on=None,
                tune_devices: Any = 8, tune_seq: Any = 2048, distill_into=None,
                catalog=None) -> PromptCost:
    """The cost of ``extra_prompt`` tokens on every request, and the break-even of removing
    them by a fine-tune (``method``) or a distillation (``distill_into``) over
    ``tune_tokens`` tokens. See the module's text for what is assumed."""
    from ..catalog import default_catalog
    catalog = catalog or default_catalog()
    base = _tokens(prompt, "prompt")
    extra = _tokens(extra_prompt, "extra prompt")
    out = _tokens(output, "output")
    if type(method) is not str or method not in METHODS:
        raise ScenarioError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    m = resolve_model(model, catalog)
    acc = _accelerator(on, catalog)
    kwargs = dict(on=acc, tp=tp, devices=devices, output=out, rate=rate,
                  concurrency=concurrency, weights=weights, kv=kv, price=price,
                  quantities=_SERVE_Q, catalog=catalog)
    with_extra = _stage("serving with the extra prompt", serve, m, prompt=base + extra,
                        **kwargs)
    without = _stage("serving without it", serve, m, prompt=base, **kwargs)

    v: dict[str, Any] = {"prompt_tokens": float(base), "extra_prompt_tokens": float(extra),
                         "output_tokens": float(out)}
    src: dict[str, tuple] = {name: ("as given", None, None) for name in v}
    for key, e in (("with", with_extra), ("without", without)):
        v[f"{key}_cost_per_request_usd"] = _per_request_usd(e)
        src[f"{key}_cost_per_request_usd"] = (
            "deployment_usd_per_hour / 3600 / requests_per_s", f"serving_{key}",
            "requests_per_s")
        v[f"{key}_requests_per_s"] = float(e["requests_per_s"])
        src[f"{key}_requests_per_s"] = ("requests the deployment completes per second",
                                        f"serving_{key}", "requests_per_s")
        v[f"{key}_batch"] = float(e["batch"])
        src[f"{key}_batch"] = ("sequences in flight per replica", f"serving_{key}", "batch")
        v[f"{key}_ttft_s"] = float(e["ttft_s"])
        src[f"{key}_ttft_s"] = ("time to the first token", f"serving_{key}", "ttft_s")
        v[f"{key}_serving_devices"] = float(e.scenario.system.devices)
        src[f"{key}_serving_devices"] = ("devices of the deployment", None, None)
        v[f"{key}_fits"] = bool(e["fits"])
        src[f"{key}_fits"] = ("whether a replica's memory holds it", f"serving_{key}", "fits")
    v["extra_cost_per_request_usd"] = (v["with_cost_per_request_usd"]
                                       - v["without_cost_per_request_usd"])
    src["extra_cost_per_request_usd"] = ("with_cost_per_request_usd - "
                                         "without_cost_per_request_usd", None, None)
    v["extra_cost_per_mtok_usd"] = v["extra_cost_per_request_usd"] / out * 1e6
    src["extra_cost_per_mtok_usd"] = (f"extra_cost_per_request_usd / {out} output tokens x "
                                      f"1e6: per million output tokens", None, None)
    parts: dict = {"serving_with": with_extra, "serving_without": without}
    notes: list[str] = []
    if rate is not None and v["extra_cost_per_request_usd"] <= 0:
        notes.append(f"at {v['with_requests_per_s']:.3g} requests/s both deployments need the "
                     f"same devices: the extra prompt costs latency (time to first token "
                     f"{format_value(v['with_ttft_s'], 's')} instead of "
                     f"{format_value(v['without_ttft_s'], 's')}), not money")

    if tune_tokens is not None:
        t_tokens = _tokens(tune_tokens, "tune tokens")
        t_acc = acc if tune_on is None else _accelerator(tune_on, catalog, what="tune on")
        t_devices = _positive_int(tune_devices, "tune devices")
        cost, e, q = _stage(f"{method} fine-tune", adaptation_cost, method, m, on=t_acc,
                            devices=t_devices, tokens=t_tokens, seq=tune_seq, catalog=catalog,
                            price=price)
        parts["fine_tune"] = e
        v["fine_tune_cost_usd"] = cost
        src["fine_tune_cost_usd"] = (f"{method} fine-tune over {t_tokens:,} tokens on "
                                     f"{t_devices} x {t_acc.id}", "fine_tune", q)
        v["fine_tune_fits"] = bool(e["fits"])
        src["fine_tune_fits"] = ("whether the fine-tune's memory fits", None, None)
        _break_even(v, src, "fine_tune", cost, v["extra_cost_per_request_usd"],
                    "extra_cost_per_request_usd")
        if not v["fine_tune_fits"]:
            notes.append(f"the {method} fine-tune does not fit on {t_devices} x {t_acc.id}: "
                         f"its cost is what it would be if it fit")
        if distill_into is not None:
            from ..distillation import distill
            d = _stage("distillation", distill, distill_into, teacher=m, tokens=t_tokens,
                       on=t_acc, devices=t_devices, zero=3, seq=tune_seq, price=price,
                       global_batch=_global_batch(t_devices, t_tokens,
                                                  _positive_int(tune_seq, "tune seq")),
                       catalog=catalog)
            student = _stage("serving the student", serve, d.student, prompt=base,
                             **{**kwargs, "tp": 1, "devices": None})
            parts["distillation"] = d
            parts["serving_student"] = student
            v["distill_cost_usd"] = float(d["making_cost_usd"])
            src["distill_cost_usd"] = (f"making {d.student} from {m.id}: the teacher's targets "
                                       f"and the student's training", "distillation",
                                       "making_cost_usd")
            v["student_cost_per_request_usd"] = _per_request_usd(student)
            src["student_cost_per_request_usd"] = (
                "the student's deployment_usd_per_hour / 3600 / requests_per_s, without the "
                "extra prompt", "serving_student", "requests_per_s")
            v["student_saving_per_request_usd"] = (v["with_cost_per_request_usd"]
                                                   - v["student_cost_per_request_usd"])
            src["student_saving_per_request_usd"] = (
                "with_cost_per_request_usd - student_cost_per_request_usd", None, None)
            _break_even(v, src, "distill", v["distill_cost_usd"],
                        v["student_saving_per_request_usd"], "student_saving_per_request_usd")
            v["distill_fits"] = bool(d["student_training_fits"]) and \
                bool(d["teacher_pass_fits"]) and bool(student["fits"])
            src["distill_fits"] = ("the teacher's pass, the student's training and its "
                                   "serving all fit", None, None)
    elif distill_into is not None:
        raise ScenarioError("distill_into needs tune_tokens (--tune-tokens): the tokens to "
                            "distil on")
    return PromptCost(model=m.id, accelerator=acc.id, values=v, parts=parts, sources=src,
                      notes=notes)


def _break_even(v, src, key, cost, saving, saving_name) -> None:
    requests = cost / saving if saving > 0 and math.isfinite(cost / saving) else None
    v[f"{key}_break_even_requests"] = requests
    src[f"{key}_break_even_requests"] = (f"{key}_cost_usd / {saving_name} (none when it saves "
                                         f"nothing)", None, None)
    rate = v["with_requests_per_s"]
    v[f"{key}_break_even_s"] = None if requests is None else requests / rate
    src[f"{key}_break_even_s"] = (f"{key}_break_even_requests / with_requests_per_s: how long "
                                  f"the deployment takes to serve them", None, None)


# --------------------------------------------------------------------------- the report


def _count(value: float) -> str:
    for scale, word in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{word}"
    return f"{value:.3g}"


def _duration(seconds: float) -> str:
    days = seconds / 86400.0
    if 120.0 <= seconds < 7200.0:  # format_value goes from seconds straight to hours
        return f"{seconds / 60.0:.3g} min"
    if days >= 2:
        return f"{days:.3g} days"
    return format_value(seconds, "s")


def prompt_cost_report(r: PromptCost) -> str:
    v = r.values
    usd = lambda x: format_value(x, "USD")  # noqa: E731
    lines = [f"{r.model} on {r.accelerator}: {int(v['prompt_tokens'])} prompt + "
             f"{int(v['extra_prompt_tokens'])} extra prompt tokens, {int(v['output_tokens'])} "
             f"output tokens per request", ""]
    rows = [("", "per request", "requests/s", "in flight", "TTFT", "devices")]
    for key, label in (("with", "with the extra prompt"), ("without", "without it")):
        rows.append((label, usd(v[f"{key}_cost_per_request_usd"]),
                     f"{v[f'{key}_requests_per_s']:.3g}", f"{v[f'{key}_batch']:.0f}",
                     format_value(v[f"{key}_ttft_s"], "s"),
                     f"{v[f'{key}_serving_devices']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.append("  " + row[0].ljust(widths[0]) + "  " + "  ".join(
            c.rjust(w) for c, w in zip(row[1:], widths[1:])))
    lines += ["", f"extra cost: {usd(v['extra_cost_per_request_usd'])} per request, "
                  f"{usd(v['extra_cost_per_mtok_usd'])} per million output tokens"]
    for key, label in (("fine_tune", "fine-tune"), ("distill", "distillation")):
        if f"{key}_cost_usd" not in v:
            continue
        requests = v[f"{key}_break_even_requests"]
        head = f"{label}: {usd(v[f'{key}_cost_usd'])} once; "
        if requests is None:
            lines.append(head + "never pays back (it saves nothing per request)")
        else:
            lines.append(head + f"pays back after {_count(requests)} requests "
                                f"({_duration(v[f'{key}_break_even_s'])} of this deployment)")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)
