"""Pieces of the batch pipeline on small seeded data: log ingestion by user bucket, the batch
top-k against a brute-force ranking, the atomic `current` pointer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from foundation.paths import DEFAULT_DATA
from pipelines.batch import bucket_folders, top_k
from pipelines.engines import LocalEngine
from pipelines.pipeline_config import PipelineConfig, load_config
from pipelines.run_manifest import publish
from pipelines.step import BadInput, StepContext
from pipelines.steps import ingest


def write_logs(folder: Path, seed: int = 0) -> int:
    """Two log files (CSV and JSON Lines) of 40 users; one bad row, one unknown song."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    rows = [{"user_id": f"user{rng.integers(40)}", "song_id": str(rng.integers(3168)),
             "ts": f"2024-03-{1 + n % 28:02d}T10:00:00Z", "ms_played": int(rng.integers(0, 3e5)),
             "event": str(rng.choice(["play", "skip", "like"]))} for n in range(600)]
    pl.DataFrame(rows[:300]).write_csv(folder / "a.csv")
    (folder / "a.csv").write_text((folder / "a.csv").read_text()
                                  + "user1,5,2024-03-02T10:00:00Z,x,play\n")
    rows[400]["song_id"] = "no-such-song"
    (folder / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[300:]))
    return 601


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("raw") / "logs"
    write_logs(folder)
    return folder


def ingest_logs(logs: Path, out: Path, engine, on_error: str = "quarantine") -> dict:
    config = PipelineConfig.from_dict({"data": {"playlists": str(DEFAULT_DATA),
                                                "logs": str(logs), "on_error": on_error},
                                       "batch": {"partitions": 4}})
    out.mkdir()
    return ingest(StepContext(out=out, run_dir=out, config=config, engine=engine))


def log_buckets(out: Path) -> dict[str, pl.DataFrame]:
    return {folder.name: pl.concat([pl.read_parquet(f) for f in sorted(folder.glob("*"))])
            for folder in bucket_folders(out / "logs")}


def test_log_ingestion_buckets_users(logs, tmp_path):
    """On the local engine; tests/pipelines/test_pipeline_run.py compares Ray's buckets."""
    report = ingest_logs(logs, tmp_path / "local", LocalEngine())["logs"]
    assert report == {"events_read": 601, "events_matched": 599, "quarantined": 1,
                      "non_music": 0, "unmatched_events": 1, "files": 2, "unmatched_songs": 1,
                      "unreadable_files": []}
    buckets = log_buckets(tmp_path / "local")
    assert sum(b.height for b in buckets.values()) == 599
    users = [set(b["user_id"]) for b in buckets.values()]
    assert len(users) > 1 and sum(map(len, users)) == len(set().union(*users))  # disjoint
    (bad,) = (tmp_path / "local" / "quarantine" / "file-00000.jsonl").read_text().splitlines()
    assert json.loads(bad)["field"] == "ms_played"

    with pytest.raises(BadInput, match=r"a\.csv, row 302, field 'ms_played'"):
        ingest_logs(logs, tmp_path / "local_fail", LocalEngine(), on_error="fail")


def test_top_k_matches_a_full_sort():
    rng = np.random.default_rng(3)
    profiles = rng.normal(size=(5, 8)).astype(np.float32)
    items = rng.normal(size=(30, 9)).astype(np.float32)
    known = np.ones(30, bool)
    known[[2, 7]] = False
    played_rows, played_items = np.array([0, 0, 3]), np.array([4, 11, 0])
    best, scores = top_k(profiles, played_rows, played_items, items, known, 6)
    full = np.hstack([profiles, np.ones((5, 1), np.float32)]) @ items.T
    for user in range(5):
        allowed = [i for i in range(30) if known[i] and
                   i not in played_items[played_rows == user]]
        expected = sorted(allowed, key=lambda i: -full[user, i])[:6]
        assert best[user].tolist() == expected
        np.testing.assert_allclose(scores[user], full[user, expected], rtol=1e-5)
    # fewer songs than k qualify: the rest is -1 / -inf
    best, scores = top_k(profiles[:1], np.zeros(0, int), np.zeros(0, int), items, known, 30)
    assert (best[0, 28:] == -1).all() and np.isneginf(scores[0, 28:]).all()


def test_publish_swaps_current_in_one_rename(tmp_path):
    first, second = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    first.mkdir(parents=True)
    second.mkdir()
    publish(tmp_path, first)
    assert (tmp_path / "current").resolve() == first
    publish(tmp_path, second)
    assert (tmp_path / "current").resolve() == second
    assert not (tmp_path / "current").readlink().is_absolute()  # the folder can move
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "runs"]


def test_config_paths_resolve_against_the_config_file(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text('[data]\nplaylists = "playlists"\n[song2vec]\nepochs = 3\n'
                    '[next_song]\nmax_cases = 200\n')
    config = load_config(path)
    assert config.data.playlists == str(tmp_path / "playlists")
    assert (config.song2vec.epochs, config.song2vec.seed, config.song2vec.workers) == (3, 0, 1)
    with pytest.raises(ValueError, match="unknown table"):
        PipelineConfig.from_dict({"sing2vec": {}})
