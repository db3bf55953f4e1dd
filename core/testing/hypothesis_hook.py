"""Hypothesis entry point: ``st.from_type(Accelerator)`` and friends, for plugin authors.

ridgeline's ``pyproject.toml`` declares::

    [project.entry-points.hypothesis]
    _ = "ridgeline.testing.hypothesis_hook:_hypothesis_setup_hook"

Hypothesis calls the hook each time it is imported, in every environment where ridgeline is
installed, so this module defines the hook and nothing else, and the hook registers strategies
lazily: the strategies module is imported only when a test first asks for one of these types.
"""


def _hypothesis_setup_hook() -> None:
    """Register ridgeline's value objects with :func:`hypothesis.strategies.register_type_strategy`."""
    from hypothesis import strategies as st

    from ..accelerator import Accelerator
    from ..model import Model
    from ..scenario import InferenceWorkload, Plan, Scenario, System, TrainingWorkload

    def lazily(name: str):
        def resolve(_type):
            from . import strategies
            return getattr(strategies, name)()
        return resolve

    for cls, name in ((Accelerator, "accelerators"), (Model, "models"), (Plan, "plans"),
                      (System, "systems"), (InferenceWorkload, "inference_workloads"),
                      (TrainingWorkload, "training_workloads"), (Scenario, "scenarios")):
        st.register_type_strategy(cls, lazily(name))
