"""The seed essays' hand-worked numbers, recomputed with each essay's own assumptions."""

import math

import numpy as np
import pytest

import ridgeline
from ridgeline import seeds


def test_essay_001_opt_350m_parameters_and_fp32_size():
    e = ridgeline.infer("opt-350m", on="a100", weights="fp32", activations="fp32", kv="fp32",
                        batch=1, prompt=8, output=8)
    assert e["params"] == 331_196_416  # tied LM head, as the real checkpoint
    assert e["weight_bytes"] == 331_196_416 * 4  # 1.32 GB in fp32
    # the essay counts the LM head separately (untied) and gets 1.42 GB
    assert math.isclose(356_714_496 * 4 / 1e9, 1.43, rel_tol=0.01)


def test_essay_003_batch_one_is_memory_bound():
    e = seeds.essay_003(batch=1)
    assert 1.5e12 < e["weight_bytes"] < 1.65e12
    # ~27 ms to read 1.6 TB at 60 TB/s; ~0.05 ms of arithmetic at 20 x 3e15 FLOP/s
    assert e["tpot_s"] == pytest.approx(0.027, rel=0.06)
    assert e["decode_step_flops"] / (20 * 3e15) == pytest.approx(0.05e-3, rel=0.1)
    assert e["decode_mfu"] == pytest.approx(0.002, rel=0.1)


def test_essay_003_batch_100_reaches_about_20_percent():
    e = seeds.essay_003(batch=100)
    assert e["decode_mfu"] == pytest.approx(0.2, rel=0.1)


def test_essay_002_gpt3_flops_per_word_and_price():
    e = ridgeline.infer("gpt3-175b", on="a100", tp=8, batch=1, prompt=1, output=1)
    flops_per_token = e["decode_step_flops"]
    assert flops_per_token == pytest.approx(2 * 175e9, rel=0.05)
    words_per_token = 0.75  # 750 words ~ 1000 tokens
    assert flops_per_token / words_per_token == pytest.approx(500e9, rel=0.1)
    # the essay's price: 6 cents per 1000 tokens (750 words) = 60 USD per million tokens
    assert 1000 * 60 / 1e6 == pytest.approx(0.06)


@pytest.mark.parametrize("model,tokens,essay_cost", [("gpt-30b", "600B", 326e3),
                                                     ("gpt-70b", "1.4T", 1.75e6)])
def test_essay_004_chinchilla_optimal_training_cost(model, tokens, essay_cost):
    e = ridgeline.train(model, on="a100", tp=8, pp=2, devices=512, global_batch=1024,
                        seq=2048, tokens=tokens, price=1.5, recompute="selective", sp=True)
    # the utilisation the essay's cost implies: model FLOPs / (A100-hours x peak)
    implied = 6 * e["params"] * e["training_tokens"] / (essay_cost / 1.5 * 3600 * 312e12)
    assert 0.40 < implied < 0.50
    assert e["cost_usd"] == pytest.approx(essay_cost, rel=0.2)
    assert 0.35 < e["mfu"] < 0.6  # the ~60 % ceiling the essay quotes for A100s


def test_essay_000_batching_is_a_free_win_until_compute_bound():
    batches, e = seeds.essay_000_intensity()
    intensity = np.asarray(e["decode_arithmetic_intensity"])
    throughput = np.asarray(e["decode_throughput_tokens_per_s"])
    assert intensity[0] == pytest.approx(1.0, rel=0.2)  # ~1 FLOP/byte at batch 1 (bf16)
    assert np.all(np.diff(intensity) > 0)
    assert np.all(np.diff(throughput) > 0)
    # the first doublings nearly double throughput: the free win
    assert throughput[1] / throughput[0] > 1.8
