"""``plan_serve``: the best deployment of a model under latency targets, and its frontier.

The search (docs/plans-serve.md):

- *Aggregated* deployments: per accelerator, tensor-parallel degrees (powers of two within
  the scale-up domain), pipeline stages only where no tensor-parallel degree fits the weights,
  expert parallelism over the tensor-parallel group for mixture-of-experts models, and the
  precisions the accelerator runs (16-bit, fp8 where it has fp8 units, weight-only int4;
  a 16-bit or an fp8 KV cache). Each configuration is estimated once, vectorised over the
  scheduler's max batch: every point is exactly ``serve(..., max_batch=b)`` at saturation,
  so the points are the configuration's curve of throughput per device against tokens per
  second per user.
- *Disaggregated* deployments: a prefill pool and a decode pool, each with its own
  tensor-parallel degree, over every split of the devices, screened with the pools' rates
  and confirmed with ``serve(..., disagg=...)``.

Under a demand (``rate`` or ``users``) a configuration is sized as ``serve`` sizes it (the
fewest replicas that keep up within the targets) and must fit in ``devices``.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable, Optional

import numpy as np

from ..errors import RidgelineError, ScenarioError
from ..serving import _meets

__all__ = ["plan_serve", "BY"]

#: what ranks the configurations that meet the targets.
BY = ("throughput", "cost")

#: max-batch values each configuration is evaluated at (geometric from 1 to the scheduler's
#: default limit; TensorRT-LLM's default max batch is 2048).
MAX_BATCH_GRID = np.unique(np.round(np.geomspace(1.0, 2048.0, 24)))

#: tensor-parallel degrees tried by default: serving engines split attention heads over at
#: most one node's GPUs (8 on HGX/OAM boards).
DEFAULT_TP = (1, 2, 4, 8)

#: configurations under a demand that are sized (a capacity search each) per accelerator, at
#: most, in order of the saturation throughput that bounds them.
SIZED_PER_ACCELERATOR = 6

#: disaggregated candidates per accelerator confirmed with ``serve(disagg=...)``.
DISAGG_CONFIRMED = 3

_GRID_QUANTITIES = ("fits", "batch", "concurrency_limit", "kv_concurrency_limit",
                    "token_budget_concurrency_limit", "throughput_tokens_per_s_per_device",
                    "tokens_per_s_per_user", "ttft_s", "tpot_s", "requests_per_s",
                    "weight_bytes_per_device", "usable_memory_bytes")


def _precisions(acc) -> list[tuple[str, str, Optional[str]]]:
    """(weights, kv, activations) an engine runs on ``acc``: its 16-bit format; fp8 weights
    with fp8 activations (W8A8) and an fp8 KV cache where it has fp8 units; weight-only int4
    (activations 16-bit) everywhere."""
    peaks = acc.peak_flops_per_s
    half = "bf16" if "bf16" in peaks else "fp16"
    kvs = [half] + (["fp8"] if "fp8" in peaks else [])
    out = [(half, kv, half) for kv in kvs]
    if "fp8" in peaks:
        out += [("fp8", kv, "fp8") for kv in kvs]
    out += [("int4", kv, half) for kv in kvs]
    return out


def _devices(value: Any) -> int:
    from ..api import _positive_int
    return _positive_int(value, "devices")


def _accelerators(on: Any, catalog) -> list:
    if on is None or (isinstance(on, str) and on.strip().lower() == "all"):
        return list(catalog.accelerators.values())
    names = on.split(",") if isinstance(on, str) else on
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise ScenarioError(f"on must be 'all', an accelerator, a comma-separated list of them "
                            f"or a list, got {on!r}")
    names = [n.strip() if isinstance(n, str) else n for n in names]
    if not names or any(n == "" for n in names):
        raise ScenarioError(f"on: an empty accelerator name in {on!r}")
    accs = []
    for n in names:
        a = catalog.accelerator(n)
        if a not in accs:
            accs.append(a)
    return accs


def _tp_choices(acc, devices: int, tp: Any) -> list[int]:
    if tp is not None:
        return [t for t in tp if t <= devices]
    domain = acc.links.scale_up.domain_devices if acc.links.scale_up is not None else 1
    return [t for t in DEFAULT_TP if t <= devices and t <= (domain or 1)]


def _tp_degrees(tp: Any) -> Optional[list[int]]:
    """The tensor-parallel degrees given (a whole number or a list of them), checked."""
    from ..api import _positive_int
    if tp is None:
        return None
    values = [tp] if isinstance(tp, int) and not isinstance(tp, bool) else tp
    if not isinstance(values, (list, tuple)) or not values:
        raise ScenarioError(f"tp must be a whole number >= 1 or a list of them, got {tp!r}")
    return sorted({_positive_int(t, "tp") for t in values})


class _Search:
    """One search: the arguments, checked, and what it finds."""

    def __init__(self, model, *, on, devices, prompt, output, ttft, tpot, rate, users,
                 percentile, by, top, tp, disagg, price, catalog):
        from ..catalog import default_catalog
        from ..serving import _count, load_fields, targets
        self.catalog = catalog or default_catalog()
        self.model = model
        self.devices = _devices(devices)
        self.prompt, self.output = _count(prompt, "prompt"), _count(output, "output")
        self.load = load_fields(None, rate, users, None)
        self.targets = targets(ttft, tpot, percentile)
        self.ttft = self.targets.get("ttft_target_s")
        self.tpot = self.targets.get("tpot_target_s")
        self.percentile = self.targets.get("percentile")
        self.rate, self.users = rate, users
        if by not in BY:
            raise ScenarioError(f"by must be one of {', '.join(BY)}, got {by!r}")
        self.by = by
        self.top = _count(top, "top")
        self.tp = _tp_degrees(tp)
        self.disagg = disagg
        if price is not None:
            from ..units import parse
            try:
                value = parse(price, "usd_per_hour", what="price")
            except (TypeError, ValueError, OverflowError):
                value = None
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ScenarioError(f"price must be a finite price per device-hour > 0 "
                                    f"(2.49 or '2.49 USD/h'), got {price!r}")
        self.price = price
        self.accs = _accelerators(on, self.catalog)
        self.evaluated = 0
        self.fitting_rows: list[dict] = []
        self.pareto_points: list[dict] = []
        self.skipped: dict[str, str] = {}
        self.unmet: dict[str, dict] = {}
        self.notes: list[str] = []

    # ------------------------------------------------------------ helpers

    def serve_kwargs(self, c: dict) -> dict:
        """``serve()`` arguments of configuration ``c`` (without devices or load)."""
        kw = dict(on=c["accelerator"], prompt=self.prompt, output=self.output,
                  weights=c["weights"], kv=c["kv"], activations=c["activations"],
                  catalog=self.catalog, percentile=self.percentile, price=self.price)
        if self.ttft is not None:
            kw["ttft"] = self.ttft
        if self.tpot is not None:
            kw["tpot"] = self.tpot
        return kw

    def meets(self, ttft_s, tpot_s):
        ok = np.ones(np.shape(ttft_s), dtype=bool)
        if self.ttft is not None:
            ok &= np.asarray(ttft_s) <= self.ttft
        if self.tpot is not None:
            ok &= np.asarray(tpot_s) <= self.tpot
        return ok

    def misses(self, ttft_s: float, tpot_s: float) -> list[str]:
        out = []
        if self.ttft is not None and ttft_s > self.ttft:
            out.append(f"TTFT {ttft_s * 1e3:.4g} ms > {self.ttft * 1e3:.4g} ms")
        if self.tpot is not None and tpot_s > self.tpot:
            out.append(f"TPOT {tpot_s * 1e3:.4g} ms > {self.tpot * 1e3:.4g} ms")
        return out

    def key(self, row: dict):
        """Sort key: best first; ties go to the faster decode a user sees."""
        if self.by == "cost":
            cost = row.get("usd_per_million_tokens")
            return (cost is None, cost if cost is not None else 0.0,
                    -row["tokens_per_s_per_device"], -row["tokens_per_s_per_user"])
        return (-row["tokens_per_s_per_device"], row.get("usd_per_million_tokens") or 0.0,
                -row["tokens_per_s_per_user"])

    # ------------------------------------------------------------ aggregated

    def grid(self, acc, tp: int, pp: int, ep: int, precision) -> Optional[dict]:
        """One configuration over the max-batch grid at saturation (every point is
        ``serve(..., max_batch=b)``), or None when ``serve`` refuses the plan."""
        from ..api import _check_context, _inference_setup
        from ..engine import estimate
        from ..scenario import Scenario
        from ..serving import ServingWorkload
        weights, kv, act = precision
        try:
            m, plan, system, spreads, _ = _inference_setup(
                self.catalog, self.model, acc.id, None, tp, pp, weights, kv, act, self.price,
                ep, "none")
        except RidgelineError as exc:
            return {"refused": str(exc)}
        if spreads:
            return {"spreads": True}
        _check_context(m, self.prompt + self.output, None, "prompt + output")
        workload = ServingWorkload(self.prompt, self.output,
                                   percentile=self.percentile or 50.0)
        priced = acc.price_usd_per_hour is not None or self.price is not None
        wanted = _GRID_QUANTITIES + (("cost_per_mtok_usd",) if priced else ())
        self.evaluated += len(MAX_BATCH_GRID)
        try:
            e = estimate(Scenario(m, system, plan, workload), wanted, catalog=self.catalog,
                         inputs={"scheduler_max_sequences": MAX_BATCH_GRID}, check=False)
        except RidgelineError as exc:
            return {"refused": str(exc)}
        return {"e": e, "priced": priced}

    def aggregated(self, acc) -> list[dict]:
        """Every fitting (configuration, max batch) point of ``acc``, as rows."""
        rows: list[dict] = []
        moe = self._is_moe()
        refusals: list[str] = []
        memory: list[tuple] = []  # the shortfall of the configurations that do not fit
        for precision in _precisions(acc):
            fitted_pp1 = False
            for pp in (1, 2, 4, 8):
                if pp > 1 and fitted_pp1:
                    break  # stages only make room; they add no throughput per device here
                for tp in _tp_choices(acc, self.devices, self.tp):
                    if tp * pp > self.devices or self.devices % (tp * pp):
                        continue
                    for ep in ((1, tp) if moe and tp > 1 else (1,)):
                        g = self.grid(acc, tp, pp, ep, precision)
                        if g.get("spreads"):
                            return [{"spreads": True}]
                        if "refused" in g:
                            refusals.append(g["refused"])
                            continue
                        new = self._rows(acc, tp, pp, ep, precision, g)
                        if new:
                            fitted_pp1 |= pp == 1
                        else:
                            need = float(g["e"]["weight_bytes_per_device"])
                            usable = float(g["e"]["usable_memory_bytes"])
                            memory.append((need / usable, (
                                f"{precision[0]} weights at tp={tp}, pp={pp}: "
                                f"{need / 2**30:.4g} GiB of weights per device, "
                                f"{usable / 2**30:.4g} GiB usable, and the activation "
                                f"workspace and one request's KV cache besides")))
                        rows += new
                if pp * min(_tp_choices(acc, self.devices, self.tp) or [1]) * 2 > self.devices:
                    break
        if not rows:
            why = min(memory)[1] if memory else refusals[-1] if refusals else \
                "no tensor-parallel degree divides the devices"
            self.skipped[acc.id] = "no configuration fits: " + why
        return rows

    def _is_moe(self) -> bool:
        from ..api import resolve_model
        m = resolve_model(self.model, self.catalog)
        return "num_experts" in m.options

    def _rows(self, acc, tp, pp, ep, precision, g) -> list[dict]:
        e = g["e"]
        fits = np.broadcast_to(np.asarray(e["fits"], dtype=bool), MAX_BATCH_GRID.shape)
        limit = np.broadcast_to(np.asarray(e["concurrency_limit"], dtype=float),
                                MAX_BATCH_GRID.shape)
        arrays = {q: np.broadcast_to(np.asarray(e[q], dtype=float), MAX_BATCH_GRID.shape)
                  for q in ("batch", "throughput_tokens_per_s_per_device",
                            "tokens_per_s_per_user", "ttft_s", "tpot_s")}
        cost = np.broadcast_to(np.asarray(e["cost_per_mtok_usd"], dtype=float),
                               MAX_BATCH_GRID.shape) if g["priced"] else None
        kv_lim = np.broadcast_to(np.asarray(e["kv_concurrency_limit"], float),
                                 MAX_BATCH_GRID.shape)
        tok_lim = np.broadcast_to(np.asarray(e["token_budget_concurrency_limit"], float),
                                  MAX_BATCH_GRID.shape)
        replicas = self.devices // (tp * pp)
        weights, kv, act = precision
        rows, seen = [], set()
        for i in range(len(MAX_BATCH_GRID)):
            if not fits[i] or limit[i] < 1:
                continue
            b = int(arrays["batch"][i])
            if b in seen:  # beyond the KV or token limit the max batch changes nothing
                continue
            seen.add(b)
            if b < MAX_BATCH_GRID[i]:
                binding = "KV cache capacity" if kv_lim[i] <= tok_lim[i] else \
                    "token budget (compute)"
            else:
                binding = "max batch"
            label = f"tp{tp}" + (f" pp{pp}" if pp > 1 else "") + (f" ep{ep}" if ep > 1 else "") \
                + f" {weights}/kv {kv} x{replicas} b{b}"
            rows.append({
                "accelerator": acc.id, "mode": "aggregated", "label": label, "tp": tp, "pp": pp,
                "ep": ep, "replicas": replicas, "devices": self.devices, "weights": weights,
                "kv": kv, "activations": act, "max_batch": b,
                "tokens_per_s_per_device": float(arrays["throughput_tokens_per_s_per_device"][i]),
                "tokens_per_s_per_user": float(arrays["tokens_per_s_per_user"][i]),
                "ttft_s": float(arrays["ttft_s"][i]), "tpot_s": float(arrays["tpot_s"][i]),
                "usd_per_million_tokens": float(cost[i]) if cost is not None else None,
                "binding": binding})
        return rows

    def best_at_saturation(self, rows: list[dict]) -> tuple[Optional[dict], list[dict]]:
        """The best row meeting the targets, and every row meeting them. A row's max batch
        is bound by a target when the next larger max batch of its configuration misses it."""
        ok = []
        for i, r in enumerate(rows):  # a configuration's rows are in order of max batch
            if not self.meets(r["ttft_s"], r["tpot_s"]):
                continue
            ok.append(r)
            nxt = rows[i + 1] if i + 1 < len(rows) else None
            if nxt is not None and _config_key(nxt) == _config_key(r):
                missed = self.misses(nxt["ttft_s"], nxt["tpot_s"])
                if missed:
                    r["binding"] = missed[0].split(" ")[0] + " target"
        if not ok:
            return None, []
        ok.sort(key=self.key)
        return dict(ok[0]), ok

    def sized(self, acc, rows: list[dict]) -> Optional[dict]:
        """Under a demand: configurations sized as ``serve`` sizes them (the fewest replicas
        that keep up within the targets); the best that fits in the devices."""
        configs: dict = {}
        # waiting at random arrivals only adds to the latencies of a closed loop, so the
        # highest throughput a configuration reaches within the targets in a closed loop
        # bounds what it serves within them under any load
        meeting = [r for r in rows if self.meets(r["ttft_s"], r["tpot_s"])]
        if not meeting:
            self._closest(acc, rows)
            return None
        for r in meeting:
            k = _config_key(r)
            if k not in configs or r["tokens_per_s_per_device"] > \
                    configs[k]["tokens_per_s_per_device"]:
                configs[k] = r
        order = sorted(configs.values(), key=lambda r: (self._devices_at_least(r),
                                                        -r["tokens_per_s_per_device"]))
        best, closest = None, None
        for r in order[:SIZED_PER_ACCELERATOR]:
            if best is not None and self._devices_at_least(r) > best["devices"]:
                break  # it cannot serve the demand on as few devices as the best so far
            try:
                e = self._size(r)
            except RidgelineError as exc:
                closest = closest or {**r, "misses": str(exc), "worst_ratio": math.inf}
                continue
            used = int(e["replicas"]) * r["tp"] * r["pp"]
            row = self._from_estimate(acc, r, e, used)
            ok = used <= self.devices and bool(e.get("fits", True)) and \
                bool(e.get("stable", 1.0)) and bool(e.get("slo_met", 1.0))
            if not ok:
                if used > self.devices:
                    reason, ratio = f"needs {used} devices (of {self.devices})", \
                        used / self.devices
                else:
                    reason = "; ".join(self.misses(row["ttft_s"], row["tpot_s"])) or \
                        "overloaded"
                    ratio = self._worst_ratio(row)
                if closest is None or ratio < closest["worst_ratio"]:
                    closest = {**row, "misses": reason, "worst_ratio": ratio}
                continue
            row["binding"] = "demand" + (" within the targets" if self.ttft or self.tpot
                                         else "")
            if best is None or self.key(row) < self.key(best):
                best = row
        if best is None and closest is not None:
            self.unmet[acc.id] = closest
        return best

    def _devices_at_least(self, r: dict) -> float:
        """Under a rate, the devices a configuration needs at least: replicas at their
        highest throughput; under users (a demand in requests unknown before the latencies
        are), one replica."""
        per_replica = r["tp"] * r["pp"]
        if self.rate is None:
            return per_replica
        rps = r["tokens_per_s_per_device"] * per_replica / self.output
        return math.ceil(float(self.load["rate_per_s"]) / rps) * per_replica

    def _size(self, r: dict):
        """``serve`` of configuration ``r`` with the fewest replicas that serve the demand:
        under a rate, from the highest rate one replica sustains within the targets, checked
        one replica below and above; under users, ``serve``'s own capacity search."""
        from ..serving import serve
        kw = self.serve_kwargs(r)
        kw.update(tp=r["tp"], pp=r["pp"], ep=r["ep"], rate=self.rate, users=self.users)
        if self.rate is None:
            self.evaluated += 1
            return serve(self.model, **kw)
        per_replica = r["tp"] * r["pp"]
        one = serve(self.model, devices=per_replica, quantities=["max_rate_within_slo_per_s"],
                    **kw)
        self.evaluated += 1
        r1 = float(one["max_rate_within_slo_per_s"])
        if r1 <= 0:
            raise ScenarioError("even one request at a time misses the targets")
        rate = float(self.load["rate_per_s"])
        replicas = max(1, math.ceil(rate / r1))
        if replicas * per_replica > 4 * self.devices:
            return serve(self.model, devices=replicas * per_replica, **kw)

        def at(n: int):
            self.evaluated += 1
            try:
                e = serve(self.model, devices=n * per_replica, **kw)
            except RidgelineError:
                return None, False
            return e, _meets(e)

        e, ok = at(replicas)
        while not ok and replicas * per_replica <= self.devices:
            replicas += 1
            e, ok = at(replicas)
        while ok and replicas > 1:
            lower, lower_ok = at(replicas - 1)
            if not lower_ok:
                break
            e, replicas = lower, replicas - 1
        if e is None:
            raise ScenarioError(f"no number of replicas up to {self.devices // per_replica} "
                                f"keeps up with the demand")
        return e

    def _worst_ratio(self, r: dict) -> float:
        return max(r["ttft_s"] / self.ttft if self.ttft else 0.0,
                   r["tpot_s"] / self.tpot if self.tpot else 0.0)

    def _from_estimate(self, acc, r: dict, e, used: int) -> dict:
        cost = e.get("cost_per_mtok_usd")
        label = f"tp{r['tp']}" + (f" pp{r['pp']}" if r["pp"] > 1 else "") + \
            (f" ep{r['ep']}" if r["ep"] > 1 else "") + \
            f" {r['weights']}/kv {r['kv']} x{int(e['replicas'])}"
        return {"accelerator": acc.id, "mode": "aggregated", "label": label, "tp": r["tp"],
                "pp": r["pp"], "ep": r["ep"], "replicas": int(e["replicas"]), "devices": used,
                "weights": r["weights"], "kv": r["kv"], "activations": r["activations"],
                "max_batch": 2048,
                "tokens_per_s_per_device": float(e["throughput_tokens_per_s_per_device"]),
                "tokens_per_s_per_user": float(e["tokens_per_s_per_user"]),
                "ttft_s": float(e["ttft_s"]), "tpot_s": float(e["tpot_s"]),
                "usd_per_million_tokens": float(cost) if cost is not None else None,
                "binding": ""}

    # ------------------------------------------------------------ disaggregated

    def disaggregated(self, acc, best_agg: Optional[dict], rows: list[dict]) -> Optional[dict]:
        """The best split of the devices into a prefill pool and a decode pool, at the
        precisions of the best aggregated configuration (or the first that fits)."""
        from ..api import infer
        from ..serving import serve
        if self.devices < 2 or self.users is not None:
            return None
        ref = best_agg or (rows[0] if rows else None)
        if ref is None:
            return None
        tps = sorted({r["tp"] for r in rows if r["pp"] == 1 and r["weights"] == ref["weights"]
                      and r["kv"] == ref["kv"]})
        if not tps:
            return None
        common = dict(weights=ref["weights"], kv=ref["kv"], activations=ref["activations"],
                      catalog=self.catalog, price=self.price)
        per_batch = max(1, 8192 // self.prompt)  # serve's default token budget
        prefill, decode = {}, {}
        for t in tps:
            try:
                p = infer(self.model, on=acc.id, tp=t, batch=per_batch, prompt=self.prompt,
                          output=1, quantities=["prefill_s", "fits"], **common)
                alone = infer(self.model, on=acc.id, tp=t, batch=1, prompt=self.prompt,
                              output=1, quantities=["prefill_s"], **common)
            except RidgelineError:
                continue
            self.evaluated += 2
            # a prompt's own prefill is the least TTFT a prefill instance gives (a full batch
            # of them at saturation)
            least_ttft = float(p["prefill_s"] if self.rate is None else alone["prefill_s"])
            if p["fits"] and (self.ttft is None or least_ttft <= self.ttft):
                prefill[t] = per_batch / float(p["prefill_s"])
            d = self.decode_grid(acc, t, ref)
            if d is not None:
                decode[t] = d
        cands = []
        n = self.devices
        for tp_p, pre_rate in prefill.items():
            for tp_d, (dec_rate, max_batch) in decode.items():
                n_p, n_d = np.meshgrid(np.arange(1, n // tp_p + 1), np.arange(1, n // tp_d + 1),
                                       indexing="ij")
                used = n_p * tp_p + n_d * tp_d
                cap = np.minimum(n_p * pre_rate, n_d * dec_rate)
                served = cap if self.rate is None else \
                    np.where(cap > float(self.load["rate_per_s"]),
                             float(self.load["rate_per_s"]), 0.0)
                per_device = np.where(used <= n, served * self.output / used, 0.0).ravel()
                self.evaluated += int(np.count_nonzero(used <= n))
                for i in np.argsort(-per_device, kind="stable")[:DISAGG_CONFIRMED]:
                    if per_device[i] > 0:
                        cands.append((float(per_device[i]), tp_p, int(n_p.ravel()[i]), tp_d,
                                      int(n_d.ravel()[i]), max_batch))
        cands.sort(reverse=True)
        best, failed = None, None
        for _, tp_p, n_p, tp_d, n_d, max_batch in cands[:DISAGG_CONFIRMED * 2]:
            spec = f"prefill={n_p}x(tp={tp_p}),decode={n_d}x(tp={tp_d})"
            kw = self.serve_kwargs(ref)
            kw.update(rate=self.rate, disagg=spec, max_batch=max_batch)
            self.evaluated += 1
            try:
                d = serve(self.model, **kw)
            except RidgelineError as exc:
                failed = str(exc)
                continue
            v = d.values
            row = {"accelerator": acc.id, "mode": "disaggregated",
                   "label": f"P{n_p}x tp{tp_p} + D{n_d}x tp{tp_d} {ref['weights']}/kv "
                            f"{ref['kv']} b{max_batch}",
                   "disagg": spec, "prefill_instances": n_p, "prefill_tp": tp_p,
                   "decode_instances": n_d, "decode_tp": tp_d, "tp": tp_d, "pp": 1, "ep": 1,
                   "replicas": n_d, "devices": int(v["devices"]), "weights": ref["weights"],
                   "kv": ref["kv"], "activations": ref["activations"], "max_batch": max_batch,
                   "tokens_per_s_per_device": float(v["throughput_tokens_per_s_per_device"]),
                   "tokens_per_s_per_user": float(v["tokens_per_s_per_user"]),
                   "ttft_s": float(v["ttft_s"]), "tpot_s": float(v["tpot_s"]),
                   "usd_per_million_tokens": v.get("cost_per_mtok_usd"),
                   "binding": "prefill pool" if v["prefill_utilisation"] >=
                   v["decode_utilisation"] else "decode pool"}
            if not v["fits"] or not v["stable"] or not self.meets(v["ttft_s"], v["tpot_s"]):
                continue
            self.fitting_rows.append(row)
            self.pareto_points.append(row)
            if best is None or self.key(row) < self.key(best):
                best = row
        if best is None and failed is not None:
            self.notes.append(f"{acc.id}: no disaggregated deployment: {failed}")
        return best

    def decode_grid(self, acc, tp: int, ref: dict) -> Optional[tuple[float, int]]:
        """A decode instance of ``tp`` devices over the max-batch grid at saturation: the
        requests per second of the largest max batch whose TPOT meets the target, and that
        max batch (None when none fits or meets it)."""
        from ..api import _inference_setup
        from ..engine import estimate
        from ..scenario import Scenario
        from ..serving import ServingWorkload
        try:
            m, plan, system, _, _ = _inference_setup(
                self.catalog, self.model, acc.id, None, tp, 1, ref["weights"], ref["kv"],
                ref["activations"], self.price, 1, "none")
            workload = ServingWorkload(self.prompt, self.output, role="decode",
                                       percentile=self.percentile or 50.0)
            e = estimate(Scenario(m, system, plan, workload),
                         ("fits", "batch", "requests_per_s", "tpot_s"), catalog=self.catalog,
                         inputs={"scheduler_max_sequences": MAX_BATCH_GRID}, check=False)
        except RidgelineError:
            return None
        self.evaluated += len(MAX_BATCH_GRID)
        shape = MAX_BATCH_GRID.shape
        fits = np.broadcast_to(np.asarray(e["fits"], dtype=bool), shape)
        tpot = np.broadcast_to(np.asarray(e["tpot_s"], dtype=float), shape)
        ok = fits & (tpot <= self.tpot if self.tpot is not None else True)
        if not ok.any():
            return None
        i = int(np.flatnonzero(ok)[-1])
        batch = np.broadcast_to(np.asarray(e["batch"], dtype=float), shape)
        rps = np.broadcast_to(np.asarray(e["requests_per_s"], dtype=float), shape)
        return float(rps[i]), int(batch[i])

    # ------------------------------------------------------------ the whole search

    def run(self) -> dict:
        start = time.perf_counter()
        best_agg, best_dis = {}, {}
        for acc in self.accs:
            rows = self.aggregated(acc)
            if rows and rows[0].get("spreads"):
                self.skipped[acc.id] = (f"{acc.kind}: serve does not model in-flight batching "
                                        f"on it (it places a replica over its devices itself)")
                continue
            if not rows:
                continue
            self.pareto_points += rows
            if self.rate is None and self.users is None:
                best, ok = self.best_at_saturation(rows)
                self.fitting_rows += ok if (self.ttft or self.tpot) else rows
                if best is None:
                    self._closest(acc, rows)
            else:
                self.fitting_rows += rows
                best = self.sized(acc, rows)
            if best is not None:
                best_agg[acc.id] = best
            if self.disagg:
                dis = self.disaggregated(acc, best, rows)
                if dis is not None:
                    best_dis[acc.id] = dis
        plans = sorted(list(best_agg.values()) + list(best_dis.values()), key=self.key)
        result = {
            "model": self.model if isinstance(self.model, str) else getattr(self.model, "id", ""),
            "devices": self.devices, "prompt_tokens": self.prompt, "output_tokens": self.output,
            "load": self.load, "targets": self.targets, "by": self.by,
            "accelerators": [a.id for a in self.accs if a.id not in self.skipped],
            "skipped": dict(self.skipped),
            "best_aggregated": best_agg, "best_disaggregated": best_dis,
            "best": plans[0] if plans else None, "plans": plans[:self.top],
            "pareto": pareto(self.pareto_points),
            "unmet": dict(self.unmet), "notes": list(self.notes),
            "configs_evaluated": self.evaluated, "configs_fitting": len(self.fitting_rows),
            "fitting": self.fitting_rows,
        }
        if not plans:
            result["reason"] = self._reason()
        result["search_s"] = time.perf_counter() - start
        return result

    def _closest(self, acc, rows: list[dict]) -> None:
        r = min(rows, key=self._worst_ratio)
        self.unmet[acc.id] = {**r, "misses": "; ".join(self.misses(r["ttft_s"], r["tpot_s"])),
                              "worst_ratio": self._worst_ratio(r)}

    def _reason(self) -> str:
        if not self.fitting_rows and not self.pareto_points:
            parts = [f"{a}: {why}" for a, why in self.skipped.items()]
            return "no accelerator can serve the model: " + "; ".join(parts)
        if self.unmet:
            acc, r = min(self.unmet.items(), key=lambda kv: kv[1]["worst_ratio"])
            return (f"no configuration meets the targets; the closest is {r['label']} on "
                    f"{acc}, which misses: {r['misses']}")
        return "no configuration meets the targets"


def _config_key(r: dict) -> tuple:
    return (r["accelerator"], r["tp"], r["pp"], r["ep"], r["weights"], r["kv"])


def pareto(points: list[dict]) -> list[dict]:
    """Per accelerator, the points no other point of the same accelerator beats on both
    throughput per device and tokens per second per user (ties kept once)."""
    out = []
    by_acc: dict = {}
    for p in points:
        by_acc.setdefault(p["accelerator"], []).append(p)
    for acc, pts in by_acc.items():
        pts = sorted(pts, key=lambda p: (-p["tokens_per_s_per_device"],
                                         -p["tokens_per_s_per_user"]))
        best_user = -math.inf
        for p in pts:
            if p["tokens_per_s_per_user"] > best_user:
                best_user = p["tokens_per_s_per_user"]
                out.append({k: p[k] for k in p if k != "binding"})
    return out


def plan_serve(model, *, on: Any = None, devices: Any, prompt: Any = 512, output: Any = 256,
               ttft: Any = None, tpot: Any = None, rate: Any = None, users: Any = None,
               percentile: Any = None, by: str = "throughput", top: Any = 5, tp: Any = None,
               disagg: bool = True, price: Any = None, catalog=None) -> dict:
    """The best deployments of ``model`` on ``devices`` devices of each accelerator ``on``
    (a name, a comma-separated list, a list, or ``"all"``/None for every one ``serve``
    models), under latency targets and an optional demand (a Poisson ``rate`` or ``users``).

    Returns plain data: ``best_aggregated`` and ``best_disaggregated`` (per accelerator),
    ``best``, ``plans`` (the ``top`` best), ``pareto`` (throughput per device against tokens
    per second per user, per accelerator, over configurations and max batches), ``fitting``
    (every fitting configuration), ``configs_evaluated``, ``configs_fitting``, ``search_s``,
    ``skipped`` (accelerators not searched, and why), ``unmet`` (per accelerator with no
    configuration within the targets: the closest and what it misses), and ``reason`` when
    there is no plan. ``by`` ranks by ``throughput`` per device or by ``cost`` per million
    output tokens.
    """
    if isinstance(disagg, bool) is False:
        raise ScenarioError(f"disagg must be True or False, got {disagg!r}")
    return _Search(model, on=on, devices=devices, prompt=prompt, output=output, ttft=ttft,
                   tpot=tpot, rate=rate, users=users, percentile=percentile, by=by, top=top,
                   tp=tp, disagg=disagg, price=price, catalog=catalog).run()


# ---------------------------------------------------------------- the command line


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.4g} ms"


def _usd(value) -> str:
    return "n/a" if value is None else f"{value:,.4g}"


def report(result: dict) -> str:
    """What a plan says, for a person: a table per accelerator, then the winner and why."""
    from ..commands import _table
    t = result["targets"]
    wanted = ", ".join(x for x in (
        f"TTFT <= {_ms(t['ttft_target_s'])}" if "ttft_target_s" in t else "",
        f"TPOT <= {_ms(t['tpot_target_s'])}" if "tpot_target_s" in t else "") if x) or \
        "no latency targets"
    load = result["load"]
    demand = {"saturation": "offline (maximum throughput)",
              "rate": f"Poisson arrivals at {load.get('rate_per_s', 0):.4g} requests/s",
              "users": f"{load.get('users')} users"}[load["load"]]
    lines = [f"{result['model']} on up to {result['devices']} devices; prompt "
             f"{result['prompt_tokens']}, output {result['output_tokens']} tokens; {demand}; "
             f"{wanted}" + (f" (p{t['percentile']:g})" if "percentile" in t else ""),
             f"searched {result['configs_evaluated']:,} configurations (with their max batch) "
             f"in {result['search_s']:.3g} s; {result['configs_fitting']:,} fit"
             + (" and meet the targets" if "ttft_target_s" in t or "tpot_target_s" in t
                else ""), ""]
    header = ["accelerator", "mode", "configuration", "devices", "tok/s/device", "tok/s/user",
              "TTFT", "TPOT", "USD/Mtok", "bound by"]
    rows = []
    for acc in result["accelerators"]:
        for kind in ("best_aggregated", "best_disaggregated"):
            r = result[kind].get(acc)
            if r is not None:
                rows.append([acc, r["mode"], r["label"], str(r["devices"]),
                             f"{r['tokens_per_s_per_device']:,.0f}",
                             f"{r['tokens_per_s_per_user']:,.1f}", _ms(r["ttft_s"]),
                             _ms(r["tpot_s"]), _usd(r["usd_per_million_tokens"]),
                             r["binding"]])
        if acc in result["unmet"]:
            u = result["unmet"][acc]
            rows.append([acc, "-", f"none meets the targets; closest "
                                   f"{u.get('label', u.get('config', ''))}", "", "", "", "",
                         "", "", u["misses"]])
    if rows:
        lines.append(_table(rows, header, right=(3, 4, 5, 6, 7, 8)))
    for acc, why in result["skipped"].items():
        lines.append(f"skipped {acc}: {why}")
    for note in result["notes"]:
        lines.append(f"note: {note}")
    best = result["best"]
    lines.append("")
    if best is None:
        lines.append(result.get("reason", "no plan"))
    else:
        how = "the most output tokens per second per device" if result["by"] == "throughput" \
            else "the lowest cost per million output tokens"
        lines.append(f"best: {best['accelerator']} {best['mode']} {best['label']}: {how} "
                     f"among those meeting the targets; bound by {best['binding']}")
        if best["mode"] == "disaggregated":
            flags = f"--disagg '{best['disagg']}' --max-batch {best['max_batch']}"
        else:
            flags = f"--tp {best['tp']}" + (f" --pp {best['pp']}" if best["pp"] > 1 else "") + \
                (f" --ep {best['ep']}" if best["ep"] > 1 else "") + \
                f" --devices {best['devices']}" + \
                (f" --max-batch {best['max_batch']}" if load["load"] == "saturation" else "")
        if load["load"] == "rate":
            flags += f" --rate {load['rate_per_s']:g}"
        elif load["load"] == "users":
            flags += f" --users {load['users']}"
        if "ttft_target_s" in t:
            flags += f" --ttft {t['ttft_target_s']:g}"
        if "tpot_target_s" in t:
            flags += f" --tpot {t['tpot_target_s']:g}"
        if "percentile" in t:
            flags += f" --percentile {t['percentile']:g}"
        lines.append(f"re-estimate: ridgeline serve {result['model']} --on "
                     f"{best['accelerator']} {flags} --weights {best['weights']} --kv "
                     f"{best['kv']} --activations {best['activations']} --prompt "
                     f"{result['prompt_tokens']} --output {result['output_tokens']}")
    lines.append(f"Pareto frontier (throughput per device against tokens/s per user): "
                 f"{len(result['pareto'])} points in --json")
    return "\n".join(lines)


CSV_FIELDS = ("accelerator", "mode", "label", "tp", "pp", "ep", "replicas", "devices",
              "weights", "kv", "activations", "max_batch", "disagg",
              "tokens_per_s_per_device", "tokens_per_s_per_user", "ttft_s", "tpot_s",
              "usd_per_million_tokens", "binding")


def write_csv(result: dict, path: str) -> None:
    """Every fitting configuration, one row each."""
    import csv
    try:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in result["fitting"]:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})
    except OSError as exc:
        raise ScenarioError(f"--csv: cannot write {path!r}: {exc.strerror}") from None


def run_cli(args, catalog) -> int:
    """``ridgeline plan serve``."""
    import json
    import sys
    tp = None
    if args.tp is not None:
        try:
            tp = [int(t) for t in args.tp.split(",")]
        except ValueError:
            raise ScenarioError(f"--tp must be whole numbers separated by commas, got "
                                f"{args.tp!r}") from None
    result = plan_serve(args.model, on=args.on, devices=args.devices, prompt=args.prompt,
                        output=args.output, ttft=args.ttft, tpot=args.tpot, rate=args.rate,
                        users=args.users, percentile=args.percentile, by=args.by,
                        top=args.top, tp=tp, disagg=not args.no_disagg, price=args.price,
                        catalog=catalog)
    if args.csv:
        write_csv(result, args.csv)
    from .render import _plot
    _plot(args, result, "serve")
    if args.json:
        data = {k: v for k, v in result.items() if k != "fitting"}
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(report(result))
    return 0
