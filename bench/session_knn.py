"""Session-kNN scoring speed: the whole evaluation batch at once (the baseline: how `score`
worked before) against a few rows at a time (`session_knn.BLOCK_CELLS`, the default), on the
same cases of the embedded data. Checks that both give the same scores; reports seconds, the
ratio, page faults and the peak memory of one batch.

    OMP_NUM_THREADS=1 python bench/session_knn.py [--batch 1024] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from foundation.paths import DEFAULT_DATA  # noqa: E402
from pipelines.readers import read_playlists  # noqa: E402
from pipelines.splits import split_dataset  # noqa: E402
from recsys import session_knn  # noqa: E402
from recsys.catalog import Catalog  # noqa: E402
from recsys.evaluation import make_cases  # noqa: E402

WHOLE_BATCH = 1 << 62  # cells: every row of a batch in one block
BLOCKS = session_knn.BLOCK_CELLS


def faults() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt


def peak_mib(model, contexts: list, cells: int) -> float:
    """Peak memory numpy allocates while scoring one batch (tracemalloc sees its buffers)."""
    session_knn.BLOCK_CELLS = cells
    tracemalloc.start()
    model.score(contexts)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def timed(model, contexts: list, batch: int, cells: int) -> tuple[float, int, np.ndarray]:
    session_knn.BLOCK_CELLS = cells
    before, started = faults(), time.perf_counter()
    scores = [model.score(contexts[i:i + batch]) for i in range(0, len(contexts), batch)]
    return time.perf_counter() - started, faults() - before, np.concatenate(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1024, help="cases per score call "
                        "(evaluate's batch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/session_knn.json")
    args = parser.parse_args()

    dataset = read_playlists(DEFAULT_DATA)
    parts = split_dataset(dataset, valid=0.0, test=0.1, seed=0)
    catalog = Catalog(dataset.songs)
    train = catalog.encode_playlists(parts["train"].playlists)
    cases = make_cases(catalog.encode_playlists(parts["test"].playlists), max_positions=3,
                       seed=0)
    rows = []
    for make in (session_knn.SKNN, session_knn.VSKNN, session_knn.VSTAN):
        model = make().fit(train, len(catalog))
        best: dict[str, tuple[float, int]] = {}
        results = {}
        for _ in range(args.repeats):  # alternate, so that machine noise hits both alike
            for name, cells in (("whole_batch", WHOLE_BATCH),
                                ("blocks", BLOCKS)):
                seconds, pages, scores = timed(model, cases.contexts, args.batch, cells)
                results[name] = scores
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, pages)
        same = bool(np.array_equal(results["whole_batch"], results["blocks"]))
        batch = cases.contexts[:args.batch]
        memory = {name: round(peak_mib(model, batch, cells), 1)
                  for name, cells in (("whole_batch", WHOLE_BATCH), ("blocks", BLOCKS))}
        row = {"model": model.name, "cases": len(cases), "playlists": len(model.lengths),
               "whole_batch_s": round(best["whole_batch"][0], 3),
               "blocks_s": round(best["blocks"][0], 3),
               "speedup": round(best["whole_batch"][0] / best["blocks"][0], 2),
               "whole_batch_page_faults": best["whole_batch"][1],
               "blocks_page_faults": best["blocks"][1],
               "whole_batch_peak_mib": memory["whole_batch"], "blocks_peak_mib": memory["blocks"],
               "same_scores": same}
        rows.append(row)
        print(f"{row['model']:6} {row['cases']} cases: whole batch {row['whole_batch_s']:.2f} s "
              f"({row['whole_batch_page_faults']:,} page faults), blocks {row['blocks_s']:.2f} s "
              f"({row['blocks_page_faults']:,}): {row['speedup']:.2f}x; peak memory of a "
              f"batch {memory['whole_batch']:.0f} -> {memory['blocks']:.0f} MiB; same scores: "
              f"{same}")
    report = {"batch": args.batch, "repeats": args.repeats, "block_cells": BLOCKS,
              "models": rows}
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
