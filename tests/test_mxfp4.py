"""MXFP4 weights: 4.25 bits each, native on FP4 matrix units, dequantised elsewhere."""

from __future__ import annotations

import pytest

import ridgeline
from ridgeline.catalog import default_catalog
from ridgeline.cli import main
from ridgeline.errors import ScenarioError
from ridgeline.plugin import arithmetic_precision, bytes_per_element

CATALOG = default_catalog()


def test_mxfp4_is_four_bits_and_a_shared_byte_per_32():
    # OCP MX v1.0: 32 E2M1 elements share one E8M0 scale
    assert bytes_per_element("mxfp4") * 8 == 4.25


def test_weights_take_4_25_bits_each():
    e = ridgeline.infer("llama-3-70b", on="h100", tp=2, weights="mxfp4")
    assert e["weight_bytes"] == pytest.approx(e["params"] * 4.25 / 8)


def test_dequantised_where_there_is_no_fp4_peak():
    h100 = CATALOG.accelerators["nvidia-h100-sxm"]
    assert "fp4" not in h100.peak_flops_per_s
    assert arithmetic_precision("mxfp4", "bf16", h100.peak_flops_per_s) == "bf16"
    e = ridgeline.infer("llama-3-70b", on="h100", tp=2, weights="mxfp4")
    assert e["weight_dequant_s_per_byte"] > 0
    assert e["peak_flops_per_s"] == h100.peak_flops_per_s["bf16"]
    # decode streams fewer bytes than bf16 weights but pays the conversion
    bf16 = ridgeline.infer("llama-3-70b", on="h100", tp=2)
    assert e["tpot_s"] < bf16["tpot_s"]


def test_native_on_fp4_matrix_units():
    b200 = CATALOG.accelerators["nvidia-b200-hgx"]
    assert "fp4" in b200.peak_flops_per_s
    e = ridgeline.infer("llama-3-70b", on="b200", tp=2, weights="mxfp4", batch=64)
    assert e["weight_dequant_s_per_byte"] == 0
    assert e["peak_flops_per_s"] == b200.peak_flops_per_s["fp4"]
    assert e["compute_dtype_fallback"] == 0
    bf16 = ridgeline.infer("llama-3-70b", on="b200", tp=2, batch=64)
    assert e["prefill_s"] < bf16["prefill_s"]


def test_serve_with_mxfp4_weights_holds_more_kv():
    a = ridgeline.serve("llama-3-70b", on="h100", tp=2, weights="mxfp4")
    b = ridgeline.serve("llama-3-70b", on="h100", tp=2)
    assert a["kv_cache_capacity_tokens"] > b["kv_cache_capacity_tokens"]


def test_cli_weights_mxfp4(capsys):
    assert main(["infer", "llama-3-8b", "--on", "h100", "--weights", "mxfp4"]) == 0
    assert "weights mxfp4" in capsys.readouterr().out
    assert main(["serve", "llama-3-8b", "--on", "b200", "--weights", "mxfp4"]) == 0
    assert "weights mxfp4" in capsys.readouterr().out


def test_training_in_mxfp4_is_refused_by_name():
    with pytest.raises(ScenarioError, match="cannot train in mxfp4"):
        ridgeline.train("llama-3-8b", on="h100", precision="mxfp4")


def test_unknown_precision_lists_mxfp4():
    with pytest.raises(ScenarioError, match="weights: unknown precision 'mxfp5'.*mxfp4"):
        ridgeline.infer("llama-3-8b", on="h100", weights="mxfp5")
