"""Stems: training clips of a lead alone and of a band alone, and prompts made as the two."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audio_gen.arrange import CHANNELS, sample_arrangement
from audio_gen.captions import (
    BASS_LINE_WORDS,
    DRUM_WORDS,
    GENRES,
    INSTRUMENT_WORDS,
    WORDS,
    describe,
)
from audio_gen.pipeline import TextToMusic
from audio_gen.render import only
from audio_gen.stems import StemPrompts, borrows_lead, mix_images, split_prompt
from audio_gen.text_encoder import HashingTextEncoder
from audio_gen.train import TrainConfig, train
from audio_gen.understanding import Match, PromptReport
from audio_gen.unet import UNet

from .conftest import TEXT_DIM, tiny_unet_config
from .test_render import needs_soundfont
from .test_train import tiny_config


def test_a_part_keeps_its_own_notes():
    from audio_gen.arrange import arrange

    rng = np.random.default_rng(0)
    events = arrange(sample_arrangement(rng, fixed={"style": "jazz"}), 4.0, rng)
    melody = CHANNELS["melody"]
    lead, backing = only(events, "lead"), only(events, "backing")
    assert lead and all(e.channel == melody for e in lead)
    assert not [e for e in backing if e.channel == melody and e.kind in ("on", "off")]
    notes = [e for e in events if e.kind in ("on", "off")]
    assert len([e for e in lead + backing if e.kind in ("on", "off")]) == len(notes)
    with pytest.raises(ValueError, match="part must be one of"):
        only(events, "drums")


def test_a_backing_is_captioned_with_its_genre_and_band_never_its_lead():
    rng = np.random.default_rng(1)
    backing_words = WORDS["form:backing"]
    for _ in range(200):
        spec = sample_arrangement(rng)
        text, stated = describe(spec, rng, part="backing")
        assert any(w in text for w in backing_words), text
        assert any(g in text for g in GENRES[spec.style]), text
        assert "instrument" not in stated and "genre" in stated
        if spec.lead not in spec.instruments[1:]:  # a lead that also plays in the band
            lead_words = set(INSTRUMENT_WORDS[spec.lead]) - {
                w for i in spec.instruments[1:] for w in INSTRUMENT_WORDS[i]}
            # What the caption may say: the genre ("piano ballad") and the band ("synth pad").
            allowed = [*GENRES[spec.style], *DRUM_WORDS.get(spec.style, ()),
                       *(w for words in BASS_LINE_WORDS.values() for w in words),
                       *(w for i in spec.instruments[1:] for w in INSTRUMENT_WORDS[i])]
            words = f" {text} "
            for phrase in sorted(allowed, key=len, reverse=True):
                words = words.replace(phrase, " ")
            assert not [w for w in lead_words if f" {w} " in words], text
        text, stated = describe(spec, rng, part="lead")
        for phrase in sorted(INSTRUMENT_WORDS[spec.lead], key=len, reverse=True):
            text = text.replace(phrase, " ")  # "rock organ" names no genre
        assert not [g for g in GENRES[spec.style] if g in text], text
        assert "genre" not in stated and "instrument" in stated


def report(text: str, *matches: tuple[str, str]) -> PromptReport:
    return PromptReport(text, [Match(phrase, concept, phrase, 1.0) for phrase, concept in matches])


def test_a_prompt_splits_into_its_lead_and_its_band():
    parts = split_prompt(report("fast metal with a violin lead and heavy guitar",
                                ("fast", "tempo:fast"), ("metal", "genre:metal"),
                                ("violin", "instrument:violin"), ("lead", "form:lead"),
                                ("heavy guitar", "instrument:distorted guitar")))
    assert parts.lead == "violin solo, fast"
    assert parts.backing == "metal backing track with heavy guitar, fast"
    # Drums are no lead; the register goes with the lead; mood words go with both.
    parts = split_prompt(report("sad deep cello and drums, lo-fi", ("sad", "mood:sad"),
                                ("deep", "register:low"), ("drums", "instrument:drums"),
                                ("cello", "instrument:cello"), ("lo-fi", "genre:lo-fi hip hop")))
    assert parts.lead == "deep cello solo, sad"
    assert parts.backing == "lo-fi backing track with drums, sad"
    # Each phrase as the captions say it: the nearest known phrase, not the user's words.
    loose = PromptReport("garage rock with crunchy guitars, rainy", [
        Match("rock", "genre:rock", "rock", 1.0),
        Match("crunchy", "instrument:overdriven guitar", "crunchy guitar", 0.8),
        Match("rainy", "purpose:sad", "for a rainy day", 0.72)])
    assert split_prompt(loose) == StemPrompts("crunchy guitar solo, for a rainy day",
                                              "rock backing track, for a rainy day")
    # Without a genre, or without a lead, a prompt is made whole.
    assert split_prompt(report("a violin solo", ("violin", "instrument:violin"))) is None
    assert split_prompt(report("jazz with drums", ("jazz", "genre:jazz"),
                               ("drums", "instrument:drums"))) is None


def test_a_lead_is_borrowed_when_its_genre_never_played_it_in_training():
    def asks(genre: str, lead: str) -> bool:
        return borrows_lead(report(f"{genre} with a {lead} solo", (genre, f"genre:{genre}"),
                                   (lead, f"instrument:{lead}")))

    assert asks("metal", "violin")  # another genre's lead
    assert not asks("folk", "flute")  # one of folk's own
    assert asks("folk", "violin")  # folk's, but a pair training never drew (HELD_OUT)
    assert not borrows_lead(report("a violin solo", ("violin", "instrument:violin")))


def test_stems_need_the_key_grid_and_the_soundfont():
    with pytest.raises(ValueError, match="key_grid"):
        TrainConfig.from_dict({"data_source": "soundfont", "stems": 0.5})
    with pytest.raises(ValueError, match="soundfont"):
        TrainConfig.from_dict({"stems": 0.5, "unet": {"key_grid": True}})


@pytest.fixture(scope="module")
def stems_model(tmp_path_factory):
    """A tiny model trained with stems: (run folder, published model folder)."""
    unet = tiny_unet_config()
    unet.key_grid = True
    cfg = tiny_config(steps=2, data_source="soundfont", unet=unet, stems=0.5, pool_size=16)
    run = tmp_path_factory.mktemp("stems") / "run"
    return run, train(cfg, run, HashingTextEncoder(TEXT_DIM)).model


@needs_soundfont
def test_a_model_trained_with_stems_makes_a_lead_and_a_band_in_one_key(stems_model,
                                                                       monkeypatch):
    run, model = stems_model
    pool = torch.load(run / "pool.pt", weights_only=False)
    backing = [c for c in pool["captions"] if any(w in c for w in WORDS["form:backing"])]
    assert 0 < len(backing) < len(pool["captions"]) - 1

    seen = []
    forward = UNet.forward

    def spy(self, x, t, text, pooled, text_mask=None, beat=None, key=None):
        seen.append(x.shape[0])
        return forward(self, x, t, text, pooled, text_mask, beat, key)

    monkeypatch.setattr(UNet, "forward", spy)
    pipe = TextToMusic.from_pretrained(model)
    assert pipe.stems
    kw = {"seconds": 0.5, "steps": 2, "normalise_loudness": False, "bpm": 100.0}
    out = pipe("folk with a violin solo", **kw)
    assert out.stems.lead == "violin solo" and out.stems.backing == "folk backing track"
    assert out.key is not None  # both parts in one key, drawn when the prompt names none
    assert seen == [4, 4]  # two clips, each guided, in one batch
    assert np.isfinite(out.audio).all() and len(out.audio) == round(0.5 * pipe.sample_rate)
    whole = pipe("folk with a violin solo", stems=False, **kw)
    assert whole.stems is None and seen[-1] == 2
    assert pipe("a violin solo", **kw).stems is None  # no genre: made whole


@needs_soundfont
def test_generate_says_how_a_clip_was_made(stems_model, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    _, model = stems_model
    base = ["generate", "folk with a violin solo", "--out", str(tmp_path / "x.wav"),
            "--seconds", "0.5", "--steps", "2", "--model", str(model), "--json"]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["stems"] == {"lead": "violin solo", "backing": "folk backing track"}
    assert 'made as two parts: "violin solo" over "folk backing track"' in result.stderr
    assert facts["key"] and f"in {facts['key']}" in result.stderr
    result = CliRunner().invoke(app, [*base, "--no-stems"])
    assert result.exit_code == 0 and json.loads(result.stdout)["stems"] is None


def test_two_equally_loud_parts_mix_to_their_level():
    from audio_gen.codec import MelCodec

    from .conftest import tiny_codec_config

    codec = MelCodec(tiny_codec_config())
    image = torch.rand(32, 20) * 1.6 - 0.9
    assert torch.allclose(mix_images(image, image, codec), image, atol=1e-5)
    louder = mix_images(image, image, codec, lead_db=6.0)
    assert torch.allclose(louder, image, atol=1e-5)  # the same sound, whatever its share
    quiet = torch.full_like(image, -1.0)  # silence, at the image's floor
    mixed = mix_images(image, quiet, codec)
    power = codec.denormalise(image)
    assert torch.allclose(codec.denormalise(mixed), power / 2 + codec.denormalise(quiet) / 2,
                          rtol=1e-4)


def test_captions_of_whole_clips_draw_as_they_did_before_stems():
    """The recipe reproduces the shipped checkpoint bit for bit only if its pool's captions
    (and the evaluation splits' renders after them) draw the same random numbers as ever: a
    backing's words must be drawn for a backing only."""
    import hashlib

    from audio_gen.captions import caption

    rng = np.random.default_rng(5)
    texts = []
    for _ in range(300):
        spec = sample_arrangement(rng, lead_swap=0.35)
        texts += [describe(spec, rng).text, caption(spec, rng, name_genre=False)]
    # The md5 of the same 600 captions written by the code before stems existed (ff11892).
    assert hashlib.md5("\n".join(texts).encode()).hexdigest() == "f87498f0850999402b683aa937ae71ff"


@needs_soundfont
def test_a_model_folder_with_a_parts_model_hands_it_the_borrowed_leads(stems_model,
                                                                        tmp_path):
    """The shipped layout: the whole-clip model, and its parts model in ``parts/``."""
    import shutil

    from typer.testing import CliRunner

    from cli.main import app

    whole = train(tiny_config(steps=2, data_source="soundfont", pool_size=8), tmp_path / "run",
                  HashingTextEncoder(TEXT_DIM)).model
    shutil.copytree(stems_model[1], whole / "parts")
    pipe = TextToMusic.from_pretrained(whole)
    assert not pipe.stems and pipe.parts_model is not None and pipe.parts_model.stems

    def made(prompt: str, *flags: str) -> dict:
        result = CliRunner().invoke(app, [
            "generate", prompt, "--out", str(tmp_path / "x.wav"), "--seconds", "0.5",
            "--steps", "2", "--model", str(whole), "--json", *flags])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    assert made("metal with a violin solo")["stems"] == {"lead": "violin solo",
                                                         "backing": "metal backing track"}
    # The parts model reads the prompt with the phrase vectors stored with it (encoding its
    # whole vocabulary again cost about a second a process): only the prompt is encoded.
    encoded: list[str] = []
    encode = pipe.text_encoder.encode
    pipe.text_encoder.encode = lambda texts: encoded.extend(texts) or encode(texts)
    assert pipe("metal with a violin solo", seconds=0.5, steps=2).stems is not None
    vocabulary = pipe.parts_model.vocabulary
    assert 0 < len(encoded) < len(vocabulary.phrases), len(encoded)
    assert torch.allclose(vocabulary.vectors, vocabulary._embed(vocabulary.phrases), atol=1e-5)
    assert made("folk with a violin solo")["stems"] is not None  # a held-out pair
    assert made("folk with a flute solo")["stems"] is None  # folk's own: the whole model
    assert made("metal with a violin solo", "--no-stems")["stems"] is None
    asked = pipe.understand("metal with a violin solo")
    assert pipe.parts_for(asked, 3.0) is not None  # what the API budgets as two images
    assert pipe.parts_for(pipe.understand("folk with a flute solo"), 3.0) is None
    with pytest.raises(ValueError, match="trained with stems"):
        TextToMusic(pipe.unet, pipe.scheduler, pipe.codec, pipe.text_encoder,
                    parts_model=pipe)  # a whole-clip model cannot make parts
