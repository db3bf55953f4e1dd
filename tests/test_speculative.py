"""Speculative decoding: a draft model, gamma drafted tokens, acceptance rate alpha
(plugins/workloads/speculative.py; Leviathan et al. 2023)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.api import infer_scenario
from ridgeline.cli import main
from ridgeline.engine import estimate, sweep
from ridgeline.errors import ScenarioError
from ridgeline.plugins.workloads.speculative import draft_plan, expected_tokens_per_step

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: (target, draft) presets that share a tokenizer (the same vocabulary).
PAIRS = (("llama-3-70b", "llama-3.2-1b"), ("llama-3-8b", "llama-3.2-1b"),
         ("llama-3.1-8b", "llama-3.2-3b"), ("llama-2-70b", "llama-2-7b"),
         ("llama-2-13b", "llama-2-7b"))


def _infer(model="llama-3-70b", **kw):
    return ridgeline.infer(model, **{"on": "h100", "tp": 4, **kw})


# --------------------------------------------------------------------------- E(alpha, gamma)


def test_expected_tokens_at_the_ends_and_one_worked_value():
    assert expected_tokens_per_step(4, 0.0) == 1.0          # every draft rejected
    assert expected_tokens_per_step(4, 1.0) == 5.0          # every draft accepted, plus one
    # (1 - 0.8^5) / (1 - 0.8) = (1 - 0.32768) / 0.2
    assert expected_tokens_per_step(4, 0.8) == pytest.approx(3.3616, rel=1e-12)


@SETTINGS
@given(gamma=st.integers(1, 16), alpha=st.floats(0.0, 1.0))
def test_expected_tokens_is_the_geometric_sum(gamma, alpha):
    want = math.fsum(alpha ** i for i in range(gamma + 1))
    got = expected_tokens_per_step(gamma, alpha)
    assert got == pytest.approx(want, rel=1e-9)
    assert 1.0 <= got <= gamma + 1.0 + 1e-12
    assert expected_tokens_per_step(gamma + 1, alpha) >= got  # drafting more never yields less


# --------------------------------------------------------------------------- the engine


def test_tpot_is_one_round_over_the_tokens_it_yields():
    e = _infer(draft="llama-3.2-1b", gamma=4, accept=0.7)
    assert e["decode_new_tokens"] == 5
    E = expected_tokens_per_step(4, 0.7)
    assert e["expected_tokens_per_target_step"] == pytest.approx(E)
    assert e["tpot_s"] == pytest.approx((4 * e["draft_decode_step_s"] + e["decode_step_s"]) / E)
    assert e["speculative_speedup"] == pytest.approx(e["no_speculation_tpot_s"] / e["tpot_s"])
    # the verification pass is the target's decode step with gamma + 1 new tokens, whose
    # tensor-parallel all-reduces carry 5 tokens' activations per sequence ...
    verify = _infer(inputs={"decode_new_tokens": 5.0})
    assert e["decode_compute_s"] == pytest.approx(verify["decode_compute_s"], rel=1e-12)
    five_tokens = _infer(inputs={"batch": 5.0})
    assert e["decode_tp_comm_s"] == pytest.approx(five_tokens["decode_tp_comm_s"], rel=1e-12)
    assert e["decode_step_s"] == pytest.approx(e["decode_compute_s"] + e["decode_tp_comm_s"]
                                               + e["pipeline_hop_s"] + e["step_overhead_s"])
    # ... the draft's step is its own estimate on the same devices (tp=4 divides its heads) ...
    draft = ridgeline.infer("llama-3.2-1b", on="h100", tp=4)
    assert e["draft_decode_step_s"] == pytest.approx(draft["decode_step_s"], rel=1e-12)
    # ... and the baseline is the target decoding one token at a time
    assert e["no_speculation_tpot_s"] == pytest.approx(_infer()["tpot_s"], rel=1e-12)
    assert 1.5 < e["speculative_speedup"] < 3.0
    # time to first token: both prefills, then the first step
    assert e["ttft_s"] == pytest.approx(e["prefill_s"] + draft["prefill_s"]
                                        + e["first_decode_step_s"])


def test_memory_adds_the_drafts_weights_and_kv_cache():
    plain = _infer(batch=16)
    e = _infer(batch=16, draft="llama-3.2-1b")
    draft = ridgeline.infer("llama-3.2-1b", on="h100", tp=4, batch=16)
    assert e["draft_weight_bytes_per_device"] == pytest.approx(draft["weight_bytes_per_device"])
    assert e["memory_per_device_bytes"] == pytest.approx(
        plain["memory_per_device_bytes"] + draft["weight_bytes_per_device"]
        + draft["kv_cache_bytes_per_device"]
        + max(draft["activation_bytes"] - plain["activation_bytes"], 0.0))
    assert e["max_batch"] < plain["max_batch"]


def test_nothing_changes_without_a_draft():
    e = _infer()
    assert "speculative_speedup" not in e and "draft_decode_step_s" not in e
    assert e["decode_new_tokens"] == 1 and e["tpot_s"] == e["decode_step_s"]


def test_the_draft_runs_on_one_device_when_the_targets_tp_does_not_divide_it():
    gpt2 = ridgeline.default_catalog().model("gpt2")  # 12 heads
    assert draft_plan(gpt2, ridgeline.Plan(tp=8)).tp == 1
    assert draft_plan(gpt2, ridgeline.Plan(tp=4)).tp == 4


@SETTINGS
@given(pair=st.sampled_from(PAIRS), tp=st.sampled_from((1, 2, 4, 8)),
       batch=st.integers(1, 64), gamma=st.integers(1, 8),
       offload=st.sampled_from(("none", "host")))
def test_speculation_with_alpha_0_is_never_faster_than_none(pair, tp, batch, gamma, offload):
    target, draft = pair
    kw = dict(on="h100", tp=tp, batch=batch, output=64, offload=offload)
    plain = ridgeline.infer(target, **kw)
    e = ridgeline.infer(target, draft=draft, gamma=gamma, accept=0.0, **kw)
    assert e["expected_tokens_per_target_step"] == 1.0
    assert e["tpot_s"] >= plain["tpot_s"]
    assert e["speculative_speedup"] <= 1.0
    assert e["e2e_latency_s"] >= plain["e2e_latency_s"]
    assert e["throughput_tokens_per_s"] <= plain["throughput_tokens_per_s"]


@SETTINGS
@given(pair=st.sampled_from(PAIRS), gamma=st.integers(1, 8), a=st.floats(0.0, 1.0),
       b=st.floats(0.0, 1.0))
def test_a_higher_acceptance_rate_is_never_slower(pair, gamma, a, b):
    lo, hi = sorted((a, b))
    s = infer_scenario(pair[0], on="h100", tp=2, draft=pair[1], gamma=gamma)
    slow = estimate(s, ["tpot_s"], inputs={"acceptance_rate": lo})
    fast = estimate(s, ["tpot_s"], inputs={"acceptance_rate": hi})
    assert fast["tpot_s"] <= slow["tpot_s"] * (1 + 1e-12)


def test_a_sweep_equals_single_estimates():
    s = infer_scenario("llama-3-8b", on="h100", draft="llama-3.2-1b")
    grid = {"batch": [1.0, 8.0], "acceptance_rate": [0.0, 0.6, 0.9]}
    wanted = ["tpot_s", "speculative_speedup", "memory_per_device_bytes"]
    swept = sweep(s, grid, wanted)
    for i, b in enumerate(grid["batch"]):
        for j, alpha in enumerate(grid["acceptance_rate"]):
            one = estimate(s, wanted, inputs={"batch": b, "acceptance_rate": alpha})
            for q in wanted:
                assert swept[q][i, j] == pytest.approx(one[q], rel=1e-12), (q, b, alpha)


def test_speculation_pays_most_when_the_target_streams_its_weights():
    # a verification pass of 5 tokens streams the same weights as a one-token step
    kw = dict(on="rtx-4090", tp=1, offload="host")
    e = _infer(draft="llama-3.2-1b", gamma=4, accept=0.7, **kw)
    assert e["fits"] and e["offload_link_bound"] == 1
    assert e["speculative_speedup"] > 0.9 * e["expected_tokens_per_target_step"]
    plain = _infer(**kw)
    # the draft takes room from resident layers: never more of them than without it
    assert e["offload_resident_layers"] <= plain["offload_resident_layers"]


# --------------------------------------------------------------------------- input checks


def test_a_draft_with_another_vocabulary_is_refused():
    with pytest.raises(ScenarioError, match="vocabulary of 32000 tokens.*same tokenizer"):
        _infer(draft="llama-2-7b")


@pytest.mark.parametrize("kw, message", [
    (dict(gamma=4), "need a draft model"),
    (dict(accept=0.5), "need a draft model"),
    (dict(draft="llama-3.2-1b", accept=1.5), "accept must be a number from 0 to 1"),
    (dict(draft="llama-3.2-1b", gamma=0), "gamma must be a whole number"),
    (dict(draft="llama-3.2-1b", inputs={"acceptance_rate": -0.1}),
     "acceptance_rate.* from 0 to 1"),
])
def test_bad_speculation_arguments_get_one_clear_error(kw, message):
    with pytest.raises(ScenarioError, match=message):
        _infer(**kw)


# --------------------------------------------------------------------------- command line


def test_cli_reports_the_speedup(capsys):
    assert main(["infer", "llama-3-70b", "--on", "h100", "--tp", "4", "--draft", "llama-3.2-1b",
                 "--gamma", "4", "--accept", "0.7"]) == 0
    out = capsys.readouterr().out
    assert "speculative: llama-3.2-1b drafts 4 tokens" in out
    assert "2.77 tokens per target step" in out and "x faster than one token at a time" in out


def test_cli_json_names_the_draft_by_its_id(capsys):
    assert main(["infer", "llama-3-8b", "--on", "h100", "--draft", "llama-3.2-1b", "--accept",
                 "0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    workload = data["scenario"]["workload"]
    assert workload["draft"] == "llama-3.2-1b" and workload["acceptance_rate"] == 0
    assert data["values"]["speculative_speedup"] <= 1


def test_cli_gamma_without_a_draft_is_an_error(capsys):
    assert main(["infer", "llama-3-8b", "--on", "h100", "--gamma", "3"]) == 1
    assert "need a draft model (--draft MODEL)" in capsys.readouterr().err
