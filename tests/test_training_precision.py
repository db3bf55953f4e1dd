"""Training runs in a floating-point format, and says when the device lacks a peak for it."""

from __future__ import annotations

import json

import attrs
import pytest

import ridgeline
from ridgeline.catalog import default_catalog
from ridgeline.cli import main
from ridgeline.errors import ScenarioError
from ridgeline.precision import PRECISIONS, TRAINING_PRECISIONS

CATALOG = default_catalog()


@pytest.mark.parametrize("precision", [p for p in PRECISIONS if p not in TRAINING_PRECISIONS])
def test_integer_and_sub_byte_training_precisions_are_refused_naming_the_argument(precision):
    with pytest.raises(ScenarioError, match=rf"precision: cannot train in {precision}; "
                                            r"expected one of bf16, fp16, fp32, tf32, fp8"):
        ridgeline.train("llama-2-7b", on="h100", precision=precision, catalog=CATALOG)


@pytest.mark.parametrize("precision", TRAINING_PRECISIONS)
def test_floating_training_precisions_train(precision):
    e = ridgeline.train("llama-2-7b", on="h100", precision=precision, catalog=CATALOG,
                        quantities=["step_s"])
    assert e.scenario.model.weights_dtype == e.scenario.model.activations_dtype == precision
    assert e["step_s"] > 0


@pytest.mark.parametrize("bad", [["fp8"], 8, 3.5, "FP8 "])
def test_a_precision_of_the_wrong_type_or_spelling_is_a_clear_error(bad):
    with pytest.raises(ScenarioError, match="precision: unknown precision"):
        ridgeline.train("llama-2-7b", on="h100", precision=bad, catalog=CATALOG)


def test_a_quantised_model_cannot_be_trained_as_it_is_stored():
    quantised = attrs.evolve(CATALOG.model("llama-2-7b"), weights_dtype="int4")
    with pytest.raises(ScenarioError, match="model 'llama-2-7b' weights .*cannot train in int4"):
        ridgeline.train(quantised, on="h100", catalog=CATALOG)
    # stating the training precision replaces the stored one
    assert ridgeline.train(quantised, on="h100", precision="bf16", catalog=CATALOG,
                           quantities=["step_s"])["step_s"] > 0


def test_fp8_training_keeps_fp32_master_weights_and_adam_state():
    kwargs = dict(on="h100", tp=2, dp=4, zero=1, global_batch=8, catalog=CATALOG,
                  quantities=["optimizer_bytes_per_device", "params"])
    fp8, bf16 = (ridgeline.train("llama-2-7b", precision=p, **kwargs) for p in ("fp8", "bf16"))
    # master weights, momentum and variance in fp32: 12 bytes a parameter, sharded tp x dp
    assert fp8["optimizer_bytes_per_device"] == bf16["optimizer_bytes_per_device"] == \
        pytest.approx(12.0 * fp8["params"] / (2 * 4), rel=1e-12)


def _train_cli(capsys, *argv):
    code = main(["train", "llama-2-7b", "--global-batch", "8", *argv])
    return code, capsys.readouterr()


def test_fp8_training_on_a_device_without_fp8_says_it_falls_back(capsys):
    code, out = _train_cli(capsys, "--on", "a100", "--precision", "fp8")
    assert code == 0
    assert "note: nvidia-a100-sxm4-80gb has no fp8 peak; arithmetic uses the next precision " \
           "it has (312 TFLOP/s)" in out.out
    code, out = _train_cli(capsys, "--on", "h100", "--precision", "fp8")
    assert code == 0 and "note:" not in out.out
    code, out = _train_cli(capsys, "--on", "a100", "--precision", "fp8", "--json")
    assert json.loads(out.out)["values"]["compute_dtype_fallback"] == 1.0


def test_int4_training_on_the_command_line_is_one_clear_line(capsys):
    code, out = _train_cli(capsys, "--on", "h100", "--precision", "int4")
    assert code != 0
    assert out.err.strip() == "ridgeline: precision: cannot train in int4; expected one of " \
                              "bf16, fp16, fp32, tf32, fp8 (integer and sub-byte formats " \
                              "quantise weights for serving)"
