"""Tests a vendor can copy: conformance, the override, and end-to-end discovery."""

from importlib.resources import files

from hypothesis import given, settings

import acme_ridgeline
import ridgeline
from ridgeline.plugin import Model, System, load_accelerator
from ridgeline.testing import assert_quantity_close, check_plugin
from ridgeline.testing.strategies import scenarios

X1 = load_accelerator(files("acme_ridgeline") / "acme-x1.toml")

TINY = Model(id="tiny", vocab_size=32000, hidden_size=1024, num_layers=4, num_heads=8,
             intermediate_size=4096)


def test_conformance():
    check_plugin(acme_ridgeline)


def test_x1_streams_compressed_weights(catalog_factory):  # fixture from conftest.py
    catalog = catalog_factory(acme_ridgeline, builtins=True)
    x1 = catalog.accelerator("x1")
    est = ridgeline.estimate(ridgeline.Scenario(TINY, System(x1)),
                             ["memory_bandwidth_bytes_per_s"], catalog=catalog)
    assert_quantity_close(est["memory_bandwidth_bytes_per_s"], 2.4e12 * 0.8 * 1.3, unit="B/s")
    assert est.formula("memory_bandwidth_bytes_per_s").plugin == "acme_ridgeline"
    assert "acme_ridgeline" in est.explain("memory_bandwidth_bytes_per_s")


@settings(max_examples=20, deadline=None)
@given(s=scenarios(accelerator=X1, workload_kinds=("inference",)))
def test_bandwidth_is_positive_on_any_scenario(s):
    est = ridgeline.estimate(s, ["memory_bandwidth_bytes_per_s"])
    assert est["memory_bandwidth_bytes_per_s"] > 0


def test_discovered_through_its_entry_point():
    catalog = ridgeline.build_catalog()
    assert "acme-x1" in catalog.accelerators
    assert catalog.provider("accelerator", "acme-x1") == "acme"
