"""Offload: weights streamed from host memory or NVMe layer by layer, and ZeRO-Infinity-style
training with optimizer state and gradients off the device (plugins/parallel/offload.py).

Essay 002's worked example is reproduced twice: with the pipeline functions themselves, and
through the engine with the essay's own assumptions given as quantities.
"""

from __future__ import annotations

import json
import math

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.api import infer_scenario
from ridgeline.cli import main
from ridgeline.engine import estimate, sweep
from ridgeline.errors import ScenarioError
from ridgeline.plugin import InferenceWorkload, Model, Plan, System
from ridgeline.plugins.parallel.offload import (prefetch_layers, streamed_pass_s,
                                                unpipelined_pass_s)
from ridgeline.scenario import Scenario
from ridgeline.testing.strategies import H100_LIKE, LLAMA_2_7B_LIKE, accelerators, scenarios

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INFERENCE_TIMES = ("prefill_s", "first_decode_step_s", "decode_step_s", "ttft_s", "tpot_s")


def offloaded(s: Scenario, tier: str = "host") -> Scenario:
    return attrs.evolve(s, plan=attrs.evolve(s.plan, offload=tier))


# --------------------------------------------------------------------------- essay 002

# "Say each layer takes 10ms to process. The NN has 100 layers. It takes 40ms to round-trip
# weight data from the host [...] You can fit 5 layers worth of weights on a gpu": loading is
# pure latency (no bandwidth limit), the five slots are all prefetch buffers.
ESSAY = dict(compute_s=100 * 0.010, layers=100, latency_s=0.040, transfer_s=0.0, room=5)


def test_essay_002_pipelined_is_1_04_s_and_unpipelined_1_8_s():
    e = ESSAY
    buffers = prefetch_layers(e["compute_s"] / e["layers"], e["latency_s"])
    assert buffers == 5  # one computing, 40 ms / 10 ms = 4 in flight: the essay's room for 5
    pipelined = streamed_pass_s(e["compute_s"], e["layers"], e["layers"], e["transfer_s"],
                                e["latency_s"], e["room"])
    unpipelined = unpipelined_pass_s(e["compute_s"], e["layers"], e["transfer_s"],
                                     e["latency_s"], e["room"])
    assert pipelined == pytest.approx(1.04, rel=1e-12)   # 40 ms fill + 100 x 10 ms
    assert unpipelined == pytest.approx(1.8, rel=1e-12)  # 20 x (40 ms + 5 x 10 ms)


def _essay_model():
    return Model(id="essay-100", family="dense", vocab_size=1000, hidden_size=1024,
                 num_layers=100, num_heads=8, intermediate_size=4096)


def test_essay_002_through_the_engine():
    s = Scenario(_essay_model(), System(H100_LIKE), Plan(offload="host"), InferenceWorkload())
    layer = estimate(s, ["weight_bytes_per_layer_per_device"])["weight_bytes_per_layer_per_device"]
    given_ = {"decode_compute_s": 1.0, "first_decode_compute_s": 1.0, "decode_tp_comm_s": 0.0,
              "step_overhead_s": 0.0, "offload_fetch_latency_s": 0.040,
              "offload_layer_transfer_s": 0.0, "offload_room_bytes_per_device": 5 * layer}
    e = estimate(s, ["decode_step_s", "decode_step_without_prefetch_s", "offload_buffer_layers",
                     "offload_resident_layers", "offload_link_bound"], inputs=given_)
    assert e["offload_buffer_layers"] == 5 and e["offload_resident_layers"] == 0
    assert e["decode_step_s"] == pytest.approx(1.04, rel=1e-12)
    assert e["decode_step_without_prefetch_s"] == pytest.approx(1.8, rel=1e-12)
    assert e["offload_link_bound"] == 0  # the loads keep up: compute sets the pace

    # a slower round trip (60 ms) with the same room: the five buffers cannot keep up. Layer 6
    # waits for layer 1's buffer (free at 70 ms, refilled at 130 ms), and so on: 20 waves of a
    # 60 ms load and one 10 ms compute, then the last wave's other four layers
    slow = estimate(s, ["decode_step_s", "offload_link_bound", "offload_buffer_layers"],
                    inputs={**given_, "offload_fetch_latency_s": 0.060})
    assert slow["offload_buffer_layers"] == 5 and slow["offload_link_bound"] == 1
    assert slow["decode_step_s"] == pytest.approx(20 * 0.060 + 24 * 0.010, rel=1e-12)


def test_a_bandwidth_bound_stream_takes_bytes_over_bandwidth():
    # 80 layers of 1.7 GB over 27 GB/s, 1.7 ms of compute each, 72 streamed: the link sets
    # the pace, one transfer after another, then the last layer's compute
    t = streamed_pass_s(80 * 1.7e-3, 80, 72, 1.7e9 / 27e9, 5e-6, 2)
    assert t == pytest.approx(5e-6 + 72 * 1.7e9 / 27e9 + 1.7e-3, rel=1e-12)


def simulate(per_layer_s, order, transfer_s, latency_s, buffers):
    """An event-by-event schedule: layers compute in ``order`` (True: streamed); a streamed
    layer's fetch starts once a buffer is free (its layer ``buffers`` streamed layers earlier
    has computed) and, after the latency, once the link is free; it computes once it has
    arrived and the previous layer is done."""
    compute_free = link_free = 0.0
    done = []
    for streamed in order:
        if not streamed:
            compute_free += per_layer_s
            continue
        buffer_free = done[-buffers] if len(done) >= buffers else 0.0
        arrived = max(buffer_free + latency_s, link_free) + transfer_s
        link_free = arrived
        compute_free = max(arrived, compute_free) + per_layer_s
        done.append(compute_free)
    return compute_free


@SETTINGS
@given(compute=st.floats(1e-3, 1.0), layers=st.integers(1, 60), data=st.data(),
       transfer=st.sampled_from([0.0, 1e-3, 0.02]) | st.floats(0.0, 0.1),
       latency=st.floats(0.0, 0.2), buffers=st.integers(1, 6))
def test_the_pass_is_a_bound_on_real_schedules(compute, layers, data, transfer, latency,
                                               buffers):
    streamed = data.draw(st.integers(1, layers))
    t = streamed_pass_s(compute, layers, streamed, transfer, latency, buffers)
    resident_first = [False] * (layers - streamed) + [True] * streamed
    streamed_first = resident_first[::-1]
    best = min(simulate(compute / layers, o, transfer, latency, buffers)
               for o in (resident_first, streamed_first))
    # like a roofline it is a bound: no schedule beats it ...
    assert t <= best * (1 + 1e-9)
    # ... and it is exact when only latency and buffers limit the stream (essay 002's setting)
    if transfer == 0 and streamed == layers:
        assert t == pytest.approx(best, rel=1e-9)


# --------------------------------------------------------------------------- the engine


def _infer(model="llama-3-70b", **kw):
    return ridgeline.infer(model, **kw)


def test_llama_3_70b_on_one_rtx_4090_streams_and_is_link_bound():
    plain = _infer(on="rtx-4090")
    e = _infer(on="rtx-4090", offload="host")
    assert not plain["fits"] and e["fits"]
    assert e["memory_per_device_bytes"] <= e["usable_memory_bytes"]
    assert e["offload_link_bound"] == 1
    # the non-resident layers cross PCIe every step: the step is about their bytes / the link
    per_step = e["offload_streamed_bytes_per_step_per_device"]
    assert per_step == pytest.approx(e["offload_streamed_layers"]
                                     * e["weight_bytes_per_layer_per_device"])
    assert e["decode_step_s"] >= per_step / e["offload_bandwidth_bytes_per_s"]
    assert e["decode_step_s"] == pytest.approx(per_step / e["offload_bandwidth_bytes_per_s"],
                                               rel=0.05)
    link = e.scenario.system.accelerator.links.host
    assert e["offload_bandwidth_bytes_per_s"] == pytest.approx(
        link.bandwidth_bytes_per_s * e.scenario.system.eff.host_link)
    assert e["decode_step_without_prefetch_s"] > e["decode_step_s"]


def test_a_long_prefill_hides_the_stream_and_the_flag_says_so():
    e = _infer(on="rtx-4090", offload="host", batch=4, prompt=2048, output=16)
    assert e["prefill_offload_link_bound"] == 0 and e["offload_link_bound"] == 1


def test_nothing_is_streamed_when_the_model_fits():
    plain = _infer("llama-3-8b", on="h100")
    e = _infer("llama-3-8b", on="h100", offload="host")
    assert e["offload_streamed_layers"] == 0 and e["offload_buffer_layers"] == 0
    for q in INFERENCE_TIMES + ("memory_per_device_bytes", "weight_bytes_per_device"):
        assert e[q] == pytest.approx(plain[q], rel=1e-12), q


def test_nvme_is_never_faster_than_host_memory_and_its_rate_can_be_given():
    host = _infer(on="rtx-4090", offload="host")
    nvme = _infer(on="rtx-4090", offload="nvme")
    assert nvme["offload_bandwidth_bytes_per_s"] == pytest.approx(7e9)  # one Gen4 x4 SSD
    assert nvme["decode_step_s"] > host["decode_step_s"]
    fast = _infer(on="rtx-4090", offload="nvme",
                  inputs={"nvme_read_bandwidth_bytes_per_s": 1e12})
    # a drive faster than PCIe: the host link is the limit again
    assert fast["offload_bandwidth_bytes_per_s"] == pytest.approx(
        host["offload_bandwidth_bytes_per_s"])


def test_max_batch_with_streaming_leaves_only_two_layer_buffers():
    e = _infer(on="rtx-4090", offload="host", batch="max")
    least = e["non_layer_weight_bytes_per_device"] + 2 * e["weight_bytes_per_layer_per_device"]
    per_seq = (e["kv_cache_bytes_per_token_per_device"] * e["context_tokens"]
               + e["prefill_activation_bytes_per_sequence"])
    assert e["max_batch"] == math.floor((e["usable_memory_bytes"] - least) / per_seq)
    assert e.scenario.workload.batch == e["max_batch"] and e["fits"]


def test_a_sweep_equals_single_estimates():
    s = infer_scenario("llama-3-70b", on="rtx-4090", offload="host")
    batches = [1.0, 4.0, 16.0]
    swept = sweep(s, {"batch": batches}, ["decode_step_s", "offload_resident_layers", "fits"])
    for i, b in enumerate(batches):
        one = estimate(s, ["decode_step_s", "offload_resident_layers", "fits"],
                       inputs={"batch": b})
        assert swept["decode_step_s"][i] == pytest.approx(one["decode_step_s"], rel=1e-12)
        assert swept["offload_resident_layers"][i] == one["offload_resident_layers"]
        assert bool(swept["fits"][i]) == bool(one["fits"])


def _with_host_link(s: Scenario) -> bool:
    return s.system.accelerator.links.host is not None


#: GPUs with a host link: the devices weights are streamed to (other kinds place weights
#: their own way: SRAM chips and wafers refuse --offload).
GPUS_WITH_HOST_LINK = accelerators(kinds=("gpu",)).filter(lambda a: a.links.host is not None)


def _replica(s: Scenario) -> Scenario:
    """One model replica (tp x pp devices), nothing offloaded."""
    return attrs.evolve(s, plan=Plan(tp=s.plan.tp, pp=s.plan.pp),
                        system=attrs.evolve(s.system, devices=s.plan.tp * s.plan.pp))


def _estimable(s: Scenario, quantities) :
    """The estimate, or a skipped example when the scenario itself cannot be priced (a
    generated device without the links its plan needs)."""
    try:
        return estimate(s, quantities)
    except ScenarioError:
        assume(False)


@SETTINGS
@given(data=st.data(), tier=st.sampled_from(("host", "nvme")))
def test_streaming_is_never_faster_than_holding_the_weights_resident(data, tier):
    s = _replica(data.draw(st.just(Scenario(LLAMA_2_7B_LIKE, System(H100_LIKE), workload=(
        InferenceWorkload(batch=64, prompt_tokens=4096)))) | scenarios(
        accelerator=data.draw(GPUS_WITH_HOST_LINK), workload_kinds=("inference",))))
    resident = _estimable(s, INFERENCE_TIMES + ("memory_per_device_bytes",))
    streamed = estimate(offloaded(s, tier), INFERENCE_TIMES + (
        "memory_per_device_bytes", "offload_streamed_layers", "offload_layers"))
    for q in INFERENCE_TIMES:
        assert streamed[q] >= resident[q] * (1 - 1e-12), q
    # ... and never holds more weights than keeping them all
    assert streamed["memory_per_device_bytes"] <= resident["memory_per_device_bytes"] * (1 + 1e-12)
    assert 0 <= streamed["offload_streamed_layers"] <= streamed["offload_layers"]


@SETTINGS
@given(data=st.data(), k=st.floats(1.0, 16.0))
def test_a_faster_host_link_is_never_slower(data, k):
    s = offloaded(_replica(data.draw(scenarios(accelerator=data.draw(GPUS_WITH_HOST_LINK),
                                               workload_kinds=("inference",)))))
    acc = s.system.accelerator
    host = acc.links.host
    faster = attrs.evolve(s, system=attrs.evolve(s.system, accelerator=attrs.evolve(
        acc, links=attrs.evolve(acc.links, host=attrs.evolve(
            host, bandwidth_bytes_per_s=host.bandwidth_bytes_per_s * k)))))
    slow = _estimable(s, ["decode_step_s", "prefill_s"])
    fast = estimate(faster, ["decode_step_s", "prefill_s"])
    for q in ("decode_step_s", "prefill_s"):
        assert fast[q] <= slow[q] * (1 + 1e-12), q


def test_offload_needs_a_host_link():
    no_host = attrs.evolve(H100_LIKE, links=attrs.evolve(H100_LIKE.links, host=None))
    with pytest.raises(ScenarioError, match="no host link"):
        _infer("llama-3-8b", on=no_host, offload="host")
    with pytest.raises(ScenarioError, match="no host link"):
        ridgeline.train("llama-3-8b", on=no_host, offload="nvme")
    with pytest.raises(ScenarioError, match="offload must be none, host or nvme"):
        _infer("llama-3-8b", on="h100", offload="disk")


# --------------------------------------------------------------------------- training


def _train(**kw):
    base = dict(on="h100", global_batch=64, micro_batch=4, tokens="1B")
    return ridgeline.train("llama-3-8b", **{**base, **kw})


def test_training_offload_moves_optimizer_state_and_gradients_off_the_device():
    plain, off = _train(), _train(offload="host")
    assert off["optimizer_bytes_per_device"] == 0
    assert off["gradient_bytes_per_device"] < plain["gradient_bytes_per_device"] / 10
    assert off["weight_bytes_per_device"] == plain["weight_bytes_per_device"]  # no ZeRO-3
    assert off["memory_per_device_bytes"] < plain["memory_per_device_bytes"]
    # per step: 16-bit gradients out, 16-bit weights back, over PCIe, hidden behind compute
    params = off["params"]
    assert off["offload_link_bytes_per_step_per_device"] == pytest.approx(4 * params)
    assert off["offload_link_bound"] == 0 and off["offload_exposed_s"] == 0
    # the Adam step runs on the host CPU: 28 bytes per parameter through host DRAM
    assert off["optimizer_step_s"] == pytest.approx(28 * params / 50e9)


def test_zero3_offload_streams_the_weights_every_micro_batch():
    plain = _train(devices=8, zero=3)
    off = _train(devices=8, zero=3, offload="nvme")
    assert off["weight_bytes_per_device"] < plain["weight_bytes_per_device"]
    shard = off["params"] * 2 / 8
    fetches = 2 * off["micro_batches_per_step"] * shard
    assert off["offload_link_bytes_per_step_per_device"] == pytest.approx(
        4 * off["params"] / 8 + fetches)
    assert off["offload_link_s"] > fetches / off["host_link_bandwidth_bytes_per_s"]


def test_a_slow_link_is_exposed_in_the_step():
    slow = _train(offload="host", inputs={"host_link_bandwidth_bytes_per_s": 1e9})
    assert slow["offload_link_bound"] == 1
    exposed = slow["offload_link_s"] - slow["micro_batches_per_step"] * slow["micro_batch_s"]
    assert slow["offload_exposed_s"] == pytest.approx(exposed)
    assert slow["step_s"] == pytest.approx(
        slow["micro_batches_per_step"] * slow["micro_batch_s"] + slow["pipeline_bubble_s"]
        + slow["gradient_sync_exposed_s"] + slow["optimizer_step_s"] + slow["step_overhead_s"]
        + exposed)


@SETTINGS
@given(data=st.data(), tier=st.sampled_from(("host", "nvme")))
def test_offloaded_training_never_computes_faster_and_never_holds_more(data, tier):
    s = data.draw(scenarios(accelerator=data.draw(GPUS_WITH_HOST_LINK),
                            workload_kinds=("training",)))
    s = attrs.evolve(s, plan=attrs.evolve(s.plan, offload="none"))
    wanted = ("step_s", "optimizer_step_s", "memory_per_device_bytes")
    resident = _estimable(s, wanted)
    off = estimate(offloaded(s, tier), wanted)
    # where the optimizer runs may differ (a host can beat a slow device); the rest never
    # gets faster
    assert off["step_s"] - off["optimizer_step_s"] >= \
        (resident["step_s"] - resident["optimizer_step_s"]) * (1 - 1e-9)
    assert off["memory_per_device_bytes"] <= resident["memory_per_device_bytes"] * (1 + 1e-12)


# --------------------------------------------------------------------------- command line


def test_cli_infer_offload_reports_the_stream(capsys):
    assert main(["infer", "llama-3-70b", "--on", "rtx-4090", "--offload", "host"]) == 0
    out = capsys.readouterr().out
    assert "fits: yes" in out
    assert "streaming weights from host memory over PCIe Gen4 x16: link-bound" in out
    assert "without" in out


def test_cli_train_offload_json(capsys):
    assert main(["train", "llama-3-8b", "--on", "h100", "--offload", "nvme", "--global-batch",
                 "64", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scenario"]["plan"]["offload"] == "nvme"
    assert data["values"]["optimizer_bytes_per_device"] == 0
    assert data["provenance"]["optimizer_step_s"].startswith("ridgeline.plugins.parallel.offload")


def test_cli_rejects_an_unknown_tier(capsys):
    with pytest.raises(SystemExit):
        main(["infer", "llama-3-8b", "--on", "h100", "--offload", "tape"])
    assert "invalid choice" in capsys.readouterr().err


def test_a_bigger_batch_never_streams_faster_when_the_link_is_the_bottleneck():
    # at batch 1 the compute per layer is tiny; sizing the prefetch on it alone asked for a
    # deeper prefetch that took room from resident layers, so batch 1 streamed more than 2
    steps = [ridgeline.infer("deepseek-v3", on="amd-mi355x", tp=2, batch=b, prompt=1, output=1,
                             offload="nvme", quantities=["decode_step_s"])["decode_step_s"]
             for b in (1, 2, 4)]
    assert steps[0] <= steps[1] <= steps[2]
