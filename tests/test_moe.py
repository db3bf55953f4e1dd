"""The mixture-of-experts family and expert parallelism.

Expected parameter counts and where each comes from:

- Mixtral-8x7B: the shipped validation set (``registry/validation/public.toml``), total
  46,702,792,704 and active 12,879,925,248 (router counted in full);
- Mixtral-8x22B: 140,630,071,296, the safetensors total of the mistralai release (32,768-token
  vocabulary) as a public model catalog lists it; 140,620,634,112 for the first community
  conversion with the 32,000-token vocabulary; Mistral's "141B total, 39B active";
- a reduced Qwen2-MoE (3 layers, 4 experts, vocabulary 1519) whose ``torchinfo`` summary,
  printed in a public notes repository, totals 264,235,008 with 86,003,712 per layer;
- Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B, Qwen3-30B-A3B, Qwen3-235B-A22B: exact counts derived here
  from their ``config.json``, checked against the rounded totals and activated counts their
  model cards and reports publish (14.3B / 2.7B, 57B / 14B, 30.5B / 3.3B, 235B / 22B).
"""

from __future__ import annotations

import sys
from importlib.resources import files

import attrs
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.catalog import default_catalog
from ridgeline.cli import main
from ridgeline.engine import estimate, sweep
from ridgeline.errors import RegistryError, ScenarioError
from ridgeline.hf_config import model_from_hf_config
from ridgeline.operations import roofline_s
from ridgeline.plugin import System, bytes_per_element, operations_time_s
from ridgeline.plugins.architectures.moe_operations import (experts_read_busiest,
                                                            experts_touched)
from ridgeline.scenario import Scenario
from ridgeline.testing.strategies import H100_LIKE, accelerators, dense_models, scenarios
from ridgeline.validate import run_validation

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CATALOG = default_catalog()
VALIDATION = tomllib.loads((files("ridgeline.registry") / "validation" / "public.toml")
                           .read_text("utf-8"))
MIXTRAL_CASE = next(c for c in VALIDATION["param_count"] if c["name"] == "Mixtral-8x7B-v0.1")


def counts(model):
    e = estimate(Scenario(CATALOG.model(model) if isinstance(model, str) else model,
                          System(H100_LIKE)),
                 ["params", "active_params", "non_embedding_params", "embedding_params"],
                 catalog=CATALOG)
    return e


# --------------------------------------------------------------------------- parameter counts


def test_mixtral_8x7b_equals_the_validation_set():
    e = counts("mixtral-8x7b")
    assert e["params"] == MIXTRAL_CASE["total_params_derived"] == 46_702_792_704
    assert e["active_params"] == MIXTRAL_CASE["active_params_derived"] == 12_879_925_248


#: preset -> (exact total, exact active, published total, published active), in parameters
PRESETS = {
    "mixtral-8x22b": (140_630_071_296, 39_161_468_928, 141e9, 39e9),
    "qwen1.5-moe-a2.7b": (14_315_784_192, 2_689_173_504, 14.3e9, 2.7e9),
    "qwen2-57b-a14b": (57_408_658_944, 14_249_270_784, 57e9, 14e9),
    "qwen3-30b-a3b": (30_532_122_624, 3_353_032_704, 30.5e9, 3.3e9),
    "qwen3-235b-a22b": (235_093_634_560, 22_190_763_520, 235e9, 22e9),
}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_counts_are_exact_and_match_the_published_rounding(preset):
    total, active, published_total, published_active = PRESETS[preset]
    e = counts(preset)
    assert (e["params"], e["active_params"]) == (total, active)
    # published figures agree to the last digit they show (rounded or cut: Qwen3-30B-A3B's
    # 3.353B active is published as "3.3B", Qwen1.5-MoE's 2.689B as "2.7B")
    for exact, published in ((total, published_total), (active, published_active)):
        last_digit = 1e9 if published % 1e9 == 0 else 1e8
        assert abs(exact - published) < last_digit


def test_qwen_non_embedding_counts_match_the_model_cards():
    # Qwen1.5-MoE blog: 2.0B activated non-embedding; Qwen3 cards: 29.9B and 234B non-embedding
    # (to the last digit shown, as above)
    e = counts("qwen1.5-moe-a2.7b")
    active_non_embedding = e["active_params"] - e["embedding_params"] - 151_936 * 2048
    assert active_non_embedding == 2_066_843_648 and abs(active_non_embedding - 2.0e9) < 1e8
    assert abs(counts("qwen3-30b-a3b")["non_embedding_params"] - 29.9e9) < 1e8
    assert abs(counts("qwen3-235b-a22b")["non_embedding_params"] - 234e9) < 1e9


def test_reduced_qwen2_moe_equals_its_published_torchinfo_summary():
    config = {"model_type": "qwen2_moe", "vocab_size": 1519, "hidden_size": 2048,
              "intermediate_size": 5632, "num_hidden_layers": 3, "num_attention_heads": 16,
              "num_key_value_heads": 16, "num_experts": 4, "num_experts_per_tok": 4,
              "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
              "decoder_sparse_step": 1, "tie_word_embeddings": False}
    assert counts(model_from_hf_config(config))["params"] == 264_235_008


# the public config.json files, as published (keys that change no count left out)
MIXTRAL_8X7B_CONFIG = {
    "architectures": ["MixtralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32,
    "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "num_local_experts": 8, "rms_norm_eps": 1e-05, "rope_theta": 1e6, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 32000}
QWEN2_57B_CONFIG = {
    "architectures": ["Qwen2MoeForCausalLM"], "decoder_sparse_step": 1, "hidden_size": 3584,
    "intermediate_size": 18944, "max_position_embeddings": 131072, "model_type": "qwen2_moe",
    "moe_intermediate_size": 2560, "norm_topk_prob": False, "num_attention_heads": 28,
    "num_experts": 64, "num_experts_per_tok": 8, "num_hidden_layers": 28,
    "num_key_value_heads": 4, "shared_expert_intermediate_size": 20480,
    "sliding_window": 131072, "tie_word_embeddings": False, "use_sliding_window": False,
    "vocab_size": 151936}
QWEN3_30B_CONFIG = {
    "architectures": ["Qwen3MoeForCausalLM"], "attention_bias": False, "decoder_sparse_step": 1,
    "head_dim": 128, "hidden_size": 2048, "intermediate_size": 6144,
    "max_position_embeddings": 40960, "mlp_only_layers": [], "model_type": "qwen3_moe",
    "moe_intermediate_size": 768, "norm_topk_prob": True, "num_attention_heads": 32,
    "num_experts": 128, "num_experts_per_tok": 8, "num_hidden_layers": 48,
    "num_key_value_heads": 4, "tie_word_embeddings": False, "vocab_size": 151936}


@pytest.mark.parametrize("config, preset", [(MIXTRAL_8X7B_CONFIG, "mixtral-8x7b"),
                                            (QWEN2_57B_CONFIG, "qwen2-57b-a14b"),
                                            (QWEN3_30B_CONFIG, "qwen3-30b-a3b")],
                         ids=["mixtral", "qwen2_moe", "qwen3_moe"])
def test_config_json_reads_as_the_preset(config, preset):
    model = model_from_hf_config(config)
    assert model.family == "moe"
    from_config, from_preset = counts(model), counts(preset)
    for q in ("params", "active_params", "non_embedding_params"):
        assert from_config[q] == from_preset[q], q
    assert dict(model.options) == dict(CATALOG.model(preset).options)


@pytest.mark.parametrize("change, field", [
    ({"decoder_sparse_step": 1000}, "decoder_sparse_step"),  # no MoE layer left
    ({"mlp_only_layers": [1]}, "mlp_only_layers"),
    ({"n_routed_experts": 64}, "n_routed_experts"),
    ({"num_experts_per_tok": 65}, "num_experts_per_tok"),
    ({"num_experts": 0}, "num_experts"),
])
def test_bad_moe_config_fields_are_named(change, field):
    with pytest.raises(RegistryError, match=f"{field}: "):
        model_from_hf_config({**QWEN2_57B_CONFIG, **change})


def test_leading_dense_layers_from_mlp_only_layers():
    model = model_from_hf_config({**QWEN3_30B_CONFIG, "mlp_only_layers": [0, 1]})
    assert model.option("dense_layers") == 2
    dense_mlp = 3 * 2048 * 6144
    moe_mlp = 2048 * 128 + 128 * 3 * 2048 * 768
    assert counts(model)["params"] == counts("qwen3-30b-a3b")["params"] + 2 * (dense_mlp - moe_mlp)


def test_validate_runs_the_mixtral_case_exactly():
    result = run_validation()
    case = next(c for c in result["cases"] if c["name"] == "Mixtral-8x7B-v0.1")
    assert case["estimated"] == case["published"] and case["error"] == 0.0
    assert "Mixtral-8x7B-v0.1" not in [c["name"] for c in result["cannot_express"]]


# --------------------------------------------------------------------------- properties


@st.composite
def moe_options(draw, model):
    experts = draw(st.integers(1, 64))
    options = {"num_experts": experts, "experts_per_token": draw(st.integers(1, experts)),
               "moe_intermediate_size": draw(st.integers(16, 4096))}
    if draw(st.booleans()):
        options["shared_experts"] = draw(st.integers(0, 2))
    if draw(st.booleans()):
        options["dense_layers"] = draw(st.integers(0, model.num_layers - 1))
    options["shared_expert_gate"] = draw(st.booleans())
    options["router_bias"] = draw(st.booleans())
    options["qk_norm"] = draw(st.booleans())
    return options


@st.composite
def moe_models(draw):
    model = draw(dense_models())
    return attrs.evolve(model, family="moe", options=draw(moe_options(model)))


@settings(max_examples=40, deadline=None)
@given(model=moe_models())
def test_active_params_never_exceed_total_and_equal_it_when_every_expert_runs(model):
    e = counts(model)
    assert 0 < e["active_params"] <= e["params"]
    everyone = attrs.evolve(model, options={**model.options,
                                            "experts_per_token": model.option("num_experts")})
    all_run = counts(everyone)
    assert all_run["active_params"] == all_run["params"] == e["params"]


@settings(max_examples=60, deadline=None)
@given(experts=st.integers(1, 256), data=st.data())
def test_distinct_experts_lie_between_k_and_e_and_grow_with_tokens(experts, data):
    k = data.draw(st.integers(1, experts))
    tokens = data.draw(st.integers(1, 10_000))
    touched = experts_touched(experts, k, tokens)
    more = experts_touched(experts, k, tokens + data.draw(st.integers(1, 1000)))
    assert k - 1e-9 <= touched <= experts + 1e-9
    assert more >= touched
    assert experts_touched(experts, k, 1) == pytest.approx(k)
    if k < experts:  # strictly more until the last expert is all but certain to be hit
        assert experts_touched(experts, k, 2) > experts_touched(experts, k, 1)


@pytest.mark.parametrize("experts, top_k, ep, tokens", [(8, 2, 2, 1), (8, 2, 4, 2),
                                                         (128, 8, 8, 4), (60, 4, 4, 16)])
def test_busiest_device_matches_a_simulation_of_routing(experts, top_k, ep, tokens):
    rng = np.random.default_rng(7)
    trials, local = 3000, experts // ep
    busiest = 0
    for _ in range(trials):
        hit = np.zeros(experts, dtype=bool)
        for _ in range(tokens):  # each token picks top_k distinct experts uniformly
            hit[rng.choice(experts, top_k, replace=False)] = True
        busiest += hit.reshape(ep, local).sum(axis=1).max()
    assert experts_read_busiest(experts, top_k, tokens, ep) == pytest.approx(
        busiest / trials, rel=0.04)


def test_distinct_experts_for_a_mixtral_batch():
    # 8 experts, top-2: batch 2 touches 8·(1 - 0.75^2) = 3.5 on average, batch 64 nearly all
    assert experts_touched(8, 2, 2) == 3.5
    assert 7.99 < experts_touched(8, 2, 64) < 8.0


def _one_expert(model):
    """``model`` as a MoE with one full-width expert, top-1, nothing shared."""
    return attrs.evolve(model, family="moe",
                        options={"num_experts": 1, "experts_per_token": 1,
                                 "moe_intermediate_size": model.intermediate_size})


def _without_router(ops):
    """The operations with the router dropped and the single expert named like the dense MLP."""
    return tuple(op._replace(name="mlp") if op.name == "experts" else op
                 for op in ops if op.name != "router")


def _router_s(e, table):
    router = next(op for op in e[table] if op.name == "router")
    # the router's weights are dequantised like any other matrix's when stored narrower
    return operations_time_s([router], e["compute_flops_per_s"],
                             e["memory_bandwidth_bytes_per_s"], e["kernel_overhead_s"],
                             dequant_s_per_byte=e.get("weight_dequant_s_per_byte", 0.0),
                             weight_bytes_per_element=bytes_per_element(
                                 e.scenario.model.weights_dtype))


@st.composite
def gpu_scenarios(draw, kind):
    """Scenarios on generated GPUs with nothing offloaded: the path where a phase's time is the
    sum of its operations' rooflines, so a router's cost can be accounted for exactly."""
    s = draw(scenarios(accelerator=draw(accelerators(kinds=("gpu",))), workload_kinds=(kind,)))
    return attrs.evolve(s, plan=attrs.evolve(s.plan, offload="none"))


def _estimate_or_reject(s, quantities):
    """The dense estimate, or reject the example when the scenario cannot be estimated at all
    (a generated device without the link a plan needs)."""
    try:
        return estimate(s, quantities, catalog=CATALOG)
    except ScenarioError:
        assume(False)


INFER_QUANTITIES = ["prefill_operations", "decode_operations", "first_decode_operations",
                    "params", "active_params", "weight_bytes", "kv_cache_bytes_per_device",
                    "activation_bytes", "memory_per_device_bytes", "prefill_flops", "tpot_s",
                    "ttft_s", "compute_flops_per_s", "memory_bandwidth_bytes_per_s",
                    "kernel_overhead_s", "weight_bytes_per_device", "weight_dequant_s_per_byte"]


@settings(max_examples=25, deadline=None)
@given(s=gpu_scenarios("inference"))
def test_one_expert_top_1_is_the_dense_model_plus_its_router_in_inference(s):
    dense = _estimate_or_reject(s, INFER_QUANTITIES)
    moe = estimate(attrs.evolve(s, model=_one_expert(s.model)), INFER_QUANTITIES,
                   catalog=CATALOG)
    h, layers = s.model.hidden_size, s.model.num_layers
    for table in ("prefill_operations", "decode_operations", "first_decode_operations"):
        assert _without_router(moe[table]) == dense[table]
    # the router: hidden x 1 per layer, the only parameters and FLOPs the dense model lacks
    assert moe["params"] - dense["params"] == layers * h
    assert moe["active_params"] - dense["active_params"] == layers * h
    router_flops = 2.0 * s.workload.batch * s.workload.prompt_tokens * h * layers
    assert moe["prefill_flops"] - dense["prefill_flops"] == pytest.approx(
        router_flops * s.plan.tp, rel=1e-9)
    for q in ("kv_cache_bytes_per_device", "activation_bytes"):
        assert moe[q] == dense[q], q
    w = moe["weight_bytes"] / moe["params"]
    assert moe["weight_bytes_per_device"] - dense["weight_bytes_per_device"] == pytest.approx(
        layers * h * w / (s.plan.tp * s.plan.pp), rel=1e-9)
    # the steps are subtracted, so their own rounding (a few ulp of a step that a slow network
    # can make seconds long) is allowed on top of the router's microseconds
    assert moe["tpot_s"] - dense["tpot_s"] == pytest.approx(
        _router_s(moe, "decode_operations"), rel=1e-9, abs=1e-15 + 1e-14 * moe["tpot_s"])
    assert moe["ttft_s"] - dense["ttft_s"] == pytest.approx(
        _router_s(moe, "prefill_operations") + _router_s(moe, "first_decode_operations"),
        rel=1e-9, abs=1e-15 + 1e-14 * moe["ttft_s"])


TRAIN_QUANTITIES = ["training_forward_operations", "params", "model_flops_per_token",
                    "activation_bytes", "step_s", "micro_batches_per_step", "compute_flops_per_s",
                    "memory_bandwidth_bytes_per_s", "kernel_overhead_s"]


@settings(max_examples=25, deadline=None)
@given(s=gpu_scenarios("training"), recompute=st.sampled_from(["none", "full"]))
def test_one_expert_top_1_is_the_dense_model_plus_its_router_in_training(s, recompute):
    # one data-parallel replica: the step is micro-batches, bubble and optimizer, all of which
    # the router's time and parameters enter linearly
    plan = attrs.evolve(s.plan, dp=1, zero=0, recompute=recompute)
    s = attrs.evolve(s, plan=plan, system=attrs.evolve(s.system, devices=plan.devices))
    dense = _estimate_or_reject(s, TRAIN_QUANTITIES)
    moe = estimate(attrs.evolve(s, model=_one_expert(s.model)), TRAIN_QUANTITIES,
                   catalog=CATALOG)
    h, layers = s.model.hidden_size, s.model.num_layers
    assert _without_router(moe["training_forward_operations"]) == \
        dense["training_forward_operations"]
    assert moe["params"] - dense["params"] == layers * h
    assert moe["model_flops_per_token"] - dense["model_flops_per_token"] == pytest.approx(
        6.0 * layers * h, rel=1e-9)
    assert moe["activation_bytes"] == dense["activation_bytes"]
    router_s = _router_s(moe, "training_forward_operations")
    passes = 4.0 if recompute == "full" else 3.0  # forward, backward (2x), recomputed forward
    micro_batches = moe["micro_batches_per_step"] + (plan.pp - 1) / plan.interleave
    optimizer = 28.0 * layers * h / (plan.tp * plan.pp) / moe["memory_bandwidth_bytes_per_s"]
    assert moe["step_s"] - dense["step_s"] == pytest.approx(
        micro_batches * passes * router_s + optimizer, rel=1e-6, abs=1e-12)


# --------------------------------------------------------------------------- decode and FLOPs


def mixtral(**kwargs):
    defaults = dict(on="h100", tp=2, batch=1, catalog=CATALOG)
    return ridgeline.infer("mixtral-8x7b", **{**defaults, **kwargs})


def test_decode_at_batch_1_reads_k_experts_and_at_batch_64_nearly_all():
    model = CATALOG.model("mixtral-8x7b")
    expert_bytes = 3 * 4096 * 14336 * 2 / 2  # one expert in bf16, split over tp = 2
    for batch, experts in ((1, 2.0), (64, 8.0 * (1 - 0.75 ** 64))):
        e = mixtral(batch=batch, quantities=["decode_operations"])
        op = next(op for op in e["decode_operations"] if op.name == "experts")
        assert op.weight_bytes * op.count == pytest.approx(
            experts * expert_bytes * model.num_layers, rel=1e-12)


def test_decode_time_grows_with_batch_until_every_expert_is_read():
    grid = sweep(mixtral().scenario, {"batch": [1, 2, 4, 8, 16, 32, 64]},
                 ["tpot_s", "decode_experts_touched", "decode_step_bytes"], catalog=CATALOG)
    assert np.all(np.diff(grid["decode_experts_touched"]) > 0)
    assert np.all(np.diff(grid["tpot_s"]) > 0)
    for i, batch in enumerate([1, 2, 4, 8, 16, 32, 64]):  # vectorised equals scalar
        one = mixtral(batch=batch, quantities=["tpot_s", "decode_step_bytes"])
        assert grid["tpot_s"][i] == pytest.approx(one["tpot_s"], rel=1e-12)
        assert grid["decode_step_bytes"][i] == pytest.approx(one["decode_step_bytes"],
                                                             rel=1e-12)


def test_memory_holds_every_expert():
    e = mixtral(quantities=["weight_bytes", "params", "weight_bytes_per_device"])
    assert e["weight_bytes"] == 2 * 46_702_792_704
    assert e["weight_bytes_per_device"] == e["weight_bytes"] / 2


def test_prefill_and_training_flops_count_active_parameters():
    e = mixtral(prompt=1, quantities=["prefill_flops", "prefill_operations"])
    linear = sum(op.flops * op.count for op in e["prefill_operations"]
                 if op.name not in ("attention", "norms_residual", "embedding"))
    # one prompt token through every linear layer: 2 FLOPs per active parameter outside the
    # token embedding (the LM head is the embedding-sized matrix that is used)
    # on each of the tp = 2 devices; the small router is computed whole on every device
    active_outside_embedding = 12_879_925_248 - 32000 * 4096
    norms, router = 32 * 2 * 4096 + 4096, 32 * 4096 * 8
    assert linear == pytest.approx(2 * (active_outside_embedding - norms - router) / 2
                                   + 2 * router, rel=1e-12)
    t = ridgeline.train("mixtral-8x7b", on="h100", tp=8, dp=1, seq=4096, global_batch=8,
                        quantities=["model_flops_per_token"], catalog=CATALOG)
    # 3 passes x 2 FLOPs per multiply-add of every matrix a token uses (the norms are not
    # matrices, the embedding a gather; the untied LM head is a matrix), causal attention
    matrices = active_outside_embedding - norms
    attention = 3 * 2 * 32 * 32 * 128 * (4096 + 1)
    assert t["model_flops_per_token"] == 6 * matrices + attention


def test_capacity_factor_pads_expert_compute_and_bad_values_are_clear_errors():
    base = mixtral(batch=8, quantities=["prefill_operations"])
    padded = mixtral(batch=8, quantities=["prefill_operations"],
                     inputs={"capacity_factor": 1.25})
    experts = [next(op for op in e["prefill_operations"] if op.name == "experts")
               for e in (base, padded)]
    assert experts[1].flops == pytest.approx(1.25 * experts[0].flops, rel=1e-12)
    with pytest.raises(ScenarioError, match="capacity_factor must be >= 1"):
        mixtral(quantities=["tpot_s"], inputs={"capacity_factor": 0.5})


# --------------------------------------------------------------------------- expert parallelism


def test_expert_parallelism_is_checked_against_model_and_plan():
    with pytest.raises(ScenarioError, match="needs a mixture-of-experts model"):
        ridgeline.infer("llama-2-7b", on="h100", tp=2, ep=2, catalog=CATALOG)
    with pytest.raises(ScenarioError, match="does not divide the 8 routed experts"):
        ridgeline.train("mixtral-8x7b", on="h100", tp=1, dp=3, ep=3, global_batch=3,
                        catalog=CATALOG)
    with pytest.raises(ScenarioError, match="tp x dp = 2 x 1 = 2 devices"):
        mixtral(ep=4)
    with pytest.raises(ScenarioError, match="one must divide the other"):
        ridgeline.train("qwen1.5-moe-a2.7b", on="h100", tp=4, dp=3, ep=6, global_batch=3,
                        catalog=CATALOG)


def test_inference_ep_inside_the_tensor_group_keeps_memory_and_adds_all_to_alls():
    plain = mixtral(tp=8, batch=64, quantities=["weight_bytes_per_device", "decode_ep_comm_s",
                                                "tpot_s", "decode_operations"])
    ep = mixtral(tp=8, ep=8, batch=64, quantities=["weight_bytes_per_device",
                                                   "decode_ep_comm_s", "tpot_s",
                                                   "decode_operations"])
    assert ep["weight_bytes_per_device"] == plain["weight_bytes_per_device"]
    assert plain["decode_ep_comm_s"] == 0.0 < ep["decode_ep_comm_s"]
    assert ep["tpot_s"] > plain["tpot_s"]
    expert = [next(op for op in e["decode_operations"] if op.name == "experts")
              for e in (plain, ep)]
    assert expert[1].flops == pytest.approx(expert[0].flops, rel=1e-12)  # same work per device


def test_all_to_all_across_the_scale_up_domain_is_slower():
    def comm(tp, dp, ep):
        return ridgeline.train("qwen3-235b-a22b", on="h100", tp=tp, dp=dp, ep=ep, seq=4096,
                               global_batch=dp, quantities=["training_ep_comm_s"],
                               catalog=CATALOG)["training_ep_comm_s"]
    inside, across = comm(1, 16, 8), comm(1, 16, 16)  # an H100 scale-up domain is 8 GPUs
    # twice the group sends (ep-1)/ep of the same bytes per device: only the link changes
    assert across > 4 * inside


def test_expert_parallel_micro_batch_adds_the_all_to_alls_to_the_usual_terms():
    e = ridgeline.train("mixtral-8x7b", on="h100", tp=2, dp=8, ep=8, global_batch=8,
                        recompute="full", catalog=CATALOG,
                        quantities=["micro_batch_s", "training_forward_compute_s", "recompute_s",
                                    "training_tp_comm_s", "training_pp_comm_s",
                                    "training_ep_comm_s"])
    assert e["training_ep_comm_s"] > 0
    assert e["micro_batch_s"] == pytest.approx(
        3 * e["training_forward_compute_s"] + e["recompute_s"] + e["training_tp_comm_s"]
        + e["training_pp_comm_s"] + e["training_ep_comm_s"], rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(tp=st.sampled_from([1, 2, 4]), dp=st.sampled_from([2, 4, 8]),
       ep=st.sampled_from([2, 4, 8, 16]), zero=st.sampled_from([0, 1, 2, 3]))
def test_sharded_training_state_sums_to_the_whole(tp, dp, ep, zero):
    assume(not (tp % ep and ep % tp) and (tp * dp) % ep == 0)
    e = ridgeline.train("qwen3-30b-a3b", on="h100", tp=tp, dp=dp, ep=ep, zero=zero,
                        global_batch=dp, seq=1024, catalog=CATALOG,
                        quantities=["weight_bytes", "weight_bytes_per_device", "params",
                                    "routed_expert_params", "optimizer_bytes_per_device"])
    devices = tp * dp
    experts, rest = e["routed_expert_params"], e["params"] - e["routed_expert_params"]
    etp = tp // ep if tp % ep == 0 else 1
    # each expert shard is held by tp·dp/(ep·etp) devices, everything else by dp
    copies_experts = 1 if zero >= 1 else devices / (ep * etp)
    copies_rest = 1 if zero >= 1 else dp
    assert e["optimizer_bytes_per_device"] * devices == pytest.approx(
        12 * (experts * copies_experts + rest * copies_rest), rel=1e-12)
    if zero == 3:
        assert e["weight_bytes_per_device"] * devices == pytest.approx(e["weight_bytes"],
                                                                        rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(imbalance=st.floats(1.0, 8.0), batch=st.integers(1, 256))
def test_load_imbalance_slows_expert_parallel_decode_only(imbalance, batch):
    def tpot(ep, value):
        return mixtral(tp=8, ep=ep, batch=batch, quantities=["tpot_s"],
                       inputs={"expert_load_imbalance": value})["tpot_s"]
    assert tpot(8, imbalance) >= tpot(8, 1.0)
    assert tpot(1, imbalance) == tpot(1, 1.0)


def test_expert_parallel_decode_waits_for_the_busiest_device():
    # batch 1: two experts are read, each on its own device of eight; the step waits for a
    # device reading one whole expert, not for the mean quarter of one
    e = mixtral(tp=8, ep=8, quantities=["decode_experts_read_per_device", "decode_operations"])
    assert e["decode_experts_read_per_device"] == 1.0
    plain = mixtral(tp=8, quantities=["decode_experts_read_per_device"])
    assert plain["decode_experts_read_per_device"] == 2.0  # a slice of each of the two


def test_imbalance_beyond_the_group_is_a_clear_error():
    with pytest.raises(ScenarioError, match="exceeds ep=2"):
        mixtral(ep=2, quantities=["tpot_s"], inputs={"expert_load_imbalance": 3.0})


def test_expert_parallel_training_shrinks_expert_memory():
    def weights(tp, dp, ep):
        return ridgeline.train("mixtral-8x7b", on="h100", tp=tp, dp=dp, ep=ep, global_batch=dp,
                               quantities=["weight_bytes_per_device", "step_s"],
                               catalog=CATALOG)
    plain, ep = weights(2, 8, 1), weights(2, 8, 8)
    experts = 32 * 8 * 3 * 4096 * 14336
    # without ep every device holds half of each expert; with ep = 8 one whole expert each
    assert plain["weight_bytes_per_device"] - ep["weight_bytes_per_device"] == pytest.approx(
        2 * (experts / 2 - experts / 8), rel=1e-12)


# --------------------------------------------------------------------------- command line


def test_cli_infer_with_expert_parallelism(capsys):
    assert main(["infer", "mixtral-8x7b", "--on", "h100", "--tp", "2", "--ep", "2",
                 "--batch", "64"]) == 0
    out = capsys.readouterr().out
    assert "experts" in out and "router" in out


def test_cli_bad_ep_is_one_line(capsys):
    assert main(["infer", "mixtral-8x7b", "--on", "h100", "--tp", "2", "--ep", "3"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ep=3" in err
