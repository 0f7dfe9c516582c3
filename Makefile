# The two commands of the README: `make demo` (main job on the embedded data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint install

$(BIN)/songspace: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,audio]"
	touch $@

install: $(BIN)/songspace

demo: install
	$(BIN)/songspace demo

# One worker per core; a test file stays on one worker, so its module fixtures are built once.
# --no-loadscope-reorder keeps the files in the order tests/conftest.py gives them (longest
# first); xdist would otherwise hand out the files with the most tests first, and the long
# one-test README chains last, each keeping a worker busy alone at the end.
PYTEST := $(BIN)/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder

test: install
	$(BIN)/ruff check .
	$(PYTEST)

# The inner loop: everything but the tests marked slow (real trainings, whole pipeline runs).
test-fast: install
	$(PYTEST) -m "not slow"

lint: install
	$(BIN)/ruff check .
