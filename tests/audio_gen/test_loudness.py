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


def music_like(seconds: float, rate: int, seed: int) -> np.ndarray:
    """Noise shaped into notes: a level that comes and goes, lows and highs, sharp onsets."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    envelope = np.exp(-8.0 * (t % 0.25)) * rng.uniform(0.05, 0.6)
    return envelope * (np.sin(2 * np.pi * 110 * t) + 0.3 * rng.standard_normal(n))


@pytest.mark.parametrize("rate", [16_000, 24_000])
def test_the_measures_agree_with_pyloudnorm_and_scipy(rate):
    """The meter and the filters run on torch(audio) and numpy (the generator loads no
    scipy.signal): they give what pyloudnorm and scipy give, loud and bright clips included."""
    import pyloudnorm
    from scipy import ndimage, signal

    from audio_gen.loudness import sliding_mean, sliding_min

    meter = pyloudnorm.Meter(rate, block_size=0.4)
    t = np.arange(rate * 2) / rate
    bright = 0.95 * np.sin(2 * np.pi * 7000 * t)  # +4 dB of K-weighting takes it past 1
    too_loud = 1.5 * np.random.default_rng(0).standard_normal(rate)  # an unnormalised clip
    for audio in (bright, too_loud, music_like(0.5, rate, 9), music_like(1.37, rate, 8)):
        assert integrated_loudness(audio, rate) == pytest.approx(
            meter.integrated_loudness(audio), abs=0.01)
    for seed in range(3):
        audio = music_like(3.0, rate, seed)
        reference = meter.integrated_loudness(audio)
        assert integrated_loudness(audio, rate) == pytest.approx(reference, abs=0.01)
        scipy_peak = np.abs(signal.resample_poly(audio, 4, 1)).max()
        assert 20 * np.log10(true_peak(audio) / scipy_peak) == pytest.approx(0.0, abs=0.1)
        need = np.minimum(1.0, 0.3 / np.maximum(np.abs(audio), 1e-12))
        for size in (1, 8, 241, 961):
            assert np.array_equal(sliding_min(need, size), ndimage.minimum_filter1d(need, size))
            np.testing.assert_allclose(sliding_mean(need, size),
                                       ndimage.uniform_filter1d(need, size), atol=1e-9)


def test_the_generator_loads_no_scipy_signal():
    """scipy.signal's import was about a tenth of a whole `songspace generate`."""
    import subprocess
    import sys

    probe = ("import sys, audio_gen.pipeline; "
             "print(sorted(m for m in ('scipy.signal', 'scipy.ndimage', 'pyloudnorm') "
             "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
