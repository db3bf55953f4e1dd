"""Hypothesis entry point: ``st.from_type(Accelerator)`` and friends for plugin authors."""


def _hypothesis_setup_hook() -> None:
    """Placeholder replaced below."""
