"""The README's chain of examples on one model: "Using it" trains models/yes_small, which
"Asking the model", the taste profiles and the HTTP API then use, in the README's order."""

from __future__ import annotations

import re

import pytest

from tests.readme.blocks import (
    ENGINES,
    README,
    SONG,
    Ran,
    blocks_of,
    check_ran,
    free_port,
    is_wav,
    only,
    run_block,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def using_it(scratch) -> dict[str, Ran]:
    """"Using it": ingest, split, train (models/yes_small), evaluate."""
    (block,) = blocks_of("Using it")
    return check_ran(run_block(block.commands, scratch), block.commands)


@pytest.fixture(scope="module")
def taste(scratch, using_it) -> dict[str, Ran]:
    """"Taste profiles from listening logs": profiles/yes_small from the sample log."""
    (block,) = blocks_of("Taste profiles from listening logs")
    return check_ran(run_block(block.commands, scratch), block.commands)


def test_using_it(using_it):
    evaluation = only(using_it, r"^songspace evaluate .*--test .*--json").json()
    assert evaluation["cases"] > 1000 and set(evaluation["models"]) == ENGINES
    models = evaluation["models"]
    assert next(iter(models)) == "songspace" and models["songspace"]["fit_seconds"] > 0
    for values in models.values():
        for key in ("hr@10", "hr@100", "ndcg@10", "mrr", "coverage@10"):
            assert 0.0 <= values[key] <= 1.0
        assert values["hr@10"] <= values["hr@100"]
    # A context-aware model must beat "most popular" by a wide margin on real playlists.
    for model in ("song2vec", "cooccurrence"):
        assert models[model]["hr@10"] > 2 * models["popularity"]["hr@10"], model
    table = only(using_it, r"--similar").stderr
    assert "genre@10" in table and "Jaccard@10" in table and "songspace" in table
    # Off a terminal the ranker's fit, most of `train`'s time, says which fold it is on and
    # when the folds will be done.
    trained = only(using_it, r"^songspace train ").stderr
    assert re.search(r"^fitting the ranker: fold 3/3, \d:\d\d:\d\d a fold, ETA \d:\d\d:\d\d",
                     trained, re.M), trained
    assert re.search(r"^fitting the ranker: LightGBM on [\d,]+ rows", trained, re.M), trained


def test_asking_the_model(scratch, using_it):
    (block,) = blocks_of("Asking the model")
    results = check_ran(run_block(block.commands, scratch), block.commands)
    similar = only(results, r"^songspace similar .*--json").json()
    assert len(similar) == 10
    assert all(set(row) == {*SONG, "score"} for row in similar)
    assert "Bohemian Rhapsody" in only(results, r"^songspace search").stderr
    playlist = only(results, r"^songspace playlist .*--json").json()
    assert len(playlist) == 20
    assert all(set(row) - {"estimated"} == {*SONG, "score"} for row in playlist)


def test_taste_profiles(taste):
    report = only(taste, r"^songspace profiles build .*--json").json()
    assert {"events_read", "events_used", "events_without_vector", "quarantined",
            "quarantined_by_reason", "unmatched_events", "unmatched_songs", "non_music",
            "users", "users_with_profile", "users_with_interests"} <= set(report)
    assert report["events_read"] == sum(report[k] for k in (
        "events_used", "events_without_vector", "quarantined", "unmatched_events",
        "non_music"))
    assert report["quarantined"] > 0 and report["users_with_profile"] == report["users"] > 1
    rows = only(taste, r"^songspace recommend .*--user alice .*--json").json()
    assert len(rows) == 10
    assert all(set(r) == {*SONG, "score", "because"} and set(r["because"]) == SONG
               for r in rows)
    assert "because" in only(taste, r"--diversity").stderr
    users = only(taste, r"^songspace similar-users .*--json").json()
    assert len(users) == 3
    assert all(set(u) == {"user_id", "score", "songs_in_common"} for u in users)


def test_http_api(scratch, taste):
    (block,) = blocks_of("HTTP API")
    assert any("--port 8000" in c for c in block.commands)
    port = str(free_port())
    commands = [c.replace("--port 8000", f"--port {port}").replace("127.0.0.1:8000",
                                                                   f"127.0.0.1:{port}")
                for c in block.commands]
    results = check_ran(run_block(commands, scratch), commands)

    def answer(pattern: str):
        return only(results, pattern).json()

    assert answer(r"/ready")["status"] == "ready"
    search = answer(r"/songs\?q=")
    assert search["results"] and all(set(r) == {*SONG, "plays"} for r in search["results"])
    similar = answer(r"/similar\?")
    assert similar["song"]["title"] == "Hotel California" and len(similar["results"]) == 5
    mix = answer(r"/tags/search\?")
    assert len(mix["results"]) == 5 and set(mix["mix"]) == {"rock", "country"}
    assert len(answer(r"/playlists/continue")["results"]) == 5
    assert len(answer(r"/playlists/from-text")["results"]) == 5
    assert answer(r"/users/\w+/events")["accepted"] == 1
    recommended = answer(r"/recommendations")["results"]
    assert len(recommended) == 5 and all(set(r["because"]) == SONG for r in recommended)
    assert is_wav(scratch / "clip.wav")
    # The endpoint table's tag mix is the one the example runs.
    table_mix = re.search(r"GET /tags/search\?mix=([^&`]+)", README.read_text()).group(1)
    assert f"mix={table_mix}&" in only(results, r"/tags/search\?").command
