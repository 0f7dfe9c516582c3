"""The key grid: keys laid out over the mel bands, learnt in training and asked for by prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_gen.codec import CodecConfig
from audio_gen.pipeline import TextToMusic
from audio_gen.text_encoder import HashingTextEncoder
from audio_gen.tonality import KeyGrid, stated_key
from audio_gen.train import TrainConfig, _start_from, train
from audio_gen.understanding import Match, PromptReport
from audio_gen.unet import UNet

from .conftest import TEXT_DIM, tiny_unet_config
from .test_render import needs_soundfont
from .test_train import tiny_config

CODEC = CodecConfig(sample_rate=24_000, n_fft=1536, hop_length=384, f_max=12_000.0)


def band_of(hz: float) -> int:
    return int((CODEC.band_centres_hz() - hz).abs().argmin())


def test_the_grid_marks_the_rows_of_the_keys_notes():
    grid = KeyGrid(CODEC)
    c_major, a_minor, c_minor, none = grid(torch.tensor([0.0, 9.0, 0.0, float("nan")]),
                                           torch.tensor([0.0, 1.0, 1.0, 0.0]))
    # A relative major and minor share their scale, not their tonic chord or tonic.
    assert torch.allclose(c_major[0], a_minor[0])
    assert not torch.allclose(c_major[1], a_minor[1])
    assert not torch.allclose(c_major[2], a_minor[2])
    assert not none.any()  # an unknown key is no key
    # Where the bands resolve semitones: C6 is C major's tonic, C#6 in no channel of it; E6 is
    # in C major's tonic triad, Eb6 in C minor's.
    c6, c_sharp6, e6, e_flat6 = (band_of(hz) for hz in (1046.5, 1108.73, 1318.51, 1244.51))
    assert c_major[2, c6] > 1.0 and (c_major[:, c_sharp6] < 0).all()
    assert c_major[1, e6] > 0 > c_minor[1, e6]
    assert c_minor[1, e_flat6] > 0 > c_major[1, e_flat6]


def test_a_prompt_names_its_key():
    assert stated_key("a sad waltz in Bb minor, slow") == (10, "minor")
    assert stated_key("folk song in c# major") == (1, "major")
    assert stated_key("jazz in A-minor") == (9, "minor")
    assert stated_key("music inside a cave") is None


@needs_soundfont
def test_training_learns_keys_and_prompts_ask_for_them(tmp_path, monkeypatch):
    seen = []
    forward = UNet.forward

    def spy(self, x, t, text, pooled, text_mask=None, beat=None, key=None):
        if self.training:
            seen.append(key.clone())
        return forward(self, x, t, text, pooled, text_mask, beat, key)

    monkeypatch.setattr(UNet, "forward", spy)
    unet = tiny_unet_config()
    unet.key_grid = True
    cfg = tiny_config(steps=4, data_source="soundfont", unet=unet, key_drop=0.5)
    result = train(cfg, tmp_path / "run", HashingTextEncoder(TEXT_DIM))
    assert result.finished
    pool = torch.load(tmp_path / "run" / "pool.pt", weights_only=False)
    assert torch.isfinite(pool["tonic"]).all() and set(pool["minor"].tolist()) == {0.0, 1.0}
    # Each clip trained with its own key's grid, or none (key_drop).
    grids = torch.cat(seen)
    present = grids.flatten(1).any(1)
    assert 0 < int(present.sum()) < len(grids)
    table = KeyGrid.of(cfg.codec).table.flatten(0, 1)  # (24, 3, M)
    assert all((table == g).all((1, 2)).any() for g in grids[present])

    pipe = TextToMusic.from_pretrained(result.model)
    assert pipe.unet.cfg.key_grid
    kw = {"seconds": 0.5, "steps": 2, "normalise_loudness": False, "bpm": 100.0}
    assert pipe("a slow piano melody in D minor", **kw).key == "D minor"
    sad = pipe("a sad piano melody", seed=3, **kw)
    assert sad.key is not None and sad.key.endswith(" minor")
    assert pipe("a sad piano melody", seed=3, **kw).key == sad.key  # the seed draws the tonic
    assert pipe("a happy piano melody", **kw).key.endswith(" major")
    rainy = PromptReport("piano for a rainy day", [Match("rainy", "purpose:sad",
                                                         "for a rainy day", 0.72)])
    assert pipe.key_for(rainy.text, rainy, seed=0)[1] == "minor"  # as the real encoder reads it
    plain = pipe("a piano melody", **kw)
    assert plain.key is None  # no mode asked for: the model's own choice
    # The key steers the clip; a prompt that asks for none is untouched by the key stem.
    with torch.no_grad():
        pipe.unet.key_stem.weight.add_(0.5)
    assert not np.allclose(pipe("a sad piano melody", seed=3, **kw).audio, sad.audio)
    assert np.array_equal(pipe("a piano melody", **kw).audio, plain.audio)


def test_a_model_without_a_key_grid_is_fine_tuned_with_one(tmp_path):
    cfg = tiny_config(steps=2)
    source = train(cfg, tmp_path / "source", HashingTextEncoder(TEXT_DIM))
    unet_cfg = tiny_unet_config()
    unet_cfg.key_grid = True
    tuned = TrainConfig(**{**cfg.__dict__, "unet": unet_cfg, "init_from": str(source.model)})
    torch.manual_seed(1)
    unet = UNet(unet_cfg)
    _start_from(unet, tuned)
    before = TextToMusic.from_pretrained(source.model).unet.state_dict()
    after = unet.state_dict()
    assert set(after) - set(before) == {"key_stem.weight"}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not after["key_stem.weight"].any()  # a new key stem starts as no change
    other = TrainConfig(**{**tuned.__dict__, "codec": CodecConfig(n_mels=32, f_max=7000.0)})
    with pytest.raises(ValueError, match="another codec"):
        _start_from(UNet(unet_cfg), other)
