"""Issue 16, item 4 over HTTP: a name with no letter or digit is a 422, and the catalogue's
placeholders ("-" by "-") are there by id but never an answer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import API_KEY, make_settings
from tests.test_placeholders import GARBAGE, placeholder_songs


@pytest.fixture(scope="module")
def placeholder(model) -> dict:
    return placeholder_songs(model)


def test_http_rejects_garbage_names_and_hides_placeholders(model, profiles, placeholder,
                                                           tmp_path):
    settings = make_settings(model, profiles, tmp_path, api_key=API_KEY)
    with TestClient(create_app(settings)) as client:
        for name in GARBAGE:
            answer = client.post("/playlists/continue", json={"songs": [name]})
            assert answer.status_code == 422, (name, answer.text)
            assert answer.json()["code"] == "invalid_parameter"
            answer = client.post("/users/someone/events", json={"events": [{"song": name}]},
                                 headers={"X-API-Key": API_KEY})
            assert answer.status_code == 422, (name, answer.text)
            answer = client.post("/songs/arithmetic", json={"positive": [{"song": name}]})
            assert answer.status_code == 422, (name, answer.text)
        for path in ("%F0%9F%8E%B8", "%21%21%21", "%20", "%00", "%FF"):
            answer = client.get(f"/songs/{path}/similar")
            assert answer.status_code == 422, (path, answer.text)
        # a placeholder is still there by its id, but is never an answer
        assert client.get(f"/songs/{placeholder['id']}").status_code == 200
        for song in placeholder["near"][:3]:
            answer = client.get(f"/songs/{song}/similar", params={"k": 100,
                                                                   "scoring": "cosine"})
            assert not {r["song_id"] for r in answer.json()["results"]} & placeholder["all"]
        mix = client.get("/tags/search", params={"mix": "rock:1", "k": 100}).json()
        assert not {r["song_id"] for r in mix["results"]} & placeholder["all"]
