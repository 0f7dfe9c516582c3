"""Approximate nearest-neighbour search: recall@10 against exact search, queries/s (single and
batched), build time and memory, for each index kind, through songspace's VectorIndex.

Two data sets: 1,000,000 synthetic 128-d vectors (a seeded Gaussian mixture with Zipf-sized,
anisotropic clusters, like real embedding spaces) and the real song vectors of a trained model.

    python bench/ann.py [--n 1000000] [--model DIR] [--out bench/results/ann.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys.index import IndexConfig, VectorIndex  # noqa: E402


def mixture(n: int, dim: int, clusters: int = 2000, seed: int = 0) -> np.ndarray:
    """Clusters with Zipf sizes, random per-cluster scales per axis, and a shared low-rank
    'genre' structure: neighbours are neither trivial nor uniform noise."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(32, dim)).astype(np.float32)
    centres = (rng.normal(size=(clusters, 32)).astype(np.float32) @ basis) / np.sqrt(32)
    sizes = 1.0 / np.arange(1, clusters + 1) ** 0.8
    labels = rng.choice(clusters, size=n, p=sizes / sizes.sum())
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 200_000):
        stop = min(start + 200_000, n)
        lab = labels[start:stop]
        scale = 0.35 + 0.3 * rng.random((clusters, 1), dtype=np.float32)
        noise = rng.normal(size=(stop - start, dim)).astype(np.float32)
        out[start:stop] = centres[lab] + scale[lab] * noise
    return out


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(name: str, config: IndexConfig, ids, vectors, queries, truth, k=10,
            settings: list[dict] | None = None) -> list[dict]:
    before = rss_mib()
    started = time.perf_counter()
    index = VectorIndex.build(ids, vectors, config)
    build = time.perf_counter() - started
    memory = rss_mib() - before
    rows = []
    for setting in settings or [{}]:
        for key, value in setting.items():
            setattr(index.config, key, value)
        started = time.perf_counter()
        found, _ = index.search(queries, k)
        batched = len(queries) / (time.perf_counter() - started)
        single_n = min(300, len(queries))
        started = time.perf_counter()
        for q in queries[:single_n]:
            index.search(q, k)
        single = single_n / (time.perf_counter() - started)
        recall = float(np.mean([len(set(f) & t) / k for f, t in zip(found, truth, strict=True)]))
        rows.append({"index": name, **setting, "recall@10": round(recall, 4),
                     "qps_single": round(single, 1), "qps_batched": round(batched, 1),
                     "build_s": round(build, 1), "memory_mib": round(memory, 1)})
        print(json.dumps(rows[-1]), flush=True)
    del index
    return rows


def run_suite(label: str, vectors: np.ndarray, queries: np.ndarray, large: bool) -> list[dict]:
    ids = [str(i) for i in range(len(vectors))]
    print(f"== {label}: {len(vectors):,} x {vectors.shape[1]}, {len(queries)} queries", flush=True)
    exact = VectorIndex.build(ids, vectors, IndexConfig(kind="flat"))
    truth = [set(row) for row in exact.search(queries, 10)[0]]
    del exact
    n = len(vectors)
    suite = [("flat", IndexConfig(kind="flat"), None)]
    suite.append(("hnsw", IndexConfig(kind="hnsw"),
                  [{"ef_search": ef} for ef in (32, 64, 96, 160)]))
    nlist = 4096 if large else max(16, int(4 * np.sqrt(n)))
    suite.append(("ivfpq", IndexConfig(kind="ivfpq", nlist=nlist),
                  [{"nprobe": p} for p in (8, 32, 64)]))
    rows = []
    for name, config, settings in suite:
        rows += [{"data": label, **r} for r in measure(name, config, ids, vectors, queries,
                                                       truth, settings=settings)]
    exact_single = next(r["qps_single"] for r in rows if r["index"] == "flat")
    exact_batched = next(r["qps_batched"] for r in rows if r["index"] == "flat")
    for r in rows:
        r["speedup_single"] = round(r["qps_single"] / exact_single, 1)
        r["speedup_batched"] = round(r["qps_batched"] / exact_batched, 1)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--model", type=Path, help="a trained model artifact (real vectors)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/ann.json")
    args = parser.parse_args()

    rows = []
    data = mixture(args.n + args.queries, args.dim)
    rows += run_suite("synthetic", data[: args.n], data[args.n:], large=True)
    del data
    if args.model:
        vectors = np.load(args.model / "vectors.npy")[np.load(args.model / "trained.npy")]
        rng = np.random.default_rng(1)
        queries = vectors[rng.choice(len(vectors), 1000, replace=False)] + 0.01 * rng.normal(
            size=(1000, vectors.shape[1])).astype(np.float32)
        rows += run_suite("real", vectors, queries.astype(np.float32), large=False)
    default = IndexConfig()
    print(f"default for >= {default.exact_below:,} songs: hnsw M={default.hnsw_m} "
          f"efSearch={default.ef_search}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
