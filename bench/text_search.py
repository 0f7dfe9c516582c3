"""Type-ahead latency of catalogue text search on the full yes.com catalogue (75,262 songs).

Every prefix of a set of real titles and artists is searched as it would be typed, one
character at a time. Baseline in the same run: a plain scan (polars `str.contains` over the
normalised "title artist" strings, then ranking the hits in Python).

    python bench/text_search.py [--catalogue DIR]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.readers import read_songs  # noqa: E402
from recsys.catalog import normalise_text  # noqa: E402
from recsys.text_search import TextSearch  # noqa: E402

TYPED = ["bohemian rhapsody", "hotel california", "beyonce halo", "the beatles", "taylor swift",
         "lady gaga poker face", "a", "love", "i gotta feeling", "smells like teen spirit"]


def scan_baseline(haystack: pl.Series, plays: np.ndarray, query: str, limit: int = 10):
    words = normalise_text(query).split()
    mask = None
    for word in words:
        hit = haystack.str.contains(" " + word, literal=True)
        mask = hit if mask is None else mask & hit
    hits = np.flatnonzero(mask.to_numpy())
    return sorted(hits.tolist(), key=lambda i: -plays[i])[:limit]


def timings(search, queries) -> np.ndarray:
    out = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        out.append(time.perf_counter() - started)
    return np.asarray(out) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path,
                        default=REPO.parent / "shared/data/yes_playlists/yes_complete")
    args = parser.parse_args()
    songs = read_songs(args.catalogue)
    plays = np.random.default_rng(0).zipf(1.5, songs.height).astype(float)
    titles, artists = songs["title"].to_list(), songs["artist"].to_list()
    started = time.perf_counter()
    search = TextSearch(titles, artists, plays)
    build = time.perf_counter() - started
    haystack = pl.Series([f" {normalise_text(t)} {normalise_text(a)}"
                          for t, a in zip(titles, artists, strict=True)])
    queries = [q[:n] for q in TYPED for n in range(1, len(q) + 1)]
    ours = timings(search.search, queries)
    scan = timings(lambda q: scan_baseline(haystack, plays, q), queries)
    print(f"catalogue: {songs.height:,} songs; index built in {build:.2f}s; "
          f"{len(queries)} type-ahead queries")
    for label, ms in (("songspace", ours), ("scan baseline", scan)):
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        print(f"{label:14s} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {ms.max():6.2f} ms")
    print(f"speed-up at p50: {np.percentile(scan, 50) / np.percentile(ours, 50):.1f}x")
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}"
          " MiB")


if __name__ == "__main__":
    main()
