"""Searches over plans: which split of the devices trains a model fastest, cheapest or on the
least energy (:func:`plan_train`), every plan of a feature combination in one vectorised pass;
and which deployment serves a model best under latency targets (:func:`plan_serve`, in
``planning.serve``).
"""

from .pareto import pareto_front
from .train import PLAN_KEYS, VALUE_KEYS, plan_train, write_csv

__all__ = ["plan_train", "pareto_front", "write_csv", "PLAN_KEYS", "VALUE_KEYS"]
