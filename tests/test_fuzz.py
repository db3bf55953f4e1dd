"""Fuzzing the Python API and the command line: junk in, random valid plans in.

Whatever a caller passes, a public function either returns an estimate whose every value is
physically possible (:func:`ridgeline.testing.physical_problems`) or raises a
:class:`ridgeline.RidgelineError`; no other exception escapes. On random valid plans the
invariants between estimates hold too: a bigger tp never raises the weight bytes per device,
a bigger batch never shortens a decode step. The command line, driven in process through
``ridgeline.cli.main``, exits (with any status) and never prints a traceback or an internal
error.

Each test sizes itself from the Hypothesis profile (see ``conftest.py``): ``fuzz(300)`` runs
300 examples under the default profile and twenty times as many under ``deep``.
"""

import collections
import contextlib
import functools
import io
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.api import infer_scenario
from ridgeline.cli import main
from ridgeline.errors import RidgelineError, UnknownNameError
from ridgeline.precision import PRECISIONS
from ridgeline.testing import physical_problems
from ridgeline.testing.strategies import junk_numbers, junk_values

#: generated inputs per fuzz test, summed in the terminal summary (see conftest.py).
FUZZ_INPUTS = collections.Counter()


def fuzz(examples):
    """Settings for a fuzz test: ``examples`` under the default profile, scaled by others."""
    scaled = max(1, examples * settings.default.max_examples // 100)

    def decorate(test):
        inner = test.hypothesis.inner_test

        @functools.wraps(inner)
        def counted(*args, **kwargs):
            FUZZ_INPUTS[test.__name__] += 1
            return inner(*args, **kwargs)

        test.hypothesis.inner_test = counted
        return settings(max_examples=scaled)(test)
    return decorate


CATALOG = ridgeline.default_catalog()
MODELS = sorted(CATALOG.models)
ACCELERATORS = sorted(CATALOG.accelerators)
QUANTITIES = sorted(CATALOG.formulas)
_NAMES = st.sampled_from(QUANTITIES) | st.sampled_from(("bacth", "tpot", "", "weights"))


# --------------------------------------------------------------------------- checks


def check_result(result, *, context_limit=True):
    """Every value physically possible; and an inference context within the model's limit."""
    problems = physical_problems(result)
    s = result.scenario
    if context_limit and isinstance(s.workload, ridgeline.InferenceWorkload):
        context = s.workload.prompt_tokens + s.workload.output_tokens
        if s.model.max_seq_len is not None and context > s.model.max_seq_len:
            problems.append(f"a context of {context} tokens was accepted, beyond the "
                            f"{s.model.max_seq_len} positions of {s.model.id}")
    assert not problems, "\n".join(problems)


def call(function, *args, **kwargs):
    """``function(*args, **kwargs)``, or None where it raised a ridgeline error; any other
    exception propagates (a bare exception is the finding)."""
    try:
        return function(*args, **kwargs)
    except RidgelineError:
        return None


# --------------------------------------------------------------------------- argument pools

_COUNTS = st.one_of(junk_values(), st.integers(-2, 16))
_PRECISION = st.one_of(junk_values(), st.sampled_from(PRECISIONS))
_TOKENS = st.one_of(junk_values(), st.integers(-1, 10**7),
                    st.sampled_from(("4k", "1e9", "1.5", "-5T", "100000", "2048")))
_EFFICIENCY = st.one_of(junk_values(), st.dictionaries(
    st.sampled_from(("compute", "memory", "network", "bogus", "step_overhead_s")),
    junk_numbers() | junk_values(), max_size=3))
_QUANTITY_LISTS = st.one_of(junk_values(), st.lists(_NAMES, max_size=4), st.sampled_from(
    ("tpot_s", ["tpot_s"], ("mfu", "step_s"))))
_INPUTS = st.one_of(junk_values(), st.dictionaries(
    _NAMES, st.one_of(junk_numbers(), junk_values()), max_size=3))

_COMMON_JUNK = {
    "model": st.one_of(junk_values(), st.sampled_from(MODELS),
                       st.sampled_from(("missing/config.json", "./", "llama", "LLAMA-3-8B"))),
    "on": st.one_of(junk_values(), st.sampled_from(ACCELERATORS)),
    "devices": _COUNTS, "tp": _COUNTS, "pp": _COUNTS, "ep": _COUNTS,
    "price": st.one_of(junk_values(), junk_numbers(), st.just("2.49 USD/h")),
    "efficiency": _EFFICIENCY, "quantities": _QUANTITY_LISTS, "inputs": _INPUTS,
    "offload": st.one_of(junk_values(), st.sampled_from(("none", "host", "nvme"))),
    "catalog": junk_values(),
}
INFER_JUNK = {
    **_COMMON_JUNK,
    "batch": st.one_of(_COUNTS, st.just("max"), st.integers(1, 10**6)),
    "prompt": _TOKENS, "output": _TOKENS,
    "weights": _PRECISION, "kv": _PRECISION, "activations": _PRECISION,
    "draft": st.one_of(junk_values(), st.sampled_from(MODELS)),
    "gamma": _COUNTS, "accept": st.one_of(junk_values(), junk_numbers()),
}
TRAIN_JUNK = {
    **_COMMON_JUNK,
    "dp": _COUNTS, "micro_batch": _COUNTS, "global_batch": _TOKENS, "seq": _TOKENS,
    "tokens": _TOKENS, "precision": _PRECISION, "sp": junk_values(), "interleave": _COUNTS,
    "zero": _COUNTS, "recompute": st.one_of(junk_values(), st.sampled_from(("selective", "full"))),
    "attention": st.one_of(junk_values(), st.sampled_from(("flash", "unfused"))),
    "forward_only": junk_values(),
}
DISTILL_JUNK = {
    **{k: v for k, v in TRAIN_JUNK.items()
       if k not in ("model", "tokens", "quantities", "sp", "interleave", "attention",
                    "forward_only", "ep", "offload")},
    "student": st.one_of(junk_values(), st.sampled_from(MODELS)),
    "teacher": st.one_of(junk_values(), st.sampled_from(MODELS)),
    "tokens": _TOKENS, "batch": INFER_JUNK["batch"], "prompt": _TOKENS, "output": _TOKENS,
    "weights": _PRECISION, "kv": _PRECISION, "teacher_tp": _COUNTS, "teacher_pp": _COUNTS,
    "serve_on": INFER_JUNK["on"], "serve_tp": _COUNTS, "teacher_serve_tp": _COUNTS,
    "serve_price": INFER_JUNK["price"],
}


#: a valid call's arguments and the junk each argument may be replaced with.
JUNK_CALLS = {
    "infer": ({"model": "llama-3-8b", "on": "h100"}, INFER_JUNK),
    "train": ({"model": "llama-3-8b", "on": "h100", "dp": 8, "global_batch": 64}, TRAIN_JUNK),
}


@st.composite
def junk_kwargs(draw, base, pool):
    """``base`` (a valid call's arguments) with one to three of them replaced by junk."""
    kwargs = dict(base)
    for name in draw(st.lists(st.sampled_from(sorted(pool)), min_size=1, max_size=3,
                              unique=True)):
        kwargs[name] = draw(pool[name], label=name)
    return kwargs


# --------------------------------------------------------------------------- junk into the API


@pytest.mark.parametrize("function", ["infer", "train"])
@fuzz(700)
@given(data=st.data())
def test_junk_arguments_give_a_ridgeline_error_or_a_physical_estimate(function, data):
    base, pool = JUNK_CALLS[function]
    kwargs = data.draw(junk_kwargs(base, pool), label="kwargs")
    result = call(getattr(ridgeline, function), kwargs.pop("model"), **kwargs)
    if result is not None:
        check_result(result)


@fuzz(150)
@given(data=st.data())
def test_junk_distill_arguments_give_a_ridgeline_error_or_physical_values(data):
    kwargs = data.draw(junk_kwargs({"student": "llama-3.2-1b", "on": "h100", "dp": 8},
                                   DISTILL_JUNK), label="kwargs")
    result = call(ridgeline.distill, kwargs.pop("student"), **kwargs)
    if result is None:
        return
    for part in ("teacher_pass", "student_training", "teacher_serving", "student_serving"):
        check_result(getattr(result, part), context_limit=False)
    for name, value in result.values.items():
        if value is None or isinstance(value, (bool, str)):
            continue
        assert isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, \
            f"distill value {name} = {value!r}"


@fuzz(300)
@given(kind=st.one_of(junk_values(), st.sampled_from(("infer", "train"))),
       data=st.data())
def test_junk_into_ridgeline_scenario_gives_a_ridgeline_error_or_a_scenario(kind, data):
    ridgeline.infer("gpt2", on="h100")  # the first estimate imports every submodule
    pool = INFER_JUNK if isinstance(kind, str) and kind == "infer" else TRAIN_JUNK
    pool = {k: v for k, v in pool.items() if k not in ("quantities", "inputs")}
    kwargs = data.draw(junk_kwargs({"model": "llama-3-8b", "on": "h100"}, pool),
                       label="kwargs")
    s = call(ridgeline.scenario, kind, kwargs.pop("model"), **kwargs)
    if s is not None:
        assert isinstance(s, ridgeline.Scenario)


def _valid_scenario():
    return infer_scenario("llama-3-8b", on="h100", batch=4)


@fuzz(400)
@given(scenario=st.one_of(st.just("valid"), junk_values()),
       quantities=st.one_of(st.none(), _QUANTITY_LISTS),
       inputs=st.one_of(st.none(), _INPUTS),
       check=st.one_of(st.booleans(), junk_values()),
       catalog=st.one_of(st.none(), junk_values()))
def test_junk_into_estimate_gives_a_ridgeline_error_or_a_physical_estimate(
        scenario, quantities, inputs, check, catalog):
    s = _valid_scenario() if isinstance(scenario, str) and scenario == "valid" else scenario
    result = call(ridgeline.estimate, s, quantities, inputs=inputs, check=check,
                  catalog=catalog)
    if result is not None:
        check_result(result)


_GRIDS = st.one_of(
    junk_values(),
    st.dictionaries(_NAMES, st.one_of(junk_values(), st.lists(junk_numbers(), max_size=4)),
                    max_size=2),
    st.dictionaries(st.sampled_from(("batch", "prompt_tokens", "output_tokens",
                                     "price_usd_per_hour", "memory_bandwidth_bytes_per_s",
                                     "device_power_w")),
                    st.lists(st.one_of(st.integers(1, 4096), st.floats(0.01, 1e15),
                                       junk_numbers()), min_size=1, max_size=4),
                    min_size=1, max_size=2))


# a junk grid (a 0 that a formula divides by) makes numpy warn on its way to the check
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@fuzz(500)
@given(scenario=st.one_of(st.just("valid"), st.just("valid"), junk_values()), grid=_GRIDS,
       quantities=st.one_of(st.none(), _QUANTITY_LISTS))
def test_junk_into_sweep_gives_a_ridgeline_error_or_physical_arrays(scenario, grid,
                                                                    quantities):
    s = _valid_scenario() if isinstance(scenario, str) and scenario == "valid" else scenario
    result = call(ridgeline.sweep, s, grid, quantities)
    if result is None:
        return
    unknown = [k for k in grid if k not in CATALOG.formulas]
    assert not unknown, f"sweep accepted the unknown name(s) {unknown}"
    check_result(result)
    points = math.prod(len(list(v)) for v in grid.values())
    requested = list(result.values) if quantities is None else list(quantities)
    for name in requested:
        if result.unit(name) in ("table", "object") or name not in result:
            continue
        shape = np.shape(result[name])
        assert math.prod(shape) in (1, points) and (len(grid) > 1 or shape in ((), (points,))
                                                    or points == 1), \
            f"{name} has shape {shape} over a grid of {points} points"


def test_sweep_with_a_name_it_does_not_know_is_an_error():
    # the class the fuzz test above explores, pinned on its simplest member
    with pytest.raises(UnknownNameError):
        ridgeline.sweep(_valid_scenario(), {"bacth": [1, 2]}, ["tpot_s"])


# --------------------------------------------------------------------------- random valid plans


def _powers_of_two_dividing(n, limit):
    return [p for p in (1, 2, 4, 8, 16) if p <= limit and n % p == 0]


def _context(model):
    """Prompt and output tokens within the model's positions, spread over orders of magnitude."""
    # a model without a position limit (state-space models) still gets long contexts
    limit = model.max_seq_len or 262_144

    @st.composite
    def draw_context(draw):
        prompt = draw(st.one_of(st.integers(1, min(limit - 1, 2048)), st.integers(1, limit - 1)))
        output = draw(st.one_of(st.integers(1, min(limit - prompt, 512)),
                                st.integers(1, limit - prompt)))
        return prompt, output
    return draw_context()


@st.composite
def infer_plans(draw):
    """Arguments of a valid ``infer`` call: a preset on a registry accelerator, a tp that divides
    its heads, a pp that divides its layers, a context within its positions, precisions,
    offload, expert parallelism and speculative decoding now and then."""
    model = CATALOG.models[draw(st.sampled_from(MODELS))]
    tp = draw(st.sampled_from(_powers_of_two_dividing(math.gcd(model.num_heads,
                                                               model.kv_heads), 8)))
    prompt, output = draw(_context(model))
    kwargs = {"model": model.id, "on": draw(st.sampled_from(ACCELERATORS)), "tp": tp,
              "pp": draw(st.sampled_from([p for p in (1, 2, 4) if model.num_layers % p == 0])),
              "batch": draw(st.one_of(st.integers(1, 64), st.integers(1, 4096))),
              "prompt": prompt, "output": output}
    for name in ("weights", "kv", "activations"):
        if draw(st.booleans()):
            kwargs[name] = draw(st.sampled_from(PRECISIONS))
    if draw(st.integers(0, 3)) == 0:
        kwargs["offload"] = draw(st.sampled_from(("host", "nvme")))
    if model.family == "moe":
        kwargs["ep"] = draw(st.sampled_from([e for e in (1, 2, 4, 8) if tp % e == 0]))
    if draw(st.integers(0, 5)) == 0:
        same_vocab = [m for m in MODELS if CATALOG.models[m].vocab_size == model.vocab_size]
        kwargs["draft"] = draw(st.sampled_from(same_vocab))
    if draw(st.integers(0, 3)) == 0:
        kwargs["price"] = draw(st.floats(0.01, 100.0))
    return kwargs


@st.composite
def train_plans(draw):
    """Arguments of a valid ``train`` call (the ranges of :func:`infer_plans`, and dp,
    micro-batches, a global batch they divide, ZeRO, recomputation, attention kernels)."""
    model = CATALOG.models[draw(st.sampled_from(MODELS))]
    tp = draw(st.sampled_from(_powers_of_two_dividing(math.gcd(model.num_heads,
                                                               model.kv_heads), 8)))
    pp = draw(st.sampled_from([p for p in (1, 2, 4) if model.num_layers % p == 0]))
    dp = draw(st.sampled_from((1, 2, 4, 8, 64)))
    micro_batch = draw(st.integers(1, 4))
    kwargs = {"model": model.id, "on": draw(st.sampled_from(ACCELERATORS)), "tp": tp, "pp": pp,
              "dp": dp, "micro_batch": micro_batch,
              "global_batch": dp * micro_batch * draw(st.integers(1, 32)),
              "seq": draw(st.one_of(st.integers(1, min(model.max_seq_len or 262_144, 8192)),
                                    st.integers(1, model.max_seq_len or 262_144))),
              "zero": draw(st.integers(0, 3)),
              "recompute": draw(st.sampled_from(("none", "selective", "full"))),
              "attention": draw(st.sampled_from(("flash", "unfused")))}
    if tp > 1:
        kwargs["sp"] = draw(st.booleans())
    if pp > 1 and model.num_layers % (2 * pp) == 0:
        kwargs["interleave"] = draw(st.sampled_from((1, 2)))
    if draw(st.booleans()):
        kwargs["precision"] = draw(st.sampled_from(PRECISIONS))
    if draw(st.integers(0, 3)) == 0:
        kwargs["offload"] = draw(st.sampled_from(("host", "nvme")))
    if model.family == "moe":
        kwargs["ep"] = draw(st.sampled_from([e for e in (1, 2, 4, 8) if tp % e == 0]))
    return kwargs


def _estimate(function, kwargs):
    kwargs = dict(kwargs)
    return call(function, kwargs.pop("model"), **kwargs)


@fuzz(1500)
@given(plan=infer_plans())
def test_valid_inference_plans_give_physical_estimates_and_keep_the_invariants(plan):
    e = _estimate(ridgeline.infer, plan)
    if e is None:
        return
    check_result(e)
    # more devices on the same plan never hold more weight bytes each. With offload the
    # device keeps as many layers resident as fit, so a thinner slice of each layer may mean
    # more resident bytes: there the slice of a layer is what must not grow
    held = "weight_bytes_per_device" if plan.get("offload", "none") == "none" else \
        "weight_bytes_per_layer_per_device"
    wider = _estimate(ridgeline.infer, {**plan, "tp": plan["tp"] * 2})
    if wider is not None and held in wider and held in e:  # else skipped, with the reason
        check_result(wider)
        assert wider[held] <= e[held] * (1 + 1e-9), \
            (f"tp={plan['tp'] * 2} holds {wider[held]} ({held}), tp={plan['tp']} {e[held]}")
    # a bigger batch never makes a decode step shorter
    bigger = _estimate(ridgeline.infer, {**plan, "batch": plan["batch"] * 2})
    if bigger is not None and "decode_step_s" in bigger and "decode_step_s" in e:
        check_result(bigger)
        assert bigger["decode_step_s"] >= e["decode_step_s"] * (1 - 1e-9), \
            (f"batch {plan['batch'] * 2} decodes a step in {bigger['decode_step_s']} s, "
             f"batch {plan['batch']} in {e['decode_step_s']} s")


@fuzz(1500)
@given(plan=train_plans())
def test_valid_training_plans_give_physical_estimates_and_keep_the_invariants(plan):
    e = _estimate(ridgeline.train, plan)
    if e is None:
        return
    check_result(e)
    wider = _estimate(ridgeline.train, {**plan, "tp": plan["tp"] * 2})
    if wider is not None:
        check_result(wider)
        assert wider["weight_bytes_per_device"] <= e["weight_bytes_per_device"] * (1 + 1e-9), \
            (f"tp={plan['tp'] * 2} holds {wider['weight_bytes_per_device']} weight bytes per "
             f"device, tp={plan['tp']} {e['weight_bytes_per_device']}")


@fuzz(300)
@given(plan=train_plans())
def test_flash_attention_stores_fewer_activation_bytes_than_unfused(plan):
    # a fused kernel never stores the s x s scores, which unfused attention keeps for backward;
    # it keeps 4 bytes of softmax statistics per head and token instead, which at a sequence
    # of one token and 1-byte activations outweigh the 2.5 bytes of that one score
    plan = {**plan, "recompute": "none", "seq": max(plan["seq"], 2)}
    flash = _estimate(ridgeline.train, {**plan, "attention": "flash"})
    unfused = _estimate(ridgeline.train, {**plan, "attention": "unfused"})
    if flash is None or unfused is None:
        return
    if flash.get("attention_layers") == 0:  # a pure state-space model: no attention kernel
        assert flash["activation_bytes"] == unfused["activation_bytes"]
        return
    assert flash["activation_bytes"] < unfused["activation_bytes"], \
        f"flash {flash['activation_bytes']} B, unfused {unfused['activation_bytes']} B"


# --------------------------------------------------------------------------- the command line

_WORDS = st.sampled_from(("1", "2", "8", "0", "-1", "-5", "1.5", "1e9", "1e400", "nan", "inf",
                          "max", "4k", "5T", "-5T", "abc", "", "bf16", "fp8", "int4", "h100",
                          "none", "host", "2.49 USD/h", "compute=0.6", "compute=2",
                          "memory=-1", "x=1", "price_usd_per_hour=-1", "batch=0.5", "="))
_FLAGS = {
    "infer": ("--devices", "--tp", "--pp", "--ep", "--batch", "--prompt", "--output",
              "--weights", "--kv", "--activations", "--offload", "--draft", "--gamma",
              "--accept", "--price", "--efficiency", "--set"),
    "train": ("--devices", "--tp", "--pp", "--dp", "--ep", "--micro-batch", "--global-batch",
              "--seq", "--tokens", "--precision", "--interleave", "--zero", "--recompute",
              "--attention", "--offload", "--price", "--efficiency", "--set"),
    "distill": ("--teacher", "--tokens", "--devices", "--tp", "--dp", "--global-batch",
                "--seq", "--precision", "--teacher-tp", "--serve-on", "--batch", "--serve-tp",
                "--serve-price"),
}
_SWITCHES = {"infer": (), "train": ("--sp",), "distill": ()}


@st.composite
def command_lines(draw):
    """``ridgeline`` command lines: a command, a model and accelerator (known or not), and a
    few flags with valid, edge and junk values, in any order, with switches anywhere."""
    command = draw(st.sampled_from(("infer", "train", "distill", "explain infer",
                                    "explain train", "show", "models", "accelerators",
                                    "formulas", "validate")))
    argv = command.split()
    if command in ("models", "accelerators", "formulas"):
        return argv + draw(st.lists(st.sampled_from(("--json", "--debug", "-x")), max_size=1))
    if command == "show":
        return argv + [draw(st.one_of(st.sampled_from(MODELS + ACCELERATORS + QUANTITIES),
                                      _WORDS, st.just("./config.json")))]
    if command == "validate":
        return argv + draw(st.lists(st.sampled_from(("public", "vendor", "nope", "x.toml")),
                                    max_size=1))
    kind = argv[-1]
    model = draw(st.one_of(st.sampled_from(MODELS), _WORDS, st.just("missing/config.json")))
    argv += [model, "--on", draw(st.one_of(st.sampled_from(ACCELERATORS), _WORDS))]
    for flag in draw(st.lists(st.sampled_from(_FLAGS[kind]), max_size=4)):
        argv += [flag, draw(st.one_of(_WORDS, st.integers(-3, 64).map(str)))]
    argv += draw(st.lists(st.sampled_from(_SWITCHES[kind] + ("--json",)), max_size=1,
                          unique=True))
    if command.startswith("explain"):
        argv += ["--quantity", draw(st.one_of(st.sampled_from(QUANTITIES), _WORDS))]
    return argv


def run_cli(argv):
    """``main(argv)`` in process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module", autouse=True)
def _no_debug_from_the_environment():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RIDGELINE_DEBUG", raising=False)
        yield


def _numbers(data):
    """Every number in parsed JSON, with its path."""
    if isinstance(data, dict):
        for k, v in data.items():
            for path, x in _numbers(v):
                yield f"{k}.{path}" if path else k, x
    elif isinstance(data, list):
        for v in data:
            yield from _numbers(v)
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield "", data


@fuzz(1000)
@given(argv=command_lines())
def test_command_line_never_raises_or_prints_a_traceback(argv):
    code, out, err = run_cli(argv)
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1, 2, None), code
    if code == 0 and "--json" in argv and argv[0] in ("infer", "train"):
        for path, x in _numbers(json.loads(out).get("values", {})):
            assert math.isfinite(x) and x >= 0, f"{path} = {x} in the JSON output"
    if argv[0] in ("infer", "train") and "--json" not in argv:
        # a result is a result whichever way it is printed
        assert run_cli(argv + ["--json"])[0] == code, "exit status changes with --json"
