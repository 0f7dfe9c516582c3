"""Co-listening: which songs go with the songs a user played, learned from who played what.

The taste profile (`recsys.profiles`) knows songs only through song2vec's vectors. Listeners who
played the same songs say more: a song is recommended when the songs a user played predict it
across all playlists and listening histories. The model is EASE (Steck, "Embarrassingly
Shallow Autoencoders for Sparse Data", WWW 2019): an item-item weight matrix B, zero on its
diagonal, that best rebuilds each history from the other songs in it,

    B = I - P diagMat(1 / diag(P)),   P = (X^T X + l2 I)^-1,

solved in closed form over the most played songs (X: one binary row per playlist or listener).
A user's score for song i is the evidence-weighted sum of B[j, i] over the songs j they played,
and the song j with the largest term is the reason ("because you played j").

Offline (bench/README.md), EASE alone beat implicit's ALS on yes.com playlists-as-users and on
HetRec Last.fm; blended with the profile's score (each standardised per user), it is the
default of `songspace recommend`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy import sparse

from foundation.settings import Settings
from recsys.baselines import playlist_item_matrix
from recsys.profiles import Pairs, ProfileConfig, ProfileState, saturate

FILES = ("colisten.npz", "colisten.json")


@dataclass
class CoListenConfig(Settings):
    """Settings of the co-listening model.

    max_songs : the most played songs it models (the solve costs max_songs^3: 10,000 songs
        take about a minute on 2 cores and 0.8 GB at the peak); the others score 0. 0 turns
        co-listening off (recommendations from the profile alone).
    min_listeners : songs in fewer rows (playlists or listeners) than this are not modelled.
    l2 : EASE's regularisation, chosen on yes.com's validation split and a HetRec hold-out.
    keep : weights kept per song (the largest in magnitude), so the model stays small.
    profile_weight : weight of the profile's standardised score against co-listening's.
    """

    kind: ClassVar[str] = "co-listening"

    max_songs: int = 10_000
    min_listeners: int = 3
    l2: float = 100.0
    keep: int = 200
    profile_weight: float = 0.5

    def __post_init__(self) -> None:
        self._require({"max_songs": self.max_songs >= 0, "min_listeners": self.min_listeners >= 1,
                       "l2": self.l2 > 0, "keep": self.keep >= 1,
                       "profile_weight": self.profile_weight >= 0})


def liked_rows(state: ProfileState) -> list[np.ndarray]:
    """Each user's songs with positive evidence (skipped and disliked songs left out)."""
    pairs = state.pairs
    liked = saturate(pairs.evidence, state.config) > 0
    order = np.argsort(pairs.user[liked], kind="stable")
    users, items = pairs.user[liked][order], pairs.item[liked][order]
    return np.split(items, np.flatnonzero(np.diff(users)) + 1) if len(items) else []


def user_evidence(pairs: Pairs, config: ProfileConfig) -> tuple[np.ndarray, np.ndarray]:
    """A user's songs and their saturated evidence (skips and dislikes count against)."""
    return pairs.item, saturate(pairs.evidence, config)


class CoListening:
    """EASE weights over the modelled songs, as a sparse (n_items, n_items) matrix: row j holds
    what playing song j says about every other song."""

    def __init__(self, weights: sparse.csr_matrix, songs: np.ndarray,
                 config: CoListenConfig) -> None:
        self.weights, self.songs, self.config = weights, songs, config

    @classmethod
    def fit(cls, rows: Sequence[np.ndarray], n_items: int,
            config: CoListenConfig | None = None) -> CoListening:
        """Learn from playlists and listeners' histories (catalogue indices per row)."""
        config = config or CoListenConfig()
        x = playlist_item_matrix(rows, n_items)
        counts = np.asarray(x.sum(axis=0)).ravel()
        eligible = np.flatnonzero(counts >= config.min_listeners)
        songs = np.sort(eligible[np.argsort(-counts[eligible], kind="stable")
                                 [:config.max_songs]])
        if len(songs) < 2:
            return cls(sparse.csr_matrix((n_items, n_items), dtype=np.float32), songs, config)
        sub = x[:, songs]
        gram = (sub.T @ sub).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += config.l2
        precision = spd_inverse(gram)
        del gram
        weights = precision / -np.diag(precision)[None, :]
        np.fill_diagonal(weights, 0.0)
        return cls(_sparsify(weights, songs, n_items, config.keep), songs, config)

    def scores(self, items: np.ndarray, evidence: np.ndarray) -> np.ndarray:
        """float32 (n_items,): the co-listening score of every song for one user's evidence."""
        row = sparse.csr_matrix((evidence.astype(np.float32), (np.zeros(len(items), int), items)),
                                shape=(1, self.weights.shape[0]))
        return np.asarray((row @ self.weights).todense(), np.float32).ravel()

    def batch_scores(self, histories: sparse.csr_matrix) -> np.ndarray:
        """float32 (n_users, n_items) for an evidence matrix (one row per user)."""
        return np.asarray((histories @ self.weights).todense(), np.float32)

    def reason(self, item: int, items: np.ndarray, evidence: np.ndarray) -> int | None:
        """The played song whose term adds the most to `item`'s score (None if none adds)."""
        # The played songs' rows first: a column of the CSR matrix would scan every row.
        terms = np.asarray(self.weights[items][:, item].todense()).ravel() * evidence
        if not len(terms) or terms.max() <= 0:
            return None
        return int(items[int(np.argmax(terms))])

    # -- persistence --------------------------------------------------------------------------
    def save(self, folder: Path) -> list[str]:
        sparse.save_npz(folder / "colisten.npz", self.weights)
        (folder / "colisten.json").write_text(json.dumps(
            {"config": self.config.to_dict(), "songs": self.songs.tolist()}) + "\n")
        return list(FILES)

    @classmethod
    def load(cls, folder: Path) -> CoListening | None:
        """The model saved in a profiles folder; None for folders built before it existed."""
        if not (folder / "colisten.npz").is_file():
            return None
        meta = json.loads((folder / "colisten.json").read_text())
        return cls(sparse.load_npz(folder / "colisten.npz").tocsr(),
                   np.asarray(meta["songs"], np.int64),
                   CoListenConfig.from_dict(meta["config"], str(folder / "colisten.json")))


def spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix through its Cholesky factor: half
    the work of a general inverse (n^3 against 2 n^3), which is most of a fit at 10,000 songs.
    `matrix` is overwritten."""
    # Imported here: scipy.linalg loads scipy's own BLAS, which serving never needs.
    from scipy.linalg import lapack

    # The transpose of a symmetric C-ordered matrix is itself in Fortran order: no copy.
    factor, info = lapack.dpotrf(matrix.T, lower=False, clean=False, overwrite_a=True)
    if info == 0:
        inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"co-listening Gram matrix is not positive definite "
                                    f"(LAPACK info {info})")
    upper = np.triu(inverse)
    return upper + np.triu(upper, 1).T


def _sparsify(weights: np.ndarray, songs: np.ndarray, n_items: int,
              keep: int) -> sparse.csr_matrix:
    """The `keep` largest-magnitude weights into each song, placed at catalogue indices."""
    n = len(songs)
    keep = min(keep, n - 1)
    rows, cols, values = [], [], []
    for start in range(0, n, 1024):  # blocks of columns bound the sort's memory
        block = weights[:, start:start + 1024]
        top = np.argpartition(-np.abs(block), keep - 1, axis=0)[:keep]
        rows.append(top.ravel())
        cols.append(np.broadcast_to(np.arange(start, start + block.shape[1]), top.shape).ravel())
        values.append(np.take_along_axis(block, top, axis=0).ravel())
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(values)
    nonzero = v != 0
    return sparse.csr_matrix((v[nonzero].astype(np.float32),
                              (songs[r[nonzero]], songs[c[nonzero]])), shape=(n_items, n_items))


def standardised(scores: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Scores (rows: users) minus each row's mean over the songs `among`, over its std there."""
    sub = scores[..., among]
    mean = sub.mean(axis=-1, keepdims=True)
    std = sub.std(axis=-1, keepdims=True)
    return (scores - mean) / np.maximum(std, 1e-9)


def blend(colisten: np.ndarray, profile: np.ndarray, among: np.ndarray,
          profile_weight: float) -> np.ndarray:
    """The taste score: co-listening's and the profile's scores, each standardised per user over
    the songs `among` (where the profile scores are finite), co-listening's counting 1; songs
    the profile cannot score (-inf) stay -inf."""
    score = standardised(colisten, among)
    if profile_weight:
        score += profile_weight * standardised(profile, among)
    return np.where(np.isfinite(profile), score, -np.inf).astype(np.float32)
