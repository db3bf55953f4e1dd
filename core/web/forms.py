"""The forms of the web page, as a table: each command's fields and the CLI flag each one
fills. A form's input becomes the command line the CLI would parse, so the page and the API
take exactly what the CLI takes and answer bad input with the CLI's own messages."""

from __future__ import annotations

import contextlib
import io
from typing import Any, Mapping, NamedTuple

from ..errors import RidgelineError, ScenarioError


class Field(NamedTuple):
    name: str
    """The form's (and the JSON API's) key."""
    flag: str
    """The CLI flag it fills ('' for the positional model)."""
    label: str
    default: str = ""
    kind: str = "text"
    """``text``, ``choice`` (``choices`` lists them) or ``switch``."""
    choices: tuple = ()


class Form(NamedTuple):
    command: str
    title: str
    fields: tuple
    chart: str
    """Which chart the page draws: ``roofline``, ``serving``, ``training`` or ``plan``."""
    words: tuple = ()
    """The CLI's words for the command when they are not just ``command`` (``plan train``)."""


_PLACEMENT = (Field("model", "", "model", "llama-3.1-8b"),
              Field("on", "--on", "accelerator", "h100"),
              Field("devices", "--devices", "devices"),
              Field("tp", "--tp", "tensor parallel", "1"),
              Field("pp", "--pp", "pipeline parallel", "1"))
_PRECISION = (Field("weights", "--weights", "weight precision"),
              Field("kv", "--kv", "KV-cache precision"),
              Field("activations", "--activations", "activation precision"))
_COSTS = (Field("price", "--price", "price per device-hour"),)

#: every form the page shows, by command; a new search (a plan form) is one more entry.
FORMS: dict[str, Form] = {
    "infer": Form("infer", "A static batch (ridgeline infer)", _PLACEMENT + (
        Field("batch", "--batch", "batch", "1"),
        Field("prompt", "--prompt", "prompt tokens", "512"),
        Field("output", "--output", "output tokens", "256")) + _PRECISION + _COSTS,
        "roofline"),
    "serve": Form("serve", "A deployment serving traffic (ridgeline serve)", _PLACEMENT + (
        Field("prompt", "--prompt", "prompt tokens", "512"),
        Field("output", "--output", "output tokens", "256"),
        Field("concurrency", "--concurrency", "requests in flight"),
        Field("rate", "--rate", "requests per second"),
        Field("users", "--users", "users"),
        Field("ttft", "--ttft", "TTFT target"),
        Field("tpot", "--tpot", "TPOT target"),
        Field("max_batch", "--max-batch", "max batch")) + _PRECISION + _COSTS, "serving"),
    "train": Form("train", "A training run (ridgeline train)", _PLACEMENT + (
        Field("dp", "--dp", "data parallel"),
        Field("micro_batch", "--micro-batch", "micro-batch", "1"),
        Field("global_batch", "--global-batch", "global batch", "512"),
        Field("seq", "--seq", "sequence length", "2048"),
        Field("tokens", "--tokens", "training tokens", "1B"),
        Field("precision", "--precision", "precision"),
        Field("zero", "--zero", "ZeRO stage", "0", "choice", ("0", "1", "2", "3")),
        Field("recompute", "--recompute", "recomputation", "none", "choice",
              ("none", "selective", "full"))) + _COSTS, "training"),
    "plan-train": Form("plan-train", "The best training plan (ridgeline plan train)", (
        Field("model", "", "model", "llama-3.1-8b"),
        Field("on", "--on", "accelerators (comma-separated)", "h100,a100"),
        Field("devices", "--devices", "devices", "64"),
        Field("seq", "--seq", "sequence length", "2048"),
        Field("global_batch", "--global-batch", "global batch", "512"),
        Field("tokens", "--tokens", "training tokens", "100B"),
        Field("by", "--by", "rank by", "step", "choice", ("step", "wall", "cost", "energy")),
        Field("top", "--top", "plans shown", "10")), "plan", ("plan", "train")),
    "plan-serve": Form("plan-serve", "The best deployment (ridgeline plan serve)", (
        Field("model", "", "model", "llama-3.1-8b"),
        Field("on", "--on", "accelerators (comma-separated, or all)", "h100,a100"),
        Field("devices", "--devices", "devices", "8"),
        Field("prompt", "--prompt", "prompt tokens", "1000"),
        Field("output", "--output", "output tokens", "250"),
        Field("ttft", "--ttft", "TTFT target"),
        Field("tpot", "--tpot", "TPOT target"),
        Field("rate", "--rate", "requests per second"),
        Field("by", "--by", "rank by", "throughput", "choice", ("throughput", "cost")),
        Field("top", "--top", "plans shown", "5")), "plan", ("plan", "serve")),
}

#: the forms whose result is a plan search (a ranked list), not one estimate.
PLAN_FORMS = ("plan-train", "plan-serve")


def argv(command: str, values: Mapping[str, Any]) -> list[str]:
    """The command line a form's values stand for; empty fields are left out (the CLI's
    defaults apply), unknown keys are an error."""
    form = FORMS.get(command)
    if form is None:
        raise ScenarioError(f"command: expected one of {', '.join(FORMS)}, got {command!r}")
    known = {f.name: f for f in form.fields}
    unknown = sorted(set(values) - set(known) - {"quantity"})
    if unknown:
        raise ScenarioError(f"{command}: unknown field(s) {', '.join(unknown)}; expected "
                            f"some of {', '.join(known)}")
    out = list(form.words or (command,))
    for f in form.fields:
        value = values.get(f.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, (dict, list, tuple)):
            raise ScenarioError(f"{f.name}: expected a number or text, got {value!r}")
        text = str(value).strip()
        if f.flag:
            out.append(f"{f.flag}={text}")
        else:
            out.append(text)
    return out


def parse(command: str, values: Mapping[str, Any], registry: tuple = ()):
    """The CLI's parsed arguments for a form; argparse's complaint becomes a ScenarioError
    with the CLI's own wording."""
    from ..cli import make_parser
    parser = make_parser()
    words = argv(command, values)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(words)
    except SystemExit:
        message = err.getvalue().strip().removeprefix("ridgeline: ")
        message = message.split(" (see '")[0] or "the form's values are not valid"
        raise ScenarioError(message) from None
    args.registry = list(registry)
    args.json = True
    return args


def run(command: str, values: Mapping[str, Any], catalog, registry: tuple = ()):
    """The estimate a form asks for and the CLI's ``--json`` payload of it."""
    from .. import commands
    args = parse(command, values, registry)
    if command == "plan-train":
        from ..planning import plan_train
        return None, plan_train(args.model, on=args.on, devices=args.devices, seq=args.seq,
                                global_batch=args.global_batch, tokens=args.tokens,
                                by=args.by, top=args.top, catalog=catalog)
    if command == "plan-serve":
        from ..planning.serve import plan_serve
        result = plan_serve(args.model, on=args.on, devices=args.devices, prompt=args.prompt,
                            output=args.output, ttft=args.ttft, tpot=args.tpot,
                            rate=args.rate, users=args.users, by=args.by, top=args.top,
                            catalog=catalog)
        return None, {k: v for k, v in result.items() if k != "fitting"}
    if command == "infer":
        from ..api import infer
        e = infer(args.model, catalog=catalog, **commands._infer_kwargs(args))
    elif command == "train":
        from ..api import train
        e = train(args.model, catalog=catalog, **commands._train_kwargs(args))
    else:
        from ..serving import serve
        kwargs = commands._serve_kwargs(args)
        kwargs.pop("disagg")
        e = serve(args.model, catalog=catalog, **kwargs)
    commands._estimable(e)
    return e, commands._estimate_json(e)


def chart_data(form: Form, e, payload: dict) -> dict:
    """What the page's chart draws, as plain numbers (the same as the ``--plot`` pictures)."""
    from .. import plot
    if form.command == "plan-train":
        return plot.plan_points(payload, "wall_clock_s", "cost_usd", (False, False),
                                "plan train")
    if form.command == "plan-serve":
        return plot.plan_points(payload, "tokens_per_s_per_user", "tokens_per_s_per_device",
                                (True, True), "plan serve")
    if form.chart == "roofline":
        return plot.roofline_points(payload)
    if form.chart == "serving":
        return plot.serve_points(e)
    return plot.train_points(payload)


def compare_rows(model: str, accelerators: list, serving: bool, kwargs: dict, columns: tuple,
                 catalog) -> list[dict]:
    """One model on each accelerator: whether it fits and the compared quantities."""
    from ..api import infer
    from ..serving import serve
    rows = []
    for acc in accelerators:
        accelerator = catalog.accelerator(acc)  # an unknown name is an error, with the known
        e = (serve if serving else infer)(model, on=accelerator.id, catalog=catalog, **kwargs)
        fits = bool(e["fits"]) if "fits" in e else False
        row = {"accelerator": accelerator.id, "fits": fits}
        for _, quantity, _, _ in columns:
            row[quantity] = float(e[quantity]) if fits and quantity in e else None
        rows.append(row)
    return rows


def error_text(exc: Exception) -> str:
    return str(exc) if isinstance(exc, RidgelineError) else \
        f"internal error: {type(exc).__name__}: {exc}"


__all__ = ["FORMS", "PLAN_FORMS", "Field", "Form", "argv", "parse", "run", "chart_data", "compare_rows",
           "error_text"]
