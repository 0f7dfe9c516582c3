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
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The inner loop: everything but the tests marked slow (real trainings, whole pipeline runs).
test-fast: install
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not slow"

lint: install
	$(BIN)/ruff check .
