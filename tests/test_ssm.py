"""State-space families (``plugins/architectures/ssm*.py``): Mamba, Mamba-2 and Jamba.

Reference parameter counts are ``sum(p.numel() for p in model.parameters())`` of
``transformers``' ``MambaForCausalLM``, ``Mamba2ForCausalLM``, ``FalconMambaForCausalLM`` and
``JambaForCausalLM`` built on the meta device (``with torch.device("meta"):
AutoModelForCausalLM.from_config(cfg)``) from each checkpoint's config.json values; the
published figures they round to are cited beside them. The small models switch on every
optional bias so that each term of the count is exercised.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import pytest

import ridgeline
from ridgeline.catalog import default_catalog
from ridgeline.cli import main
from ridgeline.engine import estimate, sweep
from ridgeline.errors import RegistryError, ScenarioError
from ridgeline.hf_config import model_from_hf_config
from ridgeline.plugin import Model, Plan, System
from ridgeline.scenario import InferenceWorkload, Scenario
from ridgeline.testing.strategies import H100_LIKE

CATALOG = default_catalog()

#: transformers' counts of the published checkpoints' configs (see the module docstring).
PRESET_COUNTS = {
    "mamba-130m": 129_135_360,          # "130M"
    "mamba-2.8b": 2_768_345_600,        # "2.8B"
    "mamba2-2.7b": 2_702_599_680,       # "2.7B"
    "codestral-mamba-7b": 7_285_403_648,  # model card: 7,285,403,648
    "falcon-mamba-7b": 7_272_665_088,   # model card: 7.27B
    "jamba-v0.1": 51_570_323_328,       # paper: 52B total
}


def quantities(model, names, **kw):
    model = CATALOG.model(model) if isinstance(model, str) else model
    return estimate(Scenario(model, System(H100_LIKE), **kw), names, catalog=CATALOG)


@pytest.mark.parametrize("model_id, expected", sorted(PRESET_COUNTS.items()))
def test_preset_counts_equal_transformers(model_id, expected):
    assert quantities(model_id, ["params"])["params"] == expected


def test_jamba_active_params_are_the_papers_12b():
    e = quantities("jamba-v0.1", ["params", "active_params"])
    # 16 MoE layers x 14 experts not run x 3 x 4096 x 14336 weights
    assert e["params"] - e["active_params"] == 16 * 14 * 3 * 4096 * 14336
    assert round(e["active_params"] / 1e9) == 12


SMALL_MAMBA = Model(id="mamba-small", family="mamba", vocab_size=1000, hidden_size=256,
                    num_layers=3, num_heads=1, intermediate_size=512, norms_per_layer=1,
                    positions="none", tie_embeddings=False,
                    options={"state_size": 8, "conv_kernel": 3, "dt_rank": 20,
                             "proj_bias": True, "conv_bias": False})
SMALL_MAMBA2 = Model(id="mamba2-small", family="mamba2", vocab_size=1000, hidden_size=256,
                     num_layers=3, num_heads=16, intermediate_size=512, norms_per_layer=1,
                     positions="none", tie_embeddings=False,
                     options={"state_size": 16, "conv_kernel": 4, "ssm_head_dim": 32,
                              "n_groups": 2, "proj_bias": True, "conv_bias": False})
SMALL_JAMBA = Model(id="jamba-small", family="jamba", vocab_size=1000, hidden_size=256,
                    num_layers=6, num_heads=8, num_kv_heads=2, intermediate_size=512,
                    positions="none", tie_embeddings=False,
                    options={"num_experts": 4, "experts_per_token": 2, "dense_layers": 3,
                             "attn_layer_period": 3, "attn_layer_offset": 1,
                             "expert_layer_period": 2, "expert_layer_offset": 0,
                             "state_size": 8, "expand": 2, "dt_rank": 16,
                             "conv_bias": False, "proj_bias": True})


@pytest.mark.parametrize("model, expected", [
    (SMALL_MAMBA, 1_802_496), (SMALL_MAMBA2, 1_766_784), (SMALL_JAMBA, 8_449_408)])
def test_small_models_with_every_bias_equal_transformers(model, expected):
    assert quantities(model, ["params"])["params"] == expected


def test_small_mamba_by_hand():
    h, d, n, k, r, v, layers = 256, 512, 8, 3, 20, 1000, 3
    mixer = (h * 2 * d + 2 * d          # in_proj with bias
             + d * k                    # depthwise conv, no bias
             + d * (r + 2 * n)          # x_proj
             + r * d + d                # dt_proj with its bias
             + d * n + d                # A_log, D
             + d * h + h)               # out_proj with bias
    expected = 2 * v * h + layers * (mixer + h) + h  # embedding, LM head, norms
    assert quantities(SMALL_MAMBA, ["params"])["params"] == expected


# --------------------------------------------------------------------------- state, not KV


def test_mamba_decode_memory_is_flat_in_context():
    small, large = (ridgeline.infer("mamba-2.8b", on="h100", batch=8, prompt=p, output=256,
                                    quantities=["kv_cache_bytes_per_device",
                                                "state_bytes_per_sequence", "tpot_s",
                                                "kv_cache_bytes_per_token"])
                    for p in (16_384, 131_072))
    # 64 layers x (5120 x 16 SSM state + 5120 x 3 convolution state) x 2 bytes
    assert small["state_bytes_per_sequence"] == 64 * (5120 * 16 + 5120 * 3) * 2
    assert small["kv_cache_bytes_per_token"] == 0
    assert small["kv_cache_bytes_per_device"] == large["kv_cache_bytes_per_device"] \
        == 8 * small["state_bytes_per_sequence"]
    assert small["tpot_s"] == large["tpot_s"]  # a decode step does not read the context


def test_jamba_kv_grows_only_with_its_attention_layers():
    kw = dict(on="h100", tp=8, batch=4, output=256)
    names = ["kv_cache_bytes_per_device", "kv_cache_bytes_per_token", "attention_layers",
             "state_bytes_per_sequence_per_device"]
    small = ridgeline.infer("jamba-v0.1", prompt=16_384, quantities=names, **kw)
    large = ridgeline.infer("jamba-v0.1", prompt=131_072, quantities=names, **kw)
    assert small["attention_layers"] == 4  # layers 4, 12, 20, 28 of 32
    # K and V of 4 layers x 8 KV heads x 128 x 2 bytes
    assert small["kv_cache_bytes_per_token"] == 2 * 4 * 8 * 128 * 2
    per_device_token = 2 * 4 * 1 * 128 * 2  # one KV head per device at tp = 8
    growth = large["kv_cache_bytes_per_device"] - small["kv_cache_bytes_per_device"]
    assert growth == 4 * (131_072 - 16_384) * per_device_token
    # 28 Mamba layers x (8192 / 8 channels) x (16 + 3) x 2 bytes
    assert small["state_bytes_per_sequence_per_device"] == 28 * 1024 * 19 * 2


def test_state_splits_over_tensor_and_pipeline_parallelism():
    names = ["state_bytes_per_sequence_per_device", "state_bytes_per_sequence"]
    one = ridgeline.infer("codestral-mamba-7b", on="h100", quantities=names)
    split = ridgeline.infer("codestral-mamba-7b", on="h100", tp=2, pp=2, devices=4,
                            quantities=names)
    assert split["state_bytes_per_sequence_per_device"] * 4 == \
        one["state_bytes_per_sequence_per_device"] == one["state_bytes_per_sequence"]


def test_serving_concurrency_of_a_pure_ssm_is_bounded_by_state_per_sequence():
    e = ridgeline.serve("mamba-2.8b", on="h100", prompt=2000, output=500,
                        quantities=["kv_concurrency_limit", "kv_cache_room_bytes_per_device",
                                    "state_bytes_per_sequence_per_device",
                                    "kv_cache_capacity_tokens", "kv_cache_bytes_per_device",
                                    "batch"])
    room, state = e["kv_cache_room_bytes_per_device"], e["state_bytes_per_sequence_per_device"]
    assert e["kv_concurrency_limit"] == math.floor(room / state)
    assert math.isfinite(e["kv_cache_capacity_tokens"]) and e["kv_cache_capacity_tokens"] > 0
    assert e["kv_cache_bytes_per_device"] == e["batch"] * state


def test_serving_hybrid_counts_kv_and_state_per_sequence():
    e = ridgeline.serve("jamba-v0.1", on="h100", tp=4, prompt=2000, output=500,
                        quantities=["kv_concurrency_limit", "kv_cache_room_bytes_per_device",
                                    "state_bytes_per_sequence_per_device",
                                    "kv_cache_bytes_per_token_per_device",
                                    "kv_tokens_per_sequence"])
    per_sequence = e["kv_cache_bytes_per_token_per_device"] * e["kv_tokens_per_sequence"] + \
        e["state_bytes_per_sequence_per_device"]
    assert e["kv_concurrency_limit"] == math.floor(e["kv_cache_room_bytes_per_device"]
                                                   / per_sequence)


def test_a_dense_model_is_unchanged_by_the_ssm_plugins():
    # the dense KV formulas still apply to dense models: one token's K and V in 32 layers
    e = ridgeline.infer("llama-2-7b", on="h100", quantities=["kv_cache_bytes_per_token"])
    assert e["kv_cache_bytes_per_token"] == 2 * 32 * 32 * 128 * 2


# --------------------------------------------------------------------------- operations


def test_mamba2_decode_ssd_flops_and_state_traffic():
    e = ridgeline.infer("mamba2-2.7b", on="h100", batch=1, quantities=["decode_operations"])
    ssd = next(op for op in e["decode_operations"] if op.name == "ssd")
    # 5 FLOPs per state element: 5120 channels x 128 state
    assert ssd.flops == 5 * 5120 * 128
    # the SSM state read and written once per step, 2 bytes each
    assert ssd.kv_bytes == 2 * 5120 * 128 * 2
    assert ssd.count == 64


def test_training_flops_are_twice_the_matmul_weights_plus_the_scan():
    e = ridgeline.train("mamba-2.8b", on="h100", devices=8,
                        quantities=["forward_flops_per_token", "params", "mfu"])
    h, d, n, r, v, layers = 2560, 5120, 16, 160, 50280, 64
    matmul = layers * (h * 2 * d + d * (r + 2 * n) + r * d + d * h) + v * h
    assert e["forward_flops_per_token"] == 2 * matmul + layers * 7 * d * n
    assert 0 < e["mfu"] < 1


def test_sweeps_over_arrays_match_single_estimates():
    scenario = Scenario(CATALOG.model("mamba2-2.7b"), System(CATALOG.accelerator("h100")),
                        workload=InferenceWorkload(batch=1, prompt_tokens=128,
                                                   output_tokens=64))
    grid = {"batch": [1, 8, 64], "prompt_tokens": [100, 4096, 65536]}
    swept = sweep(scenario, grid, ["tpot_s", "ttft_s", "kv_cache_bytes_per_device"],
                  catalog=CATALOG)
    for i, b in enumerate(grid["batch"]):
        for j, p in enumerate(grid["prompt_tokens"]):
            one = ridgeline.infer("mamba2-2.7b", on="h100", batch=b, prompt=p, output=64,
                                  quantities=["tpot_s", "ttft_s", "kv_cache_bytes_per_device"])
            for name in ("tpot_s", "ttft_s", "kv_cache_bytes_per_device"):
                got = np.broadcast_to(swept[name], (3, 3))[i, j]
                assert got == pytest.approx(one[name], rel=1e-12), (name, b, p)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("model, field", [
    (Model(id="x", family="mamba", vocab_size=10, hidden_size=64, num_layers=2, num_heads=1,
           intermediate_size=128, options={}), "state_size"),
    (Model(id="x", family="mamba2", vocab_size=10, hidden_size=64, num_layers=2, num_heads=1,
           intermediate_size=128, options={"state_size": 16, "ssm_head_dim": 48}),
     "ssm_head_dim"),
    (Model(id="x", family="mamba2", vocab_size=10, hidden_size=64, num_layers=2, num_heads=1,
           intermediate_size=128, options={"state_size": 16, "ssm_head_dim": 32,
                                           "n_groups": 3}), "n_groups"),
    (attrs.evolve(SMALL_JAMBA, options={**SMALL_JAMBA.options, "dense_layers": 2}),
     "dense_layers"),
])
def test_bad_options_name_the_field(model, field):
    with pytest.raises(ScenarioError, match=field):
        ridgeline.infer(model, on="h100", quantities=["params", "tpot_s"])


# --------------------------------------------------------------------------- readers

MAMBA_28B_CONFIG = {"model_type": "mamba", "hidden_size": 2560, "intermediate_size": 5120,
                    "num_hidden_layers": 64, "vocab_size": 50280, "state_size": 16,
                    "conv_kernel": 4, "expand": 2, "time_step_rank": 160, "use_bias": False,
                    "use_conv_bias": True, "tie_word_embeddings": True}
CODESTRAL_CONFIG = {"model_type": "mamba2", "hidden_size": 4096, "num_hidden_layers": 64,
                    "vocab_size": 32768, "state_size": 128, "head_dim": 64, "num_heads": 128,
                    "n_groups": 8, "expand": 2, "conv_kernel": 4, "chunk_size": 256,
                    "use_bias": False, "use_conv_bias": True, "time_step_rank": 256,
                    "tie_word_embeddings": False}
# falcon-mamba-7b's config gives expand 16 beside intermediate_size 8192; the modules use 8192
FALCON_CONFIG = {"model_type": "falcon_mamba", "hidden_size": 4096, "intermediate_size": 8192,
                 "num_hidden_layers": 64, "vocab_size": 65024, "state_size": 16,
                 "conv_kernel": 4, "expand": 16, "time_step_rank": 256, "use_bias": False,
                 "use_conv_bias": True, "tie_word_embeddings": False}
JAMBA_CONFIG = {"model_type": "jamba", "hidden_size": 4096, "intermediate_size": 14336,
                "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                "vocab_size": 65536, "num_experts": 16, "num_experts_per_tok": 2,
                "attn_layer_period": 8, "attn_layer_offset": 4, "expert_layer_period": 2,
                "expert_layer_offset": 1, "mamba_d_state": 16, "mamba_d_conv": 4,
                "mamba_expand": 2, "mamba_dt_rank": 256, "mamba_conv_bias": True,
                "mamba_proj_bias": False, "tie_word_embeddings": False,
                "max_position_embeddings": 262144}


@pytest.mark.parametrize("config, preset", [
    (MAMBA_28B_CONFIG, "mamba-2.8b"), (CODESTRAL_CONFIG, "codestral-mamba-7b"),
    (FALCON_CONFIG, "falcon-mamba-7b"), (JAMBA_CONFIG, "jamba-v0.1")])
def test_configs_read_to_the_presets_counts(config, preset):
    model = model_from_hf_config(config, id="read")
    assert model.family == CATALOG.model(preset).family
    assert quantities(model, ["params"])["params"] == PRESET_COUNTS[preset]


@pytest.mark.parametrize("change, field", [
    ({"state_size": 0}, "state_size"),
    ({"num_heads": 100}, "num_heads"),
    ({"n_groups": 3}, "n_groups"),
    ({"num_attention_heads": 8}, "num_attention_heads"),
])
def test_bad_ssm_config_fields_are_named(change, field):
    with pytest.raises(RegistryError, match=field):
        model_from_hf_config({**CODESTRAL_CONFIG, **change})


@pytest.mark.parametrize("change, field", [
    ({"attn_layer_offset": 8}, "attn_layer_offset"),
    ({"num_experts_per_tok": 17}, "num_experts_per_tok"),
])
def test_bad_jamba_config_fields_are_named(change, field):
    with pytest.raises(RegistryError, match=field):
        model_from_hf_config({**JAMBA_CONFIG, **change})


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("args", [
    ["infer", "mamba-2.8b", "--on", "h100"],
    ["serve", "mamba-2.8b", "--on", "h100", "--prompt", "2000", "--output", "500"],
    ["train", "mamba-2.8b", "--on", "h100", "--devices", "8"],
    ["infer", "jamba-v0.1", "--on", "h100", "--tp", "4", "--json"],
])
def test_cli_runs_on_ssm_presets(args, capsys):
    assert main(args) == 0
    out = capsys.readouterr()
    assert "mamba" in out.out or "jamba" in out.out
    assert "Traceback" not in out.err


def test_new_quantities_have_units_and_domains():
    for name in ("state_bytes_per_sequence", "state_bytes_per_sequence_per_device",
                 "mamba_layers", "attention_layers"):
        formulas = CATALOG.formulas[name]
        assert all(f.unit is not None and f.domain for f in formulas), name


def test_chips_that_spread_the_layers_spread_the_state_too():
    e = ridgeline.infer("mamba-2.8b", on="groq", quantities=[
        "state_bytes_per_sequence_per_device", "state_bytes_per_sequence", "replica_devices"])
    assert e["replica_devices"] > 1
    assert e["state_bytes_per_sequence_per_device"] == \
        e["state_bytes_per_sequence"] / e["replica_devices"]


def test_mamba1_splits_its_channels_over_tensor_parallelism():
    model = model_from_hf_config(MAMBA_28B_CONFIG, id="read")
    assert (model.num_heads, model.head_dim) == (5120, 1)  # one SSM per channel
    names = ["state_bytes_per_sequence_per_device", "weight_bytes_per_device"]
    one = ridgeline.infer("mamba-2.8b", on="h100", quantities=names)
    two = ridgeline.infer("mamba-2.8b", on="h100", tp=2, quantities=names)
    assert two["state_bytes_per_sequence_per_device"] * 2 == \
        one["state_bytes_per_sequence_per_device"]
