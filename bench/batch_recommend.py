"""Batch recommendations at scale: top 50 for N synthetic users against the yes.com catalogue,
with the pipeline's own partition function (`pipelines.batch.recommend_partition`) on the local
engine and on the Ray engine (a local Ray instance on this machine).

The catalogue is yes.com's (`yes_big`, 9,775 songs, from the shared data; the embedded
`yes_small` when the shared data is absent) with seeded random 100-d song vectors: the cost
of scoring does not depend on the values. Users are seeded unit profiles, each with 5 to 40
played songs drawn with a Zipf-like popularity (they are excluded), written as the Parquet user
partitions the recommend step writes (50,000 users each).

Each engine runs in a fresh process; the parent samples the resident memory of that process
and all its descendants (Ray's raylet, GCS and workers included) every 0.2 s and reports the
peak of the sum. Pages shared between processes (Ray's object store) are counted once per
process that maps them, so Ray's figure is an upper bound.

    python bench/batch_recommend.py [--users 1000000] [--engines local,ray] [--workdir DIR]
                                    [--out bench/results/batch_recommend.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.batch import recommend_partition  # noqa: E402
from pipelines.engines import LocalEngine, RayEngine  # noqa: E402
from pipelines.readers import read_playlists  # noqa: E402

SHARED_YES_BIG = REPO.parent / "shared" / "data" / "yes_playlists" / "yes_big"
PER_PARTITION = 50_000
DIM = 100
K = 50


def catalogue() -> pl.Series:
    source = SHARED_YES_BIG if SHARED_YES_BIG.is_dir() else REPO / "data" / "yes_small"
    return read_playlists(source).songs["song_id"]


def make_users(folder: Path, n_users: int, n_songs: int, seed: int = 0) -> list[Path]:
    """Seeded user partitions: user_id, profile (float32 unit vector), played (song indices)."""
    folder.mkdir(parents=True, exist_ok=True)
    popularity = 1.0 / np.arange(1, n_songs + 1) ** 0.8
    popularity /= popularity.sum()
    files = []
    for n, start in enumerate(range(0, n_users, PER_PARTITION)):
        rng = np.random.default_rng([seed, n])
        size = min(PER_PARTITION, n_users - start)
        profiles = rng.normal(size=(size, DIM)).astype(np.float32)
        profiles /= np.linalg.norm(profiles, axis=1, keepdims=True)
        lengths = rng.integers(5, 41, size)
        flat = rng.choice(n_songs, size=int(lengths.sum()), p=popularity).astype(np.int32)
        played = pl.Series("played", np.split(flat, np.cumsum(lengths)[:-1]))
        frame = pl.DataFrame({"user_id": [f"u{start + i}" for i in range(size)],
                              "profile": profiles, "played": played})
        file = folder / f"part-{n:05d}.parquet"
        frame.write_parquet(file)
        files.append(file)
    return files


def run_engine(engine_name: str, workdir: Path) -> dict:
    """In the child process: score every partition with one engine; print its figures."""
    song_ids = catalogue()
    rng = np.random.default_rng(1)
    items = np.hstack([rng.normal(size=(len(song_ids), DIM)),
                       np.zeros((len(song_ids), 1))]).astype(np.float32)
    known = np.ones(len(song_ids), bool)
    out = workdir / f"top-{engine_name}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    files = sorted((workdir / "users").glob("*.parquet"))
    parts = [{"file": str(f), "out": str(out / f.name)} for f in files]
    started = time.perf_counter()
    engine = LocalEngine() if engine_name == "local" else RayEngine(num_cpus=os.cpu_count())
    ready = time.perf_counter()
    results = engine.map(recommend_partition, parts, items=items, known=known,
                         song_ids=song_ids, k=K, batch_size=2048)
    done = time.perf_counter()
    engine.close()
    users = sum(r["users"] for r in results)
    return {"engine": engine_name, "users": users, "songs": len(song_ids), "k": K,
            "partitions": len(parts), "startup_s": round(ready - started, 2),
            "recommend_s": round(done - ready, 2),
            "users_per_s": round(users / (done - ready), 1)}


def _rss_of_tree(root: int) -> int:
    """Resident bytes of `root` and every process below it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def measure(engine: str, workdir: Path) -> dict:
    """Run one engine in a fresh process; its figures plus the peak memory of its tree."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", engine, "--workdir", str(workdir)],
        stdout=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _rss_of_tree(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{engine} engine failed with exit code {process.returncode}")
    figures = json.loads(stdout.strip().splitlines()[-1])
    figures["peak_rss_gib"] = round(peak[0] / 2**30, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/songspace-batch-bench"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_engine(args.child, args.workdir)))
        return
    shutil.rmtree(args.workdir, ignore_errors=True)
    started = time.perf_counter()
    make_users(args.workdir / "users", args.users, len(catalogue()))
    print(f"made {args.users:,} users in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    results = []
    for engine in args.engines.split(","):
        figures = measure(engine, args.workdir)
        print(json.dumps(figures), file=sys.stderr)
        results.append(figures)
    report = {"users": args.users, "cpus": os.cpu_count(), "results": results}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
