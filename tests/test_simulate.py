"""The request-level simulator: agreement with the analytic steady state, determinism,
its invariants, its errors, and the command line's ``--simulate``.

Every case uses a fixed seed, so the outcome is the same on every run; the tolerances are
for the model's approximations (and, under Poisson arrivals, for the count of about 8,000
completions in the steady window: a relative spread of about 1%), not for run-to-run noise.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import ridgeline
from ridgeline.api import infer
from ridgeline.cli import main
from ridgeline.errors import ScenarioError
from ridgeline.serving import serve
from ridgeline.simulate import Simulation, iteration_times, simulate

MODEL = dict(on="h100", weights="fp8")  # llama-3.1-8b fp8 on one H100, as TensorRT-LLM's rows
PROMPT, OUTPUT = 1000, 250


def deployment(**load):
    return serve("llama-3.1-8b", prompt=load.pop("prompt", PROMPT),
                 output=load.pop("output", OUTPUT), **MODEL, **load)


@pytest.fixture(scope="module")
def capacity_per_s():
    """Requests per second the deployment completes at saturation."""
    return float(deployment()["requests_per_s"])


def within(simulated, analytic, tolerance):
    return abs(simulated - analytic) <= tolerance * abs(analytic)


def assert_steady_state_agrees(s: Simulation, e, tolerance=0.10):
    assert within(s.throughput_tokens_per_s, e["throughput_tokens_per_s"], tolerance), \
        (s.throughput_tokens_per_s, e["throughput_tokens_per_s"])
    assert within(s.requests_per_s, e["requests_per_s"], tolerance)
    assert within(s.tpot_mean_s, e["tpot_mean_s"], tolerance), (s.tpot_mean_s, e["tpot_mean_s"])


# ---------------------------------------------------------------- agreement with the formulas


def test_iteration_times_are_the_formulas_at_each_batch():
    e = deployment()
    times = iteration_times(e, 402)
    for b in (1, 7, 64, 402):  # up to the concurrency limit, where serve() holds them
        at = deployment(concurrency=b)
        assert at["batch"] == b
        chunk = float(at["prefill_chunk_tokens"])
        assert times.decode_s[b] == pytest.approx(float(at["decode_iteration_s"]), rel=1e-9)
        assert times.decode_s[b] + times.slope_s_per_token[b] * chunk == \
            pytest.approx(float(at["mixed_iteration_s"]), rel=1e-9)
        host = float(at["engine_host_s_per_iteration"])
        assert times.iteration_s(b, 0, b) == pytest.approx(
            max(float(at["decode_iteration_s"]), host), rel=1e-9)


def test_saturation_agrees_with_the_steady_state():
    e = deployment()
    s = simulate(e, requests=10_000, seed=1)
    assert_steady_state_agrees(s, e)
    assert within(s.batch, e["batch"], 0.10)
    # offline: every request waits behind the backlog, so the first tokens come late
    assert s.ttft_mean_s > 10 * e["ttft_mean_s"]


def test_closed_loop_agrees_with_the_steady_state():
    e = deployment(concurrency=64)
    s = simulate(e, requests=10_000, seed=2, prompt_cv=0.5, output_cv=0.5)
    assert_steady_state_agrees(s, e)
    assert s.batch == pytest.approx(64.0, rel=0.02)
    assert s.queued_requests_per_replica == pytest.approx(0.0, abs=1e-9)


def test_closed_loop_beyond_the_limit_queues():
    e = deployment(concurrency=1000)  # the KV cache holds about 400
    s = simulate(e, requests=10_000, seed=3)
    assert_steady_state_agrees(s, e)
    assert within(s.queued_requests_per_replica, e["queued_requests_per_replica"], 0.10)
    assert within(s.ttft_mean_s, e["ttft_mean_s"], 0.10)


def test_poisson_rate_agrees_with_the_steady_state(capacity_per_s):
    e = deployment(rate=0.7 * capacity_per_s)
    s = simulate(e, requests=10_000, seed=4)
    assert_steady_state_agrees(s, e)
    # The simulated first token waits for more than the analytic one: the engine admits a
    # request only between iterations (the rest of the iteration in progress, at most one
    # mixed iteration, the longest kind), and a prompt shares its iteration's budget with
    # those that arrive in the same one (about one more chunk at this load): so it lies
    # between the analytic mean and that plus two mixed iterations.
    ttft = float(e["ttft_mean_s"])
    assert ttft <= s.ttft_mean_s <= ttft + 2.0 * float(e["mixed_iteration_s"]), \
        (s.ttft_mean_s, ttft, float(e["mixed_iteration_s"]))
    for stats in (s.ttft, s.tpot, s.e2e):
        mean, p50, p90, p99 = stats
        assert 0 < p50 <= p90 <= p99


def test_poisson_rate_with_replicas_scales_to_the_deployment(capacity_per_s):
    e = serve("llama-3.1-8b", prompt=PROMPT, output=OUTPUT, devices=4,
              rate=4 * 0.7 * capacity_per_s, **MODEL)
    assert e["replicas"] == 4
    s = simulate(e, requests=10_000, seed=5)
    assert s.replicas == 4
    assert_steady_state_agrees(s, e)


def test_a_higher_rate_waits_longer_for_the_first_token(capacity_per_s):
    low = simulate(deployment(rate=0.3 * capacity_per_s), requests=5_000, seed=6)
    high = simulate(deployment(rate=0.85 * capacity_per_s), requests=5_000, seed=6)
    assert high.ttft_mean_s > low.ttft_mean_s
    assert high.ttft[3] > low.ttft[3]
    assert high.batch > low.batch
    assert high.tpot_mean_s > low.tpot_mean_s


def test_users_with_think_time_agree_with_the_steady_state():
    e = deployment(users=100, think_time=5)
    s = simulate(e, requests=10_000, seed=7)
    assert_steady_state_agrees(s, e)
    assert within(s.batch, e["batch"], 0.10)


def test_on_demand_admission_preempts_and_keeps_the_throughput():
    e = deployment(admission="on-demand")
    s = simulate(e, requests=10_000, seed=8)
    assert s.preemptions > 0  # offline, the cache fills and decodes then need blocks
    assert within(s.throughput_tokens_per_s, e["throughput_tokens_per_s"], 0.10)
    # the cache grows on demand, so more sequences fit than when each reserves its whole
    # request from admission
    reserved = simulate(deployment(), requests=10_000, seed=8)
    assert s.batch > reserved.batch


# ---------------------------------------------------------------- invariants and determinism


@pytest.mark.parametrize("load", [dict(), dict(rate=15), dict(concurrency=40),
                                  dict(users=30, think_time=2), dict(admission="on-demand"),
                                  dict(rate=20, admission="on-demand")])
def test_every_request_is_served_in_order_of_its_events(load):
    s = simulate(deployment(**load), requests=2_000, seed=9, prompt_cv=0.8, output_cv=1.2)
    assert np.all(s.arrival_s >= 0)
    assert np.all(s.admitted_s >= s.arrival_s)
    assert np.all(s.first_token_s > s.admitted_s)
    assert np.all(s.finish_s >= s.first_token_s)
    assert np.all(np.diff(s.arrival_s) >= 0)  # ids in arrival order
    assert s.prompt_tokens.min() >= 1 and s.output_tokens.min() >= 1
    # one token per iteration after the first: a request cannot finish faster than its
    # decodes at the quickest iteration the deployment has
    quickest = iteration_times(deployment(**load), 1).iteration_s(1, 0, 1)
    assert np.all(s.finish_s - s.first_token_s >= (s.output_tokens - 1) * quickest * 0.999)


def test_lengths_follow_the_coefficients_of_variation():
    s = simulate(deployment(rate=10), requests=20_000, seed=10, prompt_cv=0.5, output_cv=1.0)
    for lengths, mean, cv in ((s.prompt_tokens, PROMPT, 0.5), (s.output_tokens, OUTPUT, 1.0)):
        assert lengths.mean() == pytest.approx(mean, rel=0.03)
        assert lengths.std() / lengths.mean() == pytest.approx(cv, rel=0.05)
    fixed = simulate(deployment(rate=10), requests=100, seed=10)
    assert set(fixed.prompt_tokens.tolist()) == {PROMPT}
    assert set(fixed.output_tokens.tolist()) == {OUTPUT}


def test_the_same_seed_gives_the_same_result():
    e = deployment(rate=15)
    a = simulate(e, requests=1_000, seed=11, output_cv=0.5)
    b = simulate(e, requests=1_000, seed=11, output_cv=0.5)
    c = simulate(e, requests=1_000, seed=12, output_cv=0.5)
    da, db = a.to_dict(), b.to_dict()
    da.pop("wall_s"), db.pop("wall_s")
    assert da == db
    assert np.array_equal(a.finish_s, b.finish_s)
    assert not np.array_equal(a.finish_s, c.finish_s)


def test_one_request_and_single_token_outputs():
    one = simulate(deployment(), requests=1)
    assert one.iterations == OUTPUT  # one prefill iteration and a decode for each other token
    assert one.ttft_mean_s == pytest.approx(one.first_token_s[0])
    single = simulate(deployment(output=1, rate=5), requests=200, seed=13)
    assert math.isnan(single.tpot_mean_s)  # no token after the first
    d = single.to_dict()
    assert d["tpot_mean_s"] is None
    json.dumps(d, allow_nan=False)


def test_to_dict_is_plain_data_and_the_report_compares():
    s = simulate(deployment(rate=15), requests=500, seed=14)
    d = s.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    for name in ("throughput_tokens_per_s", "requests_per_s", "ttft_mean_s", "ttft_p50_s",
                 "ttft_p90_s", "ttft_p99_s", "tpot_mean_s", "tpot_p99_s", "e2e_latency_mean_s",
                 "e2e_latency_p99_s", "batch", "concurrency", "iterations", "wall_s"):
        assert name in d
    assert d["analytic"]["throughput_tokens_per_s"] == pytest.approx(
        float(deployment(rate=15)["throughput_tokens_per_s"]))
    report = s.report()
    assert "simulated" in report and "analytic" in report and "difference" in report
    assert "time per output token (mean)" in report


def test_progress_is_reported_every_tenth(capsys):
    seen = []
    simulate(deployment(rate=15), requests=1_000, seed=15,
             progress=lambda done, total: seen.append((done, total)))
    assert 9 <= len(seen) <= 11
    assert seen == sorted(seen) and seen[-1] == (1_000, 1_000)
    simulate(deployment(rate=15), requests=1_000, seed=15, progress=True)
    assert capsys.readouterr().err.count("simulate:") >= 9


def test_exported_from_the_package():
    # the package's attribute is the function, or (once the module is imported, as the
    # command line does) the module, which calls it
    import ridgeline.simulate as module  # noqa: F401 - binds the attribute to the module
    e = deployment(rate=15)
    a = ridgeline.simulate(e, requests=200, seed=16)
    assert isinstance(a, Simulation)
    b = simulate(e, requests=200, seed=16)
    assert a.to_dict()["ttft_mean_s"] == b.to_dict()["ttft_mean_s"]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("requests", [0, -5, 1.5, True, "lots", None, 10**9])
def test_bad_requests(requests):
    with pytest.raises(ScenarioError, match="requests"):
        simulate(deployment(), requests=requests)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_bad_seed(seed):
    with pytest.raises(ScenarioError, match="seed"):
        simulate(deployment(), seed=seed)


@pytest.mark.parametrize("name", ["prompt_cv", "output_cv"])
@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, "wide", None, True])
def test_bad_coefficient_of_variation(name, value):
    with pytest.raises(ScenarioError, match=name):
        simulate(deployment(), requests=10, **{name: value})


def test_bad_progress():
    with pytest.raises(ScenarioError, match="progress"):
        simulate(deployment(), requests=10, progress="yes")


@pytest.mark.parametrize("estimate", [42, None, "llama-3.1-8b"])
def test_not_an_estimate(estimate):
    with pytest.raises(ScenarioError, match="serving estimate"):
        simulate(estimate)


def test_not_a_serving_estimate():
    with pytest.raises(ScenarioError, match="serving estimate"):
        simulate(infer("llama-3.1-8b", on="h100", batch=8, prompt=512, output=128))


def test_a_deployment_that_does_not_fit():
    e = serve("llama-3.1-70b", on="h100", prompt=PROMPT, output=OUTPUT)
    assert not e["fits"]
    with pytest.raises(ScenarioError, match="does not fit"):
        simulate(e, requests=10)


def test_a_request_longer_than_the_kv_cache():
    e = deployment(prompt=20_000, output=2_000)
    with pytest.raises(ScenarioError, match="prompt_cv"):
        simulate(e, requests=10_000, prompt_cv=6.0)


def test_a_sweep_is_not_one_deployment():
    one = deployment()
    e = ridgeline.estimate(one.scenario, inputs={"kv_cache_capacity_tokens": np.array([1e5, 2e5])},
                           check=False)
    with pytest.raises(ScenarioError, match="sweep"):
        simulate(e, requests=10)


# ---------------------------------------------------------------- the command line


def test_cli_simulate_json(capsys):
    code = main(["serve", "llama-3.1-8b", "--on", "h100", "--prompt", "500", "--output", "100",
                 "--rate", "5", "--simulate", "--requests", "500", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    sim = data["simulation"]
    assert sim["requests"] == 500
    assert sim["load"] == "rate"
    assert sim["throughput_tokens_per_s"] > 0
    assert sim["ttft_p50_s"] <= sim["ttft_p99_s"]


def test_cli_simulate_report_and_bad_requests(capsys):
    code = main(["serve", "llama-3.1-8b", "--on", "h100", "--prompt", "500", "--output", "100",
                 "--concurrency", "8", "--simulate", "--requests", "300", "--seed", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "simulation: 300 requests" in out
    code = main(["serve", "llama-3.1-8b", "--on", "h100", "--simulate", "--requests", "0"])
    out, err = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in err and "requests" in err


def test_a_backlog_that_drains_at_once_is_not_counted_as_a_burst_of_throughput():
    # 200 requests, far fewer than the deployment holds at once: they all complete within a
    # few iterations of each other, and the rate must come from the tokens emitted, not
    # from how closely the completions bunch
    e = serve("llama-3.1-8b", on="h100", devices=1)
    s = simulate(e, requests=200, seed=0)
    assert s.throughput_tokens_per_s <= 1.5 * float(e["throughput_tokens_per_s"])
    assert "drains before a steady state" in s.report()
