"""Config readers registered through ``ridgeline_register_config_readers``: exact parameter
counts of real configs against the reference implementation, windows and the MoE layouts read
from them, and the hook's own rules (conflicts, bad readers, a third-party model type).

Each config in tests/data/hf_configs/ is a real model's config.json (the keys that matter
for the count); its reference count is ``sum(p.numel() for p in model.parameters())`` of the
Transformers model built from it on the meta device (see tests/data/hf_configs/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ridgeline

from ridgeline import build_catalog, default_catalog
from ridgeline.engine import estimate
from ridgeline.errors import ConflictError, PluginError, RegistryError
from ridgeline.hf_config import model_from_hf_config, supported_model_types
from ridgeline.plugin import Architecture, ConfigReader, HFConfig, hookimpl
from ridgeline.scenario import Scenario, System

CONFIGS = Path(__file__).parent / "data" / "hf_configs"
CATALOG = default_catalog()

#: config -> (reference count, published count or None, digits the publication rounds to).
#: gemma-3-4b and llama-4-maverick nest a text_config: their reference is the language model
#: alone (Gemma3ForCausalLM / Llama4ForCausalLM); the vision tower is not read.
REFERENCE = {
    "afm-4.5b": (4_619_184_640, 4.5e9, 2),
    "bloom-176b": (176_247_271_424, 176_247_271_424, 12),  # BLOOM paper, table 1
    "bloom-560m": (559_214_592, 559_214_592, 9),
    "c4ai-command-r-plus": (103_810_674_688, 104e9, 3),
    "c4ai-command-r-v01": (34_980_831_232, 35e9, 2),
    "c4ai-command-r7b": (8_028_033_024, 8e9, 1),
    "dbrx-base": (131_596_523_520, 132e9, 3),
    "ernie-4.5-0.3b": (360_748_032, 0.36e9, 2),
    "exaone-4.0-32b": (32_003_216_384, 32e9, 2),
    "gemma-2-9b": (9_241_705_984, 9.24e9, 3),
    "gemma-3-1b": (999_885_952, 1e9, 1),
    "gemma-3-27b-text": (27_009_346_304, 27e9, 2),
    "gemma-3-4b": (3_880_263_168, None, 0),
    "glm-4-9b-0414": (9_400_279_040, 9.4e9, 2),
    "glm-4-9b-chat-hf": (9_399_951_360, 9.4e9, 2),
    "gpt-j-6b": (6_050_882_784, 6_053_381_344, 3),  # model card: 6,053,381,344 (50,400 + padding)
    "gpt-oss-120b": (116_829_156_672, 116.83e9, 5),  # gpt-oss model card: 116.83B
    "gpt-oss-20b": (20_914_757_184, 20.91e9, 4),  # 20.91B
    "granite-3.0-2b": (2_533_531_648, 2.5e9, 2),
    "granite-3.1-3b-a800m": (3_298_793_472, 3.3e9, 2),
    "granite-3.1-8b": (8_170_848_256, 8.1e9, 2),
    "helium-1-2b": (2_023_868_416, 2e9, 1),
    "hunyuan-7b": (7_504_568_320, 7.5e9, 2),
    "llama-4-maverick-17b-128e": (400_711_848_960, 400e9, 3),
    "llama-4-scout-17b-16e": (107_769_861_120, None, 0),  # 109B published with the vision tower
    "minitron-8b": (8_271_699_968, 8.3e9, 2),
    "mistral-7b-v0.1": (7_241_732_096, 7.24e9, 3),
    "mixtral-no-kv": (46_702_792_704, 46.7e9, 3),
    "mpt-30b": (29_957_200_896, 30e9, 2),
    "mpt-7b": (6_649_286_656, 6.7e9, 2),
    "olmo-1b": (1_176_764_416, 1.18e9, 3),
    "olmo-2-0325-32b": (32_234_279_936, 32e9, 2),
    "olmo-2-1124-7b": (7_298_617_344, 7.3e9, 2),
    "olmo-3-7b": (7_298_011_136, 7.3e9, 2),
    "olmo-7b": (6_888_095_744, 6.89e9, 3),
    "olmoe-1b-7b-0924": (6_919_161_856, 6.9e9, 2),
    "phi-1_5": (1_418_270_720, 1.42e9, 3),
    "phi-2": (2_779_683_840, 2.78e9, 3),
    "phi-3.5-moe": (41_873_153_344, 41.9e9, 3),
    "qwen1.5-moe-step2": (7_566_573_568, None, 0),
    "qwen2-7b-window": (7_615_616_512, 7.62e9, 3),
    "qwen3-0.6b": (596_049_920, 0.6e9, 1),
    "qwen3-8b": (8_190_735_360, 8.2e9, 2),
    "santacoder-like": (1_124_886_528, None, 0),
    "seed-oss-36b": (36_151_104_512, 36e9, 2),
    "smollm3-3b": (3_075_098_624, 3.08e9, 3),
    "stablelm-2-12b": (12_143_185_920, 12.1e9, 3),
    "stablelm-2-1_6b": (1_644_515_328, 1.64e9, 3),
    "starcoder": (15_517_456_384, 15.5e9, 3),
    "starcoder2-15b": (15_655_899_136, 15.7e9, 3),
    "starcoder2-3b": (3_030_371_328, 3.03e9, 3),
    # Transformers registers DeepSeek-V3's e_score_correction_bias (58 MoE layers x 256) as a
    # buffer; ridgeline counts it as DeepSeek's own code does (an nn.Parameter)
    "deepseek-v3-defaults": (671_026_404_352 + 58 * 256, 671e9, 3),
}


def params(model) -> int:
    return estimate(Scenario(model, System(CATALOG.accelerator("h100"))), ["params"],
                    catalog=CATALOG)["params"]


def test_every_recorded_config_has_a_reference_count():
    assert {p.stem for p in CONFIGS.glob("*.json")} == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_count_equals_the_reference_implementation(name):
    model = model_from_hf_config(CONFIGS / f"{name}.json")
    reference, published, digits = REFERENCE[name]
    assert params(model) == reference
    if published is not None:
        # agrees with the model card to the digits it gives
        assert float(f"{reference:.{digits}g}") == pytest.approx(published, rel=0.51 * 10 **
                                                                  (1 - digits))


def test_at_least_forty_model_types_are_read_each_by_a_plugin():
    types = supported_model_types()
    assert len(types) >= 40
    for model_type in types:
        assert CATALOG.provider("config reader", model_type).startswith("ridgeline.plugins.")
    recorded = {json.loads(p.read_text())["model_type"] for p in CONFIGS.glob("*.json")}
    # every new type has a real config checked above (the older ones in test_params/test_moe,
    # the state-space ones in test_ssm)
    assert recorded >= set(types) - {"llama", "qwen2_moe", "qwen3_moe", "deepseek_v2",
                                     "minicpm3", "gpt2", "opt", "gpt_neox", "falcon", "phi3",
                                     "gemma", "mamba", "falcon_mamba", "mamba2", "jamba"}


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize("name, window, layers, kind", [
    ("mistral-7b-v0.1", 4096, None, "sliding"),  # every layer
    ("gemma-2-9b", 4096, 21, "sliding"),  # every other of 42
    ("gemma-3-27b-text", 1024, 52, "sliding"),  # 5 of every 6 of 62: 62 - 10 global
    ("gemma-3-1b", 512, 22, "sliding"),  # 26 - 4
    ("c4ai-command-r7b", 4096, 24, "sliding"),  # 3 of 4 of 32
    ("gpt-oss-20b", 128, 12, "sliding"),  # layer_types
    ("qwen2-7b-window", 131072, 8, "sliding"),  # layers 20..27 of 28
    ("llama-4-scout-17b-16e", 8192, 36, "chunked"),  # the rotary layers, 3 of 4
    ("starcoder2-15b", 4096, None, "sliding"),
])
def test_windows_are_read(name, window, layers, kind):
    model = model_from_hf_config(CONFIGS / f"{name}.json")
    assert (model.sliding_window, model.window_layers, model.window_kind) == \
        (window, layers, kind)


def test_configs_without_windows_have_none():
    for name in ("qwen3-8b", "phi-2", "olmo-2-1124-7b"):
        assert model_from_hf_config(CONFIGS / f"{name}.json").sliding_window is None


def test_qwen2_without_use_sliding_window_has_no_window():
    config = json.loads((CONFIGS / "qwen2-7b-window.json").read_text())
    assert model_from_hf_config({**config, "use_sliding_window": False}).sliding_window is None


# --------------------------------------------------------------------------- layouts


def test_moe_interleaving_counts_moe_and_dense_layers():
    maverick = model_from_hf_config(CONFIGS / "llama-4-maverick-17b-128e.json")
    assert maverick.option("moe_layer_step") == 2 and maverick.option("shared_experts") == 1
    e = estimate(Scenario(maverick, System(CATALOG.accelerator("h100"))),
                 ["params", "active_params"], catalog=CATALOG)
    # Llama 4 Maverick: 17B active of 400B (Meta's model card)
    assert round(e["active_params"] / 1e9) == 17


def test_missing_keys_take_the_config_class_defaults():
    mixtral = model_from_hf_config(CONFIGS / "mixtral-no-kv.json")
    assert mixtral.kv_heads == 8  # MixtralConfig.num_key_value_heads
    v3 = model_from_hf_config(CONFIGS / "deepseek-v3-defaults.json")
    assert (v3.option("num_experts"), v3.option("shared_experts"), v3.option("dense_layers"),
            v3.option("moe_intermediate_size"), v3.option("experts_per_token")) == \
        (256, 1, 3, 2048, 8)


def test_features_are_read():
    assert model_from_hf_config(CONFIGS / "gpt-oss-20b.json").attention_sinks
    assert model_from_hf_config(CONFIGS / "starcoder.json").kv_heads == 1
    assert model_from_hf_config(CONFIGS / "bloom-560m.json").positions == "alibi"
    assert model_from_hf_config(CONFIGS / "gpt-j-6b.json").parallel_layers
    assert model_from_hf_config(CONFIGS / "qwen3-8b.json").qk_norm == "head"
    assert model_from_hf_config(CONFIGS / "olmo-2-1124-7b.json").qk_norm == "full"


@pytest.mark.parametrize("name, change, field", [
    ("mpt-7b", {"attn_config": {"qk_ln": True}}, "attn_config.qk_ln"),
    ("gemma-3-4b", {"text_config": [1]}, "text_config"),
    ("gemma-3-27b-text", {"layer_types": ["full_attention"]}, "layer_types"),
    ("dbrx-base", {"ffn_config": {"moe_num_experts": 2, "moe_top_k": 4}}, "moe_top_k"),
    ("llama-4-scout-17b-16e", {"interleave_moe_layer_step": 100}, "interleave_moe_layer_step"),
    ("qwen3-8b", {"use_qkv_bias": True}, "use_qkv_bias"),  # another family's switch
    ("phi-2", {"qk_layernorm": "yes"}, "qk_layernorm"),
    ("seed-oss-36b", {"attention_bias": False, "attention_out_bias": True},
     "attention_out_bias"),
])
def test_bad_fields_are_named(name, change, field):
    config = json.loads((CONFIGS / f"{name}.json").read_text())
    with pytest.raises(RegistryError, match=f"{field}: "):
        model_from_hf_config({**config, **change})


# --------------------------------------------------------------------------- the hook


def _read_tiny(cfg: HFConfig) -> dict:
    return {"vocab_size": cfg.size("vocab_size"), "hidden_size": cfg.size("d_model"),
            "num_layers": cfg.size("n_layers"), "num_heads": cfg.size("n_heads"),
            "intermediate_size": 4 * cfg.size("d_model"), "max_seq_len": 1024}


class TinyReader:
    __name__ = "tiny-reader"

    @hookimpl
    def ridgeline_register_config_readers(self, register):
        register(ConfigReader("tiny", _read_tiny, "a tiny test model",
                              count_keys=("d_model", "n_layers")))


class LlamaAgain:
    __name__ = "llama-again"

    @hookimpl
    def ridgeline_register_config_readers(self, register):
        register(ConfigReader("llama", _read_tiny, "a second llama reader"))


TINY = {"model_type": "tiny", "vocab_size": 1000, "d_model": 256, "n_layers": 4, "n_heads": 4}


def test_hook_ridgeline_register_config_readers():
    catalog = build_catalog(plugins=[TinyReader()], entry_points=False)
    model = model_from_hf_config(TINY, catalog=catalog)
    assert (model.hidden_size, model.num_layers) == (256, 4)
    assert catalog.provider("config reader", "tiny") == "tiny-reader"
    with pytest.raises(RegistryError, match="model_type: 'tiny' is not supported"):
        model_from_hf_config(TINY, catalog=CATALOG)


def test_a_reader_count_key_is_refused_by_other_readers():
    catalog = build_catalog(plugins=[TinyReader()], entry_points=False)
    llama = {"model_type": "llama", "vocab_size": 1000, "hidden_size": 256,
             "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 512}
    model_from_hf_config(llama, catalog=catalog)
    with pytest.raises(RegistryError, match="d_model: changes the parameter count"):
        model_from_hf_config({**llama, "d_model": 256}, catalog=catalog)


def test_two_readers_of_one_model_type_name_both_plugins():
    with pytest.raises(ConflictError) as info:
        build_catalog(plugins=[LlamaAgain()], entry_points=False)
    assert "llama-again" in str(info.value)
    assert "ridgeline.plugins.architectures.readers_llama" in str(info.value)


@pytest.mark.parametrize("kwargs, field", [
    (dict(model_type="Tiny Model", read=_read_tiny, doc="x"), "model_type"),
    (dict(model_type="tiny", read="not a function", doc="x"), "read"),
    (dict(model_type="tiny", read=_read_tiny, doc=""), "doc"),
    (dict(model_type="tiny", read=_read_tiny, doc="x", count_keys=("",)), "count_keys"),
])
def test_a_bad_reader_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ConfigReader(**kwargs)


def test_a_reader_that_returns_junk_is_a_registry_error():
    class Junk:
        __name__ = "junk"

        @hookimpl
        def ridgeline_register_config_readers(self, register):
            register(ConfigReader("junk", lambda cfg: [1, 2], "returns a list"))

    catalog = build_catalog(plugins=[Junk()], entry_points=False)
    with pytest.raises(RegistryError, match="returned list"):
        model_from_hf_config({"model_type": "junk"}, catalog=catalog)


def test_a_reader_that_crashes_is_a_registry_error_naming_its_model_type():
    class Crashing:
        __name__ = "crashing"

        @hookimpl
        def ridgeline_register_config_readers(self, register):
            register(ConfigReader("crash", lambda cfg: cfg.data["absent"], "raises KeyError"))

    catalog = build_catalog(plugins=[Crashing()], entry_points=False)
    with pytest.raises(RegistryError, match="reader of model_type 'crash' failed: KeyError"):
        model_from_hf_config({"model_type": "crash"}, catalog=catalog)


def test_registering_something_else_is_a_plugin_error():
    class Wrong:
        __name__ = "wrong"

        @hookimpl
        def ridgeline_register_config_readers(self, register):
            register(Architecture(family="x", doc="not a reader"))

    with pytest.raises(PluginError, match="ConfigReader"):
        build_catalog(plugins=[Wrong()], entry_points=False)


# --------------------------------------------------------------------------- listing


def _cli(capsys, *argv) -> tuple[int, str]:
    from ridgeline.cli import main
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_models_lists_the_model_types_read_by_plugin(capsys):
    code, out = _cli(capsys, "models", "--readers", "--json")
    rows = {r["model_type"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) == set(supported_model_types())
    assert rows["gpt_oss"]["plugin"] == "ridgeline.plugins.architectures.readers_moe"
    assert rows["gpt_oss"]["family"] == "moe"
    code, out = _cli(capsys, "models")
    assert f"{len(rows)} model types are read from a config.json" in out


def test_show_reads_a_config_path_and_names_its_reader(capsys):
    code, out = _cli(capsys, "show", str(CONFIGS / "phi-2.json"), "--json")
    shown = json.loads(out)
    assert shown["params"] == REFERENCE["phi-2"][0]
    assert shown["read_by"] == "phi (ridgeline.plugins.architectures.readers_gpt)"
    code, out = _cli(capsys, "show", "gpt_bigcode", "--json")
    assert json.loads(out)["object"] == "config reader"


# --------------------------------------------------------------------------- MoE interleaving


def test_interleaved_moe_layers_are_counted_as_moe_and_dense_in_the_work():
    """Every 2nd of 24 layers MoE is, for the count and for the FLOPs and bytes of prefill
    and decode, 12 MoE and 12 dense layers: the same as 12 leading dense layers."""
    import attrs
    base = model_from_hf_config(CONFIGS / "qwen1.5-moe-step2.json")
    options = {k: v for k, v in base.options.items()
               if k not in ("dense_layers", "moe_layer_step")}
    interleaved = attrs.evolve(base, options={**options, "moe_layer_step": 2})
    leading = attrs.evolve(base, options={**options, "dense_layers": 12})
    quantities = ["params", "active_params", "prefill_flops", "decode_step_flops",
                  "decode_step_bytes"]
    results = []
    for model in (interleaved, leading):
        results.append(ridgeline.infer(model, on="h100", batch=4, prompt=256, output=64,
                                       catalog=CATALOG, quantities=quantities))
    for q in quantities:
        assert results[0][q] == pytest.approx(results[1][q], rel=1e-12), q


def test_moe_layer_step_counts_the_moe_layers():
    from ridgeline.plugins.architectures.moe_params import moe_shape
    maverick = model_from_hf_config(CONFIGS / "llama-4-maverick-17b-128e.json")
    assert (moe_shape(maverick).moe_layers, moe_shape(maverick).dense_layers) == (24, 24)
    qwen = model_from_hf_config(CONFIGS / "qwen1.5-moe-step2.json")
    # layers 0 and 1 dense (mlp_only_layers), then MoE at 3, 5, ..., 23: 11 of 24
    assert moe_shape(qwen).moe_layers == 11


def test_a_config_saved_under_its_own_name_is_named_by_it(tmp_path):
    data = (CONFIGS / "phi-2.json").read_text()
    (tmp_path / "my-phi.json").write_text(data)
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "config.json").write_text(data)
    assert model_from_hf_config(tmp_path / "my-phi.json").id == "my-phi"
    assert model_from_hf_config(tmp_path / "checkpoint" / "config.json").id == "checkpoint"
