"""The beat clock, the beat estimate for unlabelled audio, and the tempo head."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from audio_gen.rhythm import TempoHead, beat_grid, estimate_beat
from audio_gen.synth import render, sample_spec

FRAME_RATE = 62.5  # 16 kHz, hop 256


def test_the_pulse_sits_on_every_beat_and_nowhere_before_the_first():
    # 75 BPM = 0.8 s = 50 frames a beat; the first beat at 0.16 s = frame 10.
    grid = beat_grid(torch.tensor([75.0]), torch.tensor([0.16]), 200, FRAME_RATE)
    assert grid.shape == (1, 3, 200)
    pulse, cos, sin = grid[0]
    peaks = [k for k in range(1, 199) if pulse[k] > 0.5 and pulse[k] >= pulse[k - 1]
             and pulse[k] >= pulse[k + 1]]
    assert peaks == [10, 60, 110, 160]
    torch.testing.assert_close(pulse[peaks], torch.ones(4))
    assert float(pulse[:5].max()) < 1e-3  # no beat before the first one
    torch.testing.assert_close(cos**2 + sin**2, torch.ones(200))
    torch.testing.assert_close(cos[peaks], torch.ones(4))  # phase 0 on every beat
    assert float(cos[35]) == pytest.approx(-1.0, abs=1e-4)  # half way between beats


def test_an_unknown_beat_gives_an_empty_clock():
    grid = beat_grid(torch.tensor([120.0, math.nan, 90.0]),
                     torch.tensor([0.0, 0.1, math.nan]), 64, FRAME_RATE)
    assert grid[0].abs().sum() > 0
    assert torch.equal(grid[1:], torch.zeros(2, 3, 64))


@pytest.mark.parametrize("tempo", ["slow", "medium", "fast"])
def test_the_beat_of_a_synthesised_clip_is_recovered(tempo):
    rng = np.random.default_rng(3)
    spec = sample_spec(rng, held_out="any", fixed={"tempo": tempo, "instrument": "piano",
                                                    "density": "busy"})
    audio = render(spec, 4.0, 16_000, rng)
    bpm, first_beat = estimate_beat(audio, 16_000)
    assert bpm == pytest.approx(spec.bpm, rel=0.04)
    # The onset strength peaks a few milliseconds after the note starts.
    assert first_beat == pytest.approx(spec.first_beat, abs=0.03)
    assert all(math.isnan(v) for v in estimate_beat(np.zeros(16_000, np.float32), 16_000))


def test_the_tempo_head_learns_the_tempo_a_prompt_asks_for():
    torch.manual_seed(0)
    words = torch.randn(3, 16)  # three tempo words among the caption's other words
    vocabulary = torch.randn(20, 16)
    bpm = torch.tensor([68.0, 106.0, 156.0])
    head = TempoHead(16, hidden=32)
    optimiser = torch.optim.Adam(head.parameters(), lr=1e-2)

    def captions(which: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = vocabulary[torch.randint(20, (len(which), 6))]
        place = torch.randint(5, (len(which),))  # the tempo word, anywhere in the caption
        tokens[torch.arange(len(which)), place] = words[which]
        mask = torch.ones(len(which), 6, dtype=torch.bool)
        mask[:, 5] = False  # padding
        return tokens, mask

    for _ in range(600):
        which = torch.randint(3, (32,))
        loss = head.loss(*captions(which), bpm[which])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    which = torch.arange(3).repeat(10)
    torch.testing.assert_close(head.bpm(*captions(which)), bpm[which], rtol=0.04, atol=0.0)
    unknown = head.loss(*captions(which), torch.full((30,), math.nan))
    assert float(unknown) == 0.0  # clips without a beat teach it nothing


def test_a_prompt_can_state_its_tempo_as_a_number():
    from audio_gen.rhythm import stated_bpm

    assert stated_bpm("upbeat jazz at 140 BPM with a sax") == 140.0
    assert stated_bpm("techno, 128bpm") == 128.0
    assert stated_bpm("a ballad at 72.5 bpm") == 72.5
    assert stated_bpm("fast jazz") is None and stated_bpm("999 bpm") is None


def test_keep_within_moves_a_tempo_into_the_middle_of_its_class():
    from audio_gen.rhythm import keep_within

    fast = (128.0, 180.0)
    assert keep_within(150.0, fast) == pytest.approx(150.0)  # inside the middle: kept
    low, high = keep_within(100.0, fast), keep_within(250.0, fast)
    # A quarter of the class's log-width in from each end.
    assert low == pytest.approx(128.0 * (180 / 128) ** 0.25)
    assert high == pytest.approx(180.0 * (128 / 180) ** 0.25)
    assert 135 < low < 140 < 160 < high < 170


def test_tempo_words_have_the_ranges_of_the_training_captions():
    from audio_gen import styles, synth
    from audio_gen.rhythm import training_tempo_classes

    assert training_tempo_classes("soundfont") == styles.TEMPO_CLASSES
    assert training_tempo_classes("synth") == training_tempo_classes(None) == synth.TEMPI
    assert training_tempo_classes("/data/my_audio") is None  # a folder's words have no ranges
