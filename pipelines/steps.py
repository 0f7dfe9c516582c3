"""The steps of ``songspace pipeline run``, in order; each calls the library code the matching
command calls (`read_playlists`, `train_song2vec`, `build_from_logs`, `evaluate_artifact`...).

    ingest     raw playlists (+ catalogue) -> canonical Parquet; raw logs -> user-bucketed
               Parquet partitions, matched to the catalogue (engine: one task per log file)
    validate   checks of the canonical data, the seeded train / test split, and, when no logs
               were given, logs derived from the training playlists (each playlist is a user
               who played its songs in order, each to the end, 3.5 minutes apart)
    train      song2vec on the training playlists -> model artifact
    index      the song indexes `songspace similar` / `continue` search
    profiles   taste profiles, the user index and co-listening (local: `build_from_logs`; ray:
               one task per user bucket, merged), with the served run's exclusions carried in
    recommend  top-k unplayed songs for every user (engine: one task per user partition)
    evaluate   next-song metrics against the baselines, similar songs by tags, and how
               popular the recommended songs are
    report     HTML page with figures

Publishing the run is the runner's last act (`pipelines.runner`), not a step.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.batch import (
    bucket_folders,
    bucket_profiles,
    ingest_log_file,
    merge_states,
    read_unmatched,
    recommend_partition,
    write_buckets,
    write_user_partitions,
)
from pipelines.engines import Engine
from pipelines.logs import _log_files
from pipelines.profiling import build_from_logs, learn_colisten
from pipelines.readers import read_playlists, write_dataset
from pipelines.readers.core import _Sink
from pipelines.report import write_report
from pipelines.schemas import DataError, Dataset
from pipelines.splits import split_dataset
from pipelines.step import BadInput, Step, StepContext
from pipelines.training import evaluate_artifact, evaluate_similar_artifact, train_song2vec
from recsys.artifact import load_artifact
from recsys.exclusions import FILE as EXCLUSIONS_FILE
from recsys.exclusions import AppliedExclusions, Exclusions, change_exclusions, locked
from recsys.index import VectorIndex
from recsys.profile_artifact import (
    ProfileArtifact,
    load_model_for,
    load_profiles,
    merge_unmatched,
    model_reference,
    save_profiles,
)
from recsys.profiles import item_space, song_popularity, song_space
from recsys.search import SongSearch
from recsys.song2vec import TrainingDataError
from recsys.user_index import build_user_index

DERIVED_SONG_MS = 210_000  # each derived play lasts a whole (default-length) song
DERIVED_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _read(path: Path, **options) -> Dataset:
    try:
        return read_playlists(path, **options)
    except DataError as error:
        raise BadInput(str(error)) from None
    except FileNotFoundError as error:
        raise BadInput(str(error)) from None


def _model(ctx: StepContext):
    return load_artifact(ctx.input("train") / "model")


# --------------------------------------------------------------------------------------------
# ingest
# --------------------------------------------------------------------------------------------


def _raw_files(config) -> list[Path]:
    data = config.data
    return [Path(p) for p in (data.playlists, data.songs, data.logs) if p]


def ingest(ctx: StepContext) -> dict:
    data = ctx.config.data
    ctx.on_stage("reading playlists")
    quarantine = ctx.out / "quarantine" / "playlists.jsonl"
    quarantine.parent.mkdir()
    dataset = _read(Path(data.playlists), songs_path=data.songs, on_error=data.on_error,
                    quarantine_path=quarantine if data.on_error == "quarantine" else None)
    write_dataset(dataset, ctx.out / "data")
    report = dataset.report
    metrics = {"playlists": report.playlists, "songs": report.songs,
               "quarantined": report.quarantined, "read_report": report.as_dict()}
    if data.logs:
        ctx.on_stage("reading logs")
        # An unreadable file found (a dangling or looping link, no permission) is an error, or
        # with on_error = "quarantine" a quarantine record with the reason, as in profiles build.
        sink = _Sink(data.on_error, ctx.out / "quarantine" / "unreadable_logs.jsonl"
                     if data.on_error == "quarantine" else None)
        try:
            files = _log_files(Path(data.logs), sink)
            sink.finish()
            items = [{"file": str(f), "name": f"file-{n:05d}", "out": str(ctx.out)}
                     for n, f in enumerate(files)]
            reports = ctx.engine.map(ingest_log_file, items, songs=dataset.songs,
                                     on_error=data.on_error, buckets=ctx.config.batch.partitions)
        except DataError as error:
            raise BadInput(str(error)) from None
        unmatched = read_unmatched(ctx.out / "unmatched")
        metrics["logs"] = {
            key: sum(r[key] for r in reports)
            for key in ("events_read", "events_matched", "quarantined", "non_music",
                        "unmatched_events")}
        metrics["logs"].update(files=len(files), unmatched_songs=unmatched.height,
                               unreadable_files=[f"{i.file}: {i.detail}" for i in sink.issues])
        if not metrics["logs"]["events_matched"]:
            raise BadInput(f"{data.logs}: no event matched a song of the catalogue "
                           f"({metrics['logs']})")
    return metrics


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------


def check_dataset(dataset: Dataset, min_playlists: int) -> dict:
    """What validation checks of a canonical dataset, with the counts.

    Raises
    ------
    BadInput
        Naming every check that failed.
    """
    songs, playlists = dataset.songs, dataset.playlists
    sizes = playlists.group_by("playlist_id").len()
    counts = {
        "songs": songs.height,
        "playlists": sizes.height,
        "playlist_rows": playlists.height,
        "playlists_of_2_or_more": int((sizes["len"] >= 2).sum()),
        "duplicate_song_ids": songs.height - songs["song_id"].n_unique(),
        "duplicate_positions": playlists.height - playlists.select(
            "playlist_id", "position").n_unique(),
        "songs_not_in_catalogue": int((~playlists["song_id"].is_in(
            songs["song_id"].implode())).sum()),
    }
    problems = [f"{k} = {counts[k]:,}" for k in ("duplicate_song_ids", "duplicate_positions",
                                                  "songs_not_in_catalogue") if counts[k]]
    if counts["playlists_of_2_or_more"] < min_playlists:
        problems.append(f"only {counts['playlists_of_2_or_more']:,} playlists of two or more "
                        f"songs (at least {min_playlists:,} needed)")
    if problems:
        raise BadInput("the ingested data failed validation: " + "; ".join(problems))
    return counts


def derive_logs(playlists: pl.DataFrame) -> pl.DataFrame:
    """Listening events from playlists: each playlist is a user (``user_id`` = playlist id)
    who played its songs in order, each to the end, one song length apart."""
    return (playlists.sort("playlist_id", "position").select(
        pl.col("playlist_id").alias("user_id"),
        "song_id",
        (pl.lit(DERIVED_START) + pl.duration(
            milliseconds=pl.col("position").cast(pl.Int64) * DERIVED_SONG_MS)).alias("ts"),
        pl.lit(DERIVED_SONG_MS, pl.Int64).alias("ms_played"),
        pl.lit("play").alias("event"),
        pl.lit(None, pl.Int64).alias("duration_ms"),
    ))


def validate(ctx: StepContext) -> dict:
    data = ctx.config.data
    dataset = _read(ctx.input("ingest") / "data")
    counts = check_dataset(dataset, data.min_playlists)
    ctx.on_stage("splitting")
    parts = split_dataset(dataset, valid=0.0, test=data.test, seed=data.seed)
    for name in ("train", "test"):
        write_dataset(parts[name], ctx.out / name)
        counts[f"{name}_playlists"] = parts[name].playlists["playlist_id"].n_unique()
    if not (ctx.input("ingest") / "logs").is_dir():
        ctx.on_stage("deriving logs from the training playlists")
        events = derive_logs(parts["train"].playlists)
        write_buckets(events, ctx.out / "logs", "derived", ctx.config.batch.partitions)
        counts["derived_events"] = events.height
    return counts


# --------------------------------------------------------------------------------------------
# train, index
# --------------------------------------------------------------------------------------------


def train(ctx: StepContext) -> dict:
    cfg = ctx.config.song2vec
    dataset = _read(ctx.input("validate") / "train")
    done = [0]
    ctx.on_stage("training song2vec")

    def on_epoch(stats) -> None:
        done[0] += 1
        ctx.on_progress(done[0], cfg.epochs, "epochs")

    try:
        _, metrics = train_song2vec(dataset, cfg, ctx.out / "model",
                                    source=str(ctx.input("validate") / "train"),
                                    on_epoch=on_epoch, next_song=ctx.config.next_song,
                                    on_stage=ctx.on_stage)
    except TrainingDataError as error:
        raise BadInput(str(error)) from None
    return {k: metrics[k] for k in ("train_seconds", "songs_per_s")}


def index(ctx: StepContext) -> dict:
    songs = SongSearch.from_artifact(_model(ctx))
    for name, found in (("similar", songs.song_index), ("next", songs.next_index)):
        found.save(ctx.out / name)
    return {"songs": len(songs.song_index), "kind": songs.song_index.kind}


def load_song_indexes(folder: Path) -> dict[str, VectorIndex]:
    """The indexes the index step wrote: ``similar`` (cosine) and ``next`` (inner product)."""
    return {name: VectorIndex.load(folder / name) for name in ("similar", "next")}


# --------------------------------------------------------------------------------------------
# profiles, recommend
# --------------------------------------------------------------------------------------------


def _logs(ctx: StepContext) -> Path:
    ingested = ctx.input("ingest") / "logs"
    return ingested if ingested.is_dir() else ctx.input("validate") / "logs"


def carry_exclusions(ctx: StepContext, target: Path) -> None:
    """The exclusions users made on the profiles being served (``current``) carried into this
    run's, so that a new run does not forget them."""
    served = ctx.run_dir.parent.parent / "current" / "profiles" / "profiles"
    if not (served / EXCLUSIONS_FILE).is_file():
        return
    with locked(served):
        kept = Exclusions.read(served).users
    change_exclusions(target, lambda exclusions: exclusions.users.update(kept))


def profiles(ctx: StepContext) -> dict:
    model, cfg, logs = _model(ctx), ctx.config.profiles, _logs(ctx)
    target = ctx.out / "profiles"
    if ctx.engine.name == "local":
        report = build_from_logs(logs, model, target, config=cfg, on_stage=ctx.on_stage)
        carry_exclusions(ctx, target)
        return {k: report[k] for k in ("events_used", "users", "users_with_profile",
                                       "users_with_interests")}
    ctx.on_stage("building profiles per user bucket")
    unit = song_space(model.model.input_vectors, model.model.trained, cfg)
    items = [{"folder": str(f)} for f in bucket_folders(logs)]
    state = merge_states(ctx.engine.map(bucket_profiles, items,
                                        song_ids=model.catalog.songs["song_id"],
                                        unit_vectors=unit, config=cfg))
    ctx.on_stage("indexing users")
    index = build_user_index(state)
    ctx.on_stage("learning co-listening")
    colisten = learn_colisten(model, state)
    entry = {"kind": "build", "engine": ctx.engine.name, "logs": str(logs.absolute()),
             "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    save_profiles(target, state, index, model=model_reference(model), history=[entry],
                  unmatched=merge_unmatched([]), quarantine=[], colisten=colisten)
    carry_exclusions(ctx, target)
    has_vector = np.linalg.norm(unit, axis=1) > 0
    return {"events_used": int(state.pairs.events[has_vector[state.pairs.item]].sum()),
            "users": len(state), "users_with_profile": int(state.has_profile.sum()),
            "users_with_interests": state.interests.n_users}


def recommend(ctx: StepContext) -> dict:
    batch = ctx.config.batch
    store = load_profiles(ctx.input("profiles") / "profiles")
    return recommend_everyone(store, ctx.out, batch.k, batch.partitions, batch.batch_size,
                              ctx.engine, ctx.on_stage)


def recommend_everyone(store: ProfileArtifact, out: Path, k: int, partitions: int,
                       batch_size: int, engine: Engine,
                       on_stage: Callable[[str], None] = lambda _: None) -> dict:
    """The top k songs of every user with a profile, as `songspace recommend` ranks them, in
    ``out/top/*.parquet`` (one file per partition of users)."""
    model = load_model_for(store)
    state = store.state
    unit = song_space(model.model.input_vectors, model.model.trained, state.config)
    # Users' exclusions, as `songspace recommend` applies them (profiles recomputed).
    applied = AppliedExclusions(store.path, state, model.catalog, unit, store.user_index)
    items = item_space(state.config, unit, model.model.output_vectors,
                       song_popularity(state, len(model.catalog)))
    # Placeholder songs ("-" by "-") are never recommended.
    known = (np.linalg.norm(unit, axis=1) > 0) & ~model.catalog.placeholder
    on_stage("partitioning users")
    scratch = out / "users"
    files = write_user_partitions(state, scratch, partitions, applied.by_row)
    (out / "top").mkdir()
    parts = [{"file": str(f), "out": str(out / "top" / f.name)} for f in files]
    on_stage(f"top {k} for {int(state.has_profile.sum()):,} users")
    results = engine.map(recommend_partition, parts, items=items, known=known,
                         song_ids=model.catalog.songs["song_id"], k=k, batch_size=batch_size,
                         colisten=store.colisten)
    shutil.rmtree(scratch)
    users = sum(r["users"] for r in results)
    return {"users": users, "users_without_profile": len(state) - users, "k": k,
            "partitions": len(parts)}


def read_recommendations(folder: Path) -> pl.DataFrame:
    """``user_id, song_ids, scores`` of every user, from the recommend step's folder."""
    return pl.read_parquet(folder / "top" / "*.parquet")


# --------------------------------------------------------------------------------------------
# evaluate, report
# --------------------------------------------------------------------------------------------


def popularity_of(recommended: pl.Series, playlists: pl.DataFrame,
                  songs: pl.Series) -> dict:
    """How popular the recommended songs are, against the catalogue's play counts.

    Returns
    -------
    dict
        ``coverage`` (share of the catalogue recommended to someone), ``share_top_1pct`` and
        ``share_top_10pct`` (share of recommendations among the 1% / 10% most played songs),
        ``median_percentile`` (popularity percentile of the median recommendation, 100 = the
        most played) and ``percentiles``: the percentile of every recommendation.
    """
    plays = (pl.DataFrame({"song_id": songs}).join(
        playlists.group_by("song_id").len("plays"), on="song_id", how="left")
        .with_columns(pl.col("plays").fill_null(0)))
    rank = plays["plays"].rank("average").to_numpy()
    percentile = pl.DataFrame({"song_id": plays["song_id"],
                               "percentile": 100.0 * rank / len(rank)})
    flat = pl.DataFrame({"song_id": recommended.explode().drop_nulls()})
    scored = flat.join(percentile, on="song_id", how="left")["percentile"].to_numpy()
    return {
        "recommendations": len(scored),
        "coverage": round(flat["song_id"].n_unique() / max(len(songs), 1), 4),
        "share_top_1pct": round(float((scored > 99).mean()), 4) if len(scored) else 0.0,
        "share_top_10pct": round(float((scored > 90).mean()), 4) if len(scored) else 0.0,
        "median_percentile": round(float(np.median(scored)), 2) if len(scored) else None,
        "percentiles": scored,
    }


def evaluate(ctx: StepContext) -> dict:
    settings, seed = ctx.config.evaluate, ctx.config.data.seed
    model = _model(ctx)
    test = _read(ctx.input("validate") / "test", split="test")
    ctx.on_stage("next-song prediction against the baselines")
    result = evaluate_artifact(model, test, models=tuple(settings.models),
                               max_positions=settings.max_positions, seed=seed,
                               on_model=lambda name, stage: ctx.on_stage(f"{stage} {name}"),
                               on_cases=lambda _, done, total: ctx.on_progress(done, total,
                                                                              "cases"))
    ctx.on_stage("similar songs judged by tags")
    similar = evaluate_similar_artifact(model, max_songs=settings.similar_songs, seed=seed)
    ctx.on_stage("popularity of the recommendations")
    popularity = popularity_of(read_recommendations(ctx.input("recommend"))["song_ids"],
                               model.playlists, model.catalog.songs["song_id"])
    np.save(ctx.out / "recommendation_percentiles.npy", popularity.pop("percentiles"))
    metrics = {"next_song": result, "similar": similar, "recommendations": popularity}
    (ctx.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    song2vec = result["models"].get("song2vec", {})
    return {"cases": result["cases"], **{f"song2vec_{k}": song2vec[k] for k in
                                         ("hr@10", "ndcg@10") if k in song2vec},
            "recommendation_coverage": popularity["coverage"], **metrics}


def report(ctx: StepContext) -> dict:
    metrics = json.loads((ctx.input("evaluate") / "metrics.json").read_text())
    percentiles = np.load(ctx.input("evaluate") / "recommendation_percentiles.npy")
    durations = {name: record.get("seconds", 0.0) for name, record in ctx.records.items()}
    page = write_report(ctx.out, _model(ctx), metrics, percentiles, durations,
                        ctx.config.report)
    return {"page": page.name}


def _section(name: str):
    return lambda config: getattr(config, name).to_dict()


STEPS: list[Step] = [
    Step("ingest", (), lambda c: {
        **{k: getattr(c.data, k) for k in ("playlists", "songs", "logs", "on_error")},
        "buckets": c.batch.partitions}, ingest, files=_raw_files),
    Step("validate", ("ingest",), lambda c: {
        **{k: getattr(c.data, k) for k in ("test", "seed", "min_playlists")},
        "buckets": c.batch.partitions}, validate),
    Step("train", ("validate",), lambda c: {
        "song2vec": c.song2vec.to_dict(), "next_song": c.next_song.to_dict()}, train),
    Step("index", ("train",), lambda c: {}, index),
    Step("profiles", ("ingest", "validate", "train"), _section("profiles"), profiles),
    Step("recommend", ("profiles",), _section("batch"), recommend),
    Step("evaluate", ("validate", "train", "recommend"), lambda c: {
        **c.evaluate.to_dict(), "seed": c.data.seed}, evaluate),
    Step("report", ("train", "evaluate"), _section("report"), report),
]
