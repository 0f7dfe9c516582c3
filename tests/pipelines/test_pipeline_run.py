"""The batch pipeline driven through `songspace pipeline run / status` on the embedded data:
both engines agree, the cache skips what is unchanged, a killed run resumes to the same
artifacts, and `current` only ever points at a complete run."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from foundation import progress
from foundation.publishing import sha256_file
from pipelines.engines import LocalEngine, RayEngine
from pipelines.step import BadInput
from recsys.profile_artifact import load_profiles
from tests.conftest import run
from tests.pipelines.test_pipeline_steps import ingest_logs, log_buckets, write_logs
from tests.test_cli_progress import COUNTED

pytestmark = pytest.mark.slow

# Few epochs, no ranker (nothing here ranks next songs), few evaluation cases: the whole
# pipeline in well under a minute.
FAST = """
[data]
test = 0.05
seed = 1
[song2vec]
epochs = 2
[next_song]
ranker = false
[batch]
partitions = 3
k = 20
[evaluate]
models = ["song2vec", "popularity", "cooccurrence"]
max_positions = 2
similar_songs = 300
"""
STEP_NAMES = ["ingest", "validate", "train", "index", "profiles", "recommend", "evaluate",
              "report"]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "pipeline.toml"
    path.write_text(FAST)
    return path


@pytest.fixture(scope="module")
def local_log(config, tmp_path_factory) -> tuple[Path, str]:
    """The local run and what it logged off a terminal, with a progress line per update (a
    clock that moves a second a reading, as tests/test_cli_progress.py's)."""
    out = tmp_path_factory.mktemp("local")
    ticks = itertools.count()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(progress, "clock", lambda: float(next(ticks)))
        patch.setenv(progress.INTERVAL_ENV, "0")
        result = run("pipeline", "run", "--config", config, "--out", out)
    return out, result.stderr


@pytest.fixture(scope="module")
def local_run(local_log) -> Path:
    return local_log[0]


def test_the_run_logs_its_current_steps_progress(local_log):
    err = local_log[1]
    assert re.search(r"^train: 2/2 epochs \(100%\), [\d.,]+ epochs/s, elapsed", err, re.M), err
    assert re.search(r"^evaluate: " + COUNTED.format(unit="cases")
                     + r".*; running evaluating popularity", err, re.M), err
    assert re.search(r"^train: .*; done [\d.]+s$", err, re.M)


def _manifest(out: Path) -> dict:
    return json.loads((out / "current" / "run.json").read_text())


def _recommendations(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "current" / "recommend" / "top" / "*.parquet").sort("user_id")


def _metrics(out: Path) -> dict:
    """The evaluate step's metrics without its timings."""
    metrics = json.loads((out / "current" / "evaluate" / "metrics.json").read_text())
    for values in metrics["next_song"]["models"].values():
        for key in [k for k in values if k.endswith("_seconds")]:
            del values[key]
    metrics["next_song"].pop("seconds", None)
    return metrics


def _profiles_by_user(out: Path) -> tuple[list[str], np.ndarray]:
    state = load_profiles(out / "current" / "profiles" / "profiles").state
    order = np.argsort(state.users.to_numpy())
    return state.users.to_numpy()[order].tolist(), state.profiles[order]


def test_batch_recommendations_match_the_recommend_command(local_run):
    recs = _recommendations(local_run)
    profiles = local_run / "current" / "profiles" / "profiles"
    for row in recs.sample(3, seed=0).iter_rows(named=True):
        answer = json.loads(run("recommend", "--profiles", profiles, "--user", row["user_id"],
                                "--k", 20, "--json").stdout)
        assert [a["song_id"] for a in answer] == row["song_ids"]
        np.testing.assert_allclose([a["score"] for a in answer], row["scores"], atol=1e-3)


def test_run_manifest_report_and_status(local_run, config):
    manifest = _manifest(local_run)
    assert list(manifest["steps"]) == STEP_NAMES
    assert all(s["status"] == "done" and s["seconds"] >= 0 for s in manifest["steps"].values())
    assert len({s["fingerprint"] for s in manifest["steps"].values()}) == len(STEP_NAMES)
    playlists = next(iter(manifest["inputs"].values()))
    assert all(len(digest) == 64 for digest in playlists.values())
    assert manifest["config"]["song2vec"]["epochs"] == 2
    assert manifest["packages"]["ray"] != "not installed"
    models = manifest["metrics"]["evaluate"]["next_song"]["models"]
    assert set(models) == {"song2vec", "popularity", "cooccurrence"}
    assert 0 < models["song2vec"]["hr@10"] < 1
    recs = manifest["metrics"]["evaluate"]["recommendations"]
    assert 0 < recs["coverage"] <= 1 and recs["recommendations"] == 20 * _recommendations(
        local_run).height

    report = local_run / "current" / "report"
    page = (report / "report.html").read_text()
    for png in ("song_map.png", "rec_popularity.png", "step_durations.png"):
        assert f'src="{png}"' in page and (report / png).stat().st_size > 5_000
    assert "cooccurrence" in page and "Bohemian Rhapsody" not in page  # labels are in the PNG

    status = json.loads(run("pipeline", "status", "--out", local_run, "--json").stdout)
    assert status["current"] == manifest["run"]
    assert status["runs"][-1]["steps"] == dict.fromkeys(STEP_NAMES, "done")


def test_rerun_skips_unchanged_steps_and_reruns_what_a_setting_touches(local_run, config,
                                                                       tmp_path):
    out = tmp_path / "out"
    shutil.copytree(local_run, out, symlinks=True)
    first = _manifest(out)["run"]
    again = json.loads(run("pipeline", "run", "--config", config, "--out", out,
                           "--json").stdout)
    assert Path(again["run"]).name == first
    assert again["steps"] == dict.fromkeys(STEP_NAMES, "cached")

    changed = tmp_path / "k10.toml"
    changed.write_text(FAST.replace("k = 20", "k = 10"))
    second = json.loads(run("pipeline", "run", "--config", changed, "--out", out,
                            "--json").stdout)
    assert Path(second["run"]).name != first
    assert second["steps"] == {**dict.fromkeys(STEP_NAMES[:5], "reused"),
                               **dict.fromkeys(STEP_NAMES[5:], "done")}
    assert (out / "current").resolve().name == Path(second["run"]).name
    assert _recommendations(out)["song_ids"].list.len().max() == 10


def test_exclusions_made_on_the_served_run_carry_into_the_next(local_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(local_run, out, symlinks=True)
    served = (out / "current").resolve() / "profiles" / "profiles"
    user = _recommendations(out)["user_id"][0]
    song = json.loads(run("recommend", "--profiles", served, "--user", user, "--k", 1,
                          "--json").stdout)[0]["song_id"]
    run("profiles", "exclude", "--profiles", served, "--user", user, "--song", song)
    changed = tmp_path / "half_life.toml"
    changed.write_text(FAST + "[profiles]\nhalf_life_days = 30.0\n")
    second = json.loads(run("pipeline", "run", "--config", changed, "--out", out,
                            "--json").stdout)
    assert second["steps"]["profiles"] == "done"
    fresh = out / "current" / "profiles" / "profiles"
    assert fresh.resolve() != served.resolve()
    listing = json.loads(run("profiles", "exclude", "--profiles", fresh, "--user", user,
                             "--list", "--json").stdout)
    assert [s["song_id"] for s in listing["songs"]] == [song]
    mine = _recommendations(out).filter(pl.col("user_id") == user)["song_ids"][0].to_list()
    assert mine and song not in mine


def test_killed_run_resumes_to_the_same_artifacts(local_run, config, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "pipeline", "run",
         "--config", str(config), "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    # Kill it without warning as soon as step 3 (train) has finished.
    while time.time() < deadline and not list(out.glob("runs/*/steps/train.json")):
        assert not (out / "current").exists(), "current points at an incomplete run"
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "current").exists()
    (killed,) = out.glob("runs/*")
    assert json.loads((killed / "run.json").read_text())["status"] == "running"
    status = json.loads(run("pipeline", "status", "--out", out, "--json").stdout)
    assert status["current"] is None and status["runs"][0]["status"] == "interrupted"
    assert not (killed / "steps" / "report.json").exists()

    resumed = json.loads(run("pipeline", "run", "--config", config, "--out", out,
                             "--json").stdout)
    assert Path(resumed["run"]) == killed
    assert [resumed["steps"][s] for s in ("ingest", "validate", "train")] == ["cached"] * 3
    assert resumed["steps"]["report"] == "done"
    assert not list(killed.glob(".*.tmp-*"))  # the killed step's staging folder is gone
    assert (out / "current").resolve() == killed

    # The same artifacts as the run that was never interrupted.
    for name in ("train/model/vectors.npy", "profiles/profiles/profiles.npy",
                 "profiles/profiles/pairs.parquet", "index/similar/index.faiss"):
        assert sha256_file(killed / name) == sha256_file(local_run / "current" / name), name
    assert _recommendations(out).equals(_recommendations(local_run))
    assert _metrics(out) == _metrics(local_run)


def test_failed_step_exits_3_names_it_and_keeps_current(local_run, config, tmp_path,
                                                        monkeypatch):
    import pipelines.steps

    out = tmp_path / "out"
    shutil.copytree(local_run, out, symlinks=True)
    before = (out / "current").resolve()

    def broken(ctx):
        raise RuntimeError("the figure could not be drawn")

    steps = [dataclasses.replace(s, run=broken, version=2) if s.name == "report" else s
             for s in pipelines.steps.STEPS]
    monkeypatch.setattr(pipelines.steps, "STEPS", steps)
    result = run("pipeline", "run", "--config", config, "--out", out, code=3)
    assert "step 'report' failed" in result.stderr and "report.log" in result.stderr
    (failed,) = [r for r in (out / "runs").iterdir() if r != before]
    assert "the figure could not be drawn" in (failed / "logs" / "report.log").read_text()
    assert json.loads((failed / "run.json").read_text())["status"] == "failed"
    assert (out / "current").resolve() == before


def test_bad_input_exits_2(tmp_path):
    missing = tmp_path / "missing.toml"
    missing.write_text('[data]\nplaylists = "no/such/folder"\n')
    result = run("pipeline", "run", "--config", missing, "--out", tmp_path / "a", code=2)
    assert "no such file or folder" in result.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[song2vec]\nepochz = 3\n")
    result = run("pipeline", "run", "--config", unknown, "--out", tmp_path / "b", code=2)
    assert "epochz" in result.stderr
    # No cluster to join. (Ray tests come last in this file: while this process runs its own
    # Ray instance, a run would join that one.)
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
    run("pipeline", "run", "--out", tmp_path / "c", "--ray-address", "auto", code=2)
    run("pipeline", "status", "--out", tmp_path / "c", code=2)


# The Ray tests, last: they share one local Ray instance, which the pipeline's `--engine ray`
# joins rather than starting its own, so Ray starts (and its workers import the project) once.
@pytest.fixture(scope="module")
def ray_engine() -> Iterator[RayEngine]:
    engine = RayEngine(num_cpus=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def ray_run(config, tmp_path_factory, ray_engine) -> Path:
    out = tmp_path_factory.mktemp("ray")
    run("pipeline", "run", "--config", config, "--out", out, "--engine", "ray")
    return out


def test_local_and_ray_engines_give_the_same_outputs(local_run, ray_run):
    local, ray = _manifest(local_run), _manifest(ray_run)
    assert local["status"] == ray["status"] == "complete"
    assert (local["engine"], ray["engine"]) == ("local", "ray")
    # the seeded model is the same, so everything downstream can be compared
    files = ("train/model/vectors.npy", "train/model/output_vectors.npy")
    for name in files:
        assert sha256_file(local_run / "current" / name) == sha256_file(ray_run / "current" / name)
    users_l, profiles_l = _profiles_by_user(local_run)
    users_r, profiles_r = _profiles_by_user(ray_run)
    assert users_l == users_r and len(users_l) > 30_000
    np.testing.assert_allclose(profiles_l, profiles_r, atol=1e-5)
    recs_l, recs_r = _recommendations(local_run), _recommendations(ray_run)
    assert recs_l["user_id"].to_list() == recs_r["user_id"].to_list()
    same = (recs_l["song_ids"] == recs_r["song_ids"]).mean()
    assert same > 0.999  # only near-ties may swap places
    np.testing.assert_allclose(np.stack(recs_l["scores"].to_numpy()),
                               np.stack(recs_r["scores"].to_numpy()), atol=1e-4)
    metrics_l, metrics_r = _metrics(local_run), _metrics(ray_run)
    assert metrics_l["next_song"]["models"] == metrics_r["next_song"]["models"]
    assert metrics_l["recommendations"] == pytest.approx(metrics_r["recommendations"], abs=1e-3)


def test_log_ingestion_buckets_users_on_ray_as_locally(ray_engine, tmp_path):
    logs = tmp_path / "logs"
    write_logs(logs)
    local = ingest_logs(logs, tmp_path / "local", LocalEngine())["logs"]
    ray = ingest_logs(logs, tmp_path / "ray", ray_engine)["logs"]
    assert ray == local
    local_buckets = log_buckets(tmp_path / "local")
    for name, frame in log_buckets(tmp_path / "ray").items():
        assert frame.equals(local_buckets[name]), name
    # a bad row found inside a Ray task is still bad input (exit code 2), not a crash
    with pytest.raises(BadInput, match=r"a\.csv, row 302, field 'ms_played'"):
        ingest_logs(logs, tmp_path / "ray_fail", ray_engine, on_error="fail")
