"""Session-based nearest neighbours, the strongest simple peers of the session-recommendation
literature, behind the shared `Recommender` interface.

- SKNN (Ludewig & Jannach 2018): the k training playlists most similar (cosine of binary item
  sets) to the context vote for their songs, each vote weighted by the playlist's similarity.
- V-SKNN: the same, but recent context songs weigh more (linear decay) when the similarity is
  computed (dot product), and votes carry the song's IDF, so rare shared songs count more.
- VSTAN (Ludewig et al. 2021, after STAN, Garg et al. 2019): exponential position weights in
  the context (lambda_spw), and inside a neighbour playlist a song's vote decays with its distance
  from the neighbour's most recent song shared with the context (lambda_inh); songs played
  *after* that anchor can be favoured (the sequential filter of V-SKNN, as a weight); IDF votes.
  STAN's session-recency weight (lambda_snh) needs timestamps, which playlists do not have.

Everything is batched numpy / scipy.sparse: context x playlist similarities are one sparse
product, the top-k neighbours one argpartition, and the votes one bincount (a block of rows at
a time, see `score`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Self

import numpy as np
from scipy import sparse

from recsys.base import Context, Recommender

Weighting = Literal["none", "linear", "exp"]
Similarity = Literal["cosine", "dot"]
ANCHOR_WINDOW = 30
# Context x playlist similarities `score` computes at once (8 MB of float32).
BLOCK_CELLS = 2_000_000


@dataclass
class SessionKNNConfig:
    """Settings of every session-kNN variant.

    k : neighbour playlists that vote.
    similarity : "cosine" divides the weighted overlap by sqrt(len(neighbour)) (the context's
        own norm is a constant per row and cannot change a ranking); "dot" does not.
    weighting : weight of context songs by recency: "none" (1), "linear" (position / length,
        V-SKNN), "exp" (exp(-(steps back) / spw), STAN).
    spw : lambda_spw of "exp" weighting, in songs.
    context_window : only the most recent songs of the context count (0 = all).
    inh : lambda_inh, in songs: a neighbour's song votes with exp(-|pos - anchor| / inh), where
        anchor is the neighbour's position of its most recent song shared with the context
        (0 = off, every song votes fully).
    before_weight : factor of the votes of songs that come before the anchor in the neighbour
        (1 = no sequential filter, 0 = only songs after the anchor vote). Needs inh > 0 or
        applies with the anchor anyway.
    idf : multiply votes by log(playlists / playlists with the song).
    sample : only the `sample` longest-overlap candidate playlists are considered (0 = all).
    """

    k: int = 50
    similarity: Similarity = "cosine"
    weighting: Weighting = "none"
    spw: float = 5.0
    context_window: int = 0
    inh: float = 0.0
    before_weight: float = 1.0
    idf: bool = False

    @property
    def needs_anchor(self) -> bool:
        return self.inh > 0 or self.before_weight != 1.0


class SessionKNN(Recommender):
    """Generic session kNN; SKNN, VSKNN and VSTAN are presets of it."""

    name = "session_knn"

    def __init__(self, config: SessionKNNConfig | None = None, name: str | None = None,
                 **overrides) -> None:
        self.config = config or SessionKNNConfig()
        if overrides:
            self.config = SessionKNNConfig(**{**asdict(self.config), **overrides})
        if name is not None:
            self.name = name

    # -- training: keep the playlists in a form the batch scorer can gather from ------------
    def fit(self, sentences: Sequence[np.ndarray], n_items: int) -> Self:
        self.n_items = n_items
        played = np.concatenate([np.asarray(s, np.int64) for s in sentences]) if sentences \
            else np.zeros(0, np.int64)
        playlist = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
        known = played >= 0
        played, playlist = played[known], playlist[known]
        # One vote per song and playlist: the first time it is played keeps its position (the
        # first of each (playlist, song) key in a stable sort, back in playing order).
        keys = playlist * n_items + played
        by_key = np.argsort(keys, kind="stable")
        first = np.ones(len(keys), bool)
        first[1:] = keys[by_key][1:] != keys[by_key][:-1]
        kept = np.sort(by_key[first])
        # Playlists with no known song are left out; the others are numbered in order.
        _, session_of, lengths = np.unique(playlist[kept], return_inverse=True,
                                           return_counts=True)
        self.items = played[kept]
        self.lengths = lengths.astype(np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        n_sessions = len(lengths)
        self.positions = np.arange(len(self.items)) - self.indptr[session_of]
        data = np.ones(len(self.items), np.float32)
        # items x sessions, so a (B, items) context matrix times it gives (B, sessions).
        self.item_sessions = sparse.csr_matrix(
            (data, (self.items, session_of)), shape=(n_items, n_sessions)
        )
        # Sorted (session, item) keys: the anchor lookup is one searchsorted.
        self.keys = session_of * n_items + self.items
        self.key_order = np.argsort(self.keys, kind="stable")
        self.sorted_keys = self.keys[self.key_order]
        df = np.bincount(self.items, minlength=n_items).astype(np.float64)
        self.known = df > 0
        self.idf = np.where(df > 0, np.log(max(n_sessions, 1) / np.maximum(df, 1)), 0.0)
        self.idf = self.idf.astype(np.float32)
        # Far below any vote: orders the songs no neighbour mentions by popularity.
        counts = np.bincount(played, minlength=n_items).astype(np.float64)
        self.prior = np.where(self.known, 1e-6 * counts / max(counts.max(), 1.0), -np.inf)
        self.prior = self.prior.astype(np.float32)
        return self

    # -- scoring --------------------------------------------------------------------------------
    def _context_weights(self, contexts: Sequence[Context]) -> tuple[list[np.ndarray], ...]:
        cfg = self.config
        items, weights = [], []
        for c in contexts:
            c = np.asarray(c, np.int64)
            if cfg.context_window:
                c = c[-cfg.context_window:]
            n = len(c)
            back = np.arange(n - 1, -1, -1, dtype=np.float64)
            if cfg.weighting == "linear":
                w = (n - back) / max(n, 1)
            elif cfg.weighting == "exp":
                w = np.exp(-back / cfg.spw)
            else:
                w = np.ones(n)
            items.append(c)
            weights.append(w.astype(np.float32))
        return items, weights

    def neighbours(self, contexts: Sequence[Context]) -> tuple[np.ndarray, np.ndarray]:
        """Top-k neighbour playlists of each context: (B, k) session indices (-1 = none) and
        similarities (0 where none)."""
        cfg = self.config
        items, weights = self._context_weights(contexts)
        lengths = [len(c) for c in items]
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        query = sparse.csr_matrix(
            (np.concatenate(weights) if weights else np.zeros(0, np.float32),
             np.concatenate(items) if items else np.zeros(0, np.int64), indptr),
            shape=(len(contexts), self.n_items),
        )
        query.sum_duplicates()
        sims = (query @ self.item_sessions).toarray()
        if cfg.similarity == "cosine":
            sims /= np.sqrt(np.maximum(self.lengths, 1))[None, :]
        k = min(cfg.k, sims.shape[1])
        if k == 0:
            return np.full((len(contexts), 0), -1), np.zeros((len(contexts), 0), np.float32)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1).astype(np.float32)
        top = np.where(top_sims > 0, top, -1)
        return top, np.maximum(top_sims, 0)

    def _anchors(self, contexts: Sequence[Context], nbrs: np.ndarray) -> np.ndarray:
        """Position, in each neighbour, of its most recent song shared with the context (-1 if
        none): (B, k). Contexts are padded to one width and looked up in the sorted keys."""
        width = max((len(c) for c in contexts), default=0)
        # The anchor is the most recent shared song; looking further back than ANCHOR_WINDOW
        # songs costs memory (B x k x W keys) for neighbours that hardly vote anyway.
        width = min(width, self.config.context_window or width, ANCHOR_WINDOW)
        b, k = nbrs.shape
        pad = np.full((b, max(width, 1)), -1, np.int64)
        for row, c in enumerate(contexts):
            c = np.asarray(c, np.int64)[-width:] if width else np.zeros(0, np.int64)
            pad[row, width - len(c):] = c  # right-aligned: the last column is the last song
        anchor = np.full((b, k), -1, np.int64)
        if not width or not len(self.sorted_keys):
            return anchor
        keys = nbrs[:, :, None] * self.n_items + pad[:, None, :]  # (B, k, W)
        valid = (nbrs[:, :, None] >= 0) & (pad[:, None, :] >= 0)
        where = np.searchsorted(self.sorted_keys, keys)
        where = np.minimum(where, len(self.sorted_keys) - 1)
        found = valid & (self.sorted_keys[where] == keys)
        # The most recent shared song is the last found column.
        last = width - 1 - np.argmax(found[:, :, ::-1], axis=2)
        has = found.any(axis=2)
        pos = self.positions[self.key_order[np.take_along_axis(where, last[:, :, None], 2)]]
        anchor[has] = pos[:, :, 0][has]
        return anchor

    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        out = np.empty((len(contexts), self.n_items), np.float32)
        # A few rows at a time: a whole batch's dense (rows, playlists) similarities, their
        # argpartition and the votes are hundreds of MB, freshly mapped and zeroed by the
        # kernel on every call (a third of `evaluate`'s time went to those page faults).
        # Rows are scored independently, so the result is the same.
        rows = max(1, BLOCK_CELLS // max(self.item_sessions.shape[1], 1))
        for start in range(0, len(contexts), rows):
            out[start:start + rows] = self._score_block(contexts[start:start + rows])
        return out

    def _score_block(self, contexts: Sequence[Context]) -> np.ndarray:
        cfg = self.config
        b = len(contexts)
        nbrs, sims = self.neighbours(contexts)
        out = np.tile(self.prior, (b, 1))
        pair_b, pair_j = np.nonzero(nbrs >= 0)
        if not len(pair_b):
            return out
        sessions = nbrs[pair_b, pair_j]
        lengths = self.lengths[sessions]
        starts = self.indptr[sessions]
        total = int(lengths.sum())
        offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        flat = np.repeat(starts, lengths) + offsets
        votes = np.repeat(sims[pair_b, pair_j], lengths).astype(np.float32)
        if cfg.needs_anchor:
            anchor = np.repeat(self._anchors(contexts, nbrs)[pair_b, pair_j], lengths)
            distance = np.abs(offsets - anchor).astype(np.float32)
            if cfg.inh > 0:
                votes *= np.exp(-distance / cfg.inh)
            if cfg.before_weight != 1.0:
                votes *= np.where(offsets < anchor, cfg.before_weight, 1.0).astype(np.float32)
        item = self.items[flat]
        if cfg.idf:
            votes *= self.idf[item]
        rows = np.repeat(pair_b, lengths)
        summed = np.bincount(rows * self.n_items + item, weights=votes,
                             minlength=b * self.n_items).reshape(b, self.n_items)
        out += summed.astype(np.float32)
        return out

    # -- persistence: the config (the playlists are refitted from the training data) ---------
    def save(self, folder: str | Path) -> list[str]:
        path = Path(folder) / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        return [path.name]

    @classmethod
    def load(cls, folder: str | Path, name: str, sentences: Sequence[np.ndarray],
             n_items: int) -> SessionKNN:
        config = SessionKNNConfig(**json.loads((Path(folder) / f"{name}.json").read_text()))
        return cls(config, name=name).fit(sentences, n_items)


def SKNN(k: int = 50, **overrides) -> SessionKNN:
    """Plain session kNN: cosine of binary sets, every neighbour song votes its similarity."""
    return SessionKNN(SessionKNNConfig(k=k, **overrides), name="sknn")


def VSKNN(k: int = 100, **overrides) -> SessionKNN:
    """Vector multiplication SKNN: linearly decaying context weights, dot product, IDF votes."""
    config = {"similarity": "dot", "weighting": "linear", "idf": True, **overrides}
    return SessionKNN(SessionKNNConfig(k=k, **config), name="vsknn")


def VSTAN(k: int = 100, **overrides) -> SessionKNN:
    """VSTAN: exponential context weights, item-neighbourhood decay around the anchor, a soft
    sequential filter and IDF votes."""
    config = {"similarity": "cosine", "weighting": "exp", "spw": 5.0, "inh": 5.0,
              "before_weight": 0.5, "idf": True, **overrides}
    return SessionKNN(SessionKNNConfig(k=k, **config), name="vstan")


class ItemKNN(Recommender):
    """Item kNN (the IKNN of Ludewig & Jannach): songs that share playlists with the context's
    songs, by cosine of their playlist sets (popularity damped by `alpha`), summed over the
    recency-weighted context. A session-level co-occurrence: no order, whole playlists."""

    name = "iknn"

    def __init__(self, context_decay: float = 0.8, context_window: int = 20,
                 alpha: float = 0.5) -> None:
        self.context_decay = context_decay
        self.context_window = context_window
        self.alpha = alpha

    def fit(self, sentences: Sequence[np.ndarray], n_items: int) -> Self:
        from recsys.baselines import play_counts, playlist_item_matrix

        self.n_items = n_items
        matrix = playlist_item_matrix(list(sentences), n_items)
        together = (matrix.T @ matrix).tocsr().astype(np.float32)
        together.setdiag(0)
        together.eliminate_zeros()
        df = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float32)
        left = np.power(np.maximum(df, 1), -self.alpha)
        right = np.power(np.maximum(df, 1), -(1 - self.alpha))
        self.similar = sparse.diags(left) @ together @ sparse.diags(right)
        self.similar = self.similar.tocsr().astype(np.float32)
        counts = play_counts(list(sentences), n_items)
        self.prior = np.where(df > 0, 1e-6 * counts / max(counts.max(), 1.0), -np.inf)
        self.prior = self.prior.astype(np.float32)
        return self

    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        from recsys.base import context_matrix

        weights = context_matrix(contexts, self.n_items, self.context_decay, self.context_window)
        return (weights @ self.similar).toarray().astype(np.float32) + self.prior
