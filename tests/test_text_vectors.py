"""The sentence vectors shipped with the embedded data (data/text_vectors/, written by
data/make_text_vectors.py): they cover the catalogue as it is now and are what the encoder
makes of its sentences, so that a training that takes them is the training that encodes."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest

from foundation.paths import DEFAULT_DATA
from recsys.catalog import Catalog
from recsys.sentence_vectors import SHIPPED, load_table
from recsys.song_text import SENTENCE_VERSION, TextMapConfig, catalogue_sentences, music_tags

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
DEFAULTS = TextMapConfig()


@pytest.fixture(scope="module")
def table() -> dict[str, np.ndarray]:
    found = load_table(SHIPPED, DEFAULTS.encoder, DEFAULTS.max_length, SENTENCE_VERSION)
    assert found, f"no table for the default encoder in {SHIPPED}: run data/make_text_vectors.py"
    return found


def test_the_table_holds_every_sentence_and_tag_of_the_embedded_catalogue(table):
    catalog = Catalog(pl.read_parquet(DEFAULT_DATA / "songs.parquet"))
    wanted = {t for t in [*catalogue_sentences(catalog),
                          *music_tags(catalog.songs["tags"].to_list())] if t}
    missing, stale = len(wanted - set(table)), len(set(table) - wanted)
    assert not missing and not stale, f"{missing} missing, {stale} stale: run the generator"


def test_the_table_is_what_the_encoder_makes(table):
    from audio_gen.text_encoder import load_text_encoder

    encoder = load_text_encoder(DEFAULTS.encoder, max_length=DEFAULTS.max_length)
    by_length = sorted(table, key=len)
    # The longest sentences (cut at max_length tokens) and a seeded draw of the others.
    draw = np.random.default_rng(0).choice(len(by_length) - 4, 12, replace=False)
    texts = by_length[-4:] + [by_length[i] for i in draw]
    fresh = np.asarray(encoder.pooled(texts))
    shipped = np.stack([table[t] for t in texts])
    cosine = (fresh * shipped).sum(1) / np.linalg.norm(shipped, axis=1)
    assert cosine.min() > 0.999, dict(zip(texts, cosine.round(5), strict=True))



def test_a_training_the_table_covers_never_loads_the_encoder(table, model, monkeypatch):
    """`songspace train` on the embedded data takes every sentence from the table, so it does
    not pay for torch and the encoder's weights (recsys.song_text.LazyEncoder)."""
    import audio_gen.text_encoder
    from pipelines.training import describe_songs
    from recsys.artifact import load_artifact

    def refuse(*args, **kwargs):
        raise AssertionError("the encoder was loaded")

    monkeypatch.setattr(audio_gen.text_encoder, "load_text_encoder", refuse)
    artifact = load_artifact(model)
    song_text = describe_songs(artifact.model, artifact.catalog, DEFAULTS)
    assert song_text.embeddings.shape == (len(artifact.catalog), 384)
    missing = Catalog(artifact.catalog.songs.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("A Title No Table Holds"))
        .otherwise(pl.col("title")).alias("title")))
    with pytest.raises(AssertionError, match="the encoder was loaded"):
        describe_songs(artifact.model, missing, DEFAULTS)
