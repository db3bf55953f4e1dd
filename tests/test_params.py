"""Exact parameter counts of dense models, model presets, and reading Hugging Face configs.

Expected totals come from two places: the validation file shipped with the registry
(``registry/validation/public.toml``, section ``param_count``), and published counts of other
real checkpoints, each cited where it is used.
"""

from __future__ import annotations

import json
import sys
from importlib.resources import files

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ridgeline.catalog import build_catalog
from ridgeline.errors import RegistryError
from ridgeline.hf_config import SUPPORTED_MODEL_TYPES, model_from_hf_config
from ridgeline.model import Model
from ridgeline.engine import estimate
from ridgeline.scenario import Scenario, System
from ridgeline.plugin import load_model
from ridgeline.plugins.architectures import dense_params
from ridgeline.plugins.architectures.dense_params import (embedding_params, layer_params,
                                                          lm_head_params, non_embedding_params,
                                                          params)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REGISTRY = files("ridgeline.registry")
VALIDATION = tomllib.loads((REGISTRY / "validation" / "public.toml").read_text("utf-8"))
MOE_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


def preset(model_id: str) -> Model:
    return load_model(REGISTRY / "models" / f"{model_id}.toml")


def all_presets() -> list[Model]:
    paths = sorted(p for p in (REGISTRY / "models").iterdir() if p.name.endswith(".toml"))
    return [load_model(p) for p in paths]


# --------------------------------------------------------------------------- validation file

DENSE_CASES = [c for c in VALIDATION["param_count"]
               if not any(k in c["config"] for k in MOE_KEYS)]
MOE_CASES = [c for c in VALIDATION["param_count"] if c not in DENSE_CASES]

#: the preset that models each dense validation case.
PRESET_OF_CASE = {"gpt2": "gpt2", "opt-350m": "opt-350m", "GPT-3 175B": "gpt3-175b",
                  "Llama-2-7b": "llama-2-7b", "Llama-2-70b": "llama-2-70b"}

#: GPT-3's entry is a description in Hugging Face key names, not a real config: with no
#: model_type and Llama-like keys the reader would take it for Llama (RMSNorm, gated MLP).
NOT_HF_CONFIGS = {"GPT-3 175B"}


def case_id(case: dict) -> str:
    return case["name"]


def test_every_dense_validation_case_has_a_preset():
    assert {c["name"] for c in DENSE_CASES} == set(PRESET_OF_CASE)


@pytest.mark.parametrize("case", DENSE_CASES, ids=case_id)
def test_preset_params_equal_validation_total(case):
    assert params(preset(PRESET_OF_CASE[case["name"]])) == case["total_params_derived"]


@pytest.mark.parametrize("case", [c for c in DENSE_CASES if c["name"] not in NOT_HF_CONFIGS],
                         ids=case_id)
def test_config_params_equal_validation_total(case):
    model = model_from_hf_config(case["config"])
    assert params(model) == case["total_params_derived"]


@pytest.mark.parametrize("case", [c for c in DENSE_CASES if c["name"] not in NOT_HF_CONFIGS],
                         ids=case_id)
def test_config_and_preset_agree_on_every_count(case):
    from_config = model_from_hf_config(case["config"])
    from_preset = preset(PRESET_OF_CASE[case["name"]])
    for count in (params, embedding_params, lm_head_params, layer_params, non_embedding_params):
        assert count(from_config) == count(from_preset), count.__name__


@pytest.mark.parametrize("case", MOE_CASES, ids=case_id)
def test_moe_validation_config_is_refused(case):
    with pytest.raises(RegistryError, match=r"num_local_experts: .*'moe'.*not supported yet"):
        model_from_hf_config(case["config"])


MEGATRON_RUNS = [r for r in VALIDATION["training_run"]
                 if r["name"].startswith("Megatron-LM PTD-P weak scaling, GPT ")]


def megatron_preset_id(run: dict) -> str:
    size = run["name"].rsplit(" ", 1)[1].lower()  # "1.7B" -> "1.7b", "1008.0B" -> "1008.0b"
    return "megatron-gpt-" + size.replace(".0b", "b")


def test_megatron_presets_cover_the_weak_scaling_table():
    assert len(MEGATRON_RUNS) == 10
    assert {megatron_preset_id(r) for r in MEGATRON_RUNS} <= {m.id for m in all_presets()}


@pytest.mark.parametrize("run", MEGATRON_RUNS, ids=megatron_preset_id)
def test_megatron_preset_matches_the_paper(run):
    model = preset(megatron_preset_id(run))
    shape = (model.num_heads, model.hidden_size, model.num_layers, model.vocab_size,
             model.max_seq_len)
    assert shape == (run["num_attention_heads"], run["hidden_size"], run["num_layers"],
                     run["vocab_size"], run["seq_len"])
    # the paper rounds to 0.1B (its formula omits the final LayerNorm, far below that)
    assert round(params(model) / 1e9, 1) == run["model_params_billion"]


# --------------------------------------------------------------------------- OPT-350m

def test_opt_350m_breakdown_matches_the_formula_sheet():
    """Section 8 of the formula sheet, component by component."""
    model = preset("opt-350m")
    assert dense_params.token_embedding_params(model) == 25_739_264
    assert dense_params.position_embedding_params(model) == 2_099_200
    assert dense_params.embedding_projection_params(model) == 2 * 524_288
    assert layer_params(model) == 12_596_224
    assert dense_params.final_norm_params(model) == 0
    assert lm_head_params(model) == 0
    assert params(model) == 331_196_416


def test_opt_350m_with_an_untied_head_double_counts_the_embedding():
    untied = attrs.evolve(preset("opt-350m"), tie_embeddings=False)
    assert params(untied) == 356_935_680


def test_essay_001_count_is_opt_350m_untied_and_without_linear_biases():
    """Essay 001 counts OPT-350m by hand as 356,714,496.

    Its method: a separate 512-wide output embedding (the head untied), 2050 x 1024 positions,
    project_in and project_out, four 1024 x 1024 attention matrices and two 1024 x 4096 MLP
    matrices per layer with no biases, two LayerNorms (weight and bias) per layer, and no final
    norm. Adding the 24 x (4 x 1024 + 4096 + 1024) = 221,184 linear biases gives the untied
    count above.
    """
    essay = attrs.evolve(preset("opt-350m"), tie_embeddings=False, bias="none")
    assert params(essay) == 356_714_496
    assert params(attrs.evolve(essay, bias="all")) - params(essay) == 221_184


# --------------------------------------------------------------------------- other real configs

# Each config below is the checkpoint's config.json (keys that do not affect the count trimmed
# or kept as they are); each count was checked against a published figure:
#   safetensors   the Hugging Face API's safetensors.total, or model.safetensors.index.json's
#                 total_size / 2 for a 16-bit checkpoint
#   gguf          general.parameter_count of the GGUF conversion (llama.cpp / ollama)
#   card          the model card
#   keras         KerasHub's preset metadata "params"
#   torch         sum(p.numel()) printed for the Transformers model in a public repository
REAL_CONFIGS = {
    # safetensors: index total_size 16,060,522,496; gguf 8030261248; HF API for Llama-3.1-8B
    "llama-3-8b": (8_030_261_248, {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "hidden_act": "silu",
        "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 8192,
        "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
        "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_scaling": None,
        "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "vocab_size": 128256}),
    # safetensors (HF API, meta-llama/Llama-3.1-70B)
    "llama-3.1-70b": (70_553_706_496, {
        "model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672,
        "num_attention_heads": 64, "num_hidden_layers": 80, "num_key_value_heads": 8,
        "max_position_embeddings": 131072, "vocab_size": 128256, "tie_word_embeddings": False,
        "rope_scaling": {"factor": 8.0, "rope_type": "llama3"}}),
    # safetensors (HF API, meta-llama/Llama-3.1-405B)
    "llama-3.1-405b": (405_853_388_800, {
        "model_type": "llama", "hidden_size": 16384, "intermediate_size": 53248,
        "num_attention_heads": 128, "num_hidden_layers": 126, "num_key_value_heads": 8,
        "max_position_embeddings": 131072, "vocab_size": 128256, "tie_word_embeddings": False}),
    # torch: DeepSpeed "Reconstructed ... 13015864320 elements"; safetensors index / 2
    "llama-2-13b": (13_015_864_320, {
        "model_type": "llama", "hidden_size": 5120, "intermediate_size": 13824,
        "num_attention_heads": 40, "num_hidden_layers": 40, "num_key_value_heads": 40,
        "max_position_embeddings": 4096, "vocab_size": 32000}),
    # gguf general.parameter_count 7241732096
    "mistral-7b": (7_241_732_096, {
        "architectures": ["MistralForCausalLM"], "hidden_act": "silu", "hidden_size": 4096,
        "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
        "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
        "tie_word_embeddings": False, "vocab_size": 32000}),
    # gguf general.parameter_count 7615616512 (architecture qwen2); Qwen2.5-7B-Instruct
    "qwen2.5-7b": (7_615_616_512, {
        "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 3584,
        "intermediate_size": 18944, "max_position_embeddings": 32768, "max_window_layers": 28,
        "model_type": "qwen2", "num_attention_heads": 28, "num_hidden_layers": 28,
        "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
        "sliding_window": None, "tie_word_embeddings": False, "use_sliding_window": False,
        "vocab_size": 152064}),
    # card: "n_parameters 20554567680" (EleutherAI/gpt-neox-20b)
    "gpt-neox-20b": (20_554_567_680, {
        "architectures": ["GPTNeoXForCausalLM"], "hidden_act": "gelu_fast", "hidden_size": 6144,
        "intermediate_size": 24576, "layer_norm_eps": 1e-05, "max_position_embeddings": 2048,
        "model_type": "gpt_neox", "num_attention_heads": 64, "num_hidden_layers": 44,
        "rotary_emb_base": 10000, "rotary_pct": 0.25, "tie_word_embeddings": False,
        "use_parallel_residual": True, "vocab_size": 50432}),
    # torch: "Total parameters: 6921.7207 M" for tiiuae/falcon-7b (8 significant digits; the
    # exact total is pinned by the derivation: fused QKV 4544 x (4544 + 2 x 64), one LayerNorm
    # per parallel block, tied head)
    "falcon-7b": (6_921_720_704, {
        "alibi": False, "architectures": ["FalconForCausalLM"], "bias": False,
        "hidden_size": 4544, "model_type": "falcon", "multi_query": True,
        "new_decoder_architecture": False, "num_attention_heads": 71,
        "num_hidden_layers": 32, "num_kv_heads": 71, "parallel_attn": True,
        "torch_dtype": "bfloat16", "vocab_size": 65024}),
    # safetensors / keras "params": 3821079552 (microsoft/Phi-3-mini-4k-instruct)
    "phi-3-mini": (3_821_079_552, {
        "architectures": ["Phi3ForCausalLM"], "hidden_act": "silu", "hidden_size": 3072,
        "intermediate_size": 8192, "max_position_embeddings": 4096, "model_type": "phi3",
        "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
        "original_max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_scaling": None,
        "sliding_window": 2047, "tie_word_embeddings": False, "vocab_size": 32064}),
    # keras "params": 8537680896 (gemma_7b_en)
    "gemma-7b": (8_537_680_896, {
        "architectures": ["GemmaForCausalLM"], "attention_bias": False, "head_dim": 256,
        "hidden_act": "gelu", "hidden_size": 3072, "intermediate_size": 24576,
        "max_position_embeddings": 8192, "model_type": "gemma", "num_attention_heads": 16,
        "num_hidden_layers": 28, "num_key_value_heads": 16, "rms_norm_eps": 1e-06,
        "vocab_size": 256000}),
    # safetensors.total 9241705984 (google/gemma-2-9b); keras "params" for gemma2_9b_en
    "gemma-2-9b": (9_241_705_984, {
        "architectures": ["Gemma2ForCausalLM"], "attention_bias": False,
        "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "head_dim": 256,
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 3584,
        "intermediate_size": 14336, "max_position_embeddings": 8192, "model_type": "gemma2",
        "num_attention_heads": 16, "num_hidden_layers": 42, "num_key_value_heads": 8,
        "query_pre_attn_scalar": 256, "sliding_window": 4096, "vocab_size": 256000}),
    # safetensors BF16 count 2614341888 (google/gemma-2-2b); gguf
    "gemma-2-2b": (2_614_341_888, {
        "model_type": "gemma2", "head_dim": 256, "hidden_size": 2304, "intermediate_size": 9216,
        "num_attention_heads": 8, "num_hidden_layers": 26, "num_key_value_heads": 4,
        "vocab_size": 256000}),
    # safetensors 27227128320 (google/gemma-2-27b)
    "gemma-2-27b": (27_227_128_320, {
        "model_type": "gemma2", "head_dim": 128, "hidden_size": 4608,
        "intermediate_size": 36864, "num_attention_heads": 32, "num_hidden_layers": 46,
        "num_key_value_heads": 16, "query_pre_attn_scalar": 144, "vocab_size": 256000}),
    # torch: "num params: 1315758080" (facebook/opt-1.3b, DeepSpeed-Chat; several repositories)
    "opt-1.3b": (1_315_758_080, {
        "activation_function": "relu", "architectures": ["OPTForCausalLM"],
        "do_layer_norm_before": True, "ffn_dim": 8192, "hidden_size": 2048,
        "max_position_embeddings": 2048, "model_type": "opt", "num_attention_heads": 32,
        "num_hidden_layers": 24, "vocab_size": 50272, "word_embed_proj_dim": 2048}),
    # torch / keras "params": 354823168
    "gpt2-medium": (354_823_168, {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "n_ctx": 1024,
        "n_embd": 1024, "n_head": 16, "n_layer": 24, "n_positions": 1024, "model_type": "gpt2",
        "vocab_size": 50257}),
    # torch: checkpoint inventories 774030080 and 1557611200
    "gpt2-large": (774_030_080, {
        "model_type": "gpt2", "n_embd": 1280, "n_head": 20, "n_layer": 36, "n_positions": 1024,
        "vocab_size": 50257}),
    "gpt2-xl": (1_557_611_200, {
        "model_type": "gpt2", "n_embd": 1600, "n_head": 25, "n_layer": 48, "n_positions": 1024,
        "vocab_size": 50257}),
}


@pytest.mark.parametrize("name", sorted(REAL_CONFIGS))
def test_real_config_params_equal_published_count(name):
    expected, config = REAL_CONFIGS[name]
    assert params(model_from_hf_config(config, id=name)) == expected


@pytest.mark.parametrize("model_id, config_name", [
    ("llama-3-8b", "llama-3-8b"), ("llama-3.1-8b", "llama-3-8b"),
    ("llama-3-70b", "llama-3.1-70b"), ("llama-3.1-70b", "llama-3.1-70b"),
    ("llama-3.1-405b", "llama-3.1-405b"), ("llama-2-13b", "llama-2-13b"),
    ("mistral-7b", "mistral-7b"),
])
def test_preset_params_equal_published_count(model_id, config_name):
    assert params(preset(model_id)) == REAL_CONFIGS[config_name][0]


def test_falcon_7b_is_multi_query_with_one_norm_per_layer():
    model = model_from_hf_config(REAL_CONFIGS["falcon-7b"][1])
    assert (model.kv_heads, model.norms_per_layer, model.tie_embeddings) == (1, 1, True)


def test_gemma_head_dim_defaults_to_256_not_hidden_over_heads():
    config = {k: v for k, v in REAL_CONFIGS["gemma-7b"][1].items() if k != "head_dim"}
    assert model_from_hf_config(config).head_width == 256


# --------------------------------------------------------------------------- reader behaviour

LLAMA_2_7B = next(c["config"] for c in DENSE_CASES if c["name"] == "Llama-2-7b")


def llama(**changes) -> dict:
    """Llama-2-7b's config with some keys changed (``None`` removes a key)."""
    config = {**LLAMA_2_7B, **changes}
    return {k: v for k, v in config.items() if v is not None}


def test_config_file_id_defaults_to_its_folder_name(tmp_path):
    folder = tmp_path / "Llama-2-7B hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_2_7B))
    assert model_from_hf_config(folder / "config.json").id == "llama-2-7b-hf"
    assert model_from_hf_config(folder).id == "llama-2-7b-hf"


def test_dict_id_defaults_to_custom_and_can_be_given():
    assert model_from_hf_config(llama()).id == "custom"
    assert model_from_hf_config(llama(), id="my-llama").id == "my-llama"


def test_explicit_head_dim_is_honoured():
    model = model_from_hf_config(llama(hidden_size=5120, head_dim=128))
    assert model.head_width == 128
    assert layer_params(model) == (2 * 5120 * 32 * 128 * 2 + 3 * 5120 * 11008 + 2 * 5120)


def test_gpt2_n_inner_is_honoured():
    base = REAL_CONFIGS["gpt2-medium"][1]
    assert model_from_hf_config({**base, "n_inner": 2048}).intermediate_size == 2048
    assert model_from_hf_config(base).intermediate_size == 4 * 1024


def test_opt_word_embed_proj_dim_is_honoured():
    config = REAL_CONFIGS["opt-1.3b"][1]
    narrow = model_from_hf_config({**config, "word_embed_proj_dim": 512})
    assert narrow.embed_dim == 512
    assert dense_params.embedding_projection_params(narrow) == 2 * 512 * 2048


def test_qwen2_has_biases_on_qkv_only():
    assert model_from_hf_config(REAL_CONFIGS["qwen2.5-7b"][1]).bias == "qkv"


def test_supported_model_types():
    # the readers of the first release; plugins add more (tests/test_hf_readers.py)
    assert set(SUPPORTED_MODEL_TYPES) >= {"llama", "mistral", "qwen2", "gpt2", "opt", "gpt_neox",
                                          "falcon", "phi3", "gemma2", "gemma",
                                          "mixtral", "qwen2_moe", "qwen3_moe",
                                          "deepseek_v2", "deepseek_v3", "minicpm3",
                                          "mamba", "mamba2", "falcon_mamba", "jamba"}


def _raises_naming(field: str, source, **kwargs) -> RegistryError:
    with pytest.raises(RegistryError) as info:
        model_from_hf_config(source, **kwargs)
    assert f"{field}: " in str(info.value)
    return info.value


def test_unknown_model_type_names_the_field_and_lists_supported():
    error = _raises_naming("model_type", llama(model_type="bert"))
    assert "'bert'" in str(error)
    assert all(t in str(error) for t in SUPPORTED_MODEL_TYPES)


@pytest.mark.parametrize("field, changes", [
    ("hidden_size", dict(hidden_size=4000, num_attention_heads=48)),
    ("num_key_value_heads", dict(num_key_value_heads=5)),
    ("num_hidden_layers", dict(num_hidden_layers=-2)),
    ("intermediate_size", dict(intermediate_size=11008.5)),
    ("vocab_size", dict(vocab_size="32000")),
    ("num_attention_heads", dict(num_attention_heads=True)),
    ("tie_word_embeddings", dict(tie_word_embeddings="no")),
    ("attention_bias", dict(attention_bias="yes")),
    ("ffn_dim", dict(ffn_dim=4096)),  # a count key Llama does not have is never dropped
])
def test_contradictory_or_malformed_fields_name_the_field(field, changes):
    _raises_naming(field, llama(**changes))


@pytest.mark.parametrize("field, config", [
    # n_head and num_attention_heads are aliases in GPT-2's config: they must agree
    ("num_attention_heads", {"model_type": "gpt2", "n_embd": 768, "n_head": 12,
                             "num_attention_heads": 16, "n_layer": 12, "vocab_size": 50257}),
    ("intermediate_size", {"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_layer": 12,
                           "vocab_size": 50257, "intermediate_size": 2048}),
    ("head_dim", {"model_type": "gpt_neox", "hidden_size": 512, "num_attention_heads": 8,
                  "num_hidden_layers": 2, "intermediate_size": 2048, "vocab_size": 100,
                  "head_dim": 32}),
    ("num_key_value_heads", {"model_type": "opt", "hidden_size": 512, "num_attention_heads": 8,
                             "num_key_value_heads": 2, "num_hidden_layers": 2, "ffn_dim": 2048,
                             "vocab_size": 100}),
])
def test_family_specific_contradictions_name_the_field(field, config):
    _raises_naming(field, config)


@pytest.mark.parametrize("field", ["vocab_size", "hidden_size", "num_hidden_layers",
                                   "intermediate_size"])
def test_missing_required_field_is_named(field):
    error = _raises_naming(field, llama(model_type="llama", **{field: None}))
    assert "required field is missing" in str(error)


def test_missing_model_type_without_llama_keys_is_refused():
    _raises_naming("model_type", {"vocab_size": 100, "d_model": 64})


@pytest.mark.parametrize("key", ["num_local_experts", "num_experts", "n_routed_experts"])
def test_moe_keys_in_a_dense_model_type_are_refused(key):
    error = _raises_naming(key, llama(model_type="llama", **{key: 8}))
    assert "moe" in str(error)


@pytest.mark.parametrize("key", ["num_experts", "n_routed_experts"])
def test_another_familys_expert_key_in_a_mixtral_config_is_refused(key):
    error = _raises_naming(key, llama(model_type="mixtral", **{key: 8}))
    assert "moe" in str(error)


def test_non_json_file_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{'model_type': 'llama',}")
    with pytest.raises(RegistryError, match="not valid JSON") as info:
        model_from_hf_config(path)
    assert info.value.file == str(path)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "absent.json"
    with pytest.raises(RegistryError, match="cannot read") as info:
        model_from_hf_config(path)
    assert info.value.file == str(path)


def test_invalid_explicit_id_is_named():
    _raises_naming("id", llama(), id="Not An Id")


# --------------------------------------------------------------------------- properties


@st.composite
def dense_models(draw) -> Model:
    """Small dense models spanning every layout option the counts depend on."""
    heads = draw(st.integers(1, 16))
    kv_heads = draw(st.sampled_from([d for d in range(1, heads + 1) if heads % d == 0]))
    head_dim = draw(st.integers(1, 64))
    explicit_head_dim = draw(st.booleans())
    hidden = draw(st.integers(1, 2048)) if explicit_head_dim else heads * head_dim
    positions = draw(st.sampled_from(["rotary", "learned", "alibi", "none"]))
    return Model(
        id="m", vocab_size=draw(st.integers(1, 300_000)), hidden_size=hidden,
        num_layers=draw(st.integers(1, 128)), num_heads=heads, num_kv_heads=kv_heads,
        head_dim=head_dim if explicit_head_dim else None,
        intermediate_size=draw(st.integers(1, 60_000)),
        mlp=draw(st.sampled_from(["gated", "plain"])),
        bias=draw(st.sampled_from(["none", "qkv", "all"])),
        norm=draw(st.sampled_from(["rmsnorm", "layernorm"])),
        norms_per_layer=draw(st.integers(1, 4)), final_norm=draw(st.booleans()),
        tie_embeddings=draw(st.booleans()), positions=positions,
        position_rows=draw(st.none() | st.integers(1, 9000)),
        embed_dim=draw(st.none() | st.integers(1, 4096)),
        max_seq_len=draw(st.integers(1, 131072)))


@given(dense_models())
def test_params_strictly_increase_with_layers_by_one_layer_each(model):
    deeper = attrs.evolve(model, num_layers=model.num_layers + 1)
    assert params(deeper) - params(model) == layer_params(model) > 0


@given(dense_models())
def test_tying_embeddings_removes_exactly_vocab_times_width(model):
    tied = attrs.evolve(model, tie_embeddings=True)
    untied = attrs.evolve(model, tie_embeddings=False)
    width = model.embed_dim or model.hidden_size
    assert params(untied) - params(tied) == model.vocab_size * width


@given(dense_models())
def test_counts_add_up(model):
    assert (embedding_params(model) + non_embedding_params(model) + lm_head_params(model)
            == params(model))
    assert non_embedding_params(model) == (model.num_layers * layer_params(model)
                                           + dense_params.final_norm_params(model))
    assert all(isinstance(c(model), int) for c in (params, embedding_params, lm_head_params,
                                                   layer_params, non_embedding_params))


@given(dense_models(), st.integers(1, 4))
def test_fewer_kv_heads_remove_their_k_and_v_projections(model, divisor):
    assume(model.kv_heads % divisor == 0)  # a divisor of kv_heads still divides num_heads
    fewer = attrs.evolve(model, num_kv_heads=model.kv_heads // divisor)
    removed_heads = model.kv_heads - fewer.kv_heads
    per_head = 2 * model.hidden_size * model.head_width  # K and V weights
    if model.bias != "none":
        per_head += 2 * model.head_width
    assert params(model) - params(fewer) == model.num_layers * removed_heads * per_head


# --------------------------------------------------------------------------- presets, catalog


def test_presets_have_a_header_a_name_and_sources():
    for path in (REGISTRY / "models").iterdir():
        if path.name.endswith(".toml"):
            assert path.read_text("utf-8").startswith("# "), path.name
            model = load_model(path)
            assert model.name and model.sources, path.name


def test_preset_aliases_are_unique_and_never_another_id():
    models = all_presets()
    ids = {m.id for m in models}
    aliases = [a for m in models for a in m.aliases]
    assert len(aliases) == len(set(aliases))
    assert not ids & set(aliases)


def test_catalog_registers_the_dense_param_formulas_and_presets():
    catalog = build_catalog(entry_points=False)
    for quantity in ("params", "embedding_params", "lm_head_params", "attention_params_per_layer",
                     "mlp_params", "norm_params_per_layer", "non_embedding_params",
                     "active_params"):
        (formula,) = [f for f in catalog.formulas[quantity] if f.plugin.endswith("dense_params")]
        assert formula.applies.family == frozenset({"dense"})
        assert formula.doc.splitlines()[0]
    assert catalog.model("llama3-70b").id == "llama-3-70b"
    # the engine's composed count equals the plain count for every dense preset
    for model in catalog.models.values():
        if model.family != "dense" or model.attention != "standard":
            continue
        e = estimate(Scenario(model, System(catalog.accelerator("h100"))),
                     ["params", "non_embedding_params", "active_params"], catalog=catalog)
        assert e["params"] == e["active_params"] == params(model), model.id
        assert e["non_embedding_params"] == non_embedding_params(model), model.id


def test_parallel_layers_come_from_the_config_and_halve_tensor_parallel_all_reduces(tmp_path):
    config = {"model_type": "gpt_neox", "hidden_size": 512, "num_attention_heads": 8,
              "num_hidden_layers": 6, "intermediate_size": 2048, "vocab_size": 50304,
              "max_position_embeddings": 2048}
    sequential = tmp_path / "sequential.json"
    sequential.write_text(json.dumps({**config, "use_parallel_residual": False}))
    parallel = tmp_path / "parallel.json"
    parallel.write_text(json.dumps(config))  # GPT-NeoX's default is the parallel block
    assert not model_from_hf_config(sequential).parallel_layers
    assert model_from_hf_config(parallel).parallel_layers
    import ridgeline
    counts = [ridgeline.infer(str(p), on="h100", tp=2,
                              quantities=["tp_all_reduces_per_layer", "decode_tp_comm_s"])
              for p in (sequential, parallel)]
    assert [c["tp_all_reduces_per_layer"] for c in counts] == [2.0, 1.0]
    assert counts[1]["decode_tp_comm_s"] < counts[0]["decode_tp_comm_s"]


def test_a_bare_preset_name_is_the_preset_and_a_path_is_the_folder(tmp_path, monkeypatch):
    from ridgeline.api import resolve_model
    catalog = build_catalog(entry_points=False)
    folder = tmp_path / "gpt2"
    folder.mkdir()
    config = {"model_type": "gpt_neox", "hidden_size": 512, "num_attention_heads": 8,
              "num_hidden_layers": 6, "intermediate_size": 2048, "vocab_size": 50304,
              "max_position_embeddings": 2048}
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    assert resolve_model("gpt2", catalog) == catalog.model("gpt2")
    assert resolve_model("./gpt2", catalog).hidden_size == 512
    assert resolve_model(folder, catalog).hidden_size == 512
    # a bare name that is no preset but a folder still reads the folder
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text(json.dumps(config))
    assert resolve_model("mine", catalog).num_layers == 6
