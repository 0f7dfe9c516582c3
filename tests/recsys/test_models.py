"""Behaviour every recommender must show (one contract, run for each model), plus song2vec's own."""

import numpy as np
import pytest

from recsys.baselines import ALS, BPR, CoOccurrence, Popularity
from recsys.song2vec import Song2Vec, Song2VecConfig


def two_scene_playlists(n=400, seed=0, walk=True):
    """Songs 0-9 are one scene, 10-19 another, and playlists stay inside a scene. With walk,
    a playlist walks the scene in order (so 'what comes next' is learnable); otherwise it is a
    random handful of the scene's songs. Song 20 is in the catalogue but never played."""
    rng = np.random.default_rng(seed)
    playlists = []
    for _ in range(n):
        base = 0 if rng.random() < 0.5 else 10
        length = rng.integers(3, 8)
        if walk:
            start = rng.integers(0, 10)
            songs = [base + (start + j) % 10 for j in range(length)]
        else:
            songs = base + rng.choice(10, length, replace=False)
        playlists.append(np.array(songs, np.int64))
    return playlists, 21


def small_song2vec(seed=0):
    # No down-sampling: in a 20-song corpus every song is "frequent".
    return Song2Vec(
        Song2VecConfig(vector_size=16, epochs=30, window=2, sample=0, seed=seed, workers=1)
    )


MODELS = {
    "song2vec": small_song2vec,
    "popularity": Popularity,
    "cooccurrence": CoOccurrence,
    # Two scenes are a rank-2 matrix; more factors than that let ALS overfit 20 songs.
    "als": lambda: ALS(factors=2, iterations=15),
    "bpr": lambda: BPR(factors=8, iterations=50),
}


@pytest.fixture(scope="module")
def fitted():
    playlists, n_items = two_scene_playlists()
    return {name: make().fit(playlists, n_items) for name, make in MODELS.items()}


@pytest.fixture(scope="module")
def fitted_on_scenes():
    playlists, n_items = two_scene_playlists(walk=False)
    return {name: make().fit(playlists, n_items) for name, make in MODELS.items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_recommend_excludes_context_and_never_unplayed_songs(fitted, name):
    model = fitted[name]
    ids, scores = model.recommend([3, 4], k=25)
    assert 3 not in ids and 4 not in ids
    assert 20 not in ids  # never played: no evidence for it
    assert np.all(np.diff(scores) <= 0)
    assert len(ids) == 18


@pytest.mark.parametrize("name", ["song2vec", "cooccurrence", "als", "bpr"])
def test_context_aware_models_stay_in_the_scene(fitted_on_scenes, name):
    ids, _ = fitted_on_scenes[name].recommend([12, 13, 14], k=5)
    assert all(10 <= i < 20 for i in ids), ids


@pytest.mark.parametrize("name", ["song2vec", "cooccurrence"])
def test_sequence_models_predict_the_next_song(fitted, name):
    ids, _ = fitted[name].recommend([5, 6], k=3)
    assert 7 in ids


def test_song2vec_similar_items_share_the_scene(fitted_on_scenes):
    ids, scores = fitted_on_scenes["song2vec"].similar_items(2, k=5)
    assert 2 not in ids
    assert all(i < 10 for i in ids)
    assert np.all(scores <= 1.0 + 1e-6)


def test_seeded_song2vec_is_reproducible_and_seed_matters():
    playlists, n_items = two_scene_playlists()
    a = small_song2vec(seed=3).fit(playlists, n_items)
    b = small_song2vec(seed=3).fit(playlists, n_items)
    c = small_song2vec(seed=4).fit(playlists, n_items)
    assert np.array_equal(a.input_vectors, b.input_vectors)
    assert np.array_equal(a.output_vectors, b.output_vectors)
    assert not np.array_equal(a.input_vectors, c.input_vectors)
    assert a.input_vectors.dtype == np.float32


def test_omp_num_threads_caps_the_threads_left_to_the_machine(monkeypatch):
    import os

    from foundation.cores import available_cores

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert available_cores() == cores == Song2VecConfig(workers=0).threads
    monkeypatch.setenv("OMP_NUM_THREADS", str(cores + 8))
    assert available_cores() == cores
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert Song2VecConfig(workers=0).threads == 1 and Song2VecConfig(workers=3).threads == 3
    # implicit's BPR on one thread: a seeded baseline gives the same figures every run (on
    # several threads its lock-free updates race, and the evaluation moved from run to run).
    playlists, n_items = two_scene_playlists()
    first, again = (BPR(factors=8, iterations=20, seed=1).fit(playlists, n_items)
                    for _ in range(2))
    assert np.array_equal(first.item_factors, again.item_factors)


def test_song2vec_reports_each_epoch():
    playlists, n_items = two_scene_playlists(n=50)
    seen = []
    model = small_song2vec().fit(playlists, n_items, on_epoch=seen.append)
    assert [s.epoch for s in seen] == list(range(1, 31))
    assert all(s.songs_per_s > 0 and s.loss is not None and s.loss > 0 for s in seen)
    assert model.history == seen


def test_config_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match="window=0"):
        Song2VecConfig(window=0)
    with pytest.raises(ValueError, match="unknown song2vec setting"):
        Song2VecConfig.from_dict({"windw": 3})
