"""The command line driven as a user drives it: ingest, split, train, evaluate, similar."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from recsys.artifact import ArtifactError, load_artifact
from recsys.song2vec import Song2Vec
from tests.conftest import run, train_small_model

runner = CliRunner()




def test_every_command_has_help():
    for command in ("ingest", "split", "train", "evaluate", "similar", "demo"):
        result = run(command, "--help")
        assert "Usage" in result.stdout and "--" in result.stdout


def test_split_keeps_playlists_whole_and_disjoint(splits):
    import polars as pl

    ids = {n: set(pl.read_parquet(splits / n / "playlists.parquet")["playlist_id"]) for n in
           ("train", "valid", "test")}
    assert not ids["train"] & ids["test"] and not ids["valid"] & ids["test"]
    assert sum(len(v) for v in ids.values()) == 39_005
    assert len(ids["test"]) == pytest.approx(0.05 * 24_000, rel=0.2)


def test_train_writes_a_complete_artifact(model):
    files = sorted(p.name for p in model.iterdir())
    assert files == sorted(["manifest.json", "config.json", "vectors.npy", "output_vectors.npy",
                            "trained.npy", "songs.parquet", "playlists.parquet", "metrics.json",
                            "ranker.txt", "ranker.json", "song_text.json", "song_text.npz",
                            "colisten.json", "colisten.npz"])
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["catalogue"]["songs"] == 3168
    assert len(manifest["training_data"]["fingerprint"]) == 64
    assert manifest["config"]["epochs"] == 5 and manifest["config"]["workers"] == 1
    artifact = load_artifact(model)
    assert artifact.model.input_vectors.dtype == np.float32
    assert artifact.model.input_vectors.shape == (3168, manifest["config"]["vector_size"])
    assert len(json.loads((model / "metrics.json").read_text())["epochs"]) == 5
    # no staging folder left behind
    assert not [p for p in model.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_seeded_training_is_reproducible(splits, model, tmp_path):
    again = tmp_path / "again"
    train_small_model(splits, again)
    first = json.loads((model / "manifest.json").read_text())["files"]
    second = json.loads((again / "manifest.json").read_text())["files"]
    assert first["vectors.npy"] == second["vectors.npy"]
    assert first["output_vectors.npy"] == second["output_vectors.npy"]
    assert first["ranker.txt"] == second["ranker.txt"]


def test_artifact_detects_corruption(model, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    vectors = np.load(copy / "vectors.npy")
    vectors[0, 0] += 1.0
    np.save(copy / "vectors.npy", vectors)
    with pytest.raises(ArtifactError, match=r"vectors\.npy"):
        load_artifact(copy)
    run("similar", "Bohemian Rhapsody", "--model", copy, code=2)


def test_evaluate_table_and_model_choice(model, splits):
    result = run("evaluate", "--model", model, "--test", splits / "test",
                 "--models", "song2vec,popularity", "--max-positions", "2")
    assert "song2vec" in result.stderr and "popularity" in result.stderr
    assert "als" not in result.stderr
    run("evaluate", "--model", model, "--test", splits / "test", "--models", "nope", code=2)
    # the sequence models were not trained: asking for one names the setting that trains it
    result = run("evaluate", "--model", model, "--test", splits / "test", "--models",
                 "transformer", code=2)
    assert "holds no transformer model" in result.stderr


def test_evaluate_counts_unknown_songs_as_misses(model, tmp_path):
    test = tmp_path / "test.csv"
    test.write_text("playlist_id,position,song_id\np,0,268\np,1,not-a-song\np,2,269\n")
    report = json.loads(run("evaluate", "--model", model, "--test", test, "--json",
                            "--models", "song2vec").stdout)
    assert report["cases"] == 2 and report["unknown_targets"] == 1
    assert report["test_songs_not_in_catalogue"] == 1
    assert report["models"]["song2vec"]["hr@100"] <= 0.5


def test_similar_by_title_and_json(model):
    result = run("similar", "bohemian rhapsody", "--model", model, "--k", "5", "--json")
    rows = json.loads(result.stdout)
    assert len(rows) == 5
    assert set(rows[0]) == {"song_id", "title", "artist", "score"}
    assert "268" not in [r["song_id"] for r in rows]
    assert rows[0]["score"] >= rows[-1]["score"]
    by_id = json.loads(run("similar", "268", "--model", model, "--k", "5", "--json").stdout)
    assert by_id == rows
    run("similar", "no such song at all", "--model", model, code=2)


def test_train_bad_input_names_file_row_field_and_quarantines(tmp_path):
    bad = tmp_path / "playlists.csv"
    bad.write_text("playlist_id,position,song_id\na,0,s1\na,1,s2\nb,0,s1\nb,x,s3\nb,2,s2\n")
    result = run("train", "--playlists", bad, "--out", tmp_path / "m", code=2)
    assert "playlists.csv" in result.stderr and "row 5" in result.stderr
    assert "position" in result.stderr
    assert not (tmp_path / "m").exists()

    # Four rows are too few for the default min_count: a clear error, and no artifact.
    result = run("train", "--playlists", bad, "--out", tmp_path / "m", "--on-error",
                 "quarantine", code=2)
    assert "min_count=3" in result.stderr and not (tmp_path / "m").exists()

    config = tmp_path / "small.toml"
    config.write_text("[song2vec]\nmin_count = 1\n")
    result = run("train", "--playlists", bad, "--out", tmp_path / "m", "--on-error",
                 "quarantine", "--epochs", "2", "--config", config, "--json")
    report = json.loads(result.stdout)["read_report"]
    assert report["quarantined"] == 1 and report["playlist_rows"] == 4
    kept = (tmp_path / "m" / "quarantine.jsonl").read_text().splitlines()
    assert len(kept) == 1 and json.loads(kept[0])["field"] == "position"
    assert "quarantined 1 rows" in result.stderr


def test_bad_config_is_named(tmp_path, splits):
    config = tmp_path / "cfg.toml"
    config.write_text("[song2vec]\nwindw = 3\n")
    result = run("train", "--playlists", splits / "train", "--out", tmp_path / "m", "--config",
                 config, code=2)
    assert "windw" in result.stderr and "cfg.toml" in result.stderr


def test_failed_publish_keeps_the_previous_artifact(model, splits, tmp_path, monkeypatch):
    import shutil

    target = tmp_path / "model"
    shutil.copytree(model, target)
    before = (target / "manifest.json").read_text()

    def crash_halfway(self, folder):
        np.save(Path(folder) / "vectors.npy", self.input_vectors)
        raise OSError("disk full")

    monkeypatch.setattr(Song2Vec, "save", crash_halfway)
    result = runner.invoke(app, ["train", "--playlists", str(splits / "train"), "--out",
                                 str(target), "--epochs", "1", "--no-ranker", "--no-text-map"])
    assert result.exit_code != 0
    assert (target / "manifest.json").read_text() == before
    load_artifact(target)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.slow
def test_killed_training_never_leaves_a_half_written_model(splits, model, tmp_path):
    import shutil

    target = tmp_path / "model"
    shutil.copytree(model, target)
    before = (target / "manifest.json").read_text()
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "train",
         "--playlists", str(splits / "train"), "--out", str(target), "--epochs", "200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    # Kill it without warning while it trains (200 epochs take far longer than the wait), or
    # while it publishes if it got that far.
    deadline = time.time() + 4
    while time.time() < deadline and not list(tmp_path.glob(".model.tmp-*")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (target / "manifest.json").read_text() == before
    load_artifact(target)


def test_evaluate_similar_reports_tag_agreement_per_method(model):
    report = json.loads(run("evaluate", "--model", model, "--similar", "--json").stdout)
    assert set(report["models"]) == {"songspace", "song2vec_cosine", "song2vec_in_out",
                                     "cooccurrence", "als"}
    assert report["songs"] > 500
    for values in report["models"].values():
        assert 0 < values["tag_jaccard@10"] < 1 and 0 <= values["same_artist@10"] < 1
        assert 0 < values["genre_agreement@10"] < 1
        assert values["neighbours"] == 10 * report["songs"]
    # The default blend keeps the genre better than collaborative evidence alone.
    models = report["models"]
    assert models["songspace"]["genre_agreement@10"] > max(
        models[m]["genre_agreement@10"] for m in ("song2vec_in_out", "als", "cooccurrence"))
    run("evaluate", "--model", model, code=2)  # neither --test nor --similar
