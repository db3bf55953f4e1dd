"""Every public function answers a wrong type or value with a ridgeline exception.

Table-driven: each public function, called with valid arguments but one replaced by a junk
value, either returns (a junk value may be a valid one there) or raises a
:class:`RidgelineError` whose message names the argument. Nothing else escapes: a planner
that loops over millions of configurations must be able to catch one class.
"""

from __future__ import annotations

import inspect
import math
import os
import re

import pytest

import ridgeline
from ridgeline import plugin as plugin_api
from ridgeline.api import infer_scenario, resolve_model, train_scenario
from ridgeline.errors import RidgelineError, ScenarioError
from ridgeline.loader import read_toml

JUNK = (None, 0, -1, 1.5, True, False, "", "abc", "-3", "nan", "1e999", [1], ["fp8"], {},
        {"compute": "x"}, (), object(), float("nan"), float("inf"), -float("inf"), 10**400,
        -10**400, 2**63, 1e308, -1e308, b"x", 1j)


def _junk_id(value) -> str:
    text = repr(value)
    return text if len(text) < 20 else text[:17] + "..."


def _outcome(call) -> str | None:
    """None when ``call`` returned or raised a RidgelineError, else what escaped."""
    try:
        call()
    except RidgelineError as exc:
        if not str(exc).strip():
            return f"{type(exc).__name__} with an empty message"
        return None
    except Exception as exc:  # noqa: BLE001 - what the test looks for
        return f"{type(exc).__name__}: {exc}"
    return None


def _sweep_arguments(function, base_args: tuple, base_kwargs: dict, skip=()) -> list[str]:
    """Call ``function`` once per (argument, junk value); the calls where something other
    than a RidgelineError escaped."""
    signature = inspect.signature(function)
    problems = []
    positional = [n for n, p in signature.parameters.items()
                  if p.kind is p.POSITIONAL_OR_KEYWORD][:len(base_args)]
    for name, parameter in signature.parameters.items():
        if name in skip or parameter.kind is parameter.VAR_KEYWORD:
            continue
        for junk in JUNK:
            args, kwargs = list(base_args), dict(base_kwargs)
            if name in positional:
                args[positional.index(name)] = junk
            else:
                kwargs[name] = junk
            escaped = _outcome(lambda: function(*args, **kwargs))
            if escaped:
                problems.append(f"{function.__name__}({name}={_junk_id(junk)}): {escaped}")
    return problems


def _assert_none(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} bare exceptions:\n" + "\n".join(problems[:40])


INFER = dict(on="h100")
TRAIN = dict(on="h100", dp=2, global_batch=8, seq=1024, tokens="1B")


@pytest.mark.parametrize("function, args, kwargs", [
    (ridgeline.infer, ("llama-3-8b",), INFER),
    (ridgeline.infer, ("llama-3-70b",), dict(on="h100", tp=8, draft="llama-3.2-1b")),
    (infer_scenario, ("llama-3-8b",), INFER),
    (ridgeline.train, ("llama-3-8b",), TRAIN),
    (train_scenario, ("llama-3-8b",), TRAIN),
    (ridgeline.distill, ("llama-3.2-1b",), dict(on="h100")),
    (resolve_model, ("llama-3-8b", ridgeline.default_catalog()), {}),
], ids=lambda x: getattr(x, "__name__", None) or "")
def test_api_functions_answer_every_junk_argument(function, args, kwargs):
    _assert_none(_sweep_arguments(function, args, kwargs))


@pytest.mark.parametrize("kind", ["infer", "train"])
def test_scenario_answers_every_junk_argument(kind):
    base = INFER if kind == "infer" else TRAIN
    problems = _sweep_arguments(ridgeline.scenario, (kind, "llama-3-8b"), base)
    builder = infer_scenario if kind == "infer" else train_scenario
    for name in inspect.signature(builder).parameters:
        if name == "model":
            continue
        for junk in JUNK:
            kwargs = {**base, name: junk}
            escaped = _outcome(lambda: ridgeline.scenario(kind, "llama-3-8b", **kwargs))
            if escaped:
                problems.append(f"scenario({kind!r}, {name}={_junk_id(junk)}): {escaped}")
    _assert_none(problems)


def test_estimate_and_sweep_answer_every_junk_argument():
    s = ridgeline.scenario("infer", "llama-3-8b", on="h100")
    problems = _sweep_arguments(ridgeline.estimate, (s, ["tpot_s"]), {})
    problems += _sweep_arguments(ridgeline.sweep, (s, {"batch": [1, 2]}, ["tpot_s"]), {},
                                 skip=("grid",))
    _assert_none(problems)


def test_estimate_methods_answer_every_junk_argument():
    e = ridgeline.infer("llama-3-8b", on="h100")
    problems = []
    for method in (e.explain, e.unit, e.format, e.__getitem__, e.get, e.formula,
                   e.__contains__):
        problems += _sweep_arguments(method, ("tpot_s",), {})
    _assert_none(problems)


def test_catalog_functions_answer_every_junk_argument(tmp_path):
    c = ridgeline.default_catalog()
    problems = []
    for method in (c.accelerator, c.model, c.plugin, c.lineage):
        problems += _sweep_arguments(method, ("h100" if method == c.accelerator else "dense",),
                                     {})
    problems += _sweep_arguments(c.provider, ("model", "gpt2"), {})
    problems += _sweep_arguments(ridgeline.build_catalog, (), {"entry_points": False})
    problems += _sweep_arguments(ridgeline.default_catalog, (), {})
    _assert_none(problems)


def test_file_loaders_answer_every_junk_argument(tmp_path):
    problems = []
    for function in (plugin_api.load_accelerator, plugin_api.load_model, read_toml):
        problems += _sweep_arguments(function, (tmp_path / "x.toml",), {})
    _assert_none(problems)


# ---------------------------------------------------------------- the reproducers


@pytest.mark.parametrize("call, names", [
    (lambda: ridgeline.infer(0, on="h100"), "model"),
    (lambda: ridgeline.infer("gpt2", on=None), "on"),
    (lambda: ridgeline.infer("gpt2", on="h100", inputs=5), "inputs"),
    (lambda: ridgeline.infer("gpt2", on="h100", efficiency=5), "efficiency"),
    (lambda: ridgeline.infer("gpt2", on="h100", weights=["fp8"]), "weights"),
    (lambda: ridgeline.infer("gpt2", on="h100", prompt=10**400), "prompt"),
    (lambda: ridgeline.train("gpt2", on="h100", interleave=None), "interleave"),
    (lambda: ridgeline.train("gpt2", on="h100", sp="yes"), "sp"),
    (lambda: ridgeline.infer("gpt2", on="h100", quantities="tpot_s"), "quantities"),
    (lambda: ridgeline.infer("gpt2", on="h100", catalog="default"), "catalog"),
    (lambda: ridgeline.distill("llama-3.2-1b", on="h100", teacher=5), "teacher"),
    (lambda: ridgeline.scenario(None, "gpt2", on="h100"), "kind"),
], ids=["model", "on", "inputs", "efficiency", "weights", "prompt", "interleave", "sp",
        "quantities", "catalog", "teacher", "kind"])
def test_reproducers_name_the_argument(call, names):
    with pytest.raises(RidgelineError) as info:
        call()
    assert re.search(rf"\b{names}\b", str(info.value)), str(info.value)


def test_load_accelerator_takes_a_str_path(tmp_path):
    import ridgeline.registry as shipped
    path = os.path.join(os.path.dirname(shipped.__file__), "accelerators", "nvidia-h100-sxm.toml")
    assert plugin_api.load_accelerator(path).id == "nvidia-h100-sxm"
    assert plugin_api.load_model(os.path.join(os.path.dirname(shipped.__file__), "models",
                                              "gpt2.toml")).id == "gpt2"
    with pytest.raises(ridgeline.RegistryError, match="x.toml"):
        plugin_api.load_accelerator(str(tmp_path / "x.toml"))
    with pytest.raises(ridgeline.RegistryError, match="expected a path"):
        plugin_api.load_accelerator(5)


def test_huge_counts_are_errors_not_overflows():
    for value in (10**400, "1e400", 1e308):
        with pytest.raises(ScenarioError, match="prompt"):
            ridgeline.infer("gpt2", on="h100", prompt=value)
    assert math.isfinite(ridgeline.infer("gpt2", on="h100", prompt=700)["ttft_s"])


def test_numpy_numbers_are_numbers():
    # a planner looping over a numpy array passes numpy integers and floats
    np = pytest.importorskip("numpy")
    e = ridgeline.infer("llama-3-8b", on="h100", tp=np.int64(2), batch=np.int32(4),
                        prompt=np.int64(100), output=np.float64(10))
    w = e.scenario.workload
    assert (e.scenario.plan.tp, w.batch, w.prompt_tokens, w.output_tokens) == (2, 4, 100, 10)
    plain = ridgeline.infer("llama-3-8b", on="h100", tp=2, batch=4, prompt=100, output=10)
    assert e["tpot_s"] == plain["tpot_s"]
    t = ridgeline.train("llama-3-8b", on="h100", dp=np.int64(2), global_batch=np.int64(8),
                        seq=np.int64(1024))
    assert t["step_s"] == ridgeline.train("llama-3-8b", on="h100", dp=2, global_batch=8,
                                          seq=1024)["step_s"]
    with pytest.raises(ScenarioError, match="prompt"):
        ridgeline.infer("llama-3-8b", on="h100", prompt=np.float64("nan"))


def test_a_hugging_face_config_source_of_the_wrong_type():
    from ridgeline.hf_config import model_from_hf_config
    for junk in JUNK:
        if isinstance(junk, (str, dict)):
            continue
        with pytest.raises(ridgeline.RegistryError):
            model_from_hf_config(junk)
