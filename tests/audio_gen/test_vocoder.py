"""The Vocos-style vocoder (`audio_gen.vocoder`) and its bench (`bench/vocoder.py`), on tiny
configs: a few seconds each on one thread."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from audio_gen.codec import CodecConfig, MelCodec
from audio_gen.vocoder import (
    Vocoder,
    VocoderConfig,
    check_codec,
    load_vocoder,
    mel_loss,
    multi_resolution_stft_loss,
    phase_loss,
    save_vocoder,
    vocoder_loss,
)

REPO = Path(__file__).resolve().parents[2]
CODEC = CodecConfig(sample_rate=16_000, n_fft=512, hop_length=128, n_mels=32, f_max=8_000.0,
                    griffin_lim_iters=4)


def tiny_vocoder(seed: int = 0) -> Vocoder:
    torch.manual_seed(seed)
    return Vocoder(VocoderConfig(codec=CODEC, dim=32, intermediate=64, layers=2))


def tone(seconds: float = 0.5, hz: float = 440.0) -> torch.Tensor:
    """A decaying sine."""
    t = torch.arange(round(seconds * CODEC.sample_rate)) / CODEC.sample_rate
    return 0.3 * torch.sin(2 * math.pi * hz * t) * torch.exp(-4.0 * t)


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_vocoder", REPO / "bench" / "vocoder.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_output_length_follows_the_frames_or_the_samples_asked_for():
    vocoder, codec = tiny_vocoder().eval(), MelCodec(CODEC)
    image = codec.encode(tone())  # (n_mels, F), as the codec makes it
    frames = image.shape[-1]
    assert vocoder.decode(image).shape == (frames * CODEC.hop_length,)
    assert vocoder.decode(image, samples=1000).shape == (1000,)
    batch = torch.stack([image, image]).unsqueeze(1)  # leading dims are kept
    assert vocoder.decode(batch).shape == (2, 1, frames * CODEC.hop_length)
    assert vocoder.decode(image).abs().max() <= 1.0
    with pytest.raises(ValueError, match="mel bins"):
        vocoder.decode(torch.zeros(CODEC.n_mels + 1, frames))


def test_the_loss_is_zero_for_the_same_signal_and_grows_with_the_difference():
    mel = MelCodec(CODEC).mel
    a = tone()
    b = tone(hz=660.0)
    same = vocoder_loss(a[None], a[None], mel, CODEC).item()
    near = multi_resolution_stft_loss(a, a + 0.01 * tone(hz=3000.0)).item()
    far = multi_resolution_stft_loss(a, b).item()
    assert same < 1e-5
    assert 0 < near < far
    assert mel_loss(a, b, mel, CODEC).item() > mel_loss(a, a, mel, CODEC).item()


def test_the_phase_loss_sees_a_transient_moved_within_a_frame():
    click = torch.zeros(CODEC.sample_rate // 2)
    click[4_000:4_040] = torch.hann_window(40)
    moved = torch.roll(click, 96)  # 6 ms: well inside one 32 ms window
    assert phase_loss(click, click, CODEC.n_fft, CODEC.hop_length).item() < 1e-4
    # the magnitudes of the frames barely change; the phase steps do
    assert phase_loss(moved, click, CODEC.n_fft, CODEC.hop_length).item() > 0.1


def test_a_few_steps_on_one_clip_lower_the_loss():
    torch.set_num_threads(1)
    vocoder, codec = tiny_vocoder(), MelCodec(CODEC)
    audio = tone()[None]
    image = codec.encode(audio)
    optimiser = torch.optim.Adam(vocoder.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = vocoder_loss(vocoder(image, audio.shape[-1]), audio, codec.mel, CODEC)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_save_and_load_give_the_same_output(tmp_path):
    vocoder = tiny_vocoder(seed=3).eval()
    image = MelCodec(CODEC).encode(tone())
    folder = save_vocoder(tmp_path / "vocoder", vocoder, meta={"steps": 7})
    loaded, meta = load_vocoder(folder)
    assert meta == {"steps": 7}
    assert loaded.cfg == vocoder.cfg
    assert torch.equal(loaded.decode(image), vocoder.decode(image))
    index = json.loads((folder / "vocoder.json").read_text())
    assert index["parameters"] == vocoder.num_parameters
    (folder / "vocoder.pt").write_bytes(b"damaged")
    with pytest.raises(ValueError, match="checksum"):
        load_vocoder(folder)


def test_the_config_round_trips_and_names_a_different_codec():
    cfg = tiny_vocoder().cfg
    assert VocoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    check_codec(cfg, CodecConfig(**{**CODEC.to_dict(), "griffin_lim_iters": 64}))
    with pytest.raises(ValueError, match="hop_length"):
        check_codec(cfg, CodecConfig(**{**CODEC.to_dict(), "hop_length": 256}))
    with pytest.raises(ValueError, match="unknown vocoder setting"):
        VocoderConfig.from_dict({"width": 3})


def test_onset_sharpness_is_one_for_the_real_clip_and_lower_for_a_smeared_one():
    np = pytest.importorskip("numpy")
    bench = bench_module()
    rate = 24_000
    clicks = np.zeros(rate * 2)
    rng = np.random.default_rng(0)
    for start in range(2_400, len(clicks) - 4_800, 6_000):  # a hit every 250 ms
        clicks[start:start + 2_400] += rng.standard_normal(2_400) * np.exp(
            -np.arange(2_400) / 200.0)
    smeared = np.convolve(clicks, np.hanning(2_400) / 600.0, mode="same")
    assert bench.onset_sharpness(clicks, clicks, rate) == pytest.approx(1.0)
    assert bench.onset_sharpness(clicks, smeared, rate) < 0.8
    assert bench.onset_sharpness(np.zeros(rate), np.zeros(rate), rate) is None


def test_the_bench_arguments():
    bench = bench_module()
    args = bench.parse_args(["--minutes", "0.5", "--train-clips", "3", "--judges", "none"])
    assert (args.minutes, args.train_clips, args.test_clips, str(args.judges)) == (
        0.5, 3, 100, "none")
    with pytest.raises(SystemExit):
        bench.parse_args(["--crop-seconds", "5", "--seconds", "4"])


def test_the_bench_runs_end_to_end(tmp_path):
    pytest.importorskip("audio_gen.render")
    from audio_gen.soundfont import SoundfontUnavailable, find_soundfont

    try:
        find_soundfont()
    except SoundfontUnavailable as error:
        pytest.skip(str(error))
    bench = bench_module()
    judges = bench.JUDGES if bench.JUDGES.is_file() else "none"
    out, model = tmp_path / "vocoder.json", tmp_path / "vocoder"
    result = bench.main(["--minutes", "0.05", "--train-clips", "2", "--test-clips", "1",
                         "--seconds", "2", "--judges", str(judges), "--out", str(out),
                         "--model-out", str(model)])
    written = json.loads(out.read_text())
    assert written["training"]["steps"] == result["training"]["steps"] > 0
    figures = written["evaluation"]["figures"]
    assert figures["real"]["mr_stft"] == 0.0
    assert figures["griffin_lim"]["mr_stft"] > 0 and figures["vocoder"]["mr_stft"] > 0
    assert figures["vocoder"]["decode_seconds"] > 0
    _, meta = load_vocoder(model)
    assert meta["steps"] == result["training"]["steps"]
