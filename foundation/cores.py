"""How many compute threads a job should start when its settings leave it to the machine."""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset`
    narrow, unlike `os.cpu_count()`), capped by OMP_NUM_THREADS when that is set: the one
    setting every compute pool here already obeys (BLAS, OpenMP, torch), so that
    `OMP_NUM_THREADS=1 songspace ...` keeps gensim's and implicit's workers to one thread as
    well, as the test suite's workers and a shared machine need."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    limit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if limit.isdigit() and int(limit) > 0:
        cores = min(cores, int(limit))
    return max(cores, 1)
