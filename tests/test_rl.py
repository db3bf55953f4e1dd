"""RL post-training: rollouts priced by serving, scoring and updates by training."""

from __future__ import annotations

import json
import math

import pytest

import ridgeline
from ridgeline import ScenarioError
from ridgeline.cli import main

BASE = dict(on="h100", devices=8, prompts=64, group=8, prompt=512, completion=1024)


@pytest.fixture(scope="module")
def colocated():
    return ridgeline.rl("llama-3.1-8b", steps=100, **BASE)


@pytest.fixture(scope="module")
def separate():
    return ridgeline.rl("llama-3.1-8b", steps=100, rollout_devices=4, **BASE)


def test_colocated_step_is_the_sum_of_its_phases(colocated):
    v = colocated.values
    assert colocated.pools == "colocated" and colocated.fits
    parts = v["generation_s"] + v["scoring_s"] + v["update_s"] + v["reshard_s"] + \
        v["optimizer_offload_s"]
    assert v["step_s"] == pytest.approx(parts)
    assert v["generation_fraction"] == pytest.approx(v["generation_s"] / v["step_s"])
    assert 0 < v["generation_fraction"] < 1
    assert v["idle_fraction"] == 0.0
    for key in ("reshard_s", "optimizer_offload_s"):  # devices switch layouts: not free
        assert v[key] > 0


def test_generation_is_the_serving_estimate_of_the_same_rollouts(colocated):
    # the rollouts are P*G requests in flight on the serving physics; with prefix caching
    # each sequence carries ceil(L/G) prompt tokens
    e = colocated.parts["rollouts"]
    assert e.scenario.workload.prompt_tokens == math.ceil(512 / 8)
    assert e.scenario.workload.output_tokens == 1024
    assert e.scenario.workload.concurrency == 64 * 8
    assert colocated["generation_s"] == pytest.approx(512 / float(e["requests_per_s"]))


def test_update_is_the_training_estimate_of_the_same_sequences(colocated):
    e = ridgeline.train("llama-3.1-8b", on="h100", devices=8, zero=3, recompute="full",
                        global_batch=512,
                        seq=512 + 1024, tokens=512 * (512 + 1024))
    assert colocated["policy_update_s"] == pytest.approx(float(e["wall_clock_s"]))
    # scoring: reference and the policy's log-probs, each one forward pass
    assert colocated["scoring_s"] == pytest.approx(
        colocated["scoring_reference_s"] + colocated["scoring_policy_logprobs_s"])
    # a forward pass is cheaper than forward + backward
    assert colocated["scoring_reference_s"] < colocated["policy_update_s"]


def test_cost_per_step_and_run(colocated):
    v = colocated.values
    assert v["cost_per_step_usd"] == pytest.approx(8 * v["price_usd_per_hour"] * v["step_s"]
                                                   / 3600)
    assert v["cost_per_run_usd"] == pytest.approx(100 * v["cost_per_step_usd"])
    assert v["run_s"] == pytest.approx(100 * v["step_s"])
    cheap = ridgeline.rl("llama-3.1-8b", steps=100, price=1.6, **BASE)
    assert cheap["cost_per_run_usd"] == pytest.approx(v["cost_per_run_usd"] / 2)


def test_separate_pools_overlap(separate):
    v = separate.values
    assert separate.pools == "separate"
    assert separate.parts["rollouts"].scenario.system.devices == 4
    assert separate.parts["update"].scenario.system.devices == 4
    train_side = v["scoring_s"] + v["update_s"]
    assert v["step_s"] == pytest.approx(max(v["generation_s"], train_side) + v["weight_sync_s"])
    assert v["weight_sync_s"] > 0 and v["reshard_s"] == 0
    busy = 4 * v["generation_s"] + 4 * train_side
    assert v["idle_fraction"] == pytest.approx(1 - busy / (8 * v["step_s"]))
    assert 0 < v["idle_fraction"] < 1


def test_more_rollout_devices_shift_the_balance():
    few = ridgeline.rl("llama-3.1-8b", rollout_devices=4, **BASE)
    many = ridgeline.rl("llama-3.1-8b", rollout_devices=6, **BASE)
    assert many["generation_s"] < few["generation_s"]
    assert many["update_s"] > few["update_s"]


def test_prefix_cache_lowers_generation_time(colocated):
    full = ridgeline.rl("llama-3.1-8b", prefix_cache=False, **BASE)
    assert full.parts["rollouts"].scenario.workload.prompt_tokens == 512
    assert full["generation_s"] > colocated["generation_s"]


def test_longer_completions_take_longer():
    short = ridgeline.rl("llama-3.1-8b", **{**BASE, "completion": 256})
    long = ridgeline.rl("llama-3.1-8b", **{**BASE, "completion": 2048})
    assert long["generation_s"] > 4 * short["generation_s"]
    assert long["update_s"] > short["update_s"]


def test_ppo_adds_a_critic_and_epochs():
    ppo = ridgeline.rl("llama-3.1-8b", algo="ppo", ppo_epochs=2, **{**BASE, "group": 1,
                                                                     "prompts": 256})
    v = ppo.values
    assert "scoring_critic_values_s" in v
    # the critic defaults to the policy's architecture: it trains as long as the policy
    assert v["critic_update_s"] == pytest.approx(v["policy_update_s"])
    one = ridgeline.rl("llama-3.1-8b", algo="ppo", ppo_epochs=1, **{**BASE, "group": 1,
                                                                     "prompts": 256})
    assert v["policy_update_s"] == pytest.approx(2 * one["policy_update_s"], rel=0.01)


def test_rollout_tp_is_the_fastest_that_fits():
    kw = dict(on="h100", devices=16, rollout_devices=8, prompts=64, group=8, prompt=512,
              completion=2048, tp=8)
    auto = ridgeline.rl("llama-3-70b", **kw)
    chosen = int(auto["rollout_tp"])
    assert auto["rollouts_fits"]
    for rtp in (2, 4, 8):
        other = ridgeline.rl("llama-3-70b", rollout_tp=rtp, **kw)
        if other["rollouts_fits"]:
            assert auto["generation_s"] <= other["generation_s"] * (1 + 1e-9), rtp
    assert chosen in (2, 4, 8)


def test_reward_model_is_scored():
    r = ridgeline.rl("llama-3.1-8b", reward="llama-3.2-1b", **BASE)
    assert 0 < r["scoring_reward_s"] < r["scoring_reference_s"]


def test_a_plan_that_does_not_fit_is_a_result():
    r = ridgeline.rl("llama-3-70b", on="h100", devices=1, prompts=8, group=4, prompt=256,
                     completion=256, zero=0)
    assert r.fits is False and r["update_fits"] is False
    assert any("does not fit" in n for n in r.notes)


@pytest.mark.parametrize("change, words", [
    ({"group": 0}, "group"),
    ({"prompts": 0}, "prompts"),
    ({"rollout_devices": 8}, "rollout_devices must be fewer than devices"),
    ({"rollout_devices": 4, "colocate": True}, "not both"),
    ({"completion": 200_000}, r"prompt \+ completion = 200,512 tokens exceed"),
    ({"algo": "dpo"}, "algo must be one of grpo, ppo"),
    ({"critic": "llama-3.2-1b"}, "critic belongs to ppo"),
    ({"steps": -1}, "steps"),
    ({"rollout_tp": 3}, "rollout_tp=3 does not divide"),
    ({"prefix_cache": "yes"}, "prefix_cache"),
])
def test_bad_input_names_the_argument(change, words):
    with pytest.raises(ScenarioError, match=words):
        ridgeline.rl("llama-3.1-8b", **{**BASE, **change})


def test_context_limit_lets_a_longer_completion_through():
    r = ridgeline.rl("llama-3.1-8b", context_limit=4096, **{**BASE, "prompts": 8,
                                                            "completion": 3000})
    assert r.parts["rollouts"].scenario.workload.output_tokens == 3000
    with pytest.raises(ScenarioError, match="context_limit"):
        ridgeline.rl("llama-3.1-8b", context_limit=1024, **BASE)


def test_global_batch_the_training_plan_cannot_split():
    with pytest.raises(ScenarioError, match="policy update: global batch"):
        ridgeline.rl("llama-3.1-8b", **{**BASE, "prompts": 3, "group": 1})


def test_to_dict_and_explain(colocated):
    d = json.loads(json.dumps(colocated.to_dict()))
    assert d["values"]["step_s"] == pytest.approx(colocated["step_s"])
    assert d["units"]["step_s"] == "s" and d["units"]["cost_per_run_usd"] == "USD"
    assert d["sources"]["generation_s"]["sub_estimate"] == "rollouts"
    text = colocated.explain("generation_s")
    assert "rollouts sub-estimate" in text and "requests_per_s" in text
    assert "generation_s + scoring_s" in colocated.explain("step_s")
    with pytest.raises(ridgeline.UnknownNameError):
        colocated.explain("nonsense")


def test_cli(capsys):
    args = ["rl", "llama-3.1-8b", "--on", "h100", "--devices", "8", "--prompts", "64",
            "--group", "8", "--prompt", "512", "--completion", "1024", "--steps", "10"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "generating:" in out and "per step" in out
    assert main(args + ["--rollout-devices", "4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["pools"] == "separate" and d["values"]["idle_fraction"] > 0
    assert main([a if i != 9 else "0" for i, a in enumerate(args)]) != 0
    assert "group must be a whole number >= 1" in capsys.readouterr().err


# --------------------------------------------------------------------------- junk in

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ridgeline.errors import RidgelineError  # noqa: E402
from ridgeline.testing.strategies import junk_values  # noqa: E402

_RL_ARGS = ("devices", "prompts", "group", "prompt", "completion", "steps", "algo", "colocate",
            "rollout_devices", "rollout_tp", "ppo_epochs", "prefix_cache", "price", "reward")


def _physical(values) -> list:
    bad = []
    for name, value in values.items():
        if isinstance(value, bool) or value is None:
            continue
        if not (isinstance(value, float) and math.isfinite(value) and value >= 0):
            bad.append(f"{name} = {value!r}")
    return bad


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_junk_rl_arguments_give_a_ridgeline_error_or_physical_values(data):
    name = data.draw(st.sampled_from(_RL_ARGS))
    value = data.draw(junk_values())
    kwargs = {**BASE, "prompts": 8, "completion": 128, name: value}
    try:
        r = ridgeline.rl("llama-3.2-1b", **kwargs)
    except RidgelineError:
        return
    assert not _physical(r.values), (name, value)
    assert r["step_s"] > 0 and 0 <= r["idle_fraction"] < 1


def test_every_figure_says_where_it_comes_from(colocated, separate):
    for r in (colocated, separate):
        assert set(r.sources) == set(r.values)
        for name in r.values:
            assert "an input" not in r.explain(name), name


def test_cli_explain(capsys):
    assert main(["rl", "llama-3.1-8b", "--on", "h100", "--devices", "8", "--prompts", "64",
                 "--group", "8", "--prompt", "512", "--completion", "1024",
                 "--explain", "policy_update_s"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("policy_update_s = ") and "update sub-estimate" in out
