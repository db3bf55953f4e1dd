"""Pipeline stages that pp does not divide evenly: Megatron-LM's split or the user's."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.cli import EXIT_ERROR, main
from ridgeline.errors import ScenarioError
from ridgeline.plugin import pipeline_stage_layers

LLAMA_405B = dict(on="h100", tp=8, pp=16, dp=64, seq=8192, global_batch=2048, sp=True,
                  recompute="full", zero=1, tokens="15T")


def test_llama3_405b_split_is_the_one_it_was_trained_with():
    # Llama 3 paper, Section 3.3.2: one layer fewer on the first and last stages
    assert pipeline_stage_layers(126, 16) == (7,) + (8,) * 14 + (7,)


def test_even_split_is_unchanged():
    assert pipeline_stage_layers(80, 4) == (20, 20, 20, 20)


@settings(max_examples=300, deadline=None)
@given(layers=st.integers(1, 300), pp=st.integers(1, 64))
def test_default_split_covers_every_layer_and_is_as_even_as_possible(layers, pp):
    try:
        stages = pipeline_stage_layers(layers, pp)
    except ValueError:
        assert pp > layers
        return
    assert len(stages) == pp and sum(stages) == layers and min(stages) >= 1
    assert max(stages) == -(-layers // pp)  # the fullest stage: ceil(layers / pp)


def test_llama3_405b_trains_on_pp16():
    e = ridgeline.train("llama-3.1-405b", **LLAMA_405B)
    assert e["fits"]
    assert e["layers_per_stage_max"] == 8
    # the fullest stage holds 8/126 of the layers' weights over tp 8
    assert e["pp_shards"] == pytest.approx(126 / 8)
    assert 0 < e["mfu"] <= e["hfu"] <= 1
    # pp=18 divides the 126 layers into 7 each: less per stage, a longer bubble
    even = ridgeline.train("llama-3.1-405b", **dict(LLAMA_405B, pp=18, dp=64))
    assert even["layers_per_stage_max"] == 7
    assert even["micro_batch_s"] < e["micro_batch_s"]
    assert even["weight_bytes_per_device"] < e["weight_bytes_per_device"]


@pytest.mark.parametrize("quantity", ["step_s", "memory_per_device_bytes", "mfu",
                                      "weight_bytes_per_device", "activation_bytes",
                                      "pipeline_bubble_s", "gradient_sync_s",
                                      "optimizer_bytes_per_device"])
def test_even_stages_given_explicitly_give_exactly_the_old_numbers(quantity):
    kw = dict(on="h100", tp=8, pp=4, dp=2, global_batch=64, seq=4096)
    old = ridgeline.train("llama-3-70b", **kw)
    given_even = ridgeline.train("llama-3-70b", pp_layers=(20, 20, 20, 20), **kw)
    assert old[quantity] == given_even[quantity]


def test_slowest_stage_sets_the_pace_and_fullest_the_memory():
    kw = dict(on="h100", tp=8, pp=4, dp=2, global_batch=64, seq=4096)
    even = ridgeline.train("llama-3-70b", **kw)
    skewed = ridgeline.train("llama-3-70b", pp_layers=(14, 26, 20, 20), **kw)
    assert skewed["layers_per_stage_max"] == 26
    assert skewed["micro_batch_s"] > even["micro_batch_s"]
    assert skewed["pipeline_bubble_s"] > even["pipeline_bubble_s"]
    assert skewed["weight_bytes_per_device"] == pytest.approx(
        even["weight_bytes_per_device"] * 26 / 20)
    assert skewed["activation_bytes"] > even["activation_bytes"]


def test_inference_and_serving_with_uneven_stages():
    e = ridgeline.infer("llama-3-70b", on="h100", tp=2, pp=3)
    assert e["layers_per_stage_max"] == 27  # 80 layers: 27, 27, 26
    even = ridgeline.infer("llama-3-70b", on="h100", tp=2, pp=4)
    assert e["kv_cache_bytes_per_device"] == pytest.approx(
        even["kv_cache_bytes_per_device"] * 27 / 20)
    s = ridgeline.serve("llama-3-70b", on="h100", tp=2, pp=3, pp_layers="26,27,27")
    assert s["layers_per_stage_max"] == 27 and s["requests_per_s"] > 0


@pytest.mark.parametrize("pp_layers, message", [
    ((20, 20, 20, 19), "adds up to 79 layers"),
    ((20, 20, 20, 20, 0), "whole number of layers >= 1"),
    ("20,20,x,20", "whole number of layers >= 1"),
    ((40, 40), "gives 2 stages but pp is 4"),
    (3.5, "expected layers per pipeline stage"),
    ((20, True, 20, 20), "whole number"),
])
def test_bad_pp_layers_are_named(pp_layers, message):
    with pytest.raises(ScenarioError, match=message):
        ridgeline.train("llama-3-70b", on="h100", tp=8, pp=4, pp_layers=pp_layers)


def test_too_many_stages_and_interleave_are_refused():
    with pytest.raises(ScenarioError, match="pp=81 is more than the 80 layers"):
        ridgeline.infer("llama-3-70b", on="h100", pp=81)
    with pytest.raises(ScenarioError, match="interleave=2 needs pipeline stages of equal"):
        ridgeline.train("llama-3.1-405b", on="h100", tp=8, pp=16, dp=1, interleave=2)


def test_cli_pp_layers(capsys):
    argv = ["train", "llama-3-70b", "--on", "h100", "--tp", "8", "--pp", "4", "--pp-layers",
            "14,26,20,20"]
    assert main(argv) == 0
    assert "pp=4 (14+26+20x2 layers)" in capsys.readouterr().out
    assert main(argv[:-1] + ["14,26,20"]) == EXIT_ERROR
    assert "pp_layers gives 3 stages but pp is 4" in capsys.readouterr().err


@pytest.mark.parametrize("model, kw", [
    ("llama-3-70b", dict(on="h100", tp=8)),                       # 80 layers
    ("mixtral-8x7b", dict(on="h100", tp=2, ep=2)),                # MoE, 32 layers
    ("deepseek-v2-lite", dict(on="h100", tp=1)),                  # MLA + MoE, 27 layers
    ("llama-3-70b", dict(on="h100", tp=8, offload="host", zero=1)),
    ("llama-3-70b", dict(on="tpu-v5p", tp=8)),
])
def test_uneven_stage_sits_between_its_even_neighbours(model, kw):
    layers = ridgeline.catalog.default_catalog().models[model].num_layers
    pps = [pp for pp in range(2, 9) if layers % pp]
    pp = pps[0]
    lo = next(p for p in range(pp + 1, layers + 1) if layers % p == 0)
    hi = next(p for p in range(pp - 1, 0, -1) if layers % p == 0)
    runs = {p: ridgeline.train(model, pp=p, dp=2, global_batch=64, seq=2048, **kw)
            for p in (hi, pp, lo)}
    assert runs[pp]["layers_per_stage_max"] == -(-layers // pp)
    # (offloaded gradients leave one layer at a time: the same bucket whatever the stages)
    grads = () if kw.get("offload") else ("gradient_bytes_per_device",)
    for q in ("micro_batch_s", "weight_bytes_per_device") + grads:
        assert runs[lo][q] < runs[pp][q] < runs[hi][q], q


def test_distill_and_disaggregated_serving_take_uneven_stages():
    # 16 and 32 layers over 3 stages each
    d = ridgeline.distill("llama-3.2-1b", teacher="llama-3.1-8b", on="h100", devices=6,
                          tp=1, pp=3, dp=2, teacher_pp=3, seq=2048, tokens="1B",
                          global_batch=64)
    assert d.values["student_training_s"] > 0 and d.values["teacher_pass_s"] > 0
    s = ridgeline.serve("llama-3-70b", on="h100", disagg="prefill=1x(tp=4,pp=3),decode=1x(tp=8)")
    assert s.values["requests_per_s"] > 0


def test_serving_is_paced_by_the_fullest_stage():
    kw = dict(on="h100", tp=2, prompt=512, output=256)
    even = ridgeline.serve("llama-3-70b", pp=4, **kw)
    given_even = ridgeline.serve("llama-3-70b", pp=4, pp_layers=(20, 20, 20, 20), **kw)
    skewed = ridgeline.serve("llama-3-70b", pp=4, pp_layers=(14, 26, 20, 20), **kw)
    assert given_even["pipeline_pace_factor"] == 1.0
    assert given_even["requests_per_s"] == even["requests_per_s"]
    assert skewed["pipeline_pace_factor"] == pytest.approx(4 * 26 / 80)
    assert skewed["requests_per_s"] < even["requests_per_s"]
    assert 0 < skewed["mfu"] <= 1
    # at the same load every step waits for the fullest stage
    fixed = dict(kw, concurrency=64)
    assert ridgeline.serve("llama-3-70b", pp=4, pp_layers=(14, 26, 20, 20), **fixed)["tpot_s"] > \
        ridgeline.serve("llama-3-70b", pp=4, **fixed)["tpot_s"]
