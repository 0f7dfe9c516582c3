"""The judges of issue 17's adherence evaluation: trained on soundfont renders, they hear genre
and loudness in clips of combinations they never heard above the shuffled-caption floor (even
trained on 120 two-second clips; bench/audio_judges.py has the real figures),
and survive a save and load."""

from __future__ import annotations

import numpy as np
import pytest

from audio_gen.judges import (
    ATTRIBUTES,
    accuracy,
    features,
    fit_judges,
    load_judges,
    rendered_set,
    save_judges,
)

from .test_render import needs_soundfont

pytestmark = [needs_soundfont, pytest.mark.slow]
RATE, SECONDS = 16_000, 2.0


def test_judges_hear_held_out_renders_above_the_floor(tmp_path):
    x, truth, _ = rendered_set(120, 0, "exclude", SECONDS, RATE)
    assert x.shape[0] == 120 and np.isfinite(x).all()
    judges = fit_judges(x, truth)
    x_test, truth_test, _ = rendered_set(40, 1, "only", SECONDS, RATE)
    shuffled = [truth_test[i] for i in np.random.default_rng(0).permutation(len(truth_test))]
    ceiling, floor = accuracy(judges, x_test, truth_test), accuracy(judges, x_test, shuffled)
    assert set(ceiling) == set(ATTRIBUTES)
    for attribute in ("genre", "loudness"):
        assert ceiling[attribute] > floor[attribute] + 0.1, (attribute, ceiling, floor)
    save_judges(judges, tmp_path / "judges.json")
    again = load_judges(tmp_path / "judges.json")
    assert all(again[a].predict(x_test) == judges[a].predict(x_test) for a in ATTRIBUTES)


def test_silence_has_features_a_judge_can_read():
    """A generated clip may be near silent: its features stay finite."""
    assert np.isfinite(features(np.zeros(2 * RATE), RATE)).all()
