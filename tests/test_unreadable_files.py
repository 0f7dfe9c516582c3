"""Issue 16, item 6: every file a reader is given or finds is read or reported. A dangling or
looping symbolic link in a log folder is an error naming it, or with --on-error quarantine a
quarantine record with the reason; never skipped without a word."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import run
from tests.test_cli_profiles import as_events, write_csv


@pytest.fixture
def logs(tmp_path, splits):
    import polars as pl

    songs = pl.read_parquet(splits / "train" / "playlists.parquet")["song_id"].head(8).to_list()
    folder = tmp_path / "logs"
    (folder / "sub").mkdir(parents=True)
    write_csv(folder / "events.csv", as_events("ann", songs))
    os.symlink(tmp_path / "gone.csv", folder / "dangling.csv")
    os.symlink(folder / "sub" / "loop.jsonl", folder / "sub" / "loop.jsonl")
    return folder


def test_an_unreadable_log_file_is_an_error(model, logs, tmp_path):
    result = run("profiles", "build", "--logs", logs, "--model", model, "--out",
                 tmp_path / "p", code=2)
    text = result.stdout + result.stderr
    assert "dangling.csv" in text and "dangling symbolic link" in text
    assert "Traceback" not in text and not (tmp_path / "p").exists()


def test_an_unreadable_log_file_is_quarantined_with_the_reason(model, logs, tmp_path):
    report = json.loads(run("profiles", "build", "--logs", logs, "--model", model, "--out",
                            tmp_path / "p", "--on-error", "quarantine", "--json").stdout)
    assert report["events_read"] == 8 and report["quarantined"] == 0
    assert sorted(f.split(": ")[0] for f in report["unreadable_files"]) == [
        str(logs / "dangling.csv"), str(logs / "sub" / "loop.jsonl")]
    records = [json.loads(line) for line in
               (tmp_path / "p" / "quarantine.jsonl").read_text().splitlines()]
    reasons = {r["file"]: r for r in records if r["reason"] == "unreadable file"}
    assert "dangling" in reasons[str(logs / "dangling.csv")]["detail"]
    assert "loops" in reasons[str(logs / "sub" / "loop.jsonl")]["detail"]


def test_a_dangling_link_given_directly_is_named(model, tmp_path):
    os.symlink(tmp_path / "nowhere.csv", tmp_path / "events.csv")
    result = run("profiles", "build", "--logs", tmp_path / "events.csv", "--model", model,
                 "--out", tmp_path / "p", code=2)
    assert "dangling symbolic link" in result.stdout + result.stderr


def test_the_pipeline_log_step_reports_an_unreadable_file_like_profiles_build(tmp_path):
    """`pipeline run`'s log ingestion: an error naming the file with on_error = "fail", a
    quarantine record with the reason (and `unreadable_files` in the step's metrics) with
    "quarantine"."""
    from pipelines.engines import LocalEngine
    from pipelines.step import BadInput
    from tests.pipelines.test_pipeline_steps import ingest_logs, write_logs

    logs = tmp_path / "logs"
    write_logs(logs)
    os.symlink(tmp_path / "gone.csv", logs / "dangling.csv")
    with pytest.raises(BadInput, match=r"dangling\.csv.*dangling symbolic link"):
        ingest_logs(logs, tmp_path / "fail", LocalEngine(), on_error="fail")
    metrics = ingest_logs(logs, tmp_path / "quarantine", LocalEngine())["logs"]
    assert metrics["files"] == 2 and metrics["events_matched"] == 599
    (unreadable,) = metrics["unreadable_files"]
    assert unreadable.startswith(str(logs / "dangling.csv") + ": ")
    (record,) = [json.loads(line) for line in (tmp_path / "quarantine" / "quarantine"
                 / "unreadable_logs.jsonl").read_text().splitlines()]
    assert record["file"] == str(logs / "dangling.csv")
    assert record["reason"] == "unreadable file" and "dangling" in record["detail"]
