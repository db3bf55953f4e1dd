"""Utilisation is physically possible: MFU <= HFU <= the compute efficiency, for every preset.

The model FLOPs (and the recomputed FLOPs HFU adds) must be a subset of the FLOPs the step
time charges at peak x compute efficiency, whatever the sequence length, vocabulary, plan or
accelerator: causal attention on both sides, the embedding look-up a gather, the LM head a
matrix multiply.
"""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.catalog import default_catalog
from ridgeline.errors import RidgelineError
from ridgeline.plugin import Model
from ridgeline.testing.strategies import accelerators

CATALOG = default_catalog()
PRESETS = sorted(CATALOG.models)
TRAINING_ON = ("h100", "a100", "a100-40gb", "b200", "mi300x", "gaudi3", "trainium2", "v100",
               "l4", "tpu-v4", "tpu-v5e", "tpu-v5p")
SERVING_ON = TRAINING_ON + ("groq", "cs-3", "cs-2", "sohu", "inferentia2", "sn40l")
#: a little above 1 ulp of slack for the ratio of sums computed in different orders.
REL = 1e-9

#: sequence lengths and vocabularies from tiny to far past any real model.
LENGTHS = st.sampled_from([1, 2, 3, 128, 4096, 262144, 1_000_000, 2**21]) | \
    st.integers(1, 2**21)
VOCABS = st.none() | st.sampled_from([2, 256, 2**17, 2**24, 2**31]) | st.integers(2, 2**31)


def _powers_of_two_dividing(n: int, limit: int) -> list:
    out, p = [], 1
    while p <= limit and n % p == 0:
        out.append(p)
        p *= 2
    return out


def _stretched(model: Model, context: int, vocab) -> Model:
    """``model`` with room for ``context`` tokens (its learned position table unchanged) and,
    when given, another vocabulary."""
    changes = {}
    if model.max_seq_len is not None and context > model.max_seq_len:
        changes.update(max_seq_len=context, position_rows=model.position_rows or
                       model.max_seq_len)
    if vocab is not None:
        changes["vocab_size"] = vocab
    return attrs.evolve(model, **changes) if changes else model


@st.composite
def training_runs(draw):
    model = CATALOG.model(draw(st.sampled_from(PRESETS)))
    seq = draw(LENGTHS)
    model = _stretched(model, seq, draw(VOCABS))
    tp = draw(st.sampled_from(_powers_of_two_dividing(math.gcd(model.num_heads,
                                                               model.kv_heads), 8)))
    pp = draw(st.sampled_from([p for p in (1, 2, 3, 4, 8) if model.num_layers % p == 0]))
    dp = draw(st.sampled_from([1, 2, 8]))
    micro_batch = draw(st.integers(1, 4))
    interleave = draw(st.sampled_from([1, 2])) if pp > 1 and \
        model.num_layers % (2 * pp) == 0 else 1
    on = draw(st.sampled_from(TRAINING_ON) | accelerators(kinds=("gpu",)))
    return model, dict(
        on=on, tp=tp, pp=pp, dp=dp, micro_batch=micro_batch,
        global_batch=dp * micro_batch * draw(st.integers(1, 16)), seq=seq,
        sp=draw(st.booleans()) if tp > 1 else False, interleave=interleave,
        zero=draw(st.sampled_from([0, 1, 2, 3])),
        recompute=draw(st.sampled_from(["none", "selective", "full"])),
        attention=draw(st.sampled_from(["flash", "unfused"])),
        offload=draw(st.sampled_from(["none", "none", "host"])))


def _compute_efficiency(e) -> float:
    return e["compute_flops_per_s"] / e["peak_flops_per_s"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=training_runs())
def test_training_mfu_hfu_and_compute_efficiency_are_ordered(run):
    model, kwargs = run
    try:
        e = ridgeline.train(model, quantities=["mfu", "hfu", "compute_flops_per_s",
                                               "peak_flops_per_s"], catalog=CATALOG, **kwargs)
    except RidgelineError:
        reject()  # a plan this accelerator or model refuses, with a clear message
    mfu, hfu, efficiency = e["mfu"], e["hfu"], _compute_efficiency(e)
    assert 0.0 < mfu <= hfu * (1 + REL)
    assert hfu <= efficiency * (1 + REL)
    if kwargs["recompute"] == "none":
        assert mfu == hfu


@st.composite
def requests(draw):
    model = CATALOG.model(draw(st.sampled_from(PRESETS)))
    prompt, output = draw(LENGTHS), draw(st.sampled_from([1, 2, 64]) | st.integers(1, 4096))
    model = _stretched(model, prompt + output, draw(VOCABS))
    tp = draw(st.sampled_from(_powers_of_two_dividing(math.gcd(model.num_heads,
                                                               model.kv_heads), 8)))
    pp = draw(st.sampled_from([p for p in (1, 2, 4) if model.num_layers % p == 0]))
    on = draw(st.sampled_from(SERVING_ON) | accelerators(kinds=("gpu",)))
    return model, dict(on=on, tp=tp, pp=pp, batch=draw(st.integers(1, 512)), prompt=prompt,
                       output=output)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests())
def test_inference_mfu_never_exceeds_the_compute_efficiency(request):
    model, kwargs = request
    try:
        e = ridgeline.infer(model, quantities=["mfu", "decode_mfu", "compute_flops_per_s",
                                               "peak_flops_per_s"], catalog=CATALOG, **kwargs)
    except RidgelineError:
        reject()
    efficiency = _compute_efficiency(e)
    assert 0.0 < e["mfu"] <= efficiency * (1 + REL)
    assert 0.0 < e["decode_mfu"] <= efficiency * (1 + REL)


# --------------------------------------------------------------------------- the reproducers


def test_a_quarter_million_token_sequence_stays_below_the_compute_efficiency():
    e = ridgeline.train("llama-3-8b", on="h100", tp=8, dp=8, global_batch=64, seq=262144,
                        context_limit=10**7,
                        quantities=["mfu", "hfu", "compute_flops_per_s", "peak_flops_per_s"],
                        catalog=CATALOG)
    assert e["mfu"] == e["hfu"] <= _compute_efficiency(e)


def test_selective_recomputation_at_a_million_tokens_keeps_mfu_below_hfu_below_efficiency():
    e = ridgeline.train("llama-2-13b", on="a100", tp=2, pp=2, dp=16, global_batch=512,
                        seq=1_000_000, context_limit=10**7, recompute="selective",
                        quantities=["mfu", "hfu", "compute_flops_per_s", "peak_flops_per_s"],
                        catalog=CATALOG)
    assert e["mfu"] < e["hfu"] <= _compute_efficiency(e)


def test_a_huge_vocabulary_counts_the_lm_head_once_and_the_embedding_gather_not_at_all():
    base = CATALOG.model("llama-3-8b")
    huge = attrs.evolve(base, vocab_size=2**31)
    kwargs = dict(on="h100", tp=8, dp=1, global_batch=8, seq=4096, catalog=CATALOG,
                  quantities=["mfu", "hfu", "compute_flops_per_s", "peak_flops_per_s",
                              "model_flops_per_token"])
    small, large = ridgeline.train(base, **kwargs), ridgeline.train(huge, **kwargs)
    assert large["mfu"] <= _compute_efficiency(large)
    # the untied LM head is one vocab x hidden matrix: 6 FLOPs per weight per token
    assert large["model_flops_per_token"] - small["model_flops_per_token"] == pytest.approx(
        6.0 * (2**31 - base.vocab_size) * base.hidden_size, rel=1e-12)


@pytest.mark.parametrize("tied", [False, True])
def test_model_flops_are_the_matrices_a_token_uses_plus_causal_attention(tied):
    model = attrs.evolve(CATALOG.model("llama-2-7b"), tie_embeddings=tied)
    e = ridgeline.train(model, on="h100", tp=1, dp=1, global_batch=1, seq=4096,
                        quantities=["model_flops_per_token"], catalog=CATALOG)
    h, ff, layers, vocab = 4096, 11008, 32, 32000
    matrices = layers * (4 * h * h + 3 * h * ff) + vocab * h  # the LM head, tied or not
    attention = layers * 2 * h * (4096 + 1)  # 4·h per attended token, (T + 1) / 2 of them
    assert e["model_flops_per_token"] == 3 * (2 * matrices + attention)


def test_inference_mfu_counts_the_first_decode_step_at_the_prompts_context():
    e = ridgeline.infer("llama-3-8b", on="h100", batch=256, prompt=100000, output=1,
                        context_limit=10**7,
                        quantities=["mfu", "prefill_flops", "first_decode_step_flops",
                                    "decode_step_flops", "compute_flops_per_s",
                                    "peak_flops_per_s", "e2e_latency_s"], catalog=CATALOG)
    done = e["mfu"] * e["e2e_latency_s"] * e["peak_flops_per_s"]
    assert done == pytest.approx(e["prefill_flops"] + e["first_decode_step_flops"], rel=1e-12)
    assert e["first_decode_step_flops"] < e["decode_step_flops"]
    assert e["mfu"] <= _compute_efficiency(e)


def test_embedding_projections_are_matrix_multiplies_the_step_charges():
    # OPT-350m embeds in 512 dimensions and projects in and out of its 1024-wide trunk
    e = ridgeline.train("opt-350m", on="h100", global_batch=1, seq=2048, catalog=CATALOG,
                        quantities=["training_forward_operations", "model_flops_per_token"])
    rows = {op.name: op for op in e["training_forward_operations"]}
    projection = 2.0 * 512 * 1024 * 2048  # one projection over the micro-batch's tokens
    assert rows["embedding"].flops == projection
    assert rows["lm_head"].flops == 2.0 * 512 * 50272 * 2048 + projection
    charged = sum(op.flops * op.count for op in e["training_forward_operations"]) / 2048
    assert e["model_flops_per_token"] / 3 <= charged
