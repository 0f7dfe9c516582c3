"""Issue 16, item 9: the OpenAPI schema is the behaviour. Limits in the schema are the ones
enforced, malformed JSON is a 400, unknown body fields and booleans for integers are
rejected, /songs/arithmetic is not shadowed by /songs/{song_id:path}; tests/api/test_fuzz.py
checks the rest with schemathesis."""

from __future__ import annotations

import json
import re

from tests.api.conftest import API_KEY


def test_k_and_limit_maxima_are_the_enforced_ones(client, settings):
    schema = client.get("/openapi.json").json()
    maxima = [p["schema"]["maximum"] for item in schema["paths"].values()
              for op in item.values() for p in op.get("parameters", [])
              if p["name"] in ("k", "limit")]
    maxima += [m["properties"]["k"]["maximum"] for m in schema["components"]["schemas"].values()
               if "k" in m.get("properties", {})]
    assert maxima and set(maxima) == {settings.max_k}
    assert client.get("/songs", params={"q": "a", "limit": settings.max_k}).status_code == 200
    assert client.get("/songs", params={"q": "a", "limit": settings.max_k + 1}
                      ).status_code == 422


def test_malformed_json_is_400(client):
    for body in (b"{not json", b'{"songs": ["a"]', b"\xff\xfe"):
        answer = client.post("/playlists/continue", content=body,
                             headers={"content-type": "application/json"})
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["code"] == "bad_request"


def test_unknown_fields_and_booleans_for_integers_are_rejected(client, known_song):
    song = known_song["song_id"]
    headers = {"X-API-Key": API_KEY}
    for event in ({"song": song, "ms_played": False}, {"song": song, "ms_played": "5"},
                  {"song": song, "ms_playd": 5}):
        answer = client.post("/users/u1/events", json={"events": [event]}, headers=headers)
        assert answer.status_code == 422, (event, answer.text)
    assert client.post("/playlists/continue", json={"songs": [song], "k": True}
                       ).status_code == 422
    assert client.post("/playlists/continue", json={"songs": [song], "kk": 5}
                       ).status_code == 422
    assert client.post("/songs/arithmetic", json={"positive": [{"song": song, "wieght": 2}]}
                       ).status_code == 422


def test_arithmetic_is_not_shadowed_for_options(client):
    answer = client.options("/songs/arithmetic")
    assert "POST" in answer.headers.get("allow", ""), (answer.status_code, answer.headers)


def test_integers_written_as_whole_floats_are_integers(client, known_song):
    """JSON Schema's integer: 10.0 is one (schemathesis sends such), 10.5, "10" and true
    are not."""
    song = known_song["song_id"]
    assert client.post("/playlists/continue", json={"songs": [song], "k": 10.0}
                       ).status_code == 200
    for k in (10.5, "10", True):
        assert client.post("/playlists/continue", json={"songs": [song], "k": k}
                           ).status_code == 422, k


def test_the_ts_range_is_in_the_schema_and_enforced(client, known_song):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Event"]
    pattern = schema["properties"]["ts"]["pattern"]
    headers = {"X-API-Key": API_KEY}
    for ts, ok in (("1970-01-01T00:30:00+01:00", True), ("2199-12-31T23:59:59Z", True),
                   ("1969-12-31T23:59:59Z", False), ("2200-01-01T00:00:00Z", False),
                   ("9999-12-31T23:59:59-23:00", False)):
        assert bool(re.search(pattern, ts)) is ok, ts
        answer = client.post("/users/clock/events", headers=headers,
                             json={"events": [{"song": known_song["song_id"], "ts": ts}]})
        assert answer.status_code == (202 if ok else 422), (ts, answer.text)
    answer = client.post("/users/clock/events", headers=headers,
                         json={"events": [{"song": known_song["song_id"], "ts": 1714587731}]})
    assert answer.status_code == 422  # a number of seconds is not the date-time the schema says


def test_song_names_and_mixes_have_their_patterns_in_the_schema(client):
    """What the server refuses as a name or a mix, the schema refuses too, and the answer
    says what was expected in words, not as a regular expression."""
    paths = client.get("/openapi.json").json()["paths"]
    song_id = next(p for p in paths["/songs/{song_id}"]["get"]["parameters"]
                   if p["name"] == "song_id")
    mix = next(p for p in paths["/tags/search"]["get"]["parameters"] if p["name"] == "mix")
    for name in ("~", "!!!", "🎸"):
        assert not re.search(song_id["schema"]["pattern"], name)
        body = client.get(f"/songs/{name}").json()
        assert body["code"] == "invalid_parameter" and "letter or digit" in body["message"]
    for text, ok in (("rock:0.7,country:0.3", True), ("70% rock, 30% country", True),
                     ("rock", True), ("rock:0", False), ("rock:lots", False),
                     ("rock:1e999", False), ("rock,", False)):
        assert bool(re.search(mix["schema"]["pattern"], text)) is ok, text
        if not ok:
            body = client.get("/tags/search", params={"mix": text}).json()
            assert body["field"] == "mix" and "e.g. 'rock:0.7" in body["message"], body


def test_examples_come_from_the_served_data(client):
    """Every song and tag mix an example in the schema names is in the served catalogue."""
    schema = client.get("/openapi.json").json()
    songs = set()
    for model in schema["components"]["schemas"].values():
        for example in model.get("examples", []):
            text = json.dumps(example)
            songs.update(re.findall(r'"song(?:_id)?": "([^"]+)"', text))
        songs.update(model.get("properties", {}).get("song", {}).get("examples", []))
    assert {"760", "1149", "268", "Hotel California", "Bohemian Rhapsody"} <= songs
    for song in songs:
        assert client.get(f"/songs/{song}").status_code == 200, song
    mix = next(p for p in schema["paths"]["/tags/search"]["get"]["parameters"]
               if p["name"] == "mix")
    for example in mix["examples"].values() if isinstance(mix.get("examples"), dict) else []:
        assert client.get("/tags/search", params={"mix": example["value"]}).status_code == 200
    assert client.get("/tags/search", params={"mix": mix["schema"]["examples"][0]}
                      ).status_code == 200


def test_schema_valid_requests_the_data_cannot_answer_are_404_or_409(client, known_song):
    """An unknown tag is a 404 like an unknown song; a song without a vector or a user
    without positive listening is a 409 (the request is well formed, the data cannot answer
    it yet); none of them is a 422."""
    body = client.get("/tags/search", params={"mix": "rokc:1"}).json()
    assert body["code"] == "unknown_tag" and "did you mean" in body["message"]
    assert client.get("/tags/search", params={"mix": "rokc:1"}).status_code == 404
    posted = client.post("/users/sour/events", headers={"X-API-Key": API_KEY},
                         json={"events": [{"song": known_song["song_id"], "event": "dislike"}]})
    assert posted.status_code == 202, posted.text
    for path in ("/users/sour/recommendations", "/users/sour/similar"):
        answer = client.get(path)
        assert (answer.status_code, answer.json()["code"]) == (409, "no_profile"), answer.text
    paths = client.get("/openapi.json").json()["paths"]
    assert "409" in paths["/users/{user_id}/recommendations"]["get"]["responses"]
    assert "404" in paths["/tags/search"]["get"]["responses"]
    # The test model has a vector for every song: no_vector is checked in the schema only.
    assert "409" in paths["/songs/{song_id}/similar"]["get"]["responses"]
    assert "409" in paths["/songs/arithmetic"]["post"]["responses"]


def test_generate_rejects_unknown_fields_and_loose_types(client):
    for body in ({"text": "piano", "sekonds": 4}, {"text": "piano", "steps": "3"},
                 {"text": "piano", "seconds": True}):
        answer = client.post("/generate", json=body, headers={"X-API-Key": API_KEY})
        assert answer.status_code == 422, (body, answer.text)


def test_a_wrong_method_is_told_every_method_the_path_takes(client):
    """One path, three routes (GET, POST, DELETE): a 405 names all three, as the schema does."""
    answer = client.request("OPTIONS", "/users/alice/exclusions")
    assert answer.status_code == 405 and answer.json()["code"] == "method_not_allowed"
    documented = client.get("/openapi.json").json()["paths"]["/users/{user_id}/exclusions"]
    assert answer.headers["allow"] == ", ".join(sorted(m.upper() for m in documented))
    assert client.request("PUT", "/songs/arithmetic").headers["allow"] == "POST"
