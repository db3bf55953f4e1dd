"""``plan serve``: the best deployment under latency targets, and the Pareto frontier."""

from __future__ import annotations

import csv
import json
import math
import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.cli import main
from ridgeline.errors import ScenarioError, UnknownNameError
from ridgeline.planning.serve import pareto
from ridgeline.serving import serve

REL = 1e-9
WORKLOAD = dict(prompt=1000, output=250)


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL)


def _precisions(plan: dict) -> dict:
    return dict(weights=plan["weights"], kv=plan["kv"], activations=plan["activations"])


@pytest.fixture(scope="module")
def offline():
    return ridgeline.plan_serve("llama-3.1-8b", on="h100,a100-80gb", devices=8, ttft="1s",
                                tpot="40ms", **WORKLOAD)


# ---------------------------------------------------------------- re-estimated with serve alone


def test_aggregated_winner_is_what_serve_says_with_the_same_flags(offline):
    for acc, plan in offline["best_aggregated"].items():
        e = serve("llama-3.1-8b", on=acc, tp=plan["tp"], pp=plan["pp"], ep=plan["ep"],
                  devices=plan["devices"], max_batch=plan["max_batch"], ttft="1s",
                  tpot="40ms", **_precisions(plan), **WORKLOAD)
        assert _same(plan["ttft_s"], float(e["ttft_s"]))
        assert _same(plan["tpot_s"], float(e["tpot_s"]))
        assert _same(plan["tokens_per_s_per_device"],
                     float(e["throughput_tokens_per_s_per_device"]))
        assert _same(plan["tokens_per_s_per_user"], float(e["tokens_per_s_per_user"]))
        assert _same(plan["usd_per_million_tokens"], float(e["cost_per_mtok_usd"]))
        assert e["slo_met"] == 1.0


def test_disaggregated_winner_is_what_serve_says_with_the_same_flags(offline):
    assert offline["best_disaggregated"], "some split of 8 devices meets the targets"
    for acc, plan in offline["best_disaggregated"].items():
        d = serve("llama-3.1-8b", on=acc, disagg=plan["disagg"], max_batch=plan["max_batch"],
                  ttft="1s", tpot="40ms", **_precisions(plan), **WORKLOAD)
        for ours, theirs in (("ttft_s", "ttft_s"), ("tpot_s", "tpot_s"),
                             ("tokens_per_s_per_device", "throughput_tokens_per_s_per_device"),
                             ("tokens_per_s_per_user", "tokens_per_s_per_user"),
                             ("usd_per_million_tokens", "cost_per_mtok_usd")):
            assert _same(plan[ours], d[theirs]), ours
        assert d["ttft_s"] <= 1.0 and d["tpot_s"] <= 0.040
        assert plan["devices"] == d["devices"] <= 8


def test_under_a_rate_the_winner_is_serve_sized_for_the_demand():
    r = ridgeline.plan_serve("llama-3.1-70b", on="h100", devices=16, rate=20, ttft=1,
                             tpot="50ms", disagg=False, **WORKLOAD)
    plan = r["best"]
    assert plan is not None and plan["devices"] <= 16
    # serve alone sizes the same deployment for the demand, with the same numbers
    e = serve("llama-3.1-70b", on="h100", tp=plan["tp"], pp=plan["pp"], rate=20, ttft=1,
              tpot="50ms", **_precisions(plan), **WORKLOAD)
    assert int(e["replicas"]) * plan["tp"] * plan["pp"] == plan["devices"]
    assert _same(plan["tpot_s"], float(e["tpot_s"]))
    assert _same(plan["ttft_s"], float(e["ttft_s"]))
    assert _same(plan["tokens_per_s_per_device"], float(e["throughput_tokens_per_s_per_device"]))
    assert _same(plan["tokens_per_s_per_device"], 20 * 250 / plan["devices"])


def test_every_plan_meets_the_targets_and_best_is_ranked_first(offline):
    plans = offline["plans"]
    assert plans and plans[0] == offline["best"]
    for p in plans:
        assert p["ttft_s"] <= 1.0 and p["tpot_s"] <= 0.040
    speeds = [p["tokens_per_s_per_device"] for p in plans]
    assert speeds == sorted(speeds, reverse=True)


def test_ranked_by_cost_the_best_is_the_cheapest():
    r = ridgeline.plan_serve("llama-3.1-8b", on="h100,a100-80gb", devices=8, tpot="40ms",
                             by="cost", disagg=False, **WORKLOAD)
    costs = [p["usd_per_million_tokens"] for p in r["plans"]]
    assert costs == sorted(costs)
    cheapest = min(x["usd_per_million_tokens"] for x in r["fitting"])
    assert _same(r["best"]["usd_per_million_tokens"], cheapest)


def test_a_tighter_tpot_target_binds_and_lowers_throughput(offline):
    loose = ridgeline.plan_serve("llama-3.1-8b", on="h100", devices=8, disagg=False,
                                 **WORKLOAD)["best"]
    tight = offline["best_aggregated"]["nvidia-h100-sxm"]
    assert tight["tokens_per_s_per_device"] < loose["tokens_per_s_per_device"]
    assert tight["binding"] == "TPOT target"


# ---------------------------------------------------------------- the frontier


def _dominated(p: dict, q: dict) -> bool:
    """q beats p: at least as good on both, better on one."""
    a, b = "tokens_per_s_per_device", "tokens_per_s_per_user"
    return q[a] >= p[a] and q[b] >= p[b] and (q[a] > p[a] or q[b] > p[b])


def _check_frontier(front: list, every: list) -> None:
    for p in front:
        assert not any(_dominated(p, q) for q in every
                       if q["accelerator"] == p["accelerator"])
    for q in every:  # every point is on the frontier or beaten by a point of it
        assert any(_dominated(q, p) or (
            p["tokens_per_s_per_device"] == q["tokens_per_s_per_device"] and
            p["tokens_per_s_per_user"] == q["tokens_per_s_per_user"])
            for p in front if p["accelerator"] == q["accelerator"])


def test_pareto_points_of_a_search_are_not_dominated(offline):
    front = offline["pareto"]
    assert len({p["accelerator"] for p in front}) == 2
    unconstrained = ridgeline.plan_serve("llama-3.1-8b", on="h100,a100-80gb", devices=8,
                                         disagg=False, **WORKLOAD)
    _check_frontier(unconstrained["pareto"], unconstrained["fitting"])


point = st.fixed_dictionaries({
    "accelerator": st.sampled_from(["a", "b"]),
    "tokens_per_s_per_device": st.floats(0.1, 1e5, allow_nan=False),
    "tokens_per_s_per_user": st.floats(0.1, 1e3, allow_nan=False)})


@given(st.lists(point, min_size=1, max_size=60))
def test_pareto_keeps_exactly_the_non_dominated_points(points):
    _check_frontier(pareto(points), points)


@settings(max_examples=8, deadline=None)
@given(prompt=st.integers(64, 8000), output=st.integers(16, 2000),
       devices=st.sampled_from([1, 2, 4, 8]))
def test_frontier_of_any_workload_is_non_dominated(prompt, output, devices):
    r = ridgeline.plan_serve("llama-3.1-8b", on="h100", devices=devices, prompt=prompt,
                             output=output, disagg=False)
    _check_frontier(r["pareto"], r["fitting"])


# ---------------------------------------------------------------- what is searched and skipped


def test_all_skips_what_serve_refuses_with_the_reason():
    r = ridgeline.plan_serve("llama-3.1-8b", devices=1, disagg=False, **WORKLOAD)
    assert "wafer-scale" in r["skipped"]["cerebras-wse3-cs3"]
    assert "lpu" in r["skipped"]["groq-lpu-v1"]
    assert "nvidia-h100-sxm" in r["best_aggregated"]
    assert r["configs_fitting"] <= r["configs_evaluated"]
    assert r["search_s"] > 0


def test_moe_models_search_expert_parallelism():
    r = ridgeline.plan_serve("mixtral-8x7b", on="h100", devices=8, disagg=False, **WORKLOAD)
    assert {1, 2} <= {x["ep"] for x in r["fitting"] if x["tp"] == 2}


def test_pipeline_stages_are_tried_only_when_no_tp_fits():
    small = ridgeline.plan_serve("llama-3.1-8b", on="h100", devices=8, disagg=False,
                                 **WORKLOAD)
    assert {x["pp"] for x in small["fitting"]} == {1}
    big = ridgeline.plan_serve("llama-3.1-405b", on="h100", devices=16, disagg=False,
                               **WORKLOAD)
    # 16-bit weights (810 GB) need more than 8 x 80 GB: stages make room; fp8 fits on 8
    # (126 layers: 4 and 8 stages split them unevenly, as Megatron-LM does)
    staged = {x["pp"] for x in big["fitting"] if x["weights"] == "bf16"}
    assert 1 not in staged and 2 in staged
    assert {x["pp"] for x in big["fitting"] if x["weights"] == "fp8"} == {1}


# ---------------------------------------------------------------- bad input, no answer


def test_no_accelerator_can_serve_the_model_is_a_result_saying_why():
    r = ridgeline.plan_serve("llama-3.1-405b", on="l4", devices=1, **WORKLOAD)
    assert r["best"] is None and r["plans"] == []
    assert "no accelerator can serve" in r["reason"]
    assert "GiB of weights per device" in r["skipped"]["nvidia-l4"]


def test_targets_nobody_meets_name_the_closest_and_what_it_misses():
    r = ridgeline.plan_serve("llama-3.1-8b", on="h100", devices=8, tpot="1ms", **WORKLOAD)
    assert r["best"] is None
    closest = r["unmet"]["nvidia-h100-sxm"]
    assert "TPOT" in closest["misses"] and closest["tpot_s"] > 0.001
    assert closest["label"] in r["reason"] and "TPOT" in r["reason"]


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(devices=0), ScenarioError, "devices"),
    (dict(devices=-3), ScenarioError, "devices"),
    (dict(devices=8, on="h1000"), UnknownNameError, "h1000"),
    (dict(devices=8, on="h100,"), ScenarioError, "empty accelerator"),
    (dict(devices=8, by="speed"), ScenarioError, "by"),
    (dict(devices=8, rate=1, users=3), ScenarioError, "one load"),
    (dict(devices=8, ttft="soon"), ScenarioError, "ttft"),
    (dict(devices=8, top=0), ScenarioError, "top"),
    (dict(devices=8, disagg="yes"), ScenarioError, "disagg"),
])
def test_bad_input_is_a_clear_error(kwargs, error, words):
    kwargs = {"on": "h100", **kwargs}
    with pytest.raises(error, match=words):
        ridgeline.plan_serve("llama-3.1-8b", **kwargs)


# ---------------------------------------------------------------- the command line


def test_cli_text_names_the_winner_and_what_binds(capsys):
    status, out, err = _run(capsys, "plan", "serve", "llama-3.1-8b", "--on", "h100",
                            "--devices", 8, "--prompt", 1000, "--output", 250, "--tpot",
                            "40ms", "--no-disagg")
    assert status == 0 and err == ""
    assert "best: nvidia-h100-sxm aggregated" in out and "bound by TPOT target" in out
    assert "re-estimate: ridgeline serve llama-3.1-8b --on nvidia-h100-sxm" in out


def test_cli_json_and_csv(capsys, tmp_path):
    path = tmp_path / "plans.csv"
    status, out, _ = _run(capsys, "plan", "serve", "llama-3.1-8b", "--on", "h100,a100-80gb",
                          "--devices", 4, "--prompt", 1000, "--output", 250, "--ttft", "1s",
                          "--top", 2, "--json", "--csv", path)
    assert status == 0
    data = json.loads(out)
    for key in ("best_aggregated", "best_disaggregated", "best", "plans", "pareto",
                "configs_evaluated", "configs_fitting", "search_s"):
        assert key in data
    assert len(data["plans"]) <= 2
    for p in data["pareto"]:
        for key in ("accelerator", "label", "tp", "tokens_per_s_per_device",
                    "tokens_per_s_per_user", "usd_per_million_tokens"):
            assert key in p
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == data["configs_fitting"]
    assert all(float(r["ttft_s"]) <= 1.0 for r in rows)


def test_cli_errors_are_one_line(capsys):
    status, out, err = _run(capsys, "plan", "serve", "llama-3.1-8b", "--on", "h100",
                            "--devices", 0)
    assert status != 0 and out == ""
    assert err.count("\n") == 1 and "devices" in err
    status, _, err = _run(capsys, "plan", "serve", "llama-3.1-8b", "--on", "h100",
                          "--devices", 8, "--tp", "two")
    assert status != 0 and "--tp" in err and err.count("\n") == 1


# ---------------------------------------------------------------- demands


def test_a_demand_beyond_the_devices_names_what_it_needs():
    r = ridgeline.plan_serve("llama-3.1-70b", on="h100", devices=2, rate=50, tpot="50ms",
                             disagg=False, **WORKLOAD)
    assert r["best"] is None
    assert "needs" in r["unmet"]["nvidia-h100-sxm"]["misses"]
    assert "closest" in r["reason"]


def test_users_are_sized_as_serve_sizes_them():
    r = ridgeline.plan_serve("llama-3.1-8b", on="h100", devices=8, users=200, tpot="30ms",
                             disagg=False, **WORKLOAD)
    plan = r["best"]
    e = serve("llama-3.1-8b", on="h100", tp=plan["tp"], users=200, tpot="30ms",
              **_precisions(plan), **WORKLOAD)
    assert int(e["replicas"]) * plan["tp"] == plan["devices"] <= 8
    assert _same(plan["tpot_s"], float(e["tpot_s"])) and plan["tpot_s"] <= 0.030


def test_disaggregated_winner_under_a_rate_is_what_serve_says():
    r = ridgeline.plan_serve("llama-3.1-8b", on="h100", devices=8, rate=30, ttft="1s",
                             tpot="20ms", **WORKLOAD)
    plan = r["best_disaggregated"]["nvidia-h100-sxm"]
    d = serve("llama-3.1-8b", on="h100", disagg=plan["disagg"], max_batch=plan["max_batch"],
              rate=30, ttft="1s", tpot="20ms", **_precisions(plan), **WORKLOAD)
    assert _same(plan["tokens_per_s_per_device"], d["throughput_tokens_per_s_per_device"])
    assert _same(plan["tpot_s"], d["tpot_s"]) and d["tpot_s"] <= 0.020
    assert _same(plan["ttft_s"], d["ttft_s"]) and d["ttft_s"] <= 1.0
    assert d["stable"] == 1.0 and plan["devices"] == d["devices"] <= 8


@pytest.mark.parametrize("flags", [
    ("--tpot", "30ms"),
    ("--tpot", "30ms", "--rate", 40, "--no-disagg"),
    ("--ttft", "1s", "--tpot", "20ms", "--on", "h100"),
    ("--ttft", "1s", "--tpot", "40ms", "--percentile", 99, "--rate", 10),
])
def test_the_re_estimate_line_gives_the_winners_numbers(capsys, flags):
    argv = ("plan", "serve", "llama-3.1-8b", "--devices", 8, "--prompt", 1000, "--output", 250,
            *flags)
    argv = argv if "--on" in flags else argv + ("--on", "h100")
    status, out, _ = _run(capsys, *argv, "--json")
    best = json.loads(out)["best"]
    status, out, _ = _run(capsys, *argv)
    line = next(x for x in out.splitlines() if x.startswith("re-estimate: "))
    command = shlex.split(line.removeprefix("re-estimate: "))
    assert command[:2] == ["ridgeline", "serve"]
    status, out, err = _run(capsys, *command[1:], "--json")
    assert status == 0, err
    data = json.loads(out)
    values = data["values"]
    assert _same(best["tpot_s"], values["tpot_s"])
    assert _same(best["ttft_s"], values["ttft_s"])
    assert _same(best["tokens_per_s_per_device"], values["throughput_tokens_per_s_per_device"])


junk = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(),
                 st.text(max_size=6), st.lists(st.integers(-2, 9), max_size=3))


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(["devices", "prompt", "output", "ttft", "tpot", "rate", "users",
                             "percentile", "by", "top", "tp", "disagg", "price", "on"]),
       value=junk)
def test_junk_arguments_give_a_ridgeline_error_or_a_plan(name, value):
    kwargs = dict(on="h100", devices=2, prompt=256, output=64, disagg=False)
    kwargs[name] = value
    try:
        r = ridgeline.plan_serve("llama-3.2-1b", **kwargs)
    except ridgeline.RidgelineError:
        return
    for plan in r["plans"]:
        for key in ("tokens_per_s_per_device", "tokens_per_s_per_user", "ttft_s", "tpot_s"):
            assert math.isfinite(plan[key]) and plan[key] > 0


def test_the_command_line_ranks_by_what_the_search_knows():
    from ridgeline.cli import PLAN_SERVE_BY
    from ridgeline.planning.serve import BY
    assert PLAN_SERVE_BY == BY
