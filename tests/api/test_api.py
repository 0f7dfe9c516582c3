"""Every endpoint and error code through FastAPI's TestClient, checked against what the CLI
(the same library calls) answers."""

from __future__ import annotations

import json
import shutil
import time

import polars as pl
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from tests.api.conftest import API_KEY, make_settings
from tests.conftest import run
from tests.test_cli_profiles import START, as_events, write_csv

WRITE = {"X-API-Key": API_KEY}


def cli_json(*args):
    return json.loads(run(*args, "--json").stdout)


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"]
    if field is not None:
        assert body["field"] == field and field in body["message"]
    return body


# -- system ---------------------------------------------------------------------------------
def test_health_ready_and_the_page(client, model):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    manifest = json.loads((model / "manifest.json").read_text())
    assert ready["status"] == "ready" and ready["version"].startswith(model.name + "@")
    assert ready["created"] == manifest["created"]
    assert ready["songs"] == pl.read_parquet(model / "songs.parquet").height
    assert ready["profiles"].startswith("profiles@")
    page = client.get("/")
    assert page.status_code == 200 and 'id="search"' in page.text
    assert client.get("/static/app.js").status_code == 200


def test_openapi_documents_every_endpoint_with_examples(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/health", "/ready", "/songs", "/songs/{song_id}", "/songs/{song_id}/similar",
                 "/songs/arithmetic", "/playlists/continue", "/songs/{song_id}/tags",
                 "/tags/search", "/users/{user_id}/events", "/users/{user_id}/profile",
                 "/users/{user_id}/recommendations", "/users/{user_id}/similar", "/metrics",
                 "/admin/reload"):
        assert path in paths, path
    assert schema["components"]["schemas"]["SimilarResponse"]["examples"]


def test_unknown_routes_and_methods_answer_json(client):
    assert_error(client.get("/nowhere"), 404, "not_found")
    assert_error(client.delete("/songs"), 405, "method_not_allowed")


# -- songs ----------------------------------------------------------------------------------
def test_search_songs_is_the_cli_search(client, model, known_song):
    words = known_song["title"].split()[0]
    answer = client.get("/songs", params={"q": words, "limit": 5}).json()
    assert answer["results"] == cli_json("search", words, "--model", model, "--limit", "5")
    assert_error(client.get("/songs"), 422, "invalid_parameter", "q")
    assert_error(client.get("/songs", params={"q": "a", "limit": 51}), 422, "invalid_parameter",
                 "limit")
    assert client.get("/songs", params={"q": "zzzqqqxxx"}).json()["results"] == []


def test_one_song(client, known_song):
    assert known_song["has_vector"] and known_song["plays"] > 0
    by_title = client.get(f"/songs/{known_song['title']}").json()
    assert by_title == known_song  # the most played song of that title


def test_unknown_song_is_404_with_close_titles(client, known_song):
    title = known_song["title"]
    word = max(title.split(), key=len)
    typo = title.replace(word, word[:-1] + ("x" if word[-1] != "x" else "q"))
    body = assert_error(client.get(f"/songs/{typo}/similar"), 404, "song_not_found")
    assert known_song["song_id"] in {s["song_id"] for s in body["suggestions"]}
    assert "did you mean" in body["message"]


def test_similar_keeps_the_contract_and_equals_the_cli(client, model, known_song):
    song_id = known_song["song_id"]
    answer = client.get(f"/songs/{song_id}/similar", params={"k": 12}).json()
    assert answer["song"] == {k: known_song[k] for k in ("song_id", "title", "artist")}
    assert len(answer["results"]) == 12
    assert all(set(r) == {"song_id", "title", "artist", "score"} for r in answer["results"])
    assert song_id not in {r["song_id"] for r in answer["results"]}
    assert answer["results"] == cli_json("similar", song_id, "--model", model, "--k", "12")
    other = client.get(f"/songs/{song_id}/similar",
                       params={"k": 12, "exclude_artist": True}).json()["results"]
    assert len(other) == 12 and all(r["artist"] != known_song["artist"] for r in other)
    cosine = client.get(f"/songs/{song_id}/similar", params={"scoring": "cosine"}).json()
    assert cosine["results"] != answer["results"][:10]
    # One answer to "more like this": the default is the blend, and so is a mix of one song
    # (the web page's "Build a mix" with a single song).
    blend = client.get(f"/songs/{song_id}/similar", params={"k": 12, "scoring": "blend"})
    assert blend.json()["results"] == answer["results"]
    mix = client.post("/songs/arithmetic", json={"positive": [{"song": song_id, "weight": 1.0}],
                                                 "k": 12}).json()
    assert mix["results"] == answer["results"]
    in_out = client.get(f"/songs/{song_id}/similar", params={"k": 12, "scoring": "in_out"})
    assert in_out.json()["results"] != answer["results"]


@pytest.mark.parametrize(("params", "field"), [({"k": 0}, "k"), ({"k": 51}, "k"),
                                               ({"k": "ten"}, "k"),
                                               ({"scoring": "dot"}, "scoring"),
                                               ({"exclude_artist": "maybe"}, "exclude_artist")])
def test_similar_rejects_bad_parameters_naming_them(client, known_song, params, field):
    response = client.get(f"/songs/{known_song['song_id']}/similar", params=params)
    assert_error(response, 422, "invalid_parameter", field)


def test_song_tags_and_tag_search_equal_the_cli(client, model, known_song):
    song_id = known_song["song_id"]
    tags = client.get(f"/songs/{song_id}/tags", params={"top": 5}).json()
    assert tags["tags"] == cli_json("tags", song_id, "--model", model, "--k", "5")
    top = tags["tags"][0]["tag"]
    mix = f"{top}:0.7,rock:0.3"
    answer = client.get("/tags/search", params={"mix": mix, "k": 5}).json()
    assert answer["mix"] == {top: 0.7, "rock": 0.3}
    assert answer["results"] == cli_json("tags", "--model", model, "--mix", mix, "--k", "5")
    body = assert_error(client.get("/tags/search", params={"mix": "rokc:1"}), 404, "unknown_tag")
    assert "did you mean" in body["message"]
    assert_error(client.get("/tags/search", params={"mix": "rock:lots"}), 422,
                 "invalid_parameter", "mix")
    assert_error(client.get("/tags/search", params={"mix": "rock:0"}), 422,
                 "invalid_parameter", "mix")
    assert_error(client.get("/tags/search"), 422, "invalid_parameter", "mix")


def test_arithmetic_and_continuation_equal_the_cli(client, model, known_song):
    near = client.get(f"/songs/{known_song['song_id']}/similar", params={"k": 3}).json()
    a, b, c = (r["song_id"] for r in near["results"])
    body = {"positive": [{"song": a}, {"song": b, "weight": 0.5}], "negative": [{"song": c}],
            "k": 10}
    rows = client.post("/songs/arithmetic", json=body).json()["results"]
    assert not {a, b, c} & {r["song_id"] for r in rows}
    assert rows == cli_json("arithmetic", "--model", model, "--plus", a, "--plus", f"{b}@0.5",
                            "--minus", c, "--k", "10")
    rows = client.post("/playlists/continue", json={"songs": [a, b], "k": 7}).json()["results"]
    assert rows == cli_json("continue", a, b, "--model", model, "--k", "7")
    assert_error(client.post("/songs/arithmetic", json={"positive": []}), 422,
                 "invalid_parameter", "positive")
    assert_error(client.post("/songs/arithmetic", json={"positive": [{"song": a, "weight": -1}]}),
                 422, "invalid_parameter", "positive.0.weight")
    assert_error(client.post("/songs/arithmetic", json={"positive": [{"song": "no such x"}]}),
                 404, "song_not_found")
    assert_error(client.post("/playlists/continue", json={"songs": []}), 422,
                 "invalid_parameter", "songs")
    assert_error(client.post("/playlists/continue", content=b"{not json",
                             headers={"content-type": "application/json"}), 400,
                 "bad_request")


def test_oversized_bodies_are_413(client):
    huge = {"songs": ["x" * 100] * 300}
    assert_error(client.post("/playlists/continue", json=huge), 413, "body_too_large")

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(30):
            yield b" " * 1000

    assert_error(client.post("/playlists/continue", content=chunks(),
                             headers={"content-type": "application/json"}), 413,
                 "body_too_large")


# -- users ----------------------------------------------------------------------------------
def test_profile_recommendations_and_similar_users_equal_the_cli(client, settings, listeners):
    user, heard = next(iter(listeners.items()))
    profile = client.get(f"/users/{user}/profile").json()
    assert profile["has_profile"] and profile["events"] == len(heard)
    assert profile["songs"] == len(set(heard)) and profile["tags"]
    assert profile["last_event"].startswith(START.date().isoformat())
    rows = client.get(f"/users/{user}/recommendations", params={"k": 10}).json()["results"]
    assert rows == cli_json("recommend", "--profiles", settings.profiles, "--user", user,
                            "--k", "10")
    assert all(r["because"]["song_id"] in heard for r in rows)
    users = client.get(f"/users/{user}/similar", params={"k": 5}).json()["results"]
    assert users == cli_json("similar-users", "--profiles", settings.profiles, "--user", user,
                             "--k", "5")
    assert_error(client.get("/users/nobody/profile"), 404, "user_not_found")
    assert_error(client.get("/users/nobody/recommendations"), 404, "user_not_found")
    assert_error(client.get(f"/users/{user}/recommendations", params={"diversity": 2}), 422,
                 "invalid_parameter", "diversity")


def test_events_need_the_api_key(client, known_song):
    body = {"events": [{"song": known_song["song_id"], "ms_played": 1000}]}
    assert_error(client.post("/users/alice/events", json=body), 401, "unauthorized")
    assert_error(client.post("/users/alice/events", json=body, headers={"X-API-Key": "nope"}),
                 401, "unauthorized")
    assert_error(client.post("/users/alice/events", json={"events": [{"song": "1",
                             "event": "hum"}]}, headers=WRITE), 422, "invalid_parameter",
                 "events.0.event")
    assert_error(client.post("/users/alice/events", json={"events": [
        {"song": "no such song qq"}]}, headers=WRITE), 404, "song_not_found")
    assert client.get("/users/alice/profile").status_code == 404  # nothing was recorded


def test_posted_events_update_the_profile_like_profiles_update(client, settings, listeners,
                                                               tmp_path):
    user = list(listeners)[1]
    before = client.get(f"/users/{user}/profile").json()
    recommended = client.get(f"/users/{user}/recommendations",
                             params={"k": 5}).json()["results"]
    new = [r["song_id"] for r in recommended[:3]]
    events = as_events(user, new, START.replace(day=20))
    posted = [{"song": e["song_id"], "ts": e["ts"], "ms_played": e["ms_played"],
               "event": e["event"]} for e in events]
    answer = client.post(f"/users/{user}/events", json={"events": posted},
                         headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 202 and answer.json()["accepted"] == 3
    after = client.get(f"/users/{user}/profile").json()
    assert after["events"] == before["events"] + 3 and after["songs"] == before["songs"] + 3
    rows = client.get(f"/users/{user}/recommendations", params={"k": 10}).json()["results"]
    assert not set(new) & {r["song_id"] for r in rows}
    # The same batch through `songspace profiles update` gives the same recommendations.
    offline = tmp_path / "profiles"
    shutil.copytree(settings.profiles, offline)
    run("profiles", "update", "--logs", write_csv(tmp_path / "b.csv", events), "--profiles",
        offline)
    expected = cli_json("recommend", "--profiles", offline, "--user", user, "--k", "10")
    assert [r["song_id"] for r in rows] == [r["song_id"] for r in expected]
    assert [r["score"] for r in rows] == pytest.approx([r["score"] for r in expected], abs=2e-4)


def test_events_are_durable_and_replayed_at_start_up(model, profiles, tmp_path, known_song):
    settings = make_settings(model, profiles, tmp_path)
    body = {"events": [{"song": known_song["song_id"], "ms_played": 200_000, "event": "like"}]}
    with TestClient(create_app(settings)) as first:
        assert_error(first.get("/users/newcomer/profile"), 404, "user_not_found")
        assert first.post("/users/newcomer/events", json=body).status_code == 202  # no key set
        assert first.get("/users/newcomer/profile").json()["events"] == 1
    with TestClient(create_app(settings)) as second:  # a restart: the log is replayed
        profile = second.get("/users/newcomer/profile").json()
        assert profile["has_profile"] and profile["events"] == 1
        rows = second.get("/users/newcomer/recommendations", params={"k": 3}).json()
        assert rows["results"][0]["because"]["song_id"] == known_song["song_id"]


def test_without_profiles_user_endpoints_are_503(model, tmp_path):
    with TestClient(create_app(make_settings(model, None, tmp_path))) as client:
        assert_error(client.get("/users/a/profile"), 503, "profiles_unavailable")
        assert client.get("/ready").json()["profiles"] is None


# -- metrics and reload ---------------------------------------------------------------------
def test_metrics_count_requests_errors_and_the_version(client, known_song):
    client.get(f"/songs/{known_song['song_id']}/similar")
    client.get("/songs/no such song qqq/similar")
    text = client.get("/metrics").text
    version = client.get("/ready").json()["version"]
    assert 'songspace_requests_total{method="GET",route="/songs/{song_id}/similar",' \
           'status="200"}' in text
    assert 'songspace_errors_total{route="/songs/{song_id}/similar",status="404"}' in text
    assert f'songspace_artifact_info{{version="{version}"}} 1.0' in text
    assert "songspace_request_seconds_bucket" in text


def test_reload_follows_the_current_pointer(model, tmp_path, known_song):
    root = tmp_path / "artifacts"
    (root / "runs").mkdir(parents=True)
    for name in ("a", "b"):
        shutil.copytree(model, root / "runs" / name)
    (root / "current").symlink_to("runs/a")
    settings = make_settings(root, None, tmp_path, api_key=API_KEY)
    with TestClient(create_app(settings)) as client:
        old = client.get("/ready").json()["version"]
        assert old.startswith("a@")
        assert_error(client.post("/admin/reload"), 401, "unauthorized")
        (root / "current").unlink()
        (root / "current").write_text("runs/b\n")  # a file pointer works too
        answer = client.post("/admin/reload", headers=WRITE).json()
        assert answer["previous"] == old and answer["version"].startswith("b@")
        assert client.get("/ready").json()["version"] == answer["version"]
        assert client.get(f"/songs/{known_song['song_id']}/similar").status_code == 200
        (root / "current").write_text("runs/missing\n")
        body = assert_error(client.post("/admin/reload", headers=WRITE), 409, "reload_failed")
        assert answer["version"] in body["message"]
        assert client.get("/ready").json()["version"] == answer["version"]
        metrics = client.get("/metrics").text
        assert 'songspace_reloads_total{outcome="failed"} 1.0' in metrics
        assert f'songspace_artifact_info{{version="{old}"}}' not in metrics


def test_a_batch_is_either_applied_or_refused_never_half_logged(model, profiles, tmp_path,
                                                                known_song):
    """A skip alone gives a new user no positive signal; whatever the library makes of it,
    the answer is 202 with the event in the profile, or a 4xx with nothing in the log (a
    refused batch in the log would fail again at every replay)."""
    settings = make_settings(model, profiles, tmp_path)
    skip = {"events": [{"song": known_song["song_id"], "event": "skip", "ms_played": 1000}]}
    with TestClient(create_app(settings)) as first:
        answer = first.post("/users/skipper/events", json=skip)
        assert answer.status_code in (202, 422), answer.text
        if answer.status_code == 422:
            assert answer.json()["code"] == "events_rejected"
        assert_error(first.post("/users/skipper/events", json={"events": [
            {"song": known_song["song_id"], "ts": "9999-12-31T23:59:59-23:00"}]}),
            422, "invalid_parameter", "events.0.ts")
    with TestClient(create_app(settings)) as second:
        profile = second.get("/users/skipper/profile")
        if answer.status_code == 202:
            assert profile.json()["events"] == 1 and not profile.json()["has_profile"]
        else:
            assert_error(profile, 404, "user_not_found")


def test_moving_the_pointer_reloads_by_itself(model, tmp_path):
    root = tmp_path / "artifacts"
    for name in ("a", "b"):
        shutil.copytree(model, root / "runs" / name)
    (root / "current").symlink_to(root / "runs" / "a")
    with TestClient(create_app(make_settings(root, None, tmp_path, watch_seconds=0.1))) as client:
        assert client.get("/ready").json()["version"].startswith("a@")
        (root / "current").unlink()
        (root / "current").symlink_to(root / "runs" / "b")
        deadline = time.monotonic() + 20
        while not client.get("/ready").json()["version"].startswith("b@"):
            assert time.monotonic() < deadline, "the watch did not reload"
            time.sleep(0.1)


def test_serves_a_pipeline_run_with_its_profiles(model, profiles, tmp_path, listeners):
    """`--artifacts DIR` where DIR is what `songspace pipeline run --out DIR` writes: `current`
    points at a run folder holding train/model and profiles/profiles."""
    root = tmp_path / "out"
    for name in ("r1", "r2"):
        run_folder = root / "runs" / name
        shutil.copytree(model, run_folder / "train" / "model")
        shutil.copytree(profiles, run_folder / "profiles" / "profiles")
        (run_folder / "run.json").write_text("{}")
    (root / "current").symlink_to("runs/r1")
    settings = Settings(artifacts=root, watch_seconds=0, generator=None,  # type: ignore[call-arg]
                        insecure_open_writes=True, _env_file=None)
    user = next(iter(listeners))
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready").json()
        assert ready["version"].startswith("r1@") and ready["profiles"]
        assert ready["model"] == str((root / "runs/r1/train/model").resolve())
        assert len(client.get(f"/users/{user}/recommendations?k=5").json()["results"]) == 5
        song = listeners[user][0]
        event = {"events": [{"song": song, "event": "like"}]}
        assert client.post(f"/users/{user}/events", json=event).status_code == 202
        assert (root / "events.sqlite").is_file()  # the events outlive the run
        (root / "current").unlink()
        (root / "current").symlink_to("runs/r2")
        assert client.post("/admin/reload").json()["version"].startswith("r2@")
        assert client.get("/ready").json()["model"].endswith("r2/train/model")
