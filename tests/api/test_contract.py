"""Issue 16, item 9: the OpenAPI schema is the behaviour. Limits in the schema are the ones
enforced, malformed JSON is a 400, unknown body fields and booleans for integers are
rejected, and /songs/arithmetic is not shadowed by /songs/{song_id:path}."""

from __future__ import annotations

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
