"""Fuzzing ``serve()`` and ``ridgeline serve``: junk in, random valid deployments in.

As for the other public functions (tests/test_fuzz.py): a call either returns an estimate whose
every value is physically possible or raises a :class:`ridgeline.RidgelineError`; on valid
deployments the serving invariants hold too (more in flight never lowers the throughput of a
closed loop nor shortens its iterations; Little's law; the mean whole request at least the
mean time to first token; a deployment that keeps up serves what arrives).
"""

import contextlib
import io
import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import ridgeline
from ridgeline.cli import main
from ridgeline.testing import physical_problems
from ridgeline.testing.strategies import junk_numbers, junk_values

from test_fuzz import ACCELERATORS, MODELS, call, fuzz, junk_kwargs

_COUNTS = st.one_of(junk_values(), st.integers(-2, 4096))
_TIMES = st.one_of(junk_values(), junk_numbers(), st.sampled_from(
    ("300ms", "1 s", "10ms", "0", "-1s", "soon", "1e9 s")))

SERVE_JUNK = {
    "model": st.one_of(junk_values(), st.sampled_from(MODELS)),
    "on": st.one_of(junk_values(), st.sampled_from(ACCELERATORS)),
    "devices": _COUNTS, "tp": _COUNTS, "pp": _COUNTS, "ep": _COUNTS,
    "prompt": _COUNTS, "output": _COUNTS,
    "concurrency": _COUNTS, "rate": st.one_of(junk_values(), junk_numbers(),
                                              st.sampled_from(("2.5", "2.5/s", "fast"))),
    "users": _COUNTS, "think_time": _TIMES, "tokens_per_day": st.one_of(
        junk_values(), junk_numbers(), st.sampled_from(("2B", "1e12", "-5"))),
    "max_batch": _COUNTS, "max_tokens": _COUNTS, "block_tokens": _COUNTS,
    "admission": st.one_of(junk_values(), st.sampled_from(("reserve", "on-demand"))),
    "ttft": _TIMES, "tpot": _TIMES, "percentile": st.one_of(junk_values(), junk_numbers(),
                                                          st.sampled_from(("p99", "50"))),
    "weights": st.one_of(junk_values(), st.sampled_from(("fp8", "int4", "bf16"))),
    "kv": st.one_of(junk_values(), st.sampled_from(("fp8", "bf16"))),
    "disagg": st.one_of(junk_values(), st.sampled_from(
        ("prefill=1x(tp=1),decode=1x(tp=2)", "prefill=2x(tp=1)", "decode=1x(tp=4),"))),
}

GPUS = ("h100", "h200", "a100", "mi300x", "l40s", "b200")
SMALL = ("llama-3.1-8b", "llama-3.2-1b", "mistral-7b", "qwen3-30b-a3b", "deepseek-v2-lite",
         "mixtral-8x7b", "llama-3-70b")


def check_serving(e):
    problems = physical_problems(e)
    v = e.values
    if "e2e_latency_s" in v and "ttft_mean_s" in v:
        if v["e2e_latency_s"] < v["ttft_mean_s"] * (1 - 1e-9):
            problems.append(f"whole request {v['e2e_latency_s']} s shorter than its mean time "
                            f"to first token {v['ttft_mean_s']} s")
    assert not problems, "\n".join(problems)


@fuzz(400)
@given(data=st.data())
def test_junk_into_serve_gives_a_ridgeline_error_or_a_physical_estimate(data):
    kwargs = data.draw(junk_kwargs({"model": "llama-3.1-8b", "on": "h100", "devices": 1},
                                   SERVE_JUNK), label="kwargs")
    result = call(ridgeline.serve, kwargs.pop("model"), **kwargs)
    if result is None:
        return
    if isinstance(result, ridgeline.Estimate):
        check_serving(result)
    else:  # a disaggregated deployment
        for name, value in result.values.items():
            assert math.isfinite(value) and value >= 0, (name, value)


@st.composite
def deployments(draw):
    tp = draw(st.sampled_from((1, 2, 4, 8)))
    kwargs = dict(model=draw(st.sampled_from(SMALL)), on=draw(st.sampled_from(GPUS)), tp=tp,
                  devices=tp * draw(st.integers(1, 4)),
                  prompt=draw(st.integers(1, 20_000)), output=draw(st.integers(1, 4000)),
                  max_batch=draw(st.sampled_from((1, 64, 256, 2048))),
                  max_tokens=draw(st.sampled_from((512, 2048, 8192, 32768))),
                  admission=draw(st.sampled_from(("reserve", "on-demand"))),
                  price=2.0, inputs={"device_power_w": 700.0},
                  weights=draw(st.sampled_from((None, "fp8", "int4"))))
    load = draw(st.sampled_from(("saturation", "concurrency", "rate", "users")))
    if load == "concurrency":
        kwargs["concurrency"] = draw(st.integers(1, 3000))
    elif load == "rate":
        kwargs["rate"] = draw(st.floats(0.01, 500))
    elif load == "users":
        kwargs["users"] = draw(st.integers(1, 5000))
        kwargs["think_time"] = draw(st.floats(0, 60))
    if draw(st.booleans()):
        kwargs["ttft"] = draw(st.floats(0.01, 10))
        kwargs["tpot"] = draw(st.floats(0.001, 0.5))
        kwargs["percentile"] = draw(st.sampled_from((50, 90, 99)))
    return kwargs


@fuzz(300)
@given(plan=deployments())
def test_valid_deployments_give_physical_estimates_and_keep_the_invariants(plan):
    kwargs = dict(plan)
    e = call(ridgeline.serve, kwargs.pop("model"), **kwargs)
    if e is None:
        return
    check_serving(e)
    v = e.values
    w = e.scenario.workload
    if not v.get("fits"):  # does not fit, or cannot say (the skipped reasons say why)
        return
    if w.load in ("saturation", "concurrency") and "e2e_latency_s" in v and "batch" in v:
        # Little's law over the replicas' slots
        in_flight = v["batch"] * v["replicas"]
        assert math.isclose(v["requests_per_s"] * (v["e2e_latency_s"] - v["queue_wait_s"]),
                            in_flight, rel_tol=1e-6)
    if w.load == "rate" and v.get("stable") and "requests_per_s" in v:
        assert math.isclose(v["requests_per_s"], w.rate_per_s, rel_tol=1e-9)


@fuzz(150)
@given(plan=deployments(), factor=st.sampled_from((2, 4)))
def test_more_in_flight_never_lowers_a_closed_loops_throughput(plan, factor):
    kwargs = {k: v for k, v in plan.items() if k not in ("rate", "users", "think_time", "ttft",
                                                         "tpot", "percentile", "concurrency")}
    model = kwargs.pop("model")
    small = call(ridgeline.serve, model, concurrency=kwargs["devices"] // kwargs["tp"],
                 **kwargs)
    large = call(ridgeline.serve, model, concurrency=factor * kwargs["devices"] // kwargs["tp"],
                 **kwargs)
    wanted = ("fits", "throughput_tokens_per_s", "tpot_mean_s")
    if small is None or large is None or not all(q in e for e in (small, large) for q in wanted) \
            or not small["fits"] or not large["fits"]:
        return  # does not fit, or cannot say (the skipped reasons say why)
    assert large["throughput_tokens_per_s"] >= small["throughput_tokens_per_s"] * (1 - 1e-9)
    assert large["tpot_mean_s"] >= small["tpot_mean_s"] * (1 - 1e-9)


_SERVE_FLAGS = ("--devices", "--tp", "--pp", "--prompt", "--output", "--concurrency", "--rate",
                "--users", "--think-time", "--tokens-per-day", "--max-batch", "--max-tokens",
                "--block-tokens", "--ttft", "--tpot", "--percentile", "--weights", "--kv",
                "--admission", "--disagg", "--requests")
_FLAG_VALUES = st.sampled_from(("1", "0", "-3", "2.5", "1e9", "abc", "", "300ms", "fp8", "nan",
                                "prefill=1x(tp=1),decode=1x(tp=1)", "on-demand", "99"))


@fuzz(250)
@given(flags=st.lists(st.tuples(st.sampled_from(_SERVE_FLAGS), _FLAG_VALUES), max_size=4),
       switches=st.lists(st.sampled_from(("--json", "--simulate")), max_size=2, unique=True))
def test_the_serve_command_never_prints_a_traceback(flags, switches):
    argv = ["serve", "llama-3.2-1b", "--on", "h100", "--requests", "200"]
    for flag, value in flags:
        argv += [flag, value]
    argv += switches
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue(), \
        (argv, err.getvalue())
    if status == 0 and "--json" in switches:
        data = json.loads(out.getvalue())
        for name, value in data["values"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert np.isfinite(value) and value >= 0, (argv, name, value)
