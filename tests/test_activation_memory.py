"""Stored activations: a fused (flash) attention kernel never stores the score matrix."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.catalog import default_catalog

CATALOG = default_catalog()


def _per_layer(model="llama-2-13b", **kwargs):
    args = dict(on="a100", dp=8, global_batch=64, seq=4096, catalog=CATALOG,
                quantities=["training_activation_bytes_per_layer", "activation_bytes"],
                context_limit=10**7)  # the lengths probe the formula, not a real run
    return ridgeline.train(model, **{**args, **kwargs})


def test_flash_attention_stores_less_than_unfused_by_exactly_the_score_terms():
    flash, unfused = (_per_layer(attention=kind) for kind in ("flash", "unfused"))
    s, b, heads = 4096, 1, 40
    scores = 5.0 * heads * s * s * b  # scores, softmax (2 bytes each) and dropout mask (1)
    statistics = 4.0 * heads * s * b  # the fp32 logsumexp of every row and head
    assert unfused["training_activation_bytes_per_layer"] - \
        flash["training_activation_bytes_per_layer"] == pytest.approx(scores - statistics,
                                                                      rel=1e-12)
    assert flash["activation_bytes"] < unfused["activation_bytes"] / 5


@pytest.mark.parametrize("model", ["llama-2-13b", "mixtral-8x7b", "deepseek-v2-lite",
                                   "gpt2"])
@settings(max_examples=10, deadline=None)
@given(seq=st.integers(1, 512), tp=st.sampled_from([1, 2, 4]), sp=st.booleans(),
       micro_batch=st.integers(1, 4))
def test_flash_attention_activations_grow_linearly_in_sequence_length(model, seq, tp, sp,
                                                                      micro_batch):
    kwargs = dict(tp=tp, dp=1, sp=sp and tp > 1, micro_batch=micro_batch,
                  global_batch=micro_batch)
    one, two = (_per_layer(model, seq=n, **kwargs)["training_activation_bytes_per_layer"]
                for n in (seq, 2 * seq))
    assert two == pytest.approx(2.0 * one, rel=1e-12)


def test_unfused_attention_activations_grow_quadratically():
    one, two = (_per_layer(seq=n, attention="unfused")["training_activation_bytes_per_layer"]
                for n in (4096, 8192))
    assert two > 3.0 * one


def test_selective_recomputation_stores_neither_scores_nor_statistics():
    selective = [_per_layer(attention=kind, recompute="selective")[
        "training_activation_bytes_per_layer"] for kind in ("flash", "unfused")]
    flash = _per_layer()["training_activation_bytes_per_layer"]
    assert selective[0] == selective[1] == pytest.approx(flash - 4.0 * 40 * 4096, rel=1e-12)
