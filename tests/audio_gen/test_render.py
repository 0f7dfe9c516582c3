"""The soundfont data source: arrangements, FluidSynth renders and their captions."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from audio_gen.arrange import HELD_OUT, LOUDNESS, arrange, sample_arrangement
from audio_gen.captions import GENRES, INSTRUMENT_WORDS, WORDS, caption, describe, vocabulary
from audio_gen.loudness import integrated_loudness, true_peak
from audio_gen.soundfont import DRUM_CHANNEL, Event, SoundfontUnavailable
from audio_gen.styles import INSTRUMENTS, STYLES

RATE = 22_050

try:
    from audio_gen.render import Renderer, remix

    RENDERER = Renderer(RATE)
except SoundfontUnavailable as error:  # .ci/run installs them; elsewhere say what is missing
    RENDERER, MISSING = None, str(error)
else:
    MISSING = ""
needs_soundfont = pytest.mark.skipif(RENDERER is None, reason=MISSING)


def note(program: int, key: int, channel: int = 0) -> list[Event]:
    bank_program = [Event(0.0, "program", channel, program)]
    return [*bank_program, Event(0.05, "on", channel, key, 100), Event(0.8, "off", channel, key)]


def spectrum_peak_hz(audio: np.ndarray, rate: int) -> float:
    magnitudes = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[magnitudes.argmax()])


@needs_soundfont
@pytest.mark.parametrize("instrument", ["piano", "violin", "alto sax", "distorted guitar",
                                        "sitar", "church organ", "flute", "upright bass"])
def test_a_program_renders_its_note(instrument):
    audio = RENDERER.synth.render(note(INSTRUMENTS[instrument].program, 57), 1.0)
    assert audio.shape == (RATE,) and audio.dtype == np.float32
    level = 20 * np.log10(np.sqrt(np.mean(audio[int(0.1 * RATE):int(0.6 * RATE)] ** 2)))
    assert level > -45, f"{instrument} is near silent ({level:.1f} dBFS)"
    assert np.abs(audio[: int(0.04 * RATE)]).max() < 1e-4  # nothing before the note starts
    # The fundamental (or a harmonic of it) of A3 = 220 Hz leads the spectrum.
    peak = spectrum_peak_hz(audio[int(0.1 * RATE):int(0.6 * RATE)], RATE)
    assert min(abs(peak / 220.0 - k) for k in range(1, 9)) < 0.06, peak


@needs_soundfont
def test_the_drum_kit_renders_kick_low_and_hats_high():
    kick = RENDERER.synth.render(note(0, 36, DRUM_CHANNEL), 0.6)
    hat = RENDERER.synth.render(note(0, 42, DRUM_CHANNEL), 0.6)
    for hit in (kick, hat):
        assert np.sqrt(np.mean(hit**2)) > 1e-3

    def centroid(audio):
        magnitudes = np.abs(np.fft.rfft(audio))
        return float((np.fft.rfftfreq(len(audio), 1 / RATE) * magnitudes).sum()
                     / magnitudes.sum())

    assert 3 * centroid(kick) < centroid(hat), (centroid(kick), centroid(hat))


@needs_soundfont
def test_a_clip_is_seeded_and_renders_at_the_rate_asked():
    from audio_gen.render import make_clip

    first = make_clip(np.random.default_rng(3), RENDERER, 2.0)
    again = make_clip(np.random.default_rng(3), RENDERER, 2.0)
    other = make_clip(np.random.default_rng(4), RENDERER, 2.0)
    assert np.array_equal(first.audio, again.audio) and first.caption == again.caption
    assert first.spec == again.spec and not np.array_equal(first.audio, other.audio)
    assert first.audio.shape == (2 * RATE,)
    wide = Renderer(32_000)
    assert make_clip(np.random.default_rng(3), wide, 1.5).audio.shape == (48_000,)


@needs_soundfont
@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_renders_music_at_its_loudness(style):
    from audio_gen.render import make_clip

    rng = np.random.default_rng(11)
    for loudness in ("quiet", "loud"):
        clip = make_clip(rng, RENDERER, 2.0, held_out="any",
                         fixed={"style": style, "loudness": loudness})
        lufs = integrated_loudness(clip.audio, RATE)
        assert abs(lufs - LOUDNESS[loudness]) < 2.5, (style, loudness, lufs)
        assert true_peak(clip.audio) < 10 ** (-0.9 / 20)  # under -1 dBTP, never full scale


def test_arrangements_keep_the_held_out_pairs_for_evaluation():
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert not sample_arrangement(rng).pairs() & HELD_OUT
    for _ in range(30):
        assert sample_arrangement(rng, held_out="only").pairs() & HELD_OUT
    fixed = sample_arrangement(rng, fixed={"style": "jazz", "tempo": "fast", "mode": "minor"})
    assert (fixed.style, fixed.tempo, fixed.mode, fixed.kit is not None) == (
        "jazz", "fast", "minor", True)
    assert fixed.parts[-1] == ("bass", "upright bass")
    with pytest.raises(ValueError, match="unknown style"):
        sample_arrangement(rng, fixed={"style": "polka"})


def test_jazz_swings_and_walks():
    rng = np.random.default_rng(5)
    spec = sample_arrangement(rng, fixed={"style": "jazz", "tempo": "medium", "bpm": 120.0,
                                          "first_beat": 0.0, "density": "busy"})
    events = arrange(spec, 4.0, rng)
    ride = sorted(e.time for e in events if e.kind == "on" and e.channel == DRUM_CHANNEL
                  and e.a == 51)
    beat = 0.5  # seconds at 120 BPM
    offbeats = [t % beat for t in ride if 0.2 < (t % beat) / beat < 0.9]
    assert offbeats and np.median(offbeats) / beat > 0.6  # swung: later than the straight half
    bass = [e.a for e in events if e.kind == "on" and e.channel == 2]
    assert len(bass) >= 7 and len(set(bass)) >= 4  # a walking line, not one held root


def test_captions_name_the_genre_and_the_instrument():
    rng = np.random.default_rng(2)
    seen = set()
    for _ in range(200):
        spec = sample_arrangement(rng)
        text = caption(spec, rng, drop=0.0)
        seen.add(text)
        assert any(g.lower() in text.lower() for g in GENRES[spec.style]), text
        assert any(w in text for w in INSTRUMENT_WORDS[spec.lead]), text
        assert "  " not in text and not text.endswith((",", " and")), text
    assert len(seen) == 200  # varied wording


def test_captions_state_tempo_mode_and_loudness_whatever_the_template():
    """What a caption states is what its text says: a tempo word or the BPM, a mode or mood
    word, a loudness word for a quiet or loud clip (none for a normal one); and each is left
    out only at the drop rate, not because the template had no slot for it."""
    rng = np.random.default_rng(7)
    said = {"tempo": 0, "mode": 0, "loudness": 0}
    loud_clips = 0
    for _ in range(400):
        spec = sample_arrangement(rng)
        text, stated = describe(spec, rng)
        words = set(re.findall(r"[a-z-]+", text.lower()))

        def says(concept: str, words: set[str] = words) -> bool:
            return any(set(w.lower().split()) <= words for w in WORDS[concept])

        assert says(f"tempo:{spec.tempo}") or "bpm" in words or "tempo" not in stated, text
        assert ("mode" in stated) == (says(f"mode:{spec.mode}") or says(f"mood:{spec.mood}")
                                      or f" {spec.mode}" in text), text
        level_words = says("loudness:quiet") or says("loudness:loud")
        if spec.loudness == "normal":
            assert "loudness" in stated and not level_words, text
        else:
            loud_clips += 1
            assert ("loudness" in stated) == says(f"loudness:{spec.loudness}"), text
            said["loudness"] += "loudness" in stated
        said["tempo"] += "tempo" in stated
        said["mode"] += "mode" in stated
    assert said["tempo"] / 400 > 0.8 and said["mode"] / 400 > 0.8, said
    assert said["loudness"] / loud_clips > 0.8, (said, loud_clips)


def names_a_genre(text: str) -> bool:
    """Whether ``text`` has a genre's word outside the instruments' ("jazz guitar", "rock
    organ" hold genre words)."""
    rest = text.lower()
    for word in sorted({w.lower() for ws in INSTRUMENT_WORDS.values() for w in ws}, key=len,
                       reverse=True):
        rest = rest.replace(word, " ")
    return any(re.search(rf"\b{re.escape(g.lower())}\b", rest)
               for words in GENRES.values() for g in words)


def test_lead_only_captions_name_the_lead_and_neither_genre_nor_band():
    rng = np.random.default_rng(5)
    for _ in range(200):
        spec = sample_arrangement(rng, lead_swap=0.35)
        text, stated = describe(spec, rng, name_genre=False)
        lead = max((w for w in INSTRUMENT_WORDS[spec.lead] if w in text), key=len, default="")
        assert lead and not names_a_genre(text), text
        band = {w for i in spec.instruments[1:] for w in INSTRUMENT_WORDS[i]}
        rest = text.replace(lead, " ")
        assert not any(re.search(rf"\b{re.escape(w)}\b", rest) for w in band), text
        assert "genre" not in stated and "instrument" in stated, (text, stated)
        assert "  " not in text and not text.endswith((",", " and", ":")), text


@needs_soundfont
def test_a_share_of_a_pools_further_captions_names_the_lead_alone():
    from audio_gen.codec import MelCodec
    from audio_gen.pool import soundfont_pool
    from audio_gen.text_encoder import HashingTextEncoder

    from .conftest import TEXT_DIM, tiny_codec_config

    codec, encoder = MelCodec(tiny_codec_config()), HashingTextEncoder(TEXT_DIM)

    def pool(**share):
        return soundfont_pool(6, 16, codec, encoder, seed=3, captions_per_clip=3, **share)

    plain, unset, lead_only = pool(), pool(lead_only_captions=0.0), pool(lead_only_captions=1.0)
    assert plain.captions == unset.captions  # a share of 0 draws the same pool as ever
    assert torch.equal(plain.images[0], lead_only.images[0])  # the first clip, then draws differ
    first_caption = lead_only.captions[lead_only.caption_ids[0, 0]]
    assert first_caption == plain.captions[plain.caption_ids[0, 0]]
    for ids in lead_only.caption_ids:
        first, *further = (lead_only.captions[i] for i in ids)
        assert names_a_genre(first), first
        assert further and not any(names_a_genre(text) for text in further), further


@needs_soundfont
def test_workers_play_a_pool_exactly_as_one_process_does(monkeypatch):
    # Every clip is drawn in the parent, in order; the workers only play: the same pool for any
    # number of them, a pause and resume included (the recipe's pool must not depend on it).
    import itertools
    import types

    from audio_gen import pool as pool_module
    from audio_gen.codec import MelCodec
    from audio_gen.pool import PoolPaused, soundfont_pool
    from audio_gen.text_encoder import HashingTextEncoder

    from .conftest import TEXT_DIM, tiny_codec_config

    codec, encoder = MelCodec(tiny_codec_config()), HashingTextEncoder(TEXT_DIM)
    settings = dict(seed=5, captions_per_clip=2, lead_swap=0.35, stems=0.7)
    size = 70  # more than the 64 clips that two workers are handed at a time
    alone = soundfont_pool(size, 16, codec, encoder, workers=1, **settings)
    together = soundfont_pool(size, 16, codec, encoder, workers=2, **settings)
    ticks = itertools.count()
    monkeypatch.setattr(pool_module, "time",
                        types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    with pytest.raises(PoolPaused) as paused:
        soundfont_pool(size, 16, codec, encoder, workers=2, deadline=float(next(ticks) + 2),
                       **settings)
    assert paused.value.stage == "rendering clips" and 0 < paused.value.done < size
    resumed = soundfont_pool(size, 16, codec, encoder, workers=2, resume=paused.value.state,
                             **settings)
    for other in (together, resumed):
        for name in ("images", "caption_ids", "tokens", "bpm", "first_beat", "tonic", "minor"):
            assert torch.equal(getattr(alone, name), getattr(other, name)), name
        assert alone.captions == other.captions


@needs_soundfont
def test_a_take_drawn_then_played_is_the_clip_make_clip_makes():
    from audio_gen.render import Players, draw_clip, make_clip

    made = [make_clip(np.random.default_rng(8), RENDERER, 1.0, part=part)
            for part in ("mix", "lead", "backing")]
    drawn = [draw_clip(np.random.default_rng(8), RENDERER, 1.0, part=part)
             for part in ("mix", "lead", "backing")]
    with Players(RENDERER, workers=2) as players:
        played = list(players.play([clip.take for clip in drawn]))
    for clip, again, audio in zip(made, drawn, played, strict=True):
        assert clip.caption == again.caption and clip.spec == again.spec
        assert np.array_equal(clip.audio, audio)


def _die(_take) -> None:  # a worker's end (module level: the pool pickles it by name)
    import os

    os._exit(3)


@needs_soundfont
def test_a_worker_that_dies_is_reported_in_words(monkeypatch):
    from audio_gen import render

    monkeypatch.setattr(render, "_play", _die)
    takes = [render.draw_clip(np.random.default_rng(seed), RENDERER, 0.5).take
             for seed in range(2)]
    with render.Players(RENDERER, workers=2) as players, \
            pytest.raises(RuntimeError, match=r"rendering worker process died.*--threads 1"):
        list(players.play(takes))


def test_training_may_borrow_a_lead_from_another_genre():
    plain = [sample_arrangement(np.random.default_rng(1)) for _ in range(3)]
    assert plain == [sample_arrangement(np.random.default_rng(1), lead_swap=0.0)
                     for _ in range(3)]  # no swaps: the same draws as ever
    rng = np.random.default_rng(2)
    swapped = [sample_arrangement(rng, lead_swap=1.0) for _ in range(300)]
    assert not set().union(*(clip.pairs() for clip in swapped)) & HELD_OUT
    borrowed = [c for c in swapped if c.lead not in STYLES[c.style].melody]
    assert len(borrowed) > 150 and len({c.lead for c in borrowed}) > 20
    assert not any(c.style in ("piano ballad", "string quartet") for c in borrowed)
    with pytest.raises(ValueError, match="lead_swap"):
        sample_arrangement(rng, lead_swap=1.5)


def test_the_borrowed_lead_split_draws_leads_from_other_genres():
    """`audio evaluate --split borrowed` asks mostly for leads outside their genre's own, in
    combinations training draws."""
    from audio_gen.adherence import SPLITS

    seed, held_out, lead_swap = SPLITS["borrowed"]
    rng = np.random.default_rng(seed)
    drawn = [sample_arrangement(rng, held_out=held_out, lead_swap=lead_swap)
             for _ in range(100)]
    assert not set().union(*(clip.pairs() for clip in drawn)) & HELD_OUT
    assert sum(c.lead not in STYLES[c.style].melody for c in drawn) > 60
    assert seed not in (SPLITS["held_out"][0], SPLITS["validation"][0])


@needs_soundfont
def test_a_quieter_accompaniment_lets_the_lead_stand_out():
    spec = sample_arrangement(np.random.default_rng(4), fixed={"style": "jazz", "drums": True})
    events = arrange(spec, 2.0, np.random.default_rng(1))
    lead_alone = RENDERER.synth.render([e for e in events if e.channel == 0], 2.0)

    def likeness_to_the_lead(accompaniment_db: float) -> float:
        mixed = RENDERER.synth.render(remix(events, accompaniment_db), 2.0)
        return float(np.dot(mixed, lead_alone) / np.linalg.norm(mixed)
                     / np.linalg.norm(lead_alone))

    same, quieter, silent = (likeness_to_the_lead(db) for db in (0.0, -6.0, -80.0))
    assert same < quieter - 0.1 < silent - 0.15 and silent > 0.99
    volumes = {e.channel: e.b for e in remix(events, -6.0) if e.kind == "cc" and e.a == 7}
    assert volumes == {0: 112, 1: 59, 2: 71, DRUM_CHANNEL: 71}  # the lead's 112 stays
    louder = Renderer(RATE, accompaniment_db=-6.0).render(spec, 2.0, np.random.default_rng(1))
    assert integrated_loudness(louder, RATE) == pytest.approx(LOUDNESS[spec.loudness], abs=1.6)


def test_the_vocabulary_has_the_synonyms_people_use():
    words = vocabulary()
    assert {"sax", "saxophone"} <= set(words["instrument:alto sax"])
    assert {"lofi", "lo-fi"} <= set(words["genre:lo-fi hip hop"])
    assert "loudness:quiet" in words and "tempo:fast" in words
    assert not any("bagpipe" in w for ws in words.values() for w in ws)


@needs_soundfont
def test_training_on_the_soundfont_source_stores_its_vocabulary(tmp_path):
    from audio_gen.checkpoint import load_model
    from audio_gen.text_encoder import HashingTextEncoder
    from audio_gen.train import TrainConfig, train

    from .conftest import TEXT_DIM, tiny_codec_config, tiny_unet_config

    cfg = TrainConfig(steps=2, batch_size=2, pool_size=3, seconds=0.5, checkpoint_every=2,
                      warmup_steps=1, text_encoder=f"hashing-{TEXT_DIM}", text_max_length=16,
                      unet=tiny_unet_config(), codec=tiny_codec_config(), bf16=False,
                      data_source="soundfont")
    result = train(cfg, tmp_path / "run", HashingTextEncoder(TEXT_DIM))
    assert result.finished
    meta = load_model(result.model).meta
    assert meta["data"] == "soundfont" and meta["vocabulary"] == vocabulary()
    with pytest.raises(ValueError, match="data_source must be one of synth, soundfont"):
        TrainConfig.from_dict({"data_source": "midi"})
