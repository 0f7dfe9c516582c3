"""The procedural synthesiser and the independent signal analysis that judges generated clips."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

from audio_gen import analysis
from audio_gen.synth import HELD_OUT, caption, make_clip, render, sample_spec

SR = 16_000


def tone(freq: float, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)


def clicks(bpm: float, seconds: float = 4.0) -> np.ndarray:
    audio = np.zeros(int(seconds * SR))
    rng = np.random.default_rng(0)
    for start in np.arange(0.05, seconds, 60.0 / bpm):
        i = int(start * SR)
        burst = rng.standard_normal(400) * np.exp(-np.arange(400) / 80)
        audio[i:i + 400] += burst[: len(audio) - i]
    return audio


@pytest.mark.parametrize("freq", [55.0, 220.0, 880.0])
def test_pitch_of_pure_and_rich_tones(freq):
    assert analysis.pitch(tone(freq), SR)[0] == pytest.approx(freq, rel=0.01)
    rich = sum(tone(k * freq) / k for k in range(1, 6) if k * freq < 7000)
    assert analysis.pitch(rich, SR)[0] == pytest.approx(freq, rel=0.01)  # no octave error
    assert analysis.pitch(np.random.default_rng(0).standard_normal(SR), SR)[0] is None


@pytest.mark.parametrize("bpm", [66.0, 105.0, 155.0])
def test_tempo_of_click_trains(bpm):
    assert analysis.tempo(clicks(bpm), SR) == pytest.approx(bpm, rel=0.03)


def test_tempo_prefers_the_beat_over_the_bar():
    # Accented every other beat: the two-beat period has the higher autocorrelation peak.
    audio = clicks(150.0)
    beat = int(SR * 60 / 150)
    for k, start in enumerate(range(int(0.05 * SR), len(audio), beat)):
        if k % 2:
            audio[start:start + 400] *= 0.4
    assert analysis.tempo(audio, SR) == pytest.approx(150.0, rel=0.03)


def test_level_and_centroid_closed_form():
    assert analysis.rms_dbfs(tone(440, amp=1.0)) == pytest.approx(-3.01, abs=0.02)
    assert analysis.rms_dbfs(tone(440, amp=0.1)) == pytest.approx(-23.01, abs=0.02)
    assert analysis.spectral_centroid(tone(1000), SR) == pytest.approx(1000, rel=0.02)


def test_classify_uses_the_stated_edges():
    m = analysis.Measurements(pitch_hz=600.0, voiced=1.0, bpm=70.0, centroid_hz=2400.0,
                              rms_dbfs=-30.0)
    assert analysis.classify(m, pitched=True) == {
        "register": "high", "tempo": "slow", "brightness": "bright", "loudness": "quiet"}
    assert analysis.classify(m, pitched=False)["register"] is None
    assert analysis.classify(m, pitched=False)["brightness"] == "bright"  # 2400 Hz > 1800


def test_analysis_is_written_independently_of_the_synthesiser():
    tree = ast.parse(inspect.getsource(analysis))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"__future__", "dataclasses", "numpy"}


def test_synthesised_clips_are_heard_as_captioned():
    """The ceiling: real clips measured by the analysis (about 98% per attribute on 300)."""
    rng = np.random.default_rng(11)
    hits, total = 0, 0
    for _ in range(24):
        clip = make_clip(rng, seconds=4.0, held_out="any")
        heard = analysis.classify(analysis.measure(clip.audio, SR),
                                  pitched=clip.spec.instrument != "drums")
        for name in ("register", "tempo", "brightness", "loudness"):
            if getattr(clip.spec, name) is not None:
                total += 1
                hits += heard[name] == getattr(clip.spec, name)
    assert hits / total >= 0.9


def test_held_out_combinations_never_appear_in_training_draws():
    rng = np.random.default_rng(0)
    train = {sample_spec(rng).combination for _ in range(3000)}
    assert not train & HELD_OUT
    assert {c[0] for c in train} == {c[0] for c in HELD_OUT}  # every instrument still trains
    only = {sample_spec(rng, held_out="only").combination for _ in range(200)}
    assert only == set(HELD_OUT)


def test_captions_name_the_attributes():
    rng = np.random.default_rng(1)
    spec = sample_spec(rng, fixed={"instrument": "piano", "tempo": "fast", "register": "high",
                                   "brightness": "bright"}, held_out="any")
    texts = {caption(spec, rng, drop=0.0) for _ in range(40)}
    assert len(texts) > 20  # varied wording
    for text in texts:
        assert "piano" in text
        assert any(w in text for w in ("fast", "quick", "up-tempo"))
        assert any(w in text for w in ("high", "high-pitched"))


def test_render_is_seeded_and_has_the_requested_length_and_level():
    spec = sample_spec(np.random.default_rng(2), fixed={"loudness": "quiet"})
    a = render(spec, 1.5, SR, np.random.default_rng(5))
    b = render(spec, 1.5, SR, np.random.default_rng(5))
    assert a.shape == (24_000,) and a.dtype == np.float32 and np.array_equal(a, b)
    assert -35.0 < analysis.rms_dbfs(a) < -29.0
