"""Loudness normalisation and the true-peak limiter."""

from __future__ import annotations

import numpy as np
import pytest

from audio_gen.loudness import TARGETS, integrated_loudness, limit, normalise, true_peak

RATE = 16_000


def tone(seconds: float = 2.0, level: float = 0.1, clicks: bool = False) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    audio = level * np.sin(2 * np.pi * 220 * t)
    if clicks:  # sharp peaks far above the tone: what drum hits do to a plain gain
        audio[:: RATE // 4] = 0.95
    return audio


@pytest.mark.parametrize("target", sorted(TARGETS.values()))
def test_normalise_reaches_the_target_without_reaching_full_scale(target):
    for audio in (tone(level=0.03), tone(level=0.5), tone(level=0.05, clicks=True)):
        out, report = normalise(audio, RATE, target)
        assert abs(integrated_loudness(out, RATE) - target) < 1.0
        assert abs(report.after_lufs - target) < 1.0
        assert true_peak(out) <= 10 ** (-1.0 / 20) + 1e-6
        assert np.abs(out).max() < 0.9


def test_the_limiter_only_touches_peaks():
    quiet = tone(level=0.2)
    assert np.allclose(limit(quiet, RATE), quiet, atol=1e-6)
    peaky = tone(level=0.2, clicks=True) * 1.5
    out = limit(peaky, RATE)
    assert true_peak(out) <= 10 ** (-1.0 / 20) + 1e-6
    middle = slice(RATE // 8 - 200, RATE // 8 + 200)  # between two clicks: left alone
    assert np.allclose(out[middle], peaky[middle], atol=1e-4)


def test_silence_and_short_clips():
    out, report = normalise(np.zeros(RATE), RATE)
    assert not out.any() and report.after_lufs == float("-inf")
    faint, report = normalise(tone(level=1e-4), RATE, -24.0)  # under the -70 LUFS gate
    assert report.before_lufs == float("-inf") and report.gain_db == 30.0  # raised, capped
    assert np.abs(faint).max() == pytest.approx(10 ** 1.5 * 1e-4, rel=1e-3)
    short, _ = normalise(tone(0.2, 0.01), RATE, -16.0)
    assert abs(integrated_loudness(short, RATE) + 16.0) < 1.0
    with pytest.raises(ValueError, match="ceiling"):
        normalise(tone(), RATE, -16.0, ceiling_db=0.0)
