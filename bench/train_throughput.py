"""Training throughput: songspace's song2vec training path vs a bare gensim Word2Vec call.

Both train the same corpus with the same hyperparameters and thread count, alternating, several
rounds; the figure is the median songs/s (song occurrences x epochs / wall seconds, vocabulary
building included). The ratio must be >= 0.9: our plumbing (id mapping, progress callback, loss
tracking, copying vectors into catalogue order) may cost at most 10%.

    python bench/train_throughput.py [--data DIR] [--rounds 3] [--epochs 10]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gensim.models import Word2Vec  # noqa: E402

from pipelines.readers import read_playlists  # noqa: E402
from recsys.catalog import Catalog  # noqa: E402
from recsys.song2vec import Song2Vec, Song2VecConfig  # noqa: E402


def bare_gensim(corpus: list[list[str]], cfg: Song2VecConfig) -> float:
    started = time.perf_counter()
    Word2Vec(
        corpus, vector_size=cfg.vector_size, window=cfg.window, min_count=cfg.min_count, sg=1,
        hs=0, negative=cfg.negative, ns_exponent=cfg.ns_exponent, sample=cfg.sample,
        alpha=cfg.alpha, min_alpha=cfg.min_alpha, seed=cfg.seed, workers=cfg.threads,
        epochs=cfg.epochs,
    )
    return time.perf_counter() - started


def songspace_path(sentences, n_items: int, cfg: Song2VecConfig) -> float:
    started = time.perf_counter()
    Song2Vec(cfg).fit(sentences, n_items, on_epoch=lambda stats: None)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=REPO.parent / "shared/data/yes_playlists/yes_big")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    dataset = read_playlists(args.data)
    catalog = Catalog(dataset.songs)
    sentences = catalog.encode_playlists(dataset.playlists)
    corpus = [[str(i) for i in s] for s in sentences]
    tokens = sum(len(s) for s in corpus)
    cfg = Song2VecConfig(epochs=args.epochs)
    work = tokens * cfg.epochs
    print(f"corpus: {len(corpus):,} playlists, {tokens:,} songs; {cfg.epochs} epochs, "
          f"{cfg.threads} threads, loss tracking {'on' if cfg.compute_loss else 'off'}")

    bare, ours = [], []
    for _ in range(args.rounds):
        bare.append(work / bare_gensim(corpus, cfg))
        ours.append(work / songspace_path(sentences, len(catalog), cfg))
    bare_rate, our_rate = statistics.median(bare), statistics.median(ours)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for label, rate, rounds in (("bare gensim", bare_rate, bare), ("songspace", our_rate, ours)):
        each = ", ".join(f"{r:,.0f}" for r in rounds)
        print(f"{label:12s} {rate:12,.0f} songs/s  (rounds: {each})")
    print(f"ratio songspace / gensim: {our_rate / bare_rate:.3f}  (target >= 0.9)")
    print(f"peak memory (max RSS): {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
