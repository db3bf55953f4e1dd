"""Sliding and chunked attention windows: KV cache, attention work, serving, training."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.catalog import default_catalog
from ridgeline.plugin import attended_sum, held_positions, mean_attended

CATALOG = default_catalog()
MISTRAL = CATALOG.models["mistral-7b"]
FULL = attrs.evolve(MISTRAL, sliding_window=None)
#: K and V of one token in Mistral 7B: 32 layers x 8 KV heads x 128 x 2 x 2 bytes.
MISTRAL_KV_BYTES_PER_TOKEN = 32 * 8 * 128 * 2 * 2


def _infer(model, **kw):
    kw.setdefault("on", "h100")
    return ridgeline.infer(model, **kw)


def test_mistral_preset_has_the_v0_1_window():
    assert MISTRAL.sliding_window == 4096 and MISTRAL.windowed_layers == 32


def test_16k_prompt_holds_a_4096_token_window_of_kv():
    windowed = _infer(MISTRAL, prompt=16384, output=1)
    full = _infer(FULL, prompt=16384, output=1)
    assert windowed["kv_cache_bytes"] == 4096 * MISTRAL_KV_BYTES_PER_TOKEN  # 0.54 GB
    assert full["kv_cache_bytes"] == 16385 * MISTRAL_KV_BYTES_PER_TOKEN  # 2.15 GB
    assert round(windowed["kv_cache_bytes"] / 1e9, 2) == 0.54
    assert round(full["kv_cache_bytes"] / 1e9, 2) == 2.15
    assert windowed["max_batch"] > full["max_batch"]


def test_short_context_is_unchanged_by_the_window():
    a, b = _infer(MISTRAL, prompt=1000, output=200), _infer(FULL, prompt=1000, output=200)
    for q in ("kv_cache_bytes", "prefill_s", "decode_step_s", "max_batch", "ttft_s"):
        assert a[q] == b[q], q


def _attention(e, table):
    return next(op for op in e[table] if op.name == "attention")


def test_prefill_attention_flops_bounded_by_the_window():
    t, w = 30000, 4096
    a, b = _infer(MISTRAL, prompt=t, output=1), _infer(FULL, prompt=t, output=1)
    ratio = _attention(a, "prefill_operations").flops / _attention(b, "prefill_operations").flops
    # pairs: the W(W+1)/2 triangle then W per position, against T(T+1)/2
    expected = (w * (w + 1) / 2 + (t - w) * w) / (t * (t + 1) / 2)
    assert ratio == pytest.approx(expected, rel=1e-12)
    assert a["prefill_s"] < b["prefill_s"]


def test_decode_reads_at_most_the_window():
    a = _infer(MISTRAL, prompt=20000, output=100)
    b = _infer(FULL, prompt=20000, output=100)
    read_a = _attention(a, "decode_operations").kv_bytes
    read_b = _attention(b, "decode_operations").kv_bytes
    per_token = MISTRAL_KV_BYTES_PER_TOKEN / 32  # one layer's, tp=1, one sequence
    # the new token's K/V written plus W positions read, per layer
    assert read_a == pytest.approx(per_token * (1 + 4096), rel=1e-12)
    assert read_b == pytest.approx(per_token * (1 + 20050), rel=1e-12)
    assert a["decode_step_s"] < b["decode_step_s"]


def test_local_global_mix_is_between_all_and_none():
    mixed = attrs.evolve(MISTRAL, window_layers=24)  # 3 of 4 windowed, 8 global
    kv = [_infer(m, prompt=16384, output=1)["kv_cache_bytes"] for m in (MISTRAL, mixed, FULL)]
    assert kv[0] < kv[1] < kv[2]
    per_layer = MISTRAL_KV_BYTES_PER_TOKEN / 32
    assert kv[1] == pytest.approx(per_layer * (24 * 4096 + 8 * 16385), rel=1e-12)


def test_chunked_attention_counts_positions_in_the_chunk():
    chunked = attrs.evolve(MISTRAL, window_kind="chunked")
    # positions 1..8 with chunks of 4 attend to 1,2,3,4,1,2,3,4
    small = attrs.evolve(MISTRAL, sliding_window=4, window_kind="chunked")
    assert attended_sum(small, 8.0) == 20.0
    assert attended_sum(attrs.evolve(small, window_kind="sliding"), 8.0) == 26.0
    # a chunked layer does less attention work than a sliding one of the same length
    t = 20000
    a = _attention(_infer(chunked, prompt=t, output=1), "prefill_operations").flops
    b = _attention(_infer(MISTRAL, prompt=t, output=1), "prefill_operations").flops
    assert a < b
    # its KV is bounded by the chunk
    assert _infer(chunked, prompt=t, output=1)["kv_cache_bytes"] == \
        4096 * MISTRAL_KV_BYTES_PER_TOKEN


def test_serving_concurrency_grows_with_a_window():
    kw = dict(on="h100", prompt=16000, output=1000)
    a, b = ridgeline.serve(MISTRAL, **kw), ridgeline.serve(FULL, **kw)
    assert a["kv_concurrency_limit"] > 3 * b["kv_concurrency_limit"]
    assert a["requests_per_s"] > b["requests_per_s"]


def test_serving_short_requests_unchanged():
    kw = dict(on="h100", prompt=512, output=256)
    a, b = ridgeline.serve(MISTRAL, **kw), ridgeline.serve(FULL, **kw)
    assert a["kv_concurrency_limit"] == b["kv_concurrency_limit"]


def test_training_with_a_window_and_utilisation_consistent():
    kw = dict(on="h100", tp=1, dp=8, seq=16384, global_batch=64, tokens="1B",
              recompute="full")
    a, b = ridgeline.train(MISTRAL, **kw), ridgeline.train(FULL, **kw)
    assert a["attention_flops_per_token_forward"] < b["attention_flops_per_token_forward"]
    assert a["step_s"] < b["step_s"]
    assert a["mfu"] <= a["hfu"] * (1 + 1e-9)
    assert a["hfu"] <= CATALOG.accelerators["nvidia-h100-sxm"].efficiency.compute * (1 + 1e-9)


def test_window_quantities_in_json_and_explain():
    e = _infer(MISTRAL, prompt=16384, output=1)
    assert "kv_held_tokens" in e.to_dict()["values"]
    assert e["kv_held_tokens"] == 4096
    assert "kv_held_tokens" in e.explain("kv_cache_bytes")


@settings(max_examples=200, deadline=None)
@given(window=st.integers(1, 70000), context=st.integers(1, 200000),
       layers=st.integers(1, 32), kind=st.sampled_from(["sliding", "chunked"]))
def test_window_never_holds_more_and_equals_full_within_it(window, context, layers, kind):
    m = attrs.evolve(MISTRAL, sliding_window=window, window_kind=kind, window_layers=layers)
    held = held_positions(m, float(context))
    assert 0 < held <= context
    mean = mean_attended(m, 1.0, float(context))
    assert 0 < mean <= (context + 1) / 2.0 * (1 + 1e-12)
    if context <= window:
        assert held == context
        assert mean == pytest.approx((context + 1) / 2.0, rel=1e-12)


def test_window_functions_take_arrays():
    contexts = np.array([100.0, 4096.0, 10000.0])
    np.testing.assert_allclose(held_positions(MISTRAL, contexts), [100.0, 4096.0, 4096.0])
    assert mean_attended(MISTRAL, 1.0, contexts).shape == (3,)



def test_attention_sinks_add_a_score_column_only_to_unfused_kernels():
    sinks = attrs.evolve(MISTRAL, attention_sinks=True)
    kw = dict(on="h100", tp=1, dp=8, seq=4096, global_batch=64, tokens="1B")
    for attention in ("flash", "unfused"):
        a = ridgeline.train(sinks, attention=attention, **kw)
        b = ridgeline.train(MISTRAL, attention=attention, **kw)
        ops_a = _attention(a, "training_forward_operations")
        ops_b = _attention(b, "training_forward_operations")
        assert ops_a.flops == ops_b.flops  # a logit, not a dot product
        if attention == "flash":
            assert ops_a.activation_bytes == ops_b.activation_bytes
            assert a["activation_bytes"] == b["activation_bytes"]
        else:  # one column more per row of the 4,096-wide score matrix
            assert ops_a.activation_bytes > ops_b.activation_bytes
            assert a["activation_bytes"] > b["activation_bytes"]
    # no KV cache for the sink
    e = _infer(sinks, prompt=16384, output=1)
    assert e["kv_cache_bytes"] == _infer(MISTRAL, prompt=16384, output=1)["kv_cache_bytes"]


def test_speculative_decoding_counts_each_models_window():
    from ridgeline.plugin import Model
    draft = Model(id="tiny-draft", vocab_size=32000, hidden_size=512, num_layers=4,
                  num_heads=8, intermediate_size=1024, max_seq_len=32768)
    kw = dict(on="h100", prompt=16000, output=1000, draft=draft, gamma=4, accept=0.7)
    a, b = _infer(MISTRAL, **kw), _infer(FULL, **kw)
    assert a["kv_cache_bytes_per_device"] < b["kv_cache_bytes_per_device"]
    assert a["max_batch"] > b["max_batch"]
    windowed_draft = attrs.evolve(draft, sliding_window=1024)
    c = _infer(MISTRAL, **dict(kw, draft=windowed_draft))
    assert c["draft_kv_held_tokens"] == 1024 and a["draft_kv_held_tokens"] == 17000
    assert c["draft_kv_cache_bytes_per_device"] < a["draft_kv_cache_bytes_per_device"]


def test_disaggregated_serving_hands_over_only_the_window():
    spec = "prefill=1x(tp=1),decode=1x(tp=1)"
    a = ridgeline.serve(MISTRAL, on="h100", prompt=16000, output=500, disagg=spec)
    b = ridgeline.serve(FULL, on="h100", prompt=16000, output=500, disagg=spec)
    assert a.values["kv_transfer_s"] < b.values["kv_transfer_s"]
    assert a.values["requests_per_s"] >= b.values["requests_per_s"]


@settings(max_examples=40, deadline=None)
@given(window=st.integers(1, 40000), layers=st.integers(1, 32),
       kind=st.sampled_from(["sliding", "chunked"]), prompt=st.integers(1, 30000),
       output=st.integers(1, 2000))
def test_estimate_with_a_window_never_costs_more(window, layers, kind, prompt, output):
    m = attrs.evolve(MISTRAL, sliding_window=window, window_kind=kind, window_layers=layers)
    a, b = _infer(m, prompt=prompt, output=output), _infer(FULL, prompt=prompt, output=output)
    assert a["kv_cache_bytes"] <= b["kv_cache_bytes"]
    assert a["max_batch"] >= b["max_batch"]
    for table in ("prefill_operations", "decode_operations"):
        assert _attention(a, table).flops <= _attention(b, table).flops * (1 + 1e-12)
    if prompt + output <= window:
        assert a["kv_cache_bytes"] == b["kv_cache_bytes"]
        assert a["ttft_s"] == pytest.approx(b["ttft_s"], rel=1e-12)
        assert a["tpot_s"] == pytest.approx(b["tpot_s"], rel=1e-12)
