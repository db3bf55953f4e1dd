"""Prompt engineering as a cost: extra prompt tokens under the serving model, and the
break-even of an adaptation that removes them."""

from __future__ import annotations

import json
import math

import pytest

import ridgeline
from ridgeline import ScenarioError
from ridgeline.cli import main

CASE = dict(on="h100", prompt=500, output=300, extra_prompt=3000)


@pytest.fixture(scope="module")
def busy():
    return ridgeline.prompt_cost("llama-3.1-8b", tune_tokens="50M", **CASE)


def test_extra_tokens_cost_prefill_kv_and_concurrency(busy):
    v = busy.values
    with_e, without = busy.parts["serving_with"], busy.parts["serving_without"]
    assert with_e.scenario.workload.prompt_tokens == 3500
    assert without.scenario.workload.prompt_tokens == 500
    # same hardware, same traffic
    assert with_e.scenario.system.devices == without.scenario.system.devices
    assert v["with_batch"] < v["without_batch"]  # the KV cache holds fewer sequences
    assert v["with_ttft_s"] > v["without_ttft_s"]  # more prefill
    assert v["with_requests_per_s"] < v["without_requests_per_s"]
    assert v["extra_cost_per_request_usd"] > 0


def test_cost_per_request_is_the_deployment_hour_over_its_requests(busy):
    e = busy.parts["serving_with"]
    expected = float(e["deployment_usd_per_hour"]) / 3600 / float(e["requests_per_s"])
    assert busy["with_cost_per_request_usd"] == pytest.approx(expected)
    assert busy["extra_cost_per_mtok_usd"] == pytest.approx(
        busy["extra_cost_per_request_usd"] / 300 * 1e6)


def test_break_even_of_a_full_fine_tune(busy):
    e = ridgeline.train("llama-3.1-8b", on="h100", devices=8, zero=3, seq=2048,
                        global_batch=512, tokens="50M")
    assert busy["fine_tune_cost_usd"] == pytest.approx(float(e["cost_usd"]))
    assert busy["fine_tune_break_even_requests"] == pytest.approx(
        busy["fine_tune_cost_usd"] / busy["extra_cost_per_request_usd"])
    assert busy["fine_tune_break_even_s"] == pytest.approx(
        busy["fine_tune_break_even_requests"] / busy["with_requests_per_s"])


def test_more_extra_tokens_cost_more_and_pay_back_sooner(busy):
    more = ridgeline.prompt_cost("llama-3.1-8b", tune_tokens="50M",
                                 **{**CASE, "extra_prompt": 6000})
    assert more["extra_cost_per_request_usd"] > busy["extra_cost_per_request_usd"]
    assert more["fine_tune_break_even_requests"] < busy["fine_tune_break_even_requests"]


def test_a_rate_the_same_devices_serve_costs_latency_not_money():
    r = ridgeline.prompt_cost("llama-3.1-8b", rate=2, tune_tokens="50M", **CASE)
    assert r["extra_cost_per_request_usd"] == 0
    assert r["fine_tune_break_even_requests"] is None
    assert any("latency" in n for n in r.notes)


def test_distillation_route():
    r = ridgeline.prompt_cost("llama-3.1-8b", tune_tokens="50M", distill_into="llama-3.2-1b",
                              **CASE)
    d = ridgeline.distill("llama-3.2-1b", teacher="llama-3.1-8b", tokens="50M", on="h100",
                          devices=8, zero=3, global_batch=512)
    assert r["distill_cost_usd"] == pytest.approx(d["making_cost_usd"])
    assert r["student_cost_per_request_usd"] < r["without_cost_per_request_usd"]
    assert r["distill_break_even_requests"] == pytest.approx(
        r["distill_cost_usd"] / r["student_saving_per_request_usd"])


def test_lora_is_priced_by_finetune_and_costs_less_than_full():
    lora = ridgeline.prompt_cost("llama-3.1-8b", tune_tokens="50M", method="lora", **CASE)
    full = ridgeline.prompt_cost("llama-3.1-8b", tune_tokens="50M", method="full", **CASE)
    alone = ridgeline.finetune("llama-3.1-8b", on="h100", devices=8, seq=2048, tokens="50M",
                               global_batch=512, method="lora")
    assert lora["fine_tune_cost_usd"] == pytest.approx(float(alone["cost_usd"]))
    assert lora["fine_tune_cost_usd"] < full["fine_tune_cost_usd"]


@pytest.mark.parametrize("change, words", [
    ({"extra_prompt": 0}, "extra prompt must be a whole number of tokens"),
    ({"extra_prompt": "lots"}, "extra prompt"),
    ({"prompt": -5}, "prompt must be"),
    ({"method": "prefix"}, "method must be one of full, lora, qlora"),
    ({"distill_into": "llama-3.2-1b"}, "distill_into needs tune_tokens"),
    ({"rate": 1, "concurrency": 4}, "give one load"),
    ({"extra_prompt": 200_000}, "context"),
])
def test_bad_input_names_the_argument(change, words):
    with pytest.raises(ScenarioError, match=words):
        ridgeline.prompt_cost("llama-3.1-8b", **{**CASE, **change})


def test_to_dict_and_explain(busy):
    d = json.loads(json.dumps(busy.to_dict()))
    assert d["units"]["extra_cost_per_request_usd"] == "USD"
    assert d["sources"]["fine_tune_cost_usd"]["sub_estimate"] == "fine_tune"
    text = busy.explain("with_cost_per_request_usd")
    assert "serving_with sub-estimate" in text and "requests_per_s" in text


def test_cli(capsys):
    args = ["prompt-cost", "llama-3.1-8b", "--on", "h100", "--prompt", "500", "--output",
            "300", "--extra-prompt", "3000", "--tune-tokens", "50M"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "extra cost:" in out and "pays back after" in out
    assert main(args + ["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["values"]["extra_cost_per_request_usd"] > 0
    assert main(args + ["--method", "bogus"]) != 0
    assert "method must be one of" in capsys.readouterr().err


def test_demo_section_compares_the_routes(capsys):
    from ridgeline import demo
    demo._adaptation_section()
    out = capsys.readouterr().out
    assert "Essay 001's three routes" in out
    r = ridgeline.prompt_cost("llama-3.1-8b", tune_tokens="50M", **CASE)
    assert f"pays back after {r['fine_tune_break_even_requests']:,.0f} requests" in out


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ridgeline.errors import RidgelineError  # noqa: E402
from ridgeline.testing.strategies import junk_values  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_junk_arguments_give_a_ridgeline_error_or_physical_values(data):
    name = data.draw(st.sampled_from(("prompt", "output", "extra_prompt", "tp", "devices",
                                      "rate", "concurrency", "price", "tune_tokens", "method",
                                      "tune_devices", "tune_seq", "tune_on", "weights")))
    value = data.draw(junk_values())
    kwargs = {**CASE, "tune_tokens": "5M", name: value}
    try:
        r = ridgeline.prompt_cost("llama-3.2-1b", **kwargs)
    except RidgelineError:
        return
    for key, v in r.values.items():
        if isinstance(v, bool) or v is None:
            continue
        assert isinstance(v, float) and math.isfinite(v), (name, value, key, v)
        if key != "extra_cost_per_request_usd" and key != "extra_cost_per_mtok_usd":
            assert v >= 0, (name, value, key, v)


def test_every_figure_says_where_it_comes_from(busy):
    assert set(busy.sources) == set(busy.values)
    assert "fine_tune sub-estimate" in busy.explain("fine_tune_cost_usd")
    assert main(["prompt-cost", "llama-3.1-8b", "--on", "h100", "--prompt", "500", "--output",
                 "300", "--extra-prompt", "3000", "--explain", "extra_cost_per_mtok_usd"]) == 0
