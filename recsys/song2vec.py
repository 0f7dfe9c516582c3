"""song2vec: playlists are sentences, songs are words, gensim Word2Vec skip-gram learns the
vectors.

Two things make it a good recommender, not just an embedding (see bench/README.md for the
search that chose the defaults):
- the *dual-embedding* view: skip-gram with negative sampling trains each song's input vector
  to score high against the *output* vectors (gensim's `syn1neg`) of the songs around it, so
  "what comes next" is best read as context·output, not input·input cosine;
- the context is a recency-weighted sum of the songs so far, not only the last one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Self

import numpy as np

from foundation.cores import available_cores
from foundation.settings import Settings
from recsys.base import Context, Recommender, context_matrix, top_k

logger = logging.getLogger(__name__)

Scoring = Literal["in_out", "cosine"]


class TrainingDataError(ValueError):
    """The playlists cannot train a model (nothing left to learn from)."""


@dataclass
class Song2VecConfig(Settings):
    """Everything that shapes a song2vec model. Defaults were tuned on a validation split of
    yes_big (bench/README.md); the gensim ones keep gensim's names.

    Parameters
    ----------
    vector_size : dimension of the song vectors.
    window : largest distance (in songs) between a song and a context song it predicts.
    negative : negative samples per positive pair.
    ns_exponent : exponent of the negative-sampling distribution; below zero samples rare
        songs more often, which pushes popular songs less to the top.
    sample : down-sampling threshold for very frequent songs (0 disables it).
    min_count : songs seen fewer times get no vector.
    epochs : passes over the playlists.
    alpha, min_alpha : learning rate, decayed linearly to min_alpha.
    seed : seed of the initial vectors and of gensim's sampling.
    workers : training threads; 0 means every core the process may use (at most
        OMP_NUM_THREADS when set). Only workers=1 is bit-for-bit reproducible.
    compute_loss : let gensim track the training loss (shown in the progress bar).
    scoring : "in_out" ranks by context(input)·output vectors; "cosine" by input·input cosine.
    context_decay : weight of the song k steps back is context_decay**k.
    context_window : only the most recent songs count.
    """

    kind: ClassVar[str] = "song2vec"

    vector_size: int = 200
    window: int = 10
    negative: int = 10
    ns_exponent: float = 0.5
    sample: float = 1e-3
    min_count: int = 3
    epochs: int = 100
    alpha: float = 0.025
    min_alpha: float = 0.0001
    seed: int = 0
    workers: int = 0
    compute_loss: bool = True
    scoring: Scoring = "in_out"
    context_decay: float = 0.9
    context_window: int = 50

    def __post_init__(self) -> None:
        checks = {
            "vector_size": self.vector_size >= 1,
            "window": self.window >= 1,
            "negative": self.negative >= 1,
            "min_count": self.min_count >= 1,
            "epochs": self.epochs >= 1,
            "alpha": self.alpha > 0,
            "sample": self.sample >= 0,
            "workers": self.workers >= 0,
            "scoring": self.scoring in ("in_out", "cosine"),
            "context_decay": 0 <= self.context_decay <= 1,
            "context_window": self.context_window >= 1,
        }
        self._require(checks)

    @property
    def threads(self) -> int:
        return self.workers or available_cores()


@dataclass
class EpochStats:
    epoch: int
    seconds: float
    songs_per_s: float
    loss: float | None


EpochCallback = Callable[[EpochStats], None]


def _gensim_callback(tokens_per_epoch: int, compute_loss: bool, on_epoch: EpochCallback | None):
    from gensim.models.callbacks import CallbackAny2Vec

    class _Reporter(CallbackAny2Vec):
        def __init__(self) -> None:
            self.epoch = 0
            self.started = time.perf_counter()
            self.last_loss = 0.0
            self.history: list[EpochStats] = []

        def on_epoch_begin(self, model) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, model) -> None:
            self.epoch += 1
            seconds = time.perf_counter() - self.started
            loss = None
            if compute_loss:
                # gensim's loss is a running total over the whole train() call.
                total = model.get_latest_training_loss()
                loss, self.last_loss = total - self.last_loss, total
            stats = EpochStats(self.epoch, seconds, tokens_per_epoch / max(seconds, 1e-9), loss)
            self.history.append(stats)
            if on_epoch is not None:
                on_epoch(stats)

    return _Reporter()


class Song2Vec(Recommender):
    """Word2Vec skip-gram with negative sampling over playlists, behind the shared interface.

    After `fit`, `input_vectors` and `output_vectors` are float32 (n_items, vector_size) arrays
    aligned with the catalogue; `trained` marks the songs that got a vector.
    """

    name = "song2vec"

    def __init__(self, config: Song2VecConfig | None = None) -> None:
        self.config = config or Song2VecConfig()
        self.input_vectors = np.zeros((0, self.config.vector_size), np.float32)
        self.output_vectors = np.zeros((0, self.config.vector_size), np.float32)
        self.trained = np.zeros(0, bool)
        self.history: list[EpochStats] = []
        self._unit_inputs: np.ndarray | None = None

    # -- training -----------------------------------------------------------------------------
    def fit(
        self,
        sentences: Sequence[np.ndarray],
        n_items: int,
        on_epoch: EpochCallback | None = None,
    ) -> Self:
        from gensim.models import Word2Vec

        cfg = self.config
        # gensim keys words by string; index strings keep the map to the catalogue trivial.
        corpus = [[str(i) for i in s if i >= 0] for s in sentences]
        corpus = [s for s in corpus if s]
        if not corpus:
            raise TrainingDataError("no playlists with known songs to train on")
        tokens = sum(len(s) for s in corpus)
        reporter = _gensim_callback(tokens, cfg.compute_loss, on_epoch)
        model = Word2Vec(
            vector_size=cfg.vector_size,
            window=cfg.window,
            min_count=cfg.min_count,
            sg=1,
            hs=0,
            negative=cfg.negative,
            ns_exponent=cfg.ns_exponent,
            sample=cfg.sample,
            alpha=cfg.alpha,
            min_alpha=cfg.min_alpha,
            seed=cfg.seed,
            workers=cfg.threads,
            compute_loss=cfg.compute_loss,
        )
        model.build_vocab(corpus)
        if not len(model.wv):
            raise TrainingDataError(
                f"no song occurs at least min_count={cfg.min_count} times in the "
                f"{len(corpus)} playlists; lower min_count in the config or give more playlists"
            )
        model.train(
            corpus,
            total_examples=model.corpus_count,
            epochs=cfg.epochs,
            compute_loss=cfg.compute_loss,
            callbacks=[reporter],
        )
        self.history = reporter.history
        self._adopt(model, n_items)
        return self

    def _adopt(self, model, n_items: int) -> None:
        """Copy gensim's vectors into catalogue order; songs without a vector stay zero."""
        rows = np.fromiter((int(k) for k in model.wv.index_to_key), dtype=np.int64)
        self.input_vectors = np.zeros((n_items, self.config.vector_size), np.float32)
        self.output_vectors = np.zeros_like(self.input_vectors)
        self.input_vectors[rows] = model.wv.vectors
        self.output_vectors[rows] = model.syn1neg
        self.trained = np.zeros(n_items, bool)
        self.trained[rows] = True
        self.n_items = n_items
        self._unit_inputs = None

    # -- scoring ------------------------------------------------------------------------------
    @property
    def unit_inputs(self) -> np.ndarray:
        if self._unit_inputs is None:
            norms = np.linalg.norm(self.input_vectors, axis=1, keepdims=True)
            self._unit_inputs = self.input_vectors / np.maximum(norms, 1e-12)
        return self._unit_inputs

    def context_vectors(self, contexts: Sequence[Context]) -> np.ndarray:
        """Recency-weighted sums of the contexts' input vectors: (B, vector_size)."""
        cfg = self.config
        weights = context_matrix(contexts, self.n_items, cfg.context_decay, cfg.context_window)
        vectors = self.unit_inputs if cfg.scoring == "cosine" else self.input_vectors
        return np.asarray(weights @ vectors, dtype=np.float32)

    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        query = self.context_vectors(contexts)
        if self.config.scoring == "cosine":
            query /= np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
            scores = query @ self.unit_inputs.T
        else:
            scores = query @ self.output_vectors.T
        scores[:, ~self.trained] = -np.inf
        return scores

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Nearest songs by cosine of input vectors (songs that play in the same company)."""
        if not self.trained[item]:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = (self.unit_inputs @ self.unit_inputs[item])[None, :]
        scores[0, ~self.trained] = -np.inf
        scores[0, item] = -np.inf
        ids, values = top_k(scores, k)
        keep = np.isfinite(values[0])
        return ids[0][keep], values[0][keep]

    # -- persistence --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> list[str]:
        """Write the vectors and config into an existing folder; returns the file names."""
        folder = Path(folder)
        np.save(folder / "vectors.npy", self.input_vectors.astype(np.float32))
        np.save(folder / "output_vectors.npy", self.output_vectors.astype(np.float32))
        np.save(folder / "trained.npy", self.trained)
        (folder / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        return ["vectors.npy", "output_vectors.npy", "trained.npy", "config.json"]

    @classmethod
    def load(cls, folder: str | Path) -> Song2Vec:
        folder = Path(folder)
        config = Song2VecConfig.from_dict(
            json.loads((folder / "config.json").read_text()), str(folder / "config.json")
        )
        model = cls(config)
        model.input_vectors = np.load(folder / "vectors.npy")
        model.output_vectors = np.load(folder / "output_vectors.npy")
        model.trained = np.load(folder / "trained.npy")
        model.n_items = len(model.trained)
        return model
