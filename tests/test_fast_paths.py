"""The fast paths of single estimates give exactly what the general paths give.

Each shortcut taken for plain floats (the roofline without numpy, the engine's finiteness
check on locals, cached features, plans, parsed strings and catalog look-ups) is compared
here with the general computation it stands for, so a shortcut can never change a number or
let a bad value through.
"""

import copy
import math
import pickle
import types

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline import api, units
from ridgeline.engine import Program, _bad_value, _quick_check, estimate, evaluate, sweep
from ridgeline.errors import FormulaError, ScenarioError
from ridgeline.loader import unstructure
from ridgeline.plugin import Operation, formula, operations_time_s, roofline_s, total
from ridgeline.scenario import InferenceWorkload, Plan, Scenario, System, TrainingWorkload
from ridgeline.testing.strategies import scenarios

FINITE = st.floats(min_value=0.0, max_value=1e30, allow_nan=False, allow_infinity=False)
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
COUNTS = st.one_of(st.integers(min_value=1, max_value=200), FINITE)


def operations(fields=FINITE):
    return st.builds(Operation, st.sampled_from(("qkv_proj", "attention", "mlp", "lm_head")),
                     flops=fields, weight_bytes=fields, activation_bytes=fields,
                     kv_bytes=fields, count=COUNTS)


def reference_roofline_s(op, flops_per_s, bytes_per_s):
    """The roofline as numpy computes it (the general path for arrays)."""
    return op.count * np.maximum(op.flops / flops_per_s, op.bytes / bytes_per_s)


def same(a, b) -> bool:
    """Equal to the bit, NaN included."""
    return (math.isnan(a) and math.isnan(b)) or a == b


# --------------------------------------------------------------------------- operations


def test_operation_keeps_its_fields_keywords_and_defaults():
    op = Operation("mlp", flops=6.0, weight_bytes=2.0, activation_bytes=3.0, count=32)
    assert (op.name, op.flops, op.weight_bytes, op.activation_bytes, op.kv_bytes, op.count) \
        == ("mlp", 6.0, 2.0, 3.0, 0.0, 32)
    assert op.bytes == 5.0 and op.intensity == 6.0 / 5.0
    assert Operation("x", 1.0) == Operation(name="x", flops=1.0, weight_bytes=0.0,
                                            activation_bytes=0.0, kv_bytes=0.0, count=1)
    assert hash(Operation("x", 1.0)) == hash(Operation("x", 1.0))
    assert op._replace(count=1).count == 1 and op.count == 32


def test_operation_is_immutable():
    op = Operation("mlp", flops=1.0)
    with pytest.raises(AttributeError):
        op.flops = 2.0


@settings(max_examples=200, deadline=None)
@given(operations(ANY_FLOAT), ANY_FLOAT.filter(lambda x: x != 0), ANY_FLOAT.filter(
    lambda x: x != 0))
def test_roofline_of_floats_is_numpys_to_the_bit(op, flops_per_s, bytes_per_s):
    with np.errstate(all="ignore"):
        fast = roofline_s(op, flops_per_s, bytes_per_s)
        slow = reference_roofline_s(op, flops_per_s, bytes_per_s)
    assert type(fast) is float or not isinstance(op.count, int)
    assert same(float(fast), float(slow))


@settings(max_examples=100, deadline=None)
@given(st.lists(operations(), min_size=1, max_size=9), st.floats(1e9, 1e16),
       st.floats(1e9, 1e13), st.floats(0.0, 1e-4))
def test_operations_time_is_the_sum_of_numpy_rooflines_to_the_bit(ops, flops_per_s,
                                                                  bytes_per_s, overhead_s):
    expected = sum(reference_roofline_s(op, flops_per_s, bytes_per_s) + op.count * overhead_s
                   for op in ops)
    assert operations_time_s(ops, flops_per_s, bytes_per_s, overhead_s) == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(operations(), min_size=1, max_size=7), st.floats(1e9, 1e16),
       st.floats(1e9, 1e13))
def test_operations_time_of_arrays_matches_each_point(ops, flops_per_s, bytes_per_s):
    rates = np.array([flops_per_s, flops_per_s * 2, flops_per_s / 3])
    batch = operations_time_s(ops, rates, bytes_per_s, 1e-6)
    assert batch.shape == (3,)
    for i, rate in enumerate(rates):
        assert batch[i] == pytest.approx(operations_time_s(ops, float(rate), bytes_per_s, 1e-6),
                                         rel=1e-12)


def test_nan_is_kept_by_the_float_roofline():
    assert math.isnan(roofline_s(Operation("x", float("nan")), 1.0, 1.0))
    assert math.isnan(roofline_s(Operation("x", 1.0, weight_bytes=float("nan")), 1.0, 1.0))
    assert math.isnan(operations_time_s([Operation("x", float("nan"))], 1.0, 1.0, 0.0))


@settings(max_examples=100, deadline=None)
@given(st.lists(operations(), max_size=9), st.sampled_from(("flops", "bytes", "kv_bytes")))
def test_total_is_the_sum_over_occurrences(ops, field):
    assert total(ops, field) == sum(getattr(op, field) * op.count for op in ops)


# --------------------------------------------------------------------------- engine checks

ODD_VALUES = st.one_of(
    st.floats(-1e300, 1e300), st.integers(-10**400, 10**400), st.booleans(),
    st.sampled_from([float("inf"), float("-inf"), float("nan"), None, "text", 0.0, -0.0,
                     0.5, 1.0, 2.0, 1j, np.complex128(1.0), {}, [1, 2], object(),
                     np.float64("nan"), np.float64(-1.0), np.float64(2.0), np.int64(3),
                     np.bool_(True), np.array(2.0), np.array([1.0, 2.0]),
                     np.array([1.0, np.nan]), np.array([-1.0, 1.0]), np.array([3.0])]))

#: (unit, domain) pairs: a time, every domain of a dimensionless quantity, and a table.
KINDS = (("s", None), ("", "real"), ("", "nonnegative"), ("", "count"), ("", "whole"),
         ("", "fraction"), ("", "flag"), ("table", None))


def _program(values, units):
    """A program of one formula per value, each returning its value, chained so that every
    formula runs; ``units`` holds (unit, domain) pairs (see ``KINDS``), or a bare unit."""
    steps = []
    for i, (value, unit) in enumerate(zip(values, units)):
        unit, domain = unit if isinstance(unit, tuple) else (unit, None)
        name = f"q{i}_s" if unit == "s" else f"q{i}"
        previous = steps[-1].produces if steps else "workload"
        f = formula(name, unit=unit or "", domain=domain)(
            eval(f"lambda {previous}, _v=None: _v"))
        f = attrs.evolve(f, function=(lambda *a, _v=value: _v), params=(previous,))
        steps.append(f)
    return Program(("toy", "gpu", "inference", frozenset()), steps, frozenset(),
                   tuple(f.produces for f in steps), {})


SCENARIO = types.SimpleNamespace(model=None, system=None, plan=None, workload=None)


# the odd values include inf - inf on purpose: numpy's warning about it is expected here
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(ODD_VALUES, st.sampled_from(KINDS)), min_size=1, max_size=12))
def test_the_fast_check_rejects_exactly_what_the_full_check_rejects(items):
    values = [v for v, _ in items]
    units = [u for _, u in items]
    program = _program(values, units)
    bad = any(_bad_value(v, f.domain) for v, f in zip(values, program.steps))
    if bad:
        with pytest.raises(FormulaError):
            evaluate(program, SCENARIO)
    else:
        out = evaluate(program, SCENARIO)
        assert all(out[f.produces] is v for f, v in zip(program.steps, values))
    # the fast check never passes what the reference quick check fails
    filled = program.run({})
    if program._run_checked({}):
        assert _quick_check(program, filled) and not bad


def test_the_fast_check_covers_hundreds_of_quantities():
    values = [1.0] * 349 + [float("nan")]
    program = _program(values, [""] * 350)
    with pytest.raises(FormulaError, match="q349"):
        evaluate(program, SCENARIO)
    assert _program([1.0] * 350, ["s"] * 350)._run_checked({})


def test_a_step_that_raises_leaves_the_values_as_they_were():
    program = _program([1.0, 2.0], ["", ""])
    boom = attrs.evolve(program.steps[1], function=lambda *a: 1 / 0)
    program = Program(program.features, [program.steps[0], boom], frozenset(),
                      program.targets, {})
    values = {"workload": None}
    with pytest.raises(ZeroDivisionError):
        program.run(values)
    assert values == {"workload": None}


# --------------------------------------------------------------------------- real estimates


@pytest.fixture(scope="module")
def catalog():
    return ridgeline.default_catalog()


def test_a_sweep_equals_single_estimates_through_the_float_paths(catalog):
    s = api.infer_scenario("llama-2-7b", on="h100", batch=4, prompt=1000, catalog=catalog)
    quantities = ["tpot_s", "ttft_s", "prefill_compute_s", "decode_compute_s"]
    grid = sweep(s, {"batch": [1, 7, 64], "prompt_tokens": [128, 3000]}, quantities,
                 catalog=catalog)
    for i, batch in enumerate((1, 7, 64)):
        for j, prompt in enumerate((128, 3000)):
            one = estimate(s, quantities, catalog=catalog,
                           inputs={"batch": float(batch), "prompt_tokens": float(prompt)})
            for q in quantities:
                assert grid[q][i, j] == pytest.approx(one[q], rel=1e-12), (q, batch, prompt)
                assert type(one[q]) is float


def test_estimates_repeat_exactly(catalog):
    first = ridgeline.train("llama-2-7b", on="h100", tp=2, dp=2, global_batch=64)
    again = ridgeline.train("llama-2-7b", on="h100", tp=2, dp=2, global_batch=64)
    assert first.values.keys() == again.values.keys()
    assert all(first[q] == again[q] for q in first.values)


def test_default_catalog_follows_the_environment(catalog, monkeypatch):
    assert ridgeline.default_catalog() is catalog
    assert ridgeline.default_catalog(()) is catalog
    monkeypatch.setenv("RIDGELINE_DISABLE_PLUGINS", "nothing-by-this-name")
    assert ridgeline.default_catalog() is not catalog
    monkeypatch.delenv("RIDGELINE_DISABLE_PLUGINS")
    assert ridgeline.default_catalog() is catalog


# --------------------------------------------------------------------------- cached features


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_cached_features_are_the_computed_ones(s):
    expected = (s.model.family, s.system.accelerator.kind, s.workload.kind,
                s.plan._compute_features() | s.model.features() | s.workload.features())
    assert s.features() == expected
    assert s.features() is s.features()
    # attrs copies and pickles fields only: the features are computed again on first use
    # (a Scenario does not pickle: its model's options are a read-only mapping)
    assert copy.copy(s).features() == expected
    assert pickle.loads(pickle.dumps(s.plan)).features() == s.plan._compute_features()


def test_cached_features_stay_out_of_the_value():
    plan = Plan(tp=2, sp=True)
    assert "_features" not in attrs.asdict(plan) and "_features" not in unstructure(plan)
    assert plan == Plan(tp=2, sp=True) and hash(plan) == hash(Plan(tp=2, sp=True))
    assert "_features" not in repr(plan)
    evolved = attrs.evolve(plan, tp=1, sp=False)
    assert "tp" in plan.features() and "tp" not in evolved.features()
    assert "sp" not in evolved.features()


def test_a_changed_workload_changes_the_scenarios_features():
    acc = ridgeline.default_catalog().accelerator("h100")
    model = ridgeline.default_catalog().model("llama-2-7b")
    s = Scenario(model=model, system=System(acc), workload=InferenceWorkload())
    speculative = attrs.evolve(s, workload=InferenceWorkload(draft=model))
    assert "speculative" not in s.features()[3]
    assert "speculative" in speculative.features()[3]
    assert "speculative" not in attrs.evolve(speculative, workload=TrainingWorkload()) \
        .features()[3]


# --------------------------------------------------------------------------- api helpers


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(min_value=-5, max_value=2**60), st.floats(0.5, 1e18),
                 st.sampled_from(["1B", "300B", "1.4T", "7M", "1e9", "12,000", "0", "1.5",
                                  "-3", "x"])))
def test_count_of_an_int_is_the_general_paths(value):
    def general(v):
        number = units.parse_count(v, what="n")
        if number != int(number) or number < 1:
            raise ScenarioError("bad")
        return int(number)
    try:
        expected = general(value)
    except ScenarioError:
        with pytest.raises(ScenarioError):
            api._count(value, "n")
        return
    assert api._count(value, "n") == expected


def test_parsed_strings_are_remembered_but_errors_are_not():
    assert units.parse("3.35 TB/s", "bytes_per_s") == 3.35e12
    assert units.parse("3.35 TB/s", "bytes_per_s") == 3.35e12
    assert units.parse("3.35 TB", "bytes") == 3.35e12
    with pytest.raises(ScenarioError, match="^first:"):
        units.parse("3 parsecs", "bytes", what="first")
    with pytest.raises(ScenarioError, match="^second:"):
        units.parse("3 parsecs", "bytes", what="second")
    with pytest.raises(KeyError):
        units.parse(3.0, "no-such-dimension")


def test_parse_cache_is_bounded():
    for i in range(units._PARSED_MAX + 10):
        assert units.parse(f"{i} GB", "bytes") == i * 1e9
    assert len(units._PARSED) <= units._PARSED_MAX


def test_plans_are_shared_only_when_equal_and_systems_are_plain():
    assert api._plan(tp=2, pp=1) is api._plan(tp=2, pp=1)
    assert api._plan(tp=2, pp=1) == Plan(tp=2, pp=1)
    assert api._plan(tp=1, zero=0) is not api._plan(tp=1, zero=False)
    acc = ridgeline.default_catalog().accelerator("h100")
    assert api._plain_system(acc, 4) == System(acc, devices=4)
    assert api._plain_system(acc, 2).devices == 2
    other = attrs.evolve(acc, price_usd_per_hour=123.0)
    assert api._plain_system(other, 4).accelerator is other


def test_plain_and_where_give_floats_for_numbers_and_arrays_for_arrays():
    from ridgeline.plugin import plain, where
    assert type(plain(np.float64(2.5))) is float and plain(np.float64(2.5)) == 2.5
    array = np.array([1.0, 2.0])
    assert plain(array) is array
    assert type(where(True, 1.0, 2.0)) is float and where(False, 1.0, 2.0) == 2.0
    assert where(np.float64(3.0) > 2.0, np.float64(1.0), 0.0) == 1.0
    np.testing.assert_array_equal(where(array > 1.5, array, 0.0), np.where(array > 1.5, array, 0.0))


# --------------------------------------------------------------------------- static values


@pytest.fixture(scope="module")
def fresh_catalog():
    return ridgeline.catalog.build_catalog()


def _fresh_estimate(catalog, scenario):
    """The estimate a program that keeps no static values gives: each is computed anew."""
    for cached in catalog._cache.values():
        if isinstance(cached, Program):
            cached._statics.clear()
    return estimate(scenario, catalog=catalog)


def test_static_steps_depend_only_on_model_system_and_plan(catalog):
    s = api.infer_scenario("llama-2-7b", on="h100", tp=2, batch=4, catalog=catalog)
    program = estimate(s, catalog=catalog).program
    static = {"model", "system", "plan"} | {f.produces for f in program.static_steps}
    assert program.static_steps and program.dynamic_steps
    assert all(static.issuperset(f.params) for f in program.static_steps)
    assert all(not static.issuperset(f.params) for f in program.dynamic_steps)
    assert {"params", "weight_bytes", "dense_shard"} <= static
    assert {"batch", "tpot_s", "decode_operations"}.isdisjoint(static)
    assert len(program.static_steps) + len(program.dynamic_steps) == len(program.steps)


def test_static_values_are_computed_once_per_model_system_and_plan(catalog):
    s = api.infer_scenario("llama-2-7b", on="h100", batch=4, catalog=catalog)
    program = estimate(s, catalog=catalog).program
    first, ok = program.static_values(s.model, s.system, s.plan)
    assert ok and program.static_values(s.model, s.system, s.plan)[0] is first
    other = attrs.evolve(s, workload=InferenceWorkload(batch=9, prompt_tokens=77))
    assert estimate(other, catalog=catalog)["dense_shard"] is first["dense_shard"]
    # an equal but distinct model is another key (identity), with equal values
    twin = attrs.evolve(s.model)
    again, _ = program.static_values(twin, s.system, s.plan)
    assert again is not first and again.keys() == first.keys()
    assert all(again[q] == first[q] for q in first)


@settings(max_examples=40, deadline=None)
@given(scenarios(), st.integers(1, 64), st.integers(1, 4000))
def test_kept_static_values_give_what_a_fresh_catalog_gives(catalog, fresh_catalog, s, batch,
                                                             tokens):
    """Whatever an earlier estimate left behind, every value equals a first estimate's."""
    warm = estimate(s, catalog=catalog)
    if s.workload.kind == "inference":
        changed = attrs.evolve(s.workload, batch=batch, prompt_tokens=tokens)
    else:
        changed = attrs.evolve(s.workload, seq_len=tokens)
    s2 = attrs.evolve(s, workload=changed)
    for scenario in (s, s2):
        kept = estimate(scenario, catalog=catalog)
        fresh = _fresh_estimate(fresh_catalog, scenario)
        assert kept.values.keys() == fresh.values.keys() and kept.skipped == fresh.skipped
        for q in fresh.values:
            assert kept[q] == fresh[q] or (isinstance(fresh[q], float) and
                                           math.isnan(fresh[q]) and math.isnan(kept[q])), q
    assert warm.values.keys() == _fresh_estimate(fresh_catalog, s).values.keys()


def test_given_inputs_are_never_taken_from_kept_values(catalog):
    s = api.infer_scenario("llama-2-7b", on="h100", batch=4, catalog=catalog)
    plain = estimate(s, ["decode_compute_s"], catalog=catalog)["decode_compute_s"]
    slow = estimate(s, ["decode_compute_s"], catalog=catalog,
                    inputs={"memory_bandwidth_bytes_per_s": 1e12})["decode_compute_s"]
    assert slow > 2 * plain
    assert estimate(s, ["decode_compute_s"], catalog=catalog)["decode_compute_s"] == plain


def _static_toy_catalog(bad_value, raises=False, calls=None):
    from ridgeline.catalog import build_catalog
    from ridgeline.plugin import hookimpl

    @formula(unit="")
    def toy_static(model):
        if calls is not None:
            calls.append(1)
        if raises:
            raise ScenarioError("toy_static: no such figure for this device")
        return bad_value

    @formula(unit="")
    def toy_dynamic(toy_static, workload):
        return toy_static * workload.batch

    class Toy:
        @hookimpl
        def ridgeline_register_formulas(self, register):
            register(toy_static)
            register(toy_dynamic)

    return build_catalog(plugins=[Toy()], entry_points=False, builtins=False)


def test_a_static_value_that_fails_the_check_is_not_kept():
    calls = []
    cat = _static_toy_catalog(float("nan"), calls=calls)
    s = Scenario(model=ridgeline.default_catalog().model("llama-2-7b"),
                 system=System(ridgeline.default_catalog().accelerator("h100")))
    for _ in range(2):
        with pytest.raises(FormulaError, match="toy_static"):
            estimate(s, ["toy_dynamic"], catalog=cat)
    assert len(calls) == 2


def test_a_static_step_that_raises_is_skipped_on_every_estimate():
    calls = []
    cat = _static_toy_catalog(1.0, raises=True, calls=calls)
    s = Scenario(model=ridgeline.default_catalog().model("llama-2-7b"),
                 system=System(ridgeline.default_catalog().accelerator("h100")))
    for _ in range(2):
        before = len(calls)
        e = estimate(s, catalog=cat)
        assert "toy_dynamic" in e.skipped and "no such figure" in e.skipped["toy_dynamic"]
        with pytest.raises(ScenarioError, match="no such figure"):
            estimate(s, ["toy_dynamic"], catalog=cat)
        assert len(calls) >= before + 2  # tried again by each estimate: nothing was kept


def test_static_values_are_kept_for_a_bounded_number_of_triples(catalog):
    from ridgeline import engine
    s = api.infer_scenario("llama-2-7b", on="h100", batch=4, catalog=catalog)
    program = estimate(s, catalog=catalog).program
    models = [attrs.evolve(s.model, name=f"copy {i}") for i in range(engine._STATIC_CACHE_SIZE + 5)]
    for m in models:
        program.static_values(m, s.system, s.plan)
    assert len(program._statics) <= engine._STATIC_CACHE_SIZE


# --------------------------------------------------------------------------- tables


@settings(max_examples=100, deadline=None)
@given(st.lists(operations(), max_size=6))
def test_table_builds_the_operations_of_its_rows(ops):
    from ridgeline.plugin import table
    built = table(*(tuple(op) for op in ops))
    assert built == tuple(ops)
    assert all(type(op) is Operation for op in built)


@settings(max_examples=100, deadline=None)
@given(st.lists(operations(), max_size=6), st.lists(operations(), max_size=4))
def test_a_table_reads_as_the_tuple_of_its_operations(ops, more):
    from ridgeline.plugin import Table, concat, rows, table
    built = table(*(tuple(op) for op in ops))
    assert isinstance(built, Table) and isinstance(built, tuple)
    assert len(built) == len(ops) and list(built) == list(ops) and tuple(built) == tuple(ops)
    assert all(type(built[i]) is Operation and built[i] == op for i, op in enumerate(ops))
    assert all(type(op) is tuple for op in rows(built))  # the rows as given, unnamed
    assert hash(built) == hash(tuple(ops))
    assert repr(built) == repr(tuple(ops))
    other = table(*(tuple(op) for op in more))
    joined = built + other
    assert type(joined) is Table and joined == tuple(ops) + tuple(more)
    assert all(type(op) is Operation for op in joined)
    assert type(tuple(more) + built) is Table and tuple(more) + built == tuple(more) + tuple(ops)
    assert concat(built, other, built) == built + other + built
    assert type(concat(built, other)) is Table and concat(built, other) == joined
    assert type(built[1:]) is Table and built[1:] == tuple(ops)[1:]
    assert type(built * 2) is Table and built * 2 == tuple(ops) * 2
    copied = pickle.loads(pickle.dumps(built))
    assert type(copied) is Table and copied == built
    assert copy.deepcopy(built) == built


def test_rows_of_any_iterable_of_operations():
    from ridgeline.plugin import rows
    ops = [Operation("a", 1.0), Operation("b", 2.0)]
    assert list(rows(ops)) == ops and list(rows(tuple(ops))) == ops


def test_operations_of_an_estimate_read_by_name(catalog):
    e = ridgeline.infer("llama-2-7b", on="h100", batch=8, catalog=catalog)
    names = [op.name for op in e["decode_operations"]]
    assert names == ["qkv_proj", "attention", "out_proj", "mlp", "norms_residual",
                     "embedding", "lm_head"]
    assert e["decode_operations"][3].flops == e["decode_mlp_operations"][0].flops > 0


def test_table_rejects_a_row_without_six_fields():
    from ridgeline.plugin import table
    with pytest.raises(ValueError, match="six fields"):
        table(("mlp", 1.0, 2.0, 3.0, 0.0))


def test_total_names_an_unknown_field():
    with pytest.raises(ValueError, match="no operation field 'flop'"):
        total((Operation("x", 1.0),), "flop")


def test_the_first_decode_step_shares_the_decode_steps_parts_only_when_equal(catalog):
    e = ridgeline.infer("llama-2-7b", on="h100", batch=8, prompt=300, catalog=catalog)
    assert e["first_decode_mlp_operations"] is e["decode_mlp_operations"]
    assert e["first_decode_other_operations"] is e["decode_other_operations"]
    from ridgeline.plugins.architectures.dense_operations import DenseShard, mlp_table
    shard = DenseShard.of(e.scenario.model, 1)
    assert e["first_decode_mlp_operations"] == mlp_table(shard, shard.layers, 8)
    # speculative decoding feeds gamma + 1 tokens per decode step: the first step is its own
    s = api.infer_scenario("llama-3-70b", on="h100", tp=4, batch=8, draft="llama-3.2-1b",
                           gamma=3, catalog=catalog)
    spec = estimate(s, catalog=catalog)
    assert spec["decode_new_tokens"] == 4.0
    assert spec["first_decode_mlp_operations"] != spec["decode_mlp_operations"]
    assert spec["first_decode_mlp_operations"][0].flops * 4 == \
        pytest.approx(spec["decode_mlp_operations"][0].flops)


@settings(max_examples=200, deadline=None)
@given(st.one_of(ANY_FLOAT, st.integers(-10, 10)), st.one_of(ANY_FLOAT, st.integers(-10, 10)))
def test_maximum_and_minimum_of_numbers_are_numpys_as_plain_floats(a, b):
    from ridgeline.plugin import maximum, minimum
    for fast, slow in ((maximum, np.maximum), (minimum, np.minimum)):
        got = fast(a, b)
        assert type(got) is float
        assert same(got, float(slow(a, b)))
    array = np.array([1.0, -2.0, np.nan])
    np.testing.assert_array_equal(maximum(array, 0.0), np.maximum(array, 0.0))
    np.testing.assert_array_equal(minimum(array, 0.0), np.minimum(array, 0.0))


def test_structured_values_stay_out_of_the_numbers(catalog):
    from ridgeline.commands import _estimate_json
    e = ridgeline.infer("llama-2-7b", on="h100", tp=2, batch=4, catalog=catalog)
    data = _estimate_json(e)
    assert "dense_shard" not in data["values"] and "dense_shard" not in data["units"]
    assert data["objects"]["dense_shard"]["heads"] == 16.0
    assert all(isinstance(v, (int, float)) for v in data["values"].values())
    assert "DenseShard(tp=2, hidden=4096," in e.explain("decode_attention_operations")


# --------------------------------------------------------------------------- kept setups


def test_a_kept_setup_still_refuses_what_the_first_call_would(catalog):
    ridgeline.infer("llama-2-7b", on="h100", tp=1, catalog=catalog)
    ridgeline.train("llama-2-7b", on="h100", tp=1, catalog=catalog)
    for bad in (True, 1.5, "x", None):
        with pytest.raises(ScenarioError, match="^tp"):
            ridgeline.infer("llama-2-7b", on="h100", tp=bad, catalog=catalog)
        with pytest.raises(ScenarioError, match="^tp"):
            ridgeline.train("llama-2-7b", on="h100", tp=bad, catalog=catalog)
    with pytest.raises(ScenarioError, match="zero must be 0, 1, 2 or 3"):
        ridgeline.train("llama-2-7b", on="h100", zero=True, catalog=catalog)
    # equal arguments of another type give what the first call gives
    assert ridgeline.infer("llama-2-7b", on="h100", tp=2.0, catalog=catalog).tpot_s == \
        ridgeline.infer("llama-2-7b", on="h100", tp=2, catalog=catalog).tpot_s


def test_kept_setups_are_the_same_values_as_fresh_ones(catalog):
    kept = [ridgeline.infer("llama-2-7b", on="h100", tp=2, batch=b, catalog=catalog)
            for b in (1, 2, 1)]
    assert kept[0].scenario.plan is kept[1].scenario.plan  # built once
    fresh = api.infer_scenario(ridgeline.default_catalog().model("llama-2-7b"), on="h100",
                               tp=2, batch=1, catalog=catalog, efficiency={"compute": 0.5})
    assert fresh.plan == kept[0].scenario.plan
    for e in kept + [ridgeline.train("llama-2-7b", on="h100", tp=2, catalog=catalog)]:
        s = e.scenario
        assert s.features() == Scenario(s.model, s.system, s.plan, s.workload).features()


def test_a_model_read_from_a_file_is_read_again(tmp_path, catalog):
    import json
    path = tmp_path / "config.json"
    config = {"model_type": "llama", "vocab_size": 32000, "hidden_size": 1024,
              "num_hidden_layers": 4, "num_attention_heads": 8, "intermediate_size": 4096}
    path.write_text(json.dumps(config))
    first = ridgeline.infer(str(path), on="h100", catalog=catalog)["params"]
    path.write_text(json.dumps({**config, "num_hidden_layers": 8}))
    assert ridgeline.infer(str(path), on="h100", catalog=catalog)["params"] > first
