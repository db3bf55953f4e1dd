"""Serving under traffic: the steady state of an engine with in-flight batching."""

from __future__ import annotations

import json
import math

import attrs
import numpy as np
import pytest

import ridgeline
from ridgeline import estimate, sweep
from ridgeline.cli import main
from ridgeline.disagg import parse_disagg
from ridgeline.errors import RidgelineError, ScenarioError
from ridgeline.serving import ServingWorkload, serve
from ridgeline.validate import run_validation

FP8 = dict(weights="fp8", kv="fp8", activations="fp8")

#: the names the serving contract promises in ``--json`` values.
CONTRACT = ("throughput_tokens_per_s", "throughput_tokens_per_s_per_device",
            "tokens_per_s_per_user", "ttft_s", "tpot_s", "e2e_latency_s", "concurrency",
            "requests_per_s", "kv_cache_capacity_tokens", "replicas", "cost_per_mtok_usd",
            "energy_per_token_j", "mfu", "mbu")


def _run(capsys, *argv):
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


# ---------------------------------------------------------------- the contract


def test_cli_json_has_every_value_of_the_contract(capsys):
    status, out, err = _run(capsys, "serve", "llama-3.1-8b", "--on", "h100", "--prompt", "1000",
                            "--output", "200", "--json")
    assert status == 0, err
    values = json.loads(out)["values"]
    for name in CONTRACT:
        assert name in values, name
        assert math.isfinite(values[name]) and values[name] >= 0, name


def test_targets_add_slo_met_and_the_highest_rate_within_them(capsys):
    status, out, err = _run(capsys, "serve", "llama-3.1-8b", "--on", "h100", "--prompt", "1000",
                            "--output", "200", "--rate", "2", "--ttft", "500ms", "--tpot",
                            "30ms", "--json")
    assert status == 0, err
    values = json.loads(out)["values"]
    assert values["slo_met"] == 1.0
    assert values["max_rate_within_slo_per_s"] > 2.0


def test_the_text_report_names_the_load_and_the_verdict(capsys):
    status, out, _ = _run(capsys, "serve", "llama-3-70b", "--on", "h100", "--tp", "8",
                          "--devices", "16", "--prompt", "1000", "--output", "250", "--users",
                          "500", "--think-time", "20s", "--ttft", "1s", "--tpot", "50ms")
    assert status == 0
    assert "500 users" in out and "replicas" in out and "met at this load" in out


def test_devices_beyond_one_replica_are_replicas():
    one = serve("llama-3.1-8b", on="h100", prompt=500, output=500, **FP8)
    four = serve("llama-3.1-8b", on="h100", devices=4, prompt=500, output=500, **FP8)
    assert four["replicas"] == 4
    assert four["throughput_tokens_per_s"] == pytest.approx(4 * one["throughput_tokens_per_s"])
    assert four["throughput_tokens_per_s_per_device"] == \
        pytest.approx(one["throughput_tokens_per_s_per_device"])
    assert four["cost_per_mtok_usd"] == pytest.approx(one["cost_per_mtok_usd"])


# ---------------------------------------------------------------- the published measurements


def test_trtllm_offline_throughput_is_within_the_issue_targets():
    # TensorRT-LLM perf-overview, Llama 3.1 8B FP8 on one H100: median |error| <= 15 %,
    # every case within 35 % (the serving set's own targets)
    result = run_validation("serving-public")
    summary = result["summary"]["serving"]
    assert summary["cases"] == 10
    assert summary["median_abs_error"] <= 0.15
    assert summary["worst_abs_error"] <= 0.35


def test_validate_runs_the_serving_set_by_default():
    result = run_validation()
    assert "serving" in result["summary"] and "inference_run" in result["summary"]


# ---------------------------------------------------------------- the physics


def _closed(concurrency, **kw):
    return serve("llama-3.1-8b", on="h100", prompt=1000, output=250, concurrency=concurrency,
                 **{**FP8, **kw})


def test_more_in_flight_gives_more_throughput_and_slower_tokens():
    results = [_closed(n) for n in (1, 4, 16, 64, 256)]
    throughput = [r["throughput_tokens_per_s"] for r in results]
    tpot = [r["tpot_mean_s"] for r in results]
    assert throughput == sorted(throughput)
    assert tpot == sorted(tpot)


def test_littles_law_holds_in_a_closed_loop():
    e = _closed(64)
    assert e["batch"] == pytest.approx(e["requests_per_s"] * e["e2e_latency_s"], rel=1e-9)


def test_saturation_is_the_concurrency_limit():
    sat = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, **FP8)
    limit = sat["concurrency_limit"]
    assert sat["batch"] == limit
    assert limit == min(sat["kv_concurrency_limit"], sat["token_budget_concurrency_limit"],
                        sat["scheduler_max_sequences"])
    beyond = _closed(int(limit) * 2)
    # a closed loop beyond the limit waits for slots: same throughput, later first tokens
    assert beyond["throughput_tokens_per_s"] == pytest.approx(sat["throughput_tokens_per_s"])
    assert beyond["ttft_mean_s"] > sat["ttft_mean_s"]


def test_kv_capacity_follows_the_memory_left_after_weights_and_workspace():
    e = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, **FP8)
    room = e["usable_memory_bytes"] - e["weight_bytes_per_device"] - e["activation_bytes"]
    tokens = room / e["kv_cache_bytes_per_token_per_device"]
    block = e["kv_block_tokens"]
    assert e["kv_cache_capacity_tokens"] == math.floor(tokens / block) * block
    more = serve("llama-3.1-8b", on="h100", prompt=1000, output=250,
                 efficiency={"usable_memory": 0.95}, **FP8)
    assert more["kv_cache_capacity_tokens"] > e["kv_cache_capacity_tokens"]


def test_on_demand_admission_holds_more_sequences_than_reserving():
    reserve = serve("llama-3.1-8b", on="h100", prompt=128, output=4096, **FP8)
    on_demand = serve("llama-3.1-8b", on="h100", prompt=128, output=4096,
                      admission="on-demand", **FP8)
    assert on_demand["kv_concurrency_limit"] > 1.5 * reserve["kv_concurrency_limit"]


def test_a_mixed_iteration_reads_the_weights_once():
    e = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, concurrency=32, **FP8)
    mixed = e["mixed_iteration_operations"]
    decode = e["decode_operations"]
    weights = sum(op.weight_bytes * op.count for op in mixed)
    assert weights == pytest.approx(sum(op.weight_bytes * op.count for op in decode))
    # and the chunk's FLOPs ride along
    assert sum(op.flops for op in mixed) > sum(op.flops for op in decode)


def test_utilisation_is_low_at_batch_one_and_high_when_busy():
    # essay 003: a static batch of one leaves the arithmetic idle; a busy deployment does not
    one = ridgeline.infer("llama-3.1-8b", on="h100", batch=1, prompt=1000, output=250, **FP8)
    busy = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, **FP8)
    assert one["decode_mfu"] < 0.01
    assert busy["mfu"] > 20 * one["decode_mfu"]
    assert busy["mfu"] <= busy["compute_flops_per_s"] / busy["peak_flops_per_s"] + 1e-12
    assert busy["mbu"] <= 1.0


def test_a_demand_without_devices_is_sized_to_keep_up():
    e = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, rate=10_000, **FP8)
    assert e["stable"] == 1.0 and e["replicas"] > 100
    assert e["requests_per_s"] == pytest.approx(10_000)


def test_poisson_arrivals_are_served_when_below_capacity():
    e = serve("llama-3.1-8b", on="h100", devices=1, prompt=1000, output=250, rate=5, **FP8)
    assert e["requests_per_s"] == pytest.approx(5.0)
    assert e["throughput_tokens_per_s"] == pytest.approx(5.0 * 250)
    assert e["stable"] == 1.0 and 0 < e["utilisation"] < 1
    # and the number in flight is what Little's law says (the tables take it rounded)
    assert e["requested_concurrency_per_replica"] == pytest.approx(
        5.0 * (e["e2e_latency_s"] - e["iteration_in_progress_s"]), rel=0.05)
    assert abs(e["batch"] - e["requested_concurrency_per_replica"]) <= 0.5


def test_a_higher_rate_waits_longer_and_decodes_slower():
    low, high = (serve("llama-3.1-8b", on="h100", devices=1, prompt=1000, output=250, rate=r,
                       **FP8)
                 for r in (2, 40))
    assert high["ttft_mean_s"] >= low["ttft_mean_s"]
    assert high["tpot_mean_s"] > low["tpot_mean_s"]


def test_an_overloaded_deployment_says_so_instead_of_a_latency():
    e = serve("llama-3.1-8b", on="h100", devices=1, prompt=1000, output=250, rate=10_000, **FP8)
    assert e["stable"] == 0.0
    assert "ttft_s" not in e.values and "overloaded" in e.skipped["ttft_s"]
    # it still completes what it can
    sat = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, **FP8)
    assert e["requests_per_s"] <= sat["requests_per_s"] * 1.01


def test_the_99th_percentile_is_slower_than_the_median():
    args = dict(on="h100", devices=1, prompt=1000, output=250, rate=30, **FP8)
    p50 = serve("llama-3.1-8b", **args)
    p99 = serve("llama-3.1-8b", percentile=99, **args)
    assert p99["ttft_s"] >= p50["ttft_s"] and p99["tpot_s"] >= p50["tpot_s"]
    assert p99["ttft_mean_s"] == pytest.approx(p50["ttft_mean_s"])


def test_the_highest_rate_within_the_targets_meets_them_and_more_does_not():
    args = dict(on="h100", devices=1, prompt=1000, output=250, ttft="300ms", tpot="25ms", **FP8)
    best = serve("llama-3.1-8b", rate=1, **args)["max_rate_within_slo_per_s"]
    assert best > 0
    assert serve("llama-3.1-8b", rate=0.98 * best, **args)["slo_met"] == 1.0
    assert serve("llama-3.1-8b", rate=1.3 * best, **args)["slo_met"] == 0.0


def test_users_who_think_keep_fewer_requests_in_flight():
    thinking = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, users=200,
                     think_time="30s", **FP8)
    eager = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, users=200, **FP8)
    assert thinking["concurrency"] < 200 * 0.5
    assert eager["concurrency"] == pytest.approx(200)
    # every user is either in flight or thinking
    in_flight, rate = thinking["concurrency"], thinking["requests_per_s"]
    assert in_flight + rate * 30.0 == pytest.approx(200, rel=0.02)


def test_a_demand_gives_the_fewest_replicas_that_meet_the_targets():
    args = dict(on="h100", tp=4, prompt=1000, output=250, rate=60, ttft="1s", tpot="50ms",
                weights="fp8", kv="fp8")
    e = serve("llama-3-70b", **args)
    r = int(e["replicas"])
    assert r > 1 and e["slo_met"] == 1.0
    assert e.scenario.system.devices == 4 * r
    fewer = serve("llama-3-70b", devices=4 * (r - 1), **args)
    assert fewer.get("slo_met", 0.0) == 0.0


def test_tokens_per_day_is_a_poisson_rate():
    e = serve("llama-3.1-8b", on="h100", devices=8, prompt=1000, output=250,
              tokens_per_day="2B", **FP8)
    assert e["requests_per_s"] == pytest.approx(2e9 / 86400 / 250)


@pytest.mark.parametrize("model, on, kw", [
    ("mixtral-8x7b", "h100", dict(tp=2)),
    ("deepseek-v2-lite", "h100", {}),
    ("llama-3.1-8b", "tpu-v5p", {}),
    ("llama-3.1-8b", "mi300x", {}),
    ("qwen3-30b-a3b", "h200", dict(tp=2, ep=2)),
])
def test_every_family_and_accelerator_serves(model, on, kw):
    for load in ({}, {"rate": 1.0}, {"concurrency": 8}):
        e = serve(model, on=on, prompt=500, output=200, price=2.0, **kw, **load,
                  inputs={"device_power_w": 500.0})
        for name in CONTRACT:
            v = e[name]
            assert np.isfinite(v) and v >= 0, (model, load, name, v)


def test_a_deployment_that_does_not_fit_says_so():
    e = serve("llama-3.1-405b", on="h100", prompt=500, output=200)
    assert not e["fits"] and e["memory_shortfall_bytes"] > 0


# ---------------------------------------------------------------- vectorised


def test_a_sweep_over_rate_equals_estimates_point_by_point():
    s = serve("llama-3.1-8b", on="h100", devices=1, prompt=1000, output=250, rate=3,
              **FP8).scenario
    rates = [0.5, 3.0, 12.0, 30.0]
    grid = sweep(s, {"arrival_rate_per_s": rates}, ["ttft_s", "tpot_s", "requests_per_s"])
    for i, r in enumerate(rates):
        one = estimate(s, ["ttft_s", "tpot_s", "requests_per_s"],
                       inputs={"arrival_rate_per_s": r})
        for q in ("ttft_s", "tpot_s", "requests_per_s"):
            assert float(np.ravel(grid[q])[i]) == pytest.approx(one[q], rel=1e-9), (q, r)


def test_a_sweep_over_prompt_length_carries_into_the_curve():
    s = serve("llama-3.1-8b", on="h100", devices=1, prompt=1000, output=250, rate=3,
              **FP8).scenario
    grid = sweep(s, {"prompt_tokens": [500.0, 4000.0]}, ["ttft_s", "tpot_s"])
    for i, prompt in enumerate((500, 4000)):
        one = serve("llama-3.1-8b", on="h100", devices=1, prompt=prompt, output=250, rate=3,
                    **FP8)
        for q in ("ttft_s", "tpot_s"):
            assert float(np.ravel(grid[q])[i]) == pytest.approx(one[q], rel=1e-6), (q, prompt)


# ---------------------------------------------------------------- disaggregated


def test_disagg_parses_its_pools():
    prefill, decode = parse_disagg("prefill=2x(tp=1),decode=1x(tp=4,pp=2)")
    assert (prefill.instances, prefill.tp, decode.tp, decode.pp) == (2, 1, 4, 2)
    assert decode.devices == 8


@pytest.mark.parametrize("spec", ["", "prefill=2x(tp=1)", "prefill=2x(tp=0),decode=1x(tp=4)",
                                  "prefill=2x(tq=1),decode=1x(tp=4)",
                                  "prefill=2x(tp=1);decode=1x(tp=4)",
                                  "prefill=2x(tp=1),prefill=1x(tp=4)", "decode=x(tp=4)"])
def test_disagg_refuses_what_it_cannot_read(spec):
    with pytest.raises(ScenarioError, match="disagg"):
        parse_disagg(spec)


def test_disagg_is_rate_matched_and_compared_with_aggregated():
    d = serve("llama-3.1-70b", on="h100", prompt=2000, output=200,
              disagg="prefill=2x(tp=2),decode=1x(tp=4)", weights="fp8", kv="fp8")
    v = d.values
    assert v["devices"] == 8
    # the slower pool sets the pace: one of the two runs at capacity
    assert max(v["prefill_utilisation"], v["decode_utilisation"]) == pytest.approx(1.0, rel=1e-3)
    assert v["kv_transfer_s"] > 0
    assert d.aggregated is not None and d.aggregated.scenario.system.devices == 8
    data = d.to_dict()
    json.dumps(data)
    assert data["aggregated"]["values"]["throughput_tokens_per_s"] > 0


def test_disagg_decodes_faster_than_aggregated_at_a_moderate_rate(capsys):
    status, out, err = _run(capsys, "serve", "llama-3.1-70b", "--on", "h100", "--weights", "fp8",
                            "--kv", "fp8", "--prompt", "2000", "--output", "200", "--rate", "3",
                            "--disagg", "prefill=2x(tp=2),decode=1x(tp=4)", "--json")
    assert status == 0, err
    data = json.loads(out)
    # decodes never share an iteration with a prompt's chunk: a shorter time per token
    assert data["values"]["tpot_s"] < data["aggregated"]["values"]["tpot_s"]


def test_disagg_without_a_price_reports_everything_but_the_cost(capsys):
    d = serve("llama-3.1-8b", on="mi300x", disagg="prefill=1x(tp=1),decode=1x(tp=1)")
    assert "cost_per_mtok_usd" not in d.values
    assert d["throughput_tokens_per_s"] > 0
    assert any("no price" in note for note in d.notes)
    status, out, err = _run(capsys, "serve", "llama-3.1-8b", "--on", "mi300x", "--disagg",
                            "prefill=1x(tp=1),decode=1x(tp=1)")
    assert status == 0, err
    assert "time per output token" in out and "--price" in out


def test_a_decode_pool_counts_only_its_decode_flops():
    d = serve("llama-3.1-70b", on="h200", weights="fp8", kv="fp8", activations="fp8",
              prompt=1000, output=250, disagg="prefill=6x(tp=1),decode=1x(tp=2)", max_batch=544)
    dec = d.decode_estimate
    assert dec["iteration_flops"] == pytest.approx(dec["decode_step_flops"])
    assert 0 < dec["mfu"] <= 1


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, match", [
    (dict(rate=-1), "rate"),
    (dict(rate="fast"), "rate"),
    (dict(rate=1, users=3), "one load"),
    (dict(think_time="5s"), "think time"),
    (dict(percentile=100), "percentile"),
    (dict(ttft="soon"), "ttft"),
    (dict(tpot=0), "tpot"),
    (dict(devices=3, tp=2), "multiple"),
    (dict(admission="lazy"), "admission"),
    (dict(max_batch=0), "max batch"),
    (dict(concurrency=2.5), "concurrency"),
    (dict(tokens_per_day=-5), "tokens per day"),
    (dict(disagg="prefill=1x(tp=1),decode=1x(tp=1)", tp=2), "pools"),
    (dict(disagg="prefill=1x(tp=1),decode=1x(tp=1)", users=5), "disaggregated"),
])
def test_bad_serving_input_is_a_clear_error(kwargs, match):
    with pytest.raises(RidgelineError, match=match):
        serve("llama-3.1-8b", on="h100", **kwargs)


def test_targets_no_replica_count_can_meet_are_an_error():
    with pytest.raises(ScenarioError, match="no number of replicas"):
        serve("llama-3-70b", on="h100", tp=8, rate=5, tpot="0.1ms")


def test_the_cli_answers_bad_serving_input_in_one_line(capsys):
    status, out, err = _run(capsys, "serve", "llama-3.1-8b", "--on", "h100", "--rate", "1",
                            "--users", "2")
    assert status == 1 and err.startswith("ridgeline:") and "Traceback" not in err


def test_a_serving_workload_checks_its_own_fields():
    with pytest.raises(ValueError):
        ServingWorkload(load="bursty")
    with pytest.raises(ValueError):
        ServingWorkload(percentile=0)
    w = ServingWorkload(ttft_target_s=0.3)
    assert "serving-curve" in w.features() and w.kind == "inference"
    assert attrs.evolve(w, role="decode").features() >= {"serving", "role-decode"}


# ---------------------------------------------------------------- weight-only quantisation


def test_weight_only_int_weights_pay_for_their_dequantisation():
    # gpt-fast, Llama-2-7B on one A100-80GB at batch 1 (github.com/pytorch-labs/gpt-fast
    # README): bf16 104.9, int8 155.6, int4 196.8 tokens/s. The bandwidth roofline alone
    # would give int8 about 2x and int4 about 3.5x the bf16 speed; the vector work of
    # converting every weight keeps them well under it.
    speed = {w: ridgeline.infer("llama-2-7b", on="a100", weights=w, batch=1, prompt=512,
                                output=200)["tokens_per_s_per_user"] for w in ("bf16", "int8",
                                                                             "int4")}
    assert 1.2 < speed["int8"] / speed["bf16"] < 1.7
    assert 1.3 < speed["int4"] / speed["bf16"] < 2.2
    for w, published in (("int8", 155.6), ("int4", 196.8)):
        assert abs(speed[w] / published - 1) < 0.15, (w, speed[w])


def test_weights_stored_as_computed_need_no_dequantisation():
    fp8 = ridgeline.infer("llama-3.1-8b", on="h100", weights="fp8", activations="fp8",
                          quantities=["weight_dequant_s_per_byte"])
    assert fp8["weight_dequant_s_per_byte"] == 0.0
    w8a16 = ridgeline.infer("llama-3.1-8b", on="h100", weights="fp8",
                            quantities=["weight_dequant_s_per_byte"])
    assert w8a16["weight_dequant_s_per_byte"] > 0.0


def test_dequantisation_hides_under_the_arithmetic_of_a_long_prefill():
    # over thousands of tokens the matrix units set the pace; the vector units dequantise
    # beside them, so int4 weights prefill about as fast as bf16 ones
    bf16, int4 = (ridgeline.infer("llama-2-7b", on="a100", weights=w, batch=4, prompt=2048,
                                  output=16)["prefill_s"] for w in ("bf16", "int4"))
    assert int4 == pytest.approx(bf16, rel=0.1)


def test_without_chunked_prefill_prompts_go_whole_into_an_iteration():
    args = dict(on="h100", prompt=2048, output=128, **FP8)
    whole = serve("llama-3.1-8b", chunked_prefill=False, **args)
    assert whole["prefill_chunk_tokens"] % 2048 == 0
    assert whole["prefill_budget_tokens"] % 2048 == 0
    # k prompts per iteration keep up with k x output sequences and leave the rest to them
    assert whole["token_budget_concurrency_limit"] <= \
        serve("llama-3.1-8b", **args)["token_budget_concurrency_limit"]
    with pytest.raises(ScenarioError, match="chunked prefill"):
        serve("llama-3.1-8b", chunked_prefill=False, max_tokens=1024, **args)


def test_a_context_beyond_the_models_is_refused_unless_stated():
    with pytest.raises(ScenarioError, match="context"):
        serve("llama-3-70b", on="h100", tp=8, prompt=8000, output=500)
    e = serve("llama-3-70b", on="h100", tp=8, prompt=8000, output=500, context_limit=16384)
    assert e["prompt_tokens"] == 8000
    with pytest.raises(ScenarioError, match="context"):
        serve("llama-3-70b", on="h100", prompt=8000, output=500,
              disagg="prefill=1x(tp=4),decode=1x(tp=4)")


def test_pipeline_stages_keep_a_micro_batch_each_in_flight():
    # a replica split over pp stages keeps pp micro-batches in flight, one per stage: it
    # completes pp micro-batches per pass of one through every stage, and they share the
    # replica's KV cache
    e = serve("llama-3-70b", on="h100", tp=2, pp=4, prompt=1000, output=250)
    assert e["kv_concurrency_limit"] == math.floor(
        e["kv_cache_capacity_tokens"] / 4 / e["kv_tokens_per_sequence"])
    assert e["requests_per_s_per_replica"] == pytest.approx(
        4 * e["batch"] / e["e2e_service_s"])
    assert e["concurrency"] == pytest.approx(4 * e["batch"])
    # pipelining trades time per token for throughput against tensor parallelism
    tp8 = serve("llama-3-70b", on="h100", tp=8, prompt=1000, output=250, rate=10, devices=8)
    pp4 = serve("llama-3-70b", on="h100", tp=2, pp=4, prompt=1000, output=250, rate=10,
                devices=8)
    assert pp4["tpot_s"] > tp8["tpot_s"]


def test_the_simulation_of_a_pipelined_replica_agrees_with_the_steady_state():
    e = serve("llama-3-70b", on="h100", tp=2, pp=4, devices=8, prompt=1000, output=250,
              rate=10)
    sim = ridgeline.simulate(e, requests=3000, seed=1)
    assert sim.throughput_tokens_per_s == pytest.approx(e["throughput_tokens_per_s"], rel=0.05)
    assert sim.tpot_mean_s == pytest.approx(e["tpot_mean_s"], rel=0.05)


def test_the_command_line_simulates_spread_lengths(capsys):
    status, out, err = _run(capsys, "serve", "llama-3.1-8b", "--on", "h100", "--devices", "1",
                            "--rate", "5", "--simulate", "--requests", "500", "--prompt-cv",
                            "1", "--output-cv", "0.5", "--json")
    assert status == 0, err
    simulation = json.loads(out)["simulation"]
    assert simulation["prompt_cv"] == 1.0 and simulation["output_cv"] == 0.5
    status, _, err = _run(capsys, "serve", "llama-3.1-8b", "--on", "h100", "--simulate",
                          "--prompt-cv", "wide")
    assert status == 1 and "--prompt-cv" in err


def test_accelerators_that_spread_a_replica_themselves_are_refused_with_the_reason():
    for on in ("cs-3", "groq"):
        with pytest.raises(ScenarioError, match="not modelled"):
            serve("llama-3.1-8b", on=on)


def test_a_validation_case_with_no_published_figure_is_listed_not_divided_by(tmp_path):
    path = tmp_path / "cases.toml"
    path.write_text('[[case]]\nid = "zero"\nsection = "serving"\n'
                    'args = ["serve", "llama-3.2-1b", "--on", "h100"]\n'
                    'metric = "throughput_tokens_per_s"\nexpected = 0\n')
    result = run_validation(path)
    assert not result["cases"]
    assert "finite number > 0" in result["cannot_express"][0]["reason"]


def test_a_demand_on_a_replica_that_does_not_fit_is_a_result_with_the_shortfall():
    e = serve("llama-3.1-70b", on="h100", rate=5)  # 141 GB of bf16 weights on one 80 GB card
    assert not e["fits"]
    assert e["memory_shortfall_bytes"] > 0
    assert e.scenario.system.devices == 1
