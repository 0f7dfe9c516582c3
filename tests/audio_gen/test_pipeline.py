"""The pipeline end to end on a tiny random model: shapes, determinism, guidance, variations,
interpolation and input checking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_gen.pipeline import validate_request
from audio_gen.text_encoder import HashingTextEncoder, TextEmbedding
from audio_gen.unet import (
    CrossAttentionBlock,
    TransformerBlock,
    UNet,
    UNetConfig,
    grid_position_embedding,
)


def test_generates_audio_of_the_requested_length(tiny_pipeline):
    out = tiny_pipeline("a slow piano melody", seconds=1.3, steps=3, seed=0)
    assert out.audio.dtype == np.float32 and out.audio.shape == (20_800,)
    assert out.sample_rate == 16_000 and out.seconds == pytest.approx(1.3)
    assert out.spectrogram.shape == (32, 82)  # ceil(20800 / 256) frames of 32 mel bins
    assert np.abs(out.audio).max() <= 1.0 and np.abs(out.audio).max() > 0
    assert set(out.timings) == {"encode", "denoise", "decode", "total"}


def test_same_seed_same_clip_other_seed_other_clip(tiny_pipeline):
    a = tiny_pipeline("fast drums", seconds=0.5, steps=2, seed=7)
    b = tiny_pipeline("fast drums", seconds=0.5, steps=2, seed=7)
    c = tiny_pipeline("fast drums", seconds=0.5, steps=2, seed=8)
    assert np.array_equal(a.audio, b.audio)
    assert not np.array_equal(a.audio, c.audio)


def test_text_and_guidance_change_the_output(tiny_pipeline):
    kw = {"seconds": 0.5, "steps": 2, "seed": 1}
    piano = tiny_pipeline("slow piano", guidance=3.0, **kw).spectrogram
    drums = tiny_pipeline("fast drums", guidance=3.0, **kw).spectrogram
    assert not torch.equal(piano, drums)
    # Guidance 0 is the unconditional model: the text no longer matters.
    assert torch.equal(tiny_pipeline("slow piano", guidance=0.0, **kw).spectrogram,
                       tiny_pipeline("fast drums", guidance=0.0, **kw).spectrogram)
    negative = tiny_pipeline("slow piano", guidance=3.0, negative_text="drums", **kw)
    assert not torch.equal(negative.spectrogram, piano)


def test_the_beat_clock_follows_the_prompt_or_the_given_bpm(tiny_pipeline):
    kw = {"seconds": 1.0, "steps": 2, "seed": 1}
    read = tiny_pipeline("slow piano", **kw)
    assert 30.0 <= read.bpm <= 300.0  # read from the prompt by the (untrained) tempo head
    slow = tiny_pipeline("slow piano", bpm=60.0, **kw)
    fast = tiny_pipeline("slow piano", bpm=150.0, **kw)
    assert (slow.bpm, fast.bpm) == (60.0, 150.0)
    assert not torch.equal(slow.spectrogram, fast.spectrogram)  # the denoiser sees the clock
    # At guidance 0 the text plays no part, in the clock's tempo either.
    assert tiny_pipeline("slow piano", guidance=0.0, **kw).bpm == \
        tiny_pipeline("fast drums", guidance=0.0, **kw).bpm
    with pytest.raises(ValueError, match="first_beat must be a time >= 0"):
        tiny_pipeline("slow piano", first_beat=-1.0, **kw)


def test_a_variation_keeps_the_beat_of_its_clip(tiny_pipeline):
    from audio_gen.synth import render, sample_spec

    rng = np.random.default_rng(4)
    spec = sample_spec(rng, held_out="any", fixed={"instrument": "guitar", "tempo": "fast",
                                                    "density": "busy"})
    clip = render(spec, 3.0, 16_000, rng)
    out = tiny_pipeline.variation(clip, "fast guitar", strength=0.5, steps=2, seed=0)
    assert out.bpm == pytest.approx(spec.bpm, rel=0.04)
    assert tiny_pipeline.variation(clip, "fast guitar", steps=2, bpm=100.0).bpm == 100.0


def test_variation_stays_closer_to_the_clip_at_low_strength(tiny_pipeline):
    source = tiny_pipeline("slow piano", seconds=0.5, steps=4, seed=3)
    image = tiny_pipeline.encode_audio(source.audio, source.spectrogram.shape[-1] + 0)[0, 0]
    near = tiny_pipeline.variation(source.audio, "slow piano", strength=0.25, steps=4, seed=5)
    far = tiny_pipeline.variation(source.audio, "slow piano", strength=1.0, steps=4, seed=5)
    assert near.audio.shape == source.audio.shape
    distance = [(o.spectrogram - image[:, : o.spectrogram.shape[-1]]).abs().mean().item()
                for o in (near, far)]
    assert distance[0] < distance[1]


def test_interpolation_ends_are_the_prompts(tiny_pipeline):
    kw = {"seconds": 0.5, "steps": 2, "seed": 2}
    a = tiny_pipeline("slow piano", **kw).spectrogram
    b = tiny_pipeline("fast bright drums", **kw).spectrogram
    assert torch.allclose(tiny_pipeline.interpolate("slow piano", "fast bright drums", 0.0,
                                                    **kw).spectrogram, a, atol=1e-5)
    assert torch.allclose(tiny_pipeline.interpolate("slow piano", "fast bright drums", 1.0,
                                                    **kw).spectrogram, b, atol=1e-5)
    middle = tiny_pipeline.interpolate("slow piano", "fast bright drums", 0.5, **kw).spectrogram
    assert not torch.allclose(middle, a) and not torch.allclose(middle, b)


def test_embedding_mix_weights_the_two_prompts():
    enc = HashingTextEncoder(8)
    a, b = enc.encode(["one"]), enc.encode(["one two three"])
    mixed = a.lerp(b, 0.25)
    assert mixed.tokens.shape == (1, 6, 8) and mixed.mask.all()
    assert torch.allclose(mixed.pooled, 0.75 * a.pooled + 0.25 * b.pooled)
    assert torch.allclose(mixed.attention_mask().exp(),
                          torch.tensor([[0.75, 0.75, 0.25, 0.25, 0.25, 0.25]]))
    assert torch.isinf(a.lerp(b, 0.0).attention_mask()[0, 2:]).all()  # b's tokens switched off
    both = TextEmbedding.cat([a, b])
    assert both.mask.tolist() == [[True, True, False, False], [True] * 4]


def test_encoder_cache_returns_the_same_embedding():
    enc = HashingTextEncoder(8, cache_size=2)
    first = enc.encode(["a b", "c"])
    assert torch.equal(enc.encode(["c", "a b"]).pooled, first.pooled.flip(0))
    enc.encode(["x", "y", "z"])  # evicts the old prompts; they are recomputed identically
    assert torch.equal(enc.encode(["a b"]).tokens, first.tokens[:1, :3])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"text": "  "}, "text prompt is empty"),
    ({"seconds": 0}, "seconds must be > 0"),
    ({"seconds": -1.0}, "seconds must be > 0"),
    ({"seconds": 31.0}, "at most 30"),
    ({"seconds": float("nan")}, "seconds must be > 0"),
    ({"steps": 0}, "steps must be an integer from 1 to 1000"),
    ({"steps": 1001}, "steps must be an integer from 1 to 1000"),
    ({"steps": 2.5}, "steps must be an integer"),
    ({"guidance": -1.0}, "guidance must be in"),
    ({"bpm": 10.0}, "bpm must be from 30 to 300"),
    ({"bpm": float("nan")}, "bpm must be from 30 to 300"),
])
def test_bad_input_gives_a_clear_error(tiny_pipeline, kwargs, message):
    args = {"text": "a slow piano melody", "seconds": 1.0, "steps": 2, "guidance": 3.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        validate_request(**args)
    with pytest.raises(ValueError, match=message):
        tiny_pipeline(**args)


def test_mismatched_parts_are_refused(tiny_unet):
    from audio_gen.codec import CodecConfig, MelCodec
    from audio_gen.pipeline import TextToMusic
    from audio_gen.schedulers import DDIMScheduler

    with pytest.raises(ValueError, match="gives 8-d vectors"):
        TextToMusic(tiny_unet, DDIMScheduler(), MelCodec(CodecConfig(n_mels=32)),
                    HashingTextEncoder(8))
    with pytest.raises(ValueError, match="mel bins"):
        TextToMusic(tiny_unet, DDIMScheduler(), MelCodec(CodecConfig(n_mels=64)),
                    HashingTextEncoder(16))


def test_unet_shapes_and_config_checks():
    cfg = UNetConfig(n_mels=32, patch=[4, 2], channels=[16, 32], attention=[False, True],
                     heads=2, groups=8, text_dim=8, emb_dim=16)
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    unet = UNet(cfg)
    x = torch.randn(3, 1, 32, 12)
    out = unet(x, torch.tensor([0, 500, 999]), torch.randn(3, 5, 8), torch.randn(3, 8),
               torch.ones(3, 5, dtype=torch.bool))
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(out))  # zero-initialised output layer
    with pytest.raises(ValueError, match="multiple of 4"):
        unet(torch.randn(1, 1, 32, 10), torch.tensor([1]), torch.randn(1, 5, 8), torch.randn(1, 8))
    with pytest.raises(ValueError, match="divisible"):
        UNetConfig(n_mels=36, patch=[4, 4], channels=[16, 32], attention=[False, True])
    with pytest.raises(ValueError, match="one per level"):
        UNetConfig(channels=[16, 32], attention=[True])
    with pytest.raises(ValueError, match="unknown U-Net setting"):
        UNetConfig.from_dict({"depth": 3})


def test_position_code_lets_attention_tell_cells_apart():
    # One frequency bank at every level: a cell 8 frames in has the same time code at the
    # level with 4-frame cells (column 2) as at the level with 8-frame cells (column 1).
    fine = grid_position_embedding(2, 4, 8, (8, 4)).reshape(2, 4, 8)
    coarse = grid_position_embedding(1, 2, 8, (16, 8)).reshape(1, 2, 8)
    torch.testing.assert_close(fine[0, 2, 4:], coarse[0, 1, 4:])
    assert len({tuple(row.tolist()) for row in fine.reshape(8, 8)}) == 8  # every cell differs

    torch.manual_seed(0)
    block = TransformerBlock(8, 4, heads=2, groups=2)
    for layer in (block.proj1, block.proj2, block.ff[-1]):  # undo the zero init
        torch.nn.init.normal_(layer.weight)
    flat = torch.ones(1, 8, 2, 4)  # every cell alike: without a code, attention sees no order
    text = torch.randn(1, 3, 4)
    without = block(flat, text, None)
    assert torch.allclose(without, without[..., :1, :1].expand_as(without), atol=1e-5)
    placed = block(flat, text, None, grid_position_embedding(2, 4, 8, (8, 4)))
    assert not torch.allclose(placed[..., 0, 0], placed[..., 1, 3], atol=1e-3)


def test_the_position_code_is_an_option_that_older_checkpoints_lack():
    cfg = UNetConfig()
    assert not cfg.position_embedding and UNet(cfg).stem_position is None
    saved = {k: v for k, v in cfg.to_dict().items() if k != "position_embedding"}
    assert UNetConfig.from_dict(saved) == cfg  # saved before the field existed
    assert UNet(UNetConfig(position_embedding=True)).stem_position is not None


def test_fine_levels_can_read_the_prompt_tokens_through_cross_attention():
    cfg = UNetConfig(n_mels=32, patch=[4, 2], channels=[16, 32], attention=[False, True],
                     heads=2, groups=8, text_dim=8, emb_dim=16, cross_attention=[True, False])
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    unet = UNet(cfg)
    fine = [m for level in (unet.down[0], unet.up[-1]) for m in level.attn]
    assert fine and all(isinstance(m, CrossAttentionBlock) for m in fine)
    assert not any(isinstance(m, CrossAttentionBlock) for m in unet.up[0].attn)
    saved = {k: v for k, v in UNetConfig().to_dict().items() if k != "cross_attention"}
    assert UNetConfig.from_dict(saved).cross_attention == []  # older checkpoints: none
    with pytest.raises(ValueError, match="cross_attention has 1 entries"):
        UNetConfig(channels=[16, 32], attention=[False, True], cross_attention=[True])

    torch.manual_seed(0)
    block = fine[0]
    torch.nn.init.normal_(block.proj.weight)  # undo the zero init
    x = torch.randn(1, 16, 4, 6)
    tokens = torch.randn(1, 3, 8)
    mask = torch.tensor([[True, True, False]])
    out = block(x, tokens, mask)
    assert out.shape == x.shape and not torch.allclose(out, x)
    changed = tokens.clone()
    changed[0, 2] += 5.0  # a padded token: masked out, so nothing may change
    torch.testing.assert_close(block(x, changed, mask), out)
    changed[0, 0] += 5.0
    assert not torch.allclose(block(x, changed, mask), out, atol=1e-4)


def test_the_clock_enters_the_stem_beside_the_image_and_can_be_computed_once(tiny_unet):
    from audio_gen.rhythm import beat_grid

    x, t = torch.randn(2, 1, 32, 16), torch.tensor([10, 900])
    text, pooled = torch.randn(2, 3, 16), torch.randn(2, 16)
    clock = beat_grid(torch.tensor([120.0]), torch.tensor([0.05]), 16, 62.5)
    with torch.no_grad():
        direct = tiny_unet(x, t, text, pooled, None, clock)
        cached = tiny_unet(x, t, text, pooled, None, tiny_unet.beat_features(clock))
        # The same as one convolution over the image and the clock stacked as channels.
        stacked = torch.cat([x, clock[:, :, None].expand(2, -1, 32, -1)], dim=1)
        stem = tiny_unet.stem(tiny_unet._fold(stacked))
        image_only = torch.nn.functional.conv2d(
            tiny_unet._fold(x), tiny_unet.stem.weight[:, :16], tiny_unet.stem.bias, padding=1)
        features = tiny_unet.beat_features(clock).features
    torch.testing.assert_close(cached, direct)
    torch.testing.assert_close(image_only + features, stem)


def test_a_model_saved_before_the_beat_clock_loads_without_one(tiny_model_dir):
    import json

    from audio_gen.checkpoint import INDEX, load_model
    from audio_gen.unet import UNetConfig as Config

    assert load_model(tiny_model_dir).unet.cfg.beat_clock
    index = json.loads((tiny_model_dir / INDEX).read_text())
    del index["unet"]["beat_clock"]
    unet = UNet(Config.from_dict({**index["unet"], "beat_clock": False}))
    torch.save(unet.state_dict(), tiny_model_dir / "unet.pt")
    del index["sha256"]
    (tiny_model_dir / INDEX).write_text(json.dumps(index))
    old = load_model(tiny_model_dir).unet
    assert not old.cfg.beat_clock and old.tempo is None
    assert old.stem.in_channels == old.cfg.patch_pixels  # the noisy image alone


def test_a_prompt_that_names_a_tempo_gets_a_clock_inside_it(tiny_unet):
    from audio_gen import captions
    from audio_gen.codec import MelCodec
    from audio_gen.pipeline import TextToMusic
    from audio_gen.schedulers import DDIMScheduler
    from audio_gen.styles import TEMPO_CLASSES

    from .conftest import TEXT_DIM, tiny_codec_config

    def pipeline(**extra) -> TextToMusic:
        return TextToMusic(tiny_unet, DDIMScheduler(), MelCodec(tiny_codec_config()),
                           HashingTextEncoder(TEXT_DIM), vocabulary=captions.vocabulary(),
                           **extra)

    pipe, unclamped = pipeline(tempo_classes=TEMPO_CLASSES), pipeline()
    kw = {"seconds": 0.5, "steps": 1, "seed": 1}
    for word, (low, high) in TEMPO_CLASSES.items():
        clip = pipe(f"a {captions.WORDS[f'tempo:{word}'][0]} piano ballad", **kw)
        assert clip.prompt.asks("tempo") == word
        assert low * (high / low) ** 0.25 - 1e-6 <= clip.bpm <= high * (low / high) ** 0.25 + 1e-6
    assert pipe("a fast piano ballad at 100 BPM", **kw).bpm == 100.0  # the number wins
    assert pipe("a fast piano ballad", bpm=90.0, **kw).bpm == 90.0  # and the given tempo
    assert pipe("a piano ballad", **kw).bpm == unclamped("a piano ballad", **kw).bpm
