"""sweep() with plan degrees among its axes: one pass per feature group, bad plans masked."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

import ridgeline
from ridgeline import ScenarioError
from ridgeline.api import infer_scenario, train_scenario


def test_plan_axes_equal_train_and_mask_bad_plans():
    s = train_scenario("llama-2-7b", on="h100", devices=64, global_batch=512)
    grid = {"tp": [1, 2, 3, 4], "pp": [1, 2], "dp": [64, 32, 16], "micro_batch": [1, 2]}
    e = ridgeline.sweep(s, grid)
    assert e.axes == ("tp", "pp", "dp", "micro_batch") and e["step_s"].shape == (4, 2, 3, 2)
    checked = 0
    for i, tp in enumerate(grid["tp"]):
        for j, pp in enumerate(grid["pp"]):
            for k, dp in enumerate(grid["dp"]):
                for m, mb in enumerate(grid["micro_batch"]):
                    if 64 % (tp * pp * dp) or 32 % tp:  # devices or heads not split evenly
                        assert np.isnan(e["step_s"][i, j, k, m]) and not e["fits"][i, j, k, m]
                        continue
                    plan = ridgeline.Plan(tp, pp, dp, micro_batch=mb)
                    one = ridgeline.estimate(attrs.evolve(s, plan=plan))
                    assert e["step_s"][i, j, k, m] == pytest.approx(one["step_s"], rel=1e-12)
                    assert e["fits"][i, j, k, m] == one["fits"]
                    checked += 1
    assert checked == 18 and e.masked == 48 - 18


def test_plan_and_quantity_axes_together():
    s = infer_scenario("llama-3-8b", on="h100", devices=4, tp=4)
    e = ridgeline.sweep(s, {"tp": [1, 2, 3, 4], "batch": [1, 8]}, ["tpot_s", "fits"])
    one = ridgeline.infer("llama-3-8b", on="h100", devices=4, tp=4, batch=8)
    assert e["tpot_s"][3, 1] == pytest.approx(one["tpot_s"], rel=1e-12)
    two = ridgeline.estimate(attrs.evolve(s, plan=ridgeline.Plan(tp=2)), ["tpot_s"],
                             inputs={"batch": 1})
    assert e["tpot_s"][1, 0] == pytest.approx(two["tpot_s"], rel=1e-12)
    # 3 divides neither the 4 devices nor the 32 heads: masked, not an error
    assert np.isnan(e["tpot_s"][2]).all() and not e["fits"][2].any() and e.masked == 2


@pytest.mark.parametrize("grid, message", [
    ({"tp": [1, 2.5]}, "whole numbers"),
    ({"tp": [0, 1]}, "whole numbers"),
    ({"recompute": [0, 1]}, "recompute chooses the formulas"),
    ({"tp": [3, 5]}, "no point of the grid"),
])
def test_bad_plan_axes(grid, message):
    s = train_scenario("llama-2-7b", on="h100", devices=8, global_batch=64)
    with pytest.raises(ScenarioError, match=message):
        ridgeline.sweep(s, grid)


def test_sweep_on_executors_equals_serial():
    from concurrent.futures import ProcessPoolExecutor
    s = train_scenario("llama-2-7b", on="h100", devices=64, global_batch=512)
    grid = {"tp": [1, 2, 4, 8], "pp": [1, 2], "dp": [8, 16, 32]}
    serial = ridgeline.sweep(s, grid, ["step_s", "fits"])
    with ProcessPoolExecutor(max_workers=2) as pool:
        parallel = ridgeline.sweep(s, grid, ["step_s", "fits"], executor=pool)
    np.testing.assert_array_equal(parallel["step_s"], serial["step_s"])
    np.testing.assert_array_equal(parallel["fits"], serial["fits"])
    assert parallel.masked == serial.masked and parallel.axes == serial.axes
    distributed = pytest.importorskip("distributed")
    si = infer_scenario("llama-3-8b", on="h100")
    with distributed.Client(n_workers=1, threads_per_worker=2, processes=False,
                            dashboard_address=None) as client:
        remote = ridgeline.sweep(si, {"batch": [1, 2, 4, 8]}, ["tpot_s"], executor=client)
    np.testing.assert_array_equal(
        remote["tpot_s"], ridgeline.sweep(si, {"batch": [1, 2, 4, 8]}, ["tpot_s"])["tpot_s"])
