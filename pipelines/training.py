"""From a dataset to a published song2vec artifact, and from an artifact to its evaluation."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipelines.schemas import Dataset
from recsys import sentence_vectors
from recsys.artifact import Artifact, add_song_text, load_artifact, save_artifact
from recsys.base import Recommender
from recsys.baselines import ALS, BPR, CoOccurrence, Popularity
from recsys.catalog import Catalog
from recsys.colisten import CoListening
from recsys.evaluation import evaluate_models, make_cases
from recsys.next_song import LEARNED, PEERS, NextSongConfig, artist_codes, fit_next_song, peer
from recsys.similar_songs import SimilarSongs
from recsys.similarity import (
    blended_neighbours,
    evaluate_similar,
    from_recommender,
    in_out_neighbours,
)
from recsys.song2vec import EpochCallback, Song2Vec, Song2VecConfig
from recsys.song_text import (
    SENTENCE_VERSION,
    LazyEncoder,
    Progress,
    SentenceEncoder,
    SongText,
    TextMapConfig,
    catalogue_sentences,
    fit_song_text,
)
from recsys.text_map import TooFewSongsError

BASELINES = {"popularity": Popularity, "cooccurrence": CoOccurrence, "als": ALS, "bpr": BPR}
# Every model `evaluate` knows; the learned ones ("songspace", the sequence models) only when
# the artifact holds them.
MODEL_NAMES = (*LEARNED, "song2vec", *BASELINES, *PEERS)

logger = logging.getLogger(__name__)


def train_song2vec(
    dataset: Dataset,
    config: Song2VecConfig,
    out: str | Path,
    *,
    source: str,
    on_epoch: EpochCallback | None = None,
    next_song: NextSongConfig | None = None,
    on_stage: Callable[[str], None] | None = None,
    text_map: TextMapConfig | None = None,
    on_text: Progress | None = None,
) -> tuple[Path, dict]:
    """Train on every playlist of `dataset` and publish the artifact at `out`, with the
    next-song ranker (and sequence models) that `next_song` asks for, the co-listening model
    of similar songs, and the text map that `text_map` asks for (`on_text` follows its
    embedding)."""
    catalog = Catalog(dataset.songs)
    sentences = catalog.encode_playlists(dataset.playlists)
    started = time.perf_counter()
    model = Song2Vec(config).fit(sentences, len(catalog), on_epoch=on_epoch)
    seconds = time.perf_counter() - started
    tokens = int(sum(len(s) for s in sentences))
    metrics = {
        "train_seconds": round(seconds, 3),
        "songs_per_s": round(tokens * config.epochs / seconds, 1),
        "epochs": [
            {"epoch": h.epoch, "seconds": round(h.seconds, 4),
             "songs_per_s": round(h.songs_per_s, 1), "loss": h.loss}
            for h in model.history
        ],
    }
    learned: dict[str, Recommender] = {}
    if next_song is not None:
        artists = artist_codes(catalog.songs["artist"].to_list())
        learned, metrics["next_song"] = fit_next_song(
            model, sentences, len(catalog), artists, next_song, on_stage)
    if on_stage is not None:
        on_stage("learning co-listening (similar songs)")
    mark = time.perf_counter()
    colisten = CoListening.fit([s[s >= 0] for s in sentences], len(catalog))
    metrics["colisten"] = {"songs": len(colisten.songs),
                           "seconds": round(time.perf_counter() - mark, 2)}
    song_text = None
    if text_map is not None and text_map.enabled:
        if on_stage is not None:
            on_stage(f"describing the songs with the {text_map.encoder} text encoder")
        try:
            song_text = describe_songs(model, catalog, text_map, reuse_from=Path(out),
                                       on_progress=on_text, threads=config.threads)
        except TooFewSongsError as error:  # a tiny catalogue: the model, without the map
            metrics["text_map"] = {"skipped": str(error)}
        else:
            metrics["text_map"] = song_text.summary()
    quarantine = dataset.report.quarantine_file
    path = save_artifact(
        out, model, catalog, dataset.playlists, source=source, metrics=metrics,
        quarantine_file=Path(quarantine) if quarantine else None,
        report=dataset.report.as_dict(), next_song=learned, song_text=song_text,
        colisten=colisten,
    )
    return path, metrics


def describe_songs(model: Song2Vec, catalog: Catalog, config: TextMapConfig,
                   reuse_from: Path | None = None, on_progress: Progress | None = None,
                   threads: int | None = None) -> SongText:
    """Embed the catalogue's songs with the text encoder `config` names and fit the text
    map. Sentences that the artifact at `reuse_from` (when there is one, with the same
    encoder) or the shipped tables (`config.shipped_vectors`) embedded already are taken from
    them, not encoded again; the encoder (and torch, with `threads` threads when given) is
    loaded only if a sentence is left to encode. The Hugging Face libraries must have been
    told to stay offline by the caller (the CLI does)."""

    def load_encoder() -> SentenceEncoder:
        import torch  # heavy: only when something is left to encode

        from audio_gen.text_encoder import load_text_encoder

        if threads is not None:
            torch.set_num_threads(threads)
        return load_text_encoder(config.encoder, max_length=config.max_length)

    encoder = LazyEncoder(load_encoder)
    reuse: dict[str, np.ndarray] = {}
    if config.shipped_vectors:
        reuse = sentence_vectors.load_table(sentence_vectors.SHIPPED, config.encoder,
                                            config.max_length, SENTENCE_VERSION)
    if reuse_from is not None:
        reuse.update(_reusable_embeddings(reuse_from, config))
    return fit_song_text(encoder, config, model, catalog, artist_codes(
        catalog.songs["artist"].to_list()), reuse, on_progress)


def _reusable_embeddings(folder: Path, config: TextMapConfig) -> dict:
    """text -> embedding from the artifact at `folder` made with the same encoder, or {}."""
    if not (folder / "manifest.json").is_file():
        return {}
    try:
        previous = load_artifact(folder, verify=False)
        song_text = previous.song_text
    except Exception as error:  # a cache: an unreadable old artifact only costs time
        logger.info("not reusing text embeddings from %s: %s", folder, error)
        return {}
    if song_text is None or (song_text.encoder, song_text.max_length) != (
            config.encoder, config.max_length):
        return {}
    return song_text.reusable(catalogue_sentences(previous.catalog))


def add_text_map(artifact: Artifact, config: TextMapConfig, out: str | Path,
                 on_progress: Progress | None = None) -> tuple[Path, dict]:
    """Fit the text map onto a trained artifact and publish the result at `out` (the
    artifact's own folder is replaced atomically); returns the path and the map's summary."""
    song_text = describe_songs(artifact.model, artifact.catalog, config,
                               reuse_from=artifact.path, on_progress=on_progress)
    return add_song_text(artifact, song_text, out), song_text.summary()


def available_models(artifact: Artifact) -> tuple[str, ...]:
    """Every model `evaluate` can compare on this artifact, the ranker first."""
    return tuple(n for n in MODEL_NAMES if n not in LEARNED or n in artifact.next_song)


def evaluate_artifact(
    artifact: Artifact,
    test: Dataset,
    *,
    models: tuple[str, ...] | None = None,
    max_positions: int | None = None,
    seed: int = 0,
    on_model=None,
    on_cases=None,
) -> dict:
    """Next-song metrics of the artifact's song2vec and of baselines fitted on the artifact's
    own training playlists, all on the same cases built from `test` (``on_model`` and
    ``on_cases`` as in :func:`recsys.evaluation.evaluate_models`). ``models`` None means every
    model the artifact can give."""
    learned = artifact.next_song
    if models is None:
        models = available_models(artifact)
    unknown = sorted(set(models) - set(MODEL_NAMES))
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; expected some of {list(MODEL_NAMES)}")
    absent = [n for n in models if n in LEARNED and n not in learned]
    if absent:
        raise ValueError(f"{artifact.path} holds no {', '.join(absent)} model; train it with "
                         "the [next_song] settings that fit it (see songspace train --help)")
    catalog = artifact.catalog
    test_playlists = catalog.encode_playlists(test.playlists)
    cases = make_cases(test_playlists, max_positions=max_positions, seed=seed)
    chosen: list[Recommender] = []
    for name in models:
        if name == "song2vec":
            chosen.append(artifact.model)
        elif name in LEARNED:
            chosen.append(learned[name])
        elif name in PEERS:
            chosen.append(peer(name))
        else:
            factory = BASELINES[name]
            chosen.append(factory(seed=seed) if name in ("als", "bpr") else factory())
    result = evaluate_models(
        chosen, artifact.training_sentences, cases, len(catalog),
        fitted=("song2vec", *learned), on_model=on_model, on_cases=on_cases,
    )
    for name in learned:
        if name in result["models"]:
            fit = artifact.manifest["metrics"].get("next_song", {}).get(name, {})
            result["models"][name]["fit_seconds"] = fit.get("fit_seconds", 0.0)
    test_songs = np.concatenate(test_playlists) if test_playlists else np.zeros(0)
    result["test_songs_not_in_catalogue"] = int((test_songs < 0).sum())
    return result


def evaluate_similar_artifact(artifact: Artifact, k: int = 10, max_songs: int | None = None,
                              seed: int = 0) -> dict:
    """Genre and tag agreement of similar songs over every song with a genre family (or a
    seeded sample of `max_songs`): songspace's blend (`recsys.similar_songs`), song2vec cosine
    and input.output alone, co-occurrence and ALS fitted on the artifact's training playlists."""
    sentences = artifact.training_sentences
    n_items = len(artifact.catalog)
    cooccurrence = CoOccurrence().fit(sentences, n_items)
    als = ALS(seed=seed).fit(sentences, n_items)
    songs = artifact.catalog.songs
    model = artifact.model
    blend = SimilarSongs(model.input_vectors, model.output_vectors, artifact.colisten,
                         songs["tags"].to_list(), model.trained & ~artifact.catalog.placeholder)
    methods = {
        "songspace": blended_neighbours(blend),
        "song2vec_cosine": from_recommender(model),
        "song2vec_in_out": in_out_neighbours(model),
        "cooccurrence": from_recommender(cooccurrence),
        "als": from_recommender(als),
    }
    return evaluate_similar(
        methods, songs["tags"].to_list(), songs["artist"].to_list(),
        np.flatnonzero(model.trained & ~artifact.catalog.placeholder), k=k,
        max_songs=max_songs, seed=seed,
    )
