"""Issue 16, item 4: garbage never becomes a song. A name with no letter or digit is an error
(CLI exit 2, HTTP 422), and the catalogue's placeholders ("-" by "-") are counted at ingest,
never found by a name and never recommended."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.artifact import load_artifact
from tests.conftest import run
from tests.test_cli_profiles import as_events, write_csv

GARBAGE = ["🎸🔥", " ", "!!!", "\x00", "\ufffd"]


def placeholder_songs(model) -> dict:
    """A placeholder song of the model that has a vector, its closest songs, every placeholder."""
    artifact = load_artifact(model)
    rows = np.flatnonzero(artifact.catalog.placeholder & artifact.model.trained)
    assert len(rows), "the embedded data's '-' by '-' songs should be trained"
    row = int(rows[0])
    unit = artifact.model.unit_inputs
    closest = np.argsort(-(unit @ unit[row]))
    ids = artifact.catalog.song_ids
    near = [ids[i] for i in closest if i != row and artifact.model.trained[i]
            and not artifact.catalog.placeholder[i]][:8]
    return {"id": ids[row], "near": near,
            "all": {ids[i] for i in np.flatnonzero(artifact.catalog.placeholder)}}


@pytest.fixture(scope="module")
def placeholder(model) -> dict:
    return placeholder_songs(model)


def test_ingest_counts_the_placeholders(tmp_path):
    report = json.loads(run("ingest", "data/yes_small", "--out", tmp_path / "out",
                            "--json").stdout)
    assert report["placeholder_songs"] == 2  # 2794 and 2845, both "-" by "-"


@pytest.mark.parametrize("name", GARBAGE)
def test_cli_rejects_a_name_without_letters(model, name):
    result = run("similar", name, "--model", model, code=2)
    message = result.stdout + result.stderr
    assert "not a song name" in message and "Traceback" not in message
    assert len(message.strip().splitlines()) == 1


def test_placeholders_are_never_similar_songs(model, placeholder):
    for song in placeholder["near"][:3]:
        for scoring in ("cosine", "in_out"):
            rows = json.loads(run("similar", song, "--model", model, "--k", "100",
                                  "--scoring", scoring, "--json").stdout)
            assert len(rows) == 100
            assert not {r["song_id"] for r in rows} & placeholder["all"]
    rows = json.loads(run("continue", *placeholder["near"][:3], "--model", model, "--k", "100",
                          "--json").stdout)
    assert not {r["song_id"] for r in rows} & placeholder["all"]


def test_placeholders_are_never_recommended(model, placeholder, tmp_path):
    rows = as_events("near", placeholder["near"])
    logs = write_csv(tmp_path / "logs.csv", rows)
    run("profiles", "build", "--logs", logs, "--model", model, "--out", tmp_path / "profiles")
    found = json.loads(run("recommend", "--profiles", tmp_path / "profiles", "--user", "near",
                           "--k", "100", "--json").stdout)
    assert len(found) == 100 and not {r["song_id"] for r in found} & placeholder["all"]
