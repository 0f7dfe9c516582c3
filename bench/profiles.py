"""Taste profiles at scale: 10,000,000 listening events of 1,000,000 users -> every profile and
the user index, then an incremental batch of 100,000 events, through the real commands.

The data is synthetic and seeded, with the skew of real logs: user activity is log-normal (a
few heavy listeners, a long tail with one or two events), each user has one to three favourite
genres, songs within a genre follow a Zipf-like popularity, and the event mix is 70% plays
(mostly near-complete), 18% early skips, 6% likes, 4% playlist adds and 2% dislikes; a fifth
of the events lack a duration. The catalogue is 50,000 songs with 100-d vectors in 40 genre
clusters, stored as a song2vec model artifact.

Each timed step runs in a fresh process under ``/usr/bin/time -v`` (wall time and peak resident
memory of exactly that command; the data generation is not counted):

1. ``songspace profiles build --logs events.parquet --model ... --out ...`` (reading and
   validating the Parquet log, matching, profiles, interests, user index, atomic publication);
2. ``songspace profiles update --logs batch.parquet --profiles ...`` (100,000 events, 10% of
   them from new users); its JSON reports ``seconds.apply``, the in-memory update of the
   profiles and the user index, apart from loading and re-publishing the artifact;
3. a query process: loading the artifact, then ``recommend`` and ``similar_users`` latencies.

    python bench/profiles.py [--events 10000000] [--users 1000000] [--workdir DIR]
                             [--out bench/results/profiles.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys.artifact import save_artifact  # noqa: E402
from recsys.catalog import Catalog  # noqa: E402
from recsys.song2vec import Song2Vec, Song2VecConfig  # noqa: E402

GENRES = 40
KINDS = np.array(["play", "skip", "like", "dislike", "add_to_playlist"])
KIND_P = np.array([0.70, 0.18, 0.06, 0.02, 0.04])
DAY_MS = 86_400_000
START_MS = 1_672_531_200_000  # 2023-01-01


def make_model(folder: Path, n_songs: int, dim: int, seed: int) -> np.ndarray:
    """A song2vec artifact over a synthetic catalogue; returns each song's duration in ms."""
    rng = np.random.default_rng(seed)
    genre = np.arange(n_songs) * GENRES // n_songs
    centres = rng.normal(size=(GENRES, dim)).astype(np.float32)
    inputs = centres[genre] + 0.6 * rng.normal(size=(n_songs, dim)).astype(np.float32)
    model = Song2Vec(Song2VecConfig(vector_size=dim))
    model.input_vectors = inputs
    model.output_vectors = (0.5 * inputs + 0.3 * rng.normal(size=(n_songs, dim))).astype(
        np.float32)
    model.trained = np.ones(n_songs, bool)
    model.n_items = n_songs
    songs = pl.DataFrame({
        "song_id": [f"s{i}" for i in range(n_songs)],
        "title": [f"Song {i}" for i in range(n_songs)],
        "artist": [f"Artist {i // 10}" for i in range(n_songs)],
        "tags": [[f"genre{g}"] for g in genre],
    })
    playlists = pl.DataFrame({"playlist_id": np.repeat(np.arange(1000), 5).astype(str),
                              "position": np.tile(np.arange(5), 1000).astype(np.int32),
                              "song_id": [f"s{i}" for i in rng.integers(0, n_songs, 5000)]})
    save_artifact(folder, model, Catalog(songs), playlists, source="bench/profiles.py synthetic",
                  metrics={})
    return rng.integers(120_000, 360_000, n_songs)


def make_events(n_events: int, n_users: int, first_user: int, n_songs: int,
                durations: np.ndarray, days: tuple[float, float], seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.3, n_users)
    # Every user has at least one event; the rest follow the skewed activity.
    user = np.concatenate([np.arange(n_users), rng.choice(
        n_users, n_events - n_users, p=activity / activity.sum())]) if n_events >= n_users \
        else rng.choice(n_users, n_events, p=activity / activity.sum())
    tastes = rng.integers(0, GENRES, (n_users, 3))
    n_tastes = rng.integers(1, 4, n_users)
    genre = tastes[user, (rng.random(len(user)) * n_tastes[user]).astype(np.int64)]
    per_genre = n_songs // GENRES
    popularity = 1.0 / np.arange(1, per_genre + 1) ** 0.9
    cdf = np.cumsum(popularity) / popularity.sum()
    song = genre * per_genre + np.minimum(np.searchsorted(cdf, rng.random(len(user))),
                                          per_genre - 1)
    kind = rng.choice(len(KINDS), len(user), p=KIND_P)
    duration = durations[song]
    completion = np.where(kind == 0, rng.beta(5, 1, len(user)),
                          np.where(kind == 1, rng.uniform(0, 0.15, len(user)), 0.0))
    known = rng.random(len(user)) < 0.8
    ts = START_MS + (rng.uniform(*days, len(user)) * DAY_MS).astype(np.int64)
    frame = pl.DataFrame({
        "u": user + first_user, "s": song, "ts": ts, "ms_played": (completion * duration)
        .astype(np.int64), "kind": kind.astype(np.int8),
        "duration_ms": np.where(known, duration, -1),
    })
    return frame.select(
        pl.concat_str(pl.lit("u"), pl.col("u").cast(pl.Utf8).str.zfill(7)).alias("user_id"),
        pl.concat_str(pl.lit("s"), pl.col("s").cast(pl.Utf8)).alias("song_id"),
        pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"),
        "ms_played",
        pl.col("kind").replace_strict(dict(enumerate(KINDS)), return_dtype=pl.Utf8)
        .alias("event"),
        pl.when(pl.col("duration_ms") > 0).then(pl.col("duration_ms")).alias("duration_ms"),
    )


def timed(command: list[str]) -> dict:
    """Run a command under /usr/bin/time -v: its JSON stdout, wall seconds, peak RSS."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                            env={**os.environ, "SONGSPACE_LOG": "WARNING"}, check=False)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)[1])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)",
                     result.stderr)[1]
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return {"wall_s": round(seconds, 2), "peak_rss_mib": round(rss / 1024, 1),
            "output": json.loads(lines[-1]) if lines else None}


def warm_apply(store, model, batch: Path, repeats: int = 3) -> list[float]:
    """Seconds to apply the batch in memory, `repeats` times in this warm process (what a
    long-running server does with each batch it is sent; the `profiles update` command pays
    for a cold process on top). The first repeat meets the state as loaded; later ones apply
    the same events again, to users that now all exist: the same work but for the new rows."""
    from pipelines.logs import read_logs
    from pipelines.profiling import apply_events

    events = read_logs(batch, songs=model.catalog.songs).events
    seconds = []
    for _ in range(repeats):
        mark = time.perf_counter()
        apply_events(store, model, events)
        seconds.append(round(time.perf_counter() - mark, 3))
    return seconds


def query(profiles: Path, batch: Path | None = None, repeats: int = 50) -> None:
    """Child process: load the artifact and time single-user queries, then (with `batch`) the
    in-memory application of the batch in this warm process (prints one JSON)."""
    from recsys.profile_artifact import load_model_for, load_profiles
    from recsys.profiles import song_space
    from recsys.user_index import TasteRecommender

    started = time.perf_counter()
    store = load_profiles(profiles)
    model = load_model_for(store)
    unit = song_space(model.model.input_vectors, model.model.trained, store.state.config)
    taste = TasteRecommender(store.state, model.catalog, unit, model.model.output_vectors,
                             store.user_index)
    loaded = time.perf_counter() - started
    rng = np.random.default_rng(0)
    with_profile = np.flatnonzero(store.state.has_profile)
    users = store.state.users.gather(rng.choice(with_profile, repeats)).to_list()
    timings: dict[str, list[float]] = {"recommend": [], "recommend_interests_mmr": [],
                                       "similar_users": []}
    for user in users:
        for name, call in (("recommend", lambda u: taste.recommend(u, 10)),
                           ("recommend_interests_mmr",
                            lambda u: taste.recommend(u, 10, diversity=0.3, interests=True)),
                           ("similar_users", lambda u: taste.similar_users(u, 10))):
            mark = time.perf_counter()
            call(user)
            timings[name].append(time.perf_counter() - mark)
    applied = {} if batch is None else {"warm_apply_s": warm_apply(store, model, batch)}
    print(json.dumps({"load_s": round(loaded, 2), **{
        f"{name}_ms_median": round(1000 * float(np.median(t)), 1) for name, t in timings.items()
    }, **applied}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--songs", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/songspace-bench-profiles"))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "profiles.json")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    parser.add_argument("--query", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--query-batch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.query:
        query(args.query, args.query_batch)
        return

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    durations = make_model(work / "model", args.songs, args.dim, args.seed)
    events = make_events(args.events, args.users, 0, args.songs, durations, (0, 365), args.seed)
    events.write_parquet(work / "events.parquet")
    del events
    # The batch: a day of later listening, 90% by known users and 10% by new ones.
    known = make_events(args.batch * 9 // 10, args.users, 0, args.songs, durations, (365, 366),
                        args.seed + 1)
    fresh = make_events(args.batch - known.height, args.batch // 20, args.users, args.songs,
                        durations, (365, 366), args.seed + 2)
    pl.concat([known, fresh]).write_parquet(work / "batch.parquet")
    generated = time.perf_counter() - started
    print(f"generated {args.events:,} + {args.batch:,} events in {generated:.0f}s", file=sys.stderr)

    songspace = [str(Path(sys.executable).with_name("songspace"))]
    # Other work on the machine slows every figure here; the load average says how much.
    load = {"before_build": os.getloadavg()[0]}
    build = timed([*songspace, "profiles", "build", "--logs", str(work / "events.parquet"),
                   "--model", str(work / "model"), "--out", str(work / "profiles"), "--json"])
    print(f"build: {build['wall_s']}s, {build['peak_rss_mib']} MiB", file=sys.stderr)
    update = timed([*songspace, "profiles", "update", "--logs", str(work / "batch.parquet"),
                    "--profiles", str(work / "profiles"), "--json"])
    print(f"update: {update['wall_s']}s, apply {update['output']['seconds']['apply']}s",
          file=sys.stderr)
    load["after_update"] = os.getloadavg()[0]
    queries = timed([sys.executable, __file__, "--query", str(work / "profiles"),
                     "--query-batch", str(work / "batch.parquet")])
    size = sum(f.stat().st_size for f in (work / "profiles").iterdir())
    report = {
        "events": args.events, "users": args.users, "songs": args.songs, "dim": args.dim,
        "batch": args.batch, "cpus": os.cpu_count(), "generate_s": round(generated, 1),
        "build": build, "update": update, "queries": queries,
        "artifact_mib": round(size / 2**20, 1), "load_average": load,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("build", "update")}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
