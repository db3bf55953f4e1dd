"""Fine-tuning: full, LoRA and QLoRA (ridgeline.finetune and `ridgeline finetune`)."""

from __future__ import annotations

import json

import pytest

import ridgeline
from ridgeline import ScenarioError, UnknownNameError, train
from ridgeline.cli import EXIT_ERROR, main

NEW_QUANTITIES = ("trainable_params", "adapter_params", "frozen_weight_bytes",
                  "trainable_fraction", "lora_rank", "adapted_matrices_per_layer",
                  "adapter_params_per_layer", "work_per_forward", "adapter_activation_bytes",
                  "device_state_bytes")


def ft(model="llama-3.1-8b", **kw):
    kw.setdefault("on", "h100")
    kw.setdefault("tokens", "50M")
    return ridgeline.finetune(model, **kw)


def _adapter_params(hidden, heads, kv_heads, head_dim, inter, layers, rank, gated=True):
    """r x (d_in + d_out) per adapted matrix, counted from the shapes (Hu et al. 2021)."""
    q, kv = heads * head_dim, kv_heads * head_dim
    attention = (hidden + q) * 2 + (hidden + kv) * 2
    mlp = (hidden + inter) * (3 if gated else 2)
    return rank * (attention + mlp) * layers


# ------------------------------------------------------------------ full fine-tuning


def test_full_finetune_is_training_over_the_data():
    kw = dict(on="h100", devices=8, global_batch=64, seq=2048, zero=1)
    f = ft(method="full", tokens="50M", **kw)
    t = train("llama-3.1-8b", tokens="50M", **kw)
    for q in ("step_s", "wall_clock_s", "memory_per_device_bytes", "cost_usd", "mfu"):
        assert f[q] == pytest.approx(t[q], rel=1e-12), q
    assert f["trainable_params"] == t["params"]
    assert f["frozen_weight_bytes"] == 0 and f["adapter_params"] == 0


def test_epochs_times_dataset_tokens():
    e = ft(method="full", devices=8, tokens=None, epochs=3, dataset_tokens="20M")
    assert e["training_tokens"] == pytest.approx(60e6)
    once = ft(method="full", devices=8, tokens="20M")
    assert e["wall_clock_s"] == pytest.approx(3 * once["wall_clock_s"], rel=0.01)


# ------------------------------------------------------------------ LoRA


def test_lora_adapter_params_from_the_shapes():
    e = ft(rank=16, targets="all")
    # llama-3.1-8b: hidden 4096, 32 heads of 128, 8 KV heads, MLP 14336, 32 layers
    assert e["adapter_params"] == _adapter_params(4096, 32, 8, 128, 14336, 32, 16)
    a = ft(rank=8, targets="attention")
    assert a["adapter_params"] == 8 * ((4096 + 4096) * 2 + (4096 + 1024) * 2) * 32
    qv = ft(rank=8, targets=["q", "v"])
    assert qv["adapter_params"] == 8 * ((4096 + 4096) + (4096 + 1024)) * 32
    assert qv["adapted_matrices_per_layer"] == 2


def test_lora_freezes_the_base():
    lora, full = ft(rank=16), ft(method="full")
    n = lora["adapter_params"]
    assert lora["trainable_params"] == n
    assert lora["gradient_bytes_per_device"] == pytest.approx(2 * n)
    assert lora["optimizer_bytes_per_device"] == pytest.approx(12 * n)
    assert lora["frozen_weight_bytes"] == pytest.approx(2 * full["params"])
    assert lora["weight_bytes"] == pytest.approx(2 * (full["params"] + n))
    # same activations as training, plus the r-wide adapter products
    assert lora["activation_bytes"] == pytest.approx(full["activation_bytes"])
    assert lora["memory_per_device_bytes"] == pytest.approx(
        lora["weight_bytes"] + lora["gradient_bytes_per_device"]
        + lora["optimizer_bytes_per_device"] + lora["activation_bytes"]
        + lora["adapter_activation_bytes"])
    assert lora["memory_per_device_bytes"] < full["memory_per_device_bytes"] / 3
    assert lora["fits"] and not full["fits"]


def test_lora_flops_skip_the_weight_gradients():
    lora, full = ft(rank=16), ft(method="full")
    fwd, attn = full["forward_flops_per_token"], full["attention_flops_per_token_forward"]
    assert full["model_flops_per_token"] == pytest.approx(3 * fwd)
    assert lora["model_flops_per_token"] == pytest.approx(
        2 * fwd + attn + 6 * lora["adapter_params"])
    assert 2.0 < lora["work_per_forward"] < 2.2
    # same plan, one device: the LoRA step does about 2/3 of the work
    ratio = lora["step_s"] / full["step_s"]
    assert 0.6 < ratio < 0.75
    assert 0 < lora["mfu"] <= 1


def test_lora_gradient_sync_only_the_adapters():
    lora = ft(devices=8, global_batch=64)
    full = ft(devices=8, global_batch=64, method="full")
    assert lora["gradient_sync_exposed_s"] <= full["gradient_sync_exposed_s"]
    assert lora["optimizer_step_s"] < full["optimizer_step_s"] / 50


def test_rank_grows_the_adapters_linearly():
    r8, r64 = ft(rank=8), ft(rank=64)
    assert r64["adapter_params"] == 8 * r8["adapter_params"]
    assert r64["optimizer_bytes_per_device"] == pytest.approx(8 * r8["optimizer_bytes_per_device"])


def test_plain_mlp_has_no_gate():
    e = ft("gpt2", rank=4, targets="mlp", seq=1024)
    assert e["adapter_params"] == 4 * 2 * (768 + 3072) * 12


# ------------------------------------------------------------------ QLoRA


def test_qlora_stores_nf4_base():
    q, lo = ft(method="qlora"), ft(method="lora")
    bits = 4 + 8 / 64 + 32 / (64 * 256)  # Dettmers et al. 2023, section 3
    assert bits == pytest.approx(4.127, abs=1e-3)
    assert q["frozen_weight_bytes"] == pytest.approx(q["params"] * bits / 8)
    assert q["memory_per_device_bytes"] < lo["memory_per_device_bytes"]
    assert q["qlora_dequant_s"] > 0
    assert q["step_s"] > lo["step_s"]
    assert not q["optimizer_paged"]


def test_qlora_70b_fits_one_80gb_card_with_checkpointing():
    e = ft("llama-3.1-70b", method="qlora", recompute="full")
    assert e["fits"]
    assert e["frozen_weight_bytes"] < 40e9
    assert not ft("llama-3.1-70b", method="lora", recompute="full")["fits"]


def test_qlora_optimizer_pages_only_when_short():
    q = ft(method="qlora")
    state, opt = q["device_state_bytes"], q["optimizer_bytes_per_device"]
    tight = ft(method="qlora", inputs={"usable_memory_bytes": state - opt / 2})
    assert tight["optimizer_paged"]
    assert tight["fits"]
    assert tight["memory_per_device_bytes"] == pytest.approx(state - opt)
    short = ft(method="qlora", inputs={"usable_memory_bytes": state - 2 * opt})
    assert not short["optimizer_paged"] and not short["fits"]
    assert short["memory_shortfall_bytes"] == pytest.approx(2 * opt)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("kwargs, words", [
    (dict(model="mixtral-8x7b", targets="mlp"), "mixture-of-experts"),
    (dict(targets="attn"), "LoRA target"),
    (dict(targets=""), "targets"),
    (dict(targets=5), "targets"),
    (dict(model="llama-3.2-1b", rank=600), "rank 600 is larger"),
    (dict(rank=0), "rank"),
    (dict(rank=-4), "rank"),
    (dict(tokens=None, epochs=2), "dataset_tokens"),
    (dict(tokens=None, dataset_tokens="1M"), "epochs"),
    (dict(tokens=None), "tokens"),
    (dict(epochs=2, dataset_tokens="1M"), "not both"),
    (dict(tokens=None, epochs=0, dataset_tokens="1M"), "epochs"),
    (dict(tokens="-5M"), "tokens"),
    (dict(method="dora"), "method"),
    (dict(method="lora", offload="host"), "offload"),
    (dict(model="minicpm3-4b", targets="attention"), "mla"),
    (dict(model="gpt2", targets="gate", seq=1024), "no gate"),
    (dict(method="qlora", precision="int4"), "precision"),
])
def test_bad_input_is_named(kwargs, words):
    model = kwargs.pop("model", "llama-3.1-8b")
    with pytest.raises((ScenarioError, UnknownNameError)) as err:
        ft(model, **kwargs)
    assert words in str(err.value)


# ------------------------------------------------------------------ CLI


def _cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_report_and_json(capsys):
    code, out, err = _cli(capsys, "finetune", "llama-3.1-8b", "--on", "h100", "--tokens",
                          "50M", "--method", "qlora", "--rank", "8", "--targets", "attention")
    assert code == 0, err
    assert "fine-tuning: qlora, rank 8 on q, k, v, o" in out
    code, out, err = _cli(capsys, "finetune", "llama-3.1-8b", "--on", "h100", "--epochs", "2",
                          "--dataset-tokens", "10M", "--method", "lora", "--json")
    assert code == 0, err
    values = json.loads(out)["values"]
    for q in NEW_QUANTITIES:
        assert q in values, q
    assert values["training_tokens"] == pytest.approx(20e6)


@pytest.mark.parametrize("quantity", NEW_QUANTITIES + ("qlora_dequant_s", "optimizer_paged"))
def test_cli_explains_every_new_quantity(capsys, quantity):
    code, out, err = _cli(capsys, "explain", "finetune", "llama-3.1-8b", "--on", "h100",
                          "--tokens", "5M", "--method", "qlora", "--quantity", quantity)
    assert code == 0, err
    assert out.startswith(quantity + " = ")
    assert "ridgeline.plugins.workloads.finetune" in out


@pytest.mark.parametrize("argv, words", [
    (("mixtral-8x7b", "--targets", "mlp"), "mixture-of-experts"),
    (("llama-3.1-8b", "--rank", "0"), "rank"),
    (("llama-3.1-8b", "--rank", "9000"), "larger than the smallest dimension"),
    (("llama-3.1-8b", "--targets", "mlpp"), "unknown LoRA target"),
])
def test_cli_errors_are_one_line(capsys, argv, words):
    code, out, err = _cli(capsys, "finetune", *argv, "--on", "h100", "--tokens", "1M")
    assert code == EXIT_ERROR
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_epochs_without_dataset(capsys):
    code, out, err = _cli(capsys, "finetune", "llama-3.1-8b", "--on", "h100", "--epochs", "3")
    assert code == EXIT_ERROR and "dataset_tokens" in err


# ------------------------------------------------------------------ validation


def test_published_finetune_cases_all_run():
    from ridgeline.validate import run_validation
    result = run_validation("finetune-public")
    assert result["cannot_express"] == []
    cases = {c["name"]: c for c in result["cases"]}
    assert len(cases) >= 9
    # adapter sizes are arithmetic on the shapes: exact up to the paper's rounding
    for name in ("lora-paper-gpt3-175b-trainable-r8-qv", "lora-paper-gpt3-175b-trainable-r1-qv"):
        assert abs(cases[name]["error"]) < 0.01, name
    # the QLoRA paper's 65B fine-tune fits one 48 GB card ("under 48 GB")
    assert cases["qlora-paper-llama-65b-one-48gb-gpu"]["error"] < 0
    # and 16-bit full fine-tuning needs "more than 780 GB"
    assert cases["qlora-paper-llama-65b-full-16bit"]["error"] > 0


JUNK = (None, -1, 0, 1.5, 3, "x", "", [], {}, float("nan"), float("inf"), True, "1e99", ("q",))
KEYS = ("devices", "tp", "pp", "dp", "micro_batch", "global_batch", "seq", "tokens", "epochs",
        "dataset_tokens", "method", "rank", "targets", "precision", "zero", "recompute",
        "offload", "price", "efficiency", "context_limit", "inputs", "quantities")


@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
@pytest.mark.parametrize("key", KEYS)
def test_junk_gives_a_ridgeline_error_or_physical_values(method, key):
    import math
    base = dict(on="h100", tokens="1M", method=method, global_batch=8, seq=512)
    for junk in JUNK:
        kwargs = {**base, key: junk}
        if key in ("epochs", "dataset_tokens"):
            kwargs.pop("tokens")
        try:
            e = ridgeline.finetune("llama-3.2-1b", **kwargs)
        except ridgeline.RidgelineError:
            continue
        for name, value in e.values.items():
            if e.unit(name) in ("table", "object") or isinstance(value, (bool, str)):
                continue
            assert math.isfinite(value) and value >= 0, (key, junk, name, value)


def test_a_validation_case_whose_arguments_do_not_parse_cannot_be_expressed(tmp_path):
    from ridgeline.validate import run_validation
    path = tmp_path / "cases.toml"
    path.write_text('[[case]]\nid = "bad"\nsection = "finetune"\n'
                    'args = ["finetune", "llama-3.1-8b", "--on", "h100", "--no-such-flag"]\n'
                    'metric = "trainable_params"\nexpected = 1.0\n')
    result = run_validation(path)
    text = json.dumps(result)
    assert "unrecognized arguments: --no-such-flag" in text
