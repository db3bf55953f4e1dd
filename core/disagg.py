"""Disaggregated serving: prefill and decode on separate pools of devices.

``--disagg 'prefill=2x(tp=1),decode=1x(tp=4)'`` puts two prefill instances of one device
each and one decode instance of four devices side by side. A request is prefilled on a
prefill instance (which also samples its first token), its KV cache moves to a decode
instance over the links between them, and the decode instance generates the rest.

- A prefill instance runs prompts in batches that fill its token budget (``max_tokens``
  tokens per iteration, at least one prompt): it completes ``b / prefill_s(b)`` requests per
  second, priced by the same per-operation prefill tables as ``infer``.
- The KV cache of a prompt (every layer's K and V) leaves the prefill instance's devices in
  parallel and arrives on the decode instance's: it moves at the slower end's aggregate
  bandwidth, over the scale-up link when both pools fit in one scale-up domain and over the
  scale-out network otherwise.
- A decode instance is a serving replica that only decodes (``role="decode"``): every token
  of its iterations is a decode, and its concurrency is bounded by its KV cache.
- The pools are rate-matched: the deployment completes what the slower pool completes; the
  faster one runs below capacity (its utilisation is reported). Under a Poisson rate the
  prefill pool queues as M/D/c (Sakasegawa's approximation, as the aggregated model does).
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional

import attrs

from .errors import RidgelineError, ScenarioError
from .window import held_positions

__all__ = ["PoolSpec", "parse_disagg", "Disaggregated"]


@attrs.frozen
class PoolSpec:
    """One pool of a split: ``instances`` copies of the model, each on ``tp x pp`` devices."""

    role: str
    instances: int
    tp: int = 1
    pp: int = 1
    ep: int = 1

    @property
    def devices(self) -> int:
        return self.instances * self.tp * self.pp

    def describe(self) -> str:
        plan = ",".join(f"{k}={getattr(self, k)}" for k in ("tp", "pp", "ep")
                        if getattr(self, k) > 1 or k == "tp")
        return f"{self.role}={self.instances}x({plan})"


_POOL = re.compile(r"\s*(prefill|decode)\s*=\s*(\d+)\s*x\s*\(([^)]*)\)\s*")
_SYNTAX = ("expected 'prefill=Nx(tp=T[,pp=P][,ep=E]),decode=Mx(tp=T[,pp=P][,ep=E])', "
           "e.g. 'prefill=2x(tp=1),decode=1x(tp=4)'")


def parse_disagg(text: Any) -> tuple[PoolSpec, PoolSpec]:
    """The prefill and decode pools of a ``--disagg`` specification."""
    if not isinstance(text, str) or not text.strip():
        raise ScenarioError(f"disagg: {_SYNTAX}, got {text!r}")
    pools: dict[str, PoolSpec] = {}
    position = 0
    while position < len(text):
        match = _POOL.match(text, position)
        if match is None:
            raise ScenarioError(f"disagg: cannot read {text[position:]!r}: {_SYNTAX}")
        role, count, fields = match.group(1), int(match.group(2)), match.group(3)
        if role in pools:
            raise ScenarioError(f"disagg: the {role} pool is given twice")
        if count < 1:
            raise ScenarioError(f"disagg: the {role} pool needs at least one instance")
        degrees = {}
        for item in filter(None, (f.strip() for f in fields.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in ("tp", "pp", "ep") or not value.strip().isdigit() or \
                    int(value) < 1:
                raise ScenarioError(f"disagg: {role} pool: {item!r} is not tp=N, pp=N or ep=N "
                                    f"with N >= 1")
            if key in degrees:
                raise ScenarioError(f"disagg: {role} pool: {key} is given twice")
            degrees[key] = int(value)
        pools[role] = PoolSpec(role, count, **degrees)
        position = match.end()
        if position < len(text):
            if text[position] != ",":
                raise ScenarioError(f"disagg: expected ',' between the pools: {_SYNTAX}")
            position += 1
    if set(pools) != {"prefill", "decode"}:
        raise ScenarioError(f"disagg: give both pools: {_SYNTAX}")
    return pools["prefill"], pools["decode"]


#: what the combined result reports, by name (SI units, as a serving estimate's values).
VALUES = ("devices", "throughput_tokens_per_s", "throughput_tokens_per_s_per_device",
          "tokens_per_s_per_user", "requests_per_s", "ttft_s", "tpot_s", "e2e_latency_s",
          "kv_transfer_s", "prefill_utilisation", "decode_utilisation", "concurrency",
          "cost_per_mtok_usd", "energy_per_token_j", "fits", "stable")


class Disaggregated:
    """A disaggregated deployment: its pools, the combined figures and the comparison with
    the aggregated deployment on the same devices."""

    def __init__(self, prefill: PoolSpec, decode: PoolSpec, values: dict, decode_estimate,
                 prefill_estimate, aggregated, notes: list):
        self.prefill = prefill
        self.decode = decode
        self.values = values
        self.decode_estimate = decode_estimate
        self.prefill_estimate = prefill_estimate
        self.aggregated = aggregated
        self.notes = notes

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def to_dict(self) -> dict:
        agg = None
        if self.aggregated is not None:
            plan = self.aggregated.scenario.plan
            agg = {"plan": {"tp": plan.tp, "pp": plan.pp, "ep": plan.ep},
                   "values": {k: float(self.aggregated[k]) for k in _COMPARED
                              if k in self.aggregated}}
        return {"disaggregated": {"prefill": attrs.asdict(self.prefill),
                                  "decode": attrs.asdict(self.decode)},
                "values": dict(self.values), "aggregated": agg, "notes": list(self.notes)}

    def report(self) -> str:
        from .units import format_value
        e = self.decode_estimate
        s = e.scenario
        w = s.workload
        lines = [f"{s.model.id} on {self.values['devices']:.0f} x {s.system.accelerator.id}, "
                 f"disaggregated: {self.prefill.describe()}, {self.decode.describe()}",
                 f"requests: prompt {w.prompt_tokens} tokens, output {w.output_tokens} tokens", ""]
        unit = {"throughput_tokens_per_s": "tokens/s",
                "throughput_tokens_per_s_per_device": "tokens/s",
                "tokens_per_s_per_user": "tokens/s", "requests_per_s": "1/s", "ttft_s": "s",
                "tpot_s": "s", "e2e_latency_s": "s", "kv_transfer_s": "s",
                "cost_per_mtok_usd": "USD", "energy_per_token_j": "J"}
        labels = [("output tokens per second", "throughput_tokens_per_s"),
                  ("  per device", "throughput_tokens_per_s_per_device"),
                  ("  per user", "tokens_per_s_per_user"),
                  ("requests per second", "requests_per_s"),
                  ("time to first token", "ttft_s"), ("time per output token", "tpot_s"),
                  ("KV cache transfer per request", "kv_transfer_s"),
                  ("whole request", "e2e_latency_s"),
                  ("prefill pool utilisation", "prefill_utilisation"),
                  ("decode pool utilisation", "decode_utilisation"),
                  ("cost per million output tokens", "cost_per_mtok_usd"),
                  ("energy per output token", "energy_per_token_j")]
        width = max(len(label) for label, _ in labels)
        header = f"  {'':{width}}  {'disaggregated':>14}"
        agg = self.aggregated
        if agg is not None:
            plan = agg.scenario.plan
            header += f"  {'aggregated (' + str(agg['replicas'])[:-2] + 'x tp=' + str(plan.tp) + (f',pp={plan.pp}' if plan.pp > 1 else '') + ')':>24}"
        lines.append(header)
        for label, q in labels:
            if q not in self.values:  # no price, or no power figure: nothing to show
                continue
            row = f"  {label:{width}}  {format_value(self.values[q], unit.get(q, ''), 3):>14}"
            if agg is not None and q in _COMPARED and q in agg:
                row += f"  {format_value(agg[q], agg.unit(q), 3):>24}"
            lines.append(row)
        if not self.values["fits"]:
            lines += ["", "a pool does not fit: every figure above is hypothetical"]
        for note in self.notes:
            lines += ["", f"note: {note}"]
        return "\n".join(lines)


_COMPARED = ("throughput_tokens_per_s", "throughput_tokens_per_s_per_device",
             "tokens_per_s_per_user", "requests_per_s", "ttft_s", "tpot_s", "e2e_latency_s",
             "cost_per_mtok_usd", "energy_per_token_j")


def serve_disaggregated(model, prefill: PoolSpec, decode: PoolSpec, *, on, workload, given,
                        serve_kwargs: dict, catalog) -> Disaggregated:
    """Estimate a disaggregated deployment (see the module docstring)."""
    from .api import infer
    from .engine import estimate
    from .serving import _size_free_kwargs, serve
    if workload.load not in ("saturation", "rate"):
        raise ScenarioError("disaggregated serving is modelled at saturation and under a "
                            "Poisson rate (--rate); give one of those loads")
    isl, osl = workload.prompt_tokens, workload.output_tokens
    notes = []
    # the prefill pool: batches of prompts that fill an iteration's token budget
    prompts_per_batch = max(1, workload.max_tokens // isl)
    common = {k: serve_kwargs[k] for k in ("weights", "kv", "activations", "price",
                                            "efficiency", "context_limit")
              if serve_kwargs.get(k) is not None}
    wanted = ["prefill_s", "fits", "kv_cache_bytes_per_token", "device_power_w"]
    pre = infer(model, on=on, tp=prefill.tp, pp=prefill.pp, ep=prefill.ep,
                batch=prompts_per_batch, prompt=isl, output=1, catalog=catalog,
                quantities=wanted, **common)
    alone = infer(model, on=on, tp=prefill.tp, pp=prefill.pp, ep=prefill.ep, batch=1,
                  prompt=isl, output=1, catalog=catalog, quantities=["prefill_s"], **common)
    prefill_rate = prefill.instances * prompts_per_batch / pre["prefill_s"]
    # the decode pool: a serving deployment that only decodes
    dec_kwargs = _size_free_kwargs(serve_kwargs)
    dec_kwargs.update(tp=decode.tp, pp=decode.pp, ep=decode.ep, devices=decode.devices)
    dec_sat = serve(model, on=on, catalog=catalog, **dec_kwargs, role="decode",
                    quantities=["requests_per_s", "fits"])
    decode_capacity = dec_sat["requests_per_s"]
    capacity = min(prefill_rate, decode_capacity)
    if workload.load == "rate":
        rate = workload.rate_per_s
        stable = rate < capacity
    else:
        rate, stable = capacity, True
    served = min(rate, capacity)
    # the decode pool at the rate it receives (just under its capacity when it is the bottleneck)
    dec_load = dict(dec_kwargs, rate=min(served, 0.999 * decode_capacity))
    dec_load.pop("concurrency", None)
    dec_load.pop("users", None)
    try:
        dec = serve(model, on=on, catalog=catalog, **dec_load, role="decode")
    except RidgelineError as exc:
        raise ScenarioError(f"disagg: the decode pool: {exc}") from None
    # KV cache transfer between the pools
    system = dec.scenario.system
    # (a windowed layer hands over only the positions its window still sees)
    kv_bytes = pre["kv_cache_bytes_per_token"] * held_positions(pre.scenario.model, isl)
    link_bw, latency = _link(system, prefill.devices + decode.devices)
    ends = min(prefill.tp * prefill.pp, decode.tp * decode.pp)
    transfer_s = kv_bytes / (ends * link_bw) + latency
    # TTFT: the wait for a prefill instance (M/D/c, c = instances, each request taking its
    # share of a full batch) and its own prefill: alone below saturation (a prefill instance
    # starts what is waiting at once), in a full batch at saturation
    prefill_batch_s = pre["prefill_s"]
    rho = min(served / prefill_rate, 0.999)
    c = prefill.instances
    if workload.load == "rate" and stable:
        share_s = prefill_batch_s / prompts_per_batch
        wait = 0.5 * rho ** (math.sqrt(2 * (c + 1)) - 1) / (c * (1 - rho)) * share_s
        prefill_batch_s = alone["prefill_s"]
    else:
        wait = 0.0
        if workload.load == "saturation":
            notes.append("at saturation requests queue without bound in front of the slower "
                         "pool; the time to first token excludes that queue")
    if workload.load == "rate" and not stable:
        notes.append(f"overloaded: requests arrive at {rate:.4g}/s but the deployment "
                     f"completes at most {capacity:.4g}/s; figures are at its capacity")
    ttft = wait + prefill_batch_s
    tpot = float(dec["tpot_s"])
    devices = prefill.devices + decode.devices
    throughput = served * osl
    price = _price_usd_per_hour(model, on, catalog, common)
    power = pre.get("device_power_w")
    values = {
        "devices": float(devices), "throughput_tokens_per_s": throughput,
        "throughput_tokens_per_s_per_device": throughput / devices,
        "tokens_per_s_per_user": 1.0 / float(dec["tpot_mean_s"]), "requests_per_s": served,
        "ttft_s": ttft, "tpot_s": tpot, "kv_transfer_s": transfer_s,
        "e2e_latency_s": ttft + transfer_s + (osl - 1) * float(dec["tpot_mean_s"]),
        "prefill_utilisation": served / prefill_rate,
        "decode_utilisation": served / decode_capacity,
        "concurrency": float(dec["concurrency"]) + served * (ttft + transfer_s),
        "cost_per_mtok_usd": price * devices / 3600.0 / throughput * 1e6 if price else None,
        "energy_per_token_j": power * devices / throughput if power else None,
        "fits": float(bool(pre["fits"]) and bool(dec["fits"])),
        "stable": float(stable),
    }
    values = {k: v for k, v in values.items() if v is not None}
    if price is None:
        notes.append(f"{dec.scenario.system.accelerator.id} has no price in the registry: give --price USD_PER_H "
                     f"for the cost per million output tokens")
    aggregated = _aggregated(model, on, prefill, decode, devices, serve_kwargs, catalog, notes)
    return Disaggregated(prefill, decode, values, dec, pre, aggregated, notes)


def _link(system, devices: int) -> tuple[float, float]:
    """Per-device bandwidth and latency of the link the KV cache crosses between the pools."""
    links = system.accelerator.links
    eff = system.eff.network
    up = links.scale_up
    if up is not None and devices <= (up.domain_devices or 1):
        return up.bandwidth_bytes_per_s * eff, up.latency_s
    if links.scale_out is not None:
        return links.scale_out.bandwidth_bytes_per_s * eff, links.scale_out.latency_s
    raise ScenarioError(f"disagg: the pools span {devices} devices, more than one scale-up "
                        f"domain of {system.accelerator.id}, and its registry file gives no "
                        f"scale-out link to move the KV cache over")


def _aggregated(model, on, prefill: PoolSpec, decode: PoolSpec, devices: int,
                serve_kwargs: dict, catalog, notes: list):
    """The aggregated deployment on the same devices, with the decode pool's plan (or the
    prefill pool's when only that one divides them)."""
    from .serving import serve
    for pool in (decode, prefill):
        per_replica = pool.tp * pool.pp
        if devices % per_replica == 0:
            kwargs = dict(serve_kwargs, tp=pool.tp, pp=pool.pp, ep=pool.ep, devices=devices)
            try:
                return serve(model, on=on, catalog=catalog, **kwargs)
            except RidgelineError as exc:
                notes.append(f"aggregated on the same devices: {exc}")
                return None
    notes.append("no aggregated comparison: neither pool's tp x pp divides the devices")
    return None


def _price_usd_per_hour(model, on, catalog, common: dict):
    """The device-hour price, or None where the registry has none and the caller gave none:
    a deployment without a price still has latencies and throughputs, only no cost."""
    from .api import infer
    try:
        return infer(model, on=on, batch=1, prompt=1, output=1, catalog=catalog,
                     quantities=["price_usd_per_hour"], **common)["price_usd_per_hour"]
    except ScenarioError:
        return None
