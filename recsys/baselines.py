"""Baselines that song2vec must beat, behind the same interface.

- Popularity: the most played songs, whatever the context.
- CoOccurrence: "people who played X next played Y": counts of Y following X within a few
  songs, summed over the recent context.
- ALS / BPR: matrix factorisation from the `implicit` package, playlists as users; a new
  context is folded in as a new user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
from scipy import sparse

from foundation.cores import available_cores
from recsys.base import Context, Recommender, context_matrix, top_k


def play_counts(sentences: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    flat = np.concatenate([s[s >= 0] for s in sentences]) if sentences else np.zeros(0, np.int64)
    return np.bincount(flat, minlength=n_items).astype(np.float32)


def playlist_item_matrix(sentences: Sequence[np.ndarray], n_items: int) -> sparse.csr_matrix:
    """Binary (playlists, items) matrix: the 'user-item' matrix of implicit's models."""
    rows = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
    cols = np.concatenate(sentences) if sentences else np.zeros(0, np.int64)
    keep = cols >= 0
    data = np.ones(int(keep.sum()), np.float32)
    matrix = sparse.csr_matrix((data, (rows[keep], cols[keep])), shape=(len(sentences), n_items))
    matrix.data[:] = 1.0  # repeats inside a playlist count once
    return matrix


class Popularity(Recommender):
    name = "popularity"

    def fit(self, sentences: Sequence[np.ndarray], n_items: int) -> Self:
        self.n_items = n_items
        counts = play_counts(sentences, n_items)
        self.scores = np.where(counts > 0, np.log1p(counts), -np.inf).astype(np.float32)
        return self

    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        return np.tile(self.scores, (len(contexts), 1))


class CoOccurrence(Recommender):
    """Item-to-item transitions: C[x, y] = sum over playlists of 1/d for every y played d <= window
    songs after x. A context scores y by sum_k decay^k C[context[-1-k], y]; popularity breaks
    ties so that a context with no transitions still gets a sensible ranking."""

    name = "cooccurrence"

    def __init__(self, window: int = 2, context_decay: float = 0.3, context_window: int = 5):
        self.window = window
        self.context_decay = context_decay
        self.context_window = context_window

    def fit(self, sentences: Sequence[np.ndarray], n_items: int) -> Self:
        self.n_items = n_items
        rows, cols, vals = [], [], []
        for s in sentences:
            s = s[s >= 0]
            for d in range(1, self.window + 1):
                if len(s) > d:
                    rows.append(s[:-d])
                    cols.append(s[d:])
                    vals.append(np.full(len(s) - d, 1.0 / d, np.float32))
        shape = (n_items, n_items)
        if rows:
            self.transitions = sparse.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
            )
        else:
            self.transitions = sparse.csr_matrix(shape, dtype=np.float32)
        counts = play_counts(sentences, n_items)
        # Scaled far below one transition so it only orders songs the context says nothing about.
        self.prior = np.where(counts > 0, 1e-6 * counts / max(counts.max(), 1.0), -np.inf)
        self.prior = self.prior.astype(np.float32)
        return self

    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        weights = context_matrix(
            contexts, self.n_items, self.context_decay, self.context_window
        )
        scores = np.asarray((weights @ self.transitions).todense(), dtype=np.float32)
        return scores + self.prior


class _ImplicitFactorModel(Recommender):
    """Shared plumbing for implicit's factor models: fit on playlists as users, fold a context
    in as a new user, score by dot product with the item factors."""

    def __init__(self, factors: int = 64, iterations: int = 15, seed: int = 0) -> None:
        self.factors = factors
        self.iterations = iterations
        self.seed = seed

    def _make_model(self):
        raise NotImplementedError

    def fit(self, sentences: Sequence[np.ndarray], n_items: int) -> Self:
        # Import implicit's extensions first: the BLAS they load must exist before it is limited.
        import implicit.cpu.als
        import implicit.cpu.bpr  # noqa: F401
        from threadpoolctl import threadpool_limits

        self.n_items = n_items
        matrix = playlist_item_matrix(sentences, n_items)
        # implicit parallelises itself; a multi-threaded BLAS underneath it only oversubscribes.
        with threadpool_limits(1, "blas"):
            self.model = self._make_model()
            self.model.fit(matrix, show_progress=False)
        self.item_factors = np.asarray(self.model.item_factors, dtype=np.float32)
        self.known = np.asarray(matrix.sum(axis=0)).ravel() > 0
        return self

    def _user_factors(self, contexts: Sequence[Context]) -> np.ndarray:
        raise NotImplementedError

    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        scores = self._user_factors(contexts) @ self.item_factors.T
        scores[:, ~self.known] = -np.inf
        return scores

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Cosine of item factors, as implicit's own similar_items."""
        norms = np.maximum(np.linalg.norm(self.item_factors, axis=1), 1e-12)
        scores = (self.item_factors @ self.item_factors[item] / (norms * norms[item]))[None, :]
        scores[0, ~self.known] = -np.inf
        scores[0, item] = -np.inf
        ids, values = top_k(scores, k)
        keep = np.isfinite(values[0])
        return ids[0][keep], values[0][keep]


class ALS(_ImplicitFactorModel):
    """implicit's AlternatingLeastSquares; a context is folded in exactly (one least-squares
    solve against the fixed item factors, as implicit's recalculate_user does)."""

    name = "als"

    def __init__(
        self, factors: int = 64, iterations: int = 15, regularization: float = 0.05,
        alpha: float = 2.0, seed: int = 0,
    ) -> None:
        super().__init__(factors, iterations, seed)
        self.regularization = regularization
        self.alpha = alpha

    def _make_model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, random_state=self.seed, num_threads=available_cores(),
        )

    def _user_factors(self, contexts: Sequence[Context]) -> np.ndarray:
        rows = playlist_item_matrix([np.asarray(c, np.int64) for c in contexts], self.n_items)
        factors = self.model.recalculate_user(np.arange(len(contexts)), rows)
        return np.asarray(factors, dtype=np.float32)


class BPR(_ImplicitFactorModel):
    """implicit's BayesianPersonalizedRanking. BPR has no exact fold-in, so a context's user
    vector is the mean of its songs' factors (the last factor column is the item bias, matched
    by a constant 1 on the user side)."""

    name = "bpr"

    def __init__(
        self, factors: int = 64, iterations: int = 100, learning_rate: float = 0.05,
        regularization: float = 0.01, seed: int = 0,
    ) -> None:
        super().__init__(factors, iterations, seed)
        self.learning_rate = learning_rate
        self.regularization = regularization

    def _make_model(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=self.factors, learning_rate=self.learning_rate,
            regularization=self.regularization, iterations=self.iterations,
            random_state=self.seed, num_threads=available_cores(),
        )

    def _user_factors(self, contexts: Sequence[Context]) -> np.ndarray:
        weights = context_matrix(contexts, self.n_items, decay=1.0, window=1 << 30)
        counts = np.maximum(np.asarray(weights.sum(axis=1)), 1.0)
        users = np.asarray(weights @ self.item_factors) / counts
        users[:, -1] = 1.0
        return users.astype(np.float32)


def default_baselines(seed: int = 0) -> list[Recommender]:
    return [Popularity(), CoOccurrence(), ALS(seed=seed), BPR(seed=seed)]
