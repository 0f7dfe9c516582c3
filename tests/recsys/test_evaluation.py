import numpy as np
import pytest

from recsys.base import Recommender
from recsys.evaluation import evaluate_models, make_cases, metrics_from_ranks, rank_targets


class FixedScores(Recommender):
    """Scores every context the same way: item i scores `scores[i]`."""

    name = "fixed"

    def __init__(self, scores):
        self.scores = np.asarray(scores, np.float32)
        self.n_items = len(self.scores)

    def fit(self, sentences, n_items):
        return self

    def score(self, contexts):
        return np.tile(self.scores, (len(contexts), 1))


def test_cases_cover_every_position_and_keep_unknown_targets():
    cases = make_cases([np.array([0, 1, 2]), np.array([3]), np.array([4, -1, 5])])
    assert cases.playlists == 2  # the single-song playlist has nothing to predict
    assert cases.targets.tolist() == [1, 2, -1, 5]
    assert [c.tolist() for c in cases.contexts] == [[0], [0, 1], [4], [4]]


def test_sampled_positions_are_seeded_and_bounded():
    playlists = [np.arange(50)]
    a = make_cases(playlists, max_positions=5, seed=1)
    b = make_cases(playlists, max_positions=5, seed=1)
    assert len(a) == 5 and a.targets.tolist() == b.targets.tolist()


def test_ranks_exclude_context_and_count_ties_against_the_answer():
    # item 0 is the best but is in the context, so it cannot be recommended.
    model = FixedScores([9.0, 5.0, 4.0, 4.0, 1.0, -np.inf])
    cases = make_cases([np.array([0, 1]), np.array([0, 2]), np.array([0, 4]), np.array([0, 5]),
                        np.array([0, 0])])
    ranks, shown = rank_targets(model, cases, k_coverage=2)
    # answer 1 -> rank 1; answer 2 ties with 3 -> rank 3; 4 -> rank 4; unknown (-inf) and the
    # repeated context song are misses.
    assert ranks.tolist() == [1, 3, 4, np.inf, np.inf]
    # top-2 is item 1 plus one of the tied items 2 and 3, never the context song 0
    assert shown[1] and shown.sum() == 2 and not shown[0] and shown[2] != shown[3]


def test_metrics_from_ranks_match_hand_computation():
    ranks = np.array([1, 3, 11, np.inf])
    shown = np.array([True, False, False, True])
    m = metrics_from_ranks(ranks, shown)
    assert m["hr@10"] == pytest.approx(0.5)
    assert m["hr@100"] == pytest.approx(0.75)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / np.log2(4)) / 4)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 11) / 4)
    assert m["coverage@10"] == pytest.approx(0.5)


def test_evaluate_models_reports_every_model_by_name():
    better, worse = FixedScores([0, 3, 2, 1]), FixedScores([0, 1, 2, 3])
    better.name, worse.name = "better", "worse"
    result = evaluate_models([better, worse], [], make_cases([np.array([0, 1])]), 4)
    assert result["cases"] == 1
    assert result["models"]["better"]["hr@10"] == 1.0
    assert result["models"]["better"]["mrr"] == 1.0
    assert result["models"]["worse"]["mrr"] == pytest.approx(1 / 3)
