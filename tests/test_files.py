"""Registry files: the shipped ones load, junk never gets past the loader, objects round-trip.

Whatever is in a file, loading it either gives a valid object or one :class:`RegistryError`
naming the file (and, where one field is at fault, that field): never a ``KeyError`` from deep
inside cattrs, never a half-built object.
"""

import math
import tempfile
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ridgeline.accelerator import Accelerator, MemoryTier
from ridgeline.errors import RegistryError
from ridgeline.loader import load_accelerator, load_model, to_toml, unstructure
from ridgeline.testing.strategies import toml_text
from ridgeline.model import Model
from ridgeline.testing.strategies import accelerators, models
from ridgeline.units import DIMENSIONS

REGISTRY = files("ridgeline.registry")


def _registry_files(folder):
    root = REGISTRY / folder
    return sorted((p for p in root.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)


ACCELERATOR_FILES = _registry_files("accelerators")
MODEL_FILES = _registry_files("models")

JUNK = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# --------------------------------------------------------------------------- writing TOML here
# TOML text of our own (ridgeline.testing's writer), independent of ridgeline.loader.to_toml,
# that can also write what no valid object holds (nan, inf, mixed arrays, arbitrary keys).
dumps = toml_text


def write(directory, stem, content):
    path = Path(directory) / f"{stem}.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def assert_registry_error(loader, directory, stem, content, field=None):
    path = write(directory, stem, content)
    with pytest.raises(RegistryError) as info:
        loader(path)
    message = str(info.value)
    assert str(path) in message, message
    assert info.value.file == str(path)
    if field is not None:
        assert field in message, f"{field!r} not named in:\n{message}"
    return message


# --------------------------------------------------------------------------- shipped files


@pytest.mark.parametrize("path", ACCELERATOR_FILES, ids=lambda p: p.name)
def test_registry_accelerator_loads_and_stem_is_its_id(path):
    acc = load_accelerator(path)
    assert acc.id == path.name.removesuffix(".toml")
    assert acc.sources and all(s.strip() for s in acc.sources)


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_registry_model_loads_and_stem_is_its_id(path):
    model = load_model(path)
    assert model.id == path.name.removesuffix(".toml")
    assert model.sources and all(s.strip() for s in model.sources)


def test_registry_has_files():
    assert len(ACCELERATOR_FILES) >= 10


def test_file_whose_stem_is_not_its_id_is_an_error(tmp_path):
    text = (REGISTRY / "accelerators" / "nvidia-h100-sxm.toml").read_text()
    assert_registry_error(load_accelerator, tmp_path, "not-the-id", text, field="id")


def test_unreadable_file_is_a_registry_error(tmp_path):
    with pytest.raises(RegistryError, match="cannot read"):
        load_accelerator(tmp_path / "missing.toml")


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("path", ACCELERATOR_FILES + MODEL_FILES, ids=lambda p: p.name)
def test_registry_object_round_trips_through_to_toml(path, tmp_path):
    load = load_accelerator if "accelerators" in str(path) else load_model
    obj = load(path)
    assert load(write(tmp_path, obj.id, to_toml(obj))) == obj


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(acc=accelerators(kinds=("gpu", "tpu", "acme-npu", "wafer-scale")))
def test_generated_accelerator_round_trips_through_to_toml(acc):
    with tempfile.TemporaryDirectory() as d:
        assert load_accelerator(write(d, acc.id, to_toml(acc))) == acc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=models())
def test_generated_model_round_trips_through_to_toml(model):
    with tempfile.TemporaryDirectory() as d:
        assert load_model(write(d, model.id, to_toml(model))) == model


def test_to_toml_leaves_out_absent_nested_values():
    # no links, no bandwidth, no power: None at every depth, which TOML cannot write
    acc = Accelerator(id="bare", name="Bare", vendor="v", kind="gpu", sources=["s"],
                      memory=[MemoryTier("hbm", 1e9)])
    text = to_toml(acc)
    assert "None" not in text and "null" not in text
    with tempfile.TemporaryDirectory() as d:
        assert load_accelerator(write(d, "bare", text)) == acc


# --------------------------------------------------------------------------- junk: one fault


def _base(path):
    obj = load_accelerator(path)
    return obj.id, unstructure(obj)


H100 = _base(REGISTRY / "accelerators" / "nvidia-h100-sxm.toml")
ACCELERATOR_BASES = st.sampled_from([H100] + [_base(p) for p in ACCELERATOR_FILES[:6]])


def _get(data, path):
    for key in path:
        if isinstance(data, dict):
            if key not in data or data[key] is None:
                return None
        elif not isinstance(data, list) or key >= len(data):
            return None
        data = data[key]
    return data


def _set(data, path, value):
    import copy
    data = copy.deepcopy(data)
    parent = _get(data, path[:-1])
    parent[path[-1]] = value
    return data


def _delete(data, path):
    import copy
    data = copy.deepcopy(data)
    del _get(data, path[:-1])[path[-1]]
    return data


def _wrong_units(dimension):
    valid = DIMENSIONS[dimension]
    return sorted({u for d, table in DIMENSIONS.items() if d != dimension
                   for u in table if u.strip() and u not in valid})


def _bad_quantities(dimension, allow_zero=False):
    """Values no field of this dimension accepts: negative, nan, inf, wrong units, wrong types."""
    valid_units = sorted(u for u in DIMENSIONS[dimension] if u)
    negative = st.floats(max_value=0.0 if not allow_zero else -1e-300, allow_nan=False,
                         allow_infinity=False)
    if allow_zero:
        negative = negative.filter(lambda x: x < 0)
    return st.one_of(
        negative,
        st.integers(max_value=-1 if allow_zero else 0),
        st.sampled_from([math.nan, math.inf, -math.inf, True, False, [], {}, [1.0], {"x": 1}]),
        st.builds(lambda n, u: f"{n:g} {u}", st.floats(0.1, 1e4), st.sampled_from(
            _wrong_units(dimension))),
        st.builds(lambda n, u: f"-{n:g} {u}", st.floats(0.1, 1e4), st.sampled_from(valid_units)),
        st.sampled_from(["", "fast", "lots", "80 furlongs", "GB", "1e999 B", "nan", "--3"]),
    )


_NOT_A_STRING = st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.booleans(),
                          st.just([]), st.just({}), st.just(["x"]))
_NOT_AN_ID = st.one_of(_NOT_A_STRING, st.sampled_from(
    ["", "H100", "has space", "-leading-dash", "ümlaut", "a/b", "x!", "UPPER"]))
_NOT_A_FRACTION = st.one_of(
    st.floats(max_value=0.0), st.floats(min_value=1.0, exclude_min=True),
    st.sampled_from([math.nan, math.inf, True, "85%", "0.8", [], {}]))
_NOT_A_COUNT = st.one_of(st.integers(max_value=0), st.floats(0.1, 1e4).filter(
    lambda x: x != int(x)), st.sampled_from([True, "8", [], {}, math.nan]))
_NOT_A_LIST_OF_TEXT = st.sampled_from(["abc", 7, True, {}, [""], ["  "], [7], [["x"]], [{}]])
_NOT_A_LIST_OF_IDS = st.sampled_from(["abc", 7, True, {}, ["Not Valid"], [7], [""], [{}]])

#: (path, strategy of values that make that field invalid)
ACCELERATOR_FAULTS = [
    (("id",), _NOT_AN_ID),
    (("name",), st.one_of(_NOT_A_STRING, st.sampled_from(["", "   "]))),
    (("vendor",), st.one_of(_NOT_A_STRING, st.sampled_from(["", "\t"]))),
    (("kind",), _NOT_AN_ID),
    (("sources",), st.one_of(_NOT_A_LIST_OF_TEXT, st.just([]))),
    (("aliases",), _NOT_A_LIST_OF_IDS),
    (("memory",), st.sampled_from(["hbm", 7, {}, [], [7], [[]], [{"name": "hbm"}]])),
    (("memory", 0, "name"), _NOT_AN_ID),
    (("memory", 0, "capacity_bytes"), _bad_quantities("bytes")),
    (("memory", 0, "bandwidth_bytes_per_s"), _bad_quantities("bytes_per_s")),
    (("peak_flops_per_s",), st.sampled_from(["fast", 7, [], [1e12], True])),
    (("peak_flops_per_s", "bf16"), _bad_quantities("flops_per_s")),
    (("peak_flops_per_s", "bf17"), st.just("100 TFLOP/s")),     # not a precision
    (("power_w",), _bad_quantities("w")),
    (("price_usd_per_hour",), _bad_quantities("usd_per_hour")),
    (("launch_year",), _NOT_A_COUNT),
    (("efficiency",), st.sampled_from(["high", 0.8, [], True])),
    (("efficiency", "compute"), _NOT_A_FRACTION),
    (("efficiency", "memory"), _NOT_A_FRACTION),
    (("efficiency", "network"), _NOT_A_FRACTION),
    (("efficiency", "step_overhead_s"), _bad_quantities("s", allow_zero=True)),
    (("links",), st.sampled_from(["nvlink", 7, [], True])),
    (("links", "scale_up"), st.sampled_from(["nvlink", 7, [], {}, True])),
    (("links", "scale_up", "bandwidth_bytes_per_s"), _bad_quantities("bytes_per_s")),
    (("links", "scale_up", "domain_devices"), _NOT_A_COUNT),
    (("links", "scale_up", "topology"), st.one_of(_NOT_A_STRING, st.just("hypercube"))),
    (("links", "scale_out", "latency_s"), _bad_quantities("s", allow_zero=True)),
    (("notes",), st.one_of(st.integers(), st.just([]), st.just({}), st.booleans())),
]


def _field_named(path):
    """The name a message must contain: the last key, or the container's for an index."""
    return next(str(k) for k in reversed(path) if isinstance(k, str))


@JUNK
@given(base=ACCELERATOR_BASES, fault=st.sampled_from(ACCELERATOR_FAULTS), data=st.data())
def test_one_bad_field_gives_registry_error_naming_file_and_field(base, fault, data):
    acc_id, fields = base
    path, values = fault
    assume(_get(fields, path[:-1]) is not None)
    value = data.draw(values, label="value")
    junk = _set(fields, path, value)
    with tempfile.TemporaryDirectory() as d:
        # an id fault is reported as such, even though the stem no longer matches it
        assert_registry_error(load_accelerator, d, acc_id, dumps(junk), field=_field_named(path))


REQUIRED_ACCELERATOR_FIELDS = [("id",), ("name",), ("vendor",), ("kind",), ("sources",),
                               ("memory",), ("memory", 0, "name"),
                               ("memory", 0, "capacity_bytes"),
                               ("links", "scale_up", "bandwidth_bytes_per_s")]


@JUNK
@given(base=ACCELERATOR_BASES, path=st.sampled_from(REQUIRED_ACCELERATOR_FIELDS))
def test_missing_required_field_gives_registry_error_naming_it(base, path):
    acc_id, fields = base
    assume(_get(fields, path) is not None)
    with tempfile.TemporaryDirectory() as d:
        assert_registry_error(load_accelerator, d, acc_id, dumps(_delete(fields, path)),
                              field=path[-1])


_EXTRA_KEYS = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10).map(
    lambda s: "x_" + s)


@JUNK
@given(base=ACCELERATOR_BASES, key=_EXTRA_KEYS,
       where=st.sampled_from([(), ("memory", 0), ("efficiency",), ("links",),
                              ("links", "scale_up"), ("peak_flops_per_s",)]),
       value=st.one_of(st.integers(0, 10), st.text(max_size=5), st.booleans()))
def test_unknown_key_gives_registry_error_naming_it(base, key, where, value):
    acc_id, fields = base
    assume(_get(fields, where) is not None)
    junk = _set(fields, where + (key,), value) if where else {**fields, key: value}
    with tempfile.TemporaryDirectory() as d:
        assert_registry_error(load_accelerator, d, acc_id, dumps(junk), field=key)


# --------------------------------------------------------------------------- junk: anything

_KEYS = st.one_of(
    st.sampled_from(["id", "name", "vendor", "kind", "sources", "memory", "capacity_bytes",
                     "bandwidth_bytes_per_s", "peak_flops_per_s", "bf16", "links", "scale_up",
                     "efficiency", "hidden_size", "num_heads", "vocab_size", "family"]),
    st.text(max_size=8))
_SCALARS = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=12),
    st.sampled_from(["80 GiB", "3.35 TB/s", "989 TFLOP/s", "gpu", "hbm", "dense", "bf16"]))
JUNK_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner,
                                                                          max_size=4),
    max_leaves=20)
JUNK_TABLES = st.dictionaries(_KEYS, JUNK_VALUES, max_size=8)


@JUNK
@given(table=JUNK_TABLES, loader=st.sampled_from([load_accelerator, load_model]))
def test_junk_in_a_registry_file_gives_registry_error(table, loader):
    with tempfile.TemporaryDirectory() as d:
        assert_registry_error(loader, d, "junk", dumps(table))


@JUNK
@given(content=st.one_of(st.binary(max_size=300),
                         st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace")),
                         st.sampled_from([b"", b"\xff\xfe\x00", b"id = ", b"[[memory]\n",
                                          b"id = 'x'\nid = 'y'\n", b"= 1", b"a = [1, 2"])),
       loader=st.sampled_from([load_accelerator, load_model]))
def test_bytes_that_are_not_a_registry_file_give_registry_error(content, loader):
    with tempfile.TemporaryDirectory() as d:
        assert_registry_error(loader, d, "junk", content)


def test_a_table_where_an_array_is_expected_is_named(tmp_path):
    # a common slip: [memory] instead of [[memory]]
    text = (REGISTRY / "accelerators" / "nvidia-h100-sxm.toml").read_text()
    text = text.replace("[[memory]]", "[memory]")
    message = assert_registry_error(load_accelerator, tmp_path, "nvidia-h100-sxm", text,
                                    field="memory")
    assert "array" in message


def test_a_string_where_a_list_is_expected_is_an_error(tmp_path):
    # cattrs would otherwise split "a datasheet" into one source per character
    text = (REGISTRY / "accelerators" / "nvidia-h100-sxm.toml").read_text()
    start = text.index("sources = [")
    end = text.index("]", start) + 1
    text = text[:start] + 'sources = "a datasheet"' + text[end:]
    assert_registry_error(load_accelerator, tmp_path, "nvidia-h100-sxm", text, field="sources")


def test_every_problem_in_a_file_is_listed(tmp_path):
    acc_id, fields = H100
    junk = _set(_set(fields, ("power_w",), -1), ("price_usd_per_hour",), "cheap")
    junk["x_extra"] = 1
    message = assert_registry_error(load_accelerator, tmp_path, acc_id, dumps(junk))
    assert "price_usd_per_hour" in message and "x_extra" in message


# --------------------------------------------------------------------------- models

_MODEL_BASE = Model(id="base-7b", vocab_size=32000, hidden_size=4096, num_layers=32,
                    num_heads=32, num_kv_heads=8, intermediate_size=11008,
                    sources=["https://example.org/config.json"])
_NOT_POSITIVE_INT = st.one_of(st.integers(max_value=0), st.sampled_from(
    [2.5, True, "4096", "4k", [], {}, math.nan, math.inf]))

MODEL_FAULTS = [
    (("id",), _NOT_AN_ID),
    (("vocab_size",), _NOT_POSITIVE_INT),
    (("hidden_size",), _NOT_POSITIVE_INT),
    (("num_layers",), _NOT_POSITIVE_INT),
    (("num_heads",), st.one_of(_NOT_POSITIVE_INT, st.sampled_from([7, 12, 33]))),  # vs 8 kv
    (("num_kv_heads",), st.one_of(_NOT_POSITIVE_INT, st.sampled_from([3, 5, 64]))),
    (("intermediate_size",), _NOT_POSITIVE_INT),
    (("head_dim",), _NOT_POSITIVE_INT),
    (("mlp",), st.one_of(_NOT_A_STRING, st.just("swiglu"))),
    (("norm",), st.one_of(_NOT_A_STRING, st.just("batchnorm"))),
    (("positions",), st.just("sinusoidal-ish")),
    (("weights_dtype",), st.sampled_from(["bf17", "int3", "", 16])),
    (("kv_dtype",), st.sampled_from(["fp7", 8])),
    (("tie_embeddings",), st.sampled_from(["yes", 1, 0, "true"])),
    (("aliases",), _NOT_A_LIST_OF_IDS),
    (("sources",), st.sampled_from(["a config.json", 7, [7]])),
]


@JUNK
@given(fault=st.sampled_from(MODEL_FAULTS), data=st.data())
def test_one_bad_model_field_gives_registry_error_naming_file_and_field(fault, data):
    path, values = fault
    fields = unstructure(_MODEL_BASE)
    junk = _set(fields, path, data.draw(values, label="value"))
    with tempfile.TemporaryDirectory() as d:
        assert_registry_error(load_model, d, _MODEL_BASE.id, dumps(junk), field=path[-1])


def test_model_base_is_valid(tmp_path):
    assert load_model(write(tmp_path, _MODEL_BASE.id, dumps(unstructure(_MODEL_BASE)))) \
        == _MODEL_BASE
