"""The next-song models beside song2vec, with the settings tuned on yes_big's validation split
(`bench/next_song.py`, `bench/README.md`): the session-based peers, the sequence models and
the two-stage ranker ("songspace", the default continuation).

The peers (SKNN, V-SKNN, VSTAN, item kNN) only index the training playlists, so they are
fitted where they are needed (under a second on yes_big). The ranker and the sequence models
learn for minutes, so `songspace train` fits them once and the artifact keeps them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from foundation.settings import Settings
from recsys.base import Recommender
from recsys.ranker import RankerConfig, TwoStageRanker, default_generators
from recsys.session_knn import ItemKNN, SessionKNN, SessionKNNConfig
from recsys.song2vec import Song2Vec

# Tuned on validation (coordinate search, bench/results/next_song_tuning.json).
SKNN_CONFIG = SessionKNNConfig(k=50, context_window=20)
VSKNN_CONFIG = SessionKNNConfig(k=50, weighting="linear")
VSTAN_CONFIG = SessionKNNConfig(k=200, weighting="exp", spw=30.0, inh=20.0, idf=True)
PEER_CONFIGS = {"sknn": SKNN_CONFIG, "vsknn": VSKNN_CONFIG, "vstan": VSTAN_CONFIG}
PEERS = ("sknn", "vsknn", "vstan", "iknn")
# What `songspace train` may add to an artifact, in the order evaluation lists them.
LEARNED = ("songspace", "transformer", "sasrec")

Stage = Callable[[str], None]
# Fewer playlists per fold give the ranker too few cases to learn anything.
MIN_PLAYLISTS_PER_FOLD = 30


@dataclass
class NextSongConfig(Settings):
    """What `songspace train` fits beside song2vec (the `[next_song]` table of its config).

    ranker : fit the two-stage ranker, the model behind `continue` (off: continue falls back
        to song2vec's context vector).
    folds, per_generator, learning_rate, num_leaves, min_data_in_leaf, feature_fraction,
    early_stopping : the ranker's cross-fitting and LightGBM settings (`RankerConfig`).
    max_cases : the ranker learns from at most this many next-song cases of the training
        playlists (a seeded sample), which bounds its fit (a few minutes on two cores).
    sequence_minutes : training time of each sequence model (the song2vec-initialised
        transformer and SASRec from scratch); 0 leaves them out. About 7 minutes each on
        yes_big with 2 threads is the measured recipe.
    threads : of torch, for the sequence models.
    seed : of the fold split and the sequence models.
    """

    kind: ClassVar[str] = "next-song"

    ranker: bool = True
    folds: int = 3
    per_generator: int = 50
    learning_rate: float = 0.03
    num_leaves: int = 15
    min_data_in_leaf: int = 300
    feature_fraction: float = 0.6
    early_stopping: int = 100
    max_cases: int = 100_000
    sequence_minutes: float = 0.0
    threads: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        self._require({
            "folds": self.folds >= 1,
            "per_generator": self.per_generator >= 1,
            "learning_rate": self.learning_rate > 0,
            "num_leaves": self.num_leaves >= 2,
            "min_data_in_leaf": self.min_data_in_leaf >= 1,
            "feature_fraction": 0 < self.feature_fraction <= 1,
            "early_stopping": self.early_stopping >= 1,
            "max_cases": self.max_cases >= 10,
            "sequence_minutes": self.sequence_minutes >= 0,
            "threads": self.threads >= 1,
        })

    def ranker_config(self) -> RankerConfig:
        return RankerConfig(
            folds=self.folds, per_generator=self.per_generator, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_data_in_leaf=self.min_data_in_leaf,
            feature_fraction=self.feature_fraction, early_stopping=self.early_stopping,
            # LightGBM on one thread: its OpenMP workers spin, and beside any other job on a
            # two-core machine two of them ran 30x slower than one (88 s against 2.7 s).
            max_cases=self.max_cases, threads=1, seed=self.seed,
        )


def peer(name: str) -> Recommender:
    """An unfitted session-based peer by its evaluation name."""
    if name == "iknn":
        return ItemKNN()
    return SessionKNN(PEER_CONFIGS[name], name=name)


def artist_codes(artists: Sequence[str]) -> np.ndarray:
    """An integer per song, equal for songs of the same artist (the ranker's artist features)."""
    return np.unique(np.asarray(artists, dtype=object), return_inverse=True)[1].astype(np.int64)


def _generators(song2vec: Song2Vec):
    # The fold song2vec models train with the artifact's own settings, workers included: a
    # seeded (one-worker) training gives a bit-for-bit reproducible ranker too.
    fold_config = dataclasses.replace(song2vec.config, compute_loss=False)
    return default_generators(fold_config, sknn=SKNN_CONFIG, vstan=VSTAN_CONFIG)


def fit_next_song(
    song2vec: Song2Vec, sentences: Sequence[np.ndarray], n_items: int, artists: np.ndarray,
    config: NextSongConfig, on_stage: Stage | None = None,
) -> tuple[dict[str, Recommender], dict]:
    """Fit the ranker and the sequence models on the training playlists (never on anything
    held out); returns them by evaluation name, and metrics (fit seconds, importances)."""
    models: dict[str, Recommender] = {}
    metrics: dict = {}
    usable = sum(int((s >= 0).sum()) >= 2 for s in sentences)
    if config.ranker and usable < MIN_PLAYLISTS_PER_FOLD * config.folds:
        # Too little to learn from: `continue` keeps song2vec's context vector.
        metrics["songspace"] = {"skipped": f"{usable} playlists of two or more songs; the "
                                f"ranker needs {MIN_PLAYLISTS_PER_FOLD * config.folds}"}
    elif config.ranker:
        started = time.perf_counter()
        ranker = TwoStageRanker(_generators(song2vec), config.ranker_config(),
                                artists, fitted={"song2vec": song2vec})
        ranker.fit(sentences, n_items, on_stage=on_stage)
        ranker.fold_generators, ranker.fold_fitted = [], []  # only needed while fitting
        models["songspace"] = ranker
        metrics["songspace"] = {
            "fit_seconds": round(time.perf_counter() - started, 1),
            "best_iteration": ranker.log.best_iteration,
            "inner_ndcg@10": ranker.log.inner_ndcg10,
            "training_cases": ranker.log.cases,
            "importances": ranker.importances(),
        }
    if config.sequence_minutes > 0:
        from recsys.sequence_model import SequenceConfig, SequenceModel

        for name, init in (("transformer", "song2vec"), ("sasrec", "random")):
            if on_stage:
                on_stage(f"training the {name} ({config.sequence_minutes:g} min)")
            seq_config = SequenceConfig(max_minutes=config.sequence_minutes, init=init,
                                        threads=config.threads, seed=config.seed)
            vectors = (song2vec.input_vectors, song2vec.output_vectors) \
                if init == "song2vec" else None
            started = time.perf_counter()
            models[name] = SequenceModel(seq_config, vectors, name=name).fit(sentences, n_items)
            metrics[name] = {"fit_seconds": round(time.perf_counter() - started, 1)}
    return models, metrics


def save_next_song(models: dict[str, Recommender], folder: Path) -> list[str]:
    """Write the fitted learned models into an artifact's staging folder; the file names."""
    files: list[str] = []
    for model in models.values():
        files += model.save(folder)  # type: ignore[attr-defined]
    return files


def load_next_song(
    folder: Path, song2vec: Song2Vec, sentences: Sequence[np.ndarray], n_items: int,
    artists: np.ndarray, threads: int = 1,
) -> dict[str, Recommender]:
    """The learned next-song models an artifact holds, ready to score (none for artifacts
    trained without them). The ranker's cheap generators are refitted on the artifact's
    training playlists, exactly as they were after its training."""
    models: dict[str, Recommender] = {}
    if (folder / "ranker.json").is_file():
        generators: dict[str, Recommender] = {"song2vec": song2vec}
        for name, factory in _generators(song2vec).items():
            if name not in generators:
                generators[name] = factory(generators).fit(sentences, n_items)
        ranker = TwoStageRanker.load(folder, generators, sentences, n_items, artists)
        ranker.config.threads = threads
        models["songspace"] = ranker
    for name in ("transformer", "sasrec"):
        if (folder / f"{name}.json").is_file():
            from recsys.sequence_model import SequenceModel

            models[name] = SequenceModel.load(folder, name)
    return models
