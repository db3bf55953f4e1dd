"""Non-dominated plans: no other plan is at least as good on both axes and better on one."""

from __future__ import annotations

import numpy as np


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated when both ``x`` and ``y`` are to be minimised,
    ordered by ``x`` (a sort and one running minimum: O(n log n))."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size > 1 and not (np.isnan(x).any() or np.isnan(y).any()):
        # the point of least x (least y among ties) dominates every point above its y: only
        # the others need sorting (a search's front is a few points of thousands)
        first = np.flatnonzero(x == x.min())
        keep = np.flatnonzero(y <= y[first].min())
        return keep[_front(x[keep], y[keep])]
    return _front(x, y)


def _front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    order = np.lexsort((y, x))  # by x, then by y among equal x
    best_y = np.minimum.accumulate(y[order])
    # a point is on the front when its y is below every y of the points before it
    earlier = np.concatenate(([np.inf], best_y[:-1]))
    return order[y[order] < earlier]
