"""Human-readable reports of estimates: what a newcomer can read at a glance."""

from __future__ import annotations

import numpy as np

from .operations import roofline_s
from .units import format_value


#: units of the figures of a run: how long it takes, how fast it goes, what it costs and uses
_RUN_UNITS = frozenset(("s", "tokens/s", "USD", "J"))

#: the mark of a hypothetical figure in a text report, and the line that says what it means
MARK = " *"
HYPOTHETICAL_NOTE = "figures marked * are hypothetical: what this plan would give if it fit"


def hypothetical(e) -> list[str]:
    """The figures of ``e`` that describe running a deployment that does not fit: none when
    it fits, or when it cannot say.

    Such a figure is a time, a rate, a cost or an energy of the run (unit ``s``, ``tokens/s``,
    ``USD``, ``J``), or anything computed from one (MFU, HFU, MBU, device-hours). The
    memory figures, which say why it does not fit, are not; nor are times that depend only on
    the accelerator and the plan (a kernel's launch overhead, a link's latency): they are
    properties of the hardware, not of a run.
    """
    fits = e.get("fits")
    if fits is None or bool(np.all(fits)):
        return []
    marked: set[str] = set()
    for f in e.program.steps:  # in order: a formula's parameters come before it
        if f.produces not in e:
            continue
        if (f.unit in _RUN_UNITS and not {"system", "plan"}.issuperset(f.params)) or \
                not marked.isdisjoint(f.params):
            marked.add(f.produces)
    return [q for q in e.values if q in marked]


def _f(e, q, digits=3, hyp=frozenset()):
    if q not in e:
        return "n/a (" + e.skipped.get(q, "not computed") + ")" if q in e.skipped else "n/a"
    return format_value(e[q], e.unit(q), digits) + (MARK if q in hyp else "")


def _lines(e, pairs, hyp=frozenset()):
    width = max(len(label) for label, _ in pairs)
    return [f"  {label.ljust(width)}  {_f(e, q, hyp=hyp)}" for label, q in pairs]


def _stage_split(num_layers: int, plan) -> str:
    """Uneven pipeline stages, short: ``7+8x14+7``."""
    from .scenario import pipeline_stage_layers
    runs: list = []
    for n in pipeline_stage_layers(num_layers, plan.pp, plan.pp_layers):
        if runs and runs[-1][0] == n:
            runs[-1][1] += 1
        else:
            runs.append([n, 1])
    return "+".join(f"{n}x{k}" if k > 1 else str(n) for n, k in runs)


def _header(e) -> str:
    s = e.scenario
    plan = s.plan
    parts = [f"tp={plan.tp}"] + ([f"pp={plan.pp}"] if plan.pp > 1 else []) + \
        ([f"dp={plan.dp}"] if plan.dp > 1 else []) + \
        ([f"ep={plan.ep}"] if plan.ep > 1 else [])
    m = s.model
    if plan.pp > 1 and (plan.pp_layers is not None or m.num_layers % plan.pp):
        parts[1] += f" ({_stage_split(m.num_layers, plan)} layers)"
    return (f"{m.id} on {s.system.devices} x {s.system.accelerator.id} ({', '.join(parts)}); "
            f"weights {m.weights_dtype}, activations {m.activations_dtype}, KV {m.kv_dtype}")


def _fit_lines(e, hyp) -> list:
    if e["fits"]:
        return [f"fits: yes — {_f(e, 'memory_per_device_bytes')} of "
                f"{_f(e, 'usable_memory_bytes')} usable per device"]
    return [f"fits: NO — each device needs {_f(e, 'memory_per_device_bytes')} but has "
            f"{_f(e, 'usable_memory_bytes')} usable: short by "
            f"{_f(e, 'memory_shortfall_bytes')}"] + ([HYPOTHETICAL_NOTE] if hyp else [])


def operations_table(e, quantity="decode_operations") -> str:
    """The phase's operations with their FLOPs, bytes, time and side of the ridge point."""
    ops = e[quantity]
    flops_per_s, bytes_per_s = e["compute_flops_per_s"], e["memory_bandwidth_bytes_per_s"]
    ridge = e["ridge_point_flops_per_byte"]
    rows = []
    total = sum(float(roofline_s(op, flops_per_s, bytes_per_s)) for op in ops) or 1.0
    for op in ops:
        t = float(roofline_s(op, flops_per_s, bytes_per_s))
        intensity = float(op.intensity)
        side = "compute-bound" if intensity >= ridge else "memory-bound"
        rows.append([op.name, format_value(float(op.flops * op.count), "FLOP"),
                     format_value(float(op.bytes * op.count), "B"), f"{intensity:.3g}",
                     side, format_value(t, "s"), f"{100 * t / total:.0f}%"])
    header = ["operation", "FLOPs", "bytes", "FLOP/B", "side of the ridge", "time", "share"]
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    out = ["  " + "  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    out.append(f"  (ridge point {ridge:.0f} FLOP/B: above it an operation waits on arithmetic, "
               f"below it on memory)")
    return "\n".join(out)


def infer_report(e) -> str:
    w = e.scenario.workload
    hyp = frozenset(hypothetical(e))
    lines = [_header(e),
             f"batch {w.batch}, prompt {w.prompt_tokens} tokens, output {w.output_tokens} tokens",
             "", *_fit_lines(e, hyp), "", "memory per device:"]
    lines += _lines(e, [("weights", "weight_bytes_per_device"),
                        ("KV cache", "kv_cache_bytes_per_device"),
                        ("activations", "activation_bytes"),
                        ("total", "memory_per_device_bytes"),
                        ("largest batch that fits", "max_batch")], hyp)
    lines += ["", "time and throughput:"]
    lines += _lines(e, [("time to first token (ttft_s)", "ttft_s"),
                        ("time per output token (tpot_s)", "tpot_s"),
                        ("whole request (e2e_latency_s)", "e2e_latency_s"),
                        ("throughput, all sequences", "throughput_tokens_per_s"),
                        ("decode speed per user", "tokens_per_s_per_user"),
                        ("MFU over the request", "mfu"),
                        ("MBU while decoding", "mbu")], hyp)
    lines += _offload_and_speculation_lines(e, hyp)
    lines += ["", "money and energy:"]
    lines += _lines(e, [("price per device-hour", "price_usd_per_hour"),
                        ("cost per million tokens", "cost_per_mtok_usd"),
                        ("energy per token (at TDP)", "energy_per_token_j")], hyp)
    lines += _fallback_note(e)
    if all(q in e for q in ("decode_operations", "compute_flops_per_s",
                            "memory_bandwidth_bytes_per_s")):
        lines += ["", "one decode step, per device" +
                  (" (times hypothetical):" if "decode_step_s" in hyp else ":"),
                  operations_table(e)]
    lines += ["", "why? ridgeline explain infer ... --quantity tpot_s"]
    return "\n".join(lines)


def _fallback_note(e) -> list:
    """A note when the accelerator has no peak for the arithmetic's precision."""
    if not e.get("compute_dtype_fallback"):
        return []
    return ["", f"note: {e.scenario.system.accelerator.id} has no "
                f"{e.scenario.model.activations_dtype} peak; arithmetic uses the next "
                f"precision it has ({format_value(e['peak_flops_per_s'], 'FLOP/s')})"]


def train_report(e) -> str:
    s = e.scenario
    w, plan = s.workload, s.plan
    hyp = frozenset(hypothetical(e))
    lines = [_header(e),
             f"global batch {w.global_batch} x {w.seq_len} tokens, micro-batch {plan.micro_batch}"
             f", ZeRO-{plan.zero}, recompute {plan.recompute}"
             + (", sequence parallel" if plan.sp else "")
             + (f", interleave {plan.interleave}" if plan.interleave > 1 else "")
             + f"; {w.tokens:.3g} tokens",
             "", *_fit_lines(e, hyp), "", "memory per device:"]
    lines += _lines(e, [("weights", "weight_bytes_per_device"),
                        ("gradients", "gradient_bytes_per_device"),
                        ("optimizer state", "optimizer_bytes_per_device"),
                        ("activations", "activation_bytes"),
                        ("total", "memory_per_device_bytes")], hyp)
    lines += ["", "one step:"]
    lines += _lines(e, [("step time (step_s)", "step_s"),
                        ("micro-batches per step", "micro_batches_per_step"),
                        ("one micro-batch", "micro_batch_s"),
                        ("pipeline bubble", "pipeline_bubble_s"),
                        ("exposed gradient sync", "gradient_sync_exposed_s"),
                        ("optimizer step", "optimizer_step_s"),
                        ("tokens per second", "tokens_per_s"),
                        ("MFU", "mfu"),
                        ("HFU", "hfu")], hyp)
    lines += ["", "the whole run:"]
    lines += _lines(e, [("wall clock", "wall_clock_s"),
                        ("device-hours", "device_hours"),
                        ("cost", "cost_usd"),
                        ("energy (at TDP)", "energy_j")], hyp)
    lines += _offload_and_speculation_lines(e, hyp)
    lines += _fallback_note(e)
    lines += ["", "why? ridgeline explain train ... --quantity step_s"]
    return "\n".join(lines)


def _host_link_name(e) -> str:
    link = e.scenario.system.accelerator.links.host
    return (link.name if link is not None and link.name else "the host link")


def _offload_and_speculation_lines(e, hyp=frozenset()) -> list:
    """A line or two on weight streaming (offload) and speculative decoding, when they apply."""
    out = []
    tier = {"host": "host memory", "nvme": "NVMe"}.get(e.scenario.plan.offload)
    if tier and "offload_streamed_layers" in e:
        streamed, layers = float(e["offload_streamed_layers"]), float(e["offload_layers"])
        if streamed == 0:
            out.append(f"offload ({tier}): every layer fits on the device, nothing is streamed")
        else:
            bound = "link-bound" if e.get("offload_link_bound") else \
                "compute-bound (the loads keep up)"
            out.append(f"streaming weights from {tier} over {_host_link_name(e)}: {bound}; "
                       f"{streamed:.0f} of {layers:.0f} layers "
                       f"({_f(e, 'offload_streamed_bytes_per_step_per_device', hyp=hyp)}) cross it every "
                       f"pass at {_f(e, 'offload_bandwidth_bytes_per_s', hyp=hyp)}, "
                       f"{float(e['offload_resident_layers']):.0f} stay, "
                       f"{float(e['offload_buffer_layers']):.0f} in flight")
            out.append(f"  a decode step takes {_f(e, 'decode_step_s', hyp=hyp)} with prefetch, "
                       f"{_f(e, 'decode_step_without_prefetch_s', hyp=hyp)} without")
    elif tier and "offload_link_s" in e:
        bound = "link-bound" if e.get("offload_link_bound") else "hidden behind compute"
        traffic = _f(e, "offload_link_bytes_per_step_per_device")
        out.append(f"offload to {tier}: optimizer state on the host, Adam on the CPU "
                   f"({_f(e, 'optimizer_step_s', hyp=hyp)}); {traffic} per step over "
                   f"{_host_link_name(e)} ({_f(e, 'offload_link_s', hyp=hyp)}): {bound}, "
                   f"{_f(e, 'offload_exposed_s', hyp=hyp)} exposed")
    if "speculative_speedup" in e:
        w = e.scenario.workload
        gamma = float(e["draft_tokens"])
        speedup = float(e["speculative_speedup"])
        verdict = (f"{speedup:.2f}x faster" if speedup >= 1 else
                   f"{1 / speedup:.2f}x slower") + (MARK if "speculative_speedup" in hyp else "")
        out.append(f"speculative: {w.draft.id} drafts {gamma:.0f} tokens, each "
                   f"accepted with p={float(e['acceptance_rate']):.2g} -> "
                   f"{float(e['expected_tokens_per_target_step']):.2f} tokens per target step; "
                   f"{verdict} than one token at a time ({_f(e, 'no_speculation_tpot_s', hyp=hyp)})")
        out.append(f"  a round: {gamma:.0f} draft steps of "
                   f"{_f(e, 'draft_decode_step_s', hyp=hyp)}, then the target checks "
                   f"{gamma + 1:.0f} tokens per sequence in {_f(e, 'decode_step_s', hyp=hyp)} "
                   f"(the decode step below)")
        out.append(f"  the draft holds {_f(e, 'draft_weight_bytes_per_device', hyp=hyp)} of weights and "
                   f"{_f(e, 'draft_kv_cache_bytes_per_device', hyp=hyp)} of KV cache per device "
                   f"(in the memory total above)")
    return [""] + out if out else []
