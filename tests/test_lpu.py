"""SRAM-only chips pipelined chip to chip (plugins/hardware/lpu.py): chips needed, latency and
throughput of the pipeline, and the default device count in ``infer``."""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.cli import main
from ridgeline.engine import estimate
from ridgeline.errors import ScenarioError
from ridgeline.plugin import InferenceWorkload, System
from ridgeline.scenario import Scenario
from ridgeline.testing.strategies import LLAMA_2_7B_LIKE, dense_models

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def groq():
    return ridgeline.default_catalog().accelerator("groq-lpu-v1")


def lpu_scenario(model, acc=None, devices=1, batch=1, prompt=16, output=16):
    return Scenario(model=model, system=System(acc or groq(), devices=devices),
                    workload=InferenceWorkload(batch=batch, prompt_tokens=prompt,
                                               output_tokens=output))


def small_models():
    return dense_models().filter(lambda m: m.max_seq_len >= 64)


# --------------------------------------------------------------------------- Llama-2-70B on Groq


def test_chips_needed_for_llama_2_70b_is_weights_and_kv_over_usable_sram():
    e = ridgeline.infer("llama-2-70b", on="groq", quantities=[
        "devices_needed", "weight_bytes", "kv_cache_bytes", "usable_memory_bytes", "fits"])
    in_flight = 2 * 8192 * 2            # one token's hidden state in and out, 16-bit
    assert e["devices_needed"] == math.ceil((e["weight_bytes"] + e["kv_cache_bytes"])
                                            / (e["usable_memory_bytes"] - in_flight))
    assert e.scenario.system.devices == e["devices_needed"] and e["fits"]
    # 220 MiB per chip (ISCA 2022) x 0.9 usable, 16-bit weights: 666 chips
    assert e["usable_memory_bytes"] == pytest.approx(0.9 * 220 * 2**20)
    assert e["devices_needed"] == 666


def test_the_reported_576_chips_cannot_hold_16_bit_llama_2_70b():
    # third parties report 576 chips (72 nodes of 8); at 100% of 220 MiB per chip the 16-bit
    # weights alone need more, so that deployment must hold some weights below 16 bits
    e = ridgeline.infer("llama-2-70b", on="groq", quantities=["weight_bytes"])
    assert e["weight_bytes"] / (220 * 2**20) > 576
    fp8 = ridgeline.infer("llama-2-70b", on="groq", weights="fp8", quantities=["devices_needed"])
    assert fp8["devices_needed"] < 576


def test_latency_is_the_pass_at_one_chips_rates_plus_one_hop_per_boundary():
    e = ridgeline.infer("llama-2-70b", on="groq")
    n = e.scenario.system.devices
    acc = e.scenario.system.accelerator
    link = acc.links.scale_up
    hop = 8192 * 2 / (link.bandwidth_bytes_per_s * acc.efficiency.network) + link.latency_s
    assert e["lpu_chip_hop_s"] == pytest.approx(hop, rel=1e-12)
    assert e["decode_step_s"] == pytest.approx(e["lpu_pass_compute_s"] + (n - 1) * hop,
                                               rel=1e-12)
    # the pass is memory-bound: all the weights leave one chip's SRAM bandwidth once
    weights_s = e["weight_bytes"] / (80e12 * acc.efficiency.memory)
    assert e["lpu_pass_compute_s"] == pytest.approx(weights_s, rel=0.02)


def test_a_full_pipeline_multiplies_throughput_by_the_chips():
    one = ridgeline.infer("llama-3.1-8b", on="groq", devices=200, batch=1,
                          quantities=["decode_throughput_tokens_per_s", "lpu_pipeline_occupancy"])
    full = ridgeline.infer("llama-3.1-8b", on="groq", devices=200, batch=200,
                           quantities=["decode_throughput_tokens_per_s", "lpu_pipeline_occupancy",
                                       "lpu_micro_batch"])
    assert one["lpu_pipeline_occupancy"] == pytest.approx(1 / 200)
    assert full["lpu_pipeline_occupancy"] == 1.0 and full["lpu_micro_batch"] == 1.0
    assert full["decode_throughput_tokens_per_s"] == pytest.approx(
        200 * one["decode_throughput_tokens_per_s"], rel=1e-9)


def test_infer_defaults_to_the_chips_needed_and_takes_any_count_given():
    needed = ridgeline.infer("llama-3.1-8b", on="groq", quantities=["devices_needed"])
    n = needed.scenario.system.devices
    assert n == needed["devices_needed"] > 1
    more = ridgeline.infer("llama-3.1-8b", on="groq", devices=n + 10, quantities=["fits"])
    assert more.scenario.system.devices == n + 10 and more["fits"]
    fewer = ridgeline.infer("llama-3.1-8b", on="groq", devices=n - 1, quantities=["fits"])
    assert not fewer["fits"]                         # "does not fit" is a result


def test_set_usable_memory_changes_the_chips_needed():
    e = ridgeline.infer("llama-2-70b", on="groq", quantities=["devices_needed"],
                        inputs={"usable_memory_bytes": 220 * 2**20})
    assert e.scenario.system.devices == e["devices_needed"] < 666


def test_tensor_parallel_degree_is_refused_with_what_to_do():
    with pytest.raises(ScenarioError, match=r"groq-lpu-v1 \(lpu\) spreads one model replica.*"
                                            r"instead of --tp 2"):
        ridgeline.infer("llama-3.1-8b", on="groq", tp=2, quantities=["fits"])


def test_cli_reports_the_chips_in_its_header(capsys):
    assert main(["infer", "llama-2-70b", "--on", "groq"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("llama-2-70b on 666 x groq-lpu-v1")
    assert "fits: yes" in out


def test_a_chip_without_a_chip_to_chip_link_cannot_pipeline():
    acc = attrs.evolve(groq(), links=ridgeline.plugin.Links())
    s = lpu_scenario(LLAMA_2_7B_LIKE, acc, devices=80)
    with pytest.raises(ScenarioError, match="no chip-to-chip link"):
        estimate(s, ["decode_step_s"])


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(model=small_models(), batch=st.integers(1, 64))
@example(model=LLAMA_2_7B_LIKE, batch=1)
def test_devices_needed_is_the_fewest_chips_that_fit(model, batch):
    s = lpu_scenario(model, batch=batch)
    n = int(estimate(s, ["devices_needed"])["devices_needed"])
    assert estimate(attrs.evolve(s, system=System(groq(), devices=n)), ["fits"])["fits"]
    if n > 1:
        fewer = attrs.evolve(s, system=System(groq(), devices=n - 1))
        assert not estimate(fewer, ["fits"])["fits"]


@SETTINGS
@given(model=small_models(), batch=st.integers(1, 32), extra=st.integers(0, 50))
def test_each_extra_chip_adds_one_hop(model, batch, extra):
    s = lpu_scenario(model, batch=batch)
    n = max(int(estimate(s, ["devices_needed"])["devices_needed"]), batch) + extra
    q = ["decode_step_s", "lpu_chip_hop_s"]
    at_n = estimate(attrs.evolve(s, system=System(groq(), devices=n)), q)
    at_more = estimate(attrs.evolve(s, system=System(groq(), devices=n + 1)), q)
    # batch <= chips: the micro-batch stays 1 sequence, so only the hop count changes
    assert at_more["decode_step_s"] - at_n["decode_step_s"] == pytest.approx(
        at_n["lpu_chip_hop_s"], rel=1e-6)


@SETTINGS
@given(model=small_models(), batch=st.integers(1, 64))
def test_one_chip_is_the_plain_roofline_without_kernel_launches(model, batch):
    # an LPU whose SRAM holds the whole model is a single device: its step is the generic
    # roofline sum of the same operations on the same figures (a GPU-kind twin, no launches)
    big = attrs.evolve(groq(), memory=(attrs.evolve(groq().memory[0], capacity_bytes=1e15),))
    twin = attrs.evolve(big, id="gpu-twin", kind="gpu",
                        efficiency=attrs.evolve(big.efficiency, kernel_overhead_s=0.0))
    q = ["decode_step_s"]
    lpu = estimate(lpu_scenario(model, big, batch=batch), q)["decode_step_s"]
    gpu = estimate(lpu_scenario(model, twin, batch=batch), q)["decode_step_s"]
    assert lpu == pytest.approx(gpu, rel=1e-12)


@SETTINGS
@given(model=small_models(), chips=st.integers(1, 400), b=st.integers(1, 256), k=st.integers(2, 4))
def test_throughput_never_falls_as_the_batch_grows(model, chips, b, k):
    q = ["decode_throughput_tokens_per_s"]
    base = lpu_scenario(model, devices=chips, batch=b)
    bigger = lpu_scenario(model, devices=chips, batch=b * k)
    assert estimate(bigger, q)[q[0]] >= estimate(base, q)[q[0]] * (1 - 1e-12)


@settings(max_examples=10, deadline=None)
@given(model=small_models(), chips=st.integers(1, 300))
def test_times_are_positive_and_finite(model, chips):
    times = ("prefill_s", "first_decode_step_s", "decode_step_s", "ttft_s", "tpot_s")
    e = estimate(lpu_scenario(model, devices=chips, batch=3), times)
    for q in times:
        assert math.isfinite(e[q]) and e[q] > 0, q
