"""The sample listening log of data/: the shipped files are what data/make_listening_log.py
writes, and `songspace profiles build / update` count them as the script says it wrote them."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import REPO, run

DATA = REPO / "data"
FILES = ("listening_log/events.csv", "listening_log/grace/Streaming_History_Audio_2011.json",
         "listening_log_update/events.jsonl")


def _generator():
    spec = importlib.util.spec_from_file_location("make_listening_log",
                                                  DATA / "make_listening_log.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """What the script writes, written afresh into a scratch folder."""
    out = tmp_path_factory.mktemp("sample-log")
    return out, _generator().main(out)


def test_the_shipped_log_is_what_the_script_writes(written):
    out, _ = written
    for name in FILES:
        assert (out / name).read_bytes() == (DATA / name).read_bytes(), name
    shipped = {str(p.relative_to(DATA)) for folder in ("listening_log", "listening_log_update")
               for p in (DATA / folder).rglob("*") if p.is_file()}
    assert shipped == set(FILES)


@pytest.fixture(scope="module")
def built(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("sample-profiles") / "profiles"
    result = run("profiles", "build", "--logs", DATA / "listening_log", "--model", model,
                 "--out", out, "--on-error", "quarantine", "--json")
    return out, json.loads(result.stdout)


def test_build_quarantines_exactly_the_bad_rows(built, written):
    profiles, report = built
    made = written[1]
    assert report["events_read"] == made.csv_events + made.spotify_streams
    assert report["quarantined"] == len(made.csv_bad_lines) == 6
    assert report["quarantined_by_reason"] == made.csv_bad
    rows = [json.loads(line) for line in (profiles / "quarantine.jsonl").read_text().splitlines()]
    assert sorted(r["row"] for r in rows) == made.csv_bad_lines
    assert {Path(r["file"]).name for r in rows} == {"events.csv"}
    assert report["non_music"] == made.spotify_podcasts
    assert (report["unmatched_events"], report["unmatched_songs"]) == (
        made.spotify_unmatched_events, made.spotify_unmatched_songs)
    assert report["events_read"] == sum(report[k] for k in (
        "events_used", "events_without_vector", "quarantined", "unmatched_events", "non_music"))
    assert report["users"] == report["users_with_profile"] == len(made.users)


def test_update_adds_the_batch_and_its_new_user(built, written, tmp_path):
    profiles, _ = built
    made = written[1]
    copy = tmp_path / "profiles"
    copy.mkdir()
    for file in profiles.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    report = json.loads(run("profiles", "update", "--logs", DATA / "listening_log_update",
                            "--profiles", copy, "--json").stdout)
    new = set(made.update_users) - set(made.users)
    assert report["events_read"] == report["events_used"] == made.update_events
    assert (report["users_updated"], report["users_new"]) == (len(made.update_users), len(new))
    assert report["users"] == len(made.users) + len(new)


def test_a_listener_is_recommended_their_style(built, model):
    """bob's playlists are country: so are most of his recommendations, each explained by a
    song he played."""
    profiles, _ = built
    rows = json.loads(run("recommend", "--profiles", profiles, "--user", "bob", "--k", "20",
                          "--json").stdout)
    songs = pl.read_parquet(model / "songs.parquet")
    country = set(songs.filter(pl.col("tags").list.contains("country"))["song_id"].to_list())
    assert sum(r["song_id"] in country for r in rows) / len(rows) >= 0.6
    played = set(pl.read_csv(DATA / "listening_log" / "events.csv", infer_schema=False)
                 .filter(pl.col("user_id") == "bob")["song_id"].to_list())
    assert all(r["because"]["song_id"] in played for r in rows)
