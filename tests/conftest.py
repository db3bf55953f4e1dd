"""Hypothesis profiles for the whole suite.

``default`` is what ``make test`` runs; ``deep`` runs every fuzz test twenty times longer:
``HYPOTHESIS_PROFILE=deep make test`` or ``pytest --hypothesis-profile=deep tests/test_fuzz*.py``.
The fuzz tests size themselves from the profile's ``max_examples`` (see ``test_fuzz.fuzz``), so
a profile scales them all at once; tests with their own ``max_examples`` keep it.

Neither profile derandomizes: each run explores new inputs, a failure prints the seed and the
shrunk example to reproduce it, and the example database (``.hypothesis/``) replays it first
on the next local run.
"""

import os
import sys

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                      HealthCheck.data_too_large])

# make test shrinks one failure per test (a known failure costs seconds, not a minute); the
# deep profile reports every distinct failure it finds, each shrunk
settings.register_profile("default", max_examples=100, report_multiple_bugs=False, **_COMMON)
settings.register_profile("deep", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_terminal_summary(terminalreporter):
    # how many generated inputs the fuzz tests ran (each module keeps a FUZZ_INPUTS counter)
    counts = {}
    for module in list(sys.modules.values()):
        counter = getattr(module, "FUZZ_INPUTS", None)
        if isinstance(counter, dict) and getattr(module, "__name__", "").startswith("test_fuzz"):
            counts.update(counter)
    if counts:
        terminalreporter.write_line(f"fuzz: {sum(counts.values())} generated inputs in "
                                    f"{len(counts)} fuzz tests "
                                    f"(profile {settings._current_profile})")
