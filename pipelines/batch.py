"""The data-parallel work of the pipeline, one Parquet partition at a time.

Each function here takes one partition (a dict naming its files) plus read-only shared
arguments and returns a small result; `pipelines.engines` runs them in this process or on Ray.

- log ingestion: read, validate and match one raw log file, and write its events split into
  user buckets (``logs/bucket=NNNNN/<file>.parquet``), so that every user's events end up in
  exactly one bucket;
- profiles: every profile of one bucket (`recsys.profiles.build_profiles`), merged afterwards;
- batch recommendations: the top k unplayed songs of every user of one partition, scored as
  `recsys.user_index.TasteRecommender` scores them (co-listening blended with profile . item
  space).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy import sparse

from pipelines.logs import read_logs
from pipelines.schemas import OnError
from recsys.colisten import CoListening, blend, user_evidence
from recsys.profile_artifact import merge_unmatched
from recsys.profiles import (
    Interests,
    Pairs,
    ProfileConfig,
    ProfileState,
    build_profiles,
    encode_events,
    queries,
)

BUCKET = "bucket={:05d}"


# --------------------------------------------------------------------------------------------
# Log ingestion
# --------------------------------------------------------------------------------------------


def user_bucket(buckets: int) -> pl.Expr:
    """The bucket of each event's user: a seeded hash of the user id, modulo `buckets`."""
    return (pl.col("user_id").hash(seed=0) % buckets).cast(pl.Int32)


def write_buckets(events: pl.DataFrame, logs: Path, name: str, buckets: int) -> None:
    """Write `events` (canonical schema) as ``logs/bucket=NNNNN/<name>.parquet``, one file per
    bucket that has events, keeping their order."""
    for (bucket,), part in events.with_columns(_bucket=user_bucket(buckets)).partition_by(
            "_bucket", as_dict=True, maintain_order=True).items():
        folder = logs / BUCKET.format(bucket)
        folder.mkdir(parents=True, exist_ok=True)
        part.drop("_bucket").write_parquet(folder / f"{name}.parquet")


def ingest_log_file(item: dict, *, songs: pl.DataFrame, on_error: OnError,
                    buckets: int) -> dict:
    """Read one raw log file, match it to the catalogue, write its events by user bucket.

    Parameters
    ----------
    item : dict
        ``{"file": raw log file, "name": output file stem, "out": the step's folder}``;
        events go to ``out/logs/``, quarantined rows to ``out/quarantine/<name>.jsonl`` and
        unmatched song keys to ``out/unmatched/<name>.parquet``.

    Returns
    -------
    dict
        The read report of the file (:class:`pipelines.logs.LogReport`).
    """
    out = Path(item["out"])
    quarantine = out / "quarantine" / f"{item['name']}.jsonl"
    if on_error == "quarantine":
        quarantine.parent.mkdir(parents=True, exist_ok=True)
    listening = read_logs(item["file"], songs=songs, on_error=on_error,
                          quarantine_path=quarantine if on_error == "quarantine" else None)
    write_buckets(listening.events, out / "logs", item["name"], buckets)
    if listening.unmatched is not None and listening.unmatched.height:
        (out / "unmatched").mkdir(exist_ok=True)
        listening.unmatched.write_parquet(out / "unmatched" / f"{item['name']}.parquet")
    report = listening.report.as_dict()
    report["events_matched"] = listening.events.height
    return report


def read_unmatched(folder: Path) -> pl.DataFrame:
    """The unmatched song keys of every ingested file, counts added up."""
    return merge_unmatched([pl.read_parquet(f) for f in sorted(folder.glob("*.parquet"))])


def bucket_folders(logs: Path) -> list[Path]:
    return sorted(p for p in logs.iterdir() if p.is_dir() and p.name.startswith("bucket="))


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


def bucket_profiles(item: dict, *, song_ids: pl.Series, unit_vectors: np.ndarray,
                    config: ProfileConfig) -> ProfileState:
    """Every profile of the users of one bucket (``item["folder"]``), from all their events."""
    files = sorted(Path(item["folder"]).glob("*.parquet"))
    events = pl.concat([pl.read_parquet(f) for f in files])
    users, user, song, ts, signal = encode_events(
        events, song_ids, pl.Series("user_id", [], pl.Utf8), config)
    return build_profiles(users, user, song, ts, signal, unit_vectors, config)


def merge_states(parts: list[ProfileState]) -> ProfileState:
    """One state from the states of disjoint sets of users (user rows renumbered in order).

    Raises
    ------
    ValueError
        If the parts were built with different catalogue regions or settings.
    """
    if not parts:
        raise ValueError("no profiles to merge")
    first = parts[0]
    for part in parts[1:]:
        if not np.array_equal(part.clusters, first.clusters) or part.config != first.config:
            raise ValueError("profile parts were built with different regions or settings")
    offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
    pairs = Pairs.concat([
        Pairs((p.pairs.user + off).astype(np.int32), p.pairs.item, p.pairs.evidence,
              p.pairs.events) for p, off in zip(parts, offsets, strict=True)])
    interests = Interests.concat([
        Interests((p.interests.user + off).astype(p.interests.user.dtype), p.interests.vectors,
                  p.interests.share) for p, off in zip(parts, offsets, strict=True)])
    return ProfileState(
        users=pl.concat([p.users for p in parts]),
        last_ts=np.concatenate([p.last_ts for p in parts]),
        weighted_sum=np.concatenate([p.weighted_sum for p in parts]),
        total_weight=np.concatenate([p.total_weight for p in parts]),
        pairs=pairs, interests=interests, clusters=first.clusters, config=first.config)


# --------------------------------------------------------------------------------------------
# Batch recommendations
# --------------------------------------------------------------------------------------------


def write_user_partitions(state: ProfileState, folder: Path, partitions: int,
                          excluded: dict[int, np.ndarray] | None = None) -> list[Path]:
    """The users that have a profile, as Parquet partitions of ``user_id``, ``profile``
    (float32 array), ``played`` (catalogue indices of the songs they have events for, and of
    those they excluded: neither is recommended) and ``evidence`` (each played song's
    saturated evidence, for co-listening; 0 for excluded songs)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = np.flatnonzero(state.has_profile)
    items, evidence = user_evidence(state.pairs, state.config)
    pairs = pl.DataFrame({"_row": state.pairs.user.astype(np.int64), "played": items,
                          "evidence": evidence.astype(np.float32)})
    if excluded:
        out = pl.DataFrame({
            "_row": np.concatenate([np.full(len(s), r, np.int64) for r, s in excluded.items()]),
            "played": np.concatenate(list(excluded.values())).astype(items.dtype),
            "evidence": pl.Series([0.0] * sum(len(s) for s in excluded.values()),
                                  dtype=pl.Float32)})
        pairs = pl.concat([out, pairs.join(out.select("_row", "played"),
                                           on=["_row", "played"], how="anti")])
    played = (pairs.sort("_row", "played").group_by("_row", maintain_order=True)
              .agg("played", "evidence"))
    files = []
    for n, chunk in enumerate(np.array_split(rows, min(partitions, max(len(rows), 1)))):
        frame = pl.DataFrame({"_row": chunk.astype(np.int32),
                              "user_id": state.users.gather(chunk),
                              "profile": state.profile_of(chunk).astype(np.float32)})
        frame = frame.join(played, on="_row", how="left", maintain_order="left").drop("_row")
        file = folder / f"part-{n:05d}.parquet"
        frame.write_parquet(file)
        files.append(file)
    return files


def top_k(profiles: np.ndarray, played_rows: np.ndarray, played_items: np.ndarray,
          items: np.ndarray, known: np.ndarray, k: int, colisten: CoListening | None = None,
          played_evidence: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k best unplayed songs for each profile.

    Parameters
    ----------
    profiles : float32 (B, d)
        Unit profiles.
    played_rows, played_items : int arrays (P,)
        Row of `profiles` and catalogue index of each played song (excluded).
    items : float32 (n_items, d + 1)
        `recsys.profiles.item_space`: a song's score is ``[profile, 1] . items[song]``.
    known : bool (n_items,)
        Songs with a vector; only they are recommended.
    colisten, played_evidence : optional
        The co-listening model and the evidence of each played song, blended in as
        `recsys.user_index.TasteRecommender` does.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        int32 (B, k) catalogue indices best first (-1 where fewer than k songs qualify) and
        float32 (B, k) their scores (-inf there).
    """
    scores = queries(profiles) @ items.T  # (B, n_items)
    scores[:, ~known] = -np.inf
    if colisten is not None:
        histories = sparse.csr_matrix((played_evidence, (played_rows, played_items)),
                                      shape=scores.shape, dtype=np.float32)
        scores = blend(colisten.batch_scores(histories), scores, np.flatnonzero(known),
                       colisten.config.profile_weight)
    scores[played_rows, played_items] = -np.inf
    n_items = scores.shape[1]
    k = min(k, n_items)
    best = np.argpartition(scores, n_items - k, axis=1)[:, n_items - k:]  # (B, k) unordered
    best_scores = np.take_along_axis(scores, best, axis=1)
    order = np.lexsort((best, -best_scores), axis=1)  # by score, then catalogue index
    best = np.take_along_axis(best, order, axis=1).astype(np.int32)
    best_scores = np.take_along_axis(best_scores, order, axis=1)
    best[~np.isfinite(best_scores)] = -1
    return best, best_scores


def recommend_partition(item: dict, *, items: np.ndarray, known: np.ndarray,
                        song_ids: pl.Series, k: int, batch_size: int,
                        colisten: CoListening | None = None) -> dict:
    """Top-k recommendations for every user of one partition (``item["file"]``), written to
    ``item["out"]`` as ``user_id``, ``song_ids`` (list of str) and ``scores`` (list of
    float32), best first.

    Returns
    -------
    dict
        ``{"users", "seconds"}``.
    """
    started = time.perf_counter()
    frame = pl.read_parquet(item["file"])
    profiles = frame["profile"].to_numpy().astype(np.float32, copy=False)  # (n, d)
    played = frame["played"].fill_null([])
    lengths = played.list.len().to_numpy().astype(np.int64)
    rows = np.repeat(np.arange(frame.height), lengths)
    flat = played.explode().drop_nulls().to_numpy().astype(np.int64)
    flat_evidence = frame["evidence"].fill_null([]).explode().drop_nulls().to_numpy()
    starts = np.concatenate([[0], np.cumsum(lengths)])
    chosen, scored = [], []
    for lo in range(0, frame.height, batch_size):
        hi = min(lo + batch_size, frame.height)
        span = slice(starts[lo], starts[hi])
        best, scores = top_k(profiles[lo:hi], rows[span] - lo, flat[span], items, known, k,
                             colisten, flat_evidence[span])
        chosen.append(best)
        scored.append(scores)
    best = np.concatenate(chosen) if chosen else np.zeros((0, k), np.int32)
    scores = np.concatenate(scored) if scored else np.zeros((0, k), np.float32)
    width = best.shape[1]
    flat_best = pl.Series(best.ravel().astype(np.int64))
    ids = song_ids.gather(flat_best.set(flat_best < 0, None))
    out = pl.DataFrame({
        "user_id": frame["user_id"],
        "song_ids": ids.reshape((frame.height, width)).cast(pl.List(pl.Utf8)),
        "scores": pl.Series(scores.astype(np.float32)).cast(pl.List(pl.Float32)),
    })
    out.write_parquet(item["out"])
    return {"users": frame.height, "seconds": round(time.perf_counter() - started, 3)}
