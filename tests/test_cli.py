"""The ``ridgeline`` command line: every command, its ``--json``, and its errors.

Most tests run the CLI in-process through :func:`ridgeline.cli.main`; two run the installed
console script to prove the entry point works. Models come from a registry folder made in
``tmp_path`` (``--registry DIR``), so nothing depends on which presets ship.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ridgeline.cli import main
from ridgeline.errors import UnknownNameError

TINY_TOML = """\
id = "tiny"
name = "Tiny test model"
vocab_size = 1000
hidden_size = 256
num_layers = 4
num_heads = 8
num_kv_heads = 4
intermediate_size = 688
max_seq_len = 2048
"""

# Far too big for one 80 GB device: about 0.86 T parameters.
BIG_TOML = """\
id = "big"
vocab_size = 100000
hidden_size = 16384
num_layers = 200
num_heads = 128
intermediate_size = 65536
"""

# An accelerator that publishes no peak FLOP/s (as some ASICs do): times cannot be estimated,
# memory can.
NOPEAK_TOML = """\
id = "nopeak-x1"
name = "No-peak X1"
vendor = "Test"
kind = "asic"
sources = ["made up for tests"]

[[memory]]
name = "hbm"
capacity_bytes = "16 GB"
bandwidth_bytes_per_s = "1 TB/s"
"""

# The same dimensions as TINY_TOML, as a Hugging Face Llama config.
TINY_HF_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 1000,
    "hidden_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "intermediate_size": 688,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": False,
    "rms_norm_eps": 1e-5,
    "torch_dtype": "bfloat16",
}

INFER_VALUES = ("params", "weight_bytes", "kv_cache_bytes", "activation_bytes",
                "memory_per_device_bytes", "max_batch", "ttft_s", "tpot_s", "e2e_latency_s",
                "throughput_tokens_per_s", "mfu", "mbu", "cost_per_mtok_usd",
                "energy_per_token_j")
TRAIN_VALUES = ("step_s", "tokens_per_s", "model_flops_per_step", "hardware_flops_per_step",
                "mfu", "hfu", "memory_per_device_bytes", "wall_clock_s", "device_hours",
                "cost_usd", "energy_j")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """No user registry, no disabled plugins, no debug mode, no third-party plugins."""
    for name in ("RIDGELINE_REGISTRY", "RIDGELINE_DISABLE_PLUGINS", "RIDGELINE_DEBUG",
                 "RIDGELINE_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RIDGELINE_NO_PLUGINS", "1")


@pytest.fixture
def registry(tmp_path) -> Path:
    """A registry folder holding the models ``tiny`` and ``big`` and the accelerator
    ``nopeak-x1``."""
    root = tmp_path / "registry"
    (root / "models").mkdir(parents=True)
    (root / "models" / "tiny.toml").write_text(TINY_TOML)
    (root / "models" / "big.toml").write_text(BIG_TOML)
    (root / "accelerators").mkdir()
    (root / "accelerators" / "nopeak-x1.toml").write_text(NOPEAK_TOML)
    return root


@pytest.fixture
def run(capsys):
    """Run the CLI in-process: ``(exit code, stdout, stderr)``."""
    def _run(*argv: str):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors and --help
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return _run


@pytest.fixture
def run_json(run):
    def _run(*argv: str):
        code, out, err = run(*argv, "--json")
        assert code == 0, err
        assert err == ""
        return json.loads(out)
    return _run


def assert_one_line_error(code, out, err, *expected: str) -> str:
    assert code not in (0, None), (code, out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ridgeline: "), err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# --------------------------------------------------------------------------- help


def test_no_command_prints_help(run):
    code, out, _ = run()
    assert code == 0
    assert "usage: ridgeline" in out


def test_help_lists_every_command(run):
    code, out, _ = run("--help")
    assert code == 0
    for command in ("accelerators", "models", "formulas", "plugins", "show", "infer", "train",
                    "explain", "validate"):
        assert command in out


def test_usage_error_is_one_line_with_exit_code_2(run):
    code, out, err = run("infer", "tiny")  # --on is required
    assert code == 2
    assert err.splitlines() == [err.strip()]
    assert err.startswith("ridgeline: ") and "--on" in err and "Traceback" not in err


def test_explain_without_what_is_a_usage_error(run):
    code, _, err = run("explain")
    assert code == 2
    assert err.startswith("ridgeline: ") and "infer" in err


# --------------------------------------------------------------------------- listings


def test_accelerators_table(run):
    code, out, err = run("accelerators")
    assert code == 0 and err == ""
    assert "nvidia-h100-sxm" in out
    assert "h100" in out


def test_accelerators_json(run_json):
    data = run_json("accelerators")
    by_id = {a["id"]: a for a in data}
    h100 = by_id["nvidia-h100-sxm"]
    assert "h100" in h100["aliases"]
    assert h100["provider"] == "ridgeline.plugins.registry_data"
    assert h100["memory"][0]["capacity_bytes"] > 0
    assert list(by_id) == sorted(by_id)


def test_models_table_with_registry(run, registry):
    code, out, err = run("--registry", registry, "models")
    assert code == 0 and err == ""
    assert "tiny" in out and "big" in out


def test_models_json_with_registry(run_json, registry):
    data = run_json("--registry", registry, "models")
    by_id = {m["id"]: m for m in data}
    assert by_id["tiny"]["hidden_size"] == 256
    assert by_id["tiny"]["provider"] == f"registry:{registry}"


def test_formulas_table(run):
    code, out, err = run("formulas")
    assert code == 0 and err == ""
    assert "tpot_s" in out and "step_s" in out


def test_formulas_json(run_json):
    data = run_json("formulas")
    quantities = {r["quantity"] for r in data}
    assert {"tpot_s", "ttft_s", "step_s", "params"} <= quantities
    for r in data:
        assert set(r) >= {"quantity", "unit", "applies", "plugin", "function", "needs", "doc"}
        assert isinstance(r["needs"], list)


def test_plugins_table(run):
    code, out, err = run("plugins")
    assert code == 0 and err == ""
    assert "ridgeline.plugins.hardware.roofline" in out


def test_plugins_json_lists_builtins_and_registry_folders(run_json, registry):
    data = run_json("--registry", registry, "plugins")
    by_name = {p["name"]: p for p in data}
    roofline = by_name["ridgeline.plugins.hardware.roofline"]
    assert roofline["distribution"] == "ridgeline"
    assert "ridgeline_register_formulas" in roofline["hooks"]
    assert roofline["registered"]["formulas"]
    folder = by_name[f"registry:{registry}"]
    assert set(folder["registered"]["models"]) == {"big", "tiny"}


# --------------------------------------------------------------------------- show


def test_show_accelerator_by_alias(run):
    code, out, err = run("show", "h100")
    assert code == 0 and err == ""
    assert "nvidia-h100-sxm" in out
    assert "H100" in out


def test_show_accelerator_json(run_json):
    data = run_json("show", "nvidia-h100-sxm")
    assert data["id"] == "nvidia-h100-sxm"
    assert data["peak_flops_per_s"]["bf16"] > 0
    assert data["provider"] == "ridgeline.plugins.registry_data"


def test_show_json_says_it_is_an_accelerator(run_json):
    data = run_json("show", "nvidia-h100-sxm")
    assert data["object"] == "accelerator"
    assert data["kind"] == "gpu"


def test_show_model_json_has_params(run_json, registry):
    data = run_json("--registry", registry, "show", "tiny")
    assert data["object"] == "model"
    assert data["id"] == "tiny"
    assert is_number(data["params"]) and data["params"] > 0


def test_show_quantity(run):
    code, out, err = run("show", "tpot_s")
    assert code == 0 and err == ""
    assert out.startswith("tpot_s")
    assert "needs:" in out


def test_show_quantity_json(run_json):
    data = run_json("show", "tpot_s")
    assert data and all(r["quantity"] == "tpot_s" and r["unit"] == "s" for r in data)


def test_show_unknown_name(run):
    code, out, err = run("show", "tpot_ss")
    assert_one_line_error(code, out, err, "unknown", "'tpot_ss'", "tpot_s")


# --------------------------------------------------------------------------- infer


def test_infer_table(run, registry):
    code, out, err = run("--registry", registry, "infer", "tiny", "--on", "h100", "--batch", "4")
    assert code == 0 and err == ""
    assert "tiny on 1 x nvidia-h100-sxm" in out
    assert "fits: yes" in out
    for word in ("ttft_s", "tpot_s", "KV cache"):
        assert word in out


def test_infer_json_values(run_json, registry):
    data = run_json("--registry", registry, "infer", "tiny", "--on", "h100", "--batch", "4",
                    "--prompt", "256", "--output", "64")
    values = data["values"]
    for name in INFER_VALUES:
        assert is_number(values[name]), (name, values.get(name))
        assert values[name] >= 0, name
    assert values["fits"] is True
    assert values["ttft_s"] > 0 and values["tpot_s"] > 0
    assert values["e2e_latency_s"] >= values["ttft_s"]
    assert 0 < values["mfu"] <= 1 and 0 < values["mbu"] <= 1
    assert values["memory_per_device_bytes"] >= values["weight_bytes"]
    assert data["units"]["tpot_s"] == "s"
    assert data["scenario"]["model"] == "tiny"
    assert data["scenario"]["accelerator"] == "nvidia-h100-sxm"
    assert data["scenario"]["workload"]["batch"] == 4
    assert data["skipped"] == {}
    assert "tpot_s" in data["provenance"]


def test_infer_with_options(run_json, registry):
    data = run_json("--registry", registry, "infer", "tiny", "--on", "h100", "--tp", "2",
                    "--weights", "fp8", "--kv", "fp8", "--price", "2.5",
                    "--efficiency", "compute=0.6,memory=0.8")
    assert data["scenario"]["devices"] == 2
    assert data["values"]["price_usd_per_hour"] == pytest.approx(2.5)
    base = run_json("--registry", registry, "infer", "tiny", "--on", "h100", "--tp", "2")
    assert data["values"]["weight_bytes"] == pytest.approx(base["values"]["weight_bytes"] / 2)


def test_infer_batch_max(run_json, registry):
    data = run_json("--registry", registry, "infer", "tiny", "--on", "h100", "--batch", "max")
    batch = data["scenario"]["workload"]["batch"]
    assert batch > 1
    assert batch == int(data["values"]["max_batch"])
    assert data["values"]["fits"] is True


def test_infer_too_big_says_what_did_not_fit(run, run_json, registry):
    code, out, err = run("--registry", registry, "infer", "big", "--on", "h100")
    assert code == 0 and err == ""
    assert "fits: NO" in out
    assert "short by" in out
    values = run_json("--registry", registry, "infer", "big", "--on", "h100")["values"]
    assert values["fits"] is False
    assert values["memory_per_device_bytes"] > values["usable_memory_bytes"]
    assert values["memory_shortfall_bytes"] > 0


def test_infer_hf_config_path(run_json, registry, tmp_path):
    pytest.importorskip("ridgeline.hf_config", reason="core/hf_config.py is not written yet")
    folder = tmp_path / "tiny-hf"
    folder.mkdir()
    config = folder / "config.json"
    config.write_text(json.dumps(TINY_HF_CONFIG))
    data = run_json("infer", config, "--on", "h100")
    assert data["scenario"]["model"] == "tiny-hf"
    preset = run_json("--registry", registry, "infer", "tiny", "--on", "h100")
    assert data["values"]["params"] == preset["values"]["params"]
    assert data["values"]["tpot_s"] == pytest.approx(preset["values"]["tpot_s"])
    # the folder holding config.json works too
    assert run_json("infer", folder, "--on", "h100")["values"]["params"] == \
        preset["values"]["params"]


def test_infer_json_without_peak_flops_skips_times(run_json, registry):
    data = run_json("--registry", registry, "infer", "tiny", "--on", "nopeak-x1")
    assert data["values"]["fits"] is True
    assert is_number(data["values"]["memory_per_device_bytes"])
    assert "tpot_s" not in data["values"]
    assert "no dense peak FLOP/s" in data["skipped"]["tpot_s"]


def test_infer_table_without_peak_flops_shows_memory(run, registry):
    code, out, err = run("--registry", registry, "infer", "tiny", "--on", "nopeak-x1")
    assert code == 0, err
    assert "fits: yes" in out
    assert "no dense peak FLOP/s" in out


# --------------------------------------------------------------------------- train


def test_train_table(run, registry):
    code, out, err = run("--registry", registry, "train", "tiny", "--on", "h100", "--tp", "2",
                         "--dp", "2", "--global-batch", "64", "--tokens", "1B")
    assert code == 0 and err == ""
    assert "tiny on 4 x nvidia-h100-sxm" in out
    assert "fits: yes" in out
    assert "step_s" in out


def test_train_json_values(run_json, registry):
    data = run_json("--registry", registry, "train", "tiny", "--on", "h100", "--tp", "2",
                    "--pp", "2", "--dp", "2", "--global-batch", "64", "--seq", "1024",
                    "--tokens", "1B")
    values = data["values"]
    for name in TRAIN_VALUES:
        assert is_number(values[name]), (name, values.get(name))
        assert values[name] > 0, name
    assert values["fits"] is True
    assert 0 < values["mfu"] <= values["hfu"] <= 1
    assert values["hardware_flops_per_step"] >= values["model_flops_per_step"]
    assert values["tokens_per_s"] == pytest.approx(64 * 1024 / values["step_s"], rel=1e-9)
    assert data["scenario"]["devices"] == 8
    assert data["scenario"]["plan"]["tp"] == 2


def test_train_devices_gives_dp(run_json, registry):
    data = run_json("--registry", registry, "train", "tiny", "--on", "h100", "--devices", "8",
                    "--tp", "2", "--global-batch", "64")
    assert data["scenario"]["plan"]["dp"] == 4


def test_train_options(run_json, registry):
    data = run_json("--registry", registry, "train", "tiny", "--on", "h100", "--tp", "2",
                    "--pp", "2", "--sp", "--interleave", "2", "--zero", "1",
                    "--recompute", "full", "--micro-batch", "2", "--global-batch", "32",
                    "--precision", "bf16")
    values = data["values"]
    assert values["hardware_flops_per_step"] > values["model_flops_per_step"]  # recompute
    assert data["scenario"]["plan"]["zero"] == 1


def test_train_table_without_peak_flops_says_why(run, registry):
    code, out, err = run("--registry", registry, "train", "tiny", "--on", "nopeak-x1")
    assert code == 0 and err == ""
    assert "fits: yes" in out
    assert "n/a (nopeak-x1 publishes no dense peak FLOP/s" in out


def test_train_too_big(run, registry):
    code, out, err = run("--registry", registry, "train", "big", "--on", "h100")
    assert code == 0 and err == ""
    assert "fits: NO" in out


# --------------------------------------------------------------------------- explain


def test_explain_infer(run, registry):
    code, out, err = run("--registry", registry, "explain", "infer", "tiny", "--on", "h100",
                         "--quantity", "tpot_s")
    assert code == 0 and err == ""
    first = out.splitlines()[0]
    assert first.startswith("tpot_s = ")
    assert "ridgeline.plugins." in first
    assert "decode_step_s" in out


def test_explain_infer_json(run_json, registry):
    data = run_json("--registry", registry, "explain", "infer", "tiny", "--on", "h100",
                    "--quantity", "tpot_s")
    assert data["quantity"] == "tpot_s"
    assert is_number(data["value"]) and data["value"] > 0
    assert data["tree"][0].startswith("tpot_s = ")


def test_explain_train(run, registry):
    code, out, err = run("--registry", registry, "explain", "train", "tiny", "--on", "h100",
                         "--quantity", "step_s")
    assert code == 0 and err == ""
    assert out.startswith("step_s = ")


# --------------------------------------------------------------------------- errors


ERRORS = [
    pytest.param(["infer", "tiny", "--on", "h100x"],
                 ["unknown accelerator 'h100x'", "did you mean", "'h100'"], id="accelerator"),
    pytest.param(["infer", "no-such-model", "--on", "h100"],
                 ["unknown model 'no-such-model'"], id="model"),
    pytest.param(["infer", "tinyy", "--on", "h100"],
                 ["unknown model 'tinyy'", "'tiny'"], id="model-suggestion"),
    pytest.param(["infer", "tiny", "--on", "h100", "--batch", "-1"],
                 ["batch", ">= 1", "-1"], id="negative-batch"),
    pytest.param(["infer", "tiny", "--on", "h100", "--batch", "0"],
                 ["batch", ">= 1"], id="zero-batch"),
    pytest.param(["infer", "tiny", "--on", "h100", "--batch", "lots"],
                 ["batch", "'lots'"], id="batch-not-a-number"),
    pytest.param(["infer", "tiny", "--on", "h100", "--tp", "3"],
                 ["tp=3", "does not divide", "8 attention heads"], id="tp-heads"),
    pytest.param(["train", "tiny", "--on", "h100", "--tp", "3"],
                 ["tp=3", "does not divide"], id="train-tp-heads"),
    pytest.param(["infer", "tiny", "--on", "h100", "--tp", "2", "--devices", "4"],
                 ["devices=4", "tp x pp"], id="infer-devices"),
    pytest.param(["train", "tiny", "--on", "h100", "--tp", "2", "--devices", "3"],
                 ["devices=3", "tp x pp"], id="train-devices-not-multiple"),
    pytest.param(["train", "tiny", "--on", "h100", "--tp", "2", "--dp", "2", "--devices", "8"],
                 ["devices=8", "tp x pp x dp"], id="train-devices-plan"),
    pytest.param(["train", "tiny", "--on", "h100", "--dp", "3", "--global-batch", "64"],
                 ["global batch 64", "dp x micro-batch"], id="train-global-batch"),
    pytest.param(["infer", "tiny", "--on", "h100", "--efficiency", "compute=2"],
                 ["efficiency", "compute"], id="efficiency-range"),
    pytest.param(["infer", "tiny", "--on", "h100", "--efficiency", "compute"],
                 ["--efficiency", "NAME=VALUE"], id="efficiency-syntax"),
    pytest.param(["infer", "tiny", "--on", "h100", "--efficiency", "compute=fast"],
                 ["--efficiency", "compute", "'fast'"], id="efficiency-number"),
    pytest.param(["infer", "tiny", "--on", "h100", "--efficiency", "speed=0.5"],
                 ["efficiency", "speed", "compute"], id="efficiency-unknown-factor"),
    pytest.param(["infer", "tiny", "--on", "h100", "--weights", "fp7"],
                 ["unknown precision 'fp7'", "bf16"], id="weights-precision"),
    pytest.param(["infer", "tiny", "--on", "h100", "--kv", "int3"],
                 ["unknown precision 'int3'"], id="kv-precision"),
    pytest.param(["train", "tiny", "--on", "h100", "--precision", "fp7"],
                 ["unknown precision 'fp7'"], id="train-precision"),
    pytest.param(["infer", "tiny", "--on", "h100", "--price", "-1"],
                 ["price"], id="negative-price"),
    pytest.param(["train", "tiny", "--on", "h100", "--sp"],
                 ["--sp", "tp > 1"], id="sp-without-tp"),
    pytest.param(["explain", "infer", "tiny", "--on", "h100", "--quantity", "tpo_s"],
                 ["unknown quantity 'tpo_s'", "'tpot_s'"], id="explain-quantity"),
    pytest.param(["explain", "train", "tiny", "--on", "h100", "--quantity", "tpot_s"],
                 ["tpot_s"], id="explain-quantity-of-other-workload"),
    pytest.param(["infer", "missing/config.json", "--on", "h100"],
                 ["missing/config.json", "no such file"], id="config-json-missing"),
    pytest.param(["infer", "tiny", "--on", "h100", "--efficiency", "compute=0.5,compute=0.6"],
                 ["--efficiency", "compute", "twice"], id="efficiency-twice"),
    pytest.param(["train", "tiny", "--on", "h100", "--precision", "fp7"],
                 ["precision: unknown precision"], id="train-precision-named"),
    pytest.param(["infer", "tiny", "--on", "h100", "--set", "kernal_overhead_s=0"],
                 ["unknown quantity 'kernal_overhead_s'", "'kernel_overhead_s'"],
                 id="set-unknown-quantity"),
    pytest.param(["infer", "tiny", "--on", "h100", "--set", "kernel_overhead_s=fast"],
                 ["--set kernel_overhead_s", "'fast'"], id="set-not-a-number"),
    pytest.param(["infer", "tiny", "--on", "h100", "--set", "kernel_overhead_s"],
                 ["--set", "NAME=VALUE"], id="set-syntax"),
    pytest.param(["infer", "tiny", "--on", "h100", "--set", "batch=2", "--set", "batch=3"],
                 ["--set", "batch", "twice"], id="set-twice"),
    pytest.param(["infer", "tiny", "--on", "h100", "--set", "capacity_factor=1.25"],
                 ["given capacity_factor is not used by this estimate"], id="set-unused"),
    pytest.param(["infer", "mixtral-8x7b", "--on", "h100", "--tp", "2",
                  "--set", "capacity_factor=0.5"],
                 ["capacity_factor must be >= 1", "0.5"], id="set-rejected-by-a-formula"),
]


def test_set_gives_a_quantity_in_human_units(run_json, registry):
    base = run_json("--registry", registry, "infer", "tiny", "--on", "h100")
    given = run_json("--registry", registry, "infer", "tiny", "--on", "h100",
                     "--set", "kernel_overhead_s=20us")
    assert given["values"]["kernel_overhead_s"] == pytest.approx(20e-6)
    assert given["values"]["tpot_s"] > base["values"]["tpot_s"]


@pytest.mark.parametrize("argv, expected", ERRORS)
def test_errors_are_one_clear_line(run, registry, argv, expected):
    code, out, err = run("--registry", registry, *argv)
    assert code == 1
    assert_one_line_error(code, out, err, *expected)


def test_registry_that_is_a_file_says_so(run, tmp_path):
    path = tmp_path / "one.toml"
    path.write_text("id = 'x'\n")
    code, out, err = run("--registry", path, "accelerators")
    assert_one_line_error(code, out, err, str(path), "is a file", "folder")


def test_show_formats_nested_numbers_in_their_parents_unit(run):
    code, out, err = run("show", "h100")
    assert code == 0, err
    assert "bf16: 989 TFLOP/s" in out


def test_registry_folder_that_does_not_exist(run, tmp_path):
    missing = tmp_path / "nowhere"
    code, out, err = run("--registry", missing, "accelerators")
    assert_one_line_error(code, out, err, str(missing), "does not exist")


def test_registry_env_folder_that_does_not_exist(run, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("RIDGELINE_REGISTRY", str(missing))
    code, out, err = run("models")
    assert_one_line_error(code, out, err, str(missing), "does not exist")


def test_junk_toml_in_registry_names_the_file(run, tmp_path):
    root = tmp_path / "junk-registry"
    (root / "models").mkdir(parents=True)
    junk = root / "models" / "junk.toml"
    junk.write_text('id = "junk" = 3\n[[[\n')
    code, out, err = run("--registry", root, "models")
    assert_one_line_error(code, out, err, str(junk), "not valid TOML", "line 1")


def test_junk_accelerator_toml_names_the_file(run, tmp_path):
    root = tmp_path / "junk-registry"
    (root / "accelerators").mkdir(parents=True)
    junk = root / "accelerators" / "x1.toml"
    junk.write_bytes(b"\xff\xfe not text")
    code, out, err = run("--registry", root, "infer", "x", "--on", "h100")
    assert_one_line_error(code, out, err, str(junk))


def test_registry_file_with_several_problems_names_file_and_fields(run, tmp_path):
    root = tmp_path / "bad-registry"
    (root / "models").mkdir(parents=True)
    bad = root / "models" / "bad.toml"
    bad.write_text(TINY_TOML.replace('id = "tiny"', 'id = "bad"')
                   .replace("vocab_size = 1000", 'vocab_size = "many"') + "colour = 1\n")
    code, out, err = run("--registry", root, "models")
    assert code == 1 and "Traceback" not in err
    first, *rest = err.splitlines()
    assert first.startswith("ridgeline: ") and str(bad) in first
    assert any("vocab_size" in line for line in rest)
    assert any("colour" in line for line in rest)


def test_registry_file_whose_id_is_not_its_stem(run, tmp_path):
    root = tmp_path / "bad-registry"
    (root / "models").mkdir(parents=True)
    (root / "models" / "other.toml").write_text(TINY_TOML)
    code, out, err = run("--registry", root, "models")
    assert_one_line_error(code, out, err, "other.toml", "'tiny'", "'other'")


def test_debug_reraises(run, registry):
    with pytest.raises(UnknownNameError):
        main(["--registry", str(registry), "--debug", "infer", "tiny", "--on", "h100x"])


def test_debug_environment_variable_reraises(registry, monkeypatch):
    monkeypatch.setenv("RIDGELINE_DEBUG", "1")
    with pytest.raises(UnknownNameError):
        main(["--registry", str(registry), "infer", "tiny", "--on", "h100x"])


def test_unexpected_exception_is_reported_as_internal_error(run, monkeypatch):
    from ridgeline import commands

    def boom(args):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(commands, "run", boom)
    code, out, err = run("models")
    line = assert_one_line_error(code, out, err, "internal error", "ZeroDivisionError",
                                 "--debug")
    assert line.startswith("ridgeline: internal error")


# --------------------------------------------------------------------------- the console script


def _console_script() -> Path:
    script = Path(sys.executable).parent / "ridgeline"
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    return script


def test_console_script_help():
    result = subprocess.run([str(_console_script()), "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ridgeline")
    assert result.stderr == ""


def test_console_script_unknown_accelerator(registry):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIDGELINE_")}
    result = subprocess.run([str(_console_script()), "--registry", str(registry), "infer",
                             "tiny", "--on", "h100x"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.rstrip("\n")]
    assert result.stderr.startswith("ridgeline: unknown accelerator 'h100x'")
    assert "'h100'" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- same outcome with --json

# Set-ups that cannot be estimated at all (the accelerator spreads a replica itself, or
# places the weights itself), each with a word its error must hold; and set-ups that can.
IMPOSSIBLE = [
    (("infer", "llama-3-70b", "--on", "cs-3", "--tp", "8"), "--tp 8"),
    (("infer", "llama-3.1-8b", "--on", "cs-3", "--pp", "2"), "--pp 2"),
    (("infer", "llama-2-70b", "--on", "groq", "--tp", "2", "--pp", "2"), "--tp 2"),
    (("infer", "mixtral-8x7b", "--on", "groq", "--offload", "host"), "--offload"),
    (("explain", "infer", "llama-3-70b", "--on", "cs-3", "--tp", "4", "--quantity", "params"),
     "--tp 4"),
]
ANSWERED = [
    ("infer", "llama-3-70b", "--on", "h100", "--tp", "2", "--batch", "1000"),  # does not fit
    ("infer", "llama-3.1-8b", "--on", "cs-3"),
    ("infer", "llama-3-70b", "--on", "sohu"),           # times need a peak Sohu does not publish
    ("train", "llama-3-70b", "--on", "h100"),           # does not fit
    ("train", "llama-3-8b", "--on", "h100", "--tp", "8"),
]


@pytest.mark.parametrize("argv, word", IMPOSSIBLE)
def test_impossible_set_up_is_an_error_with_and_without_json(run, argv, word):
    for extra in ((), ("--json",)):
        code, out, err = run(*argv, *extra)
        assert out == "", extra
        assert_one_line_error(code, out, err, "cannot be estimated", word)
        assert code == 1


@pytest.mark.parametrize("argv", ANSWERED)
def test_an_answer_exits_0_with_and_without_json(run, argv):
    code, out, err = run(*argv)
    assert (code, err) == (0, ""), err
    assert "fits: " in out
    code, out, err = run(*argv, "--json")
    assert (code, err) == (0, ""), err
    assert isinstance(json.loads(out)["values"]["fits"], bool)


# --------------------------------------------------------------------------- small faults


def test_show_reads_a_config_path_as_infer_does(run, run_json, tmp_path, monkeypatch):
    folder = tmp_path / "tiny-hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY_HF_CONFIG))
    monkeypatch.chdir(folder)
    params = run_json("infer", "./config.json", "--on", "h100")["values"]["params"]
    for name in ("./config.json", "config.json", ".", str(folder), str(folder / "config.json")):
        data = run_json("show", name)
        assert data["object"] == "model" and data["id"] == "tiny-hf", name
        assert data["params"] == params, name
    code, out, err = run("show", "./config.json")
    assert code == 0 and err == ""
    assert "num_layers: 4" in out


def test_show_a_path_that_does_not_exist(run, tmp_path):
    missing = tmp_path / "nowhere" / "config.json"
    code, out, err = run("show", missing)
    assert_one_line_error(code, out, err, str(missing), "no such file")


@pytest.mark.parametrize("argv", [
    ("models",), ("infer", "tiny", "--on", "h100"), ("train", "tiny", "--on", "h100"),
    ("explain", "infer", "tiny", "--on", "h100", "--quantity", "tpot_s"), ("show", "tiny"),
])
def test_registry_after_the_command(run, registry, argv):
    before = run("--registry", registry, *argv)
    after = run(*argv, "--registry", registry)
    assert before[0] == 0 and before[2] == ""
    assert after == before


def test_registry_before_and_after_the_command_both_count(run_json, registry, tmp_path):
    other = tmp_path / "other"
    (other / "models").mkdir(parents=True)
    (other / "models" / "tiny2.toml").write_text(TINY_TOML.replace('"tiny"', '"tiny2"'))
    ids = {m["id"] for m in run_json("--registry", registry, "models", "--registry", other)}
    assert {"tiny", "big", "tiny2"} <= ids


@pytest.mark.parametrize("argv", [
    ("infer", "tiny", "--on", "h100x", "--debug"),
    ("--debug", "infer", "tiny", "--on", "h100x"),
    ("explain", "train", "tiny", "--on", "h100x", "--quantity", "step_s", "--debug"),
])
def test_debug_after_the_command_reraises(registry, argv):
    with pytest.raises(UnknownNameError):
        main(["--registry", str(registry), *argv])


NEGATIVE_VALUES = [
    (("train", "tiny", "--on", "h100", "--tokens", "-5T"), "tokens"),
    (("train", "tiny", "--on", "h100", "--seq", "-2k"), "seq"),
    (("train", "tiny", "--on", "h100", "--global-batch", "-1e3"), "global batch"),
    (("train", "tiny", "--on", "h100", "--micro-batch", "-1"), "micro-batch"),
    (("train", "tiny", "--on", "h100", "--dp", "-4"), "dp"),
    (("infer", "tiny", "--on", "h100", "--batch", "-1e3"), "batch"),
    (("infer", "tiny", "--on", "h100", "--prompt", "-1k"), "prompt"),
    (("infer", "tiny", "--on", "h100", "--output", "-256"), "output"),
    (("infer", "tiny", "--on", "h100", "--tp", "-2"), "tp"),
    (("infer", "tiny", "--on", "h100", "--devices", "-8"), "devices"),
    (("infer", "tiny", "--on", "h100", "--price", "-2.5"), "price"),
    (("infer", "tiny", "--on", "h100", "--price", "-2 USD/h"), "price"),
    (("infer", "llama-3.1-8b", "--on", "h100", "--draft", "llama-3.2-1b", "--gamma", "-4"),
     "gamma"),
    (("infer", "llama-3.1-8b", "--on", "h100", "--draft", "llama-3.2-1b", "--accept", "-0.5"),
     "accept"),
    (("distill", "tiny", "--teacher", "tiny", "--on", "h100", "--tokens", "-9T"), "tokens"),
    (("distill", "tiny", "--teacher", "tiny", "--tokens", "1B", "--on", "h100", "--serve-tp",
      "-2"), "tp"),
]


@pytest.mark.parametrize("argv, name", NEGATIVE_VALUES)
def test_negative_values_reach_our_own_check(run, registry, argv, name):
    code, out, err = run("--registry", registry, *argv)
    line = assert_one_line_error(code, out, err, name, argv[-1])
    assert code == 1, line                       # our error, not argparse's usage error
    assert "expected one argument" not in line


def test_an_option_in_place_of_a_value_is_still_a_usage_error(run, registry):
    code, out, err = run("--registry", registry, "train", "tiny", "--on", "h100", "--tokens",
                         "--json")
    assert_one_line_error(code, out, err, "--tokens", "expected one argument")
    assert code == 2


# --------------------------------------------------------------------------- figures of a plan that does not fit

RUN_FIGURES_INFER = ("ttft_s", "tpot_s", "e2e_latency_s", "throughput_tokens_per_s",
                     "tokens_per_s_per_user", "mfu", "mbu", "cost_per_mtok_usd",
                     "energy_per_token_j")
RUN_FIGURES_TRAIN = ("step_s", "micro_batch_s", "tokens_per_s", "mfu", "hfu", "wall_clock_s",
                     "device_hours", "cost_usd", "energy_j")
MEMORY_FIGURES = ("params", "weight_bytes_per_device", "activation_bytes",
                  "memory_per_device_bytes", "usable_memory_bytes", "memory_shortfall_bytes",
                  "fits", "price_usd_per_hour", "peak_flops_per_s", "kernel_overhead_s")


def _marked(out: str, label: str) -> bool:
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    return line.rstrip().endswith(" *")


@pytest.mark.parametrize("command, model, run_figures, labels", [
    ("infer", "big", RUN_FIGURES_INFER,
     ("time to first token", "time per output token", "whole request", "throughput",
      "MFU", "MBU", "cost per million tokens", "energy per token")),
    ("train", "big", RUN_FIGURES_TRAIN,
     ("step time", "one micro-batch", "tokens per second", "MFU", "HFU", "wall clock",
      "device-hours", "cost", "energy")),
])
def test_figures_of_a_plan_that_does_not_fit_are_hypothetical(run, run_json, registry, command,
                                                              model, run_figures, labels):
    data = run_json("--registry", registry, command, model, "--on", "h100")
    assert data["values"]["fits"] is False
    hypothetical = data["hypothetical"]
    assert set(run_figures) <= set(hypothetical)
    assert not set(MEMORY_FIGURES) & set(hypothetical)
    assert set(hypothetical) <= set(data["values"])
    assert all(is_number(data["values"][q]) for q in hypothetical)   # values stay numbers
    code, out, err = run("--registry", registry, command, model, "--on", "h100")
    assert code == 0 and err == ""
    assert "figures marked * are hypothetical" in out
    for label in labels:
        assert _marked(out, label), label
    for label in ("weights", "activations", "total"):   # why it does not fit: facts
        assert not _marked(out, label), label


@pytest.mark.parametrize("command", ["infer", "train"])
def test_a_plan_that_fits_has_no_hypothetical_figures(run, run_json, registry, command):
    data = run_json("--registry", registry, command, "tiny", "--on", "h100")
    assert data["values"]["fits"] is True and data["hypothetical"] == []
    code, out, err = run("--registry", registry, command, "tiny", "--on", "h100")
    assert "hypothetical" not in out and " *\n" not in out


def test_batch_beyond_memory_marks_only_the_run(run_json):
    data = run_json("infer", "llama-3-70b", "--on", "h100", "--tp", "2", "--batch", "1000")
    assert data["values"]["fits"] is False
    assert {"cost_per_mtok_usd", "throughput_tokens_per_s", "tpot_s"} <= \
        set(data["hypothetical"])
    assert "max_batch" not in data["hypothetical"]       # the batch that would fit: a fact
    assert "kv_cache_bytes_per_device" not in data["hypothetical"]


DISTILL = ("distill", "llama-3.2-1b", "--on", "a100-40gb", "--devices", "1", "--seq", "16384",
           "--batch", "64")


def test_distill_figures_resting_on_a_part_that_does_not_fit_are_hypothetical(run, run_json):
    # the student's training does not fit on one 40 GB device; serving at a 100k prompt
    # fits neither model on one device
    data = run_json(*DISTILL, "--serve-tp", "1", "--teacher-serve-tp", "1", "--prompt", "100000")
    v, hypothetical = data["values"], set(data["hypothetical"])
    assert v["teacher_pass_fits"] and not v["student_training_fits"]
    assert not v["teacher_serving_fits"] and not v["student_serving_fits"]
    assert {"student_training_s", "student_training_cost_usd", "making_cost_usd",
            "teacher_cost_per_mtok_usd", "student_cost_per_mtok_usd", "saving_per_mtok_usd",
            "break_even_tokens"} <= hypothetical
    assert not {"teacher_pass_s", "teacher_pass_cost_usd", "distill_tokens",
                "student_params"} & hypothetical              # the teacher pass fits
    assert all(is_number(v[q]) for q in hypothetical)
    code, out, err = run(*DISTILL, "--serve-tp", "1", "--teacher-serve-tp", "1",
                         "--prompt", "100000")
    assert code == 0 and err == ""
    assert "figures marked * are hypothetical" in out.splitlines()[1]
    assert _marked(out, "student training") and _marked(out, "total")
    assert not _marked(out, "teacher targets")
    assert "USD * per million tokens" in out


def test_distill_that_fits_everywhere_has_no_hypothetical_figures(run, run_json):
    argv = ("distill", "llama-3.2-1b", "--on", "h100", "--devices", "64", "--seq", "8192",
            "--recompute", "full", "--batch", "64")
    assert run_json(*argv)["hypothetical"] == []
    code, out, err = run(*argv)
    assert code == 0 and "hypothetical" not in out and " *" not in out
