"""Songs described by the text encoder, through the CLI: estimated vectors for songs song2vec
learnt none for (similar answers, marked estimated), playlists from a description, and the
text map fitted onto a model trained without it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.conftest import once_per_session, run

MIN_COUNT = 25  # on the embedded data, leaves hundreds of songs without a learnt vector
ROW_KEYS = {"song_id", "title", "artist", "score"}


def train(splits: Path, out: Path, *extra, settings: str = "") -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    config = out.parent / f"{out.name}.toml"
    config.write_text(f"[song2vec]\nmin_count = {MIN_COUNT}\n\n[next_song]\nranker = false\n"
                      f"{settings}")
    run("train", "--playlists", splits / "train", "--out", out, "--config", config,
        "--epochs", "3", "--seed", "1", *extra)
    return out


def shared_model(splits: Path, tmp_path_factory, text_map: bool = True) -> Path:
    """The model with a text map (the hashing encoder the tests default to) or, with
    ``text_map=False``, without one: trained once in the test session (the API's tests of
    text playlists use them too); tests only read them."""
    name, extra = ("text-model", ()) if text_map else ("plain-model", ("--no-text-map",))
    return once_per_session(tmp_path_factory, name,
                            lambda folder: train(splits, folder / "model", *extra)) / "model"


@pytest.fixture(scope="module")
def text_model(splits, tmp_path_factory) -> Path:
    return shared_model(splits, tmp_path_factory)


@pytest.fixture(scope="module")
def plain_model(splits, tmp_path_factory) -> Path:
    return shared_model(splits, tmp_path_factory, text_map=False)


def cold_song(model: Path) -> dict:
    """The most played catalogue song that song2vec learnt no vector for."""
    songs = pl.read_parquet(model / "songs.parquet").with_row_index("row")
    trained = np.load(model / "trained.npy")
    plays = pl.read_parquet(model / "playlists.parquet")["song_id"].value_counts()
    cold = (songs.filter(pl.Series(~trained)).join(plays, on="song_id")
            .sort("count", descending=True))
    return cold.row(0, named=True)


def rows_of(result) -> list[dict]:
    return json.loads(result.stdout)


def test_train_fits_the_map_and_reports_it_on_held_out_songs(text_model):
    manifest = json.loads((text_model / "manifest.json").read_text())
    summary = manifest["metrics"]["text_map"]
    assert summary["encoder"] == "hashing-64" and {"song_text.json", "song_text.npz"} <= set(
        manifest["files"])
    validation = summary["validation"]
    assert validation["held_out"] > 50
    methods = validation["methods"]
    # The song itself ranks far better among all songs from its estimate than from the
    # average song's vector (0.5: a coin toss).
    assert methods["text_map_and_artist"]["median_rank"] < 0.5 * methods["mean_vector"][
        "median_rank"]


def test_a_song_without_a_learnt_vector_answers_similar_marked_estimated(text_model,
                                                                         plain_model):
    song = cold_song(text_model)
    failed = run("similar", song["song_id"], "--model", plain_model, code=2)
    assert "so it has no vector" in failed.stderr
    result = run("similar", song["song_id"], "--model", text_model, "--k", "10", "--json")
    rows = rows_of(result)
    assert len(rows) == 10 and song["song_id"] not in {r["song_id"] for r in rows}
    assert "estimated from its title, artist and tags" in result.stderr
    for row in rows:  # the contract: the shape of similar, "estimated": true on estimated ones
        assert set(row) - {"estimated"} == ROW_KEYS and row.get("estimated", True) is True
    table = run("similar", song["song_id"], "--model", text_model, "--k", "3").stderr
    assert "(estimated)" in table


def test_estimated_songs_stay_out_of_cosine_lists_but_not_out_of_the_catalogue(text_model):
    rows = rows_of(run("similar", "Bohemian Rhapsody", "--model", text_model, "--k", "50",
                       "--scoring", "cosine", "--json"))
    assert len(rows) == 50 and not any(r.get("estimated") for r in rows)


def test_playlist_from_a_description(text_model):
    songs = pl.read_parquet(text_model / "songs.parquet")
    tags = dict(zip(songs["song_id"], songs["tags"].to_list(), strict=True))
    rows = rows_of(run("playlist", "classic country", "--model", text_model, "--k", "15",
                       "--json"))
    assert len(rows) == 15 and len({r["song_id"] for r in rows}) == 15
    assert all(set(r) - {"estimated"} == ROW_KEYS for r in rows)
    country = [any("country" in t for t in tags[r["song_id"]]) for r in rows]
    assert np.mean(country) >= 0.7, rows
    assert max(Counter(r["artist"] for r in rows).values()) <= 2
    solo = rows_of(run("playlist", "classic country", "--model", text_model, "--k", "15",
                       "--max-per-artist", "1", "--json"))
    assert len({r["artist"] for r in solo}) == 15
    table = run("playlist", "classic country", "--model", text_model, "--k", "3")
    assert "a playlist for 'classic country'" in table.stderr


def test_playlist_needs_a_text_map_and_words(text_model, plain_model):
    result = run("playlist", "classic country", "--model", plain_model, code=2)
    assert "no text map" in result.stderr and "songspace text-map" in result.stderr
    assert "needs a description" in run("playlist", "  ", "--model", text_model,
                                         code=2).stderr


def test_text_map_added_to_a_trained_model(plain_model, tmp_path):
    out = tmp_path / "with-text"
    result = run("text-map", "--model", plain_model, "--out", out, "--json")
    report = json.loads(result.stdout)
    assert report["model"] == str(out) and report["text_map"]["validation"]["held_out"] > 50
    assert not (plain_model / "song_text.json").exists()  # the source is left alone
    run("evaluate", "--model", out, "--similar", "--json")  # the manifest checks out
    song = cold_song(out)
    rows = rows_of(run("similar", song["song_id"], "--model", out, "--k", "5", "--json"))
    assert len(rows) == 5
    assert rows_of(run("playlist", "classic country", "--model", out, "--k", "5", "--json"))


@pytest.mark.slow
def test_the_shipped_encoder_makes_genre_playlists(plain_model, tmp_path):
    """all-MiniLM-L6-v2 on the embedded catalogue: a description finds its genre."""
    out = tmp_path / "minilm"
    run("text-map", "--model", plain_model, "--out", out, "--text-encoder", "default",
        "--threads", "2")
    songs = pl.read_parquet(out / "songs.parquet")
    tags = dict(zip(songs["song_id"], songs["tags"].to_list(), strict=True))
    rows = rows_of(run("playlist", "90s gangsta rap", "--model", out, "--k", "20", "--json"))
    rap = [bool({"rap", "hip hop", "hip-hop"} & set(tags[r["song_id"]])) for r in rows]
    assert len(rows) == 20 and np.mean(rap) >= 0.7, rows


def test_train_takes_the_shipped_sentence_vectors_and_encodes_the_rest(splits, tmp_path,
                                                                      monkeypatch):
    from audio_gen.text_encoder import load_text_encoder
    from recsys import sentence_vectors
    from recsys.catalog import Catalog
    from recsys.song_text import SENTENCE_VERSION, SongText, catalogue_sentences

    sentences = catalogue_sentences(Catalog(pl.read_parquet(splits / "train" / "songs.parquet")))
    shipped = [t for t in sentences[::2] if t]
    # Vectors the tests' encoder would never make, so that a taken one is recognised.
    vectors = np.random.default_rng(0).normal(size=(len(shipped), 64))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sentence_vectors.save_table(sentence_vectors.table_path(tmp_path, "hashing-64", 128),
                                shipped, vectors, SENTENCE_VERSION)
    monkeypatch.setattr(sentence_vectors, "SHIPPED", tmp_path)
    table = dict(zip(shipped, vectors, strict=True))
    encoder = load_text_encoder("hashing-64", max_length=128)

    def embeddings(model: Path) -> dict[str, np.ndarray]:
        texts = catalogue_sentences(Catalog(pl.read_parquet(model / "songs.parquet")))
        rows = SongText.load(model).embeddings
        return {t: rows[i] for i, t in enumerate(texts) if t}

    taken = embeddings(train(splits, tmp_path / "taken"))
    for text, vector in taken.items():
        expected = table[text] if text in table else np.asarray(encoder.pooled([text]))[0]
        np.testing.assert_allclose(vector, expected, atol=2e-3, err_msg=text)
    # Told not to, a fit encodes every sentence (the text map of the model above, refitted).
    from pipelines.training import describe_songs
    from recsys.artifact import load_artifact
    from recsys.song_text import TextMapConfig

    artifact = load_artifact(tmp_path / "taken")
    refitted = describe_songs(artifact.model, artifact.catalog, TextMapConfig(
        encoder="hashing-64", shipped_vectors=False))
    encoded = dict(zip(catalogue_sentences(artifact.catalog), refitted.embeddings, strict=True))
    assert not any(np.allclose(encoded[t], table[t], atol=2e-3) for t in shipped)
