"""Fuzzing what ridgeline reads: registry TOML files, Hugging Face config.json files, and the
values plugins' formulas return.

Junk in a file gives a :class:`RegistryError` (through the public loaders) or, for a
``config.json`` given to ``infer``, a ridgeline error; a mutated file that still loads gives a
physically possible estimate. A plugin formula that wins over a built-in and returns junk gives
a :class:`FormulaError` naming that plugin.
"""

import functools
import json
import math
import tempfile
import types
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ridgeline
from ridgeline.catalog import build_catalog
from ridgeline.errors import FormulaError, RegistryError, RidgelineError
from ridgeline.plugin import formula, hookimpl, load_accelerator, load_model, read_toml
from ridgeline.testing.strategies import (file_tables, hf_configs, junk_values, mutated,
                                          mutated_hf_configs, toml_text)
from ridgeline.engine import quantity_domain
from ridgeline.units import LARGEST
from test_fuzz import FUZZ_INPUTS, call, check_result, fuzz  # noqa: F401 (counter)

REGISTRY = files("ridgeline.registry")
_SHIPPED = {kind: sorted((p for p in (REGISTRY / kind).iterdir() if p.name.endswith(".toml")),
                         key=lambda p: p.name)
            for kind in ("accelerators", "models")}
LOADERS = {"accelerators": load_accelerator, "models": load_model}


@functools.lru_cache(maxsize=None)
def _shipped_table(kind, name):
    return read_toml(REGISTRY / kind / name)


# --------------------------------------------------------------------------- registry files


def _load(loader, stem, content, *, as_str):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{stem}.toml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        try:
            return loader(str(path) if as_str else path)
        except RegistryError as exc:
            assert str(path) in str(exc), f"the error does not name the file: {exc}"
            return None


@fuzz(600)
@given(kind=st.sampled_from(sorted(LOADERS)), table=file_tables(), as_str=st.booleans())
def test_junk_registry_files_give_registry_error(kind, table, as_str):
    _load(LOADERS[kind], "junk", toml_text(table), as_str=as_str)


@fuzz(800)
@given(kind=st.sampled_from(sorted(LOADERS)), data=st.data(), as_str=st.booleans())
def test_mutated_registry_files_give_registry_error_or_a_valid_object(kind, data, as_str):
    path = data.draw(st.sampled_from(_SHIPPED[kind]), label="file")
    table = data.draw(mutated(_shipped_table(kind, path.name)), label="table")
    obj = _load(LOADERS[kind], path.name.removesuffix(".toml"), toml_text(table),
                as_str=as_str)
    if obj is None:
        return
    # what loads must estimate cleanly, or fail with a ridgeline error
    model, on = (obj, "h100") if kind == "models" else ("llama-3-8b", obj)
    result = call(ridgeline.infer, model, on=on)
    if result is not None:
        check_result(result)


@fuzz(300)
@given(content=st.one_of(st.binary(max_size=200),
                         st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                         st.sampled_from([b"", b"\xff\xfe", b"id = ", b"[[memory]\n", b"= 1",
                                          b"id = 'x'\nid = 'y'\n", b"a = [1, 2"])))
def test_bytes_that_are_not_toml_give_registry_error_from_read_toml(content):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.toml"
        path.write_bytes(content)
        try:
            data = read_toml(path)
        except RegistryError:
            return
        assert isinstance(data, dict)


# --------------------------------------------------------------------------- Hugging Face configs


def _infer_config(content, **kwargs):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "some-model"
        folder.mkdir()
        path = folder / "config.json"
        path.write_bytes(content)
        return call(ridgeline.infer, str(path), on="h100", **kwargs)


def _json_bytes(config):
    return json.dumps(config, default=repr).encode("utf-8")


@fuzz(300)
@given(config=hf_configs(), prompt=st.integers(1, 200000), tp=st.sampled_from((1, 2, 4, 8)))
def test_real_looking_configs_give_physical_estimates(config, prompt, tp):
    result = _infer_config(_json_bytes(config), prompt=prompt, output=16, tp=tp)
    if result is not None:
        check_result(result)


@fuzz(700)
@given(config=mutated_hf_configs())
def test_mutated_configs_give_a_ridgeline_error_or_a_physical_estimate(config):
    result = _infer_config(_json_bytes(config))
    if result is not None:
        check_result(result)
    trained = None
    try:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "config.json"
            path.write_bytes(_json_bytes(config))
            trained = ridgeline.train(str(path), on="h100", dp=8, global_batch=64, seq=128)
    except RidgelineError:
        pass
    if trained is not None:
        check_result(trained)


@fuzz(200)
@given(content=st.one_of(st.binary(max_size=200), st.just(b"[1, 2]"), st.just(b"null"),
                         st.just(b'{"model_type": "llama"'), st.just(b"\xef\xbb\xbf{}"),
                         file_tables().map(_json_bytes)))
def test_files_that_are_no_config_give_a_ridgeline_error(content):
    result = _infer_config(content)
    if result is not None:
        check_result(result)


# --------------------------------------------------------------------------- plugin outputs

#: built-in quantities a test plugin overrides, for dense models on GPUs serving requests
#: (more specific than every built-in formula for them there).
OVERRIDDEN = ("weight_bytes_per_device", "decode_step_s", "prefill_s", "cost_per_mtok_usd",
              "device_power_w", "energy_per_token_j", "throughput_tokens_per_s", "mfu",
              "memory_bandwidth_bytes_per_s", "kv_cache_bytes_per_token", "max_batch")
PLUGIN = "junk-formulas"
#: quantities whose value, beside the device's peaks, bounds a utilisation
UTILISATION_INPUTS = ("decode_step_s", "memory_bandwidth_bytes_per_s")

#: what the override returns in the current example (formulas are pure functions of their
#: inputs; this one reads the batch, so no static value is kept between examples).
_RETURNED = {}


@functools.lru_cache(maxsize=None)
def _catalog_overriding(quantity):
    @formula(quantity, family="dense", kind="gpu", workload="inference")
    def junk(batch):
        return _RETURNED["value"]
    module = types.ModuleType(PLUGIN)
    module.ridgeline_register_formulas = hookimpl(lambda register: register(junk))
    return build_catalog(plugins=[module], entry_points=False)


def _acceptable(value, unit):
    """Whether a formula may return ``value`` for a quantity of domain ``unit``: a real
    number, finite, not negative (every quantity overridden here is a magnitude), at most 1 for
    a fraction, whole for a count. A bool is the number 0 or 1, as Python and the engine take
    it; a numpy array of no dimensions is its one number."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        value = value.item()
    if not isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        return False
    try:
        if not (math.isfinite(value) and 0 <= value <= LARGEST):
            return False
    except OverflowError:
        return False
    if unit in ("fraction", "flag") and value > 1:
        return False
    if unit in ("count", "whole", "flag") and value != int(value):
        return False
    return unit != "count" or value >= 1


_RETURNS = st.one_of(
    junk_values(),
    st.sampled_from(("abc", None, {}, [1, 2], 1j, -1.0, -1e9, 10**400, 1e300, math.nan,
                     np.array([1.0, 2.0]), np.array([-1.0]), np.float64(-2.0), object())),
    st.floats(0.0, 1e12))


# junk numpy values overflow and divide by zero on their way to the check: numpy says so
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@fuzz(600)
@given(quantity=st.sampled_from(OVERRIDDEN), value=_RETURNS, batch=st.integers(1, 64))
def test_junk_from_a_plugin_formula_gives_formula_error_naming_the_plugin(quantity, value,
                                                                          batch):
    catalog = _catalog_overriding(quantity)
    _RETURNED["value"] = value
    try:
        result = ridgeline.infer("llama-3-8b", on="h100", batch=batch, catalog=catalog)
    except FormulaError as exc:
        if quantity in UTILISATION_INPUTS and _acceptable(value, "") and \
                exc.formula in ("mbu", "mfu", "decode_mfu"):
            # a time too short for its bytes or FLOPs, or a bandwidth above the peak, is
            # impossible beside the device's peaks; a utilisation above 1 is the first
            # quantity to show it, and its message lists the inputs
            return
        assert exc.plugin == PLUGIN and PLUGIN in str(exc) and quantity in str(exc), \
            f"the error names another plugin or not the formula: {exc}"
        # a 0 is in every magnitude's domain, but not as a divisor: then the error names the
        # plugin that returned it and says so
        zero_divisor = _acceptable(value, "") and value == 0 and "must be above 0" in str(exc)
        # numpy's fixed-width integers wrap around in arithmetic: one beyond 2**53 is refused
        # when it reaches the full check (it is a number, so the quick check may let it by)
        wraps = isinstance(value, np.integer) and abs(int(value)) > 2**53
        # and a value next to 0 (1e-235 tokens/s) is refused when something divides by it
        tiny = _acceptable(value, "") and 0 < value < 1e-100 and "below any physical" in str(exc)
        zero_divisor = zero_divisor or wraps or tiny
        kind = quantity_domain(catalog, quantity)
        assert zero_divisor or not _acceptable(value, kind), \
            f"{value!r} is a valid {kind} value, yet: {exc}"
        return
    except RidgelineError as exc:
        raise AssertionError(f"{type(exc).__name__} instead of a FormulaError naming "
                             f"{PLUGIN!r}: {exc}") from exc
    assert result.formula(quantity).plugin == PLUGIN
    assert _acceptable(value, quantity_domain(catalog, quantity)), \
        f"{quantity} = {value!r} from {PLUGIN!r} was accepted"
    check_result(result)
