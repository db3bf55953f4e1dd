"""What each ``ridgeline`` command does (loaded only once a command runs)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Iterable

import attrs

from .catalog import Catalog, build_catalog, default_catalog
from .errors import ScenarioError, UnknownNameError
from .loader import unstructure
from .units import format_value, unit_of


def run(args) -> int:
    if getattr(args, "plot", None):  # a bad file name costs nothing to find out
        from .plot import check_path
        check_path(args.plot)
    catalog = default_catalog(registry=tuple(args.registry))
    handler = {"accelerators": _accelerators, "models": _models, "formulas": _formulas,
               "plugins": _plugins, "show": _show, "infer": _infer, "train": _train,
               "explain": _explain, "validate": _validate, "distill": _distill,
               "serve": _serve, "plan": _plan, "finetune": _finetune, "rl": _rl,
               "prompt-cost": _prompt_cost, "compare": _compare, "web": _web}[args.command]
    return handler(args, catalog)


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _table(rows: list[list[str]], header: list[str], right: Iterable[int] = ()) -> str:
    right = set(right)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]

    def line(r):
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(cells).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _g(value, unit="", digits=3):
    return "-" if value is None else format_value(value, unit, digits)


# ---------------------------------------------------------------- listings


def _accelerators(args, catalog: Catalog) -> int:
    if args.json:
        _emit_json([{**unstructure(a), "provider": catalog.provider("accelerator", a.id)}
                    for a in catalog.accelerators.values()])
        return 0
    rows = []
    for a in catalog.accelerators.values():
        mem = a.main_memory
        peaks = a.peak_flops_per_s
        rows.append([a.id, a.kind, f"{mem.name} {format_value(mem.capacity_bytes, 'B')}",
                     _g(mem.bandwidth_bytes_per_s, "B/s"),
                     _g(peaks.get("bf16") or peaks.get("fp16"), "FLOP/s"),
                     _g(peaks.get("fp8"), "FLOP/s"), _g(a.power_w, "W"),
                     _g(a.price_usd_per_hour, "USD/h"), ", ".join(a.aliases)])
    print(_table(rows, ["id", "kind", "memory", "bandwidth", "bf16 dense", "fp8 dense",
                        "power", "price", "aliases"], right=(3, 4, 5, 6, 7)))
    print(f"\n{len(rows)} accelerators. Dense peaks (no sparsity). Details: ridgeline show ID")
    return 0


def _models(args, catalog: Catalog) -> int:
    from .engine import estimate  # noqa: F401  (params come from the dense plugin's formula)
    if getattr(args, "readers", False):
        return _readers(args, catalog)
    if args.json:
        _emit_json([{**unstructure(m), "provider": catalog.provider("model", m.id)}
                    for m in catalog.models.values()])
        return 0
    rows = []
    for m in catalog.models.values():
        rows.append([m.id, m.family, _params(m, catalog), m.num_layers, m.hidden_size,
                     f"{m.num_heads}/{m.kv_heads}", m.intermediate_size, m.vocab_size,
                     ", ".join(m.aliases)])
    print(_table(rows, ["id", "family", "params", "layers", "hidden", "heads/kv", "d_ff",
                        "vocab", "aliases"], right=(2, 3, 4, 6, 7)))
    print(f"\n{len(rows)} models. Details: ridgeline show ID")
    print(f"{len(catalog.config_readers)} model types are read from a config.json (infer, "
          f"train, serve and show take its path): ridgeline models --readers")
    return 0


def _reader_rows(catalog: Catalog) -> list[dict]:
    return [{"model_type": r.model_type, "family": r.family,
             "plugin": catalog.provider("config reader", r.model_type), "doc": r.doc}
            for r in catalog.config_readers.values()]


def _readers(args, catalog: Catalog) -> int:
    """The model types whose config.json can be read, by family and plugin."""
    rows = _reader_rows(catalog)
    if args.json:
        _emit_json(rows)
        return 0
    print(_table([[r["model_type"], r["family"], r["plugin"].removeprefix("ridgeline.plugins."),
                   r["doc"]] for r in rows], ["model_type", "family", "plugin", "what"]))
    print(f"\n{len(rows)} model types read from a config.json. Read one: "
          f"ridgeline show PATH/config.json")
    return 0


def _params(model, catalog) -> str:
    try:
        return format_value(_param_count(model, catalog), "", 4)
    except Exception:
        return "?"


def _param_count(model, catalog) -> float:
    from .engine import compile_program
    program = compile_program(catalog, (model.family, "", "", model.features()), ("params",))
    return program.run({"model": model})["params"]


def _formulas(args, catalog: Catalog) -> int:
    rows = []
    for quantity, formulas in catalog.formulas.items():
        for f in formulas:
            rows.append({"quantity": quantity, "unit": f.unit, "applies": f.applies.describe(),
                         "specificity": f.applies.specificity, "plugin": f.plugin,
                         "function": f.name, "needs": list(f.quantity_params()),
                         "doc": f.doc.splitlines()[0] if f.doc else ""})
    if args.json:
        _emit_json(rows)
        return 0
    print(_table([[r["quantity"], r["unit"], r["applies"], r["plugin"].removeprefix(
        "ridgeline.plugins."), r["doc"][:70]] for r in rows],
        ["quantity", "unit", "where", "plugin", "what"]))
    print(f"\n{len(rows)} formulas for {len(catalog.formulas)} quantities.")
    return 0


def _plugins(args, catalog: Catalog) -> int:
    data = [{"name": p.name, "distribution": p.distribution, "version": p.version,
             "hooks": list(p.hooks), "registered": {k: list(v) for k, v in p.registered.items()
                                                    if v}}
            for p in catalog.plugins]
    if args.json:
        _emit_json(data)
        return 0
    rows = []
    for p in data:
        what = "; ".join(f"{len(v)} {k}" for k, v in p["registered"].items()) or "-"
        rows.append([p["name"], p["distribution"], p["version"], what])
    print(_table(rows, ["plugin", "distribution", "version", "registered"]))
    return 0


def _show(args, catalog: Catalog) -> int:
    from .api import _looks_like_path, resolve_model
    name = args.name
    if _looks_like_path(name):  # a config.json or its folder, read as infer and train read it
        return _show_object(args, catalog, "model", resolve_model(name, catalog), name)
    for kind, getter in (("accelerator", catalog.accelerator), ("model", catalog.model)):
        try:
            obj = getter(name)
        except UnknownNameError:
            continue
        return _show_object(args, catalog, kind, obj)
    if name in catalog.config_readers:
        row = next(r for r in _reader_rows(catalog) if r["model_type"] == name)
        if args.json:
            _emit_json({**row, "object": "config reader"})
        else:
            _print_mapping({**row, "object": "config reader"})
        return 0
    if name in catalog.formulas:
        rows = [{"quantity": name, "unit": f.unit, "applies": f.applies.describe(),
                 "plugin": f.plugin, "function": f.name, "needs": list(f.quantity_params()),
                 "doc": f.doc} for f in catalog.formulas[name]]
        if args.json:
            _emit_json(rows)
        else:
            for r in rows:
                print(f"{r['quantity']} [{r['unit'] or '1'}] where {r['applies']}: "
                      f"{r['plugin']} {r['function']}")
                print(f"  needs: {', '.join(r['needs']) or '-'}")
                for line in r["doc"].splitlines():
                    print(f"  {line}")
        return 0
    if os.path.isdir(name) or os.path.isfile(name):  # a bare folder name that is no preset
        return _show_object(args, catalog, "model", resolve_model(name, catalog), name)
    known = list(catalog.accelerators) + list(catalog.models) + list(catalog.formulas)
    raise UnknownNameError("accelerator, model or quantity", name, known)


def _show_object(args, catalog: Catalog, kind: str, obj, path: str = "") -> int:
    provider = f"file {path}" if path else catalog.provider(kind, obj.id)
    data = {**unstructure(obj), "object": kind, "provider": provider}
    if path:
        data["read_by"] = _reader_of(path, catalog)
    if kind == "model":
        try:
            data["params"] = _param_count(obj, catalog)
        except Exception:
            pass
    if args.json:
        _emit_json(data)
    else:
        _print_mapping(data)
    return 0


def _reader_of(path: str, catalog: Catalog) -> str:
    """The config reader (and its plugin) that read the config at ``path``."""
    file = os.path.join(path, "config.json") if os.path.isdir(path) else path
    try:
        with open(file, encoding="utf-8") as f:
            model_type = json.load(f).get("model_type", "llama")
    except (OSError, ValueError, AttributeError):
        return "?"
    return f"{model_type} ({catalog.provider('config reader', str(model_type))})"


def _print_mapping(data: dict, indent: str = "", unit: str = "") -> None:
    """Print nested data; numbers in the unit their key names, or their parent's (the keys of
    ``peak_flops_per_s`` are precisions)."""
    for key, value in data.items():
        if value in (None, "", (), [], {}):
            continue
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_mapping(value, indent + "  ", unit_of(key))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                print(f"{indent}{key}[{i}]:")
                _print_mapping(item, indent + "  ")
        elif isinstance(value, list):
            print(f"{indent}{key}: " + ", ".join(map(str, value)))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            print(f"{indent}{key}: {format_value(value, unit_of(key) or unit)}")
        else:
            print(f"{indent}{key}: {value}")


# ---------------------------------------------------------------- estimates


def _efficiency(text):
    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise ScenarioError(f"--efficiency: expected NAME=VALUE, got {part!r}")
        if key.strip() in out:
            raise ScenarioError(f"--efficiency: {key.strip()} is given twice")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ScenarioError(f"--efficiency: {key.strip()} must be a number, got "
                                f"{value!r}") from None
    return out


def _inputs(pairs) -> dict:
    """``--set NAME=VALUE`` options: quantities given instead of computed, in any unit that
    fits the name (``--set capacity_factor=1.25``, ``--set step_overhead_s=20us``)."""
    from .units import dimension_of, parse
    out = {}
    for text in pairs or ():
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ScenarioError(f"--set: expected NAME=VALUE, got {text!r}")
        if name in out:
            raise ScenarioError(f"--set: {name} is given twice")
        out[name] = parse(value.strip(), dimension_of(name) or "count", what=f"--set {name}")
    return out


def _infer_kwargs(args) -> dict:
    return dict(on=args.on, devices=args.devices, tp=args.tp, pp=args.pp, batch=args.batch,
                prompt=args.prompt, output=args.output, weights=args.weights, kv=args.kv,
                activations=args.activations, price=args.price,
                efficiency=_efficiency(args.efficiency), inputs=_inputs(args.set),
                ep=getattr(args, "ep", 1), offload=getattr(args, "offload", "none"),
                draft=getattr(args, "draft", None), gamma=getattr(args, "gamma", None),
                accept=getattr(args, "accept", None),
                context_limit=getattr(args, "context_limit", None),
                pp_layers=getattr(args, "pp_layers", None))


def _train_kwargs(args) -> dict:
    return dict(on=args.on, devices=args.devices, tp=args.tp, pp=args.pp, dp=args.dp,
                micro_batch=args.micro_batch, global_batch=args.global_batch, seq=args.seq,
                tokens=args.tokens, precision=args.precision, sp=args.sp,
                interleave=args.interleave, zero=args.zero, recompute=args.recompute,
                attention=args.attention,
                price=args.price, efficiency=_efficiency(args.efficiency),
                inputs=_inputs(args.set), ep=getattr(args, "ep", 1),
                offload=getattr(args, "offload", "none"),
                context_limit=getattr(args, "context_limit", None),
                pp_layers=getattr(args, "pp_layers", None))


def _estimate_json(e) -> dict:
    data = e.to_dict()
    tables = [q for q, u in data["units"].items() if u == "table"]
    operations = {q: [dict(name=op.name, flops=_num(op.flops), weight_bytes=_num(op.weight_bytes),
                           activation_bytes=_num(op.activation_bytes),
                           kv_bytes=_num(op.kv_bytes), count=_num(op.count))
                      for op in e[q]] for q in tables}
    # structured values the formulas hand each other (per-device dimensions): their fields
    objects = {q: _fields(e[q]) for q, u in data["units"].items() if u == "object"}
    for q in [*tables, *objects]:
        del data["values"][q]
        del data["units"][q]
    s = e.scenario
    data["scenario"] = {"model": s.model.id, "accelerator": s.system.accelerator.id,
                        "devices": s.system.devices, "plan": unstructure(s.plan),
                        "workload": {"kind": s.workload.kind, **unstructure(s.workload)}}
    if getattr(s.workload, "draft", None) is not None:  # the draft by its id, as the model is
        data["scenario"]["workload"]["draft"] = s.workload.draft.id
    data["operations"] = operations
    data["objects"] = objects
    # figures of a run that cannot happen, as the text report marks them; values stay numbers
    from .report import hypothetical
    data["hypothetical"] = hypothetical(e)
    return data


def _fields(value) -> object:
    """A structured value as JSON: a named tuple's fields by name, else its text."""
    if hasattr(value, "_asdict"):
        return {k: _num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                for k, v in value._asdict().items()}
    return repr(value)


def _num(x):
    try:
        return float(x)
    except TypeError:
        return [float(v) for v in x]


def _estimable(e):
    """The estimate, if it can say whether the deployment fits; else the reason as an error.

    Without ``fits`` the set-up itself cannot be estimated (a plan the accelerator does not
    take, a figure that the memory depends on and the accelerator does not publish), and the
    text report and ``--json`` must give the same outcome for it: an error and exit status 1.
    A set-up that does not fit is an answer, with exit status 0 on both."""
    if "fits" not in e:
        reason = e.skipped.get("fits", "no formula computes whether it fits in memory")
        raise ScenarioError(f"this set-up cannot be estimated: {reason}")
    return e


def _infer(args, catalog: Catalog) -> int:
    from .api import infer
    e = _estimable(infer(args.model, catalog=catalog, **_infer_kwargs(args)))
    _plot(args, e, "infer")
    if args.json:
        _emit_json(_estimate_json(e))
        return 0
    from .report import infer_report
    print(infer_report(e))
    return 0


def _train(args, catalog: Catalog) -> int:
    from .api import train
    e = _estimable(train(args.model, catalog=catalog, **_train_kwargs(args)))
    _plot(args, e, "train")
    if args.json:
        _emit_json(_estimate_json(e))
        return 0
    from .report import train_report
    print(train_report(e))
    return 0


def _serve_kwargs(args) -> dict:
    return dict(on=args.on, devices=args.devices, tp=args.tp, pp=args.pp, ep=args.ep,
                prompt=args.prompt, output=args.output, concurrency=args.concurrency,
                rate=args.rate, users=args.users, think_time=args.think_time,
                tokens_per_day=args.tokens_per_day, max_batch=args.max_batch,
                max_tokens=args.max_tokens, block_tokens=args.block_tokens,
                admission=args.admission, chunked_prefill=args.chunked_prefill,
                ttft=args.ttft, tpot=args.tpot,
                percentile=args.percentile, weights=args.weights, kv=args.kv,
                activations=args.activations, price=args.price,
                efficiency=_efficiency(args.efficiency), inputs=_inputs(args.set),
                disagg=getattr(args, "disagg", None),
                context_limit=getattr(args, "context_limit", None),
                pp_layers=getattr(args, "pp_layers", None))


def _number(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ScenarioError(f"{flag} must be a number, got {text!r}") from None


def _serve(args, catalog: Catalog) -> int:
    from .serving import serve, serve_report
    kwargs = _serve_kwargs(args)
    if kwargs["disagg"] is not None:
        if getattr(args, "plot", None):
            raise ScenarioError("--plot draws an aggregated deployment; leave out --disagg "
                                "to draw one")
        if kwargs["tp"] == 1 and kwargs["pp"] == 1 and kwargs["ep"] == 1:
            del kwargs["tp"], kwargs["pp"], kwargs["ep"]  # the pools give them
        if args.simulate:
            raise ScenarioError("--simulate replays an aggregated deployment; leave out "
                                "--disagg to simulate")
        d = serve(args.model, catalog=catalog, **kwargs)
        if args.json:
            _emit_json(d.to_dict())
        else:
            print(d.report())
        return 0
    kwargs.pop("disagg")
    e = _estimable(serve(args.model, catalog=catalog, **kwargs))
    simulated = None
    if args.simulate:
        from .simulate import simulate
        simulated = simulate(e, requests=args.requests, seed=args.seed,
                             prompt_cv=_number(args.prompt_cv, "--prompt-cv"),
                             output_cv=_number(args.output_cv, "--output-cv"))
    _plot(args, e, "serve")
    if args.json:
        data = _estimate_json(e)
        if simulated is not None:
            data["simulation"] = simulated.to_dict()
        _emit_json(data)
        return 0
    print(serve_report(e))
    if simulated is not None:
        print()
        print(simulated.report())
    return 0


def _distill(args, catalog: Catalog) -> int:
    from .distillation import distill, distill_report
    d = distill(args.model, teacher=args.teacher, tokens=args.tokens, on=args.on,
                devices=args.devices, tp=args.tp, pp=args.pp, dp=args.dp,
                micro_batch=args.micro_batch, global_batch=args.global_batch, seq=args.seq,
                precision=args.precision, zero=args.zero, recompute=args.recompute,
                teacher_tp=args.teacher_tp, teacher_pp=args.teacher_pp, serve_on=args.serve_on,
                batch=args.batch, prompt=args.prompt, output=args.output, weights=args.weights,
                kv=args.kv, serve_tp=args.serve_tp, teacher_serve_tp=args.teacher_serve_tp,
                price=args.price, serve_price=args.serve_price,
                efficiency=_efficiency(args.efficiency), inputs=_inputs(args.set),
                catalog=catalog, context_limit=getattr(args, "context_limit", None))
    if args.json:
        _emit_json(d.to_dict())
    else:
        print(distill_report(d))
    return 0


def _explain(args, catalog: Catalog) -> int:
    from .api import infer, train
    if args.what == "infer":
        e = infer(args.model, catalog=catalog, **_infer_kwargs(args))
    elif args.what == "serve":
        from .serving import serve
        e = serve(args.model, catalog=catalog, **_serve_kwargs(args))
    elif args.what == "finetune":
        from .finetuning import finetune
        e = finetune(args.model, catalog=catalog, **_finetune_kwargs(args))
    else:
        e = train(args.model, catalog=catalog, **_train_kwargs(args))
    _estimable(e)
    if args.json:
        _emit_json({"quantity": args.quantity, "value": e.to_dict()["values"].get(args.quantity),
                    "tree": e.explain(args.quantity).splitlines()})
    else:
        print(e.explain(args.quantity))
    return 0


def _validate(args, catalog: Catalog) -> int:
    from .validate import report, run_validation
    result = run_validation(args.file, catalog=catalog)
    if args.json:
        _emit_json(result)
    else:
        print(report(result))
    return 0


def _plan(args, catalog: Catalog) -> int:
    if args.plan_what == "serve":
        from .planning.serve import run_cli
        return run_cli(args, catalog)
    from .planning.render import plan_command
    return plan_command(args, catalog)


def _finetune_kwargs(args) -> dict:
    return dict(on=args.on, devices=args.devices, tp=args.tp, pp=args.pp, dp=args.dp,
                micro_batch=args.micro_batch, global_batch=args.global_batch, seq=args.seq,
                tokens=args.tokens, epochs=args.epochs, dataset_tokens=args.dataset_tokens,
                method=args.method, rank=args.rank, targets=args.targets,
                precision=args.precision, zero=args.zero, recompute=args.recompute,
                offload=args.offload, price=args.price,
                efficiency=_efficiency(args.efficiency), inputs=_inputs(args.set),
                context_limit=getattr(args, "context_limit", None))


def _finetune(args, catalog: Catalog) -> int:
    from .finetuning import finetune, finetune_report
    e = _estimable(finetune(args.model, catalog=catalog, **_finetune_kwargs(args)))
    if args.json:
        _emit_json(_estimate_json(e))
        return 0
    print(finetune_report(e))
    return 0


def _rl(args, catalog: Catalog) -> int:
    from .adaptation.rl import rl
    r = rl(args.model, on=args.on, devices=args.devices, prompts=args.prompts, group=args.group,
           prompt=args.prompt, completion=args.completion, steps=args.steps, algo=args.algo,
           colocate=args.colocate or None, rollout_devices=args.rollout_devices,
           rollout_tp=args.rollout_tp, tp=args.tp, pp=args.pp, zero=args.zero,
           micro_batch=args.micro_batch, recompute=args.recompute,
           ppo_epochs=args.ppo_epochs, reward=args.reward,
           critic=args.critic, prefix_cache=not args.no_prefix_cache, price=args.price,
           context_limit=args.context_limit, catalog=catalog)
    if args.explain:
        print(r.explain(args.explain))
    elif args.json:
        _emit_json(r.to_dict())
    else:
        print(r.report())
    return 0


def _prompt_cost(args, catalog: Catalog) -> int:
    from .adaptation.prompt_cost import prompt_cost
    r = prompt_cost(args.model, on=args.on, tp=args.tp, devices=args.devices,
                    prompt=args.prompt, output=args.output, extra_prompt=args.extra_prompt,
                    rate=args.rate, concurrency=args.concurrency, weights=args.weights,
                    kv=args.kv, price=args.price, tune_tokens=args.tune_tokens,
                    method=args.method, tune_on=args.tune_on, tune_devices=args.tune_devices,
                    tune_seq=args.tune_seq, distill_into=args.distill_into, catalog=catalog)
    if args.explain:
        print(r.explain(args.explain))
    elif args.json:
        _emit_json(r.to_dict())
    else:
        print(r.report())
    return 0


# ---------------------------------------------------------------- pictures and the web page


def _plot(args, e, what: str) -> None:
    """``--plot FILE``: draw the estimate; the path is checked before anything is drawn."""
    path = getattr(args, "plot", None)
    if not path:
        return
    from . import plot
    plot.check_path(path)
    if what == "infer":
        plot.infer_plot(_estimate_json(e), path)
    elif what == "train":
        plot.train_plot(_estimate_json(e), path)
    else:
        plot.serve_plot(e, path)
    sys.stderr.write(f"ridgeline: wrote {path}\n")


def _compare(args, catalog: Catalog) -> int:
    from . import plot
    from .web.forms import compare_rows
    if args.plot:
        plot.check_path(args.plot)
    accelerators = [a.strip() for a in args.on.split(",") if a.strip()]
    if not accelerators:
        raise ScenarioError(f"--on: expected accelerators separated by commas (h100,mi300x), "
                            f"got {args.on!r}")
    columns = plot.COMPARE_SERVE if args.serve else plot.COMPARE_INFER
    common = dict(devices=args.devices, tp=args.tp, pp=args.pp, ep=args.ep,
                  prompt=args.prompt, output=args.output, weights=args.weights, kv=args.kv,
                  activations=args.activations, price=args.price,
                  efficiency=_efficiency(args.efficiency), inputs=_inputs(args.set),
                  context_limit=args.context_limit)
    if args.serve:
        common.update(concurrency=args.concurrency, rate=args.rate, users=args.users,
                      think_time=args.think_time, ttft=args.ttft, tpot=args.tpot)
    else:
        for flag in ("concurrency", "rate", "users", "think_time", "ttft", "tpot"):
            if getattr(args, flag) is not None:
                raise ScenarioError(f"--{flag.replace('_', '-')} is a serving load: add "
                                    f"--serve to compare deployments under it")
        common["batch"] = args.batch
    rows = compare_rows(args.model, accelerators, args.serve, common, columns, catalog)
    if args.json:
        _emit_json(rows)
    else:
        table = [[r["accelerator"], "yes" if r["fits"] else "NO",
                  *(_g(r.get(q), unit) for _, q, unit, _ in columns)] for r in rows]
        print(_table(table, ["accelerator", "fits", *(label for label, *_ in columns)],
                     right=range(2, 2 + len(columns))))
    if args.plot:
        what = "serving" if args.serve else "a static batch"
        plot.compare_plot(rows, columns, args.plot, f"{args.model}, {what}")
        sys.stderr.write(f"ridgeline: wrote {args.plot}\n")
    return 0


def _web(args, catalog: Catalog) -> int:
    from .web.app import serve_forever
    return serve_forever(host=args.host, port=args.port, registry=tuple(args.registry))
