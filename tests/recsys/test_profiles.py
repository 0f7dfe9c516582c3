"""Profile maths on a hand-made song space (exact expectations), incremental updates, interests,
recommendations with reasons, similar users, and the profiles artifact."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import polars as pl
import pytest

from recsys.artifact import ArtifactError
from recsys.catalog import Catalog
from recsys.profile_artifact import load_profiles, merge_unmatched, save_profiles
from recsys.profiles import (
    ADD,
    DISLIKE,
    LIKE,
    PLAY,
    SKIP,
    Pairs,
    ProfileConfig,
    build_profiles,
    event_signals,
    item_space,
    profile_scores,
    song_popularity,
    song_space,
    update_profiles,
)
from recsys.user_index import TasteRecommender, UnknownUserError, build_user_index, mmr

GENRES = ("classical", "edm", "rock")
PER_GENRE = 12
DAY = 86_400.0
# Cosine (decay-free, saturation-free) settings make expected values easy to state exactly.
PLAIN = ProfileConfig(scoring="cosine", center=False, half_life_days=None, saturation="linear",
                      interests=1)


def genre_space(seed: int = 0) -> tuple[Catalog, np.ndarray, np.ndarray]:
    """12 songs per genre around three orthogonal axes in 8-d, plus 4 'crossover' songs halfway
    between classical and EDM, and one song without a vector."""
    rng = np.random.default_rng(seed)
    axes = np.eye(8, dtype=np.float32)[:3]
    rows, titles, artists, tags = [], [], [], []
    for g, genre in enumerate(GENRES):
        for n in range(PER_GENRE):
            rows.append(axes[g] + 0.15 * rng.normal(size=8))
            titles.append(f"{genre} {n}")
            artists.append(f"{genre} band")
            tags.append([genre])
    for n in range(4):
        rows.append((axes[0] + axes[1]) / np.sqrt(2) + 0.05 * rng.normal(size=8))
        titles.append(f"crossover {n}")
        artists.append("crossover band")
        tags.append(["crossover"])
    rows.append(np.zeros(8))
    titles.append("never played")
    artists.append("nobody")
    tags.append([])
    vectors = np.asarray(rows, np.float32)
    songs = pl.DataFrame({
        "song_id": [f"s{i}" for i in range(len(rows))], "title": titles, "artist": artists,
        "tags": tags,
    })
    known = np.linalg.norm(vectors, axis=1) > 0
    return Catalog(songs), vectors, known


def genre_of(item: int) -> str:
    return GENRES[item // PER_GENRE] if item < 3 * PER_GENRE else "other"


def songs_of(genre: str) -> np.ndarray:
    g = GENRES.index(genre)
    return np.arange(g * PER_GENRE, (g + 1) * PER_GENRE)


def events(*rows: tuple[int, int, float, int, float]) -> tuple:
    """(user, item, ts, kind, ms_played) rows as the arrays build_profiles takes."""
    user, item, ts, kind, ms = (np.asarray(c) for c in zip(*rows, strict=True))
    return user.astype(np.int32), item.astype(np.int32), ts.astype(float), kind, ms.astype(float)


def build(config: ProfileConfig, user, item, ts, kind, ms, n_users: int | None = None):
    _, vectors, known = genre_space()
    unit = song_space(vectors, known, config)
    signal = event_signals(kind, ms, np.full(len(kind), np.nan), config)
    users = pl.Series([f"u{i}" for i in range(n_users or int(user.max()) + 1)])
    return build_profiles(users, user, item, ts, signal, unit, config), unit


def full_play(user: int, item: int, ts: float = 0.0) -> tuple:
    return (user, item, ts, PLAY, 210_000.0)


# --------------------------------------------------------------------------------------------
# Signals, saturation, decay
# --------------------------------------------------------------------------------------------


def test_event_signals_follow_the_documented_weights():
    config = ProfileConfig()
    kind = np.array([PLAY, PLAY, SKIP, SKIP, LIKE, DISLIKE, ADD, PLAY])
    ms = np.array([210_000, 105_000, 0, 157_500, 0, 0, 0, 50_000], float)
    duration = np.array([np.nan] * 7 + [100_000.0])
    signal = event_signals(kind, ms, duration, config)
    np.testing.assert_allclose(signal, [1.0, 0.5, -0.5, -0.125, 2.0, -2.0, 1.5, 0.5])


def test_config_rejects_bad_values_and_unknown_keys():
    with pytest.raises(ValueError, match="half_life_days"):
        ProfileConfig(half_life_days=0)
    with pytest.raises(ValueError, match="unknown profile setting"):
        ProfileConfig.from_dict({"halflife": 3})
    assert ProfileConfig.from_dict(ProfileConfig().to_dict()) == ProfileConfig()


def test_repeats_saturate_and_old_events_decay_by_the_half_life():
    config = dataclasses.replace(PLAIN, saturation="log1p", half_life_days=30.0)
    # user 0: ten plays of song 0 and one of song 12, all at t=60 days;
    # user 1: song 0 at day 0, song 12 at day 30: song 0 counts half.
    rows = [full_play(0, 0, 60 * DAY) for _ in range(10)] + [full_play(0, 12, 60 * DAY)]
    rows += [full_play(1, 0, 0.0), full_play(1, 12, 30 * DAY)]
    state, _ = build(config, *events(*rows))
    evidence = {(u, i): e for u, i, e in zip(state.pairs.user, state.pairs.item,
                                              state.pairs.evidence, strict=True)}
    assert evidence[(0, 0)] == pytest.approx(10.0) and evidence[(0, 12)] == pytest.approx(1.0)
    assert evidence[(1, 0)] == pytest.approx(0.5) and evidence[(1, 12)] == pytest.approx(1.0)
    assert state.last_ts[1] == 30 * DAY
    # Total weight is log1p(10) + log1p(1), not 11.
    assert state.total_weight[0] == pytest.approx(np.log1p(10) + np.log1p(1))


# --------------------------------------------------------------------------------------------
# Where profiles land
# --------------------------------------------------------------------------------------------


def test_a_user_who_only_played_classical_lands_near_classical_songs():
    rows = [full_play(0, i, float(n)) for n, i in enumerate(songs_of("classical")[:8])]
    state, unit = build(ProfileConfig(scoring="cosine"), *events(*rows))
    known = np.linalg.norm(unit, axis=1) > 0
    scores = profile_scores(state, np.array([0]), item_space(state.config, unit, None,
                                                             song_popularity(state, len(unit))),
                            known)[0]
    scores[songs_of("classical")[:8]] = -np.inf
    top = np.argsort(-scores)[:4]
    assert [genre_of(i) for i in top] == ["classical"] * 4
    centre = unit[songs_of("classical")].mean(axis=0)
    assert state.profiles[0] @ centre / np.linalg.norm(centre) > 0.95


def test_skips_and_dislikes_move_the_profile_away():
    classical, rock = songs_of("classical")[:4], songs_of("rock")[:4]
    base = [full_play(0, i) for i in classical] + [full_play(0, i) for i in rock[:2]]
    skipped = [full_play(1, i) for i in classical] + [full_play(1, i) for i in rock[:2]]
    skipped += [(1, i, 1.0, SKIP, 0.0) for i in rock[2:]]
    disliked = [full_play(2, i) for i in classical] + [full_play(2, i) for i in rock[:2]]
    disliked += [(2, i, 1.0, DISLIKE, 0.0) for i in rock[2:]]
    state, unit = build(PLAIN, *events(*base, *skipped, *disliked))
    rock_dir = unit[songs_of("rock")].mean(axis=0)
    leaning = state.profiles @ rock_dir
    assert leaning[1] < leaning[0] - 0.05
    assert leaning[2] < leaning[1]  # a dislike (-2) weighs more than an early skip (-0.5)
    # A song only ever skipped has negative evidence.
    skipped_rows = (state.pairs.user == 1) & np.isin(state.pairs.item, rock[2:])
    assert (state.pairs.evidence[skipped_rows] == -0.5).all()


def test_a_user_with_only_negative_signal_has_no_profile_and_says_so():
    catalog, _vectors, _known = genre_space()
    state, unit = build(PLAIN, *events((0, 0, 0.0, SKIP, 0.0), full_play(1, 3)))
    assert not state.has_profile[0] and state.has_profile[1]
    taste = TasteRecommender(state, catalog, unit)
    with pytest.raises(ValueError, match="no positive listening signal"):
        taste.recommend("u0")


# --------------------------------------------------------------------------------------------
# Incremental = full
# --------------------------------------------------------------------------------------------


def random_events(rng, n: int, users: int, items: int, days: float):
    return (rng.integers(0, users, n).astype(np.int32), rng.integers(0, items, n).astype(np.int32),
            rng.uniform(0, days * DAY, n), rng.integers(0, 5, n), rng.uniform(0, 260_000, n))


def sorted_pairs(state, order: np.ndarray) -> np.ndarray:
    """Pairs as rows keyed by original user number, sorted, for comparison."""
    p = state.pairs
    table = np.column_stack([order[p.user], p.item, p.evidence, p.events])
    return table[np.lexsort((table[:, 1], table[:, 0]))]


@pytest.mark.parametrize("half_life", [2.0, None])
def test_incremental_update_equals_a_full_recomputation(half_life):
    rng = np.random.default_rng(3)
    _catalog, vectors, known = genre_space()
    config = ProfileConfig(half_life_days=half_life, interest_clusters=4)
    unit = song_space(vectors, known, config)
    user, item, ts, kind, ms = random_events(rng, 6000, 80, len(vectors), 30)
    duration = np.where(rng.random(6000) < 0.5, np.nan, 240_000.0)
    signal = event_signals(kind, ms, duration, config)
    names = pl.Series([f"u{i}" for i in range(80)])
    full = build_profiles(names, user, item, ts, signal, unit, config)

    # First batch: users 0..59 only and not all their events; the second brings new users
    # (60..79) and late events older than what users already had.
    first = (user < 60) & (rng.random(6000) < 0.6)
    order = np.concatenate([np.arange(60), np.arange(60, 80)])
    part = build_profiles(names.head(60), user[first], item[first], ts[first], signal[first],
                          unit, config)
    rest = ~first
    changed = update_profiles(part, names, user[rest], item[rest], ts[rest], signal[rest], unit)
    assert sorted(changed.tolist()) == sorted(np.unique(user[rest]).tolist())
    assert_same_profiles(part, full, order)


def assert_same_profiles(updated, full, original: np.ndarray) -> None:
    """`updated` (row r holds user original[r] of `full`) equals `full`."""
    np.testing.assert_allclose(updated.weighted_sum, full.weighted_sum[original], rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(updated.profiles, full.profiles[original], atol=1e-5)
    np.testing.assert_array_equal(updated.has_profile, full.has_profile[original])
    np.testing.assert_allclose(updated.total_weight, full.total_weight[original], rtol=1e-9)
    np.testing.assert_array_equal(updated.last_ts, full.last_ts[original])
    np.testing.assert_allclose(sorted_pairs(updated, original),
                               sorted_pairs(full, np.arange(len(full))), rtol=1e-9, atol=1e-12)
    assert len(full.interests.user) > 20  # the interest comparison is not vacuous
    for row, user in enumerate(original):
        a, b = updated.interests.of(row), full.interests.of(user)
        np.testing.assert_allclose(a[1], b[1], atol=1e-5)
        np.testing.assert_allclose(a[0], b[0], atol=1e-4)


def test_many_batches_in_place_through_a_save_and_load_equal_a_full_build(tmp_path):
    """Batches applied in place, growing the arrays, freeing and reusing interest slots, with
    the artifact saved and loaded (with room to grow) in between, end where one build does."""
    rng = np.random.default_rng(11)
    _catalog, vectors, known = genre_space()
    config = ProfileConfig(half_life_days=3.0, interest_clusters=4)
    unit = song_space(vectors, known, config)
    n_users = 90
    user, item, ts, kind, ms = random_events(rng, 9000, n_users, len(vectors), 30)
    signal = event_signals(kind, ms, np.full(len(user), 240_000.0), config)
    # Users arrive over time: batch b holds events of users < 30 * (b + 1) only.
    batch = np.minimum(rng.integers(0, 4, len(user)), 2)
    batch = np.maximum(batch, user // 30)
    names = [f"u{i}" for i in range(n_users)]
    first = batch == 0
    seen = np.unique(user[first])
    state = build_profiles(pl.Series([names[u] for u in seen]), np.searchsorted(seen, user[first]),
                           item[first], ts[first], signal[first], unit, config)
    order = list(seen)
    for b in (1, 2):
        if b == 2:
            save_profiles(tmp_path / "p", state, build_user_index(state),
                          model={"path": "m", "fingerprint": "f", "songs": len(vectors),
                                 "dim": 8},
                          history=[], unmatched=merge_unmatched([]), quarantine=[])
            state = load_profiles(tmp_path / "p").state
        rows = np.flatnonzero(batch == b)
        order += [u for u in dict.fromkeys(user[rows].tolist()) if u not in set(order)]
        row_of = {u: r for r, u in enumerate(order)}
        weighted_sum = state.weighted_sum
        update_profiles(state, pl.Series([names[u] for u in order]),
                        np.array([row_of[u] for u in user[rows]], np.int32), item[rows],
                        ts[rows], signal[rows], unit)
        if b == 2:  # loaded with room: the update wrote into the same buffer
            assert np.shares_memory(state.weighted_sum, weighted_sum)
    full = build_profiles(pl.Series(names), user, item, ts, signal, unit, config)
    assert_same_profiles(state, full, np.array(order))


def test_update_requires_the_known_users_first():
    state, unit = build(PLAIN, *events(full_play(0, 0), full_play(1, 1)))
    with pytest.raises(ValueError, match="followed by"):
        update_profiles(state, pl.Series(["u1", "u0"]), *events(full_play(0, 2))[:3],
                        np.ones(1), unit)


# --------------------------------------------------------------------------------------------
# Several interests
# --------------------------------------------------------------------------------------------


def two_taste_user() -> tuple:
    """User 0 plays 8 classical songs in the morning and 8 EDM songs at night, twice."""
    rows = []
    for day in range(2):
        rows += [full_play(0, i, day * DAY + 8 * 3600) for i in songs_of("classical")[:8]]
        rows += [full_play(0, i, day * DAY + 23 * 3600) for i in songs_of("edm")[:8]]
    return events(*rows)


def test_multi_interest_finds_both_tastes_where_one_mean_finds_neither():
    catalog, _vectors, _known = genre_space()
    config = ProfileConfig(scoring="cosine", interests=3, min_songs_per_interest=4,
                           interest_clusters=4)
    state, unit = build(config, *two_taste_user())
    centroids, share = state.interests.of(0)
    assert len(centroids) == 2 and share == pytest.approx([0.5, 0.5], abs=0.01)
    centres = [unit[songs_of(g)].mean(axis=0) for g in ("classical", "edm")]
    centres = [c / np.linalg.norm(c) for c in centres]
    assert sorted(max(c @ x for x in centroids) for c in centres)[0] > 0.95
    taste = TasteRecommender(state, catalog, unit)
    single = [r["title"] for r in taste.recommend("u0", k=4, interests=False)]
    blended = [r["title"] for r in taste.recommend("u0", k=4, interests=True)]
    # The mean sits between the tastes, where the crossovers are; the blend serves both.
    assert all(t.startswith("crossover") for t in single)
    assert {t.split()[0] for t in blended} == {"classical", "edm"}


# --------------------------------------------------------------------------------------------
# Recommendations, reasons, diversity, similar users
# --------------------------------------------------------------------------------------------


def test_recommend_excludes_what_was_heard_and_explains_each_song():
    catalog, _vectors, _known = genre_space()
    heard = [*songs_of("rock")[:5], songs_of("classical")[0]]
    rows = [full_play(0, i) for i in heard] + [full_play(0, songs_of("rock")[0])] * 3
    state, unit = build(ProfileConfig(scoring="cosine"), *events(*rows))
    taste = TasteRecommender(state, catalog, unit)
    recs = taste.recommend("u0", k=5)
    assert [set(r) for r in recs] == [{"song_id", "title", "artist", "score", "because"}] * 5
    ids = [r["song_id"] for r in recs]
    assert not set(ids) & {f"s{i}" for i in heard}
    assert [r["score"] for r in recs] == sorted((r["score"] for r in recs), reverse=True)
    for r in recs:
        item = catalog.index_of(r["song_id"])
        expected = heard[int(np.argmax(unit[heard] @ unit[item]))]
        assert r["because"]["song_id"] == f"s{expected}"
    with_heard = [r["song_id"] for r in taste.recommend("u0", k=3, exclude_played=False)]
    assert set(with_heard) & {f"s{i}" for i in heard}


def test_diversity_reranking_trades_score_for_variety():
    catalog, _vectors, _known = genre_space()
    rows = [full_play(0, i) for i in songs_of("rock")[:3]] + [full_play(0, songs_of("edm")[0])]
    state, unit = build(ProfileConfig(scoring="cosine"), *events(*rows))
    taste = TasteRecommender(state, catalog, unit)
    plain = [genre_of(catalog.index_of(r["song_id"])) for r in taste.recommend("u0", k=5)]
    varied = [genre_of(catalog.index_of(r["song_id"]))
              for r in taste.recommend("u0", k=5, diversity=0.7)]
    assert plain.count("rock") == 5 and len(set(varied)) >= 2
    picks = mmr(np.array([0, 1, 24]), np.array([1.0, 0.99, 0.5]), unit, 2, diversity=0.8)
    assert picks.tolist() == [0, 2]
    with pytest.raises(ValueError, match="diversity"):
        mmr(np.array([0]), np.array([1.0]), unit, 1, diversity=2.0)


def test_similar_users_share_a_taste_and_unknown_users_are_named():
    catalog, _vectors, _known = genre_space()
    rows = [full_play(0, i) for i in songs_of("edm")[:6]]
    rows += [full_play(1, i) for i in songs_of("edm")[3:9]]
    rows += [full_play(2, i) for i in songs_of("classical")[:6]]
    rows += [full_play(3, i) for i in songs_of("rock")[:6]]
    state, unit = build(ProfileConfig(scoring="cosine"), *events(*rows))
    taste = TasteRecommender(state, catalog, unit)
    similar = taste.similar_users("u0", k=3)
    assert similar[0]["user_id"] == "u1"
    assert similar[0]["songs_in_common"] == 3 and similar[0]["score"] > 0.8
    assert all(r["user_id"] != "u0" for r in similar)
    with pytest.raises(UnknownUserError, match="no user 'nobody'"):
        taste.similar_users("nobody")


def test_in_out_scoring_uses_the_output_vectors_and_the_popularity_prior():
    catalog, vectors, _known = genre_space()
    config = ProfileConfig()
    state, unit = build(config, *events(full_play(0, 0), full_play(1, 0), full_play(1, 13)))
    output = np.zeros_like(vectors)
    output[5] = unit[0] * 3.0  # the only song the profile points at through output vectors
    taste = TasteRecommender(state, catalog, unit, output)
    assert taste.recommend("u0", k=1)[0]["song_id"] == "s5"
    with pytest.raises(ValueError, match="output vectors"):
        item_space(config, unit, None, np.zeros(len(unit)))
    # Popularity prior: +prior * log1p(users with positive evidence), the last column.
    prior = dataclasses.replace(config, scoring="cosine", popularity_prior=0.5)
    items = item_space(prior, unit, None, song_popularity(state, len(unit)))
    assert items[0, -1] == pytest.approx(0.5 * np.log1p(2))
    assert items[13, -1] == pytest.approx(0.5 * np.log1p(1)) and items[1, -1] == 0


# --------------------------------------------------------------------------------------------
# The artifact
# --------------------------------------------------------------------------------------------


def test_profiles_artifact_round_trip_and_corruption(tmp_path):
    rng = np.random.default_rng(0)
    _, vectors, known = genre_space()
    config = ProfileConfig(interest_clusters=4)
    unit = song_space(vectors, known, config)
    user, item, ts, kind, ms = random_events(rng, 2000, 30, len(vectors), 10)
    signal = event_signals(kind, ms, np.full(2000, np.nan), config)
    state = build_profiles(pl.Series([f"u{i}" for i in range(30)]), user, item, ts, signal, unit,
                           config)
    unmatched = merge_unmatched([
        pl.DataFrame({"song_id": ["x"], "track_uri": [None], "title": [None], "artist": [None],
                      "events": [2]}),
        pl.DataFrame({"song_id": ["x", "y"], "track_uri": [None, None], "title": [None, None],
                      "artist": [None, None], "events": [3, 1]}),
    ])
    assert unmatched.rows() == [("x", None, None, None, 5), ("y", None, None, None, 1)]
    out = tmp_path / "profiles"
    save_profiles(out, state, build_user_index(state), model={"path": "m", "fingerprint": "f",
                                                              "songs": 40, "dim": 8},
                  history=[{"kind": "build"}], unmatched=unmatched, quarantine=['{"row": 1}'])
    loaded = load_profiles(out)
    assert loaded.state.users.to_list() == state.users.to_list()
    for name in ("weighted_sum", "total_weight", "last_ts"):
        np.testing.assert_array_equal(getattr(loaded.state, name), getattr(state, name))
    np.testing.assert_array_equal(loaded.state.profiles, state.profiles)
    for a, b in zip(loaded.state.pairs.columns(), state.pairs.columns(),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.state.interests.vectors, state.interests.vectors)
    assert loaded.state.config == config and loaded.quarantine == ['{"row": 1}']
    assert len(loaded.user_index) == int(state.has_profile.sum())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["users"] == 30 and manifest["counts"]["unmatched_songs"] == 2

    profiles = out / "profiles.npy"
    profiles.write_bytes(profiles.read_bytes()[:-4] + b"\0\0\0\1")
    with pytest.raises(ArtifactError, match="does not match the manifest"):
        load_profiles(out)
    with pytest.raises(ArtifactError, match="not a songspace profiles folder"):
        load_profiles(tmp_path)


def test_pairs_take_and_concat_keep_columns_aligned():
    p = Pairs(np.array([0, 1], np.int32), np.array([5, 6], np.int32), np.array([1.0, 2.0]),
              np.array([1, 2], np.int32))
    both = Pairs.concat([p.take(np.array([1])), p.take(np.array([0]))])
    assert both.item.tolist() == [6, 5] and both.evidence.tolist() == [2.0, 1.0]
    assert len(Pairs.empty()) == 0


def test_a_batch_of_only_skips_updates_without_an_interest_fit():
    config = dataclasses.replace(PLAIN, interests=3)  # interests on: the fit must cope
    state, unit = build(config, *events(full_play(0, 0), full_play(1, 1)))
    skip = events((2, 3, 10.0, SKIP, 5_000.0))
    before = state.weighted_sum.copy()
    changed = update_profiles(state, pl.Series(["u0", "u1", "u2"]), *skip[:3],
                              event_signals(skip[3], skip[4], np.full(1, 240_000.0), config),
                              unit)
    assert changed.tolist() == [2] and not state.has_profile[2]
    np.testing.assert_array_equal(state.weighted_sum[:2], before)
