"""The next-song peers (SKNN, V-SKNN, VSTAN, the transformer / SASRec), the two-stage ranker and
temperature sampling, each on tiny hand-made data whose answer is known."""

import re

import numpy as np
import pytest

from recsys.base import top_k
from recsys.baselines import Popularity
from recsys.generation import continue_playlist, generate_playlist, sample_top
from recsys.sequence_model import SequenceConfig, SequenceModel
from recsys.session_knn import SKNN, VSKNN, VSTAN, ItemKNN
from recsys.song2vec import Song2VecConfig


def arr(*songs):
    return np.array(songs, np.int64)


# -- session kNN ---------------------------------------------------------------------------------
def test_sknn_votes_are_cosine_similarities():
    train = [arr(0, 1, 2), arr(0, 1, 2), arr(0, 1, 3), arr(4, 5, 6)]
    model = SKNN(k=10).fit(train, 8)
    scores = model.score([arr(0, 1)])[0]
    # Three neighbours share {0, 1} (2 songs of 3): cosine 2/sqrt(3) each (the context's own
    # norm is a per-row constant); song 2 is in two of them, song 3 in one.
    sim = 2 / np.sqrt(3)
    assert scores[2] == pytest.approx(2 * sim, abs=1e-4)
    assert scores[3] == pytest.approx(sim, abs=1e-4)
    assert scores[4] < 1e-5  # no neighbour votes for it: only the tiny popularity prior
    assert scores[7] == -np.inf  # never played
    ids, _ = model.recommend(arr(0, 1), k=2)
    assert list(ids) == [2, 3]


def test_sknn_keeps_only_k_neighbours():
    train = [arr(0, 1, 2), arr(0, 3), arr(0, 4, 5, 6, 7, 8, 9)]
    scores = SKNN(k=1).fit(train, 10).score([arr(0, 1)])[0]
    assert scores[2] > 0.1 and scores[3] < 1e-5  # only the closest playlist votes


def test_vsknn_weighs_recent_context_songs_more():
    train = [arr(0, 1), arr(5, 2)]
    context = [arr(0, 5)]  # 5 is the most recent song
    vsknn = VSKNN(k=10).fit(train, 6).score(context)[0]
    sknn = SKNN(k=10).fit(train, 6).score(context)[0]
    assert vsknn[2] > vsknn[1]
    assert sknn[2] == pytest.approx(sknn[1])  # unweighted: a tie


def test_vstan_votes_decay_around_the_anchor_and_filter_what_came_before():
    # The neighbour shares song 0 (its position 1, the anchor) with the context.
    train = [arr(9, 0, 7, 8, 1, 2, 3)]
    model = VSTAN(k=10, inh=2.0, before_weight=0.0, idf=False).fit(train, 10)
    scores = model.score([arr(0)])[0]
    assert scores[7] > scores[8] > scores[1] > scores[2] > scores[3] > 1e-5
    # cosine 1/sqrt(7) (one shared song of seven) times exp(-distance / inh)
    assert scores[7] == pytest.approx(np.exp(-1 / 2) / np.sqrt(7), rel=1e-3)
    assert scores[9] < 1e-5  # played before the anchor: filtered out


def test_vstan_anchor_is_the_most_recent_shared_song():
    train = [arr(0, 1, 2, 3, 4, 5, 6)]
    model = VSTAN(k=10, inh=1.0, before_weight=1.0, idf=False).fit(train, 7)
    scores = model.score([arr(1, 5)])[0]  # 5 is later in the context: anchor = position 5
    assert scores[6] == pytest.approx(scores[4])  # both one step from the anchor
    assert scores[4] > scores[3] > scores[2] > scores[0]


def test_session_knn_scores_a_big_batch_in_blocks_exactly_as_at_once(monkeypatch):
    import recsys.session_knn as session_knn

    rng = np.random.default_rng(0)
    train = [rng.integers(0, 40, rng.integers(2, 12)) for _ in range(300)]
    contexts = [rng.integers(0, 40, rng.integers(1, 8)) for _ in range(37)]
    for make in (SKNN, VSKNN, VSTAN):
        model = make(k=20).fit(train, 40)
        at_once = model.score(contexts)
        monkeypatch.setattr(session_knn, "BLOCK_CELLS", 5 * 300)  # blocks of five rows
        assert np.array_equal(model.score(contexts), at_once)
        monkeypatch.undo()


def test_iknn_scores_songs_by_shared_playlists():
    train = [arr(0, 1), arr(1, 0), arr(0, 2), arr(3, 4)]
    scores = ItemKNN(alpha=0.5).fit(train, 6).score([arr(0)])[0]
    # cosine of playlist sets: 0 and 1 share 2 playlists (0 is in 3, 1 in 2); 0 and 2 share 1.
    assert scores[1] == pytest.approx(2 / np.sqrt(3 * 2), abs=1e-4)
    assert scores[2] == pytest.approx(1 / np.sqrt(3 * 1), abs=1e-4)
    assert scores[3] < 1e-5 and scores[5] == -np.inf


# -- the transformer and SASRec --------------------------------------------------------------
def cycles(n=300, seed=0, songs=10):
    """Playlists walking 0 -> 1 -> ... -> 9 -> 0 from a random start: the next song is known."""
    rng = np.random.default_rng(seed)
    return [
        (rng.integers(songs) + np.arange(rng.integers(4, 12))) % songs for _ in range(n)
    ]


TINY = SequenceConfig(dim=16, layers=1, heads=2, max_len=8, dropout=0.0, epochs=25,
                      batch_size=32, lr=1e-2, threads=1, seed=0)


@pytest.fixture(scope="module")
def sequence_models():
    train = cycles()
    vectors = np.random.default_rng(1).normal(size=(2, 12, 16)).astype(np.float32)
    return {
        "transformer": SequenceModel(TINY, (vectors[0], vectors[1])).fit(train, 12),
        "sasrec": SequenceModel(
            SequenceConfig(**{**TINY.__dict__, "init": "random"}), name="sasrec"
        ).fit(train, 12),
    }


@pytest.mark.parametrize("name", ["transformer", "sasrec"])
def test_sequence_models_learn_the_next_song(sequence_models, name):
    model = sequence_models[name]
    for start in (0, 3, 7):
        ids, _ = model.recommend(arr(start, (start + 1) % 10), k=1)
        assert ids[0] == (start + 2) % 10
    scores = model.score([arr(1)])[0]
    assert scores[10] == -np.inf and scores[11] == -np.inf  # never played


def test_transformer_starts_from_song2vec_vectors():
    inputs = np.random.default_rng(0).normal(size=(12, 16)).astype(np.float32)
    outputs = np.random.default_rng(1).normal(size=(12, 16)).astype(np.float32)
    model = SequenceModel(SequenceConfig(**{**TINY.__dict__, "epochs": 0}), (inputs, outputs))
    model.fit(cycles(), 12)
    weights = model.net.items.weight.detach().numpy()[:12]
    out = model.net.out.detach().numpy()
    # Same directions, and input . output (song2vec's score) unchanged by the rescaling.
    np.testing.assert_allclose(weights @ out.T, inputs @ outputs.T, rtol=1e-4, atol=1e-4)


def test_sequence_model_save_load_round_trip(sequence_models, tmp_path):
    model = sequence_models["transformer"]
    model.save(tmp_path)
    loaded = SequenceModel.load(tmp_path, "transformer")
    contexts = [arr(1, 2, 3), arr(5)]
    np.testing.assert_allclose(loaded.score(contexts), model.score(contexts), rtol=1e-5)


# -- the two-stage ranker ------------------------------------------------------------------------
def small_song2vec():
    return Song2VecConfig(vector_size=8, epochs=10, window=2, sample=0, min_count=1, seed=0,
                          workers=1, compute_loss=False)


def ranker_for_test(**config):
    from recsys.ranker import RankerConfig, TwoStageRanker, default_generators

    settings = {"per_generator": 5, "holdout": 0.3, "max_positions": 3, "rounds": 30,
                "min_data_in_leaf": 5, "num_leaves": 7, "early_stopping": 10, "threads": 1,
                **config}
    return TwoStageRanker(default_generators(small_song2vec()), RankerConfig(**settings),
                          artists=np.arange(12) % 4)


def test_ranker_learns_the_next_song():
    model = ranker_for_test().fit(cycles(400), 12)
    for start in (0, 4, 8):
        ids, _ = model.recommend(arr(start, (start + 1) % 10), k=1)
        assert ids[0] == (start + 2) % 10
    importances = model.importances()
    assert set(importances) == set(model.feature_names)
    assert sum(importances.values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("folds", [1, 3])
def test_ranker_never_trains_on_held_out_playlists(monkeypatch, folds):
    """The ranker's cases come only from `fit`'s playlists, from a fold the generators did not
    see. Held-out playlists here hold songs 10 and 11, which no training playlist has: any case
    or generator that saw them would be a leak."""
    import recsys.ranker as ranker_module

    train = cycles(300)
    held_out = [arr(10, 11, 10), arr(11, 10)]
    seen_case_playlists = []
    real_make_cases = ranker_module.make_cases

    def spy(playlists, *args, **kwargs):
        seen_case_playlists.extend(playlists)
        return real_make_cases(playlists, *args, **kwargs)

    monkeypatch.setattr(ranker_module, "make_cases", spy)
    model = ranker_for_test(folds=folds).fit(train, 12)
    assert len(model.log.folds) == folds
    assert seen_case_playlists
    assert not any(np.isin(p, [10, 11]).any() for p in seen_case_playlists)
    for fold in model.log.folds:
        assert set(fold["case_playlists"]).isdisjoint(fold["generator_playlists"])
        assert set(fold["case_playlists"]) | set(fold["generator_playlists"]) == set(
            range(len(train)))
    # Scoring the held-out playlists afterwards changes nothing that was learned.
    before = model.booster.model_to_string()
    model.score(held_out)
    assert model.booster.model_to_string() == before
    assert not model.generators["song2vec"].trained[10:].any()


def test_ranker_tells_each_fold_with_an_eta_then_lightgbm():
    from recsys.ranker import TwoStageRanker

    stages: list[str] = []
    ranker_for_test(folds=3).fit(cycles(300), 12, on_stage=stages.append)
    assert stages[0] == "fitting the ranker: fold 1/3"  # nothing timed yet: no ETA
    for number, stage in zip((2, 3), stages[1:3], strict=True):
        assert re.fullmatch(rf"fitting the ranker: fold {number}/3, \d:\d\d:\d\d a fold, "
                            r"ETA \d:\d\d:\d\d for the folds", stage), stage
    assert re.fullmatch(r"fitting the ranker: LightGBM on [\d,]+ rows \(the 3 folds took "
                        r"\d:\d\d:\d\d\)", stages[3]), stages[3]
    # The ETA is the mean time of the folds done, times the folds left.
    assert TwoStageRanker._fold_stage(1, 3, 16.0) == (
        "fitting the ranker: fold 2/3, 0:00:16 a fold, ETA 0:00:32 for the folds")
    assert TwoStageRanker._fold_stage(2, 3, 50.0).endswith("0:00:25 a fold, ETA 0:00:25 for "
                                                           "the folds")


def test_ranker_save_load_round_trip(tmp_path):
    from recsys.ranker import TwoStageRanker

    train = cycles(300)
    model = ranker_for_test().fit(train, 12)
    model.save(tmp_path)
    loaded = TwoStageRanker.load(tmp_path, model.generators, train, 12, np.arange(12) % 4)
    contexts = [arr(1, 2), arr(7, 8, 9)]
    np.testing.assert_allclose(loaded.score(contexts), model.score(contexts), rtol=1e-5)


# -- temperature sampling and playlist generation -----------------------------------------------
def test_temperature_zero_is_top_k():
    scores = np.random.default_rng(0).normal(size=50)
    scores[[3, 9]] = -np.inf
    ids, values = sample_top(scores, 10, temperature=0.0, seed=123)
    expected, _ = top_k(scores[None], 10)
    assert list(ids) == list(expected[0])
    assert np.all(np.diff(values) <= 0)


def test_sampling_is_seeded_reproducible_and_distinct():
    scores = np.random.default_rng(0).normal(size=200)
    scores[:20] = -np.inf
    a, _ = sample_top(scores, 15, temperature=1.0, seed=7)
    b, _ = sample_top(scores, 15, temperature=1.0, seed=7)
    c, _ = sample_top(scores, 15, temperature=1.0, seed=8)
    assert list(a) == list(b)
    assert list(a) != list(c)
    assert len(set(a)) == 15 and a.min() >= 20  # no repeats, never a forbidden item


def test_sampling_follows_the_softmax():
    scores = np.log(np.array([0.6, 0.3, 0.1]))
    # The spread normalisation makes temperature relative; undo it to test exact probabilities.
    temperature = 1.0 / np.std(scores)
    draws = [sample_top(scores, 1, temperature, seed=s)[0][0] for s in range(3000)]
    freq = np.bincount(draws, minlength=3) / 3000
    np.testing.assert_allclose(freq, [0.6, 0.3, 0.1], atol=0.03)


def test_continue_playlist_excludes_the_context():
    model = Popularity().fit([arr(0, 1, 2, 2, 2, 1)], 3)
    ids, _ = continue_playlist(model, arr(2), k=5)
    assert list(ids) == [1, 0]


def test_generated_playlist_has_no_repeats_and_respects_the_artist_cap():
    train = cycles(300, songs=12)
    model = Popularity().fit(train, 12)
    artists = np.arange(12) // 3  # four artists of three songs each
    for temperature in (0.0, 2.0):
        picks, _ = generate_playlist(model, [0], n=8, temperature=temperature, seed=3,
                                     artists=artists, max_per_artist=2)
        playlist = [0, *picks]
        assert len(picks) == 7  # 4 artists x 2, minus the seed: then it runs out
        assert len(set(playlist)) == len(playlist)
        assert np.bincount(artists[playlist]).max() <= 2
    again = generate_playlist(model, [0], n=5, temperature=2.0, seed=3, artists=artists,
                              max_per_artist=2)
    assert again == generate_playlist(model, [0], n=5, temperature=2.0, seed=3,
                                      artists=artists, max_per_artist=2)


def test_lightgbm_loads_without_scikit_learn_which_stays_importable():
    """The ranker's LightGBM skips its scikit-learn integration (1.3 s of every process that
    loads the ranker); scikit-learn, when installed, still imports afterwards."""
    import subprocess
    import sys

    code = ("import sys, importlib.util; from recsys.ranker import lightgbm; lgb = lightgbm(); "
            "assert 'sklearn' not in sys.modules; assert lgb.Booster; "
            "assert importlib.util.find_spec('sklearn') is None or __import__('sklearn'); "
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
