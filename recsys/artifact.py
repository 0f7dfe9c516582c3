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

An artifact is written to a temporary sibling folder and renamed into place in one step, so a
reader sees either the old complete artifact or the new complete one, never a half-written one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import polars as pl

from recsys.catalog import Catalog
from recsys.song2vec import Song2Vec

FORMAT = "songspace.song2vec"
FORMAT_VERSION = 1
_PACKAGES = ("songspace", "gensim", "numpy", "polars", "implicit", "faiss-cpu")


class ArtifactError(RuntimeError):
    pass


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return result == 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def publishing(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `target`; when the block ends without error, put it
    in place of `target` in one atomic rename (an atomic exchange when `target` exists).
    On error the temporary folder is removed and `target` is untouched."""
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        for child in staging.iterdir():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(staging)
        if not target.exists():
            os.rename(staging, target)
        elif _exchange(staging, target):
            shutil.rmtree(staging)  # now holds the previous artifact
        else:
            # No atomic exchange here: move the old one aside first, keeping the gap tiny.
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
            os.rename(staging, target)
            shutil.rmtree(old)
        _fsync_dir(target.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


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
) -> Path:
    """Write a complete artifact and publish it atomically at `target`."""
    with publishing(target) as staging:
        files = model.save(staging)
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


def load_artifact(path: str | Path, verify: bool = True) -> Artifact:
    """Load an artifact folder; with verify, check every file against the manifest's sha256."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise ArtifactError(f"{path}: not a songspace model (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        found = manifest.get("format")
        raise ArtifactError(f"{manifest_path}: format {found!r}, expected {FORMAT!r}")
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
        model=Song2Vec.load(path),
        catalog=Catalog(pl.read_parquet(path / "songs.parquet")),
        playlists=pl.read_parquet(path / "playlists.parquet"),
    )
