"""`songspace serve` as a user runs it: a real browser on the web page, and a hot reload
under load without a failed request."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import API_KEY, serving
from tests.conftest import run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def test_serve_refuses_a_missing_folder(tmp_path):
    result = run("serve", "--artifacts", tmp_path / "nope", code=2)
    assert "no such folder" in result.stderr


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def test_a_browser_searches_clicks_and_sees_similar_songs(browser, live, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    song = httpx.get(live + "/songs", params={"q": "love", "limit": 1}).json()["results"][0]
    expected = httpx.get(f"{live}/songs/{song['song_id']}/similar").json()["results"]
    wait = WebDriverWait(browser, 20)
    browser.get(live + "/")
    wait.until(seen.text_to_be_present_in_element((By.ID, "version"), "@"))
    browser.find_element(By.ID, "search").send_keys(song["title"])
    pick = wait.until(seen.element_to_be_clickable(
        (By.CSS_SELECTOR, f'#suggestions li[data-song-id="{song["song_id"]}"] .pick')))
    pick.click()
    wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "#similar li")))
    shown = [li.get_attribute("data-song-id")
             for li in browser.find_elements(By.CSS_SELECTOR, "#similar li")]
    assert shown == [r["song_id"] for r in expected]
    assert song["title"] in browser.find_element(By.ID, "song-title").text
    # more like the first, less like the second: the mix answers what the API answers
    items = browser.find_elements(By.CSS_SELECTOR, "#similar li")
    items[0].find_element(By.CSS_SELECTOR, ".mix-plus").click()
    items[1].find_element(By.CSS_SELECTOR, ".mix-minus").click()
    browser.find_element(By.ID, "mix-go").click()
    wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "#mix-results li")))
    mixed = httpx.post(live + "/songs/arithmetic", json={
        "positive": [{"song": shown[0]}], "negative": [{"song": shown[1]}], "k": 10}).json()
    assert [li.get_attribute("data-song-id") for li in browser.find_elements(
        By.CSS_SELECTOR, "#mix-results li")] == [r["song_id"] for r in mixed["results"]]
    screenshot = Path(os.environ.get("SONGSPACE_SCREENSHOTS", tmp_path)) / "similar.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000
    assert not browser.find_element(By.ID, "error").text


def test_the_page_shows_a_users_taste_and_why(browser, live, listeners):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    user = next(iter(listeners))
    browser.get(live + "/")
    browser.find_element(By.ID, "user").send_keys(user)
    browser.find_element(By.CSS_SELECTOR, "#user-form button").click()
    wait = WebDriverWait(browser, 20)
    wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "#recommendations li")))
    bars = browser.find_elements(By.CSS_SELECTOR, "#taste .bar")
    profile = httpx.get(f"{live}/users/{user}/profile").json()
    assert [b.find_element(By.TAG_NAME, "span").text for b in bars] == \
        [t["tag"] for t in profile["tags"]]
    assert "because you played" in browser.find_element(By.ID, "recommendations").text


def test_hot_reload_under_load_fails_no_request(model, tmp_path):
    root = tmp_path / "artifacts"
    for name in ("a", "b"):
        shutil.copytree(model, root / "runs" / name)
    (root / "current").symlink_to("runs/a")
    with serving("--artifacts", root, env={"SONGSPACE_API_KEY": API_KEY,  # a load test:
                                           "SONGSPACE_RATE_LIMIT": "0",  # no per-client limit
                                           "SONGSPACE_GENERATOR": ""}) as base:
        song = httpx.get(base + "/songs", params={"q": "love", "limit": 1}).json()
        url = f"{base}/songs/{song['results'][0]['song_id']}/similar"
        statuses: list[int] = []
        stop = threading.Event()

        def hammer() -> None:
            with httpx.Client() as http:
                while not stop.is_set():
                    statuses.append(http.get(url).status_code)

        threads = [threading.Thread(target=hammer) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        (root / "current").unlink()
        (root / "current").symlink_to("runs/b")
        answer = httpx.post(base + "/admin/reload", headers={"X-API-Key": API_KEY},
                            timeout=60)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
        assert answer.status_code == 200 and answer.json()["version"].startswith("b@")
        assert len(statuses) > 20 and set(statuses) == {200}


def test_workers_share_the_event_log(model, profiles, tmp_path, listeners):
    """Two uvicorn workers: an event posted to one is seen by both (each applies the log rows
    it has not applied yet before answering about a user)."""
    shutil.copytree(profiles, tmp_path / "profiles")
    user = next(iter(listeners))
    with serving("--artifacts", model, "--profiles", tmp_path / "profiles", "--workers", "2",
                 "--insecure-open-writes",
                 env={"SONGSPACE_API_KEY": None, "SONGSPACE_GENERATOR": ""}) as base:
        before = httpx.get(f"{base}/users/{user}/profile").json()["events"]
        song = listeners[user][0]
        posted = httpx.post(f"{base}/users/{user}/events",
                            json={"events": [{"song": song, "event": "like"}] * 3})
        assert posted.status_code == 202
        # fresh connections spread over both workers
        seen = {httpx.get(f"{base}/users/{user}/profile").json()["events"] for _ in range(12)}
        assert seen == {before + 3}
