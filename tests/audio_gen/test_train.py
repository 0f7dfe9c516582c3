"""Training: the loss falls, chunks resume to exactly the uninterrupted result, and model
folders round-trip."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_gen.checkpoint import INDEX, CheckpointError, load_model
from audio_gen.pipeline import TextToMusic
from audio_gen.text_encoder import HashingTextEncoder
from audio_gen.train import TrainConfig, learning_rate, train

from .conftest import TEXT_DIM, tiny_codec_config, tiny_unet_config


def tiny_config(**overrides) -> TrainConfig:
    values = {"steps": 6, "batch_size": 4, "pool_size": 12, "seconds": 0.5,
              "checkpoint_every": 3, "warmup_steps": 2, "text_encoder": f"hashing-{TEXT_DIM}",
              "text_max_length": 16, "unet": tiny_unet_config(), "codec": tiny_codec_config(),
              "bf16": False, **overrides}
    return TrainConfig(**values)


def test_chunks_resume_to_the_same_weights_as_one_run(tmp_path):
    cfg = tiny_config()
    encoder = HashingTextEncoder(TEXT_DIM)
    whole = train(cfg, tmp_path / "whole", encoder)
    assert whole.finished and whole.step == 6
    first = train(cfg, tmp_path / "chunked", encoder, stop_at=4)
    assert not first.finished and first.step == 4
    second = train(cfg, tmp_path / "chunked", encoder)
    assert second.finished and second.step == 6
    a = torch.load(tmp_path / "whole" / "training_state.pt", weights_only=True)
    b = torch.load(tmp_path / "chunked" / "training_state.pt", weights_only=True)
    for key in a["ema"]:
        assert torch.equal(a["ema"][key], b["ema"][key]), key
    log = [json.loads(line) for line in (tmp_path / "chunked" / "log.jsonl").read_text()
           .splitlines()]
    assert log[-1]["step"] == 6


@pytest.mark.parametrize(("low_band_weight", "bound"), [
    (1.0, 0.85),  # measured: 0.70 -> 0.57
    (3.0, 0.9),  # the recipe's weighting, measured: 0.68 -> 0.59
])
def test_loss_falls_on_a_tiny_pool(tmp_path, low_band_weight, bound):
    cfg = tiny_config(steps=60, learning_rate=2e-3, checkpoint_every=60, pool_size=8,
                      low_band_weight=low_band_weight)
    seen = []
    train(cfg, tmp_path / "run", HashingTextEncoder(TEXT_DIM), on_step=seen.append)
    first = sum(s.loss for s in seen[:10]) / 10
    last = sum(s.loss for s in seen[-10:]) / 10
    assert last < bound * first
    assert seen[-1].step == 60 and seen[-1].steps_per_s > 0


def test_published_model_round_trips(tmp_path):
    cfg = tiny_config(steps=2)
    result = train(cfg, tmp_path / "run", HashingTextEncoder(TEXT_DIM))
    bundle = load_model(result.model)
    assert bundle.text_encoder == f"hashing-{TEXT_DIM}" and bundle.meta["step"] == 2
    assert bundle.unet.cfg == cfg.unet and bundle.codec == cfg.codec
    state = torch.load(tmp_path / "run" / "training_state.pt", weights_only=True)
    for key, value in bundle.unet.state_dict().items():  # float16 on disk, close to the EMA
        assert torch.allclose(value, state["ema"][key], atol=1e-3), key
    weights = result.model / "unet.pt"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="checksum"):
        load_model(result.model)
    with pytest.raises(CheckpointError, match="not a songspace audio model"):
        load_model(tmp_path)


def test_a_folder_whose_captions_hold_no_words_trains_without_a_vocabulary(tmp_path):
    import wave

    import numpy as np

    folder = tmp_path / "audio"
    folder.mkdir()
    rate = tiny_codec_config().sample_rate
    for name in ("a.wav", "b.wav"):
        with wave.open(str(folder / name), "wb") as clip:
            clip.setnchannels(1), clip.setsampwidth(2), clip.setframerate(rate)
            tone = 0.3 * np.sin(np.arange(rate) * 2 * np.pi * 440 / rate)
            clip.writeframes((tone * 32767).astype("<i2").tobytes())
    (folder / "captions.csv").write_text("file,caption\na.wav,1 2 3\nb.wav,42\n")
    result = train(tiny_config(steps=2, checkpoint_every=2), tmp_path / "run",
                   HashingTextEncoder(TEXT_DIM), data_folder=folder)
    assert result.finished
    assert not (result.model / "vocabulary.pt").exists()
    assert TextToMusic.from_pretrained(result.model).vocabulary is None


def test_crops_train_on_windows_whose_beat_clock_moves_with_them(tmp_path, monkeypatch):
    from audio_gen.rhythm import beat_grid
    from audio_gen.unet import UNet

    seen = []
    forward = UNet.forward

    def spy(self, x, t, text, pooled, text_mask=None, beat=None, key=None):
        if self.training:  # the training steps, not the sampling below
            seen.append((x.shape, beat.clone()))
        return forward(self, x, t, text, pooled, text_mask, beat)

    monkeypatch.setattr(UNet, "forward", spy)
    cfg = tiny_config(steps=4, crop_seconds=0.25)
    assert cfg.crop_frames == 16 < cfg.frames == 32
    result = train(cfg, tmp_path / "run", HashingTextEncoder(TEXT_DIM))
    assert result.finished and all(shape[-1] == cfg.crop_frames for shape, _ in seen)
    # Each window's clock is the whole clip's clock from the window's first frame on.
    pool = torch.load(tmp_path / "run" / "pool.pt", weights_only=False)
    frame_rate = cfg.codec.sample_rate / cfg.codec.hop_length
    whole = beat_grid(pool["bpm"], pool["first_beat"], cfg.frames, frame_rate)
    windows = {(i, s): whole[i, :, s:s + cfg.crop_frames]
               for i in range(len(pool["bpm"])) for s in range(cfg.frames - cfg.crop_frames + 1)}
    moved = 0
    for _, beat in seen:
        for clock in beat:
            if not clock.any():
                continue  # a clip without a beat
            starts = [s for (_, s), w in windows.items() if torch.allclose(w, clock, atol=1e-4)]
            assert starts, "a window's clock is no window of any clip's clock"
            moved += 0 not in starts
    assert moved > 0  # not every window starts at the clip's start
    # Trained on windows, the model still makes whole clips.
    clip = TextToMusic.from_pretrained(result.model)("a slow bass line", seconds=0.5, steps=2)
    assert clip.audio.shape[-1] >= 0.5 * cfg.codec.sample_rate * 0.9


def test_crop_seconds_is_checked():
    with pytest.raises(ValueError, match="crop_seconds must be between 0"):
        TrainConfig.from_dict({"seconds": 4.0, "crop_seconds": 5.0})
    with pytest.raises(ValueError, match="position_embedding"):
        TrainConfig.from_dict({"crop_seconds": 2.0, "unet": {"position_embedding": True}})
    assert TrainConfig.from_dict({"crop_seconds": 2.0}).crop_frames * 2 == TrainConfig().frames
    assert TrainConfig().crop_frames == TrainConfig().frames


def test_a_run_folder_refuses_a_changed_recipe(tmp_path):
    train(tiny_config(steps=1), tmp_path / "run", HashingTextEncoder(TEXT_DIM))
    with pytest.raises(ValueError, match=r"different settings \(batch_size\)"):
        train(tiny_config(steps=1, batch_size=2), tmp_path / "run", HashingTextEncoder(TEXT_DIM))


def test_a_run_older_than_a_setting_resumes_only_as_it_trained(tmp_path):
    encoder = HashingTextEncoder(TEXT_DIM)
    before = tiny_config(steps=2, low_band_weight=1.0)  # how runs trained before the setting
    train(before, tmp_path / "run", encoder, stop_at=1)
    path = tmp_path / "run" / "config.json"
    saved = json.loads(path.read_text())
    del saved["low_band_weight"], saved["low_band_hz"]  # as a run folder of an older version
    path.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"different settings \(low_band_weight\)"):
        train(tiny_config(steps=2), tmp_path / "run", encoder)  # today's default: 3x
    assert train(before, tmp_path / "run", encoder).finished


def test_a_run_older_than_the_concept_settings_resumes(tmp_path):
    encoder = HashingTextEncoder(TEXT_DIM)
    cfg = tiny_config(steps=2)
    train(cfg, tmp_path / "run", encoder, stop_at=1)
    path = tmp_path / "run" / "config.json"
    saved = json.loads(path.read_text())
    del saved["concept_vectors"], saved["unet"]["concepts"], saved["unet"]["concept_slots"]
    path.write_text(json.dumps(saved))  # as a run folder started before concept vectors
    assert train(cfg, tmp_path / "run", encoder).finished
    with pytest.raises(ValueError, match=r"different settings \(concept_vectors\)"):
        train(tiny_config(steps=2, concept_vectors=True), tmp_path / "run", encoder)


def test_low_band_weight_weighs_the_bands_below_its_frequency():
    cfg = TrainConfig(low_band_weight=3.0, low_band_hz=600.0)
    weights = cfg.band_weights()[:, 0]
    centres = cfg.codec.band_centres_hz()
    assert weights.shape == (cfg.codec.n_mels,) and weights.mean() == pytest.approx(1.0)
    low = centres < 600.0
    assert 20 < int(low.sum()) < 40 and bool(low[:int(low.sum())].all())  # the bottom rows
    assert torch.allclose(weights[low] / weights[~low][0], torch.tensor(3.0))
    even = TrainConfig(low_band_weight=1.0).band_weights()
    assert torch.equal(even, torch.ones(cfg.codec.n_mels, 1))
    with pytest.raises(ValueError, match="low_band_weight must be > 0"):
        TrainConfig.from_dict({"low_band_weight": 0})


def test_lead_swap_is_checked_and_only_for_the_soundfont_source():
    assert TrainConfig.from_dict({"data_source": "soundfont", "lead_swap": 0.35}).lead_swap == 0.35
    with pytest.raises(ValueError, match=r"lead_swap must be in \[0, 1\], got 2"):
        TrainConfig.from_dict({"data_source": "soundfont", "lead_swap": 2})
    with pytest.raises(ValueError, match="lead_swap applies to the soundfont's arrangements"):
        TrainConfig.from_dict({"lead_swap": 0.35})
    with pytest.raises(ValueError, match="accompaniment_db applies to the soundfont's"):
        TrainConfig.from_dict({"accompaniment_db": -6.0})
    with pytest.raises(ValueError, match=r"lead_only_captions must be in \[0, 1\], got 1.5"):
        TrainConfig.from_dict({"data_source": "soundfont", "lead_only_captions": 1.5})
    with pytest.raises(ValueError, match="lead_only_captions applies to the soundfont's"):
        TrainConfig.from_dict({"lead_only_captions": 0.5})


@pytest.mark.parametrize("config", sorted(
    (Path(__file__).parents[2] / "bench" / "audio_configs").glob("*.toml")), ids=lambda p: p.stem)
def test_the_benchs_training_configs_are_valid(config):
    """The recipe's and the recorded experiments' settings still make a TrainConfig, so that
    each can be rerun as bench/README.md says (none of them shortened: a whole recipe, or a
    longer one; a fine-tune is shorter, and starts from a model the repository ships)."""
    cfg = TrainConfig.from_dict(tomllib.loads(config.read_text()))
    if cfg.init_from:
        root = Path(__file__).parents[2]
        assert (root / cfg.init_from / INDEX).is_file()
    else:
        assert cfg.steps >= TrainConfig().steps


def test_band_centres_are_the_peaks_of_torchaudios_filter_bank():
    import torchaudio.functional as AF

    codec = tiny_codec_config()
    bank = AF.melscale_fbanks(codec.n_fft // 2 + 1, codec.f_min, codec.f_max, codec.n_mels,
                              codec.sample_rate)  # (freqs, n_mels)
    freqs = torch.linspace(0, codec.sample_rate / 2, codec.n_fft // 2 + 1)
    peaks = freqs[bank.argmax(dim=0)]
    bin_width = float(freqs[1])
    assert torch.all((codec.band_centres_hz() - peaks).abs() <= bin_width)


def test_config_checks_and_learning_rate_schedule():
    with pytest.raises(ValueError, match=r"unknown training setting\(s\): lr"):
        TrainConfig.from_dict({"lr": 1.0})
    cfg = TrainConfig.from_dict({"steps": 100, "warmup_steps": 10, "learning_rate": 1.0,
                                 "min_lr_ratio": 0.1, "unet": {"channels": [64, 128, 192]}})
    assert learning_rate(cfg, 0) == pytest.approx(0.1)
    assert learning_rate(cfg, 9) == pytest.approx(1.0)
    assert learning_rate(cfg, 55) == pytest.approx(0.55)  # half-way down the cosine
    assert learning_rate(cfg, 100) == pytest.approx(0.1)
    assert cfg.frames == 256  # 4 s at hop 256 = 250 frames, rounded up to a multiple of 16


def test_concept_vectors_join_the_text_in_training_and_generation(tmp_path, monkeypatch):
    from audio_gen.synth import vocabulary
    from audio_gen.unet import UNet

    seen = []
    forward = UNet.forward

    def spy(self, x, t, text, pooled, text_mask=None, beat=None, key=None):
        seen.append(text_mask.sum(1))
        return forward(self, x, t, text, pooled, text_mask, beat)

    monkeypatch.setattr(UNet, "forward", spy)
    cfg = tiny_config(steps=3, concept_vectors=True)
    encoder = HashingTextEncoder(TEXT_DIM)
    result = train(cfg, tmp_path / "run", encoder)
    assert result.finished and (tmp_path / "run" / "concepts.pt").is_file()
    pool = torch.load(tmp_path / "run" / "pool.pt", weights_only=False)
    ids = torch.load(tmp_path / "run" / "concepts.pt", weights_only=False)["ids"]
    assert ids.shape == (len(pool["captions"]), cfg.unet.concept_slots)
    assert not ids[0].any() and bool((ids[1:] > 0).any(1).all())  # the empty prompt has none
    # Training saw each caption's tokens and its concepts: more than the captions' tokens.
    trained_tokens = torch.cat(seen)
    assert int(trained_tokens.max()) > int(pool["mask"].sum(1).max())
    # The model knows its concepts and reads them from a prompt as training read captions.
    pipe = TextToMusic.from_pretrained(result.model, text_encoder=encoder)
    assert pipe.unet.cfg.concepts == sorted(vocabulary())
    embeds = pipe.encode_prompt("a slow piano melody")
    plain = encoder.encode(["", "a slow piano melody"])
    assert embeds.mask.sum(1).tolist() == [plain.mask[0].sum(), plain.mask[1].sum() + 3]
    # A concept's vector steers the clip; one the prompt does not name does not.
    clip = pipe("a slow piano melody", seconds=0.5, steps=2, normalise_loudness=False)
    piano = 1 + pipe.unet.cfg.concepts.index("instrument:piano")
    other = 1 + pipe.unet.cfg.concepts.index("tempo:fast")
    with torch.no_grad():
        pipe.unet.concept_tokens.weight[other] += 5.0
        pipe.unet.concept_pooled.weight[other] += 5.0
    same = pipe("a slow piano melody", seconds=0.5, steps=2, normalise_loudness=False)
    assert np.array_equal(clip.audio, same.audio)
    with torch.no_grad():
        pipe.unet.concept_tokens.weight[piano] += 5.0
        pipe.unet.concept_pooled.weight[piano] += 5.0
    changed = pipe("a slow piano melody", seconds=0.5, steps=2, normalise_loudness=False)
    assert not np.allclose(clip.audio, changed.audio)
    # Mixing two prompts mixes their concepts too: each end is its prompt alone (on one
    # clock: a plain prompt's tempo word also sets its clock, a mix's does not).
    kw = {"seconds": 0.5, "steps": 2, "normalise_loudness": False, "bpm": 100.0}
    ends = [pipe.interpolate("a slow piano melody", "a fast bass line", w, **kw)
            for w in (0.0, 1.0)]
    alone = [pipe(text, **kw) for text in ("a slow piano melody", "a fast bass line")]
    for mixed, single in zip(ends, alone, strict=True):
        assert np.allclose(mixed.audio, single.audio, atol=1e-4)


def test_concept_vectors_are_filled_from_the_vocabulary_not_given():
    with pytest.raises(ValueError, match=r"leave unet\.concepts out"):
        TrainConfig.from_dict({"concept_vectors": True, "unet": {"concepts": ["genre:jazz"]}})
