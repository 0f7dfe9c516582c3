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

# A test file stays on one worker, so its module fixtures are built once.
# --no-loadscope-reorder keeps the files in the order tests/conftest.py gives them (longest
# first); xdist would otherwise hand out the files with the most tests first, and the long
# one-test README chains last, each keeping a worker busy alone at the end.
# One worker more than there are cores: about a tenth of the suite's time is tests waiting
# (for a server to start or restart, a watcher to notice, a client to go away), and the extra
# worker computes meanwhile (on 2026-12-02, 6 min 45 s with three workers on two cores against
# 7 min 14-36 s with two). Each worker and every command it starts computes on one thread: the
# BLAS and OpenMP pools of the workers otherwise spin against each other (tests/test_cli.py
# took 164 CPU seconds that way on a busy machine, 87 on one thread).
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
THREADS := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# Bytecode caches are written even where PYTHONDONTWRITEBYTECODE is set (as on this project's
# machines): the suite starts a few hundred Python processes (test workers, `songspace`
# commands, servers, Ray workers), and without the caches each compiles the project's modules
# again, and each test worker rewrites every test module's asserts again (6 of a worker's 14
# CPU seconds of collection).
CACHES := PYTHONDONTWRITEBYTECODE=
PYTEST := $(THREADS) $(CACHES) $(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder

test: install
	$(BIN)/ruff check .
	$(PYTEST)

# The inner loop: everything but the tests marked slow (real trainings, whole pipeline runs).
test-fast: install
	$(PYTEST) -m "not slow"

lint: install
	$(BIN)/ruff check .
