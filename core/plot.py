"""Pictures of estimates: ``--plot FILE.png|.svg`` and ``ridgeline compare``.

Each ``*_points`` function turns an estimate (or the dict its ``--json`` prints) into plain
numbers; each ``*_plot`` function draws those numbers with matplotlib (an optional extra,
``pip install 'ridgeline[plot]'``, on the Agg backend: no display needed), writes the file and
returns the figure. Every plotted series carries a ``gid`` so that an SVG names it
(``<g id="operations">``), which is how the tests read the data back out of a file.
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterable, Mapping

from .errors import ScenarioError

#: file types ``--plot`` writes, by extension.
FORMATS = (".png", ".svg")

INSTALL_HINT = "pip install 'ridgeline[plot]'"


def check_path(path: Any) -> str:
    """The path, if its extension is one matplotlib writes here; else a ScenarioError."""
    if not isinstance(path, (str, os.PathLike)):
        raise ScenarioError(f"--plot: expected a file name ending in .png or .svg, got "
                            f"{path!r}")
    text = os.fspath(path)
    ext = os.path.splitext(text)[1].lower()
    if ext not in FORMATS:
        raise ScenarioError(f"--plot: expected a file name ending in .png or .svg, got "
                            f"{text!r}")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise ScenarioError(f"--plot: folder {folder!r} does not exist")
    return text


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ScenarioError(f"--plot needs matplotlib, which is not installed: "
                            f"{INSTALL_HINT}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str):
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise ScenarioError(f"--plot: cannot write {path!r}: {exc.strerror or exc}") from None
    finally:
        _pyplot().close(fig)
    return fig


def _gid_bars(bars, prefix: str) -> None:
    """Name each bar (``prefix-0``, ``prefix-1``, ...): an SVG then says which is which."""
    for i, patch in enumerate(bars):
        patch.set_gid(f"{prefix}-{i}")


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


# ---------------------------------------------------------------- infer: the roofline

#: the operation tables of one pass each (the others split these by kind).
_PHASES = ("prefill_operations", "decode_operations")


def roofline_points(data: Mapping) -> dict:
    """An inference estimate's operations on its accelerator's roofline.

    ``data`` is what ``ridgeline infer --json`` prints. Each operation's arithmetic
    intensity is its FLOPs over the bytes it moves (weights, activations, KV cache), and its
    achieved rate is the roofline's: ``min(compute, intensity x bandwidth)`` at the
    accelerator's achievable (efficiency-derated) compute and bandwidth, as the engine's own
    ``ridge_point_flops_per_byte`` uses them (Williams, Waterman and Patterson, "Roofline",
    CACM 2009)."""
    values = data["values"]
    compute = float(values["compute_flops_per_s"])
    bandwidth = float(values["memory_bandwidth_bytes_per_s"])
    ops = []
    for table in _PHASES:
        for op in data.get("operations", {}).get(table, ()):
            moved = op["weight_bytes"] + op["activation_bytes"] + op["kv_bytes"]
            if moved <= 0 or op["flops"] <= 0:
                continue  # nothing to place: an operation with no traffic or no arithmetic
            intensity = op["flops"] / moved
            ops.append({"phase": table.removesuffix("_operations"), "name": op["name"],
                        "intensity_flops_per_byte": intensity,
                        "achieved_flops_per_s": min(compute, intensity * bandwidth)})
    return {"accelerator": data["scenario"]["accelerator"],
            "peak_flops_per_s": float(values["peak_flops_per_s"]),
            "peak_bandwidth_bytes_per_s": float(values["peak_memory_bandwidth_bytes_per_s"]),
            "compute_flops_per_s": compute, "bandwidth_bytes_per_s": bandwidth,
            "ridge_point_flops_per_byte": compute / bandwidth, "operations": ops}


def infer_plot(data: Mapping, path: str):
    """Operations of an inference estimate on the roofline, log-log, ridge point marked."""
    path = check_path(path)
    pts = roofline_points(data)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs = [o["intensity_flops_per_byte"] for o in pts["operations"]]
    lo = min(xs + [pts["ridge_point_flops_per_byte"]]) / 10
    hi = max(xs + [pts["ridge_point_flops_per_byte"]]) * 10
    for label, compute, bw, style, gid in (
            ("peak", pts["peak_flops_per_s"], pts["peak_bandwidth_bytes_per_s"], ":",
             "roofline-peak"),
            ("achievable", pts["compute_flops_per_s"], pts["bandwidth_bytes_per_s"], "-",
             "roofline")):
        ridge = compute / bw
        line, = ax.plot([lo, ridge, hi], [lo * bw, compute, compute], style, color="black",
                        label=f"{label} roofline")
        line.set_gid(gid)
    ridge = pts["ridge_point_flops_per_byte"]
    mark, = ax.plot([ridge], [pts["compute_flops_per_s"]], "D", color="red",
                    label=f"ridge point {ridge:.0f} FLOP/B")
    mark.set_gid("ridge-point")
    for phase, marker in (("prefill", "o"), ("decode", "s")):
        ops = [o for o in pts["operations"] if o["phase"] == phase]
        if not ops:
            continue
        series, = ax.plot([o["intensity_flops_per_byte"] for o in ops],
                          [o["achieved_flops_per_s"] for o in ops], marker, linestyle="none",
                          label=f"{phase} operations")
        series.set_gid(f"operations-{phase}")
        for o in ops:
            ax.annotate(o["name"], (o["intensity_flops_per_byte"], o["achieved_flops_per_s"]),
                        fontsize=7, xytext=(4, -8), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("achieved FLOP/s per device")
    ax.set_title(f"{data['scenario']['model']} on {pts['accelerator']}: roofline")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


# ---------------------------------------------------------------- serve: latency vs throughput


def _curve(e):
    """The deployment's curve over concurrency: the estimate's own when its load needed one,
    else the same formula evaluated for this scenario (a saturated or closed-loop load does
    not compute it)."""
    if "serving_curve" in e:
        return e["serving_curve"]
    s = e.scenario
    objects = {"model": s.model, "system": s.system, "plan": s.plan, "workload": s.workload}
    for f in e.catalog.formulas.get("serving_curve", ()):
        try:
            return f.function(**{p: objects[p] if p in objects else e[p] for p in f.params})
        except KeyError:
            continue
    raise ScenarioError("--plot: this deployment has no serving curve to draw "
                        "(a disaggregated deployment is drawn per pool: not supported)")


def serve_points(e) -> dict:
    """A serving estimate's latency-throughput curve over concurrency per replica.

    Along the curve a closed loop holds ``batch`` requests in flight; time to first token is
    the wait for the prefill chunks ahead plus the prompt's own (no queue in a closed loop),
    and throughput per device is the replica's output tokens per second over its devices."""
    import numpy as np
    c = _curve(e)
    devices = float(e["replica_devices"])
    output = float(e["output_tokens"])
    w = e.scenario.workload
    tput = np.asarray(c.requests_per_s_per_replica, float) * output / devices
    return {"concurrency": [float(x) for x in np.ravel(c.batch)],
            "tokens_per_s_per_device": [float(x) for x in np.ravel(tput)],
            "tpot_s": [float(x) for x in np.ravel(c.tpot_s)],
            "ttft_s": [float(x) for x in np.ravel(np.asarray(c.prefill_wait_s, float)
                                                  + np.asarray(c.prefill_service_s, float))],
            "point": {"tokens_per_s_per_device": float(e["throughput_tokens_per_s_per_device"]),
                      "tpot_s": float(e["tpot_s"]), "ttft_s": float(e["ttft_s"])},
            "ttft_target_s": w.ttft_target_s, "tpot_target_s": w.tpot_target_s,
            "title": f"{e.scenario.model.id} on {e.scenario.system.accelerator.id}"}


def serve_plot(e, path: str):
    """Latency (TPOT and TTFT) against throughput per device, over concurrency; the
    estimate's own operating point and the latency targets when given."""
    path = check_path(path)
    pts = serve_points(e)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, key, what in ((axes[0], "tpot_s", "time per output token"),
                          (axes[1], "ttft_s", "time to first token")):
        line, = ax.plot(pts["tokens_per_s_per_device"], [v * 1e3 for v in pts[key]], "o-",
                        markersize=3, label="concurrency 1 → limit")
        line.set_gid(f"curve-{key}")
        here, = ax.plot([pts["point"]["tokens_per_s_per_device"]],
                        [pts["point"][key] * 1e3], "*", color="red", markersize=14,
                        label="this load")
        here.set_gid(f"point-{key}")
        target = pts[key.replace("_s", "_target_s")]
        if target is not None:
            t = ax.axhline(target * 1e3, color="gray", linestyle="--",
                           label=f"target {target * 1e3:g} ms")
            t.set_gid(f"target-{key}")
        ax.set_xlabel("output tokens/s per device")
        ax.set_ylabel(f"{what} (ms)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{pts['title']}: latency against throughput")
    return _save(fig, path)


# ---------------------------------------------------------------- train: memory and step time

#: the parts of a device's memory, as the text report lists them.
TRAIN_MEMORY = (("weights", "weight_bytes_per_device"), ("gradients", "gradient_bytes_per_device"),
                ("optimizer state", "optimizer_bytes_per_device"),
                ("activations", "activation_bytes"))


def train_points(data: Mapping) -> dict:
    """A training estimate's memory per device by part, the device's capacity, and one
    step split into the micro-batches' compute, the pipeline bubble, the exposed gradient
    sync and the optimizer step (``--json`` values)."""
    v = data["values"]
    memory = [(label, float(v[q])) for label, q in TRAIN_MEMORY if _finite(v.get(q))]
    compute = float(v["micro_batches_per_step"]) * float(v["micro_batch_s"]) \
        if _finite(v.get("micro_batches_per_step")) and _finite(v.get("micro_batch_s")) else None
    step = [(label, value) for label, value in (
        ("micro-batches", compute), ("pipeline bubble", v.get("pipeline_bubble_s")),
        ("exposed gradient sync", v.get("gradient_sync_exposed_s")),
        ("optimizer step", v.get("optimizer_step_s"))) if _finite(value)]
    return {"memory": memory, "memory_per_device_bytes": float(v["memory_per_device_bytes"]),
            "capacity_bytes": float(v["memory_capacity_bytes"]), "step": step,
            "step_s": float(v["step_s"]),
            "title": f"{data['scenario']['model']} on {data['scenario']['devices']} x "
                     f"{data['scenario']['accelerator']}"}


def train_plot(data: Mapping, path: str):
    """Memory per device by part against the device's capacity, and the step's parts."""
    path = check_path(path)
    pts = train_points(data)
    plt = _pyplot()
    fig, (mem, step) = plt.subplots(1, 2, figsize=(11, 4.8))
    bottom = 0.0
    for label, value in pts["memory"]:
        bar = mem.bar(["per device"], [value / 1e9], bottom=[bottom / 1e9], label=label)
        _gid_bars(bar, f"memory-{label.replace(' ', '-')}")
        bottom += value
    cap = mem.axhline(pts["capacity_bytes"] / 1e9, color="red", linestyle="--",
                      label=f"capacity {pts['capacity_bytes'] / 1e9:.0f} GB")
    cap.set_gid("capacity")
    mem.set_ylabel("GB per device")
    mem.set_title("memory per device")
    mem.legend(fontsize=8)
    labels = [label for label, _ in pts["step"]]
    bars = step.barh(labels, [value for _, value in pts["step"]])
    _gid_bars(bars, "step")
    step.set_xlabel("seconds per step")
    step.set_title(f"one step: {pts['step_s']:.3g} s")
    step.invert_yaxis()
    fig.suptitle(pts["title"])
    return _save(fig, path)


# ---------------------------------------------------------------- plan searches


def pareto_front(points: Iterable[tuple], maximise: tuple[bool, bool]) -> list[int]:
    """Indices of the points no other point beats on both axes (``maximise`` says which way
    each axis is better), ordered along the first axis."""
    pts = list(points)
    sign = [1.0 if m else -1.0 for m in maximise]
    keep = []
    for i, (x, y) in enumerate(pts):
        beaten = any(sign[0] * a >= sign[0] * x and sign[1] * b >= sign[1] * y
                     and (a, b) != (x, y) for a, b in pts)
        if not beaten:
            keep.append(i)
    return sorted(keep, key=lambda i: pts[i][0])


def _plan_rows(plan: Mapping, x: str, y: str, what: str) -> list[dict]:
    if not isinstance(plan, Mapping) or not isinstance(plan.get("plans"), list):
        raise ScenarioError(f"{what}: expected a plan search's result (a dict with 'plans'), "
                            f"got {type(plan).__name__}")
    # the top plans and every accelerator's frontier (a list, or lists by accelerator)
    pareto = plan.get("pareto") or []
    if isinstance(pareto, Mapping):
        pareto = [p for points in pareto.values() for p in points]
    rows = [p for p in list(plan["plans"]) + list(pareto)
            if isinstance(p, Mapping) and _finite(p.get(x)) and _finite(p.get(y))]
    if not rows:
        raise ScenarioError(f"{what}: no plan has both {x} and {y} to draw")
    return rows


def plan_points(plan: Mapping, x: str, y: str, maximise: tuple[bool, bool],
                what: str) -> dict:
    """Plans per accelerator, each accelerator's Pareto frontier on (x, y), and the winner
    (``plan['best']``)."""
    rows = _plan_rows(plan, x, y, what)
    by_acc: dict[str, list] = {}
    for p in rows:
        point = (float(p[x]), float(p[y]))
        points = by_acc.setdefault(p["accelerator"], [])
        if point not in points:  # a top plan is often on the frontier too
            points.append(point)
    fronts = {acc: [pts[i] for i in pareto_front(pts, maximise)] for acc, pts in by_acc.items()}
    best = plan.get("best")
    winner = (float(best[x]), float(best[y]), best["accelerator"]) \
        if isinstance(best, Mapping) and _finite(best.get(x)) and _finite(best.get(y)) else None
    return {"x": x, "y": y, "plans": by_acc, "fronts": fronts, "winner": winner}


def _plan_plot(pts: dict, path: str, xlabel: str, ylabel: str, title: str, logx: bool):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for acc, xy in pts["plans"].items():
        dots, = ax.plot([a for a, _ in xy], [b for _, b in xy], "o", alpha=0.3, markersize=4)
        dots.set_gid(f"plans-{acc}")
        front = pts["fronts"][acc]
        line, = ax.plot([a for a, _ in front], [b for _, b in front], "-o",
                        color=dots.get_color(), label=f"{acc} Pareto frontier")
        line.set_gid(f"pareto-{acc}")
    if pts["winner"]:
        x, y, acc = pts["winner"]
        star, = ax.plot([x], [y], "*", color="red", markersize=18, label=f"best ({acc})")
        star.set_gid("winner")
    if logx:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plan_train_plot(plan: Mapping, path: str):
    """``plan train``'s plans: cost against wall-clock time, both lower is better."""
    path = check_path(path)
    pts = plan_points(plan, "wall_clock_s", "cost_usd", (False, False), "plan train")
    return _plan_plot(pts, path, "wall clock (s)", "cost (USD)",
                      "training plans: cost against time", logx=True)


def plan_serve_plot(plan: Mapping, path: str):
    """``plan serve``'s plans: throughput per device against speed per user, both higher
    is better (the usual serving Pareto chart)."""
    path = check_path(path)
    pts = plan_points(plan, "tokens_per_s_per_user", "tokens_per_s_per_device",
                      (True, True), "plan serve")
    return _plan_plot(pts, path, "output tokens/s per user", "output tokens/s per device",
                      "serving plans: throughput against interactivity", logx=False)


# ---------------------------------------------------------------- compare

#: what ``compare`` shows per accelerator: (column, quantity, unit, better).
COMPARE_INFER = (("tokens/s", "decode_throughput_tokens_per_s", "tokens/s", "higher"),
                 ("TPOT", "tpot_s", "s", "lower"), ("TTFT", "ttft_s", "s", "lower"),
                 ("USD per M tokens", "cost_per_mtok_usd", "USD", "lower"))
COMPARE_SERVE = (("tokens/s per device", "throughput_tokens_per_s_per_device", "tokens/s",
                  "higher"),
                 ("TPOT", "tpot_s", "s", "lower"), ("TTFT", "ttft_s", "s", "lower"),
                 ("USD per M tokens", "cost_per_mtok_usd", "USD", "lower"))


def compare_plot(rows: list[dict], columns: tuple, path: str, title: str):
    """One bar chart per compared quantity, one bar per accelerator."""
    path = check_path(path)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(columns), figsize=(3.4 * len(columns), 4.2))
    for ax, (label, quantity, unit, better) in zip(axes, columns):
        accs = [r["accelerator"] for r in rows if _finite(r.get(quantity))]
        vals = [r[quantity] for r in rows if _finite(r.get(quantity))]
        bars = ax.bar(accs, vals)
        _gid_bars(bars, f"compare-{quantity}")
        ax.set_title(f"{label} ({better} is better)", fontsize=9)
        ax.set_ylabel(unit)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle(title)
    return _save(fig, path)
