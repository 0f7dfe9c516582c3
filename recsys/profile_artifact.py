"""Profiles artifacts: a folder with every user's profile, its sufficient statistics and the user
index, tied to the model artifact it was built from.

    manifest.json          format, creation time, package versions, the model it was built from
                           (path and training-data fingerprint), counts, the history of builds
                           and updates with their read reports, and the sha256 of every file
    config.json            the ProfileConfig
    users.parquet          user_id, last_ts (epoch s of the latest event), total_weight; row u
                           of every per-user array belongs to user u
    weighted_sum.npy       float32 (n_users, d) sum of weight x unit song vector
    profiles.npy           float32 (n_users, d) unit profiles (zero: no usable signal yet)
    pairs.parquet          user, song (catalogue index of the model), evidence, events: the
                           played songs per user, with what incremental updates need
    interests.parquet      user, share of each interest centroid (users with several)
    interest_vectors.npy   float32 (n_interests, d) the centroids, row i = interests row i
    song_clusters.npy      int32 (n_songs,) the catalogue region of each song (for interests)
    index.faiss, index.json  the user index (recsys.index.VectorIndex)
    unmatched.parquet      song keys of events the catalogue did not have, with event counts
    quarantine.jsonl       bad rows set aside, with reasons (when there were any)
    colisten.npz, colisten.json  the co-listening model (`recsys.colisten`), learnt by a build
                           and kept by updates
    exclusions.json        what users excluded from their taste profile (`recsys.exclusions`);
                           not in the manifest's files: it changes between builds

Like model artifacts, it is written to a temporary sibling folder and swapped into place
atomically (`foundation.publishing.publishing`), so an update that fails leaves the old one intact.
A build or update over an existing folder keeps its exclusions.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from foundation.publishing import sha256_file
from recsys.artifact import (
    Artifact,
    ArtifactError,
    load_artifact,
    package_versions,
    read_manifest,
)
from recsys.colisten import CoListening
from recsys.exclusions import publishing_keeping_exclusions
from recsys.growable import load_npy_with_room, with_room
from recsys.index import VectorIndex
from recsys.interests import Interests
from recsys.profiles import Pairs, ProfileConfig, ProfileState

FORMAT = "songspace.profiles"
FORMAT_VERSION = 1
_UNMATCHED_SCHEMA = {"song_id": pl.Utf8, "track_uri": pl.Utf8, "title": pl.Utf8,
                     "artist": pl.Utf8, "events": pl.Int64}


@dataclass
class ProfileArtifact:
    """A loaded profiles folder."""

    path: Path
    manifest: dict
    state: ProfileState
    user_index: VectorIndex
    unmatched: pl.DataFrame
    quarantine: list[str]  # JSON Lines of every bad row set aside so far
    colisten: CoListening | None = None  # None: built before co-listening existed

    @property
    def model_path(self) -> Path:
        return Path(self.manifest["model"]["path"])


def merge_unmatched(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Unmatched song keys of several reads, with their event counts added up."""
    parts = [f.select(pl.col(c).cast(t) for c, t in _UNMATCHED_SCHEMA.items())
             for f in frames if f is not None]
    if not parts:
        return pl.DataFrame(schema=_UNMATCHED_SCHEMA)
    keys = ["song_id", "track_uri", "title", "artist"]
    return (pl.concat(parts).group_by(keys).agg(pl.col("events").sum())
            .sort(["events", *keys], descending=[True, False, False, False, False],
                  nulls_last=True))


def model_reference(model: Artifact) -> dict:
    return {
        "path": str(model.path.absolute()),
        "fingerprint": model.manifest["training_data"]["fingerprint"],
        "songs": len(model.catalog),
        "dim": int(model.model.input_vectors.shape[1]),
    }


def save_profiles(
    target: str | Path,
    state: ProfileState,
    user_index: VectorIndex,
    *,
    model: dict,
    history: list[dict],
    unmatched: pl.DataFrame,
    quarantine: list[str],
    colisten: CoListening | None = None,
) -> Path:
    """Write a complete profiles folder and publish it atomically at `target`, keeping the
    exclusions of the folder it replaces (`recsys.exclusions`).

    Parameters
    ----------
    model : dict
        :func:`model_reference` of the model the profiles were built with.
    history : list of dict
        One entry per build or update (what was read, when, the counts); the last is this run.
    unmatched : polars.DataFrame
        All unmatched song keys so far (:func:`merge_unmatched`).
    quarantine : list of str
        All quarantined rows so far, as JSON Lines.
    colisten : CoListening, optional
        The co-listening model (a build learns it, an update keeps the loaded one).
    """
    with publishing_keeping_exclusions(target) as staging:
        pl.DataFrame({"user_id": state.users, "last_ts": state.last_ts,
                      "total_weight": state.total_weight, "has_profile": state.has_profile}
                     ).write_parquet(staging / "users.parquet")
        np.save(staging / "weighted_sum.npy", state.weighted_sum.astype(np.float32, copy=False))
        np.save(staging / "profiles.npy", state.profiles.astype(np.float32, copy=False))
        # Sorted by user, so that a loaded state finds a user's songs by binary search.
        p = state.pairs if np.all(np.diff(state.pairs.user) >= 0) else \
            state.sorted_by_user().pairs
        pl.DataFrame({"user": p.user, "song": p.item, "evidence": p.evidence,
                      "events": p.events}).write_parquet(
            staging / "pairs.parquet", compression="lz4")
        interests = state.interests.live()
        order = np.lexsort((-interests.share, interests.user))
        pl.DataFrame({"user": interests.user[order], "share": interests.share[order]}
                     ).write_parquet(staging / "interests.parquet")
        np.save(staging / "interest_vectors.npy", interests.vectors[order])
        np.save(staging / "song_clusters.npy", state.clusters)
        user_index.save(staging)
        if colisten is not None:
            colisten.save(staging)
        unmatched.write_parquet(staging / "unmatched.parquet")
        (staging / "config.json").write_text(json.dumps(state.config.to_dict(), indent=2) + "\n")
        if quarantine:
            (staging / "quarantine.jsonl").write_text("".join(q + "\n" for q in quarantine))
        files = sorted(f.name for f in staging.iterdir())
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "packages": package_versions(),
            "model": model,
            "counts": {
                "users": len(state),
                "users_with_profile": int(state.has_profile.sum()),
                "played_pairs": len(state.pairs),
                "events": int(state.pairs.events.sum()),
                "users_with_interests": state.interests.n_users,
                "interests": len(interests.user),
                "unmatched_songs": unmatched.height,
                "quarantined": len(quarantine),
            },
            "config": state.config.to_dict(),
            "history": history,
            "files": {name: sha256_file(staging / name) for name in files},
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return Path(target)


def load_profiles(path: str | Path, verify: bool = True) -> ProfileArtifact:
    """Load a profiles folder; with verify, check every file against the manifest's sha256.

    Raises
    ------
    ArtifactError
        If the folder is not a profiles artifact, or a file is missing or corrupted.
    """
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise ArtifactError(f"{path}: not a songspace profiles folder (no manifest.json); "
                            "build one with `songspace profiles build`")
    manifest = read_manifest(manifest_path, FORMAT)
    for name, expected in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise ArtifactError(f"{path}: {name} is listed in the manifest but missing")
        if verify and sha256_file(file) != expected:
            raise ArtifactError(f"{file}: content does not match the manifest (corrupted?)")
    config = ProfileConfig.from_dict(json.loads((path / "config.json").read_text()),
                                     str(path / "config.json"))
    users = pl.read_parquet(path / "users.parquet")
    pairs = pl.read_parquet(path / "pairs.parquet")
    interests = pl.read_parquet(path / "interests.parquet")
    # Loaded with room to grow, so that incremental updates write in place (recsys.growable).
    state = ProfileState(
        users=users["user_id"],
        last_ts=with_room(users["last_ts"].to_numpy()),
        weighted_sum=load_npy_with_room(path / "weighted_sum.npy"),
        total_weight=with_room(users["total_weight"].to_numpy()),
        pairs=Pairs(*(with_room(pairs[c].to_numpy())
                      for c in ("user", "song", "evidence", "events"))),
        interests=Interests(with_room(interests["user"].to_numpy()),
                            load_npy_with_room(path / "interest_vectors.npy"),
                            with_room(interests["share"].to_numpy())),
        clusters=np.load(path / "song_clusters.npy"),
        config=config,
        _profiles=load_npy_with_room(path / "profiles.npy"),
        _has_profile=(with_room(users["has_profile"].to_numpy())
                      if "has_profile" in users.columns else None),
    )
    quarantine_file = path / "quarantine.jsonl"
    quarantine = quarantine_file.read_text().splitlines() if quarantine_file.is_file() else []
    return ProfileArtifact(path, manifest, state, VectorIndex.load(path),
                           pl.read_parquet(path / "unmatched.parquet"), quarantine,
                           CoListening.load(path))


def load_model_for(profiles: ProfileArtifact, verify: bool = True) -> Artifact:
    """The model artifact the profiles were built from, checked to be that very model.

    Raises
    ------
    ArtifactError
        If it is gone, or was retrained since (another training-data fingerprint) or has
        another catalogue: the profiles' song indices would point at the wrong songs.
    """
    reference = profiles.manifest["model"]
    try:
        model = load_artifact(reference["path"], verify=verify)
    except (ArtifactError, FileNotFoundError) as error:
        raise ArtifactError(
            f"{profiles.path}: cannot load the model it was built from: {error}") from None
    found = model_reference(model)
    if (found["fingerprint"], found["songs"]) != (reference["fingerprint"], reference["songs"]):
        raise ArtifactError(
            f"{profiles.path} was built from the model at {reference['path']} with training data "
            f"{reference['fingerprint'][:12]}..., but that model now has "
            f"{found['fingerprint'][:12]}... ({found['songs']} songs); rebuild the profiles "
            "with `songspace profiles build`")
    return model
