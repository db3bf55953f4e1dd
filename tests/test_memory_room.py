"""Byte quantities are never negative: when nothing fits, the room is 0 and ``fits`` is false
with the shortfall in ``memory_shortfall_bytes``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

import ridgeline
from ridgeline.catalog import default_catalog
from ridgeline.engine import sweep
from ridgeline.errors import RidgelineError

CATALOG = default_catalog()


def _byte_quantities(e) -> dict:
    return {q: e[q] for q, unit in e.to_dict()["units"].items()
            if (q.endswith("_bytes") or "_bytes_per_" in q) and unit not in ("table", "object")}


def test_a_kv_cache_larger_than_the_device_leaves_no_room_and_no_negative_bytes():
    e = ridgeline.infer("llama-3-8b", on="a100-40gb", batch=64, prompt=100000, output=1,
                        context_limit=10**7,
                        offload="host", catalog=CATALOG)
    assert e["offload_room_bytes_per_device"] == 0.0
    assert e["offload_resident_layers"] == 0.0
    assert not e["fits"]
    assert e["memory_shortfall_bytes"] == pytest.approx(
        e["memory_per_device_bytes"] - e["usable_memory_bytes"], rel=1e-12)
    assert e["memory_shortfall_bytes"] > 1e12
    negative = {q: v for q, v in _byte_quantities(e).items() if np.any(np.asarray(v) < 0)}
    assert not negative


def test_a_draft_model_that_overfills_the_device_leaves_no_room_either():
    e = ridgeline.infer("llama-3-8b", on="a100-40gb", batch=64, prompt=100000, output=1,
                        context_limit=10**7,
                        offload="host", draft="llama-3.2-1b", catalog=CATALOG)
    assert e["offload_room_bytes_per_device"] == 0.0
    assert not e["fits"] and e["memory_shortfall_bytes"] > 1e12


def test_the_room_is_zero_at_every_point_of_a_sweep_that_overfills_the_device():
    s = ridgeline.infer("llama-3-8b", on="a100-40gb", batch=1, prompt=100000, output=1,
                        context_limit=10**7,
                        offload="host", catalog=CATALOG).scenario
    grid = sweep(s, {"batch": [1, 8, 64]},
                 ["offload_room_bytes_per_device", "fits", "memory_shortfall_bytes"],
                 catalog=CATALOG)
    room = np.asarray(grid["offload_room_bytes_per_device"])
    assert room[0] > 0 and np.all(room[1:] == 0.0)
    assert np.all(np.asarray(grid["memory_shortfall_bytes"])[~np.asarray(grid["fits"])] > 0)


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(["llama-3-8b", "llama-2-70b", "mixtral-8x7b", "gpt2",
                              "deepseek-v2-lite"]),
       on=st.sampled_from(["a100-40gb", "h100", "l4", "rtx-4090"]),
       offload=st.sampled_from(["host", "nvme"]), tp=st.sampled_from([1, 2]),
       batch=st.integers(1, 1024), prompt=st.integers(1, 2048), output=st.integers(1, 2048))
def test_no_byte_quantity_of_an_offloaded_deployment_is_negative(model, on, offload, tp, batch,
                                                                 prompt, output):
    try:
        e = ridgeline.infer(model, on=on, offload=offload, tp=tp, batch=batch, prompt=prompt,
                            output=output, catalog=CATALOG)
    except RidgelineError:
        reject()
    for q, v in _byte_quantities(e).items():
        assert np.all(np.asarray(v) >= 0), (q, v)
    assert e["fits"] == (e["memory_shortfall_bytes"] == 0)
