"""The judges of issue 17's adherence evaluation: trained on soundfont renders, they hear
instrument, genre, mode and loudness in clips of held-out combinations above the
shuffled-caption floor (even trained briefly on 160 two-second clips; bench/audio_judges.py
has the real figures), survive a save and load, and refuse clips at another sample rate."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
import torch

from audio_gen.judges import (
    ATTRIBUTES,
    Heard,
    accuracy,
    fit_judges,
    hear,
    load_judges,
    rendered_set,
    save_judges,
)

from .test_render import needs_soundfont

RATE, SECONDS = 16_000, 2.0


@needs_soundfont
@pytest.mark.slow
def test_judges_hear_held_out_renders_above_the_floor(tmp_path):
    torch.set_num_threads(1)
    heard, truth, _, _ = rendered_set(160, 0, "any", SECONDS, RATE)
    assert len(heard) == 160 and all(
        np.isfinite(getattr(heard, f.name)).all() for f in fields(Heard)[1:])
    judges = fit_judges(heard, truth, timbre_epochs=12, pulse_epochs=40)
    test, truth_test, _, _ = rendered_set(40, 1, "only", SECONDS, RATE)
    shuffled = [truth_test[i] for i in np.random.default_rng(0).permutation(len(truth_test))]
    ceiling, floor = accuracy(judges, test, truth_test), accuracy(judges, test, shuffled)
    assert set(ceiling) == set(ATTRIBUTES)
    for attribute in ("instrument", "genre", "mode", "loudness"):
        assert ceiling[attribute] > floor[attribute] + 0.1, (attribute, ceiling, floor)
    save_judges(judges, tmp_path / "judges.pt")
    again = load_judges(tmp_path / "judges.pt")
    assert again.predict(test) == judges.predict(test)
    with pytest.raises(ValueError, match="listen at"):
        judges.predict(hear(np.zeros(2 * 24_000), 24_000))


def test_silence_is_heard_as_finite_values():
    """A generated clip may be near silent: what the judges read of it stays finite."""
    silent = hear(np.zeros(2 * RATE), RATE)
    assert len(silent) == 1
    assert all(np.isfinite(getattr(silent, f.name)).all() for f in fields(Heard)[1:])


def test_heard_clips_index_and_stack():
    clips = Heard.stack([hear(np.sin(np.arange(RATE) * f / RATE), RATE) for f in (800, 1600)])
    assert len(clips) == 2 and len(clips[1]) == 1 and len(clips[[1, 0]]) == 2
    assert np.array_equal(clips[1].level, clips.level[1:])
    with pytest.raises(ValueError, match="sample rates"):
        Heard.stack([clips, hear(np.zeros(RATE), 24_000)])
