"""``ridgeline plan train``: the search's result as a table, or as JSON."""

from __future__ import annotations

import json
import sys

from ..units import format_value
from .train import plan_train


def _progress(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def plan_command(args, catalog) -> int:
    result = plan_train(args.model, on=args.on, devices=args.devices, seq=args.seq,
                        global_batch=args.global_batch, tokens=args.tokens, by=args.by,
                        top=args.top, precision=args.precision, attention=args.attention,
                        csv_path=args.csv, catalog=catalog, progress=_progress)
    _plot(args, result, "train")
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(result) + "\n")
    return 0


def _plan_text(p: dict) -> str:
    text = f"tp{p['tp']} pp{p['pp']} dp{p['dp']}"
    if p["ep"] > 1:
        text += f" ep{p['ep']}"
    text += f" mb{p['micro_batch']}"
    if p["interleave"] > 1:
        text += f" v{p['interleave']}"
    if p["sp"]:
        text += " sp"
    text += f" zero{p['zero']} rc-{p['recompute']}"
    if p["offload"] != "none":
        text += f" offload-{p['offload']}"
    return text


def _value(v, unit: str) -> str:
    return "-" if v is None else format_value(v, unit)


def render(result: dict) -> str:
    lines = [f"{result['configs_evaluated']:,} plans evaluated, {result['configs_fitting']:,} "
             f"fit ({result['search_s']:.2f} s); ranked by {result['ranked_by']}"]
    if result["best"] is None:
        closest = result.get("closest") or {}
        lines.append(f"no plan fits: {closest.get('reason', 'no plan could be estimated')}")
        if closest.get("plan"):
            lines.append(f"  nearest: {closest['plan']['accelerator']} "
                         f"{_plan_text(closest['plan'])}")
        return "\n".join(lines)
    header = ["#", "accelerator", "plan", "step", "wall", "cost", "mem/device", "MFU"]
    rows = [[str(i + 1), p["accelerator"], _plan_text(p), _value(p["step_s"], "s"),
             _value(p["wall_clock_s"], "s"), _value(p["cost_usd"], "USD"),
             _value(p["memory_per_device_bytes"], "B"),
             "-" if p["mfu"] is None else f"{100 * p['mfu']:.1f}%"]
            for i, p in enumerate(result["plans"])]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths]] + rows:
        lines.append("  ".join(c.ljust(w) if i in (1, 2) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    if result["why"]:
        lines.append("")
        lines.append("why #1 beats #2 (quantities that differ most):")
        for w in result["why"]:
            lines.append(f"  {w['quantity']}: {format_value(w['best'], w['unit'])} vs "
                         f"{format_value(w['runner_up'], w['unit'])} "
                         f"({100 * w['change']:+.1f}%)")
    for acc, front in result["pareto"].items():
        if front:
            lines.append(f"Pareto (wall vs cost) on {acc}: {len(front)} plan(s), from "
                         f"{_value(front[0]['wall_clock_s'], 's')} for "
                         f"{_value(front[0]['cost_usd'], 'USD')} to "
                         f"{_value(front[-1]['wall_clock_s'], 's')} for "
                         f"{_value(front[-1]['cost_usd'], 'USD')}")
    return "\n".join(lines)


def _plot(args, result: dict, what: str) -> None:
    """``--plot FILE``: each accelerator's Pareto frontier, the winner marked."""
    path = getattr(args, "plot", None)
    if not path:
        return
    from .. import plot
    (plot.plan_train_plot if what == "train" else plot.plan_serve_plot)(result, path)
    sys.stderr.write(f"ridgeline: wrote {path}\n")
