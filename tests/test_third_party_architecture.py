"""A third-party architecture end to end: a plugin that teaches ridgeline GPT-Neo (a model
type no built-in plugin reads) with a config reader, a family and the one formula where the
family differs, then an estimate of a real GPT-Neo config. docs/architectures.md walks
through the same plugin.

GPT-Neo (EleutherAI; Transformers' GPTNeoSelfAttention) has Q, K and V projections without
biases but an output projection with one, MLP biases, learned positions, and layers that
alternate global attention with attention to the last ``window_size`` (256) tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ridgeline
from ridgeline import build_catalog
from ridgeline.errors import RegistryError
from ridgeline.hf_config import model_from_hf_config
from ridgeline.plugin import Architecture, ConfigReader, formula

CONFIGS = Path(__file__).parent / "data" / "third_party"


def read_gpt_neo(cfg):
    """GPTNeoConfig's keys (and its defaults) as a Model of family ``gpt-neo``."""
    hidden = cfg.size("hidden_size")
    heads = cfg.size("num_heads")
    layers = cfg.size("num_layers")
    if hidden % heads:
        cfg.fail("num_heads", f"{heads} does not divide hidden_size ({hidden})")
    # attention_types: [[["global", "local"], 12]] repeats the pattern 12 times
    kinds = []
    for entry in cfg.data.get("attention_types") or [[["global", "local"], layers // 2]]:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)
                and isinstance(entry[1], int)):
            cfg.fail("attention_types", f"expected [[kinds], repeats] entries, got {entry!r}")
        kinds += entry[0] * entry[1]
    cfg.use("attention_types")
    if len(kinds) != layers:
        cfg.fail("attention_types", f"describes {len(kinds)} layers, not num_layers = {layers}")
    local = kinds.count("local")
    window = {"sliding_window": cfg.size("window_size", default=256),
              "window_layers": local if local < layers else None} if local else {}
    return {"family": "gpt-neo", "vocab_size": cfg.size("vocab_size"), "hidden_size": hidden,
            "num_layers": layers, "num_heads": heads,
            "intermediate_size": cfg.size("intermediate_size", default=4 * hidden),
            "mlp": "plain", "bias": "mlp", "norm": "layernorm", "positions": "learned",
            "tie_embeddings": cfg.flag("tie_word_embeddings", default=True),
            "max_seq_len": cfg.size("max_position_embeddings", default=2048), **window}


@formula(family="gpt-neo", domain="whole")
def attention_params_per_layer(model):
    """Q, K, V and output projections (hidden x hidden each), a bias on the output only."""
    return 4 * model.hidden_size * model.hidden_size + model.hidden_size


class GptNeoPlugin:
    """What a distribution would publish under the ``ridgeline`` entry-point group."""

    __name__ = "gpt-neo-plugin"

    @ridgeline.hookimpl
    def ridgeline_register_architectures(self, register):
        register(Architecture(family="gpt-neo", extends="dense",
                              doc="GPT-Neo: output-only attention bias, local/global layers"))

    @ridgeline.hookimpl
    def ridgeline_register_config_readers(self, register):
        register(ConfigReader("gpt_neo", read_gpt_neo, "GPT-Neo (EleutherAI)",
                              family="gpt-neo", count_keys=("window_size",)))

    @ridgeline.hookimpl
    def ridgeline_register_formulas(self, register):
        register(attention_params_per_layer)


@pytest.fixture(scope="module")
def catalog():
    return build_catalog(plugins=[GptNeoPlugin()], entry_points=False)


# the Transformers model's sum(p.numel()) (tests/data/hf_configs/README.md); EleutherAI's
# model cards give 125M and 1.3B
@pytest.mark.parametrize("name, reference", [("gpt-neo-125m", 125_198_592),
                                             ("gpt-neo-1.3b", 1_315_575_808)])
def test_gpt_neo_is_read_and_counted_exactly(catalog, name, reference):
    model = model_from_hf_config(CONFIGS / f"{name}.json", catalog=catalog)
    assert model.family == "gpt-neo"
    assert model.window_layers == model.num_layers // 2 and model.sliding_window == 256
    estimate = ridgeline.infer(model, on="h100", batch=8, prompt=512, output=128,
                               catalog=catalog, quantities=["params", "weight_bytes", "tpot_s"])
    assert estimate["params"] == reference
    assert estimate["weight_bytes"] == 2 * reference  # bf16
    assert estimate["tpot_s"] > 0


def test_the_family_formula_is_the_one_used(catalog):
    model = model_from_hf_config(CONFIGS / "gpt-neo-125m.json", catalog=catalog)
    estimate = ridgeline.infer(model, on="h100", catalog=catalog,
                               quantities=["params", "attention_params_per_layer"])
    assert estimate.formula("attention_params_per_layer").plugin == "gpt-neo-plugin"
    assert estimate["attention_params_per_layer"] == 4 * 768 * 768 + 768


def test_without_the_plugin_gpt_neo_is_not_read():
    with pytest.raises(RegistryError, match="'gpt_neo' is not supported"):
        model_from_hf_config(CONFIGS / "gpt-neo-125m.json")


def test_a_bad_gpt_neo_config_names_the_field(catalog):
    config = json.loads((CONFIGS / "gpt-neo-125m.json").read_text())
    with pytest.raises(RegistryError, match="attention_types: describes 10 layers"):
        model_from_hf_config({**config, "attention_types": [[["global", "local"], 5]]},
                             catalog=catalog)
