"""/users/{id}/exclusions through FastAPI's TestClient: what a user excludes leaves their
profile, recommendations and similar users exactly as `songspace profiles exclude` does, is
shared with the CLI through the profiles folder, and survives a rebuild, a reload and a
restart."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import API_KEY, make_settings
from tests.api.test_api import WRITE, assert_error, cli_json
from tests.conftest import run
from tests.test_cli_profiles import START


def exclusions(client, user: str) -> dict:
    answer = client.get(f"/users/{user}/exclusions")
    assert answer.status_code == 200, answer.text
    return answer.json()


def played_ids(client, user: str, k: int = 50) -> set[str]:
    rows = client.get(f"/users/{user}/recommendations",
                      params={"k": k, "include_played": True}).json()["results"]
    return {r["song_id"] for r in rows}


def test_excluding_needs_the_api_key_and_listing_does_not(client, listeners):
    user, heard = next(iter(listeners.items()))
    body = {"songs": [heard[0]]}
    assert_error(client.post(f"/users/{user}/exclusions", json=body), 401, "unauthorized")
    assert_error(client.delete(f"/users/{user}/exclusions"), 401, "unauthorized")
    assert exclusions(client, user) == {"user_id": user, "songs": [], "artists": [],
                                        "playlists": [], "excluded_songs": 0}


def test_exclusions_are_honoured_like_the_cli(client, settings, listeners):
    user, heard = list(listeners.items())[1]
    before = client.get(f"/users/{user}/profile").json()
    top = client.get(f"/users/{user}/recommendations", params={"k": 5}).json()["results"][0]
    body = {"songs": heard[:2], "artists": [top["artist"].lower()],
            "playlist": {"name": "Sleep", "songs": [heard[2]]}}
    answer = client.post(f"/users/{user}/exclusions", json=body, headers=WRITE)
    assert answer.status_code == 200, answer.text
    listing = answer.json()
    assert [s["song_id"] for s in listing["songs"]] == heard[:2]
    assert listing["artists"][0]["artist"] == top["artist"] and listing["artists"][0]["songs"]
    assert [s["song_id"] for s in listing["playlists"][0]["songs"]] == [heard[2]]
    assert exclusions(client, user) == listing
    # The CLI reads what the API wrote, and serves the same answers from the same folder.
    assert cli_json("profiles", "exclude", "--profiles", settings.profiles, "--user", user,
                    "--list") == listing
    rows = client.get(f"/users/{user}/recommendations", params={"k": 10}).json()["results"]
    assert rows == cli_json("recommend", "--profiles", settings.profiles, "--user", user,
                            "--k", "10")
    users = client.get(f"/users/{user}/similar", params={"k": 5}).json()["results"]
    assert users == cli_json("similar-users", "--profiles", settings.profiles, "--user", user,
                             "--k", "5")
    hidden = set(heard[:3])
    assert not played_ids(client, user) & hidden
    assert all(r["artist"] != top["artist"] and r["because"]["song_id"] not in hidden
               for r in rows)
    after = client.get(f"/users/{user}/profile").json()
    assert after["songs"] < before["songs"] and after["tags"] != before["tags"]

    # Played again through the API, an excluded song still counts for nothing (same time as
    # the first play, so the user's decay reference does not move).
    again = {"events": [{"song": heard[0], "ts": START.isoformat(), "ms_played": 200_000}]}
    assert client.post(f"/users/{user}/events", json=again, headers=WRITE).status_code == 202
    assert client.get(f"/users/{user}/recommendations",
                      params={"k": 10}).json()["results"] == rows
    assert heard[0] not in played_ids(client, user)

    # Removing them all (no names) gives the profile of all the evidence back.
    cleared = client.delete(f"/users/{user}/exclusions", headers=WRITE)
    assert cleared.status_code == 200 and cleared.json()["excluded_songs"] == 0
    assert {heard[0], heard[1]} & played_ids(client, user)


def test_one_exclusion_is_removed_by_title_or_name(client, listeners):
    user, heard = list(listeners.items())[2]
    song = client.get(f"/songs/{heard[0]}").json()
    client.post(f"/users/{user}/exclusions", headers=WRITE,
                json={"songs": [heard[0], heard[1]], "playlist": {"name": "Gym",
                                                                  "songs": [heard[2]]}})
    answer = client.delete(f"/users/{user}/exclusions", headers=WRITE,
                           params={"song": f"{song['title']} {song['artist']}",
                                   "playlist": "gym"})
    assert answer.status_code == 200, answer.text
    listing = answer.json()
    assert [s["song_id"] for s in listing["songs"]] == [heard[1]] and not listing["playlists"]
    assert heard[0] in played_ids(client, user) and heard[1] not in played_ids(client, user)


def test_bad_exclusions_name_the_field(client, listeners):
    user, heard = list(listeners.items())[3]
    url = f"/users/{user}/exclusions"
    assert_error(client.post("/users/nobody/exclusions", json={"songs": [heard[0]]},
                             headers=WRITE), 404, "user_not_found")
    assert_error(client.get("/users/nobody/exclusions"), 404, "user_not_found")
    body = assert_error(client.post(url, json={"songs": [heard[0], "hotel californa"]},
                                    headers=WRITE), 404, "song_not_found", "songs.1")
    assert body["suggestions"][0]["title"] == "Hotel California"
    body = assert_error(client.post(url, json={"artists": ["the eagels"]}, headers=WRITE),
                        404, "artist_not_found", "artists.0")
    assert "'The Eagles'" in body["message"]
    assert_error(client.post(url, json={"playlist": {"name": "x", "songs": ["qq no song"]}},
                             headers=WRITE), 404, "song_not_found", "playlist.songs.0")
    assert "nothing to exclude" in assert_error(
        client.post(url, json={}, headers=WRITE), 422, "invalid_parameter", "body")["message"]
    assert_error(client.post(url, json={"songs": []}, headers=WRITE), 422,
                 "invalid_parameter", "songs")
    assert_error(client.post(url, json={"playlist": None}, headers=WRITE), 422,
                 "invalid_parameter", "playlist")
    assert_error(client.post(url, json={"song": heard[0]}, headers=WRITE), 422,
                 "invalid_parameter", "song")
    assert_error(client.delete(url, params={"artist": "The Eagles"}, headers=WRITE), 404,
                 "exclusion_not_found", "artist.0")
    assert exclusions(client, user)["excluded_songs"] == 0  # nothing was written


def test_exclusions_survive_a_rebuild_a_reload_and_a_restart(model, profiles, listeners,
                                                             tmp_path):
    user, heard = next(iter(listeners.items()))
    settings = make_settings(model, profiles, tmp_path, api_key=API_KEY)
    with TestClient(create_app(settings)) as client:
        listing = client.post(f"/users/{user}/exclusions", json={"songs": heard[:2]},
                              headers=WRITE).json()
        rows = client.get(f"/users/{user}/recommendations").json()["results"]
        # Rebuilt in place from the same logs while it serves: the exclusions are kept.
        run("profiles", "build", "--logs", profiles.parent / "logs.csv", "--model", model,
            "--out", settings.profiles)
        stored = json.loads((settings.profiles / "exclusions.json").read_text())
        assert [s["song_id"] for s in stored["users"][user]["songs"]] == heard[:2]
        assert exclusions(client, user) == listing
        assert client.post("/admin/reload", headers=WRITE).status_code == 200
        assert exclusions(client, user) == listing
        assert client.get(f"/users/{user}/recommendations").json()["results"] == rows
        # A change made by the CLI while it serves is served at once.
        run("profiles", "exclude", "--profiles", settings.profiles, "--user", user, "--song",
            heard[2])
        assert [s["song_id"] for s in exclusions(client, user)["songs"]] == heard[:3]
        assert heard[2] not in played_ids(client, user)
    with TestClient(create_app(settings)) as restarted:
        assert [s["song_id"] for s in exclusions(restarted, user)["songs"]] == heard[:3]
        assert not played_ids(restarted, user) & set(heard[:3])
