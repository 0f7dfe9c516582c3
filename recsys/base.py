"""The one interface every recommender shares, so that song2vec and the baselines are
evaluated by the same code (the `implicit` style: fit / recommend / similar_items).

Items are integer indices into a `Catalog` (0..n_items-1). A *context* is the ordered list of
songs a listener has heard so far (the playlist up to now), as catalogue indices (>= 0);
recommenders rank what comes next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Self

import numpy as np
from scipy import sparse

Context = Sequence[int]


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k best entries of each row, best first. scores: (B, n)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def mask_items(scores: np.ndarray, contexts: Sequence[Context]) -> np.ndarray:
    """Set the score of every song already in its row's context to -inf (in place)."""
    rows = np.repeat(np.arange(len(contexts)), [len(c) for c in contexts])
    cols = np.fromiter((i for c in contexts for i in c), dtype=np.int64, count=len(rows))
    scores[rows, cols] = -np.inf
    return scores


def recency_weights(length: int, decay: float, window: int) -> np.ndarray:
    """Weight of each position of a context: the last song 1, the one before `decay`, and so on,
    zero beyond the `window` most recent songs."""
    back = np.arange(length - 1, -1, -1)
    weights = np.power(decay, back, dtype=np.float64)
    weights[back >= window] = 0.0
    return weights.astype(np.float32)


class Recommender(ABC):
    """Ranks the next song given the songs so far.

    Subclasses implement `fit` and `score`; ranking, filtering and top-k live here once.
    """

    name: str = "recommender"
    n_items: int = 0

    @abstractmethod
    def fit(self, sentences: Sequence[np.ndarray], n_items: int) -> Self:
        """Learn from playlists given as arrays of item indices."""

    @abstractmethod
    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        """Scores of every item as the next song for each context: float32 array (B, n_items).
        Items the model knows nothing about score -inf."""

    def recommend(
        self, context: Context, k: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k next songs for one context as (item indices, scores), best first."""
        scores = self.score([context])
        if exclude_seen:
            mask_items(scores, [context])
        ids, values = top_k(scores, k)
        keep = np.isfinite(values[0])
        return ids[0][keep], values[0][keep]

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k songs most similar to one song, the song itself excluded. By default this is
        "what comes after this song"; embedding models override it with vector similarity."""
        return self.recommend([item], k=k)


def context_matrix(
    contexts: Sequence[Context], n_items: int, decay: float, window: int
) -> sparse.csr_matrix:
    """Contexts as a sparse (B, n_items) matrix of recency weights, so that a batch of context
    vectors is one sparse-dense product (W @ item_vectors)."""
    lengths = [len(c) for c in contexts]
    weights = [recency_weights(n, decay, window) for n in lengths]
    data = np.concatenate(weights) if weights else np.zeros(0, np.float32)
    cols = np.fromiter((i for c in contexts for i in c), dtype=np.int64, count=len(data))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    matrix = sparse.csr_matrix((data, cols, indptr), shape=(len(contexts), n_items))
    matrix.sum_duplicates()
    return matrix
