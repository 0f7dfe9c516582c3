"""Songs described by the text encoder: each song's title, artist and tags as one sentence,
embedded by a sentence encoder (all-MiniLM-L6-v2 by default), plus the map into song2vec's
space learnt from the songs that have vectors (`recsys.text_map`).

What it gives:

- **estimated vectors** for the songs song2vec has none for (played fewer than ``min_count``
  times, or in the catalogue with metadata only): :func:`with_estimates`;
- the pieces a description is searched with (`recsys.text_playlist`): the songs' embeddings,
  the embeddings of the catalogue's tag names, and the map.

The encoder is passed in as any object with ``pooled(texts) -> (B, D)`` (audio_gen's
encoders have it); this package never imports audio_gen, and the CLI and the API, which load
the encoder named in the artifact, keep the Hugging Face libraries offline.

Stored in a model artifact as ``song_text.json`` (encoder, settings, tag names, the map's
validation) and ``song_text.npz`` (song and tag embeddings, the map's weights).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from foundation.settings import Settings
from recsys.catalog import Catalog
from recsys.interests import unit_rows
from recsys.song2vec import Song2Vec
from recsys.tags import is_station_tag
from recsys.text_map import TextMap, fit_text_map

# Bumped when song_sentence changes, so embeddings of the old sentences are never reused.
SENTENCE_VERSION = 1
JSON_FILE, ARRAYS_FILE = "song_text.json", "song_text.npz"
FILES = (JSON_FILE, ARRAYS_FILE)

Progress = Callable[[int, int], None]  # (texts done, total)


class SentenceEncoder(Protocol):
    """What the text map needs from an encoder: unit-length pooled vectors of texts."""

    def pooled(self, texts: list[str]) -> Any: ...  # (B, D) array-like


class LazyEncoder:
    """An encoder loaded on its first use: when every sentence is in a reused table (the
    shipped vectors, the artifact being replaced), nothing loads torch or the weights."""

    def __init__(self, load: Callable[[], SentenceEncoder]) -> None:
        self._load, self._encoder = load, None

    def pooled(self, texts: list[str]) -> Any:
        if self._encoder is None:
            self._encoder = self._load()
        return self._encoder.pooled(texts)


@dataclass
class TextMapConfig(Settings):
    """The `[text_map]` settings of `songspace train`.

    enabled : fit the text map (on by default; off saves the embedding time).
    encoder : "default" (all-MiniLM-L6-v2 from its package), "hashing-N" (a weight-free
        stand-in for tests) or a local Hugging Face model folder.
    max_length : tokens of a song's sentence the encoder reads (the tags make long ones).
    batch_size : sentences per encoder call.
    holdout : share of the songs with vectors held out to choose the map's settings.
    seed : of the held-out draw.
    shipped_vectors : take the vectors of sentences that the tables shipped with the embedded
        data hold (`data/text_vectors/`, same encoder and max_length) instead of encoding
        them again (`recsys.sentence_vectors`).
    """

    kind: ClassVar[str] = "text-map"

    enabled: bool = True
    encoder: str = "default"
    max_length: int = 128
    batch_size: int = 64
    holdout: float = 0.1
    seed: int = 0
    shipped_vectors: bool = True

    def __post_init__(self) -> None:
        self._require({"max_length": self.max_length >= 8, "batch_size": self.batch_size >= 1,
                       "holdout": 0 < self.holdout < 1, "encoder": bool(self.encoder)})


def song_sentence(title: str, artist: str, tags: Sequence[str]) -> str:
    """'Title by Artist. tag, tag, ...' with radio-station tags left out."""
    music = [t for t in tags if not is_station_tag(t)]
    text = f"{title} by {artist}"
    return f"{text}. {', '.join(music)}" if music else text


def catalogue_sentences(catalog: Catalog) -> list[str]:
    """A sentence per catalogue row; "" for placeholders, which are never described."""
    songs = catalog.songs
    return ["" if hidden else song_sentence(t or "", a or "", g or ())
            for t, a, g, hidden in zip(songs["title"].to_list(), songs["artist"].to_list(),
                                       songs["tags"].to_list(), catalog.placeholder,
                                       strict=True)]


def music_tags(tags: Sequence[Sequence[str]]) -> list[str]:
    """The catalogue's tags, radio-station call signs left out, sorted."""
    return sorted({t for song in tags for t in song if not is_station_tag(t)})


def embed(encoder: SentenceEncoder, texts: Sequence[str], batch_size: int = 64,
          reuse: dict[str, np.ndarray] | None = None, on_progress: Progress | None = None
          ) -> np.ndarray:
    """Unit-length embeddings (N, D) float32 of texts; "" gives a zero row.

    Texts are encoded shortest first, so each batch pads little; those in `reuse` (a text ->
    embedding table, e.g. from the artifact being replaced) are not encoded again.
    """
    reuse = reuse or {}
    todo = sorted({t for t in texts if t and t not in reuse}, key=lambda t: (len(t), t))
    found: dict[str, np.ndarray] = {}
    total = len(todo)
    if on_progress is not None:
        on_progress(0, total)
    for start in range(0, total, batch_size):
        batch = todo[start:start + batch_size]
        vectors = np.asarray(encoder.pooled(batch), dtype=np.float32)
        found.update(zip(batch, vectors, strict=True))
        if on_progress is not None:
            on_progress(min(start + batch_size, total), total)
    known = {**reuse, **found}
    width = len(next(iter(known.values()))) if known else 0
    out = np.zeros((len(texts), width), np.float32)
    for i, text in enumerate(texts):
        if text:
            out[i] = known[text]
    return unit_rows(out)


@dataclass
class SongText:
    """The songs' text embeddings, the tag names' embeddings and the fitted map."""

    encoder: str
    max_length: int
    embeddings: np.ndarray  # (N, D) unit rows, zero for placeholders
    tags: list[str]
    tag_embeddings: np.ndarray  # (T, D) unit rows
    text_map: TextMap
    seconds: dict[str, float]
    sentence_version: int = SENTENCE_VERSION

    def summary(self) -> dict:
        """What the manifest's metrics keep: the settings, timings and the validation."""
        return {"encoder": self.encoder, "max_length": self.max_length,
                "dim": int(self.embeddings.shape[1]), "tags": len(self.tags),
                "ridge": self.text_map.ridge, "artist_weight": self.text_map.artist_weight,
                "seconds": self.seconds, "validation": self.text_map.validation}

    def reusable(self, sentences: Sequence[str]) -> dict[str, np.ndarray]:
        """text -> embedding of this song text's sentences (`sentences`: its catalogue's, in
        order) and tag names, for a new fit to skip encoding them again."""
        if self.sentence_version != SENTENCE_VERSION:
            return {}
        found = {t: self.embeddings[i] for i, t in enumerate(sentences) if t}
        return {**found, **dict(zip(self.tags, self.tag_embeddings, strict=True))}

    def save(self, folder: Path) -> list[str]:
        meta = {"encoder": self.encoder, "max_length": self.max_length,
                "sentence_version": self.sentence_version, "tags": self.tags,
                "ridge": self.text_map.ridge, "artist_weight": self.text_map.artist_weight,
                "validation": self.text_map.validation, "seconds": self.seconds}
        (folder / JSON_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        np.savez(folder / ARRAYS_FILE, embeddings=self.embeddings.astype(np.float16),
                 tag_embeddings=self.tag_embeddings.astype(np.float32),
                 map_inputs=self.text_map.inputs, map_outputs=self.text_map.outputs)
        return list(FILES)

    @classmethod
    def load(cls, folder: Path) -> SongText | None:
        """The song text of an artifact folder; None when it was trained without one."""
        if not (folder / JSON_FILE).is_file():
            return None
        meta = json.loads((folder / JSON_FILE).read_text())
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as arrays:
            text_map = TextMap(arrays["map_inputs"], arrays["map_outputs"], meta["ridge"],
                               meta["artist_weight"], meta["validation"])
            return cls(meta["encoder"], meta["max_length"],
                       arrays["embeddings"].astype(np.float32), list(meta["tags"]),
                       arrays["tag_embeddings"], text_map, meta["seconds"],
                       meta["sentence_version"])


def fit_song_text(encoder: SentenceEncoder, config: TextMapConfig, model: Song2Vec,
                  catalog: Catalog, artists: np.ndarray,
                  reuse: dict[str, np.ndarray] | None = None,
                  on_progress: Progress | None = None) -> SongText:
    """Embed the catalogue's sentences and tag names (those in `reuse` are not encoded
    again), and fit the map on the songs with vectors (:func:`recsys.text_map.fit_text_map`).
    """
    started = time.perf_counter()
    names = music_tags(catalog.songs["tags"].to_list())
    texts = [*catalogue_sentences(catalog), *names]
    vectors = embed(encoder, texts, config.batch_size, reuse, on_progress)
    embeddings, tag_embeddings = vectors[:len(catalog)], vectors[len(catalog):]
    embedded = time.perf_counter()
    text_map = fit_text_map(embeddings, model.input_vectors, model.output_vectors,
                            model.trained, artists, config.holdout, config.seed)
    seconds = {"embed": round(embedded - started, 2),
               "fit": round(time.perf_counter() - embedded, 2)}
    return SongText(config.encoder, config.max_length, embeddings, names, tag_embeddings,
                    text_map, seconds)


def estimated_rows(song_text: SongText, trained: np.ndarray, placeholder: np.ndarray
                   ) -> np.ndarray:
    """bool (N,): the songs that get an estimated vector (no vector, not a placeholder, a
    sentence to estimate from)."""
    described = np.linalg.norm(song_text.embeddings, axis=1) > 0
    return ~trained & ~placeholder & described


def with_estimates(model: Song2Vec, song_text: SongText, artists: np.ndarray,
                   placeholder: np.ndarray) -> tuple[Song2Vec, np.ndarray]:
    """A copy of `model` whose rows without a vector hold estimated input and output vectors,
    and the bool mask of those rows. ``trained`` is unchanged, so everything that scores with
    the copy still knows which vectors were learnt."""
    estimated = estimated_rows(song_text, model.trained, placeholder)
    rows = np.flatnonzero(estimated)
    copy = Song2Vec(model.config)
    copy.input_vectors, copy.output_vectors = model.input_vectors.copy(), \
        model.output_vectors.copy()
    copy.trained, copy.n_items = model.trained, model.n_items
    copy.input_vectors[rows], copy.output_vectors[rows] = song_text.text_map.estimate(
        song_text.embeddings, model.input_vectors, model.output_vectors, model.trained,
        artists, rows)
    return copy, estimated
