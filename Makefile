# The two set-up commands: `make demo` (the main job) and `make test` (the whole suite).
# Each has its own virtual environment: the tests install the example plugin (a fictional
# accelerator), which must not show up among the real ones in the demo's environment.
PYTHON ?= python3
VENV ?= .venv
TEST_VENV ?= .venv-test
BIN := $(VENV)/bin
TEST_BIN := $(TEST_VENV)/bin
# what an installed (not editable) copy is built from
SOURCES := $(shell find core plugins registry -type f -not -path '*/__pycache__/*' \
                   -not -name '*.pyc' 2>/dev/null)

.PHONY: demo test bench clean

%/bin/python:
	$(PYTHON) -m venv $*
	$*/bin/python -m pip install --quiet --upgrade pip

# the demo's environment holds ridgeline as a user installs it, from a wheel; it is rebuilt
# when a source file changes
$(VENV)/.installed: $(BIN)/python pyproject.toml README.md $(SOURCES)
	rm -rf build
	$(BIN)/python -m pip install --quiet '.[plot]'
	rm -rf build
	touch $@

# the tests' environment: editable, with the test extras and the example plugin
$(TEST_VENV)/.installed: $(TEST_BIN)/python pyproject.toml examples/acme-ridgeline/pyproject.toml
	$(TEST_BIN)/python -m pip install --quiet -e '.[test]' -e examples/acme-ridgeline
	touch $@

demo: $(VENV)/.installed
	@$(BIN)/python -m ridgeline.demo

test: $(TEST_VENV)/.installed
	$(TEST_BIN)/python -m pytest -q

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_serving.py
	$(BIN)/python benchmarks/bench_plan_serve.py
	$(BIN)/python benchmarks/bench_simulate.py
	$(BIN)/python benchmarks/bench_plans.py
	$(BIN)/python benchmarks/bench_adaptation.py

clean:
	rm -rf $(VENV) $(TEST_VENV) build *.egg-info core/*.egg-info
