"""Songs described by the text encoder, over HTTP: songs without a learnt vector answer with
an estimated one (marked), a playlist from a description, and a model without a text map."""

from __future__ import annotations

from collections import Counter

import httpx
import polars as pl
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import make_settings, serving
from tests.api.test_serve import browser  # noqa: F401
from tests.conftest import run
from tests.test_cli_text import cold_song, rows_of, shared_model


@pytest.fixture(scope="module")
def text_model(splits, tmp_path_factory):
    return shared_model(splits, tmp_path_factory)


@pytest.fixture(scope="module")
def text_client(text_model, tmp_path_factory):
    settings = make_settings(text_model, None, tmp_path_factory.mktemp("api-text-serve"),
                             max_k=30)
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_song_without_a_learnt_vector_is_served_estimated(text_client, text_model):
    song = cold_song(text_model)
    detail = text_client.get(f"/songs/{song['song_id']}").json()
    assert detail["estimated"] is True and detail["has_vector"] is True
    answer = text_client.get(f"/songs/{song['song_id']}/similar", params={"k": 10})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["song"]["estimated"] is True and len(body["results"]) == 10
    assert all(r.get("estimated", True) is True for r in body["results"])
    # A song with a learnt vector carries no mark at all.
    known = text_client.get("/songs/Bohemian Rhapsody").json()
    assert "estimated" not in known and known["has_vector"]


def test_playlist_from_text(text_client, text_model):
    songs = pl.read_parquet(text_model / "songs.parquet")
    tags = dict(zip(songs["song_id"], songs["tags"].to_list(), strict=True))
    answer = text_client.get("/playlists/from-text", params={"q": "classic country", "k": 20})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["query"] == "classic country" and len(body["results"]) == 20
    rows = body["results"]
    assert sum(any("country" in t for t in tags[r["song_id"]]) for r in rows) >= 14
    assert max(Counter(r["artist"] for r in rows).values()) <= 2
    assert set(rows[0]) - {"estimated"} == {"song_id", "title", "artist", "score"}
    # the CLI gives the same playlist
    cli = rows_of(run("playlist", "classic country", "--model", text_model, "--k", "20",
                      "--json"))
    assert [r["song_id"] for r in cli] == [r["song_id"] for r in rows]


def test_playlist_from_text_rejects_bad_requests(text_client):
    for params, field in (({"q": "  "}, "q"), ({"q": "country", "k": 31}, "k"),
                          ({"q": "country", "k": 0}, "k"), ({}, "q")):
        answer = text_client.get("/playlists/from-text", params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.json()["field"] == field


def test_a_model_without_a_text_map_says_so(splits, tmp_path_factory):
    model = shared_model(splits, tmp_path_factory, text_map=False)
    settings = make_settings(model, None, tmp_path_factory.mktemp("api-plain"))
    with TestClient(create_app(settings)) as client:
        answer = client.get("/playlists/from-text", params={"q": "country"})
        assert answer.status_code == 503
        assert answer.json()["code"] == "text_map_unavailable"
        assert "songspace text-map" in answer.json()["message"]
        song = cold_song(model)
        assert client.get(f"/songs/{song['song_id']}/similar").json()["code"] == "no_vector"


def test_the_page_makes_a_playlist_from_words_and_marks_estimated_songs(browser,  # noqa: F811
                                                                        text_model):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    song = cold_song(text_model)
    with serving("--artifacts", text_model, "--insecure-open-writes",
                 env={"SONGSPACE_API_KEY": None, "SONGSPACE_GENERATOR": "",
                      "SONGSPACE_PROFILES": None}) as live:
        expected = httpx.get(live + "/playlists/from-text",
                             params={"q": "classic country", "k": 20}).json()["results"]
        wait = WebDriverWait(browser, 30)
        browser.get(live + "/")
        wait.until(seen.text_to_be_present_in_element((By.ID, "version"), "@"))
        browser.find_element(By.ID, "words").send_keys("classic country")
        browser.find_element(By.ID, "words-go").click()
        wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "#words-results li")))
        shown = [li.get_attribute("data-song-id")
                 for li in browser.find_elements(By.CSS_SELECTOR, "#words-results li")]
        assert shown == [r["song_id"] for r in expected]
        # a song without a learnt vector: its similar songs are shown, and it is marked
        browser.find_element(By.ID, "search").send_keys(f"{song['title']} {song['artist']}")
        pick = wait.until(seen.element_to_be_clickable(
            (By.CSS_SELECTOR, f'#suggestions li[data-song-id="{song["song_id"]}"] .pick')))
        pick.click()
        wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "#similar li")))
        assert "estimated" in browser.find_element(By.ID, "song-title").text
        marked = browser.find_elements(By.CSS_SELECTOR, "#suggestions li .estimated")
        assert marked, "the suggestion list marks the estimated song"
