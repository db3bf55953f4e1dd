"""``ridgeline validate``: estimates against published measurements.

Every case of a validation file (default: the public set shipped in
``ridgeline/registry/validation/public.toml``) that ridgeline can express is estimated with
the published setup, and compared: the error is ``estimated / published - 1``. Cases it cannot
express yet are listed with the reason. Nothing is fitted case by case: every case runs with
the registry's efficiency factors.

What is compared, per section:

- ``param_count``: the exact parameter count (``total_params_derived``).
- ``training_run``: step time. Megatron's cases publish achieved TFLOP/s per GPU under their
  own FLOP formula (``96·B·s·l·h²·(1 + s/6h + V/16lh)`` per iteration, recomputation
  included), so the published step time is that formula / (TFLOP/s x GPUs); PaLM publishes
  tokens per second.
- ``inference_run``: generated tokens per second (``throughput_tokens_per_s`` for static
  batches, ``tokens_per_s_per_user`` at batch 1).
"""

from __future__ import annotations

import math
import statistics
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable, Optional

from .catalog import Catalog, default_catalog
from .errors import RegistryError, RidgelineError
from .loader import read_toml
from .model import Model

# Published names -> registry presets.
_PRESETS = {"gpt2": "gpt2", "opt-350m": "opt-350m", "GPT-3 175B": "gpt3-175b",
            "Llama-2-7b": "llama-2-7b", "Llama-2-70b": "llama-2-70b",
            "LLaMA 7B (Llama-2-7b)": "llama-2-7b", "Llama-2-7B": "llama-2-7b",
            "Llama-2-70B": "llama-2-70b", "Mixtral-8x7B-v0.1": "mixtral-8x7b"}

_ACCELERATORS = {"A100-SXM4-80GB": "nvidia-a100-sxm4-80gb", "A100-SXM-80GB": "nvidia-a100-sxm4-80gb",
                 "A100-80GB": "nvidia-a100-sxm4-80gb", "H100-SXM-80GB": "nvidia-h100-sxm",
                 "TPU v4": "google-tpu-v4"}


class CannotExpress(Exception):
    """A case ridgeline cannot estimate yet; the message says why."""


def _accelerator(text: str) -> str:
    for key, value in _ACCELERATORS.items():
        if text.startswith(key):
            return value
    raise CannotExpress(f"accelerator {text!r} is not mapped to a registry entry")


def _param_case(case: dict, catalog: Catalog) -> dict:
    from .api import resolve_model
    from .engine import compile_program
    preset = _PRESETS.get(case["name"])
    if preset is None:
        raise CannotExpress(f"no preset for {case['name']!r}")
    model = resolve_model(preset, catalog)
    program = compile_program(catalog, (model.family, "", "", model.features()), ("params",))
    estimated = program.run({"model": model})["params"]
    return {"metric": "params", "published": case["total_params_derived"],
            "estimated": estimated, "command": f"ridgeline show {preset}"}


def megatron_gpt(case: dict) -> Model:
    """A GPT model as Megatron-LM's scaling runs define it: GPT-2 layout, d_ff = 4h."""
    h = case["hidden_size"]
    return Model(id="megatron-gpt-" + str(case.get("model_params_billion", "x")).lower() + "b",
                 vocab_size=case["vocab_size"], hidden_size=h, num_layers=case["num_layers"],
                 num_heads=case["num_attention_heads"], intermediate_size=4 * h, mlp="plain",
                 bias="all", tie_embeddings=True, positions="learned", norm="layernorm",
                 max_seq_len=case["seq_len"], weights_dtype="fp16", activations_dtype="fp16",
                 kv_dtype="fp16")


def _megatron_case(case: dict, catalog: Catalog) -> dict:
    from .api import train
    model = megatron_gpt(case)
    B, s, l, h, V = (case["global_batch_size_sequences"], case["seq_len"], case["num_layers"],
                     case["hidden_size"], case["vocab_size"])
    flops = 96.0 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
    published_step_s = flops / (case["achieved_tflops_per_gpu"] * 1e12 * case["num_gpus"])
    kwargs = dict(on=_accelerator(case["gpu"]), tp=case["tensor_parallel"],
                  pp=case["pipeline_parallel"], dp=case["data_parallel"], micro_batch=1,
                  global_batch=B, seq=s, tokens=B * s, recompute="full", attention="unfused")
    e = train(model, quantities=["step_s"], catalog=catalog, **kwargs)
    return {"metric": "step_s", "published": published_step_s, "estimated": e["step_s"],
            "assumptions": "micro-batch 1, full recomputation (as Megatron's FLOP count "
                           "implies), plain 1F1B, unfused attention (the paper predates "
                           "FlashAttention)",
            "command": _train_command(model, kwargs)}


def palm_540b(catalog: Optional[Catalog] = None) -> Model:
    """PaLM 540B (Chowdhery et al. 2022, Table 1), the registry preset ``palm-540b``: SwiGLU,
    multi-query attention with 256-wide heads, d_ff = 4h, shared input/output embeddings, no
    biases, one norm per parallel layer."""
    return (catalog or default_catalog()).model("palm-540b")


def _palm_case(case: dict, catalog: Catalog) -> dict:
    """PaLM's published setup (section 4): per pod 12-way model (tensor) parallelism x 256-way
    fully sharded data parallelism, two pods joined by data parallelism over the data-centre
    network; every layer's activations rematerialised in the backward pass; parallel layers
    (section 2), hence one tensor-parallel all-reduce per layer instead of two."""
    from .api import train
    model = palm_540b(catalog)
    tp = 12  # "12-way model parallelism" (section 4); the case gives it only in prose
    kwargs = dict(on=_accelerator(case["accelerator"]), tp=tp, dp=case["num_chips"] // tp,
                  micro_batch=1, global_batch=case["throughput_at_batch_sequences"],
                  seq=case["seq_len"], tokens=case["tokens_trained"], zero=3,
                  recompute="full")
    e = train(model, quantities=["tokens_per_s"], catalog=catalog, **kwargs)
    return {"metric": "tokens_per_s", "published": case["throughput_tokens_per_s"],
            "estimated": e["tokens_per_s"],
            "assumptions": "12-way tensor x 256-way fully sharded data parallel per pod "
                           "(ZeRO-3 within a pod), 2 pods over the DCN; rematerialisation as "
                           "full recomputation; parallel layers (the preset): 1 all-reduce "
                           "per layer; "
                           "micro-batch 1 (4 per replica per step: the paper does not say "
                           "how each replica's 4 sequences were split)",
            "command": f"ridgeline train {model.id} " + _flags(
                {k: v for k, v in kwargs.items() if k != "tokens"})}


def _training_case(case: dict, catalog: Catalog) -> dict:
    if "achieved_tflops_per_gpu" in case and "tensor_parallel" in case:
        return _megatron_case(case, catalog)
    if case.get("accelerator") == "TPU v4" and "throughput_tokens_per_s" in case:
        return _palm_case(case, catalog)
    raise CannotExpress("the parallel plan (tensor degree, micro-batch) is not published, and "
                        "the figure is a maximum, not a measured step time")


# Cerebras inference claims: published model names -> presets, system names -> registry ids.
_WAFER_PRESETS = {"Llama-3.1-8B": "llama-3.1-8b", "Llama-3.1-70B": "llama-3.1-70b"}
_WAFER_SYSTEMS = {"Cerebras CS-3": "cerebras-wse3-cs3", "Cerebras CS-2": "cerebras-wse2-cs2"}


def _wafer_scale_case(case: dict, catalog: Catalog) -> dict:
    """A per-user decode speed on Cerebras systems: batch 1, 16-bit weights, as many systems
    as the case states or, when it does not, as the weights need (``devices_needed``).
    Prompt and output lengths are not published: the defaults (512 and 256 tokens) are used;
    at batch 1 the decode speed hardly depends on them."""
    from .api import infer
    preset = _WAFER_PRESETS.get(case.get("model", ""))
    if preset is None:
        raise CannotExpress(f"no preset for {case.get('model')!r}")
    system = next((v for k, v in _WAFER_SYSTEMS.items()
                   if case.get("accelerator", "").startswith(k)), None)
    if system is None:
        raise CannotExpress(f"accelerator {case.get('accelerator')!r} is not mapped to a "
                            f"registry entry")
    if "tokens_per_s_per_user" not in case:
        raise CannotExpress("only per-user decode speeds are compared on wafer-scale systems")
    kwargs = dict(on=system, devices=case.get("num_systems"), batch=1, weights="bf16",
                  kv="bf16", activations="bf16")
    e = infer(preset, quantities=["tokens_per_s_per_user"], catalog=catalog, **kwargs)
    return {"metric": "tokens_per_s_per_user", "published": case["tokens_per_s_per_user"],
            "estimated": e["tokens_per_s_per_user"],
            "assumptions": f"batch 1, prompt 512 and output 256 tokens (not published), "
                           f"{e.scenario.system.devices} system(s)"
                           + ("" if case.get("num_systems") else " (devices_needed)"),
            "command": "ridgeline infer " + preset + " " + _flags(kwargs)}


def _inference_case(case: dict, catalog: Catalog) -> dict:
    from .api import infer
    if case.get("scenario") in ("Offline", "Server"):
        raise CannotExpress("MLPerf runs in-flight batching over a dataset whose input and "
                            "output lengths are not given here; ridgeline serve would need "
                            "them")
    if "Cerebras" in case.get("accelerator", ""):
        return _wafer_scale_case(case, catalog)
    preset = _PRESETS.get(case.get("model", ""))
    if preset is None:
        raise CannotExpress(f"no preset for {case.get('model')!r}")
    precision = case.get("precision", "bf16").lower()
    kwargs = dict(on=_accelerator(case["accelerator"]), tp=case.get("tensor_parallel", 1),
                  batch=case["batch_size"], prompt=case["input_len_tokens"],
                  output=case.get("output_len_tokens", 200), weights=precision, kv=precision,
                  activations=precision)
    if case["batch_size"] == 1 and "ms_per_token" in case:
        e = infer(preset, quantities=["tokens_per_s_per_user"], catalog=catalog, **kwargs)
        metric, estimated = "tokens_per_s_per_user", e["tokens_per_s_per_user"]
    else:
        e = infer(preset, quantities=["throughput_tokens_per_s"], catalog=catalog, **kwargs)
        metric, estimated = "throughput_tokens_per_s", e["throughput_tokens_per_s"]
    published = case["tokens_per_s"]
    if "tok/s/GPU" in case.get("unit_note", ""):
        published *= kwargs["tp"]  # the later document labels the column per GPU
    return {"metric": metric, "published": published, "estimated": estimated,
            "command": "ridgeline infer " + preset + " " + _flags(kwargs)}


def _flags(kwargs: dict) -> str:
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in kwargs.items()
                    if v not in (None, False))


def _train_command(model: Model, kwargs: dict) -> str:
    return f"ridgeline train <{model.id}: see ridgeline.validate> " + _flags(
        {k: v for k, v in kwargs.items() if k != "tokens"})


def _command_case(case: dict, catalog: Catalog) -> dict:
    """A case written as a command line (``args``, with ``{cfg}`` for the folder of the
    case's ``config`` table as a ``config.json``), compared on ``values[metric]`` of its
    ``--json`` output."""
    import contextlib
    import io
    import json
    import tempfile
    from .cli import main
    args, metric, published = list(case["args"]), case["metric"], float(case["expected"])
    with tempfile.TemporaryDirectory() as folder:
        if "config" in case:
            (Path(folder) / "config.json").write_text(json.dumps(case["config"]))
        argv = [str(a).replace("{cfg}", folder) for a in args] + ["--json"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as exc:  # argparse refuses the case's arguments
                status = exc.code or 2
    if status:
        raise CannotExpress(err.getvalue().strip().removeprefix("ridgeline: ") or
                            f"the command exited with status {status}")
    values = json.loads(out.getvalue())["values"]
    if metric not in values:
        raise CannotExpress(f"the command gives no {metric}")
    shown = ["ridgeline"] + [("<config of the case>" if "{cfg}" in str(a) else str(a))
                             for a in args]
    return {"metric": metric, "published": published, "estimated": float(values[metric]),
            "command": " ".join(shown)}


_HANDLERS: dict[str, Callable[[dict, Catalog], dict]] = {
    "param_count": _param_case, "training_run": _training_case,
    "inference_run": _inference_case, "case": _command_case}


def default_file():
    return files("ridgeline.registry") / "validation" / "public.toml"


#: the sets ``ridgeline validate`` runs without a file: measurements of static batches and
#: training, then in-flight serving, then fine-tuning.
DEFAULT_SETS = ("public", "serving-public", "finetune-public")


def shipped_sets() -> list[str]:
    """Names of the validation sets shipped with ridgeline (``public``, ``vendor``)."""
    return sorted(p.name[:-5] for p in (files("ridgeline.registry") / "validation").iterdir()
                  if p.name.endswith(".toml"))


def _shipped(path: str | Path):
    """A validation file by path, or a shipped set by name (``vendor``)."""
    text = str(path)
    if not text.endswith(".toml") and not Path(text).exists() and text in shipped_sets():
        return files("ridgeline.registry") / "validation" / f"{text}.toml"
    return Path(path)


def run_validation(path: Optional[str | Path] = None, *,
                   catalog: Optional[Catalog] = None, progress: bool = False) -> dict:
    """Estimate every expressible case; return cases, unexpressible ones and per-section errors.

    Without ``path``, every set of :data:`DEFAULT_SETS` is run."""
    catalog = catalog or default_catalog()
    sources = [_shipped(path)] if path else [_shipped(name) for name in DEFAULT_SETS]
    cases, skipped = [], []
    for source in sources:
        _run_file(source, catalog, progress, cases, skipped)
    summary = {}
    for section in dict.fromkeys(c["section"] for c in cases):
        errors = [abs(c["error"]) for c in cases if c["section"] == section]
        worst = max((c for c in cases if c["section"] == section), key=lambda c: abs(c["error"]))
        summary[section] = {"cases": len(errors),
                            "median_abs_error": statistics.median(errors),
                            "worst_abs_error": abs(worst["error"]), "worst_case": worst["name"]}
    return {"file": ", ".join(str(s) for s in sources), "cases": cases,
            "cannot_express": skipped, "summary": summary}


def _run_file(source, catalog: Catalog, progress: bool, cases: list, skipped: list) -> None:
    data = read_toml(source)
    kinds = [s for s in _HANDLERS if s in data]
    if not kinds:
        raise RegistryError(str(source), f"no section of {', '.join(_HANDLERS)} found")
    for kind in kinds:
        entries = data[kind]
        if not isinstance(entries, list):
            raise RegistryError(str(source), f"{kind}: expected an array of tables")
        for i, case in enumerate(entries):
            if not isinstance(case, dict):
                raise RegistryError(str(source), f"{kind}[{i}]: expected a table")
            # command-line cases name their own section and go by their id
            section = str(case.get("section", kind)) if kind == "case" else kind
            name = str(case.get("name", case.get("id", f"{kind}[{i}]")))
            if progress:
                print(f"  {section}: {name}", file=sys.stderr)
            try:
                result = _HANDLERS[kind](case, catalog)
            except CannotExpress as exc:
                skipped.append({"section": section, "name": name, "reason": str(exc)})
                continue
            except (KeyError, TypeError, ValueError) as exc:
                skipped.append({"section": section, "name": name,
                                "reason": f"case lacks or mistypes a field: {exc}"})
                continue
            except RidgelineError as exc:
                skipped.append({"section": section, "name": name, "reason": str(exc)})
                continue
            published = result["published"]
            if isinstance(published, bool) or not isinstance(published, (int, float)) or \
                    not math.isfinite(published) or published <= 0:
                skipped.append({"section": section, "name": name, "reason": f"the published "
                                f"figure must be a finite number > 0, got {published!r:.40}"})
                continue
            result["error"] = result["estimated"] / published - 1.0
            cases.append({"section": section, "name": name, **result})


def report(result: dict) -> str:
    from .units import format_value, unit_of
    lines = [f"validation set: {result['file']}", ""]
    for section in dict.fromkeys(c["section"] for c in result["cases"]):
        lines.append(f"[{section}]")
        for c in (c for c in result["cases"] if c["section"] == section):
            unit = unit_of(c["metric"])
            lines.append(f"  {c['error']:+7.1%}  {c['name']}")
            lines.append(f"           {c['metric']}: published {format_value(c['published'], unit, 5)}"
                         f", estimated {format_value(c['estimated'], unit, 5)}")
        s = result["summary"][section]
        lines.append(f"  median |error| {s['median_abs_error']:.1%}, worst {s['worst_abs_error']:.1%}"
                     f" ({s['worst_case']}), {s['cases']} cases")
        lines.append("")
    if result["cannot_express"]:
        lines.append("cannot express yet:")
        for c in result["cannot_express"]:
            lines.append(f"  [{c['section']}] {c['name']}: {c['reason']}")
    return "\n".join(lines)
