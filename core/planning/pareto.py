"""Non-dominated plans: no other plan is at least as good on both axes and better on one."""

from __future__ import annotations

import numpy as np


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated when both ``x`` and ``y`` are to be minimised,
    ordered by ``x`` (a sort and one running minimum: O(n log n))."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    order = np.lexsort((y, x))  # by x, then by y among equal x
    best_y = np.minimum.accumulate(y[order])
    # a point is on the front when its y is below every y of the points before it
    earlier = np.concatenate(([np.inf], best_y[:-1]))
    return order[y[order] < earlier]
