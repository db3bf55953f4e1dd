"""Fixed-function ASICs (plugins/hardware/asic.py): the architectures they run, what their
vendors leave out, and very large batches."""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.cli import main
from ridgeline.engine import estimate
from ridgeline.errors import ScenarioError
from ridgeline.plugin import InferenceWorkload, Model, System
from ridgeline.scenario import Scenario
from ridgeline.testing.strategies import dense_models

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TIMES = ("prefill_s", "decode_step_s", "ttft_s", "tpot_s", "throughput_tokens_per_s")

# A recurrent (state-space) model: a family no transformer ASIC runs.
RECURRENT = Model(id="recurrent-test", family="recurrent", vocab_size=1000, hidden_size=256,
                  num_layers=4, num_heads=4, intermediate_size=512)

ONLY_MOE_TOML = """\
id = "moe-only-x1"
name = "MoE-only X1"
vendor = "Test"
kind = "asic"
runs_families = ["moe"]
sources = ["made up for tests"]

[peak_flops_per_s]
bf16 = "500 TFLOP/s"

[[memory]]
name = "hbm"
capacity_bytes = "96 GB"
bandwidth_bytes_per_s = "4 TB/s"
"""


def sohu():
    return ridgeline.default_catalog().accelerator("etched-sohu")


# --------------------------------------------------------------------------- architectures


def test_python_says_which_architectures_the_chip_runs():
    for call in (ridgeline.infer, ridgeline.train):
        with pytest.raises(ScenarioError, match=r"^etched-sohu does not run the 'recurrent' "
                                                r"architecture \(it runs: dense, moe\)$"):
            call(RECURRENT, on="sohu")


def test_cli_says_which_architectures_the_chip_runs(tmp_path, capsys):
    (tmp_path / "accelerators").mkdir()
    (tmp_path / "accelerators" / "moe-only-x1.toml").write_text(ONLY_MOE_TOML)
    for command in ("infer", "train"):
        code = main(["--registry", str(tmp_path), command, "llama-3.1-8b", "--on", "moe-only-x1"])
        out, err = capsys.readouterr()
        assert code == 1 and out == ""
        assert err == ("ridgeline: moe-only-x1 does not run the 'dense' architecture "
                       "(it runs: moe)\n")


def test_families_it_runs_and_their_descendants_are_estimated():
    assert ridgeline.infer("llama-3.1-8b", on="sohu", quantities=["fits"])["fits"]
    assert ridgeline.infer("deepseek-v2-lite", on="sohu", quantities=["fits"])["fits"]  # moe
    # distilled extends dense: the chip runs it
    assert ridgeline.infer("llama-3.2-1b", on="sohu", quantities=["fits"])["fits"]


# --------------------------------------------------------------------------- missing figures


def test_without_published_figures_memory_is_estimated_and_times_say_what_is_missing():
    e = ridgeline.infer("llama-3.1-70b", on="sohu", tp=8)
    assert e["fits"] and e["max_batch"] > 1000
    for q in TIMES:
        assert q not in e
        assert "etched-sohu publishes no" in e.skipped[q]
        assert "--set peak_flops_per_s=..." in e.skipped[q] or \
            "--set peak_memory_bandwidth_bytes_per_s=..." in e.skipped[q]


def test_each_missing_figure_is_named_once_the_other_is_given():
    e = ridgeline.infer("llama-3.1-8b", on="sohu", inputs={"peak_flops_per_s": 1e15})
    assert "etched-sohu publishes no bandwidth for its hbm memory" in e.skipped["tpot_s"]
    assert "--set peak_memory_bandwidth_bytes_per_s=..." in e.skipped["tpot_s"]
    e = ridgeline.infer("llama-3.1-8b", on="sohu", inputs={"peak_memory_bandwidth_bytes_per_s":
                                                           4.8e12})
    assert "etched-sohu publishes no dense peak FLOP/s" in e.skipped["tpot_s"]


def test_cli_worked_example_with_assumed_figures(capsys):
    code = main(["infer", "llama-3.1-70b", "--on", "sohu", "--tp", "8", "--batch", "max",
                 "--set", "peak_flops_per_s=1PFLOP/s",
                 "--set", "peak_memory_bandwidth_bytes_per_s=4.8TB/s"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "fits: yes" in out and "n/a (etched-sohu publishes no" not in out


def test_cli_without_figures_prints_the_memory_and_the_hint(capsys):
    assert main(["infer", "llama-3.1-8b", "--on", "sohu"]) == 0
    out = capsys.readouterr().out
    assert "fits: yes" in out
    assert "give an assumed figure with --set peak_flops_per_s=..." in out


@SETTINGS
@given(model=dense_models().filter(lambda m: m.max_seq_len >= 64),
       peak=st.floats(1e14, 1e16), bandwidth=st.floats(1e12, 2e13), batch=st.integers(1, 512))
def test_given_figures_give_what_an_asic_publishing_them_gives(model, peak, bandwidth, batch):
    # the asic plugin changes only what is said when figures are missing: with them given,
    # an ASIC is priced by the generic roofline, like a device that publishes them
    published = attrs.evolve(sohu(), id="sohu-published",
                             peak_flops_per_s={"bf16": peak},
                             memory=(attrs.evolve(sohu().memory[0],
                                                  bandwidth_bytes_per_s=bandwidth),))
    s = Scenario(model=model, system=System(sohu()),
                 workload=InferenceWorkload(batch=batch, prompt_tokens=16, output_tokens=16))
    peaks = estimate(attrs.evolve(s, system=System(published)), ["peak_flops_per_s"])
    given_inputs = {"peak_flops_per_s": peaks["peak_flops_per_s"],
                    "peak_memory_bandwidth_bytes_per_s": bandwidth}
    with_given = estimate(s, ["tpot_s", "ttft_s"], inputs=given_inputs)
    with_published = estimate(attrs.evolve(s, system=System(published)), ["tpot_s", "ttft_s"])
    for q in ("tpot_s", "ttft_s"):
        assert with_given[q] == pytest.approx(with_published[q], rel=1e-12)


@SETTINGS
@given(model=dense_models().filter(lambda m: m.max_seq_len >= 64), batch=st.integers(1, 64))
def test_an_asic_that_publishes_its_peaks_is_priced_like_a_gpu(model, batch):
    sn40l = ridgeline.default_catalog().accelerator("sambanova-sn40l")
    gpu = attrs.evolve(sn40l, id="sn40l-as-gpu", kind="gpu")
    s = Scenario(model=model, system=System(sn40l),
                 workload=InferenceWorkload(batch=batch, prompt_tokens=16, output_tokens=16))
    q = ["tpot_s", "ttft_s", "max_batch"]
    a, g = estimate(s, q), estimate(attrs.evolve(s, system=System(gpu)), q)
    for name in q:
        assert a[name] == pytest.approx(g[name], rel=1e-12)


# --------------------------------------------------------------------------- very large batches


GIVEN = {"peak_flops_per_s": 1e15, "peak_memory_bandwidth_bytes_per_s": 4.8e12}


def test_batch_max_is_the_largest_that_fits():
    e = ridgeline.infer("llama-3.1-8b", on="sohu", batch="max", inputs=GIVEN)
    b = e.scenario.workload.batch
    assert b == e["max_batch"] > 500 and e["fits"]
    over = ridgeline.infer("llama-3.1-8b", on="sohu", batch=b + 1, inputs=GIVEN,
                           quantities=["fits"])
    assert not over["fits"]


@pytest.mark.parametrize("batch", [2500, 100_000, 10**7])
def test_very_large_batches_are_results_not_crashes(batch):
    e = ridgeline.infer("llama-3.1-8b", on="sohu", batch=batch, inputs=GIVEN)
    assert e["fits"] is False or batch <= e["max_batch"]
    for q in TIMES + ("memory_shortfall_bytes", "kv_cache_bytes_per_device"):
        assert math.isfinite(e[q]) and e[q] > 0, q


def test_throughput_saturates_once_decode_is_compute_bound():
    # essay 003's point about very large batches: the weight read is amortised until the
    # arithmetic (and the KV cache) catch up; throughput never falls while the batch fits
    q = ["decode_throughput_tokens_per_s", "fits"]
    rates = [ridgeline.infer("llama-3.1-8b", on="sohu", batch=b, inputs=GIVEN, quantities=q)
             for b in (1, 16, 128, 512)]
    values = [r["decode_throughput_tokens_per_s"] for r in rates]
    assert all(r["fits"] for r in rates)
    assert values == sorted(values)
    assert values[1] > 10 * values[0]


@pytest.mark.parametrize("model", ["mamba-2.8b", "jamba-v0.1"])
def test_a_family_with_new_layers_is_not_run_by_its_parents_hardware(model):
    # Mamba extends dense (embedding, head, norms) but its scan is no transformer layer
    family = ridgeline.default_catalog().model(model).family
    with pytest.raises(ScenarioError, match=rf"does not run the '{family}' architecture"):
        ridgeline.infer(model, on="sohu")
