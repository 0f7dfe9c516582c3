"""The spectrogram codec and WAV files."""

from __future__ import annotations

import wave

import numpy as np
import pytest
import torch

from audio_gen.audio_io import read_wav, write_wav
from audio_gen.codec import CodecConfig, MelCodec
from audio_gen.synth import make_clip


def test_encode_shapes_and_range():
    codec = MelCodec(CodecConfig())
    image = codec.encode(torch.zeros(2, 16_000))
    assert image.shape == (2, 128, 62)  # 16000 // 256 frames
    assert torch.all(image == -1.0)  # silence sits at the floor of the fixed range
    loud = codec.encode(torch.from_numpy(np.sin(np.arange(16_000) * 0.1).astype("f4")))
    assert loud.max() <= 1.0 and loud.max() > 0.5


def test_normalise_is_inverted_inside_the_range():
    codec = MelCodec(CodecConfig())
    power = torch.tensor([1e-4, 1.0, 100.0, 1e4])
    assert torch.allclose(codec.denormalise(codec.normalise(power)), power, rtol=1e-4)


def test_loudness_survives_encoding():
    # A fixed decibel range, not per-clip normalisation: 20 dB quieter shows as a lower image.
    codec = MelCodec(CodecConfig())
    tone = torch.from_numpy(0.5 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000))
    loud, quiet = codec.encode(tone.float()), codec.encode(0.1 * tone.float())
    expected = 20.0 / (codec.cfg.db_max - codec.cfg.db_min) * 2  # 20 dB in image units
    peak = loud.mean(-1).argmax()
    assert (loud[peak] - quiet[peak]).mean().item() == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("seed", [0, 2])  # a drum groove and a piano phrase
def test_round_trip_error_is_bounded(seed):
    clip = make_clip(np.random.default_rng(seed), seconds=2.0)
    codec = MelCodec(CodecConfig(griffin_lim_iters=32))
    image = codec.encode(torch.from_numpy(clip.audio))
    audio = codec.decode(image, samples=len(clip.audio))
    assert audio.shape == (len(clip.audio),)
    again = codec.encode(audio)
    # Griffin-Lim loses the phase, not the spectrum: the re-encoded image stays close. Measured
    # mean absolute differences (on the [-1, 1] scale): drums 0.02, piano 0.12 over loud pixels
    # and 0.16 overall; white noise of the same level gives 0.9-1.1 overall, and the clip a
    # fifth higher 0.65-0.72 over the loud pixels.
    loud = image > -0.5
    assert (again - image).abs()[loud].mean().item() < 0.16
    assert (again - image).abs().mean().item() < 0.2


def test_decode_rejects_the_wrong_height():
    with pytest.raises(ValueError, match="mel bins"):
        MelCodec(CodecConfig()).decode(torch.zeros(64, 10))


def test_wav_round_trip_header_and_samples(tmp_path):
    audio = np.sin(np.linspace(0, 100, 8000)) * 0.5
    path = write_wav(tmp_path / "sub" / "x.wav", audio, 16_000)
    with wave.open(str(path)) as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate(),
                handle.getnframes()) == (1, 2, 16_000, 8000)
    back, rate = read_wav(path)
    assert rate == 16_000 and np.abs(back - audio).max() < 1e-4
    write_wav(tmp_path / "clip.wav", np.array([2.0, -2.0]), 8000)  # out of range: clipped
    back, _ = read_wav(tmp_path / "clip.wav")
    assert back.max() == pytest.approx(1.0, abs=1e-4) and back.min() >= -1.0
