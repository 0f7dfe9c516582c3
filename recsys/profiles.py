"""Taste profiles: a user's listening as a direction in the song space.

The maths, from events to profiles (every step vectorised over all events at once):

1. **Signal of an event.** A play counts its completion ratio ``c = ms_played / duration``
   (clipped to [0, 1]; the song's duration when the log gives it, else ``default_duration_ms``)
   times ``play_weight``. A skip counts *against* the song, the more the earlier it came:
   ``-skip_weight * (1 - c)``. A like counts ``+like_weight``, an add to a playlist
   ``+playlist_weight``, a dislike ``-dislike_weight``.
2. **Recency.** Each signal decays by ``2 ** (-age / half_life)``, where the age is measured back
   from the user's latest event, so a profile does not fade just because the calendar moves:
   it shifts only when new listening arrives.
3. **Evidence per song.** Signals of one user and song add up to the pair's evidence ``R``.
4. **Saturation.** The weight of a song is ``sign(R) * log1p(|R|)``: the tenth play of a song
   adds far less than the first, so one song on repeat cannot own a profile.
5. **Profile.** The weighted sum ``S = sum_s w_s * v_s / |v_s|`` of the songs' unit vectors,
   normalised to unit length: the normalised weighted mean of normalised song vectors (a
   mean's direction does not depend on its denominator). Songs with negative weight push the
   profile away from themselves. A user with only skips and dislikes has no profile yet.
6. **Scoring.** By default a song scores ``profile . output_vector``: song2vec's dual-embedding
   view, whose output norms carry how often a song is played (``scoring="cosine"`` uses the
   unit input vectors instead, optionally with a log-popularity prior); bench/README.md has the
   offline comparison that chose this.

**Sufficient statistics.** Saturation is not linear, so per-user sums alone cannot absorb new
events exactly. What is kept is the evidence ``R`` of every (user, song) pair, referenced to the
user's latest event time, plus per user that time, ``S`` and the total weight ``sum |w|``. A new
batch rescales the affected users' evidence to their new latest time (decay composes:
``2**(-a/h) * 2**(-b/h) = 2**(-(a+b)/h)``), adds the batch's evidence and recomputes ``S`` for
those users only. The result equals a full recomputation up to float rounding.

**Several tastes.** One mean of classical mornings and EDM nights is neither. The catalogue is
cut once into regions (a seeded spherical k-means over the songs); a user's interests are the
regions that hold enough of their liked songs, each summarised by the weighted mean of those
songs, with interests that point alike merged. That is k-means-like clustering of each user's
weighted song vectors around fixed seeds, done for all users at once with sparse sums (the
per-user Lloyd iterations it replaces took 25 s at a million users), and it makes
incremental updates find exactly what a full build finds.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import polars as pl
from scipy import sparse

from foundation.settings import Settings
from recsys.growable import grown, put_rows
from recsys.interests import Interests, fit_interests, nonzero_rows, song_clusters, unit_rows

logger = logging.getLogger(__name__)

EVENTS: tuple[str, ...] = ("play", "skip", "like", "dislike", "add_to_playlist")
PLAY, SKIP, LIKE, DISLIKE, ADD = range(len(EVENTS))
_DAY = 86_400.0

Saturation = Literal["log1p", "linear"]
Scoring = Literal["in_out", "cosine"]


@dataclass
class ProfileConfig(Settings):
    """Everything that shapes a taste profile (saved as JSON beside the profiles).

    Parameters
    ----------
    play_weight : weight of a play listened to the end (scaled by the completion ratio).
    skip_weight : weight against a song skipped at once (scaled by 1 - completion).
    like_weight, playlist_weight : extra weight for a like and for an add to a playlist.
    dislike_weight : weight against a disliked song.
    default_duration_ms : song length assumed when the log does not give one (3.5 minutes).
    half_life_days : age at which an event counts half; None disables recency decay.
    saturation : "log1p" weighs a song by log1p of its evidence (repeats saturate); "linear"
        uses the evidence as it is.
    interests : most interest centroids per user; 1 keeps one mean per user.
    min_songs_per_interest : liked songs a user needs in a region for it to be an interest.
    min_interest_share : the least part of a user's positive weight an interest must hold.
    interest_clusters : regions the catalogue is cut into (spherical k-means over the songs).
    interest_prior : when blending interests, a song's score is the best over interests of
        score + interest_prior * ln(share / largest share): small interests must match better.
    interest_merge : interests of one user whose centroids have a cosine above this are
        merged into one.
    center : subtract the mean song vector before normalising (see :func:`song_space`).
    scoring : how a profile scores a song. "in_out": profile . the song's song2vec *output*
        vector (the dual-embedding view song2vec's next-song evaluation chose; output norms
        carry how often a song is played). "cosine": profile . the song's unit input vector.
    popularity_prior : adds popularity_prior * log1p(number of users with positive evidence
        on the song) to every score; useful with "cosine", which knows nothing of popularity.
    """

    kind: ClassVar[str] = "profile"

    play_weight: float = 1.0
    skip_weight: float = 0.5
    like_weight: float = 2.0
    playlist_weight: float = 1.5
    dislike_weight: float = 2.0
    default_duration_ms: int = 210_000
    half_life_days: float | None = 90.0
    saturation: Saturation = "log1p"
    interests: int = 3
    min_songs_per_interest: int = 3
    min_interest_share: float = 0.15
    interest_clusters: int = 64
    interest_prior: float = 0.1
    interest_merge: float = 0.5
    center: bool = True
    scoring: Scoring = "in_out"
    popularity_prior: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "play_weight": self.play_weight >= 0,
            "skip_weight": self.skip_weight >= 0,
            "like_weight": self.like_weight >= 0,
            "playlist_weight": self.playlist_weight >= 0,
            "dislike_weight": self.dislike_weight >= 0,
            "default_duration_ms": self.default_duration_ms > 0,
            "half_life_days": self.half_life_days is None or self.half_life_days > 0,
            "saturation": self.saturation in ("log1p", "linear"),
            "interests": self.interests >= 1,
            "min_songs_per_interest": self.min_songs_per_interest >= 1,
            "min_interest_share": 0 <= self.min_interest_share < 1,
            "interest_clusters": self.interest_clusters >= 2,
            "interest_prior": self.interest_prior >= 0,
            "interest_merge": -1 <= self.interest_merge <= 1,
            "scoring": self.scoring in ("in_out", "cosine"),
            "popularity_prior": self.popularity_prior >= 0,
        }
        self._require(checks)


def song_space(vectors: np.ndarray, known: np.ndarray, config: ProfileConfig) -> np.ndarray:
    """The unit song vectors profiles are built from and compared with.

    Word2vec vectors share a large common direction, so raw cosines crowd near their top and a
    mean of many songs drifts towards that direction whoever the listener. With ``center``
    the mean vector of the known songs is removed first, which leaves what sets songs apart.

    Parameters
    ----------
    vectors : float array (n_items, d)
        The model's song vectors.
    known : bool array (n_items,)
        Songs that have a vector; the others get a zero row.

    Returns
    -------
    numpy.ndarray
        float32 (n_items, d), unit rows for known songs, zero rows for the rest.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if config.center and known.any():
        vectors = vectors - vectors[known].mean(axis=0)
    unit = unit_rows(vectors)
    unit[~known] = 0.0
    return unit


# --------------------------------------------------------------------------------------------
# Events -> signals -> (user, song) evidence
# --------------------------------------------------------------------------------------------


def event_signals(
    kind: np.ndarray, ms_played: np.ndarray, duration_ms: np.ndarray, config: ProfileConfig
) -> np.ndarray:
    """Signed signal of each event before recency decay (steps 1 of the module docstring).

    Parameters
    ----------
    kind : int array (n,)
        Index into :data:`EVENTS`.
    ms_played : float array (n,)
        Milliseconds played.
    duration_ms : float array (n,)
        The song's length in milliseconds, NaN where unknown (``default_duration_ms`` is used).

    Returns
    -------
    numpy.ndarray
        float64 (n,).
    """
    duration = np.where(np.isnan(duration_ms), float(config.default_duration_ms), duration_ms)
    completion = np.clip(ms_played / np.maximum(duration, 1.0), 0.0, 1.0)
    table = np.array([0.0, 0.0, config.like_weight, -config.dislike_weight,
                      config.playlist_weight])
    signal = table[kind]
    signal = np.where(kind == PLAY, config.play_weight * completion, signal)
    return np.where(kind == SKIP, -config.skip_weight * (1.0 - completion), signal)


def _decay(age_seconds: np.ndarray, config: ProfileConfig) -> np.ndarray:
    if config.half_life_days is None:
        return np.ones_like(age_seconds)
    return np.exp2(-age_seconds / (config.half_life_days * _DAY))


def saturate(evidence: np.ndarray, config: ProfileConfig) -> np.ndarray:
    """A song's weight in its user's profile from its evidence (step 4)."""
    if config.saturation == "linear":
        return evidence
    return np.sign(evidence) * np.log1p(np.abs(evidence))


@dataclass
class Pairs:
    """Evidence per (user, song): the part of the sufficient statistics that saturation needs.

    user, item : int32 (P,) user row and catalogue index.
    evidence : float64 (P,) decayed signal sum, referenced to the user's latest event time.
    events : int32 (P,) how many events the pair has had.
    """

    user: np.ndarray
    item: np.ndarray
    evidence: np.ndarray
    events: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        # Not dataclasses.astuple: it deep-copies every array.
        return self.user, self.item, self.evidence, self.events

    def take(self, index: np.ndarray) -> Pairs:
        return Pairs(*(a[index] for a in self.columns()))

    @classmethod
    def concat(cls, parts: list[Pairs]) -> Pairs:
        return cls(*(np.concatenate(arrays) for arrays in zip(
            *(p.columns() for p in parts), strict=True)))

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0),
                   np.zeros(0, np.int32))

    def replaced(self, slots: np.ndarray, fresh: Pairs) -> Pairs:
        """These pairs with the rows at ``slots`` replaced by ``fresh``, written in place.

        ``fresh`` fills the slots first and the rest of it is appended (in place when there is
        room); slots it does not fill are removed, which takes a copy. An update's fresh pairs
        hold every pair they replace, so that copy is rare.
        """
        pairs = Pairs(*(put_rows(old, slots, new) for old, new in zip(
            self.columns(), fresh.columns(), strict=True)))
        if len(fresh) < len(slots):
            keep = np.ones(len(pairs), bool)
            keep[slots[len(fresh):]] = False
            pairs = pairs.take(np.flatnonzero(keep))
        return pairs


def _group_pairs(user: np.ndarray, item: np.ndarray, evidence: np.ndarray, events: np.ndarray,
                 n_users: int, n_items: int) -> Pairs:
    """Sum rows with the same (user, item); the result is sorted by user, then item.

    scipy's COO -> CSR conversion is a counting sort by row: at ten million rows several times
    faster than hashing or sorting the pairs.
    """
    shape = (n_users, n_items)
    summed = sparse.csr_matrix((np.asarray(evidence, np.float64), (user, item)), shape=shape)
    counted = sparse.csr_matrix((np.asarray(events, np.int64), (user, item)), shape=shape)
    summed.sum_duplicates()
    counted.sum_duplicates()
    if not np.array_equal(summed.indices, counted.indices):  # pragma: no cover - scipy contract
        raise RuntimeError("scipy dropped entries while grouping (user, song) pairs")
    rows = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(summed.indptr))
    return Pairs(rows, summed.indices.astype(np.int32), summed.data,
                 counted.data.astype(np.int32))


def _latest(user: np.ndarray, ts: np.ndarray, n_users: int) -> np.ndarray:
    """Each user's latest event time; -inf for users without events."""
    latest = np.full(n_users, -np.inf)
    np.maximum.at(latest, user, ts)
    return latest


# --------------------------------------------------------------------------------------------
# Profiles and their incremental update
# --------------------------------------------------------------------------------------------


@dataclass
class ProfileState:
    """Every user's profile and the sufficient statistics that keep it up to date.

    users : the user ids; row u of every per-user array belongs to users[u].
    last_ts : float64 (n,) epoch seconds of each user's latest event (the decay reference).
    weighted_sum : float32 (n, d) sum of saturated weight times unit song vector; zero for a
        user without any positive evidence (only skips or dislikes).
    total_weight : float64 (n,) sum of |weight| over the user's songs with a vector.
    pairs : evidence per (user, song).
    interests : centroids of the users with several interests.
    clusters : int32 (n_items,) the catalogue region of each song that interests are found in
        (:func:`song_clusters`); fixed at the first build so that updates use the same.
    """

    users: pl.Series
    last_ts: np.ndarray
    weighted_sum: np.ndarray
    total_weight: np.ndarray
    pairs: Pairs
    interests: Interests
    clusters: np.ndarray
    config: ProfileConfig
    _profiles: np.ndarray | None = field(default=None, repr=False)
    _has_profile: np.ndarray | None = field(default=None, repr=False)
    _by_user: tuple[np.ndarray | None, np.ndarray] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def profiles(self) -> np.ndarray:
        """Unit profile vectors, float32 (n, d); a zero row is a user with no usable signal."""
        if self._profiles is None:
            self._profiles = unit_rows(self.weighted_sum)
        return self._profiles

    def profile_of(self, rows: np.ndarray | int) -> np.ndarray:
        """Unit profiles of some users, (len(rows), d), without normalising everyone's."""
        rows = np.atleast_1d(rows)
        if self._profiles is not None:
            return self._profiles[rows]
        return unit_rows(self.weighted_sum[rows])

    @property
    def has_profile(self) -> np.ndarray:
        if self._has_profile is None:
            self._has_profile = nonzero_rows(self.weighted_sum)
        return self._has_profile

    def row_of(self, user_id: str) -> int | None:
        return self.users.index_of(user_id)

    def pairs_of(self, user: int) -> Pairs:
        """One user's pairs, through an index by user built on first use."""
        if self._by_user is None:
            order = None if np.all(np.diff(self.pairs.user) >= 0) else np.argsort(
                self.pairs.user, kind="stable")
            users = self.pairs.user if order is None else self.pairs.user[order]
            self._by_user = (order, np.searchsorted(users, np.arange(len(self) + 1)))
        order, starts = self._by_user
        rows = np.arange(starts[user], starts[user + 1])
        return self.pairs.take(rows if order is None else order[rows])

    def sorted_by_user(self) -> ProfileState:
        """The same state with its pairs sorted by user then song (how a build leaves them)."""
        order = np.lexsort((self.pairs.item, self.pairs.user))
        return dataclasses.replace(self, pairs=self.pairs.take(order), _by_user=None)


def _user_stats(pairs: Pairs, rows: np.ndarray, n_rows: int, unit_vectors: np.ndarray,
                config: ProfileConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """weighted_sum (n_rows, d), total_weight (n_rows,) and pair weights, where `rows` maps
    each pair to its output row."""
    weight = saturate(pairs.evidence, config)
    matrix = sparse.csr_matrix((weight.astype(np.float32), (rows, pairs.item)),
                               shape=(n_rows, len(unit_vectors)))
    weighted_sum = np.asarray(matrix @ unit_vectors, dtype=np.float32)
    has_vector = np.linalg.norm(unit_vectors, axis=1) > 0
    counted = has_vector[pairs.item]
    total = np.bincount(rows, weights=np.abs(weight) * counted, minlength=n_rows)
    liked = np.bincount(rows, weights=(weight > 0) & counted, minlength=n_rows)
    # Skips and dislikes alone say what a user avoids, not what they like: no profile yet.
    weighted_sum[liked == 0] = 0.0
    return weighted_sum, total, weight


def _event_pairs(user: np.ndarray, item: np.ndarray, ts: np.ndarray, signal: np.ndarray,
                 reference: np.ndarray, n_items: int, config: ProfileConfig) -> Pairs:
    contribution = signal * _decay(reference[user] - ts, config)
    return _group_pairs(user, item, contribution, np.ones(len(user), np.int32),
                        len(reference), n_items)


def build_profiles(
    users: pl.Series,
    user: np.ndarray,
    item: np.ndarray,
    ts: np.ndarray,
    signal: np.ndarray,
    unit_vectors: np.ndarray,
    config: ProfileConfig,
) -> ProfileState:
    """Profiles of all users from all their events.

    Parameters
    ----------
    users : polars.Series of str (n_users,)
        User ids; ``user`` indexes it.
    user, item : int arrays (n_events,)
        User row and catalogue index of each event.
    ts : float64 (n_events,)
        Epoch seconds.
    signal : float64 (n_events,)
        From :func:`event_signals`.
    unit_vectors : float32 (n_items, d)
        Unit song vectors; zero rows for songs without a vector (they count for nothing but
        are still remembered as played).
    config : ProfileConfig

    Returns
    -------
    ProfileState
    """
    latest = _latest(user, ts, len(users))
    pairs = _event_pairs(user, item, ts, signal, latest, len(unit_vectors), config)
    return profiles_from_pairs(users, pairs, latest, unit_vectors, config)


def profiles_from_pairs(users: pl.Series, pairs: Pairs, last_ts: np.ndarray,
                        unit_vectors: np.ndarray, config: ProfileConfig,
                        clusters: np.ndarray | None = None) -> ProfileState:
    """Profiles from evidence already summed per (user, song), e.g. play counts without
    times (the HetRec Last.fm data): steps 4 and 5 of the module docstring.

    Parameters
    ----------
    pairs : Pairs
        Sorted by user then item, one row per (user, item).
    last_ts : float64 (n_users,)
        Each user's reference time.
    clusters : int array (n_items,), optional
        Catalogue regions for interests; computed with :func:`song_clusters` when not given.
    """
    weighted_sum, total, weight = _user_stats(pairs, pairs.user, len(users), unit_vectors,
                                              config)
    if clusters is None:
        clusters = song_clusters(unit_vectors, config)
    interests = fit_interests(pairs, weight, unit_vectors, clusters, config)
    return ProfileState(users, last_ts, weighted_sum, total, pairs, interests, clusters, config)


def update_profiles(
    state: ProfileState,
    users: pl.Series,
    user: np.ndarray,
    item: np.ndarray,
    ts: np.ndarray,
    signal: np.ndarray,
    unit_vectors: np.ndarray,
) -> np.ndarray:
    """Apply a batch of new events to ``state``, in place; only the users in the batch are
    recomputed.

    In place because a batch touches a few percent of the users: copying the million-row
    arrays for every batch cost more than the update. Everything is computed before the first
    write, so a batch that raises leaves the state as it was. Per-user arrays grow into spare
    room (:mod:`recsys.growable`), and a user's replaced (user, song) pairs and interests are
    written over their old slots.

    Parameters
    ----------
    state : ProfileState
        Updated in place.
    users : polars.Series of str
        The user ids after the batch: ``state.users`` followed by the batch's new users.
    user, item, ts, signal :
        The batch's events, as for :func:`build_profiles` (``user`` indexes ``users``).
    unit_vectors : float32 (n_items, d)
        The same vectors the state was built with.

    Returns
    -------
    numpy.ndarray
        The rows of the users whose profile changed. The state then equals
        :func:`build_profiles` on all events so far, up to float rounding.
    """
    config = state.config
    n_old, n_users = len(state), len(users)
    if n_users < n_old or not users.head(n_old).equals(state.users):
        raise ValueError("users must be the state's users followed by the batch's new ones")
    affected = np.unique(user)
    if len(affected) and (affected[0] < 0 or affected[-1] >= n_users):
        raise ValueError(f"user rows must lie in [0, {n_users}), got {affected[[0, -1]]}")
    local = np.searchsorted(affected, user)
    old_latest = np.full(len(affected), -np.inf)
    known = affected < n_old
    old_latest[known] = state.last_ts[affected[known]]
    latest = np.maximum(old_latest, _latest(local, ts, len(affected)))
    is_affected = np.zeros(n_users, bool)
    is_affected[affected] = True

    slots = np.flatnonzero(is_affected[state.pairs.user])  # one scan, then small gathers
    moved = state.pairs.take(slots)
    moved_local = np.searchsorted(affected, moved.user)
    # Move the affected users' evidence to their new reference time: decay composes exactly.
    moved_evidence = moved.evidence * _decay(latest[moved_local] - old_latest[moved_local],
                                             config)
    merged = _group_pairs(
        np.concatenate([moved_local, local]), np.concatenate([moved.item, item]),
        np.concatenate([moved_evidence, signal * _decay(latest[local] - ts, config)]),
        np.concatenate([moved.events, np.ones(len(user), np.int32)]),
        len(affected), len(unit_vectors),
    )  # rows are local: merged.user indexes `affected`
    sums, totals, weight = _user_stats(merged, merged.user, len(affected), unit_vectors, config)
    fresh_interests = fit_interests(merged, weight, unit_vectors, state.clusters, config)
    fresh_interests.user = affected[fresh_interests.user].astype(np.int32)
    merged.user = affected[merged.user].astype(np.int32)

    # Writes only from here on. New users are all in the batch, so every added row is written.
    state.users = users
    for name, rows in (("last_ts", latest), ("weighted_sum", sums), ("total_weight", totals),
                       ("_has_profile", nonzero_rows(sums)), ("_profiles", unit_rows(sums))):
        array = getattr(state, name)
        if array is None:  # a cache not computed yet stays so
            continue
        array = grown(array, n_users)
        array[affected] = rows
        setattr(state, name, array)
    state.pairs = state.pairs.replaced(slots, merged)
    state.interests = state.interests.replaced(is_affected, fresh_interests)
    state._by_user = None
    return affected


# --------------------------------------------------------------------------------------------
# From an event frame, and scoring songs for users
# --------------------------------------------------------------------------------------------


def catalogue_index(events: pl.DataFrame, song_ids: pl.Series) -> pl.Series:
    """Each event's song as an Enum over the catalogue's ids (its physical value is the
    catalogue index).

    Raises
    ------
    ValueError
        If an event names a song the catalogue lacks.
    """
    # An Enum over the catalogue's ids turns each id into its index in one hashed pass.
    item = events["song_id"].cast(pl.Enum(song_ids.to_list()), strict=False)
    if item.null_count():
        missing = events.filter(item.is_null())["song_id"]
        raise ValueError(f"{len(missing)} events name songs the catalogue lacks, e.g. "
                         f"{missing.head(3).to_list()}; match them first")
    return item


def encode_events(
    events: pl.DataFrame, song_ids: pl.Series, users: pl.Series, config: ProfileConfig
) -> tuple[pl.Series, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events (``user_id, song_id, ts, ms_played, event, duration_ms``) as arrays.

    Parameters
    ----------
    events : polars.DataFrame
        Events whose songs are all in ``song_ids`` (match them to the catalogue first).
    song_ids : polars.Series
        The catalogue's ids in index order.
    users : polars.Series
        Users already known (empty for a first build); new users are appended in order of
        first appearance.

    Returns
    -------
    (users, user, item, ts, signal)
        The extended user ids, and per event its user row, catalogue index, epoch seconds and
        signal (:func:`event_signals`).

    Raises
    ------
    ValueError
        If an event names a song the catalogue lacks.
    """
    item = catalogue_index(events, song_ids)
    seen = events.select(pl.col("user_id").unique(maintain_order=True))
    # Only the known users the batch names, found by probing a hash of the batch's few ids:
    # hashing all million known ids for a join took most of the time of a small batch.
    known = (users.cast(pl.Utf8).alias("user_id").to_frame().with_row_index("_user")
             .filter(pl.col("user_id").is_in(seen["user_id"].implode()))
             .with_columns(pl.col("_user").cast(pl.Int64)))
    seen = seen.join(known, on="user_id", how="left", maintain_order="left")
    new = seen["_user"].is_null()
    seen = seen.with_columns(_user=pl.col("_user").fill_null(
        len(users) + new.cast(pl.Int64).cum_sum() - 1))
    all_users = pl.concat([users.cast(pl.Utf8), seen.filter(new)["user_id"]]).alias("user_id")
    frame = events.with_columns(_item=item.to_physical()).join(
        seen, on="user_id", how="left", maintain_order="left").select(
        pl.col("_user").cast(pl.Int32), pl.col("_item").cast(pl.Int32),
        (pl.col("ts").dt.epoch("ms") / 1000.0).alias("_ts"),
        pl.col("event").cast(pl.Enum(EVENTS)).to_physical().alias("_kind"),
        pl.col("ms_played").cast(pl.Float64).alias("_ms"),
        pl.col("duration_ms").cast(pl.Float64).fill_null(np.nan).alias("_dur"),
    )
    signal = event_signals(frame["_kind"].to_numpy(), frame["_ms"].to_numpy(),
                           frame["_dur"].to_numpy(), config)
    return (all_users, frame["_user"].to_numpy(), frame["_item"].to_numpy(),
            frame["_ts"].to_numpy(), signal)


def update_from_events(state: ProfileState, events: pl.DataFrame, song_ids: pl.Series,
                       unit_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`encode_events` then :func:`update_profiles` (``state`` is updated in place, and
    left as it was when this raises): the rows of the users that changed and each event's
    catalogue index."""
    users, user, item, ts, signal = encode_events(events, song_ids, state.users, state.config)
    changed = update_profiles(state, users, user, item, ts, signal, unit_vectors)
    return changed, item


def interest_queries(state: ProfileState, user: int) -> tuple[np.ndarray, np.ndarray]:
    """A user's query vectors and their additive priors for blending.

    One row per interest (prior ``interest_prior * ln(share / largest share)``), or the single
    profile with prior 0 for a user without several interests.
    """
    vectors, share = state.interests.of(user)
    if len(vectors) < 2:
        return state.profile_of(user), np.zeros(1, np.float32)
    prior = state.config.interest_prior * np.log(share / share.max())
    return vectors, prior.astype(np.float32)


def song_popularity(state: ProfileState, n_items: int) -> np.ndarray:
    """How many users have positive evidence on each song: float64 (n_items,)."""
    liked = saturate(state.pairs.evidence, state.config) > 0
    return np.bincount(state.pairs.item[liked], minlength=n_items).astype(np.float64)


def item_space(config: ProfileConfig, unit_vectors: np.ndarray,
               output_vectors: np.ndarray | None, popularity: np.ndarray) -> np.ndarray:
    """What a profile is scored against: one row per song, ``query . row`` is the score when
    the query is ``[profile, 1]`` (see :func:`queries`).

    Parameters
    ----------
    unit_vectors : float32 (n_items, d)
        From :func:`song_space`.
    output_vectors : float32 (n_items, d), optional
        The model's output vectors; required with ``scoring="in_out"``.
    popularity : float (n_items,)
        From :func:`song_popularity`; only used with a positive ``popularity_prior``.

    Returns
    -------
    numpy.ndarray
        float32 (n_items, d + 1): the scoring vectors with the popularity term as last column.
    """
    if config.scoring == "in_out":
        if output_vectors is None:
            raise ValueError('scoring="in_out" needs the model\'s output vectors')
        base = output_vectors
    else:
        base = unit_vectors
    prior = config.popularity_prior * np.log1p(popularity)
    return np.hstack([base, prior[:, None]]).astype(np.float32)


def queries(vectors: np.ndarray) -> np.ndarray:
    """Profile or interest vectors (B, d) as queries of :func:`item_space`: (B, d + 1)."""
    vectors = np.atleast_2d(vectors)
    return np.hstack([vectors, np.ones((len(vectors), 1), vectors.dtype)]).astype(np.float32)


def profile_scores(state: ProfileState, rows: np.ndarray, items: np.ndarray, known: np.ndarray,
                   interests: bool = False) -> np.ndarray:
    """Scores of every song for some users: the profile's, or with ``interests`` the best over
    the user's interests of score + prior (the blend `recommend` uses).

    Parameters
    ----------
    items : float32 (n_items, d + 1)
        From :func:`item_space`.
    known : bool (n_items,)
        Songs with a vector; the others score -inf.

    Returns
    -------
    numpy.ndarray
        float32 (len(rows), n_items).
    """
    scores = queries(state.profile_of(rows)) @ items.T
    if interests:
        for n, user in enumerate(rows):
            vectors, prior = interest_queries(state, int(user))
            if len(vectors) > 1:
                scores[n] = (queries(vectors) @ items.T + prior[:, None]).max(axis=0)
    scores[:, ~known] = -np.inf
    return scores
