"""Multi-head latent attention (``plugins/architectures/mla.py``): parameters, KV cache, FLOPs.

Reference numbers come from two independent places, each cited where it is used:

- parameter counts of the Hugging Face modules, counted with ``sum(p.numel() for p in
  model.parameters())`` on Transformers 5.23's ``DeepseekV3ForCausalLM``,
  ``DeepseekV2ForCausalLM`` and ``MiniCPM3ForCausalLM`` built on the meta device from each
  checkpoint's config.json values;
- FLOPs of the naive form, measured with ``torch.utils.flop_counter.FlopCounterMode`` on the
  eager attention of a small ``DeepseekV3ForCausalLM`` (the ``SMALL`` model below);

and hand arithmetic, written out next to each expected value.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
from importlib.resources import files

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ridgeline.api import infer, train
from ridgeline.catalog import BUILTIN_PLUGINS, build_catalog
from ridgeline.engine import estimate, sweep
from ridgeline.errors import RegistryError, ScenarioError
from ridgeline.plugin import Model, Plan, System, load_model
from ridgeline.plugins.architectures import mla
from ridgeline.scenario import InferenceWorkload, Scenario, TrainingWorkload
from ridgeline.testing.strategies import H100_LIKE, LLAMA_2_7B_LIKE

pytest_plugins = ["ridgeline.testing"]

MLA_PLUGIN = "ridgeline.plugins.architectures.mla"
REGISTRY = files("ridgeline.registry")


@functools.lru_cache(maxsize=None)
def built_catalog():
    return build_catalog(entry_points=False)


@pytest.fixture
def catalog():
    return built_catalog()


def preset(model_id):
    return load_model(REGISTRY / "models" / f"{model_id}.toml")


#: a small dense model with DeepSeek-V3's attention layout, small enough to count by hand.
SMALL = Model(id="mla-small", vocab_size=1000, hidden_size=64, num_layers=3, num_heads=4,
              head_dim=12, intermediate_size=128, attention="mla",
              options=dict(q_lora_rank=16, kv_lora_rank=8, qk_nope_head_dim=8,
                           qk_rope_head_dim=4, v_head_dim=8))


def run(model, quantities, *, workload=InferenceWorkload(), plan=Plan(), inputs=None,
        catalog=None):
    scenario = Scenario(model=model, system=System(H100_LIKE, devices=plan.devices), plan=plan,
                        workload=workload)
    return estimate(scenario, quantities, catalog=catalog or built_catalog(), inputs=inputs)


def with_options(model, **changes):
    return attrs.evolve(model, options={**model.options, **changes})


# --------------------------------------------------------------------------- parameters


def test_small_model_counted_by_hand(catalog):
    # q_a_proj 64x16 = 1024, q_a_layernorm 16, q_b_proj 16 x 4 x (8 + 4) = 768,
    # kv_a_proj_with_mqa 64 x (8 + 4) = 768, kv_a_layernorm 8, kv_b_proj 8 x 4 x (8 + 8) = 512,
    # o_proj 4 x 8 x 64 = 2048
    attention = 1024 + 16 + 768 + 768 + 8 + 512 + 2048
    assert attention == 5144
    # per layer: + gated MLP 3 x 64 x 128 + 2 norms x 64; embedding and LM head 1000 x 64
    # each, final norm 64. Transformers' DeepseekV3ForCausalLM with these dims (every layer
    # dense) counts 217,608 too.
    total = 3 * (attention + 3 * 64 * 128 + 2 * 64) + 2 * 1000 * 64 + 64
    assert total == 217_608
    e = run(SMALL, ["attention_params_per_layer", "params", "active_params"], catalog=catalog)
    assert e["attention_params_per_layer"] == attention
    assert e["params"] == e["active_params"] == total
    assert e.formula("attention_params_per_layer").plugin == MLA_PLUGIN


@pytest.mark.parametrize("no_compression", [{"q_lora_rank": 0}, None])
def test_query_without_compression_is_one_projection(catalog, no_compression):
    model = with_options(SMALL, **no_compression) if no_compression else attrs.evolve(
        SMALL, options={k: v for k, v in SMALL.options.items() if k != "q_lora_rank"})
    # q_proj 64 x 4 x 12 = 3072 replaces q_a_proj, q_a_layernorm and q_b_proj
    expected = 3072 + 768 + 8 + 512 + 2048
    assert run(model, ["attention_params_per_layer"],
               catalog=catalog)["attention_params_per_layer"] == expected


#: one layer's attention, from Transformers' modules on the meta device (layer 0's self_attn).
HF_ATTENTION_PER_LAYER = {"deepseek-v3": 187_107_328, "deepseek-v2": 149_227_520,
                          "deepseek-v2-lite": 13_763_072, "minicpm3-4b": 13_517_824}

#: every parameter, from the same count. DeepSeek-V3's adds its routers' score-correction
#: bias, 58 MoE layers x 256, which DeepSeek's modeling_deepseek.py holds as an nn.Parameter
#: (the preset's router_bias) and the Transformers port as a buffer (671,026,404,352).
HF_TOTAL = {"deepseek-v3": 671_026_404_352 + 58 * 256, "deepseek-v2": 235_741_434_880,
            "deepseek-v2-lite": 15_706_484_224, "minicpm3-4b": 4_073_875_968}


@pytest.mark.parametrize("model_id", sorted(HF_TOTAL))
def test_preset_counts_equal_the_hugging_face_modules(catalog, model_id):
    e = run(catalog.model(model_id), ["attention_params_per_layer", "params"], catalog=catalog)
    assert e["attention_params_per_layer"] == HF_ATTENTION_PER_LAYER[model_id]
    assert e["params"] == HF_TOTAL[model_id]


#: (published total, published active) in billions: DeepSeek-V3 (arXiv:2412.19437: 671B total,
#: 37B activated; the main model without the multi-token-prediction module), DeepSeek-V2 and
#: V2-Lite (arXiv:2405.04434: 236B/21B, 15.7B/2.4B).
PUBLISHED = {"deepseek-v3": (671, 37), "deepseek-v2": (236, 21), "deepseek-v2-lite": (15.7, 2.4)}


@pytest.mark.parametrize("model_id", sorted(PUBLISHED))
def test_deepseek_totals_and_active_parameters(catalog, model_id):
    model = catalog.model(model_id)
    e = run(model, ["params", "active_params", "embedding_params"], catalog=catalog)
    o = model.options
    # routed experts a token does not run: MoE layers x (experts - top-k) x a gated expert
    idle = (model.num_layers - o["dense_layers"]) * (o["num_experts"] - o["experts_per_token"]) \
        * 3 * model.hidden_size * o["moe_intermediate_size"]
    assert e["active_params"] == e["params"] - idle
    total_b, active_b = PUBLISHED[model_id]
    assert round(e["params"] / 1e9, 1 if total_b < 100 else 0) == total_b
    # DeepSeek's "activated" counts about one row of the token embedding, not the table:
    # within 2.5% once the table is left out (36.6B, 20.9B, 2.45B)
    assert math.isclose(e["active_params"] - e["embedding_params"], active_b * 1e9, rel_tol=0.025)


# --------------------------------------------------------------------------- KV cache


@st.composite
def mla_models(draw, max_layers=64):
    """Dense models with multi-head latent attention and widths in DeepSeek's range."""
    nope = draw(st.sampled_from((16, 32, 64, 128)))
    rope = draw(st.sampled_from((8, 32, 64)))
    hidden = draw(st.integers(64, 8192))
    return Model(
        id="mla-generated", vocab_size=draw(st.integers(256, 200_000)), hidden_size=hidden,
        num_layers=draw(st.integers(1, max_layers)),
        num_heads=draw(st.sampled_from((1, 2, 4, 8, 16, 40, 128))),
        head_dim=nope + rope, intermediate_size=draw(st.integers(64, 4 * hidden)),
        attention="mla",
        norm=draw(st.sampled_from(("rmsnorm", "layernorm"))),
        tie_embeddings=draw(st.booleans()),
        weights_dtype=draw(st.sampled_from(("bf16", "fp8", "int4"))),
        kv_dtype=draw(st.sampled_from(("bf16", "fp8", "fp16"))),
        options=dict(q_lora_rank=draw(st.sampled_from((0, 64, 768, 1536))),
                     kv_lora_rank=draw(st.sampled_from((32, 256, 512))),
                     qk_nope_head_dim=nope, qk_rope_head_dim=rope,
                     v_head_dim=draw(st.sampled_from((16, 64, 128)))),
    )


KV_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1}


def _plans(model):
    """Tensor-parallel degrees that divide the heads, pipeline degrees that divide the layers."""
    tps = [t for t in (1, 2, 4, 8) if model.num_heads % t == 0]
    pps = [p for p in (1, 2, 3, 4) if model.num_layers % p == 0]
    return st.builds(Plan, tp=st.sampled_from(tps), pp=st.sampled_from(pps))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_cache_holds_the_latent_and_rotary_key_once_per_layer(data):
    model = data.draw(mla_models())
    plan = data.draw(_plans(model))
    e = run(model, ["kv_cache_bytes_per_token", "kv_cache_bytes_per_token_per_device"],
            plan=plan)
    o = model.options
    per_layer = (o["kv_lora_rank"] + o["qk_rope_head_dim"]) * KV_BYTES[model.kv_dtype]
    assert e["kv_cache_bytes_per_token"] == model.num_layers * per_layer
    # shared by all heads, so tensor parallelism replicates it; pipeline stages split layers
    assert e["kv_cache_bytes_per_token_per_device"] == model.num_layers / plan.pp * per_layer
    # and the head count does not enter it
    more_heads = attrs.evolve(model, num_heads=2 * model.num_heads)
    assert run(more_heads, ["kv_cache_bytes_per_token"])[
        "kv_cache_bytes_per_token"] == e["kv_cache_bytes_per_token"]


def test_deepseek_v3_cache_is_85_times_smaller_than_its_heads_would_need(catalog):
    v3 = catalog.model("deepseek-v3")
    mla_bytes = run(v3, ["kv_cache_bytes_per_token"], catalog=catalog)["kv_cache_bytes_per_token"]
    assert mla_bytes == 61 * (512 + 64) * 2  # 70,272 bytes in bf16
    # the same 128 heads cached as multi-head attention, K and V at head_dim (192) each:
    # 2 x 61 x 128 x 192 x 2 bytes
    standard = attrs.evolve(v3, attention="standard", family="dense", options={})
    mha_bytes = run(standard, ["kv_cache_bytes_per_token"],
                    catalog=catalog)["kv_cache_bytes_per_token"]
    assert mha_bytes == 2 * 61 * 128 * 192 * 2
    assert mha_bytes / mla_bytes == pytest.approx(85.33, rel=1e-3)


# --------------------------------------------------------------------------- FLOPs: two forms


def test_naive_form_equals_flops_measured_on_the_transformers_module():
    # FlopCounterMode on DeepseekV3Attention (eager) for 2 sequences of 10 tokens, per layer:
    # q_a_proj 40,960 + q_b_proj 30,720; kv_a_proj_with_mqa 30,720; kv_b_proj 20,480;
    # the two batched products (scores and values over the full 10 x 10 square) 32,000;
    # o_proj 81,920. The eager module computes every score, so the context is the full 10.
    ops = mla.mla_attention_operations(SMALL, tp=1, layers=1, sequences=2, new_tokens=10,
                                       context_tokens=10, kv_read=False, absorbed=0)
    assert {op.name: op.flops for op in ops} == {
        "q_proj": 40_960 + 30_720, "kv_down_proj": 30_720, "kv_up_proj": 20_480,
        "attention": 32_000, "out_proj": 81_920}


def test_absorbed_form_flops_per_context_token():
    # the brief's rule: per context token and head, 2 x (kv_lora_rank + rope) for the scores
    # plus 2 x kv_lora_rank for the values; per new token the two absorptions
    ops = {op.name: op for op in mla.mla_attention_operations(
        SMALL, tp=1, layers=1, sequences=1, new_tokens=1, context_tokens=100, kv_read=True,
        absorbed=1)}
    assert ops["attention"].flops == 100 * 4 * (2 * (8 + 4) + 2 * 8)
    assert ops["q_absorb"].flops == 2 * 4 * 8 * 8       # heads x nope x kv_lora_rank
    assert ops["out_absorb"].flops == 2 * 4 * 8 * 8     # heads x kv_lora_rank x v
    assert "kv_up_proj" not in ops
    # the cache is read once for all heads: (kv_lora_rank + rope) per context token
    assert ops["attention"].kv_bytes == (100 + 1) * (8 + 4) * 2


BOTH = {"naive": {"mla_absorbed_decode": 0, "mla_absorbed_prefill": 0},
        "absorbed": {"mla_absorbed_decode": 1, "mla_absorbed_prefill": 1}}

MEMORY = ("kv_cache_bytes", "kv_cache_bytes_per_device", "kv_cache_bytes_per_token",
          "weight_bytes", "params", "max_batch")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), batch=st.integers(1, 64), prompt=st.integers(1, 4096),
       output=st.integers(1, 1024))
def test_the_two_forms_differ_in_flops_not_in_cache(data, batch, prompt, output):
    model = data.draw(mla_models())
    plan = Plan(tp=data.draw(st.sampled_from([t for t in (1, 2, 4) if model.num_heads % t == 0])))
    workload = InferenceWorkload(batch=batch, prompt_tokens=prompt, output_tokens=output)
    wanted = MEMORY + ("decode_step_flops", "decode_step_bytes", "prefill_flops")
    naive, absorbed = (run(model, wanted, workload=workload, plan=plan, inputs=BOTH[k])
                       for k in ("naive", "absorbed"))
    for q in MEMORY:
        assert naive[q] == absorbed[q], q
    # decode FLOPs, all devices: naive pays kv_b_proj per context token and (nope + rope + v)
    # per head in attention; absorbed pays the two absorptions per new token and
    # (2 x kv_lora_rank + rope) per head in attention
    o = model.options
    r, nope, rope, v = (o["kv_lora_rank"], o["qk_nope_head_dim"], o["qk_rope_head_dim"],
                        o["v_head_dim"])
    ctx = prompt + output / 2.0
    per_sequence = 2.0 * model.num_layers * model.num_heads * (
        ctx * r * (nope + v) + ctx * (nope + rope + v) - r * (nope + v) - ctx * (2 * r + rope))
    assert naive["decode_step_flops"] - absorbed["decode_step_flops"] == pytest.approx(
        batch * per_sequence, rel=1e-9, abs=1e-3)
    # the absorbed form reads (kv_lora_rank + rope) cached elements per context token once for
    # all heads, where the naive one also writes and reads per-head keys and values; it pays
    # at most (4 x kv_lora_rank + nope + rope + v) elements per head and new token more. So
    # from that many context tokens on, a decode step moves fewer bytes absorbed.
    if ctx >= 4 * r + nope + rope + v:
        assert absorbed["decode_step_bytes"] < naive["decode_step_bytes"]


def test_long_prefill_is_cheaper_naive_and_decode_cheaper_absorbed(catalog):
    """The reason for the defaults: at DeepSeek-V3's widths the naive form does 2 x (192 + 128)
    FLOPs per context token and head against the absorbed form's 2 x (2 x 512 + 64)."""
    v3 = catalog.model("deepseek-v3")
    workload = InferenceWorkload(batch=8, prompt_tokens=8192, output_tokens=512)
    plan = Plan(tp=8)
    naive, absorbed = (run(v3, ["prefill_flops", "decode_step_s", "decode_step_flops"],
                           workload=workload, plan=plan, inputs=BOTH[k], catalog=catalog)
                       for k in ("naive", "absorbed"))
    assert naive["prefill_flops"] < absorbed["prefill_flops"]
    assert absorbed["decode_step_flops"] < naive["decode_step_flops"]
    assert absorbed["decode_step_s"] < naive["decode_step_s"]
    defaults = run(v3, ["mla_absorbed_decode", "mla_absorbed_prefill", "prefill_flops",
                        "decode_step_flops"], workload=workload, plan=plan, catalog=catalog)
    assert (defaults["mla_absorbed_decode"], defaults["mla_absorbed_prefill"]) == (1.0, 0.0)
    assert defaults["prefill_flops"] == naive["prefill_flops"]
    assert defaults["decode_step_flops"] == absorbed["decode_step_flops"]


def test_any_nonzero_switch_means_absorbed_and_sweeps_match_single_estimates(catalog):
    scenario = Scenario(SMALL, System(H100_LIKE), workload=InferenceWorkload(batch=4))
    wanted = ["decode_step_s", "decode_step_flops", "decode_step_bytes"]
    single = {x: estimate(scenario, wanted, catalog=catalog, inputs={"mla_absorbed_decode": x})
              for x in (0.0, 1.0, 2.0)}
    for q in wanted:
        assert single[2.0][q] == single[1.0][q] != single[0.0][q]
    grid = sweep(scenario, {"mla_absorbed_decode": [0.0, 1.0, 2.0]}, wanted, catalog=catalog)
    for q in wanted:
        np.testing.assert_allclose(grid[q], [single[x][q] for x in (0.0, 1.0, 2.0)],
                                   rtol=1e-12)


def test_training_flops_use_mla_widths_causally_and_reduce_to_standard_attention(catalog):
    workload = TrainingWorkload(global_batch=8, seq_len=1024)
    e = run(SMALL, ["attention_flops_per_token_forward"], workload=workload, catalog=catalog)
    # layers x heads x (T + 1) x (nope + rope + v): a token attends to (T + 1) / 2 tokens on
    # average, 2 FLOPs per multiply-add (here the absorbed form, 2 x 8 + 4, costs the same)
    assert e["attention_flops_per_token_forward"] == 3 * 4 * 1025 * (12 + 8)
    # with nope + rope = v = head_dim and a latent wide enough that the naive form is the
    # cheaper, MLA's attention term is standard attention's
    square = with_options(SMALL, qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=12,
                          kv_lora_rank=16)
    standard = attrs.evolve(square, attention="standard", options={})
    assert run(square, ["attention_flops_per_token_forward"], workload=workload,
               catalog=catalog)["attention_flops_per_token_forward"] == run(
        standard, ["attention_flops_per_token_forward"], workload=workload,
        catalog=catalog)["attention_flops_per_token_forward"]


@pytest.mark.parametrize("kv_lora_rank", [2, 8, 64])
@pytest.mark.parametrize("absorbed", [0.0, 1.0])
def test_training_model_flops_never_exceed_what_the_step_computes(catalog, kv_lora_rank,
                                                                   absorbed):
    # the model counts the cheaper form; whichever form runs computes at least that much
    model = with_options(SMALL, kv_lora_rank=kv_lora_rank)
    workload = TrainingWorkload(global_batch=8, seq_len=1024)
    e = run(model, ["attention_flops_per_token_forward", "training_forward_operations",
                    "forward_flops_per_token"], workload=workload, catalog=catalog,
            inputs={"mla_absorbed_prefill": absorbed})
    ops = e["training_forward_operations"]
    # one micro-batch of one 1024-token sequence on one device (tp = pp = 1)
    attention = sum(op.flops * op.count for op in ops if op.name == "attention") / 1024
    assert e["attention_flops_per_token_forward"] <= attention * (1 + 1e-12)
    assert e["forward_flops_per_token"] <= \
        sum(op.flops * op.count for op in ops) / 1024 * (1 + 1e-12)
    naive = 3 * 4 * 1025 * (12 + 8)
    absorbed_cost = 3 * 4 * 1025 * (2 * kv_lora_rank + 4)
    assert e["attention_flops_per_token_forward"] == min(naive, absorbed_cost)


def test_unfused_training_kernels_compute_the_full_square_and_stream_the_scores():
    workload = TrainingWorkload(global_batch=8, seq_len=1024)
    flash, unfused = (run(SMALL, ["training_forward_attention_operations"], workload=workload,
                          plan=Plan(attention=kind))["training_forward_attention_operations"]
                      for kind in ("flash", "unfused"))
    flash, unfused = ({op.name: op for op in ops} for ops in (flash, unfused))
    # one micro-batch of 1 x 1024 tokens, naive form: 2 x n x context x heads x (12 + 8)
    assert flash["attention"].flops == 2 * 1024 * (1024 + 1) / 2 * 4 * 20
    assert unfused["attention"].flops == 2 * 1024 * 1024 * 4 * 20
    # 13 bytes per score element with 2-byte activations, every score of every head
    assert unfused["attention"].activation_bytes - flash["attention"].activation_bytes == \
        1024 * 1024 * 4 * 13


@pytest.mark.parametrize("model_id", ["deepseek-v3", "deepseek-v2-lite"])
def test_moe_models_take_attention_from_this_plugin_and_the_mlp_from_moe(catalog, model_id):
    model = catalog.model(model_id)
    e = run(model, ["decode_operations", "kv_cache_bytes_per_token"], catalog=catalog,
            plan=Plan(tp=2))
    names = {op.name for op in e["decode_operations"]}
    assert {"q_absorb", "out_absorb", "kv_down_proj", "experts", "router"} <= names
    assert "qkv_proj" not in names
    assert e.formula("kv_cache_bytes_per_token").plugin == MLA_PLUGIN
    trained = run(model, ["training_forward_operations"], catalog=catalog, plan=Plan(tp=2),
                  workload=TrainingWorkload(global_batch=8, seq_len=512))
    assert {"kv_up_proj", "kv_down_proj", "experts"} <= {
        op.name for op in trained["training_forward_operations"]}


# --------------------------------------------------------------------------- end to end


def _finite(values):
    for name, value in values.items():
        if isinstance(value, (int, float, np.ndarray)) and not isinstance(value, bool):
            assert np.all(np.isfinite(value)), name
            if name.endswith("_s"):  # no negative time (communication may be 0)
                assert np.all(np.asarray(value) >= 0), name
    for name in ("tpot_s", "ttft_s", "step_s"):
        if name in values:
            assert values[name] > 0, name


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_dense_mla_model_estimates_end_to_end(data):
    model = data.draw(mla_models(max_layers=24))
    plan = data.draw(_plans(model))
    for workload in (InferenceWorkload(batch=data.draw(st.integers(1, 32)),
                                       prompt_tokens=data.draw(st.integers(1, 2048)),
                                       output_tokens=data.draw(st.integers(1, 512))),
                     TrainingWorkload(global_batch=8, seq_len=data.draw(st.integers(16, 4096)))):
        e = run(model, None, workload=workload, plan=plan)
        _finite(e.values)
        assert e.formula("kv_cache_bytes_per_token").plugin == MLA_PLUGIN


@pytest.mark.parametrize("model_id", ["minicpm3-4b", "deepseek-v2-lite"])
def test_presets_infer_and_train_through_the_api(catalog, model_id):
    served = infer(model_id, on="h100", batch=4, prompt=1024, output=128, catalog=catalog)
    _finite(served.values)
    assert served["tpot_s"] > 0 and served["fits"]
    trained = train(model_id, on="h100", devices=8, tp=2, seq=2048, global_batch=64,
                    catalog=catalog)
    _finite(trained.values)
    assert 0 < trained["mfu"] < 1


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("model, message", [
    (attrs.evolve(SMALL, options={k: v for k, v in SMALL.options.items()
                                  if k != "kv_lora_rank"}), "options.kv_lora_rank"),
    (with_options(SMALL, q_lora_rank=-1), "options.q_lora_rank must be a whole number >= 0"),
    (with_options(SMALL, v_head_dim=0), "options.v_head_dim must be a whole number >= 1"),
    (with_options(SMALL, kv_lora_rank=8.5), "options.kv_lora_rank"),
    (attrs.evolve(SMALL, head_dim=None), "set head_dim = 12"),
    (attrs.evolve(SMALL, num_kv_heads=2), "num_kv_heads (2) must be left out"),
    (attrs.evolve(SMALL, bias="qkv"), "bias = 'qkv' is not modelled"),
])
def test_bad_mla_options_are_one_line_scenario_errors(catalog, model, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        run(model, ["params"], catalog=catalog)


def test_preset_file_without_a_required_option_names_it(catalog_factory, tmp_path):
    folder = tmp_path / "reg"
    (folder / "models").mkdir(parents=True)
    text = (REGISTRY / "models" / "minicpm3-4b.toml").read_text("utf-8")
    text = text.replace('id = "minicpm3-4b"', 'id = "broken-mla"').replace(
        'aliases = ["minicpm3"]', "aliases = []").replace("kv_lora_rank = 256\n", "")
    (folder / "models" / "broken-mla.toml").write_text(text, "utf-8")
    with pytest.raises(RegistryError, match="options.kv_lora_rank: required by"):
        catalog_factory(builtins=True, registry=[folder])


# --------------------------------------------------------------------------- others unchanged


@functools.lru_cache(maxsize=None)
def built_catalog_without_mla():
    """The built-in plugins without this one (and without the registry data, whose MLA
    presets would need it: scenarios here carry their own models and accelerator)."""
    skip = {MLA_PLUGIN, "ridgeline.plugins.registry_data"}
    modules = [importlib.import_module(m) for m in BUILTIN_PLUGINS if m not in skip]
    return build_catalog(plugins=modules, entry_points=False, builtins=False)


@pytest.fixture
def catalog_without_mla():
    return built_catalog_without_mla()


def _same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        if isinstance(x, tuple):
            assert x == y, name
        elif isinstance(x, (int, float, np.ndarray)) and not isinstance(x, bool):
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.parametrize("model_id", ["llama-3-70b", "gpt2", "opt-350m", "mistral-7b",
                                      "mixtral-8x7b"])
@pytest.mark.parametrize("workload", [InferenceWorkload(batch=8), TrainingWorkload()],
                         ids=["infer", "train"])
def test_standard_attention_estimates_are_unchanged(catalog, catalog_without_mla, model_id,
                                                    workload):
    model = preset(model_id)
    plan = Plan(tp=2)
    with_plugin = run(model, None, workload=workload, plan=plan, catalog=catalog)
    without = run(model, None, workload=workload, plan=plan, catalog=catalog_without_mla)
    _same(with_plugin.values, without.values)
    assert not any(with_plugin.formula(q).plugin == MLA_PLUGIN
                   for q in with_plugin.values if with_plugin.formula(q) is not None)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.integers(1, 64), tp=st.sampled_from([1, 2, 4]))
def test_llama_like_estimates_unchanged_for_any_batch(batch, tp):
    workload = InferenceWorkload(batch=batch)
    plan = Plan(tp=tp)
    _same(run(LLAMA_2_7B_LIKE, None, workload=workload, plan=plan).values,
          run(LLAMA_2_7B_LIKE, None, workload=workload, plan=plan,
              catalog=built_catalog_without_mla()).values)


def test_plugin_passes_the_conformance_checks():
    from ridgeline.testing import check_plugin
    check_plugin(mla)


# --------------------------------------------------------------------------- Hugging Face configs

#: the architecture keys of the checkpoints' config.json files (DeepSeek-V3's and -V2's as on
#: their Hugging Face repositories; V2-Lite's likewise, with q_lora_rank null); keys that change
#: no count (rope_scaling, routed_scaling_factor, ...) are left out except a few kept to show
#: they are ignored.
DEEPSEEK_V3_CONFIG = {
    "model_type": "deepseek_v3", "vocab_size": 129280, "hidden_size": 7168,
    "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
    "num_attention_heads": 128, "num_key_value_heads": 128, "n_shared_experts": 1,
    "n_routed_experts": 256, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
    "moe_layer_freq": 1, "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "max_position_embeddings": 163840,
    "tie_word_embeddings": False, "attention_bias": False, "topk_method": "noaux_tc",
    "num_nextn_predict_layers": 1, "routed_scaling_factor": 2.5, "n_group": 8, "topk_group": 4,
}
DEEPSEEK_V2_CONFIG = {
    "model_type": "deepseek_v2", "vocab_size": 102400, "hidden_size": 5120,
    "intermediate_size": 12288, "moe_intermediate_size": 1536, "num_hidden_layers": 60,
    "num_attention_heads": 128, "num_key_value_heads": 128, "n_shared_experts": 2,
    "n_routed_experts": 160, "num_experts_per_tok": 6, "first_k_dense_replace": 1,
    "moe_layer_freq": 1, "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "max_position_embeddings": 163840,
    "tie_word_embeddings": False, "attention_bias": False, "topk_method": "group_limited_greedy",
}
DEEPSEEK_V2_LITE_CONFIG = {
    **DEEPSEEK_V2_CONFIG, "hidden_size": 2048, "intermediate_size": 10944,
    "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16,
    "num_key_value_heads": 16, "n_routed_experts": 64, "q_lora_rank": None,
    "topk_method": "greedy",
}
#: MiniCPM3-4B: the values Transformers' MiniCPM3Config defaults to, which its docstring says
#: "match the openbmb/MiniCPM3-4B checkpoint" (v_head_dim absent: hidden_size / heads).
MINICPM3_CONFIG = {
    "model_type": "minicpm3", "vocab_size": 73448, "hidden_size": 2560,
    "intermediate_size": 6400, "num_hidden_layers": 62, "num_attention_heads": 40,
    "num_key_value_heads": 40, "q_lora_rank": 768, "kv_lora_rank": 256,
    "qk_nope_head_dim": 64, "qk_rope_head_dim": 32, "max_position_embeddings": 32768,
    "tie_word_embeddings": True, "scale_emb": 12, "scale_depth": 1.4, "dim_model_base": 256,
}
CONFIGS = {"deepseek-v3": DEEPSEEK_V3_CONFIG, "deepseek-v2": DEEPSEEK_V2_CONFIG,
           "deepseek-v2-lite": DEEPSEEK_V2_LITE_CONFIG, "minicpm3-4b": MINICPM3_CONFIG}

#: what a preset adds to what a config says
METADATA = {"name", "aliases", "sources", "notes", "weights_dtype"}


@pytest.mark.parametrize("model_id", sorted(CONFIGS))
def test_hugging_face_configs_read_as_the_presets(catalog, model_id):
    from ridgeline.hf_config import model_from_hf_config
    read = model_from_hf_config(CONFIGS[model_id], id=model_id)
    want = catalog.model(model_id)
    for field in attrs.fields(Model):
        if field.name not in METADATA:
            assert getattr(read, field.name) == getattr(want, field.name), field.name
    assert run(read, ["params"], catalog=catalog)["params"] == HF_TOTAL[model_id]


def test_deepseek_config_without_routed_experts_is_a_dense_mla_model(catalog):
    from ridgeline.hf_config import model_from_hf_config
    model = model_from_hf_config({**DEEPSEEK_V2_LITE_CONFIG, "n_routed_experts": None})
    assert (model.family, model.attention) == ("dense", "mla")
    assert "q_lora_rank" not in model.options
    # 27 layers of V2-Lite's attention (13,763,072) and dense MLP (3 x 2048 x 10944), two
    # norms each, the embedding and LM head (102400 x 2048 each), the final norm
    expected = 27 * (13_763_072 + 3 * 2048 * 10944 + 2 * 2048) + 2 * 102400 * 2048 + 2048
    assert run(model, ["params"], catalog=catalog)["params"] == expected


@pytest.mark.parametrize("field, changes", [
    ("moe_layer_freq", {"moe_layer_freq": 2}),
    ("num_key_value_heads", {"num_key_value_heads": 64}),
    ("attention_bias", {"attention_bias": True}),
    ("head_dim", {"head_dim": 100}),
    ("num_experts_per_tok", {"num_experts_per_tok": None}),
    ("kv_lora_rank", {"kv_lora_rank": None}),
    ("first_k_dense_replace", {"first_k_dense_replace": 61}),
    ("n_shared_experts", {"n_shared_experts": -1}),
])
def test_bad_deepseek_configs_name_the_field(field, changes):
    from ridgeline.hf_config import model_from_hf_config
    with pytest.raises(RegistryError, match=f"{field}: "):
        model_from_hf_config({**DEEPSEEK_V3_CONFIG, **changes})
