"""Interests: weighted spherical k-means for every user at once.

A listener's taste is rarely one direction; the interests are the few clusters of the songs a
user liked, each a query of its own for recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from scipy import sparse

from recsys.growable import put_rows

if TYPE_CHECKING:
    from recsys.profiles import Pairs, ProfileConfig


@dataclass
class Interests:
    """Interest centroids of the users that have more than one.

    user : int32 (m,) user row of each centroid; -1 marks a free slot (an update replaced that
        user's interests with fewer), which :meth:`live` drops.
    vectors : float32 (m, d) unit centroids.
    share : float32 (m,) the interest's part of the user's positive weight.
    """

    user: np.ndarray
    vectors: np.ndarray
    share: np.ndarray

    FREE: ClassVar[int] = -1

    @classmethod
    def empty(cls, dim: int) -> Interests:
        return cls(np.zeros(0, np.int32), np.zeros((0, dim), np.float32), np.zeros(0, np.float32))

    def live(self) -> Interests:
        """Without free slots (a copy when there are any)."""
        used = self.user != self.FREE
        if used.all():
            return self
        return Interests(self.user[used], self.vectors[used], self.share[used])

    @property
    def n_users(self) -> int:
        """How many users have several interests."""
        return int(np.unique(self.user[self.user != self.FREE]).size)

    def replaced(self, users: np.ndarray, fresh: Interests) -> Interests:
        """These interests with those of the users marked in the bool array ``users``
        (n_users,) replaced by ``fresh``: written over their slots in place, the rest appended
        (in place when there is room), slots left over marked free. Compacted when a quarter
        of the slots are free."""
        slots = np.flatnonzero((self.user != self.FREE) & users[self.user])
        interests = Interests(put_rows(self.user, slots, fresh.user),
                              put_rows(self.vectors, slots, fresh.vectors),
                              put_rows(self.share, slots, fresh.share))
        interests.user[slots[len(fresh.user):]] = self.FREE
        if 4 * np.count_nonzero(interests.user == self.FREE) > len(interests.user):
            interests = interests.live()
        return interests

    @classmethod
    def concat(cls, parts: list[Interests]) -> Interests:
        return cls(np.concatenate([p.user for p in parts]),
                   np.concatenate([p.vectors for p in parts]),
                   np.concatenate([p.share for p in parts]))

    def of(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """One user's centroids and shares, largest share first."""
        rows = np.flatnonzero(self.user == user)
        rows = rows[np.argsort(-self.share[rows], kind="stable")]
        return self.vectors[rows], self.share[rows]


def nonzero_rows(matrix: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", matrix, matrix) > 0


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def song_clusters(unit_vectors: np.ndarray, config: ProfileConfig, seed: int = 0) -> np.ndarray:
    """Cut the catalogue into ``interest_clusters`` regions (seeded spherical k-means).

    Returns
    -------
    numpy.ndarray
        int32 (n_items,): each song's region; -1 for songs without a vector.
    """
    import faiss

    known = np.flatnonzero(np.abs(unit_vectors).max(axis=1) > 0)
    clusters = np.full(len(unit_vectors), -1, np.int32)
    k = min(config.interest_clusters, len(known))
    if k < 2:
        clusters[known] = 0
        return clusters
    points = np.ascontiguousarray(unit_vectors[known], dtype=np.float32)
    kmeans = faiss.Kmeans(points.shape[1], k, niter=20, seed=seed, spherical=True,
                          verbose=False, min_points_per_centroid=1)
    kmeans.train(points)
    _, nearest = kmeans.index.search(points, 1)
    clusters[known] = nearest[:, 0]
    return clusters


def fit_interests(pairs: Pairs, weight: np.ndarray, unit_vectors: np.ndarray,
                  clusters: np.ndarray, config: ProfileConfig) -> Interests:
    """Interest centroids of every user in `pairs` whose liked songs gather in several regions.

    A user's interests are the catalogue regions (:func:`song_clusters`) holding at least
    ``min_songs_per_interest`` of their positively weighted songs and ``min_interest_share``
    of that weight, the ``interests`` heaviest of them; an interest's centroid is the
    normalised weighted mean of the user's songs in it; interests closer than
    ``interest_merge`` are merged (a taste can straddle two regions). Regions are fixed by the
    model, which makes this a few sparse sums over all users at once, and an incremental
    update finds exactly what a full build finds.

    Parameters
    ----------
    pairs : Pairs
        The pairs of the users to fit, sorted by user.
    weight : float array (P,)
        Saturated weight of each pair.
    unit_vectors : float32 (n_items, d)
    clusters : int array (n_items,)
        Region of each song, -1 for songs without a vector.

    Returns
    -------
    Interests
        Only users with at least two interests appear, largest share first.
    """
    dim, n_regions = unit_vectors.shape[1], int(clusters.max()) + 1
    if config.interests < 2 or not len(pairs) or n_regions < 2:
        return Interests.empty(dim)
    liked = np.flatnonzero((weight > 0) & (clusters[pairs.item] >= 0))
    if not len(liked):  # a batch of only skips and dislikes: no interest to find
        return Interests.empty(dim)
    user, item, w = pairs.user[liked], pairs.item[liked], weight[liked]
    region = clusters[item]

    # Weight and song count per (user, region), as sparse rows: most cells are empty.
    n_rows = int(user.max()) + 1
    mass = sparse.csr_matrix((w, (user, region)), shape=(n_rows, n_regions))
    count = sparse.csr_matrix((np.ones(len(user)), (user, region)), shape=(n_rows, n_regions))
    mass.sum_duplicates()
    count.sum_duplicates()
    row = np.repeat(np.arange(n_rows), np.diff(mass.indptr))
    share = mass.data / np.asarray(mass.sum(axis=1)).ravel()[row]
    good = np.flatnonzero((count.data >= config.min_songs_per_interest)
                          & (share >= config.min_interest_share))
    # Each user's heaviest qualifying regions, at most `interests` of them.
    good = good[np.lexsort((-mass.data[good], row[good]))]
    starts = np.r_[0, np.flatnonzero(np.diff(row[good])) + 1]
    rank = np.arange(len(good)) - np.repeat(starts, np.diff(np.r_[starts, len(good)]))
    good, rank = good[rank < config.interests], rank[rank < config.interests]
    several = np.bincount(row[good], minlength=n_rows) >= 2
    rank, good = rank[several[row[good]]], good[several[row[good]]]
    if not len(good):
        return Interests.empty(dim)

    # Weighted sums of the chosen cells, laid out (user, rank) for merging.
    users = np.unique(row[good])
    k = config.interests
    slot = np.searchsorted(users, row[good]) * k + rank
    keys = row[good].astype(np.int64) * n_regions + mass.indices[good]
    by_key = np.argsort(keys)
    keys, slot_of_key = keys[by_key], slot[by_key]
    pair_keys = user.astype(np.int64) * n_regions + region
    at = np.minimum(np.searchsorted(keys, pair_keys), len(keys) - 1)
    pair_slot = np.where(keys[at] == pair_keys, slot_of_key[at], -1)
    inside = pair_slot >= 0
    sums = np.asarray(sparse.csr_matrix(
        (w[inside].astype(np.float32), (pair_slot[inside], item[inside])),
        shape=(len(users) * k, len(unit_vectors))) @ unit_vectors, dtype=np.float32)
    sums = sums.reshape(len(users), k, dim)
    cell_mass = np.zeros(len(users) * k)
    cell_mass[slot] = mass.data[good]
    cell_mass = cell_mass.reshape(len(users), k)

    target = _merge_close(sums, cell_mass, config.interest_merge)
    merged_sums = np.zeros_like(sums)
    merged_mass = np.zeros_like(cell_mass)
    everyone = np.arange(len(users))
    for j in range(k):  # within one j every user has one target: no index repeats
        merged_sums[everyone, target[:, j]] += sums[:, j]
        merged_mass[everyone, target[:, j]] += cell_mass[:, j]
    keep = (merged_mass > 0) & ((merged_mass > 0).sum(axis=1) >= 2)[:, None]
    share = merged_mass / merged_mass.sum(axis=1, keepdims=True)
    owner = np.repeat(users, k).reshape(len(users), k)[keep]
    vectors = unit_rows(merged_sums[keep])
    share = share[keep]
    order = np.lexsort((-share, owner))  # largest interest first within each user
    return Interests(owner[order].astype(np.int32), vectors[order],
                     share[order].astype(np.float32))


def _merge_close(sums: np.ndarray, mass: np.ndarray, threshold: float) -> np.ndarray:
    """Which interest each interest ends up in, once per user the two closest interests are
    merged while their cosine exceeds `threshold`.

    k-means splits whatever k it is given; a listener of one genre with many songs is still
    one taste, so clusters that point the same way become one again.

    Parameters
    ----------
    sums : (n, K, r) weighted sums of member vectors (in the k-means projection).
    mass : (n, K) the members' weights.

    Returns
    -------
    numpy.ndarray
        int (n, K): the interest each interest is merged into (itself when kept).
    """
    n, k, dim = sums.shape
    sums, mass = sums.copy(), mass.copy()
    target = np.tile(np.arange(k), (n, 1))
    if k < 2:
        return target
    for _ in range(k - 1):
        unit = unit_rows(sums.reshape(-1, dim)).reshape(n, k, dim)
        cos = np.einsum("nkd,njd->nkj", unit, unit)
        empty = mass <= 0
        cos[:, np.arange(k), np.arange(k)] = -np.inf
        cos[empty[:, :, None] | empty[:, None, :]] = -np.inf
        flat = cos.reshape(n, -1).argmax(axis=1)
        best = cos.reshape(n, -1)[np.arange(n), flat]
        users = np.flatnonzero(best > threshold)
        if not len(users):
            break
        a, b = np.divmod(flat[users], k)
        sums[users, a] += sums[users, b]
        sums[users, b] = 0.0
        mass[users, a] += mass[users, b]
        mass[users, b] = 0.0
        target[users] = np.where(target[users] == b[:, None], a[:, None], target[users])
    return target
