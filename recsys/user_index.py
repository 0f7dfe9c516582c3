"""Users in FAISS: similar users, and recommendations for a user with reasons.

    taste = TasteRecommender(state, catalog, unit_vectors)
    taste.recommend("alice", k=10, diversity=0.3)   # songs near alice's profile, with "because"
    taste.similar_users("alice", k=10)              # users whose profiles are closest

Recommendations are the songs with the highest taste score: co-listening's (`recsys.colisten`:
what the songs a user played predict, learnt from playlists and listeners) blended with the
profile's (`recsys.profiles.item_space`: by default the profile against song2vec's output
vectors; with ``interests`` the best over the user's interests), without what the user already
heard unless asked, optionally re-ranked for diversity by maximal marginal relevance (MMR), each
explained by the played song that adds the most to its co-listening score, or else the liked
song closest to it. Profiles built without co-listening are scored by the profile alone. Songs
a user excluded from their taste profile (`recsys.exclusions`) are never recommended to them
nor cited.
"""

from __future__ import annotations

import numpy as np

from recsys.catalog import Catalog
from recsys.colisten import CoListening, blend, user_evidence
from recsys.index import IndexConfig, VectorIndex
from recsys.profiles import (
    Pairs,
    ProfileState,
    interest_queries,
    item_space,
    saturate,
    song_popularity,
)
from recsys.profiles import queries as as_queries

# The user index defaults to exact search: building HNSW over a million users takes minutes
# on two cores, while one exact query over a million 100-d profiles takes tens of ms.
USER_INDEX = IndexConfig(kind="flat")


class UnknownUserError(KeyError):
    """A user id the profiles do not have."""

    def __str__(self) -> str:
        return self.args[0]


def build_user_index(state: ProfileState, config: IndexConfig | None = None) -> VectorIndex:
    """A cosine index over the profiles of the users that have one."""
    rows = np.flatnonzero(state.has_profile)
    ids = state.users.gather(rows).to_list()
    return VectorIndex.build(ids, state.profiles[rows], config or USER_INDEX)


def update_user_index(index: VectorIndex, state: ProfileState, rows: np.ndarray) -> None:
    """Replace the vectors of some users (new ones are added, emptied ones removed)."""
    ids = state.users.gather(rows).to_list()
    usable = state.has_profile[rows]
    gone = [i for i, ok in zip(ids, usable, strict=True) if not ok and i in index]
    if gone:
        index.remove(gone)
    keep = rows[usable]
    if len(keep):
        index.add([i for i, ok in zip(ids, usable, strict=True) if ok], state.profile_of(keep))


def top_songs(scores: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k best finite scores, best first (ties: the lower index first)."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > k:
        finite = finite[np.argpartition(-scores[finite], k - 1)[:k]]
    return finite[np.lexsort((finite, -scores[finite]))]


def mmr(candidates: np.ndarray, relevance: np.ndarray, unit_vectors: np.ndarray, k: int,
        diversity: float) -> np.ndarray:
    """Maximal marginal relevance: pick, k times, the candidate maximising
    ``(1 - diversity) * relevance - diversity * (its highest cosine with a song picked so far)``.

    Returns the positions (into `candidates`) of the picks, in pick order.
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be between 0 and 1, got {diversity}")
    vectors = unit_vectors[candidates]
    similarity = vectors @ vectors.T  # (C, C)
    closest = np.full(len(candidates), -np.inf)
    free = np.ones(len(candidates), bool)
    picks: list[int] = []
    for _ in range(min(k, len(candidates))):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        value = np.where(free, (1.0 - diversity) * relevance - diversity * penalty, -np.inf)
        pick = int(np.argmax(value))
        picks.append(pick)
        free[pick] = False
        closest = np.maximum(closest, similarity[pick])
    return np.asarray(picks, dtype=np.int64)


class TasteRecommender:
    """Recommendations and similar users over profiles and the song vectors they came from.

    Parameters
    ----------
    state : ProfileState
    catalog : Catalog
        The catalogue of the model the profiles were built with.
    unit_vectors : float32 (n_items, d)
        Unit song vectors (`recsys.profiles.song_space`); zero rows for songs without a vector.
    output_vectors : float32 (n_items, d), optional
        The model's output vectors, for ``scoring="in_out"``.
    user_index : VectorIndex, optional
        Built with :func:`build_user_index` when not given.
    excluded : dict of int to int array, optional
        The catalogue indices each user row excluded from their taste profile
        (`recsys.exclusions`): never recommended to them, never a "because", never in common.
    colisten : CoListening, optional
        The profiles' co-listening model; without it the profile alone scores.
    """

    def __init__(self, state: ProfileState, catalog: Catalog, unit_vectors: np.ndarray,
                 output_vectors: np.ndarray | None = None,
                 user_index: VectorIndex | None = None,
                 excluded: dict[int, np.ndarray] | None = None,
                 colisten: CoListening | None = None) -> None:
        self.state, self.catalog, self.unit_vectors = state, catalog, unit_vectors
        self.excluded = excluded if excluded is not None else {}
        self.colisten = colisten
        self.known = np.linalg.norm(unit_vectors, axis=1) > 0
        self.song_ids = catalog.song_ids
        self.servable = self.known & ~catalog.placeholder  # placeholders: never
        self.among = np.flatnonzero(self.servable)
        self.items = item_space(state.config, unit_vectors, output_vectors,
                                song_popularity(state, len(catalog)))
        self.user_index = user_index if user_index is not None else build_user_index(state)

    def row(self, user_id: str) -> int:
        row = self.state.row_of(user_id)
        if row is None:
            raise UnknownUserError(
                f"no user {user_id!r} in these profiles ({len(self.state):,} users)")
        return row

    def _require_profile(self, user_id: str, row: int) -> None:
        if not self.state.has_profile[row]:
            raise ValueError(
                f"user {user_id!r} has no positive listening signal on songs the model knows "
                "(and they did not exclude), so there is no profile to recommend from yet")

    def recommend(self, user_id: str, k: int = 10, exclude_played: bool = True,
                  diversity: float = 0.0, interests: bool = False) -> list[dict]:
        """Songs for a user, best first.

        Parameters
        ----------
        user_id : str
        k : int
            How many songs.
        exclude_played : bool
            Leave out every song the user has an event for (default True).
        diversity : float
            0 ranks by score alone; up to 1, MMR trades score for variety.
        interests : bool
            Blend the user's interests (when they have several) instead of the single mean
            (off by default: the single mean ranked better offline, bench/README.md).

        Returns
        -------
        list of dict
            ``{"song_id", "title", "artist", "score", "because"}``; ``because`` is the played
            song that adds the most to the recommendation's co-listening score, or else the
            liked song closest to it (``{"song_id", "title", "artist"}``), or None.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        row = self.row(user_id)
        self._require_profile(user_id, row)
        played = self.kept_pairs(row)  # excluded songs are left out even with include_played
        scores = self.scores(row, interests, played)
        if exclude_played:
            scores[played.item] = -np.inf
        scores[self.excluded.get(row, [])] = -np.inf
        pool = k if diversity == 0 else max(4 * k, 50)
        ranked = [(int(i), float(scores[i])) for i in top_songs(scores, pool)]
        if not ranked:
            return []
        candidates = np.asarray([i for i, _ in ranked], np.int64)
        relevance = np.asarray([v for _, v in ranked])
        if diversity:
            # Scores have the scale of the scoring vectors; MMR weighs them against cosines.
            span = max(float(relevance.max() - relevance.min()), 1e-12)
            picks = mmr(candidates, (relevance - relevance.min()) / span, self.unit_vectors, k,
                        diversity)
        else:
            picks = np.arange(min(k, len(ranked)))
        return [self._row(int(candidates[p]), relevance[p], played) for p in picks]

    def scores(self, row: int, interests: bool = False,
               played: Pairs | None = None) -> np.ndarray:
        """Every song's taste score for a user row (-inf: never recommended), played songs
        included: co-listening blended with the profile, or the profile alone. `played` is
        the row's :meth:`kept_pairs` when the caller has them already."""
        if interests:
            vectors, prior = interest_queries(self.state, row)
        else:
            vectors, prior = self.state.profile_of(row), np.zeros(1, np.float32)
        # The best over interests of score + prior (one row without interests).
        profile = (as_queries(vectors) @ self.items.T + prior[:, None]).max(axis=0)
        profile[~self.servable] = -np.inf
        if self.colisten is None:
            return profile
        if played is None:
            played = self.kept_pairs(row)
        items, evidence = user_evidence(played, self.state.config)
        return blend(self.colisten.scores(items, evidence), profile, self.among,
                     self.colisten.config.profile_weight)

    def kept_pairs(self, row: int) -> Pairs:
        """A user's (user, song) pairs less the songs they excluded."""
        pairs = self.state.pairs_of(row)
        excluded = self.excluded.get(row)
        return pairs if excluded is None else pairs.take(~np.isin(pairs.item, excluded))

    def _row(self, item: int, score: float, played: Pairs) -> dict:
        row = self.catalog.describe(item)
        row["score"] = round(float(score), 4)
        row["because"] = self._because(item, played)
        return row

    def _because(self, item: int, played: Pairs) -> dict | None:
        """The played song adding the most to `item`'s co-listening score, or else the
        positively weighted played song closest to it."""
        liked = played.item[(saturate(played.evidence, self.state.config) > 0)
                            & self.known[played.item]]
        if not len(liked):
            return None
        if self.colisten is not None:
            reason = self.colisten.reason(item, *user_evidence(played, self.state.config))
            if reason is not None:
                return self.catalog.describe(reason)
        closest = int(liked[np.argmax(self.unit_vectors[liked] @ self.unit_vectors[item])])
        return self.catalog.describe(closest)

    def similar_users(self, user_id: str, k: int = 10) -> list[dict]:
        """Users whose profiles are closest to this user's.

        Returns
        -------
        list of dict
            ``{"user_id", "score", "songs_in_common"}``, best first.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        row = self.row(user_id)
        self._require_profile(user_id, row)
        ids, scores = self.user_index.search(self.state.profile_of(row), k, exclude={user_id})
        mine = set(self.kept_pairs(row).item.tolist())
        out = []
        for other, score in zip(ids[0], scores[0], strict=True):
            theirs = self.kept_pairs(self.row(other)).item
            out.append({"user_id": other, "score": round(float(score), 4),
                        "songs_in_common": len(mine.intersection(theirs.tolist()))})
        return out
