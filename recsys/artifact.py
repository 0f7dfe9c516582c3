"""Model artifacts: a folder with everything needed to use and audit a trained model.

    manifest.json        format, creation time, package versions, training data fingerprint,
                         counts, metrics, and the sha256 of every other file
    config.json          the Song2VecConfig
    vectors.npy          float32 (n_songs, dim) input vectors, row i = catalogue row i
    output_vectors.npy   float32 (n_songs, dim) output (syn1neg) vectors
    trained.npy          bool (n_songs,) which songs got a vector
    songs.parquet        the catalogue in index order: this is the id map
    playlists.parquet    the training playlists, so baselines and evaluation can refit on them
    metrics.json         training history (loss and songs/s per epoch), timings
    quarantine.jsonl     rows of the input that were set aside, with reasons (if any)
    colisten.npz/.json   the co-listening model of the training playlists (`recsys.colisten`),
                         one kind of evidence of similar songs (if fitted)
    song_text.json/.npz  the songs' text embeddings and the map into song2vec's space that
                         estimates vectors for songs without one (`recsys.song_text`; if fitted)

An artifact is written to a temporary sibling folder and renamed into place in one step, so a
reader sees either the old complete artifact or the new complete one, never a half-written one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl

from foundation.publishing import package_versions as versions_of
from foundation.publishing import publishing, sha256_file
from recsys.base import Recommender
from recsys.catalog import Catalog
from recsys.colisten import CoListening
from recsys.next_song import artist_codes, load_next_song, save_next_song
from recsys.song2vec import Song2Vec
from recsys.song_text import FILES as SONG_TEXT_FILES
from recsys.song_text import SongText

FORMAT = "songspace.song2vec"
FORMAT_VERSION = 1
_PACKAGES = ("songspace", "gensim", "numpy", "polars", "implicit", "faiss-cpu")


class ArtifactError(RuntimeError):
    pass


def fingerprint_playlists(playlists: pl.DataFrame) -> str:
    """sha256 of the playlists' song sequences in order: equal data, equal fingerprint,
    whatever file format it came from."""
    digest = hashlib.sha256()
    grouped = playlists.group_by("playlist_id", maintain_order=True).agg(
        pl.col("song_id").sort_by("position")
    )
    for playlist_id, songs in grouped.iter_rows():
        digest.update(f"{playlist_id}\t{' '.join(songs)}\n".encode())
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages a song2vec artifact depends on, for its manifest."""
    return versions_of(_PACKAGES)


@dataclass
class Artifact:
    """A loaded song2vec artifact: the model, its catalogue and its training playlists."""

    path: Path
    manifest: dict
    model: Song2Vec
    catalog: Catalog
    playlists: pl.DataFrame

    @property
    def training_sentences(self):
        return self.catalog.encode_playlists(self.playlists)

    @cached_property
    def artists(self) -> np.ndarray:
        """An integer per catalogue row, equal for songs of the same artist."""
        return artist_codes(self.catalog.songs["artist"].to_list())

    @cached_property
    def next_song(self) -> dict[str, Recommender]:
        """The learned next-song models the artifact holds ("songspace", the ranker behind
        `continue`; "transformer" and "sasrec" when trained), loaded on first use."""
        return readable(self.path, lambda folder: load_next_song(
            folder, self.model, self.training_sentences, len(self.catalog), self.artists))

    @cached_property
    def colisten(self) -> CoListening | None:
        """Co-listening of the training playlists (None for artifacts trained before it)."""
        return readable(self.path, CoListening.load)

    @cached_property
    def song_text(self) -> SongText | None:
        """The songs' text embeddings and the text map (None when trained without them),
        loaded on first use."""
        return readable(self.path, SongText.load)


def save_artifact(
    target: str | Path,
    model: Song2Vec,
    catalog: Catalog,
    playlists: pl.DataFrame,
    *,
    source: str,
    metrics: dict,
    quarantine_file: Path | None = None,
    report: dict | None = None,
    next_song: dict[str, Recommender] | None = None,
    song_text: SongText | None = None,
    colisten: CoListening | None = None,
) -> Path:
    """Write a complete artifact and publish it atomically at `target` (with the learned
    next-song models and the song text, when given)."""
    with publishing(target) as staging:
        files = model.save(staging)
        files += save_next_song(next_song or {}, staging)
        if song_text is not None:
            files += song_text.save(staging)
        if colisten is not None:
            files += colisten.save(staging)
        catalog.songs.write_parquet(staging / "songs.parquet")
        playlists.write_parquet(staging / "playlists.parquet")
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        files += ["songs.parquet", "playlists.parquet", "metrics.json"]
        if quarantine_file is not None and quarantine_file.exists():
            shutil.copyfile(quarantine_file, staging / "quarantine.jsonl")
            files.append("quarantine.jsonl")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "packages": package_versions(),
            "training_data": {
                "source": source,
                "fingerprint": fingerprint_playlists(playlists),
                "playlists": playlists["playlist_id"].n_unique(),
                "songs_played": playlists.height,
            },
            "catalogue": {"songs": len(catalog), "with_vectors": int(model.trained.sum())},
            "config": model.config.to_dict(),
            "read_report": report or {},
            "metrics": metrics,
            "files": {name: sha256_file(staging / name) for name in files},
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return Path(target)


def add_song_text(artifact: Artifact, song_text: SongText, target: str | Path) -> Path:
    """Publish a copy of `artifact` at `target` (which may be its own folder, replaced
    atomically) holding `song_text` in place of any it had; its metrics (``metrics.json`` and
    the manifest's) gain the text map's summary, and the manifest's file table the new
    files."""
    manifest = json.loads(json.dumps(artifact.manifest))
    files = {n: h for n, h in manifest["files"].items() if n not in SONG_TEXT_FILES}
    metrics = {**manifest["metrics"], "text_map": song_text.summary()}
    with publishing(target) as staging:
        for name in files:
            shutil.copyfile(artifact.path / name, staging / name)
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        for name in (*song_text.save(staging), "metrics.json"):
            files[name] = sha256_file(staging / name)
        manifest.update(files=files, metrics=metrics)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return Path(target)


def load_artifact(path: str | Path, verify: bool = True) -> Artifact:
    """Load an artifact folder; with verify, check every file against the manifest's sha256."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise ArtifactError(f"{path}: not a songspace model (no manifest.json)")
    manifest = read_manifest(manifest_path, FORMAT)
    if verify:
        for name, expected in manifest["files"].items():
            file = path / name
            if not file.is_file():
                raise ArtifactError(f"{path}: {name} is listed in the manifest but missing")
            if sha256_file(file) != expected:
                raise ArtifactError(f"{file}: content does not match the manifest (corrupted?)")
    return Artifact(
        path=path,
        manifest=manifest,
        model=readable(path, Song2Vec.load),
        catalog=Catalog(readable(path / "songs.parquet", pl.read_parquet)),
        playlists=readable(path / "playlists.parquet", pl.read_parquet),
    )


def read_manifest(manifest_path: Path, format_name: str) -> dict:
    """A manifest's JSON, checked: an object of the right format with a ``files`` table."""
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{manifest_path}: expected a JSON manifest: {error}") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{manifest_path}: expected a JSON object")
    if manifest.get("format") != format_name:
        found = manifest.get("format")
        raise ArtifactError(f"{manifest_path}: format {found!r}, expected {format_name!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ArtifactError(f"{manifest_path}, field 'files': expected a table of file names "
                            f"and their sha256, got {files!r:.60}")
    return manifest


def readable(path: Path, read):
    """``read(path)``, its failure (a truncated or corrupt file) an ArtifactError naming it."""
    try:
        return read(path)
    except ArtifactError:
        raise
    except Exception as error:
        text = " ".join(str(error).split())
        raise ArtifactError(f"{path}: cannot read it ({type(error).__name__}: {text})") from None
