"""Distillation: the ``distilled`` family, its presets, ``ridgeline.distill`` and the CLI.

The figures ``distill`` reports are the engine's own: its student-training cost is what
``train`` says, its serving costs are what ``infer`` says, its teacher pass is the
``forward_only_*`` quantities of a ``train`` scenario of the teacher. The tests hold it to
that, to the break-even equation, and to the properties that follow from it.
"""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ridgeline.api import infer, train
from ridgeline.catalog import build_catalog
from ridgeline.cli import main
from ridgeline.distillation import Distillation, break_even_tokens, distill, distill_report
from ridgeline.errors import RegistryError, ScenarioError

CATALOG = build_catalog(entry_points=False)

#: a small, fast pair (both GPT-2 layouts) with settings that fit on one H100.
SMALL = dict(on="h100", devices=8, seq=1024, global_batch=64, catalog=CATALOG)


def _distilled_presets():
    return [m for m in CATALOG.models.values() if m.family == "distilled"]


# --------------------------------------------------------------------------- family and presets


def test_distilled_family_extends_dense_with_a_teacher_and_a_token_count():
    arch = CATALOG.architectures["distilled"]
    assert arch.extends == "dense"
    assert CATALOG.lineage("distilled") == ("distilled", "dense")
    options = {o.name: o for o in arch.options}
    assert options["teacher"].type == "str" and options["teacher"].required
    assert options["distill_tokens"].type == "float" and not options["distill_tokens"].required


def test_the_shipped_distilled_presets_are_found():
    ids = {m.id for m in _distilled_presets()}
    assert {"llama-3.2-1b", "llama-3.2-3b", "llama-3.1-minitron-4b-width", "distilgpt2"} <= ids


@pytest.mark.parametrize("model", _distilled_presets(), ids=lambda m: m.id)
def test_shipped_distilled_preset_names_a_teacher_that_exists_and_is_bigger(model):
    teacher = CATALOG.model(model.option("teacher"))  # UnknownNameError if it does not exist
    tokens = model.option("distill_tokens")
    assert tokens is None or (math.isfinite(tokens) and tokens > 0)
    params = infer(model, on="h100", quantities=["params"], catalog=CATALOG)["params"]
    teacher_params = infer(teacher, on="h100", quantities=["params"], catalog=CATALOG)["params"]
    assert teacher_params > params
    assert teacher.vocab_size == model.vocab_size  # token-level targets need one vocabulary


@pytest.mark.parametrize("model", _distilled_presets(), ids=lambda m: m.id)
def test_distilled_preset_counts_parameters_as_its_notes_and_sources_say(model):
    # the dense formulas apply through the lineage; the notes quote the published count
    stated = int(re.search(r"([\d,]{6,}) parameters", model.notes).group(1).replace(",", ""))
    assert infer(model, on="h100", quantities=["params"], catalog=CATALOG)["params"] == stated


def test_a_distilled_preset_without_a_teacher_is_a_registry_error(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "orphan.toml").write_text(
        'id = "orphan"\nname = "Orphan"\nfamily = "distilled"\nvocab_size = 1000\n'
        'hidden_size = 256\nnum_layers = 2\nnum_heads = 4\nintermediate_size = 512\n'
        'sources = ["made up"]\n')
    with pytest.raises(RegistryError, match="options.teacher: required"):
        build_catalog(entry_points=False, registry=[tmp_path])


def test_a_device_that_runs_dense_models_runs_a_distilled_one():
    # etched-sohu runs only dense and moe; a distilled student is a dense transformer
    # (it publishes no peak FLOP/s, so ask for memory, which it does publish)
    e = infer("llama-3.2-1b", on="etched-sohu", quantities=["weight_bytes_per_device"],
              catalog=CATALOG)
    assert e["weight_bytes_per_device"] == 2 * 1_235_814_400


# --------------------------------------------------------------------------- the forward-only pass


@settings(max_examples=15, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 4]),
       dp=st.sampled_from([1, 2]), recompute=st.sampled_from(["none", "selective", "full"]),
       micro_batch=st.sampled_from([1, 2]))
def test_a_forward_only_pass_is_cheaper_than_a_training_step(tp, pp, dp, recompute,
                                                             micro_batch):
    e = train("llama-3.1-8b", on="h100", tp=tp, pp=pp, dp=dp, micro_batch=micro_batch,
              global_batch=16 * dp * micro_batch, seq=2048, tokens="1B", recompute=recompute,
              forward_only=True, catalog=CATALOG)
    assert 0 < e["forward_only_micro_batch_s"] < e["micro_batch_s"]
    assert 0 < e["forward_only_step_s"] < e["step_s"]
    assert e["forward_only_wall_clock_s"] == pytest.approx(e["steps"] * e["forward_only_step_s"])
    # no gradients, optimizer state or stored activations: less memory than training
    assert e["weight_bytes_per_device"] < e["forward_only_memory_per_device_bytes"] \
        < e["memory_per_device_bytes"]
    assert e["forward_only_cost_usd"] < e["cost_usd"]


# --------------------------------------------------------------------------- break-even


@given(making=st.floats(1.0, 1e9), student=st.floats(1e-4, 1e3),
       gap=st.floats(1e-3, 1e3), k=st.floats(1.01, 100.0))
def test_break_even_falls_as_the_teachers_serving_cost_rises(making, student, gap, k):
    teacher = student + gap
    near = break_even_tokens(making, teacher, student)
    far = break_even_tokens(making, teacher * k, student)
    assert near is not None and far is not None
    assert 0 < far < near
    assert near == pytest.approx(making / (gap / 1e6), rel=1e-9)
    # and is proportional to the cost of making the student
    assert break_even_tokens(making * k, teacher, student) == pytest.approx(near * k, rel=1e-9)


@given(making=st.floats(0.0, 1e9), teacher=st.floats(0.0, 1e3), extra=st.floats(0.0, 1e3))
def test_a_student_that_is_not_cheaper_never_breaks_even(making, teacher, extra):
    assert break_even_tokens(making, teacher, teacher + extra) is None


def test_distill_is_the_engines_train_and_infer_put_together():
    d = distill("distilgpt2", tokens="200M", batch=8, **SMALL)
    v = d.values
    t = train("distilgpt2", on="h100", devices=8, seq=1024, global_batch=64, tokens="200M",
              catalog=CATALOG)
    assert v["student_training_cost_usd"] == t["cost_usd"]
    assert v["student_training_s"] == t["wall_clock_s"]
    plan = d.teacher_pass.scenario.plan
    tp_ = train("gpt2", on="h100", devices=8, tp=plan.tp, pp=plan.pp, seq=1024,
                global_batch=64, tokens="200M", forward_only=True, catalog=CATALOG)
    assert v["teacher_pass_cost_usd"] == tp_["forward_only_cost_usd"]
    assert v["making_cost_usd"] == pytest.approx(tp_["forward_only_cost_usd"] + t["cost_usd"])
    assert v["making_device_hours"] == pytest.approx(
        tp_["forward_only_device_hours"] + t["device_hours"])
    for who, model in (("teacher", "gpt2"), ("student", "distilgpt2")):
        e = getattr(d, f"{who}_serving")
        again = infer(model, on="h100", tp=e.scenario.plan.tp, pp=e.scenario.plan.pp, batch=8,
                      catalog=CATALOG)
        assert v[f"{who}_cost_per_mtok_usd"] == again["cost_per_mtok_usd"]
    assert v["break_even_tokens"] == break_even_tokens(
        v["making_cost_usd"], v["teacher_cost_per_mtok_usd"], v["student_cost_per_mtok_usd"])
    assert v["break_even_serving_s"] == pytest.approx(
        v["break_even_tokens"] / v["student_throughput_tokens_per_s"])


@settings(max_examples=10, deadline=None)
@given(steps=st.integers(1, 2000), k=st.integers(2, 50))
def test_making_cost_is_linear_in_tokens(steps, k):
    tokens_per_step = 64 * 1024  # whole steps, so no step is partly used
    one = distill("distilgpt2", tokens=steps * tokens_per_step, **SMALL)
    many = distill("distilgpt2", tokens=k * steps * tokens_per_step, **SMALL)
    for key in ("making_cost_usd", "making_device_hours", "teacher_pass_cost_usd",
                "student_training_cost_usd", "making_s", "break_even_tokens"):
        assert many[key] == pytest.approx(k * one[key], rel=1e-9), key
    # serving does not depend on how the student was made
    assert many["student_cost_per_mtok_usd"] == one["student_cost_per_mtok_usd"]


@settings(max_examples=10, deadline=None)
@given(price=st.floats(0.5, 20.0), serve_price=st.floats(0.5, 20.0), k=st.floats(1.5, 10.0))
def test_break_even_scales_with_making_price_over_serving_price(price, serve_price, k):
    base = distill("distilgpt2", tokens="100M", price=price, serve_price=serve_price, **SMALL)
    dearer_serving = distill("distilgpt2", tokens="100M", price=price,
                             serve_price=serve_price * k, **SMALL)
    dearer_making = distill("distilgpt2", tokens="100M", price=price * k,
                            serve_price=serve_price, **SMALL)
    assert dearer_serving.break_even_tokens == pytest.approx(base.break_even_tokens / k,
                                                             rel=1e-9)
    assert dearer_making.break_even_tokens == pytest.approx(base.break_even_tokens * k,
                                                            rel=1e-9)


def test_a_student_that_is_its_own_teacher_never_breaks_even():
    d = distill("gpt2", teacher="gpt2", tokens="100M", **SMALL)
    assert d.break_even_tokens is None and d["break_even_serving_s"] is None
    assert d["saving_per_mtok_usd"] == 0.0
    assert d["making_cost_usd"] > 0
    assert "never" in d.never_reason
    text = distill_report(d)
    assert "break-even: never" in text and "inf" not in text and "nan" not in text
    assert d.to_dict()["break_even"] == {"tokens": None, "never_reason": d.never_reason}


def test_a_teacher_smaller_than_its_student_is_noted_and_never_pays():
    d = distill("gpt2", teacher="distilgpt2", tokens="100M", **SMALL)
    assert d.break_even_tokens is None
    assert any("smaller than the student" in n for n in d.notes)


def test_a_teacher_that_fits_nowhere_is_a_result_not_an_error():
    d = distill("llama-3.2-1b", teacher="llama-3.1-405b", tokens="1B", on="h100",
                seq=1024, global_batch=8, catalog=CATALOG)  # one device
    assert d["teacher_pass_fits"] is False
    assert any("teacher pass does not fit" in n for n in d.notes)
    assert d["teacher_serving_fits"] is True  # serving may use more devices than training


def test_teacher_and_tokens_default_from_the_students_preset():
    d = distill("llama-3.1-minitron-4b-width", on="h100", devices=64, seq=4096,
                global_batch=256, recompute="full", catalog=CATALOG)
    assert d.teacher == "llama-3.1-8b" and d["distill_tokens"] == 94e9
    assert d.break_even_tokens is not None and d.break_even_tokens > 0
    assert d.teacher_pass.scenario.system.devices == d.devices == 64


def test_the_cheapest_fitting_plan_is_chosen_for_serving():
    d = distill("llama-3.2-1b", teacher="llama-3.1-70b", tokens="1B", batch=16, on="h100",
                devices=8, catalog=CATALOG)
    e = d.teacher_serving
    assert e["fits"] and e.scenario.plan.tp * e.scenario.plan.pp > 1  # 141 GB of weights
    for tp in (2, 4, 8):
        other = infer("llama-3.1-70b", on="h100", tp=tp, batch=16, catalog=CATALOG)
        if other["fits"]:
            assert e["cost_per_mtok_usd"] <= other["cost_per_mtok_usd"]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, message", [
    (dict(student="llama-3.2-1b", teacher="llama-3.1-8x"), "did you mean 'llama-3.1-8b'"),
    (dict(student="llama-3.2-1b", tokens=0), "tokens must be > 0"),
    (dict(student="llama-3.2-1b", tokens=-5e9), "tokens must be > 0"),
    (dict(student="llama-3.2-1b", tokens="lots"), "tokens"),
    (dict(student="distilgpt2"), "does not say how many tokens"),
    (dict(student="llama-3.1-8b", tokens="1B"), "names no teacher"),
    (dict(student="llama-3.2-1b", teacher_tp=3, devices=6, global_batch=60),
     "tp=3 does not divide the 32 attention heads of llama-3.1-8b"),
])
def test_bad_input_is_a_clear_error(kwargs, message):
    student = kwargs.pop("student")
    with pytest.raises(ScenarioError, match=re.escape(message)):
        distill(student, on="h100", catalog=CATALOG, **kwargs)


def test_an_accelerator_without_a_price_names_the_flag_to_give():
    with pytest.raises(ScenarioError, match="--serve-price"):
        distill("distilgpt2", tokens="1B", on="h100", serve_on="tpu-v5p", catalog=CATALOG)
    with pytest.raises(ScenarioError, match="--price"):
        distill("distilgpt2", tokens="1B", on="tpu-v5p", catalog=CATALOG)


# --------------------------------------------------------------------------- the CLI


ARGS = ["distill", "distilgpt2", "--tokens", "200M", "--on", "h100", "--devices", "8",
        "--seq", "1024", "--global-batch", "64", "--batch", "8"]


def test_cli_json_has_every_value_in_si_units(capsys):
    assert main(ARGS + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    values = data["values"]
    for key in ("teacher_pass_cost_usd", "student_training_cost_usd", "making_cost_usd",
                "making_device_hours", "making_energy_j", "making_s",
                "teacher_cost_per_mtok_usd", "student_cost_per_mtok_usd",
                "break_even_tokens", "break_even_serving_s", "distill_tokens"):
        assert isinstance(values[key], float) and math.isfinite(values[key]) \
            and values[key] > 0, key
    assert values["distill_tokens"] == 2e8
    assert data["units"]["making_cost_usd"] == "USD" and data["units"]["making_s"] == "s"
    assert data["teacher"] == "gpt2" and data["student"] == "distilgpt2"
    assert data["plans"]["teacher_serving"]["batch"] == 8
    for v in values.values():
        assert v is None or isinstance(v, bool) or math.isfinite(v)


def test_cli_human_output_has_the_breakdown_and_the_break_even_line(capsys):
    assert main(ARGS) == 0
    out = capsys.readouterr().out
    for text in ("teacher targets (forward only)", "student training", "total",
                 "per million tokens", "break-even: after"):
        assert text in out
    assert "inf" not in out and "nan" not in out


def test_cli_never_breaking_even_is_said_not_printed_as_infinity(capsys):
    # gpt2's context is 1,024 positions: training on the default 2,048 would be an error
    assert main(["distill", "gpt2", "--teacher", "gpt2", "--tokens", "1M", "--on", "h100",
                 "--seq", "1024", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["values"]["break_even_tokens"] is None
    assert "saves nothing" in data["break_even"]["never_reason"]


@pytest.mark.parametrize("argv, message", [
    (["distill", "llama-3.2-1b", "--teacher", "llama-3.1-8x", "--on", "h100"],
     "did you mean 'llama-3.1-8b'"),
    (["distill", "llama-3.2-1b", "--tokens=-5B", "--on", "h100"], "tokens must be > 0"),
    (["distill", "llama-3.2-1b", "--tokens", "0", "--on", "h100"], "tokens must be > 0"),
    (["distill", "distilgpt2", "--on", "h100"], "--tokens"),
    (["distill", "llama-3.1-8b", "--tokens", "1B", "--on", "h100"], "--teacher"),
    (["distill", "llama-3.2-1b", "--on", "h10"], "did you mean 'h100'"),
])
def test_cli_errors_are_one_line(capsys, argv, message):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("ridgeline: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_distill_is_exported_lazily():
    import ridgeline
    assert ridgeline.distill is distill and ridgeline.Distillation is Distillation


def test_forward_only_quantities_are_priced_only_when_asked_for():
    plain_run = train("gpt2", on="h100", devices=8, seq=1024, global_batch=64, tokens="200M",
                      catalog=CATALOG)
    assert not any(q.startswith("forward_only_") for q in plain_run.values)
    assert plain_run.scenario.workload.features() == frozenset()
